#!/usr/bin/env bash
# Back-scan throughput (issue 15): `opsdeck logs --since 24h` over a generated nginx access log
# (combined format with $request_time, 1 GiB by default, every line within the last 24 hours)
# on one core, next to GNU grep counting the same file's 5xx lines on the same core. The file is
# read once beforehand so both figures are from the page cache, not the disk.
#
#   cargo build --release && bash benches/log_backscan.sh
#
# Environment: OPSDECK_BIN (target/release/opsdeck), SIZE_MB (1024), CORE (0), KEEP=1 keeps the
# temporary directory, LOG=FILE measures FILE (a log this script generated and kept, within a
# day of generating it) instead of generating one, so repeated runs skip the minutes that
# takes. Output: one line per tool (seconds, MB/s) and the ratio.
set -euo pipefail

bin="${OPSDECK_BIN:-target/release/opsdeck}"
size_mb="${SIZE_MB:-1024}"
core="${CORE:-0}"
die() { echo "log_backscan: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin is not built; run cargo build --release (or set OPSDECK_BIN)"
for tool in python3 grep taskset; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

dir="$(mktemp -d)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$dir"' EXIT
log="${LOG:-$dir/access.log}"

[[ -n "${LOG:-}" ]] || python3 - "$log" "$size_mb" <<'EOF'
import random, sys, time
path, size = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
rng = random.Random(15)
end = time.time() - 60
paths = [f"/api/v1/{kind}/{{}}" for kind in ("users", "orders", "items", "carts", "search")] + [
    "/health", "/static/app.js", "/static/app.css", "/login", "/api/v1/reports?day={}"]
statuses = [200] * 12 + [201, 204, 301, 304, 404, 500, 502, 503]
agents = ['"curl/8.5.0"', '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"', '"kube-probe/1.29"']
months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
written, lines = 0, []
count = size // 131  # lines average 131 bytes
with open(path, "w") as out:
    for n in range(count):
        at = time.gmtime(end - (count - n) * (23 * 3600 / count))
        stamp = f"{at.tm_mday:02d}/{months[at.tm_mon - 1]}/{at.tm_year}:{at.tm_hour:02d}:{at.tm_min:02d}:{at.tm_sec:02d} +0000"
        target = rng.choice(paths).format(rng.randrange(100000))
        line = (f'10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - [{stamp}] '
                f'"GET {target} HTTP/1.1" {rng.choice(statuses)} {rng.randrange(50, 90000)} '
                f'"-" {rng.choice(agents)} {rng.randrange(1, 3000) / 1000:.3f}\n')
        lines.append(line)
        if len(lines) == 10000:
            out.write("".join(lines)); lines.clear()
    out.write("".join(lines))
EOF
bytes=$(stat -c %s "$log")
mkdir -p "$dir/config/opsdeck" "$dir/data" "$dir/state"
cat >"$dir/config/opsdeck/config.toml" <<EOF
[[log]]
name = "web"
path = "$log"
format = "access"
request_time = "s"
EOF
cat "$log" >/dev/null

# seconds MB/s of one command on one core.
measure() {
    local started ended
    started=$(date +%s.%N)
    # Not /dev/null: GNU grep stops at the first match when its output is /dev/null.
    "$@" >"$dir/out"
    ended=$(date +%s.%N)
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{s:.2f} s, {int(sys.argv[3])/s/1e6:.0f} MB/s')" \
        "$started" "$ended" "$bytes"
}

export XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" XDG_STATE_HOME="$dir/state"
echo "file: $log, $((bytes / 1024 / 1024)) MiB, $(wc -l <"$log") lines"
opsdeck_figure=$(measure taskset -c "$core" "$bin" logs --source web --since 24h --format json || true)
grep_figure=$(LC_ALL=C measure taskset -c "$core" grep -c '" 5[0-9][0-9] ' "$log" || true)
echo "opsdeck logs --since 24h (access recipe, signatures, levels): $opsdeck_figure"
echo "GNU grep -c '\" 5[0-9][0-9] ' (LC_ALL=C):                     $grep_figure"

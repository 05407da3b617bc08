#!/usr/bin/env bash
# What the console costs an on-call engineer over a remote link, next to btop and htop (issue 13).
# Each program runs in a 120x40 pseudo-terminal (TERM=xterm-256color) for DURATION seconds under
# ../shared/tools/tui-measure, with fresh XDG config/data/state directories, and gets one key at
# 10 s (`j` for opsdeck, Down for btop and htop). opsdeck opens with its default focus (the
# gauges) there. Each opsdeck configuration also gets key runs of 12 s, one per pane named below,
# opened with `--pane PANE` and sent `j` at 10 s: they give figure 4 and nothing else.
# Configurations:
#   default  opsdeck with no config file; key run on tasks (6+ built-in tasks)
#   real     opsdeck with 5 services (postgres, redis, http 200, tcp, an http check on a closed
#            port), 1 watched database with pg_stat_statements and 2 backup sets (gzip'd SQL dumps,
#            tar.gz archives), against a throwaway PostgreSQL, Redis and python3 http.server this
#            script starts on loopback ports and stops on exit (also on Ctrl-C and errors);
#            key runs on tasks and on services (5 rows)
#   btop     when `btop` is on PATH
#   htop     when `htop` is on PATH
# The runs are interleaved (run 1 of every configuration and its key runs, then run 2, ...) so a
# busy moment on the machine does not land on one program only.
#
# Output: one JSON line per run (tui-measure's fields plus first_burst_ms, first_burst_bytes,
# after_burst_bytes and pane: the key run's pane, else null; labelled), then a Markdown table of
# the medians, ready to paste into the README's performance section. Figures 1, 2, 3 and 5 come from
# the runs with the default focus; for opsdeck, figure 4 comes from the key runs only. The five
# figures:
#   1. bytes/s to the terminal, steady (after tui-measure's --steady-skip, 3 s)
#   2. the first frame, from --timeline-out: the first burst of output (reads less than
#      BURST_GAP_MS apart, ended by a longer silence, once at least 256 bytes have been written,
#      so that terminal set-up sequences alone do not count as a frame), its end time and the
#      bytes written up to it, and the bytes written in the 300 ms after it. The issue's goal: that
#      burst is the complete frame (<= 30 ms) and what follows within 300 ms is below 1 KB.
#      tui-measure's own first_frame_ms (ended by 200 ms of silence) stays in the JSON lines.
#   3. peak resident memory (VmHWM)
#   4. bytes of the reply to the key (key_bytes) and the time to its first byte (key_latency_ms),
#      per key-run pane for opsdeck ("tasks 120 B in 1.2 ms ✓ · services ..."). The issue's goal:
#      a `j` press in any pane answers with <= 400 B. A reply that starts more than 50 ms after
#      the key is not one: tui-measure caught the next periodic redraw. The table says "no reply";
#      in a key run, where `j` moves a visible selection, that fails the target (✗). With the
#      default focus opsdeck's `j` moves the alerts selection, drawn only when there are alerts:
#      its reply in those runs stays in the JSON lines, out of the table. OPSDECK_KEY sends another
#      key string to opsdeck (Python escapes, e.g. 'k'), in both kinds of run.
#   5. CPU %, steady
#
#   bash benches/screen.sh                          # cargo build --release, 3 runs of 30 s
#   RUNS=1 DURATION=12 OPSDECK_BIN=target/release/opsdeck bash benches/screen.sh
# Each run takes DURATION s per configuration plus 36 s of key runs (3 of 12 s), and a few
# seconds of set-up: about 3 x (4 x 30 + 36) s = 8 min with the defaults and btop and htop.
#
# Environment: OPSDECK_BIN (skip the build and measure this binary; it needs --pane), RUNS (3),
# OPSDECK_WRAP (a command line opsdeck runs under, split on spaces, e.g. valgrind for
# benches/link_order.sh; btop and htop are then left out, the figures mean nothing),
# DURATION (30 s, more than 11; the key runs last 12 s whatever it is), BURST_GAP_MS (5),
# OPSDECK_KEY (j), TUI_MEASURE (../shared/tools/tui-measure), PG_BIN_DIR (the newest
# /usr/lib/postgresql/*/bin, else the directory of `initdb` on PATH).
# Needs python3, redis-server, gzip and tar; as root, PostgreSQL runs as the `postgres` user
# through runuser (it refuses root). Nothing leaves 127.0.0.1. btop and htop come from Debian's
# packages (apt-get install btop htop).
set -euo pipefail
cd "$(dirname "$0")/.."

measure="${TUI_MEASURE:-../shared/tools/tui-measure}"
runs="${RUNS:-3}"
duration="${DURATION:-30}"
burst_gap_ms="${BURST_GAP_MS:-5}"
key_at=10
# The key-only runs: long enough for the key at $key_at s and a reply after it.
key_duration=12

die() {
    echo "benches/screen.sh: $*" >&2
    exit 1
}

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS=$runs: give a whole number of runs, e.g. RUNS=3"
if ! [[ "$duration" =~ ^[0-9]+$ ]] || ((duration <= key_at + 1)); then
    die "DURATION=$duration: give whole seconds above $((key_at + 1)); the key is sent at ${key_at} s"
fi
[[ "$burst_gap_ms" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BURST_GAP_MS=$burst_gap_ms: give milliseconds, e.g. 5"
[[ -x "$measure" ]] || die "$measure is not an executable file; set TUI_MEASURE=/path/to/tui-measure"
for tool in python3 redis-server gzip tar; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH; the real-config run needs it"
done

if [[ -n "${OPSDECK_BIN:-}" ]]; then
    opsdeck="$OPSDECK_BIN"
else
    cargo build --release --quiet
    opsdeck=./target/release/opsdeck
fi
[[ -x "$opsdeck" ]] || die "$opsdeck is not an executable file; check OPSDECK_BIN"
opsdeck="$(realpath "$opsdeck")"
"$opsdeck" --help | grep -- '--pane' >/dev/null ||
    die "$opsdeck has no --pane option, which the key runs need; build a newer opsdeck"
opsdeck_key="${OPSDECK_KEY:-j}"

if [[ -n "${PG_BIN_DIR:-}" ]]; then
    pg_bin="$PG_BIN_DIR"
elif compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    pg_bin="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
elif command -v initdb >/dev/null; then
    pg_bin="$(dirname "$(realpath "$(command -v initdb)")")"
else
    die "no PostgreSQL server binaries: install e.g. postgresql-15, or set PG_BIN_DIR"
fi
for tool in initdb pg_ctl psql pg_dump; do
    [[ -x "$pg_bin/$tool" ]] || die "$pg_bin/$tool is missing; set PG_BIN_DIR to a PostgreSQL bin directory"
done
if ((EUID == 0)); then
    getent passwd postgres >/dev/null ||
        die "running as root, but there is no \`postgres\` user to run PostgreSQL as (it refuses root)"
fi

scratch=""
pg_data=""
server_pids=()

# From the scratch directory: the postgres user may not be allowed into the current one.
as_postgres() {
    if ((EUID == 0)); then
        (cd "$scratch" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

cleanup() {
    trap - EXIT INT TERM HUP
    if [[ -n "$pg_data" && -f "$pg_data/postmaster.pid" ]]; then
        as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
            kill -KILL "$(head -n 1 "$pg_data/postmaster.pid")" 2>/dev/null || true
    fi
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${server_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$scratch" ]]; then
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Under /tmp, not $TMPDIR (which may be /root/tmp): the postgres user must traverse it.
scratch="$(mktemp -d /tmp/opsdeck-screen.XXXXXX)"
chmod 755 "$scratch"
# Every run measures this copy, so a rebuild while the runs go on cannot mix two builds.
cp "$opsdeck" "$scratch/opsdeck"
echo "benches/screen.sh: measuring $opsdeck ($(stat -c '%y' "$opsdeck" | cut -d. -f1))" >&2
opsdeck="$scratch/opsdeck"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for something to accept TCP connections on 127.0.0.1:$2 while process $1 lives.
wait_for_port() {
    local pid=$1 port=$2 what=$3
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || die "$what exited before listening on 127.0.0.1:$port (see above)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$what does not accept connections on 127.0.0.1:$port after 10 s"
}

start_postgres() {
    local dir="$scratch/pg" attempt
    mkdir -p "$dir/sock"
    if ((EUID == 0)); then
        chown -R postgres: "$dir"
    fi
    pg_data="$dir/data"
    as_postgres "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }
    # A port found free may be taken before postgres binds it: try another one.
    for attempt in 1 2 3; do
        pg_port="$(free_port)"
        if as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/postgres.log" -w -t 30 \
            -o "-p $pg_port -k $dir/sock -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c fsync=off -c synchronous_commit=off" \
            start >/dev/null; then
            return 0
        fi
        echo "benches/screen.sh: postgres did not start on port $pg_port (attempt $attempt)" >&2
    done
    cat "$dir/postgres.log" >&2
    die "postgres did not start; its log is above"
}

psql_app() {
    "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null
}

# Starts the throwaway servers and writes the "real" configuration to $real_config. Not run in a
# subshell: cleanup needs the server pids.
setup_real() {
    start_postgres
    psql_app -d postgres -c 'CREATE DATABASE app'
    psql_app -d app <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, created_at timestamptz DEFAULT now());
INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 2000) g;
CREATE INDEX orders_created_at ON orders (created_at);
ANALYZE orders;
SELECT count(*) FROM orders WHERE created_at > now() - interval '1 day';
SELECT item FROM orders ORDER BY id DESC LIMIT 10;
SQL

    redis_port="$(free_port)"
    mkdir -p "$scratch/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$scratch/redis" --logfile "$scratch/redis/redis.log" &
    server_pids+=("$!")
    wait_for_port "$!" "$redis_port" redis-server

    http_port="$(free_port)"
    mkdir -p "$scratch/www"
    echo '{"status":"ok"}' >"$scratch/www/health"
    python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$scratch/www" >/dev/null 2>&1 &
    server_pids+=("$!")
    wait_for_port "$!" "$http_port" "python3 -m http.server"

    # Bound and released at once: connections to it are refused, so that check fails.
    local closed_port
    closed_port="$(free_port)"

    local dumps="$scratch/backups/db" archives="$scratch/backups/files" days stamp
    mkdir -p "$dumps" "$archives" "$scratch/backups/src/etc"
    "$pg_bin/pg_dump" -h 127.0.0.1 -p "$pg_port" -U postgres -d app | gzip >"$scratch/backups/app.sql.gz"
    printf 'listen = 127.0.0.1\nworkers = 4\n' >"$scratch/backups/src/etc/app.conf"
    printf 'APP_ENV=bench\n' >"$scratch/backups/src/etc/app.env"
    tar -czf "$scratch/backups/files.tar.gz" -C "$scratch/backups/src" etc
    # Three nightly backups per set, the newest one from now: both sets are fresh.
    for days in 0 1 2; do
        stamp="$(date -d "-$days day" +%Y%m%d_%H%M%S)"
        cp "$scratch/backups/app.sql.gz" "$dumps/app_$stamp.sql.gz"
        cp "$scratch/backups/files.tar.gz" "$archives/files_$stamp.tar.gz"
    done

    real_config="$scratch/real.toml"
    cat >"$real_config" <<TOML
[[service]]
name = "postgres"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:$pg_port/app"

[[service]]
name = "redis"
kind = "redis"
url = "redis://127.0.0.1:$redis_port/0"

[[service]]
name = "web"
kind = "http"
url = "http://127.0.0.1:$http_port/health"

[[service]]
name = "postgres-port"
kind = "tcp"
address = "127.0.0.1:$pg_port"

[[service]]
name = "api"
kind = "http"
url = "http://127.0.0.1:$closed_port/health"

[[database]]
name = "app"
url = "postgres://postgres@127.0.0.1:$pg_port/app"

[backups]
pg_bin_dir = "$pg_bin"

[[backup]]
name = "app-db"
directory = "$dumps"
patterns = ["app_*.sql.gz"]
kind = "pg_dump_gzip"
max_age = "24h"
min_size = "1KiB"

[[backup]]
name = "app-files"
directory = "$archives"
patterns = ["files_*.tar.gz"]
kind = "tar_gz"
max_age = "24h"

# The tasks only run on a key press; pointing them at the throwaway servers keeps every URL in
# this file on them.
[tasks.cache-cleanup]
url = "redis://127.0.0.1:$redis_port/0"

[tasks.db-vacuum-analyze]
url = "postgres://postgres@127.0.0.1:$pg_port/app"

[tasks.db-reindex]
url = "postgres://postgres@127.0.0.1:$pg_port/app"
TOML
    local verdict
    if ! verdict="$("$opsdeck" --config "$real_config" config check 2>&1)"; then
        cat -n "$real_config" >&2
        echo "$verdict" >&2
        die "opsdeck rejects the real configuration above; fix the script's config"
    fi
    [[ "$verdict" == *": ok" ]] || die "opsdeck config check did not say ok: $verdict"
}

real_config=""
setup_real

# Word splitting wanted: the wrapper is a command line.
# shellcheck disable=SC2206
opsdeck_wrap=(${OPSDECK_WRAP:-})
configs=(default real)
for program in btop htop; do
    if [[ -z "${OPSDECK_WRAP:-}" ]] && command -v "$program" >/dev/null; then
        configs+=("$program")
    fi
done

results="$scratch/results.jsonl"
: >"$results"

# One tui-measure run of $1 (a configuration) for run $2, with the focus on pane $3 ("" for the
# console's default focus), for $4 seconds, the key $5 at $key_at s, of the command after them.
# Appends its labelled JSON line to $results and prints it.
measure_run() {
    local config=$1 run=$2 pane=$3 seconds=$4 key=$5 home label
    shift 5
    home="$scratch/run-$config${pane:+-key-$pane}-$run"
    mkdir -p "$home/config" "$home/data" "$home/state"
    case "$config" in
    default | real) label="opsdeck $config${pane:+ key on $pane} run $run" ;;
    *) label="$config run $run" ;;
    esac
    "$measure" --duration "$seconds" --cols 120 --rows 40 --term xterm-256color \
        --key "$key" --key-at "$key_at" --timeline-out "$home/timeline" --label "$label" \
        --env "XDG_CONFIG_HOME=$home/config" --env "XDG_DATA_HOME=$home/data" \
        --env "XDG_STATE_HOME=$home/state" \
        -- "$@" >"$home/measure.json"
    python3 - "$config" "$run" "$pane" "$home/measure.json" "$home/timeline" "$burst_gap_ms" <<'PY' | tee -a "$results"
import json, sys

config, run, pane, measure_path, timeline_path, gap_ms = sys.argv[1:]
with open(measure_path) as f:
    line = json.loads(f.read().strip().splitlines()[-1])
with open(timeline_path) as f:
    reads = [(float(t), int(n)) for t, n in (row.split() for row in f if row.strip())]

# The first burst: reads closer together than the gap, ended by a longer silence, once at least
# 256 bytes (tui-measure's --frame-min-bytes) have been written since the start.
gap = float(gap_ms) / 1000.0
written, end = 0, None
for i, (t, n) in enumerate(reads):
    written += n
    last = i + 1 == len(reads) or reads[i + 1][0] - t >= gap
    if last and written >= 256:
        end = t
        break
line["config"], line["run"] = config, int(run)
line["pane"] = pane or None
line["burst_gap_ms"] = float(gap_ms)
line["first_burst_ms"] = None if end is None else round(end * 1000, 1)
line["first_burst_bytes"] = None if end is None else written
line["after_burst_bytes"] = (
    None if end is None else sum(n for t, n in reads if end < t <= end + 0.3)
)
print(json.dumps(line), flush=True)
PY
}

for run in $(seq 1 "$runs"); do
    for config in "${configs[@]}"; do
        case "$config" in
        default)
            cmd=("${opsdeck_wrap[@]}" "$opsdeck")
            key_panes=(tasks)
            ;;
        real)
            cmd=("${opsdeck_wrap[@]}" "$opsdeck" --config "$real_config")
            key_panes=(tasks services)
            ;;
        *)
            cmd=("$config")
            key_panes=()
            ;;
        esac
        if ((${#key_panes[@]} > 0)); then
            measure_run "$config" "$run" "" "$duration" "$opsdeck_key" "${cmd[@]}"
        else
            measure_run "$config" "$run" "" "$duration" down "${cmd[@]}"
        fi
        for pane in "${key_panes[@]}"; do
            measure_run "$config" "$run" "$pane" "$key_duration" "$opsdeck_key" \
                "${cmd[@]}" --pane "$pane"
        done
    done
done

python3 - "$results" "$duration" "$key_duration" <<'PY'
import json, statistics, sys

results_path, duration, key_duration = sys.argv[1:]
lines = [json.loads(row) for row in open(results_path) if row.strip()]
configs = list(dict.fromkeys(line["config"] for line in lines))
opsdeck = ("default", "real")
others = [c for c in configs if c not in opsdeck]
opsdeck_key = json.dumps(next(line["key"] for line in lines if line.get("pane")))[1:-1]
# A key reply later than this is the next periodic redraw, not an answer to the key.
REPLY_MS = 50


# pane None: the runs with the default focus, which give every figure but the key reply for
# opsdeck.
def median(config, field, pane=None):
    values = [
        line[field] for line in lines
        if line["config"] == config and line.get("pane") == pane and line.get(field) is not None
    ]
    return statistics.median(values) if values else None


def number(value, digits=0):
    return "–" if value is None else f"{value:,.{digits}f}"


def key_panes(c):
    """opsdeck's key-run panes; [None] for btop and htop, which answer the key in their main runs."""
    panes = [line["pane"] for line in lines if line["config"] == c and line.get("pane")]
    return list(dict.fromkeys(panes)) or [None]


def replied(c, pane):
    latency = median(c, "key_latency_ms", pane)
    return latency is not None and latency <= REPLY_MS


def first_frame(c):
    ms = median(c, "first_burst_ms")
    if ms is None:
        return "no output"
    return f'{number(ms, 1)} ms, {number(median(c, "first_burst_bytes"))} B, then {number(median(c, "after_burst_bytes"))} B'


# With the focus on a pane of several rows, `j` moves a visible selection: a reply that is
# missing or late fails the target as surely as a large one.
def pane_reply(c, pane):
    size, latency = median(c, "key_bytes", pane), median(c, "key_latency_ms", pane)
    if size is None:
        text = "no output after the key"
    elif not replied(c, pane):
        text = f"no reply (next redraw: {number(size)} B after {number(latency)} ms)"
    else:
        text = f"{number(size)} B in {number(latency, 1)} ms"
    if pane is None:
        return text
    return f"{pane} {text} " + ("✓" if replied(c, pane) and size <= 400 else "✗")


def key_reply(c):
    return " · ".join(pane_reply(c, pane) for pane in key_panes(c))


# Compared across programs: opsdeck's first key pane (tasks).
def key_value(c):
    pane = key_panes(c)[0]
    return median(c, "key_bytes", pane) if replied(c, pane) else None


def mib(c):
    kb = median(c, "peak_rss_kb")
    return None if kb is None else kb / 1024


# figure, target, the value compared across programs, its cell, and the target per opsdeck
# configuration (None: the cell judges itself).
rows = [
    ("bytes/s to the terminal, steady", "≤ 150 default, ≤ 300 real",
     lambda c: median(c, "bytes_per_s_steady"), lambda c: number(median(c, "bytes_per_s_steady")),
     lambda c, v: v <= (150 if c == "default" else 300)),
    ("first frame: end of the first burst, its bytes, then the bytes of the next 300 ms",
     "≤ 30 ms, then < 1,024 B", lambda c: median(c, "first_burst_ms"), first_frame,
     lambda c, v: v <= 30 and median(c, "after_burst_bytes") < 1024),
    ("peak resident memory, MiB", "≤ 8 default, ≤ 10 real", mib, lambda c: number(mib(c), 1),
     lambda c, v: v <= (8 if c == "default" else 10)),
    (f"reply to the key (`{opsdeck_key}` with the focus on the pane named; Down for btop and htop)",
     "≤ 400 B", key_value, key_reply, None),
    ("CPU, steady, % of a core", "≤ 0.3", lambda c: median(c, "cpu_pct_steady"),
     lambda c: number(median(c, "cpu_pct_steady"), 2), lambda c, v: v <= 0.3),
]

titles = {"default": "opsdeck, default config", "real": "opsdeck, real config"}
header = ["figure", "target"] + [titles.get(c, c) for c in configs] + [f"default ÷ {c}" for c in others]
runs = max(line["run"] for line in lines)
print()
print(f"Medians of {runs} run(s) of {duration} s at 120×40 (opsdeck's key replies: runs of "
      f"{key_duration} s with the focus on the pane named); ✓/✗ against the target; "
      "ratios compare opsdeck's default config with each program.")
print()
print("| " + " | ".join(header) + " |")
print("|" + " --- |" * len(header))
for figure, target, value, cell, meets in rows:
    cells = [figure, target]
    for c in configs:
        text = cell(c)
        if c in opsdeck and meets is not None and value(c) is not None:
            text += " ✓" if meets(c, value(c)) else " ✗"
        cells.append(text)
    for c in others:
        mine, theirs = value("default"), value(c)
        cells.append("–" if mine is None or not theirs else f"{mine / theirs:.2f}×")
    print("| " + " | ".join(cells) + " |")
PY

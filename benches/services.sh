#!/usr/bin/env bash
# The console with 500 HTTP services on loopback checked every 10 s: CPU of the console and
# bytes per second written to a 120x40 terminal, via ../shared/tools/tui-measure, against a
# local python3 http.server. Targets: CPU <= 2 % of a core; bytes/s within the screen budget
# (<= 400). The sweep time itself is `cargo bench --bench service_sweep`.
#
#   bash benches/services.sh
set -euo pipefail
cd "$(dirname "$0")/.."
measure="${TUI_MEASURE:-../shared/tools/tui-measure}"
cargo build --release --quiet
scratch="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$scratch/www" "$scratch/config/opsdeck"
echo '{"status":"ok"}' > "$scratch/www/health"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$scratch/www" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$scratch"' EXIT
for i in $(seq 1 500); do
    printf '[[service]]\nname = "svc-%03d"\nkind = "http"\nurl = "http://127.0.0.1:%s/health"\ninterval = "10s"\n\n' "$i" "$port"
done > "$scratch/config/opsdeck/config.toml"
sleep 0.5
"$measure" --duration "${DURATION:-30}" --cols 120 --rows 40 \
    --env "XDG_CONFIG_HOME=$scratch/config" --env "XDG_DATA_HOME=$scratch/data" \
    --env "XDG_STATE_HOME=$scratch/state" --label "opsdeck with 500 http services" \
    -- ./target/release/opsdeck

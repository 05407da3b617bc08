#!/usr/bin/env bash
# Measures what the console costs over a remote link: the release binary in a 120x40
# pseudo-terminal for 30 s with the default config (1 s refresh), via ../shared/tools/tui-measure.
# Prints one JSON line per run: bytes_per_s_steady, first_frame_ms, cpu_pct_steady, peak_rss_kb,
# key_latency_ms (a `j` key press at 10 s). Targets: <= 400 B/s, <= 30 ms, <= 0.5 %, <= 12 MiB,
# <= 2 ms.
#
#   bash benches/screen.sh            # 3 runs
#   RUNS=1 DURATION=10 bash benches/screen.sh
set -euo pipefail
cd "$(dirname "$0")/.."
measure="${TUI_MEASURE:-../shared/tools/tui-measure}"
cargo build --release --quiet
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for run in $(seq 1 "${RUNS:-3}"); do
    "$measure" --duration "${DURATION:-30}" --cols 120 --rows 40 --key j --key-at 10 \
        --env "XDG_CONFIG_HOME=$scratch/config" --env "XDG_DATA_HOME=$scratch/data" \
        --env "XDG_STATE_HOME=$scratch/state" --label "opsdeck run $run" \
        -- ./target/release/opsdeck
done

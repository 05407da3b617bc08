#!/usr/bin/env bash
# One refresh of the hosts pane over 500 hosts: a throwaway Prometheus (Debian's `prometheus`)
# scraping 500 file_sd targets every 15 s, spread over three node_exporters on loopback, each
# target with its own `instance` label by relabelling (Prometheus keeps them as 500 hosts'
# series). `opsdeck hosts --format json` is run REFRESHES times; each run is one refresh of the
# same collector the console drives, and reports its wall time (collect_ms) and the bytes of
# Prometheus' answers on the wire (response_bytes). Targets: <= 1000 ms and <= 200 KB.
#
#   bash benches/fleet.sh                     (HOSTS=500 REFRESHES=10 OPSDECK=target/release/opsdeck)
set -euo pipefail
cd "$(dirname "$0")/.."
hosts="${HOSTS:-500}"
refreshes="${REFRESHES:-10}"
opsdeck="${OPSDECK:-target/release/opsdeck}"
[ -x "$opsdeck" ] || cargo build --release --quiet
for binary in /usr/bin/prometheus /usr/bin/prometheus-node-exporter; do
    [ -x "$binary" ] || { echo "$binary is missing: apt-get install prometheus prometheus-node-exporter" >&2; exit 1; }
done
scratch="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

exporters=()
for _ in 1 2 3; do
    port="$(free_port)"
    /usr/bin/prometheus-node-exporter --web.listen-address="127.0.0.1:$port" \
        --collector.disable-defaults --collector.cpu --collector.meminfo --collector.filesystem \
        --collector.loadavg --collector.netdev >"$scratch/exporter-$port.log" 2>&1 &
    pids+=($!)
    exporters+=("127.0.0.1:$port")
done
{
    echo "["
    for i in $(seq 1 "$hosts"); do
        [ "$i" -gt 1 ] && echo ","
        printf '  {"targets": ["%s"], "labels": {"host": "host-%04d"}}' "${exporters[$(( (i - 1) % 3 ))]}" "$i"
    done
    echo "]"
} >"$scratch/targets.json"
prom_port="$(free_port)"
cat >"$scratch/prometheus.yml" <<YAML
global:
  scrape_interval: 15s
  scrape_timeout: 10s
scrape_configs:
  - job_name: node
    file_sd_configs:
      - files: ['$scratch/targets.json']
    relabel_configs:
      - source_labels: [host]
        target_label: instance
YAML
/usr/bin/prometheus --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$scratch/prometheus.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$prom_port"
echo "waiting for $hosts targets to be scraped twice (about 30 s)..."
for _ in $(seq 1 120); do
    count="$(curl -s "$url/api/v1/query" --data-urlencode 'query=count(rate(node_cpu_seconds_total{mode="idle",cpu="0"}[1m]))' \
        | jq -r '.data.result[0].value[1] // "0"' 2>/dev/null || echo 0)"
    [ "$count" = "$hosts" ] && break
    sleep 1
done
[ "$count" = "$hosts" ] || { echo "only $count of $hosts targets scraped:"; tail "$scratch/prometheus.log"; exit 1; }

mkdir -p "$scratch/home" "$scratch/config" "$scratch/data" "$scratch/state"
printf '[[prometheus]]\nurl = "%s"\njob = "node"\n' "$url" >"$scratch/opsdeck.toml"
: >"$scratch/runs.txt"
for _ in $(seq 1 "$refreshes"); do
    HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/config" XDG_DATA_HOME="$scratch/data" \
        XDG_STATE_HOME="$scratch/state" "$opsdeck" --config "$scratch/opsdeck.toml" hosts --format json \
        | jq -r '.sources[0] | "\(.collect_ms) \(.response_bytes) \(.hosts | length) \(.error // "")"' >>"$scratch/runs.txt" || true
done
awk -v hosts="$hosts" '
    { ms[NR] = $1; bytes[NR] = $2; if ($3 != hosts) bad++ }
    END {
        n = asort(ms); asort(bytes)
        printf "hosts %d, refreshes %d (%d with a wrong host count)\n", hosts, n, bad
        printf "collector time per refresh: median %.0f ms, max %.0f ms (target <= 1000 ms)\n", ms[int((n + 1) / 2)], ms[n]
        printf "Prometheus answers per refresh: median %.1f KB on the wire (target <= 200 KB)\n", bytes[int((n + 1) / 2)] / 1024
    }' "$scratch/runs.txt"

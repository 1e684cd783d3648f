#!/usr/bin/env bash
# On-disk bytes per sample, ringest and VictoriaMetrics side by side on the same data:
# ../shared/peers/disk-load.js pushes SAMPLES distinct samples (5,000-line bodies, 4 connections,
# HOSTS hosts x 8 series) into each; sizes are `du` after each server's graceful stop
# (ringest: its data dir; VictoriaMetrics: data/ + indexdb/, as ../shared/peers/run.sh counts it,
# after force_flush and force_merge; InfluxDB 1.x: data/ + wal/ + meta/ once its WAL is snapshotted
# and its TSM files compacted, as run.sh counts it).
#
#   bench/disk.sh [SAMPLES=20000000] [HOSTS=10000] [extra ringest serve flags...]
#   SKIP_VM=1 SKIP_INFLUX=1 bench/disk.sh ...        ringest only
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000000}; H=${2:-10000}; shift $(( $# >= 2 ? 2 : $# ))
PEERS=${PEERS_DIR:-../shared/peers}
PORT=${PORT:-18800}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
bytes () { du -s --block-size=1 -c "$@" | tail -1 | cut -f1; }
wait_http () { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }
stat_of () { curl -s "127.0.0.1:$PORT/stats" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).storage.$1))"; }

npm run build --silent
node bin/ringest.js serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/ringest" --log-level warn --shutdown-timeout-ms 120s "$@" >"$WORK/ringest.log" 2>&1 &
R=$!; PIDS+=("$R"); wait_http "http://127.0.0.1:$PORT/healthz"
load=$(node "$PEERS/disk-load.js" "http://127.0.0.1:$PORT/write?precision=ms" "$N" 5000 4 "$H")
ingest_rss=$(awk '/^VmHWM/{print int($2/1024)}' "/proc/$R/status")
# The idle checkpoint (a stop checkpoints only a small WAL): wait until the WAL is all in chunks.
for _ in $(seq 300); do [ "$(stat_of checkpoints)" != 0 ] && [ "$(stat_of headSamples)" = 0 ] && break; sleep 1; done
checkpoint_ms=$(stat_of lastCheckpointMs)
peak_rss=$(awk '/^VmHWM/{print int($2/1024)}' "/proc/$R/status")
kill -TERM "$R"; wait "$R" || true
rb=$(bytes "$WORK/ringest"); du -s --block-size=1 "$WORK"/ringest/* "$WORK"/ringest/wal/* >&2 || true
echo "{\"server\":\"ringest\",\"load\":$load,\"bytes\":$rb,\"bytes_per_sample\":$(node -e "console.log(($rb/$N).toFixed(3))"),\"rss_peak_mb_ingest\":$ingest_rss,\"rss_peak_mb\":$peak_rss,\"checkpoint_ms\":$checkpoint_ms}"

if [ -z "${SKIP_VM:-}" ]; then
  VP=$((PORT + 1))
  victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$VP" >"$WORK/vm.log" 2>&1 &
  V=$!; PIDS+=("$V"); wait_http "http://127.0.0.1:$VP/health"
  load=$(node "$PEERS/disk-load.js" "http://127.0.0.1:$VP/write?precision=ms" "$N" 5000 4 "$H")
  curl -s "127.0.0.1:$VP/internal/force_flush" >/dev/null; sleep 5
  curl -s "127.0.0.1:$VP/internal/force_merge?partition_prefix=" >/dev/null; sleep 2
  while curl -s "127.0.0.1:$VP/metrics" | grep -q '^vm_active_force_merges [1-9]'; do sleep 1; done; sleep 3
  peak_rss=$(awk '/^VmHWM/{print int($2/1024)}' "/proc/$V/status")
  kill -TERM "$V"; wait "$V" || true
  vb=$(bytes "$WORK/vm/data" "$WORK/vm/indexdb")
  echo "{\"server\":\"vm\",\"load\":$load,\"bytes\":$vb,\"bytes_per_sample\":$(node -e "console.log(($vb/$N).toFixed(3))"),\"rss_peak_mb\":$peak_rss}"
  echo "{\"ratio_ringest_to_vm_bytes\":$(node -e "console.log(($rb/$vb).toFixed(3))")}"
fi

if [ -z "${SKIP_INFLUX:-}" ]; then
  IP=$((PORT + 2)); D="$WORK/influx"; mkdir -p "$D"
  # As ../shared/peers/run.sh: a cold snapshot of the WAL after 10 s idle, a full compaction after 30 s.
  cat >"$D/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:0"
[meta]
  dir = "$D/meta"
[data]
  dir = "$D/data"
  wal-dir = "$D/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
  compact-full-write-cold-duration = "30s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$IP"
  log-enabled = false
[logging]
  level = "warn"
EOF
  influxd -config "$D/influxdb.conf" >"$WORK/influx.log" 2>&1 &
  I=$!; PIDS+=("$I"); wait_http "http://127.0.0.1:$IP/ping"
  curl -sf -XPOST "127.0.0.1:$IP/query" --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
  load=$(node "$PEERS/disk-load.js" "http://127.0.0.1:$IP/write?db=bench&precision=ms" "$N" 5000 4 "$H")
  # Until past the full-compaction delay (40 s), no WAL segment holds data and the size has settled (at most 5 min).
  prev=0; b=0; wal=0
  for i in $(seq 60); do
    sleep 5; b=$(bytes "$D")
    wal=$(find "$D/wal" -name '*.wal' -size +1k | wc -l)
    [ "$i" -ge 8 ] && [ "$wal" -eq 0 ] && [ "$b" -eq "$prev" ] && break; prev=$b
  done
  peak_rss=$(awk '/^VmHWM/{print int($2/1024)}' "/proc/$I/status")
  kill -TERM "$I"; wait "$I" || true
  ib=$(bytes "$D/data" "$D/wal" "$D/meta")
  echo "{\"server\":\"influx\",\"load\":$load,\"bytes\":$ib,\"bytes_per_sample\":$(node -e "console.log(($ib/$N).toFixed(3))"),\"rss_peak_mb\":$peak_rss,\"wal_files_left\":$wal}"
  echo "{\"ratio_ringest_to_influx_bytes\":$(node -e "console.log(($rb/$ib).toFixed(3))")}"
fi

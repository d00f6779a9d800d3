#!/usr/bin/env bash
# End-to-end benchmarks against a real mosquitto and a real VictoriaMetrics.
#   MODE=ingest (default): N QoS 1 readings queued in mosquitto for a persistent session are
#     drained by (a) mosquitto_sub doing nothing, (b) meilid through its disk buffer into
#     VictoriaMetrics. Prints messages/s for both, the ratio, and meilid's RSS.
#   MODE=drain: meilid buffers N readings while VictoriaMetrics is down, then VictoriaMetrics
#     starts and the backlog drains. Prints the drain rate (rows/s) and RSS, and the standards
#     engine's backlog when the database returns (its figures do not wait for the database).
#     SINK=influx: InfluxDB 1.x (influxd, sink influxdb_v1) instead of VictoriaMetrics.
# Bounded: N messages (default 200000), loopback only, stops only the processes it started.
set -euo pipefail
N=${N:-200000}
DEVICES=${DEVICES:-100}
. "$(dirname "$0")/bench-common.sh"
MQ=$(port); VM=$(port); HTTP=$(port); RPC=$(port)
SINK=${SINK:-vm}
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n' "$MQ" > "$D/mq.conf"
mosquitto -c "$D/mq.conf" > "$D/mq.log" 2>&1 & pids+=($!)
start_vm() {
  if [ "$SINK" = influx ]; then
    printf 'reporting-disabled = true\nbind-address = "127.0.0.1:%s"\n[meta]\n  dir = "%s/influx/meta"\n[data]\n  dir = "%s/influx/data"\n  wal-dir = "%s/influx/wal"\n  query-log-enabled = false\n[http]\n  bind-address = "127.0.0.1:%s"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n' "$RPC" "$D" "$D" "$D" "$VM" > "$D/influxdb.conf"
    influxd -config "$D/influxdb.conf" > "$D/influxd.log" 2>&1 & pids+=($!)
    until curl -sf "127.0.0.1:$VM/ping" >/dev/null; do sleep 0.05; done
    return
  fi
  victoria-metrics -httpListenAddr=127.0.0.1:$VM -storageDataPath="$D/vm" -retentionPeriod=100y -dedup.minScrapeInterval=1ms > "$D/vm.log" 2>&1 & pids+=($!)
  until curl -sf "127.0.0.1:$VM/health" >/dev/null; do sleep 0.05; done
}
MODE=${MODE:-ingest}
[ "$MODE" = drain ] || start_vm
sleep 0.5
now=$(date +%s)
# N payload lines spread over DEVICES topics, distinct timestamps per device.
python3 - "$N" "$DEVICES" "$now" "$D" <<'PY'
import sys
n, devs, now, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = n // devs
for i in range(devs):
    with open(f"{d}/d{i:03}.txt", "w") as f:
        for j in range(per):
            ts = now - 86400 + j
            f.write('{"v":1,"seq":%d,"ts":%d,"period_s":1,"laeq":%.1f,"lamax":80.5,"lamin":40.2}\n' % (j, ts, 50 + (j % 300) / 10))
PY
publish() {
  for i in $(seq 0 $((DEVICES-1))); do
    f=$(printf '%s/d%03d.txt' "$D" "$i")
    echo "mosquitto_pub -p $MQ -q 1 -t meili/v1/town/noise/$(printf 'd%03d' "$i")/telemetry -l < $f"
  done | xargs -P 4 -I{} sh -c '{}'
}
ms() { date +%s%3N; }

# (b) meilid into VictoriaMetrics.
{
  printf '[daemon]\ndata_dir = "%s/data"\nhttp_listen = "127.0.0.1:%s"\n' "$D" "$HTTP"
  printf '[mqtt]\nurl = "mqtt://127.0.0.1:%s"\nclient_id = "meilid-bench"\nprotocol = "%s"\n' "$MQ" "${PROTOCOL:-5}"
  if [ "$SINK" = influx ]; then
    printf '[[sinks]]\ntype = "influxdb_v1"\nname = "influxdb_v2"\nurl = "http://127.0.0.1:%s"\ndatabase = "meili"\ncreate_database = true\n[sinks.batch]\nretry_max_backoff_ms = 200\n' "$VM"
  else
    printf '[[sinks]]\ntype = "influxdb_v2"\nurl = "http://127.0.0.1:%s"\norg = "o"\nbucket = "b"\n[sinks.batch]\nretry_max_backoff_ms = 200\n' "$VM"
  fi
  # ALERTS=1: a threshold rule that evaluates every reading (hourly energy means per device).
  [ -n "${ALERTS:-}" ] && printf '[[alerts.rules]]\nname = "noise"\ntype = "threshold"\nmetric = "laeq"\nwindow_mins = 60\nthreshold = "limit"\nfor_mins = 120\n'
  for i in $(seq 0 $((DEVICES-1))); do
    printf '[[devices]]\nid = "d%03d"\nsite = "town"\nkind = "noise"\nlat = 23.0\nlon = 103.0\nzone_class = "2"\n' "$i"
  done
} > "$D/meilid.toml"
metric() { curl -s "127.0.0.1:$HTTP/metrics" | awk -v k="$1" 'index($0, k" ")==1 {print $NF}'; }
# Register meilid's persistent session (so messages queue for it while it is down).
register_meilid() {
  "$MEILID" run --config "$D/meilid.toml" > "$D/meilid.log" 2>&1 & mp=$!; pids+=($mp)
  until [ "$(metric meili_mqtt_subscriptions_total 2>/dev/null || echo 0)" = "2" ]; do sleep 0.1; done
}
if [ "$MODE" = drain ]; then
  register_meilid
  tp=$(ms)
  publish
  until [ "$(metric meili_buffer_rows_appended_total)" -ge "$N" ] 2>/dev/null; do sleep 0.2; done
  echo "buffered $N rows: $(metric meili_buffer_bytes) bytes on disk" >&2
  # Readings the engine has counted already (its figures do not wait for the database).
  until [ "$(metric 'meili_standards_readings_total{outcome="counted"}')" -ge "$N" ] 2>/dev/null; do sleep 0.2; done
  engine_current_ms=$(( $(ms) - tp ))
  t0=$(ms); start_vm
else
# (a) baseline subscriber: register the session, queue N, drain.
  mosquitto_sub -p $MQ -q 1 -c -i bench-sub -t 'meili/v1/#' -C 1 -W 1 >/dev/null 2>&1 || true
  publish
  t0=$(ms); mosquitto_sub -p $MQ -q 1 -c -i bench-sub -t 'meili/v1/#' -C "$N" > /dev/null; t1=$(ms)
  base=$(( N * 1000 / (t1 - t0) ))
  # Only now register meilid's session, so that it gets exactly the next N messages.
  register_meilid
  kill -TERM $mp; wait $mp || true
  publish
  t0=$(ms)
  "$MEILID" run --config "$D/meilid.toml" > "$D/meilid2.log" 2>&1 & mp=$!; pids+=($mp)
fi
rss_max=0
while :; do
  # Done when every reading is accepted and the sink has written everything buffered (the
  # standards engine's result rows included).
  a=$(metric 'meili_readings_accepted_total{kind="noise"}' 2>/dev/null || echo 0)
  b=$(curl -s "127.0.0.1:$HTTP/metrics" | awk 'index($0, "meili_buffer_backlog_rows{sink=\"influxdb_v2\"")==1 {print $NF}')
  b=${b:-1}
  rss=$(awk '/VmRSS/ {print $2}' /proc/$mp/status); [ "${rss:-0}" -gt "$rss_max" ] && rss_max=$rss
  [ "${a:-0}" -ge "$N" ] 2>/dev/null && [ "${b:-1}" = "0" ] && break
  sleep 0.05
done
t1=$(ms)
rss_end=$(awk '/VmRSS/ {print $2}' /proc/$mp/status)
# SMAPS=1: print where the resident memory is (anonymous vs file-backed).
[ -n "${SMAPS:-}" ] && grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous)' /proc/$mp/smaps_rollup >&2
rate=$(( N * 1000 / (t1 - t0) ))
if [ "$SINK" = influx ]; then
  stored=$(curl -s -G "127.0.0.1:$VM/query" --data-urlencode db=meili --data-urlencode 'q=SELECT count(laeq) FROM noise' | python3 -c 'import json,sys; v=json.load(sys.stdin); s=v["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)')
else
  curl -s "127.0.0.1:$VM/internal/force_flush" >/dev/null
  sleep 1
  stored=$(curl -s "127.0.0.1:$VM/api/v1/export" --data-urlencode 'match[]={__name__="noise_laeq"}' | python3 -c 'import sys,json; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))')
fi
accepted=$(metric 'meili_readings_accepted_total{kind="noise"}')
counted=$(metric 'meili_standards_readings_total{outcome="counted"}')
if [ "$MODE" = drain ]; then
  echo "mode=drain sink=$SINK rows=$N drain=${rate}/s stored=$stored engine_counted_all_ms_after_first_publish=$engine_current_ms (before the database returned) rss_peak_kib=$rss_max rss_end_kib=$rss_end"
else
  echo "mode=ingest messages=$N baseline_mosquitto_sub=${base}/s meilid_to_victoriametrics=${rate}/s ratio=$(( rate * 100 / base ))% accepted=$accepted stored=$stored engine_counted=$counted rss_peak_kib=$rss_max rss_end_kib=$rss_end fsyncs=$(metric meili_buffer_fsyncs_total)"
fi

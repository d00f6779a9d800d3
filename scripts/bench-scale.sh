#!/usr/bin/env bash
# Scale: DEVICES declared devices (a quarter of each kind) each reading once a minute, an hour
# of simulated time (`meilid simulate --start -1h --end now`, published as fast as mosquitto
# takes them), into meilid with a threshold alert rule and a VictoriaMetrics sink. Prints
# readings, meilid's CPU per 1,000 readings and peak RSS, and how long after the last publish
# the standards engine and the alert evaluator had read everything (their lag).
#   DEVICES=10000 ./scripts/bench-scale.sh
# Bounded: one hour of simulated readings; loopback only; stops only what it started.
set -euo pipefail
DEVICES=${DEVICES:-10000}
. "$(dirname "$0")/bench-common.sh"
MQ=$(port); VM=$(port); HTTP=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$MQ" > "$D/mq.conf"
mosquitto -c "$D/mq.conf" > "$D/mq.log" 2>&1 & pids+=($!)
victoria-metrics -httpListenAddr=127.0.0.1:$VM -storageDataPath="$D/vm" -retentionPeriod=100y > "$D/vm.log" 2>&1 & pids+=($!)
until curl -sf "127.0.0.1:$VM/health" >/dev/null; do sleep 0.05; done
q=$((DEVICES / 4))
sim=(--broker "127.0.0.1:$MQ" --site town --noise "$q" --air "$q" --toilet "$q" --streetlight "$((DEVICES - 3 * q))" --period-secs 60)
{
  printf '[daemon]\ndata_dir = "%s/data"\nhttp_listen = "127.0.0.1:%s"\n' "$D" "$HTTP"
  printf '[mqtt]\nurl = "mqtt://127.0.0.1:%s"\nclient_id = "meilid-scale"\n' "$MQ"
  printf '[validate]\nmax_age_secs = 86400\n'
  printf '[[sinks]]\ntype = "influxdb_v2"\nurl = "http://127.0.0.1:%s"\norg = "o"\nbucket = "b"\n' "$VM"
  printf '[alerts]\nmax_age_mins = 0\n[[alerts.rules]]\nname = "noise"\ntype = "threshold"\nkinds = ["noise"]\nmetric = "laeq"\nwindow_mins = 0\nthreshold = 75\n'
  "$MEILID" simulate "${sim[@]}" --print-config
} > "$D/meilid.toml"
metric() { curl -s "127.0.0.1:$HTTP/metrics" | awk -v k="$1" 'index($0, k" ")==1 {print $NF}'; }
"$MEILID" run --config "$D/meilid.toml" > "$D/meilid.log" 2>&1 & mp=$!; pids+=($mp)
until [ "$(metric meili_mqtt_subscriptions_total 2>/dev/null || echo 0)" = "2" ]; do sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$mp/stat"; }
ms() { date +%s%3N; }
c0=$(cpu); t0=$(ms)
"$MEILID" simulate "${sim[@]}" --start -1h --end now > "$D/sim.log" 2>&1
t1=$(ms)
want=$(metric meili_mqtt_messages_received_total 2>/dev/null || echo 0)
# Everything published is in the buffer, read by the engine and the evaluator, and written.
sum_engine() { curl -s "127.0.0.1:$HTTP/metrics" | awk 'index($0, "meili_standards_readings_total{")==1 {s += $NF} END {print s+0}'; }
engine_done=""; alerts_done=""
for _ in $(seq 6000); do
  acc=$(curl -s "127.0.0.1:$HTTP/metrics" | awk 'index($0, "meili_readings_accepted_total{")==1 {s += $NF} END {print s+0}')
  [ -z "$engine_done" ] && [ "$(sum_engine)" -ge "$acc" ] && [ "$acc" -gt 0 ] && engine_done=$(ms)
  [ -z "$alerts_done" ] && [ "$(metric meili_alerts_backlog_rows)" = "0" ] && alerts_done=$(ms)
  b=$(curl -s "127.0.0.1:$HTTP/metrics" | awk 'index($0, "meili_buffer_backlog_rows{")==1 {print $NF}')
  [ -n "$engine_done" ] && [ -n "$alerts_done" ] && [ "${b:-1}" = "0" ] && break
  sleep 0.1
done
t2=$(ms); c1=$(cpu)
hz=$(getconf CLK_TCK)
readings=$acc
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$mp/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$mp/status")
python3 - "$readings" "$c0" "$c1" "$hz" "$t0" "$t1" "$t2" "$engine_done" "$alerts_done" "$hwm" "$rss" "$DEVICES" <<'PY'
import sys
r, c0, c1, hz, t0, t1, t2, e, a, hwm, rss, n = map(int, sys.argv[1:])
cpu = (c1 - c0) / hz
print(f"devices={n} readings={r} published_in={(t1 - t0) / 1000:.1f}s ({r / ((t1 - t0) / 1000):,.0f}/s) "
      f"meilid_cpu={cpu:.1f}s ({cpu / r * 1000 * 1000:.1f} ms per 1,000 readings) "
      f"engine_lag_after_last_publish={(e - t1) / 1000:.1f}s alert_evaluator_lag={(a - t1) / 1000:.1f}s "
      f"all_written_after={(t2 - t1) / 1000:.1f}s rss_peak={hwm / 1024:.1f}MiB rss_end={rss / 1024:.1f}MiB")
PY

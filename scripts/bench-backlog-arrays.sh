#!/usr/bin/env bash
# After an outage, DEVICES devices each upload a one-day backlog (1,440 minute readings, ~76 KB)
# as one JSON array: real mosquitto, real InfluxDB 1.x, release meilid. Reports published,
# landed and dropped readings, the drain time and meilid's peak RSS (issue 14, case 2).
#   DEVICES=600 ./scripts/bench-backlog-arrays.sh   (DAEMON_KEYS='ingest_queue_bytes = 8388608' adds [daemon] keys)
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-600}
PER=${PER:-1440}
cargo build --release --bin meilid -q
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mq=$(port); db=$(port); rpc=$(port); http=$(port)

printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$mq" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
cat > "$work/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$db"
  log-enabled = false
[monitor]
  store-enabled = false
EOF
influxd -config "$work/influxdb.conf" > "$work/influxd.log" 2>&1 & pids+=($!)

python3 - "$work" "$DEVICES" "$PER" "$mq" "$db" "$http" <<'PY'
import json, os, sys, time
work, n, per, mq, db, http = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
extra = os.environ.get("DAEMON_KEYS", "").replace(";", "\n")
cfg = [f'[daemon]\ndata_dir = "{work}/data"\nhttp_listen = "127.0.0.1:{http}"\nhealth_interval_secs = 0\n{extra}\n',
       f'[mqtt]\nurl = "mqtt://127.0.0.1:{mq}"\nclient_id = "meilid-arrays"\n',
       f'[[sinks]]\ntype = "influxdb_v1"\nname = "db"\nurl = "http://127.0.0.1:{db}"\ndatabase = "meili"\n']
for d in range(n):
    cfg.append(f'[[devices]]\nid = "d{d:04}"\nsite = "town"\nkind = "noise"\nlat = 23.0\nlon = 103.0\nzone_class = "2"\n')
open(f"{work}/meilid.toml", "w").write("\n".join(cfg))
base = int(time.time()) - 2 * 86400
for d in range(n):
    arr = [{"v": 1, "seq": j, "ts": base + 60 * j, "period_s": 60,
            "laeq": round(45 + (d * 7 + j) % 300 / 10, 1), "lamax": 80.0, "lamin": 40.0} for j in range(per)]
    open(f"{work}/a{d}.json", "w").write(json.dumps(arr, separators=(",", ":")))
PY
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$db/ping" && break; sleep 0.2; done
./target/release/meilid run --config "$work/meilid.toml" > "$work/meilid.log" 2>&1 & meilid=$!; pids+=($meilid)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$http/metrics" 2>/dev/null | grep -q '^meili_mqtt_subscriptions_total 2' && break; sleep 0.1; done
bytes=$(cat "$work"/a*.json | wc -c)
start=$(date +%s.%N)
pubs=()
for d in $(seq 0 $((DEVICES - 1))); do
  mosquitto_pub -h 127.0.0.1 -p "$mq" -q 1 -t "meili/v1/town/noise/d$(printf %04d "$d")/telemetry" -f "$work/a$d.json" & pubs+=($!)
  if (( ${#pubs[@]} == 50 )); then wait "${pubs[@]}"; pubs=(); fi
done
(( ${#pubs[@]} == 0 )) || wait "${pubs[@]}"
want=$((DEVICES * PER))
metric() { curl -s "http://127.0.0.1:$http/metrics" | awk -v k="$1" '$1==k {print $2}'; }
count() { curl -s -G "http://127.0.0.1:$db/query" --data-urlencode db=meili --data-urlencode 'q=SELECT count(laeq) FROM noise' | python3 -c 'import json,sys; v=json.load(sys.stdin); s=v["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)'; }
for _ in $(seq 600); do
  [ "$(metric 'meili_buffer_backlog_rows{sink="db",type="influxdb_v1"}')" = "0" ] && [ "$(metric meili_buffer_rows_appended_total)" -ge "$want" ] 2>/dev/null && break
  sleep 0.5
done
end=$(date +%s.%N)
landed=$(count)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$meilid/status")
echo "devices=$DEVICES readings=$want message_bytes=$bytes"
echo "landed=$landed dropped=$(metric 'meili_sink_rows_dropped_total{sink="db",type="influxdb_v1"}') corrupt=$(metric meili_buffer_corrupt_rows_total) records=$(metric meili_buffer_records_appended_total) splits=$(metric 'meili_sink_request_splits_total{sink="db",type="influxdb_v1"}')"
python3 -c "print(f'drain {($end - $start):.1f} s, {$landed / ($end - $start):,.0f} readings/s, meilid peak RSS {$hwm / 1024:.1f} MiB')"

#!/usr/bin/env python3
"""InfluxDB 1.x CPU for 100,000 noise rows with and without `seq` and `period_s`.

Why the sinks leave both out by default (`seq_and_period_fields`). Starts its own influxd on a
free loopback port in a temporary directory, writes 200 devices x 500 readings in batches of
5,000 (`/write?precision=s`, as meilid's influxdb_v1 sink does), prints influxd's CPU seconds
and wall time per shape, and stops the influxd it started.
    ./scripts/bench-influx-fields.py [repetitions]
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SHAPES = {
    "contract": "laeq=52.3,lamax=61",
    "seq_and_period": "laeq=52.3,lamax=61,seq={seq}i,period_s=60i",
}


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(shape, batch=5000):
    with tempfile.TemporaryDirectory() as d:
        port, rpc = free_port(), free_port()
        conf = os.path.join(d, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(
                f'reporting-enabled = false\nbind-address = "127.0.0.1:{rpc}"\n'
                f'[meta]\n  dir = "{d}/meta"\n[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n'
                "  query-log-enabled = false\n[monitor]\n  store-enabled = false\n"
                "[subscriber]\n  enabled = false\n[continuous_queries]\n  enabled = false\n"
                f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
            )
        p = subprocess.Popen(["influxd", "-config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/ping", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            urllib.request.urlopen(base + "/query", b"q=CREATE+DATABASE+b")
            lines = [
                f"noise,device=dev-{dv:05},site=site-{dv % 4:02},zone_class=1 "
                + SHAPES[shape].format(seq=seq)
                + f" {1763900000 + seq * 60}\n"
                for seq in range(500)
                for dv in range(200)
            ]
            bodies = ["".join(lines[i : i + batch]).encode() for i in range(0, len(lines), batch)]
            c0, t0 = cpu_s(p.pid), time.time()
            for b in bodies:
                urllib.request.urlopen(urllib.request.Request(base + "/write?db=b&precision=s", data=b))
            return cpu_s(p.pid) - c0, time.time() - t0
        finally:
            p.terminate()
            p.wait(30)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for rep in range(reps):
        for shape in SHAPES:
            cpu, wall = run(shape)
            print(f"rep {rep + 1} {shape:15} influxd CPU {cpu:.2f} s, wall {wall:.2f} s for 100,000 rows", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Host-side peers for the firmware image running in QEMU, on the emulated board's UARTs
(QEMU serves each UART as a TCP socket on 127.0.0.1; these connect to it).

modem: a Quectel EC800N-style 4G module speaking the AT subset the firmware uses (AT, ATE0,
  AT+CPIN?, AT+CEREG?, AT+QICSGP, AT+QIACT, AT+CSQ, AT+CCLK?, AT+QIOPEN, AT+QISEND,
  AT+QIRD, AT+QICLOSE; URCs +QIOPEN, +QIURC "recv"/"closed") and bridging its one socket to
  a real TCP peer (the broker on 127.0.0.1). A control file holds the link state:
  "up", "down" (the network closes the socket and refuses new ones) or "hung" (the module
  answers nothing). Events are appended to --events as lines.
pms5003: a Plantower PMS5003: a datasheet frame every second with fixed values (active mode),
  or one per READ command (passive mode), and the 8-byte reply to each 7-byte command.
"""
import argparse
import datetime
import socket
import struct
import sys
import time


def connect(port):
    for _ in range(300):
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            time.sleep(0.1)
    sys.exit(f"cannot connect to 127.0.0.1:{port}")


class Modem:
    def __init__(self, uart, control, events):
        self.uart = uart
        self.control = control
        self.events = open(events, "a", buffering=1)
        self.buf = b""
        self.tcp = None
        self.rx = b""
        self.state = "up"

    def event(self, what):
        self.events.write(f"{time.time():.3f} {what}\n")

    def out(self, s):
        self.uart.sendall(s if isinstance(s, bytes) else s.encode())

    def read_state(self):
        try:
            with open(self.control) as f:
                s = f.read().strip() or "up"
        except OSError:
            s = "up"
        if s != self.state:
            self.event(f"state {s}")
            if s != "up" and self.tcp:
                self.close_tcp(urc=(s == "down"))
            self.state = s

    def close_tcp(self, urc):
        if self.tcp:
            self.tcp.close()
            self.tcp = None
            self.rx = b""
            self.event("closed")
            if urc:
                self.out('\r\n+QIURC: "closed",0\r\n')

    def command(self, line):
        c = line.strip()
        if not c:
            return
        ok = "\r\nOK\r\n"
        if c in ("AT", "ATE0", "ATE1") or c.startswith("AT+QICSGP") or c.startswith("AT+QIACT"):
            self.out(ok)
        elif c == "AT+CPIN?":
            self.out("\r\n+CPIN: READY\r\n" + ok)
        elif c in ("AT+CEREG?", "AT+CREG?"):
            self.out(f"\r\n{c[2:-1]}: 0,1\r\n" + ok)
        elif c == "AT+CSQ":
            self.out("\r\n+CSQ: 20,99\r\n" + ok)
        elif c == "AT+CCLK?":
            t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)
            self.out(t.strftime('\r\n+CCLK: "%y/%m/%d,%H:%M:%S+32"\r\n') + ok)
        elif c.startswith("AT+QIOPEN="):
            parts = c.split(",")
            host, port = parts[3].strip('"'), int(parts[4])
            self.out(ok)
            if self.tcp:
                self.out("\r\n+QIOPEN: 0,563\r\n")
                return
            if self.state == "down":
                self.out("\r\n+QIOPEN: 0,566\r\n")
                return
            try:
                # Loopback only; "localhost" is the name a TLS certificate carries.
                if host == "localhost":
                    host = "127.0.0.1"
                assert host.startswith("127.")
                self.tcp = socket.create_connection((host, port), timeout=5)
                self.tcp.setblocking(False)
                self.event("opened")
                self.out("\r\n+QIOPEN: 0,0\r\n")
            except (OSError, AssertionError):
                self.out("\r\n+QIOPEN: 0,566\r\n")
        elif c.startswith("AT+QISEND=0,"):
            n = int(c.split(",")[1])
            if not self.tcp:
                self.out("\r\nERROR\r\n")
                return
            self.out("\r\n> ")
            data = self.read_exact(n)
            try:
                self.tcp.setblocking(True)
                self.tcp.sendall(data)
                self.tcp.setblocking(False)
                self.out("\r\nSEND OK\r\n")
            except OSError:
                self.out("\r\nSEND FAIL\r\n")
                self.close_tcp(urc=True)
        elif c.startswith("AT+QIRD=0,"):
            n = int(c.split(",")[1])
            data, self.rx = self.rx[:n], self.rx[n:]
            self.out(f"\r\n+QIRD: {len(data)}\r\n".encode() + data + b"\r\n\r\nOK\r\n")
        elif c.startswith("AT+QICLOSE"):
            self.close_tcp(urc=False)
            self.out(ok)
        else:
            self.out("\r\nERROR\r\n")

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.uart.recv(4096)
            if not chunk:
                sys.exit(0)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def run(self):
        import select

        self.uart.setblocking(True)
        while True:
            self.read_state()
            socks = [self.uart] + ([self.tcp] if self.tcp else [])
            ready, _, _ = select.select(socks, [], [], 0.05)
            if self.uart in ready:
                chunk = self.uart.recv(4096)
                if not chunk:
                    return
                if self.state == "hung":
                    continue  # the module is silent: input is lost
                self.buf += chunk
                while b"\r" in self.buf:
                    line, self.buf = self.buf.split(b"\r", 1)
                    self.buf = self.buf.lstrip(b"\n")
                    self.command(line.decode(errors="replace"))
            if self.tcp and self.tcp in ready:
                try:
                    data = self.tcp.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.close_tcp(urc=True)
                else:
                    was_empty = not self.rx
                    self.rx += data
                    if was_empty and self.state != "hung":
                        self.out('\r\n+QIURC: "recv",0\r\n')


def frame(pm_cf1, pm_atm, counts):
    body = struct.pack(">2sH3H3H6H2x", b"BM", 28, *pm_cf1, *pm_atm, *counts)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def pms5003(uart):
    """Active mode (a frame a second) until told PASSIVE (42 4D E1 00 00), then a frame per
    READ (42 4D E2 ...); every command is answered with its 8-byte reply first."""
    f = frame((12, 36, 52), (10, 35, 50), (2000, 600, 120, 10, 3, 1))
    uart.settimeout(0.05)
    buf, active, next_frame = b"", True, time.time()
    while True:
        if active and time.time() >= next_frame:
            uart.sendall(f)
            next_frame = time.time() + 1.0
        try:
            chunk = uart.recv(64)
            if not chunk:
                return
            buf += chunk
        except socket.timeout:
            pass
        while True:
            i = buf.find(b"BM")
            if i < 0:
                buf = buf[-1:] if buf.endswith(b"B") else b""  # a header may be split
                break
            if len(buf) < i + 7:
                buf = buf[i:]
                break
            cmd, buf = buf[i:i + 7], buf[i + 7:]
            body = b"BM" + bytes([0, 4, cmd[2], cmd[4]])
            uart.sendall(body + struct.pack(">H", sum(body)))
            if cmd[2] == 0xE1:
                active = cmd[4] == 1
            elif cmd[2] == 0xE2:
                uart.sendall(f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["modem", "pms5003"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--control")
    p.add_argument("--events")
    a = p.parse_args()
    uart = connect(a.port)
    if a.role == "modem":
        Modem(uart, a.control, a.events).run()
    else:
        pms5003(uart)


main()

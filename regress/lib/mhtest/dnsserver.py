#!/usr/bin/python3
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""A real unbound on a free loopback port serving local-data records.

As a module:

    from mhtest.dnsserver import DNSServer
    with DNSServer(["mx.example.test. A 192.0.2.10",
                    "example.test. MX 10 mx.example.test.",
                    'example.test. TXT "v=spf1 -all"']) as dns:
        ... dns.addr, dns.port, dns.resolver ("127.0.0.1@PORT") ...

Every top-level domain that appears in a record is served as a static
local zone: names without records answer NXDOMAIN, names with other
record types NODATA; nothing ever leaves the machine.  Extra zones
(static, or any unbound local-zone type) can be given with zones=, and
zones forwarded to another loopback server (e.g. one that never answers)
with forwards={"slow.test": "127.0.0.1@PORT"}.

As a CLI (for shell tests):

    dnsserver.py [-p portfile] [-z zone] record ...

starts unbound, writes the port to portfile (or prints it) and runs until
killed (SIGTERM stops unbound too).
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from mhtest import announce_port, free_port, stop_process  # noqa: F401 (callers import it from here)


def _query(port, name, qtype=1, timeout=0.5):
    """One UDP query; returns the rcode or None."""
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
        return data[3] & 0x0F
    except OSError:
        return None
    finally:
        s.close()


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DNSServer:
    def __init__(self, records=(), zones=(), port=None, verbose=0,
                 forwards=None):
        self.records = list(records)
        self.zones = list(zones)
        self.forwards = dict(forwards or {})
        self.port = port
        self.addr = "127.0.0.1"
        self.verbose = verbose
        self.proc = None
        self.dir = None

    @property
    def resolver(self):
        return "%s@%d" % (self.addr, self.port)

    def config(self):
        zones = {}
        for z in self.zones:
            name, _, kind = z.partition(" ")
            zones[name.rstrip(".").lower() + "."] = kind or "static"
        for z in self.forwards:
            zones[z.rstrip(".").lower() + "."] = "transparent"
        for r in self.records:
            owner = r.split()[0].rstrip(".").lower()
            tld = owner.rsplit(".", 1)[-1] + "."
            zones.setdefault(tld, "static")
        lines = [
            "server:",
            "  interface: 127.0.0.1@%d" % self.port,
            "  port: %d" % self.port,
            "  do-daemonize: no",
            '  chroot: ""',
            '  username: ""',
            "  directory: %s" % _quote(self.dir),
            "  pidfile: %s" % _quote(os.path.join(self.dir, "unbound.pid")),
            '  logfile: ""',
            "  use-syslog: no",
            "  verbosity: %d" % self.verbose,
            "  do-ip6: no",
            "  num-threads: 1",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  so-reuseport: no",
            "  do-not-query-localhost: no",
        ]
        for z, kind in zones.items():
            lines.append("  local-zone: %s %s" % (_quote(z), kind))
        for r in self.records:
            if "'" not in r:
                lines.append("  local-data: '%s'" % r)
            else:
                lines.append("  local-data: %s" % _quote(r))
        for z, addr in self.forwards.items():
            lines += ["forward-zone:", "  name: %s" % _quote(z),
                      "  forward-addr: %s" % addr]
        lines += ["remote-control:", "  control-enable: no", ""]
        return "\n".join(lines)

    def start(self):
        if shutil.which("unbound") is None and \
                not os.path.exists("/usr/sbin/unbound"):
            raise RuntimeError("unbound is not installed")
        self.dir = tempfile.mkdtemp(prefix="mh-dns-")
        if self.port is None:
            self.port = free_port()
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        exe = shutil.which("unbound") or "/usr/sbin/unbound"
        log = open(os.path.join(self.dir, "unbound.log"), "w")
        self.proc = subprocess.Popen([exe, "-d", "-c", conf],
                                     stdout=log, stderr=log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: " + self.log())
            if _query(self.port, "ready.mailhook.invalid") is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("unbound did not start")

    def log(self):
        try:
            with open(os.path.join(self.dir, "unbound.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Rebinder:
    """A DNS server whose A answer is ips[0] first, then ips[1] for good."""

    def __init__(self, *ips):
        self.ips = ips
        self.asked = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.run = True
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def resolver(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def _loop(self):
        while self.run:
            try:
                q, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            end = 12
            while end < len(q) and q[end]:
                end += q[end] + 1
            qtype = struct.unpack(">H", q[end + 1:end + 3])[0]
            ans = b""
            if qtype == 1:
                ip = self.ips[min(self.asked, len(self.ips) - 1)]
                self.asked += 1
                ans = struct.pack(">HHHIH", 0xc00c, 1, 1, 0, 4) + \
                    socket.inet_aton(ip)
            self.sock.sendto(q[:2] + struct.pack(
                ">HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0) +
                q[12:end + 5] + ans, peer)

    def stop(self):
        self.run = False
        self.th.join(5)
        self.sock.close()


class DNSDelay:
    """A loopback UDP relay in front of a DNSServer that holds every query
    `delay` seconds before passing it on (and the answer straight back):
    a resolver whose every answer comes slowly, but comes.  .port, .addr,
    .resolver as DNSServer."""

    def __init__(self, backend, delay):
        self.backend = ("127.0.0.1", backend.port)
        self.delay = delay
        self.addr = "127.0.0.1"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.addr, 0))
        self.port = self.sock.getsockname()[1]
        self.running = False

    @property
    def resolver(self):
        return "%s@%d" % (self.addr, self.port)

    def _relay(self, pkt, client):
        time.sleep(self.delay)
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(5)
        try:
            up.sendto(pkt, self.backend)
            ans, _ = up.recvfrom(65535)
            if self.running:
                self.sock.sendto(ans, client)
        except OSError:
            pass
        finally:
            up.close()

    def _loop(self):
        while self.running:
            try:
                pkt, client = self.sock.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._relay, args=(pkt, client),
                             daemon=True).start()

    def start(self):
        self.running = True
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self):
        self.running = False
        self.sock.close()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="unbound on loopback")
    ap.add_argument("-p", "--port-file")
    ap.add_argument("-z", "--zone", action="append", default=[])
    ap.add_argument("-v", "--verbose", type=int, default=0)
    ap.add_argument("records", nargs="*")
    a = ap.parse_args(argv)
    srv = DNSServer(a.records, zones=a.zone, verbose=a.verbose).start()

    def bye(*_):
        srv.stop()
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    announce_port(a.port_file, srv.port)
    while srv.proc.poll() is None:
        time.sleep(0.5)
    srv.stop()
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

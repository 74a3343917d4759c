# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""DNSSEC on loopback: zones signed with ldns-signzone (ldnsutils), served
by a real nsd, behind a real unbound that validates them with their trust
anchors (the DS of every signed zone, in anchors.key).

    from mhtest.dnssec import SignedDNS
    with SignedDNS({"good.test": ["@ MX 10 mx", "mx A 127.0.0.2", ...]},
                   unsigned={"plain.test": [...]},
                   tamper={"bogus.test": "_25._tcp.mx"}) as dns:
        ... dns.addr, dns.port (unbound), dns.anchors (the anchor file) ...

Every zone gets an SOA and an NS; records are zone-file lines relative to
the zone.  tamper= changes the data of the named owner's records after
signing, so their signature no longer verifies (a bogus answer); "mx
AAAA" changes only the owner's records of that type.
roundrobin=False: unbound answers every RRset in the zone file's order
instead of rotating it.
"""
import os
import shutil
import subprocess
import tempfile
import time

from mhtest import free_port, stop_process
from mhtest.dnsserver import DNSServer, _query, _quote


def _run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


class SignedDNS(DNSServer):
    """DNSServer's interface (addr, port, resolver, with-statement)."""

    def __init__(self, signed, unsigned=None, tamper=None, roundrobin=True):
        self.roundrobin = roundrobin
        self.signed = dict(signed)
        self.unsigned = dict(unsigned or {})
        self.tamper = dict(tamper or {})
        self.addr = "127.0.0.1"
        self.dir = None
        self.procs = []

    def _zonefile(self, zone, records):
        text = ("$ORIGIN %s.\n$TTL 300\n"
                "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n"
                "@ NS ns.%s.\nns A 127.0.0.1\n" % (zone, zone, zone, zone))
        text += "\n".join(records) + "\n"
        path = os.path.join(self.dir, zone + ".zone")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _sign(self, zone, path):
        key = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone],
                   self.dir).strip()
        _run(["ldns-signzone", "-o", zone, path, key], self.dir)
        ds = _run(["ldns-key2ds", "-n", "-2", key + ".key"], self.dir)
        signed = path + ".signed"
        owner = self.tamper.get(zone)
        if owner:
            owner, _, rtype = owner.partition(" ")
            fqdn = owner + "." + zone + "."
            out = []
            for ln in open(signed).read().splitlines():
                f = ln.split()
                if f and f[0] == fqdn and f[3] not in ("RRSIG", "NSEC") \
                        and rtype in ("", f[3]):
                    # flip the last hex digit of the data: the RRSIG stays
                    last = f[-1]
                    f[-1] = last[:-1] + ("0" if last[-1] != "0" else "1")
                    ln = "\t".join(f)
                out.append(ln)
            with open(signed, "w") as fh:
                fh.write("\n".join(out) + "\n")
        return signed, ds

    def start(self):
        for exe in ("nsd", "unbound", "ldns-signzone"):
            if shutil.which(exe) is None and \
                    not os.path.exists("/usr/sbin/" + exe):
                raise RuntimeError(exe + " is not installed")
        self.dir = tempfile.mkdtemp(prefix="mh-dnssec-")
        self.nsd_port, self.port = free_port(), free_port()
        anchors, zones = [], []
        for z, recs in self.signed.items():
            f, ds = self._sign(z, self._zonefile(z, recs))
            anchors.append(ds.strip())
            zones.append((z, f))
        for z, recs in self.unsigned.items():
            zones.append((z, self._zonefile(z, recs)))
        self.anchors = os.path.join(self.dir, "anchors.key")
        with open(self.anchors, "w") as f:
            f.write("; test trust anchors\n" + "\n".join(anchors) + "\n")
        self._nsd(zones)
        self._unbound([z for z, _ in zones])
        return self

    def _nsd(self, zones):
        d = self.dir
        lines = ["server:",
                 "  ip-address: 127.0.0.1@%d" % self.nsd_port,
                 "  port: %d" % self.nsd_port,
                 '  username: ""', '  chroot: ""',
                 "  zonesdir: %s" % _quote(d),
                 '  database: ""',
                 "  pidfile: %s" % _quote(os.path.join(d, "nsd.pid")),
                 "  xfrdfile: %s" % _quote(os.path.join(d, "xfrd.state")),
                 "  xfrdir: %s" % _quote(d),
                 "  zonelistfile: %s" % _quote(os.path.join(d, "zone.list")),
                 "  logfile: %s" % _quote(os.path.join(d, "nsd.log")),
                 "  do-ip6: no", "  server-count: 1", "  verbosity: 1",
                 "remote-control:", "  control-enable: no"]
        for z, f in zones:
            lines += ["zone:", "  name: %s" % _quote(z),
                      "  zonefile: %s" % _quote(f)]
        conf = os.path.join(d, "nsd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        exe = shutil.which("nsd") or "/usr/sbin/nsd"
        self._spawn([exe, "-d", "-c", conf], "nsd.out", self.nsd_port,
                    list(self.signed or self.unsigned)[0])

    def _unbound(self, zones):
        d = self.dir
        lines = ["server:",
                 "  interface: 127.0.0.1@%d" % self.port,
                 "  port: %d" % self.port,
                 "  do-daemonize: no", '  chroot: ""', '  username: ""',
                 "  directory: %s" % _quote(d),
                 "  pidfile: %s" % _quote(os.path.join(d, "unbound.pid")),
                 '  logfile: ""', "  use-syslog: no", "  verbosity: 1",
                 "  do-ip6: no", "  num-threads: 1", "  so-reuseport: no",
                 "  access-control: 127.0.0.0/8 allow",
                 '  module-config: "validator iterator"',
                 "  trust-anchor-file: %s" % _quote(self.anchors),
                 "  do-not-query-localhost: no",
                 "  val-log-level: 2",
                 '  local-zone: "test." nodefault']
        if not self.roundrobin:
            # answers in the zone file's order, as nsd serves them
            lines.append("  rrset-roundrobin: no")
        for z in zones:
            lines.append('  domain-insecure: "%s"' % z
                         if z in self.unsigned else "")
        lines += ["remote-control:", "  control-enable: no"]
        for z in zones:
            lines += ["stub-zone:", "  name: %s" % _quote(z),
                      "  stub-addr: 127.0.0.1@%d" % self.nsd_port]
        conf = os.path.join(d, "unbound.conf")
        with open(conf, "w") as f:
            f.write("\n".join(ln for ln in lines if ln) + "\n")
        exe = shutil.which("unbound") or "/usr/sbin/unbound"
        self._spawn([exe, "-d", "-c", conf], "unbound.out", self.port,
                    zones[0])

    def _spawn(self, cmd, logname, port, probe):
        log = open(os.path.join(self.dir, logname), "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=log)
        self.procs.append(p)
        deadline = time.time() + 20
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError("%s exited: %s" % (cmd[0], self.log()))
            if _query(port, probe, qtype=6) == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("%s did not start: %s" % (cmd[0], self.log()))

    def log(self):
        out = ""
        for n in ("nsd.out", "nsd.log", "unbound.out"):
            try:
                with open(os.path.join(self.dir, n)) as f:
                    out += "== %s\n%s" % (n, f.read()[-3000:])
            except OSError:
                pass
        return out

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p)
        self.procs = []
        if self.dir is not None and not os.environ.get("MH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

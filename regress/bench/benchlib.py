# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The bench's common parts: paths, the processes it starts (HTTP target,
smtp-sink, a private Postfix, mailhookd), the load generator and the
measures read from /proc.  The scenarios are in inbound.py, relay.py,
dkimbench.py, resources.py and webbench.py; run drives them."""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("MH_TOP") or os.path.abspath(os.path.join(HERE, "..",
                                                               ".."))
BUILD = os.environ.get("MH_BUILD") or os.path.join(TOP, "obj")
os.environ.setdefault("MH_BUILD", BUILD)
from mhtest import (Daemon, cpu_secs, free_port, rss_kb,  # noqa: E402,F401
                    wait_for)

SENDERS = 20
# Postfix's default_destination_concurrency_limit: both relays may open as
# many connections to the sink
POSTFIX_CONCURRENCY = 20
SIZE = 4096
SINK_USER = "postfix"
FROM = "sender@bench.test"

TRACKED = "tracked.bench.test"

started = []		# Popen objects to stop at the end


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def ensure_tools():
    """What the bench runs (smtp-sink, Postfix, unbound, nginx, wrk, perf,
    ...) comes from etc/deps.sh's bench level, the one list, which
    installs what is missing; its daemons drop to _mailhook, which
    mailhook-setup -u creates if missing.  Both do nothing when all is
    there (run as root: main checks)."""
    def etc(*cmd):
        r = subprocess.run([os.path.join(TOP, "etc", cmd[0])] +
                           list(cmd[1:]))
        if r.returncode != 0:
            raise SystemExit("bench: etc/%s failed (exit %d)" %
                             (" ".join(cmd), r.returncode))
    etc("deps.sh", "-b", BUILD, "bench")
    etc("mailhook-setup.sh", "-u")
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    for t in ("smtp-source", "smtp-sink", "postfix", "unbound", "cc"):
        if shutil.which(t) is None:
            raise SystemExit("bench: %s is not installed" % t)


def build_tool():
    out = os.path.join(BUILD, "bench", "benchtool")
    src = os.path.join(HERE, "benchtool.c")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if not os.path.exists(out) or \
            os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-Wno-unused-parameter", "-pthread", "-o", out,
                        src], check=True)
    return out


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin_cpus():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 2:
        os.sched_setaffinity(0, cpus[:2])
    return sorted(os.sched_getaffinity(0))


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    started.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Target:
    """benchtool serve: the HTTP target answering 200 to every POST."""

    def __init__(self, tool, d):
        pf = os.path.join(d, "http.port")
        self.proc = spawn([tool, "serve", pf])
        if not wait_for(lambda: os.path.getsize(pf) > 0, 30):
            raise RuntimeError("HTTP target did not start")
        with open(pf) as f:
            self.port = int(f.read())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def count(self):
        with urllib.request.urlopen(self.url("/count"), timeout=5) as r:
            return int(r.read())


class Sink:
    """smtp-sink with running counters (-c) on a free port."""

    def __init__(self, d, dump=None):
        self.port = free_port()
        self.out = os.path.join(d, "sink%s.out" % ("-dump" if dump else ""))
        self.f = open(self.out, "wb")
        opts = ["-D", dump] if dump else []
        self.proc = spawn(["smtp-sink", "-c", "-u", SINK_USER] + opts +
                          ["127.0.0.1:%d" % self.port, "1024"],
                          stdout=self.f, stderr=subprocess.STDOUT)
        if not wait_for(lambda: port_open(self.port), 30):
            raise RuntimeError("smtp-sink did not start")

    def count(self):
        """messages received so far (the last "mesg=N" counter)."""
        with open(self.out, "rb") as f:
            try:
                f.seek(-200, os.SEEK_END)
            except OSError:
                f.seek(0)
            tail = f.read().decode(errors="replace")
        m = re.findall(r"mesg=(\d+)", tail)
        return int(m[-1]) if m else 0


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


class Postfix:
    """A private Postfix instance: own config, queue and log under d;
    never the system's /etc/postfix/main.cf."""

    def __init__(self, d, sinkport, milter=None, name="postfix"):
        self.dir = os.path.join(d, name)
        self.conf = os.path.join(self.dir, "conf")
        self.port = free_port()
        os.makedirs(self.conf)
        os.chmod(self.dir, 0o755)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, sub))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        shutil.copy("/etc/postfix/master.cf", self.conf)
        self.log = os.path.join(self.dir, "maillog")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "meta_directory": "/etc/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "postfix-bench.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "[127.0.0.1]:%d" % sinkport,
            "maillog_file": self.log,
            "maillog_file_prefixes": self.dir,
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtp_dns_support_level": "disabled",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
        }
        if milter:
            main.update({"smtpd_milters": milter,
                         "milter_default_action": "tempfail",
                         "milter_protocol": "6"})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        self.postconf("-M", "smtp/inet=127.0.0.1:%d inet n - n - - smtpd"
                      % self.port)
        self.postconf("-F", "*/*/chroot = n")

    def postconf(self, *args):
        subprocess.run(["postconf", "-c", self.conf] + list(args),
                       check=True, capture_output=True)

    def postfix(self, *args):
        # postfix(1) reports errors to syslog or to a terminal only
        r = subprocess.run(["script", "-qec", " ".join(
            ["postfix", "-c", self.conf] + list(args)), "/dev/null"],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix %s: %s" % (" ".join(args),
                                                   r.stdout + r.stderr))

    def start(self):
        self.postfix("check")
        self.postfix("start")
        if not wait_for(lambda: port_open(self.port), 15):
            raise RuntimeError("postfix did not listen: " + self.logtext())
        return self

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        try:
            self.postfix("stop")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log("postfix stop: %s" % e)
            try:
                self.postfix("abort")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass


class BenchDaemon(Daemon):
    """mailhookd in the foreground without -v (logging would be measured
    too); otherwise mhtest.Daemon."""

    def start(self, wait=True):
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "mailhookd"), "-d", "-f", self.conf],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        started.append(self.proc)
        if wait and not self.wait_ready():
            raise RuntimeError("mailhookd did not become ready:\n" +
                               self.logtext()[-3000:])
        return self


def smtp_source(port, n, rcpt, senders=SENDERS, msgfile=None, sender=FROM):
    """smtp-source: n messages of SIZE bytes (or the message in msgfile)
    over `senders` parallel sessions, a new session per message; returns
    the elapsed seconds."""
    t0 = time.monotonic()
    body = ["-F", msgfile] if msgfile else ["-l", str(SIZE)]
    r = subprocess.run(["smtp-source", "-s", str(senders), "-m", str(n)] +
                       body + ["-M", "bench.test", "-f", sender,
                               "-t", rcpt, "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=900)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError("smtp-source: exit %d: %s" %
                           (r.returncode, (r.stdout + r.stderr)[-1000:]))
    return secs


def smtplat_source(tool, port, n, rcpt, msgfile, sender=FROM):
    """smtp_source's load sent by benchtool smtplat (SENDERS sessions at
    once, a new one per message), msgfile's @SEQNUM@ numbered in each;
    returns the elapsed seconds"""
    t0 = time.monotonic()
    r = subprocess.run([tool, "smtplat", str(port), str(SENDERS), str(n),
                        "0", sender, rcpt, msgfile],
                       capture_output=True, text=True, timeout=900)
    secs = time.monotonic() - t0
    if r.returncode != 0 or json.loads(r.stdout).get("ok") != n:
        raise RuntimeError("smtplat: exit %d: %s" %
                           (r.returncode, (r.stdout + r.stderr)[-1000:]))
    return secs


def wait_count(fn, want, timeout):
    """Poll fn() until it reaches want; the monotonic time it did, or
    None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn() >= want:
            return time.monotonic()
        time.sleep(0.02)
    return None


def send_and_count(port, n, rcpt, count, what, source=smtp_source, **kw):
    """source (smtp_source) n messages to rcpt, then wait until count()
    has grown by n: (seconds to send, seconds until they all arrived)"""
    c0 = count()
    t0 = time.monotonic()
    secs = source(port, n, rcpt, **kw)
    t = wait_count(lambda: count() - c0, n, 300)
    if t is None:
        raise RuntimeError("%s: %d of %d arrived" % (what, count() - c0, n))
    return secs, t - t0


def rate(n, secs):
    return round(n / secs, 1) if secs and secs > 0 else 0.0


def ratio(a, b):
    return round(a / b, 3) if a and b else 0.0


def children_cpu():
    """user + system CPU seconds of the bench's waited-for children
    (smtp-source and the other tools subprocess.run waits for)"""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine_ticks():
    """(busy, all) clock ticks of every core so far (/proc/stat): busy is
    user, nice, system, irq and softirq, so it counts the kernel's own
    workers (ext4 writeback, unwritten extent conversion) that no
    process is charged for; all adds idle, iowait and steal (guest time
    is already in user)"""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:9]]
    busy = t[0] + t[1] + t[2] + t[5] + t[6]
    return busy, busy + t[3] + t[4] + t[7]


class CpuMeter:
    """CPU seconds of named processes (pids) and of the children run
    meanwhile (the load generator), per message: what separates a slow
    run that lost the CPU to other work (the same CPU per message, the
    cores not all ours) from one that stalls (idle cores) or got dearer
    (more CPU per message)."""

    def __init__(self, pids):
        self.pids = {k: p for k, p in pids.items() if p}
        self.t0 = time.monotonic()
        self.c0 = {k: cpu_secs(p) for k, p in self.pids.items()}
        self.gen0 = children_cpu()
        self.m0 = machine_ticks()

    def result(self, n, generator):
        secs = time.monotonic() - self.t0
        per = {k: cpu_secs(p) - self.c0[k] for k, p in self.pids.items()}
        per[generator] = children_cpu() - self.gen0
        tot = sum(per.values())
        ncpu = len(os.sched_getaffinity(0))
        m1 = machine_ticks()
        return {"cpu_ms_per_msg": {k: round(v * 1000 / n, 3)
                                   for k, v in per.items()},
                "cpu_ms_per_msg_total": round(tot * 1000 / n, 3),
                # the share of the cores these processes had: near 1 is
                # CPU-bound; a low share with a low load is a stall
                "cpu_busy": round(tot / (secs * ncpu), 3) if secs else 0.0,
                # the whole machine's share, kernel workers included
                "machine_busy": round((m1[0] - self.m0[0]) /
                                      max(1, m1[1] - self.m0[1]), 3),
                "loadavg": round(os.getloadavg()[0], 2)}


def spool_flushes(daemon):
    """{process: {flushes, waiters, flush_ms}} of relayd's and hookd's
    group commits so far (mhctl show stats)"""
    st = daemon.ctl("show", "stats") or {}
    return {k: st.get(k, {}).get("spool_flushes", {})
            for k in ("relayd", "hookd")}


def mh_pids(daemon):
    st = daemon.ctl("show", "status")
    pids = {"parent": daemon.proc.pid}
    for p in st["processes"]:
        if p.get("pid"):
            pids[p["name"]] = p["pid"]
    return pids


class Ctx:
    pass


def daemon_config(ctx, api=False):
    """the bench daemon's config; api: with the api listener (the main
    daemon only: the others would take the same port)"""
    return """
listen on 127.0.0.1 port {smtp_port}
allow private-addresses
limit sessions 4096
limit sessions-per-ip 4096
limit sessions-per-network 4096
limit message-size 10M
route domain "sync.test" { url "%s" format json mode sync }
route domain "dkim.test" { url "%s" format json mode sync }
route domain "plain.test" { url "%s" format json mode sync verdicts no }
route domain "queue.test" {
    url "%s" format json mode queue concurrency %d
}
relay from 127.0.0.0/8
relay via "smtp://127.0.0.1:%d"
limit domain "remote.test" connections %d
bounce domain "bounces.bench.test"
tracking domain "%s" {
    url "https://t.bench.test"
    secret "bench-tracking-secret-0123456789"
}
""" % (ctx.target.url("/sync"), ctx.target.url("/dkim"),
       ctx.target.url("/plain"), ctx.target.url("/queue"), SENDERS,
       ctx.sink.port, POSTFIX_CONCURRENCY, TRACKED) + (
        'listen on 127.0.0.1 port %d api\napi keys "%s"\n' %
        (ctx.api_port, ctx.api_keys) if api else "")


# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""DKIM signing scenarios: mailhook's signer (RSA-2048, Ed25519) against
Postfix with Debian's opendkim milter, and "openssl speed"."""
import os
import shutil
import subprocess
import tempfile

from mhtest import free_port, wait_for
from benchlib import (BUILD, BenchDaemon, Ctx, Postfix, cpu_secs,
                      daemon_config, port_open, spawn, stop)
from relay import run_relay


def dkim_key(d, kind):
    """a key made by mhctl dkim keygen (mode 0600, root's)"""
    path = os.path.join(d, "%s.key" % kind)
    if not os.path.exists(path):
        subprocess.run([os.path.join(BUILD, "mhctl"), "dkim", "keygen",
                        "bench.test", "b" + kind[0], kind, path],
                       check=True, capture_output=True)
    return path


def signed_at_sink(ctx):
    """DKIM-Signature headers in what the dumping sink received"""
    try:
        with open(ctx.dkim_dump, "rb") as f:
            return f.read().count(b"DKIM-Signature:")
    except OSError:
        return 0


def openssl_speed(alg):
    """signatures per second of one core: "openssl speed ALG" """
    r = subprocess.run(["openssl", "speed", "-seconds", "3", alg],
                       capture_output=True, text=True, timeout=300)
    for ln in r.stdout.splitlines():
        if (alg == "rsa2048" and ln.startswith("rsa 2048 bits")) or \
                (alg == "ed25519" and "Ed25519" in ln):
            return float(ln.split()[-2])
    raise RuntimeError("openssl speed %s: %s" % (alg, r.stdout[-500:]))


def run_dkim_speed():
    return {"openssl_rsa2048_sign_per_sec": openssl_speed("rsa2048"),
            "openssl_ed25519_sign_per_sec": openssl_speed("ed25519")}


def dkim_ctx(ctx):
    c = Ctx()
    c.__dict__.update(ctx.__dict__)
    c.sink = ctx.dkim_sink
    return c


def run_dkim(ctx, dns_port, n, kind):
    """the relay load with every message signed by one key of kind"""
    c = dkim_ctx(ctx)
    key = dkim_key(ctx.keydir, kind)
    d = BenchDaemon(daemon_config(c) + 'dkim domain "bench.test" selector '
                    '"b%s" key "%s"\n' % (kind[0], key),
                    resolver=("127.0.0.1", dns_port))
    d.start()
    try:
        pid = d.pids()["signer"]
        cpu0, sig0 = cpu_secs(pid), signed_at_sink(ctx)
        r = run_relay(c, d.smtp_port, n)
        stats = d.ctl("show", "stats") or {}
        st = stats.get("signer", {})
        wait = stats.get("relayd", {}).get("dkim", {}).get("wait_ms_avg", 0)
        cpu = cpu_secs(pid) - cpu0
    finally:
        d.stop()
    wait_for(lambda: signed_at_sink(ctx) - sig0 >= n, 20)
    sigs = st.get("rsa_signatures", 0) + st.get("ed25519_signatures", 0)
    r.update({"signatures": sigs, "sign_wait_ms_avg": round(wait, 2),
              "signed_at_sink": signed_at_sink(ctx) - sig0,
              "signer_cpu_secs": round(cpu, 3),
              "signer_cpu_per_sig_us": round(cpu / sigs * 1e6, 1)
              if sigs else 0,
              # the signer times one signing call in 16 (call_cpu_us)
              "sign_call_cpu_per_sig_us": round(
                  st.get("call_cpu_us", 0) * st.get("signed", 0) / sigs, 1)
              if sigs else 0})
    if r["signed_at_sink"] < n or sigs < n:
        raise RuntimeError("dkim %s: %d signatures made, %d seen at the "
                           "sink, of %d messages" %
                           (kind, sigs, r["signed_at_sink"], n))
    return r


class OpenDKIM:
    """Debian's opendkim as a milter (mode s, relaxed/relaxed, the same
    headers as mailhook's signer), in a root-only directory under /run
    (it refuses a config below a directory others may write)."""

    def __init__(self, key):
        self.dir = tempfile.mkdtemp(prefix="mh-bench-opendkim-", dir="/run")
        os.chmod(self.dir, 0o700)
        k = os.path.join(self.dir, "key")
        shutil.copy(key, k)
        os.chmod(k, 0o600)
        self.port = free_port()
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Mode s\nDomain bench.test\nSelector br\n"
                    "KeyFile %s\nSocket inet:%d@127.0.0.1\n"
                    "Canonicalization relaxed/relaxed\n"
                    "SignHeaders From,To,Cc,Subject,Date,Message-ID,"
                    "MIME-Version,Content-Type,Content-Transfer-Encoding,"
                    "Reply-To,In-Reply-To,References,Sender,List-Id,"
                    "List-Unsubscribe,List-Unsubscribe-Post\n"
                    "OversignHeaders From\nSyslog no\n"
                    "PidFile %s/pid\n" % (k, self.port, self.dir))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = spawn(["opendkim", "-f", "-x", conf], stdout=self.log,
                          stderr=subprocess.STDOUT)
        if not wait_for(lambda: port_open(self.port), 10):
            raise RuntimeError("opendkim did not start")

    def stop(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_postfix_dkim(ctx, n):
    c = dkim_ctx(ctx)
    od = OpenDKIM(dkim_key(ctx.keydir, "rsa"))
    pf = None
    try:
        pf = Postfix(ctx.dir, c.sink.port, milter="inet:127.0.0.1:%d" %
                     od.port, name="postfix-opendkim").start()
        sig0 = signed_at_sink(ctx)
        r = run_relay(c, pf.port, n)
        wait_for(lambda: signed_at_sink(ctx) - sig0 >= n, 20)
        r["signed_at_sink"] = signed_at_sink(ctx) - sig0
    finally:
        if pf is not None:
            pf.stop()
        od.stop()
    if r["signed_at_sink"] < n:
        raise RuntimeError("postfix+opendkim: %d of %d messages signed" %
                           (r["signed_at_sink"], n))
    return r


# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Inbound scenarios: the wire and HTTP ceilings, the disk, sync (with
and without DKIM/DMARC verification) and queue routes."""
import json
import os
import shutil
import subprocess
import time

from benchlib import (FROM, SENDERS, SIZE, CpuMeter, cpu_secs, mh_pids,
                      rate, send_and_count, smtp_source, spool_flushes,
                      wait_count)


def run_ceiling(ctx, n):
    c0 = ctx.sink.count()
    cpu = CpuMeter({"smtp-sink": ctx.sink.proc.pid})
    secs = smtp_source(ctx.sink.port, n, "rcpt@remote.test")
    t = wait_count(ctx.sink.count, c0 + n, 30)
    if t is None:
        raise RuntimeError("smtp-sink counted %d of %d" %
                           (ctx.sink.count() - c0, n))
    out = {"msgs": n, "secs": round(secs, 3), "rate": rate(n, secs)}
    out.update(cpu.result(n, "smtp-source"))
    return out


def run_http(ctx, n):
    r = subprocess.run([ctx.tool, "hload", str(ctx.target.port),
                        str(SENDERS), str(n), str(SIZE)],
                       capture_output=True, text=True, timeout=300)
    res = json.loads(r.stdout)
    if res["errors"]:
        raise RuntimeError("hload: %s" % r.stdout)
    return {"msgs": n, "secs": res["secs"], "rate": res["rate"]}


def run_sync(ctx, n, nlat):
    c0 = ctx.target.count()
    pids = mh_pids(ctx.daemon)
    cpu = CpuMeter({"smtpd": pids.get("smtpd"), "hookd": pids.get("hookd"),
                    "authd": pids.get("authd"),
                    "target": ctx.target.proc.pid})
    secs = smtp_source(ctx.daemon.smtp_port, n, "rcpt@sync.test")
    out = {"msgs": n, "secs": round(secs, 3), "rate": rate(n, secs)}
    out.update(cpu.result(n, "smtp-source"))
    got = ctx.target.count() - c0
    if got < n:
        raise RuntimeError("sync: the target got %d POSTs for %d messages"
                           % (got, n))
    r = subprocess.run([ctx.tool, "smtplat", str(ctx.daemon.smtp_port),
                        str(SENDERS), str(nlat), str(SIZE), FROM,
                        "lat@sync.test"],
                       capture_output=True, text=True, timeout=600)
    lat = json.loads(r.stdout)
    if lat["errors"]:
        raise RuntimeError("smtplat: %s" % r.stdout)
    out["latency"] = {"msgs": nlat, "rate": lat["rate"],
                      "p50_ms": lat["p50_ms"], "p90_ms": lat["p90_ms"],
                      "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"]}
    return out


def dkim_setup(d):
    """An RSA-2048 key, its DNS records and a 4 KiB message signed by
    dkimpy: (records, message file)."""
    import base64
    import dkim
    key = os.path.join(d, "dkim.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    pub = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    rec = "s1._domainkey.bench.test. TXT " + " ".join(
        '"%s"' % pub[i:i + 200] for i in range(0, len(pub), 200))
    body = "".join(chr(ord("a") + i % 26) * 76 + "\r\n"
                   for i in range(SIZE // 78 + 1))
    msg = ("From: <%s>\r\nTo: <rcpt@bench.test>\r\nSubject: bench\r\n"
           "Date: Mon, 30 Nov 2026 20:00:00 +0000\r\n"
           "Message-ID: <dkim.%d@bench.test>\r\n\r\n%s"
           % (FROM, os.getpid(), body)).encode()
    with open(key, "rb") as f:
        sig = dkim.sign(msg, b"s1", b"bench.test", f.read(),
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"from", b"to", b"subject",
                                         b"date", b"message-id"])
    path = os.path.join(d, "signed.eml")
    with open(path, "wb") as f:
        f.write(sig + msg)
    return [rec, '_dmarc.bench.test. TXT "v=DMARC1; p=reject"'], path


def verdict_counts(ctx):
    st = ctx.daemon.ctl("show", "stats") or {}
    v = st.get("hookd", {}).get("inbound", {}).get("verdicts", {})
    return (v.get("dkim", {}).get("pass", 0),
            v.get("dmarc", {}).get("pass", 0))


def run_sync_dkim(ctx, n):
    """The signed message to the verifying route and to the one with
    "verdicts no", alternately; every verifying round must pass DKIM and
    DMARC for each message.  Besides the rates, hookd's CPU time per
    message (from /proc), which the load of a shared machine disturbs
    less than the rates."""
    out = {"msgs": n, "rounds": []}
    tot = {"plain": [0, 0.0, 0.0], "dkim": [0, 0.0, 0.0]}
    hookd = mh_pids(ctx.daemon).get("hookd")
    for rnd in range(2):
        for name in ("plain", "dkim"):
            c0 = ctx.target.count()
            v0 = verdict_counts(ctx)
            cpu0 = cpu_secs(hookd)
            r = subprocess.run([ctx.tool, "smtplat",
                                str(ctx.daemon.smtp_port), str(SENDERS),
                                str(n), str(SIZE), FROM,
                                "rcpt@%s.test" % name, ctx.signed],
                               capture_output=True, text=True, timeout=900)
            lat = json.loads(r.stdout)
            got = ctx.target.count() - c0
            if lat["errors"] or got < n:
                raise RuntimeError("sync_dkim %s: %s, %d POSTs" %
                                   (name, r.stdout, got))
            v1 = verdict_counts(ctx)
            passed = (v1[0] - v0[0], v1[1] - v0[1])
            want = (n, n) if name == "dkim" else (0, 0)
            if passed != want:
                raise RuntimeError("sync_dkim %s: dkim/dmarc passes %s, "
                                   "want %s" % (name, passed, want))
            cpu = cpu_secs(hookd) - cpu0
            tot[name][0] += lat["ok"]
            tot[name][1] += lat["secs"]
            tot[name][2] += cpu
            out["rounds"].append({"route": name, "rate": lat["rate"],
                                  "p50_ms": lat["p50_ms"],
                                  "p99_ms": lat["p99_ms"],
                                  "hookd_cpu_ms_per_msg":
                                      round(cpu * 1000 / n, 3)})
    out["plain_rate"] = rate(*tot["plain"][:2])
    out["dkim_rate"] = rate(*tot["dkim"][:2])
    for k in ("plain", "dkim"):
        out[k + "_hookd_cpu_ms_per_msg"] = round(tot[k][2] * 1000 /
                                                 tot[k][0], 3)
    return out


def hookd_flushes(ctx):
    """hookd's group commit so far: (flushes, callbacks waiting on one)"""
    f = spool_flushes(ctx.daemon)["hookd"]
    return f.get("flushes", 0), f.get("waiters", 0), f.get("flush_ms", 0)


def run_queue(ctx, n):
    """Accepted and drained rates; besides them, what a message costs:
    hookd's flushes per message (its group commit's counter, so without
    strace), and hookd's and smtpd's CPU time per message (from /proc),
    which the load of a shared machine disturbs less than the rates."""
    pids = mh_pids(ctx.daemon)
    f0 = hookd_flushes(ctx)
    cpu0 = {k: cpu_secs(pids[k]) for k in ("hookd", "smtpd")}
    secs, drained = send_and_count(ctx.daemon.smtp_port, n,
                                   "rcpt@queue.test", ctx.target.count,
                                   "queue")
    cpu = {k: cpu_secs(pids[k]) - cpu0[k] for k in cpu0}
    f1 = hookd_flushes(ctx)
    flushes = f1[0] - f0[0]
    return {"msgs": n, "accept_secs": round(secs, 3),
            "accepted_rate": rate(n, secs),
            "drain_secs": round(drained, 3),
            "drained_rate": rate(n, drained),
            "flushes_per_msg": round(flushes / n, 3),
            "msgs_per_flush": round(n / flushes, 2) if flushes else 0.0,
            "flush_busy": round((f1[2] - f0[2]) / 1000 / drained, 3)
            if drained else 0.0,
            "hookd_cpu_ms_per_msg": round(cpu["hookd"] * 1000 / n, 3),
            "smtpd_cpu_ms_per_msg": round(cpu["smtpd"] * 1000 / n, 3)}


def run_disk(ctx, n):
    """The spool file system's own ceiling: 4 KiB file create + write +
    fsync, serially (what one event loop doing its own fsyncs gets) and
    from 16 threads (what group commit gives concurrent fsyncs)."""
    import threading
    d = os.path.join(ctx.dir, "disk")
    os.makedirs(d)
    data = b"x" * SIZE

    def work(tag, k):
        for i in range(k):
            fd = os.open(os.path.join(d, "%s-%d" % (tag, i)),
                         os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
    out = {"msgs": n}
    for threads in (1, 16):
        t0 = time.monotonic()
        ts = [threading.Thread(target=work, args=("%d.%d" % (threads, j),
                                                  n // threads))
              for j in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        out["fsync_rate_%d" % threads] = rate(n // threads * threads,
                                              time.monotonic() - t0)
    shutil.rmtree(d, ignore_errors=True)
    return out


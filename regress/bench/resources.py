# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""What the loads cost: memory per idle session, syscalls and flushes
per message (with the flush-before-250 order check), a perf profile, and
the no-fsync what-if."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

# the order check itself: regress/lib/mhtest/straceorder.py
from mhtest.straceorder import check_order, thread_names, timed_calls
from benchlib import (BenchDaemon, daemon_config, mh_pids, rss_kb,
                      smtp_source, spawn, stop, wait_count)
from inbound import run_queue, run_sync
from relay import run_relay


def open_sessions(port, n):
    """n SMTP sessions, each past the banner and EHLO, left idle."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), 10)
        socks.append(s)
    for s in socks:
        f = s.makefile("rb")
        line = f.readline()
        if not line.startswith(b"220"):
            raise RuntimeError("session banner: %r" % line)
        s.sendall(b"EHLO idle.bench.test\r\n")
        while True:
            line = f.readline()
            if not line.startswith(b"250"):
                raise RuntimeError("session EHLO: %r" % line)
            if line[3:4] == b" ":
                break
        f.close()
    return socks


def run_memory(ctx, n):
    pids = mh_pids(ctx.daemon)
    time.sleep(0.5)
    idle = {k: rss_kb(p) for k, p in pids.items()}
    socks = open_sessions(ctx.daemon.smtp_port, n)
    time.sleep(0.5)
    busy = {k: rss_kb(p) for k, p in pids.items()}
    st = ctx.daemon.ctl("show", "stats") or {}
    live = st.get("smtpd", {}).get("sessions", 0)
    if live != n:
        raise RuntimeError("smtpd reports %s live sessions, not %d" %
                           (live, n))
    for s in socks:
        s.close()
    procs = {k: {"pid": pids[k], "idle_kb": idle[k], "sessions_kb": busy[k]}
             for k in pids}
    smtpd = pids.get("smtpd")
    total = sum(busy.values()) - sum(idle.values())
    return {"sessions": n, "live_sessions": live, "processes": procs,
            "smtpd_bytes_per_session":
                round((busy["smtpd"] - idle["smtpd"]) * 1024 / n)
                if smtpd else 0,
            "total_bytes_per_session": round(total * 1024 / n)}

SYSCALL = re.compile(r"^(?:\[pid\s+\d+\]\s+)?(?:\d+\.\d+\s+)?"
                     r"(?:<\.\.\.\s+)?(\w+)\(")


def count_syscalls(path):
    """{syscall: calls} of one strace -o file"""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            if "resumed>" in line or line.startswith("+++") or \
                    line.startswith("---"):
                continue
            m = SYSCALL.match(line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + 1
    return out


# the spool directories a delivered message leaves, after a flush, on
# the group commit's releaser thread (common/gsync.c), for its pool,
# where a thread of its own empties it later
SETTLE_DIRS = ("outbound/queue", "outbound/incoming", "inbound/queue")
POOL_DIRS = ("outbound/pool", "inbound/pool", "events/pool")


def spool_files(spool):
    """files in SETTLE_DIRS and pooled files not yet emptied, now; an
    empty file in outbound/incoming is one of webd's spares (webd/api.c:
    asked for ahead of API submissions, there for as long as webd runs),
    not a message"""
    n = 0
    for sub in SETTLE_DIRS + POOL_DIRS:
        keep_empty = sub in SETTLE_DIRS and sub != "outbound/incoming"
        try:
            with os.scandir(os.path.join(spool, sub)) as it:
                n += sum(1 for e in it if not e.name.startswith(".") and
                         (keep_empty or pooled_data(e)))
        except OSError:
            pass
    return n


def pooled_data(entry):
    """a file with data: a pooled one not emptied yet, or a message
    being submitted (one renamed away meanwhile is neither)"""
    try:
        return entry.stat().st_size > 0
    except OSError:
        return False


def wait_settled(spool, timeout=120, still=2.0):
    """Wait until the earlier loads' delivered messages have left the
    spool and been emptied: that runs after the loads end, on threads of
    their own, and strace would count it against the next path's
    messages.
    Done when nothing is left, or when nothing went for `still` seconds
    (a message still queued for a retry).  {"files": left when called,
    "secs": waited, "left": at the end}"""
    t0 = last = time.monotonic()
    n0 = n = spool_files(spool)
    while n > 0 and time.monotonic() - t0 < timeout and \
            time.monotonic() - last < still:
        time.sleep(0.2)
        m = spool_files(spool)
        if m != n:
            n, last = m, time.monotonic()
    return {"files": n0, "secs": round(time.monotonic() - t0, 2),
            "left": n}


def run_fsync(ctx, n):
    """Syscalls per accepted message, per mailhook process, counted with
    strace while n messages go through each path: fsync/fdatasync per
    message shows the "250 only after fsync" rule is kept, the rest shows
    where the system time goes.  Each path starts once the spool holds
    nothing the earlier loads left to remove."""
    if shutil.which("strace") is None:
        return {"checked": False}
    out = {"checked": True}
    pids = mh_pids(ctx.daemon)
    names = thread_names(pids)
    for name, rcpt in (("queue", "rcpt@queue.test"),
                       ("relay", "rcpt@remote.test"),
                       ("sync", "rcpt@sync.test")):
        d = os.path.join(ctx.dir, "strace-" + name)
        os.makedirs(d)
        settled = wait_settled(ctx.daemon.spool)
        # -s 2048: the order check reads hookd's envelope (its
        # data-check line) from the write of it
        args = ["strace", "-f", "-ff", "-qq", "-ttt", "-T", "-s", "2048",
                "-o", os.path.join(d, "t")]
        for p in pids.values():
            args += ["-p", str(p)]
        st = spawn(args, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        c0, tc0 = ctx.sink.count(), ctx.target.count()
        smtp_source(ctx.daemon.smtp_port, n, rcpt, senders=2)
        if name == "relay":
            wait_count(lambda: ctx.sink.count() - c0, n, 60)
        else:
            wait_count(lambda: ctx.target.count() - tc0, n, 60)
        time.sleep(1.0)
        stop(st, signal.SIGINT)
        byproc, timed = {}, {}
        for fn in os.listdir(d):
            pid = int(fn.split(".")[-1])
            proc = names.get(pid, "thread")
            calls = count_syscalls(os.path.join(d, fn))
            if proc in ("smtpd", "relayd", "hookd"):
                timed[proc] = timed.get(proc, []) + \
                    timed_calls(os.path.join(d, fn))
            agg = byproc.setdefault(proc, {})
            for k, v in calls.items():
                agg[k] = agg.get(k, 0) + v
        fs = sum(c.get("fsync", 0) + c.get("fdatasync", 0) +
                 c.get("syncfs", 0) for c in byproc.values())
        res = {"msgs": n, "fsyncs": fs, "per_msg": round(fs / n, 2),
               "settled": settled, "syscalls_per_msg": {}}
        if name != "sync":
            owner = "relayd" if name == "relay" else "hookd"
            for k in timed:
                timed[k].sort()
            v, bad = check_order(timed.get("smtpd", []),
                                 timed.get(owner, []))
            res["order_verified"] = v
            res["order_violations"] = bad[:10]
        for proc, calls in byproc.items():
            tot = sum(calls.values())
            top = sorted(calls.items(), key=lambda x: -x[1])[:12]
            res["syscalls_per_msg"][proc] = {
                "total": round(tot / n, 1),
                "top": {k: round(v / n, 2) for k, v in top}}
        out[name] = res
    return out


def perf_ok():
    if shutil.which("perf") is None:
        return False
    r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o",
                        "/dev/null", "true"], capture_output=True)
    return r.returncode == 0


def run_profile(ctx, n):
    """perf record (cpu-clock, software event: works in VMs without PMU)
    of every mailhook process under the sync and the relay load; the top
    symbols per scenario."""
    if n <= 0 or not perf_ok():
        return {"tool": None}
    pids = mh_pids(ctx.daemon)
    out = {"tool": "perf record -e cpu-clock"}
    for name, rcpt in (("sync", "rcpt@sync.test"),
                       ("relay", "rcpt@remote.test"),
                       ("queue", "rcpt@queue.test")):
        data = os.path.join(ctx.dir, "perf-%s.data" % name)
        p = spawn(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g",
                   "-o", data, "-p", ",".join(str(x) for x in
                                              pids.values())],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        c0 = ctx.sink.count()
        tc0 = ctx.target.count()
        smtp_source(ctx.daemon.smtp_port, n, rcpt)
        if name == "relay":
            wait_count(lambda: ctx.sink.count() - c0, n, 120)
        elif name == "queue":
            wait_count(lambda: ctx.target.count() - tc0, n, 120)
        stop(p, signal.SIGINT)
        out[name] = perf_summary(data, thread_names(pids))
    return out


def perf_summary(data, names):
    """{"by_process": {comm: share}, "top": [[share, comm, dso, sym]]}"""
    r = subprocess.run(["perf", "report", "-i", data, "--stdio",
                        "--no-children", "--sort", "pid,dso,sym",
                        "-g", "none", "--percent-limit", "0.15"],
                       capture_output=True, text=True, timeout=300)
    top, user = [], []
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\d+):(\S+)\s+(\S+)\s+\[.\]\s+(.*)$",
                     line)
        if m:
            top.append([float(m.group(1)),
                        names.get(int(m.group(2)), m.group(3)),
                        m.group(4), m.group(5).strip()])
            if not top[-1][2].startswith("[kernel"):
                user.append(top[-1])
    kernel = sum(t[0] for t in top if t[2].startswith("[kernel"))
    r = subprocess.run(["perf", "report", "-i", data, "--stdio",
                        "--no-children", "--sort", "pid", "-g", "none"],
                       capture_output=True, text=True, timeout=300)
    byproc = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\d+):(\S+)", line)
        if m:
            key = names.get(int(m.group(2)), m.group(3))
            byproc[key] = byproc.get(key, 0) + float(m.group(1))
    r = subprocess.run(["perf", "report", "-i", data, "--stdio",
                        "--no-children", "--sort", "dso", "-g", "none",
                        "--percent-limit", "1"],
                       capture_output=True, text=True, timeout=300)
    bydso = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)", line)
        if m:
            bydso[m.group(2)] = float(m.group(1))
    return {"by_process": byproc, "by_dso": bydso, "top": top[:25],
            "top_user": user[:25], "kernel_share": round(kernel, 1)}

EATMYDATA = "/usr/lib/x86_64-linux-gnu/libeatmydata.so"


def run_whatif(ctx, P, dns_port):
    """DIAGNOSTIC ONLY, not a valid configuration: the same loads on a
    second mailhookd whose fsync/fdatasync are no-ops (libeatmydata
    preloaded).  The gap to the real run is what the serial fsyncs on
    hookd's and relayd's event loops cost, i.e. what group commit or
    fsync off the loop could win back."""
    if not os.path.exists(EATMYDATA):  # etc/deps.sh's bench level has it
        return {"skipped": "eatmydata is not installed (etc/deps.sh bench)"}
    main = ctx.daemon
    ctx.daemon = BenchDaemon(daemon_config(ctx), resolver=(
        "127.0.0.1", dns_port), env={"LD_PRELOAD": EATMYDATA})
    ctx.daemon.start()
    try:
        out = {"note": "fsync disabled: an upper bound, not a result"}
        n = P["whatif"]
        out["inbound_sync"] = run_sync(ctx, n, max(n // 2, 1))
        out["inbound_queue"] = run_queue(ctx, n)
        out["relay"] = run_relay(ctx, ctx.daemon.smtp_port, n)
    finally:
        ctx.daemon.stop()
        shutil.rmtree(ctx.daemon.dir, ignore_errors=True)
        ctx.daemon = main
    return out


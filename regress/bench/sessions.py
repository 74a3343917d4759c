# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The idle sessions scenario (issue 15): a mailhookd of its own with
"limit sessions" (and the per-address and per-network limits: every
session comes from 127.0.0.1) above n holds n idle SMTP sessions (past the
banner and EHLO); smtpd's RSS growth per session, and how soon a new
client is served while they are open: connect to banner, and whole
transactions (benchtool smtplat, one client, to the sync route)."""
import json
import re
import socket
import subprocess
import time

from benchlib import BenchDaemon, FROM, SIZE, daemon_config, mh_pids, rss_kb
from resources import open_sessions


def nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 0


def banner_ms(port, rounds=20):
    """milliseconds from connect to the 220 of a new client, each round"""
    out = []
    for _ in range(rounds):
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), 10) as s:
            f = s.makefile("rb")
            line = f.readline()
            out.append(round((time.monotonic() - t) * 1000, 2))
            if not line.startswith(b"220"):
                raise RuntimeError("new client's banner: %r" % line)
            s.sendall(b"QUIT\r\n")
            f.readline()
            f.close()
    return out


def run_idle(ctx, n, dns_port):
    conf = re.sub(r"(?m)^limit sessions(-per-ip|-per-network)? \d+$",
                  lambda m: "limit sessions%s %d" % (m.group(1) or "",
                                                     n + 100),
                  daemon_config(ctx))
    d = BenchDaemon(conf, resolver=("127.0.0.1", dns_port)).start()
    socks = []
    try:
        pids = mh_pids(d)
        limit = nofile(pids["smtpd"])
        time.sleep(0.5)
        idle = rss_kb(pids["smtpd"])
        t0 = time.monotonic()
        socks = open_sessions(d.smtp_port, n)
        opened = time.monotonic() - t0
        time.sleep(0.5)
        busy = rss_kb(pids["smtpd"])
        live = (d.ctl("show", "stats") or {}).get("smtpd", {}).get(
            "sessions", 0)
        if live != n:
            raise RuntimeError("smtpd reports %s live sessions, not %d" %
                               (live, n))
        banner = banner_ms(d.smtp_port)
        r = subprocess.run([ctx.tool, "smtplat", str(d.smtp_port), "1",
                            "20", str(SIZE), FROM, "idle@sync.test"],
                           capture_output=True, text=True, timeout=300)
        lat = json.loads(r.stdout)
        if lat["errors"]:
            raise RuntimeError("smtplat beside the idle sessions: %s" %
                               r.stdout)
        others = {k: rss_kb(p) for k, p in pids.items() if k != "smtpd"}
    finally:
        for s in socks:
            s.close()
        d.stop()
    return {"sessions": n, "live_sessions": live,
            "open_secs": round(opened, 1),
            "smtpd_nofile": limit,
            "smtpd_idle_kb": idle, "smtpd_sessions_kb": busy,
            "smtpd_bytes_per_session": round((busy - idle) * 1024 / n),
            "others_kb": others,
            "new_banner_ms": banner, "new_banner_max_ms": max(banner),
            "new_tx_p50_ms": lat["p50_ms"], "new_tx_max_ms": lat["max_ms"]}

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""make bench, scenario "clicks": click redirects per second from webd
against nginx answering the same URL with "return 302" on the same
machine, both loaded by wrk (keep-alive, 50 connections, one thread).

nginx runs one worker (webd is one process, one event loop); both bind
a free loopback port.  Rounds alternate webd, nginx, webd, nginx, ... so
that the load of the shared machine falls on both; every round is kept
(the spread), the result is the median of each.  webd is measured twice:
without an events block (the 302 goes out at once) and with one, where
each 302 waits until hookd has written the click event into its spool
(hookd/evack.c: it survives kill -9 of any process; the group commit
that puts it on the disk follows without holding the redirect).
The goal (>= 50% of nginx) is checked on both: clicks_50pct_nginx (the
HTTP path) and clicks_durable_50pct_nginx (with events, bound by
hookd's event store).
"""
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from mhtest import free_port, wait_for

SECRET = "bench-clicks-secret-0123456789"
TARGET = "https://shop.bench.test/item?id=42"


def wrk(url, secs, conns=50):
    r = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % secs,
                        "--latency", url], capture_output=True, text=True,
                       timeout=secs + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    errs = re.search(r"Socket errors: (.*)", r.stdout)
    if m is None:
        raise RuntimeError("wrk: " + r.stdout[-500:] + r.stderr[-500:])
    if non2 or errs:
        raise RuntimeError("wrk saw errors: " + r.stdout[-800:])
    return float(m.group(1))


def mint(build, qid="0123456789abcdef"):
    r = subprocess.run([os.path.join(build, "regress", "tokenmint"), SECRET,
                        "click", qid, "reader@bench.test", "bench.test",
                        TARGET, "1", str(int(time.time()) - 3600)],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def nginx_start(d, port, path):
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%d;
        location / { return 302 %s; }
    }
}
""" % (d, d, port, TARGET))
    p = subprocess.Popen(["nginx", "-c", conf, "-p", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if not wait_for(lambda: subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "http://127.0.0.1:%d%s" % (port, path)],
            capture_output=True, text=True).stdout == "302", 10):
        p.kill()
        raise RuntimeError("nginx did not start")
    return p


def webd_start(daemon_cls, build, events):
    port = free_port()
    body = ("listen on 127.0.0.1 port {smtp_port}\n"
            "allow private-addresses\n"
            "listen on 127.0.0.1 port %d http\n"
            'tracking domain "bench.test" {\n'
            '\turl "http://127.0.0.1:%d"\n'
            '\tsecret "%s"\n}\n' % (port, port, SECRET))
    if events:
        # a closed port: events are stored and retried, never delivered
        body += ('events {\n\turl "http://127.0.0.1:%d/ev"\n'
                 "\tformat events\n}\n" % free_port())
    d = daemon_cls(body)
    d.start()
    return d, port


def run_clicks(daemon_cls, build, quick):
    if shutil.which("wrk") is None or shutil.which("nginx") is None:
        raise RuntimeError("wrk or nginx not installed (etc/deps.sh bench)")
    secs = 2 if quick else 5
    rounds = 2 if quick else 3
    d = tempfile.mkdtemp(prefix="mh-clicks-")
    path = "/c/" + mint(build)
    nport = free_port()
    ng = nginx_start(d, nport, path)
    out = {"wrk": "-t1 -c50 -d%ds" % secs, "rounds": rounds,
           "nginx_workers": 1}
    try:
        for events in (False, True):
            daemon, wport = webd_start(daemon_cls, build, events)
            try:
                ok = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w",
                     "%{http_code} %{redirect_url}",
                     "http://127.0.0.1:%d%s" % (wport, path)],
                    capture_output=True, text=True).stdout
                if ok != "302 " + TARGET:
                    raise RuntimeError("webd answered %r" % ok)
                w, n = [], []
                for _ in range(rounds):
                    w.append(wrk("http://127.0.0.1:%d%s" % (wport, path),
                                 secs))
                    n.append(wrk("http://127.0.0.1:%d%s" % (nport, path),
                                 secs))
            finally:
                daemon.stop()
                shutil.rmtree(daemon.dir, ignore_errors=True)
            key = "webd_events" if events else "webd"
            out[key] = {"rounds": [round(x) for x in w],
                        "median": round(statistics.median(w))}
            out["nginx_" + key] = {"rounds": [round(x) for x in n],
                                   "median": round(statistics.median(n))}
    finally:
        ng.terminate()
        ng.wait()
        shutil.rmtree(d, ignore_errors=True)
    for key in ("webd", "webd_events"):
        out[key + "_vs_nginx"] = round(out[key]["median"] /
                                       out["nginx_" + key]["median"], 3)
    return out

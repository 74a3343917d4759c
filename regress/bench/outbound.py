# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Outbound scenarios of issue 15: the relay load on a mailhookd with an
events block subscribed to every kind (its events POSTed to an HTTP
target that counts them), and the scaling table (the relay load at 1, 20
and 200 senders, and at 4 KiB, 64 KiB and 1 MiB messages)."""
import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import (SIZE, TRACKED, BenchDaemon, CpuMeter, daemon_config,
                      mh_pids, rate, ratio, smtp_source, spool_flushes,
                      wait_count)
from relay import html_message

# (senders, message bytes, messages) of the scaling table
SCALING = [(1, SIZE, 300), (20, SIZE, 2000), (200, SIZE, 3000),
           (20, 64 * 1024, 600), (20, 1024 * 1024, 60)]
SCALING_QUICK = [(1, SIZE, 30), (20, SIZE, 100), (200, SIZE, 200),
                 (20, 64 * 1024, 40), (20, 1024 * 1024, 10)]


class EventTarget:
    """An HTTP server on loopback that answers 200 to each POST of
    hookd's format events ({"events": [...]}) and counts the events by
    kind (the bench's benchtool target counts POSTs, not events)."""

    def __init__(self):
        kinds = self.kinds = {}
        lock = self.lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                try:
                    evs = json.loads(body).get("events", [])
                except ValueError:
                    evs = []
                with lock:
                    for e in evs:
                        k = e.get("kind", "?")
                        kinds[k] = kinds.get(k, 0) + 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/events" % self.port

    def count(self, kind=None):
        with self.lock:
            return sum(self.kinds.values()) if kind is None else \
                self.kinds.get(kind, 0)

    def stop(self):
        self.srv.shutdown()


def relay_round(ctx, d, ev, n, what, **kw):
    """n messages through d to the sink (kw: smtp_source's msgfile and
    sender), then until ev has their n delivery events: the rates; the
    CPU per message of each process (the bench's own is mostly the
    event target's; client is smtp-source) and the whole machine's busy
    share; relayd's and hookd's group commit flushes (how many, how long
    in all)"""
    cpu = CpuMeter(dict(mh_pids(d), sink=ctx.sink.proc.pid,
                        bench=os.getpid()))
    f0 = spool_flushes(d)
    c0 = ctx.sink.count()
    e0 = ev.count("delivery")
    t0 = time.monotonic()
    secs = smtp_source(d.smtp_port, n, "rcpt@remote.test", **kw)
    t = wait_count(lambda: ctx.sink.count() - c0, n, 300)
    if t is None:
        raise RuntimeError("%s: the sink got %d of %d" %
                           (what, ctx.sink.count() - c0, n))
    te = wait_count(lambda: ev.count("delivery") - e0, n, 300)
    if te is None:
        raise RuntimeError("%s: %d of %d delivery events arrived: %s" %
                           (what, ev.count("delivery") - e0, n, ev.kinds))
    out = {"msgs": n, "accept_secs": round(secs, 3),
           "accepted_rate": rate(n, secs),
           "deliver_secs": round(t - t0, 3),
           "delivered_rate": rate(n, t - t0),
           "all_delivery_events": True,
           "events_done_secs": round(te - t0, 3),
           "events_done_rate": rate(n, te - t0)}
    out.update(cpu.result(n, "client"))
    f1 = spool_flushes(d)
    out["spool_flushes"] = {k: {x: f1[k].get(x, 0) - f0[k].get(x, 0)
                                for x in ("flushes", "flush_ms")}
                            for k in f1}
    return out


def run_relay_events(ctx, dns_port, n):
    """The relay load (20 senders, 4 KiB, to smtp-sink) on a mailhookd of
    its own whose config adds one events block, kinds all, to an HTTP
    target; delivered/s at the sink, and the time until the target has
    every message's delivery event (registration, dispatch and delivery:
    3 events a message).  Then the configuration users run: the same
    daemon and load with tracking on too (relay.py's HTML message, From:
    the tracked domain)."""
    ev = EventTarget()
    conf = daemon_config(ctx) + """
events {
    url "%s"
    format events
    kinds all
}
""" % ev.url()
    html = os.path.join(ctx.dir, "html-events.eml")
    html_message(html, "news@" + TRACKED)
    d = BenchDaemon(conf, resolver=("127.0.0.1", dns_port)).start()
    try:
        out = relay_round(ctx, d, ev, n, "relay with events")
        out["events"] = dict(ev.kinds)
        tr = out["tracking"] = relay_round(ctx, d, ev, n,
                                           "relay with events and tracking",
                                           msgfile=html,
                                           sender="news@" + TRACKED)
        # this round's own events: the target counts both rounds
        tr["events"] = {k: v - out["events"].get(k, 0)
                        for k, v in ev.kinds.items()}
        return out
    finally:
        d.stop()
        log_tail = d.logtext()
        if "lost child" not in log_tail and "fatal" not in log_tail:
            shutil.rmtree(d.dir, ignore_errors=True)
        ev.stop()


def run_scaling(ctx, quick):
    """The relay load (to smtp-sink) at 1, 20 and 200 senders with 4 KiB
    messages, and at 20 senders with 64 KiB and 1 MiB messages:
    delivered msg/s and MB/s of each."""
    rows = []
    for senders, size, n in (SCALING_QUICK if quick else SCALING):
        msgfile = None
        if size != SIZE:
            msgfile = os.path.join(ctx.dir, "scale-%d.eml" % size)
            with open(msgfile, "w") as f:
                f.write("From: sender@bench.test\nTo: rcpt@remote.test\n"
                        "Subject: scaling\n\n")
                line = "x" * 75 + "\n"
                f.write(line * (size // len(line)))
        c0 = ctx.sink.count()
        t0 = time.monotonic()
        secs = smtp_source(ctx.daemon.smtp_port, n, "rcpt@remote.test",
                           senders=senders, msgfile=msgfile)
        t = wait_count(lambda: ctx.sink.count() - c0, n, 600)
        if t is None:
            raise RuntimeError("scaling %d senders %d bytes: the sink got "
                               "%d of %d" % (senders, size,
                                             ctx.sink.count() - c0, n))
        rows.append({"senders": senders, "msg_bytes": size, "msgs": n,
                     "accepted_rate": rate(n, secs),
                     "delivered_rate": rate(n, t - t0),
                     "delivered_mb_s": round(n * size / (t - t0) / 1e6, 2)})
    return {"rows": rows}


def ratios(res, r):
    """the ratios and goals of these scenarios into r and res["goals"]"""
    ev = res.get("relay_events")
    if not ev:
        return
    pf = res.get("postfix_relay", {}).get("delivered_rate", 0)
    r["relay_events_deliver_vs_postfix"] = ratio(ev["delivered_rate"], pf)
    r["relay_events_done_vs_postfix"] = ratio(ev["events_done_rate"], pf)
    res["goals"]["relay_events_2.5x_postfix"] = \
        r["relay_events_deliver_vs_postfix"] >= 2.5 and \
        ev["all_delivery_events"]
    tr = ev.get("tracking")
    if tr:
        # the same goal, held to with tracking on as well
        r["relay_events_tracking_deliver_vs_postfix"] = \
            ratio(tr["delivered_rate"], pf)
        res["goals"]["relay_events_tracking_2.5x_postfix"] = \
            r["relay_events_tracking_deliver_vs_postfix"] >= 2.5 and \
            tr["all_delivery_events"]


def events_row(row, label, x):
    """a relay_round's line, with the events its round made, its CPU
    and its flushes"""
    row(label, x["msgs"], x["accepted_rate"], x["delivered_rate"],
        "every delivery event at the target: %.1f/s (%s)" %
        (x["events_done_rate"], ", ".join(
            "%s %d" % kv for kv in sorted(x["events"].items()))))
    if "cpu_ms_per_msg" not in x:
        return
    print("%-34s CPU ms per message: %s; total %.3f, cores busy %.0f%% "
          "(the machine %.0f%%)" % ("", ", ".join(
              "%s %.3f" % kv for kv in sorted(x["cpu_ms_per_msg"].items())
              if kv[1] > 0), x["cpu_ms_per_msg_total"],
              x["cpu_busy"] * 100, x["machine_busy"] * 100))
    print("%-34s flushes: %s" % ("", ", ".join(
        "%s %d (%d ms)" % (k, v["flushes"], v["flush_ms"])
        for k, v in sorted(x["spool_flushes"].items()))))


def report(res, row):
    ev = res.get("relay_events")
    if ev:
        events_row(row, "mailhook relay, events kinds all", ev)
        if ev.get("tracking"):
            events_row(row, "  the same, tracking on (HTML)",
                       ev["tracking"])
    sc = res.get("relay_scaling")
    if sc:
        print()
        print("relay scaling (mailhook -> smtp-sink, delivered)")
        print("%8s %10s %7s %10s %10s %8s" % ("senders", "msg bytes", "msgs",
                                              "accepted/s", "msg/s",
                                              "MB/s"))
        for x in sc["rows"]:
            print("%8d %10d %7d %10.1f %10.1f %8.2f" % (
                x["senders"], x["msg_bytes"], x["msgs"], x["accepted_rate"],
                x["delivered_rate"], x["delivered_mb_s"]))
        print()


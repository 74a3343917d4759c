# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of the outbound end-to-end tests (regress/e2e/outbound/test_*).

Everything runs through the real daemon (mhtest.Daemon): submission by
smtplib from 127.0.0.1 on a listener with "relay from 127.0.0.0/8", a real
unbound answering MX/A/null-MX (mhtest.dnsserver), aiosmtpd as the remote MX
(mhtest.relay.Sink, on the port given by "testing relay-port"), and recording
HTTP servers as event webhooks (mhtest.httpserver).
"""
import asyncio
import json
import os
import smtplib
import subprocess
import sys
import threading
import time
import urllib.parse

from mhtest import (BUILD, MHCTL, TOP, Daemon, Tap, free_port,  # noqa: F401,E402
                    skip, wait_for)

if os.geteuid() != 0:
    skip("needs root (mailhookd drops privileges)")
if not os.access(os.path.join(BUILD, "mailhookd"), os.X_OK):
    skip("mailhookd not built")

from mhtest.dnsserver import DNSServer  # noqa: E402,F401
from mhtest.httpserver import HTTPServer, verify_signature  # noqa: E402,F401
from mhtest.relay import Sink  # noqa: E402,F401

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FIXTURES = os.path.join(TOP, "regress", "hookd", "fixtures", "returned")

RECORDS = ["example.test. MX 10 mx.example.test.",
           "mx.example.test. A 127.0.0.1",
           "other.test. MX 10 mx.example.test.",
           "sender.test. MX 10 mx.example.test.",
           "nullmx.test. MX 0 ."]


def conf(hooks, extra=""):
    """A config: the submission listener, relay, bounce domain, and one
    events block per (path, format, options) on the recorder's port."""
    text = ("listen on 127.0.0.1 port {smtp_port}\n"
            "allow private-addresses\n"
            "relay from 127.0.0.0/8\n"
            'bounce domain "bounces.test"\n'
            "queue retry 1s to 2s\n") + extra
    for url, fmt, opts in hooks:
        text += 'events {\n\turl "%s"\n\tformat %s\n%s}\n' % (url, fmt, opts)
    return text


def submit(port, rcpts, sender="app@sender.test", subject="hello",
           msgid=None, headers=None, body="Hello.\r\n"):
    """One message by SMTP; returns (code of DATA, Message-ID)."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    msgid = msgid or "%s.%d@sender.test" % (time.time(), threading.get_ident())
    text = ("From: App <%s>\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s>\r\n" % (sender, ", ".join(rcpts), subject,
                                      msgid))
    for k, v in (headers or []):
        text += "%s: %s\r\n" % (k, v)
    text += "\r\n" + body
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="app.local",
                     timeout=30)
    try:
        s.ehlo("app.local")
        code, _ = s.mail(sender)
        if code != 250:
            return code, msgid
        for r in rcpts:
            code, _ = s.rcpt(r)
            if code != 250:
                return code, msgid
        code, _ = s.data(text.encode())
        return code, msgid
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            s.close()


def events_of(rec, path):
    """Every event the recorder accepted on path (format events), deduped
    by event id, in arrival order."""
    out, seen = [], set()
    for r in rec.on(path):
        # a body that is not a batch of events is a bug to report, not
        # to skip (json.loads and the lookup raise on it)
        evs = json.loads(r["body"])["events"]
        for e in evs:
            if e.get("id") not in seen:
                seen.add(e.get("id"))
                out.append(e)
    return out


def forms_of(rec, path):
    """failures format: one dict per POST (tags[] as a list)."""
    out = []
    for r in rec.on(path):
        q = urllib.parse.parse_qs(r["body"].decode(), keep_blank_values=True)
        d = {k: (v if k == "tags[]" else v[0]) for k, v in q.items()}
        out.append(d)
    return out


def callbacks_of(rec, path):
    return [json.loads(r["body"])["event"] for r in rec.on(path)]


def kinds_for(evs, rcpt):
    return [e["kind"] for e in evs if e.get("recipient") == rcpt]


def start_daemon(body, dns, mx_port, env=None):
    body = ("testing relay-port %d\ntesting events-retry 100 400\n" %
            mx_port) + body
    return Daemon(body, resolver=(dns.addr, dns.port), env=env).start()


def check_log(t, d, lost_ok=False):
    """No sanitizer report (MH_BUILD=obj-san), no unexpected child loss."""
    log = d.logtext()
    bad = [ln for ln in log.splitlines() if "Sanitizer" in ln or
           "runtime error:" in ln or (not lost_ok and "lost child" in ln)]
    t.ok(not bad, "daemon log: no sanitizer report%s" %
         ("" if lost_ok else ", no child lost"), "\n".join(bad[:20]))


class Stripper:
    """A man in the middle on addr:port that relays to upstream:port and
    removes STARTTLS from every reply (issue 17's downgrade attempts)."""

    def __init__(self, addr, upstream, port):
        self.upstream, self.port = upstream, port
        self.loop = asyncio.new_event_loop()
        self.stripped = 0
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(
                self.conn, addr, port))
            ready.set()
            self.loop.run_forever()
        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    async def conn(self, cr, cw):
        sr, sw = await asyncio.open_connection(self.upstream,
                                              self.port)

        async def up():
            while (line := await cr.readline()):
                sw.write(line)
                await sw.drain()
            sw.close()

        async def down():
            while (line := await sr.readline()):
                if line[4:12].upper() == b"STARTTLS":
                    self.stripped += 1
                    continue
                cw.write(line)
                await cw.drain()
            cw.close()
        await asyncio.gather(up(), down(), return_exceptions=True)

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def suppressions_on_disk(spool):
    """{(address, sender domain): reason} as relayd would load them: the
    list outbound/suppress, then its log outbound/suppress.log replayed
    ("+\\t" and a list line, "-\\taddr\\tdomain"; a torn last line
    ignored)."""
    entries = {}

    def read(name):
        try:
            with open(os.path.join(spool, "outbound", name),
                      encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def add(fields):
        if len(fields) >= 3:
            dom = fields[3] if len(fields) > 3 else ""
            entries[(fields[0], dom)] = fields[2]

    for line in read("suppress").split("\n"):
        add(line.split("\t"))
    log = read("suppress.log")
    lines = log.split("\n")
    for line in lines[:-1]:		# the last is "" or torn
        f = line.split("\t")
        if f[0] == "+":
            add(f[1:])
        elif f[0] == "-" and len(f) == 3:
            entries.pop((f[1], f[2]), None)
    return entries

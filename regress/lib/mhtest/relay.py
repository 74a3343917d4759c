# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers for relayd's end-to-end tests (regress/relayd/test_*).

A real DNS server (mhtest.dnsserver, unbound on loopback), real
SMTP servers as remote MX (aiosmtpd here, Postfix's smtp-sink in some
tests), and relay_harness driving relayd's engine in-process.
"""
import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from mhtest import BUILD, TOP, free_port, make_cert, mkdirs  # noqa: E402,F401
HARNESS = os.path.join(BUILD, "regress", "relay_harness")

from mhtest.dnsserver import DNSServer  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import SMTP  # noqa: E402

failures = 0


def ok(cond, what):
    global failures
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failures += 1
    return cond


def done():
    sys.exit(1 if failures else 0)


def skip_unless_ready():
    if not os.access(HARNESS, os.X_OK):
        print("skip: relay_harness not built")
        sys.exit(77)


class Handler:
    """Per-recipient behaviour by local part prefix:
    hard* -> 550 5.1.1, soft* -> 450 4.2.0, flaky* -> 451 once then 250,
    stall* -> 450 4.2.0, the first time after self.stall seconds,
    anything else -> 250.  Accepted messages are kept in self.msgs."""

    def __init__(self):
        self.msgs = []
        self.seen = {}
        self.lock = threading.Lock()
        self.data_code = None
        self.stall = 0

    async def handle_RCPT(self, server, session, envelope, address, opts):
        local = address.split("@")[0].lower()
        if local.startswith("stall"):
            with self.lock:
                n = self.seen.get(address, 0)
                self.seen[address] = n + 1
            if n == 0:
                await asyncio.sleep(self.stall)
            return "450 4.2.0 mailbox busy"
        if local.startswith("hard"):
            return "550 5.1.1 no such user"
        if local.startswith("soft"):
            return "450 4.2.0 mailbox busy"
        if local.startswith("flaky"):
            with self.lock:
                n = self.seen.get(address, 0)
                self.seen[address] = n + 1
            if n == 0:
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 ok"

    async def handle_DATA(self, server, session, envelope):
        if self.data_code:
            return self.data_code
        with self.lock:
            self.msgs.append({"from": envelope.mail_from,
                              "rcpts": list(envelope.rcpt_tos),
                              "data": envelope.original_content,
                              "tls": session.ssl is not None,
                              "at": time.time()})
        return "250 2.0.0 accepted"


class Sink:
    """aiosmtpd on host (127.0.0.1):port, optionally offering STARTTLS;
    it offers SMTPUTF8 unless utf8 is False."""

    def __init__(self, port=None, tls=False, tmpdir=None, host="127.0.0.1",
                 utf8=True):
        self.port = port or free_port()
        self.handler = Handler()
        kw = {"enable_SMTPUTF8": utf8}
        if tls:
            crt, key = make_cert(tmpdir, "mx.example.test")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(crt, key)
            kw.update({"tls_context": ctx, "require_starttls": False})
        self.ctl = Controller(self.handler, hostname=host,
                              port=self.port, server_hostname="mx.example.test",
                              **kw)
        self.ctl.start()

    @property
    def msgs(self):
        return self.handler.msgs

    def stop(self):
        self.ctl.stop()


class Harness:
    """relay_harness with a spool; send() runs commands, returns lines."""

    def __init__(self, spool, args=()):
        self.spool = spool
        self.args = list(args)
        self.events = []
        self.lines = []

    def run(self, commands, timeout=60):
        p = subprocess.run([HARNESS, "-s", self.spool] + self.args,
                           input="\n".join(commands) + "\nquit\n",
                           capture_output=True, text=True, timeout=timeout)
        self.lines = p.stdout.splitlines()
        self.stderr = p.stderr
        if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
            ok(False, "sanitizer report: %s" % p.stderr[-2000:])
        for ln in self.lines:
            if ln.startswith("event "):
                self.events.append(json.loads(ln[6:]))
        self.rc = p.returncode
        return self.lines

    def committed(self):
        return [ln.split()[1] for ln in self.lines
                if ln.startswith("committed ")]

    def kinds(self, rcpt=None):
        return [e["kind"] for e in self.events
                if rcpt is None or e["recipient"] == rcpt]

    def find(self, kind, rcpt=None):
        return [e for e in self.events if e["kind"] == kind and
                (rcpt is None or e["recipient"] == rcpt)]


def write_msg(d, name, headers=None, body="Hello.\r\n"):
    hdrs = headers or {}
    text = "From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\n"
    text += "Subject: %s\r\n" % hdrs.pop("Subject", "test message")
    text += "Message-ID: <%s@sender.test>\r\n" % name
    for k, v in hdrs.items():
        if isinstance(v, list):
            for x in v:
                text += "%s: %s\r\n" % (k, x)
        else:
            text += "%s: %s\r\n" % (k, v)
    text += "\r\n" + body
    path = os.path.join(d, name + ".eml")
    with open(path, "w") as f:
        f.write(text)
    return path


def tmpdir():
    d = tempfile.mkdtemp(prefix="mh-relay-")
    mkdirs(os.path.join(d, "spool"))
    return d

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers for the inbound end-to-end tests (regress/e2e/inbound/test_*).

A real mailhookd (mhtest.Daemon), a real HTTP server (mhtest.httpserver) as the
route's target and Python's smtplib as the SMTP client.
"""
import base64
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from mhtest import (BUILD, SANITIZED, TOP, Daemon, Tap, free_port,  # noqa
                    wait_for)
from mhtest.httpserver import HTTPServer, make_pki, parse_multipart  # noqa

FIX = os.path.join(TOP, "regress", "hookd", "fixtures", "mime")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def crlf(data):
    """The message as it travels in SMTP: every line end CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def send(port, rcpts, msg, sender="alice@example.org", helo="client.example",
         starttls=False, timeout=60):
    """One SMTP transaction; returns (code, text) of the final reply (the
    one for DATA, or the first refusal)."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
    try:
        s.ehlo(helo)
        if starttls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo(helo)
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode(errors="replace")
        for r in rcpts:
            code, text = s.rcpt(r)
            if code not in (250, 251):
                return code, text.decode(errors="replace")
        code, text = s.data(msg)
        return code, text.decode(errors="replace")
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


def body_json(req):
    return json.loads(req["body"])


def form_parts(req):
    """[(name, filename, content type, data)] of a multipart/form-data
    body, split on the boundary byte for byte (no MIME decoding: a
    message/rfc822 part stays bytes)."""
    ct = req["headers"].get("content-type", "")
    m = re.search(r'boundary="?([^";]+)"?', ct)
    if not m:
        return []
    delim = b"--" + m.group(1).encode()
    body = req["body"]
    out = []
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0]
    if not first.startswith(delim):
        return []
    chunks[0] = first[len(delim):]
    for c in chunks:
        if c.startswith(b"--"):
            break
        head, _, data = c[2:].partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode("utf-8", "replace").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        cd = hdrs.get("content-disposition", "")
        name = re.search(r'; name="([^"]*)"', cd)
        fn = re.search(r'; filename="([^"]*)"', cd)
        out.append((name.group(1) if name else None,
                    fn.group(1) if fn else None,
                    hdrs.get("content-type"), data))
    return out


def form_fields(req):
    """{name: value bytes} of the plain fields, [(name, filename, type,
    data)] of the file parts."""
    fields, files = {}, []
    for name, fn, ct, data in form_parts(req):
        if fn is None:
            fields[name] = data
        else:
            files.append((name, fn, ct, data))
    return fields, files


def split_received(raw):
    """(our Received header, the rest) of a spooled message."""
    assert raw.startswith(b"Received: ")
    i = 0
    while True:
        j = raw.index(b"\r\n", i)
        if raw[j + 2:j + 3] not in (b" ", b"\t"):
            return raw[:j + 2], raw[j + 2:]
        i = j + 2


class Verifier:
    """Standard Webhooks signatures checked by the npm package."""

    SCRIPT = r"""
const { Webhook } = require(process.argv[2]);
const fs = require('fs');
const lines = fs.readFileSync(0).toString('utf8').split('\n');
const out = [];
for (const l of lines) {
    if (!l) continue;
    const r = JSON.parse(l);
    try {
        new Webhook(r.secret).verify(
            Buffer.from(r.body, 'base64').toString('utf8'), r.headers,
            { jsonParse: false });
        out.push('valid');
    } catch (e) {
        out.push('invalid: ' + e.message);
    }
}
console.log(out.join('\n'));
"""

    def __init__(self):
        self.npm = os.path.join(BUILD, "npm")
        self.mod = os.path.join(self.npm, "node_modules", "standardwebhooks")
        self.why = None
        if shutil.which("node") is None or shutil.which("npm") is None:
            self.why = "node/npm not installed"
            return
        if not os.path.isdir(self.mod):
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                                "--prefix", self.npm, "standardwebhooks"],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0 or not os.path.isdir(self.mod):
                self.why = "npm install failed: " + r.stderr[-300:]

    def verify(self, reqs, secret=SECRET):
        """'valid' or 'invalid: why' for each recorded request."""
        lines = []
        for req in reqs:
            h = {k: req["headers"].get(k, "") for k in
                 ("webhook-id", "webhook-timestamp", "webhook-signature")}
            lines.append(json.dumps({
                "secret": secret, "headers": h,
                "body": base64.b64encode(req["body"]).decode()}))
        d = tempfile.mkdtemp(prefix="mh-verify-")
        try:
            js = os.path.join(d, "verify.js")
            with open(js, "w") as f:
                f.write(self.SCRIPT)
            r = subprocess.run(["node", js, self.mod],
                               input="\n".join(lines) + "\n",
                               capture_output=True, text=True, timeout=60)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        out = r.stdout.strip().split("\n")
        if len(out) != len(reqs):
            return ["invalid: node said " + (r.stdout + r.stderr)[-300:]] * \
                len(reqs)
        return out


def hmac_ok(req, secret=SECRET):
    """The same check in Python, for bodies that are not UTF-8 (the npm
    package verifies text only)."""
    import hashlib
    import hmac
    h = req["headers"]
    key = base64.b64decode(secret[6:])
    mac = hmac.new(key, ("%s.%s." % (h.get("webhook-id"),
                                     h.get("webhook-timestamp"))).encode() +
                   req["body"], hashlib.sha256)
    return h.get("webhook-signature") == \
        "v1," + base64.b64encode(mac.digest()).decode()


def reqs_for(srv, path):
    return [r for r in srv.requests if r["path"].split("?")[0] == path]


def wait_reqs(srv, path, n, timeout=30):
    return wait_for(lambda: len(reqs_for(srv, path)) >= n and
                    reqs_for(srv, path), timeout) or reqs_for(srv, path)


def port_closed():
    """A loopback port nobody listens on."""
    return free_port()


_dns = []


def dns_port():
    """A real unbound on loopback for which every name is NXDOMAIN, shared
    by the daemons of one test: hookd's DKIM and DMARC lookups get an
    answer at once instead of waiting for a resolver that is not there."""
    if not _dns:
        import atexit
        from mhtest.dnsserver import DNSServer
        _dns.append(DNSServer(zones=[". static"]).start())
        atexit.register(_dns[0].stop)
    return _dns[0].port


def daemon(conf, env=None):
    """A Daemon (resolver: dns_port()); under a sanitizer build, leak
    checks are off (the children have no /proc in their chroot)."""
    e = dict(env or {})
    if SANITIZED:
        e["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
            ":detect_leaks=0"
    return Daemon(conf, env=e, resolver=("127.0.0.1", dns_port()))


AR_RE = re.compile(rb"Authentication-Results: mx\.test;\r\n"
                   rb"\tspf=pass smtp\.mailfrom=example\.org;\r\n"
                   rb"\tdkim=none;\r\n\tdmarc=(none header\.from=[a-z.]+|"
                   rb"permerror)\r\n")


def split_ar(raw):
    """(our Authentication-Results header, the rest) of a posted message,
    (b"", raw) when it does not start with one."""
    m = AR_RE.match(raw)
    return (m.group(0), raw[m.end():]) if m else (b"", raw)


def log_clean(t, d):
    """No sanitizer report, no child lost, in the daemon's log."""
    log = d.logtext()
    bad = [ln for ln in log.splitlines()
           if "Sanitizer" in ln or "runtime error:" in ln or
           "lost child" in ln or "fatal" in ln.lower()]
    return t.ok(not bad, "daemon log: no sanitizer report, no child lost",
                "\n".join(bad[:20]))


def cleanup(d):
    """Remove a daemon's temp dir after a passing run."""
    shutil.rmtree(d.dir, ignore_errors=True)

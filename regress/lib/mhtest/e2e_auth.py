# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared bits of the authd end-to-end tests: a real mailhookd (mhtest),
real SMTP clients (smtplib, swaks), TAP output."""
import os
import re
import smtplib
import subprocess
import sys

from mhtest import (Daemon as _Daemon, Tap, free_port, skip,  # noqa: F401
                    wait_for, BUILD, TOP)

if os.geteuid() != 0:
    skip("needs root (mailhookd drops privileges)")
if not os.access(os.path.join(BUILD, "mailhookd"), os.X_OK):
    skip("mailhookd not built")


_dirs = []


class Daemon(_Daemon):
    """mhtest's Daemon; its directory is removed by finish() on success."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        _dirs.append(self.dir)


def finish(t):
    """Remove the daemons' directories if every check passed; exit."""
    import shutil
    if not t.failed:
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    t.done()


def client(port, helo="localhost", src=None, host="127.0.0.1", timeout=30):
    """An smtplib client after EHLO."""
    s = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout,
                     source_address=(src, 0) if src else None)
    s.ehlo(helo)
    return s


def rcpt(port, to, sender="from+test@example.com", size=None,
         helo="localhost", src=None, host="127.0.0.1"):
    """One transaction up to RCPT: (code, text) of the RCPT reply."""
    s = client(port, helo, src, host)
    try:
        opts = ["SIZE=%d" % size] if size is not None else []
        code, msg = s.mail(sender, options=opts)
        if code != 250:
            return code, "MAIL: " + msg.decode(errors="replace")
        code, msg = s.rcpt(to)
        return code, msg.decode(errors="replace")
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            s.close()


def send(port, to, sender="from+test@example.com", helo="localhost",
         src=None, host="127.0.0.1", body=None):
    """A whole message: (rcpt reply, DATA reply) as (code, text) pairs."""
    s = client(port, helo, src, host)
    try:
        s.mail(sender)
        rc, rt = s.rcpt(to)
        if rc != 250:
            return (rc, rt.decode(errors="replace")), None
        msg = body or ("From: <%s>\r\nTo: <%s>\r\nSubject: authd e2e\r\n"
                       "\r\nhello\r\n" % (sender, to))
        dc, dt = s.data(msg.encode())
        return (rc, rt.decode()), (dc, dt.decode(errors="replace"))
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            s.close()


SWAKS_REPLY = re.compile(r"^<[~-]\*?\s+(\d{3})[ -](.*)$")


def swaks(*args, timeout=30):
    """Run swaks; (exit code, transcript, [(code, text)] server replies)."""
    r = subprocess.run(["swaks", "--timeout", "15", "--hide-informational"]
                       + list(args), capture_output=True, text=True,
                       timeout=timeout)
    out = r.stdout + r.stderr
    replies = []
    for line in out.splitlines():
        m = re.match(r"^<[~-]?\*{0,2}\s+(\d{3})([ -])(.*)$", line)
        if m and m.group(2) == " ":
            replies.append((int(m.group(1)), m.group(3)))
    return r.returncode, out, replies


def seed_examples():
    """The seed's authorization callback examples: {form, json, xml}.

    Read from shared/seeds when it is beside the repository, else the
    copies below (taken verbatim from the seed)."""
    ex = {
        "form": "size=102400&to=to%example.net&from=from%2Btest%40"
                "example.com&helo_domain=localhost&remote_ip=127.0.0.1&"
                "spf[result]=pass&spf[domain]=example.com",
        "json": '{"size":102400,"to":"to@example.net","from":"from+test@'
                'example.com","helo_domain":"localhost","remote_ip":'
                '"127.0.0.1","spf":{"result":"pass","domain":'
                '"example.com"}}',
        "xml": '<?xml version="1.0" encoding="UTF-8"?>\n<parameters>\n'
               '  <size type="integer">102400</size>\n'
               '  <to>to@example.net</to>\n'
               '  <from>from+test@example.com</from>\n'
               '  <helo-domain>localhost</helo-domain>\n'
               '  <remote-ip>127.0.0.1</remote-ip>\n'
               '  <spf>\n    <result>pass</result>\n'
               '    <domain>example.com</domain>\n  </spf>\n'
               '</parameters>',
    }
    src = "embedded"
    for d in (os.path.join(TOP, "..", "shared", "seeds"),
              "/work/shared/seeds"):
        p = os.path.join(d, "authorization-and-error-callbacks.md")
        if not os.path.exists(p):
            continue
        with open(p) as f:
            text = f.read()
        # the authorization examples come before "## Error Callbacks"
        text = text.split("## Error Callbacks")[0]
        blocks = re.findall(r"```([^\n]*)\n(.*?)\n```", text, re.S)
        got = {}
        for lang, body in blocks:
            if lang.startswith("application/x-www-form-urlencoded") and \
                    "form" not in got:
                got["form"] = body
            elif lang == "json" and "json" not in got:
                got["json"] = body
            elif lang == "xml" and "xml" not in got:
                got["xml"] = body
        if len(got) == 3:
            ex, src = got, p
        break
    return ex, src

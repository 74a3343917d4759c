#!/usr/bin/python3
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The `make run` webhook receiver: prints every request mailhookd makes.

usage: receiver.py [--host 127.0.0.1] [--port 8025] [--status 200]

Answers every POST with --status (200 by default; try 500 to see the
sender get a 451, or 403 for a 550) and a one-line text/plain body, which
mailhookd turns into the SMTP reply text.  JSON bodies are pretty-printed
(base64 attachment contents shortened), form and multipart bodies are
listed field by field.
"""
import argparse
import datetime
import email.parser
import email.policy
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOW_HEADERS = ("content-type", "user-agent", "authorization",
                "webhook-id", "webhook-timestamp", "webhook-signature")
MAXVAL = 400


def short(v, n=MAXVAL):
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            return "<%d bytes of binary>" % len(v)
    v = str(v)
    return v if len(v) <= n else v[:n] + "... (%d chars)" % len(v)


def shorten_json(o):
    if isinstance(o, dict):
        return {k: ("<%d chars of base64>" % len(v)
                    if k == "content" and isinstance(v, str) and len(v) > 80
                    else shorten_json(v)) for k, v in o.items()}
    if isinstance(o, list):
        return [shorten_json(x) for x in o]
    if isinstance(o, str):
        return short(o)
    return o


def show_body(ctype, body):
    media = ctype.split(";")[0].strip().lower()
    if not body:
        return "(empty body)"
    if media == "application/json":
        try:
            return json.dumps(shorten_json(json.loads(body)), indent=2,
                              ensure_ascii=False)
        except ValueError:
            return "invalid JSON: " + short(body)
    if media == "application/x-www-form-urlencoded":
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                       keep_blank_values=True)
        return "\n".join("%s = %s" % (k, short(v)) for k, v in pairs)
    if media == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        lines = []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fname = part.get_filename()
            data = part.get_payload(decode=True) or b""
            if fname is not None:
                lines.append("%s: file %r, %s, %d bytes" % (
                    name, fname, part.get_content_type(), len(data)))
            else:
                lines.append("%s = %s" % (name, short(data)))
        return "\n".join(lines)
    return short(body, 2000)


class Receiver(BaseHTTPRequestHandler):
    server_version = "mailhook-demo-receiver"
    status = 200
    count = 0

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        Receiver.count += 1
        now = datetime.datetime.now().strftime("%H:%M:%S")
        out = ["", "=" * 72,
               "#%d %s POST %s (%d bytes) from %s" % (
                   Receiver.count, now, self.path, len(body),
                   self.client_address[0])]
        for h in SHOW_HEADERS:
            if h in self.headers:
                out.append("  %s: %s" % (h, short(self.headers[h], 120)))
        out.append("-" * 72)
        out.append(show_body(self.headers.get("Content-Type", ""), body))
        out.append("-> answering %d" % Receiver.status)
        print("\n".join(out), flush=True)
        reply = ("received by the demo receiver\n" if Receiver.status < 300
                 else "demo receiver says no\n").encode()
        self.send_response(Receiver.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self):
        self.do_POST()

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8025)
    ap.add_argument("--status", type=int, default=200)
    a = ap.parse_args()
    Receiver.status = a.status
    try:
        srv = ThreadingHTTPServer((a.host, a.port), Receiver)
    except OSError as e:
        print("receiver: cannot listen on %s:%d: %s" % (a.host, a.port, e),
              file=sys.stderr)
        return 1
    print("receiver: webhooks on http://%s:%d/ (answering %d)" % (
        a.host, a.port, a.status), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

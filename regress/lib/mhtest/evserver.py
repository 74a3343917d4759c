# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""A recording HTTP server on loopback for the event webhook tests.

Every request is recorded (method, path, headers, body, time).  The answer
per path is chosen by `behaviour[path]` (default 200):
    200, 503, 410, ...      that status
    ("retry-after", n)      503 with Retry-After: n, once, then 200
    ("slow", secs, n)       the first request of the first n webhook-ids
                            sleeps secs before its 200 (the client times
                            out and retries: the receiver deduplicates)
The receiver deduplicates by webhook-id like a real one should, per
endpoint (path): `accepted` maps (path, webhook-id) -> body of the first
2xx, `duplicates` counts the deliveries of an id already accepted.
"""
import base64
import hashlib
import hmac
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mhtest import free_port  # noqa: F401


def verify_signature(secret, headers, body):
    """Standard Webhooks: v1,<base64 HMAC-SHA256(id.timestamp.body)>."""
    key = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    key = base64.b64decode(key)
    mid = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sig = headers.get("webhook-signature")
    if not mid or not ts or not sig:
        return False
    mac = hmac.new(key, mid.encode() + b"." + ts.encode() + b"." + body,
                   hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(want, s) for s in sig.split(" "))


class Recorder:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.requests = []
        self.accepted = {}
        self.duplicates = 0
        self.behaviour = {}
        self.slow_seen = set()
        self.server = None
        self.thread = None

    def start(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                path = self.path
                mid = hdrs.get("webhook-id", "")
                with rec.lock:
                    rec.requests.append({"path": path, "headers": hdrs,
                                         "body": body, "t": time.time()})
                    b = rec.behaviour.get(path, 200)
                status, extra, sleep = 200, {}, 0
                if isinstance(b, tuple) and b[0] == "retry-after":
                    status, extra = 503, {"Retry-After": str(b[1])}
                    with rec.lock:
                        rec.behaviour[path] = 200
                elif isinstance(b, tuple) and b[0] == "slow":
                    with rec.lock:
                        if mid not in rec.slow_seen and \
                                len(rec.slow_seen) < b[2]:
                            rec.slow_seen.add(mid)
                            sleep = b[1]
                elif isinstance(b, int):
                    status = b
                if 200 <= status < 300:
                    with rec.lock:
                        if mid and (path, mid) in rec.accepted:
                            rec.duplicates += 1
                        elif mid:
                            rec.accepted[(path, mid)] = body
                if sleep:
                    time.sleep(sleep)
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def on(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

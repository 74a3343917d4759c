#!/usr/bin/python3
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""A real threaded HTTP/1.1 server (keep-alive) for webhook tests: the
one HTTP receiver of the tests (webhooks, callbacks, event endpoints).

As a module:

    from mhtest.httpserver import HTTPServer
    with HTTPServer() as srv:
        srv.script("/hook", status=200, body="thanks", content_type="text/plain")
        srv.script("/flaky", [{"status": 500}, {"status": 200}])  # in turn
        srv.script("/moved", status=302, location="/hook")
        ... POST to srv.url("/hook") ...
        reqs = srv.wait(1)           # recorded requests, in arrival order
        reqs[0]["method"], ["path"], ["headers"] (lower-cased names -> value),
        ["header_list"] (pairs as sent), ["body"] (bytes), ["client_port"],
        ["client_addr"], ["time"]
        srv.on("/hook")              # the requests to one path (query included)
        srv.closed                   # connections ended: (addr, port, time)
        parse_multipart(reqs[0])     # [(name, filename, type, bytes), ...]

As an event endpoint it deduplicates by webhook-id like a real receiver
should, per path: srv.accepted maps (path, webhook-id) to the body of the
first 2xx, srv.duplicates counts deliveries of an id already accepted;
verify_signature() checks a Standard Webhooks signature.

HTTPServer(certfile=..., keyfile=...) serves HTTPS instead (make_pki()
writes a throw-away CA and a server certificate for given names).

A script entry has status, body (str or bytes), content_type, delay
(seconds before answering), delay_ids (with delay: only the first request
of each of the first delay_ids webhook-ids waits, so that the client times
out and retries), location, headers (dict), close (bool: drop the
connection after answering), cut (N: Content-Length says N bytes more
than the body has, and the connection is closed after the body).  A list of entries is used in turn, the
last one repeating.  Built-in paths when nothing is scripted:
/status/NNN, /redirect/N (N hops to /redirect/0, which answers 200),
/slow/SECONDS, /big/BYTES; anything else answers 200 "ok".
srv.max_active is the highest number of requests served at the same time
(srv.idle() waits for the server to be idle and resets it).

As a CLI:  httpserver.py [-p portfile] [-l log.jsonl] [-s script.json]
(script.json maps a path to an entry or a list; each request is appended
to log.jsonl as one JSON object, the body as "body" text or "body_b64").
"""
import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mhtest import announce_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mh-test"

    def log_message(self, fmt, *args):
        pass

    def finish(self):
        try:
            super().finish()
        finally:
            owner = self.server.owner
            with owner.lock:
                owner.closed.append((self.client_address[0],
                                     self.client_address[1], time.time()))

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        owner = self.server.owner
        body = self._read_body()
        req = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "header_list": list(self.headers.items()),
            "body": body,
            "client_port": self.client_address[1],
            "client_addr": self.client_address[0],
            "time": time.time(),
        }
        with owner.lock:
            owner.active += 1
            owner.max_active = max(owner.max_active, owner.active)
        try:
            spec = owner._next(self.path)
            owner._dedup(req, int(spec.get("status", 200)))
            owner._record(req)
            delay = owner._delay(spec, req)
            if delay:
                time.sleep(delay)
        finally:
            # before the answer: the client may start its next request
            # as soon as it has read this one
            with owner.lock:
                owner.active -= 1
        try:
            self._answer(spec)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _answer(self, spec):
        status = int(spec.get("status", 200))
        body = spec.get("body", "")
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if spec.get("content_type"):
            self.send_header("Content-Type", spec["content_type"])
        if spec.get("location"):
            self.send_header("Location", spec["location"])
        for k, v in (spec.get("headers") or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length",
                         str(len(body) + int(spec.get("cut", 0))))
        if spec.get("close") or spec.get("cut"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass    # a client that went away (timeouts, capped reads) is fine


class HTTPServer:
    def __init__(self, host="127.0.0.1", port=0, log=None, scripts=None,
                 certfile=None, keyfile=None):
        self.host = host
        self.certfile = certfile
        self.keyfile = keyfile
        self.port = port
        self.logfile = log
        self.scripts = {}
        self.requests = []
        self.closed = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.active = 0
        self.max_active = 0
        self.accepted = {}      # (path, webhook-id) -> body of the first 2xx
        self.duplicates = 0
        self.slow_ids = set()
        self.httpd = None
        for path, spec in (scripts or {}).items():
            self.script(path, spec)

    def script(self, path, spec=None, **kw):
        """Answer path with spec (a dict, or a list used in turn)."""
        if spec is None:
            spec = kw
        with self.lock:
            self.scripts[path] = list(spec) if isinstance(spec, list) \
                else [spec]

    def _builtin(self, path):
        p = path.split("?")[0].rstrip("/").split("/")
        try:
            if len(p) == 3 and p[1] == "status":
                return {"status": int(p[2]), "body": "status " + p[2],
                        "content_type": "text/plain"}
            if len(p) == 3 and p[1] == "redirect":
                n = int(p[2])
                if n <= 0:
                    return {"status": 200, "body": "landed",
                            "content_type": "text/plain"}
                return {"status": 302, "location": "/redirect/%d" % (n - 1)}
            if len(p) == 3 and p[1] == "slow":
                return {"status": 200, "delay": float(p[2]), "body": "slow"}
            if len(p) == 3 and p[1] == "big":
                return {"status": 200, "body": b"x" * int(p[2]),
                        "content_type": "application/octet-stream"}
        except ValueError:
            pass
        return {"status": 200, "body": "ok", "content_type": "text/plain"}

    def _next(self, path):
        with self.lock:
            key = path if path in self.scripts else path.split("?")[0]
            lst = self.scripts.get(key)
            if lst:
                return lst.pop(0) if len(lst) > 1 else lst[0]
        return self._builtin(path)

    def _delay(self, spec, req):
        """The spec's delay; with delay_ids, once for the first ids."""
        delay = float(spec.get("delay", 0))
        n = spec.get("delay_ids")
        if delay and n is not None:
            mid = req["headers"].get("webhook-id", "")
            with self.lock:
                if mid in self.slow_ids or len(self.slow_ids) >= n:
                    return 0
                self.slow_ids.add(mid)
        return delay

    def _dedup(self, req, status):
        mid = req["headers"].get("webhook-id")
        if not mid or not 200 <= status < 300:
            return
        key = (req["path"], mid)
        with self.lock:
            if key in self.accepted:
                self.duplicates += 1
            else:
                self.accepted[key] = req["body"]

    def on(self, path):
        """The requests to path, in arrival order."""
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def _record(self, req):
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()
        if self.logfile:
            rec = dict(req)
            try:
                rec["body"] = req["body"].decode()
            except UnicodeDecodeError:
                del rec["body"]
                rec["body_b64"] = base64.b64encode(req["body"]).decode()
            with self.lock, open(self.logfile, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def wait(self, n, timeout=30):
        """Wait until n requests are recorded; returns them all."""
        deadline = time.time() + timeout
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.time()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.requests)

    def idle(self, timeout=30):
        """Wait until no request is being served; reset max_active."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.active == 0:
                    self.max_active = 0
                    return True
            time.sleep(0.05)
        return False

    def url(self, path="/", userinfo=None):
        host = "[%s]" % self.host if ":" in self.host else self.host
        ui = userinfo + "@" if userinfo else ""
        scheme = "https" if self.certfile else "http"
        return "%s://%s%s:%d%s" % (scheme, ui, host, self.port, path)

    def start(self):
        import socket
        cls = _Server
        if ":" in self.host:
            cls = type("_Server6", (_Server,),
                       {"address_family": socket.AF_INET6})
        self.httpd = cls((self.host, self.port), _Handler)
        self.httpd.owner = self
        if self.certfile:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certfile, self.keyfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.port = self.httpd.server_address[1]
        t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        t.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def make_pki(directory, names=("localhost",), ips=("127.0.0.1",)):
    """A CA and a server certificate signed by it, with openssl(1).

    Returns (ca.pem, server.pem, server.key) paths."""
    import subprocess
    d = directory
    ca, cakey = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    crt, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    csr, ext = os.path.join(d, "server.csr"), os.path.join(d, "ext.cnf")
    san = ",".join(["DNS:" + n for n in names] + ["IP:" + i for i in ips])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=mailhook test CA", "-keyout", cakey, "-out", ca)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + names[0],
        "-keyout", key, "-out", csr)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    return ca, crt, key


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


def parse_multipart(req):
    """[(name, filename, content_type, data bytes)] of a form-data body."""
    ct = req["headers"].get("content-type", "")
    raw = b"Content-Type: " + ct.encode() + b"\r\n\r\n" + req["body"]
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    out = []
    for part in msg.iter_parts():
        out.append((part.get_param("name", header="content-disposition"),
                    part.get_filename(),
                    part.get("Content-Type"),
                    part.get_payload(decode=True) or b""))
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="scripted HTTP server")
    ap.add_argument("-p", "--port-file")
    ap.add_argument("-l", "--log")
    ap.add_argument("-s", "--script")
    ap.add_argument("-P", "--port", type=int, default=0)
    a = ap.parse_args(argv)
    scripts = {}
    if a.script:
        with open(a.script) as f:
            scripts = json.load(f)
    srv = HTTPServer(port=a.port, log=a.log, scripts=scripts).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    announce_port(a.port_file, srv.port)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

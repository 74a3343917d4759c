# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of the regress/smtpd tests: start obj/regress/smtp_harness,
talk raw SMTP, read the spool directory, print TAP lines."""

import glob
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

from mhtest import (BUILD, TOP, free_port, make_cert,  # noqa: E402,F401
                    wait_for)

HARNESS = os.path.join(BUILD, "regress", "smtp_harness")

failures = 0


def ok(cond, what):
    global failures
    if not cond:
        failures += 1
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    return cond


def done():
    sys.exit(1 if failures else 0)


def skip(why):
    print("skip: " + why)
    sys.exit(77)


ENH = re.compile(rb"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


def has_enhanced(line):
    return bool(ENH.match(line)) and line[0:1] == line[4:5]


class Harness:
    def __init__(self, listeners=("plain",), tls=False, args=()):
        if not os.access(HARNESS, os.X_OK):
            skip("no " + HARNESS + " (run make)")
        self.dir = tempfile.mkdtemp(prefix="mhsmtp.")
        self.logfile = os.path.join(self.dir, "harness.log")
        portfile = os.path.join(self.dir, "ports")
        cmd = [HARNESS, "-d", self.dir, "-p", portfile]
        if tls:
            self.cert, self.key = make_cert(self.dir, "mx.harness.test")
            cmd += ["-c", self.cert, "-k", self.key]
        for l in listeners:
            cmd += ["-L", l]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(self.logfile, "w"))
        wait_for(lambda: os.path.exists(portfile) or
                 self.proc.poll() is not None, 30)
        if not os.path.exists(portfile):
            print(open(self.logfile).read())
            raise RuntimeError("harness did not start")
        self.ports = [int(x) for x in open(portfile).read().split()]
        self.port = self.ports[0]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if failures == 0 and not os.environ.get("MH_KEEP"):
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("# harness dir kept: " + self.dir)

    def log(self):
        return open(self.logfile, "rb").read()

    def wait_log(self, pred, timeout=30):
        """The log's text once pred(text) holds, or as it is after timeout
        seconds: a session's lines come when the engine gets to them,
        which a loaded machine delays."""
        wait_for(lambda: pred(self.log().decode(errors="replace")), timeout)
        return self.log().decode(errors="replace")

    def envs(self):
        """committed envelopes: list of dicts (rcpts: list of dicts)"""
        out = []
        files = glob.glob(os.path.join(self.dir, "*.env"))
        files.sort(key=lambda f: (os.stat(f).st_mtime_ns, f))
        for f in files:
            e = {"rcpts": [], "file": f}
            cur = None
            for line in open(f, "rb").read().decode("utf-8").split("\n"):
                if not line:
                    continue
                k, _, v = line.partition(" ")
                if k == "rcpt":
                    cur = {"addr": v}
                    e["rcpts"].append(cur)
                elif k.startswith("rcpt-") and cur is not None:
                    cur[k[5:]] = v
                else:
                    e[k] = v
            e["msg"] = open(f[:-4] + ".msg", "rb").read()
            out.append(e)
        return out

    def count(self, ext):
        return len(glob.glob(os.path.join(self.dir, "*." + ext)))

    def stats(self):
        import json
        p = os.path.join(self.dir, "stats.json")
        if os.path.exists(p):
            os.unlink(p)
        self.proc.send_signal(signal.SIGUSR1)

        def written():
            # None until the harness has written it whole
            with open(p) as f:
                return json.load(f)
        return wait_for(written, 15)


# How long a Client waits for a reply or a close that must come: a
# loaded machine can take seconds, and it costs nothing when it comes at
# once.  A check that something does not come says how long it waits.
WAIT = 30


class Client:
    """A raw SMTP client on a socket (optionally TLS)."""

    def __init__(self, port, greet=True, tls=False, src=None, timeout=WAIT,
                 host="127.0.0.1"):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(src, 0) if src else None)
        self.buf = b""
        if tls:
            self.starttls_wrap()
        self.greeting = self.reply() if greet else None

    def starttls_wrap(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=WAIT):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        l, _, self.buf = self.buf.partition(b"\r\n")
        return l

    def reply(self, timeout=WAIT):
        """(code, [lines]) of one reply; code None on timeout/EOF"""
        lines = []
        try:
            while True:
                l = self.line(timeout)
                lines.append(l)
                if len(l) < 4 or l[3:4] != b"-":
                    break
        except (socket.timeout, EOFError, ConnectionError, ssl.SSLError):
            return (None, lines)
        try:
            return (int(lines[-1][:3]), lines)
        except ValueError:
            return (-1, lines)

    def cmd(self, c, timeout=WAIT):
        self.send(c + "\r\n" if isinstance(c, str) else c + b"\r\n")
        return self.reply(timeout)

    def silent(self, timeout=0.5):
        """True if nothing arrives within timeout"""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1)
        except socket.timeout:
            return True
        except (ConnectionError, ssl.SSLError):
            return False
        if d:
            self.buf += d
        return False

    def closed(self, timeout=WAIT):
        """True if the server closed the connection"""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def first(reply):
    return reply[1][0] if reply[1] else b""


def last(reply):
    return reply[1][-1] if reply[1] else b""

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Redis for the cluster tests (regress/e2e/cluster/): a real redis-server
(Debian's) on a free loopback port, and a hostile stand-in that answers
what a broken or foreign server would."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from mhtest import TOP, free_port, skip, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def relayd_script(name):
    """The Lua text of the script name of relayd/cluster.c (set_newer,
    take_one, ...), its C string literals joined and their escapes read:
    the script the nodes run, not a copy of it."""
    with open(os.path.join(TOP, "relayd", "cluster.c")) as f:
        src = f.read()
    m = re.search(r"\b%s\[\] =\n(.*?);\n" % re.escape(name), src, re.S)
    if m is None:
        raise RuntimeError("relayd/cluster.c has no script %s" % name)
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    return text.encode().decode("unicode_escape")


class Redis:
    """redis-server on 127.0.0.1; `password` makes it require AUTH, `tls`
    (ca, cert, key files) makes it speak TLS only."""

    def __init__(self, password=None, tls=None):
        if not os.access(REDIS_SERVER, os.X_OK):
            skip("redis-server not installed")
        self.port = free_port()
        self.password = password
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="mh-redis-")
        self.proc = None

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind",
                "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--daemonize", "no"]
        if self.tls:
            ca, cert, key = self.tls
            args[1:3] = ["--port", "0", "--tls-port", str(self.port),
                         "--tls-cert-file", cert, "--tls-key-file", key,
                         "--tls-ca-cert-file", ca, "--tls-auth-clients",
                         "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_for(lambda: self.cli("PING") == "PONG", 10):
            raise RuntimeError("redis-server did not start")
        return self

    def _cli(self):
        cmd = [REDIS_CLI, "-p", str(self.port), "--no-auth-warning"]
        if self.tls:
            cmd += ["--tls", "--cacert", self.tls[0]]
        if self.password:
            cmd += ["-a", self.password]
        return cmd

    def cli(self, *args):
        r = subprocess.run(self._cli() + list(args), capture_output=True,
                           text=True, timeout=10)
        return r.stdout.strip()

    def subscribe(self, channel):
        """A second listener on channel, as a node of any build listens:
        a Subscriber, subscribed once this returns."""
        return Subscriber(self, channel)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, password=None):
        pw = ":%s@" % password if password else ""
        return "redis%s://%s127.0.0.1:%d" % ("s" if self.tls else "", pw,
                                              self.port)


class Subscriber:
    """redis-cli SUBSCRIBE channel; messages() is what was published on
    it since, stop() ends it."""

    def __init__(self, redis, channel):
        self.out = tempfile.NamedTemporaryFile(prefix="mh-sub-", mode="w+")
        self.proc = subprocess.Popen(redis._cli() + ["SUBSCRIBE", channel],
                                     stdout=self.out,
                                     stderr=subprocess.DEVNULL)
        if not wait_for(lambda: self._lines()[:3] == ["subscribe", channel,
                                                      "1"], 10):
            self.stop()
            raise RuntimeError("redis-cli did not subscribe")

    def _lines(self):
        with open(self.out.name) as f:
            return f.read().split("\n")

    def messages(self):
        ln = self._lines()
        return [ln[i + 2] for i in range(len(ln) - 2)
                if ln[i] == "message"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.out.close()


def _bulk(s):
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


class FakeRedis:
    """A TCP server on a free port that plays a broken Redis:
    'garbage' answers anything with bytes that are not RESP, 'midreply'
    starts a bulk reply and closes, 'old' is a Redis 3.2 (too old),
    'silent' accepts and never answers, 'huge' answers INFO with a
    bulk string of 1 GB and sends it (256 MB of it, as far as the client
    reads), then closes; 'badauth' refuses AUTH with an error that is no
    UTF-8, 'badversion' is a Redis 7 whose version is no UTF-8, and
    'flap' is a Redis 7 that links and closes the connection at the
    first command after INFO and SUBSCRIBE, and 'longarray' answers INFO
    with an array of 2^31 - 1 elements, sends 3 of them and no more;
    'notint' is a Redis 7 (one answer to each command, pipelined or
    not) whose EVAL answers +OK, not the script's integer; 'manysmall'
    answers INFO with a whole array of 2^21 integers (8 MB sent, some
    150 MB in hiredis), then a Redis 7's INFO; 'endless' is a Redis 7
    (as 'notint', but EVAL answers :1) whose HSCAN never answers cursor 0:
    each page is empty, cursor 7 (self.hscans counts them)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sent = 0       # 'huge': the bytes of bulk sent, all told
        self.hscans = 0     # 'endless': the HSCANs answered
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _answer(self, data):
        if self.mode == "garbage":
            return b"\x00\x01 this is not redis \xff\r\n", False
        if self.mode == "midreply":
            return b"$100\r\nredis_vers", True
        if self.mode == "silent":
            return b"", False
        up = data.upper()
        if self.mode == "badauth" and b"AUTH" in up:
            return b"-WRONGPASS \xff\xfe caf\xc3\r\n", False
        if self.mode == "badversion" and b"INFO" in up:
            v = b"# Server\r\nredis_version:7.0.\xff\xfe\r\n"
            return b"$%d\r\n%s\r\n" % (len(v), v), False
        if self.mode == "manysmall" and b"INFO" in up:
            n = 1 << 21
            v = b"# Server\r\nredis_version:7.0.15\r\n"
            return (b"*%d\r\n" % n + b":1\r\n" * n +
                    b"$%d\r\n%s\r\n" % (len(v), v)), False
        if self.mode == "longarray" and b"INFO" in up:
            return b"*2147483647\r\n:1\r\n:1\r\n:1\r\n", False
        if self.mode == "flap" and b"INFO" not in up and \
                b"SUBSCRIBE" not in up:
            return b"", True
        if self.mode == "flap" and b"INFO" in up:
            return _bulk("# Server\r\nredis_version:7.0.15\r\n"), False
        if b"SUBSCRIBE" in up:
            return (b"*3\r\n" + _bulk("subscribe") + _bulk("mailhook:changes")
                    + b":1\r\n"), False
        if b"INFO" in up:
            return _bulk("# Server\r\nredis_version:3.2.1\r\n"), False
        return b"+OK\r\n", False

    @staticmethod
    def _commands(buf):
        """the complete RESP commands at the start of buf, the rest"""
        out = []
        while buf.startswith(b"*") and b"\r\n" in buf:
            head, rest = buf[1:].split(b"\r\n", 1)
            args = []
            for _ in range(int(head)):
                if not rest.startswith(b"$") or b"\r\n" not in rest:
                    return out, buf
                n, rest = rest[1:].split(b"\r\n", 1)
                if len(rest) < int(n) + 2:
                    return out, buf
                args.append(rest[:int(n)])
                rest = rest[int(n) + 2:]
            out.append(args)
            buf = rest
        return out, buf

    def _notint(self, cmd):
        name = cmd[0].upper() if cmd else b""
        if name == b"INFO":
            return _bulk("# Server\r\nredis_version:7.0.15\r\n")
        if name == b"SUBSCRIBE":
            return (b"*3\r\n" + _bulk("subscribe") +
                    _bulk(cmd[1].decode()) + b":1\r\n")
        if name in (b"HGETALL", b"HKEYS", b"ZRANGE", b"ZRANGEBYSCORE"):
            return b"*0\r\n"
        if name == b"HSCAN" and self.mode == "endless":
            self.hscans += 1
            return b"*2\r\n" + _bulk("7") + b"*0\r\n"
        if name == b"HSCAN":
            return b"*2\r\n" + _bulk("0") + b"*0\r\n"
        if name == b"EVAL" and self.mode == "endless":
            return b":1\r\n"
        if name in (b"EVAL", b"AUTH", b"SELECT", b"PING"):
            return b"+OK\r\n"
        return b":1\r\n"

    def _serve(self, c):
        if self.mode in ("notint", "endless"):
            self._serve_notint(c)
            return
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if self.mode == "huge" and b"INFO" in data.upper():
                    self._huge(c)
                    return
                out, close = self._answer(data)
                try:
                    if out:
                        c.sendall(out)
                except OSError:
                    return
                if close:
                    time.sleep(0.1)
                    return

    def _serve_notint(self, c):
        buf = b""
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                cmds, buf = self._commands(buf + data)
                try:
                    c.sendall(b"".join(self._notint(x) for x in cmds))
                except OSError:
                    return

    def _huge(self, c):
        chunk = b"x" * (1 << 20)
        try:
            c.sendall(b"$1073741824\r\n")
            for _ in range(256):
                c.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            pass

    def close(self):
        self.sock.close()

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of webd's end-to-end tests (regress/webd/test_*).

The real daemon (mhtest.Daemon) with an http listener and a tracking
block, aiosmtpd as the remote MX, a real unbound, a recording HTTP server
as the events endpoint (outlib), curl as the HTTP client, tokens minted
with the codec the daemon uses (obj/regress/tokenmint)."""
import os
import re
import socket
import subprocess
import sys
import time

from mhtest.outbound import (BUILD, RECORDS, DNSServer, HTTPServer, Sink,  # noqa: F401
                    Tap, check_log, conf, events_of, callbacks_of,
                    free_port, skip, start_daemon, submit, wait_for)

SECRET = "webd-test-secret-0123456789"
TOKENMINT = os.path.join(BUILD, "regress", "tokenmint")
HUMAN = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
         "Firefox/128.0")

if subprocess.run(["which", "curl"], capture_output=True).returncode != 0:
    skip("curl not installed")


def tracking_conf(web_port, hooks, read="2s", extra="", listen_extra=""):
    return conf(hooks, ("listen on 127.0.0.1 port %d http%s\n"
                        'tracking domain "sender.test" {\n'
                        '\turl "http://127.0.0.1:%d"\n'
                        "\tread %s\n"
                        '\tsecret "%s"\n'
                        "}\n" % (web_port, listen_extra, web_port, read,
                                 SECRET)) + extra)


def mint(kind, qid, rcpt, domain="sender.test", url=None, link=0,
         issued=None, secret=SECRET):
    args = [TOKENMINT, secret, kind, qid, rcpt, domain]
    if url is not None or issued is not None:
        args += [url or "", str(link)]
    if issued is not None:
        args.append(str(issued))
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    return r.stdout.strip()


def curl(url, *args, timeout=20):
    """(status, headers dict lower-case, body) of one request."""
    r = subprocess.run(["curl", "-s", "-S", "-i", "--max-time", str(timeout)]
                       + list(args) + [url], capture_output=True,
                       timeout=timeout + 10)
    out = r.stdout
    if not out:
        return 0, {}, b""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\S+ (\d+)", lines[0])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(m.group(1)) if m else 0, hdrs, body


def raw(port, data, timeout=10, want_close=True):
    """Send raw bytes, read until the server closes (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    end = time.time() + timeout
    try:
        while time.time() < end:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if not want_close and b"\r\n\r\n" in out:
                break
    except socket.timeout:
        pass
    s.close()
    return out


def queue_id_of(rec, path, rcpt):
    for e in events_of(rec, path):
        if e.get("kind") == "registration" and e.get("recipient") == rcpt:
            return e.get("queue_id")
    return None


def webd_pid(d):
    return d.pids().get("webd")

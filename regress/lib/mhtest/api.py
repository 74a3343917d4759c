# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of the JSON submission API tests (regress/e2e/api/).

The real daemon with an "api" listener and an "api keys" file whose keys
come from "mhctl api keygen", aiosmtpd as the remote MX, a real unbound,
a recording HTTP server as the events endpoint; the clients are
urllib (JSON), curl and the npm package cloudmailin."""
import json
import os
import subprocess
import urllib.error
import urllib.request

from mhtest.outbound import (BUILD, MHCTL, RECORDS, DNSServer, HTTPServer,  # noqa: F401
                             Sink, Tap, check_log, conf, events_of,
                             free_port, skip, start_daemon, submit, wait_for)


def keygen(name, *domains):
    """(key, line) from mhctl api keygen -j."""
    r = subprocess.run([MHCTL, "-j", "api", "keygen", name] + list(domains),
                       capture_output=True, text=True, check=True)
    j = json.loads(r.stdout)
    return j["key"], j["line"]


def api_conf(api_port, keyfile, hooks, extra=""):
    return conf(hooks, ("listen on 127.0.0.1 port %d api\n"
                        'api keys "%s"\n' % (api_port, keyfile)) + extra)


def write_keys(path, lines):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# name:sha256:domains\n" + "\n".join(lines) + "\n")


def post(port, body, key=None, path="/messages", ctype="application/json",
         headers=None, method="POST", timeout=60):
    """(status, parsed JSON or None, raw bytes) of one request."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, data = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    try:
        j = json.loads(data)
    except ValueError:
        j = None
    return status, j, data

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared bits for the authd script tests: run the authdtest helper."""
import json
import os
import subprocess
import sys
import tempfile

from mhtest import BUILD, check, done, skip  # noqa: E402,F401

AUTHDTEST = os.path.join(BUILD, "regress/authdtest")


def need_helper():
    if not os.access(AUTHDTEST, os.X_OK):
        skip("authdtest not built")


def write_conf(text, directory=None):
    fd, path = tempfile.mkstemp(prefix="mh-authd-", suffix=".conf",
                                dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run(conf, resolver, *args, timeout=60):
    """authdtest -f conf -R resolver args...; a list of JSON objects."""
    cmd = [AUTHDTEST, "-f", conf]
    if resolver:
        cmd += ["-R", resolver]
    r = subprocess.run(cmd + list(args), capture_output=True, text=True,
                       timeout=timeout)
    out = []
    for line in r.stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    if r.returncode != 0 or not out:
        print("# authdtest %s: rc %d %s" % (" ".join(args), r.returncode,
                                            r.stderr.strip()))
        return [{"error": r.stderr.strip()}]
    return out


def one(conf, resolver, *args, **kw):
    return run(conf, resolver, *args, **kw)[0]

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of the DKIM signing tests (regress/dkim/test_*).

Keys are made by "mhctl dkim keygen"; the DNS records they print are
served by a real unbound (mhtest.dnsserver).  The independent verifiers,
Debian's python3-dkim (dkimverify, dkimpy) and OpenDKIM's
opendkim-testmsg, take their DNS server from /etc/resolv.conf (port 53
only), so they run in a private mount and network namespace where a
second unbound serves the same records on 127.0.0.1:53 and a private
resolv.conf names it (verify_netns); nothing leaves the namespace.
"""
import json
import os
import subprocess
import sys

from mhtest import TOP
from mhtest.outbound import MHCTL  # noqa: E402

VERIFY = os.path.join(TOP, "regress", "e2e", "dkim", "verify_netns")


def keygen(keydir, domain, selector, kind):
    """mhctl dkim keygen: (key file, DNS record line, the whole reply)."""
    path = os.path.join(keydir, "%s.%s.key" % (selector, domain))
    r = subprocess.run([MHCTL, "-j", "dkim", "keygen", domain, selector,
                        kind, path], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("mhctl dkim keygen: " + r.stderr)
    j = json.loads(r.stdout)
    return path, j["record"], j


def record_data(line):
    """'name. IN TXT "a" "b"' -> a local-data record for mhtest.dnsserver."""
    name, _, rest = line.partition(" IN ")
    return "%s %s" % (name, rest)


def verify(records, files, timeout=120):
    """Run both verifiers on every file in the namespace: a dict
    file -> {"dkimverify": rc, "dkimpy": [bool per signature],
    "opendkim": [rc, output]}, or raises."""
    args = ["unshare", "-mn", "--", sys.executable, VERIFY,
            json.dumps(records)] + list(files)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("verify_netns rc %d: %s%s" % (r.returncode,
                                                          r.stdout, r.stderr))
    return json.loads(r.stdout)

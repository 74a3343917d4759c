# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Shared helpers of the hardening tests (regress/harden/test_*): each
runs the real daemon (mhtest.Daemon) and attacks it the way issue 20's
adversarial test did."""
import base64
import os
import re
import subprocess
import sys

from mhtest import (BUILD, Daemon, Tap, free_port, make_cert,  # noqa: F401
                    skip, wait_for)

CHILDREN = ("smtpd", "authd", "relayd", "hookd")


def need_root():
    if os.geteuid() != 0:
        skip("needs root (mailhookd drops privileges)")
    if not os.access(os.path.join(BUILD, "mailhookd"), os.X_OK):
        skip("mailhookd not built")


def whsec():
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def memory_has(pid, needles):
    """Which of the byte strings in needles occur anywhere in the
    readable memory of the process (read through /proc/PID/mem)."""
    found = set()
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or "[vvar]" in line or \
                    "[vsyscall]" in line:
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            for n in needles:
                if n not in found and n in chunk:
                    found.add(n)
    return found

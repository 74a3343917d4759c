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


def lowest_free_fd(pid):
    """The lowest descriptor number the process has free: with its soft
    RLIMIT_NOFILE there, it can open or receive no descriptor."""
    used = {int(n) for n in os.listdir("/proc/%d/fd" % pid)}
    n = 0
    while n in used:
        n += 1
    return n


def nofile_soft(pid, limit):
    """Set the soft RLIMIT_NOFILE of a running process (prlimit(1));
    returns the one it had.  A child's is set as its own user: prlimit(2)
    on another user's process needs CAP_SYS_RESOURCE, which root may lack
    in a container."""
    with open("/proc/%d/status" % pid) as f:
        st = f.read()
    uid = int(re.search(r"^Uid:\s+(\d+)", st, re.M).group(1))
    gid = int(re.search(r"^Gid:\s+(\d+)", st, re.M).group(1))
    with open("/proc/%d/limits" % pid) as f:
        old = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
    who = [] if uid == 0 else ["setpriv", "--reuid=%d" % uid,
                               "--regid=%d" % gid, "--clear-groups"]
    subprocess.run(who + ["prlimit", "--pid", str(pid),
                          "--nofile=%d:" % limit], check=True)
    return old

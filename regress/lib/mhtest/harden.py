"""Shared helpers of the hardening tests (regress/harden/test_*): each
runs the real daemon (mhtest.Daemon) and attacks it the way issue 20's
adversarial test did."""
import base64
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from mhtest import (BUILD, Daemon, Tap, free_port, skip,  # noqa: F401,E402
                    wait_for)

CHILDREN = ("smtpd", "authd", "relayd", "hookd")


def need_root():
    if os.geteuid() != 0:
        skip("needs root (mailhookd drops privileges)")
    if not os.access(os.path.join(BUILD, "mailhookd"), os.X_OK):
        skip("mailhookd not built")


def make_cert(d, cn="mx.test"):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:" + cn],
                   check=True, capture_output=True)
    return crt, key


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

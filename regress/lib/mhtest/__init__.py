# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""
mailhook end-to-end test support: start a real mailhookd with a generated
config in a temporary directory, talk to it with mhctl, stop it, and print
TAP-style checks ("ok - ..." / "not ok - ...") for regress/run.
"""
import fcntl
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("MH_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("MH_BUILD") or os.path.join(TOP, "obj")
MAILHOOKD = os.path.join(BUILD, "mailhookd")
MHCTL = os.path.join(BUILD, "mhctl")
# a sanitizer build (make sanitize builds obj-san): ASan's allocator adds
# redzones and keeps freed memory in quarantine (256 MB by default)
SANITIZED = "san" in os.path.basename(BUILD.rstrip("/"))


class Tap:
    """Counts checks; exit status 1 if any failed."""

    def __init__(self):
        self.failed = 0
        self.n = 0

    def ok(self, cond, what, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, what))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, what))
            if detail is not None:
                for line in str(detail).splitlines()[-30:]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what,
                       "got  %r\nwant %r" % (got, want))

    def done(self):
        sys.exit(1 if self.failed else 0)


def stop_process(p, timeout=5):
    """SIGTERM, then SIGKILL after timeout seconds; waits for the end."""
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def _port_range():
    """Ports outside the kernel's ephemeral range, so that no outgoing
    connection (a test's client, a daemon's) takes one as its source
    port between free_port() and the bind that follows."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if lo - 10000 >= 2000:
        return 10000, lo - 1
    return hi + 1, 65535


_PORT_LOCKS = {}
_PORT_LOCKDIR = os.path.join(tempfile.gettempdir(), "mhtest-ports")


def _port_claim(port):
    """Holds a lock on port for this process's life: another test
    process (a parallel run, a bench) skips it, and so does this one."""
    if port in _PORT_LOCKS:
        return False
    if not os.path.isdir(_PORT_LOCKDIR):
        os.makedirs(_PORT_LOCKDIR, exist_ok=True)
        try:
            os.chmod(_PORT_LOCKDIR, 0o1777)
        except OSError:
            pass
    try:
        fd = os.open(os.path.join(_PORT_LOCKDIR, str(port)),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _PORT_LOCKS[port] = fd
    return True


def _port_bindable(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, outside the
    ephemeral range and never handed out twice while this process or
    another test process that has it lives."""
    lo, hi = _port_range()
    for _ in range(200):
        port = random.randint(lo, hi)
        if _port_claim(port) and _port_bindable(port):
            return port
    raise RuntimeError("no free port")


def announce_port(port_file, port):
    """A server started as a program tells its port: in port_file
    (written whole, then renamed) or, without one, on stdout."""
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
    else:
        print(port, flush=True)


def make_cert(d, cn="localhost"):
    """A self-signed certificate for cn (also its subjectAltName) in
    directory d: (cert.pem, key.pem) paths."""
    crt, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn],
                   check=True, capture_output=True)
    return crt, key


def wait_for(pred, timeout=30.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception:
            pass
        time.sleep(step)
    return None


def best_of(measure, keeps, tries=3):
    """A time a promise bounds, measured up to `tries` times until one
    keeps it: a loaded machine can delay one measurement past the bound,
    a real regression misses it every time.  measure(k) is the k-th
    measurement (k from 0), keeps(m) whether it kept the promise.
    Returns (the one that kept it or None, all of them, to print)."""
    took = []
    for k in range(tries):
        took.append(measure(k))
        if keeps(took[-1]):
            return took[-1], took
    return None, took


def mkdirs(path, mode=0o755):
    """os.makedirs(path, exist_ok=True), each directory it makes given
    mode whatever the umask: under umask 077 os.makedirs makes 0700, a
    spool mailhookd refuses (its children read and search it)."""
    made = []
    p = os.path.abspath(path)
    while not os.path.isdir(p):
        made.append(p)
        p = os.path.dirname(p)
    for d in reversed(made):
        try:
            os.mkdir(d)
        except FileExistsError:
            if not os.path.isdir(d):
                raise
            continue
        os.chmod(d, mode)
    return path


def spool_open(path, mode="w", perm=0o644):
    """open(path, mode) for a file a test puts in a spool before the
    daemon starts, given perm whatever the umask: under umask 077 it
    would be 0600, root's, which the children cannot read."""
    f = open(path, mode)
    os.fchmod(f.fileno(), perm)
    return f


def secs(x):
    """Seconds as the checks print them: None is never, a list each."""
    if isinstance(x, (list, tuple)):
        return "[%s]" % ", ".join(secs(v) for v in x)
    return "never" if x is None else "%.3f s" % x


class Daemon:
    """
    A mailhookd under test.  `body` is config text appended after the
    generated header (hostname, spool, control, resolver); `{port}` and
    other {names} in it are filled from `ports`.
    """

    def __init__(self, body, smtp_port=None, resolver=None, env=None,
                 testing=True, header=True):
        self.dir = tempfile.mkdtemp(prefix="mh-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.control = os.path.join(self.dir, "run", "mhctl.sock")
        self.conf = os.path.join(self.dir, "mailhook.conf")
        self.logfile = os.path.join(self.dir, "mailhookd.log")
        self.smtp_port = smtp_port or free_port()
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.testing = testing
        self.proc = None
        head = ""
        if header:
            head = ('hostname "mx.test"\n'
                    'spool "%s"\n'
                    'control "%s"\n' % (self.spool, self.control))
            if resolver:
                head += "resolver %s port %d\n" % resolver
        self.text = head + body.replace("{smtp_port}", str(self.smtp_port))
        with open(self.conf, "w") as f:
            f.write(self.text)
        # as installed: mailhookd warns of a config others may read
        os.chmod(self.conf, 0o640)

    def start(self, wait=True, args=()):
        """args: more options of mailhookd ("-N", path)"""
        args = [MAILHOOKD, "-d", "-v", "-f", self.conf] + list(args)
        if self.testing:
            args.insert(1, "-X")
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait and not self.wait_ready():
            raise RuntimeError("mailhookd did not become ready:\n" +
                               self.logtext())
        return self

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                return False
            st = self.ctl("show", "status")
            return st and all(p.get("ready") for p in st["processes"])
        return wait_for(ready, timeout)

    def ctl(self, *args, user=None, raw=False):
        cmd = [MHCTL, "-j", "-s", self.control] + list(args)
        if user is not None:
            import pwd
            pw = pwd.getpwnam(user)
            cmd = ["setpriv", "--reuid=%d" % pw.pw_uid,
                   "--regid=%d" % pw.pw_gid, "--clear-groups"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        if raw:
            return r
        if r.returncode != 0 and not r.stdout:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def pids(self):
        st = self.ctl("show", "status")
        return {p["name"]: p["pid"] for p in st["processes"]}

    def logtext(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=30, since=0):
        """
        Wait for a line in the log: pattern is a regular expression (str
        or compiled) searched for from offset since, or a function of the
        log text from there that returns a true value.  Returns the match
        (or the function's value), None after timeout seconds.  A child's
        stderr lines leave at the end of its event loop's pass (log_buffer
        in common/log.c), a little after what it did became visible: read
        a line logged by an action through this, not logtext() at once.
        An absence ("X was not logged") is checked after waiting here for
        a later line of the pass, or the process, that would have logged X.
        """
        if callable(pattern):
            return wait_for(lambda: pattern(self.logtext()[since:]),
                            timeout)
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        return wait_for(lambda: rx.search(self.logtext(), since), timeout)

    def logsize(self):
        """The log's length so far, a since for wait_log."""
        return len(self.logtext())

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


class NotifyReceiver:
    """The service manager's end of the readiness protocol (sd_notify):
    a unix datagram socket bound to path, or to an abstract name given as
    "@name".  Each datagram is kept whole, as a list of (key, value)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)
        self.got = []

    def recv(self, timeout=15):
        """The next datagram as [(key, value), ...], None after timeout"""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        msg = [tuple(line.split("=", 1)) if "=" in line else (line, None)
               for line in data.decode(errors="replace").split("\n") if line]
        self.got.append(msg)
        return msg

    def close(self):
        self.sock.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except OSError:
                pass


def notify_get(msg, key):
    """The value of key in a datagram of NotifyReceiver, or None"""
    for k, v in msg or []:
        if k == key:
            return v
    return None


def proc_status(pid):
    """The fields of /proc/PID/status as a dict."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def zeros_only(path):
    """A pooled spool file (common/filepool.h) holds nothing but zeros, or
    nothing: no byte of what it held before."""
    with open(path, "rb") as f:
        return f.read().strip(b"\0") == b""


def rss_kb(pid):
    """A process's resident set size (VmRSS) in kB."""
    return int(proc_status(pid)["VmRSS"].split()[0])


def cpu_secs(pid):
    """CPU seconds of a process so far, all its threads: the scheduler's
    count in nanoseconds (/proc/PID/task/*/schedstat) where the kernel
    keeps it, else user + system time in clock ticks (/proc/PID/stat),
    which moves in 10 ms steps.  The first misses threads that exited;
    mailhook's threads live as long as their process."""
    try:
        ns = 0
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                ns += int(f.read().split()[0])
        if ns > 0:
            return ns / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                             text=True).stdout.split()
        return [int(x) for x in out]
    except OSError:
        return []


# module-level checks, for tests that need no Tap object
_fails = 0


def check(cond, what, detail=None):
    """Print "ok - what" or "not ok - what" (and the detail on failure)."""
    global _fails
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        _fails += 1
        if detail is not None:
            print("#   " + str(detail).replace("\n", "\n#   "), flush=True)
    return cond


def done():
    sys.exit(1 if _fails else 0)


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(77)

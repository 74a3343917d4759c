# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Durability order, checked from strace timestamps.

Every acknowledgement that promises durability must leave a process only
after a flush (fsync, fdatasync, syncfs) that started after the last
write it covers and ended before the acknowledgement:

  check_replies(smtpd, owner)   every "250 ... queued as ID" smtpd wrote
      for a message of that owner came after the owner (hookd for queue
      mode, relayd for relaying) flushed the message's data (after its
      commit began, before renaming ID.env into place) and flushed again
      after that rename;
  check_event_acks(hookd)       every event id hookd acknowledged to
      relayd (in an imsg: sendmsg) came after the event's files in hookd's
      event spool (its own e- file renamed into place, or its line
      appended to an s- segment) were in place and flushed;
  check_removals(relayd)        every message relayd removed after its
      delivery (unlink of ID.env, or its rename into relayd's pool of
      files for reuse, outbound/pool) was removed after the events about it
      in relayd's outbox were in place (renamed, for a file per event;
      written, for a line of the outbox journal) and flushed;
  check_failed_removals(relayd) and, if a flush of the journal with one
      of those events failed, after that journal was closed (acknowledged
      by hookd): a syncfs after a failed flush does not make it durable.

Traces come from `strace -f -ff -ttt -T -s 65536 -o PREFIX -p PID...`:
timed_calls() reads one file into [(start, end, syscall, text)].  Each
check returns (verified, violations).  Used by regress/bench/run and
regress/e2e/outbound/test_durability.
"""
import os
import re

TIMED = re.compile(r"^(\d+\.\d+)\s+(\w+)\((.*)<(\d+\.\d+)>\s*$")
FLUSHES = ("fsync", "fdatasync", "syncfs")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SENDS = ("write", "writev", "sendmsg", "sendto", "send")


def thread_names(pids):
    """{tid: process name} for every thread of each {name: pid} (strace
    -ff writes one file per thread: gsync's flusher thread, for one)."""
    out = {}
    for name, pid in pids.items():
        try:
            tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
        except OSError:
            tids = [pid]
        for tid in tids:
            out[tid] = name
    return out


def timed_calls(path):
    """[(start, end, syscall, text)] of one strace -ttt -T -o file"""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = TIMED.match(line)
            if m:
                t = float(m.group(1))
                out.append((t, t + float(m.group(4)), m.group(2),
                            m.group(3)))
    return out


def _flushed_between(flushes, after, before):
    return any(f[0] > after and f[1] < before for f in flushes)


def _renamed_to(args, name):
    """a rename*() call's arguments name name as the target: the second
    path, the last component"""
    paths = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
    return len(paths) >= 2 and paths[1].rsplit("/", 1)[-1] == name


def _checked_envelope(owner, mid, after, before):
    """the owner wrote an envelope for mid between after and before that
    records its data's check (data-check, hookd's CRC-32 of the file)"""
    return any(c[2] in ("write", "pwrite64", "writev") and
               after < c[0] and c[1] < before and
               re.search(r"\\nid %s\\n" % mid, c[3]) and
               re.search(r"\\ndata-check [1-9]", c[3]) for c in owner)


def check_replies(smtpd, owner):
    """For every "queued as ID" reply smtpd wrote: the owner flushed the
    message's data after its commit began and before renaming ID.env into
    place, and flushed again after that rename and before smtpd wrote the
    250.  The commit begins where relayd renames the message into its
    queue as ID.msg (the content final: its tracking step may have opened
    and rewritten it before), else where the owner first opens ID
    read-only (hookd).  An envelope that records the data's check
    (hookd's data-check: a crash before the flush leaves a file recovery
    finds does not match) needs no flush of its own before the rename:
    one flush after it, before the 250, covers both."""
    ok, bad = 0, []
    flushes = [c for c in owner if c[2] in FLUSHES]
    for t, _, name, text in smtpd:
        m = re.search(r"250 2\.0\.0 Ok: queued as ([0-9a-f]{8,})", text)
        if name not in SENDS or not m:
            continue
        mid = m.group(1)
        opened = [c[1] for c in owner if c[2].startswith("rename") and
                  _renamed_to(c[3], mid + ".msg")][:1] or \
            [c[0] for c in owner if c[2] in ("open", "openat") and
             re.search(r'"(?:[^"]*/)?%s", O_RDONLY' % mid, c[3])]
        # the renames that put ID.env in place (not those that take it
        # away later, into a spool's pool of files for reuse)
        env = [c[1] for c in owner if c[2].startswith("rename") and
               _renamed_to(c[3], mid + ".env") and c[1] < t]
        if not opened and not env:
            continue	# another owner's message: the caller counts
        if not opened or not env:
            bad.append("%s: commit not seen" % mid)
            continue
        data = [f for f in flushes if f[0] > opened[0] and f[1] < env[-1]]
        if not data and not _checked_envelope(owner, mid, opened[0],
                                              env[-1]):
            bad.append("%s: envelope before the data was flushed" % mid)
        elif not _flushed_between(flushes, env[-1], t):
            bad.append("%s: 250 before the envelope was flushed" % mid)
        else:
            ok += 1
    return ok, bad


# check_order: the name regress/bench/run has always used
check_order = check_replies


OPENED = re.compile(r'^\w+, "([^"]*)",.*\) = (\d+) $')
RENAMED = re.compile(r'^(?:\w+, )?"([^"]*)", (?:\w+, )?"([^"]*)"')


def _event_renames(hookd):
    """{event id: [end of each rename into place of a file holding it]}:
    an event file (e-TIME-ID.json, named by its one event) or a segment
    (s-TIME-ID.json) rewritten whole, whose temporary file got a write
    naming the event; or the end of the write that appended the event's
    line to its open segment (s-TIME-ID.json itself)."""
    fds, tmps, out = {}, {}, {}
    for _, end, name, text in sorted(hookd):
        if name in ("open", "openat"):
            m = OPENED.match(text)
            if m:
                fds[m.group(2)] = m.group(1)
        elif name == "write":
            path = fds.get(text.split(",", 1)[0])
            if path and "/tmp-" in path:
                tmps.setdefault(path, set()).update(re.findall(UUID, text))
            elif path and re.search(r"/s-\d+-%s\.json$" % UUID, path):
                # appended to the open segment: in place once written
                for eid in set(re.findall(UUID, text)):
                    out.setdefault(eid, []).append((end, path))
        elif name.startswith("rename"):
            m = RENAMED.match(text)
            if not m or not re.search(r"/[es]-\d+-%s\.json$" % UUID,
                                      m.group(2)):
                continue
            ids = tmps.pop(m.group(1), set())
            if m.group(2).split("/")[-1].startswith("e-"):
                ids.add(re.findall(UUID, m.group(2))[-1])
            for eid in ids:
                out.setdefault(eid, []).append((end, m.group(2)))
    return out


def check_event_acks(hookd):
    """For every event id in what hookd sent (its acknowledgements to
    relayd): each file of that event in the event spool was renamed into
    place, and a flush started after the last such rename and ended
    before the acknowledgement left."""
    ok, bad, seen = 0, [], set()
    flushes = [c for c in hookd if c[2] in FLUSHES]
    renames = _event_renames(hookd)
    for t, _, name, text in hookd:
        if name != "sendmsg":	# imsg; the events' HTTP POSTs use sendto
            continue
        for eid in re.findall(UUID, text):
            if eid in seen:
                continue
            seen.add(eid)
            ren = [end for end, _ in renames.get(eid, ()) if end < t]
            if not ren:
                bad.append("%s: acknowledged, never written" % eid)
            elif not _flushed_between(flushes, max(ren), t):
                bad.append("%s: acknowledged before its file was flushed"
                           % eid)
            else:
                ok += 1
    return ok, bad


def _in_place(relayd, eid, written, t):
    """when event eid was in place in relayd's outbox before t: the end
    of the rename of its own file, else of its journal write; None"""
    ren = [c[1] for c in relayd if c[2].startswith("rename") and
           c[0] < t and '"%s.json"' % eid in c[3]]
    if ren:
        return max(ren)
    w = written.get(eid)
    return w if w is not None and w < t else None


def _removed_env(name, text):
    """the message ID whose ID.env this call removes: an unlink, or a
    rename that takes it away (into a pool of files), else None"""
    if name == "unlinkat":
        m = re.search(r'"([0-9a-f]{16})\.env", 0\)', text)
        return m.group(1) if m else None
    if name.startswith("rename"):
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        if len(paths) >= 2:
            m = re.fullmatch(r"([0-9a-f]{16})\.env",
                             paths[0].rsplit("/", 1)[-1])
            if m and not _renamed_to(text, m.group(0)):
                return m.group(1)
    return None


def check_removals(relayd):
    """For every ID.env relayd unlinked or renamed away (into its pool):
    the outbox events about message ID (their JSON names it as queue_id)
    were in place before (a file per event renamed, or a line written to
    the outbox journal), and a flush started after the last of them and
    ended before the removal."""
    ok, bad = 0, []
    flushes = [c for c in relayd if c[2] in FLUSHES]
    about = {}	# queue id -> event ids written to the outbox
    written = {}	# event id -> end of its journal write
    for c in relayd:
        if c[2] in ("write", "pwrite64", "writev"):
            m = re.search(r'\\"id\\":\\"(%s)\\"' % UUID, c[3])
            q = re.search(r'\\"queue_id\\":\\"([0-9a-f]{16})\\"', c[3])
            if m and q:
                about.setdefault(q.group(1), set()).add(m.group(1))
                written.setdefault(m.group(1), c[1])
    for t, _, name, text in relayd:
        mid = _removed_env(name, text)
        if mid is None:
            continue
        evs = about.get(mid, set())
        ren = [_in_place(relayd, e, written, t) for e in evs]
        ren = [x for x in ren if x is not None]
        if not evs or not ren:
            bad.append("%s: removed, no event about it in the outbox" % mid)
        elif not _flushed_between(flushes, max(ren), t):
            bad.append("%s: removed before its events were flushed" % mid)
        else:
            ok += 1
    return ok, bad


def _file_ids(relayd):
    """for each call, (fd, generation): the open file its first
    descriptor argument names (a descriptor is reused once closed: each
    open or close of it starts a new generation)"""
    gen, out = {}, []
    for c in relayd:
        fd = re.split(r"[,)]", c[3], 1)[0].strip()
        out.append((fd, gen.get(fd, 0)))
        if c[2] == "close":
            gen[fd] = gen.get(fd, 0) + 1
        elif c[2] in ("open", "openat", "creat"):
            r = re.search(r"\)\s*= (\d+)", c[3])
            if r:
                gen[r.group(1)] = gen.get(r.group(1), 0) + 1
    return out


def _durable(f, w, t, flushed, made, relayd):
    """what was written to file f by w is on disk by t: an fsync of f
    between the two, and if f was made in the trace, its directory
    flushed (fsync of it, or a syncfs) after that and before t"""
    if not any(w < a and b < t for a, b in flushed.get(f, ())):
        return False
    if f not in made:
        return True
    d, m = made[f]
    return any(m < a and b < t for a, b in flushed.get(d, ())) or any(
        c[2] == "syncfs" and m < c[0] and c[1] < t and
        re.search(r"\)\s*= 0", c[3]) for c in relayd)


def check_failed_removals(relayd):
    """For every ID.env relayd removed (as check_removals): if a flush of
    the journal holding an event about ID failed after the event was
    written (fsync or fdatasync of that open file returned an error; not
    if a flush that succeeded covered it before: a syncfs, or a flush of
    that file, started after the write and ended before the failure), that
    journal was closed before the removal, and if the event was copied
    since to another journal (relayd copies the unacknowledged events of
    a journal whose flush failed, outbox.c jcopy), a copy was flushed by
    an fsync or fdatasync of its own file before the removal (else it was
    closed once hookd had acknowledged all its events); or a copy was so
    flushed before the removal (and the directory of a copy the trace
    saw made, since it was made), the journal still open; or the removal
    followed the first syncfs after the failure, before the next one: the
    kernel reports the writeback error to that syncfs too (its
    superblock's error, once; a syncfs under way as the flush failed
    waits for the same writeback, and counts as that first one), so the
    group commit that removes the file fails and keeps it (gsync);
    under strace's injected EIO, which does not reach the page cache,
    that syncfs succeeds instead.  A removal after a later syncfs ended,
    the journal still open, is a violation: that one would have
    succeeded (one under way may not be its: gsync's releaser thread
    removes a batch's files after its flush, maybe once the next one has
    begun).
    Descriptors are told apart by open file (_file_ids), as relayd reuses
    them.  (removals checked, violations)"""
    ok, bad = 0, []
    ids = _file_ids(relayd)
    lines = {}		# queue id -> [(end of the journal write, file, id)]
    copies = {}		# event id -> [(end of the write, file)]
    fails, flushed, closed = {}, {}, {}
    made, gen = {}, {}	# file -> (its directory, when it was created)
    for c, f in zip(relayd, ids):
        if c[2] == "close":
            gen[f[0]] = gen.get(f[0], 0) + 1
        elif c[2] in ("open", "openat", "creat"):
            r = re.search(r"\)\s*= (\d+)", c[3])
            if r:
                gen[r.group(1)] = gen.get(r.group(1), 0) + 1
                if c[2] == "openat" and "O_CREAT" in c[3]:
                    made[(r.group(1), gen[r.group(1)])] = (f, c[1])
        if c[2] in ("write", "pwrite64", "writev"):
            q = re.search(r'\\"queue_id\\":\\"([0-9a-f]{16})\\"', c[3])
            e = re.search(r'\\"id\\":\\"(%s)\\"' % UUID, c[3])
            if q and e:
                lines.setdefault(q.group(1), []).append((c[1], f, e.group(1)))
                copies.setdefault(e.group(1), []).append((c[1], f))
        elif c[2] in ("fsync", "fdatasync"):
            if re.search(r"\)\s*= -1", c[3]):
                fails.setdefault(f, []).append(c[0])
            elif re.search(r"\)\s*= 0", c[3]):
                flushed.setdefault(f, []).append((c[0], c[1]))
        elif c[2] == "close":
            closed.setdefault(f, c[1])
    for t, _, name, text in relayd:
        mid = _removed_env(name, text)
        if mid is None:
            continue
        why = None
        for w, f, eid in lines.get(mid, ()):
            fs = [x for x in fails.get(f, ()) if w < x < t]
            if not fs:
                continue
            first = min(fs)
            # flushed before the failure (a syncfs, or a flush of that
            # file, after the write that succeeded and ended before it):
            # the failure is of pages written back later
            if any(w < a and b < first for a, b in flushed.get(f, ())) or \
                    any(c[2] == "syncfs" and w < c[0] and c[1] < first and
                        re.search(r"\)\s*= 0", c[3]) for c in relayd):
                continue
            later = [(w2, f2) for w2, f2 in copies.get(eid, ())
                     if f2 != f and first < w2 < t]
            # a copy flushed by an fsync of its own (and its directory
            # since it was made): durable, the failed journal closed or
            # not
            if any(_durable(f2, w2, t, flushed, made, relayd)
                   for w2, f2 in later):
                continue
            if first < closed.get(f, t) < t:
                if not later:
                    continue
                why = "before the copy of its events was flushed"
                continue
            # (start, end); a batch's files are removed after its
            # syncfs, on gsync's releaser thread: maybe once the next
            # syncfs has begun, never before it ended
            syncs = sorted((c[0], c[1]) for c in relayd
                           if c[2] == "syncfs" and c[1] > first)
            if not (syncs and syncs[0][0] < t and
                    (len(syncs) == 1 or syncs[1][1] > t)):
                why = ("while a journal with its events, whose flush "
                       "failed, was still open")
        if why is None:
            ok += 1
        else:
            bad.append("%s: removed %s" % (mid, why))
    return ok, bad


def _journal_flush(c, fds):
    """c flushes an outbox journal line written to one of fds: a syncfs,
    or an fsync or fdatasync of that descriptor (not of another file,
    which leaves the journal's data where it was), that succeeded"""
    if not re.search(r"\)\s*= 0\s*$", c[3]):
        return False
    if c[2] == "syncfs":
        return True
    return c[2] in ("fsync", "fdatasync") and c[3].split(")", 1)[0] in fds


def check_updates(relayd, suppress=False):
    """For every rewrite of ID.env relayd renamed into place: each outbox
    event about message ID (a journal line naming it as queue_id) written
    before it was flushed (a syncfs, or an fsync of the journal, started
    after the line was written) before the rename, or, if its journal's
    flush failed, a copy of that line written later to another journal
    (outbox.c jcopy) was flushed so.  A recipient's final
    state on disk before its event would lose the event at a power loss
    between the two, as the recipient is not tried again.  The same for
    every change of the suppression list (outbound/suppress renamed into
    place, or outbound/suppress.log opened for a line appended) and every
    event written before it, with suppress: a recipient suppressed before
    its bounce event is durable is failed as suppressed after the
    restart."""
    ok, bad = 0, []
    lines = {}		# queue id -> [(end of the journal write, fd, id)]
    copies = {}		# event id -> [(end of the write, fd)]
    for c in relayd:
        if c[2] in ("write", "pwrite64", "writev"):
            m = re.search(r'\\"id\\":\\"(%s)\\"' % UUID, c[3])
            q = re.search(r'\\"queue_id\\":\\"([0-9a-f]{16})\\"', c[3])
            if m and q:
                fd = c[3].split(",", 1)[0]
                lines.setdefault(q.group(1), []).append(
                    (c[1], fd, m.group(1)))
                copies.setdefault(m.group(1), []).append((c[1], fd))
    for t, _, name, text in relayd:
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        if name.startswith("rename"):
            target = paths[1].rsplit("/", 1)[-1] if len(paths) >= 2 else ""
        elif name == "openat" and paths and \
                paths[0].rsplit("/", 1)[-1] == "suppress.log":
            target = "suppress"
        else:
            continue
        m = re.fullmatch(r"([0-9a-f]{16})\.env", target)
        if suppress != (target == "suppress"):
            continue
        if target == "suppress":
            what = "suppress"
            before = [w for ws in lines.values() for w in ws if w[0] < t]
        elif m:
            what = m.group(1)
            before = [w for w in lines.get(what, ()) if w[0] < t]
        else:
            continue
        if not before:
            continue
        def flushed(w, fd):
            return any(_journal_flush(c, (fd,)) and c[0] > w and c[1] < t
                       for c in relayd)
        # a line whose flush failed counts once a later copy of its
        # event (outbox.c jcopy) was flushed
        unflushed = [w for w, fd, e in before if not flushed(w, fd) and
                     not any(flushed(w2, fd2)
                             for w2, fd2 in copies.get(e, ())
                             if w < w2 < t)]
        if unflushed:
            bad.append("%s: rewritten before %d of the events before it "
                       "were flushed" % (what, len(unflushed)))
        else:
            ok += 1
    return ok, bad

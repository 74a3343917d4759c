# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""Outbound scenarios: the relay load (mailhook or Postfix to smtp-sink)
and tracking on against off."""
import functools
import os

from benchlib import (FROM, TRACKED, children_cpu, cpu_secs, mh_pids, rate,
                      ratio, send_and_count, smtplat_source)


def run_relay(ctx, port, n, msgfile=None, sender=FROM, cpu=False,
              numbered=False):
    """cpu: also each mailhook process's CPU milliseconds per message
    (user + system, every thread, from /proc): what a message costs,
    which a loaded machine does not change the way it changes msg/s.
    numbered: sent by benchtool smtplat, msgfile's @SEQNUM@ numbered in
    each message (html_message's numbered)."""
    pids = mh_pids(ctx.daemon) if cpu else {}
    c0 = {k: cpu_secs(p) for k, p in pids.items()}
    kw = {"source": functools.partial(smtplat_source, ctx.tool)} \
        if numbered else {}
    secs, delivered = send_and_count(port, n, "rcpt@remote.test",
                                     ctx.sink.count, "relay",
                                     msgfile=msgfile, sender=sender, **kw)
    r = {"msgs": n, "accept_secs": round(secs, 3),
         "accepted_rate": rate(n, secs),
         "deliver_secs": round(delivered, 3),
         "delivered_rate": rate(n, delivered)}
    if pids:
        r["cpu_ms_per_msg"] = {k: round((cpu_secs(p) - c0[k]) * 1000 / n,
                                        3) for k, p in pids.items()}
    return r


def html_message(path, sender, numbered=False):
    """About SIZE bytes: text/plain and a quoted-printable text/html with
    12 links (10 of them http(s)), From: sender; LF line ends (smtp-source
    -F sends each line with CRLF).  numbered: the heading and each link
    hold benchtool's @SEQNUM@, so that every message's HTML differs, and
    the lines end with CRLF, dot-stuffed (benchtool sends them as they
    are)."""
    import quopri
    mark = "@SEQNUM@/" if numbered else ""
    links = "".join('<p>Item %d: <a href="https://shop.example.org/%sitem/%d'
                    '?utm_source=mail&amp;id=%d">see it</a></p>\n' %
                    (i, mark, i, i) for i in range(10))
    html = ("<!DOCTYPE html>\n<html><head><title>News</title></head>\n"
            "<body>\n<h1>This week %s</h1>\n" % mark + links +
            '<p><a href="mailto:help@bench.test">help</a> '
            '<a href="#top">top</a></p>\n' +
            "<p>%s</p>\n</body>\n</html>\n" % ("Lorem ipsum dolor. " * 80))
    text = "This week: ten items, see https://shop.example.org/.\n" * 10
    msg = ("From: News <%s>\nTo: rcpt@remote.test\nSubject: News\n"
           "MIME-Version: 1.0\nContent-Type: multipart/alternative; "
           "boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n%s"
           "--b\nContent-Type: text/html; charset=utf-8\n"
           "Content-Transfer-Encoding: quoted-printable\n\n" %
           (sender, text)) + quopri.encodestring(html.encode()).decode() + \
        "\n--b--\n"
    if numbered:
        if msg.count("@SEQNUM@") != 11:
            raise RuntimeError("a @SEQNUM@ was split by a soft line break")
        msg = "".join(("." if ln.startswith(".") else "") + ln + "\r\n"
                      for ln in msg.split("\n")[:-1])
    with open(path, "w", newline="") as f:
        f.write(msg)
    return len(msg)


def run_tracking(ctx, port, n):
    """The same HTML message from an untracked and a tracked domain,
    alternating off, on three times: delivered/s of each, the ratio of
    the totals and of each pair (the spread on a shared machine).  Then
    the same with every message's HTML different (distinct_off,
    distinct_on): relayd keeps the plans of the last documents it parsed,
    which the same message reuses.  The distinct ones differ by a number
    (@SEQNUM@), as a personalised campaign's copies differ, so relayd
    moves a kept plan to them unparsed (tracking change 6 of
    doc/performance.md); documents whose markup differs are parsed."""
    off = os.path.join(ctx.dir, "html-off.eml")
    on = os.path.join(ctx.dir, "html-on.eml")
    size = html_message(off, FROM)
    html_message(on, "news@" + TRACKED)
    files = {"off": (off, FROM), "on": (on, "news@" + TRACKED),
             "distinct_off": (os.path.join(ctx.dir, "html-n-off.eml"), FROM),
             "distinct_on": (os.path.join(ctx.dir, "html-n-on.eml"),
                             "news@" + TRACKED)}
    for kind in ("distinct_off", "distinct_on"):
        html_message(files[kind][0], files[kind][1], numbered=True)
    runs = {k: [] for k in files}
    pids = dict(mh_pids(ctx.daemon), sink=ctx.sink.proc.pid)
    for kind in ("off", "on") * 3 + ("distinct_off", "distinct_on") * 3:
        c0 = {k: cpu_secs(p) for k, p in pids.items()}
        g0 = children_cpu()
        r = run_relay(ctx, port, n, msgfile=files[kind][0],
                      sender=files[kind][1],
                      numbered=kind.startswith("distinct"))
        r["cpu"] = {k: round((cpu_secs(p) - c0[k]) * 1000 / n, 3)
                    for k, p in pids.items()}
        r["cpu"]["client"] = round((children_cpu() - g0) * 1000 / n, 3)
        runs[kind].append(r)
    out = {"msgs": n, "msg_bytes": size}
    for kind, rs in runs.items():
        out[kind] = {"delivered_rate": [r["delivered_rate"] for r in rs],
                     "accepted_rate": [r["accepted_rate"] for r in rs],
                     "relayd_cpu_ms_per_msg": [r["cpu"]["relayd"]
                                               for r in rs],
                     "cpu_ms_per_msg": {k: [r["cpu"][k] for r in rs]
                                        for k in rs[0]["cpu"]}}
        secs = sum(r["deliver_secs"] for r in rs)
        out[kind]["delivered_rate_all"] = rate(n * len(rs), secs)
    pairs = [ratio(b, a) for a, b in zip(out["off"]["delivered_rate"],
                                         out["on"]["delivered_rate"])]
    out["pair_ratios"] = pairs
    out["distinct_pair_ratios"] = [
        ratio(b, a) for a, b in zip(out["distinct_off"]["delivered_rate"],
                                    out["distinct_on"]["delivered_rate"])]
    return out


# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The JSON submission API against SMTP submission of the same message
(issue 18): accepted/s of each, alternating, into the same relay queue;
both must reach smtp-sink."""
import json
import os
import subprocess

from benchlib import (BUILD, FROM, SENDERS, SIZE, cpu_secs, mh_pids, rate,
                      ratio, wait_count)


def api_setup(d):
    """(key, keys file) of an API key for the bench's sender domain"""
    r = subprocess.run([os.path.join(BUILD, "mhctl"), "-j", "api", "keygen",
                        "bench", FROM.split("@")[1]],
                       capture_output=True, text=True, check=True)
    j = json.loads(r.stdout)
    path = os.path.join(d, "api-keys")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(j["line"] + "\n")
    return j["key"], path


def api_message(d):
    """the JSON of a message like benchtool's SMTP one: SIZE bytes of
    76-character lines"""
    lines = "".join(chr(ord("a") + i % 26) * 76 + "\n"
                    for i in range(SIZE // 78 + 1))
    path = os.path.join(d, "api-message.json")
    with open(path, "w") as f:
        json.dump({"from": FROM, "to": ["rcpt@remote.test"],
                   "subject": "bench", "plain": lines}, f)
    return path


def load(ctx, kind, n):
    """accepted/s of n messages by SMTP (benchtool smtplat: a session per
    message, as smtp-source) or by the API (keep-alive, as HTTP clients
    do), each over SENDERS connections"""
    if kind in ("api", "api_idem"):
        args = ["apiload", str(ctx.api_port), str(SENDERS), str(n),
                ctx.api_json, ctx.api_key] + (["idem"] if kind ==
                                              "api_idem" else [])
    else:
        args = ["smtplat", str(ctx.daemon.smtp_port), str(SENDERS), str(n),
                str(SIZE), FROM, "rcpt@remote.test"]
    r = subprocess.run([ctx.tool] + args, capture_output=True, text=True,
                       timeout=900)
    res = json.loads(r.stdout)
    if res["errors"] or res["ok"] != n:
        raise RuntimeError("%s: %s" % (kind, r.stdout))
    return res


ROUNDS = 4


def run_api(ctx, n):
    """SMTP, then the API, then the API with an Idempotency-Key per
    request (api_idem), ROUNDS times, into the relay queue; every message
    must reach the sink.  The goal: API accepted/s >= SMTP's, over all
    rounds; each pair's ratio shows the spread."""
    out = {"msgs": n, "smtp": [], "api": [], "api_idem": []}
    kinds = ("smtp", "api", "api_idem")
    c0 = ctx.sink.count()
    pids = mh_pids(ctx.daemon)
    cpu = {k: {} for k in kinds}
    for kind in kinds * ROUNDS:
        b = {k: cpu_secs(p) for k, p in pids.items()}
        res = load(ctx, kind, n)
        for k, p in pids.items():
            cpu[kind][k] = cpu[kind].get(k, 0) + cpu_secs(p) - b[k]
        out[kind].append(res["rate"])
        out[kind + "_secs"] = out.get(kind + "_secs", 0) + res["secs"]
    # each process's CPU ms per message accepted (user + system; the
    # deliveries that overlap a round are counted in it too)
    for kind in kinds:
        out[kind + "_cpu_ms_per_msg"] = {
            k: round(v * 1000 / (ROUNDS * n), 3)
            for k, v in cpu[kind].items() if v > 0}
    if wait_count(lambda: ctx.sink.count() - c0, len(kinds) * ROUNDS * n,
                  300) is None:
        raise RuntimeError("api: the sink got %d of %d" %
                           (ctx.sink.count() - c0, len(kinds) * ROUNDS * n))
    for kind in kinds:
        out[kind + "_rate"] = rate(ROUNDS * n, out[kind + "_secs"])
    out["api_vs_smtp"] = ratio(out["api_rate"], out["smtp_rate"])
    out["api_idem_vs_smtp"] = ratio(out["api_idem_rate"], out["smtp_rate"])
    out["pair_ratios"] = [ratio(a, s) for s, a in zip(out["smtp"],
                                                      out["api"])]
    return out

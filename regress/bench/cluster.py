# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The cluster scenario (issue 19): the relay load with every message
taking one unit of a sender-domain allowance, on a node that shares it
through a redis-server and on one that keeps it alone, alternating; and
what Redis spends per message (its CPU from /proc, its commands from
INFO commandstats), which says how many messages per second one Redis
core could carry for many nodes."""
import re

from mhtest.cluster import Redis
from benchlib import BenchDaemon, cpu_secs, daemon_config, rate, ratio
from relay import run_relay

ROUNDS = 2
# high enough never to hold a message: only the cost is measured
LIMIT = 'limit sender-domain "bench.test" rate 100000000 per minute\n'


def commands(redis):
    """calls of every command so far (INFO commandstats)"""
    return sum(int(x) for x in re.findall(r"calls=(\d+)",
                                          redis.cli("INFO",
                                                    "commandstats")))


def run_cluster(ctx, dns_port, n):
    redis = Redis().start()
    block = 'cluster {\n\tredis "%s"\n\tnode "bench"\n}\n' % redis.url()
    solo = BenchDaemon(daemon_config(ctx) + LIMIT,
                       resolver=("127.0.0.1", dns_port)).start()
    node = BenchDaemon(daemon_config(ctx) + LIMIT + block,
                       resolver=("127.0.0.1", dns_port)).start()
    out = {"msgs": n, "solo": [], "cluster": []}
    secs = {"solo": 0.0, "cluster": 0.0}
    cpu = cmds = 0.0
    try:
        if not node.ctl("show", "cluster")["cluster"]["link"] == "up":
            raise RuntimeError("the bench node did not link to redis")
        for kind in ("solo", "cluster") * ROUNDS:
            d = solo if kind == "solo" else node
            c0, k0 = cpu_secs(redis.proc.pid), commands(redis)
            r = run_relay(ctx, d.smtp_port, n)
            if kind == "cluster":
                cpu += cpu_secs(redis.proc.pid) - c0
                cmds += commands(redis) - k0
            out[kind].append(r["delivered_rate"])
            secs[kind] += r["deliver_secs"]
        st = node.ctl("show", "cluster")["cluster"]
        if st.get("fallbacks"):
            raise RuntimeError("the node fell back to local state %d "
                               "times" % st["fallbacks"])
    finally:
        solo.stop()
        node.stop()
        redis.stop()
    m = n * ROUNDS
    for kind in ("solo", "cluster"):
        out[kind + "_rate"] = rate(m, secs[kind])
    out["cluster_vs_solo"] = ratio(out["cluster_rate"], out["solo_rate"])
    out["redis_cpu_us_per_msg"] = round(cpu / m * 1e6, 1)
    out["redis_commands_per_msg"] = round(cmds / m, 2)
    out["redis_core_msgs_per_sec"] = round(m / cpu) if cpu > 0 else 0
    return out

# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""The ratios and goals computed from a run's results, and the table
printed at the end."""
import outbound
from benchlib import SENDERS, SIZE, ratio


def nums(xs, fmt="%g"):
    """a run's figures on one line"""
    return " ".join(fmt % x for x in xs)


def order_ok(fs, path):
    """every accepted message checked, none out of order"""
    p = fs.get(path, {}) if fs.get("checked") else {}
    return p.get("order_verified", 0) == p.get("msgs", -1) and \
        not p.get("order_violations")


def compute_ratios(res):
    g = lambda k, f: res.get(k, {}).get(f, 0)  # noqa: E731
    ceil = g("ceiling", "rate")
    r = {
        "sync_vs_ceiling": ratio(g("inbound_sync", "rate"), ceil),
        "sync_dkim_vs_sync_plain": ratio(g("inbound_sync_dkim", "dkim_rate"),
                                         g("inbound_sync_dkim",
                                           "plain_rate")),
        "queue_accept_vs_ceiling": ratio(g("inbound_queue",
                                           "accepted_rate"), ceil),
        "queue_drain_vs_accept": ratio(g("inbound_queue", "drained_rate"),
                                       g("inbound_queue", "accepted_rate")),
        "relay_accept_vs_ceiling": ratio(g("relay", "accepted_rate"), ceil),
        "relay_deliver_vs_ceiling": ratio(g("relay", "delivered_rate"),
                                          ceil),
        "postfix_deliver_vs_ceiling": ratio(g("postfix_relay",
                                              "delivered_rate"), ceil),
        "relay_accept_vs_postfix": ratio(g("relay", "accepted_rate"),
                                         g("postfix_relay",
                                           "accepted_rate")),
        "relay_deliver_vs_postfix": ratio(g("relay", "delivered_rate"),
                                          g("postfix_relay",
                                            "delivered_rate")),
        "queue_accept_vs_postfix": ratio(g("inbound_queue",
                                           "accepted_rate"),
                                         g("postfix_relay",
                                           "accepted_rate")),
    }
    tr = res.get("tracking", {})
    if tr:
        r["relay_tracking_on_vs_off"] = ratio(
            tr["on"]["delivered_rate_all"], tr["off"]["delivered_rate_all"])
        if "distinct_on" in tr:
            r["relay_tracking_distinct_on_vs_off"] = ratio(
                tr["distinct_on"]["delivered_rate_all"],
                tr["distinct_off"]["delivered_rate_all"])
    w = res.get("whatif_nofsync", {})
    if "relay" in w:
        r["whatif_sync_vs_ceiling"] = ratio(w["inbound_sync"]["rate"], ceil)
        r["whatif_relay_deliver_vs_postfix"] = ratio(
            w["relay"]["delivered_rate"],
            g("postfix_relay", "delivered_rate"))
    sp = res.get("dkim_speed", {})
    r["dkim_relay_vs_postfix_opendkim"] = ratio(
        g("dkim_relay_rsa", "delivered_rate"),
        g("postfix_dkim_relay", "delivered_rate"))
    r["dkim_relay_vs_unsigned_relay"] = ratio(
        g("dkim_relay_rsa", "delivered_rate"), g("relay", "delivered_rate"))
    for kind, alg in (("rsa", "rsa2048"), ("ed25519", "ed25519")):
        per_sig = g("dkim_relay_" + kind, "signer_cpu_per_sig_us")
        ops = sp.get("openssl_%s_sign_per_sec" % alg, 0)
        r["signer_%s_cpu_vs_openssl" % kind] = ratio(
            per_sig, 1e6 / ops if ops else 0)
    res["ratios"] = r
    mem = res.get("memory", {})
    fs = res.get("fsync", {})
    res["goals"] = {
        "relay_3x_postfix": r["relay_deliver_vs_postfix"] >= 3.0,
        "relay_250_after_fsync": order_ok(fs, "relay"),
        "queue_250_after_fsync": order_ok(fs, "queue"),
        "sync_50pct_ceiling": r["sync_vs_ceiling"] >= 0.50,
        "sync_p99_under_20ms":
            0 < res.get("inbound_sync", {}).get("latency", {}).get(
                "p99_ms", 0) < 20,
        "queue_35pct_ceiling": r["queue_accept_vs_ceiling"] >= 0.35,
        # drained/s counts from the first 250 to the last POST, accepted/s
        # to the last 250: equal when the POSTs keep up; 5% for the tail
        "queue_drain_keeps_up": r["queue_drain_vs_accept"] >= 0.95,
        "sync_dkim_85pct_plain": r["sync_dkim_vs_sync_plain"] >= 0.85,
        "idle_session_under_16k":
            0 < mem.get("total_bytes_per_session", 0) < 16384,
    }
    idle = res.get("idle_sessions")
    if idle:
        res["goals"]["idle_10k_sessions_16k_100ms"] = \
            idle["live_sessions"] >= 10000 and \
            0 < idle["smtpd_bytes_per_session"] < 16384 and \
            idle["new_banner_max_ms"] < 100 and idle["new_tx_max_ms"] < 100
    if "clicks" in res:
        r["clicks_webd_vs_nginx"] = res["clicks"]["webd_vs_nginx"]
        r["clicks_durable_webd_vs_nginx"] = \
            res["clicks"]["webd_events_vs_nginx"]
        res["goals"]["clicks_50pct_nginx"] = r["clicks_webd_vs_nginx"] >= 0.5
        res["goals"]["clicks_durable_50pct_nginx"] = \
            r["clicks_durable_webd_vs_nginx"] >= 0.5
    if "cluster" in res:
        r["relay_cluster_vs_local"] = res["cluster"]["cluster_vs_solo"]
    if "api" in res:
        r["api_accept_vs_smtp"] = res["api"]["api_vs_smtp"]
        res["goals"]["api_at_least_smtp"] = r["api_accept_vs_smtp"] >= 1.0
    if "relay_tracking_on_vs_off" in r:
        res["goals"]["relay_tracking_80pct"] = \
            r["relay_tracking_on_vs_off"] >= 0.80 and \
            r.get("relay_tracking_distinct_on_vs_off", 0) >= 0.80
    outbound.ratios(res, r)
    if "dkim_relay_rsa" in res:
        res["goals"].update({
            "dkim_relay_3x_postfix_opendkim":
                r["dkim_relay_vs_postfix_opendkim"] >= 3.0,
            "signer_rsa_within_1.5x_openssl":
                0 < r["signer_rsa_cpu_vs_openssl"] <= 1.5,
            "signer_ed25519_within_1.5x_openssl":
                0 < r["signer_ed25519_cpu_vs_openssl"] <= 1.5})


def report(res):
    def row(name, msgs, a, b=None, note=""):
        print("%-34s %7s %11s %11s  %s" % (
            name, msgs, a if a is not None else "-",
            b if b is not None else "-", note))

    print()
    print("mailhook bench (%s, %s; cpus %s, %d senders, %d-byte messages, "
          "a session per message)" % (res["mode"], res["timestamp"],
                                      res["host"]["cpus"], SENDERS, SIZE))
    print("%-34s %7s %11s %11s" % ("scenario", "msgs", "msg/s", "done/s"))
    print("-" * 72)
    if "ceiling" in res:
        c = res["ceiling"]
        row("smtp-sink alone (wire ceiling)", c["msgs"], c["rate"])
    if "http_target" in res:
        c = res["http_target"]
        row("HTTP target alone (POST/s)", c["msgs"], c["rate"])
    if "disk" in res:
        c = res["disk"]
        row("spool fs: 4K write+fsync", c["msgs"], c["fsync_rate_1"],
            c["fsync_rate_16"], "1 thread / 16 threads (group commit)")
    if "inbound_sync" in res:
        c = res["inbound_sync"]
        lt = c["latency"]
        row("mailhook inbound sync", c["msgs"], c["rate"], None,
            "latency p50 %.1f ms p99 %.1f ms (%s msgs, %.0f/s)" %
            (lt["p50_ms"], lt["p99_ms"], lt["msgs"], lt["rate"]))
    for k in ("ceiling", "inbound_sync"):
        c = res.get(k, {})
        if "cpu_ms_per_msg" in c:
            print("%-34s %s CPU ms per message: %s; total %.3f, cores "
                  "busy %.0f%%, load %.1f" % (
                      "", k, ", ".join("%s %.3f" % kv for kv in sorted(
                          c["cpu_ms_per_msg"].items())),
                      c["cpu_ms_per_msg_total"], c["cpu_busy"] * 100,
                      c["loadavg"]))
    if "inbound_sync_dkim" in res:
        c = res["inbound_sync_dkim"]
        row("inbound sync, DKIM+DMARC", c["msgs"] * 2, c["dkim_rate"], None,
            "signed RSA-2048, verified; 2 rounds")
        row("inbound sync, verdicts no", c["msgs"] * 2, c["plain_rate"],
            None, "the same message, not verified; 2 rounds")
        print("%-34s hookd CPU per message: %.3f ms verified, %.3f ms not"
              % ("", c["dkim_hookd_cpu_ms_per_msg"],
                 c["plain_hookd_cpu_ms_per_msg"]))
    if "inbound_queue" in res:
        c = res["inbound_queue"]
        row("mailhook inbound queue", c["msgs"], c["accepted_rate"],
            c["drained_rate"], "accepted / drained to the target")
        if "flushes_per_msg" in c:
            print("%-34s %.2f flushes/msg (%.1f msgs/flush, flushing %.0f%%"
                  " of the time); CPU per message: hookd %.3f ms, smtpd "
                  "%.3f ms" % ("", c["flushes_per_msg"], c["msgs_per_flush"],
                               c["flush_busy"] * 100,
                               c["hookd_cpu_ms_per_msg"],
                               c["smtpd_cpu_ms_per_msg"]))
    if "relay" in res:
        c = res["relay"]
        row("mailhook relay", c["msgs"], c["accepted_rate"],
            c["delivered_rate"], "accepted / delivered to smtp-sink")
        if "cpu_ms_per_msg" in c:
            print("%-34s CPU ms per message: %s" % ("", ", ".join(
                "%s %.3f" % (k, v) for k, v in sorted(
                    c["cpu_ms_per_msg"].items()) if v > 0)))
    if "clicks" in res:
        c = res["clicks"]
        for k, what in (("webd", "webd clicks (302/s)"),
                        ("webd_events", "webd clicks, durable events")):
            row(what, c["wrk"], c[k]["median"], c["nginx_" + k]["median"],
                "nginx 302/s beside it; rounds webd %s nginx %s" % (
                    nums(c[k]["rounds"]), nums(c["nginx_" + k]["rounds"])))
    if "tracking" in res:
        c = res["tracking"]
        for kind, what in (("off", "off"), ("on", "on"),
                           ("distinct_off", "off, new HTML"),
                           ("distinct_on", "on, new HTML")):
            if kind not in c:
                continue
            row("relay HTML, tracking %s" % what, "%dx%d" % (
                len(c[kind]["delivered_rate"]), c["msgs"]),
                nums(c[kind]["accepted_rate"]),
                c[kind]["delivered_rate_all"],
                "delivered/s per run: %s" % nums(c[kind]["delivered_rate"]))
        for pre, what in (("", "the same message"),
                          ("distinct_", "each HTML new")):
            if pre + "on" not in c:
                continue
            print("%-34s %s: pair ratios on/off %s; relayd CPU ms/msg "
                  "off %s, on %s" % (
                      "", what, nums(c[pre + "pair_ratios"], "%.3f"),
                      nums(c[pre + "off"]["relayd_cpu_ms_per_msg"]),
                      nums(c[pre + "on"]["relayd_cpu_ms_per_msg"])))
    if "api" in res:
        c = res["api"]
        row("submission: JSON API", "%dx%d" % (len(c["api"]), c["msgs"]),
            c["api_rate"], None, "accepted/s; rounds %s" % nums(c["api"]))
        if c.get("api_idem"):
            row("submission: API, Idempotency-Key", "%dx%d" % (
                len(c["api_idem"]), c["msgs"]), c["api_idem_rate"], None,
                "accepted/s; rounds %s" % nums(c["api_idem"]))
        row("submission: SMTP", "%dx%d" % (len(c["smtp"]), c["msgs"]),
            c["smtp_rate"], None, "accepted/s; rounds %s" % nums(c["smtp"]))
        print("%-34s pair ratios API/SMTP: %s" % (
            "", nums(c["pair_ratios"], "%.3f")))
        for k in ("api", "api_idem", "smtp"):
            if k + "_cpu_ms_per_msg" in c:
                print("%-34s %s: CPU ms per message: %s" % (
                    "", k, ", ".join("%s %.3f" % (p, v) for p, v in sorted(
                        c[k + "_cpu_ms_per_msg"].items()))))
    if "cluster" in res:
        c = res["cluster"]
        row("relay, allowance in redis", "%dx%d" % (len(c["cluster"]),
                                                    c["msgs"]),
            None, c["cluster_rate"],
            "delivered/s; rounds %s" % nums(c["cluster"]))
        row("relay, allowance local", "%dx%d" % (len(c["solo"]), c["msgs"]),
            None, c["solo_rate"], "delivered/s; rounds %s" % nums(c["solo"]))
        print("%-34s redis: %.1f us CPU and %.2f commands per message: "
              "one redis core carries about %d msg/s" % (
                  "", c["redis_cpu_us_per_msg"],
                  c["redis_commands_per_msg"],
                  c["redis_core_msgs_per_sec"]))
    if "postfix_relay" in res:
        c = res["postfix_relay"]
        row("postfix relay (reference)", c["msgs"], c["accepted_rate"],
            c["delivered_rate"], "accepted / delivered to smtp-sink")
    outbound.report(res, row)
    for kind in ("rsa", "ed25519"):
        c = res.get("dkim_relay_" + kind)
        if c:
            row("mailhook relay, DKIM %s" % kind, c["msgs"],
                c["accepted_rate"], c["delivered_rate"],
                "signer CPU %.0f us/signature (%.0f us in the signing "
                "call), relayd waits %.1f ms" % (
                    c["signer_cpu_per_sig_us"],
                    c["sign_call_cpu_per_sig_us"], c["sign_wait_ms_avg"]))
    if "postfix_dkim_relay" in res:
        c = res["postfix_dkim_relay"]
        row("postfix + opendkim milter", c["msgs"], c["accepted_rate"],
            c["delivered_rate"], "RSA-2048, the reference for signing")
    if "dkim_speed" in res:
        c = res["dkim_speed"]
        row("openssl speed, one core", "-", c[
            "openssl_rsa2048_sign_per_sec"], c[
            "openssl_ed25519_sign_per_sec"], "RSA-2048 / Ed25519 sign/s")
    w = res.get("whatif_nofsync", {})
    if "relay" in w:
        c = w["inbound_sync"]
        row("what-if, fsync disabled: sync", c["msgs"], c["rate"], None,
            "DIAGNOSTIC upper bound; p50 %.1f ms p99 %.1f ms" %
            (c["latency"]["p50_ms"], c["latency"]["p99_ms"]))
        c = w["inbound_queue"]
        row("what-if, fsync disabled: queue", c["msgs"],
            c["accepted_rate"], c["drained_rate"], "DIAGNOSTIC")
        c = w["relay"]
        row("what-if, fsync disabled: relay", c["msgs"],
            c["accepted_rate"], c["delivered_rate"], "DIAGNOSTIC")
    print()
    for k, v in res.get("ratios", {}).items():
        print("  %-30s %6.3f" % (k, v))
    if "fsync" in res and res["fsync"].get("checked"):
        f = res["fsync"]
        print()
        print("syscalls per message (strace, %s msgs per path)" %
              f.get("queue", {}).get("msgs"))
        for path in ("queue", "relay", "sync"):
            if path not in f:
                continue
            print("  %-6s flushes (fsync, fdatasync, syncfs) %.2f/msg" %
                  (path, f[path]["per_msg"]))
            st = f[path].get("settled")
            if st:
                print("         before it, %d spool files left to remove or "
                      "empty, "
                      "gone in %.1fs%s" % (st["files"], st["secs"],
                                          " (%d stayed)" % st["left"]
                                          if st["left"] else ""))
            if "order_verified" in f[path]:
                # hookd's envelope records its data's check, so one
                # flush after both may serve (straceorder.check_replies)
                print("         data and envelope flushed before the "
                      "250: %d of %d messages%s" %
                      (f[path]["order_verified"], f[path]["msgs"],
                       "".join("\n         VIOLATION " + x
                               for x in f[path]["order_violations"])))
            for proc, v in sorted(f[path]["syscalls_per_msg"].items(),
                                  key=lambda x: -x[1]["total"]):
                print("    %-8s %6.1f: %s" % (proc, v["total"], " ".join(
                    "%s %g" % kv for kv in list(v["top"].items())[:8])))
    if "memory" in res:
        m = res["memory"]
        print()
        print("memory (RSS kB)          idle  %5d sessions   after load"
              % m["sessions"])
        for k, v in m["processes"].items():
            print("  %-18s %9d %16d %12s" % (k, v["idle_kb"],
                                            v["sessions_kb"],
                                            v.get("after_load_kb", "-")))
        print("  bytes per idle session: smtpd %d, all processes %d" %
              (m["smtpd_bytes_per_session"], m["total_bytes_per_session"]))
    if "idle_sessions" in res:
        m = res["idle_sessions"]
        print()
        print("idle sessions: %d held (opened in %.1fs; smtpd's descriptor "
              "limit %d), smtpd RSS %d -> %d kB: %d bytes per session" % (
                  m["live_sessions"], m["open_secs"], m["smtpd_nofile"],
                  m["smtpd_idle_kb"], m["smtpd_sessions_kb"],
                  m["smtpd_bytes_per_session"]))
        print("  a new client meanwhile: banner max %.1f ms (%s), "
              "transaction p50 %.1f ms max %.1f ms" % (
                  m["new_banner_max_ms"], nums(m["new_banner_ms"][:10]),
                  m["new_tx_p50_ms"], m["new_tx_max_ms"]))
    if "profile" in res and res["profile"].get("tool"):
        for name in ("sync", "relay", "queue"):
            p = res["profile"].get(name)
            if not p:
                continue
            print()
            print("profile %s (%s): %s" % (name, res["profile"]["tool"],
                  ", ".join("%s %.1f%%" % (k, v) for k, v in
                            sorted(p["by_process"].items(),
                                   key=lambda x: -x[1])[:6])))
            print("  by dso: " + ", ".join(
                "%s %.1f%%" % (k, v) for k, v in
                sorted(p["by_dso"].items(), key=lambda x: -x[1])[:8]))
            for t in p["top"][:8] + [["user space:"]] + p["top_user"][:12]:
                if len(t) == 1:
                    print("  " + t[0])
                    continue
                print("  %5.1f%%  %-8s %-20s %s" % (t[0], t[1],
                                                   t[2][:20], t[3][:60]))
    print()
    print("goals: " + ", ".join("%s %s" % (k, "yes" if v else "NO")
                                for k, v in res.get("goals", {}).items()))
    for k, v in res["errors"].items():
        print("ERROR %s: %s" % (k, v.splitlines()[-1] if v else ""))
    print("total %.0fs" % res["secs_total"])


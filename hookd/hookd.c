/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The hookd process: owner of the inbound spool and of every outgoing
 * HTTP POST (messages, callbacks, events).  Chrooted in the spool.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "dns.h"
#include "mh_event.h"
#include "gsync.h"
#include "history.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "redis_link.h"
#include "events.h"
#include "hookd.h"
#include "mime.h"
#include "seal.h"
#include "spool_ids.h"
#include "verdict.h"


struct config	*hookd_conf;
static int	 hookd_started;

static void
spool_open_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_open	*req = msg_get(p, imsg, sizeof(*req));
	struct spool_fd		 res;
	int			 fd;

	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	fd = spool_create(res.msgid);
	res.ok = fd != -1;
	if (fd != -1)
		spool_ids_add(res.msgid, PROC_SMTPD);
	mproc_compose(p, IMSG_SPOOL_FD, 0, fd, &res, sizeof(res));
}

static void
event_from_peer(struct mproc *p, struct mh_imsg *imsg)
{
	struct event_record	 ev;
	int			 rc;

	/* binary forms, checked as strictly as JSON: none to parse */
	if (imsg->hdr.type == IMSG_TRACK_EVENT)
		rc = mh_event_track_unpack(&ev, imsg->data,
		    MH_IMSG_DATA_SIZE(imsg));
	else
		rc = mh_event_unpack(&ev, imsg->data,
		    MH_IMSG_DATA_SIZE(imsg));
	if (rc == -1)
		fatalx("malformed %s from %s", imsg_type_name(imsg->hdr.type),
		    p->name);
	/* the message's facts, kept for the events that come later */
	if (ev.kind == EV_REGISTRATION)
		facts_note(&ev);
	else
		(void)facts_fill(&ev, FACTS_EXACT);
	if (ev.kind == EV_DELIVERY)
		seen_delivered(&ev);
	/* webd cannot remember across restarts: the spool does */
	if (p->proc == PROC_WEBD &&
	    (ev.kind == EV_OPEN || ev.kind == EV_CLICK)) {
		/* webd knows when the message was submitted, not when it
		 * reached its recipient's gateway */
		if (seen_just_delivered(&ev))
			ev.machine = 1;
		/* the first person's is the unique one: a machine's is
		 * never unique and takes nothing from it */
		ev.unique_open = !ev.machine && seen_first(&ev);
		/* and the other nodes: the event goes when they answer */
		if (ev.unique_open && seen_shared(p, &ev) == 0)
			return;
	}
	if (events_submit_ack(p, &ev) == -1)
		log_warnx("event %s could not be stored", ev.id);
	mh_event_clear(&ev);
}

/* the answer to a fallback request: the parent's (maildir), relayd's (smtp) */
static void
fallback_res(struct mproc *p, struct mh_imsg *imsg, int smtp)
{
	struct fallback_res	*res;

	res = msg_get(p, imsg, sizeof(*res));
	if (!msg_str_ok(res->msgid, sizeof(res->msgid)) ||
	    !msg_str_ok(res->name, sizeof(res->name)) ||
	    !msg_str_ok(res->error, sizeof(res->error)) ||
	    (res->ok != 0 && res->ok != 1) ||
	    (res->temp != 0 && res->temp != 1) || (res->ok && res->temp))
		fatalx("malformed FALLBACK_RES from %s", p->name);
	inbound_fallback_done(res, smtp);
}

static void
hookd_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_commit	*c;
	struct spool_abort	*a;
	struct unsubscribe_mailto *u;

	switch (imsg->hdr.type) {
	case IMSG_SPOOL_OPEN:
		if (p->proc != PROC_SMTPD)
			break;
		spool_open_req(p, imsg);
		return;
	case IMSG_SPOOL_COMMIT:
		if (p->proc != PROC_SMTPD ||
		    MH_IMSG_DATA_SIZE(imsg) <= sizeof(*c))
			break;
		c = imsg->data;
		/*
		 * data_size: compared with the file's at the commit; only
		 * a file smtpd has open (a refused commit gives it back)
		 */
		if (!msg_str_ok(c->msgid, sizeof(c->msgid)) ||
		    c->data_size < 0 ||
		    spool_ids_take(c->msgid, PROC_SMTPD) == -1)
			break;
		inbound_commit(c, (char *)imsg->data + sizeof(*c),
		    MH_IMSG_DATA_SIZE(imsg) - sizeof(*c));
		return;
	case IMSG_SPOOL_ABORT:
		if (p->proc != PROC_SMTPD)
			break;
		/* only a file smtpd has open: not one hookd has */
		a = msg_get(p, imsg, sizeof(*a));
		if (!msg_str_ok(a->msgid, sizeof(a->msgid)) ||
		    spool_ids_take(a->msgid, PROC_SMTPD) == -1 ||
		    spool_discard(a->msgid) == -1)
			break;
		return;
	case IMSG_UNSUBSCRIBE_MAILTO_ACK:
		if (p->proc != PROC_RELAYD)
			break;
		u = msg_get(p, imsg, sizeof(*u));
		if (!msg_str_ok(u->local, sizeof(u->local)) ||
		    !msg_str_ok(u->queue_id, sizeof(u->queue_id)) ||
		    !envelope_id_ok(u->queue_id) ||
		    (u->failed != 0 && u->failed != 1))
			break;
		inbound_unsubscribed(u->queue_id, u->local, u->failed);
		return;
	case IMSG_EVENT:
		if (p->proc != PROC_RELAYD)
			break;
		event_from_peer(p, imsg);
		return;
	case IMSG_TRACK_EVENT:
		if (p->proc != PROC_WEBD || imsg->data == NULL)
			break;
		event_from_peer(p, imsg);
		return;
	case IMSG_TLSRPT_POST:
		if (p->proc != PROC_RELAYD)
			break;
		tlsrpt_post(p, imsg);
		return;
	case IMSG_FALLBACK_RES:
		if (p->proc != PROC_RELAYD)
			break;
		fallback_res(p, imsg, 1);
		return;
	}
	fatalx("unexpected or malformed %s from %s",
	    imsg_type_name(imsg->hdr.type), p->name);
}

/*
 * What the spool's names are joined to, ROOT/inbound...: chrooted in the
 * spool, "" (so "/inbound", not "//inbound" in the logs); in development
 * mode, the spool itself
 */
static const char *
hookd_root(void)
{
	return (child_chrooted ? "" : hookd_conf->spool);
}

static void
hookd_preinit(const struct config *conf)
{
	mime_init();
	verdict_init(VERDICT_PSL_FILE);
	if (dns_init(proc_base, conf->resolver, conf->resolver_port) == -1)
		fatalx("dns_init");
	if (http_init(proc_base, conf->cabundle_data, conf->cabundle_len) == -1)
		fatalx("http_init");
}

static const char *
hookd_chroot(const struct config *conf)
{
	return (conf->spool);
}

static void
hookd_monitor(const json_t *ev)
{
	child_monitor(ev);
}

/* hookd asks the cluster only which events were delivered (delivered.c) */
static const struct redis_hooks	 hookd_cluster;

static void
hookd_configure(struct config *conf)
{
	const char	*root;
	int		 fd;

	hookd_conf = conf;
	/* POSTs started from now on trust the new CA bundle */
	if (http_set_ca(conf->cabundle_data, conf->cabundle_len) == -1)
		log_warnx("the CA bundle stays as it was");
	/* private-addresses turned off: no connection from before is used */
	http_allow_private(conf->allow_private);
	if (seal_set_key(conf->verdict_key) == -1)
		log_warnx("no verdict key: messages from smtpd are "
		    "refused");
	verdict_configure(conf->hostname);
	redis_link_configure(proc_base, conf, &hookd_cluster);
	/* the event log is kept as long as message histories */
	evlog_configure(conf->history);
	if (hookd_started) {
		events_configure(conf);
		history_configure(conf->history);
		return;
	}
	hookd_started = 1;
	if (spool_init(hookd_root()) == -1)
		fatalx("cannot prepare the inbound spool");
	root = child_chrooted ? "/" : hookd_root();
	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", root);
	gsync_init(proc_base, fd);
	/* the inbound messages' histories, and the deliveries of events */
	if (history_init(proc_base, fd, "inbound/history", conf->history,
	    inbound_live) == -1)
		fatalx("cannot prepare the message history");
	close(fd);
	/* before the event queue: events of a removed block go there */
	if (dead_init(hookd_root()) == -1)
		fatalx("cannot prepare the dead letters");
	if (events_init(proc_base, conf, hookd_root()) == -1)
		fatalx("cannot prepare the event queue");
	if (tlsrpt_kept_init(hookd_root()) == -1)
		log_warnx("TLS-RPT reports that fail are not kept to be sent "
		    "again");
	/* its directory is the event queue's */
	if (seen_init(hookd_root()) == -1)
		log_warnx("no track-seen table: every open counts as "
		    "unique");
	if (facts_init(hookd_root(), 0) == -1)
		log_warnx("no facts log: opens, clicks and returned mail "
		    "name no tags, group or transaction");
	events_set_monitor(hookd_monitor);
	if (evlog_init(proc_base, hookd_root()) == -1)
		fatalx("cannot prepare the event log");
	inbound_init();
}

static void
hookd_start(void)
{
	spool_recover(inbound_recovered, inbound_recovered_bad);
}

static json_t *
hookd_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	const char		*arg, *busy;
	char			 nb[128];
	json_t			*j;
	time_t			 oldest;
	size_t			 n;

	arg = json_string_value(json_array_get(argv, ctl_cmd_skip(cmd)));
	switch (cmd->id) {
	case CTL_PAUSE_HOOKS:
	case CTL_RESUME_HOOKS:
		inbound_pause(cmd->id == CTL_PAUSE_HOOKS);
		log_info("hooks %sd", cmd->w1);
		return (json_pack("{s:s}", "hooks", cmd->id == CTL_PAUSE_HOOKS ?
		    "paused" : "running"));
	case CTL_SHOW_QUEUE:
		j = json_pack("{s:o}", "queue", inbound_queue_list(&n));
		if (j != NULL && n > 0)
			json_object_set_new(j, "inbound_unlisted",
			    json_integer((json_int_t)n));
		return (j);
	case CTL_SHOW_MESSAGE:
		return (ihist_show(cmd, argv));
	case CTL_SCHEDULE:
		/* relayd answers too: "no such message" of one is left out */
		if (arg == NULL || inbound_retry(arg) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (json_pack("{s:s}", "scheduled", arg));
	case CTL_HOLD:
	case CTL_RELEASE:
		/* relayd answers too, as for schedule */
		if (arg == NULL || inbound_hold(arg, cmd->id == CTL_HOLD) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (json_pack("{s:s}", cmd->id == CTL_HOLD ? "held" :
		    "released", arg));
	case CTL_REMOVE:
		switch (arg == NULL ? -1 : inbound_remove(arg, &busy)) {
		case -1:
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		case -2:
			snprintf(nb, sizeof(nb), "%s: remove it once answered "
			    "(show message ID)", busy);
			return (json_pack("{s:s}", "error", nb));
		}
		return (json_pack("{s:s}", "removed", arg));
	case CTL_SHOW_METRICS:
		j = json_array();
		inbound_metrics(j);
		events_metrics(j);
		n = dead_count(&oldest);
		metrics_queue(j, "dead", n, oldest);
		return (j);
	case CTL_SHOW_STATS:
		return (json_pack("{s:o,s:I,s:o}", "inbound",
		    inbound_stats(), "event_backlog",
		    (json_int_t)events_backlog(), "spool_flushes",
		    gsync_stats_json()));
	default:
		return (hooks_control(cmd, argv));
	}
}

/* the parent's answer to a fallback maildir request */
static void
hookd_parent_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	if (imsg->hdr.type != IMSG_FALLBACK_RES)
		fatalx("unexpected %s from %s",
		    imsg_type_name(imsg->hdr.type), p->name);
	fallback_res(p, imsg, 0);
}

/*
 * A stop: a mode sync POST under way may still be answered, and its
 * verdict told to the SMTP client (smtpd waits longer, SMTPD_STOP_WAIT)
 * instead of a 421 after which the client sends the message again.  No
 * queued message starts meanwhile.  The wait is bounded well within the
 * parent's deadline for its children (8 s).
 */
#define HOOKD_STOP_WAIT		4	/* seconds */

static void
hookd_drain_late(int n)
{
	if (n > 0)
		log_warnx("stopping with %d sync POST%s unanswered: the "
		    "client is told 421", n, n == 1 ? "" : "s");
}

static int
hookd_drain(void)
{
	int	 n;

	if ((n = inbound_sync_waiting()) == 0)
		return (0);
	inbound_pause(1);
	if (!child_drain_wait(HOOKD_STOP_WAIT, inbound_sync_waiting,
	    hookd_drain_late))
		return (0);
	log_info("stopping: waiting up to %ds for %d sync POST%s",
	    HOOKD_STOP_WAIT, n, n == 1 ? "" : "s");
	return (1);
}

static const struct child_ops hookd_ops = {
	.proc = PROC_HOOKD,
	.preinit = hookd_preinit,
	.chroot = hookd_chroot,
	.configure = hookd_configure,
	.start = hookd_start,
	.stop = gsync_stop,
	.drain = hookd_drain,
	.peer_dispatch = hookd_dispatch,
	.parent_dispatch = hookd_parent_dispatch,
	.control = hookd_control,
};

void
hookd_main(void)
{
	child_run(&hookd_ops);
}

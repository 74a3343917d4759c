/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The webd process (webd.h): its config and token keys, its channels to
 * hookd (tracking events) and relayd (unsubscribe, resubscribe), and the
 * requests that wait for them.
 *
 * An event answers its HTTP request only once hookd says it is durable
 * (IMSG_EVENT_ACK), and an unsubscribe only once relayd has stored the
 * suppression and its event: what a client was told happened is never
 * lost.  Without an events block nothing would carry an event: the
 * request is answered at once.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <tls.h>

#include "child.h"
#include "log.h"
#include "apimsg.h"
#include "webd.h"

#define WAIT_TIMEOUT	15	/* seconds for hookd or relayd to answer */

void	webd_main(void) __attribute__((noreturn));

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	char			 id[EVENT_ID_LEN];	/* event */
	uint64_t		 reqid;			/* unsubscribe */
	web_done_fn		 done;
	void			*arg;
	time_t			 deadline;		/* monotonic */
};
TAILQ_HEAD(waitlist, waiter);

struct token_keys		 web_keys;
struct web_settings		 web_settings = { 8, TRACK_MACHINE_SECS };

static struct waitlist		 waiting = TAILQ_HEAD_INITIALIZER(waiting);
static struct event		*wait_ev;	/* waiters_expire */
static uint64_t			 next_reqid;
static int			 keep_events;

static void
waiter_end(struct waiter *w, int ok)
{
	TAILQ_REMOVE(&waiting, w, entry);
	w->done(ok, w->arg);
	free(w);
}

static time_t
wait_now(void)
{
	struct timespec	 ts;

	/* the vDSO's coarse clock: no system call per click */
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == -1)
		fatal("clock_gettime");
	return (ts.tv_sec);
}

/*
 * One timer for every waiter instead of one each (an allocation and a
 * heap insert and removal per click): all wait WAIT_TIMEOUT, so the
 * list is in deadline order and the timer looks at its head once a
 * second.
 */
static void
waiters_expire(evutil_socket_t fd, short ev, void *arg)
{
	struct waiter	*w;
	struct timeval	 tv = { 1, 0 };
	time_t		 now = wait_now();

	while ((w = TAILQ_FIRST(&waiting)) != NULL && w->deadline <= now) {
		log_warnx("no answer for %s %s in %ds",
		    w->id[0] ? "event" : "unsubscribe request",
		    w->id[0] ? w->id : "", WAIT_TIMEOUT);
		waiter_end(w, 0);
	}
	if (!TAILQ_EMPTY(&waiting))
		evtimer_add(wait_ev, &tv);
}

static struct waiter *
waiter_new(web_done_fn done, void *arg)
{
	struct waiter	*w;
	struct timeval	 tv = { 1, 0 };

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("waiter");
	w->done = done;
	w->arg = arg;
	w->deadline = wait_now() + WAIT_TIMEOUT;
	if (wait_ev == NULL && (wait_ev = evtimer_new(proc_base,
	    waiters_expire, NULL)) == NULL)
		fatalx("evtimer_new");
	if (!evtimer_pending(wait_ev, NULL))
		evtimer_add(wait_ev, &tv);
	TAILQ_INSERT_TAIL(&waiting, w, entry);
	return (w);
}

int
web_event_wanted(void)
{
	struct mproc	*p = proc_peer[PROC_HOOKD];

	return ((keep_events && p != NULL && !p->closed) || child_monitoring);
}

void
web_event(struct event_record *ev, web_done_fn done, void *arg)
{
	struct mproc	*p = proc_peer[PROC_HOOKD];
	struct waiter	*w;
	json_t		*j;
	char		 buf[sizeof(struct track_event) + MH_URL_MAX];
	size_t		 len;

	/* nobody to tell: no record to send (the common case under load) */
	if ((!keep_events || p == NULL || p->closed) && !child_monitoring) {
		done(1, arg);
		return;
	}
	if (child_monitoring) {
		if ((j = mh_event_to_json(ev)) == NULL)
			fatalx("cannot encode event %s", ev->id);
		child_monitor(j);
		json_decref(j);
	}
	if (!keep_events || p == NULL || p->closed) {
		done(1, arg);
		return;
	}
	/* the compact form (struct track_event), no JSON */
	if ((len = mh_event_track_pack(ev, buf, sizeof(buf))) == 0) {
		log_warnx("event %s: not a valid tracking event", ev->id);
		done(0, arg);
		return;
	}
	w = waiter_new(done, arg);
	strlcpy(w->id, ev->id, sizeof(w->id));
	mproc_compose(p, IMSG_TRACK_EVENT, 0, -1, buf, len);
}

void
web_unsubscribe(const struct token *t, int resubscribe, web_done_fn done,
    void *arg)
{
	struct mproc		*p = proc_peer[PROC_RELAYD];
	struct unsub_req	 req;
	struct waiter		*w;

	if (p == NULL || p->closed) {
		done(0, arg);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.reqid = ++next_reqid;
	req.resubscribe = resubscribe;
	strlcpy(req.queue_id, t->queue_id, sizeof(req.queue_id));
	strlcpy(req.addr, t->recipient, sizeof(req.addr));
	strlcpy(req.domain, t->domain, sizeof(req.domain));
	w = waiter_new(done, arg);
	w->reqid = req.reqid;
	mproc_compose(p, IMSG_UNSUBSCRIBE, 0, -1, &req, sizeof(req));
}

static void
event_acked(struct mproc *p, struct mh_imsg *imsg)
{
	struct event_ack	*a = msg_get(p, imsg, sizeof(*a));
	struct waiter		*w;

	if (!msg_str_ok(a->id, sizeof(a->id)))
		fatalx("malformed EVENT_ACK from %s", p->name);
	TAILQ_FOREACH(w, &waiting, entry)
		if (w->id[0] != '\0' && strcmp(w->id, a->id) == 0) {
			waiter_end(w, 1);
			return;
		}
	/* timed out meanwhile: the client was told to try again */
	log_debug("ack for unknown event %s", a->id);
}

static void
unsub_answered(struct mproc *p, struct mh_imsg *imsg)
{
	struct unsub_res	*r = msg_get(p, imsg, sizeof(*r));
	struct waiter		*w;

	TAILQ_FOREACH(w, &waiting, entry)
		if (w->id[0] == '\0' && w->reqid == r->reqid) {
			waiter_end(w, r->ok != 0);
			return;
		}
	log_debug("answer for unknown request %llu",
	    (unsigned long long)r->reqid);
}

static void
webd_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_EVENT_ACK:
		if (p->proc != PROC_HOOKD)
			break;
		event_acked(p, imsg);
		return;
	case IMSG_UNSUBSCRIBE_RES:
		if (p->proc != PROC_RELAYD)
			break;
		unsub_answered(p, imsg);
		return;
	case IMSG_SPOOL_FD:
		if (p->proc != PROC_RELAYD)
			break;
		api_spool_fd(p, imsg);
		return;
	case IMSG_SPOOL_RESULT:
		if (p->proc != PROC_RELAYD)
			break;
		api_spool_result(p, imsg);
		return;
	case IMSG_API_STATUS_RES:
		if (p->proc != PROC_RELAYD)
			break;
		api_status_result(p, imsg);
		return;
	case IMSG_API_IDEM_RES:
		if (p->proc != PROC_RELAYD)
			break;
		api_idem_result(p, imsg);
		return;
	}
	fatalx("unexpected or malformed %s from %s",
	    imsg_type_name(imsg->hdr.type), p->name);
}

/* the keys of every tracking block, current and previous */
static void
webd_keys(const struct config *conf)
{
	const struct tracking	*t;
	struct token_keys	 ks;
	struct token_key	 k;

	memset(&ks, 0, sizeof(ks));
	TAILQ_FOREACH(t, &conf->trackings, entry) {
		if (t->secret[0] != '\0' &&
		    token_key_from_secret(&k, t->secret) == 0 &&
		    token_keys_add(&ks, &k) == -1)
			fatal("webd_keys");
		if (t->prev_secret[0] != '\0' &&
		    token_key_from_secret(&k, t->prev_secret) == 0 &&
		    token_keys_add(&ks, &k) == -1)
			fatal("webd_keys");
	}
	explicit_bzero(&k, sizeof(k));
	token_keys_clear(&web_keys);
	web_keys = ks;
	if (web_keys.count == 0 && !TAILQ_EMPTY(&conf->trackings))
		log_warnx("tracking blocks without a key: every token "
		    "will be refused");
}

static void
webd_preinit(const struct config *conf)
{
	if (tls_init() == -1)
		fatalx("tls_init");
	server_init(proc_base);
	/* GMime's types and charset tables, before the sandbox */
	apimsg_init();
}

static void
webd_configure(struct config *conf)
{
	const struct tracking	*t;
	int			 read_secs = 0;

	keep_events = !TAILQ_EMPTY(&conf->events);
	webd_keys(conf);
	api_configure(conf);
	/*
	 * the listeners' lines: their roles (the api's body cap from the
	 * limits above), their pki names, key pairs read again
	 */
	server_reload(conf);
	/* one read time for the server: the longest asked for */
	TAILQ_FOREACH(t, &conf->trackings, entry)
		if (t->read > read_secs)
			read_secs = t->read;
	web_settings.read_secs = TAILQ_EMPTY(&conf->trackings) ? 8 : read_secs;
}

static void
webd_listener(int fd, uint32_t id)
{
	const struct listener	*l;

	/* sent at start; a socket keeps its id across reloads */
	if ((l = config_listener(child_conf, id)) == NULL ||
	    !(l->flags & LF_HTTP))
		fatalx("listener %u is not an http listener", id);
	server_listen(fd, child_conf, l);
}

static json_t *
webd_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	json_t	*o;

	if (cmd->id != CTL_SHOW_STATS)
		return (NULL);
	o = json_object();
	server_stats(o);
	track_stats(o);
	api_stats(o);
	scrape_stats(o);
	return (o);
}

static void
webd_parent_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	if (imsg->hdr.type != IMSG_METRICS_RES)
		fatalx("unexpected %s from %s",
		    imsg_type_name(imsg->hdr.type), p->name);
	scrape_result(p, imsg);
}

static const struct child_ops webd_ops = {
	.proc = PROC_WEBD,
	.preinit = webd_preinit,
	.chroot = child_empty_root,
	.configure = webd_configure,
	.peer_dispatch = webd_dispatch,
	.parent_dispatch = webd_parent_dispatch,
	.listener = webd_listener,
	.control = webd_control,
};

void
webd_main(void)
{
	child_run(&webd_ops);
}

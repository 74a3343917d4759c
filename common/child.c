/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Child processes: config, confinement, the parent's channel.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "metrics.h"
#include "sandbox.h"

struct config			*child_conf;
int				 child_chrooted;
int				 child_monitoring;
static const struct child_ops	*ops;

/*
 * The config from the parent (parent_send_config in mailhookd/parent.c):
 * SETUP_CONF_START with its length, SETUP_CONF_DATA chunks of JSON,
 * SETUP_CONF_END.
 */
static char	*conf_buf;
static size_t	 conf_len, conf_want;

static struct config *
child_config_chunk(struct mh_imsg *imsg, int *done)
{
	json_error_t	 err;
	json_t		*j;
	struct config	*conf;
	size_t		 n = MH_IMSG_DATA_SIZE(imsg);

	*done = 0;
	switch (imsg->hdr.type) {
	case IMSG_SETUP_CONF_START:
		if (n != sizeof(size_t))
			fatalx("SETUP_CONF_START from parent: bad size");
		memcpy(&conf_want, imsg->data, sizeof(size_t));
		if (conf_want > 64 * 1024 * 1024)
			fatalx("SETUP_CONF_START from parent: config too "
			    "large");
		if (conf_buf != NULL)
			freezero(conf_buf, conf_len);
		if ((conf_buf = malloc(conf_want + 1)) == NULL)
			fatal("config buffer");
		conf_len = 0;
		return (NULL);
	case IMSG_SETUP_CONF_DATA:
		if (conf_buf == NULL || n > conf_want - conf_len)
			fatalx("SETUP_CONF_DATA from parent: unexpected or "
			    "too long");
		memcpy(conf_buf + conf_len, imsg->data, n);
		conf_len += n;
		return (NULL);
	case IMSG_SETUP_CONF_END:
		if (conf_buf == NULL || conf_len != conf_want)
			fatalx("SETUP_CONF_END from parent: incomplete "
			    "config");
		*done = 1;
		j = json_loadb(conf_buf, conf_len, JSON_REJECT_DUPLICATES,
		    &err);
		/* its secrets (keys, the cluster's password) not left freed */
		freezero(conf_buf, conf_len);
		conf_buf = NULL;
		if (j == NULL)
			fatalx("config from parent: %s", err.text);
		if ((conf = config_from_json(j)) == NULL)
			fatalx("config from parent: malformed");
		config_json_free(j);
		return (conf);
	default:
		fatalx("unexpected %s from parent during config",
		    imsg_type_name(imsg->hdr.type));
	}
}

/* blocking: before the sandbox, wait for the first config */
static struct config *
child_recv_config(struct mproc *p)
{
	struct pollfd	 pfd;
	struct mh_imsg	 imsg;
	struct config	*conf = NULL;
	ssize_t		 n;
	int		 done = 0;

	while (!done) {
		if ((n = mh_imsg_get(&p->ibuf, &imsg)) == -1)
			fatal("config from parent");
		if (n == 0) {
			pfd.fd = p->ibuf.fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				fatal("poll");
			if ((n = mh_imsg_read(&p->ibuf)) == -1 &&
			    errno != EAGAIN)
				fatal("config from parent: read");
			if (n == 0)
				fatalx("parent went away during config");
			continue;
		}
		conf = child_config_chunk(&imsg, &done);
		mh_imsg_free(&imsg);
	}
	return (conf);
}

const char *
child_empty_root(const struct config *conf)
{
	static char	 dir[MH_PATH_MAX + 8];

	snprintf(dir, sizeof(dir), "%s/empty", conf->spool);
	return (dir);
}

static int	child_draining;		/* ops->drain under way */
static int	child_drain_status;	/* exit status after it */

/* 1: ops->drain runs the loop on, and calls child_drained() */
static int
child_drain(int status)
{
	if (child_draining)
		return (1);
	if (ops->drain == NULL || !ops->drain())
		return (0);
	child_draining = 1;
	child_drain_status = status;
	return (1);
}

void
child_drained(void)
{
	if (ops->stop != NULL)
		ops->stop();
	exit(child_drain_status);
}

#define CHILD_DRAIN_POLL	20	/* milliseconds between looks */

static int		(*drain_busy)(void);
static void		(*drain_late)(int);
static struct event	*drain_poll, *drain_deadline;

static void
child_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	 n = drain_busy();

	if (n > 0 && arg == NULL)
		return;		/* a poll: still waiting */
	if (drain_late != NULL)
		drain_late(n);
	child_drained();
}

int
child_drain_wait(int secs, int (*busy)(void), void (*late)(int))
{
	struct timeval	 poll = { 0, CHILD_DRAIN_POLL * 1000 };
	struct timeval	 wait = { secs, 0 };

	drain_busy = busy;
	drain_late = late;
	if ((drain_poll = event_new(proc_base, -1, EV_PERSIST,
	    child_drain_cb, NULL)) == NULL ||
	    (drain_deadline = evtimer_new(proc_base, child_drain_cb,
	    &drain_deadline)) == NULL ||
	    event_add(drain_poll, &poll) == -1 ||
	    evtimer_add(drain_deadline, &wait) == -1)
		return (0);
	return (1);
}

/*
 * A peer went away: it crashed, or it stopped first when all of us were
 * told to (the signal may still be on its way here).  Either way this
 * process ends, finishing what must not be lost as a SIGTERM would.
 */
static void
child_lost(struct mproc *p)
{
	int	peer = p->proc;

	log_warnx("lost channel to %s", p->name);
	/* the parent names the one that went first, not us (parent.c) */
	if (p != proc_peer[PROC_PARENT] && !proc_peer[PROC_PARENT]->closed) {
		mproc_compose(proc_peer[PROC_PARENT], IMSG_SETUP_PEER_LOST, 0,
		    -1, &peer, sizeof(peer));
		mproc_flush_now(proc_peer[PROC_PARENT]);
	}
	/* the other children stop too: a drain under way goes on */
	if (p != proc_peer[PROC_PARENT] && child_drain(1))
		return;
	if (ops->stop != NULL)
		ops->stop();
	exit(1);
}

static void
child_peer(struct mh_imsg *imsg)
{
	int	peer;

	if (MH_IMSG_DATA_SIZE(imsg) != sizeof(int) || imsg->fd == -1)
		fatalx("SETUP_PEER: malformed");
	memcpy(&peer, imsg->data, sizeof(int));
	if (peer <= PROC_PARENT || peer >= PROC_CONTROL ||
	    !proc_edge(proc_self, peer) || proc_peer[peer] != NULL)
		fatalx("SETUP_PEER: refused channel to %d", peer);
	proc_peer[peer] = mproc_new(imsg->fd, peer, ops->peer_dispatch);
	proc_peer[peer]->lost = child_lost;
	log_debug("channel to %s", proc_name(peer));
}

/*
 * "show metrics": every series this process counted (common/metrics.c),
 * then the gauges its control hook adds (an array, or NULL if none), as
 * many as fit in CTL_METRICS_BYTES; a mailhook_metrics_dropped sample
 * counts the others (and a log line when their number changes).
 */
static json_t *
child_metrics(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	static size_t	 said;
	json_t		*all = json_array(), *samples = json_array();
	json_t		*more = NULL, *sm;
	size_t		 i, bytes = 0, dropped = 0;

	metrics_dump(all);
	if (ops->control != NULL &&
	    (more = ops->control(cmd, argv, root)) != NULL &&
	    json_is_array(more))
		json_array_extend(all, more);
	json_decref(more);
	json_array_foreach(all, i, sm)
		ctl_list_add(samples, bytes > CTL_METRICS_BYTES ? NULL :
		    json_incref(sm), &bytes, CTL_METRICS_BYTES, &dropped);
	json_decref(all);
	/* logged when the number changes, not at every scrape */
	if (dropped > 0 && dropped != said)
		log_warnx("metrics: %zu samples left out, more than one "
		    "reply carries", dropped);
	said = dropped;
	if (dropped > 0)
		metrics_sample(samples, M_METRICS_DROPPED,
		    proc_name(proc_self), NULL, (double)dropped);
	return (json_pack("{s:o}", "metrics", samples));
}

/*
 * A list of a control reply: o (a reference taken) joins list while the
 * list stays within max bytes of JSON, *bytes so far; once one does not
 * fit, it and every one after are counted in *unlisted (*bytes is then
 * over max), and so is an o of NULL (an entry JSON cannot hold) alone.
 */
void
ctl_list_add(json_t *list, json_t *o, size_t *bytes, size_t max,
    size_t *unlisted)
{
	size_t	 n;

	if (o != NULL && *bytes <= max &&
	    (n = json_dumpb(o, NULL, 0, JSON_COMPACT) + 1) <= max - *bytes) {
		*bytes += n;
		json_array_append_new(list, o);
		return;
	}
	if (o != NULL)
		*bytes = max + 1;
	json_decref(o);
	(*unlisted)++;
}

/* the same for a list of CTL_LIST_BYTES (show queue, ctl_list_full) */
void
ctl_list_append(json_t *list, json_t *o, size_t *bytes, size_t *unlisted)
{
	ctl_list_add(list, o, bytes, CTL_LIST_BYTES, unlisted);
}

/* the list is full: the rest need no JSON, only counting */
int
ctl_list_full(size_t bytes)
{
	return (bytes > CTL_LIST_BYTES);
}

static int	 ctl_reply_fd = -1;

int
child_control_fd(int fd)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (-1);
	}
	if (ctl_reply_fd != -1)
		close(ctl_reply_fd);
	ctl_reply_fd = fd;
	return (0);
}

/* the request being served, and whether its answer comes later */
struct ctl_later {
	struct mproc	*p;
	uint32_t	 peerid;
};
static struct ctl_later	*ctl_serving;
static int		 ctl_deferred;

struct ctl_later *
child_control_later(void)
{
	struct ctl_later	*l;

	if (ctl_serving == NULL)
		fatalx("child_control_later: no request being served");
	if ((l = malloc(sizeof(*l))) == NULL)
		fatal("child_control_later");
	*l = *ctl_serving;
	ctl_deferred = 1;
	return (l);
}

/* the reply (a reference taken) to mhctl, with the fd given if any */
static void
child_control_send(struct mproc *p, uint32_t peerid, json_t *reply)
{
	if (reply == NULL)
		reply = json_pack("{s:s}", "error", "unknown command");
	mproc_send_reply(p, IMSG_CTL_REPLY, peerid, ctl_reply_fd, reply);
	ctl_reply_fd = -1;
	json_decref(reply);
}

void
child_control_answer(struct ctl_later *l, json_t *reply)
{
	child_control_send(l->p, l->peerid, reply);
	free(l);
}

static void
child_control(struct mproc *p, struct mh_imsg *imsg)
{
	const struct ctl_cmd	*cmd = NULL;
	struct ctl_later	 serving = { p, imsg->hdr.peerid };
	const char		*words[2];
	json_t			*req, *argv, *reply;
	size_t			 n;
	int			 root;

	req = msg_get_json(p, imsg);
	argv = json_object_get(req, "argv");
	root = json_is_true(json_object_get(req, "root"));
	if (json_is_array(argv)) {
		n = json_array_size(argv);
		words[0] = json_string_value(json_array_get(argv, 0));
		words[1] = json_string_value(json_array_get(argv, 1));
		if (words[0] != NULL && (n < 2 || words[1] != NULL))
			cmd = ctl_cmd_lookup(n < 2 ? n : 2, words);
		/* the parent checked it; only what is ours is served */
		if (cmd != NULL && (!ctl_cmd_args_ok(cmd, n) ||
		    (cmd->target != (int)proc_self &&
		    cmd->target2 != (int)proc_self &&
		    cmd->target != CTL_CHILDREN)))
			cmd = NULL;
	}
	ctl_serving = &serving;
	ctl_deferred = 0;
	if (cmd != NULL && cmd->id == CTL_SHOW_METRICS)
		reply = child_metrics(cmd, argv, root);
	else if (cmd == NULL || ops->control == NULL)
		reply = json_pack("{s:s}", "error", "unsupported request");
	else
		reply = ops->control(cmd, argv, root);
	ctl_serving = NULL;
	/* the fd a command gave, if any, goes with its reply */
	if (!ctl_deferred)
		child_control_send(p, imsg->hdr.peerid, reply);
	else
		json_decref(reply);
	json_decref(req);
}

/*
 * A new generation replaces child_conf, which held the old one's
 * reference: the old one is freed unless the process kept a reference
 * of its own (config_ref) for what still points into it.
 */
static void
child_reconfigure(struct config *conf)
{
	struct config	*old = child_conf;

	ops->configure(conf);
	child_conf = conf;
	config_unref(old);
	log_info("configuration reloaded");
}

/*
 * SETUP_START, the last message of the start (after the config, the
 * peers and smtpd's and webd's listeners, which a failure to serve ends
 * at once): the parent tells the service manager once every child has
 * said it is ready here.  What a start does after (hookd's recovery of
 * its spool, relayd's outbox) is not waited for: a large spool would
 * count against the manager's start timeout.
 */
static void
child_ready(struct mproc *p)
{
	static int	 said;
	const char	*desc;

	if (said)
		fatalx("SETUP_START: twice");
	said = 1;
	desc = sandbox_describe();
	mproc_compose(p, IMSG_SETUP_READY, 0, -1, desc, strlen(desc) + 1);
}

static void
child_dispatch_parent(struct mproc *p, struct mh_imsg *imsg)
{
	struct config	*conf;
	int		 done, v;
	uint32_t	 id;

	switch (imsg->hdr.type) {
	case IMSG_SETUP_CONF_START:
	case IMSG_SETUP_CONF_DATA:
	case IMSG_SETUP_CONF_END:
		conf = child_config_chunk(imsg, &done);
		if (!done)
			break;
		child_reconfigure(conf);
		/* the parent answers mhctl reload once every child has it */
		mproc_compose(p, IMSG_SETUP_CONF_DONE, imsg->hdr.peerid, -1,
		    NULL, 0);
		break;
	case IMSG_SETUP_PEER:
		child_peer(imsg);
		break;
	case IMSG_SETUP_LISTENER:
		if (MH_IMSG_DATA_SIZE(imsg) != sizeof(id) || imsg->fd == -1 ||
		    ops->listener == NULL)
			fatalx("SETUP_LISTENER: malformed");
		memcpy(&id, imsg->data, sizeof(id));
		ops->listener(imsg->fd, id);
		break;
	case IMSG_SETUP_START:
		child_ready(p);
		if (ops->start != NULL)
			ops->start();
		break;
	case IMSG_CTL_VERBOSE:
		memcpy(&v, msg_get(p, imsg, sizeof(v)), sizeof(v));
		log_setverbose(v);
		break;
	case IMSG_CTL_MONITOR:
		memcpy(&v, msg_get(p, imsg, sizeof(v)), sizeof(v));
		child_monitoring = v != 0;
		break;
	case IMSG_CTL_FORBIDDEN:
		/* int: 0 a forbidden call, 1 new executable memory */
		memcpy(&v, msg_get(p, imsg, sizeof(v)), sizeof(v));
		log_warnx("making a forbidden system call, as asked");
		if (v == 1)
			sandbox_forbidden_exec();
		sandbox_forbidden();
		break;
	case IMSG_CTL_REQUEST:
		child_control(p, imsg);
		break;
	default:
		if (ops->parent_dispatch != NULL) {
			ops->parent_dispatch(p, imsg);
			break;
		}
		fatalx("unexpected %s from parent",
		    imsg_type_name(imsg->hdr.type));
	}
}

/* room for the "process" the parent adds (control_child_event) */
#define CHILD_MONITOR_ROOM	64

/* an event for the monitors: one too large for a message is dropped */
void
child_monitor(const json_t *ev)
{
	char	*s;
	size_t	 len;

	if (!child_monitoring || proc_peer[PROC_PARENT] == NULL ||
	    (s = mproc_json_fits(ev, IMSG_CTL_LOG_EVENT, CHILD_MONITOR_ROOM,
	    &len)) == NULL)
		return;
	mproc_compose(proc_peer[PROC_PARENT], IMSG_CTL_LOG_EVENT, 0, -1, s,
	    len);
	free(s);
}

static void
child_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	if (child_draining)
		return;		/* it ends by itself, soon */
	log_info("exiting on signal %d", (int)sig);
	if (child_drain(0))
		return;
	if (ops->stop != NULL)
		ops->stop();
	exit(0);
}

void
child_run(const struct child_ops *o)
{
	struct mproc	*p;
	struct event	*evterm, *evint;
	const char	*dir;

	ops = o;
	proc_self = o->proc;
	log_procinit(proc_name(o->proc));
	if ((proc_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	log_buffer(proc_base);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	p = mproc_new(PROC_PARENT_FD, PROC_PARENT, child_dispatch_parent);
	p->lost = child_lost;
	proc_peer[PROC_PARENT] = p;

	child_conf = child_recv_config(p);
	if (o->preinit != NULL)
		o->preinit(child_conf);
	dir = o->chroot != NULL ? o->chroot(child_conf) : NULL;
	child_chrooted = dir != NULL && geteuid() == 0;
	privdrop(MH_USER, dir);
	sandbox_debug(child_conf->testing.seccomp_debug);
	sandbox_apply(o->proc);
	o->configure(child_conf);

	evterm = evsignal_new(proc_base, SIGTERM, child_sigterm, NULL);
	evint = evsignal_new(proc_base, SIGINT, child_sigterm, NULL);
	evsignal_add(evterm, NULL);
	evsignal_add(evint, NULL);

	log_debug("confined: %s", sandbox_describe());
	/* messages that arrived with the config are waiting in the buffer */
	event_active(p->ev, EV_READ, 0);
	event_base_dispatch(proc_base);
	fatalx("event loop ended");
}

void
child_spool_result(uint64_t reqid, const char *msgid, int code,
    const char *enhanced, const char *text, int delivered)
{
	child_spool_result_to(PROC_SMTPD, reqid, msgid, code, enhanced, text,
	    delivered);
}

void
child_spool_result_to(int proc, uint64_t reqid, const char *msgid, int code,
    const char *enhanced, const char *text, int delivered)
{
	struct spool_result	res;

	memset(&res, 0, sizeof(res));
	res.reqid = reqid;
	strlcpy(res.msgid, msgid, sizeof(res.msgid));
	res.code = code;
	strlcpy(res.enhanced, enhanced, sizeof(res.enhanced));
	strlcpy(res.text, text, sizeof(res.text));
	res.delivered = delivered != 0;
	mproc_compose(proc_peer[proc], IMSG_SPOOL_RESULT, 0, -1, &res,
	    sizeof(res));
}

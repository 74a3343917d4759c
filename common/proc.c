/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * imsg channels on libevent, and the helpers every process shares.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proc.h"

struct event_base	*proc_base;
struct mproc		*proc_peer[PROC_MAX];
enum mh_proc		 proc_self = PROC_PARENT;

static const char *proc_names[PROC_MAX] = {
	"parent", "smtpd", "authd", "relayd", "hookd", "signer", "webd",
	"control"
};

/* the channels between children; the parent has one to every child */
static const int proc_edges[][2] = {
	{ PROC_SMTPD, PROC_AUTHD },
	{ PROC_SMTPD, PROC_HOOKD },
	{ PROC_SMTPD, PROC_RELAYD },
	{ PROC_AUTHD, PROC_HOOKD },
	{ PROC_RELAYD, PROC_HOOKD },
	{ PROC_RELAYD, PROC_SIGNER },
	{ PROC_WEBD, PROC_HOOKD },
	{ PROC_WEBD, PROC_RELAYD },
};

const char *
proc_name(enum mh_proc p)
{
	if ((int)p < 0 || p >= PROC_MAX)
		return ("unknown");
	return (proc_names[p]);
}

int
proc_byname(const char *name)
{
	int	i;

	for (i = 0; i < PROC_MAX; i++)
		if (strcmp(proc_names[i], name) == 0)
			return (i);
	return (-1);
}

int
proc_edge(enum mh_proc a, enum mh_proc b)
{
	size_t	i;

	if (a == PROC_PARENT || b == PROC_PARENT)
		return (a != b);
	for (i = 0; i < sizeof(proc_edges) / sizeof(proc_edges[0]); i++)
		if (((int)a == proc_edges[i][0] &&
		    (int)b == proc_edges[i][1]) ||
		    ((int)b == proc_edges[i][0] &&
		    (int)a == proc_edges[i][1]))
			return (1);
	return (0);
}

/*
 * Writing: mproc_compose only queues.  Every channel written to during a
 * pass of the event loop is flushed once at the end of the pass (one
 * sendmsg for everything queued, no change to the polled events); only a
 * full socket arms a write event.
 */
static TAILQ_HEAD(, mproc)	 dirty = TAILQ_HEAD_INITIALIZER(dirty);
static struct event		*flush_ev;

static int	imsg_type_has_fd(uint32_t);

static void
mproc_lost(struct mproc *p)
{
	p->closed = 1;
	if (p->dirty) {
		TAILQ_REMOVE(&dirty, p, dirty_entry);
		p->dirty = 0;
	}
	if (p->ev != NULL)
		event_del(p->ev);
	if (p->wev != NULL)
		event_del(p->wev);
	if (p->lost != NULL) {
		p->lost(p);
		return;
	}
	fatalx("lost channel to %s", p->name);
}

/* write what is queued; 0 done or the socket is full, -1 lost */
static int
mproc_write(struct mproc *p)
{
	while (p->ibuf.w.queued > 0) {
		if (mh_msgbuf_write(&p->ibuf.w) <= 0) {
			if (errno == EAGAIN)
				break;
			mproc_lost(p);
			return (-1);
		}
	}
	if (p->ibuf.w.queued > 0 && !event_pending(p->wev, EV_WRITE, NULL))
		event_add(p->wev, NULL);
	return (0);
}

static void
mproc_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct mproc	*p;

	while ((p = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, p, dirty_entry);
		p->dirty = 0;
		if (!p->closed)
			mproc_write(p);
	}
}

static void
mproc_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct mproc	*p = arg;

	if (!p->closed && mproc_write(p) == 0 && p->ibuf.w.queued == 0 &&
	    p->drained != NULL)
		p->drained(p);
}

static void
mproc_dispatch(evutil_socket_t fd, short ev, void *arg)
{
	struct mproc	*p = arg;
	struct mh_imsg	 imsg;
	ssize_t		 n;

	n = mh_imsg_read(&p->ibuf);
	if (n == -1 && errno == ETOOMANYREFS)
		log_warnx("%s: %s sent more than %d descriptors ahead of "
		    "their messages", proc_name(proc_self), p->name,
		    MH_IMSG_MAXFDS);
	else if (n == -1 && errno == EBADMSG)
		log_warnx("%s: a %s client sent a descriptor, which it may "
		    "not: dropped", proc_name(proc_self), p->name);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		mproc_lost(p);
		return;
	}
	for (;;) {
		if ((n = mh_imsg_get(&p->ibuf, &imsg)) == -1) {
			if (p->proc == PROC_CONTROL) {
				mproc_lost(p);
				return;
			}
			fatal("%s: corrupt imsg stream from %s",
			    proc_name(proc_self), p->name);
		}
		if (n == 0)
			break;
		/* a control client's never comes (nofds: it is dropped) */
		if (imsg.fd != -1 && !imsg_type_has_fd(imsg.hdr.type))
			fatalx("%s: %s from %s with a descriptor",
			    proc_name(proc_self),
			    imsg_type_name(imsg.hdr.type), p->name);
		/* the handler owns imsg.fd: it keeps it or closes it */
		p->handler(p, &imsg);
		mh_imsg_free(&imsg);
		if (p->closed)
			return;
	}
}

/*
 * The peer has ended: what it sent before its end is dispatched, then
 * its end (p->lost).  Bounded: a live peer's channel is left as it is.
 */
void
mproc_drain(struct mproc *p)
{
	int	i;

	for (i = 0; i < 64 && p != NULL && !p->closed; i++)
		mproc_dispatch(p->ibuf.fd, EV_READ, p);
}

struct mproc *
mproc_new(int fd, enum mh_proc peer, mproc_handler handler)
{
	struct mproc	*p;
	int		 fl;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("mproc_new");
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("mproc_new: fcntl");
	mh_imsg_init(&p->ibuf, fd);
	p->proc = peer;
	p->name = proc_name(peer);
	p->handler = handler;
	if (flush_ev == NULL &&
	    (flush_ev = event_new(proc_base, -1, 0, mproc_flush, NULL)) == NULL)
		fatalx("mproc_new: event_new");
	p->ev = event_new(proc_base, fd, EV_READ | EV_PERSIST, mproc_dispatch,
	    p);
	p->wev = event_new(proc_base, fd, EV_WRITE, mproc_writable, p);
	if (p->ev == NULL || p->wev == NULL)
		fatalx("mproc_new: event_new");
	event_add(p->ev, NULL);
	return (p);
}

void
mproc_free(struct mproc *p)
{
	if (p == NULL)
		return;
	if (p->dirty)
		TAILQ_REMOVE(&dirty, p, dirty_entry);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->wev != NULL)
		event_free(p->wev);
	mh_imsg_clear(&p->ibuf);
	close(p->ibuf.fd);
	free(p);
}

/* queued output leaves at the end of this pass of the event loop */
void
mproc_update(struct mproc *p)
{
	if (p->closed || p->dirty || p->ibuf.w.queued == 0)
		return;
	p->dirty = 1;
	TAILQ_INSERT_TAIL(&dirty, p, dirty_entry);
	event_active(flush_ev, EV_TIMEOUT, 0);
}

/*
 * Write what is queued at once instead of at the end of the pass: for a
 * reply another process waits for, made between slow steps of one pass
 * (the signer answers each signature as soon as it is made).
 */
void
mproc_flush_now(struct mproc *p)
{
	if (!p->closed)
		mproc_write(p);
}

int
mproc_stalled(struct mproc *p)
{
	return (!p->closed && p->wev != NULL &&
	    event_pending(p->wev, EV_WRITE, NULL));
}

void
mproc_compose2(struct mproc *p, uint32_t type, uint32_t peerid, int fd,
    const void *d1, size_t l1, const void *d2, size_t l2)
{
	if (p == NULL || p->closed) {
		if (fd != -1)
			close(fd);
		log_warnx("%s: no channel for %s", proc_name(proc_self),
		    imsg_type_name(type));
		return;
	}
	if (mh_imsg_compose2(&p->ibuf, type, peerid, 0, fd, d1, l1, d2,
	    l2) == -1)
		fatal("mh_imsg_compose %s to %s", imsg_type_name(type),
		    p->name);
	mproc_update(p);
}

void
mproc_compose(struct mproc *p, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	mproc_compose2(p, type, peerid, fd, data, len, NULL, 0);
}

void
mproc_send_json(struct mproc *p, uint32_t type, uint32_t peerid,
    const json_t *j)
{
	char	*s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	mproc_compose(p, type, peerid, -1, s, strlen(s));
	free(s);
}

/*
 * j as JSON for a message of type that may be dropped (an event for the
 * monitors): NULL, with a warning, if it is more than one message carries
 * less room bytes (what the receiver adds before passing it on), where
 * mproc_compose would be fatal.  Else the text, len bytes, to free.
 */
char *
mproc_json_fits(const json_t *j, uint32_t type, size_t room, size_t *len)
{
	char	*s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	if ((*len = strlen(s)) + room > MH_IMSG_MAXSIZE - MH_IMSG_HDRSZ) {
		log_warnx("%s of %zu bytes is more than one message carries "
		    "(%zu): dropped", imsg_type_name(type), *len,
		    (size_t)(MH_IMSG_MAXSIZE - MH_IMSG_HDRSZ) - room);
		free(s);
		return (NULL);
	}
	return (s);
}

/*
 * A control reply (to mhctl, or to the parent for it): reply as JSON
 * with fd, if any.  One over what a message between processes carries
 * (MH_IMSG_MAXSIZE) goes as {"error": "reply too large ..."} without
 * the fd: no command's answer is fatal to the process that gives it.
 */
void
mproc_send_reply(struct mproc *p, uint32_t type, uint32_t peerid, int fd,
    const json_t *reply)
{
	json_t	*j;
	char	*s, err[128];
	size_t	 len;

	if ((s = json_dumps(reply, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	if ((len = strlen(s)) > MH_IMSG_MAXSIZE - MH_IMSG_HDRSZ) {
		free(s);
		if (fd != -1)
			close(fd);
		fd = -1;
		log_warnx("control: a reply of %zu bytes is more than one "
		    "message carries (%d): an error sent instead", len,
		    MH_IMSG_MAXSIZE);
		snprintf(err, sizeof(err), "reply too large (%zu bytes, at "
		    "most %zu)", len, (size_t)(MH_IMSG_MAXSIZE - MH_IMSG_HDRSZ));
		if ((j = json_pack("{s:s}", "error", err)) == NULL ||
		    (s = json_dumps(j, JSON_COMPACT)) == NULL)
			fatalx("control: reply");
		json_decref(j);
		len = strlen(s);
	}
	mproc_compose(p, type, peerid, fd, s, len);
	free(s);
}

void *
msg_get(struct mproc *p, struct mh_imsg *imsg, size_t size)
{
	if (MH_IMSG_DATA_SIZE(imsg) != size)
		fatalx("%s: %s from %s: size %zu, want %zu",
		    proc_name(proc_self), imsg_type_name(imsg->hdr.type),
		    p->name, MH_IMSG_DATA_SIZE(imsg), size);
	return (imsg->data);
}

json_t *
msg_get_json(struct mproc *p, struct mh_imsg *imsg)
{
	json_error_t	 err;
	json_t		*j;

	if (imsg->data == NULL)
		fatalx("%s: empty %s from %s", proc_name(proc_self),
		    imsg_type_name(imsg->hdr.type), p->name);
	j = json_loadb(imsg->data, MH_IMSG_DATA_SIZE(imsg),
	    JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		fatalx("%s: malformed %s from %s: %s", proc_name(proc_self),
		    imsg_type_name(imsg->hdr.type), p->name, err.text);
	return (j);
}

int
msg_str_ok(const char *s, size_t size)
{
	size_t	i;

	for (i = 0; i < size; i++) {
		if (s[i] == '\0')
			return (1);
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (0);
	}
	return (0);
}

int
fallback_req_ok(const struct fallback_req *req)
{
	return (msg_str_ok(req->msgid, sizeof(req->msgid)) &&
	    envelope_id_ok(req->msgid) &&
	    msg_str_ok(req->route, sizeof(req->route)) &&
	    msg_str_ok(req->sender, sizeof(req->sender)) &&
	    msg_str_ok(req->to, sizeof(req->to)) &&
	    envelope_field_ok(req->sender) && envelope_field_ok(req->to) &&
	    req->to[0] != '\0');
}

/*
 * The rua of a TLS-RPT report for hookd to POST (RFC 8460 3): an https:
 * URL config_check_url takes, without a control character.  It comes
 * from a DNS record, anyone's: relayd hands hookd no other, and hookd
 * takes no other.
 */
int
tlsrpt_post_ok(const struct tlsrpt_post *tp)
{
	return (msg_str_ok(tp->url, sizeof(tp->url)) &&
	    strncmp(tp->url, "https://", 8) == 0 &&
	    config_check_url(tp->url) == NULL);
}

/* the message of a fallback request: 0, or -1 (errno set) */
int
fallback_fd_ok(int fd, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return (-1);
	if (!S_ISREG(st->st_mode) || st->st_size > FALLBACK_MSG_MAX) {
		errno = EINVAL;
		return (-1);
	}
	return (0);
}

/*
 * The types that carry a descriptor.  Any other that comes with one is a
 * peer's fault: no handler would close it, and a peer could fill the
 * receiver's descriptor table with them.
 */
static int
imsg_type_has_fd(uint32_t t)
{
	switch (t) {
	case IMSG_SETUP_PEER:
	case IMSG_SETUP_LISTENER:
	case IMSG_CTL_REPLY:
	case IMSG_SPOOL_FD:
	case IMSG_SIGN_REQ:
	case IMSG_FALLBACK_MAILDIR:
	case IMSG_FALLBACK_SMTP:
		return (1);
	}
	return (0);
}

const char *
imsg_type_name(uint32_t t)
{
	/* by name: the table cannot drift from the enum's order */
	static const char *names[IMSG_TYPE_MAX] = {
		[IMSG_NONE] = "NONE",
		[IMSG_SETUP_CONF_START] = "SETUP_CONF_START",
		[IMSG_SETUP_CONF_DATA] = "SETUP_CONF_DATA",
		[IMSG_SETUP_CONF_END] = "SETUP_CONF_END",
		[IMSG_SETUP_CONF_DONE] = "SETUP_CONF_DONE",
		[IMSG_SETUP_PEER_LOST] = "SETUP_PEER_LOST",
		[IMSG_SETUP_PEER] = "SETUP_PEER",
		[IMSG_SETUP_LISTENER] = "SETUP_LISTENER",
		[IMSG_SETUP_READY] = "SETUP_READY",
		[IMSG_SETUP_START] = "SETUP_START",
		[IMSG_CTL_VERBOSE] = "CTL_VERBOSE",
		[IMSG_CTL_FORBIDDEN] = "CTL_FORBIDDEN",
		[IMSG_CTL_REQUEST] = "CTL_REQUEST",
		[IMSG_CTL_REPLY] = "CTL_REPLY",
		[IMSG_CTL_LOG_EVENT] = "CTL_LOG_EVENT",
		[IMSG_CTL_MONITOR] = "CTL_MONITOR",
		[IMSG_CTL_CLUSTER] = "CTL_CLUSTER",
		[IMSG_METRICS_REQ] = "METRICS_REQ",
		[IMSG_METRICS_RES] = "METRICS_RES",
		[IMSG_AUTHD_RCPT_REQ] = "AUTHD_RCPT_REQ",
		[IMSG_AUTHD_RCPT_RES] = "AUTHD_RCPT_RES",
		[IMSG_AUTHD_AUTH_REQ] = "AUTHD_AUTH_REQ",
		[IMSG_AUTHD_AUTH_RES] = "AUTHD_AUTH_RES",
		[IMSG_AUTHD_RCPT_CANCEL] = "AUTHD_RCPT_CANCEL",
		[IMSG_SPOOL_OPEN] = "SPOOL_OPEN",
		[IMSG_SPOOL_FD] = "SPOOL_FD",
		[IMSG_SPOOL_COMMIT] = "SPOOL_COMMIT",
		[IMSG_SPOOL_RESULT] = "SPOOL_RESULT",
		[IMSG_SPOOL_ABORT] = "SPOOL_ABORT",
		[IMSG_EVENT] = "EVENT",
		[IMSG_SUPPRESS] = "SUPPRESS",
		[IMSG_EVENT_ACK] = "EVENT_ACK",
		[IMSG_TRACK_EVENT] = "TRACK_EVENT",
		[IMSG_UNSUBSCRIBE_MAILTO] = "UNSUBSCRIBE_MAILTO",
		[IMSG_UNSUBSCRIBE_MAILTO_ACK] = "UNSUBSCRIBE_MAILTO_ACK",
		[IMSG_SIGNER_RESET] = "SIGNER_RESET",
		[IMSG_SIGNER_KEY] = "SIGNER_KEY",
		[IMSG_SIGN_REQ] = "SIGN_REQ",
		[IMSG_SIGN_RES] = "SIGN_RES",
		[IMSG_UNSUBSCRIBE] = "UNSUBSCRIBE",
		[IMSG_UNSUBSCRIBE_RES] = "UNSUBSCRIBE_RES",
		[IMSG_API_STATUS] = "API_STATUS",
		[IMSG_API_STATUS_RES] = "API_STATUS_RES",
		[IMSG_API_IDEM] = "API_IDEM",
		[IMSG_API_IDEM_RES] = "API_IDEM_RES",
		[IMSG_FALLBACK_MAILDIR] = "FALLBACK_MAILDIR",
		[IMSG_FALLBACK_RES] = "FALLBACK_RES",
		[IMSG_FALLBACK_SMTP] = "FALLBACK_SMTP",
		[IMSG_TLSRPT_POST] = "TLSRPT_POST",
	};

	if (t >= IMSG_TYPE_MAX || names[t] == NULL)
		return ("unknown");
	return (names[t]);
}

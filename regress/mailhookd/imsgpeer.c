/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * imsgpeer: a hostile peer on one imsg channel of one real child.
 *
 * usage: imsgpeer -x mailhookd -f conf -e errfile [-i hexid] [-u url]
 *	      child peer kind type
 *
 * It plays the parent for `mailhookd -P child -d` (config, a channel to
 * every peer the child has, start), waits for the child to be ready and
 * confined, prints "ready" and waits for a line on stdin (the caller
 * looks at the spool meanwhile).  Then, as `peer` (another child's name,
 * or "parent"), it sends one malformed message of imsg type `type`
 * (imsg_type_name(), e.g. SPOOL_ABORT):
 *	short, long	the payload 4 bytes shorter or longer than the struct
 *			(for a JSON payload: empty, or trailing junk)
 *	unterminated	a string field filled to its end without a NUL
 *	control		a string field with CR LF inside
 *	empty		a string field empty where one is always given
 *	id		the message id field set to the bytes of -i hexid
 *			(17 at most: '/', "..", NUL, overlong)
 *	range		a number out of its range (code, verdict, result,
 *			a size under -1)
 *	json		a JSON payload that does not parse
 *	fields		a JSON payload that lacks the fields it needs
 *	envelope	SPOOL_COMMIT: a well-formed id, a malformed envelope
 *	unexpected	a well-sized message of a type the child must not
 *			accept from this peer
 *	fd		a well-formed message with a descriptor attached, of
 *			a type that carries none
 *	stray		the same, but the header does not say HASFD: the
 *			descriptor goes beside the message as SCM_RIGHTS
 *	early		as unexpected, from the parent before the child's
 *			config (it waits for the config meanwhile: "ready"
 *			once it is started)
 *	answer		FALLBACK_RES: once the child asks for a fallback
 *			(FALLBACK_MAILDIR of the parent, FALLBACK_SMTP of
 *			relayd; "not asked" if none comes in 60 s), a valid
 *			answer to that request, ok, from peer (the one
 *			asked: a control case, or the other)
 *	private		TLSRPT_POST: a well-formed report for the -u url,
 *			the URL followed by an int32 1, where the message
 *			once carried relayd's "allow private addresses"
 *			(hookd's own setting decides now: the 1 is the
 *			report's first bytes)
 * and prints how the child ended: "exit N", "signal N" or "alive" (then
 * it is killed).  The child's stderr (it runs with -d) goes to errfile.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mailhook.h"

#include <event2/event.h>

#include "log.h"
#include "mailhookd.h"
#include "mh_event.h"
#include "proc.h"
#include "seal.h"

static struct mproc	*chan[PROC_MAX];	/* ours, to the child */
static int		 child_ready;
static pid_t		 child_pid;
static int		 child_status = -1;
static struct fallback_req fb_req;	/* the child's fallback request */
static int		 fb_asked;

static void
from_child(struct mproc *p, struct mh_imsg *imsg)
{
	if (p->proc == PROC_PARENT && imsg->hdr.type == IMSG_SETUP_READY)
		child_ready = 1;
	else
		printf("# %s got %s\n", p->name,
		    imsg_type_name(imsg->hdr.type));
	/* what "answer" answers */
	if ((imsg->hdr.type == IMSG_FALLBACK_MAILDIR ||
	    imsg->hdr.type == IMSG_FALLBACK_SMTP) && !fb_asked &&
	    MH_IMSG_DATA_SIZE(imsg) == sizeof(fb_req)) {
		memcpy(&fb_req, imsg->data, sizeof(fb_req));
		fb_asked = 1;
	}
	if (imsg->fd != -1)
		close(imsg->fd);
}

static void
lost(struct mproc *p)
{
	printf("# channel %s closed\n", p->name);
}

static int
reaped(void)
{
	int	st;

	if (child_status == -1 && waitpid(child_pid, &st, WNOHANG) ==
	    child_pid)
		child_status = st;
	return (child_status != -1);
}

/* run the loop until cond() or secs have passed */
static void
spin(double secs, int (*cond)(void))
{
	struct timespec	 t0, t;
	struct timeval	 tick = { 0, 20000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (cond != NULL && cond())
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 >
		    secs)
			return;
		event_base_loopexit(proc_base, &tick);
		event_base_dispatch(proc_base);
	}
}

static int
ready(void)
{
	return (child_ready || reaped());
}

static int
asked(void)
{
	return (fb_asked || reaped());
}

static pid_t
spawn(const char *self, const char *name, const char *errfile, int *fd)
{
	int	 sp[2], efd;
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		err(2, "socketpair");
	if ((efd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		err(2, "%s", errfile);
	fflush(stdout);
	if ((pid = fork()) == -1)
		err(2, "fork");
	if (pid == 0) {
		if (dup2(sp[1], PROC_PARENT_FD) == -1 ||
		    dup2(efd, STDERR_FILENO) == -1)
			_exit(2);
		execl(self, "mailhookd", "-P", name, "-d", (char *)NULL);
		_exit(2);
	}
	close(sp[1]);
	close(efd);
	*fd = sp[0];
	return (pid);
}

static void
connect_peers(enum mh_proc self)
{
	int	 sp[2], i;

	for (i = PROC_SMTPD; i < PROC_CONTROL; i++) {
		if (i == (int)self || !proc_edge(self, i))
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) ==
		    -1)
			err(2, "socketpair");
		mproc_compose(chan[PROC_PARENT], IMSG_SETUP_PEER, 0, sp[1], &i,
		    sizeof(i));
		chan[i] = mproc_new(sp[0], i, from_child);
		chan[i]->lost = lost;
	}
}

static int
type_of(const char *s)
{
	uint32_t	t;

	for (t = 0; t < IMSG_TYPE_MAX; t++)
		if (strcmp(imsg_type_name(t), s) == 0)
			return (t);
	errx(2, "unknown imsg type %s", s);
}

/* the fixed payload size of a type; 0 for text (JSON) payloads */
static size_t
size_of(uint32_t type)
{
	switch (type) {
	case IMSG_AUTHD_RCPT_REQ:	return (sizeof(struct authd_rcpt_req));
	case IMSG_AUTHD_RCPT_RES:	return (sizeof(struct authd_rcpt_res));
	case IMSG_AUTHD_AUTH_REQ:	return (sizeof(struct authd_auth_req));
	case IMSG_AUTHD_AUTH_RES:	return (sizeof(struct authd_auth_res));
	case IMSG_SPOOL_OPEN:		return (sizeof(struct spool_open));
	case IMSG_SPOOL_FD:		return (sizeof(struct spool_fd));
	case IMSG_SPOOL_COMMIT:		return (sizeof(struct spool_commit));
	case IMSG_SPOOL_RESULT:		return (sizeof(struct spool_result));
	case IMSG_SPOOL_ABORT:		return (sizeof(struct spool_abort));
	case IMSG_SUPPRESS:		return (sizeof(struct suppress_req));
	case IMSG_EVENT_ACK:		return (sizeof(struct event_ack));
	case IMSG_UNSUBSCRIBE_MAILTO:	return (sizeof(struct unsubscribe_mailto));
	case IMSG_UNSUBSCRIBE:		return (sizeof(struct unsub_req));
	case IMSG_UNSUBSCRIBE_RES:	return (sizeof(struct unsub_res));
	case IMSG_SIGN_REQ:		return (sizeof(struct sign_req));
	case IMSG_SIGN_RES:		return (sizeof(struct sign_res));
	case IMSG_FALLBACK_RES:		return (sizeof(struct fallback_res));
	case IMSG_FALLBACK_SMTP:	return (sizeof(struct fallback_req));
	case IMSG_TLSRPT_POST:		return (sizeof(struct tlsrpt_post));
	case IMSG_CTL_VERBOSE:
	case IMSG_CTL_MONITOR:
	case IMSG_SETUP_PEER:		return (sizeof(int));
	default:			return (0);
	}
}

/* a valid message of that type, as the real peer would send it */
static void
fill(uint32_t type, char *b, enum mh_proc child)
{
	struct authd_rcpt_req	*rq = (void *)b;
	struct authd_rcpt_res	*rs = (void *)b;
	struct authd_auth_req	*aq = (void *)b;
	struct spool_fd		*sf = (void *)b;
	struct spool_commit	*sc = (void *)b;
	struct spool_result	*sr = (void *)b;
	struct spool_abort	*sa = (void *)b;
	struct suppress_req	*su = (void *)b;
	struct event_ack	*ea = (void *)b;
	struct unsubscribe_mailto *um = (void *)b;
	struct unsub_req	*uq = (void *)b;
	struct sign_req		*gq = (void *)b;
	struct sign_res		*gs = (void *)b;
	struct fallback_res	*fr = (void *)b;
	struct fallback_req	*fq = (void *)b;
	struct tlsrpt_post	*tp = (void *)b;

	switch (type) {
	case IMSG_AUTHD_RCPT_REQ:
		rq->reqid = 1;
		strlcpy(rq->remote_ip, "192.0.2.1", sizeof(rq->remote_ip));
		strlcpy(rq->helo, "peer.test", sizeof(rq->helo));
		strlcpy(rq->sender, "a@peer.test", sizeof(rq->sender));
		strlcpy(rq->rcpt, "b@example.test", sizeof(rq->rcpt));
		rq->size = -1;
		break;
	case IMSG_AUTHD_RCPT_RES:
		rs->reqid = 1;
		rs->code = 250;
		strlcpy(rs->enhanced, "2.1.5", sizeof(rs->enhanced));
		strlcpy(rs->text, "ok", sizeof(rs->text));
		break;
	case IMSG_AUTHD_AUTH_REQ:
		aq->reqid = 1;
		strlcpy(aq->remote_ip, "192.0.2.1", sizeof(aq->remote_ip));
		strlcpy(aq->user, "u", sizeof(aq->user));
		strlcpy(aq->pass, "p", sizeof(aq->pass));
		break;
	case IMSG_SPOOL_FD:
		sf->reqid = 1;
		sf->ok = 1;
		strlcpy(sf->msgid, "0123456789abcdef", sizeof(sf->msgid));
		break;
	case IMSG_SPOOL_COMMIT:
		sc->reqid = 1;
		strlcpy(sc->msgid, "0123456789abcdef", sizeof(sc->msgid));
		break;
	case IMSG_SPOOL_RESULT:
		sr->reqid = 1;
		sr->code = 250;
		strlcpy(sr->msgid, "0123456789abcdef", sizeof(sr->msgid));
		strlcpy(sr->enhanced, "2.0.0", sizeof(sr->enhanced));
		strlcpy(sr->text, "ok", sizeof(sr->text));
		break;
	case IMSG_SPOOL_ABORT:
		strlcpy(sa->msgid, "0123456789abcdef", sizeof(sa->msgid));
		break;
	case IMSG_SUPPRESS:
		strlcpy(su->addr, "b@example.test", sizeof(su->addr));
		strlcpy(su->reason, "550", sizeof(su->reason));
		break;
	case IMSG_EVENT_ACK:
		strlcpy(ea->id, "00000000-0000-4000-8000-000000000000",
		    sizeof(ea->id));
		break;
	case IMSG_UNSUBSCRIBE_MAILTO:
		strlcpy(um->local, "unsubscribe", sizeof(um->local));
		strlcpy(um->sender, "b@example.test", sizeof(um->sender));
		strlcpy(um->queue_id, "0123456789abcdef", sizeof(um->queue_id));
		break;
	case IMSG_UNSUBSCRIBE:
		uq->reqid = 1;
		strlcpy(uq->queue_id, "0123456789abcdef", sizeof(uq->queue_id));
		strlcpy(uq->addr, "b@example.test", sizeof(uq->addr));
		strlcpy(uq->domain, "sender.test", sizeof(uq->domain));
		break;
	case IMSG_SIGN_REQ:
		gq->reqid = 1;
		strlcpy(gq->domain, "example.test", sizeof(gq->domain));
		break;
	case IMSG_SIGN_RES:
		gs->reqid = 1;
		gs->status = SIGN_FAIL;
		strlcpy(gs->error, "no key", sizeof(gs->error));
		break;
	case IMSG_FALLBACK_RES:
		strlcpy(fr->msgid, "0123456789abcdef", sizeof(fr->msgid));
		fr->ok = 1;
		break;
	case IMSG_FALLBACK_SMTP:
		strlcpy(fq->msgid, "0123456789abcdef", sizeof(fq->msgid));
		strlcpy(fq->route, "example.test", sizeof(fq->route));
		strlcpy(fq->sender, "a@peer.test", sizeof(fq->sender));
		strlcpy(fq->to, "b@example.test", sizeof(fq->to));
		break;
	case IMSG_TLSRPT_POST:
		strlcpy(tp->url, "https://rua.example.test/r", sizeof(tp->url));
		break;
	case IMSG_CTL_VERBOSE:
	case IMSG_CTL_MONITOR:
		break;
	}
	(void)child;
}

/* the field a string case spoils, and where the message id lives */
static char *
string_field(uint32_t type, char *b, size_t *len)
{
	switch (type) {
	case IMSG_AUTHD_RCPT_REQ:
		*len = sizeof(((struct authd_rcpt_req *)0)->rcpt);
		return (((struct authd_rcpt_req *)b)->rcpt);
	case IMSG_AUTHD_RCPT_RES:
		*len = sizeof(((struct authd_rcpt_res *)0)->text);
		return (((struct authd_rcpt_res *)b)->text);
	case IMSG_AUTHD_AUTH_REQ:
		*len = sizeof(((struct authd_auth_req *)0)->user);
		return (((struct authd_auth_req *)b)->user);
	case IMSG_SPOOL_FD:
		*len = MH_MSGID_LEN;
		return (((struct spool_fd *)b)->msgid);
	case IMSG_SPOOL_COMMIT:
		*len = MH_MSGID_LEN;
		return (((struct spool_commit *)b)->msgid);
	case IMSG_SPOOL_RESULT:
		*len = MH_MSGID_LEN;
		return (((struct spool_result *)b)->msgid);
	case IMSG_SPOOL_ABORT:
		*len = MH_MSGID_LEN;
		return (((struct spool_abort *)b)->msgid);
	case IMSG_SUPPRESS:
		*len = sizeof(((struct suppress_req *)0)->addr);
		return (((struct suppress_req *)b)->addr);
	case IMSG_EVENT_ACK:
		*len = sizeof(((struct event_ack *)0)->id);
		return (((struct event_ack *)b)->id);
	case IMSG_UNSUBSCRIBE_MAILTO:
		*len = MH_MSGID_LEN;
		return (((struct unsubscribe_mailto *)b)->queue_id);
	case IMSG_UNSUBSCRIBE:
		*len = MH_MSGID_LEN;
		return (((struct unsub_req *)b)->queue_id);
	case IMSG_SIGN_REQ:
		*len = sizeof(((struct sign_req *)0)->domain);
		return (((struct sign_req *)b)->domain);
	case IMSG_SIGN_RES:
		*len = sizeof(((struct sign_res *)0)->error);
		return (((struct sign_res *)b)->error);
	case IMSG_FALLBACK_RES:
		*len = sizeof(((struct fallback_res *)0)->name);
		return (((struct fallback_res *)b)->name);
	case IMSG_FALLBACK_SMTP:
		*len = sizeof(((struct fallback_req *)0)->to);
		return (((struct fallback_req *)b)->to);
	case IMSG_TLSRPT_POST:
		*len = sizeof(((struct tlsrpt_post *)0)->url);
		return (((struct tlsrpt_post *)b)->url);
	}
	errx(2, "%s has no string field", imsg_type_name(type));
}

static void
out_of_range(uint32_t type, char *b)
{
	switch (type) {
	case IMSG_AUTHD_RCPT_REQ:
		((struct authd_rcpt_req *)b)->size = -2;
		break;
	case IMSG_AUTHD_RCPT_RES:
		((struct authd_rcpt_res *)b)->verdict = 7;
		break;
	case IMSG_AUTHD_AUTH_RES:
		((struct authd_auth_res *)b)->result = 77;
		break;
	case IMSG_SPOOL_COMMIT:
		((struct spool_commit *)b)->data_size = -1;
		break;
	case IMSG_SPOOL_RESULT:
		((struct spool_result *)b)->code = 999;
		break;
	case IMSG_SIGN_RES:
		((struct sign_res *)b)->status = 9;
		break;
	case IMSG_FALLBACK_RES:
		((struct fallback_res *)b)->ok = 7;
		break;
	default:
		errx(2, "%s has no number to spoil", imsg_type_name(type));
	}
}

/* a message file for SPOOL_FD, as the owner would pass it */
static int
spool_file(void)
{
	char	path[] = "/tmp/imsgpeer.XXXXXX";
	int	fd;

	if ((fd = mkstemp(path)) == -1)
		err(2, "mkstemp");
	unlink(path);
	return (fd);
}

/* the envelope text of a SPOOL_COMMIT for this owner */
static char *
commit_text(const char *id, enum mh_proc owner, size_t *len)
{
	struct envelope		 env;
	struct envelope_rcpt	*r;
	char			*s;

	envelope_init(&env);
	strlcpy(env.id, id, sizeof(env.id));
	strlcpy(env.sender, "a@peer.test", sizeof(env.sender));
	r = envelope_add_rcpt(&env, "b@example.test");
	r->dest = owner == PROC_RELAYD ? DEST_RELAY : DEST_ROUTE;
	if ((s = envelope_encode(&env, len)) == NULL) {
		/* an id the encoder refuses: send it raw all the same */
		*len = strlen(id) + 4;
		if ((s = malloc(*len + 1)) == NULL)
			err(2, "malloc");
		snprintf(s, *len + 1, "id %s\n", id);
		*len = strlen(s);
	}
	envelope_clear(&env);
	return (s);
}

/*
 * relayd's event (IMSG_EVENT, struct event_wire and its strings), valid
 * but for what kind spoils
 */
static void
event_attack(int peer, const char *kind)
{
	struct event_record	 ev;
	struct event_wire	*w;
	char			*buf;
	size_t			 len;

	mh_event_init(&ev, EV_DELIVERY);
	strlcpy(ev.queue_id, "0123456789abcdef", sizeof(ev.queue_id));
	strlcpy(ev.recipient, "b@example.test", sizeof(ev.recipient));
	if ((buf = mh_event_pack(&ev, &len)) == NULL ||
	    (buf = realloc(buf, len + 4)) == NULL)
		errx(2, "mh_event_pack");
	w = (struct event_wire *)(void *)buf;
	if (strcmp(kind, "short") == 0)
		len--;
	else if (strcmp(kind, "long") == 0) {
		memcpy(buf + len, "junk", 4);
		len += 4;
	} else if (strcmp(kind, "unterminated") == 0)
		memset(w->id, 'a', sizeof(w->id));
	else if (strcmp(kind, "range") == 0)
		w->kind = EV_KIND_MAX;
	else if (strcmp(kind, "fields") == 0)
		buf[sizeof(*w) + 1] = ' ';	/* in the queue id, a token */
	else
		errx(2, "EVENT: no kind %s", kind);
	mproc_compose(chan[peer], IMSG_EVENT, 0, -1, buf, len);
	free(buf);
}

/* a valid answer to the child's fallback request, from peer */
static void
answer(int peer, uint32_t type)
{
	struct fallback_res	 res;

	if (type != IMSG_FALLBACK_RES)
		errx(2, "answer: FALLBACK_RES only");
	spin(60, asked);
	if (!fb_asked) {
		printf("not asked\n");
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
		exit(1);
	}
	memset(&res, 0, sizeof(res));
	strlcpy(res.msgid, fb_req.msgid, sizeof(res.msgid));
	res.rcpt = fb_req.rcpt;
	res.ok = 1;
	/* a queue id (relayd's) is a maildir file name too (the parent's) */
	strlcpy(res.name, "0123456789abcdef", sizeof(res.name));
	mproc_compose(chan[peer], IMSG_FALLBACK_RES, 0, -1, &res,
	    sizeof(res));
}

/* a report for url, with relayd's word that private addresses are fine */
static void
private_post(int peer, uint32_t type, const char *url)
{
	char	 buf[MH_URL_MAX + 8];
	int32_t	 allow = 1;

	if (type != IMSG_TLSRPT_POST || url == NULL ||
	    strlen(url) >= MH_URL_MAX)
		errx(2, "private: TLSRPT_POST with -u url only");
	memset(buf, 0, sizeof(buf));
	strlcpy(buf, url, MH_URL_MAX);
	memcpy(buf + MH_URL_MAX, &allow, sizeof(allow));
	memcpy(buf + MH_URL_MAX + sizeof(allow), "gzip", 4);
	mproc_compose(chan[peer], type, 0, -1, buf, sizeof(buf));
}

/* the message just queued keeps its descriptor, its header loses HASFD */
static void
stray_fd(struct mproc *p)
{
	struct mh_ibuf		*b, *last = NULL;
	struct mh_imsg_hdr	 hdr;

	TAILQ_FOREACH(b, &p->ibuf.w.bufs, entry)
		last = b;
	if ((b = last) == NULL || b->fd == -1)
		errx(2, "stray: no message with a descriptor queued");
	memcpy(&hdr, b->buf, sizeof(hdr));
	hdr.flags &= ~MH_IMSGF_HASFD;
	memcpy(b->buf, &hdr, sizeof(hdr));
}

static void
attack(enum mh_proc child, int peer, const char *kind, uint32_t type,
    const unsigned char *id, size_t idlen, const char *url)
{
	char		 buf[8192], *field, *text = NULL;
	size_t		 size = size_of(type), len = size, flen;
	int		 fd = -1;

	if (strcmp(kind, "answer") == 0) {
		answer(peer, type);
		return;
	}
	if (strcmp(kind, "private") == 0) {
		private_post(peer, type, url);
		return;
	}
	if (type == IMSG_EVENT && strcmp(kind, "json") != 0 &&
	    strcmp(kind, "unexpected") != 0) {
		event_attack(peer, kind);
		return;
	}
	memset(buf, 0, sizeof(buf));
	fill(type, buf, child);
	if (type == IMSG_SPOOL_FD || type == IMSG_SIGN_REQ ||
	    strcmp(kind, "fd") == 0 || strcmp(kind, "stray") == 0)
		fd = spool_file();
	if (strcmp(kind, "short") == 0)
		len = size >= 4 ? size - 4 : 0;
	else if (strcmp(kind, "long") == 0)
		len = size > 0 ? size + 4 : strlcpy(buf, "{}junk", sizeof(buf));
	else if (strcmp(kind, "unterminated") == 0) {
		field = string_field(type, buf, &flen);
		memset(field, 'a', flen);
	} else if (strcmp(kind, "control") == 0) {
		field = string_field(type, buf, &flen);
		strlcpy(field, "u\r\nx", flen);
	} else if (strcmp(kind, "empty") == 0) {
		field = string_field(type, buf, &flen);
		field[0] = '\0';
	} else if (strcmp(kind, "id") == 0) {
		field = string_field(type, buf, &flen);
		memset(field, 0, flen);
		memcpy(field, id, idlen > flen ? flen : idlen);
	} else if (strcmp(kind, "range") == 0)
		out_of_range(type, buf);
	else if (strcmp(kind, "json") == 0)
		len = strlcpy(buf, "{not json", sizeof(buf));
	else if (strcmp(kind, "fields") == 0)
		len = strlcpy(buf, "{\"kind\":\"delivery\"}", sizeof(buf));
	else if (strcmp(kind, "envelope") == 0) {
		if (type != IMSG_SPOOL_COMMIT)
			errx(2, "envelope: SPOOL_COMMIT only");
		len = size + strlcpy(buf + size, "id 0123456789abcdef\n"
		    "bogus field\n", sizeof(buf) - size);
	} else if (strcmp(kind, "unexpected") != 0 && strcmp(kind, "fd") != 0 &&
	    strcmp(kind, "early") != 0 && strcmp(kind, "stray") != 0)
		errx(2, "unknown kind %s", kind);
	/* a commit carries its envelope after the struct */
	if (type == IMSG_SPOOL_COMMIT && strcmp(kind, "short") != 0 &&
	    strcmp(kind, "envelope") != 0 && strcmp(kind, "long") != 0) {
		text = commit_text(((struct spool_commit *)buf)->msgid,
		    child, &flen);
		if (flen > sizeof(buf) - size)
			errx(2, "envelope too long");
		memcpy(buf + size, text, flen);
		len = size + flen;
		free(text);
	}
	/* a report follows the struct: what is spoilt is the struct */
	if (type == IMSG_TLSRPT_POST && strcmp(kind, "short") != 0) {
		memcpy(buf + len, "gzip", 4);
		len += 4;
	}
	mproc_compose(chan[peer], type, 0, fd, buf, len);
	if (strcmp(kind, "stray") == 0)
		stray_fd(chan[peer]);
}

static int
hexbytes(const char *s, unsigned char *out, size_t max)
{
	size_t	n = 0;
	int	v;

	for (; s[0] != '\0' && s[1] != '\0' && n < max; s += 2) {
		if (sscanf(s, "%2x", &v) != 1)
			errx(2, "bad hex %s", s);
		out[n++] = v;
	}
	return (n);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	const char	*self = NULL, *cfile = NULL, *errfile = NULL;
	const char	*url = NULL;
	unsigned char	 id[64];
	char		 line[16];
	size_t		 idlen = 0;
	int		 ch, fd, child, peer, early;
	uint32_t	 type;

	while ((ch = getopt(argc, argv, "x:f:e:i:u:")) != -1) {
		switch (ch) {
		case 'x': self = optarg; break;
		case 'f': cfile = optarg; break;
		case 'e': errfile = optarg; break;
		case 'i': idlen = hexbytes(optarg, id, sizeof(id)); break;
		case 'u': url = optarg; break;
		default: exit(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 4 || self == NULL || cfile == NULL || errfile == NULL)
		errx(2, "usage: imsgpeer -x mailhookd -f conf -e errfile "
		    "[-i hexid] [-u url] child peer kind type");
	if ((child = proc_byname(argv[0])) <= PROC_PARENT ||
	    child >= PROC_CONTROL || (peer = proc_byname(argv[1])) == -1 ||
	    peer >= PROC_CONTROL || peer == child || !proc_edge(child, peer))
		errx(2, "%s has no channel to %s", argv[0], argv[1]);
	type = type_of(argv[3]);
	early = strcmp(argv[2], "early") == 0;
	if (early && peer != PROC_PARENT)
		errx(2, "early: from the parent only");

	log_init(1, LOG_DAEMON);
	signal(SIGPIPE, SIG_IGN);
	if ((conf = config_parse(cfile)) == NULL ||
	    config_load_files(conf) == -1)
		errx(2, "%s: bad config", cfile);
	if ((proc_base = event_base_new()) == NULL)
		errx(2, "event_base_new");
	child_pid = spawn(self, argv[0], errfile, &fd);
	chan[PROC_PARENT] = mproc_new(fd, PROC_PARENT, from_child);
	chan[PROC_PARENT]->lost = lost;
	/* as the parent does: its key of sealed verdicts, the child's
	 * secrets */
	seal_new_key(conf->verdict_key);
	if (!early) {
		parent_send_config(chan[PROC_PARENT], conf,
		    child_conf_flags(child));
		connect_peers(child);
		mproc_compose(chan[PROC_PARENT], IMSG_SETUP_START, 0, -1, NULL,
		    0);
		spin(30, ready);
		if (!child_ready) {
			printf("not ready\n");
			kill(child_pid, SIGKILL);
			return (1);
		}
	}
	spin(0.3, NULL);	/* its start: recovery, timers */
	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return (1);

	attack(child, peer, argv[2], type, id, idlen, url);
	spin(10, reaped);
	if (!reaped()) {
		printf("alive\n");
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
	} else if (WIFSIGNALED(child_status))
		printf("signal %d\n", WTERMSIG(child_status));
	else
		printf("exit %d\n", WEXITSTATUS(child_status));
	return (0);
}

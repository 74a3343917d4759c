/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Mail that came back to the bounce domain: classified (bounce.c) into
 * an asynchronous bounce, an automatic reply, a complaint (ARF) or a reply
 * to the bounce address, reported as an event; a hard bounce or a spam
 * complaint suppresses the recipient, but only when it came to (or, a
 * complaint, quotes) a VERP return path whose MAC verifies (verp.h):
 * anyone can send mail to the bounce domain, and a report forged to any
 * other address (one without a MAC, a MAC that does not verify, a plain
 * address of the domain) must not choose whom it suppresses, nor name a
 * message: its event has no queue id, so none of the message's facts.
 * Mail to the mailto List-Unsubscribe address (unsubscribe+MAC@) goes to
 * relayd, which holds the key that checks it; its recipient stays
 * pending until relayd says the suppression and its event are durable
 * (IMSG_UNSUBSCRIBE_MAILTO_ACK, bounce_unsubscribed): if relayd dies
 * first, the mail is still in the spool and is sent again at restart.
 * Likewise a recipient of a bounce, a reply or an automatic reply stays
 * pending until its events (one per recipient that failed or was delayed
 * of a bounce) are durable in the event spool (returned_durable,
 * inbound_returned): a crash before, or an event that could not be
 * written, leaves the mail to be classified again at the next start, and
 * the event's id, made of the report (its Message-ID and body, else the
 * mail's spool id), the recipient of it and the event's place in the
 * report, is the same (returned_key).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "enhanced.h"
#include "log.h"
#include "verp.h"
#include "proc.h"
#include "bounce.h"
#include "events.h"
#include "hookd.h"

/* an event's id is a hash of it (returned_key) */
#define KEY_MAX		(MH_ADDR_MAX + 400)

static void
suppress(const char *msgid, const struct event_record *ev, int verp,
    const char *why)
{
	struct suppress_req	req;
	char			a[LOG_ADDR_MAX];

	if (verp != VERP_SIGNED) {
		log_warnx("msgid=%s recipient=<%s> event=returned suppress=no "
		    "verp=%s (%s)", msgid, log_addr(a, sizeof(a),
		    ev->recipient), verp_status_name(verp),
		    verp == VERP_BADMAC ? "the return path's MAC does not "
		    "verify" : verp == VERP_UNSIGNED ? "a return path without "
		    "a MAC" : "not sent to a VERP return path");
		return;
	}

	memset(&req, 0, sizeof(req));
	if (strlcpy(req.addr, ev->recipient, sizeof(req.addr)) >=
	    sizeof(req.addr) || !msg_str_ok(req.addr, sizeof(req.addr)))
		return;
	if (ev->kind == EV_COMPLAINT)
		snprintf(req.reason, sizeof(req.reason), "complaint %s",
		    why);
	else
		snprintf(req.reason, sizeof(req.reason), "hard bounce %s%s%s",
		    ev->extended, ev->bounce_reason[0] ? ": " : "",
		    ev->bounce_reason);
	log_sanitize(req.reason, sizeof(req.reason), req.reason);
	mproc_compose(proc_peer[PROC_RELAYD], IMSG_SUPPRESS, 0, -1, &req,
	    sizeof(req));
}

/* an unsubscribe by mail: 1 handed to relayd, 0 not one */
static int
unsubscribe(const struct envelope *env, const struct envelope_rcpt *r)
{
	struct unsubscribe_mailto	 u;
	const char			*at = strrchr(r->addr, '@');
	char				 s[LOG_ADDR_MAX];

	if (at == NULL || env->sender[0] == '\0' ||
	    strncasecmp(r->addr, UNSUBSCRIBE_PREFIX,
	    strlen(UNSUBSCRIBE_PREFIX)) != 0)
		return (0);
	memset(&u, 0, sizeof(u));
	if ((size_t)(at - r->addr) >= sizeof(u.local) ||
	    strlcpy(u.sender, env->sender, sizeof(u.sender)) >=
	    sizeof(u.sender))
		return (0);
	memcpy(u.local, r->addr, at - r->addr);
	strlcpy(u.queue_id, env->id, sizeof(u.queue_id));
	log_info("msgid=%s event=unsubscribe-mail from=<%s>", env->id,
	    log_addr(s, sizeof(s), env->sender));
	mproc_compose(proc_peer[PROC_RELAYD], IMSG_UNSUBSCRIBE_MAILTO, 0, -1,
	    &u, sizeof(u));
	return (1);
}

/*
 * A recipient of returned mail whose events are in the event spool, or
 * not: a delivery report of several recipients makes several events.
 */
struct returned_wait {
	char	msgid[MH_MSGID_LEN];
	size_t	idx;
	size_t	pending;	/* events not durable yet, +1 while submitted */
	int	failed;		/* one of them was not stored */
};

static void
returned_durable(int ok, void *arg)
{
	struct returned_wait	*w = arg;

	if (!ok && !w->failed)
		log_warnx("msgid=%s: the event of returned mail is not stored; "
		    "the mail is kept and classified again at the next start "
		    "or mhctl schedule", w->msgid);
	if (!ok)
		w->failed = 1;
	if (--w->pending > 0)
		return;
	inbound_returned(w->msgid, w->idx, !w->failed);
	free(w);
}

/*
 * A spam complaint (RFC 5965 Feedback-Type abuse or fraud) suppresses its
 * recipient, as a hosted sender's complaint list does; not-spam, virus,
 * auth-failure (a DMARC failure report, RFC 6591) and other types are no
 * one's wish to hear no more, and a malformed report without a
 * Feedback-Type (description "") says nothing of the kind.
 */
static int
complaint_suppresses(const struct event_record *ev)
{
	return (ev->recipient[0] != '\0' &&
	    (strcasecmp(ev->description, "abuse") == 0 ||
	    strcasecmp(ev->description, "fraud") == 0));
}

/*
 * A final report of a transient failure (4.4.7: expired) is not; one of
 * a generic code (5.0.0) or of none (a text's "554 ... spam") is only
 * when it names a refused RCPT, as a detailed one (552 5.2.2) is judged
 * as in any report.
 */
static void
returned_suppress(const char *msgid, const char *to,
    const struct event_record *ev, const char *stage, int other, int verp)
{
	char	a[LOG_ADDR_MAX];
	int	generic;

	if (ev->kind == EV_COMPLAINT) {
		if (complaint_suppresses(ev))
			suppress(msgid, ev, verp, ev->description);
		return;
	}
	generic = ev->extended[0] == '\0' ||
	    strcmp(ev->extended + 1, ".0.0") == 0;
	if (ev->kind != EV_BOUNCE || strcmp(ev->bounce_type, "hard") != 0 ||
	    ev->recipient[0] == '\0' || ev->extended[0] == '4' ||
	    (generic && strcmp(stage, "rcpt") != 0) ||
	    !enhanced_suppresses(generic ? stage : "", ev->extended))
		return;
	/* a forwarding target's refusal: not of the return path's */
	if (other)
		log_warnx("msgid=%s recipient=<%s> event=returned suppress=no "
		    "(the report names another address than the return path "
		    "<%s>)", msgid, log_addr(a, sizeof(a), ev->recipient),
		    to);
	else
		suppress(msgid, ev, verp, NULL);
}

/*
 * One event of returned mail: its recipient as the event names it (as
 * submitted, once facts_fill found it), sanitized as every address in
 * a log line
 */
static void
returned_log(const char *msgid, const char *to, const struct bounce_info *bi,
    const struct event_record *ev)
{
	char	 a[LOG_ADDR_MAX];

	log_info("msgid=%s to=<%s> event=returned kind=%s format=%s "
	    "recipient=<%s> type=%s verp=%s", msgid, to,
	    event_kind_name(ev->kind), bi->format,
	    log_addr(a, sizeof(a), ev->recipient), ev->bounce_type,
	    verp_status_name(bi->verp));
}

/*
 * What the id of event i of recipient idx's report is made of: the
 * recipient, the report's own Message-ID and its body (bi->report_id),
 * so that a report its MTA sends again (our 250 lost on the way) makes
 * the same events, stored once (events_submit knows their ids) and
 * known by their id where they go; of one without a Message-ID, the
 * mail's spool id and the recipient's place in it.  The same after a
 * crash either way.  The length of the key.
 */
static int
returned_key(char *key, size_t len, const struct envelope *env, size_t idx,
    const struct bounce_info *bi, size_t i)
{
	int	n;

	if (bi->report_id[0] != '\0')
		n = snprintf(key, len, "returned/%s/%s", env->rcpts[idx].addr,
		    bi->report_id);
	else
		n = snprintf(key, len, "returned/%s/%zu", env->id, idx);
	if (n >= 0 && (size_t)n < len && i > 0)
		n += snprintf(key + n, len - n, "/%zu", i);
	if (n < 0 || (size_t)n >= len)
		n = strlen(key);
	return (n);
}

/* 1 waiting for the events to be durable, 2 for relayd, -1 not yet */
static int
classify_one(struct envelope *env, size_t idx)
{
	struct envelope_rcpt	*r = &env->rcpts[idx];
	struct bounce_info	 bi;
	struct event_record	 more, *ev;
	struct returned_wait	*w;
	const char		*stage;
	char			 to[LOG_ADDR_MAX], key[KEY_MAX];
	size_t			 i;
	int			 fd, n, other, failed = 0;

	if (unsubscribe(env, r))
		return (2);
	if ((fd = spool_open_message(env->id, 0)) == -1)
		return (-1);
	memset(&bi, 0, sizeof(bi));
	if (bounce_classify(fd, r->addr, hookd_conf->bounce_domain,
	    hookd_conf->verp_key, &bi) == -1) {
		close(fd);
		return (-1);
	}
	close(fd);
	log_addr(to, sizeof(to), r->addr);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	strlcpy(w->msgid, env->id, sizeof(w->msgid));
	w->idx = idx;
	w->pending = 1;
	/*
	 * An event per recipient the report names as failed or delayed,
	 * each known by the mail, the recipient of it and its place in the
	 * report: classified again after a crash, the same events.
	 */
	for (i = 0; i <= bi.nmore; i++) {
		ev = &bi.ev;
		stage = bi.stage;
		other = bi.other_rcpt;
		if (i > 0) {
			bounce_event(&bi, i - 1, &more);
			ev = &more;
			stage = bi.more[i - 1].stage;
			other = bi.more[i - 1].other_rcpt;
		}
		n = returned_key(key, sizeof(key), env, idx, &bi, i);
		/*
		 * What the report does not say, the message's registration
		 * did, each recipient as it was submitted: the one of the
		 * return path as its MAC says ("jim"@d and jim@d, both in
		 * one message, apart), another the report names as an MTA
		 * writes it (jim@d for "jim"@d); a return path whose MAC
		 * does not verify names no message (no queue id): its
		 * events have only what the report itself says.
		 */
		if (bi.verp == VERP_SIGNED)
			(void)facts_fill(ev, i == 0 && !other ? FACTS_EXACT :
			    FACTS_ANY);
		returned_log(env->id, to, &bi, ev);
		mh_event_id_hash(ev->id, key, n);
		w->pending++;
		if (events_submit(ev, returned_durable, w) == -1) {
			w->pending--;
			failed = 1;
			continue;
		}
		returned_suppress(env->id, to, ev, stage, other, bi.verp);
	}
	if (failed)
		w->failed = 1;
	returned_durable(1, w);		/* every event is submitted */
	bounce_clear(&bi);
	return (failed ? -1 : 1);
}

/*
 * Recipient i of returned mail is classified and its events submitted;
 * it is done once they are durable (inbound_returned), which the
 * caller's message must not wait for inside this call.  RET_EVENTS:
 * they are submitted; RET_RELAYD: an unsubscribe handed to relayd; -1
 * not classified (kept for mhctl schedule or the next start).
 */
int
bounce_received(struct envelope *env, size_t i)
{
	switch (classify_one(env, i)) {
	case 1:
		return (RET_EVENTS);
	case 2:
		return (RET_RELAYD);
	}
	log_warnx("msgid=%s: returned mail not classified yet, kept",
	    env->id);
	return (-1);
}

/* relayd handled the unsubscribe mail to local@: that recipient is done */
int
bounce_unsubscribed(struct envelope *env, const char *local)
{
	size_t	i, len = strlen(local);
	int	changed = 0;

	for (i = 0; i < env->nrcpt; i++) {
		struct envelope_rcpt *r = &env->rcpts[i];

		if (r->dest != DEST_BOUNCE || r->state != RS_PENDING ||
		    strncasecmp(r->addr, local, len) != 0 ||
		    r->addr[len] != '@')
			continue;
		r->state = RS_DONE;
		changed = 1;
	}
	return (changed);
}

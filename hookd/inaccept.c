/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound arrival: a message smtpd committed (inbound_commit) gets its
 * DKIM and DMARC verdicts when a route wants them, passes the routes'
 * policy (inbound_policy), and is then posted at once (mode sync) or
 * committed to the queue and answered 250 (mode queue); inbound.c posts
 * it from there.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "enhanced.h"
#include "log.h"
#include "msghdr.h"
#include "msghist.h"
#include "hookd.h"
#include "inbound_int.h"
#include "seal.h"
#include "verdict.h"

/* where Message-ID and Subject are looked for: the first 16 KiB */
#define HEADER_SCAN_MAX	16384
static int
wants_sync(const struct envelope *env)
{
	const struct route	*rt;
	size_t			 i;

	if (env->force_queue || env->nrcpt == 0)
		return (0);
	for (i = 0; i < env->nrcpt; i++) {
		if (env->rcpts[i].dest != DEST_ROUTE ||
		    env->rcpts[i].route != env->rcpts[0].route)
			return (0);
	}
	rt = config_route(hookd_conf, env->rcpts[0].route);
	return (rt != NULL && rt->mode == MODE_SYNC);
}

/* a queue-mode message is durable (or is not): the 250, then the POSTs */
static void
inbound_committed(int ok, void *arg)
{
	struct inmsg	*m = arg;
	const char	*enh, *text;
	char		 ok_text[128];
	int		 code;

	if (!ok) {
		code = enhanced_spool_error(errno, &enh, &text);
		child_spool_result(m->reqid, m->env->id, code, enh, text, 0);
		msgfd_close(m);
		inmsg_discard(m);
		return;
	}
	m->committed = 1;
	inbound_enqueue(m);
	log_info("msgid=%s event=committed size=%zu rcpts=%zu",
	    m->env->id, m->env->size, m->env->nrcpt);
	msghist_accepted(m->env);
	inbound_classify(m);
	snprintf(ok_text, sizeof(ok_text), "Ok: queued as %s", m->env->id);
	child_spool_result(m->reqid, m->env->id, 250, "2.0.0", ok_text, 0);
	/*
	 * The POSTs in the next loop pass: smtpd's messages are written at
	 * the end of this one, so the 250s of a whole group commit leave
	 * before any of its messages is parsed and posted.
	 */
	inbound_timer(m, 0);
}

/* a sync-mode message: posted at once, the reply waits for the verdict */
static void
inbound_sync(struct inmsg *m)
{
	const char	*enh, *text;
	int		 code;

	/* the size: what the verdict read whole, or the file's */
	if (m->msgbuf != NULL)
		m->env->size = m->msglen;
	else if (spool_transient(m->env, m->msgfd) == -1) {
		code = enhanced_spool_error(errno, &enh, &text);
		msgfd_close(m);
		spool_discard(m->env->id);
		child_spool_result(m->reqid, m->env->id, code, enh, text, 0);
		inmsg_discard(m);
		return;
	}
	m->sync = m->transient = 1;
	inbound_enqueue(m);
	log_info("msgid=%s event=received mode=sync size=%zu rcpts=%zu",
	    m->env->id, m->env->size, m->env->nrcpt);
	msghist_accepted(m->env);
	inbound_run(m);
}

static void
inbound_field(void *arg, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	(void)msghdr_envelope(arg, name, nlen, value, vlen);
}

/*
 * Message-ID and Subject into the envelope, for mhctl show queue, show
 * message and the history: from what the verdict read whole, else from
 * the start of the file, which stays open for the commit and the first
 * parse as the verdict's does.
 */
static void
inbound_headers(struct inmsg *m)
{
	char	 buf[HEADER_SCAN_MAX];
	ssize_t	 n;

	if (m->msgbuf != NULL) {
		msghdr_walk(m->msgbuf, m->msglen, inbound_field, m->env);
		return;
	}
	if (m->msgfd == -1 &&
	    (m->msgfd = spool_open_message(m->env->id, 1)) == -1)
		return;
	if ((n = msghdr_read_start(m->msgfd, buf, sizeof(buf))) > 0)
		msghdr_walk(buf, n, inbound_field, m->env);
}

/* a sync-mode message is posted now, a queue-mode one committed first */
static void
inbound_accept(struct inmsg *m)
{
	inbound_headers(m);
	if (wants_sync(m->env))
		inbound_sync(m);
	else {
		/*
		 * The verdict's descriptor, if any, serves the commit and
		 * stays open for the first round's parse (the file keeps
		 * its inode when it is renamed into queue/)
		 */
		spool_commit(m->env, m->msgfd, m->data_size, m->data_crc,
		    inbound_committed, m);
	}
}

/*
 * The routes' "require": 0 to go on (the recipients of a quarantining
 * route flagged, each route's post says it of its own), -1 when
 * the message was refused with 550 5.7.1 and m is gone; 451 4.4.3 when
 * what every refusing route misses is a look-up that failed for now
 * (verdict_temporary), so that the sender tries again.
 */
static int
inbound_policy(struct inmsg *m)
{
	const struct route	*rt;
	struct envelope_rcpt	*r;
	char			 text[200];
	size_t			 i;
	int			 refuse = 0, what = 0, temp = 1, code;

	for (i = 0; i < m->env->nrcpt; i++) {
		rt = rcpt_route(&m->env->rcpts[i]);
		if (rt == NULL || verdict_meets(m->env, rt->require))
			continue;
		if (rt->require_quarantine)
			m->env->rcpts[i].quarantined = 1;
		else {
			refuse = 1;
			what |= rt->require;
			if (!verdict_temporary(m->env, rt->require))
				temp = 0;
		}
	}
	if (!refuse)
		return (0);
	code = temp ? 451 : 550;
	snprintf(text, sizeof(text), "Message %s: the recipient requires"
	    " %s (dkim=%s, dmarc=%s)%s", temp ? "deferred" : "refused",
	    (what & REQUIRE_DMARC) ? "DMARC pass" :
	    "a passing DKIM signature", verdict_dkim(m->env),
	    m->env->dmarc_result[0] ? m->env->dmarc_result : "none",
	    temp ? ", a DNS look-up failed for now" : "");
	log_info("msgid=%s result=%s reason=policy: %s",
	    m->env->id, temp ? "deferred" : "refused", text);
	inbound_policy_refused();
	for (i = 0; i < m->env->nrcpt; i++) {
		r = &m->env->rcpts[i];
		rt = rcpt_route(r);
		if (rt != NULL && !rt->require_quarantine &&
		    !verdict_meets(m->env, rt->require))
			errcb_send(rt, m->env, r->addr, code, text,
			    strlen(text));
	}
	child_spool_result(m->reqid, m->env->id, code, temp ? "4.4.3" :
	    "5.7.1", text, 0);
	msgfd_close(m);
	spool_discard(m->env->id);
	inmsg_discard(m);
	return (-1);
}

static void
inbound_verified(void *arg, char *msg, size_t len)
{
	struct inmsg	*m = arg;

	m->msgbuf = msg;	/* for the first parse, with msgfd */
	m->msglen = len;
	if (inbound_policy(m) == 0)
		inbound_accept(m);
}

/* the DKIM and DMARC verdicts first, unless no route wants them */
static void
inbound_verify(struct inmsg *m)
{
	size_t	 i;
	int	 fd;

	for (i = 0; i < m->env->nrcpt; i++) {
		const struct route *rt = rcpt_route(&m->env->rcpts[i]);

		if (rt != NULL && (!rt->no_verdicts || rt->require))
			break;
	}
	if (i == m->env->nrcpt) {
		inbound_accept(m);
		return;
	}
	/*
	 * The file stays open in m (msgfd): a sync message is parsed
	 * from it at once, without opening it again; any other way out
	 * closes it (msgfd_close).
	 */
	fd = m->msgfd = spool_open_message(m->env->id, 1);
	if (fd == -1 ||
	    verdict_start(fd, m->env, inbound_verified, m) == -1) {
		/* no verdict: a route that requires one refuses */
		log_warn("msgid=%s: cannot verify", m->env->id);
		inbound_verified(m, NULL, 0);
	}
}

void
inbound_commit(const struct spool_commit *c, const char *text, size_t len)
{
	struct inmsg	*m;
	const char	*bad;
	size_t		 i;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("calloc");
	m->msgfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &m->data_end);
	if ((m->env = malloc(sizeof(*m->env))) == NULL)
		fatal("malloc");
	envelope_init(m->env);
	if (envelope_decode(m->env, text, len) == -1 ||
	    strcmp(m->env->id, c->msgid) != 0 || m->env->nrcpt == 0)
		fatalx("malformed envelope from smtpd");
	for (i = 0; i < m->env->nrcpt; i++)
		if (m->env->rcpts[i].dest == DEST_RELAY)
			fatalx("relay recipient from smtpd");
	/* routes, SPF and AUTH identity as authd sealed them, or nothing */
	if (seal_envelope_check(m->env, time(NULL),
	    hookd_conf->session_timeout + 300, &bad) == -1) {
		log_warnx("msgid=%s: %s from smtpd without a valid "
		    "verdict from authd: refused", m->env->id,
		    bad != NULL ? bad : "SPF result");
		spool_discard(m->env->id);
		child_spool_result(c->reqid, m->env->id, 554, "5.7.1",
		    "Transaction refused: no verdict from authd", 0);
		inmsg_discard(m);
		return;
	}
	if (m->env->created == 0)
		m->env->created = time(NULL);
	m->reqid = c->reqid;
	/* the check is hookd's to record, from these (spool_commit) */
	m->env->data_check = 0;
	m->data_size = c->data_size;
	m->data_crc = c->data_crc;
	inbound_verify(m);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound delivery: each committed message is POSTed, once per recipient,
 * to its route's url in the route's format.  In mode sync smtpd waits for
 * the verdict; in mode queue it already has its 250 and we retry with
 * backoff until the route's lifetime ends.  Any non-2xx answer fires the
 * route's error callback.
 *
 * Before either, the message gets its DKIM and DMARC verdicts
 * (verdict.c); a route that requires "dkim pass" or "dmarc pass" refuses
 * failing mail with 550 5.7.1 (before any 250, in both modes) and fires
 * its error callback, or with "quarantine" takes it, flagged.
 *
 * A message from smtpd reaches this file through inaccept.c (its
 * verdicts and the routes' policy, then mode sync or the commit); the
 * error callback is errcb.c; what mhctl shows and does of the queue is
 * inctl.c.
 */
#include <sys/types.h>
#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "child.h"
#include "gsync.h"
#include "log.h"
#include "metrics.h"
#include "msghist.h"
#include "proc.h"
#include "http.h"
#include "sign.h"
#include "hookd.h"
#include "inbound_int.h"
#include "mime.h"
#include "mimejob.h"
#include "sanitize.h"
#include "verdict.h"

struct post {
	struct inmsg	*msg;
	size_t		 rcpt;
	struct timespec	 sent;
};

/*
 * Mode queue: a route has at most SLOTS_PER_CONC times its concurrency
 * recipients in a round (their POST bodies built, in flight or in line
 * in the HTTP client).  The others due wait in its list, in order, their
 * bodies not built, and are called as its slots free.
 */
#define SLOTS_PER_CONC	2

enum { SLOT_NONE, SLOT_WAIT, SLOT_CALLED, SLOT_ROUND };

struct hold {
	TAILQ_ENTRY(hold)	 entry;
	struct inmsg		*m;
	size_t			 rcpt;
};

struct rtslots {
	TAILQ_ENTRY(rtslots)	 entry;
	uint32_t		 route;
	int			 used;
	TAILQ_HEAD(, hold)	 waiting;
};

static struct inmsglist	 msgs = TAILQ_HEAD_INITIALIZER(msgs);
static TAILQ_HEAD(, rtslots) rtslots = TAILQ_HEAD_INITIALIZER(rtslots);
static int		 paused;
static unsigned long	 st_posted, st_failed, st_retried, st_policy;

static void	inbound_schedule(struct inmsg *);
static time_t	lifetime_end(const struct inmsg *,
		    const struct envelope_rcpt *);
static int	dead_letter(struct inmsg *, size_t, const struct route *,
		    const char *);

/* the first retry of a POST, in seconds ("testing hook-retry" or 30) */
static int
retry_base(void)
{
	if (hookd_conf != NULL && hookd_conf->testing.hook_retry > 0)
		return (hookd_conf->testing.hook_retry);
	return (30);
}

/* a failed POST's backoff: retry_base() doubling to an hour, +20% */
static time_t
retry_delay(const struct envelope_rcpt *r)
{
	time_t	delay;

	delay = (time_t)retry_base() << (r->attempts > 10 ?
	    10 : r->attempts > 0 ? r->attempts - 1 : 0);
	if (delay > 3600)
		delay = 3600;
	return (delay + arc4random_uniform(delay / 5 + 1));
}

const struct route *
rcpt_route(const struct envelope_rcpt *r)
{
	if (r->dest != DEST_ROUTE)
		return (NULL);
	return (config_route(hookd_conf, r->route));
}

void
msgfd_close(struct inmsg *m)
{
	if (m->msgfd != -1)
		close(m->msgfd);
	m->msgfd = -1;
	free(m->msgbuf);
	m->msgbuf = NULL;
}

static struct rtslots *
slots_of(uint32_t route)
{
	struct rtslots	*s;

	TAILQ_FOREACH(s, &rtslots, entry)
		if (s->route == route)
			return (s);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	s->route = route;
	TAILQ_INIT(&s->waiting);
	TAILQ_INSERT_TAIL(&rtslots, s, entry);
	return (s);
}

static int
slots_max(const struct rtslots *s)
{
	const struct route	*rt = config_route(hookd_conf, s->route);

	/* a route gone: the HTTP client's default */
	return ((rt != NULL ? rt->concurrency : 8) * SLOTS_PER_CONC);
}

/* the route of recipient i of m, its envelope in memory or not */
static uint32_t
rcpt_route_id(const struct inmsg *m, size_t i)
{
	return (m->env != NULL ? m->env->rcpts[i].route : m->rcpt[i].route);
}

/* recipient i gives its slot back: the next ones waiting are called */
static void
slot_free(struct inmsg *m, size_t i)
{
	struct rtslots	*s = slots_of(rcpt_route_id(m, i));
	struct hold	*h;

	m->slot[i] = SLOT_NONE;
	s->used--;
	while (s->used < slots_max(s) &&
	    (h = TAILQ_FIRST(&s->waiting)) != NULL) {
		TAILQ_REMOVE(&s->waiting, h, entry);
		h->m->slot[h->rcpt] = SLOT_CALLED;
		s->used++;
		/* its round: in the next pass, or when the one on ends */
		inbound_timer(h->m, 0);
		free(h);
	}
}

/* in a route's list, the slot wanted for recipient i */
static void
slot_wait(struct rtslots *s, struct inmsg *m, size_t i)
{
	struct hold	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("calloc");
	h->m = m;
	h->rcpt = i;
	TAILQ_INSERT_TAIL(&s->waiting, h, entry);
	m->slot[i] = SLOT_WAIT;
}

/* m is going: out of the lists, its slots to the next ones */
static void
slots_drop(struct inmsg *m)
{
	struct rtslots	*s;
	struct hold	*h;
	size_t		 i;

	if (m->slot == NULL)
		return;
	for (i = 0; i < m->nrcpt; i++) {
		if (m->slot[i] != SLOT_WAIT)
			continue;
		s = slots_of(rcpt_route_id(m, i));
		TAILQ_FOREACH(h, &s->waiting, entry)
			if (h->m == m && h->rcpt == i)
				break;
		if (h == NULL)
			fatalx("msgid=%s: not in its route's list", m->id);
		TAILQ_REMOVE(&s->waiting, h, entry);
		free(h);
		m->slot[i] = SLOT_NONE;
	}
	for (i = 0; i < m->nrcpt; i++)
		if (m->slot[i] != SLOT_NONE)
			slot_free(m, i);
	free(m->slot);
	m->slot = NULL;
}

void
env_free(struct envelope *env)
{
	if (env == NULL)
		return;
	envelope_clear(env);
	free(env);
}

/* m is held here, to be posted (inaccept.c) */
void
inbound_enqueue(struct inmsg *m)
{
	strlcpy(m->id, m->env->id, sizeof(m->id));
	m->created = m->env->created;
	m->nrcpt = m->env->nrcpt;
	TAILQ_INSERT_TAIL(&msgs, m, entry);
}

/* the message with this id held here; NULL: none */
struct inmsg *
inmsg_find(const char *id)
{
	struct inmsg	*m;

	TAILQ_FOREACH(m, &msgs, entry)
		if (strcmp(m->id, id) == 0)
			return (m);
	return (NULL);
}

/* a message that never reached the queue (inaccept.c) */
void
inmsg_discard(struct inmsg *m)
{
	env_free(m->env);
	free(m);
}

/* what memory keeps of a recipient while its envelope is out of it */
void
rcpt_inrcpt(const struct envelope_rcpt *r, struct inrcpt *ir)
{
	ir->next_try = r->next_try;
	ir->route = r->route;
	ir->dest = r->dest;
	ir->state = r->state;
	ir->attempts = r->attempts > UINT16_MAX ? UINT16_MAX :
	    r->attempts < 0 ? 0 : r->attempts;
}

/* what show queue lists of env, for its time out of memory; NULL: none */
static char *
listing_make(const struct envelope *env)
{
	char	*l, *p;
	size_t	 i, len = strlen(env->sender) + 1;

	for (i = 0; i < env->nrcpt; i++)
		len += strlen(env->rcpts[i].addr) + 1 +
		    strlen(env->rcpts[i].lasterr) + 1;
	if ((l = p = malloc(len)) == NULL)
		return (NULL);
	p = stpcpy(p, env->sender) + 1;
	for (i = 0; i < env->nrcpt; i++) {
		p = stpcpy(p, env->rcpts[i].addr) + 1;
		p = stpcpy(p, env->rcpts[i].lasterr) + 1;
	}
	return (l);
}

/* the string at *p in a listing; *p goes on to the next one */
const char *
listing_next(const char **p)
{
	const char	*s = *p;

	*p += strlen(s) + 1;
	return (s);
}

/*
 * A queued message waits for its next round: its envelope, as just
 * stored, goes (env_load reads it back), and only what inbound_routes()
 * and show queue need of it stays.  Not while anything still uses it: a
 * reply, a round, a fallback, returned mail still to classify.
 */
static void
env_unload(struct inmsg *m)
{
	struct envelope_rcpt	*r;
	size_t			 i;

	if (m->env == NULL || m->sync || !m->committed || m->inflight > 0 ||
	    m->parsing || m->doc != NULL || m->msgfd != -1 ||
	    m->msgbuf != NULL)
		return;
	for (i = 0; i < m->nrcpt; i++) {
		r = &m->env->rcpts[i];
		if ((m->fallback != NULL && m->fallback[i]) ||
		    (r->dest == DEST_BOUNCE && r->state == RS_PENDING))
			return;
	}
	if ((m->rcpt = calloc(m->nrcpt, sizeof(*m->rcpt))) == NULL)
		return;		/* kept whole */
	if ((m->listing = listing_make(m->env)) == NULL) {
		free(m->rcpt);
		m->rcpt = NULL;
		return;
	}
	for (i = 0; i < m->nrcpt; i++)
		rcpt_inrcpt(&m->env->rcpts[i], &m->rcpt[i]);
	m->size = m->env->size;
	env_free(m->env);
	m->env = NULL;
}

/* its round: the envelope back from the spool; -1: it cannot be read */
static int
env_load(struct inmsg *m)
{
	struct envelope	*env;

	if (m->env != NULL)
		return (0);
	if ((env = spool_load(m->id)) == NULL)
		return (-1);
	if (env->nrcpt != m->nrcpt) {
		log_warnx("msgid=%s: its envelope has %zu recipients, not "
		    "%zu", m->id, env->nrcpt, m->nrcpt);
		env_free(env);
		return (-1);
	}
	m->env = env;
	free(m->rcpt);
	m->rcpt = NULL;
	free(m->listing);
	m->listing = NULL;
	m->unreadable = 0;
	return (0);
}

/* the longest lifetime of m's recipients still to post; 0: none */
static time_t
inmsg_lifetime(const struct inmsg *m)
{
	const struct route	*rt;
	time_t			 lt = 0;
	size_t			 i;

	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].dest != DEST_ROUTE ||
		    m->rcpt[i].state != RS_PENDING ||
		    (rt = config_route(hookd_conf, m->rcpt[i].route)) == NULL)
			continue;
		if (rt->lifetime > lt)
			lt = rt->lifetime;
	}
	return (lt);
}

/*
 * The envelope of m cannot be read back (spool_load said why): m gives
 * its route slots to the next ones and tries again later, until its
 * lifetime is over.  Then it is given up: without its envelope it can
 * go neither to its route nor to the dead letters, so its files stay in
 * the spool as they are, for the admin: mhctl schedule reads them again
 * (as a restart does), mhctl remove removes them; show queue lists it
 * with the error.  A retry mhctl schedule asked for is spent too.
 */
static void
env_unreadable(struct inmsg *m)
{
	char	path[MH_PATH_MAX + 64];

	slots_drop(m);
	m->forced = 0;
	m->unreadable = INMSG_UNREADABLE;
	if (time(NULL) - m->created <= inmsg_lifetime(m)) {
		inbound_timer(m, retry_base());
		return;
	}
	m->unreadable = INMSG_GIVEN_UP;
	spool_env_path(m->id, path, sizeof(path));
	log_warnx("msgid=%s result=given-up: its envelope %s cannot be read "
	    "and its lifetime is over; its files are kept in the spool (mhctl "
	    "schedule or remove)", m->id, path);
}

/* a message refused by the routes' policy (inaccept.c) */
void
inbound_policy_refused(void)
{
	st_policy++;
}

void
msg_free(struct inmsg *m)
{
	slots_drop(m);
	msgfd_close(m);
	TAILQ_REMOVE(&msgs, m, entry);
	mime_doc_free(m->doc);
	if (m->timer != NULL)
		event_free(m->timer);
	env_free(m->env);
	free(m->rcpt);
	free(m->listing);
	free(m->fallback);
	free(m->returning);
	free(m);
}

/* what mhctl show queue prints as the recipient's last error */
static void
post_lasterr(struct inmsg *m, size_t i, const struct http_response *res)
{
	char	*le = m->env->rcpts[i].lasterr;

	/* kept in the envelope (spool_update): nothing may break its lines */
	if (res->error == HTTP_OK)
		snprintf(le, sizeof(m->env->rcpts[i].lasterr), "HTTP %ld",
		    res->status);
	else
		sanitize_text(le, sizeof(m->env->rcpts[i].lasterr),
		    res->errstr, SIZE_MAX, SAN_FIELD);
}

static void
sync_reply(struct inmsg *m)
{
	child_spool_result(m->reqid, m->env->id, m->reply_code, m->reply_enh,
	    m->reply_text, m->reply_code < 300);
	m->sync = 0;
}

/* status class of an answer: 2 ok, 4 refused, 5 try again later */
static int
answer_class(const struct http_response *res)
{
	if (res->error != HTTP_OK)
		return (5);
	if (res->status >= 200 && res->status < 300)
		return (2);
	if (res->status >= 400 && res->status < 500)
		return (4);
	return (5);
}

static void
sync_verdict(struct inmsg *m, const struct http_response *res, int cls)
{
	char	text[256];

	text[0] = '\0';
	if (res->error == HTTP_OK && res->content_type != NULL &&
	    strcmp(res->content_type, "text/plain") == 0 && res->body != NULL)
		sanitize_text(text, 200, res->body, res->bodylen, SAN_REPLY);
	if (cls < m->worst)
		return;		/* a worse answer is already there */
	m->worst = cls;
	switch (cls) {
	case 2:
		m->reply_code = 250;
		strlcpy(m->reply_enh, "2.0.0", sizeof(m->reply_enh));
		if (text[0] == '\0')
			snprintf(text, sizeof(text), "Ok: queued as %s",
			    m->env->id);
		break;
	case 4:
		m->reply_code = 550;
		strlcpy(m->reply_enh, "5.7.1", sizeof(m->reply_enh));
		if (text[0] == '\0')
			snprintf(text, sizeof(text),
			    "Message refused by the recipient's application"
			    " (HTTP %ld)", res->status);
		break;
	default:
		m->reply_code = 451;
		strlcpy(m->reply_enh, "4.3.0", sizeof(m->reply_enh));
		if (text[0] == '\0')
			snprintf(text, sizeof(text),
			    "Recipient's application unavailable, try again"
			    " later");
		break;
	}
	strlcpy(m->reply_text, text, sizeof(m->reply_text));
}

/* a route in the metrics, as its statement names it */
static const char *
route_label(const struct route *rt, char *buf, size_t len)
{
	if (rt == NULL)
		return ("none");
	snprintf(buf, len, "%s%s", rt->match == ROUTE_ANY ? "any" :
	    rt->match == ROUTE_SUBDOMAINS ? "*." : "", rt->pattern);
	return (buf);
}

/*
 * A deferred recipient whose endpoint answered with a Retry-After waits
 * that long at least (up to HOOK_RETRY_AFTER_MAX), or its backoff if
 * longer; never past its route's lifetime, though: its next round is
 * then the first second after the lifetime, which gives it up as ever
 * (lifetime_over()).  next_try counts whole seconds: the second after
 * now + Retry-After, so that no less than that passes.
 */
static void
retry_after(struct inmsg *m, struct envelope_rcpt *r,
    const struct route *rt, const struct http_response *res)
{
	char		 to[LOG_ADDR_MAX];
	const char	*why = "retry-after";
	time_t		 now, ra, end, next, backoff;

	if (res->error != HTTP_OK || res->retry_after < 0 || rt == NULL)
		return;
	now = time(NULL);
	ra = res->retry_after > HOOK_RETRY_AFTER_MAX ?
	    HOOK_RETRY_AFTER_MAX : res->retry_after;
	next = now + ra + 1;
	if (next <= (backoff = now + retry_delay(r))) {
		next = backoff;
		why = "backoff";
	}
	if ((end = lifetime_end(m, r)) != 0 && next > end) {
		next = end;
		why = "lifetime";
	}
	r->next_try = next;
	log_info("msgid=%s to=<%s> retry_after=%lds wait=%llds by=%s",
	    m->env->id, log_addr(to, sizeof(to), r->addr),
	    res->retry_after, (long long)(next - now), why);
}

static void
post_done(const struct http_response *res, void *arg)
{
	struct post		*p = arg;
	struct inmsg		*m = p->msg;
	struct envelope_rcpt	*r = &m->env->rcpts[p->rcpt];
	const struct route	*rt = rcpt_route(r);
	char			 to[LOG_ADDR_MAX], url[MH_URL_MAX],
				    lb[MH_NAME_MAX + 4];
	int			 cls = answer_class(res);
	struct timespec		 now;
	long			 ms;

	m->inflight--;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - p->sent.tv_sec) * 1000 +
	    (now.tv_nsec - p->sent.tv_nsec) / 1000000;
	config_url_public(rt ? rt->url : "-", url, sizeof(url));
	log_info("msgid=%s to=<%s> url=%s status=%ld time=%ldms attempt=%d "
	    "result=%s%s%s%s", m->env->id, log_addr(to, sizeof(to),
	    r->addr), url, res->error == HTTP_OK ? res->status : res->answered,
	    ms,
	    r->attempts + 1, cls == 2 ? "sent" : cls == 4 ? "refused" :
	    m->sync ? "tempfail" : "deferred",
	    res->error == HTTP_OK ? "" : " error=\"",
	    res->error == HTTP_OK ? "" : res->errstr,
	    res->error == HTTP_OK ? "" : "\"");
	ihist_post(m->env, p->rcpt, url, res, ms, cls == 2 ? "sent" :
	    cls == 4 ? "refused" : m->sync ? "tempfail" : "deferred");
	r->attempts++;
	metrics_inc(M_INBOUND_MESSAGES, route_label(rt, lb, sizeof(lb)),
	    cls == 2 ? "delivered" : cls == 4 ? "rejected" : m->sync ?
	    "tempfailed" : "deferred");
	if (cls == 2) {
		r->state = RS_DONE;
		st_posted++;
	} else {
		post_lasterr(m, p->rcpt, res);
		if (rt != NULL)
			error_callback(rt, m->env, r->addr, res);
		if (cls == 4 && !m->sync) {
			/* the sender had its 250: kept, not dropped */
			if (dead_letter(m, p->rcpt, rt, "refused") == -1) {
				log_warnx("msgid=%s to=<%s> refused, not yet in "
				    "the dead letters: posted again later",
				    m->env->id, to);
				st_retried++;
			}
		} else if (m->sync) {
			r->state = RS_FAILED;
			st_failed++;
		} else {
			st_retried++;
			retry_after(m, r, rt, res);
		}
	}
	if (m->sync)
		sync_verdict(m, res, cls);
	else if (m->slot != NULL && m->slot[p->rcpt] == SLOT_ROUND)
		slot_free(m, p->rcpt);
	free(p);
	if (m->inflight == 0)
		inbound_schedule(m);
}

/* the body of one POST: rendered, and written out for the parts formats */
struct post_body {
	struct mime_payload	 payload;
	char			*form;
	size_t			 formlen;
	char			 form_type[128];
};

static int
post_body(struct inmsg *m, const struct route *rt, size_t i,
    struct post_body *b, struct http_request *req)
{
	char	seed[64];

	memset(b, 0, sizeof(*b));
	if (m->doc == NULL || mime_doc_render(m->doc, m->env,
	    m->env->rcpts[i].addr, rt->format, &b->payload) == -1) {
		log_warn("msgid=%s: render", m->env->id);
		return (-1);
	}
	if (b->payload.body != NULL) {
		req->content_type = b->payload.content_type;
		req->body = b->payload.body;
		req->bodylen = b->payload.bodylen;
		return (0);
	}
	/* written out here: the signature covers these bytes */
	snprintf(seed, sizeof(seed), "%s-%zu-", m->env->id, i);
	if (formdata_build(b->payload.parts, b->payload.nparts, seed,
	    &b->form, &b->formlen, b->form_type, sizeof(b->form_type)) == -1) {
		log_warnx("msgid=%s: form data", m->env->id);
		mime_payload_free(&b->payload);
		return (-1);
	}
	req->content_type = b->form_type;
	req->body = b->form;
	req->bodylen = b->formlen;
	return (0);
}

/* what is left of a sync message's route timeout since its DATA ended */
static int
sync_left_ms(const struct inmsg *m, const struct route *rt)
{
	struct timespec	 now;
	long long	 ms, left = (long long)rt->timeout * 1000;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - m->data_end.tv_sec) * 1000LL +
	    (now.tv_nsec - m->data_end.tv_nsec) / 1000000;
	if (ms > 0)
		left -= ms;
	return (left < 1000 ? 1000 : left > INT_MAX ? INT_MAX : (int)left);
}

static int
post_start(struct inmsg *m, size_t i)
{
	struct envelope_rcpt	*r = &m->env->rcpts[i];
	const struct route	*rt = rcpt_route(r);
	struct http_request	 req;
	struct sign_headers	 sh;
	struct post_body	 b;
	struct post		*p;
	char			 id[64];
	int			 rv = 0;

	if (rt == NULL) {
		log_warnx("msgid=%s: route %u is gone", m->env->id,
		    r->route);
		r->state = RS_FAILED;
		return (-1);
	}
	memset(&req, 0, sizeof(req));
	if (post_body(m, rt, i, &b, &req) == -1)
		return (-1);
	req.url = rt->url;
	req.headers = &rt->headers;
	req.timeout = rt->timeout;
	req.max_redirects = 3;
	req.allow_private = hookd_conf->allow_private;
	req.concurrency = rt->concurrency;
	/* mode sync: the SMTP client waits, in line for a slot too, and
	 * since its DATA ended (doc/webhooks.md), a second at least */
	req.wait_counts = m->sync;
	if (m->sync)
		req.timeout_ms = sync_left_ms(m, rt);
	if (rt->secret[0] != '\0') {
		/* stable across retries: the message and the recipient */
		snprintf(id, sizeof(id), "msg_%s_%zu", m->env->id, i);
		/* not sent unsigned: a POST that failed (sync: 451) */
		if (http_request_sign(&req, rt->secret, id, &sh) == -1) {
			log_warnx("msgid=%s route %s: cannot sign the request: "
			    "not sent", m->env->id, rt->pattern);
			free(b.form);
			mime_payload_free(&b.payload);
			return (-1);
		}
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		rv = -1;
	else {
		p->msg = m;
		p->rcpt = i;
		clock_gettime(CLOCK_MONOTONIC, &p->sent);
		/* p belongs to post_done from here (run from the loop) */
		m->inflight++;
		if (http_post(&req, post_done, p) == NULL) {
			m->inflight--;
			free(p);
			rv = -1;
		}
	}
	/* http_post copied what it needs */
	free(b.form);
	mime_payload_free(&b.payload);
	return (rv);
}

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct inmsg	*m = arg;

	/* a round in progress comes back by itself (inbound_schedule) */
	if (m->inflight == 0)
		inbound_run(m);
}

/* the next round of m in secs seconds (0: after this loop pass) */
void
inbound_timer(struct inmsg *m, time_t secs)
{
	struct timeval	 tv;

	if (m->timer == NULL &&
	    (m->timer = evtimer_new(proc_base, timer_cb, m)) == NULL)
		fatal("evtimer_new");
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(m->timer, &tv);
}

/* 1 if m's timer is due within secs */
static int
timer_within(struct inmsg *m, time_t secs)
{
	struct timeval	 tv, now;

	/* libevent gives the expiry in the time of day */
	if (m->timer == NULL || !evtimer_pending(m->timer, &tv))
		return (0);
	gettimeofday(&now, NULL);
	return (tv.tv_sec <= now.tv_sec + secs);
}

/* a fallback request, held until its envelope is durable */
struct fallback_go {
	struct fallback_req	 req;
	int			 fd;
	int			 smtp;
};

/*
 * The envelope that says the request is under way (fallback_again) is
 * durable: the request goes.  m may have gone meanwhile (no request is
 * made then); a flush that failed makes it a fallback failed for now,
 * asked again after the retry interval (fallback_again still set).
 */
static void
fallback_go(int ok, void *arg)
{
	struct fallback_go	*g = arg;
	struct inmsg		*m = inmsg_find(g->req.msgid);
	struct mproc		*to = proc_peer[g->smtp ? PROC_RELAYD :
				    PROC_PARENT];
	size_t			 i = g->req.rcpt;

	if (m == NULL || m->env == NULL || m->fallback == NULL ||
	    i >= m->env->nrcpt ||
	    m->fallback[i] != (g->smtp ? FB_SMTP : FB_MAILDIR)) {
		close(g->fd);
		free(g);
		return;
	}
	if (!ok || to == NULL) {
		log_warnx("msgid=%s: its fallback %s not asked yet: %s",
		    m->env->id, g->smtp ? "smtp" : "maildir", to == NULL ?
		    "no channel" : "its envelope not flushed");
		close(g->fd);
		free(g);
		m->fallback[i] = FB_AGAIN;
		m->env->rcpts[i].next_try = time(NULL) + retry_base();
		if (m->inflight == 0)
			inbound_schedule(m);
		return;
	}
	mproc_compose(to, g->smtp ? IMSG_FALLBACK_SMTP :
	    IMSG_FALLBACK_MAILDIR, 0, g->fd, &g->req, sizeof(g->req));
	free(g);
}

/*
 * An expired recipient to its route's fallback: a maildir (the parent
 * writes it) or an SMTP host (relayd queues it for that host).  Its
 * m->fallback says which was asked: only that one may answer.  Its
 * envelope says it too (fallback_again), stored and made durable with
 * the next group commit before the request goes (fallback_go), however
 * long the round it expired in lasts: a restart, or a crash, before the
 * answer asks again (fallback_restore), the recipient does not expire
 * twice.  No fsync of its own.
 */
static int
fallback_send(struct inmsg *m, size_t i, const struct route *rt)
{
	struct fallback_go	*g;
	int			 fd, smtp = rt->fallback_smtp[0] != '\0';

	if (proc_peer[smtp ? PROC_RELAYD : PROC_PARENT] == NULL ||
	    (m->fallback == NULL && (m->fallback = calloc(m->env->nrcpt,
	    1)) == NULL) || (g = calloc(1, sizeof(*g))) == NULL)
		return (-1);
	if ((fd = spool_open_message(m->env->id, 0)) == -1) {
		free(g);
		return (-1);
	}
	strlcpy(g->req.msgid, m->env->id, sizeof(g->req.msgid));
	g->req.rcpt = i;
	strlcpy(g->req.route, rt->pattern, sizeof(g->req.route));
	strlcpy(g->req.sender, m->env->sender, sizeof(g->req.sender));
	strlcpy(g->req.to, m->env->rcpts[i].addr, sizeof(g->req.to));
	g->fd = fd;
	g->smtp = smtp;
	m->env->rcpts[i].fallback_again = 1;
	if (spool_update_group(m->env) == -1) {
		m->env->rcpts[i].fallback_again = 0;
		close(fd);
		free(g);
		return (-1);
	}
	m->fallback[i] = smtp ? FB_SMTP : FB_MAILDIR;
	gsync_then(fallback_go, g);
	return (0);
}

/* an expired or refused recipient kept in the dead letters: 0, or -1 */
static int
dead_letter(struct inmsg *m, size_t i, const struct route *rt,
    const char *reason)
{
	char	url[MH_URL_MAX], to[LOG_ADDR_MAX];

	config_url_public(rt ? rt->url : "-", url, sizeof(url));
	if (dead_inbound(m->env, i, url, reason) == -1)
		return (-1);
	m->env->rcpts[i].state = RS_FAILED;
	st_failed++;
	log_info("msgid=%s to=<%s> url=%s result=dead reason=%s", m->env->id,
	    log_addr(to, sizeof(to), m->env->rcpts[i].addr), url, reason);
	return (0);
}

/*
 * Recipient i of m, its fallback failed for good, could not be made a
 * dead letter (dead.c said why): tried again after the retry interval,
 * not sent to its fallback again
 */
static void
dead_later(struct inmsg *m, size_t i)
{
	char	to[LOG_ADDR_MAX];

	m->fallback[i] = FB_DEAD;
	m->env->rcpts[i].next_try = time(NULL) + retry_base();
	log_warnx("msgid=%s to=<%s> not yet in the dead letters: tried again "
	    "in %ds", m->env->id, log_addr(to, sizeof(to),
	    m->env->rcpts[i].addr), retry_base());
}

/*
 * The second after the lifetime of recipient r's route, when
 * lifetime_over() gives it up: no retry is planned later.  0: no route.
 */
static time_t
lifetime_end(const struct inmsg *m, const struct envelope_rcpt *r)
{
	const struct route	*rt = rcpt_route(r);

	return (rt != NULL ? m->env->created + rt->lifetime + 1 : 0);
}

/*
 * A recipient whose route's lifetime is over: to the route's fallback
 * maildir, or to the dead letters.  0: not over; 1: done with it; 2: at
 * the fallback, an answer comes; 3: could not be stored, try again; 4:
 * its fallback is asked again, or its dead letter written, at next_try.
 */
static int
lifetime_over(struct inmsg *m, struct envelope_rcpt *r, time_t now)
{
	const struct route	*rt = rcpt_route(r);
	char			 to[LOG_ADDR_MAX], lb[MH_NAME_MAX + 4];
	size_t			 i = r - m->env->rcpts;
	int			 fb;

	if (m->fallback != NULL && (m->fallback[i] == FB_AGAIN ||
	    m->fallback[i] == FB_DEAD)) {
		if (now < r->next_try)
			return (4);
		fb = m->fallback[i];
		m->fallback[i] = 0;
		r->fallback_again = 0;
		if (fb == FB_AGAIN && rt != NULL && fallback_send(m, i, rt) == 0)
			return (2);
		if (dead_letter(m, i, rt, rt == NULL ? "route-gone" :
		    "fallback-failed") == 0)
			return (1);
		dead_later(m, i);
		return (4);
	}
	if (m->fallback != NULL && m->fallback[i])
		return (2);
	/* mhctl schedule: one more POST, then it expires as it would */
	if (m->sync || (rt != NULL && (m->forced ||
	    now < lifetime_end(m, r))))
		return (0);
	log_warnx("msgid=%s to=<%s> result=expired attempts=%d: %s",
	    m->env->id, log_addr(to, sizeof(to), r->addr),
	    r->attempts, rt == NULL ? "route gone" : "lifetime over");
	ihist_expired(m->env, r - m->env->rcpts, rt == NULL ? "route gone" :
	    "lifetime over");
	metrics_inc(M_INBOUND_MESSAGES, route_label(rt, lb, sizeof(lb)),
	    "expired");
	if (rt != NULL && (rt->fallback_maildir[0] != '\0' ||
	    rt->fallback_smtp[0] != '\0') && fallback_send(m, i, rt) == 0)
		return (2);
	return (dead_letter(m, i, rt, rt == NULL ? "route-gone" :
	    "expired") == 0 ? 1 : 3);
}

/*
 * The parent wrote the maildir, or relayd queued the message for the
 * fallback host (smtp), or could not: then a dead letter (one that
 * cannot be written is tried again later: dead_later), unless only for
 * now (its descriptor lost on the way): then it is asked again later.
 * An answer from the other one (relayd's to a maildir request) is a
 * peer's fault.
 */
void
inbound_fallback_done(const struct fallback_res *res, int smtp)
{
	struct inmsg		*m;
	struct envelope_rcpt	*r;
	char			 to[LOG_ADDR_MAX];

	m = inmsg_find(res->msgid);
	if (m == NULL || m->env == NULL || res->rcpt >= m->env->nrcpt ||
	    m->fallback == NULL ||
	    m->fallback[res->rcpt] != (smtp ? FB_SMTP : FB_MAILDIR))
		fatalx("FALLBACK_RES from %s for no request (%s)",
		    smtp ? "relayd" : "parent", res->msgid);
	m->fallback[res->rcpt] = 0;
	r = &m->env->rcpts[res->rcpt];
	r->fallback_again = 0;
	if (res->ok && smtp && !envelope_id_ok(res->name))
		fatalx("FALLBACK_RES from relayd: not a queue id");
	if (res->ok) {
		r->state = RS_DONE;
		if (smtp)
			log_info("msgid=%s to=<%s> result=fallback smtp "
			    "queued_as=%s", m->env->id, log_addr(to,
			    sizeof(to), r->addr), res->name);
		else
			log_info("msgid=%s to=<%s> result=fallback maildir=%s",
			    m->env->id, log_addr(to, sizeof(to), r->addr),
			    res->name);
		ihist_fallback(m->env, res->rcpt, smtp ? "smtp" : "maildir",
		    res->name);
	} else if (res->temp) {
		log_warnx("msgid=%s to=<%s> fallback %s failed for now, "
		    "again later: %s", m->env->id, log_addr(to,
		    sizeof(to), r->addr), smtp ? "smtp" : "maildir",
		    res->error);
		/* in its envelope too: it outlives a restart */
		m->fallback[res->rcpt] = FB_AGAIN;
		r->fallback_again = 1;
		r->next_try = time(NULL) + retry_base();
	} else {
		log_warnx("msgid=%s to=<%s> fallback %s failed: %s",
		    m->env->id, log_addr(to, sizeof(to), r->addr),
		    smtp ? "smtp" : "maildir", res->error);
		if (dead_letter(m, res->rcpt, rcpt_route(r), "fallback-failed")
		    == -1)
			dead_later(m, res->rcpt);
	}
	if (m->inflight == 0)
		inbound_schedule(m);
}

/* a recipient whose POST is due this round */
static int
rcpt_due(const struct envelope_rcpt *r, time_t now)
{
	return (r->dest == DEST_ROUTE && r->state == RS_PENDING &&
	    r->next_try <= now);
}

/* a recipient posted in this round: due, and in mode queue its slot had */
static int
rcpt_round(const struct inmsg *m, size_t i, time_t now)
{
	return (rcpt_due(&m->env->rcpts[i], now) && (m->sync ||
	    (m->slot != NULL && m->slot[i] == SLOT_ROUND)));
}

/*
 * Mode queue, a round begins: the recipients due take their routes'
 * slots, or wait in line for one.  -1: none has a slot, no round.
 */
static int
slots_take(struct inmsg *m, time_t now)
{
	struct rtslots	*s;
	size_t		 i;
	int		 n = 0;

	if (m->slot == NULL && (m->slot = calloc(m->env->nrcpt, 1)) == NULL)
		fatal("calloc");
	for (i = 0; i < m->env->nrcpt; i++) {
		/* at the fallback: no POST */
		if (!rcpt_due(&m->env->rcpts[i], now) ||
		    (m->fallback != NULL && m->fallback[i])) {
			if (m->slot[i] == SLOT_CALLED)
				slot_free(m, i);
			continue;
		}
		s = slots_of(m->env->rcpts[i].route);
		if (m->slot[i] == SLOT_WAIT)
			continue;
		if (m->slot[i] == SLOT_NONE) {
			/* none passes those in line */
			if (s->used >= slots_max(s) ||
			    !TAILQ_EMPTY(&s->waiting)) {
				slot_wait(s, m, i);
				continue;
			}
			s->used++;
		}
		m->slot[i] = SLOT_ROUND;
		n++;
	}
	return (n > 0 ? 0 : -1);
}

/*
 * A round is over: its slots free, and a called recipient's too while
 * paused (it waits for its retry, as the others).
 */
static void
slots_round_end(struct inmsg *m)
{
	size_t	i;

	if (m->slot == NULL)
		return;
	for (i = 0; i < m->env->nrcpt; i++)
		if (m->slot[i] == SLOT_ROUND || (m->slot[i] == SLOT_CALLED &&
		    (paused || m->env->rcpts[i].state != RS_PENDING)))
			slot_free(m, i);
}

/* the MIME_WANT_ formats of the POSTs due now; -1: none is due */
static int
round_formats(const struct inmsg *m, time_t now)
{
	const struct route	*rt;
	size_t			 i;
	int			 f = -1;

	for (i = 0; i < m->env->nrcpt; i++) {
		if (!rcpt_round(m, i, now))
			continue;
		if (f == -1)
			f = 0;
		if ((rt = rcpt_route(&m->env->rcpts[i])) == NULL)
			continue;
		if (rt->format == FORMAT_JSON)
			f |= MIME_WANT_JSON;
		else if (rt->format == FORMAT_MULTIPART)
			f |= MIME_WANT_MULTIPART;
	}
	return (f);
}

static const char *
limit_text(const char *what, char *buf, size_t len)
{
	const struct config	*c = hookd_conf;

	if (strcmp(what, "parts") == 0)
		snprintf(buf, len, "Message has more than %d MIME parts",
		    c->mime_parts);
	else if (strcmp(what, "depth") == 0)
		snprintf(buf, len, "Message nests MIME parts deeper than %d",
		    c->mime_depth);
	else if (strcmp(what, "headers") == 0)
		snprintf(buf, len, "Message has more than %d header fields",
		    c->mime_headers);
	else
		snprintf(buf, len, "Message header is larger than %d bytes",
		    c->mime_header_size);
	return (buf);
}

/*
 * A message past a MIME limit: in mode sync it is refused with 552 5.3.4
 * (and the error callback fires); in mode queue (250 already given) it is
 * posted truncated, with the "truncated" field.  0 to go on posting.
 */
static int
over_limit(struct inmsg *m, const char *what, time_t now)
{
	struct envelope_rcpt	*r;
	const struct route	*rt;
	char			 text[200];
	size_t			 i;

	limit_text(what, text, sizeof(text));
	if (!m->sync) {
		log_warnx("msgid=%s result=truncated limit=%s: %s", m->env->id,
		    what, text);
		return (0);
	}
	log_info("msgid=%s result=refused reason=limit limit=%s: %s",
	    m->env->id, what, text);
	for (i = 0; i < m->env->nrcpt; i++) {
		r = &m->env->rcpts[i];
		if (!rcpt_due(r, now))
			continue;
		r->state = RS_FAILED;
		st_failed++;
		if ((rt = rcpt_route(r)) != NULL)
			errcb_send(rt, m->env, r->addr, 552, text,
			    strlen(text));
	}
	m->worst = 4;
	m->reply_code = 552;
	strlcpy(m->reply_enh, "5.3.4", sizeof(m->reply_enh));
	strlcpy(m->reply_text, text, sizeof(m->reply_text));
	return (-1);
}

/* the message parsed by the MIME thread: the round goes on */
static void
inbound_parsed(struct mime_doc *doc, void *arg)
{
	struct inmsg	*m = arg;
	const char	*what;

	m->parsing = 0;
	m->inflight--;
	if (doc == NULL) {
		/* sync: 451; queue: the next round tries again */
		log_warn("msgid=%s: render", m->env->id);
		inbound_schedule(m);
		return;
	}
	m->doc = doc;
	if ((what = mime_doc_truncated(doc)) != NULL &&
	    over_limit(m, what, time(NULL)) == -1) {
		mime_doc_free(m->doc);
		m->doc = NULL;
		inbound_schedule(m);
		return;
	}
	inbound_run(m);
}

/* read and parse the message in the MIME thread; 0: it comes back */
static int
inbound_parse(struct inmsg *m, int fd, int formats)
{
	struct mime_limits	 lim;
	char			*ar = NULL;

	if (m->env->auth_checked &&
	    (ar = verdict_ar_header(m->env, "\r\n")) == NULL)
		return (-1);
	lim.parts = hookd_conf->mime_parts;
	lim.depth = hookd_conf->mime_depth;
	lim.headers = hookd_conf->mime_headers;
	lim.header_size = hookd_conf->mime_header_size;
	/*
	 * The message as the verdict read it, if it did; else the size of
	 * a sync message is the file's (spool_transient)
	 */
	if (mimejob_submit(fd, m->msgbuf, m->msgbuf != NULL ? m->msglen :
	    m->transient ? m->env->size : SIZE_MAX, ar, &lim, formats,
	    inbound_parsed, m) == -1) {
		free(ar);
		return (-1);
	}
	m->msgbuf = NULL;	/* the job's now */
	m->parsing = 1;
	m->inflight++;		/* no answer may finish m meanwhile */
	return (0);
}

/* mhctl schedule: m's recipients still to post are due now */
static void
forced_due(struct inmsg *m)
{
	size_t	i;

	for (i = 0; i < m->env->nrcpt; i++)
		if (m->env->rcpts[i].dest == DEST_ROUTE &&
		    m->env->rcpts[i].state == RS_PENDING)
			m->env->rcpts[i].next_try = 0;
}

/* the POSTs mhctl schedule asked for have started, but those in line */
static void
forced_end(struct inmsg *m)
{
	size_t	i;

	for (i = 0; m->slot != NULL && i < m->env->nrcpt; i++)
		if (m->slot[i] == SLOT_WAIT)
			return;
	m->forced = 0;
}

/*
 * Every recipient whose time has come gets its POST: the message is read
 * and parsed once for them all, in the MIME thread, and rendered for each.
 */
void
inbound_run(struct inmsg *m)
{
	time_t	now = time(NULL);
	size_t	i;
	int	fd, formats;

	if (m->parsing)
		return;		/* inbound_parsed() comes back */
	if (m->unreadable == INMSG_GIVEN_UP)
		return;		/* its files wait for the admin */
	if (m->held && !m->sync) {
		/* mhctl release calls it: no round, nor slot, till then */
		msgfd_close(m);
		mime_doc_free(m->doc);	/* parsed as it was held */
		m->doc = NULL;
		if (m->env != NULL)
			inbound_schedule(m);
		else
			slots_drop(m);
		return;
	}
	if (env_load(m) == -1) {
		env_unreadable(m);
		return;
	}
	if (m->reclassify) {
		/* an unsubscribe relayd could not store: to it again */
		m->reclassify = 0;
		inbound_classify(m);
	}
	if (m->forced)
		forced_due(m);
	if (paused && !m->sync) {
		msgfd_close(m);		/* kept for no round that waits */
		inbound_schedule(m);
		return;
	}
	if (m->doc == NULL && !m->sync && slots_take(m, now) == -1) {
		msgfd_close(m);		/* the next round opens it again */
		inbound_schedule(m);
		return;
	}
	if (m->doc == NULL && (formats = round_formats(m, now)) != -1) {
		/* the file may still be open from the verdict (a sync
		 * message, or a queue-mode one's first round) */
		fd = m->msgfd != -1 ? m->msgfd : spool_open_message(m->env->id,
		    m->transient);
		m->msgfd = -1;
		if (fd == -1) {
			/* sync: 451; queue: the next round tries again */
			log_warn("msgid=%s: open", m->env->id);
			inbound_schedule(m);
			return;
		}
		if (inbound_parse(m, fd, formats) == 0)
			return;
		log_warn("msgid=%s: render", m->env->id);
		close(fd);
		msgfd_close(m);		/* the verdict's copy too */
		inbound_schedule(m);
		return;
	}
	msgfd_close(m);
	m->inflight++;		/* no answer may finish m during the loop */
	for (i = 0; i < m->env->nrcpt; i++) {
		struct envelope_rcpt *r = &m->env->rcpts[i];

		if (!rcpt_round(m, i, now) || lifetime_over(m, r, now) != 0)
			continue;
		if (post_start(m, i) == -1 && m->sync)
			m->worst = 5;
	}
	forced_end(m);
	/* the POSTs have their bodies: the next round parses again */
	mime_doc_free(m->doc);
	m->doc = NULL;
	m->inflight--;
	if (m->inflight == 0)
		inbound_schedule(m);
}

/* after a round: reply, store progress, plan the next round or finish */
static void
inbound_schedule(struct inmsg *m)
{
	time_t			 now = time(NULL), next = 0, end;
	size_t			 i;
	int			 pending = 0, waiting = 0, called = 0, asked;

	if (m->inflight > 0)
		return;
	/* mhctl schedule came during the round: the next one now */
	asked = m->sched_pending;
	m->sched_pending = 0;
	slots_round_end(m);
	if (m->held && !m->sync)
		slots_drop(m);	/* none in line for a slot on hold */
	if (m->sync) {
		if (m->reply_code == 0) {
			m->reply_code = 451;
			strlcpy(m->reply_enh, "4.3.0", sizeof(m->reply_enh));
			strlcpy(m->reply_text,
			    "Internal error, try again later",
			    sizeof(m->reply_text));
		}
		sync_reply(m);
		msghist_done(m->env, 0);
		if (m->transient)
			spool_discard_later(m->env->id);
		else
			spool_remove(m->env->id);
		msg_free(m);
		return;
	}
	for (i = 0; i < m->env->nrcpt; i++) {
		struct envelope_rcpt *r = &m->env->rcpts[i];

		/* returned mail not done yet (an unsubscribe at relayd) */
		if (r->dest == DEST_BOUNCE && r->state == RS_PENDING)
			waiting++;
		if (r->dest != DEST_ROUTE || r->state != RS_PENDING)
			continue;
		/* on hold: no round, and no expiry (mhctl release) */
		if (m->held) {
			waiting++;
			continue;
		}
		/* in line for its route's slot, or called: no backoff */
		if (m->slot != NULL && m->slot[i] == SLOT_WAIT) {
			waiting++;
			continue;
		}
		if (m->slot != NULL && m->slot[i] == SLOT_CALLED) {
			called = 1;
			pending++;
			continue;
		}
		switch (lifetime_over(m, r, now)) {
		case 1:
			continue;
		case 2:
			waiting++;
			continue;
		case 3:
			r->next_try = now + retry_base();
			break;
		case 4:
			if (next == 0 || r->next_try < next)
				next = r->next_try;
			pending++;
			continue;
		}
		if (r->next_try <= now)
			r->next_try = now + retry_delay(r);
		if ((end = lifetime_end(m, r)) != 0 && r->next_try > end &&
		    !m->forced)
			r->next_try = end;
		if (next == 0 || r->next_try < next)
			next = r->next_try;
		pending++;
	}
	/* an unsubscribe relayd could not store, answered during a round:
	 * sent again after the retry interval at the latest (inbound_run) */
	if (m->reclassify && !m->held) {
		if (next == 0 || now + retry_base() < next)
			next = now + retry_base();
		pending++;
	}
	if (pending == 0 && waiting == 0) {
		log_info("msgid=%s event=done rcpts=%zu", m->env->id,
		    m->env->nrcpt);
		msghist_done(m->env, 0);
		spool_remove(m->env->id);
		msg_free(m);
		return;
	}
	m->env->held = m->held;
	if (spool_update(m->env) == -1)
		log_warnx("msgid=%s: cannot store progress", m->env->id);
	else if (!called && (pending == 0 || next > now))
		env_unload(m);	/* as stored: read back for its round */
	if (pending == 0)
		return;		/* inbound_unsubscribed(), slot_free() come back */
	inbound_timer(m, called || asked || next <= now ? 0 : next - now);
}

/*
 * The recipients of m whose fallback failed for now before a restart
 * (FB_AGAIN, kept in the envelope): their fallback is asked again, they
 * do not expire twice
 */
static void
fallback_restore(struct inmsg *m)
{
	size_t	i;

	for (i = 0; i < m->env->nrcpt; i++) {
		if (!m->env->rcpts[i].fallback_again ||
		    m->env->rcpts[i].state != RS_PENDING)
			continue;
		if (m->fallback == NULL &&
		    (m->fallback = calloc(m->env->nrcpt, 1)) == NULL)
			fatal("calloc");
		m->fallback[i] = FB_AGAIN;
	}
}

/* m, queued, has its envelope read back at last: its first round */
static void
recovered_start(struct inmsg *m)
{
	size_t	i;

	/* mhctl hold outlives a restart; one made while the envelope could
	 * not be read (kept beside it) outlives its reading, in it now */
	if ((m->held && !m->env->held) || spool_held(m->id)) {
		m->env->held = 1;
		/* m->held: given up at start, held (counted) since */
		if (spool_update(m->env) == -1 ||
		    spool_hold_moved(m->id, m->held) == -1)
			log_warn("msgid=%s: its hold into its envelope",
			    m->id);
	}
	m->held = m->env->held != 0;
	/* due now: the outage may have been long */
	for (i = 0; i < m->env->nrcpt; i++)
		m->env->rcpts[i].next_try = 0;
	fallback_restore(m);
	log_info("msgid=%s event=recovered rcpts=%zu", m->env->id,
	    m->env->nrcpt);
	inbound_classify(m);
	inbound_run(m);
}

void
inbound_recovered(struct envelope *env)
{
	struct inmsg	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("calloc");
	m->msgfd = -1;
	m->env = env;
	m->committed = 1;
	inbound_enqueue(m);
	recovered_start(m);
}

/*
 * At start, a queued message whose envelope cannot be read (spool.c
 * logged why): given up at once, as env_unreadable() gives one up, its
 * files kept in the spool for the admin; show queue lists it (no sender,
 * no recipients: they are not known), mhctl remove takes its files away,
 * mhctl schedule reads it again (inbound_reread).  held: mhctl hold kept
 * it so (spool_hold_mark).
 */
void
inbound_recovered_bad(const char *id, time_t created, int held)
{
	struct inmsg	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->listing = strdup("")) == NULL)
		fatal("calloc");
	m->msgfd = -1;
	m->committed = 1;
	m->never_read = 1;
	m->held = held;
	m->unreadable = INMSG_GIVEN_UP;
	strlcpy(m->id, id, sizeof(m->id));
	m->created = created;
	TAILQ_INSERT_TAIL(&msgs, m, entry);
}

/*
 * mhctl schedule of a message whose envelope could not be read at start:
 * read now, it is recovered as a restart would, due now (one more POST
 * past its lifetime, as mhctl schedule gives), or removed as a restart
 * would if its file is not what the envelope recorded; else given up
 * again.  m may be gone on return (removed, or its round finished it).
 * -1: still unreadable.
 */
int
inbound_reread(struct inmsg *m)
{
	struct envelope	*env;
	char		 path[MH_PATH_MAX + 64];

	if ((env = spool_load(m->id)) == NULL) {
		spool_env_path(m->id, path, sizeof(path));
		log_warnx("msgid=%s result=given-up: its envelope %s still "
		    "cannot be read (mhctl schedule or remove)", m->id, path);
		return (-1);
	}
	if (spool_data_verify(env, m->held) == -1) {
		env_free(env);
		msg_free(m);
		return (0);
	}
	log_info("msgid=%s result=scheduled by=mhctl: its envelope is read "
	    "again", m->id);
	m->env = env;
	m->nrcpt = env->nrcpt;
	m->created = env->created;
	free(m->listing);
	m->listing = NULL;
	m->never_read = 0;
	m->unreadable = 0;
	m->forced = 1;
	recovered_start(m);
	return (0);
}

/*
 * Each pending recipient of returned mail of m whose events are not on
 * their way already is classified (again, after a failure: mhctl
 * schedule), an unsubscribe handed to relayd again; m->returning says
 * what waits.
 */
void
inbound_classify(struct inmsg *m)
{
	struct envelope_rcpt	*r;
	size_t			 i;
	int			 ret;

	m->inflight++;		/* an event's callback may come at once */
	for (i = 0; m->env != NULL && i < m->env->nrcpt; i++) {
		r = &m->env->rcpts[i];
		if (r->dest != DEST_BOUNCE || r->state != RS_PENDING ||
		    (m->returning != NULL && m->returning[i] == RET_EVENTS))
			continue;
		if (m->returning == NULL && (m->returning =
		    calloc(m->env->nrcpt, 1)) == NULL)
			fatal("calloc");
		/* before: their answer may come inside the call */
		m->returning[i] = RET_EVENTS;
		if ((ret = bounce_received(m->env, i)) != RET_EVENTS)
			m->returning[i] = ret == -1 ? 0 : ret;
	}
	m->inflight--;
}

/* returned mail: the events of recipient idx of msgid are durable, or not */
void
inbound_returned(const char *msgid, size_t idx, int ok)
{
	struct inmsg		*m;
	struct envelope_rcpt	*r;

	m = inmsg_find(msgid);
	/* no envelope: no returned mail waits (env_unload) */
	if (m == NULL || m->env == NULL || idx >= m->env->nrcpt)
		return;
	r = &m->env->rcpts[idx];
	if (r->dest != DEST_BOUNCE || r->state != RS_PENDING)
		return;
	if (m->returning != NULL)
		m->returning[idx] = 0;
	if (!ok)
		return;		/* kept: mhctl schedule, the next start */
	r->state = RS_DONE;
	/* a recipient of a route still to post: its round stores this */
	for (idx = 0; idx < m->env->nrcpt; idx++)
		if (m->env->rcpts[idx].dest == DEST_ROUTE &&
		    m->env->rcpts[idx].state == RS_PENDING)
			return;
	if (m->inflight == 0)
		inbound_schedule(m);
}

/*
 * relayd: the unsubscribe mail msgid to local@ is handled durably, or
 * (failed) could not be stored: sent again after the retry interval, or
 * at the round planned before if sooner (inbound_run)
 */
void
inbound_unsubscribed(const char *msgid, const char *local, int failed)
{
	struct inmsg	*m;

	m = inmsg_find(msgid);
	if (failed) {
		if (m == NULL)
			return;
		log_warnx("msgid=%s: relayd could not store the unsubscribe: "
		    "sent again in %ds", msgid, retry_base());
		m->reclassify = 1;
		/* a round under way plans it as its end does (inbound_schedule) */
		if (m->inflight == 0 && !timer_within(m, retry_base()))
			inbound_timer(m, retry_base());
		return;
	}
	if (m == NULL || m->env == NULL ||
	    !bounce_unsubscribed(m->env, local)) {
		log_debug("msgid=%s: unsubscribe acknowledged twice",
		    msgid);
		return;
	}
	log_info("msgid=%s: unsubscribe stored by relayd", msgid);
	if (m->inflight == 0)
		inbound_schedule(m);
}

/*
 * Resumed: each queued message has its round after this pass, from its
 * timer (a round may finish m: a route gone, a lifetime over).
 */
void
inbound_pause(int p)
{
	struct inmsg	*m;

	paused = p;
	if (!paused)
		TAILQ_FOREACH(m, &msgs, entry)
			if (m->inflight == 0 && !m->sync)
				inbound_timer(m, 0);
}

/* sync messages whose client waits for the POST's verdict */
int
inbound_sync_waiting(void)
{
	struct inmsg	*m;
	int		 n = 0;

	TAILQ_FOREACH(m, &msgs, entry)
		if (m->sync)
			n++;
	return (n);
}

json_t *
inbound_stats(void)
{
	struct inmsg	*m;
	int		 n = 0;

	TAILQ_FOREACH(m, &msgs, entry)
		n++;
	return (json_pack("{s:i,s:b,s:I,s:I,s:I,s:I,s:o}", "inbound_queue", n,
	    "paused", paused, "posted", (json_int_t)st_posted,
	    "failed", (json_int_t)st_failed, "retried", (json_int_t)st_retried,
	    "refused_by_policy", (json_int_t)st_policy,
	    "verdicts", verdict_stats()));
}

/* "show metrics": the inbound queue's size and oldest message */
void
inbound_metrics(json_t *samples)
{
	struct inmsg	*m;
	time_t		 oldest = 0;
	size_t		 n = 0;

	TAILQ_FOREACH(m, &msgs, entry)
		if (m->committed && (n++ == 0 || m->created < oldest))
			oldest = m->created;
	metrics_queue(samples, "inbound", n, oldest);
}

void
inbound_init(void)
{
	mimejob_init(proc_base);
}

/* the messages held here, for inctl.c */
struct inmsglist *
inbound_msgs(void)
{
	return (&msgs);
}

/* hooks paused (mhctl pause hooks) */
int
inbound_paused(void)
{
	return (paused);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The outbound scheduler: the queue in memory, per destination domain
 * dispatch with connection and rate limits, sender-domain allowances,
 * retries with exponential backoff, queue lifetime, suppression and the
 * events of each recipient.  relay.c drives it.
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

#include "dns.h"
#include "enhanced.h"
#include "fileio.h"
#include "gsync.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "relayd.h"
#include "sanitize.h"

#include <event2/event.h>

/*
 * Connections at once to one destination when no limit domain sets
 * connections for it: 4 to a recipient domain's MX hosts (a stranger's
 * server), 20 to a smart host (relay via), as Postfix's
 * default_destination_concurrency_limit: a smart host is one
 * destination, whatever the recipients' domains.
 */
#define DEFAULT_CONNECTIONS	4
#define SMARTHOST_CONNECTIONS	20
/*
 * A sender domain's count on disk (allow_save): "v2 SLOT PER" and the
 * counts of the sixteenths SLOT - RATE_SLOTS to SLOT, fixed widths; or,
 * as written before, its fixed window: "START COUNT\n"
 */
#define ALLOW_REC		(3 + 20 + 11 + (RATE_SLOTS + 1) * 11 + 1)
#define ALLOW_REC_V1		32
/* recipients in one transaction (job_make) */
#define JOB_RCPTS_MAX		100
/* a limit domain's rate counted in sixteenths of its unit (dom_rate_ok) */
#define RATE_SLOTS		16

struct rdom {
	TAILQ_ENTRY(rdom)	 entry;
	char			 name[256];
	int			 nconn;
	/*
	 * a limit domain's rate, or a sender domain's allowance: the
	 * messages sent in each of the last RATE_SLOTS + 1 sixteenths of
	 * its unit (per), the latest rslot, rsum in all; rated: the rate
	 * counts the next one sent
	 */
	long long		 rslot;
	int			 rcount[RATE_SLOTS + 1];
	int			 rsum;
	int			 rper;
	int			 rated;
	/* a sender domain's count: read, and where it is kept, or -1 */
	int			 loaded;
	int			 fd;
	/*
	 * failing: jobs in a row none of whose addresses took a session
	 * (refused, 421 at the greeting, no answer); from the first, one
	 * connection at a time, and after a cohort of them (dom_site_result)
	 * as Postfix's dead destination its due mail is deferred without a
	 * connection until until, then one connection probes it.  A job
	 * that takes a session ends this.
	 */
	time_t			 until;
	int			 failing;
	int			 code;
	char			 ext[16];
	char			*why;		/* while suspended */
};
TAILQ_HEAD(rdomlist, rdom);

static struct rmsglist	 rq = TAILQ_HEAD_INITIALIZER(rq);
static struct rdomlist	 doms = TAILQ_HEAD_INITIALIZER(doms);
static struct rdomlist	 sdoms = TAILQ_HEAD_INITIALIZER(sdoms);
/* what the cluster's Redis granted this node, by sixteenth (cluster.c) */
static struct rdomlist	 gdoms = TAILQ_HEAD_INITIALIZER(gdoms);
static struct event	*ev_kick, *ev_tick;
static struct event	*ev_rate;	/* room under a rate (rate_wake) */
static int		 paused;
static int		 nconn_all;	/* every domain's, for a smart host */
static TAILQ_HEAD(, rjob) restarts = TAILQ_HEAD_INITIALIZER(restarts);
static unsigned long long stat_committed;

static void	 sched_pass(int, short, void *);
static void	 msg_free(struct rmsg *);

const char *
rcpt_domain(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return (at ? at + 1 : "");
}

/*
 * Where recipient i goes: the message's fallback host, or its domain
 * in the form the DNS knows (sched_add_message), so that Example.COM.,
 * example.com, b\303\274cher.example and xn--bcher-kva.example are one
 * destination each, its MX looked up by that name.
 */
static const char *
rcpt_dest(const struct rmsg *m, size_t i)
{
	return (m->env.relay[0] != '\0' ? m->env.relay : m->rdest[i]);
}

static struct rdom *
dom_get(struct rdomlist *list, const char *name)
{
	struct rdom	*d;

	TAILQ_FOREACH(d, list, entry)
		if (strcasecmp(d->name, name) == 0)
			return (d);
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("calloc");
	strlcpy(d->name, name, sizeof(d->name));
	TAILQ_INSERT_TAIL(list, d, entry);
	return (d);
}

static const struct domain_limit *
dom_limit(const char *name)
{
	const struct domain_limit	*l;

	TAILQ_FOREACH(l, &relay_conf->domain_limits, entry)
		if (strcasecmp(l->domain, name) == 0)
			return (l);
	return (NULL);
}

/* how many connections the domain may have at once */
static int
dom_conn_max(const struct rdom *d)
{
	const struct domain_limit	*l = dom_limit(d->name);

	if (l != NULL && l->connections > 0)
		return (l->connections);
	if (mta_smarthost())
		return (SMARTHOST_CONNECTIONS);
	return (DEFAULT_CONNECTIONS);
}

/*
 * May one more connection to the domain start?  Its limit domain, if it
 * says how many; else the default of its destination.  A smart host is
 * one destination whatever the domains: a limit domain only narrows its
 * share of the smart host's connections.
 */
static int
dom_conn_ok(const struct rdom *d)
{
	if (mta_smarthost() && nconn_all >= SMARTHOST_CONNECTIONS)
		return (0);
	/* failing: one at a time, as Postfix's concurrency after a failure */
	return (d->nconn < (d->failing ? 1 : dom_conn_max(d)));
}

/* the sixteenth of per seconds now is in, counted from the epoch */
static long long
rate_slot(int per)
{
	struct timeval	 tv;

	/* the loop's time: no system call */
	event_base_gettimeofday_cached(relay_base, &tv);
	return (((long long)tv.tv_sec * 1000 + tv.tv_usec / 1000) *
	    RATE_SLOTS / ((long long)per * 1000));
}

/* the sixteenths before slot - RATE_SLOTS no longer count */
static void
rate_advance(struct rdom *d, long long slot, int per)
{
	if (per != d->rper || slot > d->rslot + RATE_SLOTS ||
	    slot < d->rslot - RATE_SLOTS) {
		/* another unit (a reload), or nothing left of the last
		 * count, or the clock stepped back */
		memset(d->rcount, 0, sizeof(d->rcount));
		d->rsum = 0;
		d->rslot = slot;
		d->rper = per;
		return;
	}
	/* a clock a little behind: the latest sixteenth still */
	while (d->rslot < slot) {
		d->rslot++;
		d->rsum -= d->rcount[d->rslot % (RATE_SLOTS + 1)];
		d->rcount[d->rslot % (RATE_SLOTS + 1)] = 0;
	}
}

/* when the oldest sixteenth counted goes out of the count (ms) */
static long long
rate_room_ms(const struct rdom *d, int per)
{
	long long	 s;

	for (s = d->rslot - RATE_SLOTS; s < d->rslot; s++)
		if (d->rcount[s % (RATE_SLOTS + 1)] > 0)
			break;
	/* the first millisecond of sixteenth s + RATE_SLOTS + 1 */
	return (((s + RATE_SLOTS + 1) * per * 1000 + RATE_SLOTS - 1) /
	    RATE_SLOTS);
}

/*
 * The domain's rate has no room now: a pass when the oldest sixteenth it
 * counts goes out of the count, not a second later at the tick's.
 */
static void
rate_wake(const struct rdom *d, int per)
{
	struct timeval	 now, tv, at;
	long long	 ms;

	if (ev_rate == NULL)
		return;
	ms = rate_room_ms(d, per);
	event_base_gettimeofday_cached(relay_base, &now);
	ms -= (long long)now.tv_sec * 1000 + now.tv_usec / 1000;
	if (ms >= 1000)
		return;		/* the tick's pass comes first */
	if (ms < 1)
		ms = 1;
	tv.tv_sec = 0;
	tv.tv_usec = ms * 1000;
	if (evtimer_pending(ev_rate, &at)) {
		timeradd(&now, &tv, &now);
		if (timercmp(&at, &now, <=))
			return;
	}
	evtimer_add(ev_rate, &tv);
}

/*
 * May one more message go to the domain under its rate?  At most rate in
 * any interval of per seconds: one goes only while fewer than rate went
 * in this sixteenth of per and the sixteen before it, which hold all of
 * the last per seconds (and up to a sixteenth more).  A burst of rate
 * may go at once, the next when the sixteenth of the first of them has
 * gone out of the count.
 */
static int
dom_rate_ok(struct rdom *d)
{
	const struct domain_limit	*l = dom_limit(d->name);
	int				 per;

	d->rated = 0;
	if (l == NULL || l->rate <= 0)
		return (1);
	per = l->per > 0 ? l->per : 1;
	rate_advance(d, rate_slot(per), per);
	if (d->rsum >= l->rate) {
		rate_wake(d, per);
		return (0);
	}
	d->rated = 1;
	return (1);
}

/* one more message in d's current sixteenth (rate_advance first) */
static void
rate_add(struct rdom *d)
{
	d->rcount[d->rslot % (RATE_SLOTS + 1)]++;
	d->rsum++;
}

/* one more message to the domain, as dom_rate_ok just let it go */
static void
dom_rate_count(struct rdom *d)
{
	if (!d->rated)
		return;
	rate_add(d);
	d->rated = 0;
}

/*
 * A sender domain's count, kept beside the queue ("allowance.DOMAIN")
 * each time a message is counted, so that a restart (a crash of relayd,
 * of the parent) does not give the domain its whole allowance again.
 */
static void
allow_name(char *name, size_t len, const char *domain)
{
	size_t	 i;

	snprintf(name, len, "allowance.%s", domain);
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] += 'a' - 'A';
}

/* "v2 SLOT PER C...": the counts as they were, 0 if it is not that */
static int
allow_parse(struct rdom *d, const char *text)
{
	long long	 slot, c[RATE_SLOTS + 1];
	const char	*p;
	char		*end;
	int		 per, i, n;

	if (sscanf(text, "v2 %lld %d%n", &slot, &per, &n) != 2 || per <= 0 ||
	    slot < RATE_SLOTS)
		return (0);
	p = text + n;
	for (i = 0; i <= RATE_SLOTS; i++) {
		errno = 0;
		c[i] = strtoll(p, &end, 10);
		if (end == p || errno != 0 || c[i] < 0 || c[i] > INT_MAX)
			return (0);
		p = end;
	}
	d->rslot = slot;
	d->rper = per;
	d->rsum = 0;
	for (i = 0; i <= RATE_SLOTS; i++) {
		d->rcount[(slot - RATE_SLOTS + i) % (RATE_SLOTS + 1)] = c[i];
		d->rsum += c[i];
	}
	return (1);
}

static void
allow_load(struct rdom *d, const char *domain, int per)
{
	char		 name[300], text[ALLOW_REC + 1];
	long long	 start;
	ssize_t		 n;
	int		 count;

	d->loaded = 1;
	allow_name(name, sizeof(name), domain);
	if ((d->fd = queue_state_open(name)) == -1)
		return;
	if ((n = pread_eintr(d->fd, text, ALLOW_REC, 0)) < ALLOW_REC_V1)
		return;
	text[n] = '\0';
	if (allow_parse(d, text))
		return;
	/* a fixed window, as kept before: its count in its first sixteenth */
	if (sscanf(text, "%lld %d", &start, &count) == 2 && start >= 0 &&
	    count >= 0) {
		memset(d->rcount, 0, sizeof(d->rcount));
		d->rper = per;
		d->rslot = start * RATE_SLOTS / per;
		d->rcount[d->rslot % (RATE_SLOTS + 1)] = count;
		d->rsum = count;
	}
}

/* one fixed-size record written over the last: a write, no rename */
static void
allow_save(const struct rdom *d)
{
	char		 text[ALLOW_REC + 1];
	long long	 s;
	int		 n;

	if (d->fd == -1)
		return;
	n = snprintf(text, sizeof(text), "v2 %020lld %010d", d->rslot,
	    d->rper);
	for (s = d->rslot - RATE_SLOTS; s <= d->rslot; s++)
		n += snprintf(text + n, sizeof(text) - n, " %010d",
		    d->rcount[s % (RATE_SLOTS + 1)]);
	n += snprintf(text + n, sizeof(text) - n, "\n");
	if (n != ALLOW_REC || pwrite(d->fd, text, ALLOW_REC, 0) != ALLOW_REC)
		log_warn("sender domain %s: its allowance's count", d->name);
}

/* the sender domain's count, read from where it is kept the first time */
static struct rdom *
sender_dom(const char *domain, int per)
{
	struct rdom	*d = dom_get(&sdoms, domain);

	if (!d->loaded)
		allow_load(d, domain, per);
	return (d);
}

/*
 * The sender domain's allowance; a message is counted once.  1: it may
 * go, 0: spent (held), -1: the cluster is asked (cluster.c).  Counted
 * as a limit domain's rate is (dom_rate_ok): at most rate in any
 * interval of per, not in fixed windows that let 2 * rate go across
 * the end of one.
 */
static int
sender_ok(struct rmsg *m, time_t now)
{
	const struct sender_limit	*l;
	const char			*sd;
	char				 ascii[MH_NAME_MAX];
	struct rdom			*d;
	int				 rate, per;

	if (m->counted || m->env.sender[0] == '\0' ||
	    TAILQ_EMPTY(&relay_conf->sender_limits))
		return (1);
	/* as the configuration names it: A-labels, lowercased */
	sd = rcpt_domain(m->env.sender);
	if (dns_domain_ascii(sd, ascii, sizeof(ascii)) == 0)
		sd = ascii;
	TAILQ_FOREACH(l, &relay_conf->sender_limits, entry)
		if (strcasecmp(l->domain, sd) == 0)
			break;
	if (l == NULL || l->rate <= 0)
		return (1);
	rate = l->rate;
	if (relay_conf->cluster.redis[0] != '\0') {
		switch (cluster_allowance(m, sd, l->rate, l->per, &rate)) {
		case ALLOW_GRANTED:
			return (1);
		case ALLOW_SPENT:
			m->allow_until = cluster_spent_until(sd);
			return (0);
		case ALLOW_ASKING:
			return (-1);
		case ALLOW_LOCAL:
			break;
		}
	}
	per = l->per > 0 ? l->per : 1;
	d = sender_dom(sd, per);
	rate_advance(d, rate_slot(per), per);
	if (d->rsum >= rate) {
		m->allow_until = (rate_room_ms(d, per) + 999) / 1000;
		/* a pass when it has room, not at the tick's after that */
		rate_wake(d, per);
		return (0);
	}
	rate_add(d);
	m->counted = m->env.allow_counted = 1;
	allow_save(d);
	return (1);
}

/* the count's sixteenths by age: ages[i], i sixteenths of per ago */
static int
allow_ages(struct rdom *d, int per, int *ages)
{
	int	 i;

	rate_advance(d, rate_slot(per), per);
	for (i = 0; i <= RATE_SLOTS; i++)
		ages[i] = d->rcount[(d->rslot - i) % (RATE_SLOTS + 1)];
	return (d->rsum);
}

/*
 * The walk of the sender limits that sched_allow_handover and
 * sched_allow_grants share: after *lp (NULL: from the first), the next
 * sender domain with a rate whose count in list (sdoms, this node's own,
 * or gdoms) is not 0.  Its entry, with *lp its limit, *per its unit and
 * ages its count by age (allow_ages); NULL after the last.
 */
static struct rdom *
allow_next(struct rdomlist *list, const struct sender_limit **lp, int *per,
    int *ages)
{
	const struct sender_limit	*l;
	struct rdom			*d;

	l = *lp == NULL ? TAILQ_FIRST(&relay_conf->sender_limits) :
	    TAILQ_NEXT(*lp, entry);
	for (; l != NULL; l = TAILQ_NEXT(l, entry)) {
		if (l->rate <= 0)
			continue;
		*per = l->per > 0 ? l->per : 1;
		if (list == &sdoms)
			d = sender_dom(l->domain, *per);
		else
			d = dom_get(list, l->domain);
		if (allow_ages(d, *per, ages) > 0) {
			*lp = l;
			return (d);
		}
	}
	return (NULL);
}

/*
 * Each sender domain's count here, to fn (cluster.c) and then forgotten
 * here: what this node sent on its own share while Redis did not answer,
 * which the cluster counts from now on.  ages[i]: the messages sent i
 * sixteenths of the unit ago.
 */
void
sched_allow_handover(void (*fn)(const char *domain, int per,
    const int *ages, int n))
{
	const struct sender_limit	*l = NULL;
	struct rdom			*d;
	int				 ages[RATE_SLOTS + 1], per;

	while ((d = allow_next(&sdoms, &l, &per, ages)) != NULL) {
		fn(l->domain, per, ages, RATE_SLOTS + 1);
		memset(d->rcount, 0, sizeof(d->rcount));
		d->rsum = 0;
		allow_save(d);
	}
}

/* one message of the domain granted by the cluster's Redis (cluster.c) */
void
sched_allow_granted(const char *domain, int per)
{
	struct rdom	*d = dom_get(&gdoms, domain);

	rate_advance(d, rate_slot(per), per);
	rate_add(d);
}

/*
 * What the cluster's Redis granted this node in each sender domain's
 * last unit, to fn as sched_allow_handover's, and kept: told again to a
 * Redis that has lost it (cluster.c)
 */
void
sched_allow_grants(void (*fn)(const char *domain, int per,
    const int *ages, int n))
{
	const struct sender_limit	*l = NULL;
	int				 ages[RATE_SLOTS + 1], per;

	while (allow_next(&gdoms, &l, &per, ages) != NULL)
		fn(l->domain, per, ages, RATE_SLOTS + 1);
}

/* uuid-like and stable: a hash of queue id, recipient, kind and attempt */
static void
event_id(char *out, const char *qid, size_t i, int kind, int attempt)
{
	char		 in[128];
	int		 n;

	n = snprintf(in, sizeof(in), "%s/%zu/%d/%d", qid, i, kind, attempt);
	mh_event_id_hash(out, in, n);
}

void
sched_emit(struct rmsg *m, size_t i, enum event_kind kind, int code,
    const char *ext, const char *desc, const char *stage)
{
	sched_emit_tls(m, i, kind, code, ext, desc, stage, NULL);
}

static void
emit(struct rmsg *m, size_t i, enum event_kind kind, int attempt, int code,
    const char *ext, const char *desc, const char *stage,
    const struct event_tls *tls)
{
	struct event_record	 ev;
	const struct envelope	*env = &m->env;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.time = time(NULL);
	event_id(ev.id, m->id, i, kind, attempt);
	strlcpy(ev.queue_id, m->id, sizeof(ev.queue_id));
	strlcpy(ev.message_id, env->message_id, sizeof(ev.message_id));
	strlcpy(ev.recipient, env->rcpts[i].addr, sizeof(ev.recipient));
	strlcpy(ev.sender, env->sender, sizeof(ev.sender));
	strlcpy(ev.stage, stage ? stage : "", sizeof(ev.stage));
	ev.code = code;
	strlcpy(ev.extended, ext ? ext : "", sizeof(ev.extended));
	sanitize_text(ev.description, sizeof(ev.description), desc ? desc : "",
	    SIZE_MAX, SAN_FIELD);
	strlcpy(ev.tags, env->tags, sizeof(ev.tags));
	strlcpy(ev.group, env->group, sizeof(ev.group));
	strlcpy(ev.transaction, env->transaction, sizeof(ev.transaction));
	strlcpy(ev.subject, env->subject, sizeof(ev.subject));
	if (kind == EV_BOUNCE) {
		strlcpy(ev.bounce_type, "hard", sizeof(ev.bounce_type));
		/* one of the seed's reasons, as for a report that came back */
		strlcpy(ev.bounce_reason, enhanced_reason(ext, desc),
		    sizeof(ev.bounce_reason));
	} else if (kind == EV_SOFT_BOUNCE || kind == EV_DISPATCH_SOFT_BOUNCE)
		strlcpy(ev.bounce_type, "soft", sizeof(ev.bounce_type));
	if (tls != NULL)
		ev.tls = *tls;
	relay_emit(&ev);
}

/* the event of one recipient; tls (or NULL) says how the attempt went */
void
sched_emit_tls(struct rmsg *m, size_t i, enum event_kind kind, int code,
    const char *ext, const char *desc, const char *stage,
    const struct event_tls *tls)
{
	emit(m, i, kind, m->env.rcpts[i].attempts, code, ext, desc, stage,
	    tls);
}

/*
 * A second event of a kind the recipient had at this attempt (a held
 * message's error, dkim.c): an id of its own, or it would be taken for
 * the first one again and dropped
 */
void
sched_emit_again(struct rmsg *m, size_t i, enum event_kind kind,
    const char *ext, const char *desc, const char *stage)
{
	emit(m, i, kind, -1 - m->env.rcpts[i].attempts, 0, ext, desc, stage,
	    NULL);
}

/* what show queue prints as a recipient's last error */
static void
rcpt_lasterr(struct rmsg *m, size_t i, const struct rres *res)
{
	char	 code[16] = "", why[sizeof(m->env.rcpts[i].lasterr)];
	char	 desc[141];

	if (res->code > 0)
		snprintf(code, sizeof(code), "%d ", res->code);
	/* 140 bytes of it at most, cut at a whole character (UTF-8) */
	sanitize_text(desc, sizeof(desc), res->desc[0] != '\0' ? res->desc :
	    res->ext, SIZE_MAX, SAN_FIELD);
	(void)!snprintf(why, sizeof(why), "%s%s", code, desc);
	/* kept in the envelope: nothing there may break its lines */
	sanitize_text(m->env.rcpts[i].lasterr, sizeof(m->env.rcpts[i].lasterr),
	    why, SIZE_MAX, SAN_FIELD);
}

/* Postfix-style status of an outcome */
static const char *
kind_status(enum event_kind kind)
{
	switch (kind) {
	case EV_DELIVERY:
		return ("sent");
	case EV_BOUNCE:
		return ("bounced");
	case EV_ERROR:
		return ("error");
	default:
		return ("deferred");
	}
}

/*
 * One key=value line per recipient outcome, Postfix style:
 * msgid=… from=<…> to=<…> relay=host[ip]:port delay=… tls=… dsn=…
 * status=… (reply)
 */
void
sched_log(const struct rmsg *m, size_t i, const char *status,
    const char *relay, const struct event_tls *tls, int code, const char *ext,
    const char *desc)
{
	char		 from[LOG_ADDR_MAX], to[LOG_ADDR_MAX], why[600];
	char		 reply[16], tv[96], st[16];
	long long	 delay = (long long)(time(NULL) - m->env.created);
	const char	*at = strrchr(m->env.rcpts[i].addr, '@');

	/* "removed by=mhctl" counts as "removed" */
	strlcpy(st, status, sizeof(st));
	st[strcspn(st, " ")] = '\0';
	metrics_inc(M_DELIVERIES, st, metrics_domain(at ? at + 1 : NULL));
	log_addr(from, sizeof(from), m->env.sender);
	log_addr(to, sizeof(to), m->env.rcpts[i].addr);
	log_sanitize(why, sizeof(why), desc ? desc : "");
	reply[0] = '\0';
	if (tls != NULL && tls->version[0] != '\0')
		snprintf(tv, sizeof(tv), "%s:%s", tls->version, tls->cipher);
	else
		strlcpy(tv, "none", sizeof(tv));
	if (code > 0)
		snprintf(reply, sizeof(reply), "%d%s", code, why[0] ? " " : "");
	rhist_outcome(m, i, status, relay, tls, code, ext, desc);
	log_info("msgid=%s from=<%s> to=<%s> relay=%s delay=%lld tls=%s "
	    "dsn=%s status=%s%s%s%s%s", m->id, from, to,
	    relay ? relay : "none",
	    delay < 0 ? 0 : delay,
	    tv, ext && ext[0] ? ext : "-", status,
	    reply[0] || why[0] ? " (" : "", reply, why,
	    reply[0] || why[0] ? ")" : "");
}

void
sched_kick(void)
{
	struct timeval	 tv = { 0, 0 };

	if (ev_kick != NULL)
		evtimer_add(ev_kick, &tv);
}

void
sched_add_message(struct rmsg *m, int announce)
{
	char	 dn[256];
	size_t	 i;

	if ((m->rflags = calloc(m->env.nrcpt ? m->env.nrcpt : 1, 1)) == NULL ||
	    (m->rtls = calloc(m->env.nrcpt ? m->env.nrcpt : 1,
	    sizeof(*m->rtls))) == NULL ||
	    (m->rdest = calloc(m->env.nrcpt ? m->env.nrcpt : 1,
	    sizeof(*m->rdest))) == NULL)
		fatal("calloc");
	for (i = 0; i < m->env.nrcpt; i++) {
		(void)dns_domain_ascii(rcpt_domain(m->env.rcpts[i].addr), dn,
		    sizeof(dn));
		if ((m->rdest[i] = strdup(dn)) == NULL)
			fatal("strdup");
	}
	TAILQ_INSERT_TAIL(&rq, m, entry);
	if (announce) {
		stat_committed++;
		msghist_accepted(&m->env);
		for (i = 0; i < m->env.nrcpt; i++)
			sched_emit(m, i, EV_REGISTRATION, 250, "2.0.0",
			    "queued", "queue");
	}
	sched_kick();
}

static void
msg_free(struct rmsg *m)
{
	size_t	 i;

	if (m->flushing != NULL)
		*m->flushing = NULL;
	if (m->rdest != NULL)
		for (i = 0; i < m->env.nrcpt; i++)
			free(m->rdest[i]);
	free(m->rdest);
	if (m->supp_wait != NULL)
		for (i = 0; i < m->env.nrcpt; i++)
			free(m->supp_wait[i]);
	free(m->supp_wait);
	envelope_clear(&m->env);
	free(m->rflags);
	free(m->rtls);
	free(m);
}

static time_t
backoff(int attempts)
{
	long long	 d = relay_conf->retry_min > 0 ?
			    relay_conf->retry_min : 1;
	int		 k;

	for (k = 1; k < attempts && d < relay_conf->retry_max; k++)
		d *= 2;
	if (relay_conf->retry_max > 0 && d > relay_conf->retry_max)
		d = relay_conf->retry_max;
	/* up to 10% jitter */
	if (d >= 10)
		d += arc4random_uniform(d / 10 + 1);
	return (d);
}

static int
expired(struct rmsg *m, time_t now)
{
	return (relay_conf->queue_lifetime > 0 &&
	    now >= m->env.created + relay_conf->queue_lifetime);
}

/*
 * When recipient i is due: its next try, or the end of the queue
 * lifetime if that comes first.  The lifetime is a floor, as Postfix's
 * maximal_queue_lifetime: the last attempt is made when it ends (or
 * after), and a recipient expires when that attempt fails.
 */
static time_t
rcpt_next(const struct rmsg *m, size_t i)
{
	time_t	 end = m->env.created + relay_conf->queue_lifetime;

	if (relay_conf->queue_lifetime > 0 && m->env.rcpts[i].next_try > end)
		return (end);
	return (m->env.rcpts[i].next_try);
}

/* the suppressions that waited for their bounce events: durable now */
static void
supp_flush(struct rmsg *m)
{
	size_t	 i;
	int	 left = 0;

	if (m->supp_wait == NULL)
		return;
	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->supp_wait[i] == NULL)
			continue;
		/* its DSN owed: once it is queued (supp_hold) */
		if (m->env.rcpts[i].dsn_owed && !m->removed) {
			left = 1;
			continue;
		}
		suppress_add(m->env.rcpts[i].addr, NULL, m->supp_wait[i]);
		free(m->supp_wait[i]);
		m->supp_wait[i] = NULL;
	}
	if (left)
		return;
	free(m->supp_wait);
	m->supp_wait = NULL;
}

/*
 * m waits for a journal whose flush failed (outbox_failed): said once
 * per journal, as all messages wait until it is copied or acknowledged
 */
static void
settle_log(struct rmsg *m, const char *what)
{
	if (outbox_wait_news())
		log_warnx("msgid=%s: its events may not be durable: %s "
		    "(other messages wait too: logged once)", m->id, what);
	else
		log_debug("msgid=%s: its events may not be durable: %s",
		    m->id, what);
}

/* suppressed by a later supp_flush */
static void
supp_hold(struct rmsg *m, size_t i, const char *reason)
{
	if (m->supp_wait == NULL &&
	    (m->supp_wait = calloc(m->env.nrcpt, sizeof(char *))) == NULL)
		fatal("calloc");
	free(m->supp_wait[i]);
	if ((m->supp_wait[i] = strdup(reason)) == NULL)
		fatal("strdup");
}

/* suppressed once its bounce events are durable (sched_settle) */
static void
supp_later(struct rmsg *m, size_t i, const char *reason)
{
	supp_hold(m, i, reason);
	settle_log(m, "not suppressed yet");
}

/*
 * The recipients' states on disk, after their events; if those may not
 * be durable, the states stay as they were on disk (a restart tries the
 * recipients again) until a later update
 */
static void
settle_update(struct rmsg *m)
{
	if (outbox_sync() == -1) {
		if (!m->update_wait)
			settle_log(m, "its envelope is not updated now");
		/* tried again by the next pass (sched_pass) */
		m->update_wait = 1;
		return;
	}
	m->update_wait = 0;
	supp_flush(m);
	queue_update(&m->env);
}

/*
 * Persist the recipients' states; remove the message when all are final.
 * The events that explain them are made durable first: a state on disk
 * before its event (a power loss between the two) would lose the event,
 * since the recipient is not tried again.
 */
/* a recipient of m still to be tried, or a DSN it owes (bounce.c) */
static int
msg_unsettled(const struct rmsg *m)
{
	size_t	 i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RS_PENDING ||
		    m->env.rcpts[i].dsn_owed)
			return (1);
	return (0);
}

void
sched_settle(struct rmsg *m)
{
	/* a DSN owed keeps it too: removed once it is queued */
	if (m->inflight > 0 || (msg_unsettled(m) && !m->removed)) {
		if (!m->removed)
			settle_update(m);
		return;
	}
	/*
	 * Its last events are flushed by the group commit that removes it
	 * (queue_delete_group): no flush of our own here, but none may be
	 * in a journal whose flush failed; the next pass tries again.  A
	 * suppression that waited for its bounce events (supp_flush) is
	 * written at once, so those are flushed first (rare: only after a
	 * failed flush)
	 */
	if (outbox_failed() ||
	    (m->supp_wait != NULL && outbox_sync() == -1)) {
		if (!m->settle_wait)
			settle_log(m, "it is not removed now");
		m->settle_wait = 1;
		return;
	}
	supp_flush(m);
	msghist_done(&m->env, m->removed);
	/* after the flush that makes its last events durable */
	queue_delete_group(m->id, m->env.tracked ? m->env.nrcpt : 0,
	    m->dkim_aside);
	TAILQ_REMOVE(&rq, m, entry);
	msg_free(m);
}

void
sched_dsn_later(struct rmsg *m)
{
	m->dsn_next = time(NULL) + backoff(++m->dsn_tries);
}

/*
 * When the DSNs m owes are given up: a queue lifetime after m's own ends,
 * as long as such a DSN, had it been queued then, would be kept.  0:
 * never (no lifetime; m on hold, which does not expire either).
 */
static time_t
dsn_end(const struct rmsg *m)
{
	if (relay_conf->queue_lifetime <= 0 || m->env.held)
		return (0);
	return (m->env.created + 2 * (time_t)relay_conf->queue_lifetime);
}

/* the DSNs m owes, queued when due (bounce.c), given up at dsn_end if
 * still not; 1 if m may be gone (as msg_precheck) */
static int
dsn_retry(struct rmsg *m, time_t now)
{
	size_t	 i;
	int	 gone;
	time_t	 end = dsn_end(m);
	char	 why[512];

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].dsn_owed)
			break;
	if (i == m->env.nrcpt ||
	    (now < m->dsn_next && (end == 0 || now < end)))
		return (0);
	/*
	 * The suppressions that wait for these DSNs (sched_job_done) are
	 * not on disk: after a restart, made again from what the envelope
	 * keeps of the refusals, written once the DSNs are queued
	 */
	for (i = 0; i < m->env.nrcpt; i++)
		if ((m->supp_wait == NULL || m->supp_wait[i] == NULL) &&
		    bounce_owed_suppress(m, i, why, sizeof(why)))
			supp_hold(m, i, why);
	if (!bounce_retry(m))
		m->dsn_tries = 0;
	else if (end != 0 && now >= end)
		bounce_give_up(m);
	else
		sched_dsn_later(m);
	/* nothing left: sched_settle removes (frees) it */
	gone = !msg_unsettled(m) && m->inflight == 0;
	sched_settle(m);
	return (gone);
}

/*
 * expiry and suppression before anything is tried; 1 if m may be gone
 * (sched_settle frees it, or keeps it for an owed DSN or a journal to
 * wait for): the caller leaves it for this pass
 */
static int
msg_precheck(struct rmsg *m, time_t now)
{
	struct rres	*res;
	size_t		*failed, i, n = 0;
	int		 changed = 0, exp = expired(m, now);
	struct envelope_rcpt *r;

	/*
	 * A recipient expires when an attempt at or after the end of its
	 * lifetime fails (sched_job_done); here only a message that cannot
	 * be attempted, waiting to be signed (dkim.c).  A message on hold
	 * does not expire (as postsuper -h): released, each recipient gets
	 * its attempt first.
	 */
	if (m->env.held || (m->env.dkim_pending[0] == '\0' &&
	    !m->dkim_aside))
		exp = 0;
	failed = calloc(m->env.nrcpt + 1, sizeof(*failed));
	res = calloc(m->env.nrcpt + 1, sizeof(*res));
	if (failed == NULL || res == NULL)
		fatal("calloc");
	for (i = 0; i < m->env.nrcpt; i++) {
		r = &m->env.rcpts[i];
		if (r->state != RS_PENDING || (m->rflags[i] & RR_INFLIGHT))
			continue;
		if (exp) {
			r->state = RS_FAILED;
			sched_emit(m, i, EV_RETRIES_EXHAUSTED, 0, "4.4.7",
			    "message expired in queue", "queue");
			sched_log(m, i, "expired", NULL, NULL, 0, "4.4.7",
			    "message expired in queue");
			failed[n] = i;
			res[n].code = 0;
			strlcpy(res[n].ext, "4.4.7", sizeof(res[n].ext));
			strlcpy(res[n].desc, "delivery time expired",
			    sizeof(res[n].desc));
			n++;
			changed = 1;
		} else if (suppress_has(r->addr, m->env.from_domain)) {
			r->state = RS_FAILED;
			sched_emit(m, i, EV_SUPPRESSED, 0, "5.7.1",
			    "recipient is on the suppression list", "queue");
			sched_log(m, i, "suppressed", NULL, NULL, 0, "5.7.1",
			    "recipient is on the suppression list");
			changed = 1;
		}
	}
	bounce_send(m, DSN_FAILED, failed, res, n, NULL);
	free(failed);
	free(res);
	if (!changed)
		return (0);
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RS_PENDING)
			break;
	if (i == m->env.nrcpt && m->inflight == 0) {
		sched_settle(m);
		return (1);
	}
	sched_settle(m);
	return (0);
}

static int
rcpt_due(struct rmsg *m, size_t i, time_t now)
{
	struct envelope_rcpt	*r = &m->env.rcpts[i];

	/* a message held unsigned (dkim.c) is not sent */
	return (r->state == RS_PENDING && !(m->rflags[i] & RR_INFLIGHT) &&
	    !m->env.held &&
	    rcpt_next(m, i) <= now && r->dest == DEST_RELAY &&
	    m->env.dkim_pending[0] == '\0' && !m->dkim_aside);
}

/*
 * One job: the due recipients of m for domain, one only with VERP or
 * per-recipient copies, and no more than a server must take in one
 * transaction (RFC 5321 4.5.3.1.8: 100); the rest go in the next job,
 * on this connection or another, not after a 452 and a retry delay.
 */
static struct rjob *
job_new(struct rmsg *m, const char *domain, time_t now, int dispatch)
{
	struct rjob	*j;
	size_t		 i;
	int		 one = (relay_conf->bounce_domain[0] != '\0' &&
			    m->env.sender[0] != '\0') || m->env.tracked;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->idx = calloc(m->env.nrcpt, sizeof(*j->idx))) == NULL ||
	    (j->res = calloc(m->env.nrcpt, sizeof(*j->res))) == NULL)
		fatal("calloc");
	j->msg = m;
	strlcpy(j->domain, domain, sizeof(j->domain));
	strlcpy(j->relay, "none", sizeof(j->relay));
	for (i = 0; i < m->env.nrcpt; i++) {
		/*
		 * Suppressed since msg_precheck (sched_next_job takes m on a
		 * connection that just bounced one): left to the next pass,
		 * which makes its suppressed event.
		 */
		if (!rcpt_due(m, i, now) ||
		    strcasecmp(rcpt_dest(m, i), domain) != 0 ||
		    suppress_has(m->env.rcpts[i].addr, m->env.from_domain))
			continue;
		j->idx[j->n++] = i;
		m->rflags[i] |= RR_INFLIGHT;
		if (dispatch)
			sched_emit(m, i, EV_DISPATCH, 0, "", "dispatched",
			    "queue");
		if (one || j->n == JOB_RCPTS_MAX)
			break;
	}
	m->inflight++;
	return (j);
}

static struct rjob *
job_make(struct rmsg *m, const char *domain, time_t now)
{
	return (job_new(m, domain, now, 1));
}

/* a recipient held by its sender domain's allowance, once per hold */
static void
held_log(const struct rmsg *m, size_t i)
{
	char	 from[LOG_ADDR_MAX], to[LOG_ADDR_MAX];

	log_info("msgid=%s from=<%s> to=<%s> status=held (sender domain "
	    "allowance exceeded)", m->id, log_addr(from, sizeof(from),
	    m->env.sender), log_addr(to, sizeof(to),
	    m->env.rcpts[i].addr));
}

/* can m go to domain now?  emits rate_limit for a held message */
static int
may_dispatch(struct rmsg *m, struct rdom *d, time_t now)
{
	size_t	 i;
	int	 ok;

	if (!dom_rate_ok(d))
		return (0);
	if ((ok = sender_ok(m, now)) == -1)
		return (0);
	if (ok == 0) {
		for (i = 0; i < m->env.nrcpt; i++)
			if (rcpt_due(m, i, now) &&
			    !(m->rflags[i] & RR_RATE_SEEN)) {
				m->rflags[i] |= RR_RATE_SEEN;
				sched_emit(m, i, EV_RATE_LIMIT, 0, "4.7.0",
				    "sender domain allowance exceeded",
				    "queue");
				held_log(m, i);
			}
		return (0);
	}
	return (1);
}

static void
fail_job(struct rjob *j, const char *why)
{
	size_t	 i;

	j->site_failed = -1;
	for (i = 0; i < j->n; i++)
		sched_result(j, i, EV_DISPATCH_SOFT_BOUNCE, 0, "4.3.0", why,
		    "connect");
	sched_job_done(j);
}

/* a new connection to d for j */
static void
dom_start(struct rdom *d, struct rjob *j)
{
	d->nconn++;
	nconn_all++;
	if (mta_start(j) == -1) {
		d->nconn--;
		nconn_all--;
		fail_job(j, "cannot start a connection");
	}
}

/*
 * The destination's failure, remembered from a job none of its addresses
 * took (sched_job_done); a job that reached a server ends it
 */
static void
dom_site_result(struct rjob *j, time_t now)
{
	struct rdom	*d = dom_get(&doms, j->domain);
	struct rres	*r = &j->res[0];

	if (j->site_failed == -1)
		return;
	if (!j->site_failed) {
		d->failing = 0;
		d->until = 0;
		free(d->why);
		d->why = NULL;
		return;
	}
	/*
	 * Suspended after a cohort of failures in a row, as many as its
	 * connections (Postfix's failed cohort limit of 1): one failure
	 * among sessions taken (a busy server's 421 to one connection of
	 * four) only lowers its concurrency
	 */
	if (++d->failing < dom_conn_max(d))
		return;
	d->until = now + (relay_conf->retry_min > 0 ?
	    relay_conf->retry_min : 1);
	d->code = r->code;
	strlcpy(d->ext, r->ext, sizeof(d->ext));
	free(d->why);
	if (asprintf(&d->why, "delivery temporarily suspended: %s",
	    r->desc) == -1)
		fatal("asprintf");
	log_info("mta %s: destination failing (%s): no connection to it "
	    "for %llds", d->name, r->desc, (long long)(d->until - now));
}

/* a job for a suspended destination: deferred, no connection made */
static void
dom_defer(struct rdom *d, struct rjob *j)
{
	size_t	 i;

	j->site_failed = -1;
	for (i = 0; i < j->n; i++)
		sched_result(j, i, EV_DISPATCH_SOFT_BOUNCE, d->code, d->ext,
		    d->why, "connect");
	sched_job_done(j);
}

/*
 * The jobs whose kept connection closed, each on a new one; while relay
 * is paused they wait for the resume, as every other job.  One whose
 * message was removed meanwhile ends, no connection made.
 */
static void
sched_restarts(void)
{
	struct rjob	*j, *next;

	TAILQ_FOREACH_SAFE(j, &restarts, entry, next) {
		if (j->msg->removed) {
			TAILQ_REMOVE(&restarts, j, entry);
			j->site_failed = -1;
			sched_job_done(j);
		} else if (!paused) {
			TAILQ_REMOVE(&restarts, j, entry);
			dom_start(dom_get(&doms, j->domain), j);
		}
	}
}

static void
sched_pass(int fd, short ev, void *arg)
{
	struct rmsg	*m, *next;
	struct rdom	*d;
	struct rjob	*j;
	struct mconn	*c;
	time_t		 now = time(NULL);
	size_t		 i;
	const char	*dn;
	TAILQ_HEAD(, rjob) deferred = TAILQ_HEAD_INITIALIZER(deferred);

	if (relay_conf == NULL)
		return;
	sched_restarts();
	TAILQ_FOREACH_SAFE(m, &rq, entry, next) {
		if (m->removed || m->settle_wait) {
			if (m->inflight == 0)
				sched_settle(m);
			continue;
		}
		/* its states wait for a journal (settle_update) */
		if (m->update_wait && m->inflight == 0)
			settle_update(m);
		/* an owed DSN is queued while relay is paused: that is
		 * local, and the DSN then waits for the resume */
		if (dsn_retry(m, now) || paused || msg_precheck(m, now))
			continue;
		if (m->env.dkim_pending[0] != '\0') {
			if (now >= m->dkim_next)
				dkim_sign_held(m);
			continue;
		}
		if (m->dkim_aside) {
			if (now >= m->dkim_next)
				dkim_aside_retry(m);
			continue;
		}
		for (i = 0; i < m->env.nrcpt; i++) {
			if (!rcpt_due(m, i, now))
				continue;
			dn = rcpt_dest(m, i);
			d = dom_get(&doms, dn);
			if (d->until > now) {
				/* done after the loop: it may free m */
				j = job_new(m, dn, now, 0);
				TAILQ_INSERT_TAIL(&deferred, j, entry);
				continue;
			}
			if ((c = mta_idle(dn)) != NULL) {
				if (!may_dispatch(m, d, now))
					continue;
				dom_rate_count(d);
				mta_reuse(c, job_make(m, dn, now));
				continue;
			}
			if (!dom_conn_ok(d)) {
				/* a smart host's slot held by an idle one */
				if (mta_smarthost())
					(void)mta_idle_quit();
				continue;
			}
			if (!may_dispatch(m, d, now))
				continue;
			dom_rate_count(d);
			dom_start(d, job_make(m, dn, now));
		}
	}
	while ((j = TAILQ_FIRST(&deferred)) != NULL) {
		TAILQ_REMOVE(&deferred, j, entry);
		dom_defer(dom_get(&doms, j->domain), j);
	}
}

/*
 * A job whose connection, kept open from an earlier message, was closed
 * by the server before it answered MAIL (mta.c): it goes on a new one,
 * started by the next pass (not from inside the old connection's
 * callbacks).
 */
void
sched_restart(struct rjob *j)
{
	TAILQ_INSERT_TAIL(&restarts, j, entry);
	sched_kick();
}

/*
 * mhctl schedule: every recipient of m due now, one under way again as
 * soon as its attempt ends (sched_job_done), and the destinations of
 * those pending no longer suspended (dom_site_result), as Postfix's
 * flush enables its dead destinations: one connection probes each now,
 * where the pass deferred them all without a connection, counted as an
 * attempt, until the suspension's end.  A DSN m owes is tried now too,
 * not after its backoff (dsn_retry): the disk was freed meanwhile.
 */
void
sched_schedule(struct rmsg *m)
{
	size_t	 i;

	m->dsn_next = 0;
	for (i = 0; i < m->env.nrcpt; i++) {
		m->env.rcpts[i].next_try = 0;
		if (m->rflags[i] & RR_INFLIGHT)
			m->rflags[i] |= RR_SCHEDULED;
		if (m->env.rcpts[i].state == RS_PENDING)
			dom_get(&doms, rcpt_dest(m, i))->until = 0;
	}
}

/* a connection to domain is free: the next due job for it, if any */
struct rjob *
sched_next_job(const char *domain)
{
	struct rmsg	*m;
	struct rdom	*d;
	time_t		 now = time(NULL);
	size_t		 i;

	if (paused)
		return (NULL);
	d = dom_get(&doms, domain);
	TAILQ_FOREACH(m, &rq, entry) {
		if (m->removed)
			continue;
		for (i = 0; i < m->env.nrcpt; i++) {
			if (!rcpt_due(m, i, now) || suppress_has(
			    m->env.rcpts[i].addr, m->env.from_domain) ||
			    strcasecmp(rcpt_dest(m, i), domain) != 0)
				continue;
			if (!may_dispatch(m, d, now))
				return (NULL);
			dom_rate_count(d);
			return (job_make(m, domain, now));
		}
	}
	return (NULL);
}

void
sched_conn_closed(const char *domain)
{
	struct rdom	*d = dom_get(&doms, domain);

	if (d->nconn > 0) {
		d->nconn--;
		nconn_all--;
	}
	sched_kick();
}

void
sched_result(struct rjob *j, size_t i, enum event_kind kind, int code,
    const char *ext, const char *desc, const char *stage)
{
	struct rres	*r = &j->res[i];

	if (r->done)
		return;
	r->done = 1;
	r->kind = kind;
	r->code = code;
	strlcpy(r->ext, ext ? ext : "", sizeof(r->ext));
	/* the outcome says its class in its code too, as the DSN's Status
	 * does (dsn_status): a 554 5.7.1 greeting or a 535 5.7.8 to AUTH
	 * from the last address defers as 4.7.1, 4.7.8 (Postfix), a 550
	 * 4.2.2 to RCPT bounces as 5.2.2; the reply as it came in desc */
	if (kind == EV_SOFT_BOUNCE || kind == EV_DISPATCH_SOFT_BOUNCE)
		enhanced_set_class(r->ext, '4');
	else if (kind == EV_BOUNCE)
		enhanced_set_class(r->ext, '5');
	sanitize_text(r->desc, sizeof(r->desc), desc ? desc : "",
	    SIZE_MAX, SAN_FIELD);
	strlcpy(r->stage, stage ? stage : "", sizeof(r->stage));
	r->tls = j->tls;
}

/* as sched_result, the outcome being the server's reply code text */
void
sched_reply(struct rjob *j, size_t i, enum event_kind kind, int code,
    const char *ext, const char *text, const char *stage)
{
	sched_reply_at(j, i, kind, code, ext, text, 0, stage);
}

/*
 * As sched_reply, desc saying what the reply was to ("greeting refused:
 * 554 text"): the reply's text starts at desc + at, which a DSN gives
 * alone as its Diagnostic-Code
 */
void
sched_reply_at(struct rjob *j, size_t i, enum event_kind kind, int code,
    const char *ext, const char *desc, size_t at, const char *stage)
{
	struct rres	*r = &j->res[i];

	if (r->done)
		return;
	sched_result(j, i, kind, code, ext, desc, stage);
	r->remote = 1;
	/* the ASCII words before it are as they were, whatever the
	 * sanitizing did to the text */
	r->reply_at = at < strlen(r->desc) ? at : strlen(r->desc);
}

/*
 * Recipient i of j was not tried after all (a 452 for too many recipients
 * in this transaction): no event, no attempt counted, due again at once,
 * so the next transaction (on this connection: sched_next_job) takes it.
 */
void
sched_untried(struct rjob *j, size_t i)
{
	struct rres	*r = &j->res[i];

	if (r->done)
		return;
	r->done = r->untried = 1;
}

/*
 * The recipients of j without a result, which a server that was not the
 * last one to try deferred (mta_tx.c): they go on to the next one in a
 * job of their own, returned, still in flight; j keeps the others, to be
 * done now (a recipient that server took is recorded at once, never sent
 * again).  NULL: every recipient of j is without a result, j goes on.
 */
struct rjob *
sched_job_split(struct rjob *j)
{
	struct rjob	*n;
	size_t		 k, w = 0;

	for (k = 0; k < j->n && !j->res[k].done; k++)
		;
	if (k == j->n)
		return (NULL);
	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->idx = calloc(j->n, sizeof(*n->idx))) == NULL ||
	    (n->res = calloc(j->n, sizeof(*n->res))) == NULL)
		fatal("calloc");
	n->msg = j->msg;
	strlcpy(n->domain, j->domain, sizeof(n->domain));
	strlcpy(n->relay, "none", sizeof(n->relay));
	for (k = 0; k < j->n; k++) {
		if (!j->res[k].done) {
			n->idx[n->n++] = j->idx[k];
			continue;
		}
		j->idx[w] = j->idx[k];
		j->res[w++] = j->res[k];
	}
	j->n = w;
	j->msg->inflight++;
	return (n);
}

void
sched_job_done(struct rjob *j)
{
	struct rmsg		*m = j->msg;
	struct envelope_rcpt	*r;
	struct rres		*res, *failres, *okres;
	size_t			 i, k, *failed, nf = 0, *ok, nok = 0;
	time_t			 now = time(NULL);
	int			 asked;

	if (j->n > 0)
		dom_site_result(j, now);
	failed = calloc(j->n + 1, sizeof(*failed));
	failres = calloc(j->n + 1, sizeof(*failres));
	ok = calloc(j->n + 1, sizeof(*ok));
	okres = calloc(j->n + 1, sizeof(*okres));
	if (failed == NULL || failres == NULL || ok == NULL || okres == NULL)
		fatal("calloc");
	for (k = 0; k < j->n; k++) {
		i = j->idx[k];
		r = &m->env.rcpts[i];
		res = &j->res[k];
		asked = m->rflags[i] & RR_SCHEDULED;
		m->rflags[i] &= ~(RR_INFLIGHT | RR_SCHEDULED);
		if (res->tls.present)
			m->rtls[i] = res->tls;
		if (!res->done)
			sched_result(j, k, EV_DISPATCH_SOFT_BOUNCE, 0, "4.3.0",
			    "delivery not completed", "connect");
		if (m->removed && !res->untried && res->kind == EV_DELIVERY)
			/* removed during its attempt, yet delivered: the log
			 * and the history say so, after the removal */
			sched_log(m, i, kind_status(res->kind), j->relay,
			    &res->tls, res->code, res->ext, res->desc);
		if (m->removed || res->untried)
			continue;
		sched_emit_tls(m, i, res->kind, res->code, res->ext, res->desc,
		    res->stage, &res->tls);
		sched_log(m, i, kind_status(res->kind), j->relay, &res->tls,
		    res->code, res->ext, res->desc);
		if (res->kind != EV_DELIVERY)
			rcpt_lasterr(m, i, res);
		switch (res->kind) {
		case EV_DELIVERY:
			r->state = RS_DONE;
			ok[nok] = i;
			okres[nok++] = *res;
			break;
		case EV_BOUNCE:
			r->state = RS_FAILED;
			failed[nf] = i;
			failres[nf++] = *res;
			break;
		case EV_ERROR:
			r->state = RS_FAILED;
			break;
		default:
			r->attempts++;
			/* mhctl schedule during the attempt: again now */
			r->next_try = asked ? now : now + backoff(r->attempts);
			/* the last one: at the lifetime's end, not past it */
			r->next_try = rcpt_next(m, i);
			/* held while this attempt was under way: kept */
			if (!m->env.held && expired(m, now)) {
				r->state = RS_FAILED;
				sched_emit(m, i, EV_RETRIES_EXHAUSTED,
				    res->code, res->ext, res->desc, res->stage);
				sched_log(m, i, "expired", j->relay, &res->tls,
				    res->code, res->ext, res->desc);
				/* the DSN's Status: expired (RFC 3463), the
				 * last reply its Diagnostic-Code */
				failed[nf] = i;
				failres[nf] = *res;
				strlcpy(failres[nf++].ext, "4.4.7",
				    sizeof(res->ext));
			}
			break;
		}
	}
	m->inflight--;
	if (!m->removed) {
		bounce_send(m, DSN_FAILED, failed, failres, nf, j->relay);
		/* NOTIFY=SUCCESS: relayed, the next server was not told */
		bounce_send(m, DSN_RELAYED, ok, okres, nok, j->relay);
	}
	/*
	 * Suppressed only once the DSN is queued: a restart in between
	 * tries the recipient again (the envelope is not updated yet), and
	 * found on the list it would be failed without its DSN (so a DSN
	 * owed, not queued, holds it until it is); and after the bounce
	 * events are durable, or it would be failed as suppressed, its
	 * bounce event lost
	 */
	for (k = 0; k < j->n; k++) {
		res = &j->res[k];
		if (!m->removed && !res->untried && !res->server_fault &&
		    res->kind == EV_BOUNCE &&
		    enhanced_suppresses(res->stage, res->ext)) {
			if (m->env.rcpts[j->idx[k]].dsn_owed)
				supp_hold(m, j->idx[k], res->desc);
			else if (outbox_sync() == -1)
				supp_later(m, j->idx[k], res->desc);
			else
				suppress_add(m->env.rcpts[j->idx[k]].addr,
				    NULL, res->desc);
		}
	}
	free(failed);
	free(failres);
	free(ok);
	free(okres);
	free(j->idx);
	free(j->res);
	free(j);
	sched_settle(m);
	sched_kick();
}

/*
 * A destination with nothing to remember (no connection, no failure, no
 * message counted in its rate's last unit) is as one never seen
 */
static int
dom_idle(struct rdom *d, time_t now)
{
	if (d->nconn > 0 || d->failing > 0 || d->until > now ||
	    d->why != NULL)
		return (0);
	if (d->rper > 0)
		rate_advance(d, rate_slot(d->rper), d->rper);
	return (d->rsum == 0);
}

/*
 * The idle destinations forgotten, so that their number is that of the
 * busy ones, not of every domain mailed since the start (a bulk
 * sender's: memory, and a longer search for each recipient)
 */
static void
dom_sweep(time_t now)
{
	struct rdom	*d, *next;

	TAILQ_FOREACH_SAFE(d, &doms, entry, next)
		if (dom_idle(d, now)) {
			TAILQ_REMOVE(&doms, d, entry);
			free(d);
		}
}

/* the destinations the scheduler keeps (show stats) */
size_t
sched_destinations(void)
{
	struct rdom	*d;
	size_t		 n = 0;

	TAILQ_FOREACH(d, &doms, entry)
		n++;
	return (n);
}

static void
sched_tick(int fd, short ev, void *arg)
{
	dom_sweep(time(NULL));
	sched_kick();
}

int
sched_init(struct event_base *base)
{
	struct timeval	 tv = { 1, 0 };

	if ((ev_kick = evtimer_new(base, sched_pass, NULL)) == NULL ||
	    (ev_tick = event_new(base, -1, EV_PERSIST, sched_tick,
	    NULL)) == NULL ||
	    (ev_rate = evtimer_new(base, sched_tick, NULL)) == NULL)
		return (-1);
	evtimer_add(ev_tick, &tv);
	return (0);
}

void
sched_shutdown(void)
{
	struct rmsg	*m;
	struct rdom	*d;
	struct rjob	*j;

	while ((j = TAILQ_FIRST(&restarts)) != NULL) {
		TAILQ_REMOVE(&restarts, j, entry);
		sched_job_done(j);
	}
	while ((m = TAILQ_FIRST(&rq)) != NULL) {
		TAILQ_REMOVE(&rq, m, entry);
		msg_free(m);
	}
	while ((d = TAILQ_FIRST(&doms)) != NULL) {
		TAILQ_REMOVE(&doms, d, entry);
		free(d->why);
		free(d);
	}
	while ((d = TAILQ_FIRST(&sdoms)) != NULL) {
		TAILQ_REMOVE(&sdoms, d, entry);
		if (d->loaded && d->fd != -1)
			close(d->fd);
		free(d);
	}
	while ((d = TAILQ_FIRST(&gdoms)) != NULL) {
		TAILQ_REMOVE(&gdoms, d, entry);
		free(d);
	}
	if (ev_kick)
		event_free(ev_kick);
	if (ev_tick)
		event_free(ev_tick);
	if (ev_rate)
		event_free(ev_rate);
	ev_kick = ev_tick = ev_rate = NULL;
}

/* the messages in memory, removed ones included */
struct rmsglist *
sched_queue(void)
{
	return (&rq);
}

void
sched_pause(int p)
{
	paused = p;
	sched_kick();
}

int
sched_paused(void)
{
	return (paused);
}

/* messages committed since the start (DSNs included) */
unsigned long long
sched_committed(void)
{
	return (stat_committed);
}

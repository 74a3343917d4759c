/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DNS through libunbound, forwarding to the configured resolver.
 *
 * The context is created with ub_ctx_create_event(): libunbound's state
 * machines run inside our own libevent base, so there is no background
 * thread and no forked helper (ub_ctx_async() would need one or the
 * other, neither of which survives the sandbox).  ub_resolve_event()
 * hands back the wire-format answer; dns_query() turns it into a
 * struct ub_result so callers get the usual libunbound view, with the
 * raw packet in answer_packet for those that parse it themselves.
 *
 * libunbound caches answers, but even an answer from its cache costs a
 * pass through its module chain (a mesh state, the validator and the
 * iterator, the reply encoded again) and our timer; hookd asks for the
 * same DKIM key and DMARC record for every message of a sender.  So
 * positive answers are also kept here, DNS_CACHE_SLOTS of them by name
 * and type, for the smallest TTL of their answer records (at most
 * DNS_CACHE_TTL_MAX; the TTLs libunbound hands back already count down
 * in its own cache, so an answer is never kept past its expiry).  A hit
 * is answered from the event loop, never from inside dns_query(), as a
 * miss may be.  Negative, failed, bogus and zero-TTL answers are not
 * kept: they go to libunbound every time.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <ctype.h>
#include <errno.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <idn2.h>
#include <unbound.h>
#include <unbound-event.h>

#include "dns.h"
#include "log.h"

#define DNS_TIMEOUT	10	/* seconds before a query counts as SERVFAIL */
#define DNS_CACHE_SLOTS	256	/* answers kept (a power of two) */
#define DNS_CACHE_PKT_MAX 4096	/* bytes of a packet kept */
#define DNS_CACHE_TTL_MAX 3600	/* seconds an answer is kept at most */

struct dns_q {
	TAILQ_ENTRY(dns_q)	 entry;
	struct event		*timer;
	int			 rrtype;
	int			 done;		/* callback ran
						   (or timed out) */
	int			 inflight;	/* libunbound still owns a
						   reference */
	u_char			*hit;		/* a cached answer, for the
						   timer */
	int			 hit_len;
	int			 hit_sec;
	dns_raw_cb		 cb;
	void			*arg;
	char			 name[256];
};
TAILQ_HEAD(dns_qlist, dns_q);

struct dns_host {
	int			 pending;	/* queries not answered yet */
	int			 starting;	/* dns_resolve_host not
						   returned */
	int			 st[2];
	int			 sec[2];
	struct dns_addrs	 part[2];	/* A, AAAA */
	struct dns_addrs	 out;
	dns_addrs_cb		 cb;
	void			*arg;
};

struct dns_mxq {
	dns_mx_cb		 cb;
	void			*arg;
};

struct dns_literal {
	struct dns_addrs	 out;
	dns_addrs_cb		 cb;
	void			*arg;
};

static struct ub_ctx		*dns_ctx;
static struct event_base	*dns_base;
static struct dns_qlist		 dns_queries =
    TAILQ_HEAD_INITIALIZER(dns_queries);

/* a positive answer kept for its TTL */
struct dns_centry {
	char			 name[256];	/* as asked, compared
						   caselessly */
	int			 rrtype;
	int			 sec;		/* libunbound's DNSSEC status */
	time_t			 stored;	/* the loop's clock, seconds */
	time_t			 expires;
	int			 len;
	u_char			*pkt;		/* NULL: a free slot */
};
static struct dns_centry	 dns_cache[DNS_CACHE_SLOTS];
#ifdef DNS_TEST_FAULT
int				 dns_test_fault = -1;
#endif
static char			*dns_cur_resolver, *dns_cur_anchors;
static int			 dns_cur_port;

static void	dns_ub_cb(void *, int, void *, int, int, char *, int);
static void	dns_timeout(int, short, void *);
static void	dns_q_free(struct dns_q *);
static struct ub_result *dns_result(struct dns_q *, int, const u_char *, int,
		    int, int *);
static void	dns_result_free(struct ub_result *);
static void	dns_result_cname(struct ub_result *, ns_msg *, ns_rr *);
static int	dns_rdata_expand(const u_char *, const u_char *, int,
		    const u_char *, size_t, u_char **, size_t *);
static int	dns_wire_len(const u_char *, size_t);
static void	dns_init_cb(void *, int, void *, int, int, char *, int);
static void	dns_cache_flush(void);
static void	dns_host_done(struct dns_host *);

int
dns_init(struct event_base *base, const char *resolver, int port)
{
	return (dns_init_dnssec(base, resolver, port, NULL));
}

/* each non-comment line of the anchor file is one DS or DNSKEY record */
static int
dns_add_anchors(const char *anchors)
{
	const char	*p, *e;
	char		 line[4096];
	size_t		 len, n = 0;
	int		 r;

	for (p = anchors; *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		len = e - p;
		if (len >= sizeof(line)) {
			log_warnx("dns: trust anchor line too long");
			return (-1);
		}
		memcpy(line, p, len);
		line[len] = '\0';
		line[strcspn(line, ";")] = '\0';
		if (line[strspn(line, " \t\r")] == '\0')
			continue;
		if ((r = ub_ctx_add_ta(dns_ctx, line)) != 0) {
			log_warnx("dns: trust anchor: %s", ub_strerror(r));
			return (-1);
		}
		n++;
	}
	if (n == 0) {
		log_warnx("dns: no trust anchor in the anchor file");
		return (-1);
	}
	return (0);
}

/* a context forwarding to resolver@port, finalized; NULL on error */
static struct ub_ctx *
dns_ctx_new(struct event_base *base, const char *resolver, int port,
    const char *anchors)
{
	struct ub_ctx	*old = dns_ctx, *ctx;
	char		 fwd[128];
	int		 r, aid;

	if ((ctx = ub_ctx_create_event(base)) == NULL) {
		log_warnx("dns: ub_ctx_create_event failed");
		return (NULL);
	}
	if (port <= 0)
		port = 53;
	if (snprintf(fwd, sizeof(fwd), "%s@%d", resolver, port) >=
	    (int)sizeof(fwd))
		goto bad;
	if ((r = ub_ctx_set_option(ctx, "do-not-query-localhost:",
	    "no")) != 0 ||
	    (r = ub_ctx_set_option(ctx, "outgoing-range:", "64")) != 0 ||
	    /* the resolver decides about test. and the private reverses */
	    (r = ub_ctx_set_option(ctx, "local-zone:",
	    "test. transparent")) != 0 ||
	    (r = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	    (r = ub_ctx_set_fwd(ctx, fwd)) != 0) {
		log_warnx("dns: resolver %s: %s", fwd, ub_strerror(r));
		goto bad;
	}
	if (strchr(resolver, ':') == NULL)
		(void)ub_ctx_set_option(ctx, "do-ip6:", "no");
	dns_ctx = ctx;		/* dns_add_anchors works on dns_ctx */
	r = anchors != NULL ? dns_add_anchors(anchors) : 0;
	dns_ctx = old;
	if (r == -1)
		goto bad;
	/*
	 * Finalize the context now, before any sandbox: a local-data name
	 * answers at once and makes libunbound set up its worker (random
	 * seed, sockets) here rather than at the first real query.
	 */
	if ((r = ub_ctx_data_add(ctx,
	    "mailhook-init.invalid. 0 IN A 192.0.2.1")) != 0 ||
	    (r = ub_resolve_event(ctx, "mailhook-init.invalid.", 1, 1,
	    NULL, dns_init_cb, &aid)) != 0) {
		log_warnx("dns: init: %s", ub_strerror(r));
		goto bad;
	}
	return (ctx);
 bad:
	ub_ctx_delete(ctx);
	return (NULL);
}

/* what the context was made with, for dns_reconfigure */
static void
dns_remember(const char *resolver, int port, const char *anchors)
{
	free(dns_cur_resolver);
	free(dns_cur_anchors);
	dns_cur_anchors = NULL;
	if ((dns_cur_resolver = strdup(resolver)) == NULL ||
	    (anchors != NULL && (dns_cur_anchors = strdup(anchors)) == NULL))
		fatal("strdup");
	dns_cur_port = port;
}

int
dns_init_dnssec(struct event_base *base, const char *resolver, int port,
    const char *anchors)
{
	if (dns_ctx != NULL)
		dns_shutdown();
	dns_base = base;
	if ((dns_ctx = dns_ctx_new(base, resolver, port, anchors)) == NULL)
		return (-1);
	dns_remember(resolver, port, anchors);
	return (0);
}

static int
dns_same(const char *a, const char *b)
{
	return ((a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0));
}

/*
 * A reload: a new context when the resolver or the trust anchors changed
 * (libunbound takes no trust anchor once it has answered).  The queries
 * of the old context fail at once as timed out (DNS_SERVFAIL), so their
 * callers retry on the new one.  0 done or nothing changed, -1 error: the
 * old context stays.
 */
int
dns_reconfigure(const char *resolver, int port, const char *anchors)
{
	struct ub_ctx	*ctx;
	struct dns_q	*q, *tq;
	struct timeval	 now = { 0, 0 };

	if (dns_ctx == NULL)
		return (-1);
	if (dns_same(resolver, dns_cur_resolver) && port == dns_cur_port &&
	    dns_same(anchors, dns_cur_anchors))
		return (0);
	if ((ctx = dns_ctx_new(dns_base, resolver, port, anchors)) == NULL)
		return (-1);
	ub_ctx_delete(dns_ctx);
	dns_ctx = ctx;
	dns_cache_flush();
	TAILQ_FOREACH_SAFE(q, &dns_queries, entry, tq) {
		q->inflight = 0;
		free(q->hit);
		q->hit = NULL;
		if (q->done)
			dns_q_free(q);
		else
			evtimer_add(q->timer, &now);
	}
	dns_remember(resolver, port, anchors);
	log_info("dns: resolver %s port %d, %s", resolver, port, anchors ?
	    "DNSSEC with the new trust anchors" : "no DNSSEC");
	return (0);
}

static void
dns_init_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int rl)
{
}

void
dns_shutdown(void)
{
	struct dns_q	*q;

	if (dns_ctx != NULL) {
		ub_ctx_delete(dns_ctx);
		dns_ctx = NULL;
	}
	dns_cache_flush();
	/* libunbound dropped its references: nobody will call back */
	while ((q = TAILQ_FIRST(&dns_queries)) != NULL) {
		q->inflight = 0;
		q->done = 1;
		dns_q_free(q);
	}
}

static void
dns_q_free(struct dns_q *q)
{
	if (q->inflight || !q->done)
		return;
	TAILQ_REMOVE(&dns_queries, q, entry);
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->hit);
	free(q);
}

/* the loop's clock in seconds (no system call in a callback) */
static time_t
dns_now(void)
{
	struct timeval	 tv;

	if (dns_base == NULL || event_base_gettimeofday_cached(dns_base,
	    &tv) == -1)
		return (0);
	return (tv.tv_sec);
}

static struct dns_centry *
dns_cache_slot(const char *name, int rrtype)
{
	uint32_t	 h = 2166136261U ^ (uint32_t)rrtype;
	const char	*p;

	for (p = name; *p != '\0'; p++)
		h = (h ^ (uint32_t)tolower((u_char)*p)) * 16777619U;
	return (&dns_cache[h & (DNS_CACHE_SLOTS - 1)]);
}

static void
dns_cache_flush(void)
{
	size_t	 i;

	for (i = 0; i < DNS_CACHE_SLOTS; i++) {
		free(dns_cache[i].pkt);
		dns_cache[i].pkt = NULL;
	}
}

/* a copy of the live answer to name/rrtype into q, or -1 */
static int
dns_cache_get(struct dns_q *q)
{
	struct dns_centry	*e = dns_cache_slot(q->name, q->rrtype);
	time_t			 now = dns_now();

	if (e->pkt == NULL || e->rrtype != q->rrtype ||
	    strcasecmp(e->name, q->name) != 0)
		return (-1);
	if (now < e->stored || now >= e->expires) {
		free(e->pkt);
		e->pkt = NULL;
		return (-1);
	}
	if ((q->hit = malloc(e->len)) == NULL)
		return (-1);
	memcpy(q->hit, e->pkt, e->len);
	q->hit_len = e->len;
	q->hit_sec = e->sec;
	return (0);
}

/* keep a positive answer for the smallest TTL of its answer records */
static void
dns_cache_put(const struct dns_q *q, int rcode, const u_char *pkt, int len,
    int sec)
{
	struct dns_centry	*e;
	ns_msg			 msg;
	ns_rr			 rr;
	uint32_t		 ttl = DNS_CACHE_TTL_MAX;
	int			 i, n;
	time_t			 now;

	if (rcode != 0 || sec == 1 || pkt == NULL || len <= 0 ||
	    len > DNS_CACHE_PKT_MAX || ns_initparse(pkt, len, &msg) == -1 ||
	    ns_msg_getflag(msg, ns_f_rcode) != 0 ||
	    (n = ns_msg_count(msg, ns_s_an)) == 0)
		return;
	for (i = 0; i < n; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1)
			return;
		if (ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr);
	}
	if (ttl == 0 || (now = dns_now()) == 0)
		return;
	e = dns_cache_slot(q->name, q->rrtype);
	free(e->pkt);
	if ((e->pkt = malloc(len)) == NULL)
		return;
	memcpy(e->pkt, pkt, len);
	e->len = len;
	strlcpy(e->name, q->name, sizeof(e->name));
	e->rrtype = q->rrtype;
	e->sec = sec;
	e->stored = now;
	e->expires = now + ttl;
}

int
dns_query(const char *name, int rrtype, dns_raw_cb cb, void *arg)
{
	struct dns_q	*q;
	struct timeval	 tv = { DNS_TIMEOUT, 0 };
	int		 r, aid;

	if (dns_ctx == NULL || name == NULL || *name == '\0')
		return (-1);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return (-1);
	if (strlcpy(q->name, name, sizeof(q->name)) >= sizeof(q->name)) {
		free(q);
		return (-1);
	}
	q->rrtype = rrtype;
	q->cb = cb;
	q->arg = arg;
	if ((q->timer = evtimer_new(dns_base, dns_timeout, q)) == NULL) {
		free(q);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&dns_queries, q, entry);
	if (dns_cache_get(q) == 0) {
		/* answered by the timer, from the loop */
		tv.tv_sec = 0;
		evtimer_add(q->timer, &tv);
		return (0);
	}
	q->inflight = 1;
	evtimer_add(q->timer, &tv);
#ifdef DNS_TEST_FAULT
	/* tests only (regress/common/dnsfault.c): this type fails to start */
	if (rrtype == dns_test_fault)
		r = UB_NOMEM;
	else
#endif
	r = ub_resolve_event(dns_ctx, q->name, rrtype, 1, q, dns_ub_cb, &aid);
	if (r != 0) {
		log_warnx("dns: %s: %s", q->name, ub_strerror(r));
		q->inflight = 0;
		q->done = 1;
		dns_q_free(q);
		return (-1);
	}
	return (0);
}

static void
dns_timeout(int fd, short ev, void *arg)
{
	struct dns_q		*q = arg;
	struct ub_result	*res;
	int			 status;

	if (q->done)
		return;
	q->done = 1;
	if (q->hit != NULL) {
		res = dns_result(q, 0, q->hit, q->hit_len, q->hit_sec,
		    &status);
		q->cb(status, res, q->arg);
		dns_result_free(res);
	} else
		q->cb(DNS_SERVFAIL, NULL, q->arg);
	dns_q_free(q);
}

static void
dns_ub_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct dns_q		*q = arg;
	struct ub_result	*res;
	int			 status;

	q->inflight = 0;
	if (q->done) {
		dns_q_free(q);
		return;
	}
	q->done = 1;
	evtimer_del(q->timer);
	dns_cache_put(q, rcode, pkt, len, sec);
	res = dns_result(q, rcode, pkt, len, sec, &status);
	q->cb(status, res, q->arg);
	dns_result_free(res);
	dns_q_free(q);
}

/*
 * Build a struct ub_result out of the answer packet.  Names inside the
 * rdata of the common types are expanded, as libunbound itself does.
 */
static struct ub_result *
dns_result(struct dns_q *q, int rcode, const u_char *pkt, int len, int sec,
    int *status)
{
	struct ub_result	*res;
	ns_msg			 msg;
	ns_rr			 rr;
	int			 i, n, k;
	u_char			*rd;
	size_t			 rdlen;

	*status = DNS_SERVFAIL;
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return (NULL);
	res->qname = strdup(q->name);
	res->qtype = q->rrtype;
	res->qclass = 1;
	res->rcode = rcode;
	res->secure = (sec == 2);
	res->bogus = (sec == 1);
	if (pkt == NULL || len <= 0 || ns_initparse(pkt, len, &msg) == -1) {
		if (rcode == ns_r_nxdomain)
			*status = DNS_NXDOMAIN;
		else if (rcode == 0 || rcode == ns_r_servfail)
			*status = DNS_SERVFAIL;
		else
			*status = DNS_BOGUS;
		if ((res->data = calloc(1, sizeof(char *))) == NULL ||
		    (res->len = calloc(1, sizeof(int))) == NULL) {
			dns_result_free(res);
			return (NULL);
		}
		return (res);
	}
	if (rcode == 0)
		rcode = ns_msg_getflag(msg, ns_f_rcode);
	res->rcode = rcode;
	if ((res->answer_packet = malloc(len)) != NULL) {
		memcpy(res->answer_packet, pkt, len);
		res->answer_len = len;
	}
	n = ns_msg_count(msg, ns_s_an);
	if ((res->data = calloc(n + 1, sizeof(char *))) == NULL ||
	    (res->len = calloc(n + 1, sizeof(int))) == NULL) {
		dns_result_free(res);
		return (NULL);
	}
	for (i = 0, k = 0; i < n; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1)
			break;
		if (ns_rr_class(rr) != ns_c_in)
			continue;
		if (ns_rr_type(rr) == ns_t_cname && q->rrtype != ns_t_cname) {
			dns_result_cname(res, &msg, &rr);
			continue;
		}
		if ((int)ns_rr_type(rr) != q->rrtype)
			continue;
		if (dns_rdata_expand(ns_msg_base(msg), ns_msg_end(msg),
		    ns_rr_type(rr), ns_rr_rdata(rr), ns_rr_rdlen(rr),
		    &rd, &rdlen) == -1)
			continue;
		if (k == 0)
			res->ttl = ns_rr_ttl(rr);
		res->data[k] = (char *)rd;
		res->len[k] = rdlen;
		k++;
	}
	res->havedata = (k > 0);
	res->nxdomain = (rcode == ns_r_nxdomain);
	if (sec == 1)
		*status = DNS_BOGUS;
	else if (rcode == ns_r_nxdomain)
		*status = DNS_NXDOMAIN;
	else if (rcode == ns_r_servfail)
		*status = DNS_SERVFAIL;
	else if (rcode != 0)
		*status = DNS_BOGUS;
	else if (k == 0)
		*status = DNS_NODATA;
	else
		*status = DNS_OK;
	return (res);
}

/*
 * A CNAME of the answer's chain: the one at the name asked (or at the
 * target of the one before) moves res->canonname to its target, as
 * libunbound's canonname (RFC 7672 2.2.3 looks up TLSA there first).
 */
static void
dns_result_cname(struct ub_result *res, ns_msg *msg, ns_rr *rr)
{
	const char	*cur = res->canonname ? res->canonname : res->qname;
	char		 target[NS_MAXDNAME];
	size_t		 a, b;

	if (cur == NULL || ns_name_uncompress(ns_msg_base(*msg),
	    ns_msg_end(*msg), ns_rr_rdata(*rr), target, sizeof(target)) == -1)
		return;
	a = strlen(cur);
	b = strlen(ns_rr_name(*rr));
	if (a > 0 && cur[a - 1] == '.')
		a--;
	if (b > 0 && ns_rr_name(*rr)[b - 1] == '.')
		b--;
	if (a != b || strncasecmp(cur, ns_rr_name(*rr), a) != 0)
		return;
	free(res->canonname);
	res->canonname = strdup(target);
}

/* length of an uncompressed wire name, root label included */
static int
dns_wire_len(const u_char *name, size_t max)
{
	size_t	 l = 0;

	while (l < max && name[l] != 0) {
		if (name[l] & 0xc0)
			return (-1);
		l += name[l] + 1;
	}
	return (l < max ? (int)l + 1 : -1);
}

/* copy rdata, expanding compressed names; -1 on a malformed record */
static int
dns_rdata_expand(const u_char *base, const u_char *end, int type,
    const u_char *rdata, size_t rdlen, u_char **out, size_t *outlen)
{
	u_char		 buf[NS_MAXDNAME * 2 + 64], name[NS_MAXDNAME];
	const u_char	*p = rdata, *rend = rdata + rdlen;
	size_t		 fixed = 0, names = 0, o = 0, i;
	int		 c, nl;

	switch (type) {
	case ns_t_mx:
		fixed = 2;
		names = 1;
		break;
	case ns_t_cname:
	case ns_t_ns:
	case ns_t_ptr:
		names = 1;
		break;
	case ns_t_srv:
		fixed = 6;
		names = 1;
		break;
	case ns_t_soa:
		names = 2;
		break;
	default:
		if ((*out = malloc(rdlen + 1)) == NULL)
			return (-1);
		memcpy(*out, rdata, rdlen);
		(*out)[rdlen] = '\0';
		*outlen = rdlen;
		return (0);
	}
	if (rdlen < fixed)
		return (-1);
	memcpy(buf, p, fixed);
	o = fixed;
	p += fixed;
	for (i = 0; i < names; i++) {
		if ((c = ns_name_unpack(base, end, p, name,
		    sizeof(name))) == -1)
			return (-1);
		p += c;
		if (p > rend)
			return (-1);
		if ((nl = dns_wire_len(name, sizeof(name))) == -1 ||
		    (size_t)nl > sizeof(buf) - o)
			return (-1);
		memcpy(buf + o, name, nl);
		o += nl;
	}
	if ((size_t)(rend - p) > sizeof(buf) - o)
		return (-1);
	memcpy(buf + o, p, rend - p);
	o += rend - p;
	if ((*out = malloc(o + 1)) == NULL)
		return (-1);
	memcpy(*out, buf, o);
	(*out)[o] = '\0';
	*outlen = o;
	return (0);
}

static void
dns_result_free(struct ub_result *res)
{
	int	 i;

	if (res == NULL)
		return;
	if (res->data != NULL)
		for (i = 0; res->data[i] != NULL; i++)
			free(res->data[i]);
	free(res->data);
	free(res->len);
	free(res->qname);
	free(res->canonname);
	free(res->answer_packet);
	free(res);
}

static void
dns_literal_cb(int fd, short ev, void *arg)
{
	struct dns_literal	*l = arg;

	l->cb(&l->out, l->arg);
	free(l);
}

/* 1 and *l filled when name is an IPv4 or IPv6 literal */
static int
dns_literal(const char *name, struct dns_addrs *out)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&out->ss[0];
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&out->ss[0];
	char			 buf[64];
	size_t			 len = strlen(name);

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, name, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		out->n = 1;
		return (1);
	}
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']' &&
	    len - 2 < sizeof(buf)) {
		memcpy(buf, name + 1, len - 2);
		buf[len - 2] = '\0';
		name = buf;
	}
	if (inet_pton(AF_INET6, name, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		out->n = 1;
		return (1);
	}
	return (0);
}

static void
dns_host_cb(struct dns_host *h, int idx, int status, struct ub_result *res)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	int			 j;

	h->st[idx] = status;
	h->sec[idx] = res != NULL && res->secure;
	if (status == DNS_OK && res != NULL && res->canonname != NULL &&
	    h->out.canon[0] == '\0' &&
	    strlen(res->canonname) < sizeof(h->out.canon))
		strlcpy(h->out.canon, res->canonname, sizeof(h->out.canon));
	if (status == DNS_OK && res != NULL) {
		for (j = 0; res->data[j] != NULL &&
		    h->part[idx].n < DNS_MAX_ADDRS; j++) {
			if (idx == 0 && res->len[j] == 4) {
				sin = (struct sockaddr_in *)
				    &h->part[0].ss[h->part[0].n++];
				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, res->data[j], 4);
			} else if (idx == 1 && res->len[j] == 16) {
				sin6 = (struct sockaddr_in6 *)
				    &h->part[1].ss[h->part[1].n++];
				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, res->data[j], 16);
			}
		}
	}
	/* an answer from inside dns_query: dns_resolve_host calls back */
	if (--h->pending > 0 || h->starting)
		return;
	dns_host_done(h);
}

/*
 * The addresses are validated (RFC 7672 2.2): every answer that came
 * (records, NODATA or NXDOMAIN) is secure.  One that failed (SERVFAIL,
 * BOGUS) brings no address and does not count: were it to make the other
 * insecure, whoever spoils the AAAA answer of a signed MX host would
 * turn DANE off for it, and its valid A would go without TLSA.
 */
static int
dns_host_secure(const struct dns_host *h)
{
	int	 idx, n = 0;

	for (idx = 0; idx < 2; idx++) {
		if (h->st[idx] == DNS_SERVFAIL || h->st[idx] == DNS_BOGUS)
			continue;
		if (!h->sec[idx])
			return (0);
		n++;
	}
	return (n > 0);
}

/* both answers are in: merge them, call back once, free */
static void
dns_host_done(struct dns_host *h)
{
	size_t	 i;
	int	 idx;

	/* A first, then AAAA */
	for (idx = 0; idx < 2; idx++)
		for (i = 0; i < h->part[idx].n && h->out.n < DNS_MAX_ADDRS; i++)
			h->out.ss[h->out.n++] = h->part[idx].ss[i];
	h->out.secure = dns_host_secure(h);
	if (h->out.n > 0)
		h->out.status = DNS_OK;
	else if (h->st[0] == DNS_NXDOMAIN || h->st[1] == DNS_NXDOMAIN)
		h->out.status = DNS_NXDOMAIN;
	else if (h->st[0] == DNS_SERVFAIL || h->st[1] == DNS_SERVFAIL)
		h->out.status = DNS_SERVFAIL;
	else if (h->st[0] == DNS_BOGUS || h->st[1] == DNS_BOGUS)
		h->out.status = DNS_BOGUS;
	else
		h->out.status = DNS_NODATA;
	h->cb(&h->out, h->arg);
	free(h);
}

static void
dns_host_later(int fd, short ev, void *arg)
{
	dns_host_done(arg);
}

static void
dns_host_a(int status, struct ub_result *res, void *arg)
{
	dns_host_cb(arg, 0, status, res);
}

static void
dns_host_aaaa(int status, struct ub_result *res, void *arg)
{
	dns_host_cb(arg, 1, status, res);
}

int
dns_resolve_host(const char *name, dns_addrs_cb cb, void *arg)
{
	struct dns_literal	*l;
	struct dns_host		*h;
	struct timeval		 tv = { 0, 0 };

	if (name == NULL || *name == '\0')
		return (-1);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (-1);
	if (dns_literal(name, &l->out)) {
		/* answer from the event loop, never from inside the call */
		l->out.status = DNS_OK;
		l->cb = cb;
		l->arg = arg;
		if (dns_base == NULL || event_base_once(dns_base, -1,
		    EV_TIMEOUT, dns_literal_cb, l, &tv) == -1) {
			free(l);
			return (-1);
		}
		return (0);
	}
	free(l);
	if (dns_ctx == NULL)
		return (-1);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return (-1);
	h->cb = cb;
	h->arg = arg;
	/*
	 * Either query may be answered from inside dns_query (libunbound's
	 * cache, a local zone): while starting, an answer only counts down,
	 * and whoever brings pending to 0 after the start calls back.
	 */
	h->pending = 2;
	h->starting = 1;
	if (dns_query(name, ns_t_a, dns_host_a, h) == -1) {
		/* nothing started, nothing will call back */
		free(h);
		return (-1);
	}
	if (dns_query(name, ns_t_aaaa, dns_host_aaaa, h) == -1) {
		/* the A query is out: let it finish as the only answer */
		h->st[1] = DNS_SERVFAIL;
		h->pending--;
	}
	h->starting = 0;
	if (h->pending > 0)
		return (0);	/* the last answer calls back */
	/* both are in already: call back from the loop, not from here */
	if (event_base_once(dns_base, -1, EV_TIMEOUT, dns_host_later, h,
	    &tv) == -1) {
		free(h);
		return (-1);
	}
	return (0);
}

/*
 * A name IDNA mapped: letters, digits, '-', '_' and dots, and no empty
 * label.  A label of ignored code points alone (U+00AD, U+034F) maps to
 * nothing ("x.\xcd\x8f" is "x."), and one before a '[' leaves a name
 * that looks like an address literal.
 */
static int
dns_labels_ok(const char *a)
{
	size_t	 n = strlen(a);

	return (n > 0 && a[0] != '.' && a[n - 1] != '.' &&
	    strstr(a, "..") == NULL &&
	    strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == n);
}

/*
 * The A-labels in a, as IDNA mapped a name (it passes "xn--" labels on
 * unchecked), are those of the U-labels they decode to: "xn--esher" is
 * of U+2479 U+2481 U+247B, which IDNA maps to "(6)(14)(8)", no name.
 */
static int
dns_alabels_ok(const char *a)
{
	char	*u = NULL, *b = NULL;
	int	 ok;

	if (strstr(a, "xn--") == NULL)
		return (1);
	ok = idn2_to_unicode_8z8z(a, &u, 0) == IDN2_OK && u != NULL &&
	    idn2_lookup_u8((const uint8_t *)u, (uint8_t **)&b,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK && b != NULL &&
	    strcasecmp(a, b) == 0;
	free(u);
	free(b);
	return (ok);
}

int
dns_domain_ascii(const char *in, char *out, size_t len)
{
	char		*a = NULL;
	size_t		 n, i;
	int		 eight = 0;

	if (strlcpy(out, in, len) >= len) {
		out[0] = '\0';
		return (-1);
	}
	if (out[0] == '[')
		return (0);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[--n] = '\0';
	for (i = 0; i < n; i++) {
		if ((u_char)out[i] >= 0x80)
			eight = 1;
		else
			out[i] = tolower((u_char)out[i]);
	}
	if (!eight)
		return (0);
	/*
	 * UTS 46 mapping (case folding, NFC) first, as browsers and MTAs;
	 * a name of ignored code points alone (U+00AD, U+034F) maps to ""
	 */
	if (idn2_lookup_u8((const uint8_t *)out, (uint8_t **)&a,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK || a == NULL ||
	    !dns_labels_ok(a) || !dns_alabels_ok(a)) {
		free(a);
		return (-1);
	}
	if (strlcpy(out, a, len) >= len) {
		free(a);
		strlcpy(out, in, len);
		return (-1);
	}
	free(a);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = tolower((u_char)out[i]);
	return (0);
}

int
dns_name_covers(const char *pat, const char *name)
{
	const char	*dot;

	if (strncmp(pat, "*.", 2) != 0)
		return (strcasecmp(pat, name) == 0);
	return ((dot = strchr(name, '.')) != NULL && dot != name &&
	    strcasecmp(dot + 1, pat + 2) == 0);
}

int
dns_domain_utf8(const char *in, char *out, size_t len)
{
	char	*u = NULL;
	int	 rc;

	if (dns_domain_ascii(in, out, len) == -1)
		return (-1);
	if (strstr(out, "xn--") == NULL)
		return (0);	/* no A-label: as it is (every lookup) */
	/* an ASCII name is not mapped: its A-labels are checked here */
	if (!dns_alabels_ok(out))
		return (-1);
	if (idn2_to_unicode_8z8z(out, &u, 0) != IDN2_OK || u == NULL) {
		free(u);
		return (-1);
	}
	rc = strlcpy(out, u, len) >= len ? -1 : 0;
	free(u);
	return (rc);
}

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx	*x = a, *y = b;

	return (x->preference - y->preference);
}

/*
 * A host name from the wire: letters, digits, '-', '_' and dots only, and
 * not an IPv4 address (RFC 5321 5.1: an MX names a host, not an address;
 * Postfix skips such a record too).
 */
static int
dns_hostname_ok(const char *s)
{
	struct in_addr	 in;
	const char	*p;

	if (*s == '\0' || inet_pton(AF_INET, s, &in) == 1)
		return (0);
	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			return (0);
	return (1);
}

static void
dns_mx_result(int status, struct ub_result *res, void *arg)
{
	struct dns_mxq		*m = arg;
	struct dns_mxlist	 out;
	struct dns_mx		 tmp;
	char			 host[NS_MAXDNAME];
	size_t			 i, j, k, len;
	int			 nnull = 0, nrec = 0, pref;

	memset(&out, 0, sizeof(out));
	out.status = status;
	out.secure = res != NULL && res->secure;
	for (i = 0; status == DNS_OK && res->data[i] != NULL; i++) {
		if (res->len[i] < 3)
			continue;
		nrec++;
		if (ns_name_ntop((u_char *)res->data[i] + 2, host,
		    sizeof(host)) == -1)
			continue;
		len = strlen(host);
		if (len > 0 && host[len - 1] == '.')
			host[--len] = '\0';
		if (len == 0) {
			nnull++;
			continue;
		}
		if (!dns_hostname_ok(host) || len >= sizeof(out.mx[0].host))
			continue;
		for (j = 0; j < len; j++)
			host[j] = tolower((unsigned char)host[j]);
		pref = ((u_char)res->data[i][0] << 8) | (u_char)res->data[i][1];
		if ((k = out.n) == DNS_MAX_MX) {
			/*
			 * More records than kept: the most preferred ones
			 * stay, whatever the order of the answer (a set
			 * whose best MX came last lost it).
			 */
			for (j = 1, k = 0; j < out.n; j++)
				if (out.mx[j].preference > out.mx[k].preference)
					k = j;
			if (pref >= out.mx[k].preference)
				continue;
		} else
			out.n++;
		memcpy(out.mx[k].host, host, len + 1);
		out.mx[k].preference = pref;
	}
	/* RFC 7505: a single "0 ." means the domain takes no mail */
	if (nnull > 0 && nrec == 1)
		out.null_mx = 1;
	/* RFC 5321 5.1: shuffle, then sort; equal preferences stay shuffled */
	for (i = out.n; i > 1; i--) {
		k = arc4random_uniform(i);
		tmp = out.mx[i - 1];
		out.mx[i - 1] = out.mx[k];
		out.mx[k] = tmp;
	}
	/* insertion sort is stable, qsort is not */
	for (i = 1; i < out.n; i++) {
		tmp = out.mx[i];
		for (j = i; j > 0 && dns_mx_cmp(&out.mx[j - 1], &tmp) > 0; j--)
			out.mx[j] = out.mx[j - 1];
		out.mx[j] = tmp;
	}
	/* records, none usable: no implicit MX (RFC 5321 5.1), n is 0 */
	if (status == DNS_OK && nrec == 0)
		out.status = DNS_NODATA;
	m->cb(&out, m->arg);
	free(m);
}

int
dns_resolve_mx(const char *domain, dns_mx_cb cb, void *arg)
{
	struct dns_mxq	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (-1);
	m->cb = cb;
	m->arg = arg;
	if (dns_query(domain, ns_t_mx, dns_mx_result, m) == -1) {
		free(m);
		return (-1);
	}
	return (0);
}

struct dns_tlsaq {
	dns_tlsa_cb		 cb;
	void			*arg;
};

static void
dns_tlsa_result(int status, struct ub_result *res, void *arg)
{
	struct dns_tlsaq	*q = arg;
	struct dns_tlsalist	 out;
	struct dns_tlsa		*t;
	const u_char		*d;
	size_t			 i, len;

	memset(&out, 0, sizeof(out));
	out.status = status;
	out.secure = res != NULL && res->secure;
	for (i = 0; status == DNS_OK && res->data[i] != NULL; i++) {
		d = (const u_char *)res->data[i];
		len = res->len[i];
		out.nrecords++;
		/* RFC 7672 3.1: PKIX-TA(0) and PKIX-EE(1) are unusable */
		if (len < 3 || (d[0] != 2 && d[0] != 3) || d[1] > 1 ||
		    !((d[2] == 1 && len == 3 + 32) ||
		    (d[2] == 2 && len == 3 + 64)) || out.n >= DNS_MAX_TLSA)
			continue;
		t = &out.rr[out.n++];
		t->usage = d[0];
		t->selector = d[1];
		t->mtype = d[2];
		t->len = len - 3;
		memcpy(t->data, d + 3, t->len);
	}
	q->cb(&out, q->arg);
	free(q);
}

int
dns_resolve_tlsa(const char *host, int port, dns_tlsa_cb cb, void *arg)
{
	struct dns_tlsaq	*q;
	char			 name[NS_MAXDNAME];

	if (snprintf(name, sizeof(name), "_%d._tcp.%s", port, host) >=
	    (int)sizeof(name) || (q = calloc(1, sizeof(*q))) == NULL)
		return (-1);
	q->cb = cb;
	q->arg = arg;
	if (dns_query(name, 52, dns_tlsa_result, q) == -1) {
		free(q);
		return (-1);
	}
	return (0);
}

char *
dns_txt_string(const struct ub_result *res, int i)
{
	const u_char	*p, *end;
	size_t		 n = 0, l;
	char		*buf;

	/* the strings joined are shorter than the record's data */
	if ((buf = malloc((size_t)res->len[i] + 1)) == NULL)
		return (NULL);
	p = (const u_char *)res->data[i];
	end = p + res->len[i];
	while (p < end) {
		l = *p++;
		if (l > (size_t)(end - p) || memchr(p, '\0', l) != NULL) {
			free(buf);
			return (NULL);
		}
		memcpy(buf + n, p, l);
		n += l;
		p += l;
	}
	buf[n] = '\0';
	return (buf);
}

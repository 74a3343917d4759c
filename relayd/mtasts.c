/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * MTA-STS (RFC 8461) for relayd's SMTP client.  The "_mta-sts.DOMAIN"
 * TXT record (v=STSv1; id=...) comes through libunbound (common/dns.c);
 * when its id is not the one of the policy we hold, the policy is fetched
 * from https://mta-sts.DOMAIN/.well-known/mta-sts.txt through the
 * SSRF-aware libcurl client (common/http.c): certificate verified under
 * the ca bundle, no redirect, 64 KiB and 60 seconds at most.  A policy is
 * kept in the spool ("mta-sts.DOMAIN", replaced whole and fsync'd) for
 * its max_age and used when the record is gone or a fetch fails.
 *
 * A policy held is refreshed in the background (RFC 8461 5.1, 10.2)
 * half way to its max_age, at least daily: the TXT record is looked up
 * and the policy fetched again even when the id did not change (a record
 * removed by an attacker must not let the policy expire).  A refresh that
 * fails keeps the policy and is tried again before it expires.  The
 * policies an earlier run cached are refreshed too (mtasts_init).
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#include "dns.h"
#include "http.h"
#include "log.h"
#include "relayd.h"

#define STS_MAX_POLICY	(64 * 1024)
#define STS_MAX_AGE	31557600	/* RFC 8461 3.2 */
#define STS_TIMEOUT	60
#define STS_ID_MAX	32
#define STS_REFRESH_MAX	86400		/* refresh daily at least */

struct sts_waiter {
	TAILQ_ENTRY(sts_waiter)	 entry;
	mtasts_cb		 cb;
	void			*arg;
};

struct sts_entry {
	TAILQ_ENTRY(sts_entry)	 entry;
	char			 domain[256];
	char			 id[STS_ID_MAX + 1];	/* of the policy held */
	char			 newid[STS_ID_MAX + 1];	/* of the record */
	time_t			 fetched;
	int			 valid;			/* pol is a policy */
	struct sts_policy	 pol;
	int			 busy;
	int			 refreshing;		/* in the background */
	int			 just;			/* pol fetched now */
	struct event		*refresh;
	struct http_call	*call;
	TAILQ_HEAD(, sts_waiter) waiters;
};

static TAILQ_HEAD(, sts_entry) sts_cache = TAILQ_HEAD_INITIALIZER(sts_cache);

static void	 sts_txt(int, struct ub_result *, void *);
static void	 sts_refresh(int, short, void *);

/* letters, digits, '-' and '.', no empty label: safe as a file name too */
static int
sts_domain_ok(const char *d)
{
	size_t	 i, n = strlen(d);

	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return (0);
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)d[i]) || d[i] == '-' ||
		    (d[i] == '.' && d[i + 1] != '.')))
			return (0);
	return (1);
}

static int
sts_fresh(const struct sts_entry *e)
{
	return (e->valid && time(NULL) < e->fetched + e->pol.max_age);
}

/* the next background refresh: half way to max_age, or again soon */
static void
sts_schedule(struct sts_entry *e)
{
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL), left;
	long		 half;

	if (!e->valid || e->pol.max_age <= 0 ||
	    evtimer_pending(e->refresh, NULL))
		return;
	half = e->pol.max_age / 2 > STS_REFRESH_MAX ? STS_REFRESH_MAX :
	    e->pol.max_age / 2;
	left = e->fetched + e->pol.max_age - now;
	if ((tv.tv_sec = e->fetched + half - now) < 1) {
		/* a refresh failed: again before the policy expires */
		if (left <= 1)
			return;
		tv.tv_sec = left / 2 < half ? left / 2 : half;
	}
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	evtimer_add(e->refresh, &tv);
}

/*
 * The waiters get the policy if it is fresh, or fetched for them: one of
 * max_age 0 is used for the deliveries that fetched it, and then no more
 * (RFC 8461 3.2, 5.1: it may not be cached).
 */
static void
sts_finish(struct sts_entry *e)
{
	struct sts_waiter	*w;
	struct sts_policy	 pol;
	int			 fresh = sts_fresh(e) || (e->valid && e->just);

	e->busy = e->refreshing = e->just = 0;
	e->call = NULL;
	sts_schedule(e);
	pol = e->pol;
	while ((w = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		w->cb(fresh ? &pol : NULL, w->arg);
		free(w);
	}
}

/* one "key: value" line of a policy into pol; -1 malformed */
static int
sts_field(struct sts_policy *pol, const char *key, const char *val,
    int *version)
{
	const char	*errstr;
	long long	 age;
	size_t		 n = strlen(val);

	if (strcmp(key, "version") == 0)
		*version = strcmp(val, "STSv1") == 0;
	else if (strcmp(key, "mode") == 0) {
		if (strcmp(val, "enforce") == 0)
			pol->mode = STS_ENFORCE;
		else if (strcmp(val, "testing") == 0)
			pol->mode = STS_TESTING;
		else if (strcmp(val, "none") == 0)
			pol->mode = STS_NONE;
		else
			return (-1);
	} else if (strcmp(key, "max_age") == 0) {
		/*
		 * 1*10DIGIT; a policy asking for more than the RFC's
		 * maximum is kept for that maximum, not thrown away (which
		 * would leave the domain without its policy)
		 */
		if (n == 0 || n > 10 || strspn(val, "0123456789") != n)
			return (-1);
		age = strtonum(val, 0, 9999999999LL, &errstr);
		if (errstr != NULL)
			return (-1);
		pol->max_age = age > STS_MAX_AGE ? STS_MAX_AGE : (long)age;
	} else if (strcmp(key, "mx") == 0) {
		if (pol->nmx >= STS_MAX_MX) {
			pol->nmx_dropped++;
			return (0);
		}
		if (n >= sizeof(pol->mx[0]) || !sts_domain_ok(
		    strncmp(val, "*.", 2) == 0 ? val + 2 : val))
			return (-1);
		strlcpy(pol->mx[pol->nmx++], val, sizeof(pol->mx[0]));
	}
	return (0);
}

/* RFC 8461 3.2: version, mode, max_age and at least one mx; 0 ok */
int
mtasts_parse(const char *text, size_t len, struct sts_policy *pol)
{
	char		 line[512], *v, *k;
	size_t		 i, n;
	int		 version = 0, vseen = 0, mode = 0, age = 0;

	memset(pol, 0, sizeof(*pol));
	pol->max_age = -1;
	for (i = 0; i < len; ) {
		for (n = 0; i < len && text[i] != '\n'; i++) {
			if (n + 1 >= sizeof(line) || text[i] == '\0')
				return (-1);
			line[n++] = text[i];
		}
		i++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		if (n == 0)
			continue;
		if ((v = strchr(line, ':')) == NULL)
			return (-1);
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (k = v + strlen(v); k > v && (k[-1] == ' ' ||
		    k[-1] == '\t'); k--)
			k[-1] = '\0';
		for (k = v; *k != '\0'; k++)
			if (!isprint((unsigned char)*k))
				return (-1);
		if (strcmp(line, "mx") == 0)
			for (k = v; *k != '\0'; k++)
				*k = tolower((unsigned char)*k);
		/* RFC 8461 3.2: of a field other than mx, the first counts */
		if ((strcmp(line, "version") == 0 && vseen++) ||
		    (strcmp(line, "mode") == 0 && mode++) ||
		    (strcmp(line, "max_age") == 0 && age++))
			continue;
		if (sts_field(pol, line, v, &version) == -1)
			return (-1);
	}
	if (!version || !mode || !age || pol->max_age < 0 ||
	    (pol->nmx == 0 && pol->mode != STS_NONE))
		return (-1);
	return (0);
}

/* RFC 8461 4.1: "*.example.net" stands for exactly one more label */
int
mtasts_mx_match(const struct sts_policy *pol, const char *host)
{
	char		 h[256];
	size_t		 i, n;

	if (strlcpy(h, host, sizeof(h)) >= sizeof(h))
		return (0);
	n = strlen(h);
	if (n > 0 && h[n - 1] == '.')
		h[n - 1] = '\0';
	for (i = 0; i < pol->nmx; i++)
		if (dns_name_covers(pol->mx[i], h))
			return (1);
	return (0);
}

/* the spool's copy: "ID\nFETCHED\n" then the policy as it was served */
static void
sts_load(struct sts_entry *e)
{
	char		*buf, *p, *q, name[300];
	const char	*errstr;
	size_t		 len;
	long long	 t;

	snprintf(name, sizeof(name), "mta-sts.%s", e->domain);
	if ((buf = queue_state_read(name, STS_MAX_POLICY + 64, &len)) == NULL)
		return;
	if ((p = memchr(buf, '\n', len)) == NULL || (size_t)(p - buf) >
	    STS_ID_MAX || (q = memchr(p + 1, '\n', len - (p + 1 - buf))) ==
	    NULL)
		goto bad;
	*p = *q = '\0';
	t = strtonum(p + 1, 0, LLONG_MAX, &errstr);
	if (errstr != NULL || mtasts_parse(q + 1, len - (q + 1 - buf),
	    &e->pol) == -1)
		goto bad;
	strlcpy(e->id, buf, sizeof(e->id));
	e->fetched = t;
	e->valid = 1;
	free(buf);
	return;
 bad:
	log_warnx("mta-sts: %s: the cached policy is unreadable", e->domain);
	free(buf);
}

static void
sts_save(struct sts_entry *e, const char *body, size_t len)
{
	char	*buf, name[300];
	int	 n;

	if ((n = asprintf(&buf, "%s\n%lld\n%.*s", e->id,
	    (long long)e->fetched, (int)len, body)) == -1)
		fatal("asprintf");
	snprintf(name, sizeof(name), "mta-sts.%s", e->domain);
	if (queue_state_write(name, buf, n) == -1)
		log_warnx("mta-sts: %s: cannot cache the policy", e->domain);
	free(buf);
}

/*
 * TLS-RPT (RFC 8460 4.3.2.2): a policy the record announced that could
 * not be had, for the delivery that asked for it (not for a background
 * refresh, whose sessions go on under the cached policy).
 */
static void
sts_report(const struct sts_entry *e, const char *failtype)
{
	static const struct sts_policy	 none;

	if (!e->refreshing)
		tlsrpt_session(e->domain, e->valid ? &e->pol : &none, NULL,
		    "", failtype);
}

static void
sts_fetched(const struct http_response *r, void *arg)
{
	struct sts_entry	*e = arg;
	struct sts_policy	 pol;

	e->call = NULL;
	if (r->error != HTTP_OK || r->status != 200) {
		log_warnx("mta-sts: %s: policy fetch failed: %s (HTTP %ld)",
		    e->domain, r->error != HTTP_OK ? r->errstr : "status",
		    r->status);
		sts_report(e, r->error == HTTP_ETLS ? "sts-webpki-invalid" :
		    "sts-policy-fetch-error");
	} else if (r->bodylen > STS_MAX_POLICY) {
		log_warnx("mta-sts: %s: policy larger than 64 KiB", e->domain);
		sts_report(e, "sts-policy-invalid");
	} else if (r->content_type == NULL ||
	    strcmp(r->content_type, "text/plain") != 0) {
		log_warnx("mta-sts: %s: policy is not text/plain", e->domain);
		sts_report(e, "sts-policy-invalid");
	} else if (mtasts_parse(r->body, r->bodylen, &pol) == -1) {
		log_warnx("mta-sts: %s: malformed policy", e->domain);
		sts_report(e, "sts-policy-invalid");
	} else {
		e->pol = pol;
		e->valid = 1;
		e->fetched = time(NULL);
		e->refreshing = 0;
		evtimer_del(e->refresh);
		strlcpy(e->id, e->newid, sizeof(e->id));
		e->just = 1;
		/* max_age 0 too: it replaces a copy that would be fresh */
		sts_save(e, r->body, r->bodylen);
		log_info("mta-sts: %s: policy id %s, mode %s, max_age %ld",
		    e->domain, e->id, pol.mode == STS_ENFORCE ? "enforce" :
		    pol.mode == STS_TESTING ? "testing" : "none", pol.max_age);
		if (pol.nmx_dropped > 0)
			log_warnx("mta-sts: %s: policy id %s has %zu mx lines "
			    "past the first %d, ignored: an MX only they match "
			    "is not used", e->domain, e->id, pol.nmx_dropped,
			    STS_MAX_MX);
	}
	if (!sts_fresh(e) && e->valid && !e->just)
		log_warnx("mta-sts: %s: the cached policy has expired",
		    e->domain);
	else if (e->refreshing) {
		log_warnx("mta-sts: %s: background refresh failed; keeping "
		    "the cached policy id %s", e->domain, e->id);
		e->refreshing = 0;
	} else if (e->valid && strcmp(e->id, e->newid) != 0)
		log_warnx("mta-sts: %s: using the cached policy id %s",
		    e->domain, e->id);
	sts_finish(e);
}

static void
sts_fetch(struct sts_entry *e)
{
	struct http_request	 req;
	char			 url[512], port[16] = "";
	int			 tport = relay_conf->testing.mtasts_port;

	if (tport != 0)
		snprintf(port, sizeof(port), ":%d", tport);
	snprintf(url, sizeof(url), "https://mta-sts.%s%s/.well-known/"
	    "mta-sts.txt", e->domain, port);
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.get = 1;
	req.timeout = STS_TIMEOUT;
	req.max_redirects = 0;		/* RFC 8461 3.3: no redirect */
	req.max_response = STS_MAX_POLICY + 1;
	req.concurrency = 1;
	req.allow_private = tport != 0;	/* tests only (mailhookd -X) */
	if ((e->call = http_post(&req, sts_fetched, e)) == NULL) {
		log_warnx("mta-sts: %s: cannot start the fetch", e->domain);
		sts_finish(e);
	}
}

/* ALPHA / DIGIT of the ABNF, whatever the locale */
static int
sts_alnum(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'));
}

/*
 * A _mta-sts TXT record (RFC 8461 3.1):
 *	sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *			  [sts-field-delim]
 *	sts-field-delim = *WSP ";" *WSP
 *	sts-version     = %s"v=STSv1"
 *	sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *	sts-extension   = sts-ext-name "=" sts-ext-value
 *	sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 * and one id, required.  0 and the id: a valid record; -1: one that does
 * not begin with v=STSv1, discarded; -2: one that does, not valid.
 */
static int
sts_record(const char *rec, char *id, size_t idlen)
{
	const char	*p = rec + 7, *val;
	size_t		 nlen, vlen, k;
	int		 nf, nid = 0;

	if (strncmp(rec, "v=STSv1", 7) != 0 || (*p != ';' && *p != ' ' &&
	    *p != '\t' && *p != '\0'))
		return (-1);
	for (nf = 0;; nf++) {
		p += strspn(p, " \t");
		if (*p == '\0' && nf > 0)
			break;
		if (*p++ != ';')
			return (-2);
		p += strspn(p, " \t");
		if (*p == '\0' && nf > 0)
			break;		/* a delimiter at the end */
		for (nlen = 0; sts_alnum(p[nlen]) || (nlen > 0 &&
		    strchr("_-.", p[nlen]) != NULL && p[nlen] != '\0'); nlen++)
			;
		if (nlen == 0 || nlen > 32 || p[nlen] != '=')
			return (-2);
		val = p + nlen + 1;
		for (vlen = 0; val[vlen] >= 0x21 && val[vlen] <= 0x7e &&
		    val[vlen] != '=' && val[vlen] != ';'; vlen++)
			;
		if (vlen == 0)
			return (-2);
		if (nlen == 2 && strncmp(p, "id", 2) == 0) {
			/* "id=abc_def" is no id, and two are one too many */
			if (nid++ > 0 || vlen > STS_ID_MAX || vlen >= idlen)
				return (-2);
			for (k = 0; k < vlen; k++)
				if (!sts_alnum(val[k]))
					return (-2);
			memcpy(id, val, vlen);
			id[vlen] = '\0';
		}
		p = val + vlen;
	}
	return (nid == 1 ? 0 : -2);
}

/*
 * RFC 8461 3.1: the records that begin with v=STSv1 must be one, and
 * valid; else the domain has no policy (the cache may still hold one).
 */
static void
sts_txt(int status, struct ub_result *res, void *arg)
{
	struct sts_entry	*e = arg;
	char			*rec, id[STS_ID_MAX + 1];
	int			 i, n = 0, valid = 0, r;

	for (i = 0; status == DNS_OK && res->data[i] != NULL; i++) {
		if ((rec = dns_txt_string(res, i)) == NULL)
			continue;
		r = sts_record(rec, id, sizeof(id));
		free(rec);
		switch (r) {
		case -1:
			continue;
		case 0:
			valid = (n == 0);
			strlcpy(e->newid, id, sizeof(e->newid));
			break;
		default:
			valid = 0;
			break;
		}
		n++;
	}
	if (n != 1)
		valid = 0;
	if (n > 0 && !valid)
		log_warnx("mta-sts: %s: %s _mta-sts record: no policy",
		    e->domain, n > 1 ? "more than one" : "an invalid");
/* a refresh fetches whatever the record says (or if it is gone) */
	if (e->refreshing) {
		if (n != 1)
			strlcpy(e->newid, e->id, sizeof(e->newid));
		sts_fetch(e);
		return;
	}
	/* none, several, an invalid one or a failed look-up: the cache */
	if (!valid) {
		if (status != DNS_OK && status != DNS_NXDOMAIN &&
		    status != DNS_NODATA)
			log_warnx("mta-sts: %s: TXT look-up failed",
			    e->domain);
		sts_finish(e);
		return;
	}
	if (sts_fresh(e) && strcmp(e->id, e->newid) == 0) {
		sts_finish(e);
		return;
	}
	sts_fetch(e);
}

/* the timer of sts_schedule: the TXT record, then the policy */
static void
sts_refresh(int fd, short ev, void *arg)
{
	struct sts_entry	*e = arg;
	struct timeval		 tv = { 1, 0 };
	char			 name[300];

	if (e->busy) {
		evtimer_add(e->refresh, &tv);
		return;
	}
	e->busy = e->refreshing = 1;
	log_debug("mta-sts: %s: background refresh", e->domain);
	snprintf(name, sizeof(name), "_mta-sts.%s", e->domain);
	if (dns_query(name, ns_t_txt, sts_txt, e) == -1)
		sts_finish(e);
}

/* the entry of a domain, made (with the spool's copy) if need be */
static struct sts_entry *
sts_entry(const char *domain)
{
	struct sts_entry	*e;

	TAILQ_FOREACH(e, &sts_cache, entry)
		if (strcasecmp(e->domain, domain) == 0)
			return (e);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("calloc");
	strlcpy(e->domain, domain, sizeof(e->domain));
	if ((e->refresh = evtimer_new(relay_base, sts_refresh, e)) == NULL)
		fatal("evtimer_new");
	TAILQ_INIT(&e->waiters);
	TAILQ_INSERT_TAIL(&sts_cache, e, entry);
	sts_load(e);
	return (e);
}

static void
sts_restore(const char *name)
{
	struct sts_entry	*e;
	const char		*domain = name + strlen("mta-sts.");

	if (!sts_domain_ok(domain) || !(e = sts_entry(domain))->valid)
		return;
	sts_schedule(e);
	log_info("mta-sts: %s: cached policy id %s restored, %s", domain,
	    e->id, evtimer_pending(e->refresh, NULL) ? "refreshed in the "
	    "background" : "expired");
}

/* the policies an earlier run cached: their background refresh goes on */
void
mtasts_init(void)
{
	queue_state_each("mta-sts.", sts_restore);
}

int
mtasts_lookup(const char *domain, mtasts_cb cb, void *arg)
{
	struct sts_entry	*e;
	struct sts_waiter	*w;
	char			 name[300];

	if (!sts_domain_ok(domain))
		return (-1);
	e = sts_entry(domain);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&e->waiters, w, entry);
	if (e->busy)
		return (0);
	e->busy = 1;
	snprintf(name, sizeof(name), "_mta-sts.%s", e->domain);
	if (dns_query(name, ns_t_txt, sts_txt, e) == -1) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		free(w);
		e->busy = 0;
		return (-1);
	}
	return (0);
}

/* arg goes away: its callback will not run */
void
mtasts_cancel(void *arg)
{
	struct sts_entry	*e;
	struct sts_waiter	*w, *tw;

	TAILQ_FOREACH(e, &sts_cache, entry)
		TAILQ_FOREACH_SAFE(w, &e->waiters, entry, tw)
			if (w->arg == arg) {
				TAILQ_REMOVE(&e->waiters, w, entry);
				free(w);
			}
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * TLS-RPT (RFC 8460): the sessions of each domain delivered under a
 * policy (MTA-STS "sts", DANE "tlsa") are counted, successes and
 * failures by result type; at the end of each UTC day (RFC 8460 4.1:
 * 00:00:00 to 23:59:59; testing tls-rpt-period: every so many seconds
 * from the start) the counts of a domain become one JSON report,
 * gzip-compressed (zlib), handed to hookd to be POSTed
 * (application/tlsrpt+gzip) to every https: rua of the domain's
 * "_smtp._tls" TXT record (v=TLSRPTv1; rua=...), as every HTTP request
 * of the daemon is hookd's, and mailed to every mailto: rua through
 * relayd's own queue (tlsrpt_mail.c).
 *
 * The counts are kept in the spool ("tls-rpt", JSON, replaced whole and
 * fsync'd) when they changed, once a minute at most, when the reports
 * are made and when relayd exits: a restart keeps the day's counts, a
 * kill -9 loses at most the last minute's, and a report being sent when
 * relayd dies is not sent again; one waiting for its record look-up to
 * be tried again is saved until it is sent or given up.  A day that
 * ended while relayd was stopped is reported at its start, dated that
 * day.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <arpa/nameser.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <unbound.h>
#include <zlib.h>

#include "dns.h"
#include "hex.h"
#include "log.h"
#include "mailhook.h"
#include "proc.h"
#include "relayd.h"

#define RPT_MAX_FAIL	16
#define RPT_MAX_RUA	4
#define RPT_MAX_TLSA	16		/* TLSA records of a report */
#define RPT_MAX_DOMS	4096		/* policy domains counted a period */
#define RPT_TLSA_LEN	(16 + 2 * 64)	/* "3 1 1 " and the hex digits */
#define RPT_SAVE	60		/* seconds between saves, at most */
#define RPT_DAY		86400		/* RFC 8460 4.1: a UTC day */
#define RPT_STATE	"tls-rpt"
#define RPT_STATE_MAX	(4 * 1024 * 1024)
#define RPT_TXT_TRIES	4		/* look-ups of a report's record */
#define RPT_TXT_RETRY	300		/* seconds before the 2nd, doubling */

struct rpt_fail {
	char		 type[32];
	char		 mx[256];
	unsigned long	 n;
};

struct rpt_dom {
	TAILQ_ENTRY(rpt_dom)	 entry;
	char			 domain[256];
	char			 ptype[8];		/* "sts" or "tlsa" */
	/* sts: the policy; tlsa: in pol.mx the MX hosts, and their records */
	struct sts_policy	 pol;
	size_t			 ntlsa;
	char			 tlsa[RPT_MAX_TLSA][RPT_TLSA_LEN];
	unsigned long		 ok, failed;
	size_t			 nfail;
	struct rpt_fail		 fail[RPT_MAX_FAIL];
	time_t			 start, end;
	/* at a flush: the domain's other policy type, in the same report */
	struct rpt_dom		*other;
	int			 tries;		/* its record's look-ups */
};

static TAILQ_HEAD(, rpt_dom) rpt_doms = TAILQ_HEAD_INITIALIZER(rpt_doms);
static size_t		 rpt_ndoms;	/* in rpt_doms, RPT_MAX_DOMS at most */
static int		 rpt_full;	/* said so this period */
/* the reports made whose record is being looked up: saved with the counts */
static TAILQ_HEAD(, rpt_dom) rpt_waiting =
    TAILQ_HEAD_INITIALIZER(rpt_waiting);
static struct event	*rpt_timer, *rpt_save_timer;
static struct event_base *rpt_base;
static time_t		 rpt_start;
static int		 rpt_period;
static int		 rpt_dirty;		/* counts not saved yet */
static int		 rpt_daily;		/* UTC days, not a test period */

static void	 rpt_save(void);
static void	 rpt_lookup(struct rpt_dom *, int);

/* the UTC day of t: its 00:00:00 */
static time_t
rpt_day(time_t t)
{
	return (t - t % RPT_DAY);
}

/* seconds from now to the next 00:00:00 UTC, at least 1 */
static time_t
rpt_next(time_t now)
{
	return (rpt_day(now) + RPT_DAY - now);
}

static struct rpt_dom *
rpt_find(const char *domain, const char *ptype)
{
	struct rpt_dom	*r;

	TAILQ_FOREACH(r, &rpt_doms, entry)
		if (strcasecmp(r->domain, domain) == 0 &&
		    strcmp(r->ptype, ptype) == 0)
			return (r);
	/* some 23 KiB each: past the bound, a new one is not counted */
	if (rpt_ndoms >= RPT_MAX_DOMS) {
		if (!rpt_full)
			log_warnx("tls-rpt: %zu policy domains counted this "
			    "period: %s and the others after it are not",
			    rpt_ndoms, domain);
		rpt_full = 1;
		rpt_dirty = 1;		/* a saved file of more: rewritten */
		return (NULL);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	strlcpy(r->domain, domain, sizeof(r->domain));
	strlcpy(r->ptype, ptype, sizeof(r->ptype));
	TAILQ_INSERT_TAIL(&rpt_doms, r, entry);
	rpt_ndoms++;
	return (r);
}

/* a string s of the list of n, added if it is not in it yet and n < max */
static void
rpt_add(char *list, size_t *n, size_t max, size_t len, const char *s)
{
	size_t	 i;

	if (*s == '\0' || strlen(s) >= len)
		return;
	for (i = 0; i < *n; i++)
		if (strcasecmp(list + i * len, s) == 0)
			return;
	if (*n < max)
		strlcpy(list + (*n)++ * len, s, len);
}

/*
 * DANE (RFC 8460 4.3): the MX host and its TLSA records, in presentation
 * form ("3 1 1 <hex>"), those of every MX host of the domain together.
 */
static void
rpt_tlsa(struct rpt_dom *r, const struct dns_tlsalist *tl, const char *mx)
{
	char	 rec[RPT_TLSA_LEN];
	size_t	 i, n;

	rpt_add(r->pol.mx[0], &r->pol.nmx, STS_MAX_MX, sizeof(r->pol.mx[0]),
	    mx);
	for (i = 0; tl != NULL && i < tl->n; i++) {
		n = snprintf(rec, sizeof(rec), "%u %u %u ", tl->rr[i].usage,
		    tl->rr[i].selector, tl->rr[i].mtype);
		if (tl->rr[i].len > sizeof(tl->rr[i].data) ||
		    n + 2 * tl->rr[i].len >= sizeof(rec))
			continue;
		mh_hex(rec + n, tl->rr[i].data, tl->rr[i].len);
		rpt_add(r->tlsa[0], &r->ntlsa, RPT_MAX_TLSA, sizeof(r->tlsa[0]),
		    rec);
	}
}

/*
 * One session of domain under a policy; failtype NULL: it succeeded.  An
 * MTA-STS policy that could not be had (mtasts.c) counts with mx "" and
 * the policy held, or an empty one (mode none, no mx), which does not
 * replace one counted before.  Under DANE (pol NULL), tlsa: mx's TLSA
 * records (NULL: their look-up failed).
 */
void
tlsrpt_session(const char *domain, const struct sts_policy *pol,
    const struct dns_tlsalist *tlsa, const char *mx, const char *failtype)
{
	struct rpt_dom	*r;
	size_t		 i;

	if (rpt_timer == NULL)
		return;
	if ((r = rpt_find(domain, pol != NULL ? "sts" : "tlsa")) == NULL)
		return;
	rpt_dirty = 1;
	if (pol != NULL && (pol->nmx > 0 || pol->mode != STS_NONE))
		r->pol = *pol;
	if (pol == NULL)
		rpt_tlsa(r, tlsa, mx);
	if (failtype == NULL) {
		r->ok++;
		return;
	}
	r->failed++;
	for (i = 0; i < r->nfail; i++)
		if (strcmp(r->fail[i].type, failtype) == 0 &&
		    strcasecmp(r->fail[i].mx, mx) == 0)
			break;
	if (i == r->nfail) {
		if (r->nfail == RPT_MAX_FAIL)
			return;
		r->nfail++;
		strlcpy(r->fail[i].type, failtype, sizeof(r->fail[i].type));
		strlcpy(r->fail[i].mx, mx, sizeof(r->fail[i].mx));
	}
	r->fail[i].n++;
}

static void
rpt_time(char *buf, size_t len, time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
rpt_host(void)
{
	return (relay_conf->hostname[0] ? relay_conf->hostname : "localhost");
}

/*
 * RFC 8460 4.4 contact-info: an address; the configured postmaster's, or
 * postmaster@ the host name.
 */
static void
rpt_contact(char *buf, size_t len)
{
	if (relay_conf->postmaster[0] != '\0')
		strlcpy(buf, relay_conf->postmaster, len);
	else
		snprintf(buf, len, "postmaster@%s", rpt_host());
}

/* one policy of a report (RFC 8460 4.3): the policy, its counts */
static json_t *
rpt_policy_json(const struct rpt_dom *r)
{
	json_t		*pol, *strs, *mxs, *fails, *fail;
	char		 line[300];
	size_t		 i;

	strs = json_array();
	mxs = json_array();
	/* an empty policy: none could be had (sts-policy-fetch-error) */
	if (strcmp(r->ptype, "sts") == 0 && (r->pol.nmx > 0 ||
	    r->pol.mode != STS_NONE)) {
		json_array_append_new(strs, json_string("version: STSv1"));
		snprintf(line, sizeof(line), "mode: %s", r->pol.mode ==
		    STS_ENFORCE ? "enforce" : r->pol.mode == STS_TESTING ?
		    "testing" : "none");
		json_array_append_new(strs, json_string(line));
		for (i = 0; i < r->pol.nmx; i++) {
			snprintf(line, sizeof(line), "mx: %s", r->pol.mx[i]);
			json_array_append_new(strs, json_string(line));
			json_array_append_new(mxs, json_string(r->pol.mx[i]));
		}
		snprintf(line, sizeof(line), "max_age: %ld", r->pol.max_age);
		json_array_append_new(strs, json_string(line));
	} else if (strcmp(r->ptype, "tlsa") == 0) {
		for (i = 0; i < r->ntlsa; i++)
			json_array_append_new(strs, json_string(r->tlsa[i]));
		for (i = 0; i < r->pol.nmx; i++)
			json_array_append_new(mxs, json_string(r->pol.mx[i]));
	}
	pol = json_pack("{s:s, s:o, s:s, s:o}", "policy-type", r->ptype,
	    "policy-string", strs, "policy-domain", r->domain, "mx-host", mxs);
	fails = json_array();
	for (i = 0; i < r->nfail; i++) {
		fail = json_pack("{s:s, s:I}", "result-type", r->fail[i].type,
		    "failed-session-count", (json_int_t)r->fail[i].n);
		/* none for a policy that could not be had */
		if (fail != NULL && r->fail[i].mx[0] != '\0')
			json_object_set_new(fail, "receiving-mx-hostname",
			    json_string(r->fail[i].mx));
		json_array_append_new(fails, fail);
	}
	return (json_pack("{s:o, s:{s:I, s:I}, s:o}", "policy", pol,
	    "summary", "total-successful-session-count", (json_int_t)r->ok,
	    "total-failure-session-count", (json_int_t)r->failed,
	    "failure-details", fails));
}

/*
 * RFC 8460 4.3; id: the report-id.  One report per domain, with each of
 * its policies (sts and tlsa when some of its MX hosts have DANE).
 */
static char *
rpt_json(const struct rpt_dom *r, const char *id)
{
	json_t		*pols, *rep;
	char		 s[32], e[32], contact[MH_NAME_MAX + 16], *out;

	rpt_time(s, sizeof(s), r->start);
	rpt_contact(contact, sizeof(contact));
	rpt_time(e, sizeof(e), r->end);
	pols = json_array();
	json_array_append_new(pols, rpt_policy_json(r));
	if (r->other != NULL)
		json_array_append_new(pols, rpt_policy_json(r->other));
	rep = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}",
	    "organization-name", rpt_host(), "date-range", "start-datetime",
	    s, "end-datetime", e, "contact-info", contact, "report-id",
	    id, "policies", pols);
	if (rep == NULL)
		fatalx("tlsrpt: json_pack");
	out = json_dumps(rep, JSON_COMPACT);
	json_decref(rep);
	return (out);
}

/* gzip (RFC 1952) of text; NULL on failure */
static u_char *
rpt_gzip(const char *text, size_t len, size_t *zlen)
{
	z_stream	 z;
	u_char		*out;
	size_t		 cap = compressBound(len) + 64;

	if ((out = malloc(cap)) == NULL)
		return (NULL);
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		return (NULL);
	}
	z.next_in = (u_char *)text;
	z.avail_in = len;
	z.next_out = out;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return (NULL);
	}
	*zlen = z.total_out;
	deflateEnd(&z);
	return (out);
}

/*
 * To hookd, which POSTs it (hookd/tlsrpt_post.c).  The rua is the
 * domain's to write: one hookd would refuse (a control character, white
 * space, no host) is skipped here, as a mailto: one that is no address
 * is (tlsrpt_mail), or hookd would end on it.
 */
static void
rpt_post(const char *domain, const char *url, const u_char *gz, size_t zlen)
{
	struct tlsrpt_post	 tp;
	struct mproc		*p = proc_peer[PROC_HOOKD];

	memset(&tp, 0, sizeof(tp));
	if (strlcpy(tp.url, url, sizeof(tp.url)) >= sizeof(tp.url) ||
	    !tlsrpt_post_ok(&tp)) {
		log_warnx("tls-rpt: %s: rua %.64s is not a URL: skipped",
		    domain, url);
		return;
	}
	if (p == NULL || p->closed || zlen > TLSRPT_BODY_MAX) {
		log_warnx("tls-rpt: the report for %s cannot be handed to "
		    "hookd", url);
		return;
	}
	mproc_compose2(p, IMSG_TLSRPT_POST, 0, -1, &tp, sizeof(tp), gz, zlen);
}

/* the report of r, gzip'd; NULL on failure */
static u_char *
rpt_report(const struct rpt_dom *r, const char *id, size_t *zlen)
{
	char	*json;
	u_char	*gz;

	if ((json = rpt_json(r, id)) == NULL)
		return (NULL);
	gz = rpt_gzip(json, strlen(json), zlen);
	free(json);
	return (gz);
}

/*
 * "v=TLSRPTv1; rua=https://a,mailto:b" (RFC 8460 3): its rua, at most
 * max of them, each shorter than TLSRPT_RUA_MAX; -1 if rec is not a
 * TLS-RPT record.
 */
int
tlsrpt_record(const char *rec, char (*rua)[TLSRPT_RUA_MAX], size_t max)
{
	const char	*p, *end;
	size_t		 n = 0, len;

	if (strncmp(rec, "v=TLSRPTv1", 10) != 0 || (rec[10] != ';' &&
	    rec[10] != ' ' && rec[10] != '\t' && rec[10] != '\0'))
		return (-1);
	for (p = rec + 10; (p = strstr(p, "rua=")) != NULL; p += 4)
		if (p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t')
			break;
	if (p == NULL)
		return (-1);
	for (p += 4; n < max && *p != '\0' && *p != ';'; p = end) {
		len = strcspn(p, ",; \t");
		end = p + len;
		if (len > 0 && len < TLSRPT_RUA_MAX) {
			memcpy(rua[n], p, len);
			rua[n++][len] = '\0';
		}
		/* RFC 8460 3: *WSP "," *WSP between two */
		end += strspn(end, " \t");
		if (*end != ',')
			break;
		end++;
		end += strspn(end, " \t");
	}
	return (n);
}

static void
rpt_txt(int status, struct ub_result *res, void *arg)
{
	struct rpt_dom	*r = arg;
	char		*rec, s[32], id[640];
	char		 rua[RPT_MAX_RUA][TLSRPT_RUA_MAX];
	u_char		*gz = NULL;
	size_t		 zlen = 0;
	int		 i, j, n = -1, nrec = 0;

	/* a look-up that failed (timed out) is no record: again, later */
	if (status == DNS_SERVFAIL && r->tries < RPT_TXT_TRIES) {
		rpt_lookup(r, 0);
		return;
	}
	/* sent or given up: out of the state first, never sent twice */
	TAILQ_REMOVE(&rpt_waiting, r, entry);
	rpt_dirty = 1;
	rpt_save();
	rpt_time(s, sizeof(s), r->start);
	snprintf(id, sizeof(id), "%s_%lld_%s@%s", s, (long long)r->end,
	    r->domain, rpt_host());
	/*
	 * RFC 8460 3: of the records, those that begin with v=TLSRPTv1 must
	 * be one, else the domain does not take reports
	 */
	for (i = 0; status == DNS_OK && res->data[i] != NULL; i++) {
		if ((rec = dns_txt_string(res, i)) == NULL)
			continue;
		if (strncmp(rec, "v=TLSRPTv1", 10) == 0 &&
		    strchr("; \t", rec[10]) != NULL && nrec++ == 0)
			n = tlsrpt_record(rec, rua, RPT_MAX_RUA);
		free(rec);
	}
	if (nrec > 1) {
		log_warnx("tls-rpt: %s: more than one _smtp._tls record: no "
		    "report", r->domain);
		n = -1;
	}
	if (status == DNS_SERVFAIL)
		log_warnx("tls-rpt: %s: the _smtp._tls look-up failed %d "
		    "times: no report", r->domain, r->tries);
	for (j = 0; j < n; j++) {
		if (gz == NULL && (gz = rpt_report(r, id, &zlen)) == NULL)
			break;
		if (strncmp(rua[j], "https://", 8) == 0)
			rpt_post(r->domain, rua[j], gz, zlen);
		else if (strncmp(rua[j], "mailto:", 7) == 0)
			(void)tlsrpt_mail(rua[j] + 7, r->domain, id, r->start,
			    r->end, gz, zlen);
		else
			log_warnx("tls-rpt: %s: rua %.64s not served",
			    r->domain, rua[j]);
	}
	free(gz);
	free(r->other);
	free(r);
}

static void
rpt_lookup_now(int fd, short ev, void *arg)
{
	struct rpt_dom	*r = arg;
	char		 name[300];

	r->tries++;
	snprintf(name, sizeof(name), "_smtp._tls.%s", r->domain);
	if (dns_query(name, ns_t_txt, rpt_txt, r) == -1)
		rpt_txt(DNS_SERVFAIL, NULL, r);
}

/*
 * The report of r goes to the ruas of its domain's _smtp._tls record: a
 * look-up that fails (SERVFAIL, a time-out) is tried again RPT_TXT_RETRY
 * seconds later, then twice as long (a test period's length at most);
 * after RPT_TXT_TRIES the report is dropped, logged.
 */
static void
rpt_lookup(struct rpt_dom *r, int restored)
{
	struct timeval	 tv = { 0, 0 };

	if (restored)
		tv.tv_sec = 1;
	else if (r->tries > 0) {
		tv.tv_sec = (time_t)RPT_TXT_RETRY << (r->tries - 1);
		if (!rpt_daily && tv.tv_sec > rpt_period)
			tv.tv_sec = rpt_period;
		log_warnx("tls-rpt: %s: the _smtp._tls look-up failed; "
		    "again in %lld s", r->domain, (long long)tv.tv_sec);
	}
	if (event_base_once(rpt_base, -1, EV_TIMEOUT, rpt_lookup_now, r,
	    &tv) == -1) {
		log_warnx("tls-rpt: %s: no report", r->domain);
		TAILQ_REMOVE(&rpt_waiting, r, entry);
		rpt_dirty = 1;
		free(r->other);
		free(r);
	}
}

static json_t *
rpt_dom_json(const struct rpt_dom *r)
{
	json_t	*mx, *fails, *tlsa, *o;
	size_t	 i;

	mx = json_array();
	fails = json_array();
	tlsa = json_array();
	for (i = 0; i < r->pol.nmx; i++)
		json_array_append_new(mx, json_string(r->pol.mx[i]));
	for (i = 0; i < r->ntlsa; i++)
		json_array_append_new(tlsa, json_string(r->tlsa[i]));
	for (i = 0; i < r->nfail; i++)
		json_array_append_new(fails, json_pack("{s:s, s:s, s:I}",
		    "type", r->fail[i].type, "mx", r->fail[i].mx, "n",
		    (json_int_t)r->fail[i].n));
	o = json_pack("{s:s, s:s, s:i, s:I, s:o, s:I, s:I, s:o}",
	    "domain", r->domain, "type", r->ptype, "mode", r->pol.mode,
	    "max_age", (json_int_t)r->pol.max_age, "mx", mx, "ok",
	    (json_int_t)r->ok, "failed", (json_int_t)r->failed, "fail",
	    fails);
	if (o != NULL && strcmp(r->ptype, "tlsa") == 0)
		json_object_set_new(o, "tlsa", tlsa);
	else
		json_decref(tlsa);
	return (o);
}

/* a report waiting for its record: its period, look-ups, policies */
static json_t *
rpt_wait_json(const struct rpt_dom *r)
{
	json_t	*o;

	o = json_pack("{s:I, s:I, s:i, s:o}", "start", (json_int_t)r->start,
	    "end", (json_int_t)r->end, "tries", r->tries, "report",
	    rpt_dom_json(r));
	if (o != NULL && r->other != NULL)
		json_object_set_new(o, "other", rpt_dom_json(r->other));
	return (o);
}

/* the counts into the spool (replaced whole, fsync'd) */
static void
rpt_save(void)
{
	struct rpt_dom	*r;
	json_t		*doms, *waiting, *o;
	char		*text;

	if (!rpt_dirty)
		return;
	doms = json_array();
	TAILQ_FOREACH(r, &rpt_doms, entry)
		json_array_append_new(doms, rpt_dom_json(r));
	waiting = json_array();
	TAILQ_FOREACH(r, &rpt_waiting, entry)
		json_array_append_new(waiting, rpt_wait_json(r));
	o = json_pack("{s:I, s:o, s:o}", "start", (json_int_t)rpt_start,
	    "domains", doms, "waiting", waiting);
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("tls-rpt: json");
	if (queue_state_write(RPT_STATE, text, strlen(text)) == -1)
		log_warnx("tls-rpt: cannot save the counts");
	else
		rpt_dirty = 0;
	free(text);
	json_decref(o);
}

static void
rpt_save_tick(int fd, short ev, void *arg)
{
	rpt_save();
}

static void
rpt_exit(void)
{
	rpt_save();
}

/* a printable string of at most len - 1 bytes; -1 if not */
static int
rpt_str(const json_t *o, const char *key, char *buf, size_t len)
{
	const char	*v = json_string_value(json_object_get(o, key));
	size_t		 i;

	if (v == NULL || strlcpy(buf, v, len) >= len)
		return (-1);
	for (i = 0; buf[i] != '\0'; i++)
		if (!isprint((unsigned char)buf[i]))
			return (-1);
	return (0);
}

/* a count that is an integer 0 <= n <= max; -1 if not */
static long long
rpt_int(const json_t *o, const char *key, long long max)
{
	const json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return (-1);
	return (json_integer_value(v));
}

/* one domain's saved counts, into r or (NULL) rpt_doms; -1 malformed */
static int
rpt_load_dom(const json_t *d, struct rpt_dom *r)
{
	char		 domain[256], ptype[8];
	const json_t	*a, *f;
	size_t		 i;
	long long	 mode, age, ok, failed, n;

	if (rpt_str(d, "domain", domain, sizeof(domain)) == -1 ||
	    rpt_str(d, "type", ptype, sizeof(ptype)) == -1 ||
	    (strcmp(ptype, "sts") != 0 && strcmp(ptype, "tlsa") != 0) ||
	    (mode = rpt_int(d, "mode", STS_ENFORCE)) == -1 ||
	    (age = rpt_int(d, "max_age", LONG_MAX)) == -1 ||
	    (ok = rpt_int(d, "ok", LLONG_MAX)) == -1 ||
	    (failed = rpt_int(d, "failed", LLONG_MAX)) == -1 ||
	    !json_is_array(json_object_get(d, "mx")) ||
	    !json_is_array(json_object_get(d, "fail")))
		return (-1);
	if (r != NULL) {
		strlcpy(r->domain, domain, sizeof(r->domain));
		strlcpy(r->ptype, ptype, sizeof(r->ptype));
	} else if ((r = rpt_find(domain, ptype)) == NULL)
		return (0);		/* past RPT_MAX_DOMS: skipped */
	r->pol.mode = mode;
	r->pol.max_age = age;
	r->ok = ok;
	r->failed = failed;
	json_array_foreach(json_object_get(d, "mx"), i, a) {
		if (r->pol.nmx == STS_MAX_MX)
			break;
		if (!json_is_string(a) || strlcpy(r->pol.mx[r->pol.nmx],
		    json_string_value(a), sizeof(r->pol.mx[0])) >=
		    sizeof(r->pol.mx[0]) ||
		    strspn(r->pol.mx[r->pol.nmx], "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*") !=
		    strlen(r->pol.mx[r->pol.nmx]))
			return (-1);
		r->pol.nmx++;
	}
	json_array_foreach(json_object_get(d, "fail"), i, f) {
		if (r->nfail == RPT_MAX_FAIL)
			break;
		if (rpt_str(f, "type", r->fail[r->nfail].type,
		    sizeof(r->fail[0].type)) == -1 ||
		    rpt_str(f, "mx", r->fail[r->nfail].mx,
		    sizeof(r->fail[0].mx)) == -1 ||
		    (n = rpt_int(f, "n", LLONG_MAX)) == -1)
			return (-1);
		r->fail[r->nfail++].n = n;
	}
	/* none in a file saved before they were */
	json_array_foreach(json_object_get(d, "tlsa"), i, a) {
		if (r->ntlsa == RPT_MAX_TLSA)
			break;
		if (!json_is_string(a) || strlcpy(r->tlsa[r->ntlsa],
		    json_string_value(a), sizeof(r->tlsa[0])) >=
		    sizeof(r->tlsa[0]) || strspn(r->tlsa[r->ntlsa],
		    "0123456789abcdef ") != strlen(r->tlsa[r->ntlsa]))
			return (-1);
		r->ntlsa++;
	}
	return (0);
}

/* a saved report waiting for its record, into rpt_waiting; -1 malformed */
static int
rpt_load_wait(const json_t *w)
{
	struct rpt_dom	*r;
	const json_t	*o;
	long long	 start, end, tries;

	if ((start = rpt_int(w, "start", LLONG_MAX)) == -1 ||
	    (end = rpt_int(w, "end", LLONG_MAX)) == -1 ||
	    (tries = rpt_int(w, "tries", RPT_TXT_TRIES)) == -1)
		return (-1);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	TAILQ_INSERT_TAIL(&rpt_waiting, r, entry);
	r->start = start;
	r->end = end;
	r->tries = tries;
	if (rpt_load_dom(json_object_get(w, "report"), r) == -1)
		return (-1);
	if ((o = json_object_get(w, "other")) == NULL)
		return (0);
	if ((r->other = calloc(1, sizeof(*r->other))) == NULL)
		fatal("calloc");
	return (rpt_load_dom(o, r->other));
}

static void
rpt_clear(void)
{
	struct rpt_dom	*r;

	while ((r = TAILQ_FIRST(&rpt_doms)) != NULL) {
		TAILQ_REMOVE(&rpt_doms, r, entry);
		free(r);
	}
	rpt_ndoms = 0;
	rpt_full = 0;
	while ((r = TAILQ_FIRST(&rpt_waiting)) != NULL) {
		TAILQ_REMOVE(&rpt_waiting, r, entry);
		free(r->other);
		free(r);
	}
}

/* the counts a previous run saved, and when their period began */
static void
rpt_load(void)
{
	json_t		*o, *d;
	struct rpt_dom	*r, *next;
	json_error_t	 err;
	char		*buf;
	size_t		 len, i;
	long long	 start;

	if ((buf = queue_state_read(RPT_STATE, RPT_STATE_MAX, &len)) == NULL)
		return;
	o = json_loadb(buf, len, 0, &err);
	free(buf);
	if (o == NULL || (start = rpt_int(o, "start", LLONG_MAX)) == -1 ||
	    !json_is_array(json_object_get(o, "domains")))
		goto bad;
	json_array_foreach(json_object_get(o, "domains"), i, d)
		if (rpt_load_dom(d, NULL) == -1)
			goto bad;
	/* none in a file saved before they were */
	json_array_foreach(json_object_get(o, "waiting"), i, d)
		if (rpt_load_wait(d) == -1)
			goto bad;
	rpt_start = start;
	log_info("tls-rpt: the counts of %zu domains restored",
	    json_array_size(json_object_get(o, "domains")));
	json_decref(o);
	/* their look-ups again, from the start of the loop */
	TAILQ_FOREACH(r, &rpt_waiting, entry)
		log_info("tls-rpt: %s: the report of a previous run restored; "
		    "its _smtp._tls record is looked up", r->domain);
	TAILQ_FOREACH_SAFE(r, &rpt_waiting, entry, next)
		rpt_lookup(r, 1);
	return;
 bad:
	log_warnx("tls-rpt: the saved counts are unreadable; counting anew");
	json_decref(o);
	rpt_clear();
}

static void
rpt_flush(int fd, short ev, void *arg)
{
	struct rpt_dom	*r, *o;
	struct timeval	 tv = { rpt_period, 0 };
	time_t		 now = time(NULL), end;

	/* a timer early against the clock: the day is not over yet */
	if (rpt_daily && now < rpt_start + RPT_DAY) {
		tv.tv_sec = rpt_next(now);
		evtimer_add(rpt_timer, &tv);
		return;
	}
	/* a day ends at 23:59:59 UTC; a test period when it is made */
	end = rpt_daily ? rpt_start + RPT_DAY - 1 : now;
	while ((r = TAILQ_FIRST(&rpt_doms)) != NULL) {
		TAILQ_REMOVE(&rpt_doms, r, entry);
		r->start = rpt_start;
		r->end = end;
		/* its other policy type goes in the same report, one id */
		TAILQ_FOREACH(o, &rpt_doms, entry)
			if (strcasecmp(o->domain, r->domain) == 0)
				break;
		if ((r->other = o) != NULL)
			TAILQ_REMOVE(&rpt_doms, o, entry);
		r->tries = 0;
		/* in the state written below until sent or given up */
		TAILQ_INSERT_TAIL(&rpt_waiting, r, entry);
		rpt_lookup(r, 0);
	}
	rpt_ndoms = 0;
	rpt_full = 0;
	rpt_start = rpt_daily ? rpt_day(now) : now;
	rpt_dirty = 1;
	rpt_save();
	if (rpt_daily)
		tv.tv_sec = rpt_next(now);
	evtimer_add(rpt_timer, &tv);
}

/*
 * period: seconds between reports, from when it is called; 0: whole UTC
 * days, 00:00:00 to 23:59:59 (RFC 8460 4.1).
 */
void
tlsrpt_init(struct event_base *base, int period)
{
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL);

	if (rpt_timer != NULL)
		return;
	rpt_base = base;
	rpt_daily = period <= 0;
	rpt_period = period > 0 ? period : RPT_DAY;
	rpt_start = rpt_daily ? rpt_day(now) : now;
	rpt_load();
	/* the period that began before a restart ends when it would have */
	if (rpt_daily)
		rpt_start = rpt_day(rpt_start);
	tv.tv_sec = rpt_start + rpt_period - now;
	if (tv.tv_sec < 1 || tv.tv_sec > rpt_period)
		tv.tv_sec = tv.tv_sec < 1 ? 1 : rpt_period;
	if ((rpt_timer = evtimer_new(base, rpt_flush, NULL)) == NULL ||
	    (rpt_save_timer = event_new(base, -1, EV_PERSIST, rpt_save_tick,
	    NULL)) == NULL)
		fatal("evtimer_new");
	evtimer_add(rpt_timer, &tv);
	/* a short test period saves as often, a tenth of it */
	tv.tv_sec = rpt_period / 10 < RPT_SAVE ? rpt_period / 10 : RPT_SAVE;
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	evtimer_add(rpt_save_timer, &tv);
	if (atexit(rpt_exit) != 0)
		fatal("atexit");
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * TLS-RPT (RFC 8460): the sessions of each domain delivered under a
 * policy (MTA-STS "sts", DANE "tlsa") are counted, successes and
 * failures by result type; once a day (testing tls-rpt-period) the
 * counts of a domain become one JSON report, gzip-compressed (zlib) and
 * POSTed (application/tlsrpt+gzip) to every https: rua of the domain's
 * "_smtp._tls" TXT record (v=TLSRPTv1; rua=...).  mailto: rua are not
 * served yet.  The counts live in memory: a restart loses the day's.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <arpa/nameser.h>
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
#include "http.h"
#include "log.h"
#include "relayd.h"

#define RPT_MAX_FAIL	16
#define RPT_MAX_RUA	4
#define RPT_TIMEOUT	60

struct rpt_fail {
	char		 type[32];
	char		 mx[256];
	unsigned long	 n;
};

struct rpt_dom {
	TAILQ_ENTRY(rpt_dom)	 entry;
	char			 domain[256];
	char			 ptype[8];		/* "sts" or "tlsa" */
	struct sts_policy	 pol;			/* when sts */
	unsigned long		 ok, failed;
	size_t			 nfail;
	struct rpt_fail		 fail[RPT_MAX_FAIL];
	time_t			 start, end;
};

static TAILQ_HEAD(, rpt_dom) rpt_doms = TAILQ_HEAD_INITIALIZER(rpt_doms);
static struct event	*rpt_timer;
static time_t		 rpt_start;
static int		 rpt_period;

static struct rpt_dom *
rpt_find(const char *domain, const char *ptype)
{
	struct rpt_dom	*r;

	TAILQ_FOREACH(r, &rpt_doms, entry)
		if (strcasecmp(r->domain, domain) == 0 &&
		    strcmp(r->ptype, ptype) == 0)
			return (r);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	strlcpy(r->domain, domain, sizeof(r->domain));
	strlcpy(r->ptype, ptype, sizeof(r->ptype));
	TAILQ_INSERT_TAIL(&rpt_doms, r, entry);
	return (r);
}

/* one session of domain under a policy; failtype NULL: it succeeded */
void
tlsrpt_session(const char *domain, const struct sts_policy *pol,
    const char *mx, const char *failtype)
{
	struct rpt_dom	*r;
	size_t		 i;

	if (rpt_timer == NULL)
		return;
	r = rpt_find(domain, pol != NULL ? "sts" : "tlsa");
	if (pol != NULL)
		r->pol = *pol;
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

/* RFC 8460 4.3 */
static char *
rpt_json(const struct rpt_dom *r)
{
	json_t		*pol, *strs, *mxs, *fails, *rep;
	char		 s[32], e[32], id[640], line[300], *out;
	const char	*host = relay_conf->hostname[0] ? relay_conf->hostname :
			    "localhost";
	size_t		 i;

	rpt_time(s, sizeof(s), r->start);
	rpt_time(e, sizeof(e), r->end);
	snprintf(id, sizeof(id), "%s_%lld_%s@%s", s, (long long)r->end,
	    r->domain, host);
	strs = json_array();
	mxs = json_array();
	if (strcmp(r->ptype, "sts") == 0) {
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
	}
	pol = json_pack("{s:s, s:o, s:s, s:o}", "policy-type", r->ptype,
	    "policy-string", strs, "policy-domain", r->domain, "mx-host", mxs);
	fails = json_array();
	for (i = 0; i < r->nfail; i++)
		json_array_append_new(fails, json_pack("{s:s, s:s, s:I}",
		    "result-type", r->fail[i].type, "receiving-mx-hostname",
		    r->fail[i].mx, "failed-session-count",
		    (json_int_t)r->fail[i].n));
	rep = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:[{s:o, s:{s:I, s:I},"
	    " s:o}]}", "organization-name", host, "date-range",
	    "start-datetime", s, "end-datetime", e, "contact-info",
	    "postmaster", "report-id", id, "policies", "policy", pol,
	    "summary", "total-successful-session-count", (json_int_t)r->ok,
	    "total-failure-session-count", (json_int_t)r->failed,
	    "failure-details", fails);
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

static void
rpt_posted(const struct http_response *res, void *arg)
{
	char	*url = arg;

	if (res->error != HTTP_OK || res->status < 200 || res->status > 299)
		log_warnx("tls-rpt: %s: %s (HTTP %ld)", url, res->error !=
		    HTTP_OK ? res->errstr : "refused", res->status);
	else
		log_info("tls-rpt: report delivered to %s", url);
	free(url);
}

static void
rpt_post(const struct rpt_dom *r, const char *url)
{
	struct http_request	 req;
	char			*json, *u;
	u_char			*gz;
	size_t			 zlen;

	if ((json = rpt_json(r)) == NULL)
		return;
	gz = rpt_gzip(json, strlen(json), &zlen);
	free(json);
	if (gz == NULL || (u = strdup(url)) == NULL) {
		free(gz);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.url = u;
	req.content_type = "application/tlsrpt+gzip";
	req.body = gz;
	req.bodylen = zlen;
	req.timeout = RPT_TIMEOUT;
	req.allow_private = relay_conf->testing.mtasts_port != 0;
	if (http_post(&req, rpt_posted, u) == NULL)
		free(u);
	free(gz);
}

/* "v=TLSRPTv1; rua=https://a,mailto:b" (RFC 8460 3) */
static void
rpt_txt(int status, struct ub_result *res, void *arg)
{
	struct rpt_dom	*r = arg;
	char		 rec[1024], *p, *rua, *sp;
	int		 i, n = 0;

	for (i = 0; status == DNS_OK && res->data[i] != NULL; i++) {
		if (dns_txt_string(res, i, rec, sizeof(rec)) == -1 ||
		    strncmp(rec, "v=TLSRPTv1", 10) != 0 ||
		    (p = strstr(rec, "rua=")) == NULL)
			continue;
		p += 4;
		p[strcspn(p, "; \t")] = '\0';
		for (rua = strtok_r(p, ",", &sp); rua != NULL && n <
		    RPT_MAX_RUA; rua = strtok_r(NULL, ",", &sp), n++) {
			if (strncmp(rua, "https://", 8) == 0)
				rpt_post(r, rua);
			else
				log_warnx("tls-rpt: %s: rua %.64s not served",
				    r->domain, rua);
		}
		break;
	}
	free(r);
}

static void
rpt_flush(int fd, short ev, void *arg)
{
	struct rpt_dom	*r;
	struct timeval	 tv = { rpt_period, 0 };
	char		 name[300];
	time_t		 now = time(NULL);

	while ((r = TAILQ_FIRST(&rpt_doms)) != NULL) {
		TAILQ_REMOVE(&rpt_doms, r, entry);
		r->start = rpt_start;
		r->end = now;
		snprintf(name, sizeof(name), "_smtp._tls.%s", r->domain);
		if (dns_query(name, ns_t_txt, rpt_txt, r) == -1)
			free(r);
	}
	rpt_start = now;
	evtimer_add(rpt_timer, &tv);
}

/* period: seconds between reports, 0 for a day */
void
tlsrpt_init(struct event_base *base, int period)
{
	struct timeval	 tv;

	if (rpt_timer != NULL)
		return;
	rpt_period = period > 0 ? period : 86400;
	rpt_start = time(NULL);
	tv.tv_sec = rpt_period;
	tv.tv_usec = 0;
	if ((rpt_timer = evtimer_new(base, rpt_flush, NULL)) == NULL)
		fatal("evtimer_new");
	evtimer_add(rpt_timer, &tv);
}

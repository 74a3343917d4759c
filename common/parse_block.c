/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The configuration parser's blocks (parse.y): a route, limit domain,
 * events or tracking block as the grammar opens and closes it, each
 * setting said once, and the global settings checked as a whole
 * (postmaster, relay from, testing).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "mailaddr.h"
#include "parse.h"
#include "parse_state.h"

#define perr	parse_error
#define SYNC_TIMEOUT_MAX	540	/* seconds: under the 10 minutes of RFC 5321 */

/* the state the grammar shares (parse_state.h) and this file's own */
struct config		*conf;
static int		 allow_testing;	/* mailhookd -X */

struct route		*cur_route;
uint32_t		 cur_route_n;	/* route blocks */
static struct pos	 cur_route_pos;
struct pos		 cur_route_timeout_pos;	/* file NULL: none */
struct events_block	*cur_events;
struct pos		 cur_events_pos;
/* in the events block: where kinds all, and a first other kind, were seen
 * (file NULL: not) */
struct pos		 kinds_all_pos, kinds_one_pos;
static char		 kinds_one[32];
int			 kinds_said;	/* all beside a kind said */
uint32_t		 cur_dlimit_n;	/* limit domain lines */
struct tracking		*cur_track;
static struct pos	 cur_track_pos;
int			 url_seen;	/* url option seen in a block */
struct pos		 auth_header_pos;	/* the block's */

static void	 auth_header_check(const char *, const char *);

void
route_begin(const struct pos *p, const struct pos *pp, int match,
    char *pattern)
{
	struct route	*r;
	char		*s, uq[MH_NAME_MAX], dom[MH_NAME_MAX];
	const char	*what;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->match = match;
	TAILQ_INIT(&r->headers);
	r->format = FORMAT_JSON;
	r->mode = MODE_SYNC;
	r->authorize_format = AUTHZ_FORM;
	r->authorize_timeout = ROUTE_AUTHZ_TIMEOUT;
	r->timeout = ROUTE_TIMEOUT;
	r->lifetime = ROUTE_LIFETIME;
	r->concurrency = ROUTE_CONCURRENCY;
	cur_route = r;
	cur_route_pos = *p;
	memset(&cur_route_timeout_pos, 0, sizeof(cur_route_timeout_pos));
	url_seen = 0;
	/* its settings' key while it is read; its id: config_route_ids */
	cur_route_n++;
	TAILQ_INSERT_TAIL(&conf->routes, r, entry);
	if (pattern == NULL)
		return;
	for (s = pattern; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
	what = match == ROUTE_ADDRESS ? "route address" : "route domain";
	if (match == ROUTE_ADDRESS) {
		/* the mailbox, as authd looks the recipient up */
		if (strlen(pattern) >= sizeof(uq)) {
			perr(pp, "%s too long (at most %zu bytes)", what,
			    sizeof(uq) - 1);
			goto done;
		}
		addr_unquote(uq, sizeof(uq), pattern);
		if ((s = strrchr(uq, '@')) == NULL || s == uq) {
			perr(pp, "route \"%s\" is not an address (use route "
			    "domain)", pattern);
			goto done;
		}
		if (parse_check_domain(pp, s + 1, what) == -1)
			goto done;
		/* the domain as authd names it: no trailing dot */
		(void)dns_domain_ascii(s + 1, dom, sizeof(dom));
		strlcpy(s + 1, dom, sizeof(uq) - (s + 1 - uq));
		parse_copystr(pp, r->pattern, sizeof(r->pattern), uq, what);
		goto done;
	} else if (strncmp(pattern, "*.", 2) == 0) {
		r->match = ROUTE_SUBDOMAINS;
		if (config_check_domain(pattern + 2) == -1) {
			perr(pp, "route domain \"%s\" is not \"*.\" and a "
			    "valid domain name", pattern);
			goto done;
		}
		memmove(pattern, pattern + 2, strlen(pattern + 2) + 1);
	} else if (parse_check_domain(pp, pattern, what) == -1)
		goto done;
	(void)dns_domain_ascii(pattern, dom, sizeof(dom));
	parse_copystr(pp, r->pattern, sizeof(r->pattern), dom, what);
 done:
	free(pattern);
}

/*
 * A setting of a block given twice is an error (which one was meant?),
 * not the last one silently winning.
 */
void
block_once(const struct pos *p, const char *block, uint32_t id,
    const char *what)
{
	char	 key[64];

	if (parse_brace_lost())
		return;		/* the next block's settings in this one */
	snprintf(key, sizeof(key), "%s %u %s", block, id, what);
	parse_def(p, "setting", key, what);
}

void
dlimit_once(const struct pos *p, const char *what)
{
	block_once(p, "limit domain", cur_dlimit_n, what);
}

void
route_once(const struct pos *p, const char *what)
{
	block_once(p, "route", cur_route_n, what);
}

void
events_once(const struct pos *p, const char *what)
{
	block_once(p, "events", cur_events->id, what);
}

/* a global setting that takes one value: the same, once in the file */
void
global_once(const struct pos *p, const char *what)
{
	block_once(p, "global", 0, what);
}

void
route_end(void)
{
	char		 what[MH_NAME_MAX + 32], key[MH_NAME_MAX + 16];

	auth_header_check(cur_route->url, "url");
	auth_header_check(cur_route->authorize, "authorize url");
	auth_header_check(cur_route->errors, "errors url");
	memset(&auth_header_pos, 0, sizeof(auth_header_pos));
	if (cur_route->url[0] == '\0' && !url_seen)
		perr(&cur_route_pos, "route without url");
	/* the POST's answer is the reply to the client's data, which it
	 * waits 10 minutes for (RFC 5321 4.5.3.2.6) */
	if (cur_route->mode == MODE_SYNC && cur_route->timeout >
	    SYNC_TIMEOUT_MAX && cur_route_timeout_pos.file != NULL)
		perr(&cur_route_timeout_pos, "timeout %s: in mode sync at most "
		    "%s, as the SMTP client waits 10 minutes for the reply to "
		    "its data; longer needs mode queue",
		    parse_fmt_time(cur_route->timeout, what, sizeof(what)),
		    parse_fmt_time(SYNC_TIMEOUT_MAX, key, sizeof(key)));
	if (cur_route->match == ROUTE_ANY)
		parse_def(&cur_route_pos, "route", "any", "route any");
	else {
		snprintf(what, sizeof(what), "route \"%s%s\"",
		    cur_route->match == ROUTE_SUBDOMAINS ? "*." : "",
		    cur_route->pattern);
		snprintf(key, sizeof(key), "%d %s", cur_route->match,
		    cur_route->pattern);
		parse_def(&cur_route_pos, "route", key, what);
	}
	cur_route = NULL;
}

/* require dkim|dmarc pass [quarantine]: only "pass" can be required */
void
route_require(const struct pos *p, int what, const char *result,
    int quarantine)
{
	if (strcmp(result, "pass") != 0) {
		perr(p, "unknown result \"%s\" (pass)", result);
		return;
	}
	cur_route->require |= what;
	if (quarantine)
		cur_route->require_quarantine = 1;
}

void
events_end(void)
{
	static const char *const fmt[] = { "events", "failures", "callback" };
	char		 pub[MH_URL_MAX], key[MH_URL_MAX + 16];
	char		 what[MH_URL_MAX + 64];

	auth_header_check(cur_events->url, "url");
	memset(&auth_header_pos, 0, sizeof(auth_header_pos));
	if (cur_events->url[0] == '\0' && !url_seen)
		perr(&cur_events_pos, "events without url");
	else if (cur_events->url[0] != '\0') {
		/* hookd makes one endpoint of them: the second block's
		 * secret, headers and timeouts would go unused */
		snprintf(key, sizeof(key), "%s %s", fmt[cur_events->format],
		    cur_events->url);
		config_url_public(cur_events->url, pub, sizeof(pub));
		snprintf(what, sizeof(what), "events block for url \"%s\" "
		    "format %s", pub, fmt[cur_events->format]);
		parse_def(&cur_events_pos, "events", key, what);
	}
	if (cur_events->kinds == 0)
		cur_events->kinds = EV_ALL;
	cur_events = NULL;
}

void
tracking_begin(const struct pos *p, const struct pos *dp, char *domain)
{
	struct tracking	*t;
	char		 what[MH_NAME_MAX + 32], name[MH_NAME_MAX];

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("calloc");
	t->opens = t->clicks = t->unsubscribe = 1;
	t->read = TRACKING_READ;
	parse_at(p, t->at, sizeof(t->at));
	if (parse_check_domain(dp, domain, "tracking domain") == 0) {
		/* as relayd names the From: domain: lowercased, no dot */
		(void)dns_domain_ascii(domain, name, sizeof(name));
		snprintf(what, sizeof(what), "tracking domain \"%s\"",
		    name);
		parse_def(dp, "tracking", name, what);
		parse_copystr(dp, t->domain, sizeof(t->domain), name,
		    "tracking domain");
	}
	TAILQ_INSERT_TAIL(&conf->trackings, t, entry);
	cur_track = t;
	cur_track_pos = *p;
	url_seen = 0;
}

void
tracking_end(void)
{
	if (cur_track->url[0] == '\0' && !url_seen)
		perr(&cur_track_pos, "tracking domain without url");
	cur_track = NULL;
}

void
tracking_yesno(const struct pos *p, const char *what, const char *v, int *dst)
{
	if (strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "no") == 0)
		*dst = 0;
	else
		perr(p, "%s wants yes or no, not \"%s\"", what, v);
}

int
kind_add(const struct pos *p, const char *name)
{
	char	 at[PATH_MAX + 32], what[48];
	int	 k;

	if (strcmp(name, "all") == 0 || event_kind_from_name(name) != -1) {
		/* "kinds delivery, delivery": which was meant? */
		snprintf(what, sizeof(what), "kind \"%s\"", name);
		events_once(p, what);
	}
	if (strcmp(name, "all") == 0) {
		cur_events->kinds = EV_ALL;
		if (kinds_all_pos.file == NULL)
			kinds_all_pos = *p;
	} else if ((k = event_kind_from_name(name)) == -1) {
		perr(p, "unknown event kind \"%s\"", name);
		return (-1);
	} else {
		cur_events->kinds |= 1U << k;
		if (kinds_one_pos.file == NULL) {
			kinds_one_pos = *p;
			strlcpy(kinds_one, name, sizeof(kinds_one));
		}
	}
	/* all beside a kind takes every kind, not the one named: said once */
	if (kinds_all_pos.file == NULL || kinds_one_pos.file == NULL ||
	    kinds_said)
		return (0);
	kinds_said = 1;
	if (strcmp(name, "all") == 0) {
		parse_at(&kinds_one_pos, at, sizeof(at));
		perr(p, "kind all beside kind %s (at %s): all takes every "
		    "kind; write all alone, or only the kinds wanted",
		    kinds_one, at);
	} else {
		parse_at(&kinds_all_pos, at, sizeof(at));
		perr(p, "kind %s beside kind all (at %s): all takes every "
		    "kind; write all alone, or only the kinds wanted",
		    name, at);
	}
	return (0);
}

/*
 * A header "Authorization" beside a user and password in a URL the block's
 * headers go to: libcurl sends the header alone, the URL's credentials
 * unused without a word.  Said once, at the header.
 */
static void
auth_header_check(const char *url, const char *what)
{
	const char	*a;

	if (auth_header_pos.file == NULL || url[0] == '\0')
		return;
	a = strstr(url, "://") != NULL ? strstr(url, "://") + 3 : url;
	if (memchr(a, '@', strcspn(a, "/?#")) == NULL)
		return;
	perr(&auth_header_pos, "header \"Authorization\" beside a user and "
	    "password in the %s: only one of them would be sent; give one",
	    what);
	memset(&auth_header_pos, 0, sizeof(auth_header_pos));
}

/*
 * A relay from network once, however written ("10.0.0.0/8" and
 * "10.000.0.0/8", "2001:db8::/32" and "2001:DB8:0::/32" are one).
 */
int
relay_from_once(const struct pos *p, const struct netaddr *n,
    const char *text)
{
	char		 addr[INET6_ADDRSTRLEN], key[INET6_ADDRSTRLEN + 8];
	char		 what[128];
	const void	*a;

	if (n->ss.ss_family == AF_INET)
		a = &((const struct sockaddr_in *)&n->ss)->sin_addr;
	else
		a = &((const struct sockaddr_in6 *)&n->ss)->sin6_addr;
	if (inet_ntop(n->ss.ss_family, a, addr, sizeof(addr)) == NULL)
		return (0);
	snprintf(key, sizeof(key), "%s/%d", addr, n->bits);
	snprintf(what, sizeof(what), "relay from \"%.80s\"", text);
	return (parse_def(p, "relay from", key, what));
}

/*
 * The postmaster's domain as a route's: lowercased, an A-label, no
 * trailing dot, which TLS-RPT's contact-info would carry otherwise.
 */
void
postmaster_set(const struct pos *p, const char *addr)
{
	char		 name[MH_NAME_MAX], buf[sizeof(conf->postmaster)];
	const char	*at;

	if ((at = strrchr(addr, '@')) == NULL ||
	    dns_domain_ascii(at + 1, name, sizeof(name)) == -1 ||
	    config_check_domain(name) == -1) {
		perr(p, "postmaster \"%s\": want an address (user@domain) "
		    "that a route takes", addr);
		return;
	}
	if ((size_t)snprintf(buf, sizeof(buf), "%.*s@%s", (int)(at - addr),
	    addr, name) >= sizeof(buf)) {
		perr(p, "postmaster too long (at most %zu bytes)",
		    sizeof(conf->postmaster) - 1);
		return;
	}
	parse_copystr(p, conf->postmaster, sizeof(conf->postmaster), buf,
	    "postmaster");
}

void
config_allow_testing(int on)
{
	allow_testing = on;
}

/*
 * testing relay-port N | relay-timeout SECONDS | mta-sts-port N |
 * tls-rpt-period SECONDS | hook-retry SECONDS | events-retry MS [MAX_MS] |
 * seccomp-debug: only with mailhookd -X, never in production.
 */
void
testing_set(const struct pos *kw, const struct pos *p, const char *what,
    int n, int64_t a, int64_t b)
{
	struct testing	*t = &conf->testing;

	if (!allow_testing) {
		perr(kw, "\"testing %s\" is only accepted by mailhookd -X",
		    what);
		return;
	}
	if (a == NUMERR || b == NUMERR)
		return;
	if (strcmp(what, "relay-port") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 65535,
		    "testing relay-port") == 0)
			t->relay_port = a;
	} else if (strcmp(what, "relay-timeout") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 3600,
		    "testing relay-timeout") == 0)
			t->relay_timeout = a;
	} else if (strcmp(what, "mta-sts-port") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 65535,
		    "testing mta-sts-port") == 0)
			t->mtasts_port = a;
	} else if (strcmp(what, "tls-rpt-period") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 86400,
		    "testing tls-rpt-period") == 0)
			t->tlsrpt_period = a;
	} else if (strcmp(what, "hook-retry") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 86400,
		    "testing hook-retry") == 0)
			t->hook_retry = a;
	} else if (strcmp(what, "events-retry") == 0 && n >= 1) {
		if (parse_check_range(p, a, 1, 86400000,
		    "testing events-retry") == 0 && (n == 1 ||
		    parse_check_range(p, b, a, 86400000,
		    "testing events-retry maximum") == 0)) {
			t->events_retry = a;
			t->events_retry_max = n == 2 ? b : 0;
		}
	} else if (strcmp(what, "seccomp-debug") == 0 && n == 0)
		t->seccomp_debug = 1;
	else
		perr(p, "expected testing relay-port PORT, relay-timeout "
		    "SECONDS, mta-sts-port PORT, tls-rpt-period SECONDS, "
		    "hook-retry SECONDS, "
		    "events-retry MS [MAX_MS] or seccomp-debug, not \"%s\" "
		    "with %d number%s", what, n, n == 1 ? "" : "s");
}

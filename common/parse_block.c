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

/* this file's own; the state it shares with the grammar: parse_state.h */
static int		 allow_testing;	/* mailhookd -X */
static struct pos	 cur_route_pos;
static char		 kinds_one[32];
static struct pos	 cur_track_pos;

static void	 auth_header_check(const char *, const char *);
static int	 parse_mailbox(const struct pos *, const char *, const char *,
		    char *, size_t, const char *);

void
parse_route_begin(const struct pos *p, const struct pos *pp, int match,
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
	ps.cur_route = r;
	cur_route_pos = *p;
	memset(&ps.cur_route_timeout_pos, 0, sizeof(ps.cur_route_timeout_pos));
	ps.url_seen = 0;
	/* its settings' key while it is read; its id: config_route_ids */
	ps.cur_route_n++;
	TAILQ_INSERT_TAIL(&ps.conf->routes, r, entry);
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
		/* the domain as authd names it: no trailing dot, A-labels */
		if (parse_domain(pp, s + 1, dom, sizeof(dom), what) == -1)
			goto done;
		if (strlcpy(s + 1, dom, sizeof(uq) - (s + 1 - uq)) >=
		    sizeof(uq) - (s + 1 - uq)) {
			perr(pp, "%s too long (at most %zu bytes)", what,
			    sizeof(uq) - 1);
			goto done;
		}
		if (parse_mailbox(pp, pattern, dom, NULL, 0, "route") == -1)
			goto done;
		parse_copystr(pp, r->pattern, sizeof(r->pattern), uq, what);
		goto done;
	} else if (strncmp(pattern, "*.", 2) == 0) {
		r->match = ROUTE_SUBDOMAINS;
		if (parse_domain_ascii(pattern + 2, dom, sizeof(dom)) == -1) {
			perr(pp, "route domain \"%s\" is not \"*.\" and a "
			    "valid domain name", pattern);
			goto done;
		}
	} else if (parse_domain(pp, pattern, dom, sizeof(dom), what) == -1)
		goto done;
	parse_copystr(pp, r->pattern, sizeof(r->pattern), dom, what);
 done:
	free(pattern);
}

/*
 * A setting of a block given twice is an error (which one was meant?),
 * not the last one silently winning.
 */
void
parse_block_once(const struct pos *p, const char *block, uint32_t id,
    const char *what)
{
	char	 key[64];

	if (parse_brace_lost())
		return;		/* the next block's settings in this one */
	snprintf(key, sizeof(key), "%s %u %s", block, id, what);
	parse_def(p, "setting", key, what);
}

void
parse_dlimit_once(const struct pos *p, const char *what)
{
	parse_block_once(p, "limit domain", ps.cur_dlimit_n, what);
}

void
parse_route_once(const struct pos *p, const char *what)
{
	parse_block_once(p, "route", ps.cur_route_n, what);
}

void
parse_events_once(const struct pos *p, const char *what)
{
	parse_block_once(p, "events", ps.cur_events->id, what);
}

void
parse_tracking_once(const struct pos *p, const char *what)
{
	parse_block_once(p, "tracking", ps.cur_track_n, what);
}

/* a global setting that takes one value: the same, once in the file */
void
parse_global_once(const struct pos *p, const char *what)
{
	parse_block_once(p, "global", 0, what);
}

void
parse_route_end(void)
{
	char		 what[MH_NAME_MAX + 32], key[MH_NAME_MAX + 16];

	auth_header_check(ps.cur_route->url, "url");
	auth_header_check(ps.cur_route->authorize, "authorize url");
	auth_header_check(ps.cur_route->errors, "errors url");
	memset(&ps.auth_header_pos, 0, sizeof(ps.auth_header_pos));
	if (ps.cur_route->url[0] == '\0' && !ps.url_seen)
		perr(&cur_route_pos, "route without url");
	/* the POST's answer is the reply to the client's data, which it
	 * waits 10 minutes for (RFC 5321 4.5.3.2.6) */
	if (ps.cur_route->mode == MODE_SYNC && ps.cur_route->timeout >
	    SYNC_TIMEOUT_MAX && ps.cur_route_timeout_pos.file != NULL)
		perr(&ps.cur_route_timeout_pos, "timeout %s: in mode sync at "
		    "most %s, as the SMTP client waits 10 minutes for the "
		    "reply to its data; longer needs mode queue",
		    parse_fmt_time(ps.cur_route->timeout, what, sizeof(what)),
		    parse_fmt_time(SYNC_TIMEOUT_MAX, key, sizeof(key)));
	if (ps.cur_route->match == ROUTE_ANY)
		parse_def(&cur_route_pos, "route", "any", "route any");
	else if (ps.cur_route->pattern[0] != '\0') {
		/* (a pattern refused, said, is no other route's duplicate) */
		snprintf(what, sizeof(what), "route \"%s%s\"",
		    ps.cur_route->match == ROUTE_SUBDOMAINS ? "*." : "",
		    ps.cur_route->pattern);
		snprintf(key, sizeof(key), "%d %s", ps.cur_route->match,
		    ps.cur_route->pattern);
		parse_def(&cur_route_pos, "route", key, what);
	}
	ps.cur_route = NULL;
}

/* require dkim|dmarc pass [quarantine]: only "pass" can be required */
void
parse_route_require(const struct pos *p, int what, const char *result,
    int quarantine)
{
	if (strcmp(result, "pass") != 0) {
		perr(p, "unknown result \"%s\" (pass)", result);
		return;
	}
	ps.cur_route->require |= what;
	if (quarantine)
		ps.cur_route->require_quarantine = 1;
}

void
parse_events_end(void)
{
	static const char *const fmt[] = { "events", "failures", "callback" };
	char		 pub[MH_URL_MAX], key[MH_URL_MAX + 16];
	char		 what[MH_URL_MAX + 64];

	auth_header_check(ps.cur_events->url, "url");
	memset(&ps.auth_header_pos, 0, sizeof(ps.auth_header_pos));
	if (ps.cur_events->url[0] == '\0' && !ps.url_seen)
		perr(&ps.cur_events_pos, "events without url");
	else if (ps.cur_events->url[0] != '\0') {
		/* hookd makes one endpoint of them: the second block's
		 * secret, headers and timeouts would go unused */
		snprintf(key, sizeof(key), "%s %s", fmt[ps.cur_events->format],
		    ps.cur_events->url);
		config_url_public(ps.cur_events->url, pub, sizeof(pub));
		snprintf(what, sizeof(what), "events block for url \"%s\" "
		    "format %s", pub, fmt[ps.cur_events->format]);
		parse_def(&ps.cur_events_pos, "events", key, what);
		/* the URL's password: not left on the stack */
		explicit_bzero(key, sizeof(key));
	}
	if (ps.cur_events->kinds == 0)
		ps.cur_events->kinds = EV_ALL;
	ps.cur_events = NULL;
}

void
parse_tracking_begin(const struct pos *p, const struct pos *dp, char *domain)
{
	struct tracking	*t;
	char		 what[MH_NAME_MAX + 32], name[MH_NAME_MAX];

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("calloc");
	t->opens = t->clicks = t->unsubscribe = 1;
	t->read = TRACKING_READ;
	parse_at(p, t->at, sizeof(t->at));
	/* as relayd names the From: domain: lowercased, no dot, A-labels */
	if (parse_domain(dp, domain, name, sizeof(name),
	    "tracking domain") == 0) {
		snprintf(what, sizeof(what), "tracking domain \"%s\"",
		    name);
		parse_def(dp, "tracking", name, what);
		parse_copystr(dp, t->domain, sizeof(t->domain), name,
		    "tracking domain");
	}
	TAILQ_INSERT_TAIL(&ps.conf->trackings, t, entry);
	ps.cur_track = t;
	ps.cur_track_n++;
	cur_track_pos = *p;
	ps.url_seen = 0;
}

void
parse_tracking_end(void)
{
	if (ps.cur_track->url[0] == '\0' && !ps.url_seen)
		perr(&cur_track_pos, "tracking domain without url");
	ps.cur_track = NULL;
}

void
parse_tracking_yesno(const struct pos *p, const char *what, const char *v,
    int *dst)
{
	if (strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "no") == 0)
		*dst = 0;
	else
		perr(p, "%s wants yes or no, not \"%s\"", what, v);
}

int
parse_kind_add(const struct pos *p, const char *name)
{
	char	 at[PATH_MAX + 32], what[48];
	int	 k;

	if (strcmp(name, "all") == 0 || event_kind_from_name(name) != -1) {
		/* "kinds delivery, delivery": which was meant? */
		snprintf(what, sizeof(what), "kind \"%s\"", name);
		parse_events_once(p, what);
	}
	if (strcmp(name, "all") == 0) {
		ps.cur_events->kinds = EV_ALL;
		if (ps.kinds_all_pos.file == NULL)
			ps.kinds_all_pos = *p;
	} else if ((k = event_kind_from_name(name)) == -1) {
		perr(p, "unknown event kind \"%s\"", name);
		return (-1);
	} else {
		ps.cur_events->kinds |= 1U << k;
		if (ps.kinds_one_pos.file == NULL) {
			ps.kinds_one_pos = *p;
			strlcpy(kinds_one, name, sizeof(kinds_one));
		}
	}
	/* all beside a kind takes every kind, not the one named: said once */
	if (ps.kinds_all_pos.file == NULL || ps.kinds_one_pos.file == NULL ||
	    ps.kinds_said)
		return (0);
	ps.kinds_said = 1;
	if (strcmp(name, "all") == 0) {
		parse_at(&ps.kinds_one_pos, at, sizeof(at));
		perr(p, "kind all beside kind %s (at %s): all takes every "
		    "kind; write all alone, or only the kinds wanted",
		    kinds_one, at);
	} else {
		parse_at(&ps.kinds_all_pos, at, sizeof(at));
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

	if (ps.auth_header_pos.file == NULL || url[0] == '\0')
		return;
	a = strstr(url, "://") != NULL ? strstr(url, "://") + 3 : url;
	if (memchr(a, '@', strcspn(a, "/?#")) == NULL)
		return;
	perr(&ps.auth_header_pos, "header \"Authorization\" beside a user and "
	    "password in the %s: only one of them would be sent; give one",
	    what);
	memset(&ps.auth_header_pos, 0, sizeof(ps.auth_header_pos));
}

/*
 * A relay from network once, however written ("10.0.0.0/8" and
 * "10.000.0.0/8", "2001:db8::/32" and "2001:DB8:0::/32" are one).
 */
int
parse_relay_from_once(const struct pos *p, const struct netaddr *n,
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
 * addr, a route's or the postmaster's, with dom for its domain (as authd
 * names it), into out (if not NULL; MH_NAME_MAX bytes) in its canonical
 * form (addr_canon: "a b"@d for a b@d, as TLS-RPT's contact-info must
 * carry it).  authd finds a route by the recipient unquoted, so a local
 * part written without the quotes it needs (a b@d, a..b@d) is reached
 * by the quoted spelling; the canonical form, the shortest spelling, is
 * what smtpd must take (smtp_addr_valid), or no RCPT can reach it.  -1
 * (said at p, with why) if it is not.
 */
static int
parse_mailbox(const struct pos *p, const char *addr, const char *dom,
    char *out, size_t len, const char *what)
{
	char		 mb[MH_NAME_MAX], canon[MH_NAME_MAX];
	const char	*at = strrchr(addr, '@'), *why;
	int		 e;

	if (at == NULL || (size_t)snprintf(mb, sizeof(mb), "%.*s@%s",
	    (int)(at - addr), addr, dom) >= sizeof(mb) ||
	    addr_canon(canon, sizeof(canon), mb) == -1)
		e = ADDR_LENGTH;
	else
		e = smtp_addr_valid(canon, 1);
	switch (e) {
	case ADDR_OK:
		if (out != NULL)
			strlcpy(out, canon, len);
		return (0);
	case ADDR_RELAY:
		why = "smtpd refuses a recipient with '%' or '!' in its "
		    "local part, quoted or not";
		break;
	case ADDR_LENGTH:
		why = "its local part (quoted where it needs it) is over 64 "
		    "bytes or the address over 254";
		break;
	default:
		why = "it is no mailbox smtpd takes as a recipient, however "
		    "quoted (RFC 5321 4.1.2)";
		break;
	}
	perr(p, "%s \"%s\": no mail can reach it: %s", what, addr, why);
	return (-1);
}

/*
 * The postmaster's domain as a route's: lowercased, an A-label, no
 * trailing dot, which TLS-RPT's contact-info would carry otherwise; its
 * local part quoted where it needs it (parse_mailbox), as an address in
 * that contact-info must be.
 */
void
parse_postmaster_set(const struct pos *p, const char *addr)
{
	char		 name[MH_NAME_MAX], buf[sizeof(ps.conf->postmaster)];
	const char	*at;

	if ((at = strrchr(addr, '@')) == NULL ||
	    parse_domain_ascii(at + 1, name, sizeof(name)) == -1) {
		perr(p, "postmaster \"%s\": want an address (user@domain) "
		    "that a route takes", addr);
		return;
	}
	if (parse_mailbox(p, addr, name, buf, sizeof(buf), "postmaster") == -1)
		return;
	parse_copystr(p, ps.conf->postmaster, sizeof(ps.conf->postmaster), buf,
	    "postmaster");
}

void
config_allow_testing(int on)
{
	allow_testing = on;
}

/*
 * testing relay-port N | relay-timeout SECONDS | mta-sts-port N |
 * tls-rpt-period SECONDS | idem-sweep SECONDS | hook-retry SECONDS |
 * events-retry MS [MAX_MS] | dsn-pause SECONDS |
 * seccomp-debug: only with mailhookd -X, never in production.
 */
void
parse_testing_set(const struct pos *kw, const struct pos *p, const char *what,
    int n, int64_t a, int64_t b)
{
	struct testing	*t = &ps.conf->testing;

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
	} else if (strcmp(what, "idem-sweep") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 86400,
		    "testing idem-sweep") == 0)
			t->idem_sweep = a;
	} else if (strcmp(what, "dsn-pause") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 300,
		    "testing dsn-pause") == 0)
			t->dsn_pause = a;
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
		    "hook-retry SECONDS, dsn-pause SECONDS, "
		    "events-retry MS [MAX_MS] or seccomp-debug, not \"%s\" "
		    "with %d number%s", what, n, n == 1 ? "" : "s");
}

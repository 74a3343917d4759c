/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Value checks and macros for the configuration parser (parse.y).
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <tls.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "parse.h"
#include "sanitize.h"

struct macro {
	TAILQ_ENTRY(macro)	 entry;
	char			*name;
	char			*value;
};
TAILQ_HEAD(macrolist, macro);

static struct macrolist	 macros = TAILQ_HEAD_INITIALIZER(macros);

/*
 * Text read from the configuration may be a secret (a webhook secret, a
 * password in a URL, a header value, a macro holding either): every
 * string the parser frees is wiped first, as the parent reads the file
 * again at each reload and its heap is reused.
 */
void
parse_strfree(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int
parse_macro_set(const char *name, const char *value)
{
	struct macro	*m;
	const char	*s;

	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return (-1);
	for (s = name; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return (-1);
	TAILQ_FOREACH(m, &macros, entry) {
		if (strcmp(m->name, name) == 0) {
			parse_strfree(m->value);
			if ((m->value = strdup(value)) == NULL)
				fatal("strdup");
			return (0);
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(name)) == NULL ||
	    (m->value = strdup(value)) == NULL)
		fatal("calloc");
	TAILQ_INSERT_TAIL(&macros, m, entry);
	return (0);
}

const char *
parse_macro_get(const char *name)
{
	struct macro	*m;

	TAILQ_FOREACH(m, &macros, entry)
		if (strcmp(m->name, name) == 0)
			return (m->value);
	return (NULL);
}

/*
 * A macro whose value was refused (said so: not valid UTF-8, too long):
 * defined, with no value, so that a use of it is not said again as "not
 * defined".
 */
void
parse_macro_refuse(const char *name)
{
	struct macro	*m;

	if (parse_macro_set(name, "") == -1)
		return;
	TAILQ_FOREACH(m, &macros, entry)
		if (strcmp(m->name, name) == 0) {
			parse_strfree(m->value);
			m->value = NULL;
		}
}

int
parse_macro_refused(const char *name)
{
	struct macro	*m;

	TAILQ_FOREACH(m, &macros, entry)
		if (strcmp(m->name, name) == 0)
			return (m->value == NULL);
	return (0);
}

void
parse_macros_clear(void)
{
	struct macro	*m;

	while ((m = TAILQ_FIRST(&macros)) != NULL) {
		TAILQ_REMOVE(&macros, m, entry);
		free(m->name);
		parse_strfree(m->value);
		free(m);
	}
}

int
parse_copystr(const struct pos *p, char *dst, size_t len, const char *src,
    const char *what)
{
	if (strlcpy(dst, src, len) >= len) {
		parse_error(p, "%s too long (at most %zu bytes)", what,
		    len - 1);
		dst[0] = '\0';
		return (-1);
	}
	return (0);
}

/*
 * A file the parent reads at start and at each reload: an absolute path,
 * the parent's directory being / once it started (parent_main).
 */
int
parse_copypath(const struct pos *p, char *dst, size_t len, const char *src,
    const char *what)
{
	if (src[0] != '/') {
		parse_error(p, "%s \"%s\" is not an absolute path", what, src);
		dst[0] = '\0';
		return (-1);
	}
	return (parse_copystr(p, dst, len, src, what));
}

/*
 * A copy of url whose password has its letters and digits as 'x', its
 * punctuation kept (what a URL parser judges): libcurl frees what it
 * parsed unwiped.  Only a password before the one '@' of the authority.
 */
static char *
url_mask_password(const char *url)
{
	char	*copy, *a, *end, *at, *c;

	if ((copy = strdup(url)) == NULL)
		fatal("strdup");
	if ((a = strstr(copy, "://")) == NULL)
		return (copy);
	a += 3;
	end = a + strcspn(a, "/?#");
	if ((at = memchr(a, '@', end - a)) == NULL ||
	    memchr(at + 1, '@', end - at - 1) != NULL ||
	    (c = memchr(a, ':', at - a)) == NULL)
		return (copy);
	for (c++; c < at; c++)
		if (isalnum((unsigned char)*c))
			*c = 'x';
	return (copy);
}

/*
 * What the HTTP client (call_seturl) would refuse at every POST: a URL
 * libcurl does not parse, a port outside 1-65535 ("https://h:99999/",
 * "https://h:0/"); NULL if none.
 */
const char *
parse_url_port_check(const char *url)
{
	CURLU		*u;
	CURLUcode	 rc;
	char		*port = NULL, *masked;
	const char	*why = NULL, *errstr;

	if ((u = curl_url()) == NULL)
		fatal("curl_url");
	masked = url_mask_password(url);
	if ((rc = curl_url_set(u, CURLUPART_URL, masked, 0)) ==
	    CURLUE_BAD_PORT_NUMBER)
		why = "has a bad port (1-65535)";
	else if (rc != CURLUE_OK)
		why = "is not a URL the HTTP client takes";
	else if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK || (strtonum(port, 1, 65535, &errstr), errstr != NULL))
		why = "has a bad port (1-65535)";
	curl_free(port);
	curl_url_cleanup(u);
	parse_strfree(masked);
	return (why);
}

int
parse_check_url(const struct pos *p, const char *url, const char *what)
{
	const char	*why;
	char		 pub[MH_URL_MAX];

	if ((why = config_check_url(url)) != NULL ||
	    (why = parse_url_port_check(url)) != NULL) {
		/* shown as every URL is logged: no password, no query value */
		config_url_public(url, pub, sizeof(pub));
		parse_error(p, "%s \"%s\" %s", what, pub, why);
		return (-1);
	}
	return (0);
}

int
parse_check_secret(const struct pos *p, const char *s)
{
	const char	*why;

	if ((why = config_check_secret(s)) != NULL) {
		parse_error(p, "%s", why);
		return (-1);
	}
	return (0);
}

int
parse_check_domain(const struct pos *p, const char *d, const char *what)
{
	if (config_check_domain(d) == -1) {
		parse_error(p, "%s \"%s\" is not a valid domain name", what, d);
		return (-1);
	}
	return (0);
}

/*
 * A domain as the processes compare theirs (dns_domain_ascii): lowercased,
 * without a trailing dot, a U-label as its A-label, into out; -1 if it is
 * not a valid domain name.  Only one trailing dot goes: "example.com.."
 * was stored as "example.com.", which no domain compared ever is.
 */
int
parse_domain_ascii(const char *d, char *out, size_t len)
{
	size_t	 n;

	if (dns_domain_ascii(d, out, len) == -1 || (n = strlen(out)) == 0 ||
	    out[n - 1] == '.' || config_check_domain(out) == -1) {
		if (len > 0)
			out[0] = '\0';
		return (-1);
	}
	return (0);
}

/* parse_domain_ascii, said (as written) at p if not a domain name */
int
parse_domain(const struct pos *p, const char *d, char *out, size_t len,
    const char *what)
{
	if (parse_domain_ascii(d, out, len) == -1) {
		parse_error(p, "%s \"%s\" is not a valid domain name", what, d);
		out[0] = '\0';
		return (-1);
	}
	return (0);
}

int
parse_check_range(const struct pos *p, int64_t v, int64_t min, int64_t max,
    const char *what)
{
	if (v == NUMERR)
		return (-1);
	if (v < min || v > max) {
		parse_error(p, "%s %lld out of range (%lld-%lld)", what,
		    (long long)v, (long long)min, (long long)max);
		return (-1);
	}
	return (0);
}

/*
 * A header once in a block, its name in any case: "X-Foo" and "x-foo" are
 * one field, and both were sent, the endpoint taking one or the other.
 */
static int
header_once(const struct pos *p, const struct headerlist *list,
    const char *name)
{
	char	 key[MH_NAME_MAX + 32], what[MH_NAME_MAX + 16];
	size_t	 i, n;

	if (parse_brace_lost())
		return (0);	/* the next block's headers in this one */
	n = snprintf(key, sizeof(key), "%p ", (const void *)list);
	for (i = 0; name[i] != '\0' && n + 1 < sizeof(key); i++)
		key[n++] = tolower((unsigned char)name[i]);
	key[n] = '\0';
	snprintf(what, sizeof(what), "header \"%s\"", name);
	return (parse_def(p, "header", key, what));
}

int
parse_header_add(const struct pos *p, struct headerlist *list, char *name,
    char *value)
{
	struct header	*h;
	const char	*why;

	if ((why = config_check_header(name, value)) != NULL) {
		parse_error(p, "%s \"%s\"", why, name);
		parse_strfree(name);
		parse_strfree(value);
		return (-1);
	}
	if (header_once(p, list, name) == -1) {
		parse_strfree(name);
		parse_strfree(value);
		return (-1);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("calloc");
	h->name = name;
	h->value = value;
	TAILQ_INSERT_TAIL(list, h, entry);
	return (0);
}

int
parse_rate_unit(const struct pos *p, const char *s)
{
	if (strcmp(s, "second") == 0)
		return (RATE_SECOND);
	if (strcmp(s, "minute") == 0)
		return (RATE_MINUTE);
	if (strcmp(s, "hour") == 0)
		return (RATE_HOUR);
	if (strcmp(s, "day") == 0)
		return (RATE_DAY);
	parse_error(p, "rate per \"%s\": use second, minute, hour or day", s);
	return (-1);
}

/* relay via mx | relay via "smtp[s]://[user:pass@]host[:port]" */
void
parse_relay_via(struct config *conf, const struct pos *p, const char *s)
{
	const char	*why;
	char		 pub[MH_URL_MAX];

	/* not mx silently: a macro or template left empty */
	if (s[0] == '\0')
		parse_error(p, "relay via \"\" is empty: want mx, smtp:// or "
		    "smtps:// URL");
	/* the error names the URL without its password */
	else if ((why = config_check_relay_via(s)) != NULL) {
		config_url_public(s, pub, sizeof(pub));
		parse_error(p, "relay via \"%s\": %s", pub, why);
	}
	else if (strcmp(s, "mx") == 0)
		conf->relay_via[0] = '\0';
	else
		parse_copystr(p, conf->relay_via, sizeof(conf->relay_via), s,
		    "relay via");
}

/* relay via "smtp://host" auth "FILE": the smart host's credentials */
void
parse_relay_auth(struct config *conf, const struct pos *p, const char *s)
{
	struct relay_via	 v;
	int			 login = 0;

	/* which login would be meant?  The file's would silently win */
	if (conf->relay_via[0] != '\0' &&
	    config_relay_via_parse(conf->relay_via, &v) == NULL) {
		login = v.user[0] != '\0';
		explicit_bzero(&v, sizeof(v));
	}
	if (conf->relay_via[0] == '\0')
		parse_error(p, "auth needs a smart host (relay via \"smtp://"
		    "...\" or \"smtps://...\"), not mx");
	else if (login)
		parse_error(p, "auth and a user:password in the smart host's "
		    "URL: give the login once");
	else if (s[0] != '/')
		parse_error(p, "auth \"%s\" is not an absolute path", s);
	else if (parse_copystr(p, conf->relay_auth, sizeof(conf->relay_auth),
	    s, "auth") == 0)
		parse_at(p, conf->relay_auth_at, sizeof(conf->relay_auth_at));
}

/* cluster { redis "URL" }: an address, not a name (see config.h) */
void
parse_cluster_redis(struct config *conf, const struct pos *p, const char *s)
{
	const char	*why;
	char		 pub[MH_URL_MAX];

	if ((why = config_check_redis(s, &conf->cluster)) != NULL) {
		/* the error reaches the log and mhctl: not the password */
		config_url_public(s, pub, sizeof(pub));
		parse_error(p, "redis \"%s\": %s", pub, why);
		explicit_bzero(conf->cluster.password,
		    sizeof(conf->cluster.password));
		/* named, if badly: no second error at the block's end */
		strlcpy(conf->cluster.redis, "-", sizeof(conf->cluster.redis));
	}
}

/* the end of a cluster block: it names its Redis (node: the hostname) */
void
parse_cluster_end(struct config *conf, const struct pos *p)
{
	if (conf->cluster.redis[0] == '\0')
		parse_error(p, "cluster block without redis \"redis://...\"");
}

/* tls ciphers "STRING": one the TLS library takes */
void
parse_tls_ciphers(struct config *conf, const struct pos *p, const char *s)
{
	struct tls_config	*cfg;
	int			 ok;

	if ((cfg = tls_config_new()) == NULL) {
		parse_error(p, "tls ciphers: out of memory");
		return;
	}
	ok = tls_config_set_ciphers(cfg, s) == 0;
	tls_config_free(cfg);
	if (!ok)
		parse_error(p, "tls ciphers \"%s\": not a cipher list the TLS "
		    "library takes (e.g. \"%s\")", s, MH_TLS_CIPHERS);
	else
		parse_copystr(p, conf->tls_ciphers, sizeof(conf->tls_ciphers),
		    s, "tls ciphers");
}

/*
 * Every string ends up in JSON, which must be UTF-8.  Checked in place:
 * a copy (json_string) was freed unwiped, a secret in it.
 */
int
parse_utf8_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), k;

	for (; n > 0; p += k, n -= k)
		if ((k = utf8_seq(p, n)) == 0)
			return (0);
	return (1);
}

/* a duration in seconds as the configuration writes it: 90d, 1h, 5m, 30s */
const char *
parse_fmt_time(int64_t secs, char *buf, size_t len)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(buf, len, "%lldd", (long long)(secs / 86400));
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else if (secs != 0 && secs % 60 == 0)
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	else
		snprintf(buf, len, "%llds", (long long)secs);
	return (buf);
}

/* the same for milliseconds: 1500ms, or in seconds when whole */
const char *
parse_fmt_ms(int64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		return (parse_fmt_time(ms / 1000, buf, len));
	snprintf(buf, len, "%lldms", (long long)ms);
	return (buf);
}

/* parse_check_range for a number as written: "99999999999999999999" */
int
parse_check_number(const struct pos *p, const struct numval *nv,
    int64_t min, int64_t max, const char *what)
{
	if (nv->n == NUMERR)
		return (-1);
	if (nv->n < min || nv->n > max) {
		parse_error(p, "%s %s out of range (%lld-%lld)", what, nv->raw,
		    (long long)min, (long long)max);
		return (-1);
	}
	return (0);
}

/* a size in bytes as the configuration writes it: 25M, 1K, else bytes */
static const char *
fmt_size(int64_t v, char *buf, size_t len)
{
	if (v != 0 && v % (1024 * 1024 * 1024) == 0)
		snprintf(buf, len, "%lldG", (long long)(v / (1024 * 1024 *
		    1024)));
	else if (v != 0 && v % (1024 * 1024) == 0)
		snprintf(buf, len, "%lldM", (long long)(v / (1024 * 1024)));
	else if (v != 0 && v % 1024 == 0)
		snprintf(buf, len, "%lldK", (long long)(v / 1024));
	else
		snprintf(buf, len, "%lld bytes", (long long)v);
	return (buf);
}

/*
 * A bound of a range in the unit the value was written in (m base units
 * each); a maximum that unit cannot say is the largest below it, the exact
 * one after it ("at most 1G (2147483647 bytes)"); else the exact one
 * alone ("at least 1K" for 0M).
 */
static const char *
fmt_bound(int64_t b, int64_t min, int64_t max, int64_t m, const char *unit,
    const char *exact, char *buf, size_t len)
{
	char	 n[32];
	int64_t	 q = b / m;

	snprintf(n, sizeof(n), "%lld", (long long)q);
	if (q * m < min || q * m > max || (q == 0 && b != 0))
		snprintf(buf, len, "%s", exact);
	else if (q * m == b && (*unit != '\0' ||
	    (strncmp(exact, n, strlen(n)) == 0 &&
	    (exact[strlen(n)] == '\0' || exact[strlen(n)] == ' '))))
		snprintf(buf, len, "%s%s", n, unit);
	else	/* 2097151K (2147483647 bytes), 7776000 (90d), 1 (1s) */
		snprintf(buf, len, "%s%s (%s)", n, unit, exact);
	return (buf);
}

/*
 * A value out of its range, said as written ("100G", "99999999d") with
 * the bound it passed in the same unit; 1 if it was out.
 */
static int
check_written(const struct pos *p, const struct numval *nv, int64_t min,
    int64_t max, const char *what, int64_t m, const char *const words[2],
    const char *emin, const char *emax)
{
	char	 b[64];

	if (nv->n == NUMERR)
		return (1);
	if (nv->n >= min && nv->n <= max)
		return (0);
	if (m <= 0)
		m = 1;
	if (nv->n < min)
		parse_error(p, "%s %s is %s: at least %s", what, nv->raw,
		    words[0], fmt_bound(min, min, max, m, nv->unit, emin, b,
		    sizeof(b)));
	else
		parse_error(p, "%s %s is %s: at most %s", what, nv->raw,
		    words[1], fmt_bound(max, min, max, m, nv->unit, emax, b,
		    sizeof(b)));
	return (1);
}

int64_t
parse_size_unit(const char *unit)
{
	if (unit[0] == '\0')
		return (1);
	if (strcasecmp(unit, "K") == 0)
		return (1024);
	if (strcasecmp(unit, "M") == 0)
		return (1024 * 1024);
	if (strcasecmp(unit, "G") == 0)
		return (1024 * 1024 * 1024);
	return (0);
}

int64_t
parse_time_unit(const char *unit)
{
	if (strcmp(unit, "ms") == 0)
		return (1);
	if (unit[0] == '\0' || strcmp(unit, "s") == 0)
		return (1000);
	if (strcmp(unit, "m") == 0)
		return (60 * 1000);
	if (strcmp(unit, "h") == 0)
		return (3600 * 1000);
	if (strcmp(unit, "d") == 0)
		return (86400 * 1000);
	return (0);
}

/* a duration of unit_ms milliseconds a unit: its unit's, as written */
static int
check_duration(const struct pos *p, const struct numval *nv, int64_t min,
    int64_t max, const char *what, int64_t unit_ms)
{
	static const char *const words[2] = { "too short", "too long" };
	char		 emin[32], emax[32];
	int64_t		 m;

	if ((m = parse_time_unit(nv->unit)) == 0)
		m = 1000;
	parse_fmt_ms(min * unit_ms, emin, sizeof(emin));
	parse_fmt_ms(max * unit_ms, emax, sizeof(emax));
	return (check_written(p, nv, min, max, what, m / unit_ms, words, emin,
	    emax) ? -1 : 0);
}

/* like parse_check_range for a time in seconds, the bounds as durations */
int
parse_check_time(const struct pos *p, const struct numval *nv, int64_t min,
    int64_t max, const char *what)
{
	return (check_duration(p, nv, min, max, what, 1000));
}

/* the same for a time in milliseconds */
int
parse_check_mstime(const struct pos *p, const struct numval *nv,
    int64_t min, int64_t max, const char *what)
{
	return (check_duration(p, nv, min, max, what, 1));
}

/* the same for a size in bytes, written with K, M or G or without */
int
parse_check_size(const struct pos *p, const struct numval *nv, int64_t min,
    int64_t max, const char *what)
{
	static const char *const words[2] = { "too small", "too large" };
	char		 emin[32], emax[32];
	int64_t		 m;

	if ((m = parse_size_unit(nv->unit)) == 0)
		m = 1;
	fmt_size(min, emin, sizeof(emin));
	fmt_size(max, emax, sizeof(emax));
	return (check_written(p, nv, min, max, what, m, words, emin, emax) ?
	    -1 : 0);
}

/* optimal string alignment distance (a transposition costs 1), capped */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 d[3][PARSE_WORD_MAX + 1], la = strlen(a), lb = strlen(b);
	size_t	 i, j, c, v;

	if (la > PARSE_WORD_MAX || lb > PARSE_WORD_MAX)
		return (SIZE_MAX);
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		size_t *cur = d[i % 3], *prev = d[(i - 1) % 3],
		    *prev2 = d[(i + 1) % 3];

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] != b[j - 1];
			v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + c < v)
				v = prev[j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return (d[la % 3][lb]);
}

/*
 * The word of the list nearest to a misspelt one, or NULL if none is
 * near enough: at most 1 edit for short words, 2 from 6 letters on.
 */
const char *
parse_nearest(const char *word, const char *const *list, size_t n)
{
	const char	*best = NULL;
	size_t		 i, d, bestd = SIZE_MAX, max;

	max = strlen(word) >= 6 ? 2 : 1;
	for (i = 0; i < n; i++) {
		if ((d = edit_distance(word, list[i])) < bestd) {
			bestd = d;
			best = list[i];
		}
	}
	return (bestd <= max ? best : NULL);
}

/*
 * The options of each block, for "not valid here" errors: what the block
 * takes and where a word that is not one of them belongs instead.  The
 * grammar in parse.y is the truth; regress/common/test_config_errors
 * checks that each option listed here is accepted in its block.
 */
static const char *const route_opts[] = { "url", "format", "mode",
    "authorize", "errors", "header", "secret", "timeout", "lifetime",
    "concurrency", "require", "verdicts", "fallback" };
static const char *const events_opts[] = { "url", "format", "kinds",
    "secret", "header", "timeout", "batch", "wait", "lifetime" };
static const char *const tracking_opts[] = { "url", "secret", "opens",
    "clicks", "read", "unsubscribe" };
static const char *const cluster_opts[] = { "redis", "node",
    "auth" };
#define NOPTS(a)	(sizeof(a) / sizeof(a[0]))
static const struct {
	const char		*block;
	const char *const	*opts;
	size_t			 n;
} blocks[] = {
	{ "route", route_opts, NOPTS(route_opts) },
	{ "events", events_opts, NOPTS(events_opts) },
	{ "tracking", tracking_opts, NOPTS(tracking_opts) },
	{ "cluster", cluster_opts, NOPTS(cluster_opts) }
};

static int
block_find(const char *block)
{
	size_t	 i;

	for (i = 0; i < NOPTS(blocks); i++)
		if (strcmp(blocks[i].block, block) == 0)
			return (i);
	return (-1);
}

/* "url, format, ..." for a block, "" if unknown */
const char *
parse_block_options(const char *block, char *buf, size_t len)
{
	size_t	 j;
	int	 b;

	buf[0] = '\0';
	if ((b = block_find(block)) == -1)
		return (buf);
	for (j = 0; j < blocks[b].n; j++) {
		if (j > 0)
			strlcat(buf, ", ", len);
		strlcat(buf, blocks[b].opts[j], len);
	}
	return (buf);
}

/* whether the block takes the option */
int
parse_block_has(const char *block, const char *word)
{
	size_t	 j;
	int	 b;

	if ((b = block_find(block)) == -1)
		return (0);
	for (j = 0; j < blocks[b].n; j++)
		if (strcmp(blocks[b].opts[j], word) == 0)
			return (1);
	return (0);
}

/* the block, other than this one, that takes the option; NULL if none */
const char *
parse_block_of(const char *word, const char *notthis)
{
	size_t	 i;

	for (i = 0; i < NOPTS(blocks); i++)
		if (strcmp(blocks[i].block, notthis) != 0 &&
		    parse_block_has(blocks[i].block, word))
			return (blocks[i].block);
	return (NULL);
}

/* "a route, events or tracking block": the blocks that take word; "" */
const char *
parse_blocks_of(const char *word, char *buf, size_t len)
{
	size_t	 i, n = 0, k = 0;

	buf[0] = '\0';
	for (i = 0; i < NOPTS(blocks); i++)
		if (parse_block_has(blocks[i].block, word))
			n++;
	for (i = 0; i < NOPTS(blocks); i++) {
		if (!parse_block_has(blocks[i].block, word))
			continue;
		if (k == 0)
			strlcat(buf, strchr("aeiou", blocks[i].block[0]) !=
			    NULL ? "an " : "a ", len);
		else
			strlcat(buf, k + 1 == n ? " or " : ", ", len);
		strlcat(buf, blocks[i].block, len);
		k++;
	}
	if (n > 0)
		strlcat(buf, " block", len);
	return (buf);
}

/* the option of the block nearest to a misspelt word, or NULL */
const char *
parse_nearest_option(const char *word, const char *block)
{
	int	 b;

	if ((b = block_find(block)) == -1)
		return (NULL);
	return (parse_nearest(word, blocks[b].opts, blocks[b].n));
}

/* what was defined where, while a file is parsed: for "duplicate" errors */
struct def {
	SLIST_ENTRY(def)	 entry;
	struct pos		 pos;
	char			 key[];
};
#define DEF_BUCKETS	4096	/* a config of many routes stays linear */
static SLIST_HEAD(, def)	 defs[DEF_BUCKETS];

static unsigned int
def_hash(const char *s)
{
	unsigned int	 h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h % DEF_BUCKETS);
}

/* a key may hold a URL with a password (an events block's): wiped */
static void
def_free(struct def *d)
{
	explicit_bzero(d->key, strlen(d->key));
	free(d);
}

/*
 * Record that KIND KEY (such as "listener", "127.0.0.1 25") is defined at
 * p; if it was already, report a duplicate citing the first definition
 * and return -1.  WHAT names it in the message.
 */
int
parse_def(const struct pos *p, const char *kind, const char *key,
    const char *what)
{
	struct def	*d, *o;
	size_t		 len = strlen(kind) + strlen(key) + 2;
	unsigned int	 h;

	if ((d = malloc(sizeof(*d) + len)) == NULL)
		fatal("malloc");
	d->pos = *p;
	snprintf(d->key, len, "%s %s", kind, key);
	h = def_hash(d->key);
	SLIST_FOREACH(o, &defs[h], entry) {
		if (strcmp(o->key, d->key) == 0) {
			parse_error(p, "duplicate %s (first defined at "
			    "%s:%d:%d)", what, o->pos.file, o->pos.line,
			    o->pos.col);
			def_free(d);
			return (-1);
		}
	}
	SLIST_INSERT_HEAD(&defs[h], d, entry);
	return (0);
}

void
parse_defs_clear(void)
{
	struct def	*d;
	size_t		 i;

	for (i = 0; i < DEF_BUCKETS; i++) {
		while ((d = SLIST_FIRST(&defs[i])) != NULL) {
			SLIST_REMOVE_HEAD(&defs[i], entry);
			def_free(d);
		}
	}
}

/* "FILE:LINE:COL" of a position, for errors found after parsing */
void
parse_at(const struct pos *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d:%d", p->file ? p->file : "?", p->line,
	    p->col);
}

/*
 * What a statement looks like, by the block it is in ("" at the top) and
 * its first word: for "incomplete statement" errors.  mailhook.conf(5)
 * has the whole description; a statement missing here gets the generic
 * message.
 */
static const struct {
	const char	*block;
	const char	*word;
	const char	*usage;
} usages[] = {
	{ "", "hostname", "hostname NAME" },
	{ "", "history", "history DURATION" },
	{ "", "resolver", "resolver ADDRESS [port PORT] [dnssec trust-anchor "
	    "FILE]" },
	{ "", "spool", "spool DIRECTORY" },
	{ "", "control", "control PATH, control group GROUP" },
	{ "", "control group", "control group GROUP" },
	{ "", "ca", "ca FILE" },
	{ "", "pki", "pki NAME cert FILE key FILE" },
	{ "", "credentials", "credentials FILE" },
	{ "", "api", "api keys FILE" },
	{ "", "postmaster", "postmaster ADDRESS" },
	{ "", "tls", "tls ciphers LIST, tls policy POLICY, tls policy domain "
	    "DOMAIN POLICY" },
	{ "", "tls ciphers", "tls ciphers LIST" },
	{ "", "tls policy", "tls policy POLICY, tls policy domain DOMAIN "
	    "POLICY" },
	{ "", "cluster", "cluster { redis URL [node NAME] [auth FILE] }" },
	{ "", "testing", "testing relay-port PORT | relay-timeout SECONDS | "
	    "mta-sts-port PORT | tls-rpt-period SECONDS | idem-sweep SECONDS | "
	    "hook-retry SECONDS | events-retry MS [MAX_MS] | "
	    "dsn-pause SECONDS | seccomp-debug" },
	{ "", "listen", "listen on ADDRESS [port PORT] [tls | tls-require | "
	    "smtps] [auth | auth-require] [pki NAME ...] [hostname NAME], "
	    "listen on ADDRESS port PORT http | api | metrics [tls pki NAME]" },
	{ "", "limit", "limit message-size SIZE, limit recipients | sessions | "
	    "sessions-per-ip | sessions-per-network | errors | junk-commands | "
	    "mime-parts | mime-depth | mime-headers NUMBER, "
	    "limit mime-header-size SIZE, "
	    "limit min-data-rate SIZE, limit idle-timeout | "
	    "tls-handshake-timeout | session-timeout | greeting-delay "
	    "DURATION, limit domain DOMAIN "
	    "[rate NUMBER per UNIT] [connections NUMBER] [tls require] "
	    "[tls verify], limit sender-domain DOMAIN rate NUMBER per UNIT" },
	{ "", "limit message-size", "limit message-size SIZE" },
	{ "", "limit recipients", "limit recipients NUMBER" },
	{ "", "limit sessions", "limit sessions NUMBER" },
	{ "", "limit sessions-per-ip", "limit sessions-per-ip NUMBER" },
	{ "", "limit sessions-per-network",
	    "limit sessions-per-network NUMBER" },
	{ "", "limit errors", "limit errors NUMBER" },
	{ "", "limit junk-commands", "limit junk-commands NUMBER" },
	{ "", "limit mime-parts", "limit mime-parts NUMBER" },
	{ "", "limit mime-depth", "limit mime-depth NUMBER" },
	{ "", "limit mime-headers", "limit mime-headers NUMBER" },
	{ "", "limit mime-header-size", "limit mime-header-size SIZE" },
	{ "", "limit idle-timeout", "limit idle-timeout DURATION" },
	{ "", "limit tls-handshake-timeout",
	    "limit tls-handshake-timeout DURATION" },
	{ "", "limit min-data-rate", "limit min-data-rate SIZE" },
	{ "", "limit session-timeout", "limit session-timeout DURATION" },
	{ "", "limit greeting-delay", "limit greeting-delay DURATION" },
	{ "", "limit domain", "limit domain DOMAIN [rate NUMBER per UNIT] "
	    "[connections NUMBER] [tls require] [tls verify]" },
	{ "", "limit sender-domain", "limit sender-domain DOMAIN rate NUMBER "
	    "per UNIT" },
	{ "", "queue lifetime", "queue lifetime DURATION" },
	{ "", "queue retry", "queue retry DURATION to DURATION" },
	{ "", "relay from", "relay from auth | NETWORK" },
	{ "", "relay via", "relay via mx | URL [auth FILE]" },
	{ "", "bounce domain", "bounce domain DOMAIN" },
	{ "", "bounce dsn", "bounce dsn yes | no" },
	{ "", "bounce secret", "bounce secret STRING" },
	{ "", "route", "route ADDRESS | domain DOMAIN | any { ... }" },
	{ "", "relay", "relay from auth | NETWORK, relay via mx | URL "
	    "[auth FILE]" },
	{ "", "bounce", "bounce domain DOMAIN, bounce dsn yes | no, "
	    "bounce secret STRING" },
	{ "", "queue", "queue lifetime DURATION, queue retry DURATION to "
	    "DURATION" },
	{ "", "spf", "spf reject fail" },
	{ "", "allow", "allow private-addresses" },
	{ "", "dkim", "dkim domain DOMAIN selector SELECTOR key FILE" },
	{ "", "events", "events { ... }" },
	{ "", "tracking", "tracking domain DOMAIN { ... }" },
	{ "", "include", "include FILE" },
	{ "route", "url", "url URL" },
	{ "route", "format", "format json | multipart | raw" },
	{ "route", "mode", "mode sync | queue" },
	{ "route", "authorize", "authorize URL [format form | json | xml] "
	    "[timeout DURATION]" },
	{ "route", "errors", "errors URL" },
	{ "route", "header", "header NAME VALUE" },
	{ "route", "secret", "secret whsec_..." },
	{ "route", "timeout", "timeout DURATION" },
	{ "route", "lifetime", "lifetime DURATION" },
	{ "route", "concurrency", "concurrency NUMBER" },
	{ "route", "fallback", "fallback maildir PATH | smtp URL" },
	{ "route", "require", "require dkim | dmarc pass [quarantine]" },
	{ "route", "verdicts", "verdicts yes | no" },
	{ "events", "url", "url URL" },
	{ "events", "format", "format events | failures | callback" },
	{ "events", "kinds", "kinds all | KIND ..." },
	{ "events", "secret", "secret whsec_..." },
	{ "events", "header", "header NAME VALUE" },
	{ "events", "timeout", "timeout DURATION" },
	{ "events", "batch", "batch NUMBER" },
	{ "events", "wait", "wait DURATION" },
	{ "events", "lifetime", "lifetime DURATION" },
	{ "tracking", "url", "url URL" },
	{ "tracking", "secret", "secret STRING" },
	{ "tracking", "opens", "opens yes | no" },
	{ "tracking", "clicks", "clicks yes | no" },
	{ "tracking", "read", "read DURATION" },
	{ "tracking", "unsubscribe", "unsubscribe one-click | no" },
	{ "cluster", "redis", "redis URL" },
	{ "cluster", "node", "node NAME" },
	{ "cluster", "auth", "auth FILE" }
};

/*
 * The form of the statement that starts with W1 W2 in BLOCK (NULL: at the
 * top), else of the one that starts with W1; NULL if unknown.
 */
const char *
parse_usage(const char *block, const char *w1, const char *w2)
{
	char	 two[2 * PARSE_WORD_MAX + 2];
	size_t	 i;

	if (block == NULL)
		block = "";
	snprintf(two, sizeof(two), "%s %s", w1, w2);
	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		if (strcmp(usages[i].block, block) == 0 &&
		    strcmp(usages[i].word, two) == 0)
			return (usages[i].usage);
	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		if (strcmp(usages[i].block, block) == 0 &&
		    strcmp(usages[i].word, w1) == 0)
			return (usages[i].usage);
	return (NULL);
}

/* dane | mta-sts | verify | opportunistic | none; -1 (reported) otherwise */
int
parse_tls_policy(const struct pos *p, const char *name)
{
	int	 v;

	if ((v = config_tls_policy(name)) == -1) {
		parse_error(p, "expected a tls policy: dane, mta-sts, verify, "
		    "opportunistic or none, not \"%s\"", name);
		return (-1);
	}
	return (v);
}

void
parse_tls_policy_domain(struct config *conf, const struct pos *dp,
    char *domain,
    const struct pos *pp, const char *name)
{
	struct tls_policy_domain	*t;
	char				 what[MH_NAME_MAX + 32];
	char				 dom[MH_NAME_MAX];
	int				 v;

	/* as relayd names the destination it applies to (a limit domain) */
	if (parse_domain(dp, domain, dom, sizeof(dom),
	    "tls policy domain") == -1)
		return;
	snprintf(what, sizeof(what), "tls policy domain \"%s\"", dom);
	if (parse_def(dp, "tls policy domain", dom, what) != 0 ||
	    (v = parse_tls_policy(pp, name)) == -1)
		return;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("calloc");
	t->policy = v;
	if (parse_copystr(dp, t->domain, sizeof(t->domain), dom,
	    "tls policy domain") == -1) {
		free(t);
		return;
	}
	TAILQ_INSERT_TAIL(&conf->tls_policies, t, entry);
}

/*
 * A number times its unit: NUMERR if either is bad (said), INT64_MAX if
 * the product is too large for any setting, for its range check to say
 * with the value as written.
 */
int64_t
parse_num_scale(int64_t n, int64_t m)
{
	if (n == NUMERR || m == 0)
		return (NUMERR);
	if (n > INT64_MAX / m)
		return (INT64_MAX);
	return (n * m);
}

/* a size or time that was not a number: said already */
struct numval
parse_num_err(void)
{
	struct numval	 nv;

	memset(&nv, 0, sizeof(nv));
	nv.n = NUMERR;
	return (nv);
}

/*
 * A host name, as said in EHLO, the greeting and Received: without a
 * trailing dot, which RFC 5321's Domain does not have (Postfix's
 * reject_invalid_helo_hostname refuses "mx.example.com.")
 */
void
parse_hostname_copy(const struct pos *p, char *dst, size_t len,
    const char *name)
{
	size_t	 n;

	if (parse_check_domain(p, name, "hostname") == 0 &&
	    parse_copystr(p, dst, len, name, "hostname") == 0 &&
	    (n = strlen(dst)) > 1 && dst[n - 1] == '.')
		dst[n - 1] = '\0';
}

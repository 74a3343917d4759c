/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The configuration parser's listeners (parse.y): listen on ADDRESS and
 * its flag words as the grammar reads them, the checks once a listener is
 * read, and the pki each names (one or more), checked once the whole file
 * is read.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "log.h"
#include "parse.h"
#include "parse_state.h"

#define perr	parse_error

/* this file's own; the state it shares with the grammar: parse_state.h */
static struct pos		 cur_listen_pos;
/* where each flag word was seen (file NULL: not) */
static struct pos		 cur_listen_words[LW_MAX];

/* the pki each listener names, checked once the whole file is read */
struct pki_ref {
	struct pos		 pos;
	const struct listener	*l;
	size_t			 i;		/* which of its pkis */
};
static struct pki_ref		*pki_refs;
static size_t			 npki_refs;

/* each pki defined, where its name is: one no listener names is told */
struct pki_def {
	struct pos		 pos;
	const struct pki	*p;
};
static struct pki_def		*pki_defs;
static size_t			 npki_defs;

/*
 * ::ffff:127.0.0.1 is 127.0.0.1 seen from IPv6, which an IPv6-only socket
 * (as the listeners' are) cannot bind: bind said "Invalid argument" at
 * start, and the same address written as IPv4 was not a duplicate.
 */
static void
listen_mapped(const struct pos *ap, const struct listener *l,
    const char *addr)
{
	const struct sockaddr_in6	*sin6 =
	    (const struct sockaddr_in6 *)&l->ss;
	char				 v4[INET_ADDRSTRLEN];

	if (l->ss.ss_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ||
	    inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], v4,
	    sizeof(v4)) == NULL)
		return;
	perr(ap, "listen on \"%s\": an IPv4-mapped IPv6 address, which an "
	    "IPv6 listener cannot bind; write it as %s", addr, v4);
}

void
parse_listen_begin(const struct pos *p, const struct pos *ap, char *addr)
{
	struct listener	*l, *o;
	uint32_t	 n = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->fd = -1;
	l->port = 25;
	TAILQ_FOREACH(o, &ps.conf->listeners, entry)
		n++;
	l->id = n;
	ps.cur_listen = l;
	cur_listen_pos = *p;
	memset(&ps.cur_listen_pki, 0, sizeof(ps.cur_listen_pki));
	memset(&ps.cur_listen_hostname, 0, sizeof(ps.cur_listen_hostname));
	memset(cur_listen_words, 0, sizeof(cur_listen_words));
	if (config_addr(addr, 25, &l->ss, &l->sslen) == -1)
		perr(ap, "listen on \"%s\": not an IP address or "
		    "localhost", addr);
	else
		listen_mapped(ap, l, addr);
	parse_copystr(ap, l->addr, sizeof(l->addr), addr, "address");
	parse_at(ap, l->addr_at, sizeof(l->addr_at));
	free(addr);
	TAILQ_INSERT_TAIL(&ps.conf->listeners, l, entry);
}

/*
 * A flag word of a listener: "tls tls" is a duplicate, and a word beside
 * the one that includes it ("tls tls-require", "http api") says twice what
 * the second says alone.
 */
void
parse_listen_flag(const struct pos *p, enum listen_word w)
{
	static const struct {
		const char	*name;
		int		 flags;
		enum listen_word within;	/* the word it includes */
	} words[LW_MAX] = {
		{ "tls",	  LF_STARTTLS,			LW_MAX },
		{ "tls-require",  LF_STARTTLS | LF_TLS_REQUIRE,	LW_TLS },
		{ "smtps",	  LF_SMTPS,			LW_MAX },
		{ "http",	  LF_HTTP,			LW_MAX },
		{ "api",	  LF_HTTP | LF_API,		LW_HTTP },
		{ "metrics",	  LF_HTTP | LF_METRICS,		LW_HTTP },
		{ "auth",	  LF_AUTH,			LW_MAX },
		{ "auth-require", LF_AUTH | LF_AUTH_REQUIRE,	LW_AUTH }
	};
	const struct pos	*o = NULL;
	enum listen_word	 i, big = w;
	char			 at[PATH_MAX + 32];

	parse_block_once(p, "listen", ps.cur_listen->id, words[w].name);
	ps.cur_listen->flags |= words[w].flags;
	if (cur_listen_words[w].file != NULL)
		return;		/* said: duplicate */
	cur_listen_words[w] = *p;
	if (words[w].within != LW_MAX &&
	    cur_listen_words[words[w].within].file != NULL)
		o = &cur_listen_words[words[w].within];
	for (i = 0; o == NULL && i < LW_MAX; i++) {
		if (words[i].within == w && cur_listen_words[i].file != NULL) {
			o = &cur_listen_words[i];
			big = i;
		}
	}
	if (o == NULL)
		return;
	parse_at(o, at, sizeof(at));
	perr(p, "\"%s\" beside \"%s\" (at %s): \"%s\" includes \"%s\", "
	    "write \"%s\" alone", words[w].name, big == w ?
	    words[words[w].within].name : words[big].name, at, words[big].name,
	    words[words[big].within].name, words[big].name);
}

static int
listen_loopback(const struct listener *l)
{
	const struct sockaddr_in	*sin =
	    (const struct sockaddr_in *)&l->ss;
	const struct sockaddr_in6	*sin6 =
	    (const struct sockaddr_in6 *)&l->ss;

	if (l->ss.ss_family == AF_INET)
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	return (l->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

/* "ADDRESS PORT" of what a listener binds: one spelling an address */
static void
listen_key(const struct listener *l, char *key, size_t len)
{
	const struct sockaddr_in	*sin =
	    (const struct sockaddr_in *)&l->ss;
	const struct sockaddr_in6	*sin6 =
	    (const struct sockaddr_in6 *)&l->ss;
	char				 a[INET6_ADDRSTRLEN];
	const char			*s = NULL;

	if (l->sslen != 0 && l->ss.ss_family == AF_INET)
		s = inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
	else if (l->sslen != 0 && l->ss.ss_family == AF_INET6)
		s = inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
	snprintf(key, len, "%s %d", s != NULL ? s : l->addr, l->port);
}

static int
listen_wildcard(const struct listener *l)
{
	const struct sockaddr_in	*sin =
	    (const struct sockaddr_in *)&l->ss;
	const struct sockaddr_in6	*sin6 =
	    (const struct sockaddr_in6 *)&l->ss;

	if (l->ss.ss_family == AF_INET)
		return (sin->sin_addr.s_addr == htonl(INADDR_ANY));
	return (l->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
}

/* 0.0.0.0 (::) takes its port on every address: no other listener there */
static void
listen_overlap(const struct pos *p, const struct listener *l)
{
	const struct listener	*o;

	if (l->sslen == 0)
		return;
	TAILQ_FOREACH(o, &ps.conf->listeners, entry) {
		if (o == l)
			break;
		if (o->sslen == 0 || o->port != l->port ||
		    o->ss.ss_family != l->ss.ss_family ||
		    listen_wildcard(o) == listen_wildcard(l))
			continue;
		perr(p, "listener %s port %d overlaps listener %s port %d: "
		    "%s takes the port on every address", l->addr, l->port,
		    o->addr, o->port, listen_wildcard(o) ? o->addr : l->addr);
		return;
	}
}

/* the word written that asked for TLS (smtps, tls-require, tls) */
static const char *
listen_tls_word(void)
{
	if (cur_listen_words[LW_SMTPS].file != NULL)
		return ("smtps");
	if (cur_listen_words[LW_TLSREQ].file != NULL)
		return ("tls-require");
	return ("tls");
}

/*
 * Where an error about a listener's word is said: at the first of these
 * words written (a pos whose file is NULL was not), else at its listen
 */
static const struct pos *
listen_word_pos(const struct pos *a, const struct pos *b)
{
	if (a != NULL && a->file != NULL)
		return (a);
	if (b != NULL && b->file != NULL)
		return (b);
	return (&cur_listen_pos);
}

/* the later of two words, both written */
static const struct pos *
listen_later(const struct pos *a, const struct pos *b)
{
	if (a->file == NULL)
		return (listen_word_pos(b, NULL));
	if (b->file == NULL || a->line > b->line ||
	    (a->line == b->line && a->col > b->col))
		return (a);
	return (b);
}

void
parse_listen_end(void)
{
	struct listener	*l = ps.cur_listen;
	const struct pos *p = &cur_listen_pos, *w = cur_listen_words;
	char		 what[MH_NAME_MAX + 32], key[MH_NAME_MAX + 16];
	int		 tls = l->flags & (LF_STARTTLS | LF_SMTPS);

	/* each said at the word it names, the later of two */
	if ((l->flags & LF_SMTPS) && (l->flags & LF_STARTTLS))
		perr(listen_later(&w[LW_SMTPS], listen_word_pos(&w[LW_TLSREQ],
		    &w[LW_TLS])), "listener cannot be both smtps and %s",
		    cur_listen_words[LW_TLSREQ].file != NULL ? "tls-require" :
		    "tls");
	/* listen on ADDR port N http [tls pki NAME]: webd's, tls = https */
	if ((l->flags & LF_HTTP) && ((l->flags & (LF_SMTPS | LF_TLS_REQUIRE |
	    LF_AUTH)) || ps.cur_listen_hostname.file != NULL))
		perr(listen_later(listen_later(&w[LW_SMTPS], &w[LW_TLSREQ]),
		    listen_later(listen_later(&w[LW_AUTH], &w[LW_AUTHREQ]),
		    &ps.cur_listen_hostname)),
		    "an %s listener takes only port, tls and pki",
		    (l->flags & LF_API) ? "api" : (l->flags & LF_METRICS) ?
		    "metrics" : "http");
	if ((l->flags & LF_API) && (l->flags & LF_METRICS))
		perr(listen_later(&w[LW_API], &w[LW_METRICS]),
		    "a listener is either api or metrics");
	if ((l->flags & LF_API) && ps.api_pos.file == NULL)
		ps.api_pos = *p;
	if ((l->flags & LF_AUTH) && !tls)
		perr(listen_word_pos(&w[LW_AUTHREQ], &w[LW_AUTH]),
		    "%s on a listener without tls",
		    cur_listen_words[LW_AUTHREQ].file != NULL ?
		    "auth-require" : "auth");
	if (tls && l->npkis == 0 && ps.cur_listen_pki.file == NULL)
		perr(listen_word_pos(&w[LW_SMTPS], listen_word_pos(
		    &w[LW_TLSREQ], &w[LW_TLS])), "%s on a listener without pki",
		    listen_tls_word());
	/* not plain text where a key pair was meant to be used */
	if (!tls && ps.cur_listen_pki.file != NULL)
		perr(&ps.cur_listen_pki, "pki on a listener without %s",
		    (l->flags & LF_HTTP) ? "tls" : "tls, tls-require or smtps");
	if ((l->flags & LF_AUTH) && tls && ps.auth_pos.file == NULL)
		ps.auth_pos = *p;
	if (config_addr(l->addr, l->port, &l->ss, &l->sslen) == -1)
		l->sslen = 0;
	/* API keys would cross the network in the clear */
	if ((l->flags & LF_API) && !tls && l->sslen != 0 && !listen_loopback(l))
		perr(p, "an api listener off loopback needs tls and a pki");
	/* what the metrics show (addresses, URLs) stays private */
	if ((l->flags & LF_METRICS) && !tls && l->sslen != 0 &&
	    !listen_loopback(l))
		perr(p, "a metrics listener off loopback needs tls and a pki");
	listen_key(l, key, sizeof(key));
	snprintf(what, sizeof(what), "listener %s port %d", l->addr, l->port);
	if (parse_def(p, "listener", key, what) == 0)
		listen_overlap(p, l);
	ps.cur_listen = NULL;
}

static void
pki_ref(const struct pos *p, const struct listener *l, size_t i)
{
	struct pki_ref	*r;

	if ((r = reallocarray(pki_refs, npki_refs + 1, sizeof(*r))) == NULL)
		fatal("reallocarray");
	pki_refs = r;
	pki_refs[npki_refs].pos = *p;
	pki_refs[npki_refs].l = l;
	pki_refs[npki_refs].i = i;
	npki_refs++;
}

/*
 * pki NAME of a listener at p, NAME at np: repeated, it names more key
 * pairs, the client's server name (SNI) choosing among them, the first
 * the default; each once.  The pki may be defined further on: pki_refs.
 */
void
parse_listen_pki(const struct pos *p, const struct pos *np, const char *name)
{
	struct listener	*l = ps.cur_listen;
	char		 key[MH_NAME_MAX + 16], what[MH_NAME_MAX + 32];

	if (ps.cur_listen_pki.file == NULL)
		ps.cur_listen_pki = *p;
	if (l->npkis == MH_LISTEN_PKI_MAX) {
		perr(np, "more than %d pki on one listener",
		    MH_LISTEN_PKI_MAX);
		return;
	}
	if (parse_copystr(np, l->pkis[l->npkis], sizeof(l->pkis[0]), name,
	    "pki name") == -1)
		return;
	snprintf(key, sizeof(key), "%u %s", l->id, name);
	snprintf(what, sizeof(what), "pki \"%s\" on this listener", name);
	if (parse_def(np, "listen pki", key, what) == -1)
		return;
	pki_ref(np, l, l->npkis);
	l->npkis++;
}

/* a pki defined, its name at np */
void
parse_pki_def(const struct pos *np, const struct pki *p)
{
	struct pki_def	*d;

	if ((d = reallocarray(pki_defs, npki_defs + 1, sizeof(*d))) == NULL)
		fatal("reallocarray");
	pki_defs = d;
	pki_defs[npki_defs].pos = *np;
	pki_defs[npki_defs].p = p;
	npki_defs++;
}

/*
 * A pki no listener names: its key pair is read for nothing, and most
 * likely the listener meant to name it names another or none (plain).
 * A warning, not an error; said only of a file without errors, where
 * every listener's pki were read.
 */
static void
pki_unused_check(void)
{
	size_t	 i, j;

	if (parse_errors())
		return;
	for (i = 0; i < npki_defs; i++) {
		for (j = 0; j < npki_refs; j++)
			if (strcmp(pki_refs[j].l->pkis[pki_refs[j].i],
			    pki_defs[i].p->name) == 0)
				break;
		if (j == npki_refs)
			logit(LOG_WARNING, "%s:%d:%d: warning: pki \"%s\" is "
			    "named by no listener: its key pair is unused",
			    pki_defs[i].pos.file, pki_defs[i].pos.line,
			    pki_defs[i].pos.col, pki_defs[i].p->name);
	}
}

/*
 * The sections come in any order: a listener may name a pki defined
 * further on, and only one defined nowhere is unknown; one defined
 * that none names is warned of.
 */
void
parse_pki_refs_check(void)
{
	size_t	 i;

	for (i = 0; i < npki_refs; i++)
		if (config_pki(ps.conf, pki_refs[i].l->pkis[pki_refs[i].i]) ==
		    NULL)
			perr(&pki_refs[i].pos, "unknown pki \"%s\"",
			    pki_refs[i].l->pkis[pki_refs[i].i]);
	pki_unused_check();
	free(pki_refs);
	pki_refs = NULL;
	npki_refs = 0;
	free(pki_defs);
	pki_defs = NULL;
	npki_defs = 0;
}

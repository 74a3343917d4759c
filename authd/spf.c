/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd: SPF with libspf2 over an in-process DNS layer.
 *
 * libspf2 evaluates synchronously and asks its DNS layer for every name it
 * needs.  Inside the sandbox there is no resolv.conf and no thread, so our
 * layer answers only from a per-check cache that common/dns.c fills
 * asynchronously.  One check runs like this:
 *
 *   1. evaluate; each name/type the layer does not have yet is recorded
 *      as a miss and answered with a harmless filler (spf_layer_filler),
 *      so the evaluation goes on and reveals as many further names as it
 *      can in the same pass (its result is thrown away);
 *   2. if there were misses, resolve all of them in parallel (dns_query)
 *      and go back to 1;
 *   3. a pass without a miss gives the result.
 *
 * SPF allows 10 DNS mechanisms, so a handful of passes suffices; after
 * SPF_MAX_PASSES, or SPF_MAX_TIME seconds, the result is temperror.
 * Results are cached for a minute per (ip, sender, helo) so the
 * recipients of one transaction share them.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <ctype.h>
#include <netdb.h>
#include <resolv.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailhook.h"
#include "log.h"
#include "dns.h"

#include <event2/event.h>
#include <unbound.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "authd.h"

#define SPF_MAX_PASSES		14
#define SPF_MAX_NAMES		128	/* DNS answers one check may gather */
#define SPF_CACHE_MAX		512
#define SPF_CACHE_TTL		60
#define SPF_MAX_VOID		2	/* RFC 7208 4.6.4 */
#define SPF_MAX_MX		10	/* RFC 7208 4.6.4 */
#define SPF_MAX_TIME		20	/* seconds, RFC 7208 4.6.4 */
#define SPF_MAX_PTR		10	/* PTR names checked, RFC 7208 4.6.4 */
#define SPF_ERR_LOG		60	/* s between two libspf2 error lines */

enum spf_rr_state {
	RR_MISSING,		/* wanted, not asked yet */
	RR_ASKED,		/* query in flight */
	RR_DONE
};

struct spf_rr {
	TAILQ_ENTRY(spf_rr)	 entry;
	struct spf_check	*sc;
	char			 name[256];	/* lower case, no final dot */
	int			 type;
	int			 state;
	int			 herrno;
	int			 n;
	char			**data;		/* in libspf2's layout */
	size_t			*len;
};
TAILQ_HEAD(spf_rrlist, spf_rr);

struct spf_check {
	struct spf_rrlist	 rrs;
	int			 nrrs;
	int			 pending;	/* DNS queries in flight */
	int			 issuing;
	int			 passes;
	int			 missed;	/* misses in the current pass */
	int			 voids;		/* void answers in the pass */
	int			 mxover;	/* an mx term's answer named
						   over SPF_MAX_MX hosts */
	int			 dupmod;	/* a record with redirect= or
						   exp= twice */
	int			 overflow;	/* more names than
						   SPF_MAX_NAMES */
	int			 cancelled;
	int			 finished;	/* result known
						   (or delivered) */
	struct event		*ev;
	struct event		*deadline;	/* SPF_MAX_TIME */
	char			 ip[64];
	char			 sender[MH_ADDR_MAX];
	char			 helo[256];
	char			 result[16];
	char			 domain[256];
	/* what libspf2 is given: the domain in A-labels */
	char			 qsender[MH_ADDR_MAX];
	char			 qdomain[256];
	spf_cb			 cb;
	void			*arg;
};

struct spf_cached {
	TAILQ_ENTRY(spf_cached)	 entry;
	time_t			 expires;
	char			*key;
	char			 result[16];
	char			 domain[256];
};
TAILQ_HEAD(spf_cachelist, spf_cached);

static struct event_base	*spf_base;
static SPF_server_t		*spf_server;
static SPF_dns_server_t		*spf_layer;
static struct spf_check		*spf_current;	/* during an evaluation */
static jmp_buf			 spf_jmp;	/* spf_log_error's way out */
static int			 spf_jmp_armed;	/* spf_jmp is set */
static struct spf_cachelist	 spf_cache = TAILQ_HEAD_INITIALIZER(spf_cache);
static int			 spf_ncache;

static SPF_dns_rr_t *spf_layer_lookup(SPF_dns_server_t *, const char *,
		    ns_type, int);
static SPF_dns_rr_t *spf_layer_filler(SPF_dns_server_t *, const char *,
		    ns_type);
static void	 spf_evaluate(struct spf_check *);
static void	 spf_step(int, short, void *);
static void	 spf_expire(int, short, void *);
static void	 spf_dns_done(int, struct ub_result *, void *);
static void	 spf_rr_fill(struct spf_rr *, int, struct ub_result *);
static void	 spf_maybe_free(struct spf_check *);
static void	 spf_set(struct spf_check *, const char *);
static char	*spf_key(const char *, const char *, const char *);
static void	 spf_cache_put(const struct spf_check *);
static const struct spf_cached *spf_cache_get(const char *);
static void	 spf_log_error(const char *, int, const char *)
		    __attribute__((noreturn));
static void	 spf_log_other(const char *, int, const char *);

/*
 * libspf2 calls SPF_error_handler on an internal error (a NULL it did not
 * expect, an allocation that failed, a compiled record its lint finds
 * inconsistent) and abort()s if the handler returns (SPF_errorv).  During
 * an evaluation the handler does not return: it jumps back to spf_query,
 * and that check is temperror; what libspf2 had allocated for it is lost
 * (rare and bounded, where abort() was a dead authd).  Only the request
 * and the response are ours to free; the compiled records (the domain's,
 * an include's or redirect's), DNS answers and expansion buffers live in
 * libspf2's own frames.  The response's spf_record_exp may point to one
 * of them, but to a redirect's a deeper frame owns, or to one already
 * freed once that redirect returned (libspf2 1.2.10, spf_interpret.c):
 * freeing it could free twice.  Outside one (at
 * spf_init) it is fatal.  Logged once a minute at most, sanitized: the
 * message may quote a record.
 */
static void
spf_log_error(const char *file, int line, const char *msg)
{
	static struct log_every	 every;
	unsigned long		 quiet;
	long			 since;
	char			 m[256], f[64];

	log_sanitize(m, sizeof(m), msg != NULL ? msg : "");
	log_sanitize(f, sizeof(f), file != NULL ? file : "?");
	if (!spf_jmp_armed)
		fatalx("libspf2: %s:%d: %s", f, line, m);
	spf_jmp_armed = 0;
	if (!log_every_due(&every, SPF_ERR_LOG, &quiet, &since))
		longjmp(spf_jmp, 1);
	if (quiet > 0)
		log_warnx("spf: libspf2 error (%s:%d: %s): temperror (%lu "
		    "more such in the last %lds)", f, line, m, quiet, since);
	else
		log_warnx("spf: libspf2 error (%s:%d: %s): temperror", f,
		    line, m);
	longjmp(spf_jmp, 1);
}

static void
spf_log_other(const char *file, int line, const char *msg)
{
	char	 m[256];

	log_debug("libspf2: %s", log_sanitize(m, sizeof(m),
	    msg != NULL ? msg : ""));
}

int
spf_init(struct event_base *base)
{
	spf_base = base;
	if (spf_server != NULL)
		return (0);
	SPF_error_handler = spf_log_error;
	SPF_warning_handler = spf_log_other;
	SPF_info_handler = spf_log_other;
	SPF_debug_handler = spf_log_other;
	if ((spf_layer = calloc(1, sizeof(*spf_layer))) == NULL)
		return (-1);
	spf_layer->destroy = NULL;
	spf_layer->lookup = spf_layer_lookup;
	spf_layer->get_spf = NULL;
	spf_layer->get_exp = NULL;
	spf_layer->add_cache = NULL;
	spf_layer->layer_below = NULL;
	spf_layer->name = "mailhook";
	spf_layer->debug = 0;
	if ((spf_server = SPF_server_new_dns(spf_layer, 0)) == NULL) {
		log_warnx("spf: SPF_server_new_dns failed");
		free(spf_layer);
		spf_layer = NULL;
		return (-1);
	}
	/* receiving host for the default explanation; no gethostname later */
	SPF_server_set_rec_dom(spf_server, "mailhook");
	return (0);
}

void
spf_shutdown(void)
{
	spf_cache_flush();
	if (spf_server != NULL)
		SPF_server_free(spf_server);
	spf_server = NULL;
	free(spf_layer);
	spf_layer = NULL;
}

/*
 * The answer to a name not known yet, chosen so that the evaluation goes
 * on and reveals more names in the same pass: a TXT is an empty "v=spf1"
 * (an include of it does not match, no permerror), anything else does not
 * exist (an "a" or "mx" does not match; an SPF-type miss falls back to
 * TXT).  The pass's result is thrown away.
 */
static SPF_dns_rr_t *
spf_layer_filler(SPF_dns_server_t *layer, const char *domain, ns_type type)
{
	SPF_dns_rr_t	*out;

	if (type != ns_t_txt)
		return (SPF_dns_rr_new_init(layer, domain, type, 0,
		    HOST_NOT_FOUND));
	if ((out = SPF_dns_rr_new_init(layer, domain, type, 0,
	    NETDB_SUCCESS)) == NULL)
		return (NULL);
	if (SPF_dns_rr_buf_realloc(out, 0, sizeof("v=spf1")) !=
	    SPF_E_SUCCESS) {
		out->herrno = TRY_AGAIN;
		return (out);
	}
	strlcpy(out->rr[0]->txt, "v=spf1", sizeof("v=spf1"));
	out->num_rr = 1;
	return (out);
}

/* name is a host an MX or PTR answer of this check named */
static int
spf_rr_target(const struct spf_check *sc, const char *name)
{
	const struct spf_rr	*rr;
	int			 i;

	TAILQ_FOREACH(rr, &sc->rrs, entry) {
		if (rr->state != RR_DONE ||
		    (rr->type != ns_t_mx && rr->type != ns_t_ptr))
			continue;
		for (i = 0; i < rr->n; i++)
			if (strcasecmp(rr->data[i], name) == 0)
				return (1);
	}
	return (0);
}

/*
 * An SPF record with redirect= or exp= more than once: RFC 7208 6 makes
 * it a permerror, libspf2 takes the last one.
 */
static int
spf_dup_modifier(const char *txt)
{
	const char	*p;
	int		 redirect = 0, exp = 0;

	if (strncasecmp(txt, "v=spf1", 6) != 0 ||
	    (txt[6] != '\0' && txt[6] != ' '))
		return (0);
	for (p = txt + 6; *p != '\0'; p++) {
		if (p[-1] != ' ' || *p == ' ')
			continue;
		if (strncasecmp(p, "redirect=", 9) == 0)
			redirect++;
		else if (strncasecmp(p, "exp=", 4) == 0)
			exp++;
	}
	return (redirect > 1 || exp > 1);
}

/*
 * name (lower case, no final dot) is one a DNS query can be made of:
 * labels of 1 to 63 octets, 253 in all (RFC 1035 2.3.4)
 */
static int
spf_name_ok(const char *name)
{
	size_t	 l;

	if (strlen(name) > 253)
		return (0);
	for (;;) {
		l = strcspn(name, ".");
		if (l == 0 || l > 63)
			return (0);
		if (name[l] == '\0')
			return (1);
		name += l + 1;
	}
}

/*
 * The libspf2 DNS layer: answers from the current check's cache only.
 */
static SPF_dns_rr_t *
spf_layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type,
    int should_cache)
{
	struct spf_check	*sc = spf_current;
	struct spf_rr		*rr;
	SPF_dns_rr_t		*out;
	char			 name[256];
	size_t			 i, l;
	int			 k, n;

	if (sc == NULL || domain == NULL)
		return (SPF_dns_rr_new_init(layer, domain ? domain : "",
		    type, 0, TRY_AGAIN));
	for (i = 0; domain[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = tolower((unsigned char)domain[i]);
	name[i] = '\0';
	if ((l = strlen(name)) > 0 && name[l - 1] == '.')
		name[l - 1] = '\0';
	/*
	 * A target name no query can be made of (a label over 63 octets,
	 * as written or from a macro: a local part of 64) does not exist:
	 * its term does not match (RFC 7208 4.3 and 5 by analogy; the RFC
	 * leaves it open), where the resolver's refusal was a temperror.
	 */
	if (domain[i] != '\0' || !spf_name_ok(name))
		return (SPF_dns_rr_new_init(layer, domain, type, 0,
		    HOST_NOT_FOUND));

	TAILQ_FOREACH(rr, &sc->rrs, entry)
		if (rr->type == (int)type && strcmp(rr->name, name) == 0)
			break;
	if (rr == NULL) {
		if (sc->nrrs >= SPF_MAX_NAMES) {
			sc->overflow = 1;
			return (SPF_dns_rr_new_init(layer, domain, type, 0,
			    TRY_AGAIN));
		}
		if ((rr = calloc(1, sizeof(*rr))) == NULL)
			return (SPF_dns_rr_new_init(layer, domain, type, 0,
			    TRY_AGAIN));
		rr->sc = sc;
		strlcpy(rr->name, name, sizeof(rr->name));
		rr->type = type;
		rr->state = RR_MISSING;
		TAILQ_INSERT_TAIL(&sc->rrs, rr, entry);
		sc->nrrs++;
	}
	if (rr->state != RR_DONE) {
		sc->missed++;
		return (spf_layer_filler(layer, domain, type));
	}
	/*
	 * A void lookup (RFC 7208 4.6.4 counts terms): no such name, or no
	 * record of the type, for an a, exists, mx or ptr term's own
	 * look-up.  The addresses of the hosts an MX or PTR answer named do
	 * not count (an IPv6 client, MX hosts with IPv4 only), nor does a
	 * TXT look-up: an include or redirect that finds no record is a
	 * permerror anyway, and neither the checked domain's own record nor
	 * an explanation is a term.
	 */
	if (type != ns_t_txt && (rr->herrno == HOST_NOT_FOUND ||
	    rr->herrno == NO_DATA) && ((type != ns_t_a && type != ns_t_aaaa) ||
	    !spf_rr_target(sc, name)))
		sc->voids++;
	/*
	 * An MX answer naming more than 10 hosts makes the mx term a
	 * permerror (RFC 7208 4.6.4); libspf2 says so only once it has
	 * looked at the hosts, and a client at one of them passes.
	 */
	if (type == ns_t_mx && rr->herrno == NETDB_SUCCESS &&
	    rr->n > SPF_MAX_MX)
		sc->mxover = 1;
	out = SPF_dns_rr_new_init(layer, domain, type, 60, rr->herrno);
	if (out == NULL)
		return (NULL);
	/*
	 * Of a PTR answer, the first SPF_MAX_PTR names only: RFC 7208 4.6.4
	 * ignores the rest, where libspf2 makes the ptr term a permerror
	 * when none of its first 10 matches (SPF_E_BIG_DNS)
	 */
	n = rr->n;
	if (type == ns_t_ptr && n > SPF_MAX_PTR)
		n = SPF_MAX_PTR;
	for (k = 0; k < n; k++) {
		if (SPF_dns_rr_buf_realloc(out, k, rr->len[k] + 1) !=
		    SPF_E_SUCCESS) {
			out->herrno = TRY_AGAIN;
			out->num_rr = 0;
			return (out);
		}
		memcpy(out->rr[k], rr->data[k], rr->len[k]);
		((char *)out->rr[k])[rr->len[k]] = '\0';
		if (type == ns_t_txt && spf_dup_modifier(rr->data[k]))
			sc->dupmod = 1;
		out->num_rr = k + 1;
	}
	return (out);
}

/* the client's address; an IPv4-mapped IPv6 one is the IPv4 address */
static int
spf_client_ip(const char *ip, char *out, size_t len)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	if (inet_pton(AF_INET6, ip, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], sizeof(a4));
		return (inet_ntop(AF_INET, &a4, out, len) == NULL ? -1 : 0);
	}
	return (strlcpy(out, ip, len) >= len ? -1 : 0);
}

struct spf_check *
spf_check(const char *ip, const char *sender, const char *helo, spf_cb cb,
    void *arg)
{
	struct spf_check	*sc;
	struct in_addr		 a4;
	struct in6_addr		 a6;
	const char		*at;
	struct timeval		 tv = { 0, 0 };

	if (spf_server == NULL || spf_base == NULL || ip == NULL ||
	    (inet_pton(AF_INET, ip, &a4) != 1 &&
	    inet_pton(AF_INET6, ip, &a6) != 1))
		return (NULL);
	if (sender == NULL)
		sender = "";
	if (helo == NULL)
		helo = "";
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return (NULL);
	TAILQ_INIT(&sc->rrs);
	sc->cb = cb;
	sc->arg = arg;
	if (spf_client_ip(ip, sc->ip, sizeof(sc->ip)) == -1 ||
	    strlcpy(sc->sender, sender, sizeof(sc->sender)) >=
	    sizeof(sc->sender) ||
	    strlcpy(sc->helo, helo, sizeof(sc->helo)) >= sizeof(sc->helo) ||
	    (sc->ev = evtimer_new(spf_base, spf_step, sc)) == NULL) {
		free(sc);
		return (NULL);
	}
	if ((sc->deadline = evtimer_new(spf_base, spf_expire, sc)) == NULL) {
		event_free(sc->ev);
		free(sc);
		return (NULL);
	}
	/* the domain checked: MAIL FROM's, or HELO's for the null sender */
	if (*sender == '\0')
		strlcpy(sc->domain, helo, sizeof(sc->domain));
	else if ((at = strrchr(sender, '@')) != NULL)
		strlcpy(sc->domain, at + 1, sizeof(sc->domain));
	else
		strlcpy(sc->domain, sender, sizeof(sc->domain));
	/* RFC 7208 4.3: an internationalized name is looked up as A-labels */
	if (dns_domain_ascii(sc->domain, sc->qdomain, sizeof(sc->qdomain)) ==
	    -1)
		sc->qdomain[0] = '\0';
	if (*sender != '\0') {
		/* the local part as it is, the domain in A-labels */
		if ((at = strrchr(sender, '@')) != NULL)
			snprintf(sc->qsender, sizeof(sc->qsender), "%.*s@%s",
			    (int)(at - sender), sender, sc->qdomain);
		else
			strlcpy(sc->qsender, sc->qdomain, sizeof(sc->qsender));
	}
	evtimer_add(sc->ev, &tv);
	tv.tv_sec = SPF_MAX_TIME;
	evtimer_add(sc->deadline, &tv);
	return (sc);
}

void
spf_cancel(struct spf_check *sc)
{
	if (sc == NULL)
		return;
	sc->cancelled = 1;
	evtimer_del(sc->ev);
	evtimer_del(sc->deadline);
	spf_maybe_free(sc);
}

static void
spf_maybe_free(struct spf_check *sc)
{
	struct spf_rr	*rr;
	int		 i;

	if (sc->pending > 0 || !(sc->cancelled || sc->finished))
		return;
	while ((rr = TAILQ_FIRST(&sc->rrs)) != NULL) {
		TAILQ_REMOVE(&sc->rrs, rr, entry);
		for (i = 0; i < rr->n; i++)
			free(rr->data[i]);
		free(rr->data);
		free(rr->len);
		free(rr);
	}
	event_free(sc->ev);
	event_free(sc->deadline);
	free(sc);
}

static void
spf_set(struct spf_check *sc, const char *result)
{
	strlcpy(sc->result, result, sizeof(sc->result));
	sc->finished = 1;
}

/* the event: first pass, next pass, or delivery */
static void
spf_step(int fd, short ev, void *arg)
{
	struct spf_check	*sc = arg;
	const struct spf_cached	*c;
	char			*key;

	if (sc->cancelled)
		return;
	if (!sc->finished && sc->passes == 0 &&
	    (key = spf_key(sc->ip, sc->sender, sc->helo)) != NULL) {
		if ((c = spf_cache_get(key)) != NULL) {
			strlcpy(sc->domain, c->domain, sizeof(sc->domain));
			spf_set(sc, c->result);
		}
		free(key);
	}
	if (!sc->finished)
		spf_evaluate(sc);
	if (!sc->finished)
		return;		/* waiting for DNS */
	/*
	 * A temperror is not kept: servers that refuse or fail are
	 * remembered by the resolver (the next RCPT's temperror comes at
	 * once), and answers that came too slowly for SPF_MAX_TIME are in
	 * its cache when they arrive, so the next RCPT of the transaction
	 * gets the real result (pass) where a kept temperror would repeat
	 * the failure
	 */
	if (strcmp(sc->result, "temperror") != 0)
		spf_cache_put(sc);
	sc->cb(sc->result, sc->domain, sc->arg);
	sc->cancelled = 1;	/* delivered: the handle is gone */
	evtimer_del(sc->deadline);
	spf_maybe_free(sc);
}

/*
 * No result within SPF_MAX_TIME (answers that come slowly, pass after
 * pass): temperror, as RFC 7208 4.6.4 wants, rather than hold the
 * client's RCPT for up to SPF_MAX_PASSES DNS time-outs.  The queries
 * still out keep the check until they end.
 */
static void
spf_expire(int fd, short ev, void *arg)
{
	struct spf_check	*sc = arg;

	if (sc->cancelled || sc->finished)
		return;
	log_debug("spf: %s: no result within %d seconds: temperror",
	    sc->domain, SPF_MAX_TIME);
	evtimer_del(sc->ev);
	spf_set(sc, "temperror");
	sc->cb(sc->result, sc->domain, sc->arg);
	sc->cancelled = 1;
	spf_maybe_free(sc);
}

static const char *
spf_result_name(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return ("pass");
	case SPF_RESULT_FAIL:
		return ("fail");
	case SPF_RESULT_SOFTFAIL:
		return ("softfail");
	case SPF_RESULT_NEUTRAL:
		return ("neutral");
	case SPF_RESULT_NONE:
		return ("none");
	case SPF_RESULT_PERMERROR:
		return ("permerror");
	case SPF_RESULT_TEMPERROR:
	default:
		return ("temperror");
	}
}

/*
 * Whether there is a domain to look up (RFC 7208 4.3): an address
 * literal ("a@[192.0.2.1]", "a@[IPv6:::1]") names none, and neither does
 * a single label; check_host() gives "none" for both without asking DNS.
 */
static int
spf_checkable(const char *domain)
{
	const char	*dot = strchr(domain, '.');

	return (domain[0] != '\0' && domain[0] != '[' && dot != NULL &&
	    dot != domain && dot[1] != '\0');
}

/*
 * SPF_request_query_mailfrom(req, resp) into *err; -1 if libspf2 ended
 * in SPF_error (spf_log_error): *resp, if set, and req may be freed, the
 * rest of what it made is lost.  Nothing of this frame changes between
 * the setjmp and a longjmp.
 */
static int
spf_query(SPF_request_t *req, SPF_response_t **resp, SPF_errcode_t *err)
{
	if (setjmp(spf_jmp) != 0)
		return (-1);
	spf_jmp_armed = 1;
	*err = SPF_request_query_mailfrom(req, resp);
	spf_jmp_armed = 0;
	return (0);
}

static void
spf_evaluate(struct spf_check *sc)
{
	SPF_request_t	*req;
	SPF_response_t	*res = NULL;
	SPF_result_t	 r = SPF_RESULT_INVALID;
	SPF_errcode_t	 err;
	struct spf_rr	*rr;
	struct timeval	 tv = { 0, 0 };
	const char	*from;

	if (++sc->passes > SPF_MAX_PASSES) {
		log_debug("spf: %s: too many passes", sc->domain);
		spf_set(sc, "temperror");
		return;
	}
	if (!spf_checkable(sc->qdomain)) {
		log_debug("spf: \"%s\" is not a multi-label domain name: "
		    "none", sc->domain);
		spf_set(sc, "none");
		return;
	}
	if ((req = SPF_request_new(spf_server)) == NULL) {
		spf_set(sc, "temperror");
		return;
	}
	if (strchr(sc->ip, ':') != NULL)
		SPF_request_set_ipv6_str(req, sc->ip);
	else
		SPF_request_set_ipv4_str(req, sc->ip);
	if (sc->helo[0] != '\0')
		SPF_request_set_helo_dom(req, sc->helo);
	from = sc->sender[0] != '\0' ? sc->qsender : sc->qdomain;
	if (SPF_request_set_env_from(req, from) != 0) {
		SPF_request_free(req);
		spf_set(sc, "permerror");
		return;
	}
	sc->missed = 0;
	sc->voids = 0;
	sc->mxover = 0;
	sc->dupmod = 0;
	spf_current = sc;
	if (spf_query(req, &res, &err) == -1) {
		spf_current = NULL;
		if (res != NULL)
			SPF_response_free(res);
		SPF_request_free(req);
		spf_set(sc, "temperror");
		return;
	}
	spf_current = NULL;
	if (res != NULL)
		r = SPF_response_result(res);
	if (r == SPF_RESULT_INVALID) {
		/* a record that does not compile ends without a result */
		if (res != NULL && SPF_response_errcode(res) != SPF_E_SUCCESS)
			err = SPF_response_errcode(res);
		r = (err == SPF_E_DNS_ERROR || err == SPF_E_NO_MEMORY ||
		    err == SPF_E_INTERNAL_ERROR || err == SPF_E_SUCCESS) ?
		    SPF_RESULT_TEMPERROR : SPF_RESULT_PERMERROR;
	}
	SPF_response_free(res);
	SPF_request_free(req);

	if (sc->overflow) {
		spf_set(sc, "temperror");
		return;
	}
	if (sc->missed == 0 && sc->dupmod && r != SPF_RESULT_TEMPERROR) {
		log_debug("spf: %s: a record with redirect= or exp= twice: "
		    "permerror", sc->domain);
		spf_set(sc, "permerror");
		return;
	}
	if (sc->missed == 0 && sc->mxover) {
		/* the evaluation stops at that mx term: nothing after counts */
		log_debug("spf: %s: an mx term with over %d MX hosts: "
		    "permerror", sc->domain, SPF_MAX_MX);
		spf_set(sc, "permerror");
		return;
	}
	if (sc->missed == 0 && sc->voids > SPF_MAX_VOID &&
	    r != SPF_RESULT_TEMPERROR) {
		/*
		 * libspf2 has no void lookup limit; mechanisms are evaluated
		 * in order up to the first match, so the look-ups made are
		 * those of the terms before the result
		 */
		log_debug("spf: %s: %d void lookups: permerror", sc->domain,
		    sc->voids);
		spf_set(sc, "permerror");
		return;
	}
	if (sc->missed == 0) {
		spf_set(sc, spf_result_name(r));
		return;
	}
	/* ask for everything missing at once */
	sc->issuing = 1;
	TAILQ_FOREACH(rr, &sc->rrs, entry) {
		if (rr->state != RR_MISSING)
			continue;
		rr->state = RR_ASKED;
		sc->pending++;
		if (dns_query(rr->name, rr->type, spf_dns_done, rr) == -1) {
			sc->pending--;
			spf_rr_fill(rr, DNS_SERVFAIL, NULL);
		}
	}
	sc->issuing = 0;
	if (sc->pending == 0)
		evtimer_add(sc->ev, &tv);
}

static void
spf_dns_done(int status, struct ub_result *res, void *arg)
{
	struct spf_rr		*rr = arg;
	struct spf_check	*sc = rr->sc;
	struct timeval		 tv = { 0, 0 };

	sc->pending--;
	spf_rr_fill(rr, status, res);
	if (sc->cancelled) {
		spf_maybe_free(sc);
		return;
	}
	if (sc->pending == 0 && !sc->issuing)
		evtimer_add(sc->ev, &tv);
}

/* a wire-format name (uncompressed) to text */
static int
spf_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t	 o = 0, i = 0, l;

	while (i < len && p[i] != 0) {
		l = p[i++];
		if (l > 63 || i + l > len)
			return (-1);
		if (o > 0) {
			if (o + 1 >= outlen)
				return (-1);
			out[o++] = '.';
		}
		if (o + l >= outlen)
			return (-1);
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	if (i >= len)
		return (-1);
	out[o] = '\0';
	return (0);
}

/*
 * A macro's value for spf_fix_macros, NULL when it is not known here
 * (p, and c, r, t, which only explanations have).
 */
static const char *
spf_macro_value(const struct spf_check *sc, const char *name, int letter,
    char *buf, size_t size)
{
	struct in6_addr	 a6;
	const char	*at;
	size_t		 i, o = 0;

	switch (tolower(letter)) {
	case 'd':
		return (name);
	case 'h':
		return (sc->helo);
	case 'o':
		return (sc->qdomain);
	case 'v':
		return (strchr(sc->ip, ':') != NULL ? "ip6" : "in-addr");
	case 's':
		if (sc->qsender[0] != '\0')
			return (sc->qsender);
		snprintf(buf, size, "postmaster@%s", sc->qdomain);
		return (buf);
	case 'l':
		if ((at = strrchr(sc->qsender, '@')) == NULL)
			return ("postmaster");
		snprintf(buf, size, "%.*s", (int)(at - sc->qsender),
		    sc->qsender);
		return (buf);
	case 'i':
		if (strchr(sc->ip, ':') == NULL)
			return (sc->ip);
		if (inet_pton(AF_INET6, sc->ip, &a6) != 1 || size < 64)
			return (NULL);
		for (i = 0; i < 16; i++)
			o += snprintf(buf + o, size - o, "%x.%x.",
			    a6.s6_addr[i] >> 4, a6.s6_addr[i] & 0xf);
		buf[o - 1] = '\0';
		return (buf);
	}
	return (NULL);
}

/*
 * libspf2 (1.2.10) expands a macro whose digit transformer keeps as many
 * parts as its value has, or more (%{d2} of example.com, %{i4} of an IPv4
 * address, %{l2-} of "a-b") wrongly: the first character lost
 * ("xample.com") or a temperror, where RFC 7208 7.3 takes the whole
 * value.  The digits of such a macro are taken out of an SPF record
 * before libspf2 reads it, the same macro by the RFC.  NULL: unchanged.
 */
static char *
spf_fix_macros(const struct spf_check *sc, const char *name, const char *txt)
{
	char		*out, buf[NS_MAXDNAME + 16];
	const char	*p, *q, *v, *digits, *end, *delims;
	size_t		 o = 0, parts, n;
	long		 k;
	int		 changed = 0;

	if ((out = malloc(strlen(txt) + 1)) == NULL)
		return (NULL);
	for (p = txt; *p != '\0'; ) {
		if (p[0] == '%' && (p[1] == '%' || p[1] == '_' ||
		    p[1] == '-')) {
			/* an escape: "%%{d2}" is text */
			out[o++] = *p++;
			out[o++] = *p++;
			continue;
		}
		if (p[0] != '%' || p[1] != '{' || !isalpha((u_char)p[2]) ||
		    (end = strchr(p, '}')) == NULL) {
			out[o++] = *p++;
			continue;
		}
		digits = p + 3;
		for (q = digits; isdigit((u_char)*q); q++)
			;
		delims = q + (*q == 'r' || *q == 'R');
		k = q > digits && q - digits < 4 ? strtol(digits, NULL, 10) :
		    0;
		v = spf_macro_value(sc, name, p[2], buf, sizeof(buf));
		if (k > 0 && v != NULL && strspn(delims, ".-+,/_=") ==
		    (size_t)(end - delims)) {
			for (parts = 1, n = 0; v[n] != '\0'; n++)
				if (delims == end ? v[n] == '.' :
				    memchr(delims, v[n], end - delims) != NULL)
					parts++;
			if ((size_t)k >= parts) {
				/* "%{" letter, then what follows the digits */
				memcpy(out + o, p, 3);
				o += 3;
				memcpy(out + o, q, end + 1 - q);
				o += end + 1 - q;
				p = end + 1;
				changed = 1;
				continue;
			}
		}
		memcpy(out + o, p, end + 1 - p);
		o += end + 1 - p;
		p = end + 1;
	}
	out[o] = '\0';
	if (!changed) {
		free(out);
		return (NULL);
	}
	return (out);
}

/* store an answer in libspf2's layout: txt joined, names as text */
static void
spf_rr_fill(struct spf_rr *rr, int status, struct ub_result *res)
{
	const unsigned char	*d;
	char			 buf[NS_MAXDNAME + 1], *txt, *fixed;
	size_t			 dl, o, l, tl;
	int			 i, n = 0;

	rr->state = RR_DONE;
	switch (status) {
	case DNS_OK:
		rr->herrno = NETDB_SUCCESS;
		break;
	case DNS_NXDOMAIN:
		rr->herrno = HOST_NOT_FOUND;
		return;
	case DNS_NODATA:
		rr->herrno = NO_DATA;
		return;
	case DNS_SERVFAIL:
		rr->herrno = TRY_AGAIN;
		return;
	default:
		rr->herrno = NO_RECOVERY;
		return;
	}
	if (res == NULL || res->data == NULL) {
		rr->herrno = NO_DATA;
		return;
	}
	while (res->data[n] != NULL)
		n++;
	if ((rr->data = calloc(n + 1, sizeof(char *))) == NULL ||
	    (rr->len = calloc(n + 1, sizeof(size_t))) == NULL) {
		rr->herrno = TRY_AGAIN;
		return;
	}
	for (i = 0; i < n; i++) {
		d = (const unsigned char *)res->data[i];
		dl = res->len[i];
		txt = NULL;
		tl = 0;
		switch (rr->type) {
		case ns_t_a:
			if (dl != 4)
				continue;
			tl = 4;
			break;
		case ns_t_aaaa:
			if (dl != 16)
				continue;
			tl = 16;
			break;
		case ns_t_mx:
			if (dl < 3 || spf_wire_name(d + 2, dl - 2, buf,
			    sizeof(buf)) == -1)
				continue;
			d = (const unsigned char *)buf;
			tl = strlen(buf);
			break;
		case ns_t_ptr:
		case ns_t_cname:
			if (spf_wire_name(d, dl, buf, sizeof(buf)) == -1)
				continue;
			d = (const unsigned char *)buf;
			tl = strlen(buf);
			break;
		default:	/* TXT, SPF: character-strings joined */
			if ((txt = malloc(dl + 1)) == NULL)
				continue;
			for (o = 0; o < dl; o += l + 1) {
				l = d[o];
				if (o + 1 + l > dl)
					break;
				memcpy(txt + tl, d + o + 1, l);
				tl += l;
			}
			txt[tl] = '\0';
			if (rr->type == ns_t_txt &&
			    strncasecmp(txt, "v=spf1", 6) == 0 &&
			    strstr(txt, "%{") != NULL &&
			    (fixed = spf_fix_macros(rr->sc, rr->name, txt)) !=
			    NULL) {
				free(txt);
				txt = fixed;
				tl = strlen(txt);
			}
			break;
		}
		if (txt == NULL) {
			if ((txt = malloc(tl + 1)) == NULL)
				continue;
			memcpy(txt, d, tl);
			txt[tl] = '\0';
		}
		rr->data[rr->n] = txt;
		rr->len[rr->n] = tl;
		rr->n++;
	}
	if (rr->n == 0)
		rr->herrno = NO_DATA;
}

/*
 * The result cache.
 */
static char *
spf_key(const char *ip, const char *sender, const char *helo)
{
	char	*key;

	if (asprintf(&key, "%s\n%s\n%s", ip, sender, helo) == -1)
		return (NULL);
	return (key);
}

static void
spf_cached_free(struct spf_cached *c)
{
	TAILQ_REMOVE(&spf_cache, c, entry);
	spf_ncache--;
	free(c->key);
	free(c);
}

static const struct spf_cached *
spf_cache_get(const char *key)
{
	struct spf_cached	*c, *t;
	time_t			 now = time(NULL);

	TAILQ_FOREACH_SAFE(c, &spf_cache, entry, t) {
		if (c->expires <= now) {
			spf_cached_free(c);
			continue;
		}
		if (strcmp(c->key, key) == 0)
			return (c);
	}
	return (NULL);
}

static void
spf_cache_put(const struct spf_check *sc)
{
	struct spf_cached	*c;
	char			*key;

	if ((key = spf_key(sc->ip, sc->sender, sc->helo)) == NULL)
		return;
	if (spf_cache_get(key) != NULL) {
		free(key);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(key);
		return;
	}
	while (spf_ncache >= SPF_CACHE_MAX)
		spf_cached_free(TAILQ_FIRST(&spf_cache));
	c->key = key;
	c->expires = time(NULL) + SPF_CACHE_TTL;
	strlcpy(c->result, sc->result, sizeof(c->result));
	strlcpy(c->domain, sc->domain, sizeof(c->domain));
	TAILQ_INSERT_TAIL(&spf_cache, c, entry);
	spf_ncache++;
}

void
spf_cache_flush(void)
{
	while (!TAILQ_EMPTY(&spf_cache))
		spf_cached_free(TAILQ_FIRST(&spf_cache));
}

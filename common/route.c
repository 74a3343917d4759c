/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Which route takes a recipient, whether its domain is ours (authd's
 * RCPT decision, relayd's loop check), and private copies of a route
 * for checks that outlive a reload.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "mailhook.h"
#include "dns.h"
#include "log.h"
#include "mailaddr.h"
#include "route.h"

static void	 lower(char *, size_t, const char *);
static void	 addr_alabel(char *, size_t);
static int	 domain_in(const char *, const char *);
static size_t	 route_rank(const struct route *, const char *,
		    const char *, const char *);

/* lower-cased copy, truncated to the buffer */
static void
lower(char *dst, size_t len, const char *src)
{
	size_t	 i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = tolower((unsigned char)src[i]);
	if (len > 0)
		dst[i] = '\0';
}

/* an address's domain in A-labels, in place (left alone if not valid) */
static void
addr_alabel(char *addr, size_t len)
{
	char	 d[MH_NAME_MAX], *at;
	size_t	 i;

	if ((at = strrchr(addr, '@')) == NULL)
		return;
	for (i = 1; at[i] != '\0'; i++)
		if ((unsigned char)at[i] >= 0x80)
			break;
	if (at[i] == '\0')
		return;
	if (dns_domain_ascii(at + 1, d, sizeof(d)) == 0 &&
	    (size_t)(at + 1 - addr) + strlen(d) < len)
		strlcpy(at + 1, d, len - (at + 1 - addr));
}

/* domain is parent or a subdomain of parent (both lower-cased) */
static int
domain_in(const char *domain, const char *parent)
{
	size_t	 dl = strlen(domain), pl = strlen(parent);

	if (pl == 0 || dl <= pl)
		return (0);
	return (domain[dl - pl - 1] == '.' &&
	    strcmp(domain + dl - pl, parent) == 0);
}

/*
 * How well r takes the recipient, 0 if not at all: the address itself,
 * then the address without its +tag, then the domain, then a parent
 * domain (the nearest best), then any.  addr: the lower-cased address,
 * base: the same with the +tag removed (or NULL), domain: its domain (""
 * if none).
 */
static size_t
route_rank(const struct route *r, const char *addr, const char *base,
    const char *domain)
{
	switch (r->match) {
	case ROUTE_ADDRESS:
		if (strcmp(r->pattern, addr) == 0)
			return (MH_ADDR_MAX * 4);
		if (base != NULL && strcmp(r->pattern, base) == 0)
			return (MH_ADDR_MAX * 3);
		return (0);
	case ROUTE_DOMAIN:
		return (*domain != '\0' && strcmp(r->pattern, domain) == 0 ?
		    MH_ADDR_MAX * 2 : 0);
	case ROUTE_SUBDOMAINS:
		return (domain_in(domain, r->pattern) ?
		    MH_ADDR_MAX + strlen(r->pattern) : 0);
	case ROUTE_ANY:
		return (1);
	}
	return (0);
}

const struct route *
route_lookup(const struct config *conf, const char *rcpt, char *tag,
    size_t taglen)
{
	char			 uq[MH_ADDR_MAX], addr[MH_ADDR_MAX];
	char			 base[MH_ADDR_MAX];
	const char		*domain = "", *basep = NULL;
	char			*at, *plus;
	const struct route	*r, *best = NULL;
	size_t			 rank, best_rank = 0;

	if (tag != NULL && taglen > 0)
		*tag = '\0';
	if (conf == NULL || rcpt == NULL || strlen(rcpt) >= sizeof(addr))
		return (NULL);
	addr_unquote(uq, sizeof(uq), rcpt);
	/* routes name an internationalized domain by its A-labels */
	addr_alabel(uq, sizeof(uq));
	lower(addr, sizeof(addr), uq);
	if ((at = strrchr(addr, '@')) != NULL) {
		domain = at + 1;
		plus = memchr(addr, '+', at - addr);
		if (plus != NULL && plus > addr) {
			/* "user+tag@d" -> "user@d", tag "tag" */
			memcpy(base, addr, plus - addr);
			strlcpy(base + (plus - addr), at, sizeof(base) -
			    (plus - addr));
			basep = base;
			if (tag != NULL && taglen > 0) {
				/* the tag keeps its case */
				size_t n = at - plus - 1;

				if (n >= taglen)
					n = taglen - 1;
				memcpy(tag, uq + (plus - addr) + 1, n);
				tag[n] = '\0';
			}
		}
	}
	/* the best match whatever the order of the file; the first of equals */
	TAILQ_FOREACH(r, &conf->routes, entry)
		if ((rank = route_rank(r, addr, basep, domain)) > best_rank) {
			best = r;
			best_rank = rank;
		}
	return (best);
}

int
rcpt_is_bounce(const struct config *conf, const char *rcpt)
{
	char		 domain[MH_NAME_MAX];
	const char	*at;

	if (conf == NULL || rcpt == NULL || conf->bounce_domain[0] == '\0' ||
	    (at = strrchr(rcpt, '@')) == NULL)
		return (0);
	(void)dns_domain_ascii(at + 1, domain, sizeof(domain));
	return (strcasecmp(domain, conf->bounce_domain) == 0);
}

int
rcpt_domain_is_local(const struct config *conf, const char *rcpt)
{
	char			 domain[MH_NAME_MAX];
	const char		*at, *rd;
	const struct route	*r;

	if (rcpt == NULL || (at = strrchr(rcpt, '@')) == NULL)
		return (0);
	if (rcpt_is_bounce(conf, rcpt))
		return (1);
	(void)dns_domain_ascii(at + 1, domain, sizeof(domain));
	TAILQ_FOREACH(r, &conf->routes, entry) {
		switch (r->match) {
		case ROUTE_ADDRESS:
			if ((rd = strrchr(r->pattern, '@')) != NULL &&
			    strcmp(rd + 1, domain) == 0)
				return (1);
			break;
		case ROUTE_DOMAIN:
			if (strcmp(r->pattern, domain) == 0)
				return (1);
			break;
		case ROUTE_SUBDOMAINS:
			if (domain_in(domain, r->pattern))
				return (1);
			break;
		case ROUTE_ANY:
			break;
		}
	}
	return (0);
}

struct route *
route_dup(const struct route *r)
{
	struct route		*n;
	const struct header	*h;
	struct header		*nh;

	if ((n = malloc(sizeof(*n))) == NULL)
		return (NULL);
	*n = *r;
	TAILQ_INIT(&n->headers);
	TAILQ_FOREACH(h, &r->headers, entry) {
		if ((nh = calloc(1, sizeof(*nh))) == NULL ||
		    (nh->name = strdup(h->name)) == NULL ||
		    (nh->value = strdup(h->value)) == NULL) {
			if (nh != NULL) {
				free(nh->name);
				free(nh);
			}
			route_free(n);
			return (NULL);
		}
		TAILQ_INSERT_TAIL(&n->headers, nh, entry);
	}
	return (n);
}

/* its header values, authorization URL and secret wiped, as config_free */
void
route_free(struct route *r)
{
	if (r == NULL)
		return;
	config_headers_free(&r->headers);
	explicit_bzero(r, sizeof(*r));
	free(r);
}


/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Which route takes a recipient, whether its domain is ours (route.c):
 * authd decides RCPT by them, relayd knows by them that mail for a
 * domain of ours that comes back to this host is no loop.
 */
#ifndef MH_ROUTE_H
#define MH_ROUTE_H

#include <stddef.h>

#include "config.h"

/*
 * The route that takes rcpt, by rank whatever the file order: an address
 * route ("user@example.com", then "user@d" for "user+tag@d"), a domain
 * route ("example.com"), the nearest subdomain route ("*.example.com":
 * a.example.com, b.c.example.com, not example.com), "route any"; the
 * first of equal ranks in the file.  The comparison is case-insensitive for the domain and the
 * local part alike; a domain in U-labels is compared in its A-labels, as
 * routes are written.  "user+tag@d" also matches a "user@d" route; the tag
 * (after the first '+', "" if none) is copied into tag when tag != NULL.
 * NULL: no route.
 */
const struct route *route_lookup(const struct config *, const char *rcpt,
	    char *tag, size_t taglen);
/* the recipient's domain is the bounce domain (case-insensitive) */
int	 rcpt_is_bounce(const struct config *, const char *rcpt);
/*
 * The recipient's domain is ours: the bounce domain, or a domain taken by
 * an address, domain or subdomain route ("route any" does not count).
 */
int	 rcpt_domain_is_local(const struct config *, const char *rcpt);
/*
 * a private copy of a route (headers included), NULL if out of memory;
 * route_free() wipes its secrets, as config_free() does
 */
struct route *route_dup(const struct route *);
void	 route_free(struct route *);

#endif /* MH_ROUTE_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * smtpd: a transaction's recipients by the mailbox each names, so that
 * the duplicate RCPT checks (smtp_cmd.c) take the same time whatever
 * the number of recipients before (`limit recipients` goes to 10,000,
 * MH_ENV_MAX_RCPT; a walk of them all at each RCPT made 10,000 RCPTs
 * take 49 s).
 *
 * Two open-addressing tables of indexes into tx->rcpts, each slot with
 * the hash of its key; a key is computed again from the recipient it
 * names to compare, so a table holds 8 bytes a slot, at most 4 slots a
 * recipient, and goes with the transaction (tx_free).  The hash is
 * seeded at random once a process, so that a peer cannot choose
 * addresses that all fall in one chain.
 *
 * RS_SAME: addr_same()'s mailbox, keyed by addr_same_key().
 * RS_ROUTED: the whole of addr_canon()'s form in any case, on one route,
 * where mailhook is the receiving host and routes match in any case
 * (route.c).  "Any case" is ASCII's, as a route lookup and the
 * suppression list have it: JÜRGEN@ and Jürgen@ stay two recipients.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"
#include "smtpd.h"

#define RS_KEY_MAX	1025	/* as addr_same()'s */

static uint64_t	rs_seed;

/* the key of addr in set kind into dst: 0, or -1 if it has none */
static int
rs_key(char *dst, size_t len, const char *addr, int kind)
{
	char	*p;

	if (kind == RS_SAME)
		return (addr_same_key(dst, len, addr));
	if (addr_canon(dst + 1, len - 1, addr) == -1)
		return (-1);
	dst[0] = '\2';
	for (p = dst + 1; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	return (0);
}

/* FNV-1a from a random start, then mixed (MurmurHash3's fmix64) */
static uint32_t
rs_hash(const char *key, uint32_t route)
{
	const unsigned char	*p = (const unsigned char *)key;
	uint64_t		 h;

	while (rs_seed == 0)
		rs_seed = ((uint64_t)arc4random() << 32) | arc4random();
	h = rs_seed ^ route;
	for (; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb93fe53f8ccdULL;
	h ^= h >> 33;
	return ((uint32_t)h);
}

/* rcpts[i] is in set kind as key (hash h) is */
static int
rs_match(const struct smtp_tx *tx, size_t i, int kind, const char *key,
    uint32_t route)
{
	const struct smtp_rcpt	*r = &tx->rcpts[i];
	char			 k[RS_KEY_MAX];

	if (kind == RS_ROUTED && (r->dest != DEST_ROUTE || r->route != route))
		return (0);
	return (rs_key(k, sizeof(k), r->addr, kind) == 0 &&
	    strcmp(k, key) == 0);
}

/* addr is in tx's set kind (with route, for RS_ROUTED) */
int
rcpt_set_has(const struct smtp_tx *tx, int kind, const char *addr,
    uint32_t route)
{
	const struct rcpt_set	*rs = &tx->rset[kind];
	char			 key[RS_KEY_MAX];
	uint32_t		 h;
	size_t			 j;

	if (rs->size == 0 || rs_key(key, sizeof(key), addr, kind) == -1)
		return (0);
	h = rs_hash(key, kind == RS_ROUTED ? route : 0);
	for (j = h & (rs->size - 1); rs->slot[j].idx != 0;
	    j = (j + 1) & (rs->size - 1))
		if (rs->slot[j].hash == h && rs_match(tx, rs->slot[j].idx - 1,
		    kind, key, route))
			return (1);
	return (0);
}

static void
rs_put(struct rcpt_set *rs, uint32_t h, uint32_t idx)
{
	size_t	j;

	for (j = h & (rs->size - 1); rs->slot[j].idx != 0;
	    j = (j + 1) & (rs->size - 1))
		;
	rs->slot[j].hash = h;
	rs->slot[j].idx = idx;
	rs->n++;
}

/* room for one more in rs: its slots at most half full.  0, -1 */
static int
rs_grow(struct rcpt_set *rs)
{
	struct rcpt_set	 old = *rs;
	size_t		 i;

	if (2 * (rs->n + 1) <= rs->size)
		return (0);
	rs->size = old.size == 0 ? 16 : 2 * old.size;
	if ((rs->slot = calloc(rs->size, sizeof(*rs->slot))) == NULL) {
		*rs = old;
		return (-1);
	}
	rs->n = 0;
	for (i = 0; i < old.size; i++)
		if (old.slot[i].idx != 0)
			rs_put(rs, old.slot[i].hash, old.slot[i].idx);
	free(old.slot);
	return (0);
}

/* tx->rcpts[i] into both sets: 0, or -1 (out of memory) */
int
rcpt_set_add(struct smtp_tx *tx, size_t i)
{
	const struct smtp_rcpt	*r = &tx->rcpts[i];
	char			 key[RS_KEY_MAX];
	int			 kind;

	for (kind = 0; kind < RS_KINDS; kind++) {
		if ((kind == RS_ROUTED && r->dest != DEST_ROUTE) ||
		    rs_key(key, sizeof(key), r->addr, kind) == -1)
			continue;
		if (rs_grow(&tx->rset[kind]) == -1)
			return (-1);
		rs_put(&tx->rset[kind], rs_hash(key, kind == RS_ROUTED ?
		    r->route : 0), (uint32_t)i + 1);
	}
	return (0);
}

void
rcpt_set_free(struct smtp_tx *tx)
{
	int	kind;

	for (kind = 0; kind < RS_KINDS; kind++) {
		free(tx->rset[kind].slot);
		memset(&tx->rset[kind], 0, sizeof(tx->rset[kind]));
	}
}

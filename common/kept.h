/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The values of the last few keys a process worked out something for (a
 * document's rewrite plan, a message's part offsets, a decoded public
 * key), so that the same bytes again find it without the work.  A key is
 * two byte strings, equal only when both are; the most recently used is
 * first and the least recently used gives way.  Nothing here goes stale:
 * a value depends on its key's bytes alone.
 *
 *	static struct kept_slot	 slots[4];
 *	static struct kept	 cache = KEPT_INIT(slots, 65536, thing_free);
 */
#ifndef MH_KEPT_H
#define MH_KEPT_H

#include <stddef.h>

struct kept_slot {
	char		*key;		/* the first part, then the second */
	size_t		 len1, len;
	void		*val;
};

struct kept {
	struct kept_slot	*slots;
	size_t			 nslots;
	size_t			 max;		/* longest key kept */
	void			(*val_free)(void *);
};

#define KEPT_INIT(slots, max, val_free)					\
	{ (slots), sizeof(slots) / sizeof((slots)[0]), (max), (val_free) }

/* the value kept for the key k1 k2, now first; NULL if there is none */
void	*kept_find(struct kept *, const void *k1, size_t len1,
	    const void *k2, size_t len2);
/*
 * val kept first for the key k1 k2 (not kept already), the least recently
 * used value freed if every slot is taken: 0, and the cache owns val; -1
 * (the key too long, or no memory), and the caller still does.
 */
int	 kept_add(struct kept *, const void *k1, size_t len1,
	    const void *k2, size_t len2, void *val);
/* every value freed, every slot empty */
void	 kept_clear(struct kept *);

#endif

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
#include <stdlib.h>
#include <string.h>

#include "kept.h"

/* slot i moved first, the slots before it one down */
static void
kept_first(struct kept *c, size_t i)
{
	struct kept_slot	 s = c->slots[i];

	memmove(&c->slots[1], &c->slots[0], i * sizeof(c->slots[0]));
	c->slots[0] = s;
}

void *
kept_find(struct kept *c, const void *k1, size_t len1, const void *k2,
    size_t len2)
{
	struct kept_slot	*s;
	size_t			 i;

	for (i = 0; i < c->nslots && c->slots[i].key != NULL; i++) {
		s = &c->slots[i];
		/* no memcmp of an empty part: it may be NULL */
		if (s->len1 != len1 || s->len - len1 != len2 ||
		    (len1 > 0 && memcmp(s->key, k1, len1) != 0) ||
		    (len2 > 0 && memcmp(s->key + len1, k2, len2) != 0))
			continue;
		kept_first(c, i);
		return (c->slots[0].val);
	}
	return (NULL);
}

int
kept_add(struct kept *c, const void *k1, size_t len1, const void *k2,
    size_t len2, void *val)
{
	struct kept_slot	*last = &c->slots[c->nslots - 1];
	char			*key;

	if (len1 > c->max || len2 > c->max - len1 ||
	    (key = malloc(len1 + len2 + 1)) == NULL)
		return (-1);
	if (len1 > 0)
		memcpy(key, k1, len1);
	if (len2 > 0)
		memcpy(key + len1, k2, len2);
	if (last->key != NULL) {
		free(last->key);
		c->val_free(last->val);
	}
	last->key = key;
	last->len1 = len1;
	last->len = len1 + len2;
	last->val = val;
	kept_first(c, c->nslots - 1);
	return (0);
}

void
kept_clear(struct kept *c)
{
	size_t	 i;

	for (i = 0; i < c->nslots; i++) {
		if (c->slots[i].key == NULL)
			continue;
		free(c->slots[i].key);
		c->val_free(c->slots[i].val);
	}
	memset(c->slots, 0, c->nslots * sizeof(c->slots[0]));
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/kept.c: a key of two parts finds its value only when both parts
 * are equal; a find makes the value the most recently used; a new key
 * with every slot taken frees the least recently used value; a key over
 * the limit is not kept and stays the caller's; kept_clear frees every
 * value once; an empty part may be NULL (checked by UBSan in
 * sanitize-test: no NULL reaches memcmp).
 */
#include <stdlib.h>
#include <string.h>

#include "kept.h"
#include "tap.h"

static int	 freed[16];

static void
val_free(void *v)
{
	freed[*(int *)v]++;
}

static int	 vals[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
		    14, 15 };

/* the value of key s (split after n bytes), or -1 */
static int
find(struct kept *c, const char *s, size_t n)
{
	int	*v = kept_find(c, s, n, s + n, strlen(s) - n);

	return (v != NULL ? *v : -1);
}

static int
add(struct kept *c, const char *s, size_t n, int i)
{
	return (kept_add(c, s, n, s + n, strlen(s) - n, &vals[i]));
}

static int
nfreed(void)
{
	int	 i, n = 0;

	for (i = 0; i < 16; i++)
		n += freed[i];
	return (n);
}

int
main(void)
{
	static struct kept_slot	 slots[3];
	static struct kept	 c = KEPT_INIT(slots, 16, val_free);

	is_int(c.nslots, 3, "KEPT_INIT counts the slots");
	is_int(find(&c, "abc", 1), -1, "an empty cache finds nothing");

	is_int(add(&c, "abc", 1, 1), 0, "key a|bc kept");
	is_int(find(&c, "abc", 1), 1, "a|bc found");
	is_int(find(&c, "abc", 2), -1, "ab|c: the same bytes, split "
	    "elsewhere, is another key");
	is_int(find(&c, "abd", 1), -1, "a|bd: another second part");
	is_int(find(&c, "xbc", 1), -1, "x|bc: another first part");
	is_int(find(&c, "abcd", 1), -1, "a|bcd: longer");
	is_int(find(&c, "ab", 1), -1, "a|b: a prefix");

	is_int(add(&c, "abc", 2, 2), 0, "ab|c kept beside it");
	is_int(add(&c, "", 0, 3), 0, "the empty key kept");
	is_int(find(&c, "", 0), 3, "the empty key found");
	is_int(nfreed(), 0, "nothing freed with a free slot");

	/* a|bc used again leaves ab|c the least recently used */
	is_int(find(&c, "abc", 1), 1, "a|bc used again");
	is_int(add(&c, "zzz", 3, 4), 0, "a fourth key in three slots");
	is_int(freed[2], 1, "the least recently used (ab|c) freed");
	is_int(nfreed(), 1, "and only it");
	is_int(find(&c, "abc", 2), -1, "ab|c gone");
	is_int(find(&c, "abc", 1), 1, "a|bc still kept");
	is_int(find(&c, "", 0), 3, "the empty key still kept");
	is_int(find(&c, "zzz", 3), 4, "zzz kept");

	is_int(add(&c, "0123456789abcdefg", 3, 5), -1, "a 17-byte key over "
	    "the limit of 16 is not kept");
	is_int(freed[5], 0, "and its value is not freed");
	is_int(nfreed(), 1, "nor any other");
	is_int(add(&c, "0123456789abcdef", 16, 6), 0, "16 bytes are kept");
	is_int(freed[1], 1, "a|bc, least recently used, gave way");
	is_int(find(&c, "0123456789abcdef", 16), 6, "16 bytes found");

	kept_clear(&c);
	is_int(freed[3] + freed[4] + freed[6], 3, "kept_clear frees the "
	    "three values");
	is_int(nfreed(), 5, "each once");
	is_int(find(&c, "zzz", 3), -1, "and finds nothing after");
	is_int(add(&c, "abc", 1, 7), 0, "a cleared cache keeps again");
	is_int(find(&c, "abc", 1), 7, "found");
	kept_clear(&c);
	is_int(nfreed(), 6, "cleared once more");

	/* an empty part may be NULL (html_rewrite.c passes NULL, 0) */
	is_int(kept_add(&c, "doc", 3, NULL, 0, &vals[8]), 0,
	    "doc with a NULL second part kept");
	ok(kept_find(&c, "doc", 3, NULL, 0) == &vals[8],
	    "and found by the same");
	ok(kept_find(&c, NULL, 0, "doc", 3) == NULL,
	    "a NULL first part and doc: another key");
	is_int(kept_add(&c, NULL, 0, NULL, 0, &vals[9]), 0,
	    "the empty key of two NULL parts kept");
	ok(kept_find(&c, NULL, 0, NULL, 0) == &vals[9], "and found");
	kept_clear(&c);
	is_int(nfreed(), 8, "both freed by kept_clear");
	return (tap_done());
}

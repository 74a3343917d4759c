/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: classification of returning mail (DSN, ARF, auto-replies)
 * on arbitrary bytes, as it comes to a VERP return path and to another
 * address of the bounce domain (a feedback loop's, an Exim bounce's).
 * Every event it makes (the first and one for each other recipient) is
 * one hookd can write to its spool and read back: its JSON decodes to a
 * record whose JSON is the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "bounce.h"
#include "fuzzfd.h"
#include "mh_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* ev through the spool's JSON and back is ev */
static void
round_trip(const struct event_record *ev)
{
	struct event_record	 back;
	json_t			*j, *j2;

	if ((j = mh_event_to_json(ev)) == NULL ||
	    mh_event_from_json(&back, j) != 0 ||
	    (j2 = mh_event_to_json(&back)) == NULL || !json_equal(j, j2))
		abort();
	json_decref(j);
	json_decref(j2);
	mh_event_clear(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		init;
	struct bounce_info	bi;
	struct event_record	e;
	size_t			i;
	int			fd;

	if (!init) {
		g_mime_init();
		init = 1;
	}
	if ((fd = fuzz_fd(data, size)) == -1)
		return (0);
	memset(&bi, 0, sizeof(bi));
	if (bounce_classify(fd, "mh-0123456789abcdef-u=example.net@b.test",
	    "b.test", "00", &bi) == -1)
		abort();
	round_trip(&bi.ev);
	for (i = 0; i < bi.nmore; i++) {
		bounce_event(&bi, i, &e);
		if (e.recipient[0] == '\0')
			abort();
		round_trip(&e);
	}
	bounce_clear(&bi);
	lseek(fd, 0, SEEK_SET);
	memset(&bi, 0, sizeof(bi));
	if (bounce_classify(fd, "fbl@b.test", "b.test", "00", &bi) == -1)
		abort();
	round_trip(&bi.ev);
	bounce_clear(&bi);
	close(fd);
	return (0);
}

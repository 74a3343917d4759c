/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: hookd's facts log (hookd/facts.c) on arbitrary bytes, as
 * it reads <spool>/events/facts.0 at start and a record for an event
 * (a message's facts, or a recipient's spelling).
 *
 * Invariants checked: a record taken is as long as the input at most,
 * its strings fit their arrays and are accepted as an event's fields
 * (mh_event_field_ok), and it encodes again to the very bytes it was
 * read from; the records one after another are read as the loader does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hookd.h"
#include "mh_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
field(const char *key, const char *s, size_t size)
{
	size_t	 len = strnlen(s, size);

	check(len < size && mh_event_field_ok(key, s, len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char	 again[FACTS_REC_MAX];
	struct event_record	 ev;
	size_t			 at = 0, n;
	int			 r;

	while (at < size && (r = facts_decode(data + at, size - at,
	    &ev)) > 0) {
		check((size_t)r <= size - at && r <= FACTS_REC_MAX);
		field("queue_id", ev.queue_id, sizeof(ev.queue_id));
		field("message_id", ev.message_id, sizeof(ev.message_id));
		field("sender", ev.sender, sizeof(ev.sender));
		field("tags", ev.tags, sizeof(ev.tags));
		field("group", ev.group, sizeof(ev.group));
		field("transaction", ev.transaction, sizeof(ev.transaction));
		field("subject", ev.subject, sizeof(ev.subject));
		field("recipient", ev.recipient, sizeof(ev.recipient));
		/* alike but for the magic: an older recipient's record
		 * ("MHR1") is written again as one of now ("MHR2") */
		n = facts_encode(&ev, again, sizeof(again));
		check(n == (size_t)r && memcmp(again + 4, data + at + 4,
		    n - 4) == 0);
		at += r;
	}
	return (0);
}

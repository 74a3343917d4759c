/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the event record's decoders on arbitrary bytes, and that
 * they take the same records:
 *	- as JSON (hookd's spool, relayd's outbox): what mh_event_from_json
 *	  accepts encodes again, and its wire form decodes to the same JSON;
 *	- as relayd's wire form (IMSG_EVENT): what mh_event_unpack accepts
 *	  the JSON decoder accepts, and it packs again;
 *	- as webd's compact form (IMSG_TRACK_EVENT): what
 *	  mh_event_track_unpack accepts encodes, and the JSON decoder
 *	  accepts that.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mh_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* ev as JSON is accepted by the JSON decoder, and is want's JSON too */
static void
json_again(const struct event_record *ev, const struct event_record *want)
{
	struct event_record	 back;
	json_t			*again, *w;

	if ((again = mh_event_to_json(ev)) == NULL ||
	    mh_event_from_json(&back, again) != 0)
		abort();
	if (want != NULL) {
		if ((w = mh_event_to_json(want)) == NULL ||
		    !json_equal(w, again))
			abort();
		json_decref(w);
	}
	mh_event_clear(&back);
	json_decref(again);
}

/* ev's wire form decodes to the same record */
static void
wire_again(const struct event_record *ev)
{
	struct event_record	 back;
	void			*buf;
	size_t			 len;

	if ((buf = mh_event_pack(ev, &len)) == NULL ||
	    mh_event_unpack(&back, buf, len) != 0)
		abort();
	json_again(&back, ev);
	mh_event_clear(&back);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_record	 ev;
	json_t			*j;

	if (mh_event_track_unpack(&ev, data, size) == 0) {
		json_again(&ev, NULL);
		mh_event_clear(&ev);
	}
	if (mh_event_unpack(&ev, data, size) == 0) {
		json_again(&ev, NULL);
		wire_again(&ev);
		mh_event_clear(&ev);
	}
	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if (mh_event_from_json(&ev, j) == 0) {
		json_again(&ev, NULL);
		wire_again(&ev);
		mh_event_clear(&ev);
	}
	json_decref(j);
	return (0);
}

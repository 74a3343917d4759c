/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the event record decoder (relayd and authd to hookd) on
 * arbitrary JSON; what it accepts encodes again.  The same bytes as
 * webd's compact form (IMSG_TRACK_EVENT): what mh_event_track_unpack
 * accepts encodes, and the JSON decoder accepts that.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mh_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_record	 ev, back;
	json_t			*j, *again;

	if (mh_event_track_unpack(&ev, data, size) == 0) {
		if ((again = mh_event_to_json(&ev)) == NULL ||
		    mh_event_from_json(&back, again) != 0)
			abort();
		mh_event_clear(&back);
		json_decref(again);
		mh_event_clear(&ev);
	}
	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if (mh_event_from_json(&ev, j) == 0) {
		if ((again = mh_event_to_json(&ev)) == NULL)
			abort();
		json_decref(again);
		mh_event_clear(&ev);
	}
	json_decref(j);
	return (0);
}

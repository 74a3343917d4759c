/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the event record decoder (relayd and authd to hookd) on
 * arbitrary JSON; what it accepts encodes again, and its line
 * (mh_event_line) is that JSON.  The same bytes as webd's compact form
 * (IMSG_TRACK_EVENT): what mh_event_track_unpack accepts has a line.
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
	struct event_record	 ev;
	json_t			*j, *again, *back;
	char			*line;
	size_t			 len;

	if (mh_event_track_unpack(&ev, data, size) == 0) {
		if ((line = mh_event_line(&ev, &len)) == NULL ||
		    (back = json_loadb(line, len, 0, NULL)) == NULL)
			abort();
		json_decref(back);
		free(line);
	}
	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if (mh_event_from_json(&ev, j) == 0) {
		if ((again = mh_event_to_json(&ev)) == NULL)
			abort();
		if ((line = mh_event_line(&ev, &len)) != NULL) {
			if ((back = json_loadb(line, len, 0, NULL)) == NULL ||
			    !json_equal(back, again))
				abort();
			json_decref(back);
			free(line);
		}
		json_decref(again);
		mh_event_clear(&ev);
	}
	json_decref(j);
	return (0);
}

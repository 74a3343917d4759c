/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the event record decoder (relayd and authd to hookd) on
 * arbitrary JSON; what it accepts encodes again.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "mh_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_record	 ev;
	json_t			*j, *again;

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

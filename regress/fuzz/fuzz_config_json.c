/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: config_from_json on arbitrary JSON (what a child
 * receives over imsg); whatever it accepts must encode again, and
 * that encoding is accepted and encodes to itself (a child that gets
 * the configuration again, on a reload, reads the same).
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*c;
	struct config	*c2;
	json_t		*j, *j2, *j3;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if ((c = config_from_json(j)) != NULL) {
		if ((j2 = config_to_json(c, CONF_SECRETS)) == NULL ||
		    (c2 = config_from_json(j2)) == NULL)
			abort();
		if ((j3 = config_to_json(c2, CONF_SECRETS)) == NULL ||
		    !json_equal(j2, j3))
			abort();
		json_decref(j3);
		config_free(c2);
		json_decref(j2);
		config_free(c);
	}
	json_decref(j);
	return (0);
}

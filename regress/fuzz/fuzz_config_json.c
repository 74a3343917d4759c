/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: config_from_json on arbitrary JSON (what a child
 * receives over imsg); whatever it accepts must encode again.
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*c;
	json_t		*j, *j2;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if ((c = config_from_json(j)) != NULL) {
		j2 = config_to_json(c, CONF_SECRETS);
		json_decref(j2);
		config_free(c);
	}
	json_decref(j);
	return (0);
}

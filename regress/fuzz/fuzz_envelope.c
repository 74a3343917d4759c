/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the envelope decoder (queue files, imsg) on arbitrary text;
 * whatever it accepts must encode again without loss.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 env, again;
	char		*text;
	size_t		 len;

	envelope_init(&env);
	if (envelope_decode(&env, (const char *)data, size) == 0) {
		if ((text = envelope_encode(&env, &len)) == NULL)
			abort();
		envelope_init(&again);
		if (envelope_decode(&again, text, len) == -1 ||
		    again.nrcpt != env.nrcpt ||
		    strcmp(again.sender, env.sender) != 0)
			abort();
		envelope_clear(&again);
		free(text);
	}
	envelope_clear(&env);
	return (0);
}

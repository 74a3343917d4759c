/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the envelope decoder (queue files, imsg) on arbitrary text;
 * whatever it accepts must encode again without loss: that text decodes
 * to the same recipients and sender, and encodes to itself again (a
 * queue file rewritten by relayd keeps every field).
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
	char		*text, *text2;
	size_t		 len, len2;

	envelope_init(&env);
	if (envelope_decode(&env, (const char *)data, size) == 0) {
		if ((text = envelope_encode(&env, &len)) == NULL)
			abort();
		envelope_init(&again);
		if (envelope_decode(&again, text, len) == -1 ||
		    again.nrcpt != env.nrcpt ||
		    strcmp(again.sender, env.sender) != 0)
			abort();
		if ((text2 = envelope_encode(&again, &len2)) == NULL ||
		    len2 != len || memcmp(text, text2, len) != 0)
			abort();
		free(text2);
		envelope_clear(&again);
		free(text);
	}
	envelope_clear(&env);
	return (0);
}

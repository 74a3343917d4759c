/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the tracking token decoder on arbitrary text.  Whatever it
 * accepts must be a well-formed token that encodes again to the same text,
 * or to its plain form when it was written in the comment form ('.' for
 * '-', token_comment_form).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct token_keys	 ks;
	struct token_key		 k;
	struct token			 t;
	char				 in[TOKEN_STR_MAX + 16];
	char				 out[TOKEN_STR_MAX];
	char				*p;

	if (ks.count == 0) {
		token_key_from_secret(&k, "fuzzing key, sixteen bytes+");
		token_keys_add(&ks, &k);
	}
	if (size >= sizeof(in))
		return (0);
	memcpy(in, data, size);
	in[size] = '\0';
	if (token_decode(in, &ks, &t) == 0) {
		for (p = in; *p != '\0'; p++)
			if (*p == '.')
				*p = '-';
		if (token_encode(&t, &ks.key[0], out, sizeof(out)) < 0 ||
		    strcmp(in, out) != 0)
			abort();
	}
	return (0);
}

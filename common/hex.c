/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
#include <stddef.h>

#include "hex.h"

void
mh_hex(char *out, const void *in, size_t len)
{
	static const char	 digits[] = "0123456789abcdef";
	const unsigned char	*p = in;
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

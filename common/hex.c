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

/* the value of a lower-case hex digit; -1 for anything else, NUL too */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

int
mh_hexdigit(int c)
{
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (hexval((unsigned char)c));
}

int
mh_ishex(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (hexval(s[i]) == -1)
			return (0);
	return (s[len] == '\0');
}

int
mh_unhex(void *out, const char *s, size_t len)
{
	unsigned char	*p = out;
	size_t		 i;

	/* all of it checked first: out is left as it was on -1 */
	for (i = 0; i < 2 * len; i++)
		if (hexval(s[i]) == -1)
			return (-1);
	for (i = 0; i < len; i++)
		p[i] = hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]);
	return (0);
}

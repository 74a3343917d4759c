/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Text that came from a peer, made valid UTF-8 for JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hookd.h"

/* length of the UTF-8 sequence at s (at most n bytes), 0 if invalid */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t		len, i;
	uint32_t	cp;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return (0);
	return (len);
}

/*
 * A peer's text made valid UTF-8 for JSON: at most max bytes, never a
 * sequence cut in two, NUL and invalid bytes turned into '?'.
 */
char *
text_utf8_clean(const char *src, size_t srclen, size_t max)
{
	const unsigned char	*s = (const unsigned char *)src;
	char			*out;
	size_t			 i = 0, o = 0, n;

	if ((out = malloc((srclen < max ? srclen : max) + 1)) == NULL)
		return (NULL);
	while (i < srclen) {
		n = s[i] == '\0' ? 0 : utf8_seq(s + i, srclen - i);
		if (o + (n ? n : 1) > max)
			break;
		if (n == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return (out);
}

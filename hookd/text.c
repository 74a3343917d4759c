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
#include "sanitize.h"

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

/*
 * Text that came from a peer, made fit for an SMTP reply.
 */
#include <stddef.h>

#include "hookd.h"

/* printable ASCII, the first line only, at most dstlen - 1 bytes */
void
reply_text_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t	i, o = 0;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen && src[i] != '\0' && o + 1 < dstlen; i++) {
		if (src[i] == '\r' || src[i] == '\n') {
			if (o > 0)
				break;
			continue;
		}
		dst[o++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libevent's evbuffer as a growing text buffer (evbuf.h).
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "evbuf.h"

char *
evbuf_finish(struct evbuffer *b, int err, size_t *lenp)
{
	char	*s = NULL;
	size_t	 len;

	if (b == NULL)
		return (NULL);
	len = evbuffer_get_length(b);
	if (!err && (s = malloc(len + 1)) != NULL) {
		if (evbuffer_remove(b, s, len) != (int)len) {
			free(s);
			s = NULL;
		} else {
			s[len] = '\0';
			if (lenp != NULL)
				*lenp = len;
		}
	}
	evbuffer_free(b);
	return (s);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libevent's evbuffer as a growing text buffer: append with evbuffer_add()
 * and evbuffer_add_printf(), then take the text out as one string.
 */
#ifndef MH_EVBUF_H
#define MH_EVBUF_H

#include <stddef.h>

struct evbuffer;

/*
 * The contents as a malloc'ed NUL-terminated string (its length in
 * *lenp when lenp is not NULL); frees b.  NULL, and b freed, when err is
 * set (an append failed) or memory is short.
 */
char	*evbuf_finish(struct evbuffer *b, int err, size_t *lenp);

#endif /* MH_EVBUF_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * One recipient's copy of a message through tracking (relayd/track.c),
 * as relayd makes it for mail of the tracked domain sender.test:
 * track_prepare(), then track_render() for rcpt@example.test.  NULL (and
 * *outlen 0) if either refuses the message.
 */
#ifndef MH_TRACKCOPY_H
#define MH_TRACKCOPY_H

#include <stdlib.h>

#include "config.h"
#include "track.h"

static inline char *
track_copy(const struct config *conf, const char *msg, size_t len,
    size_t *outlen)
{
	struct track_msg	*m;
	char			*out;

	*outlen = 0;
	if ((m = track_prepare(conf, "0123456789abcdef", "sender.test", msg,
	    len)) == NULL)
		return (NULL);
	out = track_render(m, "rcpt@example.test", outlen);
	track_free(m);
	return (out);
}

#endif /* MH_TRACKCOPY_H */

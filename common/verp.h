/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP return paths on the bounce domain:
 *	mh-<msgid>-<local>=<domain>@<bounce_domain>
 * so that a bounce names the message and the recipient it is about.
 */
#ifndef MH_VERP_H
#define MH_VERP_H

#include <stddef.h>

#include "envelope.h"

#define VERP_PREFIX	"mh-"

/* 0 ok, -1 if the result does not fit or an argument is malformed */
int	verp_encode(char *buf, size_t len, const char *msgid, const char *rcpt,
	    const char *bounce_domain);
/* 0 and msgid, rcpt filled; -1 if the address is not one of ours */
int	verp_decode(const char *addr, const char *bounce_domain,
	    char msgid[MH_MSGID_LEN], char *rcpt, size_t rcptlen);

#endif /* MH_VERP_H */

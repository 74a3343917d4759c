/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the header walk and the envelope's Message-ID and Subject
 * (common/msghdr.c) on arbitrary bytes, as relayd and hookd read a
 * submitted or received message; what it keeps is NUL-terminated text
 * without CR or LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "envelope.h"
#include "msghdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t	 nfields;

static void
field(void *arg, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	nfields++;
	if (memchr(name, ':', nlen) != NULL)
		abort();	/* the name ends at the first colon */
	(void)msghdr_envelope(arg, name, nlen, value, vlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct envelope		 env;

	if (!init) {
		g_mime_init();
		init = 1;
	}
	envelope_init(&env);
	nfields = 0;
	msghdr_walk((const char *)data, size, field, &env);
	if (nfields > size ||
	    strpbrk(env.message_id, "\r\n") != NULL ||
	    strpbrk(env.subject, "\r\n") != NULL)
		abort();
	envelope_clear(&env);
	return (0);
}

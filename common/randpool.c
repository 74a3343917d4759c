/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Pooled random bytes for ids (randpool.h).
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "randpool.h"

static __thread unsigned char	 pool[4096];
static __thread size_t		 left;

static void
pool_forget(void)
{
	explicit_bzero(pool, sizeof(pool));
	left = 0;
}

void
mh_random_buf(void *buf, size_t len)
{
	static int	 atfork;
	unsigned char	*at;

	if (len > RANDPOOL_MAX) {
		arc4random_buf(buf, len);
		return;
	}
	if (left < len) {
		if (!atfork && pthread_atfork(NULL, NULL, pool_forget) == 0)
			atfork = 1;
		arc4random_buf(pool, sizeof(pool));
		/* without the fork hook nothing is kept for later */
		left = atfork ? sizeof(pool) : len;
	}
	at = pool + sizeof(pool) - left;
	memcpy(buf, at, len);
	explicit_bzero(at, len);
	left -= len;
}

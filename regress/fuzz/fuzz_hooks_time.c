/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: the TIME of "mhctl hooks replay ENDPOINT --since
 * TIME" as hookd parses it (hookd/hooks.c): seconds since the epoch, an
 * ISO 8601 UTC time or a duration ago.  A time it accepts is not
 * negative and, for a duration, not after now.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hookd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 buf[64];
	time_t	 now = 1796083200, t;

	if (size >= sizeof(buf))
		return (0);
	memcpy(buf, data, size);
	buf[size] = '\0';
	t = hooks_parse_time(buf, now);
	if (t < -1)
		abort();
	if (t >= 0 && buf[0] != '\0' && strchr("smhd",
	    buf[strlen(buf) - 1]) != NULL && strchr(buf, '-') == NULL &&
	    t > now)
		abort();
	return (0);
}

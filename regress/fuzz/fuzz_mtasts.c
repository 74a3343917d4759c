/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: an MTA-STS policy as served by a policy host (RFC 8461 3.2),
 * then its mx patterns against a host name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy	 pol;
	size_t			 i;

	if (mtasts_parse((const char *)data, size, &pol) == -1)
		return (0);
	if (pol.nmx > STS_MAX_MX || pol.max_age < 0 ||
	    pol.mode < STS_NONE || pol.mode > STS_ENFORCE)
		abort();
	for (i = 0; i < pol.nmx; i++)
		if (memchr(pol.mx[i], '\0', sizeof(pol.mx[i])) == NULL)
			abort();
	(void)mtasts_mx_match(&pol, "mx1.example.net.");
	return (0);
}

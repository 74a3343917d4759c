/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: an MTA-STS policy as served by a policy host (RFC 8461 3.2),
 * then its mx patterns against a host name.  Each mx pattern kept is a
 * lower case name (after one "*."), and the host it names (the name, or
 * a name one label under a wildcard's), with or without its final dot,
 * matches the policy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_mx(const struct sts_policy *pol, const char *mx)
{
	char		 host[300];
	const char	*d = strncmp(mx, "*.", 2) == 0 ? mx + 2 : mx;

	if (*d == '\0' || strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789.-")
	    != strlen(d))
		abort();
	snprintf(host, sizeof(host), "%s%s", d == mx ? "" : "x.", d);
	if (!mtasts_mx_match(pol, host))
		abort();
	strlcat(host, ".", sizeof(host));
	if (!mtasts_mx_match(pol, host))
		abort();
}

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
	for (i = 0; i < pol.nmx; i++)
		check_mx(&pol, pol.mx[i]);
	(void)mtasts_mx_match(&pol, "mx1.example.net.");
	return (0);
}

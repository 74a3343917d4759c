/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: a _smtp._tls TXT record (RFC 8460 3) as DNS hands it over,
 * its rua list, and the address of each mailto: rua, which becomes an
 * envelope recipient and a To: header of a report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailhook.h"
#include "relayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 rec[1024], rua[4][TLSRPT_RUA_MAX], addr[MH_ADDR_MAX];
	int	 i, n;

	if (size >= sizeof(rec))
		return (0);
	memcpy(rec, data, size);
	rec[size] = '\0';
	if ((n = tlsrpt_record(rec, rua, 4)) < 0)
		return (0);
	if (n > 4)
		abort();
	for (i = 0; i < n; i++) {
		if (memchr(rua[i], '\0', sizeof(rua[i])) == NULL ||
		    strpbrk(rua[i], ",; \t") != NULL)
			abort();
		if (strncmp(rua[i], "mailto:", 7) != 0 ||
		    tlsrpt_mailto(rua[i] + 7, addr, sizeof(addr)) == -1)
			continue;
		if (strpbrk(addr, " \t\r\n<>\"(),:;\\[]%?") != NULL ||
		    strchr(addr, '@') == NULL || strlen(addr) >= MH_ADDR_MAX)
			abort();
	}
	return (0);
}

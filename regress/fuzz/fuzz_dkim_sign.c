/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: relayd's DKIM signing input paths on arbitrary bytes: the From:
 * domain of a submitted message's header section (which key signs it)
 * and the check of the signer's answer.  A domain found must be a lower
 * case domain name; an answer accepted must be DKIM-Signature lines.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "config.h"
#include "relayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;
	char		 domain[MH_NAME_MAX];
	size_t		 i;

	if (!init) {
		g_mime_init();
		init = 1;
	}
	if (dkim_from_domain((const char *)data, size, domain,
	    sizeof(domain)) >= 0) {
		if (config_check_domain(domain) == -1)
			abort();
		for (i = 0; domain[i] != '\0'; i++)
			if (isupper((unsigned char)domain[i]))
				abort();
	}
	if (dkim_sig_lines_ok((const char *)data, size) == 0 &&
	    (size < 17 || strncasecmp((const char *)data, "DKIM-Signature:", 15) != 0 ||
	    memchr(data, '\0', size) != NULL))
		abort();
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: the JSON API's request body to message path
 * (webd/apimsg.c), as webd runs it: jansson with duplicate keys refused,
 * then apimsg_build.  A built message has CRLF lines only, no NUL, fits
 * the size limit and names its sender and recipients; a refusal has a
 * status and a code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apimsg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	static const char *const doms[] = { "sender.test", NULL };
	struct api_limits	 lim = { 64 * 1024, 10, "mx.test", NULL };
	struct api_msg		 m;
	struct api_error	 e;
	json_t			*j;
	size_t			 i;

	if (!init) {
		apimsg_init();
		init = 1;
	}
	if (size > 0 && (data[0] & 1))
		lim.domains = doms;
	if ((j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		return (0);
	if (apimsg_build(j, &lim, &m, &e) == 0) {
		if (m.len > lim.max_size || m.nrcpt == 0 ||
		    m.nrcpt > lim.max_rcpts || m.sender[0] == '\0' ||
		    memchr(m.data, '\0', m.len) != NULL)
			abort();
		for (i = 0; i < m.len; i++)
			if ((m.data[i] == '\n' && (i == 0 ||
			    m.data[i - 1] != '\r')) || (m.data[i] == '\r' &&
			    (i + 1 == m.len || m.data[i + 1] != '\n')))
				abort();
		apimsg_free(&m);
	} else if (e.status < 400 || e.code[0] == '\0')
		abort();
	json_decref(j);
	return (0);
}

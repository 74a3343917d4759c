/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: inbound rendering (GMime) of arbitrary bytes, in the three
 * POST formats; rendering must always succeed on a readable file.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct envelope		 env;
	struct mime_payload	 out;
	int			 fd, fmt;

	if (!init) {
		mime_init();
		init = 1;
	}
	if ((fd = memfd_create("msg", 0)) == -1)
		return (0);
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return (0);
	}
	envelope_init(&env);
	strlcpy(env.sender, "a@example.test", sizeof(env.sender));
	envelope_add_rcpt(&env, "b@example.test");
	for (fmt = FORMAT_JSON; fmt <= FORMAT_RAW; fmt++) {
		if (mime_render(fd, &env, "b@example.test", fmt, &out) == -1)
			abort();
		mime_payload_free(&out);
	}
	envelope_clear(&env);
	close(fd);
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: arbitrary bytes on an imsg channel never crash the reader.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mh_imsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mh_imsgbuf	ib;
	struct mh_imsg	im;
	int		sp[2];
	ssize_t		n;

	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return (0);
	mh_imsg_init(&ib, sp[1]);
	if (size > 0 && write(sp[0], data, size) != (ssize_t)size)
		goto out;
	close(sp[0]);
	sp[0] = -1;
	while (mh_imsg_read(&ib) > 0)
		;
	while ((n = mh_imsg_get(&ib, &im)) > 0)
		mh_imsg_free(&im);
out:
	mh_imsg_clear(&ib);
	if (sp[0] != -1)
		close(sp[0]);
	close(sp[1]);
	return (0);
}

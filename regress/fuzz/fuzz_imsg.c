/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: arbitrary bytes on an imsg channel never crash the reader,
 * and the messages it hands out are the input's bytes in order: each
 * header as sent, its payload the bytes after it with a NUL behind, no
 * descriptor (none was sent), the last one inside the input.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mh_imsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* im is the message at *at of data; *at moves past it */
static void
check(const struct mh_imsg *im, const uint8_t *data, size_t size,
    size_t *at)
{
	size_t	 n = MH_IMSG_DATA_SIZE(im);

	if (im->hdr.len < MH_IMSG_HDRSZ || im->hdr.len > size - *at ||
	    memcmp(&im->hdr, data + *at, MH_IMSG_HDRSZ) != 0 ||
	    im->fd != -1 || (n > 0) != (im->data != NULL))
		abort();
	if (n > 0 && (memcmp(im->data, data + *at + MH_IMSG_HDRSZ, n) != 0 ||
	    ((char *)im->data)[n] != '\0'))
		abort();
	*at += im->hdr.len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mh_imsgbuf	ib;
	struct mh_imsg	im;
	int		sp[2];
	ssize_t		n;
	size_t		at = 0;

	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return (0);
	mh_imsg_init(&ib, sp[1]);
	if (size > 0 && write(sp[0], data, size) != (ssize_t)size)
		goto out;
	close(sp[0]);
	sp[0] = -1;
	while (mh_imsg_read(&ib) > 0)
		;
	while ((n = mh_imsg_get(&ib, &im)) > 0) {
		if ((size_t)n != im.hdr.len)
			abort();
		check(&im, data, size, &at);
		mh_imsg_free(&im);
	}
out:
	mh_imsg_clear(&ib);
	if (sp[0] != -1)
		close(sp[0]);
	close(sp[1]);
	return (0);
}

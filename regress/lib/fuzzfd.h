/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * A fuzz target's input as the file a daemon reads (a message in the
 * queue): a memfd holding the bytes, its offset at the start.  -1 if
 * the file cannot be made or written.
 */
#ifndef MH_FUZZFD_H
#define MH_FUZZFD_H

#include <sys/mman.h>

#include <stdint.h>
#include <unistd.h>

static inline int
fuzz_fd(const uint8_t *data, size_t size)
{
	int	 fd;

	if ((fd = memfd_create("msg", 0)) == -1)
		return (-1);
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return (-1);
	}
	lseek(fd, 0, SEEK_SET);
	return (fd);
}

#endif /* MH_FUZZFD_H */

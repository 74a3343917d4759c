/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the history journal (common/history.c) reading a file of
 * the spool on arbitrary bytes: a restart loads it (with an index made
 * of the same bytes when the first one is odd, else by reading it), then
 * the records of an id are looked up; whatever comes back is an array
 * of objects, in time order.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 dir[] = "/tmp/mh-fuzzhist.XXXXXX";
static int	 dfd = -1, hfd = -1;

static void
put(const char *name, const uint8_t *data, size_t size)
{
	int	 fd;

	if ((fd = openat(hfd, name, O_CREAT | O_TRUNC | O_WRONLY, 0600)) ==
	    -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

static void
clear(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	if ((fd = dup(hfd)) == -1 || (d = fdopendir(fd)) == NULL)
		abort();
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(hfd, de->d_name, 0);
	closedir(d);
}

static void
check(json_t *a)
{
	json_t	*r;
	size_t	 i;
	double	 t = -1e300, u;

	if (!json_is_array(a))
		abort();
	json_array_foreach(a, i, r) {
		if (!json_is_object(r))
			abort();
		u = json_number_value(json_object_get(r, "time"));
		if (u < t && json_object_get(r, "time") != NULL)
			abort();
		if (json_object_get(r, "time") != NULL)
			t = u;
	}
	json_decref(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 id[17];

	if (dfd == -1) {
		if (mkdtemp(dir) == NULL ||
		    (dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 ||
		    mkdirat(dfd, "h", 0700) == -1 ||
		    (hfd = openat(dfd, "h", O_RDONLY | O_DIRECTORY)) == -1)
			abort();
	}
	clear();
	put("100", data, size);
	if (size > 0 && (data[0] & 1))
		put("100.idx", data, size);
	if (history_init(NULL, dfd, "h", 3600, NULL) == -1)
		abort();
	check(history_get("00000000000000bb"));
	if (size >= 16) {
		memcpy(id, data, 16);
		id[16] = '\0';
		check(history_get(id));
		json_decref(history_last(id, "done"));
	}
	history_shutdown();
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * queue_suppress_append on a full file system (a small tmpfs, filled
 * up): an append that fails leaves the log as it was, not a part of its
 * line that the next append would join (both lost at the next start, as
 * the log's reader skips a line it cannot read).  Skipped (77) where no
 * tmpfs can be mounted.
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"
#include "tap.h"

static char	dir[] = "/tmp/mh-suppend-XXXXXX";

static off_t
size_of(const char *name)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	snprintf(path, sizeof(path), "%s/outbound/%s", dir, name);
	return (stat(path, &st) == -1 ? -1 : st.st_size);
}

/* every free block taken by outbound/filler */
static void
fill(void)
{
	char	 path[PATH_MAX], buf[4096];
	int	 fd;

	memset(buf, 'f', sizeof(buf));
	snprintf(path, sizeof(path), "%s/outbound/filler", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		exit(1);
	while (write(fd, buf, sizeof(buf)) > 0)
		;
	while (write(fd, buf, 1) > 0)
		;
	close(fd);
}

static void
cleanup(void)
{
	char	cmd[PATH_MAX + 16];

	(void)umount2(dir, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

int
main(void)
{
	char	 path[PATH_MAX], big[6000], *text;
	const char *first = "+\ta@example.test\t1\tmanual\t\n";
	const char *next = "+\tb@example.test\t2\tmanual\t\n";
	size_t	 len;
	off_t	 before;

	log_init(1, 0);
	if (mkdtemp(dir) == NULL)
		return (1);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") == -1) {
		printf("cannot mount a tmpfs: %s\n", strerror(errno));
		rmdir(dir);
		return (77);
	}
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/outbound", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/outbound/incoming", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/outbound/queue", dir);
	mkdir(path, 0700);
	if (queue_init(dir) == -1)
		return (1);
	is_int(queue_suppress_append(first, strlen(first)), 0,
	    "a line appended");
	before = size_of("suppress.log");
	fill();
	/* longer than what is left of the log's last block */
	memset(big, 'x', sizeof(big));
	memcpy(big, "+\t", 2);
	big[sizeof(big) - 1] = '\n';
	is_int(queue_suppress_append(big, sizeof(big)), -1,
	    "the disk full: an append fails");
	is_int(size_of("suppress.log"), before,
	    "and leaves the log as it was (no part of its line)");
	snprintf(path, sizeof(path), "%s/outbound/filler", dir);
	unlink(path);
	is_int(queue_suppress_append(next, strlen(next)), 0,
	    "room again: the next line appended");
	text = queue_suppress_log_read(&len);
	ok(text != NULL && len == strlen(first) + strlen(next) &&
	    memcmp(text, first, strlen(first)) == 0 &&
	    memcmp(text + strlen(first), next, strlen(next)) == 0,
	    "the log holds the two whole lines, nothing between them");
	free(text);
	queue_shutdown();
	return (tap_done());
}

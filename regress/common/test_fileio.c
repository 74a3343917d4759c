/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/fileio.c: durable replacement of a file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "tap.h"

static char	 dir[] = "/tmp/mh-fileio.XXXXXX";

static char *
slurp(const char *name)
{
	static char	 buf[256];
	char		 path[512];
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return (NULL);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return (buf);
}

static int
exists(const char *name)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return (access(path, F_OK) == 0);
}

/* a file with text, as a crash may leave one */
static int
put(int dfd, const char *name, const char *text)
{
	int	 fd, rc;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return (-1);
	rc = write_all(fd, text, strlen(text));
	close(fd);
	return (rc);
}

/* file_replace_copy: a prefix, then a source longer than one read */
static void
check_copy(int dfd)
{
	static char	 body[200 * 1024], want[sizeof(body) + 8];
	char		*got = NULL;
	struct stat	 st;
	size_t		 i;
	int		 in, fd;

	for (i = 0; i < sizeof(body); i++)
		body[i] = 'a' + i % 23;
	memcpy(want, "Hdr: x\n", 8);
	memcpy(want + 8, body, sizeof(body));
	ok(file_replace(dfd, "e.tmp", "e", body, sizeof(body), 0) == 0 &&
	    (in = openat(dfd, "e", O_RDONLY)) != -1, "a 200 KiB message");
	ok(file_replace_copy(dfd, "e.dkim", "e", "Hdr: x\n", 8, in,
	    FR_FSYNC | FR_SYNCDIR) == 0, "file_replace_copy puts a prefix "
	    "in front of it");
	close(in);
	if ((fd = openat(dfd, "e", O_RDONLY)) != -1 && fstat(fd, &st) == 0 &&
	    (size_t)st.st_size == sizeof(want) &&
	    (got = malloc(sizeof(want))) != NULL &&
	    read(fd, got, sizeof(want)) != (ssize_t)sizeof(want)) {
		free(got);
		got = NULL;
	}
	ok(got != NULL && memcmp(got, want, sizeof(want)) == 0,
	    "the new file: the prefix, then every byte of the old one");
	ok(!exists("e.dkim"), "the temporary name is gone");
	ok(file_replace_copy(dfd, "e.dkim", "e", "x", 1, -2, 0) == -1 &&
	    errno == EBADF && !exists("e.dkim"),
	    "a bad source fails, errno kept, the temporary file removed");
	free(got);
	if (fd != -1)
		close(fd);
	unlinkat(dfd, "e", 0);
}

int
main(void)
{
	char		 big[5000];
	struct stat	 st;
	int		 dfd, in;

	if (mkdtemp(dir) == NULL || (dfd = open(dir, O_RDONLY |
	    O_DIRECTORY)) == -1) {
		printf("not ok - temporary directory\n");
		return (1);
	}
	ok(file_replace(dfd, "a.tmp", "a", "one", 3, FR_FSYNC | FR_SYNCDIR)
	    == 0, "a new file is written");
	is_str(slurp("a"), "one", "with its content");
	ok(!exists("a.tmp"), "the temporary name is gone");
	ok(stat(dir, &st) == 0 && fstatat(dfd, "a", &st, 0) == 0 &&
	    (st.st_mode & 0777) == 0600, "mode 0600");
	ok(file_replace(dfd, "a.tmp", "a", "second", 6, FR_FSYNC) == 0,
	    "an existing file is replaced");
	is_str(slurp("a"), "second", "by the whole new content");
	ok(file_replace(dfd, "a.tmp", "a", "", 0, 0) == 0 &&
	    slurp("a") != NULL && slurp("a")[0] == '\0',
	    "an empty file can be written");

	/* a temporary file left longer than the new content (not opened
	 * with O_TRUNC: a pooled one is empty, this one is not) */
	ok(put(dfd, "f.tmp", "a longer leftover") == 0 &&
	    file_replace(dfd, "f.tmp", "f", "short", 5, 0) == 0,
	    "a longer file at the temporary name is written over");
	is_str(slurp("f"), "short", "and cut to the new content");
	in = openat(dfd, "f", O_RDONLY);
	ok(in != -1 && lseek(in, 2, SEEK_SET) == 2 &&
	    put(dfd, "f.tmp", "a longer leftover") == 0 &&
	    file_replace_copy(dfd, "f.tmp", "f", "<", 1, in, 0) == 0,
	    "file_replace_copy over a longer temporary file");
	is_str(slurp("f"), "<ort", "cut to the prefix and what was copied");
	if (in != -1)
		close(in);
	ok(!exists("f.tmp"), "no temporary file left");
	unlinkat(dfd, "f", 0);

	ok(file_replace_in(dir, "b", "in dir", 6, FR_FSYNC) == 0,
	    "file_replace_in writes dir/name");
	is_str(slurp("b"), "in dir", "with its content");
	ok(!exists("tmp-b"), "and leaves no tmp- file");

	ok(file_replace(dfd, "c.tmp", "nodir/c", "x", 1, FR_FSYNC) == -1 &&
	    errno == ENOENT, "a failed rename is an error (ENOENT)");
	ok(!exists("c.tmp"), "and removes the temporary file");

	ok(symlinkat("/etc/passwd-not-ours", dfd, "d.tmp") == 0 &&
	    file_replace(dfd, "d.tmp", "d", "x", 1, FR_FSYNC) == -1 &&
	    !exists("d"), "a symlink at the temporary name is not followed");
	unlinkat(dfd, "d.tmp", 0);

	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	ok(file_replace_in(dir, big, "x", 1, 0) == -1 &&
	    errno == ENAMETOOLONG, "a name too long for a path is refused");

	ok(fsync_dir(dir) == 0, "fsync_dir on a directory");
	ok(fsync_dir("/nonexistent-mh") == -1 && errno == ENOENT,
	    "fsync_dir on a missing directory fails with ENOENT");
	ok(write_all(-1, "x", 1) == -1 && errno == EBADF,
	    "write_all reports a bad descriptor");

	check_copy(dfd);

	unlinkat(dfd, "a", 0);
	unlinkat(dfd, "b", 0);
	close(dfd);
	rmdir(dir);
	return (tap_done());
}

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
static int	 strdup_fail;		/* the strdup calls before one fails */

/* libc's strdup, but out of memory when strdup_fail counts down to 1 */
char *
strdup(const char *s)
{
	size_t	 len = strlen(s) + 1;
	char	*p;

	if (strdup_fail > 0 && --strdup_fail == 0) {
		errno = ENOMEM;
		return (NULL);
	}
	if ((p = malloc(len)) != NULL)
		memcpy(p, s, len);
	return (p);
}

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

/* the outbox's filter: no bad-*, tmp-* removed */
static int
wanted(const char *name, void *arg)
{
	if (strncmp(name, "bad-", 4) == 0)
		return (0);
	if (strncmp(name, "tmp-", 4) == 0) {
		unlinkat(*(int *)arg, name, 0);
		return (0);
	}
	return (1);
}

/* dir_names_at: sorted, filtered, all or nothing */
static void
check_names(int dfd)
{
	const char	*names[] = { "j-2", "bad-j-1", "tmp-x", "j-10", "e.json" };
	char		**v;
	size_t		  n, i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put(dfd, names[i], "x");
	ok(dir_names_at(dfd, ".", wanted, &dfd, &v, &n) == 0 && n == 3,
	    "dir_names_at lists what the filter keeps, relative to dfd");
	ok(n == 3 && strcmp(v[0], "e.json") == 0 && strcmp(v[1], "j-10") ==
	    0 && strcmp(v[2], "j-2") == 0, "sorted by strcmp");
	ok(!exists("tmp-x") && exists("bad-j-1"),
	    "the filter may remove a file it is shown");
	dir_names_free(v, n);

	ok(dir_names_at(dfd, ".", NULL, NULL, &v, &n) == 0 && n == 4,
	    "no filter: every name but . and ..");
	dir_names_free(v, n);

	strdup_fail = 2;
	ok(dir_names_at(dfd, ".", NULL, NULL, &v, &n) == -1 &&
	    errno == ENOMEM && v == NULL && n == 0,
	    "out of memory at the second name: -1 ENOMEM, no part of the list");
	strdup_fail = 0;
	ok((v = dir_names(dir, "j-", &n)) != NULL && n == 2,
	    "dir_names: a prefix");
	dir_names_free(v, n);
	strdup_fail = 1;
	ok(dir_names(dir, "", &n) == NULL && n == 0,
	    "dir_names out of memory: none, not a part");
	strdup_fail = 0;

	ok(dir_names_at(dfd, "nodir", NULL, NULL, &v, &n) == -1 &&
	    errno == ENOENT && v == NULL && n == 0,
	    "a missing directory: -1 ENOENT");
	ok(dir_names_at(dfd, "j-2", NULL, NULL, &v, &n) == -1 &&
	    errno == ENOTDIR, "a file: -1 ENOTDIR");

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlinkat(dfd, names[i], 0);
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
	check_names(dfd);
	close(dfd);
	rmdir(dir);
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Recycled spool files (filepool.h).  Pooled files are named p<hex> in
 * the pool's directory and are always empty: a released file leaves its
 * directory by rename (atomic, like the unlink it replaces) and is
 * emptied there; what a crash leaves in between is emptied at open.
 * Handing one out is a rename that refuses to replace (RENAME_NOREPLACE,
 * the O_EXCL of a create).  Where the system has no such rename the pool
 * stays empty and every call is the plain open(2) or unlink(2).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filepool.h"
#include "log.h"

#if defined(__linux__) && defined(RENAME_NOREPLACE)
#define HAVE_NOREPLACE	1
#endif

struct filepool {
	char		 dir[PATH_MAX];
	unsigned long	*ids;		/* the pooled files, a stack */
	size_t		 n, max;
	unsigned long	 next;		/* the next free name */
};

/*
 * Empty a pooled file.  Through open(O_TRUNC) and close, not truncate(2):
 * ext4 (auto_da_alloc) marks a file truncated to zero and starts writing
 * it back at its next close, which would be the close of the next
 * message written into it, a disk write for every message, even one
 * removed before it needed to reach the disk; this close is that one,
 * on an empty file.
 */
static int
pool_empty(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1)
		return (-1);
	return (close(fd));
}

static int
pool_path(const struct filepool *fp, unsigned long id, char *buf,
    size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/p%lx", fp->dir, id) >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* a name left by an earlier run: kept (emptied) or removed */
static void
pool_adopt(struct filepool *fp, const char *name)
{
	char		 path[PATH_MAX];
	unsigned long	 id;
	char		*end;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", fp->dir, name) >=
	    sizeof(path))
		return;
	errno = 0;
	id = strtoul(name + 1, &end, 16);
	if (name[0] != 'p' || name[1] == '\0' || *end != '\0' || errno ||
	    fp->n == fp->max || pool_empty(path) == -1) {
		if (unlink(path) == -1)
			log_warn("filepool: unlink %s", path);
		return;
	}
	fp->ids[fp->n++] = id;
	if (id >= fp->next)
		fp->next = id + 1;
}

struct filepool *
filepool_open(const char *dir, size_t max)
{
	struct filepool	*fp;
	struct dirent	*de;
	DIR		*d;

	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		fatal("filepool: calloc");
	if (strlcpy(fp->dir, dir, sizeof(fp->dir)) >= sizeof(fp->dir)) {
		free(fp);
		errno = ENAMETOOLONG;
		return (NULL);
	}
#ifdef HAVE_NOREPLACE
	fp->max = max;
#else
	(void)max;
#endif
	if (fp->max > 0 &&
	    (fp->ids = calloc(fp->max, sizeof(*fp->ids))) == NULL)
		fatal("filepool: calloc");
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (d = opendir(dir)) == NULL) {
		filepool_close(fp);
		return (NULL);
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			pool_adopt(fp, de->d_name);
	closedir(d);
	return (fp);
}

void
filepool_close(struct filepool *fp)
{
	if (fp == NULL)
		return;
	free(fp->ids);
	free(fp);
}

/* the top pooled file renamed to path: 0, -1 with errno (EEXIST: path
 * exists; anything else: create it instead) */
static int
pool_take(struct filepool *fp, const char *path)
{
#ifdef HAVE_NOREPLACE
	char	 from[PATH_MAX];

	if (fp != NULL && fp->n > 0) {
		if (pool_path(fp, fp->ids[fp->n - 1], from,
		    sizeof(from)) == -1)
			return (-1);
		if (renameat2(AT_FDCWD, from, AT_FDCWD, path,
		    RENAME_NOREPLACE) == 0) {
			fp->n--;
			return (0);
		}
		if (errno == EEXIST)
			return (-1);
		/* gone or unusable: forget it, create instead */
		log_warn("filepool: %s", from);
		fp->n--;
	}
#else
	(void)fp;
	(void)path;
#endif
	errno = ENOENT;
	return (-1);
}

int
filepool_create(struct filepool *fp, const char *path)
{
	int	 fd, saved;

	if (pool_take(fp, path) == -1) {
		if (errno == EEXIST)
			return (-1);
		return (open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600));
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		saved = errno;
		unlink(path);
		errno = saved;
	}
	return (fd);
}

void
filepool_place(struct filepool *fp, const char *path)
{
	(void)pool_take(fp, path);
}

int
filepool_release(struct filepool *fp, const char *path)
{
	char	 to[PATH_MAX];

	if (fp == NULL || fp->n >= fp->max)
		return (unlink(path));
	if (pool_path(fp, fp->next, to, sizeof(to)) == -1)
		return (unlink(path));
	if (rename(path, to) == -1)
		return (-1);
	fp->next++;
	if (pool_empty(to) == -1) {
		log_warn("filepool: truncate %s", to);
		unlink(to);
		return (0);
	}
	fp->ids[fp->n++] = fp->next - 1;
	return (0);
}

size_t
filepool_count(const struct filepool *fp)
{
	return (fp == NULL ? 0 : fp->n);
}

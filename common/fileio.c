/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Durable replacement of a file (fileio.h).
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
#include <zlib.h>

#include "fileio.h"
#include "gsync.h"

static int
fsync_open(const char *path, int flags)
{
	int	fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | flags)) == -1)
		return (-1);
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return (rc);
}

int
fsync_dir(const char *dir)
{
	return (fsync_open(dir, O_DIRECTORY));
}

int
fsync_file(const char *path)
{
	return (fsync_open(path, O_NOFOLLOW));
}

/* the directory name is in, when name is a path (dfd AT_FDCWD) */
static int
dir_of(const char *name, char *dir, size_t len)
{
	const char	*slash;

	if ((slash = strrchr(name, '/')) == NULL)
		return (snprintf(dir, len, ".") >= (int)len ? -1 : 0);
	if (slash == name)
		return (snprintf(dir, len, "/") >= (int)len ? -1 : 0);
	if ((size_t)(slash - name) >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(dir, name, slash - name);
	dir[slash - name] = '\0';
	return (0);
}

int
write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

ssize_t
pread_eintr(int fd, void *buf, size_t len, off_t off)
{
	ssize_t	 n;

	while ((n = pread(fd, buf, len, off)) == -1 && errno == EINTR)
		;
	return (n);
}

/* after the rename: the directory's entry durable now or at the flush */
static int
sync_dir(int dfd, const char *name, int flags)
{
	char	 dir[PATH_MAX];

	if (!(flags & (FR_GROUP | FR_SYNCDIR)))
		return (0);
	if (dfd != AT_FDCWD) {
		if (flags & FR_GROUP)
			gsync_fd(dfd);
		return ((flags & FR_SYNCDIR) ? fsync(dfd) : 0);
	}
	if (dir_of(name, dir, sizeof(dir)) == -1)
		return (-1);
	if (flags & FR_GROUP)
		gsync_path(dir);
	return ((flags & FR_SYNCDIR) ? fsync_dir(dir) : 0);
}

/* all that is left to read on src, to fd; *total grows by its length */
static int
copy_rest(int src, int fd, off_t *total)
{
	char	 buf[64 * 1024];
	ssize_t	 n;

	for (;;) {
		if ((n = read(src, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0)
			return (0);
		if (write_all(fd, buf, n) == -1)
			return (-1);
		*total += n;
	}
}

/*
 * The temporary file's descriptor.  Not opened with O_TRUNC: it is
 * usually a file a spool's pool put there (filepool.h), and ext4
 * (auto_da_alloc) takes a truncation to zero for a file being replaced,
 * so the close after the write would start writing the data back on
 * the caller's thread, the event loop, a disk write per file; a file
 * that turns out longer than what was written is cut after (file_cut).
 * With FR_EXCL it is made here, 0600, or not at all.
 */
static int
open_tmp(int dfd, const char *tmp, int flags)
{
	return (openat(dfd, tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    ((flags & FR_EXCL) ? O_EXCL : 0), 0600));
}

int
file_open_regular(int dfd, const char *path, struct stat *st)
{
	struct stat	 sb;
	int		 fd, fl, e;

	if (st == NULL)
		st = &sb;
	if ((fd = openat(dfd, path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		/* a symbolic link (ELOOP), a socket (ENXIO) */
		if (errno == ELOOP || errno == ENXIO)
			errno = EFTYPE;
		return (-1);
	}
	if (fstat(fd, st) == -1)
		goto fail;
	if (!S_ISREG(st->st_mode)) {
		errno = EFTYPE;
		goto fail;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		goto fail;
	return (fd);

 fail:
	e = errno;
	close(fd);
	errno = e;
	return (-1);
}

int
file_cut(int fd, off_t len)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1)
		return (-1);
	if (st.st_size > len && ftruncate(fd, len) == -1)
		return (-1);
	return (0);
}

int
file_replace(int dfd, const char *tmp, const char *name, const void *data,
    size_t len, int flags)
{
	return (file_replace_copy(dfd, tmp, name, data, len, -1, flags));
}

int
file_replace_copy(int dfd, const char *tmp, const char *name,
    const void *data, size_t len, int src, int flags)
{
	return (file_replace_from(dfd, tmp, dfd, name, data, len, src, flags));
}

int
file_replace_from(int tdfd, const char *tmp, int dfd, const char *name,
    const void *data, size_t len, int src, int flags)
{
	off_t	 total = len;
	int	 fd, saved;

	if ((fd = open_tmp(tdfd, tmp, flags)) == -1)
		return (-1);
	if (write_all(fd, data, len) == -1)
		goto fail;
	if (src != -1 && copy_rest(src, fd, &total) == -1)
		goto fail;
	if (file_cut(fd, total) == -1)
		goto fail;
	if ((flags & FR_FSYNC) && fsync(fd) == -1)
		goto fail;
	if (flags & FR_GROUP)
		gsync_fd(fd);
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if ((flags & FR_FRESH) && unlinkat(dfd, name, 0) == -1 &&
	    errno != ENOENT)
		goto fail;
	if (renameat(tdfd, tmp, dfd, name) == -1)
		goto fail;
	return (sync_dir(dfd, name, flags));
 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(tdfd, tmp, 0);
	errno = saved;
	return (-1);
}

int
file_in_paths(const char *dir, const char *name, char tmp[PATH_MAX],
    char path[PATH_MAX])
{
	if ((size_t)snprintf(tmp, PATH_MAX, "%s/tmp-%s", dir, name) >=
	    PATH_MAX ||
	    (size_t)snprintf(path, PATH_MAX, "%s/%s", dir, name) >=
	    PATH_MAX) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
file_replace_in(const char *dir, const char *name, const void *data,
    size_t len, int flags)
{
	char	 tmp[PATH_MAX], path[PATH_MAX];

	if (file_in_paths(dir, name, tmp, path) == -1)
		return (-1);
	return (file_replace(AT_FDCWD, tmp, path, data, len, flags));
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* one more name at the end of *vp; -1 ENOMEM */
static int
names_add(char ***vp, size_t *np, size_t *capp, const char *name)
{
	char	**nv;
	size_t	  cap;

	if (*np == *capp) {
		cap = *capp ? *capp * 2 : 64;
		if ((nv = reallocarray(*vp, cap, sizeof(**vp))) == NULL)
			return (-1);
		*vp = nv;
		*capp = cap;
	}
	if (((*vp)[*np] = strdup(name)) == NULL)
		return (-1);
	(*np)++;
	return (0);
}

int
dir_names_at(int dfd, const char *dir, dir_filter_fn keep, void *arg,
    char ***vp, size_t *np)
{
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL;
	size_t		 n = 0, cap = 0;
	int		 fd, saved;

	*vp = NULL;
	*np = 0;
	if ((fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return (-1);
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (keep != NULL && !keep(de->d_name, arg)))
			continue;
		if (names_add(&v, &n, &cap, de->d_name) == -1) {
			errno = ENOMEM;
			break;
		}
	}
	saved = errno;
	closedir(d);
	if (saved != 0) {
		/* never a part of the list: the caller would take it whole */
		dir_names_free(v, n);
		errno = saved;
		return (-1);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), name_cmp);
	*vp = v;
	*np = n;
	return (0);
}

static int
has_prefix(const char *name, void *prefix)
{
	return (strncmp(name, prefix, strlen(prefix)) == 0);
}

char **
dir_names(const char *dir, const char *prefix, size_t *np)
{
	char	**v;

	if (dir_names_at(AT_FDCWD, dir, has_prefix, (void *)prefix, &v, np) ==
	    -1)
		return (NULL);
	return (v);
}

void
dir_names_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int64_t
file_data_check(int fd, size_t size)
{
	unsigned char	 buf[16384];
	uLong		 crc = crc32(0L, Z_NULL, 0);
	size_t		 off = 0, want;
	ssize_t		 n;

	while (off < size) {
		want = size - off < sizeof(buf) ? size - off : sizeof(buf);
		if ((n = pread_eintr(fd, buf, want, off)) == -1)
			return (-1);
		if (n == 0) {
			errno = EIO;	/* shorter than fstat said */
			return (-1);
		}
		crc = crc32(crc, buf, n);
		off += n;
	}
	return (DATA_CHECK(crc));
}

int
file_data_matches(int dfd, const char *name, size_t size, int64_t check)
{
	struct stat	 st;
	int64_t		 got = -1;
	int		 fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (0);
	if (fstat(fd, &st) == 0 && (size_t)st.st_size == size)
		got = file_data_check(fd, size);
	close(fd);
	return (got == check);
}

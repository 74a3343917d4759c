/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Recycled spool files (filepool.h).  Pooled files are named p<hex> in
 * the pool's directory and hold no byte of what they held before: a
 * released file leaves its directory by rename (atomic, like the unlink
 * it replaces) and is emptied there; what a crash leaves in between is
 * emptied at open.
 * Handing one out is a rename that refuses to replace (RENAME_NOREPLACE,
 * the O_EXCL of a create).  Where the system has no such rename the pool
 * stays empty and every call is the plain open(2) or unlink(2).
 *
 * The stack of pooled names is guarded by a mutex, held only to push or
 * pop a name: a file being emptied is on no stack, so nobody takes it.
 */
#include <sys/types.h>
#include <sys/stat.h>
#ifdef __linux__
#include <linux/falloc.h>
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "filepool.h"
#include "log.h"

#if defined(__linux__) && defined(RENAME_NOREPLACE)
#define HAVE_NOREPLACE	1
#endif

#define POOL_NAME_MAX	24		/* "p" and a hex unsigned long */

#if defined(__linux__) && defined(FALLOC_FL_ZERO_RANGE)
#define HAVE_ZERO_RANGE	1
#endif

struct filepool {
	int		 dfd;		/* the pool's directory */
	pthread_mutex_t	 mu;
	unsigned long	*ids;		/* the pooled files, a stack */
	size_t		 n, max;
	size_t		 busy;		/* released, being emptied */
	unsigned long	 next;		/* the next free name */
	int		 zeroed;	/* FILEPOOL_ZEROED, and possible */
};

static void
pool_name(unsigned long id, char buf[POOL_NAME_MAX])
{
	snprintf(buf, POOL_NAME_MAX, "p%lx", id);
}

/*
 * Empty a pooled file.  Through open(O_TRUNC) and close, not truncate(2):
 * ext4 (auto_da_alloc) marks a file truncated to zero and starts writing
 * it back at its next close, which would be the close of the next
 * message written into it, a disk write for every message, even one
 * removed before it needed to reach the disk; this close is that one,
 * on an empty file.
 */
static int
pool_truncate(const struct filepool *fp, const char *name)
{
	int	 fd;

	if ((fd = openat(fp->dfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return (-1);
	return (close(fd));
}

/*
 * A FILEPOOL_ZEROED pool's file keeps its first block, made to read as
 * zeros (FALLOC_FL_ZERO_RANGE: on ext4 the extent becomes unwritten, a
 * change of metadata); what lies past it is freed here, on the thread
 * that empties.  Freeing blocks is what costs on a file system mounted
 * with discard (ext4 sends the discard and waits for it), so a file of
 * one block (an envelope, a short message) frees none, and the writer's
 * cut (file_cut) of a file no longer than a block never frees one on
 * the writer's thread (smtpd's event loop).  0, or -1 with errno.
 */
static int
pool_zero(const struct filepool *fp, const char *name)
{
#ifdef HAVE_ZERO_RANGE
	struct stat	 st;
	off_t		 blk;
	int		 fd, saved;

	if ((fd = openat(fp->dfd, name, O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1)
		goto fail;
	blk = st.st_blksize > 0 ? st.st_blksize : 4096;
	if (st.st_size > blk && ftruncate(fd, blk) == -1)
		goto fail;
	if (st.st_size > 0 && fallocate(fd, FALLOC_FL_ZERO_RANGE |
	    FALLOC_FL_KEEP_SIZE, 0, blk) == -1)
		goto fail;
	return (close(fd));
 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
#else
	(void)fp;
	(void)name;
	errno = EOPNOTSUPP;
	return (-1);
#endif
}

/* whether files in dfd can be zeroed in place: tried on a file of its own */
static int
pool_zero_works(int dfd)
{
#ifdef HAVE_ZERO_RANGE
	const char	*probe = ".zero-probe";	/* pool_adopt skips it */
	int		 fd, ok;

	(void)unlinkat(dfd, probe, 0);
	if ((fd = openat(dfd, probe, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return (0);
	ok = write(fd, "x", 1) == 1 && fallocate(fd, FALLOC_FL_ZERO_RANGE |
	    FALLOC_FL_KEEP_SIZE, 0, 1) == 0;
	close(fd);
	(void)unlinkat(dfd, probe, 0);
	return (ok);
#else
	(void)dfd;
	return (0);
#endif
}

static int
pool_empty(const struct filepool *fp, const char *name)
{
	if (fp->zeroed && pool_zero(fp, name) == 0)
		return (0);
	return (pool_truncate(fp, name));
}

/* a name left by an earlier run: kept (emptied) or removed */
static void
pool_adopt(struct filepool *fp, const char *name)
{
	unsigned long	 id;
	char		*end;

	errno = 0;
	id = strtoul(name + 1, &end, 16);
	if (name[0] != 'p' || name[1] == '\0' || *end != '\0' || errno ||
	    fp->n == fp->max || pool_empty(fp, name) == -1) {
		if (unlinkat(fp->dfd, name, 0) == -1)
			log_warn("filepool: unlink %s", name);
		return;
	}
	fp->ids[fp->n++] = id;
	if (id >= fp->next)
		fp->next = id + 1;
}

struct filepool *
filepool_open(const char *dir, size_t max, int flags)
{
	struct filepool	*fp;
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		fatal("filepool: calloc");
	if ((errno = pthread_mutex_init(&fp->mu, NULL)) != 0)
		fatal("filepool: pthread_mutex_init");
#ifdef HAVE_NOREPLACE
	fp->max = max;
#else
	(void)max;
#endif
	if (fp->max > 0 &&
	    (fp->ids = calloc(fp->max, sizeof(*fp->ids))) == NULL)
		fatal("filepool: calloc");
	fp->dfd = -1;
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (fp->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (fd = dup(fp->dfd)) == -1) {
		filepool_close(fp);
		return (NULL);
	}
	fp->zeroed = (flags & FILEPOOL_ZEROED) && fp->max > 0 &&
	    pool_zero_works(fp->dfd);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
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
	if (fp->dfd != -1)
		close(fp->dfd);
	pthread_mutex_destroy(&fp->mu);
	free(fp->ids);
	free(fp);
}

/* the top pooled file off the stack, its id in *id: 0, or -1 if none */
static int
pool_pop(struct filepool *fp, unsigned long *id)
{
	int	 rc = -1;

	if (fp == NULL)
		return (-1);
	pthread_mutex_lock(&fp->mu);
	if (fp->n > 0) {
		*id = fp->ids[--fp->n];
		rc = 0;
	}
	pthread_mutex_unlock(&fp->mu);
	return (rc);
}

/* the top pooled file renamed to dfd's name: 0, -1 with errno (EEXIST:
 * name exists; anything else: create it instead) */
static int
pool_take(struct filepool *fp, int dfd, const char *name)
{
#ifdef HAVE_NOREPLACE
	char		 from[POOL_NAME_MAX];
	unsigned long	 id;
	int		 full;

	if (pool_pop(fp, &id) == -1)
		goto none;
	pool_name(id, from);
	if (renameat2(fp->dfd, from, dfd, name, RENAME_NOREPLACE) == 0)
		return (0);
	if (errno == EEXIST) {
		/* still pooled: back on the stack if a release did not
		 * fill it meanwhile */
		pthread_mutex_lock(&fp->mu);
		if ((full = fp->n + fp->busy >= fp->max) == 0)
			fp->ids[fp->n++] = id;
		pthread_mutex_unlock(&fp->mu);
		if (full)
			unlinkat(fp->dfd, from, 0);
		errno = EEXIST;
		return (-1);
	}
	/* gone or unusable: forget it (off the list, out of pool/),
	 * create instead */
	log_warn("filepool: %s", from);
	unlinkat(fp->dfd, from, 0);
 none:
#else
	(void)fp;
	(void)dfd;
	(void)name;
#endif
	errno = ENOENT;
	return (-1);
}

int
filepool_createat(struct filepool *fp, int dfd, const char *name)
{
	int	 fd, saved;

	if (pool_take(fp, dfd, name) == -1) {
		if (errno == EEXIST)
			return (-1);
		return (openat(dfd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600));
	}
	if ((fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		saved = errno;
		unlinkat(dfd, name, 0);
		errno = saved;
	}
	return (fd);
}

int
filepool_create(struct filepool *fp, const char *path)
{
	return (filepool_createat(fp, AT_FDCWD, path));
}

int
filepool_replaceat(struct filepool *fp, int dfd, const char *tmp,
    const char *name, const void *data, size_t len, int src, int flags)
{
	char		 from[POOL_NAME_MAX];
	unsigned long	 id;

	if (pool_pop(fp, &id) == -1)
		return (file_replace_copy(dfd, tmp, name, data, len, src,
		    flags));
	/* written where it lies, in the pool: one rename puts it in place */
	pool_name(id, from);
	return (file_replace_from(fp->dfd, from, dfd, name, data, len, src,
	    flags));
}

/* room for one more pooled file, taken (busy): 1, or 0 when full */
static int
pool_reserve(struct filepool *fp)
{
	int	 room;

	pthread_mutex_lock(&fp->mu);
	if ((room = fp->n + fp->busy < fp->max) != 0)
		fp->busy++;
	pthread_mutex_unlock(&fp->mu);
	return (room);
}

/* the file at the pool's name for id, a reserved slot: emptied, then
 * on the stack (removed if it cannot be emptied) */
static void
pool_fill(struct filepool *fp, unsigned long id)
{
	char	 name[POOL_NAME_MAX];
	int	 ok;

	pool_name(id, name);
	if ((ok = pool_empty(fp, name) == 0) == 0) {
		log_warn("filepool: truncate %s", name);
		unlinkat(fp->dfd, name, 0);
	}
	pthread_mutex_lock(&fp->mu);
	fp->busy--;
	if (ok)
		fp->ids[fp->n++] = id;
	pthread_mutex_unlock(&fp->mu);
}

int
filepool_releaseat(struct filepool *fp, int dfd, const char *name)
{
	char		 to[POOL_NAME_MAX];
	unsigned long	 id;
	int		 saved;

	if (fp == NULL || !pool_reserve(fp))
		return (unlinkat(dfd, name, 0));
	pthread_mutex_lock(&fp->mu);
	id = fp->next++;
	pthread_mutex_unlock(&fp->mu);
	pool_name(id, to);
	if (renameat(dfd, name, fp->dfd, to) == -1) {
		saved = errno;
		pthread_mutex_lock(&fp->mu);
		fp->busy--;
		pthread_mutex_unlock(&fp->mu);
		errno = saved;
		return (-1);
	}
	pool_fill(fp, id);
	return (0);
}

int
filepool_detachat(struct filepool *fp, int dfd, const char *name,
    unsigned long *id)
{
	char	 to[POOL_NAME_MAX];

	if (fp == NULL)
		return (unlinkat(dfd, name, 0));
	pthread_mutex_lock(&fp->mu);
	*id = fp->next++;
	pthread_mutex_unlock(&fp->mu);
	pool_name(*id, to);
	if (renameat(dfd, name, fp->dfd, to) == 0)
		return (1);
	if (errno == ENOENT)
		return (-1);
	return (unlinkat(dfd, name, 0));
}

void
filepool_keep(struct filepool *fp, unsigned long id)
{
	char	 name[POOL_NAME_MAX];

	if (pool_reserve(fp)) {
		pool_fill(fp, id);
		return;
	}
	/* full: it goes, unemptied (its blocks are freed once, here) */
	pool_name(id, name);
	if (unlinkat(fp->dfd, name, 0) == -1)
		log_warn("filepool: unlink %s", name);
}

int
filepool_dropat(struct filepool *fp, int dfd, const char *name)
{
	unsigned long	 id;

	return (filepool_detachat(fp, dfd, name, &id) == -1 ? -1 : 0);
}

int
filepool_release(struct filepool *fp, const char *path)
{
	return (filepool_releaseat(fp, AT_FDCWD, path));
}

size_t
filepool_count(struct filepool *fp)
{
	size_t	 n;

	if (fp == NULL)
		return (0);
	pthread_mutex_lock(&fp->mu);
	n = fp->n;
	pthread_mutex_unlock(&fp->mu);
	return (n);
}

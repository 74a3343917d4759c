/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Durable replacement of a file, the one writer of every spool: the data
 * goes to a temporary name, then is renamed over the final one, so that a
 * reader (or a restart) finds the old file or the whole new one, never a
 * part.  The temporary name is the caller's: its spool's recovery knows it.
 */
#ifndef MH_FILEIO_H
#define MH_FILEIO_H

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define FR_FSYNC	0x01	/* the file is on disk before the rename */
#define FR_SYNCDIR	0x02	/* the directory too, after the rename */
/* both left to the next group commit (gsync.h) */
#define FR_GROUP	0x04
/*
 * name is nobody's yet (a file not committed): it is removed first, so
 * that the rename creates it instead of replacing it.  ext4 writes a file
 * renamed over another out at once (auto_da_alloc), a write that group
 * commit would otherwise fold into its next flush.
 */
#define FR_FRESH	0x08
/*
 * tmp is made afresh (O_EXCL): a file or link there is an error, not
 * reused with its owner and mode (a secret's file: remove a stale one
 * first)
 */
#define FR_EXCL		0x10

/*
 * tmp and name are relative to the directory dfd, or paths with
 * AT_FDCWD (then the directory is the one name is in).  Every write, the
 * close and the rename are checked; on error the temporary file is
 * removed and errno tells why.  0 ok, -1 error (not logged).
 */
int	file_replace(int dfd, const char *tmp, const char *name,
	    const void *data, size_t len, int flags);
/* the same, data followed by all that is left to read on src */
int	file_replace_copy(int dfd, const char *tmp, const char *name,
	    const void *data, size_t len, int src, int flags);
/* file_replace_copy with tmp relative to the directory tdfd, name to dfd */
int	file_replace_from(int tdfd, const char *tmp, int dfd, const char *name,
	    const void *data, size_t len, int src, int flags);
/* the paths file_replace_in uses for dir/name; -1 ENAMETOOLONG */
int	file_in_paths(const char *dir, const char *name, char tmp[PATH_MAX],
	    char path[PATH_MAX]);
/* the same in directory dir: the temporary file is dir/tmp-name */
int	file_replace_in(const char *dir, const char *name, const void *data,
	    size_t len, int flags);
/* all of data to fd, across short writes and EINTR; 0 ok, -1 error */
int	write_all(int fd, const void *data, size_t len);
/* one pread(2), again after EINTR: the bytes read (fewer than len only
 * at the end of a regular file), 0 at its end, -1 on an error */
ssize_t	pread_eintr(int fd, void *buf, size_t len, off_t off);
/*
 * path (relative to dfd, or AT_FDCWD) opened for reading if it is a
 * regular file: opened O_NONBLOCK (a FIFO does not wait for a writer)
 * and O_NOFOLLOW (a symbolic link is not followed), then fstat'ed; the
 * descriptor (blocking again), its stat in *st if st is not NULL.  -1
 * and errno from open(2) or fstat(2), or EFTYPE: not a regular file (a
 * FIFO, a directory, a socket, a device, a symbolic link)
 */
#ifndef EFTYPE
#define EFTYPE	EMEDIUMTYPE
#endif
int	file_open_regular(int dfd, const char *path, struct stat *st);
/* fd cut to len bytes if it is longer (a pooled file just written with
 * len bytes, filepool.h; a log's torn tail); 0 ok, -1 error */
int	file_cut(int fd, off_t len);
/*
 * The sorted names in the directory dir (relative to dfd, or a path with
 * AT_FDCWD), but . and .., for which keep (if not NULL) returns nonzero;
 * keep may remove the file it is shown.  All or nothing: 0 and the whole
 * list in *vp and *np (NULL and 0 if empty), or -1 and errno (the
 * directory cannot be opened or read, or ENOMEM) with nothing in them,
 * never a part of the list, which a caller would take for all there is.
 */
typedef int (*dir_filter_fn)(const char *name, void *arg);
int	 dir_names_at(int dfd, const char *dir, dir_filter_fn keep, void *arg,
	    char ***vp, size_t *np);
/* dir_names_at of the path dir, the names starting with prefix ("" for
 * all); NULL and *np 0 if there are none or the list cannot be had */
char	**dir_names(const char *dir, const char *prefix, size_t *np);
void	 dir_names_free(char **, size_t);
/* fsync(2) of a directory by path */
int	fsync_dir(const char *);
/* fsync(2) of a file by path */
int	fsync_file(const char *);
/*
 * A spool's data-check (the envelope's "data-check", envelope.h): the
 * CRC-32 of a message file with bit 32 set, so that 0 means none.  An
 * envelope written in the same flush as its data records it; recovery
 * drops a message whose file no longer matches (its data never reached
 * the disk before a crash, and no 250 was sent for it).
 */
#define DATA_CHECK(crc)	((int64_t)(crc) | (1LL << 32))
/* the data-check of fd's first size bytes, read with pread; -1 (errno)
 * if they cannot be read whole */
int64_t	file_data_check(int fd, size_t size);
/* whether the file name in dfd is size bytes matching check */
int	file_data_matches(int dfd, const char *name, size_t size,
	    int64_t check);

#endif /* MH_FILEIO_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Recycled spool files (filepool.c).  A spool that creates and removes
 * files at the rate messages arrive pays an inode allocation and a free
 * for each: on ext4 without a journal every allocation scans past each
 * inode freed in the last seconds (recently_deleted()), which grows with
 * the rate.  A pool keeps removed files, emptied, in a directory of the
 * same file system and hands them out again by rename.  A pool may be
 * used from two threads (a release on gsync's flusher thread, a create on
 * the event loop).
 */
#ifndef MH_FILEPOOL_H
#define MH_FILEPOOL_H

#include <stddef.h>

struct filepool;

/*
 * dir: the pool's directory (created if missing), on the spool's file
 * system; at most max files are kept.  Files found there are emptied.
 * flags: 0, or FILEPOOL_ZEROED: a file keeps its first block (its size
 * at most that block's), made to read as zeros, where the file system
 * can (Linux's FALLOC_FL_ZERO_RANGE), so that reusing a short file
 * frees and allocates no disk block; a file handed out may then be
 * longer than empty, and whoever writes one cuts it to what it wrote
 * (file_cut(), fileio.h).  Either way no byte of an earlier content is
 * ever read from a file handed out.
 */
#define FILEPOOL_ZEROED		0x01
struct filepool	*filepool_open(const char *dir, size_t max, int flags);
void		 filepool_close(struct filepool *);
/* a new file at path, like open(path, O_RDWR|O_CREAT|O_EXCL, 0600): a
 * pooled one when there is one (FILEPOOL_ZEROED: perhaps not empty but
 * zeros); fd or -1 (errno) */
int		 filepool_create(struct filepool *, const char *path);
/*
 * dfd's name replaced whole by data and what is left to read on src (-1:
 * nothing), with file_replace_copy's flags (fileio.h): written into a
 * pooled file where it lies in the pool's directory and renamed from
 * there into place, one rename where a pooled file placed at tmp took
 * two; without a pooled file, file_replace_copy through tmp.
 */
int		 filepool_replaceat(struct filepool *, int dfd,
		    const char *tmp, const char *name, const void *data,
		    size_t len, int src, int flags);
/* remove path, like unlink(2): it leaves its directory at once and is
 * kept (emptied, or zeroed) if the pool has room; 0, or -1 (errno) */
int		 filepool_release(struct filepool *, const char *path);
/* the same relative to the directory dfd (AT_FDCWD: a path) */
int		 filepool_createat(struct filepool *, int dfd,
		    const char *name);
int		 filepool_releaseat(struct filepool *, int dfd,
		    const char *name);
/* filepool_releaseat in two steps, so that a file leaves its directory
 * at once even while emptying others waits for the disk: detach moves
 * name into the pool as it is (a rename, no block freed) under *id, not
 * yet handed out: 1; without a pool or where the rename fails it is
 * unlinked: 0; -1 (errno).  keep then empties a detached file and pools
 * it, or removes it when the pool is full. */
int		 filepool_detachat(struct filepool *, int dfd, const char *name,
		    unsigned long *id);
void		 filepool_keep(struct filepool *, unsigned long id);
/* remove name at once, for a process about to exit: detached, to be
 * emptied by the next filepool_open; 0, or -1 (errno) */
int		 filepool_dropat(struct filepool *, int dfd, const char *name);
/* files in the pool now */
size_t		 filepool_count(struct filepool *);

#endif /* MH_FILEPOOL_H */

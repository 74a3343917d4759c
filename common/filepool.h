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
 * FP_KEEP: a released file keeps its content and blocks when it is at
 * most FILEPOOL_KEEP_MAX long (emptying frees them, which on a file
 * system mounted with discard waits for the disk, and the next message
 * allocates them again); a larger one is emptied.  The taker writes
 * from the start and cuts the file to its own length before anyone
 * reads it (fileio.c does; smtpd does for its spool files), and gets a
 * write-only descriptor: it cannot read what an earlier message left.
 */
#define FP_KEEP			0x01
#define FILEPOOL_KEEP_MAX	(64 * 1024)

/* dir: the pool's directory (created if missing), on the spool's file
 * system; at most max files are kept.  Files found there are emptied
 * (FP_KEEP: those past FILEPOOL_KEEP_MAX). */
struct filepool	*filepool_open(const char *dir, size_t max, int flags);
void		 filepool_close(struct filepool *);
/* a new file at path, like open(path, O_RDWR|O_CREAT|O_EXCL, 0600): a
 * pooled one when there is one; fd or -1 (errno).  FP_KEEP: O_WRONLY,
 * and the file may hold an earlier content past what the taker writes */
int		 filepool_create(struct filepool *, const char *path);
/* put a pooled file at path, where a writer will open it with O_CREAT
 * and cut it to what it wrote (a temporary name, fileio.h); nothing
 * when the pool is empty or path exists */
void		 filepool_place(struct filepool *, const char *path);
/* remove path, like unlink(2): it leaves its directory at once and is
 * kept (emptied unless FP_KEEP) if the pool has room; 0, or -1 (errno) */
int		 filepool_release(struct filepool *, const char *path);
/* the same relative to the directory dfd (AT_FDCWD: a path) */
int		 filepool_createat(struct filepool *, int dfd, const char *name);
void		 filepool_placeat(struct filepool *, int dfd, const char *name);
int		 filepool_releaseat(struct filepool *, int dfd, const char *name);
/* remove name at once, for a process about to exit: moved into the pool
 * as it is, to be emptied by the next filepool_open as it empties what it
 * finds (unlinked where the move fails); 0, or -1 (errno) */
int		 filepool_dropat(struct filepool *, int dfd, const char *name);
/* files in the pool now */
size_t		 filepool_count(struct filepool *);

#endif /* MH_FILEPOOL_H */

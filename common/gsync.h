/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Group commit for a spool (gsync.c).
 *
 * Writers put their files in place without waiting for the disk and ask
 * to be called back once what they wrote is durable.  Once per event loop
 * pass, after the pass's I/O callbacks, everything written so far is
 * flushed with one syncfs(2) (on systems without it: an fsync(2) of every
 * descriptor named with gsync_fd) and the callbacks run in the order they
 * were registered.  A callback registered while the callbacks run waits
 * for the next flush, so a two-step commit (data durable, then the record
 * that makes it exist) costs two flushes shared by every message of the
 * pass.
 */
#ifndef MH_GSYNC_H
#define MH_GSYNC_H

struct event_base;
struct filepool;
struct json_t;

/* ok: 1 if everything written before the flush is on disk; 0: errno
 * tells why */
typedef void	(*gsync_fn)(int ok, void *arg);

/* fsfd: a directory on the spool's file system (kept, not closed) */
void	gsync_init(struct event_base *, int fsfd);
void	gsync_shutdown(void);
/* fd's data and metadata are part of the next flush (a dup is kept
 * where one syncfs does not cover the file system) */
void	gsync_fd(int fd);
/* the same for a file or directory by name */
void	gsync_path(const char *path);
/* fn NULL: nothing waits, but the flush happens this pass */
void	gsync_then(gsync_fn, void *arg);
/*
 * fsync(2) fd, then dfd (its directory; -1: none) on the flusher thread
 * with the next flush, and fn hears their result alone, not the
 * flush's (a file whose flush failed once: a syncfs may report that
 * error again, and a fresh file's own fsync is what tells whether it is
 * on disk).  The batch's files to remove are removed after it, and are
 * held back (gsync_hold) if it fails.  Both stay open until fn has
 * run.
 */
void	gsync_fsync_then(int fd, int dfd, gsync_fn, void *arg);
/* the same for what nobody waits on: the flush may start up to 20 ms
 * later, shared with what else comes meanwhile (a gsync_then() or a
 * release still has it start this pass) */
void	gsync_later(gsync_fn, void *arg);
/* remove dfd's name after the next flush, off the event loop (on the
 * flusher thread: an unlink may wait for the disk, e.g. a discard); a
 * name that does not exist is no error; if the flush fails, the name
 * stays (what it waited for may not be on disk) */
void	gsync_unlinkat(int dfd, const char *name);
/*
 * the files to remove registered so far (those of the next flush, and
 * any registered before it is handed over) are held back: they stay
 * after that flush, whatever its result, until gsync_release_held()
 * gives them to a later one (what they wait for is not durable yet,
 * and the flush would not tell).  A failed flush keeps its files for
 * good, held or not.  A stop leaves the held files in place.
 */
void	gsync_hold(void);
void	gsync_release_held(void);
/* the same, the file kept in pool for reuse (filepool.h) */
void	gsync_releaseat(struct filepool *pool, int dfd, const char *name);
/* the same at once, on the same thread: a file never made durable */
void	gsync_release_now(struct filepool *pool, int dfd, const char *name);
/* run the pending flush now (tests; a shutdown) */
void	gsync_flush(void);
/* a clean stop (the process exits next): flush what was written and
 * remove what waits for a flush, without running callbacks */
void	gsync_stop(void);
/* a flush is waiting or running */
int	gsync_busy(void);

/* what the flushes cost so far (show stats) */
struct gsync_stats {
	unsigned long long	 flushes;	/* syncfs (or fsync rounds) */
	unsigned long long	 waiters;	/* gsync_then callbacks run */
	unsigned long long	 flush_usec;	/* time spent flushing */
};
void	gsync_stats(struct gsync_stats *);
/* the same as {flushes, waiters, flush_ms} (show stats' spool_flushes) */
struct json_t	*gsync_stats_json(void);

#endif /* MH_GSYNC_H */

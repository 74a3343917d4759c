/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Group commit (gsync.h): one flush to the disk for everything a pass of
 * the event loop wrote, instead of an fsync per file.  On Linux the flush
 * is syncfs(2) on the spool's file system: it writes back every dirty
 * file there and commits the journal once, and (Linux >= 5.8) reports
 * write-back errors.  Elsewhere every descriptor named with gsync_fd is
 * fsynced.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gsync.h"
#include "log.h"

#if defined(__linux__)
#define HAVE_SYNCFS	1
#endif

struct gsync_cb {
	gsync_fn	 fn;
	void		*arg;
};

struct gsync_batch {
	struct gsync_cb	*cb;
	size_t		 ncb, cbcap;
	int		*fds;
	size_t		 nfd, fdcap;
};

static struct gsync_batch	 next;
static struct event		*flush_ev;
static int			 gs_fd = -1;

static void	flush_cb(evutil_socket_t, short, void *);

void
gsync_init(struct event_base *base, int fsfd)
{
	gsync_shutdown();
	if ((gs_fd = dup(fsfd)) == -1)
		fatal("gsync: dup");
	if (base != NULL && (flush_ev = evtimer_new(base, flush_cb,
	    NULL)) == NULL)
		fatal("gsync: evtimer_new");
}

void
gsync_shutdown(void)
{
	gsync_flush();
	if (flush_ev != NULL)
		event_free(flush_ev);
	flush_ev = NULL;
	if (gs_fd != -1)
		close(gs_fd);
	gs_fd = -1;
}

static void
schedule(void)
{
	struct timeval	 now = { 0, 0 };

	/* a zero timer runs after the I/O callbacks of this pass */
	if (flush_ev != NULL && !evtimer_pending(flush_ev, NULL))
		evtimer_add(flush_ev, &now);
}

void
gsync_fd(int fd)
{
#ifdef HAVE_SYNCFS
	(void)fd;
#else
	int	*v;

	if (next.nfd == next.fdcap) {
		next.fdcap = next.fdcap ? next.fdcap * 2 : 16;
		if ((v = reallocarray(next.fds, next.fdcap,
		    sizeof(*v))) == NULL)
			fatal("gsync: reallocarray");
		next.fds = v;
	}
	if ((next.fds[next.nfd] = dup(fd)) == -1)
		fatal("gsync: dup");
	next.nfd++;
#endif
}

void
gsync_path(const char *path)
{
#ifdef HAVE_SYNCFS
	(void)path;
#else
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("gsync: %s", path);
		return;
	}
	gsync_fd(fd);
	close(fd);
#endif
}

void
gsync_then(gsync_fn fn, void *arg)
{
	struct gsync_cb	*v;

	if (next.ncb == next.cbcap) {
		next.cbcap = next.cbcap ? next.cbcap * 2 : 32;
		if ((v = reallocarray(next.cb, next.cbcap, sizeof(*v))) == NULL)
			fatal("gsync: reallocarray");
		next.cb = v;
	}
	next.cb[next.ncb].fn = fn;
	next.cb[next.ncb].arg = arg;
	next.ncb++;
	if (flush_ev == NULL)
		gsync_flush();		/* no event loop: at once */
	else
		schedule();
}

/* make everything written so far durable; 0 on success */
static int
flush_disk(struct gsync_batch *b)
{
	int	 rc = 0;
#ifdef HAVE_SYNCFS
	(void)b;
	if (gs_fd == -1)
		sync();
	else if (syncfs(gs_fd) == -1) {
		log_warn("gsync: syncfs");
		rc = -1;
	}
#else
	size_t	 i;

	for (i = 0; i < b->nfd; i++) {
		if (fsync(b->fds[i]) == -1 && errno != EINVAL) {
			log_warn("gsync: fsync");
			rc = -1;
		}
		close(b->fds[i]);
	}
	if (gs_fd != -1 && fsync(gs_fd) == -1 && errno != EINVAL)
		rc = -1;
#endif
	return (rc);
}

void
gsync_flush(void)
{
	struct gsync_batch	 b;
	size_t			 i;
	int			 ok;

	if (next.ncb == 0 && next.nfd == 0)
		return;
	/* what the callbacks register goes to the next flush */
	b = next;
	memset(&next, 0, sizeof(next));
	ok = flush_disk(&b) == 0;
	for (i = 0; i < b.ncb; i++)
		if (b.cb[i].fn != NULL)
			b.cb[i].fn(ok, b.cb[i].arg);
	free(b.cb);
	free(b.fds);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	gsync_flush();
}

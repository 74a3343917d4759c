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
 *
 * With an event loop the flush runs on a thread of its own, so the loop
 * keeps reading and writing while the disk works: what is written
 * meanwhile waits for the next flush, which starts as soon as this one
 * ends (a pipelined commit).  The thread only flushes; every callback
 * runs on the loop, woken through a pipe.  A file that needs an fsync of
 * its own (gsync_fsync_then) has it there too, after the flush.  Files
 * to remove once the flush is done (gsync_unlinkat) are removed after
 * it, or put in their file pool (gsync_releaseat), by a second thread,
 * so that neither the callbacks nor the next flush wait for them.  That
 * thread only moves them out of their directories, a rename each; a
 * third empties them in the pool, which waits for the disk and can fall
 * behind under a sustained load: a delivered message must not stay in
 * the queue (sent again after a crash) for as long as that backlog
 * lasts.  A batch held back (gsync_hold) keeps its files to remove on
 * the loop after its flush, until gsync_release_held.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "filepool.h"
#include "gsync.h"
#include "log.h"

#if defined(__linux__)
#define HAVE_SYNCFS	1
#endif

struct gsync_cb {
	gsync_fn	 fn;
	void		*arg;
	int		 fd, dfd;	/* gsync_fsync_then's, else -1 */
	int		 err;		/* their fsync's errno */
};

struct gsync_unlink {
	struct filepool	*pool;		/* NULL: unlink */
	int		 dfd;
	char		 name[NAME_MAX + 1];
	unsigned long	 id;		/* detached: its name in the pool */
};

struct gsync_batch {
	struct gsync_cb	*cb;
	size_t		 ncb, cbcap;
	int		*fds;
	size_t		 nfd, fdcap;
	struct gsync_unlink *unl;
	size_t		 nunl, unlcap;
	size_t		 nlazy;		/* of ncb, gsync_later's */
	struct timespec	 lazy_since;	/* the first gsync_later */
	unsigned long long usec;	/* its flush took */
	int		 err;		/* a file it could not cover */
	int		 hold;		/* its files to gsync_release_held
					   (or a gsync_fsync_then's fsync
					   failed) */
};

/*
 * How long a batch of nothing but gsync_later() callbacks may wait before
 * its flush starts.  A flush costs about the same whatever it carries
 * (the file system's dirty inodes walked, a journal commit, a cache
 * flush of the disk): under a steady stream of such writes, one flush
 * per period instead of one after another.
 */
#define GSYNC_LAZY_USEC		20000

static struct gsync_batch	 next;
static struct gsync_stats	 stats;
static struct event		*flush_ev;
static int			 flush_now;	/* flush_ev fires this pass */
static int			 gs_fd = -1;
/* the files of held batches (gsync_hold), the loop's */
static struct gsync_unlink	*held;
static size_t			 nheld, heldcap;

/* the flusher thread: one batch at a time (fl.mu guards the fields) */
static struct {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 running;	/* the thread exists */
	int			 quit;
	int			 todo;		/* batch handed over */
	int			 busy;		/* handed over,
						   callbacks not run */
	int			 rc;		/* its flush's result */
	struct gsync_batch	 batch;
	int			 wake[2];	/* thread -> loop: done */
	struct event		*done_ev;
} fl = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .wake = { -1, -1 } };

/*
 * A thread working through a list of files, in the order they were given
 * (w.mu guards the list).  The releaser moves the files of flushed
 * batches out of their directories into their pools; the emptier empties
 * them there.  Emptying a file frees its blocks, which takes longer than
 * the flush itself (ext4 mounted with discard); on threads of their own
 * neither the callbacks nor the next flush wait for it, and the releaser
 * does not wait for the emptier.
 */
struct gsync_worker {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 quit;
	struct gsync_unlink	*unl;		/* waiting, oldest first */
	size_t			 nunl, unlcap;
	void			(*work)(struct gsync_unlink *, size_t);
};

static void	detach_all(struct gsync_unlink *, size_t);
static void	empty_all(struct gsync_unlink *, size_t);

static struct gsync_worker rl = { .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER, .work = detach_all };
static struct gsync_worker em = { .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER, .work = empty_all };
static atomic_int	 stopping;	/* gsync_stop: no emptying */

static void	flush_cb(evutil_socket_t, short, void *);
static void	done_cb(evutil_socket_t, short, void *);
static int	flush_disk(struct gsync_batch *);
static void	unlink_all(struct gsync_batch *);
static void	run_callbacks(struct gsync_batch *, int);
static void	hold_keep(struct gsync_batch *);

/* a worker: its work on what waits, until told to quit with nothing
 * left */
static void *
worker(void *arg)
{
	struct gsync_worker	*w = arg;
	struct gsync_unlink	*v;
	size_t			 n;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->nunl == 0 && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->nunl == 0)
			break;
		v = w->unl;
		n = w->nunl;
		w->unl = NULL;
		w->nunl = w->unlcap = 0;
		pthread_mutex_unlock(&w->mu);
		w->work(v, n);
		free(v);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return (NULL);
}

/* n files to a worker's list */
static void
worker_give(struct gsync_worker *w, const struct gsync_unlink *unl,
    size_t n)
{
	struct gsync_unlink	*v;
	size_t			 cap;

	if (n == 0)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->nunl + n > w->unlcap) {
		cap = w->nunl + n;
		if (cap < 2 * w->unlcap)
			cap = 2 * w->unlcap;
		if ((v = reallocarray(w->unl, cap, sizeof(*v))) == NULL)
			fatal("gsync: reallocarray");
		w->unl = v;
		w->unlcap = cap;
	}
	memcpy(w->unl + w->nunl, unl, n * sizeof(*unl));
	w->nunl += n;
	pthread_mutex_unlock(&w->mu);
	/* after the unlock: the woken worker does not block on w->mu */
	pthread_cond_signal(&w->cv);
}

static void
worker_start(struct gsync_worker *w)
{
	w->quit = 0;
	if ((errno = pthread_create(&w->thread, NULL, worker, w)) != 0)
		fatal("gsync: pthread_create");
}

/*
 * A batch whose flush failed: its files stay where they are.  What they
 * wait for (the record that replaces them, a copy of their message) is
 * not known to be on disk, so removing them could leave nothing of it
 * after a crash; kept, the next start takes them up again.
 */
static void
unflushed_keep(const struct gsync_batch *b)
{
	if (b->nunl > 0)
		log_warnx("gsync: the flush failed: %zu files to remove after "
		    "it stay", b->nunl);
}

/* the flusher: a flushed batch's files to the releaser */
static void
release_later(struct gsync_batch *b)
{
	worker_give(&rl, b->unl, b->nunl);
	b->nunl = 0;
}

/*
 * The releaser: each file out of its directory, into its pool as it is
 * (a rename), then to the emptier.  On a stop they stay unemptied there:
 * the next start empties them.
 */
static void
detach_all(struct gsync_unlink *v, size_t n)
{
	size_t	 i, nkeep = 0;
	int	 rc;

	for (i = 0; i < n; i++) {
		if ((rc = filepool_detachat(v[i].pool, v[i].dfd, v[i].name,
		    &v[i].id)) == -1 && errno != ENOENT)
			log_warn("gsync: unlink %s", v[i].name);
		if (rc == 1 && !atomic_load(&stopping))
			v[nkeep++] = v[i];
	}
	worker_give(&em, v, nkeep);
}

/* the emptier: the detached files emptied and pooled */
static void
empty_all(struct gsync_unlink *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && !atomic_load(&stopping); i++)
		filepool_keep(v[i].pool, v[i].id);
}

/*
 * The flusher: a batch flushed, the loop told, then its files to the
 * releaser.  Every wake-up is made with the lock released, so that the
 * thread woken does not wake only to wait for it: each hand-over is on
 * the way to the 250s of the batch.
 */
static void *
flusher(void *arg)
{
	struct gsync_batch	 rel;
	int			 rc;

	(void)arg;
	memset(&rel, 0, sizeof(rel));
	pthread_mutex_lock(&fl.mu);
	for (;;) {
		while (!fl.todo && !fl.quit)
			pthread_cond_wait(&fl.cv, &fl.mu);
		if (fl.quit)
			break;
		pthread_mutex_unlock(&fl.mu);
		rc = flush_disk(&fl.batch);
		/* the files are the releaser's: the loop frees the rest */
		if (rc != 0)
			unflushed_keep(&fl.batch);
		/* a held batch's files go back to the loop (flusher_done) */
		if (!fl.batch.hold || rc != 0) {
			rel.unl = fl.batch.unl;
			rel.nunl = rc == 0 ? fl.batch.nunl : 0;
			fl.batch.unl = NULL;
			fl.batch.nunl = 0;
		}
		pthread_mutex_lock(&fl.mu);
		fl.rc = rc;
		fl.todo = 0;
		pthread_mutex_unlock(&fl.mu);
		pthread_cond_broadcast(&fl.cv);
		/* a full pipe already says "done" */
		(void)!write(fl.wake[1], "", 1);
		release_later(&rel);
		free(rel.unl);
		rel.unl = NULL;
		pthread_mutex_lock(&fl.mu);
	}
	pthread_mutex_unlock(&fl.mu);
	return (NULL);
}

static void
flusher_start(struct event_base *base)
{
	if (pipe2(fl.wake, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("gsync: pipe2");
	if ((fl.done_ev = event_new(base, fl.wake[0], EV_READ | EV_PERSIST,
	    done_cb, NULL)) == NULL || event_add(fl.done_ev, NULL) == -1)
		fatal("gsync: event_new");
	fl.quit = fl.todo = fl.busy = 0;
	if ((errno = pthread_create(&fl.thread, NULL, flusher, NULL)) != 0)
		fatal("gsync: pthread_create");
	fl.running = 1;
	atomic_store(&stopping, 0);
	worker_start(&rl);
	worker_start(&em);
}

/* the batch handed over is flushed; with wait, block until it is */
static int
flusher_wait(void)
{
	int	 rc;

	pthread_mutex_lock(&fl.mu);
	while (fl.todo)
		pthread_cond_wait(&fl.cv, &fl.mu);
	rc = fl.rc;
	pthread_mutex_unlock(&fl.mu);
	return (rc);
}

/* tell a thread to quit and wait until it has */
static void
thread_quit(pthread_t t, pthread_mutex_t *mu, pthread_cond_t *cv, int *quit)
{
	pthread_mutex_lock(mu);
	*quit = 1;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
	pthread_join(t, NULL);
}

/* the releaser, then the emptier, once they have done what they have */
static void
workers_quit(void)
{
	thread_quit(rl.thread, &rl.mu, &rl.cv, &rl.quit);
	thread_quit(em.thread, &em.mu, &em.cv, &em.quit);
}

static void
flusher_stop(void)
{
	if (!fl.running)
		return;
	thread_quit(fl.thread, &fl.mu, &fl.cv, &fl.quit);
	fl.running = 0;
	/* the workers empty what they have before they quit */
	workers_quit();
	event_free(fl.done_ev);
	fl.done_ev = NULL;
	close(fl.wake[0]);
	close(fl.wake[1]);
	fl.wake[0] = fl.wake[1] = -1;
}

/*
 * b may be flushed now: something waits for it, or its lazy callbacks
 * have waited long enough; else *left is how much longer they may
 */
static int
batch_due(const struct gsync_batch *b, struct timeval *left)
{
	struct timespec	 now;
	long long	 usec;

	/* a gsync_then() callback or a release: at once */
	if (b->nlazy == 0 || b->ncb > b->nlazy || b->nunl > 0)
		return (1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	usec = (now.tv_sec - b->lazy_since.tv_sec) * 1000000LL +
	    (now.tv_nsec - b->lazy_since.tv_nsec) / 1000;
	if (usec >= GSYNC_LAZY_USEC)
		return (1);
	left->tv_sec = 0;
	left->tv_usec = GSYNC_LAZY_USEC - usec;
	return (0);
}

/* the loop: hand what was written so far to the thread, if it is idle
 * and the batch is due (else the timer is set for when it is) */
static void
flusher_give(void)
{
	struct timeval	 left;

	if (fl.busy || (next.ncb == 0 && next.nfd == 0 && next.nunl == 0))
		return;
	if (!batch_due(&next, &left)) {
		if (flush_ev != NULL && !evtimer_pending(flush_ev, NULL))
			evtimer_add(flush_ev, &left);
		return;
	}
	fl.batch = next;
	memset(&next, 0, sizeof(next));
	fl.busy = 1;
	pthread_mutex_lock(&fl.mu);
	fl.todo = 1;
	pthread_mutex_unlock(&fl.mu);
	pthread_cond_signal(&fl.cv);
}

/* the thread's batch is durable (or failed): its callbacks, the next */
static void
flusher_done(void)
{
	struct gsync_batch	 b;
	int			 rc;

	if (!fl.busy)
		return;
	rc = flusher_wait();
	b = fl.batch;
	memset(&fl.batch, 0, sizeof(fl.batch));
	fl.busy = 0;
	hold_keep(&b);
	run_callbacks(&b, rc);
	flusher_give();
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 buf[64];

	(void)what;
	(void)arg;
	/* one read: a byte left over (64 batches behind) wakes us again */
	(void)!read(fd, buf, sizeof(buf));
	pthread_mutex_lock(&fl.mu);
	if (fl.todo) {
		/* a byte from an earlier batch: this one is not done */
		pthread_mutex_unlock(&fl.mu);
		return;
	}
	pthread_mutex_unlock(&fl.mu);
	flusher_done();
}

void
gsync_init(struct event_base *base, int fsfd)
{
	gsync_shutdown();
	if ((gs_fd = dup(fsfd)) == -1)
		fatal("gsync: dup");
	if (base != NULL) {
		if ((flush_ev = evtimer_new(base, flush_cb, NULL)) == NULL)
			fatal("gsync: evtimer_new");
		flusher_start(base);
	}
}

void
gsync_shutdown(void)
{
	gsync_flush();
	flusher_stop();
	if (flush_ev != NULL)
		event_free(flush_ev);
	flush_ev = NULL;
	flush_now = 0;
	if (gs_fd != -1)
		close(gs_fd);
	gs_fd = -1;
}

/*
 * The flush at the end of this pass (a zero timer runs after the pass's
 * I/O callbacks), or for a batch of only lazy callbacks once they have
 * waited GSYNC_LAZY_USEC; something urgent cuts that wait short.  With
 * no event loop, at once.
 */
static void
schedule(void)
{
	struct timeval	 now = { 0, 0 }, left;

	if (flush_ev == NULL) {
		gsync_flush();
		return;
	}
	if (flush_now)
		return;
	if (batch_due(&next, &left)) {
		evtimer_add(flush_ev, &now);
		flush_now = 1;
	} else if (!evtimer_pending(flush_ev, NULL))
		evtimer_add(flush_ev, &left);
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
		/* not covered: the batch's flush fails */
		log_warn("gsync: %s", path);
		if (next.err == 0)
			next.err = errno;
		return;
	}
	gsync_fd(fd);
	close(fd);
#endif
}

void
gsync_unlinkat(int dfd, const char *name)
{
	gsync_releaseat(NULL, dfd, name);
}

void
gsync_releaseat(struct filepool *pool, int dfd, const char *name)
{
	struct gsync_unlink	*v;

	if (next.nunl == next.unlcap) {
		next.unlcap = next.unlcap ? next.unlcap * 2 : 32;
		if ((v = reallocarray(next.unl, next.unlcap,
		    sizeof(*v))) == NULL)
			fatal("gsync: reallocarray");
		next.unl = v;
	}
	next.unl[next.nunl].pool = pool;
	next.unl[next.nunl].dfd = dfd;
	if (strlcpy(next.unl[next.nunl].name, name,
	    sizeof(next.unl[next.nunl].name)) >=
	    sizeof(next.unl[next.nunl].name))
		fatalx("gsync: name too long: %s", name);
	next.nunl++;
	schedule();
}

/*
 * A file that needs no flush before it goes (never made durable, like a
 * sync-mode message's): released on the workers' threads, not the loop.
 */
void
gsync_release_now(struct filepool *pool, int dfd, const char *name)
{
	struct gsync_batch	 b;
	struct gsync_unlink	 u;

	if (!fl.running) {
		if (filepool_releaseat(pool, dfd, name) == -1 &&
		    errno != ENOENT)
			log_warn("gsync: unlink %s", name);
		return;
	}
	memset(&b, 0, sizeof(b));
	u.pool = pool;
	u.dfd = dfd;
	if (strlcpy(u.name, name, sizeof(u.name)) >= sizeof(u.name))
		fatalx("gsync: name too long: %s", name);
	b.unl = &u;
	b.nunl = 1;
	release_later(&b);
}

/* the batch's files to remove: after its flush, if it succeeded */
static void
unlink_all(struct gsync_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->nunl; i++)
		if ((atomic_load(&stopping) ?
		    filepool_dropat(b->unl[i].pool, b->unl[i].dfd,
		    b->unl[i].name) :
		    filepool_releaseat(b->unl[i].pool, b->unl[i].dfd,
		    b->unl[i].name)) == -1 && errno != ENOENT)
			log_warn("gsync: unlink %s", b->unl[i].name);
}

/* a held batch flushed: its files wait for gsync_release_held (the
 * loop's; a failed flush left none) */
static void
hold_keep(struct gsync_batch *b)
{
	struct gsync_unlink	*v;
	size_t			 cap;

	if (!b->hold || b->nunl == 0)
		return;
	if (nheld + b->nunl > heldcap) {
		cap = nheld + b->nunl;
		if (cap < 2 * heldcap)
			cap = 2 * heldcap;
		if ((v = reallocarray(held, cap, sizeof(*v))) == NULL)
			fatal("gsync: reallocarray");
		held = v;
		heldcap = cap;
	}
	memcpy(held + nheld, b->unl, b->nunl * sizeof(*b->unl));
	nheld += b->nunl;
	b->nunl = 0;
}

void
gsync_hold(void)
{
	next.hold = 1;
}

/* the held files to the next flush, removed after it */
void
gsync_release_held(void)
{
	struct gsync_unlink	*v = held;
	size_t			 i, n = nheld;

	held = NULL;
	nheld = heldcap = 0;
	next.hold = 0;
	for (i = 0; i < n; i++)
		gsync_releaseat(v[i].pool, v[i].dfd, v[i].name);
	free(v);
}

void
gsync_then(gsync_fn fn, void *arg)
{
	gsync_fsync_then(-1, -1, fn, arg);
}

void
gsync_fsync_then(int fd, int dfd, gsync_fn fn, void *arg)
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
	next.cb[next.ncb].fd = fd;
	next.cb[next.ncb].dfd = fd != -1 ? dfd : -1;
	next.cb[next.ncb].err = 0;
	next.ncb++;
	schedule();
}

/* gsync_then()'s, counted as lazy: batch_due() lets its batch wait */
void
gsync_later(gsync_fn fn, void *arg)
{
	if (next.nlazy++ == 0)
		clock_gettime(CLOCK_MONOTONIC, &next.lazy_since);
	gsync_then(fn, arg);
}

/*
 * the fsyncs of gsync_fsync_then, each callback's own result; one that
 * fails holds the batch's files back too (b->hold): what they wait for
 * may be in that file (a message removed once its events' copy is
 * durable), and its owner releases them once it is durable elsewhere
 * (gsync_release_held)
 */
static void
fsync_own(struct gsync_batch *b)
{
	struct gsync_cb	*cb;
	size_t		 i;

	for (i = 0; i < b->ncb; i++) {
		cb = &b->cb[i];
		if (cb->fd == -1)
			continue;
		cb->err = 0;
		if (fsync(cb->fd) == -1 || (cb->dfd != -1 &&
		    fsync(cb->dfd) == -1)) {
			cb->err = errno;
			b->hold = 1;
		}
	}
}

/* make everything written so far durable; 0 on success, else an errno */
static int
flush_disk(struct gsync_batch *b)
{
	struct timespec	 t0, t1;
	int		 rc = b->err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
#ifdef HAVE_SYNCFS
	if (gs_fd == -1)
		sync();
	else if (syncfs(gs_fd) == -1) {
		rc = errno;
		log_warn("gsync: syncfs");
	}
#else
	size_t	 i;

	for (i = 0; i < b->nfd; i++) {
		if (fsync(b->fds[i]) == -1 && errno != EINVAL) {
			rc = errno;
			log_warn("gsync: fsync");
		}
		close(b->fds[i]);
	}
	if (gs_fd != -1 && fsync(gs_fd) == -1 && errno != EINVAL)
		rc = errno;
#endif
	fsync_own(b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->usec = (t1.tv_sec - t0.tv_sec) * 1000000ULL +
	    (t1.tv_nsec - t0.tv_nsec) / 1000;
	return (rc);
}

/* err: flush_disk()'s; a callback finds it in errno */
static void
run_callbacks(struct gsync_batch *b, int err)
{
	size_t	 i;
	int	 e;

	stats.flushes++;
	stats.flush_usec += b->usec;
	for (i = 0; i < b->ncb; i++) {
		if (b->cb[i].fn != NULL) {
			stats.waiters++;
			e = b->cb[i].fd != -1 ? b->cb[i].err : err;
			errno = e;
			b->cb[i].fn(e == 0, b->cb[i].arg);
		}
	}
	free(b->cb);
	free(b->fds);
	free(b->unl);
}

/* everything, now, on this thread: what the thread has first */
void
gsync_flush(void)
{
	struct gsync_batch	 b;
	int			 rc;

	flusher_done();
	if (next.ncb == 0 && next.nfd == 0 && next.nunl == 0)
		return;
	/* what the callbacks register goes to the next flush */
	b = next;
	memset(&next, 0, sizeof(next));
	rc = flush_disk(&b);
	if (rc != 0) {
		unflushed_keep(&b);
		b.nunl = 0;
	} else if (!b.hold)
		unlink_all(&b);
	hold_keep(&b);
	run_callbacks(&b, rc);
}

/*
 * A clean stop: what was written is flushed and the files waiting for a
 * flush leave their directories, the batch the thread works on first.
 * Removing is quick (pooled files are emptied at the next start), so
 * that a stopped process leaves no delivered message behind to be sent
 * again.  No callback runs: what waits for them is going away.
 */
void
gsync_stop(void)
{
	struct gsync_batch	 b;

	atomic_store(&stopping, 1);
	if (fl.running) {
		(void)flusher_wait();
		thread_quit(fl.thread, &fl.mu, &fl.cv, &fl.quit);
	}
	b = next;
	memset(&next, 0, sizeof(next));
	if (nheld > 0)
		log_warnx("gsync: stopping with %zu files held back: they "
		    "stay", nheld);
	if (b.ncb != 0 || b.nfd != 0 || b.nunl != 0) {
		if (flush_disk(&b) == 0 && !b.hold) {
			if (fl.running)
				release_later(&b);
			else
				unlink_all(&b);
		} else
			log_warnx("gsync: stopping with an unflushed or held "
			    "batch: its %zu files stay", b.nunl);
	}
	free(b.cb);
	free(b.fds);
	free(b.unl);
	if (fl.running) {
		/* the releaser moves out what it has left before it quits;
		 * the emptier stops at the file it is on */
		workers_quit();
		fl.running = 0;
	}
}

int
gsync_busy(void)
{
	return (fl.busy || next.ncb != 0 || next.nfd != 0 || next.nunl != 0);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	flush_now = 0;
	if (fl.running)
		flusher_give();
	else
		gsync_flush();
}

void
gsync_stats(struct gsync_stats *st)
{
	*st = stats;
}

json_t *
gsync_stats_json(void)
{
	return (json_pack("{s:I,s:I,s:I}",
	    "flushes", (json_int_t)stats.flushes,
	    "waiters", (json_int_t)stats.waiters,
	    "flush_ms", (json_int_t)(stats.flush_usec / 1000)));
}

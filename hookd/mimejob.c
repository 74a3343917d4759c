/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * MIME parsing off the event loop.  Reading a spooled message and parsing
 * it with GMime (mime_parse) takes time in proportion to the message, up
 * to the MIME limits: done on the event loop, one large message would
 * hold every other message, event and answer back.  So one thread of our
 * own parses the messages, one at a time in the order they were given,
 * and the event loop gets each result back through a pipe, as gsync.c
 * does for its flushes.  The thread touches nothing but the job it holds
 * (the descriptor, the header text, the authserv-id and the limits it was
 * given, copied) and the GMime objects it creates; every callback runs on
 * the event loop.  A small message (MIMEJOB_INLINE_MAX) costs less to
 * parse than to hand over (two thread switches, the pipe, the lock's
 * futexes): it is parsed at once on the loop, and its result still comes
 * back at the end of the pass, as the thread's do.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mime.h"
#include "mimejob.h"
#include "verdict.h"

#define MIMEJOB_INLINE_MAX	(64 * 1024)	/* bytes parsed on the loop */

struct mimejob {
	TAILQ_ENTRY(mimejob)	 entry;
	int			 fd;
	char			*msg;		/* read already, or NULL */
	size_t			 msglen;
	char			*ar;
	char			 authserv[256];
	struct mime_limits	 lim;
	int			 formats;
	struct mime_doc		*doc;		/* the result */
	int			 err;		/* errno, when doc is NULL */
	mimejob_fn		 done;
	void			*arg;
};
TAILQ_HEAD(mimejobq, mimejob);

static struct {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct mimejobq		 todo;		/* for the thread */
	struct mimejobq		 done;		/* for the loop */
	int			 wake[2];	/* thread -> loop */
	struct event		*done_ev;
	struct mimejobq		 ready;		/* parsed on the loop */
	struct event		*ready_ev;
	int			 running;
} mj = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .todo = TAILQ_HEAD_INITIALIZER(mj.todo),
    .done = TAILQ_HEAD_INITIALIZER(mj.done),
    .ready = TAILQ_HEAD_INITIALIZER(mj.ready), .wake = { -1, -1 } };

static void *
parser_thread(void *arg)
{
	struct mimejob	*j;

	(void)arg;
	pthread_mutex_lock(&mj.mu);
	for (;;) {
		while (TAILQ_EMPTY(&mj.todo))
			pthread_cond_wait(&mj.cv, &mj.mu);
		j = TAILQ_FIRST(&mj.todo);
		TAILQ_REMOVE(&mj.todo, j, entry);
		pthread_mutex_unlock(&mj.mu);
		if ((j->doc = mime_parse(j->fd, j->msg, j->msglen, j->ar,
		    j->authserv, &j->lim, j->formats)) == NULL)
			j->err = errno;
		pthread_mutex_lock(&mj.mu);
		TAILQ_INSERT_TAIL(&mj.done, j, entry);
		pthread_mutex_unlock(&mj.mu);
		/*
		 * Told with the lock released, so that the loop does not
		 * wake only to wait for it; a full pipe already says "done"
		 */
		(void)!write(mj.wake[1], "", 1);
		pthread_mutex_lock(&mj.mu);
	}
	/* NOTREACHED */
	return (NULL);
}

/* the results in q to their callers, on the loop */
static void
finish_all(struct mimejobq *q)
{
	struct mimejob	*j;

	while ((j = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, j, entry);
		close(j->fd);
		free(j->ar);
		errno = j->err;
		j->done(j->doc, j->arg);
		free(j);
	}
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mimejobq	 q = TAILQ_HEAD_INITIALIZER(q);
	char		 buf[64];

	(void)what;
	(void)arg;
	/* one read: a byte left over wakes us again */
	(void)!read(fd, buf, sizeof(buf));
	pthread_mutex_lock(&mj.mu);
	TAILQ_CONCAT(&q, &mj.done, entry);
	pthread_mutex_unlock(&mj.mu);
	finish_all(&q);
}

static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mimejobq	 q = TAILQ_HEAD_INITIALIZER(q);

	(void)fd;
	(void)what;
	(void)arg;
	TAILQ_CONCAT(&q, &mj.ready, entry);
	finish_all(&q);
}

void
mimejob_init(struct event_base *base)
{
	sigset_t	 all, old;

	if (mj.running)
		return;
	if (pipe2(mj.wake, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("mimejob: pipe2");
	if ((mj.done_ev = event_new(base, mj.wake[0], EV_READ | EV_PERSIST,
	    done_cb, NULL)) == NULL || event_add(mj.done_ev, NULL) == -1 ||
	    (mj.ready_ev = event_new(base, -1, 0, ready_cb, NULL)) == NULL)
		fatal("mimejob: event_new");
	/* signals stay with the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((errno = pthread_create(&mj.thread, NULL, parser_thread,
	    NULL)) != 0)
		fatal("mimejob: pthread_create");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	mj.running = 1;
}

int
mimejob_submit(int fd, char *msg, size_t size, char *ar,
    const struct mime_limits *lim, int formats, mimejob_fn done, void *arg)
{
	struct mimejob	*j;

	if (!mj.running || (j = calloc(1, sizeof(*j))) == NULL)
		return (-1);
	j->fd = fd;
	j->msg = msg;
	j->msglen = msg != NULL ? size : 0;
	j->ar = ar;
	/* the thread reads no configuration: a reload may change it */
	strlcpy(j->authserv, verdict_authserv(), sizeof(j->authserv));
	j->lim = *lim;
	j->formats = formats;
	j->done = done;
	j->arg = arg;
	if (size <= MIMEJOB_INLINE_MAX) {
		if ((j->doc = mime_parse(j->fd, j->msg, j->msglen, j->ar,
		    j->authserv, &j->lim, j->formats)) == NULL)
			j->err = errno;
		if (TAILQ_EMPTY(&mj.ready))
			event_active(mj.ready_ev, EV_TIMEOUT, 0);
		TAILQ_INSERT_TAIL(&mj.ready, j, entry);
		return (0);
	}
	pthread_mutex_lock(&mj.mu);
	TAILQ_INSERT_TAIL(&mj.todo, j, entry);
	pthread_mutex_unlock(&mj.mu);
	/* after the unlock: the woken thread does not block on mj.mu */
	pthread_cond_signal(&mj.cv);
	return (0);
}

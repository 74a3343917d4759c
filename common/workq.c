/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Work off the event loop (workq.h): a FIFO of jobs under a mutex, the
 * threads waiting on a condition variable, and a pipe from the threads
 * to the loop (a full pipe already says "done").
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "workq.h"

struct workq_job {
	TAILQ_ENTRY(workq_job)	 entry;
	void			*job;
	workq_fn		 work;
	workq_fn		 done;
};
TAILQ_HEAD(workq_jobs, workq_job);

struct workq {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct workq_jobs	 todo;		/* for the threads */
	struct workq_jobs	 done;		/* for the loop */
	int			 wake[2];	/* threads -> loop */
	struct event		*done_ev;
};

static void *
workq_thread(void *arg)
{
	struct workq		*q = arg;
	struct workq_job	*j;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (TAILQ_EMPTY(&q->todo))
			pthread_cond_wait(&q->cv, &q->mu);
		j = TAILQ_FIRST(&q->todo);
		TAILQ_REMOVE(&q->todo, j, entry);
		pthread_mutex_unlock(&q->mu);
		j->work(j->job);
		pthread_mutex_lock(&q->mu);
		TAILQ_INSERT_TAIL(&q->done, j, entry);
		(void)!write(q->wake[1], "", 1);
	}
	/* NOTREACHED */
	return (NULL);
}

static void
workq_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workq		*q = arg;
	struct workq_jobs	 jobs = TAILQ_HEAD_INITIALIZER(jobs);
	struct workq_job	*j;
	char			 buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&q->mu);
	TAILQ_CONCAT(&jobs, &q->done, entry);
	pthread_mutex_unlock(&q->mu);
	while ((j = TAILQ_FIRST(&jobs)) != NULL) {
		TAILQ_REMOVE(&jobs, j, entry);
		j->done(j->job);
		free(j);
	}
}

struct workq *
workq_new(struct event_base *base, int nthreads)
{
	struct workq	*q;
	pthread_t	 t;
	sigset_t	 all, old;
	int		 i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("calloc");
	if ((errno = pthread_mutex_init(&q->mu, NULL)) != 0 ||
	    (errno = pthread_cond_init(&q->cv, NULL)) != 0)
		fatal("pthread");
	TAILQ_INIT(&q->todo);
	TAILQ_INIT(&q->done);
	if (pipe2(q->wake, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	if ((q->done_ev = event_new(base, q->wake[0], EV_READ | EV_PERSIST,
	    workq_done_cb, q)) == NULL || event_add(q->done_ev, NULL) == -1)
		fatal("event_new");
	/* signals stay with the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < (nthreads > 0 ? nthreads : 1); i++) {
		if ((errno = pthread_create(&t, NULL, workq_thread, q)) != 0)
			fatal("pthread_create");
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (q);
}

void
workq_submit(struct workq *q, void *job, workq_fn work, workq_fn done)
{
	struct workq_job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("calloc");
	j->job = job;
	j->work = work;
	j->done = done;
	pthread_mutex_lock(&q->mu);
	TAILQ_INSERT_TAIL(&q->todo, j, entry);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int
workq_cpus(void)
{
	cpu_set_t	 set;
	int		 n;

	if (sched_getaffinity(0, sizeof(set), &set) == -1 ||
	    (n = CPU_COUNT(&set)) < 1)
		return (1);
	return (n);
}

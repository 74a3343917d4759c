/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Work off the event loop: threads of our own run each job's work(),
 * and the event loop gets the job back through a pipe, where its done()
 * runs.  Jobs are started in the order they were submitted; with more
 * than one thread they may finish in another order.  A thread touches
 * only the job it holds and what work() itself makes safe to share.
 * The threads are made by workq_new(): in a sandboxed process, after the
 * filter is loaded (they inherit it; clone(CLONE_THREAD) must be allowed).
 */
#ifndef MH_WORKQ_H
#define MH_WORKQ_H

#include <event2/event.h>

struct workq;
typedef void	(*workq_fn)(void *job);

/* nthreads threads (at least 1); fatal on error */
struct workq	*workq_new(struct event_base *, int nthreads);
/* work(job) on a thread, then done(job) on the event loop */
void		 workq_submit(struct workq *, void *job, workq_fn work,
		    workq_fn done);
/* the CPUs this process may run on (sched_getaffinity), at least 1 */
int		 workq_cpus(void);

#endif /* MH_WORKQ_H */

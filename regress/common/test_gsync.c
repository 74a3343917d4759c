/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/gsync.c's callbacks: gsync_then() runs after the flush of its
 * pass; gsync_later() (what nobody waits on) shares a flush with what
 * else comes for up to its period, unless something urgent comes first.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "gsync.h"
#include "tap.h"

#define LAZY_MSEC	10	/* gsync_later()'s period is at least this */

static struct event_base	*base;
static int			 ran, ran_ok;
static int			 own_ran, own_ok;
static double			 ran_at;

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

static void
count_cb(int ok_, void *arg)
{
	ran++;
	ran_ok += ok_;
	ran_at = now_ms();
}

static void
own_cb(int ok_, void *arg)
{
	own_ran++;
	own_ok += ok_;
}

/* the loop until n callbacks have run (or 10 s) */
static void
run_until(int n)
{
	double	 t0 = now_ms();

	while (ran < n && now_ms() - t0 < 10000)
		event_base_loop(base, EVLOOP_ONCE);
}

static unsigned long long
flushes(void)
{
	struct gsync_stats	 st;

	gsync_stats(&st);
	return (st.flushes);
}

static void
check_later_waits(void)
{
	double	 t0;

	ran = ran_ok = 0;
	t0 = now_ms();
	gsync_later(count_cb, NULL);
	run_until(1);
	ok(ran == 1 && ran_ok == 1, "gsync_later: the callback ran, flushed");
	ok(ran_at - t0 >= LAZY_MSEC,
	    "and not before its period (%.1f ms)", ran_at - t0);
}

static void
check_then_joins(void)
{
	unsigned long long	 f0 = flushes();

	ran = ran_ok = 0;
	gsync_later(count_cb, NULL);
	gsync_later(count_cb, NULL);
	gsync_then(count_cb, NULL);
	run_until(3);
	ok(ran == 3 && ran_ok == 3, "gsync_later twice, gsync_then: all ran");
	is_int(flushes() - f0, 1, "one flush for the three");
}

/* a lazy callback about every millisecond: a flush per period, not one
 * after another (each pass of the loop would flush) */
static void
check_stream(void)
{
	unsigned long long	 f0 = flushes(), n;
	struct timeval		 ms = { 0, 1000 };
	double			 t0 = now_ms(), took;
	int			 i;

	ran = ran_ok = 0;
	for (i = 0; i < 200; i++) {
		gsync_later(count_cb, NULL);
		event_base_loopexit(base, &ms);
		event_base_dispatch(base);
	}
	run_until(200);
	took = now_ms() - t0;
	n = flushes() - f0;
	ok(ran == 200 && ran_ok == 200, "200 lazy callbacks ran");
	ok(n <= took / LAZY_MSEC + 2,
	    "in %llu flushes over %.0f ms: at most one per %d ms", n, took,
	    LAZY_MSEC);
}

static void
check_flush_now(void)
{
	ran = ran_ok = 0;
	gsync_later(count_cb, NULL);
	gsync_flush();
	ok(ran == 1 && ran_ok == 1, "gsync_flush: a lazy callback runs at once");
}

/*
 * A failed flush: the callbacks hear it, and the files to remove after
 * it stay, with an event loop (the flusher thread) and without.  The
 * flush fails as syncfs(2) does on an O_PATH descriptor (EBADF).
 */
static void
check_failed_flush(const char *dir, int dfd)
{
	struct stat	 st;
	int		 pfd, fd, loop;

	if ((pfd = open(dir, O_PATH | O_DIRECTORY)) == -1) {
		perror("O_PATH");
		exit(1);
	}
	for (loop = 1; loop >= 0; loop--) {
		if ((fd = openat(dfd, "victim", O_WRONLY | O_CREAT, 0600)) ==
		    -1) {
			perror("victim");
			exit(1);
		}
		close(fd);
		gsync_init(loop ? base : NULL, pfd);
		ran = ran_ok = 0;
		gsync_unlinkat(dfd, "victim");
		gsync_then(count_cb, NULL);
		run_until(1);
		gsync_shutdown();	/* the workers done */
		ok(ran == 1 && ran_ok == 0, "%s: a failed flush fails its "
		    "callback", loop ? "loop" : "no loop");
		ok(fstatat(dfd, "victim", &st, 0) == 0, "%s: the file to "
		    "remove after a failed flush stays", loop ? "loop" :
		    "no loop");
		(void)unlinkat(dfd, "victim", 0);
	}
	close(pfd);
}

/*
 * gsync_fsync_then: its callback hears its own fsync, not the flush's,
 * with an event loop (the flusher thread) and without: a failed flush
 * (syncfs on an O_PATH descriptor) and a good fsync of a file; a good
 * flush and an fsync that fails (of an O_PATH descriptor, EBADF).
 */
static void
check_own_fsync(const char *dir, int dfd)
{
	struct stat	 st;
	const char	*how;
	int		 pfd, fd, vfd, loop;

	if ((pfd = open(dir, O_PATH | O_DIRECTORY)) == -1 ||
	    (fd = openat(dfd, "own", O_WRONLY | O_CREAT, 0600)) == -1) {
		perror("own");
		exit(1);
	}
	for (loop = 1; loop >= 0; loop--) {
		how = loop ? "loop" : "no loop";
		gsync_init(loop ? base : NULL, pfd);
		ran = ran_ok = own_ran = own_ok = 0;
		gsync_then(count_cb, NULL);
		gsync_fsync_then(fd, dfd, own_cb, NULL);
		run_until(1);
		while (loop && own_ran < 1)
			event_base_loop(base, EVLOOP_ONCE);
		gsync_shutdown();
		ok(ran == 1 && ran_ok == 0, "%s: the flush failed", how);
		ok(own_ran == 1 && own_ok == 1, "%s: gsync_fsync_then's "
		    "callback hears its own fsync, which succeeded", how);

		if ((vfd = openat(dfd, "victim", O_WRONLY | O_CREAT,
		    0600)) == -1) {
			perror("victim");
			exit(1);
		}
		close(vfd);
		gsync_init(loop ? base : NULL, dfd);
		ran = ran_ok = own_ran = own_ok = 0;
		gsync_fsync_then(pfd, -1, own_cb, NULL);
		gsync_unlinkat(dfd, "victim");
		gsync_then(count_cb, NULL);
		run_until(1);
		gsync_shutdown();	/* the workers done */
		ok(ran == 1 && ran_ok == 1 && own_ran == 1 && own_ok == 0,
		    "%s: a failed fsync of its own fails only its callback",
		    how);
		/* (without a loop each call is a batch of its own) */
		if (loop) {
			ok(fstatat(dfd, "victim", &st, 0) == 0, "loop: and the "
			    "batch's file to remove stays");
			/* held back: its owner lets it go */
			gsync_init(base, dfd);
			ran = 0;
			gsync_release_held();
			gsync_then(count_cb, NULL);
			run_until(1);
			gsync_shutdown();
			ok(fstatat(dfd, "victim", &st, 0) == -1, "loop: held "
			    "back, it goes once released");
		}
		(void)unlinkat(dfd, "victim", 0);
	}
	close(fd);
	(void)unlinkat(dfd, "own", 0);
	close(pfd);
}

/* a file "held" made, gsync started (on base if loop), the next flush held */
static void
held_start(int dfd, int loop)
{
	int	 fd;

	if ((fd = openat(dfd, "held", O_WRONLY | O_CREAT, 0600)) == -1) {
		perror("held");
		exit(1);
	}
	close(fd);
	gsync_init(loop ? base : NULL, dfd);
	ran = ran_ok = 0;
	gsync_hold();
}

/*
 * gsync_hold: the files to remove of the next flush stay after it (and
 * after a later one) until gsync_release_held gives them to the flush
 * after; a hold with nothing held yet ends there too
 */
static void
check_hold(int dfd)
{
	struct stat	 st;
	const char	*how;
	int		 loop;

	for (loop = 1; loop >= 0; loop--) {
		how = loop ? "loop" : "no loop";
		held_start(dfd, loop);
		gsync_unlinkat(dfd, "held");
		gsync_then(count_cb, NULL);
		run_until(1);
		gsync_then(count_cb, NULL);
		run_until(2);
		gsync_flush();
		ok(ran == 2 && ran_ok == 2 && fstatat(dfd, "held", &st, 0) ==
		    0, "%s: a held file stays after its flush and the next",
		    how);
		gsync_release_held();
		gsync_then(count_cb, NULL);
		run_until(3);
		gsync_shutdown();	/* the workers done */
		ok(ran == 3 && fstatat(dfd, "held", &st, 0) == -1,
		    "%s: released, it goes with the next flush", how);

		held_start(dfd, loop);
		gsync_release_held();
		gsync_unlinkat(dfd, "held");
		gsync_then(count_cb, NULL);
		run_until(1);
		gsync_shutdown();
		ok(ran == 1 && fstatat(dfd, "held", &st, 0) == -1,
		    "%s: a hold released before anything was held holds "
		    "nothing more", how);
		(void)unlinkat(dfd, "held", 0);
	}
}

int
main(void)
{
	/* tmpfs where there is one: its flush takes no time, so only
	 * gsync's own wait can hold a callback back */
	char	 shm[] = "/dev/shm/mh-gsync.XXXXXX";
	char	 tmp[] = "/tmp/mh-gsync.XXXXXX";
	char	*dir;
	int	 dfd;

	if ((dir = mkdtemp(shm)) == NULL)
		dir = mkdtemp(tmp);
	if (dir == NULL || (dfd = open(dir, O_RDONLY |
	    O_DIRECTORY)) == -1 || (base = event_base_new()) == NULL) {
		perror("setup");
		return (1);
	}
	gsync_init(base, dfd);
	check_later_waits();
	check_then_joins();
	check_stream();
	check_flush_now();
	gsync_shutdown();
	check_hold(dfd);

	/* without an event loop, at once */
	gsync_init(NULL, dfd);
	ran = ran_ok = 0;
	gsync_later(count_cb, NULL);
	ok(ran == 1 && ran_ok == 1, "no event loop: gsync_later runs at once");
	gsync_shutdown();
#ifdef __linux__
	check_failed_flush(dir, dfd);
	check_own_fsync(dir, dfd);
#endif
	close(dfd);
	rmdir(dir);
	return (tap_done());
}

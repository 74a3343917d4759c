/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd/seen.c: an open seen once is not unique again, after a restart
 * too; one whose key could not be written (the file size limit: EFBIG)
 * is written with the next one, so that a restart still knows it;
 * before, the failed write was only logged and the open was counted
 * unique again after a restart.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookd.h"
#include "log.h"
#include "mh_event.h"
#include "tap.h"

static char	 root[] = "/tmp/mh-seen-XXXXXX";

static void
open_of(struct event_record *ev, const char *rcpt)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = EV_OPEN;
	strlcpy(ev->queue_id, "00000000000000aa", sizeof(ev->queue_id));
	strlcpy(ev->recipient, rcpt, sizeof(ev->recipient));
}

/* the process before the restart: exit 0 if it went as it should */
static int
before(void)
{
	struct event_record	 ev;
	struct rlimit		 rl, low;
	int			 fd, rc = 0;

	if (seen_init(root) == -1)
		return (10);
	open_of(&ev, "a@rcpt.test");
	rc |= seen_first(&ev) != 1;
	rc |= seen_first(&ev) != 0;
	if (getrlimit(RLIMIT_FSIZE, &rl) == -1)
		return (11);
	low = rl;
	low.rlim_cur = 1;	/* no write past the file's first byte */
	signal(SIGXFSZ, SIG_IGN);
	/* its log says the write failed: not into the test's output, a
	 * file past the limit too */
	fflush(stdout);
	fflush(stderr);
	if ((fd = open("/dev/null", O_WRONLY)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		return (14);
	if (setrlimit(RLIMIT_FSIZE, &low) == -1)
		return (12);
	open_of(&ev, "b@rcpt.test");
	rc |= (seen_first(&ev) != 1) << 1;
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return (13);
	rc |= (seen_first(&ev) != 0) << 2;
	open_of(&ev, "c@rcpt.test");
	rc |= (seen_first(&ev) != 1) << 3;
	return (rc);
}

int
main(void)
{
	struct event_record	 ev;
	char			 path[256];
	pid_t			 pid;
	int			 status;

	log_init(1, 0);
	if (mkdtemp(root) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/events", root);
	if (mkdir(path, 0700) == -1)
		fatal("mkdir");
	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0)
		_exit(before());
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	    "before the restart: first opens unique, again ones not, the "
	    "one whose write failed too");
	is_int(seen_init(root), 0, "restarted");
	open_of(&ev, "a@rcpt.test");
	is_int(seen_first(&ev), 0, "an open written at once is known");
	open_of(&ev, "b@rcpt.test");
	is_int(seen_first(&ev), 0, "the one whose write failed was written "
	    "with the next one: known");
	open_of(&ev, "c@rcpt.test");
	is_int(seen_first(&ev), 0, "and the next one");
	open_of(&ev, "d@rcpt.test");
	is_int(seen_first(&ev), 1, "a new one is unique");

	snprintf(path, sizeof(path), "%s/events/track-seen", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/events", root);
	rmdir(path);
	rmdir(root);
	return (tap_done());
}

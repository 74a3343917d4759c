/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libevent's own messages go through common/log.c (log_init sets the
 * callback): "PROC: libevent: ..." lines, sanitized, in order after the
 * lines the loop's pass kept so far, never libevent's bare "[warn] ...".
 */
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "tap.h"

/* libevent's, exported but in no public header */
void	event_warnx(const char *, ...);

int
main(void)
{
	struct event_base	*base;
	struct bufferevent	*under, *f;
	char			 path[] = "/tmp/test_eventlog.XXXXXX", buf[8192];
	const char		*warn, *before, *evil;
	ssize_t			 n;
	int			 fd, saved;

	if ((fd = mkstemp(path)) == -1 || (saved = dup(STDERR_FILENO)) == -1)
		return (1);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	log_init(1, LOG_MAIL);
	log_procinit("test");
	if ((base = event_base_new()) == NULL)
		return (1);
	log_buffer(base);
	log_warnx("a line of this pass");
	/* a filter that owns a bufferevent its user freed already */
	under = bufferevent_socket_new(base, -1, 0);
	f = bufferevent_filter_new(under, NULL, NULL, BEV_OPT_CLOSE_ON_FREE,
	    NULL, NULL);
	bufferevent_free(under);
	bufferevent_free(f);
	event_warnx("evil\r\ntest: forged line\x1b[0m");
	event_base_loop(base, EVLOOP_NONBLOCK);
	log_flush();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	printf("# %s", buf);
	before = strstr(buf, "test: a line of this pass\n");
	warn = strstr(buf, "test: libevent: BEV_OPT_CLOSE_ON_FREE set on an "
	    "bufferevent with too few references\n");
	evil = strstr(buf, "test: libevent: evil??test: forged line?[0m\n");
	ok(warn != NULL, "libevent's warning is a line of ours");
	ok(strstr(buf, "[warn]") == NULL, "no bare [warn] line of libevent's");
	ok(before != NULL && warn != NULL && before < warn,
	    "after the line the pass kept before it");
	ok(evil != NULL, "sanitized: CR, LF and ESC are '?'");
	ok(strstr(buf, "\ntest: forged line") == NULL, "no forged line");
	event_base_free(base);
	return (tap_done());
}

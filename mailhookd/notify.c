/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The service manager's readiness protocol (systemd's sd_notify): one
 * datagram of "KEY=value" lines on a unix socket whose path -N gives
 * (the unit passes ${NOTIFY_SOCKET}; the daemon reads no environment).
 * A path starting with '@' is in the abstract namespace.  The parent
 * alone sends: the socket is close-on-exec and no child keeps it.  A
 * failed send is logged once and changes nothing else.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mailhookd.h"

static int			notify_fd = -1;
static struct sockaddr_un	notify_sun;
static socklen_t		notify_len;
static char			notify_path[sizeof(notify_sun.sun_path)];
static int			notify_warned;

/* -N path: "" (NOTIFY_SOCKET unset) sends nothing */
void
notify_init(const char *path)
{
	size_t	len;

	if (path == NULL || path[0] == '\0')
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(notify_sun.sun_path))
		fatalx("-N %s: not an absolute path or @name of a unix "
		    "socket", path);
	strlcpy(notify_path, path, sizeof(notify_path));
	memset(&notify_sun, 0, sizeof(notify_sun));
	notify_sun.sun_family = AF_UNIX;
	memcpy(notify_sun.sun_path, path, len);
	/* abstract: a leading NUL, the name's bytes and no terminator */
	if (path[0] == '@')
		notify_sun.sun_path[0] = '\0';
	notify_len = offsetof(struct sockaddr_un, sun_path) + len;
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("notify socket: the service manager is not told "
		    "of the daemon's state");
		notify_warned = 1;
	}
}

/*
 * One datagram: the state's lines, then STATUS= with status on one line
 * (a control character in it becomes a blank).
 */
static void
notify_send(const char *state, const char *status)
{
	char	msg[1024];
	size_t	i, n;

	if (notify_fd == -1)
		return;
	(void)strlcpy(msg, state, sizeof(msg));
	(void)strlcat(msg, "STATUS=", sizeof(msg));
	i = strlen(msg);
	(void)strlcat(msg, status, sizeof(msg) - 1);
	for (; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < ' ' || msg[i] == 0x7f)
			msg[i] = ' ';
	(void)strlcat(msg, "\n", sizeof(msg));
	n = strlen(msg);
	if (sendto(notify_fd, msg, n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_sun, notify_len) == (ssize_t)n ||
	    notify_warned)
		return;
	notify_warned = 1;
	log_warn("notify socket %s: the service manager is not told of the "
	    "daemon's state", notify_path);
}

void
notify_ready(const char *status)
{
	notify_send("READY=1\n", status);
}

/* a reload begins: RELOADING=1 with its time (systemd 253 wants it) */
void
notify_reloading(const char *status)
{
	struct timespec	ts;
	char		state[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(state, status);
}

void
notify_stopping(const char *status)
{
	notify_send("STOPPING=1\n", status);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Small helpers the C test programs share (the C side of the Python
 * package mhtest): a whole file in memory, a loopback TCP listener.
 */
#ifndef MH_MHTEST_H
#define MH_MHTEST_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The whole of a file, NUL-terminated, its length in *len; NULL when
 * path is NULL or the file cannot be opened or read.
 */
static inline char *
mhtest_slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 || (buf = malloc(n + 1)) == NULL) {
		fclose(f);
		return (NULL);
	}
	if (fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	buf[n] = '\0';
	fclose(f);
	*len = n;
	return (buf);
}

/*
 * A TCP listener on 127.0.0.1 on a port the kernel picks (in *port);
 * flags go to socket(2)'s type (SOCK_NONBLOCK, SOCK_CLOEXEC).  -1 on
 * error.
 */
static inline int
mhtest_listen(int *port, int flags, int backlog)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | flags, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, backlog) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return (-1);
	}
	*port = ntohs(sin.sin_port);
	return (fd);
}

/*
 * A -R HOST[:PORT] argument: the port cut off at its only colon (an
 * IPv6 address keeps its colons) into *port, which is left as it is
 * when none is given; arg is the host then.
 */
static inline void
mhtest_hostport(char *arg, int *port)
{
	char	*p;

	if ((p = strrchr(arg, ':')) != NULL && strchr(arg, ':') == p) {
		*p++ = '\0';
		*port = atoi(p);
	}
}

#endif /* MH_MHTEST_H */

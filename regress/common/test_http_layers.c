/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The two layers of the SSRF guard, each on its own (common/http.c):
 * http_pin() pins only the allowed addresses of a name into libcurl,
 * http_socket() refuses to open a socket to a refused address.  Either
 * layer alone must hold: the other one is not there to hide a hole.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "dns.h"
#include "http.h"

static void
add(struct dns_addrs *d, const char *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&d->ss[d->n];
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&d->ss[d->n];

	memset(&d->ss[d->n], 0, sizeof(d->ss[d->n]));
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	d->n++;
}

static void
sockaddr_of(struct sockaddr_storage *ss, const char *a, int port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
}

/* 1: a socket was opened, 0: refused with EACCES, -1: other failure */
static int
opens(const char *a, int allow_private)
{
	struct sockaddr_storage	 ss;
	int			 fd;

	sockaddr_of(&ss, a, 80);
	errno = 0;
	if ((fd = http_socket((struct sockaddr *)&ss, SOCK_STREAM, 0,
	    allow_private)) != -1) {
		close(fd);
		return (1);
	}
	return (errno == EACCES ? 0 : -1);
}

static void
test_pin(void)
{
	struct dns_addrs	 d;
	char			 e[HTTP_PIN_MAX];

	memset(&d, 0, sizeof(d));
	add(&d, "127.0.0.1");
	add(&d, "93.184.216.34");
	add(&d, "10.1.2.3");
	add(&d, "::1");
	add(&d, "2606:4700::1111");
	add(&d, "169.254.169.254");
	add(&d, "::ffff:192.168.1.1");
	is_int(http_pin(e, sizeof(e), "hook.example", 443, &d, 0), 2,
	    "pin: two of seven addresses are public");
	is_str(e, "hook.example:443:93.184.216.34,[2606:4700::1111]",
	    "pin: only the public ones are pinned");
	is_int(http_pin(e, sizeof(e), "hook.example", 80, &d, 1), 7,
	    "pin: allow private-addresses pins every address");
	is_str(e, "hook.example:80:127.0.0.1,93.184.216.34,10.1.2.3,[::1],"
	    "[2606:4700::1111],169.254.169.254,[::ffff:192.168.1.1]",
	    "pin: in the resolver's order");

	memset(&d, 0, sizeof(d));
	add(&d, "127.0.0.1");
	add(&d, "10.0.0.1");
	add(&d, "fd00::1");
	add(&d, "0.0.0.0");
	is_int(http_pin(e, sizeof(e), "internal.example", 443, &d, 0), 0,
	    "pin: a name with only private addresses pins nothing");
	ok(strstr(e, "127.0.0.1") == NULL && strstr(e, "10.0.0.1") == NULL &&
	    strstr(e, "fd00") == NULL && strstr(e, "0.0.0.0") == NULL,
	    "pin: no refused address in the entry (%s)", e);
	memset(&d, 0, sizeof(d));
	is_int(http_pin(e, sizeof(e), "empty.example", 443, &d, 1), 0,
	    "pin: no address, nothing pinned");
}

static void
test_socket(void)
{
	static const char *refused[] = {
		"127.0.0.1", "10.0.0.1", "192.168.0.1", "169.254.169.254",
		"0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
	};
	static const char *public[] = {
		"93.184.216.34", "8.8.8.8", "2606:4700::1111",
	};
	size_t	 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		is_int(opens(refused[i], 0), 0,
		    "socket: %s refused (EACCES)", refused[i]);
		is_int(opens(refused[i], 1), 1,
		    "socket: %s opened with allow private-addresses",
		    refused[i]);
	}
	for (i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		is_int(opens(public[i], 0), 1, "socket: %s opened", public[i]);
}

int
main(void)
{
	test_pin();
	test_socket();
	return (tap_done());
}

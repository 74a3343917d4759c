/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: webd's request path (evhttp, the limits, the endpoints, the
 * token decoder) on arbitrary bytes from a client: the input goes over a
 * loopback TCP connection to webd's listener, then the event loop runs
 * until the connection is done.  No peer process: events
 * are answered at once, unsubscribes get 503, the pixel is not held.
 * Built with FUZZ_WEBD_API (fuzz_webd_api.c), the listener is an "api"
 * one with one key, whose SHA-256 is FUZZ_API_KEY_SHA256, for senders of
 * example.test and b.test: submissions go through the API's checks and
 * the message builder, then get 503 (no relayd).
 * What comes back, if anything, is an HTTP answer: a status line
 * "HTTP/1.x NNN ", then header lines that end in CRLF with no other CR,
 * LF or NUL in them (nothing of a request breaks an answer's header).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <tls.h>

#include "apimsg.h"
#include "config.h"
#include "proc.h"
#include "token.h"
#include "webd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct sockaddr_in	 srv;

#ifdef FUZZ_WEBD_API
static void
api_setup(void)
{
	const char	 keys[] = "# name:sha256 of the key[:domains]\n"
	    "fuzz:" FUZZ_API_KEY_SHA256 ":example.test,b.test\n";
	struct config	*c;

	apimsg_init();		/* as webd does at start */
	if ((c = config_new()) == NULL)
		abort();
	strlcpy(c->hostname, "mx.test", sizeof(c->hostname));
	strlcpy(c->api_keys, "fuzz-keys", sizeof(c->api_keys));
	c->max_message_size = 1024 * 1024;
	c->max_recipients = 20;
	if ((c->api_keys_data = strdup(keys)) == NULL)
		abort();
	c->api_keys_len = strlen(keys);
	api_configure(c);
	config_free(c);
}
#endif

static void
setup(void)
{
	static struct listener	 l;
	struct token_key	 k;
	int			 fd;
	struct sockaddr_in	 sin;
	socklen_t		 len;

	signal(SIGPIPE, SIG_IGN);
	if ((proc_base = event_base_new()) == NULL)
		abort();
	server_init(proc_base);
	web_settings.read_secs = 0;
	token_key_from_secret(&k, "fuzzing webd, sixteen+");
	token_keys_add(&web_keys, &k);
	memset(&l, 0, sizeof(l));
	strlcpy(l.addr, "127.0.0.1", sizeof(l.addr));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 64) == -1)
		abort();
	len = sizeof(srv);
	if (getsockname(fd, (struct sockaddr *)&srv, &len) == -1)
		abort();
#ifdef FUZZ_WEBD_API
	l.flags = LF_HTTP | LF_API;
	api_setup();
#endif
	server_listen(fd, NULL, &l);
}

/* an interrupted connect's end: 0 connected, -1 not (errno set) */
static int
connected(int c)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 e, r;

	pfd.fd = c;
	pfd.events = POLLOUT;
	while ((r = poll(&pfd, 1, 30000)) == -1 && errno == EINTR)
		;
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0)
		return (-1);
	if (getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return (-1);
	errno = e;
	return (e == 0 ? 0 : -1);
}

/*
 * A connected client socket, from the next of 65534 loopback addresses
 * (127.1.0.1 to 127.1.255.254).  The client half-closes first, so each
 * run leaves its port in TIME_WAIT for a minute: from one address, a few
 * thousand runs a second use up the ephemeral ports in seconds and
 * connect fails (EADDRNOTAVAIL).
 */
static int
client(void)
{
	static uint32_t		 next;
	struct sockaddr_in	 sin;
	int			 c;

	next = next % 65534 + 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f010000 | next);
	if ((c = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (bind(c, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "bind");
	/*
	 * a SYN now and then gets no answer and is sent again a second
	 * later: libFuzzer's timer cuts the wait (EINTR) while the connect
	 * goes on, so wait for it to end
	 */
	if (connect(c, (struct sockaddr *)&srv, sizeof(srv)) == -1 &&
	    (errno != EINTR || connected(c) == -1))
		err(1, "connect");
	return (c);
}

/* the first answer's status line and header (r: the first len bytes) */
static void
check_answer(const char *r, size_t len)
{
	const char	*end;
	size_t		 i, hl;

	if (len == 0)
		return;
	if (len < 13 || strncmp(r, "HTTP/1.", 7) != 0 ||
	    (r[7] != '0' && r[7] != '1') || r[8] != ' ' ||
	    r[9] < '1' || r[9] > '5' || r[10] < '0' || r[10] > '9' ||
	    r[11] < '0' || r[11] > '9' || r[12] != ' ')
		abort();
	end = memmem(r, len, "\r\n\r\n", 4);
	hl = end != NULL ? (size_t)(end - r) + 2 : len;
	for (i = 0; i < hl; i++)
		if (r[i] == '\0' || (r[i] == '\r' && i + 1 < len &&
		    r[i + 1] != '\n') || (r[i] == '\n' && r[i - 1] != '\r'))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	static char	 ans[65536];
	char		 buf[65536];
	int		 c, i;
	ssize_t		 n;
	size_t		 alen = 0;

	if (!ready) {
		setup();
		ready = 1;
	}
	c = client();
	fcntl(c, F_SETFL, O_NONBLOCK);
	if (size > 0 && write(c, data, size) < 0)
		;	/* a full buffer: what was written is fuzzed */
	shutdown(c, SHUT_WR);
	for (i = 0; i < 200; i++) {
		event_base_loop(proc_base, EVLOOP_NONBLOCK);
		while ((n = read(c, buf, sizeof(buf))) > 0) {
			if ((size_t)n > sizeof(ans) - alen)
				n = sizeof(ans) - alen;
			memcpy(ans + alen, buf, n);
			alen += n;
		}
		if (n == 0)
			break;
	}
	close(c);
	check_answer(ans, alen);
	for (i = 0; i < 5; i++)
		event_base_loop(proc_base, EVLOOP_NONBLOCK);
	return (0);
}

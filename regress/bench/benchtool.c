/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * benchtool -- load generators and a target for regress/bench/run.
 *
 *   benchtool serve PORTFILE
 *	HTTP/1.1 server on 127.0.0.1 (a free port, written to PORTFILE):
 *	one epoll thread, keep-alive, Content-Length or chunked bodies,
 *	Expect: 100-continue; every POST gets "200 OK" with an empty body,
 *	"GET /count" answers the number of POSTs received so far.
 *
 *   benchtool hload PORT CONNS COUNT SIZE
 *	COUNT POSTs of SIZE bytes over CONNS keep-alive connections (one
 *	thread each); prints one JSON line {n, errors, secs, rate}.
 *
 *   benchtool apiload PORT CONNS COUNT JSONFILE KEY [idem]
 *	COUNT POSTs of the JSON in JSONFILE to /messages (mailhook's API,
 *	Authorization: Bearer KEY) over CONNS keep-alive connections; each
 *	must be answered 202; prints the same JSON line as hload.
 *
 *   benchtool smtplat PORT CONNS COUNT SIZE FROM TO [MSGFILE]
 *	COUNT SMTP transactions over CONNS concurrent clients (one thread
 *	each, a new session per message like smtp-source); times each from
 *	connect to the reply to the final "."; prints one JSON line {n, ok,
 *	errors, secs, rate, p50_ms, p90_ms, p99_ms, max_ms}.  With MSGFILE
 *	every transaction sends that message (CRLF lines, no line starting
 *	with a dot; SIZE is ignored), e.g. one signed with DKIM.  Each
 *	@SEQNUM@ in it becomes the transaction's number (8 digits), so
 *	that no two messages are the same.
 *
 * Built by regress/bench/run with plain cc; no mailhook code is used.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAXEV	256

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

/* ---------------------------------------------------------------- serve */

struct conn {
	int	 fd;
	char	*buf;
	size_t	 len, cap;
};

static unsigned long	posts;

/*
 * Length of the first complete request in c->buf, 0 if incomplete,
 * -1 if malformed.  *expect is set when the headers ask for 100-continue
 * and the body has not started; *post when the method is POST; *count
 * when the request is "GET /count".
 */
static long
request_len(struct conn *c, int *expect, int *post, int *count)
{
	char	*hend, *p, *line, *eol;
	size_t	 hlen, off;
	long	 clen = 0;
	int	 chunked = 0;

	*expect = *post = *count = 0;
	if ((hend = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
		return c->len > 65536 ? -1 : 0;
	hlen = hend - c->buf + 4;
	*post = strncmp(c->buf, "POST ", 5) == 0;
	*count = strncmp(c->buf, "GET /count ", 11) == 0;
	for (line = c->buf; line < hend; line = eol + 2) {
		eol = memmem(line, hend + 2 - line, "\r\n", 2);
		if (eol == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		    memmem(line, eol - line, "chunked", 7) != NULL)
			chunked = 1;
		else if (strncasecmp(line, "Expect:", 7) == 0 &&
		    memmem(line, eol - line, "100", 3) != NULL)
			*expect = 1;
	}
	if (*expect && c->len > hlen)
		*expect = 0;
	if (!chunked)
		return c->len >= hlen + clen ? (long)(hlen + clen) : 0;
	for (off = hlen;;) {
		unsigned long	 sz;
		char		*e;

		p = c->buf + off;
		e = memmem(p, c->len - off, "\r\n", 2);
		if (e == NULL)
			return 0;
		sz = strtoul(p, NULL, 16);
		off = e - c->buf + 2;
		if (sz == 0) {
			/* no trailers expected: the final CRLF */
			if (c->len < off + 2)
				return 0;
			return off + 2;
		}
		if (c->len < off + sz + 2)
			return 0;
		off += sz + 2;
	}
}

static void
reply(int fd, const char *s, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return;	/* peer gone or buffer full: drop */
		}
		s += w;
		n -= w;
	}
}

static int
serve_conn(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char	 tmp[65536], out[128];
	ssize_t	 n;
	long	 rl;
	int	 expect, post, count;

	for (;;) {
		n = read(c->fd, tmp, sizeof(tmp));
		if (n == 0)
			return -1;
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		if (c->len + n > c->cap) {
			c->cap = (c->len + n) * 2;
			if ((c->buf = realloc(c->buf, c->cap)) == NULL)
				die("realloc");
		}
		memcpy(c->buf + c->len, tmp, n);
		c->len += n;
		while (c->len > 0) {
			rl = request_len(c, &expect, &post, &count);
			if (rl < 0)
				return -1;
			if (rl == 0) {
				if (expect)
					reply(c->fd, cont, sizeof(cont) - 1);
				break;
			}
			if (post) {
				posts++;
				reply(c->fd, ok, sizeof(ok) - 1);
			} else if (count) {
				char	num[32];
				int	l = snprintf(num, sizeof(num), "%lu\n",
				    posts);

				l = snprintf(out, sizeof(out), "HTTP/1.1 200 OK"
				    "\r\nContent-Length: %d\r\n\r\n%s", l, num);
				reply(c->fd, out, l);
			} else
				reply(c->fd, ok, sizeof(ok) - 1);
			memmove(c->buf, c->buf + rl, c->len - rl);
			c->len -= rl;
		}
	}
}

static int __attribute__((noreturn))
serve(const char *portfile)
{
	struct sockaddr_in	 sin;
	struct epoll_event	 ev, evs[MAXEV];
	socklen_t		 sl = sizeof(sin);
	FILE			*f;
	int			 lfd, ep, i, n, one = 1;

	signal(SIGPIPE, SIG_IGN);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1)
		die("listen");
	if ((f = fopen(portfile, "w")) == NULL)
		die(portfile);
	fprintf(f, "%d\n", ntohs(sin.sin_port));
	fclose(f);
	if ((ep = epoll_create1(0)) == -1)
		die("epoll");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, MAXEV, -1);
		for (i = 0; i < n; i++) {
			struct conn	*c = evs[i].data.ptr;
			int		 fd;

			if (c != NULL) {
				if (serve_conn(c) == -1) {
					close(c->fd);
					free(c->buf);
					free(c);
				}
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL,
			    SOCK_NONBLOCK)) != -1) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				if ((c = calloc(1, sizeof(*c))) == NULL)
					die("calloc");
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
}

/* ----------------------------------------------------------- clients */

static int		 g_port, g_size;
static long		 g_count;
static atomic_long	 g_next, g_ok, g_err;
static const char	*g_from, *g_to;
static const char	*g_status = "HTTP/1.1 200";	/* hload, apiload */
static size_t		 g_idem_at;	/* apiload idem: its key's offset */
static unsigned long	 g_nonce;
static double		*g_lat;

static int
dial(void)
{
	struct sockaddr_in	sin;
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(g_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
sendall(int fd, const char *s, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= w;
	}
	return 0;
}

struct rd {
	int	fd;
	char	buf[8192];
	size_t	len;
};

/* the next line (without CRLF) into line; -1 on EOF/error */
static int
readline(struct rd *r, char *line, size_t sz)
{
	char	*e;
	ssize_t	 n;
	size_t	 l;

	for (;;) {
		if ((e = memchr(r->buf, '\n', r->len)) != NULL) {
			l = e - r->buf + 1;
			snprintf(line, sz, "%.*s", (int)(l > 1 ? l - 2 : 0),
			    r->buf);
			memmove(r->buf, r->buf + l, r->len - l);
			r->len -= l;
			return 0;
		}
		if (r->len == sizeof(r->buf))
			return -1;
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n <= 0)
			return -1;
		r->len += n;
	}
}

/* the code of a (possibly multi-line) SMTP reply, -1 on error */
static int
smtp_reply(struct rd *r)
{
	char	line[1024];

	for (;;) {
		if (readline(r, line, sizeof(line)) == -1)
			return -1;
		if (strlen(line) < 3)
			return -1;
		if (line[3] != '-')
			return atoi(line);
	}
}

static char *
make_body(void)
{
	char	*b, *p;
	int	 i, lines = g_size / 78 + 1;

	if ((b = malloc(lines * 80 + 512)) == NULL)
		die("malloc");
	p = b + sprintf(b, "From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n"
	    "Message-ID: <%ld.%d@bench.test>\r\n\r\n", g_from, g_to,
	    (long)time(NULL), getpid());
	for (i = 0; i < lines; i++) {
		memset(p, 'a' + i % 26, 76);
		p += 76;
		*p++ = '\r';
		*p++ = '\n';
	}
	strcpy(p, ".\r\n");
	return b;
}

/* the message of a file, with the final dot */
static char *
file_body(const char *path)
{
	FILE	*f;
	char	*b;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) == -1 ||
	    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) == -1)
		die(path);
	if ((b = malloc(n + 4)) == NULL)
		die("malloc");
	if (fread(b, 1, n, f) != (size_t)n || memchr(b, '\0', n) != NULL)
		die(path);
	fclose(f);
	strcpy(b + n, ".\r\n");
	return b;
}

#define SEQ_MARK	"@SEQNUM@"

/* body with every SEQ_MARK made transaction i's number */
static void
number_body(char *body, const char *tmpl, size_t len, long i)
{
	char	*m, num[sizeof(SEQ_MARK)];

	memcpy(body, tmpl, len + 1);
	snprintf(num, sizeof(num), "%08lu", (unsigned long)i % 100000000);
	for (m = body; (m = strstr(m, SEQ_MARK)) != NULL; m += sizeof(num) - 1)
		memcpy(m, num, sizeof(num) - 1);
}

static void *
smtp_worker(void *arg)
{
	struct rd	 r;
	char		 cmd[1024], *tmpl = arg, *body = arg;
	size_t		 blen = strlen(body);
	long		 i;
	double		 t0;

	if (strstr(tmpl, SEQ_MARK) != NULL && (body = malloc(blen + 1)) == NULL)
		die("malloc");
	while ((i = atomic_fetch_add(&g_next, 1)) < g_count) {
		if (body != tmpl)
			number_body(body, tmpl, blen, i);
		t0 = now();
		if ((r.fd = dial()) == -1) {
			atomic_fetch_add(&g_err, 1);
			continue;
		}
		r.len = 0;
		snprintf(cmd, sizeof(cmd), "EHLO bench.test\r\n");
		if (smtp_reply(&r) != 220 || sendall(r.fd, cmd, strlen(cmd)) ||
		    smtp_reply(&r) != 250)
			goto fail;
		snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", g_from);
		if (sendall(r.fd, cmd, strlen(cmd)) || smtp_reply(&r) != 250)
			goto fail;
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", g_to);
		if (sendall(r.fd, cmd, strlen(cmd)) || smtp_reply(&r) != 250)
			goto fail;
		if (sendall(r.fd, "DATA\r\n", 6) || smtp_reply(&r) != 354)
			goto fail;
		if (sendall(r.fd, body, blen) || smtp_reply(&r) != 250)
			goto fail;
		g_lat[i] = now() - t0;
		atomic_fetch_add(&g_ok, 1);
		sendall(r.fd, "QUIT\r\n", 6);
		smtp_reply(&r);
		close(r.fd);
		continue;
 fail:
		g_lat[i] = -1;
		atomic_fetch_add(&g_err, 1);
		close(r.fd);
	}
	if (body != tmpl)
		free(body);
	return NULL;
}

/* the n bytes of a response body, read and dropped; -1 on EOF/error */
static int
skip_body(struct rd *r, long n)
{
	ssize_t	 k;

	if (n < 0)
		return -1;
	while ((size_t)n > r->len) {
		n -= r->len;
		if ((k = read(r->fd, r->buf, sizeof(r->buf))) <= 0)
			return -1;
		r->len = k;
	}
	memmove(r->buf, r->buf + n, r->len - n);
	r->len -= n;
	return 0;
}

static void *
http_worker(void *arg)
{
	struct rd	 r;
	char		*req = arg, line[1024], key[32];
	size_t		 rlen = strlen(req);
	long		 i, clen;

	/* idem: a new Idempotency-Key per request, in a copy of its own */
	if (g_idem_at > 0 && (req = strdup(req)) == NULL)
		die("strdup");

	if ((r.fd = dial()) == -1) {
		atomic_fetch_add(&g_err, 1);
		return NULL;
	}
	r.len = 0;
	while ((i = atomic_fetch_add(&g_next, 1)) < g_count) {
		if (g_idem_at > 0) {
			snprintf(key, sizeof(key), "%08lx-%015ld", g_nonce, i);
			memcpy(req + g_idem_at, key, 24);
		}
		if (sendall(r.fd, req, rlen) == -1)
			break;
		clen = 0;
		if (readline(&r, line, sizeof(line)) == -1 ||
		    strncmp(line, g_status, strlen(g_status)) != 0)
			break;
		do {
			if (readline(&r, line, sizeof(line)) == -1)
				goto out;
			if (strncasecmp(line, "Content-Length:", 15) == 0)
				clen = atol(line + 15);
		} while (line[0] != '\0');
		if (skip_body(&r, clen) == -1)
			break;
		atomic_fetch_add(&g_ok, 1);
	}
 out:
	if (i < g_count)
		atomic_fetch_add(&g_err, 1);
	close(r.fd);
	if (g_idem_at > 0)
		free(req);
	return NULL;
}

static int
cmpd(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, long n, double p)
{
	long	i;

	if (n == 0)
		return 0;
	i = (long)(p * (n - 1) + 0.5);
	return v[i] * 1000.0;
}

static void
run_threads(int conns, void *(*fn)(void *), void *arg)
{
	pthread_t	*t;
	int		 i;

	if ((t = calloc(conns, sizeof(*t))) == NULL)
		die("calloc");
	for (i = 0; i < conns; i++)
		if (pthread_create(&t[i], NULL, fn, arg) != 0)
			die("pthread_create");
	for (i = 0; i < conns; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* apiload's request: the JSON of a file, POSTed with the key; idem: with
 * an Idempotency-Key, a new one per request (http_worker) */
static char *
api_request(const char *path, const char *key, int idem)
{
	FILE		*f;
	char		*b;
	long		 n;
	int		 h;
	uint32_t	 r32;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) == -1 ||
	    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) == -1)
		die(path);
	if ((b = malloc(n + strlen(key) + 256)) == NULL)
		die("malloc");
	h = sprintf(b, "POST /messages HTTP/1.1\r\nHost: bench\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %ld\r\n", key, n);
	if (idem) {
		h += sprintf(b + h, "Idempotency-Key: ");
		g_idem_at = h;
		/* one run's keys unlike every other run's: time ^ pid gave
		 * two rounds the same keys once (a 202 for each, no mail) */
		if (getrandom(&r32, sizeof(r32), 0) != sizeof(r32))
			die("getrandom");
		g_nonce = r32;
		h += sprintf(b + h, "%024d\r\n", 0);
	}
	h += sprintf(b + h, "\r\n");
	if (fread(b + h, 1, n, f) != (size_t)n)
		die(path);
	b[h + n] = '\0';
	fclose(f);
	g_status = "HTTP/1.1 202";
	return b;
}

static int
client(int argc, char *argv[], int smtp)
{
	char	*payload;
	double	 t0, secs;
	long	 i, n;
	int	 conns;

	signal(SIGPIPE, SIG_IGN);
	g_port = atoi(argv[2]);
	conns = atoi(argv[3]);
	g_count = atol(argv[4]);
	g_size = strcmp(argv[1], "apiload") == 0 ? 0 : atoi(argv[5]);
	if (conns < 1 || g_count < 1 || g_size < 0)
		return 2;
	if (strcmp(argv[1], "apiload") == 0)
		payload = api_request(argv[5], argv[6], argc == 8 &&
		    strcmp(argv[7], "idem") == 0);
	else if (smtp) {
		g_from = argv[6];
		g_to = argv[7];
		payload = argc == 9 ? file_body(argv[8]) : make_body();
		if ((g_lat = calloc(g_count, sizeof(double))) == NULL)
			die("calloc");
	} else {
		if ((payload = malloc(g_size + 256)) == NULL)
			die("malloc");
		n = sprintf(payload, "POST /load HTTP/1.1\r\nHost: bench\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Length: %d\r\n\r\n", g_size);
		memset(payload + n, 'x', g_size);
		payload[n + g_size] = '\0';
	}
	t0 = now();
	run_threads(conns, smtp ? smtp_worker : http_worker, payload);
	secs = now() - t0;
	printf("{\"n\": %ld, \"ok\": %ld, \"errors\": %ld, \"secs\": %.4f, "
	    "\"rate\": %.1f", g_count, (long)g_ok, (long)g_err, secs,
	    g_ok / secs);
	if (smtp) {
		for (i = n = 0; i < g_count; i++)
			if (g_lat[i] > 0)
				g_lat[n++] = g_lat[i];
		qsort(g_lat, n, sizeof(double), cmpd);
		printf(", \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
		    "\"p99_ms\": %.3f, \"max_ms\": %.3f", pct(g_lat, n, 0.5),
		    pct(g_lat, n, 0.9), pct(g_lat, n, 0.99),
		    pct(g_lat, n, 1.0));
	}
	printf("}\n");
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc == 6 && strcmp(argv[1], "hload") == 0)
		return client(argc, argv, 0);
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "apiload") == 0)
		return client(argc, argv, 0);
	if ((argc == 8 || argc == 9) && strcmp(argv[1], "smtplat") == 0)
		return client(argc, argv, 1);
	fprintf(stderr, "usage: benchtool serve PORTFILE\n"
	    "       benchtool hload PORT CONNS COUNT SIZE\n"
	    "       benchtool apiload PORT CONNS COUNT JSONFILE KEY [idem]\n"
	    "       benchtool smtplat PORT CONNS COUNT SIZE FROM TO "
	    "[MSGFILE]\n");
	return 2;
}

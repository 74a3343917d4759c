/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * webd's HTTP server: libevent's evhttp on the listeners the parent bound.
 *
 * Every connection gets a bufferevent filter between evhttp and the
 * socket.  On an https listener the filter runs libtls (tls_accept_cbs:
 * libtls reads ciphertext from the socket's input buffer and writes to its
 * output buffer, the filter moves plaintext to and from evhttp; its
 * context is made when the client's first bytes come, conn_tls); on plain
 * http it passes the bytes through.  Either way the filter's context is
 * the connection's: it carries the deadline that bounds the time a client
 * may take to send a request head (slowloris), which evhttp's idle
 * timeout alone does not, and on the API the pace of its body
 * (body_came), and it is freed with the connection.  A handshake or
 * record that libtls refuses closes the connection at once (conn_fail).
 *
 * libevent 2.1's filter tells its user that output is written as soon as
 * the filter has moved it to the socket's buffer, and does not move
 * output that was queued while writing was disabled.  evhttp queues its
 * answer first and enables writing after, and closes a connection as
 * soon as it hears "written": answers were stuck or cut.  So the filter
 * here moves output from an event of its own (kick) and never says
 * "written" itself; the wrapped write callback of the socket says it
 * once the socket's buffer is empty, as a plain socket would.  On plain
 * http the filter first writes to the socket itself when nothing waits
 * in the socket's buffer (a 302 fits at once): then no write event is
 * armed and disarmed per answer, and the kick says "written".  Nor does
 * the filter go back to bytes it read while evhttp was answering
 * (pipelined requests): the kick hands them on too.  The filter reads
 * the head of each answer once evhttp has queued it (kick): it replaces
 * evhttp's HTML error pages by webd's own (evhttp_page), adds the
 * Date that evhttp gives only to HTTP/1.1 answers (head_date) and drops
 * the body that evhttp's own pages carry to a HEAD (head_nobody).
 *
 * Limits are request.c's: while a head is awaited, and through a
 * chunked body, the filter hands it what the client sends (head_scan)
 * and refuses the request with the status it gives back (head_refuse).
 *
 * On the API listener every answer is JSON, elsewhere an error is plain
 * text (evhttp_page): the ones evhttp makes on its own (a request it
 * cannot parse, a chunked body over the cap, ...) are HTML pages, which
 * the filter replaces on their way out; and on the API a request begun
 * but not whole at the head deadline gets 408.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <jansson.h>
#include <tls.h>

#include "log.h"
#include "webd.h"

/* a listener's libtls server: freed with the last connection it made */
struct web_tls {
	struct tls		*ctx;
	int			 refs;		/* the listener's, a
						   connection's */
};

static void	 conn_tls(struct web_conn *);
static void	 head_refuse(struct web_conn *, int);
static void	 linger_start(int);
static void	 web_tls_unref(struct web_tls *);

static struct event_base	 *srv_base;
static struct web_listener	 *listeners;
static size_t			  n_linger;
static struct web_conn		**conn_by_fd;
static size_t			  conn_max;
static uint64_t			  n_conns, n_open, n_timeouts, n_tls_errors,
				  n_refused, n_accept_pauses;
static uint64_t			  api_bodies;	/* body bytes held, all
						   API requests (body_came) */

void
server_init(struct event_base *base)
{
	struct rlimit	 rl;

	srv_base = base;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	conn_max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576 ?
	    1048576 : rl.rlim_cur;
	if ((conn_by_fd = calloc(conn_max, sizeof(*conn_by_fd))) == NULL)
		fatal("server_init");
}

static void
deadline_arm(struct web_conn *c)
{
	struct timeval	 tv = { WEB_HEAD_TIMEOUT, 0 };

	evtimer_add(c->deadline, &tv);
}

/* milliseconds since the request began (head_reset) */
static uint64_t
since_ms(const struct web_conn *c)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < c->since.tv_sec)
		return (0);
	return ((uint64_t)(now.tv_sec - c->since.tv_sec) * 1000 +
	    now.tv_nsec / 1000000 - c->since.tv_nsec / 1000000);
}

/*
 * n bytes of an API request's body came.  webd holds the bodies of every
 * request it reads: past WEB_API_BODIES whole ones at once (the client
 * that sends the bytes over it is answered 503, and closed: 1 returned)
 * nobody can have it hold more, however many connections one sends
 * large bodies on, slowly.  Otherwise its deadline moves to
 * WEB_HEAD_TIMEOUT seconds from now, but never past WEB_HEAD_TIMEOUT
 * seconds from the request's start plus a second for every
 * WEB_BODY_RATE bytes of body so far.  A large submission on a slow link
 * is whole in time as long as it keeps coming at that rate on average;
 * a client that trickles a few bytes now and then is cut near the first
 * deadline, as before.  Nothing moves while the request is answered (no
 * deadline then) or once it is refused.
 */
static int
body_came(struct web_conn *c, size_t n)
{
	struct timeval	 tv;
	uint64_t	 now, until, cap;

	if (n == 0 || !c->api || c->refused || c->failed ||
	    !evtimer_pending(c->deadline, NULL))
		return (0);
	c->body_len += n;
	api_bodies += n;
	if (api_bodies > (uint64_t)WEB_API_BODIES * api_body_max()) {
		log_warnx("api: %llu bytes of request bodies held, refusing "
		    "one more", (unsigned long long)api_bodies);
		return (1);
	}
	now = since_ms(c);
	until = now + WEB_HEAD_TIMEOUT * 1000;
	cap = WEB_HEAD_TIMEOUT * 1000 + c->body_len * 1000 / WEB_BODY_RATE;
	if (until > cap)
		until = cap;
	if (until <= now)
		return (0);	/* due: the deadline as it is */
	tv.tv_sec = (until - now) / 1000;
	tv.tv_usec = (until - now) % 1000 * 1000;
	evtimer_add(c->deadline, &tv);
	return (0);
}

/*
 * No complete request in time: evhttp closes it as on a read timeout.
 * Also made active at once when the connection's TLS broke (conn_fail).
 */
static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct web_conn	*c = arg;

	if (c->failed) {
		/* this frees c through conn_free() */
		bufferevent_trigger_event(c->bev,
		    BEV_EVENT_READING | BEV_EVENT_ERROR, 0);
		return;
	}
	n_timeouts++;
	log_debug("connection %d: no whole request in time, closing", c->fd);
	/* the API says so (JSON) when a request was begun; closes after */
	if (c->api && c->head_len > 0 && !c->refused) {
		head_refuse(c, 408);
		deadline_arm(c);
		return;
	}
	/* this frees c through conn_free() */
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
	    0);
}

/*
 * A connection webd refused while its client was still sending (a body
 * over the cap): closing it with unread bytes would reset it, and the
 * client would lose the answer.  So a copy of the socket outlives the
 * connection: its sending side is shut once the answer is out, and what
 * the client still sends is read and dropped until it closes, or for
 * WEB_LINGER seconds.  At most WEB_LINGER_MAX at once: others just close.
 */
struct web_linger {
	struct event	*ev;
	time_t		 until;
};

static void
linger_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct web_linger	*l = arg;
	char		 buf[16384];
	ssize_t		 n = 0;
	int		 i;

	for (i = 0; (ev & EV_READ) && i < 64; i++)
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
	/* a persistent event's timeout restarts: the deadline is ours */
	if ((ev & EV_READ) && (i == 64 || (n == -1 && (errno == EAGAIN ||
	    errno == EINTR))) && time(NULL) < l->until)
		return;
	event_free(l->ev);
	free(l);
	close(fd);
	n_linger--;
}

static void
linger_start(int fd)
{
	struct timeval	 tv = { WEB_LINGER, 0 };
	struct web_linger	*l;

	if (n_linger >= WEB_LINGER_MAX || shutdown(fd, SHUT_WR) == -1 ||
	    (l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		return;
	}
	if ((l->ev = event_new(srv_base, fd, EV_READ | EV_PERSIST, linger_cb,
	    l)) == NULL) {
		free(l);
		close(fd);
		return;
	}
	l->until = time(NULL) + WEB_LINGER;
	event_add(l->ev, &tv);
	n_linger++;
}

/*
 * evhttp lets go of a connection (before it shuts the socket): on https
 * a close_notify alert goes first (RFC 8446 6.1), else the client cannot
 * tell the end of an answer that the close delimits (HTTP/1.0, RFC 9112
 * 9.8), or a close before any request, from a truncation.  What the
 * socket takes now goes: nothing waits for a slow client.  libtls sends
 * it only if the handshake was complete.
 */
static void
tls_notify(struct evhttp_connection *evcon, void *arg)
{
	struct web_conn	*c = arg;
	struct evbuffer	*out = bufferevent_get_output(c->under);
	int		 fd = bufferevent_getfd(c->under);

	if (c->failed || fd < 0 || c->tls == NULL || tls_close(c->tls) == -1)
		return;
	/* the socket bufferevent keeps its output's start frozen */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 && evbuffer_write(out, fd) > 0)
		;
	evbuffer_freeze(out, 1);
}

/* tls_notify as evhttp's close callback of an https connection, once */
static void
tls_notify_on(struct web_conn *c, struct evhttp_connection *evcon)
{
	if (c->srv == NULL || c->notify_set || evcon == NULL)
		return;
	evhttp_connection_set_closecb(evcon, tls_notify, c);
	c->notify_set = 1;
}

/*
 * tls_notify as evhttp's close callback from the client's first bytes,
 * before a handshake can be complete: set only once a request came, a
 * connection closed before (at the head deadline, after evhttp's own
 * 400 to a request line it cannot parse) ended with no close_notify.
 * libevent 2.1 gives no way to the evhttp connection before a request
 * but the argument of the filter's callbacks, which evhttp sets to it.
 */
static void
tls_notify_set(struct web_conn *c)
{
	void	*evcon;

	if (c->notify_set)
		return;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	if (evcon != NULL && evhttp_connection_get_bufferevent(evcon) == c->bev)
		tls_notify_on(c, evcon);
}

static void
conn_free(void *arg)
{
	struct web_conn	*c = arg;

	/* before the socket closes (the underlying bufferevent's end) */
	if (c->reader != NULL)
		event_free(c->reader);
	event_free(c->kick);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	if (c->linger_fd != -1)
		linger_start(c->linger_fd);
	if (c->fd >= 0 && (size_t)c->fd < conn_max && conn_by_fd[c->fd] == c)
		conn_by_fd[c->fd] = NULL;
	api_bodies -= c->body_len;
	event_free(c->deadline);
	if (c->tls != NULL)
		tls_free(c->tls);
	if (c->srv != NULL)
		web_tls_unref(c->srv);
	n_open--;
	free(c);
}

static void	under_read(struct bufferevent *, void *);
static void	under_event(struct bufferevent *, short, void *);

/*
 * Reading the socket.  The socket bufferevent reads with an
 * ioctl(FIONREAD) before each readv, a system call a request more; and
 * while evhttp stops reading around an answer that waits for hookd (a
 * click's event), libevent would take the socket out of epoll and put
 * it back, an epoll_ctl pair a request.  So once a connection has sent
 * its first bytes, an event of our own reads it: one read(2), added to
 * the socket bufferevent's input (chains sized by what came, not by
 * what might), then the filter hears of it as from the
 * bufferevent itself (under_read; the end of the stream and errors
 * through under_event).  It stays added while evhttp answers, so the
 * socket stays in epoll.  Should the socket become readable while evhttp
 * is not reading (a pipelined request, or the client's close, during the
 * wait), it steps aside: the bufferevent reads again as libevent made
 * it, and hands back at its next read (reader_take).
 */
static int
evhttp_reading(const struct web_conn *c)
{
	return ((bufferevent_get_enabled(c->bev) & EV_READ) != 0);
}

static void
reader_aside(struct web_conn *c)
{
	if (!c->reading)
		return;
	event_del(c->reader);
	c->reading = 0;
	bufferevent_enable(c->under, EV_READ);
}

static void
conn_read(struct web_conn *c)
{
	static char	 buf[WEB_READ_MAX];
	struct evbuffer	*in = bufferevent_get_input(c->under);
	ssize_t		 n;
	int		 rv;

	if ((n = read(c->fd, buf, sizeof(buf))) > 0) {
		/* the bufferevent keeps its input's end frozen but to read */
		evbuffer_unfreeze(in, 0);
		rv = evbuffer_add(in, buf, n);
		evbuffer_freeze(in, 0);
		if (rv == -1)
			fatalx("conn_read: evbuffer_add");
		under_read(c->under, c);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	/* as the bufferevent does: no more reading, then the event */
	event_del(c->reader);
	c->reading = 0;
	under_event(c->under, BEV_EVENT_READING |
	    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

/*
 * The socket is readable while evhttp is not reading: a pipelined
 * request, or the client's close.  The bufferevent that reads on is
 * suspended by the filter until evhttp reads again, after the answer, so
 * the close would be learned only then: a look (MSG_PEEK) tells it now,
 * for server_gone().
 */
static void
peer_check(struct web_conn *c)
{
	char	 b;
	ssize_t	 n;

	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR))
		c->peer_closed = 1;
}

/*
 * What the filter handed evhttp waits in its input until evhttp parses
 * it, a request at a time, each answered before the next is read; and
 * while an answer is written evhttp reads on, only to learn of a close.
 * The reader read the socket as fast as the client sent: a client that
 * pipelines requests and never reads the answers (or faster than they
 * are made, as on https, where each takes a few turns of the loop) had
 * webd hold all it sent, without bound.  Once WEB_AHEAD_MAX bytes wait
 * there the reader stops (the socket bufferevent's own reading stays
 * off) and the rest waits in the kernel, whose window stops the client,
 * until evhttp has taken them (in_taken).  evhttp takes a body only
 * once all of it came (a Content-Length's, a chunk's): the cap is that
 * much higher once a head is whole, and off within a chunked body (both
 * under the body's cap, request.c).
 */
static size_t
ahead_cap(const struct web_conn *c)
{
	/* a head whole: evhttp takes its body only once all of it came */
	return (WEB_AHEAD_MAX + (c->in_head || c->too_big ? 0 : c->clen));
}

static int
ahead_full(struct web_conn *c)
{
	if (c->chunking ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) +
	    evbuffer_get_length(bufferevent_get_input(c->under)) <
	    ahead_cap(c))
		return (0);
	event_del(c->reader);
	c->reading = 0;
	c->ahead_full = 1;
	return (1);
}

/* evhttp took some of what waited in its input: read on below the cap */
static void
in_taken(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct web_conn	*c = arg;

	if (!c->ahead_full || info->n_deleted == 0 ||
	    evbuffer_get_length(b) >= ahead_cap(c))
		return;
	c->ahead_full = 0;
	if (event_add(c->reader, NULL) == -1)
		fatalx("event_add");
	c->reading = 1;
}

static void
reader_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct web_conn	*c = arg;

	if (!evhttp_reading(c)) {
		peer_check(c);
		reader_aside(c);
		return;
	}
	if (ahead_full(c))
		return;
	/* evhttp may let the connection go meanwhile: c outlives the call */
	bufferevent_incref(c->bev);
	conn_read(c);
	bufferevent_decref(c->bev);
}

/* the socket's first bytes (reader_take): its descriptor is known */
static void
conn_seen(struct web_conn *c)
{
	if (c->fd != -1)
		return;
	c->fd = bufferevent_getfd(c->under);
	if (c->fd >= 0 && (size_t)c->fd < conn_max)
		conn_by_fd[c->fd] = c;
	if (c->fd >= 0 && (c->reader = event_new(srv_base, c->fd,
	    EV_READ | EV_PERSIST, reader_cb, c)) == NULL)
		fatalx("event_new");
}

/* the socket bufferevent read: from now on the reader does */
static void
reader_take(struct web_conn *c)
{
	conn_seen(c);
	if (c->reading || c->reader == NULL || !evhttp_reading(c))
		return;
	bufferevent_disable(c->under, EV_READ);
	if (event_add(c->reader, NULL) == -1)
		fatalx("event_add");
	c->reading = 1;
}

static void
head_reset(struct web_conn *c)
{
	c->in_head = 1;
	c->head_len = c->line_len = c->lstart_len = 0;
	c->ltail_len = 0;
	c->too_big = c->bad = c->reqline = c->no_body = c->clen_seen = 0;
	c->rl_blanks = 0;
	c->is_head = 0;
	c->clen = 0;
	c->chunked = c->auth_seen = c->submit = c->ctype = 0;
	c->chunking = c->chunk_crlf = c->trailer = 0;
	c->chunk_left = c->chunk_len = c->trailer_len = 0;
	c->auth_why = NULL;
	c->auth_name[0] = '\0';
	c->last = '\0';
	api_bodies -= c->body_len;	/* its request is answered */
	c->body_len = 0;
	if (c->api)
		clock_gettime(CLOCK_MONOTONIC, &c->since);
}

/* the API's error code and the reason phrase of a status webd answers */
static const char *
status_code(int status, const char **reason)
{
	switch (status) {
	case 400: *reason = "Bad Request"; return ("bad_request");
	case 401: *reason = "Unauthorized"; return ("unauthorized");
	case 405: *reason = "Method Not Allowed"; return ("method_not_allowed");
	case 408: *reason = "Request Timeout"; return ("timeout");
	case 411: *reason = "Length Required"; return ("length_required");
	case 413: *reason = "Payload Too Large"; return ("too_large");
	case 415: *reason = "Unsupported Media Type";
		return ("unsupported_media_type");
	case 414: *reason = "URI Too Long"; return ("uri_too_long");
	case 417: *reason = "Expectation Failed";
		return ("expectation_failed");
	case 431: *reason = "Request Header Fields Too Large";
		return ("headers_too_large");
	case 501: *reason = "Not Implemented"; return ("not_implemented");
	case 503: *reason = "Service Unavailable"; return ("unavailable");
	case 505: *reason = "HTTP Version Not Supported";
		return ("version_not_supported");
	default: *reason = "Error"; return ("http_error");
	}
}

/*
 * An answer of webd's own straight to the socket (through TLS on https),
 * past evhttp, and the connection closes after it: JSON on the API, as
 * its other errors (api.c), plain text elsewhere.
 */
static void
conn_answer(struct web_conn *c, int status)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	const char	*reason, *code = status_code(status, &reason);
	const char	*text;
	char		 msg[640], body[256], date[40], why[128];
	char		 ip[NI_MAXHOST] = "unknown";
	int		 len, fd;

	text = status == 415 ? API_CTYPE_WHY : reason;
	/* logged as the API's own refusals are (api_log_refused) */
	if (c->api) {
		if (c->fd >= 0 && getpeername(c->fd, (struct sockaddr *)&ss,
		    &sl) == 0)
			(void)getnameinfo((struct sockaddr *)&ss, sl, ip,
			    sizeof(ip), NULL, 0, NI_NUMERICHOST);
		snprintf(why, sizeof(why), "%s, before its body was read",
		    status == 401 && c->auth_why != NULL ? c->auth_why :
		    text);
		api_log_refused(NULL, c->auth_name, ip, status, code, why);
	}

	if (c->api)
		snprintf(body, sizeof(body), "{\"code\":\"%s\",\"message\":"
		    "\"%s\"}\n", code, text);
	else
		snprintf(body, sizeof(body), "%s\n", reason);
	http_date(date, sizeof(date));
	/* to a HEAD: the length a GET would have, no body (RFC 9110 9.3.2) */
	len = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: %s\r\n%s"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, reason, date, c->api ? "application/json" :
	    "text/plain; charset=utf-8", status == 401 ?
	    "WWW-Authenticate: Bearer realm=\"mailhook\"\r\n" :
	    status == 503 ? "Retry-After: " WEB_RETRY_AFTER "\r\n" : "",
	    strlen(body), c->is_head ? "" : body);
	if (c->srv != NULL)
		conn_tls(c);
	if (c->srv == NULL)
		evbuffer_add(bufferevent_get_output(c->under), msg, len);
	else if (tls_write(c->tls, msg, len) != len)
		log_debug("connection %d: tls: %s", c->fd,
		    tls_error(c->tls));
	else
		(void)tls_close(c->tls);	/* the close_notify after it */
	bufferevent_enable(c->under, EV_WRITE);
	if (c->linger_fd == -1 && (fd = bufferevent_getfd(c->under)) >= 0)
		c->linger_fd = dup(fd);
}

/*
 * A head over the cap, or a body: the status, nothing more to evhttp;
 * the connection closes once the answer is out (under_write) or at the
 * head deadline.
 */
static void
head_refuse(struct web_conn *c, int status)
{
	c->refused = 1;
	c->in_head = 0;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	conn_answer(c, status);
	log_debug("connection %d: refused before evhttp: %d", c->fd,
	    status);
	n_refused++;
}

/*
 * webd's errors are JSON on the API and plain text elsewhere
 * (conn_answer).  evhttp answers some requests itself with an HTML page
 * (evhttp_send_error: a request line or header field it cannot parse,
 * an HTTP version it does not know, a chunk size it cannot read, a
 * chunked body over the cap, an unknown method, an unknown Expect), and
 * libevent 2.1 has no hook for that (evhttp_set_errorcb came in 2.2);
 * request.c's checks send the same pages.  So the filter looks at the
 * head of every error answer before moving it on: evhttp's pages are
 * the only bare "text/html" (the unsubscribe page says its charset), and
 * are replaced by the same status as webd's own.  evhttp closes the
 * connection after them (Connection: close), and so does ours.  Returns
 * 1 when it replaced one (src drained), 0 when the answer goes on as is.
 */
static int
evhttp_page(struct web_conn *c, struct evbuffer *src)
{
	static const char	 html[] = "\r\nContent-Type: text/html\r\n";
	struct evbuffer_ptr	 end;
	const char		*p;
	size_t			 n;
	int			 status;

	end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
	if (end.pos < 0 || end.pos > 4096 ||
	    (p = (const char *)evbuffer_pullup(src, end.pos + 2)) == NULL)
		return (0);
	n = end.pos + 2;
	if (n < 13 || strncmp(p, "HTTP/", 5) != 0 ||
	    memmem(p, n, html, sizeof(html) - 1) == NULL)
		return (0);
	status = atoi(p + 9);
	if (status < 400 || status > 599)
		status = 400;	/* evhttp's 0 for a method it does not know */
	evbuffer_drain(src, evbuffer_get_length(src));
	log_debug("connection %d: evhttp's %d answered as %s", c->fd,
	    status, c->api ? "JSON" : "plain text");
	n_refused++;
	conn_answer(c, status);
	return (1);
}

/* an answer whose status line says 4xx or 5xx: evhttp_page may take it */
static int
head_error(struct evbuffer *src)
{
	const char	*p;

	return (evbuffer_get_length(src) >= 10 &&
	    (p = (const char *)evbuffer_pullup(src, 10)) != NULL &&
	    p[9] >= '4');
}

/* libtls reads ciphertext from the socket's input buffer */
static ssize_t
tls_rcb(struct tls *ctx, void *buf, size_t len, void *arg)
{
	struct web_conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(c->under);
	int		 n;

	if (evbuffer_get_length(in) == 0)
		return (TLS_WANT_POLLIN);
	if ((n = evbuffer_remove(in, buf, len)) < 0)
		return (-1);
	return (n);
}

/* and writes it to the socket's output buffer: never blocks */
static ssize_t
tls_wcb(struct tls *ctx, const void *buf, size_t len, void *arg)
{
	struct web_conn	*c = arg;

	if (evbuffer_add(bufferevent_get_output(c->under), buf, len) == -1)
		return (-1);
	return ((ssize_t)len);
}

/*
 * The client broke the connection's TLS: a handshake that failed (plain
 * http or garbage on an https listener, an alert), a record that does
 * not decrypt or an answer that cannot be written.  Nothing more can be
 * read or answered on it, and libevent 2.1's filter does nothing with
 * BEV_ERROR: it closes now, from the loop (deadline_cb, made active), not
 * at the head deadline.
 */
static void
conn_fail(struct web_conn *c)
{
	if (c->failed)
		return;
	n_tls_errors++;
	log_debug("connection %d: tls: %s, closing", c->fd,
	    tls_error(c->tls));
	c->failed = 1;
	event_active(c->deadline, EV_TIMEOUT, 1);
}

/*
 * An https connection's TLS context, made when its first bytes came
 * (filter_in): libtls's server context with OpenSSL's behind it is some
 * 9 KiB, which a client that connects and never sends would otherwise
 * hold until the head deadline (5,000 of them: 45 MB).  The server is
 * the one the connection was accepted with, also after a reload.
 */
static void
conn_tls(struct web_conn *c)
{
	if (c->tls != NULL)
		return;
	if (tls_accept_cbs(c->srv->ctx, &c->tls, tls_rcb, tls_wcb, c) == -1)
		fatalx("tls_accept_cbs: %s", tls_error(c->srv->ctx));
}

static enum bufferevent_filter_result
filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct web_conn	*c = arg;
	char		 buf[16384];
	ssize_t		 n;
	size_t		 len, head, body = 0;
	int		 got = 0, st;

	if (c->refused || c->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return (BEV_NEED_MORE);
	}
	if (c->srv == NULL) {
		if ((len = evbuffer_get_length(src)) == 0)
			return (BEV_NEED_MORE);
		head = c->head_len;
		if ((st = head_scan_buf(c, src, dst)) != 0) {
			head_refuse(c, st);
			evbuffer_drain(src, evbuffer_get_length(src));
			return (BEV_NEED_MORE);
		}
		/* what is not the head's is the body's */
		if (body_came(c, len - (c->head_len - head))) {
			head_refuse(c, 503);
			evbuffer_drain(src, evbuffer_get_length(src));
			return (BEV_NEED_MORE);
		}
		return (BEV_OK);
	}
	if (c->tls == NULL) {
		if (evbuffer_get_length(src) == 0)
			return (BEV_NEED_MORE);
		conn_tls(c);
	}
	tls_notify_set(c);
	for (;;) {
		n = tls_read(c->tls, buf, sizeof(buf));
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT)
			break;
		if (n == -1) {
			conn_fail(c);
			return (BEV_ERROR);
		}
		if (n == 0) {
			/* close_notify: the client reads no more */
			c->peer_closed = 1;
			break;
		}
		head = c->head_len;
		if ((st = head_scan(c, buf, n, dst)) != 0) {
			head_refuse(c, st);
			return (BEV_NEED_MORE);
		}
		body += n - (c->head_len - head);
		got = 1;
	}
	if (body_came(c, body)) {
		head_refuse(c, 503);	/* drains what was added */
		return (BEV_NEED_MORE);
	}
	return (got ? BEV_OK : BEV_NEED_MORE);
}

static enum bufferevent_filter_result
filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct web_conn	*c = arg;
	unsigned char	*p;
	size_t		 len;
	ssize_t		 n;

	if (evbuffer_get_length(src) > 0)
		c->owed = 1;
	if (c->ostart && !c->api && !c->is_head && head_dated(src) &&
	    !head_error(src))
		c->ostart = 0;		/* nothing to add: out at once */
	if (c->ostart) {
		/* the head is read once evhttp has queued it all (kick) */
		if (mode == BEV_NORMAL)
			return (BEV_NEED_MORE);
		c->ostart = 0;
		if (evhttp_page(c, src))
			return (BEV_NEED_MORE);
		if (c->is_head)
			head_nobody(src);
		head_date(src);
	}
	if (c->srv == NULL) {
		/*
		 * straight to the socket when nothing waits before it: what
		 * it takes needs no write event (kick_cb says "written")
		 */
		if (evbuffer_get_length(dst) == 0 &&
		    evbuffer_get_length(src) > 0 &&
		    evbuffer_write(src, bufferevent_getfd(c->under)) > 0)
			c->direct = 1;
		evbuffer_add_buffer(dst, src);
		/* not BEV_OK: "written" is said by under_write() */
		return (BEV_NEED_MORE);
	}
	if (evbuffer_get_length(src) > 0)
		conn_tls(c);
	while ((len = evbuffer_get_length(src)) > 0) {
		if (len > 16384)
			len = 16384;
		if ((p = evbuffer_pullup(src, len)) == NULL)
			return (BEV_ERROR);
		n = tls_write(c->tls, p, len);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT)
			return (BEV_NEED_MORE);
		if (n == -1) {
			conn_fail(c);
			return (BEV_ERROR);
		}
		evbuffer_drain(src, n);
	}
	return (BEV_NEED_MORE);
}

static void	under_write(struct bufferevent *, void *);

/*
 * Run kick_cb from the loop.  The kick holds a reference on the filter
 * until it has run: evhttp may free the connection in between (its
 * answer is out and the connection closes), and a kick that then
 * flushed the filter would drop the filter's last reference a second
 * time (libevent's "BEV_OPT_CLOSE_ON_FREE set on an bufferevent with
 * too few references", and a second finalization of the filter).
 */
static void
kick(struct web_conn *c)
{
	if (c->kicked)
		return;
	c->kicked = 1;
	bufferevent_incref(c->bev);
	event_active(c->kick, 0, 0);
}

static void
kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct web_conn	*c = arg;

	c->kicked = 0;
	bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
	/* filter_out wrote it all itself: as if the socket had said so */
	if (c->direct) {
		c->direct = 0;
		if (evbuffer_get_length(
		    bufferevent_get_output(c->under)) == 0) {
			under_write(c->under, c);
			goto done;
		}
	}
	/* pipelined requests read while evhttp was answering */
	if ((bufferevent_get_enabled(c->bev) & EV_READ) &&
	    evbuffer_get_length(bufferevent_get_input(c->under)) > 0)
		c->ur(c->under, c->uarg);
 done:
	/* the last reference when evhttp let go: c is freed later */
	bufferevent_decref(c->bev);
}

/* evhttp added output: move it on from the event loop */
static void
out_added(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct web_conn	*c = arg;

	if (info->n_added > 0) {
		/* evhttp queues an answer whole, after the last went out */
		if (info->orig_size == 0)
			c->ostart = 1;
		kick(c);
	}
}

static void
under_read(struct bufferevent *bev, void *arg)
{
	struct web_conn	*c = arg;

	reader_take(c);
	c->ur(bev, c->uarg);
}

static void
under_event(struct bufferevent *bev, short what, void *arg)
{
	struct web_conn	*c = arg;

	c->ue(bev, what, c->uarg);
}

/* the socket took everything: now evhttp hears that its output is out */
static void
under_write(struct bufferevent *bev, void *arg)
{
	struct web_conn	*c = arg;

	if (c->refused) {
		/* the 414/431 is out: evhttp closes it as on a timeout */
		if (c->refused == 1 &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			c->refused = 2;
			bufferevent_trigger_event(c->bev,
			    BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
		}
		return;
	}
	c->uw(bev, c->uarg);
	if (c->owed && evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		c->owed = 0;
		/* c is freed by a finalizer, later: still valid here */
		kick(c);
		bufferevent_trigger(c->bev, EV_WRITE, 0);
	}
}

/* evhttp asks for the bufferevent of a new connection (fd set after) */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct web_listener	*l = arg;
	struct web_conn		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("conn_new");
	c->api = l->api;
	c->metrics = l->metrics;
	c->fd = -1;
	c->linger_fd = -1;
	if ((c->deadline = evtimer_new(base, deadline_cb, c)) == NULL ||
	    (c->kick = event_new(base, -1, 0, kick_cb, c)) == NULL ||
	    (c->under = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("conn_new: libevent");
	/* its TLS context comes with its first bytes (conn_tls) */
	if (l->tls != NULL) {
		c->srv = l->tls;
		c->srv->refs++;
	}
	if ((c->bev = bufferevent_filter_new(c->under, filter_in, filter_out,
	    BEV_OPT_CLOSE_ON_FREE, conn_free, c)) == NULL)
		fatalx("bufferevent_filter_new");
	bufferevent_getcb(c->under, &c->ur, &c->uw, &c->ue, &c->uarg);
	bufferevent_setcb(c->under, under_read, under_write, under_event, c);
	if (evbuffer_add_cb(bufferevent_get_output(c->bev), out_added,
	    c) == NULL ||
	    (c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev),
	    in_taken, c)) == NULL)
		fatalx("evbuffer_add_cb");
	n_conns++;
	n_open++;
	head_reset(c);
	deadline_arm(c);
	return (c->bev);
}

static struct web_conn *
conn_of(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct bufferevent		*bev;
	struct web_conn			*c;
	int				 fd;

	if ((evcon = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) < 0 || (size_t)fd >= conn_max)
		return (NULL);
	c = conn_by_fd[fd];
	return (c != NULL && c->bev == bev ? c : NULL);
}

/*
 * The answer went out: the next request head has a deadline again, and
 * is counted from what evhttp already holds of it (pipelined).
 */
static void
request_done(struct evhttp_request *req, void *arg)
{
	struct web_conn	*c;
	struct evbuffer	*in, *held;
	int		 st;

	if ((c = conn_of(req)) == NULL)
		return;
	deadline_arm(c);
	head_reset(c);
	/* scanned, and moved back as the filter would have moved them */
	in = bufferevent_get_input(c->bev);
	if ((held = evbuffer_new()) == NULL ||
	    evbuffer_add_buffer(held, in) == -1)
		fatalx("request_done: evbuffer");
	st = head_scan_buf(c, held, in);
	evbuffer_free(held);
	if (st != 0)
		head_refuse(c, st);
}

/*
 * The client will not read the answer: evhttp let go of its connection
 * (a write failed, a deadline), or it closed the connection (FIN or RST)
 * while its answer was awaited (peer_check), or its TLS (close_notify,
 * filter_in).  A client that only half-closed may still read it: the
 * answer is sent all the same.
 */
int
server_gone(struct evhttp_request *req)
{
	struct web_conn	*c;

	if (evhttp_request_get_connection(req) == NULL)
		return (1);
	return ((c = conn_of(req)) != NULL && c->peer_closed);
}

static void
server_request(struct evhttp_request *req, void *arg)
{
	struct web_listener	*l = arg;
	struct web_conn		*c;
	int			 api = l->api, metrics = l->metrics;

	/* a request is being answered: no head deadline until it is done */
	if ((c = conn_of(req)) != NULL) {
		evtimer_del(c->deadline);
		evhttp_request_set_on_complete_cb(req, request_done, NULL);
		tls_notify_on(c, evhttp_request_get_connection(req));
		/* the role it was accepted with */
		api = c->api;
		metrics = c->metrics;
	}
	if (server_check_limits(req) == -1)
		return;
	if (api)
		api_request(req);
	else if (metrics)
		scrape_request(req);
	else
		track_request(req, arg);
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct web_listener	*l = arg;

	evconnlistener_enable(l->lev);
}

/*
 * accept(2) failed for a reason other than a connection gone before it
 * was taken.  Without a descriptor left (EMFILE, ENFILE) the listener
 * stays readable and libevent would try again at once, forever, with a
 * warning each time (millions of log lines a minute, a core spinning):
 * the listener rests WEB_ACCEPT_PAUSE seconds instead, one line each
 * time, while the connections it has end or time out.  Others (ENOBUFS,
 * ENOMEM) likewise.
 */
static void
accept_error(struct evconnlistener *lev, void *arg)
{
	struct web_listener	*l;
	struct timeval		 tv = { WEB_ACCEPT_PAUSE, 0 };
	int			 saved = errno;

	/* arg is evhttp's: the listener is found by its evconnlistener */
	for (l = listeners; l != NULL && l->lev != lev; l = l->next)
		;
	if (l == NULL)
		fatalx("accept_error: no such listener");
	n_accept_pauses++;
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
	errno = saved;
	log_warn("listener %u: accept: %zu connections open, not accepting "
	    "for %d s", l->id, (size_t)n_open, WEB_ACCEPT_PAUSE);
}

/* a server for the pkis of lc as loaded in conf; NULL (why said) if not */
static struct web_tls *
web_tls_new(const struct config *conf, const struct listener *lc, char *why,
    size_t whylen)
{
	struct web_tls	*wt;

	if ((wt = calloc(1, sizeof(*wt))) == NULL)
		fatal("web_tls_new");
	if ((wt->ctx = config_tls_listener(conf, lc, why, whylen)) == NULL) {
		free(wt);
		return (NULL);
	}
	wt->refs = 1;
	return (wt);
}

static void
web_tls_unref(struct web_tls *wt)
{
	if (--wt->refs > 0)
		return;
	tls_free(wt->ctx);
	free(wt);
}

/*
 * The role of lc's line (api, metrics, plain http) for the connections
 * that come next; those under way keep theirs (conn_new).  At a reload
 * a new role is said.  The api's body cap follows the message size
 * limit.
 */
static void
listener_role(struct web_listener *l, const struct listener *lc, int reload)
{
	int	 api = (lc->flags & LF_API) != 0;
	int	 metrics = (lc->flags & LF_METRICS) != 0;

	if (reload && (api != l->api || metrics != l->metrics))
		log_info("listener %u: %s from now on", l->id, api ? "api" :
		    metrics ? "metrics" : "tracking and unsubscribe");
	l->api = api;
	l->metrics = metrics;
	evhttp_set_max_body_size(l->http, l->api ? api_body_max() :
	    WEB_BODY_MAX);
}

/*
 * A reload: each listener takes the role of its line in the new config
 * (listener_role) and its pki names (the parent sent their key pairs,
 * read again: a renewed certificate) for the connections that come
 * next; those under way keep the role and the server they began with.
 * A line without pki is plain http from then on.  A listener gone from
 * the config serves as it did until the restart closes it.  The parent
 * has built each key pair it sends here with webd's settings
 * (config_tls_listener(), pki_usable()) from the very bytes sent, and
 * refused the reload otherwise, so only memory can fail here: keeping
 * the old server (or plain http on a line that says tls) while mhctl
 * reload answers "reloaded" would leave a config not in use, so the
 * process stops instead, as at start, and the daemon with it.
 */
void
server_reload(const struct config *conf)
{
	struct web_listener	*l;
	const struct listener	*lc;
	struct web_tls		*wt;
	char			 why[256];

	for (l = listeners; l != NULL; l = l->next) {
		wt = NULL;
		if ((lc = config_listener(conf, l->id)) == NULL ||
		    !(lc->flags & LF_HTTP))
			continue;
		listener_role(l, lc, 1);
		if (lc->npkis > 0 &&
		    (wt = web_tls_new(conf, lc, why, sizeof(why))) == NULL)
			fatalx("listener %u: %s", l->id, why);
		if ((l->tls == NULL) != (wt == NULL))
			log_info("listener %u: %s from now on", l->id,
			    wt != NULL ? "https" : "plain http");
		if (l->tls != NULL)
			web_tls_unref(l->tls);
		l->tls = wt;
	}
}

void
server_listen(int fd, const struct config *conf, const struct listener *lc)
{
	struct web_listener	*l;
	struct evhttp_bound_socket *bound;
	char			 why[256];

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("server_listen");
	l->id = lc->id;
	if (evutil_make_socket_nonblocking(fd) == -1)
		fatal("listener %u", lc->id);
	if ((l->http = evhttp_new(srv_base)) == NULL)
		fatalx("evhttp_new");
	if (lc->npkis > 0 &&
	    (l->tls = web_tls_new(conf, lc, why, sizeof(why))) == NULL)
		fatalx("listener %u: %s", lc->id, why);
	/* head_scan answers first: evhttp's bare 400 is a backstop */
	evhttp_set_max_headers_size(l->http, 2 * WEB_HEAD_HARD_MAX);
	listener_role(l, lc, 0);
	evhttp_set_timeout(l->http, WEB_WRITE_TIMEOUT);
	/* every method reaches track_request, which answers 405 */
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	/* an answer with a body names its type; an empty one none */
	evhttp_set_default_content_type(l->http, NULL);
	evhttp_set_bevcb(l->http, conn_new, l);
	evhttp_set_gencb(l->http, server_request, l);
	if ((bound = evhttp_accept_socket_with_handle(l->http, fd)) == NULL)
		fatalx("cannot serve listener %u", lc->id);
	l->lev = evhttp_bound_socket_get_listener(bound);
	if ((l->resume = evtimer_new(srv_base, accept_resume, l)) == NULL)
		fatalx("evtimer_new");
	evconnlistener_set_error_cb(l->lev, accept_error);
	l->next = listeners;
	listeners = l;
	log_info("serving %s%s on %s port %u", l->tls != NULL ? "https" :
	    "http", l->api ? " (api)" : l->metrics ? " (metrics)" : "",
	    lc->addr, lc->port);
}

void
server_stats(json_t *o)
{
	json_object_set_new(o, "connections", json_integer(n_conns));
	json_object_set_new(o, "open_connections", json_integer(n_open));
	json_object_set_new(o, "head_timeouts", json_integer(n_timeouts));
	json_object_set_new(o, "tls_errors", json_integer(n_tls_errors));
	json_object_set_new(o, "heads_refused", json_integer(n_refused));
	json_object_set_new(o, "lingering", json_integer(n_linger));
	json_object_set_new(o, "accept_pauses",
	    json_integer(n_accept_pauses));
}

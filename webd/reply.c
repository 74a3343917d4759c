/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * webd: the answers that go out through evhttp.  The endpoints answer
 * with server_reply and server_reply_start, dated by server_date; the
 * connection filter (server.c) mends the head of each answer evhttp
 * queued: a Date where evhttp gives none (head_dated, head_date), no
 * body to a HEAD (head_nobody).  http_date dates them all, and webd's
 * own answers (conn_answer, server.c).
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "log.h"
#include "webd.h"

/*
 * Now as an HTTP-date (RFC 9110 5.6.7), for the Date field of 6.6.1:
 * made once a second (its gmtime_r and formatting were about 6% of a
 * click's instructions).
 */
void
http_date(char *buf, size_t len)
{
	static time_t	 when = -1;
	static char	 date[40];
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (now != when) {
		if (gmtime_r(&now, &tm) == NULL || strftime(date, sizeof(date),
		    "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
			date[0] = '\0';
		when = now;
	}
	strlcpy(buf, date, len);
}

/*
 * Every answer carries a Date (RFC 9110 6.6.1), whatever the version:
 * evhttp adds one only to HTTP/1.1 answers, so the head of any other
 * (an HTTP/1.0 request's, evhttp_send_error's page to one) gets it here,
 * after its status line, before it moves on.  src holds the head whole
 * (an answer's start, read once evhttp has queued it: kick).
 */
/*
 * The head src begins with, whole and at most 8 KiB: its bytes up to the
 * CRLF of its last field line (*n of them), or NULL
 */
static const char *
head_peek(struct evbuffer *src, size_t *n)
{
	struct evbuffer_ptr	 end;

	end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
	if (end.pos < 0 || end.pos > 8192)
		return (NULL);
	*n = end.pos + 2;
	return ((const char *)evbuffer_pullup(src, *n));
}

/* whether a field line of head p (n bytes, head_peek's) is name (':') */
static int
head_has(const char *p, size_t n, const char *name)
{
	const char	*l, *e;
	size_t		 k = strlen(name);

	if ((e = memmem(p, n, "\r\n", 2)) == NULL)
		return (0);
	/* each field line after the status line, up to the blank one */
	for (l = e + 2; l < p + n; l = e + 2) {
		if ((e = memmem(l, p + n - l, "\r\n", 2)) == NULL)
			return (0);
		if ((size_t)(e - l) >= k && strncasecmp(l, name, k) == 0)
			return (1);
	}
	return (0);
}

void
head_date(struct evbuffer *src)
{
	struct evbuffer		*line;
	const char		*p, *e;
	char			 date[40];
	size_t			 n, status_len;

	if ((p = head_peek(src, &n)) == NULL)
		return;
	if (n < 13 || strncmp(p, "HTTP/1.", 7) != 0 ||
	    (e = memmem(p, n, "\r\n", 2)) == NULL ||
	    head_has(p, n, "Date:"))
		return;
	status_len = e + 2 - p;
	if ((line = evbuffer_new()) == NULL)
		return;
	http_date(date, sizeof(date));
	/* the status line, the Date, then the rest as it was */
	evbuffer_remove_buffer(src, line, status_len);
	evbuffer_add_printf(line, "Date: %s\r\n", date);
	evbuffer_prepend_buffer(src, line);
	evbuffer_free(line);
}

/*
 * An answer to a HEAD has no body (RFC 9110 9.3.2), but evhttp's own
 * pages (evhttp_send_error from inside its parser: a request line whose
 * version it cannot read, a field line it refuses) carry theirs to a
 * HEAD too, and without a Content-Length.  The filter drops the body and
 * says its length, as a GET would be told.  src holds the answer whole
 * (an answer's start, read once evhttp has queued it: kick).
 */
void
head_nobody(struct evbuffer *src)
{
	struct evbuffer		*head;
	const char		*p;
	size_t			 n, body;
	int			 has_len;

	if ((p = head_peek(src, &n)) == NULL ||
	    (body = evbuffer_get_length(src) - (n + 2)) == 0)
		return;
	has_len = head_has(p, n, "Content-Length:");
	if ((head = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	/* the head up to its blank line, its length, the blank line */
	if (evbuffer_remove_buffer(src, head, n) != (int)n)
		fatalx("evbuffer_remove_buffer");
	if (!has_len && evbuffer_add_printf(head,
	    "Content-Length: %zu\r\n", body) == -1)
		fatalx("evbuffer_add_printf");
	evbuffer_drain(src, evbuffer_get_length(src));
	if (evbuffer_add(head, "\r\n", 2) == -1 ||
	    evbuffer_add_buffer(src, head) == -1)
		fatalx("evbuffer_add");
	evbuffer_free(head);
	log_debug("evhttp's answer to a HEAD: its body of %zu bytes dropped",
	    body);
}

/*
 * An answer evhttp dates itself: HTTP/1.1 (its status line is the first
 * thing it queues); any other waits for the kick and head_date().
 */
int
head_dated(struct evbuffer *src)
{
	const char	*p;

	return (evbuffer_get_length(src) >= 9 &&
	    (p = (const char *)evbuffer_pullup(src, 9)) != NULL &&
	    memcmp(p, "HTTP/1.1 ", 9) == 0);
}

/*
 * An answer whose length is known.  To a HEAD it has the Content-Length
 * a GET would have (RFC 9110 9.3.2), which evhttp leaves out, and no
 * body; NULL is an empty body, "Content-Length: 0" as evhttp says to a
 * GET.
 */
void
server_reply(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *body)
{
	char	 len[24];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_reply(req, code, reason, body);
		return;
	}
	if (code >= 200 && code != 204 && code != 304) {
		snprintf(len, sizeof(len), "%zu",
		    body != NULL ? evbuffer_get_length(body) : 0);
		evhttp_remove_header(evhttp_request_get_output_headers(req),
		    "Content-Length");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", len);
	}
	evhttp_send_reply(req, code, reason, NULL);
}

/*
 * The Date that evhttp_send_reply gives an HTTP/1.1 answer without one
 * (it gives none to HTTP/1.0: head_date), from http_date's once a
 * second instead of evhttp's own once an answer.
 */
void
server_date(struct evhttp_request *req)
{
	char	 date[40];

	if (req->major != 1 || req->minor < 1)
		return;
	http_date(date, sizeof(date));
	if (date[0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Date", date);
}

/*
 * An answer whose length is not known when it starts (the pixel, sent
 * slowly): chunked to HTTP/1.1, and delimited by the close to HTTP/1.0
 * (RFC 9112 6.3), which has no chunks.  evhttp would keep an HTTP/1.0
 * client's connection that asked for keep-alive and say
 * "Content-Length: 0" before the bytes that come after: the client read
 * an empty image and the rest as the next answer.
 */
void
server_reply_start(struct evhttp_request *req, int code, const char *reason)
{
	if (req->major == 1 && req->minor == 0)
		evhttp_remove_header(evhttp_request_get_input_headers(req),
		    "Connection");
	evhttp_send_reply_start(req, code, reason);
}

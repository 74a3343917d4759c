/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * webd: what it checks of a request before an endpoint sees it, on every
 * listener: the head and body framing as the connection filter
 * (server.c) reads the bytes, then the head that evhttp parsed.
 *
 * Limits: a URI over WEB_URI_MAX gets 414 and headers over
 * WEB_HEADERS_MAX get 431 (server_check_limits), as does a chunked body's
 * trailer (chunk_trailer), bodies over WEB_BODY_MAX 413.  A head that
 * does not end within WEB_HEAD_HARD_MAX bytes never reaches evhttp's own
 * cap (twice that), whose answer would be a bare
 * 400: while a head is awaited the filter counts its bytes up to the
 * blank line that ends it (head_scan, no parsing: evhttp does that) and
 * answers 414 if the request line alone is over the cap (empty lines
 * before it or not), 431 otherwise, then closes (head_refuse).  Empty
 * lines before a request line, which evhttp would refuse (400), are
 * not handed on (RFC 9112 2.2: ignored).  It reads the start of each line (head_line):
 * a body declared over the listener's cap gets 413 there too, and framing
 * that evhttp would read leniently gets 400 or 501 (RFC 9112 5.1, 5.2,
 * 6.1, 6.3), so that a proxy in front cannot see a request boundary webd does
 * not; a chunk size line reaches it without the chunk extensions it
 * refuses (chunk_scan), and a trailer's field lines are checked as head
 * lines and dropped, not handed on (chunk_trailer).  Bytes
 * that evhttp holds for a pipelined request are counted when the request
 * before it is answered.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "hex.h"
#include "log.h"
#include "webd.h"

static size_t
body_cap(const struct web_conn *c)
{
	return (c->api ? api_body_max() : WEB_BODY_MAX);
}

/* the head line just ended is empty (or "\r") */
static int
head_blank(const struct web_conn *c)
{
	return (c->line_len == 0 || (c->line_len == 1 && c->last == '\r'));
}

/* before the request line, a line that is "\r" so far: held back */
static int
head_cr_held(const struct web_conn *c)
{
	return (c->in_head && !c->reqline && c->line_len == 1 &&
	    c->last == '\r');
}

/*
 * The k bytes at p go on the current line of the head or of a chunked
 * body's trailer, which evhttp reads as header fields: a control
 * character in it but HTAB (a NUL, ESC, DEL, ...) is refused, as a field
 * value is made of VCHAR, obs-text, SP and HTAB alone (RFC 9110 5.5,
 * which lets a recipient reject the others: evhttp kept them, for what
 * reads the value next, a log or a proxy in front, to take as it
 * will), and a CR is a line's end only before its LF (RFC 9112 2.2); a
 * proxy in front may end a line at a bare one where evhttp does not (it
 * keeps one of the request line in the target).  A CR that ends p is
 * told by the next byte.
 */
static int
line_bad(const struct web_conn *c, const char *p, size_t k)
{
	size_t		 i;
	unsigned char	 ch;

	for (i = 0; i < k; i++) {
		ch = p[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f)
			return (1);
	}
	return (k > 0 && ((c->line_len > 0 && c->last == '\r') ||
	    memchr(p, '\r', k - 1) != NULL));
}

static int
head_starts(const struct web_conn *c, const char *w)
{
	return (c->lstart_len >= strlen(w) &&
	    strncmp(c->lstart, w, strlen(w)) == 0);
}

/* the value of the field name (with its colon) the line starts with */
static const char *
head_field(const struct web_conn *c, const char *name)
{
	size_t	 n = strlen(name);
	const char *v, *end = c->lstart + c->lstart_len;

	if (c->lstart_len < n || strncasecmp(c->lstart, name, n) != 0)
		return (NULL);
	for (v = c->lstart + n; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	return (v);
}

/* only blanks (and the CR) from v to the end of what was kept */
static int
head_rest_blank(const struct web_conn *c, const char *v)
{
	for (; v < c->lstart + c->lstart_len; v++)
		if (*v != ' ' && *v != '\t' && *v != '\r')
			return (0);
	return (1);
}

/*
 * Content-Length: one, digits only; over the cap is 413, by its value:
 * leading zeros are no larger a number (RFC 9110 8.6).  Digits that run
 * past what was kept are a larger number.
 */
static void
head_length(struct web_conn *c, const char *v)
{
	const char	*end = c->lstart + c->lstart_len;
	size_t		 n, z;

	for (n = 0; v + n < end && v[n] >= '0' && v[n] <= '9'; n++)
		;
	for (z = 0; z + 1 < n && v[z] == '0'; z++)
		;
	if (n == 0 || c->clen_seen++ || (v + n < end &&
	    !head_rest_blank(c, v + n))) {
		c->bad = 400;
		return;
	}
	/* the n digits, and nothing after them: lstart is no string, and
	 * past lstart_len it holds what an earlier line left */
	for (c->clen = 0; z < n && n - z <= 18; z++)
		c->clen = c->clen * 10 + (v[z] - '0');
	if ((v + n == end && c->line_len > c->lstart_len) || z < n ||
	    c->clen > body_cap(c)) {
		c->too_big = 1;
		c->clen = UINT64_MAX;
	}
	if (c->no_body && c->clen > 0)
		c->bad = 400;	/* evhttp would read it as the next request */
}

/* the API: the first Authorization field, its key checked here if the
 * whole line was kept */
static void
head_auth(struct web_conn *c, const char *v)
{
	char	 value[sizeof(c->lstart)];
	size_t	 n;

	if (c->auth_seen)
		return;
	if (c->line_len > c->lstart_len) {
		c->auth_seen = 2;
		return;
	}
	n = c->lstart + c->lstart_len - v;
	memcpy(value, v, n);
	while (n > 0 && (value[n - 1] == '\r' || value[n - 1] == ' ' ||
	    value[n - 1] == '\t'))
		n--;
	value[n] = '\0';
	c->auth_seen = 1;
	c->auth_why = api_key_refusal(value, c->auth_name,
	    sizeof(c->auth_name));
	explicit_bzero(value, sizeof(value));
}

/*
 * The head is whole: on the API, a body is read only for a client whose
 * key is valid (a key too long to be read here is left to api.c), so
 * that nobody can make webd hold a body of api_body_max() unasked; and
 * only for a submission whose Content-Type api.c takes, so that a client
 * that sent "Expect: 100-continue" gets its 415 instead of a 100.
 */
static void
head_end(struct web_conn *c)
{
	if (!c->api || c->bad || (c->clen == 0 && !c->chunked) ||
	    c->auth_seen == 2)
		return;
	if (c->auth_seen == 1 && c->auth_why == NULL) {
		if (c->submit && c->ctype != 1)
			c->bad = 415;
		return;
	}
	if (!c->auth_seen)
		c->auth_why = "no Authorization header";
	api_refused_early();
	c->bad = 401;
}

/* the API: whether a POST's target is a submission path (api.c) */
static void
head_target(struct web_conn *c)
{
	char	 path[sizeof(c->lstart)];
	size_t	 n;

	n = c->lstart_len - strlen("POST ");
	memcpy(path, c->lstart + strlen("POST "), n);
	path[n] = '\0';
	path[strcspn(path, " ?#\r")] = '\0';
	c->submit = api_submit_path(path);
}

/* s[0..n) is a token (RFC 9110 5.6.2): one tchar at least */
static int
head_token(const char *s, size_t n)
{
	size_t	 i;
	char	 ch;

	for (i = 0; i < n; i++) {
		ch = s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-')
			continue;
		if (ch == '\0' || strchr("!#$%&'*+.^_`|~", ch) == NULL)
			return (0);
	}
	return (n > 0);
}

/*
 * A field line of the head or of a trailer, from its start: a folded
 * line (obs-fold, RFC 9112 5.2), which evhttp joins to the field before,
 * a proxy in front may read as a field of its own ("X: a" then
 * " Transfer-Encoding: chunked"); a field name is a token (RFC 9110
 * 5.1): no blank before the colon, no separator, no control character.
 * A line without a colon (evhttp refuses it) is read as a name that went
 * on.  1 if it is refused (400).
 */
static int
field_bad(const struct web_conn *c)
{
	const char	*colon;

	if (c->lstart[0] == ' ' || c->lstart[0] == '\t')
		return (1);
	colon = memchr(c->lstart, ':', c->lstart_len);
	return (!head_token(c->lstart, colon != NULL ?
	    (size_t)(colon - c->lstart) : c->lstart_len));
}

/* the start of the current line, k more of its bytes at p: what fits */
static void
line_keep(struct web_conn *c, const char *p, size_t k)
{
	size_t	 take = sizeof(c->lstart) - c->lstart_len;

	if (take > k)
		take = k;
	memcpy(c->lstart + c->lstart_len, p, take);
	c->lstart_len += take;
}

/* the last bytes of the current line, k more of them at p */
static void
head_tail(struct web_conn *c, const char *p, size_t k)
{
	size_t	 keep;

	if (k >= sizeof(c->ltail)) {
		memcpy(c->ltail, p + k - sizeof(c->ltail), sizeof(c->ltail));
		c->ltail_len = sizeof(c->ltail);
		return;
	}
	keep = sizeof(c->ltail) - k;
	if (keep > c->ltail_len)
		keep = c->ltail_len;
	memmove(c->ltail, c->ltail + c->ltail_len - keep, keep);
	memcpy(c->ltail + keep, p, k);
	c->ltail_len = keep + k;
}

/*
 * The request line's HTTP-version, "D.D" (RFC 9112 2.3: "HTTP/" DIGIT
 * "." DIGIT), or NULL if it does not end with one.  evhttp reads the
 * digits with sscanf's %d into a char, so that "HTTP/1.256" was 1.0 and
 * "HTTP/4294967297.1" 1.1 to it, and served: anything else is 400.
 * HTTP/2.0 and later majors it refused as a line it cannot parse (400),
 * where they are 505 (RFC 9110 15.6.6).
 */
static const char *
head_version(const struct web_conn *c)
{
	const char	*v;
	size_t		 n = c->ltail_len;

	if (n > 0 && c->ltail[n - 1] == '\r')
		n--;
	if (n < 9)
		return (NULL);
	v = c->ltail + n - 9;
	if (strncmp(v, " HTTP/", 6) != 0 || !isdigit((unsigned char)v[6]) ||
	    v[7] != '.' || !isdigit((unsigned char)v[8]))
		return (NULL);
	return (v + 6);
}

/*
 * k more bytes of the request line: method SP request-target SP
 * HTTP-version (RFC 9112 3), one SP each, no other blank and no control
 * character (3.2: a target has none).  evhttp splits it at its first
 * and last SP, so that it took "GET /c/x y HTTP/1.1" with "/c/x y" as
 * the target, two SPs after the method, or one after the version, and
 * any control character in the target; a proxy in front may split it
 * otherwise (a target "/c/x" and a version "y HTTP/1.1").  Refused 400
 * (3.2: an invalid request-line), as RFC 9112 3 lets a server do.  The
 * CR that ends it is line_bad's.
 */
static void
reqline_bytes(struct web_conn *c, const char *p, size_t k)
{
	unsigned char	 ch, prev = c->line_len > 0 ? c->last : ' ';
	size_t		 i;

	for (i = 0; i < k; i++, prev = ch) {
		ch = p[i];
		if (ch == ' ' ? prev == ' ' || ++c->rl_blanks > 2 :
		    (ch < 0x20 && ch != '\r') || ch == 0x7f)
			c->bad = 400;
	}
}

/*
 * A whole head line, from its start: the request line says whether a
 * body may come; a field name is a token (RFC 9110 5.1: not empty, no
 * blank before its colon, RFC 9112 5.1), no line is folded (5.2);
 * Content-Length is checked (head_length); the one transfer coding
 * evhttp reads is chunked, any other gets 501, and with a Content-Length
 * too 400 (6.1).
 */
static void
head_line(struct web_conn *c)
{
	const char	*v;
	int		 blank = head_blank(c);

	if (!c->reqline) {
		if (blank)
			return;		/* CRLF before it (RFC 9112 2.2) */
		c->reqline = 1;
		c->is_head = head_starts(c, "HEAD ");
		c->no_body = c->is_head || head_starts(c, "TRACE ");
		/* no tunnels: answered here, framed, and closed (evhttp's
		 * answer to CONNECT has no length and stays open) */
		if (head_starts(c, "CONNECT "))
			c->bad = 501;
		else if ((v = head_version(c)) == NULL)
			c->bad = 400;
		else if (v[0] >= '2')
			c->bad = 505;
		/* a blank too many or too few (reqline_bytes) */
		if (c->rl_blanks != 2)
			c->bad = 400;
		if (c->api && head_starts(c, "POST "))
			head_target(c);
		return;
	}
	if (blank) {
		/* both framings: a proxy in front that reads the body by
		 * its Content-Length sees another request after it than
		 * webd (RFC 9112 6.1: closed after the answer) */
		if (c->chunked && c->clen_seen && !c->bad)
			c->bad = 400;
		head_end(c);
		return;
	}
	if (field_bad(c)) {
		c->bad = 400;
		return;
	}
	if ((v = head_field(c, "Content-Length:")) != NULL)
		head_length(c, v);
	else if ((v = head_field(c, "Transfer-Encoding:")) != NULL) {
		if (c->no_body)
			c->bad = 400;
		else if (c->line_len > c->lstart_len ||
		    strncasecmp(v, "chunked", 7) != 0 ||
		    !head_rest_blank(c, v + 7))
			c->bad = 501;
		else
			c->chunked = 1;
	} else if (c->api &&
	    (v = head_field(c, "Authorization:")) != NULL)
		head_auth(c, v);
	else if (c->api && c->ctype == 0 &&
	    (v = head_field(c, "Content-Type:")) != NULL)
		c->ctype = api_json_type(v, c->lstart + c->lstart_len - v) ?
		    1 : -1;
}

/*
 * A chunk size without its extensions: 1*HEXDIG (RFC 9112 7.1), nothing
 * before it or after it.  evhttp reads it with strtoll, which takes
 * blanks before it, a sign and "0x", and a blank after it: a proxy in
 * front that reads such a line otherwise, or passes it on, would see
 * another body, and another request after it, than webd (request
 * smuggling).  0 with the size in v, else the status the request gets:
 * 400, or 413 for a number over 64 bits.
 */
static int
chunk_size(const char *s, size_t n, uint64_t *v)
{
	size_t	 i;
	int	 d;

	if (n == 0)
		return (400);
	for (*v = 0, i = 0; i < n; i++) {
		if ((d = mh_hexdigit(s[i])) == -1)
			return (400);
		if (*v > UINT64_MAX >> 4)
			return (413);
		*v = *v << 4 | d;
	}
	return (0);
}

/*
 * The trailer after the last chunk, up to the empty line that ends it,
 * from *pp to at most end.  Its field lines do not go on to evhttp:
 * libevent 2.1.12 adds them to the request's header fields (a build may
 * not), where one the head did not have (an Idempotency-Key, ...) would
 * count as if it came before the body, past the head's checks (RFC
 * 9110 6.5.1: a trailer field is not merged into the header section
 * unless its definition says how).  They are checked as the head's are
 * (line_bad, field_bad: a proxy in front may end one at a bare CR),
 * counted, and dropped (RFC 9112 7.1.2); over WEB_HEADERS_MAX they get
 * 431 as a head would.  evhttp gets the empty line that ends the
 * trailer.  0 with *pp past what was read, else the status the request
 * gets.
 */
static int
chunk_trailer(struct web_conn *c, const char **pp, const char *end,
    struct evbuffer *out)
{
	const char	*lf, *p = *pp;
	size_t		 k;

	lf = memchr(p, '\n', end - p);
	k = (lf == NULL ? end : lf) - p;
	if (line_bad(c, p, k))
		return (400);
	if ((c->trailer_len += k + (lf != NULL)) > WEB_HEADERS_MAX)
		return (431);
	line_keep(c, p, k);
	c->line_len += k;
	if (k > 0)
		c->last = p[k - 1];
	if (lf == NULL) {
		*pp = end;
		return (0);
	}
	if (head_blank(c)) {
		c->chunking = c->trailer = 0;
		if (evbuffer_add(out, "\r\n", 2) == -1)
			fatalx("evbuffer_add");
	} else if (field_bad(c))
		return (400);
	c->line_len = c->lstart_len = 0;
	c->last = '\n';
	*pp = lf + 1;
	return (0);
}

/*
 * n bytes of a chunked body (RFC 9112 7.1), read as evhttp reads it: a
 * line with a chunk size in hex (evhttp_handle_chunked_read), that many
 * bytes of data and a CRLF, up to the last chunk (0), whose trailer
 * evhttp reads within its cap.  evhttp keeps a chunk's size line until
 * its end however long it is, and looks for that end in all of it again
 * at every read: a line that never ended grew webd without bound, a core
 * spinning.  A line over WEB_CHUNK_LINE_MAX bytes, or one that is not a
 * size (chunk_size), gets 400 here; a chunk over the body's cap 413.
 * evhttp skips empty lines where a size is due, and reads what follows a
 * chunk's data up to a line's end as the next size: data not followed by
 * its CRLF alone (a size that says less than was sent), or an empty line
 * where a size is due, is 400 too.  The bytes go on to out, a size line
 * once whole and without its chunk extensions (";name=value", 7.1.1:
 * ignored), which evhttp refuses.  Then the trailer (chunk_trailer).
 */
static int
chunk_scan(struct web_conn *c, const char *p, size_t n, struct evbuffer *out)
{
	const char	*lf, *end = p + n;
	char		*semi;
	size_t		 k;
	uint64_t	 v;
	int		 st;

	while (c->chunking && p < end) {
		if (c->trailer) {
			if ((st = chunk_trailer(c, &p, end, out)) != 0)
				return (st);
			continue;
		}
		if (c->chunk_left > 0) {
			k = (size_t)(end - p) < c->chunk_left ? (size_t)(end - p) :
			    c->chunk_left;
			if (evbuffer_add(out, p, k) == -1)
				fatalx("evbuffer_add");
			if ((c->chunk_left -= k) == 0)
				c->chunk_crlf = 1;
			p += k;
			continue;
		}
		lf = memchr(p, '\n', end - p);
		k = (lf == NULL ? end : lf) - p;
		if (c->chunk_len + k > WEB_CHUNK_LINE_MAX)
			return (400);
		memcpy(c->chunk_line + c->chunk_len, p, k);
		c->chunk_len += k;
		p += k;
		if (lf == NULL)
			break;
		p = lf + 1;
		if (c->chunk_len > 0 && c->chunk_line[c->chunk_len - 1] == '\r')
			c->chunk_len--;
		if (c->chunk_crlf) {
			/* a chunk's data ends with a CRLF, nothing before */
			if (c->chunk_len > 0)
				return (400);
			c->chunk_crlf = 0;
			if (evbuffer_add(out, "\r\n", 2) == -1)
				fatalx("evbuffer_add");
			continue;
		}
		if ((semi = memchr(c->chunk_line, ';', c->chunk_len)) != NULL) {
			for (c->chunk_len = semi - c->chunk_line;
			    c->chunk_len > 0 && (c->chunk_line[c->chunk_len -
			    1] == ' ' || c->chunk_line[c->chunk_len - 1] == '\t');
			    c->chunk_len--)
				;
			if (c->chunk_len == 0)
				return (400);	/* no size before it */
		}
		c->chunk_line[c->chunk_len] = '\0';
		if (evbuffer_add(out, c->chunk_line, c->chunk_len) == -1 ||
		    evbuffer_add(out, "\r\n", 2) == -1)
			fatalx("evbuffer_add");
		if ((st = chunk_size(c->chunk_line, c->chunk_len, &v)) != 0)
			return (st);
		c->chunk_len = 0;
		if (v > body_cap(c))
			return (413);
		c->trailer = v == 0;
		c->chunk_left = v;
	}
	/* what follows the trailer, as it is */
	if (p < end && evbuffer_add(out, p, end - p) == -1)
		fatalx("evbuffer_add");
	return (0);
}

/*
 * Count n more bytes of the head being awaited: 0 while it may go on,
 * else the status it gets (414: the request line alone is over the cap,
 * 431: the header fields are, 413: the body it declares is, once the
 * head is whole).  A line that is empty or "\r" ends it.  The bytes go
 * on to out (a chunked body's as chunk_scan says).
 */
int
head_scan(struct web_conn *c, const char *p, size_t n, struct evbuffer *out)
{
	const char	*lf, *s = p, *end = p + n;
	size_t		 k;

	/* a CR held back before the request line (below) that is no
	 * empty line's: it goes on with what follows it */
	if (head_cr_held(c) && n > 0 && p[0] != '\n' &&
	    evbuffer_add(out, "\r", 1) == -1)
		fatalx("evbuffer_add");
	while (c->in_head && p < end) {
		if ((lf = memchr(p, '\n', end - p)) == NULL)
			k = end - p;
		else
			k = lf - p;
		c->head_len += k;
		if (line_bad(c, p, k))
			c->bad = 400;
		if (!c->reqline)
			reqline_bytes(c, p, k);
		line_keep(c, p, k);
		head_tail(c, p, k);
		c->line_len += k;
		if (k > 0)
			c->last = p[k - 1];
		if (c->head_len > WEB_HEAD_HARD_MAX) {
			/* a HEAD's request line cut short: no body either */
			if (!c->reqline)
				c->is_head = head_starts(c, "HEAD ");
			/* empty lines before the request line do not make
			 * it a header field (RFC 9112 2.2) */
			return (!c->reqline ? 414 : 431);
		}
		if (lf == NULL)
			break;
		c->head_len++;
		head_line(c);
		/* empty lines before the request line are not evhttp's,
		 * which would refuse them (RFC 9112 2.2: ignored) */
		if (!c->reqline)
			s = lf + 1;
		if (c->reqline && head_blank(c)) {
			c->in_head = 0;
			c->chunking = c->chunked && !c->bad && !c->too_big;
		}
		c->line_len = c->lstart_len = c->ltail_len = 0;
		c->last = '\n';
		p = lf + 1;
	}
	if (c->in_head)
		p = end;
	/* and a CR that may begin one, until its LF tells */
	if (head_cr_held(c) && p > s && p[-1] == '\r')
		p--;
	if (p > s && evbuffer_add(out, s, p - s) == -1)
		fatalx("evbuffer_add");
	if (c->in_head)
		return (0);
	if (c->bad || c->too_big)
		return (c->bad ? c->bad : 413);
	return (chunk_scan(c, p, end - p, out));
}

/* the same over what an evbuffer holds, all of it moved on to out */
int
head_scan_buf(struct web_conn *c, struct evbuffer *b, struct evbuffer *out)
{
	struct evbuffer_iovec	 v[8];
	struct evbuffer_ptr	 at;
	size_t			 done = 0;
	int			 i, n, st;

	if (evbuffer_ptr_set(b, &at, 0, EVBUFFER_PTR_SET) == -1)
		goto rest;
	while (c->in_head || c->chunking) {
		if ((n = evbuffer_peek(b, -1, &at, v, 8)) <= 0)
			break;
		for (i = 0; i < n && i < 8; i++) {
			if ((st = head_scan(c, v[i].iov_base,
			    v[i].iov_len, out)) != 0)
				return (st);
			done += v[i].iov_len;
		}
		if (n <= 8)
			break;
		for (i = 0; i < 8; i++)
			if (evbuffer_ptr_set(b, &at, v[i].iov_len,
			    EVBUFFER_PTR_ADD) == -1)
				goto rest;
	}
 rest:
	/* what was not scanned goes on as it is */
	evbuffer_drain(b, done);
	if (evbuffer_add_buffer(out, b) == -1)
		fatalx("evbuffer_add_buffer");
	return (0);
}

/*
 * A Host value is uri-host [":" port] (RFC 9112 3.2, RFC 3986 3.2.2):
 * a reg-name's, an IP address's or an IP literal's characters, no blank,
 * no slash, no "@"; empty is allowed (a target without an authority).
 */
static int
host_valid(const char *v)
{
	static const char	 ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=[]:";

	return (v[strspn(v, ok)] == '\0');
}

/* a Connection value lists the option close (RFC 9110 7.6.1), any case */
static int
conn_lists_close(const char *v)
{
	size_t	 n;

	for (;;) {
		v += strspn(v, " \t,");
		if (*v == '\0')
			return (0);
		n = strcspn(v, " \t,");
		if (n == 5 && strncasecmp(v, "close", 5) == 0)
			return (1);
		v += n;
	}
}

/*
 * evhttp_send_error, whose page goes to a HEAD too, without a
 * Content-Length: to a HEAD the same page's length and no body.  The
 * page is evhttp's (ERR_FORMAT in libevent's http.c), for its length.
 */
static void
send_error(struct evhttp_request *req, int code, const char *reason)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, code, reason);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	evbuffer_add_printf(b, "<HTML><HEAD>\n<TITLE>%d %s</TITLE>\n"
	    "</HEAD><BODY>\n<H1>%s</H1>\n</BODY></HTML>\n", code, reason,
	    reason);
	evhttp_add_header(h, "Content-Type", "text/html");
	evhttp_add_header(h, "Connection", "close");
	server_reply(req, code, reason, b);
	evbuffer_free(b);
}

int
server_check_limits(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evkeyval		*kv;
	const char		*uri = evhttp_request_get_uri(req);
	size_t			 total = 0, nhost = 0, nconn = 0;
	int			 closing = 0;

	if (uri == NULL || strlen(uri) > WEB_URI_MAX) {
		send_error(req, 414, "URI Too Long");
		return (-1);
	}
	TAILQ_FOREACH(kv, h, next) {
		total += strlen(kv->key) + strlen(kv->value) + 4;
		/* one that is no uri-host [":" port] counts as a second */
		if (strcasecmp(kv->key, "Host") == 0)
			nhost += host_valid(kv->value) ? 1 : 2;
		/* evhttp closes only on a first one that is "close" alone */
		else if (strcasecmp(kv->key, "Connection") == 0 &&
		    (nconn++ > 0 || strcasecmp(kv->value, "close") != 0) &&
		    conn_lists_close(kv->value))
			closing = 1;
	}
	/* "TE, close", or close in a second field line: what evhttp reads */
	if (closing) {
		while (evhttp_remove_header(h, "Connection") == 0)
			;
		if (evhttp_add_header(h, "Connection", "close") == -1)
			fatalx("evhttp_add_header");
	}
	if (total > WEB_HEADERS_MAX) {
		send_error(req, 431, "Request Header Fields Too Large");
		return (-1);
	}
	/* an absolute-form target (RFC 9112 3.2.2) is no proxy request
	 * here: evhttp would close its connection after the answer without
	 * a "Connection: close", dropping the requests pipelined behind it */
	req->flags &= ~EVHTTP_PROXY_REQUEST;
	/* HTTP/0.x has no status line to answer with, and evhttp wrote
	 * "HTTP/0.9 302" with fields after it, which no client reads: it
	 * is refused (RFC 9110 15.6.6), in an HTTP/1.1 status line as
	 * evhttp's errors are, and closed */
	/* a version with a sign or past a char (evhttp reads it with
	 * sscanf's %d into a char: "HTTP/1.-1", "HTTP/1.188", "HTTP/-1.1",
	 * a major that overflows an int, "HTTP/1777777777777.1", 113 here)
	 * is no HTTP-version (RFC 9112 2.3), and evhttp answered with it,
	 * "HTTP/1.-68 404": 400 in an HTTP/1.1 status line, closed */
	if (req->major < 0 || req->major > 1 || req->minor < 0) {
		req->major = req->minor = 1;
		send_error(req, 400, "Bad Request");
		return (-1);
	}
	if (req->major < 1) {
		send_error(req, 505, "HTTP Version Not Supported");
		return (-1);
	}
	/* HTTP/1.2 and later minors are answered as HTTP/1.1 (RFC 9110
	 * 2.5), which evhttp would not do */
	if (req->major == 1 && req->minor > 1)
		req->minor = 1;
	/* one valid Host, and an HTTP/1.1 request has it (RFC 9112 3.2); an
	 * HTTP/1.0 one has no Transfer-Encoding, whose framing is faulty
	 * (6.1): evhttp read a chunked body and then the next request,
	 * which a proxy in front would have taken for that body */
	if (nhost > 1 || (nhost == 0 && (req->major > 1 ||
	    (req->major == 1 && req->minor >= 1))) || (req->major == 1 &&
	    req->minor == 0 && evhttp_find_header(h, "Transfer-Encoding") !=
	    NULL)) {
		send_error(req, 400, "Bad Request");
		return (-1);
	}
	return (0);
}

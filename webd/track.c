/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * webd's endpoints: the tracking pixel /o/TOKEN, the click redirect
 * /c/TOKEN and the unsubscribe page /u/TOKEN.  A token that does not
 * verify (token.h) gets 404 and makes no event.
 *
 * read: the pixel is a GIF sent slowly.  Its first bytes go out at once,
 * then one byte of a GIF comment per second; a mail client shows the
 * message while the image is still arriving and drops the connection
 * when the message is closed.  A connection still there after the
 * configured time (read, default 8 s) makes one "read" event, then the
 * image is finished.  Clients that block images, proxies that fetch the
 * image at once and cache it (Gmail's image proxy, Apple Mail Privacy
 * Protection) and clients that wait for the whole image before showing
 * the message cannot be measured this way: no "read" from them.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "child.h"
#include "hex.h"
#include "log.h"
#include "proc.h"
#include "uri.h"
#include "webd.h"

#define PIXELS_HELD_MAX	4096	/* more at once: answered without "read" */
#define HITS_KEPT_MAX	256	/* freed hits kept for the next requests */

/* a transparent 1x1 GIF: header, then a comment we stream, then the rest */
static const unsigned char gif_head[] = {
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,
	0, 0, 0, 0xff, 0xff, 0xff
};
static const unsigned char gif_tail[] = {
	0x21, 0xf9, 4, 1, 0, 0, 0, 0,
	0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b
};
static const unsigned char gif_comment[] = { 0x21, 0xfe };
static const unsigned char gif_comment_byte[] = { 1, ' ' };
static const unsigned char gif_comment_end[] = { 0 };

/* user agents of image proxies, link scanners and HTTP libraries (README
 * lists them: keep it in step): these ends of a word (agent_word), then
 * these strings anywhere */
static const char *const machine_words[] = {
	"bot", "crawler", "spider", "scanner", "preview", NULL
};
static const char *const machine_agents[] = {
	"googleimageproxy", "ggpht.com", "yahoomailproxy",
	"barracuda", "mimecast", "proofpoint",
	"symantec", "trendmicro", "fireeye", "forcepoint", "headlesschrome",
	"python-", "go-http-client", "curl/", "wget", "libwww", "java/",
	"okhttp", "axios", "node-fetch", NULL
};

struct hit {
	SLIST_ENTRY(hit)	 next;		/* hits_free */
	struct evhttp_request	*req;
	struct token		 t;
	struct event		*tick;
	int			 held;		/* seconds the pixel was held */
	int			 read_secs;	/* its domain's read time,
						   0: off */
	int			 machine;
	int			 head;
	int			 resubscribe;	/* /u/: the page's other
						   button */
};

static int		 pixels_held;
static SLIST_HEAD(, hit)	 hits_free = SLIST_HEAD_INITIALIZER(hits_free);
static int		 hits_kept;
static uint64_t		 n_open, n_read, n_click, n_unsub, n_resub, n_bad;

static void	 pixel_tick(evutil_socket_t, short, void *);

static int
agent_alnum(char ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'));
}

/*
 * A word (letters and digits) that ends in w ("bot"), any case, and has a
 * small letter: "Googlebot/2.1", "bingbot", "AhrefsBot", "MJ12bot", "bot";
 * "Baiduspider", "BingPreview/1.0b", "Google Web Preview".  Not w inside a
 * word ("Abbott", "both", "Previewer"), nor a word in capitals, as phone
 * models are ("CUBOT_X30").  low is ua in small letters.
 */
static int
agent_word(const char *ua, const char *low, const char *w)
{
	const char	*p = low;
	size_t		 i, end, wlen = strlen(w);

	while ((p = strstr(p, w)) != NULL) {
		end = p - low + wlen;
		p += wlen;
		if (agent_alnum(low[end]))
			continue;
		for (i = end; i > 0 && agent_alnum(low[i - 1]); i--)
			if (ua[i - 1] >= 'a' && ua[i - 1] <= 'z')
				return (1);
	}
	return (0);
}

int
track_is_machine(const char *ua, int64_t issued, time_t now, int head)
{
	char	 low[512];
	size_t	 i;

	if (head || ua == NULL || *ua == '\0')
		return (1);
	/* Apple Mail Privacy Protection's proxy says only this */
	if (strcmp(ua, "Mozilla/5.0") == 0)
		return (1);
	for (i = 0; ua[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = tolower((unsigned char)ua[i]);
	low[i] = '\0';
	for (i = 0; machine_words[i] != NULL; i++)
		if (agent_word(ua, low, machine_words[i]))
			return (1);
	for (i = 0; machine_agents[i] != NULL; i++)
		if (strstr(low, machine_agents[i]) != NULL)
			return (1);
	/* prefetched within seconds of submission: a gateway or a proxy */
	if (issued > 0 && now >= issued && now - issued <
	    web_settings.machine_secs)
		return (1);
	return (0);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer	*b = evbuffer_new();

	if (b == NULL)
		fatal("evbuffer_new");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s\n", text);
	server_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
not_found(struct evhttp_request *req)
{
	n_bad++;
	reply_text(req, 404, "Not Found", "not found");
}

/*
 * A redirect is never cached (a 302 is cacheable only when its headers
 * say so, to HTTP/1.0 caches as to later ones), and the page that held
 * the link is not told to its target.  It has no body: nothing to sniff.
 */
static void
no_store_redirect(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Cache-Control",
	    "no-store, no-cache, must-revalidate, max-age=0, private");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* an answer with a body: no cache of any age keeps it, nor sniffs it */
static void
no_store(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	no_store_redirect(req);
	evhttp_add_header(h, "Pragma", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

static struct hit *
hit_new(struct evhttp_request *req, const struct token *t)
{
	const struct tracking	*tr;
	struct hit		*h;
	const char		*ua;

	/* a hit is a few KiB (the token): kept for reuse, not freed */
	if ((h = SLIST_FIRST(&hits_free)) != NULL) {
		SLIST_REMOVE_HEAD(&hits_free, next);
		hits_kept--;
		memset(h, 0, sizeof(*h));
	} else if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("hit_new");
	h->req = req;
	h->t = *t;
	h->head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	ua = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "User-Agent");
	h->machine = track_is_machine(ua, t->issued, time(NULL), h->head);
	tr = child_conf != NULL ? config_tracking(child_conf, t->domain) :
	    NULL;
	h->read_secs = tr != NULL ? tr->read : web_settings.read_secs;
	return (h);
}

static void
hit_free(struct hit *h)
{
	if (h->tick != NULL) {
		event_free(h->tick);
		pixels_held--;
	}
	if (hits_kept < HITS_KEPT_MAX) {
		SLIST_INSERT_HEAD(&hits_free, h, next);
		hits_kept++;
	} else
		free(h);
}

/* unique_open is hookd's to say (hookd/seen.c): it survives restarts */
static void
hit_event(struct hit *h, enum event_kind kind, web_done_fn done)
{
	struct event_record	 ev;

	/* nobody to tell: no record to make (no id, no copies) */
	if (!web_event_wanted()) {
		done(1, h);
		return;
	}
	mh_event_init(&ev, kind);
	strlcpy(ev.queue_id, h->t.queue_id, sizeof(ev.queue_id));
	strlcpy(ev.recipient, h->t.recipient, sizeof(ev.recipient));
	if (kind == EV_CLICK)
		strlcpy(ev.link, h->t.url, sizeof(ev.link));
	ev.machine = h->machine;
	strlcpy(ev.stage, "tracking", sizeof(ev.stage));
	web_event(&ev, done, h);
	mh_event_clear(&ev);
}

/* ---- /o/: the pixel */

static void
pixel_send(struct hit *h, const void *p, size_t len)
{
	struct evbuffer	*b = evbuffer_new();

	if (b == NULL)
		fatal("evbuffer_new");
	evbuffer_add(b, p, len);
	evhttp_send_reply_chunk(h->req, b);
	evbuffer_free(b);
}

static void
pixel_finish(struct hit *h)
{
	if (!server_gone(h->req)) {
		pixel_send(h, gif_comment_end, sizeof(gif_comment_end));
		pixel_send(h, gif_tail, sizeof(gif_tail));
	}
	evhttp_send_reply_end(h->req);
	hit_free(h);
}

static void
read_durable(int ok, void *arg)
{
	pixel_finish(arg);
}

static void
pixel_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct hit	*h = arg;
	struct timeval	 tv = { 1, 0 };

	if (server_gone(h->req)) {
		/* closed before the read time: an open, not a read */
		evhttp_send_reply_end(h->req);
		hit_free(h);
		return;
	}
	if (++h->held >= h->read_secs) {
		n_read++;
		hit_event(h, EV_READ_MAIL, read_durable);
		return;
	}
	pixel_send(h, gif_comment_byte, sizeof(gif_comment_byte));
	evtimer_add(h->tick, &tv);
}

static void
open_durable(int ok, void *arg)
{
	struct hit	*h = arg;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(h->req);
	struct evbuffer	*b;
	struct timeval	 tv = { 1, 0 };

	if (!ok) {
		reply_text(h->req, 503, "Service Unavailable", "try again");
		hit_free(h);
		return;
	}
	no_store(h->req);
	evhttp_add_header(oh, "Content-Type", "image/gif");
	if (h->head || h->machine || h->read_secs <= 0 ||
	    pixels_held >= PIXELS_HELD_MAX || server_gone(h->req)) {
		if ((b = evbuffer_new()) == NULL)
			fatal("evbuffer_new");
		evbuffer_add(b, gif_head, sizeof(gif_head));
		evbuffer_add(b, gif_tail, sizeof(gif_tail));
		/*
		 * With the read time tracked, a person's GET is streamed, of
		 * no length known at its start, a machine's whole: which a
		 * GET gets depends on its client (its User-Agent, when it
		 * comes), so a HEAD says no Content-Length (RFC 9110 9.3.2
		 * lets it leave out what the content decides).  Without it,
		 * every GET gets this image: a HEAD says its length.
		 */
		if (h->head && h->read_secs > 0)
			evhttp_send_reply(h->req, 200, "OK", NULL);
		else
			server_reply(h->req, 200, "OK", b);
		evbuffer_free(b);
		hit_free(h);
		return;
	}
	/* streamed: the connection's lifetime says how long it is shown */
	server_reply_start(h->req, 200, "OK");
	pixel_send(h, gif_head, sizeof(gif_head));
	pixel_send(h, gif_comment, sizeof(gif_comment));
	if ((h->tick = evtimer_new(proc_base, pixel_tick,
	    h)) == NULL)
		fatalx("evtimer_new");
	pixels_held++;
	evtimer_add(h->tick, &tv);
}

static void
track_open(struct evhttp_request *req, const struct token *t)
{
	struct hit	*h = hit_new(req, t);

	n_open++;
	hit_event(h, EV_OPEN, open_durable);
}

/* ---- /c/: the click */

static void
click_durable(int ok, void *arg)
{
	struct hit	*h = arg;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(h->req);

	if (!ok) {
		evhttp_remove_header(oh, "Location");
		reply_text(h->req, 503, "Service Unavailable", "try again");
		hit_free(h);
		return;
	}
	no_store_redirect(h->req);
	server_date(h->req);
	server_reply(h->req, 302, "Found", NULL);
	hit_free(h);
}

static void
track_click(struct evhttp_request *req, const struct token *t)
{
	struct hit	*h;
	char		 loc[3 * MH_URL_MAX];

	/* a link no Location can hold (a host that is not ASCII): as a bad
	 * token, no event; any other fits loc whole */
	if (uri_encode(t->url, loc, sizeof(loc)) == -1) {
		not_found(req);
		return;
	}
	/*
	 * only the URL inside the authenticated token: never an open
	 * redirect; as a URI, also from a token made before relayd put one
	 * there.  Into the reply's headers now (evhttp keeps a copy of its
	 * own), taken out if the click cannot be made durable.
	 */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
	    loc);
	h = hit_new(req, t);
	n_click++;
	hit_event(h, EV_CLICK, click_durable);
}

/* ---- /u/: unsubscribe, resubscribe */

static void
html_escape(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			evbuffer_add(b, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(b, "&gt;", 4);
			break;
		case '&':
			evbuffer_add(b, "&amp;", 5);
			break;
		case '"':
			evbuffer_add(b, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(b, "&#39;", 5);
			break;
		default:
			evbuffer_add(b, s, 1);
		}
	}
}

enum page {
	PAGE_CONFIRM,		/* GET: a button, nothing done */
	PAGE_UNSUBSCRIBED,	/* done; offers resubscribe */
	PAGE_RESUBSCRIBED
};

static void
unsub_page(struct evhttp_request *req, const struct token *t, enum page p)
{
	struct evbuffer	*b = evbuffer_new();
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (b == NULL)
		fatal("evbuffer_new");
	no_store(req);
	evhttp_add_header(oh, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(oh, "Content-Security-Policy",
	    "default-src 'none'; form-action 'self'; "
	    "style-src 'unsafe-inline'");
	evhttp_add_header(oh, "X-Frame-Options", "DENY");
	evbuffer_add_printf(b, "<!DOCTYPE html>\n"
	    "<html><head><meta charset=\"utf-8\">"
	    "<meta name=\"robots\" content=\"noindex\">"
	    "<title>%s</title></head>\n<body style=\"font-family:sans-serif;"
	    "max-width:32em;margin:3em auto\">\n<p>",
	    p == PAGE_CONFIRM ? "Unsubscribe" : p == PAGE_UNSUBSCRIBED ?
	    "Unsubscribed" : "Subscribed");
	html_escape(b, t->recipient);
	switch (p) {
	case PAGE_CONFIRM:
		evbuffer_add_printf(b, " receives mail from ");
		html_escape(b, t->domain);
		evbuffer_add_printf(b, ".</p>\n"
		    "<form method=\"post\" action=\"\">"
		    "<input type=\"hidden\" name=\"List-Unsubscribe\" "
		    "value=\"One-Click\"><button type=\"submit\">Unsubscribe"
		    "</button></form>\n");
		break;
	case PAGE_UNSUBSCRIBED:
		evbuffer_add_printf(b, " will receive no more mail from ");
		html_escape(b, t->domain);
		evbuffer_add_printf(b, ".</p>\n"
		    "<form method=\"post\" action=\"\">"
		    "<input type=\"hidden\" name=\"action\" "
		    "value=\"resubscribe\">"
		    "<button type=\"submit\">Resubscribe</button></form>\n");
		break;
	case PAGE_RESUBSCRIBED:
		evbuffer_add_printf(b, " receives mail from ");
		html_escape(b, t->domain);
		evbuffer_add_printf(b, " again.</p>\n");
		break;
	}
	evbuffer_add_printf(b, "</body></html>\n");
	server_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* relayd stored it: the page that says so (h->resubscribe: which) */
static void
unsub_durable(int ok, void *arg)
{
	struct hit	*h = arg;

	if (!ok)
		reply_text(h->req, 503, "Service Unavailable", "try again");
	else
		unsub_page(h->req, &h->t, h->resubscribe ? PAGE_RESUBSCRIBED :
		    PAGE_UNSUBSCRIBED);
	hit_free(h);
}

/*
 * multipart/form-data (RFC 7578): a part named List-Unsubscribe (any
 * case, as the urlencoded name) whose content is One-Click and nothing
 * else (up to the CRLF before the next boundary).
 */
static int
form_one_click(const char *body)
{
	static const char	 name[] = "name=\"List-Unsubscribe\"";
	static const char	 value[] = "One-Click\r\n--";
	const char		*p, *e, *v;

	for (p = body; *p != '\0'; p++) {
		if (strncasecmp(p, name, sizeof(name) - 1) != 0)
			continue;
		e = p + sizeof(name) - 1;
		if (*e != '\r' && *e != ';')
			continue;	/* a longer name */
		if ((v = strstr(e, "\r\n\r\n")) == NULL)
			return (0);
		v += 4;
		if (strncmp(v, value, sizeof(value) - 1) == 0)
			return (1);
	}
	return (0);
}

/* n bytes of a name or value decoded into out ('+' a space, "%XX" a
 * byte, another '%' itself); -1 if they do not fit */
static int
form_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (o + 1 >= outlen)
			return (-1);
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n &&
		    mh_hexdigit(s[i + 1]) != -1 &&
		    mh_hexdigit(s[i + 2]) != -1) {
			out[o++] = mh_hexdigit(s[i + 1]) << 4 |
			    mh_hexdigit(s[i + 2]);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return (0);
}

/*
 * application/x-www-form-urlencoded (WHATWG URL 5.1): fields between
 * '&', empty ones skipped, each a name up to its first '=' and a value
 * after it, or a name alone whose value is empty ("foo&a=b").  The value
 * of the first field named name (any case) into val; -1 if there is none
 * or it does not fit.
 */
static int
form_value(const char *body, const char *name, char *val, size_t vlen)
{
	char		 n[32];
	const char	*f, *e, *v;

	for (f = body; *f != '\0'; f = *e == '\0' ? e : e + 1) {
		e = f + strcspn(f, "&");
		if ((v = memchr(f, '=', e - f)) == NULL)
			v = e;
		if (form_decode(f, v - f, n, sizeof(n)) == -1 ||
		    strcasecmp(n, name) != 0)
			continue;
		if (v < e)
			v++;
		return (form_decode(v, e - v, val, vlen));
	}
	return (-1);
}

/* ct's media type is type, parameters or none after it (RFC 9110 8.3.1) */
static int
media_type_is(const char *ct, const char *type)
{
	size_t	 len = strlen(type);

	return (strncasecmp(ct, type, len) == 0 && (ct[len] == '\0' ||
	    ct[len] == ';' || ct[len] == ' ' || ct[len] == '\t'));
}

/*
 * The POST body: "List-Unsubscribe=One-Click" (RFC 8058, urlencoded or
 * multipart/form-data) or our page's "action=resubscribe".  A body
 * without a Content-Type is read as urlencoded (RFC 9110 8.3 lets the
 * recipient look at the data); any other type is none of RFC 8058's.
 * 1 unsubscribe, 2 resubscribe, 0 neither, -1 another media type.
 */
static int
unsub_action(struct evhttp_request *req)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const char		*ct;
	char			 body[WEB_BODY_MAX + 1];
	char			 v[16];
	size_t			 len;
	int			 multipart = 0;

	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	if (ct != NULL && media_type_is(ct, "multipart/form-data"))
		multipart = 1;
	else if (ct != NULL &&
	    !media_type_is(ct, "application/x-www-form-urlencoded"))
		return (-1);
	len = evbuffer_get_length(in);
	if (len > WEB_BODY_MAX)
		return (0);
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	if (memchr(body, '\0', len) != NULL)
		return (0);
	if (multipart)
		return (form_one_click(body));
	if (form_value(body, "List-Unsubscribe", v, sizeof(v)) == 0 &&
	    strcmp(v, "One-Click") == 0)
		return (1);
	if (form_value(body, "action", v, sizeof(v)) == 0 &&
	    strcmp(v, "resubscribe") == 0)
		return (2);
	return (0);
}

static void
track_unsub(struct evhttp_request *req, const struct token *t)
{
	struct hit	*h;
	int		 a;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		/* scanners follow links: a GET never unsubscribes */
		unsub_page(req, t, PAGE_CONFIRM);
		return;
	}
	if ((a = unsub_action(req)) == -1) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Accept-Post", "application/x-www-form-urlencoded, "
		    "multipart/form-data");
		reply_text(req, 415, "Unsupported Media Type",
		    "expected application/x-www-form-urlencoded or "
		    "multipart/form-data");
		return;
	}
	if (a == 0) {
		reply_text(req, 400, "Bad Request",
		    "expected List-Unsubscribe=One-Click");
		return;
	}
	h = hit_new(req, t);
	if (a == 1)
		n_unsub++;
	else {
		n_resub++;
		h->resubscribe = 1;
	}
	web_unsubscribe(t, h->resubscribe, unsub_durable, h);
}

/* ---- dispatch */

void
track_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*uri = evhttp_request_get_uri(req);
	const char		*path, *tok;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct token		 t;
	char			 raw[WEB_URI_MAX + 1];
	char			 kind;

	/* asterisk-form is OPTIONS's alone (RFC 9112 3.2.4); OPTIONS *
	 * asks what the server takes (RFC 9110 9.3.7) */
	if (uri[0] == '*' && uri[1] == '\0') {
		if (cmd != EVHTTP_REQ_OPTIONS) {
			n_bad++;
			reply_text(req, 400, "Bad Request", "bad request");
			return;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD, POST");
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	/* "//c/TOKEN" is a path with an empty segment (RFC 9112 3.2.1), as
	 * a proxy that joins "/" and "/c/..." sends it: evhttp reads "//c"
	 * as an authority */
	if (uri[0] == '/' && uri[1] == '/') {
		strlcpy(raw, uri, sizeof(raw));
		raw[strcspn(raw, "?#")] = '\0';
		path = raw;
	} else
		path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	/*
	 * .../o/TOKEN: the tracking url's path, if it has one, comes
	 * first (or a proxy took it off); the token alone decides
	 */
	if (path == NULL || (tok = strrchr(path, '/')) == NULL ||
	    tok - path < 2 || tok[-2] != '/' || strchr("ocu", tok[-1]) ==
	    NULL || tok[1] == '\0')
		kind = '\0';
	else {
		kind = tok[-1];
		tok++;
	}
	/* what the path takes: only /u/ a POST (RFC 9110 10.2.1) */
	if ((cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD &&
	    cmd != EVHTTP_REQ_POST) || (cmd == EVHTTP_REQ_POST &&
	    kind != '\0' && kind != 'u')) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", kind == 'o' || kind == 'c' ? "GET, HEAD" :
		    "GET, HEAD, POST");
		reply_text(req, 405, "Method Not Allowed",
		    "method not allowed");
		return;
	}
	if (kind == '\0') {
		not_found(req);
		return;
	}
	if (token_decode(tok, &web_keys, &t) == -1 ||
	    (kind == 'o' && t.kind != TOKEN_OPEN) ||
	    (kind == 'c' && t.kind != TOKEN_CLICK) ||
	    (kind == 'u' && t.kind != TOKEN_UNSUBSCRIBE)) {
		not_found(req);
		return;
	}
	switch (kind) {
	case 'o':
		track_open(req, &t);
		break;
	case 'c':
		track_click(req, &t);
		break;
	default:
		track_unsub(req, &t);
		break;
	}
}

void
track_stats(json_t *o)
{
	json_object_set_new(o, "opens", json_integer(n_open));
	json_object_set_new(o, "reads", json_integer(n_read));
	json_object_set_new(o, "clicks", json_integer(n_click));
	json_object_set_new(o, "unsubscribes", json_integer(n_unsub));
	json_object_set_new(o, "resubscribes", json_integer(n_resub));
	json_object_set_new(o, "invalid", json_integer(n_bad));
	json_object_set_new(o, "pixels_held", json_integer(pixels_held));
}

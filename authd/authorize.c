/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd: the per-route authorization callback (CloudMailin style).
 *
 * Before any data is sent, the route's "authorize" URL receives size, to,
 * from, helo_domain, remote_ip and spf{result,domain} as urlencoded form,
 * JSON or XML (the seed's shapes, byte for byte), and the HTTP status
 * decides the RCPT reply: 2xx accept, 4xx 550 5.7.1, anything else 450
 * 4.7.1 (a 2xx or 4xx whose body is cut short, or stalls past the
 * time-out, accepts or refuses all the same, without the body's text).
 * Redirects are followed by common/http.c (at most 3).
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailhook.h"
#include "log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "evbuf.h"
#include "http.h"
#include "authd.h"
#include "sanitize.h"

#define AUTHZ_TEXT_MAX		200	/* reply text from a response body */
#define AUTHZ_MAX_REDIRECTS	3

struct authorize {
	struct http_call	*call;
	struct event		*ev;
	int			 starting;
	int			 done;
	struct authd_rcpt_res	 res;
	char			 url[MH_URL_MAX];
	uint64_t		 sessid;	/* the log line's */
	char			 to[MH_ADDR_MAX];
	struct timespec		 t0;		/* for time= */
	authorize_cb		 cb;
	void			*arg;
};

static struct event_base	*authz_base;

static void	 authz_http_done(const struct http_response *, void *);
static void	 authz_later(int, short, void *);

void
authorize_init(struct event_base *base)
{
	authz_base = base;
}

/*
 * Bodies
 */

struct sbuf {
	struct evbuffer	*eb;
	int		 err;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (evbuffer_add(b->eb, s, n) == -1)
		b->err = 1;
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_form(struct sbuf *b, const char *key, const char *val)
{
	if (http_form_add(b->eb, key, val, HTTP_FORM_RAWKEY) == -1)
		b->err = 1;
}

/*
 * Text in the document: it says UTF-8, so a byte that is not part of a
 * valid sequence is '?', as is a control character (not allowed in XML
 * 1.0); the markup characters are escaped.
 */
static void
sb_xmlesc(struct sbuf *b, const char *s)
{
	char	*t, *p;
	size_t	 n;

	if (s == NULL)
		return;
	n = strlen(s) + 1;
	if ((t = malloc(n)) == NULL) {
		b->err = 1;
		return;
	}
	sanitize_text(t, n, s, n - 1, SAN_UTF8);
	for (p = t; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			sb_str(b, "&amp;");
			break;
		case '<':
			sb_str(b, "&lt;");
			break;
		case '>':
			sb_str(b, "&gt;");
			break;
		case '"':
			sb_str(b, "&quot;");
			break;
		case '\'':
			sb_str(b, "&apos;");
			break;
		default:
			sb_add(b, p, 1);
		}
	}
	free(t);
}

static void
sb_xml(struct sbuf *b, const char *indent, const char *tag, const char *val)
{
	sb_str(b, indent);
	sb_add(b, "<", 1);
	sb_str(b, tag);
	sb_add(b, ">", 1);
	sb_xmlesc(b, val);
	sb_add(b, "</", 2);
	sb_str(b, tag);
	sb_add(b, ">\n", 2);
}

/* a JSON string; text that is not UTF-8 is sent with '?' for bad bytes */
static json_t *
jstr(const char *s)
{
	json_t	*j;
	char	*t;
	size_t	 len;

	if (s == NULL)
		s = "";
	if ((j = json_string(s)) != NULL)
		return (j);
	len = strlen(s);
	if ((t = strdup(s)) == NULL)
		return (NULL);
	sanitize_text(t, len + 1, t, len, 0);
	j = json_string(t);
	free(t);
	return (j);
}

static char *
authorize_json(const struct authz_params *p, size_t *lenp)
{
	json_t	*o, *spf;
	char	*s;
	int	 r = 0;

	if ((o = json_object()) == NULL)
		return (NULL);
	if (p->size >= 0)
		r |= json_object_set_new(o, "size", json_integer(p->size));
	r |= json_object_set_new(o, "to", jstr(p->to));
	r |= json_object_set_new(o, "from", jstr(p->from));
	r |= json_object_set_new(o, "helo_domain", jstr(p->helo_domain));
	r |= json_object_set_new(o, "remote_ip", jstr(p->remote_ip));
	if ((spf = json_object()) == NULL) {
		json_decref(o);
		return (NULL);
	}
	r |= json_object_set_new(spf, "result", jstr(p->spf_result));
	r |= json_object_set_new(spf, "domain", jstr(p->spf_domain));
	r |= json_object_set_new(o, "spf", spf);
	s = r ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s != NULL)
		*lenp = strlen(s);
	return (s);
}

char *
authorize_body(enum authz_format fmt, const struct authz_params *p,
    size_t *lenp)
{
	struct sbuf	 b;
	char		 num[32];

	*lenp = 0;
	if (fmt == AUTHZ_JSON)
		return (authorize_json(p, lenp));
	if ((b.eb = evbuffer_new()) == NULL)
		return (NULL);
	b.err = 0;
	if (p->size >= 0)
		snprintf(num, sizeof(num), "%" PRId64, p->size);
	if (fmt == AUTHZ_XML) {
		sb_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		    "<parameters>\n");
		if (p->size >= 0) {
			sb_str(&b, "  <size type=\"integer\">");
			sb_str(&b, num);
			sb_str(&b, "</size>\n");
		}
		sb_xml(&b, "  ", "to", p->to);
		sb_xml(&b, "  ", "from", p->from);
		sb_xml(&b, "  ", "helo-domain", p->helo_domain);
		sb_xml(&b, "  ", "remote-ip", p->remote_ip);
		sb_str(&b, "  <spf>\n");
		sb_xml(&b, "    ", "result", p->spf_result);
		sb_xml(&b, "    ", "domain", p->spf_domain);
		sb_str(&b, "  </spf>\n</parameters>\n");
	} else {
		if (p->size >= 0)
			sb_form(&b, "size", num);
		sb_form(&b, "to", p->to);
		sb_form(&b, "from", p->from);
		sb_form(&b, "helo_domain", p->helo_domain);
		sb_form(&b, "remote_ip", p->remote_ip);
		sb_form(&b, "spf[result]", p->spf_result);
		sb_form(&b, "spf[domain]", p->spf_domain);
	}
	return (evbuf_finish(b.eb, b.err, lenp));
}

const char *
authorize_content_type(enum authz_format fmt)
{
	switch (fmt) {
	case AUTHZ_JSON:
		return ("application/json");
	case AUTHZ_XML:
		return ("application/xml");
	case AUTHZ_FORM:
	default:
		return ("application/x-www-form-urlencoded");
	}
}

/*
 * Status mapping
 */

static void
authz_set(struct authd_rcpt_res *res, int verdict, int code,
    const char *enhanced, const char *text)
{
	res->verdict = verdict;
	res->code = code;
	strlcpy(res->enhanced, enhanced, sizeof(res->enhanced));
	strlcpy(res->text, text, sizeof(res->text));
}

void
authorize_map(const struct http_response *r, struct authd_rcpt_res *res)
{
	char	 text[AUTHZ_TEXT_MAX + 1];

	/*
	 * The status line is the answer: a 2xx or 4xx whose body was cut
	 * short, or had not come when the time-out ended the call, accepts
	 * or refuses all the same (without the body's text).
	 */
	if (r->error != HTTP_OK && r->answered >= 200 &&
	    r->answered <= 299) {
		authz_set(res, RCPT_ACCEPT, 250, "2.1.5", "Ok");
		return;
	}
	if (r->error != HTTP_OK && r->answered >= 400 &&
	    r->answered <= 499) {
		authz_set(res, RCPT_REJECT, 550, "5.7.1",
		    "Recipient rejected by authorization");
		return;
	}
	if (r->error != HTTP_OK) {
		authz_set(res, RCPT_TEMPFAIL, 450, "4.7.1",
		    /* one too many, or no Location, or https to http */
		    r->error == HTTP_EREDIRECT ?
		    "Authorization failed: redirect not followed" :
		    r->error == HTTP_ETIMEOUT ?
		    "Authorization timed out, try again later" :
		    "Authorization unavailable, try again later");
		return;
	}
	if (r->status >= 200 && r->status <= 299) {
		authz_set(res, RCPT_ACCEPT, 250, "2.1.5", "Ok");
		return;
	}
	if (r->status >= 400 && r->status <= 499)
		authz_set(res, RCPT_REJECT, 550, "5.7.1",
		    "Recipient rejected by authorization");
	else
		authz_set(res, RCPT_TEMPFAIL, 450, "4.7.1",
		    "Authorization server error, try again later");
	if (r->status >= 400 && r->status <= 599 && r->body != NULL &&
	    r->content_type != NULL &&
	    strcmp(r->content_type, "text/plain") == 0) {
		sanitize_text(text, sizeof(text), r->body, r->bodylen,
		    SAN_REPLY);
		if (text[0] != '\0')
			strlcpy(res->text, text, sizeof(res->text));
	}
}

/*
 * The call
 */

struct authorize *
authorize_start(const struct route *route, int allow_private,
    const struct authz_params *p, authorize_cb cb, void *arg)
{
	struct authorize	*a;
	struct http_request	 req;
	char			*body;
	size_t			 len;
	struct timeval		 tv = { 0, 0 };

	if (authz_base == NULL || route->authorize[0] == '\0')
		return (NULL);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (NULL);
	if ((a->ev = evtimer_new(authz_base, authz_later, a)) == NULL) {
		free(a);
		return (NULL);
	}
	a->cb = cb;
	a->arg = arg;
	strlcpy(a->url, route->authorize, sizeof(a->url));
	a->sessid = p->sessid;
	strlcpy(a->to, p->to, sizeof(a->to));
	clock_gettime(CLOCK_MONOTONIC, &a->t0);
	if ((body = authorize_body(route->authorize_format, p, &len)) ==
	    NULL) {
		event_free(a->ev);
		free(a);
		return (NULL);
	}
	http_request_body(&req, route->authorize, &route->headers,
	    authorize_content_type(route->authorize_format), body, len);
	req.timeout_ms = (route->authorize_timeout > 0 ?
	    route->authorize_timeout : 10) * 1000;
	/*
	 * Counted from the RCPT (mailhook.conf(5)): what the SPF check
	 * took is gone from it, to the millisecond; a second at least,
	 * for an endpoint that answers at once.
	 */
	if (p->elapsed_ms > 0)
		req.timeout_ms -= p->elapsed_ms > req.timeout_ms ?
		    req.timeout_ms : (int)p->elapsed_ms;
	if (req.timeout_ms < 1000)
		req.timeout_ms = 1000;
	req.max_redirects = AUTHZ_MAX_REDIRECTS;
	req.allow_private = allow_private;
	req.concurrency = route->concurrency;
	/* the client waits at RCPT: in line for a slot too */
	req.wait_counts = 1;
	req.max_response = 4096;
	/* the status is the verdict: a 2xx whose body is cut short too */
	req.status_enough = 1;
	a->starting = 1;
	a->call = http_post(&req, authz_http_done, a);
	a->starting = 0;
	free(body);
	if (a->done) {
		/* answered at once: deliver from the loop all the same */
		a->call = NULL;
		evtimer_add(a->ev, &tv);
		return (a);
	}
	if (a->call == NULL) {
		event_free(a->ev);
		free(a);
		return (NULL);
	}
	return (a);
}

/*
 * One key=value line a call, after smtpd's session and the recipient:
 * session=... to=<...> authorize=URL status=N time=Nms
 * result=accepted|refused|tempfail code=NNN, and error="..." when the
 * call failed (status=0 when no status line came, else that line's).
 * The URL as every URL is logged: no password, no query value.
 */
static void
authz_log(const struct authorize *a, const struct http_response *r)
{
	char		 url[MH_URL_MAX], to[LOG_ADDR_MAX], why[256];
	struct timespec	 t1;
	long		 ms;
	int		 ok = r->error == HTTP_OK;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - a->t0.tv_sec) * 1000 +
	    (t1.tv_nsec - a->t0.tv_nsec) / 1000000;
	config_url_public(a->url, url, sizeof(url));
	log_info("session=%012llx to=<%s> authorize=%s status=%ld time=%ldms "
	    "result=%s code=%d%s%s%s", (unsigned long long)a->sessid,
	    log_addr(to, sizeof(to), a->to), url, ok ? r->status : r->answered,
	    ms,
	    a->res.verdict == RCPT_ACCEPT ? "accepted" :
	    a->res.verdict == RCPT_REJECT ? "refused" : "tempfail",
	    a->res.code, ok ? "" : " error=\"",
	    ok ? "" : log_sanitize(why, sizeof(why), r->errstr), ok ? "" : "\"");
}

static void
authz_http_done(const struct http_response *r, void *arg)
{
	struct authorize	*a = arg;

	a->call = NULL;
	authorize_map(r, &a->res);
	authz_log(a, r);
	a->done = 1;
	if (a->starting)
		return;
	authz_later(-1, 0, a);
}

static void
authz_later(int fd, short ev, void *arg)
{
	struct authorize	*a = arg;

	a->cb(&a->res, a->arg);
	event_free(a->ev);
	free(a);
}

void
authorize_cancel(struct authorize *a)
{
	if (a == NULL)
		return;
	if (a->call != NULL)
		http_cancel(a->call);
	event_free(a->ev);
	free(a);
}

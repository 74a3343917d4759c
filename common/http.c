/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Asynchronous HTTP client: libcurl multi driven by libevent.
 *
 * One call is one logical request; every hop of it (the first request
 * and each redirect) gets its own easy handle, while the multi handle's
 * connection cache keeps connections alive between hops and calls.
 *
 * A hop goes: wait for a slot of its endpoint (scheme://host:port) ->
 * resolve the host through common/dns.c -> drop every address the SSRF
 * guard refuses -> pin the rest with CURLOPT_RESOLVE -> run.  libcurl
 * never resolves anything itself: its resolver-start hook refuses any
 * name that is not pinned (which would mean a resolver thread), the
 * open-socket hook checks the address it actually connects to once more,
 * and the pre-request hook checks the address of the connection each
 * request goes out on, a kept-alive one included; a request it refuses
 * is sent again at once on a new connection.  When a reload turns
 * private-addresses off, the connections kept alive are set aside.
 *
 * Redirects are followed here, never by libcurl: 303 turns the request
 * into a GET without a body; 301, 302, 307 and 308 repeat the POST with
 * the same body (a webhook is a POST; turning it into a GET, as browsers
 * do for 301/302, would silently lose the payload).  Credentials from the
 * URL are only sent to the origin they were given for.  No request
 * follows a redirect from https to http (its body would go in plain
 * text); one with same_origin (an event webhook) none out of the URL's
 * origin, the only one its headers and signature go to.
 *
 * The timeout counts from the moment the first hop gets its slot, so a
 * burst queued behind a slow endpoint does not time out while waiting;
 * a request with wait_counts (an SMTP client waits for its answer) counts
 * from http_post(), the wait for a slot included.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "dns.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "http_int.h"

#define HTTP_DEF_TIMEOUT	30
#define HTTP_DEF_CONCURRENCY	8
#define HTTP_DEF_MAXRESPONSE	(64 * 1024)

static struct event_base	*http_base;
static struct pool		*http_pool;	/* of the hops to come */
/*
 * made at http_init, before the sandbox: curl_multi_init asks for a
 * socketpair, a pipe or an eventfd (by libcurl's version) that the
 * filter refuses, or kills the process for
 */
static struct pool		*http_spare;
static struct poollist		 http_retired =
    TAILQ_HEAD_INITIALIZER(http_retired);
static int			 http_private;	/* allow private-addresses */
static struct cabundle		*http_ca;	/* of the calls to come */
static char			 http_empty[1];
static struct endpointlist	 http_endpoints =
    TAILQ_HEAD_INITIALIZER(http_endpoints);
static struct calllist		 http_calls =
    TAILQ_HEAD_INITIALIZER(http_calls);

static void	call_deadline(struct http_call *);
static void	call_hop(struct http_call *);
static void	call_finish(struct http_call *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	call_free(struct http_call *);
static void	call_count(struct http_call *);
static void	call_run(struct http_call *, const struct dns_addrs *);
static void	call_start(struct http_call *);
static int	call_retry_fresh(struct http_call *, CURLcode);
static void	call_done(struct http_call *, CURLcode);
static void	ep_acquire(struct http_call *);
static void	ep_release(struct http_call *);
static void	multi_check(struct pool *);

/*
 * The SSRF guard.
 */
static int
v4_allowed(const unsigned char *a)
{
	if (a[0] == 0 ||				/* 0/8 "this network" */
	    a[0] == 10 ||				/* 10/8 */
	    a[0] == 127 ||				/* loopback */
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||	/* 100.64/10 CGN */
	    (a[0] == 169 && a[1] == 254) ||		/* link-local */
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||	/* 172.16/12 */
	    (a[0] == 192 && a[1] == 168) ||		/* 192.168/16 */
	    (a[0] == 192 && a[1] == 0 && a[2] == 0) ||	/* IETF 192.0.0/24 */
	    (a[0] == 192 && a[1] == 0 && a[2] == 2) ||	/* TEST-NET-1 */
	    (a[0] == 198 && (a[1] & 0xfe) == 18) ||	/* 198.18/15 bench */
	    (a[0] == 198 && a[1] == 51 && a[2] == 100) ||	/* TEST-NET-2 */
	    (a[0] == 203 && a[1] == 0 && a[2] == 113) ||	/* TEST-NET-3 */
	    a[0] >= 224)				/* multicast, 240/4 */
		return (0);
	return (1);
}

/* Teredo (RFC 4380): its server's address and its client's (inverted) */
static int
teredo_allowed(const unsigned char *a)
{
	unsigned char	 client[4];
	size_t		 i;

	for (i = 0; i < 4; i++)
		client[i] = a[12 + i] ^ 0xff;
	return (v4_allowed(a + 4) && v4_allowed(client));
}

static int
v6_allowed(const unsigned char *a)
{
	static const unsigned char	 zero[12];
	static const unsigned char	 mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char	 nat64[12] =
	    { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char	 siit[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };

	/* IPv4-mapped, NAT64 (RFC 6052), SIIT ::ffff:0:0:0/96 (RFC 7915) */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 ||
	    memcmp(a, siit, 12) == 0)
		return (v4_allowed(a + 12));
	if (memcmp(a, zero, 12) == 0)		/* ::, ::1, IPv4-compatible */
		return (0);
	if (a[0] == 0x20 && a[1] == 0x02)	/* 6to4: the embedded v4 */
		return (v4_allowed(a + 2));
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
		return (teredo_allowed(a));	/* 2001::/32 Teredo */
	if ((a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b &&
	    a[4] == 0 && a[5] == 1) ||		/* 64:ff9b:1::/48 local NAT64 */
	    (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 2 &&
	    a[4] == 0 && a[5] == 0) ||		/* 2001:2::/48 benchmarking */
	    (a[0] == 0x3f && a[1] == 0xff &&
	    (a[2] & 0xf0) == 0) ||		/* 3fff::/20 documentation */
	    (a[0] == 0x5f && a[1] == 0))	/* 5f00::/16 SRv6 SIDs */
		return (0);
	if (a[0] == 0xff ||			/* multicast */
	    (a[0] & 0xfe) == 0xfc ||		/* fc00::/7 ULA */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||	/* fe80::/10 */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) ||	/* fec0::/10 */
	    (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d &&
	    a[3] == 0xb8) ||			/* 2001:db8::/32
						   documentation */
	    (a[0] == 0x01 && a[1] == 0 && a[2] == 0 && a[3] == 0 &&
	    a[4] == 0 && a[5] == 0 && a[6] == 0 && a[7] == 0))	/* 100::/64 */
		return (0);
	return (1);
}

int
http_addr_allowed(const struct sockaddr *sa, int allow_private)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa == NULL)
		return (0);
	switch (sa->sa_family) {
	case AF_INET:
		return (allow_private ||
		    v4_allowed((const unsigned char *)&sin->sin_addr));
	case AF_INET6:
		return (allow_private ||
		    v6_allowed((const unsigned char *)&sin6->sin6_addr));
	default:
		return (0);
	}
}

const char *
http_strerror(int e)
{
	switch (e) {
	case HTTP_OK:
		return ("ok");
	case HTTP_ETIMEOUT:
		return ("timeout");
	case HTTP_ECONNECT:
		return ("connection failed");
	case HTTP_EDNS:
		return ("host does not resolve");
	case HTTP_ESSRF:
		return ("address refused");
	case HTTP_EREDIRECT:
		return ("too many or bad redirects");
	case HTTP_ETLS:
		return ("TLS failure");
	case HTTP_EURL:
		return ("unusable URL");
	default:
		return ("error");
	}
}

/*
 * libcurl <-> libevent glue, for each connection cache (struct pool): the
 * one of the hops to come, and those set aside until their last hop ends
 * (http_allow_private).
 */
static void
sock_ev(int fd, short what, void *arg)
{
	struct pool	*p = arg;
	int		 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(p->multi, fd, action, &running);
	multi_check(p);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct pool	*p = userp;
	struct event	*ev = socketp;
	short		 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL) {
			event_free(ev);
			curl_multi_assign(p->multi, s, NULL);
		}
		return (0);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL) {
		event_del(ev);
		event_assign(ev, http_base, s, kind, sock_ev, p);
	} else {
		if ((ev = event_new(http_base, s, kind, sock_ev, p)) == NULL)
			return (-1);
		curl_multi_assign(p->multi, s, ev);
	}
	event_add(ev, NULL);
	return (0);
}

static void
timer_ev(int fd, short what, void *arg)
{
	struct pool	*p = arg;
	int		 running;

	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check(p);
}

static int
timer_cb(CURLM *m, long ms, void *userp)
{
	struct pool	*p = userp;
	struct timeval	 tv;

	if (ms < 0) {
		evtimer_del(p->timer);
		return (0);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	return (0);
}

static void
multi_check(struct pool *p)
{
	CURLMsg			*msg;
	struct http_call	*call;
	int			 left;

	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		call = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &call);
		if (call != NULL && call->easy == msg->easy_handle)
			call_done(call, msg->data.result);
	}
}

/* the connections of p closed, p gone (no easy handle left in it) */
static void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->reap != NULL)
		event_free(p->reap);
	free(p);
}

/* a set-aside cache whose last hop ended: from the loop, not inside it */
static void
pool_reap(int fd, short what, void *arg)
{
	struct pool	*p = arg;

	if (p->running > 0)
		return;
	TAILQ_REMOVE(&http_retired, p, entry);
	pool_free(p);
}

static struct pool *
pool_new(void)
{
	struct pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	if ((p->multi = curl_multi_init()) == NULL ||
	    (p->timer = evtimer_new(http_base, timer_ev, p)) == NULL ||
	    (p->reap = evtimer_new(http_base, pool_reap, p)) == NULL) {
		pool_free(p);
		return (NULL);
	}
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, 64L);
	return (p);
}

/* a hop left p: a set-aside p closes with its last one */
static void
pool_leave(struct pool *p)
{
	struct timeval	 tv = { 0, 0 };

	if (--p->running == 0 && p->retired)
		evtimer_add(p->reap, &tv);
}

/*
 * The configuration's allow private-addresses, at start and at each
 * reload.  When it turns off, a connection kept alive from before may
 * lead to a private address, and libcurl would offer it to every request
 * for its host name (each one refused by the pre-request hook): the hops
 * to come get a new connection cache, and the old one closes as soon as
 * the hops still running on it end.
 */
void
http_allow_private(int allow)
{
	struct pool	*p;
	struct timeval	 tv = { 0, 0 };

	if (http_pool != NULL && http_private && !allow) {
		/* one spare: a second turn off leaves them to their idle
		 * time (each request on one is refused and made anew) */
		if ((p = http_spare) == NULL)
			log_info("http: the kept-alive connections close "
			    "when idle");
		else {
			http_spare = NULL;
			http_pool->retired = 1;
			TAILQ_INSERT_TAIL(&http_retired, http_pool, entry);
			if (http_pool->running == 0)
				evtimer_add(http_pool->reap, &tv);
			http_pool = p;
		}
	}
	http_private = allow;
}

int
http_init(struct event_base *base, const char *cabundle, size_t len)
{
	if (http_pool != NULL)
		http_shutdown();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("http: curl_global_init failed");
		return (-1);
	}
	http_base = base;
	if ((http_pool = pool_new()) == NULL ||
	    (http_spare = pool_new()) == NULL) {
		log_warnx("http: init failed");
		return (-1);
	}
	return (http_set_ca(cabundle, len));
}

static void
ca_unref(struct cabundle *ca)
{
	if (ca != NULL && --ca->refs == 0)
		free(ca);
}

/*
 * The CA bundle of the calls started from now on (a reload gives the new
 * one); a call under way keeps the one it started with until it ends.
 */
int
http_set_ca(const char *pem, size_t len)
{
	struct cabundle	*ca = NULL;

	if (pem != NULL && len > 0) {
		if ((ca = malloc(sizeof(*ca) + len)) == NULL)
			return (-1);
		ca->refs = 1;
		ca->len = len;
		memcpy(ca->pem, pem, len);
	}
	ca_unref(http_ca);
	http_ca = ca;
	return (0);
}

void
http_shutdown(void)
{
	struct http_call	*call, *tmp;
	struct endpoint		*ep;
	struct pool		*p;

	TAILQ_FOREACH_SAFE(call, &http_calls, entry, tmp) {
		call->cb = NULL;
		call_finish(call, HTTP_EOTHER, "shutdown");
	}
	/* what is left waits for dns.c: leave it to the DNS callback */
	while ((call = TAILQ_FIRST(&http_calls)) != NULL) {
		TAILQ_REMOVE(&http_calls, call, entry);
		call->orphan = 1;
	}
	while ((ep = TAILQ_FIRST(&http_endpoints)) != NULL) {
		TAILQ_REMOVE(&http_endpoints, ep, entry);
		free(ep);
	}
	pool_free(http_pool);
	http_pool = NULL;
	pool_free(http_spare);
	http_spare = NULL;
	while ((p = TAILQ_FIRST(&http_retired)) != NULL) {
		TAILQ_REMOVE(&http_retired, p, entry);
		pool_free(p);
	}
	http_private = 0;
	ca_unref(http_ca);
	http_ca = NULL;
	curl_global_cleanup();
}

/*
 * The status line of this hop's answer, once its head came whole: also
 * of an answer cut off or that never ended (a body dripping past the
 * time-out), and of a 1xx that no final answer followed.
 */
static void
hop_answered(struct http_call *call)
{
	long	 status = 0;

	if (call->easy != NULL && call->head_ended &&
	    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status) ==
	    CURLE_OK && status > 0)
		call->resp.answered = status;
}

static void
call_early_error(int fd, short what, void *arg)
{
	struct http_call	*call = arg;

	/* the deadline: what came of the answer before it */
	hop_answered(call);
	if (call->resp.error != HTTP_OK) {
		call_finish(call, call->resp.error, "%s", call->resp.errstr);
		return;
	}
	if (call->state == CS_QUEUED)
		call_finish(call, HTTP_ETIMEOUT, "%s: no free connection "
		    "within %ds (concurrency)", call->origin, call->timeout);
	else
		call_finish(call, HTTP_ETIMEOUT, "no complete response "
		    "within %ds", call->timeout);
}

/* fail from the event loop: the callback never runs inside http_post() */
static void
call_fail_soon(struct http_call *call, int error, const char *why)
{
	struct timeval	 tv = { 0, 0 };

	call->resp.error = error;
	(void)strlcpy(call->resp.errstr, why, sizeof(call->resp.errstr));
	evtimer_add(call->timer, &tv);
}

/*
 * Take a URL apart: scheme, host, port, credentials; the URL kept
 * for the hop has no credentials.  0 ok, -1 unusable.
 */
static int
call_seturl(struct http_call *call, const char *url, int first)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	char	*pass = NULL, *clean = NULL, *puny = NULL;
	size_t	 len, i;
	int	 ret = -1;
	const char *errstr;

	if ((u = curl_url()) == NULL)
		return (-1);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		goto done;
	for (i = 0; host[i] != '\0'; i++)
		if ((unsigned char)host[i] >= 0x80)
			break;
	if (host[i] != '\0') {
		/* IDN: libcurl must see the same A-label we pin */
		if (curl_url_get(u, CURLUPART_HOST, &puny, CURLU_PUNYCODE) !=
		    CURLUE_OK ||
		    curl_url_set(u, CURLUPART_HOST, puny, 0) != CURLUE_OK)
			goto done;
		curl_free(host);
		host = puny;
		puny = NULL;
	}
	(void)curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	(void)curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK)
		goto done;
	/* host without IPv6 brackets and trailing dot, as libcurl uses it */
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		memmove(host, host + 1, len - 2);
		host[len - 2] = '\0';
		len -= 2;
	}
	if (len > 1 && host[len - 1] == '.')
		host[--len] = '\0';
	if (len == 0 || len >= sizeof(call->host) ||
	    strlen(clean) >= sizeof(call->resp.final_url))
		goto done;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)host[i]) &&
		    strchr("-._:%", host[i]) == NULL)
			goto done;
	call->port = strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL)
		goto done;
	(void)strlcpy(call->scheme, scheme, sizeof(call->scheme));
	for (i = 0; i <= len; i++)
		call->host[i] = tolower((unsigned char)host[i]);
	(void)snprintf(call->origin, sizeof(call->origin), "%s://%s%s%s:%ld",
	    call->scheme, strchr(call->host, ':') ? "[" : "", call->host,
	    strchr(call->host, ':') ? "]" : "", call->port);
	free(call->url);
	if ((call->url = strdup(clean)) == NULL)
		goto done;
	(void)strlcpy(call->resp.final_url, clean,
	    sizeof(call->resp.final_url));
	if (user != NULL && *user != '\0') {
		/* credentials given with this URL are for its origin */
		free(call->user);
		free(call->pass);
		call->user = strdup(user);
		call->pass = strdup(pass ? pass : "");
		if (call->user == NULL || call->pass == NULL)
			goto done;
		(void)strlcpy(call->cred_origin, call->origin,
		    sizeof(call->cred_origin));
	} else if (first)
		call->cred_origin[0] = '\0';
	if (first) {
		(void)strlcpy(call->req_origin, call->origin,
		    sizeof(call->req_origin));
		(void)strlcpy(call->req_scheme, call->scheme,
		    sizeof(call->req_scheme));
	}
	ret = 0;
 done:
	if (pass != NULL)
		explicit_bzero(pass, strlen(pass));
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	curl_free(clean);
	curl_free(puny);
	curl_url_cleanup(u);
	return (ret);
}

struct http_call *
http_post(const struct http_request *req, http_cb cb, void *arg)
{
	struct http_call	*call;
	int			 r;

	if (http_pool == NULL || req == NULL || req->url == NULL)
		return (NULL);
	if ((call = calloc(1, sizeof(*call))) == NULL)
		return (NULL);
	call->cb = cb;
	call->arg = arg;
	if ((call->ca = http_ca) != NULL)
		call->ca->refs++;
	call->resp.retry_after = -1;
	call->timeout = req->timeout > 0 ? req->timeout : HTTP_DEF_TIMEOUT;
	call->timeout_ms = (long)call->timeout * 1000;
	if (req->timeout_ms > 0) {
		call->timeout_ms = req->timeout_ms;
		call->timeout = (req->timeout_ms + 999) / 1000;
	}
	call->max_redirects = req->max_redirects > 0 ? req->max_redirects : 0;
	call->allow_private = req->allow_private;
	call->same_origin = req->same_origin;
	call->status_enough = req->status_enough;
	call->get = req->get;
	call->concurrency = req->concurrency > 0 ? req->concurrency :
	    HTTP_DEF_CONCURRENCY;
	call->max_response = req->max_response > 0 ? req->max_response :
	    HTTP_DEF_MAXRESPONSE;
	TAILQ_INSERT_TAIL(&http_calls, call, entry);
	if ((call->timer = evtimer_new(http_base, call_early_error,
	    call)) == NULL)
		goto fail;
	if (req->content_type != NULL &&
	    (call->content_type = strdup(req->content_type)) == NULL)
		goto fail;
	if ((call->body = http_memdup(req->body ? req->body : "",
	    req->body ? req->bodylen : 0)) == NULL)
		goto fail;
	call->bodylen = req->body ? req->bodylen : 0;
	/* POSTs are counted (MTA-STS's GETs reach anyone's host: not) */
	if (!req->get)
		config_url_public(req->url, call->mlabel, sizeof(call->mlabel));
	clock_gettime(CLOCK_MONOTONIC, &call->t0);
	if (http_copy_parts(call, req) == -1 ||
	    (r = http_copy_headers(call, req)) == -1)
		goto fail;
	if (r == 0) {
		call_fail_soon(call, HTTP_EOTHER, "unusable header");
		return (call);
	}
	if (call->content_type != NULL &&
	    !http_header_ok("Content-Type", call->content_type)) {
		call_fail_soon(call, HTTP_EOTHER, "unusable content type");
		return (call);
	}
	if (call_seturl(call, req->url, 1) == -1) {
		call_fail_soon(call, HTTP_EURL, "unusable URL");
		return (call);
	}
	if (req->wait_counts)
		call_deadline(call);
	/* what fails at once (no resolver) fails from the event loop */
	call->starting = 1;
	call_hop(call);
	call->starting = 0;
	return (call);
 fail:
	call->cb = NULL;
	call_free(call);
	return (NULL);
}

void
http_cancel(struct http_call *call)
{
	if (call == NULL || call->in_cb)
		return;
	call->cb = NULL;
	call_finish(call, HTTP_EOTHER, "cancelled");
}

/*
 * Endpoint slots.
 */
static void
ep_acquire(struct http_call *call)
{
	struct endpoint	*ep;

	TAILQ_FOREACH(ep, &http_endpoints, entry)
		if (strcmp(ep->key, call->origin) == 0)
			break;
	if (ep == NULL) {
		if ((ep = calloc(1, sizeof(*ep))) == NULL) {
			call_finish(call, HTTP_EOTHER, "out of memory");
			return;
		}
		(void)strlcpy(ep->key, call->origin, sizeof(ep->key));
		TAILQ_INIT(&ep->waiting);
		TAILQ_INSERT_TAIL(&http_endpoints, ep, entry);
	}
	call->ep = ep;
	if (ep->active >= call->concurrency || !TAILQ_EMPTY(&ep->waiting)) {
		call->state = CS_QUEUED;
		TAILQ_INSERT_TAIL(&ep->waiting, call, qentry);
		return;
	}
	ep->active++;
	call->state = CS_DNS;
}

/* give back the slot (or leave the queue); wake the next in line */
static void
ep_release(struct http_call *call)
{
	struct endpoint		*ep = call->ep;
	struct http_call	*next;
	struct calllist		 woken;

	if (ep == NULL)
		return;
	call->ep = NULL;
	if (call->state == CS_QUEUED)
		TAILQ_REMOVE(&ep->waiting, call, qentry);
	else
		ep->active--;
	TAILQ_INIT(&woken);
	while ((next = TAILQ_FIRST(&ep->waiting)) != NULL &&
	    ep->active < next->concurrency) {
		TAILQ_REMOVE(&ep->waiting, next, qentry);
		ep->active++;
		next->state = CS_DNS;
		TAILQ_INSERT_TAIL(&woken, next, qentry);
	}
	if (ep->active == 0 && TAILQ_EMPTY(&ep->waiting)) {
		TAILQ_REMOVE(&http_endpoints, ep, entry);
		free(ep);
	}
	/* the endpoint is consistent now; starting may finish a call */
	while ((next = TAILQ_FIRST(&woken)) != NULL) {
		TAILQ_REMOVE(&woken, next, qentry);
		call_hop(next);
	}
}

static void
call_dns(const struct dns_addrs *addrs, void *arg)
{
	struct http_call	*call = arg;

	call->dns_pending = 0;
	if (call->state == CS_DONE) {
		call_free(call);
		return;
	}
	if (addrs->status != DNS_OK) {
		call_finish(call, HTTP_EDNS, "%s: %s", call->host,
		    addrs->status == DNS_NXDOMAIN ? "no such host" :
		    addrs->status == DNS_NODATA ? "no address" :
		    "temporary DNS failure");
		return;
	}
	call_run(call, addrs);
}

/* 1 if host is an address literal; its sockaddr into ss if given */
static int
host_literal(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_storage	 tmp;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	if (ss == NULL)
		ss = &tmp;
	memset(ss, 0, sizeof(*ss));
	sin = (struct sockaddr_in *)ss;
	sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return (1);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return (1);
	}
	return (0);
}

static void
call_literal(int fd, short what, void *arg)
{
	struct http_call	*call = arg;
	struct dns_addrs	 addrs;

	memset(&addrs, 0, sizeof(addrs));
	addrs.status = DNS_OK;
	addrs.n = host_literal(call->host, &addrs.ss[0]);
	call_dns(&addrs, call);
}

/* the deadline of the whole call starts now, unless it already runs */
static void
call_deadline(struct http_call *call)
{
	struct timeval	 tv;

	if (call->started)
		return;
	call->started = 1;
	tv.tv_sec = call->timeout_ms / 1000;
	tv.tv_usec = call->timeout_ms % 1000 * 1000;
	evtimer_add(call->timer, &tv);
}

/*
 * Start the current hop: take a slot (or wait for one), then resolve.
 * Called again by ep_release() for a call that was waiting.
 */
static void
call_hop(struct http_call *call)
{
	struct timeval	 tv;

	call->resp.answered = 0;	/* this hop's, when it has one */
	if (call->state != CS_DNS) {
		ep_acquire(call);
		if (call->state != CS_DNS)
			return;		/* queued, or failed */
	}
	call_deadline(call);
	call->dns_pending = 1;
	if (host_literal(call->host, NULL)) {
		/* no resolver needed; still answer from the event loop */
		tv.tv_sec = tv.tv_usec = 0;
		if (event_base_once(http_base, -1, EV_TIMEOUT, call_literal,
		    call, &tv) == -1) {
			call->dns_pending = 0;
			call_finish(call, HTTP_EOTHER, "event_base_once");
		}
		return;
	}
	if (dns_resolve_host(call->host, call_dns, call) == -1) {
		call->dns_pending = 0;
		call_finish(call, HTTP_EDNS, "%s: resolver unavailable",
		    call->host);
	}
}

/* the connect-time layer of the SSRF guard */
int
http_socket(const struct sockaddr *sa, int type, int protocol,
    int allow_private)
{
	if (!http_addr_allowed(sa, allow_private)) {
		errno = EACCES;
		return (-1);
	}
	return (socket(sa->sa_family, type | SOCK_CLOEXEC, protocol));
}

static curl_socket_t
opensocket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_call	*call = arg;
	int			 fd;

	if (purpose != CURLSOCKTYPE_IPCXN) {
		call->ssrf_blocked = 1;
		return (CURL_SOCKET_BAD);
	}
	if ((fd = http_socket(&a->addr, a->socktype, a->protocol,
	    call->allow_private)) == -1) {
		if (errno == EACCES)
			call->ssrf_blocked = 1;
		return (CURL_SOCKET_BAD);
	}
	return (fd);
}

/*
 * The request-time layer of the SSRF guard: libcurl matches a kept-alive
 * connection by scheme, host name and port, never by the address pinned
 * for this hop, and the open-socket hook runs only for a new connection.
 * Check the address of the connection, new or reused, before each
 * request goes out on it (a reload may have turned private-addresses
 * off, or the name may now resolve elsewhere).
 */
static int
prereq_cb(void *arg, char *conn_primary_ip, char *conn_local_ip,
    int conn_primary_port, int conn_local_port)
{
	struct http_call	*call = arg;
	union {
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
	}			 u;
	char			 ip[INET6_ADDRSTRLEN];

	memset(&u, 0, sizeof(u));
	/* an address with a zone ("fe80::1%eth0") is checked without it */
	if (conn_primary_ip == NULL ||
	    strlcpy(ip, conn_primary_ip, sizeof(ip)) >= sizeof(ip))
		ip[0] = '\0';
	ip[strcspn(ip, "%")] = '\0';
	if (inet_pton(AF_INET, ip, &u.sin.sin_addr) == 1)
		u.sa.sa_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &u.sin6.sin6_addr) == 1)
		u.sa.sa_family = AF_INET6;
	if (!http_addr_allowed(&u.sa, call->allow_private)) {
		call->ssrf_blocked = 1;
		call->reuse_refused = 1;
		return (CURL_PREREQFUNC_ABORT);
	}
	return (CURL_PREREQFUNC_OK);
}

/*
 * libcurl wants to resolve: only literal addresses may go on (they
 * never reach a resolver); a name means our pin was missed, and the
 * threaded resolver must not start.
 */
static int
resolver_start_cb(void *state, void *reserved, void *arg)
{
	struct http_call	*call = arg;
	struct in6_addr		 a6;
	struct in_addr		 a4;

	if (inet_pton(AF_INET, call->host, &a4) == 1 ||
	    inet_pton(AF_INET6, call->host, &a6) == 1)
		return (0);
	log_warnx("http: %s: libcurl tried to resolve a pinned name",
	    call->host);
	return (1);
}

/*
 * The pin-time layer of the SSRF guard: the CURLOPT_RESOLVE entry
 * "host:port:addr,[addr6]" of the addresses the guard allows.  Returns
 * how many it pinned (0: none allowed).
 */
size_t
http_pin(char *entry, size_t len, const char *host, long port,
    const struct dns_addrs *addrs, int allow_private)
{
	char		 a[INET6_ADDRSTRLEN];
	const void	*src;
	size_t		 i, n = 0;
	int		 af;

	(void)snprintf(entry, len, "%s:%ld:", host, port);
	for (i = 0; i < addrs->n; i++) {
		if (!http_addr_allowed((const struct sockaddr *)&addrs->ss[i],
		    allow_private))
			continue;
		af = addrs->ss[i].ss_family;
		src = af == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)
		    &addrs->ss[i])->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)
		    &addrs->ss[i])->sin6_addr;
		if (inet_ntop(af, src, a, sizeof(a)) == NULL)
			continue;
		if (n++ > 0)
			(void)strlcat(entry, ",", len);
		if (af == AF_INET6)
			(void)strlcat(entry, "[", len);
		(void)strlcat(entry, a, len);
		if (af == AF_INET6)
			(void)strlcat(entry, "]", len);
	}
	return (n);
}

static int
build_resolve(struct http_call *call, const struct dns_addrs *addrs)
{
	char		 entry[HTTP_PIN_MAX];

	if (http_pin(entry, sizeof(entry), call->host, call->port, addrs,
	    call->allow_private) == 0)
		return (0);
	/* a literal needs no pin: libcurl takes it as it is */
	if (host_literal(call->host, NULL))
		return (1);
	if ((call->resolve = curl_slist_append(NULL, entry)) == NULL)
		return (-1);
	return (1);
}

static long
remaining_ms(struct http_call *call)
{
	struct timeval	 now, left;

	if (evtimer_pending(call->timer, &left) == 0)
		return (call->timeout_ms);
	event_base_gettimeofday_cached(http_base, &now);
	timersub(&left, &now, &left);
	if (left.tv_sec < 0)
		return (1);
	return (left.tv_sec * 1000L + left.tv_usec / 1000 + 1);
}

static void
call_run(struct http_call *call, const struct dns_addrs *addrs)
{
	int	 r;

	if ((r = build_resolve(call, addrs)) == 0) {
		call_finish(call, HTTP_ESSRF, "%s: address refused "
		    "(private or reserved)", call->host);
		return;
	}
	if (r == -1) {
		call_finish(call, HTTP_EOTHER, "out of memory");
		return;
	}
	call->fresh = 0;
	call_start(call);
}

/* the easy handle of the hop, its addresses pinned in call->resolve */
static void
call_start(struct http_call *call)
{
	CURL	*e;
	long	 ms;

	if ((call->rbody == NULL &&
	    (call->rbody = evbuffer_new()) == NULL) ||
	    (e = call->easy = curl_easy_init()) == NULL)
		goto nomem;
	call->ssrf_blocked = 0;
	call->reuse_refused = 0;
	call->capped = 0;
	call->head_ended = 0;
	call->errbuf[0] = '\0';
	evbuffer_drain(call->rbody, evbuffer_get_length(call->rbody));
	curl_easy_setopt(e, CURLOPT_PRIVATE, call);
	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_RESOLVE, call->resolve);
	curl_easy_setopt(e, CURLOPT_RESOLVER_START_FUNCTION,
	    resolver_start_cb);
	curl_easy_setopt(e, CURLOPT_RESOLVER_START_DATA, call);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, call);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, call);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "mailhook");
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* the retry of a request refused on a kept-alive connection */
	if (call->fresh)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	ms = remaining_ms(call);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
	/*
	 * The CA bundle for TLS only: libcurl copies a blob into each
	 * request's connection settings (a malloc, a copy and a free of the
	 * whole bundle, over 200 KB for the system's), of no use to http.
	 */
	if (call->ca != NULL && strcmp(call->scheme, "https") == 0) {
		call->cablob.data = call->ca->pem;
		call->cablob.len = call->ca->len;
		call->cablob.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &call->cablob);
		/* only the blob: no file or directory to stat in a sandbox */
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (call->user != NULL &&
	    strcmp(call->origin, call->cred_origin) == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, call->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, call->pass);
	}
	if (http_build_headers(call) == -1 || http_build_body(call) == -1)
		goto nomem;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->hdrlist);
	if (curl_multi_add_handle(http_pool->multi, e) != CURLM_OK) {
		call_finish(call, HTTP_EOTHER, "curl_multi_add_handle failed");
		return;
	}
	call->pool = http_pool;
	call->pool->running++;
	call->state = CS_RUNNING;
	return;
 nomem:
	call_finish(call, HTTP_EOTHER, "out of memory");
}

/* drop the easy handle of the hop and what hangs on it */
static void
call_easy_free(struct http_call *call)
{
	if (call->easy != NULL) {
		if (call->state == CS_RUNNING && call->pool != NULL)
			curl_multi_remove_handle(call->pool->multi, call->easy);
		curl_easy_cleanup(call->easy);
		call->easy = NULL;
	}
	if (call->pool != NULL) {
		pool_leave(call->pool);
		call->pool = NULL;
	}
	curl_mime_free(call->mime);
	call->mime = NULL;
	curl_slist_free_all(call->hdrlist);
	call->hdrlist = NULL;
	curl_slist_free_all(call->resolve);
	call->resolve = NULL;
}

/*
 * A request the pre-request hook refused went no further than the choice
 * of a connection: one kept alive from before (made when private
 * addresses were allowed, or when the name resolved elsewhere), since a
 * new one would have been refused by the open-socket hook already.  Send
 * it again at once on a connection of its own to the addresses pinned
 * for it, once: the refusal is no error of the endpoint's.  1 if retried.
 */
static int
call_retry_fresh(struct http_call *call, CURLcode rc)
{
	struct curl_slist	*pin;

	if (rc == CURLE_OK || !call->reuse_refused || call->fresh)
		return (0);
	pin = call->resolve;
	call->resolve = NULL;
	call_easy_free(call);
	call->resolve = pin;
	call->state = CS_DNS;
	call->fresh = 1;
	call_start(call);
	return (1);
}

/* a hop ended: report, or follow the redirect */
static void
call_done(struct http_call *call, CURLcode rc)
{
	char	*loc = NULL, *next = NULL;
	long	 status = 0;
	int	 err;

	/* the body went past max_response: what came of it is the answer */
	if (rc == CURLE_WRITE_ERROR && call->capped)
		rc = CURLE_OK;
	/* a 2xx status line came, its body cut: the status is the answer */
	if (rc == CURLE_PARTIAL_FILE && call->status_enough &&
	    call->head_ended && curl_easy_getinfo(call->easy,
	    CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status >= 200 && status < 300)
		rc = CURLE_OK;
	if (call_retry_fresh(call, rc))
		return;
	if (rc != CURLE_OK) {
		hop_answered(call);
		if (http_header_too_large(call, rc)) {
			call_finish(call, HTTP_ECONNECT, "%s: response header "
			    "too large (a line over %d KiB)", call->origin,
			    CURL_MAX_HTTP_HEADER / 1024);
			return;
		}
		err = http_curl_error(call, rc);
		call_finish(call, err, "%s: %s", call->origin,
		    err == HTTP_ESSRF ? "address refused at connect" :
		    call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc));
		return;
	}
	if (!call->head_ended) {
		call_finish(call, HTTP_ECONNECT, "%s: connection closed "
		    "inside the response header", call->origin);
		return;
	}
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	call->resp.status = call->resp.answered = status;
	http_response_meta(call);
	if (status != 301 && status != 302 && status != 303 &&
	    status != 307 && status != 308) {
		call_finish(call, HTTP_OK, "%s: HTTP %ld", call->origin,
		    status);
		return;
	}
	if (call->resp.redirects >= call->max_redirects) {
		call_finish(call, HTTP_EREDIRECT, "%s: more than %d redirects",
		    call->origin, call->max_redirects);
		return;
	}
	if (curl_easy_getinfo(call->easy, CURLINFO_REDIRECT_URL, &loc) !=
	    CURLE_OK || loc == NULL || (next = strdup(loc)) == NULL) {
		call_finish(call, HTTP_EREDIRECT, "%s: HTTP %ld without a "
		    "usable Location", call->origin, status);
		return;
	}
	/* the hop is over: slot back, easy handle gone, then the next one */
	call_easy_free(call);
	ep_release(call);
	call->state = CS_IDLE;
	call->resp.redirects++;
	if (status == 303)
		call->get = 1;
	if (call_seturl(call, next, 0) == -1) {
		free(next);
		call_finish(call, HTTP_EREDIRECT,
		    "redirect to an unusable URL");
		return;
	}
	free(next);
	if ((call->same_origin && strcmp(call->origin,
	    call->req_origin) != 0) ||
	    (strcmp(call->req_scheme, "https") == 0 &&
	    strcmp(call->scheme, "https") != 0)) {
		call_finish(call, HTTP_EREDIRECT, "HTTP %ld to %s refused: "
		    "not the origin of the URL, or not https after https",
		    status, call->origin);
		return;
	}
	call_hop(call);
}

static void
call_finish(struct http_call *call, int error, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[sizeof(call->resp.errstr)];

	if (call->state == CS_DONE)
		return;
	if (call->starting) {
		/* its caller has not even got the call yet */
		va_start(ap, fmt);
		(void)vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		call_fail_soon(call, error, buf);
		return;
	}
	call_easy_free(call);
	ep_release(call);
	call->state = CS_DONE;
	if (call->timer != NULL)
		evtimer_del(call->timer);
	call->resp.error = error;
	if (error != HTTP_OK)
		call->resp.status = 0;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_sanitize(call->resp.errstr, sizeof(call->resp.errstr), buf);
	/* the body, NUL-terminated, lives in rbody until call_free */
	call->resp.body = NULL;
	if (error == HTTP_OK && call->rbody != NULL &&
	    evbuffer_add(call->rbody, "", 1) == 0)
		call->resp.body = (char *)evbuffer_pullup(call->rbody, -1);
	if (call->resp.body != NULL)
		call->resp.bodylen = evbuffer_get_length(call->rbody) - 1;
	else {
		call->resp.body = http_empty;
		call->resp.bodylen = 0;
	}
	if (call->cb != NULL && call->mlabel[0] != '\0')
		call_count(call);
	if (call->cb != NULL) {
		call->in_cb = 1;
		call->cb(&call->resp, call->arg);
		call->in_cb = 0;
	}
	if (!call->dns_pending)
		call_free(call);
}

/* the POST in the metrics: per endpoint, its status class and time */
static void
call_count(struct http_call *call)
{
	struct timespec	 t1;
	char		 class[8] = "error";

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (call->resp.error == HTTP_OK && call->resp.status >= 100 &&
	    call->resp.status <= 599)
		snprintf(class, sizeof(class), "%ldxx",
		    call->resp.status / 100);
	metrics_inc(M_WEBHOOK_REQUESTS, call->mlabel, class);
	metrics_observe(M_WEBHOOK_DURATION, call->mlabel,
	    (t1.tv_sec - call->t0.tv_sec) +
	    (t1.tv_nsec - call->t0.tv_nsec) / 1e9);
}

static void
call_free(struct http_call *call)
{
	size_t	 i;

	if (!call->orphan)
		TAILQ_REMOVE(&http_calls, call, entry);
	call_easy_free(call);
	ca_unref(call->ca);
	if (call->timer != NULL)
		event_free(call->timer);
	free(call->url);
	if (call->pass != NULL)
		explicit_bzero(call->pass, strlen(call->pass));
	free(call->user);
	free(call->pass);
	for (i = 0; i < call->nheaders; i++)
		free(call->headers[i]);
	free(call->headers);
	free(call->content_type);
	free(call->body);
	for (i = 0; i < call->nparts; i++) {
		free((char *)call->parts[i].name);
		free((char *)call->parts[i].filename);
		free((char *)call->parts[i].content_type);
		free((void *)call->parts[i].data);
	}
	free(call->parts);
	if (call->rbody != NULL)
		evbuffer_free(call->rbody);
	free(call->resp.content_type);
	free(call);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The HTTP client's insides, shared by http.c (the calls: slots,
 * resolving, the SSRF guard, hops and redirects) and http_msg.c (their
 * requests and answers in libcurl's terms).  Nothing else includes this.
 */
#ifndef MH_HTTP_INT_H
#define MH_HTTP_INT_H

#include <sys/queue.h>

#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>

#include "config.h"
#include "http.h"
#include "metrics.h"

#define HTTP_ORIGIN_MAX		(MH_NAME_MAX + 32)

enum call_state {
	CS_IDLE,		/* between hops, or not started */
	CS_QUEUED,		/* waiting for an endpoint slot */
	CS_DNS,			/* holding a slot, resolving */
	CS_RUNNING,		/* holding a slot, easy handle in the multi */
	CS_DONE
};

struct endpoint {
	TAILQ_ENTRY(endpoint)	 entry;
	TAILQ_HEAD(, http_call)	 waiting;
	int			 active;
	char			 key[HTTP_ORIGIN_MAX];
};
TAILQ_HEAD(endpointlist, endpoint);

/* a connection cache: libcurl's multi handle and its hops */
struct pool {
	TAILQ_ENTRY(pool)	 entry;		/* set aside */
	CURLM			*multi;
	struct event		*timer;		/* libcurl's */
	struct event		*reap;		/* closes a set-aside one */
	int			 running;	/* easy handles in it */
	int			 retired;
};
TAILQ_HEAD(poollist, pool);

/* a CA bundle, kept by every call started with it (http_set_ca) */
struct cabundle {
	int			 refs;
	size_t			 len;
	char			 pem[];
};

struct http_call {
	TAILQ_ENTRY(http_call)	 entry;		/* all calls */
	TAILQ_ENTRY(http_call)	 qentry;	/* endpoint wait queue */
	enum call_state		 state;
	int			 dns_pending;	/* dns.c still holds us */
	int			 orphan;	/* left behind by
						   http_shutdown */
	int			 in_cb;
	int			 started;	/* deadline timer runs */
	struct endpoint		*ep;		/* slot held or queued on */
	struct pool		*pool;		/* its easy handle's cache */
	char			 mlabel[METRICS_LABEL_MAX];	/* metrics:
					   the first URL, public; "" GET */
	struct timespec		 t0;
	http_cb			 cb;
	void			*arg;

	/* the current hop */
	char			*url;		/* without credentials */
	char			 scheme[8];
	char			 host[MH_NAME_MAX];	/* no brackets,
							   no dot */
	long			 port;
	char			 origin[HTTP_ORIGIN_MAX];
	int			 get;		/* after a 303 */

	/* from the request */
	char			*user, *pass;
	char			 cred_origin[HTTP_ORIGIN_MAX];
	char			 req_origin[HTTP_ORIGIN_MAX];	/* the request's
								   own */
	char			 req_scheme[8];
	/* redirects stay on req_origin */
	int			 same_origin;
	int			 status_enough;	/* a 2xx with a cut body: 2xx */
	int			 starting;	/* in http_post(): fail soon */
	char			**headers;	/* "Name: value",
						   for req_origin only */
	size_t			 nheaders;
	char			*content_type;
	char			*body;
	size_t			 bodylen;
	struct http_part	*parts;
	size_t			 nparts;
	int			 timeout;	/* seconds, as said */
	long			 timeout_ms;
	int			 max_redirects;
	int			 allow_private;
	int			 concurrency;
	size_t			 max_response;

	struct event		*timer;		/* deadline, or an early
						   error */
	struct cabundle		*ca;		/* NULL: the system's */
	struct curl_blob	 cablob;	/* ca, for libcurl */
	CURL			*easy;
	struct curl_slist	*hdrlist;
	struct curl_slist	*resolve;
	curl_mime		*mime;
	int			 ssrf_blocked;
	int			 reuse_refused;	/* by the pre-request hook */
	int			 fresh;		/* this hop's retry on a new
						   connection */
	int			 capped;	/* body over max_response */
	int			 head_ended;	/* the blank line after the
						   last response's header */
	char			 errbuf[CURL_ERROR_SIZE];
	struct evbuffer		*rbody;		/* at most max_response */
	struct http_response	 resp;
};
TAILQ_HEAD(calllist, http_call);

/* http_msg.c */
int		 http_header_ok(const char *, const char *);
char		*http_memdup(const void *, size_t);
int		 http_copy_headers(struct http_call *,
		    const struct http_request *);
int		 http_copy_parts(struct http_call *,
		    const struct http_request *);
int		 http_build_body(struct http_call *);
int		 http_build_headers(struct http_call *);
size_t		 http_write_cb(char *, size_t, size_t, void *);
size_t		 http_header_cb(char *, size_t, size_t, void *);
void		 http_response_meta(struct http_call *);
int		 http_curl_error(struct http_call *, CURLcode);
int		 http_header_too_large(struct http_call *, CURLcode);

#endif /* MH_HTTP_INT_H */

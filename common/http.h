/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Asynchronous HTTP client: libcurl multi driven by libevent.
 *
 * Every request resolves its host through common/dns.c, checks the
 * addresses against the SSRF guard (loopback, private, link-local,
 * multicast and unspecified ranges are refused unless allow_private),
 * then pins them into libcurl (CURLOPT_RESOLVE): no DNS inside libcurl,
 * no rebinding.  Redirects (301, 302, 303, 307, 308) are followed here, one
 * hop at a time through the same checks, at most max_redirects times.
 * Connections are kept alive and reused; at most `concurrency` requests
 * run at once per scheme://host:port, the rest wait in order.
 */
#ifndef MH_HTTP_H
#define MH_HTTP_H

#include <stddef.h>
#include <event2/event.h>

#include "config.h"

enum http_error {
	HTTP_OK,		/* a response arrived: look at status */
	HTTP_ETIMEOUT,		/* no complete response within timeout */
	HTTP_ECONNECT,		/* connection refused, reset, unreachable */
	HTTP_EDNS,		/* the host does not resolve */
	HTTP_ESSRF,		/* the host resolves to a refused address */
	/* more than max_redirects hops, or a bad Location */
	HTTP_EREDIRECT,
	HTTP_ETLS,		/* TLS handshake or verification failed */
	HTTP_EURL,		/* unusable URL */
	HTTP_EOTHER
};

/* a multipart/form-data part (format multipart and raw) */
struct http_part {
	const char	*name;
	const char	*filename;	/* NULL: a plain field */
	const char	*content_type;	/* NULL: none given */
	const void	*data;
	size_t		 len;
};

struct http_request {
	/* http:// or https://, may carry user:pass@ */
	const char		*url;
	const struct headerlist	*headers;	/* extra headers, may be NULL */
	/* "Name: value", NULL-terminated, e.g. signature */
	const char		*extra_headers[8];
	const char		*content_type;	/* for body */
	/* POST body, or NULL with parts */
	const void		*body;
	size_t			 bodylen;
	/* multipart/form-data instead of body */
	const struct http_part	*parts;
	size_t			 nparts;
	/*
	 * seconds for the whole exchange, redirects included, counted from
	 * the moment the endpoint has a free slot (see concurrency); with
	 * wait_counts, from http_post(): the wait for a slot counts too (a
	 * client waits for the answer)
	 */
	int			 timeout;
	/* milliseconds instead of timeout when > 0 (a time partly spent) */
	int			 timeout_ms;
	int			 wait_counts;
	/* 3 for callbacks and messages */
	int			 max_redirects;
	int			 allow_private;	/* allow private-addresses */
	/*
	 * redirects only within the URL's origin (scheme, host, port), where
	 * its headers and signature go too
	 */
	int			 same_origin;
	int			 concurrency;	/* per endpoint, 0 = 8 */
	/* response body kept, 0 = 64 KiB; the rest is not read */
	size_t			 max_response;
	/* GET, no body (MTA-STS policies) */
	int			 get;
	/*
	 * a 2xx status line is the answer: a body cut short after it is
	 * the status, not a failed connection (events: the receiver took
	 * them); never where the body is the reply (inbound routes)
	 */
	int			 status_enough;
};

struct http_response {
	int		 error;		/* enum http_error */
	long		 status;	/* HTTP status when error == HTTP_OK */
	/* lower-cased media type, no parameters; may be NULL */
	char		*content_type;
	/* NUL-terminated, at most max_response bytes */
	char		*body;
	size_t		 bodylen;
	/* seconds from Retry-After, -1 if none */
	long		 retry_after;
	int		 redirects;	/* hops followed */
	/*
	 * the status line of the last hop's answer, also when that answer
	 * could not be used (error: a redirect without a Location or one
	 * too many, a body cut short); 0 when no status line came
	 */
	long		 answered;
	char		 errstr[256];	/* what went wrong, for logs */
	char		 final_url[MH_URL_MAX];
};

struct http_call;
/* the response is freed after the callback returns */
typedef void (*http_cb)(const struct http_response *, void *);

/* before the sandbox; cabundle is PEM text (may be NULL for system default) */
int		 http_init(struct event_base *, const char *cabundle,
		    size_t cabundlelen);
/* the CA bundle (PEM, NULL: the system's) of the calls started from now
 * on, as at a reload; the calls under way keep theirs */
int		 http_set_ca(const char *cabundle, size_t cabundlelen);
void		 http_shutdown(void);
/* allow private-addresses of the configuration, at start and each reload:
 * when it turns off, the connections kept alive are no longer used */
void		 http_allow_private(int);
/*
 * copies everything it needs from the request; NULL only on allocation failure
 */
struct http_call *http_post(const struct http_request *, http_cb, void *);
/* the callback will not run */
void		 http_cancel(struct http_call *);
/* the SSRF guard itself: 1 if the address may be contacted */
int		 http_addr_allowed(const struct sockaddr *, int allow_private);
/*
 * Its two layers, each on its own: the addresses pinned into libcurl
 * (the number pinned, 0 if none is allowed), and the socket libcurl opens
 * to connect (-1 with EACCES for a refused address).
 */
#define HTTP_PIN_MAX	(MH_NAME_MAX + 32 + \
			    DNS_MAX_ADDRS * (INET6_ADDRSTRLEN + 3))
struct dns_addrs;
size_t		 http_pin(char *, size_t, const char *host, long port,
		    const struct dns_addrs *, int allow_private);
int		 http_socket(const struct sockaddr *, int type, int protocol,
		    int allow_private);
const char	*http_strerror(int);

/*
 * A POST of body (len bytes of content_type) to url with the route's or
 * the endpoint's headers (NULL: none): req cleared, then those set; the
 * rest (timeout, redirects, ...) is the caller's.
 */
void		 http_request_body(struct http_request *, const char *url,
		    const struct headerlist *, const char *content_type,
		    const void *body, size_t len);
/*
 * The request's body signed as msg_id with secret (sign.h, the time is
 * now): the three header lines in the sign_headers, which must outlive
 * http_post(), and after req's extra headers.  -1, req unchanged, when
 * it cannot be signed or there is no room for them.
 */
struct sign_headers;
int		 http_request_sign(struct http_request *, const char *secret,
		    const char *msg_id, struct sign_headers *);

/*
 * Append "key=value" to an application/x-www-form-urlencoded body, "&"
 * first unless the body is empty.  The value (NULL: empty) is
 * percent-encoded, %XX upper case, all but RFC 3986's unreserved
 * characters; so is the key unless HTTP_FORM_RAWKEY (the authorization
 * callbacks send "spf[result]" as it is).  -1 on allocation failure.
 */
#define HTTP_FORM_RAWKEY	0x01
struct evbuffer;
int		 http_form_add(struct evbuffer *, const char *key,
		    const char *val, int flags);

#endif /* MH_HTTP_H */

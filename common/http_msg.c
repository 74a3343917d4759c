/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The HTTP client's messages in libcurl's terms (http.c runs the calls):
 * a request's headers and parts copied at http_post(), its body and
 * headers handed to each hop's easy handle, the answer's body and head
 * as libcurl gives them, its Retry-After and media type, the error a
 * failed hop is; and the form encoding of http_form_add().
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "metrics.h"
#include "http_int.h"
#include "sign.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/*
 * Copying the request.
 */
int
http_header_ok(const char *name, const char *value)
{
	const char	*p;

	if (*name == '\0')
		return (0);
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~",
		    *p) == NULL)
			return (0);
	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return (0);
	return (1);
}

static int
add_header(struct http_call *call, const char *name, const char *value)
{
	char	**h, *line;

	if (!http_header_ok(name, value))
		return (0);
	/*
	 * libcurl takes "X:" (nothing but blanks after the colon) as "do
	 * not send X" and sends "X;" as X with an empty value.
	 */
	if (value[strspn(value, " \t")] == '\0') {
		if (asprintf(&line, "%s;", name) == -1)
			return (-1);
	} else if (asprintf(&line, "%s: %s", name, value) == -1)
		return (-1);
	if ((h = reallocarray(call->headers, call->nheaders + 1,
	    sizeof(*h))) == NULL) {
		free(line);
		return (-1);
	}
	call->headers = h;
	call->headers[call->nheaders++] = line;
	return (1);
}

/* 0 when a header is unusable, -1 on allocation failure */
int
http_copy_headers(struct http_call *call, const struct http_request *req)
{
	const struct header	*hd;
	char			 name[256];
	const char		*colon, *v;
	size_t			 i;
	int			 r;

	if (req->headers != NULL) {
		TAILQ_FOREACH(hd, req->headers, entry) {
			if ((r = add_header(call, hd->name, hd->value)) != 1)
				return (r);
		}
	}
	for (i = 0; i < nitems(req->extra_headers) &&
	    req->extra_headers[i] != NULL; i++) {
		if ((colon = strchr(req->extra_headers[i], ':')) == NULL ||
		    (size_t)(colon - req->extra_headers[i]) >= sizeof(name))
			return (0);
		memcpy(name, req->extra_headers[i],
		    colon - req->extra_headers[i]);
		name[colon - req->extra_headers[i]] = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if ((r = add_header(call, name, v)) != 1)
			return (r);
	}
	return (1);
}

char *
http_memdup(const void *p, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		return (NULL);
	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	return (s);
}

int
http_copy_parts(struct http_call *call, const struct http_request *req)
{
	const struct http_part	*src;
	struct http_part	*dst;
	size_t			 i;

	if (req->nparts == 0 || req->parts == NULL)
		return (0);
	if ((call->parts = calloc(req->nparts, sizeof(*call->parts))) == NULL)
		return (-1);
	call->nparts = req->nparts;
	for (i = 0; i < req->nparts; i++) {
		src = &req->parts[i];
		dst = &call->parts[i];
		if ((dst->name = strdup(src->name ? src->name : "")) == NULL ||
		    (src->filename && (dst->filename =
		    strdup(src->filename)) == NULL) ||
		    (src->content_type && (dst->content_type =
		    strdup(src->content_type)) == NULL) ||
		    (dst->data = http_memdup(src->data, src->len)) == NULL)
			return (-1);
		dst->len = src->len;
	}
	return (0);
}

/*
 * libcurl callbacks of a hop.
 */
size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call	*call = arg;
	size_t			 len = size * nmemb, take;

	take = call->max_response - evbuffer_get_length(call->rbody);
	if (take > len)
		take = len;
	if (take > 0 && evbuffer_add(call->rbody, data, take) == -1)
		return (0);
	if (take < len) {
		/*
		 * Over the cap: the answer ends here (call_done), its status
		 * and headers as they came.  Reading the rest to drop it
		 * made a 2xx with a long or endless body a time-out, and
		 * what the endpoint took was posted again and again.
		 */
		call->capped = 1;
		return (0);
	}
	return (len);
}

/*
 * libcurl 7.88 ends a transfer whose connection closed inside the header
 * section (after "HTTP/1.1 200 OK", before the blank line) with CURLE_OK
 * and that status: an endpoint that died there had its answer cut off,
 * and it is no answer.  Each response (a 100 Continue, a redirect) starts
 * with its status line; only the blank line after one ends its header.
 */
size_t
http_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call	*call = arg;
	size_t			 len = size * nmemb;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
		call->head_ended = 0;
	else if ((len == 2 && data[0] == '\r' && data[1] == '\n') ||
	    (len == 1 && data[0] == '\n'))
		call->head_ended = 1;
	return (len);
}

int
http_build_body(struct http_call *call)
{
	curl_mimepart	*part;
	size_t		 i;

	if (call->get) {
		curl_easy_setopt(call->easy, CURLOPT_HTTPGET, 1L);
		return (0);
	}
	if (call->nparts == 0) {
		curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)call->bodylen);
		curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->body);
		return (0);
	}
	if ((call->mime = curl_mime_init(call->easy)) == NULL)
		return (-1);
	for (i = 0; i < call->nparts; i++) {
		if ((part = curl_mime_addpart(call->mime)) == NULL ||
		    curl_mime_name(part, call->parts[i].name) != CURLE_OK ||
		    curl_mime_data(part, call->parts[i].data,
		    call->parts[i].len) != CURLE_OK)
			return (-1);
		if (call->parts[i].filename != NULL &&
		    curl_mime_filename(part, call->parts[i].filename) !=
		    CURLE_OK)
			return (-1);
		if (call->parts[i].content_type != NULL &&
		    curl_mime_type(part, call->parts[i].content_type) !=
		    CURLE_OK)
			return (-1);
	}
	curl_easy_setopt(call->easy, CURLOPT_MIMEPOST, call->mime);
	return (0);
}

int
http_build_headers(struct http_call *call)
{
	struct curl_slist	*l;
	char			*ct = NULL;
	size_t			 i;

	/*
	 * The request's headers (bearer tokens, signatures) go to its own
	 * origin only, never to the origin of a redirect (as curl does).
	 */
	for (i = 0; i < call->nheaders &&
	    strcmp(call->origin, call->req_origin) == 0; i++) {
		if ((l = curl_slist_append(call->hdrlist,
		    call->headers[i])) == NULL)
			return (-1);
		call->hdrlist = l;
	}
	if (!call->get && call->nparts == 0 && call->content_type != NULL) {
		if (asprintf(&ct, "Content-Type: %s", call->content_type) ==
		    -1)
			return (-1);
		l = curl_slist_append(call->hdrlist, ct);
		free(ct);
		if (l == NULL)
			return (-1);
		call->hdrlist = l;
	}
	/* no "Expect: 100-continue" pause before large bodies */
	if ((l = curl_slist_append(call->hdrlist, "Expect:")) == NULL)
		return (-1);
	call->hdrlist = l;
	return (0);
}

static long
parse_retry_after(const char *v)
{
	const char	*errstr, *p;
	long long	 n;
	time_t		 t;

	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		n = strtonum(v, 0, 365LL * 86400, &errstr);
		if (errstr == NULL)
			return ((long)n);
		/* seconds past a year (or past long long): a year */
		for (p = v; isdigit((unsigned char)*p); p++)
			;
		return (*p == '\0' ? 365L * 86400 : -1);
	}
	if ((t = curl_getdate(v, NULL)) == -1)
		return (-1);
	t -= time(NULL);
	return (t < 0 ? 0 : (long)t);
}

void
http_response_meta(struct http_call *call)
{
	struct curl_header	*h;
	char			*ct = NULL;
	size_t			 i;

	call->resp.retry_after = -1;
	if (curl_easy_header(call->easy, "Retry-After", 0, CURLH_HEADER, -1,
	    &h) == CURLHE_OK && h->value != NULL)
		call->resp.retry_after = parse_retry_after(h->value);
	free(call->resp.content_type);
	call->resp.content_type = NULL;
	if (curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ct) !=
	    CURLE_OK || ct == NULL)
		return;
	for (i = 0; ct[i] != '\0' && ct[i] != ';' && ct[i] != ' ' &&
	    ct[i] != '\t' && i < 127; i++)
		if ((unsigned char)ct[i] <= 0x20 ||
		    (unsigned char)ct[i] >= 0x7f)
			return;
	if (i == 0 || (call->resp.content_type = strndup(ct, i)) == NULL)
		return;
	for (i = 0; call->resp.content_type[i] != '\0'; i++)
		call->resp.content_type[i] =
		    tolower((unsigned char)call->resp.content_type[i]);
}

int
http_curl_error(struct http_call *call, CURLcode rc)
{
	if (call->ssrf_blocked)
		return (HTTP_ESSRF);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return (HTTP_ETIMEOUT);
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	/* the URL's scheme was checked: this is the peer's HTTP/0.9 */
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return (HTTP_ECONNECT);
	case CURLE_COULDNT_RESOLVE_HOST:
		return (HTTP_EDNS);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		return (HTTP_ETLS);
	case CURLE_URL_MALFORMAT:
		return (HTTP_EURL);
	default:
		return (HTTP_EOTHER);
	}
}

/*
 * libcurl refuses a response header line (the status line included)
 * longer than CURL_MAX_HTTP_HEADER with CURLE_OUT_OF_MEMORY and no error
 * text: once the request went out, that is the peer's answer, not our
 * memory (an allocation failing inside libcurl just then is far less
 * likely than an endpoint that sends such a line).
 */
int
http_header_too_large(struct http_call *call, CURLcode rc)
{
	long	 sent = 0;

	return (rc == CURLE_OUT_OF_MEMORY && call->errbuf[0] == '\0' &&
	    curl_easy_getinfo(call->easy, CURLINFO_REQUEST_SIZE, &sent) ==
	    CURLE_OK && sent > 0);
}

/*
 * Making a request.
 */
void
http_request_body(struct http_request *req, const char *url,
    const struct headerlist *headers, const char *content_type,
    const void *body, size_t len)
{
	memset(req, 0, sizeof(*req));
	req->url = url;
	req->headers = headers;
	req->content_type = content_type;
	req->body = body;
	req->bodylen = len;
}

int
http_request_sign(struct http_request *req, const char *secret,
    const char *msg_id, struct sign_headers *sh)
{
	size_t	 n;

	for (n = 0; n < nitems(req->extra_headers) &&
	    req->extra_headers[n] != NULL; n++)
		;
	if (nitems(req->extra_headers) - n < 3 || sign_headers(secret,
	    msg_id, (long)time(NULL), req->body, req->bodylen, sh) == -1)
		return (-1);
	req->extra_headers[n] = sh->id;
	req->extra_headers[n + 1] = sh->timestamp;
	req->extra_headers[n + 2] = sh->signature;
	return (0);
}

int
http_form_add(struct evbuffer *b, const char *key, const char *val,
    int flags)
{
	char	*ek = NULL, *ev;
	int	 rc = -1;

	if ((flags & HTTP_FORM_RAWKEY) == 0 &&
	    (ek = curl_easy_escape(NULL, key, 0)) == NULL)
		return (-1);
	if ((ev = curl_easy_escape(NULL, val != NULL ? val : "", 0)) != NULL &&
	    evbuffer_add_printf(b, "%s%s=%s", evbuffer_get_length(b) > 0 ?
	    "&" : "", ek != NULL ? ek : key, ev) != -1)
		rc = 0;
	curl_free(ek);
	curl_free(ev);
	return (rc);
}

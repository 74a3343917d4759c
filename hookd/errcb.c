/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * An inbound route's error callback: any non-2xx answer of its url, and
 * mail its policy or a MIME limit refused, POSTed to its errors url as
 * status, to, from and response (JSON if the url ends in .json, else
 * urlencoded).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "evbuf.h"
#include "log.h"
#include "http.h"
#include "hookd.h"

#define ERRCB_RESPONSE_MAX	2048

/* the error callback: status, to, from, response (seed) */
struct errcb {
	char		 msgid[MH_MSGID_LEN];
	char		 to[LOG_ADDR_MAX];	/* for the log (log_addr) */
	char		 url[MH_URL_MAX];	/* config_url_public's */
	int		 starting;	/* in http_post() */
	int		 done;
};

static void
errcb_done(const struct http_response *res, void *arg)
{
	struct errcb	*ec = arg;

	if (res->error != HTTP_OK)
		log_warnx("msgid=%s to=<%s> errors=%s status=0 result=failed "
		    "error=\"%s\"", ec->msgid, ec->to, ec->url, res->errstr);
	else if (res->status / 100 != 2)
		log_warnx("msgid=%s to=<%s> errors=%s status=%ld "
		    "result=failed", ec->msgid, ec->to, ec->url, res->status);
	else
		log_info("msgid=%s to=<%s> errors=%s status=%ld result=sent",
		    ec->msgid, ec->to, ec->url, res->status);
	ec->done = 1;
	if (!ec->starting)
		free(ec);
}

/* "a URL ending in .json", its query and fragment aside */
static int
url_is_json(const char *url)
{
	size_t	n = strcspn(url, "?#");

	return (n > 5 && strncasecmp(url + n - 5, ".json", 5) == 0);
}

static char *
errcb_body(const struct route *rt, long status, const char *to,
    const char *from, const char *response, size_t rlen, int *json)
{
	struct evbuffer	*b;
	json_t		*j;
	char		*body = NULL, *resp, st[32];
	int		 err;

	/* valid UTF-8 for JSON and for the form alike, capped */
	if ((resp = text_utf8_clean(response ? response : "", rlen,
	    ERRCB_RESPONSE_MAX)) == NULL)
		return (NULL);
	*json = url_is_json(rt->errors);
	if (*json) {
		j = json_pack("{s:I,s:s%,s:s%,s:s}", "status",
		    (json_int_t)status, "to", to, strlen(to), "from", from,
		    strlen(from), "response", resp);
		if (j != NULL)
			body = json_dumps(j, JSON_COMPACT |
			    JSON_PRESERVE_ORDER);
		json_decref(j);
		free(resp);
		return (body);
	}
	snprintf(st, sizeof(st), "%ld", status);
	if ((b = evbuffer_new()) != NULL) {
		err = http_form_add(b, "status", st, 0);
		err |= http_form_add(b, "to", to, 0);
		err |= http_form_add(b, "from", from, 0);
		err |= http_form_add(b, "response", resp, 0);
		body = evbuf_finish(b, err, NULL);
	}
	free(resp);
	return (body);
}

void
errcb_send(const struct route *rt, const struct envelope *env, const char *to,
    long status, const char *resp, size_t rlen)
{
	struct http_request	 req;
	struct errcb		*ec;
	struct http_call	*call;
	char			*body, la[LOG_ADDR_MAX];
	int			 json;

	if (rt->errors[0] == '\0')
		return;
	if ((body = errcb_body(rt, status, to, env->sender, resp, rlen,
	    &json)) == NULL) {
		log_warnx("msgid=%s to=<%s> error callback: cannot build the "
		    "body", env->id, log_addr(la, sizeof(la), to));
		return;
	}
	if ((ec = calloc(1, sizeof(*ec))) == NULL) {
		log_warn("msgid=%s to=<%s> error callback", env->id,
		    log_addr(la, sizeof(la), to));
		free(body);
		return;
	}
	strlcpy(ec->msgid, env->id, sizeof(ec->msgid));
	log_addr(ec->to, sizeof(ec->to), to);
	config_url_public(rt->errors, ec->url, sizeof(ec->url));
	http_request_body(&req, rt->errors, &rt->headers, json ?
	    "application/json" : "application/x-www-form-urlencoded", body,
	    strlen(body));
	req.timeout = rt->timeout;
	req.max_redirects = 3;
	req.allow_private = hookd_conf->allow_private;
	req.concurrency = rt->concurrency;
	ec->starting = 1;
	call = http_post(&req, errcb_done, ec);
	ec->starting = 0;
	/* answered at once, or never to be: nobody else frees it */
	if (ec->done || call == NULL)
		free(ec);
	free(body);
}

void
error_callback(const struct route *rt, const struct envelope *env,
    const char *to, const struct http_response *res)
{
	/* an answer that could not be used is reported with its status */
	long		 status = res->error == HTTP_OK ? res->status :
			    res->answered;
	const char	*resp = res->error == HTTP_OK ? res->body :
			    res->errstr;
	size_t		 rlen;

	if (resp == NULL)
		rlen = 0;
	else if (res->error == HTTP_OK)
		rlen = res->bodylen;
	else
		rlen = strlen(resp);
	errcb_send(rt, env, to, status, resp, rlen);
}

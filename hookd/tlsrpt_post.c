/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * TLS-RPT reports for https: rua addresses (RFC 8460 3): relayd makes
 * each report (relayd/tlsrpt.c) and hands it here, since every HTTP
 * request of the daemon is hookd's; one POST of application/tlsrpt+gzip
 * through the same SSRF-aware client as the webhooks, its outcome
 * logged.  A report that fails is not sent again: the next day's comes.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "mailhook.h"
#include "proc.h"
#include "hookd.h"

#define TLSRPT_POST_TIMEOUT	60

static void
posted(const struct http_response *res, void *arg)
{
	char	*url = arg;

	if (res->error != HTTP_OK || res->status < 200 || res->status > 299)
		log_warnx("tls-rpt: url=%s status=%ld error=%s", url,
		    res->status, res->error != HTTP_OK ? res->errstr :
		    "refused");
	else
		log_info("tls-rpt: url=%s status=%ld report delivered", url,
		    res->status);
	free(url);
}

/* from relayd: struct tlsrpt_post and the gzip'd report */
void
tlsrpt_post(struct mproc *p, struct mh_imsg *imsg)
{
	struct tlsrpt_post	 tp;
	struct http_request	 req;
	size_t			 len = MH_IMSG_DATA_SIZE(imsg);
	char			 pub[MH_URL_MAX], *u;

	if (len <= sizeof(tp) || len - sizeof(tp) > TLSRPT_BODY_MAX)
		fatalx("malformed TLSRPT_POST from %s", p->name);
	memcpy(&tp, imsg->data, sizeof(tp));
	if (!tlsrpt_post_ok(&tp))
		fatalx("malformed TLSRPT_POST from %s", p->name);
	config_url_public(tp.url, pub, sizeof(pub));
	if ((u = strdup(pub)) == NULL)
		fatal("strdup");
	http_request_body(&req, tp.url, NULL, "application/tlsrpt+gzip",
	    (char *)imsg->data + sizeof(tp), len - sizeof(tp));
	req.timeout = TLSRPT_POST_TIMEOUT;
	/* hookd's own, as every POST of it: relayd's word is not asked */
	req.allow_private = hookd_conf->allow_private;
	if (http_post(&req, posted, u) == NULL) {
		log_warnx("tls-rpt: url=%s cannot be posted", u);
		free(u);
	}
}

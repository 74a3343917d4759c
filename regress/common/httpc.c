/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * httpc: POST through common/http.c and print the outcome as JSON.
 *
 * usage: httpc [-pPQ] [-c concurrency] [-C cafile] [-d body] [-F name=value]
 *	  [-f name=filename:type:value] [-H "Name: value"] [-I msg-id]
 *	  [-m max_response] [-n count] [-r max_redirects] [-R ip:port]
 *	  [-S whsec_secret] [-t content-type] [-T timeout] [-U url]
 *	  [-W ms] url
 *
 * With -n, count requests start at once (sharing the endpoint's
 * concurrency limit); one JSON object a line, in completion order:
 *	{"i":0,"error":"ok","status":200,"content_type":"text/plain",
 *	 "body":"...","bodylen":3,"redirects":0,"retry_after":-1,
 *	 "final_url":"...","errstr":"...","ms":12}
 * -S signs the body (Standard Webhooks) with id -I (default msg_httpc)
 * and the current time.  -s installs a seccomp filter after the set-up
 * that kills the process on clone, clone3, fork, vfork and execve: the
 * requests must then run without any thread or helper process.
 * -P, once all of them are done, posts one more request (i = count)
 * without allow_private, as a daemon does after a reload that turned
 * private-addresses off: the connection cache is still the same.  -Q is
 * -P telling http.c of the reload as the daemons do
 * (http_allow_private), and -U gives that request a URL of its own.
 * -W ms waits that long after the last answer before the exit.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <seccomp.h>

#include "config.h"
#include "dns.h"
#include "http.h"
#include "sign.h"
#include "mhtest.h"

static const char *errname[] = { "ok", "timeout", "connect", "dns", "ssrf",
    "redirect", "tls", "url", "other" };

static struct event_base	*base;
static int			 pending;
static struct timeval		 t0;
static struct http_request	 req;
static int			 reload, count = 1, tell, linger;
static const char		*reload_url;

struct job {
	int	 i;
};

static void
nothreads(void)
{
	scmp_filter_ctx	 ctx;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 0) ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone3), 0) ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(fork), 0) ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(vfork), 0) ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 0) ||
	    seccomp_load(ctx) != 0)
		errx(1, "seccomp");
	seccomp_release(ctx);
}

/* in http_post(): its callback must not run before it returns */
static int	 in_post;

static void
done(const struct http_response *r, void *arg)
{
	struct job	*j = arg;
	struct timeval	 now, d, tv;
	json_t		*o;
	char		*s;

	gettimeofday(&now, NULL);
	timersub(&now, &t0, &d);
	o = json_pack("{s:i, s:s, s:i, s:I, s:s?, s:s%, s:I, s:i, s:I, "
	    "s:s, s:s, s:I, s:b}",
	    "i", j->i,
	    "error", r->error >= 0 && r->error <= HTTP_EOTHER ?
	    errname[r->error] : "?",
	    "error_code", r->error,
	    "status", (json_int_t)r->status,
	    "content_type", r->content_type,
	    "body", r->body ? r->body : "", r->body ? r->bodylen : 0,
	    "bodylen", (json_int_t)r->bodylen,
	    "redirects", r->redirects,
	    "retry_after", (json_int_t)r->retry_after,
	    "final_url", r->final_url,
	    "errstr", r->errstr,
	    "ms", (json_int_t)(d.tv_sec * 1000 + d.tv_usec / 1000),
	    "in_post", in_post);
	if (o == NULL)
		errx(1, "json_pack");
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
	if (--pending > 0)
		return;
	if (reload) {
		static struct job	 last;

		reload = 0;
		req.allow_private = 0;
		if (tell)
			http_allow_private(0);
		if (reload_url != NULL)
			req.url = reload_url;
		last.i = count;
		pending++;
		if (http_post(&req, done, &last) == NULL)
			errx(1, "http_post");
		return;
	}
	tv.tv_sec = linger / 1000;
	tv.tv_usec = linger % 1000 * 1000;
	event_base_loopexit(base, &tv);
}

int
main(int argc, char *argv[])
{
	struct http_part	 parts[16];
	struct sign_headers	 sh;
	struct job		*jobs;
	const char		*secret = NULL, *msgid = "msg_httpc";
	char			*resolver = NULL, *p, *q, *ca = NULL;
	char			*bodyfile = NULL;
	size_t			 calen = 0, nparts = 0, nextra = 0;
	int			 ch, i, rport = 53, sandbox = 0;

	memset(&req, 0, sizeof(req));
	req.timeout = 10;
	req.max_redirects = 3;
	while ((ch = getopt(argc, argv,
	    "c:C:d:D:f:F:H:I:m:n:pPQr:R:sS:t:T:U:W:")) != -1) {
		switch (ch) {
		case 'c':
			req.concurrency = atoi(optarg);
			break;
		case 'C':
			if ((ca = mhtest_slurp(optarg, &calen)) == NULL)
				err(1, "%s", optarg);
			break;
		case 'd':
			req.body = optarg;
			req.bodylen = strlen(optarg);
			break;
		case 'D':	/* body from a file */
			free(bodyfile);
			if ((req.body = bodyfile = mhtest_slurp(optarg,
			    &req.bodylen)) == NULL)
				err(1, "%s", optarg);
			break;
		case 'F':	/* name=value */
		case 'f':	/* name=filename:type:value */
			if (nparts >= 16 || (p = strchr(optarg, '=')) == NULL)
				errx(2, "bad part");
			*p++ = '\0';
			parts[nparts].name = optarg;
			parts[nparts].filename = NULL;
			parts[nparts].content_type = NULL;
			if (ch == 'f') {
				if ((q = strchr(p, ':')) == NULL)
					errx(2, "bad file part");
				*q++ = '\0';
				parts[nparts].filename = p;
				p = q;
				if ((q = strchr(p, ':')) == NULL)
					errx(2, "bad file part");
				*q++ = '\0';
				parts[nparts].content_type = p;
				p = q;
			}
			parts[nparts].data = p;
			parts[nparts].len = strlen(p);
			nparts++;
			break;
		case 'H':
			if (nextra >= 4)
				errx(2, "too many -H");
			req.extra_headers[nextra++] = optarg;
			break;
		case 'I':
			msgid = optarg;
			break;
		case 'm':
			req.max_response = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'p':
			req.allow_private = 1;
			break;
		case 'P':
			reload = 1;
			break;
		case 'Q':
			reload = tell = 1;
			break;
		case 'U':
			reload_url = optarg;
			break;
		case 'W':
			linger = atoi(optarg);
			break;
		case 'r':
			req.max_redirects = atoi(optarg);
			break;
		case 'R':
			resolver = optarg;
			if ((p = strrchr(optarg, ':')) != NULL &&
			    strchr(optarg, ':') == p) {
				*p++ = '\0';
				rport = atoi(p);
			}
			break;
		case 's':
			sandbox = 1;
			break;
		case 'S':
			secret = optarg;
			break;
		case 't':
			req.content_type = optarg;
			break;
		case 'T':
			req.timeout = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || count < 1)
		goto usage;
	req.url = argv[0];
	if (nparts > 0) {
		req.parts = parts;
		req.nparts = nparts;
	}
	if (secret != NULL &&
	    http_request_sign(&req, secret, msgid, &sh) == -1)
		errx(1, "http_request_sign");
	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (resolver != NULL && dns_init(base, resolver, rport) == -1)
		errx(1, "dns_init");
	if (http_init(base, ca, calen) == -1)
		errx(1, "http_init");
	http_allow_private(req.allow_private);
	if ((jobs = calloc(count, sizeof(*jobs))) == NULL)
		err(1, NULL);
	if (sandbox)
		nothreads();
	gettimeofday(&t0, NULL);
	for (i = 0; i < count; i++) {
		jobs[i].i = i;
		pending++;
		in_post = 1;
		if (http_post(&req, done, &jobs[i]) == NULL)
			errx(1, "http_post");
		in_post = 0;
	}
	event_base_dispatch(base);
	http_shutdown();
	if (resolver != NULL)
		dns_shutdown();
	event_base_free(base);
	free(jobs);
	free(ca);
	free(bodyfile);
	return (0);
 usage:
	fprintf(stderr, "usage: httpc [-pPQ] [-c n] [-C cafile] [-d body] "
	    "[-F name=value] [-H header] [-n count] [-r max] [-R ip:port] "
	    "[-S secret] [-t type] [-T secs] [-U url] [-W ms] url\n");
	return (2);
}

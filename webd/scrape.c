/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The metrics listener ("listen on ... metrics"): GET /metrics asks the
 * parent, which asks every process for its samples (as "mhctl show
 * metrics" does) and answers within its deadline with what came;
 * webd renders them (common/metrics.c) as OpenMetrics when the client
 * accepts it, else Prometheus text.  webd opens nothing for this: the
 * numbers come over its channel to the parent.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "child.h"
#include "log.h"
#include "metrics.h"
#include "webd.h"

#define SCRAPES_MAX	8	/* waiting at once; more get 503 */
#define SCRAPE_TIMEOUT	10	/* seconds; the parent answers within 3 */

struct scrape {
	TAILQ_ENTRY(scrape)	 entry;
	uint32_t		 id;
	int			 openmetrics;
	struct evhttp_request	*req;
	struct event		*timeout;
};
TAILQ_HEAD(, scrape)	 scrapes = TAILQ_HEAD_INITIALIZER(scrapes);

static uint32_t		 scrape_ids;
static size_t		 n_scrapes;
static uint64_t		 n_served, n_failed;

static void
scrape_answer(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body, size_t len)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	if ((b = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (code == 405)
		evhttp_add_header(h, "Allow", "GET, HEAD");
	evbuffer_add(b, body, len);
	server_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
scrape_error(struct evhttp_request *req, int code, const char *reason)
{
	char	 text[64];
	int	 n;

	n = snprintf(text, sizeof(text), "%d %s\n", code, reason);
	scrape_answer(req, code, reason, "text/plain; charset=utf-8", text,
	    (size_t)n);
}

static void
scrape_end(struct scrape *s)
{
	TAILQ_REMOVE(&scrapes, s, entry);
	event_free(s->timeout);
	free(s);
	n_scrapes--;
}

static void
scrape_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct scrape	*s = arg;

	log_warnx("metrics: no answer from the parent in %ds",
	    SCRAPE_TIMEOUT);
	n_failed++;
	scrape_error(s->req, 503, "Service Unavailable");
	scrape_end(s);
}

/* OpenMetrics if the client names it in Accept (Prometheus does) */
static int
wants_openmetrics(struct evhttp_request *req)
{
	const char	*a;

	a = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Accept");
	return (a != NULL && strstr(a, "application/openmetrics-text") !=
	    NULL);
}

void
scrape_request(struct evhttp_request *req)
{
	struct mproc	*p = proc_peer[PROC_PARENT];
	struct scrape	*s;
	struct timeval	 tv = { SCRAPE_TIMEOUT, 0 };
	const char	*path;
	int		 cmd = evhttp_request_get_command(req);

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		scrape_error(req, 405, "Method Not Allowed");
		return;
	}
	if (path == NULL || (strcmp(path, "/metrics") != 0 &&
	    strcmp(path, "/") != 0)) {
		scrape_error(req, 404, "Not Found");
		return;
	}
	if (n_scrapes >= SCRAPES_MAX || p == NULL || p->closed) {
		n_failed++;
		scrape_error(req, 503, "Service Unavailable");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("scrape");
	s->id = ++scrape_ids;
	s->req = req;
	s->openmetrics = wants_openmetrics(req);
	if ((s->timeout = evtimer_new(proc_base, scrape_timeout, s)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(s->timeout, &tv);
	TAILQ_INSERT_TAIL(&scrapes, s, entry);
	n_scrapes++;
	mproc_compose(p, IMSG_METRICS_REQ, s->id, -1, NULL, 0);
}

/* IMSG_METRICS_RES: {"metrics": {process: [samples] or null}} */
void
scrape_result(struct mproc *p, struct mh_imsg *imsg)
{
	struct scrape	*s;
	json_t		*j;
	char		*text, err[128];
	size_t		 len;

	j = msg_get_json(p, imsg);
	if (!json_is_object(json_object_get(j, "metrics")))
		fatalx("malformed METRICS_RES from %s", p->name);
	TAILQ_FOREACH(s, &scrapes, entry)
		if (s->id == imsg->hdr.peerid)
			break;
	if (s == NULL) {
		/* timed out meanwhile */
		json_decref(j);
		return;
	}
	if ((text = metrics_render(json_object_get(j, "metrics"),
	    s->openmetrics, &len, err, sizeof(err))) == NULL)
		fatalx("malformed METRICS_RES from %s: %s", p->name,
		    err);
	json_decref(j);
	n_served++;
	scrape_answer(s->req, 200, "OK", s->openmetrics ?
	    METRICS_CT_OPENMETRICS : METRICS_CT_PROM, text, len);
	free(text);
	scrape_end(s);
}

void
scrape_stats(json_t *o)
{
	json_object_set_new(o, "scrapes", json_integer((json_int_t)n_served));
	json_object_set_new(o, "scrapes_failed",
	    json_integer((json_int_t)n_failed));
}

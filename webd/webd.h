/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * webd: the HTTP front end (tracking pixel, click redirects, unsubscribe
 * pages).  An Internet-facing parser: chrooted in an empty directory,
 * seccomp with accept only; it reaches hookd (events) and relayd
 * (suppression) over imsg and nothing else.
 *
 *	webd.c		the process: config, keys, peers, events
 *	server.c	evhttp on the listeners the parent bound, limits,
 *			TLS through libtls under a bufferevent filter
 *	track.c		the endpoints /o/ /c/ /u/
 *	api.c		the JSON submission API on "api" listeners
 *	apimsg.c	its requests made into messages (GMime)
 *	scrape.c	the metrics on "metrics" listeners
 */
#ifndef MH_WEBD_H
#define MH_WEBD_H

#include <event2/http.h>

#include "config.h"
#include "mh_event.h"
#include "token.h"

/* request limits (server.c) */
#define WEB_URI_MAX		4096	/* longer: 414 */
#define WEB_HEADERS_MAX		8192	/* more header bytes: 431 */
#define WEB_HEAD_HARD_MAX	16384	/* a longer head: 414 or 431, closed */
#define WEB_BODY_MAX		4096	/* evhttp: 413 */
#define WEB_CHUNK_LINE_MAX	256	/* a chunk's size line: longer, 400 */
#define WEB_READ_MAX		16384	/* bytes a read(2) of a socket takes */
#define WEB_HEAD_TIMEOUT	10	/* seconds to send a request head */
/* the API: body bytes a second a request must average after its first
   WEB_HEAD_TIMEOUT seconds, each arrival moving its deadline on */
#define WEB_BODY_RATE		1024
/* the API: request bodies of the largest size held at once, all
   connections together (body_came) */
#define WEB_API_BODIES		8
/* a 503's Retry-After (RFC 9110 10.2.3): seconds before trying again */
#define WEB_RETRY_AFTER		"5"
#define WEB_WRITE_TIMEOUT	30
/* seconds a refused client may send on */
#define WEB_LINGER		2
#define WEB_LINGER_MAX		256	/* refused connections read at once */
#define WEB_ACCEPT_PAUSE	1	/* seconds a listener rests when
					   accept(2) has no descriptor */

/* what webd knows of the tracking config */
struct web_settings {
	/* hold the pixel this long for "read", 0: off */
	int		 read_secs;
	/* a hit this soon after submission is a machine */
	int		 machine_secs;
};

/* webd.c */
extern struct token_keys	 web_keys;
extern struct web_settings	 web_settings;
typedef void	(*web_done_fn)(int ok, void *arg);
/* send an event to hookd; done once it is durable (or at once, if unused) */
void	 web_event(struct event_record *, web_done_fn, void *);
/* would web_event() tell anyone (hookd, "mhctl monitor")? */
int	 web_event_wanted(void);
/* unsubscribe (resubscribe = 0) or resubscribe at relayd; done when durable */
void	 web_unsubscribe(const struct token *, int resubscribe, web_done_fn,
	    void *);

/* server.c */
void	 server_init(struct event_base *);
void	 server_listen(int fd, const struct listener *, const struct pki *);
void	 server_reload(const struct config *);
/* the request's client is gone (closed before the answer) */
int	 server_gone(struct evhttp_request *);
/* evhttp_send_reply, but an answer to HEAD carries no body (RFC 9110 9.3.2) */
void	 server_reply(struct evhttp_request *, int, const char *,
	    struct evbuffer *);
/* evhttp_send_reply_start, closing the connection after it on HTTP/1.0 */
void	 server_reply_start(struct evhttp_request *, int, const char *);
/* the Date evhttp would add to an HTTP/1.1 answer, kept a second */
void	 server_date(struct evhttp_request *);
/* a request head passed the limit checks: 0, else the error was sent */
int	 server_check_limits(struct evhttp_request *);
void	 server_stats(json_t *);

/* api.c */
struct mproc;
struct mh_imsg;
void	 api_configure(const struct config *);
size_t	 api_body_max(void);
/* NULL if an Authorization value (NULL: none) names a key (its name
 * copied to name), else why not */
const char *api_key_refusal(const char *authorization, char *name,
	    size_t len);
/* a POST to this path is a submission */
int	 api_submit_path(const char *path);
/* a Content-Type value (len bytes, not NUL-terminated) a submission may
 * have: application/json, with parameters or not */
int	 api_json_type(const char *value, size_t len);
#define API_CTYPE_WHY	"Content-Type must be application/json"
/* a request without a valid key was refused before its body (server.c) */
void	 api_refused_early(void);
/* the log line of a refused request (msgid, key NULL or "": "-") */
void	 api_log_refused(const char *msgid, const char *key, const char *ip,
	    int status, const char *code, const char *why);
void	 api_request(struct evhttp_request *);
void	 api_spool_fd(struct mproc *, struct mh_imsg *);
void	 api_spool_result(struct mproc *, struct mh_imsg *);
void	 api_status_result(struct mproc *, struct mh_imsg *);
void	 api_idem_result(struct mproc *, struct mh_imsg *);
void	 api_stats(json_t *);

/* scrape.c */
void	 scrape_request(struct evhttp_request *);
void	 scrape_result(struct mproc *, struct mh_imsg *);
void	 scrape_stats(json_t *);

/* track.c */
void	 track_request(struct evhttp_request *, void *);
void	 track_stats(json_t *);
int	 track_is_machine(const char *ua, int64_t issued, time_t now,
	    int head);

#endif /* MH_WEBD_H */

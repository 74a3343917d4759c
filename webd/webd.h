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
 *	server.c	evhttp on the listeners the parent bound, TLS
 *			through libtls under a bufferevent filter
 *	request.c	the limits a request is held to, its framing
 *	reply.c		answers through evhttp, and their heads mended
 *	track.c		the endpoints /o/ /c/ /u/
 *	api.c		the JSON submission API on "api" listeners
 *	apimsg.c	its requests made into messages (GMime)
 *	scrape.c	the metrics on "metrics" listeners
 */
#ifndef MH_WEBD_H
#define MH_WEBD_H

#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "config.h"
#include "mh_event.h"
#include "token.h"

/* request limits (server.c, request.c) */
#define WEB_URI_MAX		4096	/* longer: 414 */
#define WEB_HEADERS_MAX		8192	/* more header bytes (or a chunked
					   body's trailer bytes): 431 */
#define WEB_HEAD_HARD_MAX	16384	/* a longer head: 414 or 431, closed */
#define WEB_BODY_MAX		4096	/* evhttp: 413 */
#define WEB_CHUNK_LINE_MAX	256	/* a chunk's size line: longer, 400 */
#define WEB_READ_MAX		16384	/* bytes a read(2) of a socket takes */
/* bytes read that evhttp has not taken (pipelined requests): past
   this, reading waits (ahead_full) */
#define WEB_AHEAD_MAX		65536
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

/*
 * A listener and a connection (server.c); request.c reads a request's
 * head and body into the connection's state.  Nothing else looks inside.
 */
struct web_tls;

struct web_listener {
	uint32_t		 id;
	struct evhttp		*http;
	struct evconnlistener	*lev;
	struct event		*resume;	/* accept(2) again */
	struct web_listener	*next;
	struct web_tls		*tls;		/* NULL: plain http */
	int			 api;		/* the JSON API (api.c) */
	int			 metrics;	/* the metrics (scrape.c) */
};

struct web_conn {
	/* its listener's role when it was accepted: a reload moves new ones */
	int			 api;
	int			 metrics;
	struct bufferevent	*bev;		/* the filter: evhttp's */
	struct bufferevent	*under;		/* the socket */
	struct tls		*tls;		/* https, from its first
						   bytes (conn_tls) */
	struct web_tls		*srv;		/* the server it came from */
	struct event		*deadline;
	struct event		*kick;		/* move evhttp's output on */
	int			 kicked;	/* kick active: holds a ref */
	struct event		*reader;	/* reads the socket (conn_read) */
	int			 reading;	/* reader added, the socket
						   bufferevent's own off */
	int			 ahead_full;	/* reader off: WEB_AHEAD_MAX
						   wait for evhttp */
	struct evbuffer_cb_entry *in_cb;	/* in_taken */
	int			 owed;		/* evhttp awaits "written" */
	int			 direct;	/* filter_out wrote to the
						   socket */
	int			 fd;		/* -1 until the first bytes */
	/* the head being awaited (head_scan) */
	int			 in_head;	/* counting: no blank line
						   yet */
	int			 refused;	/* 414/431 sent: closing */
	size_t			 head_len;	/* its bytes so far */
	size_t			 line_len;	/* bytes of its current line */
	char			 last;		/* its last byte */
	char			 lstart[320];	/* its current line's start:
						   room for Authorization */
	size_t			 lstart_len;
	char			 ltail[10];	/* its last bytes: the
						   request line's version */
	size_t			 ltail_len;
	int			 too_big;	/* Content-Length over the
						   cap */
	int			 bad;		/* its framing: 400 or 501 */
	int			 reqline;	/* its request line came */
	int			 rl_blanks;	/* SPs in the request line */
	int			 no_body;	/* HEAD, TRACE */
	int			 is_head;	/* HEAD: no body back */
	int			 clen_seen;	/* a Content-Length came */
	uint64_t		 clen;		/* its value */
	int			 chunked;	/* Transfer-Encoding: chunked */
	/* its chunked body being read (chunk_scan) */
	int			 chunking;	/* until its trailer's end */
	int			 trailer;	/* its last chunk came */
	size_t			 trailer_len;	/* the trailer's bytes so
						   far */
	uint64_t		 chunk_left;	/* data bytes of this chunk */
	int			 chunk_crlf;	/* its data's CRLF is due */
	size_t			 chunk_len;
	char			 chunk_line[WEB_CHUNK_LINE_MAX + 1];
	int			 submit;	/* API: POST to a submission
						   path */
	int			 ctype;		/* API: 1 its first
						   Content-Type is JSON, -1 it
						   is not, 0 none */
	int			 auth_seen;	/* API: 1 Authorization read,
						   2 too long to read here */
	char			 auth_name[64];	/* 1: its key's name, if valid */
	const char		*auth_why;	/* 1: why its key is refused,
						   NULL if it is valid */
	int			 ostart;	/* output: an answer begins */
	int			 failed;	/* TLS broke: closing now */
	int			 notify_set;	/* tls_notify_set */
	int			 peer_closed;	/* the client closed while
						   its answer was awaited */
	/* the API: when the request began, the body bytes since
	   (body_came) */
	struct timespec		 since;
	uint64_t		 body_len;
	int			 linger_fd;	/* refused: read on after
						   close */
	/* the filter's callbacks on the socket, which we wrap */
	bufferevent_data_cb	 ur, uw;
	bufferevent_event_cb	 ue;
	void			*uarg;
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
void	 server_listen(int fd, const struct config *, const struct listener *);
void	 server_reload(const struct config *);
/* the request's client is gone (closed before the answer) */
int	 server_gone(struct evhttp_request *);
void	 server_stats(json_t *);

/* request.c */
/* n bytes of a request's head or chunked body go on to out: 0, else
 * the status that refuses the request */
int	 head_scan(struct web_conn *, const char *p, size_t n,
	    struct evbuffer *out);
/* the same over what an evbuffer holds, all of it moved on to out */
int	 head_scan_buf(struct web_conn *, struct evbuffer *,
	    struct evbuffer *out);
/* a request head passed the limit checks: 0, else the error was sent */
int	 server_check_limits(struct evhttp_request *);

/* reply.c */
/* evhttp_send_reply, but an answer to HEAD carries no body (RFC 9110 9.3.2) */
void	 server_reply(struct evhttp_request *, int, const char *,
	    struct evbuffer *);
/* evhttp_send_reply_start, closing the connection after it on HTTP/1.0 */
void	 server_reply_start(struct evhttp_request *, int, const char *);
/* the Date evhttp would add to an HTTP/1.1 answer, kept a second */
void	 server_date(struct evhttp_request *);
/* now as an HTTP-date, made once a second */
void	 http_date(char *, size_t);
/* an answer's head in src: HTTP/1.1, which evhttp dates itself */
int	 head_dated(struct evbuffer *src);
/* the Date added to the head of the answer src holds, if it has none */
void	 head_date(struct evbuffer *src);
/* the answer src holds, to a HEAD: its body dropped, its length said */
void	 head_nobody(struct evbuffer *src);

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
/* a request without a valid key was refused before its body (request.c) */
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

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the event queue's insides, shared by events.c (the queue),
 * evsend.c (its delivery engine) and evctl.c (what mhctl does to it:
 * retry, skip, queue again).  Nothing else includes this.
 */
#ifndef MH_HOOKD_EVENTS_INT_H
#define MH_HOOKD_EVENTS_INT_H

#include <sys/queue.h>

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "digest.h"
#include "http.h"
#include "mh_event.h"
#include "events.h"

struct filepool;
struct segwait;
struct evheld;

/* what a queued event keeps in memory, as EV_MEM_BYTES allow (events.c) */
struct evcache {
	json_t			*rec;		/* its record */
	char			*text;		/* and its text, if kept */
	size_t			 textlen;
	size_t			 mem;		/* what this costs */
};

/*
 * A queued event: every one of a dead endpoint's backlog has one in
 * memory for as long as its lifetime, so it is kept small (112 bytes
 * with malloc's for an event of a segment, 192 with a file of its own;
 * 224 when each had room for both and for its record and text).
 */
struct evitem {
	TAILQ_ENTRY(evitem)	 entry;
	struct evseg		*seg;		/* its segment, and where */
	struct evcache		*cache;		/* or NULL */
	struct timespec		 ts;		/* arrival, monotonic */
	uint32_t		 idx;
	uint32_t		 len;		/* its record's text; 0 unknown */
	char			 id[EVENT_ID_LEN];
	char			 name[];	/* else its file in the
						   endpoint dir */
};
TAILQ_HEAD(evitemlist, evitem);

/* a record's text as submit() wrote it (json_dumpb, JSON_COMPACT) */
struct rectext {
	json_t			*rec;		/* a reference: the record */
	char			*s;
	size_t			 len;
};

struct evbatch {
	char			 id[EVENT_ID_LEN];
	int			 asked;		/* the cluster was asked */
	char			 name[80];	/* "" for a single event */
	json_t			*records;	/* array of event records */
	/* the texts of those that had one, in their order (records may
	 * lose some since: each is matched by its record) */
	struct rectext		*texts;
	size_t			 ntexts;
	struct evitem		*item;		/* single event: the item */
	/* its items, until durable (or, if its flush failed, until it
	   leaves the queue) */
	struct evitemlist	 taken;
	int			 syncing;	/* its file not durable yet */
};

struct endpoint {
	TAILQ_ENTRY(endpoint)	 entry;
	char			 key[EVENTS_KEY_LEN];
	char			 dir[PATH_MAX];
	char			 url[MH_URL_MAX];
	/* url for logs: masked */
	char			 pub[MH_URL_MAX];
	enum event_format	 format;
	uint32_t		 kinds;
	char			 secret[MH_NAME_MAX];
	struct headerlist	 headers;
	int			 timeout;
	int			 batch_max;
	int			 batch_wait;
	int			 lifetime;	/* seconds; then dead letters */
	int			 configured;
	int			 disabled;	/* 410 Gone */
	/* its block as configured (endpoint_conf), and the block that was
	   when it answered 410 ("" if enabled), kept in endpoint.json */
	char			 conf[2 * MH_SHA256_LEN + 1];
	char			 gone[2 * MH_SHA256_LEN + 1];
	int			 forgotten;	/* not configured, its
						   directory removed */
	int			 forget_looks;	/* at it, still with
						   segments (events.c) */

	struct evitemlist	 items;
	size_t			 nitems;
	/* bytes its items keep in memory, queued or being stored: at most
	   EV_MEM_BYTES (events.c) */
	size_t			 mem;
	struct evseg		*fill;		/* the open segment (evseg.c) */
	struct evbatch		*cur;		/* being sent / retried */
	TAILQ_HEAD(, evbatchq)	 batches;	/* loaded from disk */
	struct http_call	*call;
	/* the cluster: delivered yet? */
	int			 asking;
	struct event		*timer;
	int			 timer_backoff;	/* timer is a retry wait */
	/* segments a start could not read, loaded later (events.c) */
	struct segwait		*segwait;

	int			 attempts;
	/* looks again at its first event, which cannot be read now: all
	 * (the wait, evq_read_wait), those for its file's sake
	 * (EVQ_AGAIN_FILE, evq_read_tries: then given up) */
	int			 readfails;
	int			 readfaults;
	/* reads that failed for want of a descriptor or memory
	 * (EVQ_AGAIN_NOW): read again, never given up; show hooks */
	unsigned long		 readwaits;
	/* while its directory is not listed yet (a start could not):
	 * the queue files made since, which that listing leaves out
	 * (evq_made); NULL once listed */
	json_t			*made;
	/* the ids of the events stored for it lately (events.c) */
	struct evheld		*held;
	/* ids stored for it whose flush failed, until delivered (held
	 * then: a copy relayd sends again is not stored again) */
	json_t			*unsynced;
	/* made reached EV_MADE_MAX: no more recorded (events.c) */
	int			 made_full;
	long			 last_status;
	char			 last_error[256];
	time_t			 last_attempt;
	struct timespec		 sent;		/* of the request in flight */
	time_t			 next_attempt;
	unsigned long		 delivered;
	unsigned long		 failures;
};
TAILQ_HEAD(endpointlist, endpoint);

struct evbatchq {
	TAILQ_ENTRY(evbatchq)	 entry;
	struct evbatch		*b;
};

extern struct endpointlist	 evq_endpoints;
/* events/pool: segment files recycled (common/filepool.h), or NULL */
extern struct filepool		*evq_pool;

int		 evq_path_join(char *, size_t, const char *, const char *,
		    const char *);
void		 evq_remove_file(struct endpoint *, const char *);
int		 evq_quarantine(struct endpoint *, const char *);
int		 evq_read_tries(void);
int		 evq_endpoint_persist(struct endpoint *);
void		 evq_endpoint_forget(struct endpoint *);
struct endpoint	*evq_endpoint_find(const char *key);
void		 evq_batch_free(struct evbatch *);
void		 evq_batch_gone(struct endpoint *, struct evbatch *);
void		 evq_seg_mark(struct evitem *, struct evitem *);
struct evitem	*evq_item_new(const char *id, const char *name);
void		 evq_held_delivered(struct endpoint *, const json_t *records);
json_t		*evq_item_load(struct endpoint *, struct evitem *, int *again);
void		 evq_item_unqueue(struct endpoint *, struct evitem *);
void		 evq_item_done(struct endpoint *, struct evitem *);
void		 evq_item_free(struct evitem *, int done);
void		 evq_kick(struct endpoint *);
size_t		 evq_backlog(const struct endpoint *);
int		 evq_expire(struct endpoint *);
int		 evq_retire(struct endpoint *);
long		 evq_gone_expire(struct endpoint *);
void		 evq_gone_forget(struct endpoint *);
const char	*evq_format_name(enum event_format);

/* evsend.c: the delivery engine */
void		 evq_set_allow_private(int);
void		 evq_timer(int, short, void *);
void		 evq_gone_arm(struct endpoint *, long);
void		 evq_item_giveup(struct endpoint *, struct evitem *);
int		 evq_read_failed(struct endpoint *, int again);
void		 evq_read_ok(struct endpoint *);
void		 evq_made(struct endpoint *, const char *);

#endif /* MH_HOOKD_EVENTS_INT_H */

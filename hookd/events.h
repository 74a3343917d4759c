/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: outbound event webhooks.
 *
 * Rendering of an event record in the three payload formats of the
 * `events` blocks (events, failures, callback), and the durable event
 * queue that delivers them: every event is written to
 * <spool>/events/<endpoint>/, made durable by the group commit (gsync.h),
 * then POSTed with retries (exponential backoff with jitter, Retry-After
 * honoured, 410 Gone disables the endpoint until the next configuration).
 *
 * Kind mapping (see evformat.c for the details):
 *   events    every kind, batched {"events":[...]}
 *   failures  bounce, soft_bounce, dispatch_soft_bounce, retries_exhausted,
 *             error; action "failed" when final (bounce, retries_exhausted,
 *             error), "failure" when the message is retried (soft_bounce,
 *             dispatch_soft_bounce)
 *   callback  delivery -> sent, bounce with a bounce MIME -> bounced,
 *             bounce without -> failed, retries_exhausted/error -> failed,
 *             open/read -> open, click -> clicked, unsubscribe, resubscribe
 */
#ifndef MH_HOOKD_EVENTS_H
#define MH_HOOKD_EVENTS_H

#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "mh_event.h"

/* default retry schedule, seconds; the last one repeats */
#define EVENTS_RETRY_SCHEDULE	{ 5, 300, 1800, 7200, 18000, 36000 }
#define EVENTS_BOUNCE_MIME_MAX	(256 * 1024)

/* does this format carry this kind at all? */
int	 events_format_wants(enum event_format, enum event_kind);
/*
 * Render n events (n > 1 only for EVFMT_EVENTS) into a malloc'd body;
 * *ctype gets the content type.  0 ok, 1 if the format does not carry
 * the kind (nothing rendered), -1 on error.
 */
int	 events_render(enum event_format, const struct event_record *const *,
	    size_t, char **body, size_t *len, const char **ctype);

/* the durable queue; http_init() must have been called */
int	 events_init(struct event_base *, const struct config *,
	    const char *spoolroot);
int	 events_configure(const struct config *);	/* reload: new blocks */
/*
 * Stored for every endpoint that wants it at the end of this pass of the
 * event loop (one file per endpoint for all the events of the pass);
 * fn(1, arg) once durable, fn(0, arg) if it could not be stored (fn may
 * be NULL); -1 if it cannot be encoded (fn is not called).  With
 * events_submit_written, fn(1, arg) comes once the files are written
 * and renamed into place, before the group commit that makes them
 * durable: they survive kill -9 of any process from then on (evack.c).
 * With events_submit, an event whose id is being stored gets the
 * outcome of the first copy; one that was stored lately (events.c, held
 * ids) is stored for the endpoints that do not hold it, fn(1, arg) at
 * once if all do.
 */
typedef void	(*events_durable_fn)(int ok, void *arg);
int	 events_submit(const struct event_record *, events_durable_fn,
	    void *);
int	 events_submit_written(const struct event_record *,
	    events_durable_fn, void *);
/* evack.c: events_submit(), then IMSG_EVENT_ACK to relayd once durable */
struct mproc;
int	 events_submit_ack(struct mproc *, const struct event_record *);
size_t	 events_backlog(void);				/* all endpoints */
/* array, per endpoint */
json_t	*events_stats(void);
void	 events_metrics(json_t *samples);		/* show metrics */
void	 events_set_monitor(void (*)(const json_t *));
/* override the retry schedule: base_ms*2^n capped at cap_ms (0: default) */
void	 events_set_retry(long base_ms, long cap_ms);
/* how many looks at a file that could not be read for its own sake
 * (EVQ_AGAIN_FILE) before it is kept aside (0: the default,
 * EV_SEGWAIT_TRIES, about an hour) */
void	 events_set_segwait_tries(int);
/* at start (evlog.c): endpoint key's delivered event id is held, while
 * it has room for more (0 if added); the room it has (0: no endpoint) */
int	 events_held_seed(const char *key, const char *id);
int	 events_held_room(const char *key);
/* how many names of files made while a directory is not listed are
 * recorded (0: the default, EV_MADE_MAX) */
void	 events_set_made_max(int);
void	 events_shutdown(void);

/* evseg.c: an endpoint's events, appended to a file a pass at a time */
struct evseg;
struct evseg	*evseg_new(const char *dir, time_t, const char *first_id,
		    struct evseg **owner);
size_t		 evseg_add(struct evseg *, const char *json, size_t);
size_t		 evseg_size(const struct evseg *);
int		 evseg_write(struct evseg *);
void		 evseg_close(struct evseg *);
int		 evseg_failed(const struct evseg *, size_t);
const char	*evseg_name(const struct evseg *);
void		 evseg_unref(struct evseg *, int done);
void		 evseg_mark(struct evseg *, const char *lines, size_t len,
		    size_t n);
void		 evseg_mark_aside(const char *dir, const char *name);
void		 evseg_set_bad(struct evseg *);
json_t		*evseg_record(struct evseg *, size_t, const char *id,
		    int *again);
int		 evseg_drop(struct evseg *, size_t);
int		 evseg_transient(int);
/*
 * *again of a read that failed for now: EVQ_AGAIN_FILE, about the file
 * (a read error after its open, EIO: a bad block), kept aside (bad-)
 * after evq_read_tries() looks; EVQ_AGAIN_NOW, about nothing of the
 * file (no descriptor or memory left: evseg_transient), read again for
 * as long as it takes.  evseg_again(path, errno) says which, and logs.
 */
#define EVQ_AGAIN_FILE	1
#define EVQ_AGAIN_NOW	2
int		 evseg_again(const char *, int);
/*
 * A spool directory listed whole (sorted), 0; or -1, not now, why
 * logged (events.c): the caller looks again evq_read_wait(n) seconds
 * later at its look n (from 0: 1, 2, 4 ... then every 60 s)
 */
int		 evq_list(const char *dir, char ***, size_t *);
long		 evq_read_wait(int);
/* the JSON of regular file dir/name of at most max bytes (events.c) */
json_t		*evq_read_json(const char *dir, const char *name, size_t max,
		    int *again);
/* dir/name renamed dir/bad-name, out of the way (its new path in to);
 * -1, logged, if it cannot be */
int		 evq_aside(const char *dir, const char *name, char *to,
		    size_t tolen);
int		 evseg_open_again(int);
int		 evseg_dropv(struct evseg *, const size_t *, size_t);
int		 evseg_load(const char *dir, const char *name,
		    int (*)(void *, struct evseg *, size_t, const char *),
		    void *);

/*
 * Control (hooks.c): an endpoint is named by its key (16 hex digits of
 * SHA-256 of "format url"), its URL or its URL as shown.
 */
#define EVENTS_KEY_LEN	17
/* key and shown URL of the endpoint spec names; -1: none (or ambiguous) */
int	 events_match(const char *spec, char key[EVENTS_KEY_LEN], char *url,
	    size_t len);
/* does an events block name it (else its backlog is dead letters)? */
int	 events_configured(const char *key);
/* is it disabled by a 410 Gone (nothing is sent to it)? */
int	 events_disabled(const char *key);
/* retry now: backoff reset, a 410 forgotten; -1: no such endpoint */
int	 events_retry(const char *key);
/*
 * One pending event out of its endpoint's queue: keep(record, arg) first
 * (0: it is safe elsewhere), then its files are changed and fsynced.
 * 0 taken, -1 not pending there, -2 being sent now, -3 keep() failed
 * (nothing changed), -4 its batch file or segment could not be
 * rewritten (it stays queued, and unkeep(record, arg) takes back what
 * keep() did), -5 its record could not be read (kept aside as
 * unreadable, out of the queue), -6 its segment cannot be read now (no
 * descriptor, no memory: nothing changed, it stays queued).
 */
typedef int	(*events_keep_fn)(const json_t *record, void *arg);
int	 events_take(const char *key, const char *id, events_keep_fn keep,
	    events_keep_fn unkeep, void *);
/*
 * records queued again for one endpoint, fn(ok, arg) once durable; -1
 * (fn never called): the endpoint is not configured, or a record could
 * not be written, and none of them was queued
 */
int	 events_requeue(const char *key, const json_t *records,
	    events_durable_fn, void *);
size_t	 events_pending(const char *key);		/* its backlog */
/*
 * called with the records of every delivered request (the event log),
 * and the text of each as json_dumps(JSON_COMPACT) makes it, or s NULL
 */
struct evtext {
	const char	*s;
	size_t		 len;
};
typedef void	(*events_log_fn)(const char *key, const json_t *records,
	    const struct evtext *texts);
void	 events_set_logger(events_log_fn);

/*
 * delivered.c: events a node of the cluster delivered already.  check:
 * -1 without the link (send as is), 1 while the link is being made (ask
 * again soon), else 0 and fn(arg, seen) later, seen[i] 1 for each record
 * delivered (seen NULL: unknown, send as is).
 */
typedef void	(*delivered_fn)(void *arg, const char *seen);
int	 delivered_check(const char *epkey, const json_t *records,
	    delivered_fn, void *arg);
void	 delivered_mark(const char *epkey, const json_t *records);

#endif /* MH_HOOKD_EVENTS_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: what mhctl does to the event queue (hooks.c asks): find an
 * endpoint by its key or URL, retry it now, take one stuck event out of
 * it (to the dead letters), queue delivered events again (replay, dead
 * letters sent again).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "gsync.h"
#include "log.h"
#include "events_int.h"
#include "hookd.h"

/* an endpoint by its key, its URL or its URL as shown (no password) */
static struct endpoint *
endpoint_match(const char *spec)
{
	struct endpoint	*ep, *found = NULL;
	char		 url[MH_URL_MAX];

	if ((ep = evq_endpoint_find(spec)) != NULL)
		return (ep);
	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		config_url_public(ep->url, url, sizeof(url));
		if (strcmp(ep->url, spec) != 0 && strcmp(url, spec) != 0)
			continue;
		if (found != NULL)
			return (NULL);	/* the same URL in two formats */
		found = ep;
	}
	return (found);
}

int
events_match(const char *spec, char key[EVENTS_KEY_LEN], char *url,
    size_t len)
{
	struct endpoint	*ep;

	if ((ep = endpoint_match(spec)) == NULL)
		return (-1);
	strlcpy(key, ep->key, EVENTS_KEY_LEN);
	config_url_public(ep->url, url, len);
	return (0);
}

int
events_configured(const char *key)
{
	struct endpoint	*ep;

	return ((ep = evq_endpoint_find(key)) != NULL && ep->configured);
}

int
events_disabled(const char *key)
{
	struct endpoint	*ep;

	return ((ep = evq_endpoint_find(key)) != NULL && ep->configured &&
	    ep->disabled);
}

int
events_retry(const char *key)
{
	struct endpoint	*ep;

	if ((ep = evq_endpoint_find(key)) == NULL)
		return (-1);
	ep->attempts = 0;
	ep->disabled = 0;
	evq_gone_forget(ep);
	if (ep->timer_backoff) {
		evtimer_del(ep->timer);
		ep->timer_backoff = 0;
	}
	evq_kick(ep);
	return (0);
}

static const char *
record_id(const json_t *r)
{
	const char	*id = json_string_value(json_object_get(r, "id"));

	return (id != NULL ? id : "");
}

static int
batch_has(const struct evbatch *b, const char *id)
{
	const json_t	*r;
	size_t		 i;

	json_array_foreach(b->records, i, r)
		if (strcmp(record_id(r), id) == 0)
			return (1);
	return (0);
}

/* the item of event id a batch whose flush failed still holds, or NULL */
static struct evitem *
batch_item(struct evbatch *b, const char *id)
{
	struct evitem	*it;

	TAILQ_FOREACH(it, &b->taken, entry)
		if (strcmp(it->id, id) == 0)
			return (it);
	return (NULL);
}

/*
 * keep() had record r of id, then the event's queue file could not be
 * rewritten: it stays queued, so unkeep() takes that back (a dead letter
 * as well, it would be sent again and be one too).  -4, for events_take.
 */
static int
take_undo(struct endpoint *ep, const char *id, const json_t *r,
    events_keep_fn unkeep, void *arg)
{
	if (unkeep(r, arg) == -1)
		log_warnx("events: %s: event %s stays queued, and what took "
		    "it could not be undone: it is sent again and is a dead "
		    "letter too", ep->dir, id);
	return (-4);
}

/*
 * The record of id out of a batch: keep() has it first, then the batch
 * file is rewritten without it (fsynced; removed once empty).  A batch
 * whose flush failed still holds its events in their segments: the
 * record leaves its segment after that (evseg_drop), so that it is
 * always in one of them: the other way round, a rewrite that failed
 * left it only in the batch file, which the failed flush may not have
 * made durable, and a crash lost it.  A segment that cannot be
 * rewritten keeps it, marked done (evq_seg_mark).  1 taken, 0 not there,
 * -3 keep() failed, -4 the rewrite failed (the event still in the
 * batch, keep() undone).
 */
static int
batch_take(struct endpoint *ep, struct evbatch *b, const char *id,
    events_keep_fn keep, events_keep_fn unkeep, void *arg)
{
	struct evitem	*it;
	json_t		*r = NULL, *o;
	char		*s;
	size_t		 i;

	for (i = 0; i < json_array_size(b->records); i++)
		if (strcmp(record_id(r = json_array_get(b->records, i)),
		    id) == 0)
			break;
	if (i == json_array_size(b->records) || r == NULL)
		return (0);
	if (keep(r, arg) == -1)
		return (-3);
	it = batch_item(b, id);
	if (b->item != NULL || json_array_size(b->records) == 1) {
		evq_batch_gone(ep, b);
		json_array_remove(b->records, i);
		return (1);
	}
	json_incref(r);
	json_array_remove(b->records, i);
	o = json_pack("{s:s,s:O}", "batch", b->id, "events", b->records);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL || file_replace_in(ep->dir, b->name, s, strlen(s),
	    FR_FSYNC) == -1) {
		log_warn("events: %s/%s", ep->dir, b->name);
		json_array_insert(b->records, i, r);
		json_decref(r);
		free(s);
		return (take_undo(ep, id, r, unkeep, arg));
	}
	json_decref(r);
	free(s);
	if (it != NULL) {
		if (it->seg != NULL && evseg_drop(it->seg, it->idx) == -1) {
			log_warnx("events: %s/%s: event %s of batch %s left "
			    "in it, marked done", ep->dir, evseg_name(it->seg),
			    it->id, b->id);
			evq_seg_mark(it, TAILQ_NEXT(it, entry));
		}
		TAILQ_REMOVE(&b->taken, it, entry);
		evq_item_done(ep, it);	/* its file, if it has one, goes */
	}
	return (1);
}

/*
 * A single pending event: 1 taken, 0 not there, -3 keep() failed, -4
 * its segment could not be rewritten (keep() undone), -5 unreadable
 * (kept aside), -6 its segment cannot be read now (it stays queued)
 */
static int
item_take(struct endpoint *ep, const char *id, events_keep_fn keep,
    events_keep_fn unkeep, void *arg)
{
	struct evitem	*it;
	json_t		*rec;
	int		 rc, again;

	TAILQ_FOREACH(it, &ep->items, entry)
		if (strcmp(it->id, id) == 0)
			break;
	if (it == NULL)
		return (0);
	if ((rec = evq_item_load(ep, it, &again)) == NULL && again)
		return (-6);
	if (rec == NULL)
		rc = -5;		/* quarantined: out of the queue */
	else if (keep(rec, arg) == -1)
		rc = -3;
	else if (it->seg != NULL && evseg_drop(it->seg, it->idx) == -1)
		rc = take_undo(ep, id, rec, unkeep, arg);
	else
		rc = 1;
	json_decref(rec);
	if (rc == 1 || rec == NULL) {
		evq_item_unqueue(ep, it);
		if (rc == 1)
			evq_item_done(ep, it);	/* its file goes */
		else
			evq_item_free(it, 0);
	}
	return (rc);
}

int
events_take(const char *key, const char *id, events_keep_fn keep,
    events_keep_fn unkeep, void *arg)
{
	struct endpoint	*ep;
	struct evbatchq	*q;
	int		 rc = 0;

	if ((ep = evq_endpoint_find(key)) == NULL)
		return (-1);
	if (ep->cur != NULL && batch_has(ep->cur, id)) {
		/* in the request under way: its answer covers it */
		if (ep->call != NULL || ep->asking || ep->cur->syncing)
			return (-2);
		if ((rc = batch_take(ep, ep->cur, id, keep, unkeep,
		    arg)) == 1) {
			if (json_array_size(ep->cur->records) == 0) {
				evq_batch_free(ep->cur);
				ep->cur = NULL;
			}
			/* the stuck one is gone: the next goes now (not at
			 * an endpoint disabled by 410 Gone: its timer is its
			 * lifetime's, evq_gone_arm) */
			ep->attempts = 0;
			if (ep->timer_backoff && !ep->disabled) {
				evtimer_del(ep->timer);
				ep->timer_backoff = 0;
			}
		}
	}
	TAILQ_FOREACH(q, &ep->batches, entry) {
		if (rc != 0 || (rc = batch_take(ep, q->b, id, keep, unkeep,
		    arg)) != 1)
			continue;
		if (json_array_size(q->b->records) == 0) {
			TAILQ_REMOVE(&ep->batches, q, entry);
			evq_batch_free(q->b);
			free(q);
		}
		break;
	}
	if (rc == 0)
		rc = item_take(ep, id, keep, unkeep, arg);
	if (rc != 1)
		return (rc == 0 ? -1 : rc);
	if (fsync_dir(ep->dir) == -1)
		log_warn("events: fsync %s", ep->dir);
	evq_kick(ep);
	return (0);
}

/*
 * Records queued again for one endpoint: they join once durable.  If the
 * flush failed they do not join, and their files go: what queued them
 * again still has them (a dead letter, an event log) and says so, and
 * queueing them anyway, then again from there, would send them twice.
 */
struct requeue {
	struct endpoint		*ep;
	struct evitemlist	 items;
	events_durable_fn	 fn;
	void			*arg;
};

static void
requeue_durable(int ok, void *arg)
{
	struct requeue	*rq = arg;
	struct evitem	*it;

	while ((it = TAILQ_FIRST(&rq->items)) != NULL) {
		TAILQ_REMOVE(&rq->items, it, entry);
		if (!ok) {
			evq_item_done(rq->ep, it);
			continue;
		}
		TAILQ_INSERT_TAIL(&rq->ep->items, it, entry);
		rq->ep->nitems++;
	}
	evq_kick(rq->ep);
	if (rq->fn != NULL)
		rq->fn(ok, rq->arg);
	free(rq);
}

/*
 * All or none: a record that could not be written (the disk full, no
 * memory) takes back those written before it, so that the caller keeps
 * every record it asked for (a dead letter stays one) and none is queued
 * twice when it asks again
 */
static void
requeue_undo(struct requeue *rq, const char *name)
{
	struct evitem	*it;

	evq_remove_file(rq->ep, name);
	while ((it = TAILQ_FIRST(&rq->items)) != NULL) {
		TAILQ_REMOVE(&rq->items, it, entry);
		evq_item_done(rq->ep, it);
	}
	free(rq);
}

int
events_requeue(const char *key, const json_t *records, events_durable_fn fn,
    void *arg)
{
	struct endpoint	*ep;
	struct requeue	*rq;
	struct evitem	*it;
	struct stat	 st;
	const json_t	*r;
	char		 name[80], path[PATH_MAX], *s;
	size_t		 i;

	/* none for an endpoint no longer configured: it would not go */
	if ((ep = evq_endpoint_find(key)) == NULL || !ep->configured ||
	    (rq = calloc(1, sizeof(*rq))) == NULL)
		return (-1);
	rq->ep = ep;
	rq->fn = fn;
	rq->arg = arg;
	TAILQ_INIT(&rq->items);
	json_array_foreach(records, i, r) {
		if (strlen(record_id(r)) != EVENT_ID_LEN - 1)
			continue;
		snprintf(name, sizeof(name), "e-%011lld-%s.json",
		    (long long)time(NULL), record_id(r));
		evq_made(ep, name);
		/* the same event queued this second already */
		if (evq_path_join(path, sizeof(path), ep->dir, "",
		    name) == -1 || stat(path, &st) == 0)
			continue;
		if ((s = json_dumps(r, JSON_COMPACT)) == NULL ||
		    file_replace_in(ep->dir, name, s, strlen(s), FR_GROUP) ==
		    -1 || (it = evq_item_new(record_id(r), name)) == NULL) {
			log_warn("events: %s/%s", ep->dir, name);
			free(s);
			requeue_undo(rq, name);
			return (-1);
		}
		free(s);
		clock_gettime(CLOCK_MONOTONIC, &it->ts);
		TAILQ_INSERT_TAIL(&rq->items, it, entry);
	}
	gsync_then(requeue_durable, rq);
	return (0);
}

size_t
events_pending(const char *key)
{
	struct endpoint	*ep;

	return ((ep = evq_endpoint_find(key)) != NULL ? evq_backlog(ep) : 0);
}

/*
 * Every record of b to the dead letters, then b out of the queue (its
 * file, or its event's, removed; b freed).  0 done, -1: a letter could
 * not be written (b kept as it was; a letter written twice is replaced).
 */
static int
batch_bury(struct endpoint *ep, struct evbatch *b, const char *reason)
{
	const json_t	*r;
	size_t		 i;

	json_array_foreach(b->records, i, r)
		if (dead_event(ep->key, ep->pub, r, reason) == -1)
			return (-1);
	ihist_event_post(b->records, ep->pub, ep->last_status, 0, "dead",
	    ep->last_error[0] != '\0' ? ep->last_error : reason,
	    ep->attempts);
	evq_batch_gone(ep, b);
	evq_batch_free(b);
	return (0);
}

/* the log's note of the events kept aside (unreadable), "" if none */
static const char *
aside_note(size_t aside)
{
	static char	 note[64];

	if (aside == 0)
		return ("");
	snprintf(note, sizeof(note), "; %zu unreadable, kept aside", aside);
	return (note);
}

/*
 * The queue's first item: with its record rec (taken), to the dead
 * letters and out of the queue, 0; or -1, a letter that could not be
 * written, or its segment that cannot be read now (again: the item
 * kept, looked at again sooner at first, evq_read_wait; at the last of
 * evq_read_tries() looks for its file's sake, evq_read_failed, it is
 * given up, kept aside as when it is sent, evq_item_giveup, and 0).
 * NULL rec, not again: it could not be read, kept aside
 * (evq_item_load), out of the queue.  What is kept aside is counted in
 * *aside, not among the dead letters.
 */
static int
item_bury(struct endpoint *ep, struct evitem *it, json_t *rec, int again,
    int status, const char *why, size_t *aside)
{
	size_t	 before;

	if (again) {
		if (evq_read_failed(ep, again))
			return (-1);
		before = evq_backlog(ep);
		evq_item_giveup(ep, it);
		*aside += before - evq_backlog(ep);
		return (0);
	}
	evq_read_ok(ep);
	if (rec != NULL && dead_event(ep->key, ep->pub, rec, why) == -1) {
		json_decref(rec);
		return (-1);
	}
	evq_item_unqueue(ep, it);
	if (rec == NULL) {
		evq_item_free(it, 0);
		(*aside)++;
		return (0);
	}
	if ((rec = json_pack("[o]", rec)) != NULL)
		ihist_event_post(rec, ep->pub, status, 0, "dead", why,
		    ep->attempts);
	json_decref(rec);
	evq_item_done(ep, it);
	return (0);
}

/* the time of a batch's newest event, 0 if none has one */
static time_t
batch_newest(const struct evbatch *b)
{
	const json_t	*r;
	time_t		 t, newest = 0;
	size_t		 i;

	json_array_foreach(b->records, i, r)
		if ((t = json_integer_value(json_object_get(r, "time"))) >
		    newest)
			newest = t;
	return (newest);
}

/*
 * An endpoint disabled by a 410 Gone keeps its backlog for "hooks retry"
 * or a reload, and takes the events submitted meanwhile, but its
 * lifetime runs as ever: each event older than it becomes a dead letter,
 * reason=gone (a batch whole once its newest event is), one log line a
 * pass, so that the backlog does not grow without end.  Returns the
 * seconds to the next pass.
 */
long
evq_gone_expire(struct endpoint *ep)
{
	static const char	*why = "gone";
	struct evbatchq		*q;
	struct evitem		*it;
	json_t			*rec;
	time_t			 now = time(NULL), t, next = 0;
	size_t			 n = evq_backlog(ep), aside = 0;
	int			 rc = 0, again;

	if (ep->cur != NULL && !ep->cur->syncing && ep->call == NULL &&
	    !ep->asking && (t = batch_newest(ep->cur)) > 0) {
		if (now - t <= ep->lifetime)
			next = t;
		else if ((rc = batch_bury(ep, ep->cur, why)) == 0) {
			ep->cur = NULL;
			ep->attempts = 0;
		}
	}
	while (rc == 0 && (q = TAILQ_FIRST(&ep->batches)) != NULL &&
	    (t = batch_newest(q->b)) > 0) {
		if (now - t <= ep->lifetime) {
			if (next == 0 || t < next)
				next = t;
			break;
		}
		if ((rc = batch_bury(ep, q->b, why)) == -1)
			break;
		TAILQ_REMOVE(&ep->batches, q, entry);
		free(q);
	}
	while (rc == 0 && (it = TAILQ_FIRST(&ep->items)) != NULL) {
		/* unreadable: kept aside and logged, as when sent
		 * (evsend.c), not left at the head of the queue; one
		 * that cannot be read now stays, tried again */
		if ((rec = evq_item_load(ep, it, &again)) != NULL) {
			t = json_integer_value(json_object_get(rec, "time"));
			if (now - t <= ep->lifetime) {
				json_decref(rec);
				if (next == 0 || t < next)
					next = t;
				break;
			}
		}
		rc = item_bury(ep, it, rec, again, 410, why, &aside);
	}
	if ((n -= evq_backlog(ep)) > 0 || rc == -1)
		log_warnx("events: %s (%s) answered 410 Gone: %zu event(s) "
		    "older than its lifetime (%ds) moved to the dead letters, "
		    "reason=%s%s%s", ep->pub, evq_format_name(ep->format),
		    n - aside, ep->lifetime, why, aside_note(aside),
		    rc == -1 ? "; the others are kept, tried again later" :
		    "");
	if (rc == -1)
		return (ep->readfails > 0 ? evq_read_wait(ep->readfails - 1) :
		    60);
	if (next == 0)
		return (3600);	/* nothing queued, or nothing dated */
	t = next + ep->lifetime + 1 - now;
	return (t < 1 ? 1 : t > 3600 ? 3600 : (long)t);
}

/*
 * The batch under way failed again and even its newest event is older
 * than the endpoint's lifetime: each event to the dead letters, the batch
 * out of the queue.  1: done, the next may go; 0: not over yet; -1: a
 * dead letter could not be written (all kept, retried as before; a
 * letter written twice is replaced).
 */
int
evq_expire(struct endpoint *ep)
{
	struct evbatch	*b = ep->cur;
	time_t		 now = time(NULL), newest;
	size_t		 n;
	char		 id[EVENT_ID_LEN];

	if (b == NULL || b->syncing || ep->lifetime <= 0)
		return (0);
	newest = batch_newest(b);
	if (newest == 0 || now - newest <= ep->lifetime)
		return (0);
	n = json_array_size(b->records);
	strlcpy(id, b->id, sizeof(id));
	if (batch_bury(ep, b, "expired") == -1)
		return (-1);
	log_warnx("batch=%s events=%zu url=%s attempts=%d age=%llds "
	    "result=dead reason=expired error=\"%s\"", id, n, ep->pub,
	    ep->attempts, (long long)(now - newest), ep->last_error);
	ep->cur = NULL;
	ep->attempts = 0;
	return (1);
}

/*
 * An endpoint no longer configured (its events block removed, at a
 * reload or while hookd was down): once no request of it is under way,
 * its whole backlog goes to the dead letters, reason=endpoint-removed,
 * for "dead replay" once a block names it again.  0 done (or nothing to
 * do yet: called again when the request is over), -1 a letter could not
 * be written or a segment cannot be read now (what is left is kept,
 * tried again in a minute, or sooner: item_bury).
 */
int
evq_retire(struct endpoint *ep)
{
	static const char	*why = "endpoint-removed";
	struct evbatchq		*q;
	struct evitem		*it;
	json_t			*rec;
	size_t			 n, aside = 0;
	int			 rc = 0, again;

	if (ep->call != NULL || ep->asking ||
	    (ep->cur != NULL && ep->cur->syncing))
		return (0);
	if ((n = evq_backlog(ep)) == 0)
		return (0);
	if (ep->cur != NULL) {
		if (batch_bury(ep, ep->cur, why) == -1)
			rc = -1;
		else
			ep->cur = NULL;
	}
	while (rc == 0 && (q = TAILQ_FIRST(&ep->batches)) != NULL) {
		if (batch_bury(ep, q->b, why) == -1) {
			rc = -1;
			break;
		}
		TAILQ_REMOVE(&ep->batches, q, entry);
		free(q);
	}
	while (rc == 0 && (it = TAILQ_FIRST(&ep->items)) != NULL) {
		rec = evq_item_load(ep, it, &again);
		rc = item_bury(ep, it, rec, again, ep->last_status, why,
		    &aside);
	}
	n -= evq_backlog(ep);
	log_warnx("events: %s (%s) is no longer configured: %zu event(s) "
	    "moved to the dead letters, reason=%s%s%s", ep->pub,
	    evq_format_name(ep->format), n - aside, why, aside_note(aside),
	    rc == -1 ? "; the others are kept, tried again later" : "");
	ep->attempts = 0;
	return (rc);
}

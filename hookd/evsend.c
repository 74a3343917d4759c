/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the event queue's delivery engine (events.c keeps the queue,
 * its endpoints and their files): the retry schedule, the next thing an
 * endpoint sends (a reloaded batch, a new batch, or one event), the
 * request, and what its answer does (delivered, 410 Gone, retried).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "digest.h"
#include "evbuf.h"
#include "hex.h"
#include "mh_event.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sign.h"
#include "fileio.h"
#include "filepool.h"
#include "gsync.h"
#include "events.h"
#include "hookd.h"
#include "events_int.h"

#define EV_FILE_MAX	(2 * 1024 * 1024)
/*
 * A batch (format events) ends at the record that takes its text to
 * this (and at batch_max events): a request, the batch in memory while
 * it is retried and its file (read back up to EV_BATCH_FILE_MAX) are
 * bounded whatever the size of the records (bounce MIME).
 */
#define EV_BATCH_BYTES	(4 * 1024 * 1024)

static events_log_fn		 ev_logger;
static int			 ev_allow_private;
static long			 ev_retry_base;		/* ms, 0 = table */
static long			 ev_retry_cap;

static void	ep_arm(struct endpoint *, long, int);
static void	ep_done(const struct http_response *, void *);
static void	ep_checked(void *, const char *);
static void	ep_delivered(struct endpoint *);

/* --- retry schedule --------------------------------------------------- */

static long
retry_delay_ms(int attempts)
{
	static const long	 table[] = EVENTS_RETRY_SCHEDULE;
	size_t			 n = sizeof(table) / sizeof(table[0]);
	long			 d;
	double			 j;
	int			 i;

	if (attempts < 1)
		attempts = 1;
	if (ev_retry_base > 0) {
		d = ev_retry_base;
		for (i = 1; i < attempts && d < ev_retry_cap; i++)
			d *= 2;
		if (ev_retry_cap > 0 && d > ev_retry_cap)
			d = ev_retry_cap;
	} else
		d = table[(size_t)attempts - 1 < n ? (size_t)attempts - 1 :
		    n - 1] * 1000L;
	/* +-20% jitter */
	j = 0.8 + 0.4 * ((double)arc4random_uniform(10001) / 10000.0);
	return ((long)(d * j));
}

void
events_set_retry(long base_ms, long cap_ms)
{
	ev_retry_base = base_ms > 0 ? base_ms : 0;
	ev_retry_cap = cap_ms > 0 ? cap_ms : 36000000L;
}

/* --- the engine -------------------------------------------------------- */

void
evq_batch_free(struct evbatch *b)
{
	struct evitem	*it;
	size_t		 i;

	if (b == NULL)
		return;
	json_decref(b->records);
	for (i = 0; i < b->ntexts; i++) {
		json_decref(b->texts[i].rec);
		free(b->texts[i].s);
	}
	free(b->texts);
	if (b->item != NULL)
		evq_item_free(b->item, 0);
	while ((it = TAILQ_FIRST(&b->taken)) != NULL) {
		TAILQ_REMOVE(&b->taken, it, entry);
		evq_item_free(it, 0);
	}
	free(b);
}

static void
make_batch_id(char id[EVENT_ID_LEN])
{
	struct event_record	ev;

	mh_event_init(&ev, EV_DELIVERY);	/* only for a fresh uuid */
	strlcpy(id, ev.id, EVENT_ID_LEN);
}

/*
 * An item's record (in memory, from its segment or its own file), or
 * NULL: it is kept aside (quarantined), or, *again set, its segment or
 * file cannot be read now (no descriptor, no memory): it stays queued,
 * for the caller to try again later.
 */
json_t *
evq_item_load(struct endpoint *ep, struct evitem *it, int *again)
{
	json_t			*o;
	struct event_record	 ev;

	*again = 0;
	if (it->cache != NULL)
		return (json_incref(it->cache->rec));
	if (it->seg != NULL) {
		if ((o = evseg_record(it->seg, it->idx, it->id,
		    again)) == NULL && !*again)
			log_warnx("events: %s/%s: event %s unreadable, kept",
			    ep->dir, evseg_name(it->seg), it->id);
		return (o);
	}
	if ((o = evq_read_json(ep->dir, it->name, EV_FILE_MAX,
	    again)) == NULL && *again)
		return (NULL);
	if (o == NULL || mh_event_from_json(&ev, o) == -1 ||
	    strcmp(ev.id, it->id) != 0) {
		if (o != NULL)
			mh_event_clear(&ev);
		json_decref(o);
		evq_quarantine(ep, it->name);
		return (NULL);
	}
	mh_event_clear(&ev);
	return (o);
}

/* b's items leave their files: b holds their events (or they are gone) */
static void
batch_release(struct endpoint *ep, struct evbatch *b)
{
	struct evitem	*it;

	while ((it = TAILQ_FIRST(&b->taken)) != NULL) {
		TAILQ_REMOVE(&b->taken, it, entry);
		evq_item_done(ep, it);
	}
}

/*
 * From it on, the first taken event still in a segment, with *end past
 * the last one after it in that same segment (a run); NULL: none left
 */
static struct evitem *
seg_run(struct evitem *it, struct evitem **end)
{
	while (it != NULL && it->seg == NULL)
		it = TAILQ_NEXT(it, entry);
	for (*end = it; *end != NULL && (*end)->seg == it->seg;)
		*end = TAILQ_NEXT(*end, entry);
	return (it);
}

/*
 * Events it up to end (a run of one segment, seg_run) are marked done
 * in it (evseg_mark: written if the segment outlives them), so that a
 * restart, which finds them in no batch file, does not send them again;
 * only a crash before the marker reaches the disk (it is not flushed by
 * itself) does
 */
void
evq_seg_mark(struct evitem *it, struct evitem *end)
{
	struct evbuffer	*buf;
	struct evseg	*seg = it->seg;
	size_t		 n;

	if ((buf = evbuffer_new()) == NULL)
		fatal("events: evbuffer_new");
	for (n = 0; it != end; it = TAILQ_NEXT(it, entry), n++)
		if (evbuffer_add(buf, it->id, EVENT_ID_LEN - 1) == -1 ||
		    evbuffer_add(buf, "\n", 1) == -1)
			fatal("events: evbuffer_add");
	evseg_mark(seg, (const char *)evbuffer_pullup(buf, -1),
	    evbuffer_get_length(buf), n);
	evbuffer_free(buf);
}

/*
 * b's file is durable and its events are about to leave their segments:
 * each segment that outlives them marks them done (evq_seg_mark), a
 * write per segment, so that a crash once b's file is gone (delivered)
 * does not find them in their segment and send them again.
 */
static void
batch_mark(struct evbatch *b)
{
	struct evitem	*it, *end;

	for (it = TAILQ_FIRST(&b->taken); (it = seg_run(it, &end)) != NULL;
	    it = end)
		evq_seg_mark(it, end);
}

/*
 * b's events, which its flush failed to make durable (batch_durable),
 * leave their files before b's does: a segment's lines are written null
 * (fsynced, a segment at a time), an event's own file is removed, then
 * the directory is flushed.  The segment of an event may outlive the
 * batch (other events of it are queued, or its removal waits for the
 * next flush): a crash once b's file is gone would find the event in it
 * and queue it again, under another batch id.  A crash before b's file
 * goes finds b, sent again as it was.  A segment that cannot be
 * rewritten keeps them, marked done (evq_seg_mark).
 */
static void
batch_unhold(struct endpoint *ep, struct evbatch *b)
{
	struct evitem	*it, *end, *first;
	struct evseg	*seg;
	size_t		*idx, n = 0;

	TAILQ_FOREACH(it, &b->taken, entry)
		n++;
	if (n == 0)
		return;
	if ((idx = calloc(n, sizeof(*idx))) == NULL)
		fatal("events: calloc");
	for (it = TAILQ_FIRST(&b->taken); (it = seg_run(it, &end)) != NULL;) {
		seg = it->seg;
		for (first = it, n = 0; it != end; it = TAILQ_NEXT(it, entry))
			idx[n++] = it->idx;
		if (evseg_dropv(seg, idx, n) == -1) {
			log_warnx("events: %s/%s: %zu event(s) of batch %s "
			    "left in it, marked done", ep->dir,
			    evseg_name(seg), n, b->id);
			evq_seg_mark(first, end);
		}
	}
	free(idx);
	batch_release(ep, b);
	if (fsync_dir(ep->dir) == -1)
		log_warn("events: fsync %s", ep->dir);
}

/*
 * b cannot be rendered: its file, or its event's, is kept aside (bad-)
 * and it leaves the queue.  The events it still held in their segments
 * (its flush failed) leave them once the bad- file, which keeps them,
 * is durable, its data and its new name; else (or if it was not
 * renamed) they stay, and a restart queues them again.
 */
static void
batch_quarantine(struct endpoint *ep, struct evbatch *b)
{
	char	path[PATH_MAX];

	if (b->item != NULL) {
		evq_quarantine(ep, b->item->name);
		return;
	}
	if (evq_quarantine(ep, b->name) == -1 || TAILQ_EMPTY(&b->taken))
		return;
	if (evq_path_join(path, sizeof(path), ep->dir, "bad-",
	    b->name) == -1 || fsync_file(path) == -1 ||
	    fsync_dir(ep->dir) == -1) {
		log_warn("events: fsync %s/bad-%s: its events are kept in "
		    "their segments", ep->dir, b->name);
		return;
	}
	batch_unhold(ep, b);
}

/*
 * Batch b leaves the queue (delivered, or its events dead letters): its
 * file goes, or its event's, after the events it still held in their
 * files if its flush failed (batch_unhold).
 */
void
evq_batch_gone(struct endpoint *ep, struct evbatch *b)
{
	if (b->item != NULL) {
		evq_item_done(ep, b->item);
		b->item = NULL;
		return;
	}
	batch_unhold(ep, b);
	evq_remove_file(ep, b->name);
}

/*
 * The batch file is durable: the batch can go, and its events leave
 * their files (a crash before the removals are durable: loading skips
 * what a batch holds).  If the flush failed, they stay in them until
 * the batch leaves the queue: on disk but for the batch file, which may
 * be lost, and not sent again after a restart once it was delivered.
 */
static void
batch_durable(int ok, void *arg)
{
	struct endpoint	*ep = arg;
	struct evbatch	*b = ep->cur;

	if (b == NULL || !b->syncing)
		fatalx("events: %s: no batch being flushed", ep->pub);
	b->syncing = 0;
	if (ok) {
		batch_mark(b);
		batch_release(ep, b);
	}
	else
		log_warnx("events: %s/%s may not be durable: its events are "
		    "kept in their segments until it is delivered", ep->dir,
		    b->name);
	evq_kick(ep);
}

/*
 * Record o of item it joins batch b (room made for cap records): its
 * text, if the item kept it, goes along, so that neither the batch file
 * nor the event log dumps the record again.
 */
static void
batch_take_text(struct evbatch *b, size_t cap, json_t *o, struct evitem *it)
{
	struct rectext	*t;

	if (it->cache == NULL || it->cache->text == NULL ||
	    o != it->cache->rec)
		return;
	if (b->texts == NULL) {
		if ((b->texts = calloc(cap, sizeof(*b->texts))) == NULL)
			return;
	} else if (b->ntexts >= cap)
		return;
	t = &b->texts[b->ntexts++];
	t->rec = json_incref(o);
	t->s = it->cache->text;
	t->len = it->cache->textlen;
	it->cache->text = NULL;
}

/*
 * The batch file's text, {"batch":ID,"events":[...]} as json_dumps
 * makes it (JSON_COMPACT), from its records' texts; NULL if one has
 * none (or out of memory): the caller dumps it.
 */
static char *
batch_file_text(const struct evbatch *b, size_t *len)
{
	struct evbuffer	*buf;
	size_t		 i;
	int		 rc = 0;

	if (b->ntexts == 0 || b->ntexts != json_array_size(b->records) ||
	    (buf = evbuffer_new()) == NULL)
		return (NULL);
	/* the id: a uuid, nothing in it that JSON escapes */
	rc |= evbuffer_add_printf(buf, "{\"batch\":\"%s\",\"events\":[",
	    b->id) < 0;
	for (i = 0; i < b->ntexts; i++) {
		if (i > 0)
			rc |= evbuffer_add(buf, ",", 1);
		rc |= evbuffer_add(buf, b->texts[i].s, b->texts[i].len);
	}
	rc |= evbuffer_add(buf, "]}", 2);
	return (evbuf_finish(buf, rc != 0, len));
}

/*
 * The text of each record of b, in its order, s NULL where it has none
 * (records may have left the batch since it was made), or NULL.
 */
static struct evtext *
batch_texts(const struct evbatch *b)
{
	struct evtext	*t;
	const json_t	*r;
	size_t		 i, j = 0, k, n;

	if (b->ntexts == 0 || (n = json_array_size(b->records)) == 0 ||
	    (t = calloc(n, sizeof(*t))) == NULL)
		return (NULL);
	json_array_foreach(b->records, i, r) {
		for (k = j; k < b->ntexts && b->texts[k].rec != r; k++)
			;
		if (k == b->ntexts)
			continue;
		t[i].s = b->texts[k].s;
		t[i].len = b->texts[k].len;
		j = k + 1;
	}
	return (t);
}

/* the length of record o's text (item it's), for EV_BATCH_BYTES */
static size_t
item_len(const struct evitem *it, const json_t *o)
{
	if (it->len != 0)
		return (it->len);
	/* reloaded or queued again: measured, nothing written */
	return (json_dumpb(o, NULL, 0, JSON_COMPACT));
}

/*
 * The queue's head stays where it is, for a reason of hookd's own (the
 * spool cannot be read or written now): tried again after a retry's
 * wait, as a failed request would be
 */
static void
ep_defer(struct endpoint *ep, const char *why)
{
	strlcpy(ep->last_error, why, sizeof(ep->last_error));
	ep_arm(ep, retry_delay_ms(++ep->attempts), 1);
}

/*
 * Event it, first in ep's queue, could still not be read at the last
 * look (a bad block's EIO): it leaves the queue, its file kept aside
 * (bad-) as one that cannot be parsed, and the others go on.  Its
 * segment's other events cannot be read either: they leave with it, the
 * segment goes aside once none of its events is queued or in a batch.
 */
void
evq_item_giveup(struct endpoint *ep, struct evitem *it)
{
	struct evseg	*seg = it->seg;
	struct evitem	*next;

	log_warnx("events: %s/%s: could not be read in %d tries over about "
	    "an hour", ep->dir, seg != NULL ? evseg_name(seg) : it->name,
	    ep->readfaults);
	evq_read_ok(ep);
	if (seg == NULL) {
		evq_item_unqueue(ep, it);
		evq_quarantine(ep, it->name);
		evq_item_free(it, 0);
		return;
	}
	evseg_set_bad(seg);
	for (it = TAILQ_FIRST(&ep->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->seg != seg)
			continue;
		evq_item_unqueue(ep, it);
		evq_item_free(it, 0);	/* the last frees seg */
	}
}

/*
 * ep's first event cannot be read now (again, evseg_again): counted; 1
 * if it is to be looked at again, evq_read_wait(ep->readfails - 1)
 * seconds later (1, 2, 4 ... then every 60 s); 0 if its file is at
 * fault (EVQ_AGAIN_FILE, a read error) and its evq_read_tries() looks
 * are spent (about an hour, as for a file a start could not read): to
 * be given up.  No descriptor or memory (EVQ_AGAIN_NOW) says nothing of
 * the file: looked at again for as long as it takes.
 */
int
evq_read_failed(struct endpoint *ep, int again)
{
	if (again == EVQ_AGAIN_NOW)
		ep->readwaits++;
	else if (ep->readfaults >= evq_read_tries())
		return (0);
	else
		ep->readfaults++;
	if (ep->readfails < INT_MAX)
		ep->readfails++;
	return (1);
}

/* ep's first event read (or given up): its looks start again at 0 */
void
evq_read_ok(struct endpoint *ep)
{
	ep->readfails = ep->readfaults = 0;
}

/*
 * Event it, first in ep's queue, cannot be read now (again): 1 if it
 * is looked at again later (evq_read_failed); 0 if those looks are
 * spent and it was given up
 */
static int
item_unreadable(struct endpoint *ep, struct evitem *it, int again)
{
	if (!evq_read_failed(ep, again)) {
		evq_item_giveup(ep, it);
		return (0);
	}
	strlcpy(ep->last_error, "cannot read the spool now",
	    sizeof(ep->last_error));
	ep_arm(ep, evq_read_wait(ep->readfails - 1) * 1000, 1);
	return (1);
}

/* the next thing to send: a reloaded batch, a new batch, or one event */
static struct evbatch *
ep_next(struct endpoint *ep, int force)
{
	struct evbatchq	*q;
	struct evbatch	*b;
	struct evitem	*it;
	struct evitemlist taken;
	json_t		*o, *batch;
	char		*s;
	size_t		 cap, len, bytes;
	int		 n, again;

	if ((q = TAILQ_FIRST(&ep->batches)) != NULL) {
		TAILQ_REMOVE(&ep->batches, q, entry);
		b = q->b;
		free(q);
		return (b);
	}
	while ((it = TAILQ_FIRST(&ep->items)) != NULL) {
		if (ep->format == EVFMT_EVENTS && !force &&
		    ep->nitems < (size_t)ep->batch_max)
			return (NULL);
		if ((b = calloc(1, sizeof(*b))) == NULL ||
		    (b->records = json_array()) == NULL) {
			free(b);
			return (NULL);
		}
		if (ep->format != EVFMT_EVENTS) {
			if ((o = evq_item_load(ep, it, &again)) == NULL &&
			    again) {
				evq_batch_free(b);
				if (item_unreadable(ep, it, again))
					return (NULL);
				continue;
			}
			if (o != NULL) {
				evq_read_ok(ep);
				json_array_append_new(b->records, o);
				batch_take_text(b, 1, o, it);
			}
			evq_item_unqueue(ep, it);
			if (o == NULL) {
				evq_item_free(it, 0);
				evq_batch_free(b);
				continue;
			}
			strlcpy(b->id, it->id, sizeof(b->id));
			b->item = it;
			return (b);
		}
		/* format events: persist a batch of up to batch_max */
		TAILQ_INIT(&taken);
		make_batch_id(b->id);
		snprintf(b->name, sizeof(b->name), "b-%s.json", b->id);
		evq_made(ep, b->name);
		cap = ep->nitems < (size_t)ep->batch_max ? ep->nitems :
		    (size_t)ep->batch_max;
		for (n = 0, bytes = 0; n < ep->batch_max &&
		    bytes < EV_BATCH_BYTES &&
		    (it = TAILQ_FIRST(&ep->items)) != NULL; n++) {
			/* one that cannot be read now ends the batch, and
			 * stays first in the queue */
			if ((o = evq_item_load(ep, it, &again)) == NULL &&
			    again)
				break;
			if (o != NULL) {
				evq_read_ok(ep);
				bytes += item_len(it, o);
				json_array_append_new(b->records, o);
				batch_take_text(b, cap, o, it);
			}
			evq_item_unqueue(ep, it);
			if (o == NULL) {
				evq_item_free(it, 0);	/* quarantined */
				continue;
			}
			TAILQ_INSERT_TAIL(&taken, it, entry);
		}
		if (TAILQ_EMPTY(&taken)) {
			evq_batch_free(b);
			if (!again || !item_unreadable(ep, it, again))
				continue;
			return (NULL);
		}
		batch = NULL;
		if ((s = batch_file_text(b, &len)) == NULL) {
			batch = json_pack("{s:s,s:O}", "batch", b->id,
			    "events", b->records);
			if (batch != NULL && (s = json_dumps(batch,
			    JSON_COMPACT)) != NULL)
				len = strlen(s);
		}
		if (s == NULL || file_replace_in(ep->dir, b->name, s, len,
		    FR_GROUP) == -1) {
			/* keep the events where they were, try again later */
			log_warn("events: cannot persist batch %s/%s", ep->dir,
			    b->name);
			evq_remove_file(ep, b->name);
			while ((it = TAILQ_LAST(&taken, evitemlist)) != NULL) {
				TAILQ_REMOVE(&taken, it, entry);
				TAILQ_INSERT_HEAD(&ep->items, it, entry);
				ep->nitems++;
			}
			free(s);
			json_decref(batch);
			evq_batch_free(b);
			ep_defer(ep, "cannot write the spool");
			return (NULL);
		}
		free(s);
		json_decref(batch);
		/* sent once the group commit has it, off the loop */
		TAILQ_INIT(&b->taken);
		TAILQ_CONCAT(&b->taken, &taken, entry);
		b->syncing = 1;
		gsync_then(batch_durable, ep);
		return (b);
	}
	return (NULL);
}

static void
ep_arm(struct endpoint *ep, long ms, int backoff)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	ep->timer_backoff = backoff;
	ep->next_attempt = time(NULL) + (ms + 999) / 1000;
	evtimer_add(ep->timer, &tv);
}

/*
 * An endpoint with a secret whose request cannot be signed (a secret
 * that decodes to no key, no memory): not sent unsigned, which its
 * receiver would refuse, or take from anyone if it does not check; the
 * batch stays, tried again as after a failure, until its lifetime.
 */
static void
ep_sign_failed(struct endpoint *ep)
{
	long	ms;

	ep->attempts++;
	ep->failures++;
	strlcpy(ep->last_error, "cannot sign the request",
	    sizeof(ep->last_error));
	/* as a failed request (ep_done): show hooks and the history say so */
	ihist_event_post(ep->cur->records, ep->pub, 0, 0, "deferred",
	    ep->last_error, ep->attempts);
	if (evq_expire(ep) == 1) {
		evq_kick(ep);
		return;
	}
	ms = retry_delay_ms(ep->attempts);
	log_warnx("batch=%s events=%zu url=%s attempt=%d retry=%ldms "
	    "result=deferred error=\"%s\": not sent unsigned", ep->cur->id,
	    json_array_size(ep->cur->records), ep->pub, ep->attempts, ms,
	    ep->last_error);
	ep_arm(ep, ms, 1);
}

static void
ep_send(struct endpoint *ep)
{
	struct event_record	*evs, **pevs;
	struct http_request	 req;
	struct sign_headers	 sh;
	struct evbatch		*b = ep->cur;
	const char		*ctype;
	char			*body = NULL;
	size_t			 n, i, len;
	json_t			*r;
	int			 rc;

	n = json_array_size(b->records);
	evs = calloc(n, sizeof(*evs));
	pevs = calloc(n, sizeof(*pevs));
	if (evs == NULL || pevs == NULL)
		fatal("events: calloc");
	json_array_foreach(b->records, i, r) {
		if (mh_event_from_json(&evs[i], r) == -1)
			fatalx("events: record changed under us");
		pevs[i] = &evs[i];
	}
	rc = events_render(ep->format, (const struct event_record *const *)pevs,
	    n, &body, &len, &ctype);
	for (i = 0; i < n; i++)
		mh_event_clear(&evs[i]);
	free(evs);
	free(pevs);
	if (rc != 0) {
		/* cannot happen for what submit accepted: keep, say so */
		log_warnx("events: %s: cannot render %s", ep->pub, b->id);
		free(body);
		batch_quarantine(ep, b);
		evq_batch_free(b);
		ep->cur = NULL;
		evq_kick(ep);
		return;
	}

	http_request_body(&req, ep->url, &ep->headers, ctype, body, len);
	req.timeout = ep->timeout;
	req.max_redirects = 3;
	/* the events go to the origin configured, signed, nowhere else */
	req.same_origin = 1;
	/* a 2xx whose body was cut short: delivered, as Svix, Stripe */
	req.status_enough = 1;
	req.allow_private = ev_allow_private;
	req.concurrency = 0;	/* one request per endpoint anyway */
	if (ep->secret[0] != '\0' &&
	    http_request_sign(&req, ep->secret, b->id, &sh) == -1) {
		free(body);
		ep_sign_failed(ep);
		return;
	}
	if (ep->secret[0] == '\0') {
		/* unsigned, the id still tells a retry from a new request
		 * (format failures has no other event id) */
		(void)snprintf(sh.id, sizeof(sh.id), "webhook-id: %s", b->id);
		req.extra_headers[0] = sh.id;
	}
	ep->last_attempt = time(NULL);
	ep->next_attempt = 0;
	clock_gettime(CLOCK_MONOTONIC, &ep->sent);
	ep->call = http_post(&req, ep_done, ep);
	free(body);
	if (ep->call == NULL) {
		ep->attempts++;
		strlcpy(ep->last_error, "out of memory",
		    sizeof(ep->last_error));
		ep_arm(ep, retry_delay_ms(ep->attempts), 1);
	}
}

void
evq_kick(struct endpoint *ep)
{
	struct timespec	 now;
	struct evitem	*it;
	long		 waited;
	int		 force = 0;

	if (!ep->configured) {
		evtimer_del(ep->timer);
		ep->timer_backoff = 0;
		/* one that cannot be read now is looked at sooner at first */
		if (evq_retire(ep) == -1)
			ep_arm(ep, ep->readfails > 0 ?
			    evq_read_wait(ep->readfails - 1) * 1000 : 60 * 1000,
			    1);
		else
			evq_endpoint_forget(ep);
		return;
	}
	if (ep->disabled || ep->call != NULL || ep->asking)
		return;
	if (evtimer_pending(ep->timer, NULL)) {
		/* a batch wait ends early once the batch is full */
		if (ep->timer_backoff || ep->nitems < (size_t)ep->batch_max)
			return;
		evtimer_del(ep->timer);
	}
	if (ep->cur == NULL) {
		if (ep->format == EVFMT_EVENTS && TAILQ_EMPTY(&ep->batches) &&
		    (it = TAILQ_FIRST(&ep->items)) != NULL) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			waited = (now.tv_sec - it->ts.tv_sec) * 1000 +
			    (now.tv_nsec - it->ts.tv_nsec) / 1000000;
			if (waited >= ep->batch_wait)
				force = 1;
			else if (ep->nitems < (size_t)ep->batch_max) {
				ep_arm(ep, ep->batch_wait - waited, 0);
				return;
			}
		}
		if ((ep->cur = ep_next(ep, force)) == NULL)
			return;
	}
	if (ep->cur->syncing)
		return;		/* batch_durable() kicks again */
	if (!ep->cur->asked) {
		switch (delivered_check(ep->key, ep->cur->records, ep_checked,
		    ep)) {
		case 0:
			ep->cur->asked = 1;
			ep->asking = 1;
			return;
		case 1:
			ep_arm(ep, 200, 0);
			return;
		default:
			ep->cur->asked = 1;
			break;
		}
	}
	ep_send(ep);
}

/* what another node delivered is left out; nothing left, nothing sent */
static void
ep_checked(void *arg, const char *seen)
{
	struct endpoint	*ep = arg;
	struct evbatch	*b = ep->cur;
	size_t		 i, n, left;

	ep->asking = 0;
	if (seen != NULL) {
		n = json_array_size(b->records);
		for (i = n; i-- > 0; )
			if (seen[i])
				json_array_remove(b->records, i);
		if ((left = json_array_size(b->records)) < n)
			log_info("events: %s: %s: %zu of %zu events delivered "
			    "by the cluster already, not sent again", ep->pub,
			    b->id, n - left, n);
		if (left == 0) {
			ep_delivered(ep);
			evq_kick(ep);
			return;
		}
	}
	if (!ep->configured) {
		evq_kick(ep);		/* removed meanwhile */
		return;
	}
	ep_send(ep);
}

/*
 * A disabled endpoint's timer: its lifetime's next pass (a wait as a
 * retry's, ended by "hooks retry" or a reload), no attempt shown.
 */
void
evq_gone_arm(struct endpoint *ep, long secs)
{
	ep_arm(ep, secs * 1000, 1);
	ep->next_attempt = 0;
}

void
evq_timer(int fd, short what, void *arg)
{
	struct endpoint	*ep = arg;

	ep->timer_backoff = 0;
	if (ep->disabled && ep->configured) {
		evq_gone_arm(ep, evq_gone_expire(ep));
		return;
	}
	evq_kick(ep);
}

static void
ep_delivered(struct endpoint *ep)
{
	struct evbatch	*b = ep->cur;

	evq_batch_gone(ep, b);
	ep->delivered += json_array_size(b->records);
	evq_batch_free(b);
	ep->cur = NULL;
	ep->attempts = 0;
	ep->last_error[0] = '\0';
}

/*
 * One line per event of a delivered batch, so that grepping a message's
 * id finds the events made of it:
 * msgid=… event=… kind=… to=<…> url=… status=200 time=…ms
 */
static void
ep_log_delivered(const struct endpoint *ep, long status, long ms)
{
	const json_t	*r;
	char		 to[LOG_ADDR_MAX];
	const char	*q, *id, *kind;
	size_t		 i;

	json_array_foreach(ep->cur->records, i, r) {
		q = json_string_value(json_object_get(r, "queue_id"));
		id = json_string_value(json_object_get(r, "id"));
		kind = json_string_value(json_object_get(r, "kind"));
		log_addr(to, sizeof(to), json_string_value(
		    json_object_get(r, "recipient")) ? json_string_value(
		    json_object_get(r, "recipient")) : "");
		log_info("msgid=%s event=%s kind=%s to=<%s> url=%s status=%ld "
		    "time=%ldms", q && q[0] ? q : "-", id ? id : "-",
		    kind ? kind : "-", to, ep->pub, status, ms);
	}
}

/* milliseconds since the request was sent */
static long
ep_elapsed(const struct endpoint *ep)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - ep->sent.tv_sec) * 1000 +
	    (now.tv_nsec - ep->sent.tv_nsec) / 1000000);
}

static void
ep_done(const struct http_response *res, void *arg)
{
	struct endpoint	*ep = arg;
	struct evtext	*texts;
	long		 ms, ra, took = ep_elapsed(ep);

	ep->call = NULL;
	/* a status line cut short (a body too slow, a lone 1xx) still counts */
	ep->last_status = res->error == HTTP_OK ? res->status : res->answered;
	if (res->error == HTTP_OK && res->status >= 200 && res->status < 300) {
		ep_log_delivered(ep, res->status, took);
		ihist_event_post(ep->cur->records, ep->pub, res->status, took,
		    "delivered", "", ep->attempts + 1);
		if (ev_logger != NULL) {
			texts = batch_texts(ep->cur);
			ev_logger(ep->key, ep->cur->records, texts);
			free(texts);
		}
		delivered_mark(ep->key, ep->cur->records);
		evq_held_delivered(ep, ep->cur->records);
		ep_delivered(ep);
		evq_kick(ep);
		return;
	}
	ep->attempts++;
	ep->failures++;
	if (res->error == HTTP_OK)
		snprintf(ep->last_error, sizeof(ep->last_error), "HTTP %ld",
		    res->status);
	else
		(void)!snprintf(ep->last_error, sizeof(ep->last_error),
		    "%s: %.200s", http_strerror(res->error), res->errstr);
	if (!ep->configured) {
		evq_kick(ep);		/* removed meanwhile */
		return;
	}
	if (res->error == HTTP_OK && res->status == 410) {
		log_warnx("events: %s answered 410 Gone: endpoint disabled "
		    "until its block changes or hooks retry, backlog "
		    "kept, its events dead letters (reason=gone) once older "
		    "than its lifetime", ep->pub);
		ep->disabled = 1;
		strlcpy(ep->gone, ep->conf, sizeof(ep->gone));
		(void)evq_endpoint_persist(ep);	/* a restart keeps it */
		evq_gone_arm(ep, evq_gone_expire(ep));
		return;
	}
	ihist_event_post(ep->cur->records, ep->pub, ep->last_status, took,
	    "deferred", ep->last_error, ep->attempts);
	if (evq_expire(ep) == 1) {
		evq_kick(ep);
		return;
	}
	ms = retry_delay_ms(ep->attempts);
	if (res->error == HTTP_OK && res->retry_after >= 0) {
		ra = res->retry_after > HOOK_RETRY_AFTER_MAX ?
		    HOOK_RETRY_AFTER_MAX : res->retry_after;
		if (ra * 1000 > ms)
			ms = ra * 1000;
	}
	log_info("batch=%s events=%zu url=%s status=%ld time=%ldms attempt=%d "
	    "retry=%ldms result=deferred error=\"%s\"", ep->cur->id,
	    json_array_size(ep->cur->records), ep->pub, ep->last_status, took,
	    ep->attempts, ms, ep->last_error);
	ep_arm(ep, ms, 1);
}

/* --- configuration ---------------------------------------------------- */

/* allow private-addresses, for the requests to come (events_configure) */
void
evq_set_allow_private(int allow)
{
	ev_allow_private = allow;
}

/* --- the event log (evlog.c) ---------------------------------------- */

void
events_set_logger(events_log_fn fn)
{
	ev_logger = fn;
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the durable event queue: its endpoints, their files, what is
 * loaded back and what is submitted (evsend.c delivers it).
 *
 * Spool layout, under <spool>/events/:
 *
 *	<key>/endpoint.json		{"url":..., "format":...,
 *					"gone":<block digest>, if disabled
 *					by a 410 Gone}
 *	<key>/e-<time>-<stamp>-<eventid>.json	one pending event
 *					(mh_event_to_json); stamp: when it
 *					was queued, in ns, so that a reload
 *					keeps the order of one second's
 *	<key>/s-<time>-<eventid>.json	format events: a segment, the
 *					pending events a line each (evseg.c)
 *	<key>/d-s-<time>-<eventid>.json	the segment's done marker: the
 *					ids of its events a batch file
 *					held, a line each (evseg.c)
 *	<key>/b-<batchid>.json		a formed batch (format events):
 *					{"batch":id, "events":[records]}
 *
 * <key> is 16 hex digits of SHA-256("format url"), so an endpoint keeps
 * its backlog across reloads and restarts; one no block names any more
 * gives its backlog to the dead letters (evq_retire), then its directory
 * goes (evq_endpoint_forget).  An event file is written to
 * a temporary name and renamed; the group commit (gsync.h) makes it
 * durable, and only then is it queued for delivery and acknowledged to
 * relayd.  Other files are fsynced, and their directory, at once.  A
 * batch is persisted before its events' files are removed, so its events
 * never land in another batch and its webhook-id (the batch id) is
 * stable across retries and restarts; at load time events already inside
 * a batch file are skipped.
 *
 * Delivery (evsend.c): one request at a time per endpoint, in order.
 * 2xx: done, the file is removed.  410: the endpoint is disabled until
 * its block changes or
 * "hooks retry", across reloads and restarts (endpoint.json keeps the
 * digest of the block that was, endpoint_conf); its backlog is kept, and
 * new events too, until its lifetime makes them dead letters,
 * reason=gone (evq_gone_expire).  Anything else (other
 * status, timeout, connection failure): retried with exponential backoff
 * and +-20% jitter, Retry-After honoured, until the endpoint's lifetime
 * makes the event a dead letter (dead.c); nothing is dropped.  A file that
 * cannot be parsed is renamed "bad-..." and logged, never silently
 * removed.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
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

#define EV_KEY_LEN	EVENTS_KEY_LEN
#define EV_BATCH_FILE_MAX (64 * 1024 * 1024)
/*
 * A queued event keeps its record in memory, and its text (at most
 * EV_TEXT_MAX) for the batch file and the event log, while its endpoint
 * has them in less than EV_MEM_BYTES; the others are read back from the
 * spool when sent (evq_item_load).  A record costs about its text and
 * 2 KiB of jansson's objects (a delivery event's 356 bytes of text took
 * 2,384 bytes).  Counted in bytes, not events: a dead endpoint's backlog
 * keeps at most this much of records, whatever the size of its events;
 * each event's place in the queue (struct evitem, 112 bytes for one of
 * a segment) is kept besides, until its lifetime ends.
 */
#define EV_MEM_BYTES	(1024 * 1024)	/* per endpoint */
#define EV_REC_COST(len) ((len) + 2048)
#define EV_TEXT_MAX	2048
#define EV_SEG_MAX	(1024 * 1024)	/* a segment this big is written */
#define EV_POOL_MAX	64		/* segment files kept for reuse */
/*
 * A removed endpoint's directory still holding segments is looked at
 * again 1, 2, 4... seconds later, this many times (31 s in all), then
 * left (evq_endpoint_forget).
 */
#define EV_FORGET_LOOKS	5
/* a segment a start could not read now is loaded again 1, 2, 4... up to
 * this many seconds later (seg_retry) */
#define EV_SEGWAIT_MAX	60
/*
 * and this many times (1 + 2 + ... + 32 s, then every 60 s: about an
 * hour): a file that still cannot be read then for its own sake (a bad
 * block's EIO, EVQ_AGAIN_FILE) is kept aside (bad-), so that the
 * endpoint's other files are loaded; no descriptor or memory
 * (EVQ_AGAIN_NOW) is not counted: read again for as long as it takes
 */
#define EV_SEGWAIT_TRIES	64

/* EV_SEGWAIT_TRIES; the tests lower it (events_set_segwait_tries) */
static int			 evq_segwait_tries = EV_SEGWAIT_TRIES;
/*
 * The names of the files an endpoint makes while its directory is not
 * listed (evq_made) are recorded up to this many (about 150 bytes
 * each), then no more: over hours of EMFILE they grew without end.
 * Past it, the listing leaves out the files of the events the endpoint
 * has in memory (ep_known) instead: all were made meanwhile.
 */
#define EV_MADE_MAX		16384
/* EV_MADE_MAX; the tests lower it (events_set_made_max) */
static int			 evq_made_max = EV_MADE_MAX;

static struct event_base	*ev_base;
static char			 ev_root[PATH_MAX];
/* kept for the process's life: gsync's thread releases into it */
struct filepool			*evq_pool;
struct endpointlist	 evq_endpoints = TAILQ_HEAD_INITIALIZER(evq_endpoints);
static void			(*ev_monitor)(const json_t *);

/*
 * The ids an endpoint holds: of the events stored for it lately (made
 * durable for it, reloaded from its spool, and at start those it
 * accepted last, evlog.c): a copy relayd sends again (its ack not
 * seen: a restart of relayd, or hookd stopped for longer than
 * OUTBOX_RESEND) is stored for the endpoints that do not hold it, and
 * acknowledged once all that want it do.  The last EV_HELD_MAX of each
 * endpoint are kept, as 16 bytes each (the id's 32 hex digits; another
 * spelling, its SHA-256's first 16 bytes) in a ring, found through an
 * open-addressing table of ring positions twice as large: 160 KiB per
 * endpoint, made at its first event, freed once it is no longer
 * configured and has nothing queued (evq_endpoint_forget).  An older
 * one sent again is queued again for it, as a new event (receivers
 * de-duplicate by id).  One sent again while its first copy is still
 * being stored waits for that one (struct submit's waiters, storing).
 */
#define EV_HELD_MAX	8192
#define EV_HELD_SLOTS	(2 * EV_HELD_MAX)	/* a power of two */
#define EV_HELD_KEY	16
struct evheld {
	size_t		 pos, n;
	/* ring position + 1; 0: empty */
	uint16_t	 slot[EV_HELD_SLOTS];
	unsigned char	 ring[EV_HELD_MAX][EV_HELD_KEY];
};

static void	item_uncache(struct endpoint *, struct evitem *);

/* --- files ------------------------------------------------------------ */

/* dir/prefixname into buf; -1 if it does not fit */
int
evq_path_join(char *buf, size_t len, const char *dir, const char *prefix,
    const char *name)
{
	int	n;

	n = snprintf(buf, len, "%s/%s%s", dir, prefix, name);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/*
 * The JSON of file dir/name (at most max bytes), or NULL: unreadable, or,
 * *again set (if again is not NULL), it cannot be read now, to be read
 * again later (evseg_again: EVQ_AGAIN_NOW no descriptor or memory,
 * EVQ_AGAIN_FILE a read that failed after its open, EIO).  A FIFO, a
 * directory, a socket or a symbolic link is not opened for reading
 * (file_open_regular): NULL, errno EFTYPE, for the caller to put it
 * out of the way (else it is looked at, and logged, again and again).
 */
json_t *
evq_read_json(const char *dir, const char *name, size_t max, int *again)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	json_error_t	 err;
	json_t		*o;
	FILE		*fp;
	int		 fd, e;

	if (again != NULL)
		*again = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return (NULL);
	}
	if ((fd = file_open_regular(AT_FDCWD, path, &st)) == -1) {
		if (again != NULL && evseg_open_again(errno))
			*again = evseg_again(path, errno);
		else if (errno == EFTYPE) {
			log_warnx("events: %s: not a regular file", path);
			errno = EFTYPE;
		} else
			log_warn("events: %s", path);
		return (NULL);
	}
	if ((size_t)st.st_size > max) {
		log_warnx("events: %s: not a regular file or too large", path);
		close(fd);
		/* not EFTYPE, left by an earlier file: a letter so large is
		 * none, but it stays (dead_load) */
		errno = EFBIG;
		return (NULL);
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		if (again != NULL)
			*again = evseg_again(path, errno);
		else
			log_warn("events: %s", path);
		close(fd);
		return (NULL);
	}
	errno = 0;
	o = json_loadf(fp, JSON_REJECT_DUPLICATES, &err);
	e = errno;
	/* a read, or memory, that failed in the middle: read again (errno
	 * says whether the file may be at fault) */
	if (o == NULL && again != NULL && (ferror(fp) ||
	    json_error_code(&err) == json_error_out_of_memory))
		*again = evseg_again(path, !ferror(fp) ? ENOMEM :
		    e != 0 ? e : EIO);
	else if (o == NULL)
		log_warnx("events: %s: %s", path, err.text);
	fclose(fp);
	return (o);
}

int
evq_aside(const char *dir, const char *name, char *to, size_t tolen)
{
	char	from[PATH_MAX];

	if (evq_path_join(from, sizeof(from), dir, "", name) == -1 ||
	    evq_path_join(to, tolen, dir, "bad-", name) == -1 ||
	    rename(from, to) == -1) {
		log_warn("events: rename %s/%s", dir, name);
		return (-1);
	}
	return (0);
}

/* keep what cannot be parsed, out of the way, and say so; -1 if not */
int
evq_quarantine(struct endpoint *ep, const char *name)
{
	char	to[PATH_MAX];

	if (evq_aside(ep->dir, name, to, sizeof(to)) == -1)
		return (-1);
	log_warnx("events: %s/%s: unreadable, kept as %s", ep->dir, name, to);
	return (0);
}

void
evq_remove_file(struct endpoint *ep, const char *name)
{
	char	path[PATH_MAX];

	if (evq_path_join(path, sizeof(path), ep->dir, "", name) == -1 ||
	    (unlink(path) == -1 && errno != ENOENT))
		log_warn("events: unlink %s", path);
}

/* --- the ids an endpoint holds ---------------------------------------- */

/* the 16 bytes an id is held as; -1 if it is no id */
static int
held_key(const char *id, unsigned char key[EV_HELD_KEY])
{
	unsigned char	md[MH_SHA256_LEN];
	char		hex[33];
	size_t		i, n = 0;

	if (strlen(id) != EVENT_ID_LEN - 1)
		return (-1);
	for (i = 0; id[i] != '\0' && n < sizeof(hex) - 1; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (id[i] != '-')
				break;
		} else
			hex[n++] = id[i];
	hex[n] = '\0';
	if (id[i] == '\0' && n == 32 && mh_unhex(key, hex, EV_HELD_KEY) == 0)
		return (0);
	mh_sha256(id, strlen(id), md);
	memcpy(key, md, EV_HELD_KEY);
	return (0);
}

static size_t
held_home(const unsigned char key[EV_HELD_KEY])
{
	uint32_t	v;

	memcpy(&v, key + 4, sizeof(v));
	return ((v * 2654435761U) >> 18 & (EV_HELD_SLOTS - 1));
}

/* the table slot of key, or of the empty slot where it would go */
static size_t
held_slot(const struct evheld *h, const unsigned char key[EV_HELD_KEY])
{
	size_t	i;

	for (i = held_home(key); h->slot[i] != 0;
	    i = (i + 1) & (EV_HELD_SLOTS - 1))
		if (memcmp(h->ring[h->slot[i] - 1], key, EV_HELD_KEY) == 0)
			break;
	return (i);
}

/* table slot i empties: the entries after it move back (linear probing) */
static void
held_unslot(struct evheld *h, size_t i)
{
	size_t	j = i, k;

	for (;;) {
		j = (j + 1) & (EV_HELD_SLOTS - 1);
		if (h->slot[j] == 0)
			break;
		k = held_home(h->ring[h->slot[j] - 1]);
		/* k not cyclically in (i, j]: it may move to i */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->slot[i] = h->slot[j];
		i = j;
	}
	h->slot[i] = 0;
}

static int
held_has(const struct endpoint *ep, const char *id)
{
	unsigned char	key[EV_HELD_KEY];

	if (ep->held == NULL || held_key(id, key) == -1)
		return (0);
	return (ep->held->slot[held_slot(ep->held, key)] != 0);
}

/* id is stored for ep; the oldest goes if EV_HELD_MAX are held (if
 * evict, else nothing is added); -1 if not added */
static int
held_put(struct endpoint *ep, const char *id, int evict)
{
	struct evheld	*h;
	unsigned char	 key[EV_HELD_KEY];
	size_t		 i;

	if (held_key(id, key) == -1)
		return (-1);
	if (ep->held == NULL && (ep->held = calloc(1, sizeof(*h))) == NULL)
		return (-1);
	h = ep->held;
	if (h->slot[held_slot(h, key)] != 0)
		return (0);
	if (h->n == EV_HELD_MAX && !evict)
		return (-1);
	if (h->n == EV_HELD_MAX)
		held_unslot(h, held_slot(h, h->ring[h->pos]));
	memcpy(h->ring[h->pos], key, EV_HELD_KEY);
	i = held_slot(h, key);
	h->slot[i] = h->pos + 1;
	h->pos = (h->pos + 1) % EV_HELD_MAX;
	if (h->n < EV_HELD_MAX)
		h->n++;
	return (0);
}

static void
held_add(struct endpoint *ep, const char *id)
{
	(void)held_put(ep, id, 1);
}

int
events_held_room(const char *key)
{
	struct endpoint	*ep;

	if ((ep = evq_endpoint_find(key)) == NULL)
		return (0);
	return (ep->held == NULL ? EV_HELD_MAX : EV_HELD_MAX - ep->held->n);
}

int
events_held_seed(const char *key, const char *id)
{
	struct endpoint	*ep;

	if ((ep = evq_endpoint_find(key)) == NULL)
		return (-1);
	return (held_put(ep, id, 0));
}

static void
held_free(struct endpoint *ep)
{
	json_decref(ep->unsynced);
	ep->unsynced = NULL;
	if (ep->held == NULL)
		return;
	free(ep->held);
	ep->held = NULL;
}

/*
 * id was stored for ep but its flush failed: not held (relayd, without
 * an ack, sends it again, and that copy must be stored durably), but
 * noted, EV_HELD_MAX at most (then the older go), so that once
 * delivered it is held: a copy sent again after that is acknowledged,
 * not stored and sent a second time (delivered, nothing of it is left
 * to lose)
 */
static void
held_unsynced(struct endpoint *ep, const char *id)
{
	if (ep->unsynced == NULL && (ep->unsynced = json_object()) == NULL)
		return;
	/* full of ids never delivered (dead letters, removed): they go,
	 * not the new ones (a copy of theirs may be sent twice) */
	if (json_object_size(ep->unsynced) >= EV_HELD_MAX)
		json_object_clear(ep->unsynced);
	json_object_set_new(ep->unsynced, id, json_true());
}

/* records were delivered to ep: those whose flush failed are held now */
void
evq_held_delivered(struct endpoint *ep, const json_t *records)
{
	const json_t	*r;
	const char	*id;
	size_t		 i;

	if (ep->unsynced == NULL || json_object_size(ep->unsynced) == 0)
		return;
	json_array_foreach(records, i, r)
		if ((id = json_string_value(json_object_get(r, "id"))) !=
		    NULL && json_object_del(ep->unsynced, id) == 0)
			held_add(ep, id);
}

/* --- endpoints ------------------------------------------------------------ */

const char *
evq_format_name(enum event_format f)
{
	switch (f) {
	case EVFMT_EVENTS:
		return ("events");
	case EVFMT_FAILURES:
		return ("failures");
	case EVFMT_CALLBACK:
		return ("callback");
	}
	return ("?");
}

static int
format_from_name(const char *s, enum event_format *f)
{
	if (strcmp(s, "events") == 0)
		*f = EVFMT_EVENTS;
	else if (strcmp(s, "failures") == 0)
		*f = EVFMT_FAILURES;
	else if (strcmp(s, "callback") == 0)
		*f = EVFMT_CALLBACK;
	else
		return (-1);
	return (0);
}

static void
endpoint_key(enum event_format f, const char *url, char key[EV_KEY_LEN])
{
	unsigned char	 md[MH_SHA256_LEN];
	char		 buf[MH_URL_MAX + 16];

	snprintf(buf, sizeof(buf), "%s %s", evq_format_name(f), url);
	mh_sha256(buf, strlen(buf), md);
	mh_hex(key, md, (EV_KEY_LEN - 1) / 2);
}

static void
headers_free(struct headerlist *hl)
{
	struct header	*h;

	while ((h = TAILQ_FIRST(hl)) != NULL) {
		TAILQ_REMOVE(hl, h, entry);
		free(h->name);
		free(h->value);
		free(h);
	}
}

static int
headers_copy(struct headerlist *dst, const struct headerlist *src)
{
	struct header	*h, *n;

	TAILQ_FOREACH(h, src, entry) {
		if ((n = calloc(1, sizeof(*n))) == NULL ||
		    (n->name = strdup(h->name)) == NULL ||
		    (n->value = strdup(h->value)) == NULL) {
			if (n != NULL)
				free(n->name);
			free(n);
			return (-1);
		}
		TAILQ_INSERT_TAIL(dst, n, entry);
	}
	return (0);
}

/*
 * What a block sets for its endpoint, as a digest in hex: a 410 Gone
 * disables the endpoint until it differs (its url and format are its key).
 */
static int
endpoint_conf(const struct events_block *eb, char out[2 * MH_SHA256_LEN + 1])
{
	unsigned char	 md[MH_SHA256_LEN];
	struct header	*h;
	json_t		*o, *hl;
	char		*s;

	if ((hl = json_array()) == NULL)
		return (-1);
	TAILQ_FOREACH(h, &eb->headers, entry)
		json_array_append_new(hl, json_pack("[s,s]", h->name,
		    h->value));
	o = json_pack("{s:I,s:s,s:o,s:i,s:i,s:i,s:i}", "kinds",
	    (json_int_t)eb->kinds, "secret", eb->secret, "headers", hl,
	    "timeout", eb->timeout, "batch_max", eb->batch_max,
	    "batch_wait", eb->batch_wait, "lifetime", eb->lifetime);
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		json_decref(o);
		return (-1);
	}
	json_decref(o);
	mh_sha256(s, strlen(s), md);
	mh_hex(out, md, sizeof(md));
	explicit_bzero(s, strlen(s));
	free(s);
	return (0);
}

struct endpoint *
evq_endpoint_find(const char *key)
{
	struct endpoint	*ep;

	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		if (strcmp(ep->key, key) == 0)
			return (ep);
	return (NULL);
}

static int	dir_unlisted(const char *);

static struct endpoint *
endpoint_new(const char *key, const char *url, enum event_format f)
{
	struct endpoint	*ep;

	if ((ep = calloc(1, sizeof(*ep))) == NULL)
		return (NULL);
	strlcpy(ep->key, key, sizeof(ep->key));
	if (evq_path_join(ep->dir, sizeof(ep->dir), ev_root, "", key) == -1) {
		free(ep);
		return (NULL);
	}
	strlcpy(ep->url, url, sizeof(ep->url));
	/* no password or token of the URL in any log line */
	config_url_public(url, ep->pub, sizeof(ep->pub));
	ep->format = f;
	ep->timeout = 30;
	ep->batch_max = 100;
	ep->batch_wait = 1000;
	TAILQ_INIT(&ep->headers);
	TAILQ_INIT(&ep->items);
	TAILQ_INIT(&ep->batches);
	if ((ep->timer = evtimer_new(ev_base, evq_timer, ep)) == NULL) {
		free(ep);
		return (NULL);
	}
	if (dir_unlisted(key) && (ep->made = json_object()) == NULL) {
		event_free(ep->timer);
		free(ep);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&evq_endpoints, ep, entry);
	return (ep);
}

/* make the directory and its endpoint.json for a configured endpoint */
int
evq_endpoint_persist(struct endpoint *ep)
{
	json_t	*o;
	char	*s;
	int	 rc;

	if (mkdir(ep->dir, 0700) == -1 && errno != EEXIST) {
		log_warn("events: mkdir %s", ep->dir);
		return (-1);
	}
	o = json_pack("{s:s,s:s}", "url", ep->url, "format",
	    evq_format_name(ep->format));
	if (o != NULL && ep->gone[0] != '\0' &&
	    json_object_set_new(o, "gone", json_string(ep->gone)) == -1) {
		json_decref(o);
		return (-1);
	}
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return (-1);
	}
	json_decref(o);
	rc = file_replace_in(ep->dir, "endpoint.json", s, strlen(s), FR_FSYNC);
	free(s);
	if (rc == 0)
		rc = fsync_dir(ep->dir);
	if (rc == 0)
		rc = fsync_dir(ev_root);
	if (rc == -1)
		log_warn("events: %s/endpoint.json", ep->dir);
	return (rc);
}

/*
 * An endpoint directory with nothing in it but its endpoint.json (or
 * not even that: a crash between the two steps) is removed, durably.
 * 1 removed; 0 it holds other files (a quarantined "bad-" one: kept to
 * be looked at); 2 it holds segment files (or their markers) and
 * nothing else of that kind, which go after the next flush (evseg.c
 * releases them through gsync_releaseat), so it may be removed then,
 * and seg (if not NULL)
 * gets the name of one; -1 an error (logged).
 */
static int
endpoint_dir_drop(const char *dir, char *seg, size_t seglen)
{
	char	**v;
	size_t	  n, i;
	char	  path[PATH_MAX];
	int	  other = 0, segs = 0;

	/* not listed: nothing known of what it holds, nothing removed */
	if (dir_names_at(AT_FDCWD, dir, NULL, NULL, &v, &n) == -1) {
		log_warn("events: list %s", dir);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if (strncmp(v[i], "s-", 2) == 0 ||
		    strncmp(v[i], "d-s-", 4) == 0) {
			if (segs++ == 0 && seg != NULL)
				strlcpy(seg, v[i], seglen);
		} else if (strcmp(v[i], "endpoint.json") != 0)
			other = 1;
	dir_names_free(v, n);
	if (other)
		return (0);
	if (segs)
		return (2);
	if (evq_path_join(path, sizeof(path), dir, "", "endpoint.json") == -1 ||
	    (unlink(path) == -1 && errno != ENOENT) ||
	    unlinkat(AT_FDCWD, dir, AT_REMOVEDIR) == -1 ||
	    fsync_dir(ev_root) == -1) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			return (2);	/* a file came meanwhile */
		log_warn("events: remove %s", dir);
		return (-1);
	}
	return (1);
}

/*
 * A segment still there once the flushes are long over is none of the
 * queue's (one that could not be removed): nothing removes it, so its
 * directory is left, as it is, and said so once.  A reload looks again,
 * and a start loads the segment (what no batch file holds is queued,
 * for evq_retire).
 */
static void
forget_stuck(struct endpoint *ep, const char *seg)
{
	log_warnx("events: %s (%s) is no longer configured and has nothing "
	    "queued, but its directory %s still holds %s after %d looks over "
	    "%ds: it is kept (looked at again at the next reload or start)",
	    ep->pub, evq_format_name(ep->format), ep->dir, seg,
	    EV_FORGET_LOOKS + 1, (1 << EV_FORGET_LOOKS) - 1);
}

static int	dirwait_has(const char *);
static int	root_unlisted(struct endpoint *);

/*
 * An endpoint no block names, whose events have all gone (delivered, or
 * dead letters, evq_retire): its directory goes, so that it is not
 * loaded again at every start; it stays listed, with its counters, until
 * hookd stops.  A block naming it again makes the directory anew.
 */
void
evq_endpoint_forget(struct endpoint *ep)
{
	struct timeval	tv = { 1, 0 };
	char		seg[NAME_MAX + 1];

	if (ep->configured || ep->forgotten || ep->call != NULL ||
	    ep->asking || ep->fill != NULL || ep->cur != NULL ||
	    ep->segwait != NULL || dirwait_has(ep->key) ||
	    evq_backlog(ep) > 0)
		return;
	/* nothing of it queued: the ids it held go too (a reload that
	 * names it again makes it as new) */
	held_free(ep);
	switch (endpoint_dir_drop(ep->dir, seg, sizeof(seg))) {
	case 1:
		ep->forgotten = 1;
		log_info("events: %s (%s) is no longer configured and has "
		    "nothing queued: its directory %s is removed", ep->pub,
		    evq_format_name(ep->format), ep->dir);
		break;
	case 2:
		/* its last segments go after the flush: again 1, 2, 4...
		 * seconds later (evq_timer, evq_kick), nothing shown as due */
		if (ep->forget_looks < EV_FORGET_LOOKS) {
			tv.tv_sec = 1L << ep->forget_looks++;
			evtimer_add(ep->timer, &tv);
		} else if (ep->forget_looks == EV_FORGET_LOOKS) {
			ep->forget_looks++;	/* said once */
			forget_stuck(ep, seg);
		}
		break;
	}
}

/* --- loading ------------------------------------------------------------ */

/* the event id inside "e-<time>-[<stamp>-]<id>.json" */
static int
item_name_id(const char *name, char id[EVENT_ID_LEN])
{
	const char	*p;
	size_t		 len;

	len = strlen(name);
	if (len < 2 + EVENT_ID_LEN + 5 || strcmp(name + len - 5, ".json") != 0)
		return (-1);
	p = name + len - 5 - (EVENT_ID_LEN - 1);
	if (p[-1] != '-')
		return (-1);
	memcpy(id, p, EVENT_ID_LEN - 1);
	id[EVENT_ID_LEN - 1] = '\0';
	return (0);
}

/*
 * Batch file name, read (o): its events are said to be in a persisted
 * batch (seen) only once the file is read whole and valid; a bad one is
 * kept aside (bad-) and its events are queued from their own files
 */
static struct evbatch *
batch_from_json(struct endpoint *ep, const char *name, json_t *o,
    json_t *seen)
{
	struct evbatch	*b;
	json_t		*a, *r;
	size_t		 i;
	const char	*id;
	struct event_record ev;

	id = json_string_value(json_object_get(o, "batch"));
	a = json_object_get(o, "events");
	if (id == NULL || strlen(id) != EVENT_ID_LEN - 1 || !json_is_array(a))
		return (NULL);
	json_array_foreach(a, i, r) {
		if (mh_event_from_json(&ev, r) == -1)
			return (NULL);
		mh_event_clear(&ev);
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (NULL);
	strlcpy(b->id, id, sizeof(b->id));
	strlcpy(b->name, name, sizeof(b->name));
	b->records = json_incref(a);
	json_array_foreach(a, i, r) {
		id = json_string_value(json_object_get(r, "id"));
		json_object_set_new(seen, id, json_true());
		held_add(ep, id);
	}
	return (b);
}

/*
 * A batch file of no event goes, said once: one of no bytes (b NULL:
 * not read yet) was cut by a crash before its flush, so none of its
 * events left its segment or its file, where loading finds them; one
 * read (b) of an empty list of events has nothing to send.  Queued, it
 * was taken for unreadable, kept aside (bad-) and logged as such.
 */
static int
batch_empty(struct endpoint *ep, const char *name, const struct evbatch *b)
{
	char		path[PATH_MAX];
	struct stat	st;

	if (b != NULL) {
		if (json_array_size(b->records) > 0)
			return (0);
	} else if (evq_path_join(path, sizeof(path), ep->dir, "",
	    name) == -1 || lstat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > 0)
		return (0);
	log_warnx("events: %s/%s: a batch file of no event%s: removed",
	    ep->dir, name, b != NULL ? "" : " (cut by a crash before its "
	    "flush: its events are loaded from their files)");
	evq_remove_file(ep, name);
	return (1);
}

struct seg_load {
	struct endpoint	*ep;
	json_t		*seen;
	int		 durable;	/* the batch files read are */
	int		 late;		/* after the start (seg_retry) */
	struct evitem	*after;		/* the last one it queued late */
};

/* the second its file (s-<time>-..., e-<time>-...) was made; 0 none */
static long long
item_file_time(const struct evitem *it)
{
	const char	*name = it->seg != NULL ? evseg_name(it->seg) :
			    it->name;

	return (name[0] != '\0' ? strtoll(name + 2, NULL, 10) : 0);
}

/*
 * A reloaded item joins the queue; it waited long enough, no delay.
 * One loaded late goes before those of files made after its own (newer
 * ones, submitted since the start too), after the others: in the order
 * of its file, as at start.
 */
static void
item_reloaded(struct seg_load *ld, struct evitem *it)
{
	struct endpoint	*ep = ld->ep;
	struct evitem	*at = NULL;
	long long	 t;

	held_add(ep, it->id);
	clock_gettime(CLOCK_MONOTONIC, &it->ts);
	it->ts.tv_sec -= ep->batch_wait / 1000 + 601;
	if (ld->late) {
		t = item_file_time(it);
		at = ld->after != NULL ? TAILQ_NEXT(ld->after, entry) :
		    TAILQ_FIRST(&ep->items);
		while (at != NULL && item_file_time(at) <= t)
			at = TAILQ_NEXT(at, entry);
		ld->after = it;
	}
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, it, entry);
	else
		TAILQ_INSERT_TAIL(&ep->items, it, entry);
	ep->nitems++;
}

/*
 * The segments of an endpoint that a start could not read now (no
 * descriptor, no memory: evseg_load), loaded again later (seg_retry)
 * with what the start knew of its batch files (seg_item), their events
 * queued then, in the order of their files among the others
 * (item_reloaded); before, they waited for the next start.  A batch
 * file that could not be read now waits too, and all the segments with
 * it: they are loaded once it is read, knowing its events, and so do
 * the events in files of their own (e-): one of them may be in that
 * batch, and be sent twice.  Its directory stays meanwhile
 * (evq_endpoint_forget).
 */
struct segwait {
	struct event	*ev;
	json_t		*names;		/* their file names */
	json_t		*batches;	/* the batch files' names */
	json_t		*own;		/* events' own files (e-), waiting
					   for the batch files too */
	struct seg_load	 ld;
	int		 tries;
	/* seg_retry's where a file failed for its own sake (EVQ_AGAIN_FILE,
	 * evq_segwait_tries) */
	int		 looks;
};

/* an event of a segment file, unless a persisted batch has it */
static int
seg_item(void *arg, struct evseg *seg, size_t idx, const char *id)
{
	struct seg_load	*ld = arg;
	struct evitem	*it;

	if (json_object_get(ld->seen, id) != NULL)
		return (ld->durable ? 0 : 2);
	if ((it = evq_item_new(id, "")) == NULL)
		fatal("events: calloc");
	it->seg = seg;
	it->idx = idx;
	item_reloaded(ld, it);
	return (1);
}

/*
 * The batch files a start found (read from the page cache, maybe, after
 * a kill -9 before their flush) are flushed before their events are
 * marked done in their segments (evseg_load) or their own files go: a
 * power failure then would find neither.  1 if they are durable.
 */
static int
batches_durable(struct endpoint *ep)
{
	struct evbatchq	*q;
	char		 path[PATH_MAX];
	int		 ok = 1;

	if (TAILQ_EMPTY(&ep->batches))
		return (1);
	TAILQ_FOREACH(q, &ep->batches, entry)
		if (evq_path_join(path, sizeof(path), ep->dir, "",
		    q->b->name) == -1 || fsync_file(path) == -1) {
			log_warn("events: fsync %s/%s", ep->dir, q->b->name);
			ok = 0;
		}
	if (fsync_dir(ep->dir) == -1) {
		log_warn("events: fsync %s", ep->dir);
		ok = 0;
	}
	return (ok);
}

/*
 * A done marker whose segment is gone (a crash between the two
 * removals) names nothing: it goes.  One whose segment waits for the
 * next flush to go is removed after it (evseg.c).  One whose segment
 * was kept aside (bad-) before a crash that came before the marker
 * followed it goes aside too: it says what of that segment was sent.
 */
static void
marks_orphaned(struct endpoint *ep)
{
	char		**v;
	char		  path[PATH_MAX];
	struct stat	  st;
	size_t		  n, i;

	v = dir_names(ep->dir, "d-", &n);
	for (i = 0; i < n; i++) {
		if (evq_path_join(path, sizeof(path), ep->dir, "",
		    v[i] + 2) == -1 || stat(path, &st) == 0 ||
		    errno != ENOENT)
			continue;
		if (evq_path_join(path, sizeof(path), ep->dir, "bad-",
		    v[i] + 2) == 0 && lstat(path, &st) == 0)
			evseg_mark_aside(ep->dir, v[i] + 2);
		else
			evq_remove_file(ep, v[i]);
	}
	dir_names_free(v, n);
}

static void
segwait_free(struct endpoint *ep)
{
	struct segwait	*w = ep->segwait;

	if (w == NULL)
		return;
	event_free(w->ev);
	json_decref(w->names);
	json_decref(w->batches);
	json_decref(w->own);
	json_decref(w->ld.seen);
	free(w);
	ep->segwait = NULL;
}

/*
 * Batch file name of ep: queued (or kept aside, or removed as empty),
 * its events in seen, 0; or EVQ_AGAIN_FILE or EVQ_AGAIN_NOW: it cannot
 * be read now (evq_read_json)
 */
static int
load_batch(struct endpoint *ep, const char *name, json_t *seen)
{
	struct evbatch	*b = NULL;
	struct evbatchq	*q;
	json_t		*o;
	int		 again;

	if (batch_empty(ep, name, NULL))
		return (0);
	if ((o = evq_read_json(ep->dir, name, EV_BATCH_FILE_MAX,
	    &again)) == NULL && again)
		return (again);
	if (o != NULL)
		b = batch_from_json(ep, name, o, seen);
	json_decref(o);
	if (b == NULL) {
		evq_quarantine(ep, name);
		return (0);
	}
	if (batch_empty(ep, name, b)) {
		evq_batch_free(b);
		return (0);
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("events: calloc");
	q->b = b;
	TAILQ_INSERT_TAIL(&ep->batches, q, entry);
	return (0);
}

/* segment name of ep: loaded (or kept aside), 0, or EVQ_AGAIN_FILE or
 * EVQ_AGAIN_NOW: not now (evseg_load) */
static int
load_segment(struct endpoint *ep, const char *name, struct seg_load *ld)
{
	int	rc;

	ld->after = NULL;	/* its events are queued from here */
	if ((rc = evseg_load(ep->dir, name, seg_item, ld)) == -1 &&
	    evq_quarantine(ep, name) == 0)
		evseg_mark_aside(ep->dir, name);
	return (rc > 0 ? rc : 0);
}

/* the event file name of ep (e-...), unless a persisted batch has it */
static void
load_own(struct endpoint *ep, const char *name, struct seg_load *ld)
{
	struct evitem	*it;
	char		 id[EVENT_ID_LEN];

	ld->after = NULL;
	if (item_name_id(name, id) == -1) {
		evq_quarantine(ep, name);
		return;
	}
	if (json_object_get(ld->seen, id) != NULL) {
		/*
		 * already in a persisted batch: crash after rename;
		 * kept while that batch is not known durable
		 */
		if (ld->durable)
			evq_remove_file(ep, name);
		return;
	}
	if ((it = evq_item_new(id, name)) == NULL)
		fatal("events: calloc");
	item_reloaded(ld, it);
}

static void	seg_retry(int, short, void *);
static void	endpoint_gone_check(struct endpoint *);

/* segment name of ep could not be read now (NULL: none, a batch file
 * could not): loaded again later */
static void
seg_later(struct endpoint *ep, const char *name, const struct seg_load *ld)
{
	struct segwait	*w;

	if ((w = ep->segwait) == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL ||
		    (w->names = json_array()) == NULL ||
		    (w->batches = json_array()) == NULL ||
		    (w->own = json_array()) == NULL ||
		    (w->ev = evtimer_new(ev_base, seg_retry, ep)) == NULL)
			fatal("events: seg_later");
		w->ld = *ld;
		w->ld.late = 1;
		json_incref(w->ld.seen);
		ep->segwait = w;
	}
	if (name != NULL &&
	    json_array_append_new(w->names, json_string(name)) == -1)
		fatal("events: seg_later");
}

static void
segwait_arm(struct endpoint *ep)
{
	struct segwait	*w = ep->segwait;
	struct timeval	 tv = { 1, 0 };

	tv.tv_sec = evq_read_wait(w->tries++);
	evtimer_add(w->ev, &tv);
}

void
events_set_segwait_tries(int n)
{
	evq_segwait_tries = n > 0 ? n : EV_SEGWAIT_TRIES;
}

/* how many looks at a file that cannot be read now before it goes aside */
int
evq_read_tries(void)
{
	return (evq_segwait_tries);
}

/* seconds before look n (from 0) at such a file: 1, 2, 4 ... 32, 60 */
long
evq_read_wait(int n)
{
	return (n >= 0 && n < 6 ? 1L << n : EV_SEGWAIT_MAX);
}

/*
 * File name of ep (a segment if seg) could still not be read at the
 * last of seg_retry's looks: kept aside (bad-), as one that cannot be
 * parsed, not to hold the endpoint's other files for ever
 */
static void
segwait_giveup(struct endpoint *ep, const char *name, int seg)
{
	log_warnx("events: %s/%s: could not be read in %d tries over about "
	    "an hour", ep->dir, name, ep->segwait->looks);
	if (evq_quarantine(ep, name) == 0 && seg)
		evseg_mark_aside(ep->dir, name);
}

/*
 * Names of ep that cannot be read yet are kept in v (load returns
 * EVQ_AGAIN_*), the others leave it.  A look where one fails for its
 * own sake (EVQ_AGAIN_FILE) is counted; at the last of those, such a
 * file leaves too (segwait_giveup).  One that cannot be read for want of
 * a descriptor or memory (EVQ_AGAIN_NOW) stays for as long as it takes:
 * it says nothing of the file.  How many are kept.
 */
static size_t
segwait_load(struct endpoint *ep, json_t *v, int seg)
{
	struct segwait	*w = ep->segwait;
	const char	*name;
	size_t		 i = 0;
	int		 rc, counted = 0;

	while (i < json_array_size(v)) {
		name = json_string_value(json_array_get(v, i));
		if (seg)
			rc = load_segment(ep, name, &w->ld);
		else
			rc = load_batch(ep, name, w->ld.seen);
		if (rc == EVQ_AGAIN_NOW)
			ep->readwaits++;
		if (rc == EVQ_AGAIN_FILE && !counted) {
			w->looks++;
			counted = 1;
		}
		if (rc == EVQ_AGAIN_NOW || (rc && w->looks <
		    evq_segwait_tries)) {
			i++;
			continue;
		}
		if (rc)
			segwait_giveup(ep, name, seg);
		json_array_remove(v, i);
	}
	return (i);
}

/* the segments a start could not read: again, those that still cannot
 * later again */
static void
seg_retry(int fd, short what, void *arg)
{
	struct endpoint	*ep = arg;
	struct segwait	*w = ep->segwait;
	size_t		 i = 0, n = json_array_size(w->batches);

	if (n > 0) {
		if ((i = segwait_load(ep, w->batches, 0)) > 0) {
			segwait_arm(ep);
			return;
		}
		/* the segments are marked after these, as at start */
		w->ld.durable = batches_durable(ep) && w->ld.durable;
		log_info("events: %s: %zu batch file(s) that could not be "
		    "read at start loaded", ep->pub, n);
		evq_kick(ep);
		/* the segments' own looks and backoff from here: a batch
		 * file given up after all its looks leaves them theirs */
		w->looks = 0;
		w->tries = 0;
	}
	n = json_array_size(w->names);
	if ((i = segwait_load(ep, w->names, 1)) > 0) {
		segwait_arm(ep);
		return;
	}
	if (n > 0)
		log_info("events: %s: %zu segment(s) that could not be read "
		    "at start loaded", ep->pub, n);
	/* after the segments, as at start */
	for (i = 0; i < json_array_size(w->own); i++)
		load_own(ep, json_string_value(json_array_get(w->own, i)),
		    &w->ld);
	segwait_free(ep);
	evq_kick(ep);
}

static void	dirwait_add(const char *, int);

/* name has prefix p */
static int
is_of(const char *name, const char *p)
{
	return (strncmp(name, p, strlen(p)) == 0);
}

/*
 * The files of ep's directory, listed once (sorted: each kind in the
 * order of its names).  A directory that cannot be listed now is
 * listed again later, and its files loaded then (dirwait): none is
 * loaded before, out of their order.
 */
static void
endpoint_load(struct endpoint *ep)
{
	char		**v;
	size_t		 n, i;
	json_t		*seen, *later;
	struct seg_load	 ld;

	if (evq_list(ep->dir, &v, &n) == -1) {
		if (ep->made == NULL && (ep->made = json_object()) == NULL)
			fatal("events: json_object");
		dirwait_add(ep->key, 0);
		return;
	}
	if ((seen = json_object()) == NULL ||
	    (later = json_array()) == NULL)
		fatal("events: json_object");
	for (i = 0; i < n; i++)
		if (is_of(v[i], "tmp-"))
			evq_remove_file(ep, v[i]);

	for (i = 0; i < n; i++)
		if (is_of(v[i], "b-") && load_batch(ep, v[i], seen) &&
		    json_array_append_new(later, json_string(v[i])) == -1)
			fatal("events: json_array_append_new");

	ld.ep = ep;
	ld.seen = seen;
	ld.late = 0;
	ld.after = NULL;
	ld.durable = batches_durable(ep);
	/* a batch file not read yet: the segments wait for it */
	for (i = 0; i < n; i++)
		if (is_of(v[i], "s-") && (json_array_size(later) > 0 ||
		    load_segment(ep, v[i], &ld)))
			seg_later(ep, v[i], &ld);
	if (json_array_size(later) > 0 && ep->segwait == NULL)
		seg_later(ep, NULL, &ld);
	if (ep->segwait != NULL) {
		json_array_extend(ep->segwait->batches, later);
		segwait_arm(ep);
	}
	json_decref(later);
	marks_orphaned(ep);

	/* a batch file not read yet: these wait for it too */
	for (i = 0; i < n; i++)
		if (!is_of(v[i], "e-"))
			continue;
		else if (ep->segwait == NULL || json_array_size(
		    ep->segwait->batches) == 0)
			load_own(ep, v[i], &ld);
		else if (json_array_append_new(ep->segwait->own,
		    json_string(v[i])) == -1)
			fatal("events: json_array_append_new");
	dir_names_free(v, n);
	json_decref(seen);
}

/*
 * The endpoint that endpoint.json o of directory dir (named key) says;
 * NULL if malformed (logged).  late: read after the start, when a block
 * may have made it meanwhile (dirwait): then it is that one.
 */
static struct endpoint *
endpoint_read(const char *dir, const char *key, json_t *o, int late)
{
	const char		*url, *fmt, *gone;
	enum event_format	 f;
	struct endpoint		*ep;
	char			 k[EV_KEY_LEN];

	url = json_string_value(json_object_get(o, "url"));
	fmt = json_string_value(json_object_get(o, "format"));
	if (url == NULL || fmt == NULL || format_from_name(fmt, &f) == -1 ||
	    strlen(url) >= MH_URL_MAX) {
		log_warnx("events: %s/endpoint.json: malformed", dir);
		return (NULL);
	}
	endpoint_key(f, url, k);
	if (strcmp(k, key) != 0 ||
	    ((ep = evq_endpoint_find(key)) != NULL && !late)) {
		log_warnx("events: %s: key mismatch", dir);
		return (NULL);
	}
	if (ep == NULL && (ep = endpoint_new(key, url, f)) == NULL)
		fatal("events: endpoint");
	/* disabled by a 410 Gone: events_configure says until when */
	gone = json_string_value(json_object_get(o, "gone"));
	if (ep->gone[0] == '\0' && gone != NULL &&
	    strlen(gone) == sizeof(ep->gone) - 1)
		strlcpy(ep->gone, gone, sizeof(ep->gone));
	return (ep);
}

/*
 * An endpoint's directory whose endpoint.json a start could not read
 * now (no descriptor, a read error), or that it could not list (then
 * listed first, and its endpoint.json read if the start had not): read
 * again later, and the files it held then loaded as segments that could
 * not be (segwait); before, its whole backlog waited for the next start.
 * A block naming it meanwhile queues new events in it, but leaves its
 * endpoint.json (a 410 Gone it keeps) until it is read
 * (events_configure); a listing made after that leaves out the files
 * its endpoint made meanwhile (evq_made), which it has queued.
 */
struct dirwait {
	TAILQ_ENTRY(dirwait)	 entry;
	char			 key[EV_KEY_LEN];
	json_t			*names;		/* s-, b-, e- files */
	json_t			*batches;
	json_t			*own;
	struct event		*ev;
	int			 tries;
	/* of EVQ_AGAIN_FILE (evq_segwait_tries) */
	int			 looks;
	int			 listed;	/* its files known */
	int			 json;		/* endpoint.json to read */
};
static TAILQ_HEAD(, dirwait)	dirwaits = TAILQ_HEAD_INITIALIZER(dirwaits);
/* the events directory, which a start could not list: listed again */
static struct event		*rootwait;
static int			 roottries;

static void	dirwait_retry(int, short, void *);
static void	events_load_dir(const char *, int);

/*
 * The names in directory dir (sorted, dir_names), 0; or -1: it cannot
 * be listed now, and no part of it is given.  Why is logged: no
 * descriptor or memory at most once a minute (evseg_again); a reason
 * about the directory (EACCES, ENOTDIR, EIO) at each look, which the
 * caller makes again later (evq_read_wait) for as long as it takes: an
 * administrator may mend it.  A directory gone is empty.
 */
int
evq_list(const char *dir, char ***vp, size_t *np)
{
	if (dir_names_at(AT_FDCWD, dir, NULL, NULL, vp, np) == 0)
		return (0);
	if (errno == ENOENT)
		return (0);
	if (evseg_transient(errno))
		(void)evseg_again(dir, errno);
	else
		log_warn("events: %s: cannot list it (its events wait: "
		    "looked at again later)", dir);
	return (-1);
}

void
events_set_made_max(int n)
{
	evq_made_max = n > 0 ? n : EV_MADE_MAX;
}

/*
 * A file made in ep's directory while it is not listed (ep->made), up
 * to evq_made_max names; past them, none (ep->made_full, ep_known)
 */
void
evq_made(struct endpoint *ep, const char *name)
{
	if (ep->made == NULL || ep->made_full)
		return;
	if (json_object_size(ep->made) >= (size_t)evq_made_max) {
		ep->made_full = 1;
		log_warnx("events: %s: %d files made while it is not listed: "
		    "no more recorded (its listing leaves out the files of "
		    "the events it has queued)", ep->dir, evq_made_max);
		return;
	}
	if (json_object_set_new(ep->made, name, json_true()) == -1)
		fatal("events: evq_made");
}

static void
known_add(json_t *o, const char *name)
{
	if (name[0] != '\0' &&
	    json_object_set_new(o, name, json_true()) == -1)
		fatal("events: ep_known");
}

static void
known_item(json_t *o, const struct evitem *it)
{
	known_add(o, it->seg != NULL ? evseg_name(it->seg) : it->name);
}

static void
known_batch(json_t *o, const struct evbatch *b)
{
	const struct evitem	*it;

	if (b == NULL)
		return;
	known_add(o, b->name);
	if (b->item != NULL)
		known_item(o, b->item);
	TAILQ_FOREACH(it, &b->taken, entry)
		known_item(o, it);
}

/*
 * The files of the events ep has in memory (queued, in a batch, in its
 * open segment), as names of an object: while its directory was not
 * listed nothing of it was loaded, so each was made meanwhile.  One an
 * event of which is being stored (not durable yet) is not among them:
 * loaded by the listing too, it is sent twice at worst, never lost.
 */
static json_t *
ep_known(const struct endpoint *ep)
{
	const struct evitem	*it;
	const struct evbatchq	*q;
	json_t			*o;

	if ((o = json_object()) == NULL)
		fatal("events: ep_known");
	TAILQ_FOREACH(it, &ep->items, entry)
		known_item(o, it);
	known_batch(o, ep->cur);
	TAILQ_FOREACH(q, &ep->batches, entry)
		known_batch(o, q->b);
	if (ep->fill != NULL)
		known_add(o, evseg_name(ep->fill));
	return (o);
}

/* the names of v (n) with prefix, but those made or known (NULL: none) */
static json_t *
dir_list(char **v, size_t n, const char *prefix, json_t *made,
    json_t *known)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		fatal("events: json_array");
	for (i = 0; i < n; i++)
		if (is_of(v[i], prefix) && (made == NULL ||
		    json_object_get(made, v[i]) == NULL) && (known == NULL ||
		    json_object_get(known, v[i]) == NULL) &&
		    json_array_append_new(a, json_string(v[i])) == -1)
			fatal("events: json_array_append_new");
	return (a);
}

/*
 * dw's directory listed: its files known, 0, the files its endpoint (if
 * there is one) made since the start left out, and no longer recorded;
 * or -1, not now (evq_list)
 */
static int
dirwait_list(struct dirwait *dw)
{
	struct endpoint	*ep = evq_endpoint_find(dw->key);
	char		 dir[PATH_MAX], **v;
	size_t		 n;
	json_t		*made = NULL, *known = NULL;

	if (evq_path_join(dir, sizeof(dir), ev_root, "", dw->key) == -1)
		n = 0, v = NULL;
	else if (evq_list(dir, &v, &n) == -1)
		return (-1);
	if (ep != NULL) {
		made = ep->made;
		if (ep->made_full)
			known = ep_known(ep);
	}
	dw->batches = dir_list(v, n, "b-", made, known);
	dw->names = dir_list(v, n, "s-", made, known);
	dw->own = dir_list(v, n, "e-", made, known);
	dir_names_free(v, n);
	json_decref(known);
	if (ep != NULL) {
		json_decref(ep->made);
		ep->made = NULL;
		ep->made_full = 0;
	}
	dw->listed = 1;
	return (0);
}

static void
dirwait_arm(struct dirwait *dw)
{
	struct timeval	 tv = { 1, 0 };

	tv.tv_sec = dw->tries < 6 ? 1L << dw->tries++ : EV_SEGWAIT_MAX;
	evtimer_add(dw->ev, &tv);
}

/*
 * Directory dir (named key) waits: for its endpoint.json if json, and to
 * be listed if it cannot be now
 */
static void
dirwait_add(const char *key, int json)
{
	struct dirwait	*dw;

	if ((dw = calloc(1, sizeof(*dw))) == NULL ||
	    (dw->ev = evtimer_new(ev_base, dirwait_retry, dw)) == NULL)
		fatal("events: dirwait");
	strlcpy(dw->key, key, sizeof(dw->key));
	dw->json = json;
	/* not listed just before */
	if (json)
		(void)dirwait_list(dw);
	TAILQ_INSERT_TAIL(&dirwaits, dw, entry);
	dirwait_arm(dw);
}

static void
dirwait_free(struct dirwait *dw)
{
	TAILQ_REMOVE(&dirwaits, dw, entry);
	event_free(dw->ev);
	json_decref(dw->names);
	json_decref(dw->batches);
	json_decref(dw->own);
	free(dw);
}

/* the files of key's directory waiting for its endpoint.json, or its
 * listing, + 1; 0 if it does not wait */
static int
dirwait_has(const char *key)
{
	struct dirwait	*dw;

	TAILQ_FOREACH(dw, &dirwaits, entry)
		if (strcmp(dw->key, key) == 0)
			return (1 + json_array_size(dw->names) +
			    json_array_size(dw->batches) +
			    json_array_size(dw->own));
	return (0);
}

/* key's directory is not listed yet: what its endpoint makes is
 * recorded (evq_made) */
static int
dir_unlisted(const char *key)
{
	struct dirwait	*dw;

	if (rootwait != NULL)
		return (1);
	TAILQ_FOREACH(dw, &dirwaits, entry)
		if (strcmp(dw->key, key) == 0 && !dw->listed)
			return (1);
	return (0);
}

/* the events directory is not listed yet, and ep's endpoint.json is
 * there: read first (root_retry), not written over */
static int
root_unlisted(struct endpoint *ep)
{
	char		path[PATH_MAX];
	struct stat	st;

	if (rootwait == NULL || evq_path_join(path, sizeof(path), ep->dir,
	    "", "endpoint.json") == -1)
		return (0);
	return (stat(path, &st) == 0 || errno != ENOENT);
}

/* the files of its directory the start found, as segwait's */
static void
dirwait_load(struct endpoint *ep, struct dirwait *dw)
{
	struct seg_load	 ld;

	memset(&ld, 0, sizeof(ld));
	ld.ep = ep;
	ld.durable = 1;
	if ((ld.seen = json_object()) == NULL)
		fatal("events: json_object");
	seg_later(ep, NULL, &ld);
	json_decref(ld.seen);
	json_array_extend(ep->segwait->batches, dw->batches);
	json_array_extend(ep->segwait->names, dw->names);
	json_array_extend(ep->segwait->own, dw->own);
	seg_retry(-1, 0, ep);
}

/* the endpoint dw's files are for, its endpoint.json read (NULL: not
 * now, dw armed again, or none) */
static struct endpoint *
dirwait_json(struct dirwait *dw, int *wait)
{
	struct endpoint	*ep = NULL;
	json_t		*o;
	char		 dir[PATH_MAX];
	int		 again = 0;

	*wait = 0;
	o = evq_path_join(dir, sizeof(dir), ev_root, "", dw->key) == -1 ?
	    NULL : evq_read_json(dir, "endpoint.json", 65536, &again);
	/* no descriptor or memory: as long as it takes, uncounted */
	if (o == NULL && (again == EVQ_AGAIN_NOW || (again &&
	    ++dw->looks < evq_segwait_tries))) {
		*wait = 1;
		return (NULL);
	}
	if (o == NULL && again)
		log_warnx("events: %s/endpoint.json: could not be read in %d "
		    "tries over about an hour", dir, dw->looks);
	if (o != NULL)
		ep = endpoint_read(dir, dw->key, o, 1);
	json_decref(o);
	/*
	 * Not read, or not usable: a block that names the endpoint (made
	 * it meanwhile) takes its files, and its endpoint.json is written
	 * anew; without one they wait for the next start
	 */
	if (ep == NULL && (ep = evq_endpoint_find(dw->key)) != NULL &&
	    !ep->configured)
		ep = NULL;
	if (ep != NULL && ep->configured) {
		endpoint_gone_check(ep);
		(void)evq_endpoint_persist(ep);
	}
	return (ep);
}

static void
dirwait_retry(int fd, short what, void *arg)
{
	struct dirwait	*dw = arg;
	struct endpoint	*ep;
	int		 wait = 0;

	if (!dw->listed && dirwait_list(dw) == -1) {
		dirwait_arm(dw);
		return;
	}
	if (dw->json)
		ep = dirwait_json(dw, &wait);
	else if ((ep = evq_endpoint_find(dw->key)) != NULL &&
	    ep->configured)
		(void)evq_endpoint_persist(ep);
	if (wait) {
		dirwait_arm(dw);
		return;
	}
	if (ep != NULL) {
		log_info("events: %s: its %s, that could not be %s at "
		    "start, %s: %zu file(s) of its loaded", ep->pub,
		    dw->json ? "endpoint.json" : "directory",
		    dw->json ? "read" : "listed", dw->json ? "read" : "listed",
		    json_array_size(dw->batches) + json_array_size(dw->names) +
		    json_array_size(dw->own));
		dirwait_load(ep, dw);
	}
	dirwait_free(dw);
}

static void
rootwait_arm(void)
{
	struct timeval	 tv = { 1, 0 };

	tv.tv_sec = evq_read_wait(roottries++);
	evtimer_add(rootwait, &tv);
}

/*
 * The events directory listed at last: its endpoints' directories
 * loaded as at start; one whose endpoint a block made meanwhile (it
 * has queued what it made since) as one whose endpoint.json could not
 * be read then (dirwait)
 */
static void
root_retry(int fd, short what, void *arg)
{
	char	**v;
	size_t	  n, i;

	if (evq_list(ev_root, &v, &n) == -1) {
		rootwait_arm();
		return;
	}
	event_free(rootwait);
	rootwait = NULL;
	roottries = 0;
	log_info("events: %s, that could not be listed at start, listed: "
	    "%zu endpoint director%s loaded", ev_root, n, n == 1 ? "y" : "ies");
	for (i = 0; i < n; i++)
		events_load_dir(v[i], 1);
	dir_names_free(v, n);
}

/*
 * Endpoint directory key of the events directory, loaded; late: after
 * the start (root_retry), a block may have made its endpoint meanwhile
 */
static void
events_load_dir(const char *key, int late)
{
	char			 dir[PATH_MAX], path[PATH_MAX];
	struct stat		 st;
	json_t			*o;
	struct endpoint		*ep;
	int			 rc, again;

	if (key[0] == '.' || strlen(key) != EV_KEY_LEN - 1)
		return;
	if (evq_path_join(dir, sizeof(dir), ev_root, "", key) == -1)
		return;
	if (late && evq_endpoint_find(key) != NULL) {
		dirwait_add(key, 1);
		return;
	}
	if (evq_path_join(path, sizeof(path), dir, "",
	    "endpoint.json") == 0 && stat(path, &st) == -1 &&
	    errno == ENOENT && ((rc = endpoint_dir_drop(dir, NULL,
	    0)) == 1 || rc == -1))
		return;		/* removed, or an error logged */
	if ((o = evq_read_json(dir, "endpoint.json", 65536,
	    &again)) == NULL) {
		if (again)
			dirwait_add(key, 1);
		return;
	}
	ep = endpoint_read(dir, key, o, 0);
	json_decref(o);
	if (ep == NULL)
		return;
	endpoint_load(ep);
	if (ep->nitems > 0 || !TAILQ_EMPTY(&ep->batches))
		log_info("events: %s: %zu pending event(s), "
		    "%s batch(es) reloaded", ep->pub, ep->nitems,
		    TAILQ_EMPTY(&ep->batches) ? "no" : "some");
	/* no block names it (events_configure ran) */
	if (late)
		evq_kick(ep);
}

/*
 * The endpoints' directories; if the events directory cannot be listed
 * now, none is loaded (none out of its order): listed again later
 * (root_retry)
 */
static void
events_load(void)
{
	char	**v;
	size_t	  n, i;

	if (evq_list(ev_root, &v, &n) == -1) {
		if (rootwait == NULL && (rootwait = evtimer_new(ev_base,
		    root_retry, NULL)) == NULL)
			fatal("events: rootwait");
		rootwait_arm();
		return;
	}
	for (i = 0; i < n; i++)
		events_load_dir(v[i], 0);
	dir_names_free(v, n);
}

/* --- public: init, configure --------------------------------------------- */

int
events_init(struct event_base *base, const struct config *conf,
    const char *spoolroot)
{
	char	pool[PATH_MAX];

	ev_base = base;
	if ((size_t)snprintf(ev_root, sizeof(ev_root), "%s/events",
	    spoolroot) >= sizeof(ev_root))
		return (-1);
	if (mkdir(ev_root, 0700) == -1 && errno != EEXIST) {
		log_warn("events: mkdir %s", ev_root);
		return (-1);
	}
	/* not an endpoint's directory: its name is no key; its files
	 * empty (0), since a segment is appended to and read to its end */
	if (evq_pool == NULL && evq_path_join(pool, sizeof(pool), ev_root, "",
	    "pool") == 0 && (evq_pool = filepool_open(pool,
	    EV_POOL_MAX, 0)) == NULL)
		log_warn("events: %s (files are not recycled)", pool);
	/* "testing events-retry": base*2^n ms, capped */
	if (conf->testing.events_retry > 0)
		events_set_retry(conf->testing.events_retry,
		    conf->testing.events_retry_max);
	events_load();
	return (events_configure(conf));
}

/* hooks retry: a 410 Gone forgotten, in endpoint.json too */
void
evq_gone_forget(struct endpoint *ep)
{
	if (ep->gone[0] == '\0')
		return;
	ep->gone[0] = '\0';
	if (ep->configured)
		(void)evq_endpoint_persist(ep);
}

/* no longer disabled by a 410 Gone: its lifetime's timer stopped */
static void
endpoint_enable(struct endpoint *ep)
{
	if (ep->disabled) {
		evtimer_del(ep->timer);
		ep->timer_backoff = 0;
	}
	ep->disabled = 0;
	ep->gone[0] = '\0';
}

/*
 * An endpoint that answered 410 Gone stays disabled while its block is
 * the one it was then (a reload, a restart); a block changed enables it.
 */
static void
endpoint_gone_check(struct endpoint *ep)
{
	if (ep->gone[0] == '\0')
		return;
	if (strcmp(ep->gone, ep->conf) != 0) {
		log_info("events: %s: its block changed: enabled again after "
		    "its 410 Gone", ep->pub);
		endpoint_enable(ep);
		return;
	}
	if (ep->disabled)
		return;		/* a reload: its timer goes on */
	log_warnx("events: %s answered 410 Gone before: still disabled "
	    "until its block changes or hooks retry", ep->pub);
	ep->disabled = 1;
	evq_gone_arm(ep, 0);	/* its lifetime's pass, once running */
}

int
events_configure(const struct config *conf)
{
	struct events_block	*eb;
	struct endpoint		*ep;
	char			 key[EV_KEY_LEN];
	int			 rc = 0;

	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		ep->configured = 0;
		ep->kinds = 0;
		ep->forget_looks = 0;	/* a reload looks again */
	}
	if (conf == NULL) {
		TAILQ_FOREACH(ep, &evq_endpoints, entry)
			endpoint_enable(ep);
		return (0);
	}
	evq_set_allow_private(conf->allow_private);
	TAILQ_FOREACH(eb, &conf->events, entry) {
		endpoint_key(eb->format, eb->url, key);
		if ((ep = evq_endpoint_find(key)) == NULL &&
		    (ep = endpoint_new(key, eb->url, eb->format)) == NULL) {
			rc = -1;
			continue;
		}
		if (!ep->configured) {
			headers_free(&ep->headers);
			if (headers_copy(&ep->headers, &eb->headers) == -1)
				rc = -1;
			strlcpy(ep->secret, eb->secret, sizeof(ep->secret));
			ep->timeout = eb->timeout > 0 ? eb->timeout : 30;
			ep->batch_max = eb->batch_max > 0 ? eb->batch_max : 100;
			ep->batch_wait = eb->batch_wait >= 0 ?
			    eb->batch_wait : 1000;
			ep->lifetime = eb->lifetime > 0 ? eb->lifetime :
			    3 * 86400;
		}
		ep->kinds |= eb->kinds;
		ep->configured = 1;
		/* evq_endpoint_persist makes it again */
		ep->forgotten = 0;
		if (endpoint_conf(eb, ep->conf) == -1)
			rc = -1;
		endpoint_gone_check(ep);
		/* its endpoint.json is read first (dirwait_retry,
		 * root_retry) */
		if (!dirwait_has(ep->key) && !root_unlisted(ep) &&
		    evq_endpoint_persist(ep) == -1)
			rc = -1;
	}
	/* one no block names: its backlog goes to the dead letters */
	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		if (!ep->configured)
			endpoint_enable(ep);
	/* an endpoint no longer configured: its backlog to the dead
	 * letters (evq_kick), its retry wait over.  A partial batch's
	 * wait (no retry's, no batch made) is measured again with the
	 * wait now configured, from its oldest event. */
	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		if (ep->configured && !ep->timer_backoff && ep->cur == NULL)
			evtimer_del(ep->timer);
		if (!ep->timer_backoff || !ep->configured)
			evq_kick(ep);
	}
	return (rc);
}

void
events_set_monitor(void (*fn)(const json_t *))
{
	ev_monitor = fn;
}

/* --- submit ------------------------------------------------------------- */

/* a copy of an event being stored: told what becomes of the first */
struct waiter {
	SLIST_ENTRY(waiter)	  entry;
	events_durable_fn	  fn;
	void			 *arg;
};

/* one submitted event, until the group commit has made its files durable */
struct submit {
	TAILQ_ENTRY(submit)	  entry;
	RB_ENTRY(submit)	  node;		/* in storing, but webd's */
	SLIST_HEAD(, waiter)	  waiters;
	char			  id[EVENT_ID_LEN];
	size_t			  n;
	events_durable_fn	  fn;
	void			 *arg;
	int			  written;	/* fn once written */
	int			  failed;	/* a file was not written */
	struct {
		struct endpoint	 *ep;
		struct evitem	 *it;
	}			  to[];		/* one per endpoint at most */
};
TAILQ_HEAD(submitlist, submit);

/* submitted in this pass of the loop, files not written yet */
static struct submitlist	 passing = TAILQ_HEAD_INITIALIZER(passing);
static struct event		*pass_ev;

static int
submit_cmp(struct submit *a, struct submit *b)
{
	return (strcmp(a->id, b->id));
}
RB_HEAD(submittree, submit);
RB_PROTOTYPE(submittree, submit, node, submit_cmp);
RB_GENERATE(submittree, submit, node, submit_cmp);

/* by id, the events (not webd's) submitted and not durable yet */
static struct submittree	 storing = RB_INITIALIZER(&storing);

/* an item for event id: of a segment (name ""), or of its file name */
struct evitem *
evq_item_new(const char *id, const char *name)
{
	struct evitem	*it;
	size_t		 len = strlen(name) + 1;

	if ((it = calloc(1, offsetof(struct evitem, name) + len)) == NULL)
		return (NULL);
	strlcpy(it->id, id, sizeof(it->id));
	memcpy(it->name, name, len);
	return (it);
}

static void
cache_free(struct evcache *c)
{
	if (c == NULL)
		return;
	json_decref(c->rec);
	free(c->text);
	free(c);
}

void
evq_item_free(struct evitem *it, int done)
{
	cache_free(it->cache);
	if (it->seg != NULL)
		evseg_unref(it->seg, done);
	free(it);
}

/* the event is safe elsewhere (delivered, or in a persisted batch) */
void
evq_item_done(struct endpoint *ep, struct evitem *it)
{
	if (it->seg == NULL)
		evq_remove_file(ep, it->name);
	evq_item_free(it, 1);
}

/* an item whose segment write failed: its line was cut off the file */
static int
item_cut(const struct evitem *it)
{
	return (it->seg != NULL && evseg_failed(it->seg, it->idx));
}

/* the copies of sb's event that came meanwhile learn what became of it */
static void
submit_waiters(struct submit *sb, int ok)
{
	struct waiter	*w;

	if (!sb->written)
		RB_REMOVE(submittree, &storing, sb);
	while ((w = SLIST_FIRST(&sb->waiters)) != NULL) {
		SLIST_REMOVE_HEAD(&sb->waiters, entry);
		w->fn(ok, w->arg);
		free(w);
	}
}

/*
 * Event id is being stored (submitted, not durable yet): fn(ok, arg) with
 * its outcome, and 1; 0 if it is not
 */
static int
submit_wait(const char *id, events_durable_fn fn, void *arg)
{
	struct submit	 key, *sb;
	struct waiter	*w;

	if (strlcpy(key.id, id, sizeof(key.id)) >= sizeof(key.id) ||
	    (sb = RB_FIND(submittree, &storing, &key)) == NULL)
		return (0);
	log_debug("events: %s already being stored", id);
	if (fn == NULL)
		return (1);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	w->fn = fn;
	w->arg = arg;
	SLIST_INSERT_HEAD(&sb->waiters, w, entry);
	return (1);
}

/* the files are durable: the items join their evq_endpoints' queues */
static void
submit_durable(int ok, void *arg)
{
	struct submit	*sb = arg;
	size_t		 i;

	if (!ok)
		log_warnx("events: %s may not be durable", sb->id);
	for (i = 0; i < sb->n; i++) {
		if (item_cut(sb->to[i].it)) {
			/* cut off its file again: nothing of it to keep */
			item_uncache(sb->to[i].ep, sb->to[i].it);
			evq_item_free(sb->to[i].it, 1);
			continue;
		}
		/* this endpoint has it, whatever became of the others */
		if (ok && !sb->written)
			held_add(sb->to[i].ep, sb->id);
		else if (!sb->written)
			held_unsynced(sb->to[i].ep, sb->id);
		TAILQ_INSERT_TAIL(&sb->to[i].ep->items, sb->to[i].it, entry);
		sb->to[i].ep->nitems++;
		evq_kick(sb->to[i].ep);
	}
	if (sb->fn != NULL)
		sb->fn(ok && !sb->failed, sb->arg);
	submit_waiters(sb, ok && !sb->failed);
	free(sb);
}

/* the pass ends: its segments are written, then flushed together */
static void
pass_end(int fd, short what, void *arg)
{
	struct endpoint	*ep;
	struct submit	*sb;
	size_t		 i;

	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		if (ep->fill != NULL) {
			(void)evseg_write(ep->fill);
			/* full: the next event begins a new one */
			if (ep->fill != NULL &&
			    evseg_size(ep->fill) >= EV_SEG_MAX)
				evseg_close(ep->fill);
		}
	while ((sb = TAILQ_FIRST(&passing)) != NULL) {
		TAILQ_REMOVE(&passing, sb, entry);
		for (i = 0; i < sb->n; i++)
			if (item_cut(sb->to[i].it))
				sb->failed = 1;
		if (sb->written && !sb->failed && sb->fn != NULL) {
			sb->fn(1, sb->arg);
			sb->fn = NULL;
		}
		/* acknowledged once written (evack.c): no one waits for the
		 * flush, which may gather more first */
		if (sb->written)
			gsync_later(submit_durable, sb);
		else
			gsync_then(submit_durable, sb);
	}
}

static struct submit *
submit_new(const char *id, events_durable_fn fn, void *arg)
{
	struct submit	*sb;
	size_t		 n = 0;
	struct endpoint	*ep;

	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		n++;
	/* one allocation: its endpoints and items after it */
	if ((sb = calloc(1, sizeof(*sb) + n * sizeof(sb->to[0]))) == NULL)
		fatal("calloc");
	strlcpy(sb->id, id, sizeof(sb->id));
	SLIST_INIT(&sb->waiters);
	sb->fn = fn;
	sb->arg = arg;
	return (sb);
}

/*
 * The file of an event of its own: named by its time, then when it was
 * queued (nanoseconds, increasing), so that loading them in the order of
 * their names keeps the order they came in; the event id, random, put
 * the events of one second in any order after a restart (a soft_bounce
 * after the retries_exhausted that followed it).
 */
static void
item_name(char *name, size_t len, const struct event_record *ev)
{
	static long long	 last;
	struct timespec		 now;
	long long		 stamp;

	clock_gettime(CLOCK_REALTIME, &now);
	stamp = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	if (stamp <= last)
		stamp = last + 1;
	last = stamp;
	snprintf(name, len, "e-%011lld-%019lld-%s.json", (long long)ev->time,
	    stamp, ev->id);
}

/* format events: into this pass's segment; others: a file of its own */
static int
item_store(struct endpoint *ep, struct evitem *it,
    const struct event_record *ev, const char *s, size_t len)
{
	if (ep->format != EVFMT_EVENTS) {
		evq_made(ep, it->name);
		return (file_replace_in(ep->dir, it->name, s, len, FR_GROUP));
	}
	if (ep->fill == NULL) {
		ep->fill = evseg_new(ep->dir, ev->time, ev->id, &ep->fill);
		evq_made(ep, evseg_name(ep->fill));
	}
	it->seg = ep->fill;
	it->idx = evseg_add(ep->fill, s, len);
	if (evseg_size(ep->fill) >= EV_SEG_MAX) {
		(void)evseg_write(ep->fill);
		if (ep->fill != NULL)
			evseg_close(ep->fill);
	}
	return (0);
}

/*
 * An event's record as text, in a buffer kept for the next one (valid
 * until then, not NUL-terminated): json_dumps grew a fresh string by
 * reallocation for every event.
 */
static const char *
record_text(const json_t *o, size_t *len)
{
	static char	*buf;
	static size_t	 cap;
	size_t		 n;
	char		*p;

	if ((n = json_dumpb(o, buf, cap, JSON_COMPACT)) == 0)
		return (NULL);
	if (n > cap) {
		if ((p = realloc(buf, n + 1024)) == NULL)
			fatal("events: record_text");
		buf = p;
		cap = n + 1024;
		if ((n = json_dumpb(o, buf, cap, JSON_COMPACT)) == 0 ||
		    n > cap)
			return (NULL);
	}
	*len = n;
	return (buf);
}

/*
 * Item it of ep keeps its record o in memory, and its text s too, for the
 * batch file and the event log, as far as ep's EV_MEM_BYTES allow.
 */
static void
item_cache(struct endpoint *ep, struct evitem *it, json_t *o, const char *s,
    size_t len)
{
	struct evcache	*c;
	size_t		 cost = EV_REC_COST(len) + sizeof(*c);

	it->len = len <= UINT32_MAX ? len : 0;
	if (ep->mem + cost > EV_MEM_BYTES ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->rec = json_incref(o);
	if (len <= EV_TEXT_MAX && ep->mem + cost + len <= EV_MEM_BYTES &&
	    (c->text = malloc(len)) != NULL) {
		memcpy(c->text, s, len);
		c->textlen = len;
		cost += len;
	}
	c->mem = cost;
	ep->mem += cost;
	it->cache = c;
}

/* what item it of ep kept in memory goes (a batch has its record) */
static void
item_uncache(struct endpoint *ep, struct evitem *it)
{
	if (it->cache == NULL)
		return;
	ep->mem -= it->cache->mem;
	cache_free(it->cache);
	it->cache = NULL;
}

/* it leaves ep's queue, and what it kept in memory goes */
void
evq_item_unqueue(struct endpoint *ep, struct evitem *it)
{
	TAILQ_REMOVE(&ep->items, it, entry);
	ep->nitems--;
	item_uncache(ep, it);
}

/* endpoint ep takes events like ev */
static int
ep_wants(const struct endpoint *ep, const struct event_record *ev)
{
	return (ep->configured && (ep->kinds & (1U << ev->kind)) &&
	    events_format_wants(ep->format, ev->kind));
}

/*
 * How many of the endpoints that want ev hold it already (stored for
 * them); *lack, how many do not
 */
static size_t
submit_held(const struct event_record *ev, size_t *lack)
{
	struct endpoint	*ep;
	size_t		 n = 0;

	*lack = 0;
	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		if (!ep_wants(ep, ev))
			continue;
		else if (held_has(ep, ev->id))
			n++;
		else
			(*lack)++;
	return (n);
}

static int
submit(const struct event_record *ev, events_durable_fn fn, void *arg,
    int written)
{
	struct endpoint	*ep;
	struct evitem	*it;
	struct submit	*sb;
	struct timeval	 now = { 0, 0 };
	json_t		*o;
	const char	*s;
	size_t		 len, held = 0, lack = 0;
	char		 name[80];

	/*
	 * Only relayd sends an event again (unanswered for OUTBOX_RESEND
	 * seconds, or after a restart); returned mail classified again
	 * makes the same ids.  webd's (written) never: its client, told
	 * 503, asks again and that is a new event; so they stay out of
	 * the held ids, four hash table operations per click.  A copy
	 * sent before its first is durable (hookd was stopped, and each
	 * re-send waited in the socket) gets what becomes of that one.
	 */
	if (!written && submit_wait(ev->id, fn, arg))
		return (0);
	if (!written && (held = submit_held(ev, &lack)) > 0 && lack == 0) {
		/* sent again: durable here for every endpoint */
		log_debug("events: %s already queued", ev->id);
		if (fn != NULL)
			fn(1, arg);
		return (0);
	}
	if (held > 0)
		log_debug("events: %s stored again for %zu endpoint(s)",
		    ev->id, lack);
	else
		metrics_inc(M_EVENTS, event_kind_name(ev->kind), NULL);
	if ((o = mh_event_to_json(ev)) == NULL) {
		log_warnx("events: cannot encode event %s", ev->id);
		return (-1);
	}
	if (ev_monitor != NULL && held == 0)
		ev_monitor(o);
	if ((s = record_text(o, &len)) == NULL) {
		json_decref(o);
		return (-1);
	}
	sb = submit_new(ev->id, fn, arg);
	sb->written = written;
	if (!written)
		RB_INSERT(submittree, &storing, sb);
	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		/* a copy: only for the endpoints that lack it */
		if (!ep_wants(ep, ev) || (held > 0 && held_has(ep, ev->id)))
			continue;
		/* format events: a segment's; else a file of its own */
		name[0] = '\0';
		if (ep->format != EVFMT_EVENTS)
			item_name(name, sizeof(name), ev);
		if ((it = evq_item_new(ev->id, name)) == NULL)
			fatal("calloc");
		clock_gettime(CLOCK_MONOTONIC, &it->ts);
		if (item_store(ep, it, ev, s, len) == -1) {
			/* what was written is delivered; the sender keeps
			 * the event (no ack) and sends it again: stored
			 * then for the endpoints that lack it */
			log_warn("events: %s/%s", ep->dir, it->name);
			sb->failed = 1;
			free(it);
			continue;
		}
		item_cache(ep, it, o, s, len);
		sb->to[sb->n].ep = ep;
		sb->to[sb->n++].it = it;
	}
	json_decref(o);
	TAILQ_INSERT_TAIL(&passing, sb, entry);
	if (pass_ev == NULL && (pass_ev = evtimer_new(ev_base, pass_end,
	    NULL)) == NULL)
		fatal("events: evtimer_new");
	/* a zero timer: after the I/O callbacks of this pass */
	if (!evtimer_pending(pass_ev, NULL))
		evtimer_add(pass_ev, &now);
	return (0);
}

int
events_submit(const struct event_record *ev, events_durable_fn fn,
    void *arg)
{
	return (submit(ev, fn, arg, 0));
}

int
events_submit_written(const struct event_record *ev, events_durable_fn fn,
    void *arg)
{
	return (submit(ev, fn, arg, 1));
}

/* --- stats, shutdown ----------------------------------------------------- */

size_t
evq_backlog(const struct endpoint *ep)
{
	const struct evbatchq	*q;
	size_t			 n = ep->nitems;

	if (ep->cur != NULL)
		n += json_array_size(ep->cur->records);
	TAILQ_FOREACH(q, &ep->batches, entry)
		n += json_array_size(q->b->records);
	return (n);
}

size_t
events_backlog(void)
{
	struct endpoint	*ep;
	size_t		 n = 0;

	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		n += evq_backlog(ep);
	return (n);
}

/*
 * The time of item it's event: its record's, else the one its file's
 * name starts with, or its segment's (the time of the segment's first
 * event); 0 if unknown.
 */
static time_t
item_time(const struct evitem *it)
{
	const char	*name = it->name;

	if (it->cache != NULL)
		return (json_integer_value(json_object_get(it->cache->rec,
		    "time")));
	if (it->seg != NULL)
		name = evseg_name(it->seg);
	return (name[0] != '\0' ? strtoll(name + 2, NULL, 10) : 0);
}

/* the time of the oldest event waiting, 0 if none */
static time_t
ep_oldest(const struct endpoint *ep)
{
	const struct evbatchq	*q;
	const struct evitem	*it;
	time_t			 t, oldest = 0;

	if (ep->cur != NULL)
		oldest = json_integer_value(json_object_get(json_array_get(
		    ep->cur->records, 0), "time"));
	if ((q = TAILQ_FIRST(&ep->batches)) != NULL && (t = json_integer_value(
	    json_object_get(json_array_get(q->b->records, 0), "time"))) > 0 &&
	    (oldest == 0 || t < oldest))
		oldest = t;
	if ((it = TAILQ_FIRST(&ep->items)) != NULL && (t = item_time(it)) > 0 &&
	    (oldest == 0 || t < oldest))
		oldest = t;
	return (oldest);
}

json_t *
events_stats(void)
{
	struct endpoint	*ep;
	json_t		*a, *o;
	int		 n;

	if ((a = json_array()) == NULL)
		return (NULL);
	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		o = json_pack("{s:s,s:s,s:b,s:b,s:I,s:b,s:i,s:I,s:s,s:I,s:I,"
		    "s:I,s:I}",
		    "url", ep->pub,
		    "format", evq_format_name(ep->format),
		    "configured", ep->configured,
		    "disabled", ep->disabled,
		    "backlog", (json_int_t)evq_backlog(ep),
		    "inflight", ep->call != NULL,
		    "attempts", ep->attempts,
		    "last_status", (json_int_t)ep->last_status,
		    "last_error", ep->last_error,
		    "last_attempt", (json_int_t)ep->last_attempt,
		    "next_attempt", (json_int_t)(evtimer_pending(ep->timer,
			NULL) ? ep->next_attempt : 0),
		    "delivered", (json_int_t)ep->delivered,
		    "failures", (json_int_t)ep->failures);
		if (o == NULL)
			continue;
		json_object_set_new(o, "id", json_string(ep->key));
		json_object_set_new(o, "oldest", json_integer(ep_oldest(ep)));
		json_object_set_new(o, "reads_deferred",
		    json_integer((json_int_t)ep->readwaits));
		/* their events are in no backlog until they are read */
		if ((n = dirwait_has(ep->key)) > 0)
			json_object_set_new(o, "unread",
			    json_integer((json_int_t)n - 1));
		else if (ep->segwait != NULL)
			json_object_set_new(o, "unread", json_integer(
			    (json_int_t)(json_array_size(ep->segwait->names) +
			    json_array_size(ep->segwait->batches) +
			    json_array_size(ep->segwait->own))));
		/* its directory, or the events directory, not listed yet:
		 * how many files wait is not known */
		if (dir_unlisted(ep->key))
			json_object_set_new(o, "unlisted", json_true());
		json_array_append_new(a, o);
	}
	return (a);
}

/* an endpoint's two gauges: its events, and the age of the oldest */
static void
ep_gauges(json_t *samples, const char *label, size_t n, time_t oldest,
    time_t now)
{
	metrics_sample(samples, M_EVENTS_QUEUE, label, NULL, n);
	metrics_sample(samples, M_EVENTS_QUEUE_OLDEST, label, NULL,
	    oldest > 0 && oldest < now ? now - oldest : 0);
}

/*
 * "show metrics": the events queue as a whole (size, oldest) and per
 * endpoint, labelled with its URL as logged (masked).  A metric shows
 * METRICS_FAMILY_MAX series: past the first METRICS_FAMILY_MAX - 1
 * endpoints, the others are one "other" series (their events added, the
 * oldest of them), so that the answer stays bounded however many
 * endpoints there are, and the totals exact.
 */
void
events_metrics(json_t *samples)
{
	struct endpoint	*ep;
	time_t		 now = time(NULL), t, oldest = 0, o_oldest = 0;
	size_t		 n, total = 0, o_n = 0, k = 0, shown;

	TAILQ_FOREACH(ep, &evq_endpoints, entry)
		k++;
	shown = k > METRICS_FAMILY_MAX ? METRICS_FAMILY_MAX - 1 : k;
	k = 0;
	TAILQ_FOREACH(ep, &evq_endpoints, entry) {
		n = evq_backlog(ep);
		t = n > 0 ? ep_oldest(ep) : 0;
		total += n;
		if (t > 0 && (oldest == 0 || t < oldest))
			oldest = t;
		if (k++ < shown) {
			ep_gauges(samples, ep->pub, n, t, now);
			continue;
		}
		o_n += n;
		if (t > 0 && (o_oldest == 0 || t < o_oldest))
			o_oldest = t;
	}
	if (k > shown)
		ep_gauges(samples, "other", o_n, o_oldest, now);
	metrics_queue(samples, "events", total, oldest > 0 ? oldest : now);
}

void
events_shutdown(void)
{
	struct endpoint	*ep;
	struct evitem	*it;
	struct evbatchq	*q;

	/* what this pass submitted: written, flushed, queued */
	if (!TAILQ_EMPTY(&passing))
		pass_end(-1, 0, NULL);
	gsync_flush();
	if (pass_ev != NULL)
		event_free(pass_ev);
	pass_ev = NULL;
	while ((ep = TAILQ_FIRST(&evq_endpoints)) != NULL) {
		TAILQ_REMOVE(&evq_endpoints, ep, entry);
		if (ep->call != NULL)
			http_cancel(ep->call);
		if (ep->fill != NULL)
			evseg_close(ep->fill);
		event_free(ep->timer);
		segwait_free(ep);
		json_decref(ep->made);
		evq_batch_free(ep->cur);
		while ((it = TAILQ_FIRST(&ep->items)) != NULL) {
			TAILQ_REMOVE(&ep->items, it, entry);
			evq_item_free(it, 0);
		}
		while ((q = TAILQ_FIRST(&ep->batches)) != NULL) {
			TAILQ_REMOVE(&ep->batches, q, entry);
			evq_batch_free(q->b);
			free(q);
		}
		headers_free(&ep->headers);
		held_free(ep);
		free(ep);
	}
	while (!TAILQ_EMPTY(&dirwaits))
		dirwait_free(TAILQ_FIRST(&dirwaits));
	if (rootwait != NULL)
		event_free(rootwait);
	rootwait = NULL;
	roottries = 0;
}

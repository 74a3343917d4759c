/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: event segments, the batched form of the event spool (events.h).
 *
 * An endpoint of format events gets, for every pass of the event loop,
 * one file with all the events submitted to it in that pass:
 *
 *	<key>/s-<time>-<first event id>.json	[record, record, ...]
 *
 * written to a temporary name and renamed like an event file, and made
 * durable by the same group commit (gsync.h).  A click burst then costs
 * one file and one flush per pass instead of a file per event: creating,
 * renaming and removing a file per event was what bounded hookd.
 *
 * A segment counts the events of it still queued; its file is removed
 * when the last of them is inside a persisted batch file (b-), which is
 * how events of format events leave the queue.  Loading skips what a
 * batch file already holds (events.c), so a crash between a batch and
 * the removal of its segment repeats nothing.  Other formats POST one
 * event per request and keep a file per event (e-).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "fileio.h"
#include "log.h"
#include "mh_event.h"
#include "events.h"

#define SEG_FILE_MAX	(64 * 1024 * 1024)

struct evseg {
	char		 name[80];
	const char	*dir;		/* the endpoint's, outlives it */
	size_t		 refs;		/* events of it not yet batched */
	size_t		 n;		/* events in it */
	int		 failed;	/* could not be written */
	int		 keep;		/* stays on disk (shutdown, bad) */
	int		 bad;		/* a record did not load */
	struct evbuffer	*buf;		/* while being filled */
};

/* one segment's records, read back when they are not in memory */
static struct {
	const struct evseg	*seg;
	json_t			*records;
} cache;

static void
seg_path(const struct evseg *s, const char *prefix, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s%s", s->dir, prefix, s->name) >=
	    len)
		fatalx("events: segment path too long");
}

struct evseg *
evseg_new(const char *dir, time_t t, const char *first_id)
{
	struct evseg	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->buf = evbuffer_new()) == NULL)
		fatal("events: evseg_new");
	s->dir = dir;
	snprintf(s->name, sizeof(s->name), "s-%011lld-%s.json",
	    (long long)t, first_id);
	evbuffer_add(s->buf, "[", 1);
	return (s);
}

size_t
evseg_add(struct evseg *s, const char *json, size_t len)
{
	if (s->n > 0)
		evbuffer_add(s->buf, ",\n", 2);
	evbuffer_add(s->buf, json, len);
	s->refs++;
	return (s->n++);
}

size_t
evseg_size(const struct evseg *s)
{
	return (s->buf != NULL ? evbuffer_get_length(s->buf) : 0);
}

/* the file, renamed into place (durable at the next group commit) */
int
evseg_write(struct evseg *s)
{
	unsigned char	*p;
	size_t		 len;
	int		 rc;

	evbuffer_add(s->buf, "]\n", 2);
	len = evbuffer_get_length(s->buf);
	if ((p = evbuffer_pullup(s->buf, -1)) == NULL)
		fatalx("events: evbuffer_pullup");
	if ((rc = file_replace_in(s->dir, s->name, p, len, FR_GROUP)) == -1) {
		log_warn("events: %s/%s", s->dir, s->name);
		s->failed = 1;
	}
	evbuffer_free(s->buf);
	s->buf = NULL;
	return (rc);
}

int
evseg_failed(const struct evseg *s)
{
	return (s->failed);
}

const char *
evseg_name(const struct evseg *s)
{
	return (s->name);
}

static void
seg_free(struct evseg *s)
{
	char	from[PATH_MAX], to[PATH_MAX];

	if (cache.seg == s) {
		json_decref(cache.records);
		cache.seg = NULL;
		cache.records = NULL;
	}
	seg_path(s, "", from, sizeof(from));
	if (s->bad) {
		seg_path(s, "bad-", to, sizeof(to));
		if (rename(from, to) == -1)
			log_warn("events: rename %s", from);
		else
			log_warnx("events: %s: unreadable events, kept as %s",
			    from, to);
	} else if (!s->keep && !s->failed && unlink(from) == -1 &&
	    errno != ENOENT)
		log_warn("events: unlink %s", from);
	if (s->buf != NULL)
		evbuffer_free(s->buf);
	free(s);
}

/*
 * One event of s leaves the queue: done, it is in a persisted batch
 * (the file goes with the last); not done, it stays on disk (shutdown).
 */
void
evseg_unref(struct evseg *s, int done)
{
	if (!done)
		s->keep = 1;
	if (--s->refs == 0)
		seg_free(s);
}

/* the records of s, read once for a run of its events */
static json_t *
seg_records(struct evseg *s)
{
	char		 path[PATH_MAX];
	json_error_t	 err;

	if (cache.seg != s) {
		json_decref(cache.records);
		seg_path(s, "", path, sizeof(path));
		cache.records = json_load_file(path, JSON_REJECT_DUPLICATES,
		    &err);
		cache.seg = s;
		if (cache.records == NULL)
			log_warnx("events: %s: %s", path, err.text);
	}
	return (cache.records);
}

/* record idx of s, which must be event id; NULL (and s kept) if not */
json_t *
evseg_record(struct evseg *s, size_t idx, const char *id)
{
	struct event_record	 ev;
	json_t			*r;

	r = json_array_get(seg_records(s), idx);
	if (r == NULL || mh_event_from_json(&ev, r) == -1) {
		s->bad = 1;
		return (NULL);
	}
	if (strcmp(ev.id, id) != 0) {
		mh_event_clear(&ev);
		s->bad = 1;
		return (NULL);
	}
	mh_event_clear(&ev);
	return (json_incref(r));
}

/*
 * Event idx leaves s but not as a batch (mhctl hooks skip): its record
 * becomes null in the file, fsynced, so that a reload does not queue it
 * again.  -1 if the file could not be rewritten.
 */
int
evseg_drop(struct evseg *s, size_t idx)
{
	json_t	*a;
	char	*txt;
	int	 rc;

	if ((a = seg_records(s)) == NULL ||
	    json_array_set_new(a, idx, json_null()) == -1 ||
	    (txt = json_dumps(a, JSON_COMPACT)) == NULL)
		return (-1);
	if ((rc = file_replace_in(s->dir, s->name, txt, strlen(txt),
	    FR_FSYNC)) == -1)
		log_warn("events: %s/%s", s->dir, s->name);
	free(txt);
	return (rc);
}

/*
 * Reload: fn(arg, s, idx, id) for every event of the segment file
 * dir/name, 1 if it queued the event (which then holds s), 0 if not;
 * -1 if the file cannot be read or a record is malformed (then nothing
 * was called and the caller quarantines it).  The segment is freed (its
 * file removed) once no event of it is queued.
 */
int
evseg_load(const char *dir, const char *name,
    int (*fn)(void *, struct evseg *, size_t, const char *), void *arg)
{
	struct evseg		*s;
	struct event_record	 ev;
	struct stat		 st;
	json_t			*a, *r;
	json_error_t		 err;
	char			 path[PATH_MAX];
	size_t			 i;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || strlen(name) >= sizeof(s->name))
		return (-1);
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > SEG_FILE_MAX) {
		log_warnx("events: %s: not a regular file or too large", path);
		return (-1);
	}
	if ((a = json_load_file(path, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		log_warnx("events: %s: %s", path, err.text);
		return (-1);
	}
	if (!json_is_array(a)) {
		json_decref(a);
		return (-1);
	}
	json_array_foreach(a, i, r) {
		if (json_is_null(r))
			continue;	/* taken out (evseg_drop) */
		if (mh_event_from_json(&ev, r) == -1) {
			json_decref(a);
			return (-1);
		}
		mh_event_clear(&ev);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("events: evseg_load");
	s->dir = dir;
	strlcpy(s->name, name, sizeof(s->name));
	s->n = json_array_size(a);
	s->refs = 1;		/* held while the records are handed out */
	json_array_foreach(a, i, r) {
		if (json_is_null(r))
			continue;
		s->refs++;
		if (!fn(arg, s, i, json_string_value(json_object_get(r,
		    "id"))))
			s->refs--;
	}
	json_decref(a);
	evseg_unref(s, 1);
	return (0);
}

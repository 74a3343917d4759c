/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: event segments, the batched form of the event spool (events.h).
 *
 * An endpoint of format events appends the events submitted to it to
 * one file, its open segment, a line per event:
 *
 *	<key>/s-<time>-<first event id>.json	record\nrecord\n...
 *
 * At the end of each pass of the event loop the pass's records go to the
 * file with one write(2), made durable by the group commit (gsync.h).  A
 * click burst then costs one write and one flush per pass, and a new
 * file only every EV_SEG_MAX bytes: a file created per pass made ext4
 * look through its recently deleted inodes at every create (a third of
 * hookd's CPU per click), a file per event was worse.
 *
 * A segment counts the events of it still queued, and the endpoint's
 * hold while it is open.  It is closed when it is full, when a write
 * fails (what that write held is cut off again and its events are not
 * acknowledged) and when no event of it is queued any more; its file is
 * removed, back to the file pool, once it is closed and the last of its
 * events is inside a persisted batch file (b-), which is how events of
 * format events leave the queue (a batch whose flush failed holds them
 * until it leaves the queue too, and their lines are written null
 * before its file goes, evsend.c).  Loading skips what a batch file
 * already holds (events.c), so a crash between a batch and the removal
 * of its segment repeats nothing; a last line without its newline was
 * cut by a crash in its write, which was never acknowledged: it is
 * ignored.  Files of older versions hold a JSON array, read as such.
 * Other formats POST one event per request and keep a file per event
 * (e-).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "fileio.h"
#include "filepool.h"
#include "gsync.h"
#include "log.h"
#include "mh_event.h"
#include "events.h"
#include "events_int.h"

#define SEG_FILE_MAX	(64 * 1024 * 1024)
/* seconds between two lines of reads that fail for want of a descriptor
 * or memory (evseg_again) */
#define EVSEG_AGAIN_LOG	60

struct evseg {
	char		 name[80];
	const char	*dir;		/* the endpoint's, outlives it */
	size_t		 refs;		/* events not yet batched, the hold */
	size_t		 n;		/* events in it */
	size_t		 n_written;	/* events in the file */
	size_t		 fail_idx;	/* events from here: not written */
	off_t		 size;		/* bytes in the file */
	int		 fd;		/* open: appended to, or -1 */
	int		 marked;	/* the marker may exist */
	int		 mcut;		/* its last line has no newline */
	struct evseg	**owner;	/* open: the endpoint's pointer */
	int		 exists;	/* its file was made */
	int		 keep;		/* stays on disk (shutdown, bad) */
	int		 bad;		/* a record did not load */
	char		*buf;		/* this pass's records, */
	size_t		 len;		/* kept for the next pass */
	size_t		 cap;
};

/* one segment's records, read back when they are not in memory */
static struct {
	const struct evseg	*seg;
	json_t			*records;
} cache;

static void	seg_close(struct evseg *);

static void
seg_path(const struct evseg *s, const char *prefix, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s%s", s->dir, prefix, s->name) >=
	    len)
		fatalx("events: segment path too long");
}

static void
cache_drop(const struct evseg *s)
{
	if (cache.seg == s) {
		json_decref(cache.records);
		cache.seg = NULL;
		cache.records = NULL;
	}
}

/* an open segment for *owner, which it clears when it closes */
struct evseg *
evseg_new(const char *dir, time_t t, const char *first_id,
    struct evseg **owner)
{
	struct evseg	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("events: evseg_new");
	s->dir = dir;
	s->fd = -1;
	s->fail_idx = SIZE_MAX;
	s->refs = 1;		/* the hold while open */
	s->owner = owner;
	snprintf(s->name, sizeof(s->name), "s-%011lld-%s.json",
	    (long long)t, first_id);
	return (s);
}

/*
 * The pass's records go to a buffer the segment keeps from pass to pass
 * (an evbuffer allocated a chain per pass and a contiguous copy for the
 * write, and its 1 KiB chains set off the allocator's consolidation).
 */
size_t
evseg_add(struct evseg *s, const char *json, size_t len)
{
	size_t	 want = s->len + len + 1;
	char	*p;

	if (want > s->cap) {
		if (want < 4096)
			want = 4096;
		else if (want < 2 * s->cap)
			want = 2 * s->cap;
		if ((p = realloc(s->buf, want)) == NULL)
			fatal("events: evseg_add");
		s->buf = p;
		s->cap = want;
	}
	memcpy(s->buf + s->len, json, len);
	s->buf[s->len + len] = '\n';
	s->len += len + 1;
	s->refs++;
	return (s->n++);
}

size_t
evseg_size(const struct evseg *s)
{
	return (s->size + s->len);
}

/* this pass's records, appended (durable at the next group commit) */
int
evseg_write(struct evseg *s)
{
	char		 path[PATH_MAX];
	size_t		 len;
	int		 saved;

	if ((len = s->len) == 0)
		return (0);
	seg_path(s, "", path, sizeof(path));
	if (s->fd == -1) {
		if ((s->fd = filepool_create(evq_pool, path)) == -1)
			goto fail;
		s->exists = 1;
	}
	if (write_all(s->fd, s->buf, len) == -1)
		goto fail;
	gsync_fd(s->fd);
	s->size += len;
	s->n_written = s->n;
	s->len = 0;
	cache_drop(s);
	return (0);
 fail:
	/* what this write left is cut off: the file ends with a record */
	saved = errno;
	if (s->fd != -1 && ftruncate(s->fd, s->size) == -1)
		log_warn("events: truncate %s", path);
	errno = saved;
	log_warn("events: %s", path);
	if (s->fail_idx > s->n_written)
		s->fail_idx = s->n_written;
	s->len = 0;
	cache_drop(s);
	seg_close(s);
	return (-1);
}

/* event idx of s could not be written */
int
evseg_failed(const struct evseg *s, size_t idx)
{
	return (idx >= s->fail_idx);
}

const char *
evseg_name(const struct evseg *s)
{
	return (s->name);
}

/*
 * The file goes back to the pool after the next flush, on the flusher
 * thread (gsync.h), if later (its path fits NAME_MAX); an unlink per
 * segment would free an inode per segment, which the next creates look
 * through.
 */
static void
seg_remove(struct filepool *pool, const char *path, int later)
{
	if (later) {
		gsync_releaseat(pool, AT_FDCWD, path);
		return;
	}
	if (filepool_release(pool, path) == -1 && errno != ENOENT)
		log_warn("events: unlink %s", path);
}

static void
seg_free(struct evseg *s)
{
	char	from[PATH_MAX], to[PATH_MAX];
	int	later;

	cache_drop(s);
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	seg_path(s, "", from, sizeof(from));
	if (s->bad) {
		seg_path(s, "bad-", to, sizeof(to));
		/* its marker goes aside with it, never without it: a
		 * segment left as it was keeps the marker it had */
		if (rename(from, to) == -1)
			log_warn("events: rename %s", from);
		else {
			log_warnx("events: %s: unreadable events, kept as %s",
			    from, to);
			if (s->marked)
				evseg_mark_aside(s->dir, s->name);
		}
	} else if (!s->keep && s->exists) {
		/* its marker after it, the same way (the marker's path is
		 * the longer): never a segment without the marker it had */
		seg_path(s, "d-", to, sizeof(to));
		later = strlen(s->marked ? to : from) < NAME_MAX;
		seg_remove(evq_pool, from, later);
		if (s->marked)
			seg_remove(NULL, to, later);
	}
	free(s->buf);
	free(s);
}

/*
 * The done marker of segment dir/name, kept aside with it (bad-d-): what
 * of it was delivered stays said, beside it
 */
void
evseg_mark_aside(const char *dir, const char *name)
{
	char	from[PATH_MAX], to[PATH_MAX];

	if ((size_t)snprintf(from, sizeof(from), "%s/d-%s", dir, name) >=
	    sizeof(from) || (size_t)snprintf(to, sizeof(to), "%s/bad-d-%s",
	    dir, name) >= sizeof(to))
		return;
	if (rename(from, to) == -1 && errno != ENOENT)
		log_warn("events: rename %s", from);
}

/*
 * s could not be read at the last look: kept aside (bad-) once none of
 * its events is queued or in a batch
 */
void
evseg_set_bad(struct evseg *s)
{
	s->bad = 1;
}

/* no more appends: the endpoint lets go of s */
static void
seg_close(struct evseg *s)
{
	if (s->owner == NULL)
		return;
	*s->owner = NULL;
	s->owner = NULL;
	/* nothing more is appended: a closed segment waiting for its
	 * events to be batched keeps no buffer */
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
	if (--s->refs == 0)
		seg_free(s);
}

/* the endpoint's open segment is done with (full, shutdown) */
void
evseg_close(struct evseg *s)
{
	seg_close(s);
}

/*
 * One event of s leaves the queue: done, it is in a persisted batch
 * (the file goes with the last); not done, it stays on disk (shutdown).
 * An open segment none of whose events is queued is closed.
 */
void
evseg_unref(struct evseg *s, int done)
{
	if (!done)
		s->keep = 1;
	if (--s->refs == 0)
		seg_free(s);
	else if (s->refs == 1 && s->owner != NULL)
		seg_close(s);
}

/*
 * The done marker, d-<segment>: the ids of events of s that left the
 * queue inside a persisted batch, a line each, appended, never flushed
 * by itself.  A batch file goes once its batch is delivered (or dead
 * letters, skipped, kept aside), while the segment stays as long as any
 * other event of it is queued; a restart would then find the batch's
 * events in the segment, in no batch file, and send them again.  The
 * marker tells the load to skip them.  A crash that loses its last
 * lines resends only what was delivered just before it (at least
 * once); an id there is never one no batch file held.  It is opened
 * for each write: a descriptor kept open per segment with a backlog
 * would make one per endpoint, without bound, and closing it loses
 * nothing (what is written is in the page cache as before, flushed by
 * nothing of its own).
 */
static void
seg_mark(struct evseg *s, const char *lines, size_t len)
{
	char	path[PATH_MAX];
	int	fd;

	seg_path(s, "d-", path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, 0600)) == -1) {
		log_warn("events: %s", path);
		return;
	}
	s->marked = 1;
	/* a line cut by a crash, or a write, ends before what follows */
	if (s->mcut && write_all(fd, "\n", 1) == 0)
		s->mcut = 0;
	if (write_all(fd, lines, len) == -1) {
		log_warn("events: %s", path);
		s->mcut = 1;
	}
	close(fd);
}

/*
 * The n events whose ids are lines ("id\n" each, len bytes) are in a
 * persisted, durable batch file and about to leave s (evseg_unref): they
 * are marked done unless s goes with them (one kept on disk stays).
 */
void
evseg_mark(struct evseg *s, const char *lines, size_t len, size_t n)
{
	if (len > 0 && (s->refs > n || s->keep))
		seg_mark(s, lines, len);
}

/*
 * The marker of dir/name's segment: the ids in it, each a key of an
 * object; a line not an id (a write cut by a crash, junk, NUL bytes a
 * file system left after a crash) is ignored, and ends where its
 * newline is.  An empty object if there is none.  *cut: its last line
 * has no newline.  NULL if it cannot be read whole now, *again set
 * (evseg_again: no descriptor or memory, or a read that failed after
 * its open): read as none, or in part, it would send what it names
 * again.
 */
static json_t *
mark_read(const char *dir, const char *name, int *exists, int *cut,
    int *again)
{
	char	 path[PATH_MAX], *line = NULL;
	json_t	*done;
	FILE	*fp;
	size_t	 size = 0;
	ssize_t	 len;
	int	 fd, e;

	if ((done = json_object()) == NULL)
		fatal("events: json_object");
	*exists = *cut = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/d-%s", dir, name) >=
	    sizeof(path))
		return (done);
	if ((fd = file_open_regular(AT_FDCWD, path, NULL)) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		e = errno;
		if (fd != -1)
			close(fd);
		if (evseg_open_again(e)) {
			*again = evseg_again(path, e);
			json_decref(done);
			return (NULL);
		}
		/* not a regular file: none (its events sent again, at
		 * least once), moved out of the way to be said once */
		if (e == EFTYPE) {
			log_warnx("events: %s: not a regular file, kept as "
			    "%s/bad-d-%s", path, dir, name);
			evseg_mark_aside(dir, name);
		} else if (e != ENOENT)
			log_warn("events: %s", path);
		return (done);
	}
	*exists = 1;
	errno = 0;
	while ((len = getline(&line, &size, fp)) != -1) {
		*cut = line[len - 1] != '\n';
		if (len == EVENT_ID_LEN && !*cut &&
		    strlen(line) == EVENT_ID_LEN) {
			line[len - 1] = '\0';
			json_object_set_new(done, line, json_true());
		}
	}
	e = errno;
	/* getline failed before the end (a read error, or no memory,
	 * which sets no error on the stream): the part read would send
	 * the rest again */
	if (!feof(fp)) {
		*again = evseg_again(path, ferror(fp) && e != 0 ? e :
		    ferror(fp) ? EIO : ENOMEM);
		json_decref(done);
		done = NULL;
	}
	free(line);
	fclose(fp);
	return (done);
}

/*
 * A read that failed for want of a descriptor or memory, or was
 * interrupted: it says nothing of the file, and may work later
 */
int
evseg_transient(int e)
{
	return (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS ||
	    e == EINTR || e == EAGAIN);
}

/*
 * An open that failed with errno e, to be tried again (evseg_again): for
 * want of a descriptor or memory, or a failure about the file that may
 * pass (EIO, a permission a mistaken chown or chmod took away), that
 * the looks bound
 */
int
evseg_open_again(int e)
{
	return (evseg_transient(e) || e == EIO || e == EACCES || e == EPERM);
}

/*
 * A read of path that failed for now, with errno e: EVQ_AGAIN_NOW if it
 * says nothing of the file (evseg_transient), read again for as long as
 * it takes; logged once a minute at most (for all such files, with how
 * many lines were left out), not once a look.  Else (a read error after
 * the open: EIO, a bad block; a permission the open lacks)
 * EVQ_AGAIN_FILE, logged each time, kept aside after evq_read_tries()
 * looks.
 */
int
evseg_again(const char *path, int e)
{
	static struct log_every	 every;
	unsigned long		 quiet;
	long			 since;

	if (!evseg_transient(e)) {
		log_warnx("events: %s: cannot read it now: %s", path,
		    strerror(e));
		return (EVQ_AGAIN_FILE);
	}
	if (!log_every_due(&every, EVSEG_AGAIN_LOG, &quiet, &since))
		return (EVQ_AGAIN_NOW);
	if (quiet > 0)
		log_warnx("events: %s: cannot read it now: %s (read again "
		    "until it can be; %lu more such in the last %lds)", path,
		    strerror(e), quiet, since);
	else
		log_warnx("events: %s: cannot read it now: %s (read again "
		    "until it can be)", path, strerror(e));
	return (EVQ_AGAIN_NOW);
}

/* the file's records: lines, or a JSON array (older versions); NULL if
 * it cannot be read or a line is malformed, *again set if it may be
 * read later (evseg_again); *lines 1 if it is of lines */
static json_t *
seg_read(const char *path, int *again, int *lines)
{
	struct stat	 st;
	json_t		*a = NULL, *r;
	json_error_t	 err;
	char		*buf = NULL, *p, *nl, *end;
	ssize_t		 got = 0;
	size_t		 len = 0;
	int		 fd;

	*again = 0;
	*lines = 1;
	if ((fd = file_open_regular(AT_FDCWD, path, &st)) == -1 &&
	    evseg_open_again(errno)) {
		*again = evseg_again(path, errno);
		goto done;
	}
	if (fd == -1 || st.st_size > SEG_FILE_MAX) {
		log_warnx("events: %s: cannot read, not a regular file or "
		    "too large", path);
		goto done;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		fatal("events: seg_read");
	while (len < (size_t)st.st_size && (got = read(fd, buf + len,
	    st.st_size - len)) > 0)
		len += got;
	if (len != (size_t)st.st_size) {
		/* a read error (EIO: a bad block) is looked at again, a
		 * while; a file shorter than it said is cut */
		if (got == -1)
			*again = evseg_again(path, errno);
		else
			log_warnx("events: read %s: cut short", path);
		goto done;
	}
	buf[len] = '\0';
	if (!(*lines = len == 0 || buf[0] != '[')) {
		if ((a = json_loadb(buf, len, JSON_REJECT_DUPLICATES,
		    &err)) == NULL || !json_is_array(a)) {
			log_warnx("events: %s: %s", path, a == NULL ?
			    err.text : "not an array");
			json_decref(a);
			a = NULL;
		}
		goto done;
	}
	if ((a = json_array()) == NULL)
		fatal("events: json_array");
	end = buf + len;
	for (p = buf; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			/* cut by a crash in its write: never acknowledged */
			log_warnx("events: %s: a record cut short, ignored",
			    path);
			break;
		}
		/* null: an event taken out (evseg_drop) */
		if ((r = json_loadb(p, nl - p, JSON_REJECT_DUPLICATES |
		    JSON_DECODE_ANY, &err)) == NULL) {
			log_warnx("events: %s: %s", path, err.text);
			json_decref(a);
			a = NULL;
			break;
		}
		json_array_append_new(a, r);
	}
 done:
	if (fd != -1)
		close(fd);
	free(buf);
	return (a);
}

/*
 * The records of s, read once for a run of its events; NULL with *again
 * set if they cannot be read now (not kept: read again next time)
 */
static json_t *
seg_records(struct evseg *s, int *again)
{
	char	 path[PATH_MAX];
	int	 lines;

	*again = 0;
	if (cache.seg != s) {
		json_decref(cache.records);
		seg_path(s, "", path, sizeof(path));
		cache.records = seg_read(path, again, &lines);
		cache.seg = *again ? NULL : s;
	}
	return (cache.records);
}

/*
 * Record idx of s, which must be event id; NULL if not (and s kept
 * aside as bad), or with *again set if s cannot be read now (no
 * descriptor, no memory: s stays as it is, the event queued, for the
 * caller to try again later)
 */
json_t *
evseg_record(struct evseg *s, size_t idx, const char *id, int *again)
{
	struct event_record	 ev;
	json_t			*r;

	r = json_array_get(seg_records(s, again), idx);
	if (*again)
		return (NULL);
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
 * Events idx[0..n) leave s but not as a persisted batch (mhctl hooks
 * skip, a batch whose flush failed leaving the queue): their records
 * become null in the file, fsynced, so that a reload does not queue
 * them again.  -1 if the file could not be rewritten.
 */
int
evseg_dropv(struct evseg *s, const size_t *idx, size_t n)
{
	struct evbuffer	*b;
	json_t		*a, *r;
	char		 path[PATH_MAX];
	char		*txt;
	size_t		 i;
	int		 rc = -1, again;

	if ((a = seg_records(s, &again)) == NULL)
		return (-1);
	for (i = 0; i < n; i++)
		if (json_array_set_new(a, idx[i], json_null()) == -1) {
			cache_drop(s);	/* read again: the file is as it was */
			return (-1);
		}
	if ((b = evbuffer_new()) == NULL)
		fatal("events: evbuffer_new");
	json_array_foreach(a, i, r) {
		if ((txt = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY)) ==
		    NULL)
			goto done;
		evbuffer_add_printf(b, "%s\n", txt);
		free(txt);
	}
	if ((rc = file_replace_in(s->dir, s->name, evbuffer_pullup(b, -1),
	    evbuffer_get_length(b), FR_FSYNC)) == -1) {
		log_warn("events: %s/%s", s->dir, s->name);
		goto done;
	}
	s->size = evbuffer_get_length(b);
	/* the open segment goes on in the new file */
	seg_path(s, "", path, sizeof(path));
	if (s->fd != -1) {
		close(s->fd);
		if ((s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC |
		    O_NOFOLLOW)) == -1) {
			log_warn("events: %s", path);
			if (s->fail_idx > s->n_written)
				s->fail_idx = s->n_written;
			seg_close(s);
		}
	}
 done:
	if (rc == -1)
		cache_drop(s);
	evbuffer_free(b);
	return (rc);
}

/* one event out of s (evseg_dropv) */
int
evseg_drop(struct evseg *s, size_t idx)
{
	return (evseg_dropv(s, &idx, 1));
}

/*
 * Reload: fn(arg, s, idx, id) for every event of the segment file
 * dir/name its marker does not name done, 1 if it queued the event
 * (which then holds s), 0 if a durable batch file holds it (then it is
 * marked done, for when that file goes), 2 if a batch file not known to
 * be durable holds it (not marked, and the file stays: a power failure
 * may yet lose that batch file, and the next start must find the event
 * here, so it sends it again even once that batch was delivered);
 * -1 if the file cannot be read or a record is malformed (then nothing
 * was called and the caller quarantines it); EVQ_AGAIN_FILE (1) or
 * EVQ_AGAIN_NOW (2, no descriptor, no memory) if it, or its marker,
 * cannot be read now (evseg_again: nothing was called, it stays as it
 * is for the caller to load again later).
 * The segment is freed (its file removed) once no event of it is
 * queued.
 */
int
evseg_load(const char *dir, const char *name,
    int (*fn)(void *, struct evseg *, size_t, const char *), void *arg)
{
	struct evseg		*s;
	struct event_record	 ev;
	struct evbuffer		*held;
	json_t			*a, *r, *done;
	const char		*id;
	int			 got, again = 0, lines, marked, mcut;
	char			 path[PATH_MAX];
	size_t			 i;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || strlen(name) >= sizeof(s->name))
		return (-1);
	if ((a = seg_read(path, &again, &lines)) == NULL)
		return (again ? again : -1);
	json_array_foreach(a, i, r) {
		if (json_is_null(r))
			continue;	/* taken out (evseg_drop) */
		if (mh_event_from_json(&ev, r) == -1) {
			/* the first such record says why it is kept aside */
			log_warnx("events: %s: %s %zu: %s", path, lines ?
			    "line" : "record", i + 1,
			    json_is_string(json_object_get(r, "id")) ?
			    "not an event record" : "a record without an id");
			json_decref(a);
			return (-1);
		}
		mh_event_clear(&ev);
	}
	if ((done = mark_read(dir, name, &marked, &mcut, &again)) == NULL) {
		json_decref(a);
		return (again);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("events: evseg_load");
	s->dir = dir;
	s->fd = -1;
	s->fail_idx = SIZE_MAX;
	strlcpy(s->name, name, sizeof(s->name));
	s->n = s->n_written = json_array_size(a);
	s->exists = 1;
	s->refs = 1;		/* held while the records are handed out */
	s->marked = marked;
	s->mcut = mcut;
	if ((held = evbuffer_new()) == NULL)
		fatal("events: evbuffer_new");
	json_array_foreach(a, i, r) {
		id = json_string_value(json_object_get(r, "id"));
		/* null: taken out (evseg_drop); marked: delivered; no id:
		 * none (refused above) */
		if (json_is_null(r) || id == NULL ||
		    json_object_get(done, id) != NULL)
			continue;
		s->refs++;
		if ((got = fn(arg, s, i, id)) != 1) {
			/* in a batch file: done once it goes */
			s->refs--;
			if (got == 2)
				s->keep = 1;	/* it is, as an e- file */
			else if (got == 0 && evbuffer_add_printf(held, "%s\n",
			    id) == -1)
				fatal("events: evbuffer_add_printf");
		}
	}
	if ((s->refs > 1 || s->keep) && evbuffer_get_length(held) > 0)
		seg_mark(s, (const char *)evbuffer_pullup(held, -1),
		    evbuffer_get_length(held));
	evbuffer_free(held);
	json_decref(done);
	json_decref(a);
	evseg_unref(s, 1);
	return (0);
}

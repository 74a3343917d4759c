/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: which opens and clicks were seen before (unique_open), kept in
 * the spool so that the answer survives a restart of any process.
 *
 * webd cannot keep it: it has no open(2) under its filter, and whatever
 * it holds in memory dies with it.  hookd, which stores webd's events
 * anyway, decides instead: an open or click event from webd gets
 * unique_open from here, whatever webd said.  A machine's (an image
 * proxy's, a link scanner's) is not asked here: never unique, it leaves
 * the unique one to the person's first.
 *
 * <spool>/events/track-seen is a fixed table of SEEN_BUCKETS buckets of
 * SEEN_WAYS 8-byte keys (4 MiB): the first 8 bytes of SHA-256(kind,
 * queue id, recipient, link), 0 for an empty slot, made by the first
 * open or click (so none without webd), loaded at start.  A full bucket
 * forgets its oldest-placed key (round robin by the key's own bits), so
 * memory and disk stay bounded and a forgotten open only counts as
 * unique again.  A new key is written in place with pwrite(2) before the
 * event's file, which is written before webd is answered (evack.c), and
 * both are made durable by the same group commit (gsync.h): an open
 * answered to a client is never counted as unique twice.  A key whose
 * write fails stays in the table and is written with the next one
 * (seen_dirty); only a restart before that forgets it.  The event is
 * not held for it: unique_open is a count's convenience.
 *
 * And which recipients got their message in the last seconds (deliv):
 * security gateways fetch every link and image of a message as soon as
 * they receive it, which may be long after its submission (a queue, a
 * greylisting retry), when webd's test of the token's age no longer
 * says "machine".  An open or click within TRACK_MACHINE_SECS of the
 * delivery to its recipient is flagged here.  In memory only, one slot
 * per hash: a delivery overwritten by another one, or a restart of
 * hookd in between, only misses the flag.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "digest.h"
#include "events.h"
#include "fileio.h"
#include "gsync.h"
#include "log.h"
#include "mh_event.h"
#include "hookd.h"
#include "redis_link.h"

#define SEEN_DIR	"events"
#define SEEN_FILE	SEEN_DIR "/track-seen"
#define SEEN_BUCKETS	(1 << 16)
#define SEEN_WAYS	8
#define SEEN_SIZE	((off_t)SEEN_BUCKETS * SEEN_WAYS * sizeof(uint64_t))

#define DELIV_SLOTS	(1 << 14)

static uint64_t		(*seen)[SEEN_WAYS];
static struct {
	uint64_t	 key;
	int64_t		 when;		/* the delivery event's time */
}			 deliv[DELIV_SLOTS];
static int		 seen_fd = -1;
static char		 seen_dir[MH_PATH_MAX];

static char		 seen_path[MH_PATH_MAX];

/*
 * New keys whose write failed (or whose file could not be opened): in
 * the table already, written before the next one; past SEEN_DIRTY the
 * oldest is forgotten (logged), counted unique again after a restart
 */
#define SEEN_DIRTY	256
static struct {
	uint32_t	 at;		/* bucket * SEEN_WAYS + way */
	uint64_t	 key;
}			 dirty[SEEN_DIRTY];
static unsigned		 ndirty;

/* the table from the file; -1 (logged) if it cannot be read */
static int
seen_load(void)
{
	struct stat	 st;
	size_t		 done = 0;
	ssize_t		 n;

	if (fstat(seen_fd, &st) == -1) {
		log_warn("%s", seen_path);
		return (-1);
	}
	if (st.st_size != SEEN_SIZE) {
		if (st.st_size != 0)
			log_warnx("%s: unexpected size %lld, started "
			    "over", seen_path, (long long)st.st_size);
		if (ftruncate(seen_fd, 0) == -1 ||
		    ftruncate(seen_fd, SEEN_SIZE) == -1) {
			log_warn("%s", seen_path);
			return (-1);
		}
		gsync_fd(seen_fd);
		return (0);
	}
	while (done < (size_t)SEEN_SIZE) {
		n = pread_eintr(seen_fd, (char *)seen + done, SEEN_SIZE - done,
		    done);
		if (n <= 0) {
			log_warn("%s: read", seen_path);
			return (-1);
		}
		done += n;
	}
	return (0);
}

/* the file is made by the first open or click: none without webd */
static int
seen_open(int create)
{
	unsigned	 i;

	if (seen_fd != -1)
		return (0);
	if ((seen_fd = open(seen_path, O_RDWR | O_CLOEXEC |
	    (create ? O_CREAT : 0), 0600)) == -1) {
		if (errno != ENOENT || create)
			log_warn("%s", seen_path);
		return (-1);
	}
	if (seen_load() == -1) {
		close(seen_fd);
		seen_fd = -1;
		memset(seen, 0, SEEN_SIZE);
		return (-1);
	}
	/* the keys not written yet go back over what was read */
	for (i = 0; i < ndirty; i++)
		seen[dirty[i].at / SEEN_WAYS][dirty[i].at % SEEN_WAYS] =
		    dirty[i].key;
	if (create)
		gsync_path(seen_dir);
	return (0);
}

int
seen_init(const char *root)
{
	if (snprintf(seen_path, sizeof(seen_path), "%s/%s", root,
	    SEEN_FILE) >= (int)sizeof(seen_path) ||
	    snprintf(seen_dir, sizeof(seen_dir), "%s/%s", root,
	    SEEN_DIR) >= (int)sizeof(seen_dir))
		return (-1);
	if ((seen = calloc(SEEN_BUCKETS, sizeof(*seen))) == NULL)
		fatal("seen_init");
	(void)seen_open(0);
	return (0);
}

static size_t
put(unsigned char *buf, size_t n, const char *s, size_t max)
{
	size_t	 len = strnlen(s, max - 1);

	memcpy(buf + n, s, len);
	buf[n + len] = '\0';
	return (n + len + 1);
}

static uint64_t
seen_key(const struct event_record *ev, unsigned *bucket)
{
	unsigned char	 buf[1 + sizeof(ev->queue_id) + sizeof(ev->recipient) +
			    sizeof(ev->link)];
	unsigned char	 h[MH_SHA256_LEN];
	uint64_t	 key;
	size_t		 n = 0;

	buf[n++] = (unsigned char)ev->kind;
	n = put(buf, n, ev->queue_id, sizeof(ev->queue_id));
	n = put(buf, n, ev->recipient, sizeof(ev->recipient));
	if (ev->kind == EV_CLICK)
		n = put(buf, n, ev->link, sizeof(ev->link));
	mh_sha256(buf, n, h);
	memcpy(&key, h, sizeof(key));
	key |= 1;			/* 0 is an empty slot */
	*bucket = h[8] | h[9] << 8;
	return (key);
}

/* key, just put at slot at of the table, is to be written */
static void
seen_dirty(uint32_t at, uint64_t key)
{
	if (ndirty == SEEN_DIRTY) {
		log_warnx("%s: a first open or click could not be written: "
		    "counted unique again after a restart", SEEN_FILE);
		memmove(dirty, dirty + 1, (ndirty - 1) * sizeof(dirty[0]));
		ndirty--;
	}
	dirty[ndirty].at = at;
	dirty[ndirty++].key = key;
}

/* the keys to write, in their order, until one fails (logged) */
static void
seen_flush(void)
{
	uint64_t	 key;
	unsigned	 i, at;

	for (i = 0; i < ndirty; i++) {
		at = dirty[i].at;
		key = dirty[i].key;
		/* a key placed there since takes its turn */
		if (seen[at / SEEN_WAYS][at % SEEN_WAYS] != key)
			continue;
		if (pwrite(seen_fd, &key, sizeof(key),
		    (off_t)at * sizeof(key)) != sizeof(key)) {
			log_warn("%s: write", SEEN_FILE);
			break;
		}
	}
	if (i > 0)
		gsync_fd(seen_fd);
	memmove(dirty, dirty + i, (ndirty - i) * sizeof(dirty[0]));
	ndirty -= i;
}

int
seen_first(const struct event_record *ev)
{
	uint64_t	 key;
	unsigned	 b, i, slot;

	if (seen == NULL)
		return (1);
	key = seen_key(ev, &b);
	slot = SEEN_WAYS;
	for (i = 0; i < SEEN_WAYS; i++) {
		if (seen[b][i] == key)
			return (0);
		if (seen[b][i] == 0 && slot == SEEN_WAYS)
			slot = i;
	}
	if (slot == SEEN_WAYS)
		slot = (key >> 32) % SEEN_WAYS;
	seen[b][slot] = key;
	seen_dirty(b * SEEN_WAYS + slot, key);
	if (seen_open(1) == 0)
		seen_flush();
	return (1);
}

/*
 * Several nodes (redis_link.h): an open or click first seen here may have
 * been seen on another node.  SET NX of the same key in Redis (kept 30
 * days) says; without the link this node's answer stands.  0: ev was
 * taken and is submitted when the answer comes; -1: submit it now.
 */
#define SEEN_SHARED_KEY	REDIS_PREFIX "seen:"
#define SEEN_SHARED_TTL	"2592000"

struct seen_wait {
	struct mproc		*p;
	struct event_record	 ev;
};

static void
seen_answer(const redisReply *r, void *arg)
{
	struct seen_wait	*w = arg;

	if (r == NULL)
		redis_fallback("unique opens");
	else if (r->type == REDIS_REPLY_NIL)
		w->ev.unique_open = 0;		/* another node's first */
	if (events_submit_ack(w->p, &w->ev) == -1)
		log_warnx("event %s could not be stored", w->ev.id);
	mh_event_clear(&w->ev);
	free(w);
}

int
seen_shared(struct mproc *p, struct event_record *ev)
{
	struct seen_wait	*w;
	unsigned		 b;
	char			 key[sizeof(SEEN_SHARED_KEY) + 17];
	const char		*argv[] = { "SET", key, "1", "NX", "EX",
				    SEEN_SHARED_TTL };

	if (!redis_link_up())
		return (-1);
	snprintf(key, sizeof(key), "%s%016llx", SEEN_SHARED_KEY,
	    (unsigned long long)seen_key(ev, &b));
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	w->p = p;
	w->ev = *ev;
	if (redis_command(seen_answer, w, 6, argv, NULL) == -1) {
		free(w);
		return (-1);
	}
	return (0);
}

/* a hash of (queue id, recipient) and its slot in deliv */
static uint64_t
deliv_key(const struct event_record *ev, unsigned *slot)
{
	unsigned char	 buf[sizeof(ev->queue_id) + sizeof(ev->recipient)];
	unsigned char	 h[MH_SHA256_LEN];
	uint64_t	 key;
	size_t		 n;

	n = put(buf, 0, ev->queue_id, sizeof(ev->queue_id));
	n = put(buf, n, ev->recipient, sizeof(ev->recipient));
	mh_sha256(buf, n, h);
	memcpy(&key, h, sizeof(key));
	*slot = (h[8] | h[9] << 8) % DELIV_SLOTS;
	return (key | 1);
}

void
seen_delivered(const struct event_record *ev)
{
	unsigned	 s;
	uint64_t	 key = deliv_key(ev, &s);

	deliv[s].key = key;
	deliv[s].when = ev->time;
}

int
seen_just_delivered(const struct event_record *ev)
{
	unsigned	 s;
	uint64_t	 key = deliv_key(ev, &s);

	return (deliv[s].key == key && ev->time >= deliv[s].when &&
	    ev->time - deliv[s].when < TRACK_MACHINE_SECS);
}

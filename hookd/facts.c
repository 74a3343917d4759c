/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: what each outbound message is (its facts), for the events made
 * long after it was submitted, which know it only by its queue id: opens,
 * reads and clicks from webd, and what comes back to the bounce address
 * (a DSN, an auto-reply, a reply).  They get the message's Message-ID,
 * sender, tags, group, transaction and subject from here; and a
 * recipient as it was written where that is not the form a VERP return
 * path may give back ("Jim"@D, whose return path names Jim@D, or jim@d
 * from an MTA that lower-cases it: verp_rcpt_key), so that every event
 * of a recipient names it alike; and jo@d itself, in a message that has
 * "jo"@d too, so that a report's text naming jo@d names jo@d.
 *
 * Every message's registration event passes through hookd: its facts are
 * appended to <spool>/events/facts.0 with one write(2) before the event
 * is stored, and made durable by the same group commit (gsync.h) before
 * relayd is answered.  A record whose write fails waits in memory
 * (FACTS_PENDING of them, found there) and is written before the next
 * one: the event is not held for it, its facts are a convenience.  A record is
 *
 *	magic (4), CRC-32 of the rest (4), queue id (16 hex digits),
 *	six lengths (2 each), the six strings without NUL
 *
 * in the host's byte order; a recipient's ("MHR2") has one string, the
 * recipient as written, indexed by the queue id and that recipient's
 * verp_rcpt_form (an older "MHR1" by its verp_rcpt_key).  Bounded: once
 * facts.0 holds FACTS_GEN_RECS messages' records or FACTS_GEN_SIZE bytes
 * it becomes facts.1 (the previous one goes) and a new facts.0 begins;
 * so the last 100,000 to 200,000 messages are kept (a recipient's record
 * is not counted, only its bytes: a message to many recipients in
 * capitals does not push out 100 others), 64 MiB of disk at most.  An
 * index in memory (FACTS_BUCKETS buckets of FACTS_WAYS slots, 4 MiB)
 * maps a hash of the queue id to the record; a full bucket forgets its
 * oldest recipient's record, else its oldest message's for a message's
 * record (a recipient's is then not indexed).  Rebuilt at
 * start from both files; a record that is not whole or not valid (a
 * crash while it was written) ends a file, and facts.0 is cut there.
 * Everything read back is checked as the events relayd sends are.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "envelope.h"
#include "fileio.h"
#include "gsync.h"
#include "log.h"
#include "mh_event.h"
#include "verp.h"
#include "hookd.h"

#define FACTS_DIR	"events"
#define FACTS_CUR	FACTS_DIR "/facts.0"
#define FACTS_PREV	FACTS_DIR "/facts.1"
#define FACTS_GEN_RECS	100000
#define FACTS_GEN_SIZE	((off_t)32 << 20)
#define FACTS_BUCKETS	(1 << 15)
#define FACTS_WAYS	8
#define FACTS_MAGIC	0x3146484dU		/* "MHF1" */
#define FACTS_RMAGIC	0x3152484dU		/* "MHR1": a recipient */
#define FACTS_R2MAGIC	0x3252484dU		/* "MHR2": a recipient */
#define FACTS_QID	(MH_MSGID_LEN - 1)
#define FACTS_NSTR	6
#define FACTS_HEAD	(4 + 4 + FACTS_QID + 2 * FACTS_NSTR)

struct facts_field {
	const char	*key;
	size_t		 off;
	size_t		 size;
};

#define FF(k, m)	{ k, offsetof(struct event_record, m),		\
			    sizeof(((struct event_record *)0)->m) }
static const struct facts_field ff[FACTS_NSTR] = {
	FF("message_id", message_id),
	FF("sender", sender),
	FF("tags", tags),
	FF("group", group),
	FF("transaction", transaction),
	FF("subject", subject),
};
static const struct facts_field rf[] = {
	FF("recipient", recipient),
};

/*
 * The kinds of record: a message's facts, a recipient's spelling.  A
 * recipient's MHR1, of a build whose return path of "jim"@d was jim@d's,
 * is keyed by verp_rcpt_key (jim@d); MHR2, now written, by
 * verp_rcpt_form ("jim"@d), as that return path tells the two apart.
 */
static const struct facts_kind {
	uint32_t			 magic;
	const struct facts_field	*f;
	size_t				 n;
} fk[] = {
	{ FACTS_MAGIC, ff, FACTS_NSTR },
	{ FACTS_R2MAGIC, rf, 1 },
	{ FACTS_RMAGIC, rf, 1 },
};
#define FACTS_NKIND	(sizeof(fk) / sizeof(fk[0]))

/* the longest record: each string one byte short of its array */
_Static_assert(FACTS_HEAD + 255 + MH_ADDR_MAX - 1 + 511 + 127 + 127 + 511 <=
    FACTS_REC_MAX &&
    sizeof(((struct event_record *)0)->message_id) == 256 &&
    sizeof(((struct event_record *)0)->sender) == MH_ADDR_MAX &&
    sizeof(((struct event_record *)0)->tags) == 512 &&
    sizeof(((struct event_record *)0)->group) == 128 &&
    sizeof(((struct event_record *)0)->transaction) == 128 &&
    sizeof(((struct event_record *)0)->subject) == 512,
    "FACTS_REC_MAX counts the fields of struct event_record");

struct facts_slot {
	uint64_t	 key;		/* 0: empty */
	uint32_t	 gen;
	unsigned int	 off : 31;	/* < FACTS_GEN_SIZE */
	unsigned int	 rcpt : 1;	/* a recipient's record */
};
_Static_assert(FACTS_GEN_SIZE <= ((off_t)1 << 31) &&
    sizeof(struct facts_slot) == 16, "an offset fits a slot of 16 bytes");

static struct facts_slot (*idx)[FACTS_WAYS];
static uint32_t		 cur_gen = 2;	/* the previous one: cur_gen - 1 */
static int		 cur_fd = -1, prev_fd = -1;
static off_t		 cur_size;
static unsigned		 cur_recs, gen_recs = FACTS_GEN_RECS;
static int		 cur_lost;	/* renamed, the new one not made */

/* a record whose write failed, kept to be written later (facts_append) */
#define FACTS_PENDING	64
struct facts_pend {
	uint64_t	 key;
	unsigned	 b;
	int		 msg;		/* a message's, not a recipient's */
	size_t		 n;
	unsigned char	 buf[FACTS_REC_MAX];
};
static struct facts_pend pend[FACTS_PENDING];
static unsigned		 npend;
static char		 cur_path[MH_PATH_MAX], prev_path[MH_PATH_MAX];

/* a message's key; with rcpt (its canonical form), that recipient's */
static uint64_t
facts_key(const char *qid, const char *rcpt, unsigned *bucket)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	size_t		 i;

	for (i = 0; i < FACTS_QID; i++) {
		h ^= (unsigned char)qid[i];
		h *= 0x100000001b3ULL;
	}
	/* its NUL too: no recipient's key is a message's */
	for (i = 0; rcpt != NULL && (i == 0 || rcpt[i - 1] != '\0'); i++) {
		h ^= (unsigned char)rcpt[i];
		h *= 0x100000001b3ULL;
	}
	*bucket = (h >> 40) % FACTS_BUCKETS;
	return (h | 1);
}

static int
slot_live(const struct facts_slot *s)
{
	return (s->key != 0 && (s->gen == cur_gen || s->gen + 1 == cur_gen));
}

static struct facts_slot *
slot_find(uint64_t key, unsigned b)
{
	unsigned	 i;

	for (i = 0; i < FACTS_WAYS; i++)
		if (idx[b][i].key == key && slot_live(&idx[b][i]))
			return (&idx[b][i]);
	return (NULL);
}

/* a is forgotten before b: a recipient's before a message's, the older */
static int
slot_before(const struct facts_slot *a, const struct facts_slot *b)
{
	if (a->rcpt != b->rcpt)
		return (a->rcpt);
	return (a->gen < b->gen || (a->gen == b->gen && a->off < b->off));
}

/*
 * A free slot, else the one of the bucket forgotten first: a message's
 * facts outlive the spellings of recipients (more records than messages),
 * so a recipient's record finding only messages' is not indexed
 */
static void
slot_put(uint64_t key, unsigned b, uint32_t gen, uint32_t off, int rcpt)
{
	struct facts_slot	*s, *old = NULL;
	unsigned		 i;

	if ((s = slot_find(key, b)) == NULL) {
		for (i = 0; i < FACTS_WAYS; i++) {
			s = &idx[b][i];
			if (!slot_live(s))
				break;
			if (old == NULL || slot_before(s, old))
				old = s;
		}
		if (i == FACTS_WAYS) {
			if (rcpt && !old->rcpt)
				return;
			s = old;
		}
	}
	s->key = key;
	s->gen = gen;
	s->off = off;
	s->rcpt = rcpt != 0;
}

static void
put16(unsigned char *p, size_t v)
{
	uint16_t	 u = v;

	memcpy(p, &u, sizeof(u));
}

/* a record of ev's recipient when it has one, else of its message */
size_t
facts_encode(const struct event_record *ev, void *buf, size_t size)
{
	const struct facts_kind	*k = &fk[ev->recipient[0] != '\0'];
	unsigned char		*p = buf;
	const char		*s;
	uint32_t		 u;
	size_t			 i, len, n = 8 + FACTS_QID + 2 * k->n;

	if (size < FACTS_REC_MAX || !envelope_id_ok(ev->queue_id))
		return (0);
	memcpy(p + 8, ev->queue_id, FACTS_QID);
	for (i = 0; i < k->n; i++) {
		s = (const char *)ev + k->f[i].off;
		len = strnlen(s, k->f[i].size - 1);
		put16(p + 8 + FACTS_QID + 2 * i, len);
		memcpy(p + n, s, len);
		n += len;
	}
	u = k->magic;
	memcpy(p, &u, sizeof(u));
	u = crc32(crc32(0L, Z_NULL, 0), p + 8, n - 8);
	memcpy(p + 4, &u, sizeof(u));
	return (n);
}

int
facts_decode(const void *buf, size_t size, struct event_record *ev)
{
	const unsigned char	*p = buf;
	const struct facts_kind	*k;
	uint32_t		 u;
	uint16_t		 l;
	size_t			 i, n, head;
	char			*s;

	if (size < 4)
		return (0);
	memcpy(&u, p, sizeof(u));
	for (k = fk; k < fk + FACTS_NKIND && k->magic != u; k++)
		;
	if (k == fk + FACTS_NKIND)
		return (-1);
	n = head = 8 + FACTS_QID + 2 * k->n;
	if (size < head)
		return (0);
	for (i = 0; i < k->n; i++) {
		memcpy(&l, p + 8 + FACTS_QID + 2 * i, sizeof(l));
		if (l >= k->f[i].size)
			return (-1);
		n += l;
	}
	if (size < n)
		return (0);
	memcpy(&u, p + 4, sizeof(u));
	if (u != crc32(crc32(0L, Z_NULL, 0), p + 8, n - 8))
		return (-1);
	memset(ev, 0, sizeof(*ev));
	memcpy(ev->queue_id, p + 8, FACTS_QID);
	if (!envelope_id_ok(ev->queue_id))
		return (-1);
	n = head;
	for (i = 0; i < k->n; i++) {
		memcpy(&l, p + 8 + FACTS_QID + 2 * i, sizeof(l));
		if (!mh_event_field_ok(k->f[i].key, (const char *)p + n, l))
			return (-1);
		s = (char *)ev + k->f[i].off;
		memcpy(s, p + n, l);
		s[l] = '\0';
		n += l;
	}
	/* a recipient's record is of a recipient (encoded again alike) */
	if (k->magic != FACTS_MAGIC && ev->recipient[0] == '\0')
		return (-1);
	return ((int)n);
}

/* the kind of the record at buf (decoded whole) */
static uint32_t
record_magic(const void *buf)
{
	uint32_t	 u;

	memcpy(&u, buf, sizeof(u));
	return (u);
}

/* the form a recipient's record (of kind magic) is keyed by: 0, -1 */
static int
record_form(const struct event_record *ev, uint32_t magic, char *c,
    size_t len)
{
	if (magic == FACTS_RMAGIC)
		return (verp_rcpt_key(c, len, ev->recipient));
	return (verp_rcpt_form(c, len, ev->recipient));
}

/*
 * The key of a record read: its message's, or its recipient's by the
 * form its return path's MAC is over (record_form); 0 for one that
 * needs no index (none there can be)
 */
static uint64_t
record_key(const struct event_record *ev, uint32_t magic, unsigned *b)
{
	char	 c[MH_ADDR_MAX];

	if (ev->recipient[0] == '\0')
		return (facts_key(ev->queue_id, NULL, b));
	if (record_form(ev, magic, c, sizeof(c)) == -1)
		return (0);
	return (facts_key(ev->queue_id, c, b));
}

/*
 * The records of fd into the index as generation gen: where the last
 * whole one ends (the rest is a torn write or not ours), -1 if it
 * cannot be read.
 */
static off_t
facts_load(int fd, const char *path, uint32_t gen, unsigned *nrec)
{
	static unsigned char	 buf[64 * 1024];
	struct event_record	 ev;
	struct stat		 st;
	size_t			 have = 0, at;
	off_t			 end = 0;
	ssize_t			 n;
	int			 eof = 0, r;
	unsigned		 b;
	uint64_t		 key;

	*nrec = 0;
	for (;;) {
		while (!eof && have < sizeof(buf)) {
			n = pread_eintr(fd, buf + have, sizeof(buf) - have,
			    end + have);
			if (n == -1) {
				log_warn("%s", path);
				return (-1);
			}
			if (n == 0)
				eof = 1;
			have += n;
		}
		r = 0;
		for (at = 0; at < have; at += r) {
			if ((r = facts_decode(buf + at, have - at, &ev)) <= 0)
				break;
			if (end + (off_t)(at + r) > FACTS_GEN_SIZE) {
				r = -1;
				break;
			}
			if ((key = record_key(&ev, record_magic(buf + at),
			    &b)) != 0)
				slot_put(key, b, gen, end + at,
				    ev.recipient[0] != '\0');
			if (ev.recipient[0] == '\0')
				(*nrec)++;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
		end += at;
		if (r == -1 || eof)
			break;
	}
	if (fstat(fd, &st) == 0 && st.st_size > end)
		log_warnx("%s: %lld bytes after the last whole record "
		    "ignored", path, (long long)(st.st_size - end));
	return (end);
}

static int
facts_open(const char *path, int flags, uint32_t gen, off_t *size,
    unsigned *nrec)
{
	int	 fd;
	off_t	 end;

	if ((fd = open(path, flags | O_CLOEXEC, 0600)) == -1) {
		if (errno != ENOENT)
			log_warn("%s", path);
		return (-1);
	}
	if ((end = facts_load(fd, path, gen, nrec)) == -1) {
		close(fd);
		return (-1);
	}
	*size = end;
	return (fd);
}

int
facts_init(const char *root, unsigned max_records)
{
	off_t		 size;
	unsigned	 nrec;

	gen_recs = max_records > 0 ? max_records : FACTS_GEN_RECS;
	if (snprintf(cur_path, sizeof(cur_path), "%s/%s", root,
	    FACTS_CUR) >= (int)sizeof(cur_path) ||
	    snprintf(prev_path, sizeof(prev_path), "%s/%s", root,
	    FACTS_PREV) >= (int)sizeof(prev_path))
		return (-1);
	/* once in hookd (its pages touched as slots are used); again in
	 * the tests, as after a restart */
	npend = 0;
	if (idx != NULL)
		memset(idx, 0, (size_t)FACTS_BUCKETS * sizeof(*idx));
	else if ((idx = calloc(FACTS_BUCKETS, sizeof(*idx))) == NULL)
		fatal("facts_init");
	if (cur_fd != -1)
		close(cur_fd);
	if (prev_fd != -1)
		close(prev_fd);
	cur_gen = 2;
	cur_lost = 0;
	prev_fd = facts_open(prev_path, O_RDONLY, cur_gen - 1, &size, &nrec);
	if ((cur_fd = facts_open(cur_path, O_RDWR | O_CREAT, cur_gen,
	    &cur_size, &cur_recs)) == -1)
		return (-1);
	/* what follows the last whole record goes: the next one is
	 * written there */
	if (file_cut(cur_fd, cur_size) == -1) {
		log_warn("%s", cur_path);
		close(cur_fd);
		cur_fd = -1;
		return (-1);
	}
	gsync_fd(cur_fd);
	return (0);
}

/*
 * facts.0 is full: it becomes facts.1, a new one begins.  If the rename
 * fails, both stay as they are; if the new file cannot be made, the
 * next record tries again (cur_lost).
 */
static int
facts_rotate(void)
{
	char	*slash, dir[MH_PATH_MAX];

	if (!cur_lost) {
		if (rename(cur_path, prev_path) == -1) {
			log_warn("%s", cur_path);
			return (-1);
		}
		if (prev_fd != -1)
			close(prev_fd);
		prev_fd = cur_fd;
		cur_fd = -1;
		cur_gen++;
		cur_size = 0;
		cur_recs = 0;
		cur_lost = 1;
	}
	if ((cur_fd = open(cur_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		log_warn("%s", cur_path);
		return (-1);
	}
	cur_lost = 0;
	strlcpy(dir, cur_path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	gsync_path(dir);
	return (0);
}

/* record p (FACTS_REC_MAX bytes at least) to facts.0; -1 (logged) if not */
static int
facts_write(const struct facts_pend *p)
{
	/* messages are counted; their recipients' records only weigh */
	if ((cur_lost || (p->msg && cur_recs >= gen_recs) ||
	    cur_size + (off_t)p->n > FACTS_GEN_SIZE) && facts_rotate() == -1)
		return (-1);
	if (pwrite(cur_fd, p->buf, p->n, cur_size) != (ssize_t)p->n) {
		log_warn("%s: write", FACTS_CUR);
		/* no torn record before the next one */
		if (file_cut(cur_fd, cur_size) == -1)
			log_warn("%s", FACTS_CUR);
		return (-1);
	}
	gsync_fd(cur_fd);
	slot_put(p->key, p->b, cur_gen, cur_size, !p->msg);
	cur_size += p->n;
	if (p->msg)
		cur_recs++;
	return (0);
}

/* the records a write failed for, in their order: 0 all written now */
static int
pend_flush(void)
{
	unsigned	 i;

	for (i = 0; i < npend && facts_write(&pend[i]) == 0; i++)
		;
	if (i > 0) {
		memmove(pend, pend + i, (npend - i) * sizeof(pend[0]));
		npend -= i;
	}
	return (npend > 0 ? -1 : 0);
}

/* the one of key waiting, or NULL */
static const struct facts_pend *
pend_find(uint64_t key)
{
	unsigned	 i;

	for (i = 0; i < npend; i++)
		if (pend[i].key == key)
			return (&pend[i]);
	return (NULL);
}

/*
 * r's record, unless one of its key is there.  One whose write fails
 * waits in memory (found there meanwhile) and is written before the
 * next record; past FACTS_PENDING of them the oldest is lost (logged):
 * its message's later events would lack its facts
 */
static void
facts_append(const struct event_record *r, uint64_t key, unsigned b)
{
	struct facts_pend	*p;

	if (slot_find(key, b) != NULL || pend_find(key) != NULL)
		return;
	if (npend == FACTS_PENDING && pend_flush() == -1) {
		log_warnx("%s: the record of message %.16s could not be "
		    "written, lost", FACTS_CUR, (const char *)pend[0].buf + 8);
		memmove(pend, pend + 1, (npend - 1) * sizeof(pend[0]));
		npend--;
	}
	p = &pend[npend];
	if ((p->n = facts_encode(r, p->buf, sizeof(p->buf))) == 0)
		return;
	p->key = key;
	p->b = b;
	p->msg = r->recipient[0] == '\0';
	npend++;
	(void)pend_flush();
}

/*
 * The keys of the recipients written as their return paths give them
 * back (jo@d), of the message whose registrations come now: relayd
 * sends a message's one after the other
 */
static struct {
	char		 qid[FACTS_QID + 1];
	uint64_t	*keys;
	size_t		 n, cap;
} plain;

/* 1 if key is of a recipient of qid's written plain; with add, it is */
static int
plain_seen(const char *qid, uint64_t key, int add)
{
	uint64_t	*k;
	size_t		 i;

	if (strcmp(plain.qid, qid) != 0) {
		strlcpy(plain.qid, qid, sizeof(plain.qid));
		plain.n = 0;
	}
	for (i = 0; i < plain.n; i++)
		if (plain.keys[i] == key)
			return (1);
	if (!add)
		return (0);
	if (plain.n == plain.cap) {
		if ((k = reallocarray(plain.keys, plain.cap + 64,
		    sizeof(*k))) == NULL)
			fatal("facts plain");
		plain.keys = k;
		plain.cap += 64;
	}
	plain.keys[plain.n++] = key;
	return (0);
}

/*
 * A record of recipient c, written as its return path gives it back
 * (jo@d), in a message with its quoted spelling ("jo"@d): a report's
 * text naming jo@d names it then, not "jo"@d (fill_recipient)
 */
static void
facts_note_plain(const char *qid, const char *c)
{
	static struct event_record	 r;
	unsigned			 b;
	uint64_t			 key;

	memset(&r, 0, sizeof(r));
	strlcpy(r.queue_id, qid, sizeof(r.queue_id));
	strlcpy(r.recipient, c, sizeof(r.recipient));
	key = facts_key(qid, c, &b);
	facts_append(&r, key, b);
}

/*
 * A recipient written as its return path gives it back (jo@d) needs a
 * record only beside its quoted spelling ("jo"@d, of the key q): 1 if
 * one of them is in the message so far
 */
static int
facts_twins(const char *qid, const char *c, const char *q, int plain_one)
{
	unsigned	 b;
	uint64_t	 key;

	key = facts_key(qid, c, &b);
	if (plain_one) {
		(void)plain_seen(qid, key, 1);
		key = facts_key(qid, q, &b);
		return (slot_find(key, b) != NULL);
	}
	return (plain_seen(qid, key, 0));
}

void
facts_note(const struct event_record *ev)
{
	static struct event_record	 r;
	char				 c[MH_ADDR_MAX], q[MH_ADDR_MAX];
	unsigned			 b;
	uint64_t			 key;
	int				 same;

	if (idx == NULL || (cur_fd == -1 && !cur_lost) ||
	    ev->kind != EV_REGISTRATION || !envelope_id_ok(ev->queue_id))
		return;
	/* one registration per recipient: the first one says the
	 * message's facts */
	r = *ev;
	r.recipient[0] = '\0';
	key = facts_key(ev->queue_id, NULL, &b);
	facts_append(&r, key, b);
	/* a recipient not written as a return path may give it back:
	 * quoted ("jim"@d, its return path's MAC over that spelling), in
	 * capitals (an MTA may lower-case it); keyed by the form its return
	 * path names, "jim"@d apart from jim@d */
	if (verp_rcpt_key(c, sizeof(c), ev->recipient) == -1)
		return;
	/* beside "jo"@d, jo@d gets a record too, whichever came first */
	same = strcmp(c, ev->recipient) == 0;
	if (verp_rcpt_quoted(q, sizeof(q), c) == 0 &&
	    (same || strcmp(q, ev->recipient) == 0) &&
	    facts_twins(ev->queue_id, c, q, same))
		facts_note_plain(ev->queue_id, c);
	if (same || verp_rcpt_form(c, sizeof(c), ev->recipient) == -1)
		return;
	memset(&r, 0, sizeof(r));
	strlcpy(r.queue_id, ev->queue_id, sizeof(r.queue_id));
	strlcpy(r.recipient, ev->recipient, sizeof(r.recipient));
	key = facts_key(ev->queue_id, c, &b);
	facts_append(&r, key, b);
}

/* the events that know the message by its queue id only */
static int
facts_wanted(const struct event_record *ev)
{
	switch (ev->kind) {
	case EV_OPEN:
	case EV_READ_MAIL:
	case EV_CLICK:
	case EV_AUTO_REPLY:
	case EV_BOUNCE_REPLY:
	case EV_COMPLAINT:
	case EV_UNSUBSCRIBE:
	case EV_RESUBSCRIBE:
		return (1);
	case EV_BOUNCE:
		return (ev->async);
	default:
		return (0);
	}
}

static void
fill(char *dst, const char *src, size_t size)
{
	if (dst[0] == '\0')
		strlcpy(dst, src, size);
}

/* the record of key, of the message qid: its kind, 0 if none */
static uint32_t
facts_read(uint64_t key, unsigned b, const char *qid,
    struct event_record *f)
{
	static unsigned char	 buf[FACTS_REC_MAX];
	struct facts_slot	*s;
	const struct facts_pend	*p;
	ssize_t			 n;
	int			 fd;

	if ((s = slot_find(key, b)) == NULL) {
		if ((p = pend_find(key)) == NULL ||
		    facts_decode(p->buf, p->n, f) <= 0 ||
		    strcmp(f->queue_id, qid) != 0)
			return (0);
		return (record_magic(p->buf));
	}
	fd = s->gen == cur_gen ? cur_fd : prev_fd;
	if (fd == -1)
		return (0);
	n = pread_eintr(fd, buf, sizeof(buf), s->off);
	if (n <= 0 || facts_decode(buf, n, f) <= 0 ||
	    strcmp(f->queue_id, qid) != 0)
		return (0);
	return (record_magic(buf));
}

/* the spelling of ev's recipient whose record is keyed by form c: 0, -1 */
static int
rcpt_spelling(const struct event_record *ev, const char *c,
    struct event_record *f)
{
	char		 fc[MH_ADDR_MAX];
	unsigned	 b;
	uint32_t	 magic;
	uint64_t	 key;

	key = facts_key(ev->queue_id, c, &b);
	if ((magic = facts_read(key, b, ev->queue_id, f)) == 0 ||
	    magic == FACTS_MAGIC || f->recipient[0] == '\0' ||
	    record_form(f, magic, fc, sizeof(fc)) == -1 || strcmp(fc, c) != 0)
		return (-1);
	return (0);
}

/*
 * ev's recipient as the message's registration wrote it: the spelling
 * its form names (a return path's, a token's: "jim"@d and jim@d apart);
 * with FACTS_ANY (an address a report's text names, as an MTA writes
 * it: jim@d of "jim"@d), a quoted spelling of it if none is unquoted
 */
static void
fill_recipient(struct event_record *ev, int how)
{
	struct event_record	 f;
	char			 c[MH_ADDR_MAX], q[MH_ADDR_MAX];

	if (verp_rcpt_form(c, sizeof(c), ev->recipient) == -1)
		return;
	if (rcpt_spelling(ev, c, &f) == 0) {
		strlcpy(ev->recipient, f.recipient, sizeof(ev->recipient));
		return;
	}
	if (how != FACTS_ANY || verp_rcpt_quoted(q, sizeof(q), c) == -1 ||
	    rcpt_spelling(ev, q, &f) == -1)
		return;
	strlcpy(ev->recipient, f.recipient, sizeof(ev->recipient));
}

int
facts_fill(struct event_record *ev, int how)
{
	struct event_record	 f;
	unsigned		 b;
	uint64_t		 key;

	if (idx == NULL || !facts_wanted(ev) ||
	    !envelope_id_ok(ev->queue_id))
		return (0);
	if (ev->recipient[0] != '\0')
		fill_recipient(ev, how);
	key = facts_key(ev->queue_id, NULL, &b);
	if (facts_read(key, b, ev->queue_id, &f) != FACTS_MAGIC)
		return (0);
	fill(ev->message_id, f.message_id, sizeof(ev->message_id));
	fill(ev->sender, f.sender, sizeof(ev->sender));
	fill(ev->tags, f.tags, sizeof(ev->tags));
	fill(ev->group, f.group, sizeof(ev->group));
	fill(ev->transaction, f.transaction, sizeof(ev->transaction));
	/* a reply's subject is its own */
	if (ev->kind != EV_AUTO_REPLY && ev->kind != EV_BOUNCE_REPLY)
		fill(ev->subject, f.subject, sizeof(ev->subject));
	return (1);
}

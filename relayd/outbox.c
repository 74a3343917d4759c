/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's event outbox (outbox.h): nothing the engine reports is lost
 * if relayd or hookd dies before hookd has made the event durable.
 *
 *	outbound/outbox/j-<n>		a journal: lines, each an event
 *					(mh_event_to_json) or "ack <id>"
 *	outbound/outbox/<eventid>.json	one event (older versions)
 *
 * An event is appended to the current journal with one write and goes to
 * hookd once the group commit (gsync.h) has made it durable, in the same
 * flush as the queue change that caused it; a recipient's state, which
 * the queue fsyncs on its own, waits for outbox_sync() to flush the
 * journal first.  If that flush fails, the state is not written nor the
 * message removed: the journal is not flushed again (a second flush may
 * report success for pages the first lost); its unacknowledged events
 * are copied at once to a new journal, fsynced on its own with the next
 * group commit, on gsync's flusher thread (jcopy), and it goes, or it
 * goes once hookd has acknowledged all its events, whichever comes
 * first; what waited waits no more (a copy that cannot be written holds
 * back the files that group commit removes: copy_now).  An event that
 * no journal takes (disk full) is loose: sent all the same, and written
 * to a journal once one can be (loose_write).  What cannot be written
 * is tried again after 1 s, doubled up to OUTBOX_RETRY_MAX while writes
 * fail, at once when a journal write or group commit works (writes_work,
 * at most once a second);
 * once durable its events go to hookd again at once.  A file per
 * event cost more than the rest of the relay: ext4 looks through the
 * recently deleted inodes for every file it creates.  An ack is noted in
 * memory and, at the end of the loop pass, as an "ack" line in the
 * event's journal (no flush needed: one lost to a crash only means one
 * more harmless re-send).  A journal goes once all its events are acknowledged; the
 * current one is left for a new one at OUTBOX_JOURNAL_MAX bytes.  At
 * start the unacknowledged events of every journal (and the files of
 * older versions) are written to a fresh journal, flushed, and the old
 * files removed; a line cut by a crash is ignored (it was never flushed,
 * so never sent), a malformed one keeps its file aside as bad-*.
 * Pending events stay in memory in arrival order, in the binary form they
 * are sent in (mh_event_pack: hookd parses no JSON).  Without any events
 * block in the configuration nothing would deliver an event, so none is
 * written: each goes to hookd (for mhctl monitor) and is forgotten.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "mh_event.h"
#include "fileio.h"
#include "gsync.h"
#include "log.h"
#include "outbox.h"

#define OUTBOX_DIR		"outbound/outbox"
#define OUTBOX_FILE_MAX		(1024 * 1024)	/* one event */
#define OUTBOX_JOURNAL_MAX	(1024 * 1024)	/* then a new journal */
#define OUTBOX_READ_MAX		(64 * 1024 * 1024)
#define ACK_PREFIX		"ack "

struct jfile {
	TAILQ_ENTRY(jfile)	 entry;
	unsigned long		 seq;
	int			 fd;
	off_t			 size;
	size_t			 live;		/* its events not acked */
	char			*acks;		/* "ack ID\n" lines to write */
	size_t			 nacks, ackcap;
	int			 unsynced;	/* lines since outbox_sync */
	int			 failed;	/* a flush of it failed */
	int			 copy;		/* jcopy made it, fsynced */
	struct jfile		*copying;	/* its copy, being fsynced */
	struct jfile		*of;		/* a copy: the failed one */
	size_t			 ncopied;	/* a copy: events in it */
	int			 warned;	/* outbox_wait_news said so */
};
TAILQ_HEAD(jlist, jfile);

struct obentry {
	TAILQ_ENTRY(obentry)	 entry;
	TAILQ_ENTRY(obentry)	 sentry;	/* sent: in sentq */
	RB_ENTRY(obentry)	 node;
	char			 id[EVENT_ID_LEN];
	void			*wire;		/* what is sent */
	size_t			 wlen;
	char			*json;		/* loaded: until rewritten */
	size_t			 len;
	struct jfile		*jf;
	time_t			 sent;		/* 0: not yet */
	/* the numbers of its first and its last send (sendseq) */
	uint64_t		 seq1, seq;
	int			 durable;	/* may be sent */
	int			 loose;		/* no journal has it */
};
TAILQ_HEAD(oblist, obentry);
RB_HEAD(obtree, obentry);

static int
ob_cmp(struct obentry *a, struct obentry *b)
{
	return (strcmp(a->id, b->id));
}
RB_PROTOTYPE(obtree, obentry, node, ob_cmp);
RB_GENERATE(obtree, obentry, node, ob_cmp);

static struct oblist	 pending = TAILQ_HEAD_INITIALIZER(pending);
/* the pending events sent, in the order of their last send (seq): those
 * hookd has read (seq < readseq) come first (resend_round) */
static struct oblist	 sentq = TAILQ_HEAD_INITIALIZER(sentq);
/* re-send rounds, their continuations, the events those looked at */
static uint64_t		 nrounds, nmore, nlooked;
static struct obtree	 byid = RB_INITIALIZER(&byid);
static struct jlist	 journals = TAILQ_HEAD_INITIALIZER(journals);
static struct jfile	*cur;
static unsigned long	 jseq;
static size_t		 npending;
static int		 obfd = -1;
static int		 started;
static int		 keep = 1;	/* persist until acknowledged */
static int		 unsynced;	/* a line or journal since outbox_sync */
static int		 dir_unsynced;	/* a journal made since outbox_sync */
static size_t		 nloose;	/* pending events in no journal */
static int		 loose_warned;	/* outbox_wait_news said so */
static outbox_send_fn	 send_fn;
static outbox_busy_fn	 busy_fn;
static int		 resend_held;	/* a round stopped at a full socket */
/* sends to hookd so far; the latest hookd has surely read (an event sent
 * after it was acknowledged: the socket keeps their order) */
static uint64_t		 sendseq, readseq;
static struct event	*more_ev;
static struct event	*resend_ev, *acks_ev, *copy_ev;
static int		 retry_secs = 1;	/* copy_soon's backoff */
static struct timespec	 copy_last;	/* when copy_run last ran */

static void	 copy_soon(int);
static void	 persisted_loose(int, void *);
static void	 writes_work(void);
static void	 copy_now(struct jfile *);
static int	 jfailed(void);
static void	 jcopied(int, void *);

/* an event id is safe as a file name: [0-9a-zA-Z-], full length */
static int
id_ok(const char *id)
{
	size_t	 i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-'))
			return (0);
	return (i == EVENT_ID_LEN - 1);
}

static struct obentry *
find(const char *id)
{
	struct obentry	 key;

	if (strlcpy(key.id, id, sizeof(key.id)) >= sizeof(key.id))
		return (NULL);
	return (RB_FIND(obtree, &byid, &key));
}

/* 1 if e went to hookd */
static int
send_one(struct obentry *e)
{
	if (!started || send_fn == NULL || !e->durable)
		return (0);
	if (send_fn(e->wire, e->wlen) == -1)
		return (0);
	if (e->sent != 0)
		TAILQ_REMOVE(&sentq, e, sentry);
	TAILQ_INSERT_TAIL(&sentq, e, sentry);
	e->sent = time(NULL);
	e->seq = ++sendseq;
	if (e->seq1 == 0)
		e->seq1 = e->seq;
	return (1);
}

/* --- journals ------------------------------------------------------------ */

static void
jname(char *buf, size_t len, unsigned long seq)
{
	snprintf(buf, len, "j-%lu", seq);
}

static struct jfile *
jopen(void)
{
	struct jfile	*jf;
	char		 name[32];
	int		 fd;

	jname(name, sizeof(name), ++jseq);
	if ((fd = openat(obfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("outbox: %s", name);
		return (NULL);
	}
	if ((jf = calloc(1, sizeof(*jf))) == NULL)
		fatal("outbox: calloc");
	jf->seq = jseq;
	jf->fd = fd;
	TAILQ_INSERT_TAIL(&journals, jf, entry);
	return (jf);
}

static void
jclose(struct jfile *jf, int remove)
{
	char	 name[32];

	TAILQ_REMOVE(&journals, jf, entry);
	if (cur == jf)
		cur = NULL;
	close(jf->fd);
	jname(name, sizeof(name), jf->seq);
	if (remove && unlinkat(obfd, name, 0) == -1 && errno != ENOENT)
		log_warn("outbox: unlink %s", name);
	/* its events durable elsewhere: what copy_now held back may go */
	if (jf->failed && !jfailed())
		gsync_release_held();
	free(jf->acks);
	free(jf);
}

/* one line to jf; on a failed write the line is cut off again */
static int
jappend(struct jfile *jf, const char *data, size_t len, const char *nl)
{
	struct iovec	 iov[2];
	ssize_t		 n;
	size_t		 want = len + (nl != NULL);

	iov[0].iov_base = (void *)data;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)"\n";
	iov[1].iov_len = nl != NULL;
	do {
		n = writev(jf->fd, iov, nl != NULL ? 2 : 1);
	} while (n == -1 && errno == EINTR);
	if (n == -1 || (size_t)n != want) {
		if (n != -1)
			errno = ENOSPC;
		/* a part of a line would spoil the next one */
		if (ftruncate(jf->fd, jf->size) == -1)
			log_warn("outbox: ftruncate");
		return (-1);
	}
	jf->size += want;
	return (0);
}

/* the pass's "ack" lines, one write per journal */
static void
acks_write(int fd, short what, void *arg)
{
	struct jfile	*jf;

	TAILQ_FOREACH(jf, &journals, entry) {
		if (jf->nacks == 0)
			continue;
		if (jappend(jf, jf->acks, jf->nacks, NULL) == -1)
			log_warn("outbox: ack lines");
		jf->nacks = 0;
	}
}

static void
ack_note(struct jfile *jf, const char *id)
{
	struct timeval	 now = { 0, 0 };
	size_t		 need = strlen(ACK_PREFIX) + strlen(id) + 1;
	char		*v;

	if (jf->nacks + need + 1 > jf->ackcap) {
		jf->ackcap = jf->ackcap ? jf->ackcap * 2 : 4096;
		if (jf->ackcap < jf->nacks + need + 1)
			jf->ackcap = jf->nacks + need + 1;
		if ((v = realloc(jf->acks, jf->ackcap)) == NULL)
			fatal("outbox: realloc");
		jf->acks = v;
	}
	snprintf(jf->acks + jf->nacks, jf->ackcap - jf->nacks, "%s%s\n",
	    ACK_PREFIX, id);
	jf->nacks += need;
	if (acks_ev != NULL && !evtimer_pending(acks_ev, NULL))
		evtimer_add(acks_ev, &now);
}

/* the journal for the next event; NULL if none can be made */
static struct jfile *
jcurrent(void)
{
	if (cur != NULL && cur->size >= OUTBOX_JOURNAL_MAX) {
		if (cur->live == 0)
			jclose(cur, 1);
		cur = NULL;
	}
	if (cur == NULL && (cur = jopen()) != NULL) {
		/* its directory entry reaches the disk with the next flush
		 * (a copy's with its own fsync: jcopy) */
		gsync_fd(obfd);
		dir_unsynced = 1;
	}
	return (cur);
}

/* the JSON line of a pending event, from its wire form; NULL if none */
static char *
entry_json(const struct obentry *e)
{
	struct event_record	 ev;
	json_t			*j;
	char			*s;

	if (mh_event_unpack(&ev, e->wire, e->wlen) == -1)
		return (NULL);
	j = mh_event_to_json(&ev);
	mh_event_clear(&ev);
	if (j == NULL)
		return (NULL);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return (s);
}

/*
 * jf's flush failed: its unacknowledged events go to a new journal,
 * flushed with an fsync of its own (the error of jf's pages is not
 * reported to another file, so that fsync says whether the copy is on
 * disk) on gsync's flusher thread, not on the loop; then (jcopied) jf
 * goes and gates nothing more.  A crash before jf is removed leaves
 * both: load() takes each event once.  -1 if the copy could not be
 * written (jf stays; tried again later).
 */
static int
jcopy(struct jfile *jf)
{
	struct obentry	*e;
	struct jfile	*c;
	char		*s;
	size_t		 n = 0;

	if ((c = jopen()) == NULL)
		return (-1);
	TAILQ_FOREACH(e, &pending, entry) {
		if (e->jf != jf)
			continue;
		if ((s = entry_json(e)) == NULL) {
			log_warnx("outbox: event %s cannot be encoded", e->id);
			goto fail;
		}
		if (jappend(c, s, strlen(s), "\n") == -1) {
			log_warn("outbox: j-%lu", c->seq);
			free(s);
			goto fail;
		}
		free(s);
		n++;
	}
	/* until jcopied, jf's acks go to c too, and neither goes */
	c->ncopied = n;
	c->of = jf;
	jf->copying = c;
	gsync_fsync_then(c->fd, obfd, jcopied, c);
	return (0);
 fail:
	jclose(c, 1);
	return (-1);
}

/* the copy c's fsync is done: the failed journal goes, or c if it
 * failed (tried again later) */
static void
jcopied(int ok, void *arg)
{
	struct jfile	*c = arg, *jf = c->of;
	struct obentry	*e;
	time_t		 now = time(NULL);
	int		 busy;

	jf->copying = NULL;
	c->of = NULL;
	if (!ok) {
		log_warn("outbox: fsync of j-%lu", c->seq);
		jclose(c, 1);
		if (jf->live == 0)
			jclose(jf, 1);
		else
			copy_soon(-1);
		return;
	}
	c->live = 0;
	busy = busy_fn != NULL && busy_fn();
	TAILQ_FOREACH(e, &pending, entry)
		if (e->jf == jf) {
			e->jf = c;
			e->durable = 1;
			c->live++;
			/* hookd's store may have failed too (same disk):
			 * it goes again now unless the socket is full */
			if (e->sent != 0 && e->sent < now && !busy)
				send_one(e);
		}
	c->copy = 1;
	log_info("outbox: %zu unacknowledged event(s) of j-%lu, whose flush "
	    "failed, copied to j-%lu", c->ncopied, jf->seq, c->seq);
	jf->live = 0;
	jclose(jf, 1);
	if (c->live == 0)
		jclose(c, 1);
}

/* e was appended to jf: jf holds it, flushed with the next group commit */
static void
jtake(struct jfile *jf, struct obentry *e)
{
	e->jf = jf;
	jf->live++;
	jf->unsynced = unsynced = 1;
	gsync_fd(jf->fd);
}

/*
 * The events that could be written to no journal: to the current one
 * now, with the next group commit (persisted_loose); -1 if a write
 * failed (tried again later)
 */
static int
loose_write(void)
{
	struct obentry	*e;
	struct jfile	*jf;
	char		*s;

	TAILQ_FOREACH(e, &pending, entry) {
		if (!e->loose)
			continue;
		if ((s = entry_json(e)) == NULL) {
			log_warnx("outbox: event %s cannot be encoded", e->id);
			return (-1);
		}
		if ((jf = jcurrent()) == NULL ||
		    jappend(jf, s, strlen(s), "\n") == -1) {
			free(s);
			return (-1);
		}
		free(s);
		/* in a journal from now, as a new event: not loose */
		e->loose = 0;
		if (--nloose == 0)
			loose_warned = 0;
		jtake(jf, e);
		/* by id: hookd may acknowledge it (free it) meanwhile */
		if ((s = strdup(e->id)) == NULL)
			fatal("outbox: strdup");
		gsync_then(persisted_loose, s);
	}
	return (0);
}

/*
 * Copy every journal whose flush failed and write the loose events to a
 * journal; what fails is tried again, after 1 s, then twice as long each
 * time up to OUTBOX_RETRY_MAX while writes keep failing (copy_soon), at
 * once when a write works again (writes_work)
 */
static void
copy_run(int fd, short what, void *arg)
{
	struct jfile	*jf, *tjf;
	int		 again = 0;

	clock_gettime(CLOCK_MONOTONIC, &copy_last);
	if (loose_write() == -1)
		again = 1;
	TAILQ_FOREACH_SAFE(jf, &journals, entry, tjf) {
		/* a copy under way: jcopied decides */
		if (!jf->failed || jf->copying != NULL)
			continue;
		if (jf->live == 0)
			jclose(jf, 1);
		else if (jcopy(jf) == -1)
			again = 1;
	}
	if (again)
		copy_soon(-1);
}

/*
 * jf's flush failed: its copy is written now and fsynced with the next
 * group commit, so that a removal registered before the failure was
 * known (in that group commit: it checked outbox_failed() too early)
 * goes only after the copy is durable (gsync removes a batch's files
 * after its fsyncs of their own, and holds them back if one fails:
 * jclose releases them)
 */
static void
copy_now(struct jfile *jf)
{
	if (jf->copying != NULL || jcopy(jf) == 0)
		return;
	/*
	 * No copy (disk full, no new journal): such a removal would go with
	 * that group commit all the same, its events only in jf.  The files
	 * it removes are held back until no failed journal is left (jclose:
	 * copied, or all acknowledged); the copy is tried again meanwhile
	 */
	gsync_hold();
	copy_soon(-1);
}

/*
 * a copy that could not be written (or a loose event) is tried again
 * after secs, or (-1) after the backoff: 1 s, doubled up to
 * OUTBOX_RETRY_MAX (a failed write costs little; a longer wait kept
 * what waits on outbox_failed() that long after the disk had room).
 * Before outbox_start there is no timer yet: outbox_start tries it, and
 * meanwhile the failed journal stays and outbox_failed() holds back
 * what waits on it (the parent sends START right after the
 * configuration, so that is a loop pass or two)
 */
static void
copy_soon(int secs)
{
	struct timeval	 tv = { secs, 0 };

	if (copy_ev == NULL || evtimer_pending(copy_ev, NULL))
		return;
	if (secs < 0) {
		tv.tv_sec = retry_secs;
		if ((retry_secs *= 2) > OUTBOX_RETRY_MAX)
			retry_secs = OUTBOX_RETRY_MAX;
	}
	evtimer_add(copy_ev, &tv);
}

/*
 * A write to a journal, or its group commit, worked: the disk has room
 * again, so the copy of a failed journal and the loose events go now,
 * not after the backoff (nothing is done while writes keep failing);
 * but not within COPY_GAP_MS of the last try: each rewrites every
 * unacknowledged event of the failed journals, and while their copies
 * keep failing (an fsync that fails where writes work) every event
 * written would have had one, quadratic in the backlog
 */
#define COPY_GAP_MS	1000
static void
writes_work(void)
{
	struct timeval	 tv = { 0, 0 };
	struct timespec	 now;
	long long	 ms;

	retry_secs = 1;
	if (copy_ev == NULL || !outbox_failed())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - copy_last.tv_sec) * 1000LL +
	    (now.tv_nsec - copy_last.tv_nsec) / 1000000;
	if (copy_last.tv_sec != 0 && ms >= 0 && ms < COPY_GAP_MS) {
		tv.tv_sec = (COPY_GAP_MS - ms) / 1000;
		tv.tv_usec = (COPY_GAP_MS - ms) % 1000 * 1000;
	}
	evtimer_del(copy_ev);
	evtimer_add(copy_ev, &tv);
}

/* --- entries ------------------------------------------------------------- */

static struct obentry *
entry_new(const char *id, void *wire, size_t wlen)
{
	struct obentry	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("outbox: calloc");
	strlcpy(e->id, id, sizeof(e->id));
	e->wire = wire;
	e->wlen = wlen;
	TAILQ_INSERT_TAIL(&pending, e, entry);
	RB_INSERT(obtree, &byid, e);
	npending++;
	return (e);
}

/* the group commit is done: the event may leave */
static void
persisted(int ok, void *arg)
{
	struct obentry	*e = arg;

	if (ok)
		writes_work();
	else {
		/* what waits on its journal's events waits more
		 * (outbox_failed), as after a failed fdatasync of it */
		log_warnx("outbox: event %s may not be durable", e->id);
		/* a copy (jcopy) was fsynced on its own since */
		if (e->jf != NULL && !e->jf->copy) {
			e->jf->failed = 1;
			/* no new event in it (as outbox_sync) */
			if (cur == e->jf)
				cur = NULL;
			copy_now(e->jf);
		}
	}
	e->durable = 1;
	send_one(e);
}

/* a loose event written to a journal (loose_write) is durable: it goes
 * to hookd again now (hookd's store of it may have failed on the same
 * full disk); nothing if hookd acknowledged it meanwhile */
static void
persisted_loose(int ok, void *arg)
{
	struct obentry	*e;
	char		*id = arg;

	e = find(id);
	free(id);
	if (e != NULL)
		persisted(ok, e);
}

int
outbox_put(const struct event_record *ev)
{
	struct obentry	*e;
	struct jfile	*jf;
	json_t		*j;
	void		*wire;
	char		*s;
	size_t		 len, wlen;

	if (!id_ok(ev->id)) {
		log_warnx("outbox: event with a malformed id dropped");
		return (-1);
	}
	/* the same event again (a retried step after a restart) */
	if (find(ev->id) != NULL)
		return (0);
	/* what hookd would refuse is not kept either */
	if ((wire = mh_event_pack(ev, &wlen)) == NULL) {
		log_warnx("outbox: event %s cannot be encoded", ev->id);
		return (-1);
	}
	if (!keep) {
		if (started && send_fn != NULL)
			send_fn(wire, wlen);
		free(wire);
		return (0);
	}
	if ((j = mh_event_to_json(ev)) == NULL) {
		log_warnx("outbox: event %s cannot be encoded", ev->id);
		free(wire);
		return (-1);
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatalx("outbox: json_dumps");
	len = strlen(s);
	e = entry_new(ev->id, wire, wlen);
	if ((jf = jcurrent()) == NULL || jappend(jf, s, len, "\n") == -1) {
		/*
		 * still send it: better delivered without a net than never;
		 * what waits on events (outbox_failed, outbox_sync) waits
		 * until hookd has it, as for a journal whose flush failed
		 */
		if (jf != NULL)
			log_warn("outbox: journal write");
		log_warnx("outbox: event %s is not durable", ev->id);
		free(s);
		e->loose = 1;
		nloose++;
		e->durable = 1;
		send_one(e);
		/* written to a journal once one can be */
		copy_soon(-1);
		return (0);
	}
	free(s);
	/* a journal failed before: written now (not durable yet) */
	writes_work();
	jtake(jf, e);
	gsync_then(persisted, e);
	return (0);
}

/*
 * The events written so far durable now, not at the group commit: a
 * queue change that makes one of them unreproducible (a recipient's final
 * state) must not reach the disk first, as it may when it is fsynced on
 * its own (a power loss between the two lost the event).
 */
int
outbox_sync(void)
{
	struct jfile	*jf, *tjf;
	int		 rv = 0;

	TAILQ_FOREACH_SAFE(jf, &journals, entry, tjf) {
		/*
		 * A failed flush is not tried again (a second one may report
		 * success for pages the first lost): the journal's events
		 * are durable only once hookd has them, and it goes then
		 */
		if (jf->failed) {
			rv = -1;
			continue;
		}
		if (!unsynced || !jf->unsynced)
			continue;
		jf->unsynced = 0;
		if (fdatasync(jf->fd) == 0)
			continue;
		log_warn("outbox: fdatasync");
		/* no new event in it; every event of it acked: it goes */
		if (cur == jf)
			cur = NULL;
		if (jf->live == 0)
			jclose(jf, 1);
		else {
			jf->failed = 1;
			copy_now(jf);
			rv = -1;
		}
	}
	if (unsynced && dir_unsynced && fsync(obfd) == -1) {
		/* tried again by the next call */
		log_warn("outbox: fsync");
		return (-1);
	}
	unsynced = dir_unsynced = 0;
	/* an event in no journal is durable once hookd has it */
	return (nloose > 0 ? -1 : rv);
}

/* a journal whose flush failed is still open */
static int
jfailed(void)
{
	struct jfile	*jf;

	TAILQ_FOREACH(jf, &journals, entry)
		if (jf->failed)
			return (1);
	return (0);
}

/*
 * A journal whose flush failed is still open (its events are durable
 * once jcopy has copied them, or once hookd has them all), or an event
 * could not be written to any (durable once hookd has it): what waits
 * on events must wait more
 */
int
outbox_failed(void)
{
	return (nloose > 0 || jfailed());
}

int
outbox_wait_news(void)
{
	struct jfile	*jf;
	int		 news = 0;

	TAILQ_FOREACH(jf, &journals, entry)
		if (jf->failed && !jf->warned)
			jf->warned = news = 1;
	if (nloose > 0 && !loose_warned)
		loose_warned = news = 1;
	return (news);
}

void
outbox_keep(int on)
{
	keep = on;
}

int
outbox_ack(const char *id)
{
	struct obentry	*e;
	struct jfile	*jf;
	struct timeval	 now = { 0, 0 };

	if (!id_ok(id))
		return (-1);
	if ((e = find(id)) == NULL)
		return (1);
	/* whichever copy this acknowledges, hookd read the first one, and
	 * all that went before it: those it did not acknowledge go again
	 * (resend_round) */
	if (e->seq1 > readseq) {
		readseq = e->seq1;
		if (resend_held && more_ev != NULL &&
		    !evtimer_pending(more_ev, NULL))
			evtimer_add(more_ev, &now);
	}
	if ((jf = e->jf) != NULL) {
		/* the copy under way holds the event too */
		if (jf->copying != NULL)
			ack_note(jf->copying, id);
		/* a journal goes with its last event (after its copy) */
		if (--jf->live == 0 && jf != cur && jf->copying == NULL)
			jclose(jf, 1);
		else
			ack_note(jf, id);
	}
	if (e->loose && --nloose == 0)
		loose_warned = 0;
	RB_REMOVE(obtree, &byid, e);
	TAILQ_REMOVE(&pending, e, entry);
	if (e->sent != 0)
		TAILQ_REMOVE(&sentq, e, sentry);
	npending--;
	free(e->wire);
	free(e->json);
	free(e);
	/* all acknowledged: nothing is left on disk */
	if (npending == 0 && cur != NULL && cur->live == 0)
		jclose(cur, 1);
	return (0);
}

size_t
outbox_pending(void)
{
	return (npending);
}

void
outbox_resend_stats(uint64_t *rounds, uint64_t *more, uint64_t *looked)
{
	*rounds = nrounds;
	*more = nmore;
	*looked = nlooked;
}

/* --- loading what a previous run left ------------------------------------ */

/* a whole file, NUL-terminated; NULL if it is not a regular file or
 * larger than max */
static char *
read_all(const char *name, size_t max, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = openat(obfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max || (buf = malloc(st.st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, st.st_size - off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			goto fail;
		}
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	*lenp = off;
	return (buf);
 fail:
	free(buf);
	close(fd);
	return (NULL);
}

/*
 * json is the event named id (or any event, id ""): its wire form, or
 * NULL
 */
static void *
event_ok(const char *json, size_t len, char id[EVENT_ID_LEN], size_t *wlen)
{
	struct event_record	 ev;
	json_error_t		 err;
	json_t			*j;
	void			*wire = NULL;

	if ((j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err)) == NULL)
		return (NULL);
	if (mh_event_from_json(&ev, j) == 0) {
		if (id[0] == '\0' && id_ok(ev.id))
			strlcpy(id, ev.id, EVENT_ID_LEN);
		if (strcmp(ev.id, id) == 0)
			wire = mh_event_pack(&ev, wlen);
		mh_event_clear(&ev);
	}
	json_decref(j);
	return (wire);
}

/* an event of a previous run: pending unless acked or known already */
static void
load_event(const char *id, void *wire, size_t wlen, const char *json,
    size_t len, json_t *acked)
{
	struct obentry	*e;
	char		*copy;

	if (json_object_get(acked, id) != NULL || find(id) != NULL) {
		free(wire);
		return;
	}
	if ((copy = malloc(len + 1)) == NULL)
		fatal("outbox: malloc");
	memcpy(copy, json, len);
	copy[len] = '\0';
	e = entry_new(id, wire, wlen);
	e->json = copy;
	e->len = len;
	e->durable = 1;
}

/* keep it out of the way, say so, never drop it */
static void
set_aside(const char *name, const char *why)
{
	char	 bad[NAME_MAX + 1];

	snprintf(bad, sizeof(bad), "bad-%s", name);
	if (renameat(obfd, name, obfd, bad) == -1)
		log_warn("outbox: rename %s", name);
	log_warnx("outbox: %s %s, kept as %s", name, why, bad);
}

/* the ids acknowledged in one journal, into acked */
static void
journal_acks(const char *buf, size_t len, json_t *acked)
{
	const char	*p = buf, *end = buf + len, *nl;
	char		 id[EVENT_ID_LEN];
	size_t		 plen = strlen(ACK_PREFIX);

	for (; p < end && (nl = memchr(p, '\n', end - p)) != NULL; p = nl + 1)
		if ((size_t)(nl - p) == plen + EVENT_ID_LEN - 1 &&
		    memcmp(p, ACK_PREFIX, plen) == 0) {
			memcpy(id, p + plen, EVENT_ID_LEN - 1);
			id[EVENT_ID_LEN - 1] = '\0';
			if (id_ok(id))
				json_object_set_new(acked, id, json_true());
		}
}

/* the unacknowledged events of one journal; -1 if a line is malformed
 * (what could be read is loaded) */
static int
journal_events(const char *name, const char *buf, size_t len, json_t *acked)
{
	const char	*p = buf, *end = buf + len, *nl;
	char		 id[EVENT_ID_LEN];
	void		*wire;
	size_t		 wlen;
	int		 rc = 0;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			/* cut by a crash: never flushed, so never sent */
			log_warnx("outbox: %s: an unfinished line ignored",
			    name);
			break;
		}
		if (nl == p || strncmp(p, ACK_PREFIX, strlen(ACK_PREFIX)) == 0)
			continue;
		id[0] = '\0';
		if ((size_t)(nl - p) > OUTBOX_FILE_MAX ||
		    (wire = event_ok(p, nl - p, id, &wlen)) == NULL) {
			rc = -1;
			continue;
		}
		load_event(id, wire, wlen, p, nl - p, acked);
	}
	return (rc);
}

/* the names load() reads: not bad-* (set aside), tmp-* (older versions)
 * removed */
static int
name_wanted(const char *name, void *arg)
{
	if (name[0] == '.' || strncmp(name, "bad-", 4) == 0)
		return (0);
	if (strncmp(name, "tmp-", 4) == 0) {
		unlinkat(obfd, name, 0);
		return (0);
	}
	return (1);
}

/*
 * The names in the outbox, sorted.  Not having them all is fatal: load()
 * starts the next journal after the highest one it saw, opened with
 * O_TRUNC, so one it missed could be the one overwritten, and the events
 * of every journal it missed would not go to hookd in this run.
 */
static char **
outbox_names(size_t *np)
{
	char	**v;

	if (dir_names_at(obfd, ".", name_wanted, NULL, &v, np) == -1)
		fatal("outbox: cannot list %s", OUTBOX_DIR);
	return (v);
}

static int
is_journal(const char *name, unsigned long *seq)
{
	char		*ep;
	unsigned long	 v;

	if (strncmp(name, "j-", 2) != 0 || name[2] < '0' || name[2] > '9')
		return (0);
	errno = 0;
	v = strtoul(name + 2, &ep, 10);
	if (*ep != '\0' || errno != 0)
		return (0);
	*seq = v;
	return (1);
}

/* an event file of an older version: <id>.json */
static int
load_file(const char *name, json_t *acked)
{
	char	 id[EVENT_ID_LEN], *buf;
	void	*wire;
	size_t	 nl = strlen(name), len, wlen;
	int	 ok = 0;

	if (nl != EVENT_ID_LEN - 1 + 5 || strcmp(name + nl - 5, ".json") != 0)
		return (-1);
	memcpy(id, name, EVENT_ID_LEN - 1);
	id[EVENT_ID_LEN - 1] = '\0';
	if (!id_ok(id) || (buf = read_all(name, OUTBOX_FILE_MAX, &len)) == NULL)
		return (-1);
	if (len > 0 && (wire = event_ok(buf, len, id, &wlen)) != NULL) {
		load_event(id, wire, wlen, buf, len, acked);
		ok = 1;
	}
	free(buf);
	return (ok ? 0 : -1);
}

/*
 * Everything a previous run left: the unacknowledged events, in one new
 * journal made durable before the old files are removed.
 */
static void
load(void)
{
	struct obentry	 *e;
	struct jfile	 *jf;
	json_t		 *acked;
	char		**v, **bufs;
	size_t		  n, i, *lens;
	unsigned long	  seq;
	int		 *kind;		/* 1 journal, 2 file, 0 set aside */

	if ((acked = json_object()) == NULL)
		fatal("outbox: json_object");
	v = outbox_names(&n);
	if ((bufs = calloc(n + 1, sizeof(*bufs))) == NULL ||
	    (lens = calloc(n + 1, sizeof(*lens))) == NULL ||
	    (kind = calloc(n + 1, sizeof(*kind))) == NULL)
		fatal("outbox: calloc");
	for (i = 0; i < n; i++) {
		if (!is_journal(v[i], &seq))
			continue;
		if (seq > jseq)
			jseq = seq;
		if ((bufs[i] = read_all(v[i], OUTBOX_READ_MAX, &lens[i])) ==
		    NULL) {
			set_aside(v[i], "cannot be read");
			continue;
		}
		kind[i] = 1;
		journal_acks(bufs[i], lens[i], acked);
	}
	for (i = 0; i < n; i++) {
		if (kind[i] == 1) {
			if (journal_events(v[i], bufs[i], lens[i],
			    acked) == -1) {
				set_aside(v[i], "has a line that is not an "
				    "event");
				kind[i] = 0;
			}
		} else if (!is_journal(v[i], &seq)) {
			if (load_file(v[i], acked) == -1)
				set_aside(v[i], "is not an event");
			else
				kind[i] = 2;
		}
		free(bufs[i]);
	}
	json_decref(acked);
	free(bufs);
	free(lens);

	/* the survivors in a journal of their own, durable at once */
	TAILQ_FOREACH(e, &pending, entry) {
		if (jcurrent() == NULL || jappend(cur, e->json, e->len, "\n") ==
		    -1)
			fatal("outbox: cannot rewrite the outbox");
		free(e->json);
		e->json = NULL;
		e->jf = cur;
		cur->live++;
	}
	TAILQ_FOREACH(jf, &journals, entry)
		if (fsync(jf->fd) == -1)
			fatal("outbox: fsync");
	if (n > 0 && fsync(obfd) == -1)
		fatal("outbox: fsync");
	for (i = 0; i < n; i++) {
		if (kind[i] != 0 && unlinkat(obfd, v[i], 0) == -1)
			log_warn("outbox: unlink %s", v[i]);
		free(v[i]);
	}
	free(v);
	free(kind);
	if (npending > 0)
		log_info("outbox: %zu unacknowledged event(s) from the last "
		    "run", npending);
}

int
outbox_init(const char *root, outbox_send_fn fn, outbox_busy_fn busy)
{
	char	 path[1024];

	send_fn = fn;
	busy_fn = busy;
	if ((size_t)snprintf(path, sizeof(path), "%s/outbound", root) >=
	    sizeof(path) || (mkdir(path, 0700) == -1 && errno != EEXIST)) {
		log_warn("outbox: mkdir %s", path);
		return (-1);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, OUTBOX_DIR) >=
	    sizeof(path))
		return (-1);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("outbox: mkdir %s", path);
		return (-1);
	}
	if ((obfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("outbox: %s", path);
		return (-1);
	}
	load();
	return (0);
}

/*
 * A re-send round: the events unacknowledged for OUTBOX_RESEND seconds
 * go again, in order, OUTBOX_RESEND_BURST bytes at a time while hookd
 * reads what it is sent.  A copy of every pending event each time would
 * only pile up here, without bound, and reach hookd as copies; so when
 * its socket is full (hookd stopped, or that busy) the round stops, and
 * relayd's memory holds at most a burst more than the socket does.
 * It goes on (all 0) once the socket has drained (outbox_drained) or
 * hookd acknowledges a later send, until the next round, with the
 * events hookd read and did not acknowledge (its store failed): under a
 * sustained backlog they waited for as long as the backlog lasted.
 * Those whose last copy hookd may not have read yet wait for the next
 * round: they would only reach it as copies.  Nothing hookd has not
 * acknowledged is forgotten.  A continuation looks only at the events
 * hookd read (the head of sentq, in the order of their last send): it
 * walked every pending event, once per acknowledgement that moved
 * readseq, while a large backlog was caught up.
 */
static int
resend_one(struct obentry *e, size_t *burst, int *looked)
{
	if (!*looked || *burst >= OUTBOX_RESEND_BURST) {
		if (busy_fn != NULL && busy_fn()) {
			resend_held = 1;
			return (-1);
		}
		*looked = 1;
		*burst = 0;
	}
	if (send_one(e))
		*burst += e->wlen;
	return (0);
}

static void
resend_round(int all)
{
	struct obentry	*e, *next;
	time_t		 now = time(NULL);
	size_t		 burst = 0;
	int		 looked = 0;

	resend_held = 0;
	if (all)
		nrounds++;
	else
		nmore++;
	/* a continuation: the events hookd read, up to the first it may
	 * not have (send_one moves one sent to the tail, past readseq) */
	for (e = TAILQ_FIRST(&sentq); !all && e != NULL &&
	    e->seq < readseq; e = next) {
		next = TAILQ_NEXT(e, sentry);
		nlooked++;
		if (now - e->sent < OUTBOX_RESEND)
			break;	/* in the order of their sends: so the rest */
		if (resend_one(e, &burst, &looked) == -1)
			return;
	}
	if (all)
		TAILQ_FOREACH(e, &pending, entry) {
			if (e->sent != 0 && now - e->sent < OUTBOX_RESEND)
				continue;
			if (resend_one(e, &burst, &looked) == -1)
				return;
		}
	/* what hookd reads from now on may show more that it lacks */
	resend_held = !all;
}

static void
resend(int fd, short what, void *arg)
{
	struct timeval	 tv = { OUTBOX_RESEND, 0 };

	resend_round(1);
	evtimer_add(resend_ev, &tv);
}

/* hookd acknowledged a later send while a round was stopped */
static void
resend_more(int fd, short what, void *arg)
{
	if (resend_held)
		resend_round(0);
}

void
outbox_drained(void)
{
	if (started && resend_held)
		resend_round(0);
}

void
outbox_start(struct event_base *base)
{
	struct obentry	*e;
	struct timeval	 tv = { OUTBOX_RESEND, 0 };

	if (started)
		return;
	started = 1;
	TAILQ_FOREACH(e, &pending, entry)
		send_one(e);
	if ((resend_ev = evtimer_new(base, resend, NULL)) == NULL ||
	    (more_ev = evtimer_new(base, resend_more, NULL)) == NULL ||
	    (acks_ev = evtimer_new(base, acks_write, NULL)) == NULL ||
	    (copy_ev = evtimer_new(base, copy_run, NULL)) == NULL)
		fatal("outbox: evtimer_new");
	evtimer_add(resend_ev, &tv);
	copy_soon(0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd/facts.c: a registration's facts fill a later event of the same
 * queue id (only its empty fields; a reply keeps its own subject); they
 * are found again after a restart; a torn last record is cut and what
 * was before it kept; two generations of three records: the oldest are
 * forgotten, never more than facts.0 and facts.1 on disk (a generation
 * counts messages, not their recipients' records); a record with
 * a bad magic, CRC, length, queue id or byte (NUL, CR) is refused, one
 * not whole asks for more.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "hookd.h"
#include "log.h"
#include "mh_event.h"
#include "tap.h"

static char	 root[] = "/tmp/mh-facts-XXXXXX";
static char	 f0[256], f1[256], f2[256];

#define FACTS_QID_LEN	(MH_MSGID_LEN - 1)

static void
reg(struct event_record *ev, const char *qid, const char *group)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = EV_REGISTRATION;
	strlcpy(ev->queue_id, qid, sizeof(ev->queue_id));
	snprintf(ev->message_id, sizeof(ev->message_id), "m-%s@sender.test",
	    qid);
	strlcpy(ev->sender, "app@sender.test", sizeof(ev->sender));
	strlcpy(ev->tags, "t1, t2", sizeof(ev->tags));
	strlcpy(ev->group, group, sizeof(ev->group));
	strlcpy(ev->transaction, "4711", sizeof(ev->transaction));
	strlcpy(ev->subject, "Caf\xc3\xa9", sizeof(ev->subject));
}

/* the group a click of qid gets, "" if none, "-" if not found */
static const char *
click_group(const char *qid)
{
	static struct event_record	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EV_CLICK;
	strlcpy(ev.queue_id, qid, sizeof(ev.queue_id));
	if (!facts_fill(&ev, FACTS_EXACT))
		return ("-");
	return (ev.group);
}

static off_t
fsize(const char *path)
{
	struct stat	 st;

	return (stat(path, &st) == -1 ? -1 : st.st_size);
}

static void
qid_of(char *qid, int i)
{
	snprintf(qid, MH_MSGID_LEN, "%016x", 0xa000 + i);
}

static void
crc_again(unsigned char *b, size_t n)
{
	uint32_t	 u = crc32(crc32(0L, Z_NULL, 0), b + 8, n - 8);

	memcpy(b + 4, &u, sizeof(u));
}

static void
decoding(void)
{
	struct event_record	 ev, out;
	unsigned char		 b[FACTS_REC_MAX], c[FACTS_REC_MAX];
	size_t			 n, qoff = 8, loff = 8 + MH_MSGID_LEN - 1;
	uint16_t		 l;

	reg(&ev, "00000000000000ff", "onboarding");
	n = facts_encode(&ev, b, sizeof(b));
	ok(n > 0, "encoded");
	is_int(facts_encode(&ev, b, 100), 0, "not into a short buffer");
	is_int(facts_decode(b, n, &out), (int)n, "decoded whole");
	ok(strcmp(out.queue_id, ev.queue_id) == 0 &&
	    strcmp(out.message_id, ev.message_id) == 0 &&
	    strcmp(out.sender, ev.sender) == 0 &&
	    strcmp(out.tags, ev.tags) == 0 &&
	    strcmp(out.group, ev.group) == 0 &&
	    strcmp(out.transaction, ev.transaction) == 0 &&
	    strcmp(out.subject, ev.subject) == 0, "every field back");
	is_int(facts_decode(b, n - 1, &out), 0, "one byte short: not whole");
	is_int(facts_decode(b, 10, &out), 0, "a piece of the head: not whole");

	memcpy(c, b, n);
	c[0] ^= 1;
	is_int(facts_decode(c, n, &out), -1, "bad magic");
	memcpy(c, b, n);
	c[n - 1] ^= 1;
	is_int(facts_decode(c, n, &out), -1, "bad CRC");
	memcpy(c, b, n);
	l = 600;			/* over message_id's 255 */
	memcpy(c + loff, &l, sizeof(l));
	is_int(facts_decode(c, sizeof(c), &out), -1,
	    "a length over its field");
	memcpy(c, b, n);
	c[qoff] = 'x';
	crc_again(c, n);
	is_int(facts_decode(c, n, &out), -1, "a queue id not of hex");
	memcpy(c, b, n);
	c[n - 2] = '\0';		/* in the subject */
	crc_again(c, n);
	is_int(facts_decode(c, n, &out), -1, "a NUL in a string");
	memcpy(c, b, n);
	c[n - 2] = '\r';
	crc_again(c, n);
	is_int(facts_decode(c, n, &out), -1, "a CR in a string");
	memcpy(c, b, n);
	c[n - 1] = 0xff;
	crc_again(c, n);
	is_int(facts_decode(c, n, &out), -1, "not UTF-8");
	strlcpy(ev.queue_id, "nothex", sizeof(ev.queue_id));
	is_int(facts_encode(&ev, b, sizeof(b)), 0, "no record without a "
	    "queue id");
}

/* the recipient an async bounce of qid to rcpt gets, rcpt as its VERP
 * gives it (FACTS_EXACT) or as a report's text names it (FACTS_ANY) */
static const char *
bounce_rcpt_how(const char *qid, const char *rcpt, int how)
{
	static struct event_record	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EV_BOUNCE;
	ev.async = 1;
	strlcpy(ev.queue_id, qid, sizeof(ev.queue_id));
	strlcpy(ev.recipient, rcpt, sizeof(ev.recipient));
	(void)facts_fill(&ev, how);
	return (ev.recipient);
}

static const char *
bounce_rcpt(const char *qid, const char *rcpt)
{
	return (bounce_rcpt_how(qid, rcpt, FACTS_EXACT));
}

static const char *
report_rcpt(const char *qid, const char *rcpt)
{
	return (bounce_rcpt_how(qid, rcpt, FACTS_ANY));
}

static void	old_recipient(void);

/*
 * "jo"@d and jo@d both in message qid (jo@d first, or second): each is
 * named as it was submitted, by its return path and by a report's text
 */
static void
twins(const char *qid, int plain_last)
{
	struct event_record	 ev;
	const char		*who[2] = { "jo@example.test",
				    "\"jo\"@example.test" };
	int			 i;

	reg(&ev, qid, "g");
	for (i = 0; i < 2; i++) {
		strlcpy(ev.recipient, who[plain_last ? 1 - i : i],
		    sizeof(ev.recipient));
		facts_note(&ev);
	}
	is_str(report_rcpt(qid, "jo@example.test"), "jo@example.test",
	    "a report's text naming jo@, beside \"jo\"@ in the message: "
	    "jo@, as submitted");
	is_str(bounce_rcpt(qid, "jo@example.test"), "jo@example.test",
	    "a bounce to jo@'s return path: jo@");
	is_str(report_rcpt(qid, "\"jo\"@example.test"), "\"jo\"@example.test",
	    "a report naming \"jo\"@: \"jo\"@");
	is_str(bounce_rcpt(qid, "\"jo\"@example.test"), "\"jo\"@example.test",
	    "a bounce to \"jo\"@'s return path: \"jo\"@");
}

/* a recipient written otherwise than a return path gives it back */
static void
recipients(void)
{
	struct event_record	 ev, out;
	unsigned char		 b[FACTS_REC_MAX];
	const char		*q = "00000000000000dd";
	size_t			 n;
	off_t			 sz;

	is_int(facts_init(root, 100), 0, "restarted, larger generations");
	reg(&ev, q, "g");
	strlcpy(ev.recipient, "plain@example.test", sizeof(ev.recipient));
	facts_note(&ev);
	sz = fsize(f0);
	strlcpy(ev.recipient, "\"jim\"@example.test", sizeof(ev.recipient));
	facts_note(&ev);
	ok(fsize(f0) > sz, "a quoted recipient that needs no quotes: a "
	    "record of how it was written");
	sz = fsize(f0);
	strlcpy(ev.recipient, "\"john doe\"@example.test",
	    sizeof(ev.recipient));
	facts_note(&ev);
	is_int(fsize(f0), sz, "one written as a return path gives it back: "
	    "none");
	is_str(click_group(q), "g", "the message's facts are the first's");
	/* "jim"@'s return path is jim@'s but for its MAC, which is over
	 * "jim"@ (verp_rcpt_form), and verp_decode gives that back */
	is_str(bounce_rcpt(q, "\"jim\"@example.test"), "\"jim\"@example.test",
	    "a bounce to \"jim\"@'s return path names it as it was written");
	is_str(bounce_rcpt(q, "jim@example.test"), "jim@example.test",
	    "one to jim@'s, also in the message, names jim@ (not \"jim\"@)");
	is_str(report_rcpt(q, "jim@example.test"), "\"jim\"@example.test",
	    "a report's text naming jim@ (an MTA's spelling) names \"jim\"@");
	is_str(bounce_rcpt(q, "plain@example.test"), "plain@example.test",
	    "another recipient is as it came");
	is_str(report_rcpt("00000000000000de", "jim@example.test"),
	    "jim@example.test", "so is jim@ of another message");
	/* an MTA may give the return path back lower-cased: the MAC is
	 * over that form (verp_rcpt_key), and so is the record's key */
	strlcpy(ev.recipient, "\"Kim\"@Example.test", sizeof(ev.recipient));
	facts_note(&ev);
	sz = fsize(f0);
	strlcpy(ev.recipient, "Lee@Example.test", sizeof(ev.recipient));
	facts_note(&ev);
	ok(fsize(f0) > sz, "one in capitals: a record of how it was written");
	strlcpy(ev.recipient, "\"Ana\"@b\xc3\xbc" "cher.test",
	    sizeof(ev.recipient));
	facts_note(&ev);
	is_str(bounce_rcpt(q, "\"kim\"@example.test"), "\"Kim\"@Example.test",
	    "a bounce to \"kim\"@example.test names \"Kim\"@Example.test");
	is_str(bounce_rcpt(q, "\"Kim\"@Example.test"), "\"Kim\"@Example.test",
	    "so does one to \"Kim\"@Example.test");
	is_str(report_rcpt(q, "Kim@Example.test"), "\"Kim\"@Example.test",
	    "and a report's text naming Kim@Example.test");
	is_str(bounce_rcpt(q, "lee@example.test"), "Lee@Example.test",
	    "a bounce to lee@ names Lee@Example.test");
	is_str(bounce_rcpt(q, "\"ana\"@b\xc3\xbc" "cher.test"),
	    "\"Ana\"@b\xc3\xbc" "cher.test",
	    "a bounce to \"ana\"@ of a U-label domain names \"Ana\"@");
	twins("00000000000000d1", 0);
	twins("00000000000000d2", 1);
	is_int(facts_init(root, 100), 0, "restarted");
	is_str(report_rcpt(q, "jim@example.test"), "\"jim\"@example.test",
	    "the same after a restart");
	is_str(report_rcpt("00000000000000d1", "jo@example.test"),
	    "jo@example.test", "jo@ beside \"jo\"@ the same after a restart");
	is_str(bounce_rcpt(q, "jim@example.test"), "jim@example.test",
	    "jim@ too");
	is_str(bounce_rcpt(q, "\"kim\"@example.test"), "\"Kim\"@Example.test",
	    "\"kim\"@ too");

	memset(&ev, 0, sizeof(ev));
	strlcpy(ev.queue_id, q, sizeof(ev.queue_id));
	strlcpy(ev.recipient, "\"jim\"@example.test", sizeof(ev.recipient));
	n = facts_encode(&ev, b, sizeof(b));
	ok(n > 0 && facts_decode(b, n, &out) == (int)n &&
	    strcmp(out.recipient, ev.recipient) == 0 &&
	    strcmp(out.queue_id, q) == 0 && out.subject[0] == '\0',
	    "a recipient's record decoded");
	memcpy(b + 8 + FACTS_QID_LEN, "\0\0", 2);
	crc_again(b, 8 + FACTS_QID_LEN + 2);
	is_int(facts_decode(b, 8 + FACTS_QID_LEN + 2, &out), -1,
	    "a recipient's record without one: invalid");
	old_recipient();
}

/*
 * A record of the build whose return path of "jim"@d was jim@d's
 * ("MHR1"): keyed by jim@d, so that the bounce of a message then in
 * flight still names "jim"@d
 */
static void
old_recipient(void)
{
	struct event_record	 ev;
	unsigned char		 b[FACTS_REC_MAX];
	const char		*q = "00000000000000df";
	uint32_t		 magic = 0x3152484dU;	/* "MHR1" */
	size_t			 n;
	int			 fd;

	memset(&ev, 0, sizeof(ev));
	strlcpy(ev.queue_id, q, sizeof(ev.queue_id));
	strlcpy(ev.recipient, "\"jim\"@example.test", sizeof(ev.recipient));
	n = facts_encode(&ev, b, sizeof(b));
	memcpy(b, &magic, sizeof(magic));
	ok(n > 0 && (fd = open(f0, O_WRONLY | O_APPEND)) != -1 &&
	    write(fd, b, n) == (ssize_t)n && close(fd) == 0,
	    "an older recipient's record (MHR1) appended");
	is_int(facts_init(root, 100), 0, "restarted");
	is_str(bounce_rcpt(q, "jim@example.test"), "\"jim\"@example.test",
	    "a bounce to jim@ of its message names \"jim\"@ (its return path "
	    "was jim@'s)");
}

/*
 * Only messages count toward a generation: three messages to five
 * recipients in capitals each, in generations of three, leave the
 * first in facts.1 (sixteen records would have pushed it out)
 */
static void
capitals(void)
{
	struct event_record	 ev;
	char			 qid[MH_MSGID_LEN];
	int			 i, j, all;

	unlink(f0);
	unlink(f1);
	is_int(facts_init(root, 3), 0, "started again, generations of three");
	for (i = 0; i < 4; i++) {
		qid_of(qid, 0x100 + i);
		reg(&ev, qid, "list");
		for (j = 0; j < 5; j++) {
			snprintf(ev.recipient, sizeof(ev.recipient),
			    "John.Smith%d@Example.test", j);
			facts_note(&ev);
		}
	}
	qid_of(qid, 0x100);
	is_str(click_group(qid), "list", "the first of four messages to "
	    "recipients in capitals keeps its facts");
	is_str(bounce_rcpt(qid, "john.smith4@example.test"),
	    "John.Smith4@Example.test", "and its recipients' spelling");
	is_int(facts_init(root, 3), 0, "restarted");
	for (all = 1, i = 0; i < 4; i++) {
		qid_of(qid, 0x100 + i);
		all &= strcmp(click_group(qid), "list") == 0;
	}
	ok(all, "all four after a restart");
	for (i = 4; i < 6; i++) {
		qid_of(qid, 0x100 + i);
		reg(&ev, qid, "list");
		strlcpy(ev.recipient, "Ann@Example.test", sizeof(ev.recipient));
		facts_note(&ev);
	}
	qid_of(qid, 0x100);
	is_str(click_group(qid), "list", "counted as three messages in "
	    "facts.0 after the restart: the first still kept");
	qid_of(qid, 0x106);
	reg(&ev, qid, "list");
	facts_note(&ev);
	qid_of(qid, 0x100);
	is_str(click_group(qid), "-", "the seventh message pushes it out");
}

/* facts_key's bucket (FNV-1a, FACTS_BUCKETS of 1 << 15) of qid, rcpt */
static unsigned
bucket_of(const char *qid, const char *rcpt)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	size_t		 i;

	for (i = 0; i < FACTS_QID_LEN; i++) {
		h ^= (unsigned char)qid[i];
		h *= 0x100000001b3ULL;
	}
	for (i = 0; rcpt != NULL && (i == 0 || rcpt[i - 1] != '\0'); i++) {
		h ^= (unsigned char)rcpt[i];
		h *= 0x100000001b3ULL;
	}
	return ((h >> 40) % (1 << 15));
}

/*
 * An empty index, eight queue ids of one bucket from the first at or
 * after start (qid), and a recipient of the first in that bucket too
 * (rc, "<pfx><N>@example.test"): N
 */
static unsigned
one_bucket(char qid[8][MH_MSGID_LEN], unsigned start, const char *pfx,
    char *rc, size_t rclen)
{
	unsigned	b = 0, n = 0, i;

	unlink(f0);
	unlink(f1);
	is_int(facts_init(root, 100), 0, "started again, generations of 100");
	for (i = start; n < 8 && i < 0x4000000; i++) {
		qid_of(qid[n], i);
		if (n == 0)
			b = bucket_of(qid[0], NULL);
		if (bucket_of(qid[n], NULL) == b)
			n++;
	}
	for (i = 0; i < 1000000; i++) {
		snprintf(rc, rclen, "%s%u@example.test", pfx, i);
		if (bucket_of(qid[0], rc) == b)
			break;
	}
	ok(n == 8 && i < 1000000, "eight messages and a recipient of one "
	    "bucket");
	return (i);
}

/*
 * A full bucket of the index forgets a recipient's record before a
 * message's: the first of eight messages of one bucket, its recipient
 * in capitals in that bucket too, keeps its facts (nine keys, eight
 * slots); only the recipient's spelling is forgotten
 */
static void
crowded(void)
{
	struct event_record	 ev;
	char			 qid[8][MH_MSGID_LEN], rc[64], want[64];
	unsigned		 i;

	i = one_bucket(qid, 0x10000, "r", rc, sizeof(rc));
	snprintf(want, sizeof(want), "R%u@Example.test", i);
	reg(&ev, qid[0], "first");
	strlcpy(ev.recipient, want, sizeof(ev.recipient));
	facts_note(&ev);
	is_str(bounce_rcpt(qid[0], rc), want, "its recipient's spelling is "
	    "known");
	for (i = 1; i < 8; i++) {
		reg(&ev, qid[i], "later");
		strlcpy(ev.recipient, "plain@example.test",
		    sizeof(ev.recipient));
		facts_note(&ev);
	}
	is_str(click_group(qid[0]), "first", "the bucket full: the first "
	    "message keeps its facts");
	is_str(click_group(qid[7]), "later", "the last has its own");
	is_str(bounce_rcpt(qid[0], rc), rc, "its recipient's spelling is "
	    "what was forgotten");
	is_int(facts_init(root, 100), 0, "restarted");
	is_str(click_group(qid[0]), "first", "the same after a restart");
}

/*
 * A recipient's record never pushes out a message's: eight messages of
 * one bucket fill it, then a recipient of the first in capitals, in
 * that bucket too, is the record dropped; before, it took the slot of
 * the first message, whose facts were forgotten
 */
static void
crowded_late(void)
{
	struct event_record	 ev;
	char			 qid[8][MH_MSGID_LEN], rc[64], want[64];
	unsigned		 i;

	i = one_bucket(qid, 0x20000, "s", rc, sizeof(rc));
	snprintf(want, sizeof(want), "S%u@Example.test", i);
	for (i = 0; i < 8; i++) {
		reg(&ev, qid[i], i == 0 ? "first" : "later");
		strlcpy(ev.recipient, "plain@example.test",
		    sizeof(ev.recipient));
		facts_note(&ev);
	}
	reg(&ev, qid[0], "first");
	strlcpy(ev.recipient, want, sizeof(ev.recipient));
	facts_note(&ev);
	is_str(click_group(qid[0]), "first", "a bucket full of messages: a "
	    "recipient's record later does not push out the first message");
	is_str(bounce_rcpt(qid[0], rc), rc, "that recipient's spelling is "
	    "what is dropped");
	is_int(facts_init(root, 100), 0, "restarted");
	is_str(click_group(qid[0]), "first", "the same after a restart");
}

/*
 * facts.0 renamed to facts.1, the new facts.0 not made (no descriptor
 * left): the next message's record makes it; before, nothing was
 * written again until a restart
 */
static void
rotate_lost(void)
{
	struct event_record	 ev;
	struct rlimit		 rl, low;
	char			 qid[MH_MSGID_LEN];
	int			 i, fd, all;

	unlink(f0);
	unlink(f1);
	is_int(facts_init(root, 3), 0, "started again, generations of three");
	for (i = 0; i < 3; i++) {
		qid_of(qid, 0x300 + i);
		reg(&ev, qid, "full");
		facts_note(&ev);
	}
	/* no descriptor for the open after the rename */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || (fd = dup(0)) == -1)
		fatal("getrlimit");
	close(fd);
	low = rl;
	low.rlim_cur = fd;
	if (setrlimit(RLIMIT_NOFILE, &low) == -1)
		fatal("setrlimit");
	qid_of(qid, 0x303);
	reg(&ev, qid, "lost");
	facts_note(&ev);
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("setrlimit");
	ok(fsize(f1) > 0 && fsize(f0) == -1, "facts.0 renamed, no new one "
	    "made");
	qid_of(qid, 0x304);
	reg(&ev, qid, "after");
	facts_note(&ev);
	is_str(click_group(qid), "after", "the next message's record made a "
	    "new facts.0 and is found");
	ok(fsize(f0) > 0, "facts.0 is there again");
	for (all = 1, i = 0; i < 3; i++) {
		qid_of(qid, 0x300 + i);
		all &= strcmp(click_group(qid), "full") == 0;
	}
	ok(all, "the full generation's records are found in facts.1");
	is_int(facts_init(root, 3), 0, "restarted");
	qid_of(qid, 0x304);
	is_str(click_group(qid), "after", "the same after a restart");
}

/*
 * A record whose write fails (the file size limit: EFBIG) waits in
 * memory: a click of its message is filled meanwhile, and it is written
 * before the next record; before, it was lost and the message's later
 * events had no sender, subject or group
 */
static void
write_failed(void)
{
	struct event_record	 ev;
	struct rlimit		 rl, low;
	char			 qid[MH_MSGID_LEN], q2[MH_MSGID_LEN];
	off_t			 sz;

	unlink(f0);
	unlink(f1);
	is_int(facts_init(root, 100), 0, "started again, for a failed write");
	qid_of(qid, 0x400);
	reg(&ev, qid, "before");
	facts_note(&ev);
	if ((sz = fsize(f0)) <= 0 || getrlimit(RLIMIT_FSIZE, &rl) == -1)
		fatal("facts.0");
	low = rl;
	low.rlim_cur = sz;
	signal(SIGXFSZ, SIG_IGN);
	/* nothing written meanwhile: the test's output is a file too */
	fflush(stdout);
	fflush(stderr);
	if (setrlimit(RLIMIT_FSIZE, &low) == -1)
		fatal("setrlimit");
	qid_of(qid, 0x401);
	reg(&ev, qid, "unwritten");
	facts_note(&ev);
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		fatal("setrlimit");
	ok(fsize(f0) == sz, "its write failed");
	is_str(click_group(qid), "unwritten", "a click of its message is "
	    "filled all the same");
	qid_of(q2, 0x402);
	reg(&ev, q2, "next");
	facts_note(&ev);
	is_int(facts_init(root, 100), 0, "restarted");
	is_str(click_group(qid), "unwritten", "it was written before the "
	    "next one");
	is_str(click_group(q2), "next", "and the next one after it");
}

int
main(void)
{
	struct event_record	 ev;
	char			 qid[MH_MSGID_LEN], path[256];
	int			 i, fd, all;
	off_t			 sz;

	log_init(1, 0);
	decoding();
	if (mkdtemp(root) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/events", root);
	if (mkdir(path, 0700) == -1)
		fatal("mkdir");
	snprintf(f0, sizeof(f0), "%s/events/facts.0", root);
	snprintf(f1, sizeof(f1), "%s/events/facts.1", root);
	snprintf(f2, sizeof(f2), "%s/events/facts.2", root);

	is_int(facts_init(root, 3), 0, "started on an empty spool");
	is_str(click_group("00000000000000aa"), "-", "nothing known");
	reg(&ev, "00000000000000aa", "onboarding");
	facts_note(&ev);
	sz = fsize(f0);
	ok(sz > 0, "a registration wrote its record");
	strlcpy(ev.group, "other", sizeof(ev.group));
	facts_note(&ev);		/* the second recipient's */
	is_int(fsize(f0), sz, "its second recipient's wrote nothing");
	is_str(click_group("00000000000000aa"), "onboarding",
	    "a click of the message gets its group");
	is_str(click_group("00000000000000ab"), "-", "another's does not");

	memset(&ev, 0, sizeof(ev));
	ev.kind = EV_AUTO_REPLY;
	strlcpy(ev.queue_id, "00000000000000aa", sizeof(ev.queue_id));
	strlcpy(ev.message_id, "quoted@remote.test", sizeof(ev.message_id));
	strlcpy(ev.subject, "Out of office", sizeof(ev.subject));
	is_int(facts_fill(&ev, FACTS_EXACT), 1, "an auto-reply found it");
	ok(strcmp(ev.message_id, "quoted@remote.test") == 0 &&
	    strcmp(ev.subject, "Out of office") == 0 &&
	    strcmp(ev.sender, "app@sender.test") == 0 &&
	    strcmp(ev.tags, "t1, t2") == 0 &&
	    strcmp(ev.transaction, "4711") == 0,
	    "its own Message-ID and subject kept, the rest filled");
	memset(&ev, 0, sizeof(ev));
	ev.kind = EV_DELIVERY;
	strlcpy(ev.queue_id, "00000000000000aa", sizeof(ev.queue_id));
	is_int(facts_fill(&ev, FACTS_EXACT), 0,
	    "a delivery event is relayd's: untouched");
	memset(&ev, 0, sizeof(ev));
	ev.kind = EV_BOUNCE;
	strlcpy(ev.queue_id, "00000000000000aa", sizeof(ev.queue_id));
	is_int(facts_fill(&ev, FACTS_EXACT), 0, "nor a bounce at SMTP time");
	ev.async = 1;
	is_int(facts_fill(&ev, FACTS_EXACT), 1, "a bounce that came back is filled");
	is_str(ev.subject, "Caf\xc3\xa9", "with the message's subject");

	/* a restart; then a torn record after the whole one */
	is_int(facts_init(root, 3), 0, "restarted");
	is_str(click_group("00000000000000aa"), "onboarding",
	    "found after a restart");
	if ((fd = open(f0, O_WRONLY | O_APPEND)) == -1)
		fatal("%s", f0);
	if (write(fd, "\x4d\x48\x46\x31garbage", 11) != 11)
		fatal("write");
	close(fd);
	is_int(facts_init(root, 3), 0, "restarted after a torn write");
	is_int(fsize(f0), sz, "the torn record is cut");
	is_str(click_group("00000000000000aa"), "onboarding",
	    "the record before it still found");
	reg(&ev, "00000000000000bb", "second");
	facts_note(&ev);
	is_int(facts_init(root, 3), 0, "restarted");
	ok(strcmp(click_group("00000000000000aa"), "onboarding") == 0 &&
	    strcmp(click_group("00000000000000bb"), "second") == 0,
	    "the record written after the cut is found too");

	/* aa bb 1 | 2 3 4 | 5: the third generation begun, the first
	 * (aa bb 1) is forgotten */
	for (i = 1; i <= 5; i++) {
		qid_of(qid, i);
		reg(&ev, qid, "g");
		facts_note(&ev);
	}
	is_int(fsize(f2), -1, "no third file");
	ok(fsize(f1) > 0 && fsize(f0) > 0, "facts.0 and facts.1");
	for (all = 1, i = 2; i <= 5; i++) {
		qid_of(qid, i);
		all &= strcmp(click_group(qid), "g") == 0;
	}
	ok(all, "the last two generations' records are found");
	qid_of(qid, 1);
	ok(strcmp(click_group("00000000000000aa"), "-") == 0 &&
	    strcmp(click_group("00000000000000bb"), "-") == 0 &&
	    strcmp(click_group(qid), "-") == 0,
	    "the oldest generation's are forgotten");
	is_int(facts_init(root, 3), 0, "restarted");
	for (all = 1, i = 2; i <= 5; i++) {
		qid_of(qid, i);
		all &= strcmp(click_group(qid), "g") == 0;
	}
	ok(all && strcmp(click_group("00000000000000aa"), "-") == 0,
	    "the same after a restart");
	recipients();
	capitals();
	crowded();
	crowded_late();
	rotate_lost();
	write_failed();

	unlink(f0);
	unlink(f1);
	snprintf(path, sizeof(path), "%s/events", root);
	rmdir(path);
	rmdir(root);
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DKIM signing of submitted mail, the last change to its content.
 *
 * At commit, the From: domain of the message (or its nearest parent)
 * picks the dkim entry of the config; the signer (relay_set_signer) gets
 * a read-only fd of the file and returns one DKIM-Signature header per
 * key, which are put in front of the message before it is committed.  A
 * retry sends the committed file as it is: nothing is signed twice.
 * Tracked mail is sent as one copy per recipient (track.h): each copy is
 * signed, one after the other, and the signatures are put in front once
 * every copy has one, so that a copy the signer fails leaves none signed.
 * They are put in front all together or not at all (put_incoming): a
 * signed file that cannot be written (a full spool) leaves every file
 * unsigned and the message held, as one the signer failed.
 * A held message's signed files go in place only through queue.c's
 * aside files, after the envelope that no longer waits is on disk: a
 * crash in between never has it signed twice; one that cannot be put in
 * place keeps the message from being sent until it is (dkim_aside_wait).
 *
 * A message with more than one From: field is refused (dkim_step_fn's
 * ok -1) when a dkim line applies to its first.
 * A message the signer cannot sign (unusable key) is committed all the
 * same but held (envelope dkim-pending), with an error event; it is not
 * sent unsigned.  It is signed again at every retry interval and after a
 * reload, and leaves once signed, or once no dkim line applies to it.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "mailhook.h"
#include "msghdr.h"
#include "relayd.h"

#define FROM_READ_MAX	(64 * 1024)	/* the first read, doubled */

static relay_signer_fn	 signer;

struct dkim_step {
	char		 msgid[MH_MSGID_LEN];
	char		 domain[MH_NAME_MAX];
	struct envelope	*env;		/* incoming: the one being committed */
	struct rmsg	*m;		/* held: the queued message */
	int		 copy;		/* -1: the message; else that copy */
	int		 ncopies;	/* tracked mail: one per recipient */
	dkim_step_fn	 done;
	void		*arg;
	char		**sig;		/* each file's, once signed */
	size_t		*siglen;
	int		 nsig;
};

void
relay_set_signer(relay_signer_fn fn)
{
	signer = fn;
}

/* the From: fields of a header section (msghdr_walk) */
struct from_scan {
	const char	*value;		/* the first one's */
	size_t		 vlen;
	int		 n;		/* how many */
};

static void
from_seen(void *arg, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	struct from_scan	*fs = arg;

	if (!msghdr_name_is(name, nlen, "from"))
		return;
	if (fs->n++ == 0) {
		fs->value = value;
		fs->vlen = vlen;
	}
}

/*
 * The domain of the first From: address in a message's first bytes
 * (buf, len), as the DNS knows it (lower case, A-labels: a dkim line
 * names xn--bcher-kva.example for From: user@bücher.example), into
 * domain; -1 if there is no From: field, -3 if there is one whose
 * domain no dkim line can match (none, [1.2.3.4], a bad IDN).  1 instead
 * of 0 when the header section has more than one From: field (RFC 5322
 * 3.6 allows one): a message to refuse, not to sign for whichever From:
 * a reader shows.
 */
int
dkim_from_domain(const char *buf, size_t len, char *domain, size_t dlen)
{
	struct from_scan	 fs = { NULL, 0, 0 };
	/* as written: a U-label may be longer than its A-label */
	char			 d[1024];

	(void)msghdr_walk(buf, len, from_seen, &fs);
	if (fs.value == NULL)
		return (-1);
	if (msghdr_from_domain(fs.value, fs.vlen, d, sizeof(d)) == -1 ||
	    d[0] == '[' || dns_domain_ascii(d, domain, dlen) == -1 ||
	    config_check_domain(domain) == -1)
		return (-3);
	return (fs.n > 1 ? 1 : 0);
}

/*
 * The From: domain of the message on fd: its header section is read
 * whole (up to MSGHDR_SECTION_MAX): a From: may follow 64 KB of other
 * fields.  -1 when it has none or one whose domain no key can match
 * (sent unsigned); -2 when none was found in a header section longer
 * than that: a From: may come after, so the message is not one without
 * a From: to send unsigned (FROM_UNREAD); -4 when it cannot be read
 * (FROM_NOREAD: tried again).
 */
#define FROM_UNREAD	"its header section is over 4 MB and no From: " \
			    "field is in them"
#define FROM_NOREAD	"its message cannot be read"

static int
from_domain(int fd, char *domain, size_t len)
{
	char	*buf = NULL, *nb;
	size_t	 size = FROM_READ_MAX, have = 0;
	ssize_t	 n;
	int	 rv, whole = 0;

	for (;;) {
		if ((nb = realloc(buf, size)) == NULL)
			fatal("realloc");
		buf = nb;
		if ((n = pread(fd, buf + have, size - have, have)) == -1) {
			free(buf);
			return (-4);
		}
		if (n == 0) {
			whole = 1;
			break;
		}
		have += n;
		/* a regular file's read is short only at its end */
		if (have < size || memmem(buf, have, "\n\r\n", 3) != NULL ||
		    memmem(buf, have, "\n\n", 2) != NULL) {
			whole = 1;
			break;
		}
		if (size >= MSGHDR_SECTION_MAX)
			break;
		size *= 2;
	}
	rv = dkim_from_domain(buf, have, domain, len);
	free(buf);
	if (rv == -3)
		return (-1);
	return (rv == -1 && !whole ? -2 : rv);
}

/*
 * What the signer returned must be header lines and nothing else:
 * "DKIM-Signature:" fields, folded with CRLF + white space, printable
 * ASCII, at most SIGN_HDRS_MAX bytes.  0 if so.
 */
int
dkim_sig_lines_ok(const char *h, size_t len)
{
	size_t	 i;
	int	 bol = 1;

	if (len < 2 || len > SIGN_HDRS_MAX || h[len - 2] != '\r' ||
	    h[len - 1] != '\n')
		return (-1);
	for (i = 0; i < len; i++) {
		/* a line starts a DKIM-Signature field or continues one */
		if (bol && (i == 0 || (h[i] != ' ' && h[i] != '\t')) &&
		    (len - i < 15 || strncasecmp(h + i, "DKIM-Signature:", 15)))
			return (-1);
		bol = 0;
		if (h[i] == '\r' && i + 1 < len && h[i + 1] == '\n') {
			/*
			 * a header ends with its line, never with an empty
			 * one
			 */
			if (i + 2 < len && h[i + 2] == '\r')
				return (-1);
			bol = 1;
			i++;
			continue;
		}
		if (h[i] != '\t' && ((unsigned char)h[i] < 0x20 ||
		    (unsigned char)h[i] > 0x7e))
			return (-1);
	}
	return (0);
}

static void
step_free(struct dkim_step *st)
{
	int	 i;

	for (i = 0; i < st->nsig; i++)
		free(st->sig[i]);
	free(st->sig);
	free(st->siglen);
	free(st);
}

static void
step_held(struct dkim_step *st, const char *why)
{
	if (st->env != NULL) {
		strlcpy(st->env->dkim_pending, st->domain,
		    sizeof(st->env->dkim_pending));
		log_warnx("msgid=%s dkim=%s status=held (cannot be signed: "
		    "%s)", st->msgid, st->domain, why);
		st->done(0, why, st->arg);
	} else {
		st->m->dkim_busy = 0;
		st->m->inflight--;
		st->m->dkim_next = time(NULL) + (relay_conf->retry_min > 0 ?
		    relay_conf->retry_min : 60);
		log_info("msgid=%s dkim=%s status=held (still cannot be "
		    "signed: %s)", st->msgid, st->domain, why);
		sched_kick();
	}
	step_free(st);
}

static void	step_start(struct dkim_step *, int);

/* room for the signature of each file: ncopies, or the message's */
static void
step_room(struct dkim_step *st)
{
	st->nsig = st->copy >= 0 ? st->ncopies : 1;
	if ((st->sig = calloc(st->nsig, sizeof(*st->sig))) == NULL ||
	    (st->siglen = calloc(st->nsig, sizeof(*st->siglen))) == NULL)
		fatal("calloc");
}

/*
 * The commit path: every file signed, the signatures put in front, all
 * or nothing.  -1 if a signed file could not be written: none is put in
 * place, the files are as they were (unsigned), and the message is held
 * as one the signer failed.  -2 if one could not be put in place (its
 * unsigned file may be gone, others signed): the message is refused
 * for now (errno tells why).
 */
static int
put_incoming(struct dkim_step *st)
{
	int	 k, err, ncopies = st->copy >= 0 ? st->ncopies : -1;

	for (k = 0; k < st->nsig; k++)
		if (queue_prepend(st->msgid, st->copy >= 0 ? k : -1,
		    st->sig[k], st->siglen[k]) == -1) {
			err = errno;
			(void)queue_prepend_end(st->msgid, ncopies, 0);
			errno = err;
			return (-1);
		}
	if (queue_prepend_end(st->msgid, ncopies, 1) == -1) {
		err = errno;
		log_warnx("msgid=%s dkim=%s status=error (the signed message "
		    "cannot be put in place: refused for now)", st->msgid,
		    st->domain);
		errno = err;
		return (-2);
	}
	return (0);
}

/*
 * A signed file lost (removed from the spool, its unsigned file left): no
 * retry brings it back.  The message is held again as one not signed
 * (envelope dkim-pending, durable), to be signed again at its turn (the
 * copies put in place get a second signature of the domain, which leaves
 * the first valid), with an error event to each recipient.
 */
static void
aside_lost(struct rmsg *m)
{
	const struct dkim	*d = NULL;
	char			 domain[MH_NAME_MAX];
	size_t			 i;
	int			 fd;

	fd = m->env.tracked ? queue_open_copy(m->id, 0) :
	    queue_open_msg(m->id);
	if (fd != -1 && from_domain(fd, domain, sizeof(domain)) >= 0)
		d = config_dkim_match(relay_conf, domain);
	if (fd != -1)
		close(fd);
	/* none now: dkim_sign_held sends it as the domain's other mail */
	strlcpy(m->env.dkim_pending, d != NULL ? d->domain : "-",
	    sizeof(m->env.dkim_pending));
	if (queue_update(&m->env) == -1) {
		m->env.dkim_pending[0] = '\0';
		dkim_aside_wait(m, "is lost");
		return;
	}
	m->dkim_aside = 0;
	m->dkim_next = 0;
	log_warnx("msgid=%s status=held (its signed message is lost: signed "
	    "again, not sent unsigned)", m->id);
	for (i = 0; i < m->env.nrcpt; i++)
		sched_emit_again(m, i, EV_ERROR, "4.7.0", "its DKIM signed "
		    "message was lost from the queue: signed again, not "
		    "sent unsigned", "queue");
	sched_kick();
}

/* a signed file not put in place (-1), or lost (-2) */
static void
aside_failed(struct rmsg *m, int rv)
{
	if (rv == -2)
		aside_lost(m);
	else
		dkim_aside_wait(m, m->dkim_aside ?
		    "still cannot be put in place" : "cannot be put in place");
}

/*
 * A held message: every file's signed version beside it, then the
 * envelope that no longer waits, then the files in place (queue.c);
 * a crash anywhere leaves it signed once or not at all.
 */
static int
put_queued(struct dkim_step *st)
{
	struct rmsg	*m = st->m;
	int		 k, n = st->nsig;
	int		 ncopies = st->copy >= 0 ? st->ncopies : -1;

	if (m->removed)
		return (0);
	/*
	 * A queued message whose commit's flush has not ended (or failed)
	 * still has its data's check: the envelope forgets it on disk
	 * before the data changes, or a restart would drop the message
	 */
	if (queue_drop_check(&m->env) == -1)
		return (-1);
	for (k = 0; k < n; k++)
		if (queue_prepend_aside(st->msgid, st->copy >= 0 ? k : -1,
		    st->sig[k], st->siglen[k]) == -1)
			goto fail;
	if (queue_aside_sync() == -1)
		goto fail;
	m->env.dkim_pending[0] = '\0';
	m->env.size += st->siglen[n - 1];
	if (queue_update(&m->env) == -1) {
		strlcpy(m->env.dkim_pending, st->domain,
		    sizeof(m->env.dkim_pending));
		m->env.size -= st->siglen[n - 1];
		goto fail;
	}
	/* signed on disk now (a restart puts them in place): not sent
	 * before they are, never unsigned */
	if ((k = queue_aside_end(st->msgid, ncopies, 1)) < 0)
		aside_failed(m, k);
	return (0);
 fail:
	(void)queue_aside_end(st->msgid, ncopies, 0);
	return (-1);
}

static void
signed_cb(const char *hdrs, size_t len, const char *error, void *arg)
{
	struct dkim_step	*st = arg;
	struct rmsg		*m = st->m;
	int			 k;

	if (hdrs == NULL) {
		step_held(st, error);
		return;
	}
	/* the signer is a peer process: a malformed answer is fatal */
	if (dkim_sig_lines_ok(hdrs, len) == -1)
		fatalx("malformed signature from the signer");
	/*
	 * Nothing changes before every file is signed: a copy that fails
	 * leaves the others unsigned, to be signed once, all together, at
	 * the next try.
	 */
	k = st->copy >= 0 ? st->copy : 0;
	if (k >= st->nsig)
		fatalx("dkim: a signature for no file");
	free(st->sig[k]);
	if ((st->sig[k] = malloc(len)) == NULL)
		fatal("malloc");
	memcpy(st->sig[k], hdrs, len);
	st->siglen[k] = len;
	if (st->copy >= 0 && ++st->copy < st->ncopies) {
		step_start(st, m != NULL ?
		    queue_open_copy(st->msgid, st->copy) :
		    queue_open_incoming_ro(st->msgid, st->copy));
		return;
	}
	if (st->copy >= 0)
		st->copy = 0;
	if (m == NULL) {
		if ((k = put_incoming(st)) == -1) {
			step_held(st, "cannot write the signed message");
			return;
		}
		st->done(k == 0 ? 1 : -2, k == 0 ? NULL : "cannot write the "
		    "signed message", st->arg);
		step_free(st);
		return;
	}
	if (put_queued(st) == -1) {
		step_held(st, "cannot write the signed message");
		return;
	}
	/* a held message: signed at last, it may leave */
	m->dkim_busy = 0;
	m->inflight--;
	if (!m->dkim_aside && m->env.dkim_pending[0] == '\0')
		log_info("msgid=%s dkim=%s status=released (signed)", m->id,
		    st->domain);
	step_free(st);
	sched_kick();
}

static void
step_start(struct dkim_step *st, int fd)
{
	if (fd == -1) {
		step_held(st, "cannot open the message");
		return;
	}
	if (signer == NULL) {
		close(fd);
		step_held(st, "no signer");
		return;
	}
	signer(fd, st->domain, signed_cb, st);
}

/*
 * The call site of the commit path (relay_spool_commit): the content of
 * the incoming file is final once done() is called.
 */
void
dkim_sign_incoming(const char *msgid, struct envelope *env,
    dkim_step_fn done, void *arg)
{
	const struct dkim	*d;
	struct dkim_step	*st;
	char			 domain[MH_NAME_MAX];
	const char		*why;
	int			 fd, rv;

	env->dkim_pending[0] = '\0';
	if (signer == NULL || TAILQ_EMPTY(&relay_conf->dkims) ||
	    (fd = queue_open_incoming_ro(msgid, -1)) == -1) {
		done(1, NULL, arg);
		return;
	}
	if ((rv = from_domain(fd, domain, sizeof(domain))) == -2 ||
	    rv == -4) {
		close(fd);
		why = rv == -2 ? FROM_UNREAD : FROM_NOREAD;
		/* held for no domain: dkim_sign_held() looks again */
		strlcpy(env->dkim_pending, "-", sizeof(env->dkim_pending));
		log_warnx("msgid=%s status=held (cannot be signed: %s)", msgid,
		    why);
		done(0, why, arg);
		return;
	}
	if (rv == -1 || (d = config_dkim_match(relay_conf, domain)) == NULL) {
		close(fd);
		done(1, NULL, arg);
		return;
	}
	if (rv == 1) {
		close(fd);
		log_warnx("msgid=%s dkim=%s status=refused (more than one "
		    "From: field)", msgid, d->domain);
		done(-1, "more than one From: field: the message cannot be "
		    "DKIM-signed", arg);
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("calloc");
	strlcpy(st->msgid, msgid, sizeof(st->msgid));
	strlcpy(st->domain, d->domain, sizeof(st->domain));
	st->env = env;
	st->done = done;
	st->arg = arg;
	st->copy = -1;
	if (env->tracked) {
		st->ncopies = env->nrcpt;
		st->copy = 0;
		close(fd);
		fd = queue_open_incoming_ro(msgid, 0);
	}
	step_room(st);
	step_start(st, fd);
}

/*
 * A held message's turn: try the signer again, with the dkim line its
 * From: domain has now (a reload may have changed them).  With none, it
 * is sent as the domain's other mail is, unsigned: the configuration no
 * longer signs it.
 */
void
dkim_sign_held(struct rmsg *m)
{
	const struct dkim	*d;
	struct dkim_step	*st;
	char			 domain[MH_NAME_MAX];
	int			 fd, rv = 0;

	if (m->dkim_busy || m->env.dkim_pending[0] == '\0')
		return;
	fd = m->env.tracked ? queue_open_copy(m->id, 0) :
	    queue_open_msg(m->id);
	d = NULL;
	if (fd != -1 && ((rv = from_domain(fd, domain,
	    sizeof(domain))) == -2 || rv == -4)) {
		close(fd);
		m->dkim_next = time(NULL) + (relay_conf->retry_min > 0 ?
		    relay_conf->retry_min : 60);
		log_info("msgid=%s status=held (still cannot be signed: %s)",
		    m->id, rv == -2 ? FROM_UNREAD : FROM_NOREAD);
		return;
	}
	if (fd != -1 && (rv == -1 ||
	    (d = config_dkim_match(relay_conf, domain)) == NULL)) {
		close(fd);
		log_info("msgid=%s dkim=%s status=released (no dkim key "
		    "for its From: domain now: sent unsigned)", m->id,
		    m->env.dkim_pending);
		m->env.dkim_pending[0] = '\0';
		if (!m->removed)
			queue_update(&m->env);
		sched_kick();
		return;
	}
	if (d != NULL && strcmp(d->domain, m->env.dkim_pending) != 0) {
		strlcpy(m->env.dkim_pending, d->domain,
		    sizeof(m->env.dkim_pending));
		if (!m->removed)
			queue_update(&m->env);
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("calloc");
	/* in flight: not freed by a removal meanwhile (sched_pass) */
	m->dkim_busy = 1;
	m->inflight++;
	strlcpy(st->msgid, m->id, sizeof(st->msgid));
	strlcpy(st->domain, m->env.dkim_pending, sizeof(st->domain));
	st->m = m;
	st->copy = -1;
	if (m->env.tracked) {
		st->ncopies = m->env.nrcpt;
		st->copy = 0;
	}
	step_room(st);
	step_start(st, fd);
}

/*
 * A message signed, its envelope no longer waiting, but a signed file
 * (NAME.dkim) not put in place over its unsigned one (queue_aside_end):
 * it is not sent, not even its other copies, until every one is in place,
 * tried again at each retry interval (dkim_aside_retry) and at start.
 */
void
dkim_aside_wait(struct rmsg *m, const char *why)
{
	m->dkim_aside = 1;
	m->dkim_next = time(NULL) + (relay_conf->retry_min > 0 ?
	    relay_conf->retry_min : 60);
	log_warnx("msgid=%s status=held (its signed message %s: not sent "
	    "unsigned)", m->id, why);
}

void
dkim_aside_retry(struct rmsg *m)
{
	int	 rv;

	if ((rv = queue_aside_end(m->id, m->env.tracked ?
	    (int)m->env.nrcpt : -1, 1)) < 0) {
		aside_failed(m, rv);
		return;
	}
	m->dkim_aside = 0;
	log_info("msgid=%s status=released (its signed message in place)",
	    m->id);
	sched_kick();
}

/* the message was committed held: say so to every recipient */
void
dkim_held_events(struct rmsg *m, const char *why)
{
	char	 desc[512];
	size_t	 i;

	/* "-": held for no domain yet (its From: not found) */
	if (strcmp(m->env.dkim_pending, "-") == 0)
		snprintf(desc, sizeof(desc), "cannot be DKIM signed (%s): "
		    "held in the queue, not sent unsigned", why);
	else
		snprintf(desc, sizeof(desc), "cannot be DKIM signed for %s "
		    "(%s): held in the queue, not sent unsigned",
		    m->env.dkim_pending, why);
	for (i = 0; i < m->env.nrcpt; i++)
		sched_emit(m, i, EV_ERROR, 0, "4.7.0", desc, "queue");
}

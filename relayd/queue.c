/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The outbound spool on disk.
 *
 *	outbound/incoming/<msgid>	open files handed to smtpd and webd
 *	outbound/queue/<msgid>.msg	committed message
 *	outbound/queue/<msgid>.env	its envelope; renamed last = registered
 *	outbound/queue/<msgid>.tNNNN	recipient NNNN's copy, if tracked
 *	outbound/pool/p<hex>		files kept for reuse, zeros
 *	outbound/suppress		the suppression list
 *
 * Commit: rename the message into queue/ and write its envelope
 * (temporary name, rename).  Messages from smtpd and webd are made
 * durable by the group commit (gsync.h): the data and the envelope in
 * one flush, the envelope recording the data's size and CRC-32
 * (data-check, fileio.h), so that a restart drops a message a crash
 * left with an envelope but not all of its data (no 250 was sent for
 * it).  Tracked mail with copies flushes its data first and writes the
 * envelope after, as a DSN does with fsync at once.  At start the
 * leftovers of an interrupted commit are removed; only an .env (whose
 * data matches its check, if it records one) makes a message exist.
 *
 * The queue's files are recycled through pool/ (filepool.h), as the
 * inbound spool's are: an incoming file or a temporary one is a pooled
 * file renamed into place, and a removed one is renamed into the pool
 * and emptied there, so that no message allocates or frees an inode.
 * Leaving or entering the pool is a rename, atomic as the create or
 * unlink it replaces; what sits in pool/ is never part of a message.
 *
 * Tracked mail (track.h) gets one copy per recipient, written with the
 * message before its envelope: each recipient's links and pixel carry
 * its own tokens.  They cost a write of the message per recipient.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "filepool.h"
#include "gsync.h"
#include "log.h"
#include "msghdr.h"
#include "relayd.h"
#include "track.h"
#include "sanitize.h"

#define HDR_READ_MAX	(256 * 1024)	/* the first read, doubled */
#define COPY_SUFFIX_LEN	6		/* ".tNNNN" */
#define COPIES_MAX	10000
/* files kept for reuse: about what the busiest moments hold at once */
#define QUEUE_POOL_MAX	1024

static int	 rootfd = -1, outfd = -1, incfd = -1, qfd = -1;
static struct filepool	*pool;
/* the incoming message whose headers queue_track() read into its
 * envelope, its content unchanged since, and the descriptor they were
 * read through: its commit need not open the file or read them again */
static char	 hdrs_read[MH_MSGID_LEN];
static int	 hdrs_fd = -1;

static char	*read_file_at(int, const char *, size_t, size_t *);
static void	 delete_copies(int, const char *, size_t);
static void	 file_name(char *, size_t, const char *, int, int);

static void
hdrs_forget(void)
{
	hdrs_read[0] = '\0';
	if (hdrs_fd != -1)
		close(hdrs_fd);
	hdrs_fd = -1;
}

/* fd (open on msgid in incoming/) is kept for the commit */
static void
hdrs_keep(const char *msgid, int fd)
{
	hdrs_forget();
	strlcpy(hdrs_read, msgid, sizeof(hdrs_read));
	hdrs_fd = fd;
}

/* the descriptor kept for msgid, now the caller's; -1 if none (any
 * other is dropped) */
static int
hdrs_take(const char *msgid)
{
	int	 fd = -1;

	if (strcmp(hdrs_read, msgid) == 0) {
		fd = hdrs_fd;
		hdrs_fd = -1;
	}
	hdrs_forget();
	return (fd);
}

static int
opendir_at(int dfd, const char *name)
{
	int	 fd;

	if (mkdirat(dfd, name, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", name);
		return (-1);
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		log_warn("open %s", name);
	return (fd);
}

static void
clean_dir(int dfd, int (*keep)(const char *))
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (keep != NULL && keep(de->d_name))
			continue;
		if (filepool_releaseat(pool, dfd, de->d_name) == -1)
			log_warn("unlink %s", de->d_name);
	}
	closedir(d);
}

int
queue_init(const char *root)
{
	char	 path[PATH_MAX];

	queue_shutdown();
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool %s", root);
		return (-1);
	}
	if ((outfd = opendir_at(rootfd, "outbound")) == -1 ||
	    (incfd = opendir_at(outfd, "incoming")) == -1 ||
	    (qfd = opendir_at(outfd, "queue")) == -1)
		return (-1);
	if (pool == NULL && ((size_t)snprintf(path, sizeof(path),
	    "%s/outbound/pool", root) >= sizeof(path) ||
	    (pool = filepool_open(path, QUEUE_POOL_MAX,
	    FILEPOOL_ZEROED)) == NULL))
		log_warn("queue: %s/outbound/pool (files are not recycled)",
		    root);
	/* nobody acknowledged what is still in incoming/ */
	clean_dir(incfd, NULL);
	return (0);
}

/* a directory on the spool's file system, for the group commit */
int
queue_dirfd(void)
{
	return (outfd);
}

void
queue_shutdown(void)
{
	hdrs_forget();
	track_forget();
	if (qfd != -1)
		close(qfd);
	if (incfd != -1)
		close(incfd);
	if (outfd != -1)
		close(outfd);
	if (rootfd != -1)
		close(rootfd);
	rootfd = outfd = incfd = qfd = -1;
	/* the pool stays: gsync's thread may be releasing into it */
}

int
queue_open_incoming(char msgid[MH_MSGID_LEN])
{
	int	 fd, tries;

	for (tries = 0; tries < 10; tries++) {
		envelope_new_id(msgid);
		fd = filepool_createat(pool, incfd, msgid);
		if (fd != -1)
			return (fd);
		if (errno != EEXIST)
			break;
	}
	log_warn("spool open");
	return (-1);
}

/*
 * An incoming file of a given id (a DSN's, derived from what it reports:
 * bounce.c); -1 with EEXIST if a message of that id is queued already
 */
int
queue_open_incoming_as(const char *msgid)
{
	struct stat	 st;
	char		 name[64];
	int		 fd;

	if (!envelope_id_ok(msgid)) {
		errno = EINVAL;
		return (-1);
	}
	snprintf(name, sizeof(name), "%s.env", msgid);
	if (fstatat(qfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		errno = EEXIST;
	if (errno != ENOENT)
		return (-1);
	if ((fd = filepool_createat(pool, incfd, msgid)) == -1)
		log_warn("spool open");
	return (fd);
}

int
queue_abort(const char *msgid, size_t ncopies)
{
	if (!envelope_id_ok(msgid))
		return (-1);
	if (strcmp(hdrs_read, msgid) == 0)
		hdrs_forget();
	filepool_releaseat(pool, incfd, msgid);
	delete_copies(qfd, msgid, ncopies);
	return (0);
}

/* a file of the queue, replaced whole: written in a pooled file, then
 * renamed (NAME.tmp when the pool has none; filepool.h, fileio.h) */
static int
queue_write(int dfd, const char *name, const char *data, size_t len,
    int flags)
{
	char	 tmp[NAME_MAX + 1];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp)) {
		log_warnx("write %s: name too long", name);
		return (-1);
	}
	if (filepool_replaceat(pool, dfd, tmp, name, data, len, -1,
	    flags) == -1) {
		log_warn("write %s", name);
		return (-1);
	}
	return (0);
}

static int
write_env(const struct envelope *env, int flags)
{
	char	 name[64], b[64], *text;
	size_t	 len;
	int	 rv, err;

	if ((text = envelope_encode(env, &len)) == NULL) {
		log_warnx("msgid=%s status=error (envelope cannot be "
		    "encoded: %s)", log_sanitize(b, sizeof(b), env->id),
		    envelope_error());
		errno = EINVAL;
		return (-1);
	}
	snprintf(name, sizeof(name), "%s.env", env->id);
	rv = queue_write(qfd, name, text, len, flags);
	err = errno;
	free(text);
	errno = err;
	return (rv);
}

static void
hdr_append(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	char	 tmp[512];
	size_t	 l = strlen(dst);

	msghdr_copy(tmp, sizeof(tmp), v, vlen);
	if (tmp[0] == '\0')
		return;
	if (l > 0 && l + 1 < dstlen)
		dst[l++] = ',';
	dst[l] = '\0';
	if (l + strlen(tmp) < dstlen)
		strlcat(dst, tmp, dstlen);
}

/* the domain of the From: header's first mailbox, lower-cased */
static void
hdr_from(struct envelope *env, const char *v, size_t vlen)
{
	char	 d[MH_NAME_MAX], *p;

	if (msghdr_from_domain(v, vlen, d, sizeof(d)) == -1 ||
	    config_check_domain(d) == -1)
		return;
	strlcpy(env->from_domain, d, sizeof(env->from_domain));
	for (p = env->from_domain; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
}

/* what parse_headers() saw of the header section */
#define HS_DATE		0x01	/* a Date: field */
#define HS_MSGID	0x02	/* a Message-ID: field */

struct hdr_scan {
	struct envelope	*env;
	int		 seen;		/* HS_* */
	size_t		 end;		/* msghdr_walk()'s */
};

/* a field for the envelope: msghdr.h's, From's domain, X-Mailhook-* */
static void
hdr_one(void *arg, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	struct hdr_scan	*hs = arg;
	struct envelope	*env = hs->env;

#define HIS(s)	(nlen == strlen(s) && strncasecmp(name, s, nlen) == 0)
	if (HIS("message-id"))
		hs->seen |= HS_MSGID;
	if (msghdr_envelope(env, name, nlen, v, vlen))
		return;
	if (HIS("date"))
		hs->seen |= HS_DATE;
	else if (msghdr_name_is(name, nlen, "from") &&
	    env->from_domain[0] == '\0')
		hdr_from(env, v, vlen);
	else if (HIS("x-mailhook-tag"))
		hdr_append(env->tags, sizeof(env->tags), v, vlen);
	else if (HIS("x-mailhook-group"))
		msghdr_copy(env->group, sizeof(env->group), v, vlen);
	else if (HIS("x-mailhook-transaction"))
		msghdr_copy(env->transaction, sizeof(env->transaction), v,
		    vlen);
#undef HIS
}

/* 1 if buf's first len bytes hold the end of a header section */
static int
section_ends(const char *buf, size_t len)
{
	return ((len > 0 && buf[0] == '\n') ||
	    (len > 1 && buf[0] == '\r' && buf[1] == '\n') ||
	    memmem(buf, len, "\n\r\n", 3) != NULL ||
	    memmem(buf, len, "\n\n", 2) != NULL);
}

/*
 * The start of the file (NUL-terminated): its first HDR_READ_MAX bytes,
 * more if its header section goes on past them, up to MSGHDR_SECTION_MAX
 * (what the DKIM signer reads for the From: domain it signs for); *whole
 * set if that is all of it; NULL if it cannot be allocated.
 */
static char *
read_start(int fd, size_t *lenp, int *whole)
{
	char		*buf, *nb;
	size_t		 size = HDR_READ_MAX, have = 0;
	ssize_t		 n;

	*whole = 0;
	if ((buf = malloc(size + 1)) == NULL)
		return (NULL);
	for (;;) {
		/* a regular file's read is short only at its end */
		n = have == 0 ? msghdr_read_start(fd, buf, size) :
		    pread_eintr(fd, buf + have, size - have, have);
		if (n <= 0) {
			/* nothing more read: read_rest() reads the rest */
			*whole = n == 0;
			break;
		}
		have += n;
		if (have < size) {
			*whole = 1;
			break;
		}
		if (size >= MSGHDR_SECTION_MAX || section_ends(buf, have))
			break;
		size *= 2;
		if ((nb = realloc(buf, size + 1)) == NULL) {
			free(buf);
			return (NULL);
		}
		buf = nb;
	}
	buf[have] = '\0';
	*lenp = have;
	return (buf);
}

/* the envelope's fields from the header section in buf's first len bytes */
static void
parse_headers_scan(struct hdr_scan *hs, const char *buf, size_t len)
{
	struct envelope	*env = hs->env;

	env->tags[0] = env->group[0] = env->transaction[0] = '\0';
	env->message_id[0] = env->subject[0] = env->from_domain[0] = '\0';
	hs->seen = 0;
	hs->end = msghdr_walk(buf, len, hdr_one, hs);
}

static void
parse_headers(struct envelope *env, const char *buf, size_t len)
{
	struct hdr_scan	 hs = { env, 0, 0 };

	parse_headers_scan(&hs, buf, len);
}

static void
read_headers(int fd, struct envelope *env)
{
	char	*buf;
	size_t	 len;
	int	 whole;

	if ((buf = read_start(fd, &len, &whole)) == NULL)
		return;
	parse_headers(env, buf, len);
	free(buf);
}

static void
copy_name(char *buf, size_t len, const char *msgid, size_t i)
{
	snprintf(buf, len, "%s.t%04zu", msgid, i);
}

/* the recipient copies env's message has */
static size_t
env_copies(const struct envelope *env)
{
	return (env->tracked ? env->nrcpt : 0);
}

/*
 * Recipient copies 0 to ncopies - 1 in dfd (the envelope's count), each
 * one: one that is missing (lost, or not written yet) is no reason to
 * leave those after it.
 */
static void
delete_copies(int dfd, const char *msgid, size_t ncopies)
{
	char	 name[64];
	size_t	 i;

	for (i = 0; i < ncopies && i < COPIES_MAX; i++) {
		copy_name(name, sizeof(name), msgid, i);
		if (filepool_releaseat(pool, dfd, name) == -1 &&
		    errno != ENOENT)
			log_warn("msgid=%s file=%s status=error (cannot "
			    "unlink)", msgid, name);
	}
}

/*
 * An incoming file's new content, in place through fd (open for reading
 * and writing, its offset still 0): nothing acknowledged it yet (a crash
 * leaves a file that start-up removes), and no new file is made
 * (creating one is what costs most on a busy file system).  Truncated
 * only if the file was longer (old, the size it was read with): a
 * tracked copy is mostly longer than what was submitted, and an
 * ftruncate to the size the write left is an inode update for nothing.
 */
static int
rewrite_incoming(int fd, const char *msgid, const char *data, size_t len,
    size_t old)
{
	if (write_all(fd, data, len) == -1 ||
	    (old > len && ftruncate(fd, len) == -1)) {
		log_warn("msgid=%s status=error (cannot rewrite)", msgid);
		return (-1);
	}
	return (0);
}

/*
 * The rest of fd's file after its first len bytes in *buf (NUL-terminated),
 * *lenp then its whole size; -1 if it cannot all be read.
 */
static int
read_rest(int fd, char **buf, size_t *lenp)
{
	struct stat	 st;
	char		*b;
	ssize_t		 n;
	size_t		 len = *lenp;

	if (fstat(fd, &st) == -1 || (size_t)st.st_size < len ||
	    (b = realloc(*buf, st.st_size + 1)) == NULL)
		return (-1);
	*buf = b;
	while (len < (size_t)st.st_size) {
		n = pread_eintr(fd, b + len, st.st_size - len, len);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shorter than fstat said */
			return (-1);
		}
		len += n;
	}
	b[len] = '\0';
	*lenp = len;
	return (0);
}

/*
 * Mail submitted without a Date: or a Message-ID: field gets it at the
 * end of its header section, as an MSA may add them (RFC 6409 8.3) and
 * as the API does: some receivers refuse mail without a Message-ID.
 * The file is rewritten in place (rewrite_incoming), its offset back at
 * 0, and *bufp, *lenp are its new content.  A header section whose end
 * is beyond what was read (read_start()) is left as it is.
 */
static int
headers_complete(int fd, const char *msgid, struct envelope *env,
    const struct hdr_scan *hs, char **bufp, size_t *lenp, int *wholep)
{
	char	 add[MH_NAME_MAX + 192], date[64];
	char	*b, *old = *bufp;
	size_t	 n, len = *lenp, at = hs->end;
	int	 k;

	if ((hs->seen & (HS_DATE | HS_MSGID)) == (HS_DATE | HS_MSGID) ||
	    (!*wholep && at == len) || (at > 0 && old[at - 1] != '\n'))
		return (0);
	if (!*wholep && read_rest(fd, bufp, lenp) == -1) {
		log_warn("msgid=%s status=error (cannot read to add Date: or "
		    "Message-ID:)", msgid);
		return (-1);
	}
	*wholep = 1;
	old = *bufp;
	len = *lenp;
	add[0] = '\0';
	if (!(hs->seen & HS_DATE)) {
		msghdr_date(date, sizeof(date), time(NULL));
		snprintf(add, sizeof(add), "Date: %s\r\n", date);
	}
	if (!(hs->seen & HS_MSGID)) {
		/* a hostname too long for the field is cut, not its dot */
		k = snprintf(env->message_id, sizeof(env->message_id),
		    "%s.%lld@", msgid, (long long)time(NULL));
		if (k < 0 || (size_t)k >= sizeof(env->message_id))
			fatalx("headers_complete: message id");
		strlcat(env->message_id, relay_conf->hostname,
		    sizeof(env->message_id));
		n = strlen(env->message_id);
		while (n > (size_t)k && env->message_id[n - 1] == '.')
			env->message_id[--n] = '\0';
		n = strlen(add);
		snprintf(add + n, sizeof(add) - n, "Message-ID: <%s>\r\n",
		    env->message_id);
	}
	n = strlen(add);
	if ((b = malloc(len + n + 1)) == NULL)
		return (-1);
	memcpy(b, old, at);
	memcpy(b + at, add, n);
	memcpy(b + at + n, old + at, len - at);
	b[len + n] = '\0';
	if (rewrite_incoming(fd, msgid, b, len + n, len) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		free(b);
		return (-1);
	}
	log_info("msgid=%s added=%s%s%s (missing from the submission)",
	    msgid, (hs->seen & HS_DATE) ? "" : "Date",
	    (hs->seen & (HS_DATE | HS_MSGID)) ? "" : ",",
	    (hs->seen & HS_MSGID) ? "" : "Message-ID");
	free(old);
	*bufp = b;
	*lenp = len + n;
	return (0);
}

/*
 * The tracking step of a submission, before signing (relay.c), for mail
 * with a tracking block for its From: domain (not a bounce).  One
 * recipient: the message is replaced by its tracked copy.  More: one
 * copy per recipient, env->tracked set; they go to queue/ at once,
 * flushed by the commit's group flush, and until the envelope is there
 * they do not exist (queue_load removes them).  -1 if a copy could not
 * be written (none is left).
 */
int
queue_track(const char *msgid, struct envelope *env)
{
	struct track_msg	*tm;
	struct hdr_scan		 hs = { env, 0, 0 };
	char			*buf, *copy, name[64];
	size_t			 i, len, clen;
	int			 fd, whole, rv = 0, err = 0;

	env->tracked = 0;
	if (!envelope_id_ok(msgid))
		return (0);
	/* one open and one read of the file for its headers, its tracking
	 * and its tracked content; the commit takes the descriptor */
	if ((fd = openat(incfd, msgid, O_RDWR | O_CLOEXEC)) == -1)
		return (-1);
	if ((buf = read_start(fd, &len, &whole)) == NULL) {
		close(fd);
		return (-1);
	}
	parse_headers_scan(&hs, buf, len);
	if (headers_complete(fd, msgid, env, &hs, &buf, &len, &whole) == -1) {
		free(buf);
		close(fd);
		return (-1);
	}
	if (TAILQ_EMPTY(&relay_conf->trackings) || env->sender[0] == '\0' ||
	    env->nrcpt > COPIES_MAX ||
	    config_tracking(relay_conf, env->from_domain) == NULL) {
		free(buf);
		hdrs_keep(msgid, fd);
		return (0);
	}
	if (!whole && read_rest(fd, &buf, &len) == -1) {
		log_warn("msgid=%s status=error (cannot read for tracking)",
		    msgid);
		free(buf);
		close(fd);
		return (-1);
	}
	if ((tm = track_prepare(relay_conf, msgid, env->from_domain, buf,
	    len)) == NULL) {
		free(buf);
		hdrs_keep(msgid, fd);
		return (0);
	}
	for (i = 0; i < env->nrcpt && rv == 0; i++) {
		copy_name(name, sizeof(name), msgid, i);
		if ((copy = track_render(tm, env->rcpts[i].addr, &clen)) ==
		    NULL)
			rv = -1;
		else if (env->nrcpt == 1) {
			/*
			 * The copy's header fields that parse_headers() reads
			 * are the submitted ones (the tracking step adds or
			 * drops only List-Unsubscribe fields): read again only
			 * if the first read did not see all of the header.
			 */
			if ((rv = rewrite_incoming(fd, msgid, copy, clen,
			    len)) == 0 && !whole)
				parse_headers(env, copy, clen);
		}
		else
			rv = queue_write(qfd, name, copy, clen, FR_GROUP);
		err = rv == -1 && copy != NULL ? errno : ENOMEM;
		free(copy);
	}
	track_free(tm);
	free(buf);
	if (rv == -1) {
		close(fd);
		log_warnx("msgid=%s status=error (tracked copies not written)",
		    msgid);
		delete_copies(qfd, msgid, env->nrcpt > 1 ? env->nrcpt : 0);
		errno = err;
		return (-1);
	}
	hdrs_keep(msgid, fd);
	env->tracked = env->nrcpt > 1;
	return (0);
}

/*
 * The first half of a commit: the message moves from incoming/ to
 * queue/<id>.msg and env learns its id, size and headers.  Without its
 * .env it does not exist yet (queue_load removes it).  Returns the open
 * message file, or -1 (the file is gone).
 */
static int
commit_move(const char *msgid, struct envelope *env)
{
	struct stat	 st;
	char		 name[64];
	int		 fd, err;

	if (!envelope_id_ok(msgid)) {
		errno = EINVAL;
		return (-1);
	}
	/* queue_track() read its headers through the one it kept */
	if ((fd = hdrs_take(msgid)) == -1) {
		if ((fd = openat(incfd, msgid, O_RDONLY | O_CLOEXEC)) == -1) {
			log_warn("msgid=%s status=error (cannot commit)",
			    msgid);
			err = errno;
			delete_copies(qfd, msgid, env_copies(env));
			errno = err;
			return (-1);
		}
		read_headers(fd, env);
	}
	if (fstat(fd, &st) == -1) {
		log_warn("msgid=%s status=error (cannot commit)", msgid);
		goto fail;
	}
	strlcpy(env->id, msgid, sizeof(env->id));
	env->size = st.st_size;
	env->data_check = 0;	/* relayd's own, or none (queue_commit_group) */
	snprintf(name, sizeof(name), "%s.msg", msgid);
	if (renameat(incfd, msgid, qfd, name) == -1) {
		log_warn("msgid=%s status=error (cannot rename)", msgid);
		goto fail;
	}
	return (fd);
 fail:
	err = errno;
	close(fd);
	filepool_releaseat(pool, incfd, msgid);
	/* its tracked recipient copies, made before: not left in queue/ */
	delete_copies(qfd, msgid, env_copies(env));
	errno = err;
	return (-1);
}

/* ncopies: the envelope's (0 for one read blank: queue_load's sweep) */
static void
commit_undo(const char *msgid, size_t ncopies)
{
	char	 name[64];

	snprintf(name, sizeof(name), "%s.msg", msgid);
	filepool_releaseat(pool, qfd, name);
	snprintf(name, sizeof(name), "%s.env", msgid);
	filepool_releaseat(pool, qfd, name);
	delete_copies(qfd, msgid, ncopies);
}

/* commit at once: three fsyncs (message, envelope, directory) */
int
queue_commit(const char *msgid, struct envelope *env)
{
	int	 fd, rv;

	if ((fd = commit_move(msgid, env)) == -1)
		return (-1);
	rv = fsync(fd);
	close(fd);
	if (rv == -1 || write_env(env, FR_FSYNC | FR_SYNCDIR) == -1) {
		log_warn("msgid=%s status=error (cannot commit)", msgid);
		commit_undo(msgid, env_copies(env));
		return (-1);
	}
	return (0);
}

struct commit_state {
	struct envelope		*env;
	queue_commit_fn		 done;
	void			*arg;
};

/* the message is on disk: its envelope may now make it exist */
static void
commit_env(int ok, void *arg)
{
	struct commit_state	*cs = arg;
	int			 err = errno;

	if (!ok || write_env(cs->env, FR_GROUP) == -1) {
		err = errno;
		log_warnx("msgid=%s status=error (commit failed)",
		    cs->env->id);
		commit_undo(cs->env->id, env_copies(cs->env));
		ok = 0;
	}
	errno = err;
	cs->done(ok, cs->env, cs->arg);
	free(cs);
}

/*
 * Commit in the group (gsync.h).  done() is called once the envelope is
 * written, and the caller answers from a gsync_then() callback: the
 * envelope is durable after the next flush.
 *
 * The envelope is written at once, recording the data's check, so that
 * one flush covers the data and the envelope.  A crash during that flush
 * may leave the envelope on disk without all of the data; queue_load
 * then finds the data does not match and drops the message, for which no
 * 250 was sent.  The check is of the file as it is now, read back here
 * (tracking and DKIM may have changed what the client sent).  Mail with
 * recipient copies (tracked, several recipients) has no check for them:
 * its data is flushed first, and its envelope written only after.
 */
void
queue_commit_group(const char *msgid, struct envelope *env,
    queue_commit_fn done, void *arg)
{
	struct commit_state	*cs;
	int			 fd, err;

	if ((fd = commit_move(msgid, env)) == -1) {
		done(0, env, arg);
		return;
	}
	gsync_fd(fd);
	gsync_fd(qfd);
	if (!env->tracked) {
		if ((env->data_check = file_data_check(fd, env->size)) == -1)
			log_warn("msgid=%s status=error (cannot read back "
			    "to commit)", env->id);
		err = errno;
		close(fd);
		/* write_env() logs why it failed */
		if (env->data_check == -1 || write_env(env, FR_GROUP) == -1) {
			if (env->data_check != -1)
				err = errno;
			env->data_check = 0;
			commit_undo(env->id, env_copies(env));
			errno = err;	/* the reply tells why (a full disk) */
			done(0, env, arg);
			return;
		}
		done(1, env, arg);
		return;
	}
	close(fd);
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		fatal("calloc");
	cs->env = env;
	cs->done = done;
	cs->arg = arg;
	gsync_then(commit_env, cs);
}

int
queue_update(const struct envelope *env)
{
	return (write_env(env, FR_FSYNC));
}

int
queue_drop_check(struct envelope *env)
{
	int	 fd, rv;

	if (env->data_check == 0)
		return (0);
	if ((fd = queue_open_msg(env->id)) == -1)
		return (-1);
	rv = fsync(fd);
	close(fd);
	if (rv == -1)
		return (-1);
	env->data_check = 0;
	return (queue_update(env));
}

/*
 * After the next group commit (what was written about it comes first),
 * by the flusher thread: the envelope, the message, its ncopies
 * recipient copies, and (asides) their signed versions not put in place
 * (dkim.c), after the envelope: a crash before leaves them to be put in
 * place at start.
 */
void
queue_delete_group(const char *msgid, size_t ncopies, int asides)
{
	char	 name[64], aside[72];
	size_t	 i;

	snprintf(name, sizeof(name), "%s.env", msgid);
	gsync_releaseat(pool, qfd, name);
	snprintf(name, sizeof(name), "%s.msg", msgid);
	gsync_releaseat(pool, qfd, name);
	for (i = 0; i < ncopies && i < COPIES_MAX; i++) {
		copy_name(name, sizeof(name), msgid, i);
		gsync_releaseat(pool, qfd, name);
	}
	for (i = 0; asides && i < (ncopies > 0 ? ncopies : 1) &&
	    i < COPIES_MAX; i++) {
		file_name(name, sizeof(name), msgid, 1, ncopies > 0 ?
		    (int)i : -1);
		snprintf(aside, sizeof(aside), "%s.dkim", name);
		gsync_releaseat(pool, qfd, aside);
	}
}

int
queue_open_copy(const char *msgid, size_t i)
{
	char	 name[64];

	copy_name(name, sizeof(name), msgid, i);
	return (openat(qfd, name, O_RDONLY | O_CLOEXEC));
}

int
queue_open_body(const struct envelope *env, size_t i)
{
	if (!env->tracked)
		return (queue_open_msg(env->id));
	return (queue_open_copy(env->id, i));
}

int
queue_open_msg(const char *msgid)
{
	char	 name[64];

	snprintf(name, sizeof(name), "%s.msg", msgid);
	return (openat(qfd, name, O_RDONLY | O_CLOEXEC));
}

/* the file of a message, or of its copy for recipient copy (>= 0) */
static void
file_name(char *buf, size_t len, const char *msgid, int queued, int copy)
{
	if (copy >= 0)
		copy_name(buf, len, msgid, copy);
	else
		snprintf(buf, len, "%s%s", msgid, queued ? ".msg" : "");
}

int
queue_open_incoming_ro(const char *msgid, int copy)
{
	char	 name[64];

	if (!envelope_id_ok(msgid))
		return (-1);
	file_name(name, sizeof(name), msgid, 0, copy);
	return (openat(copy >= 0 ? qfd : incfd, name, O_RDONLY | O_CLOEXEC));
}

/*
 * hdrs, then all of the file name of dfd, written as tmp and renamed to
 * to (flags: file_replace's)
 */
static int
prepend_copy(const char *msgid, int dfd, const char *name, const char *tmp,
    const char *to, const char *hdrs, size_t len, int flags)
{
	int	 in, rc;

	if ((in = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("msgid=%s file=%s status=error (cannot open to "
		    "prepend)", msgid, name);
		return (-1);
	}
	if ((rc = filepool_replaceat(pool, dfd, tmp, to, hdrs, len, in,
	    flags)) == -1)
		log_warn("msgid=%s file=%s status=error (cannot prepend)",
		    msgid, to);
	close(in);
	return (rc);
}

/*
 * Put hdrs in front of an incoming message (the commit path), in two
 * steps so that a write that fails (a full disk) changes nothing: each
 * file's signed version is written beside it, as NAME.dkim (here), and
 * they are put in place together once all are written
 * (queue_prepend_end).  Not committed yet, nobody reads them, and a
 * crash leaves nothing start-up keeps; a tracked copy is flushed by
 * the commit's group flush, as it was written.
 */
int
queue_prepend(const char *msgid, int copy, const char *hdrs, size_t len)
{
	char	 name[64], aside[72];
	int	 dfd = copy >= 0 ? qfd : incfd;

	if (!envelope_id_ok(msgid))
		return (-1);
	file_name(name, sizeof(name), msgid, 0, copy);
	snprintf(aside, sizeof(aside), "%s.dkim", name);
	/* written under its own name: renaming a file onto itself does
	 * nothing (rename(2)), and file_replace_copy removes it on error */
	return (prepend_copy(msgid, dfd, name, aside, aside, hdrs, len,
	    copy >= 0 ? FR_GROUP : 0));
}

/*
 * The NAME.dkim files of queue_prepend put in place, each over its
 * unsigned file (install), or removed; ncopies -1: the message only.
 * The unsigned file is removed before the rename, as FR_FRESH does
 * (fileio.h).  -1 if one cannot be put in place: the message is to be
 * refused (queue_abort), its files a mix of signed ones and missing
 * ones; the copies from that one on are removed here at once.
 */
int
queue_prepend_end(const char *msgid, int ncopies, int install)
{
	char	 name[64], aside[72];
	int	 i, dfd, err = 0, rv = 0;

	if (!envelope_id_ok(msgid))
		return (-1);
	for (i = ncopies < 0 ? -1 : 0; i < (ncopies < 0 ? 0 : ncopies); i++) {
		dfd = i >= 0 ? qfd : incfd;
		file_name(name, sizeof(name), msgid, 0, i);
		snprintf(aside, sizeof(aside), "%s.dkim", name);
		if (install && rv == 0 && ((unlinkat(dfd, name, 0) == -1 &&
		    errno != ENOENT) || renameat(dfd, aside, dfd, name) == -1)) {
			err = errno;
			log_warn("msgid=%s file=%s status=error (cannot put "
			    "the signed message in place)", msgid, name);
			rv = -1;
		}
		if (rv == -1 && i >= 0)
			(void)filepool_releaseat(pool, dfd, name);
		if ((!install || rv == -1) && filepool_releaseat(pool, dfd,
		    aside) == -1 && errno != ENOENT)
			log_warn("unlink %s", aside);
	}
	if (install && strcmp(hdrs_read, msgid) == 0)
		hdrs_forget();	/* the content changed */
	errno = err;
	return (rv);
}

/*
 * A queued message signed at last (dkim.c) changes in two steps that a
 * crash must not separate, or it would be signed again after the
 * restart: each file's signed version is written beside it, as
 * NAME.dkim (queue_prepend_aside), and put in place (queue_aside_end)
 * once the envelope that no longer waits for the signature is on disk.
 * At start, an envelope that waits still has its NAME.dkim files
 * removed; one that does not has them put in place (aside_settle).
 */
int
queue_prepend_aside(const char *msgid, int copy, const char *hdrs,
    size_t len)
{
	char	 name[64], aside[72], tmp[80];

	if (!envelope_id_ok(msgid))
		return (-1);
	file_name(name, sizeof(name), msgid, 1, copy);
	snprintf(aside, sizeof(aside), "%s.dkim", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", aside);
	return (prepend_copy(msgid, qfd, name, tmp, aside, hdrs, len,
	    FR_FSYNC));
}

/*
 * A NAME.dkim that is not there was put in place before (a crash, or a
 * rename that failed for another file), or it was lost (removed by hand,
 * a damaged file system): NAME begins with the signature then, or not.
 */
static int
aside_in_place(const char *name)
{
	static const char	 hdr[] = "DKIM-Signature:";
	char			 buf[sizeof(hdr) - 1];
	ssize_t			 n;
	int			 fd;

	if ((fd = openat(qfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	return (n == (ssize_t)sizeof(buf) &&
	    strncasecmp(buf, hdr, sizeof(buf)) == 0);
}

/* the NAME.dkim files of msgid put in place (install) or removed;
 * ncopies -1: the message's only.  -1 on an error, -2 if a signed file
 * is lost (its unsigned one left), else the number put in place */
static int
aside_each(const char *msgid, int ncopies, int install)
{
	char	 name[64], aside[72];
	int	 i, rv = 0, n = 0;

	for (i = ncopies < 0 ? -1 : 0; i < (ncopies < 0 ? 0 : ncopies); i++) {
		file_name(name, sizeof(name), msgid, 1, i);
		snprintf(aside, sizeof(aside), "%s.dkim", name);
		if (!install) {
			if (filepool_releaseat(pool, qfd, aside) == -1 &&
			    errno != ENOENT)
				log_warn("unlink %s", aside);
		} else if (renameat(qfd, aside, qfd, name) == 0)
			n++;
		else if (errno != ENOENT) {
			log_warn("msgid=%s file=%s status=error (cannot put "
			    "the signed message in place)", msgid, name);
			if (rv == 0)
				rv = -1;
		} else if (!aside_in_place(name)) {
			log_warnx("msgid=%s file=%s status=error (its signed "
			    "version %s is lost)", msgid, name, aside);
			rv = -2;
		}
	}
	if (install && strcmp(hdrs_read, msgid) == 0)
		hdrs_forget();	/* the content changed */
	return (rv < 0 ? rv : n);
}

/* before the envelope that makes them count: the NAME.dkim names durable */
int
queue_aside_sync(void)
{
	if (fsync(qfd) == -1) {
		log_warn("fsync queue");
		return (-1);
	}
	return (0);
}

int
queue_aside_end(const char *msgid, int ncopies, int install)
{
	int	 rv;

	rv = aside_each(msgid, ncopies, install);
	if (install && rv != 0 && fsync(qfd) == -1)
		log_warn("fsync queue");
	return (rv < 0 ? rv : 0);
}

/*
 * At start: what a crash left of a signature being put in place.  One
 * that cannot be keeps the message from being sent (dkim.c), tried
 * again at the first pass.
 */
static void
aside_settle(struct rmsg *m)
{
	const struct envelope	*env = &m->env;
	int			 ncopies = env->tracked ? (int)env->nrcpt : -1;

	if (env->dkim_pending[0] != '\0')
		(void)aside_each(env->id, ncopies, 0);
	else if (queue_aside_end(env->id, ncopies, 1) < 0) {
		dkim_aside_wait(m, "cannot be put in place");
		m->dkim_next = 0;
	}
}

/*
 * A whole file of dfd, NUL terminated; NULL and errno (ENOENT: none,
 * EFBIG: larger than max, EIO: cut short) if not.
 */
static char *
read_file_at(int dfd, const char *name, size_t max, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, saved;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1)
		goto fail;
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		goto fail;
	while (len < (size_t)st.st_size) {
		if ((n = read(fd, buf + len, st.st_size - len)) <= 0) {
			if (n == 0 || errno != EINTR)
				break;
			continue;
		}
		len += n;
	}
	if (len < (size_t)st.st_size) {
		errno = EIO;
		goto fail;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
 fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return (NULL);
}

/* a recipient's copy's name (l: its length) */
static int
is_copy(const char *name, size_t l)
{
	return (l == MH_MSGID_LEN - 1 + COPY_SUFFIX_LEN &&
	    strncmp(name + MH_MSGID_LEN - 1, ".t", 2) == 0);
}

/* load every committed message; remove what an interrupted commit left */
int
queue_load(struct rmsglist *list)
{
	DIR		*d;
	struct dirent	*de;
	struct rmsg	*m;
	struct stat	 st;
	char		 id[MH_MSGID_LEN], name[64], *text;
	size_t		 len, l;
	int		 fd, asides = 0, copies = 0;

	if ((fd = dup(qfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		if (is_copy(de->d_name, l)) {
			copies = 1;	/* once every envelope is settled */
			continue;
		}
		if (l > 5 && strcmp(de->d_name + l - 5, ".dkim") == 0 &&
		    l > MH_MSGID_LEN - 1 && de->d_name[MH_MSGID_LEN - 1] ==
		    '.') {
			/* a signed version: its envelope decides */
			memcpy(id, de->d_name, MH_MSGID_LEN - 1);
			id[MH_MSGID_LEN - 1] = '\0';
			snprintf(name, sizeof(name), "%s.env", id);
			if (envelope_id_ok(id) &&
			    fstatat(qfd, name, &st, 0) == 0) {
				asides = 1;
				continue;
			}
		}
		if (l != MH_MSGID_LEN - 1 + 4) {
			/* .tmp files and strays */
			filepool_releaseat(pool, qfd, de->d_name);
			continue;
		}
		memcpy(id, de->d_name, MH_MSGID_LEN - 1);
		id[MH_MSGID_LEN - 1] = '\0';
		if (!envelope_id_ok(id)) {
			filepool_releaseat(pool, qfd, de->d_name);
			continue;
		}
		snprintf(name, sizeof(name), "%s.env", id);
		if (strcmp(de->d_name + MH_MSGID_LEN - 1, ".msg") == 0) {
			if (fstatat(qfd, name, &st, 0) == -1) {
				log_info("msgid=%s status=removed (never "
				    "committed)", id);
				filepool_releaseat(pool, qfd, de->d_name);
			}
			continue;
		}
		if (strcmp(de->d_name + MH_MSGID_LEN - 1, ".env") != 0)
			continue;
		snprintf(name, sizeof(name), "%s.msg", id);
		if (fstatat(qfd, name, &st, 0) == -1) {
			log_warnx("msgid=%s status=removed (an envelope "
			    "without its message)", id);
			filepool_releaseat(pool, qfd, de->d_name);
			continue;
		}
		if ((text = read_file_at(qfd, de->d_name, 16 * 1024 * 1024,
		    &len)) == NULL) {
			log_warn("msgid=%s file=%s status=error (cannot read)",
			    id, de->d_name);
			continue;
		}
		if (envelope_blank(text, len)) {
			log_warnx("msgid=%s status=removed (an empty "
			    "envelope: its commit never reached the disk)", id);
			free(text);
			commit_undo(id, 0);	/* its copies: swept below */
			continue;
		}
		if ((m = calloc(1, sizeof(*m))) == NULL)
			fatal("calloc");
		if (envelope_decode(&m->env, text, len) == -1 ||
		    strcmp(m->env.id, id) != 0) {
			log_warnx("msgid=%s status=error (envelope %s not "
			    "understood: corrupt, or written by a newer "
			    "mailhookd; left in place)", id,
			    envelope_error()[0] != '\0' ? envelope_error() :
			    "id");
			free(text);
			envelope_clear(&m->env);
			free(m);
			continue;
		}
		free(text);
		if (m->env.data_check != 0 && !file_data_matches(qfd, name,
		    m->env.size, m->env.data_check)) {
			/* a commit a crash cut short before its flush */
			log_warnx("msgid=%s status=removed (data does not "
			    "match its envelope, never committed)", id);
			commit_undo(id, env_copies(&m->env));
			envelope_clear(&m->env);
			free(m);
			continue;
		}
		strlcpy(m->id, id, sizeof(m->id));
		/* counted before the restart: not again (scheduler.c) */
		m->counted = m->env.allow_counted;
		TAILQ_INSERT_TAIL(list, m, entry);
	}
	/*
	 * A recipient's copy is kept with its envelope, after this pass:
	 * an envelope it removed (an interrupted commit) takes its copies
	 * with it wherever readdir puts them, and one read blank cannot say
	 * how many it has.
	 */
	if (copies) {
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			if (!is_copy(de->d_name, strlen(de->d_name)))
				continue;
			memcpy(id, de->d_name, MH_MSGID_LEN - 1);
			id[MH_MSGID_LEN - 1] = '\0';
			snprintf(name, sizeof(name), "%s.env", id);
			if (!envelope_id_ok(id) ||
			    fstatat(qfd, name, &st, 0) == -1)
				filepool_releaseat(pool, qfd, de->d_name);
		}
	}
	closedir(d);
	/* only if a crash left some: a start with a long queue stays quick */
	if (asides)
		TAILQ_FOREACH(m, list, entry)
			aside_settle(m);
	return (0);
}

int
queue_suppress_write(const char *text, size_t len)
{
	return (queue_write(outfd, "suppress", text, len,
	    FR_FSYNC | FR_SYNCDIR));
}

char *
queue_suppress_read(size_t *lenp)
{
	return (read_file_at(outfd, "suppress", SUPPRESS_FILE_MAX, lenp));
}

/*
 * The suppression list's log of changes (suppress.c): appended to and
 * fsync'd, and a new log's directory entry too.  An append that fails
 * is cut back to the log's old length: a part of a line (a full disk)
 * would join the next line appended, both lost at the next start.
 */
int
queue_suppress_append(const char *text, size_t len)
{
	struct stat	 st;
	int		 fd, made = 0, rv = 0;

	if ((fd = openat(outfd, SUPPRESS_LOG, O_WRONLY | O_APPEND |
	    O_CLOEXEC)) == -1 && errno == ENOENT) {
		fd = openat(outfd, SUPPRESS_LOG, O_WRONLY | O_APPEND |
		    O_CREAT | O_CLOEXEC, 0600);
		made = 1;
	}
	if (fd == -1) {
		log_warn("write %s", SUPPRESS_LOG);
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		log_warn("write %s", SUPPRESS_LOG);
		close(fd);
		return (-1);
	}
	if (write_all(fd, text, len) == -1 || fsync(fd) == -1 ||
	    (made && fsync(outfd) == -1)) {
		log_warn("write %s", SUPPRESS_LOG);
		if (file_cut(fd, st.st_size) == -1 || fsync(fd) == -1)
			log_warn("%s: cannot cut a failed append back",
			    SUPPRESS_LOG);
		rv = -1;
	}
	close(fd);
	return (rv);
}

char *
queue_suppress_log_read(size_t *lenp)
{
	return (read_file_at(outfd, SUPPRESS_LOG, SUPPRESS_FILE_MAX, lenp));
}

int
queue_suppress_log_reset(void)
{
	return (queue_write(outfd, SUPPRESS_LOG, "", 0,
	    FR_FSYNC | FR_SYNCDIR));
}

/*
 * relayd's own state beside the queue, replaced whole and fsync'd: the
 * MTA-STS policies ("mta-sts.DOMAIN", mtasts.c), the TLS-RPT counts
 * ("tls-rpt", tlsrpt.c).  name is one file name, never a path.
 */
static int
queue_state_name(const char *name)
{
	return (name[0] != '\0' && name[0] != '.' && strchr(name, '/') ==
	    NULL && strlen(name) + 4 <= NAME_MAX);
}

int
queue_state_write(const char *name, const char *text, size_t len)
{
	if (!queue_state_name(name))
		return (-1);
	return (queue_write(outfd, name, text, len, FR_FSYNC | FR_SYNCDIR));
}

/*
 * A state file kept open and written in place (pwrite), not fsync'd: a
 * crash keeps what was written, a power loss may not
 */
int
queue_state_open(const char *name)
{
	int	 fd;

	if (!queue_state_name(name))
		return (-1);
	if ((fd = openat(outfd, name, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		log_warn("open %s", name);
	return (fd);
}

/* fn(name) for each state file whose name begins with prefix */
void
queue_state_each(const char *prefix, void (*fn)(const char *))
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n = strlen(prefix);
	int		 fd;

	if ((fd = dup(outfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, n) == 0 &&
		    queue_state_name(de->d_name) &&
		    strstr(de->d_name, ".tmp") == NULL)
			fn(de->d_name);
	closedir(d);
}

char *
queue_state_read(const char *name, size_t max, size_t *lenp)
{
	if (!queue_state_name(name))
		return (NULL);
	return (read_file_at(outfd, name, max, lenp));
}

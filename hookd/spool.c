/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The inbound spool.  A message is born in incoming/ (its fd handed to
 * smtpd).  A queue-mode message is committed in one group commit
 * (gsync.h): it is renamed into queue/ and its envelope, which records
 * the data's CRC-32, written next to it; once that is durable smtpd may
 * say 250.  A sync-mode message needs no durability: smtpd answers only after
 * the application has taken it, so until then the client keeps it; it is
 * posted from incoming/ and removed, and what a crash leaves in incoming/
 * is removed at start.  Removed files are recycled through pool/
 * (filepool.h): a message's files are taken from it, not created.
 * inbound/history holds the messages' history (history.h, inhist.c).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gsync.h"
#include "log.h"
#include "hookd.h"
#include "fileio.h"
#include "filepool.h"

/* files kept for reuse: about what the busiest moments hold at once */
#define SPOOL_POOL_MAX	1024

static char	sp_incoming[MH_PATH_MAX + 32];
static char	sp_queue[MH_PATH_MAX + 32];
static int	sp_queuefd = -1;
static int	sp_incomingfd = -1;
/* kept for the process's life: gsync's thread releases into it */
static struct filepool	*sp_pool;
/* ID.hold files there may be (spool_hold_mark): none, none to look for */
static size_t		 sp_holds;

static int
spool_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return (-1);
	}
	return (0);
}

/* the file that keeps the hold of a message whose envelope is unreadable */
static void
hold_name(const char *msgid, char *name, size_t len)
{
	snprintf(name, len, "%s.hold", msgid);
}

int
spool_init(const char *root)
{
	char	path[MH_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/inbound", root);
	snprintf(sp_incoming, sizeof(sp_incoming), "%s/inbound/incoming", root);
	snprintf(sp_queue, sizeof(sp_queue), "%s/inbound/queue", root);
	if (spool_mkdir(path) == -1 || spool_mkdir(sp_incoming) == -1 ||
	    spool_mkdir(sp_queue) == -1)
		return (-1);
	if (sp_queuefd == -1 && (sp_queuefd = open(sp_queue,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool: %s", sp_queue);
		return (-1);
	}
	if (sp_incomingfd == -1 && (sp_incomingfd = open(sp_incoming,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool: %s", sp_incoming);
		return (-1);
	}
	snprintf(path, sizeof(path), "%s/inbound/pool", root);
	if (sp_pool == NULL &&
	    (sp_pool = filepool_open(path, SPOOL_POOL_MAX,
	    FILEPOOL_ZEROED)) == NULL)
		log_warn("spool: %s (files are not recycled)", path);
	return (0);
}

int
spool_create(char msgid[MH_MSGID_LEN])
{
	char	path[MH_PATH_MAX + 64];
	int	fd, tries;

	for (tries = 0; tries < 8; tries++) {
		envelope_new_id(msgid);
		snprintf(path, sizeof(path), "%s/%s", sp_incoming, msgid);
		fd = filepool_create(sp_pool, path);
		if (fd != -1)
			return (fd);
		if (errno != EEXIST) {
			log_warn("spool: create %s", path);
			return (-1);
		}
	}
	return (-1);
}

/* file_replace_in, through a pooled file (filepool_replaceat) */
static int
spool_replace(const char *dir, const char *name, const void *data,
    size_t len, int flags)
{
	char	 tmp[PATH_MAX], path[PATH_MAX];

	if (file_in_paths(dir, name, tmp, path) == -1)
		return (-1);
	return (filepool_replaceat(sp_pool, AT_FDCWD, tmp, path, data, len,
	    -1, flags));
}

/* write the envelope next to the message, atomically */
static int
envelope_store(const char *dir, const struct envelope *env, int group)
{
	char	 name[MH_MSGID_LEN + 8];
	char	*text;
	size_t	 len;
	int	 rc;

	if ((text = envelope_encode(env, &len)) == NULL) {
		log_warnx("msgid=%s status=error (envelope cannot be "
		    "encoded: %s)", env->id, envelope_error());
		return (-1);
	}
	snprintf(name, sizeof(name), "%s.env", env->id);
	rc = spool_replace(dir, name, text, len, group ? FR_GROUP : FR_FSYNC);
	free(text);
	if (rc == -1)
		log_warn("msgid=%s status=error (envelope not written)",
		    env->id);
	return (rc);
}

/* a sync-mode message: its size; it stays in incoming/ */
int
spool_transient(struct envelope *env, int fd)
{
	char		 path[MH_PATH_MAX + 64];
	struct stat	 st;

	if (!envelope_id_ok(env->id))
		return (-1);
	snprintf(path, sizeof(path), "%s/%s", sp_incoming, env->id);
	/* fd: the message already open (no path lookup) */
	if ((fd != -1 ? fstat(fd, &st) : stat(path, &st)) == -1) {
		log_warn("msgid=%s status=error (cannot stat its data)",
		    env->id);
		return (-1);
	}
	env->size = st.st_size;
	return (0);
}

struct spool_commit_state {
	struct envelope	*env;
	spool_commit_fn	 done;
	void		*arg;
};

/* the one flush of a commit is over: the 250, or nothing left of it */
static void
spool_committed(int ok, void *arg)
{
	struct spool_commit_state	*cs = arg;
	int				 err = errno;

	if (!ok) {
		log_warnx("msgid=%s status=error (not committed)",
		    cs->env->id);
		spool_remove(cs->env->id);
	}
	errno = err;
	cs->done(ok, cs->arg);
	free(cs);
}

/* the file holds what smtpd wrote, as far as its size tells: 0, or -1 */
static int
commit_size(const char *msgid, int fd, int64_t size, struct stat *st)
{
	if (fstat(fd, st) == -1) {
		log_warn("spool: commit %s", msgid);
		return (-1);
	}
	if (st->st_size != size) {
		log_warnx("spool: commit %s: the file has %lld bytes, smtpd "
		    "wrote %lld", msgid, (long long)st->st_size,
		    (long long)size);
		errno = EIO;
		return (-1);
	}
	return (0);
}

/*
 * Commit a queue-mode message (env->id in incoming/): done(1, arg) once
 * the message and its envelope are durable in queue/, done(0, arg) when
 * it could not be (nothing is left of it then).  fd: the message already
 * open (its verdict's descriptor: no second open), left open for the
 * caller; -1: it is opened and closed here.  size and crc: smtpd's count
 * of the bytes it wrote to the file and their CRC-32.
 *
 * One group commit: the message is renamed into queue/ and its envelope
 * written next to it before the flush, so a crash before the flush may
 * leave an envelope whose data never reached the disk (no 250 was sent
 * for it).  The envelope records the data's size and CRC-32
 * (data-check), and spool_recover drops a message whose file does not
 * match them.  The CRC-32 is smtpd's, computed as it wrote the bytes, so
 * that hookd does not read the file again on its event loop.  smtpd is
 * not trusted, but the check only tells a crash's unflushed data: a
 * lying smtpd can only have its own message dropped after a crash, and
 * it could as well have written garbage into the file.  Its count must
 * still be the file's size (fstat), or the commit fails (a 451): a
 * wrong check is never recorded.
 */
void
spool_commit(struct envelope *env, int fd, int64_t size, uint32_t crc,
    spool_commit_fn done, void *arg)
{
	struct spool_commit_state	*cs;
	char				 path[MH_PATH_MAX + 64];
	char				 to[MH_PATH_MAX + 64];
	struct stat			 st;
	int				 err, own = fd == -1;

	if (!envelope_id_ok(env->id)) {
		errno = EINVAL;
		done(0, arg);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", sp_incoming, env->id);
	snprintf(to, sizeof(to), "%s/%s", sp_queue, env->id);
	if (own && (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("spool: commit %s", env->id);
	if (fd == -1 || commit_size(env->id, fd, size, &st) == -1) {
		err = errno;
		if (own && fd != -1)
			close(fd);
		filepool_release(sp_pool, path);
		errno = err;
		done(0, arg);
		return;
	}
	gsync_fd(fd);
	if (own)
		close(fd);
	env->size = st.st_size;
	env->data_check = DATA_CHECK(crc);
	if (rename(path, to) == -1 ||
	    envelope_store(sp_queue, env, 1) == -1) {
		err = errno;
		log_warn("spool: commit %s", env->id);
		filepool_release(sp_pool, path);
		spool_remove(env->id);
		errno = err;
		done(0, arg);
		return;
	}
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		fatal("calloc");
	cs->env = env;
	cs->done = done;
	cs->arg = arg;
	gsync_then(spool_committed, cs);
}

int
spool_update(const struct envelope *env)
{
	if (envelope_store(sp_queue, env, 0) == -1)
		return (-1);
	return (fsync_dir(sp_queue));
}

/* the envelope written, durable with the next group commit (gsync) */
int
spool_update_group(const struct envelope *env)
{
	return (envelope_store(sp_queue, env, 1));
}

/*
 * A message is done: its files go to the pool after the next group
 * commit, on gsync's thread (emptying a file frees its blocks, which may
 * wait for the disk: a discard), the envelope first, since without it
 * the message is not committed.  Until the flush after that a crash
 * would only post it again.  A hold kept beside it (spool_hold_mark)
 * goes last, on the same thread: a crash before its envelope is gone
 * brings it back held, as it was, not without its hold (start removes a
 * hold whose envelope is gone: orphan_data).
 */
void
spool_remove(const char *msgid)
{
	char	name[MH_MSGID_LEN + 8];

	if (!envelope_id_ok(msgid))
		return;
	snprintf(name, sizeof(name), "%s.env", msgid);
	gsync_releaseat(sp_pool, sp_queuefd, name);
	gsync_releaseat(sp_pool, sp_queuefd, msgid);
	/* a system call a message only while some hold file may be there */
	if (sp_holds > 0 && spool_held(msgid)) {
		sp_holds--;
		hold_name(msgid, name, sizeof(name));
		gsync_unlinkat(sp_queuefd, name);
	}
}

int
spool_discard(const char *msgid)
{
	char	path[MH_PATH_MAX + 64];

	if (!envelope_id_ok(msgid))
		return (-1);
	snprintf(path, sizeof(path), "%s/%s", sp_incoming, msgid);
	filepool_release(sp_pool, path);
	return (0);
}

/*
 * A sync-mode message that has its answer: its file goes to the pool on
 * gsync's releaser thread (emptying it frees its blocks, which the loop
 * need not wait for); it was never made durable, so no flush comes first.
 */
void
spool_discard_later(const char *msgid)
{
	if (envelope_id_ok(msgid))
		gsync_release_now(sp_pool, sp_incomingfd, msgid);
}

int
spool_open_message(const char *msgid, int transient)
{
	char	path[MH_PATH_MAX + 64];

	if (!envelope_id_ok(msgid))
		return (-1);
	snprintf(path, sizeof(path), "%s/%s", transient ? sp_incoming :
	    sp_queue, msgid);
	return (open(path, O_RDONLY | O_CLOEXEC));
}

static char *
read_small(const char *path, size_t *len)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1 || st.st_size > 16 * 1024 * 1024 ||
	    (buf = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		return (NULL);
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return (NULL);
	}
	buf[n] = '\0';
	*len = n;
	return (buf);
}

/*
 * The hold kept beside msgid (spool_hold_mark) unlinked, if there is
 * one; counted: sp_holds counts it.  -1: it is still there.
 */
static int
hold_unlink(const char *msgid, int counted)
{
	char	name[MH_MSGID_LEN + 8];

	hold_name(msgid, name, sizeof(name));
	if (unlinkat(sp_queuefd, name, 0) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (counted && sp_holds > 0)
		sp_holds--;
	return (0);
}

/* the message's file is what its envelope's data-check recorded, if any */
static int
data_matches(const struct envelope *env)
{
	if (env->data_check == 0)
		return (1);	/* written before the check existed */
	return (file_data_matches(sp_queuefd, env->id, env->size,
	    env->data_check));
}

/*
 * The message's file is what its envelope's data-check recorded (at
 * start, and when mhctl schedule reads again an envelope start could
 * not): if not, a commit a crash cut short before its flush, no 250
 * given, and its files are removed, a hold kept beside it
 * (spool_hold_mark) with them; held: sp_holds counts that one.  0: it
 * matches; -1: removed.
 */
int
spool_data_verify(const struct envelope *env, int held)
{
	char	path[MH_PATH_MAX + 64];

	if (data_matches(env))
		return (0);
	log_warnx("spool: %s: data does not match its envelope (never "
	    "committed), removed", env->id);
	spool_env_path(env->id, path, sizeof(path));
	filepool_release(sp_pool, path);
	snprintf(path, sizeof(path), "%s/%s", sp_queue, env->id);
	filepool_release(sp_pool, path);
	if (hold_unlink(env->id, held) == -1)
		log_warn("spool: %s.hold", env->id);
	return (-1);
}

/* the envelope of message id in text, malloc'd; NULL: not that */
static struct envelope *
envelope_parse(const char *text, size_t len, const char *id)
{
	struct envelope	*env;

	if ((env = calloc(1, sizeof(*env))) == NULL)
		fatal("calloc");
	envelope_init(env);
	if (envelope_decode(env, text, len) == -1 ||
	    strcmp(env->id, id) != 0) {
		envelope_clear(env);
		free(env);
		return (NULL);
	}
	return (env);
}

/*
 * The envelope of message id in the file path, malloc'd; NULL: the file
 * cannot be read (errno) or is not that envelope (envelope_error(), ""
 * for another id)
 */
struct envelope *
spool_env_read(const char *path, const char *id)
{
	struct envelope	*env;
	char		*text;
	size_t		 len;

	if ((text = read_small(path, &len)) == NULL)
		return (NULL);
	env = envelope_parse(text, len, id);
	free(text);
	return (env);
}

/* the file of a queued message's envelope */
void
spool_env_path(const char *msgid, char *path, size_t len)
{
	snprintf(path, len, "%s/%s.env", sp_queue, msgid);
}

/*
 * A queued message's envelope, as its last spool_update() wrote it: the
 * inbound queue keeps none in memory while a message waits (inbound.c)
 */
struct envelope *
spool_load(const char *msgid)
{
	char		 path[MH_PATH_MAX + 64];
	struct envelope	*env;

	if (!envelope_id_ok(msgid))
		return (NULL);
	spool_env_path(msgid, path, sizeof(path));
	errno = 0;
	if ((env = spool_env_read(path, msgid)) == NULL && errno != 0)
		log_warn("msgid=%s: envelope %s", msgid, path);
	else if (env == NULL)
		log_warnx("msgid=%s: envelope %s not understood: %s", msgid,
		    path, envelope_error()[0] != '\0' ? envelope_error() :
		    "id");
	return (env);
}

/*
 * mhctl hold of a queued message whose envelope cannot be read: kept in
 * a file beside it (ID.hold), on disk before the hold is answered, so
 * that a restart keeps it; removed by release, or once the envelope,
 * read again, has the hold (spool_held).  -1: not on disk.
 */
int
spool_hold_mark(const char *msgid, int on)
{
	char	name[MH_MSGID_LEN + 8];

	if (!envelope_id_ok(msgid))
		return (-1);
	hold_name(msgid, name, sizeof(name));
	if (on) {
		sp_holds++;
		return (file_replace_in(sp_queue, name, "", 0,
		    FR_FSYNC | FR_SYNCDIR));
	}
	if (hold_unlink(msgid, 1) == -1)
		return (-1);
	return (fsync_dir(sp_queue));
}

/*
 * The hold kept beside msgid taken into its envelope, read again: its
 * file goes.  counted: sp_holds counts it (mhctl hold of a message given
 * up, or one found at start beside an unreadable envelope); one found at
 * start beside an envelope that is read is not counted, and must not
 * lower the count of the others.  -1: still there.
 */
int
spool_hold_moved(const char *msgid, int counted)
{
	if (!envelope_id_ok(msgid) || hold_unlink(msgid, counted) == -1)
		return (-1);
	return (fsync_dir(sp_queue));
}

/* a hold kept beside the envelope of msgid (spool_hold_mark) */
int
spool_held(const char *msgid)
{
	char		name[MH_MSGID_LEN + 8];
	struct stat	st;

	hold_name(msgid, name, sizeof(name));
	return (fstatat(sp_queuefd, name, &st, 0) == 0);
}

/*
 * At start, a queued message whose envelope cannot be read (the line
 * logged said why): given up, its files kept for the admin, bad(id, the
 * envelope's time, its hold) lists it (mhctl show queue, schedule,
 * remove)
 */
static void
recover_bad(const char *id, const char *path,
    void (*bad)(const char *, time_t, int))
{
	struct stat	st;
	int		held;

	/* kept till release or remove (or its envelope read again) */
	if ((held = spool_held(id)))
		sp_holds++;
	bad(id, stat(path, &st) == 0 ? st.st_mtime : time(NULL), held);
}

static void
recover_one(const char *name, void (*cb)(struct envelope *),
    void (*bad)(const char *, time_t, int))
{
	char		 path[MH_PATH_MAX + 300], id[MH_MSGID_LEN];
	struct envelope	*env;
	char		*text;
	size_t		 len;

	if (strlen(name) != MH_MSGID_LEN - 1 + 4 ||
	    strcmp(name + MH_MSGID_LEN - 1, ".env") != 0)
		return;
	strlcpy(id, name, sizeof(id));
	if (!envelope_id_ok(id))
		return;
	snprintf(path, sizeof(path), "%s/%s", sp_queue, name);
	if ((text = read_small(path, &len)) == NULL) {
		log_warn("msgid=%s result=given-up: its envelope %s cannot be "
		    "read; its files are kept in the spool (mhctl schedule or "
		    "remove)", id, path);
		recover_bad(id, path, bad);
		return;
	}
	if (envelope_blank(text, len)) {
		log_warnx("msgid=%s status=removed (an empty envelope: its "
		    "commit never reached the disk)", id);
		filepool_release(sp_pool, path);
		snprintf(path, sizeof(path), "%s/%s", sp_queue, id);
		filepool_release(sp_pool, path);
		free(text);
		return;
	}
	if ((env = envelope_parse(text, len, id)) == NULL) {
		log_warnx("msgid=%s result=given-up: its envelope %s is not "
		    "understood (%s): corrupt, or written by a newer "
		    "mailhookd; its files are kept in the spool (mhctl "
		    "schedule or remove)", id, path,
		    envelope_error()[0] != '\0' ? envelope_error() : "id");
		recover_bad(id, path, bad);
	} else if (spool_data_verify(env, 0) == -1) {
		envelope_clear(env);
		free(env);
	} else
		cb(env);
	free(text);
}

/*
 * A message's file without its envelope: a commit a crash cut short
 * before the envelope (no 250 was sent), or a removal after the
 * envelope went.  Nothing names it any more: it goes to the pool.  A
 * hold kept beside an envelope that is gone goes too.
 */
static int
orphan_data(const char *name)
{
	char		 env[MH_MSGID_LEN + 8], path[MH_PATH_MAX + 300],
			    id[MH_MSGID_LEN];
	struct stat	 st;

	if (strlen(name) == MH_MSGID_LEN - 1 + 5 &&
	    strcmp(name + MH_MSGID_LEN - 1, ".hold") == 0) {
		strlcpy(id, name, sizeof(id));
		snprintf(env, sizeof(env), "%s.env", id);
		if (!envelope_id_ok(id) || fstatat(sp_queuefd, env, &st,
		    0) == 0 || errno != ENOENT)
			return (0);
		/* ENOENT: spool_data_verify took it with its message */
		if (unlinkat(sp_queuefd, name, 0) == -1 && errno != ENOENT)
			log_warn("spool: %s", name);
		return (1);
	}
	if (strlen(name) != MH_MSGID_LEN - 1 || !envelope_id_ok(name))
		return (0);
	snprintf(env, sizeof(env), "%s.env", name);
	if (fstatat(sp_queuefd, env, &st, 0) == 0 || errno != ENOENT)
		return (0);
	log_info("msgid=%s status=removed (a message without its envelope, "
	    "never committed or already done)", name);
	snprintf(path, sizeof(path), "%s/%s", sp_queue, name);
	filepool_release(sp_pool, path);
	return (1);
}

int
spool_recover(void (*cb)(struct envelope *),
    void (*bad)(const char *, time_t, int))
{
	DIR		*d;
	struct dirent	*de;
	char		 path[MH_PATH_MAX + 300];

	/* incoming/: never committed, never acknowledged */
	if ((d = opendir(sp_incoming)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", sp_incoming,
			    de->d_name);
			filepool_release(sp_pool, path);
		}
		closedir(d);
	}
	if ((d = opendir(sp_queue)) == NULL) {
		log_warn("spool: %s", sp_queue);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		/* half written by an update or an adoption a crash cut short */
		if (strncmp(de->d_name, "tmp-", 4) == 0) {
			snprintf(path, sizeof(path), "%s/%s", sp_queue,
			    de->d_name);
			filepool_release(sp_pool, path);
			continue;
		}
		if (orphan_data(de->d_name))
			continue;
		recover_one(de->d_name, cb, bad);
	}
	closedir(d);
	return (0);
}

/*
 * A message taken back from the dead letters (dead.c): the text on src
 * and env (a fresh id) into queue/, both fsynced with the directory.
 */
int
spool_adopt(const struct envelope *env, int src)
{
	char	path[MH_PATH_MAX + 64], tmp[MH_PATH_MAX + 64];

	if (!envelope_id_ok(env->id))
		return (-1);
	snprintf(path, sizeof(path), "%s/%s", sp_queue, env->id);
	snprintf(tmp, sizeof(tmp), "%s/tmp-%s", sp_queue, env->id);
	if (file_replace_copy(AT_FDCWD, tmp, path, NULL, 0, src,
	    FR_FSYNC) == -1 || envelope_store(sp_queue, env, 0) == -1 ||
	    fsync_dir(sp_queue) == -1) {
		log_warn("spool: %s", path);
		spool_remove(env->id);
		return (-1);
	}
	return (0);
}

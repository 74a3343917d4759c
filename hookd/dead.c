/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the dead letters, <spool>/dead/.  What could not be delivered
 * and was given up (an event skipped with "mhctl hooks skip", expired, or
 * queued for an events block a reload removed, an inbound message whose
 * POSTs ran out of lifetime and has no fallback) is kept
 * here until "mhctl dead replay" sends it again or "mhctl dead remove"
 * drops it; nothing is dropped silently.
 *
 *	ev-<endpoint key>-<event id>.json	{"type":"event", "id",
 *					 "endpoint", "url", "reason", "time",
 *					 "record"}
 *	in-<queue id>.msg		an inbound message, as spooled
 *	in-<queue id>.env		its envelope: the dead recipients
 *					 pending, the others done
 *	in-<queue id>.json		{"type":"inbound", "id", "url",
 *					 "reason", "time", "recipients"}
 *
 * An inbound letter is written .msg, .env, then .json (each fsynced): it
 * exists once its .json does.
 * Each file is written whole (fsynced, then its directory) before what
 * it replaces is removed from its queue, so a crash in between leaves
 * the letter in both places (sent twice at worst), never in none.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "child.h"
#include "ctlcmd.h"
#include "envelope.h"
#include "fileio.h"
#include "log.h"
#include "metrics.h"
#include "mh_event.h"
#include "msghist.h"
#include "proc.h"
#include "events.h"
#include "hookd.h"

#define DEAD_FILE_MAX	(4 * 1024 * 1024)

static char	dead_dir[PATH_MAX];

/*
 * How many letters there are and when the oldest was written, for show
 * metrics, kept as they come and go (dead_added, dead_gone), not a
 * listing and a stat of each at every scrape.  Set from a listing at
 * start; a listing that failed then is tried again at the next scrape
 * (dead_counted 0); each later listing (show dead, dead replay|remove)
 * sets the count again (letters put there or removed by hand).  The
 * oldest is looked for again (a stat of each) only once the letter
 * that may have been it left.
 */
static size_t	dead_n;
static time_t	dead_oldest;
static int	dead_counted, dead_oldest_stale;

static int	dead_names(char ***, size_t *);

/* the count and the oldest from the listing v (n) */
static void
dead_census(char **v, size_t n)
{
	struct stat	 st;
	size_t		 i;
	int		 dfd;

	dead_n = n;
	dead_counted = 1;
	dead_oldest_stale = 1;
	if ((dfd = open(dead_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	dead_oldest = 0;
	for (i = 0; i < n; i++)
		if (fstatat(dfd, v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (dead_oldest == 0 || st.st_mtime < dead_oldest))
			dead_oldest = st.st_mtime;
	close(dfd);
	dead_oldest_stale = 0;
}

/* a listing of the letters: the count is what it found */
static void
dead_listed(char **v, size_t n)
{
	if (!dead_counted || dead_oldest_stale || dead_n != n ||
	    (n > 0 && dead_oldest == 0))
		dead_census(v, n);
}

/* a letter written, 0 if it replaced one there (its name was taken) */
static void
dead_added(int fresh)
{
	if (!fresh)
		return;
	dead_n++;
	if (dead_oldest == 0)
		dead_oldest = time(NULL);
}

/* a letter written at t (its "time", 0 unknown) is gone */
static void
dead_gone_one(time_t t)
{
	if (dead_n > 0)
		dead_n--;
	if (dead_n == 0) {
		dead_oldest = 0;
		dead_oldest_stale = 0;
	} else if (t <= dead_oldest)
		/* its mtime is at least t: it may have been the oldest */
		dead_oldest_stale = 1;
}

/* is name a letter's file already (not one written anew)? */
static int
dead_exists(const char *name)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	return ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir,
	    name) < sizeof(path) && lstat(path, &st) == 0);
}

static time_t
dead_time(const json_t *o)
{
	return ((time_t)json_integer_value(json_object_get(o, "time")));
}

/*
 * At start (nothing is being written): a file a crash left half made
 * goes, dir_names_at's filter.  A temporary one (file_replace_in's
 * tmp-NAME, dead_inbound's in-ID.tmp), and an inbound letter's .msg or
 * .env without its .json: the letter exists once its .json does, and
 * its message stayed in the inbound queue until then.  Nothing else
 * would ever remove them.
 */
static int
dead_leftover(const char *name)
{
	char		 json[PATH_MAX];
	const char	*dot = strrchr(name, '.');
	struct stat	 st;

	if (strncmp(name, "tmp-", 4) == 0)
		return (1);
	if (strncmp(name, "in-", 3) != 0 || dot == NULL)
		return (0);
	if (strcmp(dot, ".tmp") == 0)
		return (1);
	if (strcmp(dot, ".msg") != 0 && strcmp(dot, ".env") != 0)
		return (0);
	return ((size_t)snprintf(json, sizeof(json), "%s/%.*s.json",
	    dead_dir, (int)(dot - name), name) < sizeof(json) &&
	    lstat(json, &st) == -1 && errno == ENOENT);
}

static int
dead_sweep(const char *name, void *arg)
{
	char	path[PATH_MAX];

	if (!dead_leftover(name))
		return (1);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir, name) <
	    sizeof(path) && unlink(path) == 0)
		log_info("dead: %s: left by a crash, removed", path);
	return (0);
}

int
dead_init(const char *root)
{
	char	**v;
	size_t	  n;

	if ((size_t)snprintf(dead_dir, sizeof(dead_dir), "%s/dead", root) >=
	    sizeof(dead_dir))
		return (-1);
	if (mkdir(dead_dir, 0700) == -1 && errno != EEXIST) {
		log_warn("dead: mkdir %s", dead_dir);
		return (-1);
	}
	if (dir_names_at(AT_FDCWD, dead_dir, dead_sweep, NULL, &v, &n) == 0)
		dir_names_free(v, n);
	/* counted now (dead_listed); if it cannot be listed, at the
	 * first scrape */
	if (dead_names(&v, &n) == 0)
		dir_names_free(v, n);
	return (0);
}

/*
 * Is o the letter file name holds: "in-<id>.json", "ev-<endpoint>-<id>
 * .json", as dead_event and dead_inbound name them?  A letter under
 * another's name would have dead remove or replay act on that one's
 * files (the .msg and .env of an inbound letter go by its id).
 */
static int
dead_name_ok(const char *name, const json_t *o)
{
	const char	*id = json_string_value(json_object_get(o, "id"));
	const char	*key = json_string_value(json_object_get(o,
			    "endpoint"));
	char		 want[NAME_MAX + 1];
	int		 n;

	if (strncmp(name, "in-", 3) == 0)
		n = snprintf(want, sizeof(want), "in-%s.json", id);
	else
		n = snprintf(want, sizeof(want), "ev-%s-%s.json",
		    key != NULL ? key : "", id);
	return (n > 0 && (size_t)n < sizeof(want) && strcmp(want, name) == 0);
}

/*
 * The letter in name, NULL if it cannot be read or is not one: a
 * regular file of at most DEAD_FILE_MAX bytes (evq_read_json), what
 * the letters hookd writes are, not read whole whatever its size, with
 * its id (and endpoint) those of its name
 */
static json_t *
dead_load(const char *name)
{
	json_t		*o;
	char		 to[PATH_MAX];

	if ((o = evq_read_json(dead_dir, name, DEAD_FILE_MAX, NULL)) == NULL &&
	    errno == EFTYPE) {
		/* a FIFO, a directory, a link: out of the way, said once */
		if (evq_aside(dead_dir, name, to, sizeof(to)) == 0) {
			log_warnx("dead: %s/%s: not a letter, kept as %s",
			    dead_dir, name, to);
			dead_gone_one(0);
		}
		return (NULL);
	}
	if (o != NULL && (!json_is_object(o) ||
	    !json_is_string(json_object_get(o, "id")) ||
	    !dead_name_ok(name, o))) {
		log_warnx("dead: %s/%s: malformed, or not the letter its name "
		    "says", dead_dir, name);
		json_decref(o);
		o = NULL;
	}
	return (o);
}

/* an event given up for one endpoint; 0 once it is on disk */
int
dead_event(const char *key, const char *url, const json_t *rec,
    const char *reason)
{
	char		 name[128], to[LOG_ADDR_MAX];
	const char	*id, *q;
	json_t		*o;
	char		*s;
	int		 rc, fresh;

	id = json_string_value(json_object_get(rec, "id"));
	if (id == NULL || strlen(id) != EVENT_ID_LEN - 1)
		return (-1);
	snprintf(name, sizeof(name), "ev-%s-%s.json", key, id);
	/* written twice (a crash between the letter and its queue's
	 * removal): one letter */
	fresh = !dead_exists(name);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:O}", "type", "event",
	    "id", id, "endpoint", key, "url", url, "reason", reason,
	    "time", (json_int_t)time(NULL), "record", rec);
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return (-1);
	}
	json_decref(o);
	rc = file_replace_in(dead_dir, name, s, strlen(s),
	    FR_FSYNC | FR_SYNCDIR);
	free(s);
	if (rc == -1) {
		log_warn("dead: %s/%s", dead_dir, name);
		return (-1);
	}
	dead_added(fresh);
	metrics_inc(M_EVENTS_DEAD, url, NULL);
	q = json_string_value(json_object_get(rec, "queue_id"));
	log_addr(to, sizeof(to), json_string_value(json_object_get(rec,
	    "recipient")) ? json_string_value(json_object_get(rec,
	    "recipient")) : "");
	log_info("dead: action=add type=event id=%s msgid=%s kind=%s to=<%s> "
	    "endpoint=%s url=%s reason=%s", id, q && q[0] ? q : "-",
	    json_string_value(json_object_get(rec, "kind")) ?
	    json_string_value(json_object_get(rec, "kind")) : "-", to, key,
	    url, reason);
	return (0);
}

/*
 * The letter dead_event wrote of event id for endpoint key (url) taken
 * back: the event stayed queued after all (mhctl hooks skip whose queue
 * file could not be rewritten), so mailhook_events_dead_total does not
 * count it (keep and undo are one control command, one turn of the
 * loop: no scrape sees the counter go up, then down).  0 once it is
 * gone from disk, a flush of the directory that failed said in the log
 * (a crash may bring the letter back: sent twice at worst); -1 while it
 * is still there.
 */
int
dead_event_undo(const char *key, const char *url, const char *id)
{
	char	path[PATH_MAX];

	if (id == NULL || strlen(id) != EVENT_ID_LEN - 1)
		return (-1);
	if ((size_t)snprintf(path, sizeof(path), "%s/ev-%s-%s.json", dead_dir,
	    key, id) >= sizeof(path)) {
		log_warn("dead: unlink %s", path);
		return (-1);
	}
	if (unlink(path) == 0)
		dead_gone_one(time(NULL));
	else if (errno != ENOENT) {
		log_warn("dead: unlink %s", path);
		return (-1);
	}
	metrics_add(M_EVENTS_DEAD, url, NULL, -1);
	if (fsync_dir(dead_dir) == -1)
		log_warn("dead: fsync %s: the letter of event %s is removed, "
		    "a crash before the directory is on disk may bring it "
		    "back", dead_dir, id);
	log_info("dead: action=remove type=event id=%s endpoint=%s "
	    "reason=still-queued", id, key);
	return (0);
}

/*
 * The names of the dead letters, sorted, 0; or -1: the directory cannot
 * be listed now (no descriptor or memory left, a permission), why
 * logged, no part of it given (evq_list, as the event queue's).
 */
static int
dead_names(char ***vp, size_t *np)
{
	char	**v;
	size_t	 n, i, j;

	*vp = NULL;
	*np = 0;
	if (evq_list(dead_dir, &v, &n) == -1)
		return (-1);
	for (i = j = 0; i < n; i++) {
		if ((strncmp(v[i], "ev-", 3) == 0 ||
		    strncmp(v[i], "in-", 3) == 0) && strlen(v[i]) > 5 &&
		    strcmp(v[i] + strlen(v[i]) - 5, ".json") == 0)
			v[j++] = v[i];
		else
			free(v[i]);
	}
	*vp = v;
	*np = j;
	dead_listed(v, j);
	return (0);
}

/*
 * How many letters there are, and when the oldest was written: kept
 * (dead_n), a listing only while none could be had yet, a stat of each
 * only once the oldest may have gone; while the directory cannot be
 * listed, what its last listing found (the letters are still there:
 * not 0).
 */
size_t
dead_count(time_t *oldest)
{
	char	**v;
	size_t	  n;

	/* dead_names counts them (dead_listed) */
	if ((!dead_counted || dead_oldest_stale) && dead_names(&v, &n) == 0)
		dir_names_free(v, n);
	*oldest = dead_oldest;
	return (dead_n);
}

/* --- inbound messages ------------------------------------------------- */

static int
in_path(char *buf, size_t len, const char *id, const char *ext)
{
	return ((size_t)snprintf(buf, len, "%s/in-%s.%s", dead_dir, id, ext) >=
	    len ? -1 : 0);
}

/*
 * show message ID of an inbound dead letter: its .json (NULL if there is
 * none), its message open for --raw (-1 if none).  id is a queue id.
 */
json_t *
dead_inbound_find(const char *id)
{
	char		 path[PATH_MAX], name[64];
	struct stat	 st;

	if (!envelope_id_ok(id) || in_path(path, sizeof(path), id,
	    "json") == -1 || stat(path, &st) == -1)
		return (NULL);
	snprintf(name, sizeof(name), "in-%s.json", id);
	return (dead_load(name));
}

int
dead_inbound_open(const char *id)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	/* the letter exists once its .json does */
	if (!envelope_id_ok(id) || in_path(path, sizeof(path), id,
	    "json") == -1 || stat(path, &st) == -1 ||
	    in_path(path, sizeof(path), id, "msg") == -1)
		return (-1);
	return (file_open_regular(AT_FDCWD, path, NULL));
}

/* the .msg and .env of a letter that is gone */
static void
inbound_files_remove(const char *id)
{
	char	path[PATH_MAX];

	if (id == NULL || !envelope_id_ok(id))
		return;
	if (in_path(path, sizeof(path), id, "env") == 0)
		unlink(path);
	if (in_path(path, sizeof(path), id, "msg") == 0)
		unlink(path);
	if (fsync_dir(dead_dir) == -1)
		log_warn("dead: fsync %s", dead_dir);
}

/* the envelope of a letter, NULL if there is none (or it is unusable) */
static struct envelope *
inbound_env_load(const char *id)
{
	char	path[PATH_MAX];

	if (in_path(path, sizeof(path), id, "env") == -1)
		return (NULL);
	return (spool_env_read(path, id));
}

/*
 * Recipient rcpt of env ran out of lifetime with no fallback, or was
 * refused by its endpoint after the 250 (reason): the
 * message and an envelope in which it (and the recipients dead before
 * it) are pending, the others done.  0 once the letter is on disk.
 */
int
dead_inbound(const struct envelope *env, size_t rcpt, const char *url,
    const char *reason)
{
	struct envelope	*dead, *old;
	char		 path[PATH_MAX], tmp[PATH_MAX], name[64],
			    to[LOG_ADDR_MAX];
	char		*text;
	size_t		 len, i;
	json_t		*o, *rcpts;
	int		 fd, rc, fresh;

	snprintf(name, sizeof(name), "in-%s.json", env->id);
	fresh = !dead_exists(name);
	if ((text = envelope_encode(env, &len)) == NULL)
		log_warnx("dead: envelope cannot be encoded: %s",
		    envelope_error());
	if (text == NULL || (dead = calloc(1, sizeof(*dead))) == NULL) {
		free(text);
		return (-1);
	}
	envelope_init(dead);
	rc = envelope_decode(dead, text, len);
	free(text);
	if (rc == -1) {
		free(dead);
		return (-1);
	}
	old = inbound_env_load(env->id);
	rcpts = json_array();
	for (i = 0; i < dead->nrcpt; i++) {
		struct envelope_rcpt *r = &dead->rcpts[i];

		if (i == rcpt || (old != NULL && i < old->nrcpt &&
		    old->rcpts[i].state == RS_PENDING)) {
			r->state = RS_PENDING;
			r->attempts = 0;
			r->next_try = 0;
			json_array_append_new(rcpts, json_string(r->addr));
		} else
			r->state = RS_DONE;
	}
	if (old != NULL) {
		envelope_clear(old);
		free(old);
	}
	rc = -1;
	if ((text = envelope_encode(dead, &len)) == NULL)
		log_warnx("dead: envelope cannot be encoded: %s",
		    envelope_error());
	/* the message first, then the envelope, then the letter */
	if (text != NULL && in_path(path, sizeof(path), env->id, "msg") == 0 &&
	    in_path(tmp, sizeof(tmp), env->id, "tmp") == 0 &&
	    (fd = spool_open_message(env->id, 0)) != -1) {
		rc = file_replace_copy(AT_FDCWD, tmp, path, NULL, 0, fd,
		    FR_FSYNC);
		close(fd);
		snprintf(name, sizeof(name), "in-%s.env", env->id);
		if (rc == 0)
			rc = file_replace_in(dead_dir, name, text, len,
			    FR_FSYNC);
		snprintf(name, sizeof(name), "in-%s.json", env->id);
		o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:O,s:s}", "type",
		    "inbound", "id", env->id, "url", url, "reason", reason,
		    "time", (json_int_t)time(NULL), "recipients", rcpts,
		    "sender", env->sender);
		free(text);
		text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (rc == 0)
			rc = text == NULL ? -1 : file_replace_in(dead_dir,
			    name, text, strlen(text), FR_FSYNC | FR_SYNCDIR);
	}
	free(text);
	json_decref(rcpts);
	envelope_clear(dead);
	free(dead);
	if (rc == -1) {
		log_warn("dead: msgid=%s", env->id);
		return (-1);
	}
	dead_added(fresh);
	log_info("dead: action=add type=inbound id=%s msgid=%s to=<%s> url=%s "
	    "reason=%s", env->id, env->id, log_addr(to, sizeof(to),
	    env->rcpts[rcpt].addr), url, reason);
	return (0);
}

/*
 * An inbound letter back into the queue, under a new id: set in
 * queued_as (old id: new id) for the reply, and in the old id's history.
 */
static int
dead_replay_inbound(const json_t *o, json_t *queued_as)
{
	const char	*id = json_string_value(json_object_get(o, "id"));
	struct envelope	*env;
	char		 path[PATH_MAX], old[MH_MSGID_LEN];
	size_t		 i;
	int		 fd, rc;

	if (id == NULL || !envelope_id_ok(id) ||
	    (env = inbound_env_load(id)) == NULL)
		return (-1);
	strlcpy(old, id, sizeof(old));
	if (in_path(path, sizeof(path), old, "msg") == -1 ||
	    (fd = file_open_regular(AT_FDCWD, path, NULL)) == -1) {
		envelope_clear(env);
		free(env);
		return (-1);
	}
	envelope_new_id(env->id);
	env->created = time(NULL);
	for (i = 0; i < env->nrcpt; i++) {
		env->rcpts[i].lasterr[0] = '\0';
		env->rcpts[i].fallback_again = 0;
	}
	rc = spool_adopt(env, fd);
	close(fd);
	if (rc == -1) {
		envelope_clear(env);
		free(env);
		return (-1);
	}
	if (in_path(path, sizeof(path), old, "json") == 0 &&
	    unlink(path) == 0)
		dead_gone_one(dead_time(o));
	inbound_files_remove(old);
	log_info("dead: action=replay type=inbound id=%s msgid=%s by=mhctl",
	    old, env->id);
	json_object_set_new(queued_as, old, json_string(env->id));
	ihist_replayed(old, env->id);
	/* the new id's history starts as an accepted message's does: show
	 * message has its sender, subject and verdicts once it left */
	msghist_accepted(env);
	inbound_recovered(env);
	return (0);
}

/* does the letter in name match id ("all", an event id or a queue id)? */
static int
dead_matches(const json_t *o, const char *id)
{
	const json_t	*rec = json_object_get(o, "record");
	const char	*q = json_string_value(json_object_get(rec,
			    "queue_id"));

	return (strcmp(id, "all") == 0 ||
	    strcmp(json_string_value(json_object_get(o, "id")), id) == 0 ||
	    (q != NULL && strcmp(q, id) == 0));
}

/* one dead letter as show dead lists it; NULL if it cannot be read */
static json_t *
dead_entry(const char *name)
{
	json_t		*o, *rec, *e;

	if ((o = dead_load(name)) == NULL)
		return (NULL);
	rec = json_object_get(o, "record");
	e = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O}",
	    "id", json_object_get(o, "id"),
	    "type", json_object_get(o, "type"),
	    "time", json_object_get(o, "time"),
	    "url", json_object_get(o, "url"),
	    "reason", json_object_get(o, "reason"),
	    "msgid", json_object_get(rec, "queue_id") ?
	    json_object_get(rec, "queue_id") : json_null(),
	    "kind", json_object_get(rec, "kind") ?
	    json_object_get(rec, "kind") : json_null(),
	    "recipient", json_object_get(rec, "recipient") ?
	    json_object_get(rec, "recipient") :
	    json_object_get(o, "recipients") ?
	    json_object_get(o, "recipients") : json_null());
	json_decref(o);
	return (e);
}

/*
 * mhctl show dead: the letters v (n, freed) in name order, as many as
 * fit in CTL_LIST_BYTES of the reply; "dead_unlisted" counts the others
 * (and one that cannot be read), "total" all of them.
 */
static json_t *
dead_list_names(char **v, size_t n)
{
	size_t		 i, bytes = 0, unlisted = 0;
	json_t		*a, *reply;

	if ((a = json_array()) == NULL) {
		dir_names_free(v, n);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		ctl_list_append(a, ctl_list_full(bytes) ? NULL :
		    dead_entry(v[i]), &bytes, &unlisted);
	dir_names_free(v, n);
	reply = json_pack("{s:o,s:I}", "dead", a, "total", (json_int_t)n);
	if (reply != NULL && unlisted > 0)
		json_object_set_new(reply, "dead_unlisted",
		    json_integer((json_int_t)unlisted));
	return (reply);
}

/*
 * One "dead replay|remove": what it did, answered once every event it
 * queued again is durable or is known not to be (its letter kept), so
 * that the answer says what happened, not what was asked.
 */
struct dead_req {
	struct ctl_later	*later;	/* the answer waits: set once the
					   letters were all gone through */
	json_t			*queued_as;
	char			*id;
	int			 replay;
	long			 done, failed, gone, unsynced, busy;
	long			 pending;	/* queued, not durable yet */
	/* the letters gone through a few at a time (dead_act_pass) */
	char			**names;
	size_t			 nnames, next;
	struct event		*ev;
	struct ctl_later	*waiting;	/* later, once all done */
};

static json_t	*dead_reply(struct dead_req *);
static void	 dead_req_free(struct dead_req *);
static void	 dead_failed(int, const json_t *);

/*
 * A letter sent again: its file goes once the queue has it on disk.
 * Until then it is on the list of those being replayed, which neither
 * dead replay (it would be queued twice) nor dead remove (removed, it is
 * still sent; gone before its queue file is durable, a crash loses it)
 * touches.
 */
struct dead_replayed {
	TAILQ_ENTRY(dead_replayed) entry;
	char			 name[128];
	json_t			*letter;	/* for the log */
	struct dead_req		*req;
};
static TAILQ_HEAD(, dead_replayed) dead_replaying =
    TAILQ_HEAD_INITIALIZER(dead_replaying);

static int
dead_is_replaying(const char *name)
{
	struct dead_replayed	*dr;

	TAILQ_FOREACH(dr, &dead_replaying, entry)
		if (strcmp(dr->name, name) == 0)
			return (1);
	return (0);
}

static void
dead_requeued(int ok, void *arg)
{
	struct dead_replayed	*dr = arg;
	struct dead_req		*req = dr->req;
	struct ctl_later	*later;
	char			 path[PATH_MAX];

	TAILQ_REMOVE(&dead_replaying, dr, entry);

	if (!ok) {
		log_warnx("dead: %s: its queue file may not be durable: "
		    "not queued again, kept", dr->name);
		dead_failed(1, dr->letter);
		req->failed++;
		req->unsynced++;
	} else {
		req->done++;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir,
		    dr->name) < sizeof(path)) {
			if (unlink(path) == 0)
				dead_gone_one(dead_time(dr->letter));
			else if (errno != ENOENT)
				log_warn("dead: unlink %s", path);
		}
	}
	json_decref(dr->letter);
	free(dr);
	/* the last one: mhctl is told now (dead_reply frees req) */
	if (--req->pending == 0 && (later = req->later) != NULL)
		child_control_answer(later, dead_reply(req));
}

static int
dead_replay_one(const char *name, const json_t *o, struct dead_req *req)
{
	struct dead_replayed	*dr;
	const char		*key, *url, *rid;
	json_t			*recs, *rec;
	int			 rc;

	key = json_string_value(json_object_get(o, "endpoint"));
	url = json_string_value(json_object_get(o, "url"));
	rec = json_object_get(o, "record");
	/* the letter's event: events_requeue passes over a record without
	 * an event id, and its letter would go, the event queued nowhere */
	if ((rid = json_string_value(json_object_get(rec, "id"))) == NULL ||
	    strlen(rid) != EVENT_ID_LEN - 1 || strcmp(rid,
	    json_string_value(json_object_get(o, "id"))) != 0) {
		log_warnx("dead: %s/%s: its record is not that of its event "
		    "(no event id, or another): not queued again, kept",
		    dead_dir, name);
		return (-1);
	}
	if (key == NULL || (recs = json_pack("[O]", rec)) == NULL)
		return (-1);
	if ((dr = calloc(1, sizeof(*dr))) == NULL) {
		json_decref(recs);
		return (-1);
	}
	strlcpy(dr->name, name, sizeof(dr->name));
	dr->letter = json_incref((json_t *)o);
	dr->req = req;
	TAILQ_INSERT_TAIL(&dead_replaying, dr, entry);
	req->pending++;
	rc = events_requeue(key, recs, dead_requeued, dr);
	json_decref(recs);
	if (rc == -1) {
		req->pending--;
		TAILQ_REMOVE(&dead_replaying, dr, entry);
		json_decref(dr->letter);
		free(dr);
		return (-1);
	}
	log_info("dead: action=replay type=event id=%s endpoint=%s url=%s "
	    "by=mhctl", json_string_value(json_object_get(o, "id")), key,
	    url ? url : "-");
	return (0);
}

static int
dead_remove_one(const char *name, const json_t *o)
{
	char	path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir, name) >=
	    sizeof(path) || unlink(path) == -1) {
		log_warn("dead: unlink %s/%s", dead_dir, name);
		return (-1);
	}
	dead_gone_one(dead_time(o));
	if (strncmp(name, "in-", 3) == 0)
		inbound_files_remove(json_string_value(json_object_get(o,
		    "id")));
	log_info("dead: action=remove type=%s id=%s by=mhctl",
	    json_string_value(json_object_get(o, "type")),
	    json_string_value(json_object_get(o, "id")));
	return (0);
}

/* a letter that could not be replayed or removed: the log says which */
static void
dead_failed(int replay, const json_t *o)
{
	const char	*type, *key;

	type = json_string_value(json_object_get(o, "type"));
	key = json_string_value(json_object_get(o, "endpoint"));
	log_warnx("dead: action=%s type=%s id=%s endpoint=%s result=failed "
	    "by=mhctl", replay ? "replay" : "remove", type ? type : "-",
	    json_string_value(json_object_get(o, "id")), key ? key : "-");
}

/*
 * An event letter whose endpoint is disabled by a 410 Gone: queued, it
 * would wait, then be a dead letter again (reason gone), so it is kept.
 */
static int
dead_gone(const char *name, const json_t *o)
{
	const char	*key;

	key = json_string_value(json_object_get(o, "endpoint"));
	return (strncmp(name, "ev-", 3) == 0 && key != NULL &&
	    events_disabled(key));
}

/*
 * dead replay|remove of req on one letter, name (counted in req)
 */
static void
dead_act_one(struct dead_req *req, const char *name)
{
	json_t		*o;
	int		 rc;

	/* gone since the listing (another dead replay|remove under way
	 * reached it first): not a letter that cannot be read */
	if (!dead_exists(name) || (o = dead_load(name)) == NULL)
		return;
	if (!dead_matches(o, req->id))
		rc = 1;
	else if (dead_is_replaying(name)) {
		req->busy++;
		rc = 1;
	} else if (req->replay && dead_gone(name, o)) {
		req->gone++;
		rc = -1;
	} else if (!req->replay)
		rc = dead_remove_one(name, o);
	else if (strncmp(name, "in-", 3) == 0)
		rc = dead_replay_inbound(o, req->queued_as);
	else
		rc = dead_replay_one(name, o, req) == 0 ? 1 : -1;
	/* 1: counted later (or not at all) */
	if (rc == 0)
		req->done++;
	else if (rc == -1) {
		req->failed++;
		dead_failed(req->replay, o);
	}
	json_decref(o);
}

/*
 * The letters of req gone through for DEAD_PASS_MS at most (each a
 * read, an inbound one's copy to the spool with its fsyncs), then the
 * loop's other work (events, POSTs, other commands) before the next
 * pass: a replay of 10,000 letters does not hold hookd up.  Once all
 * are gone through, the answer goes, or once the events queued again
 * are durable (dead_requeued).
 */
#define DEAD_PASS_MS	20

static void
dead_act_pass(int fd, short what, void *arg)
{
	struct dead_req		*req = arg;
	struct ctl_later	*later;
	struct timespec		 t0, t;
	struct timeval		 now = { 0, 0 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (req->next < req->nnames) {
		dead_act_one(req, req->names[req->next++]);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec -
		    t0.tv_nsec) / 1000000 >= DEAD_PASS_MS)
			break;
	}
	if (req->next < req->nnames) {
		evtimer_add(req->ev, &now);
		return;
	}
	dir_names_free(req->names, req->nnames);
	req->names = NULL;
	req->nnames = 0;
	event_free(req->ev);
	req->ev = NULL;
	later = req->waiting;
	req->waiting = NULL;
	if (req->pending == 0)
		child_control_answer(later, dead_reply(req));
	else
		req->later = later;
}

/*
 * dead replay|remove of req on the letters v (n, taken): the answer
 * once they are all gone through and the events queued again are
 * durable, through later (child_control_later()'s if NULL), and NULL
 * returned, *waits 1; or the answer now (no letter: NULL if it cannot
 * be made)
 */
static json_t *
dead_act_names(struct dead_req *req, char **v, size_t n,
    struct ctl_later *later, int *waits)
{
	*waits = 0;
	if (n == 0) {
		dir_names_free(v, n);
		return (dead_reply(req));
	}
	if ((req->ev = evtimer_new(proc_base, dead_act_pass, req)) == NULL)
		fatal("evtimer_new");
	req->names = v;
	req->nnames = n;
	req->waiting = later != NULL ? later : child_control_later();
	*waits = 1;
	dead_act_pass(-1, 0, req);
	return (NULL);
}

/*
 * A command whose dead letters could not be listed (dead_names): listed
 * again evq_read_wait(0), (1) ... seconds later, as the event queue's
 * directories are, DEAD_LIST_LOOKS times at most (1 + 2 + 4 s, within
 * the time the parent gives an answer), then answered with an error;
 * never as if there were none.  req NULL: show dead.
 */
#define DEAD_LIST_LOOKS	3
struct dead_listwait {
	struct ctl_later	*later;
	struct event		*ev;
	struct dead_req		*req;
	int			 looks;
};

static void
dead_listwait_arm(struct dead_listwait *w)
{
	struct timeval	tv = { 0, 0 };

	tv.tv_sec = evq_read_wait(w->looks++);
	evtimer_add(w->ev, &tv);
}

static void
dead_listwait_retry(int fd, short what, void *arg)
{
	struct dead_listwait	*w = arg;
	struct ctl_later	*later = w->later;
	json_t			*reply;
	char			**v, why[PATH_MAX + 128];
	size_t			 n;
	int			 waits = 0;

	if (dead_names(&v, &n) == 0)
		reply = w->req == NULL ? dead_list_names(v, n) :
		    dead_act_names(w->req, v, n, later, &waits);
	else if (w->looks < DEAD_LIST_LOOKS) {
		dead_listwait_arm(w);
		return;
	} else {
		(void)snprintf(why, sizeof(why), "%s cannot be listed now "
		    "(see the log): nothing done, try again", dead_dir);
		reply = json_pack("{s:s}", "error", why);
		if (w->req != NULL)
			dead_req_free(w->req);
	}
	if (!waits)
		child_control_answer(later, reply);
	event_free(w->ev);
	free(w);
}

/* the command served now waits for the letters to be listed; NULL */
static json_t *
dead_listwait(struct dead_req *req)
{
	struct dead_listwait	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->ev = evtimer_new(proc_base, dead_listwait_retry,
	    w)) == NULL) {
		free(w);
		if (req != NULL)
			dead_req_free(req);
		return (NULL);
	}
	w->req = req;
	w->later = child_control_later();
	dead_listwait_arm(w);
	return (NULL);
}

/* mhctl show dead (dead_list_names) */
json_t *
dead_list(void)
{
	char	**v;
	size_t	  n;

	if (dead_names(&v, &n) == -1)
		return (dead_listwait(NULL));
	return (dead_list_names(v, n));
}

/*
 * mhctl dead replay|remove ID|all (an event id or a message's queue
 * id): the reply counts what was done and what failed (an endpoint no
 * longer there keeps its letters, so does a disk that fails).  Events
 * queued again are counted once durable: then the answer goes
 * (child_control_later), NULL returned meanwhile.
 */
json_t *
dead_act(int replay, const char *id)
{
	struct dead_req	*req;
	char		**v;
	size_t		 n;
	int		 waits;

	if ((req = calloc(1, sizeof(*req))) == NULL ||
	    (req->queued_as = json_object()) == NULL ||
	    (req->id = strdup(id)) == NULL) {
		if (req != NULL)
			json_decref(req->queued_as);
		free(req);
		return (NULL);
	}
	req->replay = replay;
	if (dead_names(&v, &n) == -1)
		return (dead_listwait(req));
	return (dead_act_names(req, v, n, NULL, &waits));
}

static void
dead_req_free(struct dead_req *req)
{
	json_decref(req->queued_as);
	free(req->id);
	free(req);
}

/* the answer to a dead replay|remove, once it is all done (req freed) */
static json_t *
dead_reply(struct dead_req *req)
{
	json_t		*reply;
	const char	*did = req->replay ? "replayed" : "removed";
	char		 why[512], nb[128];
	long		 other = req->failed - req->gone - req->unsynced;

	/* all of none is done: only an id that matches nothing is wrong */
	if (req->done == 0 && req->failed == 0 && req->busy == 0 &&
	    strcmp(req->id, "all") != 0)
		reply = json_pack("{s:s}", "error",
		    ctl_no_such(nb, sizeof(nb), "dead letter", req->id));
	/* one being replayed already: queued again once that is durable */
	else if (req->done == 0 && req->failed == 0 && req->busy > 0 &&
	    strcmp(req->id, "all") != 0) {
		(void)snprintf(why, sizeof(why), "dead letter %s is being "
		    "replayed: not %s (it leaves the dead letters once it is "
		    "queued again, on disk)", req->id, req->replay ?
		    "replayed again" : "removed");
		reply = json_pack("{s:s}", "error", why);
	} else if (req->failed > 0) {
		/* the counts in the error too: mhctl shows only the error */
		(void)snprintf(why, sizeof(why), "%ld of %ld dead letters not "
		    "%s, kept (%s%s%s%s%s: see the log); %ld %s", req->failed,
		    req->failed + req->done, did, req->gone > 0 ?
		    "their endpoint answered 410 Gone and is disabled, "
		    "mhctl hooks retry it first" : "",
		    req->gone > 0 && req->unsynced > 0 ? "; " : "",
		    req->unsynced > 0 ? "the spool could not make their queue "
		    "files durable (a disk error): replay them again once it "
		    "can" : "", (req->gone > 0 || req->unsynced > 0) &&
		    other > 0 ? "; or " : "", other <= 0 ? "" : req->replay ?
		    "no events block names their endpoint, or they could "
		    "not be queued" : "they could not be removed", req->done,
		    did);
		reply = json_pack("{s:i,s:i,s:s}", did, (int)req->done,
		    "failed", (int)req->failed, "error", why);
	} else
		reply = json_pack("{s:i}", did, (int)req->done);
	/* those being replayed (by an earlier dead replay) left alone */
	if (reply != NULL && req->busy > 0 && json_object_get(reply,
	    did) != NULL)
		json_object_set_new(reply, "replaying",
		    json_integer(req->busy));
	/* the inbound messages' new queue ids, for show message */
	if (reply != NULL && json_object_size(req->queued_as) > 0 &&
	    json_object_get(reply, did) != NULL)
		json_object_set(reply, "queued_as", req->queued_as);
	dead_req_free(req);
	return (reply);
}

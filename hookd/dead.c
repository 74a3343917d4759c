/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the dead letters, <spool>/dead/.  What could not be delivered
 * and was given up (an event skipped with "mhctl hooks skip", an inbound
 * message whose POSTs ran out of lifetime and has no fallback) is kept
 * here until "mhctl dead replay" sends it again or "mhctl dead remove"
 * drops it; nothing is dropped silently.
 *
 *	ev-<endpoint key>-<event id>.json	{"type":"event", "id", "endpoint",
 *					 "url", "reason", "time", "record"}
 *
 * Each file is written whole (fsynced, then its directory) before what
 * it replaces is removed from its queue, so a crash in between leaves
 * the letter in both places (sent twice at worst), never in none.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "log.h"
#include "mh_event.h"
#include "events.h"
#include "hookd.h"

#define DEAD_FILE_MAX	(4 * 1024 * 1024)
#define DEAD_LIST_MAX	1000		/* entries "show dead" lists */

static char	dead_dir[PATH_MAX];

int
dead_init(const char *root)
{
	if ((size_t)snprintf(dead_dir, sizeof(dead_dir), "%s/dead", root) >=
	    sizeof(dead_dir))
		return (-1);
	if (mkdir(dead_dir, 0700) == -1 && errno != EEXIST) {
		log_warn("dead: mkdir %s", dead_dir);
		return (-1);
	}
	return (0);
}

static json_t *
dead_load(const char *name)
{
	char		 path[PATH_MAX];
	json_error_t	 err;
	json_t		*o;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir, name) >=
	    sizeof(path))
		return (NULL);
	if ((o = json_load_file(path, JSON_REJECT_DUPLICATES, &err)) == NULL)
		log_warnx("dead: %s: %s", path, err.text);
	else if (!json_is_object(o) || !json_is_string(json_object_get(o,
	    "id"))) {
		log_warnx("dead: %s: malformed", path);
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
	char		 name[128], to[MH_ADDR_MAX];
	const char	*id, *q;
	json_t		*o;
	char		*s;
	int		 rc;

	id = json_string_value(json_object_get(rec, "id"));
	if (id == NULL || strlen(id) != EVENT_ID_LEN - 1)
		return (-1);
	snprintf(name, sizeof(name), "ev-%s-%s.json", key, id);
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
	q = json_string_value(json_object_get(rec, "queue_id"));
	log_sanitize(to, sizeof(to), json_string_value(json_object_get(rec,
	    "recipient")) ? json_string_value(json_object_get(rec,
	    "recipient")) : "");
	log_info("dead: action=add type=event id=%s msgid=%s kind=%s to=<%s> "
	    "endpoint=%s url=%s reason=%s", id, q && q[0] ? q : "-",
	    json_string_value(json_object_get(rec, "kind")) ?
	    json_string_value(json_object_get(rec, "kind")) : "-", to, key,
	    url, reason);
	return (0);
}

/* the names of the dead letters, sorted; *np their number */
static char **
dead_names(size_t *np)
{
	return (dir_names(dead_dir, "ev-", np));
}

/* does the letter in name match id ("all", an event id or a queue id)? */
static int
dead_matches(const json_t *o, const char *id)
{
	const json_t	*rec = json_object_get(o, "record");
	const char	*q = json_string_value(json_object_get(rec, "queue_id"));

	return (strcmp(id, "all") == 0 ||
	    strcmp(json_string_value(json_object_get(o, "id")), id) == 0 ||
	    (q != NULL && strcmp(q, id) == 0));
}

/* mhctl show dead */
json_t *
dead_list(void)
{
	char		**v;
	size_t		 n, i;
	json_t		*a, *o, *rec;

	v = dead_names(&n);
	if ((a = json_array()) == NULL) {
		dir_names_free(v, n);
		return (NULL);
	}
	for (i = 0; i < n && json_array_size(a) < DEAD_LIST_MAX; i++) {
		if ((o = dead_load(v[i])) == NULL)
			continue;
		rec = json_object_get(o, "record");
		json_array_append_new(a, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,"
		    "s:O,s:O}", "id", json_object_get(o, "id"),
		    "type", json_object_get(o, "type"),
		    "time", json_object_get(o, "time"),
		    "url", json_object_get(o, "url"),
		    "reason", json_object_get(o, "reason"),
		    "msgid", json_object_get(rec, "queue_id") ?
		    json_object_get(rec, "queue_id") : json_null(),
		    "kind", json_object_get(rec, "kind") ?
		    json_object_get(rec, "kind") : json_null(),
		    "recipient", json_object_get(rec, "recipient") ?
		    json_object_get(rec, "recipient") : json_null()));
		json_decref(o);
	}
	dir_names_free(v, n);
	return (json_pack("{s:o,s:I}", "dead", a, "total", (json_int_t)n));
}

/* a letter sent again: its file goes once the queue has it on disk */
struct dead_replayed {
	char	name[128];
	char	id[EVENT_ID_LEN];
};

static void
dead_requeued(int ok, void *arg)
{
	struct dead_replayed	*dr = arg;
	char			 path[PATH_MAX];

	if (!ok)
		log_warnx("dead: %s: queued again, but may not be durable: "
		    "kept", dr->name);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dead_dir,
	    dr->name) < sizeof(path) && unlink(path) == -1 && errno != ENOENT)
		log_warn("dead: unlink %s", path);
	free(dr);
}

static int
dead_replay_one(const char *name, const json_t *o)
{
	struct dead_replayed	*dr;
	const char		*key, *url;
	json_t			*recs;
	int			 rc;

	key = json_string_value(json_object_get(o, "endpoint"));
	url = json_string_value(json_object_get(o, "url"));
	if (key == NULL || (recs = json_pack("[O]", json_object_get(o,
	    "record"))) == NULL)
		return (-1);
	if ((dr = calloc(1, sizeof(*dr))) == NULL) {
		json_decref(recs);
		return (-1);
	}
	strlcpy(dr->name, name, sizeof(dr->name));
	rc = events_requeue(key, recs, dead_requeued, dr);
	json_decref(recs);
	if (rc == -1) {
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
	log_info("dead: action=remove type=%s id=%s by=mhctl",
	    json_string_value(json_object_get(o, "type")),
	    json_string_value(json_object_get(o, "id")));
	return (0);
}

/*
 * mhctl dead replay|remove ID|all (an event id or a message's queue
 * id): the reply counts what was done and what failed (an endpoint no
 * longer there keeps its letters).
 */
json_t *
dead_act(int replay, const char *id)
{
	char		**v;
	size_t		 n, i;
	json_t		*o;
	long		 done = 0, failed = 0;

	v = dead_names(&n);
	for (i = 0; i < n; i++) {
		if ((o = dead_load(v[i])) == NULL)
			continue;
		if (dead_matches(o, id)) {
			if ((replay ? dead_replay_one(v[i], o) :
			    dead_remove_one(v[i], o)) == 0)
				done++;
			else
				failed++;
		}
		json_decref(o);
	}
	dir_names_free(v, n);
	if (done == 0 && failed == 0)
		return (json_pack("{s:s}", "error", "no such dead letter"));
	if (replay && failed > 0)
		return (json_pack("{s:i,s:i,s:s}", "replayed", (int)done,
		    "failed", (int)failed, "error", "endpoint not known"));
	return (json_pack("{s:i}", replay ? "replayed" : "removed",
	    (int)done));
}

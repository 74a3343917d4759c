/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's event outbox (outbox.h): nothing the engine reports is lost
 * if relayd or hookd dies before hookd has made the event durable.
 *
 *	outbound/outbox/<eventid>.json		one unacknowledged event
 *	outbound/outbox/tmp-<eventid>		being written
 *
 * Files are written under a temporary name and renamed; the event goes to
 * hookd once the group commit (gsync.h) has made the file durable, in the
 * same flush as the queue change that caused it.  An ack removes the file
 * (no flush needed: a removal lost to a crash only means one more
 * harmless re-send).  Pending events stay in memory in arrival order.
 * Without any events block in the configuration nothing would deliver an
 * event, so none is written: each goes to hookd (for mhctl monitor) and
 * is forgotten.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define OUTBOX_DIR	"outbound/outbox"
#define OUTBOX_FILE_MAX	(1024 * 1024)

struct obentry {
	TAILQ_ENTRY(obentry)	 entry;
	char			 id[EVENT_ID_LEN];
	char			*json;
	size_t			 len;
	time_t			 sent;		/* 0: not yet */
	int			 durable;	/* may be sent */
};
TAILQ_HEAD(oblist, obentry);

static struct oblist	 pending = TAILQ_HEAD_INITIALIZER(pending);
static size_t		 npending;
static int		 obfd = -1;
static int		 started;
static int		 keep = 1;	/* persist until acknowledged */
static outbox_send_fn	 send_fn;
static struct event	*resend_ev;

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
	struct obentry	*e;

	TAILQ_FOREACH(e, &pending, entry)
		if (strcmp(e->id, id) == 0)
			return (e);
	return (NULL);
}

static void
send_one(struct obentry *e)
{
	if (!started || send_fn == NULL || !e->durable)
		return;
	if (send_fn(e->json, e->len) == 0)
		e->sent = time(NULL);
}

static int
persist(const char *id, const char *json, size_t len)
{
	char	 tmp[64], name[64];

	snprintf(tmp, sizeof(tmp), "tmp-%s", id);
	snprintf(name, sizeof(name), "%s.json", id);
	if (file_replace(obfd, tmp, name, json, len, FR_GROUP) == -1) {
		log_warn("outbox: %s", name);
		return (-1);
	}
	return (0);
}

static struct obentry *
entry_new(const char *id, char *json, size_t len)
{
	struct obentry	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("outbox: calloc");
	strlcpy(e->id, id, sizeof(e->id));
	e->json = json;
	e->len = len;
	TAILQ_INSERT_TAIL(&pending, e, entry);
	npending++;
	return (e);
}

/* the group commit is done: the event may leave */
static void
persisted(int ok, void *arg)
{
	struct obentry	*e = arg;

	if (!ok)
		log_warnx("outbox: event %s may not be durable", e->id);
	e->durable = 1;
	send_one(e);
}

int
outbox_put(const struct event_record *ev)
{
	struct obentry	*e;
	json_t		*j;
	char		*s;

	if (!id_ok(ev->id)) {
		log_warnx("outbox: event with a malformed id dropped");
		return (-1);
	}
	/* the same event again (a retried step after a restart) */
	if (find(ev->id) != NULL)
		return (0);
	if ((j = mh_event_to_json(ev)) == NULL) {
		log_warnx("outbox: event %s cannot be encoded", ev->id);
		return (-1);
	}
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatalx("outbox: json_dumps");
	if (!keep) {
		if (started && send_fn != NULL)
			send_fn(s, strlen(s));
		free(s);
		return (0);
	}
	e = entry_new(ev->id, s, strlen(s));
	if (persist(ev->id, s, strlen(s)) == -1) {
		/* still send it: better delivered without a net than never */
		log_warnx("outbox: event %s is not durable", ev->id);
		e->durable = 1;
		send_one(e);
	} else
		gsync_then(persisted, e);
	return (0);
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
	char		 name[64];

	if (!id_ok(id))
		return (-1);
	if ((e = find(id)) == NULL)
		return (1);
	snprintf(name, sizeof(name), "%s.json", id);
	if (unlinkat(obfd, name, 0) == -1 && errno != ENOENT)
		log_warn("outbox: unlink %s", name);
	TAILQ_REMOVE(&pending, e, entry);
	npending--;
	free(e->json);
	free(e);
	return (0);
}

size_t
outbox_pending(void)
{
	return (npending);
}

/* read one file left by a previous run; NULL if it is not an event */
static char *
load_file(const char *name, const char *id, size_t *lenp)
{
	struct event_record	 ev;
	struct stat		 st;
	json_error_t		 err;
	json_t			*j = NULL;
	char			*buf = NULL;
	ssize_t			 n;
	size_t			 off = 0;
	int			 fd, ok = 0;

	if ((fd = openat(obfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || st.st_size > OUTBOX_FILE_MAX ||
	    (buf = malloc(st.st_size + 1)) == NULL)
		goto out;
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, st.st_size - off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			goto out;
		}
		off += n;
	}
	buf[off] = '\0';
	if ((j = json_loadb(buf, off, JSON_REJECT_DUPLICATES, &err)) == NULL ||
	    mh_event_from_json(&ev, j) == -1)
		goto out;
	ok = strcmp(ev.id, id) == 0;
	mh_event_clear(&ev);
 out:
	json_decref(j);
	close(fd);
	if (!ok) {
		free(buf);
		return (NULL);
	}
	*lenp = off;
	return (buf);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* the files of a previous run, in name order (ids are not ordered, but
 * the order of events of one recipient does not depend on it: hookd
 * delivers each event by itself) */
static void
load(void)
{
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL, **nv, id[EVENT_ID_LEN], *json, bad[80];
	size_t		 n = 0, cap = 0, i, len, nl;
	int		 fd;

	if ((fd = dup(obfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		log_warn("outbox: opendir");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, "bad-", 4) == 0)
			continue;
		if (strncmp(de->d_name, "tmp-", 4) == 0) {
			unlinkat(obfd, de->d_name, 0);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				fatal("outbox: reallocarray");
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			fatal("outbox: strdup");
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), name_cmp);
	for (i = 0; i < n; i++) {
		nl = strlen(v[i]);
		json = NULL;
		if (nl == EVENT_ID_LEN - 1 + 5 &&
		    strcmp(v[i] + nl - 5, ".json") == 0) {
			memcpy(id, v[i], EVENT_ID_LEN - 1);
			id[EVENT_ID_LEN - 1] = '\0';
			if (id_ok(id) && find(id) == NULL)
				json = load_file(v[i], id, &len);
		}
		if (json == NULL) {
			/* keep it out of the way, say so, never drop it */
			snprintf(bad, sizeof(bad), "bad-%s", v[i]);
			if (renameat(obfd, v[i], obfd, bad) == -1)
				log_warn("outbox: rename %s", v[i]);
			log_warnx("outbox: %s is not an event, kept as %s",
			    v[i], bad);
		} else
			entry_new(id, json, len)->durable = 1;
		free(v[i]);
	}
	free(v);
	if (npending > 0)
		log_info("outbox: %zu unacknowledged event(s) from the last "
		    "run", npending);
}

int
outbox_init(const char *root, outbox_send_fn fn)
{
	char	 path[1024];

	send_fn = fn;
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

static void
resend(int fd, short what, void *arg)
{
	struct timeval	 tv = { OUTBOX_RESEND, 0 };
	struct obentry	*e;
	time_t		 now = time(NULL);

	TAILQ_FOREACH(e, &pending, entry)
		if (e->sent == 0 || now - e->sent >= OUTBOX_RESEND)
			send_one(e);
	evtimer_add(resend_ev, &tv);
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
	if ((resend_ev = evtimer_new(base, resend, NULL)) == NULL)
		fatal("outbox: evtimer_new");
	evtimer_add(resend_ev, &tv);
}

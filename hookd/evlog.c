/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the event log and "mhctl hooks replay".
 *
 * Every event an endpoint accepted (2xx) is appended to
 * <spool>/evlog/<endpoint key>/<YYYYMMDD>.log (UTC day of the delivery),
 * one JSON line {"t":<delivery time>,"r":<event record>}, made durable by
 * the next group commit (gsync.h).  Files older than the history period
 * ("history", 7 days by default) are removed.  A start reads back the
 * end of each endpoint's log (evlog_seed): the ids it holds, so that a
 * copy relayd sends again is not delivered to it twice.
 *
 * A replay sends again what an endpoint accepted in [since, start of the
 * replay): it reads the log a line at a time, at most REPLAY_CHUNK events
 * per step and none while the endpoint's backlog is REPLAY_BACKLOG or
 * more, queues them with events_requeue() and, once they are durable,
 * records how far it got in <key>/replay.json (fsynced).  So memory is
 * bounded whatever the size of the log, the pace is the endpoint's, and
 * a restart (kill -9 included) resumes from the last step made durable:
 * at worst that step's events are queued twice (at least once, as
 * webhooks are).  "hooks replay ENDPOINT stop" ends it; what was queued
 * already is delivered.
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

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "fileio.h"
#include "gsync.h"
#include "hex.h"
#include "log.h"
#include "mailhook.h"
#include "events.h"
#include "hookd.h"

#define EVLOG_HISTORY_DEFAULT	(7 * 86400)
#define EVLOG_LINE_MAX		(2 * 1024 * 1024)
#define REPLAY_CHUNK		200
#define REPLAY_BACKLOG		1000
#define REPLAY_PACE_MS		100
/* read back at start, of each endpoint's newest files (evlog_seed) */
#define EVLOG_SEED_BYTES	(1024 * 1024)
#define DAYNAME_LEN		16	/* "YYYYMMDD.log" */

struct logfile {
	TAILQ_ENTRY(logfile)	 entry;
	char			 key[EVENTS_KEY_LEN];
	char			 day[DAYNAME_LEN];
	int			 fd;
};

struct replay {
	TAILQ_ENTRY(replay)	 entry;
	char			 key[EVENTS_KEY_LEN];
	char			 url[MH_URL_MAX];
	time_t			 since, until;
	char			 file[DAYNAME_LEN];	/* being read */
	long long		 off;			/* next line there */
	char			 endfile[DAYNAME_LEN];	/* the log's end */
	long long		 endoff;		/* when it began */
	long long		 chunk_end;	/* off once the chunk is
						   durable */
	char			 chunk_file[DAYNAME_LEN];
	unsigned long		 queued;
	int			 busy;		/* a chunk waits for the disk */
	int			 finished;	/* nothing left to read */
	int			 stopped;
	struct event		*timer;
};

static TAILQ_HEAD(, logfile)	 logfiles = TAILQ_HEAD_INITIALIZER(logfiles);
static TAILQ_HEAD(, replay)	 replays = TAILQ_HEAD_INITIALIZER(replays);
static char			 evlog_dir[PATH_MAX];
static struct event_base	*evlog_base;
static time_t			 evlog_history = EVLOG_HISTORY_DEFAULT;

static void	replay_step(int, short, void *);

static void
day_name(time_t t, char buf[DAYNAME_LEN])
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, DAYNAME_LEN, "%Y%m%d.log", &tm);
}

static int
key_dir(const char *key, char *buf, size_t len)
{
	return ((size_t)snprintf(buf, len, "%s/%s", evlog_dir, key) >= len ?
	    -1 : 0);
}

/* sorted "YYYYMMDD.log" names of one endpoint's log */
static char **
day_files(const char *key, size_t *np)
{
	char	 dir[PATH_MAX];
	char	**v;
	size_t	 n, i, j;

	*np = 0;
	if (key_dir(key, dir, sizeof(dir)) == -1 ||
	    (v = dir_names(dir, "", &n)) == NULL)
		return (NULL);
	for (i = j = 0; i < n; i++) {
		if (strlen(v[i]) == DAYNAME_LEN - 4 &&
		    strcmp(v[i] + 8, ".log") == 0)
			v[j++] = v[i];
		else
			free(v[i]);
	}
	*np = j;
	return (v);
}

/* --- the log ------------------------------------------------------------ */

/* the files of key older than the history period go */
static void
evlog_expire(const char *key)
{
	char	 dir[PATH_MAX], path[PATH_MAX], oldest[DAYNAME_LEN];
	char	**v;
	size_t	 n, i;

	day_name(time(NULL) - evlog_history, oldest);
	v = day_files(key, &n);
	for (i = 0; i < n; i++) {
		if (strcmp(v[i], oldest) >= 0)
			continue;
		if (key_dir(key, dir, sizeof(dir)) == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, v[i]) <
		    sizeof(path) && unlink(path) == 0)
			log_info("evlog: endpoint=%s %s expired "
			    "(history %llds)", key, v[i],
			    (long long)evlog_history);
	}
	dir_names_free(v, n);
}

static struct logfile *
logfile_get(const char *key)
{
	struct logfile	*lf;
	char		 day[DAYNAME_LEN], dir[PATH_MAX], path[PATH_MAX], c;
	off_t		 end;

	day_name(time(NULL), day);
	TAILQ_FOREACH(lf, &logfiles, entry)
		if (strcmp(lf->key, key) == 0)
			break;
	if (lf != NULL && strcmp(lf->day, day) == 0)
		return (lf);
	if (lf == NULL) {
		if ((lf = calloc(1, sizeof(*lf))) == NULL)
			return (NULL);
		strlcpy(lf->key, key, sizeof(lf->key));
		lf->fd = -1;
		TAILQ_INSERT_TAIL(&logfiles, lf, entry);
	}
	if (lf->fd != -1)
		close(lf->fd);
	lf->fd = -1;
	if (key_dir(key, dir, sizeof(dir)) == -1 ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, day) >=
	    sizeof(path) || (lf->fd = open(path, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600)) == -1) {
		log_warn("evlog: %s/%s", dir, day);
		return (NULL);
	}
	strlcpy(lf->day, day, sizeof(lf->day));
	/* a line cut by a crash ends here, not in the next one */
	if ((end = lseek(lf->fd, 0, SEEK_END)) > 0 &&
	    pread(lf->fd, &c, 1, end - 1) == 1 && c != '\n')
		(void)!write(lf->fd, "\n", 1);
	gsync_path(dir);
	evlog_expire(key);
	return (lf);
}

/*
 * events_set_logger(): the records an endpoint accepted, their lines
 * written at once (one write per delivered request, not two per event)
 */
static void
evlog_append(const char *key, const json_t *records,
    const struct evtext *texts)
{
	struct logfile	*lf;
	struct evbuffer	*buf;
	const json_t	*r;
	char		*s;
	size_t		 i, len;
	time_t		 now = time(NULL);

	if ((lf = logfile_get(key)) == NULL)
		return;
	if ((buf = evbuffer_new()) == NULL)
		fatal("evlog: evbuffer_new");
	json_array_foreach(records, i, r) {
		/* {"t":<delivery time>,"r":<record>}, as json_pack made it;
		 * the record's text as the queue wrote it, if it came along */
		if (texts != NULL && texts[i].s != NULL) {
			evbuffer_add_printf(buf, "{\"t\":%lld,\"r\":",
			    (long long)now);
			evbuffer_add(buf, texts[i].s, texts[i].len);
			evbuffer_add(buf, "}\n", 2);
			continue;
		}
		if ((s = json_dumps(r, JSON_COMPACT)) == NULL)
			continue;
		evbuffer_add_printf(buf, "{\"t\":%lld,\"r\":%s}\n",
		    (long long)now, s);
		free(s);
	}
	len = evbuffer_get_length(buf);
	if (len > 0 && write_all(lf->fd, evbuffer_pullup(buf, -1), len) == -1)
		log_warn("evlog: %s/%s", key, lf->day);
	evbuffer_free(buf);
	gsync_fd(lf->fd);
}

/* --- replay ------------------------------------------------------------- */

static struct replay *
replay_find(const char *key)
{
	struct replay	*rp;

	TAILQ_FOREACH(rp, &replays, entry)
		if (strcmp(rp->key, key) == 0)
			return (rp);
	return (NULL);
}

static json_t *
replay_json(const struct replay *rp)
{
	return (json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:s,s:I,s:I}",
	    "endpoint", rp->key, "url", rp->url,
	    "since", (json_int_t)rp->since, "until", (json_int_t)rp->until,
	    "file", rp->file, "offset", (json_int_t)rp->off,
	    "end_file", rp->endfile, "end_offset", (json_int_t)rp->endoff,
	    "queued", (json_int_t)rp->queued));
}

/* replay.json: how far the replay got (what is durable in the queue) */
static int
replay_save(const struct replay *rp)
{
	char	 dir[PATH_MAX], *s;
	json_t	*o;
	int	 rc;

	if (key_dir(rp->key, dir, sizeof(dir)) == -1 ||
	    (o = replay_json(rp)) == NULL)
		return (-1);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return (-1);
	rc = file_replace_in(dir, "replay.json", s, strlen(s),
	    FR_FSYNC | FR_SYNCDIR);
	free(s);
	if (rc == -1)
		log_warn("evlog: %s/replay.json", dir);
	return (rc);
}

static void
replay_free(struct replay *rp, const char *how)
{
	char	dir[PATH_MAX], path[PATH_MAX];

	log_info("hooks: action=replay endpoint=%s url=%s since=%lld "
	    "state=%s events=%lu", rp->key, rp->url, (long long)rp->since,
	    how, rp->queued);
	if (key_dir(rp->key, dir, sizeof(dir)) == 0 &&
	    (size_t)snprintf(path, sizeof(path), "%s/replay.json", dir) <
	    sizeof(path) && unlink(path) == -1 && errno != ENOENT)
		log_warn("evlog: unlink %s", path);
	TAILQ_REMOVE(&replays, rp, entry);
	event_free(rp->timer);
	free(rp);
}

static void
replay_arm(struct replay *rp, long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(rp->timer, &tv);
}

/* the day file after rp->file, up to the log's end; 0: none */
static int
replay_next_file(struct replay *rp)
{
	char	**v;
	size_t	 n, i;
	int	 found = 0;

	v = day_files(rp->key, &n);
	for (i = 0; i < n; i++) {
		if (!found && strcmp(v[i], rp->file) > 0 &&
		    strcmp(v[i], rp->endfile) <= 0) {
			strlcpy(rp->file, v[i], sizeof(rp->file));
			rp->off = 0;
			found = 1;
		}
		free(v[i]);
	}
	free(v);
	return (found);
}

static void
replay_durable(int ok, void *arg)
{
	struct replay	*rp = arg;

	rp->busy = 0;
	if (!ok) {
		/* read the chunk again later */
		log_warnx("hooks: replay endpoint=%s: queue not durable, "
		    "retrying", rp->key);
		replay_arm(rp, 1000);
		return;
	}
	strlcpy(rp->file, rp->chunk_file, sizeof(rp->file));
	rp->off = rp->chunk_end;
	if (rp->stopped) {
		replay_free(rp, "stopped");
		return;
	}
	if (replay_save(rp) == -1) {
		replay_arm(rp, 1000);
		return;
	}
	if (rp->finished) {
		replay_free(rp, "done");
		return;
	}
	replay_arm(rp, REPLAY_PACE_MS);
}

/*
 * Read up to REPLAY_CHUNK events from where the replay is; *file and *off
 * get where the next read starts.  -1 on an open or read error (rp->file
 * and rp->off moved on: the caller puts them back).
 */
static int
replay_read(struct replay *rp, json_t *chunk, char file[DAYNAME_LEN],
    long long *off)
{
	char	 dir[PATH_MAX], path[PATH_MAX], *line = NULL;
	size_t	 cap = 0;
	ssize_t	 len;
	FILE	*fp;
	json_t	*o, *r;
	time_t	 t;
	int	 fd;

	for (;;) {
		if (key_dir(rp->key, dir, sizeof(dir)) == -1 ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    rp->file) >= sizeof(path)) {
			free(line);
			return (-1);
		}
		if ((fd = file_open_regular(AT_FDCWD, path, NULL)) == -1 &&
		    errno == EFTYPE)
			/* passed over as one not there, said once */
			log_warnx("evlog: %s: not a regular file, passed over",
			    path);
		else if ((fd == -1 && errno != ENOENT) || (fd != -1 &&
		    (fp = fdopen(fd, "r")) == NULL)) {
			log_warn("evlog: %s", path);
			if (fd != -1)
				close(fd);
			free(line);
			return (-1);
		}
		if (fd == -1)
			fp = NULL;
		if (fp != NULL && fseeko(fp, rp->off, SEEK_SET) == -1)
			goto fail;
		while (fp != NULL && json_array_size(chunk) < REPLAY_CHUNK) {
			if (strcmp(rp->file, rp->endfile) == 0 &&
			    rp->off >= rp->endoff)
				break;
			if ((len = getline(&line, &cap, fp)) <= 0) {
				if (len == -1 && !feof(fp))
					goto fail;	/* not its end */
				break;
			}
			if (line[len - 1] != '\n')
				break;		/* being written: the end */
			rp->off += len;
			if (len > EVLOG_LINE_MAX ||
			    (o = json_loadb(line, len, 0, NULL)) == NULL)
				continue;
			t = json_integer_value(json_object_get(o, "t"));
			r = json_object_get(o, "r");
			if (t >= rp->since && t <= rp->until &&
			    json_is_object(r))
				json_array_append(chunk, r);
			json_decref(o);
		}
		if (fp != NULL)
			fclose(fp);
		if (json_array_size(chunk) >= REPLAY_CHUNK)
			break;
		if ((strcmp(rp->file, rp->endfile) == 0 &&
		    rp->off >= rp->endoff) || !replay_next_file(rp)) {
			rp->finished = 1;
			break;
		}
	}
	free(line);
	strlcpy(file, rp->file, DAYNAME_LEN);
	*off = rp->off;
	return (0);

 fail:
	log_warn("evlog: read %s", path);
	fclose(fp);
	free(line);
	return (-1);
}

static void
replay_step(int fd, short what, void *arg)
{
	struct replay	*rp = arg;
	char		 file[DAYNAME_LEN], from[DAYNAME_LEN];
	long long	 off, from_off;
	json_t		*chunk;

	if (rp->busy)
		return;
	if (rp->stopped) {
		replay_free(rp, "stopped");
		return;
	}
	if (events_pending(rp->key) >= REPLAY_BACKLOG) {
		replay_arm(rp, REPLAY_PACE_MS);
		return;
	}
	if ((chunk = json_array()) == NULL)
		fatal("evlog: json_array");
	strlcpy(from, rp->file, sizeof(from));
	from_off = rp->off;
	if (replay_read(rp, chunk, file, &off) == -1) {
		/* what was read of the step is read again */
		strlcpy(rp->file, from, sizeof(rp->file));
		rp->off = from_off;
		json_decref(chunk);
		replay_arm(rp, 1000);
		return;
	}
	/* rp->file and rp->off move on only once the chunk is durable */
	strlcpy(rp->chunk_file, file, sizeof(rp->chunk_file));
	rp->chunk_end = off;
	strlcpy(rp->file, from, sizeof(rp->file));
	rp->off = from_off;
	rp->queued += json_array_size(chunk);
	rp->busy = 1;
	if (events_requeue(rp->key, chunk, replay_durable, rp) == -1) {
		/* the endpoint is gone, or the chunk could not be written */
		json_decref(chunk);
		rp->busy = 0;
		replay_free(rp, "failed");
		return;
	}
	json_decref(chunk);
}

static struct replay *
replay_new(const char *key, const char *url)
{
	struct replay	*rp;

	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return (NULL);
	strlcpy(rp->key, key, sizeof(rp->key));
	strlcpy(rp->url, url, sizeof(rp->url));
	if ((rp->timer = evtimer_new(evlog_base, replay_step, rp)) == NULL) {
		free(rp);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&replays, rp, entry);
	return (rp);
}

/* hooks replay ENDPOINT --since TIME */
int
replay_start(const char *key, const char *url, time_t since, char *err,
    size_t errlen)
{
	struct replay	*rp;
	struct logfile	*lf;
	char		**v;
	size_t		 n, i;
	struct stat	 st;

	if ((rp = replay_find(key)) != NULL) {
		snprintf(err, errlen, "a replay since %lld is under way "
		    "(hooks replay ENDPOINT stop)", (long long)rp->since);
		return (-1);
	}
	if ((rp = replay_new(key, url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rp->since = since;
	rp->until = time(NULL);
	day_name(since, rp->file);
	/* the log as it is now: what is delivered later is not replayed */
	v = day_files(key, &n);
	if (n > 0) {
		strlcpy(rp->endfile, v[n - 1], sizeof(rp->endfile));
		TAILQ_FOREACH(lf, &logfiles, entry)
			if (strcmp(lf->key, key) == 0 && lf->fd != -1 &&
			    strcmp(lf->day, rp->endfile) == 0 &&
			    fstat(lf->fd, &st) == 0)
				rp->endoff = st.st_size;
		if (rp->endoff == 0) {
			char	dir[PATH_MAX], path[PATH_MAX];

			if (key_dir(key, dir, sizeof(dir)) == 0 &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
			    rp->endfile) < sizeof(path) && stat(path, &st) == 0)
				rp->endoff = st.st_size;
		}
		/* the first file at or after since's day */
		for (i = 0; i < n && strcmp(v[i], rp->file) < 0; i++)
			;
		if (i < n)
			strlcpy(rp->file, v[i], sizeof(rp->file));
	}
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (n == 0 || strcmp(rp->file, rp->endfile) > 0) {
		rp->finished = 1;
		replay_free(rp, "done");
		return (0);
	}
	if (replay_save(rp) == -1) {
		snprintf(err, errlen, "cannot write the replay's state");
		replay_free(rp, "failed");
		return (-1);
	}
	log_info("hooks: action=replay endpoint=%s url=%s since=%lld "
	    "until=%lld state=started by=mhctl", key, url, (long long)since,
	    (long long)rp->until);
	replay_arm(rp, 0);
	return (0);
}

int
replay_stop(const char *key)
{
	struct replay	*rp;

	if ((rp = replay_find(key)) == NULL)
		return (-1);
	rp->stopped = 1;
	if (!rp->busy) {
		evtimer_del(rp->timer);
		replay_free(rp, "stopped");
	}
	return (0);
}

/* the replay of key, NULL: none */
json_t *
replay_status(const char *key)
{
	struct replay	*rp;

	if ((rp = replay_find(key)) == NULL)
		return (NULL);
	return (replay_json(rp));
}

/* a replay that was under way when hookd stopped goes on */
static void
replay_resume(const char *key)
{
	char		 dir[PATH_MAX];
	json_t		*o;
	struct replay	*rp;
	const char	*url, *file, *endfile;

	if (key_dir(key, dir, sizeof(dir)) == -1)
		return;
	strlcat(dir, "/replay.json", sizeof(dir));
	if ((o = json_load_file(dir, 0, NULL)) == NULL)
		return;
	url = json_string_value(json_object_get(o, "url"));
	file = json_string_value(json_object_get(o, "file"));
	endfile = json_string_value(json_object_get(o, "end_file"));
	if (url == NULL || file == NULL || endfile == NULL ||
	    strlen(file) != DAYNAME_LEN - 4 ||
	    strlen(endfile) != DAYNAME_LEN - 4 ||
	    (rp = replay_new(key, url)) == NULL) {
		log_warnx("evlog: %s: malformed, replay dropped", dir);
		json_decref(o);
		return;
	}
	rp->since = json_integer_value(json_object_get(o, "since"));
	rp->until = json_integer_value(json_object_get(o, "until"));
	strlcpy(rp->file, file, sizeof(rp->file));
	rp->off = json_integer_value(json_object_get(o, "offset"));
	strlcpy(rp->endfile, endfile, sizeof(rp->endfile));
	rp->endoff = json_integer_value(json_object_get(o, "end_offset"));
	rp->queued = json_integer_value(json_object_get(o, "queued"));
	json_decref(o);
	log_info("hooks: action=replay endpoint=%s url=%s since=%lld "
	    "state=resumed events=%lu", rp->key, rp->url,
	    (long long)rp->since, rp->queued);
	replay_arm(rp, 0);
}

/* the ids of the whole lines in the last max bytes of file path, in
 * their order, to the front of ids; the bytes read */
static size_t
seed_file(const char *path, size_t max, json_t *ids)
{
	struct stat	 st;
	json_t		*o, *id, *part;
	char		*buf, *p, *nl;
	ssize_t		 got;
	off_t		 from;
	int		 fd;

	if ((fd = file_open_regular(AT_FDCWD, path, &st)) == -1) {
		if (errno == EFTYPE)
			log_warnx("evlog: %s: not a regular file, not read",
			    path);
		return (0);
	}
	if (st.st_size == 0 || (part = json_array()) == NULL) {
		close(fd);
		return (0);
	}
	from = (size_t)st.st_size > max ? st.st_size - (off_t)max : 0;
	if ((buf = malloc(st.st_size - from + 1)) == NULL) {
		close(fd);
		json_decref(part);
		return (0);
	}
	got = pread_eintr(fd, buf, st.st_size - from, from);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	/* whole lines only: the first may be cut by the offset, the last
	 * by a crash */
	p = buf;
	if (from > 0 && (p = strchr(buf, '\n')) != NULL)
		p++;
	for (; p != NULL && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		if ((o = json_loadb(p, nl - p, 0, NULL)) == NULL)
			continue;
		id = json_object_get(json_object_get(o, "r"), "id");
		if (json_is_string(id))
			json_array_append(part, id);
		json_decref(o);
	}
	free(buf);
	json_array_extend(part, ids);
	json_array_clear(ids);
	json_array_extend(ids, part);
	json_decref(part);
	return (got > 0 ? (size_t)got : 0);
}

/*
 * The events endpoint key accepted last (the end of its log, at most
 * EVLOG_SEED_BYTES, about a thousand events) are held for it
 * (events_held_seed): relayd sends again after a restart the events
 * whose ack it had not recorded, and one the endpoint had is not sent
 * to it twice.  Only in the room its reloaded queue left (the newest
 * that fit): the id of an event still queued is never pushed out.
 * Per endpoint: an event one endpoint accepted is still stored for
 * another that lacks it.  Only for a configured endpoint (events_init
 * has run events_configure): the log of one no longer configured is
 * kept for its history, but holding its ids would only cost memory.
 */
static void
evlog_seed(const char *key)
{
	char		 dir[PATH_MAX], path[PATH_MAX];
	char		**v;
	json_t		*ids, *id;
	size_t		 n, i, left = EVLOG_SEED_BYTES, room;

	/* one no block names gets no POST: nothing to hold for it */
	if (!events_configured(key) ||
	    (room = events_held_room(key)) == 0 ||
	    (v = day_files(key, &n)) == NULL)
		return;
	if ((ids = json_array()) == NULL) {
		dir_names_free(v, n);
		return;
	}
	for (i = n; i > 0 && left > 0; i--)
		if (key_dir(key, dir, sizeof(dir)) == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    v[i - 1]) < sizeof(path))
			left -= seed_file(path, left, ids);
	dir_names_free(v, n);
	n = json_array_size(ids);
	json_array_foreach(ids, i, id)
		if (n - i <= room)
			(void)events_held_seed(key, json_string_value(id));
	json_decref(ids);
}

int
evlog_init(struct event_base *base, const char *root)
{
	DIR		*d;
	struct dirent	*de;

	evlog_base = base;
	if ((size_t)snprintf(evlog_dir, sizeof(evlog_dir), "%s/evlog",
	    root) >= sizeof(evlog_dir))
		return (-1);
	if (mkdir(evlog_dir, 0700) == -1 && errno != EEXIST) {
		log_warn("evlog: mkdir %s", evlog_dir);
		return (-1);
	}
	events_set_logger(evlog_append);
	if ((d = opendir(evlog_dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (mh_ishex(de->d_name, EVENTS_KEY_LEN - 1)) {
			evlog_expire(de->d_name);
			evlog_seed(de->d_name);
			replay_resume(de->d_name);
		}
	closedir(d);
	return (0);
}

/* "history" (mailhook.conf): how long the log is kept (0: the default) */
void
evlog_configure(time_t history)
{
	evlog_history = history > 0 ? history : EVLOG_HISTORY_DEFAULT;
}

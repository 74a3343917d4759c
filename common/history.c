/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The history journal (history.h).  The records of a pass of the event
 * loop go to the current file in one write(2) at the end of the pass
 * (before that if they pile up, and before the file is read, closed or
 * the journal shut), which the spool's group commit flushes with
 * everything else; nothing here waits for the disk.  Reads (mhctl, the API) and
 * the expiry work on whole files, off the write path.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "envelope.h"
#include "fileio.h"
#include "gsync.h"
#include "history.h"
#include "log.h"

#define SEG_MAX		(16 * 1024 * 1024)	/* bytes before a new file */
#define REC_MAX		(32 * 1024)		/* one record line */
#define GET_MAX		(512 * 1024)		/* what history_get returns */
#define SCAN_BUF	(64 * 1024)
#define PEND_MAX	(256 * 1024)		/* written at once when over */
#define HIST_NAME_MAX	253402300799LL		/* 9999-12-31T23:59:59Z */

struct hseg {
	time_t		 start;		/* its name */
	time_t		 closed;	/* 0: the current file */
	off_t		 size;
	uint64_t	*ids;
	size_t		 nids, capids;
	int		 sorted;
};

static struct hseg	*segs;		/* oldest first; the last is current */
static size_t		 nsegs;
static int		 hdirfd = -1, curfd = -1;
static int		 hretention = 7 * 86400;
static history_live_fn	 hlive;
static struct event	*hev;

/* the records of this pass, for the current file */
static char		*hpend;
static size_t		 hplen, hpcap;
static struct event	*hflush_ev;

static void	pend_flush(void);

/*
 * The one clock of the journal: a file's name, its turn-over, its expiry
 * and a record's "time" all read CLOCK_REALTIME.  Not time(): glibc reads
 * it from the coarse clock, which at the start of a second may still say
 * the second before, so that a file opened then was named for a second
 * the first record's clock had left and turned over at once.
 */
static void
hnow(struct timespec *ts)
{
	if (clock_gettime(CLOCK_REALTIME, ts) == -1)
		fatal("history: clock_gettime");
}

static time_t
hnow_sec(void)
{
	struct timespec	 ts;

	hnow(&ts);
	return (ts.tv_sec);
}

static int
seg_len(void)
{
	int	 l = hretention / 8;

	return (l < 1 ? 1 : l > 3600 ? 3600 : l);
}

static int
id_value(const char *s, uint64_t *v)
{
	size_t	 i;
	int	 c;

	*v = 0;
	for (i = 0; i < MH_MSGID_LEN - 1; i++) {
		c = (unsigned char)s[i];
		if (c >= '0' && c <= '9')
			*v = *v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return (-1);
	}
	return (0);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
ids_push(struct hseg *s, uint64_t v)
{
	uint64_t	*n;

	if (s->nids > 0 && s->ids[s->nids - 1] == v)
		return;
	if (s->nids == s->capids) {
		s->capids = s->capids ? s->capids * 2 : 256;
		if ((n = reallocarray(s->ids, s->capids, sizeof(*n))) == NULL)
			fatal("history: reallocarray");
		s->ids = n;
	}
	if (s->nids > 0 && v < s->ids[s->nids - 1])
		s->sorted = 0;
	s->ids[s->nids++] = v;
}

static void
ids_sort(struct hseg *s)
{
	size_t	 i, o = 0;

	if (s->sorted)
		return;
	if (s->nids > 1)
		qsort(s->ids, s->nids, sizeof(*s->ids), u64_cmp);
	for (i = 0; i < s->nids; i++)
		if (o == 0 || s->ids[o - 1] != s->ids[i])
			s->ids[o++] = s->ids[i];
	s->nids = o;
	s->sorted = 1;
}

static int
ids_has(struct hseg *s, uint64_t v)
{
	ids_sort(s);
	/* a file without a record has no array: bsearch must not get NULL */
	return (s->nids > 0 &&
	    bsearch(&v, s->ids, s->nids, sizeof(v), u64_cmp) != NULL);
}

static void
seg_name(char *buf, size_t len, const struct hseg *s, const char *suffix)
{
	snprintf(buf, len, "%lld%s", (long long)s->start, suffix);
}

/* fn(line without its LF, length, arg) for each whole line of s */
static void
seg_scan(const struct hseg *s, void (*fn)(const char *, size_t, void *),
    void *arg)
{
	char		 name[64], *buf, *p, *nl;
	size_t		 have = 0, skip = 0;
	ssize_t		 n;
	int		 fd;

	pend_flush();		/* the file has every record so far */
	seg_name(name, sizeof(name), s, "");
	if ((fd = openat(hdirfd, name, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("history: %s", name);
		return;
	}
	if ((buf = malloc(SCAN_BUF)) == NULL)
		fatal("history: malloc");
	while ((n = read(fd, buf + have, SCAN_BUF - have)) > 0) {
		have += n;
		p = buf;
		while ((nl = memchr(p, '\n', have - (p - buf))) != NULL) {
			if (!skip)
				fn(p, nl - p, arg);
			skip = 0;
			p = nl + 1;
		}
		have -= p - buf;
		memmove(buf, p, have);
		if (have == SCAN_BUF) {
			/* longer than any record: not one of ours */
			have = 0;
			skip = 1;
		}
	}
	if (n == -1)
		log_warn("history: read %s", name);
	free(buf);
	close(fd);
}

static void
scan_ids(const char *line, size_t len, void *arg)
{
	uint64_t	 v;

	if (len > MH_MSGID_LEN && line[MH_MSGID_LEN - 1] == ' ' &&
	    id_value(line, &v) == 0)
		ids_push(arg, v);
}

/* the ids of a closed file, from its index or (none) by reading it */
static void
seg_load_ids(struct hseg *s)
{
	struct stat	 st;
	char		 name[64];
	ssize_t		 n;
	int		 fd;

	seg_name(name, sizeof(name), s, ".idx");
	if ((fd = openat(hdirfd, name, O_RDONLY | O_CLOEXEC)) != -1 &&
	    fstat(fd, &st) == 0 && st.st_size % sizeof(uint64_t) == 0 &&
	    st.st_size <= SEG_MAX) {
		s->capids = s->nids = st.st_size / sizeof(uint64_t);
		if ((s->ids = malloc(st.st_size + 1)) == NULL)
			fatal("history: malloc");
		n = pread(fd, s->ids, st.st_size, 0);
		close(fd);
		if (n == st.st_size) {
			s->sorted = 0;
			ids_sort(s);
			return;
		}
		free(s->ids);
		s->ids = NULL;
		s->capids = s->nids = 0;
	} else if (fd != -1)
		close(fd);
	seg_scan(s, scan_ids, s);
	ids_sort(s);
}

/* close the current file: its index beside it */
static void
seg_close(time_t now)
{
	struct hseg	*s;
	char		 name[64], tmp[80];

	if (curfd == -1 || nsegs == 0)
		return;
	pend_flush();
	s = &segs[nsegs - 1];
	close(curfd);
	curfd = -1;
	s->closed = now > s->start ? now : s->start + 1;
	ids_sort(s);
	seg_name(name, sizeof(name), s, ".idx");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	/* derived data: a lost index is rebuilt from the file */
	if (file_replace(hdirfd, tmp, name, s->ids, s->nids * sizeof(*s->ids),
	    FR_GROUP) == -1)
		log_warn("history: %s", name);
}

static int
seg_open(time_t now)
{
	struct hseg	*n, *s;
	char		 name[64];
	time_t		 start = now;

	if (nsegs > 0 && start <= segs[nsegs - 1].start)
		start = segs[nsegs - 1].start + 1;
	if ((n = reallocarray(segs, nsegs + 1, sizeof(*segs))) == NULL)
		fatal("history: reallocarray");
	segs = n;
	s = &segs[nsegs];
	memset(s, 0, sizeof(*s));
	s->start = start;
	s->sorted = 1;
	seg_name(name, sizeof(name), s, "");
	if ((curfd = openat(hdirfd, name, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("history: %s", name);
		return (-1);
	}
	nsegs++;
	return (0);
}

static void
seg_free(struct hseg *s)
{
	free(s->ids);
	s->ids = NULL;
}

/* the records kept so far to the current file */
static void
pend_flush(void)
{
	if (hplen == 0)
		return;
	if (curfd != -1) {
		if (write_all(curfd, hpend, hplen) == -1)
			log_warn("history: write");
		gsync_fd(curfd);
	}
	hplen = 0;
}

static void
pend_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	pend_flush();
}

/* a record joins this pass's, written at its end (at once without a
 * loop) */
static void
append_line(const char *line, size_t len)
{
	struct hseg	*s = &segs[nsegs - 1];
	uint64_t	 v;
	char		*n;
	size_t		 cap;

	if (hplen + len > hpcap) {
		for (cap = hpcap ? hpcap : 4096; cap < hplen + len; cap *= 2)
			;
		if ((n = realloc(hpend, cap)) == NULL)
			fatal("history: realloc");
		hpend = n;
		hpcap = cap;
	}
	if (hplen == 0 && hflush_ev != NULL)
		event_active(hflush_ev, EV_TIMEOUT, 0);
	memcpy(hpend + hplen, line, len);
	hplen += len;
	s->size += len;
	if (id_value(line, &v) == 0)
		ids_push(s, v);
	if (hflush_ev == NULL || hplen >= PEND_MAX)
		pend_flush();
}

/* the ids still queued, sorted: a file holding one of them stays */
struct live {
	uint64_t	*ids;
	size_t		 n, cap;
	int		 built;
};

static struct live	*live_cur;

static void
live_add(const char *id)
{
	struct live	*l = live_cur;
	uint64_t	 v, *n;

	if (id_value(id, &v) == -1)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		if ((n = reallocarray(l->ids, l->cap, sizeof(*n))) == NULL)
			fatal("history: reallocarray");
		l->ids = n;
	}
	l->ids[l->n++] = v;
}

/* does s name a message still queued?  (both sorted: one walk) */
static int
seg_held(struct hseg *s, struct live *l)
{
	size_t	 i = 0, k = 0;

	if (hlive == NULL)
		return (0);
	if (!l->built) {
		live_cur = l;
		hlive(live_add);
		live_cur = NULL;
		if (l->n > 1)
			qsort(l->ids, l->n, sizeof(*l->ids), u64_cmp);
		l->built = 1;
	}
	ids_sort(s);
	while (i < s->nids && k < l->n) {
		if (s->ids[i] == l->ids[k])
			return (1);
		if (s->ids[i] < l->ids[k])
			i++;
		else
			k++;
	}
	return (0);
}

static void
seg_remove(size_t k)
{
	char	 name[64];

	/* the index first: a crash between leaves a file without one,
	 * which a start reads; an index alone, load_dir() removes */
	seg_name(name, sizeof(name), &segs[k], ".idx");
	if (unlinkat(hdirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("history: unlink %s", name);
	seg_name(name, sizeof(name), &segs[k], "");
	if (unlinkat(hdirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("history: unlink %s", name);
	seg_free(&segs[k]);
	memmove(segs + k, segs + k + 1, (nsegs - k - 1) * sizeof(*segs));
	nsegs--;
}

void
history_prune(void)
{
	struct live	 l;
	time_t		 now = hnow_sec();
	size_t		 k;

	if (hdirfd == -1 || nsegs == 0)
		return;
	/* a quiet journal closes its file too, so that it can expire */
	if (curfd != -1 && segs[nsegs - 1].size > 0 &&
	    now >= segs[nsegs - 1].start + seg_len()) {
		seg_close(now);
		if (seg_open(now) == -1)
			return;
	}
	memset(&l, 0, sizeof(l));
	for (k = 0; k + 1 < nsegs; ) {
		if (segs[k].closed + hretention > now || seg_held(&segs[k], &l))
			k++;
		else
			seg_remove(k);
	}
	free(l.ids);
}

static void
prune_cb(evutil_socket_t fd, short ev, void *arg)
{
	history_prune();
}

static void
timer_set(void)
{
	struct timeval	 tv = { seg_len() < 60 ? seg_len() : 60, 0 };

	if (hev != NULL) {
		evtimer_del(hev);
		evtimer_add(hev, &tv);
	}
}

static int
name_is_seg(const char *n, const char *suffix)
{
	size_t	 i;

	for (i = 0; isdigit((unsigned char)n[i]); i++)
		;
	return (i > 0 && i < 20 && strcmp(n + i, suffix) == 0);
}

/*
 * The second a file's name (digits only) says, -1 past the year 9999:
 * not one of ours, and its start + 1 (the next file's name, its close)
 * must not overflow.
 */
static time_t
seg_start(const char *n)
{
	long long	 v;

	errno = 0;
	v = strtoll(n, NULL, 10);
	if (errno != 0 || v > HIST_NAME_MAX) {
		log_warnx("history: %s: not a file's name, ignored", n);
		return (-1);
	}
	return ((time_t)v);
}

/* an index whose file is gone (a crash in an older run's seg_remove) */
static int
idx_orphan(const char *n)
{
	struct stat	 st;
	char		 base[64];
	size_t		 len;

	if (!name_is_seg(n, ".idx") || (len = strlen(n) - 4) >= sizeof(base))
		return (0);
	memcpy(base, n, len);
	base[len] = '\0';
	return (fstatat(hdirfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT);
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct hseg	*x = a, *y = b;

	return (x->start < y->start ? -1 : x->start > y->start);
}

/* the files a previous run left, oldest first, with their ids */
static int
load_dir(void)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	struct hseg	*n;
	time_t		 start;
	size_t		 i;
	int		 fd;

	if ((fd = dup(hdirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strstr(de->d_name, ".tmp") != NULL ||
		    idx_orphan(de->d_name)) {
			unlinkat(hdirfd, de->d_name, 0);
			continue;
		}
		if (!name_is_seg(de->d_name, "") ||
		    (start = seg_start(de->d_name)) == -1 ||
		    fstatat(hdirfd, de->d_name, &st, 0) == -1)
			continue;
		if ((n = reallocarray(segs, nsegs + 1, sizeof(*segs))) == NULL)
			fatal("history: reallocarray");
		segs = n;
		memset(&segs[nsegs], 0, sizeof(*segs));
		segs[nsegs].start = start;
		segs[nsegs].size = st.st_size;
		segs[nsegs].closed = st.st_mtime > segs[nsegs].start ?
		    st.st_mtime : segs[nsegs].start + 1;
		nsegs++;
	}
	closedir(d);
	if (nsegs > 0)
		qsort(segs, nsegs, sizeof(*segs), seg_cmp);
	for (i = 0; i < nsegs; i++)
		seg_load_ids(&segs[i]);
	return (0);
}

int
history_init(struct event_base *base, int dirfd, const char *name,
    int retention, history_live_fn live)
{
	history_shutdown();
	hlive = live;
	hretention = retention > 0 ? retention : 1;
	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST) {
		log_warn("history: mkdir %s", name);
		return (-1);
	}
	if ((hdirfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("history: %s", name);
		return (-1);
	}
	if (load_dir() == -1 || seg_open(hnow_sec()) == -1)
		return (-1);
	if (base != NULL && ((hev = event_new(base, -1, EV_PERSIST, prune_cb,
	    NULL)) == NULL || (hflush_ev = event_new(base, -1, 0,
	    pend_flush_cb, NULL)) == NULL))
		return (-1);
	/* the first prune on the timer: the queue is loaded by then */
	timer_set();
	return (0);
}

void
history_configure(int retention)
{
	hretention = retention > 0 ? retention : 1;
	timer_set();
}

void
history_shutdown(void)
{
	size_t	 i;

	pend_flush();
	if (hflush_ev != NULL)
		event_free(hflush_ev);
	hflush_ev = NULL;
	free(hpend);
	hpend = NULL;
	hpcap = 0;
	if (hev != NULL)
		event_free(hev);
	hev = NULL;
	if (curfd != -1)
		close(curfd);
	curfd = -1;
	for (i = 0; i < nsegs; i++)
		seg_free(&segs[i]);
	free(segs);
	segs = NULL;
	nsegs = 0;
	if (hdirfd != -1)
		close(hdirfd);
	hdirfd = -1;
}

void
history_add(const char *id, json_t *rec)
{
	struct timespec	 ts;
	char		*s, *line;
	size_t		 len;
	time_t		 now;

	if (hdirfd == -1 || !envelope_id_ok(id) || !json_is_object(rec))
		return;
	hnow(&ts);
	now = ts.tv_sec;
	if (json_object_get(rec, "time") == NULL)
		json_object_set_new(rec, "time", json_real(ts.tv_sec +
		    (ts.tv_nsec / 1000000) / 1000.0));
	if ((s = json_dumps(rec, JSON_COMPACT)) == NULL)
		return;
	len = MH_MSGID_LEN + strlen(s) + 1;
	if (len >= REC_MAX || (line = malloc(len + 1)) == NULL) {
		log_warnx("history: %s: record too large, not kept", id);
		free(s);
		return;
	}
	snprintf(line, len + 1, "%s %s\n", id, s);
	free(s);
	/* no file since one could not be opened (a full disk): again now */
	if (curfd == -1 && seg_open(now) == -1) {
		free(line);
		return;
	}
	if ((segs[nsegs - 1].size + (off_t)len > SEG_MAX ||
	    now >= segs[nsegs - 1].start + seg_len()) &&
	    segs[nsegs - 1].size > 0) {
		seg_close(now);
		if (seg_open(now) == -1) {
			free(line);
			return;
		}
	}
	append_line(line, len);
	free(line);
}

struct get {
	char		 id[MH_MSGID_LEN];
	json_t		*recs;
	size_t		 bytes;
	int		 truncated;
};

static void
get_line(const char *line, size_t len, void *arg)
{
	struct get	*g = arg;
	json_t		*j;

	if (len <= MH_MSGID_LEN || memcmp(line, g->id, MH_MSGID_LEN - 1) != 0 ||
	    line[MH_MSGID_LEN - 1] != ' ')
		return;
	if (g->bytes + len > GET_MAX) {
		g->truncated = 1;
		return;
	}
	if ((j = json_loadb(line + MH_MSGID_LEN, len - MH_MSGID_LEN, 0,
	    NULL)) == NULL || !json_is_object(j)) {
		json_decref(j);
		return;
	}
	g->bytes += len;
	json_array_append_new(g->recs, j);
}

struct rec_order {
	double		 t;
	size_t		 seq;
	json_t		*j;
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec_order	*x = a, *y = b;

	if (x->t != y->t)
		return (x->t < y->t ? -1 : 1);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* by time (a clock step aside, the order they were written in) */
static json_t *
recs_sorted(json_t *recs)
{
	struct rec_order	*v;
	json_t			*out;
	size_t			 i, n = json_array_size(recs);

	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		fatal("history: calloc");
	for (i = 0; i < n; i++) {
		v[i].j = json_array_get(recs, i);
		v[i].t = json_number_value(json_object_get(v[i].j, "time"));
		v[i].seq = i;
	}
	qsort(v, n, sizeof(*v), rec_cmp);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append(out, v[i].j);
	free(v);
	json_decref(recs);
	return (out);
}

void
history_settle(const char *id)
{
	struct timespec	 ts[2];
	uint64_t	 v;
	char		 name[64];
	size_t		 k;

	if (hdirfd == -1 || !envelope_id_ok(id) || id_value(id, &v) == -1)
		return;
	/*
	 * Each closed file that holds some of it counts from now: its mtime,
	 * which a restart reads back as the time it was closed.
	 */
	hnow(&ts[0]);
	ts[1] = ts[0];
	for (k = 0; k + 1 < nsegs; k++) {
		if (segs[k].closed >= ts[0].tv_sec || !ids_has(&segs[k], v))
			continue;
		segs[k].closed = ts[0].tv_sec;
		seg_name(name, sizeof(name), &segs[k], "");
		if (utimensat(hdirfd, name, ts, 0) == -1)
			log_warn("history: %s", name);
	}
}

json_t *
history_get(const char *id)
{
	struct get	 g;
	uint64_t	 v;
	size_t		 i;

	if (id == NULL || !envelope_id_ok(id) || id_value(id, &v) == -1 ||
	    hdirfd == -1)
		return (json_array());
	memset(&g, 0, sizeof(g));
	strlcpy(g.id, id, sizeof(g.id));
	g.recs = json_array();
	for (i = 0; i < nsegs; i++)
		if (ids_has(&segs[i], v))
			seg_scan(&segs[i], get_line, &g);
	g.recs = recs_sorted(g.recs);
	if (g.truncated)
		json_array_append_new(g.recs, json_pack("{s:s}", "what",
		    "truncated"));
	return (g.recs);
}

json_t *
history_last(const char *id, const char *what)
{
	json_t		*recs, *r, *found = NULL;
	const char	*w;
	size_t		 i;

	recs = history_get(id);
	json_array_foreach(recs, i, r)
		if ((w = json_string_value(json_object_get(r, "what"))) !=
		    NULL && strcmp(w, what) == 0)
			found = r;
	json_incref(found);
	json_decref(recs);
	return (found);
}

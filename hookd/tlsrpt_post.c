/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * TLS-RPT reports for https: rua addresses (RFC 8460 3): relayd makes
 * each report (relayd/tlsrpt.c) and hands it here, since every HTTP
 * request of the daemon is hookd's; one POST of application/tlsrpt+gzip
 * through the same SSRF-aware client as the webhooks, its outcome
 * logged.
 *
 * RFC 8460 5.5: a sender SHOULD attempt redelivery for up to 24 hours
 * after the first attempt, ideally with exponential backoff.  A report
 * that failed (no 2xx, a connection or TLS error) was dropped: the day's
 * report was lost to a receiver down for a minute.  Each report is now
 * kept in the spool (TLSRPT_DIR, one file: a head line "mailhook-tlsrpt
 * 1 FIRST TRIES URL", then the gzip'd report; fsync'd) from its arrival
 * until it is delivered or given up, and POSTed again 5 minutes after a
 * failure, doubling (a test period at most), until TLSRPT_TRIES tries or
 * 24 hours after the first.  A try is counted in the file before its
 * POST, so a hookd killed in the middle of one does not get it for free,
 * and a restart spaces the sends of those left (TLSRPT_SPACE apart).  At
 * most TLSRPT_KEPT reports, TLSRPT_KEPT_BYTES of them, are kept: the
 * oldest is dropped, with a log line, for a newer one.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fileio.h"
#include "http.h"
#include "log.h"
#include "mailhook.h"
#include "proc.h"
#include "hookd.h"

#define TLSRPT_POST_TIMEOUT	60
#define TLSRPT_DIR		"tlsrpt"
#define TLSRPT_MAGIC		"mailhook-tlsrpt 1 "
#define TLSRPT_HEAD_MAX		(MH_URL_MAX + 64)
#define TLSRPT_TRIES		9	/* the 9th some 21 hours after */
#define TLSRPT_RETRY		300	/* seconds before the 2nd, doubling */
#define TLSRPT_WINDOW		86400	/* RFC 8460 5.5: 24 hours */
#define TLSRPT_KEPT		1000	/* reports kept at most */
#define TLSRPT_KEPT_BYTES	(64 * 1024 * 1024)	/* and their bytes */
#define TLSRPT_SPACE		10	/* seconds between reloaded sends */

struct rpt_try {
	TAILQ_ENTRY(rpt_try) entry;
	struct event	*timer;
	struct http_call *call;			/* its POST under way */
	char		 url[MH_URL_MAX];
	char		 pub[MH_URL_MAX];	/* for the log */
	char		 name[NAME_MAX + 1];	/* its file, "" if none */
	u_char		*body;
	size_t		 len;
	time_t		 first;
	int		 tries;
};

static TAILQ_HEAD(, rpt_try) rpt_all = TAILQ_HEAD_INITIALIZER(rpt_all);
static size_t		 rpt_count, rpt_bytes;
static char		 rpt_dir[PATH_MAX];
static unsigned int	 rpt_seq;

static void	rpt_send(struct rpt_try *);

/* TLSRPT_DIR/name in buf; -1 if too long */
static int
rpt_path(char *buf, size_t len, const char *name)
{
	int	 n = snprintf(buf, len, "%s/%s", rpt_dir, name);

	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

static void
rpt_free(struct rpt_try *t)
{
	char	 path[PATH_MAX];

	if (t->name[0] != '\0' && rpt_dir[0] != '\0' &&
	    rpt_path(path, sizeof(path), t->name) == 0 &&
	    unlink(path) == -1 && errno != ENOENT)
		log_warn("tls-rpt: unlink %s", path);
	TAILQ_REMOVE(&rpt_all, t, entry);
	rpt_count--;
	rpt_bytes -= t->len;
	if (t->call != NULL)
		http_cancel(t->call);
	if (t->timer != NULL)
		event_free(t->timer);
	free(t->body);
	free(t);
}

/* t in its file, with its tries so far: a restart sends it on */
static void
rpt_keep(struct rpt_try *t)
{
	char	 head[TLSRPT_HEAD_MAX];
	u_char	*buf;
	int	 n;

	if (rpt_dir[0] == '\0')
		return;
	if (t->name[0] == '\0')
		snprintf(t->name, sizeof(t->name), "%lld.%ld.%u",
		    (long long)t->first, (long)getpid(), rpt_seq++);
	n = snprintf(head, sizeof(head), TLSRPT_MAGIC "%lld %d %s\n",
	    (long long)t->first, t->tries, t->url);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    (buf = malloc(n + t->len)) == NULL) {
		t->name[0] = '\0';
		return;
	}
	memcpy(buf, head, n);
	memcpy(buf + n, t->body, t->len);
	if (file_replace_in(rpt_dir, t->name, buf, n + t->len,
	    FR_FSYNC | FR_SYNCDIR) == -1) {
		log_warn("tls-rpt: url=%s cannot be kept in %s", t->pub,
		    rpt_dir);
		t->name[0] = '\0';
	}
	free(buf);
}

/* seconds before the try after the tries so far */
static int
rpt_delay(int tries)
{
	int	 d = TLSRPT_RETRY << (tries > 1 ? tries - 1 : 0);
	int	 period = hookd_conf->testing.tlsrpt_period;

	return (period > 0 && d > period ? period : d);
}

static void
rpt_give_up(struct rpt_try *t)
{
	log_warnx("tls-rpt: url=%s given up after %d tries", t->pub,
	    t->tries);
	rpt_free(t);
}

static void
rpt_failed(struct rpt_try *t)
{
	struct timeval	 tv = { 0, 0 };
	time_t		 now = time(NULL);

	t->call = NULL;
	tv.tv_sec = rpt_delay(t->tries);
	if (t->tries >= TLSRPT_TRIES || now + tv.tv_sec > t->first +
	    TLSRPT_WINDOW) {
		rpt_give_up(t);
		return;
	}
	log_info("tls-rpt: url=%s tried again in %lld s (try %d of %d)",
	    t->pub, (long long)tv.tv_sec, t->tries + 1, TLSRPT_TRIES);
	evtimer_add(t->timer, &tv);
}

static void
posted(const struct http_response *res, void *arg)
{
	struct rpt_try	*t = arg;

	t->call = NULL;
	if (res->error != HTTP_OK || res->status < 200 || res->status > 299) {
		log_warnx("tls-rpt: url=%s status=%ld error=%s", t->pub,
		    res->status, res->error != HTTP_OK ? res->errstr :
		    "refused");
		rpt_failed(t);
		return;
	}
	log_info("tls-rpt: url=%s status=%ld report delivered", t->pub,
	    res->status);
	rpt_free(t);
}

static void
rpt_send(struct rpt_try *t)
{
	struct http_request	 req;

	/* counted and kept before: a kill during the POST still counts */
	t->tries++;
	rpt_keep(t);
	http_request_body(&req, t->url, NULL, "application/tlsrpt+gzip",
	    t->body, t->len);
	req.timeout = TLSRPT_POST_TIMEOUT;
	/* hookd's own, as every POST of it: relayd's word is not asked */
	req.allow_private = hookd_conf->allow_private;
	if ((t->call = http_post(&req, posted, t)) == NULL) {
		log_warnx("tls-rpt: url=%s cannot be posted", t->pub);
		rpt_failed(t);
	}
}

static void
rpt_again(int fd, short ev, void *arg)
{
	struct rpt_try	*t = arg;

	/* a kept report spaced at a start may reach its window's end */
	if (time(NULL) > t->first + TLSRPT_WINDOW) {
		rpt_give_up(t);
		return;
	}
	rpt_send(t);
}

/* room for one more of len bytes: the oldest kept are dropped */
static void
rpt_cap(size_t len)
{
	struct rpt_try	*t, *old;

	while (rpt_count > 0 && (rpt_count >= TLSRPT_KEPT ||
	    rpt_bytes + len > TLSRPT_KEPT_BYTES)) {
		old = TAILQ_FIRST(&rpt_all);
		TAILQ_FOREACH(t, &rpt_all, entry)
			if (t->first < old->first)
				old = t;
		log_warnx("tls-rpt: url=%s dropped after %d tries: %zu "
		    "reports, %zu bytes kept at most", old->pub, old->tries,
		    (size_t)TLSRPT_KEPT, (size_t)TLSRPT_KEPT_BYTES);
		rpt_free(old);
	}
}

/* a report of len bytes for url (checked), its first try at first */
static struct rpt_try *
rpt_new(const char *url, const void *body, size_t len, time_t first,
    int tries)
{
	struct rpt_try	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->body = malloc(len)) == NULL ||
	    (t->timer = evtimer_new(proc_base, rpt_again, t)) == NULL)
		fatal("tls-rpt");
	strlcpy(t->url, url, sizeof(t->url));
	config_url_public(t->url, t->pub, sizeof(t->pub));
	memcpy(t->body, body, len);
	t->len = len;
	t->first = first;
	t->tries = tries;
	rpt_cap(len);
	TAILQ_INSERT_TAIL(&rpt_all, t, entry);
	rpt_count++;
	rpt_bytes += len;
	return (t);
}

/* from relayd: struct tlsrpt_post and the gzip'd report */
void
tlsrpt_post(struct mproc *p, struct mh_imsg *imsg)
{
	struct tlsrpt_post	 tp;
	struct rpt_try		*t;
	size_t			 len = MH_IMSG_DATA_SIZE(imsg);

	if (len <= sizeof(tp) || len - sizeof(tp) > TLSRPT_BODY_MAX)
		fatalx("malformed TLSRPT_POST from %s", p->name);
	memcpy(&tp, imsg->data, sizeof(tp));
	if (!tlsrpt_post_ok(&tp))
		fatalx("malformed TLSRPT_POST from %s", p->name);
	t = rpt_new(tp.url, (char *)imsg->data + sizeof(tp),
	    len - sizeof(tp), time(NULL), 0);
	rpt_send(t);
}

/*
 * A kept report's file: its head line, then the report.  Our own file,
 * read as any other: bounded, its URL checked as relayd's is.
 */
static void
rpt_load(const char *name, int nth)
{
	struct tlsrpt_post	 tp;
	struct rpt_try		*t;
	struct stat		 st;
	char			 path[PATH_MAX], *buf = NULL, *nl, *url;
	char			 pub[MH_URL_MAX];
	struct timeval		 tv = { 0, 0 };
	long long		 first = -1;
	time_t			 now = time(NULL);
	int			 fd, tries = -1, space;
	ssize_t			 n = -1;

	memset(&st, 0, sizeof(st));
	if (rpt_path(path, sizeof(path), name) == -1 ||
	    strlen(name) >= sizeof(t->name)) {
		log_warnx("tls-rpt: %s/%s: name too long, skipped", rpt_dir,
		    name);
		return;
	}
	/* a FIFO there does not block hookd's start */
	if ((fd = file_open_regular(AT_FDCWD, path, &st)) != -1 &&
	    st.st_size <= TLSRPT_HEAD_MAX + TLSRPT_BODY_MAX &&
	    (buf = malloc(st.st_size + 1)) != NULL)
		n = pread_eintr(fd, buf, st.st_size, 0);
	if (fd != -1)
		close(fd);
	if (n >= 0 && buf != NULL)
		buf[n] = '\0';
	memset(&tp, 0, sizeof(tp));
	if (n <= 0 || n != st.st_size ||
	    strncmp(buf, TLSRPT_MAGIC, strlen(TLSRPT_MAGIC)) != 0 ||
	    (nl = memchr(buf, '\n', n)) == NULL || (*nl = '\0',
	    sscanf(buf + strlen(TLSRPT_MAGIC), "%lld %d", &first,
	    &tries) != 2) || (url = strrchr(buf, ' ')) == NULL ||
	    strlcpy(tp.url, url + 1, sizeof(tp.url)) >= sizeof(tp.url) ||
	    !tlsrpt_post_ok(&tp) || nl + 1 == buf + n || tries < 0 ||
	    first < 0 || first > (long long)now + TLSRPT_WINDOW) {
		log_warnx("tls-rpt: %s is no kept report: removed", path);
		unlink(path);
		free(buf);
		return;
	}
	/* given up before it is counted: it takes no live one's room */
	if (now > (time_t)first + TLSRPT_WINDOW || tries >= TLSRPT_TRIES) {
		config_url_public(tp.url, pub, sizeof(pub));
		log_warnx("tls-rpt: url=%s given up after %d tries", pub,
		    tries);
		unlink(path);
		free(buf);
		return;
	}
	t = rpt_new(tp.url, nl + 1, buf + n - (nl + 1), first, tries);
	strlcpy(t->name, name, sizeof(t->name));
	free(buf);
	/* not all at once: spaced, the first at once */
	space = hookd_conf->testing.tlsrpt_period > 0 ? 1 : TLSRPT_SPACE;
	tv.tv_sec = (time_t)nth * space;
	log_info("tls-rpt: url=%s kept report sent again in %lld s (try %d "
	    "of %d)", t->pub, (long long)tv.tv_sec, tries + 1, TLSRPT_TRIES);
	evtimer_add(t->timer, &tv);
}

/* at start: the directory of the kept reports, each sent again */
int
tlsrpt_kept_init(const char *root)
{
	char	**v, path[PATH_MAX];
	size_t	  i, n;
	int	  nth = 0;

	if ((size_t)snprintf(rpt_dir, sizeof(rpt_dir), "%s/%s", root,
	    TLSRPT_DIR) >= sizeof(rpt_dir) || (mkdir(rpt_dir, 0700) == -1 &&
	    errno != EEXIST)) {
		log_warn("tls-rpt: mkdir %s", rpt_dir);
		rpt_dir[0] = '\0';
		return (-1);
	}
	v = dir_names(rpt_dir, "", &n);
	for (i = 0; i < n; i++) {
		/* file_replace_in's, of a write a crash cut short */
		if (strncmp(v[i], "tmp-", 4) == 0) {
			if (rpt_path(path, sizeof(path), v[i]) == 0)
				unlink(path);
			continue;
		}
		rpt_load(v[i], nth++);
	}
	dir_names_free(v, n);
	return (0);
}

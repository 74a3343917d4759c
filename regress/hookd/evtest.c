/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * evtest: drive hookd's event code from the tests.
 *
 *   evtest render events|failures|callback FILE
 *	FILE holds event records (common/mh_event.h JSON), one a line; prints
 *	the body the format would POST (all lines in one batch for
 *	"events", the first line otherwise).  Exit 3 if the format does
 *	not carry the kind.
 *   evtest queue -f CONFIG -s SPOOL [-e EVENTS] [-c N] [-t SECONDS] [-k]
 *	Parses CONFIG (mailhook.conf grammar, its events blocks), runs the
 *	durable queue on SPOOL, submits the records of EVENTS (one a line;
 *	a record without id or time gets a fresh one; -c: N a pass of the
 *	event loop, as relayd's arrive, else all in one), prints "submitted N"
 *	once they are durable, then runs until the backlog is empty (exit 0)
 *	or the timeout (exit 2, default 30 s).  -k keeps running until the
 *	timeout even with an empty backlog.  The last line is the stats JSON.
 *	-F STR:N[:M[:E]]: the first N open(2)s (or openat(2)s of a path,
 *	for reading) or fopen(3)s of a path with
 *	STR in it (after M that succeed) fail with EMFILE, as when the
 *	process has no descriptor left (or with errno E, 13 for EACCES).
 *	-R STR:N[:M]: the first N open(2)s (for
 *	reading) or fopen(3)s of a path with STR (after M) open it, but its
 *	reads fail with EIO, as on a bad block (read(2) says so; a FILE's
 *	descriptor made one of /proc/self/mem, whose offset 0 is no mapped
 *	address).
 *	-C STR:N[:M]: the first N files made by openat(2) (O_CREAT:
 *	an event's own file, written to tmp-<name> and renamed) whose
 *	path has STR in it (after M that succeed) cannot be, ENOSPC, as
 *	on a full disk.
 *	-D STR:N[:E]: the first N listings of a directory whose path ends
 *	with STR (its openat(2) with O_DIRECTORY) fail with EMFILE (or
 *	errno E, 13 for EACCES), as when no descriptor is left.
 *	-N: once the queue is loaded, before the first pass of the event
 *	loop (nothing sent, no file looked at again), RLIMIT_NOFILE is
 *	lowered to the lowest descriptor free, so that no descriptor more
 *	can be had (a dup(2) that fails says so), and prints "limited N"
 *	(the test raises it again with prlimit).
 *	-W N: a file a start could not read is looked at again N times
 *	(rather than for about an hour) before it is kept aside.
 *	-M N: at most N names of the files an endpoint makes while its
 *	directory is not listed are recorded (rather than EV_MADE_MAX).
 *	-K N: the first N signatures of a request fail (their key's
 *	decoding, EVP_DecodeBlock, fails): no secret the configuration
 *	takes makes them fail any more.
 *	-L: runs the event log (evlog.c), as hookd does: what the
 *	endpoints accept is logged, and a start reads back the end of
 *	each endpoint's log (the events it holds).
 *	-P URL,SINCE: runs the event log (evlog.c) and replays endpoint
 *	URL's since SINCE (Unix time), as "mhctl hooks replay" does.
 *	-S URL,ID: once a line comes on the standard
 *	input, takes event ID out of endpoint URL's queue as "mhctl hooks
 *	skip" does (nothing keeps it) and prints "skip RC", RC what
 *	events_take returned.
 *   evtest classify [-r RCPT -d BOUNCE_DOMAIN [-k VERP_KEY]] FILE
 *	Classifies a returned message; prints the result as JSON.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <dlfcn.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <gmime/gmime.h>
#include <jansson.h>

#include "config.h"
#include "mh_event.h"
#include "gsync.h"
#include "http.h"
#include "log.h"
#include "../../hookd/events.h"
#include "../../hookd/bounce.h"
#include "../../hookd/hookd.h"
#include "verp.h"

static struct event_base	*base;
static int			 keep;
static size_t			 submitted, durable;
/* what is left to submit, chunk a pass (0: all at once) */
static struct event_record	*pending;
static size_t			 npending, nfed, chunk;
static struct event		*feed_ev;

/* -F: what open(2) fails for, how many times more, after how many */
static const char		*failopen_str;
static long			 failopen_n, failopen_skip;
static int			 failopen_errno = EMFILE;
/* -D: which directories cannot be listed, how many times more */
static const char		*faildir_str;
static long			 faildir_n;
static int			 faildir_errno = EMFILE;
/* -C: what openat(2) cannot create, how many times more, after how
 * many */
static const char		*failmake_str;
static long			 failmake_n, failmake_skip;
/* -R: what fopen(3) opens for reads that fail */
static const char		*failread_str;
static long			 failread_n, failread_skip;
/* -R: the descriptors (open(2)'s) whose reads fail */
#define FAILFD_MAX	4096
static unsigned char		 failfd[FAILFD_MAX];
/* -K: how many signatures more fail (once the configuration is read,
 * whose check decodes the secrets too), and how many -K said */
static long			 failsign_n, failsign_k;
/* -S: the event to take out, and its endpoint */
static char			*skip_url, *skip_id;
/* -P: the endpoint to replay, since when */
static char			*replay_url;
static time_t			 replay_since;
static int			 limit_fds;	/* -N */

/* -F: 1 (errno EMFILE, or as -F said) if this open of path is one to
 * fail */
static int
failopen(const char *path)
{
	if (failopen_n > 0 && strstr(path, failopen_str) != NULL) {
		if (failopen_skip > 0)
			failopen_skip--;
		else {
			failopen_n--;
			errno = failopen_errno;
			return (1);
		}
	}
	return (0);
}

/* -R: 1 if this open of path for reading is one whose reads fail */
static int
failread_take(const char *path)
{
	if (failread_n <= 0 || strstr(path, failread_str) == NULL)
		return (0);
	if (failread_skip > 0) {
		failread_skip--;
		return (0);
	}
	failread_n--;
	return (1);
}

/* -R: fp, just opened for path, has reads that fail if it is one */
static void
failread(const char *path, FILE *fp)
{
	int	fd;

	if (!failread_take(path))
		return;
	if ((fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/mem",
	    O_RDONLY | O_CLOEXEC, 0)) == -1 ||
	    dup3(fd, fileno(fp), O_CLOEXEC) == -1)
		err(1, "failread %s", path);
	close(fd);
}

/*
 * read(2) and close(2) for the code linked in: -R makes the reads of a
 * descriptor open(2) gave for such a path fail with EIO (fstat(2) still
 * sees the file), until it is closed
 */
ssize_t
read(int fd, void *buf, size_t n)
{
	if (fd >= 0 && fd < FAILFD_MAX && failfd[fd]) {
		errno = EIO;
		return (-1);
	}
	return (syscall(SYS_read, fd, buf, n));
}

int
close(int fd)
{
	if (fd >= 0 && fd < FAILFD_MAX)
		failfd[fd] = 0;
	return (syscall(SYS_close, fd));
}

/*
 * open(2) and fopen(3) for the code linked in (hookd's from libmh.a): -F
 * makes them fail as when the descriptors have run out, the rest is the
 * system's
 */
int
open(const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	int	fd;

	if (failopen(path))
		return (-1);
	/* set or cleared: a FILE (fdopen) is closed by fclose(3), which
	 * does not come through close() */
	if ((fd = syscall(SYS_openat, AT_FDCWD, path, flags, mode)) >= 0 &&
	    fd < FAILFD_MAX)
		failfd[fd] = (flags & O_ACCMODE) == O_RDONLY &&
		    failread_take(path);
	return (fd);
}

/*
 * openat(2) for the code linked in: -D makes a directory's, as
 * dir_names_at opens it to list it, fail
 */
int
openat(int dfd, const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;
	size_t	len = strlen(path), slen;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & O_CREAT) && failmake_n > 0 &&
	    strstr(path, failmake_str) != NULL) {
		if (failmake_skip > 0)
			failmake_skip--;
		else {
			failmake_n--;
			errno = ENOSPC;
			return (-1);
		}
	}
	if ((flags & O_DIRECTORY) && faildir_n > 0 &&
	    len >= (slen = strlen(faildir_str)) &&
	    strcmp(path + len - slen, faildir_str) == 0) {
		faildir_n--;
		errno = faildir_errno;
		return (-1);
	}
	/* a file opened for reading by its path (file_open_regular): as
	 * open(2) */
	if (dfd == AT_FDCWD && !(flags & (O_CREAT | O_DIRECTORY)))
		return (open(path, flags, mode));
	return (syscall(SYS_openat, dfd, path, flags, mode));
}

/*
 * fdopen(3) for the code linked in: the reads of a FILE made of a
 * descriptor -R marked fail too (stdio reads with the system's read)
 */
FILE *
fdopen(int fd, const char *mode)
{
	static FILE	*(*sys_fdopen)(int, const char *);
	int		 mfd;

	if (sys_fdopen == NULL &&
	    (sys_fdopen = dlsym(RTLD_NEXT, "fdopen")) == NULL)
		errx(1, "dlsym fdopen: %s", dlerror());
	if (fd >= 0 && fd < FAILFD_MAX && failfd[fd]) {
		if ((mfd = syscall(SYS_openat, AT_FDCWD, "/proc/self/mem",
		    O_RDONLY | O_CLOEXEC, 0)) == -1 ||
		    dup3(mfd, fd, O_CLOEXEC) == -1)
			err(1, "fdopen %d", fd);
		syscall(SYS_close, mfd);
		/* the FILE's reads fail by themselves now; fclose(3)
		 * leaves no mark on the number */
		failfd[fd] = 0;
	}
	return (sys_fdopen(fd, mode));
}

FILE *
fopen(const char *path, const char *mode)
{
	static FILE	*(*sys_fopen)(const char *, const char *);
	FILE		*fp;

	if (failopen(path))
		return (NULL);
	if (sys_fopen == NULL &&
	    (sys_fopen = dlsym(RTLD_NEXT, "fopen")) == NULL)
		errx(1, "dlsym fopen: %s", dlerror());
	if ((fp = sys_fopen(path, mode)) != NULL)
		failread(path, fp);
	return (fp);
}

/*
 * Base64 decoding for the code linked in: only the signing of requests
 * (common/sign.c) uses it; -K makes it fail
 */
int
EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n)
{
	static int	(*sys_decode)(unsigned char *, const unsigned char *,
			    int);

	if (failsign_n > 0) {
		failsign_n--;
		return (-1);
	}
	if (sys_decode == NULL &&
	    (sys_decode = dlsym(RTLD_NEXT, "EVP_DecodeBlock")) == NULL)
		errx(1, "dlsym EVP_DecodeBlock: %s", dlerror());
	return (sys_decode(t, f, n));
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: evtest render format file\n"
	    "       evtest queue -f config -s spool [-e events] [-c n] "
	    "[-t secs] [-k] [-L] [-C str:n[:m]] [-D str:n[:e]]\n"
	    "            [-F str:n[:m[:e]]] [-K n] [-M n] [-N] [-P url,since] "
	    "[-R str:n[:m]] [-S url,id] [-W n]\n"
	    "       evtest classify [-r rcpt -d bounce_domain [-k key]] "
	    "file\n");
	exit(1);
}

/* read event records, one JSON object a line */
static size_t
load_events(const char *file, struct event_record **out)
{
	FILE			*fp;
	char			*line = NULL;
	size_t			 cap = 0, n = 0;
	ssize_t			 len;
	json_t			*o;
	json_error_t		 jerr;
	struct event_record	*v = NULL, ev;

	if ((fp = fopen(file, "r")) == NULL)
		err(1, "%s", file);
	while ((len = getline(&line, &cap, fp)) != -1) {
		if (len <= 1)
			continue;
		if ((o = json_loads(line, 0, &jerr)) == NULL)
			errx(1, "%s: %s", file, jerr.text);
		if (json_object_get(o, "id") == NULL) {
			mh_event_init(&ev, EV_DELIVERY);
			json_object_set_new(o, "id", json_string(ev.id));
			if (json_object_get(o, "time") == NULL)
				json_object_set_new(o, "time",
				    json_integer(ev.time));
		}
		if (mh_event_from_json(&ev, o) == -1)
			errx(1, "%s: malformed event: %s", file, line);
		json_decref(o);
		if ((v = reallocarray(v, n + 1, sizeof(*v))) == NULL)
			err(1, NULL);
		v[n++] = ev;
	}
	free(line);
	fclose(fp);
	*out = v;
	return (n);
}

static int
cmd_render(int argc, char **argv)
{
	struct event_record	 *evs, **p;
	enum event_format	  f;
	const char		 *ctype;
	char			 *body;
	size_t			  n, i, len;
	int			  rc;

	if (argc != 3)
		usage();
	if (strcmp(argv[1], "events") == 0)
		f = EVFMT_EVENTS;
	else if (strcmp(argv[1], "failures") == 0)
		f = EVFMT_FAILURES;
	else if (strcmp(argv[1], "callback") == 0)
		f = EVFMT_CALLBACK;
	else
		usage();
	if ((n = load_events(argv[2], &evs)) == 0)
		errx(1, "no events");
	if ((p = calloc(n, sizeof(*p))) == NULL)
		err(1, NULL);
	for (i = 0; i < n; i++)
		p[i] = &evs[i];
	rc = events_render(f, (const struct event_record *const *)p,
	    f == EVFMT_EVENTS ? n : 1, &body, &len, &ctype);
	if (rc == 0) {
		fprintf(stderr, "content-type: %s\n", ctype);
		fwrite(body, 1, len, stdout);
		printf("\n");
	}
	free(body);
	for (i = 0; i < n; i++)
		mh_event_clear(&evs[i]);
	free(evs);
	free(p);
	if (rc == -1)
		errx(1, "render failed");
	return (rc == 1 ? 3 : 0);
}

/* stored in the pass they were submitted in, then flushed */
static void
on_durable(int ok, void *arg)
{
	if (!ok)
		errx(1, "events_submit: not stored");
	if (++durable == submitted) {
		printf("submitted %zu\n", submitted);
		fflush(stdout);
	}
}

/* the next chunk of events, then the next pass for the rest */
static void
feed(int fd, short what, void *arg)
{
	struct timeval	 now = { 0, 0 };
	size_t		 i, n;

	n = chunk == 0 || chunk > npending - nfed ? npending - nfed : chunk;
	for (i = nfed; i < nfed + n; i++) {
		if (events_submit(&pending[i], on_durable, NULL) == -1)
			errx(1, "events_submit failed");
		mh_event_clear(&pending[i]);
	}
	nfed += n;
	if (nfed < npending)
		evtimer_add(feed_ev, &now);
	else {
		free(pending);
		pending = NULL;
	}
}

static int
skip_keep(const json_t *r, void *arg)
{
	return (0);
}

/* -S: a line on the standard input, the event out of the queue */
static void
skip_now(int fd, short what, void *arg)
{
	char	buf[256], key[EVENTS_KEY_LEN], url[MH_URL_MAX];

	if (read(fd, buf, sizeof(buf)) <= 0)
		return;
	if (events_match(skip_url, key, url, sizeof(url)) == -1)
		errx(1, "%s: no such endpoint", skip_url);
	printf("skip %d\n", events_take(key, skip_id, skip_keep, skip_keep,
	    NULL));
	fflush(stdout);
}

/*
 * -N: no descriptor more than those open now.  Before the event loop,
 * no other thread has work that holds one for a moment.
 */
static void
limit_now(void)
{
	struct rlimit	 rl;
	int		 fd;

	for (fd = 0; fcntl(fd, F_GETFD) != -1; fd++)
		;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	rl.rlim_cur = fd;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "setrlimit");
	if ((fd = dup(0)) != -1 || errno != EMFILE)
		errx(1, "-N: a descriptor can still be had");
	printf("limited %llu\n", (unsigned long long)rl.rlim_cur);
	fflush(stdout);
}

static void
tick(int fd, short what, void *arg)
{
	if (!keep && durable == submitted && events_backlog() == 0)
		event_base_loopbreak(base);
}

static void
timeout_cb(int fd, short what, void *arg)
{
	*(int *)arg = 1;
	event_base_loopbreak(base);
}

/* -P: the event log, and a replay of replay_url's since replay_since */
static void
replay_begin(const char *spool)
{
	char	key[EVENTS_KEY_LEN], url[MH_URL_MAX], errbuf[256];

	if (events_match(replay_url, key, url, sizeof(url)) == -1)
		errx(1, "%s: no such endpoint", replay_url);
	if (replay_start(key, url, replay_since, errbuf,
	    sizeof(errbuf)) == -1)
		errx(1, "replay: %s", errbuf);
}

static int
cmd_queue(int argc, char **argv)
{
	struct config		*conf;
	struct event_record	*evs = NULL;
	struct event		*t, *to, *sk = NULL;
	struct timeval		 tv;
	const char		*cfile = NULL, *spool = NULL, *efile = NULL;
	int			 sfd;
	size_t			 n = 0;
	int			 ch, secs = 30, timedout = 0, evlog = 0;
	json_t			*st;
	char			*s, *p;

	while ((ch = getopt(argc, argv,
	    "C:c:D:e:F:f:K:kLM:NP:R:S:s:t:W:")) != -1) {
		switch (ch) {
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		case 'D':
			if ((p = strrchr(optarg, ':')) == NULL)
				usage();
			*p++ = '\0';
			faildir_n = strtol(p, NULL, 10);
			/* STR:N:E */
			if ((p = strrchr(optarg, ':')) != NULL) {
				*p++ = '\0';
				faildir_errno = faildir_n;
				faildir_n = strtol(p, NULL, 10);
			}
			faildir_str = optarg;
			break;
		case 'F':
			if ((p = strchr(optarg, ':')) == NULL)
				usage();
			*p++ = '\0';
			failopen_str = optarg;
			failopen_n = strtol(p, &p, 10);
			if (*p == ':')
				failopen_skip = strtol(p + 1, &p, 10);
			if (*p == ':')
				failopen_errno = strtol(p + 1, NULL, 10);
			break;
		case 'C':
			if ((p = strchr(optarg, ':')) == NULL)
				usage();
			*p++ = '\0';
			failmake_str = optarg;
			failmake_n = strtol(p, &p, 10);
			if (*p == ':')
				failmake_skip = strtol(p + 1, NULL, 10);
			break;
		case 'R':
			if ((p = strchr(optarg, ':')) == NULL)
				usage();
			*p++ = '\0';
			failread_str = optarg;
			failread_n = strtol(p, &p, 10);
			if (*p == ':')
				failread_skip = strtol(p + 1, NULL, 10);
			break;
		case 'P':
			if ((p = strrchr(optarg, ',')) == NULL)
				usage();
			*p = '\0';
			replay_url = optarg;
			replay_since = strtoll(p + 1, NULL, 10);
			break;
		case 'S':
			if ((p = strrchr(optarg, ',')) == NULL)
				usage();
			*p = '\0';
			skip_url = optarg;
			skip_id = p + 1;
			break;
		case 'e':
			efile = optarg;
			break;
		case 'f':
			cfile = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'L':
			evlog = 1;
			break;
		case 'N':
			limit_fds = 1;
			break;
		case 's':
			spool = optarg;
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'K':
			failsign_k = strtol(optarg, NULL, 10);
			break;
		case 'M':
			events_set_made_max(atoi(optarg));
			break;
		case 'W':
			events_set_segwait_tries(atoi(optarg));
			break;
		default:
			usage();
		}
	}
	if (cfile == NULL || spool == NULL)
		usage();
	config_allow_testing(1);
	if ((conf = config_parse(cfile)) == NULL)
		errx(1, "%s: bad configuration", cfile);
	failsign_n = failsign_k;
	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (http_init(base, NULL, 0) == -1)
		errx(1, "http_init");
	/* the group commit first, as in hookd: loading may flush a batch */
	if ((sfd = open(spool, O_RDONLY | O_DIRECTORY)) == -1)
		err(1, "%s", spool);
	gsync_init(base, sfd);
	close(sfd);
	/* dead letters under the spool, as in hookd: without it those of
	 * an endpoint no longer configured went to "/" */
	if (dead_init(spool) == -1)
		errx(1, "dead_init");
	if (events_init(base, conf, spool) == -1)
		errx(1, "events_init");
	/* after the queue, as in hookd (evlog_seed) */
	if (evlog || replay_url != NULL) {
		if (evlog_init(base, spool) == -1)
			errx(1, "evlog_init");
		evlog_configure(0);
	}
	if (replay_url != NULL)
		replay_begin(spool);
	if (efile != NULL)
		n = load_events(efile, &evs);
	submitted = n;
	pending = evs;
	npending = n;
	if ((feed_ev = evtimer_new(base, feed, NULL)) == NULL)
		errx(1, "evtimer_new");
	feed(-1, 0, NULL);
	if (n == 0) {
		printf("submitted 0\n");
		fflush(stdout);
	}

	if (limit_fds)
		limit_now();
	t = event_new(base, -1, EV_PERSIST, tick, NULL);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	event_add(t, &tv);
	if (skip_id != NULL && ((sk = event_new(base, 0, EV_READ, skip_now,
	    NULL)) == NULL || event_add(sk, NULL) == -1))
		errx(1, "event_new");
	to = evtimer_new(base, timeout_cb, &timedout);
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(to, &tv);
	event_base_dispatch(base);

	st = events_stats();
	s = json_dumps(st, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(st);
	events_shutdown();
	/* as the daemon stops: the files of delivered events leave */
	gsync_stop();
	http_shutdown();
	event_free(t);
	event_free(to);
	if (sk != NULL)
		event_free(sk);
	event_free(feed_ev);
	free(pending);
	config_free(conf);
	return (timedout && !keep ? 2 : 0);
}

static int
cmd_classify(int argc, char **argv)
{
	struct bounce_info	 bi;
	struct event_record	 ev;
	const char		*rcpt = NULL, *domain = NULL, *key = NULL;
	json_t			*o, *more, *m;
	char			*s;
	size_t			 i;
	int			 ch, fd;

	while ((ch = getopt(argc, argv, "d:k:r:")) != -1) {
		switch (ch) {
		case 'd':
			domain = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'r':
			rcpt = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if ((fd = open(argv[optind], O_RDONLY)) == -1)
		err(1, "%s", argv[optind]);
	g_mime_init();
	if (bounce_classify(fd, rcpt, domain, key, &bi) == -1)
		errx(1, "bounce_classify failed");
	close(fd);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,"
	    "s:s,s:s,s:b,s:I,s:s}",
	    "kind", event_kind_name(bi.ev.kind),
	    "format", bi.format,
	    "action", bi.action,
	    "smtp_stage", bi.stage,
	    "recipient", bi.ev.recipient,
	    "queue_id", bi.ev.queue_id,
	    "message_id", bi.ev.message_id,
	    "code", bi.ev.code,
	    "extended", bi.ev.extended,
	    "description", bi.ev.description,
	    "bounce_type", bi.ev.bounce_type,
	    "bounce_reason", bi.ev.bounce_reason,
	    "subject", bi.ev.subject,
	    "stage", bi.ev.stage,
	    "async", bi.ev.async,
	    "mime_len", (json_int_t)(bi.ev.bounce_mime != NULL ?
		strlen(bi.ev.bounce_mime) : 0),
	    "verp", verp_status_name(bi.verp));
	if (o == NULL)
		errx(1, "json_pack");
	/* the other recipients, each its own event */
	if ((more = json_array()) == NULL)
		errx(1, "json_array");
	for (i = 0; i < bi.nmore; i++) {
		bounce_event(&bi, i, &ev);
		if ((m = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:b}",
		    "recipient", ev.recipient,
		    "action", bi.more[i].action,
		    "code", ev.code,
		    "extended", ev.extended,
		    "description", ev.description,
		    "bounce_type", ev.bounce_type,
		    "bounce_reason", ev.bounce_reason,
		    "smtp_stage", bi.more[i].stage,
		    "other_rcpt", bi.more[i].other_rcpt)) == NULL ||
		    json_array_append_new(more, m) == -1)
			errx(1, "json_pack more");
	}
	json_object_set_new(o, "more", more);
	json_object_set_new(o, "other_rcpt", json_boolean(bi.other_rcpt));
	/* the record must survive the event codec */
	{
		json_t			*r = mh_event_to_json(&bi.ev);
		struct event_record	 back;

		if (r == NULL || mh_event_from_json(&back, r) == -1)
			errx(1, "classified record does not encode");
		mh_event_clear(&back);
		json_decref(r);
	}
	s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(o);
	bounce_clear(&bi);
	return (0);
}

int
main(int argc, char **argv)
{
	log_init(1, LOG_DAEMON);
	log_setverbose(getenv("EVTEST_VERBOSE") != NULL ? 2 : 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "render") == 0)
		return (cmd_render(argc - 1, argv + 1));
	if (strcmp(argv[1], "queue") == 0)
		return (cmd_queue(argc - 1, argv + 1));
	if (strcmp(argv[1], "classify") == 0)
		return (cmd_classify(argc - 1, argv + 1));
	usage();
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Logging to syslog or stderr.
 *
 * On stderr (-d, as under systemd) a child's event loop thread collects
 * its lines and writes them once per pass of the loop (log_buffer): a
 * message costs a handful of lines in several processes, and each line a
 * write(2) of its own was a good part of their system calls.  The lines
 * stay whole: they leave in writes of at most PIPE_BUF bytes cut at line
 * ends (atomic on a pipe shared with the other processes), before the
 * pass ends, before a fatal() exits and at exit.  Other threads, and a
 * process without a loop, write each line at once as before.
 *
 * libevent's own messages (a warning about a bufferevent, an error
 * before it exits) come here too, set up by log_init in every process:
 * "libevent: ..." lines, sanitized as every other, never its bare
 * "[warn] ..." on stderr.  libevent may be in the middle of changing
 * its loop when it logs, so these lines do not touch the loop: the
 * lines kept so far and then this one are written at once.
 *
 * A stderr that is a socket is the journal's stream under systemd (a
 * pipe or a file elsewhere): there each line starts with its priority,
 * "<3>" for an error, "<6>" for information, which journald reads
 * (SyslogLevelPrefix=, on by default) instead of giving every line the
 * unit's SyslogLevel=info; the facility is the unit's SyslogFacility=.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sanitize.h"

#define LOG_BUF_MAX	(64 * 1024)	/* written out when fuller */

static int		 log_debug_mode;
static int		 log_pri_prefix;	/* "<N>" first: the journal */
static int		 log_verbose;
static const char	*log_procname = "mailhookd";

/* the lines of this pass of the loop (log_buffer) */
static struct {
	char		 buf[LOG_BUF_MAX];
	size_t		 len;
	int		 on;
	pthread_t	 thread;	/* the event loop's */
	struct event	*ev;
} lb;

/* the first error logged while log_capture() is on, and how many */
static struct {
	char		*buf;
	size_t		 len;
	int		 n;
} cap;

static void	log_flush_cb(evutil_socket_t, short, void *);
static void	log_libevent(int, const char *);
static void	log_out(int, char *, size_t, int);

void
log_init(int debug, int facility)
{
	struct stat	 st;

	log_debug_mode = debug;
	if (!debug)
		openlog("mailhookd", LOG_PID | LOG_NDELAY, facility);
	else if (fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode))
		log_pri_prefix = 1;
	tzset();
	event_set_log_callback(log_libevent);
}

void
log_procinit(const char *name)
{
	if (name != NULL)
		log_procname = name;
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

/* the lines of base's thread leave once per pass of its loop */
void
log_buffer(struct event_base *base)
{
	if (!log_debug_mode || lb.on)
		return;
	if ((lb.ev = event_new(base, -1, 0, log_flush_cb, NULL)) == NULL)
		return;		/* unbuffered, as before */
	lb.thread = pthread_self();
	lb.len = 0;
	lb.on = 1;
	atexit(log_flush);
}

/* whole lines, at most PIPE_BUF bytes per write where lines allow */
static void
log_write_lines(const char *p, size_t len)
{
	const char	*nl;
	size_t		 n, cut;
	ssize_t		 w;

	while (len > 0) {
		n = len;
		if (n > PIPE_BUF) {
			for (cut = PIPE_BUF; cut > 0 && p[cut - 1] != '\n';
			    cut--)
				;
			if (cut > 0)
				n = cut;
			else if ((nl = memchr(p, '\n', len)) != NULL)
				n = nl - p + 1;	/* one long line */
		}
		if ((w = write(STDERR_FILENO, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere to log it (as stdio) */
		}
		p += w;
		len -= w;
	}
}

/* what this pass logged goes out now (async-signal-safe) */
void
log_flush(void)
{
	size_t	 n = lb.len;
	int	 saved = errno;

	if (n == 0)
		return;
	lb.len = 0;
	log_write_lines(lb.buf, n);
	errno = saved;
}

static void
log_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	log_flush();
}

/* one line to stderr: into this pass's lines, or out at once */
static void
log_stderr(int pri, const char *line)
{
	char	*p;
	char	 pre[8] = "";
	size_t	 n, pn, xn, need;

	if (log_pri_prefix)
		snprintf(pre, sizeof(pre), "<%d>", LOG_PRI(pri));
	if (!lb.on || !pthread_equal(pthread_self(), lb.thread)) {
		fprintf(stderr, "%s%s: %s\n", pre, log_procname, line);
		fflush(stderr);
		return;
	}
	xn = strlen(pre);
	pn = strlen(log_procname);
	n = strlen(line);
	need = xn + pn + 2 + n + 1;
	if (lb.len + need > sizeof(lb.buf))
		log_flush();
	if (need > sizeof(lb.buf)) {
		fprintf(stderr, "%s%s: %s\n", pre, log_procname, line);
		fflush(stderr);
		return;
	}
	if (lb.len == 0)
		event_active(lb.ev, EV_TIMEOUT, 0);
	p = lb.buf + lb.len;
	memcpy(p, pre, xn);
	memcpy(p + xn, log_procname, pn);
	memcpy(p + xn + pn, ": ", 2);
	memcpy(p + xn + pn + 2, line, n);
	p[xn + pn + 2 + n] = '\n';
	lb.len += need;
}

const char *
log_sanitize(char *dst, size_t n, const char *src)
{
	sanitize_text(dst, n, src, strlen(src), SAN_LOG);
	return (dst);
}

/*
 * An address for a log line's <...>: sanitized as log_sanitize does, and
 * the bytes that could end it or split the line's fields (a space, '<',
 * '>' in a quoted local part) written %XX, '%' too, so that a parser
 * takes the address at the first '>' and gets it back; one escape is
 * never cut.
 */
const char *
log_addr(char *dst, size_t n, const char *src)
{
	char		 s[1024];
	size_t		 i, o = 0;
	unsigned char	 c;

	if (n == 0)
		return (dst);
	sanitize_text(s, sizeof(s), src, strlen(src), SAN_LOG);
	for (i = 0; (c = s[i]) != '\0'; i++) {
		if (strchr(" <>%", c) == NULL) {
			if (o + 1 >= n)
				break;
			dst[o++] = c;
			continue;
		}
		if (o + 3 >= n)
			break;
		snprintf(dst + o, 4, "%%%02X", c);
		o += 3;
	}
	dst[o] = '\0';
	return (dst);
}

/*
 * From now on keep the first error logged in buf (len bytes, "" if none)
 * and count them, until log_capture(NULL, 0), which returns the count.
 */
int
log_capture(char *buf, size_t len)
{
	int	 n = cap.n;

	cap.buf = buf;
	cap.len = len;
	cap.n = 0;
	if (buf != NULL && len > 0)
		buf[0] = '\0';
	return (n);
}

/* one line out, sanitized; now: past the loop (log_libevent) */
static void
log_out(int pri, char *buf, size_t size, int now)
{
	/* a log line never carries CR, LF or other control bytes */
	sanitize_text(buf, size, buf, size, SAN_LOG);
	if (cap.buf != NULL && pri <= LOG_ERR && cap.n++ == 0)
		strlcpy(cap.buf, buf, cap.len);
	if (!log_debug_mode)
		syslog(pri, "%s: %s", log_procname, buf);
	else if (!now)
		log_stderr(pri, buf);
	else {
		if (lb.on && pthread_equal(pthread_self(), lb.thread))
			log_flush();
		/* one write: the stream is shared with the other processes */
		if (log_pri_prefix)
			fprintf(stderr, "<%d>%s: %s\n", LOG_PRI(pri),
			    log_procname, buf);
		else
			fprintf(stderr, "%s: %s\n", log_procname, buf);
		fflush(stderr);
	}
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 buf[4096];
	int	 saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_out(pri, buf, sizeof(buf), 0);
	errno = saved;
}

/* a message of libevent's: see the top of this file */
static void
log_libevent(int severity, const char *msg)
{
	char	 buf[1024];
	int	 pri, saved = errno;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		if (log_verbose < 1)
			return;
		pri = LOG_DEBUG;
		break;
	case EVENT_LOG_MSG:
		pri = LOG_INFO;
		break;
	default:
		pri = LOG_ERR;
		break;
	}
	snprintf(buf, sizeof(buf), "libevent: %s", msg != NULL ? msg : "");
	log_out(pri, buf, sizeof(buf), 1);
	errno = saved;
}

void
logit(int pri, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vlog_errno(int pri, int err, const char *fmt, va_list ap)
{
	char	buf[4096];

	if (fmt == NULL) {
		logit(pri, "%s", strerror(err));
		return;
	}
	vsnprintf(buf, sizeof(buf), fmt, ap);
	logit(pri, "%s: %s", buf, strerror(err));
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, err, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	err = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, err, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_flush();
	exit(1);
}

int
log_every_due(struct log_every *le, long secs, unsigned long *skipped,
    long *since)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((le->last.tv_sec != 0 || le->last.tv_nsec != 0) &&
	    now.tv_sec - le->last.tv_sec < secs) {
		le->skipped++;
		return (0);
	}
	*skipped = le->skipped;
	*since = (long)(now.tv_sec - le->last.tv_sec);
	le->last = now;
	le->skipped = 0;
	return (1);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Logging to syslog or stderr.  On stderr (-d, the way the systemd unit
 * runs it) a process with an event loop (log_setbase) gathers the info
 * and debug lines of a loop pass and writes them with one write(2) at
 * its end: whole lines, at most PIPE_BUF bytes, so that they do not mix
 * with other processes' lines; a warning or error writes at once, after
 * what was gathered.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sanitize.h"

static int		 log_debug_mode;
static int		 log_verbose;
static const char	*log_procname = "mailhookd";
static struct event	*log_ev;		/* the end of a loop pass */
static char		 log_buf[PIPE_BUF];	/* whole lines */
static size_t		 log_len;

void
log_init(int debug, int facility)
{
	log_debug_mode = debug;
	if (!debug)
		openlog("mailhookd", LOG_PID | LOG_NDELAY, facility);
	tzset();
}

static void
log_write(const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(STDERR_FILENO, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += n;
		len -= n;
	}
}

/* what was gathered, to stderr */
static void
log_flush(void)
{
	log_write(log_buf, log_len);
	log_len = 0;
}

static void
log_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	log_flush();
}

void
log_setbase(struct event_base *base)
{
	if (log_ev != NULL || !log_debug_mode)
		return;
	if ((log_ev = evtimer_new(base, log_flush_cb, NULL)) == NULL)
		return;		/* every line written at once */
	atexit(log_flush);
}

/* one line to stderr: gathered for the end of the pass, or now */
static void
log_stderr(int pri, const char *line)
{
	struct timeval	 now = { 0, 0 };
	size_t		 len = strlen(line);

	if (log_ev == NULL || pri <= LOG_WARNING || len > sizeof(log_buf)) {
		log_flush();
		log_write(line, len);
		return;
	}
	if (log_len + len > sizeof(log_buf))
		log_flush();
	memcpy(log_buf + log_len, line, len);
	log_len += len;
	/* a zero timer runs after the I/O callbacks of this pass */
	if (!evtimer_pending(log_ev, NULL))
		evtimer_add(log_ev, &now);
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

const char *
log_sanitize(char *dst, size_t n, const char *src)
{
	sanitize_text(dst, n, src, strlen(src), SAN_LOG);
	return (dst);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 buf[4096], line[4096 + 64];
	int	 saved = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* a log line never carries CR, LF or other control bytes */
	sanitize_text(buf, sizeof(buf), buf, sizeof(buf), SAN_UTF8);
	if (log_debug_mode) {
		snprintf(line, sizeof(line), "%s: %s\n", log_procname, buf);
		log_stderr(pri, line);
	} else
		syslog(pri, "%s: %s", log_procname, buf);
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
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

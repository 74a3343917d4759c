/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Logging: syslog, or stderr when running in the foreground (-d).
 */
#ifndef MH_LOG_H
#define MH_LOG_H

#include <stdarg.h>
#include <time.h>

struct event_base;

void	log_init(int debug, int facility);
/*
 * On stderr: the lines of the calling thread, base's loop, are written
 * once per pass of that loop (and before fatal() exits, and at exit)
 * instead of one write each; a child calls it once it runs its loop.
 */
void	log_buffer(struct event_base *);
/* write the lines kept so far (async-signal-safe) */
void	log_flush(void);
void	log_procinit(const char *);
void	log_setverbose(int);
int	log_getverbose(void);
void	log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	logit(int, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	vlog(int, const char *, va_list)
	    __attribute__((__format__ (printf, 2, 0)));
__attribute__((noreturn)) void fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
/* keep the first error in buf until log_capture(NULL, 0): their count */
int	log_capture(char *buf, size_t len);
/* copy src into dst (size n) replacing anything not printable ASCII by '?' */
const char *log_sanitize(char *dst, size_t n, const char *src);
/* an address for a log line's <...>: log_sanitize, and ' ' '<' '>' '%'
 * written %XX (dst: LOG_ADDR_MAX holds any address) */
const char *log_addr(char *dst, size_t n, const char *src);
#define LOG_ADDR_MAX	1024

/*
 * A line said at most once every secs seconds: log_every_due() is 1 when
 * it is due now, with *skipped the lines it left out since the last one
 * and *since how long ago that was (s); 0 (one more left out) else.
 */
struct log_every {
	struct timespec	 last;
	unsigned long	 skipped;
};
int	log_every_due(struct log_every *, long secs, unsigned long *skipped,
	    long *since);

#endif /* MH_LOG_H */

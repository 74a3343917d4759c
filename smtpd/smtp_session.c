/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * One SMTP session: socket and TLS I/O on libevent, the input loop,
 * the replies and timeouts.  The commands and the verdicts of authd
 * live in smtp_cmd.c, transactions and the message data in smtp_tx.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <tls.h>

#include "log.h"
#include "metrics.h"
#include "smtp.h"
#include "smtp_backend.h"
#include "smtpd.h"

#define CLOSE_LINGER	5	/* seconds to flush the last reply */

static int	session_io(struct session *);
static void	session_destroy(struct session *);
static void	io_update(struct session *);
static void	timer_reset(struct session *);

static const char *state_names[] = {
	"greeting", "tls-handshake", "command", "auth", "auth", "auth",
	"starttls", "data", "bdat", "closing"
};

const char *
session_state_name(int st)
{
	if (st < 0 || st > S_CLOSING)
		return ("unknown");
	return (state_names[st]);
}

/* format a reply line; anything unprintable is replaced, CRLF appended */
static void
reply_v(struct session *s, const char *fmt, va_list ap)
{
	char	 buf[1024];
	size_t	 i;

	if (s->state == S_CLOSING)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	evbuffer_add(s->out, buf, i);
	evbuffer_add(s->out, "\r\n", 2);
}

void
session_reply(struct session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	reply_v(s, fmt, ap);
	va_end(ap);
}

/* a reply that counts as a protocol error */
void
session_error(struct session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	reply_v(s, fmt, ap);
	va_end(ap);
	if (smtp_g.max_errors > 0 && ++s->errors >= smtp_g.max_errors) {
		session_reply(s, "421 4.7.0 %s Too many errors, closing "
		    "connection", s->lc->hostname);
		session_close(s, "too-many-errors");
	}
}

/*
 * A RCPT whose verdict the session still waits for: authd forgets it, so
 * that its authorization callback does not keep a place in the route's
 * concurrency queue for a client that is gone
 */
static void
rcpt_forget(struct session *s)
{
	if (s->wait == W_RCPT) {
		backend_rcpt_cancel(s->reqid);
		s->wait = W_NONE;
	}
}

void
session_close(struct session *s, const char *reason)
{
	struct timeval	 tv = { CLOSE_LINGER, 0 };

	if (s->state == S_CLOSING)
		return;
	rcpt_forget(s);
	tx_abort(s);
	s->wait = W_NONE;
	s->state = S_CLOSING;
	strlcpy(s->reason, reason, sizeof(s->reason));
	s->ioff = s->ilen;
	evtimer_add(&s->tmo, &tv);
}

/*
 * DATA was refused, and bytes past its line came before the refusal
 * went: the client did not wait for the 354 (RFC 2920 3.1: DATA ends a
 * pipelined group) and they are its message, not commands to run.  As
 * Postfix and Exim, a pipelining error: the session ends, not reading
 * them.
 */
void
session_data_refused(struct session *s)
{
	size_t	 n;

	if (s->state == S_CLOSING || s->ibuf == NULL || s->ioff >= s->ilen)
		return;
	n = s->ilen - s->ioff;
	SLOG(s, "event=pipelining-error after=DATA bytes=%zu ip=%s", n,
	    s->ip);
	session_reply(s, "554 5.5.0 Protocol error: improper use of "
	    "pipelining after DATA");
	session_close(s, "pipelining-error");
}

static void
session_destroy(struct session *s)
{
	if (s->destroyed)
		return;
	s->destroyed = 1;
	rcpt_forget(s);
	tx_abort(s);
	SLOG(s, "event=disconnect reason=%s duration=%lld ip=%s",
	    s->reason[0] ? s->reason : "unknown",
	    (long long)(time(NULL) - s->started), s->ip);
	if (s->evflags)
		event_del(&s->ev);
	evtimer_del(&s->tmo);
	if (s->tls != NULL) {
		tls_close(s->tls);
		tls_free(s->tls);
	}
	close(s->fd);
	smtp_session_remove(s);
	smtp_conf_unref(s->conf);
	evbuffer_free(s->out);
	free(s->ibuf);
	explicit_bzero(s->login_user, sizeof(s->login_user));
	free(s);
}

void
session_shutdown(struct session *s)
{
	session_reply(s, "421 4.3.2 %s Service shutting down",
	    s->lc->hostname);
	session_close(s, "shutdown");
	(void)session_io(s);
}

static void
send_greeting(struct session *s)
{
	s->greeted = 1;
	s->state = S_CMD;
	session_reply(s, "220 %s ESMTP mailhook", s->lc->hostname);
	timer_reset(s);
}

static void
greeting_start(struct session *s)
{
	struct timeval	 tv;

	s->state = S_GREETING;
	tv.tv_sec = smtp_g.greet_delay_ms / 1000;
	tv.tv_usec = (smtp_g.greet_delay_ms % 1000) * 1000;
	evtimer_add(&s->tmo, &tv);
}

static void
session_timer(int fd, short ev, void *arg)
{
	static const struct timeval	 commit_wait = { 1, 0 };
	struct session			*s = arg;

	switch (s->state) {
	case S_GREETING:
		/* last chance for an early talker to show itself (with no
		 * delay the loop has already reported any input) */
		if (smtp_g.greet_delay_ms > 0)
			s->rdrained = 0;
		if (session_io(s) == -1 || s->state != S_GREETING)
			return;
		send_greeting(s);
		break;
	case S_CLOSING:
		/* the client did not read its last reply: why the session
		 * closed stays first in the log */
		if (s->reason[0] != '\0')
			strlcat(s->reason, ",close-timeout", sizeof(s->reason));
		else
			strlcpy(s->reason, "close-timeout", sizeof(s->reason));
		session_destroy(s);
		return;
	case S_TLS_HS:
		/* no reply can go before TLS is up: the session ends now */
		smtp_g.t_timeouts++;
		SLOG(s, "event=tls result=fail error=\"handshake timed out\" "
		    "ip=%s", s->ip);
		strlcpy(s->reason, "tls-handshake-timeout", sizeof(s->reason));
		session_destroy(s);
		return;
	default:
		if (s->wait == W_COMMIT) {
			/*
			 * The message is being committed, or POSTed (mode
			 * sync); its answer comes (hookd bounds a POST by the
			 * route's timeout).  A 421 now would have the client
			 * send again what may be taken: the time limit waits.
			 */
			evtimer_add(&s->tmo, &commit_wait);
			return;
		}
		if (s->wait != W_NONE &&
		    time(NULL) < s->started + smtp_g.session_timeout) {
			/* the client waits for us (a verdict, a commit), not
			 * we for it: its idle time starts when we answer */
			timer_reset(s);
			return;
		}
		smtp_g.t_timeouts++;
		if (time(NULL) >= s->started + smtp_g.session_timeout) {
			session_reply(s, "421 4.4.2 %s Session time limit "
			    "exceeded", s->lc->hostname);
			session_close(s, "session-timeout");
		} else {
			session_reply(s, "421 4.4.2 %s Idle timeout, closing "
			    "connection", s->lc->hostname);
			session_close(s, "idle-timeout");
		}
		break;
	}
	session_io(s);
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* the timeout fires at deadline (ms), or at the end of the session */
static void
timer_at(struct session *s, int64_t deadline)
{
	struct timeval	 tv;
	int64_t		 now = now_ms(), left;
	time_t		 sleft;

	s->deadline = deadline;
	left = deadline > now ? deadline - now : 0;
	sleft = s->started + smtp_g.session_timeout - time(NULL);
	if (left > (int64_t)sleft * 1000)
		left = sleft > 0 ? (int64_t)sleft * 1000 : 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(&s->tmo, &tv);
}

/*
 * A command (or a DATA) starts: the whole of it must come within the
 * idle timeout.  Bytes of a partial line do not extend it (slowloris).
 */
static void
timer_reset(struct session *s)
{
	if (s->state == S_GREETING || s->state == S_CLOSING)
		return;
	timer_at(s, now_ms() + (int64_t)s->conf->timeout * 1000);
}

/*
 * Message data arrived: every n bytes extend the deadline by
 * n / min-data-rate seconds, never past the idle timeout from now
 * (as Postfix's smtpd_min_data_rate), so a trickle runs out of time.
 */
static void
timer_data(struct session *s, size_t n)
{
	int64_t	 now = now_ms(), max, d;

	if (s->conf->min_data_rate <= 0) {
		timer_reset(s);
		return;
	}
	max = now + (int64_t)s->conf->timeout * 1000;
	d = s->deadline + (int64_t)n * 1000 / s->conf->min_data_rate;
	timer_at(s, d < max ? d : max);
}

static void
io_cb(int fd, short ev, void *arg)
{
	struct session	*s = arg;

	if (ev & EV_READ)
		s->rdrained = 0;
	session_io(s);
}

/*
 * Replies past SMTP_OUT_MAX wait for the client to read: no more input
 * is read, and what is read is not acted on, since a buffer of pipelined
 * short commands (EHLO) would queue twenty times its size in replies.
 */
static int
output_full(struct session *s)
{
	return (evbuffer_get_length(s->out) >= SMTP_OUT_MAX);
}

static int
reading_enabled(struct session *s)
{
	switch (s->state) {
	case S_TLS_HS:
	case S_STARTTLS:
	case S_CLOSING:
		return (0);
	default:
		break;
	}
	if (s->peer_eof)
		return (0);
	if (s->ibuf != NULL && s->ilen - s->ioff >= SMTP_IBUF_SIZE)
		return (0);
	return (!output_full(s));
}

static void
io_update(struct session *s)
{
	short	 fl = 0;

	if (s->destroyed)
		return;
	if (s->state == S_TLS_HS)
		fl = s->tls_want == TLS_WANT_POLLOUT ? EV_WRITE : EV_READ;
	else {
		if (evbuffer_get_length(s->out) > 0)
			fl |= (s->tls && s->wr_want == TLS_WANT_POLLIN) ?
			    EV_READ : EV_WRITE;
		if (reading_enabled(s))
			fl |= (s->tls && s->rd_want == TLS_WANT_POLLOUT) ?
			    EV_WRITE : EV_READ;
	}
	if (fl == s->evflags)
		return;
	if (s->evflags)
		event_del(&s->ev);
	s->evflags = fl;
	if (fl == 0)
		return;
	event_assign(&s->ev, smtp_g.base, s->fd, fl | EV_PERSIST, io_cb, s);
	event_add(&s->ev, NULL);
}

/* read what is there; -1 on EOF or error (reason set) */
static ssize_t
io_fill(struct session *s)
{
	ssize_t	 n, total = 0;

	if (s->ibuf == NULL) {
		if ((s->ibuf = malloc(SMTP_IBUF_SIZE)) == NULL) {
			strlcpy(s->reason, "out-of-memory", sizeof(s->reason));
			return (-1);
		}
		s->ilen = s->ioff = 0;
	}
	if (s->ioff > 0) {
		memmove(s->ibuf, s->ibuf + s->ioff, s->ilen - s->ioff);
		s->ilen -= s->ioff;
		s->ioff = 0;
	}
	while (s->ilen < SMTP_IBUF_SIZE) {
		if (s->tls != NULL) {
			n = tls_read(s->tls, s->ibuf + s->ilen,
			    SMTP_IBUF_SIZE - s->ilen);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				s->rd_want = n;
				break;
			}
			s->rd_want = 0;
			if (n == -1) {
				SLOG(s, "event=tls-error error=\"%s\" ip=%s",
				    tls_error(s->tls), s->ip);
				strlcpy(s->reason, "tls-error",
				    sizeof(s->reason));
				return (-1);
			}
		} else {
			n = read(s->fd, s->ibuf + s->ilen,
			    SMTP_IBUF_SIZE - s->ilen);
			if (n == -1) {
				if (errno == EAGAIN)
					s->rdrained = 1;
				if (errno == EAGAIN || errno == EINTR)
					break;
				strlcpy(s->reason, "read-error",
				    sizeof(s->reason));
				return (-1);
			}
		}
		if (n == 0) {
			strlcpy(s->reason, "eof", sizeof(s->reason));
			/* a half-close: what came is answered first (RFC
			 * 2920), then the session ends (session_io) */
			if (total > 0 || s->ioff < s->ilen ||
			    s->wait != W_NONE) {
				s->peer_eof = 1;
				break;
			}
			return (-1);
		}
		if (s->tls == NULL && n > 0 &&
		    (size_t)n < SMTP_IBUF_SIZE - s->ilen)
			s->rdrained = 1;	/* took all there was */
		s->ilen += n;
		total += n;
		if (s->tls == NULL)
			break;
	}
	return (total);
}

/* write what we can; -1 on error */
static int
io_flush(struct session *s)
{
	size_t	 len;
	ssize_t	 n;
	void	*p;

	while ((len = evbuffer_get_length(s->out)) > 0) {
		if (len > 16384)
			len = 16384;
		p = evbuffer_pullup(s->out, len);
		if (s->tls != NULL) {
			n = tls_write(s->tls, p, len);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				s->wr_want = n;
				return (0);
			}
			s->wr_want = 0;
			if (n == -1)
				return (-1);
		} else {
			n = write(s->fd, p, len);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return (0);
				return (-1);
			}
		}
		evbuffer_drain(s->out, n);
	}
	return (0);
}

static void
tls_done(struct session *s)
{
	const char	*v, *c;

	s->tls_on = 1;
	smtp_g.t_tls++;
	v = tls_conn_version(s->tls);
	c = tls_conn_cipher(s->tls);
	smtp_safe(s->tls_version, sizeof(s->tls_version), v ? v : "unknown");
	smtp_safe(s->tls_cipher, sizeof(s->tls_cipher), c ? c : "unknown");
	SLOG(s, "event=tls version=%s cipher=%s", s->tls_version,
	    s->tls_cipher);
	if (!s->greeted) {
		greeting_start(s);
		return;
	}
	/* RFC 3207: forget everything learned before the handshake */
	s->state = S_CMD;
	s->ehlo = 0;
	s->helo[0] = '\0';
	timer_reset(s);
}

/* 0: done or in progress, -1: failed (reason set) */
static int
tls_hs(struct session *s)
{
	int	 r;

	r = tls_handshake(s->tls);
	if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
		s->tls_want = r;
		return (0);
	}
	if (r == -1) {
		SLOG(s, "event=tls result=fail error=\"%s\" ip=%s",
		    tls_error(s->tls), s->ip);
		strlcpy(s->reason, "tls-handshake", sizeof(s->reason));
		return (-1);
	}
	tls_done(s);
	return (0);
}

static int
tls_start(struct session *s)
{
	if (s->lc->tls == NULL ||
	    tls_accept_socket(s->lc->tls, &s->tls, s->fd) == -1) {
		SLOG(s, "event=tls result=fail error=accept ip=%s", s->ip);
		strlcpy(s->reason, "tls-accept", sizeof(s->reason));
		return (-1);
	}
	s->state = S_TLS_HS;
	s->tls_want = TLS_WANT_POLLIN;
	/*
	 * A handshake in progress holds some 45 KB of TLS state (an idle
	 * session 2 KB): it gets limit tls-handshake-timeout, not the idle
	 * timeout, and its bytes do not extend it.
	 */
	timer_at(s, now_ms() + (int64_t)s->conf->hs_timeout * 1000);
	return (0);
}

/*
 * What EHLO offers in this session, and so what HELP lists and which
 * command lines may be long: STARTTLS before TLS on a listener with
 * it, AUTH only over TLS on a listener with it (cmd_auth refuses it
 * otherwise).
 */
int
offers_starttls(struct session *s)
{
	return (!s->tls_on && s->lc->tls != NULL &&
	    (s->lc->flags & (LF_STARTTLS | LF_TLS_REQUIRE)));
}

int
offers_auth(struct session *s)
{
	return (s->tls_on && (s->lc->flags & LF_AUTH));
}

/*
 * The longest command line: AUTH's lines may carry SMTP_AUTH_LINE_MAX
 * where AUTH is offered; elsewhere an AUTH line is an ordinary command
 * (RFC 5321 4.5.3.1.4), to be refused after it is read.
 */
static size_t
cmd_line_max(struct session *s, const char *p, size_t avail)
{
	if (s->state == S_AUTH_PLAIN || s->state == S_AUTH_USER ||
	    s->state == S_AUTH_PASS)
		return (SMTP_AUTH_LINE_MAX);
	if (avail >= 5 && strncasecmp(p, "AUTH ", 5) == 0 && offers_auth(s))
		return (SMTP_AUTH_LINE_MAX);
	if (avail >= 5 && (strncasecmp(p, "MAIL ", 5) == 0 ||
	    strncasecmp(p, "RCPT ", 5) == 0))
		return (SMTP_MAILRCPT_MAX);
	return (SMTP_CMD_MAX);
}

/*
 * A line that cannot be read (too long, bare CR or LF, NUL) during an
 * AUTH exchange ends the exchange (RFC 4954 4), so the client's next
 * line is a command again, not a response.
 */
static int
auth_line_error(struct session *s)
{
	if (s->state != S_AUTH_PLAIN && s->state != S_AUTH_USER &&
	    s->state != S_AUTH_PASS)
		return (0);
	s->state = S_CMD;
	explicit_bzero(s->login_user, sizeof(s->login_user));
	return (1);
}

/* one command line from the buffer; 0 when more input is needed */
static int
input_line(struct session *s)
{
	char		 line[SMTP_AUTH_LINE_MAX];
	const char	*p = s->ibuf + s->ioff;
	size_t		 avail = s->ilen - s->ioff, ll = 0, c = 0;
	int		 r, fl = 0;

	if (!s->skipping) {
		r = smtp_line_scan(p, avail, cmd_line_max(s, p, avail),
		    LMODE_CMD, &ll, &c, &fl);
		if (r == LINE_MORE)
			return (0);
		/* skipped now: a line that consumed nothing would leave a
		 * session with all its input read waiting for more */
		s->skipping = r == LINE_LONG;
	}
	if (s->skipping) {
		r = smtp_line_skip(p, avail, LMODE_CMD, &c);
		s->ioff += c;
		if (!r)
			return (0);
		s->skipping = 0;
		if (auth_line_error(s))
			session_error(s, "500 5.5.6 Authentication Exchange "
			    "line is too long");
		else
			session_error(s, "500 5.5.2 Line too long");
		return (1);
	}
	s->ioff += c;
	if (fl & (LN_BARE_CR | LN_BARE_LF | LN_NUL))
		(void)auth_line_error(s);
	if (fl & LN_BARE_LF) {
		/*
		 * The line ended at a bare LF, where a filter in front that
		 * ends lines only at CRLF goes on reading one command: the
		 * rest is not run (as Postfix's smtpd_forbid_bare_newline).
		 */
		SLOG(s, "event=bare-lf ip=%s", s->ip);
		session_reply(s, "521 5.5.2 %s Bare LF received, closing "
		    "connection", s->lc->hostname);
		session_close(s, "bare-lf");
		return (1);
	}
	if (fl & LN_BARE_CR) {
		session_error(s, "500 5.5.2 Bare CR not allowed");
		return (1);
	}
	if (fl & LN_NUL) {
		session_error(s, "500 5.5.2 NUL character not allowed");
		return (1);
	}
	memcpy(line, p, ll);
	line[ll] = '\0';
	if (s->state == S_CMD)
		session_command(s, line);
	else
		auth_continue(s, line);
	explicit_bzero(line, ll);
	return (1);
}

static void
process_input(struct session *s)
{
	size_t	 before;

	while (s->wait == W_NONE && s->ibuf != NULL && s->ioff < s->ilen &&
	    !output_full(s)) {
		before = s->ioff;
		switch (s->state) {
		case S_GREETING:
			SLOG(s, "event=early-talker ip=%s", s->ip);
			session_reply(s, "554 5.5.1 Protocol error: input "
			    "before the greeting");
			session_close(s, "early-talker");
			return;
		case S_DATA:
			tx_data_input(s);
			break;
		case S_BDAT:
			tx_bdat_input(s);
			break;
		case S_CMD:
		case S_AUTH_PLAIN:
		case S_AUTH_USER:
		case S_AUTH_PASS:
			if (!input_line(s))
				return;
			break;
		default:
			return;
		}
		if (s->ioff == before && s->state != S_BDAT)
			return;
	}
}

/* -1 when the session is gone */
static int
session_io(struct session *s)
{
	size_t	 outlen, before;
	ssize_t	 r;
	int	 i, progress, partial;

	for (i = 0; i < 32; i++) {
		progress = 0;
		if (s->state == S_TLS_HS) {
			if (tls_hs(s) == -1) {
				session_destroy(s);
				return (-1);
			}
			if (s->state == S_TLS_HS)
				break;
		}
		if (evbuffer_get_length(s->out) > 0 && io_flush(s) == -1) {
			strlcpy(s->reason, "write-error", sizeof(s->reason));
			session_destroy(s);
			return (-1);
		}
		if (s->state == S_CLOSING) {
			if (evbuffer_get_length(s->out) == 0) {
				session_destroy(s);
				return (-1);
			}
			break;
		}
		if (s->state == S_STARTTLS) {
			if (evbuffer_get_length(s->out) > 0)
				break;
			if (tls_start(s) == -1) {
				session_destroy(s);
				return (-1);
			}
			continue;
		}
		if (reading_enabled(s) && (s->tls != NULL || !s->rdrained)) {
			partial = s->ibuf != NULL && s->ioff < s->ilen;
			if ((r = io_fill(s)) == -1) {
				if (s->state == S_GREETING)
					strlcpy(s->reason,
					    "eof-before-greeting",
					    sizeof(s->reason));
				session_destroy(s);
				return (-1);
			}
			if (r > 0) {
				progress = 1;
				if (s->state == S_DATA || s->state == S_BDAT)
					timer_data(s, r);
				else if (!partial && !s->skipping)
					timer_reset(s);	/* a command begins */
			}
		}
		outlen = evbuffer_get_length(s->out);
		before = s->ioff;
		process_input(s);
		/* not the part of an overlong line that was skipped: a line
		 * that never ends must not hold the session for ever */
		if (s->ioff != before && s->state != S_DATA &&
		    s->state != S_BDAT && !s->skipping)
			timer_reset(s);		/* a command ended */
		if (s->ioff != before || evbuffer_get_length(s->out) != outlen)
			progress = 1;
		else if (s->peer_eof && s->wait == W_NONE &&
		    s->state != S_CLOSING && !output_full(s)) {
			/* nothing more comes: the replies go, then the end
			 * (commands still read wait for room, not dropped) */
			session_close(s, "eof");
			progress = 1;
		}
		if (s->state == S_CLOSING || s->state == S_STARTTLS)
			progress = 1;
		if (!progress)
			break;
	}
	if (s->ibuf != NULL && s->ioff == s->ilen) {
		free(s->ibuf);
		s->ibuf = NULL;
		s->ilen = s->ioff = 0;
	}
	io_update(s);
	if (i == 32 && s->evflags)
		event_active(&s->ev, EV_READ, 1);
	return (0);
}

void
session_resume(struct session *s)
{
	/* stopping: the answer just given is the last one before 421 */
	if (smtp_g.stopping && s->wait == W_NONE) {
		session_shutdown(s);
		return;
	}
	timer_reset(s);		/* we answered: the client's turn */
	session_io(s);
}

/*
 * A session for the accepted fd from ip (its address as
 * listener_accept() wrote it, whose slots it took); -1, with fd still
 * the caller's, when there is no memory for one.
 */
int
session_new(int fd, const char *ip, struct sockaddr_storage *ss,
    struct smtp_conf *c, const struct smtp_lconf *lc)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	if ((s->out = evbuffer_new()) == NULL) {
		free(s);
		return (-1);
	}
	s->fd = fd;
	s->rdrained = 1;	/* the loop reports the first bytes */
	s->conf = c;
	c->refcnt++;
	s->lc = lc;
	s->started = time(NULL);
	strlcpy(s->ip, ip, sizeof(s->ip));
	if (ss->ss_family == AF_INET)
		s->port = ntohs(((struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		s->port = ntohs(((struct sockaddr_in6 *)ss)->sin6_port);
	smtp_session_insert(s);
	evtimer_assign(&s->tmo, smtp_g.base, session_timer, s);
	SLOG(s, "event=connect ip=%s port=%u listener=%u", s->ip,
	    (unsigned)s->port, lc->id);
	metrics_inc(M_SMTP_SESSIONS, lc->label, NULL);
	if (lc->flags & LF_SMTPS) {
		if (tls_start(s) == -1) {
			session_destroy(s);
			return (0);
		}
	} else
		greeting_start(s);
	session_io(s);
	return (0);
}

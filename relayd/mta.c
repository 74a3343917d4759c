/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP client: its connections and their states, EHLO/HELO,
 * STARTTLS through libtls, AUTH PLAIN or LOGIN to a smarthost, what each
 * reply leads to, failures and why an address was left, the socket's
 * reads and writes, connection reuse per domain.  Where a connection goes
 * is mta_mx.c (MX lookup, or the smarthost, and connect), the reply lines
 * mta_reply.c, the pipelined multi-recipient transactions and the body
 * mta_tx.c, the TLS policy mta_tls.c.
 *
 * Every byte from the server is checked: a reply is "ddd[- ]text" lines
 * with one code, bounded in line length and total size (any number of
 * lines up to that size: only the first line's text is kept); anything
 * else ends the connection as a temporary failure.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tls.h>

#include "log.h"
#include "relayd.h"
#include "dns.h"
#include "mta.h"
#include "sanitize.h"

#include <event2/event.h>
#include <event2/buffer.h>

#define MAX_MSGS_CONN	100
/* an open connection waits this long for the next message to its domain
 * (Postfix's smtp_connection_cache_time_limit) */
#define IDLE_SECS	2

static const char *stage_names[] = {
	"dns", "connect", "connect", "connect", "helo", "helo", "starttls",
	"starttls", "auth", "mail", "data", "data", "rset", "mail", "quit",
	"quit"
};

static struct mconnlist	 conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, mconn) dirtyconns = TAILQ_HEAD_INITIALIZER(dirtyconns);
static TAILQ_HEAD(, mconn) idleconns = TAILQ_HEAD_INITIALIZER(idleconns);
static struct event	*flush_ev;
static struct relay_via	 via;		/* host "": by MX */
static int		 stopping;	/* mta_stop: nothing new starts */

static void	 conn_flush_all(int, short, void *);
static int	 conn_write(struct mconn *);
static void	 conn_timeout(int, short, void *);
static void	 refused_done(struct mconn *);
static void	 conn_undirty(struct mconn *);
static void	 idle_leave(struct mconn *);
static void	 tx_move_on(struct mconn *, int);

int
mta_init(void)
{
	struct relay_via	 n;
	const char		*why;

	if (flush_ev == NULL && (flush_ev = event_new(relay_base, -1, 0,
	    conn_flush_all, NULL)) == NULL)
		return (-1);
	if (mtls_init() == -1)
		return (-1);
	/* a smart host relayd cannot use keeps the one it had */
	if ((why = config_relay_via_parse(relay_conf->relay_via, &n)) != NULL) {
		log_warnx("relay via: %s; keeping the previous one", why);
		return (-1);
	}
	if ((why = config_relay_auth_parse(relay_conf->relay_auth_data,
	    &n)) != NULL) {
		log_warnx("relay via auth \"%s\": %s; keeping the previous "
		    "smart host", relay_conf->relay_auth, why);
		explicit_bzero(&n, sizeof(n));
		return (-1);
	}
	explicit_bzero(&via, sizeof(via));
	via = n;
	explicit_bzero(&n, sizeof(n));
	/* open connections may go to the smart host of before */
	while (mta_idle_quit())
		;
	return (0);
}

void
mta_shutdown(void)
{
	struct mconn	*c;

	while ((c = TAILQ_FIRST(&conns)) != NULL) {
		if (c->job != NULL) {
			struct rjob *j = c->job;
			c->job = NULL;
			sched_job_done(j);
		}
		mconn_free(c);
	}
}

/*
 * A stop (relayd_drain): a connection whose final dot is sent goes on
 * until its reply is in (mta_in_dot); every other one stops where it is,
 * no byte more, no new connection, as if the process had already exited
 * (its messages are tried again at the next start).  Returns how many
 * replies to a final dot are awaited.
 */
int
mta_stop(void)
{
	struct mconn	*c;

	stopping = 1;
	TAILQ_FOREACH(c, &conns, entry) {
		if (c->state == M_DOT)
			continue;
		conn_undirty(c);
		if (c->evr != NULL)
			event_del(c->evr);
		if (c->evw != NULL)
			event_del(c->evw);
		if (c->evt != NULL)
			event_del(c->evt);
	}
	return (mta_in_dot());
}

/* connections whose final dot is sent and its reply not yet read */
int
mta_in_dot(void)
{
	struct mconn	*c;
	int		 n = 0;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->state == M_DOT)
			n++;
	return (n);
}

/* mta_stop was called: nothing new starts (conn_next_addr) */
int
mta_stopping(void)
{
	return (stopping);
}

int
mta_smarthost(void)
{
	return (via.host[0] != '\0');
}

/* connections at work (an idle one waits for nothing in the queue) */
int
mta_active(void)
{
	struct mconn	*c;
	int		 n = 0;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->state != M_IDLE)
			n++;
	return (n);
}

void
set_timeout(struct mconn *c, int secs)
{
	struct timeval	 tv = { secs, 0 };

	evtimer_add(c->evt, &tv);
}

/* the socket is full (or TLS wants to write): wait until it is not */
static void
arm_write(struct mconn *c)
{
	if (c->evw != NULL)
		event_add(c->evw, NULL);
}

/*
 * Output is queued: it is written once at the end of this pass of the
 * event loop (no poll for a socket that is almost always writable).
 */
void
want_write(struct mconn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	TAILQ_INSERT_TAIL(&dirtyconns, c, dirty_entry);
	event_active(flush_ev, EV_TIMEOUT, 0);
}

static void
conn_undirty(struct mconn *c)
{
	if (c->dirty) {
		TAILQ_REMOVE(&dirtyconns, c, dirty_entry);
		c->dirty = 0;
	}
}

static void
conn_flush_all(int fd, short ev, void *arg)
{
	struct mconn	*c;
	int		 r;

	while ((c = TAILQ_FIRST(&dirtyconns)) != NULL) {
		conn_undirty(c);
		if (c->state == M_CONNECT || c->fd == -1)
			continue;	/* evw says when it is connected */
		if (c->state == M_HANDSHAKE) {
			conn_io(c->fd, EV_WRITE, c);
			continue;
		}
		if ((r = conn_write(c)) == -1)
			conn_fail(c, 0, "4.4.2",
			    "connection lost while writing");
	}
}

void
send_line(struct mconn *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(c->out, fmt, ap);
	va_end(ap);
	evbuffer_add(c->out, "\r\n", 2);
	want_write(c);
	set_timeout(c, relay_command_timeout);
}

void
mconn_free(struct mconn *c)
{
	size_t	 i;

	conn_undirty(c);
	idle_leave(c);
	TAILQ_REMOVE(&conns, c, entry);
	if (c->evr)
		event_free(c->evr);
	if (c->evw)
		event_free(c->evw);
	if (c->evt)
		event_free(c->evt);
	if (c->tls) {
		tls_close(c->tls);
		tls_free(c->tls);
	}
	if (c->fd != -1)
		close(c->fd);
	if (c->bodyfd != -1)
		close(c->bodyfd);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c->accepted);
	free(c->tx_end);
	mtasts_cancel(c);
	for (i = 0; i < DNS_MAX_MX; i++)
		free(c->tlsa[i]);
	sched_conn_closed(c->domain);
	free(c);
}

/* what an EHLO offered: nothing yet */
static void
ext_reset(struct mconn *c)
{
	c->ext_pipelining = c->ext_size = c->ext_8bit = c->ext_smtputf8 = 0;
	c->ext_starttls = c->ext_auth_plain = c->ext_auth_login = 0;
	c->size_max = 0;
}

/* close the socket, keep the connection object (try another address) */
static void
conn_close_sock(struct mconn *c)
{
	if (c->evr) {
		event_free(c->evr);
		c->evr = NULL;
	}
	if (c->evw) {
		event_free(c->evw);
		c->evw = NULL;
	}
	if (c->tls) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->tls_done = c->authed = c->greeted = c->auth_step = 0;
	c->dane = c->sts_on = 0;
	/* MAX_MSGS_CONN counts the messages of one session */
	c->nmsgs = 0;
	ext_reset(c);
	c->rcode = 0;
	c->rlines = c->rbytes = 0;
}

/* every recipient of the job without a result gets this one */
void
job_fail_all(struct mconn *c, enum event_kind kind, int code, const char *ext,
    const char *desc, const char *stage)
{
	size_t	 i;

	if (c->job == NULL)
		return;
	for (i = 0; i < c->job->n; i++)
		sched_result(c->job, i, kind, code, ext, desc, stage);
}

void
job_finish(struct mconn *c)
{
	struct rjob	*j = c->job;

	c->job = NULL;
	if (j != NULL && c->peer[0] != '\0')
		strlcpy(j->relay, c->peer, sizeof(j->relay));
	if (c->bodyfd != -1) {
		close(c->bodyfd);
		c->bodyfd = -1;
	}
	if (j != NULL)
		sched_job_done(j);
}

/* the SMTP step a failure belongs to: in a transaction, the command
 * whose reply is awaited (MAIL, then each RCPT, then DATA) */
static const char *
conn_stage(const struct mconn *c)
{
	if (c->state != M_TX || c->job == NULL)
		return (stage_names[c->state]);
	if (c->tx_acked == 0)
		return ("mail");
	return (c->tx_acked <= c->job->n ? "rcpt" : "data");
}

/*
 * conn_fail's end: each recipient without a result gets desc; at is where
 * the text of the server's reply (code) starts in desc, -1 when desc is
 * relayd's own reason
 */
void
conn_fail_desc(struct mconn *c, int code, const char *ext, const char *desc,
    ssize_t at)
{
	size_t	 i;

	log_debug("mta %s: %s", c->domain, desc);
	if (c->state == M_REFUSED) {
		/* the QUIT after a refused greeting: its reply is not
		 * waited for any more */
		refused_done(c);
		return;
	}
	if (c->reused && c->job != NULL && c->state == M_TX &&
	    c->tx_acked == 0) {
		/* the server closed a connection it had kept open: the job
		 * goes again on a new one, not counted as an attempt */
		sched_restart(c->job);
		c->job = NULL;
		mconn_free(c);
		return;
	}
	if ((c->state == M_TX || c->state == M_BODY || c->state == M_RSET) &&
	    tx_undone(c) > 0 && !conn_final(c)) {
		/*
		 * In the transaction, before the end of data (a close, a
		 * time-out): a server not the last one to try leaves whoever
		 * it did not take to the next address, as after a 4xx
		 * (Postfix's smtp_stream_except)
		 */
		log_info("mta %s: %s: %s; %zu recipient%s on to the next "
		    "address", c->domain, c->peer, desc, tx_undone(c),
		    tx_undone(c) == 1 ? "" : "s");
		tx_move_on(c, 0);
		return;
	}
	if (ext == NULL)
		ext = "4.4.2";
	for (i = 0; c->job != NULL && i < c->job->n; i++)
		if (at >= 0)
			sched_reply_at(c->job, i, EV_DISPATCH_SOFT_BOUNCE, code,
			    ext, desc, at, conn_stage(c));
		else
			sched_result(c->job, i, EV_DISPATCH_SOFT_BOUNCE, code,
			    ext, desc, conn_stage(c));
	job_finish(c);
	mconn_free(c);
}

/* connection-level trouble: the job is retried, the connection ends */
void
conn_fail(struct mconn *c, int code, const char *ext, const char *fmt, ...)
{
	va_list	 ap;
	char	 desc[512], full[1024];

	/* a server's text in it is cut at a whole character, not a byte:
	 * an event's description is UTF-8 */
	va_start(ap, fmt);
	vsnprintf(full, sizeof(full), fmt, ap);
	va_end(ap);
	sanitize_text(desc, sizeof(desc), full, SIZE_MAX, SAN_FIELD);
	conn_fail_desc(c, code, ext, desc, -1);
}

/*
 * "what: code text": the server's reply to what, whose text a DSN gives
 * as it came (RFC 3464 Diagnostic-Code); *at where that text starts.
 * Cut where it must be at a whole character (the text is UTF-8, and so
 * must an event's description be).
 */
void
reply_desc(char *desc, size_t len, const char *what, int code,
    const char *text, size_t *at)
{
	snprintf(desc, len, "%s: %d ", what, code);
	*at = strlen(desc);
	sanitize_text(desc + *at, len - *at, text, SIZE_MAX, SAN_FIELD);
}

/* as conn_fail, with the server's refusal code text of what */
static void
conn_fail_reply(struct mconn *c, int code, const char *ext, const char *what,
    const char *text)
{
	char	 desc[512];
	size_t	 at;

	reply_desc(desc, sizeof(desc), what, code, text, &at);
	conn_fail_desc(c, code, ext, desc, at);
}

/* relayd's own reason to leave this address */
void
conn_last_own(struct mconn *c, const char *ext)
{
	c->lastcode = 0;
	c->lastremote = 0;
	strlcpy(c->lastext, ext ? ext : "", sizeof(c->lastext));
}

/*
 * the server's refusal code text of what, the reason to leave it; ext
 * the enhanced code it gave, which its soft bounce says ("": 4.4.1)
 */
void
conn_last_reply(struct mconn *c, int code, const char *ext,
    const char *what, const char *text)
{
	reply_desc(c->lasterr, sizeof(c->lasterr), what, code, text,
	    &c->lastat);
	c->lastcode = code;
	c->lastremote = 1;
	strlcpy(c->lastext, ext, sizeof(c->lastext));
}

/* before a transaction: try the next address, or give up */
void
conn_retry_next(struct mconn *c, const char *ext, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->lasterr, sizeof(c->lasterr), fmt, ap);
	va_end(ap);
	conn_last_own(c, ext);
	conn_leave_addr(c);
}

/* as conn_retry_next, for the server's refusal code text of what */
static void
conn_retry_reply(struct mconn *c, int code, const char *ext,
    const char *what, const char *text)
{
	conn_last_reply(c, code, ext, what, text);
	conn_leave_addr(c);
}

/* this address is done with (c->lasterr says why): on to the next */
void
conn_leave_addr(struct mconn *c)
{
	conn_close_sock(c);
	c->acur++;
	c->tls_plain = 0;
	conn_next_addr(c);
}

/*
 * A greeting other than 220 (554: no SMTP service here, RFC 5321 3.1):
 * QUIT, and its reply waited for (RFC 5321 4.3.2) no longer than a
 * connection is; then the next address or MX.  Whatever ends the wait
 * (the reply, the server closing, a timeout, an error) ends it alike.
 */
static void
greeting_refused(struct mconn *c, int code, const char *ext,
    const char *text)
{
	conn_last_reply(c, code, ext, "greeting refused", text);
	c->state = M_REFUSED;
	send_line(c, "QUIT");
	set_timeout(c, relay_connect_timeout);
}

/*
 * A 5xx to HELO: as Postfix's smtp_helo (smtp_site_fail with the reply's
 * 5.x.x status), every recipient bounces at once, the next address or MX
 * not tried.  The server refused relayd, not the address: no suppression.
 * QUIT, whose reply ends the connection.
 */
static void
helo_refused(struct mconn *c, int code, const char *ext, const char *text)
{
	char	 desc[512];
	size_t	 i, at;

	reply_desc(desc, sizeof(desc), "HELO", code, text, &at);
	log_info("mta %s: %s: %s", c->domain, c->peer, desc);
	for (i = 0; c->job != NULL && i < c->job->n; i++) {
		if (c->job->res[i].done)
			continue;
		sched_reply_at(c->job, i, EV_BOUNCE, code, ext, desc, at,
		    "helo");
		c->job->res[i].server_fault = 1;
	}
	job_finish(c);
	c->state = M_QUIT;
	send_line(c, "QUIT");
}

/* the wait for the reply to that QUIT is over */
static void
refused_done(struct mconn *c)
{
	/* a failure now is one at the greeting, no longer this QUIT's */
	c->state = M_GREETING;
	conn_leave_addr(c);
}

/*
 * A failed STARTTLS handshake: opportunistic TLS (Postfix's
 * smtp_tls_security_level may) tries the same address once more without
 * STARTTLS.  Not where TLS is required, nor with a smart host's password.
 */
static int
tls_may_plain(const struct mconn *c)
{
	return (c->greeted && !c->tls_plain && !mtls_mandatory(c) &&
	    c->via->user[0] == '\0');
}

static void
conn_tls_plain(struct mconn *c, const char *why)
{
	log_warnx("mta %s: %s: TLS handshake failed (%s); trying again "
	    "without STARTTLS", c->domain, c->peer, why);
	conn_close_sock(c);
	c->tls_plain = 1;
	conn_next_addr(c);
}

int
mta_start(struct rjob *j)
{
	struct mconn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (-1);
	c->fd = c->bodyfd = -1;
	c->job = j;
	strlcpy(c->domain, j->domain, sizeof(c->domain));
	/* a route's fallback smtp (fallback.c): that host, not the MX */
	c->via = &via;
	if (strncasecmp(c->domain, "smtp://", 7) == 0 ||
	    strncasecmp(c->domain, "smtps://", 8) == 0) {
		if (config_relay_via_parse(c->domain, &c->fvia) != NULL)
			log_warnx("%s: not a usable relay", c->domain);
		c->via = &c->fvia;
	}
	if ((c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    (c->evt = evtimer_new(relay_base, conn_timeout, c)) == NULL) {
		if (c->in)
			evbuffer_free(c->in);
		if (c->out)
			evbuffer_free(c->out);
		free(c);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&conns, c, entry);
	{
		const struct domain_limit *l;
		TAILQ_FOREACH(l, &relay_conf->domain_limits, entry)
			if (strcasecmp(l->domain, c->domain) == 0) {
				c->tls_require = l->tls_require;
				c->tls_verify = l->tls_verify;
			}
	}
	c->policy = config_tls_policy_for(relay_conf, c->domain);
	if (j->msg->env.tlsrpt) {
		/*
		 * RFC 8460 3: a TLS-RPT report is delivered despite any TLS
		 * failure (the one it reports, maybe): opportunistic TLS,
		 * neither DANE nor MTA-STS, not counted; its connection takes
		 * no other message (dot_reply).
		 */
		c->tlsrpt = 1;
		c->policy = TLSP_OPPORTUNISTIC;
		c->tls_require = c->tls_verify = 0;
	}
	if (c->via->host[0] != '\0' && c->via->authfile)
		c->tls_verify = 1;	/* AUTH only over verified TLS */
	c->state = M_DNS;
	set_timeout(c, relay_command_timeout);
	if (c->via->host[0] != '\0') {
		/* RFC 7672 3.2: the smart host's own TLSA, its name */
		c->smarthost = c->mx_secure = 1;
		strlcpy(c->hosts[0], c->via->host, sizeof(c->hosts[0]));
		c->nhosts = 1;
		resolve_hosts(c);
		return (0);
	}
	if (c->domain[0] == '[') {
		start_literal(c);
		return (0);
	}
	if (c->policy == TLSP_MTASTS) {
		c->dns_pending = 1;
		if (mtasts_lookup(c->domain, sts_cb, c) == 0)
			return (0);
		c->dns_pending = 0;
	}
	start_mx(c);
	return (0);
}

static void
send_ehlo(struct mconn *c)
{
	c->state = M_EHLO;
	ext_reset(c);
	send_line(c, "EHLO %s", relay_conf->hostname[0] ?
	    relay_conf->hostname : "localhost");
}

/* SMTP AUTH to the smart host (RFC 4954): PLAIN, else LOGIN */
static void
auth_start(struct mconn *c)
{
	char	 raw[600], b64[820];
	int	 n;

	c->state = M_AUTH;
	if (!c->ext_auth_plain) {
		/* 334 for the user, then the password */
		c->auth_step = 1;
		send_line(c, "AUTH LOGIN");
		return;
	}
	n = snprintf(raw, sizeof(raw), "%c%s%c%s", 0, c->via->user, 0,
	    c->via->pass);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)raw, n);
	send_line(c, "AUTH PLAIN %s", b64);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
}

/* AUTH LOGIN's 334 prompts: the user name, then the password */
static void
auth_login_step(struct mconn *c)
{
	char		 b64[820];
	const char	*v = c->auth_step == 1 ? c->via->user : c->via->pass;

	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)v,
	    strlen(v));
	c->auth_step = c->auth_step == 1 ? 2 : 0;
	send_line(c, "%s", b64);
	explicit_bzero(b64, sizeof(b64));
}

static void
after_ehlo(struct mconn *c)
{
	if (c->tls_plain)
		c->tls_done = -1;	/* its TLS handshake failed */
	if (!c->tls_done && c->ext_starttls && (c->policy != TLSP_NONE ||
	    mtls_mandatory(c))) {
		c->state = M_STARTTLS;
		send_line(c, "STARTTLS");
		return;
	}
	if (!c->tls_done && mtls_no_starttls(c) == -1)
		return;
	if (c->via->user[0] != '\0' && !c->authed) {
		if (c->via->authfile && !c->evtls.verified) {
			conn_fail(c, 0, "4.7.0", "smarthost: AUTH only over "
			    "verified TLS");
			return;
		}
		if (!c->ext_auth_plain && !c->ext_auth_login) {
			conn_fail(c, 0, "4.7.0", "smarthost offers neither "
			    "AUTH PLAIN nor AUTH LOGIN");
			return;
		}
		auth_start(c);
		return;
	}
	tx_start(c);
}

/*
 * The transaction is over, and recipients were kept (tx_rcpt_reply), or
 * it broke off before the end of data (conn_fail_desc): the others'
 * results are recorded now (those this server took are never sent
 * again), the rest go to the next address in a job of their own.  quit:
 * a QUIT first, not waited for (none after a 421 or a close).
 */
static void
tx_move_on(struct mconn *c, int quit)
{
	struct rjob	*kept;

	if (quit) {
		send_line(c, "QUIT");
		(void)conn_write(c);
	}
	if ((kept = sched_job_split(c->job)) != NULL) {
		job_finish(c);
		c->job = kept;
	} else if (c->bodyfd != -1) {
		close(c->bodyfd);
		c->bodyfd = -1;
	}
	c->nkept = 0;
	c->reused = 0;
	c->moved_on = 1;
	c->state = M_CONNECT;
	conn_leave_addr(c);
}

/*
 * c, open and out of a transaction, takes j.  j has reached no server
 * yet, whatever the job before it did: if every address fails it, the
 * destination failed (conn_next_addr).
 */
static void
conn_take_job(struct mconn *c, struct rjob *j)
{
	c->job = j;
	c->reused = 1;
	c->moved_on = 0;
	tx_start(c);
}

/* the reply to the final dot */
static void
dot_reply(struct mconn *c, int code, const char *text, const char *ext)
{
	struct rjob	*j;

	if (code != 0)
		tx_accepted_reply(c, code, ext, text, "end of data");
	if (c->nkept > 0) {
		tx_move_on(c, 1);
		return;
	}
	job_finish(c);
	/* a TLS-RPT report's connection was not under the domain's policy */
	if (c->nmsgs >= MAX_MSGS_CONN || c->tlsrpt) {
		c->state = M_QUIT;
		send_line(c, "QUIT");
		return;
	}
	/*
	 * The next message to this domain goes on this connection: the
	 * transaction is over, MAIL needs no RSET first (RFC 5321 4.1.1.4).
	 * None waiting: the connection waits IDLE_SECS for one.
	 */
	if ((j = sched_next_job(c->domain)) != NULL) {
		conn_take_job(c, j);
		return;
	}
	c->state = M_IDLE;
	TAILQ_INSERT_TAIL(&idleconns, c, idle_entry);
	set_timeout(c, IDLE_SECS);
}

static void
idle_leave(struct mconn *c)
{
	if (c->state == M_IDLE) {
		TAILQ_REMOVE(&idleconns, c, idle_entry);
		c->state = M_QUIT;
	}
}

/* an open connection to domain waiting for a message, or NULL */
struct mconn *
mta_idle(const char *domain)
{
	struct mconn	*c;

	TAILQ_FOREACH(c, &idleconns, idle_entry)
		if (strcasecmp(c->domain, domain) == 0)
			return (c);
	return (NULL);
}

/* the job goes on c, an idle connection mta_idle() found */
void
mta_reuse(struct mconn *c, struct rjob *j)
{
	idle_leave(c);
	conn_take_job(c, j);
}

/* the idle connection that waited longest says QUIT (its slot is wanted) */
int
mta_idle_quit(void)
{
	struct mconn	*c;

	if ((c = TAILQ_FIRST(&idleconns)) == NULL)
		return (0);
	idle_leave(c);
	send_line(c, "QUIT");
	return (1);
}

/*
 * 421: the server is closing the channel (RFC 5321 3.8), so nothing more
 * goes on it, no next command, no next message, no QUIT.  Whoever of the
 * job has no result yet is deferred with this reply, at the step it came
 * to.  A kept connection that says it as its next message starts costs
 * that message nothing, as a close does (conn_fail).
 */
static void
conn_closing(struct mconn *c, int code, const char *text, const char *ext)
{
	size_t	 i, n = tx_undone(c);

	if (c->reused && c->job != NULL && c->state == M_TX &&
	    c->tx_acked == 0) {
		conn_fail(c, code, ext, "%d %s", code, text);
		return;
	}
	/* from a server not the last one to try, the next address takes
	 * whoever has no result yet, as after any 4xx (tx_rcpt_reply) */
	if (n > 0 && !conn_final(c)) {
		tx_keep_log(c, code, ext, text, conn_stage(c), n);
		c->nkept = n;
		tx_move_on(c, 0);
		return;
	}
	log_debug("mta %s: %s: %d %s: closing", c->domain, c->peer, code,
	    text);
	for (i = 0; c->job != NULL && i < c->job->n; i++)
		sched_reply(c->job, i, EV_SOFT_BOUNCE, code, ext, text,
		    conn_stage(c));
	job_finish(c);
	mconn_free(c);
}

void
conn_reply(struct mconn *c, int code, const char *text)
{
	char	 ext[16];

	parse_ext(text, ext, sizeof(ext));
	if (code == 421 && c->state == M_TX && c->tx_acked == 0 &&
	    !c->reused) {
		/* to MAIL on a new connection, as to the greeting: the
		 * next address or MX (Postfix) */
		conn_retry_reply(c, code, ext, "MAIL", text);
		return;
	}
	if (code == 421 && (c->state == M_TX || c->state == M_DOT ||
	    c->state == M_RSET || c->state == M_IDLE)) {
		conn_closing(c, code, text, ext);
		return;
	}
	switch (c->state) {
	case M_GREETING:
		if (code != 220) {
			greeting_refused(c, code, ext, text);
			return;
		}
		if (greeting_self(c, text))
			return;
		c->greeted = 1;
		send_ehlo(c);
		break;
	case M_EHLO:
		/*
		 * Postfix (smtp_helo): a 421 ends the session, the next
		 * address or MX; any other refusal (a 4xx too) says no
		 * ESMTP here, HELO
		 */
		if (code / 100 == 2)
			after_ehlo(c);
		else if (code == 421)
			conn_retry_reply(c, code, ext, "EHLO", text);
		else {
			c->state = M_HELO;
			send_line(c, "HELO %s", relay_conf->hostname[0] ?
			    relay_conf->hostname : "localhost");
		}
		break;
	case M_HELO:
		if (code / 100 == 2)
			after_ehlo(c);
		else if (code / 100 == 5)
			helo_refused(c, code, ext, text);
		else
			conn_retry_reply(c, code, ext, "HELO", text);
		break;
	case M_STARTTLS:
		if (code != 220) {
			/* refused: as good as not offered (RFC 8460 4.3.1) */
			mtls_report(c, "starttls-not-supported");
			/* 421: the server is closing, no plain text on it */
			if (mtls_mandatory(c) || code == 421)
				conn_retry_reply(c, code, ext, "STARTTLS",
				    text);
			else {
				/* go on in plain text */
				c->tls_done = -1;
				after_ehlo(c);
			}
			return;
		}
		/* the handshake's own budget, not what the reply left */
		set_timeout(c, relay_command_timeout);
		mtls_start(c);
		break;
	case M_AUTH:
		if (code == 334 && c->auth_step != 0) {
			auth_login_step(c);
			break;
		}
		/* 4xx: this server's trouble, the next address may take
		 * it (Postfix); 5xx: the credentials', no other will */
		if (code / 100 == 4)
			conn_retry_reply(c, code, ext[0] ? ext : "4.7.0",
			    "AUTH", text);
		else if (code != 235)
			conn_fail_reply(c, code, ext[0] ? ext : "4.7.0",
			    "AUTH", text);
		if (code != 235)
			return;
		c->authed = 1;
		tx_start(c);
		break;
	case M_TX:
		tx_reply(c, code, text, ext);
		break;
	case M_DOT:
		dot_reply(c, code, text, ext);
		break;
	case M_RSET:
		/*
		 * Every RSET ends a transaction before its data
		 * (tx_rset_end), the job's results still to report
		 */
		if (code / 100 != 2 && c->nkept > 0) {
			/* the kept recipients need nothing more here */
			tx_move_on(c, 1);
			return;
		}
		if (code / 100 != 2) {
			conn_fail_reply(c, code, ext, "RSET", text);
			return;
		}
		dot_reply(c, 0, "", "");
		break;
	case M_QUIT:
		c->state = M_DONE;
		mconn_free(c);
		break;
	case M_REFUSED:
		refused_done(c);
		break;
	default:
		conn_fail(c, 0, "4.5.0", "unexpected reply %d", code);
		break;
	}
}

static int
conn_read(struct mconn *c)
{
	char	 buf[16384];
	ssize_t	 n;

	for (;;) {
		if (c->tls != NULL && c->state != M_HANDSHAKE) {
			n = tls_read(c->tls, buf, sizeof(buf));
			if (n == TLS_WANT_POLLIN)
				return (0);
			if (n == TLS_WANT_POLLOUT) {
				arm_write(c);
				return (0);
			}
		} else {
			n = read(c->fd, buf, sizeof(buf));
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return (0);
		}
		if (n <= 0)
			return (-1);
		evbuffer_add(c->in, buf, n);
		if (evbuffer_get_length(c->in) > REPLY_BYTES_MAX * 2)
			return (-1);
		/*
		 * A short read took all the socket had (the read event is
		 * level-triggered: what comes later wakes us again), so no
		 * read to see EAGAIN.  libtls may hold a record it has
		 * read: under TLS, on until it wants more.
		 */
		if (c->tls == NULL && (size_t)n < sizeof(buf))
			return (0);
	}
}

static int
conn_write(struct mconn *c)
{
	unsigned char	*p;
	ssize_t		 n;
	size_t		 len;

	while ((len = evbuffer_get_length(c->out)) > 0) {
		if (len > 16384)
			len = 16384;
		p = evbuffer_pullup(c->out, len);
		if (c->tls != NULL) {
			n = tls_write(c->tls, p, len);
			if (n == TLS_WANT_POLLOUT) {
				arm_write(c);
				return (0);
			}
			if (n == TLS_WANT_POLLIN)
				return (0);
		} else {
			n = write(c->fd, p, len);
			if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
				arm_write(c);
				return (0);
			}
		}
		if (n <= 0)
			return (-1);
		evbuffer_drain(c->out, n);
		c->out_written += n;
		if (c->state == M_BODY && !c->body_eof &&
		    evbuffer_get_length(c->out) < OUT_LOW &&
		    body_fill(c) == -1)
			return (-2);
	}
	return (0);
}

/*
 * A reply now would answer a command not all written yet: one command is
 * awaited at a time, and a server answers it only once it has it all.
 * Such a reply came in the same write as the one before it (a second
 * greeting line, a "250" with the 354 to DATA): it answers nothing sent,
 * and taken for the reply to the command after it, it would be a
 * delivery of data never sent or put every later reply out of step (EHLO
 * answered by the second greeting, without STARTTLS; DATA by RCPT's 250,
 * a protocol error, a bounce).  In a pipelined transaction the next
 * reply is the one to command tx_acked: early when that command is not
 * written whole yet (later ones may well be waiting to go).
 */
static int
reply_early(const struct mconn *c)
{
	if (c->state == M_TX && c->ext_pipelining)
		return (c->tx_acked >= c->tx_sent ||
		    c->out_written < c->tx_end[c->tx_acked]);
	return (evbuffer_get_length(c->out) > 0);
}

static void
conn_process(struct mconn *c)
{
	char		*line;
	size_t		 len;
	const char	*why = "a line too long";
	const char	*kind = "malformed reply from server";
	char		 what[80];
	struct evbuffer_ptr pos;

	while (c->fd != -1 && c->state != M_DONE) {
		pos = evbuffer_search_eol(c->in, NULL, NULL, EVBUFFER_EOL_LF);
		if (pos.pos == -1) {
			if (evbuffer_get_length(c->in) > REPLY_LINE_MAX)
				goto bad;
			return;
		}
		if ((size_t)pos.pos > REPLY_LINE_MAX)
			goto bad;
		line = evbuffer_readln(c->in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL)
			return;
		if (c->state == M_BODY || c->state == M_CONNECT ||
		    c->state == M_HANDSHAKE || c->state == M_DNS) {
			/* replies nobody asked for */
			free(line);
			conn_fail(c, 0, "4.5.0", "unexpected data from server");
			return;
		}
		if (reply_early(c)) {
			free(line);
			kind = "unexpected reply from server";
			why = "before its command was sent";
			goto bad;
		}
		if (memchr(line, '\0', len) != NULL) {
			why = "a NUL character";
			free(line);
			goto bad;
		}
		if (reply_line(c, line, len, &why) == -1) {
			free(line);
			goto bad;
		}
		free(line);
		/* conn_reply() may have freed c: stop if it is gone */
		{
			struct mconn *x;
			TAILQ_FOREACH(x, &conns, entry)
				if (x == c)
					break;
			if (x == NULL)
				return;
		}
	}
	return;
 bad:
	/* what was wrong, not only that something was */
	snprintf(what, sizeof(what), "%s: %s", kind, why);
	if (c->state == M_GREETING || c->state == M_EHLO ||
	    c->state == M_HELO) {
		conn_retry_next(c, NULL, "%s", what);
		return;
	}
	conn_fail(c, 0, "4.5.0", "%s", what);
}

static int
conn_alive(struct mconn *c)
{
	struct mconn	*x;

	TAILQ_FOREACH(x, &conns, entry)
		if (x == c)
			return (1);
	return (0);
}

void
conn_io(int fd, short ev, void *arg)
{
	struct mconn	*c = arg;
	int		 err = 0, r;
	socklen_t	 sl = sizeof(err);

	if (c->state == M_CONNECT) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 ||
		    err != 0) {
			conn_retry_next(c, NULL, "connect: %s",
			    strerror(err));
			return;
		}
		conn_peer(c);
		c->state = M_GREETING;
		event_add(c->evr, NULL);
		set_timeout(c, relay_command_timeout);
		if (c->via->host[0] != '\0' && c->via->smtps)
			/* smtps: the greeting comes under TLS */
			mtls_start(c);
		return;
	}
	if (c->state == M_HANDSHAKE) {
		r = tls_handshake(c->tls);
		if (r == TLS_WANT_POLLIN)
			return;
		if (r == TLS_WANT_POLLOUT) {
			arm_write(c);
			return;
		}
		if (r == -1) {
			mtls_report(c,
			    mtls_handshake_failtype(tls_error(c->tls)));
			if (tls_may_plain(c))
				conn_tls_plain(c, tls_error(c->tls));
			else
				conn_retry_next(c, "4.7.5", "TLS handshake: %s",
				    tls_error(c->tls));
			return;
		}
		c->tls_done = 1;
		if (mtls_check_peer(c) == -1)
			return;
		if (c->greeted)
			send_ehlo(c);
		else {
			c->state = M_GREETING;
			event_active(c->evr, EV_READ, 1);
		}
		return;
	}
	if ((r = conn_write(c)) == -2)
		return;
	if (r == -1) {
		conn_fail(c, 0, "4.4.2", "connection lost while writing");
		return;
	}
	if (!conn_alive(c))
		return;
	r = conn_read(c);
	conn_process(c);
	if (!conn_alive(c))
		return;
	if (c->state == M_DNS || c->state == M_CONNECT)
		/* a reply sent c to the next address: the end of the
		 * socket it came on is no news */
		return;
	if (r == -1) {
		if (c->state == M_QUIT || c->state == M_DONE)
			mconn_free(c);
		else if (c->state == M_REFUSED)
			refused_done(c);
		else if (c->state == M_GREETING)
			conn_retry_next(c, NULL, "connection closed");
		else if (c->state == M_DOT)
			/* RFC 5321 6.1: deferred, at the risk of a copy */
			conn_fail(c, 0, "4.4.2", "connection closed by server "
			    "after the end of data: the message may arrive "
			    "twice");
		else if (c->state == M_EHLO || c->state == M_HELO ||
		    c->state == M_AUTH || (c->state == M_TX &&
		    c->tx_acked == 0 && !c->reused))
			/* before the transaction, as a timeout there: the
			 * next address or MX (Postfix) */
			conn_retry_next(c, "4.4.2", "connection closed by "
			    "server at %s", conn_stage(c));
		else
			conn_fail(c, 0, "4.4.2", "connection closed by server");
	}
}

static void
conn_timeout(int fd, short ev, void *arg)
{
	struct mconn	*c = arg;

	if (c->dns_pending) {
		/* the lookup still owns c: wait for its callback */
		set_timeout(c, 5);
		return;
	}
	if (c->state == M_IDLE) {
		idle_leave(c);
		send_line(c, "QUIT");
		return;
	}
	if (c->state == M_QUIT) {
		mconn_free(c);
		return;
	}
	if (c->state == M_REFUSED) {
		refused_done(c);
		return;
	}
	if (c->state == M_CONNECT || c->state == M_GREETING) {
		conn_retry_next(c, NULL, "timeout at %s",
		    stage_names[c->state]);
		return;
	}
	if (c->state == M_STARTTLS || c->state == M_HANDSHAKE) {
		/*
		 * TLS-RPT: a STARTTLS offered but never answered did not
		 * start TLS (RFC 8460 4.3.2.1 starttls-not-supported, as
		 * when it is refused); a handshake that stalls is none of
		 * 4.3.2.1-3's types (4.3.2.4: validation-failure)
		 */
		mtls_report(c, c->state == M_STARTTLS ?
		    "starttls-not-supported" : "validation-failure");
		/* as a failed handshake: plain text where the policy lets
		 * it, else the next address or MX (a timeout: 4.4.2) */
		if (tls_may_plain(c))
			conn_tls_plain(c, c->state == M_STARTTLS ?
			    "no reply to STARTTLS" : "timeout");
		else if (c->state == M_STARTTLS)
			conn_retry_next(c, "4.4.2", "timeout at starttls");
		else
			conn_retry_next(c, "4.4.2", "TLS handshake: timed out");
		return;
	}
	if (c->state == M_DOT) {
		conn_fail(c, 0, "4.4.2", "timeout after the end of data: "
		    "the message may arrive twice");
		return;
	}
	if (c->state == M_EHLO || c->state == M_HELO || c->state == M_AUTH ||
	    (c->state == M_TX && c->tx_acked == 0 && !c->reused)) {
		/* before the transaction, as a failed connection (Postfix):
		 * the next address or MX (a kept connection: conn_fail) */
		conn_retry_next(c, "4.4.2", "timeout at %s", conn_stage(c));
		return;
	}
	conn_fail(c, 0, "4.4.2", "timeout at %s", conn_stage(c));
}

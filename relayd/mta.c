/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP client: MX lookup (or the smarthost), connect, EHLO/HELO,
 * STARTTLS through libtls, AUTH PLAIN or LOGIN to a smarthost, pipelined
 * multi-recipient transactions, body streaming with the X-Mailhook-*
 * headers stripped, dot-stuffing, connection reuse per domain.
 *
 * Every byte from the server is checked: a reply is "ddd[- ]text" lines
 * with one code, bounded in line length and total size (any number of
 * lines up to that size: only the first line's text is kept); anything
 * else ends the connection as a temporary failure.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tls.h>

#include "enhanced.h"
#include "http.h"
#include "log.h"
#include "mailaddr.h"
#include "verp.h"
#include "relayd.h"
#include "dns.h"
#include "route.h"
#include "mta.h"

#include <event2/event.h>
#include <event2/buffer.h>

#define REPLY_LINE_MAX	1024
/* a whole reply, its line ends counted: 64 lines of the longest kind */
#define REPLY_BYTES_MAX	(64 * (REPLY_LINE_MAX + 2))
#define MAX_MSGS_CONN	100
/* an open connection waits this long for the next message to its domain
 * (Postfix's smtp_connection_cache_time_limit) */
#define IDLE_SECS	2
#define OUT_LOW		(64 * 1024)

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

static void	 conn_io(int, short, void *);
static void	 conn_flush_all(int, short, void *);
static int	 conn_write(struct mconn *);
static void	 conn_timeout(int, short, void *);
static void	 conn_next_addr(struct mconn *);
static void	 conn_leave_addr(struct mconn *);
static void	 refused_done(struct mconn *);
static void	 mconn_free(struct mconn *);
static void	 conn_undirty(struct mconn *);
static void	 tx_start(struct mconn *);
static void	 job_finish(struct mconn *);
static void	 idle_leave(struct mconn *);
static int	 conn_final(const struct mconn *);
static size_t	 tx_undone(const struct mconn *);
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

static void
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

static void
send_line(struct mconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
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

static void
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
	ext_reset(c);
	c->rcode = 0;
	c->rlines = c->rbytes = 0;
}

/* every recipient of the job without a result gets this one */
static void
job_fail_all(struct mconn *c, enum event_kind kind, int code, const char *ext,
    const char *desc, const char *stage)
{
	size_t	 i;

	if (c->job == NULL)
		return;
	for (i = 0; i < c->job->n; i++)
		sched_result(c->job, i, kind, code, ext, desc, stage);
}

static void
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
static void
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
	char	 desc[512];

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	conn_fail_desc(c, code, ext, desc, -1);
}

/*
 * "what: code text": the server's reply to what, whose text a DSN gives
 * as it came (RFC 3464 Diagnostic-Code); *at where that text starts
 */
static void
reply_desc(char *desc, size_t len, const char *what, int code,
    const char *text, size_t *at)
{
	snprintf(desc, len, "%s: %d ", what, code);
	*at = strlen(desc);
	strlcat(desc, text, len);
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
static void
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
static void
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
static void
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

/* DNS */

static void	host_done(struct mconn *);
static void	mx_loop(struct mconn *, const char *);

/*
 * RFC 7672 2.2: a host's TLSA records count only when its MX and address
 * records were validated; a failed lookup makes the host unusable (never
 * a reason to go on without TLS).
 */
static void
tlsa_cb(const struct dns_tlsalist *tl, void *arg)
{
	struct mconn	*c = arg;

	c->dns_pending = 0;
	if (tl->status == DNS_OK && tl->secure) {
		if ((c->tlsa[c->hcur] = malloc(sizeof(*tl))) == NULL)
			fatal("malloc");
		*c->tlsa[c->hcur] = *tl;
	} else if (tl->status != DNS_OK && tl->status != DNS_NXDOMAIN &&
	    tl->status != DNS_NODATA)
		c->tlsa_fail[c->hcur] = 1;
	host_done(c);
}

/*
 * Mail for c's domain that comes back to this host is taken by one of
 * our routes (smtpd posts it: a message the HTTP API sent to a domain
 * this host is the MX of): no loop.
 */
static int
dest_local(const struct mconn *c)
{
	return (c->job != NULL && c->job->n > 0 &&
	    rcpt_domain_is_local(relay_conf,
	    c->job->msg->env.rcpts[c->job->idx[0]].addr));
}

/*
 * ss (its port set) is where this host takes mail: a listener's address
 * and port, or a loopback address at the port of a wildcard listener.
 */
static int
addr_self(const struct sockaddr_storage *ss)
{
	const struct listener		*l;
	const struct sockaddr_in	*a4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*a6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in	*l4;
	const struct sockaddr_in6	*l6;

	TAILQ_FOREACH(l, &relay_conf->listeners, entry) {
		if (l->ss.ss_family != ss->ss_family)
			continue;
		l4 = (const struct sockaddr_in *)&l->ss;
		l6 = (const struct sockaddr_in6 *)&l->ss;
		if (ss->ss_family == AF_INET && l->port == ntohs(a4->sin_port) &&
		    (l4->sin_addr.s_addr == a4->sin_addr.s_addr ||
		    (l4->sin_addr.s_addr == htonl(INADDR_ANY) &&
		    (ntohl(a4->sin_addr.s_addr) >> 24) == 127)))
			return (1);
		if (ss->ss_family == AF_INET6 &&
		    l->port == ntohs(a6->sin6_port) &&
		    (IN6_ARE_ADDR_EQUAL(&l6->sin6_addr, &a6->sin6_addr) ||
		    (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr) &&
		    IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))))
			return (1);
	}
	return (0);
}

static void
addrs_cb(const struct dns_addrs *a, void *arg)
{
	struct mconn	*c = arg;
	size_t		 i, n0 = c->naddrs;

	c->dns_pending = 0;
	if (a->status != DNS_OK && a->status != DNS_NXDOMAIN &&
	    a->status != DNS_NODATA)
		c->addr_soft = 1;
	for (i = 0; a->status == DNS_OK && i < a->n && c->naddrs < MAX_ADDRS;
	    i++) {
		struct sockaddr_storage *ss = &c->addrs[c->naddrs];
		*ss = a->ss[i];
		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_port = htons(
			    c->via->host[0] ? c->via->port : relay_port);
		else if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port = htons(
			    c->via->host[0] ? c->via->port : relay_port);
		else
			continue;
		if (!c->smarthost && addr_self(ss) && !dest_local(c)) {
			/*
			 * RFC 5321 5.1: this MX host is this host; it, the
			 * MX hosts after it (as preferred or less) and
			 * those before it as preferred as it go.
			 */
			c->naddrs = n0;
			while (c->naddrs > 0 && c->hpref[c->addr_host[
			    c->naddrs - 1]] == c->hpref[c->hcur])
				c->naddrs--;
			c->nhosts = c->hcur + 1;
			c->self_mx = c->hpref[c->hcur] == c->hpref[0] ? 2 : 1;
			host_done(c);
			return;
		}
		c->addr_host[c->naddrs++] = c->hcur;
	}
	if (a->status == DNS_OK && a->secure && c->mx_secure &&
	    (c->policy == TLSP_DANE || c->policy == TLSP_MTASTS)) {
		c->dns_pending = 1;
		if (dns_resolve_tlsa(c->hosts[c->hcur], c->smarthost ?
		    c->via->port : 25, tlsa_cb, c) == 0)
			return;
		c->dns_pending = 0;
		c->tlsa_fail[c->hcur] = 1;
	}
	host_done(c);
}

/* the next host's addresses, or connect when every host is known */
static void
host_done(struct mconn *c)
{
	c->hcur++;
	if (c->hcur < c->nhosts && c->naddrs < MAX_ADDRS) {
		c->dns_pending = 1;
		if (dns_resolve_host(c->hosts[c->hcur], addrs_cb, c) == -1) {
			c->dns_pending = 0;
			c->addr_soft = 1;
			c->hcur = c->nhosts;
		} else
			return;
	}
	if (c->naddrs == 0 && c->self_mx == 2 && !c->addr_soft) {
		mx_loop(c, c->hosts[c->hcur - 1]);
		return;
	}
	if (c->naddrs == 0 && c->self_mx && !c->addr_soft) {
		/*
		 * A more preferred MX than this host has no address: it may
		 * come back, this host is its backup (Postfix: 4.4.4)
		 */
		conn_fail(c, 0, "4.4.4", "unable to find primary relay for "
		    "%s (the MX hosts more preferred than this host have no "
		    "address)", c->domain);
		return;
	}
	if (c->naddrs == 0 && !c->addr_soft && !c->smarthost) {
		/*
		 * RFC 5321 5.1: the (implicit) MX is unusable, an error; the
		 * DNS said so for good (NXDOMAIN or NODATA), so a bounce, as
		 * Postfix has it (5.4.4).  A smart host's name stays a retry.
		 */
		char desc[512];
		if (c->nhosts > 1)
			snprintf(desc, sizeof(desc), "no MX host of %s has an "
			    "A or AAAA record", c->domain);
		else
			snprintf(desc, sizeof(desc), "no A or AAAA record for "
			    "%s", c->hosts[0]);
		log_info("mta %s: %s", c->domain, desc);
		job_fail_all(c, EV_BOUNCE, 550, "5.4.4", desc, "dns");
		job_finish(c);
		mconn_free(c);
		return;
	}
	if (c->naddrs == 0) {
		conn_fail(c, 0, "4.4.4", "no address for %s",
		    c->nhosts ? c->hosts[0] : c->domain);
		return;
	}
	c->acur = 0;
	conn_next_addr(c);
}

static void
resolve_hosts(struct mconn *c)
{
	c->hcur = 0;
	c->dns_pending = 1;
	if (dns_resolve_host(c->hosts[0], addrs_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "DNS lookup failed");
	}
}

/* host is this host: the hostname, or a listener's */
static int
mx_self(const char *host)
{
	const struct listener	*l;

	if (strcasecmp(host, relay_conf->hostname) == 0)
		return (1);
	TAILQ_FOREACH(l, &relay_conf->listeners, entry)
		if (l->hostname[0] != '\0' &&
		    strcasecmp(host, l->hostname) == 0)
			return (1);
	return (0);
}

/* what the DNS said makes every recipient a bounce (550 ext), logged */
static void
dns_bounce(struct mconn *c, const char *ext, const char *desc)
{
	log_info("mta %s: %s", c->domain, desc);
	job_fail_all(c, EV_BOUNCE, 550, ext, desc, "dns");
	job_finish(c);
	mconn_free(c);
}

/* the most preferred usable MX is this host: a bounce, as Postfix has it */
static void
mx_loop(struct mconn *c, const char *host)
{
	char	 desc[800];

	snprintf(desc, sizeof(desc), "mail for %s loops back to myself (%s "
	    "is this host)", c->domain, host);
	log_warnx("mta %s: %s", c->domain, desc);
	job_fail_all(c, EV_BOUNCE, 550, "5.4.6", desc, "dns");
	job_finish(c);
	mconn_free(c);
}

static void
mx_cb(const struct dns_mxlist *mx, void *arg)
{
	struct mconn	*c = arg;
	size_t		 i;

	c->dns_pending = 0;
	c->mx_secure = mx->secure;
	if (mx->null_mx) {
		job_fail_all(c, EV_BOUNCE, 556, "5.1.10",
		    "domain does not accept mail (null MX)", "dns");
		job_finish(c);
		mconn_free(c);
		return;
	}
	switch (mx->status) {
	case DNS_OK:
		if (mx->n == 0) {
			/*
			 * RFC 5321 5.1: an error, never the implicit MX; the
			 * DNS said so, a bounce (Postfix: 5.4.4 "Malformed
			 * or unexpected name server reply")
			 */
			char desc[512];
			snprintf(desc, sizeof(desc), "no usable host in the "
			    "MX records of %s", c->domain);
			dns_bounce(c, "5.4.4", desc);
			return;
		}
		/*
		 * RFC 5321 5.1: this host among the MX hosts, those as
		 * preferred as it or less go (it would send to itself);
		 * when it is the most preferred, the mail loops.
		 */
		for (i = 0; i < mx->n && (!mx_self(mx->mx[i].host) ||
		    dest_local(c)); i++)
			;
		if (i < mx->n)
			while (i > 0 && mx->mx[i - 1].preference ==
			    mx->mx[i].preference)
				i--;
		if (i == 0) {
			mx_loop(c, mx->mx[0].host);
			return;
		}
		c->nhosts = i;
		if (i < mx->n)
			c->self_mx = 1;		/* after the others */
		for (i = 0; i < c->nhosts; i++) {
			strlcpy(c->hosts[i], mx->mx[i].host,
			    sizeof(c->hosts[i]));
			c->hpref[i] = mx->mx[i].preference;
		}
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: the domain itself is the implicit MX */
		if (mx_self(c->domain) && !dest_local(c)) {
			mx_loop(c, c->domain);
			return;
		}
		strlcpy(c->hosts[0], c->domain, sizeof(c->hosts[0]));
		c->nhosts = 1;
		break;
	case DNS_NXDOMAIN:
		job_fail_all(c, EV_BOUNCE, 550, "5.1.2",
		    "recipient domain does not exist", "dns");
		job_finish(c);
		mconn_free(c);
		return;
	default:
		conn_fail(c, 0, "4.4.3", "MX lookup failed for %s", c->domain);
		return;
	}
	resolve_hosts(c);
}

static void
start_mx(struct mconn *c)
{
	c->dns_pending = 1;
	if (dns_resolve_mx(c->domain, mx_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "MX lookup failed");
	}
}

/* the domain's MTA-STS policy (or none), then its MX */
static void
sts_cb(const struct sts_policy *pol, void *arg)
{
	struct mconn	*c = arg;

	c->dns_pending = 0;
	if (pol != NULL && pol->mode != STS_NONE) {
		c->sts = *pol;
		c->has_sts = 1;
	}
	start_mx(c);
}

/*
 * A recipient at an address literal ([192.0.2.1], [IPv6:2001:db8::1]):
 * that address, no MX, no MTA-STS, no DANE (RFC 5321 2.3.5, 5.1).  A
 * loopback, private or otherwise special one only with "allow
 * private-addresses", as for webhooks: a bounce otherwise.
 */
static void
literal_cb(const struct dns_addrs *a, void *arg)
{
	struct mconn	*c = arg;
	char		 desc[512];

	if (a->status == DNS_OK && a->n > 0 && !http_addr_allowed(
	    (const struct sockaddr *)&a->ss[0], relay_conf->allow_private)) {
		c->dns_pending = 0;
		snprintf(desc, sizeof(desc), "address literal %s is a "
		    "loopback, private or reserved address", c->domain);
		dns_bounce(c, "5.7.1", desc);
		return;
	}
	addrs_cb(a, c);
}

static void
start_literal(struct mconn *c)
{
	struct in6_addr	 in6;
	size_t		 len = strlen(c->domain);
	char		*h = c->hosts[0];

	/* "[IPv6:::1]" and "[192.0.2.1]": the address, as dns_resolve_host
	 * takes it; anything else is looked up as it is, and does not exist */
	h[0] = '\0';
	if (len >= 3 && len - 2 < sizeof(c->hosts[0])) {
		memcpy(h, c->domain + 1, len - 2);
		h[len - 2] = '\0';
		if (strncasecmp(h, "IPv6:", 5) == 0 &&
		    inet_pton(AF_INET6, h + 5, &in6) == 1)
			memmove(h, h + 5, strlen(h + 5) + 1);
		else if (inet_pton(AF_INET, h, &in6) != 1)
			h[0] = '\0';
	}
	if (h[0] == '\0')
		strlcpy(h, c->domain, sizeof(c->hosts[0]));
	c->nhosts = 1;
	c->hcur = 0;
	c->dns_pending = 1;
	if (dns_resolve_host(c->hosts[0], literal_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "DNS lookup failed");
	}
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

/* connecting */

/*
 * No Nagle: output is already gathered into one write per pass of the
 * event loop (want_write), and a body leaves in 16 KiB writes.  With
 * Nagle, a write behind a short segment not yet acknowledged (on
 * loopback every 16 KiB one is short) waited for the server's delayed
 * ACK, 40 ms or more on Linux for each message over 16 KiB on a kept
 * connection.
 */
static void
conn_nodelay(int fd)
{
	int	 on = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("mta: TCP_NODELAY");
}

/*
 * Address i may be tried: its host's TLSA lookup did not fail (DANE), nor
 * does an enforced MTA-STS policy leave its host out (DANE wins over
 * MTA-STS, RFC 8461 2); conn_next_addr skips the others, saying why
 */
static int
addr_usable(const struct mconn *c, size_t i)
{
	size_t	 h = c->addr_host[i];

	if (c->tlsa_fail[h])
		return (0);
	return (!c->has_sts || c->tlsa[h] != NULL ||
	    c->sts.mode != STS_ENFORCE ||
	    mtasts_mx_match(&c->sts, c->hosts[h]));
}

/*
 * The address of this connection is the last one to try (Postfix's final
 * server): no usable address after it, of this MX host or a less
 * preferred one.
 */
static int
conn_final(const struct mconn *c)
{
	size_t	 i;

	for (i = c->acur + 1; i < c->naddrs; i++)
		if (addr_usable(c, i))
			return (0);
	return (1);
}

static void
conn_next_addr(struct mconn *c)
{
	struct sockaddr_storage	*ss;
	char			 host[64];
	size_t			 h;

	if (stopping)
		return;		/* stopped where it is (mta_stop) */
	for (; c->acur < c->naddrs; c->acur++) {
		ss = &c->addrs[c->acur];
		h = c->addr_host[c->acur];
		if (c->tlsa_fail[h]) {
			snprintf(c->lasterr, sizeof(c->lasterr), "DANE: TLSA "
			    "lookup for %s failed (DNSSEC)", c->hosts[h]);
			conn_last_own(c, "4.7.5");
			/* TLS-RPT (RFC 8460 4.3.2.1) */
			if (!c->smarthost)
				tlsrpt_session(c->domain, NULL, NULL,
				    c->hosts[h], "dnssec-invalid");
			continue;
		}
		/* records but none usable: TLS all the same (RFC 7672 2.2) */
		c->dane = c->tlsa[h] != NULL;
		/* DANE wins over MTA-STS (RFC 8461 2) */
		c->sts_on = c->has_sts && !c->dane;
		c->sts_fail = NULL;
		if (c->sts_on && !mtasts_mx_match(&c->sts, c->hosts[h])) {
			if (c->sts.mode == STS_ENFORCE) {
				mtls_report(c, "validation-failure");
				snprintf(c->lasterr, sizeof(c->lasterr),
				    "MTA-STS: MX %s matches no mx of the "
				    "policy of %s", c->hosts[h], c->domain);
				conn_last_own(c, "4.7.5");
				continue;
			}
			c->sts_fail = "validation-failure";
		}
		if ((c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			continue;
		conn_nodelay(c->fd);
		if (connect(c->fd, (struct sockaddr *)ss, ss->ss_family ==
		    AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6)) == -1 &&
		    errno != EINPROGRESS) {
			getnameinfo((struct sockaddr *)ss, sizeof(*ss), host,
			    sizeof(host), NULL, 0, NI_NUMERICHOST);
			snprintf(c->lasterr, sizeof(c->lasterr),
			    "connect to %s: %s", host, strerror(errno));
			conn_last_own(c, NULL);
			close(c->fd);
			c->fd = -1;
			continue;
		}
		c->evr = event_new(relay_base, c->fd, EV_READ | EV_PERSIST,
		    conn_io, c);
		c->evw = event_new(relay_base, c->fd, EV_WRITE, conn_io, c);
		if (c->evr == NULL || c->evw == NULL)
			fatal("event_new");
		c->state = M_CONNECT;
		mtls_attempt(c, c->hosts[h]);
		event_add(c->evw, NULL);
		set_timeout(c, relay_connect_timeout);
		return;
	}
	if (c->lasterr[0] == '\0') {
		strlcpy(c->lasterr, "cannot connect", sizeof(c->lasterr));
		conn_last_own(c, NULL);
	}
	/* the destination failed, not the message (sched_job_done); not
	 * when an address took a session and deferred the job's rest */
	if (c->job != NULL && !c->moved_on)
		c->job->site_failed = 1;
	/* the last server's reply, or relayd's own reason */
	conn_fail_desc(c, c->lastcode, c->lastext[0] ? c->lastext : "4.4.1",
	    c->lasterr, c->lastremote ? (ssize_t)c->lastat : -1);
}

/* who we talk to, as the outcome log lines name it: host[ip]:port */
static void
conn_peer(struct mconn *c)
{
	struct sockaddr_storage	*ss = &c->addrs[c->acur];
	char			 ip[64], port[8];

	if (getnameinfo((struct sockaddr *)ss, sizeof(*ss), ip, sizeof(ip),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strlcpy(ip, "?", sizeof(ip));
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%s",
	    c->hosts[c->addr_host[c->acur]], ip, port);
}

/* replies */

/* RFC 1870: "SIZE N", N > 0 the server's fixed maximum message size */
static void
ehlo_size(struct mconn *c, const char *arg)
{
	unsigned long long	 n;
	char			*end;

	c->size_max = 0;
	if (*arg++ != ' ' || !isdigit((unsigned char)*arg))
		return;
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (errno == 0 && (*end == '\0' || *end == ' ') && n <= SIZE_MAX)
		c->size_max = n;
}

static void
ehlo_keyword(struct mconn *c, const char *kw)
{
	if (strcasecmp(kw, "PIPELINING") == 0)
		c->ext_pipelining = 1;
	else if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == '\0' ||
	    kw[4] == ' ')) {
		c->ext_size = 1;
		ehlo_size(c, kw + 4);
	} else if (strcasecmp(kw, "8BITMIME") == 0)
		c->ext_8bit = 1;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		c->ext_smtputf8 = 1;
	else if (strcasecmp(kw, "STARTTLS") == 0)
		c->ext_starttls = 1;
	else if (strncasecmp(kw, "AUTH", 4) == 0 && (kw[4] == ' ' ||
	    kw[4] == '=')) {
		char tmp[512], *p, *w;
		strlcpy(tmp, kw + 5, sizeof(tmp));
		for (p = tmp; (w = strsep(&p, " ")) != NULL;)
			if (strcasecmp(w, "PLAIN") == 0)
				c->ext_auth_plain = 1;
			else if (strcasecmp(w, "LOGIN") == 0)
				c->ext_auth_login = 1;
	}
}

static void
parse_ext(const char *text, char *ext, size_t len)
{
	size_t	 n = enhanced_len(text, 0);

	ext[0] = '\0';
	if (n > 0)
		snprintf(ext, len, "%.*s", (int)n, text);
}

static void	conn_reply(struct mconn *, int, const char *);

/*
 * A refusal's next line, after the text kept of those before it (with a
 * space, not its CR LF: a report repeats the whole reason on one line,
 * RFC 3464 Diagnostic-Code), without the enhanced code its lines repeat
 * ("550-5.1.1 The email account ... Please try\r\n550-5.1.1 double-checking
 * ...").  Sanitized as the first line is.
 */
static void
reply_join(struct mconn *c, const char *text)
{
	size_t	 n = enhanced_len(c->rtext, 0), len = strlen(c->rtext);

	if (n > 0 && strncmp(text, c->rtext, n) == 0 &&
	    (text[n] == ' ' || text[n] == '\0'))
		text += text[n] == ' ' ? n + 1 : n;
	if (text[0] == '\0' || len + 2 >= sizeof(c->rtext))
		return;
	if (len > 0)
		c->rtext[len++] = ' ';
	log_sanitize(c->rtext + len, sizeof(c->rtext) - len, text);
}

/*
 * One line from the server; -1 if the connection must end, *why saying
 * what is wrong with the reply.
 */
static int
reply_line(struct mconn *c, const char *line, size_t len, const char **why)
{
	int	 code, last;

	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || line[0] < '2' ||
	    line[0] > '5' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*why = "no reply code";
		return (-1);
	}
	/*
	 * A control character in the text does not make the reply less of
	 * one: its code decides, as Postfix takes it, and the text is kept
	 * with '?' for it (log_sanitize).  A 550 with an escape sequence in
	 * it is a bounce, not a retry until the queue lifetime ends.
	 */
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = (len == 3 || line[3] == ' ');
	if (c->rlines == 0) {
		c->rcode = code;
		log_sanitize(c->rtext, sizeof(c->rtext),
		    len > 4 ? line + 4 : "");
	} else if (code != c->rcode) {
		*why = "a multi-line reply changes its code";
		return (-1);
	} else if (c->state == M_EHLO && code == 250 && len > 4)
		ehlo_keyword(c, line + 4);	/* a refused EHLO offers none */
	else if (code >= 400 && len > 4)
		reply_join(c, line + 4);
	/* a long multi-line reply is legal: its code decides (a refusal's
	 * text is kept as far as it fits), up to a total size */
	c->rlines++;
	c->rbytes += len + 2;
	if (c->rbytes > REPLY_BYTES_MAX) {
		*why = "a multi-line reply too long";
		return (-1);
	}
	if (last) {
		c->rlines = c->rbytes = 0;
		conn_reply(c, code, c->rtext);
	}
	return (0);
}

/* body streaming: one fragment of a line */
static void
body_fragment(struct mconn *c, int complete)
{
	if (!c->lb_cont) {
		c->drop_line = 0;
		if (c->in_hdr) {
			if (c->lblen == 0 && complete)
				c->in_hdr = 0;
			else if (c->lb[0] == ' ' || c->lb[0] == '\t')
				c->drop_line = c->skip_hdr;
			else {
				c->skip_hdr = strncasecmp(c->lb,
				    "X-Mailhook-Tag:", 15) == 0 ||
				    strncasecmp(c->lb,
				    "X-Mailhook-Group:", 17) == 0 ||
				    strncasecmp(c->lb,
				    "X-Mailhook-Transaction:", 23) == 0;
				c->drop_line = c->skip_hdr;
			}
		}
		if (!c->drop_line && c->lblen > 0 && c->lb[0] == '.')
			evbuffer_add(c->out, ".", 1);
	}
	if (!c->drop_line) {
		evbuffer_add(c->out, c->lb, c->lblen);
		if (complete)
			evbuffer_add(c->out, "\r\n", 2);
	}
	c->lb_cont = !complete;
	c->lblen = 0;
}

static int
body_fill(struct mconn *c)
{
	char	 buf[16384];
	ssize_t	 n, i;

	while (!c->body_eof && evbuffer_get_length(c->out) < OUT_LOW) {
		if ((n = read(c->bodyfd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			conn_fail(c, 0, "4.3.0", "message file read error");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] == '\n') {
				body_fragment(c, 1);
				continue;
			}
			c->lb[c->lblen++] = buf[i];
			if (c->lblen == sizeof(c->lb) - 1) {
				c->lb[c->lblen] = '\0';
				body_fragment(c, 0);
			}
			c->lb[c->lblen] = '\0';
		}
		/* a regular file: a read shorter than asked for is its end
		 * (no read to see 0) */
		if ((size_t)n < sizeof(buf)) {
			if (c->lblen > 0 || c->lb_cont)
				body_fragment(c, 1);
			evbuffer_add(c->out, ".\r\n", 3);
			c->body_eof = 1;
			c->state = M_DOT;
		}
	}
	want_write(c);
	set_timeout(c, c->body_eof ? relay_dot_timeout :
	    relay_command_timeout);
	return (0);
}

static void
body_start(struct mconn *c)
{
	c->bodyfd = queue_open_body(&c->job->msg->env, c->job->idx[0]);
	if (c->bodyfd == -1) {
		size_t i;
		for (i = 0; i < c->job->n; i++)
			sched_result(c->job, i, EV_ERROR, 0, "4.3.0",
			    "message file missing", "data");
		conn_fail(c, 0, "4.3.0", "message file missing");
		return;
	}
	c->lblen = 0;
	c->lb[0] = '\0';
	c->lb_cont = 0;
	c->in_hdr = 1;
	c->skip_hdr = c->drop_line = c->body_eof = 0;
	c->state = M_BODY;
	body_fill(c);
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

/* the transaction ends before its data: RSET, whose reply reports the
 * results (dot_reply) */
static void
tx_rset_end(struct mconn *c)
{
	c->rset_end = 1;
	c->state = M_RSET;
	send_line(c, "RSET");
}

/*
 * The transaction has a non-ASCII address (RFC 6531 3.4): MAIL says
 * SMTPUTF8 to a server that offers it.  Only the client's SMTPUTF8 (a
 * header in UTF-8, ASCII addresses) does not count here.
 */
static int
tx_utf8(const struct mconn *c)
{
	const struct envelope	*env = &c->job->msg->env;
	size_t			 i;

	if (!addr_is_ascii(env->sender))
		return (1);
	for (i = 0; i < c->job->n; i++)
		if (!addr_is_ascii(env->rcpts[c->job->idx[i]].addr))
			return (1);
	return (0);
}

/*
 * addr as MAIL or RCPT give it: without a trailing dot (not in the
 * syntax of RFC 5321 4.1.2: User@Example.COM. is User@Example.COM),
 * else as it is to a server with SMTPUTF8 (or when it is ASCII); to one
 * without, an ASCII local part at a UTF-8 domain goes with the domain's
 * A-label (RFC 6531 3.2: only the local part needs SMTPUTF8).  -1: it
 * cannot go without SMTPUTF8.
 */
static int
addr_out(const char *addr, int utf8, char *buf, size_t len)
{
	const char	*at = strrchr(addr, '@');
	char		 dom[256];
	size_t		 n;

	strlcpy(buf, addr, len);
	if (at != NULL && at[1] != '\0' && at[1] != '[' &&
	    (n = strlen(buf)) > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	if (utf8 || addr_is_ascii(addr))
		return (0);
	if (at == NULL || (size_t)(at - addr) >= len)
		return (-1);
	buf[at - addr] = '\0';
	if (!addr_is_ascii(buf) || dns_domain_ascii(at + 1, dom,
	    sizeof(dom)) == -1 || !addr_is_ascii(dom) ||
	    strlcat(buf, "@", len) >= len || strlcat(buf, dom, len) >= len) {
		strlcpy(buf, addr, len);
		return (-1);
	}
	return (0);
}

/* the MAIL FROM address (VERP, with a bounce domain); see addr_out */
static int
tx_from(const struct mconn *c, int utf8, char *buf, size_t len)
{
	const struct envelope	*env = &c->job->msg->env;
	char			 from[MH_ADDR_MAX + 64];

	if (env->sender[0] == '\0') {
		buf[0] = '\0';
		return (0);
	}
	if (relay_conf->bounce_domain[0] == '\0' ||
	    verp_encode(from, sizeof(from), env->id,
	    env->rcpts[c->job->idx[0]].addr, relay_conf->bounce_domain,
	    relay_conf->verp_key) == -1)
		strlcpy(from, env->sender, sizeof(from));
	return (addr_out(from, utf8, buf, len));
}

/* the transaction cannot go to a server without SMTPUTF8 */
static int
tx_needs_utf8(const struct mconn *c)
{
	char	 buf[MH_ADDR_MAX + 64];
	size_t	 i;

	if (tx_from(c, 0, buf, sizeof(buf)) == -1)
		return (1);
	for (i = 0; i < c->job->n; i++)
		if (addr_out(c->job->msg->env.rcpts[c->job->idx[i]].addr, 0,
		    buf, sizeof(buf)) == -1)
			return (1);
	return (0);
}

/*
 * A message this server cannot take fails for good, and no MAIL is sent:
 * one over the maximum size it announced (EHLO SIZE N, RFC 1870), as
 * Postfix has it, or one with a non-ASCII address when it does not offer
 * SMTPUTF8 (RFC 6531 3.4: not sent, returned).
 */
static int
tx_refused(struct mconn *c)
{
	size_t		 size = c->job->msg->env.size;
	const char	*host = c->hosts[c->addr_host[c->acur]], *ext;
	char		 desc[512];
	int		 code;

	/* the codes the server would have refused it with */
	if (c->ext_size && c->size_max != 0 && size > c->size_max) {
		code = 552;	/* RFC 1870 6.1 */
		ext = "5.3.4";
		snprintf(desc, sizeof(desc), "message size %zu exceeds fixed "
		    "maximum message size %zu of %s", size, c->size_max, host);
	} else if (!c->ext_smtputf8 && tx_needs_utf8(c)) {
		code = 553;	/* RFC 6531: 553 with X.6.7 */
		ext = "5.6.7";
		snprintf(desc, sizeof(desc), "a non-ASCII address, and %s "
		    "does not offer SMTPUTF8", host);
	} else
		return (0);
	log_info("mta %s: %s: %s", c->domain, c->peer, desc);
	job_fail_all(c, EV_BOUNCE, code, ext, desc, "mail");
	return (1);
}

/* the transaction: MAIL, RCPT..., DATA; pipelined when offered */
static void
tx_send(struct mconn *c)
{
	struct rjob	*j = c->job;
	char		 from[MH_ADDR_MAX + 64], sz[64];
	size_t		 total = j->n + 2;

	while (c->tx_sent < total &&
	    (c->ext_pipelining || c->tx_sent == c->tx_acked)) {
		if (!c->ext_pipelining && c->mail_failed) {
			tx_rset_end(c);
			return;
		}
		if (c->tx_sent == 0) {
			const struct envelope *env = &j->msg->env;
			(void)tx_from(c, c->ext_smtputf8, from, sizeof(from));
			sz[0] = '\0';
			if (c->ext_size)
				snprintf(sz, sizeof(sz), " SIZE=%zu",
				    env->size);
			send_line(c, "MAIL FROM:<%s>%s%s%s", from, sz,
			    env->body_8bit && c->ext_8bit ? " BODY=8BITMIME" :
			    "", (env->smtputf8 || tx_utf8(c)) &&
			    c->ext_smtputf8 ? " SMTPUTF8" : "");
		} else if (c->tx_sent <= j->n) {
			(void)addr_out(j->msg->env.rcpts[j->idx[c->tx_sent -
			    1]].addr, c->ext_smtputf8, from, sizeof(from));
			send_line(c, "RCPT TO:<%s>", from);
		} else {
			/* without pipelining, no DATA when nobody is left */
			if (!c->ext_pipelining && (c->mail_failed ||
			    c->naccepted == 0)) {
				c->tx_sent = c->tx_acked = total;
				tx_rset_end(c);
				return;
			}
			send_line(c, "DATA");
		}
		c->tx_sent++;
	}
}

static void
tx_start(struct mconn *c)
{
	mtls_sync(c);
	c->state = M_TX;
	c->tx_sent = c->tx_acked = 0;
	c->mail_failed = 0;
	c->rset_end = 0;
	c->naccepted = 0;
	c->nkept = 0;
	c->nmsgs++;
	free(c->accepted);
	if ((c->accepted = calloc(c->job->n, sizeof(int))) == NULL)
		fatal("calloc");
	if (tx_refused(c)) {
		/* reported once RSET is answered, not from inside the
		 * caller (it may be the scheduler's pass, mta_reuse) */
		tx_rset_end(c);
		return;
	}
	tx_send(c);
}

static enum event_kind
code_kind(int code)
{
	if (code >= 200 && code < 300)
		return (EV_DELIVERY);
	if (code >= 500)
		return (EV_BOUNCE);
	return (EV_SOFT_BOUNCE);
}

/*
 * The reply code text to what deferred recipients of this transaction at
 * a server that is not the last one to try (Postfix's smtp_rcpt_fail and
 * smtp_mesg_fail, SMTP_MISC_FLAG_FINAL_SERVER): logged, no event; the
 * next address takes them in this attempt (tx_move_on).
 */
static void
tx_keep_log(struct mconn *c, int code, const char *ext, const char *text,
    const char *what, size_t n)
{
	log_info("mta %s: %s said: %d %s (in reply to %s); %zu recipient%s "
	    "on to the next address", c->domain, c->peer, code, text, what,
	    n, n == 1 ? "" : "s");
	conn_last_reply(c, code, ext, what, text);
}

/*
 * Recipient k's reply in the transaction (stage mail, rcpt or data): a
 * 4xx from a server not the last one to try leaves k without a result,
 * kept for the next address (1); anything else is k's result (0).
 */
static int
tx_rcpt_reply(struct mconn *c, size_t k, int code, const char *ext,
    const char *text, const char *stage)
{
	if (code / 100 == 4 && !c->job->res[k].done && !conn_final(c)) {
		c->nkept++;
		return (1);
	}
	sched_reply(c->job, k, code_kind(code), code, ext, text, stage);
	return (0);
}

/* the job's recipients without a result yet */
static size_t
tx_undone(const struct mconn *c)
{
	size_t	 i, n = 0;

	for (i = 0; c->job != NULL && i < c->job->n; i++)
		if (!c->job->res[i].done)
			n++;
	return (n);
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

/* the reply to DATA or the final dot: each recipient taken gets it */
static void
tx_accepted_reply(struct mconn *c, int code, const char *ext,
    const char *text, const char *what)
{
	size_t	 i, n = 0;

	for (i = 0; i < c->job->n; i++)
		if (c->accepted[i])
			n += tx_rcpt_reply(c, i, code, ext, text, "data");
	if (n > 0)
		tx_keep_log(c, code, ext, text, what, n);
}

static void
tx_reply(struct mconn *c, int code, const char *text, const char *ext)
{
	struct rjob	*j = c->job;
	size_t		 k = c->tx_acked++, i;
	char		 ext4[16] = "";

	if (k == 0) {
		if (code / 100 != 2) {
			c->mail_failed = 1;
			for (i = 0; i < j->n; i++)
				(void)tx_rcpt_reply(c, i, code, ext, text,
				    "mail");
			if (c->nkept > 0)
				tx_keep_log(c, code, ext, text, "MAIL",
				    c->nkept);
		}
	} else if (k <= j->n) {
		if (code == 552) {
			/*
			 * RFC 5321 4.5.3.1.10: a 552 to RCPT is the old code
			 * for too many recipients (452), temporary; so is its
			 * enhanced code.  (Postfix's client keeps it a 5xx.)
			 */
			code = 452;
			if (ext[0] == '5') {
				snprintf(ext4, sizeof(ext4), "4%s", ext + 1);
				ext = ext4;
			}
		}
		if (c->mail_failed)
			;
		else if (code / 100 == 2) {
			c->accepted[k - 1] = 1;
			c->naccepted++;
		} else if (code == 452 && c->naccepted > 0)
			/*
			 * Too many recipients for this transaction (RFC 5321
			 * 4.5.3.1.10): the rest go in the next one at once
			 * (Postfix defers them as any 4xx).  Not after none
			 * was taken, which would never end.
			 */
			sched_untried(j, k - 1);
		else if (tx_rcpt_reply(c, k - 1, code, ext, text, "rcpt"))
			tx_keep_log(c, code, ext, text, "RCPT", 1);
	} else {
		/* DATA */
		if (code == 354) {
			if (c->naccepted == 0 || c->mail_failed) {
				c->state = M_DOT;
				c->body_eof = 1;
				evbuffer_add(c->out, ".\r\n", 3);
				want_write(c);
				set_timeout(c, relay_dot_timeout);
				return;
			}
			body_start(c);
			return;
		}
		if (code / 100 == 2 || code / 100 == 3) {
			/*
			 * Only 354 lets the data go (RFC 5321 4.3.2): no
			 * message was sent, and the server is out of step
			 * with our commands.
			 */
			conn_fail(c, 0, "4.5.0", "unexpected reply to DATA: "
			    "%d %s", code, text);
			return;
		}
		tx_accepted_reply(c, code, ext, text, "DATA");
		tx_rset_end(c);
		return;
	}
	tx_send(c);
}

/* the reply to the final dot */
static void
dot_reply(struct mconn *c, int code, const char *text, const char *ext)
{
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
	if ((c->job = sched_next_job(c->domain)) != NULL) {
		c->reused = 1;
		tx_start(c);
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
	c->job = j;
	c->reused = 1;
	tx_start(c);
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

/*
 * A server that greets with this host's name is this host, reached at an
 * address it does not know as its own (NAT, a load balancer): the mail
 * would loop (Postfix: "host X greeted me with my own hostname").  From
 * an MX host of the best preference (or the implicit MX) a bounce, 550
 * 5.4.6; from a less preferred one, the next address or MX.  A smart host
 * greeting so is a configuration to mend (a local MTA under this host's
 * name), not mail to return: the next address, else deferred, 4.4.6.
 * 1 if so (c is done with).
 */
static int
greeting_self(struct mconn *c, const char *text)
{
	char	 word[256], desc[800];
	size_t	 n = strcspn(text, " \t"), h = c->addr_host[c->acur];

	if (n == 0 || n >= sizeof(word) || dest_local(c))
		return (0);
	memcpy(word, text, n);
	word[n] = '\0';
	if (!mx_self(word))
		return (0);
	snprintf(desc, sizeof(desc), "mail for %s loops back to myself (%s "
	    "greets with this host's name)", c->domain, c->hosts[h]);
	log_warnx("mta %s: %s: %s", c->domain, c->peer, desc);
	if (c->smarthost || c->hpref[h] != c->hpref[0]) {
		conn_retry_next(c, "4.4.6", "%s", desc);
		return (1);
	}
	job_fail_all(c, EV_BOUNCE, 550, "5.4.6", desc, "connect");
	job_finish(c);
	c->state = M_QUIT;
	send_line(c, "QUIT");
	return (1);
}

static void
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
		if (code / 100 == 2)
			after_ehlo(c);
		else if (code / 100 == 5) {
			c->state = M_HELO;
			send_line(c, "HELO %s", relay_conf->hostname[0] ?
			    relay_conf->hostname : "localhost");
		} else
			conn_retry_reply(c, code, ext, "EHLO", text);
		break;
	case M_HELO:
		if (code / 100 != 2)
			conn_retry_reply(c, code, ext, "HELO", text);
		else
			after_ehlo(c);
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
		if (code / 100 != 2 && c->rset_end && c->nkept > 0) {
			/* the kept recipients need nothing more here */
			tx_move_on(c, 1);
			return;
		}
		if (code / 100 != 2) {
			conn_fail_reply(c, code, ext, "RSET", text);
			return;
		}
		if (c->rset_end) {
			c->rset_end = 0;
			/* the transaction ended early: report it */
			dot_reply(c, 0, "", "");
			return;
		}
		if (c->job != NULL)
			tx_start(c);
		else {
			c->state = M_QUIT;
			send_line(c, "QUIT");
		}
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
		if (c->state == M_BODY && !c->body_eof &&
		    evbuffer_get_length(c->out) < OUT_LOW &&
		    body_fill(c) == -1)
			return (-2);
	}
	return (0);
}

static void
conn_process(struct mconn *c)
{
	char		*line;
	size_t		 len;
	const char	*why = "a line too long";
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
	snprintf(what, sizeof(what), "malformed reply from server: %s", why);
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

static void
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

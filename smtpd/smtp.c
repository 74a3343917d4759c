/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP engine: listeners, configuration snapshots, session limits,
 * statistics and the dispatch of backend answers to their sessions.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/tree.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <tls.h>

#include "log.h"
#include "smtp.h"
#include "smtp_backend.h"
#include "smtpd.h"

struct smtp_global smtp_g;

struct smtp_listener {
	struct smtp_listener	*next;
	int			 fd;
	uint32_t		 id;
	struct event		 ev;
	struct event		 pause;		/* EMFILE backoff */
	int			 active;
};
static struct smtp_listener *listeners;

/* sessions per remote address */
#define IPTAB_SIZE	1024
struct ipent {
	struct ipent	*next;
	int		 n;
	char		 ip[64];
};
static struct ipent *iptab[IPTAB_SIZE];

int
session_cmp(struct session *a, struct session *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}
RB_GENERATE(session_tree, session, entry, session_cmp)

static unsigned int
ip_hash(const char *ip)
{
	unsigned int	 h = 5381;

	while (*ip != '\0')
		h = h * 33 + (unsigned char)*ip++;
	return (h % IPTAB_SIZE);
}

/*
 * count a session from ip: 1, or 0 if over the per-ip limit, -1 if
 * there is no memory to count it
 */
static int
ip_acquire(const char *ip, int max)
{
	struct ipent	*e;
	unsigned int	 h = ip_hash(ip);

	for (e = iptab[h]; e != NULL; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return (-1);
		strlcpy(e->ip, ip, sizeof(e->ip));
		e->next = iptab[h];
		iptab[h] = e;
	}
	if (max > 0 && e->n >= max)
		return (0);
	e->n++;
	return (1);
}

/*
 * The network of ip, as a key of the same table: its /24 (IPv4) or /64
 * (IPv6), so that one network cannot hold every session.
 */
static void
ip_net(const char *ip, char *key, size_t len)
{
	unsigned char	 a[16];
	char		 buf[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, ip, a) == 1) {
		a[3] = 0;
		inet_ntop(AF_INET, a, buf, sizeof(buf));
		snprintf(key, len, "net %s/24", buf);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, buf, sizeof(buf));
		snprintf(key, len, "net %s/64", buf);
	} else
		snprintf(key, len, "net %s", ip);
}

static void
ip_release(const char *ip)
{
	struct ipent	*e, **pp;
	unsigned int	 h = ip_hash(ip);

	for (pp = &iptab[h]; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->ip, ip) != 0)
			continue;
		if (--e->n <= 0) {
			*pp = e->next;
			free(e);
		}
		return;
	}
}

/* a session from ip is over: its address and its network */
void
smtp_ip_release(const char *ip)
{
	char	 net[64];

	ip_net(ip, net, sizeof(net));
	ip_release(ip);
	ip_release(net);
}

void
smtp_conf_unref(struct smtp_conf *c)
{
	size_t	 i;

	if (c == NULL || --c->refcnt > 0)
		return;
	for (i = 0; i < c->nlisteners; i++)
		tls_free(c->listeners[i].tls);
	free(c->listeners);
	free(c);
}

static struct tls *
tls_server_ctx(const struct config *conf, const struct listener *l)
{
	struct tls		*ctx;
	char			 why[256];

	if ((ctx = config_tls_listener(conf, l, why, sizeof(why))) == NULL)
		log_warnx("smtp: listener %u: %s", l->id, why);
	return (ctx);
}

static struct smtp_conf *
conf_snapshot(const struct config *conf)
{
	struct smtp_conf	*c;
	const struct listener	*l;
	struct smtp_lconf	*lc;
	size_t			 n = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->refcnt = 1;
	strlcpy(c->hostname, conf->hostname[0] ? conf->hostname : "localhost",
	    sizeof(c->hostname));
	c->max_size = conf->max_message_size;
	c->max_rcpt = conf->max_recipients > 0 ? conf->max_recipients : 100;
	c->max_sessions = conf->max_sessions;
	c->max_per_ip = conf->max_sessions_per_ip;
	c->max_per_net = conf->max_sessions_per_net;
	c->timeout = conf->smtp_timeout > 0 ? conf->smtp_timeout : 300;
	c->hs_timeout = conf->tls_handshake_timeout > 0 ?
	    conf->tls_handshake_timeout : 30;
	if (c->hs_timeout > c->timeout)
		c->hs_timeout = c->timeout;
	c->min_data_rate = conf->min_data_rate;
	c->max_junk = conf->max_junk;
	TAILQ_FOREACH(l, &conf->listeners, entry)
		n++;
	if (n > 0 && (c->listeners = calloc(n, sizeof(*lc))) == NULL) {
		free(c);
		return (NULL);
	}
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		lc = &c->listeners[c->nlisteners++];
		lc->id = l->id;
		lc->flags = l->flags;
		strlcpy(lc->hostname, l->hostname[0] ? l->hostname :
		    c->hostname, sizeof(lc->hostname));
		snprintf(lc->label, sizeof(lc->label), strchr(l->addr, ':') ?
		    "[%s]:%u" : "%s:%u", l->addr, (unsigned)l->port);
		/*
		 * an http listener is webd's: its key is not sent here; nor
		 * one of a listener pending a restart, which has no socket
		 */
		if (!(l->flags & LF_HTTP) && !l->pending &&
		    (l->flags & (LF_STARTTLS | LF_TLS_REQUIRE | LF_SMTPS))) {
			if ((lc->tls = tls_server_ctx(conf, l)) == NULL) {
				smtp_conf_unref(c);
				return (NULL);
			}
		}
	}
	return (c);
}

/*
 * How many sessions the descriptor limit carries, and how many of them
 * may hold message files at once (mailhook.h): each session its socket,
 * each such transaction a file per spool owner, and MH_FD_RESERVE stay
 * for the channels, libevent and the libraries.  Under MH_TX_FILES_MAX
 * transactions every session may be in one; above, the rest of the
 * descriptors go to more (idle) sessions.  Past the sessions smtpd stops
 * accepting (the connections wait in the listen queue) rather than lose
 * a descriptor in the middle of a transaction.
 */
static void
fd_budget(void)
{
	struct rlimit	 rl;
	rlim_t		 avail, each = MH_FDS_PER_SESSION + MH_FDS_PER_TX;

	smtp_g.fd_sessions = smtp_g.fd_tx = INT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		return;
	avail = rl.rlim_cur > MH_FD_RESERVE + MH_FDS_SPARE + each ?
	    rl.rlim_cur - MH_FD_RESERVE - MH_FDS_SPARE : each;
	if (avail / each <= MH_TX_FILES_MAX) {
		smtp_g.fd_sessions = smtp_g.fd_tx = avail / each;
		return;
	}
	smtp_g.fd_tx = MH_TX_FILES_MAX;
	smtp_g.fd_sessions = (avail - MH_TX_FILES_MAX * MH_FDS_PER_TX) /
	    MH_FDS_PER_SESSION;
}

int
smtp_init(struct event_base *base, const struct config *conf)
{
	memset(&smtp_g, 0, sizeof(smtp_g));
	RB_INIT(&smtp_g.sessions);
	smtp_g.base = base;
	smtp_g.greet_delay_ms = 0;
	smtp_g.session_timeout = 3600;
	smtp_g.max_errors = 10;
	smtp_g.next_id = ((uint64_t)arc4random() << 16) & 0xffffffffffffULL;
	fd_budget();
	if (tls_init() == -1) {
		log_warnx("smtp: tls_init failed");
		return (-1);
	}
	if ((smtp_g.conf = conf_snapshot(conf)) == NULL)
		return (-1);
	return (0);
}

int
smtp_configure(const struct config *conf)
{
	struct smtp_conf	*c;

	if ((c = conf_snapshot(conf)) == NULL)
		return (-1);
	smtp_conf_unref(smtp_g.conf);
	smtp_g.conf = c;
	/* the parent may have raised the limit for a new "limit sessions" */
	fd_budget();
	return (0);
}

void
smtp_tune(int greet_delay_ms, int session_timeout, int max_errors)
{
	if (greet_delay_ms >= 0)
		smtp_g.greet_delay_ms = greet_delay_ms;
	if (session_timeout >= 0)
		smtp_g.session_timeout = session_timeout;
	if (max_errors >= 0)
		smtp_g.max_errors = max_errors;
}

static const struct smtp_lconf *
lconf_find(struct smtp_conf *c, uint32_t id)
{
	size_t	 i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].id == id)
			return (&c->listeners[i]);
	return (NULL);
}

/*
 * A connection refused before its session: "421 CODE HOST TEXT" in plain
 * text (RFC 5321 3.8, the server named as in its greeting), written from
 * its parts as they stand, but not on an SMTPS listener (lc, NULL if
 * unknown), whose client reads its first bytes as TLS and would say the
 * port does not speak TLS ("wrong version number"); it gets the
 * connection closed.
 */
static void
refuse(int fd, const struct smtp_lconf *lc, const char *code,
    const char *text, const char *ip, const char *why)
{
	struct iovec	 iov[6];
	const char	*host;
	ssize_t		 n;

	smtp_g.t_refused++;
	log_info("event=refused ip=%s reason=%s", ip, why);
	if (lc == NULL || !(lc->flags & LF_SMTPS)) {
		host = lc != NULL ? lc->hostname : smtp_g.conf->hostname;
		iov[0].iov_base = (void *)code;
		iov[0].iov_len = strlen(code);
		iov[1].iov_base = " ";
		iov[1].iov_len = 1;
		iov[2].iov_base = (void *)host;
		iov[2].iov_len = strlen(host);
		iov[3].iov_base = " ";
		iov[3].iov_len = 1;
		iov[4].iov_base = (void *)text;
		iov[4].iov_len = strlen(text);
		iov[5].iov_base = "\r\n";
		iov[5].iov_len = 2;
		n = writev(fd, iov, 6);
		(void)n;
	}
	close(fd);
}

/* no memory to take the session: a temporary failure, not a limit */
static void
refuse_nomem(int fd, const struct smtp_lconf *lc, const char *ip)
{
	log_warn("smtp: session");
	refuse(fd, lc, "421 4.3.2", "Insufficient system resources, try "
	    "again later", ip, "out-of-memory");
}

/*
 * A session slot of key (the client's address ip, or its network) taken:
 * 1; or the client refused, as over max or as no memory, 0
 */
static int
slot_take(int fd, const struct smtp_lconf *lc, const char *ip,
    const char *key, int max, const char *what, const char *reason)
{
	char	text[64];

	switch (ip_acquire(key, max)) {
	case 1:
		return (1);
	case -1:
		refuse_nomem(fd, lc, ip);
		break;
	default:
		snprintf(text, sizeof(text), "Too many sessions from your %s",
		    what);
		refuse(fd, lc, "421 4.7.0", text, ip, reason);
		break;
	}
	return (0);
}

static void
sockaddr_ip(struct sockaddr_storage *ss, socklen_t sslen, char *ip,
    size_t n)
{
	if (getnameinfo((struct sockaddr *)ss, sslen, ip, n, NULL, 0,
	    NI_NUMERICHOST) != 0)
		strlcpy(ip, "unknown", n);
	if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL)
		memmove(ip, ip + 7, strlen(ip + 7) + 1);
}

static void
listener_resume(int fd, short ev, void *arg)
{
	struct smtp_listener	*l = arg;

	if (l->active)
		event_add(&l->ev, NULL);
}

static void
listener_accept(int fd, short ev, void *arg)
{
	struct smtp_listener	*l = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	struct timeval		 short_pause = { 0, 200000 };
	socklen_t		 sslen;
	const struct smtp_lconf	*lc;
	struct smtp_conf	*c = smtp_g.conf;
	char			 ip[64], net[64];
	int			 s, i;

	for (i = 0; i < 64; i++) {
		if (smtp_g.nsessions >= smtp_g.fd_sessions) {
			/* descriptors in reserve: leave the rest queued */
			if (!smtp_g.fd_full)
				log_warnx("smtp: %d sessions use the "
				    "descriptors "
				    "the limit leaves: not accepting",
				    smtp_g.nsessions);
			smtp_g.fd_full = 1;
			event_del(&l->ev);
			evtimer_add(&l->pause, &short_pause);
			return;
		}
		smtp_g.fd_full = 0;
		sslen = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("smtp: accept");
				event_del(&l->ev);
				evtimer_add(&l->pause, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("smtp: accept");
			return;
		}
		sockaddr_ip(&ss, sslen, ip, sizeof(ip));
		lc = lconf_find(c, l->id);
		if (smtp_g.stopping) {
			refuse(s, lc, "421 4.3.2", "Service shutting down",
			    ip, "stopping");
			continue;
		}
		if (smtp_g.paused) {
			/* mhctl pause smtp: an answer, not a hanging client */
			refuse(s, lc, "421 4.3.2",
			    "Service paused, try again later", ip, "paused");
			continue;
		}
		if (lc == NULL) {
			refuse(s, lc, "421 4.3.0", "Listener not configured",
			    ip, "listener");
			continue;
		}
		if (c->max_sessions > 0 &&
		    smtp_g.nsessions >= c->max_sessions) {
			refuse(s, lc, "421 4.7.0", "Too many sessions, try "
			    "again later", ip, "max-sessions");
			continue;
		}
		if (!slot_take(s, lc, ip, ip, c->max_per_ip, "address",
		    "max-sessions-per-ip"))
			continue;
		ip_net(ip, net, sizeof(net));
		if (!slot_take(s, lc, ip, net, c->max_per_net, "network",
		    "max-sessions-per-network")) {
			ip_release(ip);
			continue;
		}
		if (session_new(s, ip, &ss, c, lc) == -1) {
			smtp_ip_release(ip);
			refuse_nomem(s, lc, ip);
		}
	}
}

int
smtp_listen(int fd, uint32_t id)
{
	struct smtp_listener	*l;
	int			 on = 1;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (-1);
	/*
	 * No Nagle on the sessions (they inherit it from the listener):
	 * the replies to a pipelined group go out as each is ready (MAIL's
	 * at once, RCPT's after authd's verdict), and with Nagle the later
	 * ones waited for the client's delayed ACK of the first, 40 ms or
	 * more per transaction.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("smtp: listener TCP_NODELAY");
	l->fd = fd;
	l->id = id;
	l->active = 1;
	event_assign(&l->ev, smtp_g.base, fd, EV_READ | EV_PERSIST,
	    listener_accept, l);
	evtimer_assign(&l->pause, smtp_g.base, listener_resume, l);
	event_add(&l->ev, NULL);
	l->next = listeners;
	listeners = l;
	return (0);
}

void
smtp_pause(int on)
{
	/* the listeners keep accepting: a paused one answers 421 4.3.2 */
	smtp_g.paused = on;
	log_info("event=%s", on ? "pause" : "resume");
}

static void
listeners_close(void)
{
	struct smtp_listener	*l;

	while ((l = listeners) != NULL) {
		listeners = l->next;
		event_del(&l->ev);
		event_del(&l->pause);
		close(l->fd);
		free(l);
	}
}

void
smtp_shutdown(void)
{
	struct session		*s, *next;

	listeners_close();
	RB_FOREACH_SAFE(s, session_tree, &smtp_g.sessions, next)
		session_shutdown(s);
}

/*
 * A stop begins: a new client is told 421 at once (the listeners stay
 * until the end), a session that waits for nothing from us is told 421
 * now; one whose recipient, login or message is being decided gets that
 * answer first if it comes in time, then its 421 (session_resume).  The
 * sessions left.
 */
int
smtp_stop(void)
{
	struct session		*s, *next;

	smtp_g.stopping = 1;
	RB_FOREACH_SAFE(s, session_tree, &smtp_g.sessions, next)
		if (s->wait == W_NONE)
			session_shutdown(s);
	return (smtp_g.nsessions);
}

int
smtp_sessions(void)
{
	return (smtp_g.nsessions);
}

/* sessions register themselves here */
uint64_t
smtp_reqid(struct session *s)
{
	s->seq++;
	return ((s->id << 16) | s->seq);
}

struct session *
smtp_session_find(uint64_t reqid)
{
	struct session	 key;

	key.id = reqid >> 16;
	return (RB_FIND(session_tree, &smtp_g.sessions, &key));
}

void
smtp_session_insert(struct session *s)
{
	/* id 0 is the spare files' (smtp_tx.c) */
	if ((s->id = smtp_g.next_id++ & 0xffffffffffffULL) == 0)
		s->id = smtp_g.next_id++ & 0xffffffffffffULL;
	RB_INSERT(session_tree, &smtp_g.sessions, s);
	smtp_g.nsessions++;
	smtp_g.t_sessions++;
}

void
smtp_session_remove(struct session *s)
{
	RB_REMOVE(session_tree, &smtp_g.sessions, s);
	smtp_g.nsessions--;
	smtp_ip_release(s->ip);
}

void
smtp_rcpt_verdict(const struct authd_rcpt_res *res)
{
	struct session	*s;

	if ((s = smtp_session_find(res->reqid)) == NULL)
		return;
	session_rcpt_verdict(s, res);
}

void
smtp_auth_verdict(const struct authd_auth_res *res)
{
	struct session	*s;

	if ((s = smtp_session_find(res->reqid)) == NULL)
		return;
	session_auth_verdict(s, res);
}

void
smtp_spool_fd(int owner, const struct spool_fd *sf, int fd)
{
	struct session	*s;

	if (tx_spare_reqid(sf->reqid))
		tx_spare_fd(owner, sf, fd);
	else if ((s = smtp_session_find(sf->reqid)) != NULL)
		tx_spool_fd(s, owner, sf, fd);
	else	/* the session is gone: give the file back */
		tx_spool_giveback(owner, sf, fd);
}

void
smtp_spool_result(int owner, const struct spool_result *sr)
{
	struct session	*s;

	if ((s = smtp_session_find(sr->reqid)) == NULL)
		return;
	tx_spool_result(s, owner, sr);
}

json_t *
smtp_stats(void)
{
	struct session	*s;
	json_t		*states, *tot;
	json_int_t	 n;
	const char	*name;
	int		 i;

	states = json_object();
	for (i = S_GREETING; i <= S_CLOSING; i++)
		json_object_set_new(states, session_state_name(i),
		    json_integer(0));
	RB_FOREACH(s, session_tree, &smtp_g.sessions) {
		name = session_state_name(s->state);
		n = json_integer_value(json_object_get(states, name));
		json_object_set_new(states, name, json_integer(n + 1));
	}
	tot = json_pack("{sIsIsIsIsIsIsIsIsIsIsI}",
	    "sessions", (json_int_t)smtp_g.t_sessions,
	    "refused", (json_int_t)smtp_g.t_refused,
	    "messages", (json_int_t)smtp_g.t_messages,
	    "messages_rejected", (json_int_t)smtp_g.t_rejected,
	    "rcpt_accepted", (json_int_t)smtp_g.t_rcpt_ok,
	    "rcpt_rejected", (json_int_t)smtp_g.t_rcpt_rej,
	    "tls", (json_int_t)smtp_g.t_tls,
	    "auth_ok", (json_int_t)smtp_g.t_auth_ok,
	    "auth_failed", (json_int_t)smtp_g.t_auth_fail,
	    "timeouts", (json_int_t)smtp_g.t_timeouts,
	    "bytes", (json_int_t)smtp_g.t_bytes,
	    "paused", (json_int_t)smtp_g.paused);
	return (json_pack("{sIsososo}", "sessions",
	    (json_int_t)smtp_g.nsessions, "states", states, "totals", tot,
	    "spare_files", tx_spares_json()));
}

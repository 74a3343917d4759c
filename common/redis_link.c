/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The link to the cluster's Redis (redis_link.h).  Linking: both
 * connections connect (through TLS for rediss://), AUTH (and SELECT) on
 * the command one, INFO checks the version, the other SUBSCRIBEs; only
 * then is the link up.  Every command has a deadline: a Redis that
 * leaves the oldest command it has been sent unanswered for 2 s (from
 * its writing or the answer before it) is treated as down.  One that
 * answers, however long its queue (every suppression of a node pushed
 * at a link, each a script call), is not; nor is the time this process
 * was busy, with the command not written yet, counted against Redis.
 * The node's heartbeat (a sorted set of nodes by last beat) tells how
 * many nodes share an allowance when the link is down.
 *
 * The protocol is hiredis's: its command formatter and its reply reader.
 * The transport is ours, a non-blocking socket on the process's libevent
 * base with libtls on it when the URL says rediss://, because the
 * hiredis of Debian 12 (0.14) has no TLS and its async contexts read and
 * write their socket themselves.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <tls.h>

#include "log.h"
#include "redis_link.h"
#include "sanitize.h"

#define REDIS_TIMEOUT_MS	2000	/* a command's deadline, a connect's */
#define REDIS_BEAT		5	/* seconds between heartbeats */
#define REDIS_NODE_ALIVE	30	/* a node beat this lately: counted */
#define REDIS_BACKOFF_MAX	30
/*
 * A link up this long before it drops was a good one: the next try is
 * 1 s away.  One that drops sooner (a Redis that crashes on what a link
 * sends, every suppression of the node, or a proxy that drops it) is a
 * failure like any, and the backoff goes on doubling: relinked every
 * second, each link pushed the whole list again.
 */
#define REDIS_LINK_STABLE	10
#define REDIS_VERSION_MIN	5
#define REDIS_NODES		REDIS_PREFIX "nodes"
#define REDIS_READ		16384
/*
 * What one wake-up of a connection may take of the process's time: its
 * reads and what their replies cost (a change on the channel is written
 * to the spool, an fsync each) stop once it is spent; the replies read
 * and not handled yet are handled at the next turn of the event loop,
 * after the process's other events, and only then is the socket read
 * again.  A flood on the channel took all of it: nothing else was
 * answered, the command connection's replies were not read and passed
 * their deadline.
 */
#define REDIS_SLICE_MS		50
/*
 * The bytes of one reply that the reader may hold unparsed: a bulk
 * string or a line (hiredis takes an array's elements as they come, so
 * a page of the suppression list's HSCAN never holds more than one).
 * Ours are a few hundred bytes; a broken or hostile Redis that announces
 * a bulk of 512 MB and sends it would have it all buffered.
 */
#define REDIS_REPLY_MAX		(1024 * 1024)
/*
 * Redis's text that is shown (mhctl show status, show cluster): valid
 * UTF-8 only, which the JSON of those answers must be; bytes as they
 * came made them fail, and neither answered
 */
#define SAN_REDIS		(SAN_CTLSPACE | SAN_UTF8 | SAN_NOBIDI)

/*
 * What the reply to one command may cost in hiredis's memory, counted
 * as its reader builds it (reply_cost: each reply object, the pointers
 * an array announces, each string's bytes), since hiredis 0.14 has no
 * bound of its own: an array announced with 2^31 - 1 elements had its
 * 16 GB of pointers allocated, and a reply of 2^25 small elements took
 * 2 GB.  No answer to a command of ours comes near REDIS_COST_CMD (INFO,
 * the nodes' ZRANGE, hookd's MGET of a batch, a page of the suppression
 * list's HSCAN: 2000 entries of some 200 bytes, under 1,000 each), nor
 * a message on the channel near REDIS_COST_CHANNEL.  The suppression
 * list is read a page at a time (relayd/cluster.c, the full load): one
 * HGETALL had a bound of its own, 512 MB, which a list of more than
 * some 2.5 million entries passed at every load.
 */
#define REDIS_COST_CMD		(4 * 1024 * 1024)
#define REDIS_COST_CHANNEL	(2 * 1024 * 1024)

enum link_state { LINK_OFF, LINK_DOWN, LINK_LINKING, LINK_UP };
static const char *state_names[] = { "off", "down", "linking", "up" };

struct rconn;

struct pending {
	TAILQ_ENTRY(pending)	 entry;
	struct rconn		*conn;		/* in its fifo */
	unsigned long long	 out_end;	/* its last byte: conn's
						   queued count */
	long long		 written_at;	/* ms, written as the
						   oldest awaited */
	redis_reply_fn		 fn;
	void			*arg;
	struct event		*deadline;
	size_t			 max;		/* its reply's cost */
	char			 name[16];	/* the command's */
	int			 done;
};
TAILQ_HEAD(pendinglist, pending);

/* one connection: the command one or the subscribed one */
struct rconn {
	int			 fd;
	struct tls		*tls;		/* rediss:// */
	int			 connecting;	/* TCP, then TLS handshake */
	int			 handshaken;
	struct event		*rev, *wev, *timer;
	struct event		*resume;	/* replies left: a slice
						   was spent */
	struct evbuffer		*out;
	redisReader		*reader;
	struct pendinglist	 fifo;		/* replies awaited, in order */
	unsigned long long	 queued, written;	/* bytes */
	long long		 last_reply;	/* ms, monotonic */
	long long		 last_write;
	size_t			 cost;		/* of the reply being read */
	char			 too_big[64];	/* why it was refused */
	int			 sub;		/* the channel's: the rest */
	int			 busy, dead;	/* in a dispatch; freed after */
};

static struct {
	struct event_base	*base;
	struct cluster_conf	 conf;
	char			 node[MH_NAME_MAX];
	char			 renamed[MH_NAME_MAX];	/* the name before
							   a reload, "" */
	char			 channel[sizeof(REDIS_CHANNEL) + 8];
	struct redis_hooks	 hooks;
	struct rconn		*cmd, *sub;
	struct tls_config	*tlscfg;
	char			*ca;		/* the config's CA bundle */
	size_t			 calen;
	enum link_state		 state;
	int			 sub_ready, cmd_ready;
	int			 backoff;
	struct event		*retry, *beat;
	char			 error[256];
	char			 refusal[128];	/* the last error reply */
	char			 refusal_logged[128];
	time_t			 refusal_at;	/* when it was logged */
	int			 refused;	/* in its callback */
	char			 version[32];
	time_t			 since;
	time_t			 configured;
	int			 nodes;
	json_t			*seen;		/* [{node, last_beat}] */
	unsigned long long	 links, drops, fallbacks;
	time_t			 fallback_logged;
} rl;

static void	 link_start(int, short, void *);
static void	 link_fail(const char *, const char *);
static void	 on_channel(struct rconn *, const redisReply *);
static void	 on_connected(struct rconn *);

/* hiredis's reply functions, each counted first (reply_cost) */
static const redisReplyObjectFunctions	*hiredis_fns;
static redisReplyObjectFunctions	 reply_fns;

static long long
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* the state changed: whoever cares (relayd tells the parent) */
static void
report(void)
{
	struct cluster_link	 cl;

	if (rl.hooks.changed == NULL)
		return;
	memset(&cl, 0, sizeof(cl));
	cl.up = rl.state == LINK_UP;
	cl.since = rl.since;
	strlcpy(cl.state, state_names[rl.state], sizeof(cl.state));
	strlcpy(cl.error, rl.error, sizeof(cl.error));
	rl.hooks.changed(&cl);
}

static int
cluster_same(const struct cluster_conf *a, const struct cluster_conf *b)
{
	return (strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    a->db == b->db && a->tls == b->tls &&
	    strcmp(a->user, b->user) == 0 &&
	    strcmp(a->password, b->password) == 0);
}

/* ---- the transport */

static void
pending_free(struct pending *p)
{
	if (p->deadline != NULL)
		event_free(p->deadline);
	free(p);
}

/*
 * a reply to p, or NULL: the connection is gone, or an error reply
 * (redis_link_refused() says which); the same error again is logged
 * once in REFUSAL_LOG s, not at each command it refuses
 */
#define REFUSAL_LOG	300
static void
on_reply(struct pending *p, const redisReply *reply)
{
	time_t	 now;

	if (!p->done) {
		p->done = 1;
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
			snprintf(rl.refusal, sizeof(rl.refusal), "%.*s",
			    (int)(reply->len > 120 ? 120 : reply->len),
			    reply->str);
			now = time(NULL);
			if (rl.state == LINK_UP && (now - rl.refusal_at >=
			    REFUSAL_LOG || strcmp(rl.refusal,
			    rl.refusal_logged) != 0)) {
				log_warnx("cluster: redis answered an error: "
				    "%s", rl.refusal);
				strlcpy(rl.refusal_logged, rl.refusal,
				    sizeof(rl.refusal_logged));
				rl.refusal_at = now;
			}
			reply = NULL;
			rl.refused = 1;
		}
		p->fn(reply, p->arg);
		rl.refused = 0;
	}
	pending_free(p);
}

const char *
redis_link_refused(void)
{
	return (rl.refused ? rl.refusal : NULL);
}

static void
conn_destroy(struct rconn *c)
{
	if (c->tls != NULL)
		tls_free(c->tls);
	if (c->fd != -1)
		close(c->fd);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	event_free(c->resume);
	evbuffer_free(c->out);
	redisReaderFree(c->reader);
	free(c);
}

/* every reply awaited is answered NULL; freed now or after its dispatch */
static void
conn_free(struct rconn *c)
{
	struct pending	*p;

	if (c == NULL || c->dead)
		return;
	c->dead = 1;
	event_del(c->rev);
	event_del(c->wev);
	event_del(c->timer);
	event_del(c->resume);
	while ((p = TAILQ_FIRST(&c->fifo)) != NULL) {
		TAILQ_REMOVE(&c->fifo, p, entry);
		on_reply(p, NULL);
	}
	if (c->busy == 0)
		conn_destroy(c);
}

static void
contexts_free(void)
{
	struct rconn	*c;

	if ((c = rl.cmd) != NULL) {
		rl.cmd = NULL;
		conn_free(c);
	}
	if ((c = rl.sub) != NULL) {
		rl.sub = NULL;
		conn_free(c);
	}
	rl.cmd_ready = rl.sub_ready = 0;
}

/* one of ours broke: the link with it */
static void
conn_error(struct rconn *c, const char *what, const char *why)
{
	if (c == rl.cmd || c == rl.sub)
		link_fail(what, why);
	else
		conn_free(c);
}

static int
conn_wants_write(struct rconn *c)
{
	return (c->connecting || evbuffer_get_length(c->out) > 0);
}

/* what c has to send, as far as the socket takes it */
static void
conn_flush(struct rconn *c)
{
	struct evbuffer_iovec	 v;
	struct pending		*p;
	ssize_t			 n;

	while (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
			break;
		if (c->tls != NULL) {
			n = tls_write(c->tls, v.iov_base, v.iov_len);
			if (n == TLS_WANT_POLLOUT || n == TLS_WANT_POLLIN)
				break;
			if (n == -1) {
				conn_error(c, "write", tls_error(c->tls));
				return;
			}
		} else if ((n = write(c->fd, v.iov_base, v.iov_len)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_error(c, "write", strerror(errno));
			return;
		}
		evbuffer_drain(c->out, n);
		c->written += n;
		c->last_write = mono_ms();
		if ((p = TAILQ_FIRST(&c->fifo)) != NULL &&
		    p->written_at == 0 && p->out_end <= c->written)
			p->written_at = c->last_write;
	}
	if (conn_wants_write(c))
		event_add(c->wev, NULL);
}

/*
 * n bytes more of the reply c is reading: 0, or -1 if that is more than
 * its command's reply may cost (the reader's error, why in c->too_big)
 */
static int
reply_cost(struct rconn *c, size_t n)
{
	struct pending	*p = TAILQ_FIRST(&c->fifo);
	size_t		 max = REDIS_COST_CMD;
	const char	*name = "no command";

	if (c->sub) {
		max = REDIS_COST_CHANNEL;
		name = "the channel";
	} else if (p != NULL) {
		max = p->max;
		name = p->name;
	}
	if (n <= max && c->cost <= max - n) {
		c->cost += n;
		return (0);
	}
	snprintf(c->too_big, sizeof(c->too_big), "a reply to %s of more "
	    "than %zu bytes", name, max);
	return (-1);
}

#define REPLY_OBJ	(sizeof(redisReply) + sizeof(redisReply *))

static void *
reply_string(const redisReadTask *task, char *str, size_t len)
{
	if (reply_cost(task->privdata, REPLY_OBJ + len + 1) == -1)
		return (NULL);
	return (hiredis_fns->createString(task, str, len));
}

static void *
reply_array(const redisReadTask *task, int elements)
{
	size_t	 n = elements > 0 ? (size_t)elements : 0;

	if (n > SIZE_MAX / sizeof(redisReply *) - REPLY_OBJ ||
	    reply_cost(task->privdata, REPLY_OBJ +
	    n * sizeof(redisReply *)) == -1)
		return (NULL);
	return (hiredis_fns->createArray(task, elements));
}

static void *
reply_integer(const redisReadTask *task, long long v)
{
	if (reply_cost(task->privdata, REPLY_OBJ) == -1)
		return (NULL);
	return (hiredis_fns->createInteger(task, v));
}

static void *
reply_nil(const redisReadTask *task)
{
	if (reply_cost(task->privdata, REPLY_OBJ) == -1)
		return (NULL);
	return (hiredis_fns->createNil(task));
}

/* why c's reader stopped */
static const char *
reader_error(struct rconn *c)
{
	return (c->too_big[0] != '\0' ? c->too_big : c->reader->errstr);
}

/* on the channel's connection: a message or a subscription, no reply */
static int
channel_push(const redisReply *r)
{
	const redisReply	*kind;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    (kind = r->element[0])->type != REDIS_REPLY_STRING)
		return (0);
	return (strcmp(kind->str, "message") == 0 ||
	    strcmp(kind->str, "subscribe") == 0);
}

/*
 * the replies read so far, each to its pending in order (c is busy),
 * until the slice that began at start is spent: 1 if some are left
 */
static int
conn_dispatch(struct rconn *c, long long start)
{
	struct pending	*p;
	void		*r;

	while (!c->dead) {
		if (mono_ms() - start >= REDIS_SLICE_MS &&
		    c->reader->pos < c->reader->len)
			return (1);
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
			conn_error(c, "protocol", reader_error(c));
			break;
		}
		if (r == NULL)
			break;
		c->cost = 0;
		c->last_reply = mono_ms();
		if (c->sub && channel_push(r))
			on_channel(c, r);
		else if ((p = TAILQ_FIRST(&c->fifo)) != NULL) {
			TAILQ_REMOVE(&c->fifo, p, entry);
			on_reply(p, r);
		} else if (c->sub)
			on_channel(c, r);
		else
			conn_error(c, "protocol", "a reply to no command");
		freeReplyObject(r);
	}
	return (0);
}

/* a slice's dispatch; the rest of it at the next turn: 1, else 0 */
static int
conn_slice(struct rconn *c, long long start)
{
	struct timeval	 now = { 0, 0 };
	int		 left;

	c->busy++;
	left = conn_dispatch(c, start);
	if (--c->busy == 0 && c->dead) {
		conn_destroy(c);
		return (-1);
	}
	if (c->dead)
		return (-1);
	if (left) {
		event_del(c->rev);
		evtimer_add(c->resume, &now);
	}
	return (left);
}

/* the replies a spent slice left, then the socket again */
static void
conn_resume(int fd, short ev, void *arg)
{
	struct rconn	*c = arg;

	if (conn_slice(c, mono_ms()) == 0) {
		event_add(c->rev, NULL);
		if (evbuffer_get_length(c->out) > 0)
			conn_flush(c);
	}
}

static void
conn_handshake(struct rconn *c)
{
	int	 rv;

	if ((rv = tls_handshake(c->tls)) == TLS_WANT_POLLIN)
		return;
	if (rv == TLS_WANT_POLLOUT) {
		event_add(c->wev, NULL);
		return;
	}
	if (rv == -1) {
		conn_error(c, "tls", tls_error(c->tls));
		return;
	}
	c->handshaken = 1;
	on_connected(c);
}

static void
conn_read(int fd, short ev, void *arg)
{
	struct rconn	*c = arg;
	char		 buf[REDIS_READ];
	ssize_t		 n;
	long long	 start = mono_ms();
	int		 left;

	if (c->connecting)
		return;
	if (c->tls != NULL && !c->handshaken) {
		conn_handshake(c);
		return;
	}
	for (;;) {
		if (c->tls != NULL) {
			n = tls_read(c->tls, buf, sizeof(buf));
			if (n == TLS_WANT_POLLIN)
				break;
			if (n == TLS_WANT_POLLOUT) {
				event_add(c->wev, NULL);
				break;
			}
		} else
			n = read(c->fd, buf, sizeof(buf));
		if (n == -1 && c->tls == NULL && (errno == EAGAIN ||
		    errno == EINTR))
			break;
		if (n == -1) {
			conn_error(c, "read", c->tls != NULL ?
			    tls_error(c->tls) : strerror(errno));
			return;
		}
		if (n == 0) {
			conn_error(c, "disconnected", "closed by the server");
			return;
		}
		if (redisReaderFeed(c->reader, buf, n) != REDIS_OK) {
			conn_error(c, "protocol", reader_error(c));
			return;
		}
		if ((left = conn_slice(c, start)) == -1)
			return;
		if (c->reader->len - c->reader->pos > REDIS_REPLY_MAX) {
			conn_error(c, "protocol", "a reply longer than 1 MB");
			return;
		}
		if (left || (c->tls == NULL && (size_t)n < sizeof(buf)) ||
		    mono_ms() - start >= REDIS_SLICE_MS)
			break;
	}
	if (!c->dead && evbuffer_get_length(c->out) > 0)
		conn_flush(c);
}

static void
conn_write(int fd, short ev, void *arg)
{
	struct rconn	*c = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (c->connecting) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			conn_error(c, "connect", strerror(err));
			return;
		}
		c->connecting = 0;
		if (c->tls == NULL) {
			on_connected(c);
			return;
		}
		if (tls_connect_socket(c->tls, c->fd, rl.conf.host) == -1) {
			conn_error(c, "tls", tls_error(c->tls));
			return;
		}
	}
	if (c->tls != NULL && !c->handshaken) {
		conn_handshake(c);
		return;
	}
	conn_flush(c);
}

static void
conn_timeout(int fd, short ev, void *arg)
{
	struct rconn	*c = arg;

	conn_error(c, "connect", "no connection within 2 s");
}

static int
conn_tls(struct rconn *c)
{
	if (rl.tlscfg == NULL && (rl.tlscfg = tls_config_new()) == NULL)
		return (-1);
	if (rl.ca != NULL && tls_config_set_ca_mem(rl.tlscfg,
	    (const uint8_t *)rl.ca, rl.calen) == -1) {
		log_warnx("cluster: %s", tls_config_error(rl.tlscfg));
		return (-1);
	}
	if ((c->tls = tls_client()) == NULL ||
	    tls_configure(c->tls, rl.tlscfg) == -1)
		return (-1);
	return (0);
}

/* a connection on its way; NULL (logged) if it cannot even start */
static struct rconn *
conn_new(int sub)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct rconn		*c;
	struct timeval		 tv = { REDIS_TIMEOUT_MS / 1000, 0 };

	if (config_addr(rl.conf.host, rl.conf.port, &ss, &sl) == -1)
		return (NULL);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    (c->reader = redisReaderCreate()) == NULL)
		fatalx("cluster: out of memory");
	if (hiredis_fns == NULL) {
		hiredis_fns = c->reader->fn;
		reply_fns = *hiredis_fns;
		reply_fns.createString = reply_string;
		reply_fns.createArray = reply_array;
		reply_fns.createInteger = reply_integer;
		reply_fns.createNil = reply_nil;
	}
	c->reader->fn = &reply_fns;
	c->reader->privdata = c;
	TAILQ_INIT(&c->fifo);
	c->sub = sub;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if ((c->rev = event_new(rl.base, c->fd, EV_READ | EV_PERSIST,
	    conn_read, c)) == NULL ||
	    (c->wev = event_new(rl.base, c->fd, EV_WRITE, conn_write,
	    c)) == NULL ||
	    (c->timer = evtimer_new(rl.base, conn_timeout, c)) == NULL ||
	    (c->resume = evtimer_new(rl.base, conn_resume, c)) == NULL)
		fatal("event_new");
	if (c->fd == -1 || (rl.conf.tls && conn_tls(c) == -1) ||
	    (connect(c->fd, (struct sockaddr *)&ss, sl) == -1 &&
	    errno != EINPROGRESS)) {
		log_warn("cluster: redis %s:%d", rl.conf.host, rl.conf.port);
		conn_destroy(c);
		return (NULL);
	}
	c->connecting = 1;
	event_add(c->rev, NULL);
	event_add(c->wev, NULL);
	evtimer_add(c->timer, &tv);
	return (c);
}

static void
on_deadline(int fd, short ev, void *arg)
{
	struct pending	*p = arg;
	redis_reply_fn	 fn = p->fn;
	void		*fnarg = p->arg;
	struct rconn	*c = p->conn;
	struct pending	*head;
	struct timeval	 tv;
	long long	 since, quiet;

	if (p->done)
		return;
	head = TAILQ_FIRST(&c->fifo);
	/*
	 * Redis owes the oldest command an answer since it was written (or
	 * the one before answered); not written yet, since the last write
	 * (a Redis that reads nothing lets none through).  Meanwhile p
	 * waits its turn.
	 */
	if (head->out_end <= c->written)
		since = head->written_at;
	else
		since = c->last_write;
	if (c->last_reply > since)
		since = c->last_reply;
	if ((quiet = mono_ms() - since) < REDIS_TIMEOUT_MS) {
		tv.tv_sec = (REDIS_TIMEOUT_MS - quiet) / 1000;
		tv.tv_usec = (REDIS_TIMEOUT_MS - quiet) % 1000 * 1000;
		evtimer_add(p->deadline, &tv);
		return;
	}
	p->done = 1;
	/* frees p with its connection; then the caller hears of it */
	link_fail("timeout", "no answer within 2 s");
	fn(NULL, fnarg);
}

/* AUTH's command, written or dropped with its connection */
static void
cmd_wipe(const void *data, size_t len, void *arg)
{
	explicit_bzero((void *)data, len);
	redisFreeCommand((char *)data);
}

/*
 * a command on c, its reply to fn (NULL fn: the channel's, no deadline),
 * costing at most max (reply_cost)
 */
static int
send_on(struct rconn *c, redis_reply_fn fn, void *arg, size_t max,
    int argc, const char **argv, const size_t *lens)
{
	struct pending	*p;
	struct timeval	 tv = { REDIS_TIMEOUT_MS / 1000,
			    (REDIS_TIMEOUT_MS % 1000) * 1000 };
	char		*cmd;
	int		 len;

	if (c == NULL || c->dead)
		return (-1);
	if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0)
		return (-1);
	/*
	 * AUTH's password is not left in freed memory: its command is
	 * wiped once written or dropped (a copy in the buffer would be
	 * freed as it is)
	 */
	if (strcmp(argv[0], "AUTH") == 0) {
		if (evbuffer_add_reference(c->out, cmd, len, cmd_wipe,
		    NULL) == -1)
			fatal("evbuffer_add_reference");
	} else {
		if (evbuffer_add(c->out, cmd, len) == -1)
			fatal("evbuffer_add");
		redisFreeCommand(cmd);
	}
	c->queued += len;
	if (fn != NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			fatal("calloc");
		p->fn = fn;
		p->arg = arg;
		p->max = max;
		sanitize_text(p->name, sizeof(p->name), argv[0],
		    lens != NULL ? lens[0] : strlen(argv[0]), SAN_REDIS);
		p->conn = c;
		p->out_end = c->queued;
		if ((p->deadline = evtimer_new(rl.base, on_deadline,
		    p)) == NULL)
			fatal("evtimer_new");
		TAILQ_INSERT_TAIL(&c->fifo, p, entry);
		evtimer_add(p->deadline, &tv);
	}
	if (!c->connecting && (c->tls == NULL || c->handshaken))
		event_add(c->wev, NULL);
	return (0);
}

/* ---- the link */

static void
retry_later(void)
{
	struct timeval	 tv;

	rl.backoff = rl.backoff == 0 ? 1 : rl.backoff * 2;
	if (rl.backoff > REDIS_BACKOFF_MAX)
		rl.backoff = REDIS_BACKOFF_MAX;
	tv.tv_sec = rl.backoff;
	tv.tv_usec = 0;
	evtimer_add(rl.retry, &tv);
}

static void
link_fail(const char *what, const char *why)
{
	char	 text[200], msg[sizeof(rl.error)];

	sanitize_text(text, sizeof(text), why ? why : "", SIZE_MAX,
	    SAN_REDIS);
	snprintf(msg, sizeof(msg), "%.40s: %s", what, text);
	if (rl.state == LINK_UP) {
		rl.drops++;
		log_warnx("cluster: redis %s:%d lost (%s); local state "
		    "answers until it is back", rl.conf.host, rl.conf.port,
		    msg);
	} else if (strcmp(rl.error, msg) != 0)
		log_warnx("cluster: redis %s:%d: %s", rl.conf.host,
		    rl.conf.port, msg);
	strlcpy(rl.error, msg, sizeof(rl.error));
	if (rl.state == LINK_UP) {
		if (time(NULL) - rl.since >= REDIS_LINK_STABLE)
			rl.backoff = 0;
		rl.since = time(NULL);
	}
	rl.state = LINK_DOWN;
	evtimer_del(rl.beat);
	contexts_free();
	retry_later();
	report();
}

int
redis_command(redis_reply_fn fn, void *arg, int argc, const char **argv,
    const size_t *lens)
{
	if (rl.state != LINK_UP)
		return (-1);
	return (send_on(rl.cmd, fn, arg, REDIS_COST_CMD, argc, argv, lens));
}

static void
now_up(void)
{
	rl.state = LINK_UP;
	rl.since = time(NULL);
	rl.error[0] = '\0';
	rl.links++;
	log_info("cluster: linked to redis %s:%d%s (version %s) as node %s",
	    rl.conf.host, rl.conf.port, rl.conf.tls ? " over TLS" : "",
	    rl.version, rl.node);
	event_active(rl.beat, EV_TIMEOUT, 0);
	report();
	if (rl.hooks.linked != NULL)
		rl.hooks.linked();
}

/* the channel: subscribe confirmations, then messages */
static void
on_channel(struct rconn *c, const redisReply *reply)
{
	const redisReply	*kind, *data;

	if (c != rl.sub)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    (kind = reply->element[0])->type != REDIS_REPLY_STRING) {
		link_fail("subscribe", "unexpected reply on the channel");
		return;
	}
	data = reply->element[2];
	if (strcmp(kind->str, "subscribe") == 0) {
		rl.sub_ready = 1;
		if (rl.cmd_ready && rl.state == LINK_LINKING)
			now_up();
	} else if (strcmp(kind->str, "message") == 0 &&
	    data->type == REDIS_REPLY_STRING && rl.hooks.message != NULL &&
	    rl.state == LINK_UP)
		rl.hooks.message(data->str, data->len);
}

static void
on_info(const redisReply *r, void *arg)
{
	const char	*v;
	int		 major;

	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    (v = strstr(r->str, "redis_version:")) == NULL) {
		if (rl.state == LINK_LINKING)
			link_fail("INFO", "no redis_version in the answer");
		return;
	}
	v += strlen("redis_version:");
	sanitize_text(rl.version, sizeof(rl.version), v, strcspn(v, "\r\n"),
	    SAN_REDIS);
	major = atoi(rl.version);
	if (major < REDIS_VERSION_MIN) {
		link_fail("version", "this Redis is too old (mailhook needs "
		    "5.0 or later)");
		return;
	}
	/*
	 * a Redis loading its data (restarted) answers INFO and SUBSCRIBE,
	 * and -LOADING to the rest: linked then, the full load (HSCAN)
	 * was refused and not asked again until the next link; down until
	 * it is done, tried again with the backoff
	 */
	if (strstr(r->str, "\nloading:1") != NULL) {
		link_fail("loading", "redis is loading its data");
		return;
	}
	rl.cmd_ready = 1;
	if (rl.sub_ready)
		now_up();
}

static void
on_auth(const redisReply *r, void *arg)
{
	if (r == NULL && rl.state == LINK_LINKING)
		link_fail("AUTH", rl.refusal[0] ? rl.refusal :
		    "refused (wrong user or password?)");
}

static void
on_select(const redisReply *r, void *arg)
{
	if (r == NULL && rl.state == LINK_LINKING)
		link_fail("SELECT", rl.refusal[0] ? rl.refusal :
		    "refused (no such database?)");
}

/* AUTH [user] password; SELECT db: on the connection c */
static void
handshake(struct rconn *c, int select)
{
	const char	*argv[3];
	char		 db[16];
	int		 n = 0;

	if (rl.conf.password[0] != '\0') {
		argv[n++] = "AUTH";
		if (rl.conf.user[0] != '\0')
			argv[n++] = rl.conf.user;
		argv[n++] = rl.conf.password;
		send_on(c, on_auth, NULL, REDIS_COST_CMD, n, argv, NULL);
	}
	if (select && rl.conf.db != 0) {
		snprintf(db, sizeof(db), "%d", rl.conf.db);
		argv[0] = "SELECT";
		argv[1] = db;
		send_on(c, on_select, NULL, REDIS_COST_CMD, 2, argv, NULL);
	}
}

/* connected (and TLS done): the handshake, then INFO or SUBSCRIBE */
static void
on_connected(struct rconn *c)
{
	const char	*info[] = { "INFO" };	/* server, persistence... */
	const char	*subscribe[] = { "SUBSCRIBE", rl.channel };

	evtimer_del(c->timer);
	handshake(c, c == rl.cmd);
	if (c == rl.cmd)
		send_on(c, on_info, NULL, REDIS_COST_CMD, 1, info, NULL);
	else
		send_on(c, NULL, NULL, REDIS_COST_CMD, 2, subscribe, NULL);
	conn_flush(c);
}

static void
link_start(int fd, short ev, void *arg)
{
	if (rl.state == LINK_OFF || rl.state == LINK_UP)
		return;
	contexts_free();
	rl.state = LINK_LINKING;
	rl.refusal[0] = '\0';
	if ((rl.cmd = conn_new(0)) == NULL ||
	    (rl.sub = conn_new(1)) == NULL)
		link_fail("connect", "cannot start a connection");
}

static void
on_nodes(const redisReply *r, void *arg)
{
	char	 name[MH_NAME_MAX];
	size_t	 i;
	time_t	 now = time(NULL);
	int	 n = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	json_decref(rl.seen);
	rl.seen = json_array();
	for (i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (now - atoll(r->element[i + 1]->str) <= REDIS_NODE_ALIVE)
			n++;
		sanitize_text(name, sizeof(name), r->element[i]->str,
		    r->element[i]->len, SAN_REDIS);
		json_array_append_new(rl.seen, json_pack("{s:s, s:I}",
		    "node", name, "last_beat",
		    (json_int_t)atoll(r->element[i + 1]->str)));
	}
	rl.nodes = n > 0 ? n : 1;
}

static void
on_ignore(const redisReply *r, void *arg)
{
}

/* ZADD nodes now node; forget nodes silent for a day; read them back */
static void
heartbeat(int fd, short ev, void *arg)
{
	struct timeval	 tv = { REDIS_BEAT, 0 };
	char		 now[32], old[32];
	const char	*zadd[] = { "ZADD", REDIS_NODES, now, rl.node };
	const char	*zrem[] = { "ZREMRANGEBYSCORE", REDIS_NODES, "-inf",
			    old };
	const char	*zget[] = { "ZRANGE", REDIS_NODES, "0", "-1",
			    "WITHSCORES" };
	const char	*ping[] = { "PING" };
	const char	*zgone[] = { "ZREM", REDIS_NODES, rl.renamed };

	if (rl.state != LINK_UP)
		return;
	/*
	 * the channel's connection has its deadline too: one a firewall
	 * or NAT dropped without a word (idle) is found and linked again,
	 * not left deaf to the other nodes with the link "up"
	 */
	send_on(rl.sub, on_ignore, NULL, REDIS_COST_CMD, 1, ping, NULL);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(old, sizeof(old), "%lld", (long long)time(NULL) - 86400);
	redis_command(on_ignore, NULL, 4, zadd, NULL);
	redis_command(on_ignore, NULL, 4, zrem, NULL);
	/* renamed by a reload: the old name is no node alive any more */
	if (rl.renamed[0] != '\0' &&
	    redis_command(on_ignore, NULL, 3, zgone, NULL) == 0)
		rl.renamed[0] = '\0';
	redis_command(on_nodes, NULL, 5, zget, NULL);
	evtimer_add(rl.beat, &tv);
}

void
redis_link_configure(struct event_base *base, const struct config *c,
    const struct redis_hooks *hooks)
{
	const struct cluster_conf	*cc = &c->cluster;
	const char			*name;

	if (rl.retry == NULL) {
		rl.base = base;
		if ((rl.retry = evtimer_new(base, link_start, NULL)) == NULL ||
		    (rl.beat = evtimer_new(base, heartbeat, NULL)) == NULL)
			fatal("evtimer_new");
		rl.nodes = 1;
	}
	rl.hooks = *hooks;
	name = cc->node[0] ? cc->node : c->hostname;
	if (rl.node[0] != '\0' && strcmp(rl.node, name) != 0) {
		/* its beats stop: take it out at the next, not in 30 s */
		strlcpy(rl.renamed, rl.node, sizeof(rl.renamed));
		if (rl.state == LINK_UP)
			event_active(rl.beat, EV_TIMEOUT, 0);
	}
	strlcpy(rl.node, name, sizeof(rl.node));
	/* for the next TLS connection */
	free(rl.ca);
	rl.ca = NULL;
	rl.calen = 0;
	if (c->cabundle_data != NULL && c->cabundle_len > 0) {
		if ((rl.ca = malloc(c->cabundle_len)) == NULL)
			fatal("malloc");
		memcpy(rl.ca, c->cabundle_data, c->cabundle_len);
		rl.calen = c->cabundle_len;
	}
	if (cc->redis[0] == '\0') {
		redis_link_shutdown();
		return;
	}
	if (rl.state != LINK_OFF && cluster_same(&rl.conf, cc))
		return;
	redis_link_shutdown();
	rl.conf = *cc;
	/* one channel for every database: a cluster in db N has its own */
	if (cc->db == 0)
		strlcpy(rl.channel, REDIS_CHANNEL, sizeof(rl.channel));
	else
		snprintf(rl.channel, sizeof(rl.channel), "%s:%d",
		    REDIS_CHANNEL, cc->db);
	rl.configured = rl.since = time(NULL);
	rl.state = LINK_DOWN;
	rl.backoff = 0;
	event_active(rl.retry, EV_TIMEOUT, 0);
}

void
redis_link_shutdown(void)
{
	rl.state = LINK_OFF;
	if (rl.retry != NULL) {
		evtimer_del(rl.retry);
		evtimer_del(rl.beat);
	}
	contexts_free();
	explicit_bzero(&rl.conf, sizeof(rl.conf));
}

int
redis_link_enabled(void)
{
	return (rl.state != LINK_OFF);
}

int
redis_link_up(void)
{
	return (rl.state == LINK_UP);
}

int
redis_link_settling(void)
{
	return (rl.state != LINK_OFF && rl.state != LINK_UP &&
	    rl.links == 0 && time(NULL) - rl.configured < 5);
}

const char *
redis_link_node(void)
{
	return (rl.node);
}

const char *
redis_link_channel(void)
{
	return (rl.channel);
}

int
redis_link_nodes(void)
{
	return (rl.nodes > 0 ? rl.nodes : 1);
}

void
redis_fallback(const char *what)
{
	time_t	 now = time(NULL);

	rl.fallbacks++;
	if (now - rl.fallback_logged >= 10) {
		rl.fallback_logged = now;
		log_warnx("cluster: redis %s, %s answered from local state "
		    "(%llu fallbacks so far)", state_names[rl.state], what,
		    rl.fallbacks);
	}
}

json_t *
redis_link_show(void)
{
	char	 where[96];

	snprintf(where, sizeof(where), "%s:%d/%d", rl.conf.host,
	    rl.conf.port, rl.conf.db);
	return (json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:O?, "
	    "s:I, s:I, s:I}",
	    "node", rl.node, "redis", rl.state == LINK_OFF ? "" : where,
	    "link", state_names[rl.state], "version", rl.version,
	    "since", (json_int_t)rl.since, "error", rl.error,
	    "nodes_alive", redis_link_nodes(), "nodes", rl.seen,
	    "links", (json_int_t)rl.links, "drops", (json_int_t)rl.drops,
	    "fallbacks", (json_int_t)rl.fallbacks));
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The link to the cluster's Redis (redis_link.h).  Linking: both contexts
 * connect, AUTH (and SELECT) on the command one, INFO checks the version,
 * the other SUBSCRIBEs; only then is the link up.  Every command has a
 * deadline: a Redis that does not answer in time is treated as down.  The
 * node's heartbeat (a sorted set of nodes by last beat) tells how many
 * nodes share an allowance when the link is down.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "redis_link.h"
#include "sanitize.h"

#define REDIS_TIMEOUT_MS	2000	/* a command's deadline */
#define REDIS_BEAT		5	/* seconds between heartbeats */
#define REDIS_NODE_ALIVE	30	/* a node beat this lately: counted */
#define REDIS_BACKOFF_MAX	30
#define REDIS_VERSION_MIN	5
#define REDIS_NODES		REDIS_PREFIX "nodes"

enum link_state { LINK_OFF, LINK_DOWN, LINK_LINKING, LINK_UP };
static const char *state_names[] = { "off", "down", "linking", "up" };

struct pending {
	redis_reply_fn	 fn;
	void		*arg;
	struct event	*deadline;
	int		 done;
};

static struct {
	struct event_base	*base;
	struct cluster_conf	 conf;
	char			 node[MH_NAME_MAX];
	struct redis_hooks	 hooks;
	redisAsyncContext	*cmd, *sub;
	enum link_state		 state;
	int			 sub_ready, cmd_ready;
	int			 backoff;
	struct event		*retry, *beat;
	char			 error[256];
	char			 refusal[128];	/* the last error reply */
	char			 version[32];
	time_t			 since;
	time_t			 configured;
	int			 nodes;
	json_t			*seen;		/* [{node, last_beat}] */
	unsigned long long	 links, drops, fallbacks;
	time_t			 fallback_logged;
} rl;

static void	 link_start(int, short, void *);

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
static void	 link_fail(const char *, const char *);

static int
cluster_same(const struct cluster_conf *a, const struct cluster_conf *b)
{
	return (strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    a->db == b->db && strcmp(a->user, b->user) == 0 &&
	    strcmp(a->password, b->password) == 0);
}

static void
contexts_free(void)
{
	redisAsyncContext	*c;

	/* hiredis calls back the pending commands with NULL */
	if ((c = rl.cmd) != NULL) {
		rl.cmd = NULL;
		redisAsyncFree(c);
	}
	if ((c = rl.sub) != NULL) {
		rl.sub = NULL;
		redisAsyncFree(c);
	}
	rl.cmd_ready = rl.sub_ready = 0;
}

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
	    SAN_FIELD);
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
	if (rl.state == LINK_UP)
		rl.since = time(NULL);
	rl.state = LINK_DOWN;
	evtimer_del(rl.beat);
	contexts_free();
	retry_later();
	report();
}

/* the context is gone: ours (then fail the link) or one we dropped */
static void
on_disconnect(const redisAsyncContext *c, int status)
{
	if (c != rl.cmd && c != rl.sub)
		return;
	if (c == rl.cmd)
		rl.cmd = NULL;
	else
		rl.sub = NULL;
	link_fail("disconnected", c->errstr[0] ? c->errstr :
	    "closed by the server");
}

static void
pending_free(struct pending *p)
{
	if (p->deadline != NULL)
		event_free(p->deadline);
	free(p);
}

static void
on_reply(redisAsyncContext *c, void *r, void *arg)
{
	struct pending	*p = arg;
	redisReply	*reply = r;

	if (!p->done) {
		p->done = 1;
		if (reply == NULL && c->err != 0 && (c == rl.cmd ||
		    c == rl.sub))
			link_fail("disconnected", c->errstr);
		else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
			snprintf(rl.refusal, sizeof(rl.refusal), "%.*s",
			    (int)(reply->len > 120 ? 120 : reply->len),
			    reply->str);
			if (rl.state == LINK_UP)
				log_warnx("cluster: redis answered an error: "
				    "%s", rl.refusal);
			reply = NULL;
		}
		p->fn(reply, p->arg);
	}
	pending_free(p);
}

static void
on_deadline(int fd, short ev, void *arg)
{
	struct pending	*p = arg;
	redis_reply_fn	 fn = p->fn;
	void		*fnarg = p->arg;

	if (p->done)
		return;
	p->done = 1;
	/* frees p through on_reply(NULL); then the caller hears of it */
	link_fail("timeout", "no answer within 2 s");
	fn(NULL, fnarg);
}

static int
send_on(redisAsyncContext *c, redis_reply_fn fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct pending	*p;
	struct timeval	 tv = { REDIS_TIMEOUT_MS / 1000,
			    (REDIS_TIMEOUT_MS % 1000) * 1000 };

	if (c == NULL)
		return (-1);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("calloc");
	p->fn = fn;
	p->arg = arg;
	if ((p->deadline = evtimer_new(rl.base, on_deadline, p)) == NULL)
		fatal("evtimer_new");
	if (redisAsyncCommandArgv(c, on_reply, p, argc, argv, lens) !=
	    REDIS_OK) {
		pending_free(p);
		return (-1);
	}
	evtimer_add(p->deadline, &tv);
	return (0);
}

int
redis_command(redis_reply_fn fn, void *arg, int argc, const char **argv,
    const size_t *lens)
{
	if (rl.state != LINK_UP)
		return (-1);
	return (send_on(rl.cmd, fn, arg, argc, argv, lens));
}

static void
now_up(void)
{
	rl.state = LINK_UP;
	rl.since = time(NULL);
	rl.backoff = 0;
	rl.error[0] = '\0';
	rl.links++;
	log_info("cluster: linked to redis %s:%d (version %s) as node %s",
	    rl.conf.host, rl.conf.port, rl.version, rl.node);
	event_active(rl.beat, EV_TIMEOUT, 0);
	report();
	if (rl.hooks.linked != NULL)
		rl.hooks.linked();
}

/* the channel: subscribe confirmations, then messages */
static void
on_channel(redisAsyncContext *c, void *r, void *arg)
{
	redisReply	*reply = r, *kind, *data;

	if (reply == NULL || c != rl.sub)
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
	snprintf(rl.version, sizeof(rl.version), "%.*s",
	    (int)strcspn(v, "\r\n"), v);
	major = atoi(rl.version);
	if (major < REDIS_VERSION_MIN) {
		link_fail("version", "this Redis is too old (mailhook needs "
		    "5.0 or later)");
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

/* AUTH [user] password; SELECT db: on the context c */
static void
handshake(redisAsyncContext *c, int select)
{
	const char	*argv[3];
	char		 db[16];
	int		 n = 0;

	if (rl.conf.password[0] != '\0') {
		argv[n++] = "AUTH";
		if (rl.conf.user[0] != '\0')
			argv[n++] = rl.conf.user;
		argv[n++] = rl.conf.password;
		send_on(c, on_auth, NULL, n, argv, NULL);
	}
	if (select && rl.conf.db != 0) {
		snprintf(db, sizeof(db), "%d", rl.conf.db);
		argv[0] = "SELECT";
		argv[1] = db;
		send_on(c, on_auth, NULL, 2, argv, NULL);
	}
}

static void
on_connect(const redisAsyncContext *cc, int status)
{
	redisAsyncContext	*c = (redisAsyncContext *)cc;
	const char		*info[] = { "INFO", "server" };
	const char		*subscribe[] = { "SUBSCRIBE", REDIS_CHANNEL };

	if (c != rl.cmd && c != rl.sub)
		return;
	if (status != REDIS_OK) {
		if (c == rl.cmd)
			rl.cmd = NULL;
		else
			rl.sub = NULL;
		link_fail("connect", c->errstr);
		return;
	}
	handshake(c, c == rl.cmd);
	if (c == rl.cmd)
		send_on(c, on_info, NULL, 2, info, NULL);
	else if (redisAsyncCommandArgv(c, on_channel, NULL, 2, subscribe,
	    NULL) != REDIS_OK)
		link_fail("subscribe", c->errstr);
}

static redisAsyncContext *
context_new(void)
{
	redisAsyncContext	*c;

	if ((c = redisAsyncConnect(rl.conf.host, rl.conf.port)) == NULL)
		fatalx("cluster: out of memory");
	if (c->err) {
		log_warnx("cluster: redis %s:%d: %s", rl.conf.host,
		    rl.conf.port, c->errstr);
		redisAsyncFree(c);
		return (NULL);
	}
	redisLibeventAttach(c, rl.base);
	redisAsyncSetConnectCallback(c, on_connect);
	redisAsyncSetDisconnectCallback(c, on_disconnect);
	return (c);
}

static void
link_start(int fd, short ev, void *arg)
{
	if (rl.state == LINK_OFF || rl.state == LINK_UP)
		return;
	contexts_free();
	rl.state = LINK_LINKING;
	rl.refusal[0] = '\0';
	if ((rl.cmd = context_new()) == NULL ||
	    (rl.sub = context_new()) == NULL)
		link_fail("connect", "cannot start a connection");
}

static void
on_nodes(const redisReply *r, void *arg)
{
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
		json_array_append_new(rl.seen, json_pack("{s:s%, s:I}",
		    "node", r->element[i]->str, (size_t)r->element[i]->len,
		    "last_beat", (json_int_t)atoll(r->element[i + 1]->str)));
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

	if (rl.state != LINK_UP)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(old, sizeof(old), "%lld", (long long)time(NULL) - 86400);
	redis_command(on_ignore, NULL, 4, zadd, NULL);
	redis_command(on_ignore, NULL, 4, zrem, NULL);
	redis_command(on_nodes, NULL, 5, zget, NULL);
	evtimer_add(rl.beat, &tv);
}

void
redis_link_configure(struct event_base *base, const struct config *c,
    const struct redis_hooks *hooks)
{
	const struct cluster_conf	*cc = &c->cluster;

	if (rl.retry == NULL) {
		rl.base = base;
		if ((rl.retry = evtimer_new(base, link_start, NULL)) == NULL ||
		    (rl.beat = evtimer_new(base, heartbeat, NULL)) == NULL)
			fatal("evtimer_new");
		rl.nodes = 1;
	}
	rl.hooks = *hooks;
	strlcpy(rl.node, cc->node[0] ? cc->node : c->hostname,
	    sizeof(rl.node));
	if (cc->redis[0] == '\0') {
		redis_link_shutdown();
		return;
	}
	if (rl.state != LINK_OFF && cluster_same(&rl.conf, cc))
		return;
	redis_link_shutdown();
	rl.conf = *cc;
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

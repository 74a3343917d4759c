/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The inbound queue as mhctl sees it and acts on it: show queue, show
 * message, show hooks, schedule, hold, release and remove.  The messages
 * themselves, their rounds and POSTs are inbound.c's.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "child.h"
#include "log.h"
#include "msghist.h"
#include "hookd.h"
#include "inbound_int.h"

/* a recipient's state as show queue says it (held: its message is) */
static const char *
rcpt_state_name(int state, int held)
{
	return (state == RS_DONE ? "delivered" : state == RS_FAILED ?
	    "failed" : held || inbound_paused() ? "held" : "pending");
}

/* the public url of a recipient's route ("" for none) */
static void
rcpt_url(uint32_t route, int dest, char *url, size_t len)
{
	const struct route	*rt = NULL;

	if (dest == DEST_ROUTE)
		rt = config_route(hookd_conf, route);
	config_url_public(rt ? rt->url : "", url, len);
}

/*
 * A recipient as show queue lists it; of a message on hold (mhctl hold)
 * no try is due: next_try null, as relayd says it
 */
static json_t *
rcpt_json(const char *addr, const struct inrcpt *r, const char *lasterr,
    int held)
{
	char	url[MH_URL_MAX];

	held = held && r->state == RS_PENDING;
	rcpt_url(r->route, r->dest, url, sizeof(url));
	return (json_pack("{s:s, s:s, s:i, s:o, s:s, s:s}", "address", addr,
	    "state", rcpt_state_name(r->state, held), "attempts",
	    r->attempts, "next_try", held ? json_null() :
	    json_integer(r->next_try), "url", url, "last_error", lasterr));
}

/*
 * A message as show queue lists it (its recipients a json array); one on
 * hold has "held": "mhctl", as relayd's
 */
static json_t *
msg_json(const char *id, const char *sender, time_t created, size_t size,
    json_t *rcpts, int held)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "id", id,
	    "queue", "inbound", "sender", sender,
	    "created", (json_int_t)created, "size", (json_int_t)size,
	    "recipients", rcpts);
	if (o != NULL && held)
		json_object_set_new(o, "held", json_string("mhctl"));
	return (o);
}

static json_t *
env_json(const struct envelope *env, int full, int held)
{
	const struct envelope_rcpt	*r;
	struct inrcpt			 ir;
	json_t				*a = json_array(), *o;
	size_t				 i;

	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		rcpt_inrcpt(r, &ir);
		json_array_append_new(a, rcpt_json(r->addr, &ir, r->lasterr,
		    held));
	}
	o = msg_json(env->id, env->sender, env->created, env->size, a, held);
	if (full && o != NULL) {
		json_object_set_new(o, "message_id",
		    json_string(env->message_id));
		json_object_set_new(o, "subject", json_string(env->subject));
		json_object_set_new(o, "helo", json_string(env->helo));
		json_object_set_new(o, "remote_ip",
		    json_string(env->remote_ip));
	}
	return (o);
}

/*
 * A message waiting for its round, as memory keeps it (no file read),
 * with the error of an envelope that cannot be read back (unread: just
 * now)
 */
static json_t *
inmsg_mem_json(const struct inmsg *m, int unread)
{
	const char	*p = m->listing, *sender, *addr;
	json_t		*a = json_array(), *o;
	size_t		 i;

	sender = listing_next(&p);
	for (i = 0; i < m->nrcpt; i++) {
		addr = listing_next(&p);
		json_array_append_new(a, rcpt_json(addr, &m->rcpt[i],
		    listing_next(&p), m->held));
	}
	o = msg_json(m->id, sender, m->created, m->size, a, m->held);
	if (o != NULL && (m->unreadable || unread))
		json_object_set_new(o, "error", json_string(
		    m->unreadable == INMSG_GIVEN_UP ?
		    "envelope unreadable, given up" : "envelope unreadable"));
	return (o);
}

/*
 * show queue lists m from memory; show message ID reads the envelope of
 * a message waiting for its round from the spool, for what only it has
 */
static json_t *
inmsg_json(const struct inmsg *m, int full)
{
	struct envelope	*env;
	char		 path[MH_PATH_MAX + 64];
	json_t		*o;

	if (m->env != NULL)
		return (env_json(m->env, full, m->held));
	if (!full)
		return (inmsg_mem_json(m, 0));
	/* one its rounds found unreadable: they said why, not each look */
	spool_env_path(m->id, path, sizeof(path));
	if ((env = m->unreadable ? spool_env_read(path, m->id) :
	    spool_load(m->id)) == NULL)
		return (inmsg_mem_json(m, 1));
	o = env_json(env, full, m->held);
	env_free(env);
	if (o != NULL && m->unreadable == INMSG_GIVEN_UP)
		json_object_set_new(o, "error", json_string("envelope "
		    "unreadable, given up (readable now: mhctl schedule)"));
	return (o);
}

void
inbound_live(void (*add)(const char *))
{
	struct inmsg	*m;

	TAILQ_FOREACH(m, inbound_msgs(), entry)
		add(m->id);
}

/* mhctl: the committed inbound message with this id; NULL: none */
json_t *
inbound_queue(const char *id)
{
	struct inmsg	*m;

	if ((m = inmsg_find(id)) == NULL || !m->committed)
		return (NULL);
	return (inmsg_json(m, 1));
}

/*
 * mhctl schedule, mhctl release: m's recipients still to post are due
 * now (forced); a round under way: the next one once it ends
 * (sched_pending), not after the backoff its answers set
 */
static void
inmsg_due_now(struct inmsg *m)
{
	m->forced = 1;
	if (m->inflight > 0)
		m->sched_pending = 1;
	else if (!inbound_paused())
		inbound_timer(m, 0);
}

/*
 * mhctl schedule ID|all: the recipients still to post of a queued message
 * (or of each) are due now, those of one given up on its unreadable
 * envelope too (read again: the admin may have put it right); one past
 * its lifetime has this one more POST, then expires as it would.
 */
int
inbound_retry(const char *id)
{
	struct inmsg	*m, *next;
	int		 all = strcmp(id, "all") == 0, found = 0;

	/* a round may finish m (inbound_reread) */
	TAILQ_FOREACH_SAFE(m, inbound_msgs(), entry, next) {
		if (!m->committed || m->sync || (!all && strcmp(m->id, id)))
			continue;
		found = 1;
		if (m->never_read) {
			inbound_reread(m);
			continue;
		}
		if (m->unreadable == INMSG_GIVEN_UP) {
			log_info("msgid=%s result=scheduled by=mhctl: its "
			    "envelope is read again", m->id);
			m->unreadable = INMSG_UNREADABLE;
		}
		/* returned mail not classified: again now */
		inbound_classify(m);
		inmsg_due_now(m);
	}
	return (found || all ? 0 : -1);
}

/*
 * The hold of m (held) into its envelope, so that it outlives a restart;
 * of one whose envelope cannot be read, into a file beside it, which the
 * envelope takes once read again (spool_hold_mark)
 */
static int
hold_store(struct inmsg *m, int held)
{
	struct envelope	*env = m->env;
	int		 rc;

	/* unreadable: its rounds said why, not each hold */
	if (env == NULL && (m->unreadable ||
	    (env = spool_load(m->id)) == NULL))
		return (spool_hold_mark(m->id, held));
	env->held = held;
	rc = spool_update(env);
	if (env != m->env)
		env_free(env);
	/* released: a hold kept beside it too */
	if (rc == 0 && !held)
		rc = spool_hold_mark(m->id, 0);
	return (rc);
}

/*
 * mhctl hold ID|all: a queued message (or each) has no round, nor
 * expires, until mhctl release ID|all; a POST under way goes on.  The
 * hold is written to its envelope, as relayd's: a restart keeps it.
 * Released, its recipients still to post are due now, one past its
 * lifetime with one more POST (as mhctl schedule).
 */
int
inbound_hold(const char *id, int on)
{
	struct inmsg	*m;
	int		 all = strcmp(id, "all") == 0, found = 0;

	TAILQ_FOREACH(m, inbound_msgs(), entry) {
		if (!m->committed || m->sync || (!all && strcmp(m->id, id)))
			continue;
		found = 1;
		if (m->held == on)
			continue;
		log_info("msgid=%s status=%s by=mhctl", m->id,
		    on ? "held" : "released");
		m->held = on;
		msghist_note(m->id, on ? "held" : "released");
		if (hold_store(m, on) == -1)
			log_warnx("msgid=%s status=error (the %s is not on "
			    "disk)", m->id, on ? "hold" : "release");
		if (!on)
			inmsg_due_now(m);
	}
	return (found || all ? 0 : -1);
}

/*
 * The envelope of m while out of memory, as much of it as memory keeps
 * (env_unload): its id, sender, and each recipient's address, state,
 * attempts and last error.  NULL: no memory.
 */
static struct envelope *
env_from_listing(const struct inmsg *m)
{
	struct envelope		*env;
	struct envelope_rcpt	*r;
	const char		*p = m->listing;
	size_t			 i;

	/* one never read has none (nrcpt 0) */
	if ((env = calloc(1, sizeof(*env))) == NULL ||
	    (env->rcpts = calloc(m->nrcpt + 1, sizeof(*r))) == NULL) {
		free(env);
		return (NULL);
	}
	strlcpy(env->id, m->id, sizeof(env->id));
	env->created = m->created;
	env->size = m->size;
	env->nrcpt = m->nrcpt;
	strlcpy(env->sender, listing_next(&p), sizeof(env->sender));
	for (i = 0; i < m->nrcpt; i++) {
		r = &env->rcpts[i];
		strlcpy(r->addr, listing_next(&p), sizeof(r->addr));
		strlcpy(r->lasterr, listing_next(&p), sizeof(r->lasterr));
		r->dest = m->rcpt[i].dest;
		r->route = m->rcpt[i].route;
		r->state = m->rcpt[i].state;
		r->attempts = m->rcpt[i].attempts;
		r->next_try = m->rcpt[i].next_try;
	}
	return (env);
}

/*
 * What of m is under way, NULL if nothing: a POST, its fallback, the
 * events of its returned mail (relayd's unsubscribe may never answer:
 * not counted)
 */
static const char *
inmsg_busy(const struct inmsg *m)
{
	size_t	i;

	if (m->inflight > 0 || m->parsing)
		return ("a POST of it is under way");
	for (i = 0; m->env != NULL && i < m->nrcpt; i++) {
		if (m->fallback != NULL && (m->fallback[i] == FB_MAILDIR ||
		    m->fallback[i] == FB_SMTP))
			return ("its fallback is under way");
		if (m->returning != NULL && m->returning[i] == RET_EVENTS &&
		    m->env->rcpts[i].dest == DEST_BOUNCE &&
		    m->env->rcpts[i].state == RS_PENDING)
			return ("the events of its returned mail are being "
			    "stored");
	}
	return (NULL);
}

/*
 * mhctl remove ID: a queued message leaves the queue unposted, its files
 * with it, one given up on its unreadable envelope too; its history says
 * removed.  Not while anything of it is under way: -2, *busy says what.
 */
int
inbound_remove(const char *id, const char **busy)
{
	struct inmsg	*m;
	struct envelope	*env;
	size_t		 i, n = 0;

	if ((m = inmsg_find(id)) == NULL || !m->committed || m->sync)
		return (-1);
	if ((*busy = inmsg_busy(m)) != NULL)
		return (-2);
	if ((env = m->env) == NULL && (env = env_from_listing(m)) == NULL)
		fatal("remove");
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].state == RS_PENDING) {
			env->rcpts[i].state = RS_FAILED;
			n++;
		}
	log_info("msgid=%s result=removed by=mhctl rcpts=%zu", m->id, n);
	msghist_done(env, 1);
	if (env != m->env)
		env_free(env);
	spool_remove(m->id);
	msg_free(m);
	return (0);
}

/*
 * mhctl show queue: the committed messages of the inbound (mode queue)
 * spool, as many as fit in CTL_LIST_BYTES of the reply (the parent
 * passes it on with relayd's in one message between processes, of at
 * most MH_IMSG_MAXSIZE); *unlisted counts the others.
 */
json_t *
inbound_queue_list(size_t *unlisted)
{
	struct inmsg	*m;
	json_t		*a;
	size_t		 bytes = 0;

	*unlisted = 0;
	a = json_array();
	TAILQ_FOREACH(m, inbound_msgs(), entry)
		if (m->committed)
			ctl_list_append(a, ctl_list_full(bytes) ? NULL :
			    inmsg_json(m, 0), &bytes, unlisted);
	return (a);
}

/* recipient i of m as the scheduler keeps it, envelope or not */
static void
inrcpt_get(const struct inmsg *m, size_t i, struct inrcpt *ir)
{
	if (m->env == NULL)
		*ir = m->rcpt[i];
	else
		rcpt_inrcpt(&m->env->rcpts[i], ir);
}

/* the last error of recipient i of m, envelope or not */
static void
lasterr_get(const struct inmsg *m, size_t i, char *buf, size_t len)
{
	const char	*p = m->listing;
	size_t		 k;

	if (m->env != NULL) {
		strlcpy(buf, m->env->rcpts[i].lasterr, len);
		return;
	}
	/* the sender, then an address and a last error each */
	for (k = 0; k < 2 + 2 * i; k++)
		listing_next(&p);
	strlcpy(buf, p, len);
}

/* what waits for one route (show hooks) */
struct rtwait {
	uint32_t		 id;
	size_t			 backlog;
	time_t			 oldest, next;
	const struct inmsg	*om;		/* the oldest, and which */
	size_t			 oi;		/* of its recipients */
};

static int
rtwait_cmp(const void *a, const void *b)
{
	const struct rtwait	*x = a, *y = b;

	return (x->id < y->id ? -1 : x->id > y->id);
}

/*
 * What waits for each route of w (sorted by id), in one pass over the
 * queue: its cost is the recipients queued, not that times the routes.
 */
static void
routes_waiting(struct rtwait *w, size_t n)
{
	const struct inmsg	*m;
	struct rtwait		 key, *rw;
	struct inrcpt		 r;
	size_t			 i;

	TAILQ_FOREACH(m, inbound_msgs(), entry) {
		if (!m->committed)
			continue;
		for (i = 0; i < m->nrcpt; i++) {
			inrcpt_get(m, i, &r);
			if (r.dest != DEST_ROUTE || r.state != RS_PENDING)
				continue;
			key.id = r.route;
			if ((rw = bsearch(&key, w, n, sizeof(*w),
			    rtwait_cmp)) == NULL)
				continue;
			rw->backlog++;
			if (rw->oldest == 0 || m->created < rw->oldest) {
				rw->oldest = m->created;
				rw->om = m;
				rw->oi = i;
			}
			if (rw->next == 0 || r.next_try < rw->next)
				rw->next = r.next_try;
		}
	}
}

/*
 * show hooks: the messages whose envelope could not be read at start,
 * their routes not known (so in no route's backlog), and the oldest's
 * time; NULL: none
 */
json_t *
inbound_unread(void)
{
	const struct inmsg	*m;
	time_t			 oldest = 0;
	size_t			 n = 0;

	TAILQ_FOREACH(m, inbound_msgs(), entry)
		if (m->committed && m->never_read &&
		    (n++ == 0 || m->created < oldest))
			oldest = m->created;
	if (n == 0)
		return (NULL);
	return (json_pack("{s:I,s:I}", "backlog", (json_int_t)n, "oldest",
	    (json_int_t)oldest));
}

/* show hooks: each route's URL with what waits for it */
json_t *
inbound_routes(void)
{
	const struct route	*rt;
	struct rtwait		*w, key, *rw;
	char			 url[MH_URL_MAX], lasterr[160];
	json_t			*a;
	size_t			 n = 0;

	if ((a = json_array()) == NULL || hookd_conf == NULL)
		return (a);
	TAILQ_FOREACH(rt, &hookd_conf->routes, entry)
		n++;
	if ((w = calloc(n + 1, sizeof(*w))) == NULL)
		fatal("show hooks");
	n = 0;
	TAILQ_FOREACH(rt, &hookd_conf->routes, entry)
		w[n++].id = rt->id;
	qsort(w, n, sizeof(*w), rtwait_cmp);
	routes_waiting(w, n);
	TAILQ_FOREACH(rt, &hookd_conf->routes, entry) {
		key.id = rt->id;
		rw = bsearch(&key, w, n, sizeof(*w), rtwait_cmp);
		lasterr[0] = '\0';
		if (rw->om != NULL)
			lasterr_get(rw->om, rw->oi, lasterr, sizeof(lasterr));
		config_url_public(rt->url, url, sizeof(url));
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,"
		    "s:I}", "route", rt->pattern[0] ? rt->pattern : "*",
		    "url", url, "mode", rt->mode == MODE_QUEUE ? "queue" :
		    "sync", "backlog", (json_int_t)rw->backlog,
		    "oldest", (json_int_t)rw->oldest, "last_error", lasterr,
		    "next_attempt", (json_int_t)rw->next));
	}
	free(w);
	return (a);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's engine API (relay.h): start and stop, the spool smtpd writes
 * into, the control commands and the statistics.  The queue in memory
 * and its dispatch are the scheduler's (scheduler.c).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmime/gmime.h>

#include "child.h"
#include "enhanced.h"
#include "gsync.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "redis_link.h"
#include "relayd.h"

struct event_base	*relay_base;
const struct config	*relay_conf;
int			 relay_port = 25;
int			 relay_connect_timeout = 30;
int			 relay_command_timeout = 300;
/* the reply to the final dot: 10 minutes (RFC 5321 4.5.3.2.6) */
int			 relay_dot_timeout = 600;

static relay_event_fn	 relay_evfn;
static unsigned long long stat_kind[EV_KIND_MAX];

/* every event of the engine passes here: counted, then handed on */
void
relay_emit(const struct event_record *ev)
{
	if ((unsigned)ev->kind < EV_KIND_MAX)
		stat_kind[ev->kind]++;
	msghist_event(ev);
	if (relay_evfn != NULL)
		relay_evfn(ev);
}

/* the messages still queued: their history is kept (history.h) */
static void
msg_live(void (*add)(const char *))
{
	struct rmsg	*m;

	TAILQ_FOREACH(m, sched_queue(), entry)
		add(m->id);
}

int
relay_init(struct event_base *base, const struct config *conf,
    const char *root, relay_event_fn fn)
{
	struct rmsg	*m;
	struct rmsglist	 loaded = TAILQ_HEAD_INITIALIZER(loaded);

	relay_base = base;
	relay_conf = conf;
	relay_evfn = fn;
	g_mime_init();
	if (queue_init(root) == -1 || suppress_load() == -1 ||
	    queue_load(&loaded) == -1 || mta_init() == -1)
		return (-1);
	gsync_init(base, queue_dirfd());
	if (sched_init(base) == -1)
		return (-1);
	tlsrpt_init(base, conf->testing.tlsrpt_period);
	mtasts_init();
	cluster_configure(base, conf);
	while ((m = TAILQ_FIRST(&loaded)) != NULL) {
		TAILQ_REMOVE(&loaded, m, entry);
		log_debug("%s: rescheduled", m->id);
		if (m->env.idem[0] != '\0')
			relay_idem_restore(m->env.idem, m->id,
			    m->env.message_id);
		sched_add_message(m, 0);
	}
	/* after the queue is loaded: what is queued keeps its history */
	if (history_init(base, queue_dirfd(), "history", conf->history,
	    msg_live) == -1)
		return (-1);
	return (0);
}

void
relay_dkim_retry(void)
{
	struct rmsg	*m;

	TAILQ_FOREACH(m, sched_queue(), entry)
		m->dkim_next = 0;
	sched_kick();
}

int
relay_configure(const struct config *conf)
{
	relay_conf = conf;
	/* a new key may sign what was held */
	relay_dkim_retry();
	if (mta_init() == -1)
		return (-1);
	cluster_configure(relay_base, conf);
	history_configure(conf->history);
	sched_kick();
	return (0);
}

void
relay_shutdown(void)
{
	mta_shutdown();
	redis_link_shutdown();
	sched_shutdown();
	suppress_free();
	history_shutdown();
	queue_shutdown();
}

int
relay_spool_open(char msgid[MH_MSGID_LEN])
{
	return (queue_open_incoming(msgid));
}

/* before its commit: no recipient copy is made yet (queue_track) */
int
relay_spool_abort(const char *msgid)
{
	return (queue_abort(msgid, 0));
}

struct spool_commit_state {
	/* after it is scheduled, NULL once it is freed (rmsg.flushing) */
	struct rmsg	*m;
	char		 id[MH_MSGID_LEN];	/* after: m may be delivered */
	relay_commit_fn	 done;
	void		*arg;
	char		 held[256];	/* why it cannot be signed */
	int		 later;		/* scheduled after the answer */
};

/*
 * The message is the scheduler's: it may be delivered, and its envelope
 * removed, before the flush.
 */
static void
spool_schedule(struct rmsg *m, struct spool_commit_state *cs)
{
	sched_add_message(m, 1);
	if (m->env.dkim_pending[0] != '\0') {
		m->dkim_next = time(NULL) + (relay_conf->retry_min > 0 ?
		    relay_conf->retry_min : 60);
		dkim_held_events(m, cs->held);
	}
}

/* envelope and registration events are durable: the 250 */
static void
spool_committed(int ok, void *arg)
{
	struct spool_commit_state	*cs = arg;
	const char			*enh, *etext;
	char				 text[128];
	int				 code;

	if (cs->m != NULL) {
		cs->m->flushing = NULL;
		/*
		 * Its data is on disk: the envelope's next write drops the
		 * check, which would otherwise be read back at every start.
		 * Until then the envelope on disk keeps it, which is
		 * harmless: the data it covers is durable with it (this
		 * flush), and the data of a queued message changes only
		 * after an envelope without the check is on disk (dkim.c
		 * put_queued: queue_update, or queue_drop_check while
		 * memory still has it, as after a restart).  A restart (a
		 * SIGKILL, a power loss) reads the data back, finds it
		 * whole and keeps the message, sent once; writing the
		 * envelope now would cost a write and an fsync per message
		 * (regress/e2e/outbound/test_data_check_kill).
		 */
		if (ok)
			cs->m->env.data_check = 0;
	}
	if (!ok) {
		/* the message stays queued; the client may send it again */
		code = enhanced_spool_error(errno, &enh, &etext);
		log_warnx("msgid=%s status=error (queued, but the disk did "
		    "not confirm it)", cs->id);
		cs->done(cs->id, code, enh, etext, cs->arg);
	} else {
		snprintf(text, sizeof(text), "Ok: queued as %s", cs->id);
		cs->done(cs->id, 250, "2.0.0", text, cs->arg);
	}
	if (cs->later)
		spool_schedule(cs->m, cs);
	free(cs);
}

/* the message and its envelope are written, durable after the flush */
static void
spool_envelope_written(int ok, struct envelope *env, void *arg)
{
	struct spool_commit_state	*cs = arg;
	struct rmsg			*m = cs->m;
	const char			*enh, *text;
	int				 code;

	(void)env;
	if (!ok) {
		code = enhanced_spool_error(errno, &enh, &text);
		cs->done(m->id, code, enh, text, cs->arg);
		envelope_clear(&m->env);
		free(m);
		free(cs);
		return;
	}
	strlcpy(cs->id, m->id, sizeof(cs->id));
	m->flushing = &cs->m;
	/*
	 * The registration events go to the outbox in the same flush; but
	 * a message with an idempotency key waits for the answer, which
	 * writes the key's record (relayd.c commit_done): delivered and
	 * removed before it, a crash would leave neither the record nor the
	 * envelope that restores it, and the client's retry would queue
	 * the message twice.
	 */
	if (m->env.idem[0] != '\0')
		cs->later = 1;
	else
		spool_schedule(m, cs);
	gsync_then(spool_committed, cs);
}

/* the content is final, signed or held: commit it */
static void
spool_signed(int ok, const char *why, void *arg)
{
	struct spool_commit_state	*cs = arg;
	char				 id[MH_MSGID_LEN];
	const char			*enh = "5.6.0", *text = why;
	size_t				 ncopies;
	int				 code = 550;

	if (ok < 0) {
		/* refused, for good or for now: nothing is committed */
		if (ok == -2)
			code = enhanced_spool_error(errno, &enh, &text);
		strlcpy(id, cs->m->id, sizeof(id));
		ncopies = cs->m->env.tracked ? cs->m->env.nrcpt : 0;
		envelope_clear(&cs->m->env);
		free(cs->m);
		queue_abort(id, ncopies);
		cs->done(id, code, enh, text, cs->arg);
		free(cs);
		return;
	}
	if (!ok)
		strlcpy(cs->held, why, sizeof(cs->held));
	queue_commit_group(cs->m->id, &cs->m->env, spool_envelope_written,
	    cs);
}

void
relay_spool_commit(const char *msgid, const struct envelope *env,
    relay_commit_fn done, void *arg)
{
	struct spool_commit_state	*cs;
	struct rmsg			*m;
	const char			*enh, *text;
	size_t				 i;
	int				 code;

	if (!envelope_id_ok(msgid) || env->nrcpt == 0 || env->rcpts == NULL ||
	    !envelope_field_ok(env->sender)) {
		queue_abort(msgid, 0);
		done(msgid, 554, "5.5.0", "Error: bad transaction", arg);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (cs = calloc(1, sizeof(*cs))) == NULL)
		fatal("calloc");
	m->env = *env;
	m->env.rcpts = NULL;
	m->env.nrcpt = 0;
	m->env.created = time(NULL);
	m->env.allow_counted = 0;	/* relayd's own, counted here */
	for (i = 0; i < env->nrcpt; i++) {
		struct envelope_rcpt *r = envelope_add_rcpt(&m->env,
		    env->rcpts[i].addr);
		if (r == NULL)
			break;
		*r = env->rcpts[i];
		r->dest = DEST_RELAY;
		r->state = RS_PENDING;
		r->attempts = 0;
		r->next_try = 0;
		/* relayd's own: not from a submission */
		r->dsn_owed = 0;
		r->dsn_what = NULL;	/* env's, freed with it */
	}
	/*
	 * Content changes of a submission go here, in order, each calling
	 * the next; DKIM signing is the last one: what it signs is what is
	 * committed and sent, retries included.  Tracking (track.h) makes
	 * a copy per recipient, which is what is signed and sent.
	 */
	if (i < env->nrcpt)
		errno = ENOMEM;
	if (i < env->nrcpt || queue_track(msgid, &m->env) == -1) {
		code = enhanced_spool_error(errno, &enh, &text);
		envelope_clear(&m->env);
		free(m);
		free(cs);
		queue_abort(msgid, 0);	/* queue_track removed its copies */
		done(msgid, code, enh, text, arg);
		return;
	}
	strlcpy(m->id, msgid, sizeof(m->id));
	cs->m = m;
	cs->done = done;
	cs->arg = arg;
	dkim_sign_incoming(msgid, &m->env, spool_signed, cs);
}

static struct rmsg *
msg_find(const char *id)
{
	struct rmsg	*m;

	TAILQ_FOREACH(m, sched_queue(), entry)
		if (!m->removed && strcmp(m->id, id) == 0)
			return (m);
	return (NULL);
}

static const char *
state_name(enum rcpt_state s)
{
	return (s == RS_DONE ? "delivered" : s == RS_FAILED ? "failed" :
	    "pending");
}

/*
 * Held by its sender domain's allowance (scheduler.c): until when, or 0.
 * A message the allowance took or never refused is not.
 */
static time_t
allow_held(const struct rmsg *m)
{
	return (m->counted || m->allow_until <= time(NULL) ? 0 :
	    m->allow_until);
}

static json_t *
msg_json(struct rmsg *m, int full)
{
	json_t	*o, *a, *r;
	size_t	 i;
	time_t	 until = allow_held(m), next;
	int	 held;

	a = json_array();
	for (i = 0; i < m->env.nrcpt; i++) {
		held = m->env.rcpts[i].state == RS_PENDING && (m->env.held ||
		    (until > 0 && !(m->rflags[i] & RR_INFLIGHT)));
		next = m->env.rcpts[i].next_try;
		if (held && !m->env.held && until > next)
			next = until;
		/* on hold no try is due: the one before the hold is past */
		r = json_pack("{s:s, s:s, s:i, s:o, s:b, s:s}",
		    "address", m->env.rcpts[i].addr,
		    "state", held ? "held" :
		    state_name(m->env.rcpts[i].state),
		    "attempts", m->env.rcpts[i].attempts,
		    "next_try", held && m->env.held ? json_null() :
		    json_integer(next),
		    "inflight", (m->rflags[i] & RR_INFLIGHT) != 0,
		    "last_error", m->env.rcpts[i].lasterr);
		/* its DSN could not be queued yet (bounce.c) */
		if (r != NULL && m->env.rcpts[i].dsn_owed)
			json_object_set_new(r, "dsn_owed", json_true());
		if (full && r != NULL && m->rtls[i].present)
			json_object_set_new(r, "tls",
			    mh_event_tls_json(&m->rtls[i]));
		json_array_append_new(a, r);
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "id", m->id,
	    "queue", "outbound", "sender", m->env.sender,
	    "created", (json_int_t)m->env.created,
	    "size", (json_int_t)m->env.size, "recipients", a);
	if (m->env.dkim_pending[0] != '\0' || m->dkim_aside)
		json_object_set_new(o, "held", json_string("dkim"));
	else if (m->env.held)
		json_object_set_new(o, "held", json_string("mhctl"));
	else if (until > 0) {
		json_object_set_new(o, "held", json_string("allowance"));
		json_object_set_new(o, "held_until", json_integer(until));
	}
	if (full) {
		json_object_set_new(o, "message_id",
		    json_string(m->env.message_id));
		json_object_set_new(o, "subject", json_string(m->env.subject));
		json_object_set_new(o, "tags", json_string(m->env.tags));
		json_object_set_new(o, "group", json_string(m->env.group));
		json_object_set_new(o, "transaction",
		    json_string(m->env.transaction));
	}
	return (o);
}

/*
 * mhctl show queue: the outbound messages, as many as fit in
 * CTL_LIST_BYTES of the reply (hookd's list takes the other half of
 * one message between processes); *unlisted counts the others.
 */
json_t *
relay_queue_list(size_t *unlisted)
{
	struct rmsg	*m;
	json_t		*a = json_array();
	size_t		 bytes = 0;

	*unlisted = 0;
	TAILQ_FOREACH(m, sched_queue(), entry)
		if (!m->removed)
			ctl_list_append(a, ctl_list_full(bytes) ? NULL :
			    msg_json(m, 0), &bytes, unlisted);
	return (a);
}

/* queued: its state and its history so far; else its history alone */
json_t *
relay_message_show(const char *id)
{
	struct rmsg	*m;
	json_t		*o;

	if (id == NULL || !envelope_id_ok(id))
		return (NULL);
	if ((m = msg_find(id)) == NULL)
		return (msghist_show(id, "outbound"));
	o = msg_json(m, 1);
	json_object_set_new(o, "state", json_string("queued"));
	json_object_set_new(o, "history", history_get(id));
	return (o);
}

/* the queued message's file: 0 and *fd, -1 unknown, -2 left the queue */
int
relay_message_raw(const char *id, int *fd)
{
	struct rmsg	*m;

	*fd = -1;
	if (id == NULL || !envelope_id_ok(id))
		return (-1);
	if ((m = msg_find(id)) == NULL)
		return (msghist_known(id) ? -2 : -1);
	if ((*fd = queue_open_msg(m->id)) == -1) {
		log_warn("msgid=%s status=error (cannot open for show "
		    "message --raw)", m->id);
		return (-1);
	}
	return (0);
}

const char *
relay_message_owner(const char *id)
{
	static char	 owner[sizeof(((struct envelope *)0)->auth_user)];
	struct rmsg	*m;

	if (id == NULL || !envelope_id_ok(id))
		return (NULL);
	if ((m = msg_find(id)) != NULL)
		return (m->env.auth_user);
	return (msghist_owner(id, owner, sizeof(owner)) == 0 ? owner : NULL);
}

/* a command's ID or "all" names m (not one being removed) */
static int
msg_selected(const struct rmsg *m, const char *id)
{
	return (!m->removed && (strcmp(id, "all") == 0 ||
	    strcmp(m->id, id) == 0));
}

int
relay_schedule(const char *id)
{
	struct rmsg	*m;
	int		 found = 0;

	TAILQ_FOREACH(m, sched_queue(), entry) {
		if (!msg_selected(m, id))
			continue;
		found = 1;
		sched_schedule(m);
	}
	sched_kick();
	/* "all" of an empty queue is done, as with hold all */
	return (found || strcmp(id, "all") == 0 ? 0 : -1);
}

int
relay_remove(const char *id)
{
	struct rmsg	*m;
	size_t		 i;
	char		 a[LOG_ADDR_MAX];

	if ((m = msg_find(id)) == NULL)
		return (-1);
	/* a final event and a log line for each recipient still waiting */
	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.rcpts[i].dsn_owed) {
			log_warnx("msgid=%s report=dsn rcpt=<%s> "
			    "status=dropped (removed by mhctl before its DSN "
			    "was queued)",
			    m->id, log_addr(a, sizeof(a),
			    m->env.rcpts[i].addr));
			envelope_dsn_clear(&m->env.rcpts[i]);
		}
		if (m->env.rcpts[i].state != RS_PENDING)
			continue;
		m->env.rcpts[i].state = RS_FAILED;
		sched_emit(m, i, EV_REMOVED, 0, "", "removed by mhctl",
		    "queue");
		sched_log(m, i, "removed by=mhctl", NULL, NULL, 0, NULL,
		    NULL);
	}
	m->removed = 1;
	if (m->inflight == 0)
		sched_settle(m);
	return (0);
}

/* hold (1) or release (0) a message or all; -1 if none matched */
int
relay_hold(const char *id, int on)
{
	struct rmsg	*m;
	int		 found = 0;

	TAILQ_FOREACH(m, sched_queue(), entry) {
		if (!msg_selected(m, id))
			continue;
		found = 1;
		if (m->env.held == on)
			continue;
		log_info("msgid=%s status=%s by=mhctl", m->id,
		    on ? "held" : "released");
		m->env.held = on;
		/* released, a DSN it owes is tried now, as schedule does
		 * (sched_schedule), not after a backoff set before */
		if (!on)
			m->dsn_next = 0;
		msghist_note(m->id, on ? "held" : "released");
		/* a hold outlives a restart */
		if (queue_update(&m->env) == -1)
			log_warnx("msgid=%s status=error (the %s is not on "
			    "disk)", m->id, on ? "hold" : "release");
	}
	sched_kick();
	return (found || strcmp(id, "all") == 0 ? 0 : -1);
}

void
relay_pause(int p)
{
	sched_pause(p);
}

int
relay_stop(void)
{
	sched_pause(1);
	return (mta_stop());
}

int
relay_in_dot(void)
{
	return (mta_in_dot());
}

int
relay_suppress_add(const char *addr, const char *sender_domain,
    const char *reason)
{
	return (suppress_add(addr, sender_domain, reason));
}

json_t *
relay_suppress_list(size_t *unlisted)
{
	return (suppress_list(unlisted));
}

json_t *
relay_cluster_show(void)
{
	return (cluster_show());
}

size_t
relay_queue_size(void)
{
	struct rmsg	*m;
	size_t		 n = 0;

	TAILQ_FOREACH(m, sched_queue(), entry)
		n++;
	return (n);
}

/* "show metrics": the outbound queue's size and oldest message */
void
relay_metrics(json_t *samples)
{
	struct rmsg	*m;
	time_t		 oldest = 0;
	size_t		 n = 0;

	TAILQ_FOREACH(m, sched_queue(), entry)
		if (n++ == 0 || m->env.created < oldest)
			oldest = m->env.created;
	metrics_queue(samples, "outbound", n, oldest);
}

int
relay_busy(void)
{
	return (mta_active() || gsync_busy());
}

json_t *
relay_stats(void)
{
	json_t	*o, *e;
	int	 k;

	e = json_object();
	for (k = 0; k < EV_KIND_MAX; k++)
		json_object_set_new(e, event_kind_name(k),
			    json_integer((json_int_t)stat_kind[k]));
	o = json_pack("{s:I, s:I, s:i, s:I, s:b, s:o}",
	    "queued", (json_int_t)relay_queue_size(),
	    "committed", (json_int_t)sched_committed(),
	    "connections", mta_active(),
	    "destinations", (json_int_t)sched_destinations(),
	    "paused", sched_paused(), "events", e);
	return (o);
}

void
relay_set_port(int port)
{
	relay_port = port;
}

void
relay_set_timeouts(int connect, int command, int dot)
{
	if (connect != 0)	/* 0: as it is */
		relay_connect_timeout = connect;
	relay_command_timeout = command;
	relay_dot_timeout = dot;
}

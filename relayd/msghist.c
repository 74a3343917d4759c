/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The history of outbound messages (history.h), in outbound/history:
 * "accepted" when a message is queued (client, TLS, SPF, auth),
 * "delivery" for each recipient's outcome (the same as its log line),
 * "event" for each event made, "held"/"released" by mhctl and "done"
 * when it leaves the queue, with its recipients' final states.  What
 * mhctl show message and the API answer once a message is gone.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "relayd.h"

static const char *
rstate_name(enum rcpt_state s)
{
	return (s == RS_DONE ? "delivered" : s == RS_FAILED ? "failed" :
	    "pending");
}

void
rhist_accepted(const struct rmsg *m)
{
	const struct envelope	*e = &m->env;
	json_t			*rec, *rcpts;
	size_t			 i;

	rcpts = json_array();
	for (i = 0; i < e->nrcpt; i++)
		json_array_append_new(rcpts, json_string(e->rcpts[i].addr));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:I, s:o, "
	    "s:s, s:s}",
	    "what", "accepted", "sender", e->sender, "client", e->remote_ip,
	    "helo", e->helo, "spf", "result", e->spf_result, "domain",
	    e->spf_domain, "auth", e->auth_user, "size", (json_int_t)e->size,
	    "recipients", rcpts, "message_id", e->message_id,
	    "subject", e->subject);
	if (rec == NULL)
		return;
	json_object_set_new(rec, "tls", e->tls ? json_pack("{s:s, s:s}",
	    "version", e->tls_version, "cipher", e->tls_cipher) : json_null());
	json_object_set_new(rec, "created", json_integer(e->created));
	history_add(m->id, rec);
	json_decref(rec);
}

/* one recipient's outcome, as its log line says it (sched_log) */
void
rhist_outcome(const struct rmsg *m, size_t i, const char *status,
    const char *relay, const struct event_tls *tls, int code, const char *ext,
    const char *desc)
{
	json_t	*rec;

	rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i}",
	    "what", "delivery", "recipient", m->env.rcpts[i].addr,
	    "status", status, "relay", relay ? relay : "none", "code", code,
	    "dsn", ext ? ext : "", "reply", desc ? desc : "",
	    "attempt", m->env.rcpts[i].attempts + 1);
	if (rec == NULL)
		return;
	if (tls != NULL && tls->present)
		json_object_set_new(rec, "tls", mh_event_tls_json(tls));
	history_add(m->id, rec);
	json_decref(rec);
}

void
rhist_event(const struct event_record *ev)
{
	json_t	*rec;

	if (ev->queue_id[0] == '\0')
		return;
	rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "what", "event",
	    "kind", event_kind_name(ev->kind), "event_id", ev->id,
	    "recipient", ev->recipient, "code", ev->code,
	    "description", ev->description);
	if (rec == NULL)
		return;
	history_add(ev->queue_id, rec);
	json_decref(rec);
}

void
rhist_note(const char *id, const char *what)
{
	json_t	*rec;

	if ((rec = json_pack("{s:s, s:s}", "what", what, "by", "mhctl")) ==
	    NULL)
		return;
	history_add(id, rec);
	json_decref(rec);
}

static json_t *
rcpts_json(const struct rmsg *m)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < m->env.nrcpt; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s}",
		    "address", m->env.rcpts[i].addr,
		    "state", rstate_name(m->env.rcpts[i].state),
		    "attempts", m->env.rcpts[i].attempts,
		    "last_error", m->env.rcpts[i].lasterr));
	return (a);
}

/* the message leaves the queue */
void
rhist_done(const struct rmsg *m)
{
	json_t	*rec;

	if ((rec = json_pack("{s:s, s:b, s:o}", "what", "done",
	    "removed", m->removed, "recipients", rcpts_json(m))) == NULL)
		return;
	history_add(m->id, rec);
	history_settle(m->id);
	json_decref(rec);
}

/*
 * A message no longer queued, from its history: what show message
 * prints for a queued one, the recipients as they ended.  NULL if its
 * history has nothing of it (never ours, or expired).
 */
json_t *
rhist_show(const char *id)
{
	json_t		*recs, *r, *acc = NULL, *done = NULL, *o;
	const char	*w;
	size_t		 i;

	recs = history_get(id);
	json_array_foreach(recs, i, r) {
		if ((w = json_string_value(json_object_get(r, "what"))) == NULL)
			continue;
		if (strcmp(w, "accepted") == 0)
			acc = r;
		else if (strcmp(w, "done") == 0)
			done = r;
	}
	if (acc == NULL) {
		json_decref(recs);
		return (NULL);
	}
	o = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O}",
	    "id", id, "queue", "outbound", "state", done ? "done" : "gone",
	    "sender", json_object_get(acc, "sender"),
	    "created", json_object_get(acc, "created"),
	    "size", json_object_get(acc, "size"),
	    "message_id", json_object_get(acc, "message_id"),
	    "subject", json_object_get(acc, "subject"),
	    "recipients", done ? json_object_get(done, "recipients") :
	    json_array());
	if (o != NULL)
		json_object_set_new(o, "history", recs);
	else
		json_decref(recs);
	return (o);
}

/* who submitted a message no longer queued ("" if unknown) */
int
rhist_owner(const char *id, char *buf, size_t len)
{
	json_t		*acc;
	const char	*a;

	buf[0] = '\0';
	if ((acc = history_last(id, "accepted")) == NULL)
		return (-1);
	if ((a = json_string_value(json_object_get(acc, "auth"))) != NULL)
		strlcpy(buf, a, len);
	json_decref(acc);
	return (0);
}

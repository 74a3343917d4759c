/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Message history records shared by relayd and hookd (msghist.h).
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "mh_event.h"
#include "msghist.h"

/* jansson makes no record of a string that is not UTF-8: never silent */
static void
lost(const char *id, const char *what)
{
	char	 b[64];

	log_warnx("history: %s: a %s record could not be made (a field not "
	    "UTF-8?)", log_sanitize(b, sizeof(b), id), what);
}

void
msghist_add(const char *id, const char *what, json_t *rec)
{
	if (rec == NULL) {
		lost(id, what);
		return;
	}
	history_add(id, rec);
	json_decref(rec);
}

static json_t *
verdicts(const struct envelope *e)
{
	json_t	*dkim = json_array();
	size_t	 i;

	for (i = 0; i < e->ndkim && i < ENVELOPE_DKIM_MAX; i++)
		if (json_array_append_new(dkim, json_pack("{s:s, s:s, s:s}",
		    "result", e->dkim[i].result, "domain", e->dkim[i].domain,
		    "selector", e->dkim[i].selector)) == -1)
			lost(e->id, "dkim");
	return (json_pack("{s:o, s:{s:s, s:s, s:s}}", "dkim", dkim, "dmarc",
	    "result", e->dmarc_result, "policy", e->dmarc_policy, "domain",
	    e->dmarc_domain));
}

void
msghist_accepted(const struct envelope *e)
{
	json_t	*rec, *rcpts;
	size_t	 i;

	rcpts = json_array();
	for (i = 0; i < e->nrcpt; i++)
		if (json_array_append_new(rcpts,
		    json_string(e->rcpts[i].addr)) == -1)
			lost(e->id, "recipient");
	rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:I, s:o, "
	    "s:s, s:s, s:I}",
	    "what", "accepted", "sender", e->sender, "client", e->remote_ip,
	    "helo", e->helo, "spf", "result", e->spf_result, "domain",
	    e->spf_domain, "auth", e->auth_user, "size", (json_int_t)e->size,
	    "recipients", rcpts, "message_id", e->message_id,
	    "subject", e->subject, "created", (json_int_t)e->created);
	if (rec == NULL) {
		lost(e->id, "accepted");
		return;
	}
	json_object_set_new(rec, "tls", e->tls ? json_pack("{s:s, s:s}",
	    "version", e->tls_version, "cipher", e->tls_cipher) : json_null());
	if (e->auth_checked &&
	    json_object_update_new(rec, verdicts(e)) == -1)
		lost(e->id, "verdicts");
	msghist_add(e->id, "accepted", rec);
}

void
msghist_event(const struct event_record *ev)
{
	if (ev->queue_id[0] == '\0')
		return;
	msghist_add(ev->queue_id, "event", json_pack("{s:s, s:s, s:s, s:s, "
	    "s:i, s:s}", "what", "event", "kind", event_kind_name(ev->kind),
	    "event_id", ev->id, "recipient", ev->recipient, "code", ev->code,
	    "description", ev->description));
}

void
msghist_note(const char *id, const char *what)
{
	msghist_add(id, what, json_pack("{s:s, s:s}", "what", what, "by",
	    "mhctl"));
}

json_t *
msghist_rcpts(const struct envelope *e, int held)
{
	const struct envelope_rcpt	*r;
	json_t				*a = json_array();
	size_t				 i;

	for (i = 0; i < e->nrcpt; i++) {
		r = &e->rcpts[i];
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s}",
		    "address", r->addr, "state", r->state == RS_DONE ?
		    "delivered" : r->state == RS_FAILED ? "failed" : held ?
		    "held" : "pending", "attempts", r->attempts,
		    "last_error", r->lasterr)) == -1)
			lost(e->id, "recipient");
	}
	return (a);
}

void
msghist_done(const struct envelope *e, int removed)
{
	msghist_add(e->id, "done", json_pack("{s:s, s:b, s:o}", "what", "done",
	    "removed", removed, "recipients", msghist_rcpts(e, 0)));
	history_settle(e->id);
}

json_t *
msghist_show(const char *id, const char *queue)
{
	json_t		*recs, *r, *acc = NULL, *done = NULL, *o, *rc;
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
	rc = done != NULL ? json_incref(json_object_get(done, "recipients")) :
	    json_array();
	o = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:o}",
	    "id", id, "queue", queue, "state", done ? "done" : "gone",
	    "sender", json_object_get(acc, "sender"),
	    "created", json_object_get(acc, "created"),
	    "size", json_object_get(acc, "size"),
	    "message_id", json_object_get(acc, "message_id"),
	    "subject", json_object_get(acc, "subject"),
	    "recipients", rc);
	if (o != NULL)
		json_object_set_new(o, "history", recs);
	else
		json_decref(recs);
	return (o);
}

int
msghist_owner(const char *id, char *buf, size_t len)
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

int
msghist_known(const char *id)
{
	json_t	*acc;

	if ((acc = history_last(id, "accepted")) == NULL)
		return (0);
	json_decref(acc);
	return (1);
}

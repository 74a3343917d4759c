/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd's records of a message's history (msghist.h has the shared
 * ones), in <spool>/inbound/history: "post", each POST of an inbound
 * message to its route (URL without password or query values, status,
 * result, reply, time); "expired", a recipient whose route's lifetime
 * ended; "event_post", each attempt to deliver the events made of a
 * message to an events endpoint (once a recipient's last event is out,
 * the older records of the message count from then: history_settle).
 * And mhctl show message for what hookd holds: the inbound queue, and
 * the history of any message.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "ctlcmd.h"
#include "fileio.h"
#include "history.h"
#include "hookd.h"
#include "http.h"
#include "msghist.h"
#include "sanitize.h"

#define REPLY_MAX	200

void
ihist_post(const struct envelope *e, size_t i, const char *url,
    const struct http_response *res, long ms, const char *result)
{
	char	 reply[REPLY_MAX + 1] = "";
	json_t	*rec;

	if (res->error == HTTP_OK && res->body != NULL)
		sanitize_text(reply, sizeof(reply), res->body, res->bodylen,
		    SAN_SQUEEZE | SAN_CTLSPACE | SAN_UTF8);
	rec = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:i}",
	    "what", "post", "recipient", e->rcpts[i].addr, "url", url,
	    "code", (json_int_t)(res->error == HTTP_OK ? res->status :
	    res->answered),
	    "result", result, "error", res->error == HTTP_OK ? "" :
	    res->errstr, "reply", reply, "time_ms", (json_int_t)ms,
	    "attempt", e->rcpts[i].attempts + 1);
	msghist_add(e->id, "post", rec);
}

void
ihist_expired(const struct envelope *e, size_t i, const char *why)
{
	json_t	*rec;

	rec = json_pack("{s:s, s:s, s:s, s:i}", "what", "expired",
	    "recipient", e->rcpts[i].addr, "reason", why, "attempts",
	    e->rcpts[i].attempts);
	msghist_add(e->id, "expired", rec);
}

/* a recipient given to its route's fallback: where (a file, a queue id) */
void
ihist_fallback(const struct envelope *e, size_t i, const char *how,
    const char *where)
{
	json_t	*rec;

	rec = json_pack("{s:s, s:s, s:s, s:s}", "what", "fallback",
	    "recipient", e->rcpts[i].addr, how, where, "result",
	    strcmp(how, "smtp") == 0 ? "queued" : "written");
	msghist_add(e->id, "fallback", rec);
}

/* a dead letter put back in the queue (dead replay), under a new id */
void
ihist_replayed(const char *id, const char *queued_as)
{
	json_t	*rec;

	rec = json_pack("{s:s, s:s, s:s}", "what", "replayed",
	    "queued_as", queued_as, "by", "mhctl");
	msghist_add(id, "replayed", rec);
}

/* the kinds after which nothing more happens to a recipient in the queue */
static int
final_kind(const char *kind)
{
	static const char	*finals[] = { "delivery", "bounce",
				    "retries_exhausted", "removed",
				    "suppressed", "error" };
	size_t			 i;

	for (i = 0; kind != NULL && i < sizeof(finals) / sizeof(finals[0]);
	    i++)
		if (strcmp(kind, finals[i]) == 0)
			return (1);
	return (0);
}

/* one record per event of a batch, under the message it was made of */
void
ihist_event_post(const json_t *records, const char *url, long status,
    long ms, const char *result, const char *error, int attempt)
{
	const json_t	*r;
	const char	*q;
	json_t		*rec;
	size_t		 i;

	json_array_foreach(records, i, r) {
		q = json_string_value(json_object_get(r, "queue_id"));
		if (q == NULL || !envelope_id_ok(q))
			continue;
		rec = json_pack("{s:s, s:O?, s:O?, s:O?, s:s, s:I, s:s, s:s, "
		    "s:I, s:i}", "what", "event_post",
		    "kind", json_object_get(r, "kind"),
		    "event_id", json_object_get(r, "id"),
		    "recipient", json_object_get(r, "recipient"),
		    "url", url, "code", (json_int_t)status, "result", result,
		    "error", error, "time_ms", (json_int_t)ms,
		    "attempt", attempt);
		msghist_add(q, "event_post", rec);
		/* a recipient's last event is out: what came before counts
		 * from now, as relayd's records do when the message leaves */
		if (strcmp(result, "delivered") == 0 && final_kind(
		    json_string_value(json_object_get(r, "kind"))))
			history_settle(q);
	}
}

/*
 * show message ID [--raw] for hookd: a queued inbound message with its
 * history, one that left the queue from its history, or (for an
 * outbound message) the deliveries of its events, merged by the parent
 * with relayd's answer.
 */
json_t *
ihist_show(const struct ctl_cmd *cmd, const json_t *argv)
{
	const char	*id, *opt;
	char		 nb[128];
	json_t		*j, *recs, *dl;
	int		 fd;

	id = json_string_value(json_array_get(argv, ctl_cmd_skip(cmd)));
	opt = json_string_value(json_array_get(argv, ctl_cmd_skip(cmd) + 1));
	if (id == NULL || !envelope_id_ok(id))
		return (json_pack("{s:s}", "error",
		    ctl_no_such(nb, sizeof(nb), "message", id)));
	if (opt != NULL && strcmp(opt, "--raw") != 0)
		return (json_pack("{s:s}", "error",
		    "usage: mhctl show message ID [--raw]"));
	if ((j = inbound_queue(id)) != NULL) {
		if (opt == NULL) {
			json_object_set_new(j, "state", json_string("queued"));
			json_object_set_new(j, "history", history_get(id));
			return (j);
		}
		json_decref(j);
		if ((fd = spool_open_message(id, 0)) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", id)));
		if (child_control_fd(fd) == -1)
			return (json_pack("{s:s}", "error", CTL_NOT_A_FILE));
		return (json_pack("{s:s, s:s, s:b}", "id", id, "queue",
		    "inbound", "raw", 1));
	}
	if (opt != NULL) {
		/* a dead letter keeps the message */
		errno = 0;
		if ((fd = dead_inbound_open(id)) != -1) {
			if (child_control_fd(fd) == -1)
				return (json_pack("{s:s}", "error",
				    CTL_NOT_A_FILE));
			return (json_pack("{s:s, s:s, s:b}", "id", id,
			    "queue", "inbound", "raw", 1));
		}
		/* a directory, a FIFO where its message should be */
		if (errno == EFTYPE)
			return (json_pack("{s:s}", "error", CTL_NOT_A_FILE));
		return (json_pack("{s:s}", "error", msghist_known(id) ?
		    "the message has left the queue: only its history is "
		    "kept (show message ID)" :
		    ctl_no_such(nb, sizeof(nb), "message", id)));
	}
	if ((j = msghist_show(id, "inbound")) != NULL) {
		/* not done: in the dead letters, for dead replay */
		if ((dl = dead_inbound_find(id)) != NULL) {
			json_object_set_new(j, "state", json_string("dead"));
			json_object_set(j, "dead_reason",
			    json_object_get(dl, "reason"));
			json_decref(dl);
		}
		return (j);
	}
	recs = history_get(id);
	if (json_array_size(recs) == 0) {
		json_decref(recs);
		return (json_pack("{s:s}", "error",
		    ctl_no_such(nb, sizeof(nb), "message", id)));
	}
	return (json_pack("{s:o}", "history", recs));
}

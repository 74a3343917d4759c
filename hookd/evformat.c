/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: an event record in the three payload formats of the `events`
 * blocks (documented for users in doc/webhooks.md).
 *
 * events    {"events":[{"kind","recipient","message_id", extras...}]},
 *           every kind; extras only when set: id, time, queue_id, sender,
 *           stage, code, extended, description, tags (array), group,
 *           transaction, subject, bounce_type, bounce_reason, link,
 *           unique_open, machine (open, click), async.
 * failures  application/x-www-form-urlencoded, one event per POST:
 *           id (the message's queue id, else its Message-ID), type=failure,
 *           timestamp (UTC "YYYY-MM-DD HH:MM:SS"), time, recipient, action,
 *           state, code, extended, description, tags[] (once per tag).
 *           Kinds: bounce, retries_exhausted, error (action "failed": final)
 *           and soft_bounce, dispatch_soft_bounce, a bounce reported
 *           "delayed" (async, soft) (action "failure": the message will be
 *           retried).  state is the SMTP stage of a
 *           synchronous failure, "bounce" for an asynchronous one.
 * callback  {"event":{event_id, event_date, event_type, email_to,
 *           group_name, custom_headers, trans_id, ...}}, one per POST.
 *           delivery -> sent (+subject); bounce reported asynchronously
 *           (a DSN came back) -> bounced (bounced_email instead of email_to,
 *           bounced_received_date, bounce_type, bounce_reason,
 *           trans_bcontent_complete_mime); bounce at SMTP time,
 *           retries_exhausted, error, suppressed (not sent) -> failed;
 *           open -> open; click ->
 *           clicked (+unique_open "yes"/"no", link); unsubscribe,
 *           resubscribe.  Other kinds are not sent in this format.
 *           event_date is a string of the Unix time (as in the seed);
 *           trans_id is a number when the transaction id is all digits,
 *           else a string.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "config.h"
#include "mh_event.h"
#include "events.h"
#include "evbuf.h"
#include "http.h"

#define CT_JSON		"application/json"
#define CT_FORM		"application/x-www-form-urlencoded"

static int	failure_kind(enum event_kind, const char **);
static const char *failure_action(const struct event_record *, const char *);
static const char *callback_type(const struct event_record *);

/* failures format: which kinds, and their action */
static int
failure_kind(enum event_kind k, const char **action)
{
	switch (k) {
	case EV_BOUNCE:
	case EV_RETRIES_EXHAUSTED:
	case EV_ERROR:
		*action = "failed";
		return (1);
	case EV_SOFT_BOUNCE:
	case EV_DISPATCH_SOFT_BOUNCE:
		*action = "failure";
		return (1);
	default:
		return (0);
	}
}

/*
 * A report that came back saying "delayed" (an asynchronous bounce of
 * bounce_type soft) is not final: the remote server goes on trying.
 */
static const char *
failure_action(const struct event_record *ev, const char *action)
{
	if (ev->kind == EV_BOUNCE && ev->async &&
	    strcmp(ev->bounce_type, "soft") == 0)
		return ("failure");
	return (action);
}

static const char *
callback_type(const struct event_record *ev)
{
	switch (ev->kind) {
	case EV_DELIVERY:
		return ("sent");
	case EV_BOUNCE:
		return (ev->async ? "bounced" : "failed");
	case EV_RETRIES_EXHAUSTED:
	case EV_ERROR:
	case EV_SUPPRESSED:	/* never sent: the seed's "failed to send" */
		return ("failed");
	case EV_OPEN:
		return ("open");
	case EV_CLICK:
		return ("clicked");
	case EV_UNSUBSCRIBE:
		return ("unsubscribe");
	case EV_RESUBSCRIBE:
		return ("resubscribe");
	default:
		return (NULL);
	}
}

int
events_format_wants(enum event_format fmt, enum event_kind k)
{
	struct event_record	 ev;
	const char		*action;

	switch (fmt) {
	case EVFMT_EVENTS:
		return (k >= 0 && k < EV_KIND_MAX);
	case EVFMT_FAILURES:
		return (failure_kind(k, &action));
	case EVFMT_CALLBACK:
		memset(&ev, 0, sizeof(ev));
		ev.kind = k;
		return (callback_type(&ev) != NULL);
	}
	return (0);
}

/* comma separated tags -> JSON array of trimmed, non-empty tags */
static json_t *
tags_array(const char *tags)
{
	json_t		*a;
	const char	*p, *e;
	size_t		 n;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (p = tags; *p != '\0'; p = (*e == ',') ? e + 1 : e) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		n = e - p;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
	}
	return (a);
}

static void
set_str(json_t *o, const char *key, const char *val)
{
	if (val[0] != '\0')
		json_object_set_new(o, key, json_string(val));
}

static json_t *
render_events1(const struct event_record *ev)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return (NULL);
	/* the seed's three fields first */
	json_object_set_new(o, "kind", json_string(event_kind_name(ev->kind)));
	json_object_set_new(o, "recipient", json_string(ev->recipient));
	json_object_set_new(o, "message_id", json_string(ev->message_id));
	json_object_set_new(o, "id", json_string(ev->id));
	json_object_set_new(o, "time", json_integer(ev->time));
	set_str(o, "queue_id", ev->queue_id);
	set_str(o, "sender", ev->sender);
	set_str(o, "stage", ev->stage);
	if (ev->code != 0)
		json_object_set_new(o, "code", json_integer(ev->code));
	set_str(o, "extended", ev->extended);
	set_str(o, "description", ev->description);
	if (ev->tags[0] != '\0')
		json_object_set_new(o, "tags", tags_array(ev->tags));
	set_str(o, "group", ev->group);
	set_str(o, "transaction", ev->transaction);
	set_str(o, "subject", ev->subject);
	set_str(o, "bounce_type", ev->bounce_type);
	set_str(o, "bounce_reason", ev->bounce_reason);
	set_str(o, "link", ev->link);
	if (ev->tls.present)
		json_object_set_new(o, "tls", mh_event_tls_json(&ev->tls));
	if (ev->kind == EV_OPEN || ev->kind == EV_CLICK) {
		json_object_set_new(o, "unique_open",
		    json_boolean(ev->unique_open));
		json_object_set_new(o, "machine", json_boolean(ev->machine));
	}
	if (ev->async)
		json_object_set_new(o, "async", json_true());
	return (o);
}

static int
dump(json_t *o, char **body, size_t *len)
{
	char	*s;

	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return (-1);
	*body = s;
	*len = strlen(s);
	return (0);
}

static int
render_events(const struct event_record *const *evs, size_t n, char **body,
    size_t *len)
{
	json_t	*o, *a, *e;
	size_t	 i;

	if ((o = json_object()) == NULL)
		return (-1);
	if ((a = json_array()) == NULL) {
		json_decref(o);
		return (-1);
	}
	json_object_set_new(o, "events", a);
	for (i = 0; i < n; i++) {
		if ((e = render_events1(evs[i])) == NULL ||
		    json_array_append_new(a, e) == -1) {
			json_decref(o);
			return (-1);
		}
	}
	return (dump(o, body, len));
}

static int
render_failures(const struct event_record *ev, char **body, size_t *len)
{
	const char	*action, *id;
	char		 ts[32], num[32], code[16];
	struct evbuffer	*buf;
	size_t		 i;
	struct tm	 tm;
	json_t		*tags;
	int		 rc = 0;

	if (!failure_kind(ev->kind, &action))
		return (1);
	if (gmtime_r(&ev->time, &tm) == NULL ||
	    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return (-1);
	snprintf(num, sizeof(num), "%lld", (long long)ev->time);
	if (ev->code != 0)
		snprintf(code, sizeof(code), "%d", ev->code);
	else
		code[0] = '\0';
	if ((buf = evbuffer_new()) == NULL)
		return (-1);
	id = ev->queue_id[0] != '\0' ? ev->queue_id :
	    ev->message_id[0] != '\0' ? ev->message_id : ev->id;
	rc |= http_form_add(buf, "id", id, 0);
	rc |= http_form_add(buf, "type", "failure", 0);
	rc |= http_form_add(buf, "timestamp", ts, 0);
	rc |= http_form_add(buf, "time", num, 0);
	rc |= http_form_add(buf, "recipient", ev->recipient, 0);
	rc |= http_form_add(buf, "action", failure_action(ev, action), 0);
	rc |= http_form_add(buf, "state", ev->async ? "bounce" :
	    ev->stage[0] != '\0' ? ev->stage : "unknown", 0);
	rc |= http_form_add(buf, "code", code, 0);
	rc |= http_form_add(buf, "extended", ev->extended, 0);
	rc |= http_form_add(buf, "description", ev->description, 0);
	if ((tags = tags_array(ev->tags)) == NULL)
		rc = -1;
	else {
		for (i = 0; i < json_array_size(tags); i++)
			rc |= http_form_add(buf, "tags[]",
			    json_string_value(json_array_get(tags, i)), 0);
		json_decref(tags);
	}
	if ((*body = evbuf_finish(buf, rc != 0, len)) == NULL)
		return (-1);
	return (0);
}

static json_t *
trans_id(const char *s)
{
	size_t		 i;
	long long	 n;
	char		*end;

	for (i = 0; s[i] != '\0'; i++)
		if (!isdigit((unsigned char)s[i]))
			break;
	if (s[0] == '\0' || s[i] != '\0' || i > 15 ||
	    (s[0] == '0' && s[1] != '\0'))
		return (json_string(s));
	n = strtoll(s, &end, 10);
	return (json_integer(n));
}

static int
render_callback(const struct event_record *ev, char **body, size_t *len)
{
	const char	*type;
	char		 date[32];
	json_t		*o, *e;

	if ((type = callback_type(ev)) == NULL)
		return (1);
	snprintf(date, sizeof(date), "%lld", (long long)ev->time);
	if ((o = json_object()) == NULL)
		return (-1);
	if ((e = json_object()) == NULL) {
		json_decref(o);
		return (-1);
	}
	json_object_set_new(o, "event", e);
	json_object_set_new(e, "event_id", json_string(ev->id));
	json_object_set_new(e, "event_date", json_string(date));
	json_object_set_new(e, "event_type", json_string(type));
	if (strcmp(type, "bounced") == 0) {
		json_object_set_new(e, "bounced_email",
		    json_string(ev->recipient));
		json_object_set_new(e, "bounced_received_date",
		    json_string(date));
		json_object_set_new(e, "bounce_type", json_string(
		    ev->bounce_type[0] != '\0' ? ev->bounce_type : "hard"));
		json_object_set_new(e, "bounce_reason",
		    json_string(ev->bounce_reason));
		json_object_set_new(e, "trans_bcontent_complete_mime",
		    json_string(ev->bounce_mime != NULL ? ev->bounce_mime :
		    ""));
	} else {
		if (strcmp(type, "clicked") == 0)
			json_object_set_new(e, "unique_open",
			    json_string(ev->unique_open ? "yes" : "no"));
		json_object_set_new(e, "email_to", json_string(ev->recipient));
	}
	json_object_set_new(e, "group_name", json_string(ev->group));
	json_object_set_new(e, "custom_headers", json_string(
	    ev->custom_headers != NULL ? ev->custom_headers : ""));
	json_object_set_new(e, "trans_id", trans_id(ev->transaction));
	if (strcmp(type, "sent") == 0)
		json_object_set_new(e, "subject", json_string(ev->subject));
	else if (strcmp(type, "clicked") == 0)
		json_object_set_new(e, "link", json_string(ev->link));
	return (dump(o, body, len));
}

int
events_render(enum event_format fmt, const struct event_record *const *evs,
    size_t n, char **body, size_t *len, const char **ctype)
{
	*body = NULL;
	*len = 0;
	if (n == 0)
		return (-1);
	switch (fmt) {
	case EVFMT_EVENTS:
		*ctype = CT_JSON;
		return (render_events(evs, n, body, len));
	case EVFMT_FAILURES:
		*ctype = CT_FORM;
		return (n == 1 ? render_failures(evs[0], body, len) : -1);
	case EVFMT_CALLBACK:
		*ctype = CT_JSON;
		return (n == 1 ? render_callback(evs[0], body, len) : -1);
	}
	return (-1);
}

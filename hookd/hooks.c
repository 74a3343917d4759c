/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the webhook endpoints under mhctl.
 *
 *	show hooks				every event endpoint
 *						and route URL
 *	hooks retry ENDPOINT			retry now, backoff reset
 *	hooks skip ENDPOINT EVENT-ID		one stuck event to the
 *						dead letters
 *	hooks replay ENDPOINT --since TIME	send again what was delivered
 *	hooks replay ENDPOINT stop
 *	show dead, dead replay|remove ID|all	the dead letters (dead.c)
 *
 * ENDPOINT is an endpoint's id (show hooks), its URL or its URL as shown.
 * TIME is seconds since the epoch, an ISO 8601 UTC time
 * (2026-12-01T04:00:00Z, 2026-12-01) or a duration ago (90m, 2h, 7d).
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "child.h"
#include "ctlcmd.h"
#include "log.h"
#include "mailhook.h"
#include "events.h"
#include "hookd.h"

/* TIME of "--since": -1 if it is none of the forms */
time_t
hooks_parse_time(const char *s, time_t now)
{
	struct tm	 tm;
	const char	*end;
	char		*ep;
	long long	 v;
	time_t		 t;
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%SZ",
	    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%MZ",
	    "%Y-%m-%d" };
	size_t		 i;

	if (s[0] == '\0' || strlen(s) > 32)
		return (-1);
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, fmts[i], &tm)) != NULL && *end == '\0')
			return ((t = timegm(&tm)) < 0 ? -1 : t);
	}
	if (!isdigit((unsigned char)s[0]))
		return (-1);
	errno = 0;
	v = strtoll(s, &ep, 10);
	if (errno != 0 || v < 0 || v > 100LL * 365 * 86400 * 100)
		return (-1);
	switch (*ep) {
	case '\0':
		return ((time_t)v);
	case 's':
		break;
	case 'm':
		v *= 60;
		break;
	case 'h':
		v *= 3600;
		break;
	case 'd':
		v *= 86400;
		break;
	default:
		return (-1);
	}
	if (ep[1] != '\0' || v > now)
		return (-1);
	return (now - (time_t)v);
}

static json_t *
hooks_error(const char *fmt, const char *arg)
{
	char	buf[MH_URL_MAX + 256];

	snprintf(buf, sizeof(buf), fmt, arg);
	return (json_pack("{s:s}", "error", buf));
}

static const char *
word(const json_t *argv, size_t i)
{
	const char	*s = json_string_value(json_array_get(argv, i));

	return (s != NULL ? s : "");
}

/*
 * One list of show hooks under key in reply: as many of all's entries
 * as fit in CTL_LIST_BYTES of JSON (the endpoints' and the routes' lists
 * both fit in one reply), the number of the others in key_unlisted.
 */
static void
hooks_list_set(json_t *reply, const char *key, json_t *all)
{
	json_t		*a = json_array(), *o;
	char		 more[64];
	size_t		 i, bytes = 0, unlisted = 0;

	json_array_foreach(all, i, o)
		ctl_list_append(a, ctl_list_full(bytes) ? NULL :
		    json_incref(o), &bytes, &unlisted);
	json_decref(all);
	json_object_set_new(reply, key, a);
	snprintf(more, sizeof(more), "%s_unlisted", key);
	if (unlisted > 0)
		json_object_set_new(reply, more,
		    json_integer((json_int_t)unlisted));
}

static json_t *
show_hooks(void)
{
	json_t		*a, *ep, *r, *reply;
	size_t		 i;

	if ((a = events_stats()) == NULL || (reply = json_object()) == NULL) {
		json_decref(a);
		return (NULL);
	}
	json_array_foreach(a, i, ep)
		if ((r = replay_status(json_string_value(json_object_get(ep,
		    "id")))) != NULL)
			json_object_set_new(ep, "replay", r);
	hooks_list_set(reply, "endpoints", a);
	hooks_list_set(reply, "routes", inbound_routes());
	if ((r = inbound_unread()) != NULL)
		json_object_set_new(reply, "routes_unreadable", r);
	return (reply);
}

struct skip {
	const char	*key;
	const char	*url;
};

static int
skip_keep(const json_t *rec, void *arg)
{
	struct skip	*sk = arg;

	return (dead_event(sk->key, sk->url, rec, "skipped"));
}

static int
skip_unkeep(const json_t *rec, void *arg)
{
	struct skip	*sk = arg;

	return (dead_event_undo(sk->key, sk->url, json_string_value(
	    json_object_get(rec, "id"))));
}

static json_t *
hooks_cmd(const json_t *argv)
{
	char		 key[EVENTS_KEY_LEN], url[MH_URL_MAX], err[256];
	const char	*what = word(argv, 1), *id;
	struct skip	 sk;
	time_t		 since;

	if (events_match(word(argv, 2), key, url, sizeof(url)) == -1)
		return (hooks_error("no such endpoint: %s (see show hooks)",
		    word(argv, 2)));
	if (strcmp(what, "retry") == 0) {
		events_retry(key);
		log_info("hooks: action=retry endpoint=%s url=%s backlog=%zu "
		    "by=mhctl", key, url, events_pending(key));
		return (json_pack("{s:s,s:s}", "endpoint", key, "retry",
		    "now"));
	}
	if (strcmp(what, "skip") == 0) {
		id = word(argv, 3);
		if (strlen(id) != EVENT_ID_LEN - 1)
			return (hooks_error("not an event id: %s", id));
		sk.key = key;
		sk.url = url;
		switch (events_take(key, id, skip_keep, skip_unkeep, &sk)) {
		case 0:
			log_info("hooks: action=skip endpoint=%s url=%s "
			    "event=%s result=dead by=mhctl", key, url, id);
			return (json_pack("{s:s,s:s}", "skipped", id, "to",
			    "dead"));
		case -2:
			return (hooks_error("event %s is being sent: try again "
			    "once it is answered", id));
		case -3:
			return (hooks_error("event %s: cannot write the dead "
			    "letter (see the log): it stays queued", id));
		case -4:
			return (hooks_error("event %s: cannot rewrite its batch "
			    "file or segment (see the log): it stays queued",
			    id));
		case -5:
			return (hooks_error("event %s cannot be read: kept "
			    "aside as unreadable (see the log)", id));
		case -6:
			return (hooks_error("event %s cannot be read now (see "
			    "the log): it stays queued, try again later", id));
		default:
			return (hooks_error("event %s is not waiting there",
			    id));
		}
	}
	/* replay */
	if (!ctl_cmd_replay_ok(json_array_size(argv), word(argv, 3)))
		return (hooks_error("usage: mhctl hooks replay %s",
		    "ENDPOINT --since TIME|stop"));
	if (strcmp(word(argv, 3), "stop") == 0) {
		if (replay_stop(key) == -1)
			return (hooks_error("no replay under way for %s", url));
		return (json_pack("{s:s,s:s}", "endpoint", key, "replay",
		    "stopped"));
	}
	/* what it queued would only become dead letters */
	if (!events_configured(key))
		return (hooks_error("%s is not configured (no events block "
		    "names it): nothing to replay to", url));
	/* they would wait, then be dead letters, reason gone */
	if (events_disabled(key))
		return (hooks_error("%s answered 410 Gone and is disabled: "
		    "nothing is sent to it (mhctl hooks retry it first)", url));
	if ((since = hooks_parse_time(word(argv, 4), time(NULL))) == -1)
		return (hooks_error("bad time: %s (seconds since the epoch, "
		    "2026-12-01T04:00:00Z or a duration ago: 2h, 7d)",
		    word(argv, 4)));
	if (replay_start(key, url, since, err, sizeof(err)) == -1)
		return (hooks_error("%s", err));
	return (json_pack("{s:s,s:s,s:I}", "endpoint", key, "replay",
	    "started", "since", (json_int_t)since));
}

/* a control command of this file's, NULL if it is not one */
json_t *
hooks_control(const struct ctl_cmd *cmd, const json_t *argv)
{
	switch (cmd->id) {
	case CTL_SHOW_HOOKS:
		return (show_hooks());
	case CTL_SHOW_DEAD:
		return (dead_list());
	case CTL_HOOKS_RETRY:
	case CTL_HOOKS_SKIP:
	case CTL_HOOKS_REPLAY:
		return (hooks_cmd(argv));
	case CTL_DEAD_REPLAY:
	case CTL_DEAD_REMOVE:
		return (dead_act(cmd->id == CTL_DEAD_REPLAY, word(argv, 2)));
	default:
		return (NULL);
	}
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhookd/control.c control_merge: the replies of relayd and hookd to
 * show queue and show message made one.  A process's error stays beside
 * the other's list, named by the process: an empty outbound list is not
 * an empty queue while hookd could not give the inbound one.
 */
#include <jansson.h>

#include "mailhookd.h"
#include "tap.h"

static json_t *
merge(const char *relayd, const char *hookd)
{
	json_t	*r, *out;

	r = json_pack("{s:o,s:o}", "relayd", json_loads(relayd, 0, NULL),
	    "hookd", json_loads(hookd, 0, NULL));
	out = control_merge(r);
	json_decref(r);
	return (out);
}

static const char *
str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

int
main(void)
{
	json_t	*m;

	m = merge("{\"queue\":[{\"id\":\"a\"}],\"outbound_unlisted\":3}",
	    "{\"queue\":[{\"id\":\"b\"}],\"inbound_unlisted\":4}");
	ok(json_array_size(json_object_get(m, "queue")) == 2 &&
	    json_integer_value(json_object_get(m, "outbound_unlisted")) ==
	    3 && json_integer_value(json_object_get(m, "inbound_unlisted")) ==
	    4 && json_object_get(m, "error") == NULL,
	    "both lists joined, each count kept, no error");
	json_decref(m);

	m = merge("{\"queue\":[]}", "{\"error\":\"reply too large\"}");
	ok(json_is_array(json_object_get(m, "queue")),
	    "relayd's empty list kept");
	is_str(str(m, "error"), "hookd: reply too large",
	    "hookd's error beside it, named");
	json_decref(m);

	m = merge("{\"error\":\"reply too large\"}",
	    "{\"queue\":[{\"id\":\"b\"}]}");
	ok(json_array_size(json_object_get(m, "queue")) == 1,
	    "hookd's list kept");
	is_str(str(m, "error"), "relayd: reply too large",
	    "relayd's error beside it, named");
	json_decref(m);

	m = merge("{\"error\":\"no such message: x\"}",
	    "{\"id\":\"x\",\"queue\":\"inbound\"}");
	ok(str(m, "error") == NULL && str(m, "id") != NULL,
	    "show message: the one that has it, without the other's "
	    "\"no such\"");
	json_decref(m);

	m = merge("{\"error\":\"no such message: x\"}",
	    "{\"error\":\"the message has left the queue\"}");
	is_str(str(m, "error"), "the message has left the queue",
	    "both errors: the one that knows the id");
	json_decref(m);

	m = merge("{\"error\":\"no such message: x\"}",
	    "{\"error\":\"no such message: x\"}");
	is_str(str(m, "error"), "no such message: x",
	    "neither has it: no such message");
	json_decref(m);
	return (tap_done());
}

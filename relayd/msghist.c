/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's own record of a message's history (msghist.h has the shared
 * ones): "delivery", each recipient's outcome as its log line says it.
 */
#include <sys/types.h>

#include "history.h"
#include "relayd.h"

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
	if (rec != NULL && tls != NULL && tls->present)
		json_object_set_new(rec, "tls", mh_event_tls_json(tls));
	msghist_add(m->id, "delivery", rec);
}

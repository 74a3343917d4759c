/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhookd/control.c control_metrics_check: the parent checks each
 * process's metrics samples before they go to webd (or mhctl) to be
 * rendered with the others'.  A process that sends a malformed one (a
 * compromised child can send anything) loses its samples, null as for a
 * process that did not answer; the others' stay, and the whole renders,
 * where before it failed and webd exited on it.
 */
#include <syslog.h>

#include <jansson.h>

#include "log.h"
#include "mailhookd.h"
#include "metrics.h"
#include "tap.h"

static int
renders(const json_t *procs)
{
	char	*text, err[128];
	size_t	 len;

	if ((text = metrics_render(procs, 0, &len, err, sizeof(err))) == NULL)
		return (0);
	free(text);
	return (1);
}

int
main(void)
{
	json_t		*procs;
	const char	*bad[] = {
		"[[\"no_such_family\", [], 1]]",
		"[[\"mailhook_events\", [\"a\", \"b\"], 1]]",
		"[[\"mailhook_events\", [\"delivery\"], \"1\"]]",
		"[[\"mailhook_process_up\", [\"smtpd\"], 1]]",
		"[[\"mailhook_events\", [\"delivery\"], 1], 7]",
		"[[\"mailhook_webhook_duration_seconds\", [\"e\"], "
		    "{\"b\": [1], \"sum\": 1, \"count\": 1}]]",
	};
	size_t		 i;
	char		 err[128];

	log_init(1, LOG_MAIL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		procs = json_pack("{s:o, s:o, s:n}",
		    "smtpd", json_loads("[[\"mailhook_smtp_sessions\", "
		    "[\"127.0.0.1:25\"], 3]]", 0, NULL),
		    "relayd", json_loads(bad[i], 0, NULL), "hookd");
		ok(json_is_array(json_object_get(procs, "relayd")) &&
		    !renders(procs), "%s: as sent, it fails the scrape", bad[i]);
		ok(metrics_check(json_object_get(procs, "relayd"), err,
		    sizeof(err)) == -1, "%s: metrics_check: %s", bad[i], err);
		control_metrics_check(procs);
		ok(json_is_null(json_object_get(procs, "relayd")),
		    "%s: the sender's samples are dropped", bad[i]);
		ok(json_array_size(json_object_get(procs, "smtpd")) == 1 &&
		    json_is_null(json_object_get(procs, "hookd")),
		    "%s: the others' stay as they were", bad[i]);
		ok(renders(procs), "%s: the scrape renders", bad[i]);
		json_decref(procs);
	}
	procs = json_pack("{s:o}", "smtpd", json_loads(
	    "[[\"mailhook_smtp_sessions\", [\"127.0.0.1:25\"], 3], "
	    "[\"mailhook_events\", [\"delivery\"], 2]]", 0, NULL));
	control_metrics_check(procs);
	ok(json_array_size(json_object_get(procs, "smtpd")) == 2,
	    "well-formed samples are kept");
	json_decref(procs);
	return (tap_done());
}

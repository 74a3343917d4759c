/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/ctlcmd.c: the table of control commands.
 */
#include <stdio.h>
#include <string.h>

#include "mailhook.h"
#include "apikeys.h"
#include "ctlcmd.h"
#include "tap.h"

static const struct ctl_cmd *
look(size_t n, const char *a, const char *b, const char *c)
{
	const char	*w[3] = { a, b, c };

	return (ctl_cmd_lookup(n, w));
}

/* an "api keys" line with n domains (d0.test,...) is taken */
static int
keys_line_ok(int n)
{
	unsigned char	 hash[MH_SHA256_LEN];
	char		 line[64 + 65 + 16 * (APIKEY_DOMAINS_MAX + 2)];
	char		*name, *doms;
	size_t		 len;
	int		 i;

	len = strlcpy(line, "app:", sizeof(line));
	for (i = 0; i < 64; i++)
		line[len++] = 'a';
	line[len++] = ':';
	for (i = 0; i < n; i++)
		len += snprintf(line + len, sizeof(line) - len, "%sd%d.test",
		    i > 0 ? "," : "", i);
	return (apikey_line(line, &name, hash, &doms) == 1);
}

int
main(void)
{
	const struct ctl_cmd	*c;
	char			 help[2048];
	FILE			*fp;
	size_t			 len;

	ok((c = look(2, "show", "status", NULL)) != NULL &&
	    c->id == CTL_SHOW_STATUS && c->target == PROC_PARENT &&
	    !c->mutating, "show status: the parent's, read-only");
	ok((c = look(2, "show", "stats", NULL)) != NULL &&
	    c->target == CTL_CHILDREN, "show stats: every child answers");
	ok((c = look(3, "show", "message", "0123")) != NULL &&
	    c->target == PROC_RELAYD && ctl_cmd_args_ok(c, 3) &&
	    ctl_cmd_args_ok(c, 4) && !ctl_cmd_args_ok(c, 2) &&
	    !ctl_cmd_args_ok(c, 5),
	    "show message takes an ID and --raw");
	ok((c = look(2, "schedule", "all", NULL)) != NULL &&
	    c->id == CTL_SCHEDULE && c->mutating && ctl_cmd_skip(c) == 1,
	    "schedule: relayd's, root only, the second word is its argument");
	ok((c = look(2, "pause", "hooks", NULL)) != NULL &&
	    c->id == CTL_PAUSE_HOOKS && c->target == PROC_HOOKD,
	    "pause hooks goes to hookd");
	ok((c = look(2, "pause", "smtp", NULL)) != NULL &&
	    c->target == PROC_SMTPD, "pause smtp goes to smtpd");
	ok(look(2, "pause", "everything", NULL) == NULL,
	    "an unknown second word is no command");
	ok(look(1, "show", NULL, NULL) == NULL, "show alone is no command");
	ok(look(1, "nonsense", NULL, NULL) == NULL && look(0, NULL, NULL,
	    NULL) == NULL, "unknown or empty: no command");
	ok((c = look(2, "dkim", "show", NULL)) != NULL &&
	    c->target == PROC_SIGNER && ctl_cmd_args_ok(c, 2) &&
	    ctl_cmd_args_ok(c, 3) && !ctl_cmd_args_ok(c, 4),
	    "dkim show [DOMAIN]: the signer's, an optional domain");
	ok((c = look(2, "dkim", "keygen", NULL)) != NULL &&
	    c->target == CTL_MHCTL, "dkim keygen runs in mhctl itself");
	/* NAME and the domains an "api keys" line takes (webd's bound) */
	ok((c = look(2, "api", "keygen", NULL)) != NULL &&
	    c->target == CTL_MHCTL && ctl_cmd_args_ok(c, 3) &&
	    ctl_cmd_args_ok(c, 3 + APIKEY_DOMAINS_MAX) &&
	    !ctl_cmd_args_ok(c, 4 + APIKEY_DOMAINS_MAX),
	    "api keygen takes NAME and up to %d domains, no more",
	    APIKEY_DOMAINS_MAX);
	ok(keys_line_ok(APIKEY_DOMAINS_MAX) &&
	    !keys_line_ok(APIKEY_DOMAINS_MAX + 1),
	    "an api keys line takes as many domains, no more");
	ok((c = look(2, "log", "verbose", NULL)) != NULL && c->mutating &&
	    c->target == PROC_PARENT, "log verbose: the parent's, root only");
	ok((c = look(2, "debug", "authd", NULL)) != NULL &&
	    c->id == CTL_DEBUG && c->usage == NULL,
	    "debug is in the table, not in the help");

	if ((fp = fmemopen(help, sizeof(help), "w")) == NULL)
		return (1);
	ctl_cmd_usage(fp);
	len = ftell(fp);
	fclose(fp);
	help[len < sizeof(help) ? len : sizeof(help) - 1] = '\0';
	ok(strstr(help, "show message ID") != NULL &&
	    strstr(help, "suppress del ADDRESS [DOMAIN]") != NULL &&
	    strstr(help, "debug") == NULL, "the help comes from the table");
	return (tap_done());
}

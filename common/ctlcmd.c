/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The control commands (ctlcmd.h).
 */
#include <stdio.h>
#include <string.h>

#include "mailhook.h"
#include "apikeys.h"
#include "ctlcmd.h"
#include "sanitize.h"

static const struct ctl_cmd ctl_cmds[] = {
	{ "help", NULL,		CTL_HELP,	CTL_MHCTL, 0,	0, 0, 0,
	    "help                   this list (needs no daemon)" },
	{ "show", "status",	CTL_SHOW_STATUS, PROC_PARENT, 0,	0, 0, 0,
	    "show status|stats|queue|routes|suppressions|hooks|dead|cluster" },
	{ "show", "routes",	CTL_SHOW_ROUTES, PROC_PARENT, 0,	0, 0, 0,
	    NULL },
	{ "show", "config",	CTL_SHOW_CONFIG, PROC_PARENT, 0,	0, 0, 0,
	    "show config            the configuration in effect, no secrets" },
	{ "show", "stats",	CTL_SHOW_STATS,	CTL_CHILDREN, 0,	0, 0, 0,
	    NULL },
	{ "show", "metrics",	CTL_SHOW_METRICS, CTL_CHILDREN, 0,	0, 0, 0,
	    "show metrics           the metrics listener's text, from here" },
	{ "show", "queue",	CTL_SHOW_QUEUE,	PROC_RELAYD, PROC_HOOKD, 0, 0,
	    0, NULL },
	{ "show", "suppressions", CTL_SHOW_SUPPRESSIONS, PROC_RELAYD, 0,
	    0, 0, 0, NULL },
	{ "show", "hooks",	CTL_SHOW_HOOKS,	PROC_HOOKD, 0,	0, 0, 0, NULL },
	{ "show", "dead",	CTL_SHOW_DEAD,	PROC_HOOKD, 0,	0, 0, 0, NULL },
	{ "show", "cluster",	CTL_SHOW_CLUSTER, PROC_RELAYD, 0,	0, 0, 0,
	    NULL },
	{ "show", "message",	CTL_SHOW_MESSAGE, PROC_RELAYD, PROC_HOOKD, 0, 1,
	    2,
	    "show message ID [--raw]" },
	{ "schedule", NULL,	CTL_SCHEDULE,	PROC_RELAYD, PROC_HOOKD, 1, 1, 1,
	    "schedule ID|all        remove ID" },
	{ "remove", NULL,	CTL_REMOVE,	PROC_RELAYD, PROC_HOOKD, 1, 1, 1,
	    NULL },
	{ "hold", NULL,		CTL_HOLD,	PROC_RELAYD, PROC_HOOKD, 1, 1, 1,
	    "hold ID|all            release ID|all" },
	{ "release", NULL,	CTL_RELEASE,	PROC_RELAYD, PROC_HOOKD, 1, 1,
	    1, NULL },
	{ "pause", "smtp",	CTL_PAUSE_SMTP,	PROC_SMTPD, 0,	1, 0, 0,
	    "pause|resume smtp|relay|hooks" },
	{ "resume", "smtp",	CTL_RESUME_SMTP, PROC_SMTPD, 0,	1, 0, 0, NULL },
	{ "pause", "relay",	CTL_PAUSE_RELAY, PROC_RELAYD, 0,	1, 0, 0,
	    NULL },
	{ "resume", "relay",	CTL_RESUME_RELAY, PROC_RELAYD, 0,	1, 0, 0,
	    NULL },
	{ "pause", "hooks",	CTL_PAUSE_HOOKS, PROC_HOOKD, 0,	1, 0, 0, NULL },
	{ "resume", "hooks",	CTL_RESUME_HOOKS, PROC_HOOKD, 0,	1, 0, 0,
	    NULL },
	{ "hooks", "retry",	CTL_HOOKS_RETRY, PROC_HOOKD, 0,	1, 1, 1,
	    "hooks retry ENDPOINT   hooks skip ENDPOINT EVENT-ID" },
	{ "hooks", "skip",	CTL_HOOKS_SKIP,	PROC_HOOKD, 0,	1, 2, 2, NULL },
	{ "hooks", "replay",	CTL_HOOKS_REPLAY, PROC_HOOKD, 0,	1, 2, 3,
	    "hooks replay ENDPOINT --since TIME|stop" },
	{ "dead", "replay",	CTL_DEAD_REPLAY, PROC_HOOKD, 0,	1, 1, 1,
	    "dead replay|remove ID|all" },
	{ "dead", "remove",	CTL_DEAD_REMOVE, PROC_HOOKD, 0,	1, 1, 1, NULL },
	{ "suppress", "add",	CTL_SUPPRESS_ADD, PROC_RELAYD, 0,	1, 1, 1,
	    "suppress add ADDRESS   suppress del ADDRESS [DOMAIN]" },
	{ "suppress", "del",	CTL_SUPPRESS_DEL, PROC_RELAYD, 0,	1, 1, 2,
	    NULL },
	{ "reload", NULL,	CTL_RELOAD,	PROC_PARENT, 0,	1, 0, 0,
	    "reload                 log verbose|brief" },
	{ "log", "verbose",	CTL_LOG_VERBOSE, PROC_PARENT, 0,	1, 0, 0,
	    NULL },
	{ "log", "brief",	CTL_LOG_BRIEF,	PROC_PARENT, 0,	1, 0, 0, NULL },
	{ "monitor", NULL,	CTL_MONITOR,	PROC_PARENT, 0,	0, 0, 0,
	    "monitor" },
	{ "dkim", "show",	CTL_DKIM_SHOW,	PROC_SIGNER, 0,	0, 0, 1,
	    "dkim show [DOMAIN]" },
	{ "dkim", "keygen",	CTL_DKIM_KEYGEN, CTL_MHCTL, 0,	1, 2, 4,
	    "dkim keygen DOMAIN SELECTOR [rsa|ed25519] [FILE]" },
	/* NAME and as many domains as an "api keys" line takes */
	{ "api", "keygen",	CTL_API_KEYGEN, CTL_MHCTL, 0,	0, 1,
	    1 + APIKEY_DOMAINS_MAX,
	    "api keygen NAME [DOMAIN...]" },
	/* test trigger of a mailhookd -X, not in the help */
	{ "debug", NULL,	CTL_DEBUG,	PROC_PARENT, 0,	1, 1, 2, NULL },
};

#define NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

const struct ctl_cmd *
ctl_cmd_lookup(size_t argc, const char *const *argv)
{
	size_t	 i;

	if (argc == 0 || argv[0] == NULL)
		return (NULL);
	for (i = 0; i < NCMDS; i++) {
		if (strcmp(ctl_cmds[i].w1, argv[0]) != 0)
			continue;
		if (ctl_cmds[i].w2 == NULL ||
		    (argc > 1 && strcmp(ctl_cmds[i].w2, argv[1]) == 0))
			return (&ctl_cmds[i]);
	}
	return (NULL);
}

size_t
ctl_cmd_skip(const struct ctl_cmd *c)
{
	return (c->w2 != NULL ? 2 : 1);
}

int
ctl_cmd_args_ok(const struct ctl_cmd *c, size_t argc)
{
	size_t	 n;

	if (argc < ctl_cmd_skip(c))
		return (0);
	n = argc - ctl_cmd_skip(c);
	return (n >= (size_t)c->minargs && n <= (size_t)c->maxargs);
}

int
ctl_cmd_replay_ok(size_t argc, const char *w3)
{
	if (w3 == NULL)
		return (0);
	return ((argc == 4 && strcmp(w3, "stop") == 0) ||
	    (argc == 5 && strcmp(w3, "--since") == 0));
}

void
ctl_cmd_usage(FILE *fp)
{
	const char	*line;
	size_t		 i;

	fprintf(fp, "usage: %s\ncommands:\n", CTL_USAGE);
	for (i = 0; (line = ctl_cmd_help_line(i)) != NULL; i++)
		fprintf(fp, "  %s\n", line);
}

/* the n-th line of mhctl help's list of commands; NULL past the last */
const char *
ctl_cmd_help_line(size_t n)
{
	size_t	 i;

	for (i = 0; i < NCMDS; i++)
		if (ctl_cmds[i].usage != NULL && n-- == 0)
			return (ctl_cmds[i].usage);
	return (NULL);
}

/* the arguments a command takes, as its usage line names them */
static const char *
ctl_cmd_args(const struct ctl_cmd *c)
{
	switch (c->id) {
	case CTL_SHOW_MESSAGE:
		return (" ID [--raw]");
	case CTL_SHOW_QUEUE:
		/* the options mhctl takes after these words too */
		return (" [-j] [-t inbound|outbound]");
	case CTL_REMOVE:
		return (" ID");
	case CTL_SCHEDULE:
	case CTL_HOLD:
	case CTL_RELEASE:
	case CTL_DEAD_REPLAY:
	case CTL_DEAD_REMOVE:
		return (" ID|all");
	case CTL_HOOKS_RETRY:
		return (" ENDPOINT");
	case CTL_HOOKS_SKIP:
		return (" ENDPOINT EVENT-ID");
	case CTL_HOOKS_REPLAY:
		return (" ENDPOINT --since TIME|stop");
	case CTL_SUPPRESS_ADD:
		return (" ADDRESS");
	case CTL_SUPPRESS_DEL:
		return (" ADDRESS [DOMAIN]");
	case CTL_DKIM_SHOW:
		return (" [DOMAIN]");
	case CTL_DKIM_KEYGEN:
		return (" DOMAIN SELECTOR [rsa|ed25519] [FILE]");
	case CTL_API_KEYGEN:
		return (" NAME [DOMAIN ...]");
	case CTL_DEBUG:
		return (" PROCESS [exec]");
	default:
		return ("");
	}
}

void
ctl_cmd_usage_one(const struct ctl_cmd *c, FILE *fp)
{
	fprintf(fp, "usage: mhctl %s%s%s%s\n", c->w1, c->w2 ? " " : "",
	    c->w2 ? c->w2 : "", ctl_cmd_args(c));
}

/*
 * The usage lines of every command whose first word is w1, for a second
 * word missing or unknown ("mhctl show", "mhctl pause smpt"); 0 if w1
 * starts no command.  With fp NULL they are only counted.
 */
int
ctl_cmd_usage_word(const char *w1, FILE *fp)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < NCMDS; i++) {
		if (strcmp(ctl_cmds[i].w1, w1) != 0)
			continue;
		if (fp != NULL)
			ctl_cmd_usage_one(&ctl_cmds[i], fp);
		n++;
	}
	return (n);
}

const char *
ctl_no_such(char *buf, size_t len, const char *what, const char *id)
{
	char	 v[80];

	if (id == NULL)
		id = "";
	sanitize_text(v, sizeof(v), id, strlen(id), SAN_LOG);
	snprintf(buf, len, "no such %s: %s", what, v);
	return (buf);
}

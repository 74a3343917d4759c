/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The control commands: one table (ctlcmd.c) for mhctl (its help, the
 * commands it runs itself), the parent (who serves a command, whether
 * only root may run it, how many arguments it takes) and the children
 * (which command they are asked: an id, not words to compare).
 */
#ifndef MH_CTLCMD_H
#define MH_CTLCMD_H

#include <stddef.h>
#include <stdio.h>

/* the longest word of a request the control socket takes, in bytes */
#define CTL_MAX_WORD	512

enum ctl_id {
	CTL_HELP,		/* mhctl's own */
	CTL_DKIM_KEYGEN,
	CTL_API_KEYGEN,
	CTL_SHOW_STATUS,	/* the parent's */
	CTL_SHOW_ROUTES,
	CTL_SHOW_CONFIG,
	CTL_RELOAD,
	CTL_LOG_VERBOSE,
	CTL_LOG_BRIEF,
	CTL_MONITOR,
	CTL_DEBUG,
	CTL_SHOW_STATS,		/* the children's */
	CTL_SHOW_METRICS,
	CTL_SHOW_QUEUE,
	CTL_SHOW_MESSAGE,
	CTL_SHOW_SUPPRESSIONS,
	CTL_SHOW_HOOKS,
	CTL_SHOW_CLUSTER,
	CTL_DKIM_SHOW,
	CTL_SCHEDULE,
	CTL_REMOVE,
	CTL_HOLD,
	CTL_RELEASE,
	CTL_SUPPRESS_ADD,
	CTL_SUPPRESS_DEL,
	CTL_PAUSE_SMTP,
	CTL_RESUME_SMTP,
	CTL_PAUSE_RELAY,
	CTL_RESUME_RELAY,
	CTL_PAUSE_HOOKS,
	CTL_RESUME_HOOKS,
	CTL_SHOW_DEAD,
	CTL_HOOKS_RETRY,
	CTL_HOOKS_SKIP,
	CTL_HOOKS_REPLAY,
	CTL_DEAD_REPLAY,
	CTL_DEAD_REMOVE
};

#define CTL_MHCTL	(-1)		/* target: mhctl runs it itself */
#define CTL_CHILDREN	PROC_MAX	/* target: every child answers */

struct ctl_cmd {
	const char	*w1;
	/* NULL: the second word is an argument */
	const char	*w2;
	enum ctl_id	 id;
	int		 target;	/* PROC_*, CTL_CHILDREN or CTL_MHCTL */
	int		 target2;	/* a second process (its answer merged),
					   or 0 */
	int		 mutating;	/* root only */
	int		 minargs;	/* words after the command's own */
	int		 maxargs;
	const char	*usage;		/* one line of mhctl help */
};

/* the command argv (argc words) asks for; NULL if none */
const struct ctl_cmd *ctl_cmd_lookup(size_t argc, const char *const *argv);
/* the number of words after the command's own is within its limits */
int	 ctl_cmd_args_ok(const struct ctl_cmd *, size_t argc);
/* hooks replay: argc words in all, the fourth one w3 ("--since" with a
 * TIME after it, or "stop" alone) */
int	 ctl_cmd_replay_ok(size_t argc, const char *w3);
/* the arguments after the command's own words: argv + ctl_cmd_skip() */
size_t	 ctl_cmd_skip(const struct ctl_cmd *);
/* "no such WHAT: ID" into buf (len bytes): an error that names the id
   asked for, sanitized and cut short */
const char *ctl_no_such(char *buf, size_t len, const char *what,
	    const char *id);
#define CTL_USAGE	"mhctl [-hjV] [-s socket] [-t inbound|outbound] " \
			"command [argument ...]"
/* mhctl help: every command, one usage line each */
void	 ctl_cmd_usage(FILE *);
/* the n-th of those lines (from 0), NULL past the last */
const char *ctl_cmd_help_line(size_t);
/* the usage line of one command: "usage: mhctl remove ID" */
void	 ctl_cmd_usage_one(const struct ctl_cmd *, FILE *);
/* the usage lines of the commands w1 starts (fp NULL: none); how many */
int	 ctl_cmd_usage_word(const char *w1, FILE *);

#endif /* MH_CTLCMD_H */

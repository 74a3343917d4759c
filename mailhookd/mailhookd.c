/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhookd: the daemon's entry point.  Without -P it is the parent;
 * with -P name it is one of the children the parent re-executed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "mailhookd.h"
#include "sandbox.h"

/* -h: asked for, to stdout and exit 0; else a usage error */
__attribute__((noreturn)) static void
usage(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: mailhookd [-dhnVvX] [-f file] [-N socket]\n");
	exit(asked ? 0 : 1);
}

static const char *
self_path(const char *argv0)
{
	static char	path[PATH_MAX];
	ssize_t		n;

	if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		return (path);
	}
	if (realpath(argv0, path) == NULL)
		err(1, "cannot find my own binary");
	return (path);
}

/*
 * The parent reads its configuration again at each reload, from /
 * (parent_main): a relative -f name is prefixed with the directory it
 * was given in (not resolved: a symbolic link swapped for a reload is
 * followed then, as before).
 */
static const char *
conf_path(const char *file)
{
	static char	path[PATH_MAX];
	char		cwd[PATH_MAX];

	if (file[0] == '/')
		return (file);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		err(1, "getcwd");
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cwd, file) >=
	    sizeof(path))
		errx(1, "%s/%s: path too long", cwd, file);
	return (path);
}

/*
 * The spool's owners, modes and keys, as a start would find them: only
 * the user a start runs as can tell.  Another user's -n (not root) of a
 * spool not its own (root's, _mailhook's: a root start's) says in one
 * line that they were not checked; root's without the user a root start
 * drops to fails, as that start would.  -1 if one is refused.
 */
static int
check_spool(struct config *conf)
{
	struct stat	 st;
	int		 bad = 0;

	if (geteuid() != 0) {
		if (stat(conf->spool, &st) == -1 ? errno != ENOENT :
		    st.st_uid != geteuid()) {
			log_warnx("%s: not this user's (uid %u): its owners, "
			    "modes and keys are not checked; run -n as the "
			    "user a start runs as", conf->spool,
			    (unsigned)geteuid());
			return (0);
		}
	} else if (getpwnam(MH_USER) == NULL) {
		log_warnx("unknown user %s: a start as root refuses to run "
		    "without it; create it (etc/mailhook-setup.sh)", MH_USER);
		return (-1);
	}
	if (spool_setup(conf, 1) == -1)
		bad = 1;
	if (config_spool_keys_check(conf, conf->spool) == -1)
		bad = 1;
	return (bad ? -1 : 0);
}

static int
check_config(const char *file)
{
	struct config	*conf;
	int		 bad;

	if ((conf = config_parse(file)) == NULL)
		return (1);
	/* every error at once: the files, then the addresses */
	bad = config_load_files(conf) == -1;
	if (config_check_listeners(conf) == -1)
		bad = 1;
	if (maildir_check(conf) == -1)
		bad = 1;
	/* what a start refuses: an unsafe spool tree, its keys, the
	 * control socket's directory (the same checks, nothing made) */
	if (check_spool(conf) == -1)
		bad = 1;
	if (control_dir(conf->control, 1) == -1)
		bad = 1;
	if (bad) {
		config_free(conf);
		return (1);
	}
	fprintf(stderr, "configuration OK\n");
	config_free(conf);
	return (0);
}

int
main(int argc, char *argv[])
{
	const char	*child = NULL;
	int		 ch, debug = 0, noaction = 0, verbose = 0, testing = 0;

	parent_opts.conffile = MH_CONF_FILE;
	while ((ch = getopt(argc, argv, "df:hN:nP:VvX")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			parent_opts.conffile = optarg;
			break;
		case 'h':
			usage(1);
		case 'N':
			parent_opts.notify = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'P':
			child = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("mailhookd %s\n", MH_VERSION);
			return (0);
		case 'X':
			testing = 1;
			break;
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);

	log_init(debug || noaction, LOG_MAIL);
	/* before any key is read, in the parent and each child alike */
	sandbox_nodump();
	log_setverbose(verbose);
	config_allow_testing(testing);
	config_check_secrecy(1);
	if (noaction)
		return (check_config(parent_opts.conffile));

	if (child != NULL) {
		switch (proc_byname(child)) {
		case PROC_SMTPD:
			smtpd_main();
		case PROC_AUTHD:
			authd_main();
		case PROC_RELAYD:
			relayd_main();
		case PROC_HOOKD:
			hookd_main();
		case PROC_SIGNER:
			signer_main();
		case PROC_WEBD:
			webd_main();
		default:
			fatalx("unknown process %s", child);
		}
	}
	parent_opts.self = self_path(argv[0]);
	parent_opts.conffile = conf_path(parent_opts.conffile);
	parent_opts.debug = debug;
	parent_opts.verbose = verbose;
	parent_opts.testing = testing;
	parent_main();
}

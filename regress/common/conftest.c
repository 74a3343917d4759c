/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * conftest: parse a mailhook.conf like `mailhookd -n -f FILE` does.
 *
 * usage: conftest [-jlprs] file
 *	-j	print the configuration as JSON on stdout
 *	-p	print it as "mhctl show config" does (config_print)
 *	-s	include secrets in the JSON (CONF_SECRETS)
 *	-l	also load the files (config_load_files) and check that
 *		the listeners' addresses are this host's
 *	-r	round trip: to JSON, back, to JSON again; fail if they differ
 * Errors go to stderr as "conftest: FILE:LINE:COL: message"; exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: conftest [-jlprs] file\n");
	exit(2);
}

static int
roundtrip(const struct config *conf, int flags)
{
	struct config	*c2;
	json_t		*j1, *j2;
	int		 rv = 0;

	j1 = config_to_json(conf, flags);
	if ((c2 = config_from_json(j1)) == NULL) {
		log_warnx("round trip: config_from_json failed");
		json_decref(j1);
		return (-1);
	}
	j2 = config_to_json(c2, flags);
	if (!json_equal(j1, j2)) {
		log_warnx("round trip: JSON differs");
		rv = -1;
	}
	json_decref(j1);
	json_decref(j2);
	config_free(c2);
	return (rv);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	json_t		*j;
	char		*text;
	int		 ch, jflag = 0, lflag = 0, pflag = 0, rflag = 0;
	int		 flags = 0;

	log_init(1, LOG_DAEMON);
	log_procinit("conftest");
	while ((ch = getopt(argc, argv, "jlprs")) != -1) {
		switch (ch) {
		case 'j':
			jflag = 1;
			break;
		case 'l':
			lflag = 1;
			break;
		case 'p':
			pflag = 1;
			break;
		case 'r':
			rflag = 1;
			break;
		case 's':
			flags |= CONF_SECRETS;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();

	if ((conf = config_parse(argv[0])) == NULL)
		return (1);
	if (lflag && (config_load_files(conf) == -1 ||
	    config_check_listeners(conf) == -1)) {
		config_free(conf);
		return (1);
	}
	if (rflag && roundtrip(conf, flags) == -1) {
		config_free(conf);
		return (1);
	}
	if (jflag) {
		j = config_to_json(conf, flags);
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(j);
	}
	if (pflag) {
		if ((text = config_print(conf)) == NULL)
			fatal("config_print");
		fputs(text, stdout);
		free(text);
	}
	config_free(conf);
	return (0);
}

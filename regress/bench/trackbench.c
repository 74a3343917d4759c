/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * trackbench [-o DIR] [-r ROUNDS] FILE...: relayd's tracking step on its
 * own (relayd/track.c), as relayd drives it for mail of a tracked domain:
 * track_prepare() then track_render() for one recipient, for each message
 * file in turn, ROUNDS times (default 1).  Made to be counted by
 * callgrind (instructions do not depend on the machine's load):
 *
 *	valgrind --tool=callgrind --collect-atstart=no \
 *	    --toggle-collect=track_step trackbench -r 2 corpus/m*.eml
 *
 * -o DIR writes each message's copy (of the first round) to DIR/NAME,
 * to compare two builds' copies byte for byte: a token holds the time it
 * was made in, and time() is fixed here for that.  "make trackbench"
 * builds it as obj/trackbench; regress/bench/trackcorpus.py makes a
 * corpus of different newsletters, or of personalised copies of a few.
 */
#include <err.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "config.h"
#include "log.h"
#include "track.h"
#include "trackcopy.h"
#include "conftext.h"

/* one second for every token: copies of two builds compare equal */
time_t
time(time_t *t)
{
	if (t != NULL)
		*t = 1796558400;
	return (1796558400);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) == -1 ||
	    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) == -1)
		err(1, "%s", path);
	if ((buf = malloc(n + 1)) == NULL)
		err(1, NULL);
	if (fread(buf, 1, n, f) != (size_t)n)
		err(1, "%s", path);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return (buf);
}

/* what callgrind counts: the step for one message */
__attribute__((noinline)) char *
track_step(const struct config *, const char *, size_t, size_t *);

__attribute__((noinline)) char *
track_step(const struct config *conf, const char *msg, size_t len,
    size_t *outlen)
{
	return (track_copy(conf, msg, len, outlen));
}

int
main(int argc, char *argv[])
{
	const char	*text = "bounce domain \"bounces.test\"\n"
			    "tracking domain \"sender.test\" {\n"
			    "\turl \"https://t.sender.test\"\n"
			    "\topens yes\n\tclicks yes\n"
			    "\tunsubscribe one-click\n"
			    "\tsecret \"bench-tracking-secret-0123456789\"\n}\n";
	struct config	*conf;
	const char	*outdir = NULL;
	char		**msg, *out, path[4096];
	size_t		*len, outlen;
	FILE		*f;
	int		 ch, rounds = 1, r, i, n;

	while ((ch = getopt(argc, argv, "o:r:")) != -1) {
		switch (ch) {
		case 'o':
			outdir = optarg;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			errx(1, "usage: trackbench [-o dir] [-r rounds] "
			    "file ...");
		}
	}
	argc -= optind;
	argv += optind;
	log_init(0, 0);
	g_mime_init();
	if ((conf = conf_text(text)) == NULL)
		errx(1, "config");
	n = argc;
	if ((msg = calloc(n, sizeof(*msg))) == NULL ||
	    (len = calloc(n, sizeof(*len))) == NULL)
		err(1, NULL);
	for (i = 0; i < n; i++)
		msg[i] = slurp(argv[i], &len[i]);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			if ((out = track_step(conf, msg[i], len[i],
			    &outlen)) == NULL)
				warnx("%s: not tracked", argv[i]);
			if (out != NULL && outdir != NULL && r == 0) {
				snprintf(path, sizeof(path), "%s/%s", outdir,
				    basename(argv[i]));
				if ((f = fopen(path, "wb")) == NULL ||
				    fwrite(out, 1, outlen, f) != outlen ||
				    fclose(f) != 0)
					err(1, "%s", path);
			}
			free(out);
		}
	}
	return (0);
}

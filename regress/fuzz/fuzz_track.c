/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: arbitrary bytes as a submitted message through tracking
 * (relayd/track.c), as relayd drives it for mail of a tracked domain:
 * track_prepare(), then track_render() for one recipient.
 *
 * Invariant checked: a copy made with a kept layout (the message, or
 * the message behind one more header field, after the message itself
 * left its layout) is byte for byte the copy made after a parse, with no
 * layout kept; either both are made or neither.  A token holds the
 * second it was made in: copies made in different seconds are not
 * compared.  So too the message with a few bytes put in the middle of
 * its body, made after the message left its layout (which may give it
 * that layout moved) and after a parse; and the message to a block
 * with opens and clicks off.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "config.h"
#include "conftext.h"
#include "log.h"
#include "track.h"
#include "trackcopy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define EXTRA	"X-Fuzz: a field more\r\n"

static struct config	*conf, *conf_unsub;

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
setup(void)
{
	const char	*text = "bounce domain \"bounces.test\"\n"
			    "tracking domain \"sender.test\" {\n"
			    "\turl \"https://t.sender.test\"\n"
			    "\topens yes\n\tclicks yes\n"
			    "\tunsubscribe one-click\n"
			    "\tsecret \"fuzz-tracking-secret-0123456789\"\n}\n";
	const char	*unsub = "bounce domain \"bounces.test\"\n"
			    "tracking domain \"sender.test\" {\n"
			    "\turl \"https://t.sender.test\"\n"
			    "\topens no\n\tclicks no\n"
			    "\tunsubscribe one-click\n"
			    "\tsecret \"fuzz-tracking-secret-0123456789\"\n}\n";

	log_init(0, 0);
	g_mime_init();
	conf = conf_text(text);
	conf_unsub = conf_text(unsub);
	check(conf != NULL && conf_unsub != NULL);
}

static void
same(const char *a, size_t alen, const char *b, size_t blen, time_t t0)
{
	check((a == NULL) == (b == NULL));
	if (time(NULL) != t0)
		return;
	check(alen == blen && (a == NULL || memcmp(a, b, alen) == 0));
}

/* msg (size bytes) and a copy with "Ann7" in the middle of its body */
static void
personalised(const char *msg, size_t size)
{
	char		*p, *cold, *warm;
	const char	*b;
	size_t		 at, clen, wlen;
	time_t		 t0;

	if ((b = memmem(msg, size, "\r\n\r\n", 4)) == NULL)
		return;
	at = (b + 4 - msg) + (size - (b + 4 - msg)) / 2;
	if ((p = malloc(size + 4)) == NULL)
		return;
	memcpy(p, msg, at);
	memcpy(p + at, "Ann7", 4);
	memcpy(p + at + 4, msg + at, size - at);
	track_forget();
	free(track_copy(conf, msg, size, &clen));
	t0 = time(NULL);
	warm = track_copy(conf, p, size + 4, &wlen);
	track_forget();
	cold = track_copy(conf, p, size + 4, &clen);
	same(cold, clen, warm, wlen, t0);
	free(cold);
	free(warm);
	free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*msg, *cold, *warm;
	size_t	 clen, wlen, n = strlen(EXTRA);
	time_t	 t0;

	if (conf == NULL)
		setup();
	if ((msg = malloc(n + size + 1)) == NULL)
		return (0);
	memcpy(msg, EXTRA, n);
	memcpy(msg + n, data, size);
	msg[n + size] = '\0';

	/* the message, parsed; then again, perhaps with its layout */
	track_forget();
	t0 = time(NULL);
	cold = track_copy(conf, msg + n, size, &clen);
	warm = track_copy(conf, msg + n, size, &wlen);
	same(cold, clen, warm, wlen, t0);
	free(cold);
	free(warm);

	/* one field more: with the layout the message left, then parsed */
	t0 = time(NULL);
	warm = track_copy(conf, msg, n + size, &wlen);
	track_forget();
	cold = track_copy(conf, msg, n + size, &clen);
	same(cold, clen, warm, wlen, t0);
	free(cold);
	free(warm);

	/* a block with opens and clicks off (a tracked copy's pixel and
	 * links made again only): parsed, then with its layout */
	track_forget();
	t0 = time(NULL);
	cold = track_copy(conf_unsub, msg + n, size, &clen);
	warm = track_copy(conf_unsub, msg + n, size, &wlen);
	same(cold, clen, warm, wlen, t0);
	free(cold);
	free(warm);

	/* bytes put in the middle of the body: with the layout the message
	 * left (which may give it that layout moved), then parsed */
	personalised(msg + n, size);
	free(msg);
	return (0);
}

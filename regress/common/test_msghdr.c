/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/msghdr.c: the start of a message file read for its header
 * section (hookd's inbound_headers(), relayd's read_start()), then
 * walked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "envelope.h"
#include "msghdr.h"
#include "sanitize.h"
#include "tap.h"

static const char ewsubj[] = "=?utf-8?Q?a=0D=0Ab?=";
static const char ulsubj[] = "=?utf-8?Q?a=C2=85b=E2=80=A8c=E2=80=A9d=0B=0Ce?=";
static const char l1mid[] = " <caf\xe9@example.com>\r\n";
static const char u8mid[] = " <caf\xc3\xa9@example.com>\r\n";
static const char l1subj[] = " caf\xe9 au lait\r\n";
static const char badew[] = " =?utf-8?q?caf=E9_=FF?=\r\n";
static const char msg[] = "Message-ID: <a@b>\r\nSubject: hi\r\n"
    "\r\nbody\r\n";

struct seen {
	int	 n;
	char	 last[64];
};

static void
field(void *arg, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	struct seen	*s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)nlen, name);
}

static int
utf8_ok(const char *s)
{
	size_t	 n, len = strlen(s);

	for (; len > 0; s += n, len -= n)
		if ((n = utf8_seq((const unsigned char *)s, len)) == 0)
			return (0);
	return (1);
}

int
main(void)
{
	char		 path[] = "/tmp/mh-msghdr.XXXXXX", buf[16], big[256];
	struct seen	 s;
	struct envelope	 env;
	ssize_t		 n;
	int		 fd, dfd;

	if ((fd = mkstemp(path)) == -1 ||
	    write(fd, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1) {
		perror("mkstemp");
		return (2);
	}
	unlink(path);

	/* the descriptor's offset is at the end: read from 0 all the same */
	n = msghdr_read_start(fd, big, sizeof(big));
	is_int(n, sizeof(msg) - 1, "a file shorter than the buffer: all of it");
	ok(n > 0 && memcmp(big, msg, n) == 0, "its bytes, from offset 0");
	memset(&s, 0, sizeof(s));
	msghdr_walk(big, n, field, &s);
	ok(s.n == 2 && strcmp(s.last, "Subject") == 0,
	    "its header section walked: Message-ID, Subject");

	/* an encoded-word's CR LF is a space in the event's subject */
	g_mime_init();
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Subject", 7, ewsubj, strlen(ewsubj));
	is_str(env.subject, "a b", "an encoded CR LF in the subject: a space");
	/* and a Unicode line break (NEL, U+2028, U+2029), VT or FF too */
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Subject", 7, ulsubj, strlen(ulsubj));
	is_str(env.subject, "a b c d e",
	    "NEL, U+2028, U+2029, VT, FF in the subject: one space each run");

	/* a Message-ID in a raw 8-bit charset: UTF-8 all the same, as the
	 * events and the history (JSON) that carry it must be */
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Message-ID", 10, l1mid, strlen(l1mid));
	is_str(env.message_id, "caf?@example.com",
	    "a Latin-1 byte in the Message-ID: '?'");
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Message-ID", 10, u8mid, strlen(u8mid));
	is_str(env.message_id, "caf\xc3\xa9@example.com",
	    "a UTF-8 Message-ID (RFC 6532) as it is");

	/* a Subject in a raw 8-bit charset, or an encoded-word that says
	 * UTF-8 of bytes that are not: UTF-8 all the same (JSON); GMime
	 * reads the former as Latin-1, which the header's copy must keep */
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Subject", 7, l1subj, strlen(l1subj));
	is_str(env.subject, "caf\xc3\xa9 au lait",
	    "a Latin-1 byte in the Subject: read as Latin-1, in UTF-8");
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Subject", 7, badew, strlen(badew));
	ok(env.subject[0] != '\0' && utf8_ok(env.subject),
	    "an encoded-word of bytes that are not UTF-8: UTF-8 (%s)",
	    env.subject);

	n = msghdr_read_start(fd, buf, sizeof(buf));
	is_int(n, sizeof(buf), "a file longer than the buffer: the buffer's "
	    "size, the start");
	ok(memcmp(buf, msg, sizeof(buf)) == 0, "the start's bytes");
	is_int(lseek(fd, 0, SEEK_CUR), sizeof(msg) - 1,
	    "the descriptor's offset untouched");

	n = msghdr_read_start(fd, buf, 0);
	is_int(n, 0, "size 0: nothing");
	close(fd);

	errno = 0;
	/* an encoded-word's CR LF is a space in the event's subject */
	memset(&env, 0, sizeof(env));
	msghdr_envelope(&env, "Subject", 7, ewsubj, strlen(ewsubj));
	is_str(env.subject, "a b", "an encoded CR LF in the subject: a space");

	/* a Date: of any time_t is well-formed (an envelope's "created"
	 * may hold any number the decoder takes) */
	{
		char	 d[64];

		msghdr_date(d, sizeof(d), 1700000000);
		is_str(d, "Tue, 14 Nov 2023 22:13:20 +0000", "msghdr_date");
		msghdr_date(d, sizeof(d), (time_t)LLONG_MAX);
		is_str(d, "Thu, 1 Jan 1970 00:00:00 +0000",
		    "msghdr_date: a time past year 9999 is the epoch");
		msghdr_date(d, sizeof(d), (time_t)67768036191676800LL);
		is_str(d, "Thu, 1 Jan 1970 00:00:00 +0000",
		    "msghdr_date: one past gmtime's years is the epoch");
	}

	/* a field's name, with RFC 5322 4.5.3's blanks before the colon */
	ok(msghdr_name_is("From", 4, "from") &&
	    msghdr_name_is("FROM \t", 6, "from"),
	    "\"From\" and \"FROM \\t\" name a From: field");
	ok(!msghdr_name_is("Fro", 3, "from") &&
	    !msghdr_name_is("From-X", 6, "from") &&
	    !msghdr_name_is(" From", 5, "from") &&
	    !msghdr_name_is("Fromx ", 6, "from"),
	    "\"Fro\", \"From-X\", \" From\" and \"Fromx \" do not");

	/* the From: domain relayd's queue and DKIM signer both take */
	{
		char	 d[256];
		const char *f1 = "\"Doe, J\" <j@Example.COM>, k@other.test";
		const char *f2 = "App <app@b\xc3\xbc" "cher.example";
		const char *f3 = "undisclosed:;";

		ok(msghdr_from_domain(f1, strlen(f1), d, sizeof(d)) == 0 &&
		    strcmp(d, "Example.COM") == 0,
		    "From: the first mailbox's domain, as written");
		ok(msghdr_from_domain(f2, strlen(f2), d, sizeof(d)) == 0 &&
		    strcmp(d, "b\xc3\xbc" "cher.example") == 0,
		    "From: an unclosed '<' closed, a U-label as written");
		ok(msghdr_from_domain(f3, strlen(f3), d, sizeof(d)) == -1 &&
		    d[0] == '\0', "From: an empty group: none");
		ok(msghdr_from_domain(f1, strlen(f1), d, 5) == -1 &&
		    d[0] == '\0', "From: a domain that does not fit: none");
	}

	n = msghdr_read_start(fd, buf, sizeof(buf));
	ok(n == -1 && errno == EBADF, "a closed descriptor: -1, errno set");
	if ((dfd = open("/tmp", O_RDONLY | O_DIRECTORY)) != -1) {
		n = msghdr_read_start(dfd, buf, sizeof(buf));
		ok(n == -1 && errno == EISDIR, "a directory: -1 (EISDIR)");
		close(dfd);
	}
	return (tap_done());
}

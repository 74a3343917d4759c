/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/addrguard.c: which "(" opens a comment that is never closed
 * (nesting, backslashes, a backslash at the very end, quotes not special,
 * a closed comment before an open one), addr_unclose() turning that "("
 * and the ones after it into spaces and nothing else, a megabyte of "("
 * and of "()", and GMime's parser: with addr_guard_parser() the address
 * fields it keeps, of the message and of a message inside it, have no
 * open comment, and closed comments and other fields stay as they came.
 */
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "addrguard.h"
#include "tap.h"

/* the offset of the open comment's "(" in s, -1 if none */
static long
open_at(const char *s)
{
	const char	*p = addr_open_comment(s);

	return (p == NULL ? -1 : (long)(p - s));
}

static void
test_open(void)
{
	is_int(open_at(""), -1, "nothing: no open comment");
	is_int(open_at("a@b.test"), -1, "no comment");
	is_int(open_at("a@b.test (x)"), -1, "a closed comment");
	is_int(open_at("m@[192.0.2.1] (x"), 14, "a domain literal, then an "
	    "open comment: its \"(\"");
	is_int(open_at("(a) b (c (d) e"), 6, "a closed comment, then an open "
	    "one holding a closed one: the open one's \"(\"");
	is_int(open_at("((a)"), 0, "nested, the outer never closed");
	is_int(open_at("(a \\) b"), 0, "a backslash takes the \")\" with it");
	is_int(open_at("(a \\\\) b"), -1, "an escaped backslash does not");
	is_int(open_at("(x\\"), 0, "a backslash at the very end");
	is_int(open_at("\"q(\" <a@b.test>"), 2, "a \"(\" in quotes counts "
	    "(GMime opens no comment there, so this errs to safety)");
	is_int(open_at("a@b.test)"), -1, "a lone \")\" opens nothing");
}

static void
test_unclose(void)
{
	char	 s[] = "m@[192.0.2.1] (x (y) z", t[] = "(a) b (c";
	char	 u[] = "a@b.test (ok)";
	char	*big;
	size_t	 i, n = 1 << 20;

	is_int(addr_unclose(s), 2, "two \"(\" from the open one on");
	is_str(s, "m@[192.0.2.1]  x  y) z", "made spaces, nothing else");
	is_int(open_at(s), -1, "and no comment is open any more");
	is_int(addr_unclose(t), 1, "a closed comment before the open one");
	is_str(t, "(a) b  c", "is left as it was");
	is_int(addr_unclose(u), 0, "a closed comment alone: nothing done");
	is_str(u, "a@b.test (ok)", "and the field is as it was");

	if ((big = malloc(n + 1)) == NULL)
		abort();
	memset(big, '(', n);
	big[n] = '\0';
	is_int(addr_unclose(big), n, "a megabyte of \"(\": every one a space");
	for (i = 0; i < n && big[i] == ' '; i++)
		;
	ok(i == n, "and nothing else in it");
	for (i = 0; i < n; i += 2)
		memcpy(big + i, "()", 2);
	is_int(addr_unclose(big), 0, "half a million closed comments: none "
	    "open");
	free(big);
}

static const char message[] =
    "From: alice@example.org\r\n"
    "To: bob@b.test (a closed one)\r\n"
    "Cc: m@[192.0.2.1] (open\r\n"
    "Subject: (not an address field\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: carol@example.org\r\n"
    "Resent-To: n@[192.0.2.2] (open too\r\n"
    "To: dave@d.test\r\n"
    "\r\n"
    "inner body\r\n";

static void
test_parser(void)
{
	GMimeStream	*st;
	GMimeParser	*parser;
	GMimeMessage	*msg, *inner;
	GMimeObject	*part;
	InternetAddressList	*cc;
	InternetAddress	*a;
	const char	*v;

	g_mime_init();
	st = g_mime_stream_mem_new_with_buffer(message, sizeof(message) - 1);
	parser = g_mime_parser_new_with_stream(st);
	addr_guard_parser(parser);
	msg = g_mime_parser_construct_message(parser, NULL);
	ok(msg != NULL, "the message parses");
	if (msg == NULL)
		return;
	v = g_mime_object_get_header(GMIME_OBJECT(msg), "Cc");
	ok(v != NULL && strchr(v, '(') == NULL && strstr(v, "open") != NULL,
	    "Cc: the open comment's \"(\" is a space (%s)", v ? v : "none");
	v = g_mime_object_get_header(GMIME_OBJECT(msg), "To");
	ok(v != NULL && strstr(v, "(a closed one)") != NULL,
	    "To: the closed comment as it came (%s)", v ? v : "none");
	v = g_mime_object_get_header(GMIME_OBJECT(msg), "Subject");
	ok(v != NULL && strchr(v, '(') != NULL,
	    "Subject (no address field) as it came (%s)", v ? v : "none");
	cc = g_mime_message_get_cc(msg);
	a = internet_address_list_length(cc) > 0 ?
	    internet_address_list_get_address(cc, 0) : NULL;
	is_str(a != NULL && INTERNET_ADDRESS_IS_MAILBOX(a) ?
	    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)) :
	    NULL, "m@[192.0.2.1]", "GMime reads the Cc address");
	part = g_mime_message_get_mime_part(msg);
	inner = GMIME_IS_MESSAGE_PART(part) ? g_mime_message_part_get_message(
	    GMIME_MESSAGE_PART(part)) : NULL;
	ok(inner != NULL, "the inner message parses");
	if (inner != NULL) {
		v = g_mime_object_get_header(GMIME_OBJECT(inner),
		    "Resent-To");
		ok(v != NULL && strchr(v, '(') == NULL,
		    "inner Resent-To: no open comment (%s)", v ? v : "none");
	}
	g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(st);
}

int
main(void)
{
	test_open();
	test_unclose();
	test_parser();
	return (tap_done());
}

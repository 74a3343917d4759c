/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/sanitize.c: one function, a check for each behaviour its flags
 * select and for each place that uses it.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sanitize.h"
#include "tap.h"

static char	 b[32];

static const char *
san(const char *s, size_t len, int flags)
{
	sanitize_text(b, sizeof(b), s, len, flags);
	return (b);
}

#define S(s, f)	san((s), strlen(s), (f))

int
main(void)
{
	const char	*s;

	/* every place: no CR, LF, NUL or control byte gets through */
	is_str(S("a\r\nb\x01" "c\x7f", SAN_LOG), "a??b?c?",
	    "log: control bytes, CR and LF become '?'");
	is_str(S("caf\xc3\xa9\tx", SAN_LOG), "caf\xc3\xa9?x",
	    "log: UTF-8 kept as UTF-8, a tab becomes '?'");
	is_str(S("j\xc3\xb6rg@b\xc3\xbc" "cher.example", SAN_LOG),
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "log: a UTF-8 address");
	is_str(S("a\xc3(b\xff\xfe", SAN_LOG), "a?(b??",
	    "log: invalid UTF-8 bytes become '?'");
	is_str(S("a\xc0\xaf" "b\xed\xa0\x80" "c", SAN_LOG), "a??b???c",
	    "log: overlong forms and surrogates become '?'");
	is_str(S("a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9", SAN_LOG),
	    "a??b???c???", "log: NEL (C1) and U+2028/U+2029 become '?'");
	/* Trojan Source: what reorders a line's display (Bidi_Control) */
	is_str(S("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8f", SAN_LOG),
	    "a???b???c???", "log: RLO, LRI and RLM become '?'");
	is_str(S("\xe2\x80\xaa\xe2\x80\xac\xe2\x81\xa9\xe2\x80\x8e"
	    "\xd8\x9c", SAN_LOG), "??????????????",
	    "log: LRE, PDF, PDI, LRM and ALM too");
	is_str(S("\xe2\x80\xa9\xe2\x80\xad", SAN_LOG), "??????",
	    "log: LRO after U+2029");
	is_str(S("\xe2\x80\x8d\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
	    SAN_LOG), "\xe2\x80\x8d\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
	    "log: their neighbours (ZWJ, NNBSP, U+2065, ISS) are kept");
	is_str(S("a\xe2\x80\xae" "b", SAN_FIELD), "a\xe2\x80\xae" "b",
	    "field: a bidi control is kept (valid UTF-8)");
	is_str(S("\xf0\x9f\x93\xa7", SAN_LOG), "\xf0\x9f\x93\xa7",
	    "log: a four-byte sequence is kept");
	is_str(san("ab\xc3\xa9", 4, SAN_LOG), "ab\xc3\xa9", "log: whole");
	{
		char	 b4[4];

		sanitize_text(b4, sizeof(b4), "ab\xc3\xa9", 4, SAN_LOG);
		is_str(b4, "ab", "log: a sequence that does not fit is cut "
		    "whole");
	}
	is_str(san("a\0b", 3, SAN_LOG), "a", "a NUL ends the text");

	/* SMTP reply: the first line, trimmed, printable ASCII */
	is_str(S("  Mailbox full\r\nX-Injected: yes", SAN_REPLY),
	    "Mailbox full", "reply: the first line only, leading blanks gone");
	is_str(S("\r\n\r\nsecond line", SAN_REPLY), "second line",
	    "reply: leading line breaks skipped");
	is_str(S("caf\xc3\xa9\tbar\x01", SAN_REPLY), "caf?? bar?",
	    "reply: a tab is a space, the rest '?'");
	is_str(S("trailing   ", SAN_REPLY), "trailing",
	    "reply: trailing blanks trimmed");
	s = "0123456789012345678901234567890123456789";
	is_int(sanitize_text(b, sizeof(b), s, strlen(s), SAN_REPLY), 31,
	    "the length is capped by the buffer (and returned)");
	is_int(strlen(b), 31, "and the result is NUL terminated");
	is_int(sanitize_text(b, 11, s, strlen(s), SAN_REPLY), 10,
	    "a smaller buffer caps it more");

	/* header: unfolded, trimmed, controls as spaces, UTF-8 kept */
	is_str(S(" Hello\r\n\tworld \r\n", SAN_HEADER), "Hello world",
	    "header: unfolded and trimmed");
	is_str(S("\r\n x", SAN_HEADER), "x",
	    "header: a fold at the start is trimmed too");
	is_str(S("a\x01" "b", SAN_HEADER), "a b",
	    "header: a control byte becomes a space");
	is_str(S("Gr\xc3\xbc\xc3\x9f" "e", SAN_HEADER), "Gr\xc3\xbc\xc3\x9f" "e",
	    "header: UTF-8 is kept");
	s = "0123456789012345678901234567890\xc3\xa9";	/* cut inside é */
	is_str(S(s, SAN_HEADER), "0123456789012345678901234567890",
	    "header: never cut inside a UTF-8 sequence");

	/* event and suppression fields: controls and breaks as spaces */
	is_str(S("550 no\r\nsuch user", SAN_FIELD), "550 no  such user",
	    "field: CR and LF become spaces (nothing dropped)");
	is_str(S(" x ", SAN_FIELD), " x ", "field: blanks kept");
	is_str(S("\xe2\x9c\x93", SAN_FIELD), "\xe2\x9c\x93",
	    "field: UTF-8 kept");
	/* an event or a history record is JSON: jansson takes no string
	 * that is not UTF-8, and the record was lost */
	is_str(S("450 caf\xe9 \xc3(x\xed\xa0\x80", SAN_FIELD),
	    "450 caf? ?(x???", "field: a byte that is not UTF-8 is '?'");
	is_str(S("caf\xe9 \xff", SAN_HEADER), "caf? ?",
	    "header: a byte that is not UTF-8 is '?'");

	/* a decoded header: a run of breaks is one space, blanks kept */
	is_str(S("a\r\n\r\nb  c\rd\ne", SAN_BREAKSPACE | SAN_8BIT),
	    "a b  c d e", "breakspace: each run of CR and LF is one space");
	is_str(S("a\r\nb\tc", (SAN_HEADER & ~SAN_UNFOLD) | SAN_BREAKSPACE),
	    "a b c", "breakspace in a header: the tab a space too");
	is_str(S("a\xc2\x85" "b\xe2\x80\xa8\xe2\x80\xa9" "c\vd\f\x1e" "e\xc2",
	    SAN_BREAKSPACE | SAN_8BIT), "a b c d e\xc2",
	    "breakspace: NEL, U+2028, U+2029, VT, FF, RS are breaks too");
	is_str(S("x\xe2\x80", SAN_BREAKSPACE | SAN_8BIT), "x\xe2\x80",
	    "breakspace: a sequence cut at the end is not read past");

	/* squeezed: one space for every run of blanks and line breaks */
	is_str(S("  a \t\r\n b\n", SAN_SQUEEZE), "a b",
	    "squeeze: runs of blanks and breaks are one space, trimmed");
	is_str(S("x\xc3\xa9\x7f", SAN_SQUEEZE), "x???",
	    "squeeze: printable ASCII only");

	/* in place, and an empty buffer */
	strlcpy(b, "in\tplace\n", sizeof(b));
	sanitize_text(b, sizeof(b), b, strlen(b), SAN_8BIT);
	is_str(b, "in?place?", "in place: dst may be src");
	b[0] = 'z';
	is_int(sanitize_text(b, 0, "abc", 3, 0), 0,
	    "a zero-sized buffer is left alone");
	ok(b[0] == 'z', "and not written");
	/* an address in a log line's <...>: it ends at the first '>' */
	{
		char	 a[LOG_ADDR_MAX], t[12];

		is_str(log_addr(a, sizeof(a), "\"a b<c>d%\"@x.test"),
		    "\"a%20b%3Cc%3Ed%25\"@x.test",
		    "log_addr: space, <, > and %% written %%XX");
		is_str(log_addr(a, sizeof(a), "\"a\\ b\r\"@x.test"),
		    "\"a\\%20b?\"@x.test", "a quoted-pair kept, a CR as ever");
		is_str(log_addr(a, sizeof(a), "a\xe2\x80\xae" "b@x.test"),
		    "a???b@x.test", "log_addr: a bidi control as ever");
		is_str(log_addr(t, sizeof(t), "\"abcdefgh ij\"@x"),
		    "\"abcdefgh", "an escape is never cut");
	}
	return (tap_done());
}

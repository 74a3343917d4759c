/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/enhanced.c: RFC 3463 enhanced status codes.
 */
#include <stdio.h>
#include <string.h>

#include "enhanced.h"
#include "tap.h"

int
main(void)
{
	ok(enhanced_ok("5.1.1", 5), "5.1.1 for a 5xx reply");
	ok(enhanced_ok("2.0.0", 2) && enhanced_ok("4.7.123", 4),
	    "2.0.0 and 4.7.123");
	ok(enhanced_ok("5.1.1", 0), "any class with 0");
	ok(!enhanced_ok("4.1.1", 5), "the class must be the reply's");
	ok(!enhanced_ok("3.1.1", 0) && !enhanced_ok("6.0.0", 0),
	    "only classes 2, 4 and 5");
	ok(!enhanced_ok("5.1234.1", 5) && !enhanced_ok("5.1.1234", 5),
	    "at most three digits");
	ok(!enhanced_ok("5..1", 5) && !enhanced_ok("5.1.", 5) &&
	    !enhanced_ok("5.1", 5) && !enhanced_ok("", 5),
	    "every part is there");
	ok(!enhanced_ok("5. 1.1", 5) && !enhanced_ok("5.+1.1", 5) &&
	    !enhanced_ok(" 5.1.1", 5), "digits only, no blanks or signs");
	ok(!enhanced_ok("5.1.1 text", 5), "ok: nothing may follow");
	is_int(enhanced_len("5.1.1 User unknown", 0), 5,
	    "len: a code before a space");
	is_int(enhanced_len("4.4.17", 4), 6, "len: a code at the end");
	is_int(enhanced_len("5.1.1x", 0), 0, "len: no code when a letter follows");
	is_int(enhanced_len("User unknown", 0), 0, "len: no code at all");
	{
		char	 a[16] = "5.7.8", b[16] = "", c[16] = "5.7";

		enhanced_set_class(a, '4');
		enhanced_set_class(b, '4');
		enhanced_set_class(c, '4');
		is_str(a, "4.7.8", "set_class: 5.7.8 deferred is 4.7.8");
		ok(b[0] == '\0' && strcmp(c, "5.7") == 0,
		    "set_class: no code, nothing changed");
	}
	/* RFC 5321's text of a 550, sendmail's without an enhanced code */
	is_str(enhanced_reason("5.0.0", "550 Requested action not taken: "
	    "mailbox unavailable"), "Invalid Recipient",
	    "reason: 5.0.0 mailbox unavailable is an invalid recipient");
	is_str(enhanced_reason("", "550 mailbox unavailable"),
	    "Invalid Recipient", "reason: 550 mailbox unavailable, no code");
	is_str(enhanced_reason("5.2.1", "550 5.2.1 mailbox unavailable"),
	    "Mailbox Disabled", "reason: a detailed code wins over the text");
	is_str(enhanced_reason("4.0.0", "450 mailbox unavailable"), "Other",
	    "reason: 450 mailbox unavailable (busy) is no invalid recipient");
	/* a code from a peer: an over-long part is no code (sscanf's %d
	 * took 4294967298 as 2, undefined behaviour, 5.2.2 "Mailbox Full") */
	is_str(enhanced_reason("5.4294967298.4294967298", "550 rejected"),
	    "Other", "reason: an over-long code part is ignored");
	is_str(enhanced_reason("5.2.2 extra", "550 rejected"), "Mailbox Full",
	    "reason: a code followed by text still counts");
	is_str(enhanced_reason("5.7", "550 rejected"), "Other",
	    "reason: a partial code is ignored");
	/* which refusals suppress the recipient */
	ok(enhanced_suppresses("rcpt", "5.1.1") &&
	    enhanced_suppresses("rcpt", "") &&
	    !enhanced_suppresses("rcpt", "5.7.1"),
	    "suppresses: RCPT's 5.1.1 or no code, not its 5.7.1");
	ok(enhanced_suppresses("data", "5.1.1") &&
	    enhanced_suppresses("data", "5.2.1") &&
	    !enhanced_suppresses("data", "5.1.7") &&
	    !enhanced_suppresses("data", "5.7.1"),
	    "suppresses: the data's X.1.x or X.2.1, not the sender's 5.1.7");
	ok(!enhanced_suppresses("data", "5.1.0") &&
	    enhanced_suppresses("rcpt", "5.1.0") &&
	    enhanced_suppresses("", "5.1.0"),
	    "suppresses: 5.1.0 to RCPT or in a DSN, not one to the data");
	ok(!enhanced_suppresses("mail", "5.1.0") &&
	    !enhanced_suppresses("mail", "5.1.1") &&
	    !enhanced_suppresses("mail", "5.2.1") &&
	    !enhanced_suppresses("mail", ""),
	    "suppresses: a refusal of MAIL never (about the sender)");
	return (tap_done());
}

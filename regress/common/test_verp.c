/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP encode/decode.
 */
#include <string.h>

#include "verp.h"
#include "tap.h"

int
main(void)
{
	char	 buf[512], id[MH_MSGID_LEN], rcpt[MH_ADDR_MAX];

	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef",
	    "bob@example.net", "bounces.example.com"), 0, "encode");
	is_str(buf, "mh-0123456789abcdef-bob=example.net@bounces.example.com",
	    "encoded form");
	is_int(verp_decode(buf, "bounces.example.com", id, rcpt, sizeof(rcpt)),
	    0, "decode");
	is_str(id, "0123456789abcdef", "msgid");
	is_str(rcpt, "bob@example.net", "rcpt");

	/* local parts with '-' and '=' survive: parse from the right */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "a-b=c+d@x.example", "b.example"), 0, "encode odd local");
	is_int(verp_decode(buf, "B.Example", id, rcpt, sizeof(rcpt)), 0,
	    "decode odd local, domain case-insensitive");
	is_str(rcpt, "a-b=c+d@x.example", "odd local rcpt");
	is_int(verp_decode("MH-00000000000000FF-u=d.example@b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), 0, "upper-cased by an MTA");
	is_str(id, "00000000000000ff", "msgid lower-cased");

	is_int(verp_encode(buf, 20, "0123456789abcdef", "bob@example.net",
	    "b.example"), -1, "too small buffer");
	is_int(verp_encode(buf, sizeof(buf), "xyz", "bob@example.net",
	    "b.example"), -1, "bad msgid");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef", "bob",
	    "b.example"), -1, "rcpt without domain");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef", "a@b\r\n",
	    "b.example"), -1, "CRLF refused");

	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@other.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "other domain");
	is_int(verp_decode("postmaster@b.example", "b.example", id, rcpt,
	    sizeof(rcpt)), -1, "not verp");
	is_int(verp_decode("mh-0123456789abcdeg-bob=example.net@b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "bad hex");
	is_int(verp_decode("mh-0123456789abcdef-bobexample.net@b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "no '='");
	is_int(verp_decode("mh-0123456789abcdef-=example.net@b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "empty local");
	is_int(verp_decode("mh-0123456789abcdef-bob=@b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "empty domain");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example",
	    "b.example", id, rcpt, 8), -1, "rcpt buffer too small");

	/*
	 * The bounce domain matches exactly (case aside): never as a prefix,
	 * a suffix or a look-alike of the address's domain.
	 */
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example.evil",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "our domain as a prefix of another (b.example.evil)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.exampl",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "a prefix of our domain (b.exampl)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@evilb.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "our domain as a suffix of another (evilb.example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@x.b.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "a subdomain of ours (x.b.example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b-example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "a look-alike (b-example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example.",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "a trailing dot is another string");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@",
	    "b.example", id, rcpt, sizeof(rcpt)), -1, "an empty domain");
	/* the domain is the part after the last '@': one in a quoted local
	 * part does not make the address ours */
	is_int(verp_decode("mh-0123456789abcdef-bob=x@b.example@other.example",
	    "b.example", id, rcpt, sizeof(rcpt)), -1,
	    "our domain before the last '@' is not our domain");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@B.EXAMPLE",
	    "b.example", id, rcpt, sizeof(rcpt)), 0,
	    "the exact domain in capitals is ours");
	return (tap_done());
}

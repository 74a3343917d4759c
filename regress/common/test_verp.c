/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP encode/decode.
 */
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "hex.h"
#include "verp.h"
#include "tap.h"

/* the VERP key: 64 hex digits, as in SPOOL/verp.key */
#define K	"00112233445566778899aabbccddeeff" \
		"00112233445566778899aabbccddeeff"
#define K2	"ffeeddccbbaa99887766554433221100" \
		"ffeeddccbbaa99887766554433221100"

int
main(void)
{
	char	 buf[512], id[MH_MSGID_LEN], rcpt[MH_ADDR_MAX], want[512];
	char	 hex[2 * MH_SHA256_LEN + 1], *p;
	unsigned char md[MH_SHA256_LEN];

	/* the MAC: HMAC-SHA256(K, msgid || lower-cased rcpt), 10 hex digits */
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef",
	    "bob@example.net", "bounces.example.com", K), 0, "encode");
	is_str(buf, "mh-0123456789abcdef-31b5b2a021-bob=example.net"
	    "@bounces.example.com", "encoded form");
	is_int(verp_decode(buf, "bounces.example.com", K, id, rcpt,
	    sizeof(rcpt)), VERP_SIGNED, "decode: the MAC verifies");
	is_str(id, "0123456789abcdef", "msgid");
	is_str(rcpt, "bob@example.net", "rcpt");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef",
	    "Bob@Example.NET", "b.example", K), 0, "encode mixed case");
	is_str(buf, "mh-0123456789abcdef-31b5b2a021-Bob=Example.NET@b.example",
	    "the MAC is over the lower-cased recipient");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef",
	    "bob@example.net", "b.example", NULL), -1, "no key: no VERP");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef",
	    "bob@example.net", "b.example", ""), -1, "empty key: no VERP");

	/* what a forger can send: none of it verifies */
	is_int(verp_decode("mh-0123456789abcdef-31b5b2a021-bob=example.net"
	    "@b.example", "b.example", K2, id, rcpt, sizeof(rcpt)),
	    VERP_BADMAC, "another key: bad MAC");
	is_int(verp_decode("mh-0123456789abcdef-31b5b2a021-bob=example.net"
	    "@b.example", "b.example", NULL, id, rcpt, sizeof(rcpt)),
	    VERP_BADMAC, "no key: bad MAC");
	is_int(verp_decode("mh-0123456789abcdef-31b5b2a021-eve=example.net"
	    "@b.example", "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_BADMAC, "the MAC of another recipient");
	is_str(rcpt, "eve@example.net", "bad MAC: the recipient it names");
	is_int(verp_decode("mh-0123456789abcde0-31b5b2a021-bob=example.net"
	    "@b.example", "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_BADMAC, "the MAC of another message");
	is_int(verp_decode("mh-0123456789abcdef-0000000000-bob=example.net"
	    "@b.example", "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_BADMAC, "a made-up MAC");
	is_int(verp_decode("MH-0123456789ABCDEF-31B5B2A021-BOB=EXAMPLE.NET"
	    "@B.EXAMPLE", "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "upper-cased by an MTA, still verifies");
	is_str(id, "0123456789abcdef", "msgid lower-cased");

	/* local parts with '-' and '=' survive: parse from the right */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "a-b=c+d@x.example", "b.example", K), 0, "encode odd local");
	is_str(buf, "mh-00000000000000ff-8bda238762-a-b=c+d=x.example"
	    "@b.example", "odd local encoded");
	is_int(verp_decode(buf, "B.Example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "decode odd local, domain case-insensitive");
	is_str(rcpt, "a-b=c+d@x.example", "odd local rcpt");

	/* a UTF-8 domain goes as its A-labels, and comes back as U-labels */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "user@B\xc3\xbc" "cher.example", "b.example", K), 0,
	    "encode a UTF-8 domain");
	is_str(buf + 31, "user=xn--bcher-kva.example@b.example",
	    "UTF-8 domain: as its A-labels");
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "UTF-8 domain: verifies");
	is_str(rcpt, "user@b\xc3\xbc" "cher.example", "UTF-8 domain: U-labels");
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "user@xn--bcher-kva.example", "b.example", K), 0,
	    "encode an A-label domain");
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "A-label domain: verifies");
	is_str(rcpt, "user@xn--bcher-kva.example", "A-label domain: as it was");
	/* a domain of ignored code points alone (U+034F) has no A-labels:
	 * it made "o=@b.example", a return path that decodes to no one */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "o@\xcd\x8f", "b.example", K), -1,
	    "encode a domain that IDNA maps to nothing: refused");
	/* nor one with a label of them: "x.example.\xcd\x8f" was mapped
	 * to "x.example.", which encoded and decoded to another domain */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "o@x.example.\xcd\x8f", "b.example", K), -1,
	    "encode a domain with a label IDNA maps to nothing: refused");
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "o@x.\xcd\x8f.example", "b.example", K), -1,
	    "encode a domain with an inner label IDNA maps to nothing: refused");
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "o@\xcd\x8f[b\xc3\xbc.example", "b.example", K), -1,
	    "encode a domain IDNA maps to one that begins with '[': refused");
	/* an A-label that is no U-label's ("xn--esher" decodes to U+2479
	 * U+2481 U+247B, which IDNA maps to "(6)(14)(8)") beside a U-label:
	 * it encoded, and decoded to a recipient that is no address */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "o@xn--esher.\xcd\x8fprg", "b.example", K), -1,
	    "encode a domain with an invalid A-label and a U-label: refused");

	/* the older form, without a MAC (in flight at an upgrade) */
	is_int(verp_decode("MH-00000000000000FF-u=d.example@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), VERP_UNSIGNED,
	    "older form: decoded, unsigned");
	is_str(id, "00000000000000ff", "older form: msgid lower-cased");
	is_str(rcpt, "u@d.example", "older form: rcpt");
	is_int(verp_decode("mh-00000000000000ff-a-b=c+d=x.example@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), VERP_UNSIGNED,
	    "older form, odd local");
	is_str(rcpt, "a-b=c+d@x.example", "older form, odd local: rcpt");

	/*
	 * a quoted local part with specials: the return path's local part
	 * is quoted around it all, a mailbox MAIL FROM takes; the decoded
	 * recipient is the address as the client wrote it
	 */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "\"john doe\"@example.net", "b.example", K), 0,
	    "quoted local part: encoded");
	ok(buf[0] == '"' && strstr(buf, "-john doe=example.net\"@b.example")
	    != NULL && strncmp(buf + 1, "mh-00000000000000ff-", 20) == 0,
	    "quoted local part: the whole local part quoted");
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "quoted local part: verifies");
	is_str(rcpt, "\"john doe\"@example.net", "quoted local part: rcpt");
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "\"a@b\\\"c\"@example.net", "b.example", K), 0,
	    "quoted local part with '@' and a quoted-pair: encoded");
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "quoted local part with '@': verifies");
	is_str(rcpt, "\"a@b\\\"c\"@example.net",
	    "quoted local part with '@': rcpt");

	/*
	 * "john"@d is john@d: its return path is unquoted (an MTA that
	 * quotes only what needs it would send the bounce there) and its
	 * MAC is john@d's; either quoting of the return path verifies
	 */
	is_int(verp_encode(want, sizeof(want), "00000000000000ff",
	    "john@example.net", "b.example", K), 0, "john@: encoded");
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "\"john\"@example.net", "b.example", K), 0,
	    "quotes not needed: encoded");
	/* john@'s but for its MAC, over "john"@d: the two apart */
	ok(strlen(buf) == strlen(want) && strncmp(buf, want, 20) == 0 &&
	    strcmp(buf + 31, want + 31) == 0 && strcmp(buf, want) != 0,
	    "quotes not needed: john@'s return path, another MAC: %s", buf);
	is_int(verp_decode(want, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "john@'s verifies");
	is_str(rcpt, "john@example.net", "john@'s: rcpt john@");
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "quotes not needed: minimally quoted, verifies");
	is_str(rcpt, "\"john\"@example.net",
	    "quotes not needed: rcpt as written, \"john\"@");
	strlcpy(want, buf, sizeof(want));
	snprintf(buf, sizeof(buf), "\"%.*s\"@b.example",
	    (int)(strrchr(want, '@') - want), want);
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "quotes not needed: quoted anyway, verifies");
	is_str(rcpt, "\"john\"@example.net", "quoted anyway: \"john\"@");
	/* one made before: its MAC over "john"@d, its return path quoted */
	mh_hmac_sha256(K, strlen(K), "00000000000000ff", 16,
	    "\"john\"@example.net", 18, md);
	mh_hex(hex, md, sizeof(md));
	snprintf(buf, sizeof(buf), "\"mh-00000000000000ff-%.10s-john="
	    "example.net\"@b.example", hex);
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "an older quoted return path still verifies");
	is_str(rcpt, "\"john\"@example.net", "older quoted: rcpt as written");
	memmove(buf, buf + 1, strlen(buf));
	*strchr(buf, '"') = '\0';
	strlcat(buf, "@b.example", sizeof(buf));
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "an older one, minimally quoted, still verifies");
	/* ".john" needs quotes, its return path's local part does not */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "\".john\"@example.net", "b.example", K), 0,
	    "a leading dot: encoded");
	ok(buf[0] == '"', "a leading dot: quoted: %s", buf);
	memmove(buf, buf + 1, strlen(buf));
	*strchr(buf, '"') = '\0';
	strlcat(buf, "@b.example", sizeof(buf));
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "a leading dot, the MTA's quotes off: verifies");
	is_str(rcpt, "\".john\"@example.net", "a leading dot: rcpt quoted");
	/* a quoted-pair an MTA writes or not: the same recipient */
	is_int(verp_encode(buf, sizeof(buf), "00000000000000ff",
	    "\"john\\ doe\"@example.net", "b.example", K), 0,
	    "an escaped space: encoded");
	ok(strstr(buf, "-john doe=example.net\"@b.example") != NULL,
	    "an escaped space: not escaped in the return path: %s", buf);
	p = strstr(buf, " doe");
	memmove(p + 1, p, strlen(p) + 1);
	*p = '\\';
	is_int(verp_decode(buf, "b.example", K, id, rcpt, sizeof(rcpt)),
	    VERP_SIGNED, "a return path with the space escaped: verifies");
	is_str(rcpt, "\"john doe\"@example.net", "escaped: rcpt minimal");
	is_int(verp_decode("\"mh-00000000000000ff-u=d.example@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), VERP_NONE,
	    "an unclosed quote is no VERP address");

	/* long recipients: no limit but the buffer's, as before */
	{
		char	 lp[80], a[128];

		memset(lp, 'l', 70);
		lp[70] = '\0';
		snprintf(a, sizeof(a), "%s@example.net", lp);
		is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef", a,
		    "b.example", K), 0, "a 70-octet local part is encoded");
		is_int(verp_decode(buf, "b.example", K, id, rcpt,
		    sizeof(rcpt)), VERP_SIGNED, "and verifies");
		is_str(rcpt, a, "long local part rcpt");
	}

	is_int(verp_encode(buf, 20, "0123456789abcdef", "bob@example.net",
	    "b.example", K), -1, "too small buffer");
	is_int(verp_encode(buf, sizeof(buf), "xyz", "bob@example.net",
	    "b.example", K), -1, "bad msgid");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef", "bob",
	    "b.example", K), -1, "rcpt without domain");
	is_int(verp_encode(buf, sizeof(buf), "0123456789abcdef", "a@b\r\n",
	    "b.example", K), -1, "CRLF refused");

	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@other.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "other domain");
	is_int(verp_decode("postmaster@b.example", "b.example", K, id, rcpt,
	    sizeof(rcpt)), -1, "not verp");
	is_int(verp_decode("mh-0123456789abcdeg-bob=example.net@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "bad hex");
	is_int(verp_decode("mh-0123456789abcdef-bobexample.net@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "no '='");
	is_int(verp_decode("mh-0123456789abcdef-=example.net@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "empty local");
	is_int(verp_decode("mh-0123456789abcdef-bob=@b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "empty domain");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example",
	    "b.example", K, id, rcpt, 8), -1, "rcpt buffer too small");

	/*
	 * The bounce domain matches exactly (case aside): never as a prefix,
	 * a suffix or a look-alike of the address's domain.
	 */
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example.evil",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "our domain as a prefix of another (b.example.evil)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.exampl",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "a prefix of our domain (b.exampl)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@evilb.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "our domain as a suffix of another (evilb.example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@x.b.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "a subdomain of ours (x.b.example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b-example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "a look-alike (b-example)");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@b.example.",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "a trailing dot is another string");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1, "an empty domain");
	/* the domain is the part after the last '@': one in a quoted local
	 * part does not make the address ours */
	is_int(verp_decode("mh-0123456789abcdef-bob=x@b.example@other.example",
	    "b.example", K, id, rcpt, sizeof(rcpt)), -1,
	    "our domain before the last '@' is not our domain");
	is_int(verp_decode("mh-0123456789abcdef-bob=example.net@B.EXAMPLE",
	    "b.example", K, id, rcpt, sizeof(rcpt)), VERP_UNSIGNED,
	    "the exact domain in capitals is ours");
	return (tap_done());
}

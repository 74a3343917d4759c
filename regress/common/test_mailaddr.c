/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Mailbox addresses: addr_canon(), the one form of a mailbox that keys
 * a suppression and a VERP's MAC, addr_unquote(), and addr_quoted_end(),
 * the walk of a quoted local part they and smtp_addr_valid() share.
 */
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "mailaddr.h"
#include "tap.h"

static void
canon(const char *in, const char *want, const char *what)
{
	char	 buf[320], again[320];

	is_int(addr_canon(buf, sizeof(buf), in), 0, "%s: fits", what);
	is_str(buf, want, "%s", what);
	/* the canonical form is its own */
	is_int(addr_canon(again, sizeof(again), buf), 0, "%s: again", what);
	is_str(again, buf, "%s: canonical already", what);
	is_int(smtp_addr_valid(buf, 1), ADDR_OK, "%s: a valid mailbox",
	    what);
}

static void
quoted_end(const char *s, size_t want, const char *what)
{
	is_int(addr_quoted_end(s) - s, want, "addr_quoted_end: %s", what);
}

int
main(void)
{
	char	 buf[64];

	/* a Quoted-string that can be a Dot-string is that Dot-string */
	canon("john@example.net", "john@example.net", "unquoted: as it is");
	canon("John.Doe@Example.NET", "John.Doe@Example.NET",
	    "unquoted: case kept");
	canon("\"john\"@example.net", "john@example.net",
	    "quotes not needed: off");
	canon("\"John.Doe\"@example.net", "John.Doe@example.net",
	    "a quoted dot-atom: unquoted, case kept");
	canon("\"j\\ohn\"@example.net", "john@example.net",
	    "a quoted-pair that needs no escape: undone");
	canon("\"a+b=c/d{e}\"@example.net", "a+b=c/d{e}@example.net",
	    "atext but letters: unquoted");
	canon("\"us\xc3\xa9r\"@example.net", "us\xc3\xa9r@example.net",
	    "UTF-8 (SMTPUTF8 atext): unquoted");

	/* one that needs its quotes keeps them, minimally escaped */
	canon("\"john doe\"@example.net", "\"john doe\"@example.net",
	    "a space: quoted");
	canon("\"john\\ doe\"@example.net", "\"john doe\"@example.net",
	    "an escaped space: quoted, no escape");
	canon("\"a\\\"b\"@example.net", "\"a\\\"b\"@example.net",
	    "a quote: escaped");
	canon("\"a\\\\b\"@example.net", "\"a\\\\b\"@example.net",
	    "a backslash: escaped");
	canon("\".john\"@example.net", "\".john\"@example.net",
	    "a leading dot: quoted");
	canon("\"john.\"@example.net", "\"john.\"@example.net",
	    "a trailing dot: quoted");
	canon("\"jo..hn\"@example.net", "\"jo..hn\"@example.net",
	    "two dots: quoted");
	canon("\"a@b\"@example.net", "\"a@b\"@example.net", "an '@': quoted");
	canon("\"a,b\"@example.net", "\"a,b\"@example.net", "a ',': quoted");
	canon(".john@example.net", "\".john\"@example.net",
	    "unquoted, not a Dot-string: quoted");
	canon("a@b@example.net", "\"a@b\"@example.net",
	    "unquoted '@' but the last: quoted");

	/* what does not fit is -1, never past dst */
	is_int(addr_canon(buf, 8, "\"john doe\"@example.net"), -1,
	    "too long for dst: -1");
	ok(strlen(buf) < 8, "too long: NUL-terminated in dst");
	is_int(addr_canon(buf, 8, "\"john\"@example.net"), -1,
	    "unquoted too long for dst: -1");
	is_int(addr_canon(buf, 2, "\"\"@x"), -1, "dst of 2: -1");
	is_int(addr_canon(buf, sizeof(buf), "\"open@example.net"), 0,
	    "no closing quote: as it is");
	is_str(buf, "\"open@example.net", "no closing quote: copied");
	is_int(addr_canon(buf, sizeof(buf), "\"j\".x\"@example.net"), 0,
	    "a quote, then not the '@': fits");
	is_str(buf, "\"j\".x\"@example.net", "a quote, then not the '@': as is");
	is_int(addr_canon(buf, sizeof(buf), "\"j\"@x\"@example.net"), 0,
	    "a quote, then not the last '@': fits");
	is_str(buf, "\"j\"@x\"@example.net", "not the last '@': as is");
	is_int(addr_canon(buf, sizeof(buf), "postmaster"), 0, "no '@': fits");
	is_str(buf, "postmaster", "no '@': as it is");
	is_int(addr_canon(buf, sizeof(buf), "@example.net"), 0,
	    "no local part: fits");
	is_str(buf, "@example.net", "no local part: as it is");

	quoted_end("\"john doe\"@x", 9, "a closing quote");
	quoted_end("\"a\\\"b\"@x", 5, "an escaped quote closes nothing");
	quoted_end("\"a\\\\\"@x", 4, "an escaped '\\': the quote closes");
	quoted_end("\"open@x", 7, "no closing quote: the NUL");
	quoted_end("\"open\\", 6, "a '\\' last: the NUL after it");
	quoted_end("\"", 1, "a quote alone: the NUL");

	/* the quoted local parts smtp_addr_valid walks the same way */
	is_int(smtp_addr_valid("\"a\\\"b\"@example.net", 0), ADDR_OK,
	    "an escaped quote in a quoted local part");
	is_int(smtp_addr_valid("\"a\"b\"@example.net", 0), ADDR_SYNTAX,
	    "a quote closing early");
	is_int(smtp_addr_valid("\"ab\\\"@example.net", 0), ADDR_SYNTAX,
	    "the closing quote escaped: none");
	is_int(smtp_addr_valid("\"a%b\"@example.net", 0), ADDR_RELAY,
	    "a quoted '%%' in a recipient");
	is_int(smtp_sender_valid("\"a%b\"@example.net", 0), ADDR_OK,
	    "a quoted '%%' in a sender");
	is_int(smtp_addr_valid("\"\"@example.net", 0), ADDR_SYNTAX,
	    "an empty quoted local part");

	addr_unquote(buf, sizeof(buf), "\"john\\ doe\"@example.net");
	is_str(buf, "john doe@example.net", "addr_unquote: quotes off");
	addr_unquote(buf, sizeof(buf), "plain@example.net");
	is_str(buf, "plain@example.net", "addr_unquote: unquoted as it is");

	/* SMTPUTF8: printable characters, not a line separator or a bidi
	 * control, which the address carries into headers, JSON and logs */
	is_int(smtp_addr_valid("j\xc3\xb6rg@example.net", 1), ADDR_OK,
	    "smtp_addr_valid: a UTF-8 local part");
	is_int(smtp_addr_valid("a\xe2\x80\xa8" "b@example.net", 1),
	    ADDR_SYNTAX, "smtp_addr_valid: U+2028 in the local part refused");
	is_int(smtp_addr_valid("a\xe2\x80\xa9" "b@example.net", 1),
	    ADDR_SYNTAX, "smtp_addr_valid: U+2029 in the local part refused");
	is_int(smtp_addr_valid("a\xe2\x80\xae" "b@example.net", 1),
	    ADDR_SYNTAX, "smtp_addr_valid: U+202E (bidi) refused");
	is_int(smtp_addr_valid("\"a\xe2\x80\xa8" "b\"@example.net", 1),
	    ADDR_SYNTAX, "smtp_addr_valid: U+2028 in quotes refused");
	is_int(smtp_addr_valid("a\xc2\x85" "b@example.net", 1), ADDR_SYNTAX,
	    "smtp_addr_valid: NEL (a C1 control) refused");

	/* a UTF-8 domain is one IDNA can make A-labels of: "xn--esher"
	 * decodes to U+2479 U+2481 U+247B, no U-label, and U+034F is
	 * ignored; smtpd took it, verp_encode then refused it */
	is_int(smtp_domain_valid("xn--esher.\xcd\x8fprg", 1), 0,
	    "smtp_domain_valid: an invalid A-label beside a U-label");
	is_int(smtp_domain_valid("\xcd\x8f.example", 1), 0,
	    "smtp_domain_valid: a label IDNA maps to nothing");
	is_int(smtp_domain_valid("b\xc3\xbc" "cher.example", 1), 1,
	    "smtp_domain_valid: a U-label");
	is_int(smtp_domain_valid("xn--bcher-kva.b\xc3\xbc" "cher.example",
	    1), 1, "smtp_domain_valid: a valid A-label beside a U-label");
	is_int(smtp_addr_valid("o@xn--esher.\xcd\x8fprg", 1), ADDR_SYNTAX,
	    "smtp_addr_valid: an invalid A-label beside a U-label");

	/* dns_domain_utf8 of an A-label that is no U-label's: refused, it
	 * made "xn--esher.prg" U+2479 U+2481 U+247B ".prg" */
	is_int(dns_domain_utf8("xn--esher.prg", buf, sizeof(buf)), -1,
	    "dns_domain_utf8: an invalid A-label refused");
	is_int(dns_domain_utf8("xn--bcher-kva.example", buf, sizeof(buf)),
	    0, "dns_domain_utf8: a valid A-label");
	is_str(buf, "b\xc3\xbc" "cher.example", "dns_domain_utf8: its U-label");
	is_int(dns_domain_utf8("XN--Bcher-KVA.example.", buf, sizeof(buf)),
	    0, "dns_domain_utf8: upper case, trailing dot");
	is_str(buf, "b\xc3\xbc" "cher.example",
	    "dns_domain_utf8: upper case, trailing dot: its U-label");

	/* addr_same, and its key: one mailbox, or two */
	is_int(addr_same("bob@X.Example", "bob@x.example"), 1,
	    "addr_same: a domain in any case");
	is_int(addr_same("Bob@x.example", "bob@x.example"), 0,
	    "addr_same: a local part's case kept");
	is_int(addr_same("\"bob\"@x.example", "bob@x.example"), 1,
	    "addr_same: a needless quote");
	is_int(addr_same("POSTMASTER@x.example", "postmaster@X.example"), 1,
	    "addr_same: postmaster in any case");
	is_int(addr_same("postmaster", "Postmaster"), 0,
	    "addr_same: no domain: as it is");
	is_int(addr_same_key(buf, sizeof(buf), "Bob@X.example"), 0,
	    "addr_same_key: made");
	is_str(buf + 1, "Bob@x.example", "addr_same_key: the domain lowered");
	is_int(addr_same_key(buf, 4, "bob@x.example"), -1,
	    "addr_same_key: one that does not fit");
	return (tap_done());
}

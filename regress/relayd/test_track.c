/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The layouts tracking keeps (relayd/track.c): a multipart message equal
 * to a recent one in its MIME fields and its body is not parsed again,
 * and its copies must be, byte for byte, what a parse gives.  Each
 * message below is rendered twice: once after a first message has left
 * its layout behind, once with no layout kept (track_forget).  The
 * counters tell which of them reused a layout.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "config.h"
#include "log.h"
#include "token.h"
#include "track.h"
#include "conftext.h"
#include "trackcopy.h"
#include "tap.h"

#define BOUNDARY	"=_b1"
#define BODY	"--" BOUNDARY "\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n\r\n" \
	"See https://example.org/plain\r\n" \
	"--" BOUNDARY "\r\n" \
	"Content-Type: text/html; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" \
	"<html><body><p>Hi=20there</p><a href=3D\"https://example.org/a\">a</a>\r\n" \
	"<a href=3D\"mailto:x@example.org\">m</a></body></html>\r\n" \
	"--" BOUNDARY "\r\n" \
	"Content-Type: text/html\r\n\r\n" \
	"<p><a href=\"http://example.org/b?q=1\">b</a></p>\r\n" \
	"--" BOUNDARY "--\r\n"
#define MIME	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/alternative; boundary=\"" BOUNDARY "\"\r\n"

/* the first message, then the others: same MIME fields and body */
static const char *same[] = {
	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    "Subject: one\r\n" MIME "\r\n" BODY,
	/* a longer header: the body further on */
	"Received: from app.local by relay\r\n\tfor <a@example.test>\r\n"
	    "From: App <app@sender.test>\r\n"
	    "To: A Long Name <a.long.name@example.test>\r\n"
	    "Subject: two, with a longer subject\r\n" MIME "\r\n" BODY,
	/* the submitter's List-Unsubscribe, replaced by ours */
	"From: <app@sender.test>\r\n"
	    "List-Unsubscribe: <https://app.example/u/1>,\r\n"
	    " <mailto:u@app.example>\r\n"
	    "To: <b@example.test>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	    MIME "\r\n" BODY,
	/* a shorter header */
	"From: <x@sender.test>\r\n" MIME "\r\n" BODY,
};

/* a header line that is no field: never keyed */
static const char *odd = "From: <app@sender.test>\r\na line, no field\r\n"
    "List-Unsubscribe: <https://app.example/u/2>\r\n" MIME "\r\n" BODY;

/* ones that must be parsed: a MIME field or the body differs */
static const char *other[] = {
	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"" BOUNDARY "\"\r\n"
	    "\r\n" BODY,
	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    MIME "Content-Transfer-Encoding: 7bit\r\n\r\n" BODY,
	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    MIME "\r\n" BODY "epilogue\r\n",
	/* one part: its transfer encoding is in the message's header */
	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
	    "<p><a href=\"https://example.org/c\">c</a></p>\r\n",
};

/*
 * Charsets.  A part in UTF-16 is not ASCII: a pixel or a token put in
 * it as ASCII bytes corrupts it, so it goes as it was.  In an 8-bit
 * charset other than UTF-8 a link with 8-bit bytes cannot be read by
 * gumbo (UTF-8 only: they become U+FFFD, and the redirect went to a
 * URL that was never in the mail): it stays as written, untracked.
 */
#define HDR(cs, cte)	"From: <app@sender.test>\r\nTo: <a@example.test>\r\n" \
	"MIME-Version: 1.0\r\nContent-Type: text/html; charset=" cs "\r\n" \
	"Content-Transfer-Encoding: " cte "\r\n\r\n"
/* "<html><body><a href="https://example.org/a">x</a></body></html>\n"
 * in UTF-16 with its BOM, base64 */
#define UTF16_B64 \
	"//48AGgAdABtAGwAPgA8AGIAbwBkAHkAPgA8AGEAIABoAHIAZQBmAD0AIgBo\r\n" \
	"AHQAdABwAHMAOgAvAC8AZQB4AGEAbQBwAGwAZQAuAG8AcgBnAC8AYQAiAD4A\r\n" \
	"eAA8AC8AYQA+ADwALwBiAG8AZAB5AD4APAAvAGgAdABtAGwAPgAKAA==\r\n"

static char	*variant(const char *, const char *, const char *);
static char	*render(const struct config *, const char *, size_t *);

/* the copy's body (after the blank line), or "" */
static const char *
body_of(const char *copy)
{
	const char	*b;

	if (copy == NULL || (b = strstr(copy, "\r\n\r\n")) == NULL)
		return ("");
	return (b + 4);
}

/*
 * A link without a host is not tracked (a click would lead nowhere):
 * "http://" as "http:e.org" and "https:/e.org" are not; a link with one
 * beside them is.
 */
static void
check_no_host(const struct config *conf)
{
	const char	*msg = HDR("utf-8", "8bit")
	    "<a href=\"http://\">1</a><a href=\" HTTPS:// \">2</a>"
	    "<a href=\"http://?q=1\">3</a><a href=\"https://#f\">4</a>"
	    "<a href=\"http://:80/x\">5</a><a href=\"http:e.org\">6</a>"
	    "<a href=\"https:/e.org\">7</a>"
	    "<a href=\"https://e.org\">8</a>\r\n";
	char		*out;
	size_t		 len;

	out = track_copy(conf, msg, strlen(msg), &len);
	ok(out != NULL && strstr(out, "<a href=\"http://\">1</a>"
	    "<a href=\" HTTPS:// \">2</a><a href=\"http://?q=1\">3</a>"
	    "<a href=\"https://#f\">4</a><a href=\"http://:80/x\">5</a>"
	    "<a href=\"http:e.org\">6</a><a href=\"https:/e.org\">7</a>"
	    "<a href=\"https://t.sender.test/c/") != NULL,
	    "links without a host untouched, the one with a host tracked");
	free(out);
}

static void
check_charsets(const struct config *conf)
{
	const char	*u16 = HDR("\"utf-16\"", "base64") UTF16_B64;
	const char	*u16mp = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/html; charset=UTF-16\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n" UTF16_B64
	    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	    "<p><a href=\"https://example.org/u8\">u</a></p>\r\n--b--\r\n";
	const char	*latin = HDR("iso-8859-1", "8bit")
	    "<html><body><a href=\"https://example.org/caf\xe9?q=\xe9t\xe9\">"
	    "l</a> <a href=\"https://example.org/q?x=&#233;\">e</a> "
	    "<a href=\"https://example.org/&#233;\">p</a> "
	    "<a href=\"https://example.org/ascii\">a</a></body></html>\r\n";
	const char	*noset = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
	    "<a href=\"https://example.org/\xe9\">n</a>"
	    "<a href=\"https://example.org/\xc3\xa9\">u</a>\r\n";
	const char	*u8 = HDR("utf-8", "8bit")
	    "<a href=\"https://example.org/caf\xc3\xa9?q=\xc3\xa9\">u</a>\r\n";
	static const char *iso10646[] = {
		"ISO-10646-UCS-2", "iso-10646-ucs-4", "csUCS4",
	};
	static const char *utf8[] = {
		"unicode-1-1-utf-8", "UNICODE11UTF8", "unicode20utf8",
		"x-unicode20utf8", "\"Unicode-1-1-UTF-8\"",
	};
	char		*out, *msg;
	const char	*b;
	size_t		 len, i;

	out = track_copy(conf, u16, strlen(u16), &len);
	ok(out != NULL && strcmp(body_of(out), UTF16_B64) == 0 &&
	    strstr(out, "List-Unsubscribe: <https://t.sender.test/u/") != NULL,
	    "a UTF-16 part goes as it was (no pixel of ASCII bytes in it), "
	    "the headers are added");
	free(out);
	/* the ISO 10646 names of UCS-2 and UCS-4 (IANA), the first a
	 * label of UTF-16LE to browsers (WHATWG Encoding) */
	for (i = 0; i < sizeof(iso10646) / sizeof(iso10646[0]); i++) {
		if ((msg = variant(u16, "\"utf-16\"", iso10646[i])) == NULL)
			continue;
		out = track_copy(conf, msg, strlen(msg), &len);
		ok(out != NULL && strcmp(body_of(out), UTF16_B64) == 0,
		    "a part in %s goes as it was", iso10646[i]);
		free(out);
		free(msg);
	}
	out = track_copy(conf, u16mp, strlen(u16mp), &len);
	ok(out != NULL && strstr(out, UTF16_B64 "--b\r\n") != NULL &&
	    strstr(out, "example.org/u8") == NULL &&
	    strstr(out, "<a href=\"https://t.sender.test/c/") != NULL,
	    "beside a UTF-16 part left as it was, the UTF-8 one is tracked");
	free(out);

	out = track_copy(conf, latin, strlen(latin), &len);
	b = body_of(out);
	ok(strstr(b, "<a href=\"https://example.org/caf\xe9?q=\xe9t\xe9\">")
	    != NULL, "ISO-8859-1: a link with 8-bit bytes stays as written");
	ok(strstr(b, "<a href=\"https://example.org/q?x=&#233;\">") != NULL,
	    "ISO-8859-1: a query with a character beyond ASCII stays as "
	    "written (a browser encodes it in ISO-8859-1)");
	ok(strstr(b, "example.org/&#233;") == NULL &&
	    strstr(b, "example.org/ascii") == NULL &&
	    strstr(b, "https://t.sender.test/o/") != NULL,
	    "ISO-8859-1: the other links tracked, the pixel added");
	free(out);

	out = track_copy(conf, noset, strlen(noset), &len);
	b = body_of(out);
	ok(strstr(b, "<a href=\"https://example.org/\xe9\">") != NULL &&
	    strstr(b, "example.org/\xc3\xa9") == NULL,
	    "no charset: bytes that are not UTF-8 stay as written, UTF-8 "
	    "ones are tracked");
	free(out);
	out = track_copy(conf, u8, strlen(u8), &len);
	ok(out != NULL && strstr(body_of(out), "example.org") == NULL,
	    "UTF-8: a link with 8-bit bytes is tracked");
	free(out);
	/* UTF-8 by its other labels (WHATWG), "unicode..." as they are */
	for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		if ((msg = variant(u8, "utf-8", utf8[i])) == NULL)
			continue;
		out = track_copy(conf, msg, strlen(msg), &len);
		ok(out != NULL && strstr(body_of(out), "example.org") == NULL,
		    "%s is UTF-8: the link with 8-bit bytes tracked", utf8[i]);
		free(out);
		free(msg);
	}
	/* a "unicode" label of UTF-16 (WHATWG: UTF-16BE) still is not */
	if ((msg = variant(u16, "\"utf-16\"", "unicodeFFFE")) != NULL) {
		out = track_copy(conf, msg, strlen(msg), &len);
		ok(out != NULL && strcmp(body_of(out), UTF16_B64) == 0,
		    "a part in unicodeFFFE goes as it was");
		free(out);
		free(msg);
	}
}

/*
 * A part without a charset parameter whose HTML names one (what a
 * browser's prescan reads): a <meta charset> or a <meta http-equiv=
 * "Content-Type" content="...; charset=...">.  UTF-16, UTF-32 or
 * UTF-7 there, or a UTF-16 byte order mark: the part goes as it was;
 * an 8-bit charset: a link with 8-bit bytes stays as written (as with
 * the MIME charset), and so does one whose query has a character
 * beyond ASCII (a browser encodes it in that charset); the others are
 * tracked.  A MIME charset wins.
 */
#define NOCS	"From: <app@sender.test>\r\nMIME-Version: 1.0\r\n" \
	"Content-Type: text/html\r\n\r\n"
#define META_LINKS \
	"<body><a href=\"https://example.org/caf\xe9\">l</a>" \
	"<a href=\"https://example.org/q?x=&#233;\">e</a>" \
	"<a href=\"https://example.org/ascii\">a</a></body></html>\r\n"

static void
check_meta_charset(const struct config *conf)
{
	static const char	*wide[] = {
		"<html><head><meta charset=\"utf-16\">",
		"<html><head><META CHARSET=' UTF-32LE '>",
		"<html><head><meta http-equiv=\"Content-Type\" content="
		    "\"text/html; charset=utf-7\">",
		"<!DOCTYPE html><meta http-equiv=content-type content='text/"
		    "html;charset = \"UTF-16\"'>",
		"\xff\xfe<html><head>",
	};
	static const char	*legacy[] = {
		"<html><head><meta charset=\"iso-8859-1\">",
		"<html><head><title>t</title><meta http-equiv=\"content-type"
		    "\" content=\"text/html; charset=windows-1252\">",
	};
	char			*msg, *out;
	size_t			 len, i;

	for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		if (asprintf(&msg, NOCS "%s" META_LINKS, wide[i]) == -1)
			return;
		out = render(conf, msg, &len);
		ok(out != NULL && strcmp(body_of(out), body_of(msg)) == 0 &&
		    strstr(out, "List-Unsubscribe: <https://t.sender.test/u/")
		    != NULL, "no MIME charset, the HTML's is not ASCII (%zu): "
		    "the part as it was", i);
		free(out);
		free(msg);
	}
	for (i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
		if (asprintf(&msg, NOCS "%s" META_LINKS, legacy[i]) == -1)
			return;
		out = render(conf, msg, &len);
		ok(out != NULL && strstr(body_of(out), "<a href=\"https://"
		    "example.org/caf\xe9\">") != NULL && strstr(out,
		    "<a href=\"https://example.org/q?x=&#233;\">") != NULL &&
		    strstr(out, "example.org/ascii") == NULL &&
		    strstr(out, "https://t.sender.test/o/") != NULL,
		    "no MIME charset, the HTML's an 8-bit one (%zu): its links "
		    "with 8-bit bytes or a query beyond ASCII as written, the "
		    "other tracked", i);
		free(out);
		free(msg);
	}
	/* utf-8 in the meta: the 8-bit link is UTF-8, tracked; a MIME
	 * charset is not overridden by the meta */
	if (asprintf(&msg, NOCS "<meta charset=utf-8><a href=\"https://"
	    "example.org/\xc3\xa9\">u</a>\r\n") == -1)
		return;
	out = render(conf, msg, &len);
	ok(out != NULL && strstr(out, "example.org") == NULL,
	    "a meta naming UTF-8: tracked as UTF-8");
	free(out);
	free(msg);
	if (asprintf(&msg, HDR("utf-8", "8bit") "%s" META_LINKS,
	    wide[0]) == -1)
		return;
	out = render(conf, msg, &len);
	ok(out != NULL && strstr(out, "example.org/ascii") == NULL,
	    "a MIME charset wins over the HTML's");
	free(out);
	free(msg);
}

/*
 * A multipart/signed (S/MIME, PGP/MIME) part: what its signature covers
 * goes as submitted; an HTML part beside it is tracked.
 */
#define SIGNED \
	"Content-Type: multipart/signed; micalg=sha-256;\r\n" \
	" protocol=\"application/pkcs7-signature\"; boundary=\"s\"\r\n\r\n" \
	"--s\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n" \
	"--a\r\nContent-Type: text/plain\r\n\r\nhi\r\n" \
	"--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" \
	"<html><body><a href=\"https://example.org/signed\">s</a>" \
	"</body></html>\r\n--a--\r\n\r\n" \
	"--s\r\nContent-Type: application/pkcs7-signature; " \
	"name=\"smime.p7s\"\r\n" \
	"Content-Transfer-Encoding: base64\r\n\r\n" \
	"MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0B\r\n" \
	"--s--\r\n"

/*
 * Links in a conditional comment: no "--" in the comment once they are
 * tracked (it would end the comment to older parsers and to Outlook),
 * and each token still verifies.  "--" is in about one token in a
 * hundred as base64url (never from ASCII text: from the binary fields
 * and the MAC), so 600 links make one with it all but certain.
 */
#define COMMENT_LINKS	600

static void
check_comment(const struct config *conf)
{
	struct token_keys	 ks;
	struct token_key	 k;
	struct token		 t;
	char			*msg = NULL, *out, *c, *e, *p, *q;
	size_t			 len, mlen = 0, i, toks = 0, good = 0, dots = 0;
	FILE			*f;

	memset(&ks, 0, sizeof(ks));
	if (token_key_from_secret(&k, "tracking-test-secret-0123456789") ==
	    -1 || token_keys_add(&ks, &k) == -1) {
		ok(0, "the tracking key");
		return;
	}
	if ((f = open_memstream(&msg, &mlen)) == NULL)
		return;
	fputs("From: <app@sender.test>\r\nTo: <a@example.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8"
	    "\r\n\r\n<html><body><a href=\"https://example.org/out\">o</a>"
	    "\r\n<!--[if mso]>\r\n", f);
	for (i = 0; i < COMMENT_LINKS; i++)
		fprintf(f, "<a href=\"https://example.org/%zu\">%zu</a>\r\n",
		    i, i);
	fputs("<![endif]--></body></html>\r\n", f);
	fclose(f);
	out = track_copy(conf, msg, mlen, &len);
	free(msg);
	c = out != NULL ? strstr(out, "<!--[if mso]>") : NULL;
	e = c != NULL ? strstr(c, "<![endif]-->") : NULL;
	ok(c != NULL && e != NULL, "a conditional comment in the copy");
	if (e == NULL) {
		free(out);
		return;
	}
	*e = '\0';
	ok(strstr(c + 4, "--") == NULL, "no \"--\" inside the conditional "
	    "comment once its %d links are tracked", COMMENT_LINKS);
	for (p = c; (p = strstr(p, "/c/")) != NULL; p = q) {
		p += 3;
		q = p + strcspn(p, "\"");
		if (*q == '\0')
			break;
		*q++ = '\0';
		toks++;
		dots += strchr(p, '.') != NULL;
		if (token_decode(p, &ks, &t) == 0 && t.kind == TOKEN_CLICK &&
		    t.link == toks && strcmp(t.url, "https://example.org/") > 0)
			good++;
	}
	is_int(toks, COMMENT_LINKS, "every link in the comment tracked");
	is_int(good, COMMENT_LINKS, "every token there verifies, its link "
	    "in order");
	ok(dots > 0, "a '.' for a '-' in %zu of them", dots);
	p = strstr(out, "/c/");
	ok(p != NULL && p < c && memchr(p, '.', strcspn(p, "\"")) == NULL,
	    "the link outside the comment: a plain token");
	free(out);
}

/*
 * An SMTPUTF8 recipient (RFC 6531: jos\xc3\xa9@example.test) gets its
 * tokens like any other: its pixel, its links and List-Unsubscribe in
 * place of the submitter's.  No token took a recipient that was not
 * ASCII: its copy went without the three, and without any
 * List-Unsubscribe at all.
 */
#define LU	"List-Unsubscribe: <https://t.sender.test/u/"
static void
check_utf8_rcpt(const struct config *conf)
{
	static const char	*rcpt = "jos\xc3\xa9@example.test";
	struct track_msg	*m;
	struct token_keys	 ks;
	struct token_key	 k;
	struct token		 t;
	char			*out = NULL, tok[TOKEN_STR_MAX];
	const char		*u;
	size_t			 len = 0;

	memset(&ks, 0, sizeof(ks));
	if (track_key(TAILQ_FIRST(&conf->trackings), &k, 0) == -1 ||
	    token_keys_add(&ks, &k) == -1)
		return;
	track_forget();
	if ((m = track_prepare(conf, "0123456789abcdef", "sender.test",
	    same[2], strlen(same[2]))) != NULL) {
		out = track_render(m, rcpt, &len);
		track_free(m);
	}
	u = out != NULL ? strstr(out, LU) : NULL;
	ok(u != NULL && strstr(out, "app.example") == NULL,
	    "UTF-8 recipient: our List-Unsubscribe, the submitter's gone");
	if (u != NULL)
		strlcpy(tok, u + strlen(LU), strcspn(u + strlen(LU), ">") +
		    1);
	ok(u != NULL && token_decode(tok, &ks, &t) == 0 &&
	    strcmp(t.recipient, rcpt) == 0, "UTF-8 recipient: its "
	    "unsubscribe token names it");
	ok(out != NULL && strstr(out, "https://t.sender.test/o/") != NULL &&
	    strstr(out, "https://t.sender.test/c/") != NULL,
	    "UTF-8 recipient: its pixel and links tracked");
	free(out);
	token_keys_clear(&ks);
}

/*
 * A message that is a header section without a blank line (RFC 5322
 * 3.5: the body is optional) was "not tracked (no header section)": it
 * went without List-Unsubscribe.  Ours now goes at its end, in place of
 * the submitter's; a message whose first line is no field is still not
 * tracked.
 */
static void
check_header_only(const struct config *conf)
{
	static const char	*hdr = "From: <app@sender.test>\r\n"
	    "To: <rcpt@example.test>\r\nSubject: no body\r\n";
	static const char	*nofield = "no field here\r\n";
	char			*msg = NULL, *out;
	size_t			 len;
	const char		*lu;

	if (asprintf(&msg, "%sList-Unsubscribe: <https://app.example/u>\r\n",
	    hdr) == -1)
		return;
	out = render(conf, msg, &len);
	lu = out != NULL ? strstr(out, "\r\nList-Unsubscribe: <https://t."
	    "sender.test/u/") : NULL;
	ok(lu != NULL && strncmp(out, hdr, strlen(hdr)) == 0 &&
	    strstr(out, "app.example") == NULL && len > 51 &&
	    strcmp(out + len - 51, "List-Unsubscribe-Post: "
	    "List-Unsubscribe=One-Click\r\n") == 0 &&
	    strstr(out, "\r\n\r\n") == NULL, "a header section without a "
	    "body: our List-Unsubscribe at its end, the submitter's gone");
	free(out);
	free(msg);
	out = render(conf, nofield, &len);
	ok(out == NULL, "a message whose first line is no field: not tracked");
	free(out);
}

/*
 * A click token's link index is the link's in the message (token.h):
 * the first link of a second HTML part is not link 0 again.
 */
static void
check_link_index(const struct config *conf)
{
	static const char	*msg = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
	    "--m\r\nContent-Type: text/html\r\n\r\n"
	    "<a href=\"https://example.org/1\">1</a> "
	    "<a href=\"https://example.org/2\">2</a>\r\n"
	    "--m\r\nContent-Type: text/html\r\n\r\n"
	    "<a href=\"https://example.org/3\">3</a>\r\n--m--\r\n";
	struct token_keys	 ks;
	struct token_key	 k;
	struct token		 t;
	char			*out, tok[TOKEN_STR_MAX], got[64];
	const char		*p;
	size_t			 len, n = 0;

	memset(&ks, 0, sizeof(ks));
	if (track_key(TAILQ_FIRST(&conf->trackings), &k, 0) == -1 ||
	    token_keys_add(&ks, &k) == -1)
		return;
	got[0] = '\0';
	out = render(conf, msg, &len);
	for (p = out; p != NULL && (p = strstr(p, "/c/")) != NULL; p += 3) {
		strlcpy(tok, p + 3, strcspn(p + 3, "\"") + 1);
		if (token_decode(tok, &ks, &t) == 0)
			n += snprintf(got + n, sizeof(got) - n, "%s%u",
			    n > 0 ? "," : "", t.link);
		if (n >= sizeof(got))
			break;
	}
	is_str(got, "0,1,2", "link indexes across two HTML parts");
	free(out);
	token_keys_clear(&ks);
}

/* the mailto unsubscribe address: its MAC, in either case, and no other */
static void
check_mailto(const struct config *conf)
{
	struct token_key	 k;
	char			 mac[TRACK_MAC_HEX + 1], local[128], dom[256];
	char			 addr[256];
	size_t			 i;
	static const char	*batv[] = {
		"prvs=1234abcdef=ann@example.org",
		"PRVS=0123abc=ann@example.org",
		"msprvs1=19876abcdef=ann@example.org",
		"ann=prvs=1234abcdef@example.org",
	}, *notours[] = {
		"prvs=1234abcdef=bob@example.org",
		"prvs==ann@example.org",
		"prvs=12-34=ann@example.org",
		"bob=prvs=1234abcdef@example.org",
		"ann=prvs=@example.org",
		"=prvs=1234abcdef@example.org",
		"xprvs=1234abcdef=ann@example.org",
	};

	ok(track_key(TAILQ_FIRST(&conf->trackings), &k, 0) == 0,
	    "mailto: the block's key");
	track_mailto_mac(&k, "ann@example.org", "sender.test", mac);
	snprintf(local, sizeof(local), "%s%s", TRACK_MAILTO_PREFIX, mac);
	dom[0] = '\0';
	ok(track_mailto_check(conf, local, "ann@example.org", addr,
	    sizeof(addr), dom, sizeof(dom)) == 1 && strcmp(dom, "sender.test") == 0,
	    "mailto: its own MAC names the tracked domain");
	ok(track_mailto_check(conf, local, "ANN@Example.ORG", addr,
	    sizeof(addr), dom, sizeof(dom)) == 1, "mailto: the sender in another case");
	for (i = 0; local[i] != '\0'; i++)
		local[i] = toupper((unsigned char)local[i]);
	ok(track_mailto_check(conf, local, "ann@example.org", addr,
	    sizeof(addr), dom, sizeof(dom)) == 1, "mailto: the address upper-cased on the way");
	ok(track_mailto_check(conf, local, "bob@example.org", addr,
	    sizeof(addr), dom, sizeof(dom)) == -1, "mailto: another sender's mail: wrong MAC");
	local[strlen(local) - 1] = local[strlen(local) - 1] == '0' ? '1' : '0';
	ok(track_mailto_check(conf, local, "ann@example.org", addr,
	    sizeof(addr), dom, sizeof(dom)) == -1, "mailto: one digit changed: wrong MAC");
	ok(track_mailto_check(conf, "someone", "ann@example.org", addr,
	    sizeof(addr), dom, sizeof(dom)) == 0, "mailto: another address: not one");
	/* a BATV-signed sender is the same mailbox, unsubscribed as such */
	snprintf(local, sizeof(local), "%s%s", TRACK_MAILTO_PREFIX, mac);
	for (i = 0; i < sizeof(batv) / sizeof(batv[0]); i++) {
		addr[0] = '\0';
		ok(track_mailto_check(conf, local, batv[i], addr, sizeof(addr),
		    dom, sizeof(dom)) == 1 &&
		    strcasecmp(addr, "ann@example.org") == 0,
		    "mailto: BATV sender %s: ann@example.org", batv[i]);
	}
	for (i = 0; i < sizeof(notours) / sizeof(notours[0]); i++)
		ok(track_mailto_check(conf, local, notours[i], addr,
		    sizeof(addr), dom, sizeof(dom)) == -1,
		    "mailto: sender %s: wrong MAC", notours[i]);
	ok(track_mailto_check(conf, local,
	    "SRS0=HHH=TT=example.org=ann@fwd.example.net", addr, sizeof(addr),
	    dom, sizeof(dom)) == -2, "mailto: an SRS sender: -2, ignored");
	explicit_bzero(&k, sizeof(k));
}

static void
check_signed(const struct config *conf)
{
	const char	*smime = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\n" SIGNED;
	const char	*mixed = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
	    "--m\r\n" SIGNED "\r\n"
	    "--m\r\nContent-Type: text/html\r\n\r\n"
	    "<p><a href=\"https://example.org/outside\">o</a></p>\r\n"
	    "--m--\r\n";
	char		*out;
	size_t		 len;
	int		 i;

	/* twice: parsed, then from the kept layout */
	for (i = 0; i < 2; i++) {
		out = track_copy(conf, smime, strlen(smime), &len);
		ok(out != NULL && strcmp(body_of(out), strstr(smime,
		    "\r\n\r\n") + 4) == 0 && strstr(out,
		    "List-Unsubscribe: <https://t.sender.test/u/") != NULL,
		    "multipart/signed: the signed content as submitted (%s)",
		    i ? "kept layout" : "parsed");
		free(out);
	}
	out = track_copy(conf, mixed, strlen(mixed), &len);
	ok(out != NULL && strstr(out, "example.org/signed\">s</a>"
	    "</body></html>\r\n--a--") != NULL &&
	    strstr(out, "example.org/outside") == NULL,
	    "beside a multipart/signed, an HTML part is tracked");
	free(out);
}

/*
 * A message the submitter DKIM-signed or ARC-sealed: any byte tracking
 * changes (a link, the pixel, List-Unsubscribe) breaks that signature,
 * so it goes untracked, however the field's name is written.
 * "DKIM-Signature" in the body or in another field's name is no
 * signature.
 */
static void
check_dkim_signed(const struct config *conf)
{
	static const char	*names[] = {
		"DKIM-Signature:", "dkim-signature :", "ARC-Seal:",
		"arc-message-signature:",
	};
	static const char	*hdr = "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/html\r\n";
	static const char	*sig = " v=1; a=rsa-sha256; d=sender.test;"
	    " s=s1;\r\n\th=from:mime-version:content-type; bh=AAAA; b=BBBB\r\n";
	static const char	*body = "\r\n<html><body><a href=\"https://"
	    "example.org/a\">a</a> DKIM-Signature: v=1</body></html>\r\n";
	char			*msg, *out;
	size_t			 len, i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (asprintf(&msg, "%s%s%s%s", hdr, names[i], sig, body) == -1)
			return;
		out = render(conf, msg, &len);
		ok(out == NULL, "a message the submitter signed (%s): not "
		    "tracked", names[i]);
		free(out);
		free(msg);
	}
	if (asprintf(&msg, "%sX-DKIM-Signature-Note: none\r\n%s", hdr, body) ==
	    -1)
		return;
	out = render(conf, msg, &len);
	ok(out != NULL && strstr(out, "example.org/a") == NULL &&
	    strstr(out, "DKIM-Signature: v=1") != NULL, "no DKIM-Signature "
	    "field (the name in the body, in another field's): tracked");
	free(out);
	free(msg);
}

/* msg's copy for rcpt, as track_copy makes rcpt@example.test's */
static char *
copy_for(const struct config *conf, const char *msg, const char *rcpt)
{
	struct track_msg	*m;
	char			*out;
	size_t			 len;

	if ((m = track_prepare(conf, "0123456789abcdef", "sender.test", msg,
	    strlen(msg))) == NULL)
		return (NULL);
	out = track_render(m, rcpt, &len);
	track_free(m);
	return (out);
}

/* s with each token after /o/, /c/ or /u/ made "T" (malloc'd) */
static char *
no_tokens(const char *s)
{
	char	*out, *o;

	if (s == NULL || (out = o = malloc(strlen(s) + 1)) == NULL)
		return (NULL);
	while (*s != '\0') {
		if (s[0] == '/' && strchr("ocu", s[1]) != NULL &&
		    s[1] != '\0' && s[2] == '/') {
			memcpy(o, s, 3);
			o += 3;
			s += 3;
			*o++ = 'T';
			s += strcspn(s, "\">");
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	return (out);
}

/*
 * The tokens of kind path ("/c/"...) after the tracking url in s that
 * verify for rcpt; *n: how many there are
 */
static size_t
tokens_for(const char *s, const char *path, const char *rcpt, size_t *n,
    char urls[][64], size_t nurls)
{
	struct token_keys	 ks;
	struct token_key	 k;
	struct token		 t;
	char			 pre[64], tok[TOKEN_STR_MAX];
	const char		*p;
	size_t			 good = 0, tl;

	*n = 0;
	memset(&ks, 0, sizeof(ks));
	if (s == NULL || token_key_from_secret(&k,
	    "tracking-test-secret-0123456789") == -1 ||
	    token_keys_add(&ks, &k) == -1)
		return (0);
	snprintf(pre, sizeof(pre), "https://t.sender.test%s", path);
	for (p = s; (p = strstr(p, pre)) != NULL; p++) {
		p += strlen(pre);
		if ((tl = strcspn(p, "\">")) >= sizeof(tok))
			continue;
		memcpy(tok, p, tl);
		tok[tl] = '\0';
		if (token_decode(tok, &ks, &t) == 0 &&
		    strcmp(t.recipient, rcpt) == 0) {
			if (good < nurls)
				strlcpy(urls[good], t.url, sizeof(urls[0]));
			good++;
		}
		(*n)++;
	}
	token_keys_clear(&ks);
	return (good);
}

/*
 * A tracked copy submitted again (a forward through this relay, a
 * resubmission): its pixel is dropped and the new recipient gets its
 * own; its links to URL/c/ (a conditional comment's too) are unwrapped
 * to the URL their token holds and wrapped again for the new recipient,
 * and so is a URL/u/ in its HTML; one whose token does not verify is
 * left as written; other links to the tracking host are tracked.  Every
 * other byte is what a copy of the original for that recipient has.
 */
static void
check_ours_again(const struct config *conf)
{
	static const char	*msg = HDR("utf-8", "8bit")
	    "<html><body><a href=\"https://example.org/1\">1</a>"
	    "<a href=\"HTTPS://T.Sender.Test/u/x\">u</a>"
	    "<a href=\"https://t.sender.test/c/AAAA\">c</a>"
	    "<a href=\"https://t.sender.test/cx\">n</a>"
	    "<a href=\"https://t.sender.test/C/y\">m</a>\r\n"
	    "<!--[if mso]><a href=\"https://example.org/2\">2</a>"
	    "<![endif]-->\r\n</body></html>\r\n";
	char			*first, *again, *direct, *n1, *n2, *m2, *u;
	char			 u1[8][64], u2[8][64];
	size_t			 n, good, dn, i, eq = 0;

	first = copy_for(conf, msg, "first@example.test");
	again = first != NULL ? copy_for(conf, first, "second@example.test") :
	    NULL;
	direct = copy_for(conf, msg, "second@example.test");
	good = tokens_for(again, "/o/", "second@example.test", &n, u1, 8);
	ok(n == 1 && good == 1, "a tracked copy submitted again: one pixel, "
	    "the new recipient's (%zu, %zu)", n, good);
	good = tokens_for(again, "/c/", "second@example.test", &n, u1, 8);
	dn = tokens_for(direct, "/c/", "second@example.test", &n, u2, 8);
	for (i = 0; i < good && i < 8 && good == dn; i++)
		eq += strcmp(u1[i], u2[i]) == 0;
	ok(good == 4 && n == 5 && eq == 4, "its tracked links unwrapped "
	    "and tracked for the new recipient, to the same URLs (%zu of "
	    "%zu)", eq, good);
	ok(again != NULL && strstr(again, "\"HTTPS://T.Sender.Test/u/x\"")
	    != NULL && strstr(again, "https://t.sender.test/c/AAAA\"") !=
	    NULL && strstr(again, "t.sender.test/cx") == NULL &&
	    strstr(again, "t.sender.test/C/y") == NULL, "links to URL/u/ and "
	    "URL/c/ whose token does not verify kept, other links to the "
	    "tracking host tracked");
	n1 = no_tokens(again);
	n2 = no_tokens(direct);
	ok(n1 != NULL && n2 != NULL && strcmp(n1, n2) == 0, "the rest as in "
	    "a copy of the original for that recipient");
	free(n1);
	free(n2);
	/* our List-Unsubscribe URL in the HTML: the new recipient's */
	u = first != NULL ? strstr(first, "List-Unsubscribe: <") : NULL;
	m2 = NULL;
	if (u != NULL && asprintf(&m2, HDR("utf-8", "8bit") "<a href=\"%.*s\">"
	    "unsubscribe</a>\r\n", (int)strcspn(u + 19, ">"), u + 19) != -1) {
		free(again);
		again = copy_for(conf, m2, "second@example.test");
		good = tokens_for(body_of(again), "/u/", "second@example.test",
		    &n, u1, 8);
		ok(n == 1 && good == 1, "a URL/u/ in the HTML: the new "
		    "recipient's");
	} else
		ok(0, "the first copy's List-Unsubscribe");
	free(m2);
	free(first);
	free(again);
	free(direct);
}

/*
 * A tracked copy submitted again to a block with opens or clicks off:
 * the first recipient's pixel goes all the same (a client would count
 * its opens for that recipient), a new one only with opens on; with
 * clicks off its URL/c/ links are the URLs their tokens hold, untracked.
 */
static void
check_ours_off(const struct config *conf)
{
	static const char	*msg = HDR("utf-8", "8bit")
	    "<html><body><a href=\"https://example.org/1\">1</a>\r\n"
	    "<a href=\"https://example.org/3?a=1&amp;b=2\">3</a>\r\n"
	    "<!--[if mso]><a href=\"https://example.org/2\">2</a>"
	    "<![endif]-->\r\n</body></html>\r\n";
	struct config		*off;
	char			*first, *again, *text, u[8][64];
	size_t			 n, no, good;
	int			 opens;

	first = copy_for(conf, msg, "first@example.test");
	for (opens = 0; opens < 2; opens++) {
		if (asprintf(&text, "bounce domain \"bounces.test\"\n"
		    "tracking domain \"sender.test\" {\n"
		    "\turl \"https://t.sender.test\"\n\topens %s\n"
		    "\tclicks no\n\tunsubscribe one-click\n"
		    "\tsecret \"tracking-test-secret-0123456789\"\n}\n",
		    opens ? "yes" : "no") == -1)
			return;
		off = conf_text(text);
		free(text);
		track_forget();
		again = off != NULL && first != NULL ?
		    copy_for(off, first, "second@example.test") : NULL;
		good = tokens_for(again, "/o/", "second@example.test", &no, u,
		    8);
		if (opens)
			ok(no == 1 && good == 1, "opens on, clicks off: the "
			    "pixel the new recipient's (%zu, %zu)", no, good);
		else
			ok(again != NULL && no == 0, "opens and clicks off: "
			    "the first recipient's pixel dropped, none added "
			    "(%zu)", no);
		tokens_for(again, "/c/", "first@example.test", &n, u, 8);
		ok(again != NULL && n == 0 && strstr(body_of(again), "<a href="
		    "\"https://example.org/1\">") != NULL &&
		    strstr(body_of(again), "<a href=\"https://example.org/2\">")
		    != NULL && strstr(body_of(again), "<a href=\"https://"
		    "example.org/3?a=1&amp;b=2\">") != NULL, "opens %s, "
		    "clicks off: the copy's tracked links back to their URLs "
		    "(%zu left)", opens ? "on" : "off", n);
		free(again);
		config_free(off);
	}
	track_forget();
	free(first);
}

/* the first URL of ours of kind path ("/o/"...) in s, in url */
static int
first_ours(const char *s, const char *path, char *url, size_t len)
{
	char		 pre[64];
	const char	*p;
	size_t		 n;

	snprintf(pre, sizeof(pre), "https://t.sender.test%s", path);
	if (s == NULL || (p = strstr(s, pre)) == NULL ||
	    (n = strcspn(p, "\">")) >= len)
		return (-1);
	memcpy(url, p, n);
	url[n] = '\0';
	return (0);
}

/* conf with secret sec, rotated from old (NULL: none) */
static struct config *
secret_conf(const char *sec, const struct config *old)
{
	struct config	*c;
	char		*text;

	if (asprintf(&text, "bounce domain \"bounces.test\"\n"
	    "tracking domain \"sender.test\" {\n"
	    "\turl \"https://t.sender.test\"\n\topens yes\n\tclicks yes\n"
	    "\tsecret \"%s\"\n}\n", sec) == -1)
		return (NULL);
	c = conf_text(text);
	free(text);
	if (c != NULL && old != NULL)
		config_tracking_rotate(c, old);
	return (c);
}

/*
 * A tracked copy's tokens after reloads: made again while its key is the
 * block's or the previous one, left as written after two (its pixel
 * dropped all the same).  Its pixel inside a conditional comment, and
 * one and a link written with entities for their slashes, are the new
 * recipient's too.
 */
static void
check_ours_keys(const struct config *conf)
{
	static const char	*msg = HDR("utf-8", "8bit")
	    "<html><body><a href=\"https://example.org/1\">1</a>\r\n"
	    "</body></html>\r\n";
	static const char	*sec[] = {
		"tracking-test-secret-0123456789",
		"tracking-test-secret-1123456789",
		"tracking-test-secret-2123456789",
	};
	struct config		*c[3];
	char			*first, *out, *m2, pix[256], click[256];
	char			 u[8][64], tok[256];
	size_t			 n, good, i;

	memset(c, 0, sizeof(c));
	for (i = 0; i < 3; i++)
		c[i] = secret_conf(sec[i], i > 0 ? c[i - 1] : NULL);
	track_forget();
	first = c[0] != NULL ? copy_for(c[0], msg, "first@example.test") :
	    NULL;
	if (first_ours(first, "/o/", pix, sizeof(pix)) == -1 ||
	    first_ours(first, "/c/", click, sizeof(click)) == -1 ||
	    c[1] == NULL || c[2] == NULL) {
		ok(0, "a tracked copy and three keys");
		goto done;
	}
	out = copy_for(c[1], first, "second@example.test");
	ok(out != NULL && strstr(out, click) == NULL && strstr(out, pix) ==
	    NULL && strstr(out, "example.org") == NULL, "one reload: the "
	    "copy's click and pixel made again (the previous key)");
	free(out);
	out = copy_for(c[2], first, "second@example.test");
	ok(out != NULL && strstr(out, click) != NULL && strstr(out, pix) ==
	    NULL, "two reloads: its click left as written, its pixel "
	    "dropped");
	free(out);
	/* the pixel in a conditional comment; written with entities */
	if (asprintf(&m2, HDR("utf-8", "8bit") "<html><body>"
	    "<!--[if mso]><img src=\"%s\" alt=\"\"><![endif]-->\r\n"
	    "x</body></html>\r\n", pix) == -1)
		goto done;
	track_forget();
	out = copy_for(c[0], m2, "second@example.test");
	free(m2);
	good = tokens_for(out, "/o/", "second@example.test", &n, u, 8);
	ok(n == 1 && good == 1, "a pixel in a conditional comment: one, "
	    "the new recipient's (%zu, %zu)", n, good);
	free(out);
	strlcpy(tok, click + strlen("https://t.sender.test/c/"), sizeof(tok));
	if (asprintf(&m2, HDR("utf-8", "8bit") "<html><body>"
	    "<a href=\"https://t.sender.test&#x2F;c&#47;%s\">1</a>"
	    "<img src=\"https://t.sender.test&#47;o&#47;%s\">\r\n"
	    "</body></html>\r\n", tok, pix + strlen("https://t.sender."
	    "test/o/")) == -1)
		goto done;
	out = copy_for(c[0], m2, "second@example.test");
	free(m2);
	good = tokens_for(out, "/o/", "second@example.test", &n, u, 8);
	i = tokens_for(out, "/c/", "second@example.test", &n, u, 8);
	ok(good == 1 && i == 1 && strcmp(u[0], "https://example.org/1") ==
	    0 && strstr(out, "&#") == NULL, "a pixel and a link written with "
	    "entities: the new recipient's");
	free(out);
 done:
	track_forget();
	free(first);
	for (i = 0; i < 3; i++)
		config_free(c[i]);
}

/* msg's copy, with what was logged meanwhile in *logged (malloc'd) */
static char *
render_logged(const struct config *conf, const char *msg, size_t *len,
    char **logged)
{
	char	*out, path[] = "/tmp/mh-track-log.XXXXXX";
	int	 saved, fd;
	off_t	 n;

	*logged = NULL;
	if ((fd = mkstemp(path)) == -1)
		return (NULL);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	out = render(conf, msg, len);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if ((n = lseek(fd, 0, SEEK_END)) != -1 &&
	    (*logged = calloc(1, n + 1)) != NULL &&
	    pread(fd, *logged, n, 0) != n) {
		free(*logged);
		*logged = NULL;
	}
	close(fd);
	return (out);
}

/*
 * A token's link index is 16 bits: the links past the 65,536th go
 * untracked, and the log says how many, once.
 */
#define LINKS_OVER	3

static void
check_links_over(const struct config *conf)
{
	static const char	*link = "<a href=\"https://e.org/\">x</a>\n";
	char			*msg, *out, *logged, *p;
	size_t			 len, n, i, hl, ll = strlen(link), lines = 0;
	size_t			 kept = 0;

	n = UINT16_MAX + 1 + LINKS_OVER;
	hl = strlen(HDR("utf-8", "8bit"));
	if ((msg = malloc(hl + n * ll + 1)) == NULL)
		return;
	memcpy(msg, HDR("utf-8", "8bit"), hl);
	for (i = 0; i < n; i++)
		memcpy(msg + hl + i * ll, link, ll);
	msg[hl + n * ll] = '\0';
	out = render_logged(conf, msg, &len, &logged);
	for (p = (char *)body_of(out); (p = strstr(p, "<a href=\"https://"
	    "e.org/\">")) != NULL; p++)
		kept++;
	for (p = logged; p != NULL && (p = strstr(p, "links left "
	    "untracked")) != NULL; p++)
		lines++;
	ok(out != NULL && logged != NULL && strstr(logged, "msgid="
	    "0123456789abcdef tracking: 3 links left untracked") != NULL &&
	    lines == 1, "links past 65,536: logged once, with how many");
	is_int(kept, LINKS_OVER, "and they are left as written");
	free(logged);
	free(out);
	free(msg);
}

/*
 * An HTML part over 2 MiB (HTML_REWRITE_MAX) goes as submitted, logged
 * with its size (gumbo's tree would cost relayd's loop about 0.15 s and
 * 18 MB a MB); one of that size is tracked.  The message still gets
 * List-Unsubscribe.
 */
static void
check_html_max(const struct config *conf)
{
	static const char	*link = "<p><a href=\"https://e.org/\">a link "
	    "in a paragraph of its own</a></p>\n";	/* under 65,536 */
	char			*msg, *out, *logged;
	size_t			 hl, ll = strlen(link), len, n, i, size;
	int			 over;

	hl = strlen(HDR("utf-8", "8bit"));
	for (over = 1; over >= 0; over--) {
		size = 2 * 1024 * 1024 + over;
		if ((msg = malloc(hl + size + 1)) == NULL)
			return;
		memcpy(msg, HDR("utf-8", "8bit"), hl);
		n = size / ll;
		for (i = 0; i < n; i++)
			memcpy(msg + hl + i * ll, link, ll);
		memset(msg + hl + n * ll, 'y', size - n * ll);
		msg[hl + size] = '\0';
		out = render_logged(conf, msg, &len, &logged);
		if (over) {
			ok(out != NULL && strcmp(body_of(out), msg + hl) == 0 &&
			    strstr(out, "List-Unsubscribe: <https://t.sender."
			    "test/u/") != NULL, "an HTML part over 2 MiB as "
			    "submitted, List-Unsubscribe added");
			ok(logged != NULL && strstr(logged, "msgid="
			    "0123456789abcdef tracking: an HTML part of "
			    "2097153 bytes goes as submitted (over 2 MiB)") !=
			    NULL, "and logged with its size");
		} else
			ok(out != NULL && strstr(body_of(out), "<a href=\""
			    "https://e.org/\">") == NULL, "one of 2 MiB "
			    "tracked");
		free(logged);
		free(out);
		free(msg);
	}
}

/* HDR for cte, then html of size bytes (links) encoded in cte */
static char *
encoded_msg(const char *cte, GMimeContentEncoding enc, size_t size)
{
	static const char	*link = "<p><a href=\"https://e.org/\">a link "
	    "=in a paragraph of its own</a></p>\n";
	GMimeEncoding		 st;
	char			*html, *msg, hdr[512];
	size_t			 ll = strlen(link), n, i, hl;

	if ((html = malloc(size)) == NULL)
		return (NULL);
	for (i = 0; i + ll <= size; i += ll)
		memcpy(html + i, link, ll);
	memset(html + i, 'y', size - i);
	hl = snprintf(hdr, sizeof(hdr), "From: <app@sender.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	g_mime_encoding_init_encode(&st, enc);
	if ((msg = malloc(hl + g_mime_encoding_outlen(&st, size) +
	    g_mime_encoding_outlen(&st, 0) + 1)) == NULL) {
		free(html);
		return (NULL);
	}
	memcpy(msg, hdr, hl);
	n = g_mime_encoding_step(&st, html, size, msg + hl);
	n += g_mime_encoding_flush(&st, "", 0, msg + hl + n);
	msg[hl + n] = '\0';
	free(html);
	return (msg);
}

/*
 * The bound is on the decoded part: a base64 or quoted-printable HTML
 * part over 2 MiB decoded goes as submitted, logged with that size; one
 * of 2 MiB decoded, larger encoded, is tracked.
 */
static void
check_html_max_encoded(const struct config *conf)
{
	static const struct {
		const char		*cte;
		GMimeContentEncoding	 enc;
	} encs[] = {
		{ "base64", GMIME_CONTENT_ENCODING_BASE64 },
		{ "quoted-printable", GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE },
	};
	char		*msg, *out, *logged;
	size_t		 i, len;

	for (i = 0; i < sizeof(encs) / sizeof(encs[0]); i++) {
		msg = encoded_msg(encs[i].cte, encs[i].enc,
		    2 * 1024 * 1024 + 65536);
		out = render_logged(conf, msg, &len, &logged);
		ok(out != NULL && msg != NULL && strcmp(body_of(out),
		    body_of(msg)) == 0 && logged != NULL && strstr(logged,
		    "tracking: an HTML part of 2162688 bytes goes as "
		    "submitted") != NULL, "%s, over 2 MiB decoded: as "
		    "submitted, logged with its decoded size", encs[i].cte);
		free(logged);
		free(out);
		free(msg);
		msg = encoded_msg(encs[i].cte, encs[i].enc, 2 * 1024 * 1024);
		out = render_logged(conf, msg, &len, &logged);
		ok(out != NULL && msg != NULL && strcmp(body_of(out),
		    body_of(msg)) != 0 && logged != NULL && strstr(logged,
		    "goes as submitted") == NULL, "%s, 2 MiB decoded: tracked",
		    encs[i].cte);
		free(logged);
		free(out);
		free(msg);
	}
}

/*
 * One-click (List-Unsubscribe-Post) only beside an https url (RFC 8058
 * 3.1); an http url keeps List-Unsubscribe, its URI and the mailto.
 */
static void
check_one_click(const struct config *conf)
{
	struct config	*plain;
	char		*out;
	size_t		 len;

	out = track_copy(conf, same[2], strlen(same[2]), &len);
	ok(out != NULL && strstr(out, "\r\nList-Unsubscribe-Post: "
	    "List-Unsubscribe=One-Click\r\n") != NULL,
	    "https url: List-Unsubscribe-Post");
	free(out);
	plain = conf_text("bounce domain \"bounces.test\"\n"
	    "tracking domain \"sender.test\" {\n"
	    "\turl \"http://t.sender.test\"\n\tunsubscribe one-click\n"
	    "\tsecret \"tracking-test-secret-0123456789\"\n}\n");
	ok(plain != NULL, "an http tracking url parses");
	if (plain == NULL)
		return;
	track_forget();
	out = track_copy(plain, same[2], strlen(same[2]), &len);
	ok(out != NULL && strstr(out, "\r\nList-Unsubscribe: "
	    "<http://t.sender.test/u/") != NULL &&
	    strstr(out, ",\r\n <mailto:unsubscribe+") != NULL &&
	    strstr(out, "List-Unsubscribe-Post") == NULL &&
	    strstr(out, "app.example") == NULL,
	    "http url: List-Unsubscribe with both URIs, no "
	    "List-Unsubscribe-Post (the submitter's gone too)");
	free(out);
	track_forget();
	config_free(plain);
}

/* the longest line of s, CR and LF not counted */
static size_t
longest_line(const char *s)
{
	size_t	 n, max = 0;

	for (; *s != '\0'; s += n + (s[n] == '\n')) {
		n = strcspn(s, "\n");
		if (n - (n > 0 && s[n - 1] == '\r') > max)
			max = n - (n > 0 && s[n - 1] == '\r');
	}
	return (max);
}

/* a tracking configuration for domain, its url https://t.test/uuu...
 * of n characters */
static struct config *
long_conf(const char *domain, size_t n)
{
	struct config	*c;
	char		 url[1024], *text;
	size_t		 k;

	k = strlcpy(url, "https://t.test/", sizeof(url));
	if (k >= n || n >= sizeof(url))
		return (NULL);
	memset(url + k, 'u', n - k);
	url[n] = '\0';
	if (asprintf(&text, "bounce domain \"bounces.test\"\n"
	    "tracking domain \"%s\" {\n\turl \"%s\"\n"
	    "\tsecret \"tracking-test-secret-0123456789\"\n}\n", domain,
	    url) == -1)
		return (NULL);
	c = conf_text(text);
	free(text);
	return (c);
}

/*
 * List-Unsubscribe folded between its two URIs (RFC 5322 2.1.1), never
 * inside one: the longest tracking url the configuration takes
 * (TOKEN_TRACK_URL_MAX), the longest recipient and sender domain a token
 * holds make no line over 998 octets; a url one longer is refused (a
 * 600-character one made a first line of over 1000).
 */
static void
check_long_unsub(void)
{
	struct config		*c;
	struct track_msg	*m;
	char			 dom[254], rcpt[256], *out = NULL, *lu;
	size_t			 len = 0, i;

	/* 63.63.63.61: a 253-octet domain, as DNS takes */
	memset(dom, 'd', sizeof(dom) - 1);
	for (i = 63; i < sizeof(dom) - 1; i += 64)
		dom[i] = '.';
	dom[sizeof(dom) - 1] = '\0';
	memset(rcpt, 'r', sizeof(rcpt) - 1);
	memcpy(rcpt + sizeof(rcpt) - 1 - 13, "@example.test", 13);
	rcpt[sizeof(rcpt) - 1] = '\0';
	c = long_conf(dom, TOKEN_TRACK_URL_MAX + 1);
	ok(c == NULL, "a tracking url of %d characters is refused",
	    TOKEN_TRACK_URL_MAX + 1);
	config_free(c);
	c = long_conf(dom, TOKEN_TRACK_URL_MAX);
	ok(c != NULL, "a %d-character tracking url parses",
	    TOKEN_TRACK_URL_MAX);
	if (c == NULL)
		return;
	track_forget();
	if ((m = track_prepare(c, "0123456789abcdef", dom, same[0],
	    strlen(same[0]))) != NULL) {
		out = track_render(m, rcpt, &len);
		track_free(m);
	}
	lu = out != NULL ? strstr(out, "\r\nList-Unsubscribe: <") : NULL;
	ok(lu != NULL && strstr(lu, ">,\r\n <mailto:unsubscribe+") != NULL &&
	    longest_line(out) <= 998, "longest url, recipient and domain: "
	    "List-Unsubscribe folded before the mailto, longest line %zu "
	    "octets",
	    out != NULL ? longest_line(out) : 0);
	free(out);
	track_forget();
	config_free(c);
}

/* msg's copy (a string) */
static char *
render(const struct config *conf, const char *msg, size_t *len)
{
	return (track_copy(conf, msg, strlen(msg), len));
}

/* msg after a message that kept its layout, and after none; reused: 1
 * if the first was to reuse it */
static void
compare(const struct config *conf, const char *first, const char *msg,
    int reused, const char *what)
{
	unsigned long	 p0, r0, p1, r1;
	char		*warm = NULL, *cold = NULL;
	size_t		 wlen = 0, clen = 0, flen;
	time_t		 t0;
	int		 tries = 0;

	/* a token holds the second it was made in: both in the same one */
	do {
		free(warm);
		free(cold);
		track_forget();
		t0 = time(NULL);
		free(render(conf, first, &flen));
		track_counts(&p0, &r0);
		warm = render(conf, msg, &wlen);
		track_counts(&p1, &r1);
		track_forget();
		cold = render(conf, msg, &clen);
	} while (time(NULL) != t0 && ++tries < 5);
	is_int(r1 - r0, reused, "%s: %s", what, reused ? "its layout reused" :
	    "parsed");
	ok(warm != NULL && cold != NULL && wlen == clen &&
	    memcmp(warm, cold, wlen) == 0, "%s: the copy is the one a parse "
	    "gives (%zu and %zu bytes)", what, wlen, clen);
	ok(cold != NULL && strstr(cold, "https://t.sender.test/c/") != NULL,
	    "%s: its links tracked", what);
	free(warm);
	free(cold);
}

/* msg rendered: 1 if it took a kept layout, 0 if it was parsed */
static unsigned long
reuses(const struct config *conf, const char *msg)
{
	unsigned long	 p0, r0, p1, r1;
	size_t		 len;

	track_counts(&p0, &r0);
	free(render(conf, msg, &len));
	track_counts(&p1, &r1);
	return (r1 - r0);
}

/* src with its first from replaced by to (malloc'd) */
static char *
variant(const char *src, const char *from, const char *to)
{
	const char	*at = strstr(src, from);
	char		*out;

	if (at == NULL || asprintf(&out, "%.*s%s%s", (int)(at - src), src,
	    to, at + strlen(from)) == -1)
		return (NULL);
	return (out);
}

/*
 * Copies of same[0] that differ inside parts' contents (a personalised
 * campaign): the kept layout moved, not parsed; and ones that must be
 * parsed: a line of a content that might be a boundary, a new part, a
 * part's header or the epilogue changed.
 */
static void
check_moved(const struct config *conf)
{
	static const char *moved[][2] = {
		{ "Hi=20there", "Hi=20Bob, there and more" },
		{ "Hi=20there", "Hi" },
		{ "See https://example.org/plain", "Dear Ann, see "
		    "https://example.org/plain\r\nand more" },
		{ "b?q=1", "b?q=12345" },
		/* three parts */
		{ "See https://example.org/plain\r\n--" BOUNDARY "\r\n"
		    "Content-Type: text/html; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		    "<html><body><p>Hi=20there</p><a href=3D\"https://example."
		    "org/a\">a</a>\r\n<a href=3D\"mailto:x@example.org\">m</a>"
		    "</body></html>\r\n--" BOUNDARY "\r\n"
		    "Content-Type: text/html\r\n\r\n<p><a href=\"http://"
		    "example.org/b?q=1",
		  "Dear Ann, see https://example.org/plain\r\n--" BOUNDARY
		    "\r\nContent-Type: text/html; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		    "<html><body><p>Hi=20Ann</p><a href=3D\"https://example."
		    "org/a?u=3D7\">a</a>\r\n<a href=3D\"mailto:x@example.org\">"
		    "m</a></body></html>\r\n--" BOUNDARY "\r\n"
		    "Content-Type: text/html\r\n\r\n<p><a href=\"http://"
		    "example.org/b?q=7" },
	}, *parsed[][2] = {
		/* a part's header */
		{ "Content-Type: text/html\r\n\r\n<p>",
		  "Content-Type: text/html; a=b\r\n\r\n<p>" },
		/* a signature line, as a boundary could be: the parts are
		 * not found after it */
		{ "See https://example.org/plain", "See https://example.org/"
		    "plain\r\n-- \r\nAnn" },
		{ "Hi=20there", "Hi\r\n--" BOUNDARY "\r\n\r\nthere" },
		{ "Hi=20there", "Hi\r\n--x" },
		{ "b?q=1\">b</a></p>", "b?q=1\">b</a></p>\r\n--" BOUNDARY
		    "\r\nContent-Type: text/html\r\n\r\n<a href=\"https://"
		    "example.org/new\">n</a>" },
	};
	char		*msg, *first, what[64];
	size_t		 i;

	for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		msg = variant(same[0], moved[i][0], moved[i][1]);
		snprintf(what, sizeof(what), "contents changed %zu", i);
		compare(conf, same[0], msg, 1, what);
		free(msg);
	}
	for (i = 0; i < sizeof(parsed) / sizeof(parsed[0]); i++) {
		msg = variant(same[0], parsed[i][0], parsed[i][1]);
		snprintf(what, sizeof(what), "a change GMime may read %zu", i);
		compare(conf, same[0], msg, 0, what);
		free(msg);
	}
	/* no closing boundary: the last part runs to the end, and more
	 * text at its end is its */
	first = variant(same[0], "--" BOUNDARY "--\r\n", "");
	msg = variant(same[0], "--" BOUNDARY "--\r\n", "<p>more</p>\r\n");
	compare(conf, first, msg, 1, "more at the end of an open last part");
	free(first);
	free(msg);
	/* copy after copy, each moved from the one before */
	track_forget();
	free(render(conf, same[0], &i));
	for (i = 0; i < 6; i++) {
		snprintf(what, sizeof(what), "Hi=20reader%zu", i * 1000);
		msg = variant(same[0], "Hi=20there", what);
		ok(msg != NULL && reuses(conf, msg) == 1,
		    "copy %zu of a campaign: its layout moved", i);
		free(msg);
	}
}

/* same[0] with the epilogue "e<n>": a body of its own */
static char *
epilogue(const struct config *conf, size_t n)
{
	char	*msg, *out;
	size_t	 len;

	if (asprintf(&msg, "%se%zu\r\n", same[0], n) == -1)
		return (NULL);
	out = render(conf, msg, &len);
	free(msg);
	return (out);
}

int
main(void)
{
	struct config	*conf;
	char		*out, what[64];
	size_t		 i, len;

	log_init(1, 0);
	g_mime_init();
	conf = conf_text("bounce domain \"bounces.test\"\n"
	    "tracking domain \"sender.test\" {\n"
	    "\turl \"https://t.sender.test\"\n\topens yes\n\tclicks yes\n"
	    "\tunsubscribe one-click\n"
	    "\tsecret \"tracking-test-secret-0123456789\"\n}\n");
	ok(conf != NULL, "the configuration parses");
	if (conf == NULL)
		return (tap_done());
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		snprintf(what, sizeof(what), "same MIME fields and body %zu",
		    i);
		compare(conf, same[0], same[i], 1, what);
	}
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		snprintf(what, sizeof(what), "another message %zu", i);
		compare(conf, same[0], other[i], 0, what);
	}
	check_moved(conf);
	check_charsets(conf);
	check_meta_charset(conf);
	check_no_host(conf);
	check_signed(conf);
	check_dkim_signed(conf);
	check_ours_again(conf);
	check_ours_off(conf);
	check_ours_keys(conf);
	check_links_over(conf);
	check_html_max(conf);
	check_html_max_encoded(conf);
	check_mailto(conf);
	check_utf8_rcpt(conf);
	check_header_only(conf);
	check_link_index(conf);
	check_comment(conf);
	check_one_click(conf);
	check_long_unsub();
	out = render(conf, same[0], &len);
	ok(out != NULL && strstr(out, "example.org/plain") != NULL,
	    "the text/plain part as it was");
	free(out);

	/* the submitter's fields go, whether parsed or reused */
	track_forget();
	out = render(conf, same[2], &len);
	ok(out != NULL && strstr(out, "app.example") == NULL &&
	    strstr(out, "List-Unsubscribe: <https://t.sender.test/u/") !=
	    NULL, "the submitter's List-Unsubscribe fields replaced");
	free(out);
	out = render(conf, odd, &len);
	ok(out != NULL && strstr(out, "app.example") == NULL,
	    "and after a header line that is no field");
	free(out);
	is_int(reuses(conf, odd), 0, "such a message is parsed each time");

	/* the last four layouts are kept, the oldest goes */
	track_forget();
	free(render(conf, same[0], &len));
	for (i = 0; i < 3; i++)
		free(epilogue(conf, i));
	is_int(reuses(conf, same[1]), 1, "four kept: the first one's layout "
	    "reused");
	for (i = 3; i < 7; i++)
		free(epilogue(conf, i));
	is_int(reuses(conf, same[1]), 0, "four more: the least recently used "
	    "one is gone");
	track_forget();
	config_free(conf);
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: classify a message that came back to the bounce domain
 * (hookd/bounce.h).
 *
 * Order of the checks: an ARF feedback report (RFC 5965) is a complaint,
 * then an RFC 3464 delivery-status report (Postfix,
 * Gmail, Office 365 and most MTAs send one), then the known non-standard
 * bounce texts (Exim, qmail, legacy Exchange NDRs, then a generic
 * "undeliverable" report carrying a status code), then automatic replies
 * (which are often marked Auto-Submitted like DSNs, hence last), else a
 * reply to the bounce address.
 *
 * The recipient and queue id come from the VERP envelope recipient when
 * relayd signed it (its MAC verifies); otherwise the recipient is the
 * report's and there is no queue id.  Every text that ends up
 * in the event is made one printable line; the bounce MIME is capped and
 * made valid UTF-8.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <gmime/gmime.h>

#include "addrguard.h"
#include "config.h"
#include "digest.h"
#include "dns.h"
#include "enhanced.h"
#include "evbuf.h"
#include "hex.h"
#include "mh_event.h"
#include "log.h"
#include "mailaddr.h"
#include "msghdr.h"
#include "verp.h"
#include "events.h"
#include "bounce.h"
#include "sanitize.h"

/* the letters of an address a report names: UTF-8, no bidi control */
#define SAN_ADDR	(SAN_UTF8 | SAN_NOBIDI)

#define TEXT_MAX	(256 * 1024)	/* human-readable text examined */

struct scan {
	GString		*text;		/* text/plain (or html) parts,
					   concatenated */
	GString		*dsn;		/* message/delivery-status content */
	GString		*orig_headers;	/* text/rfc822-headers content */
	GString		*arf;		/* message/feedback-report content */
	char		 orig_rpath[MH_ADDR_MAX];	/* its Return-Path */
	char		 orig_msgid[256];	/* Message-ID of the returned
						   message */
};


/* --- small text helpers ----------------------------------------------- */

static const char *
ci_find(const char *hay, const char *needle)
{
	return (hay != NULL ? strcasestr(hay, needle) : NULL);
}

/* first regex match in s: the submatch sub into out; 0 if found */
static int
re_first(const char *s, const char *pattern, int sub, char *out, size_t len,
    const char **where)
{
	regex_t		 re;
	regmatch_t	 m[4];
	int		 rc = -1;

	if (s == NULL || regcomp(&re, pattern, REG_EXTENDED | REG_ICASE) != 0)
		return (-1);
	if (regexec(&re, s, 4, m, 0) == 0 && m[sub].rm_so != -1) {
		sanitize_text(out, len, s + m[sub].rm_so,
		    m[sub].rm_eo - m[sub].rm_so, SAN_SQUEEZE);
		if (where != NULL)
			*where = s + m[0].rm_so;
		rc = 0;
	}
	regfree(&re);
	return (rc);
}

/*
 * The length of the address s starts with: up to a '>', ' ' or ',' that
 * is not in a quoted local part ("john doe"@example.net, RFC 5321 4.1.2)
 */
static size_t
addr_span(const char *s)
{
	const char	*p = s;

	if (*p == '"' && *(p = addr_quoted_end(s)) == '"')
		p++;
	return (p - s + strcspn(p, "> ,"));
}

/* "rfc822; bob@example.net" -> "bob@example.net" */
static void
addr_value_flags(char *dst, size_t len, const char *v, int flags)
{
	const char	*p;
	char		 tmp[MH_ADDR_MAX + 16];

	if ((p = strchr(v, ';')) != NULL)
		v = p + 1;
	while (*v == ' ' || *v == '\t' || *v == '<')
		v++;
	sanitize_text(tmp, sizeof(tmp), v, strlen(v), SAN_SQUEEZE | flags);
	/* the first of a list (Exim's X-Failed-Recipients: a, b) */
	tmp[addr_span(tmp)] = '\0';
	strlcpy(dst, tmp, len);
}

static void
addr_value(char *dst, size_t len, const char *v)
{
	addr_value_flags(dst, len, v, 0);
}

/*
 * The address of alen bytes at a into out, its letters UTF-8: one whose
 * bytes are not UTF-8 is Latin-1 (ISO-8859-1), as a report written
 * without SMTPUTF8 has it ("j\xFCrgen"), decoded.  A C1 control or a
 * bidi control is '?'.  0, or -1 and out "" if it does not fit: a cut
 * address is none.
 */
static int
addr_decode(char *out, size_t len, const char *a, size_t alen)
{
	char		 tmp[2 * MH_ADDR_MAX];
	unsigned char	 c;
	size_t		 i, o = 0;

	out[0] = '\0';
	if (alen >= MH_ADDR_MAX)
		return (-1);
	if (smtp_utf8_valid(a, alen)) {
		memcpy(tmp, a, alen);
		o = alen;
	} else
		for (i = 0; i < alen; i++) {
			if ((c = a[i]) >= 0x80) {
				tmp[o++] = 0xc0 | c >> 6;
				c = 0x80 | (c & 0x3f);
			}
			tmp[o++] = c;
		}
	if (o >= len)
		return (-1);
	sanitize_text(out, len, tmp, o, SAN_SQUEEZE | SAN_ADDR);
	return (0);
}

/* the whole remainder of the header line after "Name:", unfolded */
static int
field_get_flags(const char *block, size_t blen, const char *name, char *out,
    size_t outlen, int flags)
{
	const char	*p, *end = block + blen, *eol, *v;
	size_t		 nlen = strlen(name);
	GString		*g;

	for (p = block; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			g = g_string_new(NULL);
			v = p + nlen + 1;
			g_string_append_len(g, v, eol - v);
			/* folded continuation lines */
			while (eol < end && eol + 1 < end &&
			    (eol[1] == ' ' || eol[1] == '\t')) {
				p = eol + 1;
				if ((eol = memchr(p, '\n', end - p)) == NULL)
					eol = end;
				g_string_append_c(g, ' ');
				g_string_append_len(g, p, eol - p);
			}
			sanitize_text(out, outlen, g->str, g->len, SAN_SQUEEZE |
			    flags);
			g_string_free(g, TRUE);
			return (0);
		}
		if (eol == end)
			break;
	}
	return (-1);
}

static int
field_get(const char *block, size_t blen, const char *name, char *out,
    size_t outlen)
{
	return (field_get_flags(block, blen, name, out, outlen, 0));
}

/* --- bounce reason and type ----------------------------------------- */

/* code and extended from a status text: "550 5.1.1 ...", "#5.1.1", "550-" */
static void
codes_from_text(const char *text, struct event_record *ev)
{
	char	buf[32];

	if (ev->extended[0] == '\0' &&
	    (re_first(text, "(^|[^0-9.])([245]\\.[0-9]{1,3}\\.[0-9]{1,3})"
	    "([^0-9.]|$)", 2, buf, sizeof(buf), NULL) == 0))
		strlcpy(ev->extended, buf, sizeof(ev->extended));
	if (ev->code == 0 &&
	    (re_first(text, "(^|[^0-9.#])([45][0-9][0-9])[ -]([245]\\.[0-9])",
	    2, buf, sizeof(buf), NULL) == 0 ||
	    re_first(text, "smtp; ?([45][0-9][0-9])", 1, buf, sizeof(buf),
	    NULL) == 0 ||
	    re_first(text, "(said|error)[^0-9\n]{0,40}([45][0-9][0-9])[ -]",
	    2, buf, sizeof(buf), NULL) == 0))
		ev->code = atoi(buf);
}

static void
set_type(struct event_record *ev, int soft_hint)
{
	int	soft;

	if (ev->extended[0] == '4' || (ev->code >= 400 && ev->code < 500))
		soft = 1;
	else if (ev->extended[0] == '5' || (ev->code >= 500 && ev->code < 600))
		soft = 0;
	else
		soft = soft_hint;
	strlcpy(ev->bounce_type, soft ? "soft" : "hard",
	    sizeof(ev->bounce_type));
}

/* --- MIME walk ----------------------------------------------------- */

static void
part_append(GMimeObject *part, GString *g, size_t max)
{
	GMimeDataWrapper	*w;
	GMimeStream		*s;
	GByteArray		*ba;

	if (!GMIME_IS_PART(part) || g->len >= max)
		return;
	if ((w = g_mime_part_get_content(GMIME_PART(part))) == NULL)
		return;
	s = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, s);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	g_string_append_len(g, (const char *)ba->data,
	    MIN(ba->len, max - g->len));
	g_string_append_c(g, '\n');
	g_object_unref(s);
}

static void
scan_part(GMimeObject *parent, GMimeObject *part, gpointer arg)
{
	struct scan		*sc = arg;
	GMimeContentType	*ct;
	GMimeMessage		*inner;
	const char		*mid;

	ct = g_mime_object_get_content_type(part);
	if (GMIME_IS_MESSAGE_PART(part)) {
		inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(part));
		if (inner != NULL && sc->orig_msgid[0] == '\0' &&
		    (mid = g_mime_message_get_message_id(inner)) != NULL)
			sanitize_text(sc->orig_msgid, sizeof(sc->orig_msgid),
			    mid, strlen(mid), SAN_SQUEEZE);
		if (inner != NULL && sc->orig_rpath[0] == '\0' &&
		    (mid = g_mime_object_get_header(GMIME_OBJECT(inner),
		    "Return-Path")) != NULL)
			sanitize_text(sc->orig_rpath, sizeof(sc->orig_rpath),
			    mid, strlen(mid), SAN_SQUEEZE | SAN_ADDR);
		return;
	}
	if (g_mime_content_type_is_type(ct, "message", "feedback-report")) {
		part_append(part, sc->arf, TEXT_MAX);
		return;
	}
	if (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
	    g_mime_content_type_is_type(ct, "message",
	    "global-delivery-status"))
		part_append(part, sc->dsn, TEXT_MAX);
	else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
	    g_mime_content_type_is_type(ct, "message", "global-headers"))
		part_append(part, sc->orig_headers, TEXT_MAX);
	else if (g_mime_content_type_is_type(ct, "text", "plain") ||
	    g_mime_content_type_is_type(ct, "text", "html"))
		part_append(part, sc->text, TEXT_MAX);
}

/*
 * The same mailbox: local parts alike but for case (an MTA may change it)
 * and quoting ("john"@d is john@d), domains alike whether written with
 * U-labels or A-labels.
 */
static int
same_rcpt(const char *ra, const char *rb)
{
	const char	*a = ra, *b = rb, *aat, *bat;
	char		 ad[256], bd[256], ca[MH_ADDR_MAX], cb[MH_ADDR_MAX];

	if (addr_canon(ca, sizeof(ca), ra) == 0)
		a = ca;
	if (addr_canon(cb, sizeof(cb), rb) == 0)
		b = cb;
	aat = strrchr(a, '@');
	bat = strrchr(b, '@');
	if (aat == NULL || bat == NULL)
		return (strcasecmp(a, b) == 0);
	if (aat - a != bat - b || strncasecmp(a, b, aat - a) != 0)
		return (0);
	(void)dns_domain_ascii(aat + 1, ad, sizeof(ad));
	(void)dns_domain_ascii(bat + 1, bd, sizeof(bd));
	return (strcmp(ad, bd) == 0);
}

/* --- RFC 3464 ------------------------------------------------------- */

/*
 * A field whose value is one token, its comments dropped (RFC 3464 2.1.1
 * allows them as in RFC 822, RFC 5965's CFWS too): a block's Action
 * "failed (permanent)" is "failed", a Feedback-Type "abuse (marked as
 * spam)" is "abuse".
 */
static int
token_get(const char *blk, size_t blen, const char *name, char *action,
    size_t size)
{
	char	*r, *w;
	int	 depth = 0;

	if (field_get(blk, blen, name, action, size) == -1)
		return (-1);
	for (r = w = action; *r != '\0'; r++) {
		if (*r == '(')
			depth++;
		else if (*r == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *r != ' ' && *r != '\t')
			*w++ = *r;
		else if (depth == 0 && w > action)
			break;
	}
	*w = '\0';
	return (0);
}

static int
action_get(const char *blk, size_t blen, char *action, size_t size)
{
	return (token_get(blk, blen, "Action", action, size));
}

/*
 * An RFC 6533 utf-8-address (3: a character written "\x{XXXX}", 1 to
 * 6 hex digits) decoded into out: -1 on an invalid escape (a lone '\',
 * no digits, a surrogate, past U+10FFFF) or if it does not fit.
 */
static int
utf8_addr_decode(const char *s, char *out, size_t len)
{
	char		 u[8];
	size_t		 o = 0, i;
	gunichar	 c;
	int		 n;

	while (*s != '\0') {
		if (*s != '\\') {
			if (o + 1 >= len)
				return (-1);
			out[o++] = *s++;
			continue;
		}
		if (s[1] != 'x' || s[2] != '{')
			return (-1);
		for (c = 0, i = 3; i < 9 && isxdigit((unsigned char)s[i]); i++)
			c = c * 16 + g_ascii_xdigit_value(s[i]);
		if (i == 3 || s[i] != '}' || c == 0 || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return (-1);
		n = g_unichar_to_utf8(c, u);
		if (o + n >= len)
			return (-1);
		memcpy(out + o, u, n);
		o += n;
		s += i + 1;
	}
	out[o] = '\0';
	return (0);
}

/*
 * The address of a block's Final-Recipient or Original-Recipient (RFC
 * 3464 2.3.1-2), after its type, into out: 0, -1 if it has none.  Its
 * letters are kept: RFC 6533's utf-8 type has them as they are or
 * written \x{FC} (decoded; an invalid escape is no address), and a
 * message/global-delivery-status may have them raw in an rfc822 one
 * (Postfix's); bytes that are not UTF-8 are Latin-1 (addr_decode), as
 * an MTA without SMTPUTF8 writes our "j\xFCrgen@...".  type: its type
 * (rfc822, utf-8, x400...), lower-cased.
 */
static int
block_field_addr(const char *blk, size_t blen, const char *name,
    char *type, size_t tlen, char *out, size_t len)
{
	char	v[MH_ADDR_MAX], d[MH_ADDR_MAX], r[MH_ADDR_MAX];
	size_t	n, i;

	if (field_get_flags(blk, blen, name, v, sizeof(v), SAN_8BIT) == -1)
		return (-1);
	n = strspn(v, " \t");
	for (i = 0; v[n + i] != ';' && v[n + i] != ' ' && v[n + i] != '\0' &&
	    i + 1 < tlen; i++)
		type[i] = tolower((unsigned char)v[n + i]);
	type[i] = '\0';
	if (strcmp(type, "utf-8") == 0 && strchr(v, ';') != NULL) {
		if (utf8_addr_decode(v, d, sizeof(d)) == -1)
			return (-1);
		addr_value_flags(r, sizeof(r), d, SAN_8BIT);
	} else
		addr_value_flags(r, sizeof(r), v, SAN_8BIT);
	/* its bytes, not UTF-8: Latin-1 (addr_decode) */
	return (addr_decode(out, len, r, strlen(r)));
}

/*
 * Whether a block's Original-Recipient (RFC 3464 2.3.1, of type rfc822,
 * or RFC 6533's utf-8) is want: the address we sent to, which the remote
 * side routed to its Final-Recipient (a Microsoft 365 hybrid's
 * user@tenant.mail.onmicrosoft.com, a Postfix alias or virtual map).
 */
static int
block_orig_is(const char *blk, size_t blen, const char *want)
{
	char	type[16], a[MH_ADDR_MAX];

	if (want == NULL || block_field_addr(blk, blen, "Original-Recipient",
	    type, sizeof(type), a, sizeof(a)) == -1 ||
	    (strcmp(type, "rfc822") != 0 && strcmp(type, "utf-8") != 0))
		return (0);
	return (same_rcpt(a, want));
}

/*
 * The address a block names: want when its Original-Recipient is want
 * (our recipient's mail, whatever address it was routed to), else its
 * Final-Recipient, else its Original-Recipient.
 */
static int
block_addr(const char *blk, size_t blen, const char *want, char *out,
    size_t len)
{
	char	type[16];

	if (block_orig_is(blk, blen, want)) {
		strlcpy(out, want, len);
		return (0);
	}
	if (block_field_addr(blk, blen, "Final-Recipient", type,
	    sizeof(type), out, len) == -1 && block_field_addr(blk, blen,
	    "Original-Recipient", type, sizeof(type), out, len) == -1)
		return (-1);
	return (0);
}

/* a per-recipient block's action, recipient, status and diagnostic */
static void
block_fill(const char *blk, size_t blen, const char *want, char *act,
    size_t actlen, struct event_record *ev)
{
	const char	*p;
	char		 action[32], diag[512], code[8];
	int		 smtp;

	action_get(blk, blen, action, sizeof(action));
	sanitize_text(act, actlen, action, strlen(action), SAN_SQUEEZE);
	(void)block_addr(blk, blen, want, ev->recipient,
	    sizeof(ev->recipient));
	/*
	 * RFC 3464 2.3.4: a status-code, maybe a comment after it; anything
	 * else ("9.1.1", "5.1.1234", words) is none, as a report without one
	 */
	if (field_get(blk, blen, "Status", diag, sizeof(diag)) == 0 &&
	    re_first(diag, "^([245]\\.[0-9]{1,3}\\.[0-9]{1,3})([^0-9.]|$)",
	    1, ev->extended, sizeof(ev->extended), NULL) == -1)
		ev->extended[0] = '\0';
	if (field_get(blk, blen, "Diagnostic-Code", diag,
	    sizeof(diag)) == 0) {
		p = strchr(diag, ';');
		smtp = p != NULL && p - diag == 4 &&
		    strncasecmp(diag, "smtp", 4) == 0;
		p = p != NULL ? p + 1 : diag;
		while (*p == ' ')
			p++;
		strlcpy(ev->description, p, sizeof(ev->description));
		/*
		 * A generic Status (x.0.0) yields to the diagnostic's own
		 * code of its class: a delayed report's 4.0.0 stays, though
		 * it quotes the 550 5.1.1 it will retry after.
		 */
		if (strcmp(ev->extended + 1, ".0.0") == 0) {
			strlcpy(code, ev->extended, sizeof(code));
			ev->extended[0] = '\0';
			codes_from_text(ev->description, ev);
			if (ev->extended[0] != code[0])
				strlcpy(ev->extended, code,
				    sizeof(ev->extended));
		}
		codes_from_text(ev->description, ev);
		/* "smtp; 550 User unknown": an SMTP reply, its code first */
		if (ev->code == 0 && smtp && re_first(ev->description,
		    "^([45][0-9][0-9])([ -]|$)", 1, code, sizeof(code),
		    NULL) == 0)
			ev->code = atoi(code);
	}
}

/* the blocks of a delivery-status body */
struct dsn_scan {
	const char	*best;			/* the block of ev */
	size_t		 bestlen;
	struct {
		const char	*p;
		size_t		 len;
	}		 failing[BOUNCE_RCPTS_MAX];	/* failed, delayed */
	size_t		 nfailing;
};

/*
 * The per-recipient blocks of a delivery-status body: ev is the one of
 * our recipient that failed or was delayed, else the first failed, else
 * the first delayed one, else our recipient's, else the first; those
 * that failed or were delayed are kept in ds for their own events.
 */
static int
dsn_parse(const char *dsn, size_t len, const char *want,
    struct bounce_info *bi, struct dsn_scan *ds)
{
	const char		*p, *end = dsn + len, *blk;
	size_t			 blen;
	char			 action[32], a[MH_ADDR_MAX];
	int			 rank, bestrank = 0, failing;

	memset(ds, 0, sizeof(*ds));
	/* blocks are separated by empty lines; the first is per-message */
	for (p = dsn; p < end; ) {
		while (p < end && (*p == '\n' || *p == '\r'))
			p++;
		blk = p;
		while (p < end) {
			const char *eol = memchr(p, '\n', end - p);

			if (eol == NULL) {
				p = end;
				break;
			}
			p = eol + 1;
			if (p < end && (*p == '\n' || (*p == '\r' &&
			    p + 1 < end && p[1] == '\n')))
				break;
		}
		blen = p - blk;
		if (blen == 0 || action_get(blk, blen, action,
		    sizeof(action)) == -1)
			continue;
		rank = 1;
		if ((failing = strcasecmp(action, "delayed") == 0))
			rank = 3;
		if (strcasecmp(action, "failed") == 0) {
			failing = 1;
			rank = 4;
		}
		if (want != NULL && block_addr(blk, blen, want, a,
		    sizeof(a)) == 0 && same_rcpt(a, want))
			rank += failing ? 10 : 1;
		if (failing && ds->nfailing < BOUNCE_RCPTS_MAX) {
			ds->failing[ds->nfailing].p = blk;
			ds->failing[ds->nfailing++].len = blen;
		}
		if (rank > bestrank) {
			bestrank = rank;
			ds->best = blk;
			ds->bestlen = blen;
		}
	}
	if (ds->best == NULL)
		return (-1);
	block_fill(ds->best, ds->bestlen, want, bi->action,
	    sizeof(bi->action), &bi->ev);
	return (0);
}

/* --- the non-standard bounces ------------------------------------- */

/* the first empty line from p (LF or CR LF), else its end */
static const char *
empty_line(const char *p)
{
	const char	*e, *e2;

	e = strstr(p, "\n\n");
	if ((e2 = strstr(p, "\r\n\r\n")) != NULL && (e == NULL || e2 < e))
		e = e2;
	return (e != NULL ? e : p + strlen(p));
}

/* the text of the report right after a marker, up to an empty line */
static void
text_after(const char *text, const char *marker, char *out, size_t len)
{
	const char	*p, *e;

	if ((p = ci_find(text, marker)) == NULL)
		return;
	p += strlen(marker);
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	e = empty_line(p);
	sanitize_text(out, len, p, e - p, SAN_SQUEEZE);
}

/*
 * A recipient's words in the report's text, for a block without a
 * Diagnostic-Code: the line that names it and the indented lines that go
 * on with it (Postfix's "<bob@example.net>: host ... said: ...",
 * sendmail's "<bob@example.net>... Deferred: Connection timed out ..."),
 * not the text's first paragraph, which is a banner ("This is the mail
 * system at host ...", sendmail's "THIS IS A WARNING MESSAGE ONLY")
 * unless no line names it.
 */
static void
rcpt_text(const char *text, const char *rcpt, char *out, size_t len)
{
	const char	*p, *e;

	if (rcpt[0] == '\0' || (p = ci_find(text, rcpt)) == NULL) {
		text_after(text, "", out, len);
		return;
	}
	while (p > text && p[-1] != '\n')
		p--;
	for (e = p; (e = strchr(e, '\n')) != NULL; e++)
		if ((e[1] != ' ' && e[1] != '\t') ||
		    e[1 + strspn(e + 1, " \t\r")] == '\n')
			break;
	if (e == NULL)
		e = p + strlen(p);
	sanitize_text(out, len, p, e - p, SAN_SQUEEZE);
}

/*
 * A status in a report's text: an enhanced status code (RFC 3463:
 * class.subject.detail, each of 1 to 3 digits, neither a digit nor a dot
 * on either side but a full stop ending a sentence, so that a date such
 * as 5.1.2025 or a version such as 4.10.1.5 is none) or a reply code
 * followed by a space
 */
#define RE_STATUS "(^|[^0-9.])[245]\\.[0-9]{1,3}\\.[0-9]{1,3}" \
	"([^0-9.]|\\.([^0-9]|$)|$)|(^|[^0-9])[45][0-9][0-9] "

/* how addr_at reads the bytes >= 0x80 of a report's text */
#define TA_ASCII	0	/* none is of an address */
#define TA_UTF8		1	/* each is, the address valid UTF-8 */
#define TA_LATIN1	2	/* a Latin-1 letter (U+00C0-U+00FF, but for
				   the signs U+00D7, U+00F7) is */

/* a byte of an address in a report's text: of ascii, or one >= 0x80 */
static int
addr_byte(unsigned char c, const char *ascii, int mode)
{
	if (c >= 0x80)
		return (mode == TA_UTF8 || (mode == TA_LATIN1 && c >= 0xc0 &&
		    c != 0xd7 && c != 0xf7));
	return (c != '\0' && (isalnum(c) || strchr(ascii, c) != NULL));
}

/*
 * The address around the '@' at at, into *a and *alen: a local part of
 * [A-Za-z0-9._%+=-], a domain of [A-Za-z0-9.-] whose last label has two
 * letters or more; with TA_UTF8, the letters of UTF-8 too, the whole of
 * it valid UTF-8 as an SMTPUTF8 address is (smtp_utf8_valid); with
 * TA_LATIN1, Latin-1 letters too.  -1 if none.
 */
static int
addr_at(const char *text, const char *at, int mode, const char **a,
    size_t *alen)
{
	const char	*s = at, *end = at + 1, *e, *run, *best = NULL;
	size_t		 n;

	/* a run longer than any address is none (and costs no more) */
	for (n = 0; s > text && addr_byte(s[-1], "._%+=-", mode); n++)
		if (s--, n == MH_ADDR_MAX)
			return (-1);
	for (n = 0; addr_byte(*end, ".-", mode); n++)
		if (end++, n == MH_ADDR_MAX)
			return (-1);
	/*
	 * The longest domain that ends in '.' and two letters or more, in
	 * one pass: run is where the letters before e begin.
	 */
	for (run = e = at + 1;; e++) {
		if (e - run >= 2 && run - 1 > at + 1 && run[-1] == '.' &&
		    ((unsigned char)*e & 0xc0) != 0x80)
			best = e;
		if (e == end)
			break;
		if (!isalpha((unsigned char)*e) &&
		    !((unsigned char)*e >= 0x80 && addr_byte(*e, "", mode)))
			run = e + 1;
	}
	if (s == at || best == NULL || (size_t)(best - s) >= MH_ADDR_MAX ||
	    (mode == TA_UTF8 && !smtp_utf8_valid(s, best - s)))
		return (-1);
	*a = s;
	*alen = best - s;
	return (0);
}

/*
 * The first address in text, into out (its letters as they are, UTF-8),
 * *where where it starts: 0, or -1 if there is none.  An address whose
 * bytes are not UTF-8 is read as Latin-1 (addr_decode), never as its
 * ASCII part ("rgen@x" of "j\xFCrgen@x" names someone else).
 */
static int
text_addr(const char *text, char *out, size_t len, const char **where,
    size_t *wlen)
{
	const char	*p, *a;
	size_t		 alen;

	for (p = text; p != NULL && (p = strchr(p, '@')) != NULL; p++)
		if ((addr_at(text, p, TA_UTF8, &a, &alen) == 0 ||
		    addr_at(text, p, TA_LATIN1, &a, &alen) == 0) &&
		    addr_decode(out, len, a, alen) == 0) {
			if (where != NULL) {
				*where = a;
				*wlen = alen;
			}
			return (0);
		}
	return (-1);
}

/*
 * Whether a paragraph of the report about rcpt says its server refused it
 * at RCPT, as a refusal at SMTP time would be: Postfix's "(in reply to
 * RCPT TO command)", Exim's "after RCPT TO:<...>", sendmail's transcript
 * (">>> RCPT To:<...>"), qmail's "does not like recipient", Yahoo's
 * "[RCPT_TO]".  A generic status (5.0.0 of a "550 User unknown", or
 * none) then suppresses as that refusal does.
 */
static void
rcpt_stage(const char *text, const char *rcpt, char *stage, size_t len)
{
	const char	*p, *s, *e;
	char		*para, buf[64];
	int		 n = 0;

	if (rcpt[0] == '\0')
		return;
	for (p = text; n < 8 && (p = ci_find(p, rcpt)) != NULL;
	    p += strlen(rcpt), n++) {
		for (s = p; s > text && s[-1] != '\n'; s--)
			;
		e = empty_line(p);
		if ((para = strndup(s, e - s)) == NULL)
			return;
		if (re_first(para, "(in[[:space:]]+reply[[:space:]]+to|after|"
		    ">>>)[[:space:]]+RCPT[[:space:]]+TO|does[[:space:]]+not"
		    "[[:space:]]+like[[:space:]]+recipient|\\[RCPT_TO\\]", 0,
		    buf, sizeof(buf), NULL) == 0)
			strlcpy(stage, "rcpt", len);
		free(para);
		if (stage[0] != '\0')
			return;
	}
}

/*
 * e, another recipient the report says failed or was delayed (action),
 * its bounce_type set, as an event of its own in bi->more: an address
 * once, not ev's (first), at most BOUNCE_RCPTS_MAX - 1.  Its stage and
 * reason are found as ev's are; only an address the return path names is
 * not another's.
 */
static void
more_add(const struct scan *sc, const char *verp_rcpt, const char *first,
    const char *action, const struct event_record *e, struct bounce_info *bi)
{
	struct bounce_rcpt	*m;
	size_t			 j;

	if (bi->more == NULL || bi->nmore >= BOUNCE_RCPTS_MAX - 1 ||
	    e->recipient[0] == '\0' || same_rcpt(e->recipient, first))
		return;
	for (j = 0; j < bi->nmore; j++)
		if (same_rcpt(e->recipient, bi->more[j].recipient))
			return;
	m = &bi->more[bi->nmore++];
	strlcpy(m->recipient, e->recipient, sizeof(m->recipient));
	strlcpy(m->action, action, sizeof(m->action));
	m->code = e->code;
	strlcpy(m->extended, e->extended, sizeof(m->extended));
	strlcpy(m->description, e->description, sizeof(m->description));
	strlcpy(m->bounce_type, e->bounce_type, sizeof(m->bounce_type));
	strlcpy(m->bounce_reason, enhanced_reason(m->extended,
	    m->description), sizeof(m->bounce_reason));
	rcpt_stage(sc->text->str, m->recipient, m->stage, sizeof(m->stage));
	m->other_rcpt = verp_rcpt != NULL &&
	    !same_rcpt(m->recipient, verp_rcpt);
}

/*
 * bi->stage of ev's block by its Final-Recipient, when it is another
 * address than ev's recipient (ours by its Original-Recipient)
 */
static void
final_stage(const struct scan *sc, const struct dsn_scan *ds,
    const char *rcpt, struct bounce_info *bi)
{
	char	type[16], a[MH_ADDR_MAX];

	if (ds->best == NULL || block_field_addr(ds->best, ds->bestlen,
	    "Final-Recipient", type, sizeof(type), a, sizeof(a)) == -1)
		return;
	if (a[0] != '\0' && !same_rcpt(a, rcpt))
		rcpt_stage(sc->text->str, a, bi->stage, sizeof(bi->stage));
}

/* the report's other recipients that failed or were delayed: bi->more */
static void
dsn_more(const struct scan *sc, const struct dsn_scan *ds,
    const char *verp_rcpt, struct bounce_info *bi)
{
	struct event_record	 e;
	char			 first[MH_ADDR_MAX], action[16];
	size_t			 i;

	if (ds->nfailing < 2 || (bi->more = calloc(MIN(ds->nfailing,
	    BOUNCE_RCPTS_MAX - 1), sizeof(*bi->more))) == NULL)
		return;
	if (block_addr(ds->best, ds->bestlen, verp_rcpt, first,
	    sizeof(first)) == -1)
		first[0] = '\0';
	for (i = 0; i < ds->nfailing; i++) {
		if (ds->failing[i].p == ds->best)
			continue;
		memset(&e, 0, sizeof(e));
		block_fill(ds->failing[i].p, ds->failing[i].len, NULL, action,
		    sizeof(action), &e);
		if (e.description[0] == '\0') {
			rcpt_text(sc->text->str, e.recipient, e.description,
			    sizeof(e.description));
			codes_from_text(e.description, &e);
		}
		strlcpy(e.bounce_type, strcasecmp(action, "delayed") == 0 ?
		    "soft" : "hard", sizeof(e.bounce_type));
		more_add(sc, verp_rcpt, first, action, &e, bi);
	}
}

/*
 * A recipient a non-standard bounce names (in its text or its header),
 * and its own paragraph of the text when it has one.
 */
struct ns_rcpt {
	const char	*addr;
	size_t		 alen;
	const char	*para;		/* NULL: the report's whole text */
	size_t		 plen;
};

struct ns_scan {
	struct ns_rcpt	 r[BOUNCE_RCPTS_MAX];
	size_t		 n;
};

/* the line at p: its end (before CR LF) and the start of the next */
static const char *
line_next(const char *p, const char **eol)
{
	const char	*e;

	if ((e = strchr(p, '\n')) == NULL) {
		*eol = p + strlen(p);
		return (*eol);
	}
	*eol = e > p && e[-1] == '\r' ? e - 1 : e;
	return (e + 1);
}

static int
line_blank(const char *p, const char *eol)
{
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	return (p == eol);
}

/*
 * The address that starts the line at p (after blanks and '<'), or -1:
 * UTF-8, or else its bytes >= 0x80 Latin-1 letters (addr_decode)
 */
static int
line_addr(const char *p, const char *eol, const char **a, size_t *alen)
{
	const char	*e, *at, *q;

	while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n' || *p == '<'))
		p++;
	for (e = p; e < eol && strchr(" \t\r\n<>,;:\"", *e) == NULL; e++)
		;
	if ((at = memchr(p, '@', e - p)) == NULL || at == p || at + 1 == e ||
	    (size_t)(e - p) >= MH_ADDR_MAX)
		return (-1);
	for (q = p; !smtp_utf8_valid(p, e - p) && q < e; q++)
		if ((unsigned char)*q >= 0x80 && !addr_byte(*q, "",
		    TA_LATIN1))
			return (-1);
	*a = p;
	*alen = e - p;
	return (0);
}

/* adds an address (once) and its paragraph */
static void
ns_add(struct ns_scan *ns, const char *a, size_t alen, const char *para,
    size_t plen)
{
	char	x[MH_ADDR_MAX], y[MH_ADDR_MAX];
	size_t	i;

	if (ns->n >= BOUNCE_RCPTS_MAX || alen == 0 || alen >= sizeof(x))
		return;
	if (addr_decode(x, sizeof(x), a, alen) == -1)
		return;
	for (i = 0; i < ns->n; i++) {
		(void)addr_decode(y, sizeof(y), ns->r[i].addr, ns->r[i].alen);
		if (same_rcpt(x, y))
			return;
	}
	ns->r[ns->n].addr = a;
	ns->r[ns->n].alen = alen;
	ns->r[ns->n].para = para;
	ns->r[ns->n++].plen = plen;
}

/* the end of the paragraph whose first line is at p: an empty line */
static const char *
para_end(const char *p)
{
	const char	*eol, *next;

	for (; *p != '\0'; p = next) {
		next = line_next(p, &eol);
		if (line_blank(p, eol))
			break;
	}
	return (p);
}

/* qmail: a paragraph "<a@x>:" of each address, before the message's copy */
static void
qmail_list(const char *text, struct ns_scan *ns)
{
	const char	*p, *eol, *next, *a, *c;
	size_t		 alen;

	for (p = text; *p != '\0'; p = next) {
		next = line_next(p, &eol);
		if (strncmp(p, "--- ", 4) == 0)
			break;
		if (*p != '<' || (c = memchr(p, '>', eol - p)) == NULL ||
		    c + 1 >= eol || c[1] != ':' ||
		    line_addr(p, c, &a, &alen) == -1)
			continue;
		next = para_end(next);
		ns_add(ns, a, alen, p, next - p);
	}
}

/*
 * Exim: after "The following address(es) failed:" (a delay warning: "...
 * not yet been delivered is:"), each address on a line indented by two,
 * what happened to it below, indented by four; then X-Failed-Recipients.
 */
static void
exim_list(const char *text, const char *hdr, struct ns_scan *ns)
{
	const char	*p, *eol, *next, *a, *cur = NULL, *ca = NULL;
	size_t		 alen, calen = 0, indent;

	if ((p = ci_find(text, "address(es) failed:")) != NULL ||
	    (p = ci_find(text, "yet been delivered is:")) != NULL ||
	    (p = ci_find(text, "yet been delivered are:")) != NULL) {
		for (p = line_next(p, &eol); *p != '\0'; p = next) {
			next = line_next(p, &eol);
			if (!line_blank(p, eol))
				break;
		}
		for (; *p != '\0'; p = next) {
			next = line_next(p, &eol);
			if (line_blank(p, eol))
				break;
			for (indent = 0; p + indent < eol &&
			    p[indent] == ' '; indent++)
				;
			if (indent >= 4 || p[indent] == '\t' ||
			    line_addr(p, eol, &a, &alen) == -1)
				continue;
			if (cur != NULL)
				ns_add(ns, ca, calen, cur, p - cur);
			cur = p;
			ca = a;
			calen = alen;
		}
		if (cur != NULL)
			ns_add(ns, ca, calen, cur, p - cur);
	}
	/* "a@x, b@y": those the text does not list */
	for (p = hdr; p != NULL && *p != '\0'; p = next) {
		if ((next = strchr(p, ',')) == NULL)
			next = p + strlen(p);
		if (line_addr(p, next, &a, &alen) == 0)
			ns_add(ns, a, alen, NULL, 0);
		if (*next == ',')
			next++;
	}
}

/*
 * Exchange: after "The following recipient(s) cannot be reached:" (or
 * "... recipients or groups:"), a paragraph of each address, the address
 * first.  Else the first address after it.
 */
static void
exchange_list(const char *text, struct ns_scan *ns)
{
	const char	*m, *p, *eol, *next, *a;
	char		 buf[MH_ADDR_MAX];
	size_t		 alen;

	if ((m = ci_find(text, "cannot be reached:")) == NULL &&
	    (m = ci_find(text, "recipients or groups:")) == NULL &&
	    (m = ci_find(text, "following recipients:")) == NULL)
		return;
	for (next = line_next(m, &eol); *next != '\0'; ) {
		p = next;
		next = line_next(p, &eol);
		if (line_blank(p, eol))
			continue;
		if (line_addr(p, eol, &a, &alen) == -1)
			break;
		next = para_end(next);
		ns_add(ns, a, alen, p, next - p);
	}
	if (ns->n == 0 && text_addr(m, buf, sizeof(buf), &a, &alen) == 0)
		ns_add(ns, a, alen, NULL, 0);
}

/*
 * A recipient's description and status, from its own paragraph where the
 * report gives one (else the report's), and its bounce type.
 */
static void
ns_fill(const char *format, const char *text, const struct ns_rcpt *r,
    int soft, struct event_record *ev)
{
	const char	*t = text, *p;
	char		*para = NULL, buf[1024];

	if (r != NULL) {
		(void)addr_decode(ev->recipient, sizeof(ev->recipient),
		    r->addr, r->alen);
		if (r->para != NULL && (para = strndup(r->para,
		    r->plen)) != NULL)
			t = para;
	}
	if (strcmp(format, "qmail") == 0) {
		if (para != NULL)
			text_after(para, ">:", ev->description,
			    sizeof(ev->description));
	} else if (strcmp(format, "exim") == 0) {
		if ((p = ci_find(t, "SMTP error from remote mail server")) !=
		    NULL && (p = strchr(p, '\n')) != NULL)
			text_after(p, "", ev->description,
			    sizeof(ev->description));
		else if (para != NULL && (p = strchr(para, '\n')) != NULL)
			text_after(p, "", ev->description,
			    sizeof(ev->description));
		else if ((p = ci_find(t, "address(es) failed:")) != NULL)
			text_after(p, "address(es) failed:", ev->description,
			    sizeof(ev->description));
	} else if (re_first(t, "<[^<>\n]*#([45]\\.[0-9.]+)[^<>\n]*>", 0,
	    buf, sizeof(buf), NULL) == 0) {
		strlcpy(ev->description, buf + 1, sizeof(ev->description));
		ev->description[strcspn(ev->description, ">")] = '\0';
	} else if (re_first(t, "Remote Server returned '([^'\n]*)'", 1, buf,
	    sizeof(buf), NULL) == 0)
		strlcpy(ev->description, buf, sizeof(ev->description));
	codes_from_text(ev->description, ev);
	codes_from_text(t, ev);
	/* a paragraph without a status: the report's */
	if (para != NULL && ev->code == 0 && ev->extended[0] == '\0')
		codes_from_text(text, ev);
	set_type(ev, soft);
	free(para);
}

/* --- automatic replies, told from a bounce ------------------------- */

/* the bytes of a subject matched as an automatic reply's */
#define OOO_FOLD_MAX	1024

/*
 * Whether the subject is an out-of-office one: it has such words, or
 * (prefix) it starts with them, as a responder writes them before the
 * subject it answers ("Automatic reply: Delivery notification ...").
 */
static int
ooo_subject(const char *subject, int prefix)
{
	static const char	*subjects[] = {
		"out of office", "out of the office", "automatic reply",
		"auto-reply", "autoreply", "auto reply", "auto response",
		"autoresponse", "abwesenheitsnotiz", "absence",
		"automatische antwort", "r\xc3\xa9ponse automatique",
		"respuesta autom\xc3\xa1tica", "risposta automatica",
		"on vacation", "vacation reply", "away from the office",
		"afwezigheidsbericht", "automatisch antwoord", "autosvar",
		"automatisk svar", "automatiskt svar",
		"odpowied\xc5\xba automatyczna",
		"automatick\xc3\xa1 odpov\xc4\x9b\xc4\x8f",
		"resposta autom\xc3\xa1tica", "automaattinen vastaus",
	};
	char			*valid, *fold;
	size_t			 i;
	int			 found = 0;

	if (subject == NULL)
		return (0);
	while (prefix && (*subject == ' ' || *subject == '\t'))
		subject++;
	/* its start casefolded as UTF-8: accented capitals match too */
	valid = g_utf8_make_valid(subject, strnlen(subject, OOO_FOLD_MAX));
	fold = g_utf8_casefold(valid, -1);
	g_free(valid);
	for (i = 0; !found && i < sizeof(subjects) / sizeof(subjects[0]); i++)
		found = prefix ? strncmp(fold, subjects[i],
		    strlen(subjects[i])) == 0 : strstr(fold,
		    subjects[i]) != NULL;
	g_free(fold);
	return (found);
}

/*
 * A reply's subject, never a bounce's: "Re: ...", German "AW: ...",
 * Dutch "Antw:", Scandinavian "SV:", Finnish "VS:", Polish "Odp:",
 * Italian "R:", Portuguese "RES:"; French typography puts a space (or a
 * no-break space) before the colon: "RE : ...".
 */
static int
reply_subject(const char *subject)
{
	static const char	*prefixes[] = {
		"re", "aw", "antw", "sv", "vs", "odp", "r", "res",
	};
	const char		*p;
	size_t			 i, n;

	while (*subject == ' ' || *subject == '\t')
		subject++;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		n = strlen(prefixes[i]);
		if (strncasecmp(subject, prefixes[i], n) != 0)
			continue;
		for (p = subject + n; *p == ' ' || (p[0] == '\xc2' &&
		    p[1] == '\xa0'); p += *p == ' ' ? 1 : 2)
			;
		if (*p == ':')
			return (1);
	}
	return (0);
}

/*
 * The headers of a responder (RFC 3834 Precedence auto_reply, vacation
 * and autoresponder programs' own), which no MTA puts on a bounce; not
 * Auto-Submitted, which Exim, Gmail and Exchange put on theirs.
 */
static int
responder_marked(GMimeMessage *msg)
{
	GMimeObject	*o = GMIME_OBJECT(msg);
	const char	*v;

	return (g_mime_object_get_header(o, "X-Autoreply") != NULL ||
	    g_mime_object_get_header(o, "X-Autorespond") != NULL ||
	    g_mime_object_get_header(o, "X-Autoresponder") != NULL ||
	    g_mime_object_get_header(o, "X-Vacation") != NULL ||
	    ((v = g_mime_object_get_header(o, "Precedence")) != NULL &&
	    ci_find(v, "auto_reply") != NULL));
}

/*
 * The known non-standard bounces.  ev is the recipient the return path
 * names, else the first (the text's address is a guess: the return
 * path's wins, classify); each other address is an event of its own in
 * bi->more, as a delivery report's.  A report that says it is final
 * (qmail's and Exim's "This is a permanent error", qmail's "I'm not
 * going to try again", Exchange's "did not reach", "Delivery has
 * failed") is hard whatever reply it quotes, as a DSN's Action: failed
 * is: the 451 or 4.4.7 of a message that expired in their queue is
 * retried by no one.
 */
static int
nonstandard(GMimeMessage *msg, const char *subject, struct scan *sc,
    const char *verp_rcpt, struct bounce_info *bi)
{
	struct event_record	*ev = &bi->ev, e;
	struct ns_scan		 ns;
	const char		*text = sc->text->str, *p, *v;
	char			 buf[1024];
	size_t			 i, j;
	int			 soft = 0, final = 0;

	ns.n = 0;
	if (ci_find(text, "This is the qmail-send program")) {
		strlcpy(bi->format, "qmail", sizeof(bi->format));
		qmail_list(text, &ns);
		soft = ci_find(text, "will keep trying") != NULL;
		final = !soft && (ci_find(text, "permanent error") != NULL ||
		    ci_find(text, "not going to try again") != NULL);
	} else if (ci_find(text, "created automatically by mail delivery "
	    "software")) {
		strlcpy(bi->format, "exim", sizeof(bi->format));
		exim_list(text, g_mime_object_get_header(GMIME_OBJECT(msg),
		    "X-Failed-Recipients"), &ns);
		final = ci_find(text, "permanent error") != NULL;
		soft = !final &&
		    (ci_find(text, "has not yet been delivered") != NULL ||
		    ci_find(text, "delayed") != NULL ||
		    ci_find(text, "temporary") != NULL);
	} else if (ci_find(text, "did not reach some or all of the intended "
	    "recipients") || ci_find(text, "Delivery has failed to these "
	    "recipients") || ci_find(text, "could not be delivered to the "
	    "following recipients")) {
		strlcpy(bi->format, "exchange", sizeof(bi->format));
		exchange_list(text, &ns);
		soft = ci_find(text, "delay") != NULL;
		final = !soft;
	} else if (subject != NULL && !ooo_subject(subject, 1) &&
	    !reply_subject(subject) && !responder_marked(msg) &&
	    (ci_find(subject, "undeliverable") ||
	    ci_find(subject, "undelivered mail") ||
	    ci_find(subject, "mail delivery failed") ||
	    ci_find(subject, "delivery status notification") ||
	    ci_find(subject, "failure notice") ||
	    ci_find(subject, "returned mail") ||
	    ci_find(subject, "delivery failure") ||
	    ci_find(subject, "mail delivery failure") ||
	    ci_find(subject, "delivery notification")) &&
	    re_first(text, RE_STATUS, 0, buf, sizeof(buf), &p) == 0) {
		/*
		 * A guess: the first address, the line with the status.  Not
		 * of a responder's or a person's reply ("Automatic reply:
		 * Delivery notification ...", "Re: ..."), whose text may have
		 * a number such as a phone's "555 0100".
		 */
		strlcpy(bi->format, "generic", sizeof(bi->format));
		if (!isdigit((unsigned char)*p))
			p++;	/* the boundary before it */
		while (p > text && p[-1] != '\n')
			p--;
		v = strchr(p, '\n');
		sanitize_text(ev->description, sizeof(ev->description), p,
		    v != NULL ? (size_t)(v - p) : strlen(p), SAN_SQUEEZE);
		text_addr(text, ev->recipient, sizeof(ev->recipient), NULL,
		    NULL);
		soft = ci_find(subject, "delay") != NULL ||
		    ci_find(text, "will retry") != NULL ||
		    ci_find(text, "temporar") != NULL;
		codes_from_text(ev->description, ev);
		codes_from_text(text, ev);
		strlcpy(bi->action, soft ? "delayed" : "failed",
		    sizeof(bi->action));
		set_type(ev, soft);
		return (0);
	} else
		return (-1);
	strlcpy(bi->action, soft ? "delayed" : "failed", sizeof(bi->action));
	for (i = 0; verp_rcpt != NULL && i < ns.n; i++) {
		(void)addr_decode(buf, sizeof(buf), ns.r[i].addr,
		    ns.r[i].alen);
		if (same_rcpt(buf, verp_rcpt))
			break;
	}
	if (i >= ns.n)
		i = 0;
	ns_fill(bi->format, text, ns.n > 0 ? &ns.r[i] : NULL, soft, ev);
	if (final)
		strlcpy(ev->bounce_type, "hard", sizeof(ev->bounce_type));
	if (ns.n < 2 || (bi->more = calloc(ns.n - 1,
	    sizeof(*bi->more))) == NULL)
		return (0);
	for (j = 0; j < ns.n; j++) {
		if (j == i)
			continue;
		memset(&e, 0, sizeof(e));
		ns_fill(bi->format, text, &ns.r[j], soft, &e);
		if (final)
			strlcpy(e.bounce_type, "hard", sizeof(e.bounce_type));
		more_add(sc, verp_rcpt, ev->recipient, bi->action, &e, bi);
	}
	return (0);
}

/* --- complaints ---------------------------------------------------- */

/*
 * The address of the ARF report's field name into out: 0, -1 if it has
 * none; UTF-8 as an SMTPUTF8 address is (RFC 6531), else Latin-1
 * (addr_decode)
 */
static int
arf_addr(const struct scan *sc, const char *name, char *out, size_t len)
{
	char	v[MH_ADDR_MAX], r[MH_ADDR_MAX];

	if (field_get_flags(sc->arf->str, sc->arf->len, name, v, sizeof(v),
	    SAN_8BIT) == -1)
		return (-1);
	addr_value_flags(r, sizeof(r), v, SAN_8BIT);
	return (addr_decode(out, len, r, strlen(r)));
}

/*
 * An ARF report (RFC 5965): Feedback-Type as the description, the
 * complaining recipient from Original-Rcpt-To, and the reported message's
 * return path (Original-Mail-From, else the Return-Path of the message it
 * quotes), whose VERP names the message when the report came to another
 * address (the feedback loop's).
 */
static void
complaint(const struct scan *sc, struct bounce_info *bi)
{
	struct event_record	*ev = &bi->ev;
	char			*p;

	ev->kind = EV_COMPLAINT;
	strlcpy(bi->format, "arf", sizeof(bi->format));
	/*
	 * its token, lower-cased (RFC 5965 3.1: a token, with CFWS); a
	 * report without one, which RFC 5965 requires, or without its
	 * feedback part, is of no type: no spam complaint, it suppresses
	 * no one (returned.c)
	 */
	if (token_get(sc->arf->str, sc->arf->len, "Feedback-Type",
	    ev->description, sizeof(ev->description)) == -1)
		ev->description[0] = '\0';
	for (p = ev->description; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	arf_addr(sc, "Original-Rcpt-To", ev->recipient,
	    sizeof(ev->recipient));
	if (arf_addr(sc, "Original-Mail-From", bi->arf_from,
	    sizeof(bi->arf_from)) == -1 && sc->orig_rpath[0] != '\0')
		addr_value_flags(bi->arf_from, sizeof(bi->arf_from),
		    sc->orig_rpath, SAN_ADDR);
}

/* --- automatic replies --------------------------------------------- */

static int
auto_reply(GMimeMessage *msg, const char *subject)
{
	GMimeObject	*o = GMIME_OBJECT(msg);
	const char	*v;
	int		 ooo = ooo_subject(subject, 0);

	if ((v = g_mime_object_get_header(o, "Auto-Submitted")) != NULL &&
	    strncasecmp(v, "no", 2) != 0)
		return (1);
	if (responder_marked(msg))
		return (1);
	if ((v = g_mime_object_get_header(o, "Precedence")) != NULL &&
	    (ci_find(v, "bulk") || ci_find(v, "junk")) && ooo)
		return (1);
	if ((v = g_mime_object_get_header(o, "X-Auto-Response-Suppress"))
	    != NULL && ooo)
		return (1);
	return (ooo);
}

/* --- entry point ---------------------------------------------------- */

/* the message on fd, at most BOUNCE_READ_MAX bytes of it */
static char *
read_all(int fd, size_t *lenp)
{
	struct evbuffer	*b;
	size_t		 len;
	int		 n, err = 0;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	while ((len = evbuffer_get_length(b)) < BOUNCE_READ_MAX) {
		if ((n = evbuffer_read(b, fd, BOUNCE_READ_MAX - len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1)
			err = 1;
		if (n <= 0)
			break;
	}
	return (evbuf_finish(b, err, lenp));
}

/* the returned message, capped, NUL-free and valid UTF-8 */
static char *
mime_copy(const char *raw, size_t len)
{
	char	*tmp, *valid;
	size_t	 i;

	if (len > EVENTS_BOUNCE_MIME_MAX)
		len = EVENTS_BOUNCE_MIME_MAX;
	if ((tmp = malloc(len + 1)) == NULL)
		return (NULL);
	for (i = 0; i < len; i++)
		tmp[i] = raw[i] == '\0' ? '?' : raw[i];
	tmp[len] = '\0';
	valid = g_utf8_make_valid(tmp, len);
	free(tmp);
	/* replacement characters may have made it longer: cut on a boundary */
	if (strlen(valid) > EVENTS_BOUNCE_MIME_MAX) {
		char *cut = g_utf8_find_prev_char(valid,
		    valid + EVENTS_BOUNCE_MIME_MAX + 1);

		*cut = '\0';
	}
	tmp = strdup(valid);
	g_free(valid);
	return (tmp);
}

/* the addr-spec of the first From: mailbox */
static void
from_addr(GMimeMessage *msg, char *out, size_t len)
{
	InternetAddressList	*l;
	InternetAddress		*a;
	const char		*v;

	if ((l = g_mime_message_get_from(msg)) == NULL ||
	    internet_address_list_length(l) < 1)
		return;
	a = internet_address_list_get_address(l, 0);
	if (INTERNET_ADDRESS_IS_MAILBOX(a) &&
	    (v = internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(a))) != NULL)
		sanitize_text(out, len, v, strlen(v), SAN_SQUEEZE);
}

static void
classify(GMimeMessage *msg, const char *raw, size_t rawlen,
    const char *verp_rcpt, struct bounce_info *bi)
{
	struct event_record	*ev = &bi->ev;
	struct scan		 sc;
	struct dsn_scan		 ds;
	GMimeContentType	*ct;
	const char		*subject, *rt;
	int			 dsn, arf;

	memset(&sc, 0, sizeof(sc));
	sc.text = g_string_new(NULL);
	sc.dsn = g_string_new(NULL);
	sc.orig_headers = g_string_new(NULL);
	sc.arf = g_string_new(NULL);
	g_mime_message_foreach(msg, scan_part, &sc);
	if (sc.text->len == 0 && GMIME_IS_PART(g_mime_message_get_mime_part(
	    msg)))
		part_append(g_mime_message_get_mime_part(msg), sc.text,
		    TEXT_MAX);
	subject = g_mime_message_get_subject(msg);

	ct = g_mime_object_get_content_type(g_mime_message_get_mime_part(msg));
	rt = ct != NULL && g_mime_content_type_is_type(ct, "multipart",
	    "report") ? g_mime_content_type_get_parameter(ct, "report-type") :
	    NULL;
	dsn = sc.dsn->len > 0 ||
	    (rt != NULL && strcasecmp(rt, "delivery-status") == 0);
	arf = sc.arf->len > 0 ||
	    (rt != NULL && strcasecmp(rt, "feedback-report") == 0);

	if (arf)
		complaint(&sc, bi);
	else if (dsn && dsn_parse(sc.dsn->str, sc.dsn->len, verp_rcpt, bi,
	    &ds) == 0) {
		strlcpy(bi->format, "dsn", sizeof(bi->format));
		if (strcasecmp(bi->action, "failed") == 0 ||
		    strcasecmp(bi->action, "delayed") == 0) {
			ev->kind = EV_BOUNCE;
			if (ev->description[0] == '\0') {
				rcpt_text(sc.text->str, ev->recipient,
				    ev->description, sizeof(ev->description));
				codes_from_text(ev->description, ev);
			}
			/*
			 * The Action says whether it is over, not the code:
			 * "delayed" is retried (even if it quotes a 5xx),
			 * "failed" is final (even of 4.4.7, a message that
			 * expired in a queue).
			 */
			strlcpy(ev->bounce_type, strcasecmp(bi->action,
			    "delayed") == 0 ? "soft" : "hard",
			    sizeof(ev->bounce_type));
			dsn_more(&sc, &ds, verp_rcpt, bi);
		} else
			ev->kind = EV_BOUNCE_REPLY;	/* delivered, relayed */
	} else if (nonstandard(msg, subject, &sc, verp_rcpt, bi) == 0)
		ev->kind = EV_BOUNCE;
	else if (auto_reply(msg, subject)) {
		ev->kind = EV_AUTO_REPLY;
		strlcpy(bi->format, "auto-reply", sizeof(bi->format));
	} else {
		ev->kind = EV_BOUNCE_REPLY;
		strlcpy(bi->format, "reply", sizeof(bi->format));
	}

	if (ev->kind == EV_BOUNCE) {
		rcpt_stage(sc.text->str, ev->recipient, bi->stage,
		    sizeof(bi->stage));
		/*
		 * a block that is ours by its Original-Recipient: the text
		 * may name only the address it was routed to (a Microsoft
		 * 365 hybrid's user@tenant.mail.onmicrosoft.com)
		 */
		if (bi->stage[0] == '\0' && strcmp(bi->format, "dsn") == 0)
			final_stage(&sc, &ds, ev->recipient, bi);
		strlcpy(ev->bounce_reason, enhanced_reason(ev->extended,
		    ev->description), sizeof(ev->bounce_reason));
		ev->bounce_mime = mime_copy(raw, rawlen);
		ev->async = 1;
		strlcpy(ev->stage, "bounce", sizeof(ev->stage));
	} else if (subject != NULL && ev->kind != EV_COMPLAINT)
		/* decoded (RFC 2047): its letters kept, as the message's */
		sanitize_text(ev->description, sizeof(ev->description), subject,
		    strlen(subject), SAN_SQUEEZE | SAN_UTF8);

	/*
	 * Our own VERP recipient wins over what the report says, unless a
	 * DSN's blocks are about other addresses only (a forwarding target's
	 * refusal): then it is a bounce of that address, not of ours.  The
	 * other formats' recipient is a guess from their text.
	 */
	if (verp_rcpt != NULL && verp_rcpt[0] != '\0') {
		if (ev->kind == EV_BOUNCE && ev->recipient[0] != '\0' &&
		    strcmp(bi->format, "dsn") == 0 &&
		    !same_rcpt(ev->recipient, verp_rcpt))
			bi->other_rcpt = 1;
		else
			strlcpy(ev->recipient, verp_rcpt, sizeof(ev->recipient));
	} else if (ev->recipient[0] == '\0' && ev->kind != EV_BOUNCE &&
	    ev->kind != EV_COMPLAINT)
		from_addr(msg, ev->recipient, sizeof(ev->recipient));
	/* a complaint's subject is the message's (facts_fill) */
	if (subject != NULL && ev->kind != EV_BOUNCE &&
	    ev->kind != EV_COMPLAINT)
		sanitize_text(ev->subject, sizeof(ev->subject), subject,
		    strlen(subject), SAN_SQUEEZE | SAN_UTF8);

	/* the returned message's Message-ID, when it is quoted */
	if (sc.orig_msgid[0] == '\0' && sc.orig_headers->len > 0)
		field_get(sc.orig_headers->str, sc.orig_headers->len,
		    "Message-ID", sc.orig_msgid, sizeof(sc.orig_msgid));
	if (sc.orig_msgid[0] == '\0' && ev->kind == EV_BOUNCE)
		field_get(sc.text->str, sc.text->len, "Message-ID",
		    sc.orig_msgid, sizeof(sc.orig_msgid));
	if (sc.orig_msgid[0] != '\0') {
		addr_value(ev->message_id, sizeof(ev->message_id),
		    sc.orig_msgid);
	}
	g_string_free(sc.text, TRUE);
	g_string_free(sc.dsn, TRUE);
	g_string_free(sc.orig_headers, TRUE);
	g_string_free(sc.arf, TRUE);
}

/*
 * What the returned mail is known by (bounce.h): its own Message-ID and
 * a digest of its body (not of its header section, where our smtpd put
 * a Received: of this delivery); "" without a Message-ID
 */
static void
report_id(GMimeMessage *msg, const char *raw, size_t rawlen, char *out,
    size_t len)
{
	unsigned char	 md[MH_SHA256_LEN];
	char		 mid[256], hex[2 * MH_SHA256_LEN + 1];
	const char	*v;
	size_t		 off;

	out[0] = '\0';
	if ((v = g_mime_message_get_message_id(msg)) == NULL)
		return;
	sanitize_text(mid, sizeof(mid), v, strlen(v), SAN_SQUEEZE);
	if (mid[0] == '\0')
		return;
	off = msghdr_walk(raw, rawlen, NULL, NULL);
	mh_sha256(raw + off, rawlen - off, md);
	mh_hex(hex, md, sizeof(md));
	snprintf(out, len, "<%s> %s", mid, hex);
}

int
bounce_classify(int fd, const char *rcpt, const char *bounce_domain,
    const char *verp_key, struct bounce_info *out)
{
	GMimeStream	*s;
	GMimeParser	*parser;
	GMimeMessage	*msg;
	char		*raw;
	size_t		 len;
	char		 vid[MH_MSGID_LEN], vrcpt[MH_ADDR_MAX];

	memset(out, 0, sizeof(*out));
	if ((raw = read_all(fd, &len)) == NULL)
		return (-1);
	mh_event_init(&out->ev, EV_BOUNCE_REPLY);
	vrcpt[0] = '\0';
	out->verp = VERP_NONE;
	if (rcpt != NULL && bounce_domain != NULL)
		out->verp = verp_decode(rcpt, bounce_domain, verp_key, vid,
		    vrcpt, sizeof(vrcpt));
	/*
	 * Only a return path relayd signed names a message and its
	 * recipient: anyone may write a queue id into another one.
	 */
	if (out->verp == VERP_SIGNED)
		strlcpy(out->ev.queue_id, vid, sizeof(out->ev.queue_id));
	else
		vrcpt[0] = '\0';

	s = g_mime_stream_mem_new_with_buffer(raw, len);
	parser = g_mime_parser_new_with_stream(s);
	addr_guard_parser(parser);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(s);
	if (msg == NULL) {
		strlcpy(out->format, "reply", sizeof(out->format));
		if (vrcpt[0] != '\0')
			strlcpy(out->ev.recipient, vrcpt,
			    sizeof(out->ev.recipient));
	} else {
		classify(msg, raw, len, vrcpt[0] != '\0' ? vrcpt : NULL, out);
		report_id(msg, raw, len, out->report_id,
		    sizeof(out->report_id));
		g_object_unref(msg);
	}
	/* a complaint to the feedback loop's address: the VERP it quotes */
	if (out->ev.kind == EV_COMPLAINT && out->verp == VERP_NONE &&
	    out->arf_from[0] != '\0' && bounce_domain != NULL &&
	    (out->verp = verp_decode(out->arf_from, bounce_domain, verp_key,
	    vid, vrcpt, sizeof(vrcpt))) == VERP_SIGNED) {
		strlcpy(out->ev.queue_id, vid, sizeof(out->ev.queue_id));
		strlcpy(out->ev.recipient, vrcpt, sizeof(out->ev.recipient));
	}
	free(raw);
	return (0);
}

void
bounce_event(const struct bounce_info *bi, size_t i, struct event_record *ev)
{
	const struct bounce_rcpt	*m = &bi->more[i];

	*ev = bi->ev;
	strlcpy(ev->recipient, m->recipient, sizeof(ev->recipient));
	ev->code = m->code;
	strlcpy(ev->extended, m->extended, sizeof(ev->extended));
	strlcpy(ev->description, m->description, sizeof(ev->description));
	strlcpy(ev->bounce_type, m->bounce_type, sizeof(ev->bounce_type));
	strlcpy(ev->bounce_reason, m->bounce_reason,
	    sizeof(ev->bounce_reason));
}

void
bounce_clear(struct bounce_info *bi)
{
	mh_event_clear(&bi->ev);
	free(bi->more);
	bi->more = NULL;
	bi->nmore = 0;
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Mailbox addresses as SMTP takes them (RFC 5321 4.1.2, RFC 6531): the
 * check smtpd makes of MAIL FROM and RCPT TO, and relayd of an address
 * mhctl suppresses, so that what is listed is what a recipient can be.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "mailaddr.h"
#include "sanitize.h"

/* a quoted local part addr_canon() takes, its quotes off: more than the
 * 64 bytes smtpd takes with them (RFC 5321 4.5.3.1.1) */
#define QLOCAL_MAX	256

int
addr_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return (0);
	return (1);
}

/*
 * Printable: no C1 control, no line separator (U+2028, U+2029: a line end
 * to a reader of the JSON, the header or the log the address goes in),
 * no bidi control (U+202E...: an address shown in another order than it
 * has), as sanitize.h defines them.
 */
int
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(p + i, len - i)) == 0 ||
		    utf8_ctl(p + i, n) || utf8_bidi(p + i, n))
			return (0);
		i += n;
	}
	return (1);
}

static int
addr_literal_valid(const char *d)
{
	char		 buf[64];
	unsigned char	 a[16];
	size_t		 len = strlen(d);

	if (len < 3 || len - 2 >= sizeof(buf) || d[len - 1] != ']')
		return (0);
	memcpy(buf, d + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return (inet_pton(AF_INET6, buf + 5, a) == 1);
	return (inet_pton(AF_INET, buf, a) == 1);
}

/*
 * A UTF-8 domain (RFC 6531) is one IDNA makes a domain of (dns.c's
 * check): no A-label that is no U-label's ("xn--esher"), no label of
 * code points IDNA ignores, and its A-labels a valid ASCII domain.
 */
static int
smtp_domain_idna_ok(const char *d)
{
	const unsigned char	*p;
	char			 a[NS_MAXDNAME];

	for (p = (const unsigned char *)d; *p != '\0' && *p < 0x80; p++)
		;
	if (*p == '\0')
		return (1);
	return (dns_domain_ascii(d, a, sizeof(a)) == 0 &&
	    smtp_domain_valid(a, 0));
}

int
smtp_domain_valid(const char *d, int utf8)
{
	const unsigned char	*p;
	size_t			 label = 0, total;

	if (d[0] == '[')
		return (addr_literal_valid(d));
	total = strlen(d);
	if (total == 0 || total > 253)
		return (0);
	for (p = (const unsigned char *)d; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (*p == '-') {
			if (label == 0)
				return (0);
		} else if (*p >= 0x80) {
			if (!utf8)
				return (0);
		} else if (!isalnum(*p))
			return (0);
		if (++label > 63)
			return (0);
	}
	if (label == 0 || p[-1] == '-')
		return (0);
	if (utf8 && !smtp_utf8_valid(d, total))
		return (0);
	return (!utf8 || smtp_domain_idna_ok(d));
}

static int
atext(unsigned char c)
{
	return (isalnum(c) || (c != '\0' && strchr("#$&'*+-/=?^_`{|}~", c)
	    != NULL));
}

/*
 * The end of the quoted string that starts at p (its opening quote): its
 * closing quote, or the NUL if it has none.  A quoted-pair ('\\' and the
 * character after it) is one character, so an escaped quote closes
 * nothing (RFC 5321 4.1.2 quoted-pairSMTP).
 */
const char *
addr_quoted_end(const char *p)
{
	for (p++; *p != '\0' && *p != '"'; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return (p);
}

/*
 * A Quoted-string local part (RFC 5321 4.1.2): qtextSMTP, printable
 * ASCII but '"' and '\\' (and, with SMTPUTF8, UTF-8 the caller has
 * checked), and quoted-pairSMTP, '\\' and a printable ASCII character.
 * A recipient's may not hold '%' or '!', quoted or not: the relay hacks
 * are refused however they are written.  *atp is the index of the '@'
 * after the closing quote.
 */
static int
quoted_local(const char *addr, int sender, size_t *atp)
{
	const unsigned char	*p = (const unsigned char *)addr;
	size_t			 i, end = addr_quoted_end(addr) - addr;

	for (i = 1; i < end; i++) {
		if (p[i] == '\\' && p[++i] >= 0x80)
			return (ADDR_SYNTAX);
		if (p[i] < 0x20 || p[i] == 0x7f)
			return (ADDR_SYNTAX);
		if (!sender && (p[i] == '%' || p[i] == '!'))
			return (ADDR_RELAY);
	}
	/* no closing quote */
	if (p[i] != '"')
		return (ADDR_SYNTAX);
	if (i == 1 || p[i + 1] != '@')
		return (ADDR_SYNTAX);
	if (i + 1 > 64)
		return (ADDR_LENGTH);
	*atp = i + 1;
	return (ADDR_OK);
}

/*
 * is addr an acceptable mailbox?  returns enum addr_err.  '%' and '!'
 * are atext (RFC 5321 4.1.2), but in a recipient they are the old relay
 * hacks (user%host@relay, host!user@relay) that a downstream MTA may
 * route: refused there (ADDR_RELAY), taken in a sender (sender set),
 * which this host never routes by its local part.
 */
static int
addr_valid(const char *addr, int utf8, int sender)
{
	const unsigned char	*p = (const unsigned char *)addr, *at;
	size_t			 len = strlen(addr), i;
	int			 eight = 0, e;

	if (len == 0)
		return (ADDR_EMPTY);
	if (len > 254)
		return (ADDR_LENGTH);
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return (ADDR_SYNTAX);
		if (p[i] >= 0x80)
			eight = 1;
	}
	if (eight && !utf8)
		return (ADDR_8BIT);
	if (eight && !smtp_utf8_valid(addr, len))
		return (ADDR_SYNTAX);
	if (strcasecmp(addr, "postmaster") == 0)
		return (ADDR_OK);
	if (p[0] == '@')
		return (ADDR_ROUTE);
	if (p[0] == '"') {
		if ((e = quoted_local(addr, sender, &i)) != ADDR_OK)
			return (e);
		at = p + i;
	} else {
		for (i = 0; i < len && p[i] != '@'; i++) {
			if (p[i] == '%' || p[i] == '!') {
				if (!sender)
					return (ADDR_RELAY);
			} else if (p[i] == '.') {
				if (i == 0 || p[i - 1] == '.' ||
				    p[i + 1] == '@')
					return (ADDR_SYNTAX);
			} else if (p[i] < 0x80 && !atext(p[i]))
				return (p[i] == ':' ? ADDR_ROUTE : ADDR_SYNTAX);
		}
		if (i == len || i == 0)
			return (ADDR_SYNTAX);
		if (i > 64)
			return (ADDR_LENGTH);
		at = p + i;
	}
	if (!smtp_domain_valid((const char *)at + 1, utf8))
		return (ADDR_SYNTAX);
	return (ADDR_OK);
}

int
smtp_addr_valid(const char *addr, int utf8)
{
	return (addr_valid(addr, utf8, 0));
}

int
smtp_sender_valid(const char *addr, int utf8)
{
	return (addr_valid(addr, utf8, 1));
}

/*
 * The content of the quoted local part whose opening quote is q, without
 * its quoted-pairs' backslashes, into dst (len > 0, truncated to fit);
 * *endp is its closing quote, or the NUL if it has none.
 */
static size_t
quoted_content(char *dst, size_t len, const char *q, const char **endp)
{
	const char	*p, *end = addr_quoted_end(q);
	size_t		 n = 0;

	for (p = q + 1; p < end; p++) {
		/* a '\\' before end escapes the next one (addr_quoted_end) */
		if (*p == '\\' && p + 1 < end)
			p++;
		if (n + 1 < len)
			dst[n++] = *p;
	}
	dst[n] = '\0';
	*endp = end;
	return (n);
}

/*
 * The local part of rcpt without its quotes and quoted-pairs, so that
 * "user"@d is the mailbox user@d (RFC 5321 4.1.2); the rest as it is.
 * authd looks a recipient's route up by it, and the parser keys a
 * route's address by it.
 */
void
addr_unquote(char *dst, size_t len, const char *rcpt)
{
	const char	*end;

	if (*rcpt != '"') {
		strlcpy(dst, rcpt, len);
		return;
	}
	quoted_content(dst, len, rcpt, &end);
	if (*end == '"')
		strlcat(dst, end + 1, len);
}

/* s (n bytes) is a Dot-string: atoms of atext (or UTF-8) between dots */
static int
dot_string(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return (0);
	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (p[i + 1] == '.')
				return (0);
		} else if (p[i] < 0x80 && !atext(p[i]))
			return (0);
	}
	return (1);
}

/*
 * addr in the one form of its mailbox (RFC 5321 4.1.2: a Quoted-string
 * local part is the Dot-string of the same characters when it can be
 * one): "john"@d and "j\\ohn"@d are john@d; a local part that needs
 * quotes has them, with only '"' and '\\' escaped ("john\\ doe"@d is
 * "john doe"@d, and .john@d, which smtpd refuses, ".john"@d).  Case is
 * kept; an address without a local part is as it is.  0, or -1 if it
 * does not fit in dst.  dst and addr may not overlap.
 */
int
addr_canon(char *dst, size_t len, const char *addr)
{
	char		 c[QLOCAL_MAX];
	const char	*rest;
	size_t		 n, i, o = 0;
	int		 r;

	if (len < 3)
		return (-1);
	if (addr[0] == '"') {
		n = quoted_content(c, sizeof(c), addr, &rest);
		if (*rest++ != '"' || rest != strrchr(addr, '@'))
			n = sizeof(c);
	} else if ((rest = strrchr(addr, '@')) != NULL && rest != addr &&
	    (n = rest - addr) < sizeof(c)) {
		memcpy(c, addr, n);
		c[n] = '\0';
	} else
		n = sizeof(c);
	/* no closing quote before the last '@', no local part, too long */
	if (n + 1 >= sizeof(c))
		return (strlcpy(dst, addr, len) < len ? 0 : -1);
	if (dot_string(c, n)) {
		r = snprintf(dst, len, "%s%s", c, rest);
		return (r >= 0 && (size_t)r < len ? 0 : -1);
	}
	dst[o++] = '"';
	for (i = 0; i < n && o + 3 < len; i++) {
		if (c[i] == '"' || c[i] == '\\')
			dst[o++] = '\\';
		dst[o++] = c[i];
	}
	dst[o++] = '"';
	dst[o] = '\0';
	if (i < n)
		return (-1);
	return (strlcat(dst, rest, len) < len ? 0 : -1);
}

/*
 * The key of the mailbox addr names (a duplicate RCPT's): addr_same()'s
 * a and b are the same mailbox when their keys are equal.  Its local
 * part in addr_canon's form ("bob"@d is bob@d), case and all, since
 * only the receiving host knows whether Bob and bob are one mailbox
 * (RFC 5321 2.4), but for postmaster, whose case does not matter (RFC
 * 5321 4.5.1); its domain in lower case.  An address addr_canon cannot
 * read is its own key, marked apart.  -1 if it does not fit.
 */
int
addr_same_key(char *dst, size_t len, const char *addr)
{
	char	*local, *from, *p;

	if (len < 2)
		return (-1);
	if (addr_canon(dst + 1, len - 1, addr) == -1) {
		if (strlcpy(dst + 1, addr, len - 1) >= len - 1)
			return (-1);
		dst[0] = '\1';
		return (0);
	}
	dst[0] = '\2';
	local = dst + 1;
	if ((from = strrchr(local, '@')) == NULL)
		return (0);		/* no domain: as it is */
	if (from - local == 10 && strncasecmp(local, "postmaster", 10) == 0)
		from = local;
	for (p = from; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	return (0);
}

int
addr_same(const char *a, const char *b)
{
	char	 ka[1025], kb[1025];

	if (addr_same_key(ka, sizeof(ka), a) == -1 ||
	    addr_same_key(kb, sizeof(kb), b) == -1)
		return (strcmp(a, b) == 0);
	return (strcmp(ka, kb) == 0);
}

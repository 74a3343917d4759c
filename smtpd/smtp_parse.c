/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * SMTP parsing without sockets: lines, the DATA state machine, commands,
 * paths and ESMTP parameters (the addresses: common/mailaddr.c).
 * Everything here works on bytes handed in by the caller and keeps no
 * global state, so the fuzzer can drive it directly.
 */
#include <sys/types.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "smtp_parse.h"

/*
 * Find the next line.  In text mode only CRLF ends a line; a CR not
 * followed by LF and a LF not preceded by CR are flagged, never treated
 * as line ends (so "\n.\n", "\n.\r\n", "\r.\r" cannot end DATA).  In
 * command mode a bare LF ends the line too (flagged), so the session can
 * answer it instead of waiting.
 */
int
smtp_line_scan(const char *buf, size_t len, size_t max, int mode,
    size_t *linelen, size_t *consumed, int *flags)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 i;
	int			 fl = 0;

	*flags = 0;
	*linelen = *consumed = 0;
	for (i = 0; i < len; i++) {
		if (i + 2 > max)
			return (LINE_LONG);
		switch (p[i]) {
		case '\r':
			if (i + 1 == len)
				return (LINE_MORE);
			if (p[i + 1] == '\n') {
				*linelen = i;
				*consumed = i + 2;
				*flags = fl;
				return (LINE_OK);
			}
			fl |= LN_BARE_CR;
			break;
		case '\n':
			fl |= LN_BARE_LF;
			if (mode == LMODE_CMD) {
				*linelen = i;
				*consumed = i + 1;
				*flags = fl;
				return (LINE_OK);
			}
			break;
		case '\0':
			fl |= LN_NUL;
			break;
		default:
			if (p[i] >= 0x80)
				fl |= LN_8BIT;
			break;
		}
	}
	return (LINE_MORE);
}

/* discard up to the end of an overlong line; 1 when its end was found */
int
smtp_line_skip(const char *buf, size_t len, int mode, size_t *consumed)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n' && (mode == LMODE_CMD ||
		    (i > 0 && buf[i - 1] == '\r'))) {
			*consumed = i + 1;
			return (1);
		}
	}
	/* keep a trailing CR: its LF may come with the next read */
	*consumed = (len > 0 && buf[len - 1] == '\r') ? len - 1 : len;
	return (0);
}

void
data_parser_init(struct data_parser *dp, size_t max,
    void (*out)(void *, const char *, size_t), void *arg)
{
	memset(dp, 0, sizeof(*dp));
	dp->max = max;
	dp->out = out;
	dp->arg = arg;
}

static void
data_emit(struct data_parser *dp, const char *line, size_t len)
{
	dp->size += len;
	if (dp->max != 0 && dp->size > dp->max)
		dp->errors |= DATA_ERR_SIZE;
	if (dp->errors == 0 && dp->out != NULL)
		dp->out(dp->arg, line, len);
}

size_t
data_parser_feed(struct data_parser *dp, const char *buf, size_t len)
{
	const char	*line;
	size_t		 off = 0, ll, c;
	int		 r, fl;

	while (off < len && !dp->done) {
		if (dp->skipping) {
			r = smtp_line_skip(buf + off, len - off, LMODE_TEXT,
			    &c);
			off += c;
			if (!r)
				break;
			dp->skipping = 0;
			continue;
		}
		/* the dot doubled for transparency does not count
		 * (RFC 5321 4.5.3.1.6) */
		r = smtp_line_scan(buf + off, len - off, SMTP_TEXT_MAX +
		    (buf[off] == '.'), LMODE_TEXT, &ll, &c, &fl);
		if (r == LINE_MORE)
			break;
		if (r == LINE_LONG) {
			dp->errors |= DATA_ERR_LONG;
			dp->skipping = 1;
			continue;
		}
		line = buf + off;
		off += c;
		if (fl & (LN_BARE_CR | LN_BARE_LF))
			dp->errors |= DATA_ERR_BARE;
		if (fl & LN_NUL)
			dp->errors |= DATA_ERR_NUL;
		if (fl & LN_8BIT)
			dp->eightbit = 1;
		if (ll == 1 && line[0] == '.') {
			dp->done = 1;
			break;
		}
		if (ll > 0 && line[0] == '.') {
			line++;
			ll--;
		}
		data_emit(dp, line, ll + 2);
	}
	return (off);
}

void
bdat_check(struct bdat_checker *bc, const char *buf, size_t len)
{
	const unsigned char	*p = (const unsigned char *)buf;
	size_t			 i;

	for (i = 0; i < len; i++) {
		if (bc->cr) {
			bc->cr = 0;
			if (p[i] == '\n') {
				bc->linelen = 0;
				continue;
			}
			bc->errors |= DATA_ERR_BARE;
		}
		switch (p[i]) {
		case '\r':
			bc->cr = 1;
			continue;
		case '\n':
			bc->errors |= DATA_ERR_BARE;
			break;
		case '\0':
			bc->errors |= DATA_ERR_NUL;
			break;
		default:
			if (p[i] >= 0x80)
				bc->eightbit = 1;
		}
		if (++bc->linelen > SMTP_TEXT_MAX - 2)
			bc->errors |= DATA_ERR_LONG;
	}
}

void
bdat_check_end(struct bdat_checker *bc)
{
	if (bc->cr)
		bc->errors |= DATA_ERR_BARE;
	bc->cr = 0;
}

void
hops_scan(struct hop_counter *hc, const char *buf, size_t len)
{
	static const char	 name[] = "received:";
	size_t			 i;
	unsigned char		 c;

	for (i = 0; i < len && !hc->body; i++) {
		c = (unsigned char)buf[i];
		if (c == '\r')
			continue;
		if (c == '\n') {
			/* an empty line ends the header section */
			hc->body = hc->col == 0;
			hc->col = 0;
			hc->miss = 0;
			continue;
		}
		if (hc->col < sizeof(name) - 1) {
			if (tolower(c) != name[hc->col])
				hc->miss = 1;
			else if (hc->col == sizeof(name) - 2 && !hc->miss)
				hc->hops++;
		}
		hc->col++;
	}
}

static const struct {
	const char	*name;
	int		 verb;
} verbs[] = {
	{ "HELO", CMD_HELO }, { "EHLO", CMD_EHLO }, { "MAIL", CMD_MAIL },
	{ "RCPT", CMD_RCPT }, { "DATA", CMD_DATA }, { "BDAT", CMD_BDAT },
	{ "RSET", CMD_RSET }, { "NOOP", CMD_NOOP }, { "QUIT", CMD_QUIT },
	{ "HELP", CMD_HELP }, { "VRFY", CMD_VRFY }, { "EXPN", CMD_EXPN },
	{ "STARTTLS", CMD_STARTTLS }, { "AUTH", CMD_AUTH }
};

int
smtp_cmd_parse(char *line, char **args)
{
	size_t	 i, n;

	n = strcspn(line, " ");
	*args = line + n;
	while (**args == ' ')
		(*args)++;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n &&
		    strncasecmp(line, verbs[i].name, n) == 0)
			return (verbs[i].verb);
	return (CMD_UNKNOWN);
}

const char *
smtp_cmd_name(int verb)
{
	size_t	 i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return (verbs[i].name);
	return ("UNKNOWN");
}

/*
 * A source route before the mailbox, "@a,@b:" (A-d-l, RFC 5321 4.1.2):
 * servers must accept its syntax and should ignore it (4.1.1.3, appendix
 * C).  The offset of the mailbox in s, or 0 if the route is malformed.
 */
static size_t
route_skip(const char *s, size_t len, int utf8)
{
	char	 dom[256];
	size_t	 i = 0, d;

	for (;;) {
		if (i >= len || s[i] != '@')
			return (0);
		d = ++i;
		/* an address literal's IPv6 colons are not the route's end */
		if (i < len && s[i] == '[')
			while (i < len && s[i] != ']')
				i++;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i == len || i == d || i - d >= sizeof(dom))
			return (0);
		memcpy(dom, s + d, i - d);
		dom[i - d] = '\0';
		if (!smtp_domain_valid(dom, utf8))
			return (0);
		if (s[i++] == ':')
			return (i);
	}
}

/*
 * "FROM:<addr> params": copy addr, point *params after it.  Returns an
 * enum addr_err; an empty path "<>" gives addr "" and ADDR_OK; a source
 * route is dropped, the mailbox kept.
 */
int
smtp_parse_path(char *args, const char *prefix, char *addr, size_t addrsz,
    int utf8, char **params)
{
	size_t	 plen = strlen(prefix), i, r;
	char	*p, *start;
	int	 quoted = 0;

	*params = NULL;
	addr[0] = '\0';
	if (strncasecmp(args, prefix, plen) != 0)
		return (ADDR_SYNTAX);
	p = args + plen;
	while (*p == ' ')
		p++;
	if (*p != '<')
		return (ADDR_SYNTAX);
	start = ++p;
	for (; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '>' && !quoted)
			break;
	}
	if (*p != '>')
		return (ADDR_SYNTAX);
	i = p - start;
	if (p[1] != '\0' && p[1] != ' ')
		return (ADDR_SYNTAX);
	if (i > 0 && start[0] == '@') {
		if ((r = route_skip(start, i, utf8)) == 0 || r == i)
			return (ADDR_SYNTAX);
		start += r;
		i -= r;
	}
	if (i > 254)
		return (ADDR_LENGTH);
	if (i >= addrsz)
		return (ADDR_LENGTH);
	memcpy(addr, start, i);
	addr[i] = '\0';
	if (memchr(start, '\0', i) != NULL)
		return (ADDR_SYNTAX);
	p++;
	while (*p == ' ')
		p++;
	*params = p;
	return (ADDR_OK);
}

/* RFC 3461 xtext; the result must be printable ASCII.  -1 if not. */
int
smtp_xtext_decode(const char *s, char *dst, size_t n)
{
	size_t	 o = 0;
	int	 c, h, l;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 0x21 || c > 0x7e || c == '=')
			return (-1);
		if (c == '+') {
			if ((h = mh_hexdigit(s[1])) < 0 ||
			    (l = mh_hexdigit(s[2])) < 0)
				return (-1);
			c = h * 16 + l;
			s += 2;
			if (c < 0x20 || c > 0x7e)
				return (-1);
		}
		if (o + 1 >= n)
			return (-1);
		dst[o++] = c;
	}
	dst[o] = '\0';
	return ((int)o);
}

/* next "KEY[=VALUE]" word of a parameter list */
static char *
next_param(char **pp, char **val)
{
	char	*p = *pp, *w, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return (NULL);
	w = p;
	p += strcspn(p, " ");
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	if ((eq = strchr(w, '=')) != NULL) {
		*eq = '\0';
		*val = eq + 1;
	} else
		*val = NULL;
	return (w);
}

int
smtp_mail_params(char *s, struct mail_params *mp, const char **err)
{
	char		*k, *v, xt[SMTP_MAILRCPT_MAX];
	const char	*errstr;
	int		 seen = 0;

	memset(mp, 0, sizeof(*mp));
	mp->size = -1;
	*err = "501 5.5.4 Syntax error in parameters";
	while ((k = next_param(&s, &v)) != NULL) {
		if (strcasecmp(k, "SIZE") == 0 && v != NULL) {
			if (seen & 1 || *v == '\0' ||
			    strspn(v, "0123456789") != strlen(v))
				return (-1);
			mp->size = strtonum(v, 0, INT64_MAX / 2, &errstr);
			if (errstr != NULL) {
				*err = "552 5.3.4 Message size exceeds "
				    "fixed maximum message size";
				return (-1);
			}
			seen |= 1;
		} else if (strcasecmp(k, "BODY") == 0 && v != NULL) {
			if (seen & 2)
				return (-1);
			if (strcasecmp(v, "8BITMIME") == 0)
				mp->body_8bit = 1;
			else if (strcasecmp(v, "7BIT") != 0) {
				*err = "555 5.5.4 Unsupported BODY type";
				return (-1);
			}
			seen |= 2;
		} else if (strcasecmp(k, "SMTPUTF8") == 0 && v == NULL) {
			if (seen & 4)
				return (-1);
			mp->smtputf8 = 1;
			seen |= 4;
		} else if (strcasecmp(k, "RET") == 0 && v != NULL) {
			if (seen & 8)
				return (-1);
			if (strcasecmp(v, "FULL") == 0)
				strlcpy(mp->ret, "FULL", sizeof(mp->ret));
			else if (strcasecmp(v, "HDRS") == 0)
				strlcpy(mp->ret, "HDRS", sizeof(mp->ret));
			else
				return (-1);
			seen |= 8;
		} else if (strcasecmp(k, "ENVID") == 0 && v != NULL) {
			if (seen & 16 || smtp_xtext_decode(v, mp->envid,
			    101) <= 0)
				return (-1);
			seen |= 16;
		} else if (strcasecmp(k, "AUTH") == 0 && v != NULL) {
			/* RFC 4954 5 AUTH=<> or xtext: accepted, not
			 * trusted; once, as Postfix refuses a second */
			if (mp->auth_seen) {
				*err = "503 5.5.4 Multiple AUTH= parameters";
				return (-1);
			}
			if (strcmp(v, "<>") != 0 &&
			    smtp_xtext_decode(v, xt, sizeof(xt)) <= 0)
				return (-1);
			mp->auth_seen = 1;
		} else {
			*err = "555 5.5.4 Unsupported parameter";
			return (-1);
		}
	}
	return (0);
}

static int
notify_parse(char *v, int *notify)
{
	char	*w;

	*notify = 0;
	while ((w = strsep(&v, ",")) != NULL) {
		if (strcasecmp(w, "NEVER") == 0)
			*notify |= DSN_NOTIFY_NEVER;
		else if (strcasecmp(w, "SUCCESS") == 0)
			*notify |= DSN_NOTIFY_SUCCESS;
		else if (strcasecmp(w, "FAILURE") == 0)
			*notify |= DSN_NOTIFY_FAILURE;
		else if (strcasecmp(w, "DELAY") == 0)
			*notify |= DSN_NOTIFY_DELAY;
		else
			return (-1);
	}
	if ((*notify & DSN_NOTIFY_NEVER) && *notify != DSN_NOTIFY_NEVER)
		return (-1);
	return (*notify == 0 ? -1 : 0);
}

/*
 * An ORCPT address of type utf-8 (RFC 6533 3.2): xtext, or unitext with
 * raw UTF-8 (only under SMTPUTF8: utf8), made utf-8-addr-xtext,
 * printable ASCII: a non-ASCII character is \x{HEX}, as a
 * message/delivery-status carries it.  The length of dst's string, -1 if
 * malformed or too long, -2 if raw UTF-8 without utf8.
 */
static int
orcpt_utf8_decode(const char *s, int utf8, char *dst, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 o = 0, k, len;
	uint32_t		 cp;
	char			 one[4];
	int			 w;

	for (; *p != '\0'; p += len) {
		len = 1;
		if (*p < 0x80) {
			one[0] = *p;
			one[1] = p[0] == '+' ? p[1] : '\0';
			one[2] = p[0] == '+' && p[1] != '\0' ? p[2] : '\0';
			one[3] = '\0';
			if (*p == '+')
				len = 3;
			if ((w = smtp_xtext_decode(one, dst + o, n - o)) <= 0)
				return (-1);
			o += w;
			continue;
		}
		if (!utf8)
			return (-2);
		len = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
		if (strnlen((const char *)p, len) < len ||
		    !smtp_utf8_valid((const char *)p, len))
			return (-1);
		cp = *p & (0x7f >> len);
		for (k = 1; k < len; k++)
			cp = (cp << 6) | (p[k] & 0x3f);
		w = snprintf(dst + o, n - o, "\\x{%X}", cp);
		if (w < 0 || (size_t)w >= n - o)
			return (-1);
		o += w;
	}
	return (o > 0 ? (int)o : -1);
}

/* an ORCPT addr-type (RFC 3461 4.2: an atom), lower-cased into t */
static int
orcpt_type(const char *v, char *t, size_t n)
{
	size_t	 i;

	for (i = 0; v[i] != '\0'; i++) {
		if (i + 1 >= n || (!isalnum((unsigned char)v[i]) &&
		    strchr("!#$%&'*+-/=?^_`{|}~", v[i]) == NULL))
			return (-1);
		t[i] = tolower((unsigned char)v[i]);
	}
	t[i] = '\0';
	return (i > 0 ? 0 : -1);
}

int
smtp_rcpt_params(char *s, int utf8, struct rcpt_params *rp,
    const char **err)
{
	char	*k, *v, *semi, dec[MH_ADDR_MAX], type[32];
	int	 w;

	memset(rp, 0, sizeof(*rp));
	*err = "501 5.5.4 Syntax error in parameters";
	while ((k = next_param(&s, &v)) != NULL) {
		if (strcasecmp(k, "NOTIFY") == 0 && v != NULL) {
			if (rp->notify != 0 || notify_parse(v, &rp->notify))
				return (-1);
		} else if (strcasecmp(k, "ORCPT") == 0 && v != NULL) {
			if (rp->orcpt[0] != '\0' ||
			    (semi = strchr(v, ';')) == NULL)
				return (-1);
			*semi = '\0';
			/*
			 * any addr-type is kept (RFC 3461 4.2: x400,
			 * unknown...), its value xtext, printable ASCII;
			 * utf-8's may be raw UTF-8 if the MAIL had SMTPUTF8
			 * (RFC 6533 3: utf-8-addr-unitext, RFC 6531 3.4)
			 */
			if (orcpt_type(v, type, sizeof(type)) == -1)
				return (-1);
			w = strcmp(type, "utf-8") == 0 ?
			    orcpt_utf8_decode(semi + 1, utf8, dec,
			    sizeof(dec)) :
			    smtp_xtext_decode(semi + 1, dec, sizeof(dec));
			if (w == -2)
				*err = "501 5.5.4 ORCPT in raw UTF-8 needs "
				    "SMTPUTF8 on MAIL (RFC 6533)";
			if (w <= 0)
				return (-1);
			w = snprintf(rp->orcpt, sizeof(rp->orcpt), "%s;%s",
			    type, dec);
			if (w < 0 || (size_t)w >= sizeof(rp->orcpt))
				return (-1);
		} else {
			*err = "555 5.5.4 Unsupported parameter";
			return (-1);
		}
	}
	return (0);
}

int
smtp_bdat_args(const char *s, size_t *size, int *last)
{
	char		 num[24];
	const char	*errstr;
	size_t		 n;

	*last = 0;
	n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof(num))
		return (-1);
	memcpy(num, s, n);
	num[n] = '\0';
	*size = strtonum(num, 0, (long long)1 << 40, &errstr);
	if (errstr != NULL)
		return (-1);
	s += n;
	if (*s == '\0')
		return (0);
	/* "BDAT" SP chunk-size [SP end-marker] (RFC 3030 2): "3LAST" is
	 * not a size, and a proxy that reads it so would take what follows
	 * for commands */
	if (*s != ' ')
		return (-1);
	while (*s == ' ')
		s++;
	if (strcasecmp(s, "LAST") != 0)
		return (-1);
	*last = 1;
	return (0);
}

void
smtp_safe(char *dst, size_t n, const char *src)
{
	size_t	 i;

	if (n == 0)
		return;
	for (i = 0; i + 1 < n && src[i] != '\0'; i++)
		dst[i] = ((unsigned char)src[i] >= 0x20 &&
		    (unsigned char)src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

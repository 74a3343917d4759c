/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * A submission request (JSON) becomes a message (apimsg.h).
 *
 * Two forms: fields (from, to, cc, bcc, subject, plain, html, headers,
 * attachments, tags, group, transaction), built here with GMime; or
 * "raw", a whole RFC 5322 message, whose header section is checked and
 * completed (Date, Message-ID) but not rewritten.  Every string that ends
 * in a header is refused when it holds CR or LF (header injection); the
 * checks come first, so nothing is built from a request that fails one.
 */
#include <sys/types.h>

#include <ctype.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "addrguard.h"
#include "apimsg.h"
#include "config.h"
#include "hex.h"
#include "log.h"
#include "mailaddr.h"
#include "msghdr.h"
#include "sanitize.h"

#define HDR_NAME_MAX	76
#define HDR_VALUE_MAX	2048
#define RAW_LINE_MAX	998	/* RFC 5322 2.1.1 */
#define API_PARTS_MAX	1000	/* attachments (inline ones too) a message */
/*
 * What a part adds beside its content, at the least (an empty one is not
 * free): its boundary line (33 bytes with the CRLF before it), the fixed
 * words of Content-Type and Content-Disposition (63), the empty line;
 * its type, file name (in both fields) and content id are counted from
 * the request.  GMime writes more (Content-Transfer-Encoding, folds).
 */
#define PART_OVERHEAD	96

/* headers the API sets itself: not in "headers" */
static const char *const reserved[] = {
	"from", "to", "cc", "bcc", "subject", "date", "message-id",
	"mime-version", "sender", "return-path", "received", NULL
};

int
api_err(struct api_error *e, int status, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;

	e->status = status;
	strlcpy(e->code, code, sizeof(e->code));
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	/*
	 * a message may quote the client's bytes (jansson's "near '...'"
	 * cuts a UTF-8 sequence in two): the JSON answer needs valid UTF-8
	 */
	sanitize_text(e->message, sizeof(e->message), e->message,
	    sizeof(e->message), SAN_LOG);
	return (-1);
}

/*
 * GMime writes a word too long to fold (a subject, header value or name
 * of over 77 bytes without a blank: a link, a token) as an RFC 2047
 * encoded word in us-ascii, through iconv_open("US-ASCII", "UTF-8"); the
 * first iconv_open() of a process reads glibc's gconv configuration from
 * files, which the sandbox refuses (SIGSYS: webd, and with it the
 * daemon, ended).  Opened here, before the sandbox, and kept: both
 * charsets are glibc's own converters, no module is loaded later.
 */
static iconv_t	 ascii_cd = (iconv_t)-1;

void
apimsg_init(void)
{
	g_mime_init();
	if (ascii_cd == (iconv_t)-1 &&
	    (ascii_cd = g_mime_iconv_open("US-ASCII", "UTF-8")) == (iconv_t)-1)
		fatal("iconv_open US-ASCII");
}

void
apimsg_free(struct api_msg *m)
{
	free(m->rcpts);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* out of memory: a temporary failure, the client may try again */
static int
oom(struct api_error *e)
{
	return (api_err(e, 503, "unavailable", "out of memory, try again"));
}

/* a string member: NULL if absent; -1 if there but not a string */
static int
get_str(const json_t *o, const char *name, const char **s,
    struct api_error *e)
{
	json_t	*v;

	*s = NULL;
	if ((v = json_object_get(o, name)) == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v))
		return (api_err(e, 400, "invalid_field",
		    "%s must be a string", name));
	*s = json_string_value(v);
	return (0);
}

/* a header line's text: no CR or LF, bounded */
static int
hdr_text_ok(const char *what, const char *s, size_t max, struct api_error *e)
{
	if (strpbrk(s, "\r\n") != NULL)
		return (api_err(e, 400, "header_injection",
		    "%s contains a line break", what));
	if (strlen(s) > max)
		return (api_err(e, 400, "invalid_field", "%s is too long",
		    what));
	return (0);
}

/*
 * The address's domain (never with a trailing dot: mailaddr.c) is one of
 * the key's, in any case; a key's "example.com." is example.com, as
 * config_check_domain takes it.
 */
static int
domain_allowed(const char *domain, const struct api_limits *lim)
{
	size_t	 i, n;

	if (lim->domains == NULL)
		return (1);
	for (i = 0; lim->domains[i] != NULL; i++) {
		n = strlen(lim->domains[i]);
		if (n > 1 && lim->domains[i][n - 1] == '.')
			n--;
		if (strlen(domain) == n &&
		    strncasecmp(domain, lim->domains[i], n) == 0)
			return (1);
	}
	return (0);
}

/* id-left@id-right, visible ASCII */
static int
msgid_ok(const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e || *p == '<' || *p == '>')
			return (0);
	return (strchr(s, '@') != NULL);
}

/*
 * An addr-spec for the envelope, checked as SMTP checks MAIL FROM and
 * RCPT TO (common/mailaddr.c), so that the API takes what smtpd takes:
 * quoted local parts ("john doe"@example.com) are taken as written, and
 * '%' and '!' (the old relay hacks) only in the sender.  ASCII only: the
 * API has no SMTPUTF8.  GMime hands the addr-spec with its quotes.
 */
static int
addr_spec_check(const char *what, const char *a, int sender,
    struct api_error *e)
{
	const char	*why;
	int		 err;

	if (a == NULL)
		return (api_err(e, 400, "invalid_address",
		    "%s: not a valid address", what));
	err = sender ? smtp_sender_valid(a, 0) : smtp_addr_valid(a, 0);
	if (err == ADDR_OK && strchr(a, '@') == NULL)
		err = ADDR_SYNTAX;	/* a bare postmaster needs a domain */
	switch (err) {
	case ADDR_OK:
		return (0);
	case ADDR_RELAY:
		why = "'%' and '!' are not accepted in a recipient";
		break;
	case ADDR_ROUTE:
		why = "source routes are not accepted";
		break;
	case ADDR_8BIT:
		why = "non-ASCII addresses are not accepted";
		break;
	case ADDR_LENGTH:
		why = "too long";
		break;
	default:
		why = "not a valid address";
		break;
	}
	return (api_err(e, 400, "invalid_address", "%s: %s: %s", what, why,
	    a));
}

/* a Content-ID (RFC 2392): a msg-id, id-left@id-right, of no specials */
static int
cid_ok(const char *s)
{
	const char	*at = strrchr(s, '@');

	return (at != NULL && at != s && at - s <= 64 && msgid_ok(s) &&
	    strpbrk(s, "\"(),;\\") == NULL &&
	    config_check_domain(at + 1) == 0);
}

#define ADDR_SENDER	0x01	/* a sender: '%' and '!' taken */
#define ADDR_STRICT	0x02	/* kept as written: no '@' beside <> */

/*
 * The addresses written in s as another parser counts them: each '@'
 * outside quoted strings and comments, of a mailbox with <> only those
 * inside them (one outside is its display name's) unless strict (a
 * header kept as written: a reader may take "b@y.com <a@x.com>" for
 * b@y.com).  GMime skips what it cannot read: "a@x.com;b@y.com",
 * "a@x.com)b@y.com" and "a@x.com] b@y.com" are one address to it (the
 * first), two to Python's email package; a list whose count is not
 * GMime's is refused.
 */
static size_t
addr_count(const char *s, int strict)
{
	size_t	 n = 0, in = 0, out = 0;
	int	 quote = 0, depth = 0, angle = 0, lt = 0;

	for (;; s++) {
		if (*s == '\0' || (*s == ',' && !quote && !depth && !angle)) {
			n += strict ? in + out : lt ? in : out;
			in = out = 0;
			lt = 0;
			if (*s == '\0')
				return (n);
		} else if (quote || depth) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (quote && *s == '"')
				quote = 0;
			else if (depth && *s == '(')
				depth++;
			else if (depth && *s == ')')
				depth--;
		} else if (*s == '"')
			quote = 1;
		else if (*s == '(')
			depth = 1;
		else if (*s == '<')
			angle = lt = 1;
		else if (*s == '>')
			angle = 0;
		else if (*s == '@' && angle)
			in++;
		else if (*s == '@')
			out++;
	}
}

/*
 * The mailboxes of s (one or a list), parsed by GMime.  Groups, encoded
 * words (GMime would decode them through iconv), anything not an
 * address and text GMime skipped (addr_count) are refused; each
 * addr-spec as addr_spec_check() has it, a sender's (ADDR_SENDER) or a
 * recipient's.
 */
static InternetAddressList *
addr_parse(const char *what, const char *s, int flags, struct api_error *e)
{
	InternetAddressList	*l;
	InternetAddress		*a;
	int			 i, n;

	if (hdr_text_ok(what, s, HDR_VALUE_MAX, e) == -1)
		return (NULL);
	if (strstr(s, "=?") != NULL || !g_utf8_validate(s, -1, NULL)) {
		api_err(e, 400, "invalid_address", "%s: send names as UTF-8, "
		    "not encoded words", what);
		return (NULL);
	}
	if (addr_open_comment(s) != NULL) {
		api_err(e, 400, "invalid_address", "%s: a comment \"(\" that "
		    "is never closed", what);
		return (NULL);
	}
	if ((l = internet_address_list_parse(NULL, s)) == NULL ||
	    (n = internet_address_list_length(l)) == 0) {
		if (l != NULL)
			g_object_unref(l);
		api_err(e, 400, "invalid_address", "%s: not an address", what);
		return (NULL);
	}
	for (i = 0; i < n; i++) {
		a = internet_address_list_get_address(l, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(a)) {
			g_object_unref(l);
			api_err(e, 400, "invalid_address",
			    "%s: not a valid address", what);
			return (NULL);
		}
		if (addr_spec_check(what, internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(a)), flags & ADDR_SENDER,
		    e) == -1) {
			g_object_unref(l);
			return (NULL);
		}
		internet_address_set_charset(a, "utf-8");
	}
	if (addr_count(s, flags & ADDR_STRICT) != (size_t)n) {
		g_object_unref(l);
		api_err(e, 400, "invalid_address", "%s: %s, not one address "
		    "or a list of them separated by ','%s: %s", what,
		    n == 1 ? "text beside the address" : "text between the "
		    "addresses", flags & ADDR_STRICT ? " (a display name with "
		    "'@' quoted)" : "", s);
		return (NULL);
	}
	return (l);
}

static const char *
mbox_addr(InternetAddressList *l, int i)
{
	return (internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
	    internet_address_list_get_address(l, i))));
}

static int
add_rcpts(struct api_msg *m, InternetAddressList *l,
    const struct api_limits *lim, struct api_error *e)
{
	int	 i, n = internet_address_list_length(l);
	void	*p;

	for (i = 0; i < n; i++) {
		if (m->nrcpt >= lim->max_rcpts)
			return (api_err(e, 400, "too_many_recipients",
			    "more than %zu recipients", lim->max_rcpts));
		if ((p = reallocarray(m->rcpts, m->nrcpt + 1,
		    sizeof(*m->rcpts))) == NULL)
			return (oom(e));
		m->rcpts = p;
		strlcpy(m->rcpts[m->nrcpt++], mbox_addr(l, i), MH_ADDR_MAX);
	}
	return (0);
}

/*
 * to, cc or bcc: a string or an array of strings, each one address or a
 * list.  *out gets the mailboxes for the header (NULL for none); the
 * envelope gets every address.
 */
static int
get_rcpts(const json_t *o, const char *name, int required,
    struct api_msg *m, InternetAddressList **out,
    const struct api_limits *lim, struct api_error *e)
{
	json_t			*v, *x;
	InternetAddressList	*all, *l;
	size_t			 i;

	*out = NULL;
	v = json_object_get(o, name);
	if (v == NULL || json_is_null(v) || (json_is_array(v) &&
	    json_array_size(v) == 0) || (json_is_string(v) &&
	    json_string_length(v) == 0)) {
		if (required)
			return (api_err(e, 400, "missing_field",
			    "%s is required", name));
		return (0);
	}
	if (!json_is_string(v) && !json_is_array(v))
		return (api_err(e, 400, "invalid_field",
		    "%s must be a string or an array of strings", name));
	all = internet_address_list_new();
	for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1); i++) {
		x = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_string(x)) {
			g_object_unref(all);
			return (api_err(e, 400, "invalid_field",
			    "%s must hold strings", name));
		}
		if ((l = addr_parse(name, json_string_value(x), 0, e)) ==
		    NULL) {
			g_object_unref(all);
			return (-1);
		}
		if (add_rcpts(m, l, lim, e) == -1) {
			g_object_unref(l);
			g_object_unref(all);
			return (-1);
		}
		internet_address_list_append(all, l);
		g_object_unref(l);
	}
	*out = all;
	return (0);
}

/* the envelope sender, with the key's sender domains */
static InternetAddressList *
get_from(const json_t *o, struct api_msg *m, const struct api_limits *lim,
    struct api_error *e)
{
	InternetAddressList	*l;
	const char		*s, *a;

	if (get_str(o, "from", &s, e) == -1)
		return (NULL);
	if (s == NULL || *s == '\0') {
		api_err(e, 400, "missing_field", "from is required");
		return (NULL);
	}
	if ((l = addr_parse("from", s, ADDR_SENDER, e)) == NULL)
		return (NULL);
	if (internet_address_list_length(l) != 1) {
		g_object_unref(l);
		api_err(e, 400, "invalid_address", "from: one address");
		return (NULL);
	}
	a = mbox_addr(l, 0);
	if (!domain_allowed(strrchr(a, '@') + 1, lim)) {
		g_object_unref(l);
		api_err(e, 403, "forbidden_sender",
		    "this key may not send from that domain");
		return (NULL);
	}
	strlcpy(m->sender, a, sizeof(m->sender));
	return (l);
}

/* tags (string or array), group, transaction: X-Mailhook-* headers */
static int
meta_headers(const json_t *o, GString *h, struct api_error *e)
{
	json_t		*v, *x;
	const char	*s;
	size_t		 i, total = 0;

	v = json_object_get(o, "tags");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) && !json_is_array(v))
			return (api_err(e, 400, "invalid_field",
			    "tags must be a string or an array of strings"));
		for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1);
		    i++) {
			x = json_is_array(v) ? json_array_get(v, i) : v;
			if (!json_is_string(x))
				return (api_err(e, 400, "invalid_field",
				    "tags must hold strings"));
			s = json_string_value(x);
			if (hdr_text_ok("a tag", s, 128, e) == -1)
				return (-1);
			if ((total += strlen(s) + 1) > 500)
				return (api_err(e, 400, "invalid_field",
				    "tags: too many"));
			g_string_append_printf(h, "X-Mailhook-Tag: %s\r\n", s);
		}
	}
	if (get_str(o, "group", &s, e) == -1)
		return (-1);
	if (s != NULL && *s != '\0') {
		if (hdr_text_ok("group", s, 127, e) == -1)
			return (-1);
		g_string_append_printf(h, "X-Mailhook-Group: %s\r\n", s);
	}
	if (get_str(o, "transaction", &s, e) == -1)
		return (-1);
	if (s != NULL && *s != '\0') {
		if (hdr_text_ok("transaction", s, 127, e) == -1)
			return (-1);
		g_string_append_printf(h, "X-Mailhook-Transaction: %s\r\n", s);
	}
	return (0);
}

static void
new_message_id(struct api_msg *m, const struct api_limits *lim)
{
	unsigned char	 r[16];
	char		 hex[2 * sizeof(r) + 1];

	arc4random_buf(r, sizeof(r));
	mh_hex(hex, r, sizeof(r));
	snprintf(m->message_id, sizeof(m->message_id), "%s@%s", hex,
	    lim->hostname != NULL && *lim->hostname ? lim->hostname :
	    "localhost");
}

static int
header_name_ok(const char *n)
{
	const char	*p;
	size_t		 i;

	if (*n == '\0' || strlen(n) > HDR_NAME_MAX)
		return (0);
	for (p = n; *p != '\0'; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			return (0);
	for (i = 0; reserved[i] != NULL; i++)
		if (strcasecmp(n, reserved[i]) == 0)
			return (0);
	return (strncasecmp(n, "content-", 8) != 0 &&
	    strncasecmp(n, "x-mailhook-", 11) != 0);
}

/* "headers": {name: value}; checked before anything is built */
static int
check_headers(const json_t *o, struct api_error *e)
{
	json_t		*h, *v;
	const char	*k;

	if ((h = json_object_get(o, "headers")) == NULL || json_is_null(h))
		return (0);
	if (!json_is_object(h))
		return (api_err(e, 400, "invalid_field",
		    "headers must be an object"));
	json_object_foreach(h, k, v) {
		if (strpbrk(k, "\r\n") != NULL)
			return (api_err(e, 400, "header_injection",
			    "a header name contains a line break"));
		if (!header_name_ok(k))
			return (api_err(e, 400, "invalid_header",
			    "a header name is not allowed or not valid"));
		if (!json_is_string(v))
			return (api_err(e, 400, "invalid_header",
			    "header values must be strings"));
		if (hdr_text_ok("a header value", json_string_value(v),
		    HDR_VALUE_MAX, e) == -1)
			return (-1);
		if (strstr(json_string_value(v), "=?") != NULL)
			return (api_err(e, 400, "invalid_header",
			    "send header values as UTF-8, not encoded words"));
	}
	return (0);
}

static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart		*tp =
				    g_mime_text_part_new_with_subtype(subtype);
	GMimeStream		*st;
	GMimeDataWrapper	*w;
	GMimePart		*p = GMIME_PART(tp);
	GString			*t = g_string_sized_new(strlen(text));
	const char		*c;

	/* CRLF and a lone CR become LF: written as CRLF, no bare CR is sent */
	for (c = text; *c != '\0'; c++)
		if (*c != '\r')
			g_string_append_c(t, *c);
		else if (c[1] != '\n')
			g_string_append_c(t, '\n');
	st = g_mime_stream_mem_new_with_buffer(t->str, t->len);
	g_string_free(t, TRUE);
	w = g_mime_data_wrapper_new_with_stream(st,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(st);
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(p), "charset",
	    "utf-8");
	g_mime_part_set_content_encoding(p,
	    g_mime_part_get_best_content_encoding(p,
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	return (GMIME_OBJECT(p));
}

/* a MIME type: token "/" token */
static int
mime_type_ok(const char *t)
{
	const char	*p, *slash = strchr(t, '/');

	if (slash == NULL || slash == t || slash[1] == '\0' ||
	    strlen(t) > 127)
		return (0);
	for (p = t; *p != '\0'; p++)
		if (p != slash && !isalnum((unsigned char)*p) &&
		    strchr("!#$&-^_.+", *p) == NULL)
			return (0);
	return (1);
}

/* strict base64: the alphabet, padding at the end only */
static guchar *
b64_decode(const char *s, gsize *len)
{
	size_t		 n = strlen(s);
	const char	*eq = strchr(s, '=');

	if (n % 4 != 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/=") != n)
		return (NULL);
	/* "=" only as the last one or two characters */
	if (eq != NULL && (s + n - eq > 2 ||
	    strspn(eq, "=") != (size_t)(s + n - eq)))
		return (NULL);
	if (n == 0) {
		*len = 0;
		return (g_malloc0(1));
	}
	return (g_base64_decode(s, len));
}

/*
 * A multipart or message part may be sent 7bit, 8bit or binary only
 * (RFC 2045 6.4, RFC 2046 5.2.1): not base64, which receivers need not
 * open.  Such an attachment goes as it is, 7bit when it is US-ASCII,
 * 8bit when it has 8-bit bytes (message/partial and message/external-body
 * are 7bit only, RFC 2046 5.2.2, 5.2.3), its CRLF and LF line ends
 * written as CRLF; one that does not fit (a NUL, a CR without LF, a line
 * over 998 bytes) is refused.  A multipart cannot be sent at all:
 * content_type carries no boundary parameter.  message/global and its
 * kin may be base64 (RFC 6532 3.5, RFC 6533): they stay so.  Returns
 * the encoding, with the content's line ends made LF (len updated).
 */
static int
composite(const char *type, guchar *bin, gsize *len, struct api_error *e)
{
	gsize	 i, o = 0, col = 0;
	int	 eight = 0;

	if (strncasecmp(type, "multipart/", 10) == 0)
		return (api_err(e, 400, "invalid_field", "a multipart "
		    "attachment cannot be sent: content_type has no boundary "
		    "parameter; attach its parts, or it as "
		    "application/octet-stream"));
	if (strncasecmp(type, "message/", 8) != 0 ||
	    strncasecmp(type + 8, "global", 6) == 0)
		return (GMIME_CONTENT_ENCODING_BASE64);
	for (i = 0; i < *len; i++) {
		if (bin[i] == '\0')
			return (api_err(e, 400, "invalid_field", "a %s "
			    "attachment is sent unencoded (RFC 2046) and may "
			    "not hold a NUL", type));
		if (bin[i] == '\r' && (i + 1 == *len || bin[i + 1] != '\n'))
			return (api_err(e, 400, "invalid_field", "a %s "
			    "attachment is sent unencoded (RFC 2046) and may "
			    "not hold a CR without LF", type));
		if (bin[i] == '\r')
			continue;
		if (bin[i] == '\n')
			col = 0;
		else if (++col > RAW_LINE_MAX)
			return (api_err(e, 400, "invalid_field", "a %s "
			    "attachment is sent unencoded (RFC 2046) and may "
			    "not have a line over %d bytes", type,
			    RAW_LINE_MAX));
		if (bin[i] & 0x80)
			eight = 1;
		bin[o++] = bin[i];
	}
	*len = o;
	if (eight && (strcasecmp(type, "message/partial") == 0 ||
	    strcasecmp(type, "message/external-body") == 0))
		return (api_err(e, 400, "invalid_field", "a %s attachment "
		    "must be US-ASCII (RFC 2046 5.2)", type));
	return (eight ? GMIME_CONTENT_ENCODING_8BIT :
	    GMIME_CONTENT_ENCODING_7BIT);
}

/* checks an attachment; with parts, also makes it */
static int
attachment(const json_t *a, size_t *total, const struct api_limits *lim,
    GPtrArray *parts, struct api_error *e)
{
	const char	*name, *type, *data, *cid;
	char		 t[128], *sub;
	guchar		*bin;
	gsize		 blen;
	int		 enc;
	GMimePart	*p;
	GMimeStream	*st;
	GMimeDataWrapper *w;
	GMimeContentType *ct;
	GMimeContentDisposition *cd;
	GMimeParamList	*pl;

	if (!json_is_object(a))
		return (api_err(e, 400, "invalid_field",
		    "attachments must hold objects"));
	if (get_str(a, "file_name", &name, e) == -1 ||
	    get_str(a, "content_type", &type, e) == -1 ||
	    get_str(a, "content", &data, e) == -1 ||
	    get_str(a, "content_id", &cid, e) == -1)
		return (-1);
	if (name == NULL || *name == '\0' || data == NULL)
		return (api_err(e, 400, "missing_field",
		    "an attachment needs file_name and content"));
	if (hdr_text_ok("file_name", name, 255, e) == -1 ||
	    (type != NULL && hdr_text_ok("content_type", type, 127, e) == -1) ||
	    (cid != NULL && hdr_text_ok("content_id", cid, 250, e) == -1))
		return (-1);
	if (type == NULL || *type == '\0')
		type = "application/octet-stream";
	if (!mime_type_ok(type))
		return (api_err(e, 400, "invalid_field",
		    "content_type is not a MIME type"));
	if (cid != NULL && !cid_ok(cid))
		return (api_err(e, 400, "invalid_field",
		    "content_id must look like id@domain"));
	*total += strlen(data) / 4 * 3 + PART_OVERHEAD + strlen(type) +
	    2 * strlen(name) + (cid != NULL ? strlen(cid) : 0);
	if (*total > lim->max_size)
		return (api_err(e, 413, "too_large",
		    "the attachments exceed %zu bytes", lim->max_size));
	if ((bin = b64_decode(data, &blen)) == NULL)
		return (api_err(e, 400, "invalid_field",
		    "content is not base64"));
	if ((enc = composite(type, bin, &blen, e)) == -1) {
		g_free(bin);
		return (-1);
	}
	if (parts == NULL) {
		g_free(bin);
		return (0);
	}
	strlcpy(t, type, sizeof(t));
	sub = strchr(t, '/');
	*sub++ = '\0';
	/*
	 * The name parameters get their charset before the header is
	 * encoded (g_mime_part_set_filename would encode at once, choosing
	 * a charset and converting through iconv).
	 */
	ct = g_mime_content_type_new(t, sub);
	pl = g_mime_content_type_get_parameters(ct);
	g_mime_param_list_set_parameter(pl, "name", name);
	g_mime_param_set_charset(g_mime_param_list_get_parameter(pl, "name"),
	    "utf-8");
	cd = g_mime_content_disposition_new();
	g_mime_content_disposition_set_disposition(cd, cid != NULL ?
	    "inline" : "attachment");
	pl = g_mime_content_disposition_get_parameters(cd);
	g_mime_param_list_set_parameter(pl, "filename", name);
	g_mime_param_set_charset(g_mime_param_list_get_parameter(pl,
	    "filename"), "utf-8");
	p = g_mime_part_new();
	g_mime_object_set_content_type(GMIME_OBJECT(p), ct);
	g_mime_object_set_content_disposition(GMIME_OBJECT(p), cd);
	g_object_unref(ct);
	g_object_unref(cd);
	st = g_mime_stream_mem_new_with_buffer((const char *)bin, blen);
	g_free(bin);
	w = g_mime_data_wrapper_new_with_stream(st,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(st);
	if (cid != NULL)
		g_mime_part_set_content_id(p, cid);
	g_mime_part_set_content_encoding(p, enc);
	g_ptr_array_add(parts, p);
	return (0);
}

static int
attachments(const json_t *o, const struct api_limits *lim, GPtrArray *parts,
    struct api_error *e)
{
	json_t	*v;
	size_t	 i, total = 0;

	if ((v = json_object_get(o, "attachments")) == NULL || json_is_null(v))
		return (0);
	if (!json_is_array(v))
		return (api_err(e, 400, "invalid_field",
		    "attachments must be an array"));
	if (json_array_size(v) > API_PARTS_MAX)
		return (api_err(e, 400, "too_many_attachments",
		    "more than %d attachments", API_PARTS_MAX));
	for (i = 0; i < json_array_size(v); i++)
		if (attachment(json_array_get(v, i), &total, lim, parts,
		    e) == -1)
			return (-1);
	return (0);
}

static GMimeObject *
multipart(const char *subtype, GMimeObject *first)
{
	/* not g_mime_multipart_new*(): they read /dev/urandom (a boundary) */
	GMimeMultipart	*mp = g_object_new(GMIME_TYPE_MULTIPART, NULL);
	GMimeContentType *ct = g_mime_content_type_new("multipart", subtype);
	unsigned char	 r[12];
	char		 b[3 + 2 * sizeof(r) + 1];

	g_mime_object_set_content_type(GMIME_OBJECT(mp), ct);
	g_object_unref(ct);
	arc4random_buf(r, sizeof(r));
	strlcpy(b, "=_-", sizeof(b));
	mh_hex(b + 3, r, sizeof(r));
	g_mime_multipart_set_boundary(mp, b);
	g_mime_multipart_add(mp, first);
	g_object_unref(first);
	return (GMIME_OBJECT(mp));
}

static void
add_addrs(GMimeMessage *msg, GMimeAddressType t, InternetAddressList *l)
{
	if (l != NULL)
		internet_address_list_append(g_mime_message_get_addresses(msg,
		    t), l);
}

/* the body: plain, html or both; then the attachments */
static GMimeObject *
body(const char *plain, const char *html, GPtrArray *parts)
{
	GMimeObject	*b;
	guint		 i;

	if (plain != NULL && html != NULL) {
		b = multipart("alternative", text_part("plain", plain));
		g_mime_multipart_add(GMIME_MULTIPART(b), text_part("html",
		    html));
		g_object_unref(g_mime_multipart_get_part(GMIME_MULTIPART(b),
		    1));
	} else
		b = text_part(plain != NULL ? "plain" : "html",
		    plain != NULL ? plain : html);
	if (parts->len == 0)
		return (b);
	b = multipart("mixed", b);
	for (i = 0; i < parts->len; i++) {
		g_mime_multipart_add(GMIME_MULTIPART(b), parts->pdata[i]);
		g_object_unref(parts->pdata[i]);
	}
	g_ptr_array_set_size(parts, 0);
	return (b);
}

static int
serialize(GMimeMessage *msg, const char *meta, struct api_msg *m,
    const struct api_limits *lim, struct api_error *e)
{
	GMimeFormatOptions	*fo = g_mime_format_options_new();
	GMimeStream		*out = g_mime_stream_mem_new();
	GByteArray		*ba;
	size_t			 mlen = strlen(meta);

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, out);
	g_mime_format_options_free(fo);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	if (ba->len + mlen > lim->max_size) {
		g_object_unref(out);
		return (api_err(e, 413, "too_large",
		    "the message exceeds %zu bytes", lim->max_size));
	}
	if ((m->data = malloc(ba->len + mlen)) == NULL) {
		g_object_unref(out);
		return (oom(e));
	}
	memcpy(m->data, meta, mlen);
	memcpy(m->data + mlen, ba->data, ba->len);
	m->len = mlen + ba->len;
	g_object_unref(out);
	return (0);
}

static int
build_fields(const json_t *o, const struct api_limits *lim,
    struct api_msg *m, InternetAddressList *from, InternetAddressList *to,
    InternetAddressList *cc, struct api_error *e)
{
	const char	*subject, *plain, *html, *k;
	GPtrArray	*parts;
	GMimeMessage	*msg;
	GDateTime	*now;
	GString		*meta;
	json_t		*h, *v;
	int		 rv;

	if (get_str(o, "subject", &subject, e) == -1 ||
	    get_str(o, "plain", &plain, e) == -1 ||
	    get_str(o, "html", &html, e) == -1)
		return (-1);
	if (plain == NULL && html == NULL)
		return (api_err(e, 400, "missing_field",
		    "plain or html is required"));
	if (subject != NULL && hdr_text_ok("subject", subject, 998, e) == -1)
		return (-1);
	if (check_headers(o, e) == -1)
		return (-1);
	meta = g_string_new(NULL);
	parts = g_ptr_array_new();
	if (meta_headers(o, meta, e) == -1 ||
	    attachments(o, lim, parts, e) == -1) {
		g_ptr_array_foreach(parts, (GFunc)(void (*)(void))
		    g_object_unref, NULL);
		g_ptr_array_free(parts, TRUE);
		g_string_free(meta, TRUE);
		return (-1);
	}
	msg = g_mime_message_new(TRUE);
	add_addrs(msg, GMIME_ADDRESS_TYPE_FROM, from);
	add_addrs(msg, GMIME_ADDRESS_TYPE_TO, to);
	add_addrs(msg, GMIME_ADDRESS_TYPE_CC, cc);
	if (subject != NULL)
		g_mime_message_set_subject(msg, subject, "utf-8");
	now = g_date_time_new_now_utc();
	g_mime_message_set_date(msg, now);
	g_date_time_unref(now);
	new_message_id(m, lim);
	g_mime_message_set_message_id(msg, m->message_id);
	if ((h = json_object_get(o, "headers")) != NULL && json_is_object(h))
		json_object_foreach(h, k, v)
			g_mime_object_append_header(GMIME_OBJECT(msg), k,
			    json_string_value(v), "utf-8");
	g_mime_message_set_mime_part(msg, body(plain, html, parts));
	g_object_unref(g_mime_message_get_mime_part(msg));
	g_ptr_array_free(parts, TRUE);
	rv = serialize(msg, meta->str, m, lim, e);
	g_object_unref(msg);
	g_string_free(meta, TRUE);
	return (rv);
}

/*
 * The raw form: CRLF lines (a lone LF becomes CRLF, a lone CR is
 * refused), at most 998 bytes a line, a header section with one From:
 * whose domains the key may use; Date and Message-ID added when absent.
 */
static int
raw_lines(const char *raw, GString *out, struct api_error *e)
{
	const char	*p;
	size_t		 col = 0;

	for (p = raw; *p != '\0'; p++) {
		if (*p == '\r' && p[1] != '\n')
			return (api_err(e, 400, "invalid_raw",
			    "a CR without LF in raw"));
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			g_string_append(out, "\r\n");
			col = 0;
			continue;
		}
		if (++col > RAW_LINE_MAX)
			return (api_err(e, 400, "invalid_raw",
			    "a line of raw is longer than %d bytes",
			    RAW_LINE_MAX));
		g_string_append_c(out, *p);
	}
	if (col > 0)
		g_string_append(out, "\r\n");
	return (0);
}

/* a field name: printable US-ASCII but the colon (RFC 5322 3.6.8), so
 * that "From\t:" cannot pass for another field beside From */
static int
field_name_ok(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return (0);
	return (1);
}

/* the header section's fields: From checked, Date and Message-ID seen */
static int
raw_headers(const char *s, int *has_date, int *has_msgid,
    struct api_msg *m, const struct api_limits *lim, struct api_error *e)
{
	const char		*p, *next, *colon, *end;
	char			*v;
	InternetAddressList	*l;
	int			 i, nfrom = 0, nrecv = 0;

	*has_date = *has_msgid = 0;
	if ((end = strstr(s, "\r\n\r\n")) == NULL)
		return (api_err(e, 400, "invalid_raw",
		    "raw has no empty line after its header"));
	for (p = s; p < end + 2; p = next) {
		for (next = p; (next = strstr(next, "\r\n")) != NULL &&
		    next < end && (next[2] == ' ' || next[2] == '\t');
		    next += 2)
			;
		next = next == NULL ? end + 2 : next + 2;
		if ((colon = memchr(p, ':', next - p)) == NULL ||
		    !field_name_ok(p, colon - p))
			return (api_err(e, 400, "invalid_raw",
			    "raw has a header line without a name"));
#define IS(n)	((size_t)(colon - p) == strlen(n) && \
		strncasecmp(p, n, colon - p) == 0)
		if (IS("date"))
			*has_date = 1;
		else if (IS("received"))
			nrecv++;
		else if (IS("message-id")) {
			*has_msgid = 1;
			v = g_strndup(colon + 1, next - colon - 1);
			g_strstrip(v);
			if (*v == '<')
				memmove(v, v + 1, strlen(v));
			v[strcspn(v, ">\r\n")] = '\0';
			if (strlcpy(m->message_id, v, sizeof(m->message_id)) >=
			    sizeof(m->message_id) || !msgid_ok(v)) {
				g_free(v);
				return (api_err(e, 400, "invalid_raw",
				    "raw has a malformed Message-ID"));
			}
			g_free(v);
		} else if (IS("from")) {
			nfrom++;
			v = g_strndup(colon + 1, next - colon - 3);
			g_strdelimit(v, "\r\n", ' ');
			l = addr_parse("the From header", v, ADDR_SENDER |
			    ADDR_STRICT, e);
			g_free(v);
			if (l == NULL)
				return (-1);
			for (i = 0; i < internet_address_list_length(l); i++)
				if (!domain_allowed(strrchr(mbox_addr(l, i),
				    '@') + 1, lim)) {
					g_object_unref(l);
					return (api_err(e, 403,
					    "forbidden_sender", "this key may "
					    "not send from that domain"));
				}
			g_object_unref(l);
		}
#undef IS
	}
	if (nrecv > MSG_HOPS_MAX)
		return (api_err(e, 400, "mail_loop", "raw has more than %d "
		    "Received: fields: a mail loop (RFC 5321 6.3)",
		    MSG_HOPS_MAX));
	if (nfrom != 1)
		return (api_err(e, 400, "invalid_raw",
		    "raw needs one From header"));
	return (0);
}

static int
build_raw(const json_t *o, const char *raw, const struct api_limits *lim,
    struct api_msg *m, struct api_error *e)
{
	GString		*body = g_string_new(NULL), *out;
	GDateTime	*now;
	char		*date;
	int		 has_date, has_msgid;

	if (strlen(raw) > lim->max_size) {
		g_string_free(body, TRUE);
		return (api_err(e, 413, "too_large",
		    "the message exceeds %zu bytes", lim->max_size));
	}
	if (raw_lines(raw, body, e) == -1 ||
	    raw_headers(body->str, &has_date, &has_msgid, m, lim, e) == -1) {
		g_string_free(body, TRUE);
		return (-1);
	}
	out = g_string_new(NULL);
	if (meta_headers(o, out, e) == -1) {
		g_string_free(out, TRUE);
		g_string_free(body, TRUE);
		return (-1);
	}
	if (!has_date) {
		now = g_date_time_new_now_utc();
		date = g_mime_utils_header_format_date(now);
		g_string_append_printf(out, "Date: %s\r\n", date);
		g_free(date);
		g_date_time_unref(now);
	}
	if (!has_msgid || m->message_id[0] == '\0') {
		new_message_id(m, lim);
		g_string_append_printf(out, "Message-ID: <%s>\r\n",
		    m->message_id);
	}
	g_string_append_len(out, body->str, body->len);
	g_string_free(body, TRUE);
	if (out->len > lim->max_size) {
		g_string_free(out, TRUE);
		return (api_err(e, 413, "too_large",
		    "the message exceeds %zu bytes", lim->max_size));
	}
	m->len = out->len;
	if ((m->data = malloc(out->len)) == NULL) {
		g_string_free(out, TRUE);
		return (oom(e));
	}
	memcpy(m->data, out->str, out->len);
	g_string_free(out, TRUE);
	return (0);
}

int
apimsg_build(const json_t *o, const struct api_limits *lim,
    struct api_msg *m, struct api_error *e)
{
	InternetAddressList	*from = NULL, *to = NULL, *cc = NULL,
				*bcc = NULL;
	const char		*raw;
	int			 rv = -1;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(o))
		return (api_err(e, 400, "invalid_json",
		    "the body must be a JSON object"));
	if (get_str(o, "raw", &raw, e) == -1 ||
	    (from = get_from(o, m, lim, e)) == NULL ||
	    get_rcpts(o, "to", 1, m, &to, lim, e) == -1 ||
	    get_rcpts(o, "cc", 0, m, &cc, lim, e) == -1 ||
	    get_rcpts(o, "bcc", 0, m, &bcc, lim, e) == -1)
		goto done;
	if (raw != NULL)
		rv = build_raw(o, raw, lim, m, e);
	else
		rv = build_fields(o, lim, m, from, to, cc, e);
 done:
	if (from != NULL)
		g_object_unref(from);
	if (to != NULL)
		g_object_unref(to);
	if (cc != NULL)
		g_object_unref(cc);
	if (bcc != NULL)
		g_object_unref(bcc);
	if (rv == -1)
		apimsg_free(m);
	return (rv);
}

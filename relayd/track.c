/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking at submission (track.h).
 *
 * The message is parsed once with GMime, which gives each part's body as
 * a byte range of the submitted message (the parser's substreams) and its
 * decoded content; a multipart message like one of the last few takes
 * their ranges instead (the kept layouts, below).  Each text/html part is
 * planned once (gumbo; html_rewrite.c keeps the last plans too); each
 * recipient's copy is then the submitted bytes with those ranges replaced
 * by the rewritten HTML, encoded again with the part's own transfer
 * encoding (GMime's encoder, CRLF where the message has CRLF), and the
 * unsubscribe headers added at the end of the header section.
 *
 * A part sent as 7bit, 8bit or without a transfer encoding whose lines
 * would be over 998 octets once its links are tracked (RFC 5322 2.1.1)
 * is sent quoted-printable instead: its Content-Transfer-Encoding field
 * is replaced, or added at the end of its header.  A List-Unsubscribe
 * (and List-Unsubscribe-Post) of the submitter's is replaced by ours
 * when ours is added: RFC 8058 wants one HTTPS URI, and ours is the one
 * that suppresses the recipient at the relay.  The edits (GMime's header
 * offsets, each field to its last folded line) are applied in order of
 * position.  A tracked copy submitted again gets the new recipient's
 * tokens: its pixel dropped (img_cb), its click and unsubscribe links
 * made again from what their tokens hold (link_again).
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <openssl/crypto.h>

#include "addrguard.h"
#include "hex.h"
#include "html_rewrite.h"
#include "kept.h"
#include "log.h"
#include "token.h"
#include "track.h"
#include "uri.h"

#define MAC_CONTEXT	"mailhook-unsubscribe"
#define LINE_MAX_OCTETS	998	/* RFC 5322 2.1.1, without the CRLF */
#define DROPS_MAX	8

struct track_part {
	size_t			 start, end;	/* the body as submitted */
	size_t			 cte_start, cte_end; /* its CTE field, or the
						 * header's end twice */
	GMimeContentEncoding	 enc;
	char			*html;		/* decoded */
	size_t			 len;
	struct html_plan	*plan;
};

/* where a text/html part is: byte offsets, from the message's start or
 * (a kept layout's) from its body's */
struct part_loc {
	size_t			 start, end;
	size_t			 cte_start, cte_end;
	GMimeContentEncoding	 enc;		/* its transfer encoding */
	GMimeContentEncoding	 decode;	/* its content's, to decode */
	int			 legacy;	/* a charset other than UTF-8
						   and US-ASCII */
	int			 sniff;		/* no charset parameter: the
						   HTML's own (part_charset) */
};

struct track_msg {
	const struct tracking	*t;
	struct token_key	 key;
	struct token_keys	 keys;		/* key, and the previous
						   one: a copy's tokens */
	char			 queue_id[MH_MSGID_LEN];
	char			 domain[MH_NAME_MAX];
	char			 bounce[MH_NAME_MAX];
	const char		*buf;
	size_t			 len;
	size_t			 hdr_end;	/* where the blank line
						   starts (len: none) */
	int			 crlf;
	int			 unsub;		/* add List-Unsubscribe */
	size_t			 drop[DROPS_MAX][2]; /* the submitter's */
	size_t			 ndrop;
	struct track_part	*parts;
	size_t			 nparts;
	const char		*rcpt;		/* while rendering */
	size_t			 links;		/* and the links of the
						   parts before */
};

/* where a part's content is: byte offsets, as part_loc's */
struct leaf {
	size_t			 start, end;
};

/* what GMime's walk over the parts finds */
struct track_scan {
	struct track_msg	*m;
	struct part_loc		*locs;
	size_t			 nlocs;
	struct leaf		*leaves;	/* every part's content */
	size_t			 nleaves;
};

int
track_key(const struct tracking *t, struct token_key *k, int prev)
{
	const char	*s = prev ? t->prev_secret : t->secret;

	if (s[0] == '\0')
		return (-1);
	return (token_key_from_secret(k, s));
}

void
track_mailto_mac(const struct token_key *k, const char *rcpt,
    const char *domain, char *out)
{
	unsigned char	 md[TOKEN_HMAC_LEN];
	char		 msg[sizeof(MAC_CONTEXT) + MH_ADDR_MAX + MH_NAME_MAX];
	size_t		 n = 0;
	const char	*s;

	memcpy(msg, MAC_CONTEXT, sizeof(MAC_CONTEXT));	/* with its NUL */
	n = sizeof(MAC_CONTEXT);
	for (s = rcpt; *s != '\0' && n < sizeof(msg) - MH_NAME_MAX - 1; s++)
		msg[n++] = tolower((unsigned char)*s);
	msg[n++] = '\0';
	for (s = domain; *s != '\0' && n < sizeof(msg) - 1; s++)
		msg[n++] = tolower((unsigned char)*s);
	token_hmac(k, msg, n, md);
	mh_hex(out, md, TRACK_MAC_HEX / 2);
	explicit_bzero(md, sizeof(md));
}

/* the length of a BATV tag-val at p, up to its '=': 0 if none */
static size_t
batv_tag(const char *p, const char *end)
{
	const char	*s;

	for (s = p; s < end && isalnum((unsigned char)*s); s++)
		;
	return (s > p && s - p <= 64 && s < end && *s == '=' ? s - p : 0);
}

/*
 * The mailbox of a BATV-signed sender in out: "prvs=TAG=user@example.com"
 * (draft-levine-smtp-batv; Microsoft's "msprvs1=TAG=..."), or the older
 * drafts' "user=prvs=TAG@example.com".  -1 if sender is not one.
 */
static int
batv_mailbox(const char *sender, char *out, size_t len)
{
	static const char	*types[] = { "prvs=", "msprvs1=" };
	const char		*at = strrchr(sender, '@'), *p;
	size_t			 i, n, tl;
	int			 w;

	if (at == NULL)
		return (-1);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		if (strncasecmp(sender, types[i], n) != 0 ||
		    (tl = batv_tag(sender + n, at)) == 0 ||
		    sender + n + tl + 1 >= at)
			continue;
		w = snprintf(out, len, "%s", sender + n + tl + 1);
		return (w < 0 || (size_t)w >= len ? -1 : 0);
	}
	/* user=prvs=TAG@domain: the tag runs to the '@' */
	for (p = sender; p + 6 < at; p++) {
		if (strncasecmp(p, "=prvs=", 6) != 0)
			continue;
		for (tl = 0; p + 6 + tl < at &&
		    isalnum((unsigned char)p[6 + tl]); tl++)
			;
		if (p == sender || tl == 0 || tl > 64 || p + 6 + tl != at)
			return (-1);
		w = snprintf(out, len, "%.*s%s", (int)(p - sender), sender, at);
		return (w < 0 || (size_t)w >= len ? -1 : 0);
	}
	return (-1);
}

/* whether got is the MAC of (addr, a tracked domain): that domain */
static int
mailto_mac_of(const struct config *conf, const char *got, const char *addr,
    char *domain, size_t len)
{
	const struct tracking	*t;
	struct token_key	 k;
	char			 want[TRACK_MAC_HEX + 1];
	int			 prev;

	TAILQ_FOREACH(t, &conf->trackings, entry) {
		if (!t->unsubscribe)
			continue;
		for (prev = 0; prev < 2; prev++) {
			if (track_key(t, &k, prev) == -1)
				continue;
			track_mailto_mac(&k, addr, t->domain, want);
			explicit_bzero(&k, sizeof(k));
			if (CRYPTO_memcmp(want, got, TRACK_MAC_HEX) == 0) {
				strlcpy(domain, t->domain, len);
				return (1);
			}
		}
	}
	return (0);
}

int
track_mailto_check(const struct config *conf, const char *local,
    const char *sender, char *addr, size_t alen, char *domain, size_t len)
{
	const char	*mac;
	char		 got[TRACK_MAC_HEX], box[MH_ADDR_MAX];
	size_t		 plen = strlen(TRACK_MAILTO_PREFIX), i;

	if (strncasecmp(local, TRACK_MAILTO_PREFIX, plen) != 0)
		return (0);
	mac = local + plen;
	if (strlen(mac) != TRACK_MAC_HEX || sender == NULL || sender[0] == '\0')
		return (-1);
	/* lower case, as made; compared in constant time */
	for (i = 0; i < TRACK_MAC_HEX; i++) {
		if (!isxdigit((unsigned char)mac[i]))
			return (-1);
		got[i] = tolower((unsigned char)mac[i]);
	}
	if (mailto_mac_of(conf, got, sender, domain, len)) {
		strlcpy(addr, sender, alen);
		return (1);
	}
	/* a BATV-signed sender is the same mailbox */
	if (batv_mailbox(sender, box, sizeof(box)) == 0 &&
	    mailto_mac_of(conf, got, box, domain, len)) {
		strlcpy(addr, box, alen);
		return (1);
	}
	/* a forwarder's SRS address: not the recipient's own */
	if (strncasecmp(sender, "SRS0=", 5) == 0 ||
	    strncasecmp(sender, "SRS1=", 5) == 0)
		return (-2);
	return (-1);
}

/*
 * buf is header fields only, each line ended: a name of printable ASCII
 * and a colon, or a folded line after one
 */
static int
fields_only(const char *buf, size_t len)
{
	const char	*nl;
	size_t		 off, n;

	for (off = 0; off < len; off = nl - buf + 1) {
		if ((nl = memchr(buf + off, '\n', len - off)) == NULL)
			return (0);
		if (buf[off] == ' ' || buf[off] == '\t') {
			if (off == 0)
				return (0);
			continue;
		}
		for (n = off; n < (size_t)(nl - buf) && buf[n] > ' ' &&
		    buf[n] < 0x7f && buf[n] != ':'; n++)
			;
		if (n == off || n == (size_t)(nl - buf) || buf[n] != ':')
			return (0);
	}
	return (len > 0);
}

/*
 * where the header section ends (the blank line), or -1; a message that
 * is a header section and no blank line (RFC 5322 3.5: the body is
 * optional) ends there
 */
static ssize_t
header_end(const char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n' && i + 1 < len &&
		    (buf[i + 1] == '\n' || (buf[i + 1] == '\r' &&
		    i + 2 < len && buf[i + 2] == '\n')))
			return (i + 1);
	}
	return (fields_only(buf, len) ? (ssize_t)len : -1);
}

/* the end of the header field at off: after its last folded line */
static size_t
field_end(const char *buf, size_t len, size_t off)
{
	const char	*nl;

	while (off < len && (nl = memchr(buf + off, '\n', len - off)) != NULL) {
		off = nl - buf + 1;
		if (off >= len || (buf[off] != ' ' && buf[off] != '\t'))
			return (off);
	}
	return (len);
}

/* where the first field name is in obj's header, its range; 0 if none */
static int
field_range(struct track_msg *m, GMimeObject *obj, const char *name,
    size_t *start, size_t *end)
{
	GMimeHeaderList	*l = g_mime_object_get_header_list(obj);
	GMimeHeader	*h;
	gint64		 off;
	int		 i, n;

	if (l == NULL)
		return (0);
	n = g_mime_header_list_get_count(l);
	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(l, i);
		if (strcasecmp(g_mime_header_get_name(h), name) != 0)
			continue;
		off = g_mime_header_get_offset(h);
		if (off < 0 || off >= (gint64)m->len)
			return (0);
		*start = off;
		*end = field_end(m->buf, m->len, off);
		return (1);
	}
	return (0);
}

/*
 * The next field of the message's own header section at *off: its name
 * (without the colon and the blanks before it) in [*off, *name_end), the
 * field to its last folded line in [*off, *end).  0 at the end of the
 * section or at a line that is no field.
 */
static int
header_field(const struct track_msg *m, size_t *off, size_t *name_end,
    size_t *end)
{
	const char	*colon;
	size_t		 n;

	if (*off >= m->hdr_end || m->buf[*off] == ' ' ||
	    m->buf[*off] == '\t')
		return (0);
	if ((colon = memchr(m->buf + *off, ':', m->hdr_end - *off)) == NULL)
		return (0);
	n = colon - m->buf;
	if (memchr(m->buf + *off, '\n', n - *off) != NULL)
		return (0);
	while (n > *off && (m->buf[n - 1] == ' ' || m->buf[n - 1] == '\t'))
		n--;
	*name_end = n;
	*end = field_end(m->buf, m->hdr_end, *off);
	return (1);
}

static int
field_is(const struct track_msg *m, size_t off, size_t name_end,
    const char *name, int prefix)
{
	size_t	 n = strlen(name);

	return ((prefix ? name_end - off >= n : name_end - off == n) &&
	    strncasecmp(m->buf + off, name, n) == 0);
}

/*
 * A part's body decoded (NUL-terminated, malloc'd): GMime's decoder run
 * once over the submitted bytes, what the data wrapper writes through a
 * filter stream, without the streams and the filter.  Encodings other
 * than base64 and quoted-printable are the bytes as they are (uuencode
 * is not tracked).
 */
static char *
part_decode(const char *raw, size_t len, GMimeContentEncoding enc,
    size_t *outlen)
{
	GMimeEncoding	 st;
	char		*out;

	if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		if ((out = malloc(len + 1)) == NULL)
			return (NULL);
		memcpy(out, raw, len);
		out[len] = '\0';
		*outlen = len;
		return (out);
	}
	g_mime_encoding_init_decode(&st, enc);
	if ((out = malloc(g_mime_encoding_outlen(&st, len) + 1)) == NULL)
		return (NULL);
	*outlen = g_mime_encoding_step(&st, raw, len, out);
	out[*outlen] = '\0';
	return (out);
}

static int	 charset_not_ascii(const char *);
static int	 charset_legacy(const char *);

/*
 * The charset of a part whose Content-Type has none, as a browser finds
 * it in the document: a byte order mark, else a <meta> naming one
 * (html_meta_charset).  0 and *legacy set (charset_legacy) if it can be
 * tracked, -1 if not (UTF-16 and the like: charset_not_ascii).
 */
static int
part_charset(const struct track_msg *m, const char *html, size_t len,
    int *legacy)
{
	char	 cs[64], safe[64];

	*legacy = 0;
	if (len >= 2 && ((html[0] == '\xfe' && html[1] == '\xff') ||
	    (html[0] == '\xff' && html[1] == '\xfe'))) {
		log_debug("%s: an HTML part in UTF-16 (its byte order mark) "
		    "goes as submitted", m->queue_id);
		return (-1);
	}
	if ((len >= 3 && memcmp(html, "\xef\xbb\xbf", 3) == 0) ||
	    !html_meta_charset(html, len, cs, sizeof(cs)))
		return (0);
	if (charset_not_ascii(cs)) {
		log_debug("%s: an HTML part in charset %s (its meta) goes as "
		    "submitted", m->queue_id,
		    log_sanitize(safe, sizeof(safe), cs));
		return (-1);
	}
	*legacy = charset_legacy(cs);
	return (0);
}

/*
 * A part with no link or image of this block's in it (none of "/o/",
 * "/c/", "/u/"): nothing to do when opens and clicks are off.  A URL
 * of ours written with entities for its slashes is not found.
 */
static int
none_ours(const char *html, size_t len)
{
	return (memmem(html, len, "/o/", 3) == NULL &&
	    memmem(html, len, "/c/", 3) == NULL &&
	    memmem(html, len, "/u/", 3) == NULL);
}

/*
 * The part at loc (offsets from base) decoded and planned, if it can be.
 * With opens and clicks off, only one that may hold a tracked copy's
 * pixel or links (none_ours): those name the first recipient.
 */
static void
part_load(struct track_msg *m, const struct part_loc *loc, size_t base)
{
	struct track_part	*p, *np;
	int			 legacy = loc->legacy;

	if ((np = reallocarray(m->parts, m->nparts + 1, sizeof(*np))) == NULL)
		return;
	m->parts = np;
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->start = loc->start + base;
	p->end = loc->end + base;
	p->cte_start = loc->cte_start + base;
	p->cte_end = loc->cte_end + base;
	p->enc = loc->enc;
	if ((p->html = part_decode(m->buf + p->start, p->end - p->start,
	    loc->decode, &p->len)) != NULL && p->len > HTML_REWRITE_MAX)
		log_info("msgid=%s tracking: an HTML part of %zu bytes goes "
		    "as submitted (over %d MiB)", m->queue_id, p->len,
		    HTML_REWRITE_MAX / (1024 * 1024));
	else if (p->html != NULL && !m->t->opens && !m->t->clicks &&
	    none_ours(p->html, p->len))
		;
	else if (p->html != NULL && (!loc->sniff ||
	    part_charset(m, p->html, p->len, &legacy) == 0))
		p->plan = html_plan_new(p->html, p->len, legacy);
	if (p->plan == NULL) {
		free(p->html);
		return;
	}
	if (m->t->opens && html_plan_pixel_offset(p->plan) == HTML_PIXEL_NONE)
		log_debug("%s: no pixel in an HTML part that ends inside a "
		    "tag, a comment or a text element", m->queue_id);
	m->nparts++;
}

/*
 * UTF-8 by one of its labels (WHATWG Encoding: "unicode-1-1-utf-8" and
 * the like, not UTF-16 although they start with "unicode")
 */
static int
charset_utf8(const char *cs)
{
	static const char *const utf8[] = {
		"utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8",
		"unicode20utf8", "x-unicode20utf8", NULL
	};
	size_t	 i;

	for (i = 0; cs != NULL && utf8[i] != NULL; i++)
		if (strcasecmp(cs, utf8[i]) == 0)
			return (1);
	return (0);
}

/*
 * A charset in which ASCII text is not ASCII bytes (UTF-16 and -32, UCS-2
 * and -4, their ISO 10646 names such as ISO-10646-UCS-2, a label of
 * UTF-16LE to browsers, UTF-7): a pixel or a link of ASCII bytes would
 * corrupt the part, and gumbo could not read it; such a part is not
 * tracked.  1 if so; UTF-8's labels that start with "unicode" are not.
 */
static int
charset_not_ascii(const char *cs)
{
	static const char *const wide[] = {
		"utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2",
		"ucs-4", "ucs4", "utf-7", "utf7", "unicode", "csunicode",
		"iso-10646", "csucs4", NULL
	};
	size_t	 i;

	if (charset_utf8(cs))
		return (0);
	for (i = 0; cs != NULL && wide[i] != NULL; i++)
		if (strncasecmp(cs, wide[i], strlen(wide[i])) == 0)
			return (1);
	return (0);
}

/* a charset other than UTF-8 and US-ASCII (html_plan_new's legacy) */
static int
charset_legacy(const char *cs)
{
	return (cs != NULL && !charset_utf8(cs) &&
	    strcasecmp(cs, "us-ascii") != 0 && strcasecmp(cs, "ascii") != 0);
}

/* where part's content is in the message, if it is where GMime says */
static int
part_bounds(const struct track_msg *m, GMimePart *part,
    GMimeDataWrapper **wp, size_t *startp, size_t *endp)
{
	GMimeDataWrapper	*w;
	GMimeStream		*s;
	gint64			 start, end;

	if ((w = g_mime_part_get_content(part)) == NULL ||
	    (s = g_mime_data_wrapper_get_stream(w)) == NULL)
		return (-1);
	start = s->bound_start;
	end = s->bound_end == -1 ? (gint64)m->len : s->bound_end;
	if (start < (gint64)m->hdr_end || end < start || end > (gint64)m->len)
		return (-1);
	*wp = w;
	*startp = start;
	*endp = end;
	return (0);
}

/* a text/html part GMime found: where it is, if it is where it says */
static void
part_locate(struct track_scan *sc, GMimePart *part, const char *charset)
{
	struct track_msg	*m = sc->m;
	GMimeDataWrapper	*w;
	struct part_loc		*loc, *nl;
	size_t			 start, end;

	if (part_bounds(m, part, &w, &start, &end) == -1 ||
	    (sc->nlocs > 0 && start < sc->locs[sc->nlocs - 1].end))
		return;
	if ((nl = reallocarray(sc->locs, sc->nlocs + 1, sizeof(*nl))) == NULL)
		return;
	sc->locs = nl;
	loc = &sc->locs[sc->nlocs];
	loc->start = start;
	loc->end = end;
	/* a new CTE field goes where the blank line before the body is */
	loc->cte_start = loc->cte_end = start >= 2 &&
	    m->buf[start - 2] == '\r' ? start - 2 : start - 1;
	if (!field_range(m, GMIME_OBJECT(part), "Content-Transfer-Encoding",
	    &loc->cte_start, &loc->cte_end) &&
	    (loc->cte_start == 0 || m->buf[loc->cte_start - 1] != '\n'))
		return;		/* no blank line found where expected */
	loc->enc = g_mime_part_get_content_encoding(part);
	loc->decode = g_mime_data_wrapper_get_encoding(w);
	loc->legacy = charset_legacy(charset);
	loc->sniff = charset == NULL;
	sc->nlocs++;
}

static void
part_cb(GMimeObject *obj, struct track_scan *sc)
{
	GMimeContentDisposition		*d;
	GMimeContentEncoding		 enc;
	GMimeContentType		*ct;
	const char			*cs;

	if (!GMIME_IS_PART(obj) || (ct = g_mime_object_get_content_type(
	    obj)) == NULL || !g_mime_content_type_is_type(ct, "text", "html"))
		return;
	cs = g_mime_content_type_get_parameter(ct, "charset");
	if (charset_not_ascii(cs))
		return;
	if ((d = g_mime_object_get_content_disposition(obj)) != NULL &&
	    g_mime_content_disposition_is_attachment(d))
		return;
	enc = g_mime_part_get_content_encoding(GMIME_PART(obj));
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return;
	part_locate(sc, GMIME_PART(obj), cs);
}

/* the content of a part that GMime does not parse further, in order */
static void
leaf_add(struct track_scan *sc, GMimeObject *obj)
{
	GMimeDataWrapper	*w;
	struct leaf		*nl;
	size_t			 start, end;

	if (!GMIME_IS_PART(obj) || part_bounds(sc->m, GMIME_PART(obj), &w,
	    &start, &end) == -1 || (sc->nleaves > 0 &&
	    start < sc->leaves[sc->nleaves - 1].end))
		return;
	if ((nl = reallocarray(sc->leaves, sc->nleaves + 1,
	    sizeof(*nl))) == NULL)
		return;
	sc->leaves = nl;
	sc->leaves[sc->nleaves].start = start;
	sc->leaves[sc->nleaves].end = end;
	sc->nleaves++;
}

/*
 * The parts in order, as g_mime_message_foreach walks them, but not
 * into a multipart/signed (S/MIME, PGP/MIME: RFC 1847): its content is
 * what the signature covers, and a byte changed in it breaks the
 * signature; the part goes as submitted.
 */
static void
part_walk(GMimeObject *obj, struct track_scan *sc)
{
	GMimeMultipart	*mp;
	int		 i, n;

	if (obj == NULL)
		return;
	if (GMIME_IS_MULTIPART_SIGNED(obj)) {
		log_info("msgid=%s tracking: a signed part (multipart/signed) "
		    "goes as submitted", sc->m->queue_id);
		return;
	}
	if (!GMIME_IS_MULTIPART(obj)) {
		leaf_add(sc, obj);
		part_cb(obj, sc);
		return;
	}
	mp = GMIME_MULTIPART(obj);
	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++)
		part_walk(g_mime_multipart_get_part(mp, i), sc);
}

/*
 * The next field of the header section from *off, past lines that are
 * no field (header_field); 0 at the section's end.
 */
static int
next_field(const struct track_msg *m, size_t *off, size_t *name_end,
    size_t *end)
{
	const char	*nl;

	while (*off < m->hdr_end) {
		if (header_field(m, off, name_end, end))
			return (1);
		nl = memchr(m->buf + *off, '\n', m->hdr_end - *off);
		*off = nl != NULL ? (size_t)(nl - m->buf) + 1 : m->hdr_end;
	}
	return (0);
}

/*
 * A DKIM-Signature, ARC-Seal or ARC-Message-Signature field in the
 * submitted header: the submitter signed or sealed the message (ours
 * comes after tracking), and any byte tracking changed would break that
 * signature (RFC 8617 4.1.2: an ARC-Message-Signature covers the body as
 * DKIM's does).  The first such field's name, or NULL.
 */
static const char *
submitter_signed(const struct track_msg *m)
{
	static const char *const names[] = {
		"DKIM-Signature", "ARC-Seal", "ARC-Message-Signature", NULL
	};
	size_t	 off = 0, name_end, end, i;

	for (; next_field(m, &off, &name_end, &end); off = end)
		for (i = 0; names[i] != NULL; i++)
			if (field_is(m, off, name_end, names[i], 0))
				return (names[i]);
	return (NULL);
}

/* the submitter's List-Unsubscribe fields: replaced by ours */
static void
submitters_unsub(struct track_msg *m)
{
	size_t		 off = 0, name_end, end;

	while (m->ndrop < DROPS_MAX && next_field(m, &off, &name_end, &end)) {
		if (field_is(m, off, name_end, "List-Unsubscribe", 0) ||
		    field_is(m, off, name_end, "List-Unsubscribe-Post", 0)) {
			m->drop[m->ndrop][0] = off;
			m->drop[m->ndrop][1] = end;
			m->ndrop++;
		}
		off = end;
	}
	if (m->ndrop > 0)
		log_info("msgid=%s list_unsubscribe=replaced (the "
		    "submitter's, by the tracking one)", m->queue_id);
}

/*
 * The layouts of the last multipart messages parsed.  Where the parts
 * of a multipart message are depends on nothing but its own header's
 * MIME fields (Content-*, MIME-Version) and its body: a message whose
 * fields and body are equal, byte for byte, to a kept one's (a campaign
 * sends one message per recipient, the same but for To: and the ids)
 * has its parts at the same offsets from its body, and is not parsed
 * again; the last four are kept.  One whose body differs from a kept
 * one's only inside parts' contents takes that layout moved
 * (layout_move: the copies of a personalised campaign).  A message that is one
 * part (its transfer encoding in its own header) is parsed each time.
 */
#define LAYOUT_KEEP_MAX	(256 * 1024)	/* longer fields and body: not kept */
#define LAYOUT_MIME_MAX	4096		/* MIME fields, kept ones */

struct layout {
	struct part_loc	*locs;		/* offsets from the body */
	size_t		 nlocs;
	struct leaf	*leaves;	/* every part's content, from it */
	size_t		 nleaves;
};

static void	layout_free(void *);

static struct kept_slot	 layout_slots[4];
static struct kept	 layouts = KEPT_INIT(layout_slots, LAYOUT_KEEP_MAX,
			    layout_free);
static unsigned long	 layouts_parsed, layouts_reused;

/*
 * A field of a plain form, which GMime reads as this file does: a name
 * of printable ASCII without blanks before its colon, lines that end
 * with CRLF or LF, no NUL, no other CR, no line of blanks only.
 */
static int
field_plain(const struct track_msg *m, size_t off, size_t name_end,
    size_t end)
{
	const char	*b = m->buf, *nl;
	size_t		 i, at;

	if (name_end == off || b[name_end] != ':' || b[end - 1] != '\n')
		return (0);
	for (i = off; i < name_end; i++)
		if ((unsigned char)b[i] <= ' ' || (unsigned char)b[i] > '~')
			return (0);
	for (i = name_end; i < end; i++)
		if (b[i] == '\0' || (b[i] == '\r' && b[i + 1] != '\n'))
			return (0);
	/* each folded line holds more than blanks */
	for (at = off; at < end; at = nl - b + 1) {
		nl = memchr(b + at, '\n', end - at);
		if (at > off && at + strspn(b + at, " \t\r") >= (size_t)(nl -
		    b))
			return (0);
	}
	return (1);
}

/*
 * The message's MIME fields one after another into key, from a header
 * section of plain fields only (field_plain: where GMime and this file
 * see the same fields, so that the fields of the key are all that GMime
 * reads the structure from); -1 if it is not, or the key too long.
 */
static int
layout_mime(const struct track_msg *m, char *key, size_t *len)
{
	size_t	 off = 0, name_end, end, n = 0;

	for (; header_field(m, &off, &name_end, &end); off = end) {
		if (!field_plain(m, off, name_end, end))
			return (-1);
		if (!field_is(m, off, name_end, "Content-", 1) &&
		    !field_is(m, off, name_end, "MIME-Version", 0))
			continue;
		if (end - off > LAYOUT_MIME_MAX - n)
			return (-1);
		memcpy(key + n, m->buf + off, end - off);
		n += end - off;
	}
	if (off != m->hdr_end)
		return (-1);	/* a line that is no field */
	*len = n;
	return (0);
}

static void
layout_free(void *v)
{
	struct layout	*l = v;

	free(l->locs);
	free(l->leaves);
	free(l);
}

/* a layout of nlocs part offsets and nleaves contents, unset */
static struct layout *
layout_new(size_t nlocs, size_t nleaves)
{
	struct layout	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	if ((nlocs > 0 && (l->locs = reallocarray(NULL, nlocs,
	    sizeof(*l->locs))) == NULL) || (nleaves > 0 &&
	    (l->leaves = reallocarray(NULL, nleaves,
	    sizeof(*l->leaves))) == NULL)) {
		layout_free(l);
		return (NULL);
	}
	l->nlocs = nlocs;
	l->nleaves = nleaves;
	return (l);
}

/* the part offsets of a multipart message, from its body, kept */
static void
layout_keep(const char *mime, size_t mimelen, const char *body, size_t len,
    const struct track_scan *sc, size_t base)
{
	struct layout	*l;
	size_t		 i;

	for (i = 0; i < sc->nlocs; i++)
		if (sc->locs[i].cte_start < base)
			return;		/* a field of the message's header */
	for (i = 0; i < sc->nleaves; i++)
		if (sc->leaves[i].start < base)
			return;
	if ((l = layout_new(sc->nlocs, sc->nleaves)) == NULL)
		return;
	for (i = 0; i < sc->nlocs; i++) {
		l->locs[i] = sc->locs[i];
		l->locs[i].start -= base;
		l->locs[i].end -= base;
		l->locs[i].cte_start -= base;
		l->locs[i].cte_end -= base;
	}
	for (i = 0; i < sc->nleaves; i++) {
		l->leaves[i].start = sc->leaves[i].start - base;
		l->leaves[i].end = sc->leaves[i].end - base;
	}
	if (kept_add(&layouts, mime, mimelen, body, len, l) == -1)
		layout_free(l);
}

/* the first line of buf from off (a line's start) that starts "--" */
static size_t
dash_line(const char *buf, size_t len, size_t off)
{
	const char	*nl;

	while (off + 1 < len && (buf[off] != '-' || buf[off + 1] != '-')) {
		if ((nl = memchr(buf + off, '\n', len - off)) == NULL)
			return (len);
		off = nl - buf + 1;
	}
	return (off + 1 < len ? off : len);
}

/*
 * Offset x of the old body in the new one (nls, nle: where each part's
 * content starts and ends there): a part's start or (end set) end, or
 * a byte between two contents, which are the same bytes; 0 if x is in
 * a content.
 */
static int
layout_map(const struct layout *k, const size_t *nls, const size_t *nle,
    size_t *x, int end)
{
	const struct leaf	*f;
	size_t			 t;

	for (t = 0; t < k->nleaves; t++) {
		f = &k->leaves[t];
		if (*x < f->start)
			break;
		if (*x == f->start && !end) {
			*x = nls[t];
			return (1);
		}
		if (*x == f->end && end) {
			*x = nle[t];
			return (1);
		}
		if (*x < f->end)
			return (0);
	}
	if (t > 0)
		*x = *x - k->leaves[t - 1].end + nle[t - 1];
	return (1);
}

/*
 * The layout of body (len bytes) from k, the layout of old (olen bytes,
 * a body with the same MIME fields), if they differ only inside parts'
 * contents and no line of a content in body starts with "--": GMime
 * looks for a boundary only at such a line, and reads nothing else in
 * a content, so it finds the same parts, their contents where they now
 * are (the copies of a personalised campaign).  Each content in body
 * runs to its first line that starts with "--", less the line end
 * before it in old; what follows, to the next content, must be the
 * bytes that follow it in old.  NULL if not so.
 */
static struct layout *
layout_move(const struct layout *k, const char *old, size_t olen,
    const char *body, size_t len)
{
	struct layout		*l = NULL;
	const struct leaf	*f;
	size_t			*nls, *nle, t, po = 0, pn = 0, qo, qn, tail;

	if ((nls = calloc(k->nleaves + 1, 2 * sizeof(*nls))) == NULL)
		return (NULL);
	nle = nls + k->nleaves + 1;
	for (t = 0; t < k->nleaves; t++) {
		f = &k->leaves[t];
		if (f->start == 0 || old[f->start - 1] != '\n' ||
		    f->start - po > len - pn ||
		    memcmp(old + po, body + pn, f->start - po) != 0)
			goto done;
		nls[t] = pn + f->start - po;
		/* after the content its line end, then a boundary; or none */
		qo = f->end;
		if (qo + 1 < olen && old[qo] == '\r' && old[qo + 1] == '\n')
			qo += 2;
		else if (qo < olen && old[qo] == '\n')
			qo++;
		if ((qo < olen && dash_line(old, olen, qo) != qo) ||
		    (qo == f->end && qo != olen))
			goto done;
		qn = dash_line(body, len, nls[t]);
		tail = qo - f->end;
		if ((qo == olen) != (qn == len) || qn - nls[t] < tail ||
		    memcmp(old + f->end, body + qn - tail, tail) != 0)
			goto done;
		nle[t] = qn - tail;
		po = qo;
		pn = qn;
	}
	if (olen - po != len - pn || memcmp(old + po, body + pn, olen - po) != 0)
		goto done;
	if ((l = layout_new(k->nlocs, k->nleaves)) == NULL)
		goto done;
	for (t = 0; t < k->nlocs; t++) {
		l->locs[t] = k->locs[t];
		if (!layout_map(k, nls, nle, &l->locs[t].start, 0) ||
		    !layout_map(k, nls, nle, &l->locs[t].end, 1) ||
		    !layout_map(k, nls, nle, &l->locs[t].cte_start, 0) ||
		    !layout_map(k, nls, nle, &l->locs[t].cte_end, 0)) {
			layout_free(l);
			l = NULL;
			goto done;
		}
	}
	for (t = 0; t < k->nleaves; t++) {
		l->leaves[t].start = nls[t];
		l->leaves[t].end = nle[t];
	}
 done:
	free(nls);
	return (l);
}

/* the layout of body from a kept one's with the same MIME fields */
static struct layout *
layout_like_kept(const char *mime, size_t mimelen, const char *body,
    size_t len)
{
	const struct kept_slot	*s;
	struct layout		*l;
	size_t			 i;

	for (i = 0; i < sizeof(layout_slots) / sizeof(layout_slots[0]);
	    i++) {
		s = &layout_slots[i];
		if (s->key == NULL)
			break;
		if (s->len1 != mimelen || memcmp(s->key, mime, mimelen) != 0)
			continue;
		if ((l = layout_move(s->val, s->key + s->len1,
		    s->len - s->len1, body, len)) != NULL)
			return (l);
	}
	return (NULL);
}

void
track_counts(unsigned long *parsed, unsigned long *reused)
{
	*parsed = layouts_parsed;
	*reused = layouts_reused;
}

void
track_forget(void)
{
	kept_clear(&layouts);
}

/* the text/html parts: GMime's parse, or a kept layout's */
static int
parse(struct track_msg *m)
{
	struct track_scan	 sc;
	struct layout		*l = NULL, *own = NULL;
	GMimeStream		*st;
	GMimeParser		*parser;
	GMimeMessage		*msg;
	char			 mime[LAYOUT_MIME_MAX];
	size_t			 i, mimelen = 0, base;
	int			 keep, multipart;

	if (m->unsub)
		submitters_unsub(m);
	/* the body's start; past the end without a blank line */
	base = m->hdr_end == m->len ? m->len + 1 :
	    m->hdr_end + (m->buf[m->hdr_end] == '\r' ? 2 : 1);
	keep = base <= m->len && layout_mime(m, mime, &mimelen) == 0;
	/* a kept layout, or one moved from a kept one's (kept too) */
	if (keep && (l = kept_find(&layouts, mime, mimelen, m->buf + base,
	    m->len - base)) == NULL && (l = layout_like_kept(mime, mimelen,
	    m->buf + base, m->len - base)) != NULL &&
	    kept_add(&layouts, mime, mimelen, m->buf + base, m->len - base,
	    l) == -1)
		own = l;
	if (keep && l != NULL) {
		layouts_reused++;
		for (i = 0; i < l->nlocs; i++)
			part_load(m, &l->locs[i], base);
		if (own != NULL)
			layout_free(own);
		return (0);
	}
	layouts_parsed++;
	st = g_mime_stream_mem_new_with_buffer(m->buf, m->len);
	parser = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	addr_guard_parser(parser);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL)
		return (-1);
	memset(&sc, 0, sizeof(sc));
	sc.m = m;
	part_walk(g_mime_message_get_mime_part(msg), &sc);
	multipart = GMIME_IS_MULTIPART(g_mime_message_get_mime_part(msg));
	g_object_unref(msg);
	if (keep && multipart)
		layout_keep(mime, mimelen, m->buf + base, m->len - base,
		    &sc, base);
	for (i = 0; i < sc.nlocs; i++)
		part_load(m, &sc.locs[i], 0);
	free(sc.locs);
	free(sc.leaves);
	return (0);
}

/*
 * A token's link index is 16 bits (token.h): links past the 65,536th
 * of the message are left untracked (token_url); say how many, once.
 */
static void
links_over(const struct track_msg *m)
{
	size_t	 i, n = 0;

	if (!m->t->clicks)
		return;
	for (i = 0; i < m->nparts; i++)
		n += html_plan_nlinks(m->parts[i].plan);
	if (n > (size_t)UINT16_MAX + 1)
		log_warnx("msgid=%s tracking: %zu links left untracked (a "
		    "message has at most %u tracked links)", m->queue_id,
		    n - UINT16_MAX - 1, (unsigned)UINT16_MAX + 1);
}

/*
 * The keys that read a tracked copy's tokens: key, and the block's
 * previous one (a copy made before a reload that changed it).
 */
static int
track_keys(const struct tracking *t, const struct token_key *key,
    struct token_keys *ks)
{
	struct token_key	 prev;
	int			 rv = 0;

	if (token_keys_add(ks, key) == -1)
		return (-1);
	if (t->prev_secret[0] != '\0' && track_key(t, &prev, 1) == 0)
		rv = token_keys_add(ks, &prev);
	explicit_bzero(&prev, sizeof(prev));
	return (rv);
}

struct track_msg *
track_prepare(const struct config *conf, const char *queue_id,
    const char *from_domain, const char *buf, size_t len)
{
	const struct tracking	*t;
	struct track_msg	*m;
	ssize_t			 he;
	char			*s;
	const char		*sig;

	if ((t = config_tracking(conf, from_domain)) == NULL ||
	    (!t->opens && !t->clicks && !t->unsubscribe))
		return (NULL);
	if ((he = header_end(buf, len)) == -1) {
		log_warnx("msgid=%s tracked=no (no header section)",
		    queue_id);
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	m->t = t;
	if (track_key(t, &m->key, 0) == -1) {
		log_warnx("msgid=%s tracking_domain=%s tracked=no (it has "
		    "no usable key)", queue_id, t->domain);
		free(m);
		return (NULL);
	}
	strlcpy(m->queue_id, queue_id, sizeof(m->queue_id));
	strlcpy(m->domain, t->domain, sizeof(m->domain));
	for (s = m->domain; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
	strlcpy(m->bounce, conf->bounce_domain, sizeof(m->bounce));
	m->buf = buf;
	m->len = len;
	m->hdr_end = he;
	m->crlf = he >= 2 && buf[he - 2] == '\r';
	m->unsub = t->unsubscribe;
	if ((sig = submitter_signed(m)) != NULL) {
		log_info("msgid=%s tracked=no (the submitter signed it: %s "
		    "%s, which tracking would break)", queue_id,
		    sig[0] == 'A' ? "an" : "a", sig);
		track_free(m);
		return (NULL);
	}
	if (parse(m) == -1) {
		log_warnx("msgid=%s tracked=no (not parsed as MIME)",
		    queue_id);
		track_free(m);
		return (NULL);
	}
	if (m->nparts == 0 && !m->unsub) {
		track_free(m);
		return (NULL);
	}
	links_over(m);
	return (m);
}

void
track_free(struct track_msg *m)
{
	size_t	 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nparts; i++) {
		html_plan_free(m->parts[i].plan);
		free(m->parts[i].html);
	}
	free(m->parts);
	explicit_bzero(&m->key, sizeof(m->key));
	token_keys_clear(&m->keys);
	free(m);
}

/*
 * URL/x/TOKEN for the recipient being rendered; NULL if it cannot be.
 * comment: inside a conditional comment, the token in its comment form
 * (no '-', token.h).
 */
static char *
token_url(struct track_msg *m, enum token_kind kind, size_t link,
    const char *url, int comment)
{
	struct token	 tk;
	char		 enc[TOKEN_STR_MAX], *out;
	const char	*path = kind == TOKEN_OPEN ? "/o/" :
			    kind == TOKEN_CLICK ? "/c/" : "/u/";
	size_t		 ulen, elen;
	int		 n;

	if (link > UINT16_MAX)
		return (NULL);
	memset(&tk, 0, sizeof(tk));
	tk.kind = kind;
	tk.link = link;
	strlcpy(tk.queue_id, m->queue_id, sizeof(tk.queue_id));
	if (strlcpy(tk.recipient, m->rcpt, sizeof(tk.recipient)) >=
	    sizeof(tk.recipient) || (url != NULL &&
	    strlcpy(tk.url, url, sizeof(tk.url)) >= sizeof(tk.url)))
		return (NULL);
	strlcpy(tk.domain, m->domain, sizeof(tk.domain));
	if ((n = token_encode(&tk, &m->key, enc, sizeof(enc))) == -1)
		return (NULL);
	if (comment)
		token_comment_form(enc);
	/* URL/x/TOKEN by hand: asprintf's format pass cost as much again
	 * as the copies, once per link */
	ulen = strlen(m->t->url);
	elen = n;
	if ((out = malloc(ulen + 3 + elen + 1)) == NULL)
		return (NULL);
	memcpy(out, m->t->url, ulen);
	memcpy(out + ulen, path, 3);
	memcpy(out + ulen + 3, enc, elen + 1);
	return (out);
}

/*
 * If uri is already one of this block's URLs, URL/o/..., URL/c/... or
 * URL/u/... (a tracked mail submitted again, such as a forward through
 * this relay), its kind ('o', 'c' or 'u') and *tok its token; else 0.
 * Scheme and host in any case, the rest as the url is written.
 */
static int
is_ours(const char *uri, const char *url, const char **tok)
{
	const char	*h, *path;
	size_t		 n = strlen(url), hlen = 0;

	if ((h = strstr(url, "//")) != NULL)
		hlen = (path = strchr(h + 2, '/')) != NULL ?
		    (size_t)(path - url) : n;
	if (strncasecmp(uri, url, hlen) != 0 ||
	    strncmp(uri + hlen, url + hlen, n - hlen) != 0 ||
	    uri[n] != '/' || strchr("ocu", uri[n + 1]) == NULL ||
	    uri[n + 1] == '\0' || uri[n + 2] != '/')
		return (0);
	*tok = uri + n + 3;
	return (uri[n + 1]);
}

/*
 * An <img> that is this block's pixel (URL/o/...: a tracked copy
 * submitted again): dropped, the recipient being rendered gets its own
 * (its opens would count for the first recipient).
 */
static int
img_cb(void *arg, const char *url)
{
	struct track_msg	*m = arg;
	const char		*tok;

	if (is_ours(url, m->t->url, &tok) != 'o')
		return (0);
	log_debug("%s: a pixel of this domain already: replaced",
	    m->queue_id);
	return (1);
}

/*
 * A link that is already one of this block's (is_ours): the recipient
 * being rendered gets its own, to the URL the token holds (a click: its
 * index the link's) or to its unsubscribe; a click would count for the
 * first recipient otherwise.  With clicks off, a click's link is the URL
 * its token holds, untracked.  NULL (left as written) if the token does
 * not verify with the block's key or the previous one.
 */
static char *
link_again(struct track_msg *m, size_t idx, int kind, const char *tok,
    int comment)
{
	struct token	 tk;

	if (kind == 'o') {
		log_debug("%s: link %zu not tracked: a pixel of this domain",
		    m->queue_id, m->links + idx);
		return (NULL);
	}
	if ((m->keys.count == 0 && track_keys(m->t, &m->key,
	    &m->keys) == -1) || strlen(tok) >= TOKEN_STR_MAX ||
	    token_decode(tok, &m->keys, &tk) == -1 ||
	    tk.kind != (kind == 'c' ? TOKEN_CLICK : TOKEN_UNSUBSCRIBE)) {
		log_debug("%s: link %zu not tracked: a tracking link of this "
		    "domain whose token does not verify", m->queue_id,
		    m->links + idx);
		return (NULL);
	}
	if (kind == 'u')
		return (token_url(m, TOKEN_UNSUBSCRIBE, 0, NULL, comment));
	/* clicks off: the link as it was before it was tracked */
	if (!m->t->clicks)
		return (comment && strstr(tk.url, "--") != NULL ? NULL :
		    strdup(tk.url));
	return (token_url(m, TOKEN_CLICK, m->links + idx, tk.url, comment));
}

/*
 * The token carries the link as a browser follows it (uri.h): an IRI's
 * path and query, a quote or a space in it, percent-encoded.  One whose
 * host is not ASCII (no IDNA here) or that grows too long stays as it
 * is, untracked; so does one in a conditional comment if the tracking
 * URL holds "--" (an xn-- host), which would end the comment.  With
 * clicks off, only a tracked copy's links are made again (link_again).
 */
static char *
link_cb(void *arg, size_t idx, const char *url, int comment)
{
	struct track_msg	*m = arg;
	char			 uri[MH_URL_MAX];
	const char		*tok;
	int			 n, kind;

	n = uri_encode(url, uri, sizeof(uri));
	if ((n == -1 || (size_t)n >= sizeof(uri)) && !m->t->clicks)
		return (NULL);
	if (n == -1 || (size_t)n >= sizeof(uri)) {
		log_debug("%s: link %zu not tracked: %s", m->queue_id,
		    m->links + idx, n == -1 ? "its host is not ASCII" :
		    "too long as a URI");
		return (NULL);
	}
	if (comment && strstr(m->t->url, "--") != NULL) {
		log_debug("%s: link %zu not tracked: in a conditional comment, "
		    "and the tracking url has \"--\"", m->queue_id,
		    m->links + idx);
		return (NULL);
	}
	if ((kind = is_ours(uri, m->t->url, &tok)) != 0)
		return (link_again(m, idx, kind, tok, comment));
	if (!m->t->clicks)
		return (NULL);
	return (token_url(m, TOKEN_CLICK, m->links + idx, uri, comment));
}

/* List-Unsubscribe (RFC 2369) and List-Unsubscribe-Post (RFC 8058) */
static void
put_unsub(struct track_msg *m, FILE *o)
{
	const char	*nl = m->crlf ? "\r\n" : "\n";
	char		*u, mac[TRACK_MAC_HEX + 1];

	if ((u = token_url(m, TOKEN_UNSUBSCRIBE, 0, NULL, 0)) == NULL)
		return;
	fprintf(o, "List-Unsubscribe: <%s>", u);
	free(u);
	if (m->bounce[0] != '\0') {
		track_mailto_mac(&m->key, m->rcpt, m->domain, mac);
		fprintf(o, ",%s <mailto:%s%s@%s>", nl, TRACK_MAILTO_PREFIX, mac,
		    m->bounce);
	}
	fputs(nl, o);
	/* one-click only with an HTTPS URI (RFC 8058 3.1) */
	if (config_tracking_one_click(m->t))
		fprintf(o, "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
		    "%s", nl);
}

/* buf to o, each LF without a CR before it as CRLF (GMime's unix2dos) */
static void
put_crlf(FILE *o, const char *buf, size_t len)
{
	const char	*nl, *end = buf + len;
	char		 pc = '\0';

	while (buf < end && (nl = memchr(buf, '\n', end - buf)) != NULL) {
		if (nl > buf)
			pc = nl[-1];
		fwrite(buf, 1, nl - buf, o);
		if (pc != '\r')
			fputc('\r', o);
		fputc('\n', o);
		pc = '\n';
		buf = nl + 1;
	}
	if (buf < end)
		fwrite(buf, 1, end - buf, o);
}

/*
 * The HTML encoded as the part was: the same final line break or none.
 * GMime's encoder on the whole part at once, then its flush: what a
 * filter stream with the basic filter writes, without the stream, its
 * filters and their buffers per part.
 */
static int
put_encoded(struct track_msg *m, const struct track_part *p,
    GMimeContentEncoding enc, const char *html, size_t len, FILE *o)
{
	GMimeEncoding	 st;
	char		*buf;
	size_t		 n, cap;
	int		 raw_nl = p->end > p->start &&
			    m->buf[p->end - 1] == '\n';

	if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		fwrite(html, 1, len, o);
		return (0);
	}
	g_mime_encoding_init_encode(&st, enc);
	cap = g_mime_encoding_outlen(&st, len) + g_mime_encoding_outlen(&st, 0);
	if ((buf = malloc(cap)) == NULL)
		return (-1);
	n = g_mime_encoding_step(&st, html, len, buf);
	n += g_mime_encoding_flush(&st, "", 0, buf + n);
	if (!raw_nl && n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (m->crlf)
		put_crlf(o, buf, n);
	else
		fwrite(buf, 1, n, o);
	free(buf);
	return (0);
}

/* a line over 998 octets (CR and LF not counted) */
static int
has_long_line(const char *s, size_t len)
{
	const char	*nl, *end = s + len;
	size_t		 n;

	while (s < end) {
		nl = memchr(s, '\n', end - s);
		n = (nl != NULL ? nl : end) - s;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > LINE_MAX_OCTETS)
			return (1);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return (0);
}

/* the submitted bytes from *at to pos, our headers where they belong */
static void
copy_to(struct track_msg *m, FILE *o, size_t *at, size_t pos, int *unsub)
{
	size_t	 i;

	for (i = 0; i < m->ndrop; i++) {
		if (m->drop[i][0] < *at || m->drop[i][0] >= pos)
			continue;
		fwrite(m->buf + *at, 1, m->drop[i][0] - *at, o);
		*at = m->drop[i][1];
	}
	if (*unsub && pos >= m->hdr_end && *at <= m->hdr_end) {
		fwrite(m->buf + *at, 1, m->hdr_end - *at, o);
		*at = m->hdr_end;
		put_unsub(m, o);
		*unsub = 0;
	}
	if (pos > *at)
		fwrite(m->buf + *at, 1, pos - *at, o);
	if (pos > *at)
		*at = pos;
}

/*
 * The copy's buffer: the stream track_render writes to.  Its first size
 * is what the copy will be (open_memstream's growth held two and a half
 * times a large copy at its peak: 25 MB for a message of 10).
 */
struct copybuf {
	char	*p;
	size_t	 len, cap;
};

static ssize_t
copybuf_write(void *cookie, const char *buf, size_t len)
{
	struct copybuf	*c = cookie;
	size_t		 ncap;
	char		*np;

	if (len >= c->cap - c->len) {
		ncap = c->cap + (c->cap >> 1) + len;
		if (ncap < c->cap || (np = realloc(c->p, ncap)) == NULL)
			return (-1);
		c->p = np;
		c->cap = ncap;
	}
	memcpy(c->p + c->len, buf, len);
	c->len += len;
	c->p[c->len] = '\0';
	return (len);
}

/* a stream to c, cap bytes first: NULL if out of memory */
static FILE *
copybuf_open(struct copybuf *c, size_t cap)
{
	cookie_io_functions_t	 fns = { NULL, copybuf_write, NULL, NULL };
	FILE			*o;

	if ((c->p = malloc(cap)) == NULL)
		return (NULL);
	c->p[0] = '\0';
	c->len = 0;
	c->cap = cap;
	if ((o = fopencookie(c, "w", fns)) == NULL) {
		free(c->p);
		c->p = NULL;
	}
	return (o);
}

char *
track_render(struct track_msg *m, const char *rcpt, size_t *outlen)
{
	const struct track_part	*p;
	GMimeContentEncoding	 enc;
	FILE			*o;
	struct copybuf		 cb;
	char			*out = NULL, *pixel = NULL, **html;
	size_t			 at = 0, i, *hlen, cap;
	int			 rv = 0, unsub = m->unsub;

	if ((html = calloc(m->nparts + 1, sizeof(*html))) == NULL ||
	    (hlen = calloc(m->nparts + 1, sizeof(*hlen))) == NULL) {
		free(html);
		return (NULL);
	}
	m->rcpt = rcpt;
	/* a recipient no token can carry (over 255 bytes) gets neither */
	if (m->t->opens && m->nparts > 0)
		pixel = token_url(m, TOKEN_OPEN, 0, NULL, 0);
	/* a link's index is in the message, not in its part */
	for (i = 0, m->links = 0; i < m->nparts && rv == 0; i++) {
		p = &m->parts[i];
		if ((html[i] = html_plan_apply(p->plan, p->html, p->len, pixel,
		    link_cb, img_cb, m,
		    &hlen[i])) == NULL)
			rv = -1;
		m->links += html_plan_nlinks(p->plan);
	}
	/* the message, the parts as rewritten, our fields */
	o = NULL;
	memset(&cb, 0, sizeof(cb));
	for (i = 0, cap = m->len + 4096; i < m->nparts && rv == 0; i++)
		cap += hlen[i] + hlen[i] / 2 -
		    (m->parts[i].end - m->parts[i].start);
	if (rv == 0 && (o = copybuf_open(&cb, cap)) == NULL)
		rv = -1;
	for (i = 0; i < m->nparts && rv == 0; i++) {
		p = &m->parts[i];
		enc = p->enc;
		if ((enc == GMIME_CONTENT_ENCODING_DEFAULT ||
		    enc == GMIME_CONTENT_ENCODING_7BIT ||
		    enc == GMIME_CONTENT_ENCODING_8BIT) &&
		    has_long_line(html[i], hlen[i])) {
			enc = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
			copy_to(m, o, &at, p->cte_start, &unsub);
			fprintf(o, "Content-Transfer-Encoding: "
			    "quoted-printable%s", m->crlf ? "\r\n" : "\n");
			at = p->cte_end;
		}
		copy_to(m, o, &at, p->start, &unsub);
		if (put_encoded(m, p, enc, html[i], hlen[i], o) == -1)
			rv = -1;
		at = p->end;
	}
	if (rv == 0)
		copy_to(m, o, &at, m->len, &unsub);
	if (o != NULL) {
		if (ferror(o))
			rv = -1;
		if (fclose(o) != 0)
			rv = -1;
		out = cb.p;
		*outlen = cb.len;
	}
	for (i = 0; i < m->nparts; i++)
		free(html[i]);
	free(html);
	free(hlen);
	free(pixel);
	m->rcpt = NULL;
	if (rv == -1) {
		free(out);
		return (NULL);
	}
	return (out);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking at submission (track.h).
 *
 * The message is parsed once with GMime, which gives each part's body as
 * a byte range of the submitted message (the parser's substreams) and its
 * decoded content.  Each text/html part is planned once (gumbo); each
 * recipient's copy is then the submitted bytes with those ranges replaced
 * by the rewritten HTML, encoded again with the part's own transfer
 * encoding (GMime's encoder, CRLF where the message has CRLF), and the
 * unsubscribe headers added at the end of the header section.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "html_rewrite.h"
#include "log.h"
#include "token.h"
#include "track.h"

#define MAC_CONTEXT	"mailhook-unsubscribe"

struct track_part {
	size_t			 start, end;	/* the body as submitted */
	GMimeContentEncoding	 enc;
	char			*html;		/* decoded */
	size_t			 len;
	struct html_plan	*plan;
};

struct track_msg {
	const struct tracking	*t;
	struct token_key	 key;
	char			 queue_id[MH_MSGID_LEN];
	char			 domain[MH_NAME_MAX];
	char			 bounce[MH_NAME_MAX];
	const char		*buf;
	size_t			 len;
	size_t			 hdr_end;	/* where the blank line starts */
	int			 crlf;
	int			 unsub;		/* add List-Unsubscribe */
	struct track_part	*parts;
	size_t			 nparts;
	const char		*rcpt;		/* while rendering */
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
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 msg[sizeof(MAC_CONTEXT) + MH_ADDR_MAX + MH_NAME_MAX];
	size_t		 n = 0, i;
	const char	*s;

	memcpy(msg, MAC_CONTEXT, sizeof(MAC_CONTEXT));	/* with its NUL */
	n = sizeof(MAC_CONTEXT);
	for (s = rcpt; *s != '\0' && n < sizeof(msg) - MH_NAME_MAX - 1; s++)
		msg[n++] = tolower((unsigned char)*s);
	msg[n++] = '\0';
	for (s = domain; *s != '\0' && n < sizeof(msg) - 1; s++)
		msg[n++] = tolower((unsigned char)*s);
	if (HMAC(EVP_sha256(), k->key, TOKEN_KEY_LEN, (unsigned char *)msg, n,
	    md, &mdlen) == NULL || mdlen < TRACK_MAC_HEX / 2)
		fatalx("track: HMAC-SHA256 failed");
	for (i = 0; i < TRACK_MAC_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	explicit_bzero(md, sizeof(md));
}

int
track_mailto_check(const struct config *conf, const char *local,
    const char *sender, char *domain, size_t len)
{
	const struct tracking	*t;
	struct token_key	 k;
	const char		*mac;
	char			 want[TRACK_MAC_HEX + 1];
	size_t			 plen = strlen(TRACK_MAILTO_PREFIX), i;
	int			 prev;

	if (strncasecmp(local, TRACK_MAILTO_PREFIX, plen) != 0)
		return (0);
	mac = local + plen;
	if (strlen(mac) != TRACK_MAC_HEX || sender == NULL || sender[0] == '\0')
		return (-1);
	for (i = 0; i < TRACK_MAC_HEX; i++)
		if (!isxdigit((unsigned char)mac[i]))
			return (-1);
	TAILQ_FOREACH(t, &conf->trackings, entry) {
		if (!t->unsubscribe)
			continue;
		for (prev = 0; prev < 2; prev++) {
			if (track_key(t, &k, prev) == -1)
				continue;
			track_mailto_mac(&k, sender, t->domain, want);
			explicit_bzero(&k, sizeof(k));
			if (strncasecmp(want, mac, TRACK_MAC_HEX) == 0) {
				strlcpy(domain, t->domain, len);
				return (1);
			}
		}
	}
	return (-1);
}

/* where the header section ends (the blank line), or -1 */
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
	return (-1);
}

static void
part_add(struct track_msg *m, GMimePart *part)
{
	GMimeDataWrapper	*w;
	GMimeStream		*s, *dec;
	GByteArray		*a;
	struct track_part	*p, *np;
	gint64			 start, end;

	if ((w = g_mime_part_get_content(part)) == NULL ||
	    (s = g_mime_data_wrapper_get_stream(w)) == NULL)
		return;
	start = s->bound_start;
	end = s->bound_end == -1 ? (gint64)m->len : s->bound_end;
	if (start < (gint64)m->hdr_end || end < start || end > (gint64)m->len ||
	    (m->nparts > 0 && (size_t)start < m->parts[m->nparts - 1].end))
		return;
	if ((np = reallocarray(m->parts, m->nparts + 1, sizeof(*np))) == NULL)
		return;
	m->parts = np;
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->start = start;
	p->end = end;
	p->enc = g_mime_part_get_content_encoding(part);
	dec = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, dec) == -1) {
		g_object_unref(dec);
		return;
	}
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(dec));
	if ((p->html = malloc(a->len + 1)) != NULL) {
		memcpy(p->html, a->data, a->len);
		p->html[a->len] = '\0';
		p->len = a->len;
		p->plan = html_plan_new(p->html, p->len);
	}
	g_object_unref(dec);
	if (p->plan == NULL) {
		free(p->html);
		return;
	}
	m->nparts++;
}

static void
part_cb(GMimeObject *parent, GMimeObject *obj, gpointer arg)
{
	struct track_msg		*m = arg;
	GMimeContentDisposition		*d;
	GMimeContentEncoding		 enc;

	if (!GMIME_IS_PART(obj) || !g_mime_content_type_is_type(
	    g_mime_object_get_content_type(obj), "text", "html"))
		return;
	if ((d = g_mime_object_get_content_disposition(obj)) != NULL &&
	    g_mime_content_disposition_is_attachment(d))
		return;
	enc = g_mime_part_get_content_encoding(GMIME_PART(obj));
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return;
	part_add(m, GMIME_PART(obj));
}

static int
parse(struct track_msg *m)
{
	GMimeStream	*st;
	GMimeParser	*parser;
	GMimeMessage	*msg;

	st = g_mime_stream_mem_new_with_buffer(m->buf, m->len);
	parser = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL)
		return (-1);
	if (g_mime_object_get_header(GMIME_OBJECT(msg),
	    "List-Unsubscribe") != NULL)
		m->unsub = 0;
	if (m->t->opens || m->t->clicks)
		g_mime_message_foreach(msg, part_cb, m);
	g_object_unref(msg);
	return (0);
}

struct track_msg *
track_prepare(const struct config *conf, const char *queue_id,
    const char *from_domain, const char *buf, size_t len)
{
	const struct tracking	*t;
	struct track_msg	*m;
	ssize_t			 he;
	char			*s;

	if ((t = config_tracking(conf, from_domain)) == NULL ||
	    (!t->opens && !t->clicks && !t->unsubscribe))
		return (NULL);
	if ((he = header_end(buf, len)) == -1) {
		log_warnx("%s: no header section, not tracked", queue_id);
		return (NULL);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	m->t = t;
	if (track_key(t, &m->key, 0) == -1) {
		log_warnx("%s: tracking domain %s has no usable key, not "
		    "tracked", queue_id, t->domain);
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
	if (parse(m) == -1) {
		log_warnx("%s: not parsed as MIME, not tracked", queue_id);
		track_free(m);
		return (NULL);
	}
	if (m->nparts == 0 && !m->unsub) {
		track_free(m);
		return (NULL);
	}
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
	free(m);
}

/* URL/x/TOKEN for the recipient being rendered; NULL if it cannot be */
static char *
token_url(struct track_msg *m, enum token_kind kind, size_t link,
    const char *url)
{
	struct token	 tk;
	char		 enc[TOKEN_STR_MAX], *out;
	const char	*path = kind == TOKEN_OPEN ? "o" : kind == TOKEN_CLICK ?
			    "c" : "u";

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
	if (token_encode(&tk, &m->key, enc, sizeof(enc)) == -1)
		return (NULL);
	if (asprintf(&out, "%s/%s/%s", m->t->url, path, enc) == -1)
		return (NULL);
	return (out);
}

static char *
link_cb(void *arg, size_t idx, const char *url)
{
	return (token_url(arg, TOKEN_CLICK, idx, url));
}

/* List-Unsubscribe (RFC 2369) and List-Unsubscribe-Post (RFC 8058) */
static void
put_unsub(struct track_msg *m, FILE *o)
{
	const char	*nl = m->crlf ? "\r\n" : "\n";
	char		*u, mac[TRACK_MAC_HEX + 1];

	if ((u = token_url(m, TOKEN_UNSUBSCRIBE, 0, NULL)) == NULL)
		return;
	fprintf(o, "List-Unsubscribe: <%s>", u);
	free(u);
	if (m->bounce[0] != '\0') {
		track_mailto_mac(&m->key, m->rcpt, m->domain, mac);
		fprintf(o, ",%s <mailto:%s%s@%s>", nl, TRACK_MAILTO_PREFIX, mac,
		    m->bounce);
	}
	fprintf(o, "%sList-Unsubscribe-Post: List-Unsubscribe=One-Click%s",
	    nl, nl);
}

/* the HTML encoded as the part was: the same final line break or none */
static int
put_encoded(struct track_msg *m, const struct track_part *p,
    const char *html, size_t len, FILE *o)
{
	GMimeStream	*mem, *f;
	GByteArray	*a;
	size_t		 n;
	int		 raw_nl = p->end > p->start && m->buf[p->end - 1] == '\n';

	if (p->enc != GMIME_CONTENT_ENCODING_BASE64 &&
	    p->enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		fwrite(html, 1, len, o);
		return (0);
	}
	mem = g_mime_stream_mem_new();
	f = g_mime_stream_filter_new(mem);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(f),
	    g_mime_filter_basic_new(p->enc, TRUE));
	if (m->crlf)
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(f),
		    g_mime_filter_unix2dos_new(FALSE));
	if (g_mime_stream_write(f, html, len) == -1 ||
	    g_mime_stream_flush(f) == -1) {
		g_object_unref(f);
		g_object_unref(mem);
		return (-1);
	}
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	n = a->len;
	if (!raw_nl && n > 0 && a->data[n - 1] == '\n') {
		n--;
		if (n > 0 && a->data[n - 1] == '\r')
			n--;
	}
	fwrite(a->data, 1, n, o);
	g_object_unref(f);
	g_object_unref(mem);
	return (0);
}

char *
track_render(struct track_msg *m, const char *rcpt, size_t *outlen)
{
	const struct track_part	*p;
	FILE			*o;
	char			*out = NULL, *pixel = NULL, *html;
	size_t			 at = 0, i, hlen;
	int			 rv = 0;

	if ((o = open_memstream(&out, outlen)) == NULL)
		return (NULL);
	m->rcpt = rcpt;
	fwrite(m->buf, 1, m->hdr_end, o);
	at = m->hdr_end;
	/* a recipient no token can carry (over 255 bytes) gets neither */
	if (m->unsub)
		put_unsub(m, o);
	if (m->t->opens && m->nparts > 0)
		pixel = token_url(m, TOKEN_OPEN, 0, NULL);
	for (i = 0; i < m->nparts && rv == 0; i++) {
		p = &m->parts[i];
		fwrite(m->buf + at, 1, p->start - at, o);
		html = html_plan_apply(p->plan, p->html, p->len, pixel,
		    m->t->clicks ? link_cb : NULL, m, &hlen);
		if (html == NULL || put_encoded(m, p, html, hlen, o) == -1)
			rv = -1;
		free(html);
		at = p->end;
	}
	fwrite(m->buf + at, 1, m->len - at, o);
	free(pixel);
	m->rcpt = NULL;
	if (ferror(o))
		rv = -1;
	if (fclose(o) != 0 || rv == -1) {
		free(out);
		return (NULL);
	}
	return (out);
}

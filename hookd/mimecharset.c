/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound message rendering (mime.h): text as UTF-8.  Strings made
 * valid UTF-8 (utf8_clean, jstr), the iconv converters kept open for the
 * sandbox (mime_preload), the charset a label means and the conversion
 * of a part's text from it (text_convert), and an HTML part's <meta>
 * charset said again as utf-8 (html_meta_utf8).
 */
#include <sys/types.h>

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <gumbo.h>
#include <jansson.h>

#include "log.h"
#include "mime.h"
#include "mime_int.h"

#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* a g_malloc'd copy of s that is valid UTF-8 without NUL */
char *
utf8_clean(const char *s, gssize len)
{
	if (s == NULL)
		return (g_strdup(""));
	return (g_utf8_make_valid(s, len));
}

/*
 * A JSON string of s, made valid UTF-8.  glib has checked it (or made
 * it valid), so jansson is spared a second pass over every byte: the
 * bodies are the longest strings a payload has.
 */
json_t *
jstr(const char *s)
{
	json_t	*j;
	char	*c;

	if (s == NULL)
		return (json_null());
	if (g_utf8_validate(s, -1, NULL))
		return (json_string_nocheck(s));
	c = utf8_clean(s, -1);
	j = json_string_nocheck(c);
	g_free(c);
	return (j);
}

/* a JSON string of text_convert()'s output (or text made from it by
 * cutting lines and ASCII white space): valid UTF-8 already */
json_t *
jtext(const char *s)
{
	return (s == NULL ? json_null() : json_string_nocheck(s));
}

/*
 * Charsets whose iconv converters are opened once and kept.  glibc's
 * iconv_open() reads the gconv cache and dlopen()s the charset's module
 * from /usr/lib/<arch>/gconv at the first use of a charset; iconv_close()
 * does not unload the module at once, but a module nobody uses is
 * dlclose()d after a few later releases of other modules
 * (TRIES_BEFORE_UNLOAD in glibc's gconv_dl.c).  Measured on Debian 12
 * (glibc 2.36): after opening and closing 14 charsets, only the last 3
 * could be opened again inside an empty chroot; with the descriptors kept
 * open, all 14 could.  So the descriptors below stay open for the life of
 * the process: the modules (and the cache, read once) stay in memory and
 * a later iconv_open() of one of these charsets, by GMime or by us, needs
 * no file.  Any other charset fails to open in the sandbox (glibc's open()
 * of the module gets ENOENT in the chroot) and is decoded by the 8-bit
 * fallback.  regress/hookd/test_mime shows both cases in a chroot.
 */
static const char *const preload_charsets[] = {
	"ISO-8859-1", "ISO-8859-2", "ISO-8859-3", "ISO-8859-4", "ISO-8859-5",
	"ISO-8859-6", "ISO-8859-7", "ISO-8859-8", "ISO-8859-9", "ISO-8859-10",
	"ISO-8859-11", "ISO-8859-13", "ISO-8859-14", "ISO-8859-15",
	"ISO-8859-16",
	"windows-1250", "windows-1251", "windows-1252", "windows-1253",
	"windows-1254", "windows-1255", "windows-1256", "windows-1257",
	"windows-1258",
	"KOI8-R", "KOI8-U", "IBM850", "IBM437", "IBM866", "MACINTOSH",
	"TIS-620", "windows-874",
	"Shift_JIS", "CP932", "EUC-JP", "ISO-2022-JP",
	"GB2312", "GBK", "GB18030", "Big5", "BIG5-HKSCS",
	"EUC-KR", "CP949", "ISO-2022-KR",
	"UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32", "UTF-7"
};
static iconv_t	 preload_cd[sizeof(preload_charsets) /
		    sizeof(preload_charsets[0])];

int
mime_preload(void)
{
	const char	*name;
	size_t		 i;
	int		 n = 0;

	for (i = 0; i < sizeof(preload_charsets) / sizeof(preload_charsets[0]);
	    i++) {
		if (preload_cd[i] != NULL && preload_cd[i] != (iconv_t)-1) {
			n++;
			continue;
		}
		if ((name = g_mime_charset_iconv_name(preload_charsets[i])) ==
		    NULL)
			name = preload_charsets[i];
		preload_cd[i] = iconv_open("UTF-8", name);
		if (preload_cd[i] == (iconv_t)-1)
			log_debug("%s: no iconv converter for %s", __func__,
			    preload_charsets[i]);
		else
			n++;
	}
	return (n);
}

/*
 * Text read as UTF-8 where it is, else Windows-1252 (text_utf8_or_1252):
 * no charset, UTF-8, US-ASCII, and "X-UNKNOWN" (Pine and Alpine's label
 * for 8-bit text of no charset they know; GMime converts it from the
 * locale's, ASCII in hookd: every 8-bit character was lost).
 */
static int
charset_is_utf8(const char *cs)
{
	return (cs == NULL || strcasecmp(cs, "utf-8") == 0 ||
	    strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "ascii") == 0 || strcasecmp(cs, "x-unknown") == 0);
}

/*
 * A label text_convert() reads leniently: as UTF-8 where the bytes are,
 * else Windows-1252 (charset_is_utf8), or Windows-1252 unless the bytes
 * are valid UTF-8 (ISO-8859-1 and the other labels of that superset).
 */
int
charset_lenient(const char *cs)
{
	return (cs != NULL && (charset_is_utf8(cs) ||
	    strcasecmp(charset_superset(cs), "windows-1252") == 0));
}

/* convert with cd, a replacement character for each undecodable byte */
static char *
iconv_all(iconv_t cd, const char *p, size_t len, size_t *outlen)
{
	GString	*s;
	char	 buf[8192], *in = (char *)p, *o;
	size_t	 inleft = len, oleft;

	s = g_string_sized_new(len + len / 2 + 16);
	/* the initial shift state */
	(void)iconv(cd, NULL, NULL, NULL, NULL);
	while (inleft > 0) {
		o = buf;
		oleft = sizeof(buf);
		if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1 ||
		    errno == E2BIG) {
			g_string_append_len(s, buf, o - buf);
			continue;
		}
		g_string_append_len(s, buf, o - buf);
		g_string_append(s, UTF8_REPLACEMENT);
		if (errno == EINVAL)	/* truncated sequence at the end */
			break;
		in++;			/* EILSEQ: skip one byte */
		inleft--;
	}
	o = buf;
	oleft = sizeof(buf);
	if (iconv(cd, NULL, NULL, &o, &oleft) != (size_t)-1)
		g_string_append_len(s, buf, o - buf);
	*outlen = s->len;
	return (g_string_free(s, FALSE));
}

/* drop NUL bytes in place (text must not carry them); the new length */
static size_t
strip_nul(char *p, size_t len)
{
	const char	*z;
	size_t		 r, w;

	/* most text has none: a byte at a time only from the first */
	if ((z = memchr(p, '\0', len)) == NULL)
		return (len);
	for (r = w = z - p; r < len; r++)
		if (p[r] != '\0')
			p[w++] = p[r];
	return (w);
}

/*
 * The charset mail clients mean by a label: the superset they write under
 * it (the WHATWG Encoding Standard's mapping).  Outlook labels Windows-1252
 * text (curly quotes, the euro sign) ISO-8859-1, Japanese Windows labels
 * CP932 text (circled digits, IBM kanji) Shift_JIS: decoded as labelled,
 * those characters became C1 controls or replacement characters.
 */
const char *
charset_superset(const char *cs)
{
	static const struct {
		const char	*label;
		const char	*charset;
	} map[] = {
		{ "iso-8859-1", "windows-1252" },
		{ "iso8859-1", "windows-1252" },
		{ "iso_8859-1", "windows-1252" },
		{ "latin1", "windows-1252" },
		{ "iso-8859-9", "windows-1254" },
		{ "shift_jis", "CP932" },
		{ "shift-jis", "CP932" },
		{ "sjis", "CP932" },
		{ "x-sjis", "CP932" },
		{ "windows-31j", "CP932" },
		{ "ms_kanji", "CP932" },
		{ "csshiftjis", "CP932" },
		{ "euc-kr", "CP949" },
		{ "ks_c_5601-1987", "CP949" },	/* Korean Outlook */
		{ "ks_c_5601-1989", "CP949" },
		{ "ks_c_5601", "CP949" },
		{ "windows-949", "CP949" },
		{ "gb2312", "GB18030" },
		{ "gbk", "GB18030" },
		{ "x-gbk", "GB18030" },
		{ "big5", "BIG5-HKSCS" },
		{ "tis-620", "windows-874" },	/* Thai */
		{ "iso-8859-11", "windows-874" },
		{ "dos-874", "windows-874" },
		{ "x-unknown", "windows-1252" }	/* encoded-words */
	};
	size_t	 i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(cs, map[i].label) == 0)
			return (map[i].charset);
	return (cs);
}

/*
 * Text that should be UTF-8 and is not (a stray Latin-1 byte in a UTF-8
 * part, a footer a list server appended in Windows-1252, no charset at
 * all): its valid UTF-8 sequences as they are, each other byte as the
 * Windows-1252 character it is (the WHATWG mapping: the five bytes that
 * have none are the C1 controls).  Decoding it all as one 8-bit charset
 * turned every correct non-ASCII character of it into mojibake ("Grüße"
 * into "GrÃ¼Ãe") to save the few that were not.  NUL bytes are gone.
 */
static char *
text_utf8_or_1252(const char *p, size_t len)
{
	static const gunichar c1[32] = {
		0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
		0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
		0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
		0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178
	};
	GString		*s;
	const char	*end;
	unsigned char	 c;

	s = g_string_sized_new(len + len / 4 + 1);
	while (len > 0) {
		(void)g_utf8_validate(p, len, &end);
		g_string_append_len(s, p, end - p);
		len -= end - p;
		p = end;
		if (len == 0)
			break;
		if ((c = *p) >= 0x80)
			g_string_append_unichar(s, c < 0xa0 ? c1[c - 0x80] : c);
		p++;
		len--;
	}
	return (g_string_free(s, FALSE));
}

/* bytes in charset (NULL: unknown) to g_malloc'd valid UTF-8 */
char *
text_convert(const char *p, size_t len, const char *charset)
{
	iconv_t	 cd;
	char	*s, *v, *q;
	size_t	 n;

	/* a UTF-8 byte order mark (Outlook, .NET) is no text: "YES" is "YES" */
	if (p != NULL && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0 &&
	    charset_is_utf8(charset)) {
		p += 3;
		len -= 3;
	}
	if (p == NULL || len == 0)
		return (g_strdup(""));
	if (!charset_is_utf8(charset))
		charset = charset_superset(charset);
	/*
	 * UTF-8 labelled ISO-8859-1 or Windows-1252 (a script that sends
	 * UTF-8 under a fixed header): text in those charsets is all but never
	 * valid UTF-8 once it has 8-bit bytes (the check stops at the first
	 * that is not), so such text is UTF-8; "café" came as "cafÃ©".
	 */
	if (charset != NULL && strcasecmp(charset, "windows-1252") == 0 &&
	    g_utf8_validate(p, len, NULL))
		charset = NULL;
	if (!charset_is_utf8(charset) &&
	    (cd = g_mime_iconv_open("UTF-8", charset)) != (iconv_t)-1) {
		s = iconv_all(cd, p, len, &n);
		g_mime_iconv_close(cd);
		s[strip_nul(s, n)] = '\0';
	} else {
		q = g_malloc(len + 1);
		memcpy(q, p, len);
		n = strip_nul(q, len);
		q[n] = '\0';
		if (g_utf8_validate(q, n, NULL))
			return (q);	/* checked: no second pass */
		s = text_utf8_or_1252(q, n);
		g_free(q);
	}
	if (s == NULL)
		return (utf8_clean(p, len));
	if (!g_utf8_validate(s, -1, NULL)) {
		v = utf8_clean(s, -1);
		g_free(s);
		s = v;
	}
	return (s);
}

/* CRLF (and a lone CR) to LF, in place */
void
text_unix_eol(char *s)
{
	char	*r, *w, *cr;
	size_t	 n;

	if ((r = strchr(s, '\r')) == NULL)
		return;
	/* the text between two CRs moves in one piece */
	for (w = r; r != NULL; r = cr) {
		if (r[1] != '\n')
			*w++ = '\n';
		r++;
		cr = strchr(r, '\r');
		n = cr != NULL ? (size_t)(cr - r) : strlen(r) + 1;
		memmove(w, r, n);
		w += n;
	}
}

/*
 * The html field is UTF-8 whatever the part's charset was, but a
 * <meta charset="iso-8859-1"> (or http-equiv Content-Type) in it still
 * says the part's: a receiver that stores or serves the HTML as it is
 * has it read as Latin-1 by a browser, every non-ASCII character as
 * mojibake.  Each such declaration says utf-8 instead, rewritten in
 * place; every other byte stays.  The first HTML_META_SCAN bytes are
 * parsed (gumbo, as a browser would: not a <meta> in a comment or a
 * script), and only up to the end of the last "<meta" tag among them (a
 * part with none is not parsed): a browser looks for the declaration at
 * the start (the prescan reads 1024 bytes), and a parse costs hundreds
 * of instructions a byte, which most of a part would not repay.
 */
#define HTML_META_SCAN	(64 * 1024)

struct html_span {
	size_t		 off, len;
	const char	*with;
};

static int
html_span_cmp(const void *a, const void *b)
{
	const struct html_span	*x = a, *y = b;

	return (x->off < y->off ? -1 : x->off > y->off);
}

/* what a charset declaration's value names is UTF-8 already */
static int
html_charset_utf8(const char *v)
{
	while (*v == ' ' || *v == '\t' || *v == '"' || *v == '\'')
		v++;
	return (g_ascii_strncasecmp(v, "utf-8", 5) == 0 ||
	    g_ascii_strncasecmp(v, "utf8", 4) == 0);
}

/*
 * The charset a Content-Type value (text/html; charset=x) names, or
 * NULL.  A "charset" with no "=" after it names none; the search goes
 * on from what follows it, never past the value's end.
 */
static const char *
html_content_charset(const char *v)
{
	while (*v != '\0') {
		if (g_ascii_strncasecmp(v, "charset", 7) != 0) {
			v++;
			continue;
		}
		for (v += 7; *v == ' ' || *v == '\t'; v++)
			;
		if (*v == '=')
			return (v + 1);
	}
	return (NULL);
}

/* a span of the source to write as with, if a is from the source */
static void
html_span_add(GArray *spans, const GumboAttribute *a, const char *html,
    size_t len, const char *with)
{
	struct html_span	 sp;
	const char		*p = a->original_value.data;

	if (p == NULL || a->original_value.length == 0 || p < html ||
	    (size_t)(p - html) > len ||
	    a->original_value.length > len - (size_t)(p - html))
		return;
	sp.off = p - html;
	sp.len = a->original_value.length;
	sp.with = with;
	g_array_append_val(spans, sp);
}

static void
html_meta(GArray *spans, const GumboElement *e, const char *html, size_t len)
{
	const GumboAttribute	*a, *he;
	const char		*cs;

	if ((a = gumbo_get_attribute(&e->attributes, "charset")) != NULL &&
	    !html_charset_utf8(a->value))
		html_span_add(spans, a, html, len, "\"utf-8\"");
	if ((he = gumbo_get_attribute(&e->attributes, "http-equiv")) !=
	    NULL && g_ascii_strcasecmp(he->value, "content-type") == 0 &&
	    (a = gumbo_get_attribute(&e->attributes, "content")) != NULL &&
	    (cs = html_content_charset(a->value)) != NULL &&
	    !html_charset_utf8(cs))
		html_span_add(spans, a, html, len,
		    "\"text/html; charset=utf-8\"");
}

/* the charset declarations of html[0..len) to rewrite, in spans */
static void
html_meta_walk(GArray *spans, const GumboNode *root, const char *html,
    size_t len)
{
	GPtrArray		*stack;
	const GumboNode		*n;
	const GumboVector	*kids;
	unsigned int		 i;

	stack = g_ptr_array_new();
	g_ptr_array_add(stack, (gpointer)root);
	while (stack->len > 0) {
		n = g_ptr_array_remove_index(stack, stack->len - 1);
		if (n->type == GUMBO_NODE_ELEMENT ||
		    n->type == GUMBO_NODE_TEMPLATE)
			kids = &n->v.element.children;
		else if (n->type == GUMBO_NODE_DOCUMENT)
			kids = &n->v.document.children;
		else
			continue;
		if (n->type == GUMBO_NODE_ELEMENT &&
		    n->v.element.tag == GUMBO_TAG_META &&
		    n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML)
			html_meta(spans, &n->v.element, html, len);
		for (i = 0; i < kids->length; i++)
			g_ptr_array_add(stack, kids->data[i]);
	}
	g_ptr_array_free(stack, TRUE);
}

/* html (g_malloc'd UTF-8, taken) with its charset declared as utf-8 */
char *
html_meta_utf8(char *html)
{
	GumboOptions		 opts;
	GumboOutput		*out;
	GArray			*spans;
	GString			*s;
	struct html_span	*sp;
	size_t			 len, i, at;

	len = strlen(html);
	if (len > HTML_META_SCAN) {
		len = HTML_META_SCAN;
		while (len > 0 && ((unsigned char)html[len] & 0xc0) == 0x80)
			len--;		/* not inside a character */
	}
	/* only as far as the end of the last <meta tag: no parse without */
	for (at = 0, i = 0; i + 5 <= len; i++)
		if (html[i] == '<' && g_ascii_strncasecmp(html + i + 1, "meta",
		    4) == 0)
			at = i + 5;
	if (at == 0)
		return (html);
	while (at < len && html[at] != '>')
		at++;
	if (at < len)
		len = at + 1;
	opts = kGumboDefaultOptions;
	/* each error keeps a copy of the open elements: none is wanted */
	opts.max_errors = 0;
	if ((out = gumbo_parse_with_options(&opts, html, len)) == NULL)
		return (html);
	spans = g_array_new(FALSE, FALSE, sizeof(struct html_span));
	html_meta_walk(spans, out->root, html, len);
	gumbo_destroy_output(&opts, out);
	if (spans->len == 0) {
		g_array_free(spans, TRUE);
		return (html);
	}
	g_array_sort(spans, html_span_cmp);
	s = g_string_sized_new(strlen(html) + 32);
	for (at = 0, i = 0; i < spans->len; i++) {
		sp = &g_array_index(spans, struct html_span, i);
		if (sp->off < at)
			continue;	/* overlaps: not from the source */
		g_string_append_len(s, html + at, sp->off - at);
		g_string_append(s, sp->with);
		at = sp->off + sp->len;
	}
	g_string_append(s, html + at);
	g_array_free(spans, TRUE);
	g_free(html);
	return (g_string_free(s, FALSE));
}

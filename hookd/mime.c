/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound message rendering with GMime: see mime.h for the formats.
 *
 * The message is read into memory (it is bounded by limit message-size),
 * parsed once by GMime into a `struct doc` (headers as a JSON object, the
 * two bodies as UTF-8, the attachments as decoded bytes), and the doc is
 * then rendered as JSON or as multipart/form-data parts.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <gumbo.h>
#include <jansson.h>

#include "addrguard.h"
#include "log.h"
#include "mime.h"
#include "verdict.h"

#define UTF8_REPLACEMENT "\xef\xbf\xbd"

struct attach {
	char		*file_name;	/* g_malloc'd UTF-8, NULL if none */
	char		*content_type;	/* g_malloc'd "type/subtype" */
	const char	*disposition;	/* "attachment" or "inline" */
	char		*content_id;	/* g_malloc'd, NULL if none */
	GByteArray	*data;		/* decoded bytes */
};

struct doc {
	json_t		*headers;
	char		*plain;		/* g_malloc'd UTF-8, NULL if none */
	char		*html;
	struct attach	*att;
	size_t		 natt;
	int		 crlf;		/* the message ends its lines in CRLF */
	int		 failed;	/* allocation failure somewhere */
	size_t		 max_depth;	/* nested multiparts walked */
};

struct mime_doc {
	GByteArray	*raw;		/* as spooled, our A-R header first */
	int		 parsed;	/* d is there */
	struct doc	 d;
	char		*reply;		/* reply_plain, malloc'd, or NULL */
	const char	*over;		/* the limit exceeded, or NULL */
	char		*jtail;		/* the JSON after the envelope
					   (g_malloc'd) */
};

struct owned_ptr {
	void		*p;
	void		(*fn)(void *);
};

struct mime_owned {
	struct owned_ptr *v;
	size_t		 n;
};

static int	 mime_initialized;

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
	"TIS-620",
	"Shift_JIS", "CP932", "EUC-JP", "ISO-2022-JP",
	"GB2312", "GBK", "GB18030", "Big5", "BIG5-HKSCS",
	"EUC-KR", "CP949", "ISO-2022-KR",
	"UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32", "UTF-7"
};
static iconv_t	 preload_cd[sizeof(preload_charsets) /
		    sizeof(preload_charsets[0])];

void
mime_init(void)
{
	if (mime_initialized)
		return;
	g_mime_init();
	mime_initialized = 1;
	mime_preload();
}

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
 * Owned storage of a payload.
 */
static int
owned_add(struct mime_payload *out, void *p, void (*fn)(void *))
{
	struct owned_ptr	*v;

	if (p == NULL)
		return (-1);
	if (out->owned == NULL &&
	    (out->owned = calloc(1, sizeof(*out->owned))) == NULL) {
		fn(p);
		return (-1);
	}
	v = reallocarray(out->owned->v, out->owned->n + 1, sizeof(*v));
	if (v == NULL) {
		fn(p);
		return (-1);
	}
	out->owned->v = v;
	v[out->owned->n].p = p;
	v[out->owned->n].fn = fn;
	out->owned->n++;
	return (0);
}

static void
free_bytes(void *p)
{
	g_byte_array_unref(p);
}

static void
free_json(void *p)
{
	json_decref(p);
}

void
mime_payload_free(struct mime_payload *out)
{
	size_t	 i;

	if (out == NULL)
		return;
	if (out->owned != NULL) {
		for (i = out->owned->n; i > 0; i--)
			out->owned->v[i - 1].fn(out->owned->v[i - 1].p);
		free(out->owned->v);
		free(out->owned);
	}
	free(out->parts);
	memset(out, 0, sizeof(*out));
}

/*
 * Reading and text conversion.
 */
/*
 * The whole file, sized by fstat: a spooled message is read in one
 * pread into a buffer of its size (growing a 64 KiB buffer by 64 KiB
 * cost a realloc, a copy and fresh pages for every message).  What is not
 * a regular file is read to its end from where it is, growing as it must.
 */
static GByteArray *
read_fd(int fd)
{
	GByteArray	*a;
	struct stat	 st;
	ssize_t		 n;
	size_t		 len = 0, want = 0;
	int		 reg;

	reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (reg && st.st_size > 0 && (uintmax_t)st.st_size < SSIZE_MAX / 2)
		want = st.st_size;
	a = g_byte_array_sized_new(want > 0 ? want : 65536);
	g_byte_array_set_size(a, want > 0 ? want : 65536);
	for (;;) {
		if (len == a->len)
			g_byte_array_set_size(a, a->len + (a->len < 65536 ?
			    65536 : a->len));
		n = reg ? pread(fd, a->data + len, a->len - len, len) :
		    read(fd, a->data + len, a->len - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			g_byte_array_unref(a);
			return (NULL);
		}
		if (n == 0)
			break;
		len += n;
		if (reg && want > 0 && len == want)
			break;		/* all fstat saw: the file is done */
	}
	g_byte_array_set_size(a, len);
	return (a);
}

/*
 * the message (msg if not NULL, malloc'd and taken: glib's allocator is
 * malloc, else read from fd) with our Authentication-Results header
 * (CRLF) first
 */
static GByteArray *
read_message(int fd, char *msg, size_t msglen, const char *ar,
    const char *authserv)
{
	GByteArray	*a;
	const guint8	*nl;
	char		*lf;
	size_t		 i, o;

	if (msg != NULL && msglen > 0 && msglen <= G_MAXUINT)
		a = g_byte_array_new_take((guint8 *)msg, msglen);
	else {
		free(msg);
		a = read_fd(fd);
	}
	if (a == NULL)
		return (NULL);
	g_byte_array_set_size(a, verdict_ar_strip((char *)a->data, a->len,
	    authserv));
	if (ar == NULL)
		return (a);
	nl = memchr(a->data, '\n', a->len);
	if (nl == NULL || nl == a->data || nl[-1] == '\r') {
		g_byte_array_prepend(a, (const guint8 *)ar, strlen(ar));
		return (a);
	}
	/* the message's line ends are LF: so are the header's */
	if ((lf = strdup(ar)) == NULL) {
		g_byte_array_unref(a);
		return (NULL);
	}
	for (i = o = 0; lf[i] != '\0'; i++)
		if (lf[i] != '\r' || lf[i + 1] != '\n')
			lf[o++] = lf[i];
	g_byte_array_prepend(a, (const guint8 *)lf, o);
	free(lf);
	return (a);
}

/* a g_malloc'd copy of s that is valid UTF-8 without NUL */
static char *
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
static json_t *
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
static json_t *
jtext(const char *s)
{
	return (s == NULL ? json_null() : json_string_nocheck(s));
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
static const char *
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
		{ "euc-kr", "CP949" },
		{ "ks_c_5601-1987", "CP949" },	/* Korean Outlook */
		{ "ks_c_5601-1989", "CP949" },
		{ "ks_c_5601", "CP949" },
		{ "windows-949", "CP949" },
		{ "gb2312", "GB18030" },
		{ "gbk", "GB18030" },
		{ "x-gbk", "GB18030" },
		{ "big5", "BIG5-HKSCS" },
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
static char *
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
static void
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

/* the decoded bytes of a leaf part (never NULL) */
static GByteArray *
part_bytes(GMimePart *part)
{
	GMimeDataWrapper	*content;
	GMimeStream		*mem;
	GByteArray		*a;

	a = g_byte_array_new();
	if ((content = g_mime_part_get_content(part)) == NULL)
		return (a);
	mem = g_mime_stream_mem_new_with_byte_array(a);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	(void)g_mime_data_wrapper_write_to_stream(content, mem);
	g_object_unref(mem);
	return (a);
}

static GByteArray *
message_bytes(GMimeMessagePart *mp, int crlf)
{
	GMimeFormatOptions *opts;
	GMimeMessage	*msg;
	GMimeStream	*mem;
	GByteArray	*a;

	a = g_byte_array_new();
	if ((msg = g_mime_message_part_get_message(mp)) == NULL)
		return (a);
	mem = g_mime_stream_mem_new_with_byte_array(a);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	/* the newlines of the original, not GMime's default LF */
	opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts, crlf ?
	    GMIME_NEWLINE_FORMAT_DOS : GMIME_NEWLINE_FORMAT_UNIX);
	(void)g_mime_object_write_to_stream(GMIME_OBJECT(msg), opts, mem);
	g_mime_format_options_free(opts);
	g_object_unref(mem);
	return (a);
}

static char *
part_text(GMimePart *part)
{
	GByteArray	*a;
	const char	*cs;
	char		*s;

	a = part_bytes(part);
	cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part),
	    "charset");
	s = text_convert((const char *)a->data, a->len, cs);
	g_byte_array_unref(a);
	text_unix_eol(s);
	return (s);
}

/*
 * Headers.
 */
struct hdr {
	const char	*name;
	const char	*value;
	char		*own;		/* value, when decoded here */
	gint64		 off;
	size_t		 seq;
};

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr	*x = a, *y = b;

	if (x->off != y->off)
		return (x->off < y->off ? -1 : 1);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* a charset whose characters may have NUL bytes */
static int
charset_wide(const char *cs)
{
	return (strncasecmp(cs, "utf-16", 6) == 0 ||
	    strncasecmp(cs, "utf16", 5) == 0 ||
	    strncasecmp(cs, "utf-32", 6) == 0 ||
	    strncasecmp(cs, "utf32", 5) == 0 ||
	    strncasecmp(cs, "ucs-", 4) == 0 ||
	    strncasecmp(cs, "ucs2", 4) == 0 ||
	    strncasecmp(cs, "ucs4", 4) == 0);
}

/* a Q-word's payload [p, end) after s, its "=00" as nul; 1 if it had one */
static int
words_q_nul(GString *s, const char *p, const char *end, const char *nul)
{
	int	 had = 0;

	while (p < end) {
		if (*p == '=' && end - p >= 3 && g_ascii_isxdigit(p[1]) &&
		    g_ascii_isxdigit(p[2])) {
			if (nul != NULL && p[1] == '0' && p[2] == '0') {
				g_string_append(s, nul);
				had = 1;
			} else
				g_string_append_len(s, p, 3);
			p += 3;
		} else
			g_string_append_c(s, *p++);
	}
	return (had);
}

/*
 * GMime 3.2 joins the payloads of adjacent encoded-words of one charset
 * and encoding before it decodes them, so the base64 padding of a B-word
 * followed by another ("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", as PHP's
 * mb_encode_mimeheader and others fold a long subject or name) decodes
 * to a NUL that ends the value there: the rest of the text was lost.
 * And it decodes a word in the charset its label names, where mail
 * clients mean the superset (charset_superset: Outlook's
 * "=?iso-8859-1?Q?Don=92t?=" is Windows-1252, its apostrophe was a C1
 * control).  words_fix() gives a raw value that has such a word with its
 * B-words written as Q-words, whose payloads join safely (a character
 * split between two words included), and its labels as the supersets,
 * unfolded; NULL for any other value: GMime's decoding is right for it.
 * nul not NULL: a NUL byte a word decodes to is written as nul (GMime
 * makes it '?'), unless the charset's characters have NUL bytes
 * (UTF-16, UTF-32).
 */
static char *
words_fix(const char *raw, const char *nul)
{
	GString		*s;
	const char	*p, *cs, *q, *end, *sup;
	guchar		*buf;
	char		 label[32];
	gint		 state;
	guint		 save;
	const char	*nulas = nul;
	size_t		 i, n;
	int		 b, changed = 0;
	char		*u;

	if (raw == NULL || strstr(raw, "=?") == NULL)
		return (NULL);
	s = g_string_new(NULL);
	for (p = raw; (cs = strstr(p, "=?")) != NULL; p = end + 2) {
		if ((q = strchr(cs + 2, '?')) == NULL ||
		    (size_t)(q - (cs + 2)) >= sizeof(label) ||
		    q[1] == '\0' || q[2] != '?' ||
		    (end = strstr(q + 3, "?=")) == NULL ||
		    memchr(cs, ' ', end - cs) != NULL ||
		    memchr(cs, '\n', end - cs) != NULL) {
			g_string_append_len(s, p, cs + 2 - p);
			end = cs;	/* not an encoded-word: on after "=?" */
			continue;
		}
		b = q[1] == 'B' || q[1] == 'b';
		memcpy(label, cs + 2, q - (cs + 2));
		label[q - (cs + 2)] = '\0';
		if ((sup = charset_superset(label)) != label)
			changed = 1;
		g_string_append_len(s, p, cs + 2 - p);
		g_string_append(s, sup);
		g_string_append_c(s, '?');
		if (charset_wide(label))
			nulas = NULL;
		if (!b) {
			g_string_append_len(s, q + 1, 2);
			if (words_q_nul(s, q + 3, end, nulas))
				changed = 1;
			g_string_append(s, "?=");
			nulas = nul;
			continue;
		}
		g_string_append(s, "Q?");
		if (memchr(q + 3, '=', end - (q + 3)) != NULL)
			changed = 1;	/* padding */
		buf = g_malloc((end - (q + 3)) / 4 * 3 + 3);
		state = 0;
		save = 0;
		n = g_base64_decode_step(q + 3, end - (q + 3), buf, &state,
		    &save);
		for (i = 0; i < n; i++) {
			if (buf[i] == '\0' && nulas != NULL) {
				g_string_append(s, nulas);
				changed = 1;
			} else
				g_string_append_printf(s, "=%02X", buf[i]);
		}
		nulas = nul;
		g_free(buf);
		g_string_append(s, "?=");
	}
	if (!changed) {
		g_string_free(s, TRUE);
		return (NULL);
	}
	g_string_append(s, p);
	u = g_mime_utils_header_unfold(s->str);
	g_string_free(s, TRUE);
	return (u);
}

/* a header's value decoded by words_fix(), or NULL: use GMime's */
static char *
hdr_words_fixed(const char *raw)
{
	char	*u, *v;

	if ((u = words_fix(raw, NULL)) == NULL)
		return (NULL);
	v = g_mime_utils_header_decode_text(NULL, u);
	g_free(u);
	return (v);
}

/*
 * Address fields (as addrguard.c's ADDR_FIELDS).  A display name in
 * encoded-words may hold what the phrase could not ("Müller, Jürgen" is
 * =?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?= as Exchange writes it): decoded
 * as text, the field no longer parses as the addresses it holds.  Such a
 * field is written again from its addresses, that name quoted.
 */
static int
hdr_is_address(const char *name)
{
	if (strncasecmp(name, "resent-", 7) == 0)
		name += 7;
	return (strcasecmp(name, "from") == 0 ||
	    strcasecmp(name, "sender") == 0 ||
	    strcasecmp(name, "reply-to") == 0 ||
	    strcasecmp(name, "to") == 0 || strcasecmp(name, "cc") == 0 ||
	    strcasecmp(name, "bcc") == 0);
}

#define ADDR_SPECIALS	",;:<>@\"\\()[]"

static int
addr_needs_quotes(InternetAddressList *l)
{
	InternetAddress	*ia;
	const char	*name;
	int		 i, n;

	n = internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		name = internet_address_get_name(ia);
		if (name != NULL && strpbrk(name, ADDR_SPECIALS) != NULL)
			return (1);
		if (INTERNET_ADDRESS_IS_GROUP(ia) && addr_needs_quotes(
		    internet_address_group_get_members(
		    INTERNET_ADDRESS_GROUP(ia))))
			return (1);
	}
	return (0);
}

static void
addr_format(GString *s, InternetAddressList *l)
{
	InternetAddress	*ia;
	const char	*name, *p;
	int		 i, n;

	n = internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		if (i > 0)
			g_string_append(s, ", ");
		if ((name = internet_address_get_name(ia)) != NULL &&
		    *name != '\0') {
			if (strpbrk(name, ADDR_SPECIALS) == NULL)
				g_string_append(s, name);
			else {
				g_string_append_c(s, '"');
				for (p = name; *p != '\0'; p++) {
					if (*p == '"' || *p == '\\')
						g_string_append_c(s, '\\');
					g_string_append_c(s, *p);
				}
				g_string_append_c(s, '"');
			}
		}
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			g_string_append(s, ": ");
			addr_format(s, internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)));
			g_string_append_c(s, ';');
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia) &&
		    (p = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia))) != NULL)
			g_string_append_printf(s, name != NULL &&
			    *name != '\0' ? " <%s>" : "%s", p);
	}
}

/* an address field's value, when a decoded name needs quotes; else NULL */
static char *
hdr_addr_quoted(const char *name, const char *raw)
{
	InternetAddressList	*l;
	GString			*s;
	char			*u;

	if (raw == NULL || strstr(raw, "=?") == NULL || !hdr_is_address(name))
		return (NULL);
	if ((u = words_fix(raw, NULL)) == NULL)
		u = g_mime_utils_header_unfold(raw);
	l = internet_address_list_parse(NULL, u);
	g_free(u);
	if (l == NULL)
		return (NULL);
	if (!addr_needs_quotes(l)) {
		g_object_unref(l);
		return (NULL);
	}
	s = g_string_new(NULL);
	addr_format(s, l);
	g_object_unref(l);
	return (g_string_free(s, FALSE));
}

static size_t
hdr_collect(GMimeObject *obj, struct hdr *h, size_t n, size_t max)
{
	GMimeHeaderList	*hl;
	GMimeHeader	*gh;
	const char	*raw;
	int		 i, count;

	if (obj == NULL || (hl = g_mime_object_get_header_list(obj)) == NULL)
		return (n);
	count = g_mime_header_list_get_count(hl);
	for (i = 0; i < count && n < max; i++) {
		gh = g_mime_header_list_get_header_at(hl, i);
		if ((h[n].name = g_mime_header_get_name(gh)) == NULL)
			continue;
		raw = g_mime_header_get_raw_value(gh);
		if ((h[n].own = hdr_addr_quoted(h[n].name, raw)) == NULL)
			h[n].own = hdr_words_fixed(raw);
		h[n].value = h[n].own ? h[n].own :
		    g_mime_header_get_value(gh);
		h[n].off = g_mime_header_get_offset(gh);
		h[n].seq = n;
		n++;
	}
	return (n);
}

static char *
hdr_key(const char *name)
{
	char	*k, *p;

	k = utf8_clean(name, -1);
	for (p = k; *p != '\0'; p++) {
		if (*p == '-')
			*p = '_';
		else if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	}
	return (k);
}

/*
 * A decoded value holds what its encoded-words decode to: a CR or LF
 * there (=?utf-8?Q?a=0D=0Ab?=) would break the line of a receiver that
 * puts the subject in a header or a log.  Each run of them is one space,
 * in place.
 */
static void
hdr_one_line(char *s)
{
	char	*r, *w;
	int	 brk = 0;

	for (r = w = s; *r != '\0'; r++) {
		if (*r != '\r' && *r != '\n') {
			*w++ = *r;
			brk = 0;
		} else if (!brk) {
			*w++ = ' ';
			brk = 1;
		}
	}
	*w = '\0';
}

static int
hdr_add(json_t *obj, const char *name, const char *value)
{
	json_t	*old, *arr, *v;
	char	*key, *val;
	int	 rv = -1;

	key = hdr_key(name);
	val = utf8_clean(value, -1);
	hdr_one_line(val);
	g_strstrip(val);
	if ((v = json_string_nocheck(val)) == NULL)	/* made valid */
		goto done;
	if ((old = json_object_get(obj, key)) == NULL)
		rv = json_object_set_new(obj, key, v);
	else if (json_is_array(old))
		rv = json_array_append_new(old, v);
	else if ((arr = json_array()) == NULL)
		json_decref(v);
	else {
		json_array_append(arr, old);
		json_array_append_new(arr, v);
		rv = json_object_set_new(obj, key, arr);
	}
 done:
	g_free(key);
	g_free(val);
	return (rv);
}

static int
doc_headers(struct doc *d, GMimeMessage *msg)
{
	GMimeObject	*top = GMIME_OBJECT(msg), *part;
	GMimeHeaderList	*hl;
	struct hdr	*h;
	size_t		 n = 0, max, i;

	part = g_mime_message_get_mime_part(msg);
	hl = g_mime_object_get_header_list(top);
	max = hl ? g_mime_header_list_get_count(hl) : 0;
	if (part != NULL &&
	    (hl = g_mime_object_get_header_list(part)) != NULL)
		max += g_mime_header_list_get_count(hl);
	if (max == 0)
		return (0);
	if ((h = calloc(max, sizeof(*h))) == NULL)
		return (-1);
	n = hdr_collect(top, h, n, max);
	n = hdr_collect(part, h, n, max);
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (i = 0; i < n; i++) {
		if (hdr_add(d->headers, h[i].name, h[i].value) == -1)
			d->failed = 1;
		g_free(h[i].own);
	}
	free(h);
	return (0);
}

/*
 * The part tree.
 */
static int
is_attachment_disposition(GMimeObject *obj)
{
	const char	*disp;

	disp = g_mime_object_get_disposition(obj);
	return (disp != NULL && strcasecmp(disp, "attachment") == 0);
}

/* the Content-ID without its <>; NULL for none and for an empty "<>" */
static const char *
content_id_of(GMimeObject *obj)
{
	const char	*cid;

	cid = g_mime_object_get_content_id(obj);
	return (cid != NULL && *cid != '\0' ? cid : NULL);
}

static const char *
disposition_of(GMimeObject *obj, GMimeObject *parent)
{
	const char	*disp;

	disp = g_mime_object_get_disposition(obj);
	if (disp != NULL && strcasecmp(disp, "attachment") == 0)
		return ("attachment");
	if (disp != NULL && strcasecmp(disp, "inline") == 0)
		return ("inline");
	if (content_id_of(obj) != NULL)
		return ("inline");
	if (parent != NULL && g_mime_content_type_is_type(
	    g_mime_object_get_content_type(parent), "multipart", "related"))
		return ("inline");
	return ("attachment");
}

/*
 * A part's file name as a receiver may use it: the last component of a
 * path ("../../etc/passwd" is "passwd", "C:\x\a.exe" is "a.exe"), control
 * characters as '_'; NULL (no name) for "", "." and "..".
 */
static char *
file_name_of(const char *fn)
{
	const char	*base, *p;
	char		*s, *q;

	for (base = p = fn; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return (NULL);
	s = utf8_clean(base, -1);
	for (q = s; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '_';
	return (s);
}

/*
 * A NUL byte in a file name would end it where a receiver reads it
 * ("evil.exe%00.pdf" as "evil.exe"), and GMime ends it there: an RFC
 * 2231 value's "%00" ("filename*=utf-8''a%00b.pdf", continuations too)
 * is written as "%5F", '_' as file_name_of() makes every other control
 * character; an encoded-word's NUL likewise (words_fix()).  Not in a
 * value in UTF-16 or UTF-32, whose characters have NUL bytes.  The
 * header's raw value so fixed, g_malloc'd; NULL if it has none.
 */
static char *
file_name_nul_fix(const char *raw)
{
	GString		*s;
	const char	*p;
	int		 quoted = 0, ext = 0, name = 0, changed = 0;

	if (raw == NULL || strstr(raw, "%00") == NULL)
		return (NULL);
	s = g_string_new(NULL);
	for (p = raw; *p != '\0'; p++) {
		if (ext && strncmp(p, "%00", 3) == 0) {
			g_string_append(s, "%5F");
			p += 2;
			changed = 1;
			continue;
		}
		if (quoted) {
			if (*p == '\\' && p[1] != '\0')
				g_string_append_c(s, *p++);
			else if (*p == '"')
				quoted = 0;
		} else if (*p == '"')
			quoted = 1;
		else if (*p == ';') {
			name = 1;	/* a parameter's name follows */
			ext = 0;
		} else if (name && *p == '=') {
			name = 0;
			ext = p[-1] == '*';
			/* charset'language'value: NUL bytes are characters */
			if (ext && charset_wide(p + 1 + (p[1] == '"')))
				break;
		}
		g_string_append_c(s, *p);
	}
	if (!changed || *p != '\0') {
		g_string_free(s, TRUE);
		return (NULL);
	}
	return (g_string_free(s, FALSE));
}

/*
 * A Content-Type whose type GMime cannot read (";name=x.pdf", no type at
 * all, or "text;name=x.pdf") loses its parameters with it: GMime makes it
 * application/octet-stream without them.  The parameters are well
 * formed, and readers that take a parameter by name (Thunderbird, mutt)
 * still name the file x.pdf: file_name_fixed() reads them after that
 * type.  The type stays GMime's.
 */
static int
ctype_params_lost(GMimeObject *obj, const char *raw)
{
	GMimeContentType	*ct;

	return (raw != NULL && strchr(raw, ';') != NULL &&
	    (ct = g_mime_object_get_content_type(obj)) != NULL &&
	    g_mime_param_list_length(
	    g_mime_content_type_get_parameters(ct)) == 0);
}

/*
 * The file name of a part whose header has it in encoded-words that
 * words_fix() changes (padded B-words: Outlook writes a long non-ASCII
 * name so; a charset read as its superset; a NUL), with a NUL in an
 * RFC 2231 value (file_name_nul_fix()), or in a Content-Type of no type
 * (ctype_params_lost()), g_malloc'd; NULL when GMime's is right.
 */
static char *
file_name_fixed(GMimeObject *obj)
{
	GMimeContentDisposition	*cd;
	GMimeContentType	*ct;
	GMimeHeaderList		*hl;
	GMimeHeader		*h;
	const char		*fn = NULL, *raw;
	char			*u, *v, *r = NULL;
	int			 disp, typeless;

	disp = g_mime_object_get_content_disposition_parameter(obj,
	    "filename") != NULL;
	if ((hl = g_mime_object_get_header_list(obj)) == NULL ||
	    (h = g_mime_header_list_get_header(hl, disp ?
	    "Content-Disposition" : "Content-Type")) == NULL)
		return (NULL);
	raw = g_mime_header_get_raw_value(h);
	typeless = !disp && ctype_params_lost(obj, raw);
	u = words_fix(raw, "=5F");
	if ((v = file_name_nul_fix(u != NULL ? u : raw)) != NULL) {
		g_free(u);
		u = v;
	}
	if (u == NULL && !typeless)
		return (NULL);
	if (typeless) {
		v = g_strconcat("application/octet-stream",
		    strchr(u != NULL ? u : raw, ';'), NULL);
		g_free(u);
		u = v;
	}
	if (disp) {
		if ((cd = g_mime_content_disposition_parse(NULL, u)) != NULL) {
			fn = g_mime_content_disposition_get_parameter(cd,
			    "filename");
			r = g_strdup(fn);
			g_object_unref(cd);
		}
	} else if ((ct = g_mime_content_type_parse(NULL, u)) != NULL) {
		fn = g_mime_content_type_get_parameter(ct, "name");
		r = g_strdup(fn);
		g_object_unref(ct);
	}
	g_free(u);
	return (r);
}

static void
doc_attach(struct doc *d, GMimeObject *obj, GMimeObject *parent,
    GByteArray *data)
{
	struct attach	*a;
	GMimeContentType *ct;
	const char	*fn = NULL, *cid;
	char		*mt, *padded;

	a = reallocarray(d->att, d->natt + 1, sizeof(*a));
	if (a == NULL) {
		d->failed = 1;
		g_byte_array_unref(data);
		return;
	}
	d->att = a;
	a = &d->att[d->natt++];
	memset(a, 0, sizeof(*a));
	if (GMIME_IS_PART(obj))
		fn = g_mime_part_get_filename(GMIME_PART(obj));
	else
		fn = g_mime_object_get_content_disposition_parameter(obj,
		    "filename");
	if ((padded = file_name_fixed(obj)) != NULL) {
		a->file_name = file_name_of(padded);
		g_free(padded);
	} else if (fn != NULL)
		a->file_name = file_name_of(fn);
	ct = g_mime_object_get_content_type(obj);
	mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	a->content_type = utf8_clean(mt ? mt : "application/octet-stream",
	    -1);
	g_free(mt);
	for (mt = a->content_type; *mt != '\0'; mt++)
		*mt = g_ascii_tolower(*mt);
	a->disposition = disposition_of(obj, parent);
	if ((cid = content_id_of(obj)) != NULL)
		a->content_id = utf8_clean(cid, -1);
	a->data = data;
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

/* the charset a Content-Type value (text/html; charset=x) names, or NULL */
static const char *
html_content_charset(const char *v)
{
	for (; *v != '\0'; v++)
		if (g_ascii_strncasecmp(v, "charset", 7) == 0) {
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
static char *
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

static void
doc_leaf(struct doc *d, GMimeObject *obj, GMimeObject *parent)
{
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	const char		*fn = g_mime_part_get_filename(GMIME_PART(obj));
	char			**slot = NULL;

	/*
	 * A text part of a multipart with a file name is a file, whatever
	 * its disposition (Apple Mail sends a .txt "inline; filename=").
	 */
	if (ct != NULL && !is_attachment_disposition(obj) &&
	    (parent == NULL || fn == NULL || *fn == '\0')) {
		if (g_mime_content_type_is_type(ct, "text", "plain"))
			slot = &d->plain;
		else if (g_mime_content_type_is_type(ct, "text", "html"))
			slot = &d->html;
	}
	if (slot != NULL && *slot == NULL) {
		*slot = part_text(GMIME_PART(obj));
		if (slot == &d->html)
			d->html = html_meta_utf8(d->html);
	} else
		doc_attach(d, obj, parent, part_bytes(GMIME_PART(obj)));
}

static void
doc_walk(struct doc *d, GMimeObject *obj, GMimeObject *parent, int depth)
{
	GMimeMultipart	*mp;
	const char	*prefix;
	int		 i, n;

	if (obj == NULL || (size_t)depth > d->max_depth)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		mp = GMIME_MULTIPART(obj);
		n = g_mime_multipart_get_count(mp);
		for (i = 0; i < n; i++)
			doc_walk(d, g_mime_multipart_get_part(mp, i), obj,
			    depth + 1);
		/* no boundary found: the text before it is all there is */
		prefix = g_mime_multipart_get_prologue(mp);
		if (n == 0 && prefix != NULL && d->plain == NULL) {
			d->plain = text_convert(prefix, strlen(prefix), NULL);
			text_unix_eol(d->plain);
		}
	} else if (GMIME_IS_MESSAGE_PART(obj))
		doc_attach(d, obj, parent,
		    message_bytes(GMIME_MESSAGE_PART(obj), d->crlf));
	else if (GMIME_IS_PART(obj))
		doc_leaf(d, obj, parent);
}

static void
doc_free(struct doc *d)
{
	size_t	 i;

	json_decref(d->headers);
	g_free(d->plain);
	g_free(d->html);
	for (i = 0; i < d->natt; i++) {
		g_free(d->att[i].file_name);
		g_free(d->att[i].content_type);
		g_free(d->att[i].content_id);
		if (d->att[i].data != NULL)
			g_byte_array_unref(d->att[i].data);
	}
	free(d->att);
	memset(d, 0, sizeof(*d));
}

/*
 * The header block ends at the first empty line.  A line that is neither
 * a header field (blanks before its colon allowed, as RFC 5322 4.5's
 * obsolete syntax has them) nor a continuation before that (a message
 * with no blank line, or with no header but the Received: smtpd adds)
 * starts the body: return where to insert the missing empty line, or 0
 * when none is.
 */
static size_t
header_end_missing(const guint8 *p, size_t len)
{
	size_t	off = 0, i;

	while (off < len) {
		if (p[off] == '\n' || (p[off] == '\r' && off + 1 < len &&
		    p[off + 1] == '\n'))
			return (0);		/* the empty line is there */
		if (off > 0 && (p[off] == ' ' || p[off] == '\t'))
			goto next;		/* continuation */
		for (i = off; i < len && p[i] > 0x20 && p[i] < 0x7f &&
		    p[i] != ':'; i++)
			;
		if (i == off)
			return (off);		/* not a header field */
		/* RFC 5322 4.5 obs-optional: blanks before the colon */
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i >= len || p[i] != ':')
			return (off);		/* not a header field */
next:
		while (off < len && p[off] != '\n')
			off++;
		off++;
	}
	return (0);
}

/*
 * The parser of this thread (the event loop's, the MIME thread's), kept
 * from one message to the next: GMime compiles addr_guard_parser()'s
 * field-name expression for each new parser (about a tenth of a 4 KiB
 * message's parse), and a parser given a new stream keeps it.  Between
 * messages it holds an empty stream, not the last message's.
 */
static _Thread_local GMimeParser	*kept_parser;
static _Thread_local GMimeStream	*kept_empty;

static GMimeParser *
parser_take(GMimeStream *stream)
{
	if (kept_parser == NULL) {
		kept_parser = g_mime_parser_new_with_stream(stream);
		addr_guard_parser(kept_parser);
		kept_empty = g_mime_stream_null_new();
	} else
		g_mime_parser_init_with_stream(kept_parser, stream);
	return (kept_parser);
}

static void
parser_put(GMimeParser *parser)
{
	g_mime_parser_init_with_stream(parser, kept_empty);
}

/* the first len bytes of raw */
static int
doc_parse(struct doc *d, GByteArray *raw, size_t len, size_t max_depth)
{
	const guint8	*data = raw->data, *nl;
	GMimeStream	*stream, *whole;
	GMimeParser	*parser;
	GMimeMessage	*msg;
	GByteArray	*fixed = NULL;
	size_t		 cut;

	memset(d, 0, sizeof(*d));
	if ((d->headers = json_object()) == NULL)
		return (-1);
	d->max_depth = max_depth;
	mime_init();
	nl = memchr(data, '\n', len);
	d->crlf = nl != NULL && nl > data && nl[-1] == '\r';
	if ((cut = header_end_missing(data, len)) > 0) {
		fixed = g_byte_array_sized_new(len + 2);
		g_byte_array_append(fixed, data, cut);
		g_byte_array_append(fixed, (const guint8 *)"\r\n", 2);
		g_byte_array_append(fixed, data + cut, len - cut);
	}
	stream = g_mime_stream_mem_new_with_byte_array(fixed ? fixed : raw);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	if (fixed == NULL && len < raw->len) {
		whole = stream;
		stream = g_mime_stream_substream(whole, 0, len);
		g_object_unref(whole);
	}
	parser = parser_take(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg != NULL) {
		if (doc_headers(d, msg) == -1)
			d->failed = 1;
		doc_walk(d, g_mime_message_get_mime_part(msg), NULL, 0);
		g_object_unref(msg);
	}
	/* not a message at all (junk, no header): deliver the bytes as text */
	if (json_object_size(d->headers) == 0 && d->html == NULL &&
	    d->natt == 0 && (d->plain == NULL || *d->plain == '\0')) {
		g_free(d->plain);
		d->plain = text_convert((const char *)data, len, NULL);
		text_unix_eol(d->plain);
	}
	parser_put(parser);
	g_object_unref(stream);
	if (fixed != NULL)
		g_byte_array_unref(fixed);
	if (d->failed) {
		doc_free(d);
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

/*
 * reply_plain: the new text of a reply.
 */
static int
line_is(const char *l, size_t len, const char *what)
{
	return (strlen(what) == len && strncasecmp(l, what, len) == 0);
}

static int
line_ends(const char *l, size_t len, const char *what)
{
	size_t	 w = strlen(what);

	return (len >= w && strncasecmp(l + len - w, what, w) == 0);
}

static int
line_starts(const char *l, size_t len, const char *what)
{
	size_t	 w = strlen(what);

	return (len >= w && strncmp(l, what, w) == 0);
}

/*
 * "On <date>, <name> wrote:" and the like, one line or wrapped onto a
 * second: in the languages of line_original(), as Gmail, Thunderbird and
 * Apple Mail write them
 */
static const struct {
	const char	*start, *end;
} attributions[] = {
	{ "On ", "wrote:" },
	{ "Le ", "a \xc3\xa9" "crit :" },
	{ "Le ", "a \xc3\xa9" "crit:" },
	{ "El ", "escribi\xc3\xb3:" },
	{ "Il ", "ha scritto:" },
	{ "Em ", "escreveu:" },
};

/* Thunderbird "Am <date> schrieb <name>:", Gmail's name follows */
static const struct {
	const char	*start, *verb;
} attributions_verb[] = {
	{ "Am ", "schrieb" },
	{ "Op ", "schreef" },
};

static int
line_attribution(const char *l, size_t len, const char *next, size_t nlen)
{
	char		 v[16];
	const char	*verb;
	size_t		 i, vl;
	int		 wrapped;

	wrapped = next != NULL && nlen > 0 && !line_starts(next, nlen, ">");
	for (i = 0; i < sizeof(attributions) / sizeof(attributions[0]); i++)
		if (line_starts(l, len, attributions[i].start) &&
		    (line_ends(l, len, attributions[i].end) || (wrapped &&
		    line_ends(next, nlen, attributions[i].end))))
			return (1);
	for (i = 0; i < sizeof(attributions_verb) /
	    sizeof(attributions_verb[0]); i++) {
		if (!line_starts(l, len, attributions_verb[i].start))
			continue;
		verb = attributions_verb[i].verb;
		vl = strlen(verb);
		(void)snprintf(v, sizeof(v), "%s:", verb);
		if (line_ends(l, len, v))
			return (1);
		(void)snprintf(v, sizeof(v), " %s ", verb);
		if (line_ends(l, len, ":") && memmem(l, len, v, vl + 2) != NULL)
			return (1);
		if (wrapped && line_ends(next, nlen, ":") &&
		    (memmem(l, len, v, vl + 2) != NULL ||
		    memmem(next, nlen, v + 1, vl + 1) != NULL))
			return (1);
	}
	/*
	 * Outlook's header block of the quoted message (Outlook for Mac and
	 * others write it without a rule above it): "From: ..." then "Sent:"
	 * or "Date:".
	 */
	if ((line_starts(l, len, "From: ") && next != NULL &&
	    (line_starts(next, nlen, "Sent: ") ||
	    line_starts(next, nlen, "Date: "))) ||
	    (line_starts(l, len, "Von: ") && next != NULL &&
	    (line_starts(next, nlen, "Gesendet: ") ||
	    line_starts(next, nlen, "Datum: "))))
		return (1);
	return (0);
}

/*
 * Outlook's "-----Original Message-----" in the languages it is most
 * often set up in (the text between the five dashes on either side)
 */
static int
line_original(const char *l, size_t len)
{
	static const char *const what[] = {
		"Original Message", "Urspr\xc3\xbcngliche Nachricht",
		"Message d'origine", "Mensaje original", "Messaggio originale",
		"Oorspronkelijk bericht", "Mensagem original"
	};
	size_t	 i;

	if (len < 11 || !line_starts(l, len, "-----") ||
	    !line_ends(l, len, "-----"))
		return (0);
	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		if (line_is(l + 5, len - 10, what[i]))
			return (1);
	return (0);
}

static int
line_marker(const char *l, size_t len)
{
	size_t	 i;

	if (line_is(l, len, "--") || line_is(l, len, "-- ") ||
	    line_original(l, len) ||
	    line_is(l, len, "Begin forwarded message:") ||
	    (line_starts(l, len, "---------- Forwarded message") &&
	    line_ends(l, len, "---------")))
		return (1);
	if (len < 10)
		return (0);
	for (i = 0; i < len; i++)
		if (l[i] != '_')
			return (0);
	return (1);
}

static size_t
rtrim_len(const char *l, size_t len)
{
	while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' ||
	    l[len - 1] == '\r'))
		len--;
	return (len);
}

/*
 * The first bytes line_marker() and line_attribution() can be true for
 * ("--", "-----", "Begin", "____"; "On ", "Le ", ..., "From: ", "Von: "):
 * a line starting otherwise is neither, without the two being asked.
 */
static int
line_may_mark(const char *l, size_t len)
{
	return (len > 0 && strchr("-_Bb", l[0]) != NULL);
}

static int
line_may_attribute(const char *l, size_t len)
{
	return (len > 0 && strchr("OLEIAFV", l[0]) != NULL);
}

char *
mime_reply_text(const char *plain)
{
	const char	*l, *e, *next, *ne;
	char		*s;
	size_t		 len, tlen, nlen, n = 0, lead;

	if (plain == NULL)
		plain = "";
	/* each line of plain at most, and a newline after the last */
	if ((s = malloc(strlen(plain) + 2)) == NULL)
		return (NULL);
	for (l = plain; *l != '\0'; l = next) {
		e = strchr(l, '\n');
		len = e ? (size_t)(e - l) : strlen(l);
		next = e ? e + 1 : NULL;
		tlen = rtrim_len(l, len);
		/* a marker line keeps its trailing space ("-- ") */
		if (line_may_mark(l, len) &&
		    (line_marker(l, len) || line_marker(l, tlen)))
			break;
		if (line_may_attribute(l, tlen)) {
			nlen = 0;
			if (next != NULL && *next != '\0') {
				ne = strchr(next, '\n');
				nlen = rtrim_len(next, ne ?
				    (size_t)(ne - next) : strlen(next));
			}
			if (line_attribution(l, tlen, next, nlen))
				break;
		}
		if (len > 0 && l[0] == '>') {
			if (next == NULL)
				break;
			continue;
		}
		memcpy(s + n, l, len);
		n += len;
		s[n++] = '\n';
		if (next == NULL)
			break;
	}
	/* trim blank lines and trailing white space */
	while (n > 0 && g_ascii_isspace(s[n - 1]))
		n--;
	for (lead = 0; lead < n && g_ascii_isspace(s[lead]); lead++)
		;
	while (lead > 0 && s[lead - 1] != '\n')
		lead--;
	memmove(s, s + lead, n - lead);
	s[n - lead] = '\0';
	return (s);
}

/*
 * JSON.
 */
/*
 * envelope.dkim [{domain, selector, result}], envelope.dmarc {result,
 * policy, domain}
 */
static int
verdict_json(json_t *e, const struct envelope *env)
{
	json_t	*dkim;
	size_t	 i;

	if ((dkim = json_array()) == NULL ||
	    json_object_set_new(e, "dkim", dkim) == -1)
		return (-1);
	for (i = 0; i < env->ndkim; i++)
		if (json_array_append_new(dkim, json_pack("{s:o, s:o, s:s}",
		    "domain", jstr(env->dkim[i].domain),
		    "selector", jstr(env->dkim[i].selector),
		    "result", env->dkim[i].result)) == -1)
			return (-1);
	if (json_object_set_new(e, "dmarc", json_pack("{s:s, s:o, s:o}",
	    "result", env->dmarc_result,
	    "policy", env->dmarc_policy[0] ? jstr(env->dmarc_policy) :
	    json_null(),
	    "domain", jstr(env->dmarc_domain))) == -1)
		return (-1);
	if (env->quarantined &&
	    json_object_set_new(e, "quarantined", json_true()) == -1)
		return (-1);
	return (0);
}

static json_t *
envelope_json(const struct envelope *env, const char *rcpt)
{
	const struct envelope_rcpt *self = NULL, *r;
	json_t		*e, *rcpts, *spf;
	size_t		 i;

	for (i = 0; rcpt != NULL && i < env->nrcpt; i++)
		if (strcasecmp(env->rcpts[i].addr, rcpt) == 0) {
			self = &env->rcpts[i];
			break;
		}
	if ((rcpts = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		if (self != NULL && (r->dest != self->dest ||
		    r->route != self->route))
			continue;
		json_array_append_new(rcpts, jstr(r->addr));
	}
	spf = json_pack("{s:o, s:o}",
	    "result", jstr(env->spf_result),
	    "domain", jstr(env->spf_domain));
	e = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
	    "to", jstr(rcpt ? rcpt : ""),
	    "recipients", rcpts,
	    "from", jstr(env->sender),
	    "helo_domain", jstr(env->helo),
	    "remote_ip", jstr(env->remote_ip),
	    "spf", spf,
	    "tls", env->tls ? 1 : 0);
	if (e != NULL && env->auth_checked && verdict_json(e, env) == -1) {
		json_decref(e);
		return (NULL);
	}
	return (e);
}

static json_t *
attach_json(const struct attach *a)
{
	json_t	*j;
	char	*b64;

	b64 = g_base64_encode(a->data->data, a->data->len);
	j = json_pack("{s:o, s:s, s:I, s:s, s:o, s:o}",
	    "file_name", jstr(a->file_name),
	    "content_type", a->content_type,
	    "size", (json_int_t)a->data->len,
	    "disposition", a->disposition,
	    "content_id", jstr(a->content_id),
	    "content", json_string_nocheck(b64));
	g_free(b64);
	return (j);
}

/* the attachments array, in message order */
static json_t *
doc_attachments(const struct doc *d)
{
	json_t		*atts, *a;
	size_t		 i;

	if ((atts = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < d->natt; i++) {
		if ((a = attach_json(&d->att[i])) == NULL ||
		    json_array_append_new(atts, a) == -1) {
			json_decref(atts);
			return (NULL);
		}
	}
	return (atts);
}

/* everything but the envelope: the same for every recipient */
static json_t *
doc_json(const struct mime_doc *md)
{
	const struct doc *d = &md->d;
	json_t		*root;

	root = json_pack("{s:O, s:o, s:o, s:o, s:o}",
	    "headers", d->headers,
	    "plain", jtext(d->plain),
	    "html", jtext(d->html),
	    "reply_plain", jtext(md->reply),
	    "attachments", doc_attachments(d));
	if (root != NULL && md->over != NULL &&
	    json_object_set_new(root, "truncated", json_string(md->over)) ==
	    -1) {
		json_decref(root);
		return (NULL);
	}
	return (root);
}

static int
jappend_cb(const char *buf, size_t len, void *t)
{
	g_string_append_len(t, buf, len);
	return (0);
}

/* jansson's text of j (released) after t */
static int
jappend(GString *t, json_t *j)
{
	int	 rc;

	if (j == NULL)
		return (-1);
	rc = json_dump_callback(j, jappend_cb, t,
	    JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return (rc);
}

/* the JSON string of p[0..len) (valid UTF-8) after t, without its quotes */
static int
jappend_inner(GString *t, const char *p, size_t len)
{
	size_t	 at = t->len;

	if (len == 0)
		return (0);
	if (jappend(t, json_stringn_nocheck(p, len)) == -1)
		return (-1);
	g_string_erase(t, at, 1);
	g_string_truncate(t, t->len - 1);
	return (0);
}

/*
 * "plain" after t, and reply_plain's JSON text in r.  The reply is most
 * often the plain text less its surrounding blank lines, so found inside
 * it; jansson then escapes that text once, not twice (escaping the two
 * was half of rendering a 4 KiB plain message).  Escapes are made a
 * character at a time and both texts are valid UTF-8, so pieces join.
 */
static int
jtail_texts(GString *t, GString *r, const char *plain, const char *reply)
{
	const char	*at = NULL;
	size_t		 rlen = 0, lead;

	if (plain != NULL && reply != NULL && *reply != '\0') {
		/*
		 * Where mime_reply_text() starts it when no quoted line came
		 * first: the line of the first non-blank character.  Any
		 * place it is found gives the same text.
		 */
		rlen = strlen(reply);
		for (lead = 0; g_ascii_isspace(plain[lead]); lead++)
			;
		while (lead > 0 && plain[lead - 1] != '\n')
			lead--;
		if (strncmp(plain + lead, reply, rlen) == 0)
			at = plain + lead;
		else
			at = strstr(plain, reply);
	}
	if (at == NULL)
		return (jappend(t, jtext(plain)) == -1 ||
		    jappend(r, jtext(reply)) == -1 ? -1 : 0);
	g_string_append_c(r, '"');
	if (jappend_inner(r, reply, rlen) == -1)
		return (-1);
	g_string_append_c(t, '"');
	if (jappend_inner(t, plain, at - plain) == -1)
		return (-1);
	g_string_append_len(t, r->str + 1, r->len - 1);
	if (jappend_inner(t, at + rlen, strlen(at + rlen)) == -1)
		return (-1);
	g_string_append_c(t, '"');
	g_string_append_c(r, '"');
	return (0);
}

/*
 * The JSON text of doc_json() after its "{": the envelope goes first.
 * Its members are jansson's text, joined in doc_json()'s order
 * (regress/hookd/test_mime compares the two on every fixture).
 */
static int
doc_jtail(struct mime_doc *md)
{
	const struct doc *d = &md->d;
	GString		*t, *r;
	int		 rc = -1;

	if (md->jtail != NULL)
		return (0);
	t = g_string_sized_new(md->raw->len + 256);
	r = g_string_new(NULL);
	g_string_append(t, "{\"headers\":");
	if (jappend(t, json_incref(d->headers)) == -1)
		goto done;
	g_string_append(t, ",\"plain\":");
	if (jtail_texts(t, r, d->plain, md->reply) == -1)
		goto done;
	g_string_append(t, ",\"html\":");
	if (jappend(t, jtext(d->html)) == -1)
		goto done;
	g_string_append(t, ",\"reply_plain\":");
	g_string_append_len(t, r->str, r->len);
	g_string_append(t, ",\"attachments\":");
	if (jappend(t, doc_attachments(d)) == -1)
		goto done;
	if (md->over != NULL) {
		g_string_append(t, ",\"truncated\":");
		if (jappend(t, json_string(md->over)) == -1)
			goto done;
	}
	g_string_append_c(t, '}');
	md->jtail = g_string_free(t, FALSE);
	t = NULL;
	rc = 0;
 done:
	if (t != NULL)
		g_string_free(t, TRUE);
	g_string_free(r, TRUE);
	return (rc);
}

static struct mime_doc	*mime_parse_env(int, const struct envelope *, int);

json_t *
mime_to_json(int fd, const struct envelope *env, const char *rcpt)
{
	struct mime_doc	*md;
	json_t		*j, *e, *rest;

	if ((md = mime_parse_env(fd, env, MIME_WANT_MULTIPART)) == NULL)
		return (NULL);
	j = json_object();
	e = envelope_json(env, rcpt);
	rest = doc_json(md);
	if (j == NULL || e == NULL || rest == NULL ||
	    json_object_set_new(j, "envelope", e) == -1 ||
	    json_object_update(j, rest) == -1) {
		json_decref(j);
		j = NULL;
	}
	json_decref(rest);
	mime_doc_free(md);
	return (j);
}

/*
 * multipart/form-data.
 */
static int
add_part(struct mime_payload *out, const char *name, const char *filename,
    const char *ctype, const void *data, size_t len)
{
	struct http_part	*p;

	p = reallocarray(out->parts, out->nparts + 1, sizeof(*p));
	if (p == NULL)
		return (-1);
	out->parts = p;
	p = &out->parts[out->nparts++];
	p->name = name;
	p->filename = filename;
	p->content_type = ctype;
	p->data = data;
	p->len = len;
	return (0);
}

/* a malloc'd copy kept by the payload */
static char *
owned_strdup(struct mime_payload *out, const char *s)
{
	char	*c;

	if ((c = strdup(s)) == NULL || owned_add(out, c, free) == -1)
		return (NULL);
	return (c);
}

static char *
owned_printf(struct mime_payload *out, const char *fmt, ...)
    __attribute__((__format__ (printf, 2, 3)));

static char *
owned_printf(struct mime_payload *out, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1 || owned_add(out, s, free) == -1)
		return (NULL);
	return (s);
}

/*
 * Part names, file names and content types go into the Content-Disposition
 * and Content-Type headers of the form parts: no control character, quote
 * or backslash from the message gets there.
 */
static const char *
header_safe(char *s)
{
	unsigned char	*p;

	if (s == NULL)
		return (NULL);
	for (p = (unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '_';
	return (s);
}

/*
 * name[key]: a bracket in the key (a header "X-[a]" may have one) would
 * end or open a level for a form parser, "headers[x_[a]]" nesting wrong
 * or refused (Rack, PHP, qs): it becomes '_', "headers[x__a_]".
 */
static char *
flat_key(struct mime_payload *out, const char *name, const char *key)
{
	char	*sub, *p;

	if ((sub = owned_printf(out, "%s[%s]", name, key)) == NULL)
		return (NULL);
	for (p = sub + strlen(name) + 1; p[1] != '\0'; p++)
		if (*p == '[' || *p == ']')
			*p = '_';
	return (sub);
}

/* name[key]... = value for every leaf of a tree kept alive by the payload */
static int
flatten(struct mime_payload *out, const char *name, json_t *v)
{
	const char	*key, *sub, *val;
	json_t		*e;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, e) {
			sub = header_safe(name ? flat_key(out, name, key) :
			    owned_strdup(out, key));
			if (sub == NULL || flatten(out, sub, e) == -1)
				return (-1);
		}
		return (0);
	case JSON_ARRAY:
		json_array_foreach(v, i, e) {
			sub = owned_printf(out, "%s[%zu]", name, i);
			if (sub == NULL || flatten(out, sub, e) == -1)
				return (-1);
		}
		return (0);
	case JSON_STRING:
		return (add_part(out, name, NULL, NULL, json_string_value(v),
		    json_string_length(v)));
	case JSON_TRUE:
	case JSON_FALSE:
		val = json_is_true(v) ? "true" : "false";
		return (add_part(out, name, NULL, NULL, val, strlen(val)));
	case JSON_INTEGER:
		val = owned_printf(out, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		if (val == NULL)
			return (-1);
		return (add_part(out, name, NULL, NULL, val, strlen(val)));
	default:
		return (0);	/* null: left out */
	}
}

static int
render_envelope(struct mime_payload *out, const struct envelope *env,
    const char *rcpt)
{
	json_t	*e;

	if ((e = envelope_json(env, rcpt)) == NULL ||
	    owned_add(out, e, free_json) == -1)
		return (-1);
	return (flatten(out, "envelope", e));
}

static int
render_text(struct mime_payload *out, const char *name, const char *text)
{
	char	*c;

	if (text == NULL)
		return (0);
	if ((c = owned_strdup(out, text)) == NULL)
		return (-1);
	return (add_part(out, name, NULL, NULL, c, strlen(c)));
}

static int
render_multipart(struct mime_payload *out, struct mime_doc *md,
    const struct envelope *env, const char *rcpt)
{
	struct doc	*d = &md->d;
	struct attach	*a;
	const char	*name, *fn, *ct;
	size_t		 i;

	if (render_envelope(out, env, rcpt) == -1)
		return (-1);
	if (owned_add(out, json_incref(d->headers), free_json) == -1 ||
	    flatten(out, "headers", d->headers) == -1)
		return (-1);
	if (render_text(out, "plain", d->plain) == -1 ||
	    render_text(out, "html", d->html) == -1 ||
	    render_text(out, "reply_plain", md->reply) == -1)
		return (-1);
	for (i = 0; i < d->natt; i++) {
		a = &d->att[i];
		name = owned_printf(out, "attachments[%zu]", i);
		fn = header_safe(a->file_name ?
		    owned_strdup(out, a->file_name) :
		    owned_printf(out, "attachment-%zu", i));
		ct = header_safe(owned_strdup(out, a->content_type));
		if (name == NULL || fn == NULL || ct == NULL)
			return (-1);
		if (owned_add(out, g_byte_array_ref(a->data),
		    free_bytes) == -1 ||
		    add_part(out, name, fn, ct, a->data->data,
		    a->data->len) == -1)
			return (-1);
	}
	return (render_text(out, "truncated", md->over));
}

/* {"envelope":...,<the rest, rendered once>} */
static int
render_json(struct mime_payload *out, struct mime_doc *md,
    const struct envelope *env, const char *rcpt)
{
	json_t	*e;
	char	*es, *s;

	if (doc_jtail(md) == -1 || (e = envelope_json(env, rcpt)) == NULL)
		return (-1);
	es = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	if (es == NULL)
		return (-1);
	if (asprintf(&s, "{\"envelope\":%s,%s", es, md->jtail + 1) == -1) {
		free(es);
		return (-1);
	}
	free(es);
	if (owned_add(out, s, free) == -1)
		return (-1);
	out->content_type = "application/json";
	out->body = s;
	out->bodylen = strlen(s);
	return (0);
}

void
mime_limits_default(struct mime_limits *lim)
{
	lim->parts = MIME_PARTS_DEFAULT;
	lim->depth = MIME_DEPTH_DEFAULT;
	lim->headers = MIME_HEADERS_DEFAULT;
	lim->header_size = MIME_HEADER_SIZE_DEFAULT;
}

struct mime_doc *
mime_parse(int fd, char *msg, size_t msglen, const char *ar,
    const char *authserv, const struct mime_limits *lim, int formats)
{
	struct mime_doc	*md;
	size_t		 len;

	if ((md = calloc(1, sizeof(*md))) == NULL) {
		free(msg);
		return (NULL);
	}
	if ((md->raw = read_message(fd, msg, msglen, ar, authserv)) == NULL) {
		free(md);
		return (NULL);
	}
	if ((formats & (MIME_WANT_JSON | MIME_WANT_MULTIPART)) == 0)
		return (md);
	md->over = mime_scan(md->raw->data, md->raw->len, lim, &len);
	if (md->over != NULL && strcmp(md->over, "memory") == 0)
		goto fail;
	if (doc_parse(&md->d, md->raw, len, lim->depth) == -1)
		goto fail;
	md->parsed = 1;
	if (md->d.plain != NULL &&
	    (md->reply = mime_reply_text(md->d.plain)) == NULL)
		goto fail;
	/* the JSON text now, while we are off the event loop */
	if ((formats & MIME_WANT_JSON) && doc_jtail(md) == -1)
		goto fail;
	return (md);
 fail:
	mime_doc_free(md);
	errno = ENOMEM;
	return (NULL);
}

/* mime_parse() for env, with the default limits */
static struct mime_doc *
mime_parse_env(int fd, const struct envelope *env, int formats)
{
	struct mime_limits	 lim;
	struct mime_doc		*md;
	char			*ar = NULL;

	if (env->auth_checked &&
	    (ar = verdict_ar_header(env, "\r\n")) == NULL)
		return (NULL);
	mime_limits_default(&lim);
	md = mime_parse(fd, NULL, 0, ar, NULL, &lim, formats);
	free(ar);
	return (md);
}

const char *
mime_doc_truncated(const struct mime_doc *md)
{
	return (md->over);
}

void
mime_doc_free(struct mime_doc *md)
{
	if (md == NULL)
		return;
	if (md->parsed)
		doc_free(&md->d);
	if (md->raw != NULL)
		g_byte_array_unref(md->raw);
	free(md->reply);
	g_free(md->jtail);
	free(md);
}

int
mime_doc_render(struct mime_doc *md, const struct envelope *env,
    const char *rcpt, enum post_format fmt, struct mime_payload *out)
{
	int	 rv;

	memset(out, 0, sizeof(*out));
	if (fmt == FORMAT_RAW) {
		if (owned_add(out, g_byte_array_ref(md->raw), free_bytes) == -1)
			goto fail;
		if (render_envelope(out, env, rcpt) == -1 ||
		    add_part(out, "message", NULL, NULL, md->raw->data,
		    md->raw->len) == -1)
			goto fail;
		return (0);
	}
	if (!md->parsed) {
		errno = EINVAL;		/* parsed without this format */
		return (-1);
	}
	if (fmt == FORMAT_MULTIPART)
		rv = render_multipart(out, md, env, rcpt);
	else
		rv = render_json(out, md, env, rcpt);
	if (rv == 0)
		return (0);
 fail:
	mime_payload_free(out);
	errno = ENOMEM;
	return (-1);
}

int
mime_render(int fd, const struct envelope *env, const char *rcpt,
    enum post_format fmt, struct mime_payload *out)
{
	struct mime_doc	*md;
	int		 rv;

	memset(out, 0, sizeof(*out));
	if ((md = mime_parse_env(fd, env, fmt == FORMAT_RAW ? 0 :
	    fmt == FORMAT_JSON ? MIME_WANT_JSON : MIME_WANT_MULTIPART)) == NULL)
		return (-1);
	rv = mime_doc_render(md, env, rcpt, fmt, out);
	mime_doc_free(md);
	return (rv);
}

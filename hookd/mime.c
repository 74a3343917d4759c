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
 * then rendered as JSON or as multipart/form-data parts (mimerender.c).
 * This file reads and parses, and holds the entry points of mime.h but
 * mime_doc_render(); the text of a part is made UTF-8 in mimecharset.c,
 * reply_plain is cut in mimereply.c.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "addrguard.h"
#include "hex.h"
#include "mime.h"
#include "mime_int.h"
#include "randpool.h"
#include "sanitize.h"
#include "verdict.h"

static int	 mime_initialized;

void
mime_init(void)
{
	if (mime_initialized)
		return;
	g_mime_init();
	mime_initialized = 1;
	mime_preload();
}

/*
 * Reading.
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

/*
 * A forwarded message as it came.  GMime writes a multipart's epilogue
 * (the empty line Thunderbird puts after the closing boundary) with a
 * bare LF whatever the newline format: in a message with CRLF line ends,
 * which has no bare LF (smtpd refuses one), each LF goes out as CRLF.
 * GMime also ends a closing boundary with a line end where the message
 * had none (the multipart has no epilogue then, not even an empty one):
 * at the message's end, or in a nested multipart whose closing boundary
 * the parent's delimiter follows at once ("--inner--\r\n--outer--", the
 * line end the delimiter's).  Each such multipart gets a mark as its
 * epilogue while it is written (end_marks()), and that line end and the
 * mark are taken off again (end_marks_cut()).
 */
#define END_MARK_LEN	32

static void
end_marks(GMimeObject *obj, const char *mark, int set, int depth)
{
	GMimeMultipart	*mp;
	GMimeMessage	*msg;
	const char	*ep;
	int		 i, n;

	if (obj == NULL || depth > 64)
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (msg != NULL)
			end_marks(g_mime_message_get_mime_part(msg), mark, set,
			    depth + 1);
		return;
	}
	if (!GMIME_IS_MULTIPART(obj))
		return;
	mp = GMIME_MULTIPART(obj);
	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++)
		end_marks(g_mime_multipart_get_part(mp, i), mark, set,
		    depth + 1);
	ep = g_mime_multipart_get_epilogue(mp);
	if (set && mp->write_end_boundary && ep == NULL)
		g_mime_multipart_set_epilogue(mp, mark);
	else if (!set && ep != NULL && strcmp(ep, mark) == 0)
		g_mime_multipart_set_epilogue(mp, NULL);
}

/* a mark no message has: 128 random bits in hex */
static void
mark_new(char mark[END_MARK_LEN + 1])
{
	unsigned char	 b[END_MARK_LEN / 2];

	mh_random_buf(b, sizeof(b));
	mh_hex(mark, b, sizeof(b));
}

/*
 * each mark out, and the line end GMime wrote before it: "\r\n" when
 * crlf, else "\n" alone (a '\r' before it is the message's own)
 */
static void
end_marks_cut(GByteArray *a, const char *mark, int crlf)
{
	guint8	*p, *w, *end;
	size_t	 len;

	p = w = a->data;
	end = a->data + a->len;
	while (p < end) {
		if ((size_t)(end - p) >= END_MARK_LEN &&
		    memcmp(p, mark, END_MARK_LEN) == 0) {
			if (w > a->data && w[-1] == '\n') {
				w--;
				if (crlf && w > a->data && w[-1] == '\r')
					w--;
			}
			p += END_MARK_LEN;
			continue;
		}
		*w++ = *p++;
	}
	len = w - a->data;
	g_byte_array_set_size(a, len);
}

static GByteArray *
message_bytes(GMimeMessagePart *mp, int crlf)
{
	GMimeFormatOptions *opts;
	GMimeMessage	*msg;
	GMimeStream	*mem, *out;
	GMimeFilter	*f;
	GByteArray	*a;
	char		 mark[END_MARK_LEN + 1];

	a = g_byte_array_new();
	if ((msg = g_mime_message_part_get_message(mp)) == NULL)
		return (a);
	mark_new(mark);
	end_marks(g_mime_message_get_mime_part(msg), mark, 1, 0);
	mem = g_mime_stream_mem_new_with_byte_array(a);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	out = mem;
	if (crlf) {
		out = g_mime_stream_filter_new(mem);
		f = g_mime_filter_unix2dos_new(FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(out), f);
		g_object_unref(f);
	}
	/* the newlines of the original, not GMime's default LF */
	opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts, crlf ?
	    GMIME_NEWLINE_FORMAT_DOS : GMIME_NEWLINE_FORMAT_UNIX);
	(void)g_mime_object_write_to_stream(GMIME_OBJECT(msg), opts, out);
	g_mime_format_options_free(opts);
	if (out != mem) {
		(void)g_mime_stream_flush(out);
		g_object_unref(out);
	}
	g_object_unref(mem);
	end_marks(g_mime_message_get_mime_part(msg), mark, 0, 0);
	end_marks_cut(a, mark, crlf);
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

/* a word's payload [p, end) as bytes onto a: B (base64) or Q */
static void
words_payload(GByteArray *a, const char *p, const char *end, int b)
{
	guchar	*buf, c;
	gint	 state = 0;
	guint	 save = 0;
	size_t	 n;

	if (b) {
		buf = g_malloc((end - p) / 4 * 3 + 3);
		n = g_base64_decode_step(p, end - p, buf, &state, &save);
		g_byte_array_append(a, buf, n);
		g_free(buf);
		return;
	}
	while (p < end) {
		if (*p == '=' && end - p >= 3 && g_ascii_isxdigit(p[1]) &&
		    g_ascii_isxdigit(p[2])) {
			c = g_ascii_xdigit_value(p[1]) << 4 |
			    g_ascii_xdigit_value(p[2]);
			p += 3;
		} else
			c = *p++ == '_' ? ' ' : p[-1];
		g_byte_array_append(a, &c, 1);
	}
}

/* bytes [p, p + n) as a Q-word's payload, a NUL as nul ("=00" if NULL) */
static void
words_q_put(GString *s, const guchar *p, size_t n, const char *nul)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] == '\0')
			g_string_append(s, nul != NULL ? nul : "=00");
		else
			g_string_append_printf(s, "=%02X", p[i]);
}

/*
 * The bytes of a run of adjacent words of one lenient label (see
 * charset_lenient) as one word.  8-bit bytes are read as a text part's
 * are (text_convert: UTF-8 where they are, else Windows-1252): GMime
 * made each byte of "=?utf-8?Q?caf=E9?=" that is no UTF-8 a '?', and
 * "=?iso-8859-1?Q?caf=C3=A9?=" "cafÃ©".  The run is emptied; 1 if the
 * word differs from what GMime reads of the words.
 */
static int
words_run_put(GString *s, GByteArray *run, const char *label,
    const char *nul)
{
	const guchar	*p = run->data, *end, *z;
	char		*u;
	size_t		 i;
	int		 eight = 0, changed;

	/* an empty run ("=?utf-8?Q??=") has no data yet: p is NULL */
	for (i = 0; i < run->len && !eight; i++)
		eight = run->data[i] >= 0x80;
	changed = eight || (nul != NULL && run->len > 0 &&
	    memchr(p, '\0', run->len) != NULL);
	if (!eight) {
		g_string_append_printf(s, "=?%s?Q?", charset_superset(label));
		words_q_put(s, p, run->len, nul);
	} else {
		end = p + run->len;
		g_string_append(s, "=?UTF-8?Q?");
		/* text_convert drops a NUL: each is put back as nul */
		for (;;) {
			if ((z = memchr(p, '\0', end - p)) == NULL)
				z = end;
			u = text_convert((const char *)p, z - p, label);
			words_q_put(s, (const guchar *)u, strlen(u), NULL);
			g_free(u);
			if (z == end)
				break;
			words_q_put(s, z, 1, nul);
			p = z + 1;
		}
	}
	g_string_append(s, "?=");
	g_byte_array_set_size(run, 0);
	return (changed);
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
 * control), and each byte that is not of the charset as '?' where a
 * text part's are read leniently (words_run_put).  words_fix() gives a
 * raw value that has such a word with its B-words written as Q-words,
 * whose payloads join safely (a character split between two words
 * included), its labels as the supersets and a run of lenient words as
 * UTF-8, unfolded; NULL for any other value: GMime's decoding is right
 * for it.  nul not NULL: a NUL byte a word decodes to is written as nul
 * (GMime makes it '?'), unless the charset's characters have NUL bytes
 * (UTF-16, UTF-32).
 */
static char *
words_fix(const char *raw, const char *nul)
{
	GString		*s;
	GByteArray	*run;
	const char	*p, *cs, *q, *end, *sup, *g;
	char		 label[32], runlabel[32];
	const char	*nulas = nul;
	int		 b, changed = 0;
	char		*u;

	if (raw == NULL || strstr(raw, "=?") == NULL)
		return (NULL);
	s = g_string_new(NULL);
	run = g_byte_array_new();
	runlabel[0] = '\0';
	for (p = raw; (cs = strstr(p, "=?")) != NULL; p = end + 2) {
		if ((q = strchr(cs + 2, '?')) == NULL ||
		    (size_t)(q - (cs + 2)) >= sizeof(label) ||
		    q[1] == '\0' || q[2] != '?' ||
		    (end = strstr(q + 3, "?=")) == NULL ||
		    memchr(cs, ' ', end - cs) != NULL ||
		    memchr(cs, '\n', end - cs) != NULL) {
			if (runlabel[0] != '\0')
				changed |= words_run_put(s, run, runlabel,
				    nul);
			runlabel[0] = '\0';
			g_string_append_len(s, p, cs + 2 - p);
			end = cs;	/* not an encoded-word: on after "=?" */
			continue;
		}
		b = q[1] == 'B' || q[1] == 'b';
		memcpy(label, cs + 2, q - (cs + 2));
		label[q - (cs + 2)] = '\0';
		if (charset_lenient(label)) {
			/* white space between two words is no text */
			for (g = p; g < cs && g_ascii_isspace(*g); g++)
				;
			if (runlabel[0] == '\0' || g < cs ||
			    strcasecmp(label, runlabel) != 0) {
				if (runlabel[0] != '\0')
					changed |= words_run_put(s, run,
					    runlabel, nul);
				g_string_append_len(s, p, cs - p);
				strlcpy(runlabel, label, sizeof(runlabel));
			}
			if (charset_superset(label) != label ||
			    (b && memchr(q + 3, '=', end - (q + 3)) != NULL))
				changed = 1;
			words_payload(run, q + 3, end, b);
			continue;
		}
		if (runlabel[0] != '\0')
			changed |= words_run_put(s, run, runlabel, nul);
		runlabel[0] = '\0';
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
		words_payload(run, q + 3, end, 1);
		if (nulas != NULL && run->len > 0 &&
		    memchr(run->data, '\0', run->len) != NULL)
			changed = 1;
		words_q_put(s, run->data, run->len, nulas);
		g_byte_array_set_size(run, 0);
		nulas = nul;
		g_string_append(s, "?=");
	}
	if (runlabel[0] != '\0')
		changed |= words_run_put(s, run, runlabel, nul);
	g_byte_array_unref(run);
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
	/*
	 * raw has no comment open to its end (addr_guard_parser), but what
	 * words_fix writes of it may: in "m@[](=?utf-8?)?=94?=" the ")" is
	 * taken into a word, "m@[](=?UTF-8?Q?=E2=80=9D?=" (addrguard.h)
	 */
	addr_unclose(u);
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
 * A decoded value holds what its encoded-words decode to, and a raw
 * value may hold VT, FF or a UTF-8 line separator: a line break there
 * (=?utf-8?Q?a=0D=0Ab?=, =?utf-8?Q?a=E2=80=A8b?=) would break the line
 * of a receiver that puts the subject in a header or a log.  Each run of
 * them (text_break_len()) is one space, in place.
 */
static void
hdr_one_line(char *s)
{
	char	*r, *w;
	size_t	 n;
	int	 brk = 0;

	for (r = w = s; *r != '\0'; r += n) {
		if ((n = text_break_len(r, strnlen(r, 3))) == 0) {
			*w++ = *r;
			n = 1;
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

/*
 * Control characters (CR, LF, TAB, any other; the C1 controls U+0080 to
 * U+009F too, which an ISO-8859-1 RFC 2231 value gives for the bytes
 * 0x80 to 0x9f) and the line and paragraph separators U+2028 and U+2029
 * (line ends to JavaScript and Python's str.splitlines(), as NEL is) as
 * '_', in place, in valid UTF-8
 */
static void
ctl_underscore(char *s)
{
	const unsigned char	*u;
	char			*w = s;
	size_t			 n;

	while (*s != '\0') {
		u = (const unsigned char *)s;
		if (u[0] < 0x20 || u[0] == 0x7f) {
			*w++ = '_';
			s++;
		} else if (u[0] >= 0x80 && (n = utf8_seq(u,
		    strnlen(s, 4))) >= 2 && utf8_ctl(u, n)) {
			*w++ = '_';
			s += n;
		} else
			*w++ = *s++;
	}
	*w = '\0';
}

/*
 * The Content-ID as the HTML's "cid:" links name it: GMime decodes
 * encoded-words in it ("<=?utf-8?Q?a=0Ab?=>" as "a\nb"), which RFC 2047
 * section 5 does not allow in a msg-id, so its value is taken from the
 * field as written (the last one, as GMime does); control characters as
 * '_'.  g_malloc'd, NULL as content_id_of().
 */
static char *
content_id_raw(GMimeObject *obj)
{
	GMimeHeaderList	*hl;
	GMimeHeader	*h;
	const char	*raw = NULL;
	char		*u, *cid;
	int		 i, n;

	if (content_id_of(obj) == NULL ||
	    (hl = g_mime_object_get_header_list(obj)) == NULL)
		return (NULL);
	n = g_mime_header_list_get_count(hl);
	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h),
		    "Content-Id") == 0)
			raw = g_mime_header_get_raw_value(h);
	}
	if (raw == NULL)
		return (NULL);
	u = g_mime_utils_header_unfold(raw);
	cid = g_mime_utils_decode_message_id(u);
	g_free(u);
	if (cid == NULL || *cid == '\0') {
		g_free(cid);
		return (NULL);
	}
	u = utf8_clean(cid, -1);
	g_free(cid);
	ctl_underscore(u);
	return (u);
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

#define FILE_NAME_MAX	255	/* NAME_MAX: what any file system stores */
#define FILE_EXT_MAX	16	/* the longest extension kept, its '.' in */

/*
 * A name longer than FILE_NAME_MAX bytes cut to it at a UTF-8 character
 * boundary, its extension (the last '.' and what follows, up to
 * FILE_EXT_MAX bytes) kept at its end; in place.  The header of the
 * multipart format's part carries the name, and form parsers refuse a
 * long one (busboy past about 80 KB, many past a few KB): a name up to
 * the header size limit made the message undeliverable to them.
 */
static void
file_name_cap(char *s)
{
	const char	*dot;
	size_t		 len, ext = 0, keep;

	if ((len = strlen(s)) <= FILE_NAME_MAX)
		return;
	if ((dot = strrchr(s, '.')) != NULL) {
		ext = len - (dot - s);
		if (ext < 2 || ext > FILE_EXT_MAX)
			ext = 0;
	}
	keep = FILE_NAME_MAX - ext;
	while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
		keep--;		/* not inside a character */
	memmove(s + keep, s + len - ext, ext + 1);
}

/*
 * A part's file name as a receiver may use it: the last component of a
 * path ("../../etc/passwd" is "passwd", "C:\x\a.exe" is "a.exe"), control
 * characters as '_', at most FILE_NAME_MAX bytes (file_name_cap()); NULL
 * (no name) for "", "." and "..".
 */
static char *
file_name_of(const char *fn)
{
	const char	*base, *p;
	char		*s;

	for (base = p = fn; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return (NULL);
	s = utf8_clean(base, -1);
	ctl_underscore(s);
	file_name_cap(s);
	return (s);
}

/*
 * The charset label that starts an RFC 2231 value at p (after its '"',
 * if any) as the superset mail clients mean by it, ISO-8859-1 as
 * Windows-1252 (charset_superset(), as a text part's and an
 * encoded-word's): appended to s with its '\'' and 1 returned, p
 * advanced past them; 0 (nothing appended) when it is the same.
 */
static int
ext_charset_put(GString *s, const char **pp)
{
	const char	*p = *pp, *sup;
	char		 label[32];
	size_t		 n;

	for (n = 0; g_ascii_isalnum(p[n]) || (p[n] != '\0' &&
	    strchr("-_.:", p[n]) != NULL); n++)
		;
	if (n == 0 || n >= sizeof(label) || p[n] != '\'')
		return (0);
	memcpy(label, p, n);
	label[n] = '\0';
	if ((sup = charset_superset(label)) == label)
		return (0);
	g_string_append(s, sup);
	g_string_append_c(s, '\'');
	*pp = p + n + 1;
	return (1);
}

/*
 * A NUL byte in a file name would end it where a receiver reads it
 * ("evil.exe%00.pdf" as "evil.exe"), and GMime ends it there: an RFC
 * 2231 value's "%00" ("filename*=utf-8''a%00b.pdf", continuations too)
 * is written as "%5F", '_' as file_name_of() makes every other control
 * character; an encoded-word's NUL likewise (words_fix()).  Not in a
 * value in UTF-16 or UTF-32, whose characters have NUL bytes.  An RFC
 * 2231 value's charset is read as its superset (ext_charset_put()).
 * The header's raw value so fixed, g_malloc'd; NULL if it has none.
 */
static char *
file_name_nul_fix(const char *raw)
{
	GString		*s;
	const char	*p;
	int		 quoted = 0, ext = 0, name = 0, changed = 0;

	if (raw == NULL || (strstr(raw, "%00") == NULL &&
	    strstr(raw, "*=") == NULL))
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
			if (ext) {
				g_string_append_c(s, '=');
				if (p[1] == '"') {
					g_string_append_c(s, '"');
					quoted = 1;
					p++;
				}
				p++;
				changed |= ext_charset_put(s, &p);
				p--;	/* the loop's p++ */
				continue;
			}
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
 * The file name (disp: Content-Disposition's filename, else Content-Type's
 * name) of a part whose header has it in encoded-words that
 * words_fix() changes (padded B-words: Outlook writes a long non-ASCII
 * name so; a charset read as its superset; a NUL), with a NUL in an
 * RFC 2231 value (file_name_nul_fix()), or in a Content-Type of no type
 * (ctype_params_lost()), g_malloc'd; NULL when GMime's is right.
 */
static char *
file_name_fixed(GMimeObject *obj, int disp)
{
	GMimeContentDisposition	*cd;
	GMimeContentType	*ct;
	GMimeHeaderList		*hl;
	GMimeHeader		*h;
	const char		*fn = NULL, *raw;
	char			*u, *v, *r = NULL;
	int			 typeless;

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

/*
 * A part's file name from Content-Disposition's filename (disp) or
 * Content-Type's name, as file_name_of() makes it; NULL if none.
 */
static char *
file_name_from(GMimeObject *obj, int disp)
{
	const char	*fn;
	char		*fixed, *r;

	if ((fixed = file_name_fixed(obj, disp)) != NULL) {
		r = file_name_of(fixed);
		g_free(fixed);
		return (r);
	}
	if (disp)
		fn = g_mime_object_get_content_disposition_parameter(obj,
		    "filename");
	else
		fn = g_mime_object_get_content_type_parameter(obj, "name");
	return (fn != NULL ? file_name_of(fn) : NULL);
}

/*
 * One side of a type/subtype: RFC 2045's token, less the braces RFC
 * 6838's restricted names never hold (and an HTTP token refuses, so the
 * multipart format's part header takes the same type).
 */
static int
mime_token_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > 127)
		return (0);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", s[i]) != NULL)
			return (0);
	return (1);
}

/*
 * The type/subtype GMime read, when both are tokens: GMime keeps a type
 * with 8-bit bytes ("image/pn\xe9g") or none ("/plain"), which is no
 * valid type; NULL then (application/octet-stream)
 */
static const char *
mime_type_valid(const char *mt)
{
	const char	*sl;

	if (mt == NULL || (sl = strchr(mt, '/')) == NULL ||
	    !mime_token_ok(mt, sl - mt) ||
	    !mime_token_ok(sl + 1, strlen(sl + 1)))
		return (NULL);
	return (mt);
}

static void
doc_attach(struct doc *d, GMimeObject *obj, GMimeObject *parent,
    GByteArray *data)
{
	struct attach	*a;
	GMimeContentType *ct;
	const char	*valid;
	char		*mt;

	a = reallocarray(d->att, d->natt + 1, sizeof(*a));
	if (a == NULL) {
		d->failed = 1;
		g_byte_array_unref(data);
		return;
	}
	d->att = a;
	a = &d->att[d->natt++];
	memset(a, 0, sizeof(*a));
	/*
	 * Content-Type's name when filename gives none: GMime's
	 * g_mime_part_get_filename() falls back only when filename is
	 * absent, not when it is "" (or a name file_name_of() refuses).
	 */
	if ((a->file_name = file_name_from(obj, 1)) == NULL &&
	    GMIME_IS_PART(obj))
		a->file_name = file_name_from(obj, 0);
	ct = g_mime_object_get_content_type(obj);
	mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	valid = mime_type_valid(mt);
	a->content_type = g_strdup(valid ? valid : "application/octet-stream");
	g_free(mt);
	for (mt = a->content_type; *mt != '\0'; mt++)
		*mt = g_ascii_tolower(*mt);
	a->disposition = disposition_of(obj, parent);
	a->content_id = content_id_raw(obj);
	a->data = data;
}

/*
 * a filename= on Content-Disposition, even an empty one; a name= on
 * Content-Type only with no disposition (an "attachment" one is a file
 * already): some mailers put name= on their body text, and an explicit
 * "inline" without a filename keeps it the body
 */
static int
has_file_name(GMimeObject *obj)
{
	if (g_mime_object_get_content_disposition_parameter(obj,
	    "filename") != NULL)
		return (1);
	return (g_mime_object_get_disposition(obj) == NULL &&
	    g_mime_object_get_content_type_parameter(obj, "name") != NULL);
}

static void
doc_leaf(struct doc *d, GMimeObject *obj, GMimeObject *parent)
{
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	char			**slot = NULL;

	/*
	 * A text part of a multipart with a file name is a file, whatever
	 * its disposition (Apple Mail sends a .txt "inline; filename=");
	 * so is one with filename="" (GMime's file name is "" then, its
	 * name= looked at only when filename is absent) or with a name=
	 * and no disposition (has_file_name())
	 */
	if (ct != NULL && !is_attachment_disposition(obj) &&
	    (parent == NULL || !has_file_name(obj))) {
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

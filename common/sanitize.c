/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Text from a peer made fit for where it goes (sanitize.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sanitize.h"

static int
is_blank(unsigned char c)
{
	return (c == ' ' || c == '\t');
}

static int
is_break(unsigned char c)
{
	return (c == '\r' || c == '\n');
}

size_t
text_break_len(const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;

	if (n == 0)
		return (0);
	if (*u == '\r' || *u == '\n' || *u == '\v' || *u == '\f' ||
	    (*u >= 0x1c && *u <= 0x1e))
		return (1);
	if (n >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return (2);
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
	    (u[2] == 0xa8 || u[2] == 0xa9))
		return (3);
	return (0);
}

/* a truncated copy does not end inside a UTF-8 sequence */
static size_t
utf8_cut(const char *dst, size_t o)
{
	size_t	 k = o;

	while (k > 0 && ((unsigned char)dst[k - 1] & 0xc0) == 0x80)
		k--;
	if (k > 0 && ((unsigned char)dst[k - 1] & 0xc0) == 0xc0)
		k--;
	return (k);
}

size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t	 cp;
	size_t		 len, k;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return (0);
	if (n < len)
		return (0);
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return (0);
	return (len);
}

/*
 * A bidi control (Unicode's Bidi_Control: U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069), which can make a line display in
 * another order than its bytes (Trojan Source), at s (a valid sequence
 * of len bytes)?
 */
int
utf8_bidi(const unsigned char *s, size_t len)
{
	if (len == 2)
		return (s[0] == 0xd8 && s[1] == 0x9c);
	if (len != 3 || s[0] != 0xe2)
		return (0);
	if (s[1] == 0x80)
		return (s[2] == 0x8e || s[2] == 0x8f ||
		    (s[2] >= 0xaa && s[2] <= 0xae));
	return (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9);
}

int
utf8_ctl(const unsigned char *s, size_t len)
{
	return ((len == 2 && s[0] == 0xc2 && s[1] <= 0x9f) || (len == 3 &&
	    s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)));
}

/*
 * A valid sequence that breaks no line: no C1 control, U+2028, U+2029;
 * with SAN_NOBIDI in flags, no bidi control either.
 */
static size_t
utf8_valid(const unsigned char *s, size_t n, int flags)
{
	size_t	 len = utf8_seq(s, n);

	if (utf8_ctl(s, len) || ((flags & SAN_NOBIDI) && utf8_bidi(s, len)))
		return (0);
	return (len);
}

size_t
sanitize_text(char *dst, size_t dstlen, const char *src, size_t srclen,
    int flags)
{
	size_t		 i = 0, o = 0, n;
	unsigned char	 c;
	int		 blank = 1;	/* the last byte out was a blank */
	int		 brk = 0;	/* the last byte in was CR or LF */

	if (dstlen == 0)
		return (0);
	if (flags & (SAN_LINE | SAN_TRIM | SAN_SQUEEZE))
		while (i < srclen && src[i] != '\0' &&
		    (((flags & (SAN_LINE | SAN_UNFOLD)) && is_break(src[i])) ||
		    ((flags & (SAN_TRIM | SAN_SQUEEZE)) && is_blank(src[i]))))
			i++;
	for (; i < srclen && src[i] != '\0' && o + 1 < dstlen; i++) {
		c = src[i];
		if (is_break(c) && (flags & SAN_LINE))
			break;
		if (is_break(c) && (flags & SAN_UNFOLD))
			continue;
		if ((flags & SAN_BREAKSPACE) && (c < 0x20 || c >= 0x80) &&
		    (n = text_break_len(src + i, strnlen(src + i,
		    srclen - i < 3 ? srclen - i : 3))) > 0) {
			if (!brk)
				dst[o++] = ' ';
			brk = 1;
			i += n - 1;
			continue;
		}
		brk = 0;
		if ((flags & SAN_SQUEEZE) && (is_blank(c) || is_break(c))) {
			if (!blank)
				dst[o++] = ' ';
			blank = 1;
			continue;
		}
		blank = 0;
		if (c == '\t' && (flags & SAN_TRIM))
			dst[o++] = ' ';
		else if (c < 0x20 || c == 0x7f)
			dst[o++] = (flags & SAN_CTLSPACE) ? ' ' : '?';
		else if (c >= 0x80 && (flags & SAN_UTF8)) {
			if ((n = utf8_valid((const unsigned char *)src + i,
			    strnlen(src + i, srclen - i < 4 ? srclen - i :
			    4), flags)) == 0)
				dst[o++] = '?';
			else if (o + n >= dstlen)
				break;
			else {
				memmove(dst + o, src + i, n);
				o += n;
				i += n - 1;
			}
		} else if (c >= 0x80 && !(flags & SAN_8BIT))
			dst[o++] = '?';
		else
			dst[o++] = c;
	}
	if ((flags & SAN_8BIT) && i < srclen && src[i] != '\0' &&
	    !((flags & SAN_LINE) && is_break(src[i])))
		o = utf8_cut(dst, o);
	if (flags & (SAN_TRIM | SAN_SQUEEZE))
		while (o > 0 && dst[o - 1] == ' ')
			o--;
	dst[o] = '\0';
	return (o);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Text from a peer made fit for where it goes (an SMTP reply, a log line,
 * a header, an event or the suppression list): never a CR, LF or NUL, and
 * a control byte only as '?' or a space.  One function; the flags say
 * what differs on purpose between those places.
 */
#ifndef MH_SANITIZE_H
#define MH_SANITIZE_H

#include <stddef.h>

/* the first line only (leading line breaks skipped) */
#define SAN_LINE	0x01
#define SAN_UNFOLD	0x02	/* CR and LF dropped (a folded header) */
#define SAN_TRIM	0x04	/* no blanks at either end; a tab is a space */
/* every run of blanks and line breaks: one space; trimmed */
#define SAN_SQUEEZE	0x08
#define SAN_CTLSPACE	0x10	/* control bytes become ' ' (else '?') */
#define SAN_8BIT	0x20	/* bytes >= 0x80 kept, never cut inside a UTF-8
				   sequence (else '?') */
#define SAN_UTF8	0x40	/* bytes >= 0x80 kept only as whole, valid
				   UTF-8 sequences that are not C1 controls or
				   line separators (else '?') */
/* every run of line breaks (text_break_len: CR, LF, VT, FF, NEL, U+2028
   ...): one space (a decoded header's encoded-words may hold them, where
   a fold's would be dropped) */
#define SAN_BREAKSPACE	0x80
/* with SAN_UTF8: no bidi control either (U+202E...), which can make a
   line display in another order than it has (else '?') */
#define SAN_NOBIDI	0x100

/* what each place uses */
#define SAN_REPLY	(SAN_LINE | SAN_TRIM)	/* text of an SMTP reply */
/* printable ASCII, valid UTF-8, no bidi control */
#define SAN_LOG		(SAN_UTF8 | SAN_NOBIDI)
/* a header's value for an envelope: it reaches events and the history,
   JSON, which takes valid UTF-8 alone */
#define SAN_HEADER	(SAN_UNFOLD | SAN_TRIM | SAN_CTLSPACE | SAN_UTF8)
/* event, suppression text (JSON: valid UTF-8) */
#define SAN_FIELD	(SAN_CTLSPACE | SAN_UTF8)

/*
 * At most srclen bytes of src (it ends at a NUL before) into dst, NUL
 * terminated, truncated to dstlen - 1 bytes; dst may be src.  Returns
 * the length written.
 */
size_t	sanitize_text(char *dst, size_t dstlen, const char *src, size_t srclen,
	    int flags);

/*
 * The length of the line break at s (at most n bytes), 0 if none: CR, LF,
 * VT, FF, the file, group and record separators (0x1c to 0x1e), NEL
 * (U+0085), U+2028 and U+2029 in UTF-8, each a line end to some reader
 * (Python's str.splitlines(), JavaScript, log viewers).
 */
size_t	text_break_len(const char *s, size_t n);

/*
 * The length of the valid UTF-8 sequence at s (1 for ASCII; at most n
 * bytes), 0 if there is none: no overlong form, surrogate or code point
 * past U+10FFFF.
 */
size_t	utf8_seq(const unsigned char *s, size_t n);

/*
 * Is the valid sequence of len bytes at s a bidi control (U+061C,
 * U+200E, U+200F, U+202A..U+202E, U+2066..U+2069)?
 */
int	utf8_bidi(const unsigned char *s, size_t len);

/*
 * Is the valid sequence of len bytes at s a C1 control (U+0080..U+009F,
 * CSI and NEL among them) or U+2028/U+2029, which a terminal obeys or a
 * reader takes for a line end?
 */
int	utf8_ctl(const unsigned char *s, size_t len);

#endif /* MH_SANITIZE_H */

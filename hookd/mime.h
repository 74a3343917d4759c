/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound message rendering: one spooled message plus its envelope become
 * the body of the POST to a route's url, in the route's format.  Pure
 * rendering, no networking: the result is handed to http_post().
 *
 * Formats:
 *
 * FORMAT_JSON: CloudMailin "JSON normalized", content type application/json:
 *	{"envelope": {"to", "recipients": [...], "from", "helo_domain",
 *	    "remote_ip", "spf": {"result", "domain"}, "tls": bool},
 *	 "headers": {"subject": "...", "received": ["...", "..."], ...},
 *	 "plain": "..." | null, "html": "..." | null,
 *	 "reply_plain": "..." | null,
 *	 "attachments": [{"file_name", "content_type", "size",
 *	    "disposition", "content_id", "content"}]}
 *   - envelope.to is the recipient the POST is for; recipients are the
 *     envelope recipients with the same destination and route as `to`.
 *   - headers: every header of the message in order, the name lower-cased
 *     with '-' turned into '_'; the value unfolded and RFC 2047 decoded
 *     to UTF-8 (8-bit raw text is guessed by GMime's fallback charsets;
 *     an address field whose decoded display name needs quotes is
 *     written again from its addresses, that name quoted);
 *     a repeated header becomes an array of strings in message order.
 *   - plain, html: the first text/plain and text/html leaf parts whose
 *     disposition is not "attachment", decoded from their transfer
 *     encoding and charset to UTF-8 (a label read as the superset clients
 *     write under it: ISO-8859-1 as Windows-1252, Shift_JIS as CP932, ...;
 *     see charset_superset; valid UTF-8 under a Windows-1252 or ISO-8859-1
 *     label is UTF-8), line ends normalized to "\n".  An
 *     unknown charset, no charset or a UTF-8 part with bytes that are
 *     not UTF-8: its UTF-8 sequences as they are, every other byte as
 *     Windows-1252 (text_utf8_or_1252); a byte a known charset cannot
 *     decode is U+FFFD.  The text is always valid UTF-8, NUL bytes dropped.
 *   - reply_plain: plain without quoted lines (">"), without the
 *     "On ... wrote:" attribution and everything after it, and without
 *     anything after a signature or forward marker ("-- ",
 *     "-----Original Message-----", a line of underscores, Outlook's
 *     "From:" line followed by "Sent:" or "Date:"); surrounding
 *     blank lines trimmed.  null when plain is null.
 *   - attachments: every other leaf part (inline images included;
 *     a message/rfc822 part is one attachment holding the message):
 *     file_name (null if none; its last path component only, control
 *     characters as '_', null for ".."), content_type ("type/subtype"), size
 *     (decoded bytes), disposition ("attachment" or "inline": the header's
 *     value, else "inline" when the part has a Content-ID or lives in a
 *     multipart/related, else "attachment"), content_id (without <>, as
 *     written: no encoded-word decoded, control characters as '_'; null
 *     if none), content (base64 of the decoded bytes).
 *
 * FORMAT_MULTIPART: the same data as multipart/form-data fields:
 *	envelope[to], envelope[recipients][0], envelope[from],
 *	envelope[helo_domain], envelope[remote_ip], envelope[spf][result],
 *	envelope[spf][domain], envelope[tls] ("true"/"false"),
 *	headers[subject], headers[received][0], ..., plain, html,
 *	reply_plain (null ones are left out), and each attachment as a FILE
 *	part attachments[0], attachments[1], ... with its filename (or
 *	"attachment-N" when it has none) and content type.
 *
 * FORMAT_RAW: multipart/form-data with the same envelope[...] fields and
 *	a plain FIELD (not a file part) named "message" holding the message
 *	bytes exactly as spooled.  The message is not parsed.
 *
 * Limits (struct mime_limits, from the config's limit mime-parts,
 * mime-depth, mime-headers and mime-header-size): the message is scanned
 * before GMime parses it (mimescan.c) and only the bytes before the line
 * where a limit is first exceeded are parsed.  Such a message is rendered
 * truncated, with one more field, "truncated", naming the limit
 * ("parts", "depth", "headers" or "header-size"): a top-level key in
 * FORMAT_JSON, a field in FORMAT_MULTIPART.  FORMAT_RAW is never parsed
 * and never truncated.  hookd refuses such a message with 552 5.3.4 where
 * it still can (mode sync) and POSTs it truncated in mode queue.
 *
 * Malformed input is rendered as well as it can be parsed: a message
 * that GMime cannot parse at all (binary junk, no header) has empty
 * headers and its bytes as plain text; bad base64 is decoded leniently,
 * a truncated part keeps what arrived, a multipart without boundary gives
 * its text as plain, broken encoded-words are left as they are.  A
 * message/rfc822 attachment is the inner message as GMime writes it, with the
 * outer message's newline convention.  Rendering fails only on a read or
 * allocation error.
 *
 * Sandbox: call mime_init() before chroot/seccomp.  It initializes GMime
 * and preloads the iconv converters of the common mail charsets (see
 * mime_preload in mimecharset.c: glibc loads gconv modules from the file
 * system at the first use of a charset and unloads unused ones later, so
 * the converters are opened once and kept open for the life of the
 * process).
 * A charset that was not preloaded is decoded by the 8-bit fallback.
 */
#ifndef MH_MIME_H
#define MH_MIME_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "envelope.h"
#include "http.h"

struct mime_owned;

struct mime_payload {
	/* "application/json", or NULL with parts */
	const char		*content_type;
	/* JSON text, or NULL when parts are used */
	const char		*body;
	size_t			 bodylen;
	struct http_part	*parts;		/* multipart and raw formats */
	size_t			 nparts;
	/* storage behind the pointers above */
	struct mime_owned	*owned;
};

struct mime_limits {
	/* parts, the message included */
	size_t			 parts;
	/* nested multiparts and messages */
	size_t			 depth;
	size_t			 headers;	/* header fields, all blocks */
	/* bytes of header, all blocks */
	size_t			 header_size;
};
#define MIME_PARTS_DEFAULT	1000
#define MIME_DEPTH_DEFAULT	100
#define MIME_HEADERS_DEFAULT	10000
#define MIME_HEADER_SIZE_DEFAULT (1024 * 1024)

/*
 * mimescan.c: NULL if the message is within lim; else the limit it first
 * exceeds ("parts", "depth", "headers", "header-size"; "memory" when the
 * scan could not allocate) and in *cut the offset of the line where it
 * does, the bytes GMime may be given.
 */
const char	*mime_scan(const unsigned char *, size_t,
		    const struct mime_limits *, size_t *cut);

/*
 * A message read and parsed once, rendered for each recipient.  Parsing
 * reads fd (rewound here), unless msg holds the whole message already
 * (msglen bytes, malloc'd: taken, freed on failure too, as the verdict
 * gives it), and runs GMime: it may take long on a large
 * message, so hookd calls it in a thread of its own (mimejob.c); it
 * touches no global state but GMime's.  ar: the
 * Authentication-Results header to put first (CRLF line ends, turned to
 * LF for a message in LF), or NULL; authserv: the authserv-id whose
 * Authentication-Results are removed (verdict_ar_strip), NULL for the
 * one configured now (on the event loop only).  formats: the MIME_WANT_ bits of
 * the formats that will be rendered (FORMAT_RAW needs none: the message is not
 * parsed then).  NULL (errno set) on a read or allocation error.
 */
#define MIME_WANT_JSON		0x1
#define MIME_WANT_MULTIPART	0x2
struct mime_doc;
struct mime_doc	*mime_parse(int fd, char *msg, size_t msglen,
		    const char *ar, const char *authserv,
		    const struct mime_limits *, int formats);
/* NULL, or the limit the message went past (then rendered truncated) */
const char	*mime_doc_truncated(const struct mime_doc *);
int		 mime_doc_render(struct mime_doc *, const struct envelope *,
		    const char *rcpt, enum post_format, struct mime_payload *);
void		 mime_doc_free(struct mime_doc *);
/* the limits of the defaults above */
void		 mime_limits_default(struct mime_limits *);

/* once, before the sandbox: g_mime_init() and mime_preload() */
void	 mime_init(void);
/*
 * keep iconv converters to UTF-8 open for the common charsets; returns how many
 */
int	 mime_preload(void);

/*
 * mime_parse() with the default limits and mime_doc_render() in one: render
 * the message in fd (rewound here; read to its end) for recipient
 * rcpt.  0 on success, -1 (errno set) only on a read or allocation error.
 * out must be released with mime_payload_free() after a success.
 */
int	 mime_render(int fd, const struct envelope *env, const char *rcpt,
	    enum post_format fmt, struct mime_payload *out);
void	 mime_payload_free(struct mime_payload *);

/* the json format as a tree; NULL only on a read or allocation error */
json_t	*mime_to_json(int fd, const struct envelope *env, const char *rcpt);

/* the reply_plain rule on its own (malloc'd, NULL on allocation error) */
char	*mime_reply_text(const char *plain);

#endif /* MH_MIME_H */

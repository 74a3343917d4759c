/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the insides of inbound message rendering (mime.h), shared by
 * mime.c (a message read and parsed into a doc), mimecharset.c (text
 * made UTF-8) and mimerender.c (the doc rendered as a payload).
 * Nothing else includes this.
 */
#ifndef MH_HOOKD_MIME_INT_H
#define MH_HOOKD_MIME_INT_H

#include <stddef.h>

#include <gmime/gmime.h>
#include <jansson.h>

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

/* mimecharset.c: strings made valid UTF-8, text converted to it */
char		*utf8_clean(const char *, gssize);
json_t		*jstr(const char *);
json_t		*jtext(const char *);
const char	*charset_superset(const char *);
int		 charset_lenient(const char *);
char		*text_convert(const char *, size_t, const char *);
void		 text_unix_eol(char *);
char		*html_meta_utf8(char *);

/* mimerender.c: the json format's parts; the text after the envelope */
struct envelope;
json_t		*envelope_json(const struct envelope *, const char *rcpt);
json_t		*doc_json(const struct mime_doc *);
int		 doc_jtail(struct mime_doc *);

#endif /* MH_HOOKD_MIME_INT_H */

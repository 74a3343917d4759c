/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking tokens: the opaque last path segment of the open pixel, click
 * and unsubscribe URLs (URL/o/TOKEN, URL/c/TOKEN, URL/u/TOKEN).
 *
 * A token carries everything the web front end needs to answer without a
 * database, authenticated with HMAC-SHA256:
 *
 *	version(1) keyid(2) kind(1) link(2) issued(4) queue id(8)
 *	len(1) recipient  len(1) sender domain  len(2) url  mac(16)
 *
 * (integers big-endian, the queue id's 16 hex digits as 8 bytes, the url
 * only for clicks, issued in seconds since the epoch; the strings
 * printable ASCII, the recipient printable UTF-8), then base64url without
 * padding ('.' for '-' in the comment form, token_comment_form).  The
 * MAC is the first 16 bytes (128 bits, RFC 2104 section 5) of
 * HMAC-SHA256 under the key named by keyid over "mailhook-token" and every byte
 * before it.  keyid is derived from the key itself (token_key_init), so a
 * reload that rotates the key keeps accepting tokens of the previous key.  The
 * fields are signed, not encrypted: anyone holding a token can read its
 * recipient and link, nobody without the key can make or change one.
 */
#ifndef MH_TOKEN_H
#define MH_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "envelope.h"

#define TOKEN_KEY_LEN	32		/* HMAC-SHA256 key bytes */
#define TOKEN_MAC_LEN	16
/* longest encoded token + NUL: every field at its maximum */
#define TOKEN_STR_MAX	(((1 + 2 + 1 + 2 + 4 + 8 + 1 + MH_ADDR_MAX + 1 + \
			    MH_NAME_MAX + 2 + MH_URL_MAX + TOKEN_MAC_LEN) * 4 \
			    + 2) / 3 + 1)
/*
 * The longest unsubscribe token (no url; token_encode takes a recipient
 * and a domain of 255 bytes at most), and the longest tracking url that
 * keeps the first line of its List-Unsubscribe field,
 * "List-Unsubscribe: <URL/u/TOKEN>,", within 998 octets (RFC 5322 2.1.1:
 * a URI is not folded): the configuration refuses a longer one.
 */
#define TOKEN_UNSUB_STR_LEN	(((1 + 2 + 1 + 2 + 4 + 8 + 1 + 255 + 1 + \
			    255 + TOKEN_MAC_LEN) * 4 + 2) / 3)
#define TOKEN_TRACK_URL_MAX	(998 - \
			    ((int)sizeof("List-Unsubscribe: <") - 1) - 3 - \
			    TOKEN_UNSUB_STR_LEN - 2)

enum token_kind {
	TOKEN_OPEN = 1,		/* /o/: the open pixel */
	TOKEN_CLICK,		/* /c/: a rewritten link */
	TOKEN_UNSUBSCRIBE	/* /u/: the List-Unsubscribe URL */
};

struct token {
	enum token_kind	 kind;
	/* 16 lower-case hex digits */
	char		 queue_id[MH_MSGID_LEN];
	char		 recipient[MH_ADDR_MAX];
	/* sender domain: unsubscribe scope */
	char		 domain[MH_NAME_MAX];
	/* link index in the message, clicks */
	uint16_t	 link;
	/* clicks: the original http(s) URL */
	char		 url[MH_URL_MAX];
	/* when made; 0 to encode: now */
	int64_t		 issued;
};

struct token_key {
	uint16_t	 id;			/* derived from the key */
	unsigned char	 key[TOKEN_KEY_LEN];
};

/* the keys of this config and the previous one, as many as they are */
struct token_keys {
	/* decoding tries every one with the id */
	struct token_key *key;
	int		 count;
	int		 cap;
};

/* key id from the key bytes */
void	 token_key_init(struct token_key *, const unsigned char *, size_t);
/* a key given as text (config secret: hex, base64 or any string >= 16 chars) */
int	 token_key_from_secret(struct token_key *, const char *);
/* add a verification key (zeroed keys: none yet); -1 if out of memory */
int	 token_keys_add(struct token_keys *, const struct token_key *);
/* the keys cleansed and freed: none left */
void	 token_keys_clear(struct token_keys *);

/* encoded length (without NUL), or -1: bad field or buffer too small */
int	 token_encode(const struct token *, const struct token_key *,
	    char *, size_t);
/*
 * 0 and *t filled, or -1: malformed, tampered, truncated, oversized,
 * unknown key
 */
int	 token_decode(const char *, const struct token_keys *, struct token *);
/*
 * A token as written inside a conditional comment (<!--[if mso]>), where
 * "--" may not stand (it ends the comment to older HTML parsers and to
 * Outlook's Word engine): each '-' made '.', in place; token_decode reads
 * a '.' as a '-'.
 */
void	 token_comment_form(char *);
const char *token_kind_name(enum token_kind);
/*
 * HMAC-SHA256 of len bytes under the key, through the context kept for
 * that key (no key schedule per call); out gets TOKEN_HMAC_LEN bytes
 */
#define TOKEN_HMAC_LEN	32
void	 token_hmac(const struct token_key *, const void *, size_t,
	    unsigned char *);

#endif /* MH_TOKEN_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking tokens (token.h): HMAC-SHA256 over a small binary record,
 * base64url without padding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "digest.h"
#include "hex.h"
#include "log.h"
#include "mailaddr.h"
#include "token.h"

#define TOKEN_VERSION	1
/* version, key id, kind, link, issued, queue id */
#define TOKEN_HDR_LEN	(1 + 2 + 1 + 2 + 4 + 8)
#define TOKEN_BIN_MAX	(TOKEN_HDR_LEN + 1 + MH_ADDR_MAX + 1 + MH_NAME_MAX + \
			    2 + MH_URL_MAX + TOKEN_MAC_LEN)
#define TOKEN_SECRET_MIN 16

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char mac_context[] = "mailhook-token";

const char *
token_kind_name(enum token_kind k)
{
	switch (k) {
	case TOKEN_OPEN:
		return ("open");
	case TOKEN_CLICK:
		return ("click");
	case TOKEN_UNSUBSCRIBE:
		return ("unsubscribe");
	}
	return ("unknown");
}

void
token_key_init(struct token_key *k, const unsigned char *key, size_t len)
{
	unsigned char	 h[MH_SHA256_LEN];

	/* keys of any length become 32 bytes; the id is a hash of those */
	mh_sha256(key, len, k->key);
	mh_sha256(k->key, sizeof(k->key), h);
	k->id = (uint16_t)(h[0] << 8 | h[1]);
	OPENSSL_cleanse(h, sizeof(h));
}

int
token_key_from_secret(struct token_key *k, const char *secret)
{
	size_t	 len = strlen(secret);

	if (len < TOKEN_SECRET_MIN)
		return (-1);
	token_key_init(k, (const unsigned char *)secret, len);
	return (0);
}

int
token_keys_add(struct token_keys *ks, const struct token_key *k)
{
	struct token_key	*nk;
	int			 i, n, ncap;

	for (i = 0; i < ks->count; i++)
		if (CRYPTO_memcmp(ks->key[i].key, k->key, TOKEN_KEY_LEN) == 0)
			return (0);
	if (ks->count == ks->cap) {
		/* grown by hand: realloc would leave a copy of the keys */
		ncap = ks->cap > 0 ? ks->cap * 2 : 8;
		if ((nk = calloc(ncap, sizeof(*nk))) == NULL)
			return (-1);
		if ((n = ks->count) > 0)
			memcpy(nk, ks->key, n * sizeof(*nk));
		token_keys_clear(ks);
		ks->key = nk;
		ks->count = n;
		ks->cap = ncap;
	}
	ks->key[ks->count++] = *k;
	return (0);
}

void
token_keys_clear(struct token_keys *ks)
{
	if (ks->key != NULL) {
		OPENSSL_cleanse(ks->key, ks->cap * sizeof(*ks->key));
		free(ks->key);
	}
	memset(ks, 0, sizeof(*ks));
}

#define FIELD_EMPTY	0x01	/* "" is one */
#define FIELD_SPACE	0x02	/* a space is taken */
#define FIELD_UTF8	0x04	/* printable UTF-8 is taken */

/*
 * printable ASCII without space, as in a header or URL, its length; -1
 * if not.  A recipient may have a space (FIELD_SPACE): a quoted local
 * part holds one ("john doe"@example.com, RFC 5321 4.1.2); and be
 * UTF-8 (FIELD_UTF8): an SMTPUTF8 address (RFC 6531), printable as
 * smtpd takes it.
 */
static int
field_ok(const char *s, size_t max, int flags)
{
	size_t	 i, n = strnlen(s, max);
	int	 eight = 0;

	if (n == max || (n == 0 && !(flags & FIELD_EMPTY)))
		return (-1);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (s[i] == ' ' && !(flags & FIELD_SPACE)))
			return (-1);
		if ((unsigned char)s[i] >= 0x80)
			eight = 1;
	}
	if (eight && (!(flags & FIELD_UTF8) || !smtp_utf8_valid(s, n)))
		return (-1);
	return ((int)n);
}

static int
url_ok(const char *u)
{
	if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
		return (-1);
	return (config_check_url(u) == NULL ? 0 : -1);
}

static int
token_check(const struct token *t)
{
	const char	*at;

	if (t->kind != TOKEN_OPEN && t->kind != TOKEN_CLICK &&
	    t->kind != TOKEN_UNSUBSCRIBE)
		return (-1);
	if (field_ok(t->recipient, sizeof(t->recipient),
	    FIELD_SPACE | FIELD_UTF8) < 0 ||
	    field_ok(t->domain, sizeof(t->domain), 0) < 0 ||
	    (at = strchr(t->recipient, '@')) == NULL || at == t->recipient ||
	    at[1] == '\0')
		return (-1);
	if (strnlen(t->queue_id, sizeof(t->queue_id)) != MH_MSGID_LEN - 1)
		return (-1);
	if (t->kind == TOKEN_CLICK) {
		if (field_ok(t->url, sizeof(t->url), 0) < 0 ||
		    url_ok(t->url) == -1)
			return (-1);
	} else if (t->url[0] != '\0' || t->link != 0)
		return (-1);
	return (0);
}

static void
mac(const struct token_key *k, const unsigned char *p, size_t len,
    unsigned char out[TOKEN_MAC_LEN])
{
	unsigned char	 full[MH_SHA256_LEN];

	if (len > TOKEN_BIN_MAX)
		fatalx("token: record too long");
	mh_hmac_sha256(k->key, TOKEN_KEY_LEN, mac_context,
	    sizeof(mac_context) - 1, p, len, full);
	memcpy(out, full, TOKEN_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
}

void
token_hmac(const struct token_key *k, const void *p, size_t len,
    unsigned char *out)
{
	unsigned char	 full[MH_SHA256_LEN];

	mh_hmac_sha256(k->key, TOKEN_KEY_LEN, NULL, 0, p, len, full);
	memcpy(out, full, TOKEN_HMAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
}

static size_t
put_str(unsigned char *p, const char *s, size_t n, int wide)
{
	size_t	 off = 0;

	if (wide)
		p[off++] = (unsigned char)(n >> 8);
	p[off++] = (unsigned char)n;
	memcpy(p + off, s, n);
	return (off + n);
}

int
token_encode(const struct token *t, const struct token_key *k, char *out,
    size_t outlen)
{
	unsigned char	 bin[TOKEN_BIN_MAX];
	size_t		 n = 0, i, need;
	uint32_t	 v, issued;

	if (token_check(t) == -1)
		return (-1);
	bin[n++] = TOKEN_VERSION;
	bin[n++] = k->id >> 8;
	bin[n++] = k->id & 0xff;
	bin[n++] = (unsigned char)t->kind;
	bin[n++] = t->link >> 8;
	bin[n++] = t->link & 0xff;
	issued = t->issued != 0 ? (uint32_t)t->issued : (uint32_t)time(NULL);
	for (i = 0; i < 4; i++)
		bin[n++] = (unsigned char)(issued >> (24 - 8 * i));
	if (mh_unhex(bin + n, t->queue_id, 8) == -1)
		return (-1);
	n += 8;
	if (strlen(t->recipient) > 255 || strlen(t->domain) > 255)
		return (-1);
	n += put_str(bin + n, t->recipient, strlen(t->recipient), 0);
	n += put_str(bin + n, t->domain, strlen(t->domain), 0);
	if (t->kind == TOKEN_CLICK)
		n += put_str(bin + n, t->url, strlen(t->url), 1);
	mac(k, bin, n, bin + n);
	n += TOKEN_MAC_LEN;

	need = (n * 4 + 2) / 3;
	if (need + 1 > outlen)
		return (-1);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)bin[i] << 16 | bin[i + 1] << 8 | bin[i + 2];
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
		*out++ = b64url[(v >> 6) & 63];
		*out++ = b64url[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)bin[i] << 16;
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (uint32_t)bin[i] << 16 | bin[i + 1] << 8;
		*out++ = b64url[v >> 18];
		*out++ = b64url[(v >> 12) & 63];
		*out++ = b64url[(v >> 6) & 63];
	}
	*out = '\0';
	return ((int)need);
}

/* each byte's base64url value, -1 if it is none; '.' is '-' too (the
 * comment form, token_comment_form) */
static const signed char b64dec[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, 62, -1,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};

/*
 * base64url without padding, canonical (unused bits zero); -1 if not.
 * Four characters make three bytes; a token is decoded at each click.
 */
static int
unbase64url(const char *s, size_t len, unsigned char *out, size_t *outlen)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, n = 0;
	uint32_t		 acc;
	int			 a, b, c, d;

	if (len % 4 == 1)
		return (-1);
	for (i = 0; i + 4 <= len; i += 4) {
		a = b64dec[u[i]];
		b = b64dec[u[i + 1]];
		c = b64dec[u[i + 2]];
		d = b64dec[u[i + 3]];
		if ((a | b | c | d) < 0)
			return (-1);
		acc = (uint32_t)a << 18 | (uint32_t)b << 12 |
		    (uint32_t)c << 6 | (uint32_t)d;
		out[n++] = (unsigned char)(acc >> 16);
		out[n++] = (unsigned char)(acc >> 8);
		out[n++] = (unsigned char)acc;
	}
	if (len - i >= 2) {
		/* 12 bits: a byte and 4 unused, or 18: two and 2 unused */
		a = b64dec[u[i]];
		b = b64dec[u[i + 1]];
		c = len - i == 3 ? b64dec[u[i + 2]] : 0;
		if ((a | b | c) < 0)
			return (-1);
		acc = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		out[n++] = (unsigned char)(acc >> 16);
		if (len - i == 3)
			out[n++] = (unsigned char)(acc >> 8);
		if ((acc & (len - i == 3 ? 0xffU : 0xffffU)) != 0)
			return (-1);
	}
	*outlen = n;
	return (0);
}

void
token_comment_form(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '-')
			*s = '.';
}

/*
 * a length-prefixed string into a NUL-terminated field; -1 if it does not
 * fit
 */
static int
get_str(const unsigned char *p, size_t len, size_t *off, int wide,
    char *dst, size_t dstlen)
{
	size_t	 n;

	if (*off + (wide ? 2 : 1) > len)
		return (-1);
	n = p[(*off)++];
	if (wide)
		n = n << 8 | p[(*off)++];
	if (n >= dstlen || *off + n > len || memchr(p + *off, '\0', n) != NULL)
		return (-1);
	memcpy(dst, p + *off, n);
	dst[n] = '\0';
	*off += n;
	return (0);
}

int
token_decode(const char *s, const struct token_keys *ks, struct token *t)
{
	unsigned char	 bin[TOKEN_BIN_MAX], m[TOKEN_MAC_LEN];
	size_t		 len, n, off;
	uint16_t	 keyid;
	int		 k, good = 0;

	memset(t, 0, sizeof(*t));
	len = strnlen(s, TOKEN_STR_MAX);
	if (len == TOKEN_STR_MAX || len < ((TOKEN_HDR_LEN + 2 + TOKEN_MAC_LEN)
	    * 4 + 2) / 3)
		return (-1);
	if (unbase64url(s, len, bin, &n) == -1 || n < TOKEN_HDR_LEN +
	    TOKEN_MAC_LEN || bin[0] != TOKEN_VERSION)
		return (-1);

	/* the MAC first: nothing of an unauthenticated token is parsed */
	keyid = (uint16_t)(bin[1] << 8 | bin[2]);
	for (k = 0; k < ks->count; k++) {
		if (ks->key[k].id != keyid)
			continue;
		mac(&ks->key[k], bin, n - TOKEN_MAC_LEN, m);
		if (CRYPTO_memcmp(m, bin + n - TOKEN_MAC_LEN,
		    TOKEN_MAC_LEN) == 0)
			good = 1;
	}
	OPENSSL_cleanse(m, sizeof(m));
	if (!good)
		return (-1);
	n -= TOKEN_MAC_LEN;

	t->kind = (enum token_kind)bin[3];
	t->link = (uint16_t)(bin[4] << 8 | bin[5]);
	t->issued = (int64_t)((uint32_t)bin[6] << 24 | (uint32_t)bin[7] << 16 |
	    (uint32_t)bin[8] << 8 | bin[9]);
	mh_hex(t->queue_id, bin + 10, 8);
	off = TOKEN_HDR_LEN;
	if (get_str(bin, n, &off, 0, t->recipient, sizeof(t->recipient)) ||
	    get_str(bin, n, &off, 0, t->domain, sizeof(t->domain)))
		goto bad;
	if (t->kind == TOKEN_CLICK &&
	    get_str(bin, n, &off, 1, t->url, sizeof(t->url)))
		goto bad;
	if (off != n || token_check(t) == -1)
		goto bad;
	return (0);
 bad:
	memset(t, 0, sizeof(*t));
	return (-1);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Standard Webhooks signing with OpenSSL HMAC-SHA256.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "digest.h"
#include "sign.h"

#define SIGN_KEY_MAX	MH_HMAC_KEY_MAX

/*
 * s (len bytes, a multiple of 4) is base64: its alphabet, then at most
 * two '=' that end it.  EVP_DecodeBlock() is laxer: it takes "====" for
 * a zero byte and '=' inside ("AA=A").
 */
static int
sign_b64_ok(const char *s, size_t len)
{
	size_t	 n;

	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/");
	return (n + 2 >= len && strspn(s + n, "=") == len - n);
}

/* decode the key; -1 if it is not valid base64 */
static int
sign_key(const char *secret, unsigned char *key, size_t keysz)
{
	size_t	 len;
	int	 n, pad = 0;

	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	len = strlen(secret);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > keysz ||
	    !sign_b64_ok(secret, len))
		return (-1);
	if (secret[len - 1] == '=')
		pad++;
	if (len > 1 && secret[len - 2] == '=')
		pad++;
	/* EVP_DecodeBlock keeps the padding bytes as zeros: drop them */
	if ((n = EVP_DecodeBlock(key, (const unsigned char *)secret,
	    len)) < 0 || n < pad)
		return (-1);
	return (n - pad);
}

int
sign_key_len(const char *secret)
{
	unsigned char	 key[SIGN_KEY_MAX];
	int		 n;

	n = sign_key(secret, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return (n > 0 ? n : -1);
}

static int
sign_id_ok(const char *id)
{
	if (*id == '\0' || strlen(id) >= SIGN_ID_MAX)
		return (0);
	for (; *id != '\0'; id++)
		if (!((*id >= 'a' && *id <= 'z') ||
		    (*id >= 'A' && *id <= 'Z') ||
		    (*id >= '0' && *id <= '9') || *id == '_' || *id == '-' ||
		    *id == '.'))
			return (0);
	return (1);
}

int
sign_webhook(const char *secret, const char *msg_id, long timestamp,
    const void *body, size_t len, char *sig, size_t siglen)
{
	unsigned char	 key[SIGN_KEY_MAX], mac[MH_SHA256_LEN];
	unsigned char	 b64[MH_SHA256_LEN * 2];
	char		 prefix[SIGN_ID_MAX + 32];
	int		 keylen, n, ret = -1;

	if (!sign_id_ok(msg_id) ||
	    (keylen = sign_key(secret, key, sizeof(key))) <= 0)
		goto done;
	n = snprintf(prefix, sizeof(prefix), "%s.%ld.", msg_id, timestamp);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		goto done;
	mh_hmac_sha256(key, keylen, prefix, n, body, len, mac);
	EVP_EncodeBlock(b64, mac, sizeof(mac));
	n = snprintf(sig, siglen, "v1,%s", b64);
	if (n < 0 || (size_t)n >= siglen)
		goto done;
	ret = 0;
 done:
	OPENSSL_cleanse(key, sizeof(key));
	return (ret);
}

int
sign_headers(const char *secret, const char *msg_id, long timestamp,
    const void *body, size_t len, struct sign_headers *h)
{
	char	 sig[SIGN_SIG_MAX];

	if (sign_webhook(secret, msg_id, timestamp, body, len, sig,
	    sizeof(sig)) == -1)
		return (-1);
	(void)snprintf(h->id, sizeof(h->id), "webhook-id: %s", msg_id);
	(void)snprintf(h->timestamp, sizeof(h->timestamp),
	    "webhook-timestamp: %ld", timestamp);
	(void)snprintf(h->signature, sizeof(h->signature),
	    "webhook-signature: %s", sig);
	return (0);
}

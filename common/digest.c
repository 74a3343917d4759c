/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * SHA-256 and HMAC-SHA256 for what is hashed per request, per event or
 * per message (digest.h).  libcrypto's one-shot SHA256() and HMAC() fetch
 * the algorithm and make a context for every call (a lock and several
 * allocations; for HMAC also the key schedule, most of a short MAC's
 * time), so the algorithms and contexts are kept here instead, per
 * thread: one SHA-256 context, and an HMAC context per key seen.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "digest.h"
#include "log.h"

/*
 * The HMAC contexts of one thread, each with its key already set (the
 * padded key's hash state), evicted round-robin past HMAC_KEPT keys:
 * the configuration's keys (verdict seals, tracking tokens, endpoint
 * secrets) each get one.  Room for a current and a previous key of 32
 * tracking blocks, and for the others beside them; past that a key's
 * context is made again when it comes back.  Freeing a context cleanses it;
 * the kept copy of the key is cleansed with it.
 */
#define HMAC_KEPT	(2 * 32 + 16)

struct hmac_kept {
	unsigned char	 key[MH_HMAC_KEY_MAX];
	size_t		 keylen;
	EVP_MAC_CTX	*ctx;
};

struct hmac_cache {
	struct hmac_kept e[HMAC_KEPT];
	int		 n, evict;
};

void
mh_sha256(const void *p, size_t len, unsigned char out[MH_SHA256_LEN])
{
	static __thread EVP_MD		*md;
	static __thread EVP_MD_CTX	*ctx;
	unsigned int			 n = 0;

	if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatalx("digest: no SHA-256 in libcrypto");
	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("digest: EVP_MD_CTX_new");
	/* the same algorithm again: its context is reset, not remade */
	if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, p, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != MH_SHA256_LEN)
		fatalx("digest: SHA-256 failed");
}

/* a new HMAC-SHA256 context keyed with key */
static EVP_MAC_CTX *
hmac_new(const void *key, size_t keylen)
{
	static __thread EVP_MAC	*alg;
	EVP_MAC_CTX		*ctx;
	OSSL_PARAM		 params[2];

	if (alg == NULL && (alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		fatalx("digest: no HMAC in libcrypto");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(alg)) == NULL ||
	    EVP_MAC_init(ctx, key, keylen, params) != 1)
		fatalx("digest: HMAC-SHA256 setup failed");
	return (ctx);
}

/* this thread's context for key: kept, or NULL if the key is too long */
static EVP_MAC_CTX *
hmac_kept(const void *key, size_t keylen)
{
	static __thread struct hmac_cache	*hc;
	struct hmac_kept			*k;
	int					 i;

	if (keylen > MH_HMAC_KEY_MAX)
		return (NULL);
	if (hc == NULL && (hc = calloc(1, sizeof(*hc))) == NULL)
		fatal("calloc");
	for (i = 0; i < hc->n; i++)
		if (hc->e[i].keylen == keylen &&
		    CRYPTO_memcmp(hc->e[i].key, key, keylen) == 0)
			return (hc->e[i].ctx);
	if (hc->n < HMAC_KEPT)
		k = &hc->e[hc->n++];
	else {
		k = &hc->e[hc->evict++ % HMAC_KEPT];
		EVP_MAC_CTX_free(k->ctx);
		OPENSSL_cleanse(k->key, sizeof(k->key));
	}
	memcpy(k->key, key, keylen);
	k->keylen = keylen;
	k->ctx = hmac_new(key, keylen);
	return (k->ctx);
}

void
mh_hmac_sha256(const void *key, size_t keylen, const void *pre, size_t plen,
    const void *p, size_t len, unsigned char out[MH_SHA256_LEN])
{
	EVP_MAC_CTX	*ctx, *own = NULL;
	size_t		 n = 0;

	if ((ctx = hmac_kept(key, keylen)) == NULL)
		ctx = own = hmac_new(key, keylen);
	/* a NULL key: the one set when the context was made, schedule kept */
	else if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		fatalx("digest: HMAC-SHA256 failed");
	if ((plen > 0 && EVP_MAC_update(ctx, pre, plen) != 1) ||
	    (len > 0 && EVP_MAC_update(ctx, p, len) != 1) ||
	    EVP_MAC_final(ctx, out, &n, MH_SHA256_LEN) != 1 ||
	    n != MH_SHA256_LEN)
		fatalx("digest: HMAC-SHA256 failed");
	EVP_MAC_CTX_free(own);
}

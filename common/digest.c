/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * SHA-256 for what is hashed per request or per event (digest.h).
 * libcrypto's one-shot SHA256() fetches the algorithm and makes a context
 * for every call (EVP_Q_digest: a lock and three allocations, about 6% of
 * hookd's CPU per click in seen.c); the algorithm and a context are kept
 * here instead, one per thread.
 */
#include <openssl/evp.h>

#include "digest.h"
#include "log.h"

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

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
#ifndef MH_DIGEST_H
#define MH_DIGEST_H

#include <stddef.h>

#define MH_SHA256_LEN	32
#define MH_HMAC_KEY_MAX	256	/* longer keys work, but are not kept */

void	mh_sha256(const void *, size_t, unsigned char[MH_SHA256_LEN]);
/*
 * HMAC-SHA256 of pre (plen bytes, may be 0) then p (len bytes) keyed
 * with key (keylen bytes); fatalx if libcrypto fails.
 */
void	mh_hmac_sha256(const void *key, size_t keylen, const void *pre,
	    size_t plen, const void *p, size_t len,
	    unsigned char[MH_SHA256_LEN]);

#endif

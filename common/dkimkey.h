/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DKIM keys with OpenSSL: the check of a private key (RSA of 2048 bits
 * and up, or Ed25519), the DNS TXT record of its public half (RFC 6376
 * 3.6.1, RFC 8463) and new key pairs.  The signer checks the keys it is
 * given and answers "mhctl dkim show"; mhctl uses it for "dkim keygen".
 */
#ifndef MH_DKIMKEY_H
#define MH_DKIMKEY_H

#include <stddef.h>

#include <openssl/evp.h>

enum dkimkey_type {
	DKIMKEY_RSA,
	DKIMKEY_ED25519
};

#define DKIMKEY_RSA_MIN		2048

/* a PEM private key; NULL and why if it cannot sign DKIM */
EVP_PKEY	*dkimkey_load(const char *pem, size_t len, int *type,
		    char *why, size_t whylen);
/* "s1._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=...\"" (malloc'd) */
char		*dkimkey_txt(EVP_PKEY *, const char *selector,
		    const char *domain);
/* a new key pair: RSA of bits, or Ed25519; NULL on error */
EVP_PKEY	*dkimkey_generate(int type, int bits);
const char	*dkimkey_type_name(int);	/* "rsa", "ed25519" */

#endif /* MH_DKIMKEY_H */

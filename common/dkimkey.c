/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DKIM keys with OpenSSL (dkimkey.h).
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkimkey.h"

/* a TXT string holds at most 255 bytes: longer records are split */
#define TXT_STRING_MAX	255

const char *
dkimkey_type_name(int type)
{
	return (type == DKIMKEY_ED25519 ? "ed25519" : "rsa");
}

/*
 * The passphrase of an encrypted key: there is none to give.  Without a
 * callback OpenSSL asks on /dev/tty, which the signer may not open.
 */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	*(int *)u = 1;
	return (-1);
}

EVP_PKEY *
dkimkey_load(const char *pem, size_t len, int *type, char *why,
    size_t whylen)
{
	BIO		*b;
	EVP_PKEY	*k;
	int		 bits, asked = 0;

	if (len > INT32_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return (NULL);
	}
	k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, &asked);
	BIO_free(b);
	ERR_clear_error();
	if (k == NULL) {
		snprintf(why, whylen, asked ? "an encrypted private key "
		    "(the key must have no passphrase)" : "no PEM private key");
		return (NULL);
	}
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(k);
		if (bits < DKIMKEY_RSA_MIN) {
			snprintf(why, whylen, "RSA key of %d bits (%d and up "
			    "are used)", bits, DKIMKEY_RSA_MIN);
			break;
		}
		*type = DKIMKEY_RSA;
		return (k);
	case EVP_PKEY_ED25519:
		*type = DKIMKEY_ED25519;
		return (k);
	default:
		snprintf(why, whylen, "neither an RSA nor an Ed25519 key");
		break;
	}
	EVP_PKEY_free(k);
	return (NULL);
}

/* the p= value: SubjectPublicKeyInfo for RSA, the raw key for Ed25519 */
static char *
public_b64(EVP_PKEY *k)
{
	unsigned char	*der = NULL, raw[64];
	char		*out;
	size_t		 rawlen = sizeof(raw);
	int		 len;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(k, raw, &rawlen) != 1)
			return (NULL);
		der = raw;
		len = (int)rawlen;
	} else if ((len = i2d_PUBKEY(k, &der)) <= 0)
		return (NULL);
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock((unsigned char *)out, der, len);
	if (der != raw)
		OPENSSL_free(der);
	return (out);
}

char *
dkimkey_txt(EVP_PKEY *k, const char *selector, const char *domain)
{
	char	*p, *txt, *out;
	size_t	 len, off, n, size;
	FILE	*fp;

	if ((p = public_b64(k)) == NULL)
		return (NULL);
	if (asprintf(&txt, "v=DKIM1; k=%s; p=%s",
	    EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? "ed25519" : "rsa",
	    p) == -1) {
		free(p);
		return (NULL);
	}
	free(p);
	if ((fp = open_memstream(&out, &size)) == NULL) {
		free(txt);
		return (NULL);
	}
	fprintf(fp, "%s._domainkey.%s. IN TXT", selector, domain);
	len = strlen(txt);
	for (off = 0; off < len; off += n) {
		n = len - off > TXT_STRING_MAX ? TXT_STRING_MAX : len - off;
		fprintf(fp, " \"%.*s\"", (int)n, txt + off);
	}
	free(txt);
	if (fclose(fp) != 0) {
		free(out);
		return (NULL);
	}
	return (out);
}

EVP_PKEY *
dkimkey_generate(int type, int bits)
{
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*k = NULL;

	ctx = EVP_PKEY_CTX_new_id(type == DKIMKEY_ED25519 ? EVP_PKEY_ED25519 :
	    EVP_PKEY_RSA, NULL);
	if (ctx == NULL)
		return (NULL);
	if (EVP_PKEY_keygen_init(ctx) != 1 || (type == DKIMKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1) ||
	    EVP_PKEY_keygen(ctx, &k) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return (k);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DANE for SMTP (RFC 7672, RFC 6698): does the chain a server presented
 * match one of its DNSSEC-validated TLSA records?  libtls hands us the
 * chain as PEM; OpenSSL decodes it, hashes the certificate or its
 * SubjectPublicKeyInfo, and, for DANE-TA(2), builds the chain from the
 * leaf to the matched trust anchor and checks the MX host name.
 *
 * The same chain also gets the check MTA-STS enforce makes (the CA
 * bundle, the MX name) for a domain in MTA-STS testing mode, whose
 * handshake does not verify: its failures are reported, not enforced.
 */
#include <sys/types.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <tls.h>

#include "dns.h"
#include "hex.h"
#include "log.h"
#include "relayd.h"

static X509_STORE	*pkix_store;	/* the CA bundle, for pkix_check */

/*
 * The MX host name the chain's leaf must name: a wildcard only as the
 * whole left-most label (RFC 7672 3.2.3, RFC 6125 6.4.3 as RFC 8461 4.2
 * and libtls have it), never "m*.example.net", which OpenSSL takes by
 * default.  1 set.
 */
static int
dane_set_host(X509_STORE_CTX *ctx, const char *host)
{
	X509_VERIFY_PARAM	*vp = X509_STORE_CTX_get0_param(ctx);

	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return (X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1);
}

/* DER of the certificate (selector 0) or its public key (selector 1) */
static int
dane_digest(X509 *x, int selector, int mtype, u_char *md, unsigned int *mdlen)
{
	u_char		*der = NULL;
	int		 len, ok;

	if (selector == 0)
		len = i2d_X509(x, &der);
	else
		len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (len <= 0)
		return (-1);
	ok = EVP_Digest(der, len, md, mdlen, mtype == 2 ? EVP_sha512() :
	    EVP_sha256(), NULL);
	OPENSSL_free(der);
	return (ok == 1 ? 0 : -1);
}

static int
dane_match(X509 *x, const struct dns_tlsa *t)
{
	u_char		 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;

	if (dane_digest(x, t->selector, t->mtype, md, &mdlen) == -1)
		return (0);
	return (mdlen == t->len && memcmp(md, t->data, mdlen) == 0);
}

/* DANE-TA(2): the chain from the leaf ends at ta, and names the host */
static int
dane_ta_chain(X509 *leaf, STACK_OF(X509) *chain, X509 *ta, const char *host)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx = NULL;
	int		 ok = 0;

	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_add_cert(store, ta) != 1 ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, leaf, chain) != 1)
		goto done;
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	if (!dane_set_host(ctx, host))
		goto done;
	ok = X509_verify_cert(ctx) == 1;
 done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return (ok);
}

static STACK_OF(X509) *
dane_chain(struct tls *tls)
{
	STACK_OF(X509)	*chain;
	const uint8_t	*pem;
	size_t		 len;
	BIO		*bio;
	X509		*x;

	if ((pem = tls_peer_cert_chain_pem(tls, &len)) == NULL || len == 0 ||
	    len > INT_MAX || (bio = BIO_new_mem_buf(pem, len)) == NULL)
		return (NULL);
	if ((chain = sk_X509_new_null()) == NULL) {
		BIO_free(bio);
		return (NULL);
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(chain, x) == 0) {
			X509_free(x);
			break;
		}
	BIO_free(bio);
	if (sk_X509_num(chain) == 0) {
		sk_X509_free(chain);
		return (NULL);
	}
	return (chain);
}

/*
 * The hex SHA-256 of the leaf's SubjectPublicKeyInfo (for the event) and,
 * when tl is not NULL, whether a usable TLSA record matches: 1 yes, 0 no.
 */
int
dane_check(struct tls *tls, const struct dns_tlsalist *tl, const char *host,
    char *spki, size_t spkilen)
{
	STACK_OF(X509)	*chain;
	X509		*leaf;
	u_char		 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	size_t		 i;
	int		 j, ok = 0;

	if (spkilen > 0)
		spki[0] = '\0';
	if ((chain = dane_chain(tls)) == NULL)
		return (0);
	leaf = sk_X509_value(chain, 0);
	if (spkilen >= 65 && dane_digest(leaf, 1, 1, md, &mdlen) == 0)
		mh_hex(spki, md, mdlen < 32 ? mdlen : 32);
	for (i = 0; tl != NULL && i < tl->n && !ok; i++) {
		if (tl->rr[i].usage == 3) {
			/* DANE-EE: the key itself; no name, no dates */
			ok = dane_match(leaf, &tl->rr[i]);
			continue;
		}
		for (j = 0; j < sk_X509_num(chain) && !ok; j++)
			if (dane_match(sk_X509_value(chain, j), &tl->rr[i]))
				ok = dane_ta_chain(leaf, chain,
				    sk_X509_value(chain, j), host);
	}
	sk_X509_pop_free(chain, X509_free);
	return (ok);
}

/*
 * A new config (maybe a new CA bundle): the store is made again when
 * pkix_check next needs it, not at every reload (a bundle of a thousand
 * certificates takes a while to parse).
 */
void
dane_pkix_reset(void)
{
	X509_STORE_free(pkix_store);
	pkix_store = NULL;
}

/* the CA bundle (PEM) pkix_check trusts; -1 none usable */
static int
dane_pkix_load(const char *pem, size_t len)
{
	STACK_OF(X509_INFO)	*infos = NULL;
	X509_INFO		*xi;
	BIO			*bio;
	int			 i, n = 0;

	X509_STORE_free(pkix_store);
	pkix_store = NULL;
	if (pem == NULL || len == 0 || len > INT_MAX ||
	    (bio = BIO_new_mem_buf(pem, len)) == NULL)
		return (-1);
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos != NULL && (pkix_store = X509_STORE_new()) != NULL)
		for (i = 0; i < sk_X509_INFO_num(infos); i++) {
			xi = sk_X509_INFO_value(infos, i);
			if (xi->x509 != NULL &&
			    X509_STORE_add_cert(pkix_store, xi->x509) == 1)
				n++;
		}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (n == 0) {
		log_warnx("mta-sts: no certificate in the CA bundle");
		X509_STORE_free(pkix_store);
		pkix_store = NULL;
		return (-1);
	}
	return (0);
}

/* RFC 8460 4.3's name for why X509_verify_cert refused */
static const char *
pkix_result_type(int err)
{
	switch (err) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return ("certificate-host-mismatch");
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return ("certificate-expired");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return ("certificate-not-trusted");
	default:
		return ("validation-failure");
	}
}

/*
 * The peer's chain as MTA-STS enforce would check it (RFC 8461 4.2):
 * trusted under the CA bundle, valid now, naming host.  NULL if it
 * passes, else the TLS-RPT result type of the failure.
 */
const char *
dane_pkix_check(struct tls *tls, const char *host)
{
	STACK_OF(X509)	*chain;
	X509_STORE_CTX	*ctx = NULL;
	const char	*why = "validation-failure";

	if (pkix_store == NULL && dane_pkix_load(relay_conf->cabundle_data,
	    relay_conf->cabundle_len) == -1)
		return (why);
	if ((chain = dane_chain(tls)) == NULL)
		return (why);
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, pkix_store, sk_X509_value(chain, 0),
	    chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1 ||
	    !dane_set_host(ctx, host))
		goto done;
	if (X509_verify_cert(ctx) == 1)
		why = NULL;
	else
		why = pkix_result_type(X509_STORE_CTX_get_error(ctx));
 done:
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(chain, X509_free);
	return (why);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mh_sha256 (common/digest.c), whose context is kept from one call to the
 * next: the FIPS 180-2 vectors, each again after another input (a context
 * not reset would hash the two together), and one from a second thread.
 * mh_hmac_sha256, whose context is kept per key: RFC 4231's vectors (a
 * key longer than the hash's block, which is hashed first; one longer
 * than MH_HMAC_KEY_MAX, which is not kept), each key again after others,
 * a message split between pre and p, and more keys than are kept.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "digest.h"
#include "tap.h"

static void
hex(const unsigned char *h, char out[2 * MH_SHA256_LEN + 1])
{
	size_t	 i;

	for (i = 0; i < MH_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static const char *
sha(const char *s)
{
	static char	 out[2 * MH_SHA256_LEN + 1];
	unsigned char	 h[MH_SHA256_LEN];

	mh_sha256(s, strlen(s), h);
	hex(h, out);
	return (out);
}

static void *
other(void *arg)
{
	unsigned char	 h[MH_SHA256_LEN];

	mh_sha256("abc", 3, h);
	hex(h, arg);
	return (NULL);
}

static const char *
hmac(const void *key, size_t keylen, const void *pre, size_t plen,
    const void *p, size_t len)
{
	static char	 out[2 * MH_SHA256_LEN + 1];
	unsigned char	 h[MH_SHA256_LEN];

	mh_hmac_sha256(key, keylen, pre, plen, p, len, h);
	hex(h, out);
	return (out);
}

/* RFC 4231 test cases 1, 2 and 6 */
#define HMAC1	"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
#define HMAC2	"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
#define HMAC6	"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
#define HMAC6_MSG "Test Using Larger Than Block-Size Key - Hash Key First"

static void
hmac_vectors(void)
{
	unsigned char	 k1[20], k6[131], big[MH_HMAC_KEY_MAX + 44], k[4];
	unsigned char	 h[EVP_MAX_MD_SIZE];
	char		 first[2 * MH_SHA256_LEN + 1];
	int		 i, same = 1;

	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	memset(big, 0xaa, sizeof(big));
	is_str(hmac(k1, sizeof(k1), NULL, 0, "Hi There", 8), HMAC1,
	    "HMAC: RFC 4231 case 1");
	is_str(hmac("Jefe", 4, NULL, 0, "what do ya want for nothing?", 28),
	    HMAC2, "HMAC: case 2, another key");
	is_str(hmac(k6, sizeof(k6), NULL, 0, HMAC6_MSG, strlen(HMAC6_MSG)),
	    HMAC6, "HMAC: case 6, a key longer than a block");
	is_str(hmac(k1, sizeof(k1), "Hi ", 3, "There", 5), HMAC1,
	    "HMAC: case 1 again, split between pre and p");
	is_str(hmac("Jefe", 4, "what do ya want ", 16, "for nothing?", 12),
	    HMAC2, "HMAC: case 2 again, split");
	strlcpy(first, hmac(big, sizeof(big), NULL, 0, "x", 1),
	    sizeof(first));
	is_str(hmac(big, sizeof(big), "x", 1, NULL, 0), first,
	    "HMAC: a key too long to keep, twice the same");
	ok(strcmp(first, hmac(big, sizeof(big) - 1, NULL, 0, "x", 1)) != 0,
	    "HMAC: a key one byte shorter differs");
	/* 100 keys, twice: the kept ones are evicted and made again */
	for (i = 0; i < 200 && same; i++) {
		memcpy(k, &(int){ i % 100 }, sizeof(k));
		hex(HMAC(EVP_sha256(), k, sizeof(k),
		    (const unsigned char *)"m", 1, h, NULL), first);
		same = strcmp(first, hmac(k, sizeof(k), NULL, 0, "m", 1)) == 0;
	}
	ok(same, "HMAC: 100 keys twice, each as libcrypto's HMAC() has it");
	is_str(hmac(k1, sizeof(k1), NULL, 0, "Hi There", 8), HMAC1,
	    "HMAC: case 1 after the evictions");
	is_str(hmac(k6, sizeof(k6), NULL, 0, HMAC6_MSG, strlen(HMAC6_MSG)),
	    HMAC6, "HMAC: case 6 after the evictions");
}

#define ABC	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TWO	"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

int
main(void)
{
	char		 t[2 * MH_SHA256_LEN + 1];
	pthread_t	 th;

	is_str(sha("abc"), ABC, "abc");
	is_str(sha(""), EMPTY, "empty");
	is_str(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
	    TWO, "two blocks");
	is_str(sha("abc"), ABC, "abc again: the kept context starts afresh");
	is_str(sha(""), EMPTY, "empty again");
	ok(pthread_create(&th, NULL, other, t) == 0 &&
	    pthread_join(th, NULL) == 0, "a second thread");
	is_str(t, ABC, "abc in the second thread");
	hmac_vectors();
	return (tap_done());
}

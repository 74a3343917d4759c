/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mh_sha256 (common/digest.c), whose context is kept from one call to the
 * next: the FIPS 180-2 vectors, each again after another input (a context
 * not reset would hash the two together), and one from a second thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mh_hex (common/hex.c): known vectors (nothing, 0x00, 0xff, the SHA-256
 * of "abc"), every byte value, nothing written past the NUL, and the same
 * text as snprintf's "%02x" on 256 random bytes, for every length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "tap.h"

/* SHA-256("abc"), FIPS 180-2 */
static const unsigned char abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
};

static void
ref_hex(char *out, const unsigned char *in, size_t len)
{
	size_t	 i;

	out[0] = '\0';
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

int
main(void)
{
	unsigned char	 r[256];
	char		 got[2 * sizeof(r) + 2], want[2 * sizeof(r) + 1];
	size_t		 i, bad;

	memset(got, '#', sizeof(got));
	mh_hex(got, "", 0);
	is_str(got, "", "no bytes: an empty string");
	ok(got[1] == '#', "no bytes: only the NUL written");

	mh_hex(got, "\x00", 1);
	is_str(got, "00", "0x00");
	mh_hex(got, "\xff", 1);
	is_str(got, "ff", "0xff");
	mh_hex(got, "\x0f\xf0\xa5\x5a", 4);
	is_str(got, "0ff0a55a", "nibbles in order, lower case");

	memset(got, '#', sizeof(got));
	mh_hex(got, abc, sizeof(abc));
	is_str(got,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "SHA-256 of \"abc\"");
	ok(got[65] == '#', "32 bytes: 64 digits and a NUL, nothing after");

	/* after a prefix, as mhctl's "mhk_" key and webd's boundary are */
	strlcpy(got, "mhk_", sizeof(got));
	mh_hex(got + 4, abc, 4);
	is_str(got, "mhk_ba7816bf", "after a prefix");

	for (i = 0; i < sizeof(r); i++)
		r[i] = i;
	mh_hex(got, r, sizeof(r));
	ref_hex(want, r, sizeof(r));
	is_str(got, want, "every byte value as snprintf %%02x has it");

	arc4random_buf(r, sizeof(r));
	for (i = 0, bad = 0; i <= sizeof(r); i++) {
		memset(got, '#', sizeof(got));
		mh_hex(got, r, i);
		ref_hex(want, r, i);
		if (strcmp(got, want) != 0 || got[2 * i + 1] != '#') {
			printf("# length %zu: got \"%s\", want \"%s\"\n", i,
			    got, want);
			bad++;
		}
	}
	is_int(bad, 0, "256 random bytes, each length 0 to 256: as snprintf "
	    "%%02x has them");
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mh_hex (common/hex.c): known vectors (nothing, 0x00, 0xff, the SHA-256
 * of "abc"), every byte value, nothing written past the NUL, and the same
 * text as snprintf's "%02x" on 256 random bytes, for every length.
 * mh_ishex and mh_unhex: the same vectors back, every byte value, wrong
 * lengths, upper case, what sscanf's "%2x" took (" f", "+f", "-1"), an
 * embedded NUL, out left as it was on -1, and nothing read past the NUL
 * (a string that ends at an unmapped page).
 */
#include <sys/mman.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static const char abc_hex[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static int
is_lowerhex(int c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

static void
test_ishex(void)
{
	char	 s[80];
	size_t	 i, bad;
	int	 c;

	ok(mh_ishex(abc_hex, 64) == 1, "ishex: 64 digits");
	ok(mh_ishex("0123456789abcdef", 16) == 1, "ishex: every digit");
	ok(mh_ishex("", 0) == 1, "ishex: nothing, length 0");
	ok(mh_ishex("a", 0) == 0, "ishex: a digit where the NUL should be");
	ok(mh_ishex(abc_hex, 63) == 0, "ishex: 64 digits, 63 wanted");
	ok(mh_ishex(abc_hex + 1, 64) == 0, "ishex: 63 digits, 64 wanted");
	ok(mh_ishex("", 1) == 0, "ishex: empty, 1 wanted");
	ok(mh_ishex("0123456789ABCDEF", 16) == 0, "ishex: upper case");
	ok(mh_ishex("ab\0d", 4) == 0, "ishex: embedded NUL");
	ok(mh_ishex("abcd\0", 4) == 1, "ishex: the NUL right after");
	ok(mh_ishex("abcd\n", 4) == 0, "ishex: a newline after");
	ok(mh_ishex(" abc", 4) == 0, "ishex: a leading space");
	ok(mh_ishex("+abc", 4) == 0, "ishex: a sign");
	ok(mh_ishex("0x12", 4) == 0, "ishex: 0x");
	ok(mh_ishex("abcg", 4) == 0, "ishex: g");

	/* every byte value at the first, a middle and the last position */
	for (c = 1, bad = 0; c < 256; c++) {
		for (i = 0; i < 64; i += 31) {
			strlcpy(s, abc_hex, sizeof(s));
			s[i] = c;
			if (mh_ishex(s, 64) != is_lowerhex(c)) {
				printf("# byte 0x%02x at %zu: %d\n", c, i,
				    mh_ishex(s, 64));
				bad++;
			}
		}
	}
	is_int(bad, 0, "ishex: only 0-9 a-f, every byte value, 3 positions");
}

static void
test_unhex(void)
{
	unsigned char	 r[256], got[256];
	char		 hex[2 * sizeof(r) + 1], s[8];
	size_t		 i, bad;
	int		 c, rc;

	memset(got, 0x5a, sizeof(got));
	is_int(mh_unhex(got, abc_hex, 32), 0, "unhex: SHA-256 of \"abc\"");
	ok(memcmp(got, abc, 32) == 0, "unhex: its bytes");
	ok(got[32] == 0x5a, "unhex: 32 bytes written, nothing after");

	memset(got, 0x5a, sizeof(got));
	is_int(mh_unhex(got, "", 0), 0, "unhex: length 0");
	ok(got[0] == 0x5a, "unhex: length 0 writes nothing");
	is_int(mh_unhex(got, "00ff0ff0", 4), 0, "unhex: 00ff0ff0");
	ok(memcmp(got, "\x00\xff\x0f\xf0", 4) == 0, "unhex: 00 ff 0f f0");
	is_int(mh_unhex(got, "a55aTAIL", 2), 0,
	    "unhex: what follows the digits is not looked at");
	ok(memcmp(got, "\xa5\x5a", 2) == 0, "unhex: a5 5a");

	for (i = 0; i < sizeof(r); i++)
		r[i] = i;
	mh_hex(hex, r, sizeof(r));
	memset(got, 0, sizeof(got));
	is_int(mh_unhex(got, hex, sizeof(r)), 0, "unhex: every byte value");
	ok(memcmp(got, r, sizeof(r)) == 0, "unhex: mh_hex's text back");
	arc4random_buf(r, sizeof(r));
	mh_hex(hex, r, sizeof(r));
	is_int(mh_unhex(got, hex, sizeof(r)), 0, "unhex: 256 random bytes");
	ok(memcmp(got, r, sizeof(r)) == 0, "unhex: the same bytes back");

	/* -1, out as it was: nothing of a bad string is half decoded */
	memset(got, 0x5a, sizeof(got));
	is_int(mh_unhex(got, "FF", 1), -1, "unhex: upper case");
	is_int(mh_unhex(got, "aF", 1), -1, "unhex: one upper-case digit");
	is_int(mh_unhex(got, " f", 1), -1, "unhex: \" f\" (sscanf took it)");
	is_int(mh_unhex(got, "+f", 1), -1, "unhex: \"+f\" (sscanf took it)");
	is_int(mh_unhex(got, "-1", 1), -1, "unhex: \"-1\" (sscanf took it)");
	is_int(mh_unhex(got, "0x", 1), -1, "unhex: 0x");
	is_int(mh_unhex(got, "abcdeg", 3), -1, "unhex: g last");
	is_int(mh_unhex(got, "abc", 2), -1, "unhex: 3 digits, 4 wanted");
	is_int(mh_unhex(got, "", 1), -1, "unhex: empty, 2 digits wanted");
	is_int(mh_unhex(got, "ab\0d", 2), -1, "unhex: embedded NUL");
	ok(got[0] == 0x5a && got[1] == 0x5a,
	    "unhex: out untouched by each -1");

	for (c = 1, bad = 0; c < 256; c++) {
		for (i = 0; i < 2; i++) {
			strlcpy(s, "a5a5", sizeof(s));
			s[i + 2] = c;
			got[1] = 0x5a;
			rc = mh_unhex(got, s, 2);
			if (rc != (is_lowerhex(c) ? 0 : -1) ||
			    (rc == -1 && got[1] != 0x5a)) {
				printf("# byte 0x%02x as nibble %zu: %d\n", c,
				    i, rc);
				bad++;
			}
		}
	}
	is_int(bad, 0, "unhex: only 0-9 a-f, every byte value, both nibbles");
}

/* strings that end at the last byte of a page, the next one unmapped */
static void
test_guard(void)
{
	unsigned char	 out[8];
	char		*page, *s;
	long		 psz = sysconf(_SC_PAGESIZE);

	page = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || mprotect(page + psz, psz, PROT_NONE) == -1) {
		ok(0, "guard page");
		return;
	}
	s = page + psz - 4;
	memcpy(s, "abc", 4);
	ok(mh_ishex(s, 8) == 0, "ishex: 3 digits, 8 wanted, nothing past NUL");
	is_int(mh_unhex(out, s, 4), -1,
	    "unhex: 3 digits, 8 wanted, nothing past the NUL read");
	memcpy(s, "abcd", 4);
	is_int(mh_unhex(out, s, 2), 0, "unhex: digits up to the page end");
	munmap(page, 2 * psz);
}

/* mh_hexdigit: every byte value against strtol's reading of it */
static void
test_hexdigit(void)
{
	char	 one[2] = "";
	int	 c, want, bad = 0;

	for (c = -128; c < 256; c++) {
		one[0] = (char)c;
		want = isxdigit((unsigned char)c) ?
		    (int)strtol(one, NULL, 16) : -1;
		if (mh_hexdigit(c) != want) {
			printf("# %d: got %d, want %d\n", c, mh_hexdigit(c),
			    want);
			bad++;
		}
	}
	is_int(bad, 0, "hexdigit: either case, -1 for every other byte "
	    "(as a char of either sign)");
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
	test_ishex();
	test_unhex();
	test_hexdigit();
	test_guard();
	return (tap_done());
}

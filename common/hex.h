/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Bytes as lower-case hex: digests, random keys and ids.  Only lower-case
 * digits are read back: upper case, spaces and signs are not hex here.
 */
#ifndef MH_HEX_H
#define MH_HEX_H

#include <stddef.h>

/* the len bytes of in as 2 * len lower-case hex digits and a NUL in out */
void	mh_hex(char *out, const void *in, size_t len);
/* 1 if s is exactly len lower-case hex digits and a NUL, else 0 */
int	mh_ishex(const char *s, size_t len);
/*
 * the 2 * len lower-case hex digits at the start of s as len bytes in out;
 * -1 (out untouched) at a character that is not one, the NUL too, so
 * nothing past the end of s is read.  What follows the digits is not looked
 * at.
 */
int	mh_unhex(void *out, const char *s, size_t len);
/*
 * The value of one hex digit of either case, as the protocols write them
 * (%XX in URLs and forms, xtext's +XX, HTTP chunk sizes); -1 for anything
 * else, NUL too.
 */
int	mh_hexdigit(int c);

#endif

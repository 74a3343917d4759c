/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Bytes as lower-case hex: digests, random keys and ids.
 */
#ifndef MH_HEX_H
#define MH_HEX_H

#include <stddef.h>

/* the len bytes of in as 2 * len lower-case hex digits and a NUL in out */
void	mh_hex(char *out, const void *in, size_t len);

#endif

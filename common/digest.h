/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
#ifndef MH_DIGEST_H
#define MH_DIGEST_H

#include <stddef.h>

#define MH_SHA256_LEN	32

void	mh_sha256(const void *, size_t, unsigned char[MH_SHA256_LEN]);

#endif

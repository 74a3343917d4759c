/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Random bytes for ids (queue ids, event ids), drawn from
 * arc4random_buf(3) 4 KiB at a time: libbsd's arc4random_buf makes a
 * getpid(2) per call (its fork check), one system call per message or
 * event.  Per thread, and forgotten in a child of fork(2), so no two
 * processes or threads share a byte; a byte handed out is wiped from the
 * pool.
 */
#ifndef MH_RANDPOOL_H
#define MH_RANDPOOL_H

#include <stddef.h>

/* len random bytes to buf; len up to RANDPOOL_MAX is drawn from the pool,
 * more straight from arc4random_buf */
#define RANDPOOL_MAX	64
void	mh_random_buf(void *buf, size_t len);

#endif

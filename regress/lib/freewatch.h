/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * For a unit test whose free() is its own, to see what a program leaves
 * in freed memory (a secret not wiped): NO_FREE_WATCH is defined under
 * ASan, whose own free() such a wrapper would bypass; otherwise the
 * wrapper ends in glibc's __libc_free(), declared here.
 */
#ifndef MH_FREEWATCH_H
#define MH_FREEWATCH_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_FREE_WATCH
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define NO_FREE_WATCH
#endif

#ifndef NO_FREE_WATCH
void	__libc_free(void *);
#endif

#endif /* MH_FREEWATCH_H */

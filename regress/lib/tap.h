/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tiny TAP-style checks for the C unit tests: each check prints
 * "ok - what" or "not ok - what"; tap_done() returns the exit status.
 */
#ifndef MH_TAP_H
#define MH_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_failures;
static int tap_count;

#define ok(cond, ...) do {						\
	tap_count++;							\
	if (cond) {							\
		printf("ok %d - ", tap_count);				\
	} else {							\
		tap_failures++;						\
		printf("not ok %d - %s:%d: ", tap_count, __FILE__, __LINE__); \
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

#define is_str(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__);		\
	if (g_ == NULL || strcmp(g_, w_) != 0)				\
		printf("#   got \"%s\"\n#  want \"%s\"\n",		\
		    g_ ? g_ : "(null)", w_);				\
} while (0)

#define is_int(got, want, ...) do {					\
	long long g_ = (got), w_ = (want);				\
	ok(g_ == w_, __VA_ARGS__);					\
	if (g_ != w_)							\
		printf("#   got %lld, want %lld\n", g_, w_);		\
} while (0)

static inline int
tap_done(void)
{
	return (tap_failures == 0 ? 0 : 1);
}

#endif /* MH_TAP_H */

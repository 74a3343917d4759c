/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The lines of an "api keys" file, NAME:SHA256-HEX[:DOMAIN,...]: read by
 * webd, checked by the parent when it loads the configuration.
 */
#ifndef MH_APIKEYS_H
#define MH_APIKEYS_H

#include "digest.h"

#define APIKEY_NAME		64	/* NAME, its NUL included */
#define APIKEY_DOMAINS_MAX	64

/*
 * One line, cut in place to its word (a '#' comment, blanks and a CR
 * aside): 1 and its NAME, hash and DOMAIN list (NULL for none, each
 * domain checked), 0 for a line without one, -1 if malformed.
 */
int	apikey_line(char *, char **, unsigned char[MH_SHA256_LEN], char **);
/* the number of a file's first malformed line past a number, or 0 */
size_t	apikeys_bad_line(const char *, size_t, size_t);
/*
 * the number of a file's first key line past a number whose NAME an
 * earlier key line has (*first: that line), or 0: webd takes both keys,
 * and message ownership and Idempotency-Keys go by NAME
 */
size_t	apikeys_dup_name(const char *, size_t, size_t, size_t *);

#endif

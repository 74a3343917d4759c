/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The lines of a credentials file, user:hash: read by authd, checked by
 * the parent when it loads the configuration.
 */
#ifndef MH_CREDLINES_H
#define MH_CREDLINES_H

#include <stddef.h>

/*
 * The line at *p (up to a newline or end), its blanks (and a CR) trimmed
 * at both ends, *p moved past it: 1 with the line in *line, *len, 0 for a
 * blank or '#' comment line, -1 if malformed, with why in *why.
 */
int	cred_line(const char **, const char *, const char **, size_t *,
	    const char **);
/* the number of a file's first malformed line past a number, or 0 */
size_t	creds_bad_line(const char *, size_t, size_t, const char **);

#endif

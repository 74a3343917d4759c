/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Helpers of the configuration parser (parse.y), shared with
 * parse_util.c.  Internal to the parser: nothing else includes this.
 */
#ifndef MH_PARSE_H
#define MH_PARSE_H

#include <stdint.h>

#include "config.h"

/* where a token starts: file name, line and column (1-based, bytes) */
struct pos {
	const char	*file;
	int		 line;
	int		 col;
};

/* parse.y: report FILE:LINE:COL: message and count the error */
void		 parse_error(const struct pos *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

/* parse_util.c */
int		 parse_macro_set(const char *, const char *);
const char	*parse_macro_get(const char *);
void		 parse_macros_clear(void);
int		 parse_copystr(const struct pos *, char *, size_t, const char *,
		    const char *);
int		 parse_check_url(const struct pos *, const char *, const char *);
int		 parse_check_secret(const struct pos *, const char *);
int		 parse_check_domain(const struct pos *, const char *,
		    const char *);
int		 parse_check_range(const struct pos *, int64_t, int64_t, int64_t,
		    const char *);
int		 parse_header_add(const struct pos *, struct headerlist *,
		    char *, char *);
int		 parse_rate_unit(const struct pos *, const char *);
void		 parse_cluster_redis(struct config *, const struct pos *,
		    const char *);
void		 parse_cluster_end(struct config *, const struct pos *);
void		 parse_relay_via(struct config *, const struct pos *,
		    const char *);
void		 parse_tls_ciphers(struct config *, const struct pos *,
		    const char *);
int		 parse_tls_policy(const struct pos *, const char *);
void		 parse_relay_auth(struct config *, const struct pos *,
		    const char *);
void		 parse_tls_policy_domain(struct config *, const struct pos *,
		    char *, const struct pos *, const char *);
int		 parse_utf8_valid(const char *);
const char	*parse_fmt_time(int64_t, char *, size_t);
const char	*parse_fmt_ms(int64_t, char *, size_t);
int		 parse_check_time(const struct pos *, int64_t, int64_t, int64_t,
		    const char *);
int		 parse_check_mstime(const struct pos *, int64_t, int64_t,
		    int64_t, const char *);
const char	*parse_nearest(const char *, const char *const *, size_t);
const char	*parse_block_options(const char *, char *, size_t);
const char	*parse_block_of(const char *, const char *);
int		 parse_block_has(const char *, const char *);
const char	*parse_nearest_option(const char *, const char *);

int		 parse_def(const struct pos *, const char *, const char *,
		    const char *);
void		 parse_defs_clear(void);
void		 parse_at(const struct pos *, char *, size_t);
const char	*parse_usage(const char *, const char *, const char *);

#define PARSE_WORD_MAX	64	/* longest word parse_nearest compares */

#define NUMERR		INT64_MIN	/* a bad number, already reported */

#endif /* MH_PARSE_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Internal to the configuration parser: the grammar (parse.y), its lexer
 * (parse_lex.c), its value checks (parse_util.c), its blocks
 * (parse_block.c) and listeners (parse_listen.c); nothing else includes
 * this.
 */
#ifndef MH_PARSE_H
#define MH_PARSE_H

#include <stdint.h>

#include "config.h"

/* where a token starts: file name, line and column (1-based, characters) */
struct pos {
	const char	*file;
	int		 line;
	int		 col;
};

/* a number as the lexer read it: value, unit and the text */
struct numval {
	int64_t		 n;
	char		 unit[4];
	char		 raw[32];
};

/* a token's value and where it starts */
typedef struct {
	union {
		int64_t		 number;
		char		*string;
		struct numval	 num;
	} v;
	struct pos	 pos;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1
extern YYSTYPE	 yylval;

/* parse.y: the grammar, and what the lexer asks of it */
int		 yyparse(void);
const char	*parse_cur_block(void);	/* "route", ...; NULL outside */
void		 parse_url_said(void);	/* the block's url line was seen */

/* parse_lex.c: the lexer and the error reports */
int		 yylex(void);
void		 yyerror(const char *);
/* report FILE:LINE:COL: message (NULL: the last token) and count it;
 * after PARSE_ERRORS_MAX, "FILE: too many errors, stopping" and no more */
void		 parse_error(const struct pos *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
int		 parse_errors(void);	/* counted since parse_lex_open */
/* a block's '}' was missing: what follows was read into it */
int		 parse_brace_lost(void);
int		 parse_lex_open(const char *);	/* -1: cannot read (logged) */
/* include "name": the file is entered after the end of the line */
void		 parse_lex_include(const struct pos *, const struct pos *,
		    const char *);
void		 parse_lex_close(void);

/* parse_util.c */
int		 parse_macro_set(const char *, const char *);
const char	*parse_macro_get(const char *);
void		 parse_macro_refuse(const char *);
int		 parse_macro_refused(const char *);
void		 parse_macros_clear(void);
/* free text read from the file, wiped first: it may be a secret */
void		 parse_strfree(char *);
int		 parse_copystr(const struct pos *, char *, size_t, const char *,
		    const char *);
/* the same for a file name: refused if relative */
int		 parse_copypath(const struct pos *, char *, size_t, const char *,
		    const char *);
int		 parse_check_url(const struct pos *, const char *,
		    const char *);
const char	*parse_url_port_check(const char *);
int		 parse_check_secret(const struct pos *, const char *);
int		 parse_check_domain(const struct pos *, const char *,
		    const char *);
int		 parse_domain_ascii(const char *, char *, size_t);
int		 parse_domain(const struct pos *, const char *, char *, size_t,
		    const char *);
int		 parse_check_range(const struct pos *, int64_t, int64_t,
		    int64_t, const char *);
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
/* what a number's unit stands for, 0 for a unit not of its kind: bytes
 * ("", K, M, G in any case), milliseconds ("" is seconds; ms, s, m, h, d) */
int64_t		 parse_size_unit(const char *);
int64_t		 parse_time_unit(const char *);
/* a value out of range is said as written, the bound in its unit */
int		 parse_check_time(const struct pos *, const struct numval *,
		    int64_t, int64_t, const char *);
int		 parse_check_mstime(const struct pos *, const struct numval *,
		    int64_t, int64_t, const char *);
int		 parse_check_number(const struct pos *, const struct numval *,
		    int64_t, int64_t, const char *);
int		 parse_check_size(const struct pos *, const struct numval *,
		    int64_t, int64_t, const char *);
const char	*parse_nearest(const char *, const char *const *, size_t);
const char	*parse_block_options(const char *, char *, size_t);
const char	*parse_block_of(const char *, const char *);
const char	*parse_blocks_of(const char *, char *, size_t);
int		 parse_block_has(const char *, const char *);
const char	*parse_nearest_option(const char *, const char *);

int		 parse_def(const struct pos *, const char *, const char *,
		    const char *);
void		 parse_defs_clear(void);
void		 parse_at(const struct pos *, char *, size_t);
const char	*parse_usage(const char *, const char *, const char *);
/* a number times its unit; a size or time that was not a number */
int64_t		 parse_num_scale(int64_t, int64_t);
struct numval	 parse_num_err(void);
/* a host name, checked, without a trailing dot */
void		 parse_hostname_copy(const struct pos *, char *, size_t,
		    const char *);

#define PARSE_WORD_MAX	64	/* longest word parse_nearest compares */
#define PARSE_ERRORS_MAX 25	/* errors reported before parsing stops */

#define NUMERR		INT64_MIN	/* a bad number, already reported */

#endif /* MH_PARSE_H */

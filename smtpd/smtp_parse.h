/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The pure, socket-free part of the SMTP engine: line splitting with bare
 * CR/LF detection, the DATA byte state machine, command, address and
 * ESMTP parameter parsing.  Driven by smtp_session.c, smtp_cmd.c and
 * smtp_tx.c, and by the fuzzer.
 */
#ifndef MH_SMTP_PARSE_H
#define MH_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "mailaddr.h"

#define SMTP_CMD_MAX		512	/* command line, CRLF included */
/* MAIL and RCPT: 500 more for DSN's NOTIFY and ORCPT (RFC 3461 5), room
 * for MAIL's RET, ENVID (4), SIZE (RFC 1870) and BODY */
#define SMTP_MAILRCPT_MAX	1024
#define SMTP_AUTH_LINE_MAX	2048	/* AUTH and its continuation lines */
#define SMTP_TEXT_MAX		1000	/* DATA line, CRLF included */

/* smtp_line_scan() results */
enum line_res {
	LINE_MORE,		/* no complete line yet */
	LINE_OK,		/* a line; see flags */
	LINE_LONG		/* no CRLF within max: caller skips the line */
};

/* line flags */
#define LN_BARE_CR		0x01
#define LN_BARE_LF		0x02
#define LN_NUL			0x04
#define LN_8BIT			0x08

/* line modes */
#define LMODE_CMD		0	/* a bare LF also ends the line */
#define LMODE_TEXT		1	/* only CRLF ends a line */

int	smtp_line_scan(const char *, size_t, size_t max, int mode,
	    size_t *linelen, size_t *consumed, int *flags);
int	smtp_line_skip(const char *, size_t, int mode, size_t *consumed);

/* the DATA state machine: feed it bytes, it emits unstuffed CRLF lines */
#define DATA_ERR_BARE		0x01	/* bare CR or LF */
#define DATA_ERR_LONG		0x02	/* line over SMTP_TEXT_MAX */
#define DATA_ERR_NUL		0x04	/* NUL byte */
#define DATA_ERR_SIZE		0x08	/* over the size limit */
#define DATA_ERR_HOPS		0x10	/* over MSG_HOPS_MAX Received: */

struct data_parser {
	int		 skipping;	/* inside an overlong line */
	int		 errors;	/* DATA_ERR_* */
	int		 done;		/* the final "." was seen */
	int		 eightbit;
	size_t		 size;		/* unstuffed octets, CRLF counted */
	size_t		 max;		/* size limit, 0 = none */
	/* sink for unstuffed lines (the CRLF is included) */
	void		(*out)(void *, const char *, size_t);
	void		*arg;
};

void	data_parser_init(struct data_parser *, size_t max,
	    void (*)(void *, const char *, size_t), void *);
/* returns the number of bytes consumed; stops after the final dot */
size_t	data_parser_feed(struct data_parser *, const char *, size_t);

/*
 * BDAT chunks are not dot-stuffed; the checker follows the same line
 * rules across chunk boundaries (bare CR/LF, long lines, NUL).
 */
struct bdat_checker {
	int		 errors;	/* DATA_ERR_* */
	int		 cr;		/* previous byte was CR */
	int		 eightbit;
	size_t		 linelen;
};
void	bdat_check(struct bdat_checker *, const char *, size_t);
void	bdat_check_end(struct bdat_checker *);

/*
 * The Received: fields of a message's header section, counted across
 * the bytes of DATA lines or BDAT chunks as they come: more than
 * MSG_HOPS_MAX (msghdr.h) is a mail loop.
 */

struct hop_counter {
	int		 body;		/* past the header section */
	int		 miss;		/* this line is not a Received: */
	size_t		 col;		/* its bytes so far, CR aside */
	int		 hops;
};
void	hops_scan(struct hop_counter *, const char *, size_t);

/* commands */
enum smtp_verb {
	CMD_UNKNOWN,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_HELP,
	CMD_VRFY,
	CMD_EXPN,
	CMD_STARTTLS,
	CMD_AUTH
};

/* split "VERB args": returns the verb, *args points after the spaces */
int	smtp_cmd_parse(char *line, char **args);
const char *smtp_cmd_name(int);

/*
 * parse "FROM:<addr> params" / "TO:<addr> params": prefix is "FROM:" or
 * "TO:"; addr receives the address, *params the rest (may be "").
 */
int	smtp_parse_path(char *args, const char *prefix, char *addr,
	    size_t addrsz, int utf8, char **params);

/* ESMTP parameters */
struct mail_params {
	int64_t		 size;		/* -1 if none */
	int		 body_8bit;
	int		 smtputf8;
	char		 ret[8];	/* "", FULL, HDRS */
	char		 envid[104];
	int		 auth_seen;
};
struct rcpt_params {
	int		 notify;	/* DSN_NOTIFY_* */
	char		 orcpt[MH_ADDR_MAX];
};

/* 0 ok, else -1 with *err set to a static reply ("555 5.5.4 ...") */
int	smtp_mail_params(char *, struct mail_params *, const char **err);
/* utf8: the MAIL had SMTPUTF8, an ORCPT of type utf-8 may be raw UTF-8 */
int	smtp_rcpt_params(char *, int utf8, struct rcpt_params *,
	    const char **err);
int	smtp_xtext_decode(const char *, char *, size_t);

/* BDAT arguments: size and LAST; -1 if malformed */
int	smtp_bdat_args(const char *, size_t *size, int *last);

/* a peer string made safe for a reply, a header or a log: printable ASCII */
void	smtp_safe(char *dst, size_t n, const char *src);

#endif /* MH_SMTP_PARSE_H */

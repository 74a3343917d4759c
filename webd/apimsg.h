/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The JSON submission API's message: a request body (JSON) checked field
 * by field and made into an RFC 5322 message with GMime (apimsg.c).  No
 * I/O: webd's api.c feeds it, the fuzz target too.
 *
 * GMime runs here inside webd's sandbox, which has no open(2): nothing
 * may make it convert a charset through iconv (glibc loads its modules
 * from files).  So every text is UTF-8 (jansson checks that), every
 * encoded header and parameter is written with the charset "utf-8", and
 * no encoded word from the peer is ever decoded: an address with "=?"
 * is refused.  The one conversion GMime makes, UTF-8 to US-ASCII for a
 * word too long to fold, has its converter opened by apimsg_init().
 */
#ifndef MH_APIMSG_H
#define MH_APIMSG_H

#include <stddef.h>

#include <jansson.h>

#include "envelope.h"

#define APIMSG_CODE_MAX		32

/* why a request was refused: an HTTP status, a stable code, a message */
struct api_error {
	int		 status;
	char		 code[APIMSG_CODE_MAX];
	char		 message[256];
};

struct api_limits {
	size_t		 max_size;	/* of the message built, bytes */
	size_t		 max_rcpts;	/* to + cc + bcc */
	const char	*hostname;	/* Message-ID's right side */
	/* sender domains allowed; NULL: any */
	const char	*const *domains;
};

struct api_msg {
	char		 sender[MH_ADDR_MAX];	/* the envelope sender */
	char		 (*rcpts)[MH_ADDR_MAX];	/* envelope recipients */
	size_t		 nrcpt;
	char		 message_id[256];	/* without <> */
	char		*data;			/* the message, CRLF lines */
	size_t		 len;
};

void	 apimsg_init(void);		/* GMime, before the sandbox */
/* 0: m is filled (apimsg_free it); -1: e says why */
int	 apimsg_build(const json_t *, const struct api_limits *,
	    struct api_msg *, struct api_error *);
void	 apimsg_free(struct api_msg *);
/* e becomes status, code and printf-like message; returns -1 */
int	 api_err(struct api_error *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* MH_APIMSG_H */

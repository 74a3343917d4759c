/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Mailbox addresses as SMTP takes them (mailaddr.c).
 */
#ifndef MH_MAILADDR_H
#define MH_MAILADDR_H

#include <stddef.h>

/* address errors, mapped to replies by the session: X.1.3 for a
 * recipient, X.1.7 for the sender (RFC 3463) */
enum addr_err {
	ADDR_OK,
	ADDR_SYNTAX,		/* 501 5.1.7 / 5.1.3 */
	ADDR_ROUTE,		/* source route: 553 5.1.3 */
	ADDR_RELAY,		/* % or ! in a recipient: 553 5.1.3 */
	ADDR_8BIT,		/* non-ASCII without SMTPUTF8: 553 5.6.7 */
	ADDR_LENGTH,		/* too long: 501 5.1.3 */
	ADDR_EMPTY		/* <> where not allowed */
};

/* is addr an acceptable mailbox (utf8: SMTPUTF8)?  an enum addr_err */
int	smtp_addr_valid(const char *addr, int utf8);
/* the same for MAIL FROM: '%' and '!' are taken in its local part */
int	smtp_sender_valid(const char *addr, int utf8);
/* s has no byte over 0x7f (an address that needs no SMTPUTF8) */
int	addr_is_ascii(const char *);
/* s is well-formed UTF-8 of printable characters: no C1 control, line
 * separator (U+2028, U+2029) or bidi control (utf8_ctl, utf8_bidi) */
int	smtp_utf8_valid(const char *, size_t);
/* a domain name or an address literal ([192.0.2.1], [IPv6:...]); with
 * utf8, a UTF-8 one must be one IDNA converts (dns_domain_ascii) */
int	smtp_domain_valid(const char *, int utf8);
/* the end of the quoted string opened at p: its closing quote (quoted-pairs
 * skipped), or the NUL if it has none */
const char	*addr_quoted_end(const char *p);
/* the address with its local part unquoted: "user"@d is user@d */
void	addr_unquote(char *, size_t, const char *);
/* the address with its local part in one form: "user"@d is user@d, a
 * quoted one minimally quoted; a suppression's key, a VERP's recipient */
int	addr_canon(char *, size_t, const char *);
/* a and b are the same mailbox: local parts equal (case kept, RFC 5321
 * 2.4; postmaster's in any case), domains equal in any case; their keys
 * (addr_same_key) equal, -1 if one does not fit */
int	addr_same(const char *, const char *);
int	addr_same_key(char *, size_t, const char *);

#endif /* MH_MAILADDR_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP return paths on the bounce domain:
 *	mh-<msgid>-<mac>-<local>=<domain>@<bounce_domain>
 * so that a bounce names the message and the recipient it is about.
 * mac is VERP_MAC_LEN lower-case hex digits of HMAC-SHA256 under the
 * spool's VERP key (SPOOL/verp.key) over msgid and the lower-cased
 * recipient in the form addr_canon() gives ("john"@d is john@d, and its
 * return path is unquoted: an MTA that quotes only what needs it sends
 * the bounce to the same one; verp_decode() takes either quoting; its MAC
 * is over "john"@d, so that it is not john@d's: verp_rcpt_form): only
 * a return path that relayd made verifies, so that a forged report
 * cannot name whom it suppresses.  The older form without
 * a MAC (mh-<msgid>-<local>=<domain>@) still decodes, unverified.
 * A recipient domain with U-labels is written as its A-labels (no
 * SMTPUTF8 needed for it), the MAC taken over it with the U-labels of
 * those A-labels, as verp_decode() gives the recipient back.
 */
#ifndef MH_VERP_H
#define MH_VERP_H

#include <stddef.h>

#include "envelope.h"

#define VERP_PREFIX	"mh-"
#define VERP_MAC_LEN	10	/* hex digits: 40 bits of the HMAC */

/* what verp_decode found */
#define VERP_NONE	-1	/* not one of ours */
#define VERP_SIGNED	0	/* its MAC verifies: relayd made it */
#define VERP_BADMAC	1	/* a MAC that does not verify (or no key) */
#define VERP_UNSIGNED	2	/* the older form, without a MAC */

/* 0 ok, -1 if the result does not fit or an argument is malformed */
int	verp_encode(char *buf, size_t len, const char *msgid, const char *rcpt,
	    const char *bounce_domain, const char *key);
/*
 * VERP_SIGNED, VERP_BADMAC or VERP_UNSIGNED with msgid and rcpt filled
 * (rcpt in the form addr_canon() gives, quoted as "john"@d when the MAC
 * is over that spelling);
 * VERP_NONE if the address is not one of ours.  key: the VERP key (the
 * 64 hex digits of SPOOL/verp.key); NULL or "" when there is none, and
 * then no MAC verifies and verp_encode() fails.
 */
int	verp_decode(const char *addr, const char *bounce_domain,
	    const char *key, char msgid[MH_MSGID_LEN],
	    char *rcpt, size_t rcptlen);
/*
 * rcpt in the form the MAC is taken over (addr_canon, a U-label domain
 * IDNA-normalised, lower-cased), as a recipient of verp_decode() has it
 * whatever its case: how a returned report's recipient is matched to the
 * one submitted.  0, -1 if it is no address or does not fit in dst.
 */
int	verp_rcpt_key(char *dst, size_t len, const char *rcpt);
/*
 * The spellings of one address a return path tells apart: rcpt in
 * verp_rcpt_key's form, its local part in quotes when rcpt has quotes
 * that form does not need ("jim"@d; jim@d is jim@d): the form its return
 * path's MAC is over, as verp_decode() gives it back.  0, -1 as above.
 */
int	verp_rcpt_form(char *dst, size_t len, const char *rcpt);
/*
 * rcpt (local@domain, its local part unquoted) with its local part in
 * quotes into dst: of jim@d's form, "jim"@d's.  0, -1 if it does not fit
 * or is quoted already.
 */
int	verp_rcpt_quoted(char *dst, size_t len, const char *rcpt);
/* the name of a verp_decode() result, for logs */
const char *verp_status_name(int);

#endif /* MH_VERP_H */

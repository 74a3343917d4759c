/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound DKIM (RFC 6376, libopendkim) and DMARC (RFC 7489, libopendmarc)
 * verdicts, computed by hookd for each message before it is posted (sync)
 * or committed (queue).  DNS goes through common/dns.c (libunbound on
 * the event loop, the configured resolver), never the system resolver.
 *
 * At most ENVELOPE_DKIM_MAX signatures (the first ones in header order)
 * are verified per message; the others are ignored, neither pass nor fail.
 */
#ifndef MH_VERDICT_H
#define MH_VERDICT_H

#include <jansson.h>

#include "envelope.h"

/* Debian's publicsuffix package: the organizational domain (RFC 7489 3.2) */
#define VERDICT_PSL_FILE \
	"/usr/share/publicsuffix/effective_tld_names.dat"

/*
 * msg: the whole message as the verdict read it (malloc'd, the callee's
 * to free), so that it need not be read again; NULL when it was not read
 * whole in one go (64 KiB and more, or a read error).
 */
typedef void	(*verdict_cb)(void *arg, char *msg, size_t len);

/* before the sandbox: libopendkim, libopendmarc and the Public Suffix List */
void	 verdict_init(const char *psl_file);
/* the authserv-id of our Authentication-Results header (hostname) */
void	 verdict_configure(const char *authserv_id);

/*
 * Verify the message in fd (read from the start, not closed) and fill
 * the verdict fields of env (auth_checked, dkim, dmarc_*), then call cb
 * with the message read.
 * cb may run before this returns.  env must stay alive until cb runs.
 * -1 (env untouched, cb never called) on allocation failure.
 */
int	 verdict_start(int fd, struct envelope *env, verdict_cb cb, void *arg);

/* does env pass a route's REQUIRE_* bits? 1 yes, 0 no */
int	 verdict_meets(const struct envelope *env, int require);
/*
 * what "require dkim pass" saw: "pass" (a passing signature aligned with
 * From:), "temperror" (none, but an aligned one's key lookup failed for
 * now), "fail", "none" (unsigned)
 */
const char *verdict_dkim(const struct envelope *env);

/* could a later attempt meet what env misses? (a look-up failed for now) */
int	 verdict_temporary(const struct envelope *env, int require);

/*
 * The Authentication-Results header field (RFC 8601) for env, folded
 * with eol ("\r\n" or "\n") and ending with it; malloc'd, NULL when env
 * has no verdict or on allocation failure.
 */
char	*verdict_ar_header(const struct envelope *env, const char *eol);

/*
 * RFC 8601 5: remove the Authentication-Results fields of the message's
 * header section (buf, len bytes) that claim our authserv-id, which only
 * we may add.  Returns the new length.  authserv: the id (as
 * verdict_authserv() gave it, for a thread other than the event loop's),
 * NULL for the one configured now.
 */
size_t	 verdict_ar_strip(char *buf, size_t len, const char *authserv);
/* our authserv-id, for verdict_ar_strip() */
const char *verdict_authserv(void);

/* counts of the results: {dkim: {pass, ...}, dmarc: {pass, ...}} */
json_t	*verdict_stats(void);

/* the DKIM header path, without DNS (every key lookup fails): fuzzing */
void	 verdict_fuzz(const unsigned char *, size_t, struct envelope *);

#endif /* MH_VERDICT_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Sealed verdicts: authd vouches for what it decided at RCPT (where a
 * recipient goes, for which session, sender, client address, HELO and
 * AUTH identity; the SPF result) with an HMAC-SHA256 under a key that
 * the parent makes at start and sends to authd and to the spool owners
 * (relayd, hookd), never to smtpd.  smtpd carries the seals in the
 * envelope; the owners check them before they accept a message, so a
 * compromised smtpd cannot make a relay recipient or an SPF pass up.
 *
 * A seal is "TIME.HEX": the time it was made and the MAC.
 */
#ifndef MH_SEAL_H
#define MH_SEAL_H

#include <stddef.h>
#include <time.h>

#include "envelope.h"
#include "mailhook.h"

#define SEAL_KEY_HEX	64	/* 32 bytes */

/* the key as 64 hex digits (config's verdict_key); -1 if malformed */
int	 seal_set_key(const char *);
/* parent: a new random key, hex, into buf[SEAL_KEY_HEX + 1] */
void	 seal_new_key(char *);

/* authd: the seals of an accepted RCPT into res (seal, spf_seal) */
int	 seal_rcpt_verdict(const struct authd_rcpt_req *,
	    struct authd_rcpt_res *, time_t);
/*
 * Spool owners: every recipient's seal, and the SPF seal when the
 * envelope has an SPF result or a routed recipient (authd checks SPF for
 * each), made within window seconds of now.
 * Returns -1 (and the first recipient that fails in *bad, or NULL for
 * the SPF seal) when one is missing or forged.
 */
int	 seal_envelope_check(const struct envelope *, time_t now, int window,
	    const char **bad);

#endif /* MH_SEAL_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * What the SMTP engine asks of the rest of the daemon.  In mailhookd these
 * are imsgs to authd, hookd and relayd (smtpd/smtpd.c); the test harness
 * (regress/smtpd/smtp_harness.c) answers them in-process.
 *
 * owner is PROC_HOOKD (recipients with dest DEST_ROUTE or DEST_BOUNCE) or
 * PROC_RELAYD (DEST_RELAY).  Every request is answered exactly once, later,
 * through the smtp_* functions of smtp.h, never from inside the call.
 */
#ifndef MH_SMTP_BACKEND_H
#define MH_SMTP_BACKEND_H

#include "mailhook.h"

void	backend_rcpt(const struct authd_rcpt_req *);
/* the session of RCPT request reqid is gone: it is not answered */
void	backend_rcpt_cancel(uint64_t reqid);
void	backend_auth(const struct authd_auth_req *);
void	backend_spool_open(int owner, const struct spool_open *);
void	backend_spool_commit(int owner, const struct spool_commit *,
	    const char *envelope, size_t len);
void	backend_spool_abort(int owner, const struct spool_abort *);

#endif /* MH_SMTP_BACKEND_H */

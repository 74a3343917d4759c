/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: classification of the mail that comes back to the bounce domain.
 *
 *   EV_BOUNCE        an RFC 3464 DSN (multipart/report; report-type=
 *                    delivery-status), or one of the common non-standard
 *                    bounces (Exim, qmail, Exchange/Outlook NDR text,
 *                    generic "Undeliverable"/"failure notice" reports)
 *   EV_AUTO_REPLY    an automatic reply (Auto-Submitted, X-Autoreply,
 *                    X-Autorespond, Precedence auto_reply, out-of-office
 *                    subjects)
 *   EV_COMPLAINT     an ARF feedback report (RFC 5965: multipart/report;
 *                    report-type=feedback-report), a recipient who
 *                    marked the message as spam
 *   EV_BOUNCE_REPLY  anything else (a human replied to the return path)
 *
 * g_mime_init() must have been called by the process.
 */
#ifndef MH_HOOKD_BOUNCE_H
#define MH_HOOKD_BOUNCE_H

#include "mh_event.h"

#define BOUNCE_READ_MAX		(32 * 1024 * 1024)

struct bounce_info {
	/*
	 * kind, recipient, queue_id, code, extended, description, bounce_type,
	 * bounce_reason, bounce_mime, async=1
	 */
	struct event_record	 ev;
	/*
	 * "dsn", "exim", "qmail", "exchange", "generic", "arf", "auto-reply",
	 * "reply"
	 */
	char			 format[16];
	/* DSN Action: failed, delayed, ... */
	char			 action[16];
	/* "rcpt" when the report says the refusal answered RCPT, else "" */
	char			 stage[8];
	/*
	 * of a complaint: the reported message's return path (its
	 * Original-Mail-From, else the Return-Path it quotes), "" if none
	 */
	char			 arf_from[MH_ADDR_MAX];
	/*
	 * the envelope recipient: VERP_SIGNED (verp.h) if relayd made it,
	 * VERP_BADMAC, VERP_UNSIGNED (the older form), VERP_NONE (not VERP)
	 */
	int			 verp;
	/*
	 * 1: a bounce whose report names only another address than the
	 * signed return path's recipient (a forwarding target): ev.recipient
	 * is the report's, and it suppresses no one
	 */
	int			 other_rcpt;
};

/*
 * fd: the message (read from its current offset); rcpt: the envelope
 * recipient, a VERP address on bounce_domain (may be NULL), whose MAC is
 * checked with verp_key (may be NULL: none verifies).  0 and *out
 * filled (mh_event_clear(&out->ev) afterwards), -1 on a read error.
 */
int	bounce_classify(int fd, const char *rcpt, const char *bounce_domain,
	    const char *verp_key, struct bounce_info *out);

#endif /* MH_HOOKD_BOUNCE_H */

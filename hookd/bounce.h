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
/* the events of one delivery report at most (RFC 5321 4.5.3.1.8) */
#define BOUNCE_RCPTS_MAX	100

/*
 * Another recipient of a delivery report (RFC 3464) that failed or was
 * delayed, or another address a non-standard bounce lists as failed: its
 * own bounce event (bounce_event)
 */
struct bounce_rcpt {
	char			 recipient[MH_ADDR_MAX];
	char			 action[16];
	char			 stage[8];
	int			 code;
	char			 extended[16];
	char			 description[512];
	char			 bounce_type[8];
	char			 bounce_reason[128];
	int			 other_rcpt;
};

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
	 * "<Message-ID> SHA256-HEX-OF-BODY" of the returned mail, "" if it
	 * has no Message-ID: a report its MTA sends again (our 250 lost)
	 * has the same
	 */
	char			 report_id[330];
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
	/*
	 * a delivery report's other recipients that failed or were
	 * delayed, each a bounce of its own after ev (ev is the return
	 * path's recipient's, else the first that failed, else the first
	 * delayed), or a non-standard bounce's other addresses (ev is the
	 * return path's recipient's, else the first); at most
	 * BOUNCE_RCPTS_MAX - 1
	 */
	struct bounce_rcpt	*more;
	size_t			 nmore;
};

/*
 * fd: the message (read from its current offset); rcpt: the envelope
 * recipient, a VERP address on bounce_domain (may be NULL), whose MAC is
 * checked with verp_key (may be NULL: none verifies).  0 and *out
 * filled (bounce_clear(out) afterwards), -1 on a read error.
 */
int	bounce_classify(int fd, const char *rcpt, const char *bounce_domain,
	    const char *verp_key, struct bounce_info *out);
/*
 * The event of bi->more[i]: bi->ev (as it is now, its facts filled or
 * not) with that recipient's own fields; its pointers are bi->ev's, not
 * to be freed.
 */
void	bounce_event(const struct bounce_info *bi, size_t i,
	    struct event_record *ev);
/* frees what bounce_classify allocated in bi */
void	bounce_clear(struct bounce_info *bi);

#endif /* MH_HOOKD_BOUNCE_H */

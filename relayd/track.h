/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking at submission (relayd owns outbound content): for mail whose
 * From: domain has a tracking block, one copy of the message per
 * recipient, with that recipient's tokens:
 *
 *	- every text/html part (not an attachment): the open pixel before
 *	  </body> and its http(s) links to URL/c/TOKEN (html_rewrite.h),
 *	  re-encoded with the part's own Content-Transfer-Encoding
 *	  (quoted-printable if 7bit/8bit lines would exceed 998 octets);
 *	  every other byte outside those parts' bodies is the submitted one;
 *	- with unsubscribe one-click, List-Unsubscribe (URL/u/TOKEN and, if
 *	  there is a bounce domain, mailto:unsubscribe+MAC@BOUNCE-DOMAIN)
 *	  and List-Unsubscribe-Post: List-Unsubscribe=One-Click at the end
 *	  of the header, in place of the submitter's own.
 *
 * The mailto local part cannot hold a token (RFC 5321: 64 octets), so
 * it carries a MAC of (recipient, sender domain) and the recipient is
 * the sender of the unsubscribe mail (track_mailto_check).
 */
#ifndef MH_TRACK_H
#define MH_TRACK_H

#include <stddef.h>

#include "config.h"
#include "mailhook.h"
#include "token.h"

#define TRACK_MAILTO_PREFIX	UNSUBSCRIBE_PREFIX	/* mailhook.h */
#define TRACK_MAC_HEX		32

struct track_msg;

/*
 * The plan for the message buf (len bytes, kept by the caller until
 * track_free) from from_domain; NULL if that domain is not tracked or
 * the message cannot be (logged: it then goes out untracked).
 */
struct track_msg *track_prepare(const struct config *, const char *queue_id,
		    const char *from_domain, const char *buf, size_t len);
/* the copy for rcpt: malloc'd, *len bytes; NULL if memory ran out */
char	*track_render(struct track_msg *, const char *rcpt, size_t *len);
void	 track_free(struct track_msg *);
/*
 * Messages parsed with GMime, and those whose layout was a kept one's (a
 * multipart message equal to one of the last few in its MIME fields and
 * body, as a campaign's are: not parsed again); track_forget() drops the
 * kept layouts.
 */
void	 track_counts(unsigned long *parsed, unsigned long *reused);
void	 track_forget(void);

/* the token key of a tracking block; -1 if its secret is unusable */
int	 track_key(const struct tracking *, struct token_key *, int prev);
/* the mailto MAC of (rcpt, domain) in hex, TRACK_MAC_HEX + 1 bytes */
void	 track_mailto_mac(const struct token_key *, const char *rcpt,
	    const char *domain, char *out);
/*
 * Mail to local@bounce_domain from sender: if local is a mailto
 * unsubscribe address made for (sender, a tracked domain), 1, the
 * address to unsubscribe in addr (sender, or the mailbox of a BATV-signed
 * sender, prvs=TAG=user@domain) and that domain in domain; 0 if it is not
 * one; -1 if its MAC is wrong; -2 if it is wrong and sender is a
 * forwarder's SRS address (SRS0=..., SRS1=...).
 */
int	 track_mailto_check(const struct config *, const char *local,
	    const char *sender, char *addr, size_t alen, char *domain,
	    size_t len);

#endif /* MH_TRACK_H */

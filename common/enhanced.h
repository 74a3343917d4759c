/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * RFC 3463 enhanced status codes ("5.1.1"), as smtpd puts them in its
 * replies and relayd reads them in a server's.
 */
#ifndef MH_ENHANCED_H
#define MH_ENHANCED_H

#include <stddef.h>

/*
 * Length of the code "C.SSS.DDD" at the start of s (class one digit, 2, 4
 * or 5, subject and detail one to three digits) when the end of s or a
 * space follows it; 0 if there is none.  cls: the class it must have (the
 * reply code / 100), 0 for any.
 */
size_t	enhanced_len(const char *s, int cls);
/* s is such a code and nothing else */
int	enhanced_ok(const char *s, int cls);
/*
 * ext, if it is such a code, put in class cls ('4' or '5'): that of the
 * outcome it is given for, whatever the reply's was (a deferral's code
 * is 4.X.X, as Postfix defers a 554 5.7.1 greeting with 4.7.1)
 */
void	enhanced_set_class(char *ext, char cls);

/*
 * Whether a permanent failure is about the recipient, so that relayd
 * suppresses it.  A refusal of RCPT is, unless ext is X.7.x (security or
 * policy: the client host on a block list, "554 5.7.1 Service
 * unavailable; Client host [...] blocked"), which is about the sending
 * host and would suppress every recipient it refused.  A refusal of MAIL
 * never is: it comes before any recipient is named, so whatever address
 * its ext names (X.1.0, X.2.1) is the sender's.  A refusal of the data
 * (the message's size or content) is only when ext names the address:
 * X.1.x but X.1.0 (no address named) and the sender's X.1.7 and X.1.8,
 * or X.2.1 (mailbox disabled).
 * A report with no stage ("", a DSN that came back) is unless ext names
 * another cause.
 */
int	enhanced_suppresses(const char *stage, const char *ext);

/*
 * The answer to a message the spool could not take, by the errno of the
 * failed write: 452 4.3.1 "Insufficient system storage" when the disk is
 * full (ENOSPC, EDQUOT; RFC 3463 4.3.1 mail system full), else 451 4.3.0.
 * Returns the reply code; *enh and *text are static strings.
 */
int	enhanced_spool_error(int err, const char **enh, const char **text);

/*
 * A bounce's reason, as the transactional-callbacks seed names them, from
 * its enhanced code and its text (a server's reply, a report's
 * Diagnostic-Code): "Mailbox Full", "Policy-Related", "Invalid
 * Recipient", "Invalid Domain", "Mailbox Disabled", "Message Too Large",
 * "Routing-Related", "Protocol-Related", "Content-Related",
 * "System-Related" or "Other".  A static string.
 */
const char *enhanced_reason(const char *ext, const char *text);

#endif /* MH_ENHANCED_H */

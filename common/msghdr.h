/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The header section of a message as the queue owners read it for the
 * envelope (msghdr.c): relayd for its events and tracking, hookd for
 * mhctl show queue, show message and the history.  Call GMime's
 * g_mime_init() first (Subject is RFC 2047 decoded).
 */
#ifndef MH_MSGHDR_H
#define MH_MSGHDR_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

struct envelope;

/*
 * More Received: fields than this in a message's header section is a
 * mail loop (RFC 5321 6.3; Postfix's hopcount_limit): smtpd refuses it
 * (554 5.4.6), the API too (400 mail_loop).
 */
#define MSG_HOPS_MAX		50

/* one field: its name and its value (folded, as in the message) */
typedef void (*msghdr_fn)(void *arg, const char *name, size_t nlen,
	    const char *value, size_t vlen);

/*
 * Each field of the header section that starts buf (len bytes, up to the
 * empty line or the end of buf), in order; a line without a colon is
 * skipped; fn NULL: none, only the end is wanted.  The offset of the
 * empty line that ends the section, len if buf ends first.
 */
size_t	 msghdr_walk(const char *buf, size_t len, msghdr_fn, void *arg);
/*
 * The start of a message file (a regular file) for msghdr_walk(): up to
 * size bytes from its offset 0 into buf, not NUL-terminated, read again
 * after EINTR.  The bytes read, fewer than size only when that is the
 * whole file; -1 on an error (errno).
 */
ssize_t	 msghdr_read_start(int fd, char *buf, size_t size);
/* t as a Date: field's value (RFC 5322 3.3), in UTC; a t before 1900 or
 * past 9999 as the epoch */
void	 msghdr_date(char *buf, size_t size, time_t t);
/*
 * Is a field's name (msghdr_walk's name, nlen) want, in any case, with
 * the blanks RFC 5322 4.5.3 lets come before the colon ("From :")?
 */
int	 msghdr_name_is(const char *name, size_t nlen, const char *want);
/* value into dst: unfolded, trimmed, control bytes made spaces */
void	 msghdr_copy(char *dst, size_t dstlen, const char *value, size_t vlen);
/*
 * The domain of the first mailbox in a From: field's value (value, vlen;
 * its first MSGHDR_FROM_MAX - 1 bytes, unfolded, an unclosed '<' or quote
 * closed, read as GMime reads an address list) as written, into out; -1
 * if there is none or it does not fit.  relayd's queue (tracking,
 * suppressions, allowances) and its DKIM signer both take the From:
 * domain from here, each checking it in its own form.
 */
#define MSGHDR_FROM_MAX	4096
/*
 * How much of a message's header section relayd reads for its fields:
 * the queue (the From: domain of tracking, suppressions and sending
 * allowances) and the DKIM signer alike, so that a message signed for
 * its From: domain has that domain in its envelope too.
 */
#define MSGHDR_SECTION_MAX	(4 * 1024 * 1024)
int	 msghdr_from_domain(const char *value, size_t vlen, char *out,
	    size_t outlen);
/*
 * A Message-ID (without <>, a byte that is not of valid UTF-8 '?') or
 * Subject (decoded to UTF-8) field into
 * env's message_id or subject, the first of each only: 1 if the field
 * was one of them, 0 if not.
 */
int	 msghdr_envelope(struct envelope *env, const char *name, size_t nlen,
	    const char *value, size_t vlen);

#endif /* MH_MSGHDR_H */

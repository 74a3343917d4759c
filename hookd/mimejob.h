/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * MIME parsing in a thread of hookd's own (mimejob.c): mime_parse() of a
 * spooled message off the event loop, the result handed back on it.
 */
#ifndef MH_MIMEJOB_H
#define MH_MIMEJOB_H

struct event_base;
struct mime_doc;
struct mime_limits;

/* doc: the parsed message (the callee's to free), NULL with errno set */
typedef void	(*mimejob_fn)(struct mime_doc *doc, void *arg);

/* once, in hookd's event loop thread (after the sandbox is fine) */
void	mimejob_init(struct event_base *);
/*
 * Parse fd (closed afterwards) with the Authentication-Results header ar
 * (malloc'd or NULL, freed afterwards) within lim, for the MIME_WANT_
 * formats; done(doc, arg) runs later on the event loop.  msg: the whole
 * message already read (size bytes, malloc'd, freed afterwards), or
 * NULL to read fd.  size: what fd holds as hookd measured it (SIZE_MAX:
 * not known); a small message is parsed at once on the loop, a larger
 * one in the thread.  -1: not queued, fd, msg and ar are still the
 * caller's.
 */
int	mimejob_submit(int fd, char *msg, size_t size, char *ar,
	    const struct mime_limits *lim, int formats, mimejob_fn done,
	    void *arg);

#endif /* MH_MIMEJOB_H */

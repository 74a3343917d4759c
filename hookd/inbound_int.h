/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the inbound engine's insides, shared by inbound.c (the messages
 * it holds, posts and retries), inaccept.c (how a message reaches it)
 * and inctl.c (what mhctl sees and does of them).  Nothing else includes
 * this.
 */
#ifndef MH_HOOKD_INBOUND_INT_H
#define MH_HOOKD_INBOUND_INT_H

#include <time.h>

struct envelope;
struct envelope_rcpt;
struct inmsg;
struct inmsglist;
struct inrcpt;
struct route;

/* inbound.c */
const struct route *rcpt_route(const struct envelope_rcpt *);
void	 msgfd_close(struct inmsg *);
void	 inmsg_discard(struct inmsg *);	/* never enqueued */
void	 inbound_enqueue(struct inmsg *);
void	 inbound_run(struct inmsg *);
void	 inbound_timer(struct inmsg *, time_t);
int	 inbound_reread(struct inmsg *);	/* never_read: mhctl schedule */
void	 inbound_policy_refused(void);	/* counted in inbound_stats() */
struct inmsglist *inbound_msgs(void);
int	 inbound_paused(void);
struct inmsg *inmsg_find(const char *);	/* NULL: none */
void	 msg_free(struct inmsg *);
void	 env_free(struct envelope *);
void	 rcpt_inrcpt(const struct envelope_rcpt *, struct inrcpt *);
const char *listing_next(const char **);

#endif /* MH_HOOKD_INBOUND_INT_H */

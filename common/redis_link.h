/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The link to the cluster's Redis (hiredis on the process's libevent base):
 * one context for commands, one subscribed to the cluster's channel.
 * Nothing blocks.  A command's callback runs once, with the reply or with
 * NULL (link down, slow, error reply); a slow or broken link is dropped and
 * tried again with backoff, and the caller answers from its local state.
 */
#ifndef MH_REDIS_LINK_H
#define MH_REDIS_LINK_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define REDIS_PREFIX	"mailhook:"
/*
 * The channel of db 0; of db N, REDIS_CHANNEL ":N" (redis_link_channel):
 * Redis's channels are one for all its databases
 */
#define REDIS_CHANNEL	REDIS_PREFIX "changes"

struct event_base;
struct redisReply;

typedef void	(*redis_reply_fn)(const struct redisReply *, void *arg);

/* the link's state, as relayd tells the parent (mhctl show status) */
struct cluster_link {
	int32_t		 up;
	int64_t		 since;
	char		 state[16];		/* off, down, linking, up */
	char		 error[256];
};

struct redis_hooks {
	/* up (again): reconcile */
	void	(*linked)(void);
	void	(*message)(const char *, size_t);	/* from the channel */
	void	(*changed)(const struct cluster_link *);	/* up or down */
};

/* (re)configure; an unchanged cluster block keeps the link */
void		 redis_link_configure(struct event_base *,
		    const struct config *, const struct redis_hooks *);
void		 redis_link_shutdown(void);
int		 redis_link_enabled(void);	/* a cluster block */
int		 redis_link_up(void);
/* configured, not linked yet, for less than 5 s: worth waiting for */
int		 redis_link_settling(void);
const char	*redis_link_node(void);
const char	*redis_link_channel(void);
int		 redis_link_nodes(void);	/* seen lately, at least 1 */
/* in a reply_fn called with NULL: Redis's error reply, else NULL */
const char	*redis_link_refused(void);
/*
 * -1 (fn not called) when the link is down; a reply that would cost
 * hiredis more than a few MB of memory drops the link (redis_link.c,
 * reply_cost): a large answer is asked for in pages (HSCAN)
 */
int		 redis_command(redis_reply_fn, void *, int argc,
		    const char **argv, const size_t *argvlen);
/* the local state answered instead of Redis: counted, logged (paced) */
void		 redis_fallback(const char *what);
json_t		*redis_link_show(void);

#endif

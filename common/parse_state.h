/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Internal to the configuration parser: the state of the file being read
 * that the grammar (parse.y) shares with the blocks it opens and closes
 * (parse_block.c) and with its listeners (parse_listen.c), each of which
 * defines its own, and what the two do for the grammar; nothing else
 * includes this.
 */
#ifndef MH_PARSE_STATE_H
#define MH_PARSE_STATE_H

#include <stdint.h>

#include "config.h"
#include "parse.h"

/* parse_block.c */
extern struct config		*conf;	/* the configuration being read */
extern struct route		*cur_route;
extern uint32_t			 cur_route_n;	/* route blocks */
extern struct pos		 cur_route_timeout_pos;	/* file NULL: none */
extern struct events_block	*cur_events;
extern struct pos		 cur_events_pos;
/* in the events block: where kinds all, and a first other kind, were seen
 * (file NULL: not) */
extern struct pos		 kinds_all_pos, kinds_one_pos;
extern int			 kinds_said;	/* all beside a kind said */
extern uint32_t			 cur_dlimit_n;	/* limit domain lines */
extern struct tracking		*cur_track;
extern int			 url_seen;	/* url option seen in a block */
extern struct pos		 auth_header_pos;	/* the block's */

/* parse_listen.c */
extern struct listener		*cur_listen;
extern struct pos		 auth_pos;	/* the first tls listener with auth */
extern struct pos		 api_pos;	/* the first api listener */
/* where a listener's pki and hostname options were (file NULL: not) */
extern struct pos		 cur_listen_pki;
extern struct pos		 cur_listen_hostname;

/* a listener's flag words, each once (listen_flag) */
enum listen_word {
	LW_TLS, LW_TLSREQ, LW_SMTPS, LW_HTTP, LW_API, LW_METRICS, LW_AUTH,
	LW_AUTHREQ, LW_MAX
};

/* parse_block.c: route, limit domain, events and tracking blocks, the
 * settings said once, and the global settings checked as a whole */
void	 route_begin(const struct pos *, const struct pos *, int,
	    char *);
void	 route_end(void);
void	 route_once(const struct pos *, const char *);
void	 dlimit_once(const struct pos *, const char *);
void	 events_once(const struct pos *, const char *);
void	 global_once(const struct pos *, const char *);
void	 block_once(const struct pos *, const char *, uint32_t,
	    const char *);
void	 events_end(void);
void	 tracking_begin(const struct pos *, const struct pos *, char *);
void	 tracking_end(void);
void	 tracking_yesno(const struct pos *, const char *, const char *,
	    int *);
int	 kind_add(const struct pos *, const char *);
void	 testing_set(const struct pos *, const struct pos *,
	    const char *, int, int64_t, int64_t);
void	 route_require(const struct pos *, int, const char *, int);
void	 postmaster_set(const struct pos *, const char *);
int	 relay_from_once(const struct pos *, const struct netaddr *,
	    const char *);

/* parse_listen.c: listen on ... and the pki each names */
void	 listen_begin(const struct pos *, const struct pos *, char *);
void	 listen_end(void);
void	 listen_flag(const struct pos *, enum listen_word);
void	 pki_ref(const struct pos *, const struct listener *);
void	 pki_refs_check(void);

#endif /* MH_PARSE_STATE_H */

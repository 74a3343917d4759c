/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Internal to the configuration parser: the state of the file being read
 * that the grammar (parse.y) shares with the blocks it opens and closes
 * (parse_block.c) and with its listeners (parse_listen.c), and what the
 * two do for the grammar; nothing else includes this.
 */
#ifndef MH_PARSE_STATE_H
#define MH_PARSE_STATE_H

#include <stdint.h>

#include "config.h"
#include "parse.h"

struct parse_state {
	struct config		*conf;	/* the configuration being read */

	/* the blocks (parse_block.c) */
	struct route		*cur_route;
	uint32_t		 cur_route_n;	/* route blocks */
	struct pos		 cur_route_timeout_pos;	/* file NULL: none */
	struct events_block	*cur_events;
	struct pos		 cur_events_pos;
	/* in the events block: where kinds all, and a first other kind,
	 * were seen (file NULL: not) */
	struct pos		 kinds_all_pos, kinds_one_pos;
	int			 kinds_said;	/* all beside a kind said */
	uint32_t		 cur_dlimit_n;	/* limit domain lines */
	struct tracking		*cur_track;
	uint32_t		 cur_track_n;	/* tracking blocks */
	int			 url_seen;	/* url option seen in a block */
	struct pos		 auth_header_pos;	/* the block's */

	/* the listeners (parse_listen.c) */
	struct listener		*cur_listen;
	/* the first tls listener with auth, the first api listener */
	struct pos		 auth_pos;
	struct pos		 api_pos;
	/* where a listener's pki and hostname options were (file NULL: not) */
	struct pos		 cur_listen_pki;
	struct pos		 cur_listen_hostname;
};
extern struct parse_state	 ps;	/* parse.y */

/* a listener's flag words, each once (parse_listen_flag) */
enum listen_word {
	LW_TLS, LW_TLSREQ, LW_SMTPS, LW_HTTP, LW_API, LW_METRICS, LW_AUTH,
	LW_AUTHREQ, LW_MAX
};

/* parse_block.c: route, limit domain, events and tracking blocks, the
 * settings said once, and the global settings checked as a whole */
void	 parse_route_begin(const struct pos *, const struct pos *, int,
	    char *);
void	 parse_route_end(void);
void	 parse_route_once(const struct pos *, const char *);
void	 parse_dlimit_once(const struct pos *, const char *);
void	 parse_events_once(const struct pos *, const char *);
void	 parse_tracking_once(const struct pos *, const char *);
void	 parse_global_once(const struct pos *, const char *);
void	 parse_block_once(const struct pos *, const char *, uint32_t,
	    const char *);
void	 parse_events_end(void);
void	 parse_tracking_begin(const struct pos *, const struct pos *, char *);
void	 parse_tracking_end(void);
void	 parse_tracking_yesno(const struct pos *, const char *, const char *,
	    int *);
int	 parse_kind_add(const struct pos *, const char *);
void	 parse_testing_set(const struct pos *, const struct pos *,
	    const char *, int, int64_t, int64_t);
void	 parse_route_require(const struct pos *, int, const char *, int);
void	 parse_postmaster_set(const struct pos *, const char *);
int	 parse_relay_from_once(const struct pos *, const struct netaddr *,
	    const char *);

/* parse_listen.c: listen on ... and the pki each names */
void	 parse_listen_begin(const struct pos *, const struct pos *, char *);
void	 parse_listen_end(void);
void	 parse_listen_flag(const struct pos *, enum listen_word);
void	 parse_listen_pki(const struct pos *, const struct pos *,
	    const char *);
void	 parse_pki_def(const struct pos *, const struct pki *);
void	 parse_pki_refs_check(void);

#endif /* MH_PARSE_STATE_H */

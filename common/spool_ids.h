/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The message files of a spool's incoming/ that a peer has open: handed
 * it (SPOOL_FD), neither committed nor aborted yet.  A peer's commit or
 * abort may name one of its own alone; any other file there is another
 * peer's or the spool owner's, not this peer's to commit or give back.
 */
#ifndef MH_SPOOL_IDS_H
#define MH_SPOOL_IDS_H

void	spool_ids_add(const char *msgid, int peer);
int	spool_ids_take(const char *msgid, int peer);	/* 0, -1: not its */

#endif /* MH_SPOOL_IDS_H */

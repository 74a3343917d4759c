/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The records of a message's history that both queue owners write
 * (msghist.c), in the journal of history.h: "accepted" (client, HELO,
 * TLS, SPF, auth, DKIM and DMARC verdicts), "event" (an event made),
 * "held"/"released" (mhctl) and "done" (it left the queue, with its
 * recipients' final states); and what mhctl show message and the API
 * answer once the message has left the queue.
 */
#ifndef MH_MSGHIST_H
#define MH_MSGHIST_H

#include <jansson.h>

#include "envelope.h"

struct event_record;

/* rec (what: its kind) added to id's history and released; NULL (jansson
 * refused a field) logged, never silent */
void	 msghist_add(const char *id, const char *what, json_t *rec);
void	 msghist_accepted(const struct envelope *);
void	 msghist_event(const struct event_record *);
void	 msghist_note(const char *id, const char *what);
/* the message left its queue; removed: by mhctl remove */
void	 msghist_done(const struct envelope *, int removed);
/* recipients as show queue has them: address, state, attempts, last error */
json_t	*msghist_rcpts(const struct envelope *, int held);
/*
 * A message no longer queued, from its history, as show message prints a
 * queued one (state "done" once it left, else "gone"); NULL if the history
 * has no "accepted" record of it.
 */
json_t	*msghist_show(const char *id, const char *queue);
/* who submitted a message no longer queued: 0, -1 if not known */
int	 msghist_owner(const char *id, char *buf, size_t len);
/* an "accepted" record of id is in the history */
int	 msghist_known(const char *id);

#endif /* MH_MSGHIST_H */

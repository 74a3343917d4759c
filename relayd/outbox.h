/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's event outbox: every event the engine makes is appended to a
 * journal in <spoolroot>/outbound/outbox/ and made durable by the group
 * commit (gsync.h) before it is sent to hookd; hookd answers
 * IMSG_EVENT_ACK once the event is in its own spool, and the journal goes
 * once all its events are acknowledged.  Whatever is unacknowledged at
 * start (a crash of relayd or hookd before the ack) is sent again; hookd
 * and the receivers de-duplicate by event id.
 */
#ifndef MH_RELAYD_OUTBOX_H
#define MH_RELAYD_OUTBOX_H

#include "mh_event.h"

struct event_base;

/* hand one event (its wire form, mh_event_pack) to hookd; 0 if sent */
typedef int	(*outbox_send_fn)(const void *wire, size_t len);
/* 1 while hookd has not read what it was sent (its socket is full);
 * what is composed for it may be written first, to know */
typedef int	(*outbox_busy_fn)(void);

/* load what a previous run left; 0 ok, -1 error (logged) */
int	 outbox_init(const char *spoolroot, outbox_send_fn, outbox_busy_fn);
/* persist (a line of the journal; durable at the next group commit),
 * then send if started */
int	 outbox_put(const struct event_record *);
/* what outbox_put wrote durable now (before a queue change it
 * explains), not only at the next group commit; -1 if a flush failed:
 * the change must not be made */
int	 outbox_sync(void);
/* 1 while a journal whose flush failed is open, or an event that could
 * not be written to a journal is not acknowledged: nothing that waits on
 * events (a message's removal) may go.  Such a journal is copied at once
 * (its unacknowledged events to a new journal, fsynced with the next
 * group commit) and then goes, or goes once hookd has acknowledged it
 * all; such an event is written to a journal once one can be.  What
 * cannot be written is tried again with a backoff up to
 * OUTBOX_RETRY_MAX, at once when a journal write works again */
int	 outbox_failed(void);
/* 1 the first time it is asked since a journal's flush failed: what
 * waits on it is logged once per journal, not at every try */
int	 outbox_wait_news(void);
/* hookd has it: forget it; 1 if unknown, -1 if not an event id */
int	 outbox_ack(const char *id);
/* on (default): persist every event until acked; off: send and forget */
void	 outbox_keep(int);
/* the peer is there: send everything unacknowledged; unacknowledged
 * events are sent again every OUTBOX_RESEND seconds, OUTBOX_RESEND_BURST
 * bytes at a time while the peer reads (the copies would only pile up
 * in relayd's memory); a round stopped by a full socket goes on from
 * outbox_drained() */
void	 outbox_start(struct event_base *);
/* the socket to hookd, full, has drained */
void	 outbox_drained(void);
size_t	 outbox_pending(void);
/* show stats: re-send rounds, their continuations, the events these
 * continuations looked at */
void	 outbox_resend_stats(uint64_t *, uint64_t *, uint64_t *);

#define OUTBOX_RESEND		10
#define OUTBOX_RESEND_BURST	(64 * 1024)
/* seconds at most between two tries to copy a journal whose flush
 * failed, or to write the events no journal has (disk full) */
#define OUTBOX_RETRY_MAX	3

#endif /* MH_RELAYD_OUTBOX_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: the acknowledgement of an event from relayd or webd.  relayd keeps
 * each event in its outbox until hookd answers IMSG_EVENT_ACK, which it
 * does only once the event is durable in hookd's spool (events_submit()'s
 * callback, after the group commit).
 *
 * webd's tracking events (open, read, click) are acknowledged once they
 * are written into their endpoints' segments, before the group commit
 * that makes them durable: from then on they survive kill -9 of any
 * process (the kernel has them), and the 302 or the pixel does not wait
 * for the disk.  That commit starts within 20 ms (gsync_later), shared
 * by the hits that come meanwhile.  The client of a click is a browser
 * that never sends it again, so nothing upstream drops a copy on this
 * answer; what a crash of the whole machine can lose is the clicks of
 * the last 20 ms or so.  Unsubscribes go through relayd and wait for its
 * flush.
 * A re-sent event (relayd restarted before it saw the ack, or sent it
 * again after OUTBOX_RESEND seconds without one: hookd stopped or slow)
 * is recognised by its id, per endpoint, in events_submit(): stored only
 * for the endpoints that lack it (none: acknowledged again at once), not
 * queued twice; a copy that comes while the first is being stored is
 * acknowledged once that one is durable (events.c, held ids).
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "mh_event.h"
#include "log.h"
#include "mailhook.h"
#include "proc.h"
#include "events.h"

struct ack_state {
	struct mproc	*p;
	char		 id[EVENT_ID_LEN];
};

static void
ack_send(int ok, void *arg)
{
	struct ack_state	*a = arg;
	struct event_ack	 ack;

	if (ok && !a->p->closed) {
		memset(&ack, 0, sizeof(ack));
		strlcpy(ack.id, a->id, sizeof(ack.id));
		mproc_compose(a->p, IMSG_EVENT_ACK, 0, -1, &ack, sizeof(ack));
	}
	free(a);
}

int
events_submit_ack(struct mproc *p, const struct event_record *ev)
{
	struct ack_state	*a;

	/*
	 * relayd keeps an outbox until the event is durable, webd holds
	 * the HTTP answer until it is written; authd's need no answer
	 */
	if ((p->proc != PROC_RELAYD && p->proc != PROC_WEBD) ||
	    strlen(ev->id) >= sizeof(a->id))
		return (events_submit(ev, NULL, NULL));
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	a->p = p;
	strlcpy(a->id, ev->id, sizeof(a->id));
	/* written is enough for a tracking hit (above) */
	if ((p->proc == PROC_WEBD ? events_submit_written(ev, ack_send, a) :
	    events_submit(ev, ack_send, a)) == -1) {
		free(a);
		return (-1);
	}
	return (0);
}

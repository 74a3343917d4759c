/*
 * hookd: the acknowledgement of an event from relayd.  relayd keeps each
 * event in its outbox until hookd answers IMSG_EVENT_ACK, which it does
 * only once events_submit() has made the event durable in hookd's spool.
 * A re-sent event (relayd restarted before it saw the ack) is recognised
 * by its id in events_submit() and acknowledged again, not queued twice.
 */
#include <sys/types.h>

#include <string.h>

#include "event.h"
#include "log.h"
#include "mailhook.h"
#include "proc.h"
#include "events.h"

int
events_submit_ack(struct mproc *p, const struct event_record *ev)
{
	struct event_ack	 ack;

	if (events_submit(ev) == -1)
		return (-1);
	/* only relayd keeps an outbox; authd's events need no answer */
	if (p->proc != PROC_RELAYD)
		return (0);
	memset(&ack, 0, sizeof(ack));
	if (strlcpy(ack.id, ev->id, sizeof(ack.id)) >= sizeof(ack.id))
		return (0);
	mproc_compose(p, IMSG_EVENT_ACK, 0, -1, &ack, sizeof(ack));
	return (0);
}

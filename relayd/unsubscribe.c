/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Unsubscribe and resubscribe (relay.h): a recipient suppressed for one
 * sender domain only, with the events that say so.  The mailto form of
 * List-Unsubscribe (track.h) arrives at hookd as mail to the bounce
 * domain and is checked here, where the token key is.  The https form
 * (RFC 8058 one-click) is webd's, which asks relay_unsubscribe_web below.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "relayd.h"
#include "track.h"

/* a log line's msgid: "-" where no message is named (webd may not) */
static const char *
msgid_of(const char *queue_id)
{
	return (queue_id[0] != '\0' ? queue_id : "-");
}

/*
 * About the address and the domain; queue_id (or NULL) names the message
 * whose unsubscribe page was used, whose facts (Message-ID, tags, group,
 * transaction) hookd then adds.  The mailto form has none of its own:
 * what it has is the id of the mail that came in.
 */
static void
subscription_event(enum event_kind kind, const char *addr,
    const char *domain, const char *how, const char *queue_id)
{
	struct event_record	 ev;

	mh_event_init(&ev, kind);
	if (queue_id != NULL && envelope_id_ok(queue_id))
		strlcpy(ev.queue_id, queue_id, sizeof(ev.queue_id));
	strlcpy(ev.recipient, addr, sizeof(ev.recipient));
	strlcpy(ev.stage, kind == EV_UNSUBSCRIBE ? "unsubscribe" :
	    "resubscribe", sizeof(ev.stage));
	snprintf(ev.description, sizeof(ev.description), "%s mail from %s "
	    "(%s)", kind == EV_UNSUBSCRIBE ? "unsubscribed from" :
	    "resubscribed to", domain, how);
	relay_emit(&ev);
	mh_event_clear(&ev);
}

static void
resubscribed(const char *addr, const char *domain)
{
	if (domain[0] != '\0')
		subscription_event(EV_RESUBSCRIBE, addr, domain,
		    "suppression removed", NULL);
}

/*
 * addr suppressed for mail from domain (how: "mailto", "one-click"); the
 * unsubscribe event only if it was not already: a second unsubscribe
 * (a repeated POST, the page and then the mailto) changes nothing more.
 * queue_id is logged; the event names it only if it is the outbound
 * message's (outbound), not the id of the mail that came in.
 */
static int
unsubscribe(const char *addr, const char *domain, const char *queue_id,
    int outbound, const char *how)
{
	char	 a[LOG_ADDR_MAX], reason[64];
	int	 rv;

	log_addr(a, sizeof(a), addr);
	snprintf(reason, sizeof(reason), "unsubscribe (%s)", how);
	if ((rv = suppress_add(addr, domain, reason)) < 0) {
		log_warnx("msgid=%s addr=<%s> domain=%s via=%s status=error "
		    "(cannot suppress)", msgid_of(queue_id), a, domain, how);
		return (rv);
	}
	if (rv == 0) {
		log_info("msgid=%s addr=<%s> domain=%s via=%s "
		    "status=already_unsubscribed", msgid_of(queue_id), a,
		    domain, how);
		return (0);
	}
	log_info("msgid=%s addr=<%s> domain=%s via=%s status=unsubscribed",
	    msgid_of(queue_id), a, domain, how);
	subscription_event(EV_UNSUBSCRIBE, addr, domain, how,
	    outbound ? queue_id : NULL);
	return (0);
}

int
relay_suppress_del(const char *addr, const char *sender_domain)
{
	int	 rv;

	rv = suppress_del(addr, sender_domain, resubscribed);
	return (rv < 0 ? rv : 0);
}

int
relay_unsubscribe_mailto(const char *local, const char *sender,
    const char *queue_id)
{
	char	 domain[MH_NAME_MAX], addr[MH_ADDR_MAX], s[LOG_ADDR_MAX];
	char	 l[MH_ADDR_MAX];
	int	 rv;

	rv = track_mailto_check(relay_conf, local, sender, addr, sizeof(addr),
	    domain, sizeof(domain));
	if (rv == 0)
		return (0);
	if (rv < 0) {
		log_warnx("msgid=%s addr=<%s> via=mailto local=%s "
		    "status=ignored (%s)", msgid_of(queue_id),
		    log_addr(s, sizeof(s), sender),
		    log_sanitize(l, sizeof(l), local), rv == -2 ?
		    "the sender is a forwarder's SRS address, not the "
		    "recipient's own: an unsubscribe address not made for it" :
		    "an unsubscribe address not made for this sender");
		return (-1);
	}
	/* -2: the list could not be written, for now; -1 never can be */
	if ((rv = unsubscribe(addr, domain, queue_id, 0, "mailto")) < 0)
		return (rv == -2 ? -2 : -1);
	return (1);
}

int
relay_unsubscribe_web(const char *addr, const char *domain,
    const char *queue_id, int resubscribe)
{
	char	 a[LOG_ADDR_MAX];
	int	 rv;

	if (resubscribe) {
		/* not (or no longer) unsubscribed: nothing to undo */
		if ((rv = suppress_del(addr, domain, NULL)) == -2)
			return (-1);
		if (rv > 0) {
			log_info("msgid=%s addr=<%s> domain=%s via=web "
			    "status=resubscribed", msgid_of(queue_id),
			    log_addr(a, sizeof(a), addr), domain);
			subscription_event(EV_RESUBSCRIBE, addr, domain,
			    "web", queue_id);
		}
		return (0);
	}
	return (unsubscribe(addr, domain, queue_id, 1, "one-click"));
}

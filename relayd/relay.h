/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd's outbound engine: durable queue, scheduler, SMTP client,
 * suppression list.  The process main (relayd.c) drives it from imsg;
 * the regress harness drives it directly.
 *
 * The engine works below a spool root directory: the real spool in
 * tests, "/" once relayd is chrooted there.  Layout under it:
 *	outbound/incoming/<msgid>		files being written by smtpd
 *	outbound/queue/<msgid>.msg, .env	committed messages
 *	outbound/suppress			the suppression list
 *	outbound/idem/<hash>			the API's idempotency keys
 *						(idem.c)
 *	outbound/history/<time>[.idx]		the messages' history
 *						(history.h)
 *	outbound/mta-sts.<domain>		MTA-STS policies (mtasts.c)
 *	outbound/tls-rpt			TLS-RPT counts (tlsrpt.c)
 *
 * dns_init() (common/dns.h) must have been called by the caller.
 */
#ifndef MH_RELAY_H
#define MH_RELAY_H

#include <jansson.h>

#include "config.h"
#include "envelope.h"
#include "mh_event.h"

struct event_base;

/* every event the engine makes; the record is only valid during the call */
typedef void	(*relay_event_fn)(const struct event_record *);
/* the SMTP reply for a commit: 250 once the message is durable */
typedef void	(*relay_commit_fn)(const char *msgid, int code,
		    const char *enhanced, const char *text, void *arg);

/* 0 ok, -1 error (logged); the config must stay valid until the next
 * relay_configure() */
int	 relay_init(struct event_base *, const struct config *,
	    const char *spoolroot, relay_event_fn);
int	 relay_configure(const struct config *);
void	 relay_shutdown(void);

/*
 * DKIM signing, the last content change of a submitted message: sign the
 * read-only fd for d=domain and call done() with the DKIM-Signature
 * header lines (CRLF) or, with hdrs NULL, why not.  relayd.c passes it
 * on to the signer process; without a signer (the test harness) nothing
 * is signed.
 */
typedef void	(*relay_signed_fn)(const char *hdrs, size_t len,
		    const char *error, void *arg);
typedef void	(*relay_signer_fn)(int fd, const char *domain,
		    relay_signed_fn done, void *arg);
void	 relay_set_signer(relay_signer_fn);
/* the signer is there or has new keys: try the held messages now */
void	 relay_dkim_retry(void);

/* spool, for smtpd's fd passing */
int	 relay_spool_open(char msgid[MH_MSGID_LEN]);	/* writable fd or -1 */
void	 relay_spool_commit(const char *msgid, const struct envelope *,
	    relay_commit_fn, void *);
int	 relay_spool_abort(const char *msgid);	/* -1: not a message id */

/*
 * The API's idempotency keys (idem.c), hash the 64 hex digits webd made:
 * get 1 with the first answer, 0 none (or older than a day), -1 bad hash;
 * put is durable (fsync) when it returns 0.  init sweeps the expired
 * records out, then again every period seconds (0: hourly).
 */
int	 relay_idem_init(struct event_base *, const char *spoolroot,
	    int period);
int	 relay_idem_get(const char *hash, char id[MH_MSGID_LEN], char *mid,
	    size_t, char body[65]);
int	 relay_idem_put(const char *hash, const char *id, const char *mid,
	    const char *body, int);
void	 relay_idem_restore(const char *hash, const char *id,
	    const char *mid);

/* control (mhctl) */
/* show queue: what fits of the list; the number of the others */
json_t	*relay_queue_list(size_t *unlisted);
json_t	*relay_message_show(const char *id);		/* NULL if unknown */
/* its queued file (read-only): 0, -1 unknown, -2 no longer queued */
int	 relay_message_raw(const char *id, int *fd);
/* who submitted a queued message (envelope auth_user), NULL if unknown */
const char *relay_message_owner(const char *id);
/* id or "all"; -1 unknown */
int	 relay_schedule(const char *id);
int	 relay_remove(const char *id);			/* -1 unknown */
/* id or "all"; -1 unknown */
int	 relay_hold(const char *id, int on);
void	 relay_pause(int);				/* 1 pause, 0 resume */
/* a stop: nothing new starts; replies to final dots still awaited */
int	 relay_stop(void);
int	 relay_in_dot(void);		/* those replies not yet in */
/*
 * sender_domain NULL: for every sender; else mail from that domain only.
 * 1 added, 0 there already (reason and time replaced), -1 not stored,
 * -2 kept in memory only: the list cannot be written.
 */
int	 relay_suppress_add(const char *addr, const char *sender_domain,
	    const char *reason);
/*
 * sender_domain NULL: every entry of addr (mhctl suppress del), each one
 * scoped to a sender domain (an unsubscribe) making a resubscribe event;
 * else the entry of that scope only, without an event.  -1 if none, -2
 * if the list cannot be written (then nothing is removed).
 */
int	 relay_suppress_del(const char *addr, const char *sender_domain);
json_t	*relay_suppress_list(size_t *);
json_t	*relay_cluster_show(void);	/* the link and what is shared */
/*
 * Mail to local@the bounce domain from sender (unsubscribe.c): if local
 * is the mailto List-Unsubscribe address made for sender, the recipient
 * is suppressed for that sender domain and an unsubscribe event made
 * (none if it already was: unsubscribing again changes nothing).
 * 1 done, 0 not such an address, -1 a wrong MAC or an address that
 * cannot be suppressed (logged), -2 the suppression could not be stored
 * for now (logged).
 */
int	 relay_unsubscribe_mailto(const char *local, const char *sender,
	    const char *queue_id);
/*
 * webd's one-click unsubscribe (or the resubscribe of its page): addr
 * suppressed for mail from domain, or that lifted, with the event only
 * when the suppression was added or removed (a repeated POST makes none).
 * -1 if the suppression could not be stored.
 */
int	 relay_unsubscribe_web(const char *addr, const char *domain,
	    const char *queue_id, int resubscribe);
json_t	*relay_stats(void);
void	 relay_metrics(json_t *);	/* queue size and oldest */

/* state, for tests and shutdown */
size_t	 relay_queue_size(void);	/* messages in the queue */
int	 relay_busy(void);		/* connections or lookups in flight */

/* testing knobs */
void	 relay_set_port(int);		/* TCP port of MX hosts, default 25 */
/* seconds: to connect (0: as it is), for a reply, for the final dot's */
void	 relay_set_timeouts(int connect, int command, int dot);

/* fallback.c: a route's fallback smtp (IMSG_FALLBACK_SMTP from hookd) */
struct mproc;
struct mh_imsg;
void	 fallback_smtp(struct mproc *, struct mh_imsg *);

#endif /* MH_RELAY_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hookd: inbound spool, POSTs of messages, returning mail, events.
 */
#ifndef MH_HOOKD_H
#define MH_HOOKD_H

#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "mailhook.h"

/*
 * The longest wait a Retry-After header gets (an events endpoint's,
 * an inbound route's in mode queue): a day.
 */
#define HOOK_RETRY_AFTER_MAX	(24 * 3600)

/*
 * A queued message waiting for its next round keeps only this of each
 * recipient; its envelope is in the spool (inbound.c, env_unload).
 */
struct inrcpt {
	time_t			 next_try;
	uint32_t		 route;
	unsigned char		 dest;		/* enum rcpt_dest */
	unsigned char		 state;		/* enum rcpt_state */
	uint16_t		 attempts;	/* capped at UINT16_MAX */
};

/* inmsg fallback[i]: whom a recipient's fallback was handed, who answers */
#define FB_MAILDIR	1	/* the parent */
#define FB_SMTP		2	/* relayd */
#define FB_AGAIN	3	/* could not for now: asked again at next_try */
/* failed for good, its dead letter not written: written at next_try */
#define FB_DEAD		4
/* inmsg returning[i]: what of a pending recipient of returned mail waits */
#define RET_EVENTS	1	/* its events, to be durable: an answer comes */
#define RET_RELAYD	2	/* relayd's unsubscribe, maybe never answered */

struct inmsg {
	TAILQ_ENTRY(inmsg)	 entry;
	/*
	 * NULL while a queued message waits for its next round: read back
	 * from the spool for it; rcpt holds its recipients meanwhile
	 */
	struct envelope		*env;
	struct inrcpt		*rcpt;
	/*
	 * and what show queue lists of it: its sender, then each
	 * recipient's address and last error, each one NUL-terminated
	 */
	char			*listing;
	size_t			 size;		/* its envelope's */
	char			 id[MH_MSGID_LEN];
	time_t			 created;
	size_t			 nrcpt;
	int			 committed;
	/* smtpd waits for the verdict */
	int			 sync;
	int			 transient;	/* sync: never committed */
	uint64_t		 reqid;		/* smtpd's, when sync */
	/* its DATA ended (the commit came): a sync POST's timeout counts
	   from here, the verdict's and the parse's time included */
	struct timespec		 data_end;
	int			 inflight;	/* POSTs under way */
	/* sync: worst status class seen */
	int			 worst;
	int			 reply_code;	/* sync: the reply so far */
	char			 reply_enh[16];
	char			 reply_text[256];
	struct event		*timer;		/* next attempt */
	struct mime_doc		*doc;		/* parsed for this round */
	int			 parsing;	/* in the MIME thread */
	char			*fallback;	/* nrcpt, or NULL: who has it,
						   till it answers (FB_*) */
	char			*returning;	/* nrcpt, or NULL: returned
						   mail under way (RET_*) */
	int			 msgfd;		/* the file the verdict read,
						   kept for the first parse;
						   -1: none */
	int64_t			 data_size;	/* smtpd's count of the bytes */
	uint32_t		 data_crc;	/* and their CRC-32 (commit) */
	char			*msgbuf;	/* what it read, when whole
						   (malloc'd), or NULL */
	size_t			 msglen;
	char			*slot;		/* queue mode: nrcpt, or NULL:
						   each one's route slot */
	int			 unreadable;	/* INMSG_*: its envelope */
	int			 forced;	/* mhctl schedule: due now, and
						   one more POST past its
						   lifetime */
	int			 sched_pending;	/* mhctl schedule during a
						   round: the next one right
						   after it, no backoff */
	int			 never_read;	/* its envelope unreadable at
						   start: its recipients not
						   known (nrcpt 0) */
	int			 held;		/* mhctl hold: no round till
						   mhctl release (its
						   envelope's "held") */
	int			 reclassify;	/* relayd could not store an
						   unsubscribe: sent again
						   at the next round */
};
/* inmsg.unreadable: the envelope cannot be read back; given up on it */
#define INMSG_UNREADABLE	1
#define INMSG_GIVEN_UP		2
TAILQ_HEAD(inmsglist, inmsg);

/* spool.c: <root>/inbound/{incoming,queue} */
int	 spool_init(const char *root);
int	 spool_create(char msgid[MH_MSGID_LEN]);	/* fd for smtpd */
/* ok 0: not committed, errno tells why (ENOSPC: the disk is full) */
typedef void	(*spool_commit_fn)(int ok, void *arg);
void	 spool_commit(struct envelope *, int, int64_t, uint32_t,
	    spool_commit_fn, void *);
/* sync mode: no commit; fd or -1 */
int	 spool_transient(struct envelope *, int fd);
int	 spool_update(const struct envelope *);
int	 spool_update_group(const struct envelope *);
/* a committed message's envelope from queue/, malloc'd; NULL: unreadable */
struct envelope	*spool_load(const char *msgid);
/* that envelope's path, for a log line */
void	 spool_env_path(const char *msgid, char *, size_t);
/* the envelope of message id in a file (dead.c too); NULL: not that */
struct envelope	*spool_env_read(const char *path, const char *id);
/* its file as its envelope recorded; -1: not, the message removed */
int	 spool_data_verify(const struct envelope *, int held);
void	 spool_remove(const char *msgid);
/* the hold of one whose envelope cannot be read; -1: not on disk */
int	 spool_hold_mark(const char *msgid, int on);
/* that file gone once the envelope has the hold; counted: sp_holds has it */
int	 spool_hold_moved(const char *msgid, int counted);
int	 spool_held(const char *msgid);
/* never committed; -1: not an id */
int	 spool_discard(const char *msgid);
/* the same, off the loop */
void	 spool_discard_later(const char *msgid);
int	 spool_open_message(const char *msgid, int transient); /* read-only */
/* the committed ones; those whose envelope cannot be read: id, time, hold */
int	 spool_recover(void (*)(struct envelope *),
	    void (*)(const char *, time_t, int));
int	 spool_adopt(const struct envelope *, int src);	/* dead.c */

/* inaccept.c */
void	 inbound_commit(const struct spool_commit *, const char *, size_t);

/* errcb.c: a route's error callback, for one recipient */
struct http_response;
void	 errcb_send(const struct route *, const struct envelope *,
	    const char *to, long status, const char *resp, size_t rlen);
void	 error_callback(const struct route *, const struct envelope *,
	    const char *to, const struct http_response *);

/* inbound.c */
void	 inbound_init(void);
void	 inbound_configure(const struct config *);
void	 inbound_recovered(struct envelope *);
void	 inbound_recovered_bad(const char *id, time_t created, int held);
struct fallback_res;
void	 inbound_fallback_done(const struct fallback_res *, int smtp);
void	 inbound_pause(int);
int	 inbound_sync_waiting(void);
void	 inbound_unsubscribed(const char *msgid, const char *local,
	    int failed);
/* returned mail of m classified (not what is under way already) */
void	 inbound_classify(struct inmsg *);
/* returned mail: the events of recipient idx are durable (ok) or not */
void	 inbound_returned(const char *msgid, size_t idx, int ok);
json_t	*inbound_stats(void);
void	 inbound_metrics(json_t *);	/* queue size and oldest */
json_t	*inbound_queue(const char *id);	/* NULL: none */
/* mhctl schedule ID|all: 0, or -1: no such message */
int	 inbound_retry(const char *id);
/* mhctl hold (on 1) or release (0) ID|all: 0, or -1: no such message */
int	 inbound_hold(const char *id, int on);
/* mhctl remove ID: 0, -1: no such message, -2: *busy is under way */
int	 inbound_remove(const char *id, const char **busy);
/* show queue: what fits of the list; the number of the others */
json_t	*inbound_queue_list(size_t *unlisted);

/* each message queued, to add(): its history is kept (history.h) */
void	 inbound_live(void (*add)(const char *));

/* inhist.c: the records of history.h that are hookd's */
struct http_response;
struct ctl_cmd;
void	 ihist_post(const struct envelope *, size_t i, const char *url,
	    const struct http_response *, long ms, const char *result);
void	 ihist_expired(const struct envelope *, size_t i, const char *why);
void	 ihist_replayed(const char *id, const char *queued_as);
void	 ihist_fallback(const struct envelope *, size_t i, const char *how,
	    const char *where);
void	 ihist_event_post(const json_t *records, const char *url,
	    long status, long ms, const char *result, const char *error,
	    int attempt);
json_t	*ihist_show(const struct ctl_cmd *, const json_t *argv);

/* seen.c: unique_open of webd's opens and clicks, kept in the spool */
struct event_record;
int	 seen_init(const char *root);
int	 seen_first(const struct event_record *);
struct mproc;
int	 seen_shared(struct mproc *, struct event_record *);	/* 0: taken */
/* a delivery to a recipient; an open or click soon after it: machine */
void	 seen_delivered(const struct event_record *);
int	 seen_just_delivered(const struct event_record *);

/* facts.c: each outbound message's Message-ID, sender, tags, group,
 * transaction and subject, from its registration event, kept in the
 * spool for the events made later (opens, clicks, what comes back), and
 * a recipient's spelling where a return path gives it back otherwise */
#define FACTS_REC_MAX	2048		/* a record's bytes at most */
int	 facts_init(const char *root, unsigned max_records);	/* 0: default */
void	 facts_note(const struct event_record *);	/* registration */
/* 1: found, empty fields set; how: FACTS_EXACT, the recipient spelled as
 * its return path or token names it, FACTS_ANY as a report's text does */
int	 facts_fill(struct event_record *, int how);
#define FACTS_EXACT	0
#define FACTS_ANY	1
/* a record: its length into buf (FACTS_REC_MAX bytes at least), 0 if it
 * cannot be one; from buf: its length, 0 if not whole, -1 if invalid */
size_t	 facts_encode(const struct event_record *, void *, size_t);
int	 facts_decode(const void *, size_t, struct event_record *);

/* returned.c */
int	 bounce_received(struct envelope *, size_t);
int	 bounce_unsubscribed(struct envelope *, const char *local);

/* formdata.c: multipart/form-data body of the parts, signable */
struct http_part;
int	 formdata_build(const struct http_part *, size_t, const char *seed,
	    char **, size_t *, char *, size_t);

json_t	*inbound_routes(void);		/* show hooks: each route's URL */
/* show hooks: those whose envelope start could not read; NULL: none */
json_t	*inbound_unread(void);

/* hooks.c: show hooks, hooks retry|skip|replay, show dead, dead ... */
struct ctl_cmd;
json_t	*hooks_control(const struct ctl_cmd *, const json_t *argv);
time_t	 hooks_parse_time(const char *, time_t now);	/* -1: not one */

/* dead.c: the dead letters, <spool>/dead */
int	 dead_init(const char *root);
int	 dead_event(const char *key, const char *url, const json_t *record,
	    const char *reason);
int	 dead_event_undo(const char *key, const char *url,
	    const char *id);
int	 dead_inbound(const struct envelope *, size_t rcpt, const char *url,
	    const char *reason);
json_t	*dead_list(void);
/* an inbound dead letter: its record, its message (show message) */
json_t	*dead_inbound_find(const char *id);
int	 dead_inbound_open(const char *id);
size_t	 dead_count(time_t *oldest);	/* letters, the oldest's mtime */
json_t	*dead_act(int replay, const char *id);	/* replay or remove */

/* evlog.c: the event log, <spool>/evlog, and hooks replay */
int	 evlog_init(struct event_base *, const char *root);
void	 evlog_configure(time_t history);
int	 replay_start(const char *key, const char *url, time_t since,
	    char *err, size_t errlen);
int	 replay_stop(const char *key);
json_t	*replay_status(const char *key);

/* text.c */
char	*text_utf8_clean(const char *, size_t, size_t);

/* tlsrpt_post.c: relayd's TLS-RPT reports to https: rua addresses */
struct mh_imsg;
void	 tlsrpt_post(struct mproc *, struct mh_imsg *);
/* the reports kept to be sent again (RFC 8460 5.5), at start */
int	 tlsrpt_kept_init(const char *root);

extern struct config	*hookd_conf;

#endif /* MH_HOOKD_H */

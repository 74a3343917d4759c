/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relayd engine internals shared by its files (relay.c, scheduler.c,
 * queue.c, bounce.c, mta.c, suppress.c, outbox.c).  Not for use outside
 * relayd/.
 */
#ifndef MH_RELAYD_H
#define MH_RELAYD_H

#include <sys/queue.h>

#include "msghist.h"
#include "relay.h"

/* per recipient, in memory only */
#define RR_INFLIGHT	0x01	/* handed to a connection */
#define RR_RATE_SEEN	0x02	/* rate_limit event sent for this hold */
#define RR_SCHEDULED	0x04	/* mhctl schedule while in flight: due again
				   once that attempt ends, not after its
				   backoff */

struct rmsg {
	TAILQ_ENTRY(rmsg)	 entry;
	char			 id[MH_MSGID_LEN];
	struct envelope		 env;
	unsigned char		*rflags;	/* nrcpt */
	/* nrcpt: each recipient's destination, as dns_domain_ascii has it */
	char			**rdest;
	/* nrcpt: the last attempt's TLS */
	struct event_tls	*rtls;
	/* counted against sender allowance */
	int			 counted;
	/* refused it: when its sender domain's allowance comes back */
	time_t			 allow_until;
	/* the cluster's allowance, asked */
	int			 asking;
	/* remove once nothing is in flight */
	int			 removed;
	int			 inflight;	/* jobs out */
	/* all final, its events may not be durable: removed later */
	int			 settle_wait;
	/* its recipients' states not written: tried again */
	int			 update_wait;
	/* nrcpt or NULL: the reason to suppress it once its bounce
	 * events are durable */
	char			**supp_wait;
	time_t			 dkim_next;	/* held (unsigned, aside): next try */
	int			 dkim_busy;	/* a signature is being made */
	/* signed, its signed files not all in place: not sent (dkim.c) */
	int			 dkim_aside;
	/* a DSN owed (envelope_rcpt's dsn_owed): when it is tried again,
	 * after how many tries */
	time_t			 dsn_next;
	int			 dsn_tries;
	/* its commit's flush still to come: NULLed when m is freed */
	struct rmsg		**flushing;
};
TAILQ_HEAD(rmsglist, rmsg);

/* the result of one recipient in a job */
struct rres {
	int		 done;
	int		 untried;	/* not tried: due again at once */
	enum event_kind	 kind;
	int		 code;
	int		 remote;	/* code and desc: a server's reply */
	size_t		 reply_at;	/* where in desc its text starts */
	int		 server_fault;	/* the server's, not the address's
					   (a reply out of protocol, a
					   refused HELO): no suppression */
	char		 ext[16];
	char		 desc[512];
	char		 stage[16];
	struct event_tls tls;		/* how the attempt used TLS */
};

/* one message's recipients for one domain, handed to a connection */
struct rjob {
	struct rmsg	*msg;
	char		 domain[256];
	size_t		 n;
	size_t		*idx;		/* recipient indices */
	struct rres	*res;
	struct event_tls tls;		/* the connection's (mta_tls.c) */
	char		 relay[320];	/* host[ip]:port, or "none" */
	int		 site_failed;	/* 1: no address took a session,
					   -1: no connection tried */
	TAILQ_ENTRY(rjob) entry;	/* waiting for a new connection */
};
struct mconn;				/* mta.h */

/* globals (relay.c) */
extern struct event_base	*relay_base;
extern const struct config	*relay_conf;
extern int			 relay_port;
extern int			 relay_connect_timeout;
extern int			 relay_command_timeout;
extern int			 relay_dot_timeout;

/* queue.c */
int	 queue_init(const char *root);
void	 queue_shutdown(void);
int	 queue_load(struct rmsglist *);
int	 queue_open_incoming(char msgid[MH_MSGID_LEN]);
int	 queue_open_incoming_as(const char *msgid);
int	 queue_dirfd(void);
int	 queue_commit(const char *msgid, struct envelope *);
/* ok 0: not committed, errno tells why (ENOSPC: the disk is full) */
typedef void	(*queue_commit_fn)(int ok, struct envelope *, void *);
void	 queue_commit_group(const char *msgid, struct envelope *,
	    queue_commit_fn, void *);
int	 queue_abort(const char *msgid, size_t ncopies);	/* -1: not a message id */
int	 queue_update(const struct envelope *);
/* before a queued message's data changes: its data on disk, then its
 * envelope without the data's check (which would no longer match) */
int	 queue_drop_check(struct envelope *);
void	 queue_delete_group(const char *msgid, size_t ncopies, int asides);
int	 queue_open_msg(const char *msgid);
/* copy -1: the message; >= 0: recipient copy's copy (tracked mail) */
int	 queue_open_incoming_ro(const char *msgid, int copy);
/* an incoming file's signed version written beside it, then all put in
 * place (install) or dropped; ncopies -1: the message only (queue.c) */
int	 queue_prepend(const char *msgid, int copy, const char *, size_t);
int	 queue_prepend_end(const char *msgid, int ncopies, int install);
/* a queued message's signed file written beside it, then put in place
 * (install) or dropped; ncopies -1: the message only (queue.c) */
int	 queue_prepend_aside(const char *msgid, int copy, const char *,
	    size_t);
int	 queue_aside_sync(void);
int	 queue_aside_end(const char *msgid, int ncopies, int install);
/* the copies of tracked mail (track.h), before signing; -1 on error */
int	 queue_track(const char *msgid, struct envelope *);
int	 queue_open_copy(const char *msgid, size_t i);
/* what recipient i gets: its own copy if the message is tracked */
int	 queue_open_body(const struct envelope *, size_t i);
int	 queue_suppress_write(const char *text, size_t len);
/* relayd's state files beside the queue (outbound/NAME), fsync'd */
int	 queue_state_write(const char *name, const char *, size_t);
int	 queue_state_open(const char *name);
char	*queue_state_read(const char *name, size_t max, size_t *lenp);
void	 queue_state_each(const char *prefix, void (*)(const char *name));
/* the suppression list's file: NULL and errno (ENOENT: none) if unread */
#define SUPPRESS_FILE_MAX	(1024 * 1024 * 1024)
char	*queue_suppress_read(size_t *);
/* its log of changes since (suppress.c): append, read, empty */
#define SUPPRESS_LOG		"suppress.log"
int	 queue_suppress_append(const char *, size_t);
char	*queue_suppress_log_read(size_t *);
int	 queue_suppress_log_reset(void);

/* relay.c */
void	 relay_emit(const struct event_record *);

/* msghist.c: a recipient's outcome in the message's history */
void	 rhist_outcome(const struct rmsg *, size_t i, const char *status,
	    const char *relay, const struct event_tls *, int code,
	    const char *ext, const char *desc);

/* bounce.c: what a DSN reports of its recipients (RFC 3464 2.3.3) */
enum dsn_action {
	DSN_FAILED,		/* failed for good */
	DSN_RELAYED		/* delivered to a server not told of DSN */
};
/* relay: the job's "host[ip]:port" (Remote-MTA), NULL or "none" if none */
void	 bounce_send(struct rmsg *, enum dsn_action, const size_t *rcpts,
	    const struct rres *, size_t n, const char *relay);
/* the DSNs m owes queued again; 1 if any is still owed */
int	 bounce_retry(struct rmsg *);
/* the DSNs m owes given up (too late): an error event and a log line */
void	 bounce_give_up(struct rmsg *);
/* 1 if recipient i's refusal, its DSN owed, suppresses it: why */
int	 bounce_owed_suppress(const struct rmsg *, size_t, char *, size_t);
int	 bounce_queue(const struct envelope *, enum dsn_action,
	    const size_t *rcpts, size_t n, const struct rres *res,
	    const char *relay, struct envelope *out);

/* scheduler.c */
int	 sched_init(struct event_base *);
void	 sched_shutdown(void);
struct rmsglist *sched_queue(void);
void	 sched_settle(struct rmsg *);
/* m owes a DSN: tried again later, with backoff */
void	 sched_dsn_later(struct rmsg *);
void	 sched_pause(int);
int	 sched_paused(void);
unsigned long long sched_committed(void);
size_t	 sched_destinations(void);
void	 sched_kick(void);
void	 sched_schedule(struct rmsg *);
void	 sched_allow_handover(void (*)(const char *domain, int per,
	    const int *ages, int n));
void	 sched_allow_granted(const char *domain, int per);
void	 sched_allow_grants(void (*)(const char *domain, int per,
	    const int *ages, int n));
void	 sched_result(struct rjob *, size_t i, enum event_kind, int code,
	    const char *ext, const char *desc, const char *stage);
void	 sched_reply(struct rjob *, size_t i, enum event_kind, int code,
	    const char *ext, const char *text, const char *stage);
void	 sched_reply_at(struct rjob *, size_t i, enum event_kind, int code,
	    const char *ext, const char *desc, size_t at, const char *stage);
void	 sched_job_done(struct rjob *);
struct rjob *sched_job_split(struct rjob *);
struct rjob *sched_next_job(const char *domain);
void	 sched_conn_closed(const char *domain);
void	 sched_restart(struct rjob *);
void	 sched_untried(struct rjob *, size_t i);
void	 sched_add_message(struct rmsg *, int announce);
void	 sched_emit(struct rmsg *, size_t i, enum event_kind, int code,
	    const char *ext, const char *desc, const char *stage);
void	 sched_emit_tls(struct rmsg *, size_t i, enum event_kind, int code,
	    const char *ext, const char *desc, const char *stage,
	    const struct event_tls *);
void	 sched_emit_again(struct rmsg *, size_t i, enum event_kind,
	    const char *ext, const char *desc, const char *stage);
const char *rcpt_domain(const char *);
void	 sched_log(const struct rmsg *, size_t i, const char *status,
	    const char *relay, const struct event_tls *, int code,
	    const char *ext, const char *desc);

/*
 * dkim.c: 1 signed or nothing to sign, 0 held (env->dkim_pending), -1
 * refused (why: the reason, for a 550 5.6.0), -2 refused for now (the
 * signed files could not all be put in place; errno tells why, for a
 * 4xx): nothing is to be committed
 */
typedef void	(*dkim_step_fn)(int ok, const char *why, void *arg);
void	 dkim_sign_incoming(const char *msgid, struct envelope *,
	    dkim_step_fn, void *);
void	 dkim_sign_held(struct rmsg *);
void	 dkim_aside_wait(struct rmsg *, const char *why);
void	 dkim_aside_retry(struct rmsg *);
void	 dkim_held_events(struct rmsg *, const char *why);
int	 dkim_from_domain(const char *, size_t, char *, size_t);
int	 dkim_sig_lines_ok(const char *, size_t);

/* dane.c */
struct tls;
struct dns_tlsalist;
int	 dane_check(struct tls *, const struct dns_tlsalist *, const char *host,
	    char *spki, size_t spkilen);
void	 dane_pkix_reset(void);	/* a new config: the CA bundle again */
const char *dane_pkix_check(struct tls *, const char *host);

/* mtasts.c: MTA-STS (RFC 8461) */
#define STS_MAX_MX	64	/* more are ignored, and logged */
enum sts_mode {
	STS_NONE,
	STS_TESTING,
	STS_ENFORCE
};
struct sts_policy {
	int		 mode;			/* enum sts_mode */
	long		 max_age;		/* seconds */
	size_t		 nmx;
	size_t		 nmx_dropped;		/* past STS_MAX_MX */
	/* "mx.example.net", "*.example.net" */
	char		 mx[STS_MAX_MX][256];
};
/* the policy of a domain, NULL if it has none (or none usable) */
typedef void	(*mtasts_cb)(const struct sts_policy *, void *);
void	 mtasts_init(void);	/* the policies cached in the spool */
int	 mtasts_lookup(const char *domain, mtasts_cb, void *);
void	 mtasts_cancel(void *);
int	 mtasts_mx_match(const struct sts_policy *, const char *host);
int	 mtasts_parse(const char *text, size_t len, struct sts_policy *);

/* tlsrpt.c: TLS-RPT (RFC 8460); pol NULL: DANE, with mx's TLSA records */
void	 tlsrpt_init(struct event_base *, int period);
void	 tlsrpt_session(const char *domain, const struct sts_policy *pol,
	    const struct dns_tlsalist *tlsa, const char *mx,
	    const char *failtype);
#define TLSRPT_RUA_MAX	512
int	 tlsrpt_record(const char *rec, char (*rua)[TLSRPT_RUA_MAX],
	    size_t max);
/* tlsrpt_mail.c: the address of a mailto: rua (after "mailto:"), -1 none */
int	 tlsrpt_mailto(const char *rua, char *addr, size_t len);
/* a report to a mailto: rua, queued; -1 not queued */
int	 tlsrpt_mail(const char *rua, const char *domain, const char *id,
	    time_t start, time_t end, const u_char *gz, size_t zlen);

/* mta.c */
int	 mta_init(void);
void	 mta_shutdown(void);
int	 mta_start(struct rjob *);
int	 mta_active(void);
int	 mta_smarthost(void);		/* relay via a smart host */
int	 mta_stop(void);		/* replies to final dots awaited */
int	 mta_in_dot(void);
struct mconn *mta_idle(const char *domain);
void	 mta_reuse(struct mconn *, struct rjob *);
int	 mta_idle_quit(void);

/* suppress.c */
int	 suppress_load(void);
void	 suppress_free(void);
int	 suppress_has(const char *addr, const char *sender_domain);
int	 suppress_add(const char *addr, const char *sender_domain,
	    const char *reason);
int	 suppress_del(const char *addr, const char *sender_domain,
	    void (*)(const char *addr, const char *sender_domain));
json_t	*suppress_list(size_t *);
int	 suppress_apply(const char *addr, const char *sender_domain,
	    const char *reason, long long ms, int save);
int	 suppress_save(void);
int	 suppress_keyname(char *, size_t, const char *addr,
	    const char *sender_domain);
const char *suppress_made(const char *addr, const char *sender_domain,
	    long long ms);
long long suppress_ms(const char *addr, const char *sender_domain);
void	 suppress_foreach(void (*)(const char *addr, const char *domain,
	    const char *reason, long long ms));

/* cluster.c: the state shared with the other nodes (redis_link.h) */
enum allowance { ALLOW_GRANTED, ALLOW_SPENT, ALLOW_ASKING, ALLOW_LOCAL };
void	 cluster_configure(struct event_base *, const struct config *);
void	 cluster_suppress_changed(const char *addr, const char *domain,
	    const char *reason, long long ms);
long long cluster_now_ms(void);
enum allowance cluster_allowance(struct rmsg *, const char *domain,
	    int rate, int per, int *share);
time_t	 cluster_spent_until(const char *domain);
json_t	*cluster_show(void);

#endif /* MH_RELAYD_H */

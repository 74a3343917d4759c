/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP client's connection, shared by mta.c (the SMTP dialogue),
 * mta_mx.c (the MX hosts, their addresses, the connect), mta_reply.c (the
 * server's reply lines), mta_tx.c (the mail transaction and its body) and
 * mta_tls.c (which TLS an attempt needs, and its verdict on the peer).
 * Not for use outside relayd/.
 */
#ifndef MH_MTA_H
#define MH_MTA_H

#include <sys/types.h>
#include <sys/socket.h>

#include "dns.h"
#include "relayd.h"

#define MAX_ADDRS	16
#define BODY_LINE	4096
#define REPLY_LINE_MAX	1024
/* a whole reply, its line ends counted: 64 lines of the longest kind */
#define REPLY_BYTES_MAX	(64 * (REPLY_LINE_MAX + 2))
#define OUT_LOW		(64 * 1024)

enum mstate {
	M_DNS, M_CONNECT, M_GREETING, M_REFUSED, M_EHLO, M_HELO, M_STARTTLS,
	M_HANDSHAKE, M_AUTH, M_TX, M_BODY, M_DOT, M_RSET, M_IDLE, M_QUIT,
	M_DONE
};

struct mconn {
	TAILQ_ENTRY(mconn)	 entry;
	char			 domain[256];
	struct rjob		*job;
	enum mstate		 state;
	int			 fd;
	struct tls		*tls;
	struct event		*evr, *evw, *evt;
	int			 dirty;		/* output to flush this pass */
	TAILQ_ENTRY(mconn)	 dirty_entry;
	TAILQ_ENTRY(mconn)	 idle_entry;	/* M_IDLE: in idleconns */
	/* the job came to an open one */
	int			 reused;
	/* for a TLS-RPT report: no TLS policy, no other message */
	int			 tlsrpt;
	struct evbuffer		*in, *out;
	int			 dns_pending;
	/* hosts and addresses */
	char			 hosts[DNS_MAX_MX][256];
	int			 hpref[DNS_MAX_MX];	/* MX preference */
	size_t			 nhosts, hcur;
	struct sockaddr_storage	 addrs[MAX_ADDRS];
	size_t			 addr_host[MAX_ADDRS];
	size_t			 naddrs, acur;
	int			 addr_soft;	/* a lookup failed for now */
	/* an MX host is this host: 2 a most preferred one, 1 one less
	 * preferred than others */
	int			 self_mx;
	/* extensions */
	int			 ext_pipelining, ext_size, ext_8bit;
	int			 ext_smtputf8;
	int			 ext_starttls, ext_auth_plain, ext_auth_login;
	size_t			 size_max;	/* EHLO SIZE N; 0: none */
	/* AUTH LOGIN: 1 user, 2 password */
	int			 auth_step;
	int			 tls_done, tls_require, tls_verify, authed;
	/* this address again in plain text: its TLS handshake failed */
	int			 tls_plain;
	/* TLS policy (tls policy, DANE) */
	/* enum tls_policy of the domain */
	int			 policy;
	/* MX RRset validated (DNSSEC) */
	int			 mx_secure;
	/* per host, NULL none */
	struct dns_tlsalist	*tlsa[DNS_MAX_MX];
	int			 tlsa_fail[DNS_MAX_MX];	/* lookup failed */
	/* a host's secure CNAME-expanded name ("" none), and tlsa[] from
	   there (RFC 7672 2.2.3) */
	char			 canon[DNS_MAX_MX][256];
	int			 tlsa_canon[DNS_MAX_MX];
	int			 dane;		/* this attempt: DANE applies */
	/* sts is the domain's MTA-STS policy */
	int			 has_sts;
	struct sts_policy	 sts;
	/* this attempt: MTA-STS applies */
	int			 sts_on;
	const char		*sts_fail;	/* testing: MX matches no mx */
	int			 smarthost;	/* relay via: hosts[0] is it */
	const struct relay_via	*via;		/* the smart host (host "": MX),
						   the global one or fvia */
	struct relay_via	 fvia;		/* a fallback smtp's host */
	/* for the events of this attempt */
	struct event_tls	 evtls;
	/* 220 seen (smtps: after TLS) */
	int			 greeted;
	int			 nmsgs;		/* on this socket */
	/* reply accumulation */
	int			 rcode;
	size_t			 rlines, rbytes;
	char			 rtext[512];
	/* transaction */
	/* 0 MAIL, 1..n RCPT, n+1 DATA */
	size_t			 tx_sent, tx_acked;
	/* bytes written on the socket; where each command sent ends in
	 * them (tx_end[k]: written whole once out_written reaches it) */
	uint64_t		 out_written;
	uint64_t		*tx_end;
	int			 mail_failed;
	/* recipients a server not the last one deferred: the next
	 * address takes them in this attempt (tx_move_on) */
	size_t			 nkept;
	/* the job went on from an address that took a session */
	int			 moved_on;
	int			*accepted;
	size_t			 naccepted;
	/* body */
	int			 bodyfd;
	char			 lb[BODY_LINE];
	size_t			 lblen;
	int			 lb_cont, in_hdr, skip_hdr, drop_line, body_eof;
	/* why the last address was left: relayd's own reason, or a
	 * server's reply (lastremote), its text from lasterr + lastat */
	char			 lasterr[512];
	int			 lastcode;
	int			 lastremote;
	size_t			 lastat;
	char			 peer[320];	/* host[ip]:port, for the log */
	char			 lastext[16];	/* "": 4.4.1 */
};
TAILQ_HEAD(mconnlist, mconn);

/* mta.c */
int	 mta_stopping(void);
void	 set_timeout(struct mconn *, int);
void	 want_write(struct mconn *);
void	 send_line(struct mconn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 conn_io(int, short, void *);
void	 mconn_free(struct mconn *);
void	 job_fail_all(struct mconn *, enum event_kind, int, const char *,
	    const char *, const char *);
void	 job_finish(struct mconn *);
void	 conn_fail_desc(struct mconn *, int, const char *, const char *,
	    ssize_t);
void	 conn_fail(struct mconn *, int code, const char *ext,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 reply_desc(char *, size_t, const char *, int, const char *,
	    size_t *);
void	 conn_last_own(struct mconn *, const char *);
void	 conn_last_reply(struct mconn *, int, const char *, const char *,
	    const char *);
/* before a transaction: try the next address, or give up */
void	 conn_retry_next(struct mconn *, const char *ext, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 conn_leave_addr(struct mconn *);
void	 conn_reply(struct mconn *, int, const char *);

/* mta_mx.c */
void	 start_mx(struct mconn *);
void	 sts_cb(const struct sts_policy *, void *);
void	 start_literal(struct mconn *);
void	 resolve_hosts(struct mconn *);
int	 greeting_self(struct mconn *, const char *);
int	 conn_final(const struct mconn *);
void	 conn_next_addr(struct mconn *);
void	 conn_peer(struct mconn *);

/* mta_reply.c */
void	 parse_ext(const char *, char *, size_t);
int	 reply_line(struct mconn *, const char *, size_t, const char **);

/* mta_tx.c */
int	 body_fill(struct mconn *);
void	 tx_start(struct mconn *);
void	 tx_reply(struct mconn *, int, const char *, const char *);
size_t	 tx_undone(const struct mconn *);
void	 tx_keep_log(struct mconn *, int, const char *, const char *,
	    const char *, size_t);
void	 tx_accepted_reply(struct mconn *, int, const char *, const char *,
	    const char *);

/* mta_tls.c */
int	 mtls_init(void);
void	 mtls_report(const struct mconn *, const char *failtype);
const char *mtls_handshake_failtype(const char *tlserr);
int	 mtls_mandatory(const struct mconn *);
int	 mtls_pkix(const struct mconn *);
void	 mtls_sync(struct mconn *);
void	 mtls_attempt(struct mconn *, const char *host);
int	 mtls_check_peer(struct mconn *);
int	 mtls_no_starttls(struct mconn *);
void	 mtls_start(struct mconn *);

#endif /* MH_MTA_H */

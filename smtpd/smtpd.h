/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Internals of the SMTP engine, shared by smtp.c (listeners, config,
 * dispatch of backend answers), smtp_session.c (I/O), smtp_cmd.c
 * (commands) and smtp_tx.c (transactions, spooling, DATA/BDAT).
 */
#ifndef MH_SMTPD_H
#define MH_SMTPD_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <stdint.h>
#include <time.h>
#include <tls.h>

#include "mailhook.h"
#include "smtp_parse.h"

#define SMTP_IBUF_SIZE		16384
#define SMTP_SPOOL_BUF		16384
#define SMTP_OUT_MAX		65536	/* stop reading while more is queued */

/* a listener as seen by one config snapshot */
struct smtp_lconf {
	uint32_t		 id;
	int			 flags;		/* LF_* of config.h */
	char			 hostname[MH_NAME_MAX];
	/* metrics: addr:port */
	char			 label[MH_NAME_MAX + 8];
	struct tls		*tls;		/* server context or NULL */
};

/* what sessions need of a config; refcounted, survives reloads */
struct smtp_conf {
	int			 refcnt;
	char			 hostname[MH_NAME_MAX];
	size_t			 max_size;
	int			 max_rcpt;
	int			 max_sessions;
	int			 max_per_ip;
	int			 max_per_net;	/* per /24 or /64 */
	int			 timeout;	/* idle, seconds */
	int			 hs_timeout;	/* TLS handshake, seconds */
	int			 min_data_rate;	/* bytes/s, 0: none */
	/* NOOP RSET HELP VRFY per transaction */
	int			 max_junk;
	size_t			 nlisteners;
	struct smtp_lconf	*listeners;
};

struct smtp_rcpt {
	char			 addr[MH_ADDR_MAX];
	char			 orcpt[MH_ADDR_MAX];
	int			 notify;
	int			 dest;
	uint32_t		 route;
	/* authd's, for the owner */
	char			 seal[MH_SEAL_MAX];
};

enum spool_state {
	SO_NONE,
	SO_OPENING,
	SO_OPEN,
	SO_FAILED,
	SO_COMMITTING,
	SO_DONE
};

/* one spool owner of a transaction */
struct spool_out {
	int			 owner;		/* PROC_HOOKD or PROC_RELAYD */
	enum spool_state	 state;
	uint64_t		 reqid;
	int			 fd;
	char			 msgid[MH_MSGID_LEN];
	char			*buf;
	size_t			 len;
	int			 werr;
	int64_t			 written;	/* bytes in the file */
	uint32_t		 crc;		/* hookd's: their CRC-32 */
	struct spool_result	 res;
};

#define TX_OWNERS		2	/* 0: hookd, 1: relayd */
_Static_assert(TX_OWNERS <= MH_FDS_PER_TX,
    "a transaction's descriptors: a file per owner");

enum data_mode {
	DM_NONE,
	DM_DATA,
	DM_BDAT
};

/* a transaction's recipients by mailbox (smtp_rcptset.c) */
enum rcpt_set_kind {
	RS_SAME,		/* addr_same()'s mailbox */
	RS_ROUTED,		/* one route's, in any case */
	RS_KINDS
};

struct rcpt_set {
	struct {
		uint32_t	 hash;
		uint32_t	 idx;		/* in rcpts, + 1; 0: free */
	}			*slot;
	size_t			 size;		/* a power of two, or 0 */
	size_t			 n;
};

struct smtp_tx {
	char			 sender[MH_ADDR_MAX];
	struct mail_params	 mp;
	struct smtp_rcpt	*rcpts;
	size_t			 nrcpt;
	struct smtp_rcpt	 pending;	/* waiting for authd */
	struct rcpt_set		 rset[RS_KINDS];	/* rcpts by mailbox */
	char			 spf_result[16];
	char			 spf_domain[256];
	char			 spf_seal[MH_SEAL_MAX];
	struct spool_out	 so[TX_OWNERS];
	enum data_mode		 mode;
	struct data_parser	 dp;
	struct bdat_checker	 bc;
	struct hop_counter	 hops;		/* DATA's or BDAT's */
	size_t			 bdat_size;
	size_t			 hdrlen;	/* Received: */
	char			 msgid[MH_MSGID_LEN];
	int			 has_files;	/* counted in tx_files */
};

enum smtp_state {
	S_GREETING,		/* waiting to send the banner */
	S_TLS_HS,		/* TLS handshake running */
	S_CMD,
	S_AUTH_PLAIN,		/* waiting for the PLAIN response */
	S_AUTH_USER,		/* LOGIN: user name */
	S_AUTH_PASS,		/* LOGIN: password */
	S_STARTTLS,		/* 220 queued, handshake after the flush */
	S_DATA,
	S_BDAT,
	S_CLOSING
};

enum smtp_wait {
	W_NONE,
	W_RCPT,
	W_AUTH,
	W_SPOOL_OPEN,
	W_COMMIT
};

struct session {
	RB_ENTRY(session)	 entry;
	uint64_t		 id;
	uint16_t		 seq;
	int			 fd;
	struct smtp_conf	*conf;
	const struct smtp_lconf	*lc;
	char			 ip[64];
	in_port_t		 port;
	time_t			 started;

	struct event		 ev;		/* socket */
	struct event		 tmo;		/* greeting delay, timeouts */
	int64_t			 deadline;	/* ms, monotonic: of tmo */
	int			 evflags;
	/*
	 * A plaintext read came up short: the socket is empty until the
	 * (level-triggered) event loop reports it readable again, so no
	 * read that could only answer EAGAIN is made meanwhile.
	 */
	int			 rdrained;
	int			 peer_eof;	/* the client half-closed:
						   answer what came, then end */
	struct tls		*tls;
	int			 tls_on;
	/* TLS_WANT_* of the last call */
	int			 tls_want;
	int			 rd_want;	/* what tls_read wants */
	int			 wr_want;	/* what tls_write wants */
	char			 tls_version[32];
	char			 tls_cipher[64];

	char			*ibuf;
	size_t			 ilen, ioff;
	struct evbuffer		*out;

	enum smtp_state		 state;
	enum smtp_wait		 wait;
	uint64_t		 reqid;
	int			 skipping;	/* overlong command line */
	int			 greeted;
	int			 ehlo;		/* 0 none, 1 HELO, 2 EHLO */
	char			 helo[256];
	int			 authenticated;
	char			 auth_user[256];
	char			 login_user[256];
	int			 errors;
	/* commands since the last message */
	int			 junk;
	size_t			 bdat_left;
	int			 bdat_last;
	/* reply after a discarded chunk */
	const char		*bdat_discard;
	struct smtp_tx		*tx;
	int			 destroyed;
	char			 reason[64];
};

RB_HEAD(session_tree, session);
RB_PROTOTYPE(session_tree, session, entry, session_cmp)

struct smtp_global {
	struct event_base	*base;
	struct smtp_conf	*conf;
	struct session_tree	 sessions;
	uint64_t		 next_id;
	int			 paused;
	int			 stopping;	/* smtp_stop() */
	int			 nsessions;
	/* the descriptor limit's share */
	int			 fd_sessions;
	/* transactions with files, at most */
	int			 fd_tx;
	/* transactions holding files now */
	int			 tx_files;
	int			 fd_full;	/* said so in the log */
	int			 greet_delay_ms;
	int			 session_timeout;
	int			 max_errors;
	/* totals */
	uint64_t		 t_sessions, t_refused, t_messages, t_rejected;
	uint64_t		 t_rcpt_ok, t_rcpt_rej, t_tls, t_auth_ok,
				    t_auth_fail;
	uint64_t		 t_timeouts, t_bytes;
};
extern struct smtp_global smtp_g;

/* smtp.c */
int		 session_cmp(struct session *, struct session *);
struct session	*smtp_session_find(uint64_t reqid);
uint64_t	 smtp_reqid(struct session *);
void		 smtp_ip_release(const char *);
void		 smtp_conf_unref(struct smtp_conf *);
void		 smtp_session_insert(struct session *);
void		 smtp_session_remove(struct session *);

/* smtp_session.c */
int	 session_new(int fd, const char *, struct sockaddr_storage *,
	    struct smtp_conf *, const struct smtp_lconf *);
void	 session_reply(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 session_error(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 session_close(struct session *, const char *reason);
void	 session_data_refused(struct session *);
void	 session_resume(struct session *);
void	 session_shutdown(struct session *);
const char *session_state_name(int);
/* what the session offers in EHLO (and accepts) */
int	 offers_starttls(struct session *);
int	 offers_auth(struct session *);

/* smtp_cmd.c */
void	 session_command(struct session *, char *);
void	 auth_continue(struct session *, char *);	/* an AUTH exchange's line */
void	 session_rcpt_verdict(struct session *, const struct authd_rcpt_res *);
void	 session_auth_verdict(struct session *, const struct authd_auth_res *);

/* smtp_rcptset.c */
int		 rcpt_set_has(const struct smtp_tx *, int, const char *,
		    uint32_t);
int		 rcpt_set_add(struct smtp_tx *, size_t);
void		 rcpt_set_free(struct smtp_tx *);

/* smtp_tx.c */
int	 tx_new(struct session *);
void	 tx_abort(struct session *);
void	 tx_free(struct session *);
void	 tx_data_start(struct session *);
void	 tx_bdat_start(struct session *);
void	 tx_data_input(struct session *);
void	 tx_bdat_input(struct session *);
void	 tx_spool_giveback(int owner, const struct spool_fd *, int fd);
void	 tx_spool_fd(struct session *, int owner, const struct spool_fd *,
	    int fd);
void	 tx_spool_result(struct session *, int owner,
	    const struct spool_result *);
int	 tx_owner_index(int owner);
int	 tx_spare_reqid(uint64_t reqid);
json_t	*tx_spares_json(void);
void	 tx_spare_fd(int owner, const struct spool_fd *, int fd);

#define SLOG(s, fmt, ...) \
	log_info("session=%012llx " fmt, (unsigned long long)(s)->id, \
	    ##__VA_ARGS__)

#endif /* MH_SMTPD_H */

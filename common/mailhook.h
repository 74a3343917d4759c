/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhook: the processes, the imsg types between them and their payloads.
 *
 * Every payload below is a fixed-size struct, checked for exact size by the
 * receiver (msg_get); every char array must be NUL terminated within its
 * size (msg_str_ok).  Variable data (config, envelopes, events, control)
 * travels as text after the struct, validated by its own decoder.
 */
#ifndef MH_MAILHOOK_H
#define MH_MAILHOOK_H

#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "mh_event.h"

#define MH_VERSION	"0.1.0"

enum mh_proc {
	PROC_PARENT,
	PROC_SMTPD,
	PROC_AUTHD,
	PROC_RELAYD,
	PROC_HOOKD,
	PROC_SIGNER,		/* holds the DKIM private keys, nothing else */
	PROC_WEBD,
	PROC_CONTROL,		/* a control client, parent side only */
	PROC_MAX
};

enum imsg_type {
	IMSG_NONE,

	/* parent <-> child: setup (config, channels, listeners, start) */
	IMSG_SETUP_CONF_START,	/* -> child: a new config follows */
	IMSG_SETUP_CONF_DATA,	/* -> child: a chunk of config JSON */
	IMSG_SETUP_CONF_END,	/* -> child: apply it (peerid: its number) */
	/* -> child: fd is a socket to peer (enum mh_proc) */
	IMSG_SETUP_PEER,
	/* -> smtpd: fd is a bound listener (uint32_t id) */
	IMSG_SETUP_LISTENER,
	/* <- child: confined and configured (text: confinement) */
	IMSG_SETUP_READY,
	IMSG_SETUP_START,	/* -> child: every peer is there, start */

	/* parent <-> child: control (mhctl, -v, -X) */
	IMSG_CTL_VERBOSE,	/* -> child: int verbosity */
	/* -> child: test trigger, make a forbidden syscall */
	IMSG_CTL_FORBIDDEN,
	/* -> child: control request (JSON), peerid = client */
	IMSG_CTL_REQUEST,
	/* <- child: control reply (JSON), peerid = client */
	IMSG_CTL_REPLY,
	/* <- child: an event for "mhctl monitor" (JSON) */
	IMSG_CTL_LOG_EVENT,
	IMSG_CTL_MONITOR,	/* -> child: int, 1 while a monitor listens */
	/* <- relayd: struct cluster_link, on a change */
	IMSG_CTL_CLUSTER,
	/* <- webd: a scrape, peerid = its id, no payload */
	IMSG_METRICS_REQ,
	IMSG_METRICS_RES,	/* -> webd: {"metrics": {process: samples}} */

	/* smtpd <-> authd */
	IMSG_AUTHD_RCPT_REQ,	/* struct authd_rcpt_req */
	IMSG_AUTHD_RCPT_RES,	/* struct authd_rcpt_res */
	IMSG_AUTHD_AUTH_REQ,	/* struct authd_auth_req */
	IMSG_AUTHD_AUTH_RES,	/* struct authd_auth_res */
	/* smtpd -> authd: the session of a RCPT_REQ is gone, no answer */
	IMSG_AUTHD_RCPT_CANCEL,	/* struct authd_rcpt_cancel */

	/* smtpd <-> spool owners (hookd for inbound, relayd for outbound) */
	IMSG_SPOOL_OPEN,	/* struct spool_open */
	IMSG_SPOOL_FD,		/* struct spool_fd, fd attached when ok */
	IMSG_SPOOL_COMMIT,	/* struct spool_commit + envelope text */
	IMSG_SPOOL_RESULT,	/* struct spool_result */
	IMSG_SPOOL_ABORT,	/* struct spool_abort */

	/* relayd -> hookd */
	IMSG_EVENT,		/* struct event_wire + strings (mh_event.h) */
	/* hookd -> relayd */
	IMSG_SUPPRESS,		/* struct suppress_req: hard bounce came back */

	/* hookd -> relayd: the IMSG_EVENT with this id is durable */
	IMSG_EVENT_ACK,		/* struct event_ack */
	/* webd -> hookd: an open, read or click (acknowledged by
	 * IMSG_EVENT_ACK once written) */
	IMSG_TRACK_EVENT,	/* struct track_event + link (mh_event.h) */
	/* hookd -> relayd: mail to the mailto List-Unsubscribe address */
	IMSG_UNSUBSCRIBE_MAILTO,	/* struct unsubscribe_mailto */
	/* relayd -> hookd: handled (suppression and event durable) */
	IMSG_UNSUBSCRIBE_MAILTO_ACK,	/* struct unsubscribe_mailto */

	/* parent -> signer: the DKIM keys, replaced as a whole */
	IMSG_SIGNER_RESET,	/* no payload: forget every key */
	IMSG_SIGNER_KEY,	/* struct signer_key + the key's PEM */
	/* relayd <-> signer */
	/* struct sign_req, the message fd (read-only) */
	IMSG_SIGN_REQ,
	/* struct sign_res + "DKIM-Signature: ..." lines */
	IMSG_SIGN_RES,

	/* webd <-> relayd: a recipient unsubscribes or resubscribes */
	IMSG_UNSUBSCRIBE,	/* struct unsub_req */
	IMSG_UNSUBSCRIBE_RES,	/* struct unsub_res: stored, event durable */

	/* webd <-> relayd: GET /messages/ID of the API */
	IMSG_API_STATUS,	/* struct api_status_req */
	IMSG_API_STATUS_RES,	/* struct api_status_res + JSON when found */
	IMSG_API_IDEM,		/* struct api_idem: an Idempotency-Key seen? */
	/* struct api_idem, found and its first answer */
	IMSG_API_IDEM_RES,

	/* hookd <-> parent: an expired inbound message to a route's
	 * fallback maildir (the parent writes it: hookd is chrooted) */
	IMSG_FALLBACK_MAILDIR,	/* struct fallback_req, the message fd */
	IMSG_FALLBACK_RES,	/* struct fallback_res */

	/* relayd -> hookd: a TLS-RPT report for an https: rua */
	IMSG_TLSRPT_POST,	/* struct tlsrpt_post + the gzip'd report */

	/* hookd <-> relayd: an expired inbound message to a route's
	 * fallback smtp (relayd queues it for that host); the answer is
	 * IMSG_FALLBACK_RES, its name the outbound queue id */
	IMSG_FALLBACK_SMTP,	/* struct fallback_req, the message fd */

	/*
	 * child -> parent: the config of IMSG_SETUP_CONF_END is applied
	 * (peerid: its number), no data.  New types go here, at the end:
	 * the control socket's numbers (IMSG_CTL_*) stay those an mhctl of
	 * an earlier version sends.
	 */
	IMSG_SETUP_CONF_DONE,
	/*
	 * child -> parent: int, the peer (enum mh_proc) whose channel this
	 * child lost, before it ends for that: who followed whom
	 */
	IMSG_SETUP_PEER_LOST,

	IMSG_TYPE_MAX
};

/*
 * Descriptors: an SMTP session holds its socket, and during DATA/BDAT a
 * message file per spool owner (MH_FDS_PER_TX); MH_FD_RESERVE more stay
 * for everything else.  Up to MH_TX_FILES_MAX transactions, every session
 * may hold its files at once; past that many sessions, that many
 * transactions (the others get 452 at DATA), so that idle sessions cost
 * one descriptor each.  The parent raises RLIMIT_NOFILE to what "limit
 * sessions" needs (mh_fds_needed); smtpd stops accepting before the limit.
 */
#define MH_FDS_PER_SESSION	1
#define MH_FDS_PER_TX		2
#define MH_TX_FILES_MAX		1024
#define MH_FD_RESERVE		64
/* smtpd's spare message files, opened ahead: this many per spool owner */
#define MH_SPARE_FILES		4
#define MH_FDS_SPARE		(MH_FDS_PER_TX * MH_SPARE_FILES)

static inline unsigned long long
mh_fds_needed(int sessions)
{
	unsigned long long	 tx = sessions < MH_TX_FILES_MAX ? sessions :
	    MH_TX_FILES_MAX;

	return ((unsigned long long)sessions * MH_FDS_PER_SESSION +
	    tx * MH_FDS_PER_TX + MH_FDS_SPARE + MH_FD_RESERVE);
}

/* IMSG_AUTHD_RCPT_REQ */
struct authd_rcpt_req {
	uint64_t	 reqid;
	uint64_t	 sessid;
	char		 remote_ip[64];
	char		 helo[256];
	char		 sender[MH_ADDR_MAX];	/* "" = null sender */
	char		 rcpt[MH_ADDR_MAX];
	int64_t		 size;			/* SIZE=, -1 if not declared */
	char		 auth_user[256];	/* "" if not authenticated */
	int		 tls;
	uint32_t	 listener;		/* listener id */
};

enum rcpt_verdict {
	RCPT_ACCEPT,
	RCPT_REJECT,		/* 5xx */
	RCPT_TEMPFAIL		/* 4xx */
};

/* IMSG_AUTHD_RCPT_RES */
struct authd_rcpt_res {
	uint64_t	 reqid;
	int		 verdict;		/* enum rcpt_verdict */
	/* enum rcpt_dest, when accepted */
	int		 dest;
	uint32_t	 route;			/* route id, for DEST_ROUTE */
	int		 code;			/* SMTP reply code */
	char		 enhanced[16];		/* "2.1.5" */
	char		 text[256];		/* reply text, sanitized */
	char		 spf_result[16];
	char		 spf_domain[256];
	/* accepted: the sealed verdict */
	char		 seal[MH_SEAL_MAX];
	char		 spf_seal[MH_SEAL_MAX];	/* and SPF result (seal.h) */
};

/* IMSG_AUTHD_RCPT_CANCEL */
struct authd_rcpt_cancel {
	uint64_t	 reqid;
};

/* IMSG_AUTHD_AUTH_REQ */
struct authd_auth_req {
	uint64_t	 reqid;
	/* authd binds the identity to it */
	uint64_t	 sessid;
	char		 remote_ip[64];
	char		 user[256];
	char		 pass[256];
};

enum auth_result {
	AUTH_OK,
	AUTH_FAIL,		/* 535 5.7.8 */
	AUTH_TEMPFAIL,		/* 454 4.7.0 */
	AUTH_THROTTLED		/* 421 4.7.0: too many failures from this ip */
};

/* IMSG_AUTHD_AUTH_RES */
struct authd_auth_res {
	uint64_t	 reqid;
	int		 result;		/* enum auth_result */
};

/* IMSG_SPOOL_OPEN: smtpd asks the owner for a message file */
struct spool_open {
	uint64_t	 reqid;
};

/* IMSG_SPOOL_FD: the answer; fd attached when ok */
struct spool_fd {
	uint64_t	 reqid;
	int		 ok;
	char		 msgid[MH_MSGID_LEN];
};

/*
 * IMSG_SPOOL_COMMIT: followed by the envelope text (envelope_encode).
 * From webd (the JSON API) the envelope's auth_user is API_USER_PREFIX
 * and the key's name.  data_size and data_crc are smtpd's, for hookd:
 * the bytes smtpd wrote to the file and their CRC-32, which hookd's
 * envelope records (data-check) without reading the file again.
 */
#define API_USER_PREFIX	"api:"
struct spool_commit {
	uint64_t	 reqid;
	char		 msgid[MH_MSGID_LEN];
	/* webd: idempotency hash or "" */
	char		 idem[65];
	char		 message_id[256];	/* webd: for the idem answer */
	char		 idem_body[65];		/* webd: its body's SHA-256 */
	int64_t		 data_size;		/* smtpd: bytes written, >= 0 */
	/* smtpd: zlib crc32() of them */
	uint32_t	 data_crc;
};

/* IMSG_SPOOL_RESULT: the SMTP reply for the DATA/BDAT LAST */
struct spool_result {
	uint64_t	 reqid;
	char		 msgid[MH_MSGID_LEN];
	int		 code;			/* 250, 451, 550, ... */
	char		 enhanced[16];
	char		 text[256];		/* sanitized, one line */
	/* handed on already (mode sync) */
	int		 delivered;
};

/* IMSG_SPOOL_ABORT */
struct spool_abort {
	char		 msgid[MH_MSGID_LEN];
};

/* IMSG_SUPPRESS */
struct suppress_req {
	char		 addr[MH_ADDR_MAX];
	char		 reason[256];
};

/*
 * IMSG_UNSUBSCRIBE_MAILTO: relayd checks the MAC in local for sender.
 * IMSG_UNSUBSCRIBE_MAILTO_ACK, the same back: it is done (or refused),
 * durably, or (failed) it could not be stored: hookd keeps the mail's
 * recipient pending and sends it again later.
 */
#define UNSUBSCRIBE_PREFIX	"unsubscribe+"	/* the local part's start */
struct unsubscribe_mailto {
	/* local part of the recipient */
	char		 local[MH_ADDR_MAX];
	/* who sent it: the subscriber */
	char		 sender[MH_ADDR_MAX];
	char		 queue_id[MH_MSGID_LEN];	/* the mail at hookd */
	int		 failed;	/* ACK: 1 not stored; request: 0 */
};

/*
 * IMSG_TLSRPT_POST: relayd makes the reports (relayd/tlsrpt.c); hookd,
 * the process that makes HTTP requests, POSTs one to an https: rua.
 */
#define TLSRPT_BODY_MAX		(512 * 1024)
struct tlsrpt_post {
	char		 url[MH_URL_MAX];	/* https://... */
};

/* IMSG_EVENT_ACK */
struct event_ack {
	char		 id[EVENT_ID_LEN];
};

/* IMSG_SIGNER_KEY: followed by the private key, PEM */
struct signer_key {
	char		 domain[MH_NAME_MAX];
	char		 selector[MH_NAME_MAX];
	char		 file[MH_PATH_MAX];	/* for messages only */
};

/* IMSG_SIGN_REQ: sign the attached message for d=domain */
struct sign_req {
	uint64_t	 reqid;
	char		 domain[MH_NAME_MAX];
};

enum sign_status {
	SIGN_OK,		/* the header lines follow */
	SIGN_FAIL		/* no usable key: error says why */
};

#define SIGN_HDRS_MAX	(16 * 1024)	/* every signature of one message */

/* IMSG_SIGN_RES */
struct sign_res {
	uint64_t	 reqid;
	int		 status;		/* enum sign_status */
	char		 error[256];
};

/* IMSG_UNSUBSCRIBE: suppress addr for mail from domain (or lift it) */
struct unsub_req {
	uint64_t	 reqid;
	int		 resubscribe;
	/* the message it came from */
	char		 queue_id[MH_MSGID_LEN];
	char		 addr[MH_ADDR_MAX];
	char		 domain[MH_NAME_MAX];		/* sender domain */
};

/* IMSG_UNSUBSCRIBE_RES */
struct unsub_res {
	uint64_t	 reqid;
	int		 ok;
};

/* IMSG_API_STATUS: the state of message id, if key submitted it */
struct api_status_req {
	uint64_t	 reqid;
	char		 id[MH_MSGID_LEN];
	char		 key[64];		/* the API key's name */
};

/* IMSG_API_STATUS_RES */
struct api_status_res {
	uint64_t	 reqid;
	int		 found;			/* the JSON follows */
};

/* IMSG_FALLBACK_MAILDIR, IMSG_FALLBACK_SMTP: the route names the maildir
 * or the host (the receiver's own config says which); rcpt is the
 * recipient's index; the message is a regular file, FALLBACK_MSG_MAX at
 * most */
#define FALLBACK_MSG_MAX	(512L * 1024 * 1024)
struct fallback_req {
	char		 msgid[MH_MSGID_LEN];
	uint32_t	 rcpt;
	char		 route[MH_NAME_MAX];	/* the route's pattern */
	char		 sender[MH_ADDR_MAX];
	char		 to[MH_ADDR_MAX];
};

/* IMSG_FALLBACK_RES */
struct fallback_res {
	char		 msgid[MH_MSGID_LEN];
	uint32_t	 rcpt;
	int		 ok;
	int		 temp;		/* not ok, for now: asked again later */
	char		 name[MH_NAME_MAX + 64];	/* the file in new/ */
	char		 error[128];
};

/* IMSG_API_IDEM, IMSG_API_IDEM_RES */
struct api_idem {
	uint64_t	 reqid;
	/* SHA-256 of key name and Idempotency-Key, hex */
	char		 hash[65];
	int		 found;			/* _RES: the answer follows */
	char		 id[MH_MSGID_LEN];
	char		 message_id[256];
	/* _RES: the first request's body SHA-256, hex, or "" unknown */
	char		 body[65];
};

/* proc.c: payload checks */
/* NUL within size, printable, no CR/LF */
int	 msg_str_ok(const char *, size_t);
int	 fallback_req_ok(const struct fallback_req *);	/* every field */
int	 tlsrpt_post_ok(const struct tlsrpt_post *);	/* its URL */
struct stat;
/* a regular file, not too big */
int	 fallback_fd_ok(int, struct stat *);

#endif /* MH_MAILHOOK_H */

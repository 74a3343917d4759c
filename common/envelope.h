/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The envelope of one message: what the SMTP transaction said about it.
 *
 * Encoded as a line-based text (envelope_encode) for imsg and queue files.
 * Every field is printable; CR, LF and NUL are refused by the encoder and
 * by the decoder, so peer data can never forge a line.
 */
#ifndef MH_ENVELOPE_H
#define MH_ENVELOPE_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MH_ADDR_MAX		320	/* local 64 + @ + domain 255 */
#define MH_MSGID_LEN		17	/* 16 hex digits + NUL */
/* smtpd session id, 16 hex digits + NUL */
#define MH_SESSION_LEN		17
/* envelope relay: a fallback smtp URL */
#define MH_RELAY_MAX		256
/* a sealed verdict, "TIME.HEX" (seal.h) */
#define MH_SEAL_MAX		96
/* recipients one envelope holds (so one message, whatever limit says) */
#define MH_ENV_MAX_RCPT		10000

/* where a recipient goes, decided by authd */
enum rcpt_dest {
	DEST_ROUTE,		/* inbound: POST to route's url (hookd) */
	DEST_RELAY,		/* outbound: relay to remote MX (relayd) */
	/* returning mail on the bounce domain (hookd) */
	DEST_BOUNCE
};

/* DSN NOTIFY bits (RFC 3461) */
#define DSN_NOTIFY_NEVER	0x01
#define DSN_NOTIFY_SUCCESS	0x02
#define DSN_NOTIFY_FAILURE	0x04
#define DSN_NOTIFY_DELAY	0x08

/* per-recipient state, kept by the spool owner */
enum rcpt_state {
	RS_PENDING,
	RS_DONE,		/* delivered / posted */
	RS_FAILED		/* permanently failed */
};

struct envelope_rcpt {
	char		 addr[MH_ADDR_MAX];
	char		 orcpt[MH_ADDR_MAX];	/* DSN ORCPT, "" if none */
	/* DSN_NOTIFY_* bits, 0 = default */
	int		 notify;
	enum rcpt_dest	 dest;
	uint32_t	 route;			/* route id for DEST_ROUTE */
	enum rcpt_state	 state;
	int		 attempts;
	time_t		 next_try;		/* 0 = now */
	char		 seal[MH_SEAL_MAX];	/* authd's sealed verdict */
	/* the last failure: reply or HTTP status, "" if none */
	char		 lasterr[160];
	/* hookd: its route's fallback failed for now, asked again at
	 * next_try ("rcpt-fallback again", written only when set) */
	int		 fallback_again;
	/* hookd: the message failed this recipient's route's require ...
	 * quarantine ("rcpt-quarantined yes", written only when set) */
	int		 quarantined;
	/*
	 * relayd: the DSN of this recipient's outcome could not be queued
	 * (a full disk) and is owed: its action (DSN_OWED_*, 0: none) and
	 * what it reports, as relayd's bounce.c writes it ("rcpt-dsn-owed
	 * ACTION WHAT", written only when owed): allocated (DSN_WHAT_MAX)
	 * only while owed, else NULL; freed by envelope_dsn_clear and
	 * envelope_clear.  A struct copy of a recipient shares it.
	 */
	int		 dsn_owed;
	char		*dsn_what;
};
#define DSN_WHAT_MAX		320

/* envelope_rcpt's dsn_owed */
#define DSN_OWED_FAILED		1
#define DSN_OWED_RELAYED	2

/* one verified DKIM signature (hookd, inbound) */
#define ENVELOPE_DKIM_MAX	10	/* signatures verified per message */
struct envelope_dkim {
	char		 result[16];	/* pass, fail, temperror, permerror */
	char		 domain[254];	/* d=, "" when unusable */
	char		 selector[128];	/* s=, "" when unusable */
};

struct envelope {
	char		 id[MH_MSGID_LEN];	/* queue id */
	time_t		 created;
	char		 sender[MH_ADDR_MAX];	/* "" = null reverse path */
	char		 helo[256];
	char		 remote_ip[64];
	/* pass, fail, softfail, neutral, none, temperror, permerror */
	char		 spf_result[16];
	char		 spf_domain[256];
	/* authd's seal of the SPF result */
	char		 spf_seal[MH_SEAL_MAX];
	/* smtpd session, in the seals */
	char		 session[MH_SESSION_LEN];
	/* 1 if the session was under TLS */
	int		 tls;
	char		 tls_version[32];
	char		 tls_cipher[64];
	char		 auth_user[256];	/* "" if not authenticated */
	int64_t		 size_declared;		/* SIZE=, -1 if none */
	size_t		 size;			/* bytes in the spool file */
	/*
	 * hookd: the spool file's CRC-32 with bit 32 set, 0 if not recorded
	 * (spool.c)
	 */
	int64_t		 data_check;
	int		 body_8bit;		/* BODY=8BITMIME */
	int		 smtputf8;
	char		 dsn_ret[8];		/* "", "FULL" or "HDRS" */
	/* xtext-decoded ENVID, printable */
	char		 dsn_envid[104];
	/* recipients span routes or owners */
	int		 force_queue;
	/* X-Mailhook-Tag, comma separated */
	char		 tags[512];
	char		 group[128];		/* X-Mailhook-Group */
	char		 transaction[128];	/* X-Mailhook-Transaction */
	/* Message-ID header, without <>, valid UTF-8 */
	char		 message_id[256];
	/* API: the Idempotency-Key's hash */
	char		 idem[65];
	/* Subject header, UTF-8, one line */
	char		 subject[512];
	/* d= domain the signer could not sign for yet */
	char		 dkim_pending[256];
	/* From: header's domain, lower-cased */
	char		 from_domain[256];
	/* per-recipient copies (tracking) */
	int		 tracked;
	int		 auth_checked;		/* the verdicts below are set */
	/* failed a route's require ... quarantine: read from an envelope
	 * an older build wrote, which flagged the message, not the route
	 * (envelope_rcpt's quarantined now) */
	int		 quarantined;
	/* mhctl hold: not sent until released */
	int		 held;
	/*
	 * relayd only: a TLS-RPT report, sent despite TLS policy failures
	 * (RFC 8460 3)
	 */
	int		 tlsrpt;
	/*
	 * relayd only: counted against its sender domain's allowance
	 * (limit sender-domain), kept with the envelope's next update so
	 * that a restart does not count it again
	 */
	int		 allow_counted;
	/*
	 * relayd only: "smtp[s]://host:port" to send to instead of the MX (a
	 * route's fallback smtp), ""
	 */
	char		 relay[MH_RELAY_MAX];
	size_t		 ndkim;
	struct envelope_dkim dkim[ENVELOPE_DKIM_MAX];
	/* pass, fail, none, temperror, permerror */
	char		 dmarc_result[16];
	/* none, quarantine, reject, "" */
	char		 dmarc_policy[16];
	char		 dmarc_domain[254];	/* RFC5322.From domain */
	size_t		 nrcpt;
	struct envelope_rcpt *rcpts;		/* malloc'd array of nrcpt */
};

/* envelope.c */
void	 envelope_init(struct envelope *);
void	 envelope_clear(struct envelope *);	/* frees rcpts */
struct envelope_rcpt *envelope_add_rcpt(struct envelope *, const char *addr);
/* the recipient owes no DSN any more (its dsn_what freed) */
void	 envelope_dsn_clear(struct envelope_rcpt *);
/*
 * malloc'd text; NULL if a field is one envelope_decode() would refuse
 * (unsafe, too long, a number out of its range, an empty recipient, an
 * id not a queue id): envelope_error() says which
 */
char	*envelope_encode(const struct envelope *, size_t *);
/* -1 if malformed */
int	 envelope_decode(struct envelope *, const char *, size_t);
/* why the last envelope_decode() failed: "line 5: KEY", "no id line";
 * or the last envelope_encode(): "rcpt-notify: 16 out of range" */
const char	*envelope_error(void);
/* empty or zeros only: a commit whose flush never ended (a power loss) */
int	 envelope_blank(const char *, size_t);
int	 envelope_field_ok(const char *);	/* printable, no CR/LF/NUL */
/* a message id: 16 lower-case hex digits */
int	 envelope_id_ok(const char *);
void	 envelope_new_id(char [MH_MSGID_LEN]);	/* random 16 hex digits */

#endif /* MH_ENVELOPE_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * One internal event record.  relayd, webd and hookd make them, hookd
 * persists them and renders them in the three payload formats.  Travels
 * over imsg in a compact binary form (struct event_wire, struct track_event),
 * checked field by field on arrival; stored and shown as JSON
 * (mh_event_to_json/mh_event_from_json).
 */
#ifndef MH_EVENT_H
#define MH_EVENT_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "config.h"
#include "envelope.h"

#define EVENT_TIME_MAX	INT64_C(253402300799)	/* 9999-12-31T23:59:59Z */
/* an open or click less than this many seconds after its message's
 * submission (webd) or delivery to that recipient (hookd): machine */
#define TRACK_MACHINE_SECS	10
/* 36 chars + NUL: uuid-like, stable across retries */
#define EVENT_ID_LEN	37

/* how an outbound attempt used TLS (delivery events, issue 17) */
struct event_tls {
	/* an MX or smart host was tried */
	int		 present;
	int		 verified;		/* DANE or PKIX said yes */
	char		 version[16];		/* "TLSv1.3", "" without TLS */
	char		 cipher[64];
	/* dane, verify, opportunistic, none */
	char		 policy[16];
	char		 mx[256];		/* the host name tried last */
	/* hex SHA-256 of the peer's key */
	char		 spki[65];
};

struct event_record {
	char		 id[EVENT_ID_LEN];
	enum event_kind	 kind;
	time_t		 time;
	char		 queue_id[MH_MSGID_LEN];
	char		 message_id[256];	/* Message-ID header, no <> */
	char		 recipient[MH_ADDR_MAX];
	char		 sender[MH_ADDR_MAX];
	/* connect, helo, mail, rcpt, data, tls, dns, queue, bounce */
	char		 stage[16];
	int		 code;			/* SMTP code, 0 if none */
	char		 extended[16];		/* "5.1.1", "" if none */
	char		 description[512];
	char		 tags[512];		/* comma separated */
	char		 group[128];
	char		 transaction[128];
	/* "Name: value\r\n..." or NULL */
	char		*custom_headers;
	char		 subject[512];
	char		 bounce_type[8];	/* "hard", "soft" or "" */
	char		 bounce_reason[128];
	/* the bounce message, or NULL */
	char		*bounce_mime;
	char		 link[MH_URL_MAX];	/* click */
	int		 unique_open;		/* open/click: first one */
	/* open/click: a proxy or scanner */
	int		 machine;
	/* failure reported after acceptance */
	int		 async;
	/* delivery, bounces; present or not */
	struct event_tls tls;
};

/*
 * A tracking event (open, read, click) as webd sends it to hookd
 * (IMSG_TRACK_EVENT): this, then the link (clicks; no NUL) to the end of
 * the message.  No JSON on either side of the channel.
 */
struct track_event {
	char		 id[EVENT_ID_LEN];
	char		 queue_id[MH_MSGID_LEN];
	char		 recipient[MH_ADDR_MAX];
	int64_t		 time;
	int32_t		 kind;		/* EV_OPEN, EV_READ_MAIL, EV_CLICK */
	int32_t		 machine;
};

/*
 * An event as relayd sends it to hookd (IMSG_EVENT): this, then its
 * strings one after another, without NULs, each len[] bytes long: the
 * fixed fields in the order of mh_event.c's ev_fields, the TLS ones
 * (version, cipher, policy, mx, spki), custom_headers, bounce_mime.
 * Every string is checked as the JSON decoder checks it.
 */
#define EVENT_WIRE_NSTR		21
#define EVW_UNIQUE_OPEN		0x01
#define EVW_ASYNC		0x02
#define EVW_MACHINE		0x04
#define EVW_TLS			0x08	/* tls.present */
#define EVW_TLS_VERIFIED	0x10
#define EVW_HEADERS		0x20	/* custom_headers is not NULL */
#define EVW_BOUNCE_MIME		0x40	/* bounce_mime is not NULL */
#define EVW_ALL			0x7f
struct event_wire {
	char		 id[EVENT_ID_LEN];
	int32_t		 kind;
	int64_t		 time;
	int32_t		 code;
	uint32_t	 flags;		/* EVW_* */
	uint32_t	 len[EVENT_WIRE_NSTR];
};

/* mh_event.c */
/* fresh id, time now */
void	 mh_event_init(struct event_record *, enum event_kind);
/* a stable id: uuid-like, the hex of SHA-256 of text (the same text, the
 * same id: an event made again after a restart is known by it) */
void	 mh_event_id_hash(char *id, const char *text, size_t len);
/* frees the pointers */
void	 mh_event_clear(struct event_record *);
json_t	*mh_event_to_json(const struct event_record *);
/* -1 if malformed */
int	 mh_event_from_json(struct event_record *, const json_t *);
json_t	*mh_event_tls_json(const struct event_tls *);	/* "tls": {...} */
/* len bytes at s as the string field key (mh_event_to_json's name) of a
 * record, as the JSON decoder takes it (no NUL, fits its array) */
int	 mh_event_field_ok(const char *key, const char *s, size_t len);
/* struct track_event + link into buf (at least sizeof(struct
 * track_event) + MH_URL_MAX): its length */
size_t	 mh_event_track_pack(const struct event_record *, void *, size_t);
int	 mh_event_track_unpack(struct event_record *, const void *, size_t);
/* the wire form (malloc'd, *len bytes); NULL if hookd would refuse it
 * (mh_event_unpack) or memory ran out */
void	*mh_event_pack(const struct event_record *, size_t *len);
/* what relayd sent: -1 if malformed (nothing to clear then) */
int	 mh_event_unpack(struct event_record *, const void *, size_t);

#endif /* MH_EVENT_H */

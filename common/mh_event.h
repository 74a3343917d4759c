/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * One internal event record.  relayd and authd make them, hookd persists
 * them and renders them in the three payload formats.  Travels over imsg
 * as JSON (mh_event_to_json/mh_event_from_json).
 */
#ifndef MH_EVENT_H
#define MH_EVENT_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "config.h"
#include "envelope.h"

#define EVENT_TIME_MAX	INT64_C(253402300799)	/* 9999-12-31T23:59:59Z */
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

/* mh_event.c */
/* fresh id, time now */
void	 mh_event_init(struct event_record *, enum event_kind);
/* frees the pointers */
void	 mh_event_clear(struct event_record *);
json_t	*mh_event_to_json(const struct event_record *);
/* -1 if malformed */
int	 mh_event_from_json(struct event_record *, const json_t *);
json_t	*mh_event_tls_json(const struct event_tls *);	/* "tls": {...} */
/* struct track_event + link into buf (at least sizeof(struct
 * track_event) + MH_URL_MAX): its length */
size_t	 mh_event_track_pack(const struct event_record *, void *, size_t);
int	 mh_event_track_unpack(struct event_record *, const void *, size_t);

#endif /* MH_EVENT_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The internal event record and its JSON form (common/mh_event.h).
 *
 * The JSON form is what hookd keeps in its event spool and relayd in its
 * outbox.  Over imsg an event travels in a binary form (relayd -> hookd:
 * struct event_wire; webd -> hookd: struct track_event), so that hookd
 * parses no JSON per event; its decoders take exactly what the JSON one
 * takes.  The JSON decoder is strict: a wrong type, an unknown kind, an
 * overlong string or a string carrying NUL, CR or LF where it could end
 * up in a header is refused.  Unknown keys are ignored so that a newer
 * writer can add fields.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "digest.h"
#include "hex.h"
#include "mh_event.h"
#include "randpool.h"
#include "sanitize.h"

#define EV_CUSTOM_HEADERS_MAX	(16 * 1024)
#define EV_BOUNCE_MIME_MAX	(1024 * 1024)

enum evftype {
	EF_LINE,	/* one line of printable text (UTF-8 allowed),
			   no CR/LF/NUL */
	EF_TOKEN	/* printable ASCII, no space */
};

struct evfield {
	const char	*key;
	enum evftype	 type;
	size_t		 off;
	size_t		 size;
};

#define EVF(k, t, m)	{ k, t, offsetof(struct event_record, m),	\
			    sizeof(((struct event_record *)0)->m) }

static const struct evfield ev_fields[] = {
	EVF("queue_id", EF_TOKEN, queue_id),
	EVF("message_id", EF_LINE, message_id),
	EVF("recipient", EF_LINE, recipient),
	EVF("sender", EF_LINE, sender),
	EVF("stage", EF_TOKEN, stage),
	EVF("extended", EF_TOKEN, extended),
	EVF("description", EF_LINE, description),
	EVF("tags", EF_LINE, tags),
	EVF("group", EF_LINE, group),
	EVF("transaction", EF_LINE, transaction),
	EVF("subject", EF_LINE, subject),
	EVF("bounce_type", EF_TOKEN, bounce_type),
	EVF("bounce_reason", EF_LINE, bounce_reason),
	EVF("link", EF_LINE, link),
};

static void	event_make_id(char *);
static int	event_str_ok(const char *, size_t, enum evftype);
static int	event_headers_ok(const char *, size_t);
static int	event_id_ok(const char *);

static void
event_make_id(char *id)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 r[16];
	size_t			 i, j;

	mh_random_buf(r, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;	/* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;	/* variant */
	for (i = 0, j = 0; i < sizeof(r); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			id[j++] = '-';
		id[j++] = hex[r[i] >> 4];
		id[j++] = hex[r[i] & 0x0f];
	}
	id[j] = '\0';
}

void
mh_event_init(struct event_record *ev, enum event_kind kind)
{
	memset(ev, 0, sizeof(*ev));
	event_make_id(ev->id);
	ev->kind = kind;
	ev->time = time(NULL);
}

void
mh_event_id_hash(char *id, const char *text, size_t len)
{
	unsigned char	 md[MH_SHA256_LEN];
	char		 hex[33];

	mh_sha256(text, len, md);
	mh_hex(hex, md, 16);
	snprintf(id, EVENT_ID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
	    hex + 12, hex + 16, hex + 20);
}

void
mh_event_clear(struct event_record *ev)
{
	free(ev->custom_headers);
	ev->custom_headers = NULL;
	free(ev->bounce_mime);
	ev->bounce_mime = NULL;
}

/*
 * an event id: 36 characters of lower-case hex and '-' (uuid-like).
 * Checked for every click, in webd and again in hookd: one pass, and
 * no isdigit() (a call through __ctype_b_loc for each character).
 */
static int
event_id_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] != '-' && (s[i] < '0' || s[i] > '9') &&
		    (s[i] < 'a' || s[i] > 'f'))
			return (0);
	return (i == EVENT_ID_LEN - 1);
}

static int
event_str_ok(const char *s, size_t len, enum evftype type)
{
	size_t		i;
	unsigned char	c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c == 0x7f)
			return (0);
		if (c < 0x20 && c != '\t')
			return (0);
		if (type == EF_TOKEN && (c <= 0x20 || c >= 0x7f))
			return (0);
	}
	return (1);
}

/*
 * custom headers: "Name: value\r\n" lines, no NUL, no bare CR or LF, each
 * line a header (a field name, a colon) so nothing can be smuggled.
 */
static int
event_headers_ok(const char *s, size_t len)
{
	size_t	i, start;
	int	colon;

	start = 0;
	colon = 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return (0);
		if (s[i] == '\n')
			return (0);	/* only as part of CRLF, below */
		if (s[i] == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n' || !colon)
				return (0);
			i++;
			start = i + 1;
			colon = 0;
			continue;
		}
		if (!colon) {
			if (s[i] == ':' && i > start) {
				colon = 1;
				continue;
			}
			if ((unsigned char)s[i] <= 0x20 ||
			    (unsigned char)s[i] >= 0x7f)
				return (0);
		} else if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return (0);
	}
	/* a last line without CRLF is allowed if it is a header */
	return (start == len || colon);
}

json_t *
mh_event_to_json(const struct event_record *ev)
{
	json_t		*o;
	const char	*kind, *s;
	size_t		 i;
	int		 rc = 0;

	if ((int)ev->kind < 0 || ev->kind >= EV_KIND_MAX ||
	    (kind = event_kind_name(ev->kind)) == NULL)
		return (NULL);
	if ((o = json_object()) == NULL)
		return (NULL);
	rc |= json_object_set_new(o, "id", json_string(ev->id));
	rc |= json_object_set_new(o, "kind", json_string(kind));
	rc |= json_object_set_new(o, "time", json_integer(ev->time));
	for (i = 0; i < sizeof(ev_fields) / sizeof(ev_fields[0]); i++) {
		s = (const char *)ev + ev_fields[i].off;
		if (s[0] == '\0')
			continue;
		rc |= json_object_set_new(o, ev_fields[i].key, json_string(s));
	}
	if (ev->code != 0)
		rc |= json_object_set_new(o, "code", json_integer(ev->code));
	if (ev->custom_headers != NULL)
		rc |= json_object_set_new(o, "custom_headers",
		    json_string(ev->custom_headers));
	if (ev->bounce_mime != NULL)
		rc |= json_object_set_new(o, "bounce_mime",
		    json_stringn(ev->bounce_mime, strlen(ev->bounce_mime)));
	if (ev->unique_open)
		rc |= json_object_set_new(o, "unique_open", json_true());
	if (ev->async)
		rc |= json_object_set_new(o, "async", json_true());
	if (ev->machine)
		rc |= json_object_set_new(o, "machine", json_true());
	if (ev->tls.present)
		rc |= json_object_set_new(o, "tls",
		    mh_event_tls_json(&ev->tls));
	if (rc != 0) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

/* well-formed UTF-8 (no overlong forms, surrogates or > U+10FFFF) */
static int
event_utf8_ok(const unsigned char *s, size_t len)
{
	size_t	 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq(s + i, len - i)) == 0)
			return (0);
	return (1);
}

/* a fixed-size string: NUL inside, and of its type */
static int
event_fixed_ok(const char *s, size_t size, enum evftype type)
{
	size_t	len = strnlen(s, size);

	return (len < size && event_str_ok(s, len, type) &&
	    event_utf8_ok((const unsigned char *)s, len));
}

int
mh_event_field_ok(const char *key, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(ev_fields) / sizeof(ev_fields[0]); i++)
		if (strcmp(ev_fields[i].key, key) == 0)
			return (len < ev_fields[i].size &&
			    memchr(s, '\0', len) == NULL &&
			    event_str_ok(s, len, ev_fields[i].type) &&
			    event_utf8_ok((const unsigned char *)s, len));
	return (0);
}

size_t
mh_event_track_pack(const struct event_record *ev, void *buf, size_t size)
{
	struct track_event	 t;
	size_t			 n = 0;

	memset(&t, 0, sizeof(t));
	strlcpy(t.id, ev->id, sizeof(t.id));
	strlcpy(t.queue_id, ev->queue_id, sizeof(t.queue_id));
	strlcpy(t.recipient, ev->recipient, sizeof(t.recipient));
	t.time = ev->time;
	t.kind = ev->kind;
	t.machine = ev->machine != 0;
	if (ev->kind == EV_CLICK)
		n = strnlen(ev->link, sizeof(ev->link) - 1);
	/* what hookd would refuse (mh_event_track_unpack) is not sent */
	if (size < sizeof(t) + n || !event_id_ok(t.id) ||
	    !event_fixed_ok(t.queue_id, sizeof(t.queue_id), EF_TOKEN) ||
	    !event_fixed_ok(t.recipient, sizeof(t.recipient), EF_LINE) ||
	    !event_str_ok(ev->link, n, EF_LINE) ||
	    !event_utf8_ok((const unsigned char *)ev->link, n))
		return (0);
	memcpy(buf, &t, sizeof(t));
	memcpy((char *)buf + sizeof(t), ev->link, n);
	return (sizeof(t) + n);
}

/* what webd sent, checked as strictly as the JSON decoder: -1 if bad */
int
mh_event_track_unpack(struct event_record *ev, const void *buf, size_t len)
{
	struct track_event	 t;
	size_t			 n;

	memset(ev, 0, sizeof(*ev));
	if (len < sizeof(t) || (n = len - sizeof(t)) >= sizeof(ev->link))
		return (-1);
	memcpy(&t, buf, sizeof(t));
	if (strnlen(t.id, sizeof(t.id)) == sizeof(t.id) ||
	    !event_id_ok(t.id) ||
	    !event_fixed_ok(t.queue_id, sizeof(t.queue_id), EF_TOKEN) ||
	    !event_fixed_ok(t.recipient, sizeof(t.recipient), EF_LINE) ||
	    (t.kind != EV_OPEN && t.kind != EV_READ_MAIL &&
	    t.kind != EV_CLICK) || (t.kind != EV_CLICK && n != 0) ||
	    (t.machine != 0 && t.machine != 1) || t.time < 0 ||
	    t.time > EVENT_TIME_MAX)
		return (-1);
	memcpy(ev->link, (const char *)buf + sizeof(t), n);
	ev->link[n] = '\0';
	if (!event_fixed_ok(ev->link, sizeof(ev->link), EF_LINE))
		return (-1);
	memcpy(ev->id, t.id, sizeof(ev->id));
	memcpy(ev->queue_id, t.queue_id, sizeof(ev->queue_id));
	memcpy(ev->recipient, t.recipient, sizeof(ev->recipient));
	ev->time = (time_t)t.time;
	ev->kind = t.kind;
	ev->machine = t.machine;
	strlcpy(ev->stage, "tracking", sizeof(ev->stage));
	return (0);
}

/* the members of "tls"; in the wire form, the strings after ev_fields */
static const struct evfield tls_fields[] = {
	EVF("version", EF_TOKEN, tls.version),
	EVF("cipher", EF_TOKEN, tls.cipher),
	EVF("policy", EF_TOKEN, tls.policy),
	EVF("mx", EF_TOKEN, tls.mx),
	EVF("peer_spki_sha256", EF_TOKEN, tls.spki),
};

#define NEVF	(sizeof(ev_fields) / sizeof(ev_fields[0]))
#define NFIXED	(NEVF + sizeof(tls_fields) / sizeof(tls_fields[0]))
_Static_assert(NFIXED + 2 == EVENT_WIRE_NSTR, "event_wire's strings");

/* the fixed-size string field i of the wire form */
static const struct evfield *
wire_field(size_t i)
{
	return (i < NEVF ? &ev_fields[i] : &tls_fields[i - NEVF]);
}

/* the longest string i of the wire form may be */
static size_t
wire_max(size_t i)
{
	if (i < NFIXED)
		return (wire_field(i)->size - 1);	/* its NUL */
	return (i == NFIXED ? EV_CUSTOM_HEADERS_MAX : EV_BOUNCE_MIME_MAX);
}

/* string i of the wire form, len bytes: as the JSON decoder takes it */
static int
wire_str_ok(size_t i, const char *s, size_t len)
{
	if (len > wire_max(i) || memchr(s, '\0', len) != NULL ||
	    !event_utf8_ok((const unsigned char *)s, len))
		return (0);
	if (i < NFIXED)
		return (event_str_ok(s, len, wire_field(i)->type));
	return (i != NFIXED || event_headers_ok(s, len));
}

/* the struct of the wire form: as the JSON decoder takes its fields */
static int
wire_head_ok(const struct event_wire *w)
{
	return (strnlen(w->id, sizeof(w->id)) < sizeof(w->id) &&
	    event_id_ok(w->id) && w->kind >= 0 && w->kind < EV_KIND_MAX &&
	    event_kind_name(w->kind) != NULL && w->time >= 0 &&
	    w->time <= EVENT_TIME_MAX && w->code >= 0 && w->code <= 999 &&
	    (w->flags & ~EVW_ALL) == 0 &&
	    (!(w->flags & EVW_TLS_VERIFIED) || (w->flags & EVW_TLS)));
}

/* string i of ev as the wire form has it ("" if absent) */
static const char *
wire_str(const struct event_record *ev, size_t i)
{
	const char	*s;

	if (i < NFIXED)		/* no TLS: its strings are not sent */
		return (i >= NEVF && !ev->tls.present ? "" :
		    (const char *)ev + wire_field(i)->off);
	s = i == NFIXED ? ev->custom_headers : ev->bounce_mime;
	return (s != NULL ? s : "");
}

void *
mh_event_pack(const struct event_record *ev, size_t *lenp)
{
	struct event_wire	 w;
	const char		*s[EVENT_WIRE_NSTR];
	char			*buf, *p;
	size_t			 i, len;

	memset(&w, 0, sizeof(w));
	if (strlcpy(w.id, ev->id, sizeof(w.id)) >= sizeof(w.id))
		return (NULL);
	w.kind = ev->kind;
	w.time = ev->time;
	w.code = ev->code;
	w.flags = (ev->unique_open ? EVW_UNIQUE_OPEN : 0) |
	    (ev->async ? EVW_ASYNC : 0) | (ev->machine ? EVW_MACHINE : 0) |
	    (ev->tls.present ? EVW_TLS : 0) |
	    (ev->tls.present && ev->tls.verified ? EVW_TLS_VERIFIED : 0) |
	    (ev->custom_headers != NULL ? EVW_HEADERS : 0) |
	    (ev->bounce_mime != NULL ? EVW_BOUNCE_MIME : 0);
	if (!wire_head_ok(&w))
		return (NULL);
	len = sizeof(w);
	for (i = 0; i < EVENT_WIRE_NSTR; i++) {
		s[i] = wire_str(ev, i);
		w.len[i] = strnlen(s[i], wire_max(i) + 1);
		if (!wire_str_ok(i, s[i], w.len[i]))
			return (NULL);
		len += w.len[i];
	}
	if ((buf = malloc(len)) == NULL)
		return (NULL);
	memcpy(buf, &w, sizeof(w));
	p = buf + sizeof(w);
	for (i = 0; i < EVENT_WIRE_NSTR; i++) {
		memcpy(p, s[i], w.len[i]);
		p += w.len[i];
	}
	*lenp = len;
	return (buf);
}

static int
event_unpack1(struct event_record *ev, const struct event_wire *w,
    const char *p)
{
	char	**dup;
	size_t	  i;
	int	  present;

	if (!wire_head_ok(w))
		return (-1);
	memcpy(ev->id, w->id, sizeof(ev->id));
	ev->kind = w->kind;
	ev->time = (time_t)w->time;
	ev->code = w->code;
	ev->unique_open = (w->flags & EVW_UNIQUE_OPEN) != 0;
	ev->async = (w->flags & EVW_ASYNC) != 0;
	ev->machine = (w->flags & EVW_MACHINE) != 0;
	ev->tls.present = (w->flags & EVW_TLS) != 0;
	ev->tls.verified = (w->flags & EVW_TLS_VERIFIED) != 0;
	for (i = 0; i < EVENT_WIRE_NSTR; p += w->len[i++]) {
		if (!wire_str_ok(i, p, w->len[i]))
			return (-1);
		if (i < NFIXED) {
			/* no TLS, no TLS strings */
			if (i >= NEVF && !ev->tls.present && w->len[i] != 0)
				return (-1);
			memcpy((char *)ev + wire_field(i)->off, p, w->len[i]);
			continue;
		}
		/* an absent string (NULL) is not an empty one */
		present = w->flags & (i == NFIXED ? EVW_HEADERS :
		    EVW_BOUNCE_MIME);
		dup = i == NFIXED ? &ev->custom_headers : &ev->bounce_mime;
		if (!present ? w->len[i] != 0 :
		    (*dup = strndup(p, w->len[i])) == NULL)
			return (-1);
	}
	return (0);
}

int
mh_event_unpack(struct event_record *ev, const void *buf, size_t len)
{
	struct event_wire	 w;
	size_t			 i, need = sizeof(w);

	memset(ev, 0, sizeof(*ev));
	if (len < sizeof(w))
		return (-1);
	memcpy(&w, buf, sizeof(w));
	for (i = 0; i < EVENT_WIRE_NSTR; i++) {
		if (w.len[i] > len - need)
			return (-1);
		need += w.len[i];
	}
	if (need != len ||
	    event_unpack1(ev, &w, (const char *)buf + sizeof(w)) == -1) {
		mh_event_clear(ev);
		memset(ev, 0, sizeof(*ev));
		return (-1);
	}
	return (0);
}

/* a boolean, or the integers 0 and 1 */
static int
event_bool(const json_t *v, int *out)
{
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return (0);
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 ||
	    json_integer_value(v) == 1)) {
		*out = (int)json_integer_value(v);
		return (0);
	}
	return (-1);
}

static int
event_dup(const json_t *v, size_t max, int headers, char **out)
{
	const char	*s;
	size_t		 len;

	if (!json_is_string(v))
		return (-1);
	s = json_string_value(v);
	len = json_string_length(v);
	if (len > max || strlen(s) != len)	/* embedded NUL */
		return (-1);
	if (headers && !event_headers_ok(s, len))
		return (-1);
	if ((*out = strdup(s)) == NULL)
		return (-1);
	return (0);
}

static json_t *
tls_str(const char *s)
{
	return (s[0] != '\0' ? json_string(s) : json_null());
}

/* {version, cipher, verified, policy, mx, peer_spki_sha256}; "" is null */
json_t *
mh_event_tls_json(const struct event_tls *t)
{
	return (json_pack("{s:o, s:o, s:b, s:o, s:o, s:o}",
	    "version", tls_str(t->version), "cipher", tls_str(t->cipher),
	    "verified", t->verified, "policy", tls_str(t->policy),
	    "mx", tls_str(t->mx), "peer_spki_sha256", tls_str(t->spki)));
}

/* one member of "tls": a token (or null) that fits */
static int
event_tls_str(const json_t *o, const char *k, char *dst, size_t size)
{
	const json_t	*v;
	size_t		 len;

	if ((v = json_object_get(o, k)) == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) || (len = json_string_length(v)) >= size ||
	    !event_str_ok(json_string_value(v), len, EF_TOKEN))
		return (-1);
	memcpy(dst, json_string_value(v), len + 1);
	return (0);
}

static int
event_tls_from_json(struct event_record *ev, const json_t *o)
{
	const struct evfield	*f;
	const json_t		*v;
	size_t			 i;

	if (!json_is_object(o))
		return (-1);
	for (i = 0; i < sizeof(tls_fields) / sizeof(tls_fields[0]); i++) {
		f = &tls_fields[i];
		if (event_tls_str(o, f->key, (char *)ev + f->off, f->size))
			return (-1);
	}
	if ((v = json_object_get(o, "verified")) != NULL &&
	    event_bool(v, &ev->tls.verified) == -1)
		return (-1);
	ev->tls.present = 1;
	return (0);
}

static int
event_from_json1(struct event_record *ev, const json_t *o)
{
	const json_t	*v;
	const char	*s;
	size_t		 i, len;
	json_int_t	 n;
	int		 k;

	if ((v = json_object_get(o, "id")) == NULL || !json_is_string(v) ||
	    !event_id_ok(json_string_value(v)))
		return (-1);
	strlcpy(ev->id, json_string_value(v), sizeof(ev->id));
	if ((v = json_object_get(o, "kind")) == NULL || !json_is_string(v) ||
	    (k = event_kind_from_name(json_string_value(v))) == -1 ||
	    k < 0 || k >= EV_KIND_MAX)
		return (-1);
	ev->kind = k;
	if ((v = json_object_get(o, "time")) == NULL || !json_is_integer(v) ||
	    (n = json_integer_value(v)) < 0 || n > EVENT_TIME_MAX)
		return (-1);
	ev->time = (time_t)n;

	for (i = 0; i < sizeof(ev_fields) / sizeof(ev_fields[0]); i++) {
		if ((v = json_object_get(o, ev_fields[i].key)) == NULL)
			continue;
		if (!json_is_string(v))
			return (-1);
		s = json_string_value(v);
		len = json_string_length(v);
		if (len >= ev_fields[i].size ||
		    !event_str_ok(s, len, ev_fields[i].type))
			return (-1);
		memcpy((char *)ev + ev_fields[i].off, s, len + 1);
	}
	if ((v = json_object_get(o, "code")) != NULL) {
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 ||
		    n > 999)
			return (-1);
		ev->code = (int)n;
	}
	if ((v = json_object_get(o, "unique_open")) != NULL &&
	    event_bool(v, &ev->unique_open) == -1)
		return (-1);
	if ((v = json_object_get(o, "async")) != NULL &&
	    event_bool(v, &ev->async) == -1)
		return (-1);
	if ((v = json_object_get(o, "machine")) != NULL &&
	    event_bool(v, &ev->machine) == -1)
		return (-1);
	if ((v = json_object_get(o, "tls")) != NULL && !json_is_null(v) &&
	    event_tls_from_json(ev, v) == -1)
		return (-1);
	if ((v = json_object_get(o, "custom_headers")) != NULL &&
	    !json_is_null(v) &&
	    event_dup(v, EV_CUSTOM_HEADERS_MAX, 1, &ev->custom_headers) == -1)
		return (-1);
	if ((v = json_object_get(o, "bounce_mime")) != NULL &&
	    !json_is_null(v) &&
	    event_dup(v, EV_BOUNCE_MIME_MAX, 0, &ev->bounce_mime) == -1)
		return (-1);
	return (0);
}

int
mh_event_from_json(struct event_record *ev, const json_t *o)
{
	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(o))
		return (-1);
	if (event_from_json1(ev, o) == -1) {
		mh_event_clear(ev);
		memset(ev, 0, sizeof(*ev));
		return (-1);
	}
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * event record: ids, JSON round trip, strict decoders (JSON and the two
 * binary forms of the imsg channels).
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mh_event.h"
#include "tap.h"

static void
fill(struct event_record *ev)
{
	mh_event_init(ev, EV_BOUNCE);
	strlcpy(ev->queue_id, "0123456789abcdef", sizeof(ev->queue_id));
	strlcpy(ev->message_id, "abc@example.com", sizeof(ev->message_id));
	strlcpy(ev->recipient, "bob@example.net", sizeof(ev->recipient));
	strlcpy(ev->sender, "alice@example.com", sizeof(ev->sender));
	strlcpy(ev->stage, "rcpt", sizeof(ev->stage));
	ev->code = 550;
	strlcpy(ev->extended, "5.1.1", sizeof(ev->extended));
	strlcpy(ev->description, "User unknown \xc3\xa9", sizeof(ev->description));
	strlcpy(ev->tags, "a,b", sizeof(ev->tags));
	strlcpy(ev->group, "Test Group", sizeof(ev->group));
	strlcpy(ev->transaction, "321", sizeof(ev->transaction));
	ev->custom_headers = strdup("X-A: 1\r\nX-B: two\r\n");
	strlcpy(ev->subject, "Hello", sizeof(ev->subject));
	strlcpy(ev->bounce_type, "hard", sizeof(ev->bounce_type));
	strlcpy(ev->bounce_reason, "Policy-Related", sizeof(ev->bounce_reason));
	ev->bounce_mime = strdup("From: x\r\n\r\nbody\r\n");
	strlcpy(ev->link, "https://example.com/x", sizeof(ev->link));
	ev->unique_open = 1;
	ev->async = 1;
	ev->tls.present = 1;
	ev->tls.verified = 1;
	strlcpy(ev->tls.version, "TLSv1.3", sizeof(ev->tls.version));
	strlcpy(ev->tls.cipher, "TLS_AES_256_GCM_SHA384", sizeof(ev->tls.cipher));
	strlcpy(ev->tls.policy, "dane", sizeof(ev->tls.policy));
	strlcpy(ev->tls.mx, "mx.example.net", sizeof(ev->tls.mx));
	memset(ev->tls.spki, 'a', 64);
}

static int
decode_str(const char *text, struct event_record *ev)
{
	json_t		*o;
	json_error_t	 err;
	int		 rc;

	if ((o = json_loads(text, 0, &err)) == NULL)
		return (-2);
	rc = mh_event_from_json(ev, o);
	json_decref(o);
	return (rc);
}

static int
decode_with(const char *key, json_t *val)
{
	struct event_record	 ev, out;
	json_t			*o;
	int			 rc;

	fill(&ev);
	o = mh_event_to_json(&ev);
	json_object_set_new(o, key, val);
	rc = mh_event_from_json(&out, o);
	json_decref(o);
	mh_event_clear(&ev);
	mh_event_clear(&out);
	return (rc);
}

/* the same JSON for both records */
static int
json_same(const struct event_record *x, const struct event_record *y)
{
	json_t	*ox = mh_event_to_json(x), *oy = mh_event_to_json(y);
	int	 same = ox != NULL && oy != NULL && json_equal(ox, oy);

	json_decref(ox);
	json_decref(oy);
	return (same);
}

static void
click(struct event_record *ev)
{
	mh_event_init(ev, EV_CLICK);
	strlcpy(ev->queue_id, "0123456789abcdef", sizeof(ev->queue_id));
	strlcpy(ev->recipient, "r\xc3\xa9" "ader@example.net",
	    sizeof(ev->recipient));
	strlcpy(ev->stage, "tracking", sizeof(ev->stage));
	strlcpy(ev->link, "https://shop.example/a?b=\"c\"&d=\\e\tf/\xe2\x82\xac",
	    sizeof(ev->link));
	ev->machine = 1;
	ev->unique_open = 1;
}

/* webd's compact form, decoded by hookd: 0 if accepted */
static int
track_round(const struct event_record *ev, struct event_record *out,
    size_t cut)
{
	char	buf[sizeof(struct track_event) + MH_URL_MAX];
	size_t	len;

	if ((len = mh_event_track_pack(ev, buf, sizeof(buf))) == 0)
		return (-2);
	return (mh_event_track_unpack(out, buf, len - cut));
}

static void
test_track(void)
{
	struct event_record	 a, b;
	struct track_event	 t;
	char			 buf[sizeof(t) + MH_URL_MAX + 8];
	int			 rc;
	size_t			 len;

	click(&a);
	click(&b);
	strlcpy(b.recipient, "\xc3(@example.net", sizeof(b.recipient));
	ok(track_round(&b, &b, 0) < 0, "track: a recipient not UTF-8 refused");
	click(&b);
	strlcpy(b.recipient, "\xed\xa0\x80@example.net", sizeof(b.recipient));
	ok(track_round(&b, &b, 0) < 0, "track: a surrogate refused");
	ok(track_round(&a, &b, 0) == 0, "track: round trip");
	ok(strcmp(a.id, b.id) == 0 && a.time == b.time && b.kind == EV_CLICK &&
	    strcmp(a.queue_id, b.queue_id) == 0 &&
	    strcmp(a.recipient, b.recipient) == 0 &&
	    strcmp(a.link, b.link) == 0 && b.machine == 1 &&
	    b.unique_open == 0 && strcmp(b.stage, "tracking") == 0,
	    "track: id, time, kind, queue id, recipient, link, machine; "
	    "unique_open is hookd's");
	ok(track_round(&a, &b, 3) == 0 && strlen(b.link) ==
	    strlen(a.link) - 3, "track: the link is what follows the struct");
	ok(track_round(&a, &b, 1) == -1,
	    "track: a link cut inside a UTF-8 sequence refused");
	a.kind = EV_OPEN;
	ok(track_round(&a, &b, 0) == 0 && b.link[0] == '\0',
	    "track: an open carries no link");
	a.kind = EV_DELIVERY;
	ok(track_round(&a, &b, 0) == -1, "track: kind delivery refused");
	a.kind = EV_CLICK;
	strlcpy(a.recipient, "a@b\r\nX-Evil: 1", sizeof(a.recipient));
	ok(track_round(&a, &b, 0) == -2, "track: webd sends no CRLF");
	mh_event_clear(&a);

	/* what a compromised webd could send */
	click(&a);
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	ok(mh_event_track_unpack(&b, buf, sizeof(t) - 1) == -1,
	    "track: short refused");
	memcpy(&t, buf, sizeof(t));
	memset(t.recipient, 'x', sizeof(t.recipient));
	memcpy(buf, &t, sizeof(t));
	ok(mh_event_track_unpack(&b, buf, len) == -1,
	    "track: recipient without NUL refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	memcpy(&t, buf, sizeof(t));
	strlcpy(t.recipient, "a@b\r\nX: 1", sizeof(t.recipient));
	memcpy(buf, &t, sizeof(t));
	ok(mh_event_track_unpack(&b, buf, len) == -1,
	    "track: CRLF in recipient refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	memcpy(&t, buf, sizeof(t));
	strlcpy(t.id, "../../etc/passwd-1111-4222-8333-4444555", sizeof(t.id));
	memcpy(buf, &t, sizeof(t));
	ok(mh_event_track_unpack(&b, buf, len) == -1, "track: bad id refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	memcpy(&t, buf, sizeof(t));
	t.machine = 2;
	memcpy(buf, &t, sizeof(t));
	ok(mh_event_track_unpack(&b, buf, len) == -1,
	    "track: machine not 0 or 1 refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	buf[len - 2] = '\0';
	ok(mh_event_track_unpack(&b, buf, len) == -1,
	    "track: NUL in the link refused");
	buf[len - 2] = '\n';
	ok(mh_event_track_unpack(&b, buf, len) == -1,
	    "track: LF in the link refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	memset(buf + sizeof(t), 'a', MH_URL_MAX);
	ok(mh_event_track_unpack(&b, buf, sizeof(t) + MH_URL_MAX) == -1,
	    "track: a link over MH_URL_MAX - 1 refused");
	len = mh_event_track_pack(&a, buf, sizeof(buf));
	rc = mh_event_track_unpack(&b, buf, len);
	b.unique_open = a.unique_open;		/* hookd's own */
	ok(rc == 0 && json_same(&a, &b), "track: decoded, the same record "
	    "as webd's");
	mh_event_clear(&a);
}

/* the wire form of a, spoilt by fn, decoded: 0 if accepted */
static int
wire_spoilt(const struct event_record *a, void (*fn)(char *, size_t *),
    struct event_record *out)
{
	char	*buf;
	size_t	 len;
	int	 rc;

	if ((buf = mh_event_pack(a, &len)) == NULL)
		return (-2);
	/* room for what a spoiler adds */
	if ((buf = realloc(buf, len + 8)) == NULL)
		return (-2);
	if (fn != NULL)
		fn(buf, &len);
	rc = mh_event_unpack(out, buf, len);
	free(buf);
	return (rc);
}

/* the struct at the start of a packed event, in place */
static struct event_wire *
wire_hdr(char *buf)
{
	return ((struct event_wire *)(void *)buf);
}

static void
cut_last(char *buf, size_t *len)
{
	(*len)--;
}

static void
junk_after(char *buf, size_t *len)
{
	memcpy(buf + *len, "junk", 4);
	*len += 4;
}

static void
id_unterminated(char *buf, size_t *len)
{
	memset(wire_hdr(buf)->id, 'a', EVENT_ID_LEN);
}

static void
id_path(char *buf, size_t *len)
{
	strlcpy(wire_hdr(buf)->id, "../../etc/passwd-1111-4222-8333-4444555",
	    EVENT_ID_LEN);
}

static void
kind_range(char *buf, size_t *len)
{
	wire_hdr(buf)->kind = EV_KIND_MAX;
}

static void
time_range(char *buf, size_t *len)
{
	wire_hdr(buf)->time = EVENT_TIME_MAX + 1;
}

static void
code_range(char *buf, size_t *len)
{
	wire_hdr(buf)->code = 1000;
}

static void
flags_unknown(char *buf, size_t *len)
{
	wire_hdr(buf)->flags |= 0x100;
}

static void
lengths_overflow(char *buf, size_t *len)
{
	/* two lengths whose sum wraps around to the right total */
	wire_hdr(buf)->len[0] += 0x80000000U;
	wire_hdr(buf)->len[1] += 0x80000000U;
}

static void
queue_id_long(char *buf, size_t *len)
{
	/* queue_id (the first string) takes message_id's bytes */
	wire_hdr(buf)->len[0] += wire_hdr(buf)->len[1];
	wire_hdr(buf)->len[1] = 0;
}

/* the first byte of the description (ev_fields' seventh string) */
static char *
description(char *buf)
{
	struct event_wire	*w = wire_hdr(buf);
	size_t			 i, off = sizeof(*w);

	for (i = 0; i < 6; i++)
		off += w->len[i];
	return (buf + off);
}

static void
description_cr(char *buf, size_t *len)
{
	description(buf)[2] = '\r';
}

static void
description_nul(char *buf, size_t *len)
{
	description(buf)[2] = '\0';
}

static void
description_utf8(char *buf, size_t *len)
{
	description(buf)[2] = (char)0xc3;
	description(buf)[3] = '(';
}

static void
stage_space(char *buf, size_t *len)
{
	/* stage is the fifth string, a token */
	struct event_wire	*w = wire_hdr(buf);
	size_t			 i, off = sizeof(*w);

	for (i = 0; i < 4; i++)
		off += w->len[i];
	buf[off] = ' ';
}

static void
headers_absent(char *buf, size_t *len)
{
	/* custom headers given although the flag says there are none */
	wire_hdr(buf)->flags &= ~EVW_HEADERS;
}

static void
tls_absent(char *buf, size_t *len)
{
	/* TLS strings given although the flag says there was no TLS */
	wire_hdr(buf)->flags &= ~(EVW_TLS | EVW_TLS_VERIFIED);
}

static void
test_wire(void)
{
	struct event_record	 a, b;
	const struct {
		void		(*fn)(char *, size_t *);
		const char	*what;
	} bad[] = {
		{ cut_last, "one byte short" },
		{ junk_after, "junk after the strings" },
		{ id_unterminated, "an id without NUL" },
		{ id_path, "an id that is a path" },
		{ kind_range, "kind out of range" },
		{ time_range, "time after 9999" },
		{ code_range, "code 1000" },
		{ flags_unknown, "an unknown flag" },
		{ lengths_overflow, "lengths that wrap around" },
		{ queue_id_long, "a queue id longer than its field" },
		{ description_cr, "CR in a line field" },
		{ description_nul, "NUL in a string" },
		{ description_utf8, "a line field not UTF-8" },
		{ stage_space, "a space in a token field" },
		{ headers_absent, "custom headers not flagged" },
		{ tls_absent, "TLS strings not flagged" },
	};
	char			*buf;
	size_t			 i, len;

	fill(&a);
	ok(wire_spoilt(&a, NULL, &b) == 0 && json_same(&a, &b) &&
	    strcmp(a.custom_headers, b.custom_headers) == 0 &&
	    strcmp(a.bounce_mime, b.bounce_mime) == 0 && b.tls.present &&
	    b.tls.verified && b.unique_open && b.async && !b.machine,
	    "wire: round trip of every field");
	mh_event_clear(&b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(wire_spoilt(&a, bad[i].fn, &b) == -1 && b.custom_headers ==
		    NULL && b.id[0] == '\0', "wire: %s refused", bad[i].what);
	}
	ok(mh_event_unpack(&b, "", 0) == -1, "wire: nothing refused");
	mh_event_clear(&a);

	/* NULL and "" stay apart; no TLS sends no TLS strings */
	mh_event_init(&a, EV_DELIVERY);
	a.custom_headers = strdup("");
	strlcpy(a.tls.mx, "mx.example", sizeof(a.tls.mx));
	ok(wire_spoilt(&a, NULL, &b) == 0 && b.custom_headers != NULL &&
	    b.custom_headers[0] == '\0' && b.bounce_mime == NULL &&
	    !b.tls.present && b.tls.mx[0] == '\0' && json_same(&a, &b),
	    "wire: empty custom headers kept, no bounce, no TLS");
	mh_event_clear(&b);
	mh_event_clear(&a);

	/* what the packer will not send (hookd would refuse it) */
	fill(&a);
	strlcpy(a.recipient, "a@b\r\nX-Evil: 1", sizeof(a.recipient));
	ok(mh_event_pack(&a, &len) == NULL, "wire: CRLF not packed");
	mh_event_clear(&a);
	fill(&a);
	free(a.custom_headers);
	a.custom_headers = strdup("no colon here\r\n");
	ok(mh_event_pack(&a, &len) == NULL,
	    "wire: custom headers that are not headers not packed");
	mh_event_clear(&a);
	fill(&a);
	a.code = 1000;
	ok(mh_event_pack(&a, &len) == NULL, "wire: code 1000 not packed");
	a.code = 250;
	free(a.bounce_mime);
	if ((a.bounce_mime = malloc(1024 * 1024 + 2)) != NULL) {
		memset(a.bounce_mime, 'x', 1024 * 1024 + 1);
		a.bounce_mime[1024 * 1024 + 1] = '\0';
	}
	ok(mh_event_pack(&a, &len) == NULL,
	    "wire: a bounce over 1 MiB not packed");
	a.bounce_mime[1024 * 1024] = '\0';
	buf = mh_event_pack(&a, &len);
	ok(buf != NULL && mh_event_unpack(&b, buf, len) == 0 &&
	    strlen(b.bounce_mime) == 1024 * 1024,
	    "wire: a bounce of 1 MiB goes whole");
	free(buf);
	mh_event_clear(&b);
	mh_event_clear(&a);
}

/* ids drawn from a pool of random bytes: a forked child draws its own */
static void
test_id_fork(void)
{
	struct event_record	 a, b;
	char			 child[EVENT_ID_LEN] = "";
	int			 fd[2], st, i, distinct = 1;
	char			 seen[300][EVENT_ID_LEN];
	pid_t			 pid;

	mh_event_init(&a, EV_CLICK);
	if (pipe(fd) == -1 || (pid = fork()) == -1)
		return;
	if (pid == 0) {
		mh_event_init(&b, EV_CLICK);
		(void)write(fd[1], b.id, sizeof(b.id));
		_exit(0);
	}
	close(fd[1]);
	(void)read(fd[0], child, sizeof(child));
	close(fd[0]);
	waitpid(pid, &st, 0);
	mh_event_init(&b, EV_CLICK);
	ok(strlen(child) == 36 && strcmp(child, b.id) != 0 &&
	    strcmp(child, a.id) != 0, "a forked child's next id is not the "
	    "parent's");
	/* more than one pool's worth (4 KiB: 256 ids) */
	for (i = 0; i < 300; i++) {
		mh_event_init(&a, EV_CLICK);
		memcpy(seen[i], a.id, sizeof(a.id));
	}
	for (i = 1; i < 300; i++)
		if (strcmp(seen[i], seen[i - 1]) == 0)
			distinct = 0;
	ok(distinct, "300 ids in a row, each new");
}

int
main(void)
{
	struct event_record	 a, b, c;
	json_t			*o;
	char			*s;
	size_t			 i;
	int			 hex;

	mh_event_init(&a, EV_DELIVERY);
	mh_event_init(&b, EV_DELIVERY);
	is_int(strlen(a.id), 36, "id has 36 characters");
	ok(a.id[8] == '-' && a.id[13] == '-' && a.id[18] == '-' &&
	    a.id[23] == '-', "id is uuid-like");
	hex = 1;
	for (i = 0; i < 36; i++)
		if (a.id[i] != '-' && strchr("0123456789abcdef", a.id[i]) == NULL)
			hex = 0;
	ok(hex, "id is lower-case hex");
	ok(strcmp(a.id, b.id) != 0, "two ids differ");
	ok(a.time > 1600000000, "time is now");
	ok(a.kind == EV_DELIVERY, "kind set");
	mh_event_clear(&a);
	mh_event_clear(&b);

	fill(&a);
	o = mh_event_to_json(&a);
	ok(o != NULL, "to_json");
	is_str(json_string_value(json_object_get(o, "kind")), "bounce",
	    "kind is a name");
	ok(mh_event_from_json(&b, o) == 0, "from_json round trip");
	is_str(b.id, a.id, "id kept");
	ok(b.kind == EV_BOUNCE && b.time == a.time, "kind and time kept");
	is_str(b.queue_id, a.queue_id, "queue_id");
	is_str(b.message_id, a.message_id, "message_id");
	is_str(b.recipient, a.recipient, "recipient");
	is_str(b.sender, a.sender, "sender");
	is_str(b.stage, a.stage, "stage");
	is_int(b.code, 550, "code");
	is_str(b.extended, "5.1.1", "extended");
	is_str(b.description, a.description, "description (UTF-8)");
	is_str(b.tags, "a,b", "tags");
	is_str(b.group, "Test Group", "group");
	is_str(b.transaction, "321", "transaction");
	is_str(b.custom_headers, a.custom_headers, "custom_headers");
	is_str(b.subject, "Hello", "subject");
	is_str(b.bounce_type, "hard", "bounce_type");
	is_str(b.bounce_reason, "Policy-Related", "bounce_reason");
	is_str(b.bounce_mime, a.bounce_mime, "bounce_mime");
	ok(b.tls.present && b.tls.verified, "tls: present, verified");
	is_str(b.tls.version, "TLSv1.3", "tls version");
	is_str(b.tls.cipher, a.tls.cipher, "tls cipher");
	is_str(b.tls.policy, "dane", "tls policy");
	is_str(b.tls.mx, "mx.example.net", "tls mx");
	is_str(b.tls.spki, a.tls.spki, "tls peer_spki_sha256");
	ok(decode_with("tls", json_pack("{s:s}", "mx", "a\r\nb")) == -1,
	    "tls: CR LF in mx refused");
	ok(decode_with("tls", json_pack("{s:i}", "verified", 7)) == -1,
	    "tls: verified not a boolean refused");
	ok(decode_with("tls", json_string("dane")) == -1,
	    "tls: not an object refused");
	ok(decode_with("tls", json_pack("{s:o}", "version", json_null())) == 0,
	    "tls: null version (plain text) accepted");
	is_str(b.link, a.link, "link");
	ok(b.unique_open == 1 && b.async == 1, "flags");
	mh_event_clear(&b);
	ok(b.custom_headers == NULL && b.bounce_mime == NULL,
	    "mh_event_clear frees");
	s = json_dumps(o, 0);
	ok(decode_str(s, &c) == 0, "text round trip");
	mh_event_clear(&c);
	free(s);
	json_decref(o);
	mh_event_clear(&a);

	/* minimal */
	ok(decode_str("{\"id\":\"0fd1b1a2-1111-4222-8333-444455556666\","
	    "\"kind\":\"delivery\",\"time\":1700000000}", &c) == 0,
	    "minimal record accepted");
	ok(c.custom_headers == NULL && c.recipient[0] == '\0', "defaults empty");
	mh_event_clear(&c);

	/* strictness */
	ok(decode_str("[]", &c) == -1, "array refused");
	ok(decode_str("{\"id\":\"0fd1b1a2-1111-4222-8333-444455556666\","
	    "\"kind\":\"nosuch\",\"time\":1}", &c) == -1, "unknown kind refused");
	ok(decode_str("{\"id\":\"0fd1b1a2-1111-4222-8333-444455556666\","
	    "\"kind\":\"delivery\"}", &c) == -1, "missing time refused");
	ok(decode_str("{\"id\":\"../../etc/passwd-1111-4222-8333-4444555\","
	    "\"kind\":\"delivery\",\"time\":1}", &c) == -1, "bad id refused");
	ok(decode_str("{\"kind\":\"delivery\",\"time\":1}", &c) == -1,
	    "missing id refused");
	ok(decode_with("code", json_string("550")) == -1, "string code refused");
	ok(decode_with("code", json_integer(1000)) == -1, "code > 999 refused");
	ok(decode_with("recipient", json_integer(1)) == -1,
	    "integer recipient refused");
	ok(decode_with("recipient", json_string("a@b\r\nX-Evil: 1")) == -1,
	    "CRLF in recipient refused");
	ok(decode_with("description", json_stringn("a\0b", 3)) == -1,
	    "NUL in description refused");
	ok(decode_with("subject", json_string("a\nb")) == -1,
	    "LF in subject refused");
	ok(decode_with("stage", json_string("rc pt")) == -1,
	    "space in stage refused");
	ok(decode_with("extended", json_string("5.1.1.1.1.1.1.1.1.1")) == -1,
	    "overlong extended refused");
	ok(decode_with("custom_headers", json_string("X-A: 1\nX-B: 2")) == -1,
	    "bare LF in custom_headers refused");
	ok(decode_with("custom_headers", json_string("X-A: 1\r\nnocolon\r\n"))
	    == -1, "header line without colon refused");
	ok(decode_with("custom_headers", json_string("X-A: 1\r\n\r\nbody"))
	    == -1, "empty line in custom_headers refused");
	ok(decode_with("custom_headers", json_string("X-A: 1\r\nX-B: 2")) == 0,
	    "last header without CRLF accepted");
	ok(decode_with("bounce_mime", json_stringn("a\0b", 3)) == -1,
	    "NUL in bounce_mime refused");
	ok(decode_with("async", json_string("yes")) == -1,
	    "string flag refused");
	ok(decode_with("async", json_integer(1)) == 0, "integer flag accepted");
	ok(decode_with("future_field", json_string("x")) == 0,
	    "unknown key ignored");

	test_track();
	test_wire();
	test_id_fork();
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * event record: ids, JSON round trip, strict decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

	return (tap_done());
}

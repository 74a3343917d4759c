/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking tokens: round trip, key rotation, and refusal of anything
 * tampered, truncated, oversized or signed by an unknown key.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "token.h"
#include "tap.h"

static struct token
click(void)
{
	struct token	 t;

	memset(&t, 0, sizeof(t));
	t.kind = TOKEN_CLICK;
	strlcpy(t.queue_id, "0123456789abcdef", sizeof(t.queue_id));
	strlcpy(t.recipient, "bob@example.net", sizeof(t.recipient));
	strlcpy(t.domain, "example.com", sizeof(t.domain));
	t.link = 7;
	strlcpy(t.url, "https://shop.example.com/a?b=c&d=e#f", sizeof(t.url));
	return (t);
}

int
main(void)
{
	struct token_key	 k1, k2, k3;
	struct token_keys	 ks, old;
	struct token		 t, d;
	char			 buf[TOKEN_STR_MAX], bad[TOKEN_STR_MAX];
	size_t			 i, len;
	int			 n, flips = 0, refused = 0;

	ok(token_key_from_secret(&k1, "short") == -1, "short secret refused");
	ok(token_key_from_secret(&k1, "first secret of sixteen+") == 0, "key 1");
	ok(token_key_from_secret(&k2, "second secret of sixteen+") == 0, "key 2");
	ok(token_key_from_secret(&k3, "third secret, never given") == 0, "key 3");
	ok(k1.id != k2.id, "key ids differ");
	memset(&ks, 0, sizeof(ks));
	memset(&old, 0, sizeof(old));
	ok(token_keys_add(&ks, &k2) == 0 && token_keys_add(&ks, &k1) == 0,
	    "current key 2, previous key 1");
	ok(token_keys_add(&ks, &k1) == 0 && ks.count == 2, "same key once");
	for (i = 0; i < 100; i++) {
		struct token_key kk;
		char s[64];
		snprintf(s, sizeof(s), "filler key number %zu....", i);
		token_key_from_secret(&kk, s);
		token_keys_add(&old, &kk);
	}
	ok(token_keys_add(&old, &k3) == 0 && old.count == 101 &&
	    memcmp(old.key[100].key, k3.key, TOKEN_KEY_LEN) == 0 &&
	    memcmp(old.key[0].key, old.key[99].key, TOKEN_KEY_LEN) != 0,
	    "as many keys as there are (101), none lost as they grow");
	token_keys_clear(&old);
	ok(old.count == 0 && old.key == NULL, "cleared: no key left");
	token_keys_add(&old, &k1);

	t = click();
	n = token_encode(&t, &k1, buf, sizeof(buf));
	ok(n > 0 && (size_t)n == strlen(buf), "encode click (%d chars)", n);
	ok(strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == strlen(buf), "base64url, no padding");
	ok(token_decode(buf, &old, &d) == 0, "decode with the same key");
	is_int(d.kind, TOKEN_CLICK, "kind");
	is_str(d.queue_id, "0123456789abcdef", "queue id");
	is_str(d.recipient, "bob@example.net", "recipient");
	is_str(d.domain, "example.com", "domain");
	is_int(d.link, 7, "link index");
	is_str(d.url, t.url, "url");
	ok(d.issued > 1700000000 && d.issued <= time(NULL), "issued now");
	ok(token_decode(buf, &ks, &d) == 0, "old key still accepted after rotation");

	memset(&d, 0, sizeof(d));
	ok(token_decode(buf, &(struct token_keys){ &k3, 1, 1 }, &d) == -1,
	    "unknown key refused");
	ok(d.url[0] == '\0', "nothing filled on failure");

	/* every single-character change is refused */
	len = strlen(buf);
	for (i = 0; i < len; i++) {
		memcpy(bad, buf, len + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		flips++;
		if (token_decode(bad, &ks, &d) == -1)
			refused++;
	}
	is_int(refused, flips, "every tampered character refused");
	for (i = refused = 0; i < len; i++) {
		memcpy(bad, buf, i);
		bad[i] = '\0';
		if (token_decode(bad, &ks, &d) == -1)
			refused++;
	}
	is_int(refused, (int)len, "every truncation refused");
	memcpy(bad, buf, len);
	memcpy(bad + len, "AA", 3);
	ok(token_decode(bad, &ks, &d) == -1, "appended bytes refused");
	memset(bad, 'A', sizeof(bad) - 1);
	bad[sizeof(bad) - 1] = '\0';
	ok(token_decode(bad, &ks, &d) == -1, "oversized refused");
	ok(token_decode("", &ks, &d) == -1, "empty refused");
	memcpy(bad, buf, len + 1);
	bad[3] = '=';
	ok(token_decode(bad, &ks, &d) == -1, "non-base64url refused");

	/* the comment form: '.' for '-', the same token (the first second
	 * whose token has a "--": a fixed search, the same each run) */
	t = click();
	for (t.issued = 1; t.issued < 100000; t.issued++)
		if (token_encode(&t, &k2, buf, sizeof(buf)) > 0 &&
		    strstr(buf, "--") != NULL)
			break;
	ok(strstr(buf, "--") != NULL, "a token with \"--\" (issued %lld)",
	    (long long)t.issued);
	memcpy(bad, buf, sizeof(bad));
	token_comment_form(bad);
	ok(strchr(bad, '-') == NULL && strlen(bad) == strlen(buf),
	    "its comment form: no '-', the same length");
	ok(token_decode(bad, &ks, &d) == 0 && d.issued == t.issued &&
	    strcmp(d.url, t.url) == 0, "the comment form decodes the same");

	/* open and unsubscribe: no url, link 0 */
	t = click();
	t.kind = TOKEN_OPEN;
	ok(token_encode(&t, &k2, buf, sizeof(buf)) == -1, "open with url refused");
	t.url[0] = '\0';
	t.link = 0;
	t.issued = 1234567890;
	n = token_encode(&t, &k2, buf, sizeof(buf));
	ok(n > 0 && n < 120, "open token is short (%d)", n);
	ok(token_decode(buf, &ks, &d) == 0 && d.kind == TOKEN_OPEN, "open");
	is_int(d.issued, 1234567890, "issued as given");
	t.kind = TOKEN_UNSUBSCRIBE;
	ok(token_encode(&t, &k2, buf, sizeof(buf)) > 0 &&
	    token_decode(buf, &ks, &d) == 0 && d.kind == TOKEN_UNSUBSCRIBE &&
	    strcmp(d.domain, "example.com") == 0, "unsubscribe");
	ok(token_encode(&t, &k2, buf, 20) == -1, "small buffer refused");

	/* bad fields never make a token */
	t = click();
	strlcpy(t.url, "javascript:alert(1)", sizeof(t.url));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1, "non-http url refused");
	t = click();
	strlcpy(t.url, "https://a.example/\r\nX: y", sizeof(t.url));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1, "CRLF url refused");
	t = click();
	strlcpy(t.recipient, "bob", sizeof(t.recipient));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1, "recipient without @");
	/* an SMTPUTF8 recipient (RFC 6531): printable UTF-8 only */
	t = click();
	strlcpy(t.recipient, "jos\xc3\xa9@b\xc3\xbc" "cher.example",
	    sizeof(t.recipient));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) > 0 &&
	    token_decode(buf, &ks, &d) == 0 &&
	    strcmp(d.recipient, t.recipient) == 0, "UTF-8 recipient");
	strlcpy(t.recipient, "jos\xe9@example.net", sizeof(t.recipient));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1,
	    "recipient not UTF-8 refused");
	strlcpy(t.recipient, "jos\xc2\x9b@example.net", sizeof(t.recipient));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1,
	    "recipient with a C1 control refused");
	t = click();
	strlcpy(t.domain, "b\xc3\xbc" "cher.example", sizeof(t.domain));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1,
	    "UTF-8 domain refused (a tracked domain is ASCII)");
	t = click();
	strlcpy(t.queue_id, "0123456789abcdeX", sizeof(t.queue_id));
	ok(token_encode(&t, &k1, buf, sizeof(buf)) == -1, "bad queue id");

	/* the longest URL fits TOKEN_STR_MAX */
	t = click();
	memset(t.url, 'a', sizeof(t.url) - 1);
	memcpy(t.url, "https://x.example/", 18);
	t.url[sizeof(t.url) - 1] = '\0';
	n = token_encode(&t, &k1, buf, sizeof(buf));
	ok(n > 0 && n < TOKEN_STR_MAX, "longest url fits (%d < %d)", n,
	    TOKEN_STR_MAX);
	ok(token_decode(buf, &ks, &d) == 0 && strcmp(d.url, t.url) == 0,
	    "longest url round trip");
	return (tap_done());
}

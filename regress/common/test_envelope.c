/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * envelope codec: round trip, strictness, unsafe fields.
 */
#include <sys/wait.h>

#include <seccomp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "tap.h"

/*
 * Queue ids come from a pool of random bytes: after the first, a new id
 * makes no system call (libbsd's arc4random_buf made a getpid(2) each
 * time).  A child whose getpid kills it makes 100 ids; a forked child's
 * first id differs from the parent's next one (the pool is forgotten).
 */
static void
check_id_pool(void)
{
	char		 id[MH_MSGID_LEN], first[MH_MSGID_LEN];
	char		 child[MH_MSGID_LEN];
	scmp_filter_ctx	 sc;
	int		 i, st, p[2];
	pid_t		 pid;

	if ((pid = fork()) == 0) {
		envelope_new_id(id);
		if ((sc = seccomp_init(SCMP_ACT_ALLOW)) == NULL ||
		    seccomp_rule_add(sc, SCMP_ACT_KILL_PROCESS,
		    SCMP_SYS(getpid), 0) < 0 || seccomp_load(sc) < 0)
			_exit(2);
		for (i = 0; i < 100; i++)
			envelope_new_id(id);
		_exit(0);
	}
	ok(pid != -1 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "100 new ids without a system call");

	envelope_new_id(first);
	if (pipe(p) == -1)
		return;
	if ((pid = fork()) == 0) {
		envelope_new_id(child);
		_exit(write(p[1], child, sizeof(child)) == sizeof(child) ? 0 :
		    1);
	}
	close(p[1]);
	envelope_new_id(id);
	ok(pid != -1 && read(p[0], child, sizeof(child)) == sizeof(child) &&
	    strcmp(child, id) != 0 && strcmp(child, first) != 0,
	    "a forked child draws its own ids");
	close(p[0]);
	waitpid(pid, &st, 0);
}

static void
fill(struct envelope *env)
{
	struct envelope_rcpt	*r;

	envelope_init(env);
	strlcpy(env->id, "0123456789abcdef", sizeof(env->id));
	env->created = 1700000000;
	strlcpy(env->sender, "alice@example.com", sizeof(env->sender));
	strlcpy(env->helo, "client.example.com", sizeof(env->helo));
	strlcpy(env->remote_ip, "192.0.2.1", sizeof(env->remote_ip));
	strlcpy(env->spf_result, "pass", sizeof(env->spf_result));
	env->tls = 1;
	strlcpy(env->tls_version, "TLSv1.3", sizeof(env->tls_version));
	env->size_declared = -1;
	env->size = 12345;
	env->body_8bit = 1;
	strlcpy(env->dsn_ret, "HDRS", sizeof(env->dsn_ret));
	strlcpy(env->tags, "a,b c", sizeof(env->tags));
	strlcpy(env->subject, "Gr\xc3\xbc\xc3\x9f" "e  with  spaces ",
	    sizeof(env->subject));
	strlcpy(env->from_domain, "example.com", sizeof(env->from_domain));
	env->tracked = 1;
	r = envelope_add_rcpt(env, "bob@example.net");
	strlcpy(r->orcpt, "rfc822;bob@example.net", sizeof(r->orcpt));
	r->notify = DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY;
	r->dest = DEST_RELAY;
	r->attempts = 3;
	r->next_try = 1700000600;
	strlcpy(r->lasterr, "450 4.2.0 mailbox busy", sizeof(r->lasterr));
	env->held = 1;
	r = envelope_add_rcpt(env, "carol@example.org");
	r->dest = DEST_ROUTE;
	r->route = 7;
	r->state = RS_DONE;
	r->fallback_again = 1;
	r->quarantined = 1;
	r->dsn_owed = DSN_OWED_FAILED;
	if ((r->dsn_what = strdup("550 5.1.1 7 10 mx.example.org 550 5.1.1 "
	    "no")) == NULL)
		abort();
}

/* e is encoded, and what was written decodes */
static int
roundtrips(const struct envelope *e)
{
	struct envelope	 d;
	char		*t;
	size_t		 len;
	int		 rv;

	if ((t = envelope_encode(e, &len)) == NULL)
		return (0);
	rv = envelope_decode(&d, t, len) == 0;
	envelope_clear(&d);
	free(t);
	return (rv);
}

static int
decodes(const char *text)
{
	struct envelope	 env;
	int		 rv;

	rv = envelope_decode(&env, text, strlen(text));
	envelope_clear(&env);
	return (rv);
}

/*
 * e, made out of range, is not encoded (the decoder would refuse it: an
 * envelope written so would not load at the next start), and
 * envelope_error() names key; e is filled again
 */
static void
refused(struct envelope *e, const char *key, const char *what)
{
	char	*t, msg[192];
	size_t	 len;

	t = envelope_encode(e, &len);
	snprintf(msg, sizeof(msg), "%s: refused by the encoder (%s)", what,
	    t == NULL ? envelope_error() : "written");
	ok(t == NULL && strncmp(envelope_error(), key, strlen(key)) == 0 &&
	    envelope_error()[strlen(key)] == ':', "%s", msg);
	free(t);
	envelope_clear(e);
	fill(e);
}

static void
check_refused(void)
{
	struct envelope	 e;

	fill(&e);
	e.rcpts[0].addr[0] = '\0';
	refused(&e, "rcpt", "an empty recipient");
	strlcpy(e.id, "0123456789ABCDEF", sizeof(e.id));
	refused(&e, "id", "an id not lower-case hex");
	strlcpy(e.id, "0123", sizeof(e.id));
	refused(&e, "id", "a short id");
	e.rcpts[1].notify = 0x10;
	refused(&e, "rcpt-notify", "NOTIFY past 0x0f");
	e.rcpts[1].notify = -1;
	refused(&e, "rcpt-notify", "a negative NOTIFY");
	e.held = 2;
	refused(&e, "held", "a flag 2");
	e.tls = -1;
	refused(&e, "tls", "a flag -1");
	e.rcpts[0].attempts = -1;
	refused(&e, "rcpt-attempts", "negative attempts");
	e.rcpts[0].next_try = -5;
	refused(&e, "rcpt-next-try", "a negative next try");
	e.created = -1;
	refused(&e, "created", "a negative creation time");
	e.size_declared = -2;
	refused(&e, "size-declared", "a SIZE= below -1");
	e.data_check = -7;
	refused(&e, "data-check", "a data check below -1");
	e.size = (size_t)LLONG_MAX + 1;
	refused(&e, "size", "a size past LLONG_MAX");
	/* in range at the limits: written, and loads */
	e.rcpts[1].notify = 0x0f;
	e.rcpts[0].route = UINT32_MAX;
	e.size_declared = -1;
	e.id[0] = '\0';
	ok(roundtrips(&e), "values at their limits are written and load");
	envelope_clear(&e);
}

#define HEAD	"mailhook-envelope 1\nid 0123456789abcdef\ncreated 5\nsender a@b\n"

/*
 * The DKIM verdicts load as they were written: an empty domain or
 * selector ("-" in the file) and one that is "-" (hookd's verdict keeps
 * d=- and s=-) or begins with '=' each come back as they were.
 */
static void
check_dkim(void)
{
	static const char	*w[][2] = {
		{ "example.com", "s1" }, { "", "" }, { "-", "-" },
		{ "-", "" }, { "", "-" }, { "=x", "==" },
	};
	struct envelope		 e, d;
	char			*t;
	size_t			 len, i, n = sizeof(w) / sizeof(w[0]);
	int			 same = 1;

	fill(&e);
	for (i = 0; i < n; i++) {
		strlcpy(e.dkim[i].result, "pass", sizeof(e.dkim[i].result));
		strlcpy(e.dkim[i].domain, w[i][0], sizeof(e.dkim[i].domain));
		strlcpy(e.dkim[i].selector, w[i][1],
		    sizeof(e.dkim[i].selector));
	}
	e.ndkim = n;
	t = envelope_encode(&e, &len);
	ok(t != NULL && envelope_decode(&d, t, len) == 0 && d.ndkim == n,
	    "DKIM verdicts encoded and decoded");
	for (i = 0; t != NULL && i < n && i < d.ndkim; i++)
		if (strcmp(d.dkim[i].domain, w[i][0]) != 0 ||
		    strcmp(d.dkim[i].selector, w[i][1]) != 0) {
			printf("# dkim %zu: \"%s\" \"%s\" loads as \"%s\" "
			    "\"%s\"\n", i, w[i][0], w[i][1], d.dkim[i].domain,
			    d.dkim[i].selector);
			same = 0;
		}
	ok(t != NULL && same, "each DKIM domain and selector loads as it "
	    "was (\"\", \"-\", \"=x\")");
	ok(t != NULL && strstr(t, "\ndkim pass - -\n") != NULL,
	    "an empty domain and selector are written \"-\" (as before)");
	if (t != NULL)
		envelope_clear(&d);
	free(t);
	envelope_clear(&e);
	ok(decodes(HEAD "dkim pass = s1\nrcpt x@y\n") == -1,
	    "a lone '=' for a domain is refused");
}


int
main(void)
{
	struct envelope	 a, b;
	char		*t, *t2, *big, id[MH_MSGID_LEN], id2[MH_MSGID_LEN];
	size_t		 len, len2, i, off;

	fill(&a);
	t = envelope_encode(&a, &len);
	ok(t != NULL, "encode");
	ok(strncmp(t, "mailhook-envelope 1\n", 20) == 0, "version line first");
	is_int(envelope_decode(&b, t, len), 0, "decode");
	is_str(b.id, a.id, "id");
	is_int(b.created, a.created, "created");
	is_str(b.sender, a.sender, "sender");
	is_str(b.subject, a.subject, "utf-8 subject with spaces kept");
	is_str(b.from_domain, "example.com", "from-domain kept");
	is_int(b.tracked, 1, "tracked kept");
	is_str(b.tags, "a,b c", "tags");
	is_int(b.size, 12345, "size");
	is_int(b.size_declared, -1, "size_declared -1");
	is_int(b.tls, 1, "tls");
	is_int(b.nrcpt, 2, "two rcpts");
	is_str(b.rcpts[0].orcpt, "rfc822;bob@example.net", "orcpt");
	is_int(b.rcpts[0].notify, DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY, "notify");
	is_int(b.rcpts[0].dest, DEST_RELAY, "dest relay");
	is_int(b.rcpts[0].attempts, 3, "attempts");
	is_int(b.rcpts[0].next_try, 1700000600, "next_try");
	is_int(b.rcpts[1].route, 7, "route");
	is_int(b.rcpts[1].state, RS_DONE, "state done");
	is_int(b.held, 1, "held kept (mhctl hold outlives a restart)");
	is_str(b.rcpts[0].lasterr, "450 4.2.0 mailbox busy", "last error kept");
	is_str(b.rcpts[1].lasterr, "", "no last error: none");
	is_int(b.rcpts[1].fallback_again, 1,
	    "a fallback to ask again kept (outlives a restart)");
	is_int(b.rcpts[0].fallback_again, 0, "none: none");
	ok(b.rcpts[1].quarantined == 1 && b.rcpts[0].quarantined == 0,
	    "a route's quarantine is its recipients' (outlives a restart)");
	ok(strstr(t, "rcpt-fallback again\n") != NULL &&
	    strstr(strstr(t, "rcpt-fallback") + 1, "rcpt-fallback") == NULL,
	    "rcpt-fallback written once, where set");
	ok(b.rcpts[1].dsn_owed == DSN_OWED_FAILED &&
	    strcmp(b.rcpts[1].dsn_what, a.rcpts[1].dsn_what) == 0 &&
	    b.rcpts[0].dsn_owed == 0 && b.rcpts[0].dsn_what == NULL,
	    "a DSN owed kept, with what it reports (outlives a restart)");
	ok(strstr(t, "\nrcpt-dsn-owed failed 550 5.1.1 ") != NULL &&
	    strstr(strstr(t, "rcpt-dsn-owed") + 1, "rcpt-dsn-owed") == NULL,
	    "rcpt-dsn-owed written once, where set");
	t2 = envelope_encode(&b, &len2);
	ok(t2 != NULL && len2 == len && memcmp(t, t2, len) == 0,
	    "re-encode is identical");
	free(t2);
	/* kept only while owed (a pointer, not 320 bytes a recipient) */
	envelope_dsn_clear(&b.rcpts[1]);
	ok(b.rcpts[1].dsn_owed == 0 && b.rcpts[1].dsn_what == NULL,
	    "envelope_dsn_clear: no DSN owed, nothing kept");
	b.rcpts[1].dsn_owed = DSN_OWED_RELAYED;
	ok(envelope_encode(&b, &len2) == NULL,
	    "a DSN owed without what it reports is not encoded");
	b.rcpts[1].dsn_owed = 0;
	envelope_clear(&b);

	/* null sender round trip */
	a.sender[0] = '\0';
	t2 = envelope_encode(&a, &len2);
	ok(t2 != NULL && envelope_decode(&b, t2, len2) == 0 &&
	    b.sender[0] == '\0', "null sender");
	free(t2);
	envelope_clear(&b);

	/* unsafe fields are refused by the encoder */
	strlcpy(a.subject, "evil\r\nrcpt x@y", sizeof(a.subject));
	ok(envelope_encode(&a, NULL) == NULL, "CRLF in subject refused");
	strlcpy(a.subject, "tab\there", sizeof(a.subject));
	ok(envelope_encode(&a, NULL) == NULL, "TAB refused");
	strlcpy(a.subject, "del\x7f", sizeof(a.subject));
	ok(envelope_encode(&a, NULL) == NULL, "DEL refused");
	strlcpy(a.subject, "ok", sizeof(a.subject));
	strlcpy(a.rcpts[0].addr, "x\ny@z", sizeof(a.rcpts[0].addr));
	ok(envelope_encode(&a, NULL) == NULL, "LF in rcpt refused");
	ok(envelope_add_rcpt(&a, "a\rb") == NULL, "add_rcpt refuses CR");
	envelope_clear(&a);

	ok(envelope_field_ok("h\xc3\xa9llo w"), "field_ok utf-8");
	ok(!envelope_field_ok("a\x01"), "field_ok control");

	/* decoder strictness */
	is_int(decodes(HEAD "rcpt x@y\n"), 0, "minimal envelope");
	is_int(decodes(HEAD "rcpt x@y"), 0, "no final newline");
	is_int(decodes("mailhook-envelope 2\nid 0123456789abcdef\n"
	    "created 5\nsender a@b\n"), -1, "wrong version");
	is_int(decodes("id 0123456789abcdef\ncreated 5\nsender a@b\n"), -1,
	    "no version line");
	is_int(decodes(""), -1, "empty");
	is_int(decodes(HEAD "bogus 1\n"), -1, "unknown key");
	is_int(decodes(HEAD "sender c@d\n"), -1, "duplicate sender");
	is_int(decodes("mailhook-envelope 1\nid 0123456789abcdef\nsender a@b\n"),
	    -1, "missing created");
	is_int(decodes("mailhook-envelope 1\ncreated 5\nsender a@b\n"), -1,
	    "missing id");
	is_int(decodes(HEAD "size -3\n"), -1, "negative size");
	is_int(decodes(HEAD "size 12x\n"), -1, "junk number");
	is_int(decodes(HEAD "size  12\n"), -1, "space in number");
	is_int(decodes(HEAD "size 99999999999999999999999\n"), -1,
	    "number overflow");
	is_int(decodes(HEAD "tls 2\n"), -1, "bool 2");
	is_int(decodes("mailhook-envelope 1\nid 0123456789ABCDEF\ncreated 5\n"
	    "sender a@b\n"), -1, "upper-case id");
	is_int(decodes("mailhook-envelope 1\nid ../../etc/pas\ncreated 5\n"
	    "sender a@b\n"), -1, "id with slashes");
	is_int(decodes(HEAD "rcpt-dest relay\n"), -1, "rcpt field before rcpt");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-fallback again\n"), 0,
	    "rcpt-fallback again");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-fallback later\n"), -1,
	    "rcpt-fallback: only again");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-fallback again\n"
	    "rcpt-fallback again\n"), -1, "rcpt-fallback twice");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-quarantined yes\n"), 0,
	    "rcpt-quarantined yes");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-quarantined no\n"), -1,
	    "rcpt-quarantined: only yes");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dsn-owed relayed 250 - 4 0 - ok\n"),
	    0, "rcpt-dsn-owed relayed");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dsn-owed delayed 450 - 4 0 - x\n"),
	    -1, "rcpt-dsn-owed: failed or relayed only");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dsn-owed failed\n"), -1,
	    "rcpt-dsn-owed: what it reports required");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dsn-owed failed 1\n"
	    "rcpt-dsn-owed failed 1\n"), -1, "rcpt-dsn-owed twice");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dest relay\nrcpt-dest route\n"), -1,
	    "duplicate rcpt field");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dest mars\n"), -1, "bad dest");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-bogus 1\n"), -1, "unknown rcpt key");
	is_int(decodes(HEAD "rcpt x@y\nhelo z\n"), -1, "singular after rcpt");
	is_int(decodes(HEAD "rcpt\n"), -1, "empty rcpt");
	is_int(decodes(HEAD "subject a\rb\n"), -1, "CR in value");
	is_int(decodes(HEAD "\n"), -1, "empty line");

	/* what the administrator is told of an envelope not understood */
	is_int(decodes(HEAD "future-field 1\n"), -1, "unknown key");
	is_str(envelope_error(), "line 5: future-field", "its line and key");
	is_int(decodes(HEAD "rcpt x@y\nrcpt-dest mars\n"), -1, "bad dest");
	is_str(envelope_error(), "line 6: rcpt-dest", "a bad value's key");
	is_int(decodes("mailhook-envelope 2\nid 0123456789abcdef\n"), -1,
	    "another version");
	is_str(envelope_error(),
	    "line 1: mailhook-envelope (want \"mailhook-envelope 1\")",
	    "the version line");
	is_int(decodes("mailhook-envelope 1\ncreated 5\nsender a@b\n"), -1,
	    "no id");
	is_str(envelope_error(), "no id line", "a missing required line");
	is_int(decodes(HEAD), 0, "valid");
	is_str(envelope_error(), "", "no error after a valid one");
	is_int(envelope_decode(&b, HEAD "helo a\0b\n", sizeof(HEAD) + 8), -1,
	    "NUL in text");
	envelope_clear(&b);

	/* overlong value */
	big = malloc(4096);
	off = snprintf(big, 4096, HEAD "dsn-ret ");
	memset(big + off, 'A', 20);
	big[off + 20] = '\0';
	is_int(decodes(big), -1, "overlong dsn-ret");
	off = snprintf(big, 4096, HEAD "helo ");
	memset(big + off, 'A', 3000);
	big[off + 3000] = '\0';
	is_int(decodes(big), -1, "overlong line");
	free(big);

	/* too many recipients */
	len = 20 * 10002 + 100;
	big = malloc(len);
	off = snprintf(big, len, HEAD);
	for (i = 0; i < 10001; i++)
		off += snprintf(big + off, len - off, "rcpt r%zu@x\n", i);
	is_int(decodes(big), -1, "10001 recipients refused");
	free(big);

	envelope_new_id(id);
	envelope_new_id(id2);
	ok(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16,
	    "new id is 16 hex digits");
	ok(strcmp(id, id2) != 0, "new ids differ");
	check_id_pool();
	check_refused();
	check_dkim();
	free(t);
	return (tap_done());
}

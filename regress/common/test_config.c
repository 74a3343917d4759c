/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Configuration: parse.y, defaults, macros, include, the JSON round trip,
 * the strict JSON decoder and config_load_files(), the JSON text wiped
 * (free() is this program's: it looks at what config_to_json_text frees).
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "hex.h"
#include "log.h"
#include "route.h"
#include "seal.h"
#include "freewatch.h"
#include "tap.h"

#define SECRET	"alice:$2b$12$secret-credentials-hash"

/*
 * free() is this program's, for the wipe checks: while wipe_marks is set
 * (test_wipe), a block freed with one of them in it is counted; while
 * watching (test_json_text_wiped), a freed copy of the JSON text ({"...)
 * holding SECRET is.  Either is a secret left in freed memory.  Not under
 * ASan, whose own free() this would bypass.
 */

#ifdef NO_FREE_WATCH
#define WIPE_CHECK	0
#else
#define WIPE_CHECK	1
static const char *const *wipe_marks;
static int		 wipe_found[8];
static int		 watching, text_secret;

void
free(void *p)
{
	size_t	 i, n;

	if (p != NULL && (wipe_marks != NULL || watching)) {
		n = malloc_usable_size(p);
		for (i = 0; wipe_marks != NULL && wipe_marks[i] != NULL; i++)
			if (memmem(p, n, wipe_marks[i],
			    strlen(wipe_marks[i])) != NULL)
				wipe_found[i]++;
		if (watching && n > 2 && memcmp(p, "{\"", 2) == 0 &&
		    memmem(p, n, SECRET, sizeof(SECRET) - 1) != NULL)
			text_secret++;
	}
	__libc_free(p);
}
#endif

static char	 dir[64];

static char	 errbuf[8192];

static const char full[] =
    "# a full configuration\n"
    "web = \"https://app.example.com\"\n"
    "n = 42\n"
    "flags = \"tls-require auth\"\n"
    "hostname \"mx.test.example\"\n"
    "resolver ::1 port 5353\n"
    "spool \"/tmp/spool\"\n"
    "control \"/tmp/ctl.sock\"\n"
    "credentials \"%s/passwd\"\n"
    "ca \"%s/ca.pem\"\n"
    "pki \"mx\" cert \"%s/mx.crt\" key \"%s/mx.key\"\n"
    "listen on 127.0.0.1 port 2525 tls pki \"mx\"\n"
    "listen on ::1 port 2587 $flags pki mx hostname \"sub.example\"\n"
    "listen on localhost port 2465 smtps auth-require pki \"mx\"\n"
    "limit message-size 10M\n"
    "limit recipients $n\n"
    "limit sessions 10\n"
    "limit sessions-per-ip 3\n"
    "limit idle-timeout 2m\n"
    "limit tls-handshake-timeout 15s\n"
    "limit greeting-delay 750ms\n"
    "limit session-timeout 10m\n"
    "limit errors 5\n"
    "spf reject fail\n"
    "allow private-addresses\n"
    "route \"Support@Example.COM\" {\n"
    "\turl \"https://app.example.com/in\"\n"
    "\tformat raw\n"
    "\tmode queue\n"
    "\tauthorize \"https://app.example.com/authz\" format xml timeout 5\n"
    "\terrors \"https://app.example.com/errors.json\"\n"
    "\theader \"Authorization\" \"Bearer xyz\"\n"
    "\theader \"X-Two\" \"2\"\n"
    "\tsecret \"whsec_c2VjcmV0\"\n"
    "\ttimeout 45s\n"
    "\tlifetime 2d\n"
    "\tconcurrency 3\n"
    "}\n"
    "route domain \"example.com\" { url \"https://a.example/x\" format multipart }\n"
    "route domain \"*.Example.net\" {\n\turl \"http://b.example/y\"\n}\n"
    "route any { url \"https://c.example/z\" \\\n"
    "    mode sync }\n"
    "relay from auth\n"
    "relay from 10.0.0.0/8\n"
    "relay from 2001:db8::/32\n"
    "relay via \"smtps://user:pa55@smart.example:465\"\n"
    "bounce domain \"bounces.example.com\"\n"
    "bounce dsn no\n"
    "queue lifetime 4d\n"
    "history 36h\n"
    "queue retry 1m to 2h\n"
    "limit domain \"example.net\" rate 100 per minute connections 5 tls require\n"
    "limit domain \"v.example\" tls verify\n"
    "limit sender-domain \"example.com\" rate 10000 per day\n"
    "dkim domain \"example.com\" selector \"s1\" key \"/k/s1.key\"\n"
    "events {\n"
    "\turl \"https://app.example.com/ev\"\n"
    "\tformat callback\n"
    "\tkinds delivery, bounce,unsubscribe\n"
    "\tsecret \"whsec_c2VjcmV0\"\n"
    "\theader \"Authorization\" \"Bearer ev\"\n"
    "\ttimeout 9\n"
    "\tbatch 7\n"
    "\twait 250ms\n"
    "}\n"
    "events { url \"https://app.example.com/all\" }\n"
    "tracking domain \"Example.COM\" {\n"
    "\turl \"https://t.example.com/\"\n"
    "\topens yes\n"
    "\tclicks no\n"
    "\tread 12s\n"
    "\tunsubscribe one-click\n"
    "\tsecret \"0123456789abcdef-tracking\"\n"
    "}\n";

static void
writefile(const char *name, const char *text, mode_t mode)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* parse dir/name with stderr captured into errbuf */
static struct config *
parse_capture(const char *name)
{
	struct config	*c;
	char		 path[PATH_MAX], epath[PATH_MAX];
	int		 saved, fd;
	ssize_t		 n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(epath, sizeof(epath), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(2);
	if ((fd = open(epath, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		fatal("%s", epath);
	dup2(fd, 2);
	c = config_parse(path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, errbuf, sizeof(errbuf) - 1);
	errbuf[n > 0 ? n : 0] = '\0';
	close(fd);
	return (c);
}

static struct config *
parse_text(const char *text)
{
	writefile("t.conf", text, 0644);
	return (parse_capture("t.conf"));
}

static void
test_defaults(void)
{
	struct config	*c;
	char		 host[MH_NAME_MAX];

	c = parse_text("# nothing but a comment\n\n");
	ok(c != NULL, "empty config parses");
	if (c == NULL)
		return;
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	is_str(c->hostname, host, "hostname defaults to gethostname()");
	is_str(c->resolver, "127.0.0.1", "default resolver");
	is_int(c->resolver_port, 53, "default resolver port");
	is_str(c->spool, "/var/spool/mailhook", "default spool");
	is_str(c->control, "/run/mailhook/mhctl.sock", "default control");
	is_int(c->max_message_size, 25 * 1024 * 1024, "default message-size");
	is_int(c->max_recipients, 100, "default recipients");
	is_int(c->max_sessions, 1024, "default sessions");
	is_int(c->max_sessions_per_ip, 64, "default sessions-per-ip");
	is_int(c->smtp_timeout, 300, "default idle timeout");
	is_int(c->tls_handshake_timeout, 30,
	    "default tls-handshake-timeout 30s");
	is_int(c->greeting_delay_ms, 0, "default greeting-delay 0");
	is_int(c->session_timeout, 3600, "default session-timeout 1h");
	is_int(c->max_errors, 10, "default errors 10");
	is_int(c->bounce_dsn, 1, "default bounce dsn");
	is_int(c->queue_lifetime, 5 * 86400, "default queue lifetime");
	is_int(c->history, 7 * 86400, "default history 7d");
	is_int(c->retry_min, 300, "default retry min");
	is_int(c->retry_max, 3600, "default retry max");
	is_int(c->allow_private, 0, "private addresses refused by default");
	is_str(c->relay_via, "", "relay via mx by default");
	is_str(c->cabundle, "", "no CA bundle looked up by config_new "
	    "(children run it under seccomp)");
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		ok(config_load_files(c) == 0 && c->cabundle_len > 0,
		    "config_load_files loads the system CA bundle");
		is_str(c->cabundle, "/etc/ssl/certs/ca-certificates.crt",
		    "system CA bundle by default");
	}
	ok(TAILQ_EMPTY(&c->listeners) && TAILQ_EMPTY(&c->routes) &&
	    TAILQ_EMPTY(&c->events), "no listeners, routes or events");
	config_free(c);
}

static void
check_full(const struct config *c)
{
	const struct listener	*l;
	const struct route	*r;
	const struct header	*h;
	const struct netaddr	*n;
	const struct domain_limit *d;
	const struct events_block *e;
	struct sockaddr_in	 sin;
	const struct sockaddr_in6 *sin6;

	is_str(c->hostname, "mx.test.example", "hostname");
	is_str(c->resolver, "::1", "resolver address");
	is_int(c->resolver_port, 5353, "resolver port");
	is_int(c->max_message_size, 10 * 1024 * 1024, "message-size 10M");
	is_int(c->max_recipients, 42, "recipients from a number macro");
	is_int(c->max_sessions, 10, "sessions");
	is_int(c->max_sessions_per_ip, 3, "sessions-per-ip");
	is_int(c->smtp_timeout, 120, "idle-timeout 2m");
	is_int(c->tls_handshake_timeout, 15, "tls-handshake-timeout 15s");
	is_int(c->greeting_delay_ms, 750, "greeting-delay 750ms");
	is_int(c->session_timeout, 600, "session-timeout 10m");
	is_int(c->max_errors, 5, "errors 5");
	ok(c->spf_reject_fail && c->allow_private, "spf reject fail, allow");

	l = config_listener(c, 1);
	ok(l != NULL, "listener 1 exists");
	if (l != NULL) {
		is_int(l->port, 2587, "listener 1 port");
		is_int(l->flags, LF_STARTTLS | LF_TLS_REQUIRE | LF_AUTH,
		    "flags from a multi-word macro");
		ok(l->npkis == 1, "one pki");
		is_str(l->pkis[0], "mx", "bare-word pki name");
		is_str(l->hostname, "sub.example", "listener hostname");
		sin6 = (const struct sockaddr_in6 *)&l->ss;
		ok(l->ss.ss_family == AF_INET6 &&
		    ntohs(sin6->sin6_port) == 2587 &&
		    l->sslen == sizeof(*sin6), "IPv6 sockaddr with port");
		is_int(l->fd, -1, "fd -1");
	}
	l = config_listener(c, 2);
	ok(l != NULL && l->ss.ss_family == AF_INET &&
	    ntohs(((const struct sockaddr_in *)&l->ss)->sin_port) == 2465 &&
	    ((const struct sockaddr_in *)&l->ss)->sin_addr.s_addr ==
	    htonl(INADDR_LOOPBACK) && (l->flags & LF_SMTPS) &&
	    (l->flags & LF_AUTH_REQUIRE), "localhost smtps listener");
	ok(config_listener(c, 3) == NULL, "no listener 3");
	ok(config_pki(c, "mx") != NULL && config_pki(c, "nope") == NULL,
	    "config_pki");

	r = config_route(c, 0);
	ok(r != NULL, "route 0");
	if (r != NULL) {
		is_int(r->match, ROUTE_ADDRESS, "address route");
		is_str(r->pattern, "support@example.com", "lower-cased");
		is_int(r->format, FORMAT_RAW, "format raw");
		is_int(r->mode, MODE_QUEUE, "mode queue");
		is_str(r->authorize, "https://app.example.com/authz",
		    "authorize url");
		is_int(r->authorize_format, AUTHZ_XML, "authorize format");
		is_int(r->authorize_timeout, 5, "authorize timeout");
		is_str(r->errors, "https://app.example.com/errors.json",
		    "errors url");
		h = TAILQ_FIRST(&r->headers);
		ok(h != NULL && strcmp(h->name, "Authorization") == 0 &&
		    strcmp(h->value, "Bearer xyz") == 0, "first header");
		h = h ? TAILQ_NEXT(h, entry) : NULL;
		ok(h != NULL && strcmp(h->name, "X-Two") == 0 &&
		    TAILQ_NEXT(h, entry) == NULL, "second header, no third");
		is_str(r->secret, "whsec_c2VjcmV0", "secret");
		is_int(r->timeout, 45, "timeout");
		is_int(r->lifetime, 2 * 86400, "lifetime 2d");
		is_int(r->concurrency, 3, "concurrency");
	}
	r = config_route(c, 1);
	ok(r != NULL && r->match == ROUTE_DOMAIN && r->format ==
	    FORMAT_MULTIPART && strcmp(r->pattern, "example.com") == 0 &&
	    r->timeout == 30 && r->lifetime == 3 * 86400 &&
	    r->concurrency == 8 && r->authorize[0] == '\0',
	    "one-line domain route with defaults");
	r = config_route(c, 2);
	ok(r != NULL && r->match == ROUTE_SUBDOMAINS &&
	    strcmp(r->pattern, "example.net") == 0, "*.domain route");
	r = config_route(c, 3);
	ok(r != NULL && r->match == ROUTE_ANY && r->pattern[0] == '\0' &&
	    strcmp(r->url, "https://c.example/z") == 0,
	    "route any, continued line");

	ok(c->relay_from_auth, "relay from auth");
	n = TAILQ_FIRST(&c->relay_from);
	ok(n != NULL && n->bits == 8 && strcmp(n->text, "10.0.0.0/8") == 0,
	    "relay from CIDR");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.8.7", &sin.sin_addr);
	ok(n != NULL && config_cidr_match(n, (struct sockaddr *)&sin),
	    "10.9.8.7 in 10.0.0.0/8");
	inet_pton(AF_INET, "11.0.0.1", &sin.sin_addr);
	ok(n != NULL && !config_cidr_match(n, (struct sockaddr *)&sin),
	    "11.0.0.1 not in 10.0.0.0/8");
	n = n ? TAILQ_NEXT(n, entry) : NULL;
	ok(n != NULL && n->bits == 32 && n->ss.ss_family == AF_INET6,
	    "IPv6 CIDR");
	is_str(c->relay_via, "smtps://user:pa55@smart.example:465",
	    "relay via smart host");
	is_str(c->bounce_domain, "bounces.example.com", "bounce domain");
	is_int(c->bounce_dsn, 0, "bounce dsn no");
	is_int(c->queue_lifetime, 4 * 86400, "queue lifetime");
	is_int(c->history, 36 * 3600, "history 36h");
	ok(c->retry_min == 60 && c->retry_max == 7200, "queue retry");
	d = TAILQ_FIRST(&c->domain_limits);
	ok(d != NULL && d->rate == 100 && d->per == RATE_MINUTE &&
	    d->connections == 5 && d->tls_require && !d->tls_verify,
	    "limit domain");
	d = d ? TAILQ_NEXT(d, entry) : NULL;
	ok(d != NULL && d->tls_verify && !d->tls_require && d->rate == 0,
	    "limit domain tls verify");
	ok(TAILQ_FIRST(&c->sender_limits) != NULL &&
	    TAILQ_FIRST(&c->sender_limits)->rate == 10000 &&
	    TAILQ_FIRST(&c->sender_limits)->per == RATE_DAY,
	    "limit sender-domain");
	ok(TAILQ_FIRST(&c->dkims) != NULL &&
	    strcmp(TAILQ_FIRST(&c->dkims)->selector, "s1") == 0, "dkim");

	e = TAILQ_FIRST(&c->events);
	ok(e != NULL, "events block");
	if (e != NULL) {
		is_str(e->url, "https://app.example.com/ev", "events url");
		is_int(e->format, EVFMT_CALLBACK, "events format");
		is_int(e->kinds, (1U << EV_DELIVERY) | (1U << EV_BOUNCE) |
		    (1U << EV_UNSUBSCRIBE), "kinds");
		ok(TAILQ_FIRST(&e->headers) != NULL, "events header");
		ok(e->timeout == 9 && e->batch_max == 7 &&
		    e->batch_wait == 250, "timeout, batch, wait 250ms");
		e = TAILQ_NEXT(e, entry);
		ok(e != NULL && e->id == 1 && e->kinds == EV_ALL &&
		    e->format == EVFMT_EVENTS && e->batch_max == 100 &&
		    e->batch_wait == 1000 && e->timeout == 30,
		    "second events block: defaults, all kinds");
	}
}

static void
check_tracking(const struct config *c, int key)
{
	const struct tracking	*t = config_tracking(c, "example.com");

	ok(t != NULL && config_tracking(c, "EXAMPLE.com") == t &&
	    config_tracking(c, "x.example.com") == NULL,
	    "tracking domain found by From: domain, any case, exactly");
	if (t == NULL)
		return;
	is_str(t->url, "https://t.example.com", "tracking url without '/'");
	ok(t->opens && !t->clicks && t->read == 12 && t->unsubscribe,
	    "opens yes, clicks no, read 12s, unsubscribe one-click");
	is_str(t->secret, key ? "0123456789abcdef-tracking" : "",
	    key ? "tracking secret with CONF_TRACKING_KEY" :
	    "no tracking secret without CONF_TRACKING_KEY");
}

static void
test_full(void)
{
	struct config	*c, *c2;
	char		 text[8192], *dump;
	json_t		*j1, *j2, *pub;

	snprintf(text, sizeof(text), full, dir, dir, dir, dir);
	c = parse_text(text);
	ok(c != NULL, "full config parses");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	is_str(errbuf, "", "no messages");
	check_full(c);
	check_tracking(c, 1);

	j1 = config_to_json(c, CONF_SECRETS);
	c2 = config_from_json(j1);
	ok(c2 != NULL, "config_from_json accepts config_to_json");
	if (c2 != NULL) {
		j2 = config_to_json(c2, CONF_SECRETS);
		ok(json_equal(j1, j2), "JSON round trip is lossless");
		json_decref(j2);
		check_full(c2);
		config_free(c2);
	}
	pub = config_to_json(c, 0);
	ok(json_object_get(json_array_get(json_object_get(pub, "routes"), 0),
	    "secret") == NULL, "no route secret without CONF_SECRETS");
	dump = json_dumps(pub, 0);
	ok(dump != NULL && strstr(dump, "Bearer") == NULL,
	    "no header values without CONF_SECRETS");
	ok(dump != NULL && strstr(dump, "pa55") == NULL,
	    "no relay password without CONF_SECRETS");
	free(dump);
	c2 = config_from_json(pub);
	ok(c2 != NULL, "public JSON still decodes");
	if (c2 != NULL)
		check_tracking(c2, 0);
	config_free(c2);
	json_decref(pub);
	pub = config_to_json(c, CONF_SECRETS);
	dump = json_dumps(pub, 0);
	ok(dump != NULL && strstr(dump, "abcdef-tracking") == NULL,
	    "CONF_SECRETS alone carries no tracking key");
	free(dump);
	json_decref(pub);
	pub = config_to_json(c, CONF_TRACKING_KEY);
	c2 = config_from_json(pub);
	ok(c2 != NULL, "JSON with the tracking key decodes");
	if (c2 != NULL)
		check_tracking(c2, 1);
	config_free(c2);
	json_decref(pub);
	json_decref(j1);
	config_free(c);
}

/* each member set to null, or removed, makes the decoder refuse */
static int	 mutations, accepted;

static void
mutate(json_t *root, json_t *node, const char *path)
{
	const char	*key;
	json_t		*v, *saved;
	struct config	*c;
	size_t		 i;
	char		 sub[512];

	if (json_is_array(node)) {
		json_array_foreach(node, i, v) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			mutate(root, v, sub);
		}
		return;
	}
	if (!json_is_object(node))
		return;
	json_object_foreach(node, key, v) {
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		saved = json_incref(v);
		json_object_set(node, key, json_null());
		mutations++;
		if ((c = config_from_json(root)) != NULL) {
			accepted++;
			printf("# accepted null at %s\n", sub);
			config_free(c);
		}
		json_object_set_new(node, key, json_integer(-5));
		mutations++;
		if ((c = config_from_json(root)) != NULL) {
			/* integers in range stay valid: only -5 for strings */
			if (!json_is_integer(saved)) {
				accepted++;
				printf("# accepted -5 at %s\n", sub);
			}
			config_free(c);
		}
		json_object_set(node, key, saved);
		json_decref(saved);
		mutate(root, v, sub);
	}
}

static void
test_json_strict(void)
{
	struct config	*c;
	char		 text[8192];
	json_t		*j, *bad;

	ok(config_from_json(NULL) == NULL, "NULL refused");
	bad = json_array();
	ok(config_from_json(bad) == NULL, "array refused");
	json_decref(bad);
	bad = json_object();
	ok(config_from_json(bad) == NULL, "empty object refused");
	json_decref(bad);

	snprintf(text, sizeof(text), full, dir, dir, dir, dir);
	if ((c = parse_text(text)) == NULL) {
		ok(0, "full config for mutations");
		return;
	}
	j = config_to_json(c, CONF_SECRETS);
	mutations = accepted = 0;
	mutate(j, j, "");
	ok(mutations > 200, "%d mutations tried", mutations);
	is_int(accepted, 0, "every wrong-typed member refused");

	json_object_set_new(json_array_get(json_object_get(j, "routes"), 0),
	    "format", json_string("yaml"));
	ok(config_from_json(j) == NULL, "unknown enum refused");
	json_object_set_new(json_array_get(json_object_get(j, "routes"), 0),
	    "format", json_string("json"));
	json_object_set_new(j, "max_recipients", json_integer(0));
	ok(config_from_json(j) == NULL, "out of range integer refused");
	json_object_set_new(j, "max_recipients", json_integer(100));
	json_array_append_new(json_object_get(j, "relay_from"),
	    json_string("10.1.0.0/8"));
	ok(config_from_json(j) == NULL, "bad CIDR refused");
	json_array_remove(json_object_get(j, "relay_from"), 2);
	json_object_set_new(j, "hostname", json_stringn("a\0b", 3));
	ok(config_from_json(j) == NULL, "NUL in string refused");
	bad = json_string("");
	json_object_set_new(j, "hostname", json_string(
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	ok(config_from_json(j) == NULL, "over-long string refused");
	json_decref(bad);
	json_object_set_new(j, "hostname", json_string("ok.example"));
	json_array_append_new(json_object_get(
	    json_array_get(json_object_get(j, "events"), 0), "kinds"),
	    json_string("nope"));
	ok(config_from_json(j) == NULL, "unknown event kind refused");
	json_decref(j);
	config_free(c);
}

/*
 * The escapes of a quoted string, as mailhook.conf.5 lists them: \" (or
 * \' in single quotes) is the quote, \\ one backslash, a backslash
 * before a newline joins the lines; any other backslash is kept.
 */
static void
test_string_escapes(void)
{
	struct config	*c;
	struct route	*r;
	struct header	*h, *h2;

	c = parse_text("route \"a@b.test\" {\n"
	    "\turl \"http://127.0.0.1:9/a\"\n"
	    "\theader \"X-A\" \"q\\\"b\\\\s\\n\\'x\"\n"
	    "\theader \"X-B\" 'q\\'b\\\\s\\\"x\\\nj'\n"
	    "}\n");
	r = c != NULL ? TAILQ_FIRST(&c->routes) : NULL;
	h = r != NULL ? TAILQ_FIRST(&r->headers) : NULL;
	h2 = h != NULL ? TAILQ_NEXT(h, entry) : NULL;
	ok(h != NULL && strcmp(h->value, "q\"b\\s\\n\\'x") == 0,
	    "double quotes: \\\" a quote, \\\\ a backslash, others kept "
	    "(%s)", h != NULL ? h->value : errbuf);
	ok(h2 != NULL && strcmp(h2->value, "q'b\\s\\\"xj") == 0,
	    "single quotes: \\' a quote, \\\\ a backslash, a backslash-"
	    "newline joins (%s)", h2 != NULL ? h2->value : errbuf);
	config_free(c);

	/*
	 * a comment runs to the end of its line, a backslash there too:
	 * the statement on the next line was read as part of the comment
	 */
	c = parse_text("# C:\\mail\\\n"
	    "hostname \"a.example\"\n"
	    "limit errors 7 # see below \\\r\n"
	    "limit recipients 5\n"
	    "route any {\n"
	    "\t# a comment in a block \\\n"
	    "\turl \"http://127.0.0.1:9/a\"\n"
	    "}\n"
	    "route domain \"b.example\"\n"
	    "# before the brace \\\n"
	    "{\n"
	    "\turl \"http://127.0.0.1:9/b\"\n"
	    "}\n");
	ok(c != NULL && strcmp(c->hostname, "a.example") == 0,
	    "a backslash ending a comment joins no line to it (%s)",
	    c != NULL ? c->hostname : errbuf);
	ok(c != NULL && c->max_errors == 7 && c->max_recipients == 5,
	    "a backslash ending a comment after a statement, CRLF, joins no "
	    "line either");
	config_free(c);
}

static void
test_macros_include(void)
{
	struct config	*c;

	writefile("inc/routes.conf",
	    "route domain \"inc.example\" { url $u }\n", 0644);
	c = parse_text(
	    "u = \"https://inc.example/hook\"\n"
	    "include \"inc/routes.conf\"\n"
	    "u = \"https://later.example/\"\n"
	    "route any { url $u }\n");
	ok(c != NULL, "include with a macro from the includer");
	if (c != NULL) {
		ok(config_route(c, 0) != NULL && strcmp(config_route(c,
		    0)->url, "https://inc.example/hook") == 0,
		    "included route");
		ok(config_route(c, 1) != NULL && strcmp(config_route(c,
		    1)->url, "https://later.example/") == 0,
		    "macro redefined after include");
		config_free(c);
	}

	writefile("inc/bad.conf", "\n  route any { url \"ftp://x\" }\n",
	    0644);
	c = parse_text("include \"inc/bad.conf\"\nlimit recipients 0\n");
	ok(c == NULL, "error in an included file");
	ok(strstr(errbuf, "inc/bad.conf:2:19: url \"ftp://x\" is not an "
	    "http:// or https:// URL") != NULL, "names the included file");
	ok(strstr(errbuf, "t.conf:2:18: recipients 0 out of range") != NULL,
	    "and goes on in the includer");

	writefile("inc/loop.conf", "include \"loop.conf\"\n", 0644);
	c = parse_text("include \"inc/loop.conf\"\n");
	ok(c == NULL && strstr(errbuf, "include loop") != NULL,
	    "include loop detected");

	c = parse_text("x = \"$y\"\nlimit recipients \"$x\"\n");
	ok(c == NULL, "no expansion inside quotes");
	c = parse_text("listen on 127.0.0.1 port $p\n");
	ok(c == NULL && strstr(errbuf, "t.conf:1:26: macro \"p\" is not "
	    "defined") != NULL, "undefined macro");
	c = parse_text("a = \"$a\"\nlimit recipients $a\n");
	ok(c == NULL, "self-referencing macro does not loop");
	test_string_escapes();
}

static void
test_errors(void)
{
	struct config	*c;
	int		 lines = 0;
	char		*s;

	c = parse_text(
	    "hostname \"ok.example\"\n"
	    "bogus 1\n"
	    "limit recipients 0\n"
	    "route \"a@example.com\" {\n"
	    "\tformat yaml\n"
	    "}\n"
	    "listen on 127.0.0.1 port 70000\n");
	ok(c == NULL, "config with errors refused");
	for (s = errbuf; (s = strchr(s, '\n')) != NULL; s++)
		lines++;
	is_int(lines, 5, "every error reported");
	ok(strstr(errbuf, "t.conf:2:1: unknown keyword \"bogus\"") != NULL,
	    "unknown keyword");
	ok(strstr(errbuf, "t.conf:5:9: unknown format \"yaml\"") != NULL,
	    "unknown format");
	ok(strstr(errbuf, "t.conf:4:1: route without url") != NULL,
	    "route without url");
	ok(strstr(errbuf, "t.conf:7:26: port 70000 out of range") != NULL,
	    "port out of range");
	ok(config_parse("/nonexistent/mailhook.conf") == NULL,
	    "missing file");
}

/* a file that ends inside a block leaves nothing to the next one read */
static void
test_parse_fresh(void)
{
	struct config	*c;

	c = parse_text(
	    "tracking domain \"t.example.com\" {\n"
	    "\turl \"https://t.example.com/\"\n");
	ok(c == NULL && strstr(errbuf, "t.conf:1:33: missing '}'") != NULL,
	    "tracking block without its '}' refused");
	c = parse_text(
	    "cluster {\n"
	    "\tbogus \"x\"\n"
	    "}\n");
	ok(c == NULL, "cluster block with an unknown word refused");
	ok(strstr(errbuf, "unknown keyword \"bogus\" in a cluster block") !=
	    NULL, "after a file that ended in a tracking block, a cluster "
	    "block is named so");
	if (strstr(errbuf, "in a cluster block") == NULL)
		printf("# %s", errbuf);
}

/* a size's suffix K, M or G in either case; no other letter */
static void
test_size_suffix(void)
{
	struct config	*c;

	c = parse_text("limit message-size 1g\nlimit min-data-rate 1k\n"
	    "limit mime-header-size 2m\n");
	ok(c != NULL, "size suffixes g, k and m");
	if (c != NULL) {
		is_int(c->max_message_size, 1024 * 1024 * 1024, "1g is 1G");
		is_int(c->min_data_rate, 1024, "1k is 1K");
		is_int(c->mime_header_size, 2 * 1024 * 1024, "2m is 2M");
		config_free(c);
	}
	c = parse_text("limit message-size 1G\nlimit min-data-rate 1K\n"
	    "limit mime-header-size 2M\n");
	ok(c != NULL && c->max_message_size == 1024 * 1024 * 1024 &&
	    c->min_data_rate == 1024 && c->mime_header_size == 2 * 1024 * 1024,
	    "size suffixes G, K and M");
	config_free(c);
	c = parse_text("limit message-size 25t\n");
	ok(c == NULL && strstr(errbuf, "t.conf:1:20: bad size suffix \"t\" "
	    "(use K, M or G)") != NULL, "size suffix t refused");
	config_free(c);
}

/* limit greeting-delay, session-timeout and errors: units and ranges */
static void
test_smtp_limits(void)
{
	struct config	*c;
	json_t		*j;
	int		 lines = 0, dups = 0;
	char		*s, *e;

	c = parse_text("limit greeting-delay 2s\nlimit session-timeout 1d\n"
	    "limit errors 1000\n");
	ok(c != NULL, "greeting-delay 2s, session-timeout 1d, errors 1000");
	if (c != NULL) {
		is_int(c->greeting_delay_ms, 2000, "greeting-delay 2s is 2000 ms");
		is_int(c->session_timeout, 86400, "session-timeout 1d");
		is_int(c->max_errors, 1000, "errors 1000");
		config_free(c);
	}
	c = parse_text("limit greeting-delay 0\nlimit session-timeout 1\n"
	    "limit errors 1\n");
	ok(c != NULL && c->greeting_delay_ms == 0 && c->session_timeout == 1 &&
	    c->max_errors == 1, "lower bounds; a bare number is seconds");
	config_free(c);
	c = parse_text("limit greeting-delay 1\nlimit greeting-delay 0\n");
	ok(c == NULL && strstr(errbuf, "t.conf:2:7: duplicate limit "
	    "greeting-delay (first defined at ") != NULL,
	    "a limit given twice is refused, not the last one winning");
	config_free(c);
	c = parse_text("limit greeting-delay 60s\n");
	ok(c != NULL && c->greeting_delay_ms == 60000, "greeting-delay 60s");
	config_free(c);
	/* a message holds 10000 recipients: more were taken at RCPT, then
	 * the message got 554 at DATA */
	c = parse_text("limit recipients 50000\n");
	ok(c != NULL && c->max_recipients == 10000 && strstr(errbuf,
	    "t.conf:1:18: warning: limit recipients 50000: a message holds "
	    "at most 10000 recipients, so 10000 are taken") != NULL,
	    "limit recipients past what a message holds: 10000, a warning "
	    "(%s)", errbuf);
	config_free(c);
	c = parse_text("limit recipients 10000\n");
	ok(c != NULL && c->max_recipients == 10000 && errbuf[0] == '\0',
	    "limit recipients 10000 taken as it is, no warning");
	config_free(c);

	c = parse_text(
	    "limit greeting-delay 61s\n"
	    "limit greeting-delay 2h\n"
	    "limit session-timeout 0\n"
	    "limit session-timeout 2d\n"
	    "limit session-timeout 500ms\n"
	    "limit errors 0\n"
	    "limit errors 1001\n"
	    "limit errors 5s\n"
	    "limit errors\n");
	ok(c == NULL, "out of range SMTP limits refused");
	for (s = errbuf; (e = strchr(s, '\n')) != NULL; s = e + 1) {
		if (memmem(s, e - s, "duplicate", 9) != NULL)
			dups++;
		else
			lines++;
	}
	is_int(lines, 9, "one error per bad limit");
	/* and the second and later of each (not the incomplete one) */
	is_int(dups, 5, "limits given again are duplicates");
	ok(strstr(errbuf, "t.conf:1:22: greeting-delay 61s is too long: "
	    "at most 60s") != NULL, "greeting-delay over 60 s");
	ok(strstr(errbuf, "t.conf:2:22: bad time suffix \"h\" (use ms, s or "
	    "m)") != NULL, "greeting-delay suffix");
	ok(strstr(errbuf, "t.conf:3:23: session-timeout 0 is too short: "
	    "at least 1 (1s)") != NULL, "session-timeout 0");
	ok(strstr(errbuf, "t.conf:4:23: session-timeout 2d is too long: "
	    "at most 1d") != NULL, "session-timeout over a day");
	ok(strstr(errbuf, "t.conf:5:23: bad time suffix \"ms\"") != NULL,
	    "session-timeout in ms refused");
	ok(strstr(errbuf, "t.conf:6:14: errors 0 out of range (1-1000)") !=
	    NULL, "errors 0");
	ok(strstr(errbuf, "t.conf:7:14: errors 1001 out of range (1-1000)") !=
	    NULL, "errors 1001");
	ok(strstr(errbuf, "t.conf:8:14: unexpected suffix \"s\" on 5s") !=
	    NULL, "errors with a suffix");
	ok(strstr(errbuf, "t.conf:9:") != NULL, "limit errors without a number");

	/* the decoder holds the same ranges */
	c = parse_text("limit greeting-delay 250ms\n");
	if (c == NULL) {
		ok(0, "greeting-delay 250ms parses");
		return;
	}
	j = config_to_json(c, 0);
	config_free(c);
	is_int(json_integer_value(json_object_get(j, "greeting_delay_ms")), 250,
	    "greeting_delay_ms in the JSON");
	c = config_from_json(j);
	ok(c != NULL && c->greeting_delay_ms == 250 &&
	    c->session_timeout == 3600 && c->max_errors == 10,
	    "SMTP limits survive the JSON round trip");
	config_free(c);
	json_object_set_new(j, "greeting_delay_ms", json_integer(60001));
	ok(config_from_json(j) == NULL, "greeting_delay_ms 60001 refused");
	json_object_set_new(j, "greeting_delay_ms", json_integer(0));
	json_object_set_new(j, "session_timeout", json_integer(0));
	ok(config_from_json(j) == NULL, "session_timeout 0 refused");
	json_object_set_new(j, "session_timeout", json_integer(86400));
	json_object_set_new(j, "max_errors", json_integer(1001));
	ok(config_from_json(j) == NULL, "max_errors 1001 refused");
	json_object_del(j, "max_errors");
	ok(config_from_json(j) == NULL, "missing max_errors refused");
	json_object_set_new(j, "max_errors", json_integer(1));
	c = config_from_json(j);
	ok(c != NULL && c->session_timeout == 86400 && c->max_errors == 1,
	    "edge values accepted");
	config_free(c);
	json_decref(j);
}

static void
test_load_files(void)
{
	struct config	*c;
	const struct pki *p;
	char		 text[1024];

	char		 cmd[1024];

	/* a pair the TLS library refuses: smtpd could not serve it */
	writefile("mx.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", 0644);
	writefile("mx.key", "-----BEGIN PRIVATE KEY-----\nBBBB\n"
	    "-----END PRIVATE KEY-----\n", 0600);
	snprintf(text, sizeof(text),
	    "pki \"mx\" cert \"%s/mx.crt\" key \"%s/mx.key\"\n", dir, dir);
	if ((c = parse_text(text)) != NULL) {
		ok(config_load_files(c) == -1,
		    "a pki the TLS library refuses does not load");
		config_free(c);
	}
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout %s/mx.key -out "
	    "%s/mx.crt -subj /CN=mx.test -days 2 2>/dev/null", dir, dir);
	ok(system(cmd) == 0, "openssl makes a key pair");
	writefile("passwd", "joe:$6$salt$hash\n", 0600);
	writefile("ca.pem", "-----BEGIN CERTIFICATE-----\nCCCC\n"
	    "-----END CERTIFICATE-----\n", 0644);
	snprintf(text, sizeof(text),
	    "pki \"mx\" cert \"%s/mx.crt\" key \"%s/mx.key\"\n"
	    "credentials \"%s/passwd\"\nca \"%s/ca.pem\"\n", dir, dir, dir,
	    dir);
	c = parse_text(text);
	ok(c != NULL, "config with files parses");
	if (c == NULL)
		return;
	ok(config_load_files(c) == 0, "files load");
	p = config_pki(c, "mx");
	ok(p != NULL && p->cert != NULL &&
	    strstr(p->cert, "BEGIN CERTIFICATE") != NULL &&
	    p->certlen == strlen(p->cert), "cert in memory");
	ok(p != NULL && p->key != NULL &&
	    strstr(p->key, "PRIVATE KEY") != NULL, "key in memory");
	ok(c->credentials_data != NULL && c->credentials_len == 17,
	    "credentials in memory");
	ok(c->cabundle_data != NULL && strstr(c->cabundle_data, "CCCC"),
	    "CA bundle in memory");
	ok(config_load_files(c) == 0, "loading again (reload) works");
	config_free(c);

	snprintf(text, sizeof(text), "%s/mx.key", dir);
	chmod(text, 0644);
	snprintf(text, sizeof(text),
	    "pki \"mx\" cert \"%s/mx.crt\" key \"%s/mx.key\"\n"
	    "credentials \"%s/missing\"\n", dir, dir, dir);
	c = parse_text(text);
	if (c == NULL) {
		ok(0, "second config parses");
		return;
	}
	fflush(stderr);
	ok(config_load_files(c) == -1, "missing credentials file fails");
	config_free(c);

	snprintf(text, sizeof(text),
	    "pki \"mx\" cert \"%s/mx.key\" key \"%s/mx.crt\"\n", dir, dir);
	c = parse_text(text);
	ok(c != NULL && config_load_files(c) == -1,
	    "cert and key swapped are refused");
	config_free(c);
}

/* tracking blocks: defaults, errors, the spool key, rotation */
static void
test_tracking(void)
{
	struct config		*c, *old;
	const struct tracking	*t;
	char			 text[1024], key[128];
	int			 lines = 0;
	char			*s;

	c = parse_text("tracking domain \"a.test\" { url \"http://t.a.test\" }\n"
	    "tracking domain \"b.test\" {\n url \"https://t.b.test/x\"\n"
	    " opens no\n unsubscribe no\n}\n");
	ok(c != NULL, "tracking blocks parse");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	t = config_tracking(c, "a.test");
	ok(t != NULL && t->opens && t->clicks && t->read == 8 &&
	    t->unsubscribe && t->secret[0] == '\0',
	    "defaults: opens, clicks, read 8s, one-click, no secret");
	t = config_tracking(c, "b.test");
	ok(t != NULL && !t->opens && t->clicks && !t->unsubscribe &&
	    strcmp(t->url, "https://t.b.test/x") == 0, "opens no, "
	    "unsubscribe no, a path in the url");
	ok(config_tracking_key(c, dir) == 0, "a spool key is made");
	t = config_tracking(c, "a.test");
	ok(t != NULL && strlen(t->secret) == 64, "64 hex digits");
	strlcpy(key, t ? t->secret : "", sizeof(key));
	config_free(c);
	c = parse_text("tracking domain \"a.test\" { url \"http://t.a.test\" }\n");
	if (c == NULL)
		return;
	ok(config_tracking_key(c, dir) == 0 &&
	    strcmp(config_tracking(c, "a.test")->secret, key) == 0,
	    "the same key after a restart");
	old = c;
	snprintf(text, sizeof(text), "tracking domain \"a.test\" {\n"
	    "url \"http://t.a.test\"\nsecret \"a-new-key-of-enough-length\"\n}\n");
	c = parse_text(text);
	if (c == NULL) {
		config_free(old);
		return;
	}
	config_tracking_rotate(c, old);
	t = config_tracking(c, "a.test");
	ok(strcmp(t->secret, "a-new-key-of-enough-length") == 0 &&
	    strcmp(t->prev_secret, key) == 0,
	    "a reload keeps the previous key as prev_secret");
	config_free(old);
	config_free(c);
	snprintf(text, sizeof(text), "%s/tracking.key", dir);
	unlink(text);

	c = parse_text(
	    "tracking domain \"a.test\" { }\n"
	    "tracking domain \"b.test\" { url \"ftp://x\" }\n"
	    "tracking domain \"c.test\" { url \"https://t.c.test/?q\" }\n"
	    "tracking domain \"d.test\" {\n url \"https://t\"\n opens maybe\n}\n"
	    "tracking domain \"e.test\" {\n url \"https://t\"\n read 0\n}\n"
	    "tracking domain \"f.test\" {\n url \"https://t\"\n colour red\n}\n"
	    "tracking domain \"g.test\" {\n url \"https://t\"\n secret \"short\"\n}\n"
	    "tracking domain \"h.test\" {\n url \"https://t\"\n unsubscribe two-click\n}\n"
	    "tracking domain \"a.test\" { url \"https://t\" }\n"
	    "tracking domain \"bad domain\" { url \"https://t\" }\n");
	ok(c == NULL, "bad tracking blocks refused");
	for (s = errbuf; (s = strchr(s, '\n')) != NULL; s++)
		lines++;
	is_int(lines, 10, "one error per bad tracking block");
	ok(strstr(errbuf, "t.conf:1:1: tracking domain without url") != NULL,
	    "tracking without url");
	ok(strstr(errbuf, "t.conf:2:32: tracking url \"ftp://x\" is not an "
	    "http:// or https:// URL") != NULL, "tracking url not http");
	ok(strstr(errbuf, "t.conf:3:32: tracking url \"https://t.c.test/?q\" "
	    "has a query or fragment") != NULL, "tracking url with a query");
	ok(strstr(errbuf, "t.conf:6:8: opens wants yes or no, not \"maybe\"") !=
	    NULL, "opens maybe");
	ok(strstr(errbuf, "t.conf:10:7: read 0 is too short: at least 1 (1s)") != NULL,
	    "read 0");
	ok(strstr(errbuf, "t.conf:14:2: unknown keyword \"colour\"") !=
	    NULL, "unknown option");
	ok(strstr(errbuf, "t.conf:18:9: tracking secret shorter than 16") !=
	    NULL, "short secret");
	ok(strstr(errbuf, "t.conf:22:14: unsubscribe wants one-click or no") !=
	    NULL, "unsubscribe two-click");
	ok(strstr(errbuf, "t.conf:24:17: duplicate tracking domain \"a.test\"") !=
	    NULL, "duplicate tracking domain");
	ok(strstr(errbuf, "t.conf:25:17: tracking domain \"bad domain\" is "
	    "not a valid domain name") != NULL, "bad tracking domain");
}

/* the spool's tracking.key with these len bytes: config_tracking_key's rc */
static int
key_file(const char *bytes, size_t len, char *secret, size_t slen)
{
	struct config	*c;
	char		 path[PATH_MAX];
	int		 fd, rc;

	snprintf(path, sizeof(path), "%s/tracking.key", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, bytes, len) != (ssize_t)len || close(fd) == -1)
		fatal("%s", path);
	if ((c = parse_text("tracking domain \"a.test\" "
	    "{ url \"http://t.a.test\" }\n")) == NULL)
		fatalx("parse: %s", errbuf);
	fflush(stderr);
	rc = config_tracking_key(c, dir);
	strlcpy(secret, config_tracking(c, "a.test")->secret, slen);
	config_free(c);
	unlink(path);
	return (rc);
}

/*
 * A good tracking.key of this mode, and owner uid unless -1:
 * config_tracking_key's rc
 */
static int
key_file_mode(mode_t mode, uid_t uid)
{
	struct config	*c;
	char		 path[PATH_MAX];
	int		 fd, rc;

	snprintf(path, sizeof(path), "%s/tracking.key", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n", 65) != 65 ||
	    fchmod(fd, mode) == -1 ||
	    (uid != (uid_t)-1 && fchown(fd, uid, (gid_t)-1) == -1) ||
	    close(fd) == -1)
		fatal("%s", path);
	if ((c = parse_text("tracking domain \"a.test\" "
	    "{ url \"http://t.a.test\" }\n")) == NULL)
		fatalx("parse: %s", errbuf);
	fflush(stderr);
	rc = config_tracking_key(c, dir);
	config_free(c);
	unlink(path);
	return (rc);
}

/* tracking.key: the parent's, 0600; another's, or open to others, is not */
static void
test_tracking_key_owner(void)
{
	ok(key_file_mode(0600, (uid_t)-1) == 0, "tracking.key: ours, 0600");
	ok(key_file_mode(0400, (uid_t)-1) == 0, "tracking.key: ours, 0400");
	ok(key_file_mode(0644, (uid_t)-1) == -1,
	    "tracking.key: readable by others refused");
	ok(key_file_mode(0640, (uid_t)-1) == -1,
	    "tracking.key: readable by its group refused");
	ok(key_file_mode(0620, (uid_t)-1) == -1,
	    "tracking.key: writable by its group refused");
	if (geteuid() == 0)
		ok(key_file_mode(0600, 65534) == -1,
		    "tracking.key: another user's refused");
}

/*
 * A stale tracking.key.tmp (a crash, or put there) lends the new key
 * neither its mode, its owner nor its bytes, and a link there is not
 * followed: the key is made 0600, ours, 65 bytes.
 */
static void
test_tracking_key_stale(void)
{
	struct config	*c;
	struct stat	 st;
	char		 path[PATH_MAX], tmp[PATH_MAX], other[PATH_MAX];
	char		 junk[300];
	int		 fd, i, rc;

	snprintf(path, sizeof(path), "%s/tracking.key", dir);
	snprintf(tmp, sizeof(tmp), "%s/tracking.key.tmp", dir);
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	memset(junk, 'x', sizeof(junk));
	for (i = 0; i < 2; i++) {
		unlink(path);
		if (i == 0) {
			if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC,
			    0644)) == -1 || fchmod(fd, 0644) == -1 ||
			    (geteuid() == 0 && fchown(fd, 65534, -1) == -1) ||
			    write(fd, junk, sizeof(junk)) == -1 ||
			    close(fd) == -1)
				fatal("%s", tmp);
		} else if ((fd = open(other, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) == -1 || close(fd) == -1 || symlink(other, tmp) ==
		    -1)
			fatal("%s", tmp);
		if ((c = parse_text("tracking domain \"a.test\" "
		    "{ url \"http://t.a.test\" }\n")) == NULL)
			fatalx("parse: %s", errbuf);
		rc = config_tracking_key(c, dir);
		config_free(c);
		ok(rc == 0 && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 07777) == 0600 && st.st_uid == geteuid() &&
		    st.st_size == 65 && lstat(tmp, &st) == -1,
		    "a stale tracking.key.tmp (%s): the key made 0600, ours, "
		    "65 bytes", i == 0 ? "0644, 300 bytes" : "a symlink");
	}
	ok(stat(other, &st) == 0 && st.st_size == 0,
	    "the link's target untouched");
	unlink(path);
	unlink(other);
}

/* tracking.key: 64 lower-case hex digits and an optional newline only */
static void
test_tracking_key_file(void)
{
	static const char hex[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char	 b[160], secret[128];
	size_t	 i;

	snprintf(b, sizeof(b), "%s\n", hex);
	ok(key_file(b, 65, secret, sizeof(secret)) == 0 &&
	    strcmp(secret, hex) == 0, "tracking.key: 64 digits, a newline");
	ok(key_file(hex, 64, secret, sizeof(secret)) == 0 &&
	    strcmp(secret, hex) == 0, "tracking.key: 64 digits, no newline");
	strlcpy(b, hex, sizeof(b));
	for (i = 0; i < 64; i++)
		if (b[i] >= 'a')
			b[i] -= 'a' - 'A';
	ok(key_file(b, 64, secret, sizeof(secret)) == -1,
	    "tracking.key: upper case refused");
	ok(key_file(hex, 63, secret, sizeof(secret)) == -1,
	    "tracking.key: 63 digits refused");
	snprintf(b, sizeof(b), "%sa\n", hex);
	ok(key_file(b, 66, secret, sizeof(secret)) == -1,
	    "tracking.key: 65 digits refused");
	snprintf(b, sizeof(b), "%s\r\n", hex);
	ok(key_file(b, 66, secret, sizeof(secret)) == -1,
	    "tracking.key: CR LF refused");
	snprintf(b, sizeof(b), " %s", hex);
	ok(key_file(b, 64, secret, sizeof(secret)) == -1,
	    "tracking.key: a leading space refused");
	strlcpy(b, hex, sizeof(b));
	b[10] = 'g';
	ok(key_file(b, 64, secret, sizeof(secret)) == -1,
	    "tracking.key: a g refused");
	strlcpy(b, hex, sizeof(b));
	b[10] = '\0';
	ok(key_file(b, 64, secret, sizeof(secret)) == -1,
	    "tracking.key: a NUL among the digits refused");
	memset(b, '\0', 64);
	b[64] = '\n';
	ok(key_file(b, 65, secret, sizeof(secret)) == -1 && secret[0] == '\0',
	    "tracking.key: 64 NULs refused");
}

/*
 * the verdict key in the parent's JSON: 64 lower-case hex digits or none;
 * seal_set_key, which the children give it to, the same
 */
static void
test_verdict_key(void)
{
	static const char hex[] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct {
		const char	*key;
		int		 good;
		const char	*what;
	} v[] = {
		{ hex, 1, "64 digits" },
		{ "", 1, "none" },
		{ hex + 1, 0, "63 digits" },
		{ "0123456789ABCDEF0123456789abcdef0123456789abcdef"
		    "0123456789abcdef", 0, "upper case" },
		{ " 123456789abcdef0123456789abcdef0123456789abcdef"
		    "0123456789abcdef", 0, "a leading space" },
		{ "+123456789abcdef0123456789abcdef0123456789abcdef"
		    "0123456789abcdef", 0, "a sign" },
		{ "0123456789abcdeg0123456789abcdef0123456789abcdef"
		    "0123456789abcdef", 0, "a g" },
	};
	struct config	*c, *c2;
	json_t		*j;
	size_t		 i;

	if ((c = parse_text("")) == NULL) {
		ok(0, "empty config: %s", errbuf);
		return;
	}
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		strlcpy(c->verdict_key, hex, sizeof(c->verdict_key));
		j = config_to_json(c, CONF_VERDICT_KEY);
		json_object_set_new(j, "verdict_key", json_string(v[i].key));
		c2 = config_from_json(j);
		if (v[i].good)
			ok(c2 != NULL && strcmp(c2->verdict_key, v[i].key) == 0,
			    "verdict_key %s: taken", v[i].what);
		else
			ok(c2 == NULL, "verdict_key %s: refused", v[i].what);
		/* and seal_set_key takes the same keys (none is no key) */
		is_int(seal_set_key(v[i].key), v[i].good && *v[i].key ? 0 : -1,
		    "seal_set_key, %s", v[i].what);
		config_free(c2);
		json_decref(j);
	}
	config_free(c);
}

static void
test_kinds(void)
{
	int	 i, good = 1;

	for (i = 0; i < EV_KIND_MAX; i++)
		if (event_kind_from_name(event_kind_name(i)) != i)
			good = 0;
	ok(good, "event kind names round trip");
	is_str(event_kind_name(EV_DISPATCH_SOFT_BOUNCE),
	    "dispatch_soft_bounce", "kind name");
	is_str(event_kind_name(EV_RESUBSCRIBE), "resubscribe", "kind name");
	is_str(event_kind_name(EV_REMOVED), "removed", "last kind");
	is_int(event_kind_from_name("rate_limit"), EV_RATE_LIMIT, "rate_limit");
	is_int(event_kind_from_name("nope"), -1, "unknown kind");
	is_int(event_kind_from_name(NULL), -1, "NULL kind");
}

/*
 * SPOOL/verp.key: made once with a bounce domain (none without), the same
 * at the next start, sent only with CONF_VERP_KEY.
 */
/*
 * The text sent to a child holds its secrets: no copy of it is freed
 * unwiped, neither one its buffer outgrew (jansson's json_dumps freed
 * each as it grew) nor the last (freezero'd by the caller).
 */
static void
test_json_text_wiped(void)
{
#ifndef NO_FREE_WATCH
	struct config	*c;
	json_t		*j, *back;
	char		*s;
	size_t		 len = 0, i, n = 64 * 1024;

	if ((c = parse_text("listen on 127.0.0.1 port 25\n")) == NULL)
		fatalx("parse: %s", errbuf);
	if ((c->credentials_data = malloc(n)) == NULL)
		fatal("malloc");
	for (i = 0; i < n; i++)
		c->credentials_data[i] = 'a' + i % 26;
	memcpy(c->credentials_data, SECRET, sizeof(SECRET) - 1);
	c->credentials_len = n;
	watching = 1;
	s = config_to_json_text(c, CONF_CREDENTIALS, &len);
	if (s != NULL)
		freezero(s, len + 1);
	watching = 0;
	ok(s != NULL && len > n, "the text made, longer than its secret");
	is_int(text_secret, 0, "no copy of it freed with the secret in it");
	s = config_to_json_text(c, CONF_CREDENTIALS, &len);
	j = config_to_json(c, CONF_CREDENTIALS);
	back = s != NULL ? json_loads(s, 0, NULL) : NULL;
	ok(back != NULL && len == strlen(s) && json_equal(j, back),
	    "the text is config_to_json's");
	json_decref(back);
	json_decref(j);
	if (s != NULL)
		freezero(s, len + 1);
	config_free(c);
#endif
}

static void
test_verp_key(void)
{
	struct config	*c, *c2;
	struct stat	 st;
	json_t		*j;
	char		 path[PATH_MAX], key[65], *dump;

	snprintf(path, sizeof(path), "%s/verp.key", dir);
	unlink(path);
	if ((c = parse_text("listen on 127.0.0.1 port 25\n")) == NULL)
		fatalx("parse: %s", errbuf);
	ok(config_verp_key(c, dir) == 0 && c->verp_key[0] == '\0' &&
	    stat(path, &st) == -1, "no bounce domain: no VERP key");
	config_free(c);
	if ((c = parse_text("bounce domain \"b.test\"\n")) == NULL)
		fatalx("parse: %s", errbuf);
	ok(config_verp_key(c, dir) == 0 && mh_ishex(c->verp_key, 64),
	    "a bounce domain: a VERP key of 64 hex digits");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "verp.key made in the spool, mode 0600");
	strlcpy(key, c->verp_key, sizeof(key));
	j = config_to_json(c, CONF_SECRETS | CONF_TRACKING_KEY |
	    CONF_VERDICT_KEY);
	dump = json_dumps(j, 0);
	ok(dump != NULL && strstr(dump, key) == NULL,
	    "without CONF_VERP_KEY the JSON has no VERP key");
	free(dump);
	json_decref(j);
	j = config_to_json(c, CONF_VERP_KEY);
	c2 = config_from_json(j);
	ok(c2 != NULL && strcmp(c2->verp_key, key) == 0,
	    "CONF_VERP_KEY carries it");
	config_free(c2);
	json_decref(j);
	config_free(c);
	if ((c = parse_text("bounce domain \"b.test\"\n")) == NULL)
		fatalx("parse: %s", errbuf);
	ok(config_verp_key(c, dir) == 0 && strcmp(c->verp_key, key) == 0,
	    "the same VERP key at the next start");
	config_free(c);
	unlink(path);

	/* bounce secret: the key made from it, the same on every node */
	if ((c = parse_text("bounce domain \"b.test\"\n"
	    "bounce secret \"shared-by-the-cluster-0123\"\n")) == NULL ||
	    (c2 = parse_text("bounce secret \"shared-by-the-cluster-0123\"\n"
	    "bounce domain \"b.test\"\n")) == NULL)
		fatalx("parse: %s", errbuf);
	ok(config_verp_key(c, dir) == 0 && mh_ishex(c->verp_key, 64) &&
	    strcmp(c->verp_key, key) != 0 && stat(path, &st) == -1,
	    "bounce secret: a VERP key made from it, no verp.key");
	ok(config_verp_key(c2, "/nonexistent") == 0 &&
	    strcmp(c->verp_key, c2->verp_key) == 0,
	    "bounce secret: the same key on another node, whatever its spool");
	j = config_to_json(c, CONF_SECRETS | CONF_VERP_KEY);
	dump = json_dumps(j, 0);
	ok(dump != NULL && strstr(dump, "shared-by-the-cluster") == NULL,
	    "the bounce secret itself is in no child's JSON");
	free(dump);
	json_decref(j);
	config_free(c);
	config_free(c2);
}

/* config_url_public: what a log, an error or show config may show */
static void
test_url_public(void)
{
	static const struct {
		const char	*url, *want;
	} t[] = {
		{ "https://h.example/x", "https://h.example/x" },
		{ "https://u:pw@h.example/x", "https://u:*@h.example/x" },
		{ "https://tok@h.example/", "https://*@h.example/" },
		{ "https://u:@h.example/", "https://u:*@h.example/" },
		{ "https://h.example/a@b?k=v&j=w#f",
		    "https://h.example/a@b?k=*&j=*#f" },
		{ "redis://:pw@127.0.0.1:6379/0", "redis://:*@127.0.0.1:6379/0" },
		/* an @ in the password: all of it hidden */
		{ "redis://u:p@s@s@127.0.0.1/3", "redis://u:*@127.0.0.1/3" },
		/* typed without "://": its userinfo hidden all the same */
		{ "u:pw@h.example/x", "u:*@h.example/x" },
		{ "tok@h.example", "*@h.example" },
		{ "mx", "mx" },
	};
	char	 buf[256];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		config_url_public(t[i].url, buf, sizeof(buf));
		is_str(buf, t[i].want, "url_public: %s", t[i].url);
	}
	config_url_public("https://u:pw@h.example/", buf, 12);
	ok(strlen(buf) < 12 && strstr(buf, "pw") == NULL,
	    "url_public: cut to its buffer, the password still hidden");
}

/*
 * A route or postmaster whose local part needs quotes is taken written
 * without them: authd finds a route by the recipient unquoted, so
 * RCPT TO:<"a b"@example.com> reaches route "a b@example.com" (and
 * e2e/inbound/test_route_quoted shows it); the postmaster is kept in
 * its canonical form, TLS-RPT's contact-info.
 */
/*
 * The secrets of a config (a route's header values, its authorization
 * URL's password and signing secret, an events URL's password, the bounce
 * secret) are wiped when it is freed, at every reload in the parent, and
 * so are those of authd's private copy of a route (route_dup).
 */
static void
test_wipe(void)
{
#if WIPE_CHECK
	static const char *const marks[] = { "wipeA1x9", "wipeB2y8",
	    "d2lwZUMzejc", "wipeD4w6", "wipeE5v5", NULL };
	static const char *const names[] = { "authorize URL password",
	    "header value", "route secret", "events URL password",
	    "bounce secret" };
	struct config		*c;
	struct route		*r;
	size_t			 i;

	c = parse_text(
	    "bounce domain \"bounces.example.com\"\n"
	    "bounce secret \"wipeE5v5-bounce-secret-0123\"\n"
	    "route \"a@example.com\" {\n"
	    "\turl \"https://app.example.com/in\"\n"
	    "\tauthorize \"https://u:wipeA1x9@app.example.com/authz\"\n"
	    "\theader \"X-Token\" \"wipeB2y8\"\n"
	    "\tsecret \"whsec_d2lwZUMzejc=\"\n"
	    "}\n"
	    "events {\n"
	    "\turl \"https://u:wipeD4w6@app.example.com/ev\"\n"
	    "}\n");
	ok(c != NULL, "wipe: config with secrets parsed");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	r = route_dup(TAILQ_FIRST(&c->routes));
	ok(r != NULL, "wipe: route_dup");
	memset(wipe_found, 0, sizeof(wipe_found));
	wipe_marks = marks;
	route_free(r);
	wipe_marks = NULL;
	for (i = 0; i < 3; i++)
		ok(wipe_found[i] == 0, "wipe: route_free leaves no %s in "
		    "freed memory", names[i]);
	memset(wipe_found, 0, sizeof(wipe_found));
	wipe_marks = marks;
	config_free(c);
	wipe_marks = NULL;
	for (i = 0; marks[i] != NULL; i++)
		ok(wipe_found[i] == 0, "wipe: config_free leaves no %s in "
		    "freed memory", names[i]);
#else
	printf("# wipe checks skipped under ASan\n");
#endif
}

/*
 * The JSON trees of a config that hold its secrets (the parent's, made
 * for the text sent to a child; the child's, read from it) have them
 * wiped before they are freed: jansson's json_decref frees each string
 * as it is.
 */
static void
test_wipe_json(void)
{
#if WIPE_CHECK
	static const char *const marks[] = { "wipeA1x9", "wipeB2y8",
	    "d2lwZUMzejc", "wipeD4w6", "wipeT5v5", "wipeR7n2", "wipeS6m3",
	    NULL };
	static const char *const names[] = { "authorize URL password",
	    "header value", "route secret", "events URL password",
	    "tracking key", "redis password", "relay password" };
	const int	 all = CONF_SECRETS | CONF_CLUSTER_AUTH |
			    CONF_TRACKING_KEY | CONF_VERDICT_KEY;
	struct config	*c, *c2 = NULL;
	json_t		*j;
	char		*s;
	size_t		 i, len = 0;

	c = parse_text(
	    "tracking domain \"example.com\" {\n"
	    "\turl \"https://t.example.com/\"\n"
	    "\tsecret \"wipeT5v5-tracking-key-0123\"\n"
	    "}\n"
	    "route \"a@example.com\" {\n"
	    "\turl \"https://app.example.com/in\"\n"
	    "\tauthorize \"https://u:wipeA1x9@app.example.com/authz\"\n"
	    "\theader \"X-Token\" \"wipeB2y8\"\n"
	    "\tsecret \"whsec_d2lwZUMzejc=\"\n"
	    "}\n"
	    "events {\n"
	    "\turl \"https://u:wipeD4w6@app.example.com/ev\"\n"
	    "}\n"
	    "relay via \"smtp://someuser:wipeS6m3@smart.example:25\"\n"
	    "cluster {\n"
	    "\tredis \"redis://:wipeR7n2@127.0.0.1:6379\"\n"
	    "}\n");
	ok(c != NULL, "wipe json: config with secrets parsed");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	memset(wipe_found, 0, sizeof(wipe_found));
	wipe_marks = marks;
	s = config_to_json_text(c, all, &len);
	wipe_marks = NULL;
	for (i = 0; marks[i] != NULL; i++) {
		ok(s != NULL && memmem(s, len, marks[i], strlen(marks[i])) !=
		    NULL, "wipe json: the text holds the %s", names[i]);
		ok(wipe_found[i] == 0, "wipe json: the parent's tree freed "
		    "no %s unwiped", names[i]);
	}
	memset(wipe_found, 0, sizeof(wipe_found));
	wipe_marks = marks;
	if ((j = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL)) != NULL) {
		c2 = config_from_json(j);
		config_json_free(j);
	}
	wipe_marks = NULL;
	ok(c2 != NULL, "wipe json: a child reads it");
	for (i = 0; marks[i] != NULL; i++)
		ok(wipe_found[i] == 0, "wipe json: the child's tree freed "
		    "no %s unwiped", names[i]);
	if (c2 != NULL)
		config_free(c2);
	if (s != NULL)
		freezero(s, len + 1);
	config_free(c);
#else
	printf("# wipe checks skipped under ASan\n");
#endif
}

#if WIPE_CHECK
/* the main program's static data: the parser's static buffers among it */
extern char	 __data_start[], _end[];

static int
static_holds(const char *mark)
{
	return (memmem(__data_start, _end - __data_start, mark,
	    strlen(mark)) != NULL);
}

/* what earlier tests left on the stack, wiped: a find is the parse's */
static void
stack_scrub(void)
{
	char	 big[256 * 1024];

	explicit_bzero(big, sizeof(big));
}

/*
 * The stack (/proc/self/maps' [stack]): the frames of a parse that
 * returned (the lexer's word and string buffers were there) among it
 */
static int
stack_holds(const char *mark)
{
	FILE		*f;
	char		 line[512];
	unsigned long	 lo, hi;
	int		 found = 0;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "[stack]") != NULL &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			found = memmem((void *)lo, hi - lo, mark,
			    strlen(mark)) != NULL;
	fclose(f);
	return (found);
}
#endif

/*
 * The parser itself wipes the secret text it frees (string tokens, macro
 * values, a header refused, the file's stdio buffer) and keeps none in
 * its static buffers: the parent parses the file again at every reload.
 */
static void
test_wipe_parse(void)
{
#if WIPE_CHECK
	static const char *const marks[] = { "wipeA1x9", "wipeB2y8",
	    "d2lwZUMzejc", "wipeD4w6", "wipeE5v5", "Y2dTQtZXZlbnRz",
	    "wipeG7t3", "wipeH8s2", NULL };
	static const char *const names[] = { "authorize URL password",
	    "refused header value", "route secret", "events URL password",
	    "bounce secret", "events secret", "macro value",
	    "password at the end of the file" };
	struct config	*c;
	size_t		 i;

	writefile("t.conf",
	    "u = \"https://someuser:wipeG7t3@app.example.com/in\"\n"
	    "bounce domain \"bounces.example.com\"\n"
	    "bounce secret \"wipeE5v5-bounce-secret-0123\"\n"
	    "route \"a@example.com\" {\n"
	    "\turl $u\n"
	    "\tauthorize \"https://someuser:wipeA1x9@app.example.com/a\"\n"
	    "\theader \"X-Token\" \"one\"\n"
	    "\theader \"x-token\" \"wipeB2y8\"\n"
	    "\tsecret \"whsec_d2lwZUMzejc=\"\n"
	    "}\n"
	    "events {\n"
	    "\turl \"https://someuser:wipeD4w6@app.example.com/ev\"\n"
	    "\tsecret \"whsec_d2lwZUY2dTQtZXZlbnRz\"\n"
	    "}\n"
	    "relay via \"smtp://someuser:wipeH8s2@smart.example:25\"",
	    0600);
	/*
	 * stack_holds() run once first: the lazy binding of the functions
	 * it calls saves the vector registers (the text last copied through
	 * them) on the stack at their first call, which the scrub wipes
	 */
	(void)stack_holds("\001");
	stack_scrub();
	memset(wipe_found, 0, sizeof(wipe_found));
	wipe_marks = marks;
	c = parse_capture("t.conf");
	wipe_marks = NULL;
	ok(c == NULL && strstr(errbuf, "header \"x-token\"") != NULL,
	    "wipe: a header given twice is refused");
	for (i = 0; marks[i] != NULL; i++)
		ok(wipe_found[i] == 0, "wipe: parsing frees no %s unwiped",
		    names[i]);
	for (i = 0; marks[i] != NULL; i++)
		ok(!static_holds(marks[i]), "wipe: no %s left in the parser's "
		    "static buffers", names[i]);
	for (i = 0; marks[i] != NULL; i++)
		ok(!stack_holds(marks[i]), "wipe: no %s left on the stack "
		    "the parse used", names[i]);
	config_free(c);
#else
	printf("# wipe checks skipped under ASan\n");
#endif
}

/*
 * A redis URL's user and password, read without libcurl (which frees
 * its copies unwiped): percent-decoded, a ':' or an '@' in the password,
 * the rest of the URL as before
 */
static void
test_redis_url(void)
{
	static const struct {
		const char	*url, *user, *password, *host;
		int		 port, db;
	} good[] = {
		{ "redis://10.0.0.5", "", "", "10.0.0.5", 6379, 0 },
		{ "redis://u:p%40ss@10.0.0.5:6380/2", "u", "p@ss", "10.0.0.5",
		    6380, 2 },
		{ "redis://:pa:ss@127.0.0.1", "", "pa:ss", "127.0.0.1", 6379,
		    0 },
		{ "redis://u:p@s@s@127.0.0.1/3", "u", "p@s@s", "127.0.0.1",
		    6379, 3 },
		{ "redis://u%3Ax%25:pw%2F%3f%23@127.0.0.1", "u:x%", "pw/?#",
		    "127.0.0.1", 6379, 0 },
		{ "redis://onlyuser@127.0.0.1", "onlyuser", "", "127.0.0.1",
		    6379, 0 },
		{ "rediss://u:%C3%A9t%c3%a9@[::1]:7000", "u",
		    "\xc3\xa9t\xc3\xa9", "::1", 7000, 0 },
		{ "redis://127.0.0.1/1?a@b", "", "", "127.0.0.1", 6379, 1 },
		/* a '%' not before two hex digits: a '%', as libcurl had it */
		{ "redis://u:50%@127.0.0.1", "u", "50%", "127.0.0.1", 6379,
		    0 },
		{ "redis://u:ab%zz@127.0.0.1", "u", "ab%zz", "127.0.0.1",
		    6379, 0 },
		{ "redis://u:ab%4@127.0.0.1", "u", "ab%4", "127.0.0.1",
		    6379, 0 },
		{ "redis://u%:%4g%41@127.0.0.1", "u%", "%4gA", "127.0.0.1",
		    6379, 0 },
	};
	static const char *const bad[] = {
		"redis://u:a%0db@127.0.0.1", "redis://u:a%0Ab@127.0.0.1",
		"redis://u:a%00b@127.0.0.1", "redis://u%0a:pw@127.0.0.1",
		"redis://u:pw@localhost.example",
	};
	struct cluster_conf	 cc;
	size_t			 i;
	const char		*why;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&cc, 0, sizeof(cc));
		why = config_check_redis(good[i].url, &cc);
		ok(why == NULL && strcmp(cc.user, good[i].user) == 0 &&
		    strcmp(cc.password, good[i].password) == 0 &&
		    strcmp(cc.host, good[i].host) == 0 &&
		    cc.port == good[i].port && cc.db == good[i].db &&
		    strcmp(cc.redis, good[i].url) == 0,
		    "redis %s: user \"%s\" password \"%s\" %s port %d db %d",
		    good[i].url, good[i].user, good[i].password, good[i].host,
		    good[i].port, good[i].db);
		if (why != NULL || strcmp(cc.password, good[i].password) != 0)
			printf("# %s; user \"%s\" password \"%s\" %s %d %d\n",
			    why ? why : "taken", cc.user, cc.password, cc.host,
			    cc.port, cc.db);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&cc, 0, sizeof(cc));
		ok(config_check_redis(bad[i], &cc) != NULL &&
		    cc.password[0] == '\0', "redis %s refused", bad[i]);
	}
#if WIPE_CHECK
	{
		static const char *const marks[] = { "wipeR9q4", "wipeU3k1",
		    NULL };

		memset(&cc, 0, sizeof(cc));
		memset(wipe_found, 0, sizeof(wipe_found));
		wipe_marks = marks;
		why = config_check_redis(
		    "redis://wipeU3k1:wipeR9q4@127.0.0.1:6379/1", &cc);
		wipe_marks = NULL;
		ok(why == NULL && strcmp(cc.password, "wipeR9q4") == 0,
		    "redis: a password read");
		ok(wipe_found[0] == 0 && wipe_found[1] == 0,
		    "redis: no copy of the password or user freed unwiped "
		    "(%d, %d)", wipe_found[0], wipe_found[1]);
		explicit_bzero(&cc, sizeof(cc));
	}
#endif
}

static void
test_route_mailboxes(void)
{
	static const char *const want[] = { "a b@example.com",
	    "a..b@example.com", ".a@example.com", "pm x@example.com" };
	const size_t		 nwant = sizeof(want) / sizeof(want[0]);
	struct config		*c;
	const struct route	*r;
	size_t			 i = 0;

	c = parse_text(
	    "postmaster \"pm x@Example.COM\"\n"
	    "route \"a b@example.com\" { url \"https://example.com/in\" }\n"
	    "route \"a..b@example.com\" { url \"https://example.com/in\" }\n"
	    "route \".a@example.com\" { url \"https://example.com/in\" }\n"
	    "route \"\\\"pm x\\\"@example.com\" "
	    "{ url \"https://example.com/in\" }\n");
	ok(c != NULL, "local parts that need quotes, written without them, "
	    "are taken");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	TAILQ_FOREACH(r, &c->routes, entry) {
		ok(i < nwant && strcmp(r->pattern, want[i]) == 0,
		    "route %zu is the mailbox %s", i, r->pattern);
		i++;
	}
	is_int(i, nwant, "every route kept");
	is_str(c->postmaster, "\"pm x\"@example.com",
	    "the postmaster in its canonical form (quoted)");
	config_free(c);
}

/*
 * A fallback maildir with an empty or "." name inside, as the walk in
 * mailhookd/maildir.c skips them: taken (they loaded before its names
 * were checked), kept as written, and taken again by a child
 */
static void
test_fallback_maildir(void)
{
	struct config		*c, *c2;
	const struct route	*r;
	json_t			*j;

	c = parse_text(
	    "route \"a@example.com\" {\n"
	    "\turl \"https://example.com/in\" mode queue\n"
	    "\tfallback maildir \"/var/mail//./hooks//\"\n"
	    "}\n");
	ok(c != NULL, "fallback maildir \"/var/mail//./hooks//\" is taken");
	if (c == NULL) {
		printf("# %s", errbuf);
		return;
	}
	r = TAILQ_FIRST(&c->routes);
	is_str(r->fallback_maildir, "/var/mail//./hooks",
	    "kept as written, the slashes that end it taken off");
	j = config_to_json(c, CONF_SECRETS);
	c2 = config_from_json(j);
	ok(c2 != NULL && strcmp(TAILQ_FIRST(&c2->routes)->fallback_maildir,
	    r->fallback_maildir) == 0, "and a child takes it too");
	if (c2 != NULL)
		config_free(c2);
	json_decref(j);
	config_free(c);
}

int
main(void)
{
	char	 tmpl[] = "/tmp/test_config.XXXXXX";
	char	 cmd[PATH_MAX + 16];

	log_init(1, LOG_DAEMON);
	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp");
	strlcpy(dir, tmpl, sizeof(dir));
	snprintf(cmd, sizeof(cmd), "%s/inc", dir);
	mkdir(cmd, 0755);

	test_defaults();
	test_load_files();
	test_full();
	test_json_strict();
	test_macros_include();
	test_errors();
	test_parse_fresh();
	test_size_suffix();
	test_smtp_limits();
	test_tracking();
	test_tracking_key_file();
	test_tracking_key_owner();
	test_tracking_key_stale();
	test_verdict_key();
	test_verp_key();
	test_json_text_wiped();
	test_kinds();
	test_url_public();
	test_route_mailboxes();
	test_redis_url();
	test_fallback_maildir();
	test_wipe();
	test_wipe_json();
	test_wipe_parse();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return (tap_done());
}

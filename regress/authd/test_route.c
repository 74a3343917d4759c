/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd route lookup, relay policy, text sanitizing and the authorization
 * bodies (compared byte for byte with the authorization seed's examples).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailhook.h"
#include "log.h"
#include "http.h"
#include "../../authd/authd.h"
#include "conftext.h"
#include "tap.h"

/* the url of the route for rcpt, "-" when none */
static const char *
lookup(const struct config *conf, const char *rcpt, char *tag, size_t len)
{
	const struct route *r = route_lookup(conf, rcpt, tag, len);

	return (r == NULL ? "-" : r->url);
}

static const char *conf1 =
    "route \"support@example.com\" { url \"http://h/support\" }\n"
    "route domain \"example.com\" { url \"http://h/example.com\" }\n"
    "route domain \"*.example.org\" { url \"http://h/sub.example.org\" }\n"
    "route domain \"*.deep.example.org\" { url \"http://h/deep\" }\n"
    "route domain \"in.deep.example.org\" { url \"http://h/in.deep\" }\n"
    "route \"first@example.net\" { url \"http://h/first\" }\n"
    "route domain \"example.net\" { url \"http://h/example.net\" }\n"
    "route \"sales@example.net\" { url \"http://h/sales\" }\n"
    "route \"user+special@example.io\" { url \"http://h/special\" }\n"
    "route \"user@example.io\" { url \"http://h/user\" }\n"
    "route \"\\\"Help Desk\\\"@example.io\" { url \"http://h/desk\" }\n"
    "route \"\\\"info\\\"@example.io\" { url \"http://h/info\" }\n"
    "route domain \"xn--bcher-kva.example\" { url \"http://h/idn\" }\n"
    "route \"info@xn--mnchen-3ya.example\" { url \"http://h/idn-info\" }\n"
    "route domain \"*.xn--caf-dma.example\" { url \"http://h/idn-sub\" }\n"
    "relay from 10.0.0.0/8\n"
    "relay from 192.0.2.128/25\n"
    "relay from 2001:db8::/32\n"
    "bounce domain \"bounces.example.com\"\n";

/* recipient, the url of its route ("-": none), its tag (NULL: unasked) */
static const struct {
	const char	*rcpt, *url, *tag, *what;
} lookups1[] = {
	{ "support@example.com", "http://h/support", NULL, "exact address" },
	{ "Support@EXAMPLE.com", "http://h/support", NULL,
	    "exact address, any case (local part too)" },
	{ "other@example.com", "http://h/example.com", NULL, "domain route" },
	{ "x@sub.example.com", "-", NULL,
	    "a domain route does not take subdomains" },
	{ "x@a.example.org", "http://h/sub.example.org", NULL,
	    "wildcard: one level" },
	{ "x@b.c.example.org", "http://h/sub.example.org", NULL,
	    "wildcard: two levels" },
	{ "x@example.org", "-", NULL, "wildcard does not take the parent" },
	{ "x@badexample.org", "-", NULL, "wildcard needs a dot boundary" },
	{ "first@example.net", "http://h/first", NULL,
	    "order: address before domain" },
	{ "sales@example.net", "http://h/sales", NULL,
	    "an address route written after its domain's still comes first" },
	{ "\"sales\"@example.net", "http://h/sales", NULL,
	    "a quoted local part is the same mailbox" },
	{ "\"s\\ales\"@Example.NET", "http://h/sales", NULL,
	    "a quoted-pair is the character it quotes" },
	{ "\"sales x\"@example.net", "http://h/example.net", NULL,
	    "another quoted local part: the domain" },
	{ "\"support+T\"@example.com", "http://h/support", "T",
	    "quoted plus address, its tag unquoted" },
	{ "x@a.deep.example.org", "http://h/deep", NULL,
	    "the nearer of two parent domains, whatever their order" },
	{ "x@in.deep.example.org", "http://h/in.deep", NULL,
	    "a domain route before a parent's" },
	{ "support+ticket-42@example.com", "http://h/support", "ticket-42",
	    "plus address matches the base route, its tag returned" },
	{ "support+A+B@example.com", "http://h/support", "A+B",
	    "plus: the first + splits, the tag keeps its case and later +" },
	{ "support@example.com", "http://h/support", "",
	    "no plus, empty tag" },
	{ "user+special@example.io", "http://h/special", "special",
	    "the plus address before its base route" },
	{ "user+other@example.io", "http://h/user", "other",
	    "other tag falls to the base route" },
	{ "+x@example.io", "-", "", "empty user part does not match" },
	{ "info@example.io", "http://h/info", NULL,
	    "a route written with a quoted local part takes its mailbox" },
	{ "\"info\"@example.io", "http://h/info", NULL,
	    "... written quoted by the client too" },
	{ "\"help desk\"@example.io", "http://h/desk", NULL,
	    "a quoted route with a space takes the quoted recipient" },
	{ "a@b\xc3\xbc" "cher.example", "http://h/idn", NULL,
	    "an SMTPUTF8 recipient's U-labels take the route of their "
	    "A-labels" },
	{ "a@B\xc3\x9c" "CHER.Example", "http://h/idn", NULL,
	    "... in capitals too" },
	{ "info+t@m\xc3\xbc" "nchen.example", "http://h/idn-info", "t",
	    "an address route at an A-label domain, plus address" },
	{ "x@sub.caf\xc3\xa9.example", "http://h/idn-sub", NULL,
	    "a subdomain route at an A-label domain" },
	{ "a@b\xff" "cher.example", "-", NULL,
	    "a domain that is no valid IDN: no route" },
	{ "nobody@elsewhere.test", "-", NULL,
	    "no route for a foreign domain" },
	{ "postmaster", "-", NULL, "no domain, no route" },
};

static const char *conf2 =
    "route any { url \"http://h/any\" }\n"
    "route \"a@example.com\" { url \"http://h/a\" }\n"
    "relay from auth\n";

static void
test_routes(void)
{
	struct config	*c;
	char		 tag[64];
	size_t		 i;

	if ((c = conf_text(conf1)) == NULL) {
		ok(0, "config 1 parses");
		return;
	}
	for (i = 0; i < sizeof(lookups1) / sizeof(lookups1[0]); i++) {
		is_str(lookup(c, lookups1[i].rcpt, tag, sizeof(tag)),
		    lookups1[i].url, lookups1[i].what);
		if (lookups1[i].tag != NULL)
			is_str(tag, lookups1[i].tag, lookups1[i].what);
	}

	ok(relay_allowed(c, "10.1.2.3", ""), "relay from 10/8");
	ok(!relay_allowed(c, "11.1.2.3", ""), "not from 11.1.2.3");
	ok(relay_allowed(c, "192.0.2.200", ""), "relay from 192.0.2.128/25");
	ok(!relay_allowed(c, "192.0.2.100", ""), "not from 192.0.2.100");
	ok(relay_allowed(c, "::ffff:10.9.9.9", ""), "v4-mapped v6 in 10/8");
	ok(relay_allowed(c, "2001:db8:1::5", ""), "relay from 2001:db8::/32");
	ok(!relay_allowed(c, "2001:db9::5", ""), "not from 2001:db9::5");
	ok(!relay_allowed(c, "10.1.2.3x", ""), "garbage address");
	ok(!relay_allowed(c, "8.8.8.8", "alice"),
	    "auth user does not relay without relay from auth");

	ok(rcpt_is_bounce(c, "b+x@Bounces.Example.com"), "bounce domain");
	ok(!rcpt_is_bounce(c, "b@example.com"), "not bounce domain");
	ok(rcpt_domain_is_local(c, "nobody@example.com"), "local: domain");
	ok(rcpt_domain_is_local(c, "x@example.io"), "local: address route");
	ok(rcpt_domain_is_local(c, "x@deep.a.example.org"), "local: wildcard");
	ok(!rcpt_domain_is_local(c, "x@gmail.test"), "foreign");
	ok(rcpt_domain_is_local(c, "x@b\xc3\xbc" "cher.example"),
	    "local: a route's domain in U-labels (not relayed away)");
	ok(rcpt_domain_is_local(c, "x@m\xc3\xbc" "nchen.example"),
	    "local: an address route's domain in U-labels");
	config_free(c);

	if ((c = conf_text(conf2)) == NULL) {
		ok(0, "config 2 parses");
		return;
	}
	is_str(lookup(c, "a@example.com", NULL, 0), "http://h/a",
	    "address before any, though written after it");
	is_str(lookup(c, "who@ever.test", NULL, 0), "http://h/any",
	    "route any");
	ok(relay_allowed(c, "8.8.8.8", "alice"), "relay from auth: user");
	ok(!relay_allowed(c, "8.8.8.8", ""), "relay from auth: no user");
	ok(!relay_allowed(c, "127.0.0.1", ""), "no CIDR, no relay");
	ok(!rcpt_domain_is_local(c, "x@ever.test"), "route any is not local");
	config_free(c);
}

static const char *seed_form =
    "size=102400&to=to%40example.net&from=from%2Btest%40example.com"
    "&helo_domain=localhost&remote_ip=127.0.0.1&spf[result]=pass"
    "&spf[domain]=example.com";
static const char *seed_json =
    "{\"size\":102400,\"to\":\"to@example.net\","
    "\"from\":\"from+test@example.com\",\"helo_domain\":\"localhost\","
    "\"remote_ip\":\"127.0.0.1\",\"spf\":{\"result\":\"pass\","
    "\"domain\":\"example.com\"}}";
static const char *seed_xml =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<parameters>\n"
    "  <size type=\"integer\">102400</size>\n"
    "  <to>to@example.net</to>\n"
    "  <from>from+test@example.com</from>\n"
    "  <helo-domain>localhost</helo-domain>\n"
    "  <remote-ip>127.0.0.1</remote-ip>\n"
    "  <spf>\n"
    "    <result>pass</result>\n"
    "    <domain>example.com</domain>\n"
    "  </spf>\n"
    "</parameters>\n";

static void
test_bodies(void)
{
	struct authz_params	 p = { 102400, "to@example.net",
	    "from+test@example.com", "localhost", "127.0.0.1", "pass",
	    "example.com", 0, 0 };
	char			*b;
	size_t			 len;

	b = authorize_body(AUTHZ_FORM, &p, &len);
	is_str(b, seed_form, "form body is the seed's");
	is_int(len, strlen(seed_form), "form length");
	free(b);
	b = authorize_body(AUTHZ_JSON, &p, &len);
	is_str(b, seed_json, "json body is the seed's");
	free(b);
	b = authorize_body(AUTHZ_XML, &p, &len);
	is_str(b, seed_xml, "xml body is the seed's");
	free(b);

	p.size = -1;
	p.from = "";
	p.to = "a&b<c>\"d'@x.test";
	b = authorize_body(AUTHZ_FORM, &p, &len);
	is_str(b, "to=a%26b%3Cc%3E%22d%27%40x.test&from=&helo_domain=localhost"
	    "&remote_ip=127.0.0.1&spf[result]=pass&spf[domain]=example.com",
	    "form: no size, escaping, null sender");
	free(b);
	b = authorize_body(AUTHZ_JSON, &p, &len);
	is_str(b, "{\"to\":\"a&b<c>\\\"d'@x.test\",\"from\":\"\","
	    "\"helo_domain\":\"localhost\",\"remote_ip\":\"127.0.0.1\","
	    "\"spf\":{\"result\":\"pass\",\"domain\":\"example.com\"}}",
	    "json: no size, escaping");
	free(b);
	b = authorize_body(AUTHZ_XML, &p, &len);
	ok(b != NULL && strstr(b, "<size") == NULL, "xml: no size");
	ok(b != NULL && strstr(b,
	    "<to>a&amp;b&lt;c&gt;&quot;d&apos;@x.test</to>\n") != NULL,
	    "xml: escaping");
	ok(b != NULL && strstr(b, "<from></from>") != NULL,
	    "xml: null sender");
	free(b);
	is_str(authorize_content_type(AUTHZ_FORM),
	    "application/x-www-form-urlencoded", "form content type");
	is_str(authorize_content_type(AUTHZ_JSON), "application/json",
	    "json content type");
	is_str(authorize_content_type(AUTHZ_XML), "application/xml",
	    "xml content type");
}

static void
map(int error, long status, const char *ctype, const char *body,
    struct authd_rcpt_res *res)
{
	struct http_response	 r;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.error = error;
	r.status = status;
	r.content_type = (char *)ctype;
	r.body = (char *)body;
	r.bodylen = body ? strlen(body) : 0;
	authorize_map(&r, res);
}

static void
test_map(void)
{
	struct authd_rcpt_res	 res;

	map(HTTP_OK, 200, NULL, NULL, &res);
	ok(res.verdict == RCPT_ACCEPT && res.code == 250, "200 accepts");
	map(HTTP_OK, 204, NULL, NULL, &res);
	ok(res.verdict == RCPT_ACCEPT, "204 accepts");
	map(HTTP_OK, 403, "text/plain", "Not this one\nsecond", &res);
	ok(res.verdict == RCPT_REJECT && res.code == 550 &&
	    strcmp(res.enhanced, "5.7.1") == 0, "403 -> 550 5.7.1");
	is_str(res.text, "Not this one", "4xx text/plain body is the text");
	map(HTTP_OK, 404, "text/html", "<b>x</b>", &res);
	ok(res.code == 550 && strstr(res.text, "<b>") == NULL,
	    "html body not used");
	map(HTTP_OK, 503, "text/plain", "busy", &res);
	ok(res.verdict == RCPT_TEMPFAIL && res.code == 450 &&
	    strcmp(res.enhanced, "4.7.1") == 0, "503 -> 450 4.7.1");
	is_str(res.text, "busy", "5xx text/plain body is the text");
	map(HTTP_OK, 200, "text/plain", "fine", &res);
	is_str(res.text, "Ok", "2xx body ignored");
	map(HTTP_OK, 304, NULL, NULL, &res);
	ok(res.code == 450, "unfollowed 3xx -> 450");
	map(HTTP_ETIMEOUT, 0, NULL, NULL, &res);
	ok(res.code == 450 && res.verdict == RCPT_TEMPFAIL, "timeout -> 450");
	map(HTTP_ECONNECT, 0, NULL, NULL, &res);
	ok(res.code == 450, "connect -> 450");
	map(HTTP_EDNS, 0, NULL, NULL, &res);
	ok(res.code == 450, "dns -> 450");
	map(HTTP_ESSRF, 0, NULL, NULL, &res);
	ok(res.code == 450, "ssrf -> 450");
	map(HTTP_EREDIRECT, 0, NULL, NULL, &res);
	ok(res.code == 450 && strcmp(res.enhanced, "4.7.1") == 0,
	    "too many redirects -> 450 4.7.1");
}

int
main(void)
{
	log_init(1, 0);
	test_routes();
	test_bodies();
	test_map();
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The effective configuration as mailhook.conf text ("mhctl show config",
 * like postconf -n): every statement whose value is not the default, in
 * the grammar of parse.y, so that mailhookd -n takes it again.  Secrets
 * never appear: a URL's password and query values become "*"
 * (config_url_public), and a webhook secret or a header value is shown
 * only as a comment saying that it is set.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "evbuf.h"

/* a quoted string of the grammar: " and \ escaped */
static void
q(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add(b, "\\", 1);
		evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* a URL, quoted, without its password and query values */
static void
qurl(struct evbuffer *b, const char *url)
{
	char	 pub[MH_URL_MAX];

	config_url_public(url, pub, sizeof(pub));
	q(b, pub);
}

static void
dur(struct evbuffer *b, long s)
{
	if (s > 0 && s % 86400 == 0)
		evbuffer_add_printf(b, "%ldd", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		evbuffer_add_printf(b, "%ldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		evbuffer_add_printf(b, "%ldm", s / 60);
	else
		evbuffer_add_printf(b, "%lds", s);
}

/* a statement whose value is a duration: text, the duration, a newline */
static void
dur_line(struct evbuffer *b, const char *text, long s)
{
	evbuffer_add_printf(b, "%s", text);
	dur(b, s);
	evbuffer_add_printf(b, "\n");
}

static void
size(struct evbuffer *b, long long n)
{
	if (n > 0 && n % (1024 * 1024 * 1024) == 0)
		evbuffer_add_printf(b, "%lldG", n / (1024 * 1024 * 1024));
	else if (n > 0 && n % (1024 * 1024) == 0)
		evbuffer_add_printf(b, "%lldM", n / (1024 * 1024));
	else if (n > 0 && n % 1024 == 0)
		evbuffer_add_printf(b, "%lldK", n / 1024);
	else
		evbuffer_add_printf(b, "%lld", n);
}

static void
masked_headers(struct evbuffer *b, const struct headerlist *hl)
{
	const struct header	*h;

	TAILQ_FOREACH(h, hl, entry) {
		evbuffer_add_printf(b, "\t# header ");
		q(b, h->name);
		evbuffer_add_printf(b, " (value masked)\n");
	}
}

static void
print_top(struct evbuffer *b, const struct config *c, const struct config *d)
{
	evbuffer_add_printf(b, "hostname ");
	q(b, c->hostname);
	evbuffer_add_printf(b, "\n");
	if (strcmp(c->resolver, d->resolver) != 0 ||
	    c->resolver_port != d->resolver_port || c->dnssec_anchor[0]) {
		evbuffer_add_printf(b, "resolver ");
		q(b, c->resolver);
		if (c->resolver_port != 53)
			evbuffer_add_printf(b, " port %u", c->resolver_port);
		if (c->dnssec_anchor[0] != '\0') {
			evbuffer_add_printf(b, " dnssec trust-anchor ");
			q(b, c->dnssec_anchor);
		}
		evbuffer_add_printf(b, "\n");
	}
	evbuffer_add_printf(b, "spool ");
	q(b, c->spool);
	evbuffer_add_printf(b, "\ncontrol ");
	q(b, c->control);
	evbuffer_add_printf(b, "\n");
	if (c->control_group[0] != '\0') {
		evbuffer_add_printf(b, "control group ");
		q(b, c->control_group);
		evbuffer_add_printf(b, "\n");
	}
	if (c->postmaster[0] != '\0') {
		evbuffer_add_printf(b, "postmaster ");
		q(b, c->postmaster);
		evbuffer_add_printf(b, "\n");
	}
	if (strcmp(c->tls_ciphers, d->tls_ciphers) != 0) {
		evbuffer_add_printf(b, "tls ciphers ");
		q(b, c->tls_ciphers);
		evbuffer_add_printf(b, "\n");
	}
	if (c->cabundle[0] != '\0' && strcmp(c->cabundle, MH_CABUNDLE) != 0) {
		evbuffer_add_printf(b, "ca ");
		q(b, c->cabundle);
		evbuffer_add_printf(b, "\n");
	}
	if (c->credentials[0] != '\0') {
		evbuffer_add_printf(b, "credentials ");
		q(b, c->credentials);
		evbuffer_add_printf(b, "\n");
	}
	if (c->api_keys[0] != '\0') {
		evbuffer_add_printf(b, "api keys ");
		q(b, c->api_keys);
		evbuffer_add_printf(b, "\n");
	}
	if (c->allow_private)
		evbuffer_add_printf(b, "allow private-addresses\n");
	if (c->spf_reject_fail)
		evbuffer_add_printf(b, "spf reject fail\n");
}

static void
print_listeners(struct evbuffer *b, const struct config *c)
{
	const struct pki	*p;
	const struct listener	*l;
	size_t			 i;
	int			 f;

	TAILQ_FOREACH(p, &c->pkis, entry) {
		evbuffer_add_printf(b, "pki ");
		q(b, p->name);
		evbuffer_add_printf(b, " cert ");
		q(b, p->cert_file);
		evbuffer_add_printf(b, " key ");
		q(b, p->key_file);
		evbuffer_add_printf(b, "\n");
	}
	TAILQ_FOREACH(l, &c->listeners, entry) {
		f = l->flags;
		evbuffer_add_printf(b, "listen on ");
		q(b, l->addr);
		evbuffer_add_printf(b, " port %u%s%s%s%s", l->port,
		    (f & LF_METRICS) ? " metrics" : (f & LF_API) ? " api" :
		    (f & LF_HTTP) ? " http" : "",
		    (f & LF_TLS_REQUIRE) ? " tls-require" :
		    (f & LF_STARTTLS) ? " tls" : "",
		    (f & LF_SMTPS) ? " smtps" : "",
		    (f & LF_AUTH_REQUIRE) ? " auth-require" :
		    (f & LF_AUTH) ? " auth" : "");
		for (i = 0; i < l->npkis; i++) {
			evbuffer_add_printf(b, " pki ");
			q(b, l->pkis[i]);
		}
		if (l->hostname[0] != '\0') {
			evbuffer_add_printf(b, " hostname ");
			q(b, l->hostname);
		}
		evbuffer_add_printf(b, "\n");
	}
}

static void
print_limits(struct evbuffer *b, const struct config *c,
    const struct config *d)
{
	if (c->max_message_size != d->max_message_size) {
		evbuffer_add_printf(b, "limit message-size ");
		size(b, (long long)c->max_message_size);
		evbuffer_add_printf(b, "\n");
	}
	if (c->min_data_rate != d->min_data_rate) {
		evbuffer_add_printf(b, "limit min-data-rate ");
		size(b, c->min_data_rate);
		evbuffer_add_printf(b, "\n");
	}
#define LIMIT_N(field, name)						\
	if (c->field != d->field)					\
		evbuffer_add_printf(b, "limit " name " %d\n", c->field)
	LIMIT_N(max_recipients, "recipients");
	LIMIT_N(max_sessions, "sessions");
	LIMIT_N(max_sessions_per_ip, "sessions-per-ip");
	LIMIT_N(max_sessions_per_net, "sessions-per-network");
	LIMIT_N(max_errors, "errors");
	LIMIT_N(max_junk, "junk-commands");
	LIMIT_N(mime_parts, "mime-parts");
	LIMIT_N(mime_depth, "mime-depth");
	LIMIT_N(mime_headers, "mime-headers");
#undef LIMIT_N
	if (c->mime_header_size != d->mime_header_size) {
		evbuffer_add_printf(b, "limit mime-header-size ");
		size(b, c->mime_header_size);
		evbuffer_add_printf(b, "\n");
	}
	if (c->smtp_timeout != d->smtp_timeout) {
		dur_line(b, "limit idle-timeout ", c->smtp_timeout);
	}
	if (c->tls_handshake_timeout != d->tls_handshake_timeout) {
		dur_line(b, "limit tls-handshake-timeout ", c->tls_handshake_timeout);
	}
	if (c->session_timeout != d->session_timeout) {
		dur_line(b, "limit session-timeout ", c->session_timeout);
	}
	if (c->greeting_delay_ms != d->greeting_delay_ms)
		evbuffer_add_printf(b, "limit greeting-delay %dms\n",
		    c->greeting_delay_ms);
}

static void
print_route(struct evbuffer *b, const struct route *r)
{
	static const char	*fmt[] = { "json", "multipart", "raw" };
	static const char	*afmt[] = { "form", "json", "xml" };

	if (r->match == ROUTE_ANY)
		evbuffer_add_printf(b, "route any {\n");
	else {
		evbuffer_add_printf(b, "route %s", r->match == ROUTE_ADDRESS ?
		    "" : "domain ");
		if (r->match == ROUTE_SUBDOMAINS) {
			evbuffer_add_printf(b, "\"*.");
			evbuffer_add_printf(b, "%s\"", r->pattern);
		} else
			q(b, r->pattern);
		evbuffer_add_printf(b, " {\n");
	}
	evbuffer_add_printf(b, "\turl ");
	qurl(b, r->url);
	evbuffer_add_printf(b, "\n");
	if (r->format != FORMAT_JSON)
		evbuffer_add_printf(b, "\tformat %s\n", fmt[r->format]);
	if (r->mode != MODE_SYNC)
		evbuffer_add_printf(b, "\tmode queue\n");
	if (r->authorize[0] != '\0') {
		evbuffer_add_printf(b, "\tauthorize ");
		qurl(b, r->authorize);
		if (r->authorize_format != AUTHZ_FORM)
			evbuffer_add_printf(b, " format %s",
			    afmt[r->authorize_format]);
		if (r->authorize_timeout != ROUTE_AUTHZ_TIMEOUT) {
			evbuffer_add_printf(b, " timeout ");
			dur(b, r->authorize_timeout);
		}
		evbuffer_add_printf(b, "\n");
	}
	if (r->errors[0] != '\0') {
		evbuffer_add_printf(b, "\terrors ");
		qurl(b, r->errors);
		evbuffer_add_printf(b, "\n");
	}
	masked_headers(b, &r->headers);
	if (r->secret[0] != '\0')
		evbuffer_add_printf(b, "\t# secret (masked)\n");
	if (r->timeout != ROUTE_TIMEOUT) {
		dur_line(b, "\ttimeout ", r->timeout);
	}
	if (r->lifetime != ROUTE_LIFETIME) {
		dur_line(b, "\tlifetime ", r->lifetime);
	}
	if (r->concurrency != ROUTE_CONCURRENCY)
		evbuffer_add_printf(b, "\tconcurrency %d\n", r->concurrency);
	if (r->fallback_maildir[0] != '\0') {
		evbuffer_add_printf(b, "\tfallback maildir ");
		q(b, r->fallback_maildir);
		evbuffer_add_printf(b, "\n");
	}
	if (r->fallback_smtp[0] != '\0') {
		evbuffer_add_printf(b, "\tfallback smtp ");
		qurl(b, r->fallback_smtp);
		evbuffer_add_printf(b, "\n");
	}
	if (r->no_verdicts)
		evbuffer_add_printf(b, "\tverdicts no\n");
	if (r->require & REQUIRE_DKIM)
		evbuffer_add_printf(b, "\trequire dkim pass%s\n",
		    r->require_quarantine ? " quarantine" : "");
	if (r->require & REQUIRE_DMARC)
		evbuffer_add_printf(b, "\trequire dmarc pass%s\n",
		    r->require_quarantine ? " quarantine" : "");
	evbuffer_add_printf(b, "}\n");
}

static void
print_relay(struct evbuffer *b, const struct config *c,
    const struct config *d)
{
	const struct netaddr		*n;
	const struct domain_limit	*dl;
	const struct sender_limit	*sl;
	const struct tls_policy_domain	*tp;

	if (c->relay_from_auth)
		evbuffer_add_printf(b, "relay from auth\n");
	TAILQ_FOREACH(n, &c->relay_from, entry) {
		evbuffer_add_printf(b, "relay from ");
		q(b, n->text);
		evbuffer_add_printf(b, "\n");
	}
	if (c->relay_via[0] != '\0') {
		evbuffer_add_printf(b, "relay via ");
		qurl(b, c->relay_via);
		if (c->relay_auth[0] != '\0') {
			evbuffer_add_printf(b, " auth ");
			q(b, c->relay_auth);
		}
		evbuffer_add_printf(b, "\n");
	}
	if (c->bounce_domain[0] != '\0') {
		evbuffer_add_printf(b, "bounce domain ");
		q(b, c->bounce_domain);
		evbuffer_add_printf(b, "\n");
	}
	if (c->bounce_secret[0] != '\0')
		evbuffer_add_printf(b, "# bounce secret (masked)\n");
	if (!c->bounce_dsn)
		evbuffer_add_printf(b, "bounce dsn no\n");
	if (c->queue_lifetime != d->queue_lifetime) {
		dur_line(b, "queue lifetime ", c->queue_lifetime);
	}
	if (c->retry_min != d->retry_min || c->retry_max != d->retry_max) {
		evbuffer_add_printf(b, "queue retry ");
		dur(b, c->retry_min);
		dur_line(b, " to ", c->retry_max);
	}
	if (c->history != d->history) {
		dur_line(b, "history ", c->history);
	}
	TAILQ_FOREACH(dl, &c->domain_limits, entry) {
		evbuffer_add_printf(b, "limit domain ");
		q(b, dl->domain);
		if (dl->rate > 0)
			evbuffer_add_printf(b, " rate %d per %s", dl->rate,
			    config_rate_unit_name(dl->per));
		if (dl->connections > 0)
			evbuffer_add_printf(b, " connections %d",
			    dl->connections);
		evbuffer_add_printf(b, "%s%s\n", dl->tls_require ?
		    " tls require" : "", dl->tls_verify ? " tls verify" : "");
	}
	TAILQ_FOREACH(sl, &c->sender_limits, entry) {
		evbuffer_add_printf(b, "limit sender-domain ");
		q(b, sl->domain);
		evbuffer_add_printf(b, " rate %d per %s\n", sl->rate,
		    config_rate_unit_name(sl->per));
	}
	if (c->tls_policy != d->tls_policy)
		evbuffer_add_printf(b, "tls policy %s\n",
		    config_tls_policy_name(c->tls_policy));
	TAILQ_FOREACH(tp, &c->tls_policies, entry) {
		evbuffer_add_printf(b, "tls policy domain ");
		q(b, tp->domain);
		evbuffer_add_printf(b, " %s\n",
		    config_tls_policy_name(tp->policy));
	}
}

static void
print_events(struct evbuffer *b, const struct events_block *e)
{
	static const char	*fmt[] = { "events", "failures", "callback" };
	const char		*sep = "";
	int			 k;

	evbuffer_add_printf(b, "events {\n\turl ");
	qurl(b, e->url);
	evbuffer_add_printf(b, "\n");
	if (e->format != EVFMT_EVENTS)
		evbuffer_add_printf(b, "\tformat %s\n", fmt[e->format]);
	if (e->kinds != EV_ALL) {
		evbuffer_add_printf(b, "\tkinds \"");
		for (k = 0; k < EV_KIND_MAX; k++)
			if (e->kinds & (1U << k)) {
				evbuffer_add_printf(b, "%s%s", sep,
				    event_kind_name(k));
				sep = ",";
			}
		evbuffer_add_printf(b, "\"\n");
	}
	if (e->secret[0] != '\0')
		evbuffer_add_printf(b, "\t# secret (masked)\n");
	masked_headers(b, &e->headers);
	if (e->timeout != EVENTS_TIMEOUT) {
		dur_line(b, "\ttimeout ", e->timeout);
	}
	if (e->batch_max != EVENTS_BATCH)
		evbuffer_add_printf(b, "\tbatch %d\n", e->batch_max);
	if (e->batch_wait != EVENTS_WAIT)
		evbuffer_add_printf(b, "\twait %dms\n", e->batch_wait);
	if (e->lifetime != EVENTS_LIFETIME) {
		dur_line(b, "\tlifetime ", e->lifetime);
	}
	evbuffer_add_printf(b, "}\n");
}

static void
print_outbound(struct evbuffer *b, const struct config *c)
{
	const struct dkim	*k;
	const struct tracking	*t;

	TAILQ_FOREACH(k, &c->dkims, entry) {
		evbuffer_add_printf(b, "dkim domain ");
		q(b, k->domain);
		evbuffer_add_printf(b, " selector ");
		q(b, k->selector);
		evbuffer_add_printf(b, " key ");
		q(b, k->key_file);
		evbuffer_add_printf(b, "\n");
	}
	TAILQ_FOREACH(t, &c->trackings, entry) {
		evbuffer_add_printf(b, "tracking domain ");
		q(b, t->domain);
		evbuffer_add_printf(b, " {\n\turl ");
		q(b, t->url);
		evbuffer_add_printf(b, "\n");
		if (!t->opens)
			evbuffer_add_printf(b, "\topens no\n");
		if (!t->clicks)
			evbuffer_add_printf(b, "\tclicks no\n");
		if (t->read != TRACKING_READ) {
			dur_line(b, "\tread ", t->read);
		}
		if (!t->unsubscribe)
			evbuffer_add_printf(b, "\tunsubscribe no\n");
		if (t->secret[0] != '\0' && !t->spool_key)
			evbuffer_add_printf(b, "\t# secret (masked)\n");
		evbuffer_add_printf(b, "}\n");
	}
	if (c->cluster.redis[0] != '\0') {
		evbuffer_add_printf(b, "cluster {\n\tredis ");
		qurl(b, c->cluster.redis);
		evbuffer_add_printf(b, "\n");
		if (c->cluster.node[0] != '\0') {
			evbuffer_add_printf(b, "\tnode ");
			q(b, c->cluster.node);
			evbuffer_add_printf(b, "\n");
		}
		if (c->cluster.auth_file[0] != '\0') {
			evbuffer_add_printf(b, "\tauth ");
			q(b, c->cluster.auth_file);
			evbuffer_add_printf(b, "\n");
		}
		evbuffer_add_printf(b, "}\n");
	}
}

static void
print_testing(struct evbuffer *b, const struct testing *t)
{
	if (t->relay_port)
		evbuffer_add_printf(b, "testing relay-port %d\n",
		    t->relay_port);
	if (t->relay_timeout)
		evbuffer_add_printf(b, "testing relay-timeout %d\n",
		    t->relay_timeout);
	if (t->mtasts_port)
		evbuffer_add_printf(b, "testing mta-sts-port %d\n",
		    t->mtasts_port);
	if (t->tlsrpt_period)
		evbuffer_add_printf(b, "testing tls-rpt-period %d\n",
		    t->tlsrpt_period);
	if (t->idem_sweep)
		evbuffer_add_printf(b, "testing idem-sweep %d\n",
		    t->idem_sweep);
	if (t->dsn_pause)
		evbuffer_add_printf(b, "testing dsn-pause %d\n",
		    t->dsn_pause);
	if (t->hook_retry)
		evbuffer_add_printf(b, "testing hook-retry %d\n",
		    t->hook_retry);
	if (t->events_retry && t->events_retry_max)
		evbuffer_add_printf(b, "testing events-retry %d %d\n",
		    t->events_retry, t->events_retry_max);
	else if (t->events_retry)
		evbuffer_add_printf(b, "testing events-retry %d\n",
		    t->events_retry);
	if (t->seccomp_debug)
		evbuffer_add_printf(b, "testing seccomp-debug\n");
}

char *
config_print(const struct config *c)
{
	struct evbuffer			*b;
	struct config			*d;
	const struct route		*r;
	const struct events_block	*e;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	if ((d = config_new()) == NULL) {
		evbuffer_free(b);
		return (NULL);
	}
	print_top(b, c, d);
	print_listeners(b, c);
	print_limits(b, c, d);
	TAILQ_FOREACH(r, &c->routes, entry)
		print_route(b, r);
	print_relay(b, c, d);
	TAILQ_FOREACH(e, &c->events, entry)
		print_events(b, e);
	print_outbound(b, c);
	print_testing(b, &c->testing);
	config_free(d);
	return (evbuf_finish(b, 0, NULL));
}

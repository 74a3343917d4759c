/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The configuration as JSON, the form in which the parent sends each
 * child its part (config_to_json) and the child decodes and checks it
 * (config_from_json).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hex.h"
#include "log.h"
#include "token.h"

/*
 * JSON form.  Enumerations travel as their configuration words, event
 * kinds as a list of names.  Secrets (webhook secrets, header values,
 * relay credentials, PEM data, the credentials file) only with their
 * CONF_* bit.
 */

static const char *const match_names[] = {
	"address", "domain", "subdomains", "any"
};
static const char *const format_names[] = { "json", "multipart", "raw" };
static const char *const authz_names[] = { "form", "json", "xml" };
static const char *const mode_names[] = { "sync", "queue" };
static const char *const evfmt_names[] = { "events", "failures", "callback" };
#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

static void
jset(json_t *o, const char *k, json_t *v)
{
	if (v == NULL || json_object_set_new(o, k, v) == -1)
		fatalx("config_to_json: out of memory");
}

static void
jstr(json_t *o, const char *k, const char *v)
{
	jset(o, k, json_string(v));
}

static void
jint(json_t *o, const char *k, long long v)
{
	jset(o, k, json_integer(v));
}

/*
 * A URL a process does not call: without its password or query values,
 * which may be the endpoint's credentials (http://user:token@host/,
 * ?key=token)
 */
static void
jurl(json_t *o, const char *k, const char *url, int whole)
{
	char	 pub[MH_URL_MAX];

	if (whole || url[0] == '\0') {
		jstr(o, k, url);
		return;
	}
	config_url_public(url, pub, sizeof(pub));
	jstr(o, k, pub);
}

static void
jdata(json_t *o, const char *k, const char *v, size_t len)
{
	if (v != NULL)
		jset(o, k, json_stringn(v, len));
}

const char *
config_rate_unit_name(enum rate_unit u)
{
	switch (u) {
	case RATE_MINUTE:
		return ("minute");
	case RATE_HOUR:
		return ("hour");
	case RATE_DAY:
		return ("day");
	default:
		return ("second");
	}
}

static json_t *
headers_to_json(const struct headerlist *hl, int values)
{
	const struct header	*h;
	json_t			*a, *o;

	if ((a = json_array()) == NULL)
		fatalx("config_to_json: out of memory");
	TAILQ_FOREACH(h, hl, entry) {
		if ((o = json_object()) == NULL)
			fatalx("config_to_json: out of memory");
		jstr(o, "name", h->name);
		if (values)
			jstr(o, "value", h->value);
		if (json_array_append_new(a, o) == -1)
			fatalx("config_to_json: out of memory");
	}
	return (a);
}

static void
append(json_t *a, json_t *o)
{
	if (json_array_append_new(a, o) == -1)
		fatalx("config_to_json: out of memory");
}

static json_t *
newobj(void)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		fatalx("config_to_json: out of memory");
	return (o);
}

static json_t *
newarr(void)
{
	json_t	*a;

	if ((a = json_array()) == NULL)
		fatalx("config_to_json: out of memory");
	return (a);
}

static json_t *
listeners_to_json(const struct config *c)
{
	const struct listener	*l;
	json_t			*a = newarr(), *o, *p;
	size_t			 i;

	TAILQ_FOREACH(l, &c->listeners, entry) {
		o = newobj();
		jint(o, "id", l->id);
		jstr(o, "addr", l->addr);
		jint(o, "port", l->port);
		jint(o, "flags", l->flags);
		p = newarr();
		for (i = 0; i < l->npkis; i++)
			append(p, json_string(l->pkis[i]));
		jset(o, "pkis", p);
		jstr(o, "hostname", l->hostname);
		jset(o, "pending", json_boolean(l->pending));
		append(a, o);
	}
	return (a);
}

/*
 * The keypair of a pki goes to the process that serves a listener naming
 * it: smtpd (CONF_TLS_KEYS) for an SMTP listener, webd (CONF_HTTPS_KEYS)
 * for an http one.  A listener pending a restart serves nothing yet: its
 * pkis go once it has a socket.
 */
static int
pki_wanted(const struct config *c, const struct pki *p, int flags)
{
	const struct listener	*l;

	TAILQ_FOREACH(l, &c->listeners, entry)
		if (!l->pending && (flags & ((l->flags & LF_HTTP) ?
		    CONF_HTTPS_KEYS : CONF_TLS_KEYS)) != 0 &&
		    config_listener_names(l, p->name))
			return (1);
	return (0);
}

static json_t *
pkis_to_json(const struct config *c, int flags)
{
	const struct pki	*p;
	json_t			*a = newarr(), *o;

	TAILQ_FOREACH(p, &c->pkis, entry) {
		o = newobj();
		jstr(o, "name", p->name);
		jstr(o, "cert_file", p->cert_file);
		jstr(o, "key_file", p->key_file);
		if (pki_wanted(c, p, flags)) {
			jdata(o, "cert", p->cert, p->certlen);
			jdata(o, "key", p->key, p->keylen);
		}
		append(a, o);
	}
	return (a);
}

static json_t *
routes_to_json(const struct config *c, int flags)
{
	const struct route	*r;
	json_t			*a = newarr(), *o;

	TAILQ_FOREACH(r, &c->routes, entry) {
		o = newobj();
		jint(o, "id", r->id);
		jstr(o, "match", match_names[r->match]);
		jstr(o, "pattern", r->pattern);
		jurl(o, "url", r->url, flags & CONF_ROUTE_SECRETS);
		jstr(o, "format", format_names[r->format]);
		jstr(o, "mode", mode_names[r->mode]);
		jurl(o, "authorize", r->authorize, flags & CONF_AUTHZ_URLS);
		jstr(o, "authorize_format", authz_names[r->authorize_format]);
		jint(o, "authorize_timeout", r->authorize_timeout);
		jurl(o, "errors", r->errors, flags & CONF_ROUTE_SECRETS);
		jset(o, "headers", headers_to_json(&r->headers,
		    flags & CONF_ROUTE_HEADERS));
		if (flags & CONF_ROUTE_SECRETS)
			jstr(o, "secret", r->secret);
		jint(o, "timeout", r->timeout);
		jint(o, "lifetime", r->lifetime);
		jint(o, "concurrency", r->concurrency);
		jint(o, "require", r->require);
		jint(o, "require_quarantine", r->require_quarantine);
		jint(o, "no_verdicts", r->no_verdicts);
		jstr(o, "fallback_maildir", r->fallback_maildir);
		jstr(o, "fallback_smtp", r->fallback_smtp);
		append(a, o);
	}
	return (a);
}

static json_t *
relay_to_json(const struct config *c, json_t *o, int flags)
{
	const struct netaddr		*n;
	const struct domain_limit	*d;
	const struct sender_limit	*s;
	const struct tls_policy_domain	*t;
	json_t				*a, *e;
	char				 via[MH_URL_MAX];

	jset(o, "relay_from_auth", json_boolean(c->relay_from_auth));
	a = newarr();
	TAILQ_FOREACH(n, &c->relay_from, entry)
		append(a, json_string(n->text));
	jset(o, "relay_from", a);
	jstr(o, "relay_auth", c->relay_auth);
	if (flags & CONF_RELAY_AUTH) {
		jstr(o, "relay_via", c->relay_via);
		jdata(o, "relay_auth_data", c->relay_auth_data,
		    c->relay_auth_len);
	}
	else {
		config_url_public(c->relay_via, via, sizeof(via));
		jstr(o, "relay_via", via);
	}
	jstr(o, "bounce_domain", c->bounce_domain);
	jset(o, "bounce_dsn", json_boolean(c->bounce_dsn));
	jint(o, "queue_lifetime", c->queue_lifetime);
	jint(o, "history", c->history);
	jint(o, "retry_min", c->retry_min);
	jint(o, "retry_max", c->retry_max);
	a = newarr();
	TAILQ_FOREACH(d, &c->domain_limits, entry) {
		e = newobj();
		jstr(e, "domain", d->domain);
		jint(e, "rate", d->rate);
		jstr(e, "per", config_rate_unit_name(d->per));
		jint(e, "connections", d->connections);
		jset(e, "tls_require", json_boolean(d->tls_require));
		jset(e, "tls_verify", json_boolean(d->tls_verify));
		append(a, e);
	}
	jset(o, "domain_limits", a);
	jstr(o, "tls_policy", config_tls_policy_name(c->tls_policy));
	a = newarr();
	TAILQ_FOREACH(t, &c->tls_policies, entry) {
		e = newobj();
		jstr(e, "domain", t->domain);
		jstr(e, "policy", config_tls_policy_name(t->policy));
		append(a, e);
	}
	jset(o, "tls_policies", a);
	a = newarr();
	TAILQ_FOREACH(s, &c->sender_limits, entry) {
		e = newobj();
		jstr(e, "domain", s->domain);
		jint(e, "rate", s->rate);
		jstr(e, "per", config_rate_unit_name(s->per));
		append(a, e);
	}
	jset(o, "sender_limits", a);
	return (o);
}

static json_t *
events_to_json(const struct config *c, int flags)
{
	const struct events_block	*e;
	json_t				*a = newarr(), *o, *k;
	int				 i;

	TAILQ_FOREACH(e, &c->events, entry) {
		o = newobj();
		jint(o, "id", e->id);
		jurl(o, "url", e->url, flags & CONF_EVENT_SECRETS);
		jstr(o, "format", evfmt_names[e->format]);
		k = newarr();
		for (i = 0; i < EV_KIND_MAX; i++)
			if (e->kinds & (1U << i))
				append(k, json_string(event_kind_name(i)));
		jset(o, "kinds", k);
		if (flags & CONF_EVENT_SECRETS)
			jstr(o, "secret", e->secret);
		jset(o, "headers", headers_to_json(&e->headers,
		    flags & CONF_EVENT_SECRETS));
		jint(o, "timeout", e->timeout);
		jint(o, "batch_max", e->batch_max);
		jint(o, "batch_wait", e->batch_wait);
		jint(o, "lifetime", e->lifetime);
		append(a, o);
	}
	return (a);
}

static json_t *
dkims_to_json(const struct config *c)
{
	const struct dkim	*d;
	json_t			*a = newarr(), *o;

	TAILQ_FOREACH(d, &c->dkims, entry) {
		o = newobj();
		jstr(o, "domain", d->domain);
		jstr(o, "selector", d->selector);
		jstr(o, "key_file", d->key_file);
		append(a, o);
	}
	return (a);
}

static json_t *
trackings_to_json(const struct config *c, int flags)
{
	const struct tracking	*t;
	json_t			*a = newarr(), *o;

	TAILQ_FOREACH(t, &c->trackings, entry) {
		o = newobj();
		jstr(o, "domain", t->domain);
		jstr(o, "url", t->url);
		jset(o, "opens", json_boolean(t->opens));
		jset(o, "clicks", json_boolean(t->clicks));
		jint(o, "read", t->read);
		jset(o, "unsubscribe", json_boolean(t->unsubscribe));
		if (flags & CONF_TRACKING_KEY) {
			jstr(o, "secret", t->secret);
			jstr(o, "prev_secret", t->prev_secret);
		}
		append(a, o);
	}
	return (a);
}

static json_t *
cluster_to_json(const struct cluster_conf *cc, int flags)
{
	json_t	*o = newobj();
	char	 pub[MH_URL_MAX];

	config_url_public(cc->redis, pub, sizeof(pub));
	jstr(o, "redis", (flags & CONF_CLUSTER_AUTH) ? cc->redis : pub);
	jstr(o, "node", cc->node);
	jstr(o, "user", cc->user);
	if (flags & CONF_CLUSTER_AUTH)
		jstr(o, "password", cc->password);
	return (o);
}

json_t *
config_to_json(const struct config *c, int flags)
{
	json_t	*o = newobj();

	jstr(o, "file", c->file);
	jstr(o, "hostname", c->hostname);
	jstr(o, "tls_ciphers", c->tls_ciphers);
	jstr(o, "postmaster", c->postmaster);
	jstr(o, "resolver", c->resolver);
	jint(o, "resolver_port", c->resolver_port);
	jstr(o, "dnssec_anchor", c->dnssec_anchor);
	jdata(o, "dnssec_anchor_data", c->dnssec_anchor_data,
	    c->dnssec_anchor_len);
	jstr(o, "spool", c->spool);
	jstr(o, "control", c->control);
	jstr(o, "credentials", c->credentials);
	jstr(o, "cabundle", c->cabundle);
	if (flags & CONF_CREDENTIALS)
		jdata(o, "credentials_data", c->credentials_data,
		    c->credentials_len);
	jstr(o, "api_keys", c->api_keys);
	if (flags & CONF_API_KEYS)
		jdata(o, "api_keys_data", c->api_keys_data, c->api_keys_len);
	jdata(o, "cabundle_data", c->cabundle_data, c->cabundle_len);
	if ((flags & CONF_VERDICT_KEY) && c->verdict_key[0] != '\0')
		jstr(o, "verdict_key", c->verdict_key);
	if ((flags & CONF_VERP_KEY) && c->verp_key[0] != '\0')
		jstr(o, "verp_key", c->verp_key);
	jint(o, "max_message_size", c->max_message_size);
	jint(o, "max_recipients", c->max_recipients);
	jint(o, "max_sessions", c->max_sessions);
	jint(o, "max_sessions_per_ip", c->max_sessions_per_ip);
	jint(o, "max_sessions_per_net", c->max_sessions_per_net);
	jint(o, "smtp_timeout", c->smtp_timeout);
	jint(o, "tls_handshake_timeout", c->tls_handshake_timeout);
	jint(o, "min_data_rate", c->min_data_rate);
	jint(o, "greeting_delay_ms", c->greeting_delay_ms);
	jint(o, "session_timeout", c->session_timeout);
	jint(o, "max_errors", c->max_errors);
	jint(o, "max_junk", c->max_junk);
	jint(o, "mime_parts", c->mime_parts);
	jint(o, "mime_depth", c->mime_depth);
	jint(o, "mime_headers", c->mime_headers);
	jint(o, "mime_header_size", c->mime_header_size);
	jset(o, "allow_private", json_boolean(c->allow_private));
	jset(o, "spf_reject_fail", json_boolean(c->spf_reject_fail));
	jset(o, "listeners", listeners_to_json(c));
	jset(o, "pkis", pkis_to_json(c, flags));
	jset(o, "routes", routes_to_json(c, flags));
	relay_to_json(c, o, flags);
	jset(o, "events", events_to_json(c, flags));
	jset(o, "dkim", dkims_to_json(c));
	jset(o, "tracking", trackings_to_json(c, flags));
	jset(o, "cluster", cluster_to_json(&c->cluster, flags));
	jset(o, "testing", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i, s:b}",
	    "relay_port", c->testing.relay_port,
	    "dsn_pause", c->testing.dsn_pause,
	    "idem_sweep", c->testing.idem_sweep,
	    "relay_timeout", c->testing.relay_timeout,
	    "tlsrpt_period", c->testing.tlsrpt_period,
	    "mtasts_port", c->testing.mtasts_port,
	    "hook_retry", c->testing.hook_retry,
	    "events_retry", c->testing.events_retry,
	    "events_retry_max", c->testing.events_retry_max,
	    "seccomp_debug", c->testing.seccomp_debug));
	return (o);
}

/* the text config_to_json_text makes, grown by hand to wipe each copy */
struct jtext {
	char	*buf;
	size_t	 len, size;
};

static int
jtext_cb(const char *p, size_t n, void *arg)
{
	struct jtext	*t = arg;
	char		*nb;
	size_t		 size;

	if (n >= t->size - t->len) {
		size = t->size;
		while (n >= size - t->len) {
			if (size > SIZE_MAX / 2)
				return (-1);
			size *= 2;
		}
		if ((nb = malloc(size)) == NULL)
			return (-1);
		memcpy(nb, t->buf, t->len);
		freezero(t->buf, t->size);
		t->buf = nb;
		t->size = size;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return (0);
}

/* every string value of j wiped in place, but where shared */
static void
json_wipe(json_t *j)
{
	json_t		*v;
	const char	*k;
	size_t		 i;

	if (j == NULL || j->refcount > 1)
		return;
	switch (json_typeof(j)) {
	case JSON_STRING:
		explicit_bzero((char *)json_string_value(j),
		    json_string_length(j));
		break;
	case JSON_OBJECT:
		json_object_foreach(j, k, v)
			json_wipe(v);
		break;
	case JSON_ARRAY:
		json_array_foreach(j, i, v)
			json_wipe(v);
		break;
	default:
		break;
	}
}

void
config_json_free(json_t *j)
{
	json_wipe(j);
	json_decref(j);
}

/*
 * config_to_json(c, flags) as compact text, NUL-terminated, its length
 * in *lenp; NULL on failure.  It carries the flags' secrets: every
 * buffer it outgrows is wiped before it is freed (jansson's json_dumps
 * grows its own and frees them as they are), and the caller wipes the
 * text with freezero(s, *lenp + 1).
 */
char *
config_to_json_text(const struct config *c, int flags, size_t *lenp)
{
	struct jtext	 t;
	json_t		*j;
	int		 rc;

	if ((j = config_to_json(c, flags)) == NULL)
		return (NULL);
	t.len = 0;
	t.size = 4096;
	if ((t.buf = malloc(t.size)) == NULL) {
		config_json_free(j);
		return (NULL);
	}
	t.buf[0] = '\0';
	rc = json_dump_callback(j, jtext_cb, &t, JSON_COMPACT);
	config_json_free(j);
	if (rc == -1) {
		freezero(t.buf, t.size);
		return (NULL);
	}
	*lenp = t.len;
	return (t.buf);
}

/*
 * Decoding: every member is type- and size-checked; any mismatch makes
 * the whole config invalid.  Members that only travel with a CONF_* bit
 * are optional.
 */

static int
gstr(const json_t *o, const char *k, char *dst, size_t len, int optional)
{
	const json_t	*v;
	size_t		 n;

	if ((v = json_object_get(o, k)) == NULL) {
		dst[0] = '\0';
		return (optional ? 0 : -1);
	}
	if (!json_is_string(v))
		return (-1);
	n = json_string_length(v);
	if (n >= len || memchr(json_string_value(v), '\0', n) != NULL)
		return (-1);
	memcpy(dst, json_string_value(v), n + 1);
	return (0);
}

static int
gdup(const json_t *o, const char *k, char **dst, size_t maxlen, int optional)
{
	const json_t	*v;
	size_t		 n;

	if ((v = json_object_get(o, k)) == NULL)
		return (optional ? 0 : -1);
	if (!json_is_string(v))
		return (-1);
	n = json_string_length(v);
	if (n > maxlen || memchr(json_string_value(v), '\0', n) != NULL)
		return (-1);
	if ((*dst = strndup(json_string_value(v), n)) == NULL)
		return (-1);
	return (0);
}

static int
gdata(const json_t *o, const char *k, char **dst, size_t *len)
{
	const json_t	*v;
	size_t		 n;

	if ((v = json_object_get(o, k)) == NULL)
		return (0);
	if (!json_is_string(v) || (n = json_string_length(v)) > CONFIG_FILE_MAX)
		return (-1);
	if ((*dst = malloc(n + 1)) == NULL)
		return (-1);
	memcpy(*dst, json_string_value(v), n);
	(*dst)[n] = '\0';
	*len = n;
	return (0);
}

static int
gint(const json_t *o, const char *k, long long min, long long max,
    long long *out)
{
	const json_t	*v;

	if ((v = json_object_get(o, k)) == NULL || !json_is_integer(v))
		return (-1);
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return (-1);
	return (0);
}

#define GINT(o, k, min, max, dst) do {					\
	long long	 v_;						\
	if (gint((o), (k), (min), (max), &v_) == -1)			\
		return (-1);						\
	(dst) = v_;							\
} while (0)

static int
gbool(const json_t *o, const char *k, int *out)
{
	const json_t	*v;

	if ((v = json_object_get(o, k)) == NULL || !json_is_boolean(v))
		return (-1);
	*out = json_is_true(v);
	return (0);
}

static int
genum(const json_t *o, const char *k, const char *const names[], int n,
    int *out)
{
	const json_t	*v;
	int		 i;

	if ((v = json_object_get(o, k)) == NULL || !json_is_string(v))
		return (-1);
	for (i = 0; i < n; i++) {
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = i;
			return (0);
		}
	}
	return (-1);
}

static int
gper(const json_t *o, enum rate_unit *per)
{
	static const char *const names[] = { "second", "minute", "hour",
	    "day" };
	static const enum rate_unit units[] = {
		RATE_SECOND, RATE_MINUTE, RATE_HOUR, RATE_DAY
	};
	int	 i;

	if (genum(o, "per", names, NELEM(names), &i) == -1)
		return (-1);
	*per = units[i];
	return (0);
}

/* the array at k, each element an object (or string if strings) */
static const json_t *
garr(const json_t *o, const char *k, int strings)
{
	const json_t	*a, *v;
	size_t		 i;

	if ((a = json_object_get(o, k)) == NULL || !json_is_array(a))
		return (NULL);
	json_array_foreach(a, i, v) {
		if (strings ? !json_is_string(v) : !json_is_object(v))
			return (NULL);
	}
	return (a);
}

static int
headers_from_json(const json_t *o, struct headerlist *hl)
{
	const json_t	*a, *v;
	struct header	*h;
	size_t		 i;

	if ((a = garr(o, "headers", 0)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((h = calloc(1, sizeof(*h))) == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(hl, h, entry);
		if (gdup(v, "name", &h->name, 128, 0) == -1 ||
		    gdup(v, "value", &h->value, 4096, 1) == -1)
			return (-1);
		if (h->value == NULL && (h->value = strdup("")) == NULL)
			return (-1);
		if (config_check_header(h->name, h->value) != NULL)
			return (-1);
	}
	return (0);
}

static int
listener_from_json(struct config *c, const json_t *o)
{
	struct listener	*l;
	const json_t	*a, *v;
	size_t		 i;
	int		 mask = LF_STARTTLS | LF_TLS_REQUIRE | LF_SMTPS |
			    LF_AUTH | LF_AUTH_REQUIRE | LF_HTTP | LF_API |
			    LF_METRICS;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (-1);
	l->fd = -1;
	TAILQ_INSERT_TAIL(&c->listeners, l, entry);
	GINT(o, "id", 0, UINT32_MAX, l->id);
	GINT(o, "port", 1, 65535, l->port);
	GINT(o, "flags", 0, mask, l->flags);
	if (gbool(o, "pending", &l->pending) == -1)
		return (-1);
	if (gstr(o, "addr", l->addr, sizeof(l->addr), 0) == -1 ||
	    gstr(o, "hostname", l->hostname, sizeof(l->hostname), 0) == -1 ||
	    config_addr(l->addr, l->port, &l->ss, &l->sslen) == -1)
		return (-1);
	/* each a pki of this config, the pkis come first */
	if ((a = garr(o, "pkis", 1)) == NULL ||
	    json_array_size(a) > MH_LISTEN_PKI_MAX)
		return (-1);
	json_array_foreach(a, i, v) {
		if (json_string_length(v) != strlen(json_string_value(v)) ||
		    strlcpy(l->pkis[i], json_string_value(v),
		    sizeof(l->pkis[i])) >= sizeof(l->pkis[i]) ||
		    config_pki(c, l->pkis[i]) == NULL)
			return (-1);
	}
	l->npkis = json_array_size(a);
	return (0);
}

static int
pki_from_json(struct config *c, const json_t *o)
{
	struct pki	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&c->pkis, p, entry);
	if (gstr(o, "name", p->name, sizeof(p->name), 0) == -1 ||
	    gstr(o, "cert_file", p->cert_file, sizeof(p->cert_file), 0) == -1 ||
	    gstr(o, "key_file", p->key_file, sizeof(p->key_file), 0) == -1 ||
	    gdata(o, "cert", &p->cert, &p->certlen) == -1 ||
	    gdata(o, "key", &p->key, &p->keylen) == -1)
		return (-1);
	return (0);
}

static int
route_from_json(struct config *c, const json_t *o)
{
	struct route	*r;
	int		 e;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (-1);
	TAILQ_INIT(&r->headers);
	TAILQ_INSERT_TAIL(&c->routes, r, entry);
	GINT(o, "id", 0, UINT32_MAX, r->id);
	GINT(o, "authorize_timeout", 1, 300, r->authorize_timeout);
	GINT(o, "timeout", 1, 3600, r->timeout);
	GINT(o, "lifetime", 60, 90 * 86400, r->lifetime);
	GINT(o, "concurrency", 1, 1024, r->concurrency);
	GINT(o, "require", 0, REQUIRE_DKIM | REQUIRE_DMARC, r->require);
	GINT(o, "require_quarantine", 0, 1, r->require_quarantine);
	GINT(o, "no_verdicts", 0, 1, r->no_verdicts);
	if (genum(o, "match", match_names, NELEM(match_names), &e) == -1)
		return (-1);
	r->match = e;
	if (genum(o, "format", format_names, NELEM(format_names), &e) == -1)
		return (-1);
	r->format = e;
	if (genum(o, "mode", mode_names, NELEM(mode_names), &e) == -1)
		return (-1);
	r->mode = e;
	if (genum(o, "authorize_format", authz_names, NELEM(authz_names),
	    &e) == -1)
		return (-1);
	r->authorize_format = e;
	if (gstr(o, "pattern", r->pattern, sizeof(r->pattern), 0) == -1 ||
	    gstr(o, "url", r->url, sizeof(r->url), 0) == -1 ||
	    gstr(o, "authorize", r->authorize, sizeof(r->authorize), 0) == -1 ||
	    gstr(o, "errors", r->errors, sizeof(r->errors), 0) == -1 ||
	    gstr(o, "fallback_maildir", r->fallback_maildir,
	    sizeof(r->fallback_maildir), 1) == -1 ||
	    gstr(o, "fallback_smtp", r->fallback_smtp,
	    sizeof(r->fallback_smtp), 1) == -1 ||
	    gstr(o, "secret", r->secret, sizeof(r->secret), 1) == -1 ||
	    headers_from_json(o, &r->headers) == -1)
		return (-1);
	if (config_check_url(r->url) != NULL ||
	    (r->authorize[0] && config_check_url(r->authorize) != NULL) ||
	    (r->errors[0] && config_check_url(r->errors) != NULL) ||
	    (r->secret[0] && config_check_secret(r->secret) != NULL) ||
	    (r->fallback_smtp[0] &&
	    config_check_fallback_smtp(r->fallback_smtp) != NULL) ||
	    (r->fallback_maildir[0] &&
	    config_check_maildir(r->fallback_maildir) != NULL) ||
	    (r->match != ROUTE_ANY && r->pattern[0] == '\0'))
		return (-1);
	return (0);
}

static int
tls_policies_from_json(struct config *c, const json_t *o)
{
	const json_t			*a, *v;
	struct tls_policy_domain	*t;
	size_t				 i;
	char				 name[32];

	if (gstr(o, "tls_policy", name, sizeof(name), 0) == -1 ||
	    (c->tls_policy = config_tls_policy(name)) == -1 ||
	    (a = garr(o, "tls_policies", 0)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(&c->tls_policies, t, entry);
		if (gstr(v, "domain", t->domain, sizeof(t->domain), 0) == -1 ||
		    gstr(v, "policy", name, sizeof(name), 0) == -1 ||
		    (t->policy = config_tls_policy(name)) == -1)
			return (-1);
	}
	return (0);
}

static int
relay_from_json(struct config *c, const json_t *o)
{
	const json_t		*a, *v;
	struct netaddr		*n;
	struct domain_limit	*d;
	struct sender_limit	*s;
	size_t			 i;

	if (gbool(o, "relay_from_auth", &c->relay_from_auth) == -1 ||
	    gbool(o, "bounce_dsn", &c->bounce_dsn) == -1 ||
	    gstr(o, "relay_via", c->relay_via, sizeof(c->relay_via), 0) == -1 ||
	    gstr(o, "relay_auth", c->relay_auth, sizeof(c->relay_auth),
	    1) == -1 ||
	    gdata(o, "relay_auth_data", &c->relay_auth_data,
	    &c->relay_auth_len) == -1 ||
	    config_check_relay_via(c->relay_via) != NULL ||
	    gstr(o, "bounce_domain", c->bounce_domain,
	    sizeof(c->bounce_domain), 0) == -1)
		return (-1);
	GINT(o, "queue_lifetime", 60, 90 * 86400, c->queue_lifetime);
	GINT(o, "history", 1, 366 * 86400, c->history);
	GINT(o, "retry_min", 1, 86400, c->retry_min);
	GINT(o, "retry_max", c->retry_min, 7 * 86400, c->retry_max);
	if ((a = garr(o, "relay_from", 1)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((n = calloc(1, sizeof(*n))) == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(&c->relay_from, n, entry);
		if (config_cidr(json_string_value(v), n) == -1)
			return (-1);
	}
	if ((a = garr(o, "domain_limits", 0)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(&c->domain_limits, d, entry);
		GINT(v, "rate", 0, INT_MAX, d->rate);
		GINT(v, "connections", 0, 1000, d->connections);
		if (gstr(v, "domain", d->domain, sizeof(d->domain), 0) == -1 ||
		    gper(v, &d->per) == -1 ||
		    gbool(v, "tls_require", &d->tls_require) == -1 ||
		    gbool(v, "tls_verify", &d->tls_verify) == -1)
			return (-1);
	}
	if (tls_policies_from_json(c, o) == -1 ||
	    (a = garr(o, "sender_limits", 0)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		TAILQ_INSERT_TAIL(&c->sender_limits, s, entry);
		GINT(v, "rate", 1, INT_MAX, s->rate);
		if (gstr(v, "domain", s->domain, sizeof(s->domain), 0) == -1 ||
		    gper(v, &s->per) == -1)
			return (-1);
	}
	return (0);
}

static int
events_from_json(struct config *c, const json_t *o)
{
	struct events_block	*e;
	const json_t		*a, *v;
	size_t			 i;
	int			 k;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (-1);
	TAILQ_INIT(&e->headers);
	TAILQ_INSERT_TAIL(&c->events, e, entry);
	GINT(o, "id", 0, UINT32_MAX, e->id);
	GINT(o, "timeout", 1, 3600, e->timeout);
	GINT(o, "batch_max", 1, 10000, e->batch_max);
	GINT(o, "batch_wait", 0, 600000, e->batch_wait);
	GINT(o, "lifetime", 60, 90 * 86400, e->lifetime);
	if (genum(o, "format", evfmt_names, NELEM(evfmt_names), &k) == -1)
		return (-1);
	e->format = k;
	if (gstr(o, "url", e->url, sizeof(e->url), 0) == -1 ||
	    config_check_url(e->url) != NULL ||
	    gstr(o, "secret", e->secret, sizeof(e->secret), 1) == -1 ||
	    (e->secret[0] && config_check_secret(e->secret) != NULL) ||
	    headers_from_json(o, &e->headers) == -1 ||
	    (a = garr(o, "kinds", 1)) == NULL)
		return (-1);
	json_array_foreach(a, i, v) {
		if ((k = event_kind_from_name(json_string_value(v))) == -1)
			return (-1);
		e->kinds |= 1U << k;
	}
	return (0);
}

static int
dkim_from_json(struct config *c, const json_t *o)
{
	struct dkim	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&c->dkims, d, entry);
	if (gstr(o, "domain", d->domain, sizeof(d->domain), 0) == -1 ||
	    gstr(o, "selector", d->selector, sizeof(d->selector), 0) == -1 ||
	    gstr(o, "key_file", d->key_file, sizeof(d->key_file), 0) == -1)
		return (-1);
	return (0);
}

static int
tracking_from_json(struct config *c, const json_t *o)
{
	struct tracking	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&c->trackings, t, entry);
	GINT(o, "read", 1, 3600, t->read);
	if (gstr(o, "domain", t->domain, sizeof(t->domain), 0) == -1 ||
	    config_check_domain(t->domain) == -1 ||
	    gstr(o, "url", t->url, sizeof(t->url), 0) == -1 ||
	    config_check_tracking_url(t->url) != NULL ||
	    strlen(t->url) > TOKEN_TRACK_URL_MAX ||
	    gbool(o, "opens", &t->opens) == -1 ||
	    gbool(o, "clicks", &t->clicks) == -1 ||
	    gbool(o, "unsubscribe", &t->unsubscribe) == -1 ||
	    gstr(o, "secret", t->secret, sizeof(t->secret), 1) == -1 ||
	    (t->secret[0] && config_check_tracking_secret(t->secret)) ||
	    gstr(o, "prev_secret", t->prev_secret, sizeof(t->prev_secret),
	    1) == -1 ||
	    (t->prev_secret[0] && config_check_tracking_secret(t->prev_secret)))
		return (-1);
	return (0);
}

static int
lists_from_json(struct config *c, const json_t *o)
{
	static const struct {
		const char	*key;
		int		(*fn)(struct config *, const json_t *);
	} lists[] = {
		{ "pkis", pki_from_json },	/* before listeners:
						   they refer to them */
		{ "listeners", listener_from_json },
		{ "routes", route_from_json },
		{ "events", events_from_json },
		{ "dkim", dkim_from_json },
		{ "tracking", tracking_from_json }
	};
	const json_t	*a, *v;
	size_t		 i, j;

	for (j = 0; j < sizeof(lists) / sizeof(lists[0]); j++) {
		if ((a = garr(o, lists[j].key, 0)) == NULL)
			return (-1);
		json_array_foreach(a, i, v)
			if (lists[j].fn(c, v) == -1)
				return (-1);
	}
	return (0);
}

static int
testing_from_json(struct config *c, const json_t *o)
{
	if (!json_is_object(o) ||
	    gbool(o, "seccomp_debug", &c->testing.seccomp_debug) == -1)
		return (-1);
	GINT(o, "relay_port", 0, 65535, c->testing.relay_port);
	GINT(o, "relay_timeout", 0, 3600, c->testing.relay_timeout);
	GINT(o, "mtasts_port", 0, 65535, c->testing.mtasts_port);
	GINT(o, "tlsrpt_period", 0, 86400, c->testing.tlsrpt_period);
	GINT(o, "idem_sweep", 0, 86400, c->testing.idem_sweep);
	GINT(o, "dsn_pause", 0, 300, c->testing.dsn_pause);
	GINT(o, "hook_retry", 0, 86400, c->testing.hook_retry);
	GINT(o, "events_retry", 0, 86400000, c->testing.events_retry);
	GINT(o, "events_retry_max", 0, 86400000, c->testing.events_retry_max);
	return (0);
}

static int
scalars_from_json(struct config *c, const json_t *o)
{
	if (gstr(o, "file", c->file, sizeof(c->file), 0) == -1 ||
	    gstr(o, "hostname", c->hostname, sizeof(c->hostname), 0) == -1 ||
	    gstr(o, "tls_ciphers", c->tls_ciphers, sizeof(c->tls_ciphers),
	    0) == -1 ||
	    gstr(o, "postmaster", c->postmaster, sizeof(c->postmaster),
	    0) == -1 ||
	    gstr(o, "resolver", c->resolver, sizeof(c->resolver), 0) == -1 ||
	    gstr(o, "spool", c->spool, sizeof(c->spool), 0) == -1 ||
	    gstr(o, "control", c->control, sizeof(c->control), 0) == -1 ||
	    gstr(o, "credentials", c->credentials, sizeof(c->credentials),
	    0) == -1 ||
	    gstr(o, "cabundle", c->cabundle, sizeof(c->cabundle), 0) == -1 ||
	    gstr(o, "api_keys", c->api_keys, sizeof(c->api_keys), 0) == -1 ||
	    gdata(o, "api_keys_data", &c->api_keys_data,
	    &c->api_keys_len) == -1 ||
	    gstr(o, "verdict_key", c->verdict_key, sizeof(c->verdict_key),
	    1) == -1 ||
	    (c->verdict_key[0] != '\0' && !mh_ishex(c->verdict_key, 64)) ||
	    gstr(o, "verp_key", c->verp_key, sizeof(c->verp_key), 1) == -1 ||
	    (c->verp_key[0] != '\0' && !mh_ishex(c->verp_key, 64)) ||
	    gdata(o, "credentials_data", &c->credentials_data,
	    &c->credentials_len) == -1 ||
	    gdata(o, "cabundle_data", &c->cabundle_data,
	    &c->cabundle_len) == -1 ||
	    gstr(o, "dnssec_anchor", c->dnssec_anchor,
	    sizeof(c->dnssec_anchor), 1) == -1 ||
	    gdata(o, "dnssec_anchor_data", &c->dnssec_anchor_data,
	    &c->dnssec_anchor_len) == -1 ||
	    gbool(o, "allow_private", &c->allow_private) == -1 ||
	    gbool(o, "spf_reject_fail", &c->spf_reject_fail) == -1)
		return (-1);
	GINT(o, "resolver_port", 1, 65535, c->resolver_port);
	GINT(o, "max_message_size", 1024, INT_MAX, c->max_message_size);
	GINT(o, "max_recipients", 1, 100000, c->max_recipients);
	GINT(o, "max_sessions", 1, 65536, c->max_sessions);
	GINT(o, "max_sessions_per_ip", 1, 65536, c->max_sessions_per_ip);
	GINT(o, "max_sessions_per_net", 1, 65536, c->max_sessions_per_net);
	GINT(o, "smtp_timeout", 1, 86400, c->smtp_timeout);
	GINT(o, "tls_handshake_timeout", 1, 86400, c->tls_handshake_timeout);
	GINT(o, "min_data_rate", 0, 1073741824, c->min_data_rate);
	GINT(o, "greeting_delay_ms", 0, 60000, c->greeting_delay_ms);
	GINT(o, "session_timeout", 1, 86400, c->session_timeout);
	GINT(o, "max_errors", 1, 1000, c->max_errors);
	GINT(o, "max_junk", 1, 100000, c->max_junk);
	GINT(o, "mime_parts", 1, 100000, c->mime_parts);
	GINT(o, "mime_depth", 1, 1000, c->mime_depth);
	GINT(o, "mime_headers", 1, 1000000, c->mime_headers);
	GINT(o, "mime_header_size", 1024, 67108864, c->mime_header_size);
	return (testing_from_json(c, json_object_get(o, "testing")));
}

/* the URL again through its checker: a masked one is still a URL */
static int
cluster_from_json(struct cluster_conf *cc, const json_t *o)
{
	char	 user[MH_NAME_MAX], password[sizeof(cc->password)];

	if (o == NULL)
		return (0);
	if (!json_is_object(o) ||
	    gstr(o, "redis", cc->redis, sizeof(cc->redis), 0) == -1 ||
	    gstr(o, "node", cc->node, sizeof(cc->node), 0) == -1 ||
	    gstr(o, "user", user, sizeof(user), 0) == -1 ||
	    gstr(o, "password", password, sizeof(password), 1) == -1)
		return (-1);
	if (cc->redis[0] != '\0' &&
	    config_check_redis(cc->redis, cc) != NULL)
		return (-1);
	/* the parent's (from the URL or the auth file); none if not sent */
	strlcpy(cc->user, user, sizeof(cc->user));
	strlcpy(cc->password, password, sizeof(cc->password));
	explicit_bzero(password, sizeof(password));
	return (0);
}

struct config *
config_from_json(const json_t *o)
{
	struct config	*c;

	if (o == NULL || !json_is_object(o))
		return (NULL);
	if ((c = config_new()) == NULL)
		return (NULL);
	if (scalars_from_json(c, o) == -1 || relay_from_json(c, o) == -1 ||
	    lists_from_json(c, o) == -1 ||
	    cluster_from_json(&c->cluster, json_object_get(o, "cluster")) ==
	    -1) {
		config_free(c);
		return (NULL);
	}
	return (c);
}

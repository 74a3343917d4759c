/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Configuration helpers: defaults, freeing, value checks shared by the
 * parser and the JSON decoder, loading of the files the parent reads for
 * its children, and lookups.  The JSON form lives in config_json.c.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tls.h>

#include "apikeys.h"
#include "config.h"
#include "credlines.h"
#include "dns.h"
#include "envelope.h"
#include "hex.h"
#include "log.h"
#include "sign.h"

static const char *const kind_names[EV_KIND_MAX] = {
	[EV_REGISTRATION] = "registration",
	[EV_DISPATCH] = "dispatch",
	[EV_RATE_LIMIT] = "rate_limit",
	[EV_DELIVERY] = "delivery",
	[EV_BOUNCE] = "bounce",
	[EV_SOFT_BOUNCE] = "soft_bounce",
	[EV_DISPATCH_SOFT_BOUNCE] = "dispatch_soft_bounce",
	[EV_ERROR] = "error",
	[EV_RETRIES_EXHAUSTED] = "retries_exhausted",
	[EV_OPEN] = "open",
	[EV_READ_MAIL] = "read",
	[EV_CLICK] = "click",
	[EV_AUTO_REPLY] = "auto_reply",
	[EV_BOUNCE_REPLY] = "bounce_reply",
	[EV_SUPPRESSED] = "suppressed",
	[EV_UNSUBSCRIBE] = "unsubscribe",
	[EV_RESUBSCRIBE] = "resubscribe",
	[EV_REMOVED] = "removed",
	[EV_COMPLAINT] = "complaint"
};

const char *
event_kind_name(enum event_kind k)
{
	if ((int)k < 0 || k >= EV_KIND_MAX)
		return ("unknown");
	return (kind_names[k]);
}

int
event_kind_from_name(const char *name)
{
	int	 i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < EV_KIND_MAX; i++)
		if (strcmp(kind_names[i], name) == 0)
			return (i);
	return (-1);
}

struct config *
config_new(void)
{
	struct config	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("calloc");
		return (NULL);
	}
	c->refcnt = 1;
	if (gethostname(c->hostname, sizeof(c->hostname)) == -1)
		strlcpy(c->hostname, "localhost", sizeof(c->hostname));
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	strlcpy(c->resolver, "127.0.0.1", sizeof(c->resolver));
	strlcpy(c->tls_ciphers, MH_TLS_CIPHERS, sizeof(c->tls_ciphers));
	c->resolver_port = 53;
	strlcpy(c->spool, MH_SPOOL, sizeof(c->spool));
	strlcpy(c->control, MH_CONTROL, sizeof(c->control));
	/* children rebuild configs under seccomp: no file look-ups here */
	c->max_message_size = 25 * 1024 * 1024;
	c->max_recipients = 100;
	c->max_sessions = 1024;
	c->max_sessions_per_ip = 64;
	c->max_sessions_per_net = 256;
	c->smtp_timeout = 300;
	c->tls_handshake_timeout = 30;
	c->min_data_rate = 500;
	c->greeting_delay_ms = 0;
	c->session_timeout = 3600;
	c->max_errors = 10;
	c->max_junk = 100;
	c->mime_parts = 1000;
	c->mime_depth = 100;
	c->mime_headers = 10000;
	c->mime_header_size = 1024 * 1024;
	c->bounce_dsn = 1;
	c->queue_lifetime = 5 * 86400;
	c->history = 7 * 86400;
	c->retry_min = 300;
	c->retry_max = 3600;
	c->cluster.port = 6379;
	TAILQ_INIT(&c->listeners);
	TAILQ_INIT(&c->pkis);
	TAILQ_INIT(&c->routes);
	TAILQ_INIT(&c->relay_from);
	TAILQ_INIT(&c->domain_limits);
	TAILQ_INIT(&c->sender_limits);
	TAILQ_INIT(&c->tls_policies);
	TAILQ_INIT(&c->events);
	TAILQ_INIT(&c->dkims);
	TAILQ_INIT(&c->trackings);
	return (c);
}

static void
freedata(char **p, size_t *len, int secret)
{
	if (*p != NULL && secret)
		explicit_bzero(*p, *len);
	free(*p);
	*p = NULL;
	*len = 0;
}

void
config_headers_free(struct headerlist *hl)
{
	struct header	*h;

	while ((h = TAILQ_FIRST(hl)) != NULL) {
		TAILQ_REMOVE(hl, h, entry);
		free(h->name);
		if (h->value != NULL)
			explicit_bzero(h->value, strlen(h->value));
		free(h->value);
		free(h);
	}
}

struct config *
config_ref(struct config *c)
{
	if (c->refcnt <= 0 || c->refcnt == INT_MAX)
		fatalx("config_ref: bad reference count %d", c->refcnt);
	c->refcnt++;
	return (c);
}

void
config_unref(struct config *c)
{
	if (c == NULL)
		return;
	if (c->refcnt <= 0)
		fatalx("config_unref: bad reference count %d", c->refcnt);
	if (--c->refcnt == 0)
		config_free(c);
}

void
config_free(struct config *c)
{
	struct listener		*l;
	struct pki		*p;
	struct route		*r;
	struct netaddr		*n;
	struct domain_limit	*d;
	struct sender_limit	*s;
	struct tls_policy_domain *tp;
	struct events_block	*e;
	struct dkim		*k;
	struct tracking		*t;

	if (c == NULL)
		return;
	while ((l = TAILQ_FIRST(&c->listeners)) != NULL) {
		TAILQ_REMOVE(&c->listeners, l, entry);
		free(l);
	}
	while ((p = TAILQ_FIRST(&c->pkis)) != NULL) {
		TAILQ_REMOVE(&c->pkis, p, entry);
		freedata(&p->cert, &p->certlen, 0);
		freedata(&p->key, &p->keylen, 1);
		free(p);
	}
	while ((r = TAILQ_FIRST(&c->routes)) != NULL) {
		TAILQ_REMOVE(&c->routes, r, entry);
		/* its URLs may hold a password: the whole route */
		config_headers_free(&r->headers);
		explicit_bzero(r, sizeof(*r));
		free(r);
	}
	while ((n = TAILQ_FIRST(&c->relay_from)) != NULL) {
		TAILQ_REMOVE(&c->relay_from, n, entry);
		free(n);
	}
	while ((d = TAILQ_FIRST(&c->domain_limits)) != NULL) {
		TAILQ_REMOVE(&c->domain_limits, d, entry);
		free(d);
	}
	while ((s = TAILQ_FIRST(&c->sender_limits)) != NULL) {
		TAILQ_REMOVE(&c->sender_limits, s, entry);
		free(s);
	}
	while ((tp = TAILQ_FIRST(&c->tls_policies)) != NULL) {
		TAILQ_REMOVE(&c->tls_policies, tp, entry);
		free(tp);
	}
	while ((e = TAILQ_FIRST(&c->events)) != NULL) {
		TAILQ_REMOVE(&c->events, e, entry);
		config_headers_free(&e->headers);
		explicit_bzero(e, sizeof(*e));
		free(e);
	}
	while ((k = TAILQ_FIRST(&c->dkims)) != NULL) {
		TAILQ_REMOVE(&c->dkims, k, entry);
		freedata(&k->key, &k->keylen, 1);
		free(k);
	}
	while ((t = TAILQ_FIRST(&c->trackings)) != NULL) {
		TAILQ_REMOVE(&c->trackings, t, entry);
		explicit_bzero(t, sizeof(*t));
		free(t);
	}
	freedata(&c->credentials_data, &c->credentials_len, 1);
	freedata(&c->api_keys_data, &c->api_keys_len, 1);
	freedata(&c->cabundle_data, &c->cabundle_len, 0);
	freedata(&c->dnssec_anchor_data, &c->dnssec_anchor_len, 0);
	freedata(&c->relay_auth_data, &c->relay_auth_len, 1);
	/* relay via's password, the verdict, VERP and bounce keys... */
	explicit_bzero(c, sizeof(*c));
	free(c);
}

int
config_addr(const char *addr, in_port_t port, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcasecmp(addr, "localhost") == 0)
		addr = "127.0.0.1";
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*sslen = sizeof(*sin);
		return (0);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
		return (0);
	}
	*sslen = 0;
	return (-1);
}

static const uint8_t *
addrbytes(const struct sockaddr *sa, int *bits)
{
	if (sa->sa_family == AF_INET) {
		*bits = 32;
		return ((const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		*bits = 128;
		return ((const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr);
	}
	return (NULL);
}

int
config_cidr(const char *text, struct netaddr *n)
{
	char		 buf[64], *slash;
	const char	*errstr;
	const uint8_t	*b;
	socklen_t	 sl;
	int		 max = 0, bits, i;

	if (strlcpy(buf, text, sizeof(buf)) >= sizeof(buf))
		return (-1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (strcasecmp(buf, "localhost") == 0 ||
	    config_addr(buf, 0, &n->ss, &sl) == -1)
		return (-1);
	b = addrbytes((struct sockaddr *)&n->ss, &max);
	bits = max;
	if (slash != NULL) {
		bits = strtonum(slash, 0, max, &errstr);
		if (errstr != NULL || !isdigit((unsigned char)*slash))
			return (-1);
	}
	/* no host bits may be set */
	for (i = bits; i < max; i++)
		if (b[i / 8] & (0x80 >> (i % 8)))
			return (-1);
	n->bits = bits;
	strlcpy(n->text, text, sizeof(n->text));
	return (0);
}

int
config_cidr_match(const struct netaddr *n, const struct sockaddr *sa)
{
	const uint8_t	*a, *b;
	int		 amax, bmax, i;

	if (sa->sa_family != n->ss.ss_family)
		return (0);
	a = addrbytes((const struct sockaddr *)&n->ss, &amax);
	b = addrbytes(sa, &bmax);
	if (a == NULL || b == NULL)
		return (0);
	for (i = 0; i < n->bits; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return (0);
	return (1);
}

const char *
config_check_url(const char *url)
{
	const char	*host;

	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return ("is not an http:// or https:// URL");
	if (*host == '\0' || strchr("/:?#@", *host) != NULL)
		return ("has no host");
	if (strpbrk(url, " \t\r\n") != NULL)
		return ("contains white space");
	if (strlen(url) >= MH_URL_MAX)
		return ("is too long");
	return (NULL);
}

const char *
config_check_secret(const char *s)
{
	size_t	 n, pad;

	if (strncmp(s, "whsec_", 6) != 0)
		return ("secret must start with \"whsec_\"");
	n = strspn(s + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=");
	if (s[6] == '\0' || s[6 + n] != '\0')
		return ("secret must be \"whsec_\" followed by base64");
	if (strlen(s) >= MH_NAME_MAX)
		return ("secret too long");
	/* a key a receiver decodes as sign_webhook does, or none at all */
	if (n % 4 != 0)
		return ("secret is not base64 of a key: the characters after "
		    "\"whsec_\" must be a multiple of 4, '=' padded");
	pad = n - strcspn(s + 6, "=");
	if (pad > 2 || strspn(s + 6 + n - pad, "=") != pad ||
	    sign_key_len(s) == -1)
		return ("secret is not base64 of a key: '=' may only pad its "
		    "end (at most two), and it must hold a byte at least");
	return (NULL);
}

int
config_check_domain(const char *d)
{
	const char	*s;

	if (d[0] == '\0' || d[0] == '.' || d[0] == '-' ||
	    strlen(d) >= MH_NAME_MAX || strstr(d, "..") != NULL)
		return (-1);
	for (s = d; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' &&
		    *s != '_')
			return (-1);
	return (0);
}

int
config_check_selector(const char *s)
{
	if (config_check_domain(s) == -1 || s[strlen(s) - 1] == '.')
		return (-1);
	return (0);
}

/*
 * Headers the HTTP client sets itself: the framing of the request (a
 * second Content-Length would smuggle the body past the server), its
 * Host (another one sends the request to another site behind the URL's
 * server or proxy than the URL names, past the address guard), its
 * Content-Type (a multipart one carries its boundary) and the Standard
 * Webhooks signature.
 */
static const char *const reserved_headers[] = {
	"Connection", "Content-Length", "Content-Type", "Expect", "Host",
	"Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "webhook-id", "webhook-signature",
	"webhook-timestamp"
};

const char *
config_check_header(const char *name, const char *value)
{
	const char	*s;
	size_t		 i;

	if (name[0] == '\0' || strlen(name) > 128)
		return ("bad header name");
	/* a token (RFC 9110 5.6.2): no separator a server would refuse */
	for (s = name; *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}",
		    *s) != NULL)
			return ("bad header name");
	for (i = 0; i < sizeof(reserved_headers) /
	    sizeof(reserved_headers[0]); i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return ("a header mailhook sets itself:");
	if (strlen(value) > 4096)
		return ("header value too long");
	for (s = value; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return ("control character in header value");
	return (NULL);
}

void
config_url_public(const char *url, char *buf, size_t len)
{
	const char	*scheme, *auth, *at, *colon, *hide, *p;
	size_t		 o = 0;
	int		 inval = 0;

	if (len == 0)
		return;
	/* the authority: after "://", or the start of a URL typed without */
	scheme = strstr(url, "://");
	auth = scheme != NULL ? scheme + 3 : url;
	/* the authority's last @: a password may hold one (a redis URL) */
	at = memrchr(auth, '@', strcspn(auth, "/?#"));
	colon = at != NULL ? memchr(auth, ':', at - auth) : NULL;
	/* the password; a user without one may be the token itself: all */
	hide = at == NULL ? NULL : colon != NULL ? colon + 1 : auth;
	for (p = url; *p != '\0' && o + 2 < len; p++) {
		if (p == hide)
			buf[o++] = '*';
		if (hide != NULL && p >= hide && p < at)
			continue;
		if (inval && *p != '&' && *p != '#') {
			if (buf[o - 1] != '*')
				buf[o++] = '*';
			continue;
		}
		inval = 0;
		buf[o++] = *p;
		if (*p == '=' && strchr(url, '?') != NULL &&
		    p > strchr(url, '?'))
			inval = 1;
	}
	buf[o] = '\0';
}

/* "mx" or "smtp[s]://[user:pass@]host[:port]" */
/* one part of a URL libcurl parsed, decoded, into buf; "" if absent */
static int
url_part(CURLU *u, CURLUPart what, char *buf, size_t len)
{
	char		*v = NULL;
	CURLUcode	 rc;

	buf[0] = '\0';
	rc = curl_url_get(u, what, &v, what == CURLUPART_PORT ? 0 :
	    CURLU_URLDECODE);
	if (rc != CURLUE_OK) {
		curl_free(v);
		return (rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD ||
		    rc == CURLUE_NO_PORT ? 0 : -1);
	}
	if (strlen(v) >= len || strpbrk(v, "\r\n") != NULL) {
		curl_free(v);
		return (-1);
	}
	strlcpy(buf, v, len);
	curl_free(v);
	return (0);
}

/*
 * [start, end) of a URL's userinfo, percent-decoded, into buf (NUL
 * terminated); a '%' not followed by two hex digits stays as it is (as
 * libcurl kept it); -1 (buf wiped) if a byte is a NUL, CR or LF, or it
 * does not fit
 */
static int
url_unescape(char *buf, size_t len, const char *start, const char *end)
{
	size_t	 o = 0;
	int	 c, hi, lo;

	for (; start < end; start++) {
		c = (unsigned char)*start;
		if (c == '%' && end - start >= 3 &&
		    (hi = mh_hexdigit(start[1])) != -1 &&
		    (lo = mh_hexdigit(start[2])) != -1) {
			c = hi << 4 | lo;
			start += 2;
		}
		if (c == '\0' || c == '\r' || c == '\n' || o + 1 >= len)
			goto bad;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return (0);
 bad:
	explicit_bzero(buf, len);
	return (-1);
}

/*
 * The user and password of a redis[s]:// URL s, decoded, into cc; the
 * URL without them into rest.  The userinfo ends at the authority's last
 * '@' (one in the password may stand as it is), the user at its first
 * ':'; '/', '?' and '#' in either must be %XX, a '%' not before two
 * hex digits stays a '%' (as libcurl had it).  libcurl never sees
 * them: it frees its copies unwiped.  -1 if one is bad.
 */
static int
redis_userinfo(const char *s, struct cluster_conf *cc, char *rest,
    size_t len)
{
	const char	*a, *end, *at, *colon;

	cc->user[0] = cc->password[0] = '\0';
	a = strstr(s, "://") + 3;
	end = a + strcspn(a, "/?#");
	if ((at = memrchr(a, '@', end - a)) != NULL) {
		colon = memchr(a, ':', at - a);
		if (url_unescape(cc->user, sizeof(cc->user), a,
		    colon != NULL ? colon : at) == -1 || (colon != NULL &&
		    url_unescape(cc->password, sizeof(cc->password),
		    colon + 1, at) == -1))
			return (-1);
	}
	snprintf(rest, len, "%.*s%s", (int)(a - s), s,
	    at != NULL ? at + 1 : a);
	return (0);
}

static const char *
redis_check(const char *s, struct cluster_conf *cc)
{
	CURLU		*u;
	CURLUcode	 rc;
	char		 host[128], port[16], path[32], rest[MH_URL_MAX];
	const char	*why = NULL, *errstr;
	struct sockaddr_storage	 ss;
	socklen_t	 sl;

	cc->tls = strncasecmp(s, "rediss://", 9) == 0;
	if (!cc->tls && strncasecmp(s, "redis://", 8) != 0)
		return ("want a redis[s]://[user:password@]address[:port][/db] "
		    "URL");
	if (strlen(s) >= sizeof(cc->redis))
		return ("too long");
	if (redis_userinfo(s, cc, rest, sizeof(rest)) == -1)
		return ("the user or password is too long, holds a line "
		    "break or a bad %XX");
	if ((u = curl_url()) == NULL)
		return ("out of memory");
	if ((rc = curl_url_set(u, CURLUPART_URL, rest,
	    CURLU_NON_SUPPORT_SCHEME)) != CURLUE_OK)
		why = curl_url_strerror(rc);
	else if (url_part(u, CURLUPART_HOST, host, sizeof(host)) == -1 ||
	    url_part(u, CURLUPART_PORT, port, sizeof(port)) == -1 ||
	    url_part(u, CURLUPART_PATH, path, sizeof(path)) == -1)
		why = "a part of it is too long or holds a line break";
	curl_url_cleanup(u);
	if (why != NULL)
		return (why);
	/* libcurl keeps the brackets of an IPv6 address */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (config_addr(host, 6379, &ss, &sl) == -1)
		return ("the host must be an IP address (the processes that "
		    "talk to Redis resolve no names)");
	if (strcasecmp(host, "localhost") == 0)
		strlcpy(host, "127.0.0.1", sizeof(host));
	strlcpy(cc->host, host, sizeof(cc->host));
	cc->port = 6379;
	if (port[0] != '\0') {
		cc->port = strtonum(port, 1, 65535, &errstr);
		if (errstr != NULL)
			return ("bad port");
	}
	cc->db = 0;
	if (path[0] != '\0' && strcmp(path, "/") != 0) {
		cc->db = strtonum(path + 1, 0, 65535, &errstr);
		if (errstr != NULL)
			return ("the path must be a database number");
	}
	strlcpy(cc->redis, s, sizeof(cc->redis));
	return (NULL);
}

const char *
config_check_redis(const char *s, struct cluster_conf *cc)
{
	const char	*why;

	if ((why = redis_check(s, cc)) != NULL) {
		explicit_bzero(cc->user, sizeof(cc->user));
		explicit_bzero(cc->password, sizeof(cc->password));
	}
	return (why);
}

/* what of [start, end) fits in buf (NUL-terminated); -1 if it does not */
static int
copy_part(char *buf, size_t len, const char *start, const char *end)
{
	if ((size_t)(end - start) >= len)
		return (-1);
	memcpy(buf, start, end - start);
	buf[end - start] = '\0';
	return (0);
}

/*
 * "mx" or "smtp[s]://[user:pass@]host[:port][/]": the parser's check and
 * relayd's reading of it, one code.  NULL or why not; v is filled only
 * when the answer is NULL (host "": delivery by MX).
 */
const char *
config_relay_via_parse(const char *s, struct relay_via *v)
{
	struct relay_via	 n;
	const char		*h, *at, *colon, *port, *end, *errstr;
	char			 pbuf[8];

	memset(&n, 0, sizeof(n));
	n.port = 25;
	if (strcmp(s, "mx") == 0 || s[0] == '\0') {
		*v = n;
		return (NULL);
	}
	if (strncasecmp(s, "smtp://", 7) == 0)
		h = s + 7;
	else if (strncasecmp(s, "smtps://", 8) == 0) {
		h = s + 8;
		n.smtps = 1;
		n.port = 465;
	} else
		return ("want mx, smtp:// or smtps:// URL");
	if (strlen(s) >= MH_URL_MAX)
		return ("too long");
	if ((at = strrchr(h, '@')) != NULL) {
		colon = strchr(h, ':');
		if (colon == NULL || colon > at || colon == h)
			return ("credentials must be user:password");
		if (copy_part(n.user, sizeof(n.user), h, colon) == -1 ||
		    copy_part(n.pass, sizeof(n.pass), colon + 1, at) == -1) {
			explicit_bzero(&n, sizeof(n));
			return ("user or password too long");
		}
		h = at + 1;
	}
	end = h + strlen(h);
	if (end > h && end[-1] == '/')
		end--;
	if (*h == '[') {
		if ((port = memchr(h, ']', end - h)) == NULL)
			return ("unterminated [");
		colon = port++;
		h++;
	} else {
		if ((port = memchr(h, ':', end - h)) == NULL)
			port = end;
		colon = port;
	}
	if (colon == h)
		return ("no host");
	if (memchr(h, '/', end - h) != NULL)
		return ("unexpected path");
	if (copy_part(n.host, sizeof(n.host), h, colon) == -1)
		return ("host name too long");
	if (port < end) {
		if (*port != ':' ||
		    copy_part(pbuf, sizeof(pbuf), port + 1, end) == -1)
			return ("bad port");
		n.port = strtonum(pbuf, 1, 65535, &errstr);
		if (errstr != NULL)
			return ("bad port");
	}
	*v = n;
	explicit_bzero(&n, sizeof(n));
	return (NULL);
}

/*
 * relay via ... auth "FILE": the first line that is not a comment is
 * "user:password" (into v's user and pass, authfile set); the parent's
 * check and relayd's reading of it.  NULL (data NULL: no file) or why not.
 */
const char *
config_relay_auth_parse(const char *data, struct relay_via *v)
{
	const char	*p, *e, *colon;
	size_t		 len, i;

	v->authfile = 0;
	if (data == NULL)
		return (NULL);
	for (p = data; *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		len = e - p;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0 || p[0] == '#')
			continue;
		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return ("a control character in it");
		if ((colon = memchr(p, ':', len)) == NULL || colon == p ||
		    (size_t)(colon - p) + 1 == len)
			return ("want one line user:password");
		if (copy_part(v->user, sizeof(v->user), p, colon) == -1 ||
		    copy_part(v->pass, sizeof(v->pass), colon + 1,
		    p + len) == -1)
			return ("user or password too long");
		v->authfile = 1;
		return (NULL);
	}
	return ("want one line user:password");
}

const char *
config_check_relay_via(const char *s)
{
	struct relay_via	 v;
	const char		*why;

	why = config_relay_via_parse(s, &v);
	explicit_bzero(&v, sizeof(v));
	return (why);
}

/* a route's fallback smtp: a host (and port), no credentials, never mx */
const char *
config_check_fallback_smtp(const char *s)
{
	struct relay_via	 v;
	const char		*why;

	if (strncasecmp(s, "smtp://", 7) != 0 &&
	    strncasecmp(s, "smtps://", 8) != 0)
		return ("want an smtp:// or smtps:// URL");
	if (strlen(s) >= MH_RELAY_MAX)
		return ("too long");
	if ((why = config_relay_via_parse(s, &v)) == NULL && v.user[0] != '\0')
		why = "credentials are not taken here";
	explicit_bzero(&v, sizeof(v));
	return (why);
}

/*
 * s without the slashes that end it ("/var/mail/hooks/", as maildir
 * paths are often written), unless it is "/" itself; in place
 */
char *
config_trim_slashes(char *s)
{
	size_t	 len = strlen(s);

	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
	return (s);
}

/*
 * A fallback maildir: an absolute path with no ".." name.  The walk in
 * mailhookd/maildir.c goes from "/" one name at a time and skips empty
 * and "." ones, but a path of nothing else is "/", and one that ends in
 * "/." (the parser takes the slashes that end it off first) would keep
 * it from making the maildir: refused.  NULL or why not.
 */
const char *
config_check_maildir(const char *s)
{
	const char	*p, *e;
	size_t		 len;
	int		 named = 0;

	if (s[0] != '/')
		return ("wants an absolute path");
	for (p = s + 1;; p = e + 1) {
		e = p + strcspn(p, "/");
		len = e - p;
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return ("has a \"..\" name");
		if (len > 1 || (len == 1 && p[0] != '.'))
			named = 1;
		if (*e == '\0')
			break;
	}
	if (!named)
		return ("names the root directory");
	if (len == 1 && p[0] == '.')
		return ("ends in \"/.\"");
	return (NULL);
}

struct tls *
config_tls_server(const struct pki *const *p, size_t n, const char *ciphers,
    char *why, size_t whylen)
{
	struct tls_config	*cfg;
	struct tls		*ctx = NULL;
	const char		*reason;
	size_t			 i;
	int			 rc;

	if (n == 0) {
		strlcpy(why, "no pki", whylen);
		return (NULL);
	}
	if ((cfg = tls_config_new()) == NULL) {
		strlcpy(why, "out of memory", whylen);
		return (NULL);
	}
	ERR_clear_error();
	/* the first is the default; libtls picks another by the SNI name */
	rc = tls_config_set_keypair_mem(cfg, (const uint8_t *)p[0]->cert,
	    p[0]->certlen, (const uint8_t *)p[0]->key, p[0]->keylen);
	for (i = 1; rc == 0 && i < n; i++)
		rc = tls_config_add_keypair_mem(cfg,
		    (const uint8_t *)p[i]->cert, p[i]->certlen,
		    (const uint8_t *)p[i]->key, p[i]->keylen);
	if (rc == -1 ||
	    tls_config_set_protocols(cfg, TLS_PROTOCOLS_DEFAULT) == -1 ||
	    (ciphers != NULL && tls_config_set_ciphers(cfg, ciphers) == -1))
		strlcpy(why, tls_config_error(cfg), whylen);
	else if ((ctx = tls_server()) == NULL)
		strlcpy(why, "out of memory", whylen);
	else if (tls_configure(ctx, cfg) == -1) {
		/* libtls says what failed, the library below it why */
		reason = ERR_reason_error_string(ERR_peek_last_error());
		snprintf(why, whylen, "%s%s%s", tls_error(ctx),
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
		ERR_clear_error();
		tls_free(ctx);
		ctx = NULL;
	}
	tls_config_free(cfg);
	return (ctx);
}

/*
 * The TLS 1.2 ciphers of a listener's server: "tls ciphers" for smtpd's,
 * the TLS library's defaults for webd's https (the directive is for the
 * SMTP listeners, mailhook.conf(5)).
 */
static const char *
listener_ciphers(const struct config *c, const struct listener *l)
{
	return ((l->flags & LF_HTTP) ? NULL : c->tls_ciphers);
}

struct tls *
config_tls_listener(const struct config *c, const struct listener *l,
    char *why, size_t whylen)
{
	const struct pki	*p[MH_LISTEN_PKI_MAX];
	size_t			 i;

	for (i = 0; i < l->npkis && i < MH_LISTEN_PKI_MAX; i++) {
		if ((p[i] = config_pki(c, l->pkis[i])) == NULL ||
		    p[i]->cert == NULL || p[i]->key == NULL) {
			snprintf(why, whylen, "pki \"%s\" not loaded",
			    l->pkis[i]);
			return (NULL);
		}
	}
	return (config_tls_server(p, i, listener_ciphers(c, l), why, whylen));
}

/*
 * Read a whole file into memory, NUL-terminated.  Errors name the file,
 * after the FILE:LINE:COL of the statement that named it when known.
 * A symbolic link is followed (certbot's live/ files are links, and so
 * is a key rotated by pointing a link elsewhere): the administrator named
 * the path, and the mode checked is the file's it reaches.
 */
#define AT(a)	(a), (a)[0] != '\0' ? ": " : ""
static int
readfile(const char *path, const char *at, const char *what, char **data,
    size_t *len, int secret)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	/* not waiting at a FIFO's open for a writer: it is refused below */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		log_warn("%s%s%s \"%s\"", AT(at), what, path);
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s%s%s \"%s\": fstat", AT(at), what, path);
		close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s%s%s \"%s\": not a regular file", AT(at), what,
		    path);
		close(fd);
		return (-1);
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		log_warnx("%s%s%s \"%s\": file too large", AT(at), what,
		    path);
		close(fd);
		return (-1);
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)))
		logit(LOG_WARNING, "%s%swarning: %s \"%s\" is accessible by "
		    "group or others (mode %03o)", AT(at), what, path,
		    (unsigned int)st.st_mode & 0777);
	if ((buf = malloc(st.st_size + 1)) == NULL) {
		log_warn("%s%s%s \"%s\"", AT(at), what, path);
		close(fd);
		return (-1);
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			log_warn("%s%s%s \"%s\": read", AT(at), what, path);
			if (secret)
				explicit_bzero(buf, off);
			free(buf);
			close(fd);
			return (-1);
		}
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	freedata(data, len, secret);
	*data = buf;
	*len = off;
	return (0);
}

/* the cluster's auth file: one line, "password" or "user:password" */
static int
cluster_auth_load(struct config *c)
{
	struct cluster_conf	*cc = &c->cluster;
	char			*data = NULL, *colon;
	const char		*why = NULL;
	size_t			 len;

	if (readfile(cc->auth_file, cc->auth_at, "cluster auth", &data,
	    &len, 1) == -1)
		return (-1);
	data[strcspn(data, "\r\n")] = '\0';
	if ((colon = strchr(data, ':')) != NULL) {
		*colon++ = '\0';
		if (strlcpy(cc->user, data, sizeof(cc->user)) >=
		    sizeof(cc->user))
			why = "the user name is too long";
	}
	if (why == NULL && strlcpy(cc->password, colon ? colon : data,
	    sizeof(cc->password)) >= sizeof(cc->password))
		why = "the password is too long";
	if (why == NULL && (data[0] == '\0' || cc->password[0] == '\0'))
		why = "want one line, password or user:password";
	if (why != NULL) {
		log_warnx("%s%scluster auth \"%s\": %s", AT(cc->auth_at),
		    cc->auth_file, why);
		explicit_bzero(cc->user, sizeof(cc->user));
		explicit_bzero(cc->password, sizeof(cc->password));
		freedata(&data, &len, 1);
		return (-1);
	}
	freedata(&data, &len, 1);
	return (0);
}

/* -1 (why said) if the TLS library refuses p with ciphers; 0 if not */
static int
pki_serves(const struct pki *p, const char *ciphers, char *why,
    size_t whylen)
{
	struct tls	*ctx;

	if ((ctx = config_tls_server(&p, 1, ciphers, why, whylen)) == NULL)
		return (-1);
	tls_free(ctx);
	return (0);
}

static void
pki_refused(const struct pki *p, const char *why)
{
	log_warnx("%s%spki \"%s\": the TLS library refuses cert \"%s\" with "
	    "key \"%s\": %s", AT(p->key_at), p->name, p->cert_file,
	    p->key_file, why);
}

/*
 * What smtpd and webd will make of a pair: each process that serves a
 * listener naming it builds its server with its own settings
 * (listener_ciphers), and a pair one of them cannot serve is an error.
 * A pair refused with smtpd's settings where smtpd serves it (or no one
 * does), or with both settings, is said at its key; one that only
 * webd's refuse at the line of each http listener naming it.
 */
static int
pki_usable(const struct config *c, const struct pki *p)
{
	const struct listener	*l;
	char			 why[256];
	int			 smtp = 0, named = 0, smtpok, webok = -1;

	TAILQ_FOREACH(l, &c->listeners, entry)
		if (config_listener_names(l, p->name)) {
			named = 1;
			if (!(l->flags & LF_HTTP))
				smtp = 1;
		}
	smtpok = pki_serves(p, c->tls_ciphers, why, sizeof(why)) == 0;
	if (!smtpok && (smtp || !named)) {
		pki_refused(p, why);
		return (-1);
	}
	TAILQ_FOREACH(l, &c->listeners, entry) {
		if (!(l->flags & LF_HTTP) || !config_listener_names(l, p->name))
			continue;
		/* webd's settings are one for all its listeners */
		if (webok == -1)
			webok = pki_serves(p, listener_ciphers(c, l), why,
			    sizeof(why)) == 0;
		if (webok)
			return (0);
		if (!smtpok) {
			pki_refused(p, why);
			return (-1);
		}
		log_warnx("%s%spki \"%s\": webd's https cannot serve cert "
		    "\"%s\" with key \"%s\": %s (it takes the TLS library's "
		    "default ciphers, \"tls ciphers\" is for SMTP)",
		    AT(l->addr_at), p->name, p->cert_file, p->key_file, why);
	}
	return (webok == 0 ? -1 : 0);
}

/*
 * The names a pki's certificate (its first) is for, as libtls matches a
 * client's server name: its DNS subjectAltNames, else its common name.
 * NULL-terminated, NULL if none (or unreadable: pki_usable says so).
 */
static char **
cert_names(const struct pki *p)
{
	BIO			*b;
	X509			*x;
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*gn;
	char			**v, cn[MH_NAME_MAX];
	int			 i, n = 0, len;

	if ((b = BIO_new_mem_buf(p->cert, p->certlen)) == NULL)
		return (NULL);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL)
		return (NULL);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	/* no subjectAltName: gens NULL, whose count is -1 */
	if ((v = calloc((gens != NULL ? sk_GENERAL_NAME_num(gens) : 0) + 2,
	    sizeof(*v))) == NULL)
		fatal("cert_names");
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type != GEN_DNS)
			continue;
		len = ASN1_STRING_length(gn->d.dNSName);
		if ((v[n] = strndup((const char *)ASN1_STRING_get0_data(
		    gn->d.dNSName), len)) == NULL)
			fatal("cert_names");
		if ((int)strlen(v[n]) == len && len > 0)
			n++;
		else
			free(v[n]);	/* a NUL inside: matches nothing */
		v[n] = NULL;
	}
	GENERAL_NAMES_free(gens);
	if (n == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)) > 0 &&
	    (v[n++] = strdup(cn)) == NULL)
		fatal("cert_names");
	X509_free(x);
	return (v);
}

static void
names_free(char **v)
{
	size_t	i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* the first name of certificate b that a pattern of a matches, or NULL */
static const char *
names_shared(char **a, char **b)
{
	size_t	i, j;

	for (j = 0; a != NULL && b != NULL && b[j] != NULL; j++)
		for (i = 0; a[i] != NULL; i++)
			if (dns_name_covers(a[i], b[j]))
				return (b[j]);
	return (NULL);
}

/*
 * A listener naming several pki serves a client's server name with the
 * first whose certificate is for it: a later one for the same name is
 * never shown there, which is said, at the listener's line.
 */
static void
listener_names_check(const struct config *c, const struct listener *l)
{
	const struct pki	*p[MH_LISTEN_PKI_MAX];
	char			**names[MH_LISTEN_PKI_MAX];
	const char		*name;
	size_t			 i, j, n = 0;

	for (i = 0; i < l->npkis && i < MH_LISTEN_PKI_MAX; i++) {
		if ((p[n] = config_pki(c, l->pkis[i])) == NULL ||
		    p[n]->cert == NULL)
			continue;
		names[n] = cert_names(p[n]);
		n++;
	}
	for (j = 1; j < n; j++)
		for (i = 0; i < j; i++)
			if ((name = names_shared(names[i], names[j])) != NULL)
				logit(LOG_WARNING, "%s%swarning: pki \"%s\" and "
				    "pki \"%s\" on this listener both have a "
				    "certificate for \"%s\": \"%s\", named "
				    "first, serves it", AT(l->addr_at),
				    p[i]->name, p[j]->name, name, p[i]->name);
	for (i = 0; i < n; i++)
		names_free(names[i]);
}

/* what relayd will make of the relay via auth file */
static int
relay_auth_usable(const struct config *c)
{
	struct relay_via	 v;
	const char		*why;

	memset(&v, 0, sizeof(v));
	why = config_relay_auth_parse(c->relay_auth_data, &v);
	explicit_bzero(&v, sizeof(v));
	if (why != NULL) {
		log_warnx("%s%srelay via auth \"%s\": %s", AT(c->relay_auth_at),
		    c->relay_auth, why);
		return (-1);
	}
	return (0);
}

int
config_load_files(struct config *c)
{
	struct pki	*p;
	struct listener	*l;
	struct dkim	*d;
	const char	*why;
	size_t		 n = 0, first;
	int		 rv = 0;

	TAILQ_FOREACH(p, &c->pkis, entry) {
		if (readfile(p->cert_file, p->cert_at, "pki cert", &p->cert,
		    &p->certlen, 0) == -1)
			rv = -1;
		else if (strstr(p->cert, "-----BEGIN CERTIFICATE-----") ==
		    NULL) {
			log_warnx("%s%spki cert \"%s\": no PEM certificate",
			    AT(p->cert_at), p->cert_file);
			rv = -1;
		}
		if (readfile(p->key_file, p->key_at, "pki key", &p->key,
		    &p->keylen, 1) == -1)
			rv = -1;
		else if (strstr(p->key, "-----BEGIN ") == NULL ||
		    strstr(p->key, "PRIVATE KEY-----") == NULL) {
			log_warnx("%s%spki key \"%s\": no PEM private key",
			    AT(p->key_at), p->key_file);
			rv = -1;
		} else if (p->cert != NULL && pki_usable(c, p) == -1)
			rv = -1;
	}
	TAILQ_FOREACH(l, &c->listeners, entry)
		if (l->npkis > 1)
			listener_names_check(c, l);
	/* DKIM keys: checked (type, size) by the signer, which uses them */
	TAILQ_FOREACH(d, &c->dkims, entry)
		if (readfile(d->key_file, d->key_at, "dkim key", &d->key,
		    &d->keylen, 1) == -1)
			rv = -1;
	/* the system bundle unless "ca" names one (the parent, as root) */
	if (c->cabundle[0] == '\0' && access(MH_CABUNDLE, R_OK) == 0)
		strlcpy(c->cabundle, MH_CABUNDLE, sizeof(c->cabundle));
	if (c->cluster.auth_file[0] != '\0' && cluster_auth_load(c) == -1)
		rv = -1;
	if (c->credentials[0] != '\0') {
		if (readfile(c->credentials, c->credentials_at, "credentials",
		    &c->credentials_data, &c->credentials_len, 1) == -1)
			rv = -1;
		else
			/* authd skips them: said here, at -n and each reload */
			while ((n = creds_bad_line(c->credentials_data,
			    c->credentials_len, n, &why)) != 0)
				logit(LOG_WARNING, "%s%swarning: credentials "
				    "\"%s\" line %zu: %s, ignored",
				    AT(c->credentials_at), c->credentials, n,
				    why);
	}
	if (c->relay_auth[0] != '\0' && readfile(c->relay_auth,
	    c->relay_auth_at, "relay via auth", &c->relay_auth_data,
	    &c->relay_auth_len, 1) == -1)
		rv = -1;
	if (c->relay_auth_data != NULL && relay_auth_usable(c) == -1)
		rv = -1;
	if (c->dnssec_anchor[0] != '\0') {
		if (readfile(c->dnssec_anchor, c->dnssec_anchor_at,
		    "dnssec trust-anchor", &c->dnssec_anchor_data,
		    &c->dnssec_anchor_len, 0) == -1)
			rv = -1;
		else if (strstr(c->dnssec_anchor_data, "DNSKEY") == NULL &&
		    strstr(c->dnssec_anchor_data, "DS") == NULL) {
			log_warnx("%s%sdnssec trust-anchor \"%s\": no DS or "
			    "DNSKEY record", AT(c->dnssec_anchor_at),
			    c->dnssec_anchor);
			rv = -1;
		}
	}
	if (c->api_keys[0] != '\0') {
		if (readfile(c->api_keys, c->api_keys_at, "api keys",
		    &c->api_keys_data, &c->api_keys_len, 1) == -1)
			rv = -1;
		else
			/* webd skips them: said here, at -n and each reload */
			while ((n = apikeys_bad_line(c->api_keys_data,
			    c->api_keys_len, n)) != 0)
				logit(LOG_WARNING, "%s%swarning: api keys "
				    "\"%s\" line %zu: not "
				    "NAME:SHA256-HEX[:DOMAIN,...], ignored",
				    AT(c->api_keys_at), c->api_keys, n);
		n = 0;
		while (c->api_keys_data != NULL &&
		    (n = apikeys_dup_name(c->api_keys_data,
		    c->api_keys_len, n, &first)) != 0)
			logit(LOG_WARNING, "%s%swarning: api keys \"%s\" "
			    "line %zu: its NAME is on line %zu too: both "
			    "keys work and share their messages and "
			    "Idempotency-Keys", AT(c->api_keys_at),
			    c->api_keys, n, first);
	}
	if (c->cabundle[0] != '\0') {
		if (readfile(c->cabundle, c->cabundle_at, "ca",
		    &c->cabundle_data, &c->cabundle_len, 0) == -1)
			rv = -1;
		else if (strstr(c->cabundle_data,
		    "-----BEGIN CERTIFICATE-----") == NULL) {
			log_warnx("%s%sca \"%s\": no PEM certificate",
			    AT(c->cabundle_at), c->cabundle);
			rv = -1;
		}
	}
	return (rv);
}

int
config_tracking_one_click(const struct tracking *t)
{
	return (t->unsubscribe && strncasecmp(t->url, "https://", 8) == 0);
}

/*
 * A tracking block's links (pixel, click redirect, unsubscribe page)
 * are served by an http listener: without one here, a warning, not an
 * error, as another node of a cluster or a proxy may serve them.  One
 * whose one-click unsubscribe has an http url gets no
 * List-Unsubscribe-Post (RFC 8058 3.1): warned of too.
 */
static void
config_check_tracking(const struct config *c)
{
	const struct listener	*l;
	const struct tracking	*t;
	int			 http = 0;

	TAILQ_FOREACH(t, &c->trackings, entry)
		if (t->unsubscribe && !config_tracking_one_click(t))
			logit(LOG_WARNING, "%s%swarning: tracking domain %s: "
			    "one-click unsubscribe needs an https url: no "
			    "List-Unsubscribe-Post is sent", AT(t->at),
			    t->domain);
	TAILQ_FOREACH(l, &c->listeners, entry)
		if (l->flags & LF_HTTP)
			http = 1;
	if (http)
		return;
	TAILQ_FOREACH(t, &c->trackings, entry)
		logit(LOG_WARNING, "%s%swarning: tracking domain %s: no "
		    "\"listen on ... http\" serves its links (%s/...) here",
		    AT(t->at), t->domain, t->url);
}

/*
 * Every address a listener names is one of this host's (a wildcard
 * always is): a bind to it, on a port the kernel picks, says so without
 * taking the listener's port.  For mailhookd -n and the start, whose
 * bind would fail without saying which line named the address.  A
 * tracking block without an http listener is warned about.
 */
int
config_check_listeners(const struct config *c)
{
	const struct listener	*l;
	struct sockaddr_storage	 ss;
	int			 fd, rv = 0;

	config_check_tracking(c);
	TAILQ_FOREACH(l, &c->listeners, entry) {
		if (l->sslen == 0)
			continue;
		memcpy(&ss, &l->ss, sizeof(ss));
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1)
			continue;	/* no such family here: bind says */
		if (bind(fd, (struct sockaddr *)&ss, l->sslen) == -1 &&
		    errno == EADDRNOTAVAIL) {
			log_warnx("%s%slisten on %s: not an address of this "
			    "host", AT(l->addr_at), l->addr);
			rv = -1;
		}
		close(fd);
	}
	return (rv);
}

/* FNV-1a of the route's match and pattern, in the ids' space */
static uint32_t
route_hash(const struct route *r)
{
	const unsigned char	*p = (const unsigned char *)r->pattern;
	uint32_t		 h = 2166136261U;

	h = (h ^ (uint32_t)r->match) * 16777619U;
	for (; *p != '\0'; p++)
		h = (h ^ *p) * 16777619U;
	return (h | ROUTE_ID_STABLE);
}

static int
route_id_cmp(const void *a, const void *b)
{
	const struct route	*x = *(struct route * const *)a;
	const struct route	*y = *(struct route * const *)b;

	if (x->id != y->id)
		return (x->id < y->id ? -1 : 1);
	if (x->match != y->match)
		return (x->match < y->match ? -1 : 1);
	return (strcmp(x->pattern, y->pattern));
}

/*
 * Each route's id from its match and pattern (unique in a config), so
 * that a recipient queued for a route finds it again after a reload or a
 * restart that added, removed or moved other routes; it was the route's
 * index, and a route put before it sent its mail to another endpoint.
 * Two routes of the same hash: the one whose match and pattern sort
 * after the other's takes the next id, whatever the order of the file.
 */
void
config_route_ids(struct config *c)
{
	struct route	*r, **v;
	size_t		 n = 0, i;
	int		 clash;

	TAILQ_FOREACH(r, &c->routes, entry) {
		r->id = route_hash(r);
		n++;
	}
	if (n < 2)
		return;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		fatal("calloc");
	do {
		i = 0;
		TAILQ_FOREACH(r, &c->routes, entry)
			v[i++] = r;
		qsort(v, n, sizeof(*v), route_id_cmp);
		clash = 0;
		for (i = 1; i < n; i++)
			if (v[i]->id == v[i - 1]->id) {
				v[i]->id = (v[i]->id + 1) | ROUTE_ID_STABLE;
				clash = 1;
			}
	} while (clash);
	free(v);
}

const struct route *
config_route(const struct config *c, uint32_t id)
{
	const struct route	*r;
	uint32_t		 i = 0;

	TAILQ_FOREACH(r, &c->routes, entry) {
		if (r->id == id)
			return (r);
		/* an envelope queued before ids were stable: the index */
		if ((id & ROUTE_ID_STABLE) == 0 && i++ == id)
			return (r);
	}
	return (NULL);
}

/* the route of that pattern with a fallback maildir (or smtp), NULL */
const struct route *
config_route_fallback(const struct config *c, const char *pattern, int smtp)
{
	const struct route	*r;

	TAILQ_FOREACH(r, &c->routes, entry)
		if (strcmp(r->pattern, pattern) == 0 && (smtp ?
		    r->fallback_smtp[0] : r->fallback_maildir[0]) != '\0')
			return (r);
	return (NULL);
}

const struct dkim *
config_dkim_match(const struct config *c, const char *domain)
{
	const struct dkim	*d, *best = NULL;
	size_t			 dl, l = strlen(domain);

	TAILQ_FOREACH(d, &c->dkims, entry) {
		dl = strlen(d->domain);
		if (dl > l || strcasecmp(domain + l - dl, d->domain) != 0 ||
		    (dl < l && domain[l - dl - 1] != '.'))
			continue;
		if (best == NULL || dl > strlen(best->domain))
			best = d;
	}
	return (best);
}

const struct listener *
config_listener(const struct config *c, uint32_t id)
{
	const struct listener	*l;

	TAILQ_FOREACH(l, &c->listeners, entry)
		if (l->id == id)
			return (l);
	return (NULL);
}

const struct pki *
config_pki(const struct config *c, const char *name)
{
	const struct pki	*p;

	TAILQ_FOREACH(p, &c->pkis, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

int
config_listener_names(const struct listener *l, const char *name)
{
	size_t	 i;

	for (i = 0; i < l->npkis && i < MH_LISTEN_PKI_MAX; i++)
		if (strcmp(l->pkis[i], name) == 0)
			return (1);
	return (0);
}

static const char *const tls_policy_names[TLSP_COUNT] = {
	"dane", "mta-sts", "verify", "opportunistic", "none"
};

int
config_tls_policy(const char *name)
{
	int	 i;

	for (i = 0; i < TLSP_COUNT; i++)
		if (strcmp(name, tls_policy_names[i]) == 0)
			return (i);
	return (-1);
}

const char *
config_tls_policy_name(int p)
{
	if (p < 0 || p >= TLSP_COUNT)
		return ("");
	return (tls_policy_names[p]);
}

/* the policy of a recipient domain: its own line, else the default */
int
config_tls_policy_for(const struct config *c, const char *domain)
{
	const struct tls_policy_domain	*t;

	TAILQ_FOREACH(t, &c->tls_policies, entry)
		if (strcasecmp(t->domain, domain) == 0)
			return (t->policy);
	return (c->tls_policy);
}

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
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MH_CABUNDLE	"/etc/ssl/certs/ca-certificates.crt"
#define MAX_FILE_SIZE	(64 * 1024 * 1024)

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
	[EV_RESUBSCRIBE] = "resubscribe"
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
	if (gethostname(c->hostname, sizeof(c->hostname)) == -1)
		strlcpy(c->hostname, "localhost", sizeof(c->hostname));
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	strlcpy(c->resolver, "127.0.0.1", sizeof(c->resolver));
	c->resolver_port = 53;
	strlcpy(c->spool, MH_SPOOL, sizeof(c->spool));
	strlcpy(c->control, MH_CONTROL, sizeof(c->control));
	/* children rebuild configs under seccomp: no file look-ups here */
	c->max_message_size = 25 * 1024 * 1024;
	c->max_recipients = 100;
	c->max_sessions = 1024;
	c->max_sessions_per_ip = 64;
	c->smtp_timeout = 300;
	c->greeting_delay_ms = 0;
	c->session_timeout = 3600;
	c->max_errors = 10;
	c->bounce_dsn = 1;
	c->queue_lifetime = 5 * 86400;
	c->retry_min = 300;
	c->retry_max = 3600;
	TAILQ_INIT(&c->listeners);
	TAILQ_INIT(&c->pkis);
	TAILQ_INIT(&c->routes);
	TAILQ_INIT(&c->relay_from);
	TAILQ_INIT(&c->domain_limits);
	TAILQ_INIT(&c->sender_limits);
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

void
config_free(struct config *c)
{
	struct listener		*l;
	struct pki		*p;
	struct route		*r;
	struct netaddr		*n;
	struct domain_limit	*d;
	struct sender_limit	*s;
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
		config_headers_free(&r->headers);
		explicit_bzero(r->secret, sizeof(r->secret));
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
	while ((e = TAILQ_FIRST(&c->events)) != NULL) {
		TAILQ_REMOVE(&c->events, e, entry);
		config_headers_free(&e->headers);
		explicit_bzero(e->secret, sizeof(e->secret));
		free(e);
	}
	while ((k = TAILQ_FIRST(&c->dkims)) != NULL) {
		TAILQ_REMOVE(&c->dkims, k, entry);
		free(k);
	}
	while ((t = TAILQ_FIRST(&c->trackings)) != NULL) {
		TAILQ_REMOVE(&c->trackings, t, entry);
		explicit_bzero(t, sizeof(*t));
		free(t);
	}
	freedata(&c->credentials_data, &c->credentials_len, 1);
	freedata(&c->cabundle_data, &c->cabundle_len, 0);
	explicit_bzero(c->relay_via, sizeof(c->relay_via));
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
	size_t	 n;

	if (strncmp(s, "whsec_", 6) != 0)
		return ("secret must start with \"whsec_\"");
	n = strspn(s + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=");
	if (s[6] == '\0' || s[6 + n] != '\0')
		return ("secret must be \"whsec_\" followed by base64");
	if (strlen(s) >= MH_NAME_MAX)
		return ("secret too long");
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

const char *
config_check_header(const char *name, const char *value)
{
	const char	*s;

	if (name[0] == '\0' || strlen(name) > 128)
		return ("bad header name");
	for (s = name; *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == ':')
			return ("bad header name");
	if (strlen(value) > 4096)
		return ("header value too long");
	for (s = value; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return ("control character in header value");
	return (NULL);
}

/* "mx" or "smtp[s]://[user:pass@]host[:port]" */
const char *
config_check_relay_via(const char *s)
{
	const char	*h, *at, *colon, *port, *end, *errstr;
	char		 pbuf[8];
	size_t		 hl;

	if (strcmp(s, "mx") == 0 || s[0] == '\0')
		return (NULL);
	if (strncasecmp(s, "smtp://", 7) == 0)
		h = s + 7;
	else if (strncasecmp(s, "smtps://", 8) == 0)
		h = s + 8;
	else
		return ("want mx, smtp:// or smtps:// URL");
	if (strlen(s) >= MH_URL_MAX)
		return ("too long");
	if ((at = strrchr(h, '@')) != NULL) {
		colon = strchr(h, ':');
		if (colon == NULL || colon > at || colon == h)
			return ("credentials must be user:password");
		h = at + 1;
	}
	end = h + strlen(h);
	if (end > h && end[-1] == '/')
		end--;
	if (*h == '[') {
		if ((port = memchr(h, ']', end - h)) == NULL)
			return ("unterminated [");
		hl = port - h - 1;
		port++;
	} else {
		if ((port = memchr(h, ':', end - h)) == NULL)
			port = end;
		hl = port - h;
	}
	if (hl == 0)
		return ("no host");
	if (memchr(h, '/', end - h) != NULL)
		return ("unexpected path");
	if (port < end) {
		if (*port != ':' || (size_t)(end - port - 1) >= sizeof(pbuf))
			return ("bad port");
		memcpy(pbuf, port + 1, end - port - 1);
		pbuf[end - port - 1] = '\0';
		strtonum(pbuf, 1, 65535, &errstr);
		if (errstr != NULL)
			return ("bad port");
	}
	return (NULL);
}

/* read a whole file into memory, NUL-terminated; errors name the file */
static int
readfile(const char *path, const char *what, char **data, size_t *len,
    int secret)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		log_warn("%s \"%s\"", what, path);
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s \"%s\": fstat", what, path);
		close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s \"%s\": not a regular file", what, path);
		close(fd);
		return (-1);
	}
	if (st.st_size > MAX_FILE_SIZE) {
		log_warnx("%s \"%s\": file too large", what, path);
		close(fd);
		return (-1);
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warnx("warning: %s \"%s\" is accessible by group or "
		    "others (mode %03o)", what, path,
		    (unsigned int)st.st_mode & 0777);
	if ((buf = malloc(st.st_size + 1)) == NULL) {
		log_warn("%s \"%s\"", what, path);
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
			log_warn("%s \"%s\": read", what, path);
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

int
config_load_files(struct config *c)
{
	struct pki	*p;
	int		 rv = 0;

	TAILQ_FOREACH(p, &c->pkis, entry) {
		if (readfile(p->cert_file, "pki cert", &p->cert, &p->certlen,
		    0) == -1)
			rv = -1;
		else if (strstr(p->cert, "-----BEGIN CERTIFICATE-----") ==
		    NULL) {
			log_warnx("pki cert \"%s\": no PEM certificate",
			    p->cert_file);
			rv = -1;
		}
		if (readfile(p->key_file, "pki key", &p->key, &p->keylen,
		    1) == -1)
			rv = -1;
		else if (strstr(p->key, "-----BEGIN ") == NULL ||
		    strstr(p->key, "PRIVATE KEY-----") == NULL) {
			log_warnx("pki key \"%s\": no PEM private key",
			    p->key_file);
			rv = -1;
		}
	}
	/* the system bundle unless "ca" names one (the parent, as root) */
	if (c->cabundle[0] == '\0' && access(MH_CABUNDLE, R_OK) == 0)
		strlcpy(c->cabundle, MH_CABUNDLE, sizeof(c->cabundle));
	if (c->credentials[0] != '\0' && readfile(c->credentials,
	    "credentials", &c->credentials_data, &c->credentials_len, 1) == -1)
		rv = -1;
	if (c->cabundle[0] != '\0') {
		if (readfile(c->cabundle, "ca", &c->cabundle_data,
		    &c->cabundle_len, 0) == -1)
			rv = -1;
		else if (strstr(c->cabundle_data,
		    "-----BEGIN CERTIFICATE-----") == NULL) {
			log_warnx("ca \"%s\": no PEM certificate", c->cabundle);
			rv = -1;
		}
	}
	return (rv);
}

const struct route *
config_route(const struct config *c, uint32_t id)
{
	const struct route	*r;

	TAILQ_FOREACH(r, &c->routes, entry)
		if (r->id == id)
			return (r);
	return (NULL);
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

static void
jdata(json_t *o, const char *k, const char *v, size_t len)
{
	if (v != NULL)
		jset(o, k, json_stringn(v, len));
}

static const char *
per_name(enum rate_unit u)
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

/* relay via with the password hidden */
static void
relay_via_public(const char *via, char *buf, size_t len)
{
	const char	*scheme, *at, *colon;

	strlcpy(buf, via, len);
	if ((scheme = strstr(via, "://")) == NULL ||
	    (at = strrchr(scheme, '@')) == NULL ||
	    (colon = strchr(scheme + 3, ':')) == NULL || colon > at)
		return;
	snprintf(buf, len, "%.*s:*%s", (int)(colon - via), via, at);
}

static json_t *
listeners_to_json(const struct config *c)
{
	const struct listener	*l;
	json_t			*a = newarr(), *o;

	TAILQ_FOREACH(l, &c->listeners, entry) {
		o = newobj();
		jint(o, "id", l->id);
		jstr(o, "addr", l->addr);
		jint(o, "port", l->port);
		jint(o, "flags", l->flags);
		jstr(o, "pki", l->pki);
		jstr(o, "hostname", l->hostname);
		append(a, o);
	}
	return (a);
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
		if (flags & CONF_TLS_KEYS) {
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
		jstr(o, "url", r->url);
		jstr(o, "format", format_names[r->format]);
		jstr(o, "mode", mode_names[r->mode]);
		jstr(o, "authorize", r->authorize);
		jstr(o, "authorize_format", authz_names[r->authorize_format]);
		jint(o, "authorize_timeout", r->authorize_timeout);
		jstr(o, "errors", r->errors);
		jset(o, "headers", headers_to_json(&r->headers,
		    flags & CONF_ROUTE_HEADERS));
		if (flags & CONF_ROUTE_SECRETS)
			jstr(o, "secret", r->secret);
		jint(o, "timeout", r->timeout);
		jint(o, "lifetime", r->lifetime);
		jint(o, "concurrency", r->concurrency);
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
	json_t				*a, *e;
	char				 via[MH_URL_MAX];

	jset(o, "relay_from_auth", json_boolean(c->relay_from_auth));
	a = newarr();
	TAILQ_FOREACH(n, &c->relay_from, entry)
		append(a, json_string(n->text));
	jset(o, "relay_from", a);
	if (flags & CONF_RELAY_AUTH)
		jstr(o, "relay_via", c->relay_via);
	else {
		relay_via_public(c->relay_via, via, sizeof(via));
		jstr(o, "relay_via", via);
	}
	jstr(o, "bounce_domain", c->bounce_domain);
	jset(o, "bounce_dsn", json_boolean(c->bounce_dsn));
	jint(o, "queue_lifetime", c->queue_lifetime);
	jint(o, "retry_min", c->retry_min);
	jint(o, "retry_max", c->retry_max);
	a = newarr();
	TAILQ_FOREACH(d, &c->domain_limits, entry) {
		e = newobj();
		jstr(e, "domain", d->domain);
		jint(e, "rate", d->rate);
		jstr(e, "per", per_name(d->per));
		jint(e, "connections", d->connections);
		jset(e, "tls_require", json_boolean(d->tls_require));
		jset(e, "tls_verify", json_boolean(d->tls_verify));
		append(a, e);
	}
	jset(o, "domain_limits", a);
	a = newarr();
	TAILQ_FOREACH(s, &c->sender_limits, entry) {
		e = newobj();
		jstr(e, "domain", s->domain);
		jint(e, "rate", s->rate);
		jstr(e, "per", per_name(s->per));
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
		jstr(o, "url", e->url);
		jstr(o, "format", evfmt_names[e->format]);
		k = newarr();
		for (i = 0; i < EV_KIND_MAX; i++)
			if (e->kinds & (1U << i))
				append(k, json_string(kind_names[i]));
		jset(o, "kinds", k);
		if (flags & CONF_EVENT_SECRETS)
			jstr(o, "secret", e->secret);
		jset(o, "headers", headers_to_json(&e->headers,
		    flags & CONF_EVENT_SECRETS));
		jint(o, "timeout", e->timeout);
		jint(o, "batch_max", e->batch_max);
		jint(o, "batch_wait", e->batch_wait);
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

json_t *
config_to_json(const struct config *c, int flags)
{
	json_t	*o = newobj();

	jstr(o, "file", c->file);
	jstr(o, "hostname", c->hostname);
	jstr(o, "resolver", c->resolver);
	jint(o, "resolver_port", c->resolver_port);
	jstr(o, "spool", c->spool);
	jstr(o, "control", c->control);
	jstr(o, "credentials", c->credentials);
	jstr(o, "cabundle", c->cabundle);
	if (flags & CONF_CREDENTIALS)
		jdata(o, "credentials_data", c->credentials_data,
		    c->credentials_len);
	jdata(o, "cabundle_data", c->cabundle_data, c->cabundle_len);
	jint(o, "max_message_size", c->max_message_size);
	jint(o, "max_recipients", c->max_recipients);
	jint(o, "max_sessions", c->max_sessions);
	jint(o, "max_sessions_per_ip", c->max_sessions_per_ip);
	jint(o, "smtp_timeout", c->smtp_timeout);
	jint(o, "greeting_delay_ms", c->greeting_delay_ms);
	jint(o, "session_timeout", c->session_timeout);
	jint(o, "max_errors", c->max_errors);
	jset(o, "allow_private", json_boolean(c->allow_private));
	jset(o, "spf_reject_fail", json_boolean(c->spf_reject_fail));
	jset(o, "listeners", listeners_to_json(c));
	jset(o, "pkis", pkis_to_json(c, flags));
	jset(o, "routes", routes_to_json(c, flags));
	relay_to_json(c, o, flags);
	jset(o, "events", events_to_json(c, flags));
	jset(o, "dkim", dkims_to_json(c));
	jset(o, "tracking", trackings_to_json(c, flags));
	return (o);
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
	if (!json_is_string(v) || (n = json_string_length(v)) > MAX_FILE_SIZE)
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
	static const char *const names[] = { "second", "minute", "hour", "day" };
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
	int		 mask = LF_STARTTLS | LF_TLS_REQUIRE | LF_SMTPS |
			    LF_AUTH | LF_AUTH_REQUIRE;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (-1);
	l->fd = -1;
	TAILQ_INSERT_TAIL(&c->listeners, l, entry);
	GINT(o, "id", 0, UINT32_MAX, l->id);
	GINT(o, "port", 1, 65535, l->port);
	GINT(o, "flags", 0, mask, l->flags);
	if (gstr(o, "addr", l->addr, sizeof(l->addr), 0) == -1 ||
	    gstr(o, "pki", l->pki, sizeof(l->pki), 0) == -1 ||
	    gstr(o, "hostname", l->hostname, sizeof(l->hostname), 0) == -1 ||
	    config_addr(l->addr, l->port, &l->ss, &l->sslen) == -1)
		return (-1);
	if (l->pki[0] != '\0' && config_pki(c, l->pki) == NULL)
		return (-1);
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
	    gstr(o, "secret", r->secret, sizeof(r->secret), 1) == -1 ||
	    headers_from_json(o, &r->headers) == -1)
		return (-1);
	if (config_check_url(r->url) != NULL ||
	    (r->authorize[0] && config_check_url(r->authorize) != NULL) ||
	    (r->errors[0] && config_check_url(r->errors) != NULL) ||
	    (r->secret[0] && config_check_secret(r->secret) != NULL) ||
	    (r->match != ROUTE_ANY && r->pattern[0] == '\0'))
		return (-1);
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
	    config_check_relay_via(c->relay_via) != NULL ||
	    gstr(o, "bounce_domain", c->bounce_domain,
	    sizeof(c->bounce_domain), 0) == -1)
		return (-1);
	GINT(o, "queue_lifetime", 60, 90 * 86400, c->queue_lifetime);
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
	if ((a = garr(o, "sender_limits", 0)) == NULL)
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
	    config_check_url(t->url) != NULL ||
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
		{ "pkis", pki_from_json },	/* before listeners: they refer to them */
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
scalars_from_json(struct config *c, const json_t *o)
{
	if (gstr(o, "file", c->file, sizeof(c->file), 0) == -1 ||
	    gstr(o, "hostname", c->hostname, sizeof(c->hostname), 0) == -1 ||
	    gstr(o, "resolver", c->resolver, sizeof(c->resolver), 0) == -1 ||
	    gstr(o, "spool", c->spool, sizeof(c->spool), 0) == -1 ||
	    gstr(o, "control", c->control, sizeof(c->control), 0) == -1 ||
	    gstr(o, "credentials", c->credentials, sizeof(c->credentials),
	    0) == -1 ||
	    gstr(o, "cabundle", c->cabundle, sizeof(c->cabundle), 0) == -1 ||
	    gdata(o, "credentials_data", &c->credentials_data,
	    &c->credentials_len) == -1 ||
	    gdata(o, "cabundle_data", &c->cabundle_data,
	    &c->cabundle_len) == -1 ||
	    gbool(o, "allow_private", &c->allow_private) == -1 ||
	    gbool(o, "spf_reject_fail", &c->spf_reject_fail) == -1)
		return (-1);
	GINT(o, "resolver_port", 1, 65535, c->resolver_port);
	GINT(o, "max_message_size", 1024, INT_MAX, c->max_message_size);
	GINT(o, "max_recipients", 1, 100000, c->max_recipients);
	GINT(o, "max_sessions", 1, 65536, c->max_sessions);
	GINT(o, "max_sessions_per_ip", 1, 65536, c->max_sessions_per_ip);
	GINT(o, "smtp_timeout", 1, 86400, c->smtp_timeout);
	GINT(o, "greeting_delay_ms", 0, 60000, c->greeting_delay_ms);
	GINT(o, "session_timeout", 1, 86400, c->session_timeout);
	GINT(o, "max_errors", 1, 1000, c->max_errors);
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
	    lists_from_json(c, o) == -1) {
		config_free(c);
		return (NULL);
	}
	return (c);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhook configuration: the in-memory form of mailhook.conf.
 *
 * The parent parses the file (parse.y) into a struct config, then sends
 * each child the parts it needs as JSON (config_to_json/config_from_json)
 * over imsg.  Children never open the configuration file.
 */
#ifndef MH_CONFIG_H
#define MH_CONFIG_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* make's SYSCONFDIR, for mailhookd.c and mhctl.c (the Makefile) */
#ifndef MH_SYSCONFDIR
#define MH_SYSCONFDIR		"/etc/mailhook"
#endif
#define MH_CONF_FILE		MH_SYSCONFDIR "/mailhook.conf"
/* a file the config names */
#define CONFIG_FILE_MAX		(64 * 1024 * 1024)
#define MH_SPOOL		"/var/spool/mailhook"
#define MH_CONTROL		"/run/mailhook/mhctl.sock"
#define MH_USER			"_mailhook"
/* TLS 1.3 (always on) and TLS 1.2 with ECDHE and an AEAD cipher */
#define MH_TLS_CIPHERS		"ECDHE+AESGCM:ECDHE+CHACHA20"

#define MH_NAME_MAX		256	/* hostnames, addresses, pki names */
#define MH_LISTEN_PKI_MAX	16	/* pki one listener may name */
#define MH_URL_MAX		2048
#define MH_PATH_MAX		1024
/* "FILE:LINE:COL" of the statement that named a file, for load errors */
#define MH_AT_MAX		(MH_PATH_MAX + 32)

/* listener flags */
#define LF_STARTTLS		0x01	/* "tls": STARTTLS offered */
/* "tls-require": no command but EHLO/STARTTLS/QUIT before TLS */
#define LF_TLS_REQUIRE		0x02
#define LF_SMTPS		0x04	/* "smtps": TLS from the first byte */
/* "auth": AUTH offered (under TLS only) */
#define LF_AUTH			0x08
/* "auth-require": MAIL needs AUTH first */
#define LF_AUTH_REQUIRE		0x10
/* "http": webd's; with LF_STARTTLS, https */
#define LF_HTTP			0x20
/* "api": webd's JSON submission API (with LF_HTTP) */
#define LF_API			0x40
/* "metrics": webd's metrics (with LF_HTTP) */
#define LF_METRICS		0x80

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	/*
	 * ROUTE_ID_STABLE and a hash of match and pattern: the same route
	 * keeps it across reloads and restarts, however the routes are
	 * ordered (config_route_ids); a queued recipient names its route by it
	 */
	uint32_t		 id;
	char			 addr[MH_NAME_MAX];	/* as written */
	in_port_t		 port;		/* host order */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 flags;		/* LF_* */
	/* the pki it names (none: plain); the first is the default, SNI picks */
	char			 pkis[MH_LISTEN_PKI_MAX][MH_NAME_MAX];
	size_t			 npkis;
	char			 hostname[MH_NAME_MAX];	/* "" = global */
	int			 fd;		/* parent only; -1 elsewhere */
	/*
	 * added at a reload: no socket until the next restart, so no key
	 * pair sent for it either (listeners_keep, pki_wanted)
	 */
	int			 pending;
	char			 addr_at[MH_AT_MAX];	/* where it was named */
};
TAILQ_HEAD(listenerlist, listener);

struct pki {
	TAILQ_ENTRY(pki)	 entry;
	char			 name[MH_NAME_MAX];
	char			 cert_file[MH_PATH_MAX];
	char			 key_file[MH_PATH_MAX];
	/* where they were named */
	char			 cert_at[MH_AT_MAX];
	char			 key_at[MH_AT_MAX];
	char			*cert;		/* PEM, loaded by the parent */
	size_t			 certlen;
	char			*key;		/* PEM, loaded by the parent */
	size_t			 keylen;
};
TAILQ_HEAD(pkilist, pki);

struct header {
	TAILQ_ENTRY(header)	 entry;
	char			*name;
	char			*value;
};
TAILQ_HEAD(headerlist, header);

enum route_match {
	ROUTE_ADDRESS,		/* route "user@example.com" */
	ROUTE_DOMAIN,		/* route domain "example.com" */
	/* route domain "*.example.com": any subdomain */
	ROUTE_SUBDOMAINS,
	ROUTE_ANY		/* route any: catch-all */
};

enum post_format {
	FORMAT_JSON,		/* CloudMailin JSON normalized */
	FORMAT_MULTIPART,	/* same fields as multipart/form-data */
	FORMAT_RAW		/* multipart with message = raw message */
};

enum authz_format {
	AUTHZ_FORM,		/* application/x-www-form-urlencoded */
	AUTHZ_JSON,
	AUTHZ_XML
};

enum route_mode {
	MODE_SYNC,		/* SMTP reply waits for the POST */
	MODE_QUEUE		/* 250 after fsync, POST later */
};

struct route {
	TAILQ_ENTRY(route)	 entry;
	uint32_t		 id;		/* index, stable for a config */
	enum route_match	 match;
	/*
	 * lower-cased; ROUTE_SUBDOMAINS: the parent domain without "*."
	 * ("example.com"); ROUTE_ANY: ""
	 */
	char			 pattern[MH_NAME_MAX];
	char			 url[MH_URL_MAX];
	enum post_format	 format;
	enum route_mode		 mode;
	char			 authorize[MH_URL_MAX];	/* "" = none */
	enum authz_format	 authorize_format;
	/* seconds, default 10 */
	int			 authorize_timeout;
	char			 errors[MH_URL_MAX];	/* "" = none */
	struct headerlist	 headers;
	char			 secret[MH_NAME_MAX];	/* "whsec_..." or "" */
	int			 timeout;	/* seconds, default 30 */
	int			 lifetime;	/* seconds, default 3 days */
	int			 concurrency;	/* per endpoint, default 8 */
	int			 require;	/* REQUIRE_* bits, 0 = none */
	/* deliver failing mail, flagged */
	int			 require_quarantine;
	/* "verdicts no": no DKIM/DMARC checks */
	int			 no_verdicts;
	/* "" = none: expired mail is a dead letter */
	char			 fallback_maildir[MH_PATH_MAX];
	char			 fallback_at[MH_AT_MAX];	/* where named */
	/* "" = none, or smtp[s]://host[:port] (relayd) */
	char			 fallback_smtp[MH_URL_MAX];
};
TAILQ_HEAD(routelist, route);

/* route "require": inbound authentication the route insists on */
#define REQUIRE_DKIM		0x01	/* a DKIM signature passes */
#define REQUIRE_DMARC		0x02	/* DMARC (RFC 7489) passes */

struct netaddr {
	TAILQ_ENTRY(netaddr)	 entry;
	struct sockaddr_storage	 ss;		/* network address */
	int			 bits;		/* prefix length */
	char			 text[64];	/* as written */
};
TAILQ_HEAD(netlist, netaddr);

enum rate_unit {
	RATE_SECOND = 1,
	RATE_MINUTE = 60,
	RATE_HOUR = 3600,
	RATE_DAY = 86400
};

/* limit domain "example.net" rate 100 per minute connections 5 tls require */
struct domain_limit {
	TAILQ_ENTRY(domain_limit) entry;
	char			 domain[MH_NAME_MAX];
	int			 rate;		/* 0 = unlimited */
	enum rate_unit		 per;
	int			 connections;	/* 0 = default */
	int			 tls_require;
	int			 tls_verify;
};
TAILQ_HEAD(domainlimitlist, domain_limit);

/* tls policy [domain "example.net"] dane|mta-sts|verify|opportunistic|none */
enum tls_policy {
	/* DANE where TLSA is usable, else opportunistic */
	TLSP_DANE,
	/* MTA-STS (RFC 8461), DANE first (relayd/mtasts.c) */
	TLSP_MTASTS,
	TLSP_VERIFY,		/* STARTTLS, certificate verified, MX name */
	TLSP_OPPORTUNISTIC,	/* STARTTLS when offered, nothing verified */
	TLSP_NONE		/* never STARTTLS */
};
#define TLSP_COUNT	5

struct tls_policy_domain {
	TAILQ_ENTRY(tls_policy_domain) entry;
	char			 domain[MH_NAME_MAX];	/* lower case */
	int			 policy;		/* enum tls_policy */
};
TAILQ_HEAD(tlspolicylist, tls_policy_domain);

/* limit sender-domain "example.com" rate 10000 per day */
struct sender_limit {
	TAILQ_ENTRY(sender_limit) entry;
	char			 domain[MH_NAME_MAX];
	int			 rate;
	enum rate_unit		 per;
};
TAILQ_HEAD(senderlimitlist, sender_limit);

enum event_format {
	EVFMT_EVENTS,		/* batched {"events":[...]} */
	EVFMT_FAILURES,		/* urlencoded, one per failure */
	EVFMT_CALLBACK		/* {"event":{...}} */
};

/* event kinds, bit positions for the events block's kinds filter */
enum event_kind {
	EV_REGISTRATION,
	EV_DISPATCH,
	EV_RATE_LIMIT,
	EV_DELIVERY,
	EV_BOUNCE,
	EV_SOFT_BOUNCE,
	EV_DISPATCH_SOFT_BOUNCE,
	EV_ERROR,
	EV_RETRIES_EXHAUSTED,
	EV_OPEN,
	EV_READ_MAIL,		/* "read": not EV_READ, a libevent macro */
	EV_CLICK,
	EV_AUTO_REPLY,
	EV_BOUNCE_REPLY,
	EV_SUPPRESSED,
	EV_UNSUBSCRIBE,
	EV_RESUBSCRIBE,
	EV_REMOVED,		/* taken out of the queue by mhctl remove */
	EV_COMPLAINT,		/* an ARF feedback report (RFC 5965) came back */
	EV_KIND_MAX
};
#define EV_ALL		((1U << EV_KIND_MAX) - 1)

struct events_block {
	TAILQ_ENTRY(events_block) entry;
	uint32_t		 id;
	char			 url[MH_URL_MAX];
	enum event_format	 format;
	/* bitmask of 1 << enum event_kind */
	uint32_t		 kinds;
	char			 secret[MH_NAME_MAX];
	struct headerlist	 headers;
	int			 timeout;	/* seconds, default 30 */
	/* events per batch, default 100 */
	int			 batch_max;
	/* ms before a partial batch goes, default 1000 */
	int			 batch_wait;
	/* seconds an event is retried, default 3 days */
	int			 lifetime;
};
TAILQ_HEAD(eventslist, events_block);

/*
 * dkim domain "example.com" selector "s1" key "/etc/mailhook/s1.key":
 * the parent reads the key and hands it to the signer process only; it
 * is never part of a config sent to a child (config_to_json).
 */
struct dkim {
	TAILQ_ENTRY(dkim)	 entry;
	char			 domain[MH_NAME_MAX];
	char			 selector[MH_NAME_MAX];
	char			 key_file[MH_PATH_MAX];
	char			 key_at[MH_AT_MAX];	/* where it was named */
	char			*key;		/* PEM, parent only */
	size_t			 keylen;
};
TAILQ_HEAD(dkimlist, dkim);

/*
 * tracking domain "example.com" { url "https://t.example.com" opens yes
 *     clicks yes read 8s unsubscribe one-click secret "..." }
 * for mail whose From: domain is domain.  The secret is the HMAC key of
 * the tokens; without one the parent gives the block the spool's key
 * (config_tracking_key).  prev_secret is the key before the last
 * reload, still accepted.  Both travel only with CONF_TRACKING_KEY.
 */
#define TRACKING_SECRET_MIN	16

/* the defaults of block options (parse.y sets them, show config omits them) */
#define ROUTE_AUTHZ_TIMEOUT	10		/* seconds */
#define ROUTE_TIMEOUT		30		/* seconds */
#define ROUTE_LIFETIME		(3 * 86400)
#define ROUTE_CONCURRENCY	8
#define EVENTS_TIMEOUT		30		/* seconds */
#define EVENTS_BATCH		100
#define EVENTS_WAIT		1000		/* ms */
#define EVENTS_LIFETIME		(3 * 86400)
#define TRACKING_READ		8		/* seconds */
#define MH_CABUNDLE		"/etc/ssl/certs/ca-certificates.crt"

struct tracking {
	TAILQ_ENTRY(tracking)	 entry;
	char			 domain[MH_NAME_MAX];	/* lower-cased */
	char			 url[MH_URL_MAX];	/* no trailing '/' */
	int			 opens;		/* default yes */
	int			 clicks;	/* default yes */
	int			 read;		/* seconds, default 8 */
	int			 unsubscribe;	/* one-click, default yes */
	char			 secret[MH_NAME_MAX];
	char			 prev_secret[MH_NAME_MAX];
	int			 spool_key;	/* secret: SPOOL/tracking.key */
	char			 at[MH_AT_MAX];	/* where it was named */
};
TAILQ_HEAD(trackinglist, tracking);

/*
 * "testing" statements, which only mailhookd -X accepts: what the tests
 * need to run the daemon on loopback and fast.  0: not set.
 */
struct testing {
	/* relayd connects here, not 25 */
	int			 relay_port;
	/* hookd's first POST retry, seconds */
	int			 hook_retry;
	/* first event delivery retry, ms */
	int			 events_retry;
	/* longest event retry, ms */
	int			 events_retry_max;
	int			 seccomp_debug;	/* a forbidden call is named */
	/* MTA-STS policies: https on this port, loopback allowed */
	int			 mtasts_port;
	/* TLS-RPT reports every N seconds, not daily */
	int			 tlsrpt_period;
	/* relayd's wait for a reply or a handshake, seconds, not 300 */
	int			 relay_timeout;
	/* expired idempotency records swept every N seconds, not hourly */
	int			 idem_sweep;
	/* relayd sleeps N seconds once a DSN is committed, before the
	 * message that owes it is updated (a kill -9 in that window) */
	int			 dsn_pause;
};

/*
 * cluster { redis "redis://[user:password@]host[:port][/db]" node "mx1"
 * auth "FILE" }: the state several hosts share (relayd/cluster.c).  The
 * host is an address: the processes that use it have no resolver for it.
 * The password (from the URL or the auth file) travels only with
 * CONF_CLUSTER_AUTH.
 */
struct cluster_conf {
	char			 redis[MH_URL_MAX];	/* "" = no cluster */
	char			 host[64];		/* numeric */
	int			 port;			/* default 6379 */
	int			 db;			/* default 0 */
	int			 tls;			/* rediss:// */
	char			 node[MH_NAME_MAX];	/* default: hostname */
	char			 user[MH_NAME_MAX];	/* ACL user or "" */
	char			 password[256];
	char			 auth_file[MH_PATH_MAX];
	char			 auth_at[MH_AT_MAX];
};

struct config {
	/* config_ref(), config_unref() */
	int			 refcnt;
	char			 file[MH_PATH_MAX];
	char			 hostname[MH_NAME_MAX];
	/* tls ciphers, OpenSSL syntax */
	char			 tls_ciphers[256];
	/* RCPT TO:<postmaster> goes to its route */
	char			 postmaster[MH_NAME_MAX];
	char			 resolver[64];		/* numeric address */
	in_port_t		 resolver_port;		/* default 53 */
	/* "" = no DNSSEC */
	char			 dnssec_anchor[MH_PATH_MAX];
	/* where named */
	char			 dnssec_anchor_at[MH_AT_MAX];
	/* loaded by the parent */
	char			*dnssec_anchor_data;
	size_t			 dnssec_anchor_len;
	char			 spool[MH_PATH_MAX];
	char			 control[MH_PATH_MAX];
	/* may read the socket; "" none */
	char			 control_group[MH_NAME_MAX];
	char			 credentials[MH_PATH_MAX];	/* "" = none */
	/* where named */
	char			 credentials_at[MH_AT_MAX];
	/* file contents, loaded by the parent */
	char			*credentials_data;
	size_t			 credentials_len;
	/* "api keys": "" = none */
	char			 api_keys[MH_PATH_MAX];
	/* where named */
	char			 api_keys_at[MH_AT_MAX];
	/* file contents, loaded by the parent */
	char			*api_keys_data;
	size_t			 api_keys_len;
	/* CA file for https and tls verify */
	char			 cabundle[MH_PATH_MAX];
	/* where named */
	char			 cabundle_at[MH_AT_MAX];
	/* loaded by the parent */
	char			*cabundle_data;
	size_t			 cabundle_len;
	/* made by the parent at start, hex */
	char			 verdict_key[65];
	/* the VERP key, SPOOL/verp.key (config_verp_key), hex */
	char			 verp_key[65];

	/* limit message-size, default 25M */
	size_t			 max_message_size;
	/* limit recipients, default 100 */
	int			 max_recipients;
	/* limit sessions, default 1024 */
	int			 max_sessions;
	/* limit sessions-per-ip, default 64 */
	int			 max_sessions_per_ip;
	/* limit sessions-per-network (/24, /64), default 256 */
	int			 max_sessions_per_net;
	/* limit idle-timeout, seconds, default 300 */
	int			 smtp_timeout;
	/* limit tls-handshake-timeout, seconds, default 30 */
	int			 tls_handshake_timeout;
	/* limit min-data-rate, bytes/s, default 500 */
	int			 min_data_rate;
	/* limit greeting-delay, ms, default 0 */
	int			 greeting_delay_ms;
	/* limit session-timeout, seconds, default 3600 */
	int			 session_timeout;
	/* limit errors, bad commands, default 10 */
	int			 max_errors;
	/* limit mime-parts, default 1000 */
	int			 mime_parts;
	/* limit mime-depth, default 100 */
	int			 mime_depth;
	/* limit mime-headers, fields, default 10000 */
	int			 mime_headers;
	/* limit mime-header-size, default 1M */
	int			 mime_header_size;
	/* limit junk-commands: NOOP RSET HELP VRFY, default 100 */
	int			 max_junk;
	/* allow private-addresses */
	int			 allow_private;
	int			 spf_reject_fail;	/* spf reject fail */

	struct listenerlist	 listeners;
	struct pkilist		 pkis;
	struct routelist	 routes;

	int			 relay_from_auth;
	struct netlist		 relay_from;		/* relay from CIDR */
	char			 relay_via[MH_URL_MAX];	/* "" = mx */
	/* relay via ... auth "FILE" */
	char			 relay_auth[MH_PATH_MAX];
	/* where named */
	char			 relay_auth_at[MH_AT_MAX];
	/* "user:password", relayd only */
	char			*relay_auth_data;
	size_t			 relay_auth_len;
	char			 bounce_domain[MH_NAME_MAX];
	/*
	 * "bounce secret": the VERP key is made from it (the same on every
	 * node of a cluster), not kept in SPOOL/verp.key; parent only
	 */
	char			 bounce_secret[MH_NAME_MAX];
	/* send RFC 3464 DSN, default 1 */
	int			 bounce_dsn;
	/* seconds, default 5 days */
	int			 queue_lifetime;
	/*
	 * seconds a message's history is kept after it leaves the queue,
	 * default 7 days
	 */
	int			 history;
	/* seconds, default 300 */
	int			 retry_min;
	/* seconds, default 3600 */
	int			 retry_max;
	struct domainlimitlist	 domain_limits;
	struct senderlimitlist	 sender_limits;
	/* default for every domain */
	int			 tls_policy;
	struct tlspolicylist	 tls_policies;		/* tls policy domain */

	struct eventslist	 events;
	struct dkimlist		 dkims;
	struct trackinglist	 trackings;
	struct cluster_conf	 cluster;

	struct testing		 testing;
};

/* parse.y */
/* NULL on error, errors logged as file:line:col: msg */
struct config	*config_parse(const char *file);
/* 1: "testing" statements allowed (-X) */
void		 config_allow_testing(int);
/* 1: refuse a config file others may change, warn if they may read it */
void		 config_check_secrecy(int);
struct config	*config_new(void);			/* defaults filled in */
void		 config_free(struct config *);
/*
 * A config generation in a child: whoever keeps pointers into it past
 * the current callback holds a reference; the last unref frees it.
 */
struct config	*config_ref(struct config *);
void		 config_unref(struct config *);

/*
 * config.c: the parent reads pki cert/key (and checks that the TLS library
 * serves the pair), credentials and CA bundle; -1 on error (logged)
 */
int		 config_load_files(struct config *);
int		 config_check_listeners(const struct config *);
/*
 * 1 if a tracking block's mail carries List-Unsubscribe-Post: one-click
 * on and an https url (RFC 8058 3.1 wants an HTTPS URI)
 */
int		 config_tracking_one_click(const struct tracking *);
/*
 * A TLS server context (ciphers NULL: the library's) presenting the key
 * pairs of n pkis, the first when the client names no server or none of
 * theirs (SNI); NULL and why
 */
struct tls;
struct tls	*config_tls_server(const struct pki *const *, size_t n,
		    const char *ciphers, char *why, size_t whylen);
/*
 * the same for the pkis a listener names, as loaded in c, with the
 * settings of the process that serves it: smtpd's "tls ciphers", webd's
 * the library's
 */
struct tls	*config_tls_listener(const struct config *c,
		    const struct listener *, char *why, size_t whylen);
/* numeric address or "localhost" + port -> sockaddr; -1 if not an address */
int		 config_addr(const char *, in_port_t, struct sockaddr_storage *,
		    socklen_t *);
/*
 * "10.0.0.0/8", "fd00::/8", "192.0.2.1" -> netaddr (host bits must be 0);
 * -1 if bad
 */
int		 config_cidr(const char *, struct netaddr *);
/* does the address fall inside the network? */
int		 config_cidr_match(const struct netaddr *,
		    const struct sockaddr *);
/*
 * value checks shared by parse.y and config_from_json: NULL (or 0) if good,
 * else why not
 */
/* http(s)://host... */
const char	*config_check_url(const char *);
/* whsec_ + base64 */
const char	*config_check_secret(const char *);
const char	*config_check_header(const char *, const char *);
/* mx, smtp[s]://[u:p@]host[:port] */
const char	*config_check_relay_via(const char *);
/* smtp[s]://host[:port] */
const char	*config_check_fallback_smtp(const char *);
/* an absolute path of plain names */
const char	*config_check_maildir(const char *);
char		*config_trim_slashes(char *);
/* relay via, read: host "" for mx; NULL or why not (v untouched then) */
struct relay_via {
	char			 host[MH_NAME_MAX];
	char			 user[MH_NAME_MAX];
	char			 pass[MH_NAME_MAX];
	int			 port;		/* 25, smtps 465 */
	int			 smtps;		/* TLS from the first byte */
	/* user, pass from relay via auth */
	int			 authfile;
};
const char	*config_relay_via_parse(const char *, struct relay_via *);
/* the relay via auth file's data into v's user, pass: NULL or why not */
const char	*config_relay_auth_parse(const char *, struct relay_via *);
/*
 * redis://[user:password@]address[:port][/db] into cc (redis, host, port, db,
 * user, password)
 */
const char	*config_check_redis(const char *, struct cluster_conf *cc);
/* name -> enum tls_policy, -1 */
int		 config_tls_policy(const char *);
const char	*config_tls_policy_name(int);
int		 config_tls_policy_for(const struct config *,
		    const char *domain);
/* the URL with its password (or a lone user) and query values as "*" */
void		 config_url_public(const char *, char *, size_t);
/* -1 if not a domain name */
int		 config_check_domain(const char *);
/*
 * a dkim selector: the first labels of selector._domainkey.domain (and
 * each signature's s=), a domain name without a final dot; 0 or -1
 */
int		 config_check_selector(const char *);
void		 config_headers_free(struct headerlist *);

/*
 * config_print.c: the configuration as mailhook.conf text, defaults left
 * out, no secret in it ("mhctl show config"); malloc'ed, NULL if short
 * of memory
 */
char		*config_print(const struct config *);
/* "second", "minute", "hour", "day": the grammar's "per" words */
const char	*config_rate_unit_name(enum rate_unit);

/* config_json.c */
/*
 * Which secrets a config_to_json() carries: each process is sent only the
 * ones it uses (the parent's table in child_secrets()).  Without a bit the
 * member is left out (PEM data, credentials, header values, secrets) or
 * masked (the relay password becomes "*", and so does a URL's password
 * and each of its query values: config_url_public).
 */
/* pki cert and key PEM, of the pkis an SMTP listener names */
#define CONF_TLS_KEYS		0x01
#define CONF_CREDENTIALS	0x02	/* the SMTP AUTH credentials file */
/* route header values (bearer tokens) */
#define CONF_ROUTE_HEADERS	0x04
/* route webhook signing secrets, the url and errors URLs whole */
#define CONF_ROUTE_SECRETS	0x08
/* events block secrets, header values, the URL whole */
#define CONF_EVENT_SECRETS	0x10
#define CONF_RELAY_AUTH		0x20	/* relay via user:password */
/* pki cert and key PEM, of the pkis an http listener names */
#define CONF_HTTPS_KEYS		0x800
/* the authorization callbacks' URLs whole (user:password@, query values) */
#define CONF_AUTHZ_URLS		0x1000
/* the eight above, none of the keys below (tests, fuzzing) */
#define CONF_SECRETS		(0x3f | CONF_HTTPS_KEYS | CONF_AUTHZ_URLS)
#define CONF_TRACKING_KEY	0x40	/* the tracking token keys */
/* the key of sealed verdicts (seal.h) */
#define CONF_VERDICT_KEY	0x80
#define CONF_CLUSTER_AUTH	0x100	/* the cluster's Redis password */
#define CONF_API_KEYS		0x200	/* the api keys file (hashes of keys) */
#define CONF_VERP_KEY		0x400	/* the VERP return paths' MAC key */
json_t		*config_to_json(const struct config *, int flags);
char		*config_to_json_text(const struct config *, int flags,
		    size_t *);
struct config	*config_from_json(const json_t *);	/* NULL if malformed */
/*
 * json_decref() of a tree that may hold secrets (a config's, the
 * parent's or a child's): every string value in it is wiped first
 * (jansson frees them as they are).  A node another reference still
 * holds is left as it is.
 */
void		 config_json_free(json_t *);

/* a route's id; without this bit, an older one: its route's index */
#define ROUTE_ID_STABLE		0x80000000U
void		 config_route_ids(struct config *);

/* config.c: lookups */
const struct route *config_route(const struct config *, uint32_t);
const struct route *config_route_fallback(const struct config *,
		    const char *pattern, int smtp);
const struct listener *config_listener(const struct config *, uint32_t);
const struct pki *config_pki(const struct config *, const char *);
/* 1 if the listener names the pki, else 0 */
int		 config_listener_names(const struct listener *, const char *);
/* the tracking block of a From: domain, or NULL */
const struct tracking *config_tracking(const struct config *, const char *);
/* parent: blocks without a secret get the key in spool (made once) */
int		 config_tracking_key(struct config *, const char *spool);
/* parent: with a bounce domain, the VERP key in spool (made once) */
int		 config_verp_key(struct config *, const char *spool);
/*
 * mailhookd -n: the keys of the two above that spool has, checked as a
 * start reads them (none made); -1 if a start would refuse one (said)
 */
int		 config_spool_keys_check(struct config *, const char *spool);
/* parent, at reload: each block keeps the key it had as prev_secret */
void		 config_tracking_rotate(struct config *, const struct config *);
const char	*config_check_tracking_secret(const char *);
/* a tracking block's url: NULL if good, else why (static) */
const char	*config_check_tracking_url(const char *);
const char	*config_check_bounce_secret(const char *);
/* the dkim entry for a From: domain (itself or the nearest parent), or NULL */
const struct dkim *config_dkim_match(const struct config *, const char *);
const char	*event_kind_name(enum event_kind);
int		 event_kind_from_name(const char *);	/* -1 if unknown */

#endif /* MH_CONFIG_H */

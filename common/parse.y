/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhook.conf parser (byacc), in the style of OpenBSD's parse.y files.
 *
 * The lexer (parse_lex.c) tracks the line and column (1-based, in
 * characters: a UTF-8 sequence or a tab is one) of every token; every
 * error is reported as FILE:LINE:COL: message and parsing goes on to the
 * end of the file so that all errors show at once (up to PARSE_ERRORS_MAX
 * of them, then it stops).
 * config_parse() returns NULL if there was any error.
 *
 * What the actions build and check is in parse_block.c (route, limit
 * domain, events and tracking blocks, settings said once, the global
 * settings), parse_listen.c (listeners and their pki) and parse_util.c
 * (values); the state they share with the grammar is in parse_state.h.
 *
 * Macros: `name = "value"` defines, a bare `$name` expands (not inside
 * quotes).  `include "file"` reads another file (relative to the
 * including file's directory).  Numbers take size suffixes K, M, G (or
 * k, m, g) and time suffixes ms, s, m, h, d; a time without suffix is in
 * seconds.
 */

%{
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/queue.h>

#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "dns.h"
#include "envelope.h"
#include "log.h"
#include "mailaddr.h"
#include "parse.h"
#include "parse_state.h"
#include "token.h"

#define perr	parse_error
#define AUTHZ_TIMEOUT_MAX	300	/* seconds: RFC 5321's wait for RCPT's reply */

/* what the grammar shares with the blocks and listeners (parse_state.h) */
struct parse_state		 ps;

/* the grammar's own */
static struct domain_limit	*cur_dlimit;
static struct pos		 cur_dlimit_pos;	/* its domain */
static int			 in_cluster;	/* in the cluster block */
static uint32_t			 ncluster;	/* cluster blocks so far */
static struct pos		 cluster_pos;	/* where the block began */

%}

%token	ALLOW ANY API AUTH AUTHREQ AUTHORIZE BATCH BOUNCE CA CERT CIPHERS
%token	CONCURRENCY
%token	CONNECTIONS CONTROL CREDENTIALS DKIM DOMAIN DSN ERRORS EVENTS FAIL
%token	GROUP HISTORY FALLBACK
%token	METRICS
%token	FROM GREETDELAY HEADER HOSTNAME HTTP IDLETIMEOUT INCLUDE KEY KEYS KINDS
%token	LIFETIME LIMIT LISTEN MESSAGESIZE MODE ON PER PKI PORT POSTMASTER
%token	PRIVADDR QUEUE
%token	QUARANTINE RATE READ RECIPIENTS REJECT RELAY REQUIRE RESOLVER RETRY
%token	ROUTE SECRET SELECTOR SENDERDOMAIN SESSIONS SESSIONSPERIP SESSIONSPERNET
%token	MINDATARATE JUNK TLSHSTIMEOUT
%token	MIMEPARTS MIMEDEPTH MIMEHEADERS MIMEHEADERSIZE
%token	SESSIONTIMEOUT SMTPS SPF SPOOL TLS TLSREQ TO TRACKING UNSUBSCRIBE URL
%token	VERDICTS VIA WAIT OPENS CLICKS TESTING CLUSTER REDIS NODE
%token	DNSSEC POLICY TRUSTANCHOR
%token	ERRTOK
%token	<v.string>	STRING
%token	<v.num>		NUMBER
%type	<v.number>	port optquarantine
%type	<v.num>		number size time mstime
%type	<v.string>	reqresult
%destructor	{ parse_strfree($$); } <v.string>
%nonassoc	LOWEST
%nonassoc	FORMAT TIMEOUT

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar error '\n'		{ yyerrok; }
		;

include		: INCLUDE STRING {
			parse_lex_include(&$<pos>1, &$<pos>2, $2);
			parse_strfree($2);
		}
		;

varset		: STRING '=' STRING {
			if (parse_macro_set($1, $3) == -1)
				perr(&$<pos>1, "bad macro name \"%s\"", $1);
			parse_strfree($1);
			parse_strfree($3);
		}
		| STRING '=' NUMBER {
			if (parse_macro_set($1, $3.raw) == -1)
				perr(&$<pos>1, "bad macro name \"%s\"", $1);
			parse_strfree($1);
		}
		;

number		: NUMBER {
			$$ = $1;
			if ($1.n != NUMERR && $1.unit[0] != '\0') {
				perr(&$<pos>1, "unexpected suffix \"%s\" on %s",
				    $1.unit, $1.raw);
				$$.n = NUMERR;
			}
		}
		| STRING {
			perr(&$<pos>1, "expected a number, not \"%s\"", $1);
			parse_strfree($1);
			$$ = parse_num_err();
		}
		;

port		: NUMBER {
			if ($1.n == NUMERR)
				$$ = 25;
			else if ($1.unit[0] != '\0' || $1.n < 1 ||
			    $1.n > 65535) {
				perr(&$<pos>1, "port %s out of range (1-65535)",
				    $1.raw);
				$$ = 25;
			} else
				$$ = $1.n;
		}
		| STRING {
			perr(&$<pos>1, "expected a port number, not \"%s\"",
			    $1);
			parse_strfree($1);
			$$ = 25;
		}
		;

size		: NUMBER {
			int64_t	 m;

			$$ = $1;
			if ((m = parse_size_unit($1.unit)) == 0)
				perr(&$<pos>1, "bad size suffix \"%s\" "
				    "(use K, M or G)", $1.unit);
			$$.n = parse_num_scale($1.n, m);
		}
		| STRING {
			perr(&$<pos>1, "expected a size such as 512K or 25M, "
			    "not \"%s\"", $1);
			parse_strfree($1);
			$$ = parse_num_err();
		}
		;

time		: NUMBER {
			int64_t	 m;

			$$ = $1;
			/* seconds: not ms */
			m = parse_time_unit($1.unit) / 1000;
			if (m == 0)
				perr(&$<pos>1, "bad time suffix \"%s\" "
				    "(use s, m, h or d)", $1.unit);
			$$.n = parse_num_scale($1.n, m);
		}
		| STRING {
			perr(&$<pos>1, "expected a duration such as 30s, 5m, "
			    "1h or 2d, not \"%s\"", $1);
			parse_strfree($1);
			$$ = parse_num_err();
		}
		;

mstime		: NUMBER {
			int64_t	 m;

			$$ = $1;
			/* milliseconds: up to minutes */
			if ((m = parse_time_unit($1.unit)) > 60000)
				m = 0;
			if (m == 0)
				perr(&$<pos>1, "bad time suffix \"%s\" "
				    "(use ms, s or m)", $1.unit);
			$$.n = parse_num_scale($1.n, m);
		}
		| STRING {
			perr(&$<pos>1, "expected a duration such as 500ms, 30s "
			    "or 5m, not \"%s\"", $1);
			parse_strfree($1);
			$$ = parse_num_err();
		}
		;

main		: HOSTNAME STRING {
			parse_global_once(&$<pos>1, "hostname");
			parse_hostname_copy(&$<pos>2, ps.conf->hostname,
			    sizeof(ps.conf->hostname), $2);
			parse_strfree($2);
		}
		| RESOLVER STRING resolverport resolverdnssec {
			struct sockaddr_storage	 ss;
			socklen_t		 sl;

			parse_global_once(&$<pos>1, "resolver");
			if (strcasecmp($2, "localhost") == 0 ||
			    config_addr($2, 53, &ss, &sl) == -1)
				perr(&$<pos>2, "resolver \"%s\" is not a "
				    "numeric IP address", $2);
			else
				parse_copystr(&$<pos>2, ps.conf->resolver,
				    sizeof(ps.conf->resolver), $2, "resolver");
			parse_strfree($2);
		}
		| SPOOL STRING {
			parse_global_once(&$<pos>1, "spool");
			if ($2[0] != '/')
				perr(&$<pos>2, "spool \"%s\" is not an "
				    "absolute path", $2);
			else if ($2[strspn($2, "/")] == '\0')
				perr(&$<pos>2, "spool \"%s\" is the root "
				    "directory", $2);
			else
				parse_copystr(&$<pos>2, ps.conf->spool,
				    sizeof(ps.conf->spool), $2, "spool");
			parse_strfree($2);
		}
		| CONTROL GROUP STRING {
			parse_global_once(&$<pos>1, "control group");
			if (getgrnam($3) == NULL)
				perr(&$<pos>3, "control group \"%s\": no such "
				    "group", $3);
			else
				parse_copystr(&$<pos>3, ps.conf->control_group,
				    sizeof(ps.conf->control_group), $3,
				    "control group");
			parse_strfree($3);
		}
		| CONTROL STRING {
			parse_global_once(&$<pos>1, "control");
			if ($2[0] != '/')
				perr(&$<pos>2, "control \"%s\" is not an "
				    "absolute path", $2);
			else if (strlen($2) >= 108)
				perr(&$<pos>2, "control socket path too long");
			else
				parse_copystr(&$<pos>2, ps.conf->control,
				    sizeof(ps.conf->control), $2, "control");
			parse_strfree($2);
		}
		| API KEYS STRING {
			parse_global_once(&$<pos>1, "api keys");
			parse_copypath(&$<pos>3, ps.conf->api_keys,
			    sizeof(ps.conf->api_keys), $3, "api keys");
			parse_at(&$<pos>3, ps.conf->api_keys_at,
			    sizeof(ps.conf->api_keys_at));
			parse_strfree($3);
		}
		| CREDENTIALS STRING {
			parse_global_once(&$<pos>1, "credentials");
			parse_copypath(&$<pos>2, ps.conf->credentials,
			    sizeof(ps.conf->credentials), $2, "credentials");
			parse_at(&$<pos>2, ps.conf->credentials_at,
			    sizeof(ps.conf->credentials_at));
			parse_strfree($2);
		}
		| CA STRING {
			parse_global_once(&$<pos>1, "ca");
			parse_copypath(&$<pos>2, ps.conf->cabundle,
			    sizeof(ps.conf->cabundle), $2, "ca");
			parse_at(&$<pos>2, ps.conf->cabundle_at,
			    sizeof(ps.conf->cabundle_at));
			parse_strfree($2);
		}
		| PKI STRING CERT STRING KEY STRING {
			struct pki	*p;
			char		 what[MH_NAME_MAX + 8];

			snprintf(what, sizeof(what), "pki \"%s\"", $2);
			if ($2[0] == '\0')
				perr(&$<pos>2, "empty pki name");
			else if (parse_def(&$<pos>2, "pki", $2, what) == 0) {
				if ((p = calloc(1, sizeof(*p))) == NULL)
					fatal("calloc");
				parse_copystr(&$<pos>2, p->name,
				    sizeof(p->name), $2, "pki name");
				parse_copypath(&$<pos>4, p->cert_file,
				    sizeof(p->cert_file), $4, "pki cert");
				parse_copypath(&$<pos>6, p->key_file,
				    sizeof(p->key_file), $6, "pki key");
				parse_at(&$<pos>4, p->cert_at,
				    sizeof(p->cert_at));
				parse_at(&$<pos>6, p->key_at,
				    sizeof(p->key_at));
				TAILQ_INSERT_TAIL(&ps.conf->pkis, p, entry);
				parse_pki_def(&$<pos>2, p);
			}
			parse_strfree($2);
			parse_strfree($4);
			parse_strfree($6);
		}
		| listenhead listenopts		{ parse_listen_end(); }
		| LIMIT limit
		| routehead '{' routeopts '}'	{ parse_route_end(); }
		| routehead '{' routeopts error '}' {
			yyerrok;	/* an error before '}' on its line */
			parse_route_end();
		}
		| RELAY FROM AUTH {
			ps.conf->relay_from_auth = 1;
		}
		| RELAY FROM STRING {
			struct netaddr	*n;

			if ((n = calloc(1, sizeof(*n))) == NULL)
				fatal("calloc");
			if (config_cidr($3, n) == -1) {
				perr(&$<pos>3, "bad network \"%s\" (want "
				    "ADDRESS/BITS with no host bits set)", $3);
				free(n);
			} else if (parse_relay_from_once(&$<pos>3, n, $3) == -1)
				free(n);
			else
				TAILQ_INSERT_TAIL(&ps.conf->relay_from, n,
				    entry);
			parse_strfree($3);
		}
		| RELAY VIA STRING {
			parse_global_once(&$<pos>1, "relay via");
			parse_relay_via(ps.conf, &$<pos>3, $3);
			parse_strfree($3);
		}
		| RELAY VIA STRING AUTH STRING {
			parse_global_once(&$<pos>1, "relay via");
			parse_relay_via(ps.conf, &$<pos>3, $3);
			parse_relay_auth(ps.conf, &$<pos>5, $5);
			parse_strfree($3);
			parse_strfree($5);
		}
		| BOUNCE DOMAIN STRING {
			char	 name[MH_NAME_MAX];

			parse_global_once(&$<pos>1, "bounce domain");
			/*
			 * as authd names a recipient's domain: lowercased,
			 * no trailing dot, an A-label
			 */
			if (parse_domain(&$<pos>3, $3, name, sizeof(name),
			    "bounce domain") == 0)
				parse_copystr(&$<pos>3, ps.conf->bounce_domain,
				    sizeof(ps.conf->bounce_domain), name,
				    "bounce domain");
			parse_strfree($3);
		}
		| BOUNCE SECRET STRING {
			const char	*why;

			parse_global_once(&$<pos>1, "bounce secret");
			if ((why = config_check_bounce_secret($3)) != NULL)
				perr(&$<pos>3, "%s", why);
			else
				parse_copystr(&$<pos>3, ps.conf->bounce_secret,
				    sizeof(ps.conf->bounce_secret), $3,
				    "bounce secret");
			parse_strfree($3);
		}
		| BOUNCE DSN STRING {
			parse_global_once(&$<pos>1, "bounce dsn");
			if (strcmp($3, "yes") == 0)
				ps.conf->bounce_dsn = 1;
			else if (strcmp($3, "no") == 0)
				ps.conf->bounce_dsn = 0;
			else
				perr(&$<pos>3, "bounce dsn wants yes or no, "
				    "not \"%s\"", $3);
			parse_strfree($3);
		}
		| HISTORY time {
			parse_global_once(&$<pos>1, "history");
			if (parse_check_time(&$<pos>2, &$2, 1, 366 * 86400,
			    "history") == 0)
				ps.conf->history = $2.n;
		}
		| QUEUE LIFETIME time {
			parse_global_once(&$<pos>1, "queue lifetime");
			if (parse_check_time(&$<pos>3, &$3, 60, 90 * 86400,
			    "queue lifetime") == 0)
				ps.conf->queue_lifetime = $3.n;
		}
		| QUEUE RETRY time TO time {
			parse_global_once(&$<pos>1, "queue retry");
			if (parse_check_time(&$<pos>3, &$3, 1, 86400,
			    "queue retry minimum") == 0 &&
			    parse_check_time(&$<pos>5, &$5, 1, 7 * 86400,
			    "queue retry maximum") == 0) {
				if ($5.n < $3.n)
					perr(&$<pos>5, "queue retry maximum %s "
					    "is below the minimum %s", $5.raw,
					    $3.raw);
				ps.conf->retry_min = $3.n;
				ps.conf->retry_max = $5.n;
			}
		}
		| SPF REJECT FAIL {
			parse_global_once(&$<pos>1, "spf reject fail");
			ps.conf->spf_reject_fail = 1;
		}
		| ALLOW PRIVADDR {
			parse_global_once(&$<pos>1, "allow private-addresses");
			ps.conf->allow_private = 1;
		}
		| POSTMASTER STRING {
			parse_global_once(&$<pos>1, "postmaster");
			parse_postmaster_set(&$<pos>2, $2);
			parse_strfree($2);
		}
		| TLS CIPHERS STRING {
			parse_global_once(&$<pos>1, "tls ciphers");
			parse_tls_ciphers(ps.conf, &$<pos>3, $3);
			parse_strfree($3);
		}
		| TLS POLICY STRING {
			int	 p;

			parse_global_once(&$<pos>1, "tls policy");
			if ((p = parse_tls_policy(&$<pos>3, $3)) != -1)
				ps.conf->tls_policy = p;
			parse_strfree($3);
		}
		| TLS POLICY DOMAIN STRING STRING {
			parse_tls_policy_domain(ps.conf, &$<pos>4, $4, &$<pos>5,
			    $5);
			parse_strfree($4);
			parse_strfree($5);
		}
		| TESTING STRING {
			parse_testing_set(&$<pos>1, &$<pos>2, $2, 0, 0, 0);
			parse_strfree($2);
		}
		| TESTING STRING number {
			parse_testing_set(&$<pos>1, &$<pos>2, $2, 1, $3.n, 0);
			parse_strfree($2);
		}
		| TESTING STRING number number {
			parse_testing_set(&$<pos>1, &$<pos>2, $2, 2, $3.n,
			    $4.n);
			parse_strfree($2);
		}
		| DKIM DOMAIN STRING SELECTOR STRING KEY STRING {
			struct dkim	*d;
			char		 key[2 * MH_NAME_MAX + 2], *s;
			char		 what[2 * MH_NAME_MAX + 32];
			char		 name[MH_NAME_MAX];
			int		 bad;

			if ((d = calloc(1, sizeof(*d))) == NULL)
				fatal("calloc");
			parse_at(&$<pos>7, d->key_at, sizeof(d->key_at));
			/*
			 * as relayd names the From: domain it signs for:
			 * lowercased, no trailing dot, an A-label
			 */
			bad = parse_domain(&$<pos>3, $3, name, sizeof(name),
			    "dkim domain");
			/*
			 * the selector is the first labels of the key's DNS
			 * name, and s= of each signature: a blank or a ';'
			 * in it would break every signature
			 */
			if (config_check_selector($5) == -1) {
				perr(&$<pos>5, "dkim selector \"%s\" is "
				    "not a valid DNS name", $5);
				bad = -1;
			}
			/* one selector is one DNS record: one key */
			snprintf(key, sizeof(key), "%s %s", name, $5);
			for (s = key; *s != '\0'; s++)
				*s = tolower((unsigned char)*s);
			snprintf(what, sizeof(what), "dkim domain \"%s\" "
			    "selector \"%s\"", $3, $5);
			if (bad == 0 && parse_def(&$<pos>5, "dkim",
			    key, what) == 0 && parse_copystr(&$<pos>3,
			    d->domain, sizeof(d->domain), name,
			    "dkim domain") == 0 &&
			    parse_copystr(&$<pos>5, d->selector,
			    sizeof(d->selector), $5, "dkim selector") == 0 &&
			    parse_copypath(&$<pos>7, d->key_file,
			    sizeof(d->key_file), $7, "dkim key") == 0)
				TAILQ_INSERT_TAIL(&ps.conf->dkims, d, entry);
			else
				free(d);
			parse_strfree($3);
			parse_strfree($5);
			parse_strfree($7);
		}
		| eventshead '{' eventsopts '}'	{ parse_events_end(); }
		| eventshead '{' eventsopts error '}' {
			yyerrok;
			parse_events_end();
		}
		| trackhead '{' trackopts '}'	{ parse_tracking_end(); }
		| trackhead '{' trackopts error '}' {
			yyerrok;
			parse_tracking_end();
		}
		| clusterhead clusteropts '}' {
			parse_cluster_end(ps.conf, &cluster_pos);
			in_cluster = 0;
		}
		| clusterhead clusteropts error '}' {
			yyerrok;
			parse_cluster_end(ps.conf, &cluster_pos);
			in_cluster = 0;
		}
		;

clusterhead	: CLUSTER '{' {
			parse_global_once(&$<pos>1, "cluster");
			cluster_pos = $<pos>1;
			in_cluster = 1;
			ncluster++;
		}
		;

trackhead	: TRACKING DOMAIN STRING {
			parse_tracking_begin(&$<pos>1, &$<pos>3, $3);
			parse_strfree($3);
		}
		;

trackopts	: /* empty */
		| trackopts trackopt
		| trackopts '\n'
		| trackopts error '\n'	{ yyerrok; }
		;

trackopt	: URL STRING {
			const char	*why = config_check_tracking_url($2);
			size_t		 n;

			parse_tracking_once(&$<pos>1, "url");
			ps.url_seen = 1;
			if (why == NULL)
				why = parse_url_port_check($2);
			if (why != NULL)
				perr(&$<pos>2, "tracking url \"%s\" %s", $2,
				    why);
			else {
				while ((n = strlen($2)) > 0 && $2[n - 1] == '/')
					$2[n - 1] = '\0';
				/* "List-Unsubscribe: <URL/u/TOKEN>," fits */
				if (n > TOKEN_TRACK_URL_MAX)
					perr(&$<pos>2, "tracking url is %zu "
					    "characters, at most %d (its "
					    "List-Unsubscribe line would pass "
					    "998 octets)", n,
					    TOKEN_TRACK_URL_MAX);
				else
					parse_copystr(&$<pos>2,
					    ps.cur_track->url,
					    sizeof(ps.cur_track->url), $2,
					    "tracking url");
			}
			parse_strfree($2);
		}
		| SECRET STRING {
			const char	*why;

			parse_tracking_once(&$<pos>1, "secret");
			if ((why = config_check_tracking_secret($2)) != NULL)
				perr(&$<pos>2, "%s", why);
			else
				parse_copystr(&$<pos>2, ps.cur_track->secret,
				    sizeof(ps.cur_track->secret), $2, "secret");
			parse_strfree($2);
		}
		| OPENS STRING {
			parse_tracking_once(&$<pos>1, "opens");
			parse_tracking_yesno(&$<pos>2, "opens", $2,
			    &ps.cur_track->opens);
			parse_strfree($2);
		}
		| CLICKS STRING {
			parse_tracking_once(&$<pos>1, "clicks");
			parse_tracking_yesno(&$<pos>2, "clicks", $2,
			    &ps.cur_track->clicks);
			parse_strfree($2);
		}
		| READ time {
			parse_tracking_once(&$<pos>1, "read");
			if (parse_check_time(&$<pos>2, &$2, 1, 3600,
			    "read") == 0)
				ps.cur_track->read = $2.n;
		}
		| UNSUBSCRIBE STRING {
			parse_tracking_once(&$<pos>1, "unsubscribe");
			if (strcmp($2, "one-click") == 0)
				ps.cur_track->unsubscribe = 1;
			else if (strcmp($2, "no") == 0)
				ps.cur_track->unsubscribe = 0;
			else
				perr(&$<pos>2, "unsubscribe wants one-click or "
				    "no, not \"%s\"", $2);
			parse_strfree($2);
		}
		;

resolverport	: /* empty */
		| PORT port		{ ps.conf->resolver_port = $2; }
		;

resolverdnssec	: /* empty */
		| DNSSEC TRUSTANCHOR STRING {
			if ($3[0] != '/')
				perr(&$<pos>3, "trust-anchor \"%s\" is not an "
				    "absolute path", $3);
			else {
				parse_copystr(&$<pos>3, ps.conf->dnssec_anchor,
				    sizeof(ps.conf->dnssec_anchor), $3,
				    "trust-anchor");
				parse_at(&$<pos>3, ps.conf->dnssec_anchor_at,
				    sizeof(ps.conf->dnssec_anchor_at));
			}
			parse_strfree($3);
		}
		| DNSSEC {
			perr(&$<pos>1, "expected trust-anchor \"FILE\" after "
			    "dnssec");
		}
		;

listenhead	: LISTEN ON STRING {
			parse_listen_begin(&$<pos>1, &$<pos>3, $3);
		}
		;

listenopts	: /* empty */
		| listenopts listenopt
		;

listenopt	: PORT port {
			parse_block_once(&$<pos>1, "listen", ps.cur_listen->id,
			    "port");
			ps.cur_listen->port = $2;
		}
		| TLS		{ parse_listen_flag(&$<pos>1, LW_TLS); }
		| TLSREQ	{ parse_listen_flag(&$<pos>1, LW_TLSREQ); }
		| SMTPS		{ parse_listen_flag(&$<pos>1, LW_SMTPS); }
		| HTTP		{ parse_listen_flag(&$<pos>1, LW_HTTP); }
		| API		{ parse_listen_flag(&$<pos>1, LW_API); }
		| METRICS	{ parse_listen_flag(&$<pos>1, LW_METRICS); }
		| AUTH		{ parse_listen_flag(&$<pos>1, LW_AUTH); }
		| AUTHREQ	{ parse_listen_flag(&$<pos>1, LW_AUTHREQ); }
		| PKI STRING {
			parse_listen_pki(&$<pos>1, &$<pos>2, $2);
			parse_strfree($2);
		}
		| HOSTNAME STRING {
			parse_block_once(&$<pos>1, "listen", ps.cur_listen->id,
			    "hostname");
			if (ps.cur_listen_hostname.file == NULL)
				ps.cur_listen_hostname = $<pos>1;
			parse_hostname_copy(&$<pos>2, ps.cur_listen->hostname,
			    sizeof(ps.cur_listen->hostname), $2);
			parse_strfree($2);
		}
		;

limit		: MESSAGESIZE size {
			parse_global_once(&$<pos>1, "limit message-size");
			if (parse_check_size(&$<pos>2, &$2, 1024, INT_MAX,
			    "message-size") == 0)
				ps.conf->max_message_size = $2.n;
		}
		| RECIPIENTS number {
			parse_global_once(&$<pos>1, "limit recipients");
			if (parse_check_number(&$<pos>2, &$2, 1, 100000,
			    "recipients") == 0) {
				/* taken before, so a config that said more
				 * still starts; its messages got 554 */
				if ($2.n > MH_ENV_MAX_RCPT) {
					logit(LOG_WARNING, "%s:%d:%d: warning: "
					    "limit recipients %lld: a message "
					    "holds at most %d recipients, so "
					    "%d are taken", $<pos>2.file,
					    $<pos>2.line, $<pos>2.col,
					    (long long)$2.n, MH_ENV_MAX_RCPT,
					    MH_ENV_MAX_RCPT);
					$2.n = MH_ENV_MAX_RCPT;
				}
				ps.conf->max_recipients = $2.n;
			}
		}
		| SESSIONS number {
			parse_global_once(&$<pos>1, "limit sessions");
			if (parse_check_number(&$<pos>2, &$2, 1, 65536,
			    "sessions") == 0)
				ps.conf->max_sessions = $2.n;
		}
		| SESSIONSPERIP number {
			parse_global_once(&$<pos>1, "limit sessions-per-ip");
			if (parse_check_number(&$<pos>2, &$2, 1, 65536,
			    "sessions-per-ip") == 0)
				ps.conf->max_sessions_per_ip = $2.n;
		}
		| SESSIONSPERNET number {
			parse_global_once(&$<pos>1,
			    "limit sessions-per-network");
			if (parse_check_number(&$<pos>2, &$2, 1, 65536,
			    "sessions-per-network") == 0)
				ps.conf->max_sessions_per_net = $2.n;
		}
		| MINDATARATE size {
			parse_global_once(&$<pos>1, "limit min-data-rate");
			if (parse_check_size(&$<pos>2, &$2, 0, 1073741824,
			    "min-data-rate") == 0)
				ps.conf->min_data_rate = $2.n;
		}
		| IDLETIMEOUT time {
			parse_global_once(&$<pos>1, "limit idle-timeout");
			if (parse_check_time(&$<pos>2, &$2, 1, 86400,
			    "idle-timeout") == 0)
				ps.conf->smtp_timeout = $2.n;
		}
		| TLSHSTIMEOUT time {
			parse_global_once(&$<pos>1,
			    "limit tls-handshake-timeout");
			if (parse_check_time(&$<pos>2, &$2, 1, 86400,
			    "tls-handshake-timeout") == 0)
				ps.conf->tls_handshake_timeout = $2.n;
		}
		| GREETDELAY mstime {
			parse_global_once(&$<pos>1, "limit greeting-delay");
			if (parse_check_mstime(&$<pos>2, &$2, 0, 60000,
			    "greeting-delay") == 0)
				ps.conf->greeting_delay_ms = $2.n;
		}
		| SESSIONTIMEOUT time {
			parse_global_once(&$<pos>1, "limit session-timeout");
			if (parse_check_time(&$<pos>2, &$2, 1, 86400,
			    "session-timeout") == 0)
				ps.conf->session_timeout = $2.n;
		}
		| ERRORS number {
			parse_global_once(&$<pos>1, "limit errors");
			if (parse_check_number(&$<pos>2, &$2, 1, 1000,
			    "errors") == 0)
				ps.conf->max_errors = $2.n;
		}
		| JUNK number {
			parse_global_once(&$<pos>1, "limit junk-commands");
			if (parse_check_number(&$<pos>2, &$2, 1, 100000,
			    "junk-commands") == 0)
				ps.conf->max_junk = $2.n;
		}
		| MIMEPARTS number {
			parse_global_once(&$<pos>1, "limit mime-parts");
			if (parse_check_number(&$<pos>2, &$2, 1, 100000,
			    "mime-parts") == 0)
				ps.conf->mime_parts = $2.n;
		}
		| MIMEDEPTH number {
			parse_global_once(&$<pos>1, "limit mime-depth");
			if (parse_check_number(&$<pos>2, &$2, 1, 1000,
			    "mime-depth") == 0)
				ps.conf->mime_depth = $2.n;
		}
		| MIMEHEADERS number {
			parse_global_once(&$<pos>1, "limit mime-headers");
			if (parse_check_number(&$<pos>2, &$2, 1, 1000000,
			    "mime-headers") == 0)
				ps.conf->mime_headers = $2.n;
		}
		| MIMEHEADERSIZE size {
			parse_global_once(&$<pos>1, "limit mime-header-size");
			if (parse_check_size(&$<pos>2, &$2, 1024, 67108864,
			    "mime-header-size") == 0)
				ps.conf->mime_header_size = $2.n;
		}
		| dlimithead dlimitopts		{ cur_dlimit = NULL; }
		| dlimithead {
			/* a domain alone limits nothing */
			if (cur_dlimit->domain[0] != '\0')
				perr(&cur_dlimit_pos, "limit domain \"%s\" "
				    "needs at least one of rate, connections, "
				    "tls require or tls verify",
				    cur_dlimit->domain);
			cur_dlimit = NULL;
		}
		| SENDERDOMAIN STRING RATE number PER STRING {
			struct sender_limit	*s;
			char			 what[MH_NAME_MAX + 32];
			char			 name[MH_NAME_MAX];
			int			 u, bad;

			if ((s = calloc(1, sizeof(*s))) == NULL)
				fatal("calloc");
			/*
			 * as relayd names the sender's domain: lowercased,
			 * no trailing dot, A-labels; relayd takes the first:
			 * a second would be ignored
			 */
			bad = parse_domain(&$<pos>2, $2, name, sizeof(name),
			    "sender-domain");
			snprintf(what, sizeof(what),
			    "limit sender-domain \"%s\"", name);
			if (bad == 0 &&
			    parse_def(&$<pos>2, "limit", what, what) == 0 &&
			    parse_copystr(&$<pos>2,
			    s->domain, sizeof(s->domain), name,
			    "sender-domain") == 0 &&
			    parse_check_number(&$<pos>4, &$4, 1, INT_MAX,
			    "rate") == 0 &&
			    (u = parse_rate_unit(&$<pos>6, $6)) != -1) {
				s->rate = $4.n;
				s->per = u;
				TAILQ_INSERT_TAIL(&ps.conf->sender_limits, s,
				    entry);
			} else
				free(s);
			parse_strfree($2);
			parse_strfree($6);
		}
		;

dlimithead	: DOMAIN STRING {
			struct domain_limit	*d;
			char			 what[MH_NAME_MAX + 16];
			char			 name[MH_NAME_MAX];

			if ((d = calloc(1, sizeof(*d))) == NULL)
				fatal("calloc");
			d->per = RATE_SECOND;
			cur_dlimit = d;
			cur_dlimit_pos = $<pos>2;
			ps.cur_dlimit_n++;
			/*
			 * as relayd names the destination it applies to:
			 * lowercased, no trailing dot, an A-label
			 */
			if (parse_domain(&$<pos>2, $2, name, sizeof(name),
			    "limit domain") == 0)
				parse_copystr(&$<pos>2, d->domain,
				    sizeof(d->domain), name, "limit domain");
			snprintf(what, sizeof(what), "limit domain \"%s\"",
			    name);
			parse_def(&$<pos>2, "limit domain", name, what);
			TAILQ_INSERT_TAIL(&ps.conf->domain_limits, cur_dlimit,
			    entry);
			parse_strfree($2);
		}
		;

dlimitopts	: dlimitopt
		| dlimitopts dlimitopt
		;

dlimitopt	: RATE number PER STRING {
			int	 u;

			parse_dlimit_once(&$<pos>1, "rate");
			if (parse_check_number(&$<pos>2, &$2, 1, INT_MAX,
			    "rate") == 0 &&
			    (u = parse_rate_unit(&$<pos>4, $4)) != -1) {
				cur_dlimit->rate = $2.n;
				cur_dlimit->per = u;
			}
			parse_strfree($4);
		}
		| CONNECTIONS number {
			parse_dlimit_once(&$<pos>1, "connections");
			if (parse_check_number(&$<pos>2, &$2, 1, 1000,
			    "connections") == 0)
				cur_dlimit->connections = $2.n;
		}
		| TLSREQ {
			parse_dlimit_once(&$<pos>1, "tls require");
			cur_dlimit->tls_require = 1;
		}
		| TLS REQUIRE {
			parse_dlimit_once(&$<pos>1, "tls require");
			cur_dlimit->tls_require = 1;
		}
		| TLS STRING {
			if (strcmp($2, "verify") == 0) {
				parse_dlimit_once(&$<pos>1, "tls verify");
				cur_dlimit->tls_verify = 1;
			} else
				perr(&$<pos>2, "tls wants require or verify, "
				    "not \"%s\"", $2);
			parse_strfree($2);
		}
		;

routehead	: ROUTE STRING		{ parse_route_begin(&$<pos>1, &$<pos>2,
					    ROUTE_ADDRESS, $2); }
		| ROUTE DOMAIN STRING	{ parse_route_begin(&$<pos>1, &$<pos>3,
					    ROUTE_DOMAIN, $3); }
		| ROUTE ANY		{ parse_route_begin(&$<pos>1, &$<pos>2,
					    ROUTE_ANY, NULL); }
		;

routeopts	: /* empty */
		| routeopts routeopt
		| routeopts '\n'
		| routeopts error '\n'	{ yyerrok; }
		;

routeopt	: URL STRING {
			ps.url_seen = 1;
			parse_route_once(&$<pos>1, "url");
			if (parse_check_url(&$<pos>2, $2, "url") == 0)
				parse_copystr(&$<pos>2, ps.cur_route->url,
				    sizeof(ps.cur_route->url), $2, "url");
			parse_strfree($2);
		}
		| FORMAT STRING {
			parse_route_once(&$<pos>1, "format");
			if (strcmp($2, "json") == 0)
				ps.cur_route->format = FORMAT_JSON;
			else if (strcmp($2, "multipart") == 0)
				ps.cur_route->format = FORMAT_MULTIPART;
			else if (strcmp($2, "raw") == 0)
				ps.cur_route->format = FORMAT_RAW;
			else
				perr(&$<pos>2, "unknown format \"%s\" (json, "
				    "multipart or raw)", $2);
			parse_strfree($2);
		}
		| MODE QUEUE {
			parse_route_once(&$<pos>1, "mode");
			ps.cur_route->mode = MODE_QUEUE;
		}
		| MODE STRING {
			parse_route_once(&$<pos>1, "mode");
			if (strcmp($2, "sync") == 0)
				ps.cur_route->mode = MODE_SYNC;
			else if (strcmp($2, "queue") == 0)
				ps.cur_route->mode = MODE_QUEUE;
			else
				perr(&$<pos>2, "unknown mode \"%s\" (sync or "
				    "queue)", $2);
			parse_strfree($2);
		}
		| AUTHORIZE STRING authzopts %prec LOWEST {
			parse_route_once(&$<pos>1, "authorize");
			if (parse_check_url(&$<pos>2, $2, "authorize") == 0)
				parse_copystr(&$<pos>2, ps.cur_route->authorize,
				    sizeof(ps.cur_route->authorize), $2,
				    "authorize");
			parse_strfree($2);
		}
		| ERRORS STRING {
			parse_route_once(&$<pos>1, "errors");
			if (parse_check_url(&$<pos>2, $2, "errors") == 0)
				parse_copystr(&$<pos>2, ps.cur_route->errors,
				    sizeof(ps.cur_route->errors), $2, "errors");
			parse_strfree($2);
		}
		| HEADER STRING STRING {
			int	 auth = strcasecmp($2, "Authorization") == 0;

			if (parse_header_add(&$<pos>2, &ps.cur_route->headers,
			    $2, $3) == 0 && auth)
				ps.auth_header_pos = $<pos>2;
		}
		| SECRET STRING {
			parse_route_once(&$<pos>1, "secret");
			if (parse_check_secret(&$<pos>2, $2) == 0)
				parse_copystr(&$<pos>2, ps.cur_route->secret,
				    sizeof(ps.cur_route->secret), $2, "secret");
			parse_strfree($2);
		}
		| TIMEOUT time {
			parse_route_once(&$<pos>1, "timeout");
			if (parse_check_time(&$<pos>2, &$2, 1, 3600,
			    "timeout") == 0) {
				ps.cur_route->timeout = $2.n;
				ps.cur_route_timeout_pos = $<pos>2;
			}
		}
		| LIFETIME time {
			parse_route_once(&$<pos>1, "lifetime");
			if (parse_check_time(&$<pos>2, &$2, 60, 90 * 86400,
			    "lifetime") == 0)
				ps.cur_route->lifetime = $2.n;
		}
		| CONCURRENCY number {
			parse_route_once(&$<pos>1, "concurrency");
			if (parse_check_number(&$<pos>2, &$2, 1, 1024,
			    "concurrency") == 0)
				ps.cur_route->concurrency = $2.n;
		}
		| FALLBACK STRING STRING {
			const char	*why;

			if (ps.cur_route->fallback_maildir[0] != '\0' ||
			    ps.cur_route->fallback_smtp[0] != '\0')
				perr(&$<pos>1, "a route has one fallback");
			else if (strcmp($2, "smtp") == 0) {
				if ((why = config_check_fallback_smtp($3)) !=
				    NULL)
					perr(&$<pos>3, "fallback smtp \"%s\": "
					    "%s", $3, why);
				else
					parse_copystr(&$<pos>3,
					    ps.cur_route->fallback_smtp,
					    sizeof(ps.cur_route->fallback_smtp),
					    $3, "fallback smtp");
			} else if (strcmp($2, "maildir") != 0)
				perr(&$<pos>2, "unknown fallback \"%s\" "
				    "(maildir or smtp)", $2);
			else if ((why = config_check_maildir(
			    config_trim_slashes($3))) != NULL)
				perr(&$<pos>3, "fallback maildir \"%s\" %s", $3,
				    why);
			else {
				parse_copystr(&$<pos>3,
				    ps.cur_route->fallback_maildir,
				    sizeof(ps.cur_route->fallback_maildir), $3,
				    "fallback maildir");
				parse_at(&$<pos>3, ps.cur_route->fallback_at,
				    sizeof(ps.cur_route->fallback_at));
			}
			parse_strfree($2);
			parse_strfree($3);
		}
		| VERDICTS STRING {
			parse_route_once(&$<pos>1, "verdicts");
			if (strcmp($2, "yes") == 0)
				ps.cur_route->no_verdicts = 0;
			else if (strcmp($2, "no") == 0)
				ps.cur_route->no_verdicts = 1;
			else
				perr(&$<pos>2, "verdicts wants yes or no, not "
				    "\"%s\"", $2);
			parse_strfree($2);
		}
		| REQUIRE DKIM reqresult optquarantine {
			parse_route_once(&$<pos>1, "require dkim");
			parse_route_require(&$<pos>3, REQUIRE_DKIM, $3, $4);
			parse_strfree($3);
		}
		| REQUIRE SPF reqresult optquarantine {
			perr(&$<pos>2, "unknown requirement \"spf\" (dkim or "
			    "dmarc; see spf reject fail)");
			parse_strfree($3);
		}
		| REQUIRE STRING reqresult optquarantine {
			if (strcmp($2, "dmarc") != 0)
				perr(&$<pos>2, "unknown requirement \"%s\" "
				    "(dkim or dmarc)", $2);
			else {
				parse_route_once(&$<pos>1, "require dmarc");
				parse_route_require(&$<pos>3, REQUIRE_DMARC, $3,
				    $4);
			}
			parse_strfree($2);
			parse_strfree($3);
		}
		;

reqresult	: STRING		{ $$ = $1; }
		| FAIL {
			if (($$ = strdup("fail")) == NULL)
				fatal("strdup");
		}
		;

optquarantine	: /* empty */		{ $$ = 0; }
		| QUARANTINE		{ $$ = 1; }
		;

authzopts	: /* empty */
		| authzopts authzopt
		;

authzopt	: FORMAT STRING {
			parse_route_once(&$<pos>1, "authorize format");
			if (strcmp($2, "form") == 0)
				ps.cur_route->authorize_format = AUTHZ_FORM;
			else if (strcmp($2, "json") == 0)
				ps.cur_route->authorize_format = AUTHZ_JSON;
			else if (strcmp($2, "xml") == 0)
				ps.cur_route->authorize_format = AUTHZ_XML;
			else
				perr(&$<pos>2, "unknown authorize format "
				    "\"%s\" (form, json or xml)", $2);
			parse_strfree($2);
		}
		| TIMEOUT time {
			parse_route_once(&$<pos>1, "authorize timeout");
			if (parse_check_time(&$<pos>2, &$2, 1,
			    AUTHZ_TIMEOUT_MAX, "authorize timeout") == 0)
				ps.cur_route->authorize_timeout = $2.n;
		}
		;

eventshead	: EVENTS {
			struct events_block	*e;
			uint32_t		 n = 0;

			if ((e = calloc(1, sizeof(*e))) == NULL)
				fatal("calloc");
			TAILQ_FOREACH(ps.cur_events, &ps.conf->events, entry)
				n++;
			e->id = n;
			e->format = EVFMT_EVENTS;
			e->kinds = 0;
			TAILQ_INIT(&e->headers);
			e->timeout = EVENTS_TIMEOUT;
			e->batch_max = EVENTS_BATCH;
			e->batch_wait = EVENTS_WAIT;
			e->lifetime = EVENTS_LIFETIME;
			TAILQ_INSERT_TAIL(&ps.conf->events, e, entry);
			ps.cur_events = e;
			ps.cur_events_pos = $<pos>1;
			memset(&ps.kinds_all_pos, 0, sizeof(ps.kinds_all_pos));
			memset(&ps.kinds_one_pos, 0, sizeof(ps.kinds_one_pos));
			ps.kinds_said = 0;
			ps.url_seen = 0;
		}
		;

eventsopts	: /* empty */
		| eventsopts eventsopt
		| eventsopts '\n'
		| eventsopts error '\n'	{ yyerrok; }
		;

eventsopt	: URL STRING {
			ps.url_seen = 1;
			parse_events_once(&$<pos>1, "url");
			if (parse_check_url(&$<pos>2, $2, "url") == 0)
				parse_copystr(&$<pos>2, ps.cur_events->url,
				    sizeof(ps.cur_events->url), $2, "url");
			parse_strfree($2);
		}
		| FORMAT STRING {
			parse_events_once(&$<pos>1, "format");
			if (strcmp($2, "events") == 0)
				ps.cur_events->format = EVFMT_EVENTS;
			else if (strcmp($2, "failures") == 0)
				ps.cur_events->format = EVFMT_FAILURES;
			else if (strcmp($2, "callback") == 0)
				ps.cur_events->format = EVFMT_CALLBACK;
			else
				perr(&$<pos>2, "unknown events format \"%s\" "
				    "(events, failures or callback)", $2);
			parse_strfree($2);
		}
		| FORMAT EVENTS {
			parse_events_once(&$<pos>1, "format");
			ps.cur_events->format = EVFMT_EVENTS;
		}
		| KINDS kindlist
		| SECRET STRING {
			parse_events_once(&$<pos>1, "secret");
			if (parse_check_secret(&$<pos>2, $2) == 0)
				parse_copystr(&$<pos>2, ps.cur_events->secret,
				    sizeof(ps.cur_events->secret), $2,
				    "secret");
			parse_strfree($2);
		}
		| HEADER STRING STRING {
			int	 auth = strcasecmp($2, "Authorization") == 0;

			if (parse_header_add(&$<pos>2, &ps.cur_events->headers,
			    $2, $3) == 0 && auth)
				ps.auth_header_pos = $<pos>2;
		}
		| TIMEOUT time {
			parse_events_once(&$<pos>1, "timeout");
			if (parse_check_time(&$<pos>2, &$2, 1, 3600,
			    "timeout") == 0)
				ps.cur_events->timeout = $2.n;
		}
		| BATCH number {
			parse_events_once(&$<pos>1, "batch");
			if (parse_check_number(&$<pos>2, &$2, 1, 10000,
			    "batch") == 0)
				ps.cur_events->batch_max = $2.n;
		}
		| WAIT mstime {
			parse_events_once(&$<pos>1, "wait");
			if (parse_check_mstime(&$<pos>2, &$2, 0, 600000,
			    "wait") == 0)
				ps.cur_events->batch_wait = $2.n;
		}
		| LIFETIME time {
			parse_events_once(&$<pos>1, "lifetime");
			if (parse_check_time(&$<pos>2, &$2, 60, 90 * 86400,
			    "lifetime") == 0)
				ps.cur_events->lifetime = $2.n;
		}
		;

clusteropts	: /* empty */
		| clusteropts clusteropt
		| clusteropts '\n'
		| clusteropts error '\n'	{ yyerrok; }
		;

clusteropt	: REDIS STRING {
			parse_block_once(&$<pos>1, "cluster", ncluster,
			    "redis");
			parse_cluster_redis(ps.conf, &$<pos>2, $2);
			parse_strfree($2);
		}
		| NODE STRING {
			parse_block_once(&$<pos>1, "cluster", ncluster, "node");
			if (parse_check_domain(&$<pos>2, $2, "node") == 0)
				parse_copystr(&$<pos>2, ps.conf->cluster.node,
				    sizeof(ps.conf->cluster.node), $2, "node");
			parse_strfree($2);
		}
		| AUTH STRING {
			parse_block_once(&$<pos>1, "cluster", ncluster, "auth");
			parse_copypath(&$<pos>2, ps.conf->cluster.auth_file,
			    sizeof(ps.conf->cluster.auth_file), $2, "auth");
			parse_at(&$<pos>2, ps.conf->cluster.auth_at,
			    sizeof(ps.conf->cluster.auth_at));
			parse_strfree($2);
		}
		;

kindlist	: kind
		| kindlist kind
		| kindlist ',' kind
		;

kind		: STRING {
			char	*s, *w, *p = $1;

			/* not every kind, as no kinds line would be */
			if ($1[strspn($1, " ,")] == '\0')
				perr(&$<pos>1, "kinds \"%s\" names no event "
				    "kind (all, or kinds such as bounce)", $1);
			while ((w = strsep(&p, ",")) != NULL) {
				s = w;
				while (*s == ' ')
					s++;
				if (*s != '\0')
					parse_kind_add(&$<pos>1, s);
			}
			parse_strfree($1);
		}
		| BOUNCE	{ parse_kind_add(&$<pos>1, "bounce"); }
		| READ		{ parse_kind_add(&$<pos>1, "read"); }
		| UNSUBSCRIBE	{ parse_kind_add(&$<pos>1, "unsubscribe"); }
		;

%%

/* the block being parsed, for messages; NULL outside blocks */
const char *
parse_cur_block(void)
{
	return (ps.cur_route != NULL ? "route" :
	    ps.cur_events != NULL ? "events" :
	    ps.cur_track != NULL ? "tracking" :
	    in_cluster ? "cluster" : NULL);
}

/* an error on the block's url line, or a misspelt url: not missing too */
void
parse_url_said(void)
{
	ps.url_seen = 1;
}

static void
parse_cleanup(void)
{
	parse_lex_close();
	parse_macros_clear();
	parse_defs_clear();
	memset(&ps.auth_header_pos, 0, sizeof(ps.auth_header_pos));
}

struct config *
config_parse(const char *filename)
{
	struct config	*c;

	/* nothing from a file read before, even one that ended in a block */
	memset(&ps, 0, sizeof(ps));
	if ((ps.conf = config_new()) == NULL)
		return (NULL);
	cur_dlimit = NULL;
	in_cluster = 0;
	strlcpy(ps.conf->file, filename, sizeof(ps.conf->file));

	if (parse_lex_open(filename) == -1) {
		config_free(ps.conf);
		ps.conf = NULL;
		return (NULL);
	}
	if (yyparse() != 0 && parse_errors() == 0)
		perr(NULL, "syntax error");

	if (ps.conf->credentials[0] == '\0' && ps.auth_pos.file != NULL)
		perr(&ps.auth_pos,
		    "auth on a listener needs a credentials file");
	if (ps.conf->api_keys[0] == '\0' && ps.api_pos.file != NULL)
		perr(&ps.api_pos, "an api listener needs an api keys file");
	parse_pki_refs_check();
	config_route_ids(ps.conf);

	parse_cleanup();
	c = ps.conf;
	ps.conf = NULL;
	if (parse_errors()) {
		config_free(c);
		return (NULL);
	}
	return (c);
}


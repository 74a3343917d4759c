/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mailhook.conf parser (byacc), in the style of OpenBSD's parse.y files.
 *
 * The lexer tracks the line and column (1-based, in bytes) of every token;
 * every error is reported as FILE:LINE:COL: message and parsing goes on to
 * the end of the file so that all errors show at once.  config_parse()
 * returns NULL if there was any error.
 *
 * Macros: `name = "value"` defines, a bare `$name` expands (not inside
 * quotes).  `include "file"` reads another file (relative to the
 * including file's directory).  Numbers take size suffixes K, M, G and
 * time suffixes ms, s, m, h, d; a time without suffix is in seconds.
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
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "log.h"
#include "parse.h"

#define perr	parse_error

struct numval {
	int64_t		 n;
	char		 unit[4];
	char		 raw[32];
};

typedef struct {
	union {
		int64_t		 number;
		char		*string;
		struct numval	 num;
	} v;
	struct pos	 pos;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

#define MAXPUSHBACK	8192
#define MAXINCLUDE	16
#define MAXBRACES	16
#define MAXWORD		8192

struct ichar {
	int		 c;
	struct pos	 pos;
};

struct file {
	TAILQ_ENTRY(file)	 entry;
	FILE			*stream;
	char			*name;
	int			 line;
	int			 col;
	int			 depth;		/* brace depth when it was entered */
	int			 bol;		/* next token starts a statement */
};
TAILQ_HEAD(filelist, file);

static struct filelist	 files = TAILQ_HEAD_INITIALIZER(files);
static struct filelist	 oldfiles = TAILQ_HEAD_INITIALIZER(oldfiles);
static struct file	*file;
static struct file	*pending;	/* include, entered after the newline */
static struct config	*conf;
static int		 errors;
static int		 allow_testing;	/* mailhookd -X */

static struct ichar	 pushback[MAXPUSHBACK];
static int		 npushback;
static struct pos	 braces[MAXBRACES];
static int		 nbraces;

/* the last token handed to the parser, for syntax errors */
static int		 lasttok;
static char		 lasttext[64];
static int		 lastquoted;
static struct pos	 lastpos;
static int		 lastbol;	/* it started a statement */
static int		 suppress;	/* the lexer reported; quiet until '\n' */

static struct route		*cur_route;
static struct pos		 cur_route_pos;
static struct listener		*cur_listen;
static struct pos		 cur_listen_pos;
static struct events_block	*cur_events;
static struct pos		 cur_events_pos;
static struct domain_limit	*cur_dlimit;
static struct tracking		*cur_track;
static struct pos		 cur_track_pos;
static struct pos		 auth_pos;
static int			 cur_listen_pki;	/* pki option seen */
static int			 url_seen;	/* url option seen in the block */
static int			 stmt_tok;	/* the token a statement began with */
static char			 stmt_text[64];	/* and its text, */
static char			 stmt_text2[64];	/* the second token's */
static int			 stmt_ntok;	/* tokens after the first */

int		 yyparse(void);
int		 yylex(void);
void		 yyerror(const char *);
static int	 lookup(const char *, int *);
static struct file *pushfile(const char *, const struct pos *);
static int	 popfile(void);
static void	 route_begin(const struct pos *, int, char *);
static void	 route_end(void);
static void	 listen_begin(const struct pos *, const struct pos *, char *);
static void	 listen_end(void);
static void	 events_end(void);
static void	 tracking_begin(const struct pos *, const struct pos *, char *);
static void	 tracking_end(void);
static void	 tracking_yesno(const struct pos *, const char *, const char *,
		    int *);
static int	 kind_add(const struct pos *, const char *);
static void	 testing_set(const struct pos *, const struct pos *,
		    const char *, int, int64_t, int64_t);
static void	 route_require(const struct pos *, int, const char *, int);

%}

%token	ALLOW ANY AUTH AUTHREQ AUTHORIZE BATCH BOUNCE CA CERT CIPHERS CONCURRENCY
%token	CONNECTIONS CONTROL CREDENTIALS DKIM DOMAIN DSN ERRORS EVENTS FAIL
%token	GROUP
%token	FROM GREETDELAY HEADER HOSTNAME HTTP IDLETIMEOUT INCLUDE KEY KINDS
%token	LIFETIME LIMIT LISTEN MESSAGESIZE MODE ON PER PKI PORT POSTMASTER
%token	PRIVADDR QUEUE
%token	QUARANTINE RATE READ RECIPIENTS REJECT RELAY REQUIRE RESOLVER RETRY
%token	ROUTE SECRET SELECTOR SENDERDOMAIN SESSIONS SESSIONSPERIP
%token	SESSIONTIMEOUT SMTPS SPF SPOOL TLS TLSREQ TO TRACKING UNSUBSCRIBE URL
%token	VERDICTS VIA WAIT OPENS CLICKS TESTING CLUSTER REDIS NODE
%token	DNSSEC POLICY TRUSTANCHOR
%token	ERRTOK
%token	<v.string>	STRING
%token	<v.num>		NUMBER
%type	<v.number>	number size time mstime port optquarantine
%type	<v.string>	reqresult
%destructor	{ free($$); } <v.string>
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
			struct file	*nf;

			if (pending != NULL) {
				perr(&$<pos>1, "only one include per line");
			} else if ((nf = pushfile($2, &$<pos>2)) != NULL)
				pending = nf;
			free($2);
		}
		;

varset		: STRING '=' STRING {
			if (parse_macro_set($1, $3) == -1)
				perr(&$<pos>1, "bad macro name \"%s\"", $1);
			free($1);
			free($3);
		}
		| STRING '=' NUMBER {
			if (parse_macro_set($1, $3.raw) == -1)
				perr(&$<pos>1, "bad macro name \"%s\"", $1);
			free($1);
		}
		;

number		: NUMBER {
			if ($1.unit[0] != '\0') {
				perr(&$<pos>1, "unexpected suffix \"%s\" on %s",
				    $1.unit, $1.raw);
				$$ = NUMERR;
			} else
				$$ = $1.n;
		}
		| STRING {
			perr(&$<pos>1, "expected a number, not \"%s\"", $1);
			free($1);
			$$ = NUMERR;
		}
		;

port		: NUMBER {
			if ($1.unit[0] != '\0' || $1.n < 1 || $1.n > 65535) {
				perr(&$<pos>1, "port %s out of range (1-65535)",
				    $1.raw);
				$$ = 25;
			} else
				$$ = $1.n;
		}
		| STRING {
			perr(&$<pos>1, "expected a port number, not \"%s\"", $1);
			free($1);
			$$ = 25;
		}
		;

size		: NUMBER {
			int64_t	 m = 1;

			if ($1.unit[0] == '\0')
				m = 1;
			else if (strcmp($1.unit, "K") == 0 ||
			    strcmp($1.unit, "k") == 0)
				m = 1024;
			else if (strcmp($1.unit, "M") == 0)
				m = 1024 * 1024;
			else if (strcmp($1.unit, "G") == 0)
				m = 1024 * 1024 * 1024;
			else {
				perr(&$<pos>1, "bad size suffix \"%s\" "
				    "(use K, M or G)", $1.unit);
				m = 0;
			}
			if ($1.n > INT64_MAX / (m ? m : 1)) {
				perr(&$<pos>1, "size %s too large", $1.raw);
				m = 0;
			}
			$$ = m ? $1.n * m : NUMERR;
		}
		| STRING {
			perr(&$<pos>1, "expected a size such as 512K or 25M, not \"%s\"", $1);
			free($1);
			$$ = NUMERR;
		}
		;

time		: NUMBER {
			int64_t	 m = 1;

			if ($1.unit[0] == '\0' || strcmp($1.unit, "s") == 0)
				m = 1;
			else if (strcmp($1.unit, "m") == 0)
				m = 60;
			else if (strcmp($1.unit, "h") == 0)
				m = 3600;
			else if (strcmp($1.unit, "d") == 0)
				m = 86400;
			else {
				perr(&$<pos>1, "bad time suffix \"%s\" "
				    "(use s, m, h or d)", $1.unit);
				m = 0;
			}
			if ($1.n > INT_MAX / (m ? m : 1)) {
				perr(&$<pos>1, "time %s too large", $1.raw);
				m = 0;
			}
			$$ = m ? $1.n * m : NUMERR;
		}
		| STRING {
			perr(&$<pos>1, "expected a duration such as 30s, 5m, 1h or 2d, not \"%s\"", $1);
			free($1);
			$$ = NUMERR;
		}
		;

mstime		: NUMBER {
			int64_t	 m = 1000;

			if (strcmp($1.unit, "ms") == 0)
				m = 1;
			else if ($1.unit[0] == '\0' || strcmp($1.unit, "s") == 0)
				m = 1000;
			else if (strcmp($1.unit, "m") == 0)
				m = 60000;
			else {
				perr(&$<pos>1, "bad time suffix \"%s\" "
				    "(use ms, s or m)", $1.unit);
				m = 0;
			}
			if ($1.n > INT_MAX / (m ? m : 1)) {
				perr(&$<pos>1, "time %s too large", $1.raw);
				m = 0;
			}
			$$ = m ? $1.n * m : NUMERR;
		}
		| STRING {
			perr(&$<pos>1, "expected a duration such as 500ms, 30s or 5m, not \"%s\"", $1);
			free($1);
			$$ = NUMERR;
		}
		;

main		: HOSTNAME STRING {
			if (parse_check_domain(&$<pos>2, $2, "hostname") == 0)
				parse_copystr(&$<pos>2, conf->hostname,
				    sizeof(conf->hostname), $2, "hostname");
			free($2);
		}
		| RESOLVER STRING resolverport resolverdnssec {
			struct sockaddr_storage	 ss;
			socklen_t		 sl;

			if (strcasecmp($2, "localhost") == 0 ||
			    config_addr($2, 53, &ss, &sl) == -1)
				perr(&$<pos>2, "resolver \"%s\" is not a "
				    "numeric IP address", $2);
			else
				parse_copystr(&$<pos>2, conf->resolver,
				    sizeof(conf->resolver), $2, "resolver");
			free($2);
		}
		| SPOOL STRING {
			if ($2[0] != '/')
				perr(&$<pos>2, "spool \"%s\" is not an absolute "
				    "path", $2);
			else
				parse_copystr(&$<pos>2, conf->spool,
				    sizeof(conf->spool), $2, "spool");
			free($2);
		}
		| CONTROL GROUP STRING {
			if (getgrnam($3) == NULL)
				perr(&$<pos>3, "control group \"%s\": no such "
				    "group", $3);
			else
				parse_copystr(&$<pos>3, conf->control_group,
				    sizeof(conf->control_group), $3,
				    "control group");
			free($3);
		}
		| CONTROL STRING {
			if ($2[0] != '/')
				perr(&$<pos>2, "control \"%s\" is not an "
				    "absolute path", $2);
			else if (strlen($2) >= 108)
				perr(&$<pos>2, "control socket path too long");
			else
				parse_copystr(&$<pos>2, conf->control,
				    sizeof(conf->control), $2, "control");
			free($2);
		}
		| CREDENTIALS STRING {
			parse_copystr(&$<pos>2, conf->credentials,
			    sizeof(conf->credentials), $2, "credentials");
			parse_at(&$<pos>2, conf->credentials_at,
			    sizeof(conf->credentials_at));
			free($2);
		}
		| CA STRING {
			parse_copystr(&$<pos>2, conf->cabundle,
			    sizeof(conf->cabundle), $2, "ca");
			parse_at(&$<pos>2, conf->cabundle_at,
			    sizeof(conf->cabundle_at));
			free($2);
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
				parse_copystr(&$<pos>2, p->name, sizeof(p->name), $2,
				    "pki name");
				parse_copystr(&$<pos>4, p->cert_file,
				    sizeof(p->cert_file), $4, "cert");
				parse_copystr(&$<pos>6, p->key_file,
				    sizeof(p->key_file), $6, "key");
				parse_at(&$<pos>4, p->cert_at, sizeof(p->cert_at));
				parse_at(&$<pos>6, p->key_at, sizeof(p->key_at));
				TAILQ_INSERT_TAIL(&conf->pkis, p, entry);
			}
			free($2);
			free($4);
			free($6);
		}
		| listenhead listenopts		{ listen_end(); }
		| LIMIT limit
		| routehead '{' routeopts '}'	{ route_end(); }
		| routehead '{' routeopts error '}' {
			yyerrok;	/* an error before '}' on its line */
			route_end();
		}
		| RELAY FROM AUTH		{ conf->relay_from_auth = 1; }
		| RELAY FROM STRING {
			struct netaddr	*n;

			if ((n = calloc(1, sizeof(*n))) == NULL)
				fatal("calloc");
			if (config_cidr($3, n) == -1) {
				perr(&$<pos>3, "bad network \"%s\" (want "
				    "ADDRESS/BITS with no host bits set)", $3);
				free(n);
			} else
				TAILQ_INSERT_TAIL(&conf->relay_from, n, entry);
			free($3);
		}
		| RELAY VIA STRING {
			parse_relay_via(conf, &$<pos>3, $3);
			free($3);
		}
		| RELAY VIA STRING AUTH STRING {
			parse_relay_via(conf, &$<pos>3, $3);
			parse_relay_auth(conf, &$<pos>5, $5);
			free($3);
			free($5);
		}
		| BOUNCE DOMAIN STRING {
			if (parse_check_domain(&$<pos>3, $3, "bounce domain") == 0)
				parse_copystr(&$<pos>3, conf->bounce_domain,
				    sizeof(conf->bounce_domain), $3,
				    "bounce domain");
			free($3);
		}
		| BOUNCE DSN STRING {
			if (strcmp($3, "yes") == 0)
				conf->bounce_dsn = 1;
			else if (strcmp($3, "no") == 0)
				conf->bounce_dsn = 0;
			else
				perr(&$<pos>3, "bounce dsn wants yes or no, "
				    "not \"%s\"", $3);
			free($3);
		}
		| QUEUE LIFETIME time {
			if (parse_check_time(&$<pos>3, $3, 60, 90 * 86400,
			    "queue lifetime") == 0)
				conf->queue_lifetime = $3;
		}
		| QUEUE RETRY time TO time {
			char	 t1[32], t2[32];

			if (parse_check_time(&$<pos>3, $3, 1, 86400,
			    "queue retry minimum") == 0 &&
			    parse_check_time(&$<pos>5, $5, 1, 7 * 86400,
			    "queue retry maximum") == 0) {
				if ($5 < $3)
					perr(&$<pos>5, "queue retry maximum %s "
					    "is below the minimum %s",
					    parse_fmt_time($5, t1, sizeof(t1)),
					    parse_fmt_time($3, t2, sizeof(t2)));
				conf->retry_min = $3;
				conf->retry_max = $5;
			}
		}
		| SPF REJECT FAIL		{ conf->spf_reject_fail = 1; }
		| ALLOW PRIVADDR		{ conf->allow_private = 1; }
		| POSTMASTER STRING {
			if (strchr($2, '@') == NULL ||
			    config_check_domain(strrchr($2, '@') + 1) == -1)
				perr(&$<pos>2, "postmaster \"%s\": want an "
				    "address (user@domain) that a route takes",
				    $2);
			else
				parse_copystr(&$<pos>2, conf->postmaster,
				    sizeof(conf->postmaster), $2, "postmaster");
			free($2);
		}
		| TLS CIPHERS STRING {
			parse_tls_ciphers(conf, &$<pos>3, $3);
			free($3);
		}
		| TLS POLICY STRING {
			int	 p;

			if ((p = parse_tls_policy(&$<pos>3, $3)) != -1)
				conf->tls_policy = p;
			free($3);
		}
		| TLS POLICY DOMAIN STRING STRING {
			parse_tls_policy_domain(conf, &$<pos>4, $4, &$<pos>5,
			    $5);
			free($4);
			free($5);
		}
		| TESTING STRING {
			testing_set(&$<pos>1, &$<pos>2, $2, 0, 0, 0);
			free($2);
		}
		| TESTING STRING number {
			testing_set(&$<pos>1, &$<pos>2, $2, 1, $3, 0);
			free($2);
		}
		| TESTING STRING number number {
			testing_set(&$<pos>1, &$<pos>2, $2, 2, $3, $4);
			free($2);
		}
		| DKIM DOMAIN STRING SELECTOR STRING KEY STRING {
			struct dkim	*d;

			if ((d = calloc(1, sizeof(*d))) == NULL)
				fatal("calloc");
			parse_at(&$<pos>7, d->key_at, sizeof(d->key_at));
			if (parse_check_domain(&$<pos>3, $3, "dkim domain") == 0 &&
			    parse_copystr(&$<pos>3, d->domain, sizeof(d->domain), $3,
			    "dkim domain") == 0 &&
			    parse_copystr(&$<pos>5, d->selector, sizeof(d->selector),
			    $5, "dkim selector") == 0 &&
			    parse_copystr(&$<pos>7, d->key_file, sizeof(d->key_file),
			    $7, "dkim key") == 0)
				TAILQ_INSERT_TAIL(&conf->dkims, d, entry);
			else
				free(d);
			free($3);
			free($5);
			free($7);
		}
		| eventshead '{' eventsopts '}'	{ events_end(); }
		| eventshead '{' eventsopts error '}' {
			yyerrok;
			events_end();
		}
		| trackhead '{' trackopts '}'	{ tracking_end(); }
		| trackhead '{' trackopts error '}' {
			yyerrok;
			tracking_end();
		}
		| CLUSTER '{' clusteropts '}'	{
			parse_cluster_end(conf, &$<pos>1);
		}
		;

trackhead	: TRACKING DOMAIN STRING {
			tracking_begin(&$<pos>1, &$<pos>3, $3);
			free($3);
		}
		;

trackopts	: /* empty */
		| trackopts trackopt
		| trackopts '\n'
		| trackopts error '\n'	{ yyerrok; }
		;

trackopt	: URL STRING {
			const char	*why = config_check_url($2);
			size_t		 n;

			url_seen = 1;
			if (why == NULL && strpbrk($2, "?#") != NULL)
				why = "has a query or fragment";
			if (why != NULL)
				perr(&$<pos>2, "tracking url \"%s\" %s", $2, why);
			else {
				while ((n = strlen($2)) > 0 && $2[n - 1] == '/')
					$2[n - 1] = '\0';
				parse_copystr(&$<pos>2, cur_track->url,
				    sizeof(cur_track->url), $2, "tracking url");
			}
			free($2);
		}
		| SECRET STRING {
			const char	*why;

			if ((why = config_check_tracking_secret($2)) != NULL)
				perr(&$<pos>2, "%s", why);
			else
				parse_copystr(&$<pos>2, cur_track->secret,
				    sizeof(cur_track->secret), $2, "secret");
			explicit_bzero($2, strlen($2));
			free($2);
		}
		| OPENS STRING {
			tracking_yesno(&$<pos>2, "opens", $2, &cur_track->opens);
			free($2);
		}
		| CLICKS STRING {
			tracking_yesno(&$<pos>2, "clicks", $2, &cur_track->clicks);
			free($2);
		}
		| READ time {
			if (parse_check_time(&$<pos>2, $2, 1, 3600, "read") == 0)
				cur_track->read = $2;
		}
		| UNSUBSCRIBE STRING {
			if (strcmp($2, "one-click") == 0)
				cur_track->unsubscribe = 1;
			else if (strcmp($2, "no") == 0)
				cur_track->unsubscribe = 0;
			else
				perr(&$<pos>2, "unsubscribe wants one-click or no, "
				    "not \"%s\"", $2);
			free($2);
		}
		;

resolverport	: /* empty */
		| PORT port		{ conf->resolver_port = $2; }
		;

resolverdnssec	: /* empty */
		| DNSSEC TRUSTANCHOR STRING {
			if ($3[0] != '/')
				perr(&$<pos>3, "trust-anchor \"%s\" is not an "
				    "absolute path", $3);
			else {
				parse_copystr(&$<pos>3, conf->dnssec_anchor,
				    sizeof(conf->dnssec_anchor), $3,
				    "trust-anchor");
				parse_at(&$<pos>3, conf->dnssec_anchor_at,
				    sizeof(conf->dnssec_anchor_at));
			}
			free($3);
		}
		| DNSSEC {
			perr(&$<pos>1, "expected trust-anchor \"FILE\" after "
			    "dnssec");
		}
		;

listenhead	: LISTEN ON STRING	{ listen_begin(&$<pos>1, &$<pos>3, $3); }
		;

listenopts	: /* empty */
		| listenopts listenopt
		;

listenopt	: PORT port		{ cur_listen->port = $2; }
		| TLS			{ cur_listen->flags |= LF_STARTTLS; }
		| TLSREQ		{ cur_listen->flags |= LF_STARTTLS |
					    LF_TLS_REQUIRE; }
		| SMTPS			{ cur_listen->flags |= LF_SMTPS; }
		| HTTP			{ cur_listen->flags |= LF_HTTP; }
		| AUTH			{ cur_listen->flags |= LF_AUTH; }
		| AUTHREQ		{ cur_listen->flags |= LF_AUTH |
					    LF_AUTH_REQUIRE; }
		| PKI STRING {
			cur_listen_pki = 1;
			if (config_pki(conf, $2) == NULL)
				perr(&$<pos>2, "unknown pki \"%s\"", $2);
			else
				parse_copystr(&$<pos>2, cur_listen->pki,
				    sizeof(cur_listen->pki), $2, "pki name");
			free($2);
		}
		| HOSTNAME STRING {
			if (parse_check_domain(&$<pos>2, $2, "hostname") == 0)
				parse_copystr(&$<pos>2, cur_listen->hostname,
				    sizeof(cur_listen->hostname), $2,
				    "hostname");
			free($2);
		}
		;

limit		: MESSAGESIZE size {
			if (parse_check_range(&$<pos>2, $2, 1024, INT_MAX,
			    "message-size") == 0)
				conf->max_message_size = $2;
		}
		| RECIPIENTS number {
			if (parse_check_range(&$<pos>2, $2, 1, 100000,
			    "recipients") == 0)
				conf->max_recipients = $2;
		}
		| SESSIONS number {
			if (parse_check_range(&$<pos>2, $2, 1, 65536, "sessions") == 0)
				conf->max_sessions = $2;
		}
		| SESSIONSPERIP number {
			if (parse_check_range(&$<pos>2, $2, 1, 65536,
			    "sessions-per-ip") == 0)
				conf->max_sessions_per_ip = $2;
		}
		| IDLETIMEOUT time {
			if (parse_check_time(&$<pos>2, $2, 1, 86400,
			    "idle-timeout") == 0)
				conf->smtp_timeout = $2;
		}
		| GREETDELAY mstime {
			if (parse_check_mstime(&$<pos>2, $2, 0, 60000,
			    "greeting-delay") == 0)
				conf->greeting_delay_ms = $2;
		}
		| SESSIONTIMEOUT time {
			if (parse_check_time(&$<pos>2, $2, 1, 86400,
			    "session-timeout") == 0)
				conf->session_timeout = $2;
		}
		| ERRORS number {
			if (parse_check_range(&$<pos>2, $2, 1, 1000,
			    "errors") == 0)
				conf->max_errors = $2;
		}
		| dlimithead dlimitopts		{ cur_dlimit = NULL; }
		| SENDERDOMAIN STRING RATE number PER STRING {
			struct sender_limit	*s;
			int			 u;

			if ((s = calloc(1, sizeof(*s))) == NULL)
				fatal("calloc");
			if (parse_check_domain(&$<pos>2, $2, "sender-domain") == 0 &&
			    parse_copystr(&$<pos>2, s->domain, sizeof(s->domain), $2,
			    "sender-domain") == 0 &&
			    parse_check_range(&$<pos>4, $4, 1, INT_MAX, "rate") == 0 &&
			    (u = parse_rate_unit(&$<pos>6, $6)) != -1) {
				s->rate = $4;
				s->per = u;
				TAILQ_INSERT_TAIL(&conf->sender_limits, s, entry);
			} else
				free(s);
			free($2);
			free($6);
		}
		;

dlimithead	: DOMAIN STRING {
			struct domain_limit	*d;
			char			 what[MH_NAME_MAX + 16], *s;

			if ((d = calloc(1, sizeof(*d))) == NULL)
				fatal("calloc");
			d->per = RATE_SECOND;
			cur_dlimit = d;
			if (parse_check_domain(&$<pos>2, $2, "limit domain") == 0)
				parse_copystr(&$<pos>2, d->domain, sizeof(d->domain),
				    $2, "limit domain");
			for (s = $2; *s != '\0'; s++)
				*s = tolower((unsigned char)*s);
			snprintf(what, sizeof(what), "limit domain \"%s\"", $2);
			parse_def(&$<pos>2, "limit domain", $2, what);
			TAILQ_INSERT_TAIL(&conf->domain_limits, cur_dlimit,
			    entry);
			free($2);
		}
		;

dlimitopts	: /* empty */
		| dlimitopts dlimitopt
		;

dlimitopt	: RATE number PER STRING {
			int	 u;

			if (parse_check_range(&$<pos>2, $2, 1, INT_MAX, "rate") == 0 &&
			    (u = parse_rate_unit(&$<pos>4, $4)) != -1) {
				cur_dlimit->rate = $2;
				cur_dlimit->per = u;
			}
			free($4);
		}
		| CONNECTIONS number {
			if (parse_check_range(&$<pos>2, $2, 1, 1000,
			    "connections") == 0)
				cur_dlimit->connections = $2;
		}
		| TLSREQ		{ cur_dlimit->tls_require = 1; }
		| TLS REQUIRE		{ cur_dlimit->tls_require = 1; }
		| TLS STRING {
			if (strcmp($2, "verify") == 0)
				cur_dlimit->tls_verify = 1;
			else
				perr(&$<pos>2, "tls wants require or verify, "
				    "not \"%s\"", $2);
			free($2);
		}
		;

routehead	: ROUTE STRING		{ route_begin(&$<pos>1, ROUTE_ADDRESS,
					    $2); }
		| ROUTE DOMAIN STRING	{ route_begin(&$<pos>1, ROUTE_DOMAIN,
					    $3); }
		| ROUTE ANY		{ route_begin(&$<pos>1, ROUTE_ANY,
					    NULL); }
		;

routeopts	: /* empty */
		| routeopts routeopt
		| routeopts '\n'
		| routeopts error '\n'	{ yyerrok; }
		;

routeopt	: URL STRING {
			url_seen = 1;
			if (parse_check_url(&$<pos>2, $2, "url") == 0)
				parse_copystr(&$<pos>2, cur_route->url,
				    sizeof(cur_route->url), $2, "url");
			free($2);
		}
		| FORMAT STRING {
			if (strcmp($2, "json") == 0)
				cur_route->format = FORMAT_JSON;
			else if (strcmp($2, "multipart") == 0)
				cur_route->format = FORMAT_MULTIPART;
			else if (strcmp($2, "raw") == 0)
				cur_route->format = FORMAT_RAW;
			else
				perr(&$<pos>2, "unknown format \"%s\" (json, "
				    "multipart or raw)", $2);
			free($2);
		}
		| MODE QUEUE		{ cur_route->mode = MODE_QUEUE; }
		| MODE STRING {
			if (strcmp($2, "sync") == 0)
				cur_route->mode = MODE_SYNC;
			else if (strcmp($2, "queue") == 0)
				cur_route->mode = MODE_QUEUE;
			else
				perr(&$<pos>2, "unknown mode \"%s\" (sync or "
				    "queue)", $2);
			free($2);
		}
		| AUTHORIZE STRING authzopts %prec LOWEST {
			if (parse_check_url(&$<pos>2, $2, "authorize") == 0)
				parse_copystr(&$<pos>2, cur_route->authorize,
				    sizeof(cur_route->authorize), $2,
				    "authorize");
			free($2);
		}
		| ERRORS STRING {
			if (parse_check_url(&$<pos>2, $2, "errors") == 0)
				parse_copystr(&$<pos>2, cur_route->errors,
				    sizeof(cur_route->errors), $2, "errors");
			free($2);
		}
		| HEADER STRING STRING {
			parse_header_add(&$<pos>2, &cur_route->headers, $2, $3);
		}
		| SECRET STRING {
			if (parse_check_secret(&$<pos>2, $2) == 0)
				parse_copystr(&$<pos>2, cur_route->secret,
				    sizeof(cur_route->secret), $2, "secret");
			free($2);
		}
		| TIMEOUT time {
			if (parse_check_time(&$<pos>2, $2, 1, 3600, "timeout") == 0)
				cur_route->timeout = $2;
		}
		| LIFETIME time {
			if (parse_check_time(&$<pos>2, $2, 60, 90 * 86400,
			    "lifetime") == 0)
				cur_route->lifetime = $2;
		}
		| CONCURRENCY number {
			if (parse_check_range(&$<pos>2, $2, 1, 1024,
			    "concurrency") == 0)
				cur_route->concurrency = $2;
		}
		| VERDICTS STRING {
			if (strcmp($2, "yes") == 0)
				cur_route->no_verdicts = 0;
			else if (strcmp($2, "no") == 0)
				cur_route->no_verdicts = 1;
			else
				perr(&$<pos>2, "verdicts wants yes or no, not "
				    "\"%s\"", $2);
			free($2);
		}
		| REQUIRE DKIM reqresult optquarantine {
			route_require(&$<pos>3, REQUIRE_DKIM, $3, $4);
			free($3);
		}
		| REQUIRE SPF reqresult optquarantine {
			perr(&$<pos>2, "unknown requirement \"spf\" (dkim or "
			    "dmarc; see spf reject fail)");
			free($3);
		}
		| REQUIRE STRING reqresult optquarantine {
			if (strcmp($2, "dmarc") != 0)
				perr(&$<pos>2, "unknown requirement \"%s\" "
				    "(dkim or dmarc)", $2);
			else
				route_require(&$<pos>3, REQUIRE_DMARC, $3, $4);
			free($2);
			free($3);
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
			if (strcmp($2, "form") == 0)
				cur_route->authorize_format = AUTHZ_FORM;
			else if (strcmp($2, "json") == 0)
				cur_route->authorize_format = AUTHZ_JSON;
			else if (strcmp($2, "xml") == 0)
				cur_route->authorize_format = AUTHZ_XML;
			else
				perr(&$<pos>2, "unknown authorize format \"%s\" "
				    "(form, json or xml)", $2);
			free($2);
		}
		| TIMEOUT time {
			if (parse_check_time(&$<pos>2, $2, 1, 300,
			    "authorize timeout") == 0)
				cur_route->authorize_timeout = $2;
		}
		;

eventshead	: EVENTS {
			struct events_block	*e;
			uint32_t		 n = 0;

			if ((e = calloc(1, sizeof(*e))) == NULL)
				fatal("calloc");
			TAILQ_FOREACH(cur_events, &conf->events, entry)
				n++;
			e->id = n;
			e->format = EVFMT_EVENTS;
			e->kinds = 0;
			TAILQ_INIT(&e->headers);
			e->timeout = 30;
			e->batch_max = 100;
			e->batch_wait = 1000;
			TAILQ_INSERT_TAIL(&conf->events, e, entry);
			cur_events = e;
			cur_events_pos = $<pos>1;
			url_seen = 0;
		}
		;

eventsopts	: /* empty */
		| eventsopts eventsopt
		| eventsopts '\n'
		| eventsopts error '\n'	{ yyerrok; }
		;

eventsopt	: URL STRING {
			url_seen = 1;
			if (parse_check_url(&$<pos>2, $2, "url") == 0)
				parse_copystr(&$<pos>2, cur_events->url,
				    sizeof(cur_events->url), $2, "url");
			free($2);
		}
		| FORMAT STRING {
			if (strcmp($2, "events") == 0)
				cur_events->format = EVFMT_EVENTS;
			else if (strcmp($2, "failures") == 0)
				cur_events->format = EVFMT_FAILURES;
			else if (strcmp($2, "callback") == 0)
				cur_events->format = EVFMT_CALLBACK;
			else
				perr(&$<pos>2, "unknown events format \"%s\" "
				    "(events, failures or callback)", $2);
			free($2);
		}
		| FORMAT EVENTS		{ cur_events->format = EVFMT_EVENTS; }
		| KINDS kindlist
		| SECRET STRING {
			if (parse_check_secret(&$<pos>2, $2) == 0)
				parse_copystr(&$<pos>2, cur_events->secret,
				    sizeof(cur_events->secret), $2, "secret");
			free($2);
		}
		| HEADER STRING STRING {
			parse_header_add(&$<pos>2, &cur_events->headers, $2, $3);
		}
		| TIMEOUT time {
			if (parse_check_time(&$<pos>2, $2, 1, 3600, "timeout") == 0)
				cur_events->timeout = $2;
		}
		| BATCH number {
			if (parse_check_range(&$<pos>2, $2, 1, 10000, "batch") == 0)
				cur_events->batch_max = $2;
		}
		| WAIT mstime {
			if (parse_check_mstime(&$<pos>2, $2, 0, 600000, "wait") == 0)
				cur_events->batch_wait = $2;
		}
		;

clusteropts	: /* empty */
		| clusteropts clusteropt
		| clusteropts '\n'
		| clusteropts error '\n'	{ yyerrok; }
		;

clusteropt	: REDIS STRING {
			parse_cluster_redis(conf, &$<pos>2, $2);
			free($2);
		}
		| NODE STRING {
			if (parse_check_domain(&$<pos>2, $2, "node") == 0)
				parse_copystr(&$<pos>2, conf->cluster.node,
				    sizeof(conf->cluster.node), $2, "node");
			free($2);
		}
		| AUTH STRING {
			parse_copystr(&$<pos>2, conf->cluster.auth_file,
			    sizeof(conf->cluster.auth_file), $2, "auth");
			parse_at(&$<pos>2, conf->cluster.auth_at,
			    sizeof(conf->cluster.auth_at));
			free($2);
		}
		;

kindlist	: kind
		| kindlist kind
		| kindlist ',' kind
		;

kind		: STRING {
			char	*s, *w, *p = $1;

			while ((w = strsep(&p, ",")) != NULL) {
				s = w;
				while (*s == ' ')
					s++;
				if (*s != '\0')
					kind_add(&$<pos>1, s);
			}
			free($1);
		}
		| BOUNCE		{ kind_add(&$<pos>1, "bounce"); }
		| READ			{ kind_add(&$<pos>1, "read"); }
		| UNSUBSCRIBE		{ kind_add(&$<pos>1, "unsubscribe"); }
		;

%%

struct keywords {
	const char	*name;
	int		 token;
	int		 toplevel;	/* starts a statement outside blocks */
};

static const struct keywords keywords[] = {
	{ "allow",		ALLOW,		1 },
	{ "any",		ANY,		0 },
	{ "auth",		AUTH,		0 },
	{ "auth-require",	AUTHREQ,	0 },
	{ "authorize",		AUTHORIZE,	0 },
	{ "batch",		BATCH,		0 },
	{ "bounce",		BOUNCE,		1 },
	{ "ca",			CA,		1 },
	{ "cert",		CERT,		0 },
	{ "ciphers",		CIPHERS,	0 },
	{ "clicks",		CLICKS,		0 },
	{ "cluster",		CLUSTER,	1 },
	{ "concurrency",	CONCURRENCY,	0 },
	{ "connections",	CONNECTIONS,	0 },
	{ "control",		CONTROL,	1 },
	{ "credentials",	CREDENTIALS,	1 },
	{ "dkim",		DKIM,		1 },
	{ "dnssec",		DNSSEC,		0 },
	{ "domain",		DOMAIN,		0 },
	{ "dsn",		DSN,		0 },
	{ "errors",		ERRORS,		0 },
	{ "events",		EVENTS,		1 },
	{ "fail",		FAIL,		0 },
	{ "format",		FORMAT,		0 },
	{ "from",		FROM,		0 },
	{ "greeting-delay",	GREETDELAY,	0 },
	{ "group",		GROUP,		0 },
	{ "header",		HEADER,		0 },
	{ "hostname",		HOSTNAME,	0 },
	{ "http",		HTTP,		0 },
	{ "idle-timeout",	IDLETIMEOUT,	0 },
	{ "include",		INCLUDE,	1 },
	{ "key",		KEY,		0 },
	{ "kinds",		KINDS,		0 },
	{ "lifetime",		LIFETIME,	0 },
	{ "limit",		LIMIT,		1 },
	{ "listen",		LISTEN,		1 },
	{ "message-size",	MESSAGESIZE,	0 },
	{ "mode",		MODE,		0 },
	{ "node",		NODE,		0 },
	{ "on",			ON,		0 },
	{ "opens",		OPENS,		0 },
	{ "per",		PER,		0 },
	{ "pki",		PKI,		1 },
	{ "policy",		POLICY,		0 },
	{ "port",		PORT,		0 },
	{ "postmaster",		POSTMASTER,	1 },
	{ "private-addresses",	PRIVADDR,	0 },
	{ "quarantine",		QUARANTINE,	0 },
	{ "queue",		QUEUE,		1 },
	{ "rate",		RATE,		0 },
	{ "read",		READ,		0 },
	{ "recipients",		RECIPIENTS,	0 },
	{ "redis",		REDIS,		0 },
	{ "reject",		REJECT,		0 },
	{ "relay",		RELAY,		1 },
	{ "require",		REQUIRE,	0 },
	{ "resolver",		RESOLVER,	1 },
	{ "retry",		RETRY,		0 },
	{ "route",		ROUTE,		1 },
	{ "secret",		SECRET,		0 },
	{ "selector",		SELECTOR,	0 },
	{ "sender-domain",	SENDERDOMAIN,	0 },
	{ "session-timeout",	SESSIONTIMEOUT,	0 },
	{ "sessions",		SESSIONS,	0 },
	{ "sessions-per-ip",	SESSIONSPERIP,	0 },
	{ "smtps",		SMTPS,		0 },
	{ "spf",		SPF,		1 },
	{ "spool",		SPOOL,		1 },
	{ "testing",		TESTING,	1 },
	{ "timeout",		TIMEOUT,	0 },
	{ "tls",		TLS,		1 },
	{ "tls-require",	TLSREQ,		0 },
	{ "to",			TO,		0 },
	{ "tracking",		TRACKING,	1 },
	{ "trust-anchor",	TRUSTANCHOR,	0 },
	{ "unsubscribe",	UNSUBSCRIBE,	0 },
	{ "url",		URL,		0 },
	{ "verdicts",		VERDICTS,	0 },
	{ "via",		VIA,		0 },
	{ "wait",		WAIT,		0 }
};

static int
kw_cmp(const void *k, const void *e)
{
	return (strcmp(k, ((const struct keywords *)e)->name));
}

/* the token of a keyword, or STRING; *top says if it starts a statement */
static int
lookup(const char *s, int *top)
{
	const struct keywords	*p;

	p = bsearch(s, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), kw_cmp);
	if (top != NULL)
		*top = p != NULL ? p->toplevel : 0;
	return (p != NULL ? p->token : STRING);
}

static void
vperr(const struct pos *p, const char *fmt, va_list ap)
{
	char	 msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (p == NULL || p->file == NULL)
		p = &lastpos;
	log_warnx("%s:%d:%d: %s", p->file ? p->file : "?", p->line, p->col,
	    msg);
	errors++;
	if (stmt_tok == URL)
		url_seen = 1;	/* wrong, already said, not missing */
}

void
parse_error(const struct pos *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vperr(p, fmt, ap);
	va_end(ap);
}

/* a lexer error: report it and keep the parser quiet for this line */
static void
lexerr(const struct pos *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vperr(p, fmt, ap);
	va_end(ap);
	suppress = 1;
}

#define AN(w)	(strchr("aeiou", (w)[0]) != NULL ? "an" : "a")

/* the block being parsed, for messages; NULL outside blocks */
static const char *
cur_block(void)
{
	return (cur_route != NULL ? "route" : cur_events != NULL ? "events" :
	    cur_track != NULL ? "tracking" : NULL);
}

/* an unknown word: the nearest keyword, else what the block takes */
static void
unknown_word(const struct pos *p, const char *w)
{
	static const char	*names[sizeof(keywords) / sizeof(keywords[0])];
	const char		*block = cur_block(), *near = NULL;
	char			 opts[256];
	size_t			 i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		names[i] = keywords[i].name;
	if (block != NULL)
		near = parse_nearest_option(w, block);
	if (near == NULL)
		near = parse_nearest(w, names, i);
	if (near != NULL && strcmp(near, "url") == 0)
		url_seen = 1;	/* a misspelt url line: not missing too */
	if (near != NULL)
		perr(p, "unknown keyword \"%s\" (did you mean \"%s\"?)", w,
		    near);
	else if (block != NULL)
		perr(p, "unknown keyword \"%s\" in %s %s block (expected %s)",
		    w, AN(block), block,
		    parse_block_options(block, opts, sizeof(opts)));
	else
		perr(p, "unknown keyword \"%s\"", w);
}

/* a keyword that this block does not take, and where it belongs */
static void
misplaced_word(const struct pos *p, const char *w, const char *block)
{
	const char	*other = parse_block_of(w, block);
	char		 opts[256];

	parse_block_options(block, opts, sizeof(opts));
	if (other != NULL)
		perr(p, "\"%s\" is not valid in %s %s block (expected %s); it "
		    "belongs in %s %s block", w, AN(block), block, opts,
		    AN(other), other);
	else
		perr(p, "\"%s\" is not valid in %s %s block (expected %s)", w,
		    AN(block), block, opts);
}

void
yyerror(const char *msg)
{
	const char	*block = cur_block(), *usage;
	int		 top = 0;

	if (suppress)
		return;
	if (lasttok == 0) {
		if (nbraces > 0)
			perr(&braces[nbraces - 1], "missing '}'");
		else
			perr(&lastpos, "unexpected end of file");
	} else if (lasttok == '\n' && stmt_tok != STRING &&
	    (usage = parse_usage(block, stmt_text, stmt_text2)) != NULL)
		perr(&lastpos, "incomplete statement at end of line: expected "
		    "%s", usage);
	else if (lasttok == '\n')
		perr(&lastpos, "%s: statement incomplete at end of line", msg);
	else if (lasttok == STRING && !lastquoted &&
	    lookup(lasttext, NULL) == STRING)
		unknown_word(&lastpos, lasttext);
	else if (nbraces > 0 && lookup(lasttext, &top) != STRING && top &&
	    !lastquoted && lasttok != HOSTNAME) {
		perr(&braces[nbraces - 1], "missing '}' before \"%s\" "
		    "at line %d", lasttext, lastpos.line);
		nbraces = 0;
	} else if (block != NULL && lastbol &&
	    !lastquoted && lookup(lasttext, NULL) != STRING &&
	    !parse_block_has(block, lasttext))
		misplaced_word(&lastpos, lasttext, block);
	else
		perr(&lastpos, "%s near \"%s\"", msg, lasttext);
}

/* one character with its position; pushback first, then the file */
static int
lgetc(struct pos *p)
{
	int	 c;

	if (npushback > 0) {
		npushback--;
		*p = pushback[npushback].pos;
		return (pushback[npushback].c);
	}
	for (;;) {
		p->file = file->name;
		p->line = file->line;
		p->col = file->col;
		c = getc(file->stream);
		if (c == '\\') {
			/* a backslash before a newline joins lines */
			c = getc(file->stream);
			if (c == '\n') {
				file->line++;
				file->col = 1;
				continue;
			}
			if (c != EOF)
				ungetc(c, file->stream);
			c = '\\';
		}
		break;
	}
	if (c == '\n') {
		file->line++;
		file->col = 1;
	} else if (c != EOF)
		file->col++;
	return (c);
}

static int
lungetc(int c, const struct pos *p)
{
	if (c == EOF)
		return (EOF);
	if (npushback >= MAXPUSHBACK)
		return (EOF);
	pushback[npushback].c = c;
	pushback[npushback].pos = *p;
	npushback++;
	return (c);
}

/* skip to the end of the line; the newline stays for the parser */
static void
findeol(void)
{
	struct pos	 p;
	int		 c;

	while ((c = lgetc(&p)) != EOF) {
		if (c == '\n') {
			lungetc(c, &p);
			break;
		}
	}
}

/* past the '}' that closes a block whose statement was in error */
static void
skipblock(void)
{
	struct pos	 p;
	int		 c, q, depth = 1;

	while (depth > 0 && (c = lgetc(&p)) != EOF) {
		if (c == '{')
			depth++;
		else if (c == '}')
			depth--;
		else if (c == '"' || c == '\'') {
			q = c;
			while ((c = lgetc(&p)) != EOF && c != q && c != '\n')
				;
		} else if (c == '#')
			while ((c = lgetc(&p)) != EOF && c != '\n')
				;
	}
}

static int
wordchar(int c)
{
	if (c == EOF || c < 0x21 || c > 0x7e)
		return (0);
	if (isalnum(c))
		return (1);
	return (strchr("{}\"'#=,$()<>!;", c) == NULL);
}

/* "25", "25M", "30s", "500ms" -> NUMBER; 0 if not a number */
static int
lexnumber(const char *w, struct numval *nv, const struct pos *p)
{
	const char	*s = w;
	int64_t		 n = 0;

	if (!isdigit((unsigned char)*s))
		return (0);
	while (isdigit((unsigned char)*s)) {
		if (n > (INT64_MAX - 9) / 10) {
			lexerr(p, "number %.20s... too large", w);
			n = 0;
			break;
		}
		n = n * 10 + (*s - '0');
		s++;
	}
	while (isdigit((unsigned char)*s))
		s++;
	if (strlen(s) > 2 || (strlen(s) == 2 && strcmp(s, "ms") != 0))
		return (0);
	if (*s != '\0' && !isalpha((unsigned char)*s))
		return (0);
	nv->n = n;
	strlcpy(nv->unit, s, sizeof(nv->unit));
	strlcpy(nv->raw, w, sizeof(nv->raw));
	return (1);
}

/* expand $name: push the value back so that it is lexed again */
static int
expand(const struct pos *start)
{
	char		 name[128];
	const char	*val;
	struct pos	 p;
	size_t		 i = 0, len;
	int		 c;

	while ((c = lgetc(&p)) != EOF && (isalnum(c) || c == '_')) {
		if (i + 1 >= sizeof(name)) {
			lexerr(start, "macro name too long");
			findeol();
			return (-1);
		}
		name[i++] = c;
	}
	name[i] = '\0';
	lungetc(c, &p);
	if (i == 0) {
		lexerr(start, "'$' without a macro name");
		return (-1);
	}
	if ((val = parse_macro_get(name)) == NULL) {
		lexerr(start, "macro \"%s\" is not defined (define it before "
		    "its first use: %s = \"...\")", name, name);
		return (-1);
	}
	len = strlen(val);
	if (npushback + len + 1 >= MAXPUSHBACK) {
		lexerr(start, "macro \"%s\": expansion too deep", name);
		findeol();
		return (-1);
	}
	/* a separator after the value, then the value itself, backwards */
	lungetc(' ', start);
	while (len > 0)
		lungetc((unsigned char)val[--len], start);
	return (0);
}

static int
lexquoted(int quote, const struct pos *start)
{
	char		 buf[MAXWORD];
	struct pos	 p;
	size_t		 i = 0;
	int		 c, next;

	for (;;) {
		c = lgetc(&p);
		if (c == EOF || c == '\n') {
			lexerr(start, "unterminated string");
			lungetc(c, &p);
			break;
		}
		if (c == quote)
			break;
		if (c == '\\') {
			next = lgetc(&p);
			if (next == quote || next == '\\')
				c = next;
			else
				lungetc(next, &p);
		}
		if (c < 0x20 || c == 0x7f) {
			lexerr(&p, "control character in string");
			continue;
		}
		if (i + 1 >= sizeof(buf)) {
			lexerr(start, "string too long");
			findeol();
			break;
		}
		buf[i++] = c;
	}
	buf[i] = '\0';
	if (!parse_utf8_valid(buf)) {
		lexerr(start, "string is not valid UTF-8");
		for (i = 0; buf[i] != '\0'; i++)
			if ((unsigned char)buf[i] >= 0x80)
				buf[i] = '?';
	}
	if ((yylval.v.string = strdup(buf)) == NULL)
		fatal("strdup");
	strlcpy(lasttext, buf, sizeof(lasttext));
	lastquoted = 1;
	return (STRING);
}

/* a bare word at the start of a statement must be a keyword or a macro */
static int
statement_word(const char *w, const struct pos *start)
{
	struct pos	 p[64];
	int		 c[64], n = 0, isvar;

	do {
		c[n] = lgetc(&p[n]);
	} while ((c[n] == ' ' || c[n] == '\t') && ++n < 63);
	isvar = c[n] == '=';
	for (; n >= 0; n--)
		lungetc(c[n], &p[n]);
	if (isvar)
		return (STRING);
	if (!suppress)		/* once a line: not again after its '{' */
		unknown_word(start, w);
	suppress = 1;
	return (ERRTOK);
}

static int
lex(void)
{
	char		 buf[MAXWORD];
	struct pos	 p, start;
	size_t		 i;
	int		 c, tok, top, bol;

 again:
	if (pending != NULL && (lasttok == '\n' || lasttok == 0)) {
		TAILQ_INSERT_TAIL(&files, pending, entry);
		pending->depth = nbraces;
		file = pending;
		pending = NULL;
		file->bol = 1;
	}
	bol = lastbol = file->bol;
	while ((c = lgetc(&start)) == ' ' || c == '\t' || c == '\r')
		;
	yylval.pos = start;
	lastpos = start;
	lastquoted = 0;
	if (c == '#') {
		while ((c = lgetc(&start)) != '\n' && c != EOF)
			;
		yylval.pos = lastpos = start;
	}
	if (c == '$') {
		if (expand(&start) == -1)
			return (ERRTOK);
		goto again;
	}
	if (c == EOF) {
		if (nbraces > file->depth) {
			lexerr(&braces[nbraces - 1], "missing '}'");
			nbraces = file->depth;
		}
		if (!bol) {
			/* a last line without newline still ends */
			file->bol = 1;
			strlcpy(lasttext, "end of line", sizeof(lasttext));
			return ('\n');
		}
		if (popfile() == EOF) {
			strlcpy(lasttext, "end of file", sizeof(lasttext));
			return (0);
		}
		goto again;
	}
	file->bol = 0;
	switch (c) {
	case '\n':
		file->bol = 1;
		strlcpy(lasttext, "end of line", sizeof(lasttext));
		return ('\n');
	case '{':
		if (suppress) {		/* its statement was in error */
			skipblock();
			goto again;
		}
		if (nbraces >= MAXBRACES) {
			lexerr(&start, "blocks nested too deep");
			return (ERRTOK);
		}
		braces[nbraces++] = start;
		file->bol = 1;
		strlcpy(lasttext, "{", sizeof(lasttext));
		return (c);
	case '}':
		if (nbraces > file->depth)
			nbraces--;
		file->bol = 1;
		strlcpy(lasttext, "}", sizeof(lasttext));
		return (c);
	case '"':
	case '\'':
		return (lexquoted(c, &start));
	case '=':
	case ',':
		lasttext[0] = c;
		lasttext[1] = '\0';
		return (c);
	}
	if (!wordchar(c)) {
		lexerr(&start, "unexpected character 0x%02x", c & 0xff);
		findeol();
		return (ERRTOK);
	}
	i = 0;
	do {
		if (i + 1 >= sizeof(buf)) {
			lexerr(&start, "word too long");
			findeol();
			return (ERRTOK);
		}
		buf[i++] = c;
	} while (wordchar(c = lgetc(&p)));
	lungetc(c, &p);
	buf[i] = '\0';
	strlcpy(lasttext, buf, sizeof(lasttext));
	if (lexnumber(buf, &yylval.v.num, &start))
		return (NUMBER);
	if ((tok = lookup(buf, &top)) != STRING)
		return (tok);
	if (bol && (tok = statement_word(buf, &start)) != STRING)
		return (tok);
	if ((yylval.v.string = strdup(buf)) == NULL)
		fatal("strdup");
	return (STRING);
}

int
yylex(void)
{
	int	 tok;

	if (lasttok == '\n')
		suppress = 0;
	tok = lex();
	lasttok = tok;
	if (lastbol) {
		stmt_tok = tok;
		stmt_ntok = 0;
		strlcpy(stmt_text, lasttext, sizeof(stmt_text));
		stmt_text2[0] = '\0';
	} else if (++stmt_ntok == 1)
		strlcpy(stmt_text2, lasttext, sizeof(stmt_text2));
	return (tok);
}

static struct file *
pushfile(const char *name, const struct pos *where)
{
	struct file	*nf;
	struct file	*f;
	char		*dir, *copy, path[PATH_MAX];
	int		 depth = 0;

	if (name[0] != '/' && file != NULL) {
		if ((copy = strdup(file->name)) == NULL)
			fatal("strdup");
		dir = dirname(copy);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    sizeof(path)) {
			free(copy);
			perr(where, "include path too long");
			return (NULL);
		}
		free(copy);
	} else if (strlcpy(path, name, sizeof(path)) >= sizeof(path)) {
		perr(where, "include path too long");
		return (NULL);
	}
	TAILQ_FOREACH(f, &files, entry) {
		depth++;
		if (strcmp(f->name, path) == 0) {
			perr(where, "include loop: \"%s\"", path);
			return (NULL);
		}
	}
	if (depth >= MAXINCLUDE) {
		perr(where, "includes nested too deep");
		return (NULL);
	}
	if ((nf = calloc(1, sizeof(*nf))) == NULL ||
	    (nf->name = strdup(path)) == NULL)
		fatal("calloc");
	if ((nf->stream = fopen(path, "r")) == NULL) {
		if (where != NULL)
			perr(where, "cannot open \"%s\": %s", path,
			    strerror(errno));
		else
			log_warn("%s", path);
		free(nf->name);
		free(nf);
		return (NULL);
	}
	nf->line = 1;
	nf->col = 1;
	nf->bol = 1;
	return (nf);
}

/* back to the including file; EOF when the top file ended */
static int
popfile(void)
{
	struct file	*prev;

	if ((prev = TAILQ_PREV(file, filelist, entry)) == NULL)
		return (EOF);
	TAILQ_REMOVE(&files, file, entry);
	fclose(file->stream);
	file->stream = NULL;
	/* keep the name alive: positions of earlier tokens point at it */
	TAILQ_INSERT_TAIL(&oldfiles, file, entry);
	file = prev;
	return (0);
}

static void
route_begin(const struct pos *p, int match, char *pattern)
{
	struct route	*r, *o;
	uint32_t	 n = 0;
	char		*s;
	const char	*what;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->match = match;
	TAILQ_INIT(&r->headers);
	r->format = FORMAT_JSON;
	r->mode = MODE_SYNC;
	r->authorize_format = AUTHZ_FORM;
	r->authorize_timeout = 10;
	r->timeout = 30;
	r->lifetime = 3 * 86400;
	r->concurrency = 8;
	cur_route = r;
	cur_route_pos = *p;
	url_seen = 0;
	TAILQ_FOREACH(o, &conf->routes, entry)
		n++;
	r->id = n;
	TAILQ_INSERT_TAIL(&conf->routes, r, entry);
	if (pattern == NULL)
		return;
	for (s = pattern; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
	what = match == ROUTE_ADDRESS ? "route address" : "route domain";
	if (match == ROUTE_ADDRESS) {
		if ((s = strrchr(pattern, '@')) == NULL || s == pattern) {
			perr(p, "route \"%s\" is not an address (use route "
			    "domain)", pattern);
			goto done;
		}
		if (parse_check_domain(p, s + 1, what) == -1)
			goto done;
	} else if (strncmp(pattern, "*.", 2) == 0) {
		r->match = ROUTE_SUBDOMAINS;
		memmove(pattern, pattern + 2, strlen(pattern + 2) + 1);
		if (parse_check_domain(p, pattern, what) == -1)
			goto done;
	} else if (parse_check_domain(p, pattern, what) == -1)
		goto done;
	parse_copystr(p, r->pattern, sizeof(r->pattern), pattern, what);
 done:
	free(pattern);
}

static void
route_end(void)
{
	char		 what[MH_NAME_MAX + 32], key[MH_NAME_MAX + 16];

	if (cur_route->url[0] == '\0' && !url_seen)
		perr(&cur_route_pos, "route without url");
	if (cur_route->match == ROUTE_ANY)
		parse_def(&cur_route_pos, "route", "any", "route any");
	else {
		snprintf(what, sizeof(what), "route \"%s%s\"",
		    cur_route->match == ROUTE_SUBDOMAINS ? "*." : "",
		    cur_route->pattern);
		snprintf(key, sizeof(key), "%d %s", cur_route->match,
		    cur_route->pattern);
		parse_def(&cur_route_pos, "route", key, what);
	}
	cur_route = NULL;
}

/* require dkim|dmarc pass [quarantine]: only "pass" can be required */
static void
route_require(const struct pos *p, int what, const char *result,
    int quarantine)
{
	if (strcmp(result, "pass") != 0) {
		perr(p, "unknown result \"%s\" (pass)", result);
		return;
	}
	cur_route->require |= what;
	if (quarantine)
		cur_route->require_quarantine = 1;
}

static void
listen_begin(const struct pos *p, const struct pos *ap, char *addr)
{
	struct listener	*l, *o;
	uint32_t	 n = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->fd = -1;
	l->port = 25;
	TAILQ_FOREACH(o, &conf->listeners, entry)
		n++;
	l->id = n;
	cur_listen = l;
	cur_listen_pos = *p;
	cur_listen_pki = 0;
	if (config_addr(addr, 25, &l->ss, &l->sslen) == -1)
		perr(ap, "listen on \"%s\": not an IP address or "
		    "localhost", addr);
	parse_copystr(ap, l->addr, sizeof(l->addr), addr, "address");
	free(addr);
	TAILQ_INSERT_TAIL(&conf->listeners, l, entry);
}

static void
listen_end(void)
{
	struct listener	*l = cur_listen;
	const struct pos *p = &cur_listen_pos;
	char		 what[MH_NAME_MAX + 32], key[MH_NAME_MAX + 16];
	int		 tls = l->flags & (LF_STARTTLS | LF_SMTPS);

	if ((l->flags & LF_SMTPS) && (l->flags & LF_STARTTLS))
		perr(p, "listener cannot be both smtps and tls");
	/* listen on ADDR port N http [tls pki NAME]: webd's, tls = https */
	if ((l->flags & LF_HTTP) && (l->flags & (LF_SMTPS | LF_TLS_REQUIRE |
	    LF_AUTH)))
		perr(p, "an http listener takes only port, tls and pki");
	if ((l->flags & LF_AUTH) && !tls)
		perr(p, "auth on a listener without tls");
	if (tls && l->pki[0] == '\0' && !cur_listen_pki)
		perr(p, "tls on a listener without pki");
	if ((l->flags & LF_AUTH) && tls && auth_pos.file == NULL)
		auth_pos = *p;
	if (config_addr(l->addr, l->port, &l->ss, &l->sslen) == -1)
		l->sslen = 0;
	snprintf(key, sizeof(key), "%s %d", l->addr, l->port);
	snprintf(what, sizeof(what), "listener %s port %d", l->addr, l->port);
	parse_def(p, "listener", key, what);
	cur_listen = NULL;
}

static void
events_end(void)
{
	if (cur_events->url[0] == '\0' && !url_seen)
		perr(&cur_events_pos, "events without url");
	if (cur_events->kinds == 0)
		cur_events->kinds = EV_ALL;
	cur_events = NULL;
}

static void
tracking_begin(const struct pos *p, const struct pos *dp, char *domain)
{
	struct tracking	*t;
	char		*s, what[MH_NAME_MAX + 32];

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("calloc");
	t->opens = t->clicks = t->unsubscribe = 1;
	t->read = 8;
	for (s = domain; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
	if (parse_check_domain(dp, domain, "tracking domain") == 0) {
		snprintf(what, sizeof(what), "tracking domain \"%s\"",
		    domain);
		parse_def(dp, "tracking", domain, what);
		parse_copystr(dp, t->domain, sizeof(t->domain), domain,
		    "tracking domain");
	}
	TAILQ_INSERT_TAIL(&conf->trackings, t, entry);
	cur_track = t;
	cur_track_pos = *p;
	url_seen = 0;
}

static void
tracking_end(void)
{
	if (cur_track->url[0] == '\0' && !url_seen)
		perr(&cur_track_pos, "tracking domain without url");
	cur_track = NULL;
}

static void
tracking_yesno(const struct pos *p, const char *what, const char *v, int *dst)
{
	if (strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "no") == 0)
		*dst = 0;
	else
		perr(p, "%s wants yes or no, not \"%s\"", what, v);
}

static int
kind_add(const struct pos *p, const char *name)
{
	int	 k;

	if (strcmp(name, "all") == 0) {
		cur_events->kinds = EV_ALL;
		return (0);
	}
	if ((k = event_kind_from_name(name)) == -1) {
		perr(p, "unknown event kind \"%s\"", name);
		return (-1);
	}
	cur_events->kinds |= 1U << k;
	return (0);
}

static void
parse_cleanup(void)
{
	struct file	*f;

	while ((f = TAILQ_FIRST(&files)) != NULL) {
		TAILQ_REMOVE(&files, f, entry);
		if (f->stream != NULL)
			fclose(f->stream);
		free(f->name);
		free(f);
	}
	while ((f = TAILQ_FIRST(&oldfiles)) != NULL) {
		TAILQ_REMOVE(&oldfiles, f, entry);
		free(f->name);
		free(f);
	}
	if (pending != NULL) {
		fclose(pending->stream);
		free(pending->name);
		free(pending);
		pending = NULL;
	}
	parse_macros_clear();
	parse_defs_clear();
	file = NULL;
}

void
config_allow_testing(int on)
{
	allow_testing = on;
}

/*
 * testing relay-port N | hook-retry SECONDS | events-retry MS [MAX_MS] |
 * seccomp-debug: only with mailhookd -X, never in production.
 */
static void
testing_set(const struct pos *kw, const struct pos *p, const char *what,
    int n, int64_t a, int64_t b)
{
	struct testing	*t = &conf->testing;

	if (!allow_testing) {
		perr(kw, "\"testing %s\" is only accepted by mailhookd -X",
		    what);
		return;
	}
	if (a == NUMERR || b == NUMERR)
		return;
	if (strcmp(what, "relay-port") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 65535, "testing relay-port") == 0)
			t->relay_port = a;
	} else if (strcmp(what, "hook-retry") == 0 && n == 1) {
		if (parse_check_range(p, a, 1, 86400, "testing hook-retry") == 0)
			t->hook_retry = a;
	} else if (strcmp(what, "events-retry") == 0 && n >= 1) {
		if (parse_check_range(p, a, 1, 86400000,
		    "testing events-retry") == 0 && (n == 1 ||
		    parse_check_range(p, b, a, 86400000,
		    "testing events-retry maximum") == 0)) {
			t->events_retry = a;
			t->events_retry_max = n == 2 ? b : 0;
		}
	} else if (strcmp(what, "seccomp-debug") == 0 && n == 0)
		t->seccomp_debug = 1;
	else
		perr(p, "expected testing relay-port PORT, hook-retry SECONDS, "
		    "events-retry MS [MAX_MS] or seccomp-debug, not \"%s\" "
		    "with %d number%s", what, n, n == 1 ? "" : "s");
}

struct config *
config_parse(const char *filename)
{
	struct config	*c;

	if ((conf = config_new()) == NULL)
		return (NULL);
	errors = 0;
	npushback = 0;
	nbraces = 0;
	lasttok = 0;
	suppress = 0;
	memset(&lastpos, 0, sizeof(lastpos));
	memset(&auth_pos, 0, sizeof(auth_pos));
	cur_route = NULL;
	cur_listen = NULL;
	cur_events = NULL;
	cur_dlimit = NULL;
	strlcpy(conf->file, filename, sizeof(conf->file));

	if ((file = pushfile(filename, NULL)) == NULL) {
		config_free(conf);
		conf = NULL;
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&files, file, entry);
	lastpos.file = file->name;
	if (yyparse() != 0 && errors == 0)
		perr(&lastpos, "syntax error");

	if (conf->credentials[0] == '\0' && auth_pos.file != NULL)
		perr(&auth_pos, "auth on a listener needs a credentials file");

	parse_cleanup();
	c = conf;
	conf = NULL;
	if (errors) {
		config_free(c);
		return (NULL);
	}
	return (c);
}


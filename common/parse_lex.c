/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The lexer of the configuration parser (parse.y) and its error
 * reporting: keywords, macros ($name), includes, quoted strings, numbers
 * with units, and where every token starts (FILE:LINE:COLUMN).  The
 * token numbers come from the grammar (byacc -H parse_tok.h).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "parse.h"
#include "parse_tok.h"

#define perr	parse_error

#define MAXPUSHBACK	8192
#define MAXINCLUDE	16
#define MAXBRACES	16
#define MAXWORD		8192
#define CONF_BUFSIZ	8192	/* a configuration file's stdio buffer */

struct ichar {
	int		 c;
	struct pos	 pos;
};

struct file {
	TAILQ_ENTRY(file)	 entry;
	FILE			*stream;
	char			*buf;		/* its stdio buffer, wiped
						   when it is closed */
	char			*name;
	int			 line;
	int			 col;
	int			 depth;		/* brace depth when it was
						   entered */
	int			 bol;		/* next token starts a
						   statement */
	int			 unclosed;	/* blocks it left open, to
						   close at its end */
	dev_t			 dev;		/* which file it is, */
	ino_t			 ino;		/* whatever its name */
	struct pos		 incl;		/* its include (file NULL:
						   the top file) */
};
TAILQ_HEAD(filelist, file);

static struct filelist	 files = TAILQ_HEAD_INITIALIZER(files);
static struct filelist	 oldfiles = TAILQ_HEAD_INITIALIZER(oldfiles);
static struct file	*file;
static struct file	*pending;	/* include, entered after the newline */
static int		 errors;

static struct ichar	 pushback[MAXPUSHBACK];
static int		 npushback;
/*
 * The text of the last quoted string and word read: static, not on the
 * stack, so that the end of the parse wipes them (a secret maybe)
 */
static char		 quotedbuf[MAXWORD];
static char		 wordbuf[MAXWORD];
static struct pos	 braces[MAXBRACES];
static int		 nbraces;

/* the last token handed to the parser, for syntax errors */
static int		 lasttok;
static char		 lasttext[64];
static int		 lastquoted;
static struct pos	 lastpos;
static int		 lastbol;	/* it started a statement */
static int		 prevtok;	/* the token before it, */
static struct pos	 prevpos;	/* and where it was */
static int		 brace_lost;	/* a block ran into the next one */
static int		 stray_brace;	/* the last '}' closed no block */
static int		 suppress;	/* the lexer reported;
					   quiet until '\n' */
static int		 nojoin;	/* in a comment: a backslash
					   joins no line */
static int		 stopped;	/* too many errors: the rest
					   is not read */

static int		 stmt_tok;	/* the token a statement began with */
static char		 stmt_text[64];	/* and its text, */
static char		 stmt_text2[64];	/* the second token's */
static int		 stmt_ntok;	/* tokens after the first */
static int		 secrecy;	/* mailhookd: file_secrecy() */
static struct pos	 stmt_pos;	/* where the first one is */
static int		 stmt_errors;	/* errors said before it */
/*
 * The option a block's line began last ("url "x" kinds": kinds), its
 * second token, and its tokens after the first: whose usage an
 * incomplete line or a value too many is told
 */
static int		 opt_tok;
static char		 opt_text[64];
static char		 opt_text2[64];
static int		 opt_ntok;

static struct file	*pushfile(const char *, const struct pos *);
static int		 popfile(void);
static int		 lungetc(int, const struct pos *);
static void		 skipblock(void);

struct keywords {
	const char	*name;
	int		 token;
	int		 toplevel;	/* starts a statement outside blocks */
};

static const struct keywords keywords[] = {
	{ "allow",		ALLOW,		1 },
	{ "any",		ANY,		0 },
	{ "api",		API,		1 },
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
	{ "fallback",		FALLBACK,	0 },
	{ "format",		FORMAT,		0 },
	{ "from",		FROM,		0 },
	{ "greeting-delay",	GREETDELAY,	0 },
	{ "group",		GROUP,		0 },
	{ "header",		HEADER,		0 },
	{ "history",		HISTORY,	1 },
	{ "hostname",		HOSTNAME,	0 },
	{ "http",		HTTP,		0 },
	{ "idle-timeout",	IDLETIMEOUT,	0 },
	{ "include",		INCLUDE,	1 },
	{ "junk-commands",	JUNK,		0 },
	{ "key",		KEY,		0 },
	{ "keys",		KEYS,		0 },
	{ "kinds",		KINDS,		0 },
	{ "lifetime",		LIFETIME,	0 },
	{ "limit",		LIMIT,		1 },
	{ "listen",		LISTEN,		1 },
	{ "message-size",	MESSAGESIZE,	0 },
	{ "metrics",		METRICS,	0 },
	{ "mime-depth",		MIMEDEPTH,	0 },
	{ "mime-header-size",	MIMEHEADERSIZE,	0 },
	{ "mime-headers",	MIMEHEADERS,	0 },
	{ "mime-parts",		MIMEPARTS,	0 },
	{ "min-data-rate",	MINDATARATE,	0 },
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
	{ "sessions-per-network", SESSIONSPERNET, 0 },
	{ "smtps",		SMTPS,		0 },
	{ "spf",		SPF,		1 },
	{ "spool",		SPOOL,		1 },
	{ "testing",		TESTING,	1 },
	{ "timeout",		TIMEOUT,	0 },
	{ "tls",		TLS,		1 },
	{ "tls-handshake-timeout", TLSHSTIMEOUT, 0 },
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

#define MSG_KEEP	510	/* bytes of each end of a long message */

static void
vperr(const struct pos *p, const char *fmt, va_list ap)
{
	char	 msg[1024], *all;
	va_list	 aq;
	int	 n;

	if (p == NULL || p->file == NULL)
		p = &lastpos;
	errors++;
	if (stopped)
		return;		/* counted, not said */
	if (errors > PARSE_ERRORS_MAX) {
		/* thousands of bad lines are not thousands of messages */
		log_warnx("%s: too many errors, stopping",
		    !TAILQ_EMPTY(&files) ? TAILQ_FIRST(&files)->name :
		    p->file ? p->file : "?");
		stopped = 1;
		return;
	}
	va_copy(aq, ap);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	/*
	 * A message about a value of thousands of bytes: its start and its
	 * end, which says what is wrong with it, not cut short after 1 KB
	 */
	if (n >= (int)sizeof(msg) && vasprintf(&all, fmt, aq) != -1) {
		snprintf(msg, sizeof(msg), "%.*s...%s", MSG_KEEP, all,
		    all + n - MSG_KEEP);
		parse_strfree(all);
	}
	va_end(aq);
	log_warnx("%s:%d:%d: %s", p->file ? p->file : "?", p->line, p->col,
	    msg);
	if (stmt_tok == URL)
		parse_url_said();	/* wrong, already said, not missing */
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

/*
 * The block a word is in: none before its '{' ("route domain "x" y {"),
 * nor after a head in error whose block was never opened
 */
static const char *
inblock(void)
{
	return (nbraces > 0 ? parse_cur_block() : NULL);
}

/* an unknown word: the nearest keyword, else what the block takes */
static void
unknown_word(const struct pos *p, const char *w)
{
	static const char	*names[sizeof(keywords) / sizeof(keywords[0])];
	const char		*block = inblock(), *near = NULL;
	char			 opts[256];
	size_t			 i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		names[i] = keywords[i].name;
	if (block != NULL)
		near = parse_nearest_option(w, block);
	if (near == NULL)
		near = parse_nearest(w, names, i);
	if (near != NULL && strcmp(near, "url") == 0)
		/* a misspelt url line: not missing too */
		parse_url_said();
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

/*
 * A '{' where no block begins ("hostname x {"): said once, and its block
 * skipped to its '}' (or the end of the file), not read as statements and
 * said again, nor as a block left open.
 */
static void
brace_unwanted(const char *block, const char *msg)
{
	const char	*usage = NULL;

	if (stmt_tok != STRING && stmt_tok != '{')
		usage = parse_usage(block, stmt_text, stmt_text2);
	if (usage != NULL && strchr(usage, '{') == NULL)
		perr(&lastpos, "\"%s\" takes no block: expected %s",
		    stmt_text, usage);
	else
		perr(&lastpos, "%s near \"{\"", msg);
	skipblock();
	if (nbraces > 0)
		nbraces--;
	suppress = 1;
}

/*
 * A value where the statement took none ("hostname "a" "b""): its usage
 * in *usage, which says how many it takes
 */
static int
value_too_many(const char *block, const char **usage)
{
	if (!((lasttok == STRING && lastquoted) || lasttok == NUMBER) ||
	    (prevtok != STRING && prevtok != NUMBER) || opt_tok == STRING)
		return (0);
	return ((*usage = parse_usage(block, opt_text, opt_text2)) != NULL);
}

/*
 * Does the keyword just read begin another option of the block on the
 * line ("url "x" kinds")?  Not one the option's own usage names
 * ("authorize "x" format json").
 */
static int
opt_begins(void)
{
	const char	*block = inblock(), *usage;
	char		 w[sizeof(lasttext) + 2];

	if (lastbol)
		return (1);
	if (block == NULL || lasttok == STRING || lasttok == NUMBER ||
	    lastquoted || !parse_block_has(block, lasttext))
		return (0);
	if ((usage = parse_usage(block, opt_text, opt_text2)) == NULL)
		return (1);
	snprintf(w, sizeof(w), "[%s", lasttext);
	return (strstr(usage, w) == NULL);
}

void
yyerror(const char *msg)
{
	const char	*block = inblock(), *usage;
	char		 opts[128];
	int		 top = 0;

	if (suppress)
		return;
	if (lasttok == 0) {
		if (nbraces > 0)
			perr(&braces[nbraces - 1], "missing '}'");
		else if (!brace_lost)	/* else said: "missing '}' before" */
			perr(&lastpos, "unexpected end of file");
	} else if (lasttok == '}' && stray_brace)
		perr(&lastpos, "'}' without a block to close");
	else if (lasttok == '{')
		brace_unwanted(parse_cur_block(), msg);
	else if (prevtok == '}' && prevpos.line == lastpos.line &&
	    prevpos.file == lastpos.file)
		/* "route any { ... } route ...": not a bare syntax error */
		perr(&lastpos, "\"%s\" after '}' on the same line: one "
		    "statement per line, start it on a line of its own",
		    lasttext);
	else if (lasttok == '=' && stmt_ntok == 1 && stmt_tok != STRING)
		/* "hostname = ...": a macro by a keyword's name */
		perr(&stmt_pos, "\"%s\" is a keyword: no '=' after it (a "
		    "macro takes another name)", stmt_text);
	else if (lasttok == '\n' && opt_tok != STRING &&
	    (usage = parse_usage(block, opt_text, opt_text2)) != NULL)
		perr(&lastpos, "incomplete statement at end of line: expected "
		    "%s", usage);
	else if (lasttok == '\n')
		perr(&lastpos, "%s: statement incomplete at end of line", msg);
	else if (lasttok == STRING && stmt_ntok == 1 && block == NULL &&
	    (stmt_tok == CLUSTER || stmt_tok == EVENTS) &&
	    (usage = parse_usage("", stmt_text, "")) != NULL)
		/* "cluster "x" {": a name where the block has none */
		perr(&lastpos, "%s takes no name: expected %s", stmt_text,
		    usage);
	else if (lasttok == STRING && !lastquoted &&
	    lookup(lasttext, NULL) == STRING)
		unknown_word(&lastpos, lasttext);
	else if (lasttok == INCLUDE && nbraces > 0 && lastbol && block != NULL)
		/* not a missing '}': the block goes on after it */
		perr(&lastpos, "include is allowed only at the top level, not "
		    "inside %s %s block", AN(block), block);
	else if (nbraces > 0 && lookup(lasttext, &top) != STRING && top &&
	    !lastquoted && lasttok != HOSTNAME && lastbol) {
		perr(&braces[nbraces - 1], "missing '}' before \"%s\" "
		    "at line %d", lasttext, lastpos.line);
		nbraces = 0;
		brace_lost = 1;
		return;		/* its statement is read as it stands */
	} else if (block != NULL && lastbol &&
	    !lastquoted && lookup(lasttext, NULL) != STRING &&
	    !parse_block_has(block, lasttext))
		misplaced_word(&lastpos, lasttext, block);
	else if (block == NULL && lastbol && !lastquoted &&
	    lookup(lasttext, &top) != STRING && !top)
		/* "url" outside a block: which blocks take it */
		perr(&lastpos, "\"%s\" does not start a statement%s%s",
		    lasttext, *parse_blocks_of(lasttext, opts, sizeof(opts)) ?
		    ": it is an option of " : "", opts);
	else if (!lastbol && !lastquoted && lookup(lasttext, NULL) != STRING)
		/* "format queue", "pki api": not a missing '}' */
		perr(&lastpos, "%s near keyword \"%s\" (if it is a value "
		    "here, quote it)", msg, lasttext);
	else if (errors == stmt_errors && value_too_many(block, &usage))
		/* "hostname "a" "b"": not a bare syntax error */
		perr(&lastpos, "unexpected value \"%s\": expected %s",
		    lasttext, usage);
	else if (errors == stmt_errors)
		perr(&lastpos, "%s near \"%s\"", msg, lasttext);
	/* else its statement's fault is said ("route dommain "x" {" is
	 * not an address): not a bare syntax error after it too */
	/*
	 * said once: a block this line opens ("route dommain "x" {") is
	 * skipped, its options not read as statements, each said again
	 */
	suppress = 1;
}

/*
 * After a backslash and a CR: '\n' if a LF follows (a CRLF file's
 * continuation); else the CR and what follows are put back, to come after
 * the backslash at p, and EOF says there is nothing more to put back.
 */
static int
backslash_cr(const struct pos *p)
{
	struct pos	 cr;
	int		 c;

	if ((c = getc(file->stream)) == '\n')
		return (c);
	if (c != EOF)
		ungetc(c, file->stream);
	cr = *p;
	cr.col++;
	lungetc('\r', &cr);
	file->col++;		/* the CR's column */
	return (EOF);
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
		if (c == '\\' && !nojoin) {
			/* a backslash before a newline (or CRLF) joins lines */
			c = getc(file->stream);
			if (c == '\r')
				c = backslash_cr(p);
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
	} else if (c != EOF && (c & 0xc0) != 0x80)
		file->col++;	/* a character: not a UTF-8 continuation byte */
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

/*
 * The rest of a comment, to the end of its line: a backslash there ("#
 * C:\dir\") joins no line to it, or the statement on the next line was
 * read as part of the comment, and lost without a word.  As earlier
 * versions joined it (a statement commented out over two lines has its
 * second line read now), such a backslash is a warning.  The newline (or
 * EOF) is returned.
 */
static int
skipcomment(struct pos *p)
{
	struct pos	 bs = { NULL, 0, 0 };
	int		 c, last = 0;

	nojoin = 1;
	while ((c = lgetc(p)) != '\n' && c != EOF) {
		if (c == '\\')
			bs = *p;
		if (c != '\r')
			last = c;
	}
	nojoin = 0;
	if (c == '\n' && last == '\\' && bs.file != NULL && !suppress)
		logit(LOG_WARNING, "%s:%d:%d: warning: a backslash ending a "
		    "comment joins no line to it: the next line is read",
		    bs.file, bs.line, bs.col);
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
			c = skipcomment(&p);
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

/*
 * After a 0xef at the start of a file: 1 if a UTF-8 byte order mark (EF BB
 * BF) it is, read, the next character in column 1 as an editor shows it;
 * else 0 and what followed is put back.
 */
static int
bom(void)
{
	struct pos	 p2, p3;
	int		 c2, c3;

	c2 = lgetc(&p2);
	c3 = lgetc(&p3);
	if (c2 == 0xbb && c3 == 0xbf) {
		file->col = 1;
		return (1);
	}
	lungetc(c3, &p3);
	lungetc(c2, &p2);
	return (0);
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
		if (n > (INT64_MAX - (*s - '0')) / 10)
			n = INT64_MAX;	/* too large for any setting: its
					   range check says so, as written */
		else
			n = n * 10 + (*s - '0');
		s++;
	}
	if (strlen(s) > 2 || (strlen(s) == 2 && strcmp(s, "ms") != 0))
		return (0);
	if (*s != '\0' && !isalpha((unsigned char)*s))
		return (0);
	if (strlen(w) >= sizeof(nv->raw)) {
		/* not to be shown or used cut short */
		if (n == INT64_MAX)
			lexerr(p, "number %.20s... too large", w);
		else
			lexerr(p, "number %.20s... too long (at most %zu "
			    "characters)", w, sizeof(nv->raw) - 1);
		n = NUMERR;	/* said: no range error too */
	}
	nv->n = n;
	strlcpy(nv->unit, s, sizeof(nv->unit));
	strlcpy(nv->raw, w, sizeof(nv->raw));
	return (1);
}

/*
 * After a number without a unit: 1 if a unit follows it apart ("25 M",
 * "1 h"), said at the unit and the line skipped (it was read as 25 bytes,
 * "too small", then "unknown keyword "M""); else 0, all put back.
 */
static int
unit_apart(const char *num)
{
	static const char *const units[] = { "K", "M", "G", "k", "m", "g",
	    "s", "h", "d", "ms" };
	struct ichar	 seen[16];
	struct pos	 up;
	char		 w[4];
	size_t		 i, n = 0, nw = 0;
	int		 c, blanks = 0, apart = 0;

	memset(&up, 0, sizeof(up));
	while (n < sizeof(seen) / sizeof(seen[0])) {
		c = seen[n].c = lgetc(&seen[n].pos);
		n++;
		if ((c == ' ' || c == '\t') && nw == 0)
			blanks = 1;
		else if (blanks && c != EOF && isalpha(c) &&
		    nw < sizeof(w) - 1) {
			if (nw == 0)
				up = seen[n - 1].pos;
			w[nw++] = c;
		} else
			break;
	}
	w[nw] = '\0';
	if (nw > 0 && !wordchar(seen[n - 1].c))
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(w, units[i]) == 0)
				apart = 1;
	while (n > 0) {
		n--;
		lungetc(seen[n].c, &seen[n].pos);
	}
	if (!apart)
		return (0);
	lexerr(&up, "unit \"%s\" apart from its number: write %s%s, "
	    "without a blank", w, num, w);
	findeol();
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
	val = parse_macro_get(name);
	if (val == NULL && parse_macro_refused(name)) {
		/* its value was said: its statement is not said again */
		suppress = 1;
		return (-1);
	}
	if (val == NULL) {
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

/*
 * A string too long, named by the keyword before it (url, secret) or
 * that began its statement (header): not by its text, which may be a
 * secret or a URL with a password.
 */
static void
toolong(const struct pos *start, const char *noun)
{
	const char	*what = NULL;

	if (lastbol)
		;		/* the statement's first word */
	else if (lasttok != STRING && lasttok != NUMBER &&
	    lookup(lasttext, NULL) != STRING)
		what = lasttext;
	else if (stmt_tok != STRING && lookup(stmt_text, NULL) != STRING)
		what = stmt_text;
	lexerr(start, "%s%s%s too long (at most %d bytes)",
	    what != NULL ? what : "", what != NULL ? " " : "", noun,
	    MAXWORD - 1);
}

/* past the closing quote of a string, or to the end of its line */
static void
skipquoted(int quote)
{
	struct pos	 p;
	int		 c;

	while ((c = lgetc(&p)) != EOF && c != quote) {
		if (c == '\n') {
			lungetc(c, &p);
			return;
		}
		if (c == '\\' && (c = lgetc(&p)) != quote && c != '\\')
			lungetc(c, &p);
	}
}

static int
lexquoted(int quote, const struct pos *start)
{
	char		*buf = quotedbuf;
	struct pos	 p, np;
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
		if (c == '\r') {
			/* a CRLF line's end: the string is unterminated */
			next = lgetc(&np);
			lungetc(next, &np);
			if (next == '\n' || next == EOF)
				continue;
		}
		if (c < 0x20 || c == 0x7f) {
			lexerr(&p, "control character 0x%02x in string", c);
			continue;
		}
		if (i + 1 >= sizeof(quotedbuf)) {
			toolong(start, "string");
			skipquoted(quote);	/* what follows it is read */
			return (ERRTOK);	/* not cut short and used */
		}
		buf[i++] = c;
	}
	buf[i] = '\0';
	if (!parse_utf8_valid(buf)) {
		/* not used with '?' for its bytes: said again, as
		 * "hostname "??" is not a valid domain name" */
		lexerr(start, "string is not valid UTF-8");
		return (ERRTOK);
	}
	if ((yylval.v.string = strdup(buf)) == NULL)
		fatal("strdup");
	strlcpy(lasttext, buf, sizeof(lasttext));
	lastquoted = 1;
	return (STRING);
}

/*
 * A CR is a blank before a newline (a CRLF file); elsewhere (a file with
 * old Mac line ends, or text a terminal would show over what precedes it)
 * it is said.
 */
static void
bare_cr(const struct pos *p)
{
	struct pos	 np;
	int		 c;

	c = lgetc(&np);
	lungetc(c, &np);
	if (c != '\n' && c != EOF)
		lexerr(p, "carriage return (0x0d) not at the end of a line");
}

/*
 * After a newline: 1 if the next line that is neither blank nor only a
 * comment starts with '{' after blanks, the brace of a block whose head
 * ends a line before (as in C's Allman style), the lines between skipped;
 * else 0, the blank and comment lines read (they are nothing to the
 * parser) and the first character of the next line put back.
 */
static int
brace_next(void)
{
	struct pos	 p, np;
	int		 c, nc;

	for (;;) {
		while ((c = lgetc(&p)) == ' ' || c == '\t')
			;
		if (c == '#')
			c = skipcomment(&p);
		if (c == '\r') {
			nc = lgetc(&np);
			if (nc != '\n') {	/* a bare CR: lex() says it */
				lungetc(nc, &np);
				lungetc(c, &p);
				return (0);
			}
			c = nc;
		}
		if (c == '\n')
			continue;
		lungetc(c, &p);
		return (c == '{');
	}
}

/* a bare word at the start of a statement must be a keyword or a macro */
static int
statement_word(const char *w, const struct pos *start)
{
	struct pos	 p;
	int		 c, isvar;

	/* the blanks after it go (lex() skips them anyway), however many;
	 * what follows them goes back */
	while ((c = lgetc(&p)) == ' ' || c == '\t')
		;
	isvar = c == '=';
	lungetc(c, &p);
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
	char		*buf = wordbuf;
	struct pos	 p, start;
	size_t		 i;
	int		 c, tok, top, bol;

 again:
	if (stopped) {
		strlcpy(lasttext, "end of file", sizeof(lasttext));
		return (0);
	}
	if (pending != NULL && (lasttok == '\n' || lasttok == 0)) {
		TAILQ_INSERT_TAIL(&files, pending, entry);
		pending->depth = nbraces;
		file = pending;
		pending = NULL;
		file->bol = 1;
	}
	bol = lastbol = file->bol;
	while ((c = lgetc(&start)) == ' ' || c == '\t' || c == '\r')
		if (c == '\r')
			bare_cr(&start);
	yylval.pos = start;
	lastpos = start;
	lastquoted = 0;
	if (c == '#') {
		c = skipcomment(&start);
		yylval.pos = lastpos = start;
	}
	if (c == '$') {
		if (expand(&start) == -1)
			return (ERRTOK);
		goto again;
	}
	if (c == EOF) {
		if (!bol || (lasttok != '\n' && lasttok != 0)) {
			/* a last line without newline still ends, one
			 * ending in a brace too, before a block left open
			 * is said */
			file->bol = 1;
			strlcpy(lasttext, "end of line", sizeof(lasttext));
			return ('\n');
		}
		if (nbraces > file->depth) {
			lexerr(&braces[nbraces - 1], "missing '}'");
			/* an included file's blocks end with it: closed
			 * here, the includer is read as it stands */
			if (TAILQ_PREV(file, filelist, entry) != NULL)
				file->unclosed = nbraces - file->depth;
			nbraces = file->depth;
		}
		if (file->unclosed > 0) {
			file->unclosed--;
			file->bol = 0;		/* its newline next */
			strlcpy(lasttext, "}", sizeof(lasttext));
			return ('}');
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
		if (pending == NULL && brace_next())
			goto again;	/* "route any" then "{": one line */
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
		if ((stray_brace = nbraces <= file->depth) == 0)
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
	if (c == 0xef && start.line == 1 && start.col == 1 && bom()) {
		perr(&start, "a UTF-8 byte order mark: save the file without "
		    "it");
		file->bol = bol;	/* what follows starts the line */
		goto again;
	}
	if (!wordchar(c)) {
		lexerr(&start, "unexpected character 0x%02x", c & 0xff);
		findeol();
		return (ERRTOK);
	}
	i = 0;
	do {
		if (i + 1 >= sizeof(wordbuf)) {
			toolong(&start, "word");
			findeol();
			return (ERRTOK);
		}
		buf[i++] = c;
	} while (wordchar(c = lgetc(&p)));
	lungetc(c, &p);
	buf[i] = '\0';
	strlcpy(lasttext, buf, sizeof(lasttext));
	if (lexnumber(buf, &yylval.v.num, &start)) {
		if (yylval.v.num.unit[0] == '\0' && unit_apart(buf))
			return (ERRTOK);
		return (NUMBER);
	}
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
	prevtok = lasttok;
	prevpos = lastpos;
	tok = lex();
	/* "x = "\xff"": the value said, a use of x is not said again */
	if (tok == ERRTOK && !lastbol && stmt_tok == STRING &&
	    stmt_ntok == 1 && lasttok == '=')
		parse_macro_refuse(stmt_text);
	lasttok = tok;
	if (lastbol) {
		stmt_tok = tok;
		stmt_ntok = 0;
		stmt_pos = lastpos;
		stmt_errors = errors;
		strlcpy(stmt_text, lasttext, sizeof(stmt_text));
		stmt_text2[0] = '\0';
	} else if (++stmt_ntok == 1)
		strlcpy(stmt_text2, lasttext, sizeof(stmt_text2));
	if (opt_begins()) {
		opt_tok = tok;
		opt_ntok = 0;
		strlcpy(opt_text, lasttext, sizeof(opt_text));
		opt_text2[0] = '\0';
	} else if (++opt_ntok == 1)
		strlcpy(opt_text2, lasttext, sizeof(opt_text2));
	return (tok);
}

/*
 * Open a file to read, and which it is; NULL and why not (*why) if it
 * cannot be read or is not a regular file: a directory (read as empty),
 * a FIFO (its open waited for a writer: mailhookd -n hung, and the parent
 * at a reload) or a device ("/dev/zero", read for ever) is not one, and
 * it is not opened.
 */
static FILE *
openconf(const char *path, struct stat *st, char **buf, const char **why)
{
	FILE	*fp;

	if (stat(path, st) == -1) {
		*why = strerror(errno);
		return (NULL);
	}
	if (S_ISDIR(st->st_mode)) {
		*why = strerror(EISDIR);
		return (NULL);
	}
	if (!S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		return (NULL);
	}
	if ((fp = fopen(path, "r")) == NULL) {
		*why = strerror(errno);
		return (NULL);
	}
	/* what was opened, should the name have changed in between */
	if (fstat(fileno(fp), st) == -1 || !S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		fclose(fp);
		return (NULL);
	}
	/* the file's text passes through a buffer of ours, wiped at close */
	if ((*buf = malloc(CONF_BUFSIZ)) == NULL)
		fatal("malloc");
	if (setvbuf(fp, *buf, _IOFBF, CONF_BUFSIZ) != 0)
		fatalx("setvbuf");
	return (fp);
}

/*
 * The configuration holds secrets (webhook secrets, bearer tokens, the
 * tracking key, Redis passwords) and says where mail goes: a file that
 * someone else may change is refused (as OpenBGPD's check_file_secrecy
 * does), one that others may read is only warned of.  The group may
 * read it: the shipped mode is 0640 root:_mailhook.  Only mailhookd
 * checks (config_check_secrecy); the test tools read files as they are.
 */
static int
file_secrecy(const struct pos *where, const char *path,
    const struct stat *st)
{
	unsigned int	 mode = st->st_mode & 07777;

	if (!secrecy)
		return (0);
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		if (where != NULL)
			perr(where, "\"%s\" is owned by uid %u, neither root "
			    "nor uid %u running mailhookd: refused", path,
			    (unsigned int)st->st_uid, (unsigned int)geteuid());
		else
			log_warnx("%s: owned by uid %u, neither root nor uid "
			    "%u running mailhookd: refused", path,
			    (unsigned int)st->st_uid, (unsigned int)geteuid());
		return (-1);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		if (where != NULL)
			perr(where, "\"%s\" is writable by group or others "
			    "(mode %03o): refused (chmod go-w)", path, mode);
		else
			log_warnx("%s: writable by group or others (mode %03o): "
			    "refused (chmod go-w)", path, mode);
		return (-1);
	}
	if (st->st_mode & S_IROTH)
		logit(LOG_WARNING, "%s: warning: readable by others (mode "
		    "%03o), and it holds secrets (chmod o-r)", path, mode);
	return (0);
}

void
config_check_secrecy(int on)
{
	secrecy = on;
}

/* close a file and wipe its buffer, which held its text */
static void
closeconf(struct file *f)
{
	if (f->stream != NULL)
		fclose(f->stream);
	f->stream = NULL;
	if (f->buf != NULL) {
		explicit_bzero(f->buf, CONF_BUFSIZ);
		free(f->buf);
	}
	f->buf = NULL;
}

/*
 * A file already being read, by any name (./x, a link): a loop, an error.
 * One read before is not read again, a warning: its statements would each
 * be a duplicate of itself (a file of macros included from two files
 * worked before, and still does).  1 either way.
 */
static int
include_loop(const struct pos *where, const char *path,
    const struct stat *st)
{
	struct file	*f;
	char		 at[PATH_MAX + 32];

	TAILQ_FOREACH(f, &files, entry) {
		if (f->dev == st->st_dev && f->ino == st->st_ino) {
			perr(where, "include loop: \"%s\"", path);
			return (1);
		}
	}
	TAILQ_FOREACH(f, &oldfiles, entry) {
		if (f->dev == st->st_dev && f->ino == st->st_ino) {
			parse_at(&f->incl, at, sizeof(at));
			logit(LOG_WARNING, "%s:%d:%d: warning: \"%s\" is "
			    "included already (at %s): not read again",
			    where->file, where->line, where->col, path, at);
			return (1);
		}
	}
	return (0);
}

static struct file *
pushfile(const char *name, const struct pos *where)
{
	struct file	*nf;
	struct file	*f;
	struct stat	 st;
	const char	*why = NULL;
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
	TAILQ_FOREACH(f, &files, entry)
		depth++;
	if (depth >= MAXINCLUDE) {
		perr(where, "includes nested too deep");
		return (NULL);
	}
	if ((nf = calloc(1, sizeof(*nf))) == NULL ||
	    (nf->name = strdup(path)) == NULL)
		fatal("calloc");
	if ((nf->stream = openconf(path, &st, &nf->buf, &why)) == NULL ||
	    include_loop(where, path, &st) ||
	    file_secrecy(where, path, &st) == -1) {
		if (nf->stream != NULL)
			closeconf(nf);
		else if (where != NULL)
			perr(where, "cannot open \"%s\": %s", path, why);
		else
			log_warnx("%s: %s", path, why);
		free(nf->name);
		free(nf);
		return (NULL);
	}
	nf->dev = st.st_dev;
	nf->ino = st.st_ino;
	if (where != NULL)
		nf->incl = *where;
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
	closeconf(file);
	/* keep the name alive: positions of earlier tokens point at it */
	TAILQ_INSERT_TAIL(&oldfiles, file, entry);
	file = prev;
	return (0);
}

int
parse_lex_open(const char *name)
{
	errors = 0;
	npushback = 0;
	nbraces = 0;
	brace_lost = 0;
	stray_brace = 0;
	lasttok = 0;
	suppress = 0;
	stopped = 0;
	memset(&lastpos, 0, sizeof(lastpos));
	if ((file = pushfile(name, NULL)) == NULL)
		return (-1);
	TAILQ_INSERT_TAIL(&files, file, entry);
	lastpos.file = file->name;
	return (0);
}

void
parse_lex_include(const struct pos *kw, const struct pos *p,
    const char *name)
{
	struct file	*nf;

	if (pending != NULL)
		perr(kw, "only one include per line");
	else if (name[0] == '\0')	/* not the includer's directory */
		perr(p, "include of an empty file name");
	else if ((nf = pushfile(name, p)) != NULL)
		pending = nf;
}

int
parse_errors(void)
{
	return (errors);
}

int
parse_brace_lost(void)
{
	return (brace_lost);
}

void
parse_lex_close(void)
{
	struct file	*f;

	while ((f = TAILQ_FIRST(&files)) != NULL) {
		TAILQ_REMOVE(&files, f, entry);
		closeconf(f);
		free(f->name);
		free(f);
	}
	while ((f = TAILQ_FIRST(&oldfiles)) != NULL) {
		TAILQ_REMOVE(&oldfiles, f, entry);
		free(f->name);
		free(f);
	}
	if (pending != NULL) {
		closeconf(pending);
		free(pending->name);
		free(pending);
		pending = NULL;
	}
	file = NULL;
	/* what they kept of the last strings read, a secret maybe */
	explicit_bzero(lasttext, sizeof(lasttext));
	explicit_bzero(stmt_text, sizeof(stmt_text));
	explicit_bzero(stmt_text2, sizeof(stmt_text2));
	explicit_bzero(opt_text, sizeof(opt_text));
	explicit_bzero(opt_text2, sizeof(opt_text2));
	explicit_bzero(pushback, sizeof(pushback));
	npushback = 0;
	explicit_bzero(quotedbuf, sizeof(quotedbuf));
	explicit_bzero(wordbuf, sizeof(wordbuf));
}

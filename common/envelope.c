/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The envelope codec: one "key value" per line, a version line first.
 *
 *	mailhook-envelope 1
 *	id 0123456789abcdef
 *	created 1700000000
 *	sender alice@example.com
 *	...
 *	rcpt bob@example.net
 *	rcpt-orcpt rfc822;bob@example.net
 *	rcpt-dest relay
 *	...
 *
 * "dkim RESULT DOMAIN SELECTOR" lines (at most ENVELOPE_DKIM_MAX, before
 * the recipients; an empty DOMAIN or SELECTOR is "-", one that is "-" or
 * begins with '=' is written after a '=') carry the inbound DKIM
 * verdicts.  A "rcpt" line starts a recipient; the "rcpt-*" lines
 * after it are its fields (the optional ones, rcpt-orcpt, rcpt-seal,
 * rcpt-last-error, rcpt-fallback, rcpt-quarantined, rcpt-dsn-owed,
 * written only when set, so that an envelope written before one existed
 * still loads).  Integers are
 * decimal; strings are the rest of the line after the first space and
 * must pass envelope_field_ok().  The decoder is strict: unknown keys,
 * repeated keys, missing required keys, overlong or unsafe values,
 * malformed numbers and too many recipients are refused.  The encoder
 * refuses what the decoder would (the same ranges, num_range): a field
 * out of range is an error when the envelope is written, not an
 * envelope that no longer loads.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "envelope.h"
#include "evbuf.h"
#include "hex.h"
#include "randpool.h"

#define ENV_VERSION_LINE	"mailhook-envelope 1"
#define ENV_LINE_MAX		2048

enum ftype {
	F_STR,		/* char array */
	F_TIME,		/* time_t >= 0 */
	F_I64,		/* int64_t >= -1 */
	F_SIZE,		/* size_t */
	F_BOOL,		/* int 0/1 */
	F_INT,		/* int >= 0 */
	F_NOTIFY,	/* rcpt-notify: DSN_NOTIFY_* bits */
	F_ROUTE		/* rcpt-route: uint32_t */
};

/*
 * The range of each kind of number: what the decoder takes, and so all
 * the encoder may write (one table for both: a value the decoder would
 * refuse is an error at write time, not an envelope lost at the next
 * start)
 */
static const struct {
	long long	 min, max;
} num_range[] = {
	[F_TIME] = { 0, LLONG_MAX },
	[F_I64] = { -1, INT64_MAX },
	[F_SIZE] = { 0, LLONG_MAX },
	[F_BOOL] = { 0, 1 },
	[F_INT] = { 0, INT_MAX },
	[F_NOTIFY] = { 0, 0x0f },
	[F_ROUTE] = { 0, UINT32_MAX }
};

struct efield {
	const char	*key;
	enum ftype	 type;
	size_t		 off;
	size_t		 size;		/* F_STR: array size */
	int		 required;
};

#define ESTR(k, m, r)	{ k, F_STR, offsetof(struct envelope, m),	\
			    sizeof(((struct envelope *)0)->m), r }
#define ENUM(k, t, m, r) { k, t, offsetof(struct envelope, m), 0, r }

static const struct efield env_fields[] = {
	ESTR("id", id, 1),
	ENUM("created", F_TIME, created, 1),
	ESTR("sender", sender, 1),
	ESTR("helo", helo, 0),
	ESTR("remote-ip", remote_ip, 0),
	ESTR("spf-result", spf_result, 0),
	ESTR("spf-domain", spf_domain, 0),
	ESTR("spf-seal", spf_seal, 0),
	ESTR("session", session, 0),
	ENUM("tls", F_BOOL, tls, 0),
	ESTR("tls-version", tls_version, 0),
	ESTR("tls-cipher", tls_cipher, 0),
	ESTR("auth-user", auth_user, 0),
	ENUM("size-declared", F_I64, size_declared, 0),
	ENUM("size", F_SIZE, size, 0),
	ENUM("data-check", F_I64, data_check, 0),
	ENUM("body-8bit", F_BOOL, body_8bit, 0),
	ENUM("smtputf8", F_BOOL, smtputf8, 0),
	ESTR("dsn-ret", dsn_ret, 0),
	ESTR("dsn-envid", dsn_envid, 0),
	ENUM("force-queue", F_BOOL, force_queue, 0),
	ESTR("tags", tags, 0),
	ESTR("group", group, 0),
	ESTR("transaction", transaction, 0),
	ESTR("message-id", message_id, 0),
	ESTR("idem", idem, 0),
	ESTR("subject", subject, 0),
	ESTR("dkim-pending", dkim_pending, 0),
	ESTR("from-domain", from_domain, 0),
	ENUM("tracked", F_BOOL, tracked, 0),
	ENUM("auth-checked", F_BOOL, auth_checked, 0),
	ENUM("quarantined", F_BOOL, quarantined, 0),
	ENUM("held", F_BOOL, held, 0),
	ENUM("tlsrpt", F_BOOL, tlsrpt, 0),
	ENUM("allowance-counted", F_BOOL, allow_counted, 0),
	ESTR("relay", relay, 0),
	ESTR("dmarc-result", dmarc_result, 0),
	ESTR("dmarc-policy", dmarc_policy, 0),
	ESTR("dmarc-domain", dmarc_domain, 0),
};
#define NENV_FIELDS	(sizeof(env_fields) / sizeof(env_fields[0]))

static const char *dest_names[] = { "route", "relay", "bounce" };
static const char *state_names[] = { "pending", "done", "failed" };
/* rcpt-dsn-owed's ACTION, by DSN_OWED_* */
static const char *owed_names[] = { "", "failed", "relayed" };

int
envelope_field_ok(const char *s)
{
	const unsigned char	*p;

	if (s == NULL)
		return (0);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return (0);
	return (1);
}

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->created = time(NULL);
	env->size_declared = -1;
	env->rcpts = NULL;
}

void
envelope_dsn_clear(struct envelope_rcpt *r)
{
	free(r->dsn_what);
	r->dsn_what = NULL;
	r->dsn_owed = 0;
}

void
envelope_clear(struct envelope *env)
{
	size_t	 i;

	for (i = 0; i < env->nrcpt; i++)
		free(env->rcpts[i].dsn_what);
	free(env->rcpts);
	env->rcpts = NULL;
	env->nrcpt = 0;
}

struct envelope_rcpt *
envelope_add_rcpt(struct envelope *env, const char *addr)
{
	struct envelope_rcpt	*r;

	if (!envelope_field_ok(addr) || strlen(addr) >= MH_ADDR_MAX)
		return (NULL);
	if (env->nrcpt >= MH_ENV_MAX_RCPT)
		return (NULL);
	r = reallocarray(env->rcpts, env->nrcpt + 1, sizeof(*r));
	if (r == NULL)
		return (NULL);
	env->rcpts = r;
	r = &env->rcpts[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	strlcpy(r->addr, addr, sizeof(r->addr));
	return (r);
}

int
envelope_id_ok(const char *s)
{
	return (mh_ishex(s, MH_MSGID_LEN - 1));
}

/* an envelope's id line: a queue id, or empty */
static int
id_ok(const char *s)
{
	return (s[0] == '\0' || envelope_id_ok(s));
}

void
envelope_new_id(char id[MH_MSGID_LEN])
{
	unsigned char	 b[(MH_MSGID_LEN - 1) / 2];

	mh_random_buf(b, sizeof(b));
	mh_hex(id, b, sizeof(b));
}

/* why the last envelope_decode() or envelope_encode() of this thread
 * failed */
static __thread char	 env_err[128];

/* the text being encoded (evbuffer) and whether anything failed */
struct ebuf {
	struct evbuffer	*eb;
	int		 err;
};

/* the encoding fails: the first reason is kept (envelope_error) */
static void
eb_fail(struct ebuf *b, const char *key, const char *why)
{
	if (!b->err)
		snprintf(env_err, sizeof(env_err), "%s: %s", key, why);
	b->err = 1;
}

/* one "key value" line; a value that is not a safe field fails it all */
static void
eb_add(struct ebuf *b, const char *key, const char *val)
{
	if (b->err)
		return;
	if (!envelope_field_ok(val))
		eb_fail(b, key, "unsafe character");
	/* as the decoder reads it: a line shorter than ENV_LINE_MAX */
	else if (strlen(key) + 1 + strlen(val) >= ENV_LINE_MAX)
		eb_fail(b, key, "line too long");
	else if (evbuffer_add_printf(b->eb, "%s%s%s\n", key,
	    val[0] != '\0' ? " " : "", val) == -1)
		eb_fail(b, key, "out of memory");
}

/* a number of kind t, refused out of its range (num_range) */
static void
eb_num(struct ebuf *b, const char *key, enum ftype t, long long v)
{
	char	 num[32];

	if (v < num_range[t].min || v > num_range[t].max) {
		snprintf(num, sizeof(num), "%lld out of range", v);
		eb_fail(b, key, num);
		return;
	}
	snprintf(num, sizeof(num), "%lld", v);
	eb_add(b, key, num);
}

static void
eb_field(struct ebuf *b, const struct envelope *env, const struct efield *f)
{
	const char	*p = (const char *)env + f->off;

	switch (f->type) {
	case F_STR:
		if (strnlen(p, f->size) >= f->size)
			eb_fail(b, f->key, "not terminated");
		else if (f->off == offsetof(struct envelope, id) && !id_ok(p))
			eb_fail(b, f->key, "not a queue id");
		else
			eb_add(b, f->key, p);
		break;
	case F_TIME:
		eb_num(b, f->key, f->type, (long long)*(const time_t *)p);
		break;
	case F_I64:
		eb_num(b, f->key, f->type, (long long)*(const int64_t *)p);
		break;
	case F_SIZE:
		/* past LLONG_MAX: negative, refused */
		eb_num(b, f->key, f->type, (long long)*(const size_t *)p);
		break;
	default:
		eb_num(b, f->key, f->type, *(const int *)p);
		break;
	}
}

/* a DKIM verdict word: non-empty, printable, no space */
static int
dkim_word_ok(const char *s, size_t size)
{
	size_t	 n = strnlen(s, size);

	return (n > 0 && n < size && envelope_field_ok(s) &&
	    strchr(s, ' ') == NULL);
}

/*
 * DOMAIN or SELECTOR as written: "-" if empty; one that is "-" or begins
 * with '=' (which the decoder would take for those) after a '='
 */
static const char *
dkim_word_enc(const char *s, char *buf, size_t size)
{
	if (s[0] == '\0')
		return ("-");
	if (strcmp(s, "-") != 0 && s[0] != '=')
		return (s);
	snprintf(buf, size, "=%s", s);
	return (buf);
}

/* the decoder's side of dkim_word_enc(), into dst; -1 if it does not fit */
static int
dkim_word_dec(const char *w, char *dst, size_t size)
{
	if (strcmp(w, "-") == 0) {
		dst[0] = '\0';
		return (0);
	}
	if (w[0] == '=')
		w++;
	return (w[0] == '\0' || strlcpy(dst, w, size) >= size ? -1 : 0);
}

static void
eb_dkim(struct ebuf *b, const struct envelope_dkim *d)
{
	char	 line[sizeof(d->result) + sizeof(d->domain) +
		    sizeof(d->selector) + 6];
	char	 dom[sizeof(d->domain) + 1], sel[sizeof(d->selector) + 1];

	if (!dkim_word_ok(d->result, sizeof(d->result)) ||
	    (d->domain[0] != '\0' && !dkim_word_ok(d->domain,
	    sizeof(d->domain))) || (d->selector[0] != '\0' &&
	    !dkim_word_ok(d->selector, sizeof(d->selector)))) {
		eb_fail(b, "dkim", "not three words");
		return;
	}
	snprintf(line, sizeof(line), "%s %s %s", d->result,
	    dkim_word_enc(d->domain, dom, sizeof(dom)),
	    dkim_word_enc(d->selector, sel, sizeof(sel)));
	eb_add(b, "dkim", line);
}

/* "ACTION WHAT" */
static void
eb_dsn_owed(struct ebuf *b, const struct envelope_rcpt *r)
{
	char	 line[DSN_WHAT_MAX + 16];

	snprintf(line, sizeof(line), "%s %s", owed_names[r->dsn_owed],
	    r->dsn_what);
	eb_add(b, "rcpt-dsn-owed", line);
}

static void
eb_rcpt(struct ebuf *b, const struct envelope_rcpt *r)
{
	if (strnlen(r->addr, sizeof(r->addr)) >= sizeof(r->addr) ||
	    strnlen(r->orcpt, sizeof(r->orcpt)) >= sizeof(r->orcpt) ||
	    strnlen(r->seal, sizeof(r->seal)) >= sizeof(r->seal) ||
	    strnlen(r->lasterr, sizeof(r->lasterr)) >= sizeof(r->lasterr))
		eb_fail(b, "rcpt", "a field not terminated");
	else if (r->addr[0] == '\0')
		eb_fail(b, "rcpt", "empty address");
	else if ((unsigned)r->dsn_owed > DSN_OWED_RELAYED ||
	    (r->dsn_owed && (r->dsn_what == NULL || r->dsn_what[0] == '\0' ||
	    strnlen(r->dsn_what, DSN_WHAT_MAX) >= DSN_WHAT_MAX)))
		eb_fail(b, "rcpt-dsn-owed", "no such action or no text");
	else if ((unsigned)r->dest > DEST_BOUNCE)
		eb_fail(b, "rcpt-dest", "no such destination");
	else if ((unsigned)r->state > RS_FAILED)
		eb_fail(b, "rcpt-state", "no such state");
	if (b->err)
		return;
	eb_add(b, "rcpt", r->addr);
	if (r->orcpt[0] != '\0')
		eb_add(b, "rcpt-orcpt", r->orcpt);
	eb_num(b, "rcpt-notify", F_NOTIFY, r->notify);
	eb_add(b, "rcpt-dest", dest_names[r->dest]);
	eb_num(b, "rcpt-route", F_ROUTE, r->route);
	eb_add(b, "rcpt-state", state_names[r->state]);
	eb_num(b, "rcpt-attempts", F_INT, r->attempts);
	eb_num(b, "rcpt-next-try", F_TIME, (long long)r->next_try);
	if (r->seal[0] != '\0')
		eb_add(b, "rcpt-seal", r->seal);
	if (r->lasterr[0] != '\0')
		eb_add(b, "rcpt-last-error", r->lasterr);
	/* only when set: an envelope without it loads as before */
	if (r->fallback_again)
		eb_add(b, "rcpt-fallback", "again");
	if (r->quarantined)
		eb_add(b, "rcpt-quarantined", "yes");
	if (r->dsn_owed)
		eb_dsn_owed(b, r);
}

char *
envelope_encode(const struct envelope *env, size_t *lenp)
{
	struct ebuf	 b;
	size_t		 i;

	if (env->nrcpt > MH_ENV_MAX_RCPT ||
	    (env->nrcpt > 0 && env->rcpts == NULL) ||
	    env->ndkim > ENVELOPE_DKIM_MAX) {
		strlcpy(env_err, "too many recipients or DKIM results",
		    sizeof(env_err));
		return (NULL);
	}
	if ((b.eb = evbuffer_new()) == NULL) {
		strlcpy(env_err, "out of memory", sizeof(env_err));
		return (NULL);
	}
	env_err[0] = '\0';
	b.err = 0;
	eb_add(&b, ENV_VERSION_LINE, "");
	for (i = 0; i < NENV_FIELDS; i++)
		eb_field(&b, env, &env_fields[i]);
	for (i = 0; i < env->ndkim; i++)
		eb_dkim(&b, &env->dkim[i]);
	for (i = 0; i < env->nrcpt; i++)
		eb_rcpt(&b, &env->rcpts[i]);
	return (evbuf_finish(b.eb, b.err, lenp));
}

/* decoding */

/* a number of kind t, in its range (num_range) */
static int
parse_ll(const char *s, enum ftype t, long long *v)
{
	const char	*errstr;

	/* decimal only: no sign but a leading '-', no spaces, no leading 0s */
	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return (-1);
	if (s[0] == '-' && (s[1] == '\0' || s[1] == '0'))
		return (-1);
	if (strspn(s + (s[0] == '-'), "0123456789") !=
	    strlen(s + (s[0] == '-')))
		return (-1);
	*v = strtonum(s, num_range[t].min, num_range[t].max, &errstr);
	return (errstr == NULL ? 0 : -1);
}

static int
name_index(const char *s, const char **names, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (i);
	return (-1);
}

static int
dec_field(struct envelope *env, const struct efield *f, const char *val)
{
	char		*p = (char *)env + f->off;
	long long	 v;

	if (f->type == F_STR) {
		if (strlen(val) >= f->size)
			return (-1);
		strlcpy(p, val, f->size);
		if (f->off == offsetof(struct envelope, id) && !id_ok(p))
			return (-1);
		return (0);
	}
	if (parse_ll(val, f->type, &v) == -1)
		return (-1);
	switch (f->type) {
	case F_TIME:
		*(time_t *)p = (time_t)v;
		break;
	case F_I64:
		*(int64_t *)p = v;
		break;
	case F_SIZE:
		*(size_t *)p = (size_t)v;
		break;
	default:
		*(int *)p = (int)v;
		break;
	}
	return (0);
}

/* bits for the rcpt-* fields seen on the current recipient */
#define RF_ORCPT	0x01
#define RF_NOTIFY	0x02
#define RF_DEST		0x04
#define RF_ROUTE	0x08
#define RF_STATE	0x10
#define RF_ATTEMPTS	0x20
#define RF_NEXT		0x40
#define RF_SEAL		0x80
#define RF_LASTERR	0x100
#define RF_FALLBACK	0x200
#define RF_QUARANTINED	0x400
#define RF_DSN_OWED	0x800

/* "ACTION WHAT": a DSN owed (envelope.h) */
static int
dec_dsn_owed(struct envelope_rcpt *r, const char *val)
{
	const char	*sp;
	size_t		 n;
	int		 i;

	if ((sp = strchr(val, ' ')) == NULL || sp[1] == '\0')
		return (-1);
	n = sp - val;
	for (i = DSN_OWED_FAILED; i <= DSN_OWED_RELAYED; i++)
		if (strlen(owed_names[i]) == n &&
		    strncmp(val, owed_names[i], n) == 0)
			break;
	if (i > DSN_OWED_RELAYED || strlen(sp + 1) >= DSN_WHAT_MAX)
		return (-1);
	/* a second line is refused by the caller: this one's is freed
	 * with the envelope */
	if (r->dsn_what == NULL && (r->dsn_what = malloc(DSN_WHAT_MAX)) ==
	    NULL)
		return (-1);
	strlcpy(r->dsn_what, sp + 1, DSN_WHAT_MAX);
	r->dsn_owed = i;
	return (0);
}

static int
dec_rcpt_field(struct envelope_rcpt *r, int *seen, const char *key,
    const char *val)
{
	long long	 v;
	int		 bit, i;

	if (strcmp(key, "rcpt-orcpt") == 0) {
		bit = RF_ORCPT;
		if (strlen(val) >= sizeof(r->orcpt))
			return (-1);
		strlcpy(r->orcpt, val, sizeof(r->orcpt));
	} else if (strcmp(key, "rcpt-notify") == 0) {
		bit = RF_NOTIFY;
		if (parse_ll(val, F_NOTIFY, &v) == -1)
			return (-1);
		r->notify = (int)v;
	} else if (strcmp(key, "rcpt-dest") == 0) {
		bit = RF_DEST;
		if ((i = name_index(val, dest_names, 3)) == -1)
			return (-1);
		r->dest = (enum rcpt_dest)i;
	} else if (strcmp(key, "rcpt-route") == 0) {
		bit = RF_ROUTE;
		if (parse_ll(val, F_ROUTE, &v) == -1)
			return (-1);
		r->route = (uint32_t)v;
	} else if (strcmp(key, "rcpt-state") == 0) {
		bit = RF_STATE;
		if ((i = name_index(val, state_names, 3)) == -1)
			return (-1);
		r->state = (enum rcpt_state)i;
	} else if (strcmp(key, "rcpt-attempts") == 0) {
		bit = RF_ATTEMPTS;
		if (parse_ll(val, F_INT, &v) == -1)
			return (-1);
		r->attempts = (int)v;
	} else if (strcmp(key, "rcpt-next-try") == 0) {
		bit = RF_NEXT;
		if (parse_ll(val, F_TIME, &v) == -1)
			return (-1);
		r->next_try = (time_t)v;
	} else if (strcmp(key, "rcpt-seal") == 0) {
		bit = RF_SEAL;
		if (strlen(val) >= sizeof(r->seal))
			return (-1);
		strlcpy(r->seal, val, sizeof(r->seal));
	} else if (strcmp(key, "rcpt-last-error") == 0) {
		bit = RF_LASTERR;
		if (strlen(val) >= sizeof(r->lasterr))
			return (-1);
		strlcpy(r->lasterr, val, sizeof(r->lasterr));
	} else if (strcmp(key, "rcpt-fallback") == 0) {
		bit = RF_FALLBACK;
		if (strcmp(val, "again") != 0)
			return (-1);
		r->fallback_again = 1;
	} else if (strcmp(key, "rcpt-quarantined") == 0) {
		bit = RF_QUARANTINED;
		if (strcmp(val, "yes") != 0)
			return (-1);
		r->quarantined = 1;
	} else if (strcmp(key, "rcpt-dsn-owed") == 0) {
		bit = RF_DSN_OWED;
		if (dec_dsn_owed(r, val) == -1)
			return (-1);
	} else
		return (-1);
	if (*seen & bit)
		return (-1);
	*seen |= bit;
	return (0);
}

/* "RESULT DOMAIN SELECTOR" (see dkim_word_enc) */
static int
dec_dkim(struct envelope *env, const char *val)
{
	struct envelope_dkim	*d;
	char			 buf[ENV_LINE_MAX], *w[3], *p = buf;
	int			 i;

	if (env->ndkim >= ENVELOPE_DKIM_MAX || env->nrcpt > 0 ||
	    strlcpy(buf, val, sizeof(buf)) >= sizeof(buf))
		return (-1);
	for (i = 0; i < 3; i++)
		if ((w[i] = strsep(&p, " ")) == NULL || w[i][0] == '\0')
			return (-1);
	if (p != NULL)
		return (-1);
	d = &env->dkim[env->ndkim];
	memset(d, 0, sizeof(*d));
	if (strlcpy(d->result, w[0], sizeof(d->result)) >= sizeof(d->result) ||
	    dkim_word_dec(w[1], d->domain, sizeof(d->domain)) == -1 ||
	    dkim_word_dec(w[2], d->selector, sizeof(d->selector)) == -1)
		return (-1);
	env->ndkim++;
	return (0);
}

static int
dec_line(struct envelope *env, char *line, unsigned char *seen, int *rseen)
{
	char		*val;
	size_t		 i;

	if ((val = strchr(line, ' ')) != NULL)
		*val++ = '\0';
	else
		val = line + strlen(line);
	if (line[0] == '\0' || !envelope_field_ok(val))
		return (-1);
	if (strcmp(line, "rcpt") == 0) {
		if (env->nrcpt >= MH_ENV_MAX_RCPT || val[0] == '\0')
			return (-1);
		if (envelope_add_rcpt(env, val) == NULL)
			return (-1);
		*rseen = 0;
		return (0);
	}
	if (strcmp(line, "dkim") == 0)
		return (dec_dkim(env, val));
	if (strncmp(line, "rcpt-", 5) == 0) {
		if (env->nrcpt == 0)
			return (-1);
		return (dec_rcpt_field(&env->rcpts[env->nrcpt - 1], rseen,
		    line, val));
	}
	for (i = 0; i < NENV_FIELDS; i++) {
		if (strcmp(line, env_fields[i].key) != 0)
			continue;
		/* singular keys come before the recipients, once */
		if (seen[i] || env->nrcpt > 0)
			return (-1);
		seen[i] = 1;
		return (dec_field(env, &env_fields[i], val));
	}
	return (-1);
}

const char *
envelope_error(void)
{
	return (env_err);
}

/* "line N: KEY", the key cut short and made printable */
static void
dec_error(int lineno, const char *line)
{
	char	 key[33];
	size_t	 i;

	for (i = 0; i < sizeof(key) - 1 && line[i] != '\0' &&
	    line[i] != ' '; i++)
		key[i] = line[i] > 0x20 && line[i] < 0x7f ? line[i] : '?';
	key[i] = '\0';
	snprintf(env_err, sizeof(env_err), "line %d: %s", lineno, key);
}

static int
decode_text(struct envelope *env, const char *text, size_t len)
{
	unsigned char	 seen[NENV_FIELDS];
	char		 line[ENV_LINE_MAX];
	const char	*p, *end, *nl;
	size_t		 n, i;
	int		 first = 1, rseen = 0, lineno = 0;

	memset(seen, 0, sizeof(seen));
	strlcpy(env_err, "not an envelope", sizeof(env_err));
	if (memchr(text, '\0', len) != NULL)
		return (-1);
	for (p = text, end = text + len; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;	/* last line without newline */
		n = nl - p;
		if (n >= sizeof(line)) {
			snprintf(env_err, sizeof(env_err),
			    "line %d: too long", lineno);
			return (-1);
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if (first) {
			if (strcmp(line, ENV_VERSION_LINE) != 0) {
				dec_error(lineno, line);
				strlcat(env_err, " (want \"" ENV_VERSION_LINE
				    "\")", sizeof(env_err));
				return (-1);
			}
			first = 0;
			continue;
		}
		if (dec_line(env, line, seen, &rseen) == -1) {
			dec_error(lineno, line);
			return (-1);
		}
	}
	if (first)
		return (-1);
	for (i = 0; i < NENV_FIELDS; i++)
		if (env_fields[i].required && !seen[i]) {
			snprintf(env_err, sizeof(env_err), "no %s line",
			    env_fields[i].key);
			return (-1);
		}
	env_err[0] = '\0';
	return (0);
}

/*
 * An envelope file that holds nothing, or only zeros, never reached the
 * disk: a crash of the system before its commit's flush (the file's name
 * did, its data did not; a pooled file reads as zeros).  The flush comes
 * before any 250, so nobody was told the message was taken.
 */
int
envelope_blank(const char *text, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (text[i] != '\0')
			return (0);
	return (1);
}

int
envelope_decode(struct envelope *env, const char *text, size_t len)
{
	envelope_init(env);
	if (text == NULL || decode_text(env, text, len) == -1) {
		envelope_clear(env);
		envelope_init(env);
		return (-1);
	}
	return (0);
}

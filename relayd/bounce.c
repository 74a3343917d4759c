/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Delivery status notifications (RFC 3464): for recipients that failed
 * for good, and for those delivered that asked for it with NOTIFY=SUCCESS
 * (relayd does not pass NOTIFY on, so a delivery is reported as
 * "relayed", RFC 3461 5.2.2); who wants one (NOTIFY), and the DSN itself,
 * queued as a new message with the null sender.
 */
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "dns.h"
#include "enhanced.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "mailaddr.h"
#include "msghdr.h"
#include "relayd.h"
#include "sanitize.h"

/* the most of the original's header section a report returns (as
 * Postfix's header_size_limit) */
#define DSN_HDR_MAX	(100 * 1024)
#define DSN_CTE_8BIT	"Content-Transfer-Encoding: 8bit\r\n"
#define DSN_CTE_QP	"Content-Transfer-Encoding: quoted-printable\r\n"

/* what differs between the reports, by action */
static const struct dsn_text {
	const char	*action;
	const char	*subject;
	const char	*intro;		/* the text part's first words */
	const char	*classes;	/* of a Status it may have */
	const char	*status;	/* the Status without one */
} dsn_texts[] = {
	[DSN_FAILED] = { "failed", "Undelivered Mail Returned to Sender",
	    "Your message could not be delivered to these recipients:",
	    "45", "5.0.0" },
	[DSN_RELAYED] = { "relayed", "Successful Mail Delivery Report",
	    "Your message was delivered to the mail server of these "
	    "recipients;\r\nno further notice of success will come from "
	    "there:", "2", "2.0.0" }
};

static void	 dsn_remote(char *, size_t, const char *);

/* does recipient r want a report of action a (RFC 3461 4.1)? */
static int
dsn_wanted(const struct envelope_rcpt *r, enum dsn_action a)
{
	if (r->notify & DSN_NOTIFY_NEVER)
		return (0);
	if (a == DSN_RELAYED)
		return ((r->notify & DSN_NOTIFY_SUCCESS) != 0);
	return (r->notify == 0 || (r->notify & DSN_NOTIFY_FAILURE));
}

/*
 * testing dsn-pause: held here, a DSN committed and m not updated yet, for
 * a test to kill relayd in that window (poll: the sandbox has no sleep)
 */
static void
dsn_test_pause(int secs)
{
	time_t	 end = time(NULL) + secs;

	log_flush();
	while (time(NULL) < end)
		(void)poll(NULL, 0, 1000);
}

/* the DSN of action a for the recipients f (outcomes r), queued and
 * scheduled (or found queued already); -1 (errno) if it could not be */
static int
dsn_queue(struct rmsg *m, enum dsn_action a, const size_t *f,
    const struct rres *r, size_t k, const char *relay)
{
	struct rmsg	*d;
	char		 to[LOG_ADDR_MAX];
	int		 err, rv;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("calloc");
	errno = 0;
	if ((rv = bounce_queue(&m->env, a, f, k, r, relay, &d->env)) == -1) {
		err = errno ? errno : EIO;
		free(d);
		errno = err;
		return (-1);
	}
	if (rv == 1) {
		/* a kill before m's update said it was: not twice */
		log_info("msgid=%s report=dsn orig_msgid=%s action=%s "
		    "to=<%s> status=queued (already, before a restart)",
		    d->env.id, m->id, dsn_texts[a].action,
		    log_addr(to, sizeof(to), m->env.sender));
		free(d);
		return (0);
	}
	strlcpy(d->id, d->env.id, sizeof(d->id));
	log_info("msgid=%s report=dsn orig_msgid=%s action=%s to=<%s> "
	    "status=queued", d->id, m->id, dsn_texts[a].action,
	    log_addr(to, sizeof(to), m->env.sender));
	sched_add_message(d, 1);
	if (relay_conf->testing.dsn_pause > 0)
		dsn_test_pause(relay_conf->testing.dsn_pause);
	return (0);
}

/*
 * What an owed DSN reports of recipient i, kept in its envelope (a
 * restart sends it from there): "CODE EXT FLAGS AT HOST DESC", EXT and
 * HOST "-" when none, DESC cut to what the field holds.
 */
#define OWED_REMOTE	0x01
#define OWED_FAULT	0x02
#define OWED_REPLY	0x04	/* a bounce's or a delivery's reply */
#define OWED_SUPPRESS	0x08	/* a refusal that suppresses it */

static void
dsn_owe(struct rmsg *m, enum dsn_action a, size_t i, const struct rres *r,
    const char *relay)
{
	struct envelope_rcpt	*rc = &m->env.rcpts[i];
	char			 ext[sizeof(r->ext)], host[256];
	char			 desc[DSN_WHAT_MAX], what[DSN_WHAT_MAX];
	int			 flags = 0, n;
	size_t			 at;

	sanitize_text(ext, sizeof(ext), r->ext, SIZE_MAX, SAN_FIELD);
	if (ext[0] == '\0' || strchr(ext, ' ') != NULL)
		strlcpy(ext, "-", sizeof(ext));
	/* no control or blank: a line of the envelope (dsn_remote) */
	dsn_remote(host, sizeof(host), relay);
	if (host[0] == '\0' || strchr(host, ' ') != NULL)
		strlcpy(host, "-", sizeof(host));
	if (r->remote)
		flags |= OWED_REMOTE;
	if (r->server_fault)
		flags |= OWED_FAULT;
	if (r->kind == EV_BOUNCE || r->kind == EV_DELIVERY)
		flags |= OWED_REPLY;
	/* as sched_job_done has it */
	if (r->kind == EV_BOUNCE && !r->untried && !r->server_fault &&
	    enhanced_suppresses(r->stage, r->ext))
		flags |= OWED_SUPPRESS;
	n = snprintf(what, sizeof(what), "%d %s %d ",
	    r->code >= 0 && r->code < 1000 ? r->code : 0, ext, flags);
	/* the host goes only where the reply's text still fits */
	if (n < 0 || (size_t)n + strlen(host) + 8 >= DSN_WHAT_MAX)
		strlcpy(host, "-", sizeof(host));
	sanitize_text(desc, DSN_WHAT_MAX - n - strlen(host) - 8,
	    r->desc, SIZE_MAX, SAN_FIELD);
	at = r->reply_at < strlen(desc) ? r->reply_at : strlen(desc);
	snprintf(what + n, sizeof(what) - n, "%zu %s %s", at, host, desc);
	/* kept only while owed: most recipients never are */
	if (rc->dsn_what == NULL && (rc->dsn_what = malloc(DSN_WHAT_MAX)) ==
	    NULL)
		fatal("malloc");
	strlcpy(rc->dsn_what, what, DSN_WHAT_MAX);
	rc->dsn_owed = a == DSN_FAILED ? DSN_OWED_FAILED : DSN_OWED_RELAYED;
}

/* the outcome an owed DSN reports of recipient i, and its host ("" none);
 * its OWED_* flags */
static int
dsn_owed_res(const struct rmsg *m, size_t i, struct rres *r, char *host,
    size_t hlen)
{
	const struct envelope_rcpt *rc = &m->env.rcpts[i];
	char	 ext[sizeof(r->ext)], h[256];
	int	 code, flags, off = 0;
	size_t	 at;

	memset(r, 0, sizeof(*r));
	host[0] = '\0';
	r->kind = EV_RETRIES_EXHAUSTED;
	if (rc->dsn_what == NULL)
		return (0);
	if (sscanf(rc->dsn_what, "%3d %15s %2d %3zu %255s %n", &code, ext,
	    &flags, &at, h, &off) < 5 || off == 0 || code < 0 || flags < 0) {
		/* not as written (an edited file): the text as it is */
		strlcpy(r->desc, rc->dsn_what, sizeof(r->desc));
		return (0);
	}
	r->code = code;
	if (strcmp(ext, "-") != 0)
		strlcpy(r->ext, ext, sizeof(r->ext));
	r->remote = (flags & OWED_REMOTE) != 0;
	r->server_fault = (flags & OWED_FAULT) != 0;
	if (flags & OWED_REPLY)
		r->kind = rc->dsn_owed == DSN_OWED_FAILED ? EV_BOUNCE :
		    EV_DELIVERY;
	strlcpy(r->desc, rc->dsn_what + off, sizeof(r->desc));
	r->reply_at = at < strlen(r->desc) ? at : strlen(r->desc);
	if (strcmp(h, "-") != 0)
		strlcpy(host, h, hlen);
	return (flags);
}

/* does the refusal of recipient i, whose DSN is owed, suppress it? why */
int
bounce_owed_suppress(const struct rmsg *m, size_t i, char *why, size_t len)
{
	struct rres	 r;
	char		 host[256];

	if (!m->env.rcpts[i].dsn_owed ||
	    !(dsn_owed_res(m, i, &r, host, sizeof(host)) & OWED_SUPPRESS))
		return (0);
	strlcpy(why, r.desc, len);
	return (1);
}

/* the DSN for those of the recipients rcpts that want one; owed (kept
 * in the queue, tried again by the scheduler) if it cannot be queued */
void
bounce_send(struct rmsg *m, enum dsn_action a, const size_t *rcpts,
    const struct rres *res, size_t n, const char *relay)
{
	size_t		 i, k = 0;
	size_t		*f;
	struct rres	*r;
	char		 to[LOG_ADDR_MAX], rto[LOG_ADDR_MAX];

	if (n == 0 || !relay_conf->bounce_dsn || m->env.sender[0] == '\0')
		return;
	f = calloc(n, sizeof(*f));
	r = calloc(n, sizeof(*r));
	if (f == NULL || r == NULL)
		fatal("calloc");
	for (i = 0; i < n; i++) {
		if (!dsn_wanted(&m->env.rcpts[rcpts[i]], a))
			continue;
		f[k] = rcpts[i];
		r[k++] = res[i];
	}
	if (k > 0 && dsn_queue(m, a, f, r, k, relay) == -1) {
		for (i = 0; i < k; i++) {
			log_warnx("msgid=%s report=dsn action=%s rcpt=<%s> "
			    "to=<%s> status=deferred (DSN not queued: %s; "
			    "will retry)", m->id, dsn_texts[a].action,
			    log_addr(rto, sizeof(rto), m->env.rcpts[f[i]].addr),
			    log_addr(to, sizeof(to), m->env.sender),
			    strerror(errno));
			dsn_owe(m, a, f[i], &r[i], relay);
		}
		sched_dsn_later(m);
	}
	free(f);
	free(r);
}

/* does recipient j owe a DSN as recipient i's (its action, its host)? */
static int
dsn_owed_with(const struct rmsg *m, size_t i, size_t j, const char *host)
{
	struct rres	 r;
	char		 h[256];

	if (m->env.rcpts[j].dsn_owed != m->env.rcpts[i].dsn_owed)
		return (0);
	dsn_owed_res(m, j, &r, h, sizeof(h));
	return (strcmp(h, host) == 0);
}

/* queue the DSN owed by i and those owed with it; -1 if it failed */
static int
dsn_owed_one(struct rmsg *m, size_t i, size_t *f, struct rres *r)
{
	enum dsn_action	 a;
	char		 host[256], to[LOG_ADDR_MAX];
	size_t		 j, k = 0;

	a = m->env.rcpts[i].dsn_owed == DSN_OWED_FAILED ? DSN_FAILED :
	    DSN_RELAYED;
	dsn_owed_res(m, i, &r[0], host, sizeof(host));
	f[k++] = i;
	for (j = i + 1; j < m->env.nrcpt; j++)
		if (m->env.rcpts[j].dsn_owed && dsn_owed_with(m, i, j, host)) {
			dsn_owed_res(m, j, &r[k], host, sizeof(host));
			f[k++] = j;
		}
	if (dsn_queue(m, a, f, r, k, host[0] ? host : NULL) == -1) {
		log_warnx("msgid=%s report=dsn action=%s to=<%s> "
		    "status=deferred (DSN for %zu recipient%s still not "
		    "queued: %s; will retry)", m->id, dsn_texts[a].action,
		    log_addr(to, sizeof(to), m->env.sender), k,
		    k == 1 ? "" : "s", strerror(errno));
		return (-1);
	}
	for (j = 0; j < k; j++)
		envelope_dsn_clear(&m->env.rcpts[f[j]]);
	return (0);
}

/*
 * The DSNs m owes (bounce_send could not queue them), queued now, one
 * for each action and host as bounce_send would have; those still owed
 * stay so.  1 if any is.  With DSNs turned off since (a reload), none is
 * owed any more.
 */
int
bounce_retry(struct rmsg *m)
{
	size_t		 i, *f;
	struct rres	*r;
	int		 left = 0, off = 0;

	f = calloc(m->env.nrcpt + 1, sizeof(*f));
	r = calloc(m->env.nrcpt + 1, sizeof(*r));
	if (f == NULL || r == NULL)
		fatal("calloc");
	for (i = 0; i < m->env.nrcpt; i++) {
		if (!m->env.rcpts[i].dsn_owed)
			continue;
		if (!relay_conf->bounce_dsn || m->env.sender[0] == '\0') {
			if (!off++)
				log_warnx("msgid=%s report=dsn status=dropped "
				    "(DSNs are off)", m->id);
			envelope_dsn_clear(&m->env.rcpts[i]);
		} else if (dsn_owed_one(m, i, f, r) == -1) {
			left = 1;
			break;
		}
	}
	free(f);
	free(r);
	return (left);
}

/*
 * The DSNs m owes, still not queued a queue lifetime after m's own
 * ended (dsn_end), given up: for each recipient a log line and an error
 * event, which tell its sender's application what its sender was not
 * told.  Not silently: nothing else says the report never went.
 */
void
bounce_give_up(struct rmsg *m)
{
	size_t	 i;
	char	 to[LOG_ADDR_MAX], rto[LOG_ADDR_MAX];

	for (i = 0; i < m->env.nrcpt; i++) {
		struct envelope_rcpt *rc = &m->env.rcpts[i];

		if (!rc->dsn_owed)
			continue;
		log_warnx("msgid=%s report=dsn action=%s rcpt=<%s> to=<%s> "
		    "status=dropped (DSN still not queued a queue lifetime "
		    "after the message expired: given up)", m->id,
		    dsn_texts[rc->dsn_owed == DSN_OWED_FAILED ? DSN_FAILED :
		    DSN_RELAYED].action, log_addr(rto, sizeof(rto), rc->addr),
		    log_addr(to, sizeof(to), m->env.sender));
		sched_emit_again(m, i, EV_ERROR, "4.3.0", "delivery status "
		    "notification to the sender could not be queued: given up",
		    "queue");
		envelope_dsn_clear(rc);
	}
}

/*
 * A recipient's Status (RFC 3464 2.3.4): the enhanced code of the outcome
 * (a server's, RFC 3463, or relayd's own), in the class of the basic code
 * of the reply that decided it (550 4.2.2: 5.2.2); without one, that
 * class's X.0.0.  An expiry's is relayd's own (4.4.7), whatever the last
 * reply was.  So is the class of a server's fault (a protocol error,
 * 5.5.0: a 354 to RCPT has no class a Status may have).
 */
static void
dsn_status(char *dst, size_t len, const struct dsn_text *t,
    const struct rres *r)
{
	char	 cls;

	if ((r->kind == EV_BOUNCE || r->kind == EV_DELIVERY) &&
	    r->code >= 200 && r->code < 600 && !r->server_fault)
		cls = '0' + r->code / 100;
	else
		cls = r->ext[0];
	if (cls == '\0' || strchr(t->classes, cls) == NULL)
		strlcpy(dst, t->status, len);
	else if (enhanced_ok(r->ext, 0)) {
		strlcpy(dst, r->ext, len);
		enhanced_set_class(dst, cls);
	} else
		snprintf(dst, len, "%c.0.0", cls);
}

/* the host of a job's "host[ip]:port", as a Remote-MTA names it */
static void
dsn_remote(char *dst, size_t len, const char *relay)
{
	dst[0] = '\0';
	if (relay == NULL || strcmp(relay, "none") == 0)
		return;
	sanitize_text(dst, len, relay, strcspn(relay, "["), SAN_CTLSPACE);
	dst[strcspn(dst, " ")] = '\0';
	if (dst[0] != '\0' && dst[strlen(dst) - 1] == '.')
		dst[strlen(dst) - 1] = '\0';
}

/*
 * s in the utf-8-addr-xtext form (RFC 6533 3): each character that is
 * not ASCII (or is '+', '=', '\', a control or a blank) as \x{HEX};
 * with unitext, in the utf-8-addr-unitext form of a
 * message/global-delivery-status, where a character that is not ASCII
 * is as it is.  Written to fp (NULL: only counted); its length.
 */
static size_t
dsn_xtext(FILE *fp, const char *s, int unitext)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 rem = strlen(s), len, k, out = 0;
	uint32_t		 cp;
	char			 hex[16];

	for (; rem > 0; p += len, rem -= len) {
		if ((len = utf8_seq(p, rem)) == 0) {
			len = 1;
			cp = 0xfffd;		/* not UTF-8 */
		} else if (len == 1)
			cp = *p;
		else
			for (cp = *p & (0x7f >> len), k = 1; k < len; k++)
				cp = (cp << 6) | (p[k] & 0x3f);
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' &&
		    cp != '\\') {
			if (fp != NULL)
				fputc(cp, fp);
			out++;
		} else if (unitext && cp >= 0xa0 && len > 1) {
			if (fp != NULL)
				fwrite(p, 1, len, fp);
			out += len;
		} else {
			k = snprintf(hex, sizeof(hex), "\\x{%X}", cp);
			if (fp != NULL)
				fputs(hex, fp);
			out += k;
		}
	}
	return (out);
}

#define DSN_LINE_MAX	998	/* RFC 5322 2.1.1, without the CRLF */
#define DSN_FR_UTF8	"Final-Recipient: utf-8; "

/*
 * The address a Final-Recipient (RFC 3464 2.3.2) names for addr, in a:
 * an ASCII address as rfc822, another as utf-8 in its utf-8-addr-xtext
 * form.  That form of an address relayd takes (254 octets, a local part
 * of 64) can pass the 998 characters of a line, and it cannot be folded:
 * the address is one token, and unfolding keeps the blank of the fold in
 * it.  Such an address names its domain by its A-labels (IDNA, the same
 * domain), which bounds the line (64 octets of local part as \x{HEX}
 * at most, an ASCII domain of 253).  Returns the length of the line of
 * its xtext form, 0 for an ASCII one.
 */
static size_t
dsn_fr_addr(const char *addr, char *a, size_t alen)
{
	char		 dom[512];
	const char	*at;
	size_t		 len;

	strlcpy(a, addr, alen);
	if (addr_is_ascii(addr))
		return (0);
	len = strlen(DSN_FR_UTF8) + dsn_xtext(NULL, addr, 0);
	if (len > DSN_LINE_MAX && (at = strrchr(addr, '@')) != NULL &&
	    dns_domain_ascii(at + 1, dom, sizeof(dom)) == 0 &&
	    (size_t)snprintf(a, alen, "%.*s@%s", (int)(at - addr), addr,
	    dom) < alen) {
		if (addr_is_ascii(a))
			return (0);
		len = strlen(DSN_FR_UTF8) + dsn_xtext(NULL, a, 0);
	}
	return (len);
}

/*
 * The Final-Recipient line of addr.  A domain without A-labels (IDNA
 * refuses it: a code point not assigned) can leave that line over 998
 * characters: the report is then a message/global-delivery-status (RFC
 * 6533 6), global set, where such an address is in its
 * utf-8-addr-unitext form, its characters that are not ASCII as they
 * are (254 octets, a '+' or '=' as \x{HEX}: some 600 characters at most).
 */
static void
dsn_final_recipient(FILE *fp, const char *addr, int global)
{
	char	 a[MH_ADDR_MAX + 512];
	size_t	 len;

	len = dsn_fr_addr(addr, a, sizeof(a));
	if (len == 0) {
		fprintf(fp, "Final-Recipient: rfc822; %s\r\n", a);
		return;
	}
	fputs(DSN_FR_UTF8, fp);
	dsn_xtext(fp, a, global && len > DSN_LINE_MAX);
	fprintf(fp, "\r\n");
}

/*
 * The type of the part that returns the original's header section h:
 * text/rfc822-headers (RFC 6522 4), or message/global-headers (RFC 6533
 * 3.5) when its fields are in UTF-8 (SMTPUTF8), which goes in a report
 * of type global-delivery-status alone (RFC 6533 3, 6); *hdr8 set when
 * they are 8-bit, UTF-8 or not: message/global-headers is then 8bit,
 * text/rfc822-headers quoted-printable (dsn_qp).
 */
static const char *
dsn_hdr_type(const char *h, int *hdr8)
{
	const unsigned char	*p = (const unsigned char *)h;
	size_t			 n, len = strlen(h);
	int			 utf8 = 1;

	*hdr8 = 0;
	for (; *p != '\0'; p += n) {
		n = 1;
		if (*p < 0x80)
			continue;
		*hdr8 = 1;
		if ((n = utf8_seq(p, len - (p - (const unsigned char *)h))) ==
		    0) {
			utf8 = 0;
			break;
		}
	}
	return (*hdr8 && utf8 ? "message/global-headers" :
	    "text/rfc822-headers");
}

/*
 * The header section h as quoted-printable (RFC 2045 6.7), its CR LF
 * kept: fields in a charset that is not UTF-8 (Latin-1), which neither
 * a text/rfc822-headers nor any other part can hold as they are in a
 * delivery-status report (RFC 6522 4: "may be encoded in
 * quoted-printable"), and which no message/global-headers may hold
 */
static void
dsn_qp(FILE *fp, const char *h)
{
	const unsigned char	*p;
	size_t			 col = 0, w;
	int			 enc;

	for (p = (const unsigned char *)h; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			fputs("\r\n", fp);
			p++;
			col = 0;
			continue;
		}
		/* a blank before a line's end is encoded: it would be cut */
		enc = *p >= 0x7f || *p == '=' || (*p < 0x20 && *p != '\t') ||
		    ((*p == ' ' || *p == '\t') && (p[1] == '\r' ||
		    p[1] == '\n' || p[1] == '\0'));
		w = enc ? 3 : 1;
		if (col + w > 75) {
			fputs("=\r\n", fp);	/* a soft line break */
			col = 0;
		}
		if (enc)
			fprintf(fp, "=%02X", *p);
		else
			fputc(*p, fp);
		col += w;
	}
}

/*
 * The queue id of the DSN of action a for the recipients rcpts of orig:
 * derived from them, so that queueing it again (a restart before orig's
 * envelope said it was queued) finds the first one (queue_open_incoming_as)
 */
static void
dsn_id(char id[MH_MSGID_LEN], const struct envelope *orig,
    enum dsn_action a, const size_t *rcpts, size_t n)
{
	unsigned char	 md[MH_SHA256_LEN];
	char		*buf;
	size_t		 i, len, off;

	len = sizeof("mailhook-dsn ") + MH_MSGID_LEN + 4 + n * 21;
	if ((buf = malloc(len)) == NULL)
		fatal("malloc");
	off = snprintf(buf, len, "mailhook-dsn %s %d", orig->id, (int)a);
	for (i = 0; i < n && off < len; i++)
		off += snprintf(buf + off, len - off, " %zu", rcpts[i]);
	mh_sha256(buf, off < len ? off : len - 1, md);
	free(buf);
	mh_hex(id, md, (MH_MSGID_LEN - 1) / 2);
}

/*
 * RFC 3464 delivery status notification of action a for the recipients
 * rcpts (outcomes res), committed as a new message with the null sender;
 * 1 (out->id set) if it was queued already (dsn_id).
 */
int
bounce_queue(const struct envelope *orig, enum dsn_action a,
    const size_t *rcpts, size_t n, const struct rres *res, const char *relay,
    struct envelope *out)
{
	const struct dsn_text	*t = &dsn_texts[a];
	struct envelope_rcpt	*to;
	char			 msgid[MH_MSGID_LEN], boundary[64], date[64];
	char			 arrival[64];
	char			*hbuf, remote[256], fr[MH_ADDR_MAX + 512];
	const char		*htype;
	char			(*desc)[sizeof(res->desc)];
	const char		*host;
	FILE			*fp;
	time_t			 now = time(NULL);
	size_t			 i, hlen = 0;
	ssize_t			 nr;
	int			 fd, mfd, eightbit = 0, utf8 = 0, global = 0;
	int			 hdr8, hglobal;

	host = relay_conf->hostname[0] ? relay_conf->hostname : "localhost";
	dsn_id(msgid, orig, a, rcpts, n);
	if ((fd = queue_open_incoming_as(msgid)) == -1) {
		if (errno != EEXIST)
			return (-1);
		strlcpy(out->id, msgid, sizeof(out->id));
		return (1);
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		queue_abort(msgid, 0);
		return (-1);
	}
	/*
	 * A server's text as the report repeats it, in the text part and in
	 * the delivery-status part: US-ASCII, as RFC 3464 2.1.1 wants of the
	 * latter and the text part declares.  Made once for both.
	 */
	if ((desc = calloc(n, sizeof(*desc))) == NULL)
		fatal("calloc");
	for (i = 0; i < n; i++)
		sanitize_text(desc[i], sizeof(desc[i]), res[i].desc, SIZE_MAX,
		    SAN_CTLSPACE);
	/* the original's header section, for text/rfc822-headers */
	if ((hbuf = malloc(DSN_HDR_MAX + 1)) == NULL)
		fatal("malloc");
	if ((mfd = queue_open_msg(orig->id)) != -1) {
		if ((nr = msghdr_read_start(mfd, hbuf, DSN_HDR_MAX)) > 0)
			hlen = nr;
		close(mfd);
	}
	/* up to the empty line, none if it is the first (no header) */
	i = msghdr_walk(hbuf, hlen, NULL, NULL);
	/* longer than DSN_HDR_MAX: up to its last whole line */
	if (i == hlen && hlen == DSN_HDR_MAX)
		while (i > 0 && hbuf[i - 1] != '\n')
			i--;
	hbuf[i] = '\0';
	/*
	 * An original's header fields in UTF-8 make the report a global
	 * one, 8-bit; in another charset, quoted-printable
	 */
	htype = dsn_hdr_type(hbuf, &hdr8);
	if ((hglobal = strcmp(htype, "message/global-headers") == 0)) {
		eightbit = 1;
		global = 1;
	}
	/* so do a sender and recipients not ASCII (SMTPUTF8), which the
	 * text part names as they are: in UTF-8 */
	for (i = 0; i < n; i++)
		if (!addr_is_ascii(orig->rcpts[rcpts[i]].addr))
			utf8 = 1;
	if (utf8 || !addr_is_ascii(orig->sender))
		eightbit = 1;
	for (i = 0; i < n; i++)
		if (dsn_fr_addr(orig->rcpts[rcpts[i]].addr, fr,
		    sizeof(fr)) > DSN_LINE_MAX)
			global = 1;
	snprintf(boundary, sizeof(boundary), "%s=_dsn", msgid);
	msghdr_date(date, sizeof(date), now);
	fprintf(fp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=%sdelivery-status;"
	    "\r\n"
	    "\tboundary=\"%s\"\r\n%s\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n"
	    "--%s\r\nContent-Type: text/plain; charset=%s\r\n%s\r\n"
	    "%s\r\n\r\n",
	    host, orig->sender, t->subject, date, msgid, host,
	    global ? "global-" : "", boundary, eightbit ? DSN_CTE_8BIT : "",
	    boundary, utf8 ? "utf-8" : "us-ascii", utf8 ? DSN_CTE_8BIT : "",
	    t->intro);
	for (i = 0; i < n; i++)
		if (desc[i][0] == '\0' && res[i].remote && res[i].code >= 200)
			/* a reply without text: its code */
			fprintf(fp, "<%s>: %d\r\n",
			    orig->rcpts[rcpts[i]].addr, res[i].code);
		else
			fprintf(fp, "<%s>: %s\r\n",
			    orig->rcpts[rcpts[i]].addr, desc[i]);
	fprintf(fp, "\r\n--%s\r\nContent-Type: message/%sdelivery-status\r\n"
	    "\r\n", boundary, global ? "global-" : "");
	/* RFC 3464 2.2: the Original-Envelope-Id comes first */
	if (orig->dsn_envid[0] != '\0')
		fprintf(fp, "Original-Envelope-Id: %s\r\n", orig->dsn_envid);
	fprintf(fp, "Reporting-MTA: dns; %s\r\n", host);
	/* RFC 3464 2.2.5: when the original came, not this report */
	msghdr_date(arrival, sizeof(arrival), orig->created ? orig->created :
	    now);
	fprintf(fp, "Arrival-Date: %s\r\n", arrival);
	dsn_remote(remote, sizeof(remote), relay);
	for (i = 0; i < n; i++) {
		const struct envelope_rcpt *r = &orig->rcpts[rcpts[i]];
		char status[16];

		dsn_status(status, sizeof(status), t, &res[i]);
		fprintf(fp, "\r\n");
		if (r->orcpt[0] != '\0')
			fprintf(fp, "Original-Recipient: %s\r\n", r->orcpt);
		dsn_final_recipient(fp, r->addr, global);
		fprintf(fp, "Action: %s\r\nStatus: %s\r\n", t->action,
		    status);
		/*
		 * The server whose reply this is, and the reply; a refusal
		 * of relayd's own (no server answered, or none was asked:
		 * DNS, the size the server announced) names none and says
		 * why in its own words, as Postfix's X-Postfix
		 */
		if (res[i].remote && res[i].code >= 200) {
			size_t at = res[i].reply_at;

			/* the reply alone, without what it was to */
			if (at > strlen(desc[i]))
				at = strlen(desc[i]);
			if (remote[0] != '\0')
				fprintf(fp, "Remote-MTA: dns; %s\r\n", remote);
			/* a reply without text: its code alone */
			fprintf(fp, "Diagnostic-Code: smtp; %d%s%s\r\n",
			    res[i].code, desc[i][at] != '\0' ? " " : "",
			    desc[i] + at);
		} else if (desc[i][0] != '\0')
			fprintf(fp, "Diagnostic-Code: X-mailhook; %s\r\n",
			    desc[i]);
	}
	free(desc);
	fprintf(fp, "\r\n--%s\r\nContent-Type: %s\r\n%s\r\n", boundary,
	    htype, !hdr8 ? "" : hglobal ? DSN_CTE_8BIT : DSN_CTE_QP);
	if (hdr8 && !hglobal)
		dsn_qp(fp, hbuf);
	else
		fputs(hbuf, fp);
	fprintf(fp, "\r\n--%s--\r\n", boundary);
	free(hbuf);
	if (fflush(fp) == EOF || ferror(fp) ||
	    file_cut(fileno(fp), ftello(fp)) == -1) {
		fclose(fp);
		queue_abort(msgid, 0);
		return (-1);
	}
	fclose(fp);
	envelope_init(out);
	out->sender[0] = '\0';
	out->body_8bit = eightbit;
	/* where the recipient goes is in the committed envelope: a restart
	 * before the delivery reads it from there */
	if ((to = envelope_add_rcpt(out, orig->sender)) != NULL)
		to->dest = DEST_RELAY;
	if (to == NULL || queue_commit(msgid, out) == -1) {
		envelope_clear(out);
		queue_abort(msgid, 0);
		return (-1);
	}
	return (0);
}

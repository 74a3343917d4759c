/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The mail transaction of relayd's SMTP client (mta.c): MAIL, RCPT...,
 * DATA (pipelined when offered), the addresses as they go (VERP,
 * SMTPUTF8), a message the server cannot take, the replies to each
 * command (the recipients a server deferred kept for the next address),
 * and the body streamed with the X-Mailhook-* headers stripped and
 * dot-stuffed.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "mailaddr.h"
#include "verp.h"
#include "relayd.h"
#include "dns.h"
#include "mta.h"

#include <event2/buffer.h>

/* body streaming: one fragment of a line */
static void
body_fragment(struct mconn *c, int complete)
{
	if (!c->lb_cont) {
		c->drop_line = 0;
		if (c->in_hdr) {
			if (c->lblen == 0 && complete)
				c->in_hdr = 0;
			else if (c->lb[0] == ' ' || c->lb[0] == '\t')
				c->drop_line = c->skip_hdr;
			else {
				c->skip_hdr = strncasecmp(c->lb,
				    "X-Mailhook-Tag:", 15) == 0 ||
				    strncasecmp(c->lb,
				    "X-Mailhook-Group:", 17) == 0 ||
				    strncasecmp(c->lb,
				    "X-Mailhook-Transaction:", 23) == 0;
				c->drop_line = c->skip_hdr;
			}
		}
		if (!c->drop_line && c->lblen > 0 && c->lb[0] == '.')
			evbuffer_add(c->out, ".", 1);
	}
	if (!c->drop_line) {
		evbuffer_add(c->out, c->lb, c->lblen);
		if (complete)
			evbuffer_add(c->out, "\r\n", 2);
	}
	c->lb_cont = !complete;
	c->lblen = 0;
}

int
body_fill(struct mconn *c)
{
	char	 buf[16384];
	ssize_t	 n, i;

	while (!c->body_eof && evbuffer_get_length(c->out) < OUT_LOW) {
		if ((n = read(c->bodyfd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			/* relayd's own trouble, not the server's: deferred
			 * at once, no next address */
			log_warn("mta %s: reading the message file",
			    c->domain);
			job_fail_all(c, EV_DISPATCH_SOFT_BOUNCE, 0, "4.3.0",
			    "message file read error", "data");
			conn_fail(c, 0, "4.3.0", "message file read error");
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] == '\n') {
				body_fragment(c, 1);
				continue;
			}
			c->lb[c->lblen++] = buf[i];
			if (c->lblen == sizeof(c->lb) - 1) {
				c->lb[c->lblen] = '\0';
				body_fragment(c, 0);
			}
			c->lb[c->lblen] = '\0';
		}
		/* a regular file: a read shorter than asked for is its end
		 * (no read to see 0) */
		if ((size_t)n < sizeof(buf)) {
			if (c->lblen > 0 || c->lb_cont)
				body_fragment(c, 1);
			evbuffer_add(c->out, ".\r\n", 3);
			c->body_eof = 1;
			c->state = M_DOT;
		}
	}
	want_write(c);
	set_timeout(c, c->body_eof ? relay_dot_timeout :
	    relay_command_timeout);
	return (0);
}

static void
body_start(struct mconn *c)
{
	c->bodyfd = queue_open_body(&c->job->msg->env, c->job->idx[0]);
	if (c->bodyfd == -1) {
		job_fail_all(c, EV_ERROR, 0, "4.3.0", "message file missing",
		    "data");
		conn_fail(c, 0, "4.3.0", "message file missing");
		return;
	}
	c->lblen = 0;
	c->lb[0] = '\0';
	c->lb_cont = 0;
	c->in_hdr = 1;
	c->skip_hdr = c->drop_line = c->body_eof = 0;
	c->state = M_BODY;
	body_fill(c);
}

/* the transaction ends before its data: RSET, whose reply reports the
 * results (dot_reply) */
static void
tx_rset_end(struct mconn *c)
{
	c->state = M_RSET;
	send_line(c, "RSET");
}

/*
 * The transaction has a non-ASCII address (RFC 6531 3.4): MAIL says
 * SMTPUTF8 to a server that offers it.  Only the client's SMTPUTF8 (a
 * header in UTF-8, ASCII addresses) does not count here.
 */
static int
tx_utf8(const struct mconn *c)
{
	const struct envelope	*env = &c->job->msg->env;
	size_t			 i;

	if (!addr_is_ascii(env->sender))
		return (1);
	for (i = 0; i < c->job->n; i++)
		if (!addr_is_ascii(env->rcpts[c->job->idx[i]].addr))
			return (1);
	return (0);
}

/*
 * addr as MAIL or RCPT give it: without a trailing dot (not in the
 * syntax of RFC 5321 4.1.2: User@Example.COM. is User@Example.COM),
 * else as it is to a server with SMTPUTF8 (or when it is ASCII); to one
 * without, an ASCII local part at a UTF-8 domain goes with the domain's
 * A-label (RFC 6531 3.2: only the local part needs SMTPUTF8).  -1: it
 * cannot go without SMTPUTF8.
 */
static int
addr_out(const char *addr, int utf8, char *buf, size_t len)
{
	const char	*at = strrchr(addr, '@');
	char		 dom[256];
	size_t		 n;

	strlcpy(buf, addr, len);
	if (at != NULL && at[1] != '\0' && at[1] != '[' &&
	    (n = strlen(buf)) > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	if (utf8 || addr_is_ascii(addr))
		return (0);
	if (at == NULL || (size_t)(at - addr) >= len)
		return (-1);
	buf[at - addr] = '\0';
	if (!addr_is_ascii(buf) || dns_domain_ascii(at + 1, dom,
	    sizeof(dom)) == -1 || !addr_is_ascii(dom) ||
	    strlcat(buf, "@", len) >= len || strlcat(buf, dom, len) >= len) {
		strlcpy(buf, addr, len);
		return (-1);
	}
	return (0);
}

/* the MAIL FROM address (VERP, with a bounce domain); see addr_out */
static int
tx_from(const struct mconn *c, int utf8, char *buf, size_t len)
{
	const struct envelope	*env = &c->job->msg->env;
	char			 from[MH_ADDR_MAX + 64];

	if (env->sender[0] == '\0') {
		buf[0] = '\0';
		return (0);
	}
	if (relay_conf->bounce_domain[0] == '\0' ||
	    verp_encode(from, sizeof(from), env->id,
	    env->rcpts[c->job->idx[0]].addr, relay_conf->bounce_domain,
	    relay_conf->verp_key) == -1)
		strlcpy(from, env->sender, sizeof(from));
	return (addr_out(from, utf8, buf, len));
}

/* the transaction cannot go to a server without SMTPUTF8 */
static int
tx_needs_utf8(const struct mconn *c)
{
	char	 buf[MH_ADDR_MAX + 64];
	size_t	 i;

	if (tx_from(c, 0, buf, sizeof(buf)) == -1)
		return (1);
	for (i = 0; i < c->job->n; i++)
		if (addr_out(c->job->msg->env.rcpts[c->job->idx[i]].addr, 0,
		    buf, sizeof(buf)) == -1)
			return (1);
	return (0);
}

/*
 * A message this server cannot take fails for good, and no MAIL is sent:
 * one over the maximum size it announced (EHLO SIZE N, RFC 1870), as
 * Postfix has it, or one with a non-ASCII address when it does not offer
 * SMTPUTF8 (RFC 6531 3.4: not sent, returned).
 */
static int
tx_refused(struct mconn *c)
{
	size_t		 size = c->job->msg->env.size;
	const char	*host = c->hosts[c->addr_host[c->acur]], *ext;
	char		 desc[512];
	int		 code;

	/* the codes the server would have refused it with */
	if (c->ext_size && c->size_max != 0 && size > c->size_max) {
		code = 552;	/* RFC 1870 6.1 */
		ext = "5.3.4";
		snprintf(desc, sizeof(desc), "message size %zu exceeds fixed "
		    "maximum message size %zu of %s", size, c->size_max, host);
	} else if (!c->ext_smtputf8 && tx_needs_utf8(c)) {
		code = 553;	/* RFC 6531: 553 with X.6.7 */
		ext = "5.6.7";
		snprintf(desc, sizeof(desc), "a non-ASCII address, and %s "
		    "does not offer SMTPUTF8", host);
	} else
		return (0);
	log_info("mta %s: %s: %s", c->domain, c->peer, desc);
	job_fail_all(c, EV_BOUNCE, code, ext, desc, "mail");
	return (1);
}

/* the transaction: MAIL, RCPT..., DATA; pipelined when offered */
static void
tx_send(struct mconn *c)
{
	struct rjob	*j = c->job;
	char		 from[MH_ADDR_MAX + 64], sz[64];
	size_t		 total = j->n + 2;

	while (c->tx_sent < total &&
	    (c->ext_pipelining || c->tx_sent == c->tx_acked)) {
		if (!c->ext_pipelining && c->mail_failed) {
			tx_rset_end(c);
			return;
		}
		if (c->tx_sent == 0) {
			const struct envelope *env = &j->msg->env;
			(void)tx_from(c, c->ext_smtputf8, from, sizeof(from));
			sz[0] = '\0';
			if (c->ext_size)
				snprintf(sz, sizeof(sz), " SIZE=%zu",
				    env->size);
			send_line(c, "MAIL FROM:<%s>%s%s%s", from, sz,
			    env->body_8bit && c->ext_8bit ? " BODY=8BITMIME" :
			    "", (env->smtputf8 || tx_utf8(c)) &&
			    c->ext_smtputf8 ? " SMTPUTF8" : "");
		} else if (c->tx_sent <= j->n) {
			(void)addr_out(j->msg->env.rcpts[j->idx[c->tx_sent -
			    1]].addr, c->ext_smtputf8, from, sizeof(from));
			send_line(c, "RCPT TO:<%s>", from);
		} else {
			/* without pipelining, no DATA when nobody is left */
			if (!c->ext_pipelining && (c->mail_failed ||
			    c->naccepted == 0)) {
				c->tx_sent = c->tx_acked = total;
				tx_rset_end(c);
				return;
			}
			send_line(c, "DATA");
		}
		c->tx_end[c->tx_sent] = c->out_written +
		    evbuffer_get_length(c->out);
		c->tx_sent++;
	}
}

void
tx_start(struct mconn *c)
{
	mtls_sync(c);
	c->state = M_TX;
	c->tx_sent = c->tx_acked = 0;
	c->mail_failed = 0;
	c->naccepted = 0;
	c->nkept = 0;
	c->nmsgs++;
	free(c->accepted);
	if ((c->accepted = calloc(c->job->n, sizeof(int))) == NULL)
		fatal("calloc");
	free(c->tx_end);
	if ((c->tx_end = calloc(c->job->n + 2, sizeof(*c->tx_end))) == NULL)
		fatal("calloc");
	if (tx_refused(c)) {
		/* reported once RSET is answered, not from inside the
		 * caller (it may be the scheduler's pass, mta_reuse) */
		tx_rset_end(c);
		return;
	}
	tx_send(c);
}

static enum event_kind
code_kind(int code)
{
	if (code >= 200 && code < 300)
		return (EV_DELIVERY);
	if (code >= 500)
		return (EV_BOUNCE);
	return (EV_SOFT_BOUNCE);
}

/*
 * The reply code text to what deferred recipients of this transaction at
 * a server that is not the last one to try (Postfix's smtp_rcpt_fail and
 * smtp_mesg_fail, SMTP_MISC_FLAG_FINAL_SERVER): logged, no event; the
 * next address takes them in this attempt (tx_move_on).
 */
void
tx_keep_log(struct mconn *c, int code, const char *ext, const char *text,
    const char *what, size_t n)
{
	log_info("mta %s: %s said: %d %s (in reply to %s); %zu recipient%s "
	    "on to the next address", c->domain, c->peer, code, text, what,
	    n, n == 1 ? "" : "s");
	conn_last_reply(c, code, ext, what, text);
}

/*
 * A reply of a class its command cannot have (RFC 5321 4.3.2): 3xx to
 * MAIL, RCPT or the final dot, 2xx to DATA.  As Postfix has it (a reply
 * status neither 4 nor 5 is a "Protocol error", 5.5.0: smtp_trouble.c
 * vsmtp_fill_dsn), recipient k fails for good, the next server not
 * tried; the server is at fault, not the address: no suppression.
 */
static void
tx_protocol_error(struct mconn *c, size_t k, int code, const char *text,
    const char *what, const char *stage)
{
	struct rres	*r = &c->job->res[k];
	char		 desc[512], why[64];
	size_t		 at;

	if (r->done)
		return;
	snprintf(why, sizeof(why), "protocol error: unexpected reply to %s",
	    what);
	reply_desc(desc, sizeof(desc), why, code, text, &at);
	sched_reply_at(c->job, k, EV_BOUNCE, code, "5.5.0", desc, at, stage);
	r->server_fault = 1;
}

/*
 * Recipient k's reply to what in the transaction (stage mail, rcpt or
 * data): a 4xx from a server not the last one to try leaves k without a
 * result, kept for the next address (1); anything else is k's result (0).
 */
static int
tx_rcpt_reply(struct mconn *c, size_t k, int code, const char *ext,
    const char *text, const char *what, const char *stage)
{
	if (code / 100 == 4 && !c->job->res[k].done && !conn_final(c)) {
		c->nkept++;
		return (1);
	}
	if (code / 100 == 3)
		tx_protocol_error(c, k, code, text, what, stage);
	else
		sched_reply(c->job, k, code_kind(code), code, ext, text,
		    stage);
	return (0);
}

/* the job's recipients without a result yet */
size_t
tx_undone(const struct mconn *c)
{
	size_t	 i, n = 0;

	for (i = 0; c->job != NULL && i < c->job->n; i++)
		if (!c->job->res[i].done)
			n++;
	return (n);
}

/* the reply to DATA or the final dot: each recipient taken gets it */
void
tx_accepted_reply(struct mconn *c, int code, const char *ext,
    const char *text, const char *what)
{
	size_t	 i, n = 0;

	for (i = 0; i < c->job->n; i++)
		if (c->accepted[i])
			n += tx_rcpt_reply(c, i, code, ext, text, what,
			    "data");
	if (n > 0)
		tx_keep_log(c, code, ext, text, what, n);
}

void
tx_reply(struct mconn *c, int code, const char *text, const char *ext)
{
	struct rjob	*j = c->job;
	size_t		 k = c->tx_acked++, i;
	char		 ext4[16] = "";

	if (k == 0) {
		if (code / 100 != 2) {
			c->mail_failed = 1;
			for (i = 0; i < j->n; i++)
				(void)tx_rcpt_reply(c, i, code, ext, text,
				    "MAIL", "mail");
			if (c->nkept > 0)
				tx_keep_log(c, code, ext, text, "MAIL",
				    c->nkept);
		}
	} else if (k <= j->n) {
		if (code == 552) {
			/*
			 * RFC 5321 4.5.3.1.10: a 552 to RCPT is the old code
			 * for too many recipients (452), temporary; so is its
			 * enhanced code.  (Postfix's client keeps it a 5xx.)
			 */
			code = 452;
			if (ext[0] == '5') {
				snprintf(ext4, sizeof(ext4), "4%s", ext + 1);
				ext = ext4;
			}
		}
		if (c->mail_failed)
			;
		else if (code / 100 == 2) {
			c->accepted[k - 1] = 1;
			c->naccepted++;
		} else if (code == 452 && c->naccepted > 0)
			/*
			 * Too many recipients for this transaction (RFC 5321
			 * 4.5.3.1.10): the rest go in the next one at once
			 * (Postfix defers them as any 4xx).  Not after none
			 * was taken, which would never end.
			 */
			sched_untried(j, k - 1);
		else if (tx_rcpt_reply(c, k - 1, code, ext, text, "RCPT",
		    "rcpt"))
			tx_keep_log(c, code, ext, text, "RCPT", 1);
	} else {
		/*
		 * DATA: any 3xx lets the data go, as in Postfix (its
		 * smtp_loop sends the message unless the reply's class is
		 * not 3); RFC 5321 gives 354
		 */
		if (code / 100 == 3) {
			if (c->naccepted == 0 || c->mail_failed) {
				c->state = M_DOT;
				c->body_eof = 1;
				evbuffer_add(c->out, ".\r\n", 3);
				want_write(c);
				set_timeout(c, relay_dot_timeout);
				return;
			}
			body_start(c);
			return;
		}
		if (code / 100 == 2) {
			/*
			 * A protocol error (tx_protocol_error): no message
			 * was sent, and the server is out of step with our
			 * commands, so the connection ends; those kept for
			 * the next address go on to it.
			 */
			for (i = 0; i < j->n; i++)
				if (c->accepted[i])
					tx_protocol_error(c, i, code, text,
					    "DATA", "data");
			conn_fail(c, 0, "4.5.0", "unexpected reply to DATA: "
			    "%d %s", code, text);
			return;
		}
		tx_accepted_reply(c, code, ext, text, "DATA");
		tx_rset_end(c);
		return;
	}
	tx_send(c);
}

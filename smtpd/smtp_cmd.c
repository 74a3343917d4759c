/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP commands of a session: HELO/EHLO, MAIL, RCPT and authd's
 * verdict on it, DATA, BDAT, STARTTLS, AUTH and its verdict, the gates
 * before them (TLS required, junk) and the dispatch of a command line
 * (session_command).  The I/O, replies and timeouts are smtp_session.c;
 * transactions and the message data smtp_tx.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enhanced.h"
#include "log.h"
#include "metrics.h"
#include "sanitize.h"
#include "smtp.h"
#include "smtp_backend.h"
#include "smtpd.h"

static int	junk_count(struct session *);

/*
 * Commands.
 */

static int
helo_valid(const char *h)
{
	size_t	 n = strlen(h), i;

	if (n == 0 || n > 255)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
			return (0);
	return (1);
}

static void
cmd_helo(struct session *s, char *args, int ehlo)
{
	const char	*ext[16];
	char		 size[64], logb[256];
	int		 n = 0, i;

	if (!helo_valid(args)) {
		session_error(s, "501 5.5.4 Syntax: %s hostname",
		    ehlo ? "EHLO" : "HELO");
		return;
	}
	tx_abort(s);
	strlcpy(s->helo, args, sizeof(s->helo));
	s->ehlo = ehlo ? 2 : 1;
	SLOG(s, "event=helo cmd=%s helo=%s", ehlo ? "ehlo" : "helo",
	    log_sanitize(logb, sizeof(logb), args));
	if (!ehlo) {
		session_reply(s, "250 %s Hello %s [%s]", s->lc->hostname,
		    s->helo, s->ip);
		return;
	}
	snprintf(size, sizeof(size), "SIZE %zu", s->conf->max_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (offers_starttls(s))
		ext[n++] = "STARTTLS";
	ext[n++] = "CHUNKING";
	ext[n++] = "DSN";
	if (offers_auth(s))
		ext[n++] = "AUTH PLAIN LOGIN";
	ext[n++] = "HELP";
	session_reply(s, "250-%s Hello %s [%s]", s->lc->hostname, s->helo,
	    s->ip);
	for (i = 0; i < n; i++)
		session_reply(s, "250%c%s", i == n - 1 ? ' ' : '-', ext[i]);
}

/*
 * The reply to an address refused: its enhanced code says whose, the
 * sender's (X.1.7, RFC 3463) or a recipient's (X.1.3)
 */
static void
addr_error(struct session *s, int err, int sender)
{
	const char	*code = "501", *text;

	switch (err) {
	case ADDR_ROUTE:
		code = "553";
		text = "Source routes are not accepted";
		break;
	case ADDR_RELAY:
		code = "553";
		text = "Address with % or ! not accepted";
		break;
	case ADDR_8BIT:
		session_error(s, "553 5.6.7 Non-ASCII address requires "
		    "SMTPUTF8");
		return;
	case ADDR_LENGTH:
		text = "Address too long";
		break;
	case ADDR_EMPTY:
		text = "Empty address not allowed here";
		break;
	default:
		text = sender ? "Bad sender address syntax" :
		    "Bad address syntax";
		break;
	}
	session_error(s, "%s 5.1.%d %s", code, sender ? 7 : 3, text);
}

/*
 * MAIL or RCPT without parameters: after HELO, which announced no
 * extension, none is taken: 555 (RFC 5321 4.1.1.11)
 */
static int
no_params(const char *params)
{
	return (params == NULL || params[strspn(params, " ")] == '\0');
}

static void
cmd_mail(struct session *s, char *args)
{
	struct mail_params	 mp;
	char			 addr[MH_ADDR_MAX], logb[LOG_ADDR_MAX];
	char			*params;
	const char		*err;
	int			 e;

	if (s->ehlo == 0) {
		session_error(s, "503 5.5.1 Send HELO/EHLO first");
		return;
	}
	if ((s->lc->flags & LF_AUTH_REQUIRE) && !s->authenticated) {
		session_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (s->tx != NULL) {
		session_error(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	e = smtp_parse_path(args, "FROM:", addr, sizeof(addr), 1, &params);
	if (e == ADDR_SYNTAX) {
		session_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (e != ADDR_OK) {
		addr_error(s, e, 1);
		return;
	}
	if (s->ehlo != 2 && !no_params(params)) {
		session_error(s, "555 5.5.4 MAIL parameters need EHLO, not "
		    "HELO");
		return;
	}
	if (smtp_mail_params(params, &mp, &err) == -1) {
		session_error(s, "%s", err);
		return;
	}
	if (addr[0] != '\0' && strcasecmp(addr, "postmaster") != 0 &&
	    (e = smtp_sender_valid(addr, mp.smtputf8)) != ADDR_OK) {
		addr_error(s, e, 1);
		return;
	}
	if (strcasecmp(addr, "postmaster") == 0) {
		addr_error(s, ADDR_SYNTAX, 1);
		return;
	}
	if (mp.size > 0 && s->conf->max_size > 0 &&
	    (uint64_t)mp.size > s->conf->max_size) {
		session_error(s, "552 5.3.4 Message size exceeds fixed "
		    "maximum message size");
		return;
	}
	if (tx_new(s) == -1) {
		session_reply(s, "451 4.3.0 Out of memory");
		return;
	}
	strlcpy(s->tx->sender, addr, sizeof(s->tx->sender));
	s->tx->mp = mp;
	SLOG(s, "event=mail from=<%s> size=%lld body=%s smtputf8=%d",
	    log_addr(logb, sizeof(logb), addr), (long long)mp.size,
	    mp.body_8bit ? "8bitmime" : "7bit", mp.smtputf8);
	session_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, char *args)
{
	struct authd_rcpt_req	 req;
	struct rcpt_params	 rp;
	struct smtp_rcpt	*r;
	char			*params, logb[LOG_ADDR_MAX];
	const char		*err;
	int			 e;

	if (s->tx == NULL) {
		session_error(s, "503 5.5.1 Need MAIL before RCPT");
		return;
	}
	if (s->tx->mode != DM_NONE) {
		session_error(s, "503 5.5.1 RCPT not allowed during BDAT");
		return;
	}
	if ((int)s->tx->nrcpt >= s->conf->max_rcpt) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	r = &s->tx->pending;
	memset(r, 0, sizeof(*r));
	e = smtp_parse_path(args, "TO:", r->addr, sizeof(r->addr), 1,
	    &params);
	if (e == ADDR_OK && r->addr[0] == '\0')
		e = ADDR_EMPTY;
	if (e == ADDR_OK)
		e = smtp_addr_valid(r->addr, s->tx->mp.smtputf8);
	if (e == ADDR_SYNTAX && params == NULL) {
		session_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (e != ADDR_OK) {
		addr_error(s, e, 0);
		return;
	}
	if (s->ehlo != 2 && !no_params(params)) {
		session_error(s, "555 5.5.4 RCPT parameters need EHLO, not "
		    "HELO");
		return;
	}
	if (smtp_rcpt_params(params, s->tx->mp.smtputf8, &rp, &err) == -1) {
		session_error(s, "%s", err);
		return;
	}
	if (strchr(r->addr, '@') == NULL)	/* <postmaster> */
		snprintf(r->addr, sizeof(r->addr), "postmaster@%s",
		    s->lc->hostname);
	r->notify = rp.notify;
	strlcpy(r->orcpt, rp.orcpt, sizeof(r->orcpt));
	if (rcpt_set_has(s->tx, RS_SAME, r->addr, 0)) {
		/* the same mailbox again: it gets one copy */
		SLOG(s, "event=rcpt to=<%s> result=duplicate code=250",
		    log_addr(logb, sizeof(logb), r->addr));
		session_reply(s, "250 2.1.5 Ok");
		return;
	}

	memset(&req, 0, sizeof(req));
	req.reqid = s->reqid = smtp_reqid(s);
	req.sessid = s->id;
	strlcpy(req.remote_ip, s->ip, sizeof(req.remote_ip));
	strlcpy(req.helo, s->helo, sizeof(req.helo));
	strlcpy(req.sender, s->tx->sender, sizeof(req.sender));
	strlcpy(req.rcpt, r->addr, sizeof(req.rcpt));
	req.size = s->tx->mp.size;
	strlcpy(req.auth_user, s->auth_user, sizeof(req.auth_user));
	req.tls = s->tls_on;
	req.listener = s->lc->id;
	s->wait = W_RCPT;
	backend_rcpt(&req);
}

void
session_rcpt_verdict(struct session *s, const struct authd_rcpt_res *res)
{
	struct smtp_tx		*tx = s->tx;
	struct smtp_rcpt	*r;
	char			 text[256], logb[LOG_ADDR_MAX];
	const char		*enh, *result;
	int			 code;

	if (s->wait != W_RCPT || s->reqid != res->reqid || tx == NULL)
		return;
	s->wait = W_NONE;
	smtp_safe(text, sizeof(text), res->text);
	code = res->code;
	if (res->verdict == RCPT_ACCEPT && (res->dest < DEST_ROUTE ||
	    res->dest > DEST_BOUNCE)) {
		code = 451;
		enh = "4.3.0";
		strlcpy(text, "Internal error", sizeof(text));
		result = "error";
	} else if (res->verdict == RCPT_ACCEPT && res->dest == DEST_ROUTE &&
	    rcpt_set_has(tx, RS_ROUTED, tx->pending.addr, res->route)) {
		/*
		 * another case of a recipient on its route (Bob@x after
		 * bob@x): routes match addresses in any case, so here,
		 * where mailhook is the receiving host, they are one
		 * mailbox and get one POST.  Relayed ones stay two
		 * (RS_SAME): the remote host decides.
		 */
		SLOG(s, "event=rcpt to=<%s> result=duplicate code=250",
		    log_addr(logb, sizeof(logb), tx->pending.addr));
		session_reply(s, "250 2.1.5 Ok");
		session_resume(s);
		return;
	} else if (res->verdict == RCPT_ACCEPT) {
		if (code < 200 || code > 299)
			code = 250;
		enh = enhanced_ok(res->enhanced, code / 100) ? res->enhanced :
		    "2.1.5";
		if (text[0] == '\0')
			strlcpy(text, "Ok", sizeof(text));
		r = reallocarray(tx->rcpts, tx->nrcpt + 1, sizeof(*r));
		if (r == NULL) {
			session_reply(s, "451 4.3.0 Out of memory");
			session_resume(s);
			return;
		}
		tx->rcpts = r;
		r = &tx->rcpts[tx->nrcpt];
		*r = tx->pending;
		r->dest = res->dest;
		r->route = res->route;
		if (rcpt_set_add(tx, tx->nrcpt) == -1) {
			session_reply(s, "451 4.3.0 Out of memory");
			session_resume(s);
			return;
		}
		tx->nrcpt++;
		/* carried to the spool owner, which checks it (seal.h) */
		strlcpy(r->seal, res->seal, sizeof(r->seal));
		if (tx->spf_result[0] == '\0') {
			smtp_safe(tx->spf_result, sizeof(tx->spf_result),
			    res->spf_result);
			/* an SMTPUTF8 sender's domain stays as authd sealed
			 * it: valid UTF-8 kept, anything else '?' */
			sanitize_text(tx->spf_domain, sizeof(tx->spf_domain),
			    res->spf_domain, SIZE_MAX, SAN_UTF8);
			strlcpy(tx->spf_seal, res->spf_seal,
			    sizeof(tx->spf_seal));
		}
		result = "ok";
		smtp_g.t_rcpt_ok++;
	} else {
		if (res->verdict == RCPT_TEMPFAIL) {
			if (code < 400 || code > 499)
				code = 450;
			enh = enhanced_ok(res->enhanced, code / 100) ?
			    res->enhanced : "4.7.1";
			result = "tempfail";
		} else {
			if (code < 500 || code > 599)
				code = 550;
			enh = enhanced_ok(res->enhanced, code / 100) ?
			    res->enhanced : "5.7.1";
			result = "reject";
		}
		if (text[0] == '\0')
			strlcpy(text, "Recipient rejected", sizeof(text));
		smtp_g.t_rcpt_rej++;
	}
	metrics_inc(M_SMTP_RECIPIENTS, s->lc->label, code < 300 ? "accepted" :
	    code < 500 ? "tempfailed" : "rejected");
	/* a refusal with its text, the reason (SPF, the callback's answer) */
	SLOG(s, "event=rcpt to=<%s> result=%s code=%d enhanced=%s%s%s%s",
	    log_addr(logb, sizeof(logb), tx->pending.addr), result, code,
	    enh, code < 400 ? "" : " (", code < 400 ? "" : text,
	    code < 400 ? "" : ")");
	session_reply(s, "%d %s %s", code, enh, text);
	if (code >= 500)
		(void)junk_count(s);
	session_resume(s);
}

static void
cmd_data(struct session *s, char *args)
{
	if (*args != '\0') {
		session_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->tx == NULL) {
		session_error(s, "503 5.5.1 Need MAIL command");
		return;
	}
	if (s->tx->mode == DM_BDAT) {
		session_error(s, "503 5.5.1 DATA not allowed after BDAT");
		return;
	}
	if (s->tx->nrcpt == 0) {
		session_error(s, "554 5.5.1 No valid recipients");
		return;
	}
	tx_data_start(s);
}

static void
cmd_bdat(struct session *s, char *args)
{
	size_t	 size;
	int	 last;

	if (smtp_bdat_args(args, &size, &last) == -1) {
		/* the chunk cannot be skipped: its bytes would be commands */
		session_reply(s, "501 5.5.4 Syntax: BDAT size [LAST], closing "
		    "connection");
		session_close(s, "bdat-syntax");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_discard = NULL;
	if ((s->lc->flags & LF_TLS_REQUIRE) && !s->tls_on)
		s->bdat_discard = "530 5.7.0 Must issue a STARTTLS command "
		    "first";
	else if (s->ehlo != 2)
		s->bdat_discard = "503 5.5.1 BDAT needs EHLO, not HELO";
	else if (s->tx == NULL)
		s->bdat_discard = "503 5.5.1 Need MAIL command";
	else if (s->tx->mode == DM_DATA)
		s->bdat_discard = "503 5.5.1 BDAT not allowed after DATA";
	else if (s->tx->nrcpt == 0)
		s->bdat_discard = "554 5.5.1 No valid recipients";
	if (s->bdat_discard != NULL) {
		s->state = S_BDAT;
		if (size == 0)
			tx_bdat_input(s);
		return;
	}
	tx_bdat_start(s);
}

static void
cmd_starttls(struct session *s, char *args)
{
	size_t	 discarded;

	if (*args != '\0') {
		session_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls_on) {
		session_error(s, "503 5.5.1 TLS already active");
		return;
	}
	if (s->lc->tls == NULL ||
	    !(s->lc->flags & (LF_STARTTLS | LF_TLS_REQUIRE))) {
		session_error(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	tx_abort(s);
	/* anything pipelined after STARTTLS is plaintext injection */
	discarded = s->ilen - s->ioff;
	s->ioff = s->ilen;
	if (discarded > 0)
		SLOG(s, "event=starttls discarded=%zu", discarded);
	session_reply(s, "220 2.0.0 Ready to start TLS");
	s->state = S_STARTTLS;
}

static void
auth_send(struct session *s, const char *user, const char *pass)
{
	struct authd_auth_req	 req;
	size_t			 i;

	for (i = 0; user[i] != '\0'; i++)
		if ((unsigned char)user[i] < 0x21 || user[i] == 0x7f)
			goto bad;
	for (i = 0; pass[i] != '\0'; i++)
		if ((unsigned char)pass[i] < 0x20 || pass[i] == 0x7f)
			goto bad;
	if (user[0] == '\0' || pass[0] == '\0' || strlen(user) >= 256 ||
	    strlen(pass) >= 256)
		goto bad;
	memset(&req, 0, sizeof(req));
	req.reqid = s->reqid = smtp_reqid(s);
	req.sessid = s->id;
	strlcpy(req.remote_ip, s->ip, sizeof(req.remote_ip));
	strlcpy(req.user, user, sizeof(req.user));
	strlcpy(req.pass, pass, sizeof(req.pass));
	strlcpy(s->login_user, user, sizeof(s->login_user));
	s->state = S_CMD;
	s->wait = W_AUTH;
	backend_auth(&req);
	explicit_bzero(&req, sizeof(req));
	return;
 bad:
	s->state = S_CMD;
	smtp_g.t_auth_fail++;
	SLOG(s, "event=auth result=fail reason=malformed ip=%s", s->ip);
	session_error(s, "535 5.7.8 Authentication credentials invalid");
}

/* base64 into buf; -1 if malformed, -2 if good but too long for buf */
static int
b64_decode(const char *in, char *buf, size_t n)
{
	int	 len;

	if (strcmp(in, "=") == 0) {
		buf[0] = '\0';
		return (0);
	}
	if ((len = b64_pton(in, (unsigned char *)buf, n - 1)) < 0)
		return (b64_pton(in, NULL, 0) < 0 ? -1 : -2);
	buf[len] = '\0';
	return (len);
}

/* the answer to a response b64_decode() refused (RFC 4954 4) */
static void
b64_refused(struct session *s, int len)
{
	s->state = S_CMD;
	if (len == -2)
		session_error(s, "500 5.5.6 Authentication response too long");
	else
		session_error(s, "501 5.5.2 Invalid base64 data");
}

static void
auth_plain(struct session *s, const char *resp)
{
	char	 buf[1024], *authz, *user, *pass;
	int	 len;

	if ((len = b64_decode(resp, buf, sizeof(buf))) < 0) {
		b64_refused(s, len);
		return;
	}
	authz = buf;
	user = memchr(buf, '\0', len);
	pass = user ? memchr(user + 1, '\0', len - (user + 1 - buf)) : NULL;
	if (user == NULL || pass == NULL ||
	    memchr(pass + 1, '\0', len - (pass + 1 - buf)) != NULL) {
		s->state = S_CMD;
		session_error(s, "501 5.5.2 Malformed PLAIN response");
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	user++;
	pass++;
	if (authz[0] != '\0' && strcmp(authz, user) != 0)
		user = "";	/* no proxy authorization */
	auth_send(s, user, pass);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * The LOGIN user name, base64, from AUTH LOGIN or its first response:
 * one with a NUL in it or too long to keep would be taken cut short, a
 * name the client did not give, so it ends the exchange, 501, whichever
 * way it came.  Else the password is asked for.
 */
static void
auth_login_user(struct session *s, const char *b64)
{
	char	 buf[512];
	int	 len;

	len = b64_decode(b64, buf, sizeof(buf));
	if (len == -1)
		b64_refused(s, len);
	else if (len <= 0 || (size_t)len != strlen(buf) ||
	    (size_t)len >= sizeof(s->login_user)) {
		s->state = S_CMD;
		session_error(s, "501 5.5.4 Malformed LOGIN user name");
	} else {
		memcpy(s->login_user, buf, len + 1);
		s->state = S_AUTH_PASS;
		session_reply(s, "334 UGFzc3dvcmQ6");
	}
	explicit_bzero(buf, sizeof(buf));
}

static void
cmd_auth(struct session *s, char *args)
{
	char	*mech, *ir;

	if (!(s->lc->flags & LF_AUTH)) {
		session_error(s, "503 5.5.1 AUTH not available");
		return;
	}
	if (!s->tls_on) {
		session_error(s, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (s->ehlo != 2) {
		session_error(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->authenticated) {
		session_error(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->tx != NULL) {
		session_error(s, "503 5.5.1 AUTH not allowed during a "
		    "transaction");
		return;
	}
	mech = strsep(&args, " ");
	ir = args;
	if (*mech == '\0' ||
	    (ir != NULL && (*ir == '\0' || strchr(ir, ' ') != NULL))) {
		session_error(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0) {
		if (ir == NULL) {
			s->state = S_AUTH_PLAIN;
			session_reply(s, "334 ");
		} else
			auth_plain(s, ir);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (ir == NULL) {
			s->state = S_AUTH_USER;
			session_reply(s, "334 VXNlcm5hbWU6");
		} else
			auth_login_user(s, ir);
	} else
		session_error(s, "504 5.5.4 Unrecognized authentication "
		    "type");
}

void
auth_continue(struct session *s, char *line)
{
	char	 buf[512];
	int	 len;

	if (strcmp(line, "*") == 0) {
		s->state = S_CMD;
		session_error(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (s->state == S_AUTH_PLAIN) {
		auth_plain(s, line);
		return;
	}
	if (s->state == S_AUTH_USER) {
		auth_login_user(s, line);
		return;
	}
	len = b64_decode(line, buf, sizeof(buf));
	if (len < 0)
		b64_refused(s, len);
	else if (len == 0 || (size_t)len != strlen(buf)) {
		s->state = S_CMD;
		session_error(s, "501 5.5.2 Invalid base64 data");
	} else {
		char user[256];

		strlcpy(user, s->login_user, sizeof(user));
		auth_send(s, user, buf);
	}
	explicit_bzero(buf, sizeof(buf));
}

void
session_auth_verdict(struct session *s, const struct authd_auth_res *res)
{
	char	 logb[256];

	if (s->wait != W_AUTH || s->reqid != res->reqid)
		return;
	s->wait = W_NONE;
	log_sanitize(logb, sizeof(logb), s->login_user);
	switch (res->result) {
	case AUTH_OK:
		s->authenticated = 1;
		strlcpy(s->auth_user, s->login_user, sizeof(s->auth_user));
		smtp_g.t_auth_ok++;
		SLOG(s, "event=auth user=%s result=ok", logb);
		session_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_TEMPFAIL:
		SLOG(s, "event=auth user=%s result=tempfail", logb);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	case AUTH_THROTTLED:
		smtp_g.t_auth_fail++;
		SLOG(s, "event=auth user=%s result=throttled ip=%s", logb,
		    s->ip);
		session_reply(s, "421 4.7.0 %s Too many authentication "
		    "failures", s->lc->hostname);
		session_close(s, "auth-throttled");
		break;
	default:
		smtp_g.t_auth_fail++;
		SLOG(s, "event=auth user=%s result=fail ip=%s", logb, s->ip);
		session_error(s, "535 5.7.8 Authentication credentials "
		    "invalid");
		break;
	}
	explicit_bzero(s->login_user, sizeof(s->login_user));
	session_resume(s);
}

static int
tls_gate(struct session *s, int verb)
{
	if (!(s->lc->flags & LF_TLS_REQUIRE) || s->tls_on)
		return (0);
	switch (verb) {
	case CMD_EHLO:
	case CMD_HELO:
	case CMD_STARTTLS:
	case CMD_QUIT:
	case CMD_NOOP:
	case CMD_RSET:
	case CMD_HELP:
	case CMD_BDAT:		/* its chunk is read and refused (cmd_bdat) */
		return (0);
	default:
		session_error(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first");
		return (1);
	}
}

/*
 * NOOP, RSET, HELP and VRFY move no transaction on, nor does a recipient
 * refused with a 5xx: a client may send limit junk-commands of them
 * (default 100, as Postfix's smtpd_junk_command_limit) between messages,
 * then the session is closed, so it cannot keep itself alive until the
 * session timeout with them, nor try addresses one after the other (a
 * directory harvest).  1 when this one was over the limit.
 */
static int
junk_count(struct session *s)
{
	if (s->conf->max_junk <= 0 || ++s->junk <= s->conf->max_junk)
		return (0);
	SLOG(s, "event=junk-commands count=%d ip=%s", s->junk - 1,
	    s->ip);
	session_reply(s, "421 4.7.0 %s Too many commands without a "
	    "message, closing connection", s->lc->hostname);
	session_close(s, "junk-commands");
	return (1);
}

static int
junk_gate(struct session *s, int verb)
{
	if (verb != CMD_NOOP && verb != CMD_RSET && verb != CMD_HELP &&
	    verb != CMD_VRFY)
		return (0);
	return (junk_count(s));
}

static void
command_run(struct session *s, int verb, char *args)
{
	switch (verb) {
	case CMD_HELO:
	case CMD_EHLO:
		cmd_helo(s, args, verb == CMD_EHLO);
		break;
	case CMD_MAIL:
		cmd_mail(s, args);
		break;
	case CMD_RCPT:
		cmd_rcpt(s, args);
		break;
	case CMD_DATA:
		cmd_data(s, args);
		break;
	case CMD_BDAT:
		cmd_bdat(s, args);
		break;
	case CMD_RSET:
		/* "RSET" CRLF (RFC 5321 4.1.1.5), as DATA */
		if (*args != '\0') {
			session_error(s, "501 5.5.4 Syntax: RSET");
			break;
		}
		tx_abort(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case CMD_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case CMD_QUIT:
		session_reply(s, "221 2.0.0 %s Bye", s->lc->hostname);
		session_close(s, "quit");
		break;
	case CMD_HELP:
		session_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT "
		    "DATA BDAT RSET NOOP QUIT HELP VRFY%s%s",
		    offers_starttls(s) ? " STARTTLS" : "",
		    offers_auth(s) ? " AUTH" : "");
		break;
	case CMD_VRFY:
		if (*args == '\0')	/* "VRFY" SP String (RFC 5321 4.1.1.6) */
			session_error(s, "501 5.5.4 Syntax: VRFY address");
		else
			session_reply(s, "252 2.5.0 Cannot VRFY user, but will "
			    "accept message and attempt delivery");
		break;
	case CMD_EXPN:
		session_error(s, "502 5.5.1 EXPN not implemented");
		break;
	case CMD_STARTTLS:
		cmd_starttls(s, args);
		break;
	case CMD_AUTH:
		cmd_auth(s, args);
		break;
	default:
		session_error(s, "500 5.5.1 Command unrecognized");
		break;
	}
}

void
session_command(struct session *s, char *line)
{
	char	*args;
	size_t	 n;
	int	 verb;

	/* trailing white space is tolerated (RFC 5321 4.1.1) */
	n = strlen(line);
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	verb = smtp_cmd_parse(line, &args);
	if (!tls_gate(s, verb) && !junk_gate(s, verb))
		command_run(s, verb, args);
	/* DATA refused at once (a refusal after a spool open: smtp_tx.c) */
	if (verb == CMD_DATA && s->state == S_CMD && s->wait == W_NONE)
		session_data_refused(s);
}

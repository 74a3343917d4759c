/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The mail transaction: spool files from their owners (hookd for routes
 * and bounces, relayd for relaying), the Received: header, DATA and BDAT
 * into the files, the envelope and the commit, and the final reply.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <jansson.h>

#include "enhanced.h"
#include "fileio.h"
#include "log.h"
#include "metrics.h"
#include "msghdr.h"
#include "smtp.h"
#include "smtp_backend.h"
#include "smtpd.h"

int
tx_owner_index(int owner)
{
	if (owner == PROC_HOOKD)
		return (0);
	if (owner == PROC_RELAYD)
		return (1);
	return (-1);
}

static void	message_end(struct session *, int, int, size_t);
static void	spool_begin(struct session *);

static int
dest_index(int dest)
{
	return (dest == DEST_RELAY ? 1 : 0);
}

/*
 * Spare message files.  A spool open is a round trip through its owner,
 * a busy process, between DATA and its 354 (or BDAT and its chunk).  So
 * smtpd keeps up to MH_SPARE_FILES files of each owner opened ahead: a
 * transaction takes one at once and asks for another in its place.
 * Spares are asked for once a transaction has needed a file of that
 * owner, so an owner nobody sends to has none.  A spare is a file in
 * its owner's incoming/ that was never committed: should smtpd go away,
 * the owner removes it at its next start, as any uncommitted file.
 * Their requests carry session id 0, which no session has.
 */
static struct spares {
	int		 fd[MH_SPARE_FILES];
	char		 msgid[MH_SPARE_FILES][MH_MSGID_LEN];
	int		 n;		/* in fd[] */
	int		 asked;		/* asked for, not answered yet */
	uint16_t	 seq;
} spares[TX_OWNERS];
static unsigned long long spares_taken;

/* owner k's spares asked for up to MH_SPARE_FILES */
static void
spare_ask(int k, int owner)
{
	struct spool_open	 so;

	while (spares[k].n + spares[k].asked < MH_SPARE_FILES) {
		memset(&so, 0, sizeof(so));
		so.reqid = ++spares[k].seq;
		spares[k].asked++;
		backend_spool_open(owner, &so);
	}
}

/* a spare of so's owner into so: 1, or 0 when there is none */
static int
spare_take(struct spool_out *so)
{
	struct spares	*sp = &spares[tx_owner_index(so->owner)];

	if (sp->n == 0)
		return (0);
	sp->n--;
	spares_taken++;
	so->state = SO_OPEN;
	so->fd = sp->fd[sp->n];
	strlcpy(so->msgid, sp->msgid[sp->n], sizeof(so->msgid));
	return (1);
}

/* for smtp_stats(): the spares held and how many were taken */
json_t *
tx_spares_json(void)
{
	return (json_pack("{s:i, s:i, s:I}", "hookd", spares[0].n,
	    "relayd", spares[1].n, "taken", (json_int_t)spares_taken));
}

int
tx_spare_reqid(uint64_t reqid)
{
	return ((reqid >> 16) == 0);
}

/* an owner's answer to a spare's request */
void
tx_spare_fd(int owner, const struct spool_fd *sf, int fd)
{
	struct spares	*sp;
	int		 k;

	if ((k = tx_owner_index(owner)) == -1) {
		tx_spool_giveback(-1, sf, fd);
		return;
	}
	sp = &spares[k];
	if (sp->asked > 0)
		sp->asked--;
	/* a file whose descriptor was lost on the way goes back too */
	if (!sf->ok || fd == -1 || sp->n == MH_SPARE_FILES) {
		tx_spool_giveback(owner, sf, fd);
		return;
	}
	/* smtpd_dispatch() checked the id */
	sp->fd[sp->n] = fd;
	strlcpy(sp->msgid[sp->n], sf->msgid, sizeof(sp->msgid[sp->n]));
	sp->n++;
}

int
tx_new(struct session *s)
{
	struct smtp_tx	*tx;
	int		 i;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return (-1);
	tx->so[0].owner = PROC_HOOKD;
	tx->so[1].owner = PROC_RELAYD;
	for (i = 0; i < TX_OWNERS; i++) {
		tx->so[i].fd = -1;
		tx->so[i].crc = crc32(0L, Z_NULL, 0);
	}
	s->tx = tx;
	return (0);
}

void
tx_free(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	int		 i;

	if (tx == NULL)
		return;
	for (i = 0; i < TX_OWNERS; i++) {
		if (tx->so[i].fd != -1)
			close(tx->so[i].fd);
		free(tx->so[i].buf);
	}
	if (tx->has_files)
		smtp_g.tx_files--;
	free(tx->rcpts);
	rcpt_set_free(tx);
	free(tx);
	s->tx = NULL;
	if (s->wait == W_SPOOL_OPEN || s->wait == W_COMMIT ||
	    s->wait == W_RCPT)
		s->wait = W_NONE;
}

/* give back the open spool files; files still being opened come back
 * later with an unknown reqid and are aborted then */
void
tx_abort(struct session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct spool_abort	 sa;
	char			 logb[LOG_ADDR_MAX];
	int			 i, aborted = 0;

	if (tx == NULL)
		return;
	for (i = 0; i < TX_OWNERS; i++) {
		if (tx->so[i].state != SO_OPEN)
			continue;
		memset(&sa, 0, sizeof(sa));
		strlcpy(sa.msgid, tx->so[i].msgid, sizeof(sa.msgid));
		backend_spool_abort(tx->so[i].owner, &sa);
		aborted = 1;
	}
	if (aborted || tx->mode != DM_NONE)
		SLOG(s, "event=abort msgid=%s from=<%s>", tx->msgid[0] ?
		    tx->msgid : "-", log_addr(logb, sizeof(logb),
		    tx->sender));
	tx_free(s);
}

/*
 * The transaction cannot have its files: DATA answered, or BDAT's chunk
 * discarded with that answer; the transaction ends.  An empty chunk
 * ("BDAT 0", "BDAT 0 LAST") has no bytes to come that would end it: it
 * ends now.
 */
static void
spool_refuse(struct session *s, const char *reply)
{
	if (s->tx->mode == DM_BDAT) {
		s->bdat_discard = reply;
		s->state = S_BDAT;
	} else
		session_reply(s, "%s", reply);
	tx_abort(s);
	if (s->state == S_BDAT && s->bdat_left == 0)
		tx_bdat_input(s);
	else if (s->state == S_CMD)
		session_data_refused(s);
}

/*
 * The descriptors kept for message files (smtp.c fd_budget) are all
 * taken: a temporary failure, before anything is opened.
 */
static int
spool_files_busy(struct session *s)
{
	if (smtp_g.tx_files < smtp_g.fd_tx)
		return (0);
	SLOG(s, "event=spool result=busy files=%d", smtp_g.tx_files);
	spool_refuse(s, "452 4.3.1 Insufficient system resources, try again "
	    "later");
	return (1);
}

static void
spool_open_all(struct session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct spool_open	 so;
	size_t			 i;
	int			 need[TX_OWNERS] = { 0, 0 }, k, opening = 0;

	if (spool_files_busy(s))
		return;
	tx->has_files = 1;
	smtp_g.tx_files++;
	for (i = 0; i < tx->nrcpt; i++)
		need[dest_index(tx->rcpts[i].dest)] = 1;
	s->wait = W_SPOOL_OPEN;
	for (k = 0; k < TX_OWNERS; k++) {
		if (!need[k])
			continue;
		if (!spare_take(&tx->so[k])) {
			tx->so[k].state = SO_OPENING;
			tx->so[k].reqid = smtp_reqid(s);
			memset(&so, 0, sizeof(so));
			so.reqid = tx->so[k].reqid;
			backend_spool_open(tx->so[k].owner, &so);
			opening = 1;
		}
		spare_ask(k, tx->so[k].owner);
	}
	/* all from spares: on at once, inside the command */
	if (!opening)
		spool_begin(s);
}

void
tx_data_start(struct session *s)
{
	s->tx->mode = DM_DATA;
	spool_open_all(s);
}

void
tx_bdat_start(struct session *s)
{
	struct smtp_tx	*tx = s->tx;

	if (tx->mode == DM_BDAT) {
		s->state = S_BDAT;
		if (s->bdat_left == 0)
			tx_bdat_input(s);
		return;
	}
	tx->mode = DM_BDAT;
	spool_open_all(s);
}

/*
 * The buffer into the file.  For hookd, the CRC-32 of exactly what was
 * written, while it is in memory: sent with the commit, hookd's
 * envelope records it (data-check) so that recovery after a crash can
 * tell a file whose data never reached the disk, and hookd need not
 * read the file again to compute it.
 */
static int
spool_flush(struct spool_out *so)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < so->len) {
		n = write(so->fd, so->buf + off, so->len - off);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			so->werr = errno;
			so->len = 0;
			return (-1);
		}
		/* n <= SSIZE_MAX and Linux writes at most 2 GiB: a uInt */
		if (so->owner == PROC_HOOKD)
			so->crc = crc32(so->crc,
			    (const unsigned char *)so->buf + off, (uInt)n);
		so->written += n;
		off += n;
	}
	so->len = 0;
	return (0);
}

static void
spool_write(struct session *s, const char *p, size_t len)
{
	struct spool_out	*so;
	int			 i;

	for (i = 0; i < TX_OWNERS; i++) {
		so = &s->tx->so[i];
		if (so->state != SO_OPEN || so->werr)
			continue;
		if (so->buf == NULL &&
		    (so->buf = malloc(SMTP_SPOOL_BUF)) == NULL) {
			so->werr = ENOMEM;
			continue;
		}
		if (so->len + len > SMTP_SPOOL_BUF && spool_flush(so) == -1)
			continue;
		if (len > SMTP_SPOOL_BUF) {
			char	*save = so->buf;

			so->buf = (char *)p;
			so->len = len;
			(void)spool_flush(so);
			so->buf = save;
			continue;
		}
		memcpy(so->buf + so->len, p, len);
		so->len += len;
	}
}

static void
data_out(void *arg, const char *p, size_t len)
{
	struct session	*s = arg;

	hops_scan(&s->tx->hops, p, len);
	spool_write(s, p, len);
}

static const char *
protocol_name(struct session *s)
{
	static char	 buf[16];

	if (s->ehlo != 2)
		return ("SMTP");
	snprintf(buf, sizeof(buf), "%s%s%s",
	    s->tx->mp.smtputf8 ? "UTF8SMTP" : "ESMTP",
	    s->tls_on ? "S" : "", s->authenticated ? "A" : "");
	return (buf);
}

/*
 * The client's EHLO name where Received: wants a domain or an address
 * literal (RFC 5321 4.4): any other byte becomes '?', so that a name
 * cannot add a comment, a ';' and a date of its own.
 */
static void
domain_safe(char *dst, size_t n, const char *src)
{
	size_t	 i;

	strlcpy(dst, src, n);
	for (i = 0; dst[i] != '\0'; i++)
		if (!isalnum((unsigned char)dst[i]) &&
		    strchr("-._:[]", dst[i]) == NULL)
			dst[i] = '?';
}

static void
write_received(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	char		 hdr[2048], date[64], tlsc[160] = "";
	char		 helo[sizeof(s->helo)];
	char		 forc[MH_ADDR_MAX + 16] = "";
	int		 n;

	msghdr_date(date, sizeof(date), time(NULL));
	if (s->tls_on)
		snprintf(tlsc, sizeof(tlsc), "\r\n\t(using %s with cipher %s)",
		    s->tls_version, s->tls_cipher);
	/*
	 * No login name: the field travels with the message to every
	 * recipient, and "ESMTPSA" says enough (the envelope's auth-user
	 * and the log keep who it was; Postfix's
	 * smtpd_sasl_authenticated_header is off by default too)
	 */
	/*
	 * A quoted local part may hold ';' (the field's end before its
	 * date) or '<', '>', '(', ')' (an angle-addr's or a comment's
	 * bounds): valid, but a reader splitting the field there would
	 * take the rest for the date; no "for" clause then
	 */
	if (tx->nrcpt == 1 && strpbrk(tx->rcpts[0].addr, ";<>()") == NULL)
		snprintf(forc, sizeof(forc), "\r\n\tfor <%s>",
		    tx->rcpts[0].addr);
	domain_safe(helo, sizeof(helo), s->helo[0] ? s->helo : "unknown");
	/* the client's address as an address literal (RFC 5321 4.1.3) */
	n = snprintf(hdr, sizeof(hdr), "Received: from %s ([%s%s])%s\r\n"
	    "\tby %s (mailhook) with %s id %s%s;\r\n\t%s\r\n",
	    helo, strchr(s->ip, ':') != NULL ? "IPv6:" : "", s->ip, tlsc,
	    s->lc->hostname, protocol_name(s), tx->msgid, forc, date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		spool_write(s, hdr, n);
	/* the header counts in the spool size, not in the message size */
	tx->hdrlen = n > 0 ? n : 0;
}

/* the files are open, or one failed: the 354, BDAT's chunk, or the
 * refusal; the caller resumes the session */
static void
spool_begin(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	int		 i, failed = 0;

	s->wait = W_NONE;
	for (i = 0; i < TX_OWNERS; i++) {
		if (tx->so[i].state == SO_FAILED)
			failed = 1;
		else if (tx->so[i].state == SO_OPEN && tx->msgid[0] == '\0')
			strlcpy(tx->msgid, tx->so[i].msgid, sizeof(tx->msgid));
	}
	if (failed) {
		SLOG(s, "event=spool result=fail");
		spool_refuse(s, "451 4.3.0 Temporary failure, try again "
		    "later");
		return;
	}
	write_received(s);
	if (tx->mode == DM_DATA) {
		data_parser_init(&tx->dp, s->conf->max_size, data_out, s);
		s->state = S_DATA;
		session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	} else {
		s->state = S_BDAT;
		if (s->bdat_left == 0)
			tx_bdat_input(s);
	}
}

static void
spool_ready(struct session *s)
{
	spool_begin(s);
	session_resume(s);
}

/* a file nobody waits for: closed, and an opened one aborted (owner -1:
 * not a spool owner, nothing to abort) */
void
tx_spool_giveback(int owner, const struct spool_fd *sf, int fd)
{
	struct spool_abort	 sa;

	if (fd != -1)
		close(fd);
	if (sf->ok && owner != -1) {
		memset(&sa, 0, sizeof(sa));
		strlcpy(sa.msgid, sf->msgid, sizeof(sa.msgid));
		backend_spool_abort(owner, &sa);
	}
}

void
tx_spool_fd(struct session *s, int owner, const struct spool_fd *sf, int fd)
{
	struct smtp_tx		*tx = s->tx;
	struct spool_out	*so;
	int			 i, k;

	k = tx_owner_index(owner);
	if (tx == NULL || k == -1 || tx->so[k].state != SO_OPENING ||
	    tx->so[k].reqid != sf->reqid) {
		tx_spool_giveback(k != -1 ? owner : -1, sf, fd);
		return;
	}
	so = &tx->so[k];
	/* smtpd_dispatch() checked the id and the fd of an ok */
	if (sf->ok) {
		so->state = SO_OPEN;
		so->fd = fd;
		strlcpy(so->msgid, sf->msgid, sizeof(so->msgid));
	} else {
		so->state = SO_FAILED;
		if (fd != -1)
			close(fd);
	}
	for (i = 0; i < TX_OWNERS; i++)
		if (tx->so[i].state == SO_OPENING)
			return;
	spool_ready(s);
}

void
tx_data_input(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	size_t		 c;

	c = data_parser_feed(&tx->dp, s->ibuf + s->ioff, s->ilen - s->ioff);
	s->ioff += c;
	smtp_g.t_bytes += c;
	if (tx->dp.done)
		message_end(s, tx->dp.errors, tx->dp.eightbit, tx->dp.size);
}

static void
bdat_chunk_end(struct session *s)
{
	struct smtp_tx	*tx = s->tx;

	s->state = S_CMD;
	if (s->bdat_discard != NULL) {
		session_error(s, "%s", s->bdat_discard);
		s->bdat_discard = NULL;
		return;
	}
	if (!s->bdat_last) {
		if (tx->bc.errors & DATA_ERR_SIZE) {
			session_reply(s, "552 5.3.4 Message size exceeds "
			    "fixed maximum message size");
			tx_abort(s);
			return;
		}
		session_reply(s, "250 2.0.0 %zu octets received",
		    tx->bdat_size);
		return;
	}
	bdat_check_end(&tx->bc);
	if (tx->bc.linelen != 0 && tx->bc.errors == 0)
		spool_write(s, "\r\n", 2);
	message_end(s, tx->bc.errors, tx->bc.eightbit, tx->bdat_size);
}

void
tx_bdat_input(struct session *s)
{
	struct smtp_tx	*tx = s->tx;
	const char	*p = s->ibuf ? s->ibuf + s->ioff : NULL;
	size_t		 n = s->ibuf ? s->ilen - s->ioff : 0;

	if (n > s->bdat_left)
		n = s->bdat_left;
	if (n > 0 && tx != NULL && s->bdat_discard == NULL) {
		bdat_check(&tx->bc, p, n);
		hops_scan(&tx->hops, p, n);
		tx->bdat_size += n;
		if (s->conf->max_size > 0 && tx->bdat_size > s->conf->max_size)
			tx->bc.errors |= DATA_ERR_SIZE;
		if (tx->bc.errors == 0)
			spool_write(s, p, n);
	}
	s->ioff += n;
	s->bdat_left -= n;
	smtp_g.t_bytes += n;
	if (s->bdat_left == 0)
		bdat_chunk_end(s);
}

static char *
envelope_text(struct session *s, struct spool_out *so, size_t size,
    int force, size_t *len)
{
	struct smtp_tx		*tx = s->tx;
	struct envelope		 env;
	struct envelope_rcpt	*r;
	char			*text;
	size_t			 i;
	int			 k = tx_owner_index(so->owner);

	envelope_init(&env);
	strlcpy(env.id, so->msgid, sizeof(env.id));
	strlcpy(env.sender, tx->sender, sizeof(env.sender));
	strlcpy(env.helo, s->helo, sizeof(env.helo));
	strlcpy(env.remote_ip, s->ip, sizeof(env.remote_ip));
	strlcpy(env.spf_result, tx->spf_result, sizeof(env.spf_result));
	strlcpy(env.spf_domain, tx->spf_domain, sizeof(env.spf_domain));
	strlcpy(env.spf_seal, tx->spf_seal, sizeof(env.spf_seal));
	snprintf(env.session, sizeof(env.session), "%016llx",
	    (unsigned long long)s->id);
	env.tls = s->tls_on;
	if (s->tls_on) {
		strlcpy(env.tls_version, s->tls_version,
		    sizeof(env.tls_version));
		strlcpy(env.tls_cipher, s->tls_cipher, sizeof(env.tls_cipher));
	}
	strlcpy(env.auth_user, s->auth_user, sizeof(env.auth_user));
	env.size_declared = tx->mp.size;
	env.size = size;
	env.body_8bit = tx->mp.body_8bit;
	env.smtputf8 = tx->mp.smtputf8;
	strlcpy(env.dsn_ret, tx->mp.ret, sizeof(env.dsn_ret));
	strlcpy(env.dsn_envid, tx->mp.envid, sizeof(env.dsn_envid));
	env.force_queue = force;
	for (i = 0; i < tx->nrcpt; i++) {
		if (dest_index(tx->rcpts[i].dest) != k)
			continue;
		if ((r = envelope_add_rcpt(&env, tx->rcpts[i].addr)) == NULL) {
			envelope_clear(&env);
			return (NULL);
		}
		strlcpy(r->orcpt, tx->rcpts[i].orcpt, sizeof(r->orcpt));
		r->notify = tx->rcpts[i].notify;
		r->dest = tx->rcpts[i].dest;
		r->route = tx->rcpts[i].route;
		strlcpy(r->seal, tx->rcpts[i].seal, sizeof(r->seal));
	}
	if ((text = envelope_encode(&env, len)) == NULL)
		log_warnx("envelope cannot be encoded: %s", envelope_error());
	envelope_clear(&env);
	return (text);
}

static int
force_queue(struct smtp_tx *tx)
{
	size_t	 i;
	int	 owners = 0, k;
	int	 route_seen = 0;
	uint32_t route = 0;

	for (k = 0; k < TX_OWNERS; k++)
		if (tx->so[k].state == SO_OPEN)
			owners++;
	if (owners > 1)
		return (1);
	for (i = 0; i < tx->nrcpt; i++) {
		if (tx->rcpts[i].dest != DEST_ROUTE)
			continue;
		if (route_seen && tx->rcpts[i].route != route)
			return (1);
		route = tx->rcpts[i].route;
		route_seen = 1;
	}
	return (0);
}

static void
message_reject(struct session *s, int errors, size_t size)
{
	const char	*reply, *why;
	char		 logb[LOG_ADDR_MAX], hops[96];

	if (errors & DATA_ERR_SIZE) {
		reply = "552 5.3.4 Message size exceeds fixed maximum "
		    "message size";
		why = "size";
	} else if (errors & DATA_ERR_BARE) {
		reply = "550 5.6.11 Message contains bare CR or LF";
		why = "bare-cr-lf";
	} else if (errors & DATA_ERR_LONG) {
		reply = "500 5.5.2 Line too long in message (max 1000 "
		    "octets)";
		why = "line-too-long";
	} else if (errors & DATA_ERR_NUL) {
		reply = "550 5.6.0 Message contains NUL characters";
		why = "nul";
	} else {
		(void)snprintf(hops, sizeof(hops), "554 5.4.6 Too many "
		    "hops: a mail loop (more than %d Received: header "
		    "fields)", MSG_HOPS_MAX);
		reply = hops;
		why = "hops";
	}
	smtp_g.t_rejected++;
	metrics_inc(M_SMTP_MESSAGES, s->lc->label, "rejected");
	SLOG(s, "event=message msgid=%s size=%zu result=reject code=%d "
	    "reason=%s from=<%s> ip=%s", s->tx->msgid, size, atoi(reply), why,
	    log_addr(logb, sizeof(logb), s->tx->sender), s->ip);
	session_reply(s, "%s", reply);
	tx_abort(s);
}

static void
message_end(struct session *s, int errors, int eightbit, size_t size)
{
	struct smtp_tx		*tx = s->tx;
	struct spool_commit	 sc;
	struct spool_out	*so;
	char			*text;
	const char		*enh, *etext;
	size_t			 len, hdrlen = tx->hdrlen;
	int			 k, force, code;

	s->state = S_CMD;
	if (tx->hops.hops > MSG_HOPS_MAX)
		errors |= DATA_ERR_HOPS;
	if (errors) {
		message_reject(s, errors, size);
		return;
	}
	for (k = 0; k < TX_OWNERS; k++) {
		so = &tx->so[k];
		/* a pooled file may have been longer: zeros, cut off */
		if (so->state == SO_OPEN && !so->werr &&
		    spool_flush(so) == 0 &&
		    file_cut(so->fd, (off_t)so->written) == -1)
			so->werr = errno;
		if (so->state == SO_OPEN && so->werr) {
			code = enhanced_spool_error(so->werr, &enh, &etext);
			/* the message's line, as its other outcomes have */
			log_warnx("session=%012llx event=message msgid=%s "
			    "result=%s code=%d error=\"spool write: %s\"",
			    (unsigned long long)s->id, so->msgid,
			    code < 500 ? "tempfail" : "reject", code,
			    strerror(so->werr));
			session_reply(s, "%d %s %s", code, enh, etext);
			tx_abort(s);
			return;
		}
	}
	/*
	 * 8-bit data is 8BITMIME content whether or not the client said
	 * BODY=8BITMIME: so recorded, relayd declares it to the next hop
	 * (RFC 6152 3), as it does for a bounce or an API message
	 */
	if (eightbit)
		tx->mp.body_8bit = 1;
	force = force_queue(tx);
	s->wait = W_COMMIT;
	for (k = 0; k < TX_OWNERS; k++) {
		so = &tx->so[k];
		if (so->state != SO_OPEN)
			continue;
		if ((text = envelope_text(s, so, size + hdrlen, force,
		    &len)) == NULL) {
			log_warnx("session=%012llx event=message msgid=%s "
			    "result=reject code=554 error=\"envelope could not "
			    "be encoded\"", (unsigned long long)s->id,
			    so->msgid);
			s->wait = W_NONE;
			session_reply(s, "554 5.6.0 Envelope could not be "
			    "encoded");
			tx_abort(s);
			return;
		}
		close(so->fd);
		so->fd = -1;
		so->state = SO_COMMITTING;
		so->reqid = smtp_reqid(s);
		memset(&sc, 0, sizeof(sc));
		sc.reqid = so->reqid;
		strlcpy(sc.msgid, so->msgid, sizeof(sc.msgid));
		sc.data_size = so->written;
		sc.data_crc = so->crc;
		backend_spool_commit(so->owner, &sc, text, len);
		free(text);
	}
}

static void
commit_done(struct session *s)
{
	struct smtp_tx		*tx = s->tx;
	struct spool_result	*best = NULL, *r;
	char			 text[256], ids[40] = "", logb[LOG_ADDR_MAX];
	const char		*enh;
	int			 k, code, delivered = 1;

	for (k = 0; k < TX_OWNERS; k++) {
		if (tx->so[k].state != SO_DONE)
			continue;
		r = &tx->so[k].res;
		if (r->code < 200 || r->code > 599)
			r->code = 451;
		if (best == NULL || r->code / 100 > best->code / 100)
			best = r;
		delivered &= r->delivered;
		if (ids[0] != '\0')
			strlcat(ids, ",", sizeof(ids));
		strlcat(ids, tx->so[k].msgid, sizeof(ids));
	}
	if (best == NULL) {
		session_reply(s, "451 4.3.0 Internal error");
		tx_free(s);
		return;
	}
	code = best->code;
	smtp_safe(text, sizeof(text), best->text);
	enh = enhanced_ok(best->enhanced, code / 100) ? best->enhanced :
	    code < 300 ? "2.0.0" : code < 500 ? "4.3.0" : "5.3.0";
	if (text[0] == '\0')
		snprintf(text, sizeof(text), code < 300 ? "Ok: queued as %s" :
		    "Message not accepted", tx->msgid);
	if (code < 300) {
		smtp_g.t_messages++;
		s->junk = 0;
	} else
		smtp_g.t_rejected++;
	metrics_inc(M_SMTP_MESSAGES, s->lc->label, code < 300 ? "accepted" :
	    code < 500 ? "tempfailed" : "rejected");
	/* the sender and client with the id: one grep finds them */
	SLOG(s, "event=message msgid=%s rcpts=%zu result=%s code=%d "
	    "from=<%s> ip=%s", ids, tx->nrcpt, code < 300 ? (delivered ?
	    "delivered" : "queued") : code < 500 ? "tempfail" : "reject", code,
	    log_addr(logb, sizeof(logb), tx->sender), s->ip);
	session_reply(s, "%d %s %s", code, enh, text);
	tx_free(s);
}

void
tx_spool_result(struct session *s, int owner, const struct spool_result *sr)
{
	struct smtp_tx	*tx = s->tx;
	int		 k, i;

	k = tx_owner_index(owner);
	if (tx == NULL || k == -1 || tx->so[k].state != SO_COMMITTING ||
	    tx->so[k].reqid != sr->reqid || s->wait != W_COMMIT)
		return;
	tx->so[k].res = *sr;
	tx->so[k].state = SO_DONE;
	for (i = 0; i < TX_OWNERS; i++)
		if (tx->so[i].state == SO_COMMITTING)
			return;
	s->wait = W_NONE;
	commit_done(s);
	session_resume(s);
}

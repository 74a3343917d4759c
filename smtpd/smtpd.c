/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The smtpd process: the SMTP engine (smtp.c) wired to its peers.  The
 * engine's backend requests become imsgs to authd, hookd and relayd, and
 * their answers, size-checked, go back into the engine.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tls.h>

#include "child.h"
#include "log.h"
#include "smtp.h"
#include "smtp_backend.h"


void
backend_rcpt(const struct authd_rcpt_req *req)
{
	mproc_compose(proc_peer[PROC_AUTHD], IMSG_AUTHD_RCPT_REQ, 0, -1, req,
	    sizeof(*req));
}

void
backend_rcpt_cancel(uint64_t reqid)
{
	struct authd_rcpt_cancel	 c;

	memset(&c, 0, sizeof(c));
	c.reqid = reqid;
	mproc_compose(proc_peer[PROC_AUTHD], IMSG_AUTHD_RCPT_CANCEL, 0, -1,
	    &c, sizeof(c));
}

void
backend_auth(const struct authd_auth_req *req)
{
	mproc_compose(proc_peer[PROC_AUTHD], IMSG_AUTHD_AUTH_REQ, 0, -1, req,
	    sizeof(*req));
}

void
backend_spool_open(int owner, const struct spool_open *req)
{
	mproc_compose(proc_peer[owner], IMSG_SPOOL_OPEN, 0, -1, req,
	    sizeof(*req));
}

void
backend_spool_commit(int owner, const struct spool_commit *req,
    const char *env, size_t len)
{
	mproc_compose2(proc_peer[owner], IMSG_SPOOL_COMMIT, 0, -1, req,
	    sizeof(*req), env, len);
}

void
backend_spool_abort(int owner, const struct spool_abort *req)
{
	mproc_compose(proc_peer[owner], IMSG_SPOOL_ABORT, 0, -1, req,
	    sizeof(*req));
}

static void
smtpd_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	struct authd_rcpt_res	*rr;
	struct authd_auth_res	*ar;
	struct spool_fd		*sf;
	struct spool_result	*sr;

	switch (imsg->hdr.type) {
	case IMSG_AUTHD_RCPT_RES:
		if (p->proc != PROC_AUTHD)
			break;
		rr = msg_get(p, imsg, sizeof(*rr));
		if (!msg_str_ok(rr->enhanced, sizeof(rr->enhanced)) ||
		    !msg_str_ok(rr->text, sizeof(rr->text)) ||
		    !msg_str_ok(rr->spf_result, sizeof(rr->spf_result)) ||
		    !msg_str_ok(rr->spf_domain, sizeof(rr->spf_domain)) ||
		    !msg_str_ok(rr->seal, sizeof(rr->seal)) ||
		    !msg_str_ok(rr->spf_seal, sizeof(rr->spf_seal)) ||
		    rr->code < 200 || rr->code > 599 ||
		    rr->verdict < RCPT_ACCEPT || rr->verdict > RCPT_TEMPFAIL ||
		    (rr->verdict == RCPT_ACCEPT && (rr->dest < DEST_ROUTE ||
		    rr->dest > DEST_BOUNCE)))
			fatalx("malformed RCPT_RES from authd");
		smtp_rcpt_verdict(rr);
		return;
	case IMSG_AUTHD_AUTH_RES:
		if (p->proc != PROC_AUTHD)
			break;
		ar = msg_get(p, imsg, sizeof(*ar));
		if (ar->result < AUTH_OK || ar->result > AUTH_THROTTLED)
			fatalx("malformed AUTH_RES from authd");
		smtp_auth_verdict(ar);
		return;
	case IMSG_SPOOL_FD:
		if (p->proc != PROC_HOOKD && p->proc != PROC_RELAYD)
			break;
		sf = msg_get(p, imsg, sizeof(*sf));
		/* the id names the owner's spool file: nothing else */
		if (sf->ok && (!msg_str_ok(sf->msgid, sizeof(sf->msgid)) ||
		    !envelope_id_ok(sf->msgid)))
			fatalx("malformed SPOOL_FD from %s", p->name);
		/*
		 * lost on the way (no descriptor left): this transaction
		 * fails
		 */
		if (sf->ok && imsg->fd == -1)
			log_warnx("message file %s from %s lost: "
			    "descriptor limit?", sf->msgid, p->name);
		smtp_spool_fd(p->proc, sf, imsg->fd);
		return;
	case IMSG_SPOOL_RESULT:
		if (p->proc != PROC_HOOKD && p->proc != PROC_RELAYD)
			break;
		sr = msg_get(p, imsg, sizeof(*sr));
		if (!msg_str_ok(sr->msgid, sizeof(sr->msgid)) ||
		    (sr->msgid[0] != '\0' && !envelope_id_ok(sr->msgid)) ||
		    !msg_str_ok(sr->enhanced, sizeof(sr->enhanced)) ||
		    !msg_str_ok(sr->text, sizeof(sr->text)) ||
		    sr->code < 200 || sr->code > 599)
			fatalx("malformed SPOOL_RESULT from %s",
			    p->name);
		smtp_spool_result(p->proc, sr);
		return;
	}
	fatalx("unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

static void
smtpd_preinit(const struct config *conf)
{
	if (tls_init() == -1)
		fatalx("tls_init");
	if (smtp_init(proc_base, conf) == -1)
		fatalx("smtp_init");
}

static int	smtpd_configured;

/*
 * The SMTP engine refuses a new config only when it cannot build its TLS
 * contexts or is out of memory: the parent has already built every pki it
 * sends here with the same function, library and ciphers
 * (config_load_files(), pki_usable()) and refused the reload otherwise,
 * so only memory remains.  Going on with the old config while the
 * acknowledgement says the new one is applied would leave mhctl reload
 * answering "reloaded" for a config not in use: the process stops
 * instead, and the daemon with it, as for any child dying.
 */
static void
smtpd_configure(struct config *conf)
{
	/* the first config went to smtp_init */
	if (smtpd_configured++ && smtp_configure(conf) == -1)
		fatalx("the SMTP engine cannot apply the new configuration");
	/* limit greeting-delay, session-timeout, errors */
	smtp_tune(conf->greeting_delay_ms, conf->session_timeout,
	    conf->max_errors);
}

static void
smtpd_listener(int fd, uint32_t id)
{
	if (smtp_listen(fd, id) == -1)
		fatalx("cannot serve listener %u", id);
}

static json_t *
smtpd_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	switch (cmd->id) {
	case CTL_PAUSE_SMTP:
	case CTL_RESUME_SMTP:
		smtp_pause(cmd->id == CTL_PAUSE_SMTP);
		return (json_pack("{s:s}", "smtp", cmd->id == CTL_PAUSE_SMTP ?
		    "paused" : "running"));
	case CTL_SHOW_STATS:
		return (smtp_stats());
	default:
		return (NULL);
	}
}

/*
 * A stop (SIGTERM, or a peer gone): every client is told 421 rather than
 * left with a closed connection.  One whose message (or recipient) is
 * being decided gets that answer first if it comes within
 * SMTPD_STOP_WAIT, or before every peer is gone: a message hookd or
 * relayd has committed is answered 250, not 421, so the client does not
 * send it again, and a mode sync POST hookd waits for (HOOKD_STOP_WAIT)
 * gives its verdict.  At the bound the rest get 421: such a message may
 * have been committed, or its POST made, and comes again with the
 * client's retry.
 */
#define SMTPD_STOP_WAIT		5	/* seconds, hookd's wait and more */

/* the sessions still waiting for an answer one of our peers may give */
static int
smtpd_drain_busy(void)
{
	int	i;

	for (i = PROC_PARENT + 1; i < PROC_CONTROL; i++)
		if (proc_peer[i] != NULL && !proc_peer[i]->closed)
			return (smtp_sessions());
	return (0);
}

static void
smtpd_drain_late(int n)
{
	if ((n = smtp_sessions()) > 0) {
		log_warnx("stopping: %d session%s told 421 without their "
		    "answer", n, n == 1 ? "" : "s");
		smtp_shutdown();
	}
}

static int
smtpd_drain(void)
{
	if (smtp_stop() == 0)
		return (0);
	if (!child_drain_wait(SMTPD_STOP_WAIT, smtpd_drain_busy,
	    smtpd_drain_late)) {
		smtp_shutdown();
		return (0);
	}
	return (1);
}

static const struct child_ops smtpd_ops = {
	.proc = PROC_SMTPD,
	.preinit = smtpd_preinit,
	.chroot = child_empty_root,
	.configure = smtpd_configure,
	.drain = smtpd_drain,
	.peer_dispatch = smtpd_dispatch,
	.listener = smtpd_listener,
	.control = smtpd_control,
};

void
smtpd_main(void)
{
	child_run(&smtpd_ops);
}

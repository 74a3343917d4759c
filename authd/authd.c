/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The authd process: at each RCPT it decides where the recipient goes
 * (route, relay, bounce domain) or why not; it checks SMTP AUTH.  Network
 * yes (DNS, callbacks), files no.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "authd.h"
#include "child.h"
#include "dns.h"
#include "http.h"
#include "log.h"
#include "seal.h"


static struct config	*authd_conf;
static struct creds	*authd_creds;

/*
 * The sessions that authenticated here: the AUTH identity smtpd puts in
 * a RCPT request counts only if authd saw that session log in as that
 * user.  A ring: past AUTH_SESSIONS logins the oldest is forgotten.
 */
#define AUTH_SESSIONS	4096
static struct auth_session {
	uint64_t	 sessid;
	char		 user[256];
} auth_sessions[AUTH_SESSIONS];
static size_t		 auth_next;

/* counters for "mhctl show stats" */
static const char *const spf_names[] = {
	"pass", "fail", "softfail", "neutral", "none", "temperror",
	"permerror"
};
#define NSPF	(sizeof(spf_names) / sizeof(spf_names[0]))
static struct {
	uint64_t	 pending;
	uint64_t	 accepted, rejected, tempfailed;
	uint64_t	 route, relay, bounce;
	uint64_t	 spf[NSPF];
	uint64_t	 auth_ok, auth_failed, auth_throttled;
} st;

/*
 * The RCPT checks under way, by smtpd's request id: one whose session is
 * gone (IMSG_AUTHD_RCPT_CANCEL) is cancelled, its authorization callback
 * with it, queued for a slot of its endpoint or in flight.
 */
struct rcpt_pending {
	TAILQ_ENTRY(rcpt_pending)	 entry;
	uint64_t			 reqid;
	struct rcpt_check		*rc;
};
static TAILQ_HEAD(, rcpt_pending) rcpt_pendings =
    TAILQ_HEAD_INITIALIZER(rcpt_pendings);

static void
rcpt_count(const struct authd_rcpt_res *res)
{
	size_t	 i;

	if (res->verdict == RCPT_ACCEPT) {
		st.accepted++;
		if (res->dest == DEST_ROUTE)
			st.route++;
		else if (res->dest == DEST_RELAY)
			st.relay++;
		else if (res->dest == DEST_BOUNCE)
			st.bounce++;
	} else if (res->verdict == RCPT_REJECT)
		st.rejected++;
	else
		st.tempfailed++;
	for (i = 0; i < NSPF; i++)
		if (strcmp(res->spf_result, spf_names[i]) == 0)
			st.spf[i]++;
}

static void
rcpt_done(const struct authd_rcpt_res *res, void *arg)
{
	struct rcpt_pending	*rp = arg;

	if (rp != NULL) {
		TAILQ_REMOVE(&rcpt_pendings, rp, entry);
		free(rp);
		if (st.pending > 0)
			st.pending--;
	}
	rcpt_count(res);
	mproc_compose(proc_peer[PROC_SMTPD], IMSG_AUTHD_RCPT_RES, 0, -1, res,
	    sizeof(*res));
}

static json_t *
authd_stats(void)
{
	json_t	*spf;
	size_t	 i;

	if ((spf = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < NSPF; i++)
		json_object_set_new(spf, spf_names[i],
		    json_integer((json_int_t)st.spf[i]));
	return (json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:o,"
	    "s:{s:I,s:I,s:I,s:i}}",
	    "rcpt",
	    "pending", (json_int_t)st.pending,
	    "accepted", (json_int_t)st.accepted,
	    "rejected", (json_int_t)st.rejected,
	    "tempfailed", (json_int_t)st.tempfailed,
	    "route", (json_int_t)st.route,
	    "relay", (json_int_t)st.relay,
	    "bounce", (json_int_t)st.bounce,
	    "spf", spf,
	    "auth",
	    "ok", (json_int_t)st.auth_ok,
	    "failed", (json_int_t)st.auth_failed,
	    "throttled", (json_int_t)st.auth_throttled,
	    "credentials", authd_creds != NULL ?
	    (int)creds_count(authd_creds) : 0));
}

static json_t *
authd_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	if (cmd->id == CTL_SHOW_STATS)
		return (authd_stats());
	return (NULL);
}

static void
auth_session_add(uint64_t sessid, const char *user)
{
	struct auth_session	*a = &auth_sessions[auth_next];

	auth_next = (auth_next + 1) % AUTH_SESSIONS;
	a->sessid = sessid;
	strlcpy(a->user, user, sizeof(a->user));
}

static int
auth_session_ok(uint64_t sessid, const char *user)
{
	size_t	 i;

	for (i = 0; i < AUTH_SESSIONS; i++)
		if (auth_sessions[i].sessid == sessid &&
		    auth_sessions[i].user[0] != '\0' &&
		    strcmp(auth_sessions[i].user, user) == 0)
			return (1);
	return (0);
}

static void
rcpt_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct authd_rcpt_req	*req = msg_get(p, imsg, sizeof(*req));
	struct authd_rcpt_res	 res;
	struct rcpt_pending	*rp;

	if (!msg_str_ok(req->remote_ip, sizeof(req->remote_ip)) ||
	    !msg_str_ok(req->helo, sizeof(req->helo)) ||
	    !msg_str_ok(req->sender, sizeof(req->sender)) ||
	    !msg_str_ok(req->rcpt, sizeof(req->rcpt)) ||
	    !msg_str_ok(req->auth_user, sizeof(req->auth_user)) ||
	    req->size < -1)
		fatalx("malformed RCPT_REQ from smtpd");
	if (req->auth_user[0] != '\0' &&
	    !auth_session_ok(req->sessid, req->auth_user)) {
		log_warnx("smtpd claims AUTH as \"%s\" for a session "
		    "that did not authenticate: ignored", req->auth_user);
		memset(req->auth_user, 0, sizeof(req->auth_user));
	}
	/* arg: non-NULL marks an asynchronous answer (pending count) */
	if ((rp = calloc(1, sizeof(*rp))) != NULL &&
	    (rp->rc = rcpt_check(authd_conf, req, rcpt_done, rp)) != NULL) {
		rp->reqid = req->reqid;
		TAILQ_INSERT_TAIL(&rcpt_pendings, rp, entry);
		st.pending++;
	} else {
		free(rp);
		memset(&res, 0, sizeof(res));
		res.reqid = req->reqid;
		res.verdict = RCPT_TEMPFAIL;
		res.code = 451;
		strlcpy(res.enhanced, "4.3.0", sizeof(res.enhanced));
		strlcpy(res.text, "Local error, try again later",
		    sizeof(res.text));
		rcpt_done(&res, NULL);
	}
}

/* the session is gone: its check ends unanswered (none if answered) */
static void
rcpt_cancel(struct mproc *p, struct mh_imsg *imsg)
{
	struct authd_rcpt_cancel	*c = msg_get(p, imsg, sizeof(*c));
	struct rcpt_pending		*rp;

	TAILQ_FOREACH(rp, &rcpt_pendings, entry)
		if (rp->reqid == c->reqid)
			break;
	if (rp == NULL)
		return;
	rcpt_check_cancel(rp->rc);
	TAILQ_REMOVE(&rcpt_pendings, rp, entry);
	free(rp);
	if (st.pending > 0)
		st.pending--;
	log_debug("rcpt request %llu: its session is gone, cancelled",
	    (unsigned long long)c->reqid);
}

static void
auth_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct authd_auth_req	*req = msg_get(p, imsg, sizeof(*req));
	struct authd_auth_res	 res;

	/* smtpd sends neither a control character (CR, LF) nor an empty one */
	if (!msg_str_ok(req->remote_ip, sizeof(req->remote_ip)) ||
	    !msg_str_ok(req->user, sizeof(req->user)) ||
	    !msg_str_ok(req->pass, sizeof(req->pass)) ||
	    req->user[0] == '\0' || req->pass[0] == '\0') {
		explicit_bzero(req->pass, sizeof(req->pass));
		fatalx("malformed AUTH_REQ from smtpd");
	}
	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	if (authd_creds == NULL)
		res.result = AUTH_FAIL;
	else
		auth_check(authd_creds, req, &res);
	if (res.result == AUTH_OK) {
		st.auth_ok++;
		auth_session_add(req->sessid, req->user);
	}
	else if (res.result == AUTH_THROTTLED)
		st.auth_throttled++;
	else
		st.auth_failed++;
	explicit_bzero(req->pass, sizeof(req->pass));
	mproc_compose(p, IMSG_AUTHD_AUTH_RES, 0, -1, &res, sizeof(res));
}

static void
authd_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	if (p->proc == PROC_SMTPD) {
		switch (imsg->hdr.type) {
		case IMSG_AUTHD_RCPT_REQ:
			rcpt_req(p, imsg);
			return;
		case IMSG_AUTHD_AUTH_REQ:
			auth_req(p, imsg);
			return;
		case IMSG_AUTHD_RCPT_CANCEL:
			rcpt_cancel(p, imsg);
			return;
		}
	}
	fatalx("unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

static void
authd_preinit(const struct config *conf)
{
	if (dns_init(proc_base, conf->resolver, conf->resolver_port) == -1)
		fatalx("dns_init");
	if (http_init(proc_base, conf->cabundle_data, conf->cabundle_len) == -1)
		fatalx("http_init");
	if (authd_modules_init(proc_base) == -1)
		fatalx("cannot initialize");
}

static void
authd_configure(struct config *conf)
{
	struct creds	*c = NULL;

	if (conf->credentials_data != NULL &&
	    (c = creds_load(conf->credentials_data,
	    conf->credentials_len)) == NULL)
		log_warnx("credentials unusable, AUTH will fail");
	if (c != NULL)
		log_info("%zu credentials loaded", creds_count(c));
	creds_free(authd_creds);
	authd_creds = c;
	authd_conf = conf;
	/* authorize callbacks started from now on trust the new CA bundle */
	if (http_set_ca(conf->cabundle_data, conf->cabundle_len) == -1)
		log_warnx("the CA bundle stays as it was");
	/* private-addresses turned off: no connection from before is used */
	http_allow_private(conf->allow_private);
	if (seal_set_key(conf->verdict_key) == -1)
		log_warnx("no verdict key: accepted recipients will "
		    "be refused by the spool owners");
	spf_cache_flush();
	rcpt_postmaster_check(conf);
}

static const struct child_ops authd_ops = {
	.proc = PROC_AUTHD,
	.preinit = authd_preinit,
	.chroot = child_empty_root,	/* it needs no file */
	.configure = authd_configure,
	.peer_dispatch = authd_dispatch,
	.control = authd_control,
};

void
authd_main(void)
{
	child_run(&authd_ops);
}

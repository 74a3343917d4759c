/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The relayd process: the outbound spool and its delivery to remote MX
 * hosts (relay.h).  Every step becomes an event for hookd.  Chrooted in
 * the spool.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tls.h>

#include "child.h"
#include "gsync.h"
#include "http.h"
#include "dns.h"
#include "mh_event.h"
#include "log.h"
#include "mailaddr.h"
#include "metrics.h"
#include "outbox.h"
#include "track.h"
#include "relay.h"
#include "seal.h"
#include "spool_ids.h"


static int	relayd_started;
static int	relayd_seal_window;	/* seconds a verdict stays good */

struct commit_ctx {
	uint64_t	reqid;
	int		proc;		/* who asked: smtpd or webd */
	char		idem[65];	/* webd: the Idempotency-Key's hash */
	char		idem_body[65];	/* and its request body's */
	char		message_id[256];
	char		msgid[MH_MSGID_LEN];	/* the answer, once durable */
	int		code;
	char		enh[16];
	char		text[256];
};

_Static_assert(sizeof(((struct event_ack *)0)->id) == EVENT_ID_LEN,
    "struct event_ack holds an event id");

static int	relayd_keep_events;

/*
 * Every event goes through the outbox: durable before hookd sees it.
 * Without an events block an event only matters to "mhctl monitor".
 */
static void
relayd_event(const struct event_record *ev)
{
	if (relayd_keep_events || child_monitoring)
		outbox_put(ev);
}

static int
relayd_event_send(const void *wire, size_t len)
{
	struct mproc	*p = proc_peer[PROC_HOOKD];

	if (p == NULL || p->closed)
		return (-1);
	mproc_compose(p, IMSG_EVENT, 0, -1, wire, len);
	return (0);
}

/* what was composed is written first: a full socket shows then */
static int
relayd_event_busy(void)
{
	struct mproc	*p = proc_peer[PROC_HOOKD];

	if (p == NULL)
		return (0);
	mproc_flush_now(p);
	return (mproc_stalled(p));
}

/* hookd reads again: a re-send round stopped by its full socket goes on */
static void
relayd_hookd_drained(struct mproc *p)
{
	outbox_drained();
}

static void
event_ack(struct mproc *p, struct mh_imsg *imsg)
{
	struct event_ack	*a = msg_get(p, imsg, sizeof(*a));

	int			 r;

	/* the id names a file in the outbox: an event id or fatal */
	if (!msg_str_ok(a->id, sizeof(a->id)) || (r = outbox_ack(a->id)) == -1)
		fatalx("malformed EVENT_ACK from %s", p->name);
	/* an ack of a re-sent event may come twice: harmless */
	if (r == 1)
		log_debug("ack for unknown event %s", a->id);
}

/*
 * Signatures are made by the signer process, which holds the keys: it
 * gets the message fd and d= domain, and returns the header lines.
 */
struct sign_wait {
	TAILQ_ENTRY(sign_wait)	 entry;
	uint64_t		 reqid;
	struct timespec		 sent;
	relay_signed_fn		 done;
	void			*arg;
};
static TAILQ_HEAD(, sign_wait)	 sign_waits =
    TAILQ_HEAD_INITIALIZER(sign_waits);
static uint64_t			 sign_reqid;
static uint64_t			 sign_answers;
static double			 sign_wait_secs;	/* request to answer */

static void
relayd_signer(int fd, const char *domain, relay_signed_fn done, void *arg)
{
	struct sign_wait	*w;
	struct sign_req		 req;
	struct mproc		*p = proc_peer[PROC_SIGNER];

	if (p == NULL || p->closed) {
		/* before the parent handed out the channel: later */
		close(fd);
		done(NULL, 0, "the signer is not there yet", arg);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	memset(&req, 0, sizeof(req));
	req.reqid = w->reqid = ++sign_reqid;
	strlcpy(req.domain, domain, sizeof(req.domain));
	w->done = done;
	w->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &w->sent);
	TAILQ_INSERT_TAIL(&sign_waits, w, entry);
	mproc_compose(p, IMSG_SIGN_REQ, 0, fd, &req, sizeof(req));
}

static void
sign_result(struct mproc *p, struct mh_imsg *imsg)
{
	struct sign_res		 res;
	struct sign_wait	*w;
	struct timespec		 now;
	size_t			 len = MH_IMSG_DATA_SIZE(imsg);

	if (len < sizeof(res) || len - sizeof(res) > SIGN_HDRS_MAX)
		fatalx("malformed SIGN_RES from %s", p->name);
	memcpy(&res, imsg->data, sizeof(res));
	if (!msg_str_ok(res.error, sizeof(res.error)) ||
	    (res.status == SIGN_OK) != (len > sizeof(res)) ||
	    (res.status != SIGN_OK && res.status != SIGN_FAIL))
		fatalx("malformed SIGN_RES from %s", p->name);
	TAILQ_FOREACH(w, &sign_waits, entry)
		if (w->reqid == res.reqid)
			break;
	if (w == NULL)
		fatalx("SIGN_RES from %s for no request", p->name);
	TAILQ_REMOVE(&sign_waits, w, entry);
	clock_gettime(CLOCK_MONOTONIC, &now);
	sign_answers++;
	sign_wait_secs += now.tv_sec - w->sent.tv_sec +
	    (now.tv_nsec - w->sent.tv_nsec) / 1e9;
	if (res.status == SIGN_OK)
		w->done((char *)imsg->data + sizeof(res), len - sizeof(res),
		    NULL, w->arg);
	else
		w->done(NULL, 0, res.error, w->arg);
	free(w);
}

/* the idempotency key's record is durable (or could not be): answer */
static void
commit_idem_durable(int ok, void *arg)
{
	struct commit_ctx	*ctx = arg;

	if (!ok)
		log_warn("msgid=%s status=error (its idempotency key is not "
		    "on disk)", ctx->msgid);
	child_spool_result_to(ctx->proc, ctx->reqid, ctx->msgid, ctx->code,
	    ctx->enh, ctx->text, 0);
	free(ctx);
}

static void
commit_done(const char *msgid, int code, const char *enh, const char *text,
    void *arg)
{
	struct commit_ctx	*ctx = arg;

	/*
	 * The first answer of an idempotency key: durable before it is sent,
	 * flushed with the next group commit, not by two fsyncs of its own
	 * in the event loop (the envelope names the key already: a crash
	 * before the flush is repaired by relay_idem_restore).
	 */
	if (code / 100 == 2 && ctx->idem[0] != '\0') {
		if (relay_idem_put(ctx->idem, msgid, ctx->message_id,
		    ctx->idem_body, 1) == 0) {
			strlcpy(ctx->msgid, msgid, sizeof(ctx->msgid));
			ctx->code = code;
			strlcpy(ctx->enh, enh, sizeof(ctx->enh));
			strlcpy(ctx->text, text, sizeof(ctx->text));
			gsync_then(commit_idem_durable, ctx);
			return;
		}
		log_warn("msgid=%s status=error (cannot store its idempotency "
		    "key)", msgid);
	}
	child_spool_result_to(ctx->proc, ctx->reqid, msgid, code, enh, text,
	    0);
	free(ctx);
}

static void
spool_commit_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_commit	*c;
	struct commit_ctx	*ctx;
	struct envelope		 env;
	const char		*bad;
	size_t			 i;

	if (MH_IMSG_DATA_SIZE(imsg) <= sizeof(*c))
		fatalx("short SPOOL_COMMIT from %s", p->name);
	c = imsg->data;
	if (!msg_str_ok(c->msgid, sizeof(c->msgid)) ||
	    !msg_str_ok(c->idem, sizeof(c->idem)) ||
	    !msg_str_ok(c->idem_body, sizeof(c->idem_body)) ||
	    !msg_str_ok(c->message_id, sizeof(c->message_id)) ||
	    (p->proc != PROC_WEBD && c->idem[0] != '\0'))
		fatalx("malformed SPOOL_COMMIT from %s", p->name);
	/* only a file this peer has open: not the other's */
	if (spool_ids_take(c->msgid, p->proc) == -1)
		fatalx("SPOOL_COMMIT from %s: a file it has not open",
		    p->name);
	envelope_init(&env);
	if (envelope_decode(&env, (char *)imsg->data + sizeof(*c),
	    MH_IMSG_DATA_SIZE(imsg) - sizeof(*c)) == -1 ||
	    strcmp(env.id, c->msgid) != 0)
		fatalx("malformed envelope from %s", p->name);
	for (i = 0; i < env.nrcpt; i++)
		if (env.rcpts[i].dest != DEST_RELAY)
			fatalx("non-relay recipient from %s", p->name);
	/* where a message goes is relayd's to say (fallback.c) */
	if (env.relay[0] != '\0')
		fatalx("envelope with a relay from %s", p->name);
	/* webd's submissions carry the API key that allowed them */
	if (p->proc == PROC_WEBD && strncmp(env.auth_user, API_USER_PREFIX,
	    strlen(API_USER_PREFIX)) != 0)
		fatalx("API submission without a key from %s",
		    p->name);
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		fatal("calloc");
	ctx->reqid = c->reqid;
	ctx->proc = p->proc;
	strlcpy(ctx->idem, c->idem, sizeof(ctx->idem));
	strlcpy(ctx->idem_body, c->idem_body, sizeof(ctx->idem_body));
	strlcpy(ctx->message_id, c->message_id, sizeof(ctx->message_id));
	/* in the envelope too: a crash before the idem file cannot lose it */
	strlcpy(env.idem, c->idem, sizeof(env.idem));
	/*
	 * Relay permission is authd's to give: its sealed verdict or
	 * nothing.  For the API it is webd's: the key it checked.
	 */
	if (p->proc == PROC_SMTPD && seal_envelope_check(&env, time(NULL),
	    relayd_seal_window, &bad) == -1) {
		log_warnx("msgid=%s status=refused (%s from smtpd without a "
		    "valid verdict from authd)", c->msgid,
		    bad != NULL ? bad : "SPF result");
		relay_spool_abort(c->msgid);
		envelope_clear(&env);
		commit_done(c->msgid, 554, "5.7.1",
		    "Relaying denied: no verdict from authd", ctx);
		return;
	}
	relay_spool_commit(c->msgid, &env, commit_done, ctx);
	envelope_clear(&env);
}

/* an answer that waits for the group commit (the event's outbox file) */
struct unsub_answer {
	struct mproc	*p;
	int		 type;
	union {
		struct unsub_res		 res;
		struct unsubscribe_mailto	 mailto;
	}		 u;
	size_t		 len;
};

static void
unsub_answer_durable(int ok, void *arg)
{
	struct unsub_answer	*a = arg;

	if (a->type == IMSG_UNSUBSCRIBE_RES && !ok)
		a->u.res.ok = 0;
	/* not durable: hookd keeps the mail and sends it again later */
	if (a->type == IMSG_UNSUBSCRIBE_MAILTO_ACK && !ok)
		a->u.mailto.failed = 1;
	if (!a->p->closed)
		mproc_compose(a->p, a->type, 0, -1, &a->u, a->len);
	free(a);
}

static void
unsub_answer(struct mproc *p, int type, const void *data, size_t len)
{
	struct unsub_answer	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	a->p = p;
	a->type = type;
	memcpy(&a->u, data, len);
	a->len = len;
	gsync_then(unsub_answer_durable, a);
}

/*
 * hookd: mail to the mailto unsubscribe address.  Acknowledged once the
 * suppression is stored and its event durable (or the address refused);
 * one that cannot be stored is answered failed at once: hookd keeps the
 * mail and sends it again later.
 */
static void
unsubscribe_mailto(struct mproc *p, struct mh_imsg *imsg)
{
	struct unsubscribe_mailto	*u = msg_get(p, imsg, sizeof(*u));

	if (!msg_str_ok(u->local, sizeof(u->local)) ||
	    !msg_str_ok(u->sender, sizeof(u->sender)) ||
	    !msg_str_ok(u->queue_id, sizeof(u->queue_id)) ||
	    !envelope_id_ok(u->queue_id) || u->failed != 0)
		fatalx("malformed UNSUBSCRIBE_MAILTO from %s",
		    p->name);
	if (relay_unsubscribe_mailto(u->local, u->sender, u->queue_id) ==
	    -2) {
		u->failed = 1;
		mproc_compose(p, IMSG_UNSUBSCRIBE_MAILTO_ACK, 0, -1, u,
		    sizeof(*u));
		return;
	}
	unsub_answer(p, IMSG_UNSUBSCRIBE_MAILTO_ACK, u, sizeof(*u));
}

/*
 * webd: a recipient unsubscribes from (or resubscribes to) the mail of
 * one sender domain.  The answer goes back once the suppression list and
 * the event are durable.
 */
static void
unsubscribe_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct unsub_req	*r = msg_get(p, imsg, sizeof(*r));
	struct unsub_res	 res;

	if (!msg_str_ok(r->queue_id, sizeof(r->queue_id)) ||
	    (r->queue_id[0] != '\0' && !envelope_id_ok(r->queue_id)) ||
	    !msg_str_ok(r->addr, sizeof(r->addr)) ||
	    !msg_str_ok(r->domain, sizeof(r->domain)) ||
	    strchr(r->addr, '@') == NULL ||
	    config_check_domain(r->domain) == -1)
		fatalx("malformed UNSUBSCRIBE from %s", p->name);
	memset(&res, 0, sizeof(res));
	res.reqid = r->reqid;
	res.ok = relay_unsubscribe_web(r->addr, r->domain, r->queue_id,
	    r->resubscribe) == 0;
	unsub_answer(p, IMSG_UNSUBSCRIBE_RES, &res, sizeof(res));
}

/*
 * webd: GET /messages/ID.  Only the key that submitted a message learns
 * anything of it: for any other, it does not exist.
 */
static void
api_status_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct api_status_req	*r = msg_get(p, imsg, sizeof(*r));
	struct api_status_res	 res;
	const char		*owner;
	char			 user[sizeof(r->key) + 8], *text = NULL;
	json_t			*j = NULL;

	if (!msg_str_ok(r->id, sizeof(r->id)) || !envelope_id_ok(r->id) ||
	    !msg_str_ok(r->key, sizeof(r->key)) || r->key[0] == '\0')
		fatalx("malformed API_STATUS from %s", p->name);
	memset(&res, 0, sizeof(res));
	res.reqid = r->reqid;
	snprintf(user, sizeof(user), "%s%s", API_USER_PREFIX, r->key);
	if ((owner = relay_message_owner(r->id)) != NULL &&
	    strcmp(owner, user) == 0 &&
	    (j = relay_message_show(r->id)) != NULL &&
	    (text = json_dumps(j, JSON_COMPACT)) != NULL)
		res.found = 1;
	json_decref(j);
	mproc_compose2(p, IMSG_API_STATUS_RES, 0, -1, &res, sizeof(res),
	    text, text != NULL ? strlen(text) : 0);
	free(text);
}

/* webd: was this Idempotency-Key answered already? */
static void
api_idem_req(struct mproc *p, struct mh_imsg *imsg)
{
	struct api_idem	*r = msg_get(p, imsg, sizeof(*r));
	struct api_idem	 res;

	if (!msg_str_ok(r->hash, sizeof(r->hash)))
		fatalx("malformed API_IDEM from %s", p->name);
	memset(&res, 0, sizeof(res));
	res.reqid = r->reqid;
	strlcpy(res.hash, r->hash, sizeof(res.hash));
	if ((res.found = relay_idem_get(r->hash, res.id, res.message_id,
	    sizeof(res.message_id), res.body)) == -1)
		fatalx("malformed API_IDEM from %s", p->name);
	mproc_compose(p, IMSG_API_IDEM_RES, 0, -1, &res, sizeof(res));
}

static void
relayd_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_open	*o;
	struct spool_abort	*a;
	struct suppress_req	*s;
	struct spool_fd		 res;
	int			 fd;

	switch (imsg->hdr.type) {
	case IMSG_SPOOL_OPEN:
		if (p->proc != PROC_SMTPD && p->proc != PROC_WEBD)
			break;
		o = msg_get(p, imsg, sizeof(*o));
		memset(&res, 0, sizeof(res));
		res.reqid = o->reqid;
		fd = relay_spool_open(res.msgid);
		res.ok = fd != -1;
		if (fd != -1)
			spool_ids_add(res.msgid, p->proc);
		mproc_compose(p, IMSG_SPOOL_FD, 0, fd, &res, sizeof(res));
		return;
	case IMSG_SPOOL_COMMIT:
		if (p->proc != PROC_SMTPD && p->proc != PROC_WEBD)
			break;
		spool_commit_req(p, imsg);
		return;
	case IMSG_SPOOL_ABORT:
		if (p->proc != PROC_SMTPD && p->proc != PROC_WEBD)
			break;
		/* only a file this peer has open: not the other's */
		a = msg_get(p, imsg, sizeof(*a));
		if (!msg_str_ok(a->msgid, sizeof(a->msgid)) ||
		    spool_ids_take(a->msgid, p->proc) == -1 ||
		    relay_spool_abort(a->msgid) == -1)
			break;
		return;
	case IMSG_SUPPRESS:
		if (p->proc != PROC_HOOKD)
			break;
		s = msg_get(p, imsg, sizeof(*s));
		if (!msg_str_ok(s->addr, sizeof(s->addr)) ||
		    !msg_str_ok(s->reason, sizeof(s->reason)))
			break;
		relay_suppress_add(s->addr, NULL, s->reason);
		return;
	case IMSG_UNSUBSCRIBE_MAILTO:
		if (p->proc != PROC_HOOKD)
			break;
		unsubscribe_mailto(p, imsg);
		return;
	case IMSG_EVENT_ACK:
		if (p->proc != PROC_HOOKD)
			break;
		event_ack(p, imsg);
		return;
	case IMSG_SIGN_RES:
		if (p->proc != PROC_SIGNER)
			break;
		sign_result(p, imsg);
		return;
	case IMSG_UNSUBSCRIBE:
		if (p->proc != PROC_WEBD)
			break;
		unsubscribe_req(p, imsg);
		return;
	case IMSG_API_STATUS:
		if (p->proc != PROC_WEBD)
			break;
		api_status_req(p, imsg);
		return;
	case IMSG_API_IDEM:
		if (p->proc != PROC_WEBD)
			break;
		api_idem_req(p, imsg);
		return;
	case IMSG_FALLBACK_SMTP:
		if (p->proc != PROC_HOOKD)
			break;
		fallback_smtp(p, imsg);
		return;
	}
	fatalx("unexpected or malformed %s from %s",
	    imsg_type_name(imsg->hdr.type), p->name);
}

static void
relayd_preinit(const struct config *conf)
{
	if (tls_init() == -1)
		fatalx("tls_init");
	if (dns_init_dnssec(proc_base, conf->resolver, conf->resolver_port,
	    conf->dnssec_anchor_data) == -1)
		fatalx("dns_init");
	/* MTA-STS policies (mtasts.c): relayd is the process that needs them */
	if (http_init(proc_base, conf->cabundle_data, conf->cabundle_len) == -1)
		fatalx("http_init");
}

static const char *
relayd_chroot(const struct config *conf)
{
	return (conf->spool);
}

static void
relayd_configure(struct config *conf)
{
	/* with no events block, no event needs a net */
	relayd_keep_events = !TAILQ_EMPTY(&conf->events);
	if (seal_set_key(conf->verdict_key) == -1)
		log_warnx("no verdict key: submissions are refused");
	relayd_seal_window = conf->session_timeout + 300;
	outbox_keep(relayd_keep_events);
	/* MTA-STS fetches started from now on trust the new CA bundle */
	if (http_set_ca(conf->cabundle_data, conf->cabundle_len) == -1)
		log_warnx("the CA bundle stays as it was");
	/* private-addresses turned off: no connection from before is used */
	http_allow_private(conf->allow_private);
	if (relayd_started) {
		if (dns_reconfigure(conf->resolver, conf->resolver_port,
		    conf->dnssec_anchor_data) == -1)
			log_warnx("the resolver and its trust anchors "
			    "stay as they were");
		relay_configure(conf);
		return;
	}
	relayd_started = 1;
	if (conf->testing.relay_port != 0)
		relay_set_port(conf->testing.relay_port);
	if (conf->testing.relay_timeout != 0)
		relay_set_timeouts(0, conf->testing.relay_timeout,
		    2 * conf->testing.relay_timeout);
	if (outbox_init(child_chrooted ? "/" : conf->spool,
	    relayd_event_send, relayd_event_busy) == -1)
		fatalx("cannot prepare the event outbox");
	relay_set_signer(relayd_signer);
	if (relay_idem_init(proc_base, child_chrooted ? "" : conf->spool,
	    conf->testing.idem_sweep) == -1 ||
	    relay_init(proc_base, conf, child_chrooted ? "/" : conf->spool,
	    relayd_event) == -1)
		fatalx("cannot start the outbound queue");
}

/* show message ID --raw: the queued file goes to mhctl with the reply */
static json_t *
relayd_raw(const struct ctl_cmd *cmd, const json_t *argv, const char *id)
{
	const char	*opt;
	char		 nb[128];
	int		 fd;

	opt = json_string_value(json_array_get(argv, ctl_cmd_skip(cmd) + 1));
	if (opt == NULL || strcmp(opt, "--raw") != 0)
		return (json_pack("{s:s}", "error",
		    "usage: mhctl show message ID [--raw]"));
	switch (relay_message_raw(id, &fd)) {
	case 0:
		if (child_control_fd(fd) == -1)
			return (json_pack("{s:s}", "error", CTL_NOT_A_FILE));
		return (json_pack("{s:s, s:s, s:b}", "id", id, "queue",
		    "outbound", "raw", 1));
	case -2:
		return (json_pack("{s:s}", "error", "the message has left the "
		    "queue: only its history is kept (show message ID)"));
	default:
		return (json_pack("{s:s}", "error",
		    ctl_no_such(nb, sizeof(nb), "message", id)));
	}
}

/*
 * a sender domain as mhctl names a scope (as show suppressions lists
 * it, U-labels or A-labels): a name, no space, control byte or '@'
 */
static int
sender_domain_ok(const char *d)
{
	size_t	 i, len = strlen(d);

	if (len == 0 || len >= MH_NAME_MAX || d[0] == '.' ||
	    strstr(d, "..") != NULL)
		return (0);
	for (i = 0; i < len; i++)
		if ((unsigned char)d[i] <= ' ' || d[i] == 0x7f ||
		    d[i] == '@' || d[i] == '"' || d[i] == '\\')
			return (0);
	return (1);
}

static json_t *
relayd_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	const char	*arg, *dom;
	char		 nb[128];
	json_t		*j;
	unsigned long	 parsed, reused;
	uint64_t	 rounds, more, looked;
	size_t		 n;

	arg = json_string_value(json_array_get(argv, ctl_cmd_skip(cmd)));
	switch (cmd->id) {
	case CTL_SHOW_QUEUE:
		j = json_pack("{s:o}", "queue", relay_queue_list(&n));
		if (j != NULL && n > 0)
			json_object_set_new(j, "outbound_unlisted",
			    json_integer((json_int_t)n));
		return (j);
	case CTL_SHOW_SUPPRESSIONS:
		j = json_pack("{s:o}", "suppressions", relay_suppress_list(&n));
		if (j != NULL && n > 0)
			json_object_set_new(j, "suppressions_unlisted",
			    json_integer((json_int_t)n));
		return (j);
	case CTL_SHOW_METRICS:
		j = json_array();
		relay_metrics(j);
		return (j);
	case CTL_SHOW_STATS:
		if ((j = relay_stats()) != NULL) {
			json_object_set_new(j, "event_outbox",
			    json_integer(outbox_pending()));
			outbox_resend_stats(&rounds, &more, &looked);
			json_object_set_new(j, "event_resend", json_pack(
			    "{s:I,s:I,s:I}", "rounds", (json_int_t)rounds,
			    "continued", (json_int_t)more, "looked",
			    (json_int_t)looked));
			json_object_set_new(j, "spool_flushes",
			    gsync_stats_json());
			track_counts(&parsed, &reused);
			json_object_set_new(j, "tracking", json_pack(
			    "{s:I,s:I}", "parsed", (json_int_t)parsed,
			    "layouts_reused", (json_int_t)reused));
			json_object_set_new(j, "dkim", json_pack("{s:I,s:f}",
			    "answers", (json_int_t)sign_answers, "wait_ms_avg",
			    sign_answers ? sign_wait_secs * 1e3 / sign_answers :
			    0.0));
		}
		return (j);
	case CTL_SHOW_CLUSTER:
		return (json_pack("{s:o}", "cluster", relay_cluster_show()));
	case CTL_SHOW_MESSAGE:
		if (json_array_size(argv) > ctl_cmd_skip(cmd) + 1)
			return (relayd_raw(cmd, argv, arg));
		if ((j = relay_message_show(arg)) == NULL)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (j);
	case CTL_SCHEDULE:
		if (relay_schedule(arg) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (json_pack("{s:s}", "scheduled", arg));
	case CTL_REMOVE:
		/* postsuper -d ALL's habit: "no such message" said nothing */
		if (arg != NULL && strcmp(arg, "all") == 0)
			return (json_pack("{s:s}", "error", "remove takes one "
			    "queue ID, not all (see show queue)"));
		if (relay_remove(arg) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (json_pack("{s:s}", "removed", arg));
	case CTL_HOLD:
	case CTL_RELEASE:
		if (relay_hold(arg, cmd->id == CTL_HOLD) == -1)
			return (json_pack("{s:s}", "error",
			    ctl_no_such(nb, sizeof(nb), "message", arg)));
		return (json_pack("{s:s}", cmd->id == CTL_HOLD ? "held" :
		    "released", arg));
	case CTL_PAUSE_RELAY:
	case CTL_RESUME_RELAY:
		relay_pause(cmd->id == CTL_PAUSE_RELAY);
		return (json_pack("{s:s}", "relay", cmd->id == CTL_PAUSE_RELAY ?
		    "paused" : "running"));
	case CTL_SUPPRESS_ADD:
		/* what a recipient can be, as smtpd takes it: "<a@b>",
		 * "a@b@c" or "a@" would be listed and never match */
		if (smtp_addr_valid(arg, 1) != ADDR_OK)
			return (json_pack("{s:s}", "error",
			    "not a valid address"));
		/* one listed already keeps its reason and time (a bounce's,
		 * an unsubscribe's): nothing is written or pushed; one whose
		 * write failed is written now (suppress_add) */
		switch (relay_suppress_add(arg, NULL, "added by mhctl")) {
		case 0:
			return (json_pack("{s:s}", "already_suppressed", arg));
		case -1:
			return (json_pack("{s:s}", "error",
			    "not a valid address"));
		case -2:
			return (json_pack("{s:s}", "error", "the suppression "
			    "list cannot be written: suppressed in memory "
			    "until a change is written or mailhookd "
			    "restarts"));
		}
		return (json_pack("{s:s}", "suppressed", arg));
	case CTL_SUPPRESS_DEL:
		/* with a sender domain, only its entry; else every one */
		dom = json_string_value(json_array_get(argv,
		    ctl_cmd_skip(cmd) + 1));
		if (dom != NULL && !sender_domain_ok(dom))
			return (json_pack("{s:s}", "error",
			    "not a valid sender domain"));
		switch (relay_suppress_del(arg, dom)) {
		case -1:
			return (json_pack("{s:s}", "error", dom != NULL ?
			    "not suppressed for that sender domain" :
			    "not suppressed"));
		case -2:
			return (json_pack("{s:s}", "error", "the suppression "
			    "list cannot be written: still suppressed"));
		}
		return (json_pack("{s:s, s:s*}", "unsuppressed", arg,
		    "sender_domain", dom));
	default:
		return (NULL);
	}
}

static void
relayd_start(void)
{
	/* hookd is there: what the last run left, then everything new */
	if (proc_peer[PROC_HOOKD] != NULL)
		proc_peer[PROC_HOOKD]->drained = relayd_hookd_drained;
	outbox_start(proc_base);
	/* and the signer: messages held unsigned may be signed now */
	relay_dkim_retry();
}

/*
 * A stop waits up to RELAYD_STOP_WAIT seconds for the replies to final
 * dots already sent: a message whose reply is lost would be delivered
 * again at the next start (RFC 1047).  Most mail exchangers answer the
 * dot within a second or two, after their content checks; the bound
 * keeps a stop well within the parent's deadline for its children
 * (8 s) and the service manager's (30 s).  Nothing new starts meanwhile.
 */
#define RELAYD_STOP_WAIT	4	/* seconds */

static void
relayd_drain_late(int n)
{
	if (n > 0)
		log_warnx("stopping with %d final dot%s unanswered: tried "
		    "again at the next start", n, n == 1 ? "" : "s");
}

static int
relayd_drain(void)
{
	int	 n;

	if ((n = relay_stop()) == 0 ||
	    !child_drain_wait(RELAYD_STOP_WAIT, relay_in_dot,
	    relayd_drain_late))
		return (0);
	log_info("stopping: waiting up to %ds for %d repl%s to a final dot",
	    RELAYD_STOP_WAIT, n, n == 1 ? "y" : "ies");
	return (1);
}

static const struct child_ops relayd_ops = {
	.proc = PROC_RELAYD,
	.preinit = relayd_preinit,
	.chroot = relayd_chroot,
	.configure = relayd_configure,
	.start = relayd_start,
	.stop = gsync_stop,
	.drain = relayd_drain,
	.peer_dispatch = relayd_dispatch,
	.control = relayd_control,
};

void
relayd_main(void)
{
	child_run(&relayd_ops);
}

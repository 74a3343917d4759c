/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The JSON submission API on webd's "api" listeners (doc/api.md).
 *
 *	POST /messages				submit (also CloudMailin's
 *	POST /api/v0.1/ACCOUNT/messages		outbound path, for its clients)
 *	GET  /messages/ID			the message's state
 *
 * Every request needs "Authorization: Bearer KEY".  webd holds only the
 * SHA-256 of each key (the "api keys" file, which the parent reads):
 * the hash of the presented key is compared with every one in constant
 * time.  A submission is checked and built (apimsg.c), then goes to
 * relayd as smtpd's does: a spool file from relayd (IMSG_SPOOL_OPEN),
 * written here, committed with its envelope (IMSG_SPOOL_COMMIT); relayd
 * answers once the message is durable, and only then is the 202 sent.
 *
 * Unlike an SMTP transaction, a submission has its whole message at once:
 * webd keeps a few fresh spool files asked for ahead (spares, up to
 * SPARES_MAX, refilled in batches), so that a submission costs one
 * exchange with relayd (commit, answer) and not two.  A spare is an
 * incoming file like any other: nothing acknowledged it, relayd removes
 * what is left of them at its start.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "apikeys.h"
#include "child.h"
#include "digest.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "mailhook.h"
#include "webd.h"
#include "apimsg.h"

#define API_WAIT	60	/* seconds for relayd to answer */
#define SPARES_MAX	32	/* spool files asked for ahead */
#define SPARE_REQID	0	/* the reqid of a spare's SPOOL_OPEN */

struct api_key {
	char		 name[APIKEY_NAME];
	unsigned char	 hash[MH_SHA256_LEN];
	char		*domains[APIKEY_DOMAINS_MAX + 1];	/* NULL-ended;
							   none: any */
	size_t		 ndomains;
};

struct api_sub {
	TAILQ_ENTRY(api_sub)	 entry;
	uint64_t		 reqid;
	struct evhttp_request	*req;
	char			 key[APIKEY_NAME];	/* its name: a
							   reload frees the keys */
	char			 remote_ip[64];
	char			 msgid[MH_MSGID_LEN];	/* once relayd gave
							   one */
	struct api_msg		 m;
	struct event		*timeout;
	int			 status;	/* a GET, not a submission */
	char			 idem[65];	/* Idempotency-Key hash,
						   "" none */
	char			 body[65];	/* with one: the body's */
};

static TAILQ_HEAD(, api_sub)	 subs = TAILQ_HEAD_INITIALIZER(subs);
static struct api_sub		*sub_find(uint64_t);
static void			 sub_open(struct mproc *, struct api_sub *);
static struct api_key		*keys;
static size_t			 nkeys;
static uint64_t			 next_reqid;
static size_t			 max_size = 25 * 1024 * 1024;
static size_t			 max_rcpts = 100;
static char			 hostname[MH_NAME_MAX];
static uint64_t			 n_accepted, n_refused, n_unauthorized;

/* spool files from relayd for the next submissions (a stack) */
static struct {
	int	 fd;
	char	 msgid[MH_MSGID_LEN];
}				 spares[SPARES_MAX];
static size_t			 nspares, spares_asked;
static uint64_t			 n_spared;

static void
keys_free(void)
{
	size_t	 i, j;

	for (i = 0; i < nkeys; i++)
		for (j = 0; j < keys[i].ndomains; j++)
			free(keys[i].domains[j]);
	if (keys != NULL)
		explicit_bzero(keys, nkeys * sizeof(*keys));
	free(keys);
	keys = NULL;
	nkeys = 0;
}

/* an "api keys" line: 1 a key, 0 none, -1 malformed */
static int
key_parse(char *line, struct api_key *k)
{
	char	*name, *doms, *d;
	int	 rv;

	memset(k, 0, sizeof(*k));
	if ((rv = apikey_line(line, &name, k->hash, &doms)) != 1)
		return (rv);
	strlcpy(k->name, name, sizeof(k->name));
	while (doms != NULL && (d = strsep(&doms, ",")) != NULL) {
		if (*d == '\0')
			continue;
		if ((k->domains[k->ndomains++] = strdup(d)) == NULL)
			fatal("api: key domains");
	}
	return (1);
}

/* the "api keys" file as the parent read it */
void
api_configure(const struct config *conf)
{
	char		*data, *p, *line;
	size_t		 len, n = 0, lineno = 0;
	struct api_key	 k;

	keys_free();
	max_size = conf->max_message_size;
	max_rcpts = conf->max_recipients > 0 ? conf->max_recipients : 100;
	strlcpy(hostname, conf->hostname, sizeof(hostname));
	if (conf->api_keys_data == NULL)
		return;
	if ((data = strndup(conf->api_keys_data, conf->api_keys_len)) == NULL)
		fatal("api_configure");
	len = strlen(data);
	for (p = data; *p != '\0'; p++)
		n += *p == '\n';
	if ((keys = calloc(n + 1, sizeof(*keys))) == NULL)
		fatal("api_configure");
	p = data;
	while ((line = strsep(&p, "\n")) != NULL) {
		lineno++;
		switch (key_parse(line, &k)) {
		case -1:
			log_warnx("api keys \"%s\" line %zu: not "
			    "NAME:SHA256-HEX[:DOMAIN,...], ignored",
			    conf->api_keys, lineno);
			break;
		case 1:
			keys[nkeys++] = k;
			break;
		}
	}
	/* the copy's length: a NUL byte in the file ends it early */
	explicit_bzero(data, len);
	free(data);
	explicit_bzero(&k, sizeof(k));
	log_debug("api: %zu keys", nkeys);
}

size_t
api_body_max(void)
{
	/* base64 attachments and JSON escapes: a third more, and slack */
	return (max_size / 3 * 4 + 65536);
}

/* ---- answers */

static void
api_reply(struct evhttp_request *req, int status, const char *reason,
    json_t *j)
{
	struct evbuffer	*b;
	char		*s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("api: json_dumps");
	json_decref(j);
	if ((b = evbuffer_new()) == NULL)
		fatal("api: evbuffer_new");
	evbuffer_add(b, s, strlen(s));
	evbuffer_add(b, "\n", 1);
	free(s);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	server_reply(req, status, reason, b);
	evbuffer_free(b);
}

static const char *
reason_of(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 202: return ("Accepted");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 409: return ("Conflict");
	case 422: return ("Unprocessable Content");
	case 413: return ("Payload Too Large");
	case 415: return ("Unsupported Media Type");
	case 503: return ("Service Unavailable");
	default: return ("Error");
	}
}

static void
api_error_reply(struct evhttp_request *req, const struct api_error *e)
{
	n_refused++;
	if (e->status == 503)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", WEB_RETRY_AFTER);
	api_reply(req, e->status, reason_of(e->status), json_pack("{s:s,s:s}",
	    "code", e->code, "message", e->message));
}

static void
peer_ip(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection	*c = evhttp_request_get_connection(req);
	const char			*ip = NULL;
	uint16_t			 port;

	if (c != NULL)
		evhttp_connection_get_peer(c, (char **)&ip, &port);
	strlcpy(buf, ip != NULL ? ip : "unknown", len);
}

/*
 * The log line of a request refused, as the queued one's: key=value, the
 * queue id (msgid=-: none yet) and key name (api_key=-: none valid)
 * first, the reason last in parentheses (its client bytes made
 * printable by api_err).  A 5xx is the queue's, a 4xx the client's.
 */
void
api_log_refused(const char *msgid, const char *key, const char *ip,
    int status, const char *code, const char *why)
{
	logit(status >= 500 ? LOG_ERR : LOG_INFO, "api: msgid=%s api_key=%s "
	    "ip=%s status=%s http=%d error=%s (%s)", msgid != NULL && *msgid ?
	    msgid : "-", key != NULL && *key ? key : "-", ip, status >= 500 ?
	    "deferred" : "refused", status, code, why);
}

/* a request refused: logged, then answered; ip NULL: the request's */
static void
api_refuse(struct evhttp_request *req, const char *key, const char *msgid,
    const char *ip, const struct api_error *e)
{
	char	 buf[64];

	if (ip == NULL) {
		peer_ip(req, buf, sizeof(buf));
		ip = buf;
	}
	api_log_refused(msgid, key, ip, e->status, e->code, e->message);
	api_error_reply(req, e);
}

static void
api_fail(struct evhttp_request *req, const char *key, int status,
    const char *code, const char *msg)
{
	struct api_error	 e;

	api_err(&e, status, code, "%s", msg);
	api_refuse(req, key, NULL, NULL, &e);
}

/* the same for a request under way (its key, id and address kept) */
static void
sub_fail(struct api_sub *s, int status, const char *code, const char *msg)
{
	struct api_error	 e;

	api_err(&e, status, code, "%s", msg);
	api_refuse(s->req, s->key, s->msgid, s->remote_ip, &e);
}

/* ---- authentication */

/* the key of an Authorization value "Bearer KEY" (h may be NULL), or
 * NULL and why not */
static const struct api_key *
api_key_of(const char *h, const char **why)
{
	unsigned char		 hash[MH_SHA256_LEN];
	const struct api_key	*found = NULL;
	size_t			 i;

	if (h == NULL) {
		*why = "no Authorization header";
		return (NULL);
	}
	if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		*why = "not a Bearer key";
		return (NULL);
	}
	mh_sha256(h + 7, strlen(h + 7), hash);
	/* every key compared: the time says nothing of which */
	for (i = 0; i < nkeys; i++)
		if (CRYPTO_memcmp(hash, keys[i].hash, sizeof(hash)) == 0)
			found = &keys[i];
	explicit_bzero(hash, sizeof(hash));
	*why = "unknown key";
	return (found);
}

const char *
api_key_refusal(const char *authorization, char *name, size_t len)
{
	const struct api_key	*k;
	const char		*why;

	if ((k = api_key_of(authorization, &why)) == NULL)
		return (why);
	strlcpy(name, k->name, len);
	return (NULL);
}

void
api_refused_early(void)
{
	n_unauthorized++;
}

/* the key of "Authorization: Bearer KEY", or NULL (401 sent, logged) */
static const struct api_key *
api_auth(struct evhttp_request *req)
{
	const char		*why;
	const struct api_key	*found;
	struct api_error	 e;
	char			 ip[64];

	found = api_key_of(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization"), &why);
	if (found != NULL)
		return (found);
	n_unauthorized++;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", "Bearer realm=\"mailhook\"");
	api_err(&e, 401, "unauthorized", "a valid API key is required");
	peer_ip(req, ip, sizeof(ip));
	api_log_refused(NULL, NULL, ip, 401, e.code, why);
	api_error_reply(req, &e);
	return (NULL);
}

/* ---- submission */

/*
 * Idempotency-Key: 1 to 255 printable bytes; its hash names it at relayd,
 * per API key (two keys may use the same one).  -1: refused (answered).
 */
static int
idem_hash(struct evhttp_request *req, const struct api_key *k,
    char out[65])
{
	const char	*v;
	unsigned char	 h[MH_SHA256_LEN];
	char		 buf[APIKEY_NAME + 1 + 256];
	size_t		 i, n;

	out[0] = '\0';
	v = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Idempotency-Key");
	if (v == NULL)
		return (0);
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			break;
	if (i == 0 || v[i] != '\0' || i > 255) {
		api_fail(req, k->name, 400, "invalid_idempotency_key",
		    "Idempotency-Key: 1 to 255 printable characters");
		return (-1);
	}
	/* the key's name, a NUL, the Idempotency-Key */
	n = strlcpy(buf, k->name, sizeof(buf)) + 1;
	memcpy(buf + n, v, i);
	mh_sha256(buf, n + i, h);
	mh_hex(out, h, sizeof(h));
	return (0);
}

/* the request body's SHA-256, hex: what an Idempotency-Key answered */
static void
body_hash(char out[65], const char *body, size_t len)
{
	unsigned char	 h[MH_SHA256_LEN];

	mh_sha256(body, len, h);
	mh_hex(out, h, sizeof(h));
}

/* the same key still being answered: refused, not sent twice */
static int
idem_busy(struct api_sub *n)
{
	struct api_sub	*s;

	if (n->idem[0] == '\0')
		return (0);
	TAILQ_FOREACH(s, &subs, entry)
		if (strcmp(s->idem, n->idem) == 0) {
			sub_fail(n, 409, "idempotency_in_progress",
			    "a request "
			    "with this Idempotency-Key is being answered");
			return (1);
		}
	return (0);
}

static void
sub_free(struct api_sub *s)
{
	TAILQ_REMOVE(&subs, s, entry);
	event_free(s->timeout);
	apimsg_free(&s->m);
	free(s);
}

static void
sub_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct api_sub		*s = arg;
	struct api_error	 e;

	log_warnx("api: msgid=%s api_key=%s status=unknown (no answer from "
	    "relayd in %ds)", s->msgid[0] ? s->msgid : "-", s->key,
	    API_WAIT);
	/* a submission's client may learn its fate with GET /messages/ID */
	api_err(&e, 503, "unavailable", "the queue did not answer, "
	    "try again");
	api_error_reply(s->req, &e);
	sub_free(s);
}

static struct mproc *
relayd_peer(void)
{
	struct mproc	*p = proc_peer[PROC_RELAYD];

	return (p == NULL || p->closed ? NULL : p);
}

/*
 * The values of a JSON text, counted from its commas, brackets and braces
 * outside strings (jansson parses it after).  A message has a few
 * hundred; jansson spends some 200 bytes on each, so a body of a few
 * million empty objects would cost webd 70 times its size.
 */
#define API_JSON_VALUES_MAX	100000

static size_t
json_values(const char *p, size_t len)
{
	size_t	 i, n = 1;
	int	 in_str = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = 0;
		} else if (p[i] == '"')
			in_str = 1;
		else if (p[i] == ',' || p[i] == '[' || p[i] == '{')
			n++;
	}
	return (n);
}

static void
api_submit(struct evhttp_request *req, const struct api_key *k)
{
	struct evkeyvalq	*ih = evhttp_request_get_input_headers(req);
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	const char		*ct, *body;
	struct api_limits	 lim;
	struct api_error	 e;
	struct api_sub		*s;
	struct api_idem		 ik;
	struct timeval		 tv = { API_WAIT, 0 };
	struct mproc		*p;
	json_error_t		 jerr;
	json_t			*j;
	size_t			 len;

	ct = evhttp_find_header(ih, "Content-Type");
	if (ct == NULL || !api_json_type(ct, strlen(ct))) {
		api_fail(req, k->name, 415, "unsupported_media_type",
		    API_CTYPE_WHY);
		return;
	}
	if ((len = evbuffer_get_length(in)) == 0) {
		/* jansson would say "wrong arguments at line -1" */
		api_fail(req, k->name, 400, "malformed_json", "not JSON: the "
		    "body is empty (no Content-Length?)");
		return;
	}
	body = (const char *)evbuffer_pullup(in, len);
	if (json_values(body, len) > API_JSON_VALUES_MAX) {
		api_fail(req, k->name, 413, "too_large",
		    "more than 100000 JSON values");
		return;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		api_err(&e, 400, "malformed_json", "not JSON: %s at line %d "
		    "column %d", jerr.text, jerr.line, jerr.column);
		api_refuse(req, k->name, NULL, NULL, &e);
		return;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_size = max_size;
	lim.max_rcpts = max_rcpts;
	lim.hostname = hostname;
	lim.domains = k->ndomains > 0 ? (const char *const *)k->domains :
	    NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("api_submit");
	if (apimsg_build(j, &lim, &s->m, &e) == -1) {
		json_decref(j);
		free(s);
		api_refuse(req, k->name, NULL, NULL, &e);
		return;
	}
	json_decref(j);
	if ((p = relayd_peer()) == NULL) {
		apimsg_free(&s->m);
		free(s);
		api_fail(req, k->name, 503, "unavailable", "the queue is not "
		    "there, try again");
		return;
	}
	s->req = req;
	strlcpy(s->key, k->name, sizeof(s->key));
	s->reqid = ++next_reqid;
	peer_ip(req, s->remote_ip, sizeof(s->remote_ip));
	if (idem_hash(req, k, s->idem) == -1 || idem_busy(s)) {
		apimsg_free(&s->m);
		free(s);
		return;
	}
	if (s->idem[0] != '\0')
		body_hash(s->body, body, len);
	if ((s->timeout = evtimer_new(proc_base, sub_timeout, s)) == NULL)
		fatalx("api: evtimer_new");
	evtimer_add(s->timeout, &tv);
	TAILQ_INSERT_TAIL(&subs, s, entry);
	if (s->idem[0] != '\0') {
		/* its first answer, if there was one, before anything */
		memset(&ik, 0, sizeof(ik));
		ik.reqid = s->reqid;
		strlcpy(ik.hash, s->idem, sizeof(ik.hash));
		mproc_compose(p, IMSG_API_IDEM, 0, -1, &ik, sizeof(ik));
		return;
	}
	sub_open(p, s);
}

/* relayd: the Idempotency-Key's first answer, or go on */
void
api_idem_result(struct mproc *p, struct mh_imsg *imsg)
{
	struct api_idem		*r = msg_get(p, imsg, sizeof(*r));
	struct api_sub		*s;

	if (!msg_str_ok(r->hash, sizeof(r->hash)) ||
	    !msg_str_ok(r->id, sizeof(r->id)) ||
	    !msg_str_ok(r->message_id, sizeof(r->message_id)) ||
	    !msg_str_ok(r->body, sizeof(r->body)) ||
	    (r->found && !envelope_id_ok(r->id)))
		fatalx("malformed API_IDEM_RES from %s", p->name);
	if ((s = sub_find(r->reqid)) == NULL || s->status ||
	    strcmp(s->idem, r->hash) != 0)
		return;
	if (r->found && r->body[0] != '\0' && strcmp(r->body, s->body) != 0) {
		/* not the request it answered: neither replayed nor sent */
		sub_fail(s, 422, "idempotency_key_reused", "this "
		    "Idempotency-Key was used with another request body");
		sub_free(s);
		return;
	}
	if (r->found) {
		n_accepted++;
		log_info("api: msgid=%s api_key=%s ip=%s status=replayed (a "
		    "repeated idempotency key)", r->id, s->key, s->remote_ip);
		evhttp_add_header(evhttp_request_get_output_headers(s->req),
		    "Idempotent-Replayed", "true");
		api_reply(s->req, 202, "Accepted", json_pack("{s:s,s:s}",
		    "id", r->id, "message_id", r->message_id));
		sub_free(s);
		return;
	}
	sub_open(p, s);
}

static struct api_sub *
sub_find(uint64_t reqid)
{
	struct api_sub	*s;

	TAILQ_FOREACH(s, &subs, entry)
		if (s->reqid == reqid)
			return (s);
	return (NULL);
}

static char *
sub_envelope(struct api_sub *s, size_t *len)
{
	struct envelope	 env;
	char		*text;
	size_t		 i;

	envelope_init(&env);
	strlcpy(env.id, s->msgid, sizeof(env.id));
	env.created = time(NULL);
	strlcpy(env.sender, s->m.sender, sizeof(env.sender));
	strlcpy(env.helo, "api", sizeof(env.helo));
	strlcpy(env.remote_ip, s->remote_ip, sizeof(env.remote_ip));
	snprintf(env.auth_user, sizeof(env.auth_user), "%s%s",
	    API_USER_PREFIX, s->key);
	env.size_declared = -1;
	env.size = s->m.len;
	env.body_8bit = 1;
	for (i = 0; i < s->m.nrcpt; i++)
		if (envelope_add_rcpt(&env, s->m.rcpts[i]) == NULL) {
			envelope_clear(&env);
			return (NULL);
		} else
			env.rcpts[i].dest = DEST_RELAY;
	if ((text = envelope_encode(&env, len)) == NULL)
		log_warnx("envelope cannot be encoded: %s", envelope_error());
	envelope_clear(&env);
	return (text);
}

/* the spool file is gone unused: relayd releases it */
static void
spool_drop(struct mproc *p, int fd, const char *msgid)
{
	struct spool_abort	 a;

	if (fd != -1)
		close(fd);
	memset(&a, 0, sizeof(a));
	strlcpy(a.msgid, msgid, sizeof(a.msgid));
	mproc_compose(p, IMSG_SPOOL_ABORT, 0, -1, &a, sizeof(a));
}

/* the message goes into spool file fd (closed here), then the commit */
static void
sub_write(struct mproc *p, struct api_sub *s, int fd, const char *msgid)
{
	struct spool_commit	 c;
	struct api_error	 e;
	char			*env;
	size_t			 len;

	strlcpy(s->msgid, msgid, sizeof(s->msgid));
	if (write_all(fd, s->m.data, s->m.len) == -1 ||
	    file_cut(fd, (off_t)s->m.len) == -1 ||
	    (env = sub_envelope(s, &len)) == NULL) {
		log_warn("api: msgid=%s api_key=%s status=error (cannot write "
		    "the message)", s->msgid, s->key);
		spool_drop(p, fd, msgid);
		api_err(&e, 503, "unavailable", "the queue cannot take "
		    "it now, try again");
		api_error_reply(s->req, &e);
		sub_free(s);
		return;
	}
	close(fd);
	memset(&c, 0, sizeof(c));
	c.reqid = s->reqid;
	strlcpy(c.msgid, s->msgid, sizeof(c.msgid));
	strlcpy(c.idem, s->idem, sizeof(c.idem));
	strlcpy(c.idem_body, s->body, sizeof(c.idem_body));
	strlcpy(c.message_id, s->m.message_id, sizeof(c.message_id));
	mproc_compose2(p, IMSG_SPOOL_COMMIT, 0, -1, &c, sizeof(c), env, len);
	free(env);
}

/* below half the spares (counting those asked for): ask for the rest */
static void
spares_fill(struct mproc *p)
{
	struct spool_open	 o;

	if (nspares + spares_asked >= SPARES_MAX / 2)
		return;
	memset(&o, 0, sizeof(o));
	o.reqid = SPARE_REQID;
	while (nspares + spares_asked < SPARES_MAX) {
		mproc_compose(p, IMSG_SPOOL_OPEN, 0, -1, &o, sizeof(o));
		spares_asked++;
	}
}

/* a spool file for s: a spare at once, else one asked for */
static void
sub_open(struct mproc *p, struct api_sub *s)
{
	struct spool_open	 o;

	if (nspares > 0) {
		nspares--;
		n_spared++;
		sub_write(p, s, spares[nspares].fd, spares[nspares].msgid);
	} else {
		memset(&o, 0, sizeof(o));
		o.reqid = s->reqid;
		mproc_compose(p, IMSG_SPOOL_OPEN, 0, -1, &o, sizeof(o));
	}
	spares_fill(p);
}

/* relayd's spool file: a spare, or the one a submission waits for */
void
api_spool_fd(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_fd		*r = msg_get(p, imsg, sizeof(*r));
	struct api_sub		*s;

	if (!msg_str_ok(r->msgid, sizeof(r->msgid)) ||
	    (r->ok && !envelope_id_ok(r->msgid)) ||
	    (r->reqid == SPARE_REQID && spares_asked == 0))
		fatalx("malformed SPOOL_FD from %s", p->name);
	/*
	 * Lost on the way (no descriptor left, MSG_CTRUNC: mh_imsg.c): as
	 * smtpd does, relayd releases the file and the submission waiting
	 * for it gets 503; a spare is one fewer.
	 */
	if (r->ok && imsg->fd == -1) {
		log_warnx("api: msgid=%s spool file from %s lost: descriptor "
		    "limit?", r->msgid, p->name);
		spool_drop(p, -1, r->msgid);
		r->ok = 0;
	}
	if (r->reqid == SPARE_REQID) {
		spares_asked--;
		if (!r->ok) {
			if (imsg->fd != -1)
				close(imsg->fd);
		} else if (nspares < SPARES_MAX) {
			spares[nspares].fd = imsg->fd;
			strlcpy(spares[nspares].msgid, r->msgid,
			    sizeof(spares[nspares].msgid));
			nspares++;
		} else
			spool_drop(p, imsg->fd, r->msgid);
		return;
	}
	if ((s = sub_find(r->reqid)) == NULL || s->status) {
		/* timed out meanwhile */
		if (r->ok)
			spool_drop(p, imsg->fd, r->msgid);
		else if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	if (!r->ok) {
		if (imsg->fd != -1)
			close(imsg->fd);
		sub_fail(s, 503, "unavailable", "the queue cannot take "
		    "it now, try again");
		sub_free(s);
		return;
	}
	sub_write(p, s, imsg->fd, r->msgid);
}

/* relayd's answer: 250 once the message is durable */
void
api_spool_result(struct mproc *p, struct mh_imsg *imsg)
{
	struct spool_result	*r = msg_get(p, imsg, sizeof(*r));
	struct api_error	 e;
	struct api_sub		*s;
	const char		*gone;

	if (!msg_str_ok(r->msgid, sizeof(r->msgid)) ||
	    !msg_str_ok(r->enhanced, sizeof(r->enhanced)) ||
	    !msg_str_ok(r->text, sizeof(r->text)) ||
	    r->code < 200 || r->code > 599)
		fatalx("malformed SPOOL_RESULT from %s", p->name);
	if ((s = sub_find(r->reqid)) == NULL || s->status) {
		log_warnx("api: msgid=%s code=%d status=%s (answered after "
		    "its request timed out)", r->msgid, r->code,
		    r->code / 100 == 2 ? "queued" : "refused");
		return;
	}
	/*
	 * a client that closed its connection meanwhile gets no answer
	 * (evhttp let go of the connection): the log says so, for it may
	 * send the message again
	 */
	gone = server_gone(s->req) ? " client=gone" : "";
	if (r->code / 100 == 2) {
		n_accepted++;
		log_info("api: msgid=%s api_key=%s ip=%s rcpts=%zu "
		    "message_id=<%s> status=queued%s", s->msgid, s->key,
		    s->remote_ip, s->m.nrcpt, s->m.message_id, gone);
		api_reply(s->req, 202, "Accepted", json_pack("{s:s,s:s}",
		    "id", s->msgid, "message_id", s->m.message_id));
		sub_free(s);
		return;
	}
	/* relayd's refusal, with its reason: the id names it in the log */
	log_warnx("api: msgid=%s api_key=%s ip=%s code=%d status=%s%s (%s)",
	    s->msgid, s->key, s->remote_ip, r->code, r->code / 100 == 4 ?
	    "deferred" : "rejected", gone, r->text);
	if (r->code / 100 == 4)
		api_err(&e, 503, "unavailable", "%s", r->text);
	else
		api_err(&e, 400, "rejected", "%s", r->text);
	api_error_reply(s->req, &e);
	sub_free(s);
}

/* ---- GET /messages/ID */

static void
api_status(struct evhttp_request *req, const struct api_key *k,
    const char *id)
{
	struct api_status_req	 r;
	struct api_sub		*s;
	struct timeval		 tv = { API_WAIT, 0 };
	struct mproc		*p;

	if (!envelope_id_ok(id)) {
		api_fail(req, k->name, 404, "not_found", "no such message");
		return;
	}
	if ((p = relayd_peer()) == NULL) {
		api_fail(req, k->name, 503, "unavailable", "the queue is not "
		    "there, try again");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("api_status");
	s->req = req;
	strlcpy(s->key, k->name, sizeof(s->key));
	s->reqid = ++next_reqid;
	s->status = 1;
	strlcpy(s->msgid, id, sizeof(s->msgid));
	peer_ip(req, s->remote_ip, sizeof(s->remote_ip));
	if ((s->timeout = evtimer_new(proc_base, sub_timeout, s)) == NULL)
		fatalx("api: evtimer_new");
	evtimer_add(s->timeout, &tv);
	TAILQ_INSERT_TAIL(&subs, s, entry);
	memset(&r, 0, sizeof(r));
	r.reqid = s->reqid;
	strlcpy(r.id, id, sizeof(r.id));
	strlcpy(r.key, k->name, sizeof(r.key));
	mproc_compose(p, IMSG_API_STATUS, 0, -1, &r, sizeof(r));
}

void
api_status_result(struct mproc *p, struct mh_imsg *imsg)
{
	struct api_status_res	 r;
	struct api_sub		*s;
	size_t			 len = MH_IMSG_DATA_SIZE(imsg);
	json_t			*j = NULL;

	if (len < sizeof(r))
		fatalx("malformed API_STATUS_RES from %s", p->name);
	memcpy(&r, imsg->data, sizeof(r));
	if (r.found && (j = json_loadb((char *)imsg->data + sizeof(r),
	    len - sizeof(r), 0, NULL)) == NULL)
		fatalx("malformed API_STATUS_RES from %s", p->name);
	if ((s = sub_find(r.reqid)) == NULL || !s->status) {
		json_decref(j);
		return;
	}
	if (j == NULL)
		sub_fail(s, 404, "not_found", "no such message");
	else
		api_reply(s->req, 200, "OK", j);
	sub_free(s);
}

/* ---- dispatch */

/* "/api/v0.1/ACCOUNT/messages": CloudMailin's outbound path */
static int
cloudmailin_path(const char *path)
{
	const char	*a = path + strlen("/api/v0.1/");
	size_t		 n;

	if (strncmp(path, "/api/v0.1/", strlen("/api/v0.1/")) != 0)
		return (0);
	n = strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-");
	return (n > 0 && n <= 128 && strcmp(a + n, "/messages") == 0);
}

int
api_submit_path(const char *path)
{
	return (strcmp(path, "/messages") == 0 || cloudmailin_path(path));
}

int
api_json_type(const char *v, size_t len)
{
	return (len >= 16 && strncasecmp(v, "application/json", 16) == 0 &&
	    (len == 16 || (v[16] != '\0' && strchr(";\r\t ", v[16]) != NULL)));
}

void
api_request(struct evhttp_request *req)
{
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const struct api_key	*k;
	const char		*path;

	/* "OPTIONS *" (RFC 9110 9.3.7): refused as the other methods the
	 * API does not take are */
	if (cmd == EVHTTP_REQ_OPTIONS &&
	    strcmp(evhttp_request_get_uri(req), "*") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD, POST");
		api_fail(req, NULL, 405, "method_not_allowed",
		    "use GET or POST");
		return;
	}
	path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	if (path == NULL || (strcmp(path, "/messages") != 0 &&
	    !cloudmailin_path(path) && strncmp(path, "/messages/", 10) != 0)) {
		api_fail(req, NULL, 404, "not_found", "no such endpoint");
		return;
	}
	if ((k = api_auth(req)) == NULL)
		return;
	if (strncmp(path, "/messages/", 10) == 0) {
		/* HEAD: the same answer without its body (RFC 9110 9.3.2) */
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", "GET, HEAD");
			api_fail(req, k->name, 405, "method_not_allowed",
			    "use GET");
			return;
		}
		api_status(req, k, path + 10);
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		api_fail(req, k->name, 405, "method_not_allowed",
		    "use POST");
		return;
	}
	api_submit(req, k);
}

void
api_stats(json_t *o)
{
	json_object_set_new(o, "api_accepted", json_integer(n_accepted));
	json_object_set_new(o, "api_refused", json_integer(n_refused));
	json_object_set_new(o, "api_unauthorized",
	    json_integer(n_unauthorized));
	json_object_set_new(o, "api_spool_spares", json_integer(nspares));
	json_object_set_new(o, "api_spool_spared", json_integer(n_spared));
}

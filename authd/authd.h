/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd's decision modules: routes (common/route.c), the RCPT decision and
 * relay policy (rcpt.c), SPF (spf.c), authorization callbacks
 * (authorize.c), SMTP AUTH (credentials.c).  authd.c owns the process and the
 * imsg dispatch and calls these.
 *
 * Everything that waits on the network is asynchronous on the event base
 * given to authd_modules_init(): a call starts the work and returns a
 * handle; the callback runs later from the event loop, never from inside
 * the starting call.  A handle can be cancelled until its callback has
 * run; after cancel the callback never runs.
 */
#ifndef MH_AUTHD_H
#define MH_AUTHD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mailhook.h"
#include "route.h"

struct event_base;
struct http_response;

/*
 * Once, before the sandbox, after dns_init() and http_init(): remembers
 * the base and sets up libspf2 with the in-process DNS layer.
 * 0 ok, -1 error (logged).
 */
int	 authd_modules_init(struct event_base *);
void	 authd_modules_shutdown(void);

/* route.c is common/route.c (route.h): relayd asks it too */

/*
 * rcpt.c
 */

/*
 * At start and reload, when there is a route (a mail exchanger, not only
 * a relay for its clients): a warning for each of our host names whose
 * <postmaster> nothing takes (no "postmaster" statement, no route), since
 * RFC 5321 4.5.1 wants that mail accepted and it will be refused.
 */
void	 rcpt_postmaster_check(const struct config *);
/* "relay from auth" with a user, or remote_ip inside a "relay from" CIDR */
int	 relay_allowed(const struct config *, const char *remote_ip,
	    const char *auth_user);

/*
 * The whole RCPT decision:
 * - recipient on the bounce domain: accept, DEST_BOUNCE;
 * - a relaying client (relay_allowed) whose recipient's domain is not
 *   local: accept, DEST_RELAY ("route any" does not catch such mail);
 * - a route: SPF (remote ip, MAIL FROM domain, or HELO for the null
 *   sender; cached per (ip, sender, helo)), a "fail" with "spf reject
 *   fail" -> 550 5.7.23 (not for a relaying client: it submits, its
 *   result is only reported); then the route's authorization callback if
 *   it has one; accepted -> DEST_ROUTE with the route id; spf_result/spf_domain
 *   filled for every routed recipient;
 * - postmaster at one of our host names that nothing takes: 550 5.1.1;
 * - anything else: 550 5.7.1 Relaying denied (never an open relay).
 * The config need not outlive the call: what the check needs is copied.
 */
typedef void (*rcpt_check_cb)(const struct authd_rcpt_res *, void *);
struct rcpt_check;
struct rcpt_check *rcpt_check(const struct config *,
	    const struct authd_rcpt_req *, rcpt_check_cb, void *);
void	 rcpt_check_cancel(struct rcpt_check *);

/*
 * spf.c
 */

/*
 * SPF for (ip, MAIL FROM) or, with sender "" (null sender), for the HELO
 * domain.  result: "pass", "fail", "softfail", "neutral", "none",
 * "temperror" or "permerror" (also when there is no result within 20
 * seconds); domain: the domain checked.  Results are
 * cached for a minute per (ip, sender, helo).  NULL only when it could not
 * start (bad address, no memory).
 */
typedef void (*spf_cb)(const char *result, const char *domain, void *);
struct spf_check;
struct spf_check *spf_check(const char *ip, const char *sender,
	    const char *helo, spf_cb, void *);
void	 spf_cancel(struct spf_check *);
int	 spf_init(struct event_base *);
void	 spf_shutdown(void);
void	 spf_cache_flush(void);

/*
 * authorize.c
 */

/* what the authorization callback reports */
struct authz_params {
	int64_t		 size;		/* -1: not declared, not sent */
	const char	*to;
	const char	*from;
	const char	*helo_domain;
	const char	*remote_ip;
	const char	*spf_result;
	const char	*spf_domain;
	uint64_t	 sessid;	/* smtpd's session, for the log only */
	/* ms since the RCPT (the SPF check), taken from the timeout */
	long		 elapsed_ms;
};

/*
 * the body in a format (malloc'ed, NUL-terminated, *lenp set); NULL: no memory
 */
char	*authorize_body(enum authz_format, const struct authz_params *,
	    size_t *lenp);
const char *authorize_content_type(enum authz_format);
/*
 * The verdict for a callback's outcome: 2xx accept, 4xx 550 5.7.1 (both
 * also when the body after the status line was cut short or timed out);
 * 5xx, timeout, DNS, connection, SSRF refusal, a redirect not followed and
 * anything else 450 4.7.1.  A text/plain body on 4xx/5xx becomes the
 * text.  Fills verdict, code, enhanced and text of res.
 */
void	 authorize_map(const struct http_response *, struct authd_rcpt_res *);

/* verdict, code, enhanced and text filled as by authorize_map() */
typedef void (*authorize_cb)(const struct authd_rcpt_res *, void *);
struct authorize;
void	 authorize_init(struct event_base *);	/* by authd_modules_init() */
struct authorize *authorize_start(const struct route *, int allow_private,
	    const struct authz_params *, authorize_cb, void *);
void	 authorize_cancel(struct authorize *);

/*
 * credentials.c
 */

struct creds;
/*
 * Parse "user:hash" lines (crypt(3): yescrypt $y$, bcrypt $2b$,
 * sha512-crypt $6$, ...); blank lines and # comments are skipped, bad
 * lines are logged and skipped.  NULL only when out of memory.
 */
struct creds *creds_load(const char *data, size_t len);
void	 creds_free(struct creds *);
size_t	 creds_count(const struct creds *);
/*
 * Check a PLAIN/LOGIN password: constant-time comparison, an unknown user
 * costs one hash computation too.  Per remote ip, after `max` failures in
 * `window` seconds further attempts get AUTH_THROTTLED until the window
 * has passed.  creds NULL (no credentials configured): AUTH_FAIL.
 */
void	 auth_check(const struct creds *, const struct authd_auth_req *,
	    struct authd_auth_res *);
/* default 5 per 300 s */
void	 auth_throttle_set(int max, int window);
void	 auth_throttle_reset(void);

#endif /* MH_AUTHD_H */

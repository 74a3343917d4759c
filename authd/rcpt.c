/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd: the RCPT decision (recipient policy): bounce domain, relaying
 * clients, routes with their SPF check and authorization callback.
 */
#include <sys/param.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailhook.h"
#include "log.h"
#include "mailaddr.h"
#include "seal.h"

#include <event2/event.h>

#include "authd.h"
#include "sanitize.h"

struct rcpt_check {
	struct authd_rcpt_req	 req;
	struct authd_rcpt_res	 res;
	struct route		*route;		/* private copy */
	int			 allow_private;
	int			 spf_reject_fail;
	struct spf_check	*spf;
	struct authorize	*authz;
	struct event		*ev;
	struct timespec		 t0;		/* the RCPT */
	rcpt_check_cb		 cb;
	void			*arg;
};

static struct event_base	*rcpt_base;

static int	 cidr_match(const struct netaddr *, const char *);
static void	 rcpt_finish(struct rcpt_check *);
static void	 rcpt_later(int, short, void *);
static void	 rcpt_spf_done(const char *, const char *, void *);
static void	 rcpt_authz_done(const struct authd_rcpt_res *, void *);
static void	 rcpt_reply(struct authd_rcpt_res *, int, int, const char *,
		    const char *);

int
authd_modules_init(struct event_base *base)
{
	rcpt_base = base;
	authorize_init(base);
	return (spf_init(base));
}

void
authd_modules_shutdown(void)
{
	spf_shutdown();
	rcpt_base = NULL;
}

/* remote_ip inside the network? IPv4-mapped IPv6 counts as IPv4 */
static int
cidr_match(const struct netaddr *n, const char *remote_ip)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	const uint8_t	*a, *net;
	size_t		 alen;
	int		 bits = n->bits, i;

	if (inet_pton(AF_INET, remote_ip, &a4) == 1) {
		if (n->ss.ss_family != AF_INET)
			return (0);
		a = (const uint8_t *)&a4;
		alen = 4;
		net = (const uint8_t *)&((const struct sockaddr_in *)
		    &n->ss)->sin_addr;
	} else if (inet_pton(AF_INET6, remote_ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6) && n->ss.ss_family == AF_INET) {
			a = (const uint8_t *)&a6 + 12;
			alen = 4;
			net = (const uint8_t *)&((const struct sockaddr_in *)
			    &n->ss)->sin_addr;
		} else if (n->ss.ss_family == AF_INET6) {
			a = (const uint8_t *)&a6;
			alen = 16;
			net = (const uint8_t *)&((const struct sockaddr_in6 *)
			    &n->ss)->sin6_addr;
		} else
			return (0);
	} else
		return (0);
	if (bits < 0 || (size_t)bits > alen * 8)
		return (0);
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != net[i])
			return (0);
	if (bits > 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));

		if ((a[i] & mask) != (net[i] & mask))
			return (0);
	}
	return (1);
}

int
relay_allowed(const struct config *conf, const char *remote_ip,
    const char *auth_user)
{
	const struct netaddr	*n;

	if (conf == NULL)
		return (0);
	if (conf->relay_from_auth && auth_user != NULL && *auth_user != '\0')
		return (1);
	if (remote_ip == NULL || *remote_ip == '\0')
		return (0);
	TAILQ_FOREACH(n, &conf->relay_from, entry)
		if (cidr_match(n, remote_ip))
			return (1);
	return (0);
}

static void
rcpt_reply(struct authd_rcpt_res *res, int verdict, int code,
    const char *enhanced, const char *text)
{
	res->verdict = verdict;
	res->code = code;
	strlcpy(res->enhanced, enhanced, sizeof(res->enhanced));
	strlcpy(res->text, text, sizeof(res->text));
}

/*
 * rcpt is postmaster at one of our host names: in any case and quoted or
 * not, "postmaster"@host is the same mailbox (RFC 5321 2.4, 4.1.2)
 */
static int
rcpt_is_postmaster(const struct config *conf, const char *rcpt)
{
	char			 uq[MH_ADDR_MAX];
	const char		*at;
	const struct listener	*l;

	addr_unquote(uq, sizeof(uq), rcpt);
	if ((at = strrchr(uq, '@')) == NULL ||
	    (size_t)(at - uq) != strlen("postmaster") ||
	    strncasecmp(uq, "postmaster", at - uq) != 0)
		return (0);
	if (strcasecmp(at + 1, conf->hostname) == 0)
		return (1);
	TAILQ_FOREACH(l, &conf->listeners, entry)
		if (l->hostname[0] != '\0' &&
		    strcasecmp(at + 1, l->hostname) == 0)
			return (1);
	return (0);
}

/* postmaster@name goes nowhere: warn, the mail will be refused */
static void
postmaster_warn(const struct config *conf, const char *name)
{
	char	 pm[MH_ADDR_MAX];

	snprintf(pm, sizeof(pm), "postmaster@%s", name);
	if (conf->postmaster[0] != '\0') {
		if (route_lookup(conf, conf->postmaster, NULL, 0) == NULL)
			log_warnx("postmaster \"%s\": no route takes it, so "
			    "mail to <%s> is refused", conf->postmaster, pm);
	} else if (route_lookup(conf, pm, NULL, 0) == NULL)
		log_warnx("no postmaster: mail to <%s> is refused, though "
		    "RFC 5321 4.5.1 wants it taken (set \"postmaster\" or "
		    "route it)", pm);
}

void
rcpt_postmaster_check(const struct config *conf)
{
	const struct listener	*l, *m;

	/* no route: a relay for its clients, not a domain's mail exchanger */
	if (TAILQ_EMPTY(&conf->routes))
		return;
	if (conf->hostname[0] != '\0')
		postmaster_warn(conf, conf->hostname);
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if (l->hostname[0] == '\0' ||
		    strcasecmp(l->hostname, conf->hostname) == 0)
			continue;
		/* each name once */
		for (m = TAILQ_FIRST(&conf->listeners); m != l &&
		    strcasecmp(m->hostname, l->hostname) != 0;
		    m = TAILQ_NEXT(m, entry))
			;
		if (m == l)
			postmaster_warn(conf, l->hostname);
	}
}

struct rcpt_check *
rcpt_check(const struct config *conf, const struct authd_rcpt_req *req,
    rcpt_check_cb cb, void *arg)
{
	struct rcpt_check	*rc;
	const struct route	*r;
	struct timeval		 tv = { 0, 0 };

	if (rcpt_base == NULL || (rc = calloc(1, sizeof(*rc))) == NULL)
		return (NULL);
	rc->req = *req;
	/* a peer's strings are NUL terminated within their arrays */
	rc->req.remote_ip[sizeof(rc->req.remote_ip) - 1] = '\0';
	rc->req.helo[sizeof(rc->req.helo) - 1] = '\0';
	rc->req.sender[sizeof(rc->req.sender) - 1] = '\0';
	rc->req.rcpt[sizeof(rc->req.rcpt) - 1] = '\0';
	rc->req.auth_user[sizeof(rc->req.auth_user) - 1] = '\0';
	rc->res.reqid = req->reqid;
	clock_gettime(CLOCK_MONOTONIC, &rc->t0);
	rc->cb = cb;
	rc->arg = arg;
	rc->allow_private = conf->allow_private;
	/*
	 * A client that may relay (authenticated, or in a trusted network)
	 * is submitting, not a foreign MTA: its SPF result is reported but
	 * never rejects.
	 */
	rc->spf_reject_fail = conf->spf_reject_fail &&
	    !relay_allowed(conf, rc->req.remote_ip, rc->req.auth_user);
	if ((rc->ev = evtimer_new(rcpt_base, rcpt_later, rc)) == NULL) {
		free(rc);
		return (NULL);
	}

	if (rcpt_is_bounce(conf, rc->req.rcpt)) {
		rc->res.dest = DEST_BOUNCE;
		rcpt_reply(&rc->res, RCPT_ACCEPT, 250, "2.1.5", "Ok");
		evtimer_add(rc->ev, &tv);
		return (rc);
	}
	/* RFC 5321 4.5.1: <postmaster> (smtpd made it postmaster@hostname) */
	if (conf->postmaster[0] != '\0' && rcpt_is_postmaster(conf,
	    rc->req.rcpt))
		r = route_lookup(conf, conf->postmaster, NULL, 0);
	else
		r = route_lookup(conf, rc->req.rcpt, NULL, 0);
	if (relay_allowed(conf, rc->req.remote_ip, rc->req.auth_user) &&
	    strchr(rc->req.rcpt, '@') != NULL &&
	    !rcpt_domain_is_local(conf, rc->req.rcpt) &&
	    (r == NULL || r->match == ROUTE_ANY)) {
		rc->res.dest = DEST_RELAY;
		rcpt_reply(&rc->res, RCPT_ACCEPT, 250, "2.1.5", "Ok");
		evtimer_add(rc->ev, &tv);
		return (rc);
	}
	if (r == NULL && rcpt_is_postmaster(conf, rc->req.rcpt)) {
		/* said at start too (rcpt_postmaster_check) */
		rcpt_reply(&rc->res, RCPT_REJECT, 550, "5.1.1",
		    "No postmaster configured here");
		evtimer_add(rc->ev, &tv);
		return (rc);
	}
	if (r == NULL) {
		rcpt_reply(&rc->res, RCPT_REJECT, 550, "5.7.1",
		    "Relaying denied");
		evtimer_add(rc->ev, &tv);
		return (rc);
	}
	rc->res.dest = DEST_ROUTE;
	rc->res.route = r->id;
	if ((rc->route = route_dup(r)) == NULL)
		goto fail;
	rc->spf = spf_check(rc->req.remote_ip, rc->req.sender, rc->req.helo,
	    rcpt_spf_done, rc);
	if (rc->spf == NULL) {
		/* an address SPF cannot use: report temperror, go on */
		rcpt_spf_done("temperror", "", rc);
	}
	return (rc);
 fail:
	route_free(rc->route);
	event_free(rc->ev);
	free(rc);
	return (NULL);
}

static void
rcpt_spf_done(const char *result, const char *domain, void *arg)
{
	struct rcpt_check	*rc = arg;
	struct authz_params	 p;
	struct timeval		 tv = { 0, 0 };
	struct timespec		 now;

	rc->spf = NULL;
	strlcpy(rc->res.spf_result, result, sizeof(rc->res.spf_result));
	strlcpy(rc->res.spf_domain, domain, sizeof(rc->res.spf_domain));
	if (rc->spf_reject_fail && strcmp(result, "fail") == 0) {
		rcpt_reply(&rc->res, RCPT_REJECT, 550, "5.7.23",
		    "SPF validation failed");
		evtimer_add(rc->ev, &tv);
		return;
	}
	if (rc->route->authorize[0] == '\0') {
		rcpt_reply(&rc->res, RCPT_ACCEPT, 250, "2.1.5", "Ok");
		evtimer_add(rc->ev, &tv);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.sessid = rc->req.sessid;
	/* the callback's timeout counts from the RCPT, SPF included */
	clock_gettime(CLOCK_MONOTONIC, &now);
	p.elapsed_ms = (now.tv_sec - rc->t0.tv_sec) * 1000 +
	    (now.tv_nsec - rc->t0.tv_nsec) / 1000000;
	p.size = rc->req.size;
	p.to = rc->req.rcpt;
	p.from = rc->req.sender;
	p.helo_domain = rc->req.helo;
	p.remote_ip = rc->req.remote_ip;
	p.spf_result = rc->res.spf_result;
	p.spf_domain = rc->res.spf_domain;
	rc->authz = authorize_start(rc->route, rc->allow_private, &p,
	    rcpt_authz_done, rc);
	if (rc->authz == NULL) {
		rcpt_reply(&rc->res, RCPT_TEMPFAIL, 450, "4.7.1",
		    "Authorization temporarily unavailable");
		evtimer_add(rc->ev, &tv);
	}
}

static void
rcpt_authz_done(const struct authd_rcpt_res *ar, void *arg)
{
	struct rcpt_check	*rc = arg;

	rc->authz = NULL;
	rcpt_reply(&rc->res, ar->verdict, ar->code, ar->enhanced, ar->text);
	rcpt_finish(rc);
}

static void
rcpt_later(int fd, short ev, void *arg)
{
	rcpt_finish(arg);
}

static void
rcpt_finish(struct rcpt_check *rc)
{
	char	 buf[sizeof(rc->res.text)];

	/* whatever the source, the text is one printable line */
	sanitize_text(buf, MIN(sizeof(buf), 201), rc->res.text,
	    strlen(rc->res.text), SAN_REPLY);
	strlcpy(rc->res.text, buf, sizeof(rc->res.text));
	/* the spool owners take an accepted recipient on this seal only */
	if (rc->res.verdict == RCPT_ACCEPT &&
	    seal_rcpt_verdict(&rc->req, &rc->res, time(NULL)) == -1) {
		log_warnx("cannot seal the verdict for %s",
		    rc->req.rcpt);
		rcpt_reply(&rc->res, RCPT_TEMPFAIL, 451, "4.3.0",
		    "Local error, try again later");
	}
	rc->cb(&rc->res, rc->arg);
	rc->cb = NULL;
	rcpt_check_cancel(rc);
}

void
rcpt_check_cancel(struct rcpt_check *rc)
{
	if (rc == NULL)
		return;
	if (rc->spf != NULL)
		spf_cancel(rc->spf);
	if (rc->authz != NULL)
		authorize_cancel(rc->authz);
	event_free(rc->ev);
	route_free(rc->route);
	free(rc);
}

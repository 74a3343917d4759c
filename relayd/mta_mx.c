/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Where relayd's SMTP client (mta.c) connects: the domain's MX hosts (or
 * the smart host, or an address literal) and their addresses and TLSA
 * records, an MX host or a greeting that is this host (a mail loop), and
 * the connect to the next usable address.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "relayd.h"
#include "dns.h"
#include "route.h"
#include "mta.h"

#include <event2/event.h>

/* DNS */

static void	host_done(struct mconn *);
static void	mx_loop(struct mconn *, const char *);

/*
 * RFC 7672 2.2: a host's TLSA records count only when its MX and address
 * records were validated; a failed lookup makes the host unusable (never
 * a reason to go on without TLS).
 */
static void
tlsa_cb(const struct dns_tlsalist *tl, void *arg)
{
	struct mconn	*c = arg;
	size_t		 h = c->hcur;

	c->dns_pending = 0;
	if (tl->status == DNS_OK && tl->secure) {
		if ((c->tlsa[h] = malloc(sizeof(*tl))) == NULL)
			fatal("malloc");
		*c->tlsa[h] = *tl;
	} else if (tl->status != DNS_OK && tl->status != DNS_NXDOMAIN &&
	    tl->status != DNS_NODATA)
		c->tlsa_fail[h] = 1;
	else if (c->tlsa_canon[h]) {
		/* none at the CNAME-expanded name: the MX host's own */
		c->tlsa_canon[h] = 0;
		c->dns_pending = 1;
		if (dns_resolve_tlsa(c->hosts[h], c->smarthost ?
		    c->via->port : 25, tlsa_cb, c) == 0)
			return;
		c->dns_pending = 0;
		c->tlsa_fail[h] = 1;
	}
	host_done(c);
}

/*
 * Mail for c's domain that comes back to this host is taken by one of
 * our routes (smtpd posts it: a message the HTTP API sent to a domain
 * this host is the MX of): no loop.
 */
static int
dest_local(const struct mconn *c)
{
	return (c->job != NULL && c->job->n > 0 &&
	    rcpt_domain_is_local(relay_conf,
	    c->job->msg->env.rcpts[c->job->idx[0]].addr));
}

/*
 * ss (its port set) is where this host takes mail: a listener's address
 * and port, or a loopback address at the port of a wildcard listener.
 */
static int
addr_self(const struct sockaddr_storage *ss)
{
	const struct listener		*l;
	const struct sockaddr_in	*a4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*a6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in	*l4;
	const struct sockaddr_in6	*l6;

	TAILQ_FOREACH(l, &relay_conf->listeners, entry) {
		if (l->ss.ss_family != ss->ss_family)
			continue;
		l4 = (const struct sockaddr_in *)&l->ss;
		l6 = (const struct sockaddr_in6 *)&l->ss;
		if (ss->ss_family == AF_INET && l->port == ntohs(a4->sin_port) &&
		    (l4->sin_addr.s_addr == a4->sin_addr.s_addr ||
		    (l4->sin_addr.s_addr == htonl(INADDR_ANY) &&
		    (ntohl(a4->sin_addr.s_addr) >> 24) == 127)))
			return (1);
		if (ss->ss_family == AF_INET6 &&
		    l->port == ntohs(a6->sin6_port) &&
		    (IN6_ARE_ADDR_EQUAL(&l6->sin6_addr, &a6->sin6_addr) ||
		    (IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr) &&
		    IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))))
			return (1);
	}
	return (0);
}

static void
addrs_cb(const struct dns_addrs *a, void *arg)
{
	struct mconn	*c = arg;
	size_t		 i, n0 = c->naddrs;

	c->dns_pending = 0;
	if (a->status != DNS_OK && a->status != DNS_NXDOMAIN &&
	    a->status != DNS_NODATA)
		c->addr_soft = 1;
	for (i = 0; a->status == DNS_OK && i < a->n && c->naddrs < MAX_ADDRS;
	    i++) {
		struct sockaddr_storage *ss = &c->addrs[c->naddrs];
		*ss = a->ss[i];
		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_port = htons(
			    c->via->host[0] ? c->via->port : relay_port);
		else if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port = htons(
			    c->via->host[0] ? c->via->port : relay_port);
		else
			continue;
		if (!c->smarthost && addr_self(ss) && !dest_local(c)) {
			/*
			 * RFC 5321 5.1: this MX host is this host; it, the
			 * MX hosts after it (as preferred or less) and
			 * those before it as preferred as it go.
			 */
			c->naddrs = n0;
			while (c->naddrs > 0 && c->hpref[c->addr_host[
			    c->naddrs - 1]] == c->hpref[c->hcur])
				c->naddrs--;
			c->nhosts = c->hcur + 1;
			c->self_mx = c->hpref[c->hcur] == c->hpref[0] ? 2 : 1;
			host_done(c);
			return;
		}
		c->addr_host[c->naddrs++] = c->hcur;
	}
	if (a->status == DNS_OK && a->secure && c->mx_secure &&
	    (c->policy == TLSP_DANE || c->policy == TLSP_MTASTS)) {
		/*
		 * RFC 7672 2.2.3: a host that is a (secure) CNAME has its
		 * TLSA records looked up at the expanded name first
		 */
		if (a->canon[0] != '\0' &&
		    strcasecmp(a->canon, c->hosts[c->hcur]) != 0) {
			strlcpy(c->canon[c->hcur], a->canon,
			    sizeof(c->canon[0]));
			c->tlsa_canon[c->hcur] = 1;
		}
		c->dns_pending = 1;
		if (dns_resolve_tlsa(c->tlsa_canon[c->hcur] ?
		    c->canon[c->hcur] : c->hosts[c->hcur], c->smarthost ?
		    c->via->port : 25, tlsa_cb, c) == 0)
			return;
		c->dns_pending = 0;
		c->tlsa_fail[c->hcur] = 1;
	}
	host_done(c);
}

/* the next host's addresses, or connect when every host is known */
static void
host_done(struct mconn *c)
{
	c->hcur++;
	if (c->hcur < c->nhosts && c->naddrs < MAX_ADDRS) {
		c->dns_pending = 1;
		if (dns_resolve_host(c->hosts[c->hcur], addrs_cb, c) == -1) {
			c->dns_pending = 0;
			c->addr_soft = 1;
			c->hcur = c->nhosts;
		} else
			return;
	}
	if (c->naddrs == 0 && c->self_mx == 2 && !c->addr_soft) {
		mx_loop(c, c->hosts[c->hcur - 1]);
		return;
	}
	if (c->naddrs == 0 && c->self_mx && !c->addr_soft) {
		/*
		 * A more preferred MX than this host has no address: it may
		 * come back, this host is its backup (Postfix: 4.4.4)
		 */
		conn_fail(c, 0, "4.4.4", "unable to find primary relay for "
		    "%s (the MX hosts more preferred than this host have no "
		    "address)", c->domain);
		return;
	}
	if (c->naddrs == 0 && !c->addr_soft && !c->smarthost) {
		/*
		 * RFC 5321 5.1: the (implicit) MX is unusable, an error; the
		 * DNS said so for good (NXDOMAIN or NODATA), so a bounce, as
		 * Postfix has it (5.4.4).  A smart host's name stays a retry.
		 */
		char desc[512];
		if (c->nhosts > 1)
			snprintf(desc, sizeof(desc), "no MX host of %s has an "
			    "A or AAAA record", c->domain);
		else
			snprintf(desc, sizeof(desc), "no A or AAAA record for "
			    "%s", c->hosts[0]);
		log_info("mta %s: %s", c->domain, desc);
		job_fail_all(c, EV_BOUNCE, 550, "5.4.4", desc, "dns");
		job_finish(c);
		mconn_free(c);
		return;
	}
	if (c->naddrs == 0) {
		conn_fail(c, 0, "4.4.4", "no address for %s",
		    c->nhosts ? c->hosts[0] : c->domain);
		return;
	}
	c->acur = 0;
	conn_next_addr(c);
}

void
resolve_hosts(struct mconn *c)
{
	c->hcur = 0;
	c->dns_pending = 1;
	if (dns_resolve_host(c->hosts[0], addrs_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "DNS lookup failed");
	}
}

/* host is this host: the hostname, or a listener's */
static int
mx_self(const char *host)
{
	const struct listener	*l;

	if (strcasecmp(host, relay_conf->hostname) == 0)
		return (1);
	TAILQ_FOREACH(l, &relay_conf->listeners, entry)
		if (l->hostname[0] != '\0' &&
		    strcasecmp(host, l->hostname) == 0)
			return (1);
	return (0);
}

/* what the DNS said makes every recipient a bounce (550 ext), logged */
static void
dns_bounce(struct mconn *c, const char *ext, const char *desc)
{
	log_info("mta %s: %s", c->domain, desc);
	job_fail_all(c, EV_BOUNCE, 550, ext, desc, "dns");
	job_finish(c);
	mconn_free(c);
}

/* the most preferred usable MX is this host: a bounce, as Postfix has it */
static void
mx_loop(struct mconn *c, const char *host)
{
	char	 desc[800];

	snprintf(desc, sizeof(desc), "mail for %s loops back to myself (%s "
	    "is this host)", c->domain, host);
	log_warnx("mta %s: %s", c->domain, desc);
	job_fail_all(c, EV_BOUNCE, 550, "5.4.6", desc, "dns");
	job_finish(c);
	mconn_free(c);
}

/*
 * A server that greets with this host's name is this host, reached at an
 * address it does not know as its own (NAT, a load balancer): the mail
 * would loop (Postfix: "host X greeted me with my own hostname").  From
 * an MX host of the best preference (or the implicit MX) a bounce, 550
 * 5.4.6; from a less preferred one, the next address or MX.  A smart host
 * greeting so is a configuration to mend (a local MTA under this host's
 * name), not mail to return: the next address, else deferred, 4.4.6.
 * 1 if so (c is done with).
 */
int
greeting_self(struct mconn *c, const char *text)
{
	char	 word[256], desc[800];
	size_t	 n = strcspn(text, " \t"), h = c->addr_host[c->acur];

	if (n == 0 || n >= sizeof(word) || dest_local(c))
		return (0);
	memcpy(word, text, n);
	word[n] = '\0';
	if (!mx_self(word))
		return (0);
	snprintf(desc, sizeof(desc), "mail for %s loops back to myself (%s "
	    "greets with this host's name)", c->domain, c->hosts[h]);
	log_warnx("mta %s: %s: %s", c->domain, c->peer, desc);
	if (c->smarthost || c->hpref[h] != c->hpref[0]) {
		conn_retry_next(c, "4.4.6", "%s", desc);
		return (1);
	}
	job_fail_all(c, EV_BOUNCE, 550, "5.4.6", desc, "connect");
	job_finish(c);
	c->state = M_QUIT;
	send_line(c, "QUIT");
	return (1);
}

static void
mx_cb(const struct dns_mxlist *mx, void *arg)
{
	struct mconn	*c = arg;
	size_t		 i;

	c->dns_pending = 0;
	c->mx_secure = mx->secure;
	if (mx->null_mx) {
		job_fail_all(c, EV_BOUNCE, 556, "5.1.10",
		    "domain does not accept mail (null MX)", "dns");
		job_finish(c);
		mconn_free(c);
		return;
	}
	switch (mx->status) {
	case DNS_OK:
		if (mx->n == 0) {
			/*
			 * RFC 5321 5.1: an error, never the implicit MX; the
			 * DNS said so, a bounce (Postfix: 5.4.4 "Malformed
			 * or unexpected name server reply")
			 */
			char desc[512];
			snprintf(desc, sizeof(desc), "no usable host in the "
			    "MX records of %s", c->domain);
			dns_bounce(c, "5.4.4", desc);
			return;
		}
		/*
		 * RFC 5321 5.1: this host among the MX hosts, those as
		 * preferred as it or less go (it would send to itself);
		 * when it is the most preferred, the mail loops.
		 */
		for (i = 0; i < mx->n && (!mx_self(mx->mx[i].host) ||
		    dest_local(c)); i++)
			;
		if (i < mx->n)
			while (i > 0 && mx->mx[i - 1].preference ==
			    mx->mx[i].preference)
				i--;
		if (i == 0) {
			mx_loop(c, mx->mx[0].host);
			return;
		}
		c->nhosts = i;
		if (i < mx->n)
			c->self_mx = 1;		/* after the others */
		for (i = 0; i < c->nhosts; i++) {
			strlcpy(c->hosts[i], mx->mx[i].host,
			    sizeof(c->hosts[i]));
			c->hpref[i] = mx->mx[i].preference;
		}
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: the domain itself is the implicit MX */
		if (mx_self(c->domain) && !dest_local(c)) {
			mx_loop(c, c->domain);
			return;
		}
		strlcpy(c->hosts[0], c->domain, sizeof(c->hosts[0]));
		c->nhosts = 1;
		break;
	case DNS_NXDOMAIN:
		job_fail_all(c, EV_BOUNCE, 550, "5.1.2",
		    "recipient domain does not exist", "dns");
		job_finish(c);
		mconn_free(c);
		return;
	default:
		conn_fail(c, 0, "4.4.3", "MX lookup failed for %s", c->domain);
		return;
	}
	resolve_hosts(c);
}

void
start_mx(struct mconn *c)
{
	c->dns_pending = 1;
	if (dns_resolve_mx(c->domain, mx_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "MX lookup failed");
	}
}

/* the domain's MTA-STS policy (or none), then its MX */
void
sts_cb(const struct sts_policy *pol, void *arg)
{
	struct mconn	*c = arg;

	c->dns_pending = 0;
	if (pol != NULL && pol->mode != STS_NONE) {
		c->sts = *pol;
		c->has_sts = 1;
	}
	start_mx(c);
}

/*
 * A recipient at an address literal ([192.0.2.1], [IPv6:2001:db8::1]):
 * that address, no MX, no MTA-STS, no DANE (RFC 5321 2.3.5, 5.1).  A
 * loopback, private or otherwise special one only with "allow
 * private-addresses", as for webhooks: a bounce otherwise.
 */
static void
literal_cb(const struct dns_addrs *a, void *arg)
{
	struct mconn	*c = arg;
	char		 desc[512];

	if (a->status == DNS_OK && a->n > 0 && !http_addr_allowed(
	    (const struct sockaddr *)&a->ss[0], relay_conf->allow_private)) {
		c->dns_pending = 0;
		snprintf(desc, sizeof(desc), "address literal %s is a "
		    "loopback, private or reserved address", c->domain);
		dns_bounce(c, "5.7.1", desc);
		return;
	}
	addrs_cb(a, c);
}

void
start_literal(struct mconn *c)
{
	struct in6_addr	 in6;
	size_t		 len = strlen(c->domain);
	char		*h = c->hosts[0];

	/* "[IPv6:::1]" and "[192.0.2.1]": the address, as dns_resolve_host
	 * takes it; anything else is looked up as it is, and does not exist */
	h[0] = '\0';
	if (len >= 3 && len - 2 < sizeof(c->hosts[0])) {
		memcpy(h, c->domain + 1, len - 2);
		h[len - 2] = '\0';
		if (strncasecmp(h, "IPv6:", 5) == 0 &&
		    inet_pton(AF_INET6, h + 5, &in6) == 1)
			memmove(h, h + 5, strlen(h + 5) + 1);
		else if (inet_pton(AF_INET, h, &in6) != 1)
			h[0] = '\0';
	}
	if (h[0] == '\0')
		strlcpy(h, c->domain, sizeof(c->hosts[0]));
	c->nhosts = 1;
	c->hcur = 0;
	c->dns_pending = 1;
	if (dns_resolve_host(c->hosts[0], literal_cb, c) == -1) {
		c->dns_pending = 0;
		conn_fail(c, 0, "4.4.3", "DNS lookup failed");
	}
}

/* connecting */

/*
 * No Nagle: output is already gathered into one write per pass of the
 * event loop (want_write), and a body leaves in 16 KiB writes.  With
 * Nagle, a write behind a short segment not yet acknowledged (on
 * loopback every 16 KiB one is short) waited for the server's delayed
 * ACK, 40 ms or more on Linux for each message over 16 KiB on a kept
 * connection.
 */
static void
conn_nodelay(int fd)
{
	int	 on = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("mta: TCP_NODELAY");
}

/*
 * Host h has usable TLSA records (RFC 7672 2.2, 3.1): a validated RRset
 * with none usable (PKIX-TA, PKIX-EE, unknown parameters) counts as none
 * for MTA-STS.
 */
static int
host_dane(const struct mconn *c, size_t h)
{
	return (c->tlsa[h] != NULL && c->tlsa[h]->n > 0);
}

/*
 * Address i may be tried: its host's TLSA lookup did not fail (DANE), nor
 * does an enforced MTA-STS policy leave its host out (DANE wins over
 * MTA-STS, RFC 8461 2); conn_next_addr skips the others, saying why
 */
static int
addr_usable(const struct mconn *c, size_t i)
{
	size_t	 h = c->addr_host[i];

	if (c->tlsa_fail[h])
		return (0);
	return (!c->has_sts || host_dane(c, h) ||
	    c->sts.mode != STS_ENFORCE ||
	    mtasts_mx_match(&c->sts, c->hosts[h]));
}

/*
 * The address of this connection is the last one to try (Postfix's final
 * server): no usable address after it, of this MX host or a less
 * preferred one.
 */
int
conn_final(const struct mconn *c)
{
	size_t	 i;

	for (i = c->acur + 1; i < c->naddrs; i++)
		if (addr_usable(c, i))
			return (0);
	return (1);
}

void
conn_next_addr(struct mconn *c)
{
	struct sockaddr_storage	*ss;
	char			 host[64];
	size_t			 h;

	if (mta_stopping())
		return;		/* stopped where it is (mta_stop) */
	for (; c->acur < c->naddrs; c->acur++) {
		ss = &c->addrs[c->acur];
		h = c->addr_host[c->acur];
		if (c->tlsa_fail[h]) {
			snprintf(c->lasterr, sizeof(c->lasterr), "DANE: TLSA "
			    "lookup for %s failed (DNSSEC)", c->hosts[h]);
			conn_last_own(c, "4.7.5");
			/*
			 * TLS-RPT (RFC 8460 4.3.2.1): one failure for this
			 * attempt at the host, not one for each of its
			 * addresses (they follow each other)
			 */
			if (!c->smarthost && (c->acur == 0 ||
			    c->addr_host[c->acur - 1] != h))
				tlsrpt_session(c->domain, NULL, NULL,
				    c->hosts[h], "dnssec-invalid");
			continue;
		}
		/*
		 * DANE wins over MTA-STS (RFC 8461 2), if a TLSA record is
		 * usable: records but none usable are as none, MTA-STS
		 * applies; without it, TLS all the same, unauthenticated
		 * (RFC 7672 2.2; mtls_mandatory)
		 */
		c->dane = host_dane(c, h) || (c->tlsa[h] != NULL &&
		    !c->has_sts);
		c->sts_on = c->has_sts && !c->dane;
		c->sts_fail = NULL;
		if (c->sts_on && !mtasts_mx_match(&c->sts, c->hosts[h])) {
			if (c->sts.mode == STS_ENFORCE) {
				mtls_report(c, "validation-failure");
				snprintf(c->lasterr, sizeof(c->lasterr),
				    "MTA-STS: MX %s matches no mx of the "
				    "policy of %s", c->hosts[h], c->domain);
				conn_last_own(c, "4.7.5");
				continue;
			}
			c->sts_fail = "validation-failure";
		}
		if ((c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			continue;
		conn_nodelay(c->fd);
		if (connect(c->fd, (struct sockaddr *)ss, ss->ss_family ==
		    AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6)) == -1 &&
		    errno != EINPROGRESS) {
			getnameinfo((struct sockaddr *)ss, sizeof(*ss), host,
			    sizeof(host), NULL, 0, NI_NUMERICHOST);
			snprintf(c->lasterr, sizeof(c->lasterr),
			    "connect to %s: %s", host, strerror(errno));
			conn_last_own(c, NULL);
			close(c->fd);
			c->fd = -1;
			continue;
		}
		c->evr = event_new(relay_base, c->fd, EV_READ | EV_PERSIST,
		    conn_io, c);
		c->evw = event_new(relay_base, c->fd, EV_WRITE, conn_io, c);
		if (c->evr == NULL || c->evw == NULL)
			fatal("event_new");
		c->state = M_CONNECT;
		mtls_attempt(c, c->hosts[h]);
		event_add(c->evw, NULL);
		set_timeout(c, relay_connect_timeout);
		return;
	}
	if (c->lasterr[0] == '\0') {
		strlcpy(c->lasterr, "cannot connect", sizeof(c->lasterr));
		conn_last_own(c, NULL);
	}
	/* the destination failed, not the message (sched_job_done); not
	 * when an address took a session and deferred the job's rest */
	if (c->job != NULL && !c->moved_on)
		c->job->site_failed = 1;
	/* the last server's reply, or relayd's own reason */
	conn_fail_desc(c, c->lastcode, c->lastext[0] ? c->lastext : "4.4.1",
	    c->lasterr, c->lastremote ? (ssize_t)c->lastat : -1);
}

/* who we talk to, as the outcome log lines name it: host[ip]:port */
void
conn_peer(struct mconn *c)
{
	struct sockaddr_storage	*ss = &c->addrs[c->acur];
	char			 ip[64], port[8];

	if (getnameinfo((struct sockaddr *)ss, sizeof(*ss), ip, sizeof(ip),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strlcpy(ip, "?", sizeof(ip));
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%s",
	    c->hosts[c->addr_host[c->acur]], ip, port);
}

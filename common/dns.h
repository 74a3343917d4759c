/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * DNS through libunbound, forwarding to the configured resolver, driven by
 * libevent (ub_fd).  Works in a chroot: no /etc/resolv.conf, no /etc/hosts.
 */
#ifndef MH_DNS_H
#define MH_DNS_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/event.h>

struct ub_result;

#define DNS_MAX_ADDRS	16
#define DNS_MAX_MX	16

enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN,		/* name does not exist */
	DNS_NODATA,		/* name exists, no record of that type */
	DNS_SERVFAIL,		/* temporary failure, timeout */
	DNS_BOGUS		/* anything else */
};

struct dns_addrs {
	int			 status;	/* enum dns_status */
	size_t			 n;
	struct sockaddr_storage	 ss[DNS_MAX_ADDRS];	/* port 0 */
};

struct dns_mx {
	char		 host[256];
	int		 preference;
};

struct dns_mxlist {
	int		 status;		/* enum dns_status */
	int		 null_mx;		/* RFC 7505 "0 ." */
	size_t		 n;			/* sorted by preference */
	struct dns_mx	 mx[DNS_MAX_MX];
};

typedef void (*dns_raw_cb)(int status, struct ub_result *, void *);
typedef void (*dns_addrs_cb)(const struct dns_addrs *, void *);
typedef void (*dns_mx_cb)(const struct dns_mxlist *, void *);

/* resolver "127.0.0.1", port 53; before the sandbox. 0 ok, -1 error */
int	dns_init(struct event_base *, const char *resolver, int port);
void	dns_shutdown(void);
/* raw query; the callback owns nothing: the result is freed after it */
int	dns_query(const char *name, int rrtype, dns_raw_cb, void *);
/* A and AAAA of a name, or the name itself when it is a literal address */
int	dns_resolve_host(const char *name, dns_addrs_cb, void *);
/* MX of a domain, sorted, null MX flagged */
int	dns_resolve_mx(const char *domain, dns_mx_cb, void *);

#endif /* MH_DNS_H */

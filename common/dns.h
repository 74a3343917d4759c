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
	/* DNSSEC: A and AAAA validated */
	int			 secure;
	size_t			 n;
	struct sockaddr_storage	 ss[DNS_MAX_ADDRS];	/* port 0 */
	/* the name's CNAME-expanded name, "" when it has no CNAME */
	char			 canon[256];
};

struct dns_mx {
	char		 host[256];
	int		 preference;
};

struct dns_mxlist {
	int		 status;		/* enum dns_status */
	int		 null_mx;		/* RFC 7505 "0 ." */
	int		 secure;		/* DNSSEC validated */
	size_t		 n;			/* sorted by preference */
	struct dns_mx	 mx[DNS_MAX_MX];
};

#define DNS_MAX_TLSA	16

/* one TLSA record (RFC 6698) that RFC 7672 lets an SMTP client use */
struct dns_tlsa {
	uint8_t		 usage;		/* 2 DANE-TA, 3 DANE-EE */
	/* 0 certificate, 1 SubjectPublicKeyInfo */
	uint8_t		 selector;
	uint8_t		 mtype;		/* 1 SHA-256, 2 SHA-512 */
	size_t		 len;
	u_char		 data[64];
};

struct dns_tlsalist {
	int		 status;		/* enum dns_status */
	int		 secure;		/* DNSSEC validated */
	size_t		 nrecords;		/* every TLSA record seen */
	size_t		 n;			/* the usable ones */
	struct dns_tlsa	 rr[DNS_MAX_TLSA];
};

typedef void (*dns_raw_cb)(int status, struct ub_result *, void *);
typedef void (*dns_addrs_cb)(const struct dns_addrs *, void *);
typedef void (*dns_mx_cb)(const struct dns_mxlist *, void *);
typedef void (*dns_tlsa_cb)(const struct dns_tlsalist *, void *);

/* resolver "127.0.0.1", port 53; before the sandbox. 0 ok, -1 error */
int	dns_init(struct event_base *, const char *resolver, int port);
/* the same, validating DNSSEC with the trust anchors (DS/DNSKEY lines) */
int	dns_init_dnssec(struct event_base *, const char *resolver, int port,
	    const char *anchors);
/* a reload: the same, a new context only if one of them changed */
int	dns_reconfigure(const char *resolver, int port, const char *anchors);
void	dns_shutdown(void);
/* raw query; the callback owns nothing: the result is freed after it */
int	dns_query(const char *name, int rrtype, dns_raw_cb, void *);
/*
 * The domain as the DNS knows it: ASCII lowercased, a trailing dot
 * dropped, a U-label made its A-label (IDNA2008, "bücher" is
 * "xn--bcher-kva"); an address literal as it is.  -1: not a name IDNA
 * can convert (out then holds it lowercased, as it is).
 */
int	dns_domain_ascii(const char *, char *, size_t);
/*
 * name as a certificate's or an MTA-STS policy's pattern pat covers it:
 * the same name in any case, or for "*.example.net" exactly one more
 * label (RFC 6125 6.4.3, RFC 8461 4.1).  1 if it does.
 */
int	dns_name_covers(const char *pat, const char *name);
/*
 * The other way: a domain of dns_domain_ascii's form with its A-labels
 * made U-labels ("xn--bcher-kva.example" is "bücher.example").  -1:
 * not a name IDNA can convert, one with an A-label that is no valid
 * U-label's ("xn--esher"), or out too short.
 */
int	dns_domain_utf8(const char *, char *, size_t);
/*
 * TXT record i's character-strings, joined, however long (RFC 7208 3.3,
 * RFC 8461 3.1); to free.  NULL if one holds a NUL (or no memory).
 */
char	*dns_txt_string(const struct ub_result *, int i);
/*
 * A and AAAA of a name, or the name itself when it is a literal address.
 * 0: the callback runs exactly once, from the event loop, never from
 * inside this call; -1: it never runs.
 */
int	dns_resolve_host(const char *name, dns_addrs_cb, void *);
/*
 * MX of a domain, sorted, null MX flagged; DNS_OK with n 0 and no null MX:
 * records, none naming a usable host (an address, a malformed name)
 */
int	dns_resolve_mx(const char *domain, dns_mx_cb, void *);
/* TLSA of "_25._tcp.host" (RFC 7672): the usable records, validated */
int	dns_resolve_tlsa(const char *host, int port, dns_tlsa_cb, void *);

#endif /* MH_DNS_H */

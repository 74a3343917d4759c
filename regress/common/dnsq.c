/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * dnsq: run one query through common/dns.c and print the answer.
 *
 * usage: dnsq -R ip:port [-n N] host|mx|txt|raw NAME [TYPE]
 *
 * -n N asks N times, each after the answer before (a second answer may
 * come from the cache of common/dns.c), and prints "asked" each time
 * the call has returned: an answer printed before it came from inside
 * the call.
 *
 * Output, one item a line:
 *	status OK|NXDOMAIN|NODATA|SERVFAIL|BOGUS
 *	addr 192.0.2.1			(host)
 *	null_mx 0|1, mx PREF HOST	(mx)
 *	txt "string"			(txt, each character-string joined)
 *	rdata HEX			(raw)
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>

#include "dns.h"
#include "mhtest.h"

static const char *statname[] = { "OK", "NXDOMAIN", "NODATA", "SERVFAIL",
    "BOGUS" };
static struct event_base *base;

static void
print_status(int st)
{
	printf("status %s\n", st >= 0 && st <= DNS_BOGUS ? statname[st] : "?");
}

static void
host_cb(const struct dns_addrs *a, void *arg)
{
	char	 buf[INET6_ADDRSTRLEN];
	size_t	 i;

	print_status(a->status);
	for (i = 0; i < a->n; i++) {
		if (a->ss[i].ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    &a->ss[i])->sin_addr, buf, sizeof(buf));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    &a->ss[i])->sin6_addr, buf, sizeof(buf));
		printf("addr %s\n", buf);
	}
	event_base_loopexit(base, NULL);
}

static void
mx_cb(const struct dns_mxlist *m, void *arg)
{
	size_t	 i;

	print_status(m->status);
	printf("null_mx %d\n", m->null_mx);
	for (i = 0; i < m->n; i++)
		printf("mx %d %s\n", m->mx[i].preference, m->mx[i].host);
	event_base_loopexit(base, NULL);
}

static void
txt_cb(int st, struct ub_result *r, void *arg)
{
	int	 i, o, l;

	print_status(st);
	for (i = 0; st == DNS_OK && r->data[i] != NULL; i++) {
		printf("txt \"");
		for (o = 0; o < r->len[i]; o += l + 1) {
			l = (unsigned char)r->data[i][o];
			if (o + 1 + l > r->len[i])
				break;
			printf("%.*s", l, r->data[i] + o + 1);
		}
		printf("\"\n");
	}
	event_base_loopexit(base, NULL);
}

static void
raw_cb(int st, struct ub_result *r, void *arg)
{
	int	 i, j;

	print_status(st);
	if (r != NULL)
		printf("rcode %d packet %d\n", r->rcode, r->answer_len);
	for (i = 0; st == DNS_OK && r->data[i] != NULL; i++) {
		printf("rdata ");
		for (j = 0; j < r->len[i]; j++)
			printf("%02x", (unsigned char)r->data[i][j]);
		printf("\n");
	}
	event_base_loopexit(base, NULL);
}

int
main(int argc, char *argv[])
{
	char	*resolver = NULL;
	int	 ch, port = 53, r, n = 1, i;

	while ((ch = getopt(argc, argv, "R:n:")) != -1) {
		switch (ch) {
		case 'n':
			if ((n = atoi(optarg)) < 1)
				goto usage;
			break;
		case 'R':
			resolver = optarg;
			mhtest_hostport(optarg, &port);
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || resolver == NULL)
		goto usage;
	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (dns_init(base, resolver, port) == -1)
		errx(1, "dns_init");
	for (i = 0; i < n; i++) {
		if (strcmp(argv[0], "host") == 0)
			r = dns_resolve_host(argv[1], host_cb, NULL);
		else if (strcmp(argv[0], "mx") == 0)
			r = dns_resolve_mx(argv[1], mx_cb, NULL);
		else if (strcmp(argv[0], "txt") == 0)
			r = dns_query(argv[1], ns_t_txt, txt_cb, NULL);
		else if (strcmp(argv[0], "raw") == 0 && argc == 3)
			r = dns_query(argv[1], atoi(argv[2]), raw_cb, NULL);
		else
			goto usage;
		if (r == -1)
			errx(1, "query failed to start");
		if (n > 1)
			printf("asked\n");
		fflush(stdout);
		event_base_dispatch(base);
	}
	dns_shutdown();
	event_base_free(base);
	return (0);
 usage:
	fprintf(stderr, "usage: dnsq -R ip[:port] [-n N] host|mx|txt|raw "
	    "name [type]\n");
	return (2);
}

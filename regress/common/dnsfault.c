/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * dnsfault: dns_resolve_host of common/dns.c, built here with its test
 * fault point (DNS_TEST_FAULT: a query of one type fails to start as if
 * ub_resolve_event had failed), against a real resolver.
 *
 * usage: dnsfault -R ip:port NAME FAULT [NAME FAULT ...]
 *
 * For each pair, in turn: FAULT 0 none, else the type (1 A, 28 AAAA)
 * whose query fails to start.  One line each:
 *	NAME r=0|-1 calls=N inside=N status=S addrs=N
 * calls counts the callbacks (the loop runs 10 s for the first, then
 * 300 ms more for a second one), inside those run from inside the call.
 */
#define DNS_TEST_FAULT
#include "dns.c"

#include <err.h>
#include <unistd.h>

#include "mhtest.h"

static const char *statname[] = { "OK", "NXDOMAIN", "NODATA", "SERVFAIL",
    "BOGUS" };
static struct event_base *base;
static struct event	*deadline;
static int		 calls, inside, in_call, last_status = -1;
static size_t		 last_n;

static void
deadline_cb(int fd, short ev, void *arg)
{
	event_base_loopbreak(base);
}

static void
host_cb(const struct dns_addrs *a, void *arg)
{
	struct timeval	 tv = { 0, 300000 };

	calls++;
	if (in_call)
		inside++;
	last_status = a->status;
	last_n = a->n;
	evtimer_add(deadline, &tv);
}

int
main(int argc, char *argv[])
{
	struct timeval	 tv;
	int		 ch, port = 53, r, i;
	char		*resolver = NULL;

	while ((ch = getopt(argc, argv, "R:")) != -1) {
		switch (ch) {
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
	if (argc < 2 || argc % 2 != 0 || resolver == NULL)
		goto usage;
	if ((base = event_base_new()) == NULL ||
	    (deadline = evtimer_new(base, deadline_cb, NULL)) == NULL)
		errx(1, "event_base_new");
	if (dns_init(base, resolver, port) == -1)
		errx(1, "dns_init");
	for (i = 0; i < argc; i += 2) {
		calls = inside = 0;
		last_status = -1;
		last_n = 0;
		dns_test_fault = atoi(argv[i + 1]);
		in_call = 1;
		r = dns_resolve_host(argv[i], host_cb, NULL);
		in_call = 0;
		dns_test_fault = -1;
		tv.tv_sec = r == 0 && calls == 0 ? 10 : 0;
		tv.tv_usec = r == 0 && calls == 0 ? 0 : 300000;
		evtimer_add(deadline, &tv);
		event_base_dispatch(base);
		printf("%s r=%d calls=%d inside=%d status=%s addrs=%zu\n",
		    argv[i], r, calls, inside, last_status >= 0 &&
		    last_status <= DNS_BOGUS ? statname[last_status] : "-",
		    last_n);
		fflush(stdout);
	}
	dns_shutdown();
	event_free(deadline);
	event_base_free(base);
	return (0);
 usage:
	fprintf(stderr, "usage: dnsfault -R ip:port name fault ...\n");
	return (2);
}

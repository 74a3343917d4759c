/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SSRF guard: http_addr_allowed() on every refused range and a few
 * public addresses, with and without allow_private.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "tap.h"
#include "http.h"

static int
allowed(const char *a, int priv)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return (-1);
	return (http_addr_allowed((struct sockaddr *)&ss, priv));
}

int
main(void)
{
	static const char *refused[] = {
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
		"100.64.0.1", "100.127.255.254", "127.0.0.1", "127.1.2.3",
		"169.254.169.254", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "192.0.0.8", "198.18.0.1", "224.0.0.1",
		"239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
		"::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a00:1",
		"fe80::1", "febf::1", "fc00::1", "fd12:3456::1", "ff02::1",
		"2002:7f00:1::1", "2001:db8::1", "100::1",
		/* local-use NAT64 (RFC 8215): to 10.0.0.1 on such a net */
		"64:ff9b:1::a00:1", "64:ff9b:1:ffff::1",
		/* Teredo: a private server, or a client 10.0.0.1 inverted */
		"2001:0:a00:1::1", "2001:0:808:808::f5ff:fffe",
		"2001:2::1", "3fff::1", "3fff:fff::1", "5f00::1",
		/* SIIT IPv4-translated (RFC 7915): to 10.0.0.1, 127.0.0.1 */
		"::ffff:0:a00:1", "::ffff:0:7f00:1", "::ffff:0:0:0",
	};
	static const char *public[] = {
		"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1",
		"172.15.255.255", "172.32.0.1", "192.169.0.1", "11.22.33.44",
		"2a01:4f8::1", "2606:4700::1111", "::ffff:8.8.8.8",
		"64:ff9b::808:808", "2002:808:808::1",
		"2001:0:808:808::f7f7:f7f7", "2001:3::1", "3ffe::1",
		"3fff:1000::1", "4000::1", "5f01::1", "::ffff:0:808:808",
	};
	size_t	 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		is_int(allowed(refused[i], 0), 0, "%s refused", refused[i]);
		is_int(allowed(refused[i], 1), 1,
		    "%s allowed with allow_private", refused[i]);
	}
	for (i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		is_int(allowed(public[i], 0), 1, "%s allowed", public[i]);
	ok(http_addr_allowed(NULL, 1) == 0, "NULL refused");
	return (tap_done());
}

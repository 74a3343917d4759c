/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * uri_encode (common/uri.c): known cases (a URI kept as it is, bytes
 * encoded, what a browser keeps in a query kept, a lone % too, the
 * controls and spaces around a URL and tabs and line breaks in it
 * dropped, a non-ASCII host refused, a non-ASCII path encoded) and
 * uri_strip, the result cut at every buffer length (a prefix, never
 * half an escape, the length always the whole), and, over 20,000
 * random URLs of the bytes that matter, the same result as the plain
 * one-byte-at-a-time statement of the rule below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tap.h"
#include "uri.h"

/* the rule, byte by byte, as uri.h states it */
static int
ref_encode(const char *url, char *out, size_t len)
{
	static const char	 hexd[] = "0123456789ABCDEF";
	const unsigned char	*p;
	const char		*s, *auth;
	size_t			 n = 0, k, end;
	int			 full = len == 0, unsafe, web;
	char			 e[3];

	while (*url != '\0' && (unsigned char)*url <= ' ')
		url++;
	for (end = strlen(url); end > 0 && (unsigned char)url[end - 1] <= ' ';
	    end--)
		;
	p = (const unsigned char *)url;
	auth = url;
	/* http(s): a backslash ends the host, and is a slash in the path */
	web = strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0;
	if ((s = strstr(url, "://")) != NULL &&
	    strcspn(url, "/?#") >= (size_t)(s - url)) {
		s += 3;
		auth = s + strcspn(s, web ? "/?#\\" : "/?#");
	}
	for (; p < (const unsigned char *)url + end; p++) {
		if (*p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (*p == '?' || *p == '#')
			web = 0;
		unsafe = *p <= 0x20 || *p >= 0x7f ||
		    strchr("\"<>", *p) != NULL;
		k = 1;
		e[0] = *p;
		if (*p == '\\' && web && (const char *)p >= auth)
			e[0] = '/';
		else if (unsafe) {
			if ((const char *)p < auth)
				return (-1);
			e[0] = '%';
			e[1] = hexd[*p >> 4];
			e[2] = hexd[*p & 0x0f];
			k = 3;
		}
		if (!full && n + k < len)
			memcpy(out + n, e, k);
		else if (!full) {
			out[n] = '\0';
			full = 1;
		}
		n += k;
	}
	if (!full)
		out[n] = '\0';
	return ((int)n);
}

static void
known(const char *url, const char *want, const char *what)
{
	char	 out[512];
	int	 n;

	n = uri_encode(url, out, sizeof(out));
	if (want == NULL) {
		is_int(n, -1, "%s: refused", what);
		return;
	}
	is_str(out, want, "%s", what);
	is_int(n, strlen(want), "%s: its length", what);
	is_int(uri_encode(url, NULL, 0), strlen(want),
	    "%s: the length alone (len 0)", what);
}

static void
test_known(void)
{
	known("https://example.com/a/b?c=d&e=f#g",
	    "https://example.com/a/b?c=d&e=f#g", "a URI as it is");
	known("https://example.com/a b", "https://example.com/a%20b",
	    "a space");
	known("https://example.com/\"<>^`{|}?\"<>^`{|}'#\"<>^`{|}'",
	    "https://example.com/%22%3C%3E^`{|}?%22%3C%3E^`{|}'"
	    "#%22%3C%3E^`{|}'",
	    "\" < > encoded; ^ ` { | } ' left to the browser (it keeps "
	    "them in a query)");
	known("https://example.com/a\\b?c\\d#e\\f",
	    "https://example.com/a/b?c\\d#e\\f",
	    "a backslash: a slash in the path, as a browser reads it; "
	    "kept in the query and fragment, as it keeps it there");
	known("HTTP://example.com\\a\\b", "HTTP://example.com/a/b",
	    "a backslash ends the host, as a slash");
	known("ftp://example.com/a\\b", "ftp://example.com/a\\b",
	    "a backslash of another scheme: kept");
	known("https://example.com/%41%zz%4?q=%zz&r=%#%",
	    "https://example.com/%41%zz%4?q=%zz&r=%#%",
	    "%XX and a lone % kept, as a browser keeps them");
	known("\x01\x1f \nhttps://example.com/a \x0b\r\n",
	    "https://example.com/a",
	    "controls and spaces around the URL dropped (WHATWG URL)");
	known(" \t", "", "nothing but spaces");
	known("https://exa\tmple.com/a\r\nb", "https://example.com/ab",
	    "tabs and line breaks dropped, in the host too");
	known("https://exämple.com/", NULL, "a host not ASCII");
	known("https://u ser@example.com/", NULL, "a space in the userinfo");
	known("https://example.com/ä?q=é", "https://example.com/%C3%A4?q=%C3%A9",
	    "a path and query not ASCII, as UTF-8");
	known("https://example.com/\x7f\x01" "a", "https://example.com/%7F%01a",
	    "DEL and a control inside");
	known("mailto:a b@example.com", "mailto:a%20b@example.com",
	    "no authority: every byte may be encoded");
	known("", "", "nothing");
}

static void
test_strip(void)
{
	char	 u[] = "\x01 \fht\ttps://ex\nample.com/a\r b\x1f\x7f \x0b";

	is_int(uri_strip(u), 25, "uri_strip: the new length");
	is_str(u, "https://example.com/a b\x1f\x7f",
	    "uri_strip: controls and spaces around dropped, tabs and line "
	    "breaks inside, a DEL and the controls inside kept");
}

static void
test_cut(void)
{
	const char	*url = "https://example.com/a b%c";
	char		 want[64], got[64];
	size_t		 len;
	int		 n, m, bad = 0;

	n = ref_encode(url, want, sizeof(want));
	for (len = 1; len <= (size_t)n + 2; len++) {
		memset(got, '#', sizeof(got));
		m = uri_encode(url, got, len);
		ref_encode(url, want, len);
		if (m != n || strcmp(got, want) != 0 || strlen(got) >= len ||
		    got[len] != '#') {
			printf("# len %zu: got %d \"%s\", want %d \"%s\"\n",
			    len, m, got, n, want);
			bad++;
		}
	}
	is_int(bad, 0, "cut at every length: a prefix without half an escape, "
	    "nothing past len, the whole length returned");
}

static void
test_random(void)
{
	static const char	 bytes[] = "ab/:?#%%%%419Fz \t\r\n\"<>\\^`{|}@"
	    "\x01\x7f\x80\xc3\xa4\xff";
	char			 url[80], got[256], want[256];
	size_t			 i, j, n, k;
	int			 bad = 0, g, w;

	for (i = 0; i < 20000; i++) {
		n = i % 3 == 0 ? 0 : 8;
		if (n != 0)
			memcpy(url, "https://", n);
		k = n + arc4random_uniform(40);
		for (j = n; j < k; j++)
			url[j] = bytes[arc4random_uniform(sizeof(bytes) - 1)];
		url[j] = '\0';
		g = uri_encode(url, got, i % 2 ? sizeof(got) : 20);
		w = ref_encode(url, want, i % 2 ? sizeof(want) : 20);
		if (g != w || (w != -1 && strcmp(got, want) != 0)) {
			if (bad++ < 5)
				printf("# \"%s\": got %d \"%s\", want %d "
				    "\"%s\"\n", url, g, got, w, want);
		}
	}
	is_int(bad, 0, "20,000 random URLs: as the rule byte by byte");
}

int
main(void)
{
	test_known();
	test_strip();
	test_cut();
	test_random();
	return (tap_done());
}

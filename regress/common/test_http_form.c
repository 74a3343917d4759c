/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * http_form_add(): the exact bytes of an x-www-form-urlencoded body, as
 * the authorization callbacks (raw keys), the error callbacks and the
 * failure events (encoded keys) send them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "tap.h"
#include "evbuf.h"
#include "http.h"

static char *
form1(const char *key, const char *val, int flags)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	return (evbuf_finish(b, http_form_add(b, key, val, flags), NULL));
}

static void
check1(const char *key, const char *val, int flags, const char *want,
    const char *what)
{
	char	*got = form1(key, val, flags);

	is_str(got, want, "%s", what);
	free(got);
}

/* every byte alone: itself if unreserved (RFC 3986), else %XX upper case */
static void
check_bytes(void)
{
	char	 v[2], want[8], *got;
	int	 c, bad = 0;

	for (c = 1; c < 256; c++) {
		v[0] = (char)c;
		v[1] = '\0';
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-._~", c) != NULL)
			snprintf(want, sizeof(want), "k=%c", c);
		else
			snprintf(want, sizeof(want), "k=%%%02X", c);
		got = form1("k", v, 0);
		if (got == NULL || strcmp(got, want) != 0) {
			printf("# byte 0x%02x: got \"%s\", want \"%s\"\n", c,
			    got ? got : "(null)", want);
			bad++;
		}
		free(got);
	}
	ok(bad == 0, "each of the 255 bytes: unreserved as is, the rest %%XX");
}

int
main(void)
{
	struct evbuffer	*b;
	char		*body;
	int		 err;

	check1("to", "a b+c&d=e/f?g%h#i", 0,
	    "to=a%20b%2Bc%26d%3De%2Ff%3Fg%25h%23i", "reserved bytes encoded");
	check1("v", "AZaz09-._~", 0, "v=AZaz09-._~", "unreserved kept");
	check1("v", "caf\xc3\xa9 \x01\x7f\xff", 0, "v=caf%C3%A9%20%01%7F%FF",
	    "UTF-8 and control bytes as %XX, upper case");
	check1("v", NULL, 0, "v=", "NULL value: empty");
	check1("v", "", 0, "v=", "empty value");
	check1("spf[result]", "pass", HTTP_FORM_RAWKEY, "spf[result]=pass",
	    "HTTP_FORM_RAWKEY: the key as it is");
	check1("tags[]", "a b", 0, "tags%5B%5D=a%20b", "the key encoded");
	check_bytes();

	/* an authorization callback's body, byte for byte */
	if ((b = evbuffer_new()) == NULL)
		return (1);
	err = http_form_add(b, "size", "1234", HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "to", "user+tag@example.org", HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "from", "", HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "helo_domain", "mx.example.com",
	    HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "remote_ip", "2001:db8::1", HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "spf[result]", "softfail", HTTP_FORM_RAWKEY);
	err |= http_form_add(b, "spf[domain]", "example.com",
	    HTTP_FORM_RAWKEY);
	body = evbuf_finish(b, err, NULL);
	is_str(body, "size=1234&to=user%2Btag%40example.org&from="
	    "&helo_domain=mx.example.com&remote_ip=2001%3Adb8%3A%3A1"
	    "&spf[result]=softfail&spf[domain]=example.com",
	    "fields joined by &, none before the first");
	free(body);
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * tokenmint: make a tracking token the way relayd does (for the tests
 * of webd, and for minting tokens by hand).
 *
 *	tokenmint SECRET open|click|unsubscribe QUEUE-ID RCPT DOMAIN
 *	    [URL [LINK [ISSUED]]]
 *
 * SECRET is the tracking block's secret or the spool's tracking.key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int
main(int argc, char *argv[])
{
	struct token_key	 k;
	struct token		 t;
	char			 out[TOKEN_STR_MAX];

	if (argc < 6) {
		fprintf(stderr, "usage: tokenmint secret kind queue-id rcpt "
		    "domain [url [link [issued]]]\n");
		return (2);
	}
	if (token_key_from_secret(&k, argv[1]) == -1) {
		fprintf(stderr, "tokenmint: secret too short\n");
		return (1);
	}
	memset(&t, 0, sizeof(t));
	if (strcmp(argv[2], "open") == 0)
		t.kind = TOKEN_OPEN;
	else if (strcmp(argv[2], "click") == 0)
		t.kind = TOKEN_CLICK;
	else if (strcmp(argv[2], "unsubscribe") == 0)
		t.kind = TOKEN_UNSUBSCRIBE;
	strlcpy(t.queue_id, argv[3], sizeof(t.queue_id));
	strlcpy(t.recipient, argv[4], sizeof(t.recipient));
	strlcpy(t.domain, argv[5], sizeof(t.domain));
	if (argc > 6)
		strlcpy(t.url, argv[6], sizeof(t.url));
	if (argc > 7)
		t.link = (uint16_t)atoi(argv[7]);
	if (argc > 8)
		t.issued = atoll(argv[8]);
	if (token_encode(&t, &k, out, sizeof(out)) < 0) {
		fprintf(stderr, "tokenmint: bad field\n");
		return (1);
	}
	printf("%s\n", out);
	return (0);
}

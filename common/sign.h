/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Standard Webhooks signatures (https://www.standardwebhooks.com/):
 * HMAC-SHA256 over "msg_id.timestamp.body" keyed with the base64 secret
 * that follows "whsec_", sent as "v1,<base64>".
 */
#ifndef MH_SIGN_H
#define MH_SIGN_H

#include <stddef.h>

#define SIGN_SIG_MAX	128	/* "v1," + base64 of 32 bytes, with room */
#define SIGN_HDR_MAX	256	/* one "webhook-...: value" header line */
#define SIGN_ID_MAX	128

struct sign_headers {
	char	 id[SIGN_HDR_MAX];		/* "webhook-id: msg_..." */
	/* "webhook-timestamp: 1700000000" */
	char	 timestamp[SIGN_HDR_MAX];
	/* "webhook-signature: v1,..." */
	char	 signature[SIGN_HDR_MAX];
};

/*
 * sig receives "v1,<base64>"; secret is "whsec_<base64 key>" (a secret
 * without the prefix is taken as base64 too).  0 ok, -1 on a bad secret,
 * a msg_id with characters outside [A-Za-z0-9_.-] or a short buffer.
 */
int	sign_webhook(const char *secret, const char *msg_id, long timestamp,
	    const void *body, size_t len, char *sig, size_t siglen);
/*
 * The length of the key that secret decodes to, or -1 if none (not
 * base64 of 4n characters, no byte, a key longer than MH_HMAC_KEY_MAX):
 * such a secret can never sign
 */
int	sign_key_len(const char *secret);
/* the three header lines, ready for http_request.extra_headers */
int	sign_headers(const char *secret, const char *msg_id, long timestamp,
	    const void *body, size_t len, struct sign_headers *);

#endif /* MH_SIGN_H */

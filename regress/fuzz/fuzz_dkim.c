/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the inbound DKIM header path (hookd/verdict.c over
 * libopendkim and libopendmarc), without DNS: every key lookup fails.
 * The first byte chooses the input's role: odd, the whole message; even,
 * the values of DKIM-Signature headers (one a line) in front of a fixed
 * message.  Afterwards the verdicts must be bounded and safe: at most
 * ENVELOPE_DKIM_MAX, the envelope still encodes, and the
 * Authentication-Results header has no line break but its folding;
 * verdict_ar_strip on the raw input stays in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char	 tail[] = "From: A <a@rej.test>\r\nTo: b@example.net\r\n"
	"Subject: fuzz\r\nDate: Mon, 30 Nov 2026 20:00:00 +0000\r\n\r\n"
	"Hello.\r\n";

/* DKIM-Signature: <line> for each line of data, then the fixed message */
static char *
as_headers(const uint8_t *data, size_t size, size_t *len)
{
	char	*m, *p;
	size_t	 i;

	if ((m = malloc(size * 20 + sizeof(tail) + 32)) == NULL)
		return (NULL);
	p = m + sprintf(m, "DKIM-Signature: ");
	for (i = 0; i < size; i++) {
		if (data[i] == '\n') {
			p += sprintf(p, "\r\nDKIM-Signature: ");
			continue;
		}
		if (data[i] != '\r' && data[i] != '\0')
			*p++ = data[i];
	}
	p += sprintf(p, "\r\n%s", tail);
	*len = p - m;
	return (m);
}

static void
check(const struct envelope *env)
{
	char	*ar, *enc, *p;

	if (!env->auth_checked || env->ndkim > ENVELOPE_DKIM_MAX)
		abort();
	if ((enc = envelope_encode(env, NULL)) == NULL)
		abort();
	free(enc);
	if ((ar = verdict_ar_header(env, "\r\n")) == NULL)
		abort();
	for (p = ar; *p != '\0'; p++) {
		if (*p == '\n' && (p == ar || p[-1] != '\r'))
			abort();
		if (*p == '\r' && (p[1] != '\n' || (p[2] != '\t' &&
		    p[2] != '\0')))
			abort();
	}
	free(ar);
}

/* the Authentication-Results stripping: shorter, never longer */
static void
strip(const uint8_t *data, size_t size)
{
	char	*m;
	size_t	 n;

	if ((m = malloc(size + 1)) == NULL)
		return;
	memcpy(m, data, size);
	if ((n = verdict_ar_strip(m, size, NULL)) > size)
		abort();
	free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct envelope		 env;
	char			*msg;
	size_t			 len;

	if (!init) {
		verdict_init(VERDICT_PSL_FILE);
		verdict_configure("mx.test");
		init = 1;
	}
	if (size == 0)
		return (0);
	envelope_init(&env);
	strlcpy(env.id, "0123456789abcdef", sizeof(env.id));
	strlcpy(env.sender, "a@rej.test", sizeof(env.sender));
	strlcpy(env.spf_result, "pass", sizeof(env.spf_result));
	strlcpy(env.spf_domain, "rej.test", sizeof(env.spf_domain));
	strlcpy(env.remote_ip, "192.0.2.10", sizeof(env.remote_ip));
	if (data[0] & 1)
		verdict_fuzz(data + 1, size - 1, &env);
	else {
		if ((msg = as_headers(data + 1, size - 1, &len)) == NULL)
			return (0);
		verdict_fuzz((const unsigned char *)msg, len, &env);
		free(msg);
	}
	check(&env);
	envelope_clear(&env);
	strip(data + 1, size - 1);
	return (0);
}

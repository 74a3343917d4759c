/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Sealed verdicts (seal.h): HMAC-SHA256 over the facts of one RCPT
 * verdict, each field followed by a NUL (no field can hold one), keyed
 * with the parent's per-start key.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "digest.h"
#include "hex.h"
#include "seal.h"

#define SEAL_BUF	2048

static unsigned char	seal_key[SEAL_KEY_HEX / 2];
static int		seal_have_key;

struct sbuf {
	char	 b[SEAL_BUF];
	size_t	 len;
	int	 overflow;
};

static void
sb_add(struct sbuf *sb, const char *s)
{
	size_t	 n = strlen(s) + 1;

	if (n > sizeof(sb->b) - sb->len) {
		sb->overflow = 1;
		return;
	}
	memcpy(sb->b + sb->len, s, n);
	sb->len += n;
}

static void
sb_num(struct sbuf *sb, long long v)
{
	char	 n[32];

	snprintf(n, sizeof(n), "%lld", v);
	sb_add(sb, n);
}

int
seal_set_key(const char *hex)
{
	if (hex == NULL || !mh_ishex(hex, SEAL_KEY_HEX) ||
	    mh_unhex(seal_key, hex, sizeof(seal_key)) == -1)
		return (-1);
	seal_have_key = 1;
	return (0);
}

void
seal_new_key(char *hex)
{
	unsigned char	 raw[SEAL_KEY_HEX / 2];

	arc4random_buf(raw, sizeof(raw));
	mh_hex(hex, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
}

/* "TIME.HEX" of the buffer; -1 without a key */
static int
seal_mac(const struct sbuf *sb, time_t t, char *out, size_t outlen)
{
	unsigned char	 mac[MH_SHA256_LEN];
	int		 n;

	if (!seal_have_key || sb->overflow)
		return (-1);
	mh_hmac_sha256(seal_key, sizeof(seal_key), NULL, 0, sb->b, sb->len,
	    mac);
	n = snprintf(out, outlen, "%lld.", (long long)t);
	if (n < 0 || (size_t)n + 2 * sizeof(mac) >= outlen)
		return (-1);
	mh_hex(out + n, mac, sizeof(mac));
	return (0);
}

static void
rcpt_facts(struct sbuf *sb, time_t t, const char *session,
    const char *sender, const char *rcpt, int dest, uint32_t route,
    const char *ip, const char *helo, const char *auth_user)
{
	memset(sb, 0, sizeof(*sb));
	sb_add(sb, "mailhook-rcpt-v1");
	sb_num(sb, t);
	sb_add(sb, session);
	sb_add(sb, sender);
	sb_add(sb, rcpt);
	sb_num(sb, dest);
	sb_num(sb, dest == DEST_ROUTE ? route : 0);
	sb_add(sb, ip);
	sb_add(sb, helo);
	sb_add(sb, auth_user);
}

static void
spf_facts(struct sbuf *sb, time_t t, const char *session,
    const char *sender, const char *ip, const char *helo,
    const char *result, const char *domain)
{
	memset(sb, 0, sizeof(*sb));
	sb_add(sb, "mailhook-spf-v1");
	sb_num(sb, t);
	sb_add(sb, session);
	sb_add(sb, sender);
	sb_add(sb, ip);
	sb_add(sb, helo);
	sb_add(sb, result);
	sb_add(sb, domain);
}

int
seal_rcpt_verdict(const struct authd_rcpt_req *req,
    struct authd_rcpt_res *res, time_t now)
{
	struct sbuf	 sb;
	char		 session[MH_SESSION_LEN];

	res->seal[0] = res->spf_seal[0] = '\0';
	snprintf(session, sizeof(session), "%016llx",
	    (unsigned long long)req->sessid);
	rcpt_facts(&sb, now, session, req->sender, req->rcpt, res->dest,
	    res->route, req->remote_ip, req->helo, req->auth_user);
	if (seal_mac(&sb, now, res->seal, sizeof(res->seal)) == -1)
		return (-1);
	if (res->spf_result[0] == '\0')
		return (0);
	spf_facts(&sb, now, session, req->sender, req->remote_ip, req->helo,
	    res->spf_result, res->spf_domain);
	return (seal_mac(&sb, now, res->spf_seal, sizeof(res->spf_seal)));
}

/* is seal the MAC of the facts, made within window seconds of now? */
static int
seal_ok(struct sbuf *sb, const char *seal, time_t t, time_t now, int window)
{
	char	 want[MH_SEAL_MAX];

	if (t > now + 60 || now - t > window ||
	    seal_mac(sb, t, want, sizeof(want)) == -1 ||
	    strlen(seal) != strlen(want))
		return (0);
	return (CRYPTO_memcmp(seal, want, strlen(want)) == 0);
}

static int
seal_time(const char *seal, time_t *t)
{
	char		*end;
	long long	 v;

	v = strtoll(seal, &end, 10);
	if (end == seal || *end != '.' || v <= 0)
		return (-1);
	*t = (time_t)v;
	return (0);
}

int
seal_envelope_check(const struct envelope *env, time_t now, int window,
    const char **bad)
{
	const struct envelope_rcpt	*r;
	struct sbuf			 sb;
	time_t				 t;
	size_t				 i;

	*bad = NULL;
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		*bad = r->addr;
		if (seal_time(r->seal, &t) == -1)
			return (-1);
		rcpt_facts(&sb, t, env->session, env->sender, r->addr,
		    r->dest, r->route, env->remote_ip, env->helo,
		    env->auth_user);
		if (!seal_ok(&sb, r->seal, t, now, window))
			return (-1);
	}
	*bad = NULL;
	if (env->spf_result[0] == '\0' && env->spf_domain[0] == '\0') {
		/*
		 * authd checks SPF for every routed recipient and seals its
		 * result: none at all is one taken away (a "fail" that would
		 * look like no check made)
		 */
		for (i = 0; i < env->nrcpt; i++)
			if (env->rcpts[i].dest == DEST_ROUTE)
				return (-1);
		return (0);
	}
	if (seal_time(env->spf_seal, &t) == -1)
		return (-1);
	spf_facts(&sb, t, env->session, env->sender, env->remote_ip,
	    env->helo, env->spf_result, env->spf_domain);
	return (seal_ok(&sb, env->spf_seal, t, now, window) ? 0 : -1);
}

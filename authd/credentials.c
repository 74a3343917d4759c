/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd: SMTP AUTH (PLAIN, LOGIN) against the credentials file.
 *
 * The parent reads the file and hands authd its text; lines are
 * "user:hash" with crypt(3) hashes (libxcrypt: yescrypt $y$, bcrypt $2b$,
 * sha512-crypt $6$, ...).  Hashes are compared in constant time, an
 * unknown user costs the file's costliest hash computation, and each
 * remote address (IPv6: its /64) gets a limited number of failures per window.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mailhook.h"
#include "credlines.h"
#include "log.h"
#include "authd.h"

#define THROTTLE_SLOTS		1024
#define DUMMY_SETTING		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1"
#define CLASSES_MAX		32	/* of hashes timed at load */

struct cred {
	char	*user;
	char	*hash;
};

struct creds {
	struct cred	*v;
	size_t		 n;
	char		*dummy;		/* setting for unknown users */
};

struct throttle {
	char	 key[64];
	time_t	 start;			/* first failure of the window */
	int	 fails;
};

static struct throttle	 throttle[THROTTLE_SLOTS];
static int		 throttle_max = 5;
static int		 throttle_window = 300;
static struct crypt_data cdata;

static void
creds_add(struct creds *c, const char *line, size_t len)
{
	const char	*colon;
	struct cred	*v;

	colon = memchr(line, ':', len);
	if ((v = reallocarray(c->v, c->n + 1, sizeof(*v))) == NULL)
		fatal("credentials");
	c->v = v;
	if ((v[c->n].user = strndup(line, colon - line)) == NULL ||
	    (v[c->n].hash = strndup(colon + 1, line + len - colon - 1)) ==
	    NULL)
		fatal("credentials");
	c->n++;
}

/*
 * The part of a hash that sets what it costs, its length: the algorithm
 * and its parameters, the salt and digest left out ("$6$rounds=N",
 * "$y$j9T", bcrypt's "$2b$12" before the salt and digest it writes as
 * one).  Two hashes of one class cost the same.
 */
static size_t
cost_class(const char *hash)
{
	const char	*d = strrchr(hash, '$'), *s;

	if (d == NULL)
		return (0);
	for (s = d; s > hash && s[-1] != '$'; s--)
		;
	if (s < d && strspn(s, "0123456789") == (size_t)(d - s))
		return (d - hash);
	return (s > hash ? (size_t)(s - 1 - hash) : 0);
}

/*
 * The CPU time crypt(3) takes with this setting (what a check costs), -1
 * if it computes no hash with it (a locked "*" or "!", an unknown
 * algorithm).
 */
static double
hash_cost(const char *setting)
{
	struct timespec	 a, b;
	const char	*h;
	int		 ok;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	h = crypt_rn("", setting, &cdata, sizeof(cdata));
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	ok = h != NULL && *h != '*';
	explicit_bzero(&cdata, sizeof(cdata));
	if (!ok)
		return (-1);
	return ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}

/*
 * The setting unknown users hash with: the costliest usable one of the
 * file, each class of them timed once.  The first usable one made an
 * unknown user cost what its algorithm does: with bcrypt users beside
 * sha512-crypt ones, a name answered in a sha512-crypt's time when the
 * first user was one, so the time told a bcrypt user from no user.  Not
 * a locked or unknown one ("*", "!"): crypt(3) refuses it at once.  Past
 * CLASSES_MAX classes, the others are not timed.  With no usable one, a
 * fixed yescrypt setting (no randomness needed inside the sandbox).
 */
static const char *
dummy_setting(const struct creds *c)
{
	const char	*best = DUMMY_SETTING, *seen[CLASSES_MAX];
	double		 cost, most = -1;
	size_t		 i, j, k, nseen = 0;

	for (i = 0; i < c->n && nseen < CLASSES_MAX; i++) {
		k = cost_class(c->v[i].hash);
		for (j = 0; j < nseen; j++)
			if (cost_class(seen[j]) == k &&
			    strncmp(seen[j], c->v[i].hash, k) == 0)
				break;
		if (j < nseen || (cost = hash_cost(c->v[i].hash)) < 0)
			continue;
		seen[nseen++] = c->v[i].hash;
		if (cost > most) {
			most = cost;
			best = c->v[i].hash;
		}
	}
	return (best);
}

struct creds *
creds_load(const char *data, size_t len)
{
	struct creds	*c;
	const char	*p = data, *end = data + len, *line, *why;
	size_t		 l;
	int		 lineno = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	while (data != NULL && p < end) {
		lineno++;
		switch (cred_line(&p, end, &line, &l, &why)) {
		case 1:
			creds_add(c, line, l);
			break;
		case -1:
			/* the parent warned of it at load, naming the file */
			log_warnx("credentials line %d: %s", lineno, why);
			break;
		}
	}
	c->dummy = strdup(dummy_setting(c));
	if (c->dummy == NULL) {
		creds_free(c);
		return (NULL);
	}
	return (c);
}

void
creds_free(struct creds *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		explicit_bzero(c->v[i].hash, strlen(c->v[i].hash));
		free(c->v[i].user);
		free(c->v[i].hash);
	}
	free(c->v);
	free(c->dummy);
	free(c);
}

size_t
creds_count(const struct creds *c)
{
	return (c == NULL ? 0 : c->n);
}

void
auth_throttle_set(int max, int window)
{
	throttle_max = max > 0 ? max : 5;
	throttle_window = window > 0 ? window : 300;
}

void
auth_throttle_reset(void)
{
	memset(throttle, 0, sizeof(throttle));
}

static time_t
now_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + 1);		/* never 0: 0 marks a free slot */
}

/* the throttle key: the address, an IPv6 address's /64 */
static void
throttle_key(const char *ip, char *key, size_t len)
{
	struct in6_addr	 a6;

	if (inet_pton(AF_INET6, ip, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset((uint8_t *)&a6 + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, key, len) != NULL)
			return;
	}
	strlcpy(key, ip, len);
}

static struct throttle *
throttle_find(const char *key, int create)
{
	struct throttle	*t, *victim = NULL;
	time_t		 now = now_mono();
	size_t		 i;

	for (i = 0; i < THROTTLE_SLOTS; i++) {
		t = &throttle[i];
		if (t->start != 0 && now - t->start >= throttle_window)
			memset(t, 0, sizeof(*t));	/* expired */
		if (t->start != 0 && strcmp(t->key, key) == 0)
			return (t);
		if (t->start == 0) {
			if (victim == NULL || victim->start != 0)
				victim = t;
		} else if (victim == NULL ||
		    (victim->start != 0 && t->start < victim->start))
			victim = t;
	}
	if (!create)
		return (NULL);
	memset(victim, 0, sizeof(*victim));
	strlcpy(victim->key, key, sizeof(victim->key));
	victim->start = now;
	return (victim);
}

void
auth_check(const struct creds *c, const struct authd_auth_req *req,
    struct authd_auth_res *res)
{
	char			 key[64], user[sizeof(req->user)], lu[64];
	char			 pass[sizeof(req->pass)];
	const struct cred	*found = NULL;
	const char		*setting, *h;
	struct throttle		*t;
	size_t			 i, hl;
	int			 good = 0;

	memset(res, 0, sizeof(*res));
	res->reqid = req->reqid;
	memcpy(user, req->user, sizeof(user));
	user[sizeof(user) - 1] = '\0';
	memcpy(pass, req->pass, sizeof(pass));
	pass[sizeof(pass) - 1] = '\0';
	throttle_key(req->remote_ip[sizeof(req->remote_ip) - 1] == '\0' ?
	    req->remote_ip : "", key, sizeof(key));

	if ((t = throttle_find(key, 0)) != NULL && t->fails >= throttle_max) {
		res->result = AUTH_THROTTLED;
		goto done;
	}
	for (i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->v[i].user, user) == 0) {
			found = &c->v[i];
			break;
		}
	setting = found != NULL ? found->hash :
	    (c != NULL ? c->dummy : DUMMY_SETTING);
	h = crypt_rn(pass, setting, &cdata, sizeof(cdata));
	if (h != NULL && found != NULL && *h != '*' &&
	    (hl = strlen(h)) == strlen(found->hash) &&
	    CRYPTO_memcmp(h, found->hash, hl) == 0)
		good = 1;
	if (good) {
		res->result = AUTH_OK;
		goto done;
	}
	if (h == NULL && found != NULL)
		log_warnx("credentials: user %s: unusable hash",
		    log_sanitize(lu, sizeof(lu), user));
	/* a locked user ("*", "!") costs a hash as an unknown one does */
	if ((h == NULL || *h == '*') && found != NULL && c != NULL)
		(void)crypt_rn(pass, c->dummy, &cdata, sizeof(cdata));
	res->result = AUTH_FAIL;
	if ((t = throttle_find(key, 1)) != NULL)
		t->fails++;
 done:
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(&cdata, sizeof(cdata));
}

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

/* a yescrypt parameter character's value (crypt(3)'s base 64) */
static int
b64_value(char ch)
{
	static const char	 b64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVW"
	    "XYZabcdefghijklmnopqrstuvwxyz";
	const char		*p = ch != '\0' ? strchr(b64, ch) : NULL;

	return (p == NULL ? -1 : (int)(p - b64));
}

/*
 * What a hash costs among those of its algorithm, read from its setting
 * (no crypt(3) call): bcrypt's log2 cost, sha256/512-crypt's rounds
 * (5000 by default), yescrypt's N times r, 0 for md5-crypt and DES, whose
 * cost is fixed.  -1 where it cannot be read: it is timed on its own.
 * *alg: the length of the algorithm's prefix ("$2b$", "$6$", "" for DES).
 */
static double
hash_rank(const char *h, size_t *alg)
{
	const char	*e;
	int		 n, r;

	*alg = 0;
	if (h[0] != '$')
		return (strlen(h) == 13 ? 0 : -1);
	if ((e = strchr(h + 1, '$')) == NULL)
		return (-1);
	*alg = e + 1 - h;
	if (h[1] == '2' && *alg == 4 && strspn(e + 1, "0123456789") == 2 &&
	    e[3] == '$')
		return ((e[1] - '0') * 10 + e[2] - '0');
	if (strncmp(h, "$1$", 3) == 0)
		return (0);
	if (strncmp(h, "$5$", 3) == 0 || strncmp(h, "$6$", 3) == 0) {
		if (strncmp(e + 1, "rounds=", 7) != 0)
			return (5000);
		n = strspn(e + 8, "0123456789");
		return (n > 0 && n < 10 && e[8 + n] == '$' ?
		    strtod(e + 8, NULL) : -1);
	}
	if (strncmp(h, "$y$", 3) == 0 || strncmp(h, "$gy$", 4) == 0) {
		/* flavour, log2 N - 1, r - 1: one character each (< 48) */
		n = b64_value(e[2]);
		r = b64_value(e[3]);
		if (b64_value(e[1]) < 0 || n < 0 || n >= 48 || r < 0 ||
		    r >= 48 || e[4] != '$')
			return (-1);
		return ((double)(r + 1) * (double)((uint64_t)1 << (n + 1)));
	}
	return (-1);
}

/* the costliest of the algorithm of alg crypt(3) did not refuse (2) */
static ssize_t
top_of(const struct creds *c, const char *alg, const char *tried)
{
	ssize_t		 top = -1;
	size_t		 i, l, len;
	double		 rk, most = -1;

	(void)hash_rank(alg, &len);
	for (i = 0; i < c->n; i++) {
		if ((tried[i] & 2) || (rk = hash_rank(c->v[i].hash, &l)) < 0 ||
		    l != len || strncmp(c->v[i].hash, alg, len) != 0)
			continue;
		if (rk > most) {
			most = rk;
			top = i;
		}
	}
	return (top);
}

/*
 * The hashes of h's algorithm (h ranked) or of its class (not) marked
 * done (1) in tried[]; 1 if h is ranked.
 */
static int
class_done(const struct creds *c, const char *h, char *tried)
{
	const char	*o;
	size_t		 i, l, lo, k = cost_class(h);
	int		 ranked = hash_rank(h, &l) >= 0;

	for (i = 0; i < c->n; i++) {
		o = c->v[i].hash;
		if (ranked ? hash_rank(o, &lo) >= 0 && lo == l &&
		    strncmp(o, h, l) == 0 : cost_class(o) == k &&
		    strncmp(o, h, k) == 0)
			tried[i] |= 1;
	}
	return (ranked);
}

/*
 * The setting unknown users hash with: the costliest usable one of the
 * file.  The first usable one made an unknown user cost what its
 * algorithm does: with bcrypt users beside sha512-crypt ones, a name
 * answered in a sha512-crypt's time when the first user was one, so the
 * time told a bcrypt user from no user.  Each class was timed with a
 * crypt(3) at every load, on authd's only event loop, and only the first
 * 32: the hashes of one algorithm are ranked by the cost their setting
 * says now, and only the costliest of each algorithm is timed (one of
 * those it refuses, the next of it), and a class whose cost cannot be
 * read (an algorithm not known here) once, the first DUMMY_UNRANKED of
 * them.  Not a locked or unknown one ("*", "!"): crypt(3) refuses it.
 * With no usable one, a fixed yescrypt setting (no randomness needed
 * inside the sandbox).
 */
#define DUMMY_UNRANKED	8	/* classes of unknown cost timed, at most */

static const char *
dummy_setting(const struct creds *c)
{
	const char	*best = DUMMY_SETTING, *h;
	char		*tried;
	double		 cost, most = -1;
	size_t		 i, l, unranked = 0;
	ssize_t		 t;

	if (c->n == 0 || (tried = calloc(c->n, 1)) == NULL)
		return (best);
	for (i = 0; i < c->n; i++) {
		h = c->v[i].hash;
		if (tried[i] & 1)
			continue;
		/* locked: crypt(3) refuses it; past DUMMY_UNRANKED classes
		 * that cannot be ranked, none is timed (a class may be one
		 * user's: its salt in it), so that a load stays linear */
		if (h[0] == '!' || h[0] == '*' || (hash_rank(h, &l) < 0 &&
		    unranked++ >= DUMMY_UNRANKED))
			continue;
		t = -1;
		cost = -1;
		if (class_done(c, h, tried)) {
			/* the top of its algorithm, the next if refused */
			while ((t = top_of(c, h, tried)) != -1 &&
			    (cost = hash_cost(c->v[t].hash)) < 0)
				tried[t] |= 2;
		} else
			cost = hash_cost(c->v[t = i].hash);
		if (t != -1 && cost > most) {
			most = cost;
			best = c->v[t].hash;
		}
	}
	free(tried);
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

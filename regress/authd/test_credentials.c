/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authd credentials: crypt(3) hashes (yescrypt, bcrypt, sha512-crypt),
 * unknown users, malformed lines, per-ip throttling.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailhook.h"
#include "log.h"
#include "../../authd/authd.h"
#include "tap.h"

static char *
mkhash_n(const char *prefix, unsigned long count, const char *pass)
{
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	static struct crypt_data cd;
	char			*h;

	if (crypt_gensalt_rn(prefix, count, NULL, 0, salt, sizeof(salt)) ==
	    NULL)
		return (NULL);
	if ((h = crypt_rn(pass, salt, &cd, sizeof(cd))) == NULL)
		return (NULL);
	return (strdup(h));
}

static char *
mkhash(const char *prefix, const char *pass)
{
	return (mkhash_n(prefix, 0, pass));
}

static int
check(const struct creds *c, const char *ip, const char *user,
    const char *pass)
{
	struct authd_auth_req	 req;
	struct authd_auth_res	 res;

	memset(&req, 0, sizeof(req));
	req.reqid = 42;
	strlcpy(req.remote_ip, ip, sizeof(req.remote_ip));
	strlcpy(req.user, user, sizeof(req.user));
	strlcpy(req.pass, pass, sizeof(req.pass));
	auth_check(c, &req, &res);
	if (res.reqid != 42)
		return (-1);
	return (res.result);
}

static double
elapsed(const struct creds *c, const char *ip, const char *user,
    const char *pass)
{
	struct timespec	 a, b;

	/* CPU time: the wall clock of a loaded machine (tests run several
	 * at a time) can stretch one of the two and not the other */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	(void)check(c, ip, user, pass);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	return ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}

static int
dbl_cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* the median of 5 tries of user with a wrong password */
static double
median(const struct creds *c, const char *user)
{
	double	 v[5];
	int	 i;

	for (i = 0; i < 5; i++)
		v[i] = elapsed(c, "198.51.100.3", user, "wrong");
	qsort(v, 5, sizeof(v[0]), dbl_cmp);
	return (v[2]);
}

static void
mixed_costs(const char *h6)
{
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE], *text;
	static struct crypt_data cd;
	const char		*hb;
	struct creds		*c;
	double			 t6, tb, tu;

	if (crypt_gensalt_rn("$2b$", 10, NULL, 0, salt, sizeof(salt)) ==
	    NULL || (hb = crypt_rn("pw", salt, &cd, sizeof(cd))) == NULL ||
	    asprintf(&text, "carol:%s\nbob:%s\n", h6, hb) == -1) {
		ok(0, "mixed algorithms: hashes made");
		return;
	}
	c = creds_load(text, strlen(text));
	free(text);
	auth_throttle_set(1000, 300);
	t6 = median(c, "carol");
	tb = median(c, "bob");
	tu = median(c, "nosuchuser");
	if (tb < t6 * 4)
		ok(1, "# SKIP mixed algorithms: bcrypt not costlier than "
		    "sha512-crypt here, too noisy (%.4fs vs %.4fs)", tb, t6);
	else
		ok(tu > tb / 2 && tu < tb * 2, "mixed algorithms, sha512-crypt "
		    "first: an unknown user costs the bcrypt (%.4fs vs %.4fs, "
		    "sha512-crypt %.4fs)", tu, tb, t6);
	creds_free(c);
}

/*
 * 40 classes, the costliest last: 39 sha512-crypt of rounds 5000 to
 * 8800, then a bcrypt of cost 10.  Only the first 32 classes were timed
 * at load: an unknown user cost a sha512-crypt, the time told the bcrypt
 * user from no user.
 */
static void
many_classes(void)
{
	char		*text = NULL, *h, *t;
	struct creds	*c;
	double		 t6, tb, tu;
	int		 i;

	for (i = 0; i < 40; i++) {
		h = i < 39 ? mkhash_n("$6$", 5000 + i * 100, "pw") :
		    mkhash_n("$2b$", 10, "pw");
		if (h == NULL || asprintf(&t, "%su%d:%s\n", text ? text : "",
		    i, h) == -1) {
			ok(0, "40 classes: hashes made");
			return;
		}
		free(text);
		free(h);
		text = t;
	}
	c = creds_load(text, strlen(text));
	free(text);
	auth_throttle_set(1000, 300);
	t6 = median(c, "u38");
	tb = median(c, "u39");
	tu = median(c, "nosuchuser");
	if (tb < t6 * 4)
		ok(1, "# SKIP 40 classes: bcrypt not costlier than "
		    "sha512-crypt here, too noisy (%.4fs vs %.4fs)", tb, t6);
	else
		ok(tu > tb / 2 && tu < tb * 2, "40 classes, the costliest "
		    "last: an unknown user costs it (%.4fs vs %.4fs, "
		    "sha512-crypt %.4fs)", tu, tb, t6);
	creds_free(c);
}

int
main(void)
{
	char		*hy, *hb, *h6, *text;
	struct creds	*c;
	double		 tk, tu;
	int		 i, r;

	log_init(1, 0);
	hy = mkhash("$y$", "yes-secret");
	hb = mkhash("$2b$", "bcrypt secret");
	h6 = mkhash("$6$", "sha:512");
	ok(hy && strncmp(hy, "$y$", 3) == 0, "yescrypt hash made");
	ok(hb && strncmp(hb, "$2b$", 4) == 0, "bcrypt hash made");
	ok(h6 && strncmp(h6, "$6$", 3) == 0, "sha512-crypt hash made");
	if (hy == NULL || hb == NULL || h6 == NULL)
		return (tap_done());
	if (asprintf(&text, "# mailhook users\n\n"
	    "alice:%s\n"
	    "  bob:%s  \r\n"
	    "carol:%s\n"
	    "broken line without colon\n"
	    ":nouser\n"
	    "nohash:\n"
	    "dave:*\n"
	    "erin:%s", hy, hb, h6, hy) == -1)
		return (1);
	c = creds_load(text, strlen(text));
	ok(c != NULL, "credentials load");
	is_int(creds_count(c), 5, "five users, bad lines skipped");

	is_int(check(c, "192.0.2.1", "alice", "yes-secret"), AUTH_OK,
	    "yescrypt good password");
	is_int(check(c, "192.0.2.1", "alice", "yes-secreT"), AUTH_FAIL,
	    "yescrypt bad password");
	is_int(check(c, "192.0.2.1", "bob", "bcrypt secret"), AUTH_OK,
	    "bcrypt good password (line trimmed)");
	is_int(check(c, "192.0.2.1", "bob", "bcrypt"), AUTH_FAIL,
	    "bcrypt bad password");
	is_int(check(c, "192.0.2.1", "carol", "sha:512"), AUTH_OK,
	    "sha512-crypt good password");
	is_int(check(c, "192.0.2.1", "carol", ""), AUTH_FAIL,
	    "sha512-crypt empty password");
	is_int(check(c, "192.0.2.1", "erin", "yes-secret"), AUTH_OK,
	    "last line without newline");
	is_int(check(c, "192.0.2.2", "Alice", "yes-secret"), AUTH_FAIL,
	    "user names are case-sensitive");
	is_int(check(c, "192.0.2.2", "mallory", "yes-secret"), AUTH_FAIL,
	    "unknown user");
	is_int(check(c, "192.0.2.2", "dave", "*"), AUTH_FAIL,
	    "locked hash never matches");
	is_int(check(NULL, "192.0.2.3", "alice", "yes-secret"), AUTH_FAIL,
	    "no credentials: fail");

	/* an unknown user costs about as much as a known one */
	auth_throttle_set(1000, 300);
	tk = elapsed(c, "198.51.100.1", "alice", "wrong");
	tu = elapsed(c, "198.51.100.1", "nosuchuser", "wrong");
	ok(tu > tk / 4, "unknown user spends a hash (%.4fs vs %.4fs)", tu, tk);

	/*
	 * the same when the first user is locked: his "*" or "!" is no
	 * setting for the unknown users (crypt(3) refuses it at once), and
	 * a locked user costs a hash too
	 */
	creds_free(c);
	free(text);
	if (asprintf(&text, "dave:*\nfrank:!\nalice:%s\n", hy) == -1)
		return (1);
	c = creds_load(text, strlen(text));
	ok(c != NULL && creds_count(c) == 3, "locked users first: loaded");
	is_int(check(c, "198.51.100.2", "alice", "yes-secret"), AUTH_OK,
	    "locked users first: alice logs in");
	tk = elapsed(c, "198.51.100.1", "alice", "wrong");
	tu = elapsed(c, "198.51.100.1", "nosuchuser", "wrong");
	ok(tu > tk / 4, "locked user first: an unknown user spends a hash "
	    "(%.4fs vs %.4fs)", tu, tk);
	tu = elapsed(c, "198.51.100.1", "frank", "wrong");
	ok(tu > tk / 4, "a locked user spends a hash (%.4fs vs %.4fs)", tu,
	    tk);

	/*
	 * mixed algorithms, the cheap one first: an unknown user costs the
	 * costliest hash of the file (bcrypt at cost 10 here, some 30 times
	 * a sha512-crypt), not the first user's, else the time tells
	 * "bcrypt user" from "no such user".  The median of 5 tries each.
	 */
	mixed_costs(h6);
	many_classes();

	/* throttling: 5 failures in the window, then refused */
	auth_throttle_reset();
	auth_throttle_set(5, 60);
	for (i = 0; i < 5; i++)
		r = check(c, "203.0.113.9", "alice", "guess");
	is_int(r, AUTH_FAIL, "five failures are failures");
	is_int(check(c, "203.0.113.9", "alice", "yes-secret"), AUTH_THROTTLED,
	    "sixth attempt throttled, even with the right password");
	is_int(check(c, "203.0.113.10", "alice", "yes-secret"), AUTH_OK,
	    "another address is not throttled");
	for (i = 0; i < 5; i++)
		r = check(c, "2001:db8:1:2::1", "alice", "guess");
	is_int(check(c, "2001:db8:1:2::99", "alice", "yes-secret"),
	    AUTH_THROTTLED, "IPv6 throttled per /64");
	is_int(check(c, "2001:db8:1:3::1", "alice", "yes-secret"), AUTH_OK,
	    "another /64 is not");
	auth_throttle_set(5, 1);	/* the window ends */
	sleep(2);
	is_int(check(c, "203.0.113.9", "alice", "yes-secret"), AUTH_OK,
	    "allowed again after the window");

	creds_free(c);
	c = creds_load("", 0);
	ok(c != NULL && creds_count(c) == 0, "empty file");
	is_int(check(c, "192.0.2.50", "alice", "x"), AUTH_FAIL,
	    "empty file: fail");
	creds_free(c);
	free(text);
	return (tap_done());
}

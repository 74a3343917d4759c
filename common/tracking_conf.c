/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The tracking blocks of the configuration (config.h): lookup by From:
 * domain, the token key kept in the spool for blocks without a secret,
 * and the previous key kept across a reload.
 *
 * The spool's key is SPOOL/tracking.key: 64 hex digits (32 random
 * bytes), made by the parent the first time a block needs it, mode
 * 0600, so that tokens in mail already sent keep working after a
 * restart.  SPOOL/verp.key, the MAC key of VERP return paths (verp.h),
 * is made and kept the same way when a bounce domain is set, so that
 * bounces of mail sent before a restart still verify.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "digest.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"

#define KEY_FILE	"tracking.key"
#define VERP_KEY_FILE	"verp.key"
#define KEY_HEX		64

const struct tracking *
config_tracking(const struct config *c, const char *domain)
{
	const struct tracking	*t;

	if (domain == NULL || domain[0] == '\0')
		return (NULL);
	TAILQ_FOREACH(t, &c->trackings, entry)
		if (strcasecmp(t->domain, domain) == 0)
			return (t);
	return (NULL);
}

/*
 * A tracking url: an http(s) URL with a host and no query or fragment
 * (the tokens follow it), of the characters a URI holds (RFC 3986): it
 * stands between '<' and '>' in List-Unsubscribe, where a '>' would end
 * it, and goes as it is into header fields and HTML parts of any
 * charset, where a byte beyond ASCII (a host not in its xn-- form) would
 * not be what a reader takes.  NULL if good, else why (static).
 */
const char *
config_check_tracking_url(const char *url)
{
	static char		 why[64];
	const unsigned char	*p;
	const char		*bad;

	if ((bad = config_check_url(url)) != NULL)
		return (bad);
	if (strpbrk(url, "?#") != NULL)
		return ("has a query or fragment");
	for (p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p >= 0x80)
			return ("is not ASCII (a host in its xn-- form is)");
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, sizeof(why), "has a control character "
			    "(0x%02x)", *p);
			return (why);
		}
		if (strchr("\"<>\\^`{|}", *p) != NULL) {
			snprintf(why, sizeof(why), "has '%c', which a URI "
			    "cannot hold (RFC 3986)", *p);
			return (why);
		}
	}
	return (NULL);
}

/* a key's secret as written: NULL if good, else why (static) */
static const char *
secret_check(const char *s, const char *what)
{
	static char		 why[96];
	const unsigned char	*p;
	const char		*bad = NULL;

	if (strlen(s) < TRACKING_SECRET_MIN)
		bad = "shorter than 16 characters";
	else if (strlen(s) >= MH_NAME_MAX)
		bad = "too long";
	for (p = (const unsigned char *)s; bad == NULL && *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			bad = "must be printable ASCII without spaces";
	if (bad == NULL)
		return (NULL);
	snprintf(why, sizeof(why), "%s %s", what, bad);
	return (why);
}

const char *
config_check_tracking_secret(const char *s)
{
	return (secret_check(s, "tracking secret"));
}

const char *
config_check_bounce_secret(const char *s)
{
	return (secret_check(s, "bounce secret"));
}

static int
key_read(int fd, char *key)
{
	ssize_t	 n;
	size_t	 off = 0;

	while (off < KEY_HEX + 1) {
		n = read(fd, key + off, KEY_HEX + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	if (off > 0 && key[off - 1] == '\n')
		off--;
	key[off] = '\0';
	return (mh_ishex(key, KEY_HEX) ? 0 : -1);
}

/* a new key, durable before it is used (tmp, fsync, rename, fsync dir) */
static int
key_make(const char *spool, const char *file, const char *what, char *key)
{
	unsigned char	 raw[KEY_HEX / 2];
	char		 path[MH_PATH_MAX + 32], tmp[MH_PATH_MAX + 32];
	char		 line[KEY_HEX + 1];
	int		 rc;

	arc4random_buf(raw, sizeof(raw));
	mh_hex(key, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	snprintf(path, sizeof(path), "%s/%s", spool, file);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", spool, file);
	memcpy(line, key, KEY_HEX);
	line[KEY_HEX] = '\n';
	/* a stale temporary file (a crash, or put there) would lend the
	 * key its owner and mode: removed, the new one made 0600 here */
	rc = unlink(tmp) == -1 && errno != ENOENT ? -1 :
	    file_replace(AT_FDCWD, tmp, path, line, sizeof(line),
	    FR_FSYNC | FR_SYNCDIR | FR_EXCL);
	explicit_bzero(line, sizeof(line));
	if (rc == -1) {
		log_warn("%s key \"%s\"", what, path);
		return (-1);
	}
	log_info("%s: new key in %s", what, path);
	return (0);
}

/*
 * A key someone else could have written, or read: another user's (put
 * there while the spool was open to them, or copied over by hand), or
 * one its group or others may read or change.  Made here, it is ours
 * and 0600.  NULL if none of these, else why (static).
 */
static const char *
key_unsafe(int fd)
{
	static char	 why[96];
	struct stat	 st;

	if (fstat(fd, &st) == -1)
		return (strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ("not a regular file");
	if (st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "owned by uid %u, not %u",
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return (why);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, sizeof(why), "mode %04o: its group or others "
		    "may read or change it (want 0600)",
		    (unsigned)(st.st_mode & 07777));
		return (why);
	}
	return (NULL);
}

/*
 * the key in SPOOL/file, made the first time (make; else none: key "");
 * 0 and key, or -1 (said: the file and why)
 */
static int
key_load(const char *spool, const char *file, const char *what, char *key,
    int make)
{
	char		 path[MH_PATH_MAX + 32];
	const char	*why;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", spool, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
		if ((why = key_unsafe(fd)) != NULL) {
			log_warnx("%s key \"%s\": %s: refusing", what, path,
			    why);
			close(fd);
			return (-1);
		}
		if (key_read(fd, key) == -1) {
			log_warnx("%s key \"%s\": not 64 hex digits", what,
			    path);
			close(fd);
			return (-1);
		}
		close(fd);
	} else if (errno != ENOENT) {
		log_warn("%s key \"%s\"", what, path);
		return (-1);
	} else if (!make)
		key[0] = '\0';
	else if (key_make(spool, file, what, key) == -1)
		return (-1);
	return (0);
}

static int
tracking_key(struct config *c, const char *spool, int make)
{
	struct tracking	*t;
	char		 key[KEY_HEX + 2];
	int		 need = 0;

	TAILQ_FOREACH(t, &c->trackings, entry)
		if (t->secret[0] == '\0')
			need = 1;
	if (!need)
		return (0);
	if (key_load(spool, KEY_FILE, "tracking", key, make) == -1)
		return (-1);
	TAILQ_FOREACH(t, &c->trackings, entry)
		if (t->secret[0] == '\0') {
			strlcpy(t->secret, key, sizeof(t->secret));
			t->spool_key = 1;
		}
	explicit_bzero(key, sizeof(key));
	return (0);
}

/*
 * With "bounce secret", the key is HMAC-SHA256 of a label keyed with the
 * secret, so that every node of a cluster that has the same secret
 * verifies the bounces of the others' mail; without it, SPOOL/verp.key.
 */
static int
verp_key(struct config *c, const char *spool, int make)
{
	static const char	 label[] = "mailhook verp key";
	unsigned char		 md[MH_SHA256_LEN];
	char			 key[KEY_HEX + 2];

	c->verp_key[0] = '\0';
	if (c->bounce_domain[0] == '\0')
		return (0);
	if (c->bounce_secret[0] != '\0') {
		mh_hmac_sha256(c->bounce_secret, strlen(c->bounce_secret),
		    NULL, 0, label, sizeof(label) - 1, md);
		mh_hex(key, md, sizeof(md));
		explicit_bzero(md, sizeof(md));
	} else if (key_load(spool, VERP_KEY_FILE, "verp", key, make) == -1)
		return (-1);
	strlcpy(c->verp_key, key, sizeof(c->verp_key));
	explicit_bzero(key, sizeof(key));
	return (0);
}

int
config_tracking_key(struct config *c, const char *spool)
{
	return (tracking_key(c, spool, 1));
}

int
config_verp_key(struct config *c, const char *spool)
{
	return (verp_key(c, spool, 1));
}

int
config_spool_keys_check(struct config *c, const char *spool)
{
	int	 rv = 0;

	if (tracking_key(c, spool, 0) == -1)
		rv = -1;
	if (verp_key(c, spool, 0) == -1)
		rv = -1;
	return (rv);
}

void
config_tracking_rotate(struct config *nc, const struct config *oc)
{
	struct tracking		*t;
	const struct tracking	*o;

	TAILQ_FOREACH(t, &nc->trackings, entry) {
		if ((o = config_tracking(oc, t->domain)) == NULL)
			continue;
		if (strcmp(o->secret, t->secret) != 0)
			strlcpy(t->prev_secret, o->secret,
			    sizeof(t->prev_secret));
		else
			strlcpy(t->prev_secret, o->prev_secret,
			    sizeof(t->prev_secret));
	}
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The API's idempotency keys (relay.h): outbound/idem/<hash> holds the
 * first answer to a POST with that key, "ID MESSAGE-ID BODY\n" (BODY the
 * SHA-256 of its request body, hex; absent from a record restored from
 * an envelope, or written before it was kept), written and
 * made durable (by the group commit) before the 202 goes out, kept
 * IDEM_KEEP seconds (swept hourly, idem_tick).  hash is
 * webd's SHA-256 of the API key's name and the Idempotency-Key, hex.
 * The message's envelope carries the hash too (relay_idem_restore).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "envelope.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "relay.h"

#define IDEM_KEEP	(24 * 3600)
#define IDEM_SWEEP	3600	/* seconds from one sweep's end to the next */
#define IDEM_BATCH	512	/* entries a tick looks at, at most */

static char	 idem_dir[1024];
static DIR	*sweep_dir;	/* the sweep under way, NULL between two */
static time_t	 sweep_next;	/* when the next one starts */
static int	 sweep_period = IDEM_SWEEP;
static struct event	*ev_sweep;

static int
hash_ok(const char *h)
{
	return (mh_ishex(h, 64));
}

/*
 * Up to max entries of the directory: every one older than a day goes.
 * 1 when the sweep is over (the directory read to its end), else 0.
 */
static int
idem_sweep(size_t max)
{
	struct dirent	*de;
	struct stat	 st;
	time_t		 now = time(NULL);

	if (sweep_dir == NULL && (sweep_dir = opendir(idem_dir)) == NULL)
		return (1);
	while (max-- > 0) {
		if ((de = readdir(sweep_dir)) == NULL) {
			closedir(sweep_dir);
			sweep_dir = NULL;
			return (1);
		}
		if (de->d_name[0] != '.' && fstatat(dirfd(sweep_dir),
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + IDEM_KEEP < now)
			(void)unlinkat(dirfd(sweep_dir), de->d_name, 0);
	}
	return (0);
}

/*
 * Each second a batch of the sweep under way; one starts an hour after
 * the last ended, so that the records of a long-running daemon do not
 * pile up, and no tick reads a whole day's directory at once.
 */
static void
idem_tick(int fd, short ev, void *arg)
{
	time_t	now = time(NULL);

	if (sweep_dir == NULL && now < sweep_next)
		return;
	if (idem_sweep(IDEM_BATCH))
		sweep_next = now + sweep_period;
}

/* at start, before anything is answered: the whole directory */
int
relay_idem_init(struct event_base *base, const char *root, int period)
{
	struct timeval	tv = { 1, 0 };

	snprintf(idem_dir, sizeof(idem_dir), "%s/outbound/idem", root);
	if (mkdir(idem_dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", idem_dir);
		return (-1);
	}
	while (!idem_sweep(SIZE_MAX))
		;
	if (period > 0)
		sweep_period = period;
	sweep_next = time(NULL) + sweep_period;
	if ((ev_sweep = event_new(base, -1, EV_PERSIST, idem_tick,
	    NULL)) == NULL || event_add(ev_sweep, &tv) == -1) {
		log_warnx("idem: cannot start the sweep");
		return (-1);
	}
	return (0);
}

int
relay_idem_get(const char *hash, char id[MH_MSGID_LEN], char *mid,
    size_t midlen, char body[65])
{
	char		 path[1200], buf[400], *sp, *bp;
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	body[0] = '\0';
	if (!hash_ok(hash))
		return (-1);
	snprintf(path, sizeof(path), "%s/%s", idem_dir, hash);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (0);
	if (fstat(fd, &st) == -1 || st.st_mtime + IDEM_KEEP < time(NULL) ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		close(fd);
		return (0);
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if ((sp = strchr(buf, ' ')) == NULL)
		return (0);
	*sp++ = '\0';
	if (!envelope_id_ok(buf))
		return (0);
	if ((bp = strchr(sp, ' ')) != NULL) {
		*bp++ = '\0';
		if (hash_ok(bp))
			strlcpy(body, bp, 65);
	}
	strlcpy(id, buf, MH_MSGID_LEN);
	strlcpy(mid, sp, midlen);
	return (1);
}

/* group: left to the next group commit (gsync.h), else fsync'd now */
int
relay_idem_put(const char *hash, const char *id, const char *mid,
    const char *body, int group)
{
	char	 buf[400];
	int	 n;

	if (!hash_ok(hash) || !envelope_field_ok(mid) || strchr(mid, ' ') ||
	    (body[0] != '\0' && !hash_ok(body)))
		return (-1);
	n = snprintf(buf, sizeof(buf), "%s %s%s%s\n", id, mid,
	    body[0] != '\0' ? " " : "", body);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return (-1);
	return (file_replace_in(idem_dir, hash, buf, n, group ? FR_GROUP :
	    FR_FSYNC | FR_SYNCDIR));
}

/*
 * At start, for a queued message that came with an Idempotency-Key: its
 * envelope names the key, so an answer lost to a crash between the
 * envelope's commit and relay_idem_put is written again, and a retried
 * POST gets the first answer instead of a second message.
 */
void
relay_idem_restore(const char *hash, const char *id, const char *mid)
{
	char	 oid[MH_MSGID_LEN], omid[256], obody[65];

	if (relay_idem_get(hash, oid, omid, sizeof(omid), obody) != 0)
		return;
	/* the body's hash is not in the envelope: not checked */
	if (relay_idem_put(hash, id, mid, "", 0) == -1)
		log_warn("msgid=%s status=error (cannot restore its "
		    "idempotency key)", id);
	else
		log_info("msgid=%s idempotency key restored", id);
}

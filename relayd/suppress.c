/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The suppression list: recipients that hard-bounced (or were added by
 * hand) are not attempted again.  An entry may be scoped to a sender
 * domain (an unsubscribe): it then holds only mail whose From: domain is
 * that one.  Kept in memory as a tree, persisted as outbound/suppress
 * ("addr<TAB>time<TAB>reason[<TAB>domain]" lines), rewritten atomically
 * (tmp, fsync, rename, fsync dir) on every change.
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "relayd.h"
#include "sanitize.h"

struct supp {
	RB_ENTRY(supp)	 entry;
	char		 addr[MH_ADDR_MAX];
	char		 domain[MH_NAME_MAX];	/* "" = every sender */
	char		 reason[256];
	time_t		 time;
};

static int
supp_cmp(struct supp *a, struct supp *b)
{
	int	 c;

	if ((c = strcmp(a->addr, b->addr)) != 0)
		return (c);
	return (strcmp(a->domain, b->domain));
}

RB_HEAD(supptree, supp);
RB_PROTOTYPE(supptree, supp, entry, supp_cmp);
RB_GENERATE(supptree, supp, entry, supp_cmp);

static struct supptree	 supps = RB_INITIALIZER(&supps);

/* lower-cased, printable, no white space */
static int
supp_lower(char *dst, size_t len, const char *s)
{
	size_t	 i;

	if (s == NULL || strlen(s) >= len)
		return (-1);
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = s[i];
		if (c <= 0x20 || c == 0x7f)
			return (-1);
		dst[i] = tolower(c);
	}
	dst[i] = '\0';
	return (0);
}

/* the address (one '@' at least) and the scope ("" or NULL: none) */
static int
supp_key(struct supp *key, const char *addr, const char *domain)
{
	if (addr == NULL || addr[0] == '\0' || strchr(addr, '@') == NULL ||
	    supp_lower(key->addr, sizeof(key->addr), addr) == -1 ||
	    supp_lower(key->domain, sizeof(key->domain),
	    domain ? domain : "") == -1)
		return (-1);
	return (0);
}

/* 1 a new entry, 0 one that was there (its reason and time replaced) */
static int
supp_insert(const char *addr, const char *domain, const char *reason,
    time_t t)
{
	struct supp	*s, key;
	int		 added = 0;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	if ((s = RB_FIND(supptree, &supps, &key)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		strlcpy(s->addr, key.addr, sizeof(s->addr));
		strlcpy(s->domain, key.domain, sizeof(s->domain));
		RB_INSERT(supptree, &supps, s);
		added = 1;
	}
	sanitize_text(s->reason, sizeof(s->reason), reason ? reason : "",
	    SIZE_MAX, SAN_FIELD);
	s->time = t;
	return (added);
}

static int
supp_save(void)
{
	struct supp	*s;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*fp;
	int		 rv;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return (-1);
	RB_FOREACH(s, supptree, &supps)
		fprintf(fp, "%s\t%lld\t%s%s%s\n", s->addr, (long long)s->time,
		    s->reason, s->domain[0] ? "\t" : "", s->domain);
	fclose(fp);
	rv = queue_suppress_write(buf ? buf : "", len);
	free(buf);
	return (rv);
}

int
suppress_load(void)
{
	char		*text, *line, *next, *t1, *t2, *t3;
	const char	*errstr;
	size_t		 len;
	long long	 t;

	suppress_free();
	/*
	 * A list there but unread is no empty list: started without it,
	 * relayd would send to every address in it and write the next
	 * change over it
	 */
	if ((text = queue_suppress_read(&len)) == NULL) {
		if (errno == ENOENT)
			return (0);
		log_warn("suppress: cannot read the suppression list");
		return (-1);
	}
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((t1 = strchr(line, '\t')) == NULL ||
		    (t2 = strchr(t1 + 1, '\t')) == NULL)
			continue;
		*t1++ = '\0';
		*t2++ = '\0';
		if ((t3 = strchr(t2, '\t')) != NULL)
			*t3++ = '\0';
		t = strtonum(t1, 0, LLONG_MAX, &errstr);
		if (errstr != NULL || supp_insert(line, t3, t2, t) == -1)
			log_warnx("suppress: bad line ignored");
	}
	free(text);
	return (0);
}

void
suppress_free(void)
{
	struct supp	*s, *n;

	RB_FOREACH_SAFE(s, supptree, &supps, n) {
		RB_REMOVE(supptree, &supps, s);
		free(s);
	}
}

/* for every sender, or for mail from domain */
int
suppress_has(const char *addr, const char *domain)
{
	struct supp	 key;

	if (supp_key(&key, addr, NULL) == -1)
		return (0);
	if (RB_FIND(supptree, &supps, &key) != NULL)
		return (1);
	if (domain == NULL || domain[0] == '\0' ||
	    supp_key(&key, addr, domain) == -1)
		return (0);
	return (RB_FIND(supptree, &supps, &key) != NULL);
}

/*
 * domain NULL or "": for every sender; shared with the cluster.  1 if
 * the entry is new, 0 if it was there already (an unsubscribe repeated):
 * that one keeps its reason and time, nothing is written or pushed.  -1
 * if it cannot be, -2 if the list cannot be written: the entry is kept
 * in memory all the same, so that a bounce or an unsubscribe is honoured
 * until the next start, and logged.
 */
int
suppress_add(const char *addr, const char *domain, const char *reason)
{
	struct supp	 key;
	char		 a[MH_ADDR_MAX];

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	if (RB_FIND(supptree, &supps, &key) != NULL)
		return (0);
	if (supp_insert(addr, domain, reason, time(NULL)) == -1)
		return (-1);
	if (supp_save() == -1) {
		log_warnx("suppress: the list cannot be written: <%s> is "
		    "suppressed until the next start only", log_sanitize(a,
		    sizeof(a), addr));
		return (-2);
	}
	cluster_suppress_changed(key.addr, key.domain, reason);
	return (1);
}

/*
 * A change another node made (reason NULL: lifted), exactly that scope;
 * saved unless save is 0 (then suppress_save() after a batch).
 */
int
suppress_apply(const char *addr, const char *domain, const char *reason,
    time_t t, int save)
{
	struct supp	*s, key;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	s = RB_FIND(supptree, &supps, &key);
	if (reason != NULL) {
		/* older, or what this node has already: nothing to write */
		if (s != NULL && (s->time > t || (s->time == t &&
		    strcmp(s->reason, reason) == 0)))
			return (0);
		if (supp_insert(addr, domain, reason, t) == -1)
			return (-1);
	} else if (s != NULL) {
		RB_REMOVE(supptree, &supps, s);
		free(s);
	} else
		return (0);
	return (save ? supp_save() : 0);
}

int
suppress_save(void)
{
	return (supp_save());
}

void
suppress_foreach(void (*fn)(const char *addr, const char *domain,
    const char *reason, time_t t))
{
	struct supp	*s;

	RB_FOREACH(s, supptree, &supps)
		fn(s->addr, s->domain, s->reason, s->time);
}

/*
 * domain NULL: every entry of addr, scoped or not (mhctl suppress del);
 * else only that scope ("" the unscoped one).  The number removed, -1 if
 * none, -2 if the list could not be written: then nothing is removed
 * (memory stays as on disk).  fn is called for each one removed.
 */
int
suppress_del(const char *addr, const char *domain,
    void (*fn)(const char *addr, const char *domain))
{
	struct supptree	 gone = RB_INITIALIZER(&gone);
	struct supp	*s, *next, key;
	int		 n = 0;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	key.domain[0] = '\0';
	for (s = RB_NFIND(supptree, &supps, &key); s != NULL; s = next) {
		next = RB_NEXT(supptree, &supps, s);
		if (strcmp(s->addr, key.addr) != 0)
			break;
		if (domain != NULL && strcasecmp(s->domain, domain) != 0)
			continue;
		RB_REMOVE(supptree, &supps, s);
		RB_INSERT(supptree, &gone, s);
		n++;
	}
	if (n == 0)
		return (-1);
	if (supp_save() == -1) {
		RB_FOREACH_SAFE(s, supptree, &gone, next) {
			RB_REMOVE(supptree, &gone, s);
			RB_INSERT(supptree, &supps, s);
		}
		log_warnx("suppress: the list cannot be written: %d entries "
		    "kept", n);
		return (-2);
	}
	RB_FOREACH_SAFE(s, supptree, &gone, next) {
		if (fn != NULL)
			fn(s->addr, s->domain);
		cluster_suppress_changed(s->addr, s->domain, NULL);
		RB_REMOVE(supptree, &gone, s);
		free(s);
	}
	return (n);
}

json_t *
suppress_list(void)
{
	struct supp	*s;
	json_t		*a;

	a = json_array();
	RB_FOREACH(s, supptree, &supps)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}",
		    "address", s->addr, "sender_domain", s->domain,
		    "reason", s->reason, "time", (json_int_t)s->time));
	return (a);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The suppression list: recipients that hard-bounced (or were added by
 * hand) are not attempted again.  An entry may be scoped to a sender
 * domain (an unsubscribe): it then holds only mail whose From: domain is
 * that one.  Kept in memory as a tree, persisted in two files:
 * outbound/suppress, the whole list as of its last rewrite
 * ("addr<TAB>time<TAB>reason[<TAB>domain]" lines, time in ms since the
 * epoch as in the cluster's hash; a list or log of a version before
 * this one has it in seconds: a time below SECS_BELOW is read so), and
 * outbound/suppress.log, every change since, appended and fsync'd before
 * the change is answered: "+<TAB>" and a list line for an entry added,
 * "-<TAB>addr<TAB>domain" for one lifted.  A start reads the list, then
 * replays the log.  The log is folded into a new list (written whole:
 * tmp, fsync, rename, fsync dir; then an empty log the same way) once it
 * has grown past LOG_FOLD and a quarter of the list, so that a change
 * costs a line, not the whole list, however long it is.  Replaying a log
 * over the list it was folded into gives that list again, so a crash
 * between the two renames loses nothing.  An address's domain and a
 * scope are kept in one form (supp_domain), so that user@bücher.example
 * and user@xn--bcher-kva.example are one entry, and an address's local
 * part too (addr_canon), so that "john"@example.net and john@example.net
 * are.
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "dns.h"
#include "log.h"
#include "mailaddr.h"
#include "relayd.h"
#include "sanitize.h"

#define LOG_FOLD	(1024 * 1024)	/* bytes of log always kept */
#define REASON_MAX	256
#define SECS_BELOW	100000000000LL	/* a time in s: year 5138; in ms 1973 */

/* one allocation: addr, domain and reason follow the struct (no
 * flexible array member: struct supp_key holds one) */
struct supp {
	RB_ENTRY(supp)	 entry;
	const char	*addr;
	const char	*domain;		/* "" = every sender */
	const char	*reason;
	long long	 ms;			/* since the epoch */
	int		 unstored;		/* added, not written yet */
	int		 failed;		/* its add answered -2 */
};

/* a lookup's key: lower-cased copies of an address and its scope */
struct supp_key {
	struct supp	 s;
	char		 addr[MH_ADDR_MAX];
	char		 domain[MH_NAME_MAX];
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
static size_t		 list_bytes;	/* outbound/suppress, as written */
static size_t		 log_bytes;	/* outbound/suppress.log */
static int		 unsaved;	/* memory holds what the files lack */
static int		 unstored;	/* an entry may be marked so */
static char		*pend;		/* log lines not yet written */
static size_t		 pend_len;

/*
 * lower-cased, printable; a space too, as a quoted local part may hold
 * one ("john doe"@example.net): the lists' fields are split at tabs
 */
static int
supp_lower(char *dst, size_t len, const char *s)
{
	size_t	 i;

	if (s == NULL || strlen(s) >= len)
		return (-1);
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = s[i];
		if (c < 0x20 || c == 0x7f)
			return (-1);
		dst[i] = tolower(c);
	}
	dst[i] = '\0';
	return (0);
}

/*
 * dom (lower-cased already) in one form: its U-labels, of the A-labels
 * IDNA makes of it (bücher.example and xn--bcher-kva.example are
 * the same domain, one entry), without a trailing dot; as it is when
 * IDNA cannot convert it or the result does not fit.
 */
static void
supp_domain(char *dom, size_t len)
{
	char	 u[MH_NAME_MAX];

	if (dom[0] != '\0' && dom[0] != '[' &&
	    dns_domain_utf8(dom, u, sizeof(u)) == 0 && strlen(u) < len)
		strlcpy(dom, u, len);
}

/* the address (one '@' at least) and the scope ("" or NULL: none) */
static int
supp_key(struct supp_key *key, const char *addr, const char *domain)
{
	char	*at, c[MH_ADDR_MAX];

	/* "john"@d is john@d: one key, however the address was quoted */
	if (addr == NULL || addr[0] == '\0' || strchr(addr, '@') == NULL ||
	    addr_canon(c, sizeof(c), addr) == -1 ||
	    supp_lower(key->addr, sizeof(key->addr), c) == -1 ||
	    supp_lower(key->domain, sizeof(key->domain),
	    domain ? domain : "") == -1)
		return (-1);
	at = strrchr(key->addr, '@');
	supp_domain(at + 1, sizeof(key->addr) - (at + 1 - key->addr));
	supp_domain(key->domain, sizeof(key->domain));
	key->s.addr = key->addr;
	key->s.domain = key->domain;
	return (0);
}

/*
 * 1 a new entry, 0 one that was there (its reason and time replaced,
 * its mark of a failed add kept: suppress_add answers the retry)
 */
static int
supp_insert(const char *addr, const char *domain, const char *reason,
    long long ms)
{
	struct supp_key	 key;
	struct supp	*s, *old;
	char		 r[REASON_MAX], *text;
	size_t		 al, dl, rl;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	sanitize_text(r, sizeof(r), reason ? reason : "", SIZE_MAX,
	    SAN_FIELD);
	al = strlen(key.addr) + 1;
	dl = strlen(key.domain) + 1;
	rl = strlen(r) + 1;
	if ((s = malloc(sizeof(*s) + al + dl + rl)) == NULL)
		return (-1);
	text = (char *)(s + 1);
	memcpy(text, key.addr, al);
	memcpy(text + al, key.domain, dl);
	memcpy(text + al + dl, r, rl);
	s->addr = text;
	s->domain = text + al;
	s->reason = text + al + dl;
	s->ms = ms;
	s->unstored = 0;
	s->failed = 0;
	if ((old = RB_FIND(supptree, &supps, &key.s)) != NULL) {
		/* its add answered -2: so is still the caller's retry */
		s->failed = old->failed;
		RB_REMOVE(supptree, &supps, old);
		free(old);
	}
	RB_INSERT(supptree, &supps, s);
	return (old == NULL);
}

/* the whole list as outbound/suppress, then an empty log */
static int
supp_fold(void)
{
	struct supp	*s;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*fp;
	int		 rv;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return (-1);
	RB_FOREACH(s, supptree, &supps)
		fprintf(fp, "%s\t%lld\t%s%s%s\n", s->addr, s->ms,
		    s->reason, s->domain[0] ? "\t" : "", s->domain);
	if (fclose(fp) != 0) {
		free(buf);
		return (-1);
	}
	rv = queue_suppress_write(buf ? buf : "", len);
	free(buf);
	if (rv == -1)
		return (-1);
	list_bytes = len;
	unsaved = 0;
	free(pend);
	pend = NULL;
	pend_len = 0;
	/* a log left as it was replays to the same list: no harm */
	if (queue_suppress_log_reset() == 0)
		log_bytes = 0;
	return (0);
}

/* a change, to be written by supp_flush() */
static void
supp_note(const char *fmt, ...)
    __attribute__((__format__ (printf, 1, 2)));

static void
supp_note(const char *fmt, ...)
{
	va_list	 ap;
	char	*line, *np;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n == -1 || (np = realloc(pend, pend_len + n + 1)) == NULL) {
		if (n != -1)
			free(line);
		unsaved = 1;	/* the next flush writes the whole list */
		return;
	}
	pend = np;
	memcpy(pend + pend_len, line, n + 1);
	pend_len += n;
	free(line);
}

/* the changes noted, on disk: appended to the log, or the list folded */
static int
supp_write(void)
{
	if (unsaved || log_bytes + pend_len > list_bytes / 4 + LOG_FOLD)
		return (supp_fold());
	if (pend_len == 0)
		return (0);
	if (queue_suppress_append(pend, pend_len) == -1)
		return (-1);
	log_bytes += pend_len;
	free(pend);
	pend = NULL;
	pend_len = 0;
	return (0);
}

/*
 * supp_write; once it fails, the next writes the whole list, so that one
 * that succeeds has written every entry: those whose write failed are
 * stored then, and shared with the cluster as any entry written is
 */
static int
supp_flush(void)
{
	struct supp	*s;

	if (supp_write() == -1) {
		unsaved = 1;
		return (-1);
	}
	if (!unstored)
		return (0);
	unstored = 0;
	RB_FOREACH(s, supptree, &supps)
		if (s->unstored) {
			s->unstored = 0;
			cluster_suppress_changed(s->addr, s->domain,
			    s->reason, s->ms);
		}
	return (0);
}

static void
supp_note_add(const struct supp *s)
{
	supp_note("+\t%s\t%lld\t%s\t%s\n", s->addr, s->ms,
	    s->reason, s->domain);
}

/*
 * A line of the list ("addr\ttime\treason[\tdomain]"), or of the log
 * (the same after "+\t", or "-\taddr\tdomain"), NUL-terminated and
 * writable.  -1 if it is none of those.
 */
static int
supp_parse(char *line, int log)
{
	struct supp_key	 key;
	struct supp	*s;
	char		*t1, *t2, *t3;
	const char	*errstr;
	long long	 t;

	if (log && strncmp(line, "-\t", 2) == 0) {
		if ((t1 = strchr(line + 2, '\t')) == NULL)
			return (-1);
		*t1++ = '\0';
		if (supp_key(&key, line + 2, t1) == -1)
			return (-1);
		if ((s = RB_FIND(supptree, &supps, &key.s)) != NULL) {
			RB_REMOVE(supptree, &supps, s);
			free(s);
		}
		return (0);
	}
	if (log) {
		if (strncmp(line, "+\t", 2) != 0)
			return (-1);
		line += 2;
	}
	if ((t1 = strchr(line, '\t')) == NULL ||
	    (t2 = strchr(t1 + 1, '\t')) == NULL)
		return (-1);
	*t1++ = '\0';
	*t2++ = '\0';
	if ((t3 = strchr(t2, '\t')) != NULL)
		*t3++ = '\0';
	t = strtonum(t1, 0, LLONG_MAX / 1000, &errstr);
	if (t < SECS_BELOW)
		t *= 1000;	/* written before ms */
	if (errstr != NULL || supp_insert(line, t3, t2, t) == -1)
		return (-1);
	return (0);
}

/* every line of text; the number that could not be read */
static size_t
supp_read(char *text, int log)
{
	char	*line, *next;
	size_t	 bad = 0;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else if (log)
			break;		/* a torn last line: never answered */
		if (*line != '\0' && supp_parse(line, log) == -1)
			bad++;
	}
	return (bad);
}

/*
 * One of the two files (rd its reader, what its name in the log), read
 * into the tree: 0, with its size and whether it ends inside a line; -1
 * if it is there but unread
 */
static int
supp_load_file(char *(*rd)(size_t *), int log, const char *what,
    size_t *lenp, int *tornp)
{
	char	*text;
	size_t	 bad;

	*tornp = 0;
	if ((text = rd(lenp)) == NULL) {
		*lenp = 0;
		if (errno == ENOENT)
			return (0);
		log_warn("suppress: cannot read the suppression %s", what);
		return (-1);
	}
	*tornp = *lenp > 0 && text[*lenp - 1] != '\n';
	if ((bad = supp_read(text, log)) > 0)
		log_warnx("suppress: %zu bad lines of the %s ignored", bad,
		    what);
	free(text);
	return (0);
}

int
suppress_load(void)
{
	int	 torn;

	suppress_free();
	/*
	 * A list there but unread is no empty list: started without it,
	 * relayd would send to every address in it and write the next
	 * change over it
	 */
	if (supp_load_file(queue_suppress_read, 0, "list", &list_bytes,
	    &torn) == -1 || supp_load_file(queue_suppress_log_read, 1, "log",
	    &log_bytes, &torn) == -1)
		return (-1);
	/*
	 * A log that ends inside a line (a crash in an append, never
	 * answered) is folded now, so that no line is written after the
	 * torn one; so is a long one.  If it cannot be, every change tries
	 * again.
	 */
	if ((torn || log_bytes > list_bytes / 4 + LOG_FOLD) &&
	    supp_fold() == -1) {
		log_warnx("suppress: the suppression log cannot be folded");
		unsaved = 1;
	}
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
	free(pend);
	pend = NULL;
	pend_len = 0;
	unstored = 0;
}

/* for every sender, or for mail from domain */
int
suppress_has(const char *addr, const char *domain)
{
	struct supp_key	 key;

	if (supp_key(&key, addr, NULL) == -1)
		return (0);
	if (RB_FIND(supptree, &supps, &key.s) != NULL)
		return (1);
	if (domain == NULL || domain[0] == '\0' ||
	    supp_key(&key, addr, domain) == -1)
		return (0);
	return (RB_FIND(supptree, &supps, &key.s) != NULL);
}

/*
 * domain NULL or "": for every sender; shared with the cluster.  1 if
 * the entry is new, 0 if it was there already (an unsubscribe repeated):
 * that one keeps its reason and time, nothing is pushed (what this node
 * heard and has not written yet is written, cluster.c).  -1
 * if it cannot be, -2 if the list cannot be written: the entry is kept
 * in memory all the same, so that a bounce or an unsubscribe is honoured
 * until the next start or the next change written (which writes it and
 * shares it with the cluster), and logged; added again, it is not "there
 * already", as its caller was answered it failed: written if it is not
 * yet, and 1 once it is.
 */
int
suppress_add(const char *addr, const char *domain, const char *reason)
{
	struct supp_key	 key;
	struct supp	*s;
	char		 a[LOG_ADDR_MAX];
	long long	 ms = cluster_now_ms();
	int		 fresh;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	/* there already; maybe heard from the cluster and not written yet
	 * (cluster.c writes those a slice at a time): written first */
	if ((s = RB_FIND(supptree, &supps, &key.s)) != NULL && !s->failed)
		return (supp_flush() == -1 ? -2 : 0);
	/* one whose add failed: written now if not since, new to the
	 * caller; supp_flush shares it with the cluster once written */
	fresh = s == NULL;
	if (fresh) {
		if (supp_insert(addr, domain, reason, ms) == -1 ||
		    (s = RB_FIND(supptree, &supps, &key.s)) == NULL)
			return (-1);
		supp_note_add(s);
	}
	if (supp_flush() == -1) {
		s->failed = 1;
		s->unstored = unstored = 1;
		log_warnx("suppress: the list cannot be written: <%s> is "
		    "suppressed in memory only, until a change is written",
		    log_addr(a, sizeof(a), addr));
		return (-2);
	}
	s->failed = 0;
	if (fresh)
		cluster_suppress_changed(key.addr, key.domain, s->reason,
		    s->ms);
	return (1);
}

/*
 * A change another node made (reason NULL: lifted), exactly that scope,
 * at ms: the newest wins, as in Redis (set_newer in cluster.c); written
 * unless save is 0 (then suppress_save() after a batch).
 */
int
suppress_apply(const char *addr, const char *domain, const char *reason,
    long long ms, int save)
{
	struct supp_key	 key;
	struct supp	*s;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	s = RB_FIND(supptree, &supps, &key.s);
	if (reason != NULL) {
		/* older, or what this node has already: nothing to write */
		if (s != NULL && (s->ms > ms || (s->ms == ms &&
		    strcmp(s->reason, reason) == 0)))
			return (0);
		if (supp_insert(addr, domain, reason, ms) == -1 ||
		    (s = RB_FIND(supptree, &supps, &key.s)) == NULL)
			return (-1);
		supp_note_add(s);
	} else if (s != NULL) {
		/* a lift older than this suppression: it stays, as in Redis */
		if (s->ms > ms)
			return (0);
		supp_note("-\t%s\t%s\n", s->addr, s->domain);
		RB_REMOVE(supptree, &supps, s);
		free(s);
	} else
		return (0);
	return (save ? supp_flush() : 0);
}

/*
 * addr and its scope as the list keys them, "addr\tdomain" (one form
 * of each, whatever the spelling): 0, -1 if it cannot be one or does
 * not fit
 */
int
suppress_keyname(char *buf, size_t len, const char *addr,
    const char *domain)
{
	struct supp_key	 key;
	int		 n;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	n = snprintf(buf, len, "%s\t%s", key.addr, key.domain);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/* the reason of exactly that scope's entry, if it was made at ms */
const char *
suppress_made(const char *addr, const char *domain, long long ms)
{
	struct supp_key	 key;
	struct supp	*s;

	if (supp_key(&key, addr, domain) == -1 ||
	    (s = RB_FIND(supptree, &supps, &key.s)) == NULL || s->ms != ms)
		return (NULL);
	return (s->reason);
}

/* the time of exactly that scope's entry, -1 if there is none */
long long
suppress_ms(const char *addr, const char *domain)
{
	struct supp_key	 key;
	struct supp	*s;

	if (supp_key(&key, addr, domain) == -1 ||
	    (s = RB_FIND(supptree, &supps, &key.s)) == NULL)
		return (-1);
	return (s->ms);
}

int
suppress_save(void)
{
	return (supp_flush());
}

void
suppress_foreach(void (*fn)(const char *addr, const char *domain,
    const char *reason, long long ms))
{
	struct supp	*s;

	RB_FOREACH(s, supptree, &supps)
		fn(s->addr, s->domain, s->reason, s->ms);
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
	struct supp_key	 key;
	struct supp	*s, *next;
	char		 scope[MH_NAME_MAX];
	long long	 ms = cluster_now_ms();
	int		 n = 0;

	if (supp_key(&key, addr, domain) == -1)
		return (-1);
	strlcpy(scope, key.domain, sizeof(scope));
	key.domain[0] = '\0';
	for (s = RB_NFIND(supptree, &supps, &key.s); s != NULL; s = next) {
		next = RB_NEXT(supptree, &supps, s);
		if (strcmp(s->addr, key.addr) != 0)
			break;
		if (domain != NULL && strcmp(s->domain, scope) != 0)
			continue;
		RB_REMOVE(supptree, &supps, s);
		RB_INSERT(supptree, &gone, s);
		n++;
	}
	if (n == 0)
		return (-1);
	RB_FOREACH(s, supptree, &gone)
		supp_note("-\t%s\t%s\n", s->addr, s->domain);
	if (supp_flush() == -1) {
		RB_FOREACH_SAFE(s, supptree, &gone, next) {
			RB_REMOVE(supptree, &gone, s);
			RB_INSERT(supptree, &supps, s);
		}
		/* the list in memory is the one on disk again */
		free(pend);
		pend = NULL;
		pend_len = 0;
		log_warnx("suppress: the list cannot be written: %d entries "
		    "kept", n);
		return (-2);
	}
	RB_FOREACH_SAFE(s, supptree, &gone, next) {
		if (fn != NULL)
			fn(s->addr, s->domain);
		cluster_suppress_changed(s->addr, s->domain, NULL, ms);
		RB_REMOVE(supptree, &gone, s);
		free(s);
	}
	return (n);
}

/*
 * mhctl show suppressions: as many as fit in a control reply
 * (CTL_LIST_BYTES), in address order; *unlisted counts the others.
 */
json_t *
suppress_list(size_t *unlisted)
{
	struct supp	*s;
	json_t		*a;
	size_t		 bytes = 0;

	*unlisted = 0;
	a = json_array();
	RB_FOREACH(s, supptree, &supps)
		ctl_list_append(a, ctl_list_full(bytes) ? NULL : json_pack(
		    "{s:s, s:s, s:s, s:I}", "address", s->addr,
		    "sender_domain", s->domain, "reason", s->reason, "time",
		    (json_int_t)(s->ms / 1000)), &bytes, unlisted);
	return (a);
}

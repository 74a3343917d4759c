/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * What relayd shares with the other nodes of a cluster, through Redis
 * (common/redis_link.c):
 *
 * - The suppression list: the hash "mailhook:suppress", field
 *   "addr<TAB>domain", value "MS:+reason" or "MS:-" (lifted: a
 *   resubscribe or mhctl suppress del), MS the time in ms; the newest
 *   write wins (a script).  Every change is published on the channel and
 *   applied by every node at once; a node that links (again) pushes all it
 *   has, then takes the hash whole.  The local list answers always, so a
 *   lost link delays what other nodes learn, never a delivery.
 * - Each sender domain's allowance: the messages granted in each
 *   sixteenth of its unit, a hash "mailhook:allowance16:DOMAIN" that
 *   expires two units after the last, taken one message at a time by a
 *   script (take_one), so the nodes together send no more than the limit
 *   in any interval of the unit, as a node alone counts (scheduler.c);
 *   and, for nodes of an earlier version sharing the Redis, the fixed
 *   window's counter "mailhook:allowance:DOMAIN" too.  Unlinked, a node
 *   sends its share (the limit divided by the nodes last seen) from its
 *   own count, in any interval of the unit, and says so; linked again,
 *   it adds that count to the sixteenths (add_ages), so the end of an
 *   outage does not open the whole allowance again.  What Redis granted
 *   it, it keeps too (sched_allow_grants), and adds it again when it
 *   links to a Redis that no longer knows the node (restarted without
 *   its data): such a restart does not open it again either.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "proc.h"
#include "redis_link.h"
#include "relayd.h"

#define SUPPRESS_KEY	REDIS_PREFIX "suppress"
#define ALLOW_KEY	REDIS_PREFIX "allowance:"
#define ALLOW_16THS_KEY	REDIS_PREFIX "allowance16:"
#define LIFTED_FILE	"cluster-lifted"	/* queue_state_write */
/* how far ahead of this one a node's clock may be, ms */
#define MS_AHEAD	(24LL * 3600 * 1000)

/* set the field if this write is newer; publish it */
static const char set_newer[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if v then "
    "  local t = tonumber(string.match(v, '^(%d+)')) "
    "  if t and t >= tonumber(ARGV[2]) then return 0 end "
    "end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) "
    "redis.call('PUBLISH', KEYS[2], ARGV[4] .. '\t' .. ARGV[1] .. "
    "  '\t' .. ARGV[3]) "
    "return 1";

/*
 * A field of the suppression hash (KEYS[1]) of an earlier build's
 * spelling that a full load found stale, ARGV[1], rewritten as the
 * newest lift of its key, ARGV[3], if its value is still the one read,
 * ARGV[2] (a node of an earlier build may have written it again since);
 * published on the channel KEYS[2] as set_newer publishes, by the node
 * ARGV[4], so that a node of an earlier build that holds the field's
 * suppression lifts it now, not at its next full load.  Not deleted:
 * the field's time is what makes set_newer refuse that node's older
 * write of it, pushed again when it links; deleted, the write was taken
 * and published, and every node applied it.
 */
static const char lift_same[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) "
    "  redis.call('PUBLISH', KEYS[2], ARGV[4] .. '\t' .. ARGV[1] .. "
    "    '\t' .. ARGV[3]) "
    "  return 1 "
    "end "
    "return 0";

/*
 * One more message under the allowance: its number in the last unit, or
 * -(ms until there is room) if spent.  Counted as a node alone counts
 * (scheduler.c, sender_ok): the grants of each sixteenth of the unit
 * (ARGV[2] ms) in the hash KEYS[2], field the sixteenth's number from
 * the epoch by Redis's clock (one clock for all nodes), "per" the unit
 * they were counted in; one more goes only while fewer than the limit
 * went in this sixteenth and the sixteen before it, so at most the
 * limit in any interval of the unit.  A spent allowance has room when
 * its oldest sixteenth counted goes out of the count.
 *
 * KEYS[1] is the fixed window's counter that nodes before this one
 * count in alone (take it, as they do, or be refused until it expires):
 * while such nodes share the Redis, every grant is in that counter too,
 * so the nodes together send at most the limit per fixed window (as
 * before: up to twice it across the end of one).  Alone in use, the
 * counter never refuses what the sixteenths grant: the window it counts
 * lies within the last unit.  The window ends when its counter expires,
 * never later: a refusal in its last millisecond sees PTTL 0 (so does
 * one in a script that began before the end, even after it: Redis
 * judges a key's expiry at the script's start); renewing the counter
 * then would keep it at the limit a whole window more, so the answer is
 * 1 ms left.  Only a counter without an expiry (-1) gets one.  Its
 * HGETALL reads one domain's hash, "per" and the sixteenths of a unit
 * or two (it deletes the older ones as it reads them, and the hash
 * expires two units after its last write), and its answer is one
 * integer: neither comes near a reply's bound, as the suppression
 * list's did.
 */
static const char take_one[] =
    "if redis.replicate_commands then redis.replicate_commands() end "
    "local n, per = tonumber(ARGV[1]), tonumber(ARGV[2]) "
    "local tm = redis.call('TIME') "
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / "
    "  1000) "
    "local slot = math.floor(now * 16 / per) "
    "local h = redis.call('HGETALL', KEYS[2]) "
    "local sum, oldest, p = 0, nil, nil "
    "for i = 1, #h, 2 do "
    "  if h[i] == 'per' then p = h[i + 1] end "
    "end "
    "if p ~= ARGV[2] then "
    "  redis.call('DEL', KEYS[2]) "
    "  redis.call('HSET', KEYS[2], 'per', ARGV[2]) "
    "  redis.call('PEXPIRE', KEYS[2], 2 * per) "
    "  h = {} "
    "end "
    "for i = 1, #h, 2 do "
    "  local s, c = tonumber(h[i]), tonumber(h[i + 1]) "
    "  if h[i] == 'per' then "
    "  elseif s == nil or c == nil or s < slot - 16 or s > slot then "
    "    redis.call('HDEL', KEYS[2], h[i]) "
    "  else "
    "    sum = sum + c "
    "    if oldest == nil or s < oldest then oldest = s end "
    "  end "
    "end "
    "if sum >= n then "
    "  if oldest == nil then oldest = slot end "
    "  local t = math.floor(((oldest + 17) * per + 15) / 16) - now "
    "  if t < 1 then t = 1 end "
    "  return -t "
    "end "
    "local f = redis.call('INCR', KEYS[1]) "
    "if f == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "if f > n then "
    "  redis.call('DECR', KEYS[1]) "
    "  local t = redis.call('PTTL', KEYS[1]) "
    "  if t == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "    t = per "
    "  elseif t < 1 then t = 1 end "
    "  return -t "
    "end "
    "redis.call('HINCRBY', KEYS[2], slot, 1) "
    "redis.call('PEXPIRE', KEYS[2], 2 * per) "
    "return sum + 1";

/*
 * Messages counted in the sixteenths take_one counts, by Redis's clock:
 * for each KEYS[1 + k], ARGV[2 + 18 * (k - 1)] the unit (ms) and the 17
 * arguments after it the messages sent 0, 1, ... 16 sixteenths of the
 * unit ago.  The total.  With ARGV[1] "", always (sched_allow_handover:
 * what a node sent on its own share while Redis did not answer); else
 * ARGV[1] is a node that links, and they are what Redis granted it
 * (sched_allow_grants), counted again only if Redis does not know the
 * node (the hash KEYS[1], node to the ms of its first link): a Redis
 * restarted without its data (or flushed) has forgotten its grants with
 * it, and would grant the whole allowance again; -1 if it knows it.
 */
#define RATE_HANDOVER	17
#define LINKED_KEY	REDIS_PREFIX "linked"
static const char add_ages[] =
    "if redis.replicate_commands then redis.replicate_commands() end "
    "local tm = redis.call('TIME') "
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / "
    "  1000) "
    "if ARGV[1] ~= '' then "
    "  if redis.call('HGET', KEYS[1], ARGV[1]) then return -1 end "
    "  redis.call('HSET', KEYS[1], ARGV[1], now) "
    "end "
    "local total = 0 "
    "for k = 2, #KEYS do "
    "  local b = 2 + (k - 2) * 18 "
    "  local per = tonumber(ARGV[b]) "
    "  local slot = math.floor(now * 16 / per) "
    "  if redis.call('HGET', KEYS[k], 'per') ~= ARGV[b] then "
    "    redis.call('DEL', KEYS[k]) "
    "    redis.call('HSET', KEYS[k], 'per', ARGV[b]) "
    "  end "
    "  for i = 1, 17 do "
    "    local c = tonumber(ARGV[b + i]) "
    "    if c and c > 0 then "
    "      redis.call('HINCRBY', KEYS[k], slot - (i - 1), c) "
    "      total = total + c "
    "    end "
    "  end "
    "  redis.call('PEXPIRE', KEYS[k], 2 * per) "
    "end "
    "return total";

/* one sender domain's count for add_ages */
struct ages {
	char	 key16[sizeof(ALLOW_16THS_KEY) + MH_NAME_MAX];
	char	 arg[1 + RATE_HANDOVER][24];	/* the unit (ms), the ages */
};
static struct ages	*regrants;		/* sched_allow_grants' */
static int		 nregrants;

/*
 * Resubscribes (lifted suppressions) until Redis has them: pushed at
 * once when linked, else when the link is back, and kept in the spool
 * meanwhile ("MS\taddr\tdomain" lines in LIFTED_FILE): a restart
 * before Redis took one would let the older suppression there come back
 * with the whole hash.
 */
struct lifted {
	TAILQ_ENTRY(lifted)	 entry;
	char			 field[MH_ADDR_MAX + MH_NAME_MAX + 1];
	long long		 ms;
	long long		 sent;		/* ms of the push in
						   flight, 0 */
	int			 inflight;	/* pushes awaited */
};
static TAILQ_HEAD(, lifted)	 lifted = TAILQ_HEAD_INITIALIZER(lifted);

/*
 * A suppression or a resubscribe Redis refused with an error reply
 * (NOPERM, OOM, READONLY) while linked: pushed again after
 * LIFT_RETRY_MIN s, doubled up to LIFT_RETRY_MAX, until Redis takes it;
 * logged once, and once when Redis takes them again.  A suppression is
 * pushed again alone, and only while this node has it as it was (one
 * lifted or made again since is pushed as that); a round with nothing
 * left to push ends the backoff.
 */
#define LIFT_RETRY_MIN	1
#define LIFT_RETRY_MAX	60
static struct event	*ev_lift_retry;
static int		 lift_backoff;		/* s, 0: not refused */
static int		 repushed;		/* pushes of the round */

/* a suppression pushed: its reply awaited, or refused (refusals) */
struct supp_push {
	TAILQ_ENTRY(supp_push)	 entry;
	char			 field[MH_ADDR_MAX + MH_NAME_MAX + 1];
	long long		 ms;
};
static TAILQ_HEAD(, supp_push)	 refusals = TAILQ_HEAD_INITIALIZER(refusals);

/*
 * A sender domain whose shared allowance is spent until (ms); or whose
 * allowance Redis did not answer (an error reply: a user without the
 * right to run scripts, OOM, READONLY; or no count), counted from this
 * node's own share until local (ms), as when the link is down
 */
struct spent {
	TAILQ_ENTRY(spent)	 entry;
	char			 domain[MH_NAME_MAX];
	long long		 until;
	long long		 local;
};
#define ALLOW_LOCAL_MS	5000
static TAILQ_HEAD(, spent)	 spents = TAILQ_HEAD_INITIALIZER(spents);

/* a pass when a spent allowance has room, not at the tick's after */
static struct event	*ev_room;
static long long	 room_at;		/* ms, pending on ev_room */
static long long	 suppress_held = -1;	/* HLEN, at the last beat */
static unsigned long long applied, pushed, granted, refused;

/* a lift met by a full load: in the hash, this node's own, heard */
enum { LIFT_THERE, LIFT_HERE, LIFT_HEARD };
static int	whole_awaited;			/* a full load under way */
static void	load_lift(const char *, size_t, long long, int);

/* the time of a suppression or a lift, here and in Redis */
long long
cluster_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void	lifted_save(void);
static int	push(const char *, long long, const char *, struct lifted *);
static void	hand_over(const char *, int, const int *, int);
static void	regrant(void);
static void	push_entry(const char *, const char *, const char *,
		    long long);

/* a refused suppression again, if this node still has it as it was */
static void
repush(struct supp_push *sp)
{
	char		 addr[MH_ADDR_MAX];
	const char	*reason;
	char		*tab;

	if ((tab = strchr(sp->field, '\t')) != NULL &&
	    (size_t)(tab - sp->field) < sizeof(addr)) {
		memcpy(addr, sp->field, tab - sp->field);
		addr[tab - sp->field] = '\0';
		if ((reason = suppress_made(addr, tab + 1, sp->ms)) != NULL)
			push(sp->field, sp->ms, reason, NULL);
	}
	free(sp);
}

static void
refusals_clear(void)
{
	struct supp_push	*sp;

	while ((sp = TAILQ_FIRST(&refusals)) != NULL) {
		TAILQ_REMOVE(&refusals, sp, entry);
		free(sp);
	}
}

/* a round of pushes again that had nothing left to push */
static void
retry_settled(void)
{
	if (repushed == 0 && lift_backoff != 0) {
		lift_backoff = 0;
		evtimer_del(ev_lift_retry);
		log_info("cluster: no suppression change redis refused is "
		    "left to push");
	}
}

/* while linked: the suppressions and resubscribes Redis refused, again */
static void
on_lift_retry(int fd, short ev, void *arg)
{
	TAILQ_HEAD(, supp_push)	 again = TAILQ_HEAD_INITIALIZER(again);
	struct supp_push	*sp;
	struct lifted		*l;

	if (!redis_link_up())
		return;		/* pushed by on_linked */
	repushed = 0;
	TAILQ_CONCAT(&again, &refusals, entry);
	while ((sp = TAILQ_FIRST(&again)) != NULL) {
		TAILQ_REMOVE(&again, sp, entry);
		repush(sp);
	}
	TAILQ_FOREACH(l, &lifted, entry)
		if (l->sent == 0)
			push(l->field, l->ms, NULL, l);
	retry_settled();
}

static void
lift_refused(const char *why)
{
	struct timeval	 tv = { 0, 0 };
	char		 w[128];

	if (evtimer_pending(ev_lift_retry, NULL))
		return;
	if (lift_backoff == 0) {
		log_warnx("cluster: redis refused a suppression change (%s): "
		    "kept, and pushed again until redis takes it",
		    log_sanitize(w, sizeof(w), why ? why : ""));
		lift_backoff = LIFT_RETRY_MIN;
	} else if ((lift_backoff *= 2) > LIFT_RETRY_MAX)
		lift_backoff = LIFT_RETRY_MAX;
	tv.tv_sec = lift_backoff;
	evtimer_add(ev_lift_retry, &tv);
}

static void
lift_taken(void)
{
	if (lift_backoff != 0 && TAILQ_EMPTY(&refusals)) {
		lift_backoff = 0;
		log_info("cluster: redis takes the suppression changes again");
	}
}

/*
 * A push's answer: set_newer's 0 (Redis has a newer write) or 1 (written)
 * is taken; any other answer (a proxy's +OK, a string) is not, and is
 * refused as an error reply is (pushed again).  Not taken and not
 * refused: the link is down (pushed again at the next link).
 */
static int
push_taken(const redisReply *r)
{
	return (r != NULL && r->type == REDIS_REPLY_INTEGER &&
	    (r->integer == 0 || r->integer == 1));
}

static const char *
push_refused(const redisReply *r)
{
	if (r == NULL)
		return (redis_link_refused());
	return (push_taken(r) ? NULL : "an answer that is not 0 or 1");
}

/* a suppression's push answered */
static void
on_supp_pushed(const redisReply *r, void *arg)
{
	struct supp_push	*sp = arg;
	const char		*why;

	if (push_taken(r)) {
		pushed++;
		free(sp);
		lift_taken();
	} else if ((why = push_refused(r)) != NULL) {
		TAILQ_INSERT_TAIL(&refusals, sp, entry);
		lift_refused(why);
	} else
		free(sp);	/* with the whole list at the next link */
}

/* a resubscribe's push answered */
static void
on_pushed(const redisReply *r, void *arg)
{
	struct lifted	*l = arg;
	const char	*why;

	if (push_taken(r))
		pushed++;
	/* lifted, suppressed, lifted again: the last push answers for it */
	if (--l->inflight > 0)
		return;
	if ((why = push_refused(r)) != NULL) {
		l->sent = 0;
		lift_refused(why);
		return;
	}
	if (!push_taken(r) || l->ms != l->sent) {
		l->sent = 0;	/* again at the next link */
		return;
	}
	lift_taken();
	TAILQ_REMOVE(&lifted, l, entry);
	free(l);
	lifted_save();
}

/* field "addr\tdomain", value "MS:+reason" or "MS:-"; l: a resubscribe */
static int
push(const char *field, long long ms, const char *reason, struct lifted *l)
{
	char			 t[32], value[300];
	const char		*argv[] = { "EVAL", set_newer, "2",
				    SUPPRESS_KEY, redis_link_channel(), field,
				    t, value, redis_link_node() };
	struct supp_push	*sp = NULL;
	int			 rv;

	snprintf(t, sizeof(t), "%lld", ms);
	snprintf(value, sizeof(value), "%lld:%c%s", ms, reason ? '+' : '-',
	    reason ? reason : "");
	if (l != NULL)
		rv = redis_command(on_pushed, l, 9, argv, NULL);
	else {
		if ((sp = calloc(1, sizeof(*sp))) == NULL)
			fatal("calloc");
		strlcpy(sp->field, field, sizeof(sp->field));
		sp->ms = ms;
		rv = redis_command(on_supp_pushed, sp, 9, argv, NULL);
	}
	if (rv == -1) {
		free(sp);
		return (-1);
	}
	repushed++;
	if (l != NULL) {
		l->sent = ms;
		l->inflight++;
	}
	return (0);
}

static void
lifted_save(void)
{
	struct lifted	*l;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		fatal("open_memstream");
	TAILQ_FOREACH(l, &lifted, entry)
		fprintf(fp, "%lld\t%s\n", l->ms, l->field);
	if (fclose(fp) != 0)
		fatal("cluster: fclose");
	if (queue_state_write(LIFTED_FILE, buf != NULL ? buf : "", len) == -1)
		log_warn("cluster: cannot keep the resubscribes for redis");
	free(buf);
}

static struct lifted *
remember_lifted(const char *field, long long ms)
{
	struct lifted	*l;

	/* a full load under way: it beats the pages still to come */
	load_lift(field, strlen(field), ms, LIFT_HERE);
	TAILQ_FOREACH(l, &lifted, entry)
		if (strcmp(l->field, field) == 0) {
			if (ms > l->ms)
				l->ms = ms;
			return (l);
		}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	strlcpy(l->field, field, sizeof(l->field));
	l->ms = ms;
	TAILQ_INSERT_TAIL(&lifted, l, entry);
	return (l);
}

/* at the first configure: what an earlier run had not pushed */
static void
lifted_load(void)
{
	char		*text, *line, *next, *tab;
	size_t		 len;
	long long	 ms;

	if ((text = queue_state_read(LIFTED_FILE, 16 * 1024 * 1024,
	    &len)) == NULL)
		return;
	for (line = text; (next = strchr(line, '\n')) != NULL; line = next) {
		*next++ = '\0';
		ms = strtoll(line, &tab, 10);
		if (ms <= 0 || *tab != '\t' || strchr(tab + 1, '\t') == NULL ||
		    strlen(tab + 1) >= sizeof(((struct lifted *)0)->field)) {
			log_warnx("cluster: cluster-lifted: a bad line "
			    "skipped");
			continue;
		}
		remember_lifted(tab + 1, ms);
	}
	free(text);
}

void
cluster_suppress_changed(const char *addr, const char *domain,
    const char *reason, long long ms)
{
	char		 field[MH_ADDR_MAX + MH_NAME_MAX + 1];
	struct lifted	*l = NULL;

	if (!redis_link_enabled())
		return;
	snprintf(field, sizeof(field), "%s\t%s", addr, domain);
	if (reason == NULL) {
		l = remember_lifted(field, ms);
		lifted_save();
	}
	if (push(field, ms, reason, l) == 0)
		return;
	/* a suppression is pushed with the whole list when linked again */
	redis_fallback("suppression change");
}

/* field "addr\tdomain" (flen bytes) into f, split: its domain, NULL */
static char *
field_split(const char *field, size_t flen, char *f, size_t len)
{
	char	*domain;

	if (flen >= len || memchr(field, '\0', flen) != NULL)
		return (NULL);
	memcpy(f, field, flen);
	f[flen] = '\0';
	if ((domain = strchr(f, '\t')) == NULL)
		return (NULL);
	*domain++ = '\0';
	return (domain);
}

/*
 * The time of a value "MS:..." from Redis into *ms: 0; -1 if it is not
 * digits then ':', or is 0, or further ahead of this clock than a node's
 * may be (a suppression no lift could ever beat)
 */
static int
value_ms(const char *value, long long *ms)
{
	char		*end;
	long long	 v;

	if (!isdigit((unsigned char)*value))
		return (-1);
	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno != 0 || *end != ':' || v <= 0 ||
	    v > (long long)time(NULL) * 1000 + MS_AHEAD)
		return (-1);
	*ms = v;
	return (0);
}

/*
 * "addr\tdomain" and "MS:+reason|MS:-" from Redis, applied here; only
 * a suppression ('+') or only a lift ('-'), or either (0): 0 and its
 * time in *msp if it was taken, -1 if skipped (bad, or refused)
 */
static int
apply(const char *field, size_t flen, const char *value, int save, int only,
    long long *msp)
{
	char		 f[MH_ADDR_MAX + MH_NAME_MAX + 1];
	char		*domain, *mark;
	long long	 ms;

	if ((domain = field_split(field, flen, f, sizeof(f))) == NULL ||
	    (mark = strchr(value, ':')) == NULL ||
	    (mark[1] != '+' && mark[1] != '-') ||
	    (only != 0 && mark[1] != only))
		return (-1);
	if (value_ms(value, &ms) == -1) {
		log_warnx("cluster: a change with a bad time from redis "
		    "skipped");
		return (-1);
	}
	if (suppress_apply(f, domain, mark[1] == '+' ? mark + 2 : NULL,
	    ms, save) == -1)
		return (-1);
	applied++;
	if (msp != NULL)
		*msp = ms;
	return (0);
}

/*
 * The changes heard on the channel, written once the slice of the
 * channel's read that applied them is over (the next turn of the loop),
 * not each with its own fsync: a flood of them from other nodes was
 * bound by the disk.  Redis holds every one of them (a node that dies
 * before the write has them again with the full load of its next link),
 * and this node's own changes are written before they are answered
 * (suppress.c), with any heard and not written yet.
 */
static struct event	*ev_heard_save;
static int		 heard_unsaved;	/* logged, until a save succeeds */

static void
on_heard_save(int fd, short ev, void *arg)
{
	if (suppress_save() == 0)
		heard_unsaved = 0;
	else if (!heard_unsaved) {
		heard_unsaved = 1;
		log_warnx("cluster: cannot save the suppression list (the "
		    "changes other nodes made are in memory and in redis)");
	}
}

static void
heard_save_later(void)
{
	struct timeval	 now = { 0, 0 };

	if (!evtimer_pending(ev_heard_save, NULL))
		evtimer_add(ev_heard_save, &now);
}

/* from the channel: "node\taddr\tdomain\tMS:..." */
static void
on_message(const char *msg, size_t len)
{
	const char	*node = redis_link_node(), *field, *value, *mark;
	size_t		 nl = strlen(node);
	long long	 ms;

	if (memchr(msg, '\0', len) != NULL ||
	    (field = memchr(msg, '\t', len)) == NULL)
		return;
	if ((size_t)(field - msg) == nl && memcmp(msg, node, nl) == 0)
		return;		/* ours */
	field++;
	if ((value = strchr(field, '\t')) == NULL ||
	    (value = strchr(value + 1, '\t')) == NULL)
		return;
	if (apply(field, value - field, value + 1, 0, 0, &ms) == -1)
		return;
	heard_save_later();
	/* only a lift taken, at the time value_ms() accepted */
	if ((mark = strchr(value + 1, ':')) != NULL && mark[1] == '-')
		load_lift(field, value - field, ms, LIFT_HEARD);
}

/*
 * The full load (on_linked): the hash read by HSCAN, a page of about
 * LOAD_PAGE entries at a time, each page's answer bounded as any
 * command's (REDIS_COST_CMD) and applied as it comes.  It was one
 * HGETALL, whose answer was held whole, bounded at 512 MB: past some
 * 2.5 million entries the answer passed its bound, and the link was
 * dropped at every load, for ever.  HSCAN returns every field the hash
 * holds from the first page to the last, some maybe twice (applied
 * again, an entry changes nothing); a field written meanwhile was
 * published on the channel, which the link subscribed to before it was
 * up (redis_link.c, now_up), so before the first page was asked for.
 *
 * The lifts met so far, by the list's key (loadlifts): those of the
 * hash ("there"), and "here" this node's own that Redis has not taken
 * yet (lifted: refused, NOPERM, READONLY, OOM, or in flight) and those
 * heard on the channel during the load: a page may be older than such
 * a lift (Redis read it before the lift was written, and it came
 * after the lift's message), and held the resubscribed address until
 * the next full load.  At most HEARD_MAX of those heard: past them, the
 * newer ones are not kept.
 *
 * A suppression that a lift of the same key beats (a lift at the same ms
 * wins, as suppress_apply has it) is not applied at all: added then
 * lifted, it wrote a + and a - line to the suppression log at every
 * full load, and one beaten by a lift only this node has stayed, as the
 * lift's later push is not read back (on_message skips the node's own).
 * A page's lifts are met before its suppressions.  A field written as
 * its key (john@d) has one value in the hash: no later page holds a lift
 * of its key that is not met before it, but one of another spelling:
 * "john"@d as a node before canonical keys (addr_canon) wrote it, each
 * the newest write of its own spelling.  Those are kept (loadlate) and
 * applied after the whole hash, its suppressions, then its lifts, so
 * that a lift meets the newest of its key whatever the spelling: the
 * newest write of the key wins, in any order, on every node alike.  Such
 * a lift that beats a suppression of its key's own spelling met in an
 * earlier page (applied, lifted now) is pushed under that spelling too
 * (load_respell), so that it is met in that page at the next load.
 *
 * A field of the old spelling that says nothing any more (a suppression
 * so beaten, a lift older than its key's newest) by what the hash itself
 * holds is rewritten as that newest lift (whole_relift), never deleted:
 * a node of an earlier build that still holds it pushes it again when it
 * links, and only the field's time makes Redis refuse that push.
 */
#define LOAD_PAGE	"2000"		/* HSCAN's COUNT */
/*
 * A Redis (or a proxy) that never answers cursor 0 would have the load
 * ask for pages for ever.  Redis ends a scan of a hash of N entries in
 * about N / 2000 pages of entries and, as it visits at most 10 times
 * COUNT empty slots a page and keeps a hash's table under some 16 slots
 * an entry, N / 1000 pages of empty slots: the load stops (load_endless)
 * past LOAD_PAGES_MIN + N / 100 pages, or past LOAD_READ_MIN + 2 N
 * entries (a page may repeat some, and entries written meanwhile come
 * too), N the HLEN asked for before the first page, or LOAD_HLEN_UNKNOWN
 * if Redis did not answer it.
 */
#define LOAD_PAGES_MIN		1024
#define LOAD_READ_MIN		100000
#define LOAD_HLEN_UNKNOWN	10000000
#define HEARD_MAX	65536
#define KEY_MAX		(MH_ADDR_MAX + MH_NAME_MAX + 1)

struct loadlift {
	RB_ENTRY(loadlift)	 entry;
	long long		 there;		/* newest in the hash, 0 */
	long long		 here;		/* newest here, 0 */
	char			*key;
};
RB_HEAD(loadlifts, loadlift);

static int
loadlift_cmp(struct loadlift *a, struct loadlift *b)
{
	return (strcmp(a->key, b->key));
}
RB_PROTOTYPE(loadlifts, loadlift, entry, loadlift_cmp);
RB_GENERATE(loadlifts, loadlift, entry, loadlift_cmp);

/* a field of another spelling than its key's, until the hash is read */
struct loadlate {
	TAILQ_ENTRY(loadlate)	 entry;
	char			*field;
	char			*value;
};
static struct loadlifts	 loadlifts = RB_INITIALIZER(&loadlifts);
static TAILQ_HEAD(, loadlate)	 loadlate = TAILQ_HEAD_INITIALIZER(loadlate);
static size_t		 nheard, load_read, load_pages;
static long long	 load_hlen;	/* HLEN at the load's start, -1 */
static uintptr_t	 load_gen;	/* the load a page's answer is of */

static void	on_hlen(const redisReply *, void *);

/* no load under way */
static void
load_end(void)
{
	struct loadlift	*w;
	struct loadlate	*lt;

	while ((w = RB_MIN(loadlifts, &loadlifts)) != NULL) {
		RB_REMOVE(loadlifts, &loadlifts, w);
		free(w->key);
		free(w);
	}
	while ((lt = TAILQ_FIRST(&loadlate)) != NULL) {
		TAILQ_REMOVE(&loadlate, lt, entry);
		free(lt->field);
		free(lt->value);
		free(lt);
	}
	nheard = load_read = load_pages = 0;
	load_hlen = -1;
	whole_awaited = 0;
	load_gen++;
}

/* field (flen bytes) as the list keys it: 0, -1; *spelled: written so */
static int
load_key(const char *field, size_t flen, char *key, int *spelled)
{
	char	 f[KEY_MAX], *domain;

	if ((domain = field_split(field, flen, f, sizeof(f))) == NULL ||
	    suppress_keyname(key, KEY_MAX, f, domain) == -1)
		return (-1);
	*spelled = strlen(key) == flen && memcmp(key, field, flen) == 0;
	return (0);
}

/* a lift of field's key at ms, while a load is under way (where: LIFT_) */
static void
load_lift(const char *field, size_t flen, long long ms, int where)
{
	struct loadlift	 k, *w;
	char		 key[KEY_MAX];
	int		 spelled;

	if (!whole_awaited || load_key(field, flen, key, &spelled) == -1)
		return;
	k.key = key;
	if ((w = RB_FIND(loadlifts, &loadlifts, &k)) == NULL) {
		if (where == LIFT_HEARD && nheard >= HEARD_MAX)
			return;
		nheard += where == LIFT_HEARD;
		if ((w = calloc(1, sizeof(*w))) == NULL ||
		    (w->key = strdup(key)) == NULL)
			fatal("calloc");
		RB_INSERT(loadlifts, &loadlifts, w);
	}
	if (where == LIFT_THERE && ms > w->there)
		w->there = ms;
	else if (where != LIFT_THERE && ms > w->here)
		w->here = ms;
}

/*
 * The newest lift met of field's key (in the hash; here too if here), -1
 * if none; *spelled: whether field is written as its key
 */
static long long
load_lift_of(const char *field, size_t flen, int here, int *spelled)
{
	struct loadlift	 k, *w;
	char		 key[KEY_MAX];
	long long	 ms;

	*spelled = 1;
	if (load_key(field, flen, key, spelled) == -1)
		return (-1);
	k.key = key;
	if ((w = RB_FIND(loadlifts, &loadlifts, &k)) == NULL)
		return (-1);
	ms = here && w->here > w->there ? w->here : w->there;
	return (ms > 0 ? ms : -1);
}

/*
 * A field that a lift met beats: 1 for a suppression (a lift at the
 * same ms wins, as suppress_apply has it); 2 for one of an earlier
 * build's spelling, a suppression so beaten or a lift older than its
 * key's newest, which says nothing any more
 */
static int
whole_beaten(int here, const char *field, size_t flen, const char *value)
{
	const char	*mark = strchr(value, ':');
	long long	 ms, lift;
	int		 spelled;

	if (mark == NULL || (mark[1] != '+' && mark[1] != '-') ||
	    value_ms(value, &ms) == -1 ||
	    (lift = load_lift_of(field, flen, here, &spelled)) == -1)
		return (0);
	if (mark[1] == '+' && lift >= ms)
		return (spelled ? 1 : 2);
	return (!spelled && lift > ms ? 2 : 0);
}

/* lift_same's answers of a full load: those awaited, those rewritten */
static size_t	 relift_waiting, relift_done;

/* lift_same's answer (a refusal is logged by the link); the last says
 * how many were rewritten */
static void
on_relifted(const redisReply *r, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		relift_done++;
	if (relift_waiting > 0 && --relift_waiting == 0 && relift_done > 0) {
		log_info("cluster: %zu stale field(s) of an earlier build's "
		    "spelling rewritten as lifts", relift_done);
		relift_done = 0;
	}
}

/*
 * A stale field (whole_beaten 2) rewritten as the newest lift of its key
 * that the hash holds, unless written since
 */
static void
whole_relift(const char *field, size_t flen, const char *value)
{
	char		 v[32];
	const char	*argv[] = { "EVAL", lift_same, "2", SUPPRESS_KEY,
			    redis_link_channel(), field, value, v,
			    redis_link_node() };
	long long	 ms;
	int		 spelled;

	if ((ms = load_lift_of(field, flen, 0, &spelled)) == -1)
		return;
	snprintf(v, sizeof(v), "%lld:-", ms);
	if (redis_command(on_relifted, NULL, 9, argv, NULL) == 0)
		relift_waiting++;
}

/* an entry read: pass 0 if a suppression, 1 if a lift */
static void
load_entry(const char *field, size_t flen, const char *value, int pass)
{
	int	 b;

	b = whole_beaten(1, field, flen, value);
	/* stale by what the hash itself holds: a lift only this node has
	 * may never be taken */
	if (pass == 0 && b == 2 && whole_beaten(0, field, flen, value) == 2)
		whole_relift(field, flen, value);
	if (b != 0 && (pass == 0 || b == 2))
		return;
	apply(field, flen, value, 0, pass == 0 ? '+' : '-', NULL);
}

static void
load_late(const redisReply *f, const redisReply *v)
{
	struct loadlate	*lt;

	if ((lt = calloc(1, sizeof(*lt))) == NULL ||
	    (lt->field = strndup(f->str, f->len)) == NULL ||
	    (lt->value = strdup(v->str)) == NULL)
		fatal("calloc");
	TAILQ_INSERT_TAIL(&loadlate, lt, entry);
}

/* a page: field, value, ...; its lifts first, then its entries */
static void
load_page(const redisReply *a)
{
	const redisReply	*f, *v;
	const char		*mark;
	char			 key[KEY_MAX], *now;
	long long		 ms;
	size_t			 i;
	int			 k, spelled;

	if ((now = calloc(a->elements / 2 + 1, 1)) == NULL)
		fatal("calloc");
	for (i = 0; i + 1 < a->elements; i += 2) {
		f = a->element[i];
		v = a->element[i + 1];
		if (f->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		load_read++;
		if (load_key(f->str, f->len, key, &spelled) == -1)
			continue;
		if ((mark = strchr(v->str, ':')) != NULL && mark[1] == '-' &&
		    value_ms(v->str, &ms) == 0)
			load_lift(f->str, f->len, ms, LIFT_THERE);
		if (spelled)
			now[i / 2] = 1;
		else
			load_late(f, v);
	}
	for (k = 0; k < 2; k++)
		for (i = 0; i + 1 < a->elements; i += 2)
			if (now[i / 2])
				load_entry(a->element[i]->str,
				    a->element[i]->len,
				    a->element[i + 1]->str, k);
	free(now);
}

/*
 * A late lift (of another spelling than its key's), the newest of its
 * key in the hash, that beats this node's entry of the key: a page before
 * it held the key's older suppression under the key's own spelling,
 * applied then, lifted now, at every full load (a + and a - line in the
 * suppression log).  Pushed under the key's own spelling too (set_newer:
 * if that field is older), so that the next full load meets the lift in
 * that field's own page and applies neither.
 */
static void
load_respell(const char *field, const char *value)
{
	char		 key[KEY_MAX], *domain;
	const char	*mark = strchr(value, ':');
	long long	 ms, held;
	int		 spelled;

	if (mark == NULL || mark[1] != '-' || value_ms(value, &ms) == -1 ||
	    load_lift_of(field, strlen(field), 0, &spelled) != ms ||
	    load_key(field, strlen(field), key, &spelled) == -1 ||
	    (domain = strchr(key, '\t')) == NULL)
		return;
	*domain = '\0';
	held = suppress_ms(key, domain + 1);
	*domain = '\t';
	if (held != -1 && held <= ms)
		push(key, ms, NULL, NULL);
}

/* the hash read whole: the late ones, this node's lifts */
static void
load_done(void)
{
	const char	*hlen[] = { "HLEN", SUPPRESS_KEY };
	struct loadlate	*lt;
	struct lifted	*l;
	char		 v[32];
	size_t		 n = load_read;
	int		 k;

	for (k = 0; k < 2; k++)
		TAILQ_FOREACH(lt, &loadlate, entry) {
			if (k == 1)
				load_respell(lt->field, lt->value);
			load_entry(lt->field, strlen(lt->field), lt->value, k);
		}
	TAILQ_FOREACH(l, &lifted, entry) {
		snprintf(v, sizeof(v), "%lld:-", l->ms);
		apply(l->field, strlen(l->field), v, 0, '-', NULL);
	}
	load_end();
	if (suppress_save() == -1)
		log_warnx("cluster: cannot save the suppression list");
	redis_command(on_hlen, NULL, 2, hlen, NULL);
	log_info("cluster: suppression list in step with redis (%zu "
	    "entries read)", n);
}

static int	load_ask(const char *);

/* HLEN asked for before the first page: the load's bound */
static void
on_load_hlen(const redisReply *r, void *arg)
{
	if ((uintptr_t)arg == load_gen && whole_awaited && r != NULL &&
	    r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
		load_hlen = r->integer;
}

/* a page more than a scan of the hash can take: stop (LOAD_PAGES_MIN) */
static int
load_endless(void)
{
	size_t	 n = load_hlen >= 0 ? (size_t)load_hlen : LOAD_HLEN_UNKNOWN;

	if (++load_pages <= LOAD_PAGES_MIN + n / 100 &&
	    load_read <= LOAD_READ_MIN + 2 * n)
		return (0);
	log_warnx("cluster: the suppression list's full load stopped: redis "
	    "never ended HSCAN (%zu pages, %zu entries read, of a hash of "
	    "%lld)", load_pages, load_read, load_hlen);
	return (1);
}

/* a page's answer: cursor, [field, value, ...] */
static void
on_load_page(const redisReply *r, void *arg)
{
	const redisReply	*c, *a;
	const char		*why;
	char			 cursor[32];

	if ((uintptr_t)arg != load_gen || !whole_awaited)
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    (c = r->element[0])->type != REDIS_REPLY_STRING ||
	    (a = r->element[1])->type != REDIS_REPLY_ARRAY ||
	    c->len == 0 || c->len >= sizeof(cursor) ||
	    strspn(c->str, "0123456789") != c->len) {
		if (r != NULL)
			log_warnx("cluster: the suppression list's full load "
			    "stopped: redis answered HSCAN with no page");
		else if ((why = redis_link_refused()) != NULL)
			log_warnx("cluster: the suppression list's full load "
			    "stopped: redis refused HSCAN (%s)%s", why,
			    strncmp(why, "NOPERM", 6) == 0 ? "; its ACL user "
			    "needs +hscan (doc/cluster.md)" : "");
		load_end();
		return;
	}
	memcpy(cursor, c->str, c->len + 1);
	load_page(a);
	heard_save_later();
	if (strcmp(cursor, "0") != 0) {
		if (load_endless() || load_ask(cursor) == -1)
			load_end();
		return;
	}
	load_done();
}

static int
load_ask(const char *cursor)
{
	const char	*argv[] = { "HSCAN", SUPPRESS_KEY, cursor, "COUNT",
			    LOAD_PAGE };

	return (redis_command(on_load_page, (void *)load_gen, 5, argv,
	    NULL));
}

/* linked: the hash read again, its first page asked for */
static void
load_start(void)
{
	const char	*hlen[] = { "HLEN", SUPPRESS_KEY };
	struct lifted	*l;

	load_end();
	whole_awaited = 1;
	TAILQ_FOREACH(l, &lifted, entry)
		load_lift(l->field, strlen(l->field), l->ms, LIFT_HERE);
	/* its answer comes before the first page's */
	if (redis_command(on_load_hlen, (void *)load_gen, 2, hlen,
	    NULL) == -1 || load_ask("0") == -1)
		load_end();
}

static void
push_entry(const char *addr, const char *domain, const char *reason,
    long long ms)
{
	char	 field[MH_ADDR_MAX + MH_NAME_MAX + 1];

	/* its own ms, as a lift's: not the second, which a lift made in
	 * it, earlier or later, would beat or lose to wrongly */
	snprintf(field, sizeof(field), "%s\t%s", addr, domain);
	push(field, ms, reason, NULL);
}

/* linked (again): ours up, then theirs down */
static void
on_linked(void)
{
	struct lifted	*l;

	regrant();
	/* the whole list: what Redis refused before is in it */
	refusals_clear();
	repushed = 0;
	suppress_foreach(push_entry);
	TAILQ_FOREACH(l, &lifted, entry)
		if (l->sent == 0)
			push(l->field, l->ms, NULL, l);
	retry_settled();
	load_start();
	sched_allow_handover(hand_over);
	sched_kick();
}

static struct spent *
spent_get(const char *domain)
{
	struct spent	*s;

	TAILQ_FOREACH(s, &spents, entry)
		if (strcasecmp(s->domain, domain) == 0)
			return (s);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	strlcpy(s->domain, domain, sizeof(s->domain));
	TAILQ_INSERT_TAIL(&spents, s, entry);
	return (s);
}

/* the allowance's keys: one however the senders write the domain */
static void
allow_keys(const char *domain, char *key, size_t klen, char *key16,
    size_t k16len)
{
	char	 low[MH_NAME_MAX];
	size_t	 i;

	for (i = 0; domain[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = tolower((unsigned char)domain[i]);
	low[i] = '\0';
	snprintf(key, klen, "%s%s", ALLOW_KEY, low);
	snprintf(key16, k16len, "%s%s", ALLOW_16THS_KEY, low);
}

static void
on_handed(const redisReply *r, void *arg)
{
	char	*domain = arg;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		log_info("cluster: sender domain %s: %lld messages sent on "
		    "this node's share while redis did not answer, counted "
		    "in redis now", domain, r->integer);
	else
		log_warnx("cluster: sender domain %s: what this node sent on "
		    "its share could not be counted in redis", domain);
	free(domain);
}

static void
ages_fill(struct ages *g, const char *domain, int per, const int *ages,
    int n)
{
	char	 key[sizeof(ALLOW_KEY) + MH_NAME_MAX];
	int	 i;

	allow_keys(domain, key, sizeof(key), g->key16, sizeof(g->key16));
	snprintf(g->arg[0], sizeof(g->arg[0]), "%lld", (long long)per * 1000);
	for (i = 0; i < RATE_HANDOVER; i++)
		snprintf(g->arg[1 + i], sizeof(g->arg[1 + i]), "%d",
		    i < n ? ages[i] : 0);
}

/* add_ages: node "" (counted always) or the node that links */
static int
ages_send(const char *node, const struct ages *g, int n, redis_reply_fn fn,
    void *arg)
{
	const char	**argv;
	char		  nkeys[16];
	int		  argc = 0, i, j, rv;

	if ((argv = calloc(5 + n * (2 + RATE_HANDOVER),
	    sizeof(*argv))) == NULL)
		fatal("calloc");
	snprintf(nkeys, sizeof(nkeys), "%d", 1 + n);
	argv[argc++] = "EVAL";
	argv[argc++] = add_ages;
	argv[argc++] = nkeys;
	argv[argc++] = LINKED_KEY;
	for (i = 0; i < n; i++)
		argv[argc++] = g[i].key16;
	argv[argc++] = node;
	for (i = 0; i < n; i++)
		for (j = 0; j <= RATE_HANDOVER; j++)
			argv[argc++] = g[i].arg[j];
	rv = redis_command(fn, arg, argc, argv, NULL);
	free(argv);
	return (rv);
}

/* linked: what this node sent on its own share, into the sixteenths */
static void
hand_over(const char *domain, int per, const int *ages, int n)
{
	struct ages	 g;
	char		*arg;

	ages_fill(&g, domain, per, ages, n);
	if ((arg = strdup(domain)) == NULL)
		fatal("strdup");
	if (ages_send("", &g, 1, on_handed, arg) == -1)
		free(arg);
}

static void
regrant_add(const char *domain, int per, const int *ages, int n)
{
	struct ages	*g;

	if ((g = reallocarray(regrants, nregrants + 1,
	    sizeof(*regrants))) == NULL)
		fatal("reallocarray");
	regrants = g;
	ages_fill(&regrants[nregrants++], domain, per, ages, n);
}

static void
on_regranted(const redisReply *r, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
		log_warnx("cluster: redis did not know this node (restarted "
		    "without its data?): the %lld messages it granted this "
		    "node in the sender domains' last unit are counted there "
		    "again", r->integer);
}

/*
 * linked: before any message is asked for, what Redis granted this node
 * lately, counted again if Redis has lost it (add_ages); first of all,
 * so that no grant comes from a count that lacks them
 */
static void
regrant(void)
{
	nregrants = 0;
	sched_allow_grants(regrant_add);
	ages_send(redis_link_node(), regrants, nregrants, on_regranted, NULL);
	free(regrants);
	regrants = NULL;
	nregrants = 0;
}

struct asking {
	struct rmsg	*m;
	char		 domain[MH_NAME_MAX];
	long long	 window;	/* ms */
};

static void
on_room(int fd, short ev, void *arg)
{
	room_at = 0;
	sched_kick();
}

/* a pass at ms (from now) if it comes before the 1-second tick's */
static void
room_wake(long long ms)
{
	struct timeval	 tv;
	long long	 at = cluster_now_ms() + ms;

	if (ev_room == NULL || ms >= 1000)
		return;
	if (evtimer_pending(ev_room, NULL) && room_at <= at)
		return;
	room_at = at;
	tv.tv_sec = 0;
	tv.tv_usec = (ms < 1 ? 1 : ms) * 1000;
	evtimer_add(ev_room, &tv);
}

static void
on_taken(const redisReply *r, void *arg)
{
	struct asking	*a = arg;
	struct rmsg	*m = a->m;
	long long	 left;

	m->asking = 0;
	m->inflight--;
	/* room comes up to a sixteenth of the unit past a whole unit */
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer != 0 &&
	    r->integer >= -(a->window + a->window / 16 + 1)) {
		if (r->integer > 0) {
			m->counted = m->env.allow_counted = 1;
			granted++;
			sched_allow_granted(a->domain, a->window / 1000);
		} else {
			/* asked again at the first pass after its end */
			left = -r->integer;
			spent_get(a->domain)->until = cluster_now_ms() + left;
			room_wake(left);
			refused++;
		}
	} else if (redis_link_up())
		/* not asked again at once, in a loop: a while on our own */
		spent_get(a->domain)->local = cluster_now_ms() + ALLOW_LOCAL_MS;
	free(a);
	sched_kick();
}

/* unlinked: this node's share of the limit, from its own window */
static enum allowance
allowance_local(int rate, int *share)
{
	*share = rate / redis_link_nodes();
	if (*share < 1)
		*share = 1;
	redis_fallback("sender allowance");
	return (ALLOW_LOCAL);
}

/* the end of the domain's shared allowance, spent (seconds, rounded up) */
time_t
cluster_spent_until(const char *domain)
{
	return ((spent_get(domain)->until + 999) / 1000);
}

enum allowance
cluster_allowance(struct rmsg *m, const char *domain, int rate, int per,
    int *share)
{
	struct asking	*a;
	struct spent	*s;
	char		 key[sizeof(ALLOW_KEY) + MH_NAME_MAX], limit[16];
	char		 key16[sizeof(ALLOW_16THS_KEY) + MH_NAME_MAX];
	char		 window[24];
	const char	*argv[] = { "EVAL", take_one, "2", key, key16, limit,
			    window };

	if (!redis_link_up())
		return (allowance_local(rate, share));
	if (m->asking)
		return (ALLOW_ASKING);
	s = spent_get(domain);
	if (s->local > cluster_now_ms())
		return (allowance_local(rate, share));
	if (s->until > cluster_now_ms()) {
		/* a wake a little early (libevent's cached time): again */
		room_wake(s->until - cluster_now_ms());
		return (ALLOW_SPENT);
	}
	allow_keys(domain, key, sizeof(key), key16, sizeof(key16));
	snprintf(limit, sizeof(limit), "%d", rate);
	snprintf(window, sizeof(window), "%lld", (long long)per * 1000);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	a->m = m;
	strlcpy(a->domain, domain, sizeof(a->domain));
	a->window = (long long)per * 1000;
	/* the message stays while its answer is awaited */
	m->asking = 1;
	m->inflight++;
	if (redis_command(on_taken, a, 7, argv, NULL) == -1) {
		m->asking = 0;
		m->inflight--;
		free(a);
		return (allowance_local(rate, share));
	}
	return (ALLOW_ASKING);
}

static void
on_hlen(const redisReply *r, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		suppress_held = r->integer;
}

json_t *
cluster_show(void)
{
	json_t		*j = redis_link_show();
	const char	*argv[] = { "HLEN", SUPPRESS_KEY };

	/* for the next look: the answer cannot wait for this one */
	redis_command(on_hlen, NULL, 2, argv, NULL);
	json_object_set_new(j, "keys", json_pack("{s:I}",
	    "suppressions", (json_int_t)suppress_held));
	json_object_set_new(j, "relayd", json_pack("{s:I, s:I, s:I, s:I}",
	    "suppressions_applied", (json_int_t)applied,
	    "suppressions_pushed", (json_int_t)pushed,
	    "allowance_granted", (json_int_t)granted,
	    "allowance_refused", (json_int_t)refused));
	return (j);
}

/* mhctl show status: the parent hears of each change */
static void
on_changed(const struct cluster_link *cl)
{
	struct mproc	*p = proc_peer[PROC_PARENT];

	if (p != NULL && !p->closed)
		mproc_compose(p, IMSG_CTL_CLUSTER, 0, -1, cl, sizeof(*cl));
}

void
cluster_configure(struct event_base *base, const struct config *c)
{
	static const struct redis_hooks	 hooks = {
		.linked = on_linked,
		.message = on_message,
		.changed = on_changed,
	};

	static int	 loaded;
	struct spent	*s;

	if (!loaded) {
		loaded = 1;
		lifted_load();
		if ((ev_room = evtimer_new(base, on_room, NULL)) == NULL ||
		    (ev_lift_retry = evtimer_new(base, on_lift_retry,
		    NULL)) == NULL ||
		    (ev_heard_save = evtimer_new(base, on_heard_save,
		    NULL)) == NULL)
			fatal("evtimer_new");
	} else {
		/* a reload: a limit raised may grant what its old one held */
		TAILQ_FOREACH(s, &spents, entry)
			s->until = 0;
	}
	redis_link_configure(base, c, &hooks);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Events already delivered, known to every node of a cluster
 * (redis_link.h): after a 2xx each event id is marked
 * ("mailhook:delivered:<endpoint key>:<event id>", kept for a week), and
 * before a POST the marked ones are left out, so an event queue replayed
 * on another node after a failover does not repeat them.  Without the
 * link events are sent as they are: delivery is at least once.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "log.h"
#include "mh_event.h"
#include "redis_link.h"
#include "events.h"

#define DELIVERED_KEY	REDIS_PREFIX "delivered:"
#define DELIVERED_TTL	"604800"	/* a week */
#define DELIVERED_MAX	1000		/* ids in one question */

static const char mark_all[] =
    "for i, k in ipairs(KEYS) do "
    "  redis.call('SET', k, '1', 'EX', ARGV[1]) "
    "end "
    "return #KEYS";

struct question {
	delivered_fn	 fn;
	void		*arg;
	size_t		 n;
};

/* argv with the keys of the records' ids from argv[first] on */
static char **
keys_of(const char *epkey, const json_t *records, size_t first, size_t *np)
{
	const json_t	*r;
	const char	*id;
	char		**argv;
	size_t		 i, n = json_array_size(records);

	if (n == 0 || n > DELIVERED_MAX)
		return (NULL);
	if ((argv = calloc(first + n + 1, sizeof(*argv))) == NULL)
		fatal("calloc");
	json_array_foreach(records, i, r) {
		id = json_string_value(json_object_get(r, "id"));
		if (asprintf(&argv[first + i], "%s%s:%s", DELIVERED_KEY, epkey,
		    id ? id : "-") == -1)
			fatal("asprintf");
	}
	*np = n;
	return (argv);
}

static void
keys_free(char **argv, size_t from, size_t to)
{
	size_t	 i;

	for (i = from; i < to; i++)
		free(argv[i]);
	free(argv);
}

static void
on_answer(const redisReply *r, void *arg)
{
	struct question	*q = arg;
	char		*seen = NULL;
	size_t		 i;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == q->n) {
		if ((seen = calloc(q->n, 1)) == NULL)
			fatal("calloc");
		for (i = 0; i < q->n; i++)
			seen[i] = r->element[i]->type != REDIS_REPLY_NIL;
	} else
		redis_fallback("delivered events");
	q->fn(q->arg, seen);
	free(seen);
	free(q);
}

int
delivered_check(const char *epkey, const json_t *records, delivered_fn fn,
    void *arg)
{
	struct question	*q;
	char		**argv;
	size_t		 n;
	int		 rc;

	if (redis_link_settling())
		return (1);
	if (!redis_link_up() ||
	    (argv = keys_of(epkey, records, 1, &n)) == NULL)
		return (-1);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("calloc");
	q->fn = fn;
	q->arg = arg;
	q->n = n;
	argv[0] = "MGET";
	rc = redis_command(on_answer, q, n + 1, (const char **)argv, NULL);
	keys_free(argv, 1, n + 1);
	if (rc == -1)
		free(q);
	return (rc);
}

static void
on_marked(const redisReply *r, void *arg)
{
	if (r == NULL)
		redis_fallback("delivered events");
}

void
delivered_mark(const char *epkey, const json_t *records)
{
	char	**argv, nkeys[16];
	size_t	 n;

	if (!redis_link_up() ||
	    (argv = keys_of(epkey, records, 3, &n)) == NULL)
		return;
	snprintf(nkeys, sizeof(nkeys), "%zu", n);
	argv[0] = "EVAL";
	argv[1] = (char *)mark_all;
	argv[2] = nkeys;
	argv[n + 3] = DELIVERED_TTL;
	redis_command(on_marked, NULL, n + 4, (const char **)argv, NULL);
	argv[n + 3] = NULL;
	keys_free(argv, 3, n + 3);
}

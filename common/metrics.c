/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Metrics (metrics.h): the families, one process's bounded table of
 * series (open addressing on the family and label values), its samples
 * as JSON, and the text exposition that webd serves.
 */
#include <sys/types.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>

#include "evbuf.h"
#include "metrics.h"
#include "sanitize.h"

enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct mfamily {
	const char	*name;
	enum mtype	 type;
	int		 nlabels;
	const char	*labels[2];
	const char	*help;
};

/* in the order of enum metric_id */
static const struct mfamily families[M_MAX] = {
	{ "mailhook_smtp_sessions", MT_COUNTER, 1, { "listener" },
	    "SMTP connections accepted, per listener (address:port)." },
	{ "mailhook_smtp_messages", MT_COUNTER, 2, { "listener", "result" },
	    "SMTP transactions ended after DATA/BDAT, per listener and "
	    "result (accepted, rejected, tempfailed)." },
	{ "mailhook_smtp_recipients", MT_COUNTER, 2, { "listener", "result" },
	    "RCPT commands answered, per listener and result (accepted, "
	    "rejected, tempfailed)." },
	{ "mailhook_inbound_messages", MT_COUNTER, 2, { "route", "result" },
	    "Inbound message POSTs to a route's URL, per route and result "
	    "(delivered, rejected, tempfailed, deferred, expired)." },
	{ "mailhook_webhook_requests", MT_COUNTER, 2, { "endpoint", "class" },
	    "HTTP POSTs made (messages, events, callbacks), per endpoint "
	    "(its URL without password or query values) and status class "
	    "(2xx, 3xx, 4xx, 5xx, error)." },
	{ "mailhook_webhook_duration_seconds", MT_HISTOGRAM, 1,
	    { "endpoint" },
	    "Time from the start of an HTTP POST to its answer, per "
	    "endpoint." },
	{ "mailhook_events", MT_COUNTER, 1, { "kind" },
	    "Events stored for the events endpoints, per kind." },
	{ "mailhook_deliveries", MT_COUNTER, 2, { "result", "domain" },
	    "Outbound delivery results per recipient, per result (sent, "
	    "deferred, bounced, expired, suppressed, error, removed) and "
	    "destination domain (the first 50 seen; later ones \"other\")." },
	{ "mailhook_queue_messages", MT_GAUGE, 1, { "queue" },
	    "Messages (inbound, outbound), events (events) or dead letters "
	    "(dead) waiting in a queue." },
	{ "mailhook_queue_oldest_seconds", MT_GAUGE, 1, { "queue" },
	    "Age of the oldest entry of a queue, 0 when it is empty." },
	{ "mailhook_process_up", MT_GAUGE, 1, { "process" },
	    "1 if the process answered this scrape in time, else 0." },
	{ "mailhook_events_queue_messages", MT_GAUGE, 1, { "endpoint" },
	    "Events waiting for one events endpoint (its URL without "
	    "password or query values)." },
	{ "mailhook_events_queue_oldest_seconds", MT_GAUGE, 1,
	    { "endpoint" },
	    "Age of the oldest event waiting for one events endpoint, 0 "
	    "when none waits." },
	{ "mailhook_events_dead", MT_COUNTER, 1, { "endpoint" },
	    "Events given up for one endpoint (lifetime over, or mhctl "
	    "hooks skip) and kept in the dead letters." },
	{ "mailhook_metrics_dropped", MT_GAUGE, 1, { "process" },
	    "Samples of a process left out of this scrape: all of them "
	    "would not fit in one message between processes (1 MB)." },
};

/* upper bounds of the histogram buckets, seconds (+Inf is the count) */
static const double buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
#define NBUCKETS	(sizeof(buckets) / sizeof(buckets[0]))

struct mseries {
	int		 used;
	enum metric_id	 fam;
	char		 l[2][METRICS_LABEL_MAX];
	double		 v;		/* counter, gauge; histogram: sum */
	uint64_t	 count;		/* histogram */
	uint64_t	 b[NBUCKETS];	/* histogram, not cumulative */
};

struct mtable {
	struct mseries	*s;
	size_t		 cap;		/* slots, a power of two */
	size_t		 max;		/* series at most (cap / 2) */
	size_t		 n;
	size_t		 per_fam[M_MAX];
};

static struct mtable	 own;

static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return ((h ^ 0xff) * 1099511628211ULL);
}

static int
table_init(struct mtable *t, size_t max)
{
	size_t	 cap = 16;

	while (cap < 2 * max)
		cap *= 2;
	memset(t, 0, sizeof(*t));
	if ((t->s = calloc(cap, sizeof(*t->s))) == NULL)
		return (-1);
	t->cap = cap;
	t->max = max;
	return (0);
}

/*
 * A label value as a series keeps it, clean.  One longer than a label
 * holds (a long URL) is cut and ends in '~' and 8 hex digits of a hash
 * of the whole value: two values alike in their first bytes stay two
 * series, not one label with two values.
 */
#define LABEL_HASH_LEN	9		/* "~" and 8 hex digits */

static void
label_set(char dst[METRICS_LABEL_MAX], const char *v)
{
	size_t	 n;

	if (v == NULL)
		v = "";
	/* a byte in is a byte out: what was not taken was cut */
	n = sanitize_text(dst, METRICS_LABEL_MAX, v, SIZE_MAX, SAN_LOG);
	if (v[n] == '\0')
		return;
	n = sanitize_text(dst, METRICS_LABEL_MAX - LABEL_HASH_LEN, v,
	    SIZE_MAX, SAN_LOG);
	snprintf(dst + n, METRICS_LABEL_MAX - n, "~%08x",
	    (unsigned int)(fnv(14695981039346656037ULL, v) & 0xffffffffU));
}

/* the series of (family, labels), made if new; NULL when memory is short */
static struct mseries *
table_get(struct mtable *t, enum metric_id fam, const char *l1,
    const char *l2)
{
	struct mseries	*s;
	char		 a[METRICS_LABEL_MAX], b[METRICS_LABEL_MAX];
	size_t		 i;

	if (t->s == NULL && table_init(t, METRICS_SERIES_MAX) == -1)
		return (NULL);
	label_set(a, l1);
	label_set(b, l2);
	if (families[fam].nlabels < 2)
		b[0] = '\0';
	for (;;) {
		i = fnv(fnv(14695981039346656037ULL ^ fam, a), b) &
		    (t->cap - 1);
		for (; t->s[i].used; i = (i + 1) & (t->cap - 1)) {
			s = &t->s[i];
			if (s->fam == fam && strcmp(s->l[0], a) == 0 &&
			    strcmp(s->l[1], b) == 0)
				return (s);
		}
		if (t->n < t->max && t->per_fam[fam] < METRICS_FAMILY_MAX)
			break;
		/* full: the labels become "other" (that series is made) */
		if (strcmp(a, "other") == 0 && (b[0] == '\0' ||
		    strcmp(b, "other") == 0)) {
			if (t->n >= t->cap - 1)
				return (NULL);
			break;
		}
		strlcpy(a, "other", sizeof(a));
		if (b[0] != '\0')
			strlcpy(b, "other", sizeof(b));
	}
	s = &t->s[i];
	s->used = 1;
	s->fam = fam;
	strlcpy(s->l[0], a, sizeof(s->l[0]));
	strlcpy(s->l[1], b, sizeof(s->l[1]));
	t->n++;
	t->per_fam[fam]++;
	return (s);
}

void
metrics_add(enum metric_id fam, const char *l1, const char *l2, double v)
{
	struct mseries	*s;

	if (fam < M_MAX && families[fam].type != MT_HISTOGRAM &&
	    (s = table_get(&own, fam, l1, l2)) != NULL)
		s->v += v;
}

void
metrics_inc(enum metric_id fam, const char *l1, const char *l2)
{
	metrics_add(fam, l1, l2, 1);
}

void
metrics_observe(enum metric_id fam, const char *l1, double v)
{
	struct mseries	*s;
	size_t		 i;

	if (fam >= M_MAX || families[fam].type != MT_HISTOGRAM ||
	    (s = table_get(&own, fam, l1, NULL)) == NULL)
		return;
	if (!isfinite(v) || v < 0)
		v = 0;
	s->v += v;
	s->count++;
	for (i = 0; i < NBUCKETS; i++)
		if (v <= buckets[i]) {
			s->b[i]++;
			break;
		}
}

const char *
metrics_domain(const char *domain)
{
	static char	 seen[METRICS_DOMAINS_MAX][METRICS_LABEL_MAX];
	static size_t	 nseen;
	size_t		 i;

	if (domain == NULL || domain[0] == '\0')
		return ("none");
	for (i = 0; i < nseen; i++)
		if (strcasecmp(seen[i], domain) == 0)
			return (seen[i]);
	if (nseen == METRICS_DOMAINS_MAX ||
	    strlen(domain) >= METRICS_LABEL_MAX)
		return ("other");
	sanitize_text(seen[nseen], sizeof(seen[nseen]), domain, SIZE_MAX,
	    SAN_LOG);
	return (seen[nseen++]);
}

static json_t *
series_labels(const struct mseries *s)
{
	json_t	*l = json_array();

	json_array_append_new(l, json_string(s->l[0]));
	if (families[s->fam].nlabels > 1)
		json_array_append_new(l, json_string(s->l[1]));
	return (l);
}

void
metrics_dump(json_t *samples)
{
	const struct mseries	*s;
	json_t			*v, *b;
	size_t			 i, k;

	for (i = 0; i < own.cap; i++) {
		s = &own.s[i];
		if (!s->used)
			continue;
		if (families[s->fam].type == MT_HISTOGRAM) {
			b = json_array();
			for (k = 0; k < NBUCKETS; k++)
				json_array_append_new(b,
				    json_integer((json_int_t)s->b[k]));
			v = json_pack("{s:o,s:f,s:I}", "b", b, "sum", s->v,
			    "count", (json_int_t)s->count);
		} else
			v = json_real(s->v);
		json_array_append_new(samples, json_pack("[s,o,o]",
		    families[s->fam].name, series_labels(s), v));
	}
}

void
metrics_sample(json_t *samples, enum metric_id fam, const char *l1,
    const char *l2, double v)
{
	json_t	*l = json_array();
	char	 lab[METRICS_LABEL_MAX];

	/* as the table's series are: a URL may be longer than a label */
	label_set(lab, l1);
	json_array_append_new(l, json_string(lab));
	if (families[fam].nlabels > 1) {
		label_set(lab, l2);
		json_array_append_new(l, json_string(lab));
	}
	json_array_append_new(samples, json_pack("[s,o,f]",
	    families[fam].name, l, v));
}

double
metrics_sample_value(const json_t *sample, enum metric_id fam)
{
	const char	*name = json_string_value(json_array_get(sample, 0));

	if (name == NULL || fam >= M_MAX || strcmp(name,
	    families[fam].name) != 0 ||
	    !json_is_number(json_array_get(sample, 2)))
		return (-1);
	return (json_number_value(json_array_get(sample, 2)));
}

void
metrics_queue(json_t *samples, const char *queue, size_t n, time_t oldest)
{
	time_t	 now = time(NULL);

	metrics_sample(samples, M_QUEUE_MESSAGES, queue, NULL, n);
	metrics_sample(samples, M_QUEUE_OLDEST, queue, NULL,
	    n > 0 && oldest < now ? now - oldest : 0);
}

/* --- rendering --- */

static int
family_of(const char *name)
{
	int	 i;

	for (i = 0; i < M_MAX; i++)
		if (strcmp(families[i].name, name) == 0)
			return (i);
	return (-1);
}

/* one sample into the merged table: 0, or -1 if malformed */
static int
render_merge(struct mtable *t, const json_t *sm)
{
	const json_t	*lab, *v, *b;
	const char	*l[2] = { NULL, NULL };
	struct mseries	*s;
	int		 fam, i;
	size_t		 k;

	if (!json_is_array(sm) || json_array_size(sm) != 3 ||
	    !json_is_string(json_array_get(sm, 0)) ||
	    (fam = family_of(json_string_value(json_array_get(sm, 0)))) ==
	    -1 || fam == M_PROCESS_UP)
		return (-1);
	lab = json_array_get(sm, 1);
	v = json_array_get(sm, 2);
	if (!json_is_array(lab) ||
	    json_array_size(lab) != (size_t)families[fam].nlabels)
		return (-1);
	for (i = 0; i < families[fam].nlabels; i++) {
		if (!json_is_string(json_array_get(lab, i)) ||
		    json_string_length(json_array_get(lab, i)) >=
		    METRICS_LABEL_MAX)
			return (-1);
		l[i] = json_string_value(json_array_get(lab, i));
	}
	if (families[fam].type != MT_HISTOGRAM) {
		if (!json_is_number(v) || (s = table_get(t, fam, l[0], l[1])) ==
		    NULL)
			return (-1);
		s->v += json_number_value(v);
		return (0);
	}
	b = json_object_get(v, "b");
	if (!json_is_array(b) || json_array_size(b) != NBUCKETS ||
	    !json_is_number(json_object_get(v, "sum")) ||
	    !json_is_integer(json_object_get(v, "count")) ||
	    (s = table_get(t, fam, l[0], NULL)) == NULL)
		return (-1);
	for (k = 0; k < NBUCKETS; k++) {
		if (!json_is_integer(json_array_get(b, k)))
			return (-1);
		s->b[k] += json_integer_value(json_array_get(b, k));
	}
	s->v += json_number_value(json_object_get(v, "sum"));
	s->count += json_integer_value(json_object_get(v, "count"));
	return (0);
}

int
metrics_check(const json_t *samples, char *err, size_t errlen)
{
	struct mtable	 t;
	const json_t	*sm;
	size_t		 i;
	int		 rc = 0;

	if (!json_is_array(samples)) {
		snprintf(err, errlen, "not an array");
		return (-1);
	}
	if (table_init(&t, json_array_size(samples) + 1) == -1) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	json_array_foreach(samples, i, sm)
		if (render_merge(&t, sm) == -1) {
			snprintf(err, errlen, "malformed sample %zu", i);
			rc = -1;
			break;
		}
	free(t.s);
	return (rc);
}

static void
put_num(struct evbuffer *out, double v)
{
	if (isfinite(v) && v == rint(v) && fabs(v) < 1e15)
		evbuffer_add_printf(out, "%.0f", v);
	else if (isfinite(v))
		evbuffer_add_printf(out, "%.17g", v);
	else
		evbuffer_add_printf(out, "%s", isnan(v) ? "NaN" : v > 0 ?
		    "+Inf" : "-Inf");
}

/* a label value, escaped as the exposition formats want */
static void
put_value(struct evbuffer *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*v == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*v == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, v, 1);
	}
}

/* name{labels[,le="X"]} value */
static void
put_line(struct evbuffer *out, const struct mseries *s, const char *suffix,
    const char *le, double v)
{
	const struct mfamily	*f = &families[s->fam];
	int			 i;

	evbuffer_add_printf(out, "%s%s{", f->name, suffix);
	for (i = 0; i < f->nlabels; i++) {
		evbuffer_add_printf(out, "%s%s=\"", i ? "," : "",
		    f->labels[i]);
		put_value(out, s->l[i]);
		evbuffer_add(out, "\"", 1);
	}
	if (le != NULL)
		evbuffer_add_printf(out, ",le=\"%s\"", le);
	evbuffer_add(out, "} ", 2);
	put_num(out, v);
	evbuffer_add(out, "\n", 1);
}

static void
put_series(struct evbuffer *out, const struct mseries *s)
{
	char		 le[32];
	uint64_t	 cum = 0;
	size_t		 k;

	switch (families[s->fam].type) {
	case MT_COUNTER:
		put_line(out, s, "_total", NULL, s->v);
		break;
	case MT_GAUGE:
		put_line(out, s, "", NULL, s->v);
		break;
	case MT_HISTOGRAM:
		for (k = 0; k < NBUCKETS; k++) {
			cum += s->b[k];
			snprintf(le, sizeof(le), "%g", buckets[k]);
			put_line(out, s, "_bucket", le, (double)cum);
		}
		put_line(out, s, "_bucket", "+Inf", (double)s->count);
		put_line(out, s, "_sum", NULL, s->v);
		put_line(out, s, "_count", NULL, (double)s->count);
		break;
	}
}

static int
series_cmp(const void *a, const void *b)
{
	const struct mseries	*x = *(struct mseries *const *)a;
	const struct mseries	*y = *(struct mseries *const *)b;
	int			 c;

	if ((c = strcmp(x->l[0], y->l[0])) != 0)
		return (c);
	return (strcmp(x->l[1], y->l[1]));
}

static void
put_family(struct evbuffer *out, const struct mtable *t, int fam,
    int openmetrics, struct mseries **sorted)
{
	const struct mfamily	*f = &families[fam];
	const char		*type[] = { "counter", "gauge", "histogram" };
	size_t			 i, n = 0;

	/* Prometheus 0.0.4 names a counter by its sample, _total included */
	evbuffer_add_printf(out, "# HELP %s%s %s\n# TYPE %s%s %s\n", f->name,
	    f->type == MT_COUNTER && !openmetrics ? "_total" : "", f->help,
	    f->name, f->type == MT_COUNTER && !openmetrics ? "_total" : "",
	    type[f->type]);
	for (i = 0; i < t->cap; i++)
		if (t->s[i].used && t->s[i].fam == (enum metric_id)fam)
			sorted[n++] = &t->s[i];
	qsort(sorted, n, sizeof(*sorted), series_cmp);
	for (i = 0; i < n; i++)
		put_series(out, sorted[i]);
}

char *
metrics_render(const json_t *procs, int openmetrics, size_t *lenp,
    char *err, size_t errlen)
{
	struct mtable	 t;
	struct mseries	*s, **sorted;
	struct evbuffer	*out;
	const char	*proc;
	const json_t	*samples, *sm;
	size_t		 i, total = 1;
	int		 fam;

	if (!json_is_object(procs)) {
		snprintf(err, errlen, "not an object");
		return (NULL);
	}
	json_object_foreach((json_t *)procs, proc, samples)
		total += 1 + json_array_size(samples);
	if (table_init(&t, total) == -1 ||
	    (sorted = calloc(t.cap, sizeof(*sorted))) == NULL) {
		free(t.s);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	json_object_foreach((json_t *)procs, proc, samples) {
		json_array_foreach(samples, i, sm)
			if (render_merge(&t, sm) == -1) {
				snprintf(err, errlen, "malformed sample %zu "
				    "of %s", i, proc);
				free(sorted);
				free(t.s);
				return (NULL);
			}
		if ((s = table_get(&t, M_PROCESS_UP, proc, NULL)) != NULL)
			s->v = json_is_array(samples) ? 1 : 0;
	}
	if ((out = evbuffer_new()) == NULL) {
		free(sorted);
		free(t.s);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	for (fam = 0; fam < M_MAX; fam++)
		put_family(out, &t, fam, openmetrics, sorted);
	if (openmetrics)
		evbuffer_add_printf(out, "# EOF\n");
	free(sorted);
	free(t.s);
	return (evbuf_finish(out, 0, lenp));
}

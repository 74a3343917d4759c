/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Metrics: every process counts what it does in its own bounded table
 * (metrics_inc, metrics_observe) and hands it over as JSON samples when
 * asked ("show metrics", IMSG_CTL_REQUEST); webd merges the processes'
 * samples and renders them as Prometheus text or OpenMetrics
 * (metrics_render).  The families are one table (metrics.c) shared by
 * the counting processes and the renderer, so a name cannot drift.
 *
 * A sample is the JSON array [family, [label values...], value], the
 * value a number or, for a histogram, {"b": [per bucket], "sum", "count"}.
 */
#ifndef MH_METRICS_H
#define MH_METRICS_H

#include <time.h>

#include <jansson.h>

enum metric_id {
	M_SMTP_SESSIONS,	/* counter {listener} */
	M_SMTP_MESSAGES,	/* counter {listener, result} */
	M_SMTP_RECIPIENTS,	/* counter {listener, result} */
	M_INBOUND_MESSAGES,	/* counter {route, result} */
	M_WEBHOOK_REQUESTS,	/* counter {endpoint, class} */
	M_WEBHOOK_DURATION,	/* histogram {endpoint} */
	M_EVENTS,		/* counter {kind} */
	M_DELIVERIES,		/* counter {result, domain} */
	M_QUEUE_MESSAGES,	/* gauge {queue} */
	M_QUEUE_OLDEST,		/* gauge {queue} */
	M_PROCESS_UP,		/* gauge {process} */
	M_EVENTS_QUEUE,		/* gauge {endpoint} */
	M_EVENTS_QUEUE_OLDEST,	/* gauge {endpoint} */
	M_EVENTS_DEAD,		/* counter {endpoint} */
	M_METRICS_DROPPED,	/* gauge {process} (the parent's) */
	M_MAX
};

/* bytes of a label value, NUL included */
#define METRICS_LABEL_MAX	128
#define METRICS_SERIES_MAX	1024	/* series of one process's table */
#define METRICS_FAMILY_MAX	256	/* series of one family; then "other" */
#define METRICS_DOMAINS_MAX	50	/* destination domains with a label */

/* count in this process's table: +1, +v, one observation (histograms) */
void	 metrics_inc(enum metric_id, const char *l1, const char *l2);
void	 metrics_add(enum metric_id, const char *l1, const char *l2, double);
void	 metrics_observe(enum metric_id, const char *l1, double);
/*
 * A destination domain as a label: the first METRICS_DOMAINS_MAX seen
 * keep their name for the life of the process, later ones are "other"
 * (a counter's series never moves, so none ever goes down).
 */
const char *metrics_domain(const char *);
/* every series of this process's table appended to a JSON array */
void	 metrics_dump(json_t *samples);
/* a gauge sample, made at the time of asking */
void	 metrics_sample(json_t *samples, enum metric_id, const char *l1,
	    const char *l2, double);
/* the value of a sample of family fam, -1 if it is not one */
double	 metrics_sample_value(const json_t *sample, enum metric_id fam);
/* a queue's two gauges: its size, and the age of its oldest (created) */
void	 metrics_queue(json_t *samples, const char *queue, size_t n,
	    time_t oldest);

/*
 * One process's samples (an array) checked as metrics_render takes them:
 * 0, or -1 with why in err.  The parent checks each process's before
 * they are rendered with the others'.
 */
int	 metrics_check(const json_t *samples, char *err, size_t errlen);

/*
 * Render the samples of every process ({"smtpd": [samples], ...}, as
 * webd gathers them; a process whose value is not an array did not
 * answer: mailhook_process_up 0) as text: Prometheus 0.0.4 or, with
 * openmetrics, OpenMetrics 1.0 (ending "# EOF").  The malloc'ed text,
 * or NULL if a sample is malformed (why in err).
 */
char	*metrics_render(const json_t *procs, int openmetrics, size_t *lenp,
	    char *err, size_t errlen);
/* the content type of each */
#define METRICS_CT_PROM		"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CT_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif /* MH_METRICS_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * relay_harness: relayd's outbound engine in-process, for the tests.
 *
 * usage: relay_harness -s spool [-p mxport] [-R resolver_port]
 *	[-V via-url] [-b bounce-domain [-K verp-key]] [-m retry_min]
 *	[-M retry_max]
 *	[-l lifetime] [-t timeout] [-n] [-P] [-H hostname] [-C cafile]
 *	[-D domain:rate:per:conns:tlsrequire:tlsverify] [-S domain:rate:per]
 *
 * Commands on stdin, one a line:
 *	submit FILE SENDER RCPT[,RCPT...]	prints "committed ID" after 250
 *	run SECS	until the queue is empty and idle, at most SECS
 *	until KINDS [N] SECS	until N (1) more events of each kind in the
 *			comma list KINDS (a|b: either) have come and no
 *			connection is open, at most SECS: an attempt over,
 *			however long a loaded machine makes it; prints
 *			"seen" or "timeout"
 *	wait SECS	run the loop SECS
 *	queue | show ID | stats | schedule ID|all | remove ID | pause | resume
 *	suppress add ADDR | suppress del ADDR | suppressions
 * -P: allow private-addresses.
 * Every event is printed as "event {json}".  A "-" SENDER is the null
 * sender.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "../../relayd/relay.h"
#include "dns.h"
#include "fileio.h"
#include "gsync.h"
#include "mhtest.h"

#include <event2/event.h>

static struct event_base	*base;
static struct event		*ev_check;
static int			 run_mode;	/* RUN_* */
static struct timeval		 run_end;
#define RUN_WAIT	0		/* until run_end */
#define RUN_IDLE	1		/* until the queue is empty and idle */
#define RUN_UNTIL	2		/* until the kinds came, and idle */
#define UNTIL_MAX	8
static char			*until_kind[UNTIL_MAX];	/* "a|b" */
static int			 until_left[UNTIL_MAX];	/* events to come */
static int			 until_n;

/* the event's kind is one of "a|b|..." */
static int
kind_in(const char *kind, const char *alts)
{
	size_t	len = strlen(kind);

	while (*alts != '\0') {
		if (strncmp(alts, kind, len) == 0 &&
		    (alts[len] == '|' || alts[len] == '\0'))
			return (1);
		alts += strcspn(alts, "|");
		alts += *alts == '|';
	}
	return (0);
}

/* every kind of an "until" has come as often as asked */
static int
until_done(void)
{
	int	i;

	for (i = 0; i < until_n; i++)
		if (until_left[i] > 0)
			return (0);
	return (1);
}

static void
print_event(const struct event_record *e)
{
	json_t	*o;
	char	*s;
	int	 i;

	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, "
	    "s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "id", e->id, "kind", event_kind_name(e->kind), "time", (json_int_t)e->time,
	    "queue_id", e->queue_id, "message_id", e->message_id,
	    "recipient", e->recipient, "sender", e->sender,
	    "stage", e->stage, "code", e->code, "extended", e->extended,
	    "description", e->description, "tags", e->tags,
	    "group", e->group, "transaction", e->transaction,
	    "subject", e->subject, "bounce_type", e->bounce_type,
	    "bounce_reason", e->bounce_reason);
	for (i = 0; i < until_n; i++)
		if (until_left[i] > 0 &&
		    kind_in(event_kind_name(e->kind), until_kind[i]))
			until_left[i]--;
	s = json_dumps(o, JSON_COMPACT);
	printf("event %s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void
check_cb(int fd, short ev, void *arg)
{
	struct timeval	 now;

	gettimeofday(&now, NULL);
	if (timercmp(&now, &run_end, >=) ||
	    (run_mode == RUN_IDLE && relay_queue_size() == 0 &&
	    !relay_busy()) ||
	    (run_mode == RUN_UNTIL && until_done() && !relay_busy()))
		event_base_loopbreak(base);
}

static int
run_for(double secs, int mode)
{
	struct timeval	 tv = { 0, 50000 }, d;

	gettimeofday(&run_end, NULL);
	d.tv_sec = (time_t)secs;
	d.tv_usec = (suseconds_t)((secs - (double)d.tv_sec) * 1e6);
	timeradd(&run_end, &d, &run_end);
	run_mode = mode;
	evtimer_add(ev_check, &tv);
	event_base_dispatch(base);
	return (relay_queue_size() == 0 && !relay_busy());
}

/* each alternative of "a|b" is an event kind */
static int
kinds_ok(const char *alts)
{
	char	 name[64];
	size_t	 len;

	do {
		len = strcspn(alts, "|");
		if (len == 0 || len >= sizeof(name))
			return (0);
		memcpy(name, alts, len);
		name[len] = '\0';
		if (event_kind_from_name(name) == -1)
			return (0);
		alts += len;
	} while (*alts++ == '|');
	return (1);
}

/* "until KINDS [N] SECS"; 0, or -1 for a kind unknown */
static int
run_until(char *kinds, int n, double secs)
{
	char	*k;

	until_n = 0;
	while ((k = strsep(&kinds, ",")) != NULL) {
		if (!kinds_ok(k) || until_n == UNTIL_MAX) {
			until_n = 0;
			return (-1);
		}
		until_left[until_n] = n;
		until_kind[until_n++] = k;
	}
	run_for(secs, RUN_UNTIL);
	printf("%s\n", until_done() && !relay_busy() ? "seen" : "timeout");
	until_n = 0;
	return (0);
}

static void
commit_done(const char *msgid, int code, const char *enh, const char *text,
    void *arg)
{
	if (code == 250)
		printf("committed %s\n", msgid);
	else
		printf("commit-failed %s %d %s %s\n", msgid, code, enh, text);
	fflush(stdout);
}

static void
submit(char *file, char *sender, char *rcpts)
{
	struct envelope	 env;
	char		 msgid[MH_MSGID_LEN], buf[65536], *r;
	ssize_t		 n;
	off_t		 total = 0;
	int		 in, out;

	if ((in = open(file, O_RDONLY)) == -1) {
		printf("error open %s\n", file);
		return;
	}
	if ((out = relay_spool_open(msgid)) == -1) {
		printf("error spool\n");
		close(in);
		return;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n)
			err(1, "write");
		total += n;
	}
	/* a pooled file may be longer (zeros): cut, as every writer does */
	if (file_cut(out, total) == -1)
		err(1, "file_cut");
	close(in);
	close(out);
	envelope_init(&env);
	strlcpy(env.sender, strcmp(sender, "-") == 0 ? "" : sender,
	    sizeof(env.sender));
	strlcpy(env.helo, "harness.test", sizeof(env.helo));
	strlcpy(env.remote_ip, "127.0.0.1", sizeof(env.remote_ip));
	while ((r = strsep(&rcpts, ",")) != NULL)
		if (*r != '\0' && envelope_add_rcpt(&env, r) != NULL)
			env.rcpts[env.nrcpt - 1].dest = DEST_RELAY;
	relay_spool_commit(msgid, &env, commit_done, NULL);
	envelope_clear(&env);
}

static void
print_json(json_t *o)
{
	char	*s;

	if (o == NULL) {
		printf("json null\n");
		return;
	}
	s = json_dumps(o, JSON_COMPACT);
	printf("json %s\n", s);
	free(s);
	json_decref(o);
}

static void
command(char *line)
{
	char	*argv[8], *p = line;
	int	 argc = 0;
	size_t	 unlisted;

	while (argc < 7 && (argv[argc] = strsep(&p, " \t")) != NULL)
		if (*argv[argc] != '\0')
			argc++;
	argv[argc] = NULL;
	if (argc == 0)
		return;
	if (strcmp(argv[0], "submit") == 0 && argc == 4)
		submit(argv[1], argv[2], argv[3]);
	else if (strcmp(argv[0], "run") == 0 && argc == 2)
		printf("%s\n", run_for(atof(argv[1]), RUN_IDLE) ? "idle" :
		    "timeout");
	else if (strcmp(argv[0], "wait") == 0 && argc == 2) {
		run_for(atof(argv[1]), RUN_WAIT);
		printf("waited\n");
	} else if (strcmp(argv[0], "until") == 0 && (argc == 3 || argc == 4)) {
		if (run_until(argv[1], argc == 4 ? atoi(argv[2]) : 1,
		    atof(argv[argc - 1])) == -1)
			printf("unknown command\n");
	} else if (strcmp(argv[0], "queue") == 0)
		print_json(relay_queue_list(&unlisted));
	else if (strcmp(argv[0], "show") == 0 && argc == 2)
		print_json(relay_message_show(argv[1]));
	else if (strcmp(argv[0], "stats") == 0)
		print_json(relay_stats());
	else if (strcmp(argv[0], "schedule") == 0 && argc == 2)
		printf("schedule %d\n", relay_schedule(argv[1]));
	else if (strcmp(argv[0], "remove") == 0 && argc == 2)
		printf("remove %d\n", relay_remove(argv[1]));
	else if (strcmp(argv[0], "pause") == 0)
		relay_pause(1);
	else if (strcmp(argv[0], "resume") == 0)
		relay_pause(0);
	else if (strcmp(argv[0], "suppress") == 0 && argc == 3 &&
	    strcmp(argv[1], "add") == 0)
		printf("suppress %d\n", relay_suppress_add(argv[2], NULL, "manual"));
	else if (strcmp(argv[0], "suppress") == 0 && argc == 3 &&
	    strcmp(argv[1], "del") == 0)
		printf("suppress %d\n", relay_suppress_del(argv[2], NULL));
	else if (strcmp(argv[0], "suppressions") == 0)
		print_json(relay_suppress_list(&unlisted));
	else
		printf("unknown command\n");
	fflush(stdout);
}

static enum rate_unit
unit(const char *s)
{
	if (strcmp(s, "second") == 0)
		return (RATE_SECOND);
	if (strcmp(s, "hour") == 0)
		return (RATE_HOUR);
	if (strcmp(s, "day") == 0)
		return (RATE_DAY);
	return (RATE_MINUTE);
}

static void
add_domain_limit(struct config *c, char *spec)
{
	struct domain_limit	*l;
	char			*f[6] = { 0 };
	int			 i;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		err(1, "calloc");
	for (i = 0; i < 6 && (f[i] = strsep(&spec, ":")) != NULL; i++)
		;
	strlcpy(l->domain, f[0], sizeof(l->domain));
	l->rate = f[1] ? atoi(f[1]) : 0;
	l->per = f[2] ? unit(f[2]) : RATE_MINUTE;
	l->connections = f[3] ? atoi(f[3]) : 0;
	l->tls_require = f[4] ? atoi(f[4]) : 0;
	l->tls_verify = f[5] ? atoi(f[5]) : 0;
	TAILQ_INSERT_TAIL(&c->domain_limits, l, entry);
}

static void
add_sender_limit(struct config *c, char *spec)
{
	struct sender_limit	*l;
	char			*d, *r, *p;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		err(1, "calloc");
	d = strsep(&spec, ":");
	r = strsep(&spec, ":");
	p = strsep(&spec, ":");
	strlcpy(l->domain, d, sizeof(l->domain));
	l->rate = r ? atoi(r) : 0;
	l->per = p ? unit(p) : RATE_MINUTE;
	TAILQ_INSERT_TAIL(&c->sender_limits, l, entry);
}

int
main(int argc, char *argv[])
{
	struct config	*c;
	char		*spool = NULL, line[4096];
	int		 ch, port = 25, rport = 0, tmo = 10;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procinit("relay_harness");
	if (getenv("MH_VERBOSE"))
		log_setverbose(2);
	/* the daemon's defaults, then the harness's own */
	if ((c = config_new()) == NULL)
		err(1, "config_new");
	strlcpy(c->hostname, "relay.harness.test", sizeof(c->hostname));
	c->retry_min = 1;
	c->retry_max = 4;
	while ((ch = getopt(argc, argv, "b:C:D:H:K:l:m:M:nPp:R:s:S:t:V:")) !=
	    -1) {
		switch (ch) {
		case 'b':
			strlcpy(c->bounce_domain, optarg, sizeof(c->bounce_domain));
			break;
		case 'K':
			strlcpy(c->verp_key, optarg, sizeof(c->verp_key));
			break;
		case 'C':
			if ((c->cabundle_data = mhtest_slurp(optarg,
			    &c->cabundle_len)) == NULL)
				err(1, "%s", optarg);
			break;
		case 'D':
			add_domain_limit(c, optarg);
			break;
		case 'H':
			strlcpy(c->hostname, optarg, sizeof(c->hostname));
			break;
		case 'l':
			c->queue_lifetime = atoi(optarg);
			break;
		case 'm':
			c->retry_min = atoi(optarg);
			break;
		case 'M':
			c->retry_max = atoi(optarg);
			break;
		case 'n':
			c->bounce_dsn = 0;
			break;
		case 'P':
			c->allow_private = 1;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'R':
			rport = atoi(optarg);
			break;
		case 's':
			spool = optarg;
			break;
		case 'S':
			add_sender_limit(c, optarg);
			break;
		case 't':
			tmo = atoi(optarg);
			break;
		case 'V':
			strlcpy(c->relay_via, optarg, sizeof(c->relay_via));
			break;
		default:
			errx(1, "bad usage");
		}
	}
	if (spool == NULL)
		errx(1, "-s spool required");
	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (rport && dns_init(base, "127.0.0.1", rport) == -1)
		errx(1, "dns_init");
	relay_set_port(port);
	/* the final dot's reply waits twice as long, as 600 s to 300 s */
	relay_set_timeouts(tmo, tmo, 2 * tmo);
	if (relay_init(base, c, spool, print_event) == -1)
		errx(1, "relay_init");
	if ((ev_check = event_new(base, -1, EV_PERSIST, check_cb, NULL)) == NULL)
		errx(1, "event_new");
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		command(line);
	}
	/* as relayd stops: removals waiting for a flush are not lost */
	gsync_stop();
	relay_shutdown();
	return (0);
}

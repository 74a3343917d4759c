/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * authdtest: run authd's decisions (route.c, spf.c, authorize.c,
 * credentials.c) against real peers and print the results as JSON.
 *
 * usage: authdtest [-E name] -f mailhook.conf [-R ip:port] [-v] command ...
 *
 *   rcpt [-i ip] [-h helo] [-s sender] [-z size] [-u auth_user] rcpt ...
 *	one RCPT decision per rcpt, all started at once; one JSON object a
 *	line in completion order: {"rcpt","ms","verdict","dest","route",
 *	"code","enhanced","text","spf_result","spf_domain"}
 *	-C ms: cancel the checks still running after ms, keep the loop
 *	running another second (no callback may come), then print
 *	{"cancelled":n}
 *   spf ip sender helo
 *	{"result","domain","ms"}
 *   auth [-n count] ip user pass
 *	count attempts in a row (default 1): {"result":"ok|fail|tempfail|
 *	throttled"} a line.  The credentials file named in the config is read.
 *   route rcpt
 *	{"route": id or null, "url", "tag", "relay": bool, "bounce": bool}
 *	(relay with -i ip and -u user)
 *
 * -R overrides the config's resolver.  -E name: the libspf2 DNS layer's
 * answer for name cannot be made (SPF_dns_rr_new_init fails, as when
 * memory runs out; the Makefile links authdtest with --wrap for it), and
 * libspf2 calls SPF_error (spf_dns.c).  Exit 0 when every call finished.
 */
#include <sys/types.h>
#include <sys/time.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mailhook.h"
#include "log.h"
#include "dns.h"
#include "http.h"
#include "seal.h"

#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "../../authd/authd.h"

struct job {
	char		 rcpt[MH_ADDR_MAX];
	struct timespec	 start;
	struct rcpt_check *rc;
	int		 done;
};

#define MAXJOBS	64
static struct job		*jobs[MAXJOBS];
static int			 njobs, ncancelled, late_callbacks;

static struct event_base	*base;
static int			 outstanding;
static const char		*fail_name;	/* -E */

SPF_dns_rr_t	*__real_SPF_dns_rr_new_init(SPF_dns_server_t *, const char *,
		    ns_type, int, SPF_dns_stat_t);
SPF_dns_rr_t	*__wrap_SPF_dns_rr_new_init(SPF_dns_server_t *, const char *,
		    ns_type, int, SPF_dns_stat_t);

SPF_dns_rr_t *
__wrap_SPF_dns_rr_new_init(SPF_dns_server_t *s, const char *domain,
    ns_type type, int ttl, SPF_dns_stat_t herrno)
{
	if (fail_name != NULL && domain != NULL &&
	    strcasecmp(domain, fail_name) == 0)
		return (NULL);
	return (__real_SPF_dns_rr_new_init(s, domain, type, ttl, herrno));
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: authdtest [-E name] -f conf [-R ip:port] "
	    "[-v] rcpt|spf|auth|route ...\n");
	exit(2);
}

static long
ms_since(const struct timespec *a)
{
	struct timespec	 b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((b.tv_sec - a->tv_sec) * 1000 +
	    (b.tv_nsec - a->tv_nsec) / 1000000);
}

static void
print_json(json_t *o)
{
	char	*s;

	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static const char *
verdict_name(int v)
{
	return (v == RCPT_ACCEPT ? "accept" : v == RCPT_REJECT ? "reject" :
	    v == RCPT_TEMPFAIL ? "tempfail" : "?");
}

static const char *
dest_name(int d)
{
	return (d == DEST_ROUTE ? "route" : d == DEST_RELAY ? "relay" :
	    d == DEST_BOUNCE ? "bounce" : "?");
}

static void
rcpt_done(const struct authd_rcpt_res *res, void *arg)
{
	struct job	*j = arg;
	json_t		*o;

	if (j->done) {
		late_callbacks++;
		return;
	}
	j->done = 1;
	o = json_pack("{s:s,s:I,s:s,s:s,s:I,s:i,s:s,s:s,s:s,s:s}",
	    "rcpt", j->rcpt, "ms", (json_int_t)ms_since(&j->start),
	    "verdict", verdict_name(res->verdict),
	    "dest", res->verdict == RCPT_ACCEPT ? dest_name(res->dest) : "",
	    "route", (json_int_t)res->route, "code", res->code,
	    "enhanced", res->enhanced, "text", res->text,
	    "spf_result", res->spf_result, "spf_domain", res->spf_domain);
	print_json(o);
	if (--outstanding == 0 && ncancelled == 0)
		event_base_loopexit(base, NULL);
}

static void
cancel_jobs(int fd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	int		 i;

	for (i = 0; i < njobs; i++)
		if (!jobs[i]->done) {
			rcpt_check_cancel(jobs[i]->rc);
			jobs[i]->done = 2;
			ncancelled++;
			outstanding--;
		}
	event_base_loopexit(base, &tv);
}

static void
spf_done(const char *result, const char *domain, void *arg)
{
	struct job	*j = arg;

	print_json(json_pack("{s:s,s:s,s:I}", "result", result,
	    "domain", domain, "ms", (json_int_t)ms_since(&j->start)));
	free(j);
	if (--outstanding == 0)
		event_base_loopexit(base, NULL);
}

static int
cmd_rcpt(struct config *conf, int argc, char *argv[])
{
	struct authd_rcpt_req	 req;
	struct job		*j;
	struct timeval		 tv;
	int			 ch, i, cancel_ms = -1;

	memset(&req, 0, sizeof(req));
	req.size = -1;
	strlcpy(req.remote_ip, "127.0.0.1", sizeof(req.remote_ip));
	strlcpy(req.helo, "localhost", sizeof(req.helo));
	optind = 1;
	while ((ch = getopt(argc, argv, "C:h:i:s:u:z:")) != -1) {
		switch (ch) {
		case 'C':
			cancel_ms = atoi(optarg);
			break;
		case 'h':
			strlcpy(req.helo, optarg, sizeof(req.helo));
			break;
		case 'i':
			strlcpy(req.remote_ip, optarg, sizeof(req.remote_ip));
			break;
		case 's':
			strlcpy(req.sender, optarg, sizeof(req.sender));
			break;
		case 'u':
			strlcpy(req.auth_user, optarg, sizeof(req.auth_user));
			break;
		case 'z':
			req.size = strtoll(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > MAXJOBS)
		usage();
	for (i = 0; i < argc; i++) {
		if ((j = calloc(1, sizeof(*j))) == NULL)
			err(1, NULL);
		strlcpy(j->rcpt, argv[i], sizeof(j->rcpt));
		clock_gettime(CLOCK_MONOTONIC, &j->start);
		req.reqid = i + 1;
		strlcpy(req.rcpt, argv[i], sizeof(req.rcpt));
		if ((j->rc = rcpt_check(conf, &req, rcpt_done, j)) == NULL)
			errx(1, "rcpt_check failed");
		jobs[njobs++] = j;
		outstanding++;
	}
	if (cancel_ms >= 0) {
		tv.tv_sec = cancel_ms / 1000;
		tv.tv_usec = (cancel_ms % 1000) * 1000;
		event_base_once(base, -1, EV_TIMEOUT, cancel_jobs, NULL, &tv);
	}
	return (0);
}

static int
cmd_spf(int argc, char *argv[])
{
	struct job	*j;

	if (argc != 4)
		usage();
	if ((j = calloc(1, sizeof(*j))) == NULL)
		err(1, NULL);
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	if (spf_check(argv[1], argv[2], argv[3], spf_done, j) == NULL)
		errx(1, "spf_check failed");
	outstanding++;
	return (0);
}

static int
cmd_auth(struct config *conf, int argc, char *argv[])
{
	static const char	*names[] = { "ok", "fail", "tempfail",
	    "throttled" };
	struct authd_auth_req	 req;
	struct authd_auth_res	 res;
	struct creds		*c = NULL;
	int			 ch, n = 1, i;

	optind = 1;
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n')
			usage();
		n = atoi(optarg);
	}
	argc -= optind;
	argv += optind;
	if (argc != 3)
		usage();
	if (conf->credentials_data != NULL)
		c = creds_load(conf->credentials_data, conf->credentials_len);
	memset(&req, 0, sizeof(req));
	strlcpy(req.remote_ip, argv[0], sizeof(req.remote_ip));
	strlcpy(req.user, argv[1], sizeof(req.user));
	strlcpy(req.pass, argv[2], sizeof(req.pass));
	for (i = 0; i < n; i++) {
		req.reqid = i;
		auth_check(c, &req, &res);
		print_json(json_pack("{s:s}", "result",
		    res.result >= 0 && res.result <= AUTH_THROTTLED ?
		    names[res.result] : "?"));
	}
	creds_free(c);
	return (0);
}

static int
cmd_route(struct config *conf, int argc, char *argv[], const char *ip,
    const char *user)
{
	const struct route	*r;
	char			 tag[MH_ADDR_MAX];

	if (argc != 2)
		usage();
	r = route_lookup(conf, argv[1], tag, sizeof(tag));
	print_json(json_pack("{s:o,s:s,s:s,s:b,s:b}",
	    "route", r ? json_integer(r->id) : json_null(),
	    "url", r ? r->url : "", "tag", tag,
	    "relay", relay_allowed(conf, ip, user),
	    "bounce", rcpt_is_bounce(conf, argv[1])));
	return (0);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	const char	*file = NULL, *resolver = NULL;
	char		*p, res[64], key[SEAL_KEY_HEX + 1];
	int		 ch, port, verbose = 0;

	while ((ch = getopt(argc, argv, "+E:f:R:v")) != -1) {
		switch (ch) {
		case 'E':
			fail_name = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'R':
			resolver = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (file == NULL || argc < 1)
		usage();
	log_init(1, LOG_MAIL);
	log_setverbose(verbose);
	if ((conf = config_parse(file)) == NULL)
		errx(1, "%s: bad configuration", file);
	if (conf->credentials[0] != '\0' && config_load_files(conf) == -1)
		errx(1, "cannot load the configuration's files");
	strlcpy(res, conf->resolver[0] ? conf->resolver : "127.0.0.1",
	    sizeof(res));
	port = conf->resolver_port ? conf->resolver_port : 53;
	if (resolver != NULL) {
		strlcpy(res, resolver, sizeof(res));
		if ((p = strrchr(res, ':')) != NULL && strchr(res, ':') == p) {
			*p++ = '\0';
			port = atoi(p);
		}
	}
	if ((base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	if (dns_init(base, res, port) == -1)
		errx(1, "dns_init");
	if (http_init(base, conf->cabundle_data, conf->cabundle_len) == -1)
		errx(1, "http_init");
	if (authd_modules_init(base) == -1)
		errx(1, "authd_modules_init");
	/* authd seals what it accepts (seal.h): a key of its own here */
	seal_new_key(key);
	if (seal_set_key(key) == -1)
		errx(1, "seal_set_key");

	if (strcmp(argv[0], "rcpt") == 0)
		cmd_rcpt(conf, argc, argv);
	else if (strcmp(argv[0], "spf") == 0)
		cmd_spf(argc, argv);
	else if (strcmp(argv[0], "auth") == 0)
		cmd_auth(conf, argc, argv);
	else if (strcmp(argv[0], "route") == 0)
		cmd_route(conf, argc, argv, "127.0.0.1", "");
	else
		usage();
	if (outstanding > 0)
		event_base_dispatch(base);
	if (ncancelled > 0 || late_callbacks > 0)
		print_json(json_pack("{s:i,s:i}", "cancelled", ncancelled,
		    "late_callbacks", late_callbacks));
	for (ch = 0; ch < njobs; ch++)
		free(jobs[ch]);
	authd_modules_shutdown();
	http_shutdown();
	dns_shutdown();
	event_base_free(base);
	config_free(conf);
	return (outstanding == 0 ? 0 : 1);
}

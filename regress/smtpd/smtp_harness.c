/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * smtp_harness: the SMTP engine on real sockets, with an in-process
 * backend that answers every request asynchronously (from a zero-timeout
 * event) by simple deterministic rules.  For the regress/smtpd tests.
 *
 * usage: smtp_harness -d dir -p portfile [-c cert -k key] [-L flags]...
 *	[-H hostname] [-t idle] [-T session] [-g greet_ms] [-e errors]
 *	[-m maxsize] [-r maxrcpt] [-s sessions] [-i per-ip] [-j junk]
 *	[-b sndbuf]
 *
 * Each -L adds a listener on 127.0.0.1, an ephemeral port; flags is a
 * comma list of plain, starttls, tlsreq, smtps, auth, authreq, and v6
 * (the listener is on ::1 instead).  The ports are written, one per
 * line in -L order, to portfile (atomically).  -b sets the listeners'
 * SO_SNDBUF (the sessions inherit it), so that the kernel holds little
 * of the replies to a client that does not read.
 *
 * Rules (recipient domain): reject.test 550 5.7.1, tempfail.test 450
 * 4.7.1, relay.test relay, bounce.test bounce, route2.test route 2,
 * crlf.test a reject text with CR/LF in it, slow.test answers after
 * 300 ms, anything else route 1.  AUTH: good/secret ok, temp tempfail,
 * throttle throttled, else fail.  A file dir/FAIL_OPEN makes spool
 * opens fail.  Commit: the envelope goes to dir/ID.env (first lines
 * "owner hookd|relayd" and "commit-data SIZE CRC", the commit's count
 * of the bytes written and their CRC-32); a recipient fail550@... or fail451@... makes
 * the result 550 / 451, slowcommit@... makes it come after 2.5 s.  Abort renames dir/ID.msg to dir/ID.aborted.
 * SIGUSR1 writes smtp_stats() to dir/stats.json.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "smtp.h"
#include "smtp_backend.h"
#include "mhtest.h"

static struct event_base	*base;
static const char		*dir;

struct spoolent {
	struct spoolent	*next;
	char		 msgid[MH_MSGID_LEN];
	int		 owner;
	int		 fd;
};
static struct spoolent	*spools;

static const char *
owner_name(int owner)
{
	return (owner == PROC_RELAYD ? "relayd" : "hookd");
}

static void *
xmemdup(const void *p, size_t n)
{
	void	*q;

	if ((q = malloc(n)) == NULL)
		fatal("malloc");
	memcpy(q, p, n);
	return (q);
}

static void
later(void (*cb)(int, short, void *), void *arg, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (event_base_once(base, -1, EV_TIMEOUT, cb, arg, &tv) == -1)
		fatalx("event_base_once");
}

static void
rcpt_answer(int fd, short ev, void *arg)
{
	struct authd_rcpt_res	*res = arg;

	smtp_rcpt_verdict(res);
	free(res);
}

void
backend_rcpt_cancel(uint64_t reqid)
{
	char	 path[1024];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/rcpt.log", dir);
	if ((f = fopen(path, "a")) != NULL) {
		fprintf(f, "cancel reqid=%llu\n", (unsigned long long)reqid);
		fclose(f);
	}
}

void
backend_rcpt(const struct authd_rcpt_req *req)
{
	struct authd_rcpt_res	 res;
	const char		*dom, *sdom;
	char			 path[1024];
	FILE			*f;
	int			 delay = 0;

	snprintf(path, sizeof(path), "%s/rcpt.log", dir);
	if ((f = fopen(path, "a")) != NULL) {
		fprintf(f, "rcpt=%s sender=%s helo=%s ip=%s size=%lld "
		    "auth=%s tls=%d listener=%u\n", req->rcpt, req->sender,
		    req->helo, req->remote_ip, (long long)req->size,
		    req->auth_user, req->tls, req->listener);
		fclose(f);
	}
	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	dom = strrchr(req->rcpt, '@');
	dom = dom ? dom + 1 : "";
	sdom = strrchr(req->sender, '@');
	strlcpy(res.spf_result, "pass", sizeof(res.spf_result));
	strlcpy(res.spf_domain, sdom ? sdom + 1 : req->helo,
	    sizeof(res.spf_domain));
	res.verdict = RCPT_ACCEPT;
	res.dest = DEST_ROUTE;
	res.route = 1;
	if (strcasecmp(dom, "reject.test") == 0) {
		res.verdict = RCPT_REJECT;
		res.code = 550;
		strlcpy(res.enhanced, "5.7.1", sizeof(res.enhanced));
		strlcpy(res.text, "Relaying denied (test)", sizeof(res.text));
	} else if (strcasecmp(dom, "tempfail.test") == 0) {
		res.verdict = RCPT_TEMPFAIL;
		res.code = 450;
		strlcpy(res.enhanced, "4.7.1", sizeof(res.enhanced));
		strlcpy(res.text, "Try again later (test)", sizeof(res.text));
	} else if (strcasecmp(dom, "crlf.test") == 0) {
		res.verdict = RCPT_REJECT;
		res.code = 550;
		strlcpy(res.enhanced, "5.7.1", sizeof(res.enhanced));
		strlcpy(res.text, "bad\r\n250 2.0.0 INJECTED", sizeof(res.text));
	} else if (strcasecmp(dom, "relay.test") == 0)
		res.dest = DEST_RELAY;
	else if (strcasecmp(dom, "bounce.test") == 0)
		res.dest = DEST_BOUNCE;
	else if (strcasecmp(dom, "route2.test") == 0)
		res.route = 2;
	else if (strcasecmp(dom, "slow.test") == 0)
		delay = 300;
	later(rcpt_answer, xmemdup(&res, sizeof(res)), delay);
}

static void
auth_answer(int fd, short ev, void *arg)
{
	struct authd_auth_res	*res = arg;

	smtp_auth_verdict(res);
	free(res);
}

void
backend_auth(const struct authd_auth_req *req)
{
	struct authd_auth_res	 res;

	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	if (strcmp(req->user, "good") == 0 && strcmp(req->pass, "secret") == 0)
		res.result = AUTH_OK;
	else if (strcmp(req->user, "temp") == 0)
		res.result = AUTH_TEMPFAIL;
	else if (strcmp(req->user, "throttle") == 0)
		res.result = AUTH_THROTTLED;
	else
		res.result = AUTH_FAIL;
	later(auth_answer, xmemdup(&res, sizeof(res)), 0);
}

struct fd_answer {
	int		 owner;
	int		 fd;
	struct spool_fd	 sf;
};

static void
fd_answer(int fd, short ev, void *arg)
{
	struct fd_answer	*a = arg;

	smtp_spool_fd(a->owner, &a->sf, a->fd);
	free(a);
}

void
backend_spool_open(int owner, const struct spool_open *so)
{
	struct fd_answer	 a;
	struct spoolent		*e;
	struct stat		 st;
	char			 path[1024];
	int			 fd;

	memset(&a, 0, sizeof(a));
	a.owner = owner;
	a.fd = -1;
	a.sf.reqid = so->reqid;
	snprintf(path, sizeof(path), "%s/FAIL_OPEN", dir);
	if (stat(path, &st) == 0) {
		later(fd_answer, xmemdup(&a, sizeof(a)), 0);
		return;
	}
	envelope_new_id(a.sf.msgid);
	snprintf(path, sizeof(path), "%s/%s.msg", dir, a.sf.msgid);
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600))
	    == -1)
		fatal("open %s", path);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("calloc");
	strlcpy(e->msgid, a.sf.msgid, sizeof(e->msgid));
	e->owner = owner;
	e->fd = fd;
	e->next = spools;
	spools = e;
	a.sf.ok = 1;
	if ((a.fd = dup(fd)) == -1)
		fatal("dup");
	later(fd_answer, xmemdup(&a, sizeof(a)), 0);
}

static struct spoolent *
spool_take(const char *msgid, int owner)
{
	struct spoolent	*e, **pp;

	for (pp = &spools; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->msgid, msgid) == 0 && e->owner == owner) {
			*pp = e->next;
			return (e);
		}
	return (NULL);
}

struct res_answer {
	int			 owner;
	struct spool_result	 sr;
};

static void
res_answer(int fd, short ev, void *arg)
{
	struct res_answer	*a = arg;

	smtp_spool_result(a->owner, &a->sr);
	free(a);
}

void
backend_spool_commit(int owner, const struct spool_commit *sc,
    const char *text, size_t len)
{
	struct res_answer	 a;
	struct spoolent		*e;
	struct envelope		 env;
	char			 path[1024];
	FILE			*f;

	memset(&a, 0, sizeof(a));
	a.owner = owner;
	a.sr.reqid = sc->reqid;
	strlcpy(a.sr.msgid, sc->msgid, sizeof(a.sr.msgid));
	if ((e = spool_take(sc->msgid, owner)) == NULL)
		fatalx("commit of unknown message %s", sc->msgid);
	if (fsync(e->fd) == -1)
		fatal("fsync");
	close(e->fd);
	free(e);
	snprintf(path, sizeof(path), "%s/%s.env", dir, sc->msgid);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fprintf(f, "owner %s\ncommit-data %lld %u\n", owner_name(owner),
	    (long long)sc->data_size, (unsigned)sc->data_crc);
	fwrite(text, 1, len, f);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	envelope_init(&env);
	if (envelope_decode(&env, text, len) == -1) {
		a.sr.code = 451;
		strlcpy(a.sr.enhanced, "4.3.0", sizeof(a.sr.enhanced));
		strlcpy(a.sr.text, "Envelope did not decode (test)",
		    sizeof(a.sr.text));
	} else if (memmem(text, len, "rcpt fail550@", 13) != NULL) {
		a.sr.code = 550;
		strlcpy(a.sr.enhanced, "5.7.1", sizeof(a.sr.enhanced));
		strlcpy(a.sr.text, "Hook refused the message (test)",
		    sizeof(a.sr.text));
	} else if (memmem(text, len, "rcpt fail451@", 13) != NULL) {
		a.sr.code = 451;
		strlcpy(a.sr.enhanced, "4.3.0", sizeof(a.sr.enhanced));
		strlcpy(a.sr.text, "Hook unavailable (test)",
		    sizeof(a.sr.text));
	} else {
		a.sr.code = 250;
		strlcpy(a.sr.enhanced, "2.0.0", sizeof(a.sr.enhanced));
		snprintf(a.sr.text, sizeof(a.sr.text), "Ok: queued as %s",
		    sc->msgid);
	}
	envelope_clear(&env);
	later(res_answer, xmemdup(&a, sizeof(a)),
	    memmem(text, len, "rcpt slowcommit@", 16) != NULL ? 2500 : 0);
}

void
backend_spool_abort(int owner, const struct spool_abort *sa)
{
	struct spoolent	*e;
	char		 from[1024], to[1024];

	if ((e = spool_take(sa->msgid, owner)) == NULL)
		fatalx("abort of unknown message %s", sa->msgid);
	close(e->fd);
	free(e);
	snprintf(from, sizeof(from), "%s/%s.msg", dir, sa->msgid);
	snprintf(to, sizeof(to), "%s/%s.aborted", dir, sa->msgid);
	if (rename(from, to) == -1)
		fatal("rename %s", from);
}

#define HARNESS_V6	0x40000000	/* not an LF_ flag: listen on ::1 */

/* mhtest_listen() on ::1 */
static int
listen_v6(int *port)
{
	struct sockaddr_in6	 sin6;
	socklen_t		 len = sizeof(sin6);
	int			 fd, one = 1;

	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1 ||
	    listen(fd, 4096) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin6, &len) == -1) {
		close(fd);
		return (-1);
	}
	*port = ntohs(sin6.sin6_port);
	return (fd);
}

static int
parse_flags(const char *s)
{
	char	*copy, *w, *p;
	int	 fl = 0;

	if ((copy = strdup(s)) == NULL)
		fatal("strdup");
	p = copy;
	while ((w = strsep(&p, ",")) != NULL) {
		if (strcmp(w, "plain") == 0)
			;
		else if (strcmp(w, "starttls") == 0)
			fl |= LF_STARTTLS;
		else if (strcmp(w, "tlsreq") == 0)
			fl |= LF_TLS_REQUIRE;
		else if (strcmp(w, "smtps") == 0)
			fl |= LF_SMTPS;
		else if (strcmp(w, "auth") == 0)
			fl |= LF_AUTH;
		else if (strcmp(w, "authreq") == 0)
			fl |= LF_AUTH_REQUIRE;
		else if (strcmp(w, "v6") == 0)
			fl |= HARNESS_V6;
		else
			fatalx("unknown listener flag %s", w);
	}
	free(copy);
	return (fl);
}

static void
on_usr1(int sig, short ev, void *arg)
{
	char	 path[1024];
	json_t	*j = smtp_stats();

	snprintf(path, sizeof(path), "%s/stats.json", dir);
	json_dump_file(j, path, JSON_COMPACT);
	json_decref(j);
}

static void
on_term(int sig, short ev, void *arg)
{
	smtp_shutdown();
	event_base_loopexit(base, NULL);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	struct listener	*l;
	struct pki	*pki = NULL;
	struct rlimit	 rl;
	struct event	*sev[3];
	const char	*portfile = NULL, *cert = NULL, *key = NULL;
	const char	*errstr;
	char		 tmp[1024];
	FILE		*pf;
	int		 ch, fds[16], nl = 0, i, port;
	int		 greet = 0, stime = 3600, errs = 10, sndbuf = 0;

	log_init(1, LOG_MAIL);
	signal(SIGPIPE, SIG_IGN);
	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("calloc");
	strlcpy(conf->tls_ciphers, MH_TLS_CIPHERS, sizeof(conf->tls_ciphers));
	TAILQ_INIT(&conf->listeners);
	TAILQ_INIT(&conf->pkis);
	TAILQ_INIT(&conf->routes);
	TAILQ_INIT(&conf->relay_from);
	TAILQ_INIT(&conf->domain_limits);
	TAILQ_INIT(&conf->sender_limits);
	TAILQ_INIT(&conf->events);
	strlcpy(conf->hostname, "mx.harness.test", sizeof(conf->hostname));
	conf->max_message_size = 1024 * 1024;
	conf->max_recipients = 100;
	conf->max_sessions = 2048;
	conf->max_sessions_per_ip = 2048;
	conf->smtp_timeout = 30;

	while ((ch = getopt(argc, argv,
	    "b:c:d:e:g:H:i:j:k:L:m:p:r:s:t:T:")) != -1) {
		errstr = NULL;
		switch (ch) {
		case 'b':
			sndbuf = strtonum(optarg, 1, 1 << 24, &errstr);
			break;
		case 'c':
			cert = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'e':
			errs = strtonum(optarg, 0, 1000, &errstr);
			break;
		case 'g':
			greet = strtonum(optarg, 0, 60000, &errstr);
			break;
		case 'H':
			strlcpy(conf->hostname, optarg, sizeof(conf->hostname));
			break;
		case 'i':
			conf->max_sessions_per_ip = strtonum(optarg, 0, 100000,
			    &errstr);
			break;
		case 'j':
			conf->max_junk = strtonum(optarg, 0, 100000, &errstr);
			break;
		case 'k':
			key = optarg;
			break;
		case 'L':
			if (nl == 16)
				fatalx("too many listeners");
			if ((l = calloc(1, sizeof(*l))) == NULL)
				fatal("calloc");
			l->id = nl;
			l->flags = parse_flags(optarg);
			l->fd = -1;
			TAILQ_INSERT_TAIL(&conf->listeners, l, entry);
			nl++;
			break;
		case 'm':
			conf->max_message_size = strtonum(optarg, 0,
			    1LL << 40, &errstr);
			break;
		case 'p':
			portfile = optarg;
			break;
		case 'r':
			conf->max_recipients = strtonum(optarg, 1, 100000,
			    &errstr);
			break;
		case 's':
			conf->max_sessions = strtonum(optarg, 0, 100000,
			    &errstr);
			break;
		case 't':
			conf->smtp_timeout = strtonum(optarg, 1, 100000,
			    &errstr);
			break;
		case 'T':
			stime = strtonum(optarg, 1, 100000, &errstr);
			break;
		default:
			fatalx("bad usage");
		}
		if (errstr != NULL)
			fatalx("-%c: %s", ch, errstr);
	}
	if (dir == NULL || portfile == NULL)
		fatalx("usage: smtp_harness -d dir -p portfile [-L flags]...");
	if (nl == 0) {
		if ((l = calloc(1, sizeof(*l))) == NULL)
			fatal("calloc");
		l->fd = -1;
		TAILQ_INSERT_TAIL(&conf->listeners, l, entry);
		nl = 1;
	}
	if (cert != NULL && key != NULL) {
		if ((pki = calloc(1, sizeof(*pki))) == NULL)
			fatal("calloc");
		strlcpy(pki->name, "test", sizeof(pki->name));
		if ((pki->cert = mhtest_slurp(cert, &pki->certlen)) == NULL ||
		    (pki->key = mhtest_slurp(key, &pki->keylen)) == NULL)
			fatal("%s or %s", cert, key);
		TAILQ_INSERT_TAIL(&conf->pkis, pki, entry);
		TAILQ_FOREACH(l, &conf->listeners, entry) {
			strlcpy(l->pkis[0], "test", sizeof(l->pkis[0]));
			l->npkis = 1;
		}
	}

	/* 1,000 idle sessions need their descriptors */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (smtp_init(base, conf) == -1)
		fatalx("smtp_init failed");
	smtp_tune(greet, stime, errs);
	i = 0;
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if (l->flags & HARNESS_V6)
			fds[i] = listen_v6(&port);
		else
			fds[i] = mhtest_listen(&port, SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 4096);
		if (fds[i] == -1)
			fatal("bind");
		if (sndbuf > 0 && setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF,
		    &sndbuf, sizeof(sndbuf)) == -1)
			fatal("SO_SNDBUF");
		if (smtp_listen(fds[i], l->id) == -1)
			fatalx("smtp_listen");
		l->port = port;
		i++;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if ((pf = fopen(tmp, "w")) == NULL)
		fatal("%s", tmp);
	TAILQ_FOREACH(l, &conf->listeners, entry)
		fprintf(pf, "%u\n", (unsigned)l->port);
	fclose(pf);
	if (rename(tmp, portfile) == -1)
		fatal("rename");

	sev[0] = evsignal_new(base, SIGUSR1, on_usr1, NULL);
	sev[1] = evsignal_new(base, SIGTERM, on_term, NULL);
	sev[2] = evsignal_new(base, SIGINT, on_term, NULL);
	for (i = 0; i < 3; i++)
		evsignal_add(sev[i], NULL);
	log_info("smtp_harness ready");
	event_base_dispatch(base);
	return (0);
}

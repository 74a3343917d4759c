/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * hostile_smtpd: a compromised smtpd, for the tests of sealed verdicts.
 * It runs one real spool owner ("mailhookd -P relayd" or "-P hookd") as
 * its parent would (config over imsg, with a verdict key it made), hands
 * it a channel that claims to be smtpd's, and on that channel submits
 * one message with an envelope it made up.
 *
 * usage: hostile_smtpd -x mailhookd -f conf -P relayd|hookd -r rcpt
 *	    [-m none|forged|valid|spf|nospf|auth] [-R route]
 *	none	the recipient without a seal
 *	forged	a seal of the right shape that authd did not make
 *	valid	sealed with the key, as authd would (the control case; a
 *		routed recipient with authd's SPF result, "none", sealed)
 *	spf	valid recipient seal, an SPF "pass" nobody sealed
 *	nospf	valid recipient seal, authd's SPF result taken away
 *	auth	valid seals for no AUTH, the envelope claims a user
 *	size	valid seals, but a byte count one more than it wrote
 * Prints "result CODE ENHANCED TEXT" for the SPOOL_RESULT, then keeps
 * the owner running until its standard input ends; exit 0 when a result
 * came.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <zlib.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "mailhook.h"
#include "../../mailhookd/mailhookd.h"
#include "mh_imsg.h"
#include "proc.h"
#include "seal.h"

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: hostile_smtpd -x mailhookd -f conf "
	    "-P relayd|hookd -r rcpt [-m mode] [-R route]\n");
	exit(2);
}

static void
flush(struct mh_imsgbuf *ib)
{
	if (mh_imsg_flush(ib) == -1)
		err(1, "mh_imsg_flush");
}

/* the next message of type want (others are skipped); fd kept */
static void
wait_for(struct mh_imsgbuf *ib, uint32_t want, struct mh_imsg *imsg)
{
	ssize_t	 n;

	for (;;) {
		if ((n = mh_imsg_get(ib, imsg)) == -1)
			err(1, "mh_imsg_get");
		if (n > 0) {
			if (imsg->hdr.type == want)
				return;
			mh_imsg_free(imsg);
			continue;
		}
		if ((n = mh_imsg_read(ib)) == -1 && errno != EAGAIN)
			err(1, "mh_imsg_read");
		if (n == 0)
			errx(1, "the spool owner went away");
	}
}

/*
 * The parent's end of the child's channel, and the config sent the
 * parent's way (parent_send_config); the socket stays blocking, as the
 * rest of this program reads and writes it directly.
 */
static struct mproc *
parent_channel(int fd, const char *proc, const struct config *conf)
{
	struct mproc	*p;
	int		 fl;

	if ((proc_base = event_base_new()) == NULL)
		errx(1, "event_base_new");
	p = mproc_new(fd, proc_byname(proc), NULL);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		err(1, "fcntl");
	parent_send_config(p, conf, CONF_SECRETS | CONF_VERDICT_KEY);
	flush(&p->ibuf);
	return (p);
}

static pid_t
spawn(const char *self, const char *proc, int fd)
{
	pid_t	 pid;

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if (dup2(fd, PROC_PARENT_FD) == -1)
			err(1, "dup2");
		execl(self, "mailhookd", "-P", proc, "-d", "-v", (char *)NULL);
		err(1, "exec %s", self);
	}
	close(fd);
	return (pid);
}

/* the envelope a compromised smtpd would like to get accepted */
static char *
hostile_envelope(const char *msgid, const char *rcpt, int dest,
    uint32_t route, const char *mode, size_t *len)
{
	struct envelope		 env;
	struct envelope_rcpt	*r;
	struct authd_rcpt_req	 req;
	struct authd_rcpt_res	 res;
	char			*text;

	envelope_init(&env);
	strlcpy(env.id, msgid, sizeof(env.id));
	env.created = time(NULL);
	strlcpy(env.sender, "spammer@outside.test", sizeof(env.sender));
	strlcpy(env.helo, "outside.test", sizeof(env.helo));
	strlcpy(env.remote_ip, "192.0.2.66", sizeof(env.remote_ip));
	strlcpy(env.session, "00000000000000ab", sizeof(env.session));
	if ((r = envelope_add_rcpt(&env, rcpt)) == NULL)
		errx(1, "envelope_add_rcpt");
	r->dest = dest;
	r->route = route;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	req.sessid = 0xab;
	strlcpy(req.sender, env.sender, sizeof(req.sender));
	strlcpy(req.rcpt, rcpt, sizeof(req.rcpt));
	strlcpy(req.remote_ip, env.remote_ip, sizeof(req.remote_ip));
	strlcpy(req.helo, env.helo, sizeof(req.helo));
	res.dest = dest;
	res.route = route;
	if (strcmp(mode, "forged") == 0)
		snprintf(r->seal, sizeof(r->seal), "%lld.%064d",
		    (long long)time(NULL), 0);
	else if (strcmp(mode, "none") != 0) {
		/* authd checks SPF for every routed recipient */
		if (dest == DEST_ROUTE) {
			strlcpy(res.spf_result, "none",
			    sizeof(res.spf_result));
			strlcpy(res.spf_domain, "outside.test",
			    sizeof(res.spf_domain));
		}
		if (seal_rcpt_verdict(&req, &res, time(NULL)) == -1)
			errx(1, "seal_rcpt_verdict");
		strlcpy(r->seal, res.seal, sizeof(r->seal));
		if (dest == DEST_ROUTE && strcmp(mode, "nospf") != 0) {
			strlcpy(env.spf_result, res.spf_result,
			    sizeof(env.spf_result));
			strlcpy(env.spf_domain, res.spf_domain,
			    sizeof(env.spf_domain));
			strlcpy(env.spf_seal, res.spf_seal,
			    sizeof(env.spf_seal));
		}
	}
	if (strcmp(mode, "spf") == 0) {
		strlcpy(env.spf_result, "pass", sizeof(env.spf_result));
		strlcpy(env.spf_domain, "outside.test", sizeof(env.spf_domain));
	}
	if (strcmp(mode, "auth") == 0)
		strlcpy(env.auth_user, "alice", sizeof(env.auth_user));
	if ((text = envelope_encode(&env, len)) == NULL)
		errx(1, "envelope_encode");
	envelope_clear(&env);
	return (text);
}

int
main(int argc, char *argv[])
{
	const char		*self = NULL, *file = NULL, *proc = NULL;
	const char		*rcpt = NULL, *mode = "none";
	const char		 msg[] = "From: spammer@outside.test\r\n"
	    "Subject: hostile\r\n\r\nbuy now\r\n";
	struct config		*conf;
	struct mh_imsgbuf	*pib, sib;
	struct mh_imsg		 imsg;
	struct spool_open	 so = { 1 };
	struct spool_fd		 sf;
	struct spool_commit	 sc;
	struct spool_result	 sr;
	char			 key[SEAL_KEY_HEX + 1], *text;
	int			 ch, sp[2], ch2[2], peer, dest, status;
	uint32_t		 route = 0;
	size_t			 len;
	pid_t			 pid;

	while ((ch = getopt(argc, argv, "f:m:P:r:R:x:")) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'm': mode = optarg; break;
		case 'P': proc = optarg; break;
		case 'r': rcpt = optarg; break;
		case 'R': route = strtoul(optarg, NULL, 10); break;
		case 'x': self = optarg; break;
		default: usage();
		}
	}
	if (self == NULL || file == NULL || proc == NULL || rcpt == NULL)
		usage();
	if (strcmp(proc, "relayd") == 0)
		dest = DEST_RELAY;
	else if (strcmp(proc, "hookd") == 0)
		dest = DEST_ROUTE;
	else
		usage();
	log_init(1, LOG_MAIL);
	signal(SIGPIPE, SIG_IGN);
	if ((conf = config_parse(file)) == NULL ||
	    config_load_files(conf) == -1)
		errx(1, "%s: bad configuration", file);
	seal_new_key(key);
	strlcpy(conf->verdict_key, key, sizeof(conf->verdict_key));
	if (seal_set_key(key) == -1)
		errx(1, "seal_set_key");

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, ch2) == -1)
		err(1, "socketpair");
	pid = spawn(self, proc, sp[1]);
	pib = &parent_channel(sp[0], proc, conf)->ibuf;
	mh_imsg_init(&sib, ch2[1]);
	peer = PROC_SMTPD;
	mh_imsg_compose(pib, IMSG_SETUP_PEER, 0, 0, ch2[0], &peer,
	    sizeof(peer));
	mh_imsg_compose(pib, IMSG_SETUP_START, 0, 0, -1, NULL, 0);
	flush(pib);
	wait_for(pib, IMSG_SETUP_READY, &imsg);
	mh_imsg_free(&imsg);

	mh_imsg_compose(&sib, IMSG_SPOOL_OPEN, 0, 0, -1, &so, sizeof(so));
	flush(&sib);
	wait_for(&sib, IMSG_SPOOL_FD, &imsg);
	if (MH_IMSG_DATA_SIZE(&imsg) != sizeof(sf))
		errx(1, "SPOOL_FD: bad size");
	memcpy(&sf, imsg.data, sizeof(sf));
	if (!sf.ok || imsg.fd == -1)
		errx(1, "the spool owner gave no message file");
	if (write(imsg.fd, msg, sizeof(msg) - 1) != sizeof(msg) - 1)
		err(1, "write");
	close(imsg.fd);
	mh_imsg_free(&imsg);

	text = hostile_envelope(sf.msgid, rcpt, dest, route, mode, &len);
	memset(&sc, 0, sizeof(sc));
	sc.reqid = 2;
	strlcpy(sc.msgid, sf.msgid, sizeof(sc.msgid));
	/* what smtpd wrote, as smtpd counts it (a lie in mode size) */
	sc.data_size = sizeof(msg) - 1 + (strcmp(mode, "size") == 0);
	sc.data_crc = crc32(crc32(0L, Z_NULL, 0), (const unsigned char *)msg,
	    sizeof(msg) - 1);
	mh_imsg_compose2(&sib, IMSG_SPOOL_COMMIT, 0, 0, -1, &sc, sizeof(sc),
	    text, len);
	flush(&sib);
	free(text);
	wait_for(&sib, IMSG_SPOOL_RESULT, &imsg);
	if (MH_IMSG_DATA_SIZE(&imsg) != sizeof(sr))
		errx(1, "SPOOL_RESULT: bad size");
	memcpy(&sr, imsg.data, sizeof(sr));
	sr.text[sizeof(sr.text) - 1] = sr.enhanced[sizeof(sr.enhanced) - 1] =
	    '\0';
	printf("result %d %s %s\n", sr.code, sr.enhanced, sr.text);
	fflush(stdout);
	mh_imsg_free(&imsg);
	/* the owner serves until the test closes our standard input */
	while (getchar() != EOF)
		;
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return (0);
}

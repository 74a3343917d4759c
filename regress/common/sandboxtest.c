/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * sandboxtest: run one process profile's real work under privdrop() and
 * sandbox_apply(), and check the confinement from outside.
 *
 * usage: sandboxtest [-D] profile check
 *   profile: smtpd | authd | relayd | hookd | signer
 *   check:   work       the profile's real work must succeed
 *            forbidden  sandbox_forbidden() must kill with SIGSYS
 *            socket     socket(AF_INET) must kill (smtpd, signer)
 *            open       open(2) of a path must kill (smtpd, authd, signer)
 *            fork       fork() must kill (every profile)
 *            unixsock   socket(AF_UNIX) must fail with EACCES, not kill
 *            rlimit     getrlimit() and sysconf() of its own limits work
 *            probe-CALL the system call CALL (made directly, with harmless
 *                       arguments) must kill with SIGSYS: execve, execveat,
 *                       fork, vfork, clone (without CLONE_THREAD), ptrace,
 *                       process_vm_readv, process_vm_writev, unshare, mount,
 *                       chroot, setresuid, prlimit_other (pid 1's
 *                       limits, read only), open, openat, socket, socket6,
 *                       connect, bind, accept, mprotect_exec (PROT_EXEC);
 *                       the calls the allowlists no longer have: sys-NAME
 *                       (any call by its name, -1 in every argument but
 *                       the second), prctl_name (PR_GET_NAME),
 *                       ioctl_fionbio, setsockopt_other (SO_KEEPALIVE,
 *                       smtpd's is TCP_NODELAY), statx_fd (AT_EMPTY_PATH),
 *                       socketpair (AF_UNIX), thread (pthread_create),
 *                       poll (no descriptor, no wait)
 *   -D: debug mode, the report on stderr must name the system call
 *
 * environment: SBX_ROOT (a directory with empty/ and spool/queue/ owned
 * by the user), SBX_USER (default _mailhook), SBX_DNS_PORT (unbound
 * serving host.sandbox.test A 192.0.2.7 and sandbox.test MX), SBX_HTTP_PORT
 * (an HTTP server answering POST with 200 "accepted"), SBX_HTTPS_PORT (the
 * same over TLS), SBX_CERT, SBX_KEY (PEM: smtpd's key pair, and the CA
 * bundle of the others).  The DNS server also has web.sandbox.test and
 * tls.sandbox.test A 127.0.0.1; the certificate is for tls.sandbox.test.
 *
 * The parent (root, unconfined) forks the child, reads /proc/PID/status
 * and /proc/PID/root once the child is confined, plays the peer (TCP,
 * TLS client, fd passing) and checks how the child ended.  Both print
 * "ok - ..." / "not ok - ..." lines.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <crypt.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* before libevent: config.h has an enum member named EV_READ */
#include "mailhook.h"

#include <event2/event.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>
#include <seccomp.h>
#include <tls.h>

#include "dns.h"
#include "http.h"
#include "log.h"
#include "../../hookd/mime.h"
#include "../../signer/signer.h"
#include "dkimkey.h"
#include "sandbox.h"
#include "mhtest.h"

static int	 failures;

#define CHECK(cond, ...) do {						\
	if (cond)							\
		printf("ok - ");					\
	else {								\
		failures++;						\
		printf("not ok - ");					\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

struct ctx {
	const char	*profile;
	const char	*check;
	int		 proc;
	const char	*user;
	char		 chroot[1024];		/* "" = none */
	int		 dnsport;
	int		 httpport;
	int		 httpsport;
	int		 tcpfd;			/* listener: parent's (peer) or child's (smtpd) */
	int		 tcpport;
	int		 fdpair[2];		/* fd passing */
	struct event_base *base;
	struct tls	*tls;
	char		*cert, *key;
	size_t		 certlen, keylen;
	char		 hash[256];		/* crypt(3) hash made before the sandbox */
	char		*dkim[2];		/* signer: RSA and Ed25519 keys, PEM */
	int		 msgfd;			/* signer: a message, read-only */
	int		 longfd;		/* signer: one of 200 KB */
	int		 badfd[3];		/* signer: /dev/zero, a pipe,
						   a file of 4 GB + 1 */
};

static int
tcp_connect(int port)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 5, 0 };
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	/* a peer that died must not hang the test */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static int
send_fd(int sock, int fd)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	char		 c = 'F';
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;

	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return (sendmsg(sock, &msg, 0) == 1 ? 0 : -1);
}

static int
recv_fd(int sock)
{
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	char		 c;
	int		 fd = -1;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return (-1);
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg != NULL && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return (fd);
}

/* ---- child: the profiles' work ---- */

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	*(int *)arg = 1;
}

static void
listener_cb(evutil_socket_t fd, short ev, void *arg)
{
	*(int *)arg = 1;
}

static void
work_smtpd(struct ctx *c)
{
	struct event	*ev, *tm;
	struct timeval	 tv = { 0, 10000 };
	struct tls	*cctx = NULL;
	char		 buf[128];
	ssize_t		 n;
	int		 fd, s, fired = 0, readable = 0, r;

	/* a spool fd arrives by fd passing; smtpd writes the message */
	fd = recv_fd(c->fdpair[1]);
	CHECK(fd != -1, "smtpd: received a spool fd by SCM_RIGHTS");
	n = write(fd, "Subject: sandbox\r\n\r\nhello\r\n", 27);
	CHECK(n == 27, "smtpd: wrote the message to the passed fd");
	/* a pooled file may be longer (filepool.h): cut to what it wrote */
	CHECK(ftruncate(fd, 27) == 0, "smtpd: ftruncate of the passed fd");
	close(fd);

	/* libevent: a timer and a readable listener */
	tm = evtimer_new(c->base, timer_cb, &fired);
	ev = event_new(c->base, c->tcpfd, EV_READ, listener_cb, &readable);
	evtimer_add(tm, &tv);
	event_add(ev, NULL);
	while (!(fired && readable))
		if (event_base_loop(c->base, EVLOOP_ONCE) == -1)
			break;
	CHECK(fired && readable, "smtpd: libevent timer and listener fired");

	s = accept4(c->tcpfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(s != -1, "smtpd: accept4 a connection");
	r = tls_accept_socket(c->tls, &cctx, s);
	if (r == 0)
		while ((r = tls_handshake(cctx)) == TLS_WANT_POLLIN ||
		    r == TLS_WANT_POLLOUT)
			;
	CHECK(r == 0, "smtpd: TLS handshake (%s)",
	    r == 0 ? "ok" : tls_error(cctx ? cctx : c->tls));
	while ((n = tls_read(cctx, buf, sizeof(buf) - 1)) == TLS_WANT_POLLIN ||
	    n == TLS_WANT_POLLOUT)
		;
	CHECK(n == 10 && memcmp(buf, "EHLO sbx\r\n", 10) == 0,
	    "smtpd: read a command over TLS");
	n = tls_write(cctx, "250 sandboxed\r\n", 15);
	CHECK(n == 15, "smtpd: wrote a reply over TLS");
	tls_close(cctx);
	tls_free(cctx);
	close(s);
}

static int	dns_done;

static void
dns_addrs_done(const struct dns_addrs *a, void *arg)
{
	char	 ip[64] = "";

	if (a->status == DNS_OK && a->n > 0)
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&a->ss[0])->sin_addr,
		    ip, sizeof(ip));
	CHECK(a->status == DNS_OK && strcmp(ip, "192.0.2.7") == 0,
	    "%s: DNS A of host.sandbox.test through libunbound (%s)",
	    (char *)arg, ip);
	dns_done++;
}

static void
dns_mx_done(const struct dns_mxlist *mx, void *arg)
{
	CHECK(mx->status == DNS_OK && mx->n == 1 &&
	    strcmp(mx->mx[0].host, "host.sandbox.test") == 0,
	    "%s: DNS MX of sandbox.test through libunbound", (char *)arg);
	dns_done++;
}

static void
work_dns(struct ctx *c)
{
	if (c->dnsport == 0)
		return;
	dns_done = 0;
	if (dns_resolve_host("host.sandbox.test", dns_addrs_done,
	    (void *)c->profile) == -1 ||
	    dns_resolve_mx("sandbox.test", dns_mx_done,
	    (void *)c->profile) == -1) {
		CHECK(0, "%s: DNS queries started", c->profile);
		return;
	}
	while (dns_done < 2)
		if (event_base_loop(c->base, EVLOOP_ONCE) == -1)
			break;
}

/*
 * relayd: STARTTLS as its SMTP client does it, libtls set up after the
 * sandbox, verifying the peer against a CA bundle held in memory.
 */
static void
work_starttls(struct ctx *c, int s)
{
	struct tls_config	*tc;
	struct tls		*t;
	char			 buf[32];
	ssize_t			 n;
	int			 r = -1;

	if ((tc = tls_config_new()) == NULL ||
	    tls_config_set_ca_mem(tc, (uint8_t *)c->cert, c->certlen) == -1 ||
	    (t = tls_client()) == NULL || tls_configure(t, tc) == -1) {
		CHECK(0, "%s: libtls client set up under the filter",
		    c->profile);
		return;
	}
	if (tls_connect_socket(t, s, "tls.sandbox.test") == 0)
		while ((r = tls_handshake(t)) == TLS_WANT_POLLIN ||
		    r == TLS_WANT_POLLOUT)
			;
	CHECK(r == 0, "%s: TLS handshake verifying tls.sandbox.test (%s)",
	    c->profile, r == 0 ? "ok" : tls_error(t));
	if (r == 0 && tls_write(t, "EHLO relayd\r\n", 13) == 13) {
		while ((n = tls_read(t, buf, sizeof(buf) - 1)) ==
		    TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT)
			;
		CHECK(n == 6 && memcmp(buf, "250 x\n", 6) == 0,
		    "%s: SMTP over TLS", c->profile);
	}
	tls_close(t);
	tls_free(t);
	tls_config_free(tc);
}

static void
work_tcp(struct ctx *c)
{
	char	 buf[16];
	ssize_t	 n;
	int	 s;

	s = tcp_connect(c->tcpport);
	CHECK(s != -1, "%s: TCP connect to 127.0.0.1:%d", c->profile,
	    c->tcpport);
	if (s == -1)
		return;
	n = write(s, "PING\n", 5);
	n = read(s, buf, sizeof(buf));
	CHECK(n == 5 && memcmp(buf, "PONG\n", 5) == 0,
	    "%s: exchanged bytes over TCP", c->profile);
	if (c->proc == PROC_RELAYD)
		work_starttls(c, s);
	close(s);
}

static int	http_done;

static void
http_done_cb(const struct http_response *r, void *arg)
{
	const char	*what = arg;

	CHECK(r->error == HTTP_OK && r->status == 200 && r->body != NULL &&
	    strncmp(r->body, "accepted", 8) == 0,
	    "%s through common/http.c (%s, status %ld%s%s)", what,
	    http_strerror(r->error), r->status, r->errstr[0] ? ", " : "",
	    r->errstr);
	http_done++;
}

/*
 * POSTs through common/http.c: to an address literal, to a name that
 * resolves through libunbound and gets pinned, and over TLS (OpenSSL
 * inside the filter) to a name whose certificate is our own CA bundle.
 */
static void
work_http(struct ctx *c)
{
	struct http_request	 req;
	static char		 what[3][128], url[3][128];
	int			 i, n = 0;

	if (c->httpport == 0)
		return;
	snprintf(url[n], sizeof(url[n]), "http://127.0.0.1:%d/%s",
	    c->httpport, c->profile);
	snprintf(what[n++], sizeof(what[0]), "%s: POST to 127.0.0.1",
	    c->profile);
	if (c->dnsport) {
		snprintf(url[n], sizeof(url[n]),
		    "http://web.sandbox.test:%d/%s", c->httpport, c->profile);
		snprintf(what[n++], sizeof(what[0]),
		    "%s: POST to web.sandbox.test", c->profile);
	}
	if (c->dnsport && c->httpsport) {
		snprintf(url[n], sizeof(url[n]),
		    "https://tls.sandbox.test:%d/%s", c->httpsport, c->profile);
		snprintf(what[n++], sizeof(what[0]),
		    "%s: POST over TLS to tls.sandbox.test", c->profile);
	}
	http_done = 0;
	for (i = 0; i < n; i++) {
		memset(&req, 0, sizeof(req));
		req.url = url[i];
		req.content_type = "application/json";
		req.body = "{\"sandbox\":true}";
		req.bodylen = strlen(req.body);
		req.timeout = 10;
		req.max_redirects = 3;
		req.allow_private = 1;
		if (http_post(&req, http_done_cb, what[i]) == NULL) {
			CHECK(0, "%s: http_post", c->profile);
			return;
		}
	}
	while (http_done < n)
		if (event_base_loop(c->base, EVLOOP_ONCE) == -1)
			break;
}

static void
work_crypt(struct ctx *c)
{
	struct crypt_data	*cd;
	const char		*h;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		exit(2);
	h = crypt_r("s3cret", c->hash, cd);
	CHECK(h != NULL && strcmp(h, c->hash) == 0,
	    "authd: crypt(3) verifies a password");
	h = crypt_r("wrong", c->hash, cd);
	CHECK(h == NULL || strcmp(h, c->hash) != 0,
	    "authd: crypt(3) rejects a wrong password");
	free(cd);
}

/* jansson's first object seeds its hash: no /dev/urandom in the filter */
static void
work_json(struct ctx *c)
{
	json_t	*j;
	char	*s;

	j = json_pack("{s:s,s:i}", "profile", c->profile, "n", 1);
	s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	CHECK(s != NULL && strstr(s, "\"n\":1") != NULL,
	    "%s: jansson builds its first object under the filter",
	    c->profile);
	free(s);
	json_decref(j);
}

static void
work_files(struct ctx *c)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 buf[64];
	int		 fd, found = 0, ok, hookd;

	/* the queue dance: create, write, fsync, rename, list, read, unlink */
	fd = open("/queue/tmp.1", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	CHECK(fd != -1, "%s: create a queue file in the chroot", c->profile);
	if (fd == -1)
		return;
	/* fdatasync: relayd's outbox; rename(), unlink(): hookd's spools */
	hookd = c->proc == PROC_HOOKD;
	ok = write(fd, "queued\n", 7) == 7 && fsync(fd) == 0 &&
	    (hookd || fdatasync(fd) == 0) && ftruncate(fd, 7) == 0 &&
	    fstat(fd, &st) == 0 && st.st_size == 7;
	close(fd);
	CHECK(ok, "%s: write, fsync, fdatasync, ftruncate, fstat", c->profile);
	CHECK(mkdir("/queue/sub", 0700) == 0, "%s: mkdir", c->profile);
	CHECK((hookd ? rename("/queue/tmp.1", "/queue/sub/msg.1") :
	    renameat(AT_FDCWD, "/queue/tmp.1", AT_FDCWD,
	    "/queue/sub/msg.1")) == 0, "%s: rename", c->profile);
	if ((d = opendir("/queue/sub")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, "msg.1") == 0)
				found = 1;
		closedir(d);
	}
	CHECK(found, "%s: readdir finds the renamed file", c->profile);
	fd = open("/queue/sub/msg.1", O_RDONLY | O_CLOEXEC);
	CHECK(fd != -1 && read(fd, buf, sizeof(buf)) == 7 &&
	    memcmp(buf, "queued\n", 7) == 0, "%s: read it back", c->profile);
	if (fd != -1)
		close(fd);
	CHECK(stat("/queue/sub/msg.1", &st) == 0 && st.st_size == 7,
	    "%s: stat", c->profile);
	CHECK((hookd ? unlink("/queue/sub/msg.1") :
	    unlinkat(AT_FDCWD, "/queue/sub/msg.1", 0)) == 0 &&
	    unlinkat(AT_FDCWD, "/queue/sub", AT_REMOVEDIR) == 0,
	    "%s: unlink, unlinkat of a directory", c->profile);
	CHECK(open("/etc/passwd", O_RDONLY) == -1,
	    "%s: nothing outside the chroot (/etc/passwd absent)", c->profile);
}

/* hookd: GMime parses a spooled message, a Latin-1 part becomes UTF-8 */
static void
work_mime(struct ctx *c)
{
	static const char msg[] =
	    "From: a@example.com\r\nTo: b@example.com\r\n"
	    "Subject: =?ISO-8859-1?Q?caf=E9?=\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
	    "--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "un caf=E9\r\n"
	    "--XX\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; filename=a.bin\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n"
	    "--XX--\r\n";
	struct envelope	 env;
	json_t		*j;
	const char	*plain, *subject;
	int		 fd;

	fd = open("/queue/mime.1", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd == -1 || write(fd, msg, sizeof(msg) - 1) !=
	    (ssize_t)sizeof(msg) - 1) {
		CHECK(0, "%s: spool a message for GMime", c->profile);
		return;
	}
	envelope_init(&env);
	strlcpy(env.sender, "a@example.com", sizeof(env.sender));
	envelope_add_rcpt(&env, "b@example.com");
	j = mime_to_json(fd, &env, "b@example.com");
	plain = json_string_value(json_object_get(j, "plain"));
	subject = json_string_value(json_object_get(json_object_get(j,
	    "headers"), "subject"));
	CHECK(plain != NULL && strstr(plain, "un caf\xc3\xa9") != NULL &&
	    subject != NULL && strcmp(subject, "caf\xc3\xa9") == 0,
	    "%s: GMime renders a Latin-1 message as UTF-8 JSON", c->profile);
	CHECK(json_array_size(json_object_get(j, "attachments")) == 1,
	    "%s: GMime finds the attachment", c->profile);
	json_decref(j);
	envelope_clear(&env);
	close(fd);
	unlink("/queue/mime.1");
}

/* the signer's real work: take keys, sign a message fd with both */
static void
work_signer(struct ctx *c)
{
	char	*out, why[256];
	size_t	 len = 0;
	json_t	*j;
	int	 rv, i;

	for (i = 0; i < 2; i++)
		CHECK(signer_key_add("sandbox.test", i ? "e1" : "r1", "(test)",
		    c->dkim[i], strlen(c->dkim[i])) == 0,
		    "%s: takes a key", c->profile);
	if ((out = calloc(1, SIGN_HDRS_MAX + 1)) == NULL)
		fatal("calloc");
	rv = signer_sign(c->msgfd, "sandbox.test", out, SIGN_HDRS_MAX, &len,
	    why, sizeof(why));
	CHECK(rv == 0 && len == strlen(out) && len > 2 &&
	    memcmp(out + len - 2, "\r\n", 2) == 0 &&
	    strncmp(out, "DKIM-Signature: v=1; a=rsa-sha256;",
	    34) == 0 && strstr(out, "\r\nDKIM-Signature: v=1; "
	    "a=ed25519-sha256;") != NULL,
	    "%s: an RSA and an Ed25519 signature of a message fd (%s)",
	    c->profile, rv == 0 ? "ok" : why);
	rv = signer_sign(c->longfd, "sandbox.test", out, SIGN_HDRS_MAX, &len,
	    why, sizeof(why));
	CHECK(rv == 0 && strncmp(out, "DKIM-Signature: v=1; a=rsa-sha256;",
	    34) == 0, "%s: a message longer than a chunk signed (%s)",
	    c->profile, rv == 0 ? "ok" : why);
	for (i = 0; i < 3; i++) {
		rv = signer_sign(c->badfd[i], "sandbox.test", out,
		    SIGN_HDRS_MAX, &len, why, sizeof(why));
		CHECK(rv == -1 && (strcmp(why, i < 2 ? "the message's "
		    "descriptor is not a regular file" : "the message is "
		    "over 4294967296 bytes") == 0),
		    "%s: %s: an error answer (%s)", c->profile,
		    i == 0 ? "/dev/zero" : i == 1 ? "a pipe" : "a 4 GB file",
		    rv == -1 ? why : "signed");
	}
	free(out);
	j = signer_show("sandbox.test");
	CHECK(json_array_size(json_object_get(j, "dkim")) == 2,
	    "%s: the DNS records of both keys", c->profile);
	json_decref(j);
}

static void
child_work(struct ctx *c)
{
	switch (c->proc) {
	case PROC_SMTPD:
		work_json(c);
		work_smtpd(c);
		break;
	case PROC_AUTHD:
		work_json(c);
		work_dns(c);
		work_tcp(c);
		work_http(c);
		work_crypt(c);
		break;
	case PROC_RELAYD:
		work_files(c);
		work_dns(c);
		work_tcp(c);
		break;
	case PROC_HOOKD:
		work_files(c);
		work_mime(c);
		work_dns(c);
		work_http(c);
		break;
	case PROC_SIGNER:
		work_signer(c);
		break;
	}
}

static void *
probe_thread(void *arg)
{
	return (arg);
}

/*
 * One direct system call each, with arguments that would do nothing
 * harmful if the filter let it through (the caller then exits 3).
 */
static void
probe(const char *name)
{
	static char	*const argv[] = { "probe", NULL };
	static char	 page[8192];
	struct rlimit	 rl;
	void		*p;
	long		 r = 0;
	int		 nr;
	pthread_t	 th;

	if (strcmp(name, "execve") == 0)
		r = syscall(SYS_execve, "/nonexistent", argv, argv + 1);
	else if (strcmp(name, "execveat") == 0)
		r = syscall(SYS_execveat, AT_FDCWD, "/nonexistent", argv,
		    argv + 1, 0);
#ifdef SYS_fork
	else if (strcmp(name, "fork") == 0)
		r = syscall(SYS_fork);
#endif
#ifdef SYS_vfork
	else if (strcmp(name, "vfork") == 0)
		r = syscall(SYS_vfork);
#endif
	else if (strcmp(name, "clone") == 0)
		r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	else if (strcmp(name, "prlimit_other") == 0)
		/* another process's limits, read only: pid 1's */
		r = syscall(SYS_prlimit64, 1, RLIMIT_NOFILE, NULL, &rl);
	else if (strcmp(name, "ptrace") == 0)
		r = syscall(SYS_ptrace, PTRACE_PEEKDATA, 1, 0, 0);
	else if (strcmp(name, "process_vm_readv") == 0)
		r = syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0,
		    0);
	else if (strcmp(name, "process_vm_writev") == 0)
		r = syscall(SYS_process_vm_writev, getppid(), NULL, 0, NULL, 0,
		    0);
	else if (strcmp(name, "unshare") == 0)
		r = syscall(SYS_unshare, 0);
	else if (strcmp(name, "mount") == 0)
		r = syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0,
		    NULL);
	else if (strcmp(name, "chroot") == 0)
		r = syscall(SYS_chroot, "/nonexistent");
	else if (strcmp(name, "setresuid") == 0)
		r = syscall(SYS_setresuid, -1, -1, -1);
#ifdef SYS_open
	else if (strcmp(name, "open") == 0)
		r = syscall(SYS_open, "/nonexistent", O_RDONLY);
#endif
	else if (strcmp(name, "openat") == 0)
		r = syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDONLY);
	else if (strcmp(name, "socket") == 0)
		r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	else if (strcmp(name, "socket6") == 0)
		r = syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0);
	else if (strcmp(name, "connect") == 0)
		r = syscall(SYS_connect, -1, NULL, 0);
	else if (strcmp(name, "bind") == 0)
		r = syscall(SYS_bind, -1, NULL, 0);
	else if (strcmp(name, "accept") == 0)
		r = syscall(SYS_accept4, -1, NULL, NULL, 0);
	else if (strcmp(name, "mprotect_exec") == 0) {
		p = (void *)(((uintptr_t)page + 4095) & ~(uintptr_t)4095);
		r = syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC);
	} else if (strcmp(name, "poll") == 0)
		r = syscall(SYS_poll, NULL, 0, 0);	/* at once */
	else if (strncmp(name, "sys-", 4) == 0) {
		/*
		 * A call by its name, no allowlist has it: -1 (a bad
		 * descriptor, address or clock) in every argument but the
		 * second, a count of 0, so that it fails at once (EBADF,
		 * EFAULT, EINVAL) if the filter let it through: no wait
		 * without a timeout, as ppoll(NULL) would be
		 */
		if ((nr = seccomp_syscall_resolve_name(name + 4)) < 0) {
			printf("# no system call %s here\n", name + 4);
			exit(2);
		}
		r = syscall(nr, -1L, 0L, -1L, -1L, -1L, -1L);
	} else if (strcmp(name, "prctl_name") == 0)
		r = syscall(SYS_prctl, PR_GET_NAME, (long)-1, 0L, 0L, 0L);
	else if (strcmp(name, "ioctl_fionbio") == 0)
		r = syscall(SYS_ioctl, -1, FIONBIO, (long)-1);
	else if (strcmp(name, "setsockopt_other") == 0)
		r = syscall(SYS_setsockopt, -1, SOL_SOCKET, SO_KEEPALIVE, NULL,
		    0);
	else if (strcmp(name, "statx_fd") == 0)
		r = syscall(SYS_statx, -1, "", AT_EMPTY_PATH, 0, NULL);
	else if (strcmp(name, "socketpair") == 0)
		r = syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, NULL);
	else if (strcmp(name, "thread") == 0) {
		/* glibc: clone3 (ENOSYS), then clone(CLONE_THREAD) */
		if ((r = pthread_create(&th, NULL, probe_thread, NULL)) == 0)
			pthread_join(th, NULL);
	} else {
		printf("# unknown probe %s\n", name);
		exit(2);
	}
	/* a new process made it here too: it must not report */
	if (r == 0 && (strcmp(name, "fork") == 0 ||
	    strcmp(name, "vfork") == 0 || strcmp(name, "clone") == 0))
		_exit(0);
}

static void
child_forbidden(struct ctx *c)
{
	struct rlimit	 rl;
	int		 fd;

	if (strncmp(c->check, "probe-", 6) == 0)
		probe(c->check + 6);
	else if (strcmp(c->check, "forbidden") == 0)
		sandbox_forbidden();
	else if (strcmp(c->check, "socket") == 0)
		(void)socket(AF_INET, SOCK_STREAM, 0);
	else if (strcmp(c->check, "open") == 0)
		(void)open("/nonexistent", O_RDONLY);
	else if (strcmp(c->check, "fork") == 0) {
		if (fork() == 0)
			_exit(0);
	} else if (strcmp(c->check, "rlimit") == 0) {
		CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    sysconf(_SC_OPEN_MAX) > 0,
		    "%s: getrlimit and sysconf of its own limits work",
		    c->profile);
		exit(failures ? 1 : 0);
	} else if (strcmp(c->check, "unixsock") == 0) {
		fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		CHECK(fd == -1 && errno == EACCES,
		    "%s: socket(AF_UNIX) fails with EACCES", c->profile);
		exit(failures ? 1 : 0);
	}
	/* still alive: the parent sees exit 3 */
	exit(3);
}

static void
child(struct ctx *c, int readyfd, int gofd)
{
	struct tls_config	*tc;
	char			 go;

	log_init(1, LOG_DAEMON);
	log_procinit(c->profile);
	if ((c->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (c->proc == PROC_SIGNER)
		signer_init();
	else if (c->proc == PROC_SMTPD || c->proc == PROC_WEBD) {
		if ((tc = tls_config_new()) == NULL ||
		    tls_config_set_keypair_mem(tc, (uint8_t *)c->cert,
		    c->certlen, (uint8_t *)c->key, c->keylen) == -1 ||
		    (c->tls = tls_server()) == NULL ||
		    tls_configure(c->tls, tc) == -1)
			fatalx("tls setup");
	} else {
		if (c->dnsport && dns_init(c->base, "127.0.0.1",
		    c->dnsport) == -1)
			fatalx("dns_init");
		if (http_init(c->base, c->cert, c->certlen) == -1)
			fatalx("http_init");
		if (c->proc == PROC_HOOKD)
			mime_init();
		if (c->proc == PROC_RELAYD && tls_init() == -1)
			fatalx("tls_init");
	}

	privdrop(c->user, c->chroot[0] ? c->chroot : NULL);
	sandbox_apply(c->proc);
	if (write(readyfd, "R", 1) != 1 || read(gofd, &go, 1) != 1)
		_exit(2);
	if (strcmp(c->check, "work") == 0) {
		child_work(c);
		printf("# %s\n", sandbox_describe());
		fflush(stdout);
		exit(failures ? 1 : 0);
	}
	child_forbidden(c);
}

/* ---- parent: inspection and peers ---- */

static int
status_field(pid_t pid, const char *field, char *out, size_t outlen)
{
	FILE	*f;
	char	 path[64], line[256];
	size_t	 flen = strlen(field);
	int	 found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			line[strcspn(line, "\n")] = '\0';
			/* "Groups:" ends with a blank */
			while (strlen(line) > flen + 1 &&
			    (line[strlen(line) - 1] == ' ' ||
			    line[strlen(line) - 1] == '\t'))
				line[strlen(line) - 1] = '\0';
			strlcpy(out, line + flen + 1 + strspn(line + flen + 1,
			    " \t"), outlen);
			found = 1;
			break;
		}
	fclose(f);
	return (found);
}

static void
inspect(struct ctx *c, pid_t pid)
{
	struct passwd	*pw;
	char		 v[256], want[256], path[64], root[1024];
	ssize_t		 n;

	CHECK(status_field(pid, "NoNewPrivs", v, sizeof(v)) &&
	    strcmp(v, "1") == 0, "%s: NoNewPrivs: 1", c->profile);
	CHECK(status_field(pid, "Seccomp", v, sizeof(v)) &&
	    strcmp(v, "2") == 0, "%s: Seccomp: 2", c->profile);
	if ((pw = getpwnam(c->user)) == NULL)
		exit(2);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", pw->pw_uid,
	    pw->pw_uid, pw->pw_uid, pw->pw_uid);
	CHECK(status_field(pid, "Uid", v, sizeof(v)) && strcmp(v, want) == 0,
	    "%s: runs as %s (Uid: %s)", c->profile, c->user, v);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", pw->pw_gid,
	    pw->pw_gid, pw->pw_gid, pw->pw_gid);
	CHECK(status_field(pid, "Gid", v, sizeof(v)) && strcmp(v, want) == 0,
	    "%s: group of %s (Gid: %s)", c->profile, c->user, v);
	snprintf(want, sizeof(want), "%u", pw->pw_gid);
	CHECK(status_field(pid, "Groups", v, sizeof(v)) &&
	    strcmp(v, want) == 0, "%s: no supplementary groups but its own",
	    c->profile);
	CHECK(status_field(pid, "CapEff", v, sizeof(v)) &&
	    strcmp(v, "0000000000000000") == 0, "%s: no capabilities",
	    c->profile);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	n = readlink(path, root, sizeof(root) - 1);
	root[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(root, c->chroot[0] ? c->chroot : "/") == 0,
	    "%s: root is %s (%s)", c->profile,
	    c->chroot[0] ? c->chroot : "/", root);
}

static void
peer_smtpd(struct ctx *c)
{
	struct tls_config	*tc;
	struct tls		*t;
	char			 path[] = "/tmp/sbxspool.XXXXXX", buf[128];
	ssize_t			 n;
	int			 fd, s, r;

	if ((fd = mkstemp(path)) == -1)
		exit(2);
	unlink(path);
	/* an earlier, longer content the child cuts off (at offset 0) */
	memset(buf, 'Z', 64);
	if (pwrite(fd, buf, 64, 0) != 64 ||
	    send_fd(c->fdpair[0], fd) == -1)
		exit(2);
	s = tcp_connect(c->tcpport);
	tc = tls_config_new();
	tls_config_insecure_noverifycert(tc);
	tls_config_insecure_noverifyname(tc);
	t = tls_client();
	tls_configure(t, tc);
	r = (s == -1) ? -1 : tls_connect_socket(t, s, "localhost");
	if (r == 0 && tls_write(t, "EHLO sbx\r\n", 10) == 10) {
		/* TLS 1.3 session tickets make a blocking read want more */
		while ((n = tls_read(t, buf, sizeof(buf) - 1)) ==
		    TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT)
			;
		buf[n > 0 ? n : 0] = '\0';
		CHECK(strcmp(buf, "250 sandboxed\r\n") == 0,
		    "smtpd: the TLS client got the reply");
	} else
		CHECK(0, "smtpd: TLS client: %s", tls_error(t));
	tls_close(t);
	tls_free(t);
	close(s);
	/* what the child wrote arrived in the parent's file */
	sleep(0);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strstr(buf, "hello") != NULL,
	    "smtpd: the message reached the spool file");
	CHECK(n == 27, "smtpd: and nothing of what the file held before");
	close(fd);
}

/* the remote MX side of relayd's STARTTLS */
static void
peer_tls_server(struct ctx *c, int s)
{
	struct tls_config	*tc;
	struct tls		*srv, *t = NULL;
	char			 buf[64];
	ssize_t			 n;

	if ((tc = tls_config_new()) == NULL ||
	    tls_config_set_keypair_mem(tc, (uint8_t *)c->cert, c->certlen,
	    (uint8_t *)c->key, c->keylen) == -1 ||
	    (srv = tls_server()) == NULL || tls_configure(srv, tc) == -1 ||
	    tls_accept_socket(srv, &t, s) == -1)
		errx(2, "tls server");
	while ((n = tls_read(t, buf, sizeof(buf))) == TLS_WANT_POLLIN ||
	    n == TLS_WANT_POLLOUT)
		;
	if (n > 0)
		(void)tls_write(t, "250 x\n", 6);
	tls_close(t);
	tls_free(t);
	tls_free(srv);
	tls_config_free(tc);
}

static void
peer_tcp(struct ctx *c)
{
	struct pollfd	 pfd = { c->tcpfd, POLLIN, 0 };
	struct timeval	 tv = { 5, 0 };
	char		 buf[16];
	int		 s;

	if (poll(&pfd, 1, 10000) != 1 ||
	    (s = accept(c->tcpfd, NULL, NULL)) == -1)
		return;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (read(s, buf, sizeof(buf)) == 5 && memcmp(buf, "PING\n", 5) == 0)
		(void)write(s, "PONG\n", 5);
	if (c->proc == PROC_RELAYD)
		peer_tls_server(c, s);
	close(s);
}

static const char *
sig_or_exit(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %s", strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	return (buf);
}

static void
report_stderr(FILE *errf, char *out, size_t outlen)
{
	char	 line[512];

	out[0] = '\0';
	rewind(errf);
	while (fgets(line, sizeof(line), errf) != NULL) {
		printf("# stderr: %s", line);
		if (strlen(out) + strlen(line) < outlen)
			strlcat(out, line, outlen);
	}
	fflush(stdout);
}

static int
profile_of(const char *s)
{
	if (strcmp(s, "smtpd") == 0)
		return (PROC_SMTPD);
	if (strcmp(s, "authd") == 0)
		return (PROC_AUTHD);
	if (strcmp(s, "relayd") == 0)
		return (PROC_RELAYD);
	if (strcmp(s, "hookd") == 0)
		return (PROC_HOOKD);
	if (strcmp(s, "signer") == 0)
		return (PROC_SIGNER);
	if (strcmp(s, "webd") == 0)
		return (PROC_WEBD);	/* probes only: no "work" of its own */
	errx(2, "unknown profile %s", s);
}

/* two new keys as PEM, a message opened read-only: what the parent and
 * relayd hand the signer */
static void
signer_setup(struct ctx *c, const char *root)
{
	static const char msg[] = "From: a@sandbox.test\r\n"
	    "To: b@example.com\r\nSubject: hi\r\n"
	    "Date: Mon, 30 Nov 2026 20:00:00 +0000\r\n\r\nHello.\r\n";
	char		 path[1024];
	EVP_PKEY	*k;
	BIO		*b;
	BUF_MEM		*bm;
	int		 i, fd;

	for (i = 0; i < 2; i++) {
		if ((k = dkimkey_generate(i ? DKIMKEY_ED25519 : DKIMKEY_RSA,
		    DKIMKEY_RSA_MIN)) == NULL || (b = BIO_new(BIO_s_mem())) ==
		    NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
		    NULL) != 1)
			errx(2, "dkim key");
		BIO_get_mem_ptr(b, &bm);
		if ((c->dkim[i] = strndup(bm->data, bm->length)) == NULL)
			err(2, "strndup");
		BIO_free(b);
		EVP_PKEY_free(k);
	}
	snprintf(path, sizeof(path), "%s/signer.msg", root);
	if ((fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600)) == -1 ||
	    write(fd, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1 ||
	    close(fd) == -1 || (c->msgfd = open(path, O_RDONLY)) == -1)
		err(2, "%s", path);
	/* longer than the signer's chunk: read twice, its size looked at */
	snprintf(path, sizeof(path), "%s/signer.long", root);
	if ((fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600)) == -1 ||
	    write(fd, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1)
		err(2, "%s", path);
	for (i = 0; i < 20000; i++)
		if (write(fd, "0123456789\r\n", 12) != 12)
			err(2, "%s", path);
	if (close(fd) == -1 || (c->longfd = open(path, O_RDONLY)) == -1)
		err(2, "%s", path);
	/* what relayd should never hand over: each an error, not a hang */
	snprintf(path, sizeof(path), "%s/signer.huge", root);
	if ((c->badfd[0] = open("/dev/zero", O_RDONLY)) == -1 ||
	    pipe(&c->badfd[1]) == -1 || close(c->badfd[2]) == -1 ||
	    (fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600)) == -1 ||
	    write(fd, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1 ||
	    ftruncate(fd, ((off_t)4 << 30) + 1) == -1 || close(fd) == -1 ||
	    (c->badfd[2] = open(path, O_RDONLY)) == -1)
		err(2, "%s", path);
}

static void
setup(struct ctx *c)
{
	const char	*root, *s;
	char		*r;

	if ((root = getenv("SBX_ROOT")) == NULL)
		errx(2, "SBX_ROOT not set");
	c->user = (s = getenv("SBX_USER")) ? s : MH_USER;
	c->dnsport = (s = getenv("SBX_DNS_PORT")) ? atoi(s) : 0;
	c->httpport = (s = getenv("SBX_HTTP_PORT")) ? atoi(s) : 0;
	c->httpsport = (s = getenv("SBX_HTTPS_PORT")) ? atoi(s) : 0;
	c->chroot[0] = '\0';
	if (c->proc == PROC_SMTPD || c->proc == PROC_RELAYD ||
	    c->proc == PROC_HOOKD || c->proc == PROC_SIGNER ||
	    c->proc == PROC_WEBD) {
		if ((r = realpath(root, NULL)) == NULL)
			err(2, "%s", root);
		snprintf(c->chroot, sizeof(c->chroot), "%s/%s", r,
		    c->proc == PROC_SMTPD || c->proc == PROC_SIGNER ||
		    c->proc == PROC_WEBD ? "empty" : "spool");
		free(r);
	}
	if (c->proc == PROC_SIGNER)
		signer_setup(c, root);
	/* smtpd's key pair, and everyone else's CA bundle */
	c->cert = mhtest_slurp(getenv("SBX_CERT"), &c->certlen);
	c->key = mhtest_slurp(getenv("SBX_KEY"), &c->keylen);
	if (c->cert == NULL || c->key == NULL)
		errx(2, "SBX_CERT, SBX_KEY");
	if (c->proc == PROC_AUTHD)
		strlcpy(c->hash, crypt("s3cret",
		    crypt_gensalt("$y$", 0, NULL, 0)), sizeof(c->hash));
	if ((c->tcpfd = mhtest_listen(&c->tcpport, 0, 5)) == -1)
		err(2, "tcp listener");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->fdpair) == -1)
		err(2, "socketpair");
}

int
main(int argc, char *argv[])
{
	struct ctx	 c;
	FILE		*errf;
	char		 buf[64], errtext[4096];
	pid_t		 pid;
	int		 ready[2], go[2], st, debug = 0, ch, work;

	while ((ch = getopt(argc, argv, "D")) != -1)
		if (ch == 'D')
			debug = 1;
	argc -= optind;
	argv += optind;
	if (argc != 2)
		errx(2, "usage: sandboxtest [-D] profile check");
	memset(&c, 0, sizeof(c));
	c.profile = argv[0];
	c.check = argv[1];
	c.proc = profile_of(c.profile);
	work = strcmp(c.check, "work") == 0 ||
	    strcmp(c.check, "unixsock") == 0 ||
	    strcmp(c.check, "rlimit") == 0;
	setup(&c);
	if (debug)
		sandbox_debug(1);

	if ((errf = tmpfile()) == NULL || pipe(ready) == -1 || pipe(go) == -1)
		err(2, "setup");
	fflush(stdout);
	if ((pid = fork()) == -1)
		err(2, "fork");
	if (pid == 0) {
		dup2(fileno(errf), STDERR_FILENO);
		close(ready[0]);
		close(go[1]);
		child(&c, ready[1], go[0]);
		_exit(2);
	}
	close(ready[1]);
	close(go[0]);
	if (c.proc == PROC_SMTPD)
		close(c.tcpfd);		/* the child's listener, not ours */
	if (read(ready[0], buf, 1) != 1) {
		waitpid(pid, &st, 0);
		report_stderr(errf, errtext, sizeof(errtext));
		CHECK(0, "%s: child confined itself (%s)", c.profile,
		    sig_or_exit(st, buf, sizeof(buf)));
		return (1);
	}
	inspect(&c, pid);
	if (write(go[1], "G", 1) != 1)
		err(2, "write");
	if (strcmp(c.check, "work") == 0) {
		if (c.proc == PROC_SMTPD)
			peer_smtpd(&c);
		else if (c.proc == PROC_AUTHD || c.proc == PROC_RELAYD)
			peer_tcp(&c);
	}
	waitpid(pid, &st, 0);
	report_stderr(errf, errtext, sizeof(errtext));
	if (work)
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "%s: %s finished under the filter (%s)", c.profile,
		    c.check, sig_or_exit(st, buf, sizeof(buf)));
	else
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
		    "%s: %s killed by SIGSYS (%s)", c.profile, c.check,
		    sig_or_exit(st, buf, sizeof(buf)));
	if (debug && !work)
		CHECK(strstr(errtext, "forbidden system call") != NULL,
		    "%s: debug mode reports the system call on stderr",
		    c.profile);
	return (failures ? 1 : 0);
}

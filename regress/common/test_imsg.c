/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * imsg: framing, fd passing, large messages, hostile streams, a sent
 * buffer wiped before it is freed (free() is this program's: it looks at
 * the one buffer a check watches, then hands it to glibc's).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mh_imsg.h"
#include "mailhook.h"
#include "proc.h"
#include "freewatch.h"
#include "tap.h"

static ssize_t
get_one(struct mh_imsgbuf *ib, struct mh_imsg *im)
{
	ssize_t	n;

	while ((n = mh_imsg_get(ib, im)) == 0)
		if (mh_imsg_read(ib) <= 0)
			return (-1);
	return (n);
}


#define SECRET	"-----BEGIN PRIVATE KEY----- MC4CAQAwBQYDK2VwBCIEI"

#ifndef NO_FREE_WATCH
static void	*watch;		/* the buffer free() looks at */
static size_t	 watch_len;
static int	 watch_freed, watch_secret;

void
free(void *p)
{
	if (p != NULL && p == watch) {
		watch_freed = 1;
		watch_secret = memmem(p, watch_len, SECRET,
		    sizeof(SECRET) - 1) != NULL;
		watch = NULL;
	}
	__libc_free(p);
}

/* a DKIM key sent (the parent to the signer): its buffer is wiped */
static void
test_wiped(void)
{
	struct mh_imsgbuf	a, b;
	struct mh_imsg	im;
	int		sp[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	mh_imsg_compose2(&a, 7, 0, 0, -1, "k", 1, SECRET, sizeof(SECRET));
	watch = TAILQ_FIRST(&a.w.bufs)->buf;
	watch_len = TAILQ_FIRST(&a.w.bufs)->size;
	ok(mh_imsg_flush(&a) == 0 && get_one(&b, &im) > 0 &&
	    MH_IMSG_DATA_SIZE(&im) == 1 + sizeof(SECRET), "a key sent");
	mh_imsg_free(&im);
	ok(watch_freed && !watch_secret, "its write buffer freed, wiped "
	    "first (freed %d, the key in it %d)", watch_freed, watch_secret);
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}
#else
static void
test_wiped(void)
{
}
#endif

static void
test_basic(void)
{
	struct mh_imsgbuf	a, b;
	struct mh_imsg	im;
	int		sp[2];
	char		big[200000];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	mh_imsg_compose(&a, 7, 42, 0, -1, "hello", 5);
	memset(big, 'x', sizeof(big));
	mh_imsg_compose(&a, 8, 0, 0, -1, big, sizeof(big));
	mh_imsg_compose(&a, 9, 0, 0, -1, NULL, 0);
	ok(mh_imsg_flush(&a) == 0, "three messages written");
	ok(get_one(&b, &im) > 0 && im.hdr.type == 7 && im.hdr.peerid == 42 &&
	    MH_IMSG_DATA_SIZE(&im) == 5 && memcmp(im.data, "hello", 5) == 0 &&
	    im.fd == -1, "small message intact");
	mh_imsg_free(&im);
	ok(get_one(&b, &im) > 0 && im.hdr.type == 8 &&
	    MH_IMSG_DATA_SIZE(&im) == sizeof(big) &&
	    memcmp(im.data, big, sizeof(big)) == 0,
	    "200 KB message reassembled across reads");
	mh_imsg_free(&im);
	ok(get_one(&b, &im) > 0 && im.hdr.type == 9 && im.data == NULL,
	    "empty message");
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

/* what the write queue's buffers hold unwritten, walked */
static size_t
unwritten(const struct mh_imsgbuf *ib)
{
	const struct mh_ibuf	*b;
	size_t			 n = 0;

	TAILQ_FOREACH(b, &ib->w.bufs, entry)
		n += b->wpos - b->rpos;
	return (n);
}

/*
 * The write queue's byte count (control's ctl_unsent, for each event to
 * a monitor) is what its buffers hold unwritten: after each compose and
 * each write, cut short ones included
 */
static void
test_bytes(void)
{
	static char		 big[200000];
	struct mh_imsgbuf	 a, b;
	struct mh_imsg		 im;
	size_t			 one = MH_IMSG_HDRSZ + sizeof(big);
	int			 sp[2], i, good, cut = 0;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	for (i = 0; i < 4; i++)
		mh_imsg_compose(&a, 30, i, 0, -1, big, sizeof(big));
	good = a.w.bytes == 4 * one && unwritten(&a) == a.w.bytes;
	for (i = 0; i < 10000 && a.w.queued > 0; i++) {
		if (mh_msgbuf_write(&a.w) == -1 && errno != EAGAIN)
			break;
		if (unwritten(&a) != a.w.bytes)
			good = 0;
		if (a.w.bytes % one != 0)
			cut = 1;
		if (mh_imsg_read(&b) <= 0)
			break;
		while (mh_imsg_get(&b, &im) > 0)
			mh_imsg_free(&im);
	}
	ok(good && a.w.queued == 0 && a.w.bytes == 0,
	    "the write queue's byte count is what it holds unwritten");
	ok(cut, "a write was cut short in the middle of a message");
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

static void
test_fd(void)
{
	struct mh_imsgbuf	a, b;
	struct mh_imsg	im;
	struct stat	st1, st2;
	int		sp[2], fd, i, good = 1;
	char		buf[16];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	for (i = 0; i < 10; i++) {
		fd = open("/dev/null", O_RDONLY);
		mh_imsg_compose(&a, 1, i, 0, -1, "x", 1);
		mh_imsg_compose(&a, 2, i, 0, fd, "fd", 2);
	}
	ok(mh_imsg_flush(&a) == 0, "messages with fds written");
	stat("/dev/null", &st1);
	for (i = 0; i < 10; i++) {
		if (get_one(&b, &im) <= 0 || im.hdr.type != 1 || im.fd != -1)
			good = 0;
		mh_imsg_free(&im);
		if (get_one(&b, &im) <= 0 || im.hdr.type != 2 ||
		    im.fd == -1 || fstat(im.fd, &st2) == -1 ||
		    st1.st_rdev != st2.st_rdev)
			good = 0;
		if (im.fd != -1)
			close(im.fd);
		mh_imsg_free(&im);
	}
	ok(good, "each fd arrives with its own message, in order");
	snprintf(buf, sizeof(buf), "%d", a.w.queued);
	is_str(buf, "0", "nothing left queued");
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

/*
 * Messages taken one by one from a read, the last of them cut short:
 * each arrives whole and in order, the cut one once the rest of it is
 * read (what is left of a read is kept across the next one).
 */
static void
test_split(void)
{
	struct mh_imsgbuf	b;
	struct mh_imsg	im;
	struct mh_imsg_hdr	h;
	unsigned char	s[3 * (sizeof(h) + 8)], *m;
	size_t		one = sizeof(h) + 8;
	int		sp[2], i, good = 1;

	for (i = 0; i < 3; i++) {
		m = s + i * one;
		memset(&h, 0, sizeof(h));
		h.type = 20 + i;
		h.len = one;
		memcpy(m, &h, sizeof(h));
		memset(m + sizeof(h), 'a' + i, 8);
	}
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	write(sp[0], s, sizeof(s) - 5);
	mh_imsg_read(&b);
	for (i = 0; i < 2; i++) {
		if (mh_imsg_get(&b, &im) <= 0 || im.hdr.type != 20U + i ||
		    im.data == NULL || memcmp(im.data, s + i * one +
		    sizeof(h), 8) != 0)
			good = 0;
		mh_imsg_free(&im);
	}
	ok(good, "the whole messages of a read arrive in order");
	ok(mh_imsg_get(&b, &im) == 0, "the cut one waits");
	write(sp[0], s + sizeof(s) - 5, 5);
	ok(get_one(&b, &im) > 0 && im.hdr.type == 22 && im.data != NULL &&
	    memcmp(im.data, s + 2 * one + sizeof(h), 8) == 0,
	    "the cut one arrives whole with the rest of it");
	mh_imsg_free(&im);
	ok(mh_imsg_get(&b, &im) == 0, "nothing more");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

static void
test_hostile(void)
{
	struct mh_imsgbuf	b;
	struct mh_imsg	im;
	struct mh_imsg_hdr	h;
	int		sp[2];

	/* a length that is too large */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	memset(&h, 0, sizeof(h));
	h.type = 1;
	h.len = MH_IMSG_MAXSIZE + 1;
	write(sp[0], &h, sizeof(h));
	mh_imsg_read(&b);
	errno = 0;
	ok(mh_imsg_get(&b, &im) == -1 && errno == EBADMSG,
	    "oversized length refused");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);

	/* a length smaller than the header */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	h.len = 3;
	write(sp[0], &h, sizeof(h));
	mh_imsg_read(&b);
	ok(mh_imsg_get(&b, &im) == -1, "undersized length refused");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);

	/* claims an fd that never came */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	h.len = sizeof(h);
	h.flags = MH_IMSGF_HASFD;
	write(sp[0], &h, sizeof(h));
	mh_imsg_read(&b);
	ok(mh_imsg_get(&b, &im) == -1, "a missing fd is an error");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);

	/* unknown flags */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	h.flags = 0x8000;
	write(sp[0], &h, sizeof(h));
	mh_imsg_read(&b);
	ok(mh_imsg_get(&b, &im) == -1, "unknown flags refused");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);

	/* a partial header waits */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	h.flags = 0;
	h.len = sizeof(h) + 4;
	write(sp[0], &h, sizeof(h));
	mh_imsg_read(&b);
	ok(mh_imsg_get(&b, &im) == 0, "an incomplete message is not delivered");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}
/*
 * The receiver is out of descriptors: the kernel drops the one passed
 * (MSG_CTRUNC).  Its message arrives with fd -1, the stream goes on and
 * the next passed descriptor arrives with its own message.
 */
static void
test_fd_exhausted(void)
{
	struct mh_imsgbuf	a, b;
	struct mh_imsg	im;
	struct rlimit	rl, old;
	int		sp[2], fds[2], spare, n, good;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	fds[0] = open("/dev/null", O_RDONLY);
	fds[1] = open("/dev/null", O_RDONLY);
	mh_imsg_compose(&a, 5, 1, 0, fds[0], "lost", 4);
	mh_imsg_compose(&a, 6, 2, 0, -1, "after", 5);
	ok(mh_imsg_flush(&a) == 0, "a message with an fd written");
	/* no descriptor left for the receiver */
	getrlimit(RLIMIT_NOFILE, &old);
	spare = open("/dev/null", O_RDONLY);
	rl = old;
	rl.rlim_cur = spare;
	setrlimit(RLIMIT_NOFILE, &rl);
	n = mh_imsg_read(&b);
	setrlimit(RLIMIT_NOFILE, &old);
	close(spare);
	ok(n > 0, "the read succeeds although the fd could not be installed");
	good = mh_imsg_get(&b, &im) > 0 && im.hdr.type == 5 && im.fd == -1;
	mh_imsg_free(&im);
	ok(good, "its message arrives with fd -1");
	good = get_one(&b, &im) > 0 && im.hdr.type == 6 && im.fd == -1;
	mh_imsg_free(&im);
	ok(good, "the stream goes on");
	mh_imsg_compose(&a, 7, 3, 0, fds[1], "next", 4);
	mh_imsg_flush(&a);
	good = get_one(&b, &im) > 0 && im.hdr.type == 7 && im.fd != -1;
	if (im.fd != -1)
		close(im.fd);
	mh_imsg_free(&im);
	ok(good, "the next fd arrives with its own message");
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

/*
 * A peer sends MH_IMSG_MAXFDS + 1 descriptors ahead of the reader's
 * gets: before, the last was closed unmarked and its message, got later,
 * failed EBADMSG (a corrupt stream, said of a well-formed one); now the
 * read that overflows fails ETOOMANYREFS, and nothing is handed out.
 */
static void
test_fd_overflow(void)
{
	struct mh_imsgbuf	a, b;
	struct mh_imsg	im;
	int		sp[2], i, fd, reads = 0, err = 0;
	ssize_t		n = 1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&a, sp[0]);
	mh_imsg_init(&b, sp[1]);
	for (i = 0; i <= MH_IMSG_MAXFDS; i++) {
		if ((fd = open("/dev/null", O_RDONLY)) == -1)
			abort();
		mh_imsg_compose(&a, 5, i, 0, fd, "fd", 2);
	}
	ok(mh_imsg_flush(&a) == 0, "%d messages with an fd each written",
	    MH_IMSG_MAXFDS + 1);
	/* a stream read stops at each descriptor: a read each */
	while (reads <= MH_IMSG_MAXFDS && (n = mh_imsg_read(&b)) > 0)
		reads++;
	if (n == -1)
		err = errno;
	ok(n == -1 && err == ETOOMANYREFS && reads == MH_IMSG_MAXFDS,
	    "the read past %d waiting fails ETOOMANYREFS (%zd, %s, after %d)",
	    MH_IMSG_MAXFDS, n, strerror(err), reads);
	errno = 0;
	ok(mh_imsg_get(&b, &im) == -1 && errno == EBADMSG,
	    "and the stream is corrupt from there");
	mh_imsg_clear(&a);
	mh_imsg_clear(&b);
	ok(b.nfds == 0, "the waiting fds are closed");
	close(sp[0]);
	close(sp[1]);
}

/* bytes with one descriptor beside them, as a hostile peer may send */
static void
send_with_fd(int s, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	if (sendmsg(s, &msg, 0) != (ssize_t)len)
		abort();
}

/*
 * A descriptor beside a message that does not say HASFD: before, imsg
 * kept it and handed it to the next message that says HASFD (the
 * peer's own descriptor for that one came after); now the stream is
 * corrupt and nothing is handed out.  A descriptor sent with a header
 * cut short is its message's, and arrives with it.
 */
static void
test_fd_stray(void)
{
	struct mh_imsgbuf	b;
	struct mh_imsg	im;
	struct mh_imsg_hdr	h;
	int		sp[2], fd;
	ssize_t		n;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	memset(&h, 0, sizeof(h));
	h.type = 1;
	h.len = sizeof(h);
	fd = open("/dev/null", O_RDONLY);
	send_with_fd(sp[0], &h, sizeof(h), fd);
	close(fd);
	h.type = 2;
	h.flags = MH_IMSGF_HASFD;
	fd = open("/dev/null", O_RDONLY);
	send_with_fd(sp[0], &h, sizeof(h), fd);
	close(fd);
	mh_imsg_read(&b);
	mh_imsg_read(&b);
	errno = 0;
	n = mh_imsg_get(&b, &im);
	if (n > 0) {
		/* the old way: 1 without, then 2 with the stray one */
		mh_imsg_free(&im);
		if (mh_imsg_get(&b, &im) > 0 && im.fd != -1)
			close(im.fd);
		mh_imsg_free(&im);
	}
	ok(n == -1 && errno == EBADMSG,
	    "a descriptor beside a message without HASFD: corrupt stream");
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);

	/* the descriptor with the first 8 bytes of its message's header */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	mh_imsg_init(&b, sp[1]);
	fd = open("/dev/null", O_RDONLY);
	send_with_fd(sp[0], &h, 8, fd);
	close(fd);
	n = mh_imsg_read(&b);
	ok(n == 8 && mh_imsg_get(&b, &im) == 0, "a cut header waits");
	write(sp[0], (char *)&h + 8, sizeof(h) - 8);
	n = get_one(&b, &im);
	ok(n > 0 && im.hdr.type == 2 && im.fd != -1,
	    "its descriptor arrives with it");
	if (n > 0 && im.fd != -1)
		close(im.fd);
	mh_imsg_free(&im);
	mh_imsg_clear(&b);
	close(sp[0]);
	close(sp[1]);
}

/* every type has its own name in the logs (a new type without one logs
 * as "unknown") */
static void
test_names(void)
{
	uint32_t	 t, u;
	int		 named = 1, distinct = 1;

	for (t = 0; t < IMSG_TYPE_MAX; t++) {
		if (strcmp(imsg_type_name(t), "unknown") == 0) {
			printf("# type %u has no name\n", t);
			named = 0;
		}
		for (u = 0; u < t; u++)
			if (strcmp(imsg_type_name(t), imsg_type_name(u)) == 0)
				distinct = 0;
	}
	ok(named, "every imsg type has a name");
	ok(distinct, "no two imsg types share a name");
	is_str(imsg_type_name(IMSG_TYPE_MAX), "unknown", "past the last type");
}

int
main(void)
{
	test_names();
	test_basic();
	test_fd();
	test_bytes();
	test_fd_exhausted();
	test_fd_overflow();
	test_fd_stray();
	test_hostile();
	test_split();
	test_wiped();
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * imsg: framed messages with fd passing (see mh_imsg.h).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mh_imsg.h"

#define IOV_BATCH	64

void
mh_imsg_init(struct mh_imsgbuf *ibuf, int fd)
{
	memset(ibuf, 0, sizeof(*ibuf));
	TAILQ_INIT(&ibuf->w.bufs);
	ibuf->w.fd = fd;
	ibuf->fd = fd;
	ibuf->pid = getpid();
}

static int
rbuf_reserve(struct mh_imsgbuf *ibuf, size_t want)
{
	unsigned char	*p;
	size_t		 nsize;

	if (ibuf->rsize - ibuf->rlen >= want)
		return (0);
	nsize = ibuf->rsize ? ibuf->rsize : 65536;
	while (nsize - ibuf->rlen < want)
		nsize *= 2;
	if (nsize > MH_IMSG_MAXSIZE * 2 + 65536) {
		errno = ERANGE;
		return (-1);
	}
	/* the old buffer's bytes (a config, its secrets) not left freed */
	if ((p = recallocarray(ibuf->rbuf, ibuf->rsize, nsize, 1)) == NULL)
		return (-1);
	ibuf->rbuf = p;
	ibuf->rsize = nsize;
	return (0);
}

/*
 * How many of the descriptors received the unread bytes may claim: one
 * for each message whose header says HASFD, and one for a header cut
 * short at the end (a descriptor travels with its message's first bytes,
 * and a read stops at it, so it never comes before them).
 */
static int
fds_claimed(const struct mh_imsgbuf *ibuf)
{
	struct mh_imsg_hdr	 hdr;
	size_t			 off = ibuf->roff, left = ibuf->rlen;
	int			 n = 0;

	while (left >= MH_IMSG_HDRSZ) {
		memcpy(&hdr, ibuf->rbuf + off, sizeof(hdr));
		if (hdr.flags & MH_IMSGF_HASFD)
			n++;
		/* what follows an unfinished (or corrupt) message is unknown */
		if (hdr.len < MH_IMSG_HDRSZ || hdr.len > left)
			return (n);
		off += hdr.len;
		left -= hdr.len;
	}
	if (left > 0)
		n++;
	return (n);
}

/*
 * Read what is there.  Returns bytes read, 0 on EOF, -1 on error
 * (EAGAIN included; the caller checks errno).
 */
ssize_t
mh_imsg_read(struct mh_imsgbuf *ibuf)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 16)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	ssize_t		 n;
	int		*fdp, i, nfd, got = 0, over = 0;

	/* what is left of the last read (part of a message) to the front */
	if (ibuf->roff > 0) {
		memmove(ibuf->rbuf, ibuf->rbuf + ibuf->roff, ibuf->rlen);
		/* its copy left behind (mh_imsg_get wiped the rest) */
		explicit_bzero(ibuf->rbuf + ibuf->rlen, ibuf->roff);
		ibuf->roff = 0;
	}
	if (rbuf_reserve(ibuf, 65536) == -1)
		return (-1);
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = ibuf->rbuf + ibuf->rlen;
	iov.iov_len = ibuf->rsize - ibuf->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	while ((n = recvmsg(ibuf->fd, &msg, MSG_CMSG_CLOEXEC)) == -1) {
		if (errno != EINTR)
			return (-1);
	}
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fdp = (int *)CMSG_DATA(cmsg);
		got += nfd;
		for (i = 0; i < nfd; i++) {
			if (!ibuf->nofds && ibuf->nfds < MH_IMSG_MAXFDS)
				ibuf->fds[ibuf->nfds++] = fdp[i];
			else {
				close(fdp[i]);
				over = 1;
			}
		}
	}
	/*
	 * A descriptor past the MH_IMSG_MAXFDS waiting: the read fails
	 * with what happened, ETOOMANYREFS (an extra closed unmarked would
	 * fail a later message that carries one, for no reason the log
	 * could give); one from a peer that sends none (a control client)
	 * fails it EBADMSG.  Either way the stream is lost.
	 */
	if (over) {
		ibuf->stray = 1;
		errno = ibuf->nofds ? EBADMSG : ETOOMANYREFS;
		return (-1);
	}
	/*
	 * A descriptor that could not be installed (EMFILE) is dropped by
	 * the kernel, which says MSG_CTRUNC.  The bytes are all there: the
	 * message that carried it gets -1 and its receiver fails that one
	 * request.  A sender puts one descriptor in a sendmsg and a stream
	 * read stops at it, so one is missing.
	 */
	if ((msg.msg_flags & MSG_CTRUNC) && got == 0 && !ibuf->nofds &&
	    ibuf->nfds < MH_IMSG_MAXFDS)
		ibuf->fds[ibuf->nfds++] = -1;
	ibuf->rlen += n;
	/*
	 * A descriptor beside a message that does not say HASFD would
	 * be handed to the next message that does: the stream is corrupt
	 * (mh_imsg_get says so).
	 */
	if (ibuf->nfds > 0 && ibuf->nfds > fds_claimed(ibuf))
		ibuf->stray = 1;
	return (n);
}

/*
 * Take one complete message out of the read buffer.  Returns its size,
 * 0 when none is complete, -1 (errno EBADMSG) when the stream is corrupt:
 * the caller must treat that peer as hostile.
 */
ssize_t
mh_imsg_get(struct mh_imsgbuf *ibuf, struct mh_imsg *imsg)
{
	struct mh_imsg_hdr	hdr;
	size_t		datalen;

	if (ibuf->stray) {
		errno = EBADMSG;
		return (-1);
	}
	if (ibuf->rlen < MH_IMSG_HDRSZ)
		return (0);
	memcpy(&hdr, ibuf->rbuf + ibuf->roff, sizeof(hdr));
	/* refused at its header: no buffer grows for it */
	if (hdr.len < MH_IMSG_HDRSZ || hdr.len > (ibuf->maxsize != 0 &&
	    ibuf->maxsize < MH_IMSG_MAXSIZE ? ibuf->maxsize :
	    MH_IMSG_MAXSIZE) ||
	    (hdr.flags & ~MH_IMSGF_HASFD) != 0) {
		errno = EBADMSG;
		return (-1);
	}
	if (hdr.len > ibuf->rlen)
		return (0);
	datalen = hdr.len - MH_IMSG_HDRSZ;
	imsg->hdr = hdr;
	imsg->fd = -1;
	imsg->data = NULL;
	if (datalen > 0) {
		/* one spare NUL so text payloads can be checked safely */
		if ((imsg->data = malloc(datalen + 1)) == NULL)
			return (-1);
		memcpy(imsg->data, ibuf->rbuf + ibuf->roff + MH_IMSG_HDRSZ,
		    datalen);
		((char *)imsg->data)[datalen] = '\0';
		/*
		 * no copy left in the read buffer: a config's secrets (the
		 * cluster's password, keys) stay only where they are kept
		 */
		explicit_bzero(ibuf->rbuf + ibuf->roff + MH_IMSG_HDRSZ,
		    datalen);
	}
	if (hdr.flags & MH_IMSGF_HASFD) {
		if (ibuf->nfds == 0) {
			if (imsg->data != NULL)
				freezero(imsg->data, datalen + 1);
			errno = EBADMSG;
			return (-1);
		}
		imsg->fd = ibuf->fds[0];
		memmove(ibuf->fds, ibuf->fds + 1,
		    (ibuf->nfds - 1) * sizeof(int));
		ibuf->nfds--;
	}
	/* not moved down for each message: a read moves what is left */
	ibuf->rlen -= hdr.len;
	ibuf->roff = ibuf->rlen == 0 ? 0 : ibuf->roff + hdr.len;
	return (hdr.len);
}

int
mh_imsg_compose2(struct mh_imsgbuf *ibuf, uint32_t type, uint32_t peerid,
    pid_t pid, int fd, const void *d1, size_t l1, const void *d2, size_t l2)
{
	struct mh_imsg_hdr	 hdr;
	struct mh_ibuf	*b;
	size_t		 len = MH_IMSG_HDRSZ + l1 + l2;

	if (len > MH_IMSG_MAXSIZE) {
		errno = ERANGE;
		return (-1);
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (-1);
	if ((b->buf = malloc(len)) == NULL) {
		free(b);
		return (-1);
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = len;
	hdr.peerid = peerid;
	hdr.pid = pid ? (uint32_t)pid : (uint32_t)ibuf->pid;
	hdr.flags = fd >= 0 ? MH_IMSGF_HASFD : 0;
	memcpy(b->buf, &hdr, sizeof(hdr));
	if (l1)
		memcpy(b->buf + MH_IMSG_HDRSZ, d1, l1);
	if (l2)
		memcpy(b->buf + MH_IMSG_HDRSZ + l1, d2, l2);
	b->size = b->wpos = len;
	b->fd = fd;
	TAILQ_INSERT_TAIL(&ibuf->w.bufs, b, entry);
	ibuf->w.queued++;
	ibuf->w.bytes += len;
	return (1);
}

int
mh_imsg_compose(struct mh_imsgbuf *ibuf, uint32_t type, uint32_t peerid,
    pid_t pid, int fd, const void *data, size_t datalen)
{
	return (mh_imsg_compose2(ibuf, type, peerid, pid, fd, data, datalen,
	    NULL, 0));
}

/*
 * A buffer sent (or dropped) is wiped as it is freed, as a read one is
 * (mh_imsg_free): what the parent sends carries secrets (a DKIM key to
 * the signer, a config's), which must not stay in freed memory.
 */
static void
ibuf_dequeue(struct mh_msgbuf *mb, struct mh_ibuf *b)
{
	TAILQ_REMOVE(&mb->bufs, b, entry);
	mb->bytes -= b->wpos - b->rpos;
	if (b->fd != -1)
		close(b->fd);
	freezero(b->buf, b->size);
	free(b);
	mb->queued--;
}

static void
mh_msgbuf_drain(struct mh_msgbuf *mb, size_t n)
{
	struct mh_ibuf	*b;
	size_t		 left;

	while (n > 0 && (b = TAILQ_FIRST(&mb->bufs)) != NULL) {
		left = b->wpos - b->rpos;
		if (n >= left) {
			n -= left;
			ibuf_dequeue(mb, b);
		} else {
			b->rpos += n;
			mb->bytes -= n;
			n = 0;
		}
	}
}

/*
 * One sendmsg: the bytes of consecutive queued buffers, and the fd of the
 * first buffer if it carries one (a buffer with an fd always starts a
 * write, so the fd travels with its message's first bytes).
 * Returns 1 when something was written, 0 on EOF, -1 on error.
 */
int
mh_msgbuf_write(struct mh_msgbuf *mb)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct iovec	 iov[IOV_BATCH];
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct mh_ibuf	*b, *first;
	ssize_t		 n;
	int		 i = 0;

	if ((first = TAILQ_FIRST(&mb->bufs)) == NULL)
		return (1);
	memset(&msg, 0, sizeof(msg));
	TAILQ_FOREACH(b, &mb->bufs, entry) {
		if (i == IOV_BATCH || (b != first && b->fd != -1))
			break;
		iov[i].iov_base = b->buf + b->rpos;
		iov[i].iov_len = b->wpos - b->rpos;
		i++;
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	if (first->fd != -1 && first->rpos == 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = &cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &first->fd, sizeof(int));
	}
	while ((n = sendmsg(mb->fd, &msg, MSG_NOSIGNAL)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS)
			errno = EAGAIN;
		return (-1);
	}
	if (n == 0) {
		errno = 0;
		return (0);
	}
	/* the fd went with the first bytes: close our copy now */
	if (first->fd != -1 && first->rpos == 0) {
		close(first->fd);
		first->fd = -1;
	}
	mh_msgbuf_drain(mb, n);
	return (1);
}

/* write everything queued, blocking */
int
mh_imsg_flush(struct mh_imsgbuf *ibuf)
{
	while (ibuf->w.queued > 0)
		if (mh_msgbuf_write(&ibuf->w) <= 0 && errno != EAGAIN)
			return (-1);
	return (0);
}

void
mh_imsg_free(struct mh_imsg *imsg)
{
	if (imsg->data != NULL)
		freezero(imsg->data, imsg->hdr.len - MH_IMSG_HDRSZ);
	imsg->data = NULL;
}

void
mh_imsg_clear(struct mh_imsgbuf *ibuf)
{
	struct mh_ibuf	*b;

	while ((b = TAILQ_FIRST(&ibuf->w.bufs)) != NULL)
		ibuf_dequeue(&ibuf->w, b);
	while (ibuf->nfds > 0)
		close(ibuf->fds[--ibuf->nfds]);
	freezero(ibuf->rbuf, ibuf->rsize);	/* may hold an unread message */
	ibuf->rbuf = NULL;
	ibuf->rsize = ibuf->roff = ibuf->rlen = 0;
}

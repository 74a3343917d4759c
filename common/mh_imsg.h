/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Framed messages with file descriptor passing over a unix socket pair.
 * Linux has no system imsg, so this is our own implementation shaped
 * like OpenBSD's, with an mh_ prefix on every name so that it cannot
 * collide with libutil's <imsg.h>.
 */
#ifndef MH_IMSG_H
#define MH_IMSG_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#define MH_IMSG_HDRSZ	sizeof(struct mh_imsg_hdr)
#define MH_IMSG_MAXSIZE		(1024 * 1024)	/* header included */
#define MH_IMSG_MAXFDS		64		/* received, not yet claimed */
#define MH_IMSGF_HASFD		0x0001

struct mh_ibuf {
	TAILQ_ENTRY(mh_ibuf)	 entry;
	unsigned char		*buf;
	size_t			 size;
	size_t			 wpos;
	size_t			 rpos;
	int			 fd;
};

struct mh_msgbuf {
	TAILQ_HEAD(, mh_ibuf)	 bufs;
	uint32_t		 queued;
	size_t			 bytes;		/* of bufs, not written yet */
	int			 fd;
};

struct mh_imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;
	uint16_t	 flags;
	uint16_t	 pad;
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct mh_imsgbuf {
	struct mh_msgbuf	 w;
	int		 fd;
	pid_t		 pid;
	unsigned char	*rbuf;
	size_t		 rsize;
	size_t		 roff;		/* where the unread bytes begin */
	size_t		 rlen;		/* how many there are */
	int		 fds[MH_IMSG_MAXFDS];
	int		 nfds;
	int		 nofds;		/* a peer that sends none (a
					   control client): one is EBADMSG */
	size_t		 maxsize;	/* a message, header included, at
					   most: 0 is MH_IMSG_MAXSIZE */
	int		 stray;		/* it sent a descriptor that no
					   message says it carries */
};

struct mh_imsg {
	struct mh_imsg_hdr	 hdr;
	int		 fd;
	void		*data;
};

#define MH_IMSG_DATA_SIZE(im)	((size_t)(im)->hdr.len - MH_IMSG_HDRSZ)
/*
 * A message sent with a descriptor that the receiver, out of descriptors,
 * could not take (mh_imsg_read): not a malformed message; the request it
 * carried fails, that one alone.
 */
#define MH_IMSG_FD_LOST(im)	\
	(((im)->hdr.flags & MH_IMSGF_HASFD) && (im)->fd == -1)

void	mh_imsg_init(struct mh_imsgbuf *, int);
ssize_t	mh_imsg_read(struct mh_imsgbuf *);
ssize_t	mh_imsg_get(struct mh_imsgbuf *, struct mh_imsg *);
int	mh_imsg_compose(struct mh_imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, size_t);
int	mh_imsg_compose2(struct mh_imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, size_t, const void *, size_t);
int	mh_imsg_flush(struct mh_imsgbuf *);
void	mh_imsg_free(struct mh_imsg *);
void	mh_imsg_clear(struct mh_imsgbuf *);
int	mh_msgbuf_write(struct mh_msgbuf *);

#endif /* MH_IMSG_H */

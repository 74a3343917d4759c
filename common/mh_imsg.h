/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Framed messages with file descriptor passing over a unix socket pair.
 * Linux has no system imsg, so this is our own implementation with the
 * OpenBSD API shape (imsg_init, imsg_read, imsg_get, imsg_compose,
 * msgbuf_write, imsg_flush, imsg_free).
 */
#ifndef MH_IMSG_H
#define MH_IMSG_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#define IMSG_HEADER_SIZE	sizeof(struct imsg_hdr)
#define MAX_IMSGSIZE		(1024 * 1024)	/* header included */
#define IMSG_MAXFDS		64		/* received, not yet claimed */
#define IMSGF_HASFD		0x0001

struct ibuf {
	TAILQ_ENTRY(ibuf)	 entry;
	unsigned char		*buf;
	size_t			 size;
	size_t			 wpos;
	size_t			 rpos;
	int			 fd;
};

struct msgbuf {
	TAILQ_HEAD(, ibuf)	 bufs;
	uint32_t		 queued;
	int			 fd;
};

struct imsg_hdr {
	uint32_t	 type;
	uint32_t	 len;
	uint16_t	 flags;
	uint16_t	 pad;
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct imsgbuf {
	struct msgbuf	 w;
	int		 fd;
	pid_t		 pid;
	unsigned char	*rbuf;
	size_t		 rsize;
	size_t		 rlen;
	int		 fds[IMSG_MAXFDS];
	int		 nfds;
};

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;
	void		*data;
};

#define IMSG_DATA_SIZE(im)	((size_t)(im)->hdr.len - IMSG_HEADER_SIZE)

void	imsg_init(struct imsgbuf *, int);
ssize_t	imsg_read(struct imsgbuf *);
ssize_t	imsg_get(struct imsgbuf *, struct imsg *);
int	imsg_compose(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, size_t);
int	imsg_compose2(struct imsgbuf *, uint32_t, uint32_t, pid_t, int,
	    const void *, size_t, const void *, size_t);
int	imsg_flush(struct imsgbuf *);
void	imsg_free(struct imsg *);
void	imsg_clear(struct imsgbuf *);
int	msgbuf_write(struct msgbuf *);

#endif /* MH_IMSG_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Processes and the imsg channels between them.
 *
 * The parent forks and re-execs mailhookd with "-P name" for each child;
 * fd PROC_PARENT_FD of the child is its socket to the parent.  Channels to
 * other children arrive later as IMSG_SETUP_PEER fds, only along the edges
 * that proc_edges() allows.
 */
#ifndef MH_PROC_H
#define MH_PROC_H

#include <sys/types.h>
#include <event2/event.h>
#include <jansson.h>

#include "mh_imsg.h"
#include "mailhook.h"

#define PROC_PARENT_FD	3

struct mproc;
typedef void (*mproc_handler)(struct mproc *, struct mh_imsg *);

struct mproc {
	enum mh_proc	 proc;		/* who is at the other end */
	const char	*name;
	struct mh_imsgbuf	 ibuf;
	struct event	*ev;		/* reading, persistent */
	struct event	*wev;		/* writing, while the socket is full */
	int		 dirty;		/* on the list to flush */
	TAILQ_ENTRY(mproc) dirty_entry;
	mproc_handler	 handler;
	void		*arg;
	int		 closed;
	void		 (*lost)(struct mproc *);	/* peer went away */
	/* what waited for room in its socket (mproc_stalled) is written:
	 * the peer reads again; NULL: nothing to do then */
	void		 (*drained)(struct mproc *);
};

extern struct event_base *proc_base;	/* this process's event base */
/* channels, NULL where no edge */
extern struct mproc	 *proc_peer[PROC_MAX];
extern enum mh_proc	  proc_self;

const char	*proc_name(enum mh_proc);
int		 proc_byname(const char *);		/* -1 if unknown */
/* 1 if a channel may exist */
int		 proc_edge(enum mh_proc, enum mh_proc);

struct mproc	*mproc_new(int fd, enum mh_proc, mproc_handler);
void		 mproc_free(struct mproc *);
void		 mproc_compose(struct mproc *, uint32_t type, uint32_t peerid,
		    int fd, const void *, size_t);
void		 mproc_compose2(struct mproc *, uint32_t type, uint32_t peerid,
		    int fd, const void *, size_t, const void *, size_t);
void		 mproc_send_json(struct mproc *, uint32_t type, uint32_t peerid,
		    const json_t *);
/* json as text of at most a message's data less room, else NULL (logged) */
char		*mproc_json_fits(const json_t *, uint32_t type, size_t room,
		    size_t *len);
/* a control reply; one too large for a message becomes an error */
void		 mproc_send_reply(struct mproc *, uint32_t type,
		    uint32_t peerid, int fd, const json_t *);
void		 mproc_update(struct mproc *);
void		 mproc_flush_now(struct mproc *);
/* 1 while what was composed for the peer waits for room in its socket:
 * the peer has read nothing for that long (stopped, or that busy) */
int		 mproc_stalled(struct mproc *);
void		 mproc_drain(struct mproc *);

/* payload checks: a wrong size from a peer process is fatal */
void		*msg_get(struct mproc *, struct mh_imsg *, size_t);
/* fatal if malformed */
json_t		*msg_get_json(struct mproc *, struct mh_imsg *);
const char	*imsg_type_name(uint32_t);

/*
 * Each process's entry point, called by mailhookd/mailhookd.c (the parent
 * without -P, a child with -P name).  A new process adds its line here.
 */
__attribute__((noreturn)) void	parent_main(void);
__attribute__((noreturn)) void	smtpd_main(void);
__attribute__((noreturn)) void	authd_main(void);
__attribute__((noreturn)) void	relayd_main(void);
__attribute__((noreturn)) void	hookd_main(void);
__attribute__((noreturn)) void	signer_main(void);
__attribute__((noreturn)) void	webd_main(void);


#endif /* MH_PROC_H */

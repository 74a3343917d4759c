/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The life of a child process: receive the config, confine, serve.
 * Each process fills a struct child_ops and calls child_run().
 */
#ifndef MH_CHILD_H
#define MH_CHILD_H

#include <jansson.h>

#include "ctlcmd.h"
#include "proc.h"

struct child_ops {
	enum mh_proc	 proc;
	/* before the sandbox: open what the process needs, libraries */
	void		 (*preinit)(const struct config *);
	/* chroot directory for this config, NULL: none */
	const char	*(*chroot)(const struct config *);
	/*
	 * first config and every reload; the pointer stays valid until the
	 * next configure() returns (config_ref() to keep it longer)
	 */
	void		 (*configure)(struct config *);
	/* every peer channel is there: start serving */
	void		 (*start)(void);
	/* SIGTERM or SIGINT: finish what must not be lost, then the process
	 * exits; NULL: nothing to finish */
	void		 (*stop)(void);
	/*
	 * SIGTERM, SIGINT or a peer gone, before stop: 1 when the loop
	 * must run on a little (a bounded time) to finish what is under
	 * way, and child_drained() is called then; 0 (or NULL): stop now
	 */
	int		 (*drain)(void);
	/* messages from peers other than the parent */
	mproc_handler	 peer_dispatch;
	/* messages from the parent that child.c does not handle, NULL: none */
	mproc_handler	 parent_dispatch;
	/* IMSG_SETUP_LISTENER (smtpd only) */
	void		 (*listener)(int fd, uint32_t id);
	/* a control command (ctlcmd.h) with its words (argv, JSON array),
	 * from root or not; returns the reply (new reference), NULL: unknown */
	json_t		*(*control)(const struct ctl_cmd *, const json_t *argv,
			    int root);
};

extern struct config	*child_conf;
extern int		 child_chrooted;	/* 1: "/" is the chroot dir */
extern int		 child_monitoring;	/* an "mhctl monitor" listens */

__attribute__((noreturn)) void child_run(const struct child_ops *);
/* the spool's empty directory, a chroot for processes that need no file */
const char	*child_empty_root(const struct config *);
/*
 * a spool owner (hookd, relayd) answers smtpd's commit: IMSG_SPOOL_RESULT;
 * delivered: the message was handed on before the answer (mode sync)
 */
void	child_spool_result(uint64_t reqid, const char *msgid, int code,
	    const char *enhanced, const char *text, int delivered);
/* the same, to smtpd or webd (a submission by the API) */
void	child_spool_result_to(int proc, uint64_t reqid, const char *msgid,
	    int code, const char *enhanced, const char *text, int delivered);
/*
 * from a control() callback: fd (read-only, given away) goes with the
 * reply to mhctl (show message ID --raw: the queued message); -1, fd
 * closed, if it is not a regular file (answer an error then: the parent
 * takes any other descriptor for a hostile child's and stops)
 */
int	child_control_fd(int fd);
#define CTL_NOT_A_FILE	"the message's file in the spool is not a regular " \
			"file: it cannot be shown"
/*
 * show queue: each of the two lists (relayd's, hookd's) takes at most
 * this much JSON, so that the parent's merge of both fits in one
 * message between processes (MH_IMSG_MAXSIZE)
 */
#define CTL_LIST_BYTES	(MH_IMSG_MAXSIZE / 2 - 64 * 1024)
/*
 * show metrics: the samples of one process, and of all of them in the
 * parent's merge, take at most this much JSON (one message, with room)
 */
#define CTL_METRICS_BYTES (MH_IMSG_MAXSIZE - 64 * 1024)
int	ctl_list_full(size_t);
void	ctl_list_add(json_t *list, json_t *o, size_t *bytes, size_t max,
	    size_t *unlisted);
void	ctl_list_append(json_t *list, json_t *o, size_t *bytes,
	    size_t *unlisted);
/*
 * from a control() callback whose answer must wait (for the disk): the
 * callback returns NULL, and child_control_answer(l, reply) sends the
 * reply (a reference it takes) later, once.
 */
struct ctl_later;
struct ctl_later *child_control_later(void);
void	child_control_answer(struct ctl_later *, json_t *reply);
/* what a drain waited for is done (or its time is up): stop, exit */
__attribute__((noreturn)) void child_drained(void);
/*
 * A drain's wait, for ops->drain: busy() is asked every 20 ms what is
 * left; at 0, or after secs seconds, late(what is left) is called (if
 * not NULL) and child_drained().  0 if the wait cannot be set up.
 */
int	child_drain_wait(int secs, int (*busy)(void), void (*late)(int));
/* send an event to the parent for "mhctl monitor" */
void	child_monitor(const json_t *);

#endif /* MH_CHILD_H */

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The parent process: config, listeners, children, control socket.
 */
#ifndef MH_MAILHOOKD_H
#define MH_MAILHOOKD_H

#include <sys/types.h>
#include <time.h>
#include <jansson.h>

#include "proc.h"

struct child {
	enum mh_proc	 proc;
	pid_t		 pid;
	time_t		 started;
	int		 ready;
	int		 conf_wait;	/* a reload's config not applied */
	char		 confinement[256];
	struct mproc	*mp;
};

struct parent_opts {
	const char	*conffile;
	const char	*self;		/* path of our binary, for re-exec */
	const char	*notify;	/* -N: the service manager's socket */
	int		 debug;
	int		 verbose;
	int		 testing;	/* -X: debug triggers allowed */
};

extern struct child		 children[PROC_MAX];
extern struct config		*parent_conf;
extern struct parent_opts	 parent_opts;
extern time_t			 parent_started;

/* ctl: the control client to answer (control_reload_done), 0 none */
int	parent_reload(char *msg, size_t len, uint32_t ctl);
/* what the last reload left for the next restart ("" if nothing) */
const char *parent_restart_pending(void);
int	parent_stopping(void);
/* a child's config, with the secrets that child uses (CONF_*) */
void	parent_send_config(struct mproc *, const struct config *, int flags);
int	child_conf_flags(enum mh_proc);
void	parent_verbose(int);
void	parent_monitor(int);

/* control.c */
void	control_init(const char *path, const char *group);
/* the control socket's directory made; unsafe: fatal, check: said, -1 */
int	control_dir(const char *path, int check);
void	control_child_reply(enum mh_proc, struct mh_imsg *);
void	control_child_event(enum mh_proc, struct mh_imsg *);
void	control_scrape(uint32_t);	/* webd's IMSG_METRICS_REQ */
struct cluster_link;
void	control_cluster_link(const struct cluster_link *);	/* relayd's */
void	control_cleanup(void);
/* show queue, show message: the two processes' replies (by name) as one */
json_t	*control_merge(json_t *replies);
void	 control_metrics_check(json_t *procs);
/* a reload's answer: err "" when every child applied it */
void	control_reload_done(uint32_t, const char *err, const char *note);

/* notify.c: the service manager's readiness protocol (sd_notify) */
void	notify_init(const char *path);
void	notify_ready(const char *status);
void	notify_reloading(const char *status);
void	notify_stopping(const char *status);

/* maildir.c: hookd's IMSG_FALLBACK_MAILDIR */
void	maildir_fallback(struct mproc *, struct mh_imsg *);
/* mailhookd -n: each fallback maildir's path, nothing made; -1 if refused */
int	maildir_check(const struct config *);
/* parent.c: the spool tree made, an unsafe one fatal; check: said, -1 */
int	spool_setup(const struct config *, int check);
/* what a start refuses: fatalx; check (mailhookd -n): said, -1 */
int	start_refuse(int check, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* MH_MAILHOOKD_H */

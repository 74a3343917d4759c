/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The parent: runs as root, kept small.  It parses the config, prepares
 * the spool, binds the listeners, starts the children, hands out the
 * channels between them, watches them and serves the control socket.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proc.h"
#include "mailhookd.h"
#include "redis_link.h"
#include "seal.h"

extern char		**environ;

struct child		 children[PROC_MAX];
struct config		*parent_conf;
struct parent_opts	 parent_opts;
time_t			 parent_started;

static int		 shutting_down;
static int		 announced;	/* READY=1 sent to the service manager */
static int		 exit_status;
static struct event	*ev_sigterm, *ev_sigint, *ev_sighup, *ev_sigchld;
static struct event	*ev_deadline;
static struct event	*ev_held;	/* child_report's bound */
/* children reaped (pid 0), their end not reported yet: child_report */
static int		 held[PROC_MAX], held_status[PROC_MAX];
static pid_t		 held_pid[PROC_MAX];
/* the order in which we saw each child's channel close: child_report */
static unsigned int	 closed_seq, closed_at[PROC_MAX];
/* the peer whose channel a child said it lost (IMSG_SETUP_PEER_LOST) */
static int		 followed[PROC_MAX];
static void		 reload_check(void);

static const enum mh_proc child_procs[] = {
	PROC_SMTPD, PROC_AUTHD, PROC_RELAYD, PROC_HOOKD, PROC_SIGNER, PROC_WEBD
};
#define NCHILD	(sizeof(child_procs) / sizeof(child_procs[0]))

/*
 * The secrets each child is sent: only those it uses (CONF_* in
 * config.h).  A process missing here gets none.  The keypair of a pki
 * goes to smtpd if an SMTP listener names it, to webd if an http one
 * does.  A URL with credentials in it (user:password@, query values)
 * goes whole to the process that calls it alone: authd's authorization
 * callbacks, hookd's route, errors and events URLs.  smtpd verifies AUTH by
 * asking authd, so it holds no credentials; it carries authd's sealed
 * verdicts to the spool owners but cannot make them (CONF_VERDICT_KEY).
 * The VERP key goes to relayd, which signs return paths with it, and to
 * hookd, which verifies the bounces that come back (CONF_VERP_KEY).
 */
static const int child_secrets[PROC_MAX] = {
	[PROC_SMTPD] = CONF_TLS_KEYS,
	[PROC_AUTHD] = CONF_CREDENTIALS | CONF_ROUTE_HEADERS |
	    CONF_AUTHZ_URLS | CONF_VERDICT_KEY,
	[PROC_RELAYD] = CONF_RELAY_AUTH | CONF_VERDICT_KEY |
	    CONF_TRACKING_KEY | CONF_CLUSTER_AUTH | CONF_VERP_KEY,
	[PROC_HOOKD] = CONF_ROUTE_HEADERS | CONF_ROUTE_SECRETS |
	    CONF_EVENT_SECRETS | CONF_VERDICT_KEY | CONF_CLUSTER_AUTH |
	    CONF_VERP_KEY,
	/* its https keys, the token keys and api key hashes it checks */
	[PROC_WEBD] = CONF_HTTPS_KEYS | CONF_TRACKING_KEY | CONF_API_KEYS,
};

/* the key of sealed verdicts: one per start, kept across reloads */
static char		 verdict_key[SEAL_KEY_HEX + 1];

int
child_conf_flags(enum mh_proc p)
{
	return (child_secrets[p]);
}

/* the DKIM keys travel in no config: the signer alone gets them */
static void
dkim_keys_send(const struct config *conf)
{
	struct mproc		*p = children[PROC_SIGNER].mp;
	const struct dkim	*d;
	struct signer_key	 k;

	mproc_compose(p, IMSG_SIGNER_RESET, 0, -1, NULL, 0);
	TAILQ_FOREACH(d, &conf->dkims, entry) {
		memset(&k, 0, sizeof(k));
		strlcpy(k.domain, d->domain, sizeof(k.domain));
		strlcpy(k.selector, d->selector, sizeof(k.selector));
		strlcpy(k.file, d->key_file, sizeof(k.file));
		mproc_compose2(p, IMSG_SIGNER_KEY, 0, -1, &k, sizeof(k),
		    d->key, d->keylen);
	}
}

/*
 * Enough descriptors for "limit sessions": each session's socket and
 * message files, and a reserve (mailhook.h).  Root raises the hard limit
 * too; otherwise as far as it goes, and smtpd accepts fewer sessions.
 * Children inherit it; a reload to more sessions raises smtpd's in place.
 */
static void
nofile_raise(const struct config *conf, pid_t pid)
{
	struct rlimit	 rl;
	rlim_t		 want;
	const char	*who = pid == 0 ? "mailhookd" : "smtpd";

	want = (rlim_t)mh_fds_needed(conf->max_sessions);
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &rl) == -1) {
		log_warn("prlimit: the descriptor limit of %s", who);
		return;
	}
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want) {
		rl.rlim_max = want;
		if (prlimit(pid, RLIMIT_NOFILE, &rl, NULL) == 0)
			return;
		if (prlimit(pid, RLIMIT_NOFILE, NULL, &rl) == -1)
			return;
		rl.rlim_cur = rl.rlim_max;
	}
	if (prlimit(pid, RLIMIT_NOFILE, &rl, NULL) == -1)
		log_warn("prlimit: the descriptor limit of %s to %llu", who,
		    (unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur < want)
		log_warnx("limit sessions %d needs %llu descriptors, the "
		    "limit is %llu: smtpd takes fewer sessions",
		    conf->max_sessions, (unsigned long long)want,
		    (unsigned long long)rl.rlim_cur);
}

static void
user_ids(uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return;
	}
	if ((pw = getpwnam(MH_USER)) == NULL)
		fatalx("unknown user %s: create it (etc/mailhook-setup.sh)",
		    MH_USER);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/*
 * st's mode gives what need asks; what need asks of others (the
 * children, another user) is asked of the group instead when the
 * directory's group is the children's, kgid (0750 root:_mailhook)
 */
static int
mode_enough(const struct stat *st, mode_t need, gid_t kgid)
{
	mode_t	 o = need & S_IRWXO;

	if (o != 0 && st->st_gid == kgid &&
	    (st->st_mode & (o << 3)) == (o << 3))
		need &= ~S_IRWXO;
	return ((st->st_mode & need) == need);
}

/* why a start refuses a file or directory: fatal then, said by -n (check) */
int
start_refuse(int check, const char *fmt, ...)
{
	char	 msg[MH_PATH_MAX + 256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!check)
		fatalx("%s", msg);
	log_warnx("%s", msg);
	return (-1);
}

/*
 * Create a directory if missing; refuse one that others could write or
 * that has the wrong owner.  One that was there already is never made
 * looser: if it lacks the permissions in need (the children, which run
 * as another user, of group kgid, read and search it), it is refused,
 * naming them.  check (mailhookd -n): nothing is made or changed, what a
 * start would refuse is said; -1 then, else 0.
 */
static int
spool_dir(const char *path, uid_t uid, gid_t gid, mode_t mode, mode_t need,
    gid_t kgid, int check)
{
	struct stat	st;
	mode_t		want;
	int		made = 1;

	if (check)
		made = 0;
	else if (mkdir(path, mode) == -1) {
		if (errno != EEXIST)
			fatal("mkdir %s", path);
		made = 0;
	}
	if (lstat(path, &st) == -1) {
		if (check && errno == ENOENT)
			return (0);	/* a start makes it */
		return (start_refuse(check, "stat %s: %s", path,
		    strerror(errno)));
	}
	if (!S_ISDIR(st.st_mode))
		return (start_refuse(check, "%s: not a directory", path));
	if (st.st_uid != uid) {
		/* root's own tree may be handed to the user; nobody else's */
		if (st.st_uid != 0 || geteuid() != 0 ||
		    (!check && chown(path, uid, gid) == -1))
			return (start_refuse(check, "%s: owned by uid %u, want "
			    "%u: refusing", path, (unsigned)st.st_uid,
			    (unsigned)uid));
	}
	if (st.st_mode & S_IWOTH)
		return (start_refuse(check, "%s: world-writable: refusing",
		    path));
	if (!made && !mode_enough(&st, need, kgid))
		return (start_refuse(check, "%s: mode %04o lacks %04o, which "
		    "the children need to read and search it (or %04o with "
		    "their group, gid %u): refusing", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)need,
		    (unsigned)((need & ~S_IRWXO) | (need & S_IRWXO) << 3),
		    (unsigned)kgid));
	if (check)
		return (0);
	/* set what the umask took from a new one; only narrow an old one */
	want = made ? mode : st.st_mode & mode;
	if ((st.st_mode & 07777) != want && chmod(path, want) == -1)
		fatal("chmod %s", path);
	return (0);
}

/*
 * The spool tree, made where missing; a start refuses an unsafe one.
 * check (mailhookd -n): only said, each directory a start would refuse;
 * -1 if one is.
 */
int
spool_setup(const struct config *conf, int check)
{
	char	 path[MH_PATH_MAX + 32];
	uid_t	 uid, ruid = geteuid();
	gid_t	 gid, rgid = getegid();
	const char *sub[] = { "inbound", "outbound", "events", "evlog",
	    "dead", "tlsrpt" };
	size_t	 i;
	int	 rv = 0;

	user_ids(&uid, &gid);
	/* the children, as uid, chroot to the top and read it */
	if (spool_dir(conf->spool, ruid, rgid, 0755,
	    S_IRWXU | (uid != ruid ? S_IROTH | S_IXOTH : 0), gid, check) == -1)
		rv = -1;
	snprintf(path, sizeof(path), "%s/empty", conf->spool);
	if (spool_dir(path, ruid, rgid, 0555,
	    S_IRUSR | S_IXUSR | (uid != ruid ? S_IXOTH : 0), gid, check) == -1)
		rv = -1;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", conf->spool, sub[i]);
		if (spool_dir(path, uid, gid, 0700, S_IRWXU, gid, check) == -1)
			rv = -1;
	}
	return (rv);
}

/*
 * One mailhookd per spool: a second one started on it (by hand, while the
 * first one's children still drain, the ports it listens on already
 * closed) would take the same queued messages and send them twice.  An
 * flock(2) lock, which stays with daemon()'s fork and goes with the
 * process, whatever ends it; the file says whose it is.
 */
static int	spool_lock_fd = -1;

static void
spool_lock(const char *spool)
{
	char	 path[MH_PATH_MAX + 32], pid[24];
	ssize_t	 n;

	snprintf(path, sizeof(path), "%s/mailhookd.lock", spool);
	if ((spool_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) == -1)
		fatal("%s", path);
	if (flock(spool_lock_fd, LOCK_EX | LOCK_NB) == 0)
		return;
	if (errno != EWOULDBLOCK)
		fatal("flock %s", path);
	n = pread(spool_lock_fd, pid, sizeof(pid) - 1, 0);
	pid[n > 0 ? n : 0] = '\0';
	pid[strspn(pid, "0123456789")] = '\0';
	fatalx("%s: in use by another mailhookd%s%s%s: refusing to share "
	    "its queues", spool, pid[0] ? " (pid " : "", pid,
	    pid[0] ? ")" : "");
}

/* the lock's file names its holder, once daemon() gave it its pid */
static void
spool_lock_pid(void)
{
	char	 pid[24];
	int	 n;

	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(spool_lock_fd, 0) == -1 ||
	    pwrite(spool_lock_fd, pid, n, 0) != n)
		log_warn("spool lock: cannot write the pid");
}

static void
listeners_bind(struct config *conf)
{
	struct listener	*l;
	int		 fd, on = 1;

	TAILQ_FOREACH(l, &conf->listeners, entry) {
		fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			fatal("socket for %s port %u", l->addr, l->port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (l->ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		/* which line: another listener's address, or a process's */
		if (bind(fd, (struct sockaddr *)&l->ss, l->sslen) == -1)
			fatal("%s%sbind %s port %u", l->addr_at,
			    l->addr_at[0] != '\0' ? ": " : "", l->addr,
			    l->port);
		if (listen(fd, 512) == -1)
			fatal("listen %s port %u", l->addr, l->port);
		l->fd = fd;
		log_info("listening on %s port %u", l->addr, l->port);
	}
}

/*
 * webd holds a descriptor per HTTP client (thousands of idle ones are
 * normal): the soft limit goes up to the hard one, for every child.
 */
static void
nofile_max(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
}

static void parent_dispatch_child(struct mproc *, struct mh_imsg *);

/* a child's channel closed: it is gone or going, and a stop follows */
static int
child_gone(void)
{
	size_t	i;

	for (i = 0; i < NCHILD; i++)
		if (closed_at[child_procs[i]] != 0)
			return (1);
	return (0);
}

static void
child_lost_channel(struct mproc *p)
{
	size_t	i;

	/* SIGCHLD tells why; the channel alone says which one went first */
	log_debug("channel to %s closed", p->name);
	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].mp == p &&
		    closed_at[child_procs[i]] == 0) {
			closed_at[child_procs[i]] = ++closed_seq;
			/* it applies no config any more */
			children[child_procs[i]].conf_wait = 0;
		}
	reload_check();
}

/*
 * A child's environment: nothing of the invoker's (an admin's shell may
 * hold tokens and passwords, and the libraries read proxies, CA paths,
 * resolver and allocator settings from it) but the time zone its log
 * lines are dated in and the sanitizer runtime's options of a make
 * sanitize build, which no code of the daemon reads.  Called between
 * fork and exec: no allocation.
 */
static void
child_environ(char **envp, size_t max)
{
	static const char *const keep[] = {
		"TZ=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=", NULL
	};
	char			**e;
	size_t			  n = 0, i;

	for (e = environ; e != NULL && *e != NULL && n + 1 < max; e++)
		for (i = 0; keep[i] != NULL; i++)
			if (strncmp(*e, keep[i], strlen(keep[i])) == 0) {
				envp[n++] = *e;
				break;
			}
	envp[n] = NULL;
}

static void
child_spawn(enum mh_proc proc)
{
	struct child	*c = &children[proc];
	char		*argv[8], *envp[8];
	int		 sp[2], argc = 0;
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0:
		if (dup2(sp[1], PROC_PARENT_FD) == -1)
			fatal("dup2");
		/* nothing else the parent inherited or opened goes along */
		closefrom(PROC_PARENT_FD + 1);
		argv[argc++] = "mailhookd";
		argv[argc++] = "-P";
		argv[argc++] = (char *)proc_name(proc);
		if (parent_opts.debug)
			argv[argc++] = "-d";
		if (parent_opts.verbose > 0)
			argv[argc++] = "-v";
		if (parent_opts.verbose > 1)
			argv[argc++] = "-v";
		argv[argc] = NULL;
		child_environ(envp, sizeof(envp) / sizeof(envp[0]));
		execve(parent_opts.self, argv, envp);
		fatal("exec %s", parent_opts.self);
	}
	close(sp[1]);
	c->proc = proc;
	c->pid = pid;
	c->started = time(NULL);
	c->mp = mproc_new(sp[0], proc, parent_dispatch_child);
	c->mp->lost = child_lost_channel;
	proc_peer[proc] = c->mp;
}

static void
children_connect(void)
{
	size_t	i, j;
	int	sp[2], a, b;

	for (i = 0; i < NCHILD; i++)
		for (j = i + 1; j < NCHILD; j++) {
			a = child_procs[i];
			b = child_procs[j];
			if (!proc_edge(a, b))
				continue;
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			    sp) == -1)
				fatal("socketpair");
			mproc_compose(children[a].mp, IMSG_SETUP_PEER, 0, sp[0],
			    &b, sizeof(b));
			mproc_compose(children[b].mp, IMSG_SETUP_PEER, 0, sp[1],
			    &a, sizeof(a));
		}
}

static void
listeners_send(const struct config *conf)
{
	struct listener	*l;
	int		 fd;

	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if ((fd = dup(l->fd)) == -1)
			fatal("dup");
		/* http listeners are webd's, the others smtpd's */
		mproc_compose(children[(l->flags & LF_HTTP) ? PROC_WEBD :
		    PROC_SMTPD].mp, IMSG_SETUP_LISTENER, 0, fd, &l->id,
		    sizeof(l->id));
	}
}

/*
 * Stop everything: the children first, then us.  A child gets
 * PARENT_STOP_WAIT seconds before it is killed: relayd may wait up to 4
 * for the replies to final dots it has sent (relayd_drain), then
 * flushes its spool; hookd up to 4 for the answers to sync POSTs
 * (hookd_drain); smtpd until its peers are gone, 5 at most (smtpd_drain).
 */
#define PARENT_STOP_WAIT	8

static void
parent_shutdown(int status)
{
	struct listener	*l;
	size_t		 i;
	struct timeval	 tv = { PARENT_STOP_WAIT, 0 };

	if (shutting_down)
		return;
	shutting_down = 1;
	exit_status = status;
	notify_stopping(status == 0 ? "stopping" :
	    "stopping: a process was lost");
	/*
	 * Our copies of the listening sockets go: once the children that
	 * serve them have ended, a client is refused at once instead of
	 * waiting in the backlog for the end of the stop and a reset.
	 */
	TAILQ_FOREACH(l, &parent_conf->listeners, entry)
		if (l->fd != -1) {
			close(l->fd);
			l->fd = -1;
		}
	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].pid > 0)
			kill(children[child_procs[i]].pid, SIGTERM);
	event_add(ev_deadline, &tv);
}

static int
children_alive(void)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].pid > 0 || held[child_procs[i]])
			n++;
	return (n);
}

static void
parent_exit(void)
{
	control_cleanup();
	log_info("exiting");
	exit(exit_status);
}

static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	size_t	i;

	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].pid > 0) {
			log_warnx("%s (pid %d) did not stop: killing it",
			    proc_name(child_procs[i]),
			    (int)children[child_procs[i]].pid);
			kill(children[child_procs[i]].pid, SIGKILL);
		}
	while (children_alive() > 0) {
		pid_t pid = waitpid(-1, NULL, 0);
		if (pid == -1)
			break;
		for (i = 0; i < NCHILD; i++)
			if (children[child_procs[i]].pid == pid)
				children[child_procs[i]].pid = 0;
	}
	parent_exit();
}

static void
child_reaped(struct child *c, pid_t pid, int status)
{
	char	why[128];

	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "terminated by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ?
		    ": forbidden system call, sandbox violation" : "");
	else
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(status));
	/*
	 * A signal we did not send is news even during a shutdown: when a
	 * child dies by SIGSYS, its peers lose their channel and exit, and
	 * the parent may reap one of them first.
	 */
	if (shutting_down && !(WIFSIGNALED(status) &&
	    WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGKILL))
		log_debug("%s (pid %d) %s", proc_name(c->proc), (int)pid,
		    why);
	else
		log_warnx("lost child: %s (pid %d) %s", proc_name(c->proc),
		    (int)pid, why);
	if (!shutting_down) {
		log_warnx("shutting down: the service manager restarts "
		    "mailhookd; the spools keep every accepted message");
		parent_shutdown(1);
	}
	c->ready = 0;
	/* a reload waits for no child that is gone: the stop answers it */
	c->conf_wait = 0;
	reload_check();
}

/*
 * Whether a child other than proc is dying and went first: its channel
 * to us closed (at its exit, before its peers could notice and follow
 * it) before proc's, and it is not reaped yet.
 */
static int
child_dying(enum mh_proc proc)
{
	struct child	*c;
	size_t		 i;

	for (i = 0; i < NCHILD; i++) {
		c = &children[child_procs[i]];
		if (child_procs[i] != proc && c->pid > 0 &&
		    ((closed_at[child_procs[i]] != 0 &&
		    closed_at[child_procs[i]] < closed_at[proc]) ||
		    followed[proc] == (int)child_procs[i]))
			return (1);
	}
	return (0);
}

/*
 * The held exit of a child's own to report first, or -1: one that
 * followed no peer, then the one whose channel closed first.
 */
static int
child_held_first(void)
{
	size_t	i;
	int	p, first = -1;

	for (i = 0; i < NCHILD; i++) {
		p = child_procs[i];
		if (!held[p] || WIFSIGNALED(held_status[p]))
			continue;
		if (first == -1 || (followed[first] != 0 && followed[p] == 0) ||
		    ((followed[first] != 0) == (followed[p] != 0) &&
		    closed_at[p] < closed_at[first]))
			first = p;
	}
	return (first);
}

/*
 * The others follow a child that died, as they lose their channels to
 * it: the one killed by a signal is named first, whatever the order
 * waitpid() reports them in.  Its SIGCHLD may even come after theirs,
 * the kernel tells the parent at the very end of an exit, after the
 * close of its channels woke the peers that then exit; but its channel
 * to us closed before they could.  An exit of a child's own (a fatal(),
 * status 1, as its followers') outside a stop waits, unreported, while
 * the peer it said it lost (IMSG_SETUP_PEER_LOST, child_followed), or
 * a child whose channel to us closed before its own, is not reaped;
 * then the one that followed no peer is named first, the others in the
 * order their channels closed (which we may read out of order when
 * data came before the end).  The wait is bounded (force, from ev_held)
 * should that child take long to end.
 */
static void
child_report(int force)
{
	struct timeval	 tv = { 5, 0 };
	size_t		 i;
	int		 proc, wait = 0;

	for (i = 0; i < NCHILD; i++) {
		proc = child_procs[i];
		if (held[proc] && WIFSIGNALED(held_status[proc])) {
			held[proc] = 0;
			child_reaped(&children[proc], held_pid[proc],
			    held_status[proc]);
		}
	}
	while ((proc = child_held_first()) != -1) {
		if (!force && !shutting_down && child_dying(proc)) {
			wait = 1;
			break;
		}
		held[proc] = 0;
		child_reaped(&children[proc], held_pid[proc],
		    held_status[proc]);
	}
	if (wait && !evtimer_pending(ev_held, NULL))
		evtimer_add(ev_held, &tv);
	else if (!wait)
		evtimer_del(ev_held);
	if (shutting_down && children_alive() == 0)
		parent_exit();
}

static void
held_cb(evutil_socket_t fd, short ev, void *arg)
{
	child_report(1);
}

static void
sigchld_cb(evutil_socket_t sig, short ev, void *arg)
{
	pid_t	pid;
	int	st;
	size_t	i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < NCHILD; i++)
			if (children[child_procs[i]].pid == pid) {
				/* gone: no signal or prlimit to its pid */
				children[child_procs[i]].pid = 0;
				/* what it said before its end: whom it
				 * followed (child_followed) */
				mproc_drain(children[child_procs[i]].mp);
				held[child_procs[i]] = 1;
				held_pid[child_procs[i]] = pid;
				held_status[child_procs[i]] = st;
				/* its channel closed, unread yet */
				if (closed_at[child_procs[i]] == 0)
					closed_at[child_procs[i]] =
					    ++closed_seq;
				children[child_procs[i]].conf_wait = 0;
				break;
			}
	/* a reload does not wait for a report held back */
	reload_check();
	child_report(0);
}

static void
sigterm_cb(evutil_socket_t sig, short ev, void *arg)
{
	log_info("received signal %d, stopping", (int)sig);
	parent_shutdown(0);
	if (children_alive() == 0)
		parent_exit();
}

static void
sighup_cb(evutil_socket_t sig, short ev, void *arg)
{
	char	err[1024];

	if (shutting_down) {
		log_warnx("received SIGHUP while stopping: no reload");
		return;
	}
	parent_reload(err, sizeof(err), 0);
}

/*
 * Ready for the service manager once every child has said it is: the
 * listeners were bound before any child started (a failure is fatal),
 * so smtpd and webd are handed sockets that already take connections.
 */
static void
parent_ready(void)
{
	struct listener	*l;
	char		 status[128];
	size_t		 i;
	int		 n = 0;

	if (announced || shutting_down)
		return;
	for (i = 0; i < NCHILD; i++)
		if (!children[child_procs[i]].ready)
			return;
	TAILQ_FOREACH(l, &parent_conf->listeners, entry)
		n++;
	snprintf(status, sizeof(status), "mailhookd %s: %d listener%s, %zu "
	    "processes ready", MH_VERSION, n, n == 1 ? "" : "s", NCHILD);
	notify_ready(status);
	announced = 1;
}

/* a stop under way: the children drain, nothing new is started */
int
parent_stopping(void)
{
	return (shutting_down);
}

/*
 * Config transfer to a child: SETUP_CONF_START (the length),
 * SETUP_CONF_DATA chunks of JSON, SETUP_CONF_END with the config's
 * number (0 the first, one more each reload); child.c reassembles it.
 * Once it has applied a reloaded one, the child answers SETUP_CONF_DONE
 * with that number.
 */
#define CONF_CHUNK	(256 * 1024)

static uint32_t		 conf_gen;

void
parent_send_config(struct mproc *p, const struct config *conf, int flags)
{
	char	*s;
	size_t	 len, off, n;

	/* it holds the child's secrets: every copy is wiped */
	if ((s = config_to_json_text(conf, flags, &len)) == NULL)
		fatalx("config_to_json_text");
	mproc_compose(p, IMSG_SETUP_CONF_START, 0, -1, &len, sizeof(len));
	for (off = 0; off < len; off += n) {
		n = len - off > CONF_CHUNK ? CONF_CHUNK : len - off;
		mproc_compose(p, IMSG_SETUP_CONF_DATA, 0, -1, s + off, n);
	}
	mproc_compose(p, IMSG_SETUP_CONF_END, conf_gen, -1, NULL, 0);
	freezero(s, len + 1);
}

/* why a reload was refused: the first error and how many more */
static void
reload_refused(char *err, size_t errlen, const char *first, int n)
{
	if (first[0] == '\0')
		snprintf(err, errlen, "%s: configuration has errors, keeping "
		    "the running one", parent_opts.conffile);
	else if (n > 1)
		snprintf(err, errlen, "configuration has errors, keeping the "
		    "running one: %s (and %d more in the log)", first, n - 1);
	else
		snprintf(err, errlen, "configuration has errors, keeping the "
		    "running one: %s", first);
	log_warnx("reload failed: %s", err);
}

/* one more thing a reload leaves to the next restart, "; " between */
static void __attribute__((format(printf, 3, 4)))
restart_note(char *note, size_t len, const char *fmt, ...)
{
	char	 one[MH_NAME_MAX + 64];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	if (note[0] != '\0')
		(void)strlcat(note, "; ", len);
	(void)strlcat(note, one, len);
}

/*
 * The sockets are bound at start; a reloaded config keeps them.  The
 * children find a socket's settings by its listener id: each listener of
 * the new config takes the id (and the descriptor) of the socket bound
 * to its address and port for its child, smtpd or webd, so that a listen
 * line added above another does not hand that one's port the settings of
 * the line before it.  A new listener gets an id no socket has and
 * listens from the next restart (pending: its key pairs are not sent
 * until then, pki_wanted); one removed is closed then (smtpd
 * answers it "421" meanwhile, webd serves it as it was).  Both are said
 * in the log and in note.  An id is never given twice in the daemon's
 * life: a socket removed at one reload is still open in its child at
 * the next, and a line added then must not take its id (and so hand it
 * its settings).
 */
static void
listeners_keep(struct config *conf, struct config *old, char *note,
    size_t len)
{
	static uint32_t	 next;
	struct listener	*l, *o;

	TAILQ_FOREACH(o, &old->listeners, entry)
		if (o->id >= next)
			next = o->id + 1;
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		l->fd = -1;
		TAILQ_FOREACH(o, &old->listeners, entry)
			if (o->fd != -1 && o->sslen == l->sslen &&
			    memcmp(&o->ss, &l->ss, l->sslen) == 0 &&
			    (o->flags & LF_HTTP) == (l->flags & LF_HTTP))
				break;
		if (o != NULL) {
			l->id = o->id;
			l->fd = o->fd;
			o->fd = -1;
		} else {
			l->id = next++;
			l->pending = 1;
			log_warnx("reload: listener %s port %u is new: it "
			    "listens from the next restart", l->addr, l->port);
			restart_note(note, len, "new listener %s port %u",
			    l->addr, l->port);
		}
	}
	TAILQ_FOREACH(o, &old->listeners, entry) {
		if (o->fd == -1)
			continue;
		log_warnx("reload: listener %s port %u is gone from the "
		    "configuration: it is closed at the next restart",
		    o->addr, o->port);
		restart_note(note, len, "closing listener %s port %u",
		    o->addr, o->port);
		close(o->fd);
		o->fd = -1;
	}
}

/* the last reload's note: what waits for the next restart */
static char	restart_pending[1024];

const char *
parent_restart_pending(void)
{
	return (restart_pending);
}

/*
 * A reload is done once every live child has applied the new config
 * (SETUP_CONF_DONE): only then is it logged, READY=1 sent and mhctl
 * reload answered, so that what comes after the answer (a message, a
 * session) finds the new config in every process.  A child that does
 * not within RELOAD_ACK_SECS (busy, stopped) is named and the reload
 * ends without it; one that dies ends the daemon (child_reaped) and with
 * it the reload.  A SIGHUP meanwhile reloads again once this one is
 * done; an mhctl reload meanwhile is answered that a reload is under way.
 */
#define RELOAD_ACK_SECS	20

static int		 reloading;	/* children are applying conf_gen */
static int		 reload_again;	/* a SIGHUP came meanwhile */
static uint32_t		 reload_ctl;	/* the control client waiting */
static struct event	*ev_reload;

static void
reload_done(const char *late)
{
	char	 status[1400], err[1024];

	reloading = 0;
	evtimer_del(ev_reload);
	/* a child gone (its end maybe not reported yet: child_report) is
	 * a stop under way */
	if (shutting_down || child_gone()) {
		log_warnx("reload: mailhookd is stopping: not every process "
		    "has applied the configuration");
		control_reload_done(reload_ctl, "mailhookd is stopping: not "
		    "every process has applied the configuration",
		    restart_pending);
		reload_ctl = 0;
		return;
	}
	if (late[0] != '\0')
		log_warnx("reload: %s has not applied the configuration in "
		    "%d s: it does once it reads it", late, RELOAD_ACK_SECS);
	log_info("configuration reloaded");
	if (announced) {
		snprintf(status, sizeof(status), "configuration reloaded%s%s"
		    "%s%s", restart_pending[0] != '\0' ?
		    "; at the next restart: " : "", restart_pending,
		    late[0] != '\0' ? "; not applied yet by " : "", late);
		notify_ready(status);
	}
	if (late[0] != '\0') {
		snprintf(status, sizeof(status), "%s has not applied the new "
		    "configuration in %d s (busy or stopped): it does once it "
		    "reads it", late, RELOAD_ACK_SECS);
		control_reload_done(reload_ctl, status, restart_pending);
	} else
		control_reload_done(reload_ctl, "", restart_pending);
	reload_ctl = 0;
	if (reload_again) {
		reload_again = 0;
		parent_reload(err, sizeof(err), 0);
	}
}

/* done when no live child has the new config still to apply */
static void
reload_check(void)
{
	size_t	i;

	if (!reloading)
		return;
	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].conf_wait)
			return;
	reload_done("");
}

static void
reload_late(evutil_socket_t fd, short ev, void *arg)
{
	char	who[128] = "";
	size_t	i;

	for (i = 0; i < NCHILD; i++)
		if (children[child_procs[i]].conf_wait) {
			children[child_procs[i]].conf_wait = 0;
			if (who[0] != '\0')
				strlcat(who, " and ", sizeof(who));
			strlcat(who, proc_name(child_procs[i]), sizeof(who));
		}
	reload_done(who);
}

/* SETUP_CONF_DONE: that child has applied config number gen */
static void
reload_applied(struct child *c, uint32_t gen)
{
	/* one a late child applies after its reload ended is no news */
	if (!reloading || gen != conf_gen || !c->conf_wait)
		return;
	c->conf_wait = 0;
	reload_check();
}

/*
 * Reload: parse the file again; on success every child gets the new
 * config.  Listeners are bound at start only: listeners_keep().  -1: msg
 * is the error; 0: the reload is under way, reload_done() ends it and
 * answers control client ctl (0: none).
 */
int
parent_reload(char *msg, size_t len, uint32_t ctl)
{
	struct config	*conf;
	struct timeval	 tv = { RELOAD_ACK_SECS, 0 };
	size_t		 i;
	char		 first[768];
	int		 n, bad;

	if (reloading) {
		if (ctl == 0) {
			log_info("SIGHUP during a reload: reloading again "
			    "once it is done");
			reload_again = 1;
			return (0);
		}
		snprintf(msg, len, "a reload is under way: try again once "
		    "it is done");
		return (-1);
	}
	log_info("reloading %s", parent_opts.conffile);
	/* a SIGHUP before the first READY=1: that one comes as planned */
	if (announced)
		notify_reloading("reloading the configuration");
	log_capture(first, sizeof(first));
	/* what a start would refuse (a listener's address, which only a
	 * restart binds) is refused now, not at the next restart */
	bad = (conf = config_parse(parent_opts.conffile)) == NULL ||
	    config_load_files(conf) == -1 ||
	    config_check_listeners(conf) == -1 ||
	    maildir_check(conf) == -1 ||
	    config_tracking_key(conf, parent_conf->spool) == -1 ||
	    config_verp_key(conf, parent_conf->spool) == -1;
	n = log_capture(NULL, 0);
	if (bad) {
		reload_refused(msg, len, first, n);
		if (conf != NULL)
			config_free(conf);
		if (announced)
			notify_ready(msg);
		return (-1);
	}
	msg[0] = '\0';
	/*
	 * Until the restart the running ones stay in the configuration:
	 * the next reload compares with them and finds its keys there
	 * again, and show config says what is in effect.
	 */
	if (strcmp(conf->spool, parent_conf->spool) != 0) {
		log_warnx("reload: a new spool takes effect at restart");
		restart_note(msg, len, "new spool");
		strlcpy(conf->spool, parent_conf->spool, sizeof(conf->spool));
	}
	if (strcmp(conf->control, parent_conf->control) != 0 ||
	    strcmp(conf->control_group, parent_conf->control_group) != 0) {
		log_warnx("reload: a new control socket or control group takes "
		    "effect at restart");
		restart_note(msg, len, "new control socket or group");
		strlcpy(conf->control, parent_conf->control,
		    sizeof(conf->control));
		strlcpy(conf->control_group, parent_conf->control_group,
		    sizeof(conf->control_group));
	}
	nofile_raise(conf, 0);
	/*
	 * smtpd's limit is another process's: prlimit needs
	 * CAP_SYS_RESOURCE even to read it (the systemd unit may not have
	 * it), so only for more sessions than it was given for
	 */
	if (children[PROC_SMTPD].pid > 0 &&
	    conf->max_sessions > parent_conf->max_sessions)
		nofile_raise(conf, children[PROC_SMTPD].pid);
	strlcpy(conf->verdict_key, verdict_key, sizeof(conf->verdict_key));
	config_tracking_rotate(conf, parent_conf);
	listeners_keep(conf, parent_conf, msg, len);
	/* the keys first: the signer's SETUP_CONF_DONE says it has them */
	dkim_keys_send(conf);
	conf_gen++;
	for (i = 0; i < NCHILD; i++) {
		parent_send_config(children[child_procs[i]].mp, conf,
		    child_conf_flags(child_procs[i]));
		children[child_procs[i]].conf_wait =
		    children[child_procs[i]].pid > 0 &&
		    closed_at[child_procs[i]] == 0;
	}
	config_free(parent_conf);
	parent_conf = conf;
	strlcpy(restart_pending, msg, sizeof(restart_pending));
	reloading = 1;
	reload_ctl = ctl;
	evtimer_add(ev_reload, &tv);
	reload_check();
	return (0);
}

void
parent_verbose(int v)
{
	size_t	i;

	log_setverbose(v);
	for (i = 0; i < NCHILD; i++)
		mproc_compose(children[child_procs[i]].mp, IMSG_CTL_VERBOSE, 0,
		    -1, &v, sizeof(v));
}

/* children send monitor events only while someone listens */
void
parent_monitor(int on)
{
	size_t	i;

	for (i = 0; i < NCHILD; i++)
		mproc_compose(children[child_procs[i]].mp, IMSG_CTL_MONITOR, 0,
		    -1, &on, sizeof(on));
}

/* a child lost its channel to a peer and ends for that: it follows it */
static void
child_followed(struct mproc *p, struct mh_imsg *imsg)
{
	int	peer;

	if (MH_IMSG_DATA_SIZE(imsg) != sizeof(peer) || imsg->fd != -1)
		fatalx("SETUP_PEER_LOST from %s: malformed", p->name);
	memcpy(&peer, imsg->data, sizeof(peer));
	if (peer <= PROC_PARENT || peer >= PROC_CONTROL ||
	    peer == (int)p->proc || !proc_edge(p->proc, peer))
		fatalx("SETUP_PEER_LOST from %s: no peer %d", p->name, peer);
	if (followed[p->proc] == 0)
		followed[p->proc] = peer;
}

static void
parent_dispatch_child(struct mproc *p, struct mh_imsg *imsg)
{
	struct child		*c = &children[p->proc];
	struct cluster_link	*cl;
	const char		*s;

	switch (imsg->hdr.type) {
	case IMSG_SETUP_READY:
		s = imsg->data;
		if (s == NULL || !msg_str_ok(s, MH_IMSG_DATA_SIZE(imsg)))
			fatalx("SETUP_READY from %s: malformed", p->name);
		strlcpy(c->confinement, s, sizeof(c->confinement));
		c->ready = 1;
		log_info("%s (pid %d) ready: %s", p->name, (int)c->pid, s);
		parent_ready();
		break;
	case IMSG_SETUP_PEER_LOST:
		child_followed(p, imsg);
		break;
	case IMSG_SETUP_CONF_DONE:
		if (MH_IMSG_DATA_SIZE(imsg) != 0 || imsg->fd != -1 ||
		    imsg->hdr.peerid == 0 || imsg->hdr.peerid > conf_gen)
			fatalx("SETUP_CONF_DONE from %s: malformed", p->name);
		reload_applied(c, imsg->hdr.peerid);
		break;
	case IMSG_CTL_REPLY:
		control_child_reply(p->proc, imsg);
		break;
	case IMSG_CTL_LOG_EVENT:
		control_child_event(p->proc, imsg);
		break;
	case IMSG_METRICS_REQ:
		if (p->proc != PROC_WEBD || MH_IMSG_DATA_SIZE(imsg) != 0)
			fatalx("METRICS_REQ from %s: malformed", p->name);
		control_scrape(imsg->hdr.peerid);
		break;
	case IMSG_FALLBACK_MAILDIR:
		maildir_fallback(p, imsg);
		break;
	case IMSG_CTL_CLUSTER:
		cl = msg_get(p, imsg, sizeof(*cl));
		if (p->proc != PROC_RELAYD || (cl->up != 0 && cl->up != 1) ||
		    !msg_str_ok(cl->state, sizeof(cl->state)) ||
		    !msg_str_ok(cl->error, sizeof(cl->error)))
			fatalx("CTL_CLUSTER from %s: malformed", p->name);
		control_cluster_link(cl);
		break;
	default:
		fatalx("unexpected %s from %s", imsg_type_name(imsg->hdr.type),
		    p->name);
	}
}

/*
 * SIGHUP, SIGTERM and SIGINT wait (blocked) from the start of
 * parent_main until their handlers are there: a reload sent as soon as
 * the service manager started us (systemctl reload, rcctl reload) is
 * done once we run, not the death of the daemon by the default action,
 * which the service manager would take for a clean stop; a stop is a
 * clean stop of whatever started.  The children inherit the mask: it is
 * lifted before they are spawned.
 */
static void
parent_sigmask(int how)
{
	sigset_t	 set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(how, &set, NULL) == -1)
		fatal("sigprocmask");
}

static void
parent_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	ev_sigterm = evsignal_new(proc_base, SIGTERM, sigterm_cb, NULL);
	ev_sigint = evsignal_new(proc_base, SIGINT, sigterm_cb, NULL);
	ev_sighup = evsignal_new(proc_base, SIGHUP, sighup_cb, NULL);
	ev_sigchld = evsignal_new(proc_base, SIGCHLD, sigchld_cb, NULL);
	ev_deadline = evtimer_new(proc_base, deadline_cb, NULL);
	ev_held = evtimer_new(proc_base, held_cb, NULL);
	ev_reload = evtimer_new(proc_base, reload_late, NULL);
	if (ev_deadline == NULL || ev_held == NULL || ev_reload == NULL)
		fatalx("evtimer_new");
	evsignal_add(ev_sigterm, NULL);
	evsignal_add(ev_sigint, NULL);
	evsignal_add(ev_sighup, NULL);
	evsignal_add(ev_sigchld, NULL);
	parent_sigmask(SIG_UNBLOCK);
}

void
parent_main(void)
{
	size_t	i;

	parent_sigmask(SIG_BLOCK);
	log_procinit("parent");
	/* a -N that names no socket is refused before anything starts */
	notify_init(parent_opts.notify);
	if ((parent_conf = config_parse(parent_opts.conffile)) == NULL)
		fatalx("%s: configuration has errors", parent_opts.conffile);
	if (config_load_files(parent_conf) == -1)
		fatalx("%s: cannot load the files it names",
		    parent_opts.conffile);
	if (config_check_listeners(parent_conf) == -1)
		fatalx("%s: cannot listen on an address of another host",
		    parent_opts.conffile);
	/* what mailhookd -n refuses of a fallback maildir, and a reload */
	if (maildir_check(parent_conf) == -1)
		fatalx("%s: a fallback maildir is refused",
		    parent_opts.conffile);
	/*
	 * Every path the parent opens from now on is absolute (the parser
	 * refuses relative file names, conf_path()): the directory it was
	 * started from stays free to unmount, and neither it nor a child
	 * started from it (one not chrooted, in development mode) keeps it.
	 */
	if (chdir("/") == -1)
		fatal("chdir /");
	nofile_raise(parent_conf, 0);
	seal_new_key(verdict_key);
	strlcpy(parent_conf->verdict_key, verdict_key,
	    sizeof(parent_conf->verdict_key));
	if (geteuid() != 0)
		log_warnx("not started as root: no chroot and no privilege "
		    "drop for the children (development mode)");
	spool_setup(parent_conf, 0);
	spool_lock(parent_conf->spool);
	if (config_tracking_key(parent_conf, parent_conf->spool) == -1)
		fatalx("%s: no tracking key", parent_conf->spool);
	if (config_verp_key(parent_conf, parent_conf->spool) == -1)
		fatalx("%s: no VERP key", parent_conf->spool);
	nofile_max();
	listeners_bind(parent_conf);
	if (!parent_opts.debug && daemon(1, 0) == -1)
		fatal("daemon");
	spool_lock_pid();
	parent_started = time(NULL);
	if ((proc_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	parent_signals();
	control_init(parent_conf->control, parent_conf->control_group);

	for (i = 0; i < NCHILD; i++)
		child_spawn(child_procs[i]);
	for (i = 0; i < NCHILD; i++)
		parent_send_config(children[child_procs[i]].mp, parent_conf,
		    child_conf_flags(child_procs[i]));
	dkim_keys_send(parent_conf);
	children_connect();
	listeners_send(parent_conf);
	for (i = 0; i < NCHILD; i++)
		mproc_compose(children[child_procs[i]].mp, IMSG_SETUP_START, 0,
		    -1, NULL, 0);
	log_info("mailhookd %s started", MH_VERSION);
	event_base_dispatch(proc_base);
	fatalx("event loop ended");
}

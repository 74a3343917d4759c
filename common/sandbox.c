/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Confinement of the children: privilege drop, then a seccomp filter per
 * process on Linux (libseccomp), pledge/unveil on OpenBSD.
 *
 * Linux filter, in short:
 * - architecture checked first, a foreign one kills the process;
 * - default action kills the process (SIGSYS), or traps and reports the
 *   call on stderr in debug mode ("testing seccomp-debug", -X only);
 * - clone3 fails with ENOSYS so that glibc falls back to clone, and clone
 *   itself is allowed for threads (CLONE_THREAD) only, in relayd and hookd
 *   (gsync's, mimejob's): no fork, no exec;
 * - socket(AF_UNIX) and socket(AF_NETLINK) fail with EACCES instead of
 *   killing: glibc's syslog() reconnects to /dev/log on its own after a
 *   send error (the daemon opens syslog before the sandbox, with
 *   LOG_NDELAY, so this only happens when the log daemon restarted; the
 *   line is then lost, not the process), and getaddrinfo(AI_ADDRCONFIG)
 *   asks netlink, which is not needed here;
 * - smtpd and webd: no open, no socket/connect (accept only); authd:
 *   network, no files; relayd and hookd: network and files inside their
 *   chroot; signer: neither (it reads the message fds relayd hands it).
 * - fstat() (newfstatat with AT_EMPTY_PATH) is all the processes that
 *   have no files may ask of a path.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#ifdef __linux__
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <termios.h>
#include <seccomp.h>
#endif

#include "log.h"
#include "mailhook.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define MH_LSAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define MH_LSAN	1
#endif
#endif
#ifdef MH_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static char	 sb_chroot[PATH_MAX] = "none";
static char	 sb_user[64] = "";
static char	 sb_filter[32] = "none";
static char	 sb_desc[PATH_MAX + 128];
static int	 sb_debug;		/* sandbox_debug() */
static int	 sb_proc = -1;

static const char *const sb_procnames[PROC_MAX] = {
	"parent", "smtpd", "authd", "relayd", "hookd", "signer", "webd",
	"control"
};

#ifdef MH_LSAN
/*
 * Sanitizer builds only (make sanitize).  LeakSanitizer's check at exit
 * stops the threads with a tracer: prctl(PR_GET_DUMPABLE and
 * SET_DUMPABLE), a clone that is not a thread, prctl(PR_SET_PTRACER),
 * ptrace, and /proc/self/task to list them.  A child has none of these:
 * the filter killed it at the first prctl (SIGSYS at every exit, a
 * "lost child" for each at every stop) and its chroot has no /proc.
 * They are not allowed there either, a tracer being what the filter
 * exists to refuse; so a child skips the check (LSan asks this function
 * when it is about to run it) and the parent, neither chrooted nor
 * filtered, keeps it.  Set before the filter, never changed after.
 */
static int	 sb_no_leak_check;

int __attribute__((used))
__lsan_is_turned_off(void)
{
	return (sb_no_leak_check);
}
#endif

static const char *
procname(int proc)
{
	if (proc < 0 || proc >= PROC_MAX)
		return ("unknown");
	return (sb_procnames[proc]);
}

/*
 * No core dump, whatever the service manager's LimitCORE or the
 * fs.suid_dumpable sysctl: the parent holds every key and password, each
 * child those it uses.  Not dumpable also keeps other processes of the
 * same user (another _mailhook child) from reading its memory.
 */
void
sandbox_nodump(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE");
#ifdef __linux__
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE");
#endif
}

#ifdef __linux__
/*
 * The capabilities a child could ever get back: the setresuid() below
 * clears the permitted, effective and ambient sets, but leaves the
 * bounding set whole and the inheritable set as the service manager gave
 * it.  Both go; the kernel's own list (PR_CAPBSET_READ) says how many
 * there are, whatever this build's headers know.  Emptying the bounding
 * set needs CAP_SETPCAP: a parent started without it (a unit file of an
 * older release) still starts its children, which keep that set with a
 * warning; no_new_privs, set before the filter, keeps an exec from using
 * it.  Fatal on any other failure, as the rest of the drop.
 *
 * A parent that is not root keeps its uid for its children, and an
 * ambient capability it was started with (a unit's AmbientCapabilities=
 * for a port under 1024) reached every child's effective set at their
 * exec: all (all sets, not only the inheritable one) go then, and the
 * bounding set without a word when it cannot, as nothing is left that
 * could use it.
 */
static int	caps_bounded;	/* the bounding set was emptied */

static void
caps_get(struct __user_cap_header_struct *hdr,
    struct __user_cap_data_struct *data)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, hdr, data) == -1)
		fatal("privdrop: capget");
}

static void
caps_drop(int all)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[_LINUX_CAPABILITY_U32S_3];
	int				 cap, i;

	caps_get(&hdr, data);
	if (data[CAP_TO_INDEX(CAP_SETPCAP)].effective &
	    CAP_TO_MASK(CAP_SETPCAP)) {
		for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
				fatal("privdrop: dropping capability %d from "
				    "the bounding set", cap);
		caps_bounded = 1;
	} else if (!all)
		log_warnx("privdrop: the parent lacks CAP_SETPCAP: the "
		    "capability bounding set stays as it is");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		fatal("privdrop: clearing the ambient capabilities");
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		data[i].inheritable = 0;
		if (all)
			data[i].effective = data[i].permitted = 0;
	}
	if (syscall(SYS_capset, &hdr, data) == -1)
		fatal("privdrop: clearing the %scapabilities", all ? "" :
		    "inheritable ");
}

/*
 * After the uid change: nothing left in any set (the ambient one is a
 * part of the permitted one, which is empty)
 */
static void
caps_check(void)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[_LINUX_CAPABILITY_U32S_3];
	int				 cap, i, r;

	caps_get(&hdr, data);
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0)
			fatalx("privdrop: capabilities left after the drop");
	if (!caps_bounded)
		return;
	for (cap = 0; (r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
		if (r != 0)
			fatalx("privdrop: capability %d left in the bounding "
			    "set", cap);
}
#endif

void
privdrop(const char *user, const char *chrootdir)
{
	struct passwd	*pw;
	uid_t		 uid;
	gid_t		 gid;

	if (geteuid() != 0) {
		if ((pw = getpwuid(geteuid())) != NULL)
			strlcpy(sb_user, pw->pw_name, sizeof(sb_user));
		else
			snprintf(sb_user, sizeof(sb_user), "%u",
			    (unsigned)geteuid());
		log_warnx("not running as root: staying %s, no chroot",
		    sb_user);
#ifdef __linux__
		caps_drop(1);
		caps_check();
#endif
		return;
	}
	if (user == NULL || (pw = getpwnam(user)) == NULL)
		fatalx("privdrop: unknown user %s", user ? user : "(null)");
	if (pw->pw_uid == 0)
		fatalx("privdrop: user %s is root", user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	strlcpy(sb_user, pw->pw_name, sizeof(sb_user));

	if (chrootdir != NULL) {
		if (chroot(chrootdir) == -1)
			fatal("privdrop: chroot %s", chrootdir);
		if (chdir("/") == -1)
			fatal("privdrop: chdir /");
		strlcpy(sb_chroot, chrootdir, sizeof(sb_chroot));
	}
#ifdef __linux__
	caps_drop(0);
#endif
	if (setgroups(1, &gid) == -1)
		fatal("privdrop: setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("privdrop: setresgid");
	if (setresuid(uid, uid, uid) == -1)
		fatal("privdrop: setresuid");
	/* make sure there is no way back */
	if (setuid(0) != -1 || seteuid(0) != -1 || getuid() != uid ||
	    geteuid() != uid || getgid() != gid || getegid() != gid)
		fatalx("privdrop: still able to regain root");
#ifdef __linux__
	caps_check();
#endif
	/* a change of credentials made it fs.suid_dumpable again */
	sandbox_nodump();
}

void
sandbox_debug(int on)
{
	sb_debug = on;
}

const char *
sandbox_describe(void)
{
	snprintf(sb_desc, sizeof(sb_desc), "chroot=%s uid=%s %s=%s",
	    sb_chroot, sb_user[0] ? sb_user : "?",
#ifdef __OpenBSD__
	    "pledge",
#else
	    "seccomp",
#endif
	    sb_filter);
	return (sb_desc);
}

static int
debug_mode(void)
{
	return (sb_debug);
}

#if defined(__linux__)

#define SB_NAMES_MAX	1024

/* names for the SIGSYS reporter, resolved before the filter is loaded */
static char	*sb_names[SB_NAMES_MAX];

/*
 * Every child.  The lists hold what the children were seen to call under
 * the filter (strace -f of the e2e suites, glibc 2.36 on x86_64: open,
 * stat, lstat and fstat are openat and newfstatat there, sleeps are
 * clock_nanosleep, pipe is pipe2, getrlimit is prlimit64), and the calls
 * of a path the suites do not take, each said where it comes from.
 */
static const char *const sb_base[] = {
	"read", "write", "readv", "writev",
	"close", "fcntl", "getpid",
	"exit", "exit_group",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	/* the kernel's, after a stop signal interrupted a futex or poll */
	"restart_syscall",
	/* from the vDSO, unless the clock source has none (some VMs) */
	"clock_gettime", "gettimeofday", "time",
	"futex", "set_robust_list", "rseq", "getrandom",
	"munmap", "madvise", "brk", "mremap",	/* mmap, mprotect: below */
	/* imsg with fd passing; send() of syslog(3) */
	"recvmsg", "sendmsg", "sendto",
	/* libevent */
	"epoll_ctl", "epoll_wait",
	/* OpenSSL; glibc's qsort asks sysinfo once, for 1 KB or more */
	"uname", "sysinfo",
	/* the sanitizer runtime (make sanitize) in a thread started under
	 * the filter: its signal stack, its stack bounds, its spin locks */
	"gettid", "sigaltstack", "sched_getaffinity", "sched_yield",
	NULL
};

/*
 * Not every child's: smtpd, webd and the signer (the Internet-facing
 * parsers, the process with the DKIM keys) have only those they call.
 */
/* reading a file at an offset: the signer's message, the queues (not
 * authd's: it has neither file nor descriptor handed to it) */
static const char *const sb_pread[] = {
	"pread64", NULL
};

/* on sockets the process was handed or opened (authd, relayd, hookd;
 * not the signer's: its channels only; smtpd's and webd's: below) */
static const char *const sb_sockopt[] = {
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	"shutdown", NULL
};

/* libcurl, hiredis, libunbound (authd, relayd, hookd): their waits and
 * their reads of a datagram or a socket */
static const char *const sb_poll[] = {
	"poll", "recvfrom", NULL
};

/* stdio's and fdopendir's lseek and dup of the processes with files
 * (relayd, hookd) */
static const char *const sb_more[] = {
	"lseek", "dup", NULL
};

/* webd's, on the connections it accepted: a client's address for its
 * log lines, a lingering close's half-close and dup, and the look
 * (recv with MSG_PEEK) at an idle kept connection (server.c) */
static const char *const sb_webd_sock[] = {
	"getpeername", "shutdown", "dup", "recvfrom", NULL
};

/* accepting on listeners the parent bound (smtpd, webd; libevent) */
static const char *const sb_accept[] = {
	"accept4", NULL
};

/* the spool file a front end was handed: cut to what it wrote (a
 * pooled file may have been longer, filepool.h) */
static const char *const sb_spool_fd[] = {
	"ftruncate", NULL
};

/* outbound network: DNS (libunbound), HTTP (libcurl), SMTP client */
static const char *const sb_net[] = {
	"connect", "bind", NULL
};

/*
 * Queue and spool files, inside the chroot (relayd, hookd): mkdir is
 * glibc's mkdir(), the *at forms the code's own; utimensat dates a
 * closed history segment (history.c).
 */
static const char *const sb_files[] = {
	"openat", "newfstatat", "getdents64", "unlinkat", "renameat",
	"renameat2", "mkdir", "mkdirat", "fsync", "syncfs", "ftruncate",
	"fallocate", "utimensat",
	NULL
};

/* relayd's alone: the outbox journal's flush, pwrite() of a sender
 * domain's allowance window (scheduler.c) */
static const char *const sb_relayd_files[] = {
	"fdatasync", "pwrite64", NULL
};

/* hookd's alone: its spools' glibc rename() and unlink(), pwrite() of
 * facts.c and seen.c */
static const char *const sb_hookd_files[] = {
	"rename", "unlink", "pwrite64", NULL
};

static void
sb_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned int n, const struct scmp_arg_cmp *cmp)
{
	int	nr, r;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		fatalx("sandbox: unknown system call %s", name);
	if (nr < 0)
		return;		/* not on this architecture */
	if ((r = seccomp_rule_add_array(ctx, action, nr, n, cmp)) != 0)
		fatalx("sandbox: rule for %s: %s", name, strerror(-r));
}

static void
sb_allow_list(scmp_filter_ctx ctx, const char *const *list)
{
	for (; *list != NULL; list++)
		sb_rule(ctx, SCMP_ACT_ALLOW, *list, 0, NULL);
}

static void
sb_allow1(scmp_filter_ctx ctx, uint32_t action, const char *name,
    struct scmp_arg_cmp cmp)
{
	sb_rule(ctx, action, name, 1, &cmp);
}

static void
sb_common(scmp_filter_ctx ctx, int files)
{
	struct scmp_arg_cmp	cmp[2];

	sb_allow_list(ctx, sb_base);

	/*
	 * Memory, but no new executable memory: after start no child loads
	 * code (as OpenSSH's filter restricts the same arguments).
	 */
	sb_allow1(ctx, SCMP_ACT_ALLOW, "mmap",
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	sb_allow1(ctx, SCMP_ACT_ALLOW, "mprotect",
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));

	/* glibc tries clone3 first; ENOSYS makes it fall back to clone */
	sb_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	/* signals to itself only (abort, raise) */
	sb_allow1(ctx, SCMP_ACT_ALLOW, "tgkill",
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/*
	 * ioctl: pending bytes (libevent's reads), isatty() of a stdio
	 * stream at its first write (glib's messages, daemon's /dev/null)
	 */
	sb_allow1(ctx, SCMP_ACT_ALLOW, "ioctl", SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	sb_allow1(ctx, SCMP_ACT_ALLOW, "ioctl", SCMP_A1(SCMP_CMP_EQ, TCGETS));
	/*
	 * resource limits: read only (getrlimit, sysconf, smtpd's reload),
	 * and of itself only: glibc passes pid 0, another pid is killed
	 */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, 0);
	cmp[1] = SCMP_A2(SCMP_CMP_EQ, 0);
	sb_rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 2, cmp);
	/* syslog(3) reconnecting, getaddrinfo's netlink: fail, not die */
	sb_allow1(ctx, SCMP_ACT_ERRNO(EACCES), "socket",
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	sb_allow1(ctx, SCMP_ACT_ERRNO(EACCES), "socket",
	    SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));

	if (files) {
		sb_allow_list(ctx, sb_files);
		return;
	}
	/* no paths: fstat(), which is newfstatat on an fd, only */
	sb_allow1(ctx, SCMP_ACT_ALLOW, "newfstatat",
	    SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
}

static void
sb_network(scmp_filter_ctx ctx)
{
	sb_allow_list(ctx, sb_net);
	sb_allow1(ctx, SCMP_ACT_ALLOW, "socket", SCMP_A0(SCMP_CMP_EQ, AF_INET));
	sb_allow1(ctx, SCMP_ACT_ALLOW, "socket",
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	/*
	 * the wake-up pair of a libcurl multi handle, which http.c makes
	 * anew when a reload turns private-addresses off
	 * (http_allow_private): fail, not die; libcurl goes on without it
	 * (curl_multi_wakeup, never called here)
	 */
	sb_allow1(ctx, SCMP_ACT_ERRNO(EACCES), "socketpair",
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
}

/*
 * Threads (gsync's flushers in relayd and hookd, hookd's MIME jobs), never
 * a fork, and the pipes that wake their event loop
 */
static void
sb_threads(scmp_filter_ctx ctx)
{
	sb_allow1(ctx, SCMP_ACT_ALLOW, "clone",
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	sb_rule(ctx, SCMP_ACT_ALLOW, "pipe2", 0, NULL);
}

/*
 * smtpd's one socket option: no Nagle on its listeners, which the
 * sessions inherit (smtp.c); nothing else of the socket calls
 */
static void
sb_smtpd_sock(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp	cmp[2];

	cmp[0] = SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP);
	cmp[1] = SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY);
	sb_rule(ctx, SCMP_ACT_ALLOW, "setsockopt", 2, cmp);
}

static size_t
sb_append(char *buf, size_t len, size_t size, const char *s)
{
	while (*s != '\0' && len + 1 < size)
		buf[len++] = *s++;
	buf[len] = '\0';
	return (len);
}

/* the SIGSYS reporter of the debug mode: async-signal-safe only */
static void
sb_sigsys(int sig, siginfo_t *si, void *uctx)
{
	struct sigaction	 sa;
	sigset_t		 set;
	char			 buf[256], num[16];
	size_t			 len = 0, i;
	unsigned int		 nr = (unsigned int)si->si_syscall;

	i = sizeof(num) - 1;
	num[i] = '\0';
	do {
		num[--i] = '0' + nr % 10;
		nr /= 10;
	} while (nr != 0 && i > 0);
	nr = (unsigned int)si->si_syscall;

	len = sb_append(buf, len, sizeof(buf), "mailhookd: ");
	len = sb_append(buf, len, sizeof(buf), procname(sb_proc));
	len = sb_append(buf, len, sizeof(buf),
	    ": sandbox: forbidden system call ");
	len = sb_append(buf, len, sizeof(buf), num + i);
	len = sb_append(buf, len, sizeof(buf), " (");
	len = sb_append(buf, len, sizeof(buf),
	    nr < SB_NAMES_MAX && sb_names[nr] ? sb_names[nr] : "?");
	len = sb_append(buf, len, sizeof(buf), ")\n");
	log_flush();		/* what the process logged before */
	/* best effort: a failed write changes nothing (and a cast to
	 * void does not silence warn_unused_result under _FORTIFY_SOURCE) */
	if (write(STDERR_FILENO, buf, len) != (ssize_t)len)
		len = 0;

	/* die by SIGSYS all the same, so the parent sees why */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGSYS, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)raise(SIGSYS);
	_exit(128 + SIGSYS);
}

static void
sb_debug_setup(void)
{
	struct sigaction	 sa;
	int			 i;

	for (i = 0; i < SB_NAMES_MAX; i++)
		sb_names[i] = seccomp_syscall_resolve_num_arch(
		    SCMP_ARCH_NATIVE, i);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sb_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("sandbox: sigaction SIGSYS");
}

void
sandbox_apply(int proc)
{
	scmp_filter_ctx	 ctx;
	int		 debug, r;

	/* the children only: PROC_CONTROL names a client, not a process */
	if (proc <= PROC_PARENT || proc >= PROC_CONTROL)
		fatalx("sandbox: no profile for process %d", proc);
	sb_proc = proc;
	debug = debug_mode();

	/* jansson seeds its hash from /dev/urandom at the first object */
	json_object_seed(0);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("sandbox: PR_SET_NO_NEW_PRIVS");
	if ((ctx = seccomp_init(debug ? SCMP_ACT_TRAP :
	    SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("sandbox: seccomp_init failed");
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) != 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0)
		fatalx("sandbox: seccomp_attr_set: %s", strerror(-r));

	switch (proc) {
	case PROC_SMTPD:
	case PROC_WEBD:
		/* Internet-facing parsers: accept, no files, no sockets */
		sb_common(ctx, 0);
		sb_allow_list(ctx, sb_accept);
		sb_allow_list(ctx, sb_spool_fd);
		if (proc == PROC_WEBD)
			sb_allow_list(ctx, sb_webd_sock);
		else
			sb_smtpd_sock(ctx);
		break;
	case PROC_AUTHD:
		sb_common(ctx, 0);
		sb_allow_list(ctx, sb_sockopt);
		sb_allow_list(ctx, sb_poll);
		sb_network(ctx);
		break;
	case PROC_RELAYD:
	case PROC_HOOKD:
		sb_common(ctx, 1);
		sb_allow_list(ctx, proc == PROC_RELAYD ? sb_relayd_files :
		    sb_hookd_files);
		sb_allow_list(ctx, sb_pread);
		sb_allow_list(ctx, sb_sockopt);
		sb_allow_list(ctx, sb_poll);
		sb_allow_list(ctx, sb_more);
		sb_network(ctx);
		sb_threads(ctx);
		break;
	case PROC_SIGNER:
		/* its channels and the message it is handed: pread only */
		sb_common(ctx, 0);
		sb_allow_list(ctx, sb_pread);
		break;
	}

	if (debug)
		sb_debug_setup();
#ifdef MH_LSAN
	sb_no_leak_check = 1;
#endif
	if ((r = seccomp_load(ctx)) != 0)
		fatalx("sandbox: seccomp_load: %s", strerror(-r));
	seccomp_release(ctx);
	strlcpy(sb_filter, debug ? "filter-debug" : "filter",
	    sizeof(sb_filter));
	log_debug("sandbox: %s: %s", procname(proc), sandbox_describe());
}

void
sandbox_forbidden(void)
{
	/* no profile allows reboot(2); bad magic numbers if it ran anyway */
	(void)syscall(SYS_reboot, 0, 0, 0, NULL);
	fatalx("sandbox: a forbidden system call was allowed");
}


#elif defined(__OpenBSD__)

void
sandbox_apply(int proc)
{
	const char	*promises;

	sb_proc = proc;
	json_object_seed(0);
	switch (proc) {
	case PROC_SMTPD:
	case PROC_WEBD:
		promises = "stdio inet recvfd";
		break;
	case PROC_AUTHD:
		promises = "stdio inet recvfd";
		break;
	case PROC_RELAYD:
		promises = "stdio rpath wpath cpath fattr flock inet recvfd "
		    "sendfd";
		break;
	case PROC_HOOKD:
		promises = "stdio rpath wpath cpath fattr flock inet recvfd "
		    "sendfd";
		break;
	case PROC_SIGNER:
		promises = "stdio recvfd";
		break;
	default:
		fatalx("sandbox: no profile for process %d", proc);
	}
	/* the chroot is the whole view; nothing else to unveil */
	if (unveil(NULL, NULL) == -1)
		fatal("sandbox: unveil");
	if (pledge(promises, NULL) == -1)
		fatal("sandbox: pledge");
	(void)debug_mode();
	strlcpy(sb_filter, "pledge", sizeof(sb_filter));
}

void
sandbox_forbidden(void)
{
	/* acct(2) is in no promise: the kernel kills us with SIGABRT */
	(void)acct(NULL);
	fatalx("sandbox: a forbidden system call was allowed");
}

#else

void
sandbox_apply(int proc)
{
	fatalx("sandbox: no system call filter on this system");
}

void
sandbox_forbidden(void)
{
	fatalx("sandbox: no system call filter on this system");
}

#endif

void
sandbox_forbidden_exec(void)
{
	static char	 page[8192];
	void		*p;

	/* what an exploit does first: make its payload executable */
	p = (void *)(((uintptr_t)page + 4095) & ~(uintptr_t)4095);
	(void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
	fatalx("sandbox: mprotect to PROT_EXEC was allowed");
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Confinement of the child processes: privilege drop and a system call
 * filter (seccomp on Linux, pledge/unveil on OpenBSD) behind one interface.
 *
 * Order in a child: open syslog, load keys, create the event base, the DNS
 * and HTTP contexts, then privdrop(), then sandbox_apply().  From then on
 * the process opens nothing it was not handed (see the per-process
 * allowlists in sandbox.c).
 *
 * sandbox_debug(1) before sandbox_apply() ("testing seccomp-debug" in the
 * configuration of a mailhookd -X) makes a forbidden system call print its
 * number and name on stderr before the process dies by SIGSYS, so that an
 * operator can find a missing entry in an allowlist.
 */
#ifndef MH_SANDBOX_H
#define MH_SANDBOX_H

/*
 * Drop root: chroot to chrootdir (NULL: no chroot), setgroups, setresgid,
 * setresuid to user.  Not root: warn and keep the current user (dev mode),
 * no chroot.  Fatal on any failure.
 */
void		 privdrop(const char *user, const char *chrootdir);

/*
 * No core dumps (RLIMIT_CORE 0, hard limit too) and, on Linux, not
 * dumpable (PR_SET_DUMPABLE 0); mailhookd's first step, again after
 * privdrop().  Fatal on failure.
 */
void		 sandbox_nodump(void);

/*
 * no_new_privs and the system call filter of that process (enum mh_proc
 * from mailhook.h).  Fatal if it cannot be installed (fail closed).
 */
void		 sandbox_apply(int proc);

/* force the trap-and-report mode of the filter (before sandbox_apply) */
void		 sandbox_debug(int);

/* "chroot=/var/spool/mailhook uid=_mailhook seccomp=filter" */
const char	*sandbox_describe(void);

/*
 * Test trigger: make a system call that no filter allows.  Does not return
 * under a filter (SIGSYS); without one it is fatal (exit 1).
 */
__attribute__((noreturn)) void sandbox_forbidden(void);
/* the same with an mprotect of a page to PROT_EXEC (refused after start) */
__attribute__((noreturn)) void sandbox_forbidden_exec(void);

#endif /* MH_SANDBOX_H */

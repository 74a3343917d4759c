/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The parent's part of "fallback maildir": an inbound message whose POSTs
 * ran out of lifetime, handed over by hookd (IMSG_FALLBACK_MAILDIR with
 * the message's fd), written into the route's maildir.
 *
 * Why the parent: hookd is chrooted in the spool and may not open
 * anything outside it, and the maildir is the operator's directory
 * anywhere on the system.  hookd names the route only; the path comes
 * from the parent's own configuration, so a compromised hookd can write
 * a message into a configured maildir and nowhere else.  The descriptor
 * must be a regular file (a pipe could stall the parent) and is read
 * with pread(2), bounded.
 *
 * Maildir (as qmail's maildir(5)): the file is written in tmp/ under a
 * unique name (time, microseconds, pid, a counter, the host name),
 * fsynced, renamed into new/ and new/ fsynced; only then is hookd told.
 * The file, and tmp/ new/ cur/ when made here, belong to the maildir's
 * owner; a maildir, tmp/ or new/ that is a symbolic link, or a link
 * anywhere on the maildir's path, is refused (its owner could point it
 * anywhere, and the parent is root), unless it is root's in a directory
 * only root may write: then the maildir's owner cannot have made it.
 * Lines end in LF, with Return-Path and Delivered-To first.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "fileio.h"
#include "envelope.h"
#include "proc.h"
#include "mailhookd.h"


/* links followed on one maildir's path, at most: a loop ends there */
#define MAILDIR_LINKS	8

/*
 * A link the maildir's owner cannot have made or moved: root's, in a
 * directory only root may write (an admin's /var/mail/hooks -> /data/hooks).
 */
static int
maildir_link_trusted(int dfd, const struct stat *lst)
{
	struct stat	 dst;

	return (lst->st_uid == 0 && fstat(dfd, &dst) == 0 &&
	    dst.st_uid == 0 && (dst.st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

static int	maildir_walk(int, const char *, int, int *);

/*
 * name in dfd, that openat(O_NOFOLLOW) refused with err: a trusted link,
 * followed; any other link refused; not a link, err
 */
static int
maildir_follow(int dfd, const char *name, int err, const char *shown,
    int make, int *links)
{
	char		 target[PATH_MAX];
	struct stat	 lst;
	ssize_t		 n;

	if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISLNK(lst.st_mode)) {
		errno = err;
		return (-1);
	}
	if (!maildir_link_trusted(dfd, &lst) || ++*links > MAILDIR_LINKS) {
		if (*links > MAILDIR_LINKS)
			log_warnx("%s: a symbolic link past the %d followed on "
			    "a maildir's path (a loop?): refused", shown,
			    MAILDIR_LINKS);
		else
			log_warnx("%s: a symbolic link: refused", shown);
		errno = ELOOP;
		return (-1);
	}
	if ((n = readlinkat(dfd, name, target, sizeof(target))) == -1)
		return (-1);
	if ((size_t)n >= sizeof(target)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	target[n] = '\0';
	return (maildir_walk(dfd, target, make, links));
}

/*
 * The directory of path (from "/" if absolute, else from at), walked one
 * name at a time without following a link (open(2) with O_NOFOLLOW only
 * guards the last name, and a trailing "/" makes even that one a link's
 * target) unless maildir_link_trusted: the maildir's owner may own a
 * directory on the way, and the parent is root.  With make, the last
 * name is made (mode 0700) if missing.
 */
static int
maildir_walk(int at, const char *path, int make, int *links)
{
	const char	*p = path, *e;
	char		 name[NAME_MAX + 1], shown[PATH_MAX];
	size_t		 len;
	int		 fd, next, err, last;

	if ((fd = *p == '/' ? open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
	    fcntl(at, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-1);
	for (;;) {
		p += strspn(p, "/");
		if (*p == '\0')
			return (fd);
		e = p + strcspn(p, "/");
		if ((len = e - p) > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p = e;
		last = p[strspn(p, "/")] == '\0';
		if (strcmp(name, ".") == 0)
			continue;
		if (make && last && mkdirat(fd, name, 0700) == -1 &&
		    errno != EEXIST)
			goto fail;
		if ((next = openat(fd, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			err = errno;
			snprintf(shown, sizeof(shown), "%.*s", (int)(p - path),
			    path);
			if ((next = maildir_follow(fd, name, err, shown,
			    make && last, links)) == -1)
				goto fail;
		}
		close(fd);
		fd = next;
	}
 fail:
	err = errno;
	close(fd);
	errno = err;
	return (-1);
}

/*
 * The maildir, made if missing, and it, its tmp/ and new/ opened without
 * following a link: its owner may replace them, and the parent is root.
 * What the parent makes in it goes to the maildir's owner.
 */
static int
maildir_open(const char *dir, struct stat *owner, int *tmpfd, int *newfd)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	size_t	 i;
	int	 dfd, err, links = 0;

	*tmpfd = *newfd = -1;
	if ((dfd = maildir_walk(-1, dir, 1, &links)) == -1)
		return (-1);
	if (fstat(dfd, owner) == -1)
		goto fail;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (mkdirat(dfd, sub[i], 0700) == -1) {
			if (errno != EEXIST)
				goto fail;
		} else if (geteuid() == 0 && fchownat(dfd, sub[i],
		    owner->st_uid, owner->st_gid, AT_SYMLINK_NOFOLLOW) == -1)
			goto fail;
	}
	if ((*tmpfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (*newfd = openat(dfd, "new", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	close(dfd);
	return (0);
 fail:
	err = errno;
	if (*tmpfd != -1)
		close(*tmpfd);
	close(dfd);
	*tmpfd = -1;
	errno = err;
	return (-1);
}

/* the message, CRLF as LF, after the two header lines */
static int
maildir_copy(int src, off_t size, int dst, const char *head)
{
	char	 in[32768], out[2 * 32768];
	off_t	 off = 0;
	ssize_t	 n, i;
	size_t	 o;
	int	 cr = 0;

	if (write_all(dst, head, strlen(head)) == -1)
		return (-1);
	while (off < size) {
		if ((n = pread(src, in, sizeof(in), off)) <= 0)
			return (-1);
		off += n;
		for (i = 0, o = 0; i < n; i++) {
			if (cr && in[i] != '\n')
				out[o++] = '\r';
			cr = in[i] == '\r';
			if (!cr)
				out[o++] = in[i];
		}
		if (write_all(dst, out, o) == -1)
			return (-1);
	}
	if (cr && write_all(dst, "\r", 1) == -1)
		return (-1);
	return (0);
}

static int
maildir_write(const char *dir, int fd, const struct fallback_req *req,
    char *name, size_t namelen)
{
	static unsigned int	 counter;
	char			 host[MH_NAME_MAX],
				    head[2 * MH_ADDR_MAX + 64];
	struct timeval		 tv;
	struct stat		 st, owner;
	size_t			 i;
	int			 out, err, tmpfd, newfd, rc = -1;

	if (fallback_fd_ok(fd, &st) == -1)
		return (-1);
	if (maildir_open(dir, &owner, &tmpfd, &newfd) == -1)
		return (-1);
	/* "/" and ":" cannot be in the host part of the name */
	strlcpy(host, parent_conf->hostname[0] ? parent_conf->hostname :
	    "localhost", sizeof(host));
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	gettimeofday(&tv, NULL);
	snprintf(name, namelen, "%lld.M%06ldP%dQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (int)getpid(), ++counter, host);
	snprintf(head, sizeof(head), "Return-Path: <%s>\nDelivered-To: %s\n",
	    req->sender, req->to);
	if ((out = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		goto done;
	if ((geteuid() == 0 &&
	    fchown(out, owner.st_uid, owner.st_gid) == -1) ||
	    maildir_copy(fd, st.st_size, out, head) == -1 ||
	    fsync(out) == -1) {
		err = errno;
		close(out);
		unlinkat(tmpfd, name, 0);
		errno = err;
		goto done;
	}
	if (close(out) == -1 || renameat(tmpfd, name, newfd, name) == -1) {
		err = errno;
		unlinkat(tmpfd, name, 0);
		errno = err;
		goto done;
	}
	rc = fsync(newfd);
 done:
	err = errno;
	close(tmpfd);
	close(newfd);
	errno = err;
	return (rc);
}

/*
 * mailhookd -n: what can be told of each fallback maildir now, nothing
 * made: a symbolic link on its path that a message's writing would
 * refuse (maildir_walk), or a tmp/ or new/ that is one, is an error; a
 * directory that does not exist yet is not (made at the first message),
 * one that cannot be looked at (not root) is a warning.  -1 on an error.
 */
int
maildir_check(const struct config *conf)
{
	const struct route	*rt;
	const char		*sub[] = { "tmp", "new" };
	struct stat		 st;
	size_t			 i;
	int			 fd, links, rv = 0;

	TAILQ_FOREACH(rt, &conf->routes, entry) {
		if (rt->fallback_maildir[0] == '\0')
			continue;
		links = 0;
		if ((fd = maildir_walk(-1, rt->fallback_maildir, 0,
		    &links)) == -1) {
			if (errno == ENOENT)
				continue;
			if (errno == ELOOP) {
				log_warnx("%s: fallback maildir \"%s\": a "
				    "symbolic link on its path: refused",
				    rt->fallback_at, rt->fallback_maildir);
				rv = -1;
			} else
				log_warnx("%s: fallback maildir \"%s\": %s: "
				    "not checked", rt->fallback_at,
				    rt->fallback_maildir, strerror(errno));
			continue;
		}
		for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
			if (fstatat(fd, sub[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode)) {
				log_warnx("%s: fallback maildir \"%s\": its "
				    "%s/ is a symbolic link: refused",
				    rt->fallback_at, rt->fallback_maildir,
				    sub[i]);
				rv = -1;
			}
		close(fd);
	}
	return (rv);
}

/* IMSG_FALLBACK_MAILDIR from hookd */
void
maildir_fallback(struct mproc *p, struct mh_imsg *imsg)
{
	struct fallback_req	*req;
	struct fallback_res	 res;
	const struct route	*rt;

	req = msg_get(p, imsg, sizeof(*req));
	if (p->proc != PROC_HOOKD || (imsg->fd == -1 &&
	    !MH_IMSG_FD_LOST(imsg)) || !fallback_req_ok(req))
		fatalx("FALLBACK_MAILDIR from %s: malformed", p->name);
	memset(&res, 0, sizeof(res));
	strlcpy(res.msgid, req->msgid, sizeof(res.msgid));
	res.rcpt = req->rcpt;
	if (MH_IMSG_FD_LOST(imsg)) {
		strlcpy(res.error, "its descriptor was lost on the way "
		    "(descriptor limit?)", sizeof(res.error));
		res.temp = 1;
		log_warnx("msgid=%s fallback maildir: %s", req->msgid,
		    res.error);
	} else if ((rt = config_route_fallback(parent_conf, req->route, 0)) ==
	    NULL)
		strlcpy(res.error, "the route has no fallback maildir now",
		    sizeof(res.error));
	else if (maildir_write(rt->fallback_maildir, imsg->fd, req, res.name,
	    sizeof(res.name)) == -1) {
		snprintf(res.error, sizeof(res.error), "%.60s: %.60s",
		    rt->fallback_maildir, strerror(errno));
		log_warnx("msgid=%s fallback maildir: %s", req->msgid,
		    res.error);
	} else
		res.ok = 1;
	if (imsg->fd != -1)
		close(imsg->fd);
	mproc_compose(p, IMSG_FALLBACK_RES, 0, -1, &res, sizeof(res));
}

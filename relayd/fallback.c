/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * A route's "fallback smtp": hookd hands over an inbound message whose
 * POSTs ran out of lifetime (IMSG_FALLBACK_SMTP, with its descriptor).
 * relayd, the process that makes SMTP connections, takes the host from
 * its own configuration of that route (a compromised hookd can reach a
 * configured fallback and nothing else), queues a copy for that host
 * (envelope "relay") with an X-Mailhook-Fallback trace header, commits it
 * with fsync, and only then answers with the new queue id; hookd marks
 * the recipient done on that answer.  A crash in between queues it again
 * after the restart (at least once).  From then on it is an outbound
 * message like any other: retried, logged, in mhctl show queue and show
 * message, bounced to its sender once its lifetime is over.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "history.h"
#include "log.h"
#include "proc.h"
#include "relayd.h"

/* the trace header, then the message of src (size bytes) into dst */
static int
fallback_copy(int src, off_t size, int dst, const char *head)
{
	char	 buf[64 * 1024];
	off_t	 off = 0;
	ssize_t	 n;

	if (write_all(dst, head, strlen(head)) == -1)
		return (-1);
	while (off < size) {
		if ((n = pread_eintr(src, buf, sizeof(buf), off)) == -1)
			return (-1);
		if (n == 0)
			break;
		if (write_all(dst, buf, n) == -1)
			return (-1);
		off += n;
	}
	return (file_cut(dst, (off_t)strlen(head) + off));
}

/* queue the message of fd for rt's fallback host; its id in id */
static int
fallback_queue(const struct fallback_req *req, const struct route *rt,
    int fd, char id[MH_MSGID_LEN])
{
	struct rmsg		*m;
	struct envelope_rcpt	*r;
	struct stat		 st;
	char			 head[MH_NAME_MAX + 160];
	json_t			*rec;
	int			 out, err;

	if (fallback_fd_ok(fd, &st) == -1)
		return (-1);
	/* the route's pattern: lower-case, no CR/LF (parse.y) */
	snprintf(head, sizeof(head), "X-Mailhook-Fallback: inbound %s, "
	    "route \"%s\", lifetime over\r\n", req->msgid, rt->pattern[0] ?
	    rt->pattern : "any");
	if ((out = queue_open_incoming(id)) == -1)
		return (-1);
	if (fallback_copy(fd, st.st_size, out, head) == -1) {
		err = errno;
		close(out);
		queue_abort(id, 0);
		errno = err;
		return (-1);
	}
	close(out);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("calloc");
	envelope_init(&m->env);
	strlcpy(m->env.sender, req->sender, sizeof(m->env.sender));
	strlcpy(m->env.relay, rt->fallback_smtp, sizeof(m->env.relay));
	strlcpy(m->env.auth_user, "fallback", sizeof(m->env.auth_user));
	if ((r = envelope_add_rcpt(&m->env, req->to)) == NULL)
		fatal("envelope_add_rcpt");
	r->dest = DEST_RELAY;
	if (queue_commit(id, &m->env) == -1) {
		err = errno;
		envelope_clear(&m->env);
		free(m);
		queue_abort(id, 0);
		errno = err;
		return (-1);
	}
	strlcpy(m->id, id, sizeof(m->id));
	sched_add_message(m, 1);
	rec = json_pack("{s:s, s:s, s:s, s:s}", "what", "fallback",
	    "inbound_id", req->msgid, "route", rt->pattern, "relay",
	    rt->fallback_smtp);
	msghist_add(id, "fallback", rec);
	return (0);
}

/* IMSG_FALLBACK_SMTP from hookd */
void
fallback_smtp(struct mproc *p, struct mh_imsg *imsg)
{
	struct fallback_req	*req;
	struct fallback_res	 res;
	const struct route	*rt;
	char			 to[LOG_ADDR_MAX], from[LOG_ADDR_MAX];
	char			 id[MH_MSGID_LEN];

	req = msg_get(p, imsg, sizeof(*req));
	if (p->proc != PROC_HOOKD || (imsg->fd == -1 &&
	    !MH_IMSG_FD_LOST(imsg)) || !fallback_req_ok(req))
		fatalx("malformed FALLBACK_SMTP from %s", p->name);
	memset(&res, 0, sizeof(res));
	strlcpy(res.msgid, req->msgid, sizeof(res.msgid));
	res.rcpt = req->rcpt;
	log_addr(to, sizeof(to), req->to);
	if (MH_IMSG_FD_LOST(imsg)) {
		strlcpy(res.error, "its descriptor was lost on the way "
		    "(descriptor limit?)", sizeof(res.error));
		res.temp = 1;
		log_warnx("msgid=%s to=<%s> fallback smtp: %s",
		    req->msgid, to, res.error);
	} else if ((rt = config_route_fallback(relay_conf, req->route, 1)) ==
	    NULL)
		strlcpy(res.error, "the route has no fallback smtp now",
		    sizeof(res.error));
	else if (fallback_queue(req, rt, imsg->fd, id) == -1) {
		snprintf(res.error, sizeof(res.error), "cannot queue: %s",
		    strerror(errno));
		log_warnx("msgid=%s to=<%s> fallback smtp: %s",
		    req->msgid, to, res.error);
	} else {
		res.ok = 1;
		strlcpy(res.name, id, sizeof(res.name));
		log_info("msgid=%s inbound_id=%s from=<%s> to=<%s> relay=%s "
		    "status=queued (fallback smtp, route %s)", id, req->msgid,
		    log_addr(from, sizeof(from), req->sender), to,
		    rt->fallback_smtp, rt->pattern);
	}
	if (imsg->fd != -1)
		close(imsg->fd);
	mproc_compose(p, IMSG_FALLBACK_RES, 0, -1, &res, sizeof(res));
}

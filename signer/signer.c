/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The signer process: it holds the DKIM private keys and nothing else.
 *
 * The parent reads the keys (dkim ... key FILE) and sends them here only
 * (IMSG_SIGNER_RESET, then one IMSG_SIGNER_KEY each, at start and every
 * reload).  relayd, which owns outbound content, sends a read-only fd of
 * a submitted message with the d= domain (IMSG_SIGN_REQ); the answer is
 * one DKIM-Signature header per key of that domain (IMSG_SIGN_RES), made
 * by the engine in sign.c.  Chrooted to an empty directory, no network
 * and no open(2) (sandbox.c).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "signer.h"

static void
key_msg(struct mproc *p, struct mh_imsg *imsg)
{
	struct signer_key	 sk;
	size_t			 len = MH_IMSG_DATA_SIZE(imsg);
	char			*pem;

	if (len <= sizeof(sk) || len - sizeof(sk) > 64 * 1024)
		fatalx("malformed SIGNER_KEY from %s", p->name);
	memcpy(&sk, imsg->data, sizeof(sk));
	pem = (char *)imsg->data + sizeof(sk);
	if (!msg_str_ok(sk.domain, sizeof(sk.domain)) ||
	    !msg_str_ok(sk.selector, sizeof(sk.selector)) ||
	    !msg_str_ok(sk.file, sizeof(sk.file)) ||
	    config_check_domain(sk.domain) == -1 ||
	    config_check_selector(sk.selector) == -1 ||
	    signer_key_add(sk.domain, sk.selector, sk.file, pem,
	    len - sizeof(sk)) == -1)
		fatalx("malformed SIGNER_KEY from %s", p->name);
	explicit_bzero(pem, len - sizeof(sk));
}

static void
signer_parent(struct mproc *p, struct mh_imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_SIGNER_RESET:
		if (MH_IMSG_DATA_SIZE(imsg) != 0)
			fatalx("malformed SIGNER_RESET from %s", p->name);
		signer_keys_reset();
		return;
	case IMSG_SIGNER_KEY:
		key_msg(p, imsg);
		return;
	}
	fatalx("unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

static void
sign_request(struct mproc *p, struct mh_imsg *imsg)
{
	static char	 hdrs[SIGN_HDRS_MAX];
	struct sign_req	*req = msg_get(p, imsg, sizeof(*req));
	struct sign_res	 res;
	size_t		 len;

	if ((imsg->fd == -1 && !MH_IMSG_FD_LOST(imsg)) ||
	    !msg_str_ok(req->domain, sizeof(req->domain)))
		fatalx("malformed SIGN_REQ from %s", p->name);
	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	if (MH_IMSG_FD_LOST(imsg)) {
		/* relayd holds the message and asks again later */
		res.status = SIGN_FAIL;
		strlcpy(res.error, "the message's descriptor was lost on the "
		    "way (descriptor limit?)", sizeof(res.error));
	} else {
		res.status = signer_sign(imsg->fd, req->domain, hdrs,
		    sizeof(hdrs), &len, res.error, sizeof(res.error)) == 0 ?
		    SIGN_OK : SIGN_FAIL;
		close(imsg->fd);
	}
	if (res.status == SIGN_OK)
		mproc_compose2(p, IMSG_SIGN_RES, 0, -1, &res, sizeof(res),
		    hdrs, len);
	else {
		log_warnx("cannot sign for %s: %s", req->domain, res.error);
		mproc_compose(p, IMSG_SIGN_RES, 0, -1, &res, sizeof(res));
	}
	/* relayd goes on with this one while the next is signed */
	mproc_flush_now(p);
}

static void
signer_dispatch(struct mproc *p, struct mh_imsg *imsg)
{
	if (imsg->hdr.type == IMSG_SIGN_REQ && p->proc == PROC_RELAYD) {
		sign_request(p, imsg);
		return;
	}
	fatalx("unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

static json_t *
signer_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	if (cmd->id == CTL_DKIM_SHOW)
		return (signer_show(json_string_value(
		    json_array_get(argv, 2))));
	if (cmd->id == CTL_SHOW_STATS)
		return (signer_stats());
	return (NULL);
}

static void
signer_preinit(const struct config *conf)
{
	signer_init();
}

static void
signer_configure(struct config *conf)
{
	/* the keys come apart from the config, from the parent only */
}

static const struct child_ops signer_ops = {
	.proc = PROC_SIGNER,
	.preinit = signer_preinit,
	.chroot = child_empty_root,
	.configure = signer_configure,
	.peer_dispatch = signer_dispatch,
	.parent_dispatch = signer_parent,
	.control = signer_control,
};

void
signer_main(void)
{
	child_run(&signer_ops);
}

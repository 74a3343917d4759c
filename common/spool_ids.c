/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
#include <sys/types.h>
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "spool_ids.h"

struct spool_id {
	RB_ENTRY(spool_id)	 entry;
	char			 msgid[MH_MSGID_LEN];
	int			 peer;
};

static int
spool_id_cmp(const struct spool_id *a, const struct spool_id *b)
{
	return (strcmp(a->msgid, b->msgid));
}

RB_HEAD(spool_idtree, spool_id);
RB_PROTOTYPE(spool_idtree, spool_id, entry, spool_id_cmp);
RB_GENERATE(spool_idtree, spool_id, entry, spool_id_cmp);
static struct spool_idtree	 ids = RB_INITIALIZER(&ids);

/* msgid (a file of incoming/ just made) is the peer's */
void
spool_ids_add(const char *msgid, int peer)
{
	struct spool_id	*o, *had;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		fatal("spool_ids_add");
	if (strlcpy(o->msgid, msgid, sizeof(o->msgid)) >= sizeof(o->msgid))
		fatalx("spool_ids_add: id too long");
	o->peer = peer;
	/* (a file made new cannot have an id still open: the last says) */
	if ((had = RB_INSERT(spool_idtree, &ids, o)) != NULL) {
		had->peer = peer;
		free(o);
	}
}

/* msgid out of the peer's open files: 0, or -1 if it has no such */
int
spool_ids_take(const char *msgid, int peer)
{
	struct spool_id	 key, *o;

	if (strlcpy(key.msgid, msgid, sizeof(key.msgid)) >= sizeof(key.msgid) ||
	    (o = RB_FIND(spool_idtree, &ids, &key)) == NULL || o->peer != peer)
		return (-1);
	RB_REMOVE(spool_idtree, &ids, o);
	free(o);
	return (0);
}

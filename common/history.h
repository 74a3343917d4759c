/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The history of messages (history.c): what happened to each one, kept
 * for the configured "history" period after its last record, for
 * mhctl show message and the API's GET /messages/ID.
 *
 * A process that owns a queue (relayd, hookd) keeps one journal in a
 * directory of its spool: files named by the time of their first
 * record, each a sequence of lines "ID JSON\n" (ID the 16 hex digits of
 * a queue id, JSON one compact object).  Records are appended as they
 * happen, one write each, and reach the disk with the spool's next
 * group commit (gsync.h): no flush of their own.  A file is closed once
 * it covers history/8 (1s to 1h) or 16 MB; then the sorted ids it holds
 * are written beside it (NAME.idx) so a look-up reads only the files
 * that name a message.  On a timer a file is removed once the history
 * period has passed since it was closed, unless it holds a record of a
 * message still queued (live()); when a message leaves its queue
 * (history_settle()) every older file that holds some of its history
 * counts from then (its mtime is set): a message's whole history is kept
 * for the period after it left, and nothing is ever copied.  The disk
 * used is bounded by what is written in the history period plus the
 * queue lifetime.
 */
#ifndef MH_HISTORY_H
#define MH_HISTORY_H

#include <jansson.h>

struct event_base;

/* every message still queued, each given to add(): its files are kept */
typedef void	(*history_live_fn)(void (*add)(const char *id));

/*
 * The journal in directory name under dirfd (made if missing), records
 * kept retention seconds; 0 ok, -1 error (logged).
 */
int	 history_init(struct event_base *, int dirfd, const char *name,
	    int retention, history_live_fn);
void	 history_configure(int retention);
void	 history_shutdown(void);
/* append rec (an object; "time" is added if missing) for queue id id */
void	 history_add(const char *id, json_t *rec);
/* id left its queue: the files with its records count from now */
void	 history_settle(const char *id);
/* every record of id, oldest first (at most about 512 KB of them) */
json_t	*history_get(const char *id);
/* the most recent record of id whose "what" is what (a new reference) */
json_t	*history_last(const char *id, const char *what);
/* remove what has expired now (the timer does it; tests) */
void	 history_prune(void);

#endif /* MH_HISTORY_H */

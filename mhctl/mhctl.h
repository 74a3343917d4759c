/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mhctl's files: mhctl.c (the command line, the socket, the tables) and
 * showmsg.c (show message).
 */
#ifndef MH_MHCTL_H
#define MH_MHCTL_H

#include <jansson.h>

/* showmsg.c: the history in time order, then the message for people */
void	 message_sort(json_t *reply);
int	 print_message(json_t *reply);
/* showmsg.c: show message ID --raw, the message file fd to stdout */
int	 raw_out(int fd);
/* mhctl.c: an epoch time as fmt in UTC, or "-" (-1) */
int	 utc_format(char *buf, size_t len, double t, const char *fmt);

#endif /* MH_MHCTL_H */

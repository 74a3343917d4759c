/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Address fields made safe for GMime's address parser.  GMime 3.2.13 (the
 * version in Debian 12) loses memory when an address ends in a comment
 * that is never closed: "To: a@[192.0.2.1] (x" leaks the addr-spec
 * (GMime issue 159, fixed in 3.2.15).  A peer can send ten thousand such
 * fields in one message, message after message.  So no address field
 * reaches GMime with a comment that runs to its end: neither as its
 * parser reads it (addr_guard_parser) nor as we write one again before
 * we parse it (hookd/mime.c's words_fix can take a comment's ")" into
 * an encoded-word: "m@[](=?utf-8?)?=94?=").
 */
#ifndef MH_ADDRGUARD_H
#define MH_ADDRGUARD_H

#include <stddef.h>

#include <gmime/gmime.h>

/* the "(" of s opening the first comment that is never closed, or NULL */
const char	*addr_open_comment(const char *s);
/* that "(" and every "(" after it made spaces, in place; how many */
size_t		 addr_unclose(char *s);
/* every address field the parser reads, at any depth, addr_unclose()d */
void		 addr_guard_parser(GMimeParser *);

#endif

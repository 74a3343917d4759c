/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Address fields without comments that run to their end (addrguard.h).
 *
 * A comment is read the way GMime's skip_comment() reads one: from its
 * "(", a backslash takes the next character with it, "(" nests and ")"
 * closes.  Outside comments every "(" is taken to open one, quoted or
 * escaped or not, so GMime opens a comment at no "(" that this scan did
 * not check, or find inside one it checked: a comment nested in a closed
 * one closes too.  Once a comment is found that never closes, everything
 * up to the end of the field is inside it, and without a "(" there, no
 * comment can open there any more.
 */
#include <stddef.h>

#include <gmime/gmime.h>

#include "addrguard.h"

/* the fields GMime parses as address lists (case does not matter) */
#define ADDR_FIELDS	"^(resent-)?(from|sender|reply-to|to|cc|bcc)$"

/* past the comment opened at s ("("), or NULL if it never closes */
static const char *
comment_end(const char *s)
{
	int	 depth = 1;

	for (s++; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '(')
			depth++;
		else if (*s == ')' && --depth == 0)
			return (s + 1);
	}
	return (NULL);
}

const char *
addr_open_comment(const char *s)
{
	const char	*end;

	for (; *s != '\0'; s++) {
		if (*s != '(')
			continue;
		if ((end = comment_end(s)) == NULL)
			return (s);
		s = end - 1;
	}
	return (NULL);
}

size_t
addr_unclose(char *s)
{
	char	*p;
	size_t	 n = 0;

	if ((p = (char *)addr_open_comment(s)) == NULL)
		return (0);
	for (; *p != '\0'; p++)
		if (*p == '(') {
			*p = ' ';
			n++;
		}
	return (n);
}

/*
 * GMime calls this with each address field's value as it reads the field,
 * before the message it heads takes it: the value is the parser's own copy
 * (g_strdup'ed by its header reader, then kept as the field's raw value),
 * so it is changed in place, without a change of length.  (GMime compiles
 * the expression for each parser: about 4 us a message here.)
 */
static void
field_read(GMimeParser *parser, const char *name, const char *value,
    gint64 offset, gpointer arg)
{
	(void)parser;
	(void)name;
	(void)offset;
	(void)arg;
	if (value != NULL)
		addr_unclose((char *)value);
}

void
addr_guard_parser(GMimeParser *parser)
{
	g_mime_parser_set_header_regex(parser, ADDR_FIELDS, field_read, NULL);
}

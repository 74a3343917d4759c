/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/credlines.c: the lines of a credentials file.
 */
#include <ctype.h>
#include <string.h>

#include "credlines.h"

int
cred_line(const char **p, const char *end, const char **line, size_t *len,
    const char **why)
{
	const char	*s = *p, *nl, *colon;
	size_t		 l, i;

	if ((nl = memchr(s, '\n', end - s)) == NULL)
		nl = end;
	*p = nl < end ? nl + 1 : end;
	l = nl - s;
	while (l > 0 && isspace((unsigned char)s[l - 1]))
		l--;
	while (l > 0 && isspace((unsigned char)*s)) {
		s++;
		l--;
	}
	if (l == 0 || *s == '#')
		return (0);
	*line = s;
	*len = l;
	if ((colon = memchr(s, ':', l)) == NULL || colon == s ||
	    colon + 1 == s + l) {
		*why = "want user:hash";
		return (-1);
	}
	for (i = 0; i < l; i++)
		if (!isgraph((unsigned char)s[i])) {
			*why = "bad character";
			return (-1);
		}
	return (1);
}

size_t
creds_bad_line(const char *data, size_t len, size_t after, const char **why)
{
	const char	*p = data, *end = data + len, *line;
	size_t		 l, lineno = 0;

	while (p < end) {
		lineno++;
		if (cred_line(&p, end, &line, &l, why) == -1 &&
		    lineno > after)
			return (lineno);
	}
	return (0);
}

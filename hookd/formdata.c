/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * multipart/form-data (RFC 7578) written out here rather than by libcurl,
 * so that the Standard Webhooks signature covers the very bytes sent.
 * Names, file names and content types are escaped the way browsers do
 * (WHATWG: CR, LF and '"' percent-encoded); the boundary is random and
 * checked against every part's data.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "hookd.h"

#define FD_BOUNDARY_LEN	40

/* a header parameter value: printable, no quote, no CR/LF */
static size_t
param_len(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += (*s == '"' || *s == '\r' || *s == '\n' ||
		    (unsigned char)*s < 0x20 || *s == 0x7f) ? 3 : 1;
	return (n);
}

static char *
param_put(char *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\r' || *s == '\n' ||
		    (unsigned char)*s < 0x20 || *s == 0x7f)
			o += sprintf(o, "%%%02X", (unsigned char)*s);
		else
			*o++ = *s;
	}
	return (o);
}

/* a content type goes out only if it looks like type/subtype */
static int
ctype_ok(const char *s)
{
	const char	*p;

	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return (0);
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"()<>@,;:\\[]?={}", *p) != NULL)
			if (*p != '/')
				return (0);
	return (strchr(s, '/') != NULL);
}

/* what goes in a part's Content-Type, NULL for none */
static const char *
part_ctype(const struct http_part *p)
{
	if (ctype_ok(p->content_type))
		return (p->content_type);
	return (p->filename != NULL ? "application/octet-stream" : NULL);
}

/*
 * "mailhook-" and 31 characters: with a seed (the queue id and recipient,
 * so that every retry sends the same bytes) the seed padded with '0',
 * else, or after a clash, random hex digits.
 */
static void
boundary_new(char *b, const char *seed, int tries)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	memcpy(b, "mailhook-", 9);
	for (i = 9; i < FD_BOUNDARY_LEN; i++) {
		if (tries > 0 || seed == NULL)
			b[i] = hex[arc4random_uniform(16)];
		else if (*seed != '\0' && strchr("0123456789abcdefghijklmnop"
		    "qrstuvwxyz_-", *seed) != NULL)
			b[i] = *seed++;
		else
			b[i] = '0';
	}
	b[FD_BOUNDARY_LEN] = '\0';
}

static int
boundary_clash(const char *b, const struct http_part *parts, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (parts[i].len >= FD_BOUNDARY_LEN &&
		    memmem(parts[i].data, parts[i].len, b,
		    FD_BOUNDARY_LEN) != NULL)
			return (1);
	return (0);
}

int
formdata_build(const struct http_part *parts, size_t n, const char *seed,
    char **bodyp, size_t *lenp, char *ctype, size_t ctlen)
{
	char		 b[FD_BOUNDARY_LEN + 1], *body, *o;
	const char	*ct;
	size_t		 i, len = 0;
	int		 tries = 0;

	do {
		boundary_new(b, seed, tries);
	} while (boundary_clash(b, parts, n) && ++tries < 8);
	if (tries == 8)
		return (-1);
	for (i = 0; i < n; i++) {
		len += 2 + FD_BOUNDARY_LEN + 2;
		len += sizeof("Content-Disposition: form-data; name=\"\"") - 1 +
		    param_len(parts[i].name);
		if (parts[i].filename != NULL)
			len += sizeof("; filename=\"\"") - 1 +
			    param_len(parts[i].filename);
		len += 2;
		if ((ct = part_ctype(&parts[i])) != NULL)
			len += sizeof("Content-Type: \r\n") - 1 + strlen(ct);
		len += 2 + parts[i].len + 2;
	}
	len += 2 + FD_BOUNDARY_LEN + 4;
	if ((body = malloc(len + 1)) == NULL)
		return (-1);
	o = body;
	for (i = 0; i < n; i++) {
		o += sprintf(o, "--%s\r\nContent-Disposition: form-data; "
		    "name=\"", b);
		o = param_put(o, parts[i].name);
		*o++ = '"';
		if (parts[i].filename != NULL) {
			o += sprintf(o, "; filename=\"");
			o = param_put(o, parts[i].filename);
			*o++ = '"';
		}
		o += sprintf(o, "\r\n");
		if ((ct = part_ctype(&parts[i])) != NULL)
			o += sprintf(o, "Content-Type: %s\r\n", ct);
		o += sprintf(o, "\r\n");
		if (parts[i].len > 0)
			memcpy(o, parts[i].data, parts[i].len);
		o += parts[i].len;
		o += sprintf(o, "\r\n");
	}
	o += sprintf(o, "--%s--\r\n", b);
	if ((size_t)(o - body) != len) {
		free(body);
		return (-1);
	}
	*bodyp = body;
	*lenp = len;
	snprintf(ctype, ctlen, "multipart/form-data; boundary=%s", b);
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/apikeys.c: the lines of an "api keys" file.
 */
#include <stdlib.h>
#include <string.h>

#include "apikeys.h"
#include "config.h"
#include "hex.h"
#include "log.h"

/* DOMAIN,...: each a domain name, empty ones skipped, not too many */
static int
domains_ok(const char *doms)
{
	char	 d[MH_NAME_MAX];
	size_t	 len, n = 0;

	while (*doms != '\0') {
		len = strcspn(doms, ",");
		if (len > 0) {
			if (len >= sizeof(d) || ++n > APIKEY_DOMAINS_MAX)
				return (-1);
			memcpy(d, doms, len);
			d[len] = '\0';
			if (config_check_domain(d) == -1)
				return (-1);
		}
		doms += len;
		if (*doms == ',')
			doms++;
	}
	return (0);
}

int
apikey_line(char *line, char **name, unsigned char hash[MH_SHA256_LEN],
    char **doms)
{
	char	*h;
	size_t	 n;

	line[strcspn(line, "\r#")] = '\0';
	line += strspn(line, " \t");
	line[strcspn(line, " \t")] = '\0';
	if (*line == '\0')
		return (0);
	*name = strsep(&line, ":");
	h = strsep(&line, ":");
	*doms = line;
	n = strlen(*name);
	if (h == NULL || n == 0 || n >= APIKEY_NAME ||
	    strspn(*name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n || strlen(h) != 2 * MH_SHA256_LEN)
		return (-1);
	/* lower-case hex, as mhctl api keygen and sha256sum write it */
	if (!mh_ishex(h, 2 * MH_SHA256_LEN) ||
	    mh_unhex(hash, h, MH_SHA256_LEN) == -1)
		return (-1);
	if (*doms != NULL && domains_ok(*doms) == -1)
		return (-1);
	return (1);
}

size_t
apikeys_bad_line(const char *data, size_t len, size_t after)
{
	unsigned char	 hash[MH_SHA256_LEN];
	char		*copy, *p, *line, *name, *doms;
	size_t		 clen, lineno = 0, bad = 0;

	if ((copy = strndup(data, len)) == NULL)
		fatal("apikeys_bad_line");
	/* a NUL byte: webd would read no further, its line is bad */
	clen = strlen(copy);
	p = copy;
	while (bad == 0 && (line = strsep(&p, "\n")) != NULL) {
		lineno++;
		if (lineno > after && (apikey_line(line, &name, hash,
		    &doms) == -1 || (p == NULL && clen < len)))
			bad = lineno;
	}
	explicit_bzero(copy, clen);
	explicit_bzero(hash, sizeof(hash));
	free(copy);
	return (bad);
}

/* the line's name if it is a key, else NULL */
static const char *
key_name(char *line)
{
	unsigned char	 hash[MH_SHA256_LEN];
	char		*name, *doms;
	int		 rv;

	rv = apikey_line(line, &name, hash, &doms);
	explicit_bzero(hash, sizeof(hash));
	return (rv == 1 ? name : NULL);
}

size_t
apikeys_dup_name(const char *data, size_t len, size_t after, size_t *first)
{
	char		*copy, *p, *line;
	const char	**names;
	size_t		 clen, n = 0, i, dup = 0;

	if ((copy = strndup(data, len)) == NULL)
		fatal("apikeys_dup_name");
	clen = strlen(copy);
	for (p = copy; *p != '\0'; p++)
		n += *p == '\n';
	if ((names = calloc(n + 1, sizeof(*names))) == NULL)
		fatal("apikeys_dup_name");
	/* names[i]: the name on line i + 1, NULL for no key */
	p = copy;
	for (n = 0; dup == 0 && (line = strsep(&p, "\n")) != NULL; n++) {
		if ((names[n] = key_name(line)) == NULL || n < after)
			continue;
		for (i = 0; i < n; i++)
			if (names[i] != NULL && strcmp(names[i], names[n]) == 0)
				break;
		if (i < n) {
			dup = n + 1;
			*first = i + 1;
		}
	}
	free(names);
	explicit_bzero(copy, clen);
	free(copy);
	return (dup);
}

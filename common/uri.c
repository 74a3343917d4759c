/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Percent-encoding of a tracked link (uri.h).
 */
#include <string.h>
#include <strings.h>

#include "uri.h"

/*
 * A byte a browser percent-encodes wherever it stands in an http(s) URL
 * (path, query and fragment: WHATWG URL's fragment set, which the path
 * and query sets contain): a control, space, DEL, a byte of a non-ASCII
 * character, " < >.  The others it may keep (^ ` { | } in the query, a
 * lone %) or encode itself (them in the path, ' in the query): left to
 * it, so that it reads the Location as it read the link.
 */
static int
uri_unsafe(unsigned char c)
{
	return (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>');
}

/* a byte to change: unsafe, or a backslash (a slash in a path) */
static int
uri_change(unsigned char c)
{
	return (c == '\\' || uri_unsafe(c));
}

/* http: or https:, whose backslashes before the query are slashes */
static int
uri_special(const char *url)
{
	return (strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0);
}

/*
 * Where the authority after "scheme://" ends, or url if there is none:
 * of http(s) at a backslash too, as a browser reads it (WHATWG URL).
 */
static const char *
uri_authority_end(const char *url)
{
	const char	*p;

	if ((p = strstr(url, "://")) == NULL || strcspn(url, "/?#") <
	    (size_t)(p - url))
		return (url);
	p += 3;
	return (p + strcspn(p, uri_special(url) ? "/?#\\" : "/?#"));
}

/* url without the controls and spaces around it: its start, *len */
static const char *
uri_trim(const char *url, size_t *len)
{
	size_t	 n;

	while (*url != '\0' && (unsigned char)*url <= 0x20)
		url++;
	n = strlen(url);
	while (n > 0 && (unsigned char)url[n - 1] <= 0x20)
		n--;
	*len = n;
	return (url);
}

size_t
uri_strip(char *url)
{
	const char	*s;
	size_t		 len, i, n = 0;

	s = uri_trim(url, &len);
	for (i = 0; i < len; i++)
		if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			url[n++] = s[i];
	url[n] = '\0';
	return (n);
}

int
uri_encode(const char *url, char *out, size_t len)
{
	static const char	 hexd[] = "0123456789ABCDEF";
	const unsigned char	*p = (const unsigned char *)url;
	const char		*auth, *end;
	size_t			 n = 0, k;
	int			 full = len == 0, special;
	char			 e[3];

	/* most links need nothing: copied whole (or what fits of them) */
	while (*p != '\0' && !uri_change(*p))
		p++;
	if (*p == '\0') {
		n = (const char *)p - url;
		if (len > 0) {
			k = n < len ? n : len - 1;
			memcpy(out, url, k);
			out[k] = '\0';
		}
		return ((int)n);
	}

	url = uri_trim(url, &k);
	end = url + k;
	auth = uri_authority_end(url);
	special = uri_special(url);
	for (p = (const unsigned char *)url; (const char *)p < end; p++) {
		/* a browser drops these from a URL (WHATWG URL, basic parser) */
		if (*p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (*p == '?' || *p == '#')
			special = 0;
		k = 1;
		e[0] = *p;
		/* and reads a backslash in an http(s) path as a slash */
		if (*p == '\\' && special && (const char *)p >= auth)
			e[0] = '/';
		else if (uri_unsafe(*p)) {
			if ((const char *)p < auth)
				return (-1);
			e[0] = '%';
			e[1] = hexd[*p >> 4];
			e[2] = hexd[*p & 0x0f];
			k = 3;
		}
		/* what fits of the start, never half an escape */
		if (!full && n + k < len)
			memcpy(out + n, e, k);
		else if (!full) {
			out[n] = '\0';
			full = 1;
		}
		n += k;
	}
	if (!full)
		out[n] = '\0';
	return ((int)n);
}

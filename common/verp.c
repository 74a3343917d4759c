/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP encoding and decoding (verp.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "verp.h"

static int
hex16_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n != MH_MSGID_LEN - 1)
		return (0);
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return (0);
	return (1);
}

int
verp_encode(char *buf, size_t len, const char *msgid, const char *rcpt,
    const char *bounce_domain)
{
	const char	*at;
	int		 n;

	if (!hex16_ok(msgid, strlen(msgid)) || bounce_domain[0] == '\0' ||
	    !envelope_field_ok(rcpt) || !envelope_field_ok(bounce_domain))
		return (-1);
	if ((at = strrchr(rcpt, '@')) == NULL || at == rcpt || at[1] == '\0' ||
	    strchr(at + 1, '=') != NULL)
		return (-1);
	n = snprintf(buf, len, VERP_PREFIX "%s-%.*s=%s@%s", msgid,
	    (int)(at - rcpt), rcpt, at + 1, bounce_domain);
	if (n < 0 || (size_t)n >= len)
		return (-1);
	return (0);
}

int
verp_decode(const char *addr, const char *bounce_domain,
    char msgid[MH_MSGID_LEN], char *rcpt, size_t rcptlen)
{
	const char	*at, *eq, *p, *local;
	size_t		 i, plen = strlen(VERP_PREFIX), llen;
	int		 n;

	if (addr == NULL || bounce_domain == NULL || bounce_domain[0] == '\0' ||
	    !envelope_field_ok(addr))
		return (-1);
	/* from the right: the last '@' starts our domain */
	if ((at = strrchr(addr, '@')) == NULL ||
	    strcasecmp(at + 1, bounce_domain) != 0)
		return (-1);
	if ((size_t)(at - addr) < plen + MH_MSGID_LEN + 2 ||
	    strncasecmp(addr, VERP_PREFIX, plen) != 0)
		return (-1);
	p = addr + plen;
	if (!hex16_ok(p, MH_MSGID_LEN - 1) || p[MH_MSGID_LEN - 1] != '-')
		return (-1);
	local = p + MH_MSGID_LEN;
	/* the last '=' before our '@' splits the recipient's local@domain */
	for (eq = NULL, p = local; p < at; p++)
		if (*p == '=')
			eq = p;
	if (eq == NULL || eq == local || eq + 1 == at)
		return (-1);
	llen = eq - local;
	n = snprintf(rcpt, rcptlen, "%.*s@%.*s", (int)llen, local,
	    (int)(at - eq - 1), eq + 1);
	if (n < 0 || (size_t)n >= rcptlen)
		return (-1);
	p = addr + plen;
	for (i = 0; i < MH_MSGID_LEN - 1; i++)
		msgid[i] = tolower((unsigned char)p[i]);
	msgid[i] = '\0';
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * RFC 3463 enhanced status codes (enhanced.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enhanced.h"

/* one to three digits at s; their number, 0 if none or more */
static size_t
digits(const char *s)
{
	size_t	 n = 0;

	while (n < 4 && s[n] >= '0' && s[n] <= '9')
		n++;
	return (n >= 1 && n <= 3 ? n : 0);
}

size_t
enhanced_len(const char *s, int cls)
{
	size_t	 sub, det;

	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    (cls != 0 && s[0] - '0' != cls) || s[1] != '.' ||
	    (sub = digits(s + 2)) == 0 || s[2 + sub] != '.' ||
	    (det = digits(s + 3 + sub)) == 0)
		return (0);
	if (s[3 + sub + det] != '\0' && s[3 + sub + det] != ' ')
		return (0);
	return (3 + sub + det);
}

int
enhanced_ok(const char *s, int cls)
{
	size_t	 n = enhanced_len(s, cls);

	return (n > 0 && s[n] == '\0');
}

void
enhanced_set_class(char *ext, char cls)
{
	if (enhanced_ok(ext, 0))
		ext[0] = cls;
}

int
enhanced_suppresses(const char *stage, const char *ext)
{
	unsigned long	 sub, det;
	char		*end;

	/* MAIL is refused before any recipient is named: about the sender
	 * (Postfix's "550 5.1.0 <a@b>: Sender address rejected") */
	if (strcmp(stage, "mail") == 0)
		return (0);
	if (!enhanced_ok(ext, 0))
		return (stage[0] == '\0' || strcmp(stage, "rcpt") == 0);
	sub = strtoul(ext + 2, &end, 10);
	det = strtoul(end + 1, NULL, 10);
	/* X.7.x to RCPT: a policy, the sending host on a block list */
	if (strcmp(stage, "rcpt") == 0)
		return (sub != 7);
	/* to the data, X.1.0 (other address status) names no address:
	 * about the message, as one to MAIL is about the sender */
	if (strcmp(stage, "data") == 0 && sub == 1 && det == 0)
		return (0);
	return ((sub == 1 && det != 7 && det != 8) || (sub == 2 && det == 1));
}

int
enhanced_spool_error(int err, const char **enh, const char **text)
{
	if (err == ENOSPC || err == EDQUOT) {
		*enh = "4.3.1";
		*text = "Insufficient system storage";
		return (452);
	}
	*enh = "4.3.0";
	*text = "Temporary failure writing the message";
	return (451);
}

static int
has(const char *text, const char *needle)
{
	return (text != NULL && strcasestr(text, needle) != NULL);
}

const char *
enhanced_reason(const char *ext, const char *text)
{
	char	*end;
	int	 klass = 0, subj = -1, det = -1;

	/* a code from a peer: only a well-formed one (three digits at most
	 * a part, no overflow) counts */
	if (ext != NULL && enhanced_len(ext, 0) > 0) {
		klass = ext[0] - '0';
		subj = (int)strtol(ext + 2, &end, 10);
		det = (int)strtol(end + 1, NULL, 10);
	}
	if (has(text, "quota") || has(text, "mailbox full") ||
	    has(text, "mailbox is full") || has(text, "over quota") ||
	    (subj == 2 && det == 2))
		return ("Mailbox Full");
	if (has(text, "spam") || has(text, "blocked") ||
	    has(text, "blacklist") || has(text, "blocklist") ||
	    has(text, "policy") || subj == 7)
		return ("Policy-Related");
	if ((subj == 1 && (det == 1 || det == 0 || det == 6 || det == 10)) ||
	    has(text, "user unknown") || has(text, "no such user") ||
	    has(text, "does not exist") || has(text,
	    "address not found") || has(text, "unknown user") ||
	    has(text, "recipient address rejected") ||
	    /* RFC 5321's 550 text (sendmail's), when no code says more */
	    (has(text, "mailbox unavailable") && klass != 4 && subj <= 0))
		return ("Invalid Recipient");
	if (subj == 1 && det == 2)
		return ("Invalid Domain");
	if (subj == 2 && det == 1)
		return ("Mailbox Disabled");
	if ((subj == 3 && det == 4) || (subj == 2 && det == 3) ||
	    has(text, "too large") || has(text, "size limit"))
		return ("Message Too Large");
	if (subj == 4 || has(text, "timed out") ||
	    has(text, "connection refused") ||
	    has(text, "host not found"))
		return ("Routing-Related");
	if (subj == 5)
		return ("Protocol-Related");
	if (subj == 6)
		return ("Content-Related");
	if (subj == 3)
		return ("System-Related");
	return ("Other");
}

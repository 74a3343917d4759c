/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The replies of the server to relayd's SMTP client (mta.c), line by
 * line: each checked ("ddd[- ]text", one code, bounded in size), the
 * text kept of a refusal, the extensions an EHLO offers, the enhanced
 * code of a reply.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enhanced.h"
#include "log.h"
#include "relayd.h"
#include "mta.h"

/* replies */

/* RFC 1870: "SIZE N", N > 0 the server's fixed maximum message size */
static void
ehlo_size(struct mconn *c, const char *arg)
{
	unsigned long long	 n;
	char			*end;

	c->size_max = 0;
	if (*arg++ != ' ' || !isdigit((unsigned char)*arg))
		return;
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (errno == 0 && (*end == '\0' || *end == ' ') && n <= SIZE_MAX)
		c->size_max = n;
}

static void
ehlo_keyword(struct mconn *c, const char *kw)
{
	if (strcasecmp(kw, "PIPELINING") == 0)
		c->ext_pipelining = 1;
	else if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == '\0' ||
	    kw[4] == ' ')) {
		c->ext_size = 1;
		ehlo_size(c, kw + 4);
	} else if (strcasecmp(kw, "8BITMIME") == 0)
		c->ext_8bit = 1;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		c->ext_smtputf8 = 1;
	else if (strcasecmp(kw, "STARTTLS") == 0)
		c->ext_starttls = 1;
	else if (strncasecmp(kw, "AUTH", 4) == 0 && (kw[4] == ' ' ||
	    kw[4] == '=')) {
		char tmp[512], *p, *w;
		strlcpy(tmp, kw + 5, sizeof(tmp));
		for (p = tmp; (w = strsep(&p, " ")) != NULL;)
			if (strcasecmp(w, "PLAIN") == 0)
				c->ext_auth_plain = 1;
			else if (strcasecmp(w, "LOGIN") == 0)
				c->ext_auth_login = 1;
	}
}

void
parse_ext(const char *text, char *ext, size_t len)
{
	size_t	 n = enhanced_len(text, 0);

	ext[0] = '\0';
	if (n > 0)
		snprintf(ext, len, "%.*s", (int)n, text);
}

/*
 * A refusal's next line, after the text kept of those before it (with a
 * space, not its CR LF: a report repeats the whole reason on one line,
 * RFC 3464 Diagnostic-Code), without the enhanced code its lines repeat
 * ("550-5.1.1 The email account ... Please try\r\n550-5.1.1 double-checking
 * ...").  Sanitized as the first line is.
 */
static void
reply_join(struct mconn *c, const char *text)
{
	size_t	 n = enhanced_len(c->rtext, 0), len = strlen(c->rtext);

	if (n > 0 && strncmp(text, c->rtext, n) == 0 &&
	    (text[n] == ' ' || text[n] == '\0'))
		text += text[n] == ' ' ? n + 1 : n;
	if (text[0] == '\0' || len + 2 >= sizeof(c->rtext))
		return;
	if (len > 0)
		c->rtext[len++] = ' ';
	log_sanitize(c->rtext + len, sizeof(c->rtext) - len, text);
}

/*
 * One line from the server; -1 if the connection must end, *why saying
 * what is wrong with the reply.
 */
int
reply_line(struct mconn *c, const char *line, size_t len, const char **why)
{
	int	 code, last;

	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || line[0] < '2' ||
	    line[0] > '5' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*why = "no reply code";
		return (-1);
	}
	/*
	 * A control character in the text does not make the reply less of
	 * one: its code decides, as Postfix takes it, and the text is kept
	 * with '?' for it (log_sanitize).  A 550 with an escape sequence in
	 * it is a bounce, not a retry until the queue lifetime ends.
	 */
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = (len == 3 || line[3] == ' ');
	if (c->rlines == 0) {
		c->rcode = code;
		log_sanitize(c->rtext, sizeof(c->rtext),
		    len > 4 ? line + 4 : "");
	} else if (code != c->rcode) {
		*why = "a multi-line reply changes its code";
		return (-1);
	} else if (c->state == M_EHLO && code == 250 && len > 4)
		ehlo_keyword(c, line + 4);	/* a refused EHLO offers none */
	else if (code >= 400 && len > 4)
		reply_join(c, line + 4);
	/* a long multi-line reply is legal: its code decides (a refusal's
	 * text is kept as far as it fits), up to a total size */
	c->rlines++;
	c->rbytes += len + 2;
	if (c->rbytes > REPLY_BYTES_MAX) {
		*why = "a multi-line reply too long";
		return (-1);
	}
	if (last) {
		c->rlines = c->rbytes = 0;
		conn_reply(c, code, c->rtext);
	}
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound message rendering (mime.h): reply_plain, the new text of a
 * reply cut from its plain part (mime_reply_text).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

#include "mime.h"

/*
 * reply_plain: the new text of a reply.
 */
static int
line_is(const char *l, size_t len, const char *what)
{
	return (strlen(what) == len && strncasecmp(l, what, len) == 0);
}

static int
line_ends(const char *l, size_t len, const char *what)
{
	size_t	 w = strlen(what);

	return (len >= w && strncasecmp(l + len - w, what, w) == 0);
}

static int
line_starts(const char *l, size_t len, const char *what)
{
	size_t	 w = strlen(what);

	return (len >= w && strncmp(l, what, w) == 0);
}

/*
 * "On <date>, <name> wrote:" and the like, one line or wrapped onto a
 * second: in the languages of line_original(), as Gmail, Thunderbird and
 * Apple Mail write them
 */
static const struct {
	const char	*start, *end;
} attributions[] = {
	{ "On ", "wrote:" },
	{ "Le ", "a \xc3\xa9" "crit :" },
	{ "Le ", "a \xc3\xa9" "crit:" },
	/* French typography: a no-break space (Apple Mail), or a narrow one */
	{ "Le ", "a \xc3\xa9" "crit\xc2\xa0:" },
	{ "Le ", "a \xc3\xa9" "crit\xe2\x80\xaf:" },
	{ "El ", "escribi\xc3\xb3:" },
	{ "Il ", "ha scritto:" },
	{ "Em ", "escreveu:" },
};

/* Thunderbird "Am <date> schrieb <name>:", Gmail's name follows */
static const struct {
	const char	*start, *verb;
} attributions_verb[] = {
	{ "Am ", "schrieb" },
	{ "Op ", "schreef" },
};

static int
line_attribution(const char *l, size_t len, const char *next, size_t nlen)
{
	char		 v[16];
	const char	*verb;
	size_t		 i, vl;
	int		 wrapped;

	wrapped = next != NULL && nlen > 0 && !line_starts(next, nlen, ">");
	for (i = 0; i < sizeof(attributions) / sizeof(attributions[0]); i++)
		if (line_starts(l, len, attributions[i].start) &&
		    (line_ends(l, len, attributions[i].end) || (wrapped &&
		    line_ends(next, nlen, attributions[i].end))))
			return (1);
	for (i = 0; i < sizeof(attributions_verb) /
	    sizeof(attributions_verb[0]); i++) {
		if (!line_starts(l, len, attributions_verb[i].start))
			continue;
		verb = attributions_verb[i].verb;
		vl = strlen(verb);
		(void)snprintf(v, sizeof(v), "%s:", verb);
		if (line_ends(l, len, v))
			return (1);
		(void)snprintf(v, sizeof(v), " %s ", verb);
		if (line_ends(l, len, ":") && memmem(l, len, v, vl + 2) != NULL)
			return (1);
		if (wrapped && line_ends(next, nlen, ":") &&
		    (memmem(l, len, v, vl + 2) != NULL ||
		    memmem(next, nlen, v + 1, vl + 1) != NULL))
			return (1);
	}
	/*
	 * Outlook's header block of the quoted message (Outlook for Mac and
	 * others write it without a rule above it): "From: ..." then "Sent:"
	 * or "Date:".
	 */
	if ((line_starts(l, len, "From: ") && next != NULL &&
	    (line_starts(next, nlen, "Sent: ") ||
	    line_starts(next, nlen, "Date: "))) ||
	    (line_starts(l, len, "Von: ") && next != NULL &&
	    (line_starts(next, nlen, "Gesendet: ") ||
	    line_starts(next, nlen, "Datum: "))))
		return (1);
	return (0);
}

/*
 * Outlook's "-----Original Message-----" in the languages it is most
 * often set up in (the text between the five dashes on either side;
 * Outlook Express, Windows Mail and webmails write it with a space
 * inside each run of dashes, "----- Original Message -----")
 */
static int
line_original(const char *l, size_t len)
{
	static const char *const what[] = {
		"Original Message", "Urspr\xc3\xbcngliche Nachricht",
		"Message d'origine", "Mensaje original", "Messaggio originale",
		"Oorspronkelijk bericht", "Mensagem original"
	};
	const char	*in;
	size_t		 i, n;

	if (len < 11 || !line_starts(l, len, "-----") ||
	    !line_ends(l, len, "-----"))
		return (0);
	in = l + 5;
	n = len - 10;
	if (n >= 2 && in[0] == ' ' && in[n - 1] == ' ') {
		in++;
		n -= 2;
	}
	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		if (line_is(in, n, what[i]))
			return (1);
	return (0);
}

static int
line_marker(const char *l, size_t len)
{
	size_t	 i;

	if (line_is(l, len, "--") || line_is(l, len, "-- ") ||
	    line_original(l, len) ||
	    line_is(l, len, "Begin forwarded message:") ||
	    (line_starts(l, len, "---------- Forwarded message") &&
	    line_ends(l, len, "---------")))
		return (1);
	if (len < 10)
		return (0);
	for (i = 0; i < len; i++)
		if (l[i] != '_')
			return (0);
	return (1);
}

static size_t
rtrim_len(const char *l, size_t len)
{
	while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' ||
	    l[len - 1] == '\r'))
		len--;
	return (len);
}

/*
 * The first bytes line_marker() and line_attribution() can be true for
 * ("--", "-----", "Begin", "____"; "On ", "Le ", ..., "From: ", "Von: "):
 * a line starting otherwise is neither, without the two being asked.
 */
static int
line_may_mark(const char *l, size_t len)
{
	return (len > 0 && strchr("-_Bb", l[0]) != NULL);
}

static int
line_may_attribute(const char *l, size_t len)
{
	return (len > 0 && strchr("OLEIAFV", l[0]) != NULL);
}

char *
mime_reply_text(const char *plain)
{
	const char	*l, *e, *next, *ne;
	char		*s;
	size_t		 len, tlen, nlen, n = 0, lead;

	if (plain == NULL)
		plain = "";
	/* each line of plain at most, and a newline after the last */
	if ((s = malloc(strlen(plain) + 2)) == NULL)
		return (NULL);
	for (l = plain; *l != '\0'; l = next) {
		e = strchr(l, '\n');
		len = e ? (size_t)(e - l) : strlen(l);
		next = e ? e + 1 : NULL;
		tlen = rtrim_len(l, len);
		/* a marker line keeps its trailing space ("-- ") */
		if (line_may_mark(l, len) &&
		    (line_marker(l, len) || line_marker(l, tlen)))
			break;
		if (line_may_attribute(l, tlen)) {
			nlen = 0;
			if (next != NULL && *next != '\0') {
				ne = strchr(next, '\n');
				nlen = rtrim_len(next, ne ?
				    (size_t)(ne - next) : strlen(next));
			}
			if (line_attribution(l, tlen, next, nlen))
				break;
		}
		if (len > 0 && l[0] == '>') {
			if (next == NULL)
				break;
			continue;
		}
		memcpy(s + n, l, len);
		n += len;
		s[n++] = '\n';
		if (next == NULL)
			break;
	}
	/* trim blank lines and trailing white space */
	while (n > 0 && g_ascii_isspace(s[n - 1]))
		n--;
	for (lead = 0; lead < n && g_ascii_isspace(s[lead]); lead++)
		;
	while (lead > 0 && s[lead - 1] != '\n')
		lead--;
	memmove(s, s + lead, n - lead);
	s[n - lead] = '\0';
	return (s);
}

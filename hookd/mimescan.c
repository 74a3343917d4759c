/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The MIME limits (mime.h), checked on the raw bytes before GMime sees
 * them.  GMime builds objects for every part and every header field: a
 * message of a million empty parts, or of megabytes of short header
 * fields, costs hundreds of times its size in memory and seconds of CPU.
 * So the message is scanned line by line first, cheaply and in bounded
 * memory, and GMime is given only the bytes before the line where a
 * limit is first exceeded.
 *
 * The scan follows the structure the way GMime will, erring towards
 * counting more.  Every line of a header block counts against the
 * header limits.  A header block whose Content-Type is multipart/...
 * opens a level ended by its boundary (a boundary it cannot read, such
 * as an RFC 2231 boundary*=, makes every "--" line a delimiter of that
 * level); one whose Content-Type is message/... (or that has none, in a
 * multipart/digest) opens a level for the inner message, whose header
 * block follows; two Content-Type fields count both ways.  A delimiter
 * line of any open level closes the levels inside it, as GMime does.
 * Parts are the message itself, each delimiter line of an open level and
 * each inner message; the depth is the number of open levels.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"

#define SCAN_BOUNDARY_MAX	256	/* RFC 2046: 70 */
#define SCAN_CT_MAX		1024	/* of a Content-Type value, kept */

struct level {
	int		 multipart;	/* ended by delimiters */
	int		 digest;	/* parts are messages by default */
	size_t		 blen;		/* 0: any "--" line (unreadable) */
	char		 b[SCAN_BOUNDARY_MAX];
};

/* what one header block says about the part it heads */
struct block {
	int		 in_ct;		/* the current field is Content-Type */
	int		 ncontent;	/* Content-Type fields seen */
	int		 multipart;
	int		 digest;	/* multipart/digest */
	int		 message;
	int		 unsure;	/* boundary unreadable or ambiguous */
	size_t		 blen;		/* boundary read, 0 none */
	char		 b[SCAN_BOUNDARY_MAX];
	size_t		 ctlen;
	char		 ct[SCAN_CT_MAX];	/* the current Content-Type */
};

/* "boundary=" followed by a token or a quoted string */
static void
ct_boundary(struct block *bk, const char *p, size_t n)
{
	size_t	 i, j, s;

	for (i = 0; i + 8 <= n; i++) {
		if (strncasecmp(p + i, "boundary", 8) != 0)
			continue;
		for (j = i + 8; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j >= n || p[j] != '=')
			continue;
		for (j++; j < n && (p[j] == ' ' || p[j] == '\t'); j++)
			;
		if (j < n && p[j] == '"') {
			for (s = ++j; j < n && p[j] != '"'; j++)
				;
		} else
			for (s = j; j < n && p[j] != ';' && p[j] != ' ' &&
			    p[j] != '\t'; j++)
				;
		/* a second one, or one too long, is not trusted */
		if (bk->blen > 0 || j - s == 0 || j - s >= SCAN_BOUNDARY_MAX) {
			bk->unsure = 1;
			return;
		}
		memcpy(bk->b, p + s, j - s);
		bk->blen = j - s;
	}
}

/* the type of a complete Content-Type value, after any comment */
static void
ct_done(struct block *bk)
{
	const char	*p = bk->ct, *e = bk->ct + bk->ctlen;
	int		 nest = 0;
	size_t		 n;

	if (!bk->in_ct)
		return;
	bk->in_ct = 0;
	for (; p < e; p++) {
		if (*p == '(')
			nest++;
		else if (*p == ')' && nest > 0)
			nest--;
		else if (nest == 0 && *p != ' ' && *p != '\t')
			break;
	}
	for (n = 0; p + n < e && p[n] != '/' && p[n] != ' ' &&
	    p[n] != '\t' && p[n] != '('; n++)
		;
	if (n == 9 && strncasecmp(p, "multipart", 9) == 0) {
		bk->multipart = 1;
		if (p + n + 7 <= e && strncasecmp(p + n, "/digest", 7) == 0)
			bk->digest = 1;
	} else if (n == 7 && strncasecmp(p, "message", 7) == 0)
		bk->message = 1;
	if (bk->ctlen == sizeof(bk->ct))
		bk->unsure = 1;		/* the boundary may be past it */
	ct_boundary(bk, bk->ct, bk->ctlen);
}

static void
ct_append(struct block *bk, const unsigned char *p, size_t n)
{
	if (n > sizeof(bk->ct) - bk->ctlen)
		n = sizeof(bk->ct) - bk->ctlen;
	memcpy(bk->ct + bk->ctlen, p, n);
	bk->ctlen += n;
}

/* one line of a header block: a field or a continuation */
static void
block_line(struct block *bk, const unsigned char *p, size_t n)
{
	size_t	 i;

	if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		if (bk->in_ct)
			ct_append(bk, p, n);
		return;
	}
	ct_done(bk);
	for (i = 0; i < n && p[i] != ':' && p[i] != ' ' && p[i] != '\t'; i++)
		;
	if (i != 12 || strncasecmp((const char *)p, "content-type", 12) != 0)
		return;
	for (; i < n && p[i] != ':'; i++)
		;
	if (++bk->ncontent > 1)
		bk->unsure = 1;
	bk->in_ct = 1;
	bk->ctlen = 0;
	if (i < n)
		ct_append(bk, p + i + 1, n - i - 1);
}

/* a delimiter of level l: 1 opening a part, 2 closing, 0 none */
static int
delimiter(const struct level *l, const unsigned char *p, size_t n)
{
	size_t	 i;

	if (!l->multipart || n < 2 + l->blen || p[0] != '-' || p[1] != '-')
		return (0);
	if (l->blen == 0)
		return (n >= 4 && p[n - 1] == '-' && p[n - 2] == '-' ? 2 : 1);
	if (memcmp(p + 2, l->b, l->blen) != 0)
		return (0);
	i = 2 + l->blen;
	if (i + 2 <= n && p[i] == '-' && p[i + 1] == '-') {
		for (i += 2; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		if (i == n)
			return (2);
		i = 2 + l->blen;
	}
	for (; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	return (i == n ? 1 : 0);
}

const char *
mime_scan(const unsigned char *p, size_t len, const struct mime_limits *lim,
    size_t *cut)
{
	struct level	*stk;
	struct block	 bk;
	const unsigned char *l, *eol;
	const char	*over = NULL;
	size_t		 off, next, n, depth = 0, parts = 1, fields = 0;
	size_t		 hbytes = 0, start = 0, i;
	int		 hdr = 1, d;

	*cut = len;
	if ((stk = calloc(lim->depth + 1, sizeof(*stk))) == NULL)
		return ("memory");
	memset(&bk, 0, sizeof(bk));
	for (off = 0; off < len && over == NULL; off = next) {
		start = off;
		l = p + off;
		eol = memchr(l, '\n', len - off);
		next = eol != NULL ? (size_t)(eol - p) + 1 : len;
		n = next - off;
		while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
			n--;
		if (hdr && n > 0) {
			block_line(&bk, l, n);
			if (l[0] != ' ' && l[0] != '\t')
				fields++;
			hbytes += next - off;
			if (fields > lim->headers)
				over = "headers";
			else if (hbytes > lim->header_size)
				over = "header-size";
			continue;
		}
		if (hdr) {
			/* the end of a header block: what it opens */
			hdr = 0;
			ct_done(&bk);
			/* a part of a digest without type is a message */
			if (bk.ncontent == 0 && depth > 0 &&
			    stk[depth - 1].digest)
				bk.message = 1;
			if (bk.message || bk.multipart) {
				if (depth >= lim->depth) {
					over = "depth";
					continue;
				}
				memset(&stk[depth], 0, sizeof(stk[depth]));
				/* both (two fields): counted both ways */
				if (bk.multipart || bk.unsure) {
					stk[depth].multipart = 1;
					stk[depth].digest = bk.digest;
					if (!bk.unsure) {
						stk[depth].blen = bk.blen;
						memcpy(stk[depth].b, bk.b,
						    bk.blen);
					}
				}
				depth++;
				if (bk.message) {
					/* the inner message's */
					hdr = 1;
					if (++parts > lim->parts)
						over = "parts";
				}
			}
			memset(&bk, 0, sizeof(bk));
			continue;
		}
		for (i = depth; i > 0; i--)
			if ((d = delimiter(&stk[i - 1], l, n)) != 0)
				break;
		if (i == 0)
			continue;
		if (d == 2) {
			depth = i - 1;
			continue;
		}
		depth = i;
		hdr = 1;
		if (++parts > lim->parts)
			over = "parts";
	}
	if (over != NULL)
		*cut = start;
	free(stk);
	return (over);
}

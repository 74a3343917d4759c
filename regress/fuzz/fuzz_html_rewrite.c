/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: arbitrary bytes through the HTML tracking rewrite
 * (relayd/html_rewrite.c), as relayd drives it for every text/html part.
 *
 * Invariants checked: applying the plan with no pixel and no link
 * callback gives the input back; the link spans are inside the input,
 * sorted and disjoint, and the pixel offset (if any) is not inside one;
 * with every link replaced by a marker and a pixel added, the output is
 * exactly the input with those spans replaced and the pixel tag at its
 * offset (if any), built here independently; the callback sees the links in
 * order, each an http(s) URL.  And the input with its runs of letters
 * and digits changed (some letters and digits other ones, some runs
 * longer), planned with only the input's plan kept (which may give it
 * that plan moved, unparsed), has the plan and the copy a parse gives.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "html_rewrite.h"

#define MARK	"M"
#define PIXTAG	"<img src=\"P\" width=\"1\" height=\"1\" alt=\"\" " \
		"style=\"border:0;width:1px;height:1px\">"

static void
check(int cond)
{
	if (!cond)
		abort();
}

static char *
mark(void *arg, size_t idx, const char *url, int comment)
{
	size_t	*n = arg;

	check(idx == *n);
	check(strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0);
	(*n)++;
	return (strdup(MARK));
}

/* what the rewrite must give: the input, spans replaced, the pixel */
static char *
expected(const struct html_plan *p, const char *in, size_t size,
    size_t *elen)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 at = 0, i, off, end, pix = html_plan_pixel_offset(p);
	int	 pixel = pix != HTML_PIXEL_NONE;

	check((fp = open_memstream(&buf, elen)) != NULL);
	for (i = 0; html_plan_span(p, i, &off, &end) == 0; i++) {
		check(off >= at && end >= off && end <= size);
		check(pix <= off || pix >= end);
		if (pixel && pix <= off) {
			fwrite(in + at, 1, pix - at, fp);
			fputs(PIXTAG, fp);
			at = pix;
			pixel = 0;
		}
		fwrite(in + at, 1, off - at, fp);
		fputs(MARK, fp);
		at = end;
	}
	check(i == html_plan_nlinks(p));
	if (pixel) {
		check(pix >= at && pix <= size);
		fwrite(in + at, 1, pix - at, fp);
		fputs(PIXTAG, fp);
		at = pix;
	}
	fwrite(in + at, 1, size - at, fp);
	check(fclose(fp) == 0);
	return (buf);
}

static int
alnum(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'));
}

/* in, every other run of letters and digits changed, every third longer */
static char *
personalise(const char *in, size_t size, size_t *mlen)
{
	char	*m, c;
	size_t	 i, n = 0, run = 0;

	check((m = malloc(size + size / 2 + 2)) != NULL);
	for (i = 0; i < size; i++) {
		c = in[i];
		if (alnum(c) && run % 2 == 0)
			c = c == 'z' ? 'a' : c == 'Z' ? 'A' : c == '9' ? '0' :
			    c + 1;
		m[n++] = c;
		if (alnum(in[i]) && (i + 1 == size || !alnum(in[i + 1]))) {
			if (run % 3 == 0)
				m[n++] = '7';
			run++;
		}
	}
	*mlen = n;
	return (m);
}

static void
same_plan(const struct html_plan *a, const struct html_plan *b)
{
	size_t	 i, ao, ae, bo, be;

	check(html_plan_nlinks(a) == html_plan_nlinks(b));
	check(html_plan_pixel_offset(a) == html_plan_pixel_offset(b));
	for (i = 0; i < html_plan_nlinks(a); i++) {
		check(html_plan_span(a, i, &ao, &ae) == 0);
		check(html_plan_span(b, i, &bo, &be) == 0);
		check(ao == bo && ae == be);
		check(strcmp(html_plan_url(a, i), html_plan_url(b, i)) == 0);
	}
}

/* every image with "/o/" in its src dropped */
static int
drop(void *arg, const char *url)
{
	(void)arg;
	return (url != NULL);
}

/* the personalised input: with in's plan kept, and parsed, the same */
static void
check_derived(const char *in, size_t size)
{
	struct html_plan	*p, *d;
	char			*m, *o1, *o2;
	size_t			 mlen, l1, l2, n = 0;

	m = personalise(in, size, &mlen);
	html_plan_forget();
	if ((p = html_plan_new(in, size, 0)) == NULL) {
		free(m);
		return;
	}
	html_plan_free(p);
	d = html_plan_new(m, mlen, 0);
	html_plan_forget();
	p = html_plan_new(m, mlen, 0);
	check((d == NULL) == (p == NULL));
	if (d != NULL) {
		same_plan(d, p);
		o1 = html_plan_apply(d, m, mlen, "P", mark, drop, &n,
		    &l1);
		n = 0;
		o2 = html_plan_apply(p, m, mlen, "P", mark, drop, &n,
		    &l2);
		check(o1 != NULL && o2 != NULL && l1 == l2 &&
		    memcmp(o1, o2, l1) == 0);
		free(o1);
		free(o2);
	}
	html_plan_free(d);
	html_plan_free(p);
	free(m);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*in = (const char *)data;
	struct html_plan	*p;
	char			*out, *want;
	size_t			 olen, wlen, n = 0;

	if ((p = html_plan_new(in, size, 0)) == NULL)
		return (0);
	out = html_plan_apply(p, in, size, NULL, NULL, NULL, NULL,
	    &olen);
	check(out != NULL && olen == size && memcmp(out, in, size) == 0);
	free(out);
	out = html_plan_apply(p, in, size, "P", mark, NULL, &n, &olen);
	check(out != NULL && n == html_plan_nlinks(p));
	check(html_plan_url(p, n) == NULL);
	want = expected(p, in, size, &wlen);
	check(olen == wlen && memcmp(out, want, olen) == 0);
	free(want);
	free(out);
	html_plan_free(p);
	check_derived(in, size);
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The HTML tracking rewrite (relayd/html_rewrite.c) on odd documents:
 * which links are tracked, where the pixel goes, and that every byte
 * outside the rewritten values is the original's; the plans kept for
 * documents seen again, and those made from a kept one's for documents
 * that differ from it only in letters and digits (a personalised
 * campaign): each the plan a parse makes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_rewrite.h"
#include "tap.h"

#define PIX	"<img src=\"P\" width=\"1\" height=\"1\" alt=\"\" " \
		"style=\"border:0;width:1px;height:1px\">"

/* link n -> "T<n>"; the URLs seen are kept for checks */
struct seen {
	char	 urls[16][256];
	int	 comment[16];
	size_t	 n;
};

static char *
link_cb(void *arg, size_t idx, const char *url, int comment)
{
	struct seen	*s = arg;
	char		*r;

	if (s->n < 16) {
		s->comment[s->n] = comment;
		strlcpy(s->urls[s->n++], url, sizeof(s->urls[0]));
	}
	if (asprintf(&r, "T%zu", idx) == -1)
		return (NULL);
	return (r);
}

/* every image with "/o/" in its src dropped */
static int
drop(void *arg, const char *url)
{
	(void)arg;
	return (url != NULL);
}

static char *
run(const char *in, const char *pixel, struct seen *s)
{
	struct html_plan	*p;
	char			*out;
	size_t			 len;

	memset(s, 0, sizeof(*s));
	if ((p = html_plan_new(in, strlen(in), 0)) == NULL)
		return (NULL);
	out = html_plan_apply(p, in, strlen(in), pixel, link_cb, NULL, s,
	    &len);
	if (out != NULL && strlen(out) != len) {
		free(out);
		out = NULL;
	}
	html_plan_free(p);
	return (out);
}

static void
check(const char *in, const char *pixel, const char *want, size_t nlinks,
    const char *what)
{
	struct seen	 s;
	char		*out = run(in, pixel, &s);

	is_str(out, want, "%s", what);
	is_int(s.n, nlinks, "%s: %zu links tracked", what, nlinks);
	free(out);
}

/* the kept plans: shared only by documents equal byte for byte */
static void
check_kept(void)
{
	const char	*a = "<a href=\"https://a.test/1\">x</a></body>";
	const char	*b = "<a href=\"https://a.test/2\">x</a></body>";
	struct html_plan *p1, *p2, *p3, *o;
	char		 big[300 * 1024], other[64];
	struct seen	 s;
	char		*out;
	int		 i;

	p1 = html_plan_new(a, strlen(a), 0);
	p2 = html_plan_new(a, strlen(a), 0);
	ok(p1 != NULL && p1 == p2, "a document seen again shares its plan");
	p3 = html_plan_new(b, strlen(b), 0);
	ok(p3 != NULL && p3 != p1 && strcmp(html_plan_url(p3, 0),
	    "https://a.test/2") == 0,
	    "one byte different, same length: a plan of its own");
	html_plan_free(p1);
	html_plan_free(p2);
	html_plan_free(p3);
	out = run(a, NULL, &s);
	is_str(out, "<a href=\"T0\">x</a></body>",
	    "a kept plan outlives its callers' holds");
	is_str(s.urls[0], "https://a.test/1", "and is the right one");
	free(out);

	p1 = html_plan_new(a, strlen(a), 0);
	for (i = 0; i < 4; i++) {
		snprintf(other, sizeof(other), "<a href=\"http://o.test/%d\">",
		    i);
		o = html_plan_new(other, strlen(other), 0);
		html_plan_free(o);
	}
	p2 = html_plan_new(a, strlen(a), 0);
	ok(p2 != NULL && p2 != p1 &&
	    strcmp(html_plan_url(p2, 0), "https://a.test/1") == 0,
	    "after four other documents the first is parsed again");
	html_plan_free(p1);
	html_plan_free(p2);

	memset(big, ' ', sizeof(big));
	memcpy(big, a, strlen(a));
	p1 = html_plan_new(big, sizeof(big), 0);
	p2 = html_plan_new(big, sizeof(big), 0);
	ok(p1 != NULL && p2 != NULL && p1 != p2 &&
	    html_plan_nlinks(p2) == 1,
	    "a document over 256 KiB is parsed each time, not kept");
	html_plan_free(p1);
	html_plan_free(p2);
}

/* a document of another charset than UTF-8 (legacy) */
static void
check_legacy(void)
{
	const char	*in = "<a href=\"https://a.test/\xe9\">1</a>"
	    "<a href=\"https://a.test/?q=&#233;#\">2</a>"
	    "<a href=\"https://a.test/&#233;?q=1#&#233;\">3</a>";
	struct html_plan *p, *u;

	p = html_plan_new(in, strlen(in), 1);
	u = html_plan_new(in, strlen(in), 0);
	ok(p != NULL && html_plan_nlinks(p) == 1 && strcmp(html_plan_url(p,
	    0), "https://a.test/\xc3\xa9?q=1#\xc3\xa9") == 0,
	    "legacy charset: 8-bit bytes, and a query beyond ASCII, not "
	    "tracked; a path and fragment beyond ASCII tracked");
	ok(u != NULL && u != p && html_plan_nlinks(u) == 2,
	    "the same document as UTF-8: a plan of its own");
	html_plan_free(p);
	html_plan_free(u);

	/* ISO-2022-JP: Japanese in ASCII bytes after an escape sequence;
	 * a browser goes to /wiki/%E6%97%A5%E6%9C%AC, not to its bytes */
	in = "<a href=\"https://a.test/wiki/\x1b$BF|K\\\x1b(B\">1</a>"
	    "<a href=\"https://a.test/?q=\x1b$BF|K\\\x1b(B\">2</a>"
	    "\x1b$BF|K\\\x1b(B<a href=\"https://a.test/ok\">3</a>";
	p = html_plan_new(in, strlen(in), 1);
	ok(p != NULL && html_plan_nlinks(p) == 1 && strcmp(html_plan_url(p,
	    0), "https://a.test/ok") == 0,
	    "ISO-2022-JP: a link with an escape sequence not tracked, one "
	    "in ASCII tracked");
	html_plan_free(p);
}

/* the same links (offsets and URLs) and pixel offset */
static int
same_plan(const struct html_plan *a, const struct html_plan *b)
{
	size_t	 i, ao, ae, bo, be;

	if (a == NULL || b == NULL)
		return (a == b);
	if (html_plan_nlinks(a) != html_plan_nlinks(b) ||
	    html_plan_pixel_offset(a) != html_plan_pixel_offset(b))
		return (0);
	for (i = 0; i < html_plan_nlinks(a); i++)
		if (html_plan_span(a, i, &ao, &ae) == -1 ||
		    html_plan_span(b, i, &bo, &be) == -1 || ao != bo ||
		    ae != be || strcmp(html_plan_url(a, i),
		    html_plan_url(b, i)) != 0)
			return (0);
	return (1);
}

/*
 * doc planned with only base kept, and after a parse: 1 if the plans
 * and the copies are the same; *derived set if the first was made from
 * base's plan (not parsed)
 */
static int
derive_same(const char *base, const char *doc, int legacy, int *derived)
{
	struct html_plan *b, *d, *p;
	unsigned long	 p0, d0, p1, d1;
	struct seen	 s;
	char		*o1, *o2;
	size_t		 l1, l2, len = strlen(doc);
	int		 same;

	html_plan_forget();
	b = html_plan_new(base, strlen(base), legacy);
	html_plan_free(b);
	html_plan_counts(&p0, &d0);
	d = html_plan_new(doc, len, legacy);
	html_plan_counts(&p1, &d1);
	*derived = d1 == d0 + 1 && p1 == p0;
	html_plan_forget();
	p = html_plan_new(doc, len, legacy);
	same = same_plan(d, p);
	if (same && d != NULL) {
		o1 = html_plan_apply(d, doc, len, "P", link_cb, drop, &s,
		    &l1);
		o2 = html_plan_apply(p, doc, len, "P", link_cb, drop, &s,
		    &l2);
		same = o1 != NULL && o2 != NULL && l1 == l2 &&
		    memcmp(o1, o2, l1) == 0;
		free(o1);
		free(o2);
	}
	html_plan_free(d);
	html_plan_free(p);
	return (same);
}

#define NEWS(name, id, id2) "<!DOCTYPE html><html><head><title>News" \
	"</title><style>.a1{color:red}</style></head>\r\n" \
	"<body><table><tr><td style=\"color:#333\">Dear " name ", &amp; " \
	"your code is " id ".</td></tr><tr><td><a href=\"https://s.test/" \
	"p/" id "?u=" id "&amp;c=x" id2 "\" title=\"For " name "\">see</a>" \
	"<img src=\"https://i.test/" id ".png\" alt=\"" name "\"></td></tr>" \
	"<!--[if mso]><v:roundrect href=\"https://v.test/" id2 "\">" name \
	"</v:roundrect><![endif]--><tr><td><a href=\"mailto:a@b.test\">m</a>" \
	" <a data-mailhook-notrack href=\"https://n.test/" id "\">n</a>" \
	"</td></tr></table><p>Bye " name "</p></body></html>\r\n"

/* documents of a template, personalised: not parsed, the same plans */
static void
check_derived(void)
{
	static const char *unsafe[][2] = {
		/* a run after '<' in text would start a tag */
		{ "<p>x <3 y</p>", "<p>x <a y</p>" },
		/* after '&': a character reference */
		{ "<p>a &amp; b</p>", "<p>a &lt; b</p>" },
		{ "<p>a &#38; b</p>", "<p>a &#60; b</p>" },
		/* an attribute the parser reads */
		{ "<table><input type=hidden></table>",
		  "<table><input type=hiddex></table>" },
		/* a conditional comment no more */
		{ "<!--[if mso]><a href=\"https://a.test/\">a</a><![endif]-->",
		  "<!--[xf mso]><a href=\"https://a.test/\">a</a><![endif]-->" },
		/* an untracked link that would be tracked, and the reverse */
		{ "<a href=\"xttp://a.test/1\">a</a>",
		  "<a href=\"http://a.test/1\">a</a>" },
		{ "<a href=\"http://a.test/1\">a</a>",
		  "<a href=\"xttp://a.test/1\">a</a>" },
		/* text the tokenizer reads otherwise */
		{ "<script>a1</script><a href=\"http://a.test/\">a</a>",
		  "<script>a2</script><a href=\"http://a.test/\">a</a>" },
		{ "<textarea>a1</textarea><a href=\"http://a.test/\">a</a>",
		  "<textarea>a2</textarea><a href=\"http://a.test/\">a</a>" },
		/* a tag name, an attribute's name */
		{ "<b>x</b>", "<i>x</i>" },
		{ "<a hrex=\"http://a.test/\">a</a>",
		  "<a href=\"http://a.test/\">a</a>" },
		/* a byte other than a letter or digit */
		{ "<p>a-b</p>", "<p>a.b</p>" },
	};
	const char	*base = NEWS("Ann", "17", "x1");
	const char	*docs[] = {
		NEWS("Bob", "170", "x1"), NEWS("Carla", "9", "y22"),
		NEWS("D", "123456", "x1")
	};
	char		 mut[4096];
	size_t		 i, n, k, at, len, nd = 0, bad = 0;
	int		 derived;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		ok(derive_same(base, docs[i], 0, &derived),
		    "personalised copy %zu: the plan a parse makes", i);
		ok(derived, "personalised copy %zu: not parsed", i);
	}
	ok(derive_same(base, docs[0], 1, &derived) && derived,
	    "the same in a legacy charset");
	for (i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		ok(derive_same(unsafe[i][0], unsafe[i][1], 0, &derived),
		    "%s: the plan a parse makes", unsafe[i][1]);
		ok(!derived, "%s: parsed", unsafe[i][1]);
	}
	/* runs of letters and digits anywhere changed: a plan made from
	 * the kept one's is the one a parse makes */
	srandom(20261206);
	for (i = 0; i < 3000; i++) {
		const char *src = i % 3 == 0 ? base : unsafe[i / 3 %
		    (sizeof(unsafe) / sizeof(unsafe[0]))][i / 3 % 2];
		len = strlen(src);
		memcpy(mut, src, len + 1);
		for (k = 0; k < 1 + (size_t)random() % 3; k++) {
			at = random() % len;
			while (at < len && !isalnum((unsigned char)mut[at]))
				at++;
			for (n = 0; at + n < len && isalnum((unsigned char)
			    mut[at + n]); n++)
				mut[at + n] = "a0Zq9x"[random() % 6];
			if (n > 0 && random() % 2 && len + 3 < sizeof(mut)) {
				memmove(mut + at + 3, mut + at, len - at + 1);
				memcpy(mut + at, "b1c", 3);
				len += 3;
			} else if (n > 1 && random() % 2) {
				memmove(mut + at, mut + at + 1, len - at);
				len--;
			}
		}
		if (!derive_same(src, mut, i % 5 == 0, &derived)) {
			if (bad++ == 0)
				printf("# %s\n#  -> %s\n", src, mut);
		}
		nd += derived;
	}
	is_int(bad, 0, "3000 documents with runs of letters and digits "
	    "changed: each plan the one a parse makes");
	ok(nd > 100, "and many not parsed (%zu)", nd);
}

/*
 * A document with neither </body> nor </html> that ends inside a tag, a
 * comment or an element whose content is text: a pixel at its end would
 * be part of an attribute's value (the link then went elsewhere) or
 * text the reader sees; it gets none, every byte as it was.  One that
 * ends after a stray "<" or "&" gets it.
 */
static void
check_unclosed(void)
{
	static const char *none[] = {
		"<p>x<a href=\"https://a.test/x",
		"<p>x</p><div id=\"a",
		"<p>x</p><!-- a comment",
		"<p>x<textarea>hi",
		"<p>x<title>t",
		"<p>x<script>var a = 1;",
		"<p>x<style>p { color: red; }",
		"<html><body><p>x</p><plaintext>y</body></html>\r\n",
		"<p>x</",
		"<svg><![CDATA[x",
	};
	size_t	 i;
	char	 what[80];

	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		snprintf(what, sizeof(what), "no pixel: %.40s", none[i]);
		check(none[i], "P", none[i], 0, what);
	}
	check("<p>x <", "P", "<p>x <" PIX, 0, "a stray '<' at the end");
	check("<p>x &amp\n", "P", "<p>x &amp" PIX "\n", 0,
	    "a reference at the end");
	check("<table><tr><td>x</body></html>", "P",
	    "<table><tr><td>x</body></html>" PIX, 0,
	    "</body> and </html> ignored in a table: at the end");
}

int
main(void)
{
	struct seen	 s;
	char		*out;

	check("<html><body><p>hi</p></body></html>", "P",
	    "<html><body><p>hi</p>" PIX "</body></html>", 0,
	    "pixel before </body>");
	check("<p>no body at all", "P", "<p>no body at all" PIX, 0,
	    "no body, no html: pixel at the end");
	check("<a href=\"https://a.test/\">x</a>\r\n", "P",
	    "<a href=\"T0\">x</a>" PIX "\r\n", 1,
	    "no end tag: pixel before the last CRLF (the part ends with one)");
	check("<p>x</p>\n", "P", "<p>x</p>" PIX "\n", 0,
	    "no end tag: pixel before the last LF");
	check("<html><p>x</p></html>\r\n", "P",
	    "<html><p>x</p>" PIX "</html>\r\n", 0,
	    "no </body>: pixel before </html>");
	check("<HTML><BODY BGCOLOR=white>X</BODY></HTML>", "P",
	    "<HTML><BODY BGCOLOR=white>X" PIX "</BODY></HTML>", 0,
	    "uppercase tags");
	check("<A HREF=http://a.test/x?y=1>a</A>", NULL,
	    "<A HREF=T0>a</A>", 1, "uppercase, unquoted href");
	check("<a href='https://a.test/'>a</a><a href=\"http://b.test\">b</a>",
	    NULL, "<a href='T0'>a</a><a href=\"T1\">b</a>", 2,
	    "single and double quotes kept");
	check("<a href=\"mailto:x@y.test\">m</a><a href=\"tel:+1\">t</a>"
	    "<a href=\"#top\">top</a><a href=\"/rel\">r</a>"
	    "<a href=\"ftp://x.test/\">f</a>", NULL,
	    "<a href=\"mailto:x@y.test\">m</a><a href=\"tel:+1\">t</a>"
	    "<a href=\"#top\">top</a><a href=\"/rel\">r</a>"
	    "<a href=\"ftp://x.test/\">f</a>", 0,
	    "mailto, tel, anchors, relative and ftp untouched");
	/* no host: not offered for tracking, as "http:e.org" is not */
	check("<a href=\"http://\">1</a><a href=\" HTTPS:// \">2</a>"
	    "<a href=\"http://?q\">3</a><a href=\"https://#f\">4</a>"
	    "<a href=\"http://:80/\">5</a><a href=\"http:///x\">6</a>"
	    "<a href=\"http:e.org\">7</a><a href=\"https:/e.org\">8</a>"
	    "<a href=\"https://e.org\">9</a>", NULL,
	    "<a href=\"http://\">1</a><a href=\" HTTPS:// \">2</a>"
	    "<a href=\"http://?q\">3</a><a href=\"https://#f\">4</a>"
	    "<a href=\"http://:80/\">5</a><a href=\"http:///x\">6</a>"
	    "<a href=\"http:e.org\">7</a><a href=\"https:/e.org\">8</a>"
	    "<a href=\"T0\">9</a>", 1,
	    "links without a host untouched, the one with a host tracked");
	check("<a data-mailhook-notrack href=\"https://a.test/\">a</a>"
	    "<a href=\"https://b.test/\" DATA-MAILHOOK-NOTRACK=\"1\">b</a>",
	    NULL, "<a data-mailhook-notrack href=\"https://a.test/\">a</a>"
	    "<a href=\"https://b.test/\" DATA-MAILHOOK-NOTRACK=\"1\">b</a>", 0,
	    "data-mailhook-notrack untouched");
	out = run("<a href=\"https://a.test/?a=1&amp;b=2&#x26;c=3\">x</a>",
	    NULL, &s);
	is_str(out, "<a href=\"T0\">x</a>", "entities in href");
	is_str(s.urls[0], "https://a.test/?a=1&b=2&c=3",
	    "the URL is the decoded one");
	free(out);
	out = run("<a href=\"  HTTPS://a.test/x \n\">x</a>", NULL, &s);
	is_str(s.urls[0], "https://a.test/x", "white space trimmed, "
	    "scheme in any case, lower-cased");
	free(out);
	/* a browser drops the C0 controls and spaces around a URL, and
	 * tabs and line breaks in it (WHATWG URL), entities or not */
	out = run("<a href=\"\x01 https://a.test/x\x0b\">x</a>"
	    "<a href=\"&#1;&#10;ht&#9;tps://b.test/&#x1f;\">y</a>"
	    "<a href='\x1f\fhttp://c.test/ \x7f'>z</a>", NULL, &s);
	is_str(out, "<a href=\"T0\">x</a><a href=\"T1\">y</a>"
	    "<a href='T2'>z</a>", "controls and spaces around an href: "
	    "tracked");
	is_str(s.urls[0], "https://a.test/x", "the controls around it "
	    "dropped");
	is_str(s.urls[1], "https://b.test/", "as entities too, and a tab "
	    "inside");
	is_str(s.urls[2], "http://c.test/ \x7f", "a DEL is no control to "
	    "drop (WHATWG URL: C0 controls and space)");
	free(out);
	check("<!-- <a href=\"http://c.test/\">c</a> --><p>x</p>", NULL,
	    "<!-- <a href=\"http://c.test/\">c</a> --><p>x</p>", 0,
	    "links in comments untouched");
	/* Outlook reads a conditional comment's content as HTML: a
	 * bulletproof button's VML and its links are followed there */
	check("<body><!--[if mso]>\r\n<v:roundrect xmlns:v=\"urn:schemas-"
	    "microsoft-com:vml\" href=\"https://v.test/?a=1&amp;b=2\">"
	    "<center>Buy</center></v:roundrect>\r\n<a href=\"https://o.test/"
	    "\">o</a><v:rect href=\"mailto:a@b.test\"/>"
	    "<a data-mailhook-notrack href=\"https://n.test/\">n</a>"
	    "<![endif]--><!--[if !mso]><!--><a href=\"https://v.test/?a=1&amp;"
	    "b=2\">Buy</a><!--<![endif]--><v:roundrect href=\"https://x.test/"
	    "\"></v:roundrect></body>", NULL,
	    "<body><!--[if mso]>\r\n<v:roundrect xmlns:v=\"urn:schemas-"
	    "microsoft-com:vml\" href=\"T0\">"
	    "<center>Buy</center></v:roundrect>\r\n<a href=\"T1\">o</a>"
	    "<v:rect href=\"mailto:a@b.test\"/>"
	    "<a data-mailhook-notrack href=\"https://n.test/\">n</a>"
	    "<![endif]--><!--[if !mso]><!--><a href=\"T2\">Buy</a>"
	    "<!--<![endif]--><v:roundrect href=\"https://x.test/"
	    "\"></v:roundrect></body>", 3,
	    "conditional comments: VML and <a> links tracked (not mailto, "
	    "not notrack), a VML shape outside one untouched");
	out = run("<!--[IF gte mso 9]><v:rect href=\"https://pre.test/\"/>"
	    "<![endif]--><html><body>x</body></html><!--[if mso]><a href="
	    "\"https://post.test/\">p</a><![endif]-->", NULL, &s);
	is_str(out, "<!--[IF gte mso 9]><v:rect href=\"T0\"/><![endif]-->"
	    "<html><body>x</body></html><!--[if mso]><a href=\"T1\">p</a>"
	    "<![endif]-->", "conditional comments before <html> and after it");
	is_str(s.urls[0], "https://pre.test/", "the first one's URL");
	free(out);
	out = run("<a href=\"https://a.test/\">a</a><!--[if mso]><a href="
	    "\"https://b.test/\">b</a><![endif]--><a href=\"https://c.test/\">"
	    "c</a>", NULL, &s);
	ok(s.n == 3 && !s.comment[0] && s.comment[1] && !s.comment[2],
	    "the callback told which link is in a conditional comment");
	free(out);
	check("<script>var s = '<a href=\"http://s.test/\">';"
	    "document.write('href=http://t.test/')</script>"
	    "<style>a[href=\"http://u.test\"]{}</style>"
	    "<a href=http://v.test/>v</a>", NULL,
	    "<script>var s = '<a href=\"http://s.test/\">';"
	    "document.write('href=http://t.test/')</script>"
	    "<style>a[href=\"http://u.test\"]{}</style>"
	    "<a href=T0>v</a>", 1, "href= inside script and style untouched");
	check("<map><area shape=rect href=\"http://m.test/\"></map>", NULL,
	    "<map><area shape=rect href=\"T0\"></map>", 1, "area links");
	check("<p><a href=\"http://a.test/\"><b>x</p>y</a>", NULL,
	    "<p><a href=\"T0\"><b>x</p>y</a>", 1,
	    "an <a> the parser clones is rewritten once");
	check("<a href>e</a><a href=\"\">f</a><a>g</a>", NULL,
	    "<a href>e</a><a href=\"\">f</a><a>g</a>", 0,
	    "empty and missing href");
	check("<body>\xff\xfe<a href=\"http://x.test/\xe9\">\xe9</a></body>",
	    "P", "<body>\xff\xfe<a href=\"http://x.test/\xe9\">\xe9</a>" PIX
	    "</body>", 0, "bytes that are not UTF-8 stay as they were, a link "
	    "with them untracked (gumbo would make them U+FFFD)");
	check("<a href=\"http://a.test/\">a</a></body>", "https://t.test/o/a&b\"c",
	    "<a href=\"T0\">a</a><img src=\"https://t.test/o/a&amp;b&quot;c\" "
	    "width=\"1\" height=\"1\" alt=\"\" "
	    "style=\"border:0;width:1px;height:1px\"></body>", 1,
	    "pixel URL escaped as an attribute");
	check("", "P", PIX, 0, "empty document");
	check("<body>a</body><body>b</body>", "P",
	    "<body>a</body><body>b" PIX "</body>", 0,
	    "two </body>: the last, after all the content");
	check_unclosed();
	check_kept();
	check_legacy();
	check_derived();
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The tracking rewrite of an HTML document (html_rewrite.h).
 *
 * gumbo parses the document as a browser would and keeps, for every
 * attribute, a pointer into the source and its original text with the
 * quotes.  The plan is the list of byte ranges to replace (the inside of
 * the href values worth tracking, quotes kept as they were) and the
 * offset of the pixel; applying it copies every other byte unchanged.
 * Script and style contents are text to the parser, so an "href=" in
 * them is never taken for a link.  A conditional comment's content,
 * HTML to Outlook, is parsed in place as a document of its own.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "html_rewrite.h"
#include "kept.h"
#include "uri.h"

#define PIXEL_HEAD	"<img src=\""
#define PIXEL_TAIL	"\" width=\"1\" height=\"1\" alt=\"\" " \
			"style=\"border:0;width:1px;height:1px\">"

/*
 * gumbo's memory for one parse of a small document: bump-allocated from
 * chunks and released at once (gumbo frees node by node and grows its
 * buffers by copying; malloc and free were a third of a parse).  The
 * first chunk is kept for the next parse.  A document over ARENA_DOC_MAX
 * uses malloc: what gumbo frees during the parse stays allocated in an
 * arena until the end, a multiple of the document's size.
 */
#define ARENA_DOC_MAX	(256 * 1024)
#define ARENA_CHUNK	(256 * 1024)

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size, used;
	max_align_t		 data[];
};

static struct arena_chunk	*arena;		/* the kept chunk first */

static struct arena_chunk *
arena_chunk_new(size_t size, struct arena_chunk *next)
{
	struct arena_chunk	*c;

	if ((c = malloc(sizeof(*c) + size)) == NULL)
		return (NULL);
	c->next = next;
	c->size = size;
	c->used = 0;
	return (c);
}

static void *
arena_alloc(void *ud, size_t size)
{
	struct arena_chunk	*c;
	size_t			 n;

	(void)ud;
	n = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (n < size)
		return (NULL);
	if (arena == NULL || arena->size - arena->used < n) {
		if ((c = arena_chunk_new(n > ARENA_CHUNK ? n : ARENA_CHUNK,
		    arena)) == NULL)
			return (NULL);
		arena = c;
	}
	c = arena;
	c->used += n;
	return ((char *)c->data + c->used - n);
}

static void
arena_free(void *ud, void *p)
{
	(void)ud;
	(void)p;
}

/* everything of the parse released; one chunk kept */
static void
arena_reset(void)
{
	struct arena_chunk	*c;

	while (arena != NULL && arena->next != NULL) {
		c = arena;
		arena = c->next;
		free(c);
	}
	if (arena != NULL && arena->size != ARENA_CHUNK) {
		free(arena);
		arena = NULL;
	}
	if (arena != NULL)
		arena->used = 0;
}

struct html_link {
	size_t		 off;		/* the value without its quotes */
	size_t		 end;
	char		*url;		/* decoded and trimmed */
	int		 comment;	/* in a conditional comment */
};

struct html_plan {
	struct html_link *links;
	size_t		 nlinks;
	size_t		 pixel_off;
	unsigned int	 refs;		/* holders: callers and the cache */
};

/*
 * The plans of the last documents parsed.  A campaign submits the same
 * HTML to each of its recipients, usually as one message each, and a
 * plan depends on nothing but the document's bytes: a document equal,
 * byte for byte, to one of the last four shares its plan and is not
 * parsed again.
 */
#define PLAN_KEEP_MAX	(256 * 1024)	/* larger documents are not kept */

static void	 plan_unref(void *);

static struct kept_slot	 plan_slots[4];
static struct kept	 plans = KEPT_INIT(plan_slots, PLAN_KEEP_MAX,
			    plan_unref);

static int
link_cmp(const void *a, const void *b)
{
	const struct html_link	*x = a, *y = b;

	return (x->off < y->off ? -1 : x->off > y->off);
}

/*
 * The href's value as a browser reads it, from its text in the source,
 * raw[0..n), or gumbo's value v: the controls and spaces around it and
 * tabs and line breaks in it removed (uri_strip), scheme in lower case;
 * NULL if it is not http(s).  gumbo makes a control character in the
 * source U+FFFD (a browser keeps it, and its URL parser drops it around
 * a URL and percent-encodes it inside), so a value without a character
 * reference (and without a NUL, which a browser makes U+FFFD too) is
 * taken from the source as it is.
 */
static char *
tracked_url(const char *raw, size_t n, const char *v)
{
	size_t	 i;
	char	*u;

	if (memchr(raw, '&', n) == NULL && memchr(raw, '\0', n) == NULL)
		u = strndup(raw, n);
	else
		u = strdup(v);
	if (u == NULL)
		return (NULL);
	uri_strip(u);
	if (strncasecmp(u, "http://", 7) != 0 &&
	    strncasecmp(u, "https://", 8) != 0) {
		free(u);
		return (NULL);
	}
	for (i = 0; u[i] != ':'; i++)
		u[i] = tolower((unsigned char)u[i]);
	return (u);
}

/* s[0..n) is UTF-8 (RFC 3629: no overlong form, no surrogate) */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		 i = 0, k, more;
	unsigned int	 c;

	while (i < n) {
		c = s[i++];
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3;
		else
			return (0);
		c &= 0x3f >> more;
		if (more > n - i)
			return (0);
		for (k = 0; k < more; k++) {
			if ((s[i] & 0xc0) != 0x80)
				return (0);
			c = c << 6 | (s[i++] & 0x3f);
		}
		if ((more == 2 && (c < 0x800 || (c >= 0xd800 &&
		    c <= 0xdfff))) || (more == 3 && (c < 0x10000 ||
		    c > 0x10ffff)))
			return (0);
	}
	return (1);
}

/*
 * A link whose target gumbo cannot give as the browser follows it: 8-bit
 * bytes of another charset than UTF-8 (gumbo reads UTF-8 only and would
 * make them U+FFFD), or bytes that are not UTF-8 at all; and, in a
 * document of another charset, a query with characters beyond ASCII,
 * which a browser encodes in the document's charset, not in UTF-8.  So
 * too an escape sequence (ISO-2022-JP, -KR, -CN): the bytes after it are
 * ASCII but not ASCII text, and a browser takes the characters they
 * stand for (in UTF-8 in the path).
 */
static int
link_charset_bad(const char *raw, size_t n, const char *url, int legacy)
{
	const unsigned char	*q;
	size_t			 i;

	if (memchr(raw, 0x1b, n) != NULL)
		return (1);
	for (i = 0; i < n; i++)
		if ((unsigned char)raw[i] >= 0x80)
			break;
	if (i < n && (legacy || !utf8_valid((const unsigned char *)raw, n)))
		return (1);
	if (!legacy || (q = (const unsigned char *)strchr(url, '?')) == NULL)
		return (0);
	for (; *q != '\0' && *q != '#'; q++)
		if (*q >= 0x80)
			return (1);
	return (0);
}

/* a VML shape (<v:roundrect>, <v:rect>...): Outlook follows its href */
static int
is_vml(const GumboElement *e)
{
	const GumboStringPiece	*t = &e->original_tag;

	return (e->tag == GUMBO_TAG_UNKNOWN && t->data != NULL &&
	    t->length > 3 && strncasecmp(t->data, "<v:", 3) == 0);
}

/*
 * A link worth tracking in element e (of a conditional comment: vml set,
 * VML shapes too): 1 added, 0 none, -1 no memory.
 */
static int
plan_link(struct html_plan *p, size_t *cap, const GumboElement *e,
    const char *html, size_t len, int legacy, int vml)
{
	const GumboAttribute	*a;
	const char		*d;
	size_t			 off, n;
	struct html_link	*l;

	if (e->tag != GUMBO_TAG_A && e->tag != GUMBO_TAG_AREA &&
	    (!vml || !is_vml(e)))
		return (0);
	if (gumbo_get_attribute(&e->attributes,
	    "data-mailhook-notrack") != NULL)
		return (0);
	if ((a = gumbo_get_attribute(&e->attributes, "href")) == NULL)
		return (0);
	d = a->original_value.data;
	n = a->original_value.length;
	if (d == NULL || n == 0 || d < html || (size_t)(d - html) > len ||
	    n > len - (size_t)(d - html))
		return (0);	/* not from the source */
	off = d - html;
	if (n >= 2 && (d[0] == '"' || d[0] == '\'') && d[n - 1] == d[0]) {
		off++;
		n -= 2;
	}
	if (*cap == p->nlinks) {
		size_t nc = *cap ? *cap * 2 : 16;
		if ((l = reallocarray(p->links, nc, sizeof(*l))) == NULL)
			return (-1);
		p->links = l;
		*cap = nc;
	}
	l = &p->links[p->nlinks];
	if ((l->url = tracked_url(html + off, n, a->value)) == NULL)
		return (0);
	if (link_charset_bad(html + off, n, l->url, legacy)) {
		free(l->url);
		return (0);
	}
	l->off = off;
	l->end = off + n;
	l->comment = vml;
	p->nlinks++;
	return (1);
}

static int	 plan_walk(struct html_plan *, size_t *, GumboNode *,
		    const char *, size_t, int, int);

/*
 * A conditional comment (<!--[if mso]> ... <![endif]-->): its content is
 * HTML to Outlook, which follows the links in it, a bulletproof button's
 * <v:roundrect href> among them.  It is parsed as a document of its own
 * in place, so that its links' positions are the source's.  0, or -1
 * when out of memory.
 */
static int
plan_comment(struct html_plan *p, size_t *lcap, const GumboNode *n,
    const char *html, size_t len, int legacy)
{
	const GumboStringPiece	*o = &n->v.text.original_text;
	const char		*src;
	GumboOptions		 opts;
	GumboOutput		*out;
	size_t			 tlen;
	int			 rv;

	/* its text as in the source (CRLF kept), between <!-- and --> */
	if (o->data == NULL || o->data < html || o->length < 8 ||
	    (size_t)(o->data - html) > len - o->length ||
	    strncmp(o->data, "<!--", 4) != 0 ||
	    strncasecmp(o->data + 4, "[if ", 4) != 0)
		return (0);
	src = o->data + 4;
	tlen = o->length - 4;
	if (tlen >= 3 && strncmp(src + tlen - 3, "-->", 3) == 0)
		tlen -= 3;
	opts = kGumboDefaultOptions;
	opts.max_errors = 0;
	if (len <= ARENA_DOC_MAX) {
		opts.allocator = arena_alloc;
		opts.deallocator = arena_free;
	}
	if ((out = gumbo_parse_with_options(&opts, src, tlen)) == NULL)
		return (0);
	rv = plan_walk(p, lcap, out->root, html, len, legacy, 1);
	gumbo_destroy_output(&opts, out);
	return (rv);
}

/*
 * every element, depth first without recursion (documents nest deep),
 * from the document node: the comments before <html> and after it hang
 * on it; vml: a conditional comment's, which has no comment of its own
 * to read
 */
static int
plan_walk(struct html_plan *p, size_t *lcap, GumboNode *root,
    const char *html, size_t len, int legacy, int vml)
{
	GumboNode	**stack = NULL, **ns, *n;
	size_t		 sp = 0, scap = 0, i;
	const GumboVector *kids;

	if (root == NULL)
		return (0);
	scap = 64;
	if ((stack = calloc(scap, sizeof(*stack))) == NULL)
		return (-1);
	stack[sp++] = root;
	while (sp > 0) {
		n = stack[--sp];
		if (n->type == GUMBO_NODE_COMMENT && !vml) {
			if (plan_comment(p, lcap, n, html, len, legacy) == -1)
				goto fail;
			continue;
		}
		if (n->type == GUMBO_NODE_DOCUMENT)
			kids = &n->v.document.children;
		else if (n->type == GUMBO_NODE_ELEMENT ||
		    n->type == GUMBO_NODE_TEMPLATE) {
			if (plan_link(p, lcap, &n->v.element, html, len,
			    legacy, vml) == -1)
				goto fail;
			kids = &n->v.element.children;
		} else
			continue;
		if (sp + kids->length > scap) {
			size_t nc = (sp + kids->length) * 2;
			if ((ns = reallocarray(stack, nc, sizeof(*ns))) == NULL)
				goto fail;
			stack = ns;
			scap = nc;
		}
		for (i = kids->length; i > 0; i--)
			stack[sp++] = kids->data[i - 1];
	}
	free(stack);
	return (0);
 fail:
	free(stack);
	return (-1);
}

/* where an end tag the parser took from the source starts, or -1 */
static ssize_t
end_tag_off(const GumboNode *n, const char *html, size_t len)
{
	const GumboStringPiece	*t = &n->v.element.original_end_tag;

	if (t->data == NULL || t->length == 0 || t->data < html ||
	    (size_t)(t->data - html) >= len)
		return (-1);
	return (t->data - html);
}

/* before </body>, else before </html>, else at the end */
static size_t
pixel_offset(const GumboOutput *out, const char *html, size_t len)
{
	const GumboNode		*root = out->root, *k;
	const GumboVector	*kids;
	ssize_t			 off;
	size_t			 i;

	if (root == NULL || root->type != GUMBO_NODE_ELEMENT)
		return (len);
	kids = &root->v.element.children;
	for (i = 0; i < kids->length; i++) {
		k = kids->data[i];
		if (k->type == GUMBO_NODE_ELEMENT &&
		    k->v.element.tag == GUMBO_TAG_BODY &&
		    (off = end_tag_off(k, html, len)) != -1)
			return (off);
	}
	if ((off = end_tag_off(root, html, len)) != -1)
		return (off);
	/* at the end, but before a last line end: the part keeps ending
	 * with one (DKIM signs a body that ends with CRLF) */
	if (len > 0 && html[len - 1] == '\n')
		len -= len > 1 && html[len - 2] == '\r' ? 2 : 1;
	return (len);
}

/* sorted, and a range the parser used twice (cloned <a>) only once */
static void
plan_sort(struct html_plan *p)
{
	size_t	 i, k = 0;

	if (p->nlinks == 0)
		return;
	qsort(p->links, p->nlinks, sizeof(*p->links), link_cmp);
	for (i = 1; i < p->nlinks; i++) {
		if (p->links[i].off < p->links[k].end ||
		    p->links[i].off == p->links[k].off) {
			free(p->links[i].url);
			continue;
		}
		p->links[++k] = p->links[i];
	}
	p->nlinks = k + 1;
}

static struct html_plan *
plan_parse(const char *html, size_t len, int legacy)
{
	struct html_plan	*p;
	GumboOptions		 opts;
	GumboOutput		*out;
	size_t			 lcap = 0;
	int			 rv;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	p->refs = 1;
	opts = kGumboDefaultOptions;
	opts.max_errors = 0;		/* parse errors are not wanted here */
	if (len <= ARENA_DOC_MAX) {
		opts.allocator = arena_alloc;
		opts.deallocator = arena_free;
	}
	if ((out = gumbo_parse_with_options(&opts, html, len)) == NULL) {
		arena_reset();
		free(p);
		return (NULL);
	}
	rv = plan_walk(p, &lcap, out->document, html, len, legacy, 0);
	p->pixel_off = pixel_offset(out, html, len);
	gumbo_destroy_output(&opts, out);
	if (len <= ARENA_DOC_MAX)
		arena_reset();
	if (rv == -1) {
		html_plan_free(p);
		return (NULL);
	}
	plan_sort(p);
	return (p);
}

static void
plan_unref(void *p)
{
	html_plan_free(p);
}

struct html_plan *
html_plan_new(const char *html, size_t len, int legacy)
{
	struct html_plan	*p;
	const char		*k2 = legacy ? "legacy" : NULL;
	size_t			 k2len = legacy ? 6 : 0;

	if (len > HTML_REWRITE_MAX)
		return (NULL);
	if ((p = kept_find(&plans, html, len, k2, k2len)) != NULL) {
		p->refs++;
		return (p);
	}
	if ((p = plan_parse(html, len, legacy)) != NULL &&
	    kept_add(&plans, html, len, k2, k2len, p) == 0)
		p->refs++;
	return (p);
}

void
html_plan_free(struct html_plan *p)
{
	size_t	 i;

	if (p == NULL || --p->refs > 0)
		return;
	for (i = 0; i < p->nlinks; i++)
		free(p->links[i].url);
	free(p->links);
	free(p);
}

size_t
html_plan_nlinks(const struct html_plan *p)
{
	return (p->nlinks);
}

const char *
html_plan_url(const struct html_plan *p, size_t idx)
{
	return (idx < p->nlinks ? p->links[idx].url : NULL);
}

int
html_plan_span(const struct html_plan *p, size_t idx, size_t *off,
    size_t *end)
{
	if (idx >= p->nlinks)
		return (-1);
	*off = p->links[idx].off;
	*end = p->links[idx].end;
	return (0);
}

size_t
html_plan_pixel_offset(const struct html_plan *p)
{
	return (p->pixel_off);
}

/* a URL as an attribute value: safe quoted or not */
static void
put_attr(FILE *o, const char *s)
{
	const char	*r;
	size_t		 n;

	for (;;) {
		n = strcspn(s, "&\"'<>` \t\r\n\f");
		fwrite(s, 1, n, o);
		s += n;
		switch (*s) {
		case '\0':
			return;
		case '&':
			r = "&amp;";
			break;
		case '"':
			r = "&quot;";
			break;
		case '\'':
			r = "&#39;";
			break;
		case '<':
			r = "&lt;";
			break;
		case '>':
			r = "&gt;";
			break;
		case '`':
			r = "&#96;";
			break;
		default:
			r = "%20";
			break;
		}
		fputs(r, o);
		s++;
	}
}

char *
html_plan_apply(const struct html_plan *p, const char *html, size_t len,
    const char *pixel_url, html_link_fn fn, void *arg, size_t *outlen)
{
	FILE	*o;
	char	*buf = NULL, *url;
	size_t	 at = 0, i = 0, cut;
	int	 pixel = pixel_url != NULL;

	if ((o = open_memstream(&buf, outlen)) == NULL)
		return (NULL);
	for (;;) {
		cut = i < p->nlinks && fn != NULL ? p->links[i].off : len;
		if (pixel && p->pixel_off <= cut) {
			if (p->pixel_off > at) {
				fwrite(html + at, 1, p->pixel_off - at, o);
				at = p->pixel_off;
			}
			fputs(PIXEL_HEAD, o);
			put_attr(o, pixel_url);
			fputs(PIXEL_TAIL, o);
			pixel = 0;
			continue;
		}
		fwrite(html + at, 1, cut - at, o);
		at = cut;
		if (cut == len)
			break;
		if ((url = fn(arg, i, p->links[i].url,
		    p->links[i].comment)) != NULL) {
			put_attr(o, url);
			free(url);
			at = p->links[i].end;
		}
		i++;
	}
	if (ferror(o)) {
		fclose(o);
		free(buf);
		return (NULL);
	}
	if (fclose(o) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

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

/* an <img> whose src has "/o/": its tag, [off, end) */
struct html_img {
	size_t		 off;
	size_t		 end;
	char		*url;		/* as a link's (tracked_url) */
};

/*
 * A byte range of the document whose letters and digits may differ in
 * another document with the same plan (plan_derive): the text of an
 * element (not of one whose content the tokenizer reads otherwise:
 * script, style, title...), without '<'; or the value of an attribute
 * the parser does not look at (link: a tracked link's href, whose URL
 * is then read again).
 */
struct html_span {
	size_t		 off;
	size_t		 end;
	ssize_t		 link;		/* its index in links, or -1 (-2
					   while parsing: the link at off) */
};

struct html_plan {
	struct html_link *links;
	size_t		 nlinks;
	struct html_img	*imgs;
	size_t		 nimgs, imgcap;
	struct html_span *spans;
	size_t		 nspans, spancap;
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
static unsigned long	 plans_parsed, plans_derived;

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
 * NULL if it is not http(s) or has no host.  gumbo makes a control
 * character in the source U+FFFD (a browser keeps it, and its URL parser
 * drops it around a URL and percent-encodes it inside), so a value
 * without a character reference (and without a NUL, which a browser
 * makes U+FFFD too) is taken from the source as it is.
 */
static char *
tracked_url(const char *raw, size_t n, const char *v)
{
	size_t	 i;
	char	*u, *host;

	if (memchr(raw, '&', n) == NULL && memchr(raw, '\0', n) == NULL)
		u = strndup(raw, n);
	else
		u = strdup(v);
	if (u == NULL)
		return (NULL);
	uri_strip(u);
	if (strncasecmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		host = NULL;
	/* no host ("http://", "https://?q"): a click would lead nowhere,
	 * and a token takes no such url (config_check_url) */
	if (host == NULL || *host == '\0' || strchr("/:?#@", *host) != NULL) {
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

/* where attribute a's value is in the document, without its quotes */
static int
attr_range(const GumboAttribute *a, const char *html, size_t len,
    size_t *off, size_t *end)
{
	const char	*d = a->original_value.data;
	size_t		 n = a->original_value.length;

	if (d == NULL || n == 0 || d < html || (size_t)(d - html) > len ||
	    n > len - (size_t)(d - html))
		return (-1);	/* not from the source */
	*off = d - html;
	if (n >= 2 && (d[0] == '"' || d[0] == '\'') && d[n - 1] == d[0]) {
		(*off)++;
		n -= 2;
	}
	*end = *off + n;
	return (0);
}

/* an element whose href is a link (of a conditional comment: vml set) */
static int
is_link(const GumboElement *e, int vml)
{
	return (e->tag == GUMBO_TAG_A || e->tag == GUMBO_TAG_AREA ||
	    (vml && is_vml(e)));
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
	size_t			 off, end;
	struct html_link	*l;

	if (!is_link(e, vml))
		return (0);
	if (gumbo_get_attribute(&e->attributes,
	    "data-mailhook-notrack") != NULL)
		return (0);
	if ((a = gumbo_get_attribute(&e->attributes, "href")) == NULL ||
	    attr_range(a, html, len, &off, &end) == -1)
		return (0);
	if (*cap == p->nlinks) {
		size_t nc = *cap ? *cap * 2 : 16;
		if ((l = reallocarray(p->links, nc, sizeof(*l))) == NULL)
			return (-1);
		p->links = l;
		*cap = nc;
	}
	l = &p->links[p->nlinks];
	if ((l->url = tracked_url(html + off, end - off, a->value)) == NULL)
		return (0);
	if (link_charset_bad(html + off, end - off, l->url, legacy)) {
		free(l->url);
		return (0);
	}
	l->off = off;
	l->end = end;
	l->comment = vml;
	p->nlinks++;
	return (1);
}

/*
 * An <img> whose src has "/o/" (a pixel, perhaps ours: html_img_fn):
 * 1 added, 0 none, -1 no memory.
 */
static int
plan_img(struct html_plan *p, const GumboElement *e, const char *html,
    size_t len)
{
	const GumboAttribute	*a;
	const GumboStringPiece	*t = &e->original_tag;
	struct html_img		*im;
	size_t			 off, end, nc;
	char			*url;

	if (e->tag != GUMBO_TAG_IMG || e->tag_namespace !=
	    GUMBO_NAMESPACE_HTML || t->data == NULL || t->length == 0 ||
	    t->data < html || (size_t)(t->data - html) > len ||
	    t->length > len - (size_t)(t->data - html) ||
	    (a = gumbo_get_attribute(&e->attributes, "src")) == NULL ||
	    attr_range(a, html, len, &off, &end) == -1)
		return (0);
	if ((url = tracked_url(html + off, end - off, a->value)) == NULL)
		return (0);
	if (strstr(url, "/o/") == NULL) {
		free(url);
		return (0);
	}
	if (p->nimgs == p->imgcap) {
		nc = p->imgcap ? p->imgcap * 2 : 4;
		if ((im = reallocarray(p->imgs, nc, sizeof(*im))) == NULL) {
			free(url);
			return (-1);
		}
		p->imgs = im;
		p->imgcap = nc;
	}
	im = &p->imgs[p->nimgs++];
	im->off = t->data - html;
	im->end = im->off + t->length;
	im->url = url;
	return (1);
}

/* [off, end) a span of p's document; link: see struct html_span */
static int
span_add(struct html_plan *p, size_t off, size_t end, ssize_t link)
{
	struct html_span	*s;
	size_t			 nc;

	if (end <= off)
		return (0);
	if (p->nspans == p->spancap) {
		nc = p->spancap ? p->spancap * 2 : 64;
		if ((s = reallocarray(p->spans, nc, sizeof(*s))) == NULL)
			return (-1);
		p->spans = s;
		p->spancap = nc;
	}
	s = &p->spans[p->nspans++];
	s->off = off;
	s->end = end;
	s->link = link;
	return (0);
}

/* attributes the tree builder never reads (input's type, font's...) */
static int
attr_free(const char *name)
{
	return (strcmp(name, "href") == 0 || strcmp(name, "src") == 0 ||
	    strcmp(name, "alt") == 0 || strcmp(name, "title") == 0);
}

/*
 * The spans of element e's attributes at min or after: those the parser
 * does not read, and a link's href: of a tracked link (linked: its URL
 * read again when it changes), or of one data-mailhook-notrack keeps.
 * An untracked link's href is none: a change could make it tracked;
 * nor is the src of an <img> plan_img took (img).
 */
static int
elem_spans(struct html_plan *p, const GumboElement *e, const char *html,
    size_t len, int vml, int linked, int img, size_t min)
{
	const GumboAttribute	*a;
	size_t			 i, off, end;
	ssize_t			 link;

	for (i = 0; i < e->attributes.length; i++) {
		a = e->attributes.data[i];
		if (!attr_free(a->name) ||
		    attr_range(a, html, len, &off, &end) == -1 || off < min)
			continue;
		/* a pixel's src: a change could make it another's */
		if (img && strcmp(a->name, "src") == 0)
			continue;
		link = -1;
		if (strcmp(a->name, "href") == 0 && is_link(e, vml) &&
		    gumbo_get_attribute(&e->attributes,
		    "data-mailhook-notrack") == NULL) {
			if (!linked)
				continue;
			link = -2;	/* the link at off: plan_spans_sort */
		}
		if (span_add(p, off, end, link) == -1)
			return (-1);
	}
	return (0);
}

/* an element whose content the tokenizer does not read as markup */
static int
text_special(GumboTag t)
{
	return (t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE ||
	    t == GUMBO_TAG_XMP || t == GUMBO_TAG_IFRAME ||
	    t == GUMBO_TAG_NOEMBED || t == GUMBO_TAG_NOFRAMES ||
	    t == GUMBO_TAG_NOSCRIPT || t == GUMBO_TAG_PLAINTEXT ||
	    t == GUMBO_TAG_TITLE || t == GUMBO_TAG_TEXTAREA);
}

/* the span of text node n at min or after, if it holds no '<' */
static int
text_span(struct html_plan *p, const GumboNode *n, const char *html,
    size_t len, size_t min)
{
	const GumboStringPiece	*o = &n->v.text.original_text;
	const GumboNode		*par = n->parent;
	size_t			 off;

	if (par == NULL || par->type != GUMBO_NODE_ELEMENT ||
	    par->v.element.tag_namespace != GUMBO_NAMESPACE_HTML ||
	    text_special(par->v.element.tag))
		return (0);
	if (o->data == NULL || o->data < html || o->length > len ||
	    (size_t)(o->data - html) > len - o->length)
		return (0);
	off = o->data - html;
	if (off < min || memchr(o->data, '<', o->length) != NULL)
		return (0);
	return (span_add(p, off, off + o->length, -1));
}

static int	 plan_walk(struct html_plan *, size_t *, GumboNode *,
		    const char *, size_t, int, int, size_t);

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
	/* a span from after "[if ": a change in it would make it none */
	rv = plan_walk(p, lcap, out->root, html, len, legacy, 1,
	    src + 4 - html);
	gumbo_destroy_output(&opts, out);
	return (rv);
}

/*
 * every element, depth first without recursion (documents nest deep),
 * from the document node: the comments before <html> and after it hang
 * on it; vml: a conditional comment's, which has no comment of its own
 * to read; spans from min on
 */
static int
plan_walk(struct html_plan *p, size_t *lcap, GumboNode *root,
    const char *html, size_t len, int legacy, int vml, size_t min)
{
	GumboNode	**stack = NULL, **ns, *n;
	size_t		 sp = 0, scap = 0, i;
	const GumboVector *kids;
	int		 linked, img;

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
		if (n->type == GUMBO_NODE_TEXT) {
			if (text_span(p, n, html, len, min) == -1)
				goto fail;
			continue;
		}
		if (n->type == GUMBO_NODE_DOCUMENT)
			kids = &n->v.document.children;
		else if (n->type == GUMBO_NODE_ELEMENT ||
		    n->type == GUMBO_NODE_TEMPLATE) {
			if ((linked = plan_link(p, lcap, &n->v.element, html,
			    len, legacy, vml)) == -1 ||
			    (img = plan_img(p, &n->v.element, html,
			    len)) == -1 ||
			    elem_spans(p, &n->v.element, html, len, vml,
			    linked, img, min) == -1)
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

/* the children of n, or NULL */
static const GumboVector *
node_kids(const GumboNode *n)
{
	if (n->type == GUMBO_NODE_DOCUMENT)
		return (&n->v.document.children);
	if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE)
		return (&n->v.element.children);
	return (NULL);
}

/* the node after n in document order, or NULL (by parents: no stack) */
static const GumboNode *
node_next(const GumboNode *n)
{
	const GumboVector	*k;

	if ((k = node_kids(n)) != NULL && k->length > 0)
		return (k->data[0]);
	for (; n->parent != NULL; n = n->parent) {
		k = node_kids(n->parent);
		if (k != NULL && n->index_within_parent + 1 < k->length)
			return (k->data[n->index_within_parent + 1]);
	}
	return (NULL);
}

#define PIXEL_PROBE	"<img>"

/*
 * Whether a pixel after html[0..off), a document with neither </body>
 * nor </html>, is read as an image: not if the document ends inside a
 * tag, a comment or an element whose content is text (an unclosed
 * <textarea>, <title>, <script>, <plaintext>...), where the pixel would
 * be part of an attribute's value, or text.  The document is parsed
 * again with an <img> after it.
 */
static int
pixel_fits(const GumboOptions *opts, const char *html, size_t off)
{
	GumboOutput		*out;
	const GumboNode		*n;
	const GumboElement	*e;
	char			*doc;
	size_t			 plen = sizeof(PIXEL_PROBE) - 1;
	int			 fits = 0;

	if ((doc = malloc(off + plen)) == NULL)
		return (0);
	memcpy(doc, html, off);
	memcpy(doc + off, PIXEL_PROBE, plen);
	if ((out = gumbo_parse_with_options(opts, doc, off + plen)) != NULL) {
		for (n = out->document; n != NULL && !fits; n = node_next(n)) {
			e = &n->v.element;
			fits = n->type == GUMBO_NODE_ELEMENT &&
			    e->tag == GUMBO_TAG_IMG &&
			    e->tag_namespace == GUMBO_NAMESPACE_HTML &&
			    e->original_tag.data == doc + off;
		}
		gumbo_destroy_output(opts, out);
	}
	free(doc);
	return (fits);
}

/*
 * before </body>, else before </html>, else at the end if it is read
 * there as an image (pixel_fits), else none (HTML_PIXEL_NONE)
 */
static size_t
pixel_offset(const GumboOutput *out, const GumboOptions *opts,
    const char *html, size_t len)
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
	return (pixel_fits(opts, html, len) ? len : HTML_PIXEL_NONE);
}

/*
 * The charset in a meta element's content ("text/html; charset=x"), as
 * WHATWG HTML 2.5.5 extracts it: after "charset", blanks, '=', blanks,
 * a quoted value or one up to ';' or a blank.  1 if one fits cs.
 */
static int
content_charset(const char *v, char *cs, size_t cslen)
{
	const char	*p = v, *e;
	char		 q = '\0';

	for (;;) {
		if ((p = strcasestr(p, "charset")) == NULL)
			return (0);
		p += 7;
		p += strspn(p, " \t\n\f\r");
		if (*p == '=')
			break;
	}
	p++;
	p += strspn(p, " \t\n\f\r");
	if (*p == '"' || *p == '\'') {
		q = *p++;
		if ((e = strchr(p, q)) == NULL)
			return (0);
	} else
		e = p + strcspn(p, "; \t\n\f\r");
	if (e == p || (size_t)(e - p) >= cslen)
		return (0);
	memcpy(cs, p, e - p);
	cs[e - p] = '\0';
	return (1);
}

/* the charset meta element e names, into cs: 1 if it names one */
static int
meta_charset(const GumboElement *e, char *cs, size_t cslen)
{
	const GumboAttribute	*a, *h, *c;
	const char		*v;
	size_t			 n;

	if ((a = gumbo_get_attribute(&e->attributes, "charset")) != NULL) {
		v = a->value + strspn(a->value, " \t\n\f\r");
		n = strlen(v);
		while (n > 0 && strchr(" \t\n\f\r", v[n - 1]) != NULL)
			n--;
		if (n == 0 || n >= cslen)
			return (0);
		memcpy(cs, v, n);
		cs[n] = '\0';
		return (1);
	}
	if ((h = gumbo_get_attribute(&e->attributes, "http-equiv")) == NULL ||
	    strcasecmp(h->value, "content-type") != 0 ||
	    (c = gumbo_get_attribute(&e->attributes, "content")) == NULL)
		return (0);
	return (content_charset(c->value, cs, cslen));
}

int
html_meta_charset(const char *html, size_t len, char *cs, size_t cslen)
{
	GumboOptions		 opts;
	GumboOutput		*out;
	const GumboNode		*n;
	int			 found = 0;

	opts = kGumboDefaultOptions;
	opts.max_errors = 0;
	opts.allocator = arena_alloc;
	opts.deallocator = arena_free;
	if (len > HTML_META_SCAN)
		len = HTML_META_SCAN;
	if ((out = gumbo_parse_with_options(&opts, html, len)) != NULL) {
		for (n = out->document; n != NULL && !found; n = node_next(n))
			found = n->type == GUMBO_NODE_ELEMENT &&
			    n->v.element.tag == GUMBO_TAG_META &&
			    n->v.element.tag_namespace ==
			    GUMBO_NAMESPACE_HTML &&
			    meta_charset(&n->v.element, cs, cslen);
		gumbo_destroy_output(&opts, out);
	}
	arena_reset();
	return (found);
}

static int
img_cmp(const void *a, const void *b)
{
	const struct html_img	*x = a, *y = b;

	return (x->off < y->off ? -1 : x->off > y->off);
}

/* the images sorted; one that overlaps the one before dropped */
static void
plan_imgs_sort(struct html_plan *p)
{
	size_t	 i, k = 0;

	if (p->nimgs == 0)
		return;
	qsort(p->imgs, p->nimgs, sizeof(*p->imgs), img_cmp);
	for (i = 1; i < p->nimgs; i++) {
		if (p->imgs[i].off < p->imgs[k].end) {
			free(p->imgs[i].url);
			continue;
		}
		p->imgs[++k] = p->imgs[i];
	}
	p->nimgs = k + 1;
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

static int
span_cmp(const void *a, const void *b)
{
	const struct html_span	*x = a, *y = b;

	return (x->off < y->off ? -1 : x->off > y->off);
}

/*
 * sorted; a range seen twice (a cloned element's) once; ranges that
 * overlap, which the parser should not make, dropped; a link's href
 * given its link's index, dropped if it has none
 */
static void
plan_spans_sort(struct html_plan *p)
{
	struct html_span	*s;
	size_t			 i, k = 0, lo, hi, mid, maxend = 0;

	if (p->nspans == 0)
		return;
	qsort(p->spans, p->nspans, sizeof(*p->spans), span_cmp);
	for (i = 0; i < p->nspans; i++) {
		s = &p->spans[i];
		if (k > 0 && s->off == p->spans[k - 1].off &&
		    s->end == p->spans[k - 1].end &&
		    s->link == p->spans[k - 1].link)
			continue;
		if (s->off < maxend) {
			/* both dropped, and the one it overlaps */
			if (k > 0 && p->spans[k - 1].end > s->off)
				k--;
			if (s->end > maxend)
				maxend = s->end;
			continue;
		}
		maxend = s->end;
		if (s->link == -2) {
			for (lo = 0, hi = p->nlinks; lo < hi; ) {
				mid = lo + (hi - lo) / 2;
				if (p->links[mid].off < s->off)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == p->nlinks || p->links[lo].off != s->off ||
			    p->links[lo].end != s->end)
				continue;
			s->link = lo;
		}
		p->spans[k++] = *s;
	}
	p->nspans = k;
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
	rv = plan_walk(p, &lcap, out->document, html, len, legacy, 0, 0);
	p->pixel_off = pixel_offset(out, &opts, html, len);
	gumbo_destroy_output(&opts, out);
	if (len <= ARENA_DOC_MAX)
		arena_reset();
	if (rv == -1) {
		html_plan_free(p);
		return (NULL);
	}
	plan_sort(p);
	plan_imgs_sort(p);
	plan_spans_sort(p);
	return (p);
}

static void
plan_unref(void *p)
{
	html_plan_free(p);
}

/*
 * The URL of a link whose href is v (n bytes, the inside of its quotes
 * q, if any) as gumbo decodes it in the document: from a document of
 * that one link, which the tokenizer reads in the same states.  NULL if
 * it is not one to track (tracked_url, link_charset_bad).
 */
static char *
link_reread(const char *v, size_t n, char q, int legacy)
{
	GumboOptions		 opts;
	GumboOutput		*out;
	const GumboNode		*k;
	const GumboVector	*kids;
	const GumboAttribute	*a;
	char			*doc, *url = NULL;
	size_t			 dlen = 0, i;

	if (n > ARENA_DOC_MAX - 12 || (doc = malloc(n + 12)) == NULL)
		return (NULL);
	memcpy(doc, "<a href=", 8);
	dlen = 8;
	if (q != '\0')
		doc[dlen++] = q;
	memcpy(doc + dlen, v, n);
	dlen += n;
	if (q != '\0')
		doc[dlen++] = q;
	doc[dlen++] = '>';
	opts = kGumboDefaultOptions;
	opts.max_errors = 0;
	opts.allocator = arena_alloc;
	opts.deallocator = arena_free;
	if ((out = gumbo_parse_with_options(&opts, doc, dlen)) != NULL &&
	    out->root->type == GUMBO_NODE_ELEMENT) {
		kids = &out->root->v.element.children;
		for (i = 0; i < kids->length; i++) {
			k = kids->data[i];
			if (k->type != GUMBO_NODE_ELEMENT ||
			    k->v.element.tag != GUMBO_TAG_BODY ||
			    k->v.element.children.length != 1)
				continue;
			k = k->v.element.children.data[0];
			if (k->type == GUMBO_NODE_ELEMENT &&
			    k->v.element.tag == GUMBO_TAG_A &&
			    (a = gumbo_get_attribute(&k->v.element.attributes,
			    "href")) != NULL)
				url = tracked_url(v, n, a->value);
		}
	}
	if (out != NULL)
		gumbo_destroy_output(&opts, out);
	arena_reset();
	free(doc);
	if (url != NULL && link_charset_bad(v, n, url, legacy)) {
		free(url);
		url = NULL;
	}
	return (url);
}

static int
is_alnum(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'));
}

/* how many bytes x and y have in common at their start, n at most */
static size_t
same_prefix(const char *x, const char *y, size_t n)
{
	size_t	 k = 0;

	while (n - k >= 64 && memcmp(x + k, y + k, 64) == 0)
		k += 64;
	while (k < n && x[k] == y[k])
		k++;
	return (k);
}

/* a run of letters and digits [off, end) of one document, now [noff, nend) */
struct html_edit {
	size_t		 off, end;
	size_t		 noff, nend;
};

/* positions in increasing order from one document to the other */
struct shifter {
	const struct html_edit	*ed;
	size_t			 ned, i;
	size_t			 add, sub;
};

/* where x (in no edit) is in the other document */
static size_t
shift(struct shifter *sh, size_t x)
{
	const struct html_edit	*e;

	while (sh->i < sh->ned && (e = &sh->ed[sh->i])->end <= x) {
		sh->add += e->nend - e->noff;
		sh->sub += e->end - e->off;
		sh->i++;
	}
	return (x + sh->add - sh->sub);
}

/*
 * The edits that make html (len bytes) of old (olen bytes, base's
 * document): runs of letters and digits only, each in a span of base,
 * and not after '&' or '#' (where a character reference would take it
 * in).  The tokenizer reads such a run in the
 * same state whatever its letters and digits (text, or an attribute's
 * value), and the tree builder does the same for every character that
 * is neither white space nor NUL: the parser builds the same tree from
 * both documents, and only what is in the runs differs.  -1 if html is
 * not so; *changed[i] set for each tracked link i with an edit.
 */
static int
plan_edits(const struct html_plan *base, const char *old, size_t olen,
    const char *html, size_t len, struct html_edit **edp, size_t *nedp,
    char *changed)
{
	struct html_edit	*ed = NULL, *ne;
	size_t			 ned = 0, cap = 0, i = 0, j = 0, s = 0, k;
	size_t			 a, b, ae, be;

	for (;;) {
		k = same_prefix(old + i, html + j, olen - i < len - j ?
		    olen - i : len - j);
		if (i + k == olen && j + k == len)
			break;
		a = i + k;
		b = j + k;
		while (a > i && is_alnum(old[a - 1])) {
			a--;
			b--;
		}
		for (ae = a; ae < olen && is_alnum(old[ae]); ae++)
			;
		for (be = b; be < len && is_alnum(html[be]); be++)
			;
		if (ae == a || be == b || (a > 0 && (old[a - 1] == '&' ||
		    old[a - 1] == '#')))
			goto fail;
		while (s < base->nspans && base->spans[s].end < ae)
			s++;
		if (s == base->nspans || base->spans[s].off > a)
			goto fail;
		if (base->spans[s].link >= 0)
			changed[base->spans[s].link] = 1;
		if (ned == cap) {
			cap = cap ? cap * 2 : 16;
			if ((ne = reallocarray(ed, cap, sizeof(*ne))) == NULL)
				goto fail;
			ed = ne;
		}
		ed[ned].off = a;
		ed[ned].end = ae;
		ed[ned].noff = b;
		ed[ned].nend = be;
		ned++;
		i = ae;
		j = be;
	}
	*edp = ed;
	*nedp = ned;
	return (0);
 fail:
	free(ed);
	return (-1);
}

/*
 * The plan of html from base's, made for old, if html differs from old
 * only as plan_edits allows: base's links, spans and pixel moved by the
 * edits before them, and the URL of a link with an edit read again.
 * NULL if html is not so, if a changed link is no longer one to track,
 * or if memory ran out: then html is parsed.
 */
static struct html_plan *
plan_derive(const struct html_plan *base, const char *old, size_t olen,
    const char *html, size_t len, int legacy)
{
	struct html_plan	*p;
	struct html_edit	*ed = NULL;
	struct shifter		 sh;
	struct html_link	*l;
	char			*changed, q;
	size_t			 ned, i;

	if ((changed = calloc(base->nlinks + 1, 1)) == NULL)
		return (NULL);
	if (plan_edits(base, old, olen, html, len, &ed, &ned, changed) ==
	    -1 || (p = calloc(1, sizeof(*p))) == NULL) {
		free(ed);
		free(changed);
		return (NULL);
	}
	p->refs = 1;
	if ((base->nlinks > 0 && (p->links = reallocarray(NULL,
	    base->nlinks, sizeof(*p->links))) == NULL) ||
	    (base->nspans > 0 && (p->spans = reallocarray(NULL,
	    base->nspans, sizeof(*p->spans))) == NULL) ||
	    (base->nimgs > 0 && (p->imgs = reallocarray(NULL,
	    base->nimgs, sizeof(*p->imgs))) == NULL))
		goto fail;
	memset(&sh, 0, sizeof(sh));
	sh.ed = ed;
	sh.ned = ned;
	p->imgcap = base->nimgs;
	for (i = 0; i < base->nimgs; i++) {
		p->imgs[i].off = shift(&sh, base->imgs[i].off);
		p->imgs[i].end = shift(&sh, base->imgs[i].end);
		if ((p->imgs[i].url = strdup(base->imgs[i].url)) == NULL)
			goto fail;
		p->nimgs++;
	}
	memset(&sh, 0, sizeof(sh));
	sh.ed = ed;
	sh.ned = ned;
	for (i = 0; i < base->nlinks; i++) {
		l = &p->links[i];
		l->off = shift(&sh, base->links[i].off);
		l->end = shift(&sh, base->links[i].end);
		l->comment = base->links[i].comment;
		if (!changed[i])
			l->url = strdup(base->links[i].url);
		else {
			q = l->off > 0 && (html[l->off - 1] == '"' ||
			    html[l->off - 1] == '\'') ? html[l->off - 1] : '\0';
			l->url = link_reread(html + l->off, l->end - l->off, q,
			    legacy);
		}
		if (l->url == NULL)
			goto fail;
		p->nlinks++;
	}
	memset(&sh, 0, sizeof(sh));
	sh.ed = ed;
	sh.ned = ned;
	for (i = 0; i < base->nspans; i++) {
		p->spans[i] = base->spans[i];
		p->spans[i].off = shift(&sh, base->spans[i].off);
		p->spans[i].end = shift(&sh, base->spans[i].end);
	}
	p->nspans = p->spancap = base->nspans;
	memset(&sh, 0, sizeof(sh));
	sh.ed = ed;
	sh.ned = ned;
	p->pixel_off = base->pixel_off == HTML_PIXEL_NONE ? HTML_PIXEL_NONE :
	    shift(&sh, base->pixel_off);
	free(ed);
	free(changed);
	return (p);
 fail:
	free(ed);
	free(changed);
	html_plan_free(p);
	return (NULL);
}

/* the plan of html from a kept document's that it differs little from */
static struct html_plan *
plan_like_kept(const char *html, size_t len, int legacy)
{
	const struct kept_slot	*s;
	struct html_plan	*p;
	size_t			 i, k2len = legacy ? 6 : 0;

	for (i = 0; i < sizeof(plan_slots) / sizeof(plan_slots[0]); i++) {
		s = &plan_slots[i];
		if (s->key == NULL)
			break;
		if (s->len - s->len1 != k2len)
			continue;
		if ((p = plan_derive(s->val, s->key, s->len1, html, len,
		    legacy)) != NULL)
			return (p);
	}
	return (NULL);
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
	if ((p = plan_like_kept(html, len, legacy)) != NULL)
		plans_derived++;
	else if ((p = plan_parse(html, len, legacy)) != NULL)
		plans_parsed++;
	if (p != NULL && kept_add(&plans, html, len, k2, k2len, p) == 0)
		p->refs++;
	return (p);
}

void
html_plan_counts(unsigned long *parsed, unsigned long *derived)
{
	*parsed = plans_parsed;
	*derived = plans_derived;
}

void
html_plan_forget(void)
{
	kept_clear(&plans);
}

void
html_plan_free(struct html_plan *p)
{
	size_t	 i;

	if (p == NULL || --p->refs > 0)
		return;
	for (i = 0; i < p->nlinks; i++)
		free(p->links[i].url);
	for (i = 0; i < p->nimgs; i++)
		free(p->imgs[i].url);
	free(p->links);
	free(p->imgs);
	free(p->spans);
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
    const char *pixel_url, html_link_fn fn, html_img_fn img, void *arg,
    size_t *outlen)
{
	FILE	*o;
	char	*buf = NULL, *url;
	size_t	 at = 0, i = 0, j = 0, cut, io;
	int	 pixel = pixel_url != NULL;

	if ((o = open_memstream(&buf, outlen)) == NULL)
		return (NULL);
	for (;;) {
		cut = i < p->nlinks && fn != NULL ? p->links[i].off : len;
		io = j < p->nimgs && img != NULL ? p->imgs[j].off : len;
		if (io < cut)
			cut = io;
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
		if (cut < at) {		/* in an image dropped: none */
			if (io == cut)
				j++;
			else
				i++;
			continue;
		}
		fwrite(html + at, 1, cut - at, o);
		at = cut;
		if (cut == len)
			break;
		if (io == cut) {
			if (img(arg, p->imgs[j].url))
				at = p->imgs[j].end;
			j++;
			continue;
		}
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

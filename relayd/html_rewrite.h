/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Tracking rewrite of one HTML document, in place: the http(s) links of
 * <a> and <area> point at a tracking URL and an open pixel goes before
 * </body>.  The document is parsed once (gumbo, with source positions)
 * into a plan; the plan is applied once per recipient with that
 * recipient's URLs.  Every byte outside the rewritten href values, the
 * inserted pixel and the <img> tags the caller drops (a tracked copy's
 * own pixel, html_img_fn) stays as it was.  A document equal to one of the
 * last few planned shares that plan, unparsed (a campaign's messages),
 * and one that differs from one of them only in letters and digits of
 * its text and its links gets that plan moved, unparsed (a personalised
 * campaign's); plans are for one thread only.
 */
#ifndef MH_HTML_REWRITE_H
#define MH_HTML_REWRITE_H

#include <stddef.h>
#include <stdint.h>

/*
 * larger: not planned.  gumbo's tree costs about 18 bytes of memory and
 * 0.15 us of relayd's loop a byte of HTML (a 10 MB part: 188 MB and
 * 1.45 s); 2 MiB is twenty times Gmail's clipping size, past any real
 * newsletter, and bounds a part at about 0.3 s and 40 MB.
 */
#define HTML_REWRITE_MAX	(2 * 1024 * 1024)

struct html_plan;

/*
 * The replacement for tracked link number idx (0-based, document order)
 * whose target is url (entities decoded, the controls and spaces around
 * it and the tabs and line breaks in it removed as a browser does, the
 * scheme in lower case): a malloc'd URL, or NULL to leave
 * that link alone.  comment: the link is inside a conditional comment,
 * where the URL must not hold "--" (it would end the comment).
 */
typedef char	*(*html_link_fn)(void *arg, size_t idx, const char *url,
		    int comment);

/*
 * An <img> whose src (read as a link's href is, html_link_fn) is url, a
 * URL with "/o/" in it (an open pixel's, perhaps a tracked copy's own
 * submitted again): 1 to drop the element's tag, 0 to keep it.
 */
typedef int	 (*html_img_fn)(void *arg, const char *url);

/*
 * legacy: the document's charset is neither UTF-8 nor US-ASCII (an
 * ASCII-compatible one: the caller leaves the others alone); a link
 * with 8-bit bytes, or with characters beyond ASCII in its query, is
 * then not tracked (gumbo reads UTF-8 only).  NULL if len is over
 * HTML_REWRITE_MAX or memory ran out.
 */
struct html_plan *html_plan_new(const char *html, size_t len, int legacy);
void		 html_plan_free(struct html_plan *);
/*
 * The charset a <meta charset> or <meta http-equiv="Content-Type"
 * content="...; charset=..."> in the first HTML_META_SCAN bytes names
 * (what a browser's prescan reads; WHATWG HTML 13.2.3.2), copied to cs
 * (NUL-terminated, at most cslen - 1 bytes); 0 if there is none or it
 * does not fit.
 */
#define HTML_META_SCAN	1024
int		 html_meta_charset(const char *html, size_t len, char *cs,
		    size_t cslen);
/*
 * Plans made by a parse, and those made from a kept document's plan (a
 * document that differs from it only in letters and digits of its text
 * and link values, as the copies of a personalised campaign do: not
 * parsed); html_plan_forget() drops the kept plans.
 */
void		 html_plan_counts(unsigned long *parsed,
		    unsigned long *derived);
void		 html_plan_forget(void);
size_t		 html_plan_nlinks(const struct html_plan *);
const char	*html_plan_url(const struct html_plan *, size_t idx);
/* where link idx's value is in the document: [*off, *end); -1 if none */
int		 html_plan_span(const struct html_plan *, size_t idx,
		    size_t *off, size_t *end);
/*
 * where the pixel goes, or HTML_PIXEL_NONE: the document ends inside a
 * tag, a comment or an element whose content is text, and has neither
 * </body> nor </html> (the pixel would not be an image there)
 */
#define HTML_PIXEL_NONE	SIZE_MAX
size_t		 html_plan_pixel_offset(const struct html_plan *);

/*
 * The rewritten document (malloc'd, *outlen bytes, NUL-terminated), or
 * NULL if memory ran out.  html and len must be what the plan was made
 * from.  pixel_url NULL: no pixel; fn NULL: links stay; img NULL:
 * images stay.
 */
char		*html_plan_apply(const struct html_plan *, const char *html,
		    size_t len, const char *pixel_url, html_link_fn fn,
		    html_img_fn img, void *arg, size_t *outlen);

#endif /* MH_HTML_REWRITE_H */

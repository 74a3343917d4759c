/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * A tracked link as a URI (RFC 3986), decided in one place for relayd,
 * which puts it in the click token at submission, and webd, which sends
 * it as the Location of the click's 302.
 */
#ifndef MH_URI_H
#define MH_URI_H

#include <stddef.h>

/*
 * url as a browser would follow it: the controls and spaces around it
 * and every tab and line break in it dropped (the WHATWG URL parser
 * removes them), every byte it percent-encodes wherever it stands
 * percent-encoded (RFC 3986 2.1): controls, space, DEL, the bytes of a
 * non-ASCII character (UTF-8, as an IRI's path and query become a URI:
 * RFC 3987 3.1), and " < >; but of an http(s) URL a backslash before
 * the query is a slash, as a browser reads it (WHATWG URL: it ends the
 * host too).  Every other byte stays as it is, a % that does not begin
 * a %XX too: a browser reads the result, as a Location, to the URL it
 * read the original as (it keeps ^ ` { | } and a lone % in the query,
 * encodes them itself in the path).  The authority (host, port,
 * userinfo) is left alone: one with a byte to encode (an IDN not
 * written as its A-labels) cannot be converted, and gives -1.
 * Otherwise the length of the result, as snprintf: at most len - 1
 * bytes and a NUL are written to out (len 0: none).
 */
int	 uri_encode(const char *url, char *out, size_t len);
/*
 * url as a browser's URL parser starts on it, in place: the controls
 * and spaces around it and every tab and line break in it removed; its
 * new length
 */
size_t	 uri_strip(char *url);

#endif /* MH_URI_H */

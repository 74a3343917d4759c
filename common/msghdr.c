/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The header fields the envelope keeps (msghdr.h).
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "addrguard.h"
#include "envelope.h"
#include "fileio.h"
#include "msghdr.h"
#include "sanitize.h"

void
msghdr_copy(char *dst, size_t dstlen, const char *value, size_t vlen)
{
	sanitize_text(dst, dstlen, value, vlen, SAN_HEADER);
}

int
msghdr_from_domain(const char *value, size_t vlen, char *out, size_t outlen)
{
	InternetAddressList	*list;
	InternetAddress		*ia;
	char			 raw[MSGHDR_FROM_MAX];
	const char		*addr, *at;
	int			 rv = -1;

	out[0] = '\0';
	msghdr_copy(raw, sizeof(raw), value, vlen);
	addr_unclose(raw);
	if (raw[0] == '\0' ||
	    (list = internet_address_list_parse(NULL, raw)) == NULL)
		return (-1);
	if (internet_address_list_length(list) > 0 &&
	    (ia = internet_address_list_get_address(list, 0)) != NULL &&
	    INTERNET_ADDRESS_IS_MAILBOX(ia) &&
	    (addr = internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia))) != NULL &&
	    (at = strrchr(addr, '@')) != NULL &&
	    strlcpy(out, at + 1, outlen) < outlen)
		rv = 0;
	g_object_unref(list);
	if (rv == -1)
		out[0] = '\0';
	return (rv);
}

int
msghdr_name_is(const char *name, size_t nlen, const char *want)
{
	size_t	 i, wlen = strlen(want);

	if (nlen < wlen || strncasecmp(name, want, wlen) != 0)
		return (0);
	for (i = wlen; i < nlen; i++)
		if (name[i] != ' ' && name[i] != '\t')
			return (0);
	return (1);
}

size_t
msghdr_walk(const char *buf, size_t len, msghdr_fn fn, void *arg)
{
	const char	*p, *end = buf + len, *line, *colon, *next, *nl;

	for (p = buf; p < end; p = next) {
		line = p;
		if (*p == '\r' || *p == '\n')
			return (p - buf);	/* end of the header section */
		/* the end of this field: a line not folded onto it */
		for (next = p;;) {
			if ((nl = memchr(next, '\n', end - next)) == NULL) {
				next = end;
				break;
			}
			next = nl + 1;
			if (next >= end || (*next != ' ' && *next != '\t'))
				break;
		}
		if ((colon = memchr(line, ':', next - line)) == NULL)
			continue;
		if (fn != NULL)
			fn(arg, line, colon - line, colon + 1,
			    next - colon - 1);
	}
	return (len);
}

void
msghdr_date(char *buf, size_t size, time_t t)
{
	static const char *days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec"
	};
	struct tm	 tm;
	time_t		 epoch = 0;

	/* a time gmtime cannot give, or past year 9999 (an envelope's
	 * "created" may say anything): the epoch, not a torn date */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900)
		gmtime_r(&epoch, &tm);
	snprintf(buf, size, "%s, %d %s %d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

ssize_t
msghdr_read_start(int fd, char *buf, size_t size)
{
	/* one read: a regular file's is short only at its end */
	return (pread_eintr(fd, buf, size, 0));
}

static void
subject(struct envelope *env, const char *v, size_t vlen)
{
	char	 raw[2048];
	char	*dec;

	/* its raw 8-bit bytes as they are: GMime reads a charset that is
	 * not UTF-8 (Latin-1...) as its own, and gives UTF-8 */
	sanitize_text(raw, sizeof(raw), v, vlen,
	    (SAN_HEADER & ~SAN_UTF8) | SAN_8BIT);
	dec = g_mime_utils_header_decode_text(NULL, raw);
	/* an encoded-word's CR LF (=0D=0A): a space, as in the payloads */
	sanitize_text(env->subject, sizeof(env->subject), dec ? dec : raw,
	    strlen(dec ? dec : raw),
	    (SAN_HEADER & ~SAN_UNFOLD) | SAN_BREAKSPACE);
	g_free(dec);
}

int
msghdr_envelope(struct envelope *env, const char *name, size_t nlen,
    const char *v, size_t vlen)
{
	char	 tmp[256], *p;

	if (nlen == strlen("message-id") &&
	    strncasecmp(name, "message-id", nlen) == 0) {
		if (env->message_id[0] == '\0') {
			/*
			 * UTF-8 as every string of an event and a history
			 * record (JSON) is: a raw byte of another charset '?'
			 */
			sanitize_text(tmp, sizeof(tmp), v, vlen,
			    SAN_HEADER);
			p = tmp + (tmp[0] == '<');
			p[strcspn(p, ">")] = '\0';
			strlcpy(env->message_id, p, sizeof(env->message_id));
		}
		return (1);
	}
	if (nlen == strlen("subject") &&
	    strncasecmp(name, "subject", nlen) == 0) {
		if (env->subject[0] == '\0')
			subject(env, v, vlen);
		return (1);
	}
	return (0);
}

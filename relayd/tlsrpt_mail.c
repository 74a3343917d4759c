/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * TLS-RPT reports by mail (RFC 8460 5.3): a multipart/report
 * (report-type=tlsrpt) with a text part and the gzip'd JSON as an
 * application/tlsrpt+gzip attachment, built with GMime and queued in
 * relayd's own outbound queue like a DSN (bounce.c): committed (fsync)
 * before it is scheduled, from the null sender so that a report that
 * cannot be delivered makes no bounce.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "fileio.h"
#include "log.h"
#include "relayd.h"

/*
 * The address of "mailto:ADDR[?hfields]": a dot-atom local part and a
 * host name, nothing a header or the envelope could trip on; -1 if not.
 */
int
tlsrpt_mailto(const char *rua, char *addr, size_t len)
{
	static const char	 local[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    ".!#$&'*+/=^_`{|}~-";
	const char		*at, *dom;
	size_t			 n = strcspn(rua, "?"), i;

	if (n == 0 || n >= len || n >= MH_ADDR_MAX)
		return (-1);
	memcpy(addr, rua, n);
	addr[n] = '\0';
	if ((at = strrchr(addr, '@')) == NULL || at == addr)
		return (-1);
	for (i = 0; addr + i < at; i++)
		if (strchr(local, addr[i]) == NULL || (addr[i] == '.' &&
		    (i == 0 || addr[i - 1] == '.' || addr + i + 1 == at)))
			return (-1);
	dom = at + 1;
	if (*dom == '\0' || *dom == '.' || *dom == '-' ||
	    strstr(dom, "..") != NULL ||
	    strspn(dom, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != strlen(dom))
		return (-1);
	return (0);
}

static GMimeObject *
rpt_text_part(const char *domain, time_t start, time_t end)
{
	GMimeTextPart	*tp = g_mime_text_part_new_with_subtype("plain");
	char		*text, s[32], e[32];

	strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S UTC", gmtime(&start));
	strftime(e, sizeof(e), "%Y-%m-%d %H:%M:%S UTC", gmtime(&end));
	if (asprintf(&text, "This is an aggregate TLS report (RFC 8460) of "
	    "the SMTP sessions of %s to the mail servers of %s, from %s to "
	    "%s.\n", relay_conf->hostname[0] ? relay_conf->hostname :
	    "localhost", domain, s, e) == -1)
		fatal("asprintf");
	g_mime_text_part_set_text(tp, text);
	free(text);
	return (GMIME_OBJECT(tp));
}

/* RFC 8460 5.1: submitter!policy-domain!begin!end!unique-id.json.gz */
static GMimeObject *
rpt_gz_part(const char *domain, const char *msgid, time_t start, time_t end,
    const u_char *gz, size_t zlen)
{
	GMimePart		*p = g_mime_part_new_with_type("application",
				    "tlsrpt+gzip");
	GMimeStream		*st;
	GMimeDataWrapper	*w;
	char			 name[700];

	snprintf(name, sizeof(name), "%s!%s!%lld!%lld!%s.json.gz",
	    relay_conf->hostname[0] ? relay_conf->hostname : "localhost",
	    domain, (long long)start, (long long)end, msgid);
	st = g_mime_stream_mem_new_with_buffer((const char *)gz, zlen);
	w = g_mime_data_wrapper_new_with_stream(st,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_object_unref(st);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_mime_part_set_content_encoding(p, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_part_set_filename(p, name);
	return (GMIME_OBJECT(p));
}

/* the whole message, CRLF; the caller frees it (g_byte_array_free) */
static GByteArray *
rpt_message(const char *to, const char *domain, const char *id,
    const char *msgid, time_t start, time_t end, const u_char *gz,
    size_t zlen)
{
	const char		*host = relay_conf->hostname[0] ?
				    relay_conf->hostname : "localhost";
	GMimeMessage		*msg = g_mime_message_new(TRUE);
	GMimeMultipart		*mp = g_object_new(GMIME_TYPE_MULTIPART, NULL);
	GMimeContentType	*ct = g_mime_content_type_new("multipart",
				    "report");
	GMimeFormatOptions	*fo = g_mime_format_options_new();
	GMimeStream		*out = g_mime_stream_mem_new();
	GMimeObject		*part;
	GDateTime		*now = g_date_time_new_now_utc();
	GByteArray		*ba;
	char			 buf[1024];

	snprintf(buf, sizeof(buf), "noreply-tlsrpt@%s", host);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM,
	    "TLS reporting", buf);
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, to);
	snprintf(buf, sizeof(buf), "Report Domain: %s Submitter: %s "
	    "Report-ID: <%s>", domain, host, id);
	g_mime_message_set_subject(msg, buf, NULL);
	g_mime_message_set_date(msg, now);
	g_date_time_unref(now);
	snprintf(buf, sizeof(buf), "%s.tlsrpt@%s", msgid, host);
	g_mime_message_set_message_id(msg, buf);
	g_mime_object_append_header(GMIME_OBJECT(msg), "TLS-Report-Domain",
	    domain, NULL);
	g_mime_object_append_header(GMIME_OBJECT(msg), "TLS-Report-Submitter",
	    host, NULL);
	g_mime_object_append_header(GMIME_OBJECT(msg), "Auto-Submitted",
	    "auto-generated", NULL);
	/* not g_mime_multipart_new(): its boundary reads /dev/urandom */
	g_mime_content_type_set_parameter(ct, "report-type", "tlsrpt");
	g_mime_object_set_content_type(GMIME_OBJECT(mp), ct);
	g_object_unref(ct);
	snprintf(buf, sizeof(buf), "=_tlsrpt_%s", msgid);
	g_mime_multipart_set_boundary(mp, buf);
	part = rpt_text_part(domain, start, end);
	g_mime_multipart_add(mp, part);
	g_object_unref(part);
	part = rpt_gz_part(domain, msgid, start, end, gz, zlen);
	g_mime_multipart_add(mp, part);
	g_object_unref(part);
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(mp));
	g_object_unref(mp);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, out);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
	g_object_unref(out);
	return (ba);
}

int
tlsrpt_mail(const char *rua, const char *domain, const char *id,
    time_t start, time_t end, const u_char *gz, size_t zlen)
{
	char			 to[MH_ADDR_MAX], msgid[MH_MSGID_LEN];
	char			 la[LOG_ADDR_MAX];
	struct rmsg		*m;
	struct envelope_rcpt	*r;
	GByteArray		*ba;
	int			 fd;

	if (tlsrpt_mailto(rua, to, sizeof(to)) == -1) {
		log_warnx("tls-rpt: %s: rua mailto:%.64s is not an address",
		    domain, rua);
		return (-1);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("calloc");
	if ((fd = queue_open_incoming(msgid)) == -1) {
		free(m);
		log_warnx("tls-rpt: %s: cannot queue the report", domain);
		return (-1);
	}
	ba = rpt_message(to, domain, id, msgid, start, end, gz, zlen);
	envelope_init(&m->env);
	m->env.sender[0] = '\0';
	m->env.tlsrpt = 1;	/* mta.c: despite the domain's TLS policy */
	/* the recipient's destination is committed with it (bounce.c) */
	if ((r = envelope_add_rcpt(&m->env, to)) != NULL)
		r->dest = DEST_RELAY;
	if (r == NULL || write_all(fd, ba->data, ba->len) == -1 ||
	    file_cut(fd, (off_t)ba->len) == -1 ||
	    queue_commit(msgid, &m->env) == -1) {
		log_warnx("tls-rpt: %s: cannot queue the report", domain);
		g_byte_array_free(ba, TRUE);
		close(fd);
		envelope_clear(&m->env);
		queue_abort(msgid, 0);
		free(m);
		return (-1);
	}
	g_byte_array_free(ba, TRUE);
	close(fd);
	strlcpy(m->id, m->env.id, sizeof(m->id));
	log_info("msgid=%s report=tls-rpt domain=%s to=<%s> status=queued",
	    m->id, domain, log_addr(la, sizeof(la), to));
	sched_add_message(m, 1);
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Delivery status notifications (RFC 3464) for recipients that failed
 * for good: which of them want one (NOTIFY), and the DSN itself, queued
 * as a new message with the null sender.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "relayd.h"
#include "sanitize.h"

/* send a DSN for the recipients that just failed */
void
bounce_send(struct rmsg *m, const size_t *failed, const struct rres *res,
    size_t n)
{
	struct rmsg	*d;
	size_t		 i, k = 0;
	size_t		*f;
	struct rres	*r;
	char		 to[MH_ADDR_MAX];

	if (n == 0 || !relay_conf->bounce_dsn || m->env.sender[0] == '\0')
		return;
	f = calloc(n, sizeof(*f));
	r = calloc(n, sizeof(*r));
	if (f == NULL || r == NULL)
		fatal("calloc");
	for (i = 0; i < n; i++) {
		int notify = m->env.rcpts[failed[i]].notify;
		if (notify != 0 && (notify & DSN_NOTIFY_NEVER ||
		    !(notify & DSN_NOTIFY_FAILURE)))
			continue;
		f[k] = failed[i];
		r[k++] = res[i];
	}
	if (k > 0) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			fatal("calloc");
		if (bounce_queue(&m->env, f, k, r, &d->env) == -1) {
			log_warnx("msgid=%s report=dsn status=error (cannot "
			    "queue the DSN)", m->id);
			free(d);
		} else {
			strlcpy(d->id, d->env.id, sizeof(d->id));
			log_info("msgid=%s report=dsn orig_msgid=%s to=<%s> "
			    "status=queued", d->id, m->id, log_sanitize(to,
			    sizeof(to), m->env.sender));
			sched_add_message(d, 1);
		}
	}
	free(f);
	free(r);
}

/*
 * RFC 3464 delivery status notification for the failed recipients,
 * committed as a new message with the null sender.
 */
int
bounce_queue(const struct envelope *orig, const size_t *failed, size_t nfailed,
    const struct rres *res, struct envelope *out)
{
	struct envelope_rcpt	*to;
	char			 msgid[MH_MSGID_LEN], boundary[64], date[64];
	char			 hbuf[8192];
	char			(*desc)[sizeof(res->desc)];
	const char		*host;
	FILE			*fp;
	time_t			 now = time(NULL);
	size_t			 i, hlen = 0;
	ssize_t			 n;
	int			 fd, mfd, eightbit = 0;

	host = relay_conf->hostname[0] ? relay_conf->hostname : "localhost";
	if ((fd = queue_open_incoming(msgid)) == -1)
		return (-1);
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		queue_abort(msgid);
		return (-1);
	}
	/*
	 * A server's text as the report repeats it, in the text part and in
	 * the delivery-status part: US-ASCII, as RFC 3464 2.1.1 wants of the
	 * latter and the text part declares.  Made once for both.
	 */
	if ((desc = calloc(nfailed, sizeof(*desc))) == NULL)
		fatal("calloc");
	for (i = 0; i < nfailed; i++)
		sanitize_text(desc[i], sizeof(desc[i]), res[i].desc, SIZE_MAX,
		    SAN_CTLSPACE);
	/* the original's header section, for text/rfc822-headers */
	if ((mfd = queue_open_msg(orig->id)) != -1) {
		while (hlen < sizeof(hbuf) - 1 &&
		    (n = read(mfd, hbuf + hlen, sizeof(hbuf) - 1 - hlen)) > 0)
			hlen += n;
		close(mfd);
	}
	hbuf[hlen] = '\0';
	for (i = 0; i + 1 < hlen; i++)
		if (hbuf[i] == '\n' && (hbuf[i + 1] == '\n' ||
		    (hbuf[i + 1] == '\r' && i + 2 < hlen &&
		    hbuf[i + 2] == '\n'))) {
			hbuf[i + 1] = '\0';
			break;
		}
	/* an original's 8-bit header fields make the report 8-bit too */
	for (i = 0; hbuf[i] != '\0'; i++)
		if ((unsigned char)hbuf[i] >= 0x80)
			eightbit = 1;
	snprintf(boundary, sizeof(boundary), "%s=_dsn", msgid);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
	    gmtime(&now));
	fprintf(fp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n"
	    "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "Your message could not be delivered to these recipients:\r\n\r\n",
	    host, orig->sender, date, msgid, host, boundary, boundary);
	for (i = 0; i < nfailed; i++)
		fprintf(fp, "<%s>: %s\r\n", orig->rcpts[failed[i]].addr,
		    desc[i]);
	fprintf(fp, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\n", boundary, host);
	if (orig->dsn_envid[0] != '\0')
		fprintf(fp, "Original-Envelope-Id: %s\r\n", orig->dsn_envid);
	fprintf(fp, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < nfailed; i++) {
		const struct envelope_rcpt *r = &orig->rcpts[failed[i]];
		fprintf(fp, "\r\n");
		if (r->orcpt[0] != '\0')
			fprintf(fp, "Original-Recipient: %s\r\n", r->orcpt);
		fprintf(fp, "Final-Recipient: rfc822; %s\r\nAction: failed\r\n"
		    "Status: %s\r\n", r->addr,
		    res[i].ext[0] ? res[i].ext : "5.0.0");
		if (res[i].code >= 400)
			fprintf(fp, "Diagnostic-Code: smtp; %d %s\r\n",
			    res[i].code, desc[i]);
	}
	free(desc);
	fprintf(fp, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n%s"
	    "\r\n--%s--\r\n", boundary, hbuf, boundary);
	if (fflush(fp) == EOF || ferror(fp) ||
	    file_cut(fileno(fp), ftello(fp)) == -1) {
		fclose(fp);
		queue_abort(msgid);
		return (-1);
	}
	fclose(fp);
	envelope_init(out);
	out->sender[0] = '\0';
	out->body_8bit = eightbit;
	/* where the recipient goes is in the committed envelope: a restart
	 * before the delivery reads it from there */
	if ((to = envelope_add_rcpt(out, orig->sender)) != NULL)
		to->dest = DEST_RELAY;
	if (to == NULL || queue_commit(msgid, out) == -1) {
		envelope_clear(out);
		queue_abort(msgid);
		return (-1);
	}
	return (0);
}

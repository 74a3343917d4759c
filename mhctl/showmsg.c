/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mhctl show message ID, for people: the message, its recipients with
 * their last error, then its history one line per record, oldest first
 * (relayd's and hookd's records merged by time).  -j prints the same
 * JSON, sorted the same way.  --raw prints the message itself.
 */
#include <sys/types.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mhctl.h"
#include "sanitize.h"

static const char *
str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "");
}

static const char *
dash(const char *s)
{
	return (s[0] != '\0' ? s : "-");
}

static int
time_cmp(const void *a, const void *b)
{
	double	 x = json_number_value(json_object_get(*(json_t *const *)a,
		    "time"));
	double	 y = json_number_value(json_object_get(*(json_t *const *)b,
		    "time"));

	return (x < y ? -1 : x > y);
}

/* the history records of both processes in time order, in place */
void
message_sort(json_t *reply)
{
	json_t	*h = json_object_get(reply, "history"), **v, *out;
	size_t	 i, n;

	if (!json_is_array(h) || (n = json_array_size(h)) < 2)
		return;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_array_get(h, i);
	/* a stable order for equal times: relayd's came first */
	mergesort(v, n, sizeof(*v), time_cmp);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_object_set_new(reply, "history", out);
}

/* 2026-12-07T17:39:33.123Z, or "-" in as many columns */
static void
print_time(double t)
{
	char	 buf[32];

	if (utc_format(buf, sizeof(buf), t, "%Y-%m-%dT%H:%M:%S") == -1)
		printf("  %-24s  ", buf);
	else
		printf("  %s.%03dZ  ", buf,
		    (int)((t - (double)(time_t)t) * 1000) % 1000);
}

static void
print_reply(const json_t *r, const char *textkey)
{
	long long	 code = json_integer_value(json_object_get(r, "code"));
	const char	*text = str(r, textkey);

	if (code > 0 && text[0] != '\0')
		printf("  (%lld %s)", code, text);
	else if (code > 0)
		printf("  (%lld)", code);
	else if (text[0] != '\0')
		printf("  (%s)", text);
}

/* an inbound message's DKIM and DMARC verdicts, as hookd logs them */
static void
print_verdicts(const json_t *r)
{
	const json_t	*dkim = json_object_get(r, "dkim");
	const json_t	*sig;
	size_t		 i;

	if (json_is_array(dkim)) {
		printf(" dkim=%s", json_array_size(dkim) == 0 ? "none" : "");
		json_array_foreach(dkim, i, sig)
			printf("%s%s", i > 0 ? "," : "", dash(str(sig,
			    "result")));
	}
	if (json_is_object(json_object_get(r, "dmarc")))
		printf(" dmarc=%s",
		    dash(str(json_object_get(r, "dmarc"), "result")));
}

static void
print_record(const json_t *r)
{
	const char	*w = str(r, "what");
	const json_t	*tls = json_object_get(r, "tls");
	char		*s;

	print_time(json_number_value(json_object_get(r, "time")));
	if (strcmp(w, "accepted") == 0) {
		printf("%-9s  client=%s helo=%s tls=%s spf=%s auth=%s",
		    w, dash(str(r, "client")), dash(str(r, "helo")),
		    json_is_object(tls) ? dash(str(tls, "version")) : "none",
		    dash(str(json_object_get(r, "spf"), "result")),
		    dash(str(r, "auth")));
		print_verdicts(r);
	} else if (strcmp(w, "delivery") == 0) {
		printf("%-9s  %s  %s", str(r, "status"), str(r, "recipient"),
		    str(r, "relay"));
		print_reply(r, "reply");
	} else if (strcmp(w, "post") == 0) {
		printf("%-9s  %s  %s  %s", "post", str(r, "recipient"),
		    str(r, "url"), str(r, "result"));
		print_reply(r, str(r, "error")[0] != '\0' ? "error" : "reply");
		printf(" %lldms", json_integer_value(json_object_get(r,
		    "time_ms")));
	} else if (strcmp(w, "event") == 0) {
		printf("%-9s  %s  %s  %s", "event", str(r, "kind"),
		    dash(str(r, "event_id")), dash(str(r, "recipient")));
	} else if (strcmp(w, "event_post") == 0) {
		printf("%-9s  %s  %s  %s  %s  %s", "posted", str(r, "kind"),
		    dash(str(r, "event_id")), dash(str(r, "recipient")),
		    str(r, "url"), str(r, "result"));
		print_reply(r, "error");
	} else if (strcmp(w, "fallback") == 0 &&
	    str(r, "inbound_id")[0] != '\0') {
		printf("%-9s  from inbound %s (route %s) to %s", w,
		    str(r, "inbound_id"), dash(str(r, "route")),
		    str(r, "relay"));
	} else if (strcmp(w, "fallback") == 0) {
		printf("%-9s  %s  %s %s %s", w, str(r, "recipient"),
		    str(r, "smtp")[0] != '\0' ? "smtp, queued as" : "maildir",
		    str(r, "smtp")[0] != '\0' ? str(r, "smtp") :
		    str(r, "maildir"), str(r, "result"));
	} else if (strcmp(w, "replayed") == 0) {
		printf("%-9s  from the dead letters by %s, queued as %s", w,
		    str(r, "by"), str(r, "queued_as"));
	} else if (strcmp(w, "done") == 0) {
		printf("%-9s  left the queue", w);
	} else if (strcmp(w, "held") == 0 || strcmp(w, "released") == 0) {
		printf("%-9s  by %s", w, str(r, "by"));
	} else {
		s = json_dumps(r, JSON_COMPACT);
		printf("%-9s  %s", w, s ? s : "");
		free(s);
	}
	printf("\n");
}

int
print_message(json_t *reply)
{
	const json_t	*rcpts = json_object_get(reply, "recipients"), *r;
	const json_t	*h = json_object_get(reply, "history");
	static const char *keys[] = { "id", "queue", "state", "dead_reason",
			    "sender",
			    "route", "size", "message_id", "subject" };
	const char	*e;
	long long	 c;
	char		 buf[32];
	size_t		 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_get(reply, keys[i]) == NULL)
			continue;
		printf("%-11s ", keys[i]);
		if (json_is_string(json_object_get(reply, keys[i])))
			printf("%s\n", str(reply, keys[i]));
		else
			printf("%lld\n", json_integer_value(
			    json_object_get(reply, keys[i])));
	}
	if ((c = json_integer_value(json_object_get(reply, "created"))) > 0) {
		utc_format(buf, sizeof(buf), c, "%Y-%m-%dT%H:%M:%SZ");
		printf("%-11s %s\n", "created", buf);
	}
	if (json_array_size(rcpts) > 0)
		printf("recipients:\n");
	json_array_foreach(rcpts, i, r) {
		printf("  %-9s  %s", str(r, "state"), str(r, "address"));
		e = str(r, "last_error");
		if (e[0] != '\0')
			printf("  (%s)", e);
		/* its DSN not queued yet (a full disk): tried again */
		if (json_is_true(json_object_get(r, "dsn_owed")))
			printf("  [DSN owed]");
		printf("\n");
	}
	if (json_array_size(h) > 0)
		printf("history:\n");
	json_array_foreach(h, i, r)
		print_record(r);
	fflush(stdout);
	return (0);
}

/*
 * The bytes at p (n of them, more to come unless eof) to a terminal: a
 * C0 control but TAB, LF and CR as ^X (ESC as ^[), DEL as ^?, a C1
 * control, U+2028/U+2029 or a bidi control in UTF-8 as \uXXXX, a byte
 * of no valid UTF-8 sequence as \xNN.  Returns the bytes used: an
 * incomplete sequence at the end waits for the rest.
 */
static size_t
tty_write(const unsigned char *p, size_t n, int eof)
{
	size_t		 i = 0, len;
	unsigned int	 cp;

	while (i < n) {
		if (p[i] == '\t' || p[i] == '\n' || p[i] == '\r' ||
		    (p[i] >= 0x20 && p[i] < 0x7f)) {
			putchar(p[i++]);
			continue;
		}
		if (p[i] < 0x80) {
			printf("^%c", p[i] == 0x7f ? '?' : p[i] + 0x40);
			i++;
			continue;
		}
		if ((len = utf8_seq(p + i, n - i)) == 0 && n - i < 4 && !eof)
			break;
		if (len == 0) {
			printf("\\x%02x", p[i++]);
			continue;
		}
		if (utf8_ctl(p + i, len) || utf8_bidi(p + i, len)) {
			cp = len == 2 ? (p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f) :
			    (p[i] & 0x0f) << 12 | (p[i + 1] & 0x3f) << 6 |
			    (p[i + 2] & 0x3f);
			printf("\\u%04x", cp);
		} else
			fwrite(p + i, 1, len, stdout);
		i += len;
	}
	return (i);
}

/*
 * show message ID --raw: all of fd to stdout.  A pipe or a file gets the
 * message as it is ("> msg.eml" is the message, byte for byte).  A
 * terminal gets what would drive it made visible (tty_write): a message
 * from anyone on the Internet may hold escape sequences that recolour,
 * retitle or write the admin's clipboard (OSC 52).
 */
int
raw_out(int fd)
{
	unsigned char	 buf[65536];
	size_t		 have = 0, used;
	ssize_t		 n;
	int		 tty = isatty(STDOUT_FILENO);

	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += n;
		if (!tty) {
			if (fwrite(buf, 1, have, stdout) != have)
				err(1, "stdout");
			have = 0;
			continue;
		}
		used = tty_write(buf, have, 0);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (n == -1)
		err(1, "read the message");
	if (have > 0)
		(void)tty_write(buf, have, 1);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(1, "stdout");
	return (0);
}

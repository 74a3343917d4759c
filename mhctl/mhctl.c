/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mhctl: talk to mailhookd over its control socket.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "apikeys.h"
#include "ctlcmd.h"
#include "dkimkey.h"
#include "hex.h"
#include "mh_imsg.h"
#include "mailhook.h"
#include "metrics.h"
#include "mhctl.h"
#include "sanitize.h"

#define DKIM_KEY_DIR	MH_SYSCONFDIR "/dkim"
/*
 * How long mailhookd may stay silent: it answers every command within
 * 20 s (a process that has not answered, a reload not acknowledged, is
 * named in an error reply), so silence past this is a daemon that is
 * stopped or hung, which is said rather than waited for (not monitor's).
 */
#define ANSWER_WAIT_SECS	60

static int	show_reply(const json_t *, int);

/* a field of a reply as text: "-" if it is missing, empty or no string */
static const char *
str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL && s[0] != '\0' ? s : "-");
}

static void
usage(void)
{
	ctl_cmd_usage(stderr);
	exit(1);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	sun;
	struct stat		st;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			errx(1, "%s: no control socket: is mailhookd running?",
			    path);
		err(1, "%s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		errx(1, "%s: not a socket (see -s and \"control\" in "
		    "mailhook.conf)", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ECONNREFUSED)
			errx(1, "%s: connection refused: is mailhookd running?",
			    path);
		if (errno == EACCES)
			errx(1, "%s: permission denied: only root may connect, "
			    "and the members of the \"control group\" of "
			    "mailhook.conf", path);
		err(1, "connect %s", path);
	}
	return (fd);
}

/* a list as text: its strings comma separated, "(none)", else JSON */
static char *
human_list(const json_t *a)
{
	const json_t	*e;
	char		*s = NULL, *t;
	size_t		 i;

	if (json_array_size(a) == 0)
		return (strdup("(none)"));
	json_array_foreach(a, i, e)
		if (!json_is_string(e))
			return (json_dumps(a, JSON_COMPACT));
	json_array_foreach(a, i, e) {
		if (asprintf(&t, "%s%s%s", s ? s : "", s ? ", " : "",
		    json_string_value(e)) == -1)
			err(1, "list");
		free(s);
		s = t;
	}
	return (s);
}

/*
 * A value as a person reads it: a string as it is, nothing (null, "") as
 * "-", a list by human_list(), anything else as JSON.
 */
static char *
human_text(const json_t *v)
{
	char	*s;

	if (v == NULL || json_is_null(v) ||
	    (json_is_string(v) && json_string_length(v) == 0))
		s = strdup("-");
	else if (json_is_string(v))
		s = strdup(json_string_value(v));
	else if (json_is_array(v))
		s = human_list(v);
	else
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		err(1, "value");
	return (s);
}

static void
print_scalar(const json_t *v)
{
	char	*s = human_text(v);

	printf("%s", s);
	free(s);
}

/*
 * An array of objects as a table, columns from the first object, each as
 * wide as its widest cell, two spaces apart.
 */
static void
print_table(const json_t *a)
{
	const json_t	*row, *first = json_array_get(a, 0);
	const char	*key;
	json_t		*v;
	char		**cell;
	size_t		 i, c, ncols = json_object_size(first);
	size_t		 nrows = json_array_size(a), *width;
	int		 last;

	if (ncols == 0 || nrows == 0)
		return;
	if ((width = calloc(ncols, sizeof(*width))) == NULL ||
	    (cell = calloc(ncols * nrows, sizeof(*cell))) == NULL)
		err(1, "table");
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		width[c] = strlen(key);
		json_array_foreach(a, i, row) {
			cell[i * ncols + c] = human_text(json_object_get(row,
			    key));
			if (strlen(cell[i * ncols + c]) > width[c])
				width[c] = strlen(cell[i * ncols + c]);
		}
		c++;
	}
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		last = ++c == ncols;
		printf("%-*s%s", last ? 0 : (int)width[c - 1], key,
		    last ? "\n" : "  ");
	}
	for (i = 0; i < nrows; i++)
		for (c = 0; c < ncols; c++) {
			last = c + 1 == ncols;
			printf("%-*s%s", last ? 0 : (int)width[c],
			    cell[i * ncols + c], last ? "\n" : "  ");
			free(cell[i * ncols + c]);
		}
	free(cell);
	free(width);
}

static void
print_human(const json_t *v, int depth)
{
	const char	*key;
	json_t		*val;
	size_t		 i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, val) {
			printf("%*s%s:", depth * 2, "", key);
			if (json_is_array(val) && json_array_size(val) > 0 &&
			    json_is_object(json_array_get(val, 0))) {
				printf("\n");
				print_table(val);
			} else if (json_is_object(val)) {
				printf("\n");
				print_human(val, depth + 1);
			} else {
				printf(" ");
				print_scalar(val);
				printf("\n");
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			print_human(val, depth);
		}
	} else {
		print_scalar(v);
		printf("\n");
	}
}

/* the records of "dkim show", one per line, ready for a zone file */
static int
dkim_records(const json_t *reply)
{
	const json_t	*a = json_object_get(reply, "dkim"), *k;
	size_t		 i;
	int		 rc = 0;

	json_array_foreach(a, i, k) {
		if (json_is_string(json_object_get(k, "record")))
			printf("%s\n", json_string_value(json_object_get(k,
			    "record")));
		else {
			fprintf(stderr, "mhctl: %s selector %s: %s\n",
			    str(k, "domain"), str(k, "selector"),
			    json_is_string(json_object_get(k, "error")) ?
			    str(k, "error") : "no record in the reply");
			rc = 1;
		}
	}
	return (rc);
}

/*
 * The key file as the dkim line names it: mailhook.conf takes an absolute
 * path alone (parse_copypath), so a relative FILE is taken from the current
 * directory; one that the line's quotes cannot hold is refused.
 */
static void
keygen_path(const char *file, char *path, size_t len)
{
	char	 cwd[MH_PATH_MAX];
	size_t	 i;
	int	 n;

	if (file[0] == '/')
		n = snprintf(path, len, "%s", file);
	else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			err(1, "dkim keygen: current directory");
		n = snprintf(path, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" :
		    cwd, file);
	}
	if (n < 0 || (size_t)n >= len)
		errx(1, "dkim keygen: %s: path too long (at most %zu bytes)",
		    file, len - 1);
	for (i = 0; path[i] != '\0'; i++)
		if (path[i] == '"' || path[i] == '\\' ||
		    (unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			errx(1, "dkim keygen: %s: a path mailhook.conf cannot "
			    "quote", file);
}

/*
 * dkim keygen DOMAIN SELECTOR [rsa|ed25519] [FILE]: a new private key,
 * mode 0600 and owned by root, never overwriting a file; prints the
 * config line and the DNS record to publish.
 */
static int
dkim_keygen(int argc, char *argv[], int jflag)
{
	char		 path[MH_PATH_MAX], *txt, *line;
	const char	*domain, *sel, *file;
	EVP_PKEY	*k;
	FILE		*fp;
	json_t		*j;
	int		 type = DKIMKEY_RSA, fd;

	if (argc < 4 || argc > 6)
		usage();
	domain = argv[2];
	sel = argv[3];
	if (config_check_domain(domain) == -1 || strchr(domain, '"'))
		errx(1, "dkim keygen: bad domain \"%s\"", domain);
	if (config_check_selector(sel) == -1)
		errx(1, "dkim keygen: bad selector \"%s\"", sel);
	if (argc > 4 && strcmp(argv[4], "ed25519") == 0)
		type = DKIMKEY_ED25519;
	else if (argc > 4 && strcmp(argv[4], "rsa") != 0) {
		/* a FILE without the type before it, a misspelt type */
		fprintf(stderr, "mhctl: dkim keygen: unknown key type \"%s\" "
		    "(rsa or ed25519; it comes before FILE)\n", argv[4]);
		ctl_cmd_usage_one(ctl_cmd_lookup(argc,
		    (const char *const *)argv), stderr);
		exit(1);
	}
	/* before anything is made, the default directory too */
	if (geteuid() != 0)
		errx(1, "dkim keygen: must be run as root (the key is root's)");
	if (argc > 5) {
		keygen_path(argv[5], path, sizeof(path));
		file = path;
	} else {
		if (mkdir(DKIM_KEY_DIR, 0700) == -1 && errno != EEXIST)
			err(1, "mkdir %s", DKIM_KEY_DIR);
		snprintf(path, sizeof(path), "%s/%s.%s.key", DKIM_KEY_DIR,
		    sel, domain);
		file = path;
	}
	/* -j prints the path as a JSON string, which only UTF-8 can be */
	if (jflag) {
		if ((j = json_string(file)) == NULL)
			errx(1, "dkim keygen: %s: not UTF-8, which -j cannot "
			    "print: no key made", file);
		json_decref(j);
	}
	if ((k = dkimkey_generate(type, DKIMKEY_RSA_MIN)) == NULL)
		errx(1, "cannot generate the key");
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		err(1, "%s", file);
	if (fchown(fd, 0, 0) == -1 || fchmod(fd, 0600) == -1)
		err(1, "%s", file);
	if ((fp = fdopen(fd, "w")) == NULL ||
	    PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(fp) == EOF || fsync(fd) == -1 || fclose(fp) == EOF) {
		unlink(file);
		errx(1, "%s: cannot write the key", file);
	}
	if ((txt = dkimkey_txt(k, sel, domain)) == NULL ||
	    asprintf(&line, "dkim domain \"%s\" selector \"%s\" key \"%s\"",
	    domain, sel, file) == -1)
		errx(1, "out of memory");
	EVP_PKEY_free(k);
	if (jflag) {
		if ((j = json_pack("{s:s,s:s,s:s,s:s}", "file", file, "type",
		    dkimkey_type_name(type), "config", line, "record", txt)) ==
		    NULL)
			errx(1, "%s: made, but cannot be printed as JSON",
			    file);
		show_reply(j, 1);
		json_decref(j);
	} else
		printf("key: %s\nconfig: %s\ndns: %s\n", file, line, txt);
	free(txt);
	free(line);
	return (0);
}

/*
 * api keygen NAME [DOMAIN...]: a new API key, printed once, and the line
 * of the "api keys" file that lets it in (only its SHA-256 is kept).
 */
static int
api_keygen(int argc, char *argv[], int jflag)
{
	unsigned char	 raw[32], hash[SHA256_DIGEST_LENGTH];
	char		 key[8 + 2 * sizeof(raw) + 1];
	char		 hex[2 * SHA256_DIGEST_LENGTH + 1], *line, *doms = NULL;
	const char	*name = argv[2];
	size_t		 i;
	json_t		*j;

	if (*name == '\0' || strlen(name) >= APIKEY_NAME || strspn(name,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(name))
		errx(1, "api keygen: NAME: letters, digits, '.', '_', '-'");
	for (i = 3; i < (size_t)argc; i++) {
		if (config_check_domain(argv[i]) == -1)
			errx(1, "api keygen: %s: not a domain", argv[i]);
		if (asprintf(&line, "%s%s%s", doms ? doms : "", doms ? "," : "",
		    argv[i]) == -1)
			errx(1, "out of memory");
		free(doms);
		doms = line;
	}
	arc4random_buf(raw, sizeof(raw));
	strlcpy(key, "mhk_", sizeof(key));
	mh_hex(key + 4, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	SHA256((unsigned char *)key, strlen(key), hash);
	mh_hex(hex, hash, sizeof(hash));
	if (asprintf(&line, "%s:%s%s%s", name, hex, doms ? ":" : "",
	    doms ? doms : "") == -1)
		errx(1, "out of memory");
	if (jflag) {
		j = json_pack("{s:s,s:s,s:s}", "name", name, "key", key,
		    "line", line);
		show_reply(j, 1);
		json_decref(j);
	} else
		printf("key: %s\n(shown only now: mailhook keeps its "
		    "SHA-256)\nadd to the api keys file:\n%s\n", key, line);
	explicit_bzero(key, sizeof(key));
	free(line);
	free(doms);
	return (0);
}

/*
 * t, seconds since the epoch, as fmt in UTC; "-" for a time a reply
 * may hold that no calendar date is (before 1970, from the year 10000,
 * past time_t): -1 then, else 0.
 */
int
utc_format(char *buf, size_t len, double t, const char *fmt)
{
	struct tm	 tm;
	time_t		 s;

	if (t >= 0 && t < 253402300800.0) {
		s = (time_t)t;
		if (gmtime_r(&s, &tm) != NULL &&
		    strftime(buf, len, fmt, &tm) > 0)
			return (0);
	}
	snprintf(buf, len, "-");
	return (-1);
}

/* 42s, 5m, 3h, 2d */
static void
human_age(char *buf, size_t len, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, len, "%llds", secs);
	else if (secs < 7200)
		snprintf(buf, len, "%lldm", secs / 60);
	else if (secs < 172800)
		snprintf(buf, len, "%lldh", secs / 3600);
	else
		snprintf(buf, len, "%lldd", secs / 86400);
}

/* 812, 1.2K, 3.4M */
static void
human_size(char *buf, size_t len, long long n)
{
	if (n < 1024)
		snprintf(buf, len, "%lld", n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1fK", n / 1024.0);
	else
		snprintf(buf, len, "%.1fM", n / (1024.0 * 1024.0));
}

/* only the messages of one queue (-t inbound|outbound) */
static void
queue_filter(json_t *reply, const char *which)
{
	json_t		*q = json_object_get(reply, "queue"), *m;
	const char	*err, *other;
	size_t		 i;

	if (which == NULL || !json_is_array(q))
		return;
	/*
	 * what the other queue could not list is not this one's, nor the
	 * error of the process that keeps it (hookd inbound, relayd
	 * outbound: "hookd: ..." beside relayd's list)
	 */
	json_object_del(reply, strcmp(which, "inbound") == 0 ?
	    "outbound_unlisted" : "inbound_unlisted");
	other = strcmp(which, "inbound") == 0 ? "relayd: " : "hookd: ";
	err = json_string_value(json_object_get(reply, "error"));
	if (err != NULL && strncmp(err, other, strlen(other)) == 0)
		json_object_del(reply, "error");
	for (i = json_array_size(q); i > 0; i--) {
		m = json_array_get(q, i - 1);
		if (!json_is_string(json_object_get(m, "queue")) ||
		    strcmp(json_string_value(json_object_get(m, "queue")),
		    which) != 0)
			json_array_remove(q, i - 1);
	}
}

/* a message held by mhctl hold or its sender domain's allowance: why,
   until when */
static void
print_allowance(const json_t *m)
{
	const char	*h = json_string_value(json_object_get(m, "held"));
	char		 buf[32];

	if (h != NULL && strcmp(h, "mhctl") == 0)
		printf("%40s(held: mhctl hold, until mhctl release)\n", "");
	if (h == NULL || strcmp(h, "allowance") != 0)
		return;
	utc_format(buf, sizeof(buf), json_integer_value(json_object_get(m,
	    "held_until")), "%Y-%m-%dT%H:%M:%SZ");
	printf("%40s(held: sender domain allowance spent, until %s)\n", "",
	    buf);
}

/*
 * The line that says how many entries of a list are not listed: key
 * ("outbound_unlisted") their number, noun ("outbound message") what
 * they are.
 */
static long long
print_unlisted(const json_t *reply, const char *key, const char *noun)
{
	long long	 n;

	if ((n = json_integer_value(json_object_get(reply, key))) > 0)
		printf("-- and %lld %s%s not listed (more than one reply "
		    "carries)\n", n, noun, n == 1 ? "" : "s");
	return (n > 0 ? n : 0);
}

/*
 * show queue, mailq style: a line per message (id, queue, age, size,
 * sender), then one per recipient (state, address) with its last error;
 * then how many each queue could not list, and the error of a process
 * that did not give its list.
 */
static int
print_queue(const json_t *reply)
{
	const json_t	*q = json_object_get(reply, "queue"), *m, *r;
	const char	*s, *e, *err;
	char		 age[32], size[32];
	long long	 total = 0, now = time(NULL);
	size_t		 i, k;

	if (!json_is_array(q))
		return (show_reply(reply, 0));
	err = json_string_value(json_object_get(reply, "error"));
	if (err == NULL && json_object_get(reply, "error") != NULL)
		err = "malformed reply (its error is not text)";
	if (json_array_size(q) == 0) {
		if (print_unlisted(reply, "outbound_unlisted",
		    "outbound message") + print_unlisted(reply,
		    "inbound_unlisted", "inbound message") == 0 && err == NULL)
			printf("Mail queue is empty\n");
		goto done;
	}
	printf("%-16s %-8s %5s %6s  %s\n", "ID", "QUEUE", "AGE", "SIZE",
	    "SENDER / RECIPIENTS");
	json_array_foreach(q, i, m) {
		human_age(age, sizeof(age), now -
		    json_integer_value(json_object_get(m, "created")));
		total += json_integer_value(json_object_get(m, "size"));
		human_size(size, sizeof(size),
		    json_integer_value(json_object_get(m, "size")));
		s = json_string_value(json_object_get(m, "sender"));
		printf("%-16s %-8s %5s %6s  <%s>\n", str(m, "id"),
		    str(m, "queue"), age, size, s ? s : "");
		print_allowance(m);
		e = json_string_value(json_object_get(m, "error"));
		if (e != NULL)
			printf("%40s(error: %s)\n", "", e);
		json_array_foreach(json_object_get(m, "recipients"), k, r) {
			s = json_string_value(json_object_get(r, "address"));
			printf("%40s%-9s %s%s\n", "", str(r, "state"),
			    s ? s : "-",
			    json_is_true(json_object_get(r, "dsn_owed")) ?
			    "  [DSN owed]" : "");
			e = json_string_value(json_object_get(r, "last_error"));
			if (e != NULL && e[0] != '\0')
				printf("%50s(%s)\n", "", e);
		}
	}
	human_size(size, sizeof(size), total);
	printf("-- %zu message%s, %s in total\n", json_array_size(q),
	    json_array_size(q) == 1 ? "" : "s", size);
	print_unlisted(reply, "outbound_unlisted", "outbound message");
	print_unlisted(reply, "inbound_unlisted", "inbound message");
done:
	fflush(stdout);
	/* a queue that could not be listed: not "empty" */
	if (err != NULL)
		fprintf(stderr, "mhctl: %s\n", err);
	return (err != NULL);
}

/* show metrics: the text the metrics listener serves (Prometheus 0.0.4) */
static int
print_metrics(const json_t *reply)
{
	char	*text, err[128];
	size_t	 len;

	if ((text = metrics_render(json_object_get(reply, "metrics"), 0, &len,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "mhctl: show metrics: %s\n", err);
		return (1);
	}
	fwrite(text, 1, len, stdout);
	free(text);
	fflush(stdout);
	return (0);
}

/* an epoch time as an age ("-" for 0), or as time left ("now") */
static void
human_when(char *buf, size_t len, const json_t *v, int ahead)
{
	long long	t = json_integer_value(v), now = time(NULL);

	if (t <= 0)
		snprintf(buf, len, "-");
	else if (ahead && t <= now)
		snprintf(buf, len, "now");
	else
		human_age(buf, len, ahead ? t - now : now - t);
}

/*
 * show hooks: a line per event endpoint (id, backlog, oldest, last
 * status, next attempt, URL), its last error and what waits to be read
 * under it, then the routes' URLs; after each list, how many it could
 * not hold.
 */
static int
print_hooks(const json_t *reply)
{
	const json_t	*e, *rp;
	char		 old[32], next[32];
	size_t		 i;

	printf("%-16s %-8s %7s %6s %6s %6s  %s\n", "ENDPOINT", "FORMAT",
	    "BACKLOG", "OLDEST", "STATUS", "NEXT", "URL");
	json_array_foreach(json_object_get(reply, "endpoints"), i, e) {
		human_when(old, sizeof(old), json_object_get(e, "oldest"), 0);
		human_when(next, sizeof(next), json_object_get(e,
		    "next_attempt"), 1);
		printf("%-16s %-8s %7lld %6s %6lld %6s  %s%s%s\n", str(e, "id"),
		    str(e, "format"), json_integer_value(json_object_get(e,
		    "backlog")), old, json_integer_value(json_object_get(e,
		    "last_status")), next, str(e, "url"),
		    json_is_true(json_object_get(e, "disabled")) ?
		    " (disabled: 410)" : "",
		    json_is_false(json_object_get(e, "configured")) ?
		    " (removed)" : "");
		if (json_string_length(json_object_get(e, "last_error")) > 0)
			printf("%16s (%s, %lld attempts)\n", "",
			    str(e, "last_error"), json_integer_value(
			    json_object_get(e, "attempts")));
		if (json_integer_value(json_object_get(e,
		    "reads_deferred")) > 0)
			printf("%16s %lld read(s) of its files deferred (no "
			    "descriptor or memory left): read again\n", "",
			    json_integer_value(json_object_get(e,
			    "reads_deferred")));
		if (json_integer_value(json_object_get(e, "unread")) > 0)
			printf("%16s %lld file(s) of events not read yet "
			    "(not in the backlog): tried again\n", "",
			    json_integer_value(json_object_get(e, "unread")));
		if (json_is_true(json_object_get(e, "unlisted")))
			printf("%16s its directory not listed yet: the files "
			    "of its events there not read (not in the "
			    "backlog): tried again\n", "");
		if ((rp = json_object_get(e, "replay")) != NULL)
			printf("%16s replay since %lld: %lld queued\n", "",
			    json_integer_value(json_object_get(rp, "since")),
			    json_integer_value(json_object_get(rp, "queued")));
	}
	print_unlisted(reply, "endpoints_unlisted", "endpoint");
	printf("\n%-24s %-6s %7s %6s %6s  %s\n", "ROUTE", "MODE", "BACKLOG",
	    "OLDEST", "NEXT", "URL");
	json_array_foreach(json_object_get(reply, "routes"), i, e) {
		human_when(old, sizeof(old), json_object_get(e, "oldest"), 0);
		human_when(next, sizeof(next), json_object_get(e,
		    "next_attempt"), 1);
		printf("%-24s %-6s %7lld %6s %6s  %s\n", str(e, "route"),
		    str(e, "mode"), json_integer_value(json_object_get(e,
		    "backlog")), old, next, str(e, "url"));
		if (json_string_length(json_object_get(e, "last_error")) > 0)
			printf("%24s (%s)\n", "", str(e, "last_error"));
	}
	if ((e = json_object_get(reply, "routes_unreadable")) != NULL) {
		human_when(old, sizeof(old), json_object_get(e, "oldest"), 0);
		printf("%-24s %-6s %7lld %6s %6s  %s\n", "(unreadable)", "queue",
		    json_integer_value(json_object_get(e, "backlog")), old, "-",
		    "-");
		printf("%24s (%s)\n", "", "envelope unreadable, given up: "
		    "mhctl show queue");
	}
	print_unlisted(reply, "routes_unlisted", "route");
	fflush(stdout);
	return (0);
}

/* show dead: a line per dead letter, the total, how many not listed */
static int
print_dead(const json_t *reply)
{
	const json_t	*e;
	char		 age[32];
	size_t		 i;

	printf("%-36s %-7s %5s %-16s %-10s %-8s %s\n", "ID", "TYPE", "AGE",
	    "MSGID", "KIND", "REASON", "RECIPIENT / URL");
	json_array_foreach(json_object_get(reply, "dead"), i, e) {
		human_when(age, sizeof(age), json_object_get(e, "time"), 0);
		printf("%-36s %-7s %5s %-16s %-10s %-8s %s %s\n", str(e, "id"),
		    str(e, "type"), age, str(e, "msgid"), str(e, "kind"),
		    str(e, "reason"), str(e, "recipient"), str(e, "url"));
	}
	printf("-- %lld dead letter%s\n", json_integer_value(json_object_get(
	    reply, "total")), json_integer_value(json_object_get(reply,
	    "total")) == 1 ? "" : "s");
	print_unlisted(reply, "dead_unlisted", "dead letter");
	fflush(stdout);
	return (0);
}

/*
 * JSON text and a newline to stdout, the C1 controls (U+0080-U+009F, CSI
 * among them), U+2028/U+2029 and the bidi controls (U+202E...) as \u
 * escapes: jansson escapes only those below U+0020, and a peer's text
 * reaches the terminal, which they would drive or make show a line in
 * another order than it has.  Other UTF-8 as it is; jansson's text is
 * valid UTF-8, and a byte over 0x7f is in a string.
 */
static void
json_print(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 len, n = strlen(s);
	unsigned int		 cp;

	while (n > 0) {
		if (*p < 0x80 || (len = utf8_seq(p, n)) < 2) {
			putchar(*p++);
			n--;
			continue;
		}
		/* 4 bytes: past U+FFFF, none of those */
		cp = len == 2 ? (p[0] & 0x1f) << 6 | (p[1] & 0x3f) :
		    len == 3 ? (p[0] & 0x0f) << 12 | (p[1] & 0x3f) << 6 |
		    (p[2] & 0x3f) : 0x10000;
		if (utf8_ctl(p, len) || utf8_bidi(p, len))
			printf("\\u%04x", cp);
		else
			fwrite(p, 1, len, stdout);
		p += len;
		n -= len;
	}
	putchar('\n');
}

static int
show_reply(const json_t *reply, int jflag)
{
	char	*s;
	json_t	*e;

	if (jflag) {
		s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_print(s ? s : "null");
		free(s);
	} else if ((e = json_object_get(reply, "error")) != NULL &&
	    json_is_string(e))
		fprintf(stderr, "mhctl: %s\n", json_string_value(e));
	else if (e != NULL)
		fprintf(stderr, "mhctl: malformed reply (its error is not "
		    "text)\n");
	else
		print_human(reply, 0);
	fflush(stdout);
	return (json_object_get(reply, "error") != NULL);
}

/*
 * Options after the command words, as the usage lines write them (mhctl
 * show queue -t inbound): taken out of argv.  Option parsing stops at
 * the command (getopt "+"), so that hooks replay keeps its --since.
 */
static int
show_queue_opts(int argc, char *argv[], int *jflag, const char **which)
{
	int	 i, n = 2;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0)
			*jflag = 1;
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc &&
		    (strcmp(argv[i + 1], "inbound") == 0 ||
		    strcmp(argv[i + 1], "outbound") == 0))
			*which = argv[++i];
		else
			argv[n++] = argv[i];
	}
	return (n);
}

/* s as in the log, in a new string */
static char *
text_sanitize(const char *t, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		err(1, "reply");
	sanitize_text(s, len + 1, t, len, SAN_LOG);
	return (s);
}

/*
 * Every string of a reply printed for people, in place, as in the log: a
 * control byte, a C1 control (U+009B is CSI), a bidi control or a byte
 * that is not UTF-8 becomes '?', so that a subject, an address or a reply
 * a peer wrote cannot drive the terminal or reorder what it shows.  The
 * keys of an object too, which the tables print (in their order).  -j
 * prints the JSON as it came.
 */
static void
reply_sanitize(json_t *v)
{
	const char	*key;
	json_t		*e, *o;
	size_t		 i;
	char		*s;

	if (json_is_object(v)) {
		if ((o = json_object()) == NULL)
			errx(1, "reply");
		json_object_foreach(v, key, e) {
			reply_sanitize(e);
			s = text_sanitize(key, strlen(key));
			if (json_object_set(o, s, e) == -1)
				errx(1, "reply");
			free(s);
		}
		if (json_object_clear(v) == -1 || json_object_update(v, o) ==
		    -1)
			errx(1, "reply");
		json_decref(o);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			reply_sanitize(e);
	} else if (json_is_string(v)) {
		s = text_sanitize(json_string_value(v), json_string_length(v));
		if (json_string_set(v, s) == -1)
			errx(1, "reply");
		free(s);
	}
}

/* mhctl help; with -j as JSON, as every command that prints */
static int
help(int jflag)
{
	json_t		*j, *lines;
	const char	*line;
	size_t		 i;

	if (!jflag) {
		ctl_cmd_usage(stdout);
		return (0);
	}
	lines = json_array();
	for (i = 0; (line = ctl_cmd_help_line(i)) != NULL; i++)
		json_array_append_new(lines, json_string(line));
	j = json_pack("{s:s,s:o}", "usage", CTL_USAGE, "commands", lines);
	show_reply(j, 1);
	json_decref(j);
	return (0);
}

/*
 * The words of the request.  One json_string() refuses (not UTF-8) would
 * be left out and the daemon take "dkim show DOMAIN" for "dkim show", one
 * over CTL_MAX_WORD be "bad request": both are said here instead.
 */
static json_t *
request_args(const struct ctl_cmd *cmd, int argc, char *argv[])
{
	json_t	*args, *w;
	size_t	 skip = ctl_cmd_skip(cmd);
	int	 i;

	args = json_array();
	for (i = 0; i < argc; i++) {
		if (strlen(argv[i]) > CTL_MAX_WORD)
			errx(1, "%s%s%s: argument %zu is too long (at most %d "
			    "bytes)", cmd->w1, cmd->w2 != NULL ? " " : "",
			    cmd->w2 != NULL ? cmd->w2 : "", i + 1 - skip,
			    CTL_MAX_WORD);
		if ((w = json_string(argv[i])) == NULL)
			errx(1, "%s%s%s: argument %zu is not valid UTF-8",
			    cmd->w1, cmd->w2 != NULL ? " " : "",
			    cmd->w2 != NULL ? cmd->w2 : "", i + 1 - skip);
		json_array_append_new(args, w);
	}
	return (args);
}

/* until fd has something to read, ANSWER_WAIT_SECS at most */
static void
answer_wait(int fd, const char *sock)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = POLLIN;
	while ((n = poll(&pfd, 1, ANSWER_WAIT_SECS * 1000)) == -1)
		if (errno != EINTR)
			err(1, "poll");
	if (n == 0)
		errx(1, "%s: no answer from mailhookd in %d s: is it stopped "
		    "or hung?", sock, ANSWER_WAIT_SECS);
}

/*
 * At exit: what could not be written to stdout (a full disk, a closed
 * pipe's EPIPE, /dev/full) is a failure, said so, not exit 0 with the
 * output lost.
 */
static void
stdout_check(void)
{
	if (fflush(stdout) == EOF) {
		warn("stdout");
		_exit(1);
	}
	if (ferror(stdout)) {
		warnx("stdout: write error");
		_exit(1);
	}
}

int
main(int argc, char *argv[])
{
	const struct ctl_cmd	*cmd;
	struct mh_imsgbuf	 ibuf;
	struct mh_imsg	 imsg;
	const char	*sock = MH_CONTROL;
	json_t		*req, *args, *reply;
	char		*s;
	ssize_t		 n;
	const char	*which = NULL, *env;
	int		 ch, jflag = 0, hflag = 0, monitor, fd, rc = 0;
	int		 raw = 0;

	if (atexit(stdout_check) != 0)
		err(1, "atexit");
	/* set but empty is unset, as for any such variable */
	if ((env = getenv("MHCTL_SOCKET")) != NULL && *env != '\0')
		sock = env;
	while ((ch = getopt(argc, argv, "+hjs:t:V")) != -1) {
		switch (ch) {
		case 't':
			if (strcmp(optarg, "inbound") != 0 &&
			    strcmp(optarg, "outbound") != 0) {
				fprintf(stderr, "mhctl: -t takes inbound or "
				    "outbound, not \"%s\"\n", optarg);
				usage();
			}
			which = optarg;
			break;
		case 'h':
			hflag = 1;
			break;
		case 'j':
			jflag = 1;
			break;
		case 's':
			if (*optarg == '\0') {
				fprintf(stderr, "mhctl: -s needs a socket path, "
				    "not an empty one\n");
				usage();
			}
			sock = optarg;
			break;
		case 'V':
			printf("mhctl %s\n", MH_VERSION);
			return (0);
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	/* as mhctl help: the usage and every command, to stdout */
	if (hflag)
		return (help(jflag));
	if (argc < 1)
		usage();
	cmd = ctl_cmd_lookup(argc, (const char *const *)argv);
	if (cmd == NULL && ctl_cmd_usage_word(argv[0], NULL) > 0) {
		/* "show", "pause smpt": the forms its first word takes */
		if (argc == 1)
			fprintf(stderr, "mhctl: %s: missing subcommand\n",
			    argv[0]);
		else
			fprintf(stderr, "mhctl: %s %s: unknown subcommand\n",
			    argv[0], argv[1]);
		ctl_cmd_usage_word(argv[0], stderr);
		return (1);
	}
	if (cmd == NULL) {
		fprintf(stderr, "mhctl: unknown command: %s%s%s\n", argv[0],
		    argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		usage();
	}
	if (cmd->id == CTL_SHOW_QUEUE)
		argc = show_queue_opts(argc, argv, &jflag, &which);
	else if (which != NULL) {
		/* a filter that would be ignored: the admin thinks it holds */
		fprintf(stderr, "mhctl: -t is for show queue only\n");
		ctl_cmd_usage_one(cmd, stderr);
		return (1);
	}
	if (!ctl_cmd_args_ok(cmd, argc) || (cmd->id == CTL_HOOKS_REPLAY &&
	    !ctl_cmd_replay_ok(argc, argv[3]))) {
		/* its own usage line, not the whole list */
		ctl_cmd_usage_one(cmd, stderr);
		return (1);
	}
	raw = cmd->id == CTL_SHOW_MESSAGE && argc == 4 &&
	    strcmp(argv[3], "--raw") == 0;
	if (cmd->id == CTL_SHOW_MESSAGE && ((argc == 4 && !raw) ||
	    strcmp(argv[2], "--raw") == 0)) {
		ctl_cmd_usage_one(cmd, stderr);
		return (1);
	}
	if (cmd->id == CTL_HELP)
		return (help(jflag));
	if (cmd->id == CTL_DKIM_KEYGEN)
		return (dkim_keygen(argc, argv, jflag));
	if (cmd->id == CTL_API_KEYGEN)
		return (api_keygen(argc, argv, jflag));
	monitor = cmd->id == CTL_MONITOR;

	args = request_args(cmd, argc, argv);
	req = json_pack("{s:o}", "argv", args);
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);

	fd = ctl_connect(sock);
	mh_imsg_init(&ibuf, fd);
	if (mh_imsg_compose(&ibuf, IMSG_CTL_REQUEST, 0, 0, -1, s, strlen(s)) ==
	    -1 || mh_imsg_flush(&ibuf) == -1)
		err(1, "write to %s", sock);
	free(s);

	for (;;) {
		if ((n = mh_imsg_get(&ibuf, &imsg)) == -1)
			errx(1, "malformed reply");
		if (n == 0) {
			if (!monitor)
				answer_wait(fd, sock);
			if ((n = mh_imsg_read(&ibuf)) == -1) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				err(1, "read");
			}
			if (n == 0)
				errx(1, "mailhookd closed the connection");
			continue;
		}
		if (imsg.hdr.type != IMSG_CTL_REPLY || imsg.data == NULL ||
		    (reply = json_loadb(imsg.data, MH_IMSG_DATA_SIZE(&imsg), 0,
		    NULL)) == NULL)
			errx(1, "malformed reply");
		mh_imsg_free(&imsg);
		/* not a configuration's text: its lines are the admin's */
		if (!jflag && !monitor && cmd->id != CTL_SHOW_CONFIG &&
		    cmd->id != CTL_SHOW_METRICS)
			reply_sanitize(reply);
		if (imsg.fd != -1) {
			/* show message ID --raw: the queued file */
			rc = json_object_get(reply, "error") != NULL ?
			    show_reply(reply, jflag) : raw_out(imsg.fd);
			close(imsg.fd);
		} else if (monitor) {
			/* one object a line, with -j or without */
			s = json_dumps(reply, JSON_COMPACT);
			json_print(s ? s : "null");
			fflush(stdout);
			free(s);
			rc = json_object_get(reply, "error") != NULL;
		} else if (cmd->id == CTL_SHOW_QUEUE) {
			queue_filter(reply, which);
			rc = jflag ? show_reply(reply, 1) : print_queue(reply);
		} else if (cmd->id == CTL_SHOW_MESSAGE) {
			message_sort(reply);
			rc = jflag || json_object_get(reply, "error") != NULL ?
			    show_reply(reply, jflag) : print_message(reply);
		} else if (!jflag && cmd->id == CTL_SHOW_CONFIG &&
		    json_is_string(json_object_get(reply, "config"))) {
			fputs(json_string_value(json_object_get(reply,
			    "config")), stdout);
			rc = 0;
		} else if (!jflag && cmd->id == CTL_SHOW_METRICS &&
		    json_object_get(reply, "metrics") != NULL)
			rc = print_metrics(reply);
		else if (!jflag && cmd->id == CTL_SHOW_HOOKS &&
		    json_object_get(reply, "endpoints") != NULL)
			rc = print_hooks(reply);
		else if (!jflag && cmd->id == CTL_SHOW_DEAD &&
		    json_object_get(reply, "dead") != NULL)
			rc = print_dead(reply);
		else if (!jflag && cmd->id == CTL_DKIM_SHOW &&
		    json_object_get(reply, "dkim") != NULL)
			rc = dkim_records(reply);
		else
			rc = show_reply(reply, jflag);
		json_decref(reply);
		if (!monitor || rc)
			break;
	}
	mh_imsg_clear(&ibuf);
	close(fd);
	return (rc);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/history.c: records in order, files closed and indexed, expiry
 * on the history period, a file kept while it names a queued message or
 * counted again when one of its messages leaves the queue (history_settle),
 * a restart that reads the files and indexes back (or rebuilds a lost
 * index), and lines that are not records ignored.  With "history 4s"
 * a file covers a second: the test takes about twelve seconds.
 * mhtest: alone (its records must fall in the seconds it waits for,
 * which a disk busy with the other tests' flushes stretched past five
 * tries in a parallel run)
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "history.h"
#include "tap.h"

#define A	"00000000000000aa"	/* stays queued */
#define B	"00000000000000bb"
#define D	"00000000000000dd"	/* leaves the queue later */

static char	 dir[] = "/tmp/mh-history.XXXXXX";
static int	 dfd;
static int	 a_queued = 1;

static void
live(void (*add)(const char *))
{
	if (a_queued)
		add(A);
}

static void
rec(const char *id, const char *what, int n)
{
	json_t	*r = json_pack("{s:s, s:i}", "what", what, "n", n);

	history_add(id, r);
	json_decref(r);
}

static size_t
count(const char *id)
{
	json_t	*a = history_get(id);
	size_t	 n = json_array_size(a);

	json_decref(a);
	return (n);
}

/* the wall clock's second, as the journal reads it (not time(): coarse) */
static time_t
wall(void)
{
	struct timespec	 now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (now.tv_sec);
}

/* sleep until the wall clock is at least t (whole seconds) plus frac */
static void
until(time_t t, long frac_ms)
{
	struct timespec	 now, d;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > t || (now.tv_sec == t &&
		    now.tv_nsec / 1000000 >= frac_ms))
			return;
		d.tv_sec = 0;
		d.tv_nsec = 50 * 1000000;
		nanosleep(&d, NULL);
	}
}

static int
files(const char *suffix)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[256];
	int		 n = 0;
	size_t		 l, sl = strlen(suffix);

	snprintf(path, sizeof(path), "%s/h", dir);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l > sl &&
		    strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return (n);
}

static void
garbage(void)
{
	char	 path[256], *big;
	FILE	*fp;

	/* a file of a crashed run: bad lines among good ones, no index */
	snprintf(path, sizeof(path), "%s/h/100", dir);
	if ((fp = fopen(path, "w")) == NULL)
		return;
	fprintf(fp, "not a record\n" B " {not json\n" B " [1,2]\n"
	    "00000000000000BB {\"what\":\"upper\"}\n"
	    B " {\"what\":\"old\",\"time\":100.5}\n");
	if ((big = malloc(70000)) != NULL) {
		memset(big, 'x', 69999);
		big[69999] = '\0';
		fprintf(fp, B " %s\n", big);
		free(big);
	}
	fprintf(fp, B " {\"what\":\"older\",\"time\":99}\n" B " {\"what\":");
	fclose(fp);
}

/* the name of the history's one file (not an index), -1 if not one */
static long long
file_name(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[256], *end;
	long long	 v, name = -1;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/h", dir);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		v = strtoll(de->d_name, &end, 10);
		if (*end == '\0') {
			name = v;
			n++;
		}
	}
	closedir(d);
	return (n == 1 ? name : -1);
}

/* the history directory's files, for a new start */
static void
wipe(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[256];
	int		 hfd;

	snprintf(path, sizeof(path), "%s/h", dir);
	if ((hfd = open(path, O_RDONLY | O_DIRECTORY)) == -1)
		return;
	if ((d = fdopendir(hfd)) == NULL) {
		close(hfd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(hfd, de->d_name, 0);
	closedir(d);
}

/*
 * A journal started at the very start of a second names its file for
 * that second, the one its records are stamped with: time() (the coarse
 * clock) may still say the second before there, and a file named so
 * turned over at the next record.  Three starts, each right past a
 * second's edge (a busy loop: a sleep wakes too late).
 */
static void
edge(void)
{
	struct timespec	 ts;
	time_t		 t;
	long long	 name;
	int		 i, bad = 0, init = 0;

	for (i = 0; i < 3; i++) {
		wipe();
		until(wall(), 900);
		clock_gettime(CLOCK_REALTIME, &ts);
		t = ts.tv_sec;
		while (ts.tv_sec == t)
			clock_gettime(CLOCK_REALTIME, &ts);
		init += history_init(NULL, dfd, "h", 4, live) == 0;
		name = file_name();
		history_shutdown();
		if (name < (long long)ts.tv_sec) {
			printf("# started at %lld.%09ld, file %lld\n",
			    (long long)ts.tv_sec, ts.tv_nsec, name);
			bad++;
		}
	}
	ok(init == 3 && bad == 0, "started at a second's edge: the file is "
	    "named for that second (%d of 3 not)", bad);
}

/*
 * A file that cannot be opened (a full disk; here a directory has its
 * name) loses the record that turned the journal over to it, not every
 * record after: the next one opens a file again.
 */
static void
reopen(void)
{
	char	 path[256];
	time_t	 t;
	int	 init;

	wipe();
	until(wall() + 1, 100);
	init = history_init(NULL, dfd, "h", 4, live);
	t = wall();
	rec(B, "accepted", 1);
	snprintf(path, sizeof(path), "%s/h/%lld", dir, (long long)t + 1);
	mkdir(path, 0700);
	until(t + 1, 100);
	rec(B, "lost", 2);
	until(t + 2, 100);
	rec(B, "kept", 3);
	ok(init == 0 && count(B) == 2, "a file that could not be opened: "
	    "the next record opens one again (%zu records)", count(B));
	history_shutdown();
	rmdir(path);
}

static int
exists(const char *name)
{
	char	 path[256];

	snprintf(path, sizeof(path), "%s/h/%s", dir, name);
	return (access(path, F_OK) == 0);
}

/*
 * What a start finds that is not a file of the journal: an index whose
 * file a crash in the expiry removed first (it was never removed), and a
 * name of 19 digits, LLONG_MAX, whose start + 1 overflowed into the name
 * of the next file ("-9223372036854775808").
 */
static void
names(void)
{
	char	 path[256], cur[32];
	time_t	 t;
	int	 init;

	wipe();
	snprintf(path, sizeof(path), "%s/h/100.idx", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/h/9223372036854775807", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	t = wall();
	init = history_init(NULL, dfd, "h", 4, live);
	ok(init == 0 && !exists("100.idx"), "a start removes an index "
	    "whose file is gone");
	rec(B, "accepted", 1);
	snprintf(cur, sizeof(cur), "%lld", (long long)t);
	if (!exists(cur))
		snprintf(cur, sizeof(cur), "%lld", (long long)t + 1);
	ok(count(B) == 1 && exists(cur) && !exists("-9223372036854775808"),
	    "a file named past the year 9999 is ignored: the journal's "
	    "file is named for now");
	history_shutdown();
	wipe();
}

int
main(void)
{
	json_t		*a, *r;
	time_t		 t0, c1, s0, s1;
	char		 path[256];
	int		 init, tries;

	if (mkdtemp(dir) == NULL || (dfd = open(dir, O_RDONLY |
	    O_DIRECTORY)) == -1)
		return (1);
	/*
	 * Files turn over on the second: start at the beginning of one, so
	 * that the first records all go into the first file.  A slow disk
	 * or a busy machine can still carry them into the next second (the
	 * first file's creation and flush), which splits them and changes
	 * what every period below keeps: then start again, in a new second.
	 */
	for (tries = 0; ; tries++) {
		until(wall() + 1, 100);
		init = history_init(NULL, dfd, "h", 4, live);
		t0 = wall();
		rec(A, "accepted", 1);
		rec(B, "accepted", 1);
		rec(D, "accepted", 1);
		rec(A, "delivery", 2);
		rec(B, "done", 2);
		if (init != 0 || files("") == 1 || tries == 4)
			break;
		history_shutdown();
		wipe();
	}
	ok(init == 0, "init makes the directory");
	ok(files("") == 1, "the first records, in one file (%d tries)",
	    tries + 1);
	a = history_get(A);
	ok(json_array_size(a) == 2 && strcmp(json_string_value(
	    json_object_get(json_array_get(a, 1), "what")), "delivery") == 0 &&
	    json_number_value(json_object_get(json_array_get(a, 0), "time")) >=
	    (double)t0, "a message's records, in order, with their time");
	json_decref(a);
	r = history_last(B, "done");
	ok(r != NULL && json_integer_value(json_object_get(r, "n")) == 2,
	    "history_last: the newest record of a kind");
	json_decref(r);
	is_int(count("0123456789abcdef"), 0, "an unknown id: nothing");
	is_int(count("../../etc/passw"), 0, "not an id: nothing");

	/* the file is closed after a second (history/8, at least 1s) */
	until(t0 + 1, 200);
	history_prune();
	/*
	 * The file just closed says it closed at the second of that prune,
	 * or a second past its start when it began in that second (the
	 * records above crossed a second on a loaded machine): count from a
	 * second later, so that the periods below have passed for it.
	 */
	c1 = wall() + 1;
	is_int(files(".idx"), 1, "a closed file gets its index");
	rec(D, "accepted", 1);
	rec(A, "delivery", 3);
	is_int(count(A), 3, "records across two files");

	until(c1 + 4, 300);
	history_prune();
	is_int(count(B), 2, "a file that names a queued message is kept");
	a_queued = 0;
	history_prune();
	is_int(count(B), 0, "once it is not queued, the file is gone");
	is_int(count(A), 1, "the newer file stays");
	is_int(files(".idx"), 1, "removed with its index");

	/*
	 * D leaves the queue: its file counts from then, a second in
	 * [s0, s1].  A busy machine can settle or wake a second or more
	 * late: the checks count from the seconds seen around the settle,
	 * and when the wait came too late to show the file still kept, D
	 * leaves again (a later settle counts from then) and the test
	 * tries once more.
	 */
	until(c1 + 6, 100);
	for (tries = 0; ; tries++) {
		s0 = wall();
		history_settle(D);
		s1 = wall();
		until(s0 + 2, 300);
		if (wall() < s0 + 3 || tries == 4)
			break;
	}
	history_prune();
	is_int(count(D), 1, "kept for the period after it left the queue "
	    "(%d tries)", tries + 1);
	until(s1 + 4, 300);
	history_prune();
	is_int(count(D), 0, "then gone");
	is_int(count(A), 0, "with the rest of its file");
	rec(A, "late", 4);

	/* a restart: the files are read back */
	garbage();
	history_shutdown();
	snprintf(path, sizeof(path), "%s/h/stray.tmp", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	ok(history_init(NULL, dfd, "h", 4, live) == 0, "init again");
	is_int(count(A), 1, "after a restart: the records of the last file");
	a = history_get(B);
	ok(json_array_size(a) == 2 && strcmp(json_string_value(
	    json_object_get(json_array_get(a, 0), "what")), "older") == 0 &&
	    strcmp(json_string_value(json_object_get(json_array_get(a, 1),
	    "what")), "old") == 0, "a file without an index is read; only "
	    "its whole, well-formed records count, sorted by time");
	json_decref(a);
	ok(access(path, F_OK) == -1, "a temporary file of a crash is removed");
	history_shutdown();
	edge();
	reopen();
	names();
	close(dfd);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return (1);
	return (tap_done());
}

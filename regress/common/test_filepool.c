/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * common/filepool.c: removed spool files are kept empty and handed out
 * again, the same inode, with the semantics of open(O_EXCL) and unlink.
 */
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fileio.h"
#include "filepool.h"
#include "gsync.h"
#include "tap.h"

static char	 dir[] = "/tmp/mh-filepool.XXXXXX";
static char	 pooldir[512];

static char *
at(const char *name)
{
	static char	 buf[4][512];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return (buf[i]);
}

static ino_t
ino(const char *path)
{
	struct stat	 st;

	return (stat(path, &st) == 0 ? st.st_ino : 0);
}

static off_t
size(const char *path)
{
	struct stat	 st;

	return (stat(path, &st) == 0 ? st.st_size : -1);
}

static void
check_reuse(void)
{
	struct filepool	*fp;
	ino_t		 first, third;
	int		 fd;

	fp = filepool_open(pooldir, 2, 0);
	ok(fp != NULL && filepool_count(fp) == 0, "a new pool is empty");
	fd = filepool_create(fp, at("m1"));
	ok(fd != -1 && write(fd, "secret", 6) == 6, "a file is created");
	close(fd);
	first = ino(at("m1"));
	ok(filepool_release(fp, at("m1")) == 0 && access(at("m1"), F_OK) ==
	    -1 && filepool_count(fp) == 1, "release: gone from its place, "
	    "kept in the pool");
	fd = filepool_create(fp, at("m2"));
	ok(fd != -1 && ino(at("m2")) == first && size(at("m2")) == 0,
	    "the next file is the same inode, empty");
	ok(filepool_count(fp) == 0, "taken from the pool");
	close(fd);

	fd = open(at("m3"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	third = ino(at("m3"));
	ok(filepool_release(fp, at("m2")) == 0 &&
	    filepool_create(fp, at("m3")) == -1 && errno == EEXIST &&
	    filepool_count(fp) == 1, "an existing name: EEXIST, the pooled "
	    "file stays");
	ok(filepool_release(fp, at("m3")) == 0 && filepool_count(fp) == 2,
	    "a second one is kept");
	fd = open(at("m4"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(filepool_release(fp, at("m4")) == 0 && access(at("m4"), F_OK) ==
	    -1 && filepool_count(fp) == 2, "past max: removed");
	ok(filepool_release(fp, at("none")) == -1 && errno == ENOENT,
	    "a missing file: ENOENT, like unlink");

	ok(filepool_replaceat(fp, AT_FDCWD, at("tmp-e"), at("e"), "env", 3,
	    -1, 0) == 0 && ino(at("e")) == third && size(at("e")) == 3 &&
	    filepool_count(fp) == 1, "replaceat: the last pooled file, "
	    "written and renamed into place");
	ok(access(at("tmp-e"), F_OK) == -1, "replaceat: no temporary name "
	    "was made");
	ok(filepool_replaceat(fp, AT_FDCWD, at("tmp-e"), at("e"), "env2", 4,
	    -1, 0) == 0 && ino(at("e")) != third && size(at("e")) == 4 &&
	    filepool_count(fp) == 0, "replaceat: an existing name replaced");
	ok(filepool_replaceat(fp, AT_FDCWD, at("tmp-f"), at("f"), "env3", 5,
	    -1, 0) == 0 && size(at("f")) == 5 && access(at("tmp-f"),
	    F_OK) == -1, "replaceat with the pool empty: through tmp");
	/* one left in the pool, for check_reopen */
	ok(filepool_release(fp, at("e")) == 0 && filepool_count(fp) == 1,
	    "e released into the pool");
	unlink(at("f"));
	filepool_close(fp);
}

/* what a crash leaves: a pooled file not yet emptied, a stray name */
static void
check_reopen(void)
{
	struct filepool	*fp;
	char		 path[600];
	int		 fd;

	snprintf(path, sizeof(path), "%s/p1f", pooldir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ok(fd != -1 && write(fd, "old data", 8) == 8, "a leftover pooled "
	    "file with data");
	close(fd);
	snprintf(path, sizeof(path), "%s/junk", pooldir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	fp = filepool_open(pooldir, 8, 0);
	ok(fp != NULL && filepool_count(fp) == 2, "reopened: the two pooled "
	    "files, not the stray one");
	ok(access(path, F_OK) == -1, "the stray name is removed");
	fd = filepool_create(fp, at("n1"));
	ok(fd != -1 && size(at("n1")) == 0, "a pooled file comes out empty");
	close(fd);
	fd = filepool_create(fp, at("n2"));
	ok(fd != -1 && size(at("n2")) == 0, "the other one too");
	close(fd);
	ok(filepool_release(fp, at("n1")) == 0 &&
	    filepool_release(fp, at("n2")) == 0 && filepool_count(fp) == 2,
	    "released again under new names");
	filepool_close(fp);
}

/* by a directory's descriptor and a name (relayd's queue), and from
 * gsync's flusher thread (gsync_releaseat) */
static void
check_at(void)
{
	struct filepool	*fp;
	ino_t		 first;
	int		 dfd, fd;

	fp = filepool_open(pooldir, 4, 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	fd = filepool_createat(fp, dfd, "a1");
	first = ino(at("a1"));
	ok(fd != -1 && first != 0, "createat: a file by name in dfd");
	ok(write(fd, "data", 4) == 4, "written");
	close(fd);
	ok(filepool_releaseat(fp, dfd, "a1") == 0 && access(at("a1"),
	    F_OK) == -1 && filepool_count(fp) >= 1, "releaseat: pooled");
	ok(filepool_replaceat(fp, dfd, "a2.tmp", "a2", "x", 1, -1,
	    0) == 0 && ino(at("a2")) == first && size(at("a2")) == 1 &&
	    access(at("a2.tmp"), F_OK) == -1, "replaceat: the same inode, "
	    "written, at the name");
	gsync_init(NULL, dfd);
	gsync_releaseat(fp, dfd, "a2");
	ok(access(at("a2"), F_OK) == -1 && filepool_count(fp) >= 1,
	    "gsync_releaseat: after the flush, back in the pool");
	gsync_shutdown();
	fd = filepool_createat(fp, dfd, "a3");
	ok(fd != -1 && ino(at("a3")) == first, "and handed out again");
	close(fd);
	filepool_releaseat(fp, dfd, "a3");
	close(dfd);
	filepool_close(fp);
}

/* releaseat in two steps (gsync's releaser and emptier threads) */
static void
check_detach(void)
{
	struct filepool	*fp;
	unsigned long	 id1, id2;
	char		 path[600];
	int		 fd;

	fp = filepool_open(pooldir, 1, 0);
	while (filepool_count(fp) > 0) {
		close(filepool_create(fp, at("drain")));
		unlink(at("drain"));
	}
	fd = filepool_create(fp, at("d1"));
	ok(fd != -1 && write(fd, "delivered", 9) == 9, "d1 written");
	close(fd);
	close(open(at("d2"), O_WRONLY | O_CREAT, 0600));
	ok(filepool_detachat(fp, AT_FDCWD, at("d1"), &id1) == 1 &&
	    filepool_detachat(fp, AT_FDCWD, at("d2"), &id2) == 1 &&
	    access(at("d1"), F_OK) == -1 && access(at("d2"), F_OK) == -1,
	    "detach: gone from their directory");
	snprintf(path, sizeof(path), "%s/p%lx", pooldir, id1);
	ok(size(path) == 9 && filepool_count(fp) == 0,
	    "in the pool as they were, not handed out");
	filepool_keep(fp, id1);
	ok(size(path) == 0 && filepool_count(fp) == 1, "keep: emptied, pooled");
	filepool_keep(fp, id2);
	snprintf(path, sizeof(path), "%s/p%lx", pooldir, id2);
	ok(access(path, F_OK) == -1 && filepool_count(fp) == 1,
	    "keep with the pool full: removed");
	ok(filepool_detachat(fp, AT_FDCWD, at("none"), &id1) == -1 &&
	    errno == ENOENT, "detach of a missing file: ENOENT");
	ok(filepool_detachat(NULL, AT_FDCWD, at("none"), &id1) == -1 &&
	    errno == ENOENT, "and without a pool");
	filepool_close(fp);
}

static int	 stop_cb_ran;

static void
stop_cb(int ok_, void *arg)
{
	stop_cb_ran = 1;
}

/* a clean stop (relayd, hookd on SIGTERM): every file waiting for a
 * flush leaves its directory before gsync_stop returns, none emptied */
static void
check_stop(void)
{
	struct event_base	*base;
	struct filepool		*fp;
	char			 name[32];
	int			 dfd, fd, i, left = 0, full = 0;

	base = event_base_new();
	fp = filepool_open(pooldir, 512, 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	gsync_init(base, dfd);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		fd = filepool_createat(fp, dfd, name);
		if (fd == -1 || write(fd, "delivered", 9) != 9)
			break;
		close(fd);
		gsync_releaseat(fp, dfd, name);
	}
	ok(i == 300, "300 files written, each to go after the next flush");
	gsync_then(stop_cb, NULL);
	/* the loop never ran: nothing was flushed or removed yet */
	gsync_stop();
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		if (faccessat(dfd, name, F_OK, 0) == 0)
			left++;
	}
	ok(left == 0, "gsync_stop: every one left its directory (%d stayed)",
	    left);
	ok(!stop_cb_ran, "and no callback ran");
	filepool_close(fp);
	fp = filepool_open(pooldir, 512, 0);
	ok(filepool_count(fp) >= 300,
	    "the next start adopts them");
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		if ((fd = filepool_createat(fp, dfd, name)) == -1)
			continue;
		if (size(at(name)) != 0)
			full++;
		close(fd);
		unlinkat(dfd, name, 0);
	}
	ok(full == 0, "emptied: what it hands out has nothing of before");
	filepool_close(fp);
	close(dfd);
	event_base_free(base);
}

/* nothing but zeros in path, or -1 if it cannot be read */
static int
all_zero(const char *path)
{
	char	 buf[4096];
	ssize_t	 n, i;
	int	 fd, zero = 1;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (-1);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			if (buf[i] != '\0')
				zero = 0;
	close(fd);
	return (n == 0 ? zero : -1);
}

static blkcnt_t
blocks(const char *path)
{
	struct stat	 st;

	return (stat(path, &st) == 0 ? st.st_blocks : -1);
}

/*
 * FILEPOOL_ZEROED (the spools smtpd writes into): a released file reads
 * as zeros, never as what it held; on ext4 it keeps its first block
 * (none freed for a file of one block, so no discard, and a writer's
 * cut within it frees none either); file_cut() leaves exactly what
 * was written.
 */
static void
check_zeroed(void)
{
	struct filepool	*fp;
	struct statfs	 sfs;
	struct stat	 st;
	char		 secret[6000];
	blkcnt_t	 one;
	int		 fd, ext4;

	memset(secret, 'S', sizeof(secret));
	fp = filepool_open(pooldir, 4, FILEPOOL_ZEROED);
	ok(fp != NULL, "a zeroed pool opens");
	ext4 = statfs(pooldir, &sfs) == 0 && sfs.f_type == EXT4_SUPER_MAGIC;
	ok(access(at("pool/.zero-probe"), F_OK) == -1, "its probe file is "
	    "gone");

	/* a file of one block */
	fd = filepool_create(fp, at("z1"));
	ok(fd != -1 && write(fd, secret, 1000) == 1000 && fsync(fd) == 0 &&
	    fstat(fd, &st) == 0, "1,000 bytes written and flushed");
	close(fd);
	one = blocks(at("z1"));
	ok(filepool_release(fp, at("z1")) == 0, "released");
	fd = filepool_create(fp, at("z2"));
	ok(fd != -1 && all_zero(at("z2")) == 1, "handed out again: zeros, "
	    "no byte of what it held");
	if (ext4)
		ok(size(at("z2")) == 1000 && blocks(at("z2")) == one,
		    "on ext4 with its size and its block");
	else
		printf("# not ext4: the blocks are not looked at\n");
	ok(fd != -1 && write(fd, "short", 5) == 5 && file_cut(fd, 5) == 0 &&
	    size(at("z2")) == 5, "file_cut: what was written, no more");
	ok(file_cut(fd, 5) == 0 && size(at("z2")) == 5, "file_cut of a file "
	    "already that long changes nothing");
	if (ext4)
		ok(blocks(at("z2")) == one, "the cut kept the block");
	close(fd);

	/* a file of two blocks and more keeps its first one */
	fd = filepool_create(fp, at("z3"));
	ok(fd != -1 && write(fd, secret, sizeof(secret)) ==
	    (ssize_t)sizeof(secret) && fsync(fd) == 0 && fstat(fd, &st) == 0,
	    "6,000 bytes written and flushed");
	close(fd);
	ok(filepool_release(fp, at("z3")) == 0, "released");
	fd = filepool_create(fp, at("z4"));
	ok(fd != -1 && all_zero(at("z4")) == 1, "a longer file: zeros too");
	if (ext4)
		ok(size(at("z4")) == st.st_blksize && blocks(at("z4")) == one,
		    "on ext4 its first block kept, the rest freed (%lld "
		    "bytes)", (long long)size(at("z4")));
	close(fd);
	unlink(at("z2"));
	unlink(at("z4"));
	filepool_close(fp);
}

/* the pooled files on disk in pool dir (p<id>), not the probe */
static int
ondisk(const char *pdir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(pdir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] == 'p')
			n++;
	closedir(d);
	return (n);
}

/* a rename out of the pool that fails (not EEXIST): the file forgotten
 * is not left in pool/ until the next start */
static void
check_take_fails(void)
{
	struct filepool	*fp;
	int		 fd;

	/* a pool of its own: nothing pooled by the checks before */
	fp = filepool_open(at("pool-t"), 2, 0);
	fd = open(at("t1"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(fp != NULL && filepool_release(fp, at("t1")) == 0 &&
	    filepool_count(fp) == 1 && ondisk(at("pool-t")) == 1,
	    "one file pooled");
	ok(filepool_create(fp, at("nodir/t2")) == -1 &&
	    filepool_count(fp) == 0, "a name that cannot be made: the "
	    "pooled file is dropped from the list");
	ok(ondisk(at("pool-t")) == 0, "and from pool/");
	filepool_close(fp);
}

int
main(void)
{
	char	 cmd[600];
	int	 fd;

	if (mkdtemp(dir) == NULL) {
		printf("not ok - temporary directory\n");
		return (1);
	}
	snprintf(pooldir, sizeof(pooldir), "%s/pool", dir);
	check_reuse();
	check_reopen();
	check_at();
	check_detach();
	check_stop();
	check_zeroed();
	check_take_fails();

	fd = filepool_create(NULL, at("plain"));
	ok(fd != -1 && filepool_release(NULL, at("plain")) == 0 &&
	    access(at("plain"), F_OK) == -1, "no pool: open and unlink");
	close(fd);
	ok(filepool_open("/nonexistent-mh/pool", 4, 0) == NULL,
	    "a pool that cannot be made: NULL");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return (tap_done());
}

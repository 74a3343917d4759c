/*
 * Durable files for hookd's spools (inbound messages, events): write to
 * a temporary name, fsync, rename into place; fsync directories.  Or, in
 * a group commit (gsync.h), leave both to the next flush.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fileio.h"
#include "gsync.h"

int
fsync_dir(const char *dir)
{
	int	fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/* write, fsync, rename into place; the caller fsyncs the directory.
 * group: no fsync, the file and dir are part of the next group commit */
int
write_file(const char *dir, const char *name, const char *data, size_t len,
    int group)
{
	char	tmp[PATH_MAX], path[PATH_MAX];
	size_t	off;
	ssize_t	n;
	int	fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp-%s", dir, name) >=
	    sizeof(tmp) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return (-1);
	for (off = 0; off < len; off += n) {
		if ((n = write(fd, data + off, len - off)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			goto fail;
		}
	}
	if (group)
		gsync_fd(fd);
	else if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	if (group)
		gsync_path(dir);
	return (0);
 fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return (-1);
}

/*
 * Durable files for hookd's spools.
 */
#ifndef MH_HOOKD_FILEIO_H
#define MH_HOOKD_FILEIO_H

#include <stddef.h>

int	fsync_dir(const char *);
/* dir/tmp-name written, fsynced, renamed to dir/name; the caller fsyncs
 * dir.  group: neither is fsynced, the next group commit (gsync.h) does */
int	write_file(const char *dir, const char *name, const char *data,
	    size_t len, int group);

#endif /* MH_HOOKD_FILEIO_H */

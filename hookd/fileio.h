/*
 * Durable files for hookd's spools.
 */
#ifndef MH_HOOKD_FILEIO_H
#define MH_HOOKD_FILEIO_H

#include <stddef.h>

int	fsync_dir(const char *);
/* dir/tmp-name written, fsynced, renamed to dir/name; the caller fsyncs dir */
int	write_file(const char *dir, const char *name, const char *data,
	    size_t len);

#endif /* MH_HOOKD_FILEIO_H */

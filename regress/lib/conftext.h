/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * A configuration from its text, for the C tests: written to a temporary
 * file, parsed by config_parse() (errors logged), the file removed.
 */
#ifndef MH_CONFTEXT_H
#define MH_CONFTEXT_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static inline struct config *
conf_text(const char *text)
{
	char		 path[] = "/tmp/mh-conftext-XXXXXX";
	struct config	*conf;
	size_t		 len = strlen(text);
	int		 fd;

	if ((fd = mkstemp(path)) == -1)
		return (NULL);
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return (NULL);
	}
	close(fd);
	conf = config_parse(path);
	unlink(path);
	return (conf);
}

#endif /* MH_CONFTEXT_H */

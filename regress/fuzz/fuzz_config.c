/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: the configuration parser (parse.y) on arbitrary
 * bytes, then the JSON round trip of whatever it accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 path[64];
	struct config	*c, *c2;
	json_t		*j;
	FILE		*f;

	if (path[0] == '\0') {
		log_init(1, LOG_DAEMON);
		snprintf(path, sizeof(path), "/tmp/fuzz_config.%d.conf",
		    (int)getpid());
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if ((c = config_parse(path)) == NULL)
		return (0);
	j = config_to_json(c, CONF_SECRETS);
	if ((c2 = config_from_json(j)) == NULL)
		abort();	/* what the parser accepts must round trip */
	config_free(c2);
	json_decref(j);
	config_free(c);
	return (0);
}

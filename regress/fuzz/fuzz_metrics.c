/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: the metrics renderer (common/metrics.c) on what
 * webd gets from the parent, {process: [samples]}, in both formats.
 * Whatever it renders is lines of "# HELP", "# TYPE", "# EOF" or a
 * mailhook_ sample: a label value never breaks a line, and an OpenMetrics
 * text ends with "# EOF".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const char *t, size_t len, int om)
{
	const char	*line, *nl;

	if (strlen(t) != len)
		abort();
	for (line = t; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			abort();	/* every line ends */
		if (strncmp(line, "# HELP mailhook_", 16) != 0 &&
		    strncmp(line, "# TYPE mailhook_", 16) != 0 &&
		    strncmp(line, "mailhook_", 9) != 0 &&
		    strncmp(line, "# EOF\n", 6) != 0)
			abort();
	}
	if (om && (len < 6 || strcmp(t + len - 6, "# EOF\n") != 0))
		abort();
}

/* every process's samples pass metrics_check (the parent's check) */
static int
checked(json_t *j)
{
	const char	*proc;
	json_t		*samples;
	char		 err[128];

	if (!json_is_object(j))
		return (0);
	json_object_foreach(j, proc, samples)
		if (json_is_array(samples) &&
		    metrics_check(samples, err, sizeof(err)) == -1)
			return (0);
	return (1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*j;
	char	*t, err[128];
	size_t	 len;
	int	 om, ok;

	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	ok = checked(j);
	for (om = 0; om < 2; om++)
		if ((t = metrics_render(j, om, &len, err, sizeof(err))) !=
		    NULL) {
			check(t, len, om);
			free(t);
		} else if (ok && strcmp(err, "out of memory") != 0)
			abort();	/* checked, yet not rendered */
	json_decref(j);
	return (0);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: the configuration parser (parse.y) on arbitrary
 * bytes, then the JSON round trip of whatever it accepts, and its text
 * ("mhctl show config", config_print.c): parsed again it is accepted
 * and printed the same, the masked secrets (comments) aside.
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

/*
 * The text without the comment lines that stand for a masked secret, in
 * place: "# ... (masked)" or "# ... (value masked)" after the indent. A
 * file name or a string that holds "masked)" stays.
 */
static void
unmasked(char *s)
{
	char	*line = s, *nl, *out = s;
	size_t	 n, lead;

	for (; *line != '\0'; line = nl) {
		nl = strchr(line, '\n');
		nl = nl != NULL ? nl + 1 : line + strlen(line);
		n = nl - line;
		lead = strspn(line, "\t ");
		if (lead < n && line[lead] == '#' && n >= 8 &&
		    memcmp(nl - 8, "masked)\n", 8) == 0)
			continue;
		memmove(out, line, n);
		out += n;
	}
	*out = '\0';
}

static void
print_round_trip(const struct config *c, const char *path)
{
	struct config	*c3;
	char		*t1, *t2;
	FILE		*f;

	if ((t1 = config_print(c)) == NULL)
		abort();
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(t1, f);
	fclose(f);
	if ((c3 = config_parse(path)) == NULL)
		abort();	/* show config's text must parse again */
	if ((t2 = config_print(c3)) == NULL)
		abort();
	unmasked(t1);
	if (strcmp(t1, t2) != 0)
		abort();	/* and mean the same */
	free(t1);
	free(t2);
	config_free(c3);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 path[64], path2[64];
	struct config	*c, *c2;
	json_t		*j;
	FILE		*f;

	if (path[0] == '\0') {
		log_init(1, LOG_DAEMON);
		snprintf(path, sizeof(path), "/tmp/fuzz_config.%d.conf",
		    (int)getpid());
		snprintf(path2, sizeof(path2), "/tmp/fuzz_config.%d.2.conf",
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
	print_round_trip(c, path2);
	config_free(c);
	return (0);
}

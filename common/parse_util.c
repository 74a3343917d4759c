/*
 * Value checks and macros for the configuration parser (parse.y).
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "parse.h"

struct macro {
	TAILQ_ENTRY(macro)	 entry;
	char			*name;
	char			*value;
};
TAILQ_HEAD(macrolist, macro);

static struct macrolist	 macros = TAILQ_HEAD_INITIALIZER(macros);

int
parse_macro_set(const char *name, const char *value)
{
	struct macro	*m;
	const char	*s;

	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return (-1);
	for (s = name; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return (-1);
	TAILQ_FOREACH(m, &macros, entry) {
		if (strcmp(m->name, name) == 0) {
			free(m->value);
			if ((m->value = strdup(value)) == NULL)
				fatal("strdup");
			return (0);
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(name)) == NULL ||
	    (m->value = strdup(value)) == NULL)
		fatal("calloc");
	TAILQ_INSERT_TAIL(&macros, m, entry);
	return (0);
}

const char *
parse_macro_get(const char *name)
{
	struct macro	*m;

	TAILQ_FOREACH(m, &macros, entry)
		if (strcmp(m->name, name) == 0)
			return (m->value);
	return (NULL);
}

void
parse_macros_clear(void)
{
	struct macro	*m;

	while ((m = TAILQ_FIRST(&macros)) != NULL) {
		TAILQ_REMOVE(&macros, m, entry);
		free(m->name);
		free(m->value);
		free(m);
	}
}

int
parse_copystr(const struct pos *p, char *dst, size_t len, const char *src,
    const char *what)
{
	if (strlcpy(dst, src, len) >= len) {
		parse_error(p, "%s too long (at most %zu bytes)", what, len - 1);
		dst[0] = '\0';
		return (-1);
	}
	return (0);
}

int
parse_check_url(const struct pos *p, const char *url, const char *what)
{
	const char	*why;

	if ((why = config_check_url(url)) != NULL) {
		parse_error(p, "%s \"%s\" %s", what, url, why);
		return (-1);
	}
	return (0);
}

int
parse_check_secret(const struct pos *p, const char *s)
{
	const char	*why;

	if ((why = config_check_secret(s)) != NULL) {
		parse_error(p, "%s", why);
		return (-1);
	}
	return (0);
}

int
parse_check_domain(const struct pos *p, const char *d, const char *what)
{
	if (config_check_domain(d) == -1) {
		parse_error(p, "%s \"%s\" is not a valid domain name", what, d);
		return (-1);
	}
	return (0);
}

int
parse_check_range(const struct pos *p, int64_t v, int64_t min, int64_t max,
    const char *what)
{
	if (v == NUMERR)
		return (-1);
	if (v < min || v > max) {
		parse_error(p, "%s %lld out of range (%lld-%lld)", what,
		    (long long)v, (long long)min, (long long)max);
		return (-1);
	}
	return (0);
}

int
parse_header_add(const struct pos *p, struct headerlist *list, char *name,
    char *value)
{
	struct header	*h;
	const char	*why;

	if ((why = config_check_header(name, value)) != NULL) {
		parse_error(p, "%s \"%s\"", why, name);
		free(name);
		free(value);
		return (-1);
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("calloc");
	h->name = name;
	h->value = value;
	TAILQ_INSERT_TAIL(list, h, entry);
	return (0);
}

int
parse_rate_unit(const struct pos *p, const char *s)
{
	if (strcmp(s, "second") == 0)
		return (RATE_SECOND);
	if (strcmp(s, "minute") == 0)
		return (RATE_MINUTE);
	if (strcmp(s, "hour") == 0)
		return (RATE_HOUR);
	if (strcmp(s, "day") == 0)
		return (RATE_DAY);
	parse_error(p, "rate per \"%s\": use second, minute, hour or day", s);
	return (-1);
}

/* relay via mx | relay via "smtp[s]://[user:pass@]host[:port]" */
void
parse_relay_via(struct config *conf, const struct pos *p, const char *s)
{
	const char	*why;

	if ((why = config_check_relay_via(s)) != NULL)
		parse_error(p, "relay via \"%s\": %s", s, why);
	else if (strcmp(s, "mx") == 0)
		conf->relay_via[0] = '\0';
	else
		parse_copystr(p, conf->relay_via, sizeof(conf->relay_via), s,
		    "relay via");
}

int
parse_utf8_valid(const char *s)
{
	json_t	*j;

	/* every string ends up in JSON, which must be UTF-8 */
	if ((j = json_string(s)) == NULL)
		return (0);
	json_decref(j);
	return (1);
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * mimedump: render a message file with hookd/mimerender.c and print the result.
 *
 * usage: mimedump [-NT] [-C dir] [-D spfdomain] [-f fmt] [-H helo]
 *	[-i ip] [-r rcpt[:route]]... [-S spfresult] [-s sender] [-t to] file
 *
 *	-f tree		(default) print mime_to_json() as JSON
 *	-f json		print the body mime_render() builds for format json
 *	-f multipart|raw	print the form parts mime_render() builds as a
 *			JSON array of {name, filename, content_type, len,
 *			data (base64)}
 *	-f form		print the multipart format's body as hookd POSTs it
 *			(formdata_build()), after its Content-Type header
 *			and an empty line
 *	-C dir		chroot into dir after mime_init(), before rendering
 *	-N		initialize GMime without the iconv preload
 *	-T		the envelope says TLS
 */
#include <sys/types.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "envelope.h"
#include "config.h"
#include "http.h"
#include "../../hookd/hookd.h"
#include "../../hookd/mime.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mimedump [-NT] [-C dir] [-D spfdomain] "
	    "[-f fmt] [-H helo] [-i ip] [-r rcpt[:route]] [-S spfresult] "
	    "[-s sender] [-t to] file\n");
	exit(2);
}

static void
add_rcpt(struct envelope *env, char *arg)
{
	struct envelope_rcpt	*r;
	char			*colon;
	const char		*errstr;
	uint32_t		 route = 0;

	if ((colon = strrchr(arg, ':')) != NULL) {
		*colon++ = '\0';
		route = strtonum(colon, 0, UINT32_MAX, &errstr);
		if (errstr != NULL)
			errx(2, "route %s: %s", colon, errstr);
	}
	if ((r = envelope_add_rcpt(env, arg)) == NULL)
		errx(2, "bad recipient %s", arg);
	r->dest = DEST_ROUTE;
	r->route = route;
}

static void
print_parts(const struct mime_payload *p)
{
	json_t	*arr, *o;
	char	*b64;
	size_t	 i;

	if ((arr = json_array()) == NULL)
		errx(1, "json_array");
	for (i = 0; i < p->nparts; i++) {
		b64 = g_base64_encode(p->parts[i].data, p->parts[i].len);
		o = json_pack("{s:s, s:s?, s:s?, s:I, s:s}",
		    "name", p->parts[i].name,
		    "filename", p->parts[i].filename,
		    "content_type", p->parts[i].content_type,
		    "len", (json_int_t)p->parts[i].len,
		    "data", b64);
		g_free(b64);
		if (o == NULL || json_array_append_new(arr, o) == -1)
			errx(1, "json_pack part %zu", i);
	}
	if (json_dumpf(arr, stdout, JSON_INDENT(1)) == -1)
		errx(1, "json_dumpf");
	putchar('\n');
	json_decref(arr);
}

/* the multipart/form-data body, as a message with its Content-Type */
static void
print_form(const struct mime_payload *p)
{
	char	*body, ctype[128];
	size_t	 len;

	if (formdata_build(p->parts, p->nparts, "mimedump", &body, &len,
	    ctype, sizeof(ctype)) == -1)
		errx(1, "formdata_build");
	printf("Content-Type: %s\r\n\r\n", ctype);
	fwrite(body, 1, len, stdout);
	free(body);
}

int
main(int argc, char *argv[])
{
	struct envelope		 env;
	struct mime_payload	 p;
	enum post_format	 fmt = FORMAT_JSON;
	const char		*fmtname = "tree", *root = NULL, *to = NULL;
	json_t			*j;
	int			 ch, fd, nopreload = 0;

	envelope_init(&env);
	strlcpy(env.sender, "sender@example.org", sizeof(env.sender));
	strlcpy(env.helo, "mail.example.org", sizeof(env.helo));
	strlcpy(env.remote_ip, "192.0.2.1", sizeof(env.remote_ip));
	strlcpy(env.spf_result, "pass", sizeof(env.spf_result));
	strlcpy(env.spf_domain, "example.org", sizeof(env.spf_domain));
	while ((ch = getopt(argc, argv, "C:D:f:H:i:Nr:S:s:Tt:")) != -1) {
		switch (ch) {
		case 'C':
			root = optarg;
			break;
		case 'D':
			strlcpy(env.spf_domain, optarg, sizeof(env.spf_domain));
			break;
		case 'f':
			fmtname = optarg;
			break;
		case 'H':
			strlcpy(env.helo, optarg, sizeof(env.helo));
			break;
		case 'i':
			strlcpy(env.remote_ip, optarg, sizeof(env.remote_ip));
			break;
		case 'N':
			nopreload = 1;
			break;
		case 'r':
			add_rcpt(&env, optarg);
			break;
		case 'S':
			strlcpy(env.spf_result, optarg, sizeof(env.spf_result));
			break;
		case 's':
			strlcpy(env.sender, optarg, sizeof(env.sender));
			break;
		case 'T':
			env.tls = 1;
			break;
		case 't':
			to = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	if (strcmp(fmtname, "multipart") == 0 || strcmp(fmtname, "form") == 0)
		fmt = FORMAT_MULTIPART;
	else if (strcmp(fmtname, "raw") == 0)
		fmt = FORMAT_RAW;
	else if (strcmp(fmtname, "json") != 0 && strcmp(fmtname, "tree") != 0)
		usage();
	if (to == NULL)
		to = env.nrcpt > 0 ? env.rcpts[0].addr : "to@example.com";

	if ((fd = open(argv[0], O_RDONLY)) == -1)
		err(1, "%s", argv[0]);
	if (nopreload)
		g_mime_init();
	else
		mime_init();
	if (root != NULL && (chroot(root) == -1 || chdir("/") == -1))
		err(1, "chroot %s", root);

	if (strcmp(fmtname, "tree") == 0) {
		if ((j = mime_to_json(fd, &env, to)) == NULL)
			err(1, "mime_to_json");
		if (json_dumpf(j, stdout, JSON_INDENT(1)) == -1)
			errx(1, "json_dumpf");
		putchar('\n');
		json_decref(j);
	} else {
		if (mime_render(fd, &env, to, fmt, &p) == -1)
			err(1, "mime_render");
		if (fmt == FORMAT_JSON) {
			if (p.content_type == NULL ||
			    strcmp(p.content_type, "application/json") != 0 ||
			    p.parts != NULL)
				errx(1, "json payload is not application/json");
			fwrite(p.body, 1, p.bodylen, stdout);
			putchar('\n');
		} else {
			if (p.body != NULL || p.content_type != NULL)
				errx(1, "multipart payload has a body");
			if (strcmp(fmtname, "form") == 0)
				print_form(&p);
			else
				print_parts(&p);
		}
		mime_payload_free(&p);
	}
	close(fd);
	envelope_clear(&env);
	return (0);
}

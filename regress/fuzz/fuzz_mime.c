/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: inbound rendering (GMime) of arbitrary bytes, as hookd does
 * it: mime_parse() once, within small MIME limits (so that the scan of
 * mimescan.c cuts often), then mime_doc_render() in the three POST
 * formats; parsing and rendering must always succeed on a readable file.
 * Then with the default limits: the json body, which hookd joins from
 * pieces (mimerender.c, doc_jtail), must hold what mime_to_json()'s tree
 * holds; no header value breaks a line (CR, LF, VT, FF, 0x1c to 0x1e,
 * NEL, U+2028, U+2029) and no file name is over 255 bytes or breaks one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzfd.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* a line break to some reader in s (NULL: none) */
static int
has_break(const char *s)
{
	const unsigned char	*u;

	if (s == NULL)
		return (0);
	for (u = (const unsigned char *)s; *u != '\0'; u++)
		if (*u == '\r' || *u == '\n' || *u == '\v' || *u == '\f' ||
		    (*u >= 0x1c && *u <= 0x1e) ||
		    (u[0] == 0xc2 && u[1] == 0x85) ||
		    (u[0] == 0xe2 && u[1] == 0x80 &&
		    (u[2] == 0xa8 || u[2] == 0xa9)))
			return (1);
	return (0);
}

/* the promises of doc/webhooks.md on headers and file names */
static void
check_tree(json_t *tree)
{
	json_t		*v, *e;
	const char	*k, *fn;
	size_t		 i;

	json_object_foreach(json_object_get(tree, "headers"), k, v) {
		if (json_is_string(v) && has_break(json_string_value(v)))
			abort();
		json_array_foreach(v, i, e)
			if (has_break(json_string_value(e)))
				abort();
	}
	json_array_foreach(json_object_get(tree, "attachments"), i, v) {
		fn = json_string_value(json_object_get(v, "file_name"));
		if (fn != NULL && (strlen(fn) > 255 || has_break(fn)))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct envelope		 env;
	struct mime_payload	 out;
	struct mime_limits	 lim = { 8, 4, 32, 2048 };
	struct mime_doc		*md;
	json_t			*body, *tree;
	int			 fd, fmt;

	if (!init) {
		mime_init();
		init = 1;
	}
	if ((fd = fuzz_fd(data, size)) == -1)
		return (0);
	envelope_init(&env);
	strlcpy(env.sender, "a@example.test", sizeof(env.sender));
	envelope_add_rcpt(&env, "b@example.test");
	if ((md = mime_parse(fd, NULL, 0, NULL, NULL, &lim, MIME_WANT_JSON |
	    MIME_WANT_MULTIPART)) == NULL)
		abort();
	for (fmt = FORMAT_JSON; fmt <= FORMAT_RAW; fmt++) {
		if (mime_doc_render(md, &env, "b@example.test", fmt,
		    &out) == -1)
			abort();
		mime_payload_free(&out);
	}
	mime_doc_free(md);
	/* and the default limits, as mimedump and the tests render */
	if (mime_render(fd, &env, "b@example.test", FORMAT_JSON, &out) == -1)
		abort();
	body = json_loadb(out.body, out.bodylen, 0, NULL);
	tree = mime_to_json(fd, &env, "b@example.test");
	if (body == NULL || tree == NULL || !json_equal(body, tree))
		abort();
	check_tree(tree);
	json_decref(body);
	json_decref(tree);
	mime_payload_free(&out);
	envelope_clear(&env);
	close(fd);
	return (0);
}

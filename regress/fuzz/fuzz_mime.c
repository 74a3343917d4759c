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
 * pieces (mimerender.c, doc_jtail), must hold what mime_to_json()'s tree holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzfd.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
	json_decref(body);
	json_decref(tree);
	mime_payload_free(&out);
	envelope_clear(&env);
	close(fd);
	return (0);
}

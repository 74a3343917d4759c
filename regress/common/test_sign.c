/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Standard Webhooks signing: known vectors.  The expected values were
 * computed independently with Python's hmac module, e.g.
 *	base64(hmac.new(b64decode(key), b"id.ts.body", sha256).digest())
 * and the first is the published example of the specification.
 */
#include <string.h>

#include "tap.h"
#include "sign.h"

int
main(void)
{
	struct sign_headers	 h;
	char			 sig[SIGN_SIG_MAX];
	const char		*body = "{\"test\": 2432232314}";

	ok(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
	    sig, sizeof(sig)) == 0, "sign the specification's example");
	is_str(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    "specification vector");

	ok(sign_webhook("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1",
	    1700000000, "", 0, sig, sizeof(sig)) == 0,
	    "secret without whsec_ prefix, empty body");
	is_str(sig, "v1,gSiPCGkMwgBPwtqun+0WQGJwP7wCS5MuBHUR5RLZhOo=",
	    "empty body vector");

	ok(sign_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
	    &h) == 0, "sign_headers");
	is_str(h.id, "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek", "id header");
	is_str(h.timestamp, "webhook-timestamp: 1614265330",
	    "timestamp header");
	is_str(h.signature,
	    "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	    "signature header");

	ok(sign_webhook("whsec_not*base64!", "msg_1", 1, "x", 1, sig,
	    sizeof(sig)) == -1, "bad base64 secret refused");
	ok(sign_webhook("whsec_", "msg_1", 1, "x", 1, sig, sizeof(sig)) == -1,
	    "empty secret refused");
	/* base64 as sign.h says: '=' only at the end, at most two (libcrypto
	 * took "====" for the key of one zero byte) */
	is_int(sign_key_len("whsec_AA=="), 1, "sign_key_len: AA== is one byte");
	is_int(sign_key_len("whsec_===="), -1, "sign_key_len: ==== refused");
	is_int(sign_key_len("whsec_A==="), -1, "sign_key_len: A=== refused");
	is_int(sign_key_len("whsec_AA=A"), -1,
	    "sign_key_len: '=' inside refused");
	ok(sign_webhook("whsec_====", "msg_1", 1, "x", 1, sig,
	    sizeof(sig)) == -1, "a secret of padding alone signs nothing");
	ok(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg\r\nX: y",
	    1, "x", 1, sig, sizeof(sig)) == -1, "CR/LF in the id refused");
	ok(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1,
	    "x", 1, sig, 10) == -1, "short buffer refused");
	return (tap_done());
}

/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: webd's JSON submission API (api.c, apimsg.c behind evhttp
 * and the limits) on arbitrary bytes from a client, through an "api"
 * listener with one key: "Authorization: Bearer fuzz-api-key-0123456789"
 * (its seeds carry it).  Everything else is fuzz_webd.c.
 */
#define FUZZ_WEBD_API
#define FUZZ_API_KEY_SHA256 \
	"0d97ff8b701b6b369f81eeb38a5ab7a2e598cf00d7f8e3d07fa606bb1897f008"
#include "fuzz_webd.c"

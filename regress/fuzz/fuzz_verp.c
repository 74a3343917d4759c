/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer: the VERP decoder on arbitrary return paths (with and without
 * a key, the bounce domain in any case), and the round trip: a recipient
 * of a domain smtpd takes that verp_encode() takes (U-labels, A-labels,
 * any local part) decodes as signed to the same message, with the same
 * local part in its one form (addr_canon), in any case; and addr_canon()
 * of an address smtpd takes is one it takes, its own canonical form.
 * (Not checked: that what it names encodes again to a return path that
 * verifies; "s@xn--U+034Fusg" does not.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "mailaddr.h"
#include "verp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define KEY	"00112233445566778899aabbccddeeff" \
		"00112233445566778899aabbccddeeff"
#define MSGID	"0123456789abcdef"
#define BOUNCE	"bounces.example.org"

static void
decode_any(const char *s)
{
	char	 msgid[MH_MSGID_LEN], rcpt[MH_ADDR_MAX];
	int	 st;

	st = verp_decode(s, BOUNCE, KEY, msgid, rcpt, sizeof(rcpt));
	if (st != VERP_NONE && (strlen(msgid) != MH_MSGID_LEN - 1 ||
	    strchr(rcpt, '@') == NULL))
		abort();
	(void)verp_status_name(st);
	(void)verp_decode(s, "BOUNCES.example.org", NULL, msgid, rcpt,
	    sizeof(rcpt));
	(void)verp_decode(s, BOUNCE, KEY, msgid, rcpt, 8);
}

static void
round_trip(const char *rcpt)
{
	char	 rp[MH_ADDR_MAX];
	char	 msgid[MH_MSGID_LEN], back[MH_ADDR_MAX], c[MH_ADDR_MAX], *p;
	char	 f[MH_ADDR_MAX];

	/* a domain smtpd takes (not "x..", which keeps a dot) */
	if ((p = strrchr(rcpt, '@')) == NULL || !smtp_domain_valid(p + 1, 1) ||
	    verp_encode(rp, sizeof(rp), MSGID, rcpt, BOUNCE, KEY) == -1)
		return;
	if (verp_decode(rp, BOUNCE, KEY, msgid, back, sizeof(back)) !=
	    VERP_SIGNED || strcmp(msgid, MSGID) != 0)
		abort();
	/* the local part comes back in its one form (addr_canon) */
	if (addr_canon(c, sizeof(c), rcpt) == -1 ||
	    strncmp(back + (back[0] == '"' && c[0] != '"'), c,
	    strrchr(c, '@') - c) != 0)
		abort();
	/* as its spelling: "john"@d as "john"@d, not as john@d's */
	if (verp_rcpt_form(c, sizeof(c), rcpt) == -1 ||
	    verp_rcpt_form(f, sizeof(f), back) == -1 || strcmp(c, f) != 0)
		abort();
	/* an MTA may change the case of the return path */
	for (p = rp; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p -= 'a' - 'A';
	if (verp_decode(rp, BOUNCE, KEY, msgid, back, sizeof(back)) !=
	    VERP_SIGNED)
		abort();
}

/* the one form of a mailbox smtpd takes: one it takes, and its own */
static void
canon(const char *addr)
{
	char	 c[MH_ADDR_MAX], again[MH_ADDR_MAX];

	if (smtp_addr_valid(addr, 1) != ADDR_OK ||
	    addr_canon(c, sizeof(c), addr) == -1)
		return;
	if (smtp_addr_valid(c, 1) != ADDR_OK ||
	    addr_canon(again, sizeof(again), c) == -1 || strcmp(c, again) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	if (size > 2 * MH_ADDR_MAX || (s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	decode_any(s);
	round_trip(s);
	canon(s);
	free(s);
	return (0);
}

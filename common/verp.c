/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * VERP encoding and decoding (verp.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "digest.h"
#include "dns.h"
#include "envelope.h"
#include "hex.h"
#include "mailaddr.h"
#include "verp.h"

static int
hex_ok(const char *s, size_t n, size_t want)
{
	size_t	 i;

	if (n != want)
		return (0);
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return (0);
	return (1);
}

static int
hex16_ok(const char *s, size_t n)
{
	return (hex_ok(s, n, MH_MSGID_LEN - 1));
}

/* rcpt lower-cased into dst (the case of a return path an MTA may
 * change): 0, -1 if it does not fit */
static int
verp_lower(char *dst, size_t len, const char *rcpt)
{
	size_t	 i, n;

	if ((n = strlen(rcpt)) >= len)
		return (-1);
	for (i = 0; i <= n; i++)
		dst[i] = tolower((unsigned char)rcpt[i]);
	return (0);
}

/*
 * The MAC of msgid (16 lower-case hex digits) and rcpt, lower-cased (an
 * MTA may change the case of the return path): VERP_MAC_LEN lower-case
 * hex digits and a NUL in mac.  -1 without a key or for a long rcpt.
 */
static int
verp_mac(const char *key, const char *msgid, const char *rcpt,
    char mac[VERP_MAC_LEN + 1])
{
	unsigned char	 md[MH_SHA256_LEN];
	char		 lc[MH_ADDR_MAX], hex[2 * MH_SHA256_LEN + 1];

	if (key == NULL || key[0] == '\0' ||
	    verp_lower(lc, sizeof(lc), rcpt) == -1)
		return (-1);
	mh_hmac_sha256(key, strlen(key), msgid, MH_MSGID_LEN - 1, lc,
	    strlen(lc), md);
	mh_hex(hex, md, sizeof(md));
	memcpy(mac, hex, VERP_MAC_LEN);
	mac[VERP_MAC_LEN] = '\0';
	return (0);
}

/* local@domain of the given lengths into out: 0, or -1 if it is too long */
static int
addr_join(char *out, size_t outlen, const char *local, size_t llen,
    const char *dom, size_t dlen)
{
	int	 n;

	n = snprintf(out, outlen, "%.*s@%.*s", (int)llen, local, (int)dlen,
	    dom);
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	return (0);
}

/*
 * A recipient domain with a U-label goes in the return path as its
 * A-labels (dom), so that MAIL FROM needs no SMTPUTF8 for it; the MAC is
 * over the recipient with the U-labels of those A-labels (mac_rcpt), the
 * form verp_decode() gives back.  An ASCII domain is as it is in both.
 */
static int
verp_idn(const char *rcpt, const char *at, char *dom, size_t domlen,
    char *mac_rcpt, size_t maclen)
{
	const char	*p;
	char		 u[256];

	for (p = at + 1; *p != '\0' && (unsigned char)*p < 0x80; p++)
		;
	if (*p == '\0') {
		if (strlcpy(dom, at + 1, domlen) >= domlen ||
		    strlcpy(mac_rcpt, rcpt, maclen) >= maclen)
			return (-1);
		return (0);
	}
	if (dns_domain_ascii(at + 1, dom, domlen) == -1 ||
	    dns_domain_utf8(dom, u, sizeof(u)) == -1)
		return (-1);
	return (addr_join(mac_rcpt, maclen, rcpt, at - rcpt, u, strlen(u)));
}

int
verp_rcpt_quoted(char *out, size_t outlen, const char *rcpt)
{
	const char	*at = strrchr(rcpt, '@');
	int		 n;

	if (rcpt[0] == '"' || at == NULL)
		return (-1);
	n = snprintf(out, outlen, "\"%.*s\"%s", (int)(at - rcpt), rcpt, at);
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	return (0);
}

/* rcpt written with quotes its canonical form canon does not need */
static int
verp_quoted_spelling(const char *rcpt, const char *canon)
{
	return (rcpt[0] == '"' && canon[0] != '"');
}

/*
 * rcpt as its return path's MAC is taken over it: addr_canon's form, a
 * U-label domain as the U-labels of its A-labels (verp_idn), lower-cased
 * (verp_lower); the recipient verp_decode() gives back, in whatever case
 * the MTA wrote it, has the same.  0, -1 if it is no address or too long.
 */
int
verp_rcpt_key(char *dst, size_t len, const char *rcpt)
{
	char		 c[MH_ADDR_MAX], m[MH_ADDR_MAX], dom[256];
	const char	*at;

	if (addr_canon(c, sizeof(c), rcpt) == -1 ||
	    (at = strrchr(c, '@')) == NULL || at == c || at[1] == '\0' ||
	    verp_idn(c, at, dom, sizeof(dom), m, sizeof(m)) == -1)
		return (-1);
	return (verp_lower(dst, len, m));
}

int
verp_rcpt_form(char *dst, size_t len, const char *rcpt)
{
	char	 k[MH_ADDR_MAX];

	if (verp_rcpt_key(k, sizeof(k), rcpt) == -1)
		return (-1);
	if (verp_quoted_spelling(rcpt, k))
		return (verp_rcpt_quoted(dst, len, k));
	return (strlcpy(dst, k, len) >= len ? -1 : 0);
}

int
verp_encode(char *buf, size_t len, const char *msgid, const char *rcpt,
    const char *bounce_domain, const char *key)
{
	const char	*at, *spelled = rcpt;
	char		 mac[VERP_MAC_LEN + 1], dom[256];
	char		 mrcpt[MH_ADDR_MAX], crcpt[MH_ADDR_MAX];
	char		 qrcpt[MH_ADDR_MAX];
	int		 n;

	if (!hex16_ok(msgid, strlen(msgid)) || bounce_domain[0] == '\0' ||
	    !envelope_field_ok(rcpt) || !envelope_field_ok(bounce_domain))
		return (-1);
	/*
	 * "john"@d is john@d, and so is its return path: an MTA that quotes
	 * only what needs it (Postfix) sends the bounce to mh-...-john=d@
	 */
	if (addr_canon(crcpt, sizeof(crcpt), rcpt) == -1)
		return (-1);
	rcpt = crcpt;
	if ((at = strrchr(rcpt, '@')) == NULL || at == rcpt || at[1] == '\0' ||
	    strchr(at + 1, '=') != NULL)
		return (-1);
	if (verp_idn(rcpt, at, dom, sizeof(dom), mrcpt, sizeof(mrcpt)) == -1)
		return (-1);
	/*
	 * written "john"@d, beside john@d maybe in the same message: the
	 * same return path but for its MAC, over "john"@d (verp_rcpt_form),
	 * so that the bounce of each names its own spelling
	 */
	if (verp_quoted_spelling(spelled, rcpt)) {
		if (verp_rcpt_quoted(qrcpt, sizeof(qrcpt), mrcpt) == -1 ||
		    strlcpy(mrcpt, qrcpt, sizeof(mrcpt)) >= sizeof(mrcpt))
			return (-1);
	}
	if (verp_mac(key, msgid, mrcpt, mac) == -1)
		return (-1);
	/* a quoted local part: the return path's is quoted around it all */
	if (rcpt[0] == '"' && at - rcpt > 2 && at[-1] == '"')
		n = snprintf(buf, len, "\"" VERP_PREFIX "%s-%s-%.*s=%s\"@%s",
		    msgid, mac, (int)(at - rcpt - 2), rcpt + 1, dom,
		    bounce_domain);
	else
		n = snprintf(buf, len, VERP_PREFIX "%s-%s-%.*s=%s@%s", msgid,
		    mac, (int)(at - rcpt), rcpt, dom, bounce_domain);
	if (n < 0 || (size_t)n >= len)
		return (-1);
	return (0);
}

/* local=domain between local and at as it is written: 0 or -1 */
static int
verp_split(const char *local, const char *at, int quoted, char *rcpt,
    size_t rcptlen)
{
	const char	*eq, *p;
	int		 n;

	/* the last '=' before our '@' splits the recipient's local@domain */
	for (eq = NULL, p = local; p < at; p++)
		if (*p == '=')
			eq = p;
	if (eq == NULL || eq == local || eq + 1 == at)
		return (-1);
	if (!quoted)
		return (addr_join(rcpt, rcptlen, local, eq - local, eq + 1,
		    at - eq - 1));
	n = snprintf(rcpt, rcptlen, "\"%.*s\"@%.*s", (int)(eq - local), local,
	    (int)(at - eq - 1), eq + 1);
	if (n < 0 || (size_t)n >= rcptlen)
		return (-1);
	return (0);
}

/*
 * The recipient quoted as a client wrote it ("john"@d), whose return
 * path has its MAC over that spelling: one verp_encode() makes for it
 * now, or one of a build before canonical forms, which kept the quotes
 * ("mh-...-john=d"@); an MTA may take them off (mh-...-john=d@, "john"@d
 * all the same).  0, -1 if the canonical form is quoted itself.
 */
static int
verp_older(const char *raw, int quoted, const char *rcpt, char *out,
    size_t outlen)
{
	if (quoted) {
		if (strcmp(raw, rcpt) == 0 || strlcpy(out, raw, outlen) >=
		    outlen)
			return (-1);
		return (0);
	}
	return (verp_rcpt_quoted(out, outlen, rcpt));
}

/*
 * local=domain between local and at in the form addr_canon() gives,
 * however the MTA quoted the return path (mh-...-.john=d@, of ".john"@d,
 * an MTA may write without its quotes): 0 or -1
 */
static int
verp_rcpt(const char *local, const char *at, int quoted, char *rcpt,
    size_t rcptlen)
{
	char	 raw[MH_ADDR_MAX];

	if (verp_split(local, at, quoted, raw, sizeof(raw)) == -1)
		return (-1);
	return (addr_canon(rcpt, rcptlen, raw));
}

/* rcpt with the U-labels of its domain's A-labels: 0, -1 if it has none */
static int
verp_ulabel(const char *rcpt, char *out, size_t outlen)
{
	const char	*at = strrchr(rcpt, '@');
	char		 u[256];

	if (at == NULL || strcasestr(at + 1, "xn--") == NULL ||
	    dns_domain_utf8(at + 1, u, sizeof(u)) == -1)
		return (-1);
	return (addr_join(out, outlen, rcpt, at - rcpt, u, strlen(u)));
}

int
verp_decode(const char *addr, const char *bounce_domain, const char *key,
    char msgid[MH_MSGID_LEN], char *rcpt, size_t rcptlen)
{
	const char	*at, *p, *local, *end;
	char		 want[VERP_MAC_LEN + 1], got[VERP_MAC_LEN + 1];
	char		 urcpt[MH_ADDR_MAX], raw[MH_ADDR_MAX];
	char		 orcpt[MH_ADDR_MAX];
	size_t		 i, plen = strlen(VERP_PREFIX);
	int		 q;

	if (addr == NULL || bounce_domain == NULL || bounce_domain[0] == '\0' ||
	    !envelope_field_ok(addr))
		return (VERP_NONE);
	/* from the right: the last '@' starts our domain */
	if ((at = strrchr(addr, '@')) == NULL ||
	    strcasecmp(at + 1, bounce_domain) != 0)
		return (VERP_NONE);
	/* "mh-...=domain"@bounce_domain, of a quoted recipient */
	end = at;
	if ((q = addr[0] == '"')) {
		if (at - addr < 2 || at[-1] != '"')
			return (VERP_NONE);
		addr++;
		end--;
	}
	if ((size_t)(end - addr) < plen + MH_MSGID_LEN + 2 ||
	    strncasecmp(addr, VERP_PREFIX, plen) != 0)
		return (VERP_NONE);
	p = addr + plen;
	if (!hex16_ok(p, MH_MSGID_LEN - 1) || p[MH_MSGID_LEN - 1] != '-')
		return (VERP_NONE);
	for (i = 0; i < MH_MSGID_LEN - 1; i++)
		msgid[i] = tolower((unsigned char)p[i]);
	msgid[i] = '\0';
	local = p + MH_MSGID_LEN;
	/* <mac>-<local>=<domain>; else the older form, <local>=<domain> */
	if (end - local > VERP_MAC_LEN + 1 && local[VERP_MAC_LEN] == '-' &&
	    hex_ok(local, VERP_MAC_LEN, VERP_MAC_LEN) &&
	    verp_split(local + VERP_MAC_LEN + 1, end, q, raw,
	    sizeof(raw)) == 0 && addr_canon(rcpt, rcptlen, raw) == 0) {
		for (i = 0; i < VERP_MAC_LEN; i++)
			got[i] = tolower((unsigned char)local[i]);
		got[i] = '\0';
		if (verp_mac(key, msgid, rcpt, want) == 0 &&
		    CRYPTO_memcmp(want, got, VERP_MAC_LEN) == 0)
			return (VERP_SIGNED);
		/* of a recipient written "john"@d: named so */
		if (verp_older(raw, q, rcpt, orcpt, sizeof(orcpt)) == -1)
			orcpt[0] = '\0';
		if (orcpt[0] != '\0' && verp_mac(key, msgid, orcpt,
		    want) == 0 && CRYPTO_memcmp(want, got, VERP_MAC_LEN) == 0 &&
		    strlcpy(rcpt, orcpt, rcptlen) < rcptlen)
			return (VERP_SIGNED);
		/* an A-label domain that verp_encode() made of U-labels */
		if (verp_ulabel(rcpt, urcpt, sizeof(urcpt)) == 0 &&
		    verp_mac(key, msgid, urcpt, want) == 0 &&
		    CRYPTO_memcmp(want, got, VERP_MAC_LEN) == 0 &&
		    strlcpy(rcpt, urcpt, rcptlen) < rcptlen)
			return (VERP_SIGNED);
		if (orcpt[0] != '\0' &&
		    verp_ulabel(orcpt, urcpt, sizeof(urcpt)) == 0 &&
		    verp_mac(key, msgid, urcpt, want) == 0 &&
		    CRYPTO_memcmp(want, got, VERP_MAC_LEN) == 0 &&
		    strlcpy(rcpt, urcpt, rcptlen) < rcptlen)
			return (VERP_SIGNED);
		return (VERP_BADMAC);
	}
	if (verp_rcpt(local, end, q, rcpt, rcptlen) == -1)
		return (VERP_NONE);
	return (VERP_UNSIGNED);
}

const char *
verp_status_name(int st)
{
	switch (st) {
	case VERP_SIGNED:
		return ("signed");
	case VERP_BADMAC:
		return ("bad_mac");
	case VERP_UNSIGNED:
		return ("unsigned");
	default:
		return ("none");
	}
}

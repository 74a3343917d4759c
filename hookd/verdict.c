/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound DKIM and DMARC verdicts.
 *
 * libopendkim verifies synchronously and asks its DNS service for each
 * key (dkim_eom).  Inside the sandbox there is no resolver thread, so one
 * verification runs in three steps, never blocking the event loop:
 *
 *   1. the message is fed to a verifying handle (dkim_chunk) up to the
 *	end of the body: headers parsed, signatures listed (at most
 *	ENVELOPE_DKIM_MAX, the others ignored by the prescreen callback),
 *	body hashes computed; the From: domain is known;
 *   2. the key of every signature (selector._domainkey.domain TXT) and
 *	the DMARC record (_dmarc.domain TXT, then the organizational
 *	domain's from the Public Suffix List) are resolved in parallel
 *	through common/dns.c;
 *   3. dkim_eom runs: the DNS service plugged into libopendkim
 *	(dkim_dns_set_query_start etc.) answers from the packets of step
 *	2, so libopendkim parses real DNS answers itself.  The DKIM results
 *	and the SPF result from authd go to libopendmarc, which decides
 *	alignment and the policy (RFC 7489).
 */
#include <sys/types.h>
#include <sys/time.h>

#include <arpa/nameser.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <dlfcn.h>

#include <dkim.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <opendmarc/dmarc.h>
#include <unbound.h>

#include "log.h"
#include "dns.h"
#include "evbuf.h"
#include "kept.h"
#include "fileio.h"
#include "config.h"
#include "verdict.h"

/* libopendmarc's, missing from its dmarc.h; defined here (see below) */
int	opendmarc_get_tld(u_char *, u_char *, size_t);

#define VD_CHUNK	65536
#define VD_PACKET_MAX	8192		/* libopendkim's answer buffer */
#define VD_DMARC_MAX	1024		/* bytes of a DMARC record kept */
#define VD_FROM_MAX	2048		/* bytes of a From: field looked at */
#define VD_CLOCKDRIFT	86400		/* a signer's clock ahead: see below */

struct vd_job;

/* the From: fields of the header section, read as it goes by */
struct vd_from {
	int		 done;		/* past the header section */
	int		 bol;		/* at the start of a line */
	int		 state;		/* VF_NAME, VF_FROM or VF_OTHER */
	char		 name[8];	/* the field's name so far */
	size_t		 nlen;
	size_t		 vlen;
	char		 val[VD_FROM_MAX];
	int		 nfrom;		/* From: fields */
	int		 unusable;	/* several domains, or none */
};
#define VF_NAME		0
#define VF_FROM		1
#define VF_OTHER	2

/*
 * The body's length as each canonicalization has it (RFC 6376 3.4.3,
 * 3.4.4), counted as it goes by: a signature whose l= is shorter
 * leaves the rest of the body unsigned.
 */
struct vd_body {
	int		 state;		/* VB_HEADER, VB_CR, VB_BODY */
	int		 bol;		/* in the header: at a line's start */
	int		 wsp;		/* relaxed: blanks not counted yet */
	off_t		 sline;		/* simple: the line's bytes so far */
	off_t		 rline;		/* relaxed: the same */
	off_t		 sempty;	/* empty lines not counted yet */
	off_t		 rempty;
	off_t		 simple;	/* the lines counted */
	off_t		 relaxed;
};
#define VB_HEADER	0
#define VB_CR		1		/* the CR of the empty line */
#define VB_BODY		2

struct vd_key {
	struct vd_job	*job;
	char		 name[256];
	int		 status;	/* enum dns_status */
	int		 toolarge;	/* an answer past VD_PACKET_MAX */
	u_char		*pkt;
	size_t		 len;
};

struct vd_job {
	struct envelope	*env;
	DKIM		*dkim;
	int		 usable;	/* the handle can reach dkim_eom */
	int		 pending;	/* DNS queries in flight */
	int		 starting;	/* still issuing queries */
	size_t		 nkeys;
	struct vd_key	 keys[ENVELOPE_DKIM_MAX];
	char		 from[254];	/* RFC5322.From domain, lower case */
	char		 org[254];	/* its organizational domain */
	int		 dmarc_stage;	/* 0 none, 1 from, 2 org */
	int		 dmarc_temp;	/* a DMARC query failed for now */
	char		*dmarc;		/* the one v=DMARC1 record found */
	struct vd_from	 fromscan;
	struct vd_body	 body;
	char		*msg;		/* the message, read whole, or NULL */
	size_t		 msglen;
	verdict_cb	 cb;
	void		*arg;
};

static DKIM_LIB		*vd_lib;
static struct vd_job	*vd_current;	/* during dkim_eom */
static int		 vd_service;	/* a non-NULL handle for libopendkim */
static int		 vd_psl;	/* Public Suffix List loaded */
static char		**vd_rules;	/* its rules, sorted */
static size_t		 vd_nrules;
static char		 vd_authserv[256] = "localhost";
static OPENDMARC_LIB_T	 vd_dmarclib;

/* counters for mhctl show stats */
static const char	*vd_results[] = { "pass", "fail", "none", "temperror",
			    "permerror", "policy" };
#define VD_NRESULTS	(sizeof(vd_results) / sizeof(vd_results[0]))
static unsigned long	 vd_st_dkim[VD_NRESULTS], vd_st_dmarc[VD_NRESULTS];

/* decoded public keys, by their DER bytes: see d2i_PUBKEY_bio below */
#define VD_PUBKEY_MAX	2048		/* DER of an RSA-8192 key: ~1,100 */
typedef EVP_PKEY *(*vd_d2i_fn)(BIO *, EVP_PKEY **);
static void		 vd_pubkey_free(void *);
static struct kept_slot	 vd_pubkey_slots[64];
static struct kept	 vd_pubkeys = KEPT_INIT(vd_pubkey_slots,
			    VD_PUBKEY_MAX, vd_pubkey_free);
static vd_d2i_fn	 openssl_d2i_pubkey;

static void	vd_key_done(int, struct ub_result *, void *);
static void	vd_dmarc_done(int, struct ub_result *, void *);
static void	vd_maybe_finish(struct vd_job *);
static void	vd_domain(char *, size_t, const u_char *);

/* a domain or selector we can repeat in JSON and headers, else "" */
static void
vd_word(char *dst, size_t size, const u_char *src)
{
	size_t	 i;

	dst[0] = '\0';
	if (src == NULL || strlen((const char *)src) >= size)
		return;
	for (i = 0; src[i] != '\0'; i++) {
		/* none of it, never the part before (d=bank.example+.x.org) */
		if (!((src[i] >= 'a' && src[i] <= 'z') ||
		    (src[i] >= 'A' && src[i] <= 'Z') ||
		    (src[i] >= '0' && src[i] <= '9') ||
		    src[i] == '.' || src[i] == '-' || src[i] == '_')) {
			dst[0] = '\0';
			return;
		}
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i];
	}
	dst[i] = '\0';
	if (i == 0 || dst[0] == '.' || dst[i - 1] == '.')
		dst[0] = '\0';
}

/* libopendkim's DNS service: answers from the packets of step 2 */
static int
vd_dns_start(void *srv, int type, u_char *query, u_char *buf, size_t buflen,
    void **qh)
{
	struct vd_job	*j = vd_current;
	char		 name[256];
	size_t		 i, n;

	if (j == NULL || type != T_TXT ||
	    strlcpy(name, (char *)query, sizeof(name)) >= sizeof(name))
		return (-1);
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		name[n - 1] = '\0';
	for (i = 0; i < j->nkeys; i++) {
		struct vd_key *k = &j->keys[i];

		if (strcasecmp(k->name, name) != 0)
			continue;
		if (k->pkt == NULL || k->len > buflen)
			return (-1);
		memcpy(buf, k->pkt, k->len);
		*qh = k;
		return (0);
	}
	return (-1);
}

static int
vd_dns_wait(void *srv, void *qh, struct timeval *to, size_t *bytes,
    int *error, int *dnssec)
{
	struct vd_key	*k = qh;

	if (k == NULL || k->pkt == NULL)
		return (DKIM_DNS_ERROR);
	switch (k->status) {
	case DNS_OK:
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		*bytes = k->len;
		if (error != NULL)
			*error = 0;
		if (dnssec != NULL)
			*dnssec = DKIM_DNSSEC_UNKNOWN;
		return (DKIM_DNS_SUCCESS);
	default:
		return (DKIM_DNS_ERROR);	/* temperror */
	}
}

static int
vd_dns_cancel(void *srv, void *qh)
{
	return (0);
}

static int
vd_dns_init(void **srv)
{
	*srv = &vd_service;
	return (0);
}

static void
vd_dns_close(void *srv)
{
}

/*
 * The public key cache.  libopendkim decodes the key of every signature
 * it verifies (a memory BIO of the p= bytes to d2i_PUBKEY_bio), and
 * OpenSSL 3's decoder costs ten times the RSA verification; most mail
 * comes from few keys.  The executable's d2i_PUBKEY_bio, which the
 * dynamic linker prefers to libcrypto's for libopendkim too, answers a
 * memory BIO whose bytes are exactly those of a key decoded before with
 * that EVP_PKEY (one more reference; libopendkim frees it): the same
 * bytes are the same key, so nothing goes stale (the DNS answer itself
 * follows its TTL in libunbound).  The 64 keys used last are kept;
 * other calls go to libcrypto's.
 */
static void
vd_pubkey_free(void *pk)
{
	EVP_PKEY_free(pk);
}

EVP_PKEY *
d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
	EVP_PKEY	*pk;
	char		*data;
	long		 n;

	if (openssl_d2i_pubkey == NULL && (openssl_d2i_pubkey = (vd_d2i_fn)
	    dlsym(RTLD_NEXT, "d2i_PUBKEY_bio")) == NULL)
		return (NULL);
	if (a != NULL || bp == NULL || BIO_method_type(bp) != BIO_TYPE_MEM ||
	    (n = BIO_get_mem_data(bp, &data)) <= 0 || n > VD_PUBKEY_MAX)
		return (openssl_d2i_pubkey(bp, a));
	if ((pk = kept_find(&vd_pubkeys, data, n, NULL, 0)) != NULL)
		return (EVP_PKEY_up_ref(pk) == 1 ? pk :
		    openssl_d2i_pubkey(bp, NULL));
	/* data stays valid: a memory BIO of libopendkim's buffer */
	if ((pk = openssl_d2i_pubkey(bp, NULL)) == NULL ||
	    EVP_PKEY_up_ref(pk) != 1)
		return (pk);
	if (kept_add(&vd_pubkeys, data, n, NULL, 0, pk) == -1)
		EVP_PKEY_free(pk);	/* the reference the cache would hold */
	return (pk);
}

/*
 * The Public Suffix List, read whole: its rules as written ("co.uk",
 * "*.kawasaki.jp", "!city.kawasaki.jp"), ASCII in lower case, sorted.
 */
static int
vd_rule_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * A rule of the list as the domains it is matched with are written: an
 * internationalized one ("\xe5\x85\xac\xe5\x8f\xb8.cn") in A-labels
 * (xn--55qx5d.cn), after its "!" or "*."; NULL if it has none.
 */
static char *
vd_psl_rule(const char *line)
{
	char		 a[256], *r;
	size_t		 n = line[0] == '!' ? 1 :
			    strncmp(line, "*.", 2) == 0 ? 2 : 0;

	if (strspn(line + n, "abcdefghijklmnopqrstuvwxyz0123456789-._") ==
	    strlen(line + n))
		return (strdup(line));
	if (dns_domain_ascii(line + n, a, sizeof(a)) == -1 ||
	    asprintf(&r, "%.*s%s", (int)n, line, a) == -1)
		return (NULL);
	return (r);
}

static void
vd_psl_load(const char *file)
{
	FILE	*fp;
	char	*line = NULL, **r;
	size_t	 cap = 0, i;

	if (file == NULL || (fp = fopen(file, "r")) == NULL)
		return;
	while (getline(&line, &cap, fp) != -1) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0] == '\0' || strncmp(line, "//", 2) == 0)
			continue;
		for (i = 0; line[i] != '\0'; i++)
			if (line[i] >= 'A' && line[i] <= 'Z')
				line[i] += 'a' - 'A';
		if (vd_nrules % 1024 == 0) {
			if ((r = reallocarray(vd_rules, vd_nrules + 1024,
			    sizeof(*r))) == NULL)
				fatal("verdict: Public Suffix List");
			vd_rules = r;
		}
		if ((vd_rules[vd_nrules] = vd_psl_rule(line)) != NULL)
			vd_nrules++;
	}
	free(line);
	fclose(fp);
	if (vd_nrules > 0)
		qsort(vd_rules, vd_nrules, sizeof(*vd_rules), vd_rule_cmp);
}

static int
vd_rule(const char *prefix, const char *name)
{
	char		 key[300];
	const char	*k = key;

	if (snprintf(key, sizeof(key), "%s%s", prefix, name) >=
	    (int)sizeof(key))
		return (0);
	return (bsearch(&k, vd_rules, vd_nrules, sizeof(*vd_rules),
	    vd_rule_cmp) != NULL);
}

/*
 * The organizational domain by the list's own algorithm: the public
 * suffix is what an exception rule ("!") leaves once its first label
 * is off, else the longest rule that matches, "*" matching any one
 * label, else the last label; the organizational domain is that suffix
 * and one label more.  A domain that is a public suffix is its own.
 */
static void
vd_psl_org(const char *domain, char *org, size_t size)
{
	char		 d[256];
	const char	*p, *dot, *ps = NULL;
	size_t		 i;

	for (i = 0; domain[i] != '\0' && i < sizeof(d) - 1; i++)
		d[i] = domain[i] >= 'A' && domain[i] <= 'Z' ?
		    domain[i] + ('a' - 'A') : domain[i];
	d[i] = '\0';
	if (domain[i] != '\0') {
		strlcpy(org, domain, size);
		return;
	}
	for (p = d; p != NULL && ps == NULL; p = dot ? dot + 1 : NULL)
		if ((dot = strchr(p, '.')) != NULL && vd_rule("!", p))
			ps = dot + 1;
	for (p = d; p != NULL && ps == NULL; p = dot ? dot + 1 : NULL) {
		dot = strchr(p, '.');
		if (vd_rule("", p) || (dot != NULL && vd_rule("*.", dot + 1)))
			ps = p;
	}
	if (ps == NULL)
		ps = (p = strrchr(d, '.')) != NULL ? p + 1 : d;
	if (ps == d) {
		strlcpy(org, d, size);
		return;
	}
	for (p = ps - 1; p > d && p[-1] != '.'; p--)
		;
	strlcpy(org, p, size);
}

/*
 * libopendmarc's opendmarc_get_tld: the organizational domain, which it
 * asks for the alignment of SPF and DKIM domains with From:.  Its own
 * reads a wildcard rule as its parent ("*.ck" as "ck") and so makes
 * every registered domain under one label of such a suffix the same
 * organization (a.foo.ck aligned with b.foo.ck, any two schools under
 * essex.sch.uk).  libopendmarc calls it through its PLT, so this
 * definition in the executable is the one it gets, as is ours.  Without
 * a list, the domain itself, as libopendmarc's.
 */
int
opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len)
{
	if (domain == NULL || tld == NULL || tld_len == 0)
		return (-1);
	if (vd_nrules == 0)
		strlcpy((char *)tld, (const char *)domain, tld_len);
	else
		vd_psl_org((const char *)domain, (char *)tld, tld_len);
	return (0);
}

/* only the first ENVELOPE_DKIM_MAX signatures are verified */
static DKIM_CBSTAT
vd_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	int	 i;

	for (i = ENVELOPE_DKIM_MAX; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return (DKIM_CBSTAT_CONTINUE);
}

void
verdict_init(const char *psl_file)
{
	/*
	 * No DKIM_LIBFLAGS_FIXCRLF: the spooled message has CRLF line ends
	 * only (smtpd refuses bare LF), and libopendkim's LF mode can hand
	 * dkim_header() an empty header, which it asserts against (found by
	 * regress/fuzz/fuzz_dkim).
	 */
	u_int	 flags = DKIM_LIBFLAGS_BADSIGHANDLES |
		    DKIM_LIBFLAGS_DELAYSIGPROC;
	/*
	 * A signature whose t= is ahead of our clock by more than this is
	 * permerror (RFC 6376 3.5: a verifier MAY ignore such signatures).
	 * libopendkim's 5 minutes failed DKIM, and so DMARC, for a sender
	 * whose clock is an hour fast; a day takes a clock set to local
	 * time in any zone (UTC+14 at most).  libopendkim lets x= pass by
	 * as much: x= < t= stays permerror whatever the drift.
	 */
	uint64_t	 drift = VD_CLOCKDRIFT;

	/* before the sandbox */
	if ((openssl_d2i_pubkey = (vd_d2i_fn)dlsym(RTLD_NEXT,
	    "d2i_PUBKEY_bio")) == NULL)
		fatalx("verdict: no d2i_PUBKEY_bio in libcrypto");
	if ((vd_lib = dkim_init(NULL, NULL)) == NULL)
		fatalx("verdict: dkim_init failed");
	if (dkim_options(vd_lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(vd_lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift,
	    sizeof(drift)) != DKIM_STAT_OK)
		fatalx("verdict: dkim_options failed");
	(void)dkim_set_prescreen(vd_lib, vd_prescreen);
	dkim_dns_set_init(vd_lib, vd_dns_init);
	dkim_dns_set_close(vd_lib, vd_dns_close);
	(void)dkim_dns_set_query_service(vd_lib, &vd_service);
	dkim_dns_set_query_start(vd_lib, vd_dns_start);
	dkim_dns_set_query_cancel(vd_lib, vd_dns_cancel);
	dkim_dns_set_query_waitreply(vd_lib, vd_dns_wait);

	/*
	 * The list is read once, here (vd_psl_load): libopendmarc's own copy
	 * of it (tld_type MOZILLA) would only serve its opendmarc_get_tld,
	 * which ours replaces, so it is not loaded (tld_type NONE).
	 */
	memset(&vd_dmarclib, 0, sizeof(vd_dmarclib));
	vd_dmarclib.tld_type = OPENDMARC_TLD_TYPE_NONE;
	if (opendmarc_policy_library_init(&vd_dmarclib) != DMARC_PARSE_OKAY)
		log_warnx("verdict: opendmarc_policy_library_init failed");
	if (psl_file == NULL || access(psl_file, R_OK) != 0) {
		log_warnx("verdict: no Public Suffix List at %s: DMARC uses "
		    "the From: domain only", psl_file ? psl_file : "-");
		return;
	}
	vd_psl_load(psl_file);
	if (vd_nrules == 0)
		log_warnx("verdict: Public Suffix List %s unreadable",
		    psl_file);
	else
		vd_psl = 1;
}

void
verdict_configure(const char *authserv_id)
{
	char	 w[sizeof(vd_authserv)];

	vd_word(w, sizeof(w), (const u_char *)authserv_id);
	strlcpy(vd_authserv, w[0] != '\0' ? w : "localhost",
	    sizeof(vd_authserv));
}

/* one address of a From: field: its domain must be the first one's */
static void
vd_from_address(struct vd_from *f, char *a, char *first, size_t size)
{
	u_char	*user = NULL, *dom = NULL;
	char	 d[254];

	if (a[strspn(a, " \t\r\n")] == '\0')
		return;			/* nothing between two commas */
	if (dkim_mail_parse((u_char *)a, &user, &dom) != 0 || dom == NULL ||
	    dom[0] == '\0')
		f->unusable = 1;
	else {
		/* bank.example. is bank.example (vd_domain) */
		vd_domain(d, sizeof(d), dom);
		if (d[0] == '\0')
			f->unusable = 1;
		else if (first[0] == '\0')
			strlcpy(first, d, size);
		else if (strcmp(first, d) != 0)
			f->unusable = 1;
	}
}

/*
 * The domains of a From: field's value, split at the commas between its
 * addresses (not those in quotes, comments or angle brackets): unusable
 * when they are not all one domain, or one has none.
 */
static void
vd_from_value(struct vd_from *f)
{
	char	 first[254], *a, *p, *end = f->val + f->vlen;
	int	 quoted = 0, depth = 0, angle = 0;

	first[0] = '\0';
	if (f->vlen >= sizeof(f->val)) {
		f->unusable = 1;	/* too long to tell */
		return;
	}
	*end = '\0';
	for (a = p = f->val; p <= end; p++) {
		if (p == end || (*p == ',' && !quoted && depth == 0 &&
		    !angle)) {
			*p = '\0';
			vd_from_address(f, a, first, sizeof(first));
			a = p + 1;
		} else if ((quoted || depth > 0) && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"' && depth == 0)
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && (*p == '<' || *p == '>'))
			angle = *p == '<';
	}
}

/* the end of a field: a From:'s value is looked at */
static void
vd_from_field(struct vd_from *f)
{
	if (f->state == VF_FROM && f->nfrom == 1)
		vd_from_value(f);
	f->state = VF_NAME;
	f->nlen = 0;
	f->vlen = 0;
}

/*
 * One more piece of the message for the From: scan.  RFC 7489 6.6.1
 * wants one From: field with one domain in it; a message with two
 * fields, or one naming addresses of two domains, has no single
 * author domain to judge (libopendkim names the first).
 */
static void
vd_from_scan(struct vd_from *f, const u_char *p, size_t len)
{
	size_t	 i;
	u_char	 c;

	for (i = 0; i < len && !f->done; i++) {
		c = p[i];
		if (f->bol) {
			f->bol = 0;
			if (c == '\r' || c == '\n') {
				vd_from_field(f);
				f->done = 1;
				break;
			}
			if (c != ' ' && c != '\t')
				vd_from_field(f);
		}
		if (c == '\n') {
			f->bol = 1;
			continue;
		}
		switch (f->state) {
		case VF_NAME:
			if (c != ':') {
				if (f->nlen < sizeof(f->name))
					f->name[f->nlen++] = c;
				break;
			}
			while (f->nlen > 0 && (f->name[f->nlen - 1] == ' ' ||
			    f->name[f->nlen - 1] == '\t'))
				f->nlen--;
			if (f->nlen == 4 && strncasecmp(f->name, "from", 4) ==
			    0) {
				f->state = VF_FROM;
				f->nfrom++;
			} else
				f->state = VF_OTHER;
			break;
		case VF_FROM:
			if (c == '\r')
				break;
			if (f->vlen < sizeof(f->val) - 1)
				f->val[f->vlen++] = c;
			else
				f->vlen = sizeof(f->val);
			break;
		}
	}
}

/* one more piece of the message for the body's canonical lengths */
static void
vd_body_scan(struct vd_body *b, const u_char *p, size_t len)
{
	size_t	 i = 0;

	for (; i < len && b->state != VB_BODY; i++) {
		if (b->state == VB_CR)
			b->state = p[i] == '\n' ? VB_BODY : VB_HEADER;
		else if (b->bol && (p[i] == '\r' || p[i] == '\n'))
			b->state = p[i] == '\r' ? VB_CR : VB_BODY;
		b->bol = p[i] == '\n';
	}
	for (; i < len; i++) {
		switch (p[i]) {
		case '\r':
			break;		/* smtpd lets CR in before LF only */
		case '\n':
			/* a line: what was left empty is not empty after all */
			if (b->sline == 0)
				b->sempty++;
			else {
				b->simple += 2 * b->sempty + b->sline + 2;
				b->sempty = 0;
			}
			if (b->rline == 0)
				b->rempty++;
			else {
				b->relaxed += 2 * b->rempty + b->rline + 2;
				b->rempty = 0;
			}
			b->sline = b->rline = 0;
			b->wsp = 0;
			break;
		case ' ':
		case '\t':
			b->sline++;
			b->wsp = 1;	/* one SP, unless the line ends */
			break;
		default:
			b->sline++;
			b->rline += b->wsp + 1;
			b->wsp = 0;
		}
	}
}

/*
 * The body's length in canonicalization bc: empty lines at its end
 * do not count, a last line without CRLF gets one; an empty body is
 * CRLF in simple, nothing in relaxed.
 */
static off_t
vd_body_len(const struct vd_body *b, dkim_canon_t bc)
{
	off_t	 n;

	if (bc == DKIM_CANON_RELAXED)
		return (b->relaxed + (b->rline > 0 ?
		    2 * b->rempty + b->rline + 2 : 0));
	n = b->simple + (b->sline > 0 ? 2 * b->sempty + b->sline + 2 : 0);
	return (n == 0 ? 2 : n);
}

/*
 * step 1: the whole message through the verifying handle, read with
 * pread from its start (no lseek); a read shorter than the buffer is the
 * end of the spooled file, so most messages take one system call.  Such
 * a message is kept (j->msg) for the caller, who parses it next: one
 * read of the file instead of two.  An unsigned message ends the feed
 * where its header ends: libopendkim says DKIM_STAT_NOSIG there, and
 * would answer any later chunk, the closing one too, with
 * DKIM_STAT_INVALID ("Invalid parameter"); there is nothing to verify.
 */
static void
vd_feed(struct vd_job *j, int fd)
{
	static u_char	 buf[VD_CHUNK];
	DKIM_STAT	 st;
	off_t		 off = 0;
	ssize_t		 n;

	for (;;) {
		if ((n = pread_eintr(fd, buf, sizeof(buf), off)) == -1) {
			log_warn("msgid=%s verdict: read", j->env->id);
			return;
		}
		if (off == 0 && n > 0 && n < (ssize_t)sizeof(buf) &&
		    (j->msg = malloc(n)) != NULL) {
			memcpy(j->msg, buf, n);
			j->msglen = n;
		}
		off += n;
		vd_from_scan(&j->fromscan, buf, n);
		vd_body_scan(&j->body, buf, n);
		if (n > 0 && (st = dkim_chunk(j->dkim, buf, n)) !=
		    DKIM_STAT_OK)
			break;
		if (n < (ssize_t)sizeof(buf)) {
			st = dkim_chunk(j->dkim, NULL, 0);
			break;
		}
	}
	if (st == DKIM_STAT_NOSIG)
		return;		/* no DKIM-Signature: dkim=none */
	if (st != DKIM_STAT_OK) {
		log_info("msgid=%s verdict: message unusable for DKIM (%s): "
		    "dkim=none", j->env->id, dkim_getresultstr(st));
		return;
	}
	j->usable = 1;
}

/* the name of sig's key, selector._domainkey.domain; -1 if none */
static int
vd_key_name(DKIM_SIGINFO *sig, char *name, size_t size)
{
	const u_char	*d = dkim_sig_getdomain(sig);
	const u_char	*s = dkim_sig_getselector(sig);

	if (d == NULL || s == NULL ||
	    snprintf(name, size, "%s._domainkey.%s", s, d) >= (int)size)
		return (-1);	/* libopendkim refuses it too */
	return (0);
}

/* the look-up of sig's key, or NULL */
static struct vd_key *
vd_key_of(struct vd_job *j, DKIM_SIGINFO *sig)
{
	char	 name[256];
	size_t	 i;

	if (vd_key_name(sig, name, sizeof(name)) == -1)
		return (NULL);
	for (i = 0; i < j->nkeys; i++)
		if (strcasecmp(j->keys[i].name, name) == 0)
			return (&j->keys[i]);
	return (NULL);
}

static void
vd_query_key(struct vd_job *j, DKIM_SIGINFO *sig)
{
	struct vd_key	*k;
	char		 name[256];

	if (dkim_sig_geterror(sig) != DKIM_SIGERROR_UNKNOWN ||
	    j->nkeys >= ENVELOPE_DKIM_MAX ||
	    vd_key_name(sig, name, sizeof(name)) == -1 ||
	    vd_key_of(j, sig) != NULL)
		return;
	k = &j->keys[j->nkeys];
	memset(k, 0, sizeof(*k));
	k->job = j;
	k->status = DNS_SERVFAIL;
	strlcpy(k->name, name, sizeof(k->name));
	j->pending++;
	if (dns_query(k->name, T_TXT, vd_key_done, k) == -1) {
		j->pending--;
		return;
	}
	j->nkeys++;
}

static void
vd_key_done(int status, struct ub_result *res, void *arg)
{
	struct vd_key	*k = arg;

	k->status = status;
	/*
	 * libopendkim cannot read an answer past its buffer: the key can
	 * never be had, whenever it is asked for (RFC 6376 6.1.2: permerror)
	 */
	if (status == DNS_OK && res != NULL &&
	    res->answer_len > VD_PACKET_MAX)
		k->toolarge = 1;
	if (res != NULL && res->answer_packet != NULL &&
	    res->answer_len > 0 && res->answer_len <= VD_PACKET_MAX &&
	    (k->pkt = malloc(res->answer_len)) != NULL) {
		memcpy(k->pkt, res->answer_packet, res->answer_len);
		k->len = res->answer_len;
	}
	k->job->pending--;
	vd_maybe_finish(k->job);
}

static void
vd_query_dmarc(struct vd_job *j, const char *domain)
{
	char	 name[256];

	if (snprintf(name, sizeof(name), "_dmarc.%s", domain) >=
	    (int)sizeof(name))
		return;
	j->dmarc_stage++;
	j->pending++;
	if (dns_query(name, T_TXT, vd_dmarc_done, j) == -1) {
		j->pending--;
		j->dmarc_temp = 1;
	}
}

/*
 * A DMARC record's version tag, RFC 7489 6.4: dmarc-version = "v" *WSP
 * "=" *WSP "DMARC1" (the tag's name in any case, the value exactly),
 * then the end, blanks or ';'.
 */
static int
vd_dmarc_version(const char *r)
{
	if (*r != 'v' && *r != 'V')
		return (0);
	r++;
	r += strspn(r, " \t");
	if (*r++ != '=')
		return (0);
	r += strspn(r, " \t");
	if (strncmp(r, "DMARC1", 6) != 0)
		return (0);
	r += 6;
	return (*r == '\0' || *r == ';' || *r == ' ' || *r == '\t');
}

/*
 * The single v=DMARC1 record among the TXT answers (RFC 7489 6.6.3);
 * *count says how many there were.
 */
static char *
vd_dmarc_record(struct ub_result *res, int *count)
{
	char	 rec[VD_DMARC_MAX], *found = NULL;
	size_t	 n, l;
	int	 i;
	u_char	*p, *end;

	*count = 0;
	for (i = 0; res->data[i] != NULL; i++) {
		p = (u_char *)res->data[i];
		end = p + res->len[i];
		n = 0;
		/*
		 * the character-strings joined, as RFC 7208 3.3 does for
		 * SPF; past VD_DMARC_MAX the record is cut after the last
		 * string that fits, never spliced from the ones after it
		 */
		while (p < end) {
			l = *p++;
			if (l > (size_t)(end - p) || n + l >= sizeof(rec))
				break;
			memcpy(rec + n, p, l);
			n += l;
			p += l;
		}
		rec[n] = '\0';
		if (strlen(rec) != n || !vd_dmarc_version(rec))
			continue;
		if ((*count)++ == 0)
			found = strdup(rec);
	}
	if (*count != 1) {
		free(found);
		return (NULL);
	}
	return (found);
}

static void
vd_dmarc_done(int status, struct ub_result *res, void *arg)
{
	struct vd_job	*j = arg;
	int		 count = 0;

	j->pending--;
	j->starting++;		/* a nested answer must not finish j */
	if (status == DNS_OK && res != NULL && res->data != NULL)
		j->dmarc = vd_dmarc_record(res, &count);
	else if (status != DNS_OK && status != DNS_NXDOMAIN &&
	    status != DNS_NODATA)
		j->dmarc_temp = 1;
	/*
	 * no record at the From: domain: its organizational domain's; two
	 * or more end the discovery there, without a policy (6.6.3 step 5)
	 */
	if (j->dmarc == NULL && count == 0 && !j->dmarc_temp &&
	    j->dmarc_stage == 1 &&
	    j->org[0] != '\0' && strcmp(j->org, j->from) != 0)
		vd_query_dmarc(j, j->org);
	j->starting--;
	vd_maybe_finish(j);
}

/*
 * Does sig's l= leave part of the body unsigned?  Content added after
 * it (RFC 6376 8.2: a whole new message, to a reader) would pass as
 * the signer's.
 */
static int
vd_sig_partial(struct vd_job *j, DKIM_SIGINFO *sig)
{
	ssize_t		 signlen;
	dkim_canon_t	 hc, bc;

	if (dkim_sig_getcanonlen(j->dkim, sig, NULL, NULL, &signlen) !=
	    DKIM_STAT_OK || signlen == (ssize_t)-1)
		return (0);
	if (dkim_sig_getcanons(sig, &hc, &bc) != DKIM_STAT_OK)
		return (1);
	return (signlen < vd_body_len(&j->body, bc));
}

static const char *
vd_sig_result(struct vd_job *j, DKIM_SIGINFO *sig)
{
	struct vd_key	*k;
	int		 err = dkim_sig_geterror(sig);
	dkim_alg_t	 alg;

	/* RFC 8301 3.1: rsa-sha1 is not used for verifying, ever */
	if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK &&
	    alg == DKIM_SIGN_RSASHA1)
		return ("permerror");

	if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) != 0 &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH &&
	    (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN)) {
		/*
		 * RFC 6376 3.6.1: a message signed with a key in testing
		 * mode (t=y) MUST NOT be treated differently from an
		 * unsigned one; RFC 8601 2.7.1's "policy": valid, not taken
		 */
		if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_TESTKEY) != 0)
			return ("policy");
		/* valid for the part it covers, not for the message */
		if (vd_sig_partial(j, sig))
			return ("policy");
		return ("pass");
	}
	switch (err) {
	case DKIM_SIGERROR_KEYFAIL:
		if ((k = vd_key_of(j, sig)) != NULL && k->toolarge)
			return ("permerror");
		return ("temperror");
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
		return ("fail");
	default:
		if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)
			return ("fail");
		return ("permerror");
	}
}

/* step 3, DKIM: the keys are here */
static void
vd_dkim(struct vd_job *j)
{
	struct envelope	*env = j->env;
	DKIM_SIGINFO	**sigs;
	int		 nsigs, i;

	env->ndkim = 0;
	if (!j->usable)
		return;
	vd_current = j;
	(void)dkim_eom(j->dkim, NULL);
	vd_current = NULL;
	if (dkim_getsiglist(j->dkim, &sigs, &nsigs) != DKIM_STAT_OK)
		return;
	for (i = 0; i < nsigs && env->ndkim < ENVELOPE_DKIM_MAX; i++) {
		struct envelope_dkim *d = &env->dkim[env->ndkim++];

		vd_word(d->domain, sizeof(d->domain),
		    dkim_sig_getdomain(sigs[i]));
		vd_word(d->selector, sizeof(d->selector),
		    dkim_sig_getselector(sigs[i]));
		strlcpy(d->result, vd_sig_result(j, sigs[i]),
		    sizeof(d->result));
	}
}

static int
vd_spf_outcome(const char *r)
{
	if (strcmp(r, "pass") == 0)
		return (DMARC_POLICY_SPF_OUTCOME_PASS);
	if (strcmp(r, "fail") == 0 || strcmp(r, "softfail") == 0)
		return (DMARC_POLICY_SPF_OUTCOME_FAIL);
	if (strcmp(r, "temperror") == 0)
		return (DMARC_POLICY_SPF_OUTCOME_TMPFAIL);
	return (DMARC_POLICY_SPF_OUTCOME_NONE);
}

static int
vd_dkim_outcome(const char *r)
{
	if (strcmp(r, "pass") == 0)
		return (DMARC_POLICY_DKIM_OUTCOME_PASS);
	if (strcmp(r, "temperror") == 0)
		return (DMARC_POLICY_DKIM_OUTCOME_TMPFAIL);
	return (DMARC_POLICY_DKIM_OUTCOME_FAIL);
}

static const char *
vd_policy_name(int p)
{
	switch (p) {
	case DMARC_RECORD_P_NONE:
		return ("none");
	case DMARC_RECORD_P_QUARANTINE:
		return ("quarantine");
	case DMARC_RECORD_P_REJECT:
		return ("reject");
	}
	return ("");
}

/* does libopendmarc take the record rec for j's From: domain? */
static int
vd_dmarc_takes(struct vd_job *j, const char *rec)
{
	DMARC_POLICY_T	*pctx;
	int		 ok;

	if ((pctx = opendmarc_policy_connect_init((u_char *)"0.0.0.0",
	    0)) == NULL)
		return (0);
	ok = opendmarc_policy_store_from_domain(pctx, (u_char *)j->from) ==
	    DMARC_PARSE_OKAY && opendmarc_policy_store_dmarc(pctx,
	    (u_char *)rec, (u_char *)j->from, j->dmarc_stage == 2 ?
	    (u_char *)j->org : NULL) == DMARC_PARSE_OKAY;
	opendmarc_policy_connect_shutdown(pctx);
	return (ok);
}

/* rec with "; tag" added if libopendmarc takes that (rec: VD_DMARC_MAX) */
static int
vd_dmarc_add(struct vd_job *j, char *rec, const char *tag)
{
	size_t	 n = strlen(rec);

	if (snprintf(rec + n, VD_DMARC_MAX - n, "; %s", tag) >=
	    (int)(VD_DMARC_MAX - n) || !vd_dmarc_takes(j, rec)) {
		rec[n] = '\0';
		return (0);
	}
	return (1);
}

/*
 * A record libopendmarc refuses as a whole for one bad tag.  RFC 7489
 * 6.3: a tag with a malformed value is ignored (its default applies);
 * 6.6.3: without a valid p= (or with an invalid sp=), a record with a
 * valid rua= is p=none, one without applies no policy (NULL here:
 * permerror).  The record is rebuilt from the tags libopendmarc takes,
 * one by one.  Malloc'd.
 */
static char *
vd_dmarc_mend(struct vd_job *j)
{
	char	 copy[VD_DMARC_MAX], rec[VD_DMARC_MAX], *tags[64], *t, *p;
	char	*ptag = NULL, *sptag = NULL, *ruatag = NULL;
	size_t	 n = 0, i, len;

	strlcpy(copy, j->dmarc, sizeof(copy));
	for (p = copy; (t = strsep(&p, ";")) != NULL && n < 64; ) {
		t += strspn(t, " \t");
		for (len = strlen(t); len > 0 && (t[len - 1] == ' ' ||
		    t[len - 1] == '\t'); len--)
			t[len - 1] = '\0';
		len = strcspn(t, " \t=");
		if (*t == '\0' || (len == 1 && strncasecmp(t, "v", 1) == 0))
			continue;
		if (len == 1 && strncasecmp(t, "p", 1) == 0)
			ptag = t;
		else if (len == 2 && strncasecmp(t, "sp", 2) == 0)
			sptag = t;
		else if (len == 3 && strncasecmp(t, "rua", 3) == 0)
			ruatag = t;
		else
			tags[n++] = t;
	}
	strlcpy(rec, "v=DMARC1", sizeof(rec));
	if (ptag == NULL || !vd_dmarc_add(j, rec, ptag) ||
	    (sptag != NULL && !vd_dmarc_add(j, rec, sptag))) {
		strlcpy(rec, "v=DMARC1", sizeof(rec));
		if (ruatag == NULL || !vd_dmarc_add(j, rec, "p=none") ||
		    !vd_dmarc_add(j, rec, ruatag))
			return (NULL);
		ruatag = NULL;
	}
	if (ruatag != NULL)
		(void)vd_dmarc_add(j, rec, ruatag);
	for (i = 0; i < n; i++)
		(void)vd_dmarc_add(j, rec, tags[i]);
	return (strdup(rec));
}

/* the policy and alignment, with a record in hand */
static const char *
vd_dmarc_eval(struct vd_job *j, DMARC_POLICY_T *pctx)
{
	struct envelope	*env = j->env;
	char		 spfd[254];
	size_t		 i;
	int		 pol, p = 0, sp = 0, pct, org = j->dmarc_stage == 2;

	if (opendmarc_policy_store_from_domain(pctx, (u_char *)j->from) !=
	    DMARC_PARSE_OKAY ||
	    opendmarc_policy_store_dmarc(pctx, (u_char *)j->dmarc,
	    (u_char *)j->from, org ? (u_char *)j->org : NULL) !=
	    DMARC_PARSE_OKAY)
		return ("permerror");
	vd_domain(spfd, sizeof(spfd), (const u_char *)env->spf_domain);
	if (spfd[0] != '\0')
		(void)opendmarc_policy_store_spf(pctx, (u_char *)spfd,
		    vd_spf_outcome(env->spf_result), env->sender[0] != '\0' ?
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM :
		    DMARC_POLICY_SPF_ORIGIN_HELO, NULL);
	for (i = 0; i < env->ndkim; i++)
		if (env->dkim[i].domain[0] != '\0')
			(void)opendmarc_policy_store_dkim(pctx,
			    (u_char *)env->dkim[i].domain,
			    (u_char *)env->dkim[i].selector,
			    vd_dkim_outcome(env->dkim[i].result), NULL);
	pol = opendmarc_get_policy_to_enforce(pctx);
	(void)opendmarc_policy_fetch_p(pctx, &p);
	(void)opendmarc_policy_fetch_sp(pctx, &sp);
	if (org && sp != 0)
		p = sp;
	/*
	 * pct= (RFC 7489 6.3, 6.6.4): a failing message outside the
	 * sample gets the next policy down, reject to quarantine,
	 * quarantine to none
	 */
	if (pol != DMARC_POLICY_PASS && opendmarc_policy_fetch_pct(pctx,
	    &pct) == DMARC_PARSE_OKAY && pct >= 0 && pct < 100 &&
	    (int)arc4random_uniform(100) >= pct)
		p = p == DMARC_RECORD_P_REJECT ? DMARC_RECORD_P_QUARANTINE :
		    DMARC_RECORD_P_NONE;
	strlcpy(env->dmarc_policy, vd_policy_name(p),
	    sizeof(env->dmarc_policy));
	switch (pol) {
	case DMARC_POLICY_PASS:
		return ("pass");
	case DMARC_POLICY_NONE:
	case DMARC_POLICY_QUARANTINE:
	case DMARC_POLICY_REJECT:
		return ("fail");
	default:
		return ("permerror");
	}
}

/* step 3, DMARC */
static void
vd_dmarc(struct vd_job *j)
{
	struct envelope	*env = j->env;
	DMARC_POLICY_T	*pctx;
	char		*mended = NULL;
	const char	*res, *ip = env->remote_ip[0] ? env->remote_ip :
			    "0.0.0.0";

	/* no single From: domain: none to align a signature with either */
	if (j->fromscan.nfrom > 1 || j->fromscan.unusable)
		j->from[0] = '\0';
	strlcpy(env->dmarc_domain, j->from, sizeof(env->dmarc_domain));
	env->dmarc_policy[0] = '\0';
	if (j->from[0] == '\0')
		res = "permerror";	/* no usable From: */
	else if (j->dmarc_temp)
		res = "temperror";
	else if (j->dmarc == NULL)
		res = "none";
	else if (!vd_dmarc_takes(j, j->dmarc) &&
	    (mended = vd_dmarc_mend(j)) == NULL)
		res = "permerror";	/* no valid p= nor rua= */
	else if ((pctx = opendmarc_policy_connect_init((u_char *)ip,
	    strchr(ip, ':') != NULL)) == NULL)
		res = "temperror";
	else {
		if (mended != NULL) {
			free(j->dmarc);
			j->dmarc = mended;
			mended = NULL;
		}
		res = vd_dmarc_eval(j, pctx);
		opendmarc_policy_connect_shutdown(pctx);
	}
	free(mended);
	strlcpy(env->dmarc_result, res, sizeof(env->dmarc_result));
}

static void
vd_free(struct vd_job *j)
{
	size_t	 i;

	for (i = 0; i < j->nkeys; i++)
		free(j->keys[i].pkt);
	if (j->dkim != NULL)
		dkim_free(j->dkim);
	free(j->dmarc);
	free(j->msg);
	free(j);
}

static void
vd_count(unsigned long *st, const char *result)
{
	size_t	 i;

	for (i = 0; i < VD_NRESULTS; i++)
		if (strcmp(result, vd_results[i]) == 0)
			st[i]++;
}

json_t *
verdict_stats(void)
{
	json_t	*dk, *dm;
	size_t	 i;

	dk = json_object();
	dm = json_object();
	for (i = 0; i < VD_NRESULTS; i++) {
		json_object_set_new(dk, vd_results[i],
		    json_integer(vd_st_dkim[i]));
		json_object_set_new(dm, vd_results[i],
		    json_integer(vd_st_dmarc[i]));
	}
	return (json_pack("{s:o, s:o}", "dkim", dk, "dmarc", dm));
}

static void
vd_finish(struct vd_job *j)
{
	struct envelope	*env = j->env;
	verdict_cb	 cb = j->cb;
	void		*arg = j->arg;
	char		*msg = j->msg;
	size_t		 i, msglen = j->msglen;
	char		 list[160];

	vd_dkim(j);
	vd_dmarc(j);
	env->auth_checked = 1;
	vd_count(vd_st_dmarc, env->dmarc_result);
	if (env->ndkim == 0)
		vd_count(vd_st_dkim, "none");
	list[0] = '\0';
	for (i = 0; i < env->ndkim; i++) {
		vd_count(vd_st_dkim, env->dkim[i].result);
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i ? "," : "", env->dkim[i].result);
	}
	log_info("msgid=%s verdict dkim=%s dmarc=%s policy=%s from=%s",
	    env->id, list[0] ? list : "none", env->dmarc_result,
	    env->dmarc_policy[0] ? env->dmarc_policy : "-",
	    env->dmarc_domain[0] ? env->dmarc_domain : "-");
	j->msg = NULL;
	vd_free(j);
	if (cb != NULL)
		cb(arg, msg, msglen);
	else
		free(msg);
}

static void
vd_maybe_finish(struct vd_job *j)
{
	if (j->pending == 0 && !j->starting)
		vd_finish(j);
}

static struct vd_job *
vd_job_new(struct envelope *env)
{
	struct vd_job	*j;
	DKIM_STAT	 st;

	if (vd_lib == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return (NULL);
	j->env = env;
	j->fromscan.bol = 1;
	j->body.bol = 1;
	j->dkim = dkim_verify(vd_lib, (const u_char *)env->id, NULL, &st);
	if (j->dkim == NULL) {
		free(j);
		return (NULL);
	}
	return (j);
}

/*
 * The organizational domain (RFC 7489 3.2): one label below the longest
 * public suffix; a domain under a suffix the list does not know takes
 * its last label as the suffix (the PSL's default rule "*").
 */
static void
vd_orgdomain(const char *domain, char *org, size_t size)
{
	const char	*p;

	org[0] = '\0';
	if (vd_psl && (opendmarc_get_tld((u_char *)domain, (u_char *)org,
	    size) != 0 || strchr(org, '.') == NULL))
		org[0] = '\0';
	if (org[0] != '\0')
		return;
	if ((p = strrchr(domain, '.')) == NULL)
		return;
	while (p > domain && p[-1] != '.')
		p--;
	strlcpy(org, p, size);
}

/*
 * A domain as DMARC looks it up and compares it: an internationalized
 * one (an SMTPUTF8 message's a@b\xc3\xbccher.example, in From: or MAIL
 * FROM) in A-labels, as DNS knows it and as its signatures' d= name it
 * (RFC 8616 4, 5); a fully qualified one (a@bank.example.) without its
 * last dot, the name it is to DNS: its policy applies.
 */
static void
vd_domain(char *dst, size_t size, const u_char *src)
{
	char		 a[256];

	dst[0] = '\0';
	if (src != NULL && dns_domain_ascii((const char *)src, a,
	    sizeof(a)) != -1)
		vd_word(dst, size, (const u_char *)a);
}

/* after step 1: what to look up */
static void
vd_targets(struct vd_job *j, int dns)
{
	DKIM_SIGINFO	**sigs;
	int		 nsigs, i;

	if (j->usable && dkim_getsiglist(j->dkim, &sigs, &nsigs) ==
	    DKIM_STAT_OK && dns)
		for (i = 0; i < nsigs && i < ENVELOPE_DKIM_MAX; i++)
			vd_query_key(j, sigs[i]);
	vd_domain(j->from, sizeof(j->from), dkim_getdomain(j->dkim));
	if (j->from[0] == '\0')
		return;
	vd_orgdomain(j->from, j->org, sizeof(j->org));
	if (dns)
		vd_query_dmarc(j, j->from);
}

int
verdict_start(int fd, struct envelope *env, verdict_cb cb, void *arg)
{
	struct vd_job	*j;

	if ((j = vd_job_new(env)) == NULL)
		return (-1);
	j->cb = cb;
	j->arg = arg;
	j->starting = 1;
	vd_feed(j, fd);
	vd_targets(j, 1);
	j->starting = 0;
	vd_maybe_finish(j);
	return (0);
}

void
verdict_fuzz(const unsigned char *data, size_t len, struct envelope *env)
{
	struct vd_job	*j;
	DKIM_STAT	 st;

	if ((j = vd_job_new(env)) == NULL)
		return;
	j->starting = 1;
	vd_from_scan(&j->fromscan, data, len);
	vd_body_scan(&j->body, data, len);
	st = dkim_chunk(j->dkim, (u_char *)data, len);
	if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG) {
		st = dkim_chunk(j->dkim, NULL, 0);
		j->usable = st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG;
	}
	vd_targets(j, 0);
	j->starting = 0;
	vd_maybe_finish(j);
}

/*
 * Is d= aligned with the From: domain?  RFC 7489 3.1.1, relaxed mode
 * (DMARC's default): the same organizational domain.
 */
static int
vd_aligned(const char *sdid, const char *from)
{
	char	 o1[254], o2[254];

	if (sdid[0] == '\0' || from[0] == '\0')
		return (0);
	if (strcasecmp(sdid, from) == 0)
		return (1);
	vd_orgdomain(sdid, o1, sizeof(o1));
	vd_orgdomain(from, o2, sizeof(o2));
	return (o1[0] != '\0' && strcasecmp(o1, o2) == 0);
}

/* a passing signature aligned with the From: domain */
static int
vd_dkim_aligned_pass(const struct envelope *env)
{
	size_t	 i;

	for (i = 0; i < env->ndkim && i < ENVELOPE_DKIM_MAX; i++)
		if (strcmp(env->dkim[i].result, "pass") == 0 &&
		    vd_aligned(env->dkim[i].domain, env->dmarc_domain))
			return (1);
	return (0);
}

const char *
verdict_dkim(const struct envelope *env)
{
	size_t	 i;
	int	 temp = 0;

	if (env->ndkim == 0)
		return ("none");
	if (vd_dkim_aligned_pass(env))
		return ("pass");
	for (i = 0; i < env->ndkim && i < ENVELOPE_DKIM_MAX; i++)
		if (strcmp(env->dkim[i].result, "temperror") == 0 &&
		    vd_aligned(env->dkim[i].domain, env->dmarc_domain))
			temp = 1;
	return (temp ? "temperror" : "fail");
}

int
verdict_meets(const struct envelope *env, int require)
{
	if (require == 0)
		return (1);
	if (!env->auth_checked)
		return (0);
	if ((require & REQUIRE_DKIM) && !vd_dkim_aligned_pass(env))
		return (0);
	if ((require & REQUIRE_DMARC) &&
	    strcmp(env->dmarc_result, "pass") != 0)
		return (0);
	return (1);
}

/*
 * Could a later attempt meet require, unmet now?  Each unmet part rests
 * on a look-up that failed for now: dmarc=temperror, the key of a
 * signature aligned with From: (temperror), or, for DMARC, SPF's
 * temperror for an aligned MAIL FROM.  DMARC none (no record found) or
 * permerror (no usable From: or record) is final whatever SPF and the
 * keys say later.
 */
int
verdict_temporary(const struct envelope *env, int require)
{
	char	 spfd[254];
	size_t	 i;
	int	 dkim = 0, spf;

	if (!env->auth_checked)
		return (0);
	for (i = 0; i < env->ndkim && i < ENVELOPE_DKIM_MAX; i++)
		if (strcmp(env->dkim[i].result, "temperror") == 0 &&
		    vd_aligned(env->dkim[i].domain, env->dmarc_domain))
			dkim = 1;
	vd_domain(spfd, sizeof(spfd), (const u_char *)env->spf_domain);
	spf = strcmp(env->spf_result, "temperror") == 0 &&
	    vd_aligned(spfd, env->dmarc_domain);
	if ((require & REQUIRE_DKIM) && !vd_dkim_aligned_pass(env) && !dkim)
		return (0);
	if ((require & REQUIRE_DMARC) &&
	    strcmp(env->dmarc_result, "pass") != 0 &&
	    strcmp(env->dmarc_result, "temperror") != 0 &&
	    ((!dkim && !spf) || strcmp(env->dmarc_result, "none") == 0 ||
	    strcmp(env->dmarc_result, "permerror") == 0))
		return (0);
	return (1);
}

/* past CFWS (RFC 5322 3.2.2): blanks, line folds and nested comments */
static const char *
vd_skip_cfws(const char *p, const char *end)
{
	int	 depth = 0;

	for (; p < end; p++) {
		if (depth > 0 && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t' &&
		    *p != '\r' && *p != '\n')
			break;
	}
	return (p);
}

/* does the field value [p, end) start with authserv-id? */
static int
vd_ar_ours(const char *p, const char *end, const char *authserv)
{
	char	 id[sizeof(vd_authserv)];
	size_t	 n = 0, alen;
	int	 quoted;

	p = vd_skip_cfws(p, end);
	if ((quoted = p < end && *p == '"'))
		p++;
	for (; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (quoted ? *p == '"' : (*p == ' ' || *p == '\t' ||
		    *p == ';' || *p == '(' || *p == '\r' || *p == '\n'))
			break;
		if (n + 1 >= sizeof(id))
			return (0);
		id[n++] = *p;
	}
	/* "mx.test." is the name mx.test too, either way */
	if (n > 1 && id[n - 1] == '.')
		n--;
	if ((alen = strlen(authserv)) > 1 && authserv[alen - 1] == '.')
		alen--;
	return (n == alen && strncasecmp(id, authserv, n) == 0);
}

/* the end of the header field at p (past its continuation lines) */
static char *
vd_field_end(char *p, char *end)
{
	char	*nl;

	while ((nl = memchr(p, '\n', end - p)) != NULL) {
		p = nl + 1;
		if (p == end || (*p != ' ' && *p != '\t'))
			return (p);
	}
	return (end);
}

size_t
verdict_ar_strip(char *buf, size_t len, const char *authserv)
{
	static const char	 name[] = "Authentication-Results";
	char			*p = buf, *end = buf + len, *f, *v;

	if (authserv == NULL)
		authserv = vd_authserv;
	while (p < end && *p != '\r' && *p != '\n') {
		f = vd_field_end(p, end);
		v = p + sizeof(name) - 1;
		if ((size_t)(f - p) >= sizeof(name) &&
		    strncasecmp(p, name, sizeof(name) - 1) == 0) {
			while (v < f && (*v == ' ' || *v == '\t'))
				v++;
			if (v < f && *v == ':' &&
			    vd_ar_ours(v + 1, f, authserv)) {
				memmove(p, f, end - f);
				end -= f - p;
				continue;
			}
		}
		p = f;
	}
	return (end - buf);
}

const char *
verdict_authserv(void)
{
	return (vd_authserv);
}

/* one word of a verdict, safe in a header: a known result, or "none" */
static const char *
vd_result_word(const char *r)
{
	static const char *ok[] = { "pass", "fail", "softfail", "neutral",
	    "none", "temperror", "permerror", "policy" };
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(r, ok[i]) == 0)
			return (ok[i]);
	return ("none");
}

char *
verdict_ar_header(const struct envelope *env, const char *eol)
{
	struct evbuffer	*b;
	char		 w[254], helo[254];
	size_t		 i;
	int		 bad = 0;

	if (!env->auth_checked || (b = evbuffer_new()) == NULL)
		return (NULL);
	vd_domain(w, sizeof(w), (const u_char *)env->spf_domain);
	vd_word(helo, sizeof(helo), (const u_char *)env->helo);
	bad |= evbuffer_add_printf(b, "Authentication-Results: %s;%s\tspf=%s",
	    vd_authserv, eol, vd_result_word(env->spf_result)) < 0;
	/* a sender at an address literal has no domain to name */
	if (w[0] != '\0')
		bad |= evbuffer_add_printf(b, " smtp.%s=%s",
		    env->sender[0] != '\0' ? "mailfrom" : "helo", w) < 0;
	else if (helo[0] != '\0' && env->sender[0] == '\0')
		bad |= evbuffer_add_printf(b, " smtp.helo=%s", helo) < 0;
	for (i = 0; i < env->ndkim; i++) {
		bad |= evbuffer_add_printf(b, ";%s\tdkim=%s", eol,
		    vd_result_word(env->dkim[i].result)) < 0;
		if (strcmp(env->dkim[i].result, "policy") == 0)
			bad |= evbuffer_add_printf(b, " (not taken: key in "
			    "testing mode, t=y, or body past l=)") < 0;
		if (env->dkim[i].domain[0] != '\0')
			bad |= evbuffer_add_printf(b, " header.d=%s",
			    env->dkim[i].domain) < 0;
		if (env->dkim[i].selector[0] != '\0')
			bad |= evbuffer_add_printf(b, " header.s=%s",
			    env->dkim[i].selector) < 0;
	}
	if (env->ndkim == 0)
		bad |= evbuffer_add_printf(b, ";%s\tdkim=none", eol) < 0;
	vd_word(w, sizeof(w), (const u_char *)env->dmarc_domain);
	bad |= evbuffer_add_printf(b, ";%s\tdmarc=%s", eol,
	    vd_result_word(env->dmarc_result)) < 0;
	vd_word(helo, sizeof(helo), (const u_char *)env->dmarc_policy);
	if (helo[0] != '\0')
		bad |= evbuffer_add_printf(b, " (p=%s)", helo) < 0;
	if (w[0] != '\0')
		bad |= evbuffer_add_printf(b, " header.from=%s", w) < 0;
	bad |= evbuffer_add_printf(b, "%s", eol) < 0;
	return (evbuf_finish(b, bad, NULL));
}

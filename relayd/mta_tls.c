/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The TLS side of relayd's SMTP client (mta.c): which policy an attempt
 * is under (DANE, MTA-STS, tls policy, limit), whether it may go on in
 * plain text, the libtls configuration of its handshake, the verdict on
 * the peer once it is done, and what TLS-RPT counts of it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <tls.h>

#include "log.h"
#include "relayd.h"
#include "dns.h"
#include "mta.h"

static struct tls_config *tlscfg_noverify, *tlscfg_verify;

/* the two libtls configurations; the CA bundle of the current config */
int
mtls_init(void)
{
	if (tlscfg_noverify == NULL) {
		if ((tlscfg_noverify = tls_config_new()) == NULL ||
		    (tlscfg_verify = tls_config_new()) == NULL)
			return (-1);
		tls_config_insecure_noverifycert(tlscfg_noverify);
		tls_config_insecure_noverifyname(tlscfg_noverify);
		tls_config_set_protocols(tlscfg_noverify, TLS_PROTOCOLS_ALL);
	}
	if (relay_conf->cabundle_data != NULL && tls_config_set_ca_mem(
	    tlscfg_verify, (const uint8_t *)relay_conf->cabundle_data,
	    relay_conf->cabundle_len) == -1)
		log_warnx("tls verify: %s", tls_config_error(tlscfg_verify));
	dane_pkix_reset();
	return (0);
}

/*
 * TLS-RPT: how this attempt went under DANE or MTA-STS (NULL: well); a
 * smart host's TLSA records are not the recipient domain's policy.  The
 * MX host is named as in the MX record (RFC 8460 4.4), not by the CNAME
 * target its TLSA records may come from (c->canon).
 */
void
mtls_report(const struct mconn *c, const char *failtype)
{
	size_t	 h = c->addr_host[c->acur];

	if ((c->dane || c->sts_on) && !c->smarthost)
		tlsrpt_session(c->domain, c->dane ? NULL : &c->sts,
		    c->dane ? c->tlsa[h] : NULL, c->hosts[h], failtype);
}

/*
 * RFC 8460 4.3.2.2's result type of a failed handshake, from libtls's
 * error: its own name check, or OpenSSL's verification (X509 error
 * string after "certificate verification failed: ").
 */
const char *
mtls_handshake_failtype(const char *tlserr)
{
	if (strstr(tlserr, "not present") != NULL)
		return ("certificate-host-mismatch");
	if (strstr(tlserr, "certificate verification failed") == NULL)
		return ("validation-failure");
	if (strstr(tlserr, "expired") != NULL ||
	    strstr(tlserr, "not yet valid") != NULL)
		return ("certificate-expired");
	if (strstr(tlserr, "issuer") != NULL ||
	    strstr(tlserr, "self-signed") != NULL ||
	    strstr(tlserr, "self signed") != NULL ||
	    strstr(tlserr, "unable to verify") != NULL)
		return ("certificate-not-trusted");
	return ("validation-failure");
}

/* MTA-STS enforce: TLS, verified for the MX name */
static int
mtls_sts_enforce(const struct mconn *c)
{
	return (c->sts_on && c->sts.mode == STS_ENFORCE);
}

/*
 * no plain text for this attempt: DANE, validated TLSA records (usable
 * or not, RFC 7672 2.2), MTA-STS, tls policy verify, limit
 */
int
mtls_mandatory(const struct mconn *c)
{
	return (c->tls_require || c->tls_verify || c->dane ||
	    c->tlsa[c->addr_host[c->acur]] != NULL ||
	    c->policy == TLSP_VERIFY || mtls_sts_enforce(c));
}

/* the certificate is checked against the CA bundle (DANE does its own) */
int
mtls_pkix(const struct mconn *c)
{
	return (!c->dane && (c->tls_verify || c->policy == TLSP_VERIFY ||
	    mtls_sts_enforce(c)));
}

/* the job's events tell how its current attempt uses TLS */
void
mtls_sync(struct mconn *c)
{
	if (c->job != NULL)
		c->job->tls = c->evtls;
}

/* a new attempt: the policy that applies to it, the host */
void
mtls_attempt(struct mconn *c, const char *host)
{
	const char	*p;

	memset(&c->evtls, 0, sizeof(c->evtls));
	c->evtls.present = 1;
	strlcpy(c->evtls.mx, host, sizeof(c->evtls.mx));
	if (c->dane)
		p = "dane";
	else if (c->sts_on)
		p = "mta-sts";
	else if (mtls_pkix(c))
		p = "verify";
	else if (c->policy == TLSP_NONE && !mtls_mandatory(c))
		p = "none";
	else
		p = "opportunistic";
	strlcpy(c->evtls.policy, p, sizeof(c->evtls.policy));
	mtls_sync(c);
}

/*
 * MTA-STS testing (RFC 8461 5): the checks of enforce, reported and not
 * enforced.  NULL if they pass, else the TLS-RPT result type.
 */
static const char *
mtls_sts_testing(const struct mconn *c)
{
	const char	*why;

	if (!c->sts_on || c->sts.mode != STS_TESTING)
		return (NULL);
	if ((why = c->sts_fail) == NULL)
		why = dane_pkix_check(c->tls, c->hosts[c->addr_host[c->acur]]);
	if (why != NULL)
		log_warnx("mta-sts testing: %s: MX %s: %s; delivered all the "
		    "same", c->domain, c->hosts[c->addr_host[c->acur]], why);
	return (why);
}

/*
 * The server offers no STARTTLS: -1 if this attempt must end (reported),
 * 0 to go on in plain text (MTA-STS testing reports it).
 */
int
mtls_no_starttls(struct mconn *c)
{
	if (mtls_mandatory(c)) {
		mtls_report(c, "starttls-not-supported");
		/* RFC 3463 X.7.4 "security features not supported", as
		 * Postfix's "TLS is required, but was not offered" */
		conn_retry_next(c, "4.7.4", "TLS required but STARTTLS not "
		    "offered");
		return (-1);
	}
	if (c->sts_on)
		mtls_report(c, "starttls-not-supported");
	return (0);
}

/* after the handshake: DANE's verdict, the key for the event; -1 refused */
int
mtls_check_peer(struct mconn *c)
{
	size_t		 h = c->addr_host[c->acur];
	const char	*v;
	int		 ok;

	if ((v = tls_conn_version(c->tls)) != NULL)
		strlcpy(c->evtls.version, v, sizeof(c->evtls.version));
	if ((v = tls_conn_cipher(c->tls)) != NULL)
		strlcpy(c->evtls.cipher, v, sizeof(c->evtls.cipher));
	if (!c->dane || c->tlsa[h]->n == 0) {
		(void)dane_check(c->tls, NULL, c->hosts[h], c->evtls.spki,
		    sizeof(c->evtls.spki));
		c->evtls.verified = mtls_pkix(c);
		mtls_sync(c);
		mtls_report(c, mtls_sts_testing(c));
		return (0);
	}
	/* RFC 7672 3.2.2: records of the expanded name name either */
	ok = dane_check(c->tls, c->tlsa[h], c->hosts[h], c->evtls.spki,
	    sizeof(c->evtls.spki)) || (c->tlsa_canon[h] && dane_check(c->tls,
	    c->tlsa[h], c->canon[h], c->evtls.spki, sizeof(c->evtls.spki)));
	c->evtls.verified = ok;
	mtls_sync(c);
	mtls_report(c, ok ? NULL : "tlsa-invalid");
	if (!ok) {
		conn_retry_next(c, "4.7.5", "DANE: the certificate of %s "
		    "matches none of its TLSA records", c->hosts[h]);
		return (-1);
	}
	return (0);
}

/*
 * The name sent in the handshake (SNI; libtls checks it too when it
 * verifies): under DANE the TLSA base domain (RFC 7672 3.2.2, 8.1), the
 * CNAME-expanded name when the records were found there; else the MX
 * host as in the MX record (MTA-STS matches that name, RFC 8461 4.1).
 */
static const char *
mtls_sni(const struct mconn *c)
{
	size_t	 h = c->addr_host[c->acur];

	if (c->dane && c->tlsa[h] != NULL && c->tlsa_canon[h])
		return (c->canon[h]);
	return (c->hosts[h]);
}

void
mtls_start(struct mconn *c)
{
	size_t	 left;

	/*
	 * What came after the 220 to STARTTLS came before TLS: never part of
	 * the protected session (RFC 3207 4.2; a man in the middle's
	 * injected replies would answer the EHLO and commands after it).
	 */
	if (c->greeted && (left = evbuffer_get_length(c->in)) > 0) {
		log_warnx("mta %s: %s: %zu bytes after the reply to STARTTLS "
		    "discarded", c->domain, c->peer, left);
		evbuffer_drain(c->in, left);
	}
	if ((c->tls = tls_client()) == NULL ||
	    tls_configure(c->tls, mtls_pkix(c) ? tlscfg_verify :
	    tlscfg_noverify) == -1 ||
	    tls_connect_socket(c->tls, c->fd, mtls_sni(c)) == -1) {
		conn_fail(c, 0, "4.7.5", "TLS setup: %s",
		    c->tls ? tls_error(c->tls) : "no memory");
		return;
	}
	c->state = M_HANDSHAKE;
	want_write(c);
}

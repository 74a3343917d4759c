/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The signer's engine (sign.c): the DKIM keys it was given and the
 * signatures it makes with libopendkim.  signer.c wires it to imsg; the
 * sandbox test drives it directly under the signer's filter.
 */
#ifndef MH_SIGNER_H
#define MH_SIGNER_H

#include <stddef.h>

#include <jansson.h>

/* before the sandbox: OpenSSL's config, libopendkim */
void	 signer_init(void);
/* forget every key (the parent sends the whole set again) */
void	 signer_keys_reset(void);
/* a key for domain/selector; an unusable one is kept to say why; 0 */
int	 signer_key_add(const char *domain, const char *selector,
	    const char *file, const char *pem, size_t len);
/*
 * sign the message on fd for d=domain: its CRLF ended header lines in
 * out (*outlen bytes, not NUL terminated); -1 and why
 */
int	 signer_sign(int fd, const char *domain, char *out, size_t outsize,
	    size_t *outlen, char *why, size_t whylen);
/* "mhctl dkim show [DOMAIN]": the records to publish */
json_t	*signer_show(const char *domain);
json_t	*signer_stats(void);

#endif /* MH_SIGNER_H */

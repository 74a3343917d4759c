/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The SMTP engine (smtp.c, smtp_session.c, smtp_cmd.c): every listener,
 * every session.  It runs in the confined smtpd process and knows nothing
 * of imsg: it asks the backend (smtp_backend.h) and is answered through
 * smtp_*_verdict().
 */
#ifndef MH_SMTP_H
#define MH_SMTP_H

#include <event2/event.h>
#include <jansson.h>

#include "mailhook.h"

/* TLS keypairs come from conf->pkis (PEM in memory); before the sandbox */
int	smtp_init(struct event_base *, const struct config *);
/* a new config (reload): sessions that start afterwards use it */
int	smtp_configure(const struct config *);
/* accept sessions on a bound, listening socket */
int	smtp_listen(int fd, uint32_t listener_id);
void	smtp_pause(int);		/* 1: stop accepting, 0: resume */
/* close listeners, end sessions with 421 */
void	smtp_shutdown(void);
/* a stop: 421 to new clients, and to sessions now or once a pending
 * answer is given; both return the sessions left */
int	smtp_stop(void);
int	smtp_sessions(void);
json_t	*smtp_stats(void);		/* sessions, per-state counts, totals */
/*
 * limit greeting-delay (ms; input before the banner is refused; default
 * 0), limit session-timeout (total session time in seconds, default 3600)
 * and limit errors (protocol errors before "421", default 10); smtpd.c
 * applies them from every config; < 0 keeps a value
 */
void	smtp_tune(int greet_delay_ms, int session_timeout, int max_errors);

/* answers from the backend, matched by reqid; unknown ids are ignored */
void	smtp_rcpt_verdict(const struct authd_rcpt_res *);
void	smtp_auth_verdict(const struct authd_auth_res *);
void	smtp_spool_fd(int owner, const struct spool_fd *, int fd);
void	smtp_spool_result(int owner, const struct spool_result *);

#endif /* MH_SMTP_H */

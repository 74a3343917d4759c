/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * libFuzzer target: arbitrary bytes through the SMTP command line
 * splitter, the command/path/parameter parsers and the DATA and BDAT
 * state machines (smtpd/smtp_parse.c), exactly as a session drives them.
 *
 * Invariants checked: a line handed out never contains CR or LF unless
 * flagged; an unstuffed DATA line from an error-free message ends in CRLF
 * with no other CR or LF; DATA ends only on "CRLF . CRLF"; parsed
 * addresses and parameters are NUL-terminated and free of controls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

struct sink {
	size_t	 bytes;
};

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
sink_out(void *arg, const char *p, size_t len)
{
	struct sink	*s = arg;
	size_t		 i;

	check(len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n');
	for (i = 0; i + 2 < len; i++)
		check(p[i] != '\r' && p[i] != '\n');
	s->bytes += len;
}

static void
clean(const char *s)
{
	for (; *s != '\0'; s++)
		check((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
command(char *line)
{
	char			*args, addr[MH_ADDR_MAX], *params;
	struct mail_params	 mp;
	struct rcpt_params	 rp;
	const char		*err;
	size_t			 size;
	int			 verb, last, e;

	verb = smtp_cmd_parse(line, &args);
	(void)smtp_cmd_name(verb);
	switch (verb) {
	case CMD_MAIL:
	case CMD_RCPT:
		e = smtp_parse_path(args, verb == CMD_MAIL ? "FROM:" : "TO:",
		    addr, sizeof(addr), 1, &params);
		if (e != ADDR_OK)
			return;
		check(strlen(addr) < sizeof(addr));
		if (smtp_addr_valid(addr, 1) == ADDR_OK)
			clean(addr);
		(void)smtp_addr_valid(addr, 0);
		if (verb == CMD_MAIL) {
			if (smtp_mail_params(params, &mp, &err) == 0)
				clean(mp.envid);
		} else if (smtp_rcpt_params(params, strlen(addr) & 1, &rp,
		    &err) == 0)	/* with and without SMTPUTF8 */
			clean(rp.orcpt);
		break;
	case CMD_BDAT:
		(void)smtp_bdat_args(args, &size, &last);
		break;
	case CMD_EHLO:
	case CMD_HELO:
		(void)smtp_domain_valid(args, 1);
		break;
	default:
		break;
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*buf = (const char *)data;
	char			 line[SMTP_AUTH_LINE_MAX + 1];
	struct data_parser	 dp;
	struct bdat_checker	 bc;
	struct hop_counter	 h1, h2;
	struct sink		 sk;
	size_t			 off = 0, ll, c, n;
	int			 r, fl, skipping = 0, in_data = 0, verb;
	char			*args;

	memset(&bc, 0, sizeof(bc));
	bdat_check(&bc, buf, size);
	bdat_check_end(&bc);
	/* the Received: count does not depend on where chunks end */
	memset(&h1, 0, sizeof(h1));
	memset(&h2, 0, sizeof(h2));
	hops_scan(&h1, buf, size);
	for (n = 0; n < size; n++)
		hops_scan(&h2, buf + n, 1);
	check(h1.hops == h2.hops && h1.body == h2.body);

	while (off < size) {
		if (in_data) {
			c = data_parser_feed(&dp, buf + off, size - off);
			check(c <= size - off);
			if (dp.done) {
				/* the final dot line is exactly ".\r\n" */
				check(off + c >= 3 &&
				    memcmp(buf + off + c - 3, ".\r\n", 3) == 0);
				in_data = 0;
			} else
				check(c == size - off || c + SMTP_TEXT_MAX >=
				    size - off);
			off += c;
			if (in_data)
				break;
			continue;
		}
		if (skipping) {
			r = smtp_line_skip(buf + off, size - off, LMODE_CMD, &c);
			off += c;
			if (!r)
				break;
			skipping = 0;
			continue;
		}
		r = smtp_line_scan(buf + off, size - off, SMTP_CMD_MAX,
		    LMODE_CMD, &ll, &c, &fl);
		if (r == LINE_MORE)
			break;
		if (r == LINE_LONG) {
			skipping = 1;
			continue;
		}
		check(ll + 2 <= SMTP_CMD_MAX && c >= ll + 1);
		memcpy(line, buf + off, ll);
		line[ll] = '\0';
		off += c;
		if (!(fl & (LN_BARE_CR | LN_BARE_LF)))
			check(memchr(line, '\r', ll) == NULL &&
			    memchr(line, '\n', ll) == NULL);
		if (fl)
			continue;
		n = strlen(line);
		verb = smtp_cmd_parse(line, &args);
		if (verb == CMD_DATA) {
			memset(&sk, 0, sizeof(sk));
			data_parser_init(&dp, 4096, sink_out, &sk);
			in_data = 1;
			continue;
		}
		line[n] = '\0';
		command(line);
	}
	return (0);
}

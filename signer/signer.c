/*
 * The signer process: it holds the DKIM private keys and nothing else.
 *
 * The parent reads the keys (dkim ... key FILE) and sends them here only
 * (IMSG_SIGNER_RESET, then one IMSG_SIGNER_KEY each, at start and every
 * reload).  relayd, which owns outbound content, sends a read-only fd of
 * a submitted message with the d= domain (IMSG_SIGN_REQ); the answer is
 * one DKIM-Signature header per key of that domain (IMSG_SIGN_RES),
 * made by libopendkim: relaxed/relaxed, RSA-SHA256 or Ed25519-SHA256.
 * Chrooted to an empty directory, no network and no open(2) (sandbox.c).
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <opendkim/dkim.h>

#include "child.h"
#include "dkimkey.h"
#include "log.h"

#define SIGN_CHUNK	(64 * 1024)
#define KEYS_MAX	64

struct skey {
	TAILQ_ENTRY(skey)	 entry;
	char			 domain[MH_NAME_MAX];
	char			 selector[MH_NAME_MAX];
	char			 file[MH_PATH_MAX];
	int			 type;		/* enum dkimkey_type */
	char			*pem;		/* NUL terminated, for libopendkim */
	size_t			 pemlen;
	EVP_PKEY		*pk;		/* NULL: unusable, why says why */
	char			 why[128];
};
TAILQ_HEAD(skeylist, skey);

static struct skeylist	 keys = TAILQ_HEAD_INITIALIZER(keys);
static int		 nkeys;
static DKIM_LIB		*lib;
static unsigned char	*chunk;

static struct {
	unsigned long long	 signed_msgs;
	unsigned long long	 sigs[2];	/* per enum dkimkey_type */
	unsigned long long	 failed;
	double			 cpu;		/* seconds spent signing */
} stats;

/* RFC 6376 5.4.1 and the list; From is over-signed */
static const char *sign_hdrs[] = {
	"from", "to", "cc", "subject", "date", "message-id", "mime-version",
	"content-type", "content-transfer-encoding", "reply-to",
	"in-reply-to", "references", "sender", "list-id", "list-unsubscribe",
	"list-unsubscribe-post", NULL
};
static const char *oversign_hdrs[] = { "from", NULL };

static void
key_free(struct skey *k)
{
	if (k->pem != NULL) {
		explicit_bzero(k->pem, k->pemlen);
		free(k->pem);
	}
	EVP_PKEY_free(k->pk);
	free(k);
}

static void
keys_reset(void)
{
	struct skey	*k;

	while ((k = TAILQ_FIRST(&keys)) != NULL) {
		TAILQ_REMOVE(&keys, k, entry);
		key_free(k);
	}
	nkeys = 0;
}

static void
key_add(struct mproc *p, struct imsg *imsg)
{
	struct signer_key	 sk;
	struct skey		*k;
	size_t			 len = IMSG_DATA_SIZE(imsg);

	if (len <= sizeof(sk) || len - sizeof(sk) > 64 * 1024)
		fatalx("signer: malformed SIGNER_KEY from %s", p->name);
	memcpy(&sk, imsg->data, sizeof(sk));
	if (!msg_str_ok(sk.domain, sizeof(sk.domain)) ||
	    !msg_str_ok(sk.selector, sizeof(sk.selector)) ||
	    !msg_str_ok(sk.file, sizeof(sk.file)) ||
	    config_check_domain(sk.domain) == -1 || nkeys >= KEYS_MAX)
		fatalx("signer: malformed SIGNER_KEY from %s", p->name);
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->pem = malloc(len - sizeof(sk) + 1)) == NULL)
		fatal("signer: key");
	strlcpy(k->domain, sk.domain, sizeof(k->domain));
	strlcpy(k->selector, sk.selector, sizeof(k->selector));
	strlcpy(k->file, sk.file, sizeof(k->file));
	k->pemlen = len - sizeof(sk);
	memcpy(k->pem, (char *)imsg->data + sizeof(sk), k->pemlen);
	k->pem[k->pemlen] = '\0';
	explicit_bzero((char *)imsg->data + sizeof(sk), k->pemlen);
	k->pk = dkimkey_load(k->pem, k->pemlen, &k->type, k->why,
	    sizeof(k->why));
	if (k->pk == NULL)
		log_warnx("dkim key \"%s\" (%s, selector %s) is unusable: %s; "
		    "mail from %s stays queued", k->file, k->domain,
		    k->selector, k->why, k->domain);
	else
		log_info("dkim key for %s selector %s: %s", k->domain,
		    k->selector, dkimkey_type_name(k->type));
	TAILQ_INSERT_TAIL(&keys, k, entry);
	nkeys++;
}

static void
signer_parent(struct mproc *p, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case IMSG_SIGNER_RESET:
		if (IMSG_DATA_SIZE(imsg) != 0)
			fatalx("signer: malformed SIGNER_RESET");
		keys_reset();
		return;
	case IMSG_SIGNER_KEY:
		key_add(p, imsg);
		return;
	}
	fatalx("signer: unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

/* libopendkim folds with LF: the message and our queue use CRLF */
static int
append_header(FILE *fp, const char *h)
{
	fputs("DKIM-Signature: ", fp);
	for (; *h != '\0'; h++) {
		if (*h == '\r')
			continue;
		if (*h == '\n')
			fputc('\r', fp);
		fputc(*h, fp);
	}
	fputs("\r\n", fp);
	return (ferror(fp) ? -1 : 0);
}

/*
 * Sign the message on fd with every key of domain; the header lines are
 * written to fp.  0 ok, -1 with why.
 */
static int
sign_message(int fd, const char *domain, FILE *fp, char *why, size_t wlen)
{
	DKIM		*d[KEYS_MAX];
	struct skey	*k, *ks[KEYS_MAX];
	DKIM_STAT	 st;
	unsigned char	*h;
	size_t		 n = 0, i, hlen;
	off_t		 off = 0;
	ssize_t		 r;
	int		 rv = -1;

	TAILQ_FOREACH(k, &keys, entry) {
		if (strcasecmp(k->domain, domain) != 0)
			continue;
		if (k->pk == NULL) {
			snprintf(why, wlen, "dkim key \"%.100s\" is unusable: %.120s",
			    k->file, k->why);
			return (-1);
		}
		ks[n++] = k;
	}
	if (n == 0) {
		snprintf(why, wlen, "no dkim key for %.200s", domain);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		d[i] = dkim_sign(lib, (const u_char *)"mailhook", NULL,
		    (dkim_sigkey_t)ks[i]->pem, (const u_char *)ks[i]->selector,
		    (const u_char *)ks[i]->domain, DKIM_CANON_RELAXED,
		    DKIM_CANON_RELAXED, ks[i]->type == DKIMKEY_ED25519 ?
		    DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
		if (d[i] == NULL) {
			snprintf(why, wlen, "dkim_sign: %s", dkim_getresultstr(st));
			goto done;
		}
	}
	for (;;) {
		r = pread(fd, chunk, SIGN_CHUNK, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(why, wlen, "read: %s", strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		off += r;
		for (i = 0; i < n; i++)
			if ((st = dkim_chunk(d[i], chunk, r)) != DKIM_STAT_OK) {
				snprintf(why, wlen, "dkim_chunk: %s",
				    dkim_geterror(d[i]) ? dkim_geterror(d[i]) :
				    dkim_getresultstr(st));
				goto done;
			}
	}
	for (i = 0; i < n; i++) {
		if ((st = dkim_chunk(d[i], NULL, 0)) != DKIM_STAT_OK ||
		    (st = dkim_eom(d[i], NULL)) != DKIM_STAT_OK ||
		    (st = dkim_getsighdr_d(d[i], strlen("DKIM-Signature: "),
		    &h, &hlen)) != DKIM_STAT_OK) {
			snprintf(why, wlen, "signing with \"%.100s\": %.120s",
			    ks[i]->file, dkim_geterror(d[i]) ?
			    dkim_geterror(d[i]) : dkim_getresultstr(st));
			goto done;
		}
		if (append_header(fp, (const char *)h) == -1) {
			snprintf(why, wlen, "out of memory");
			goto done;
		}
		stats.sigs[ks[i]->type]++;
	}
	rv = 0;
 done:
	while (n > 0)
		if (d[--n] != NULL)
			dkim_free(d[n]);
	return (rv);
}

static double
cputime(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
sign_request(struct mproc *p, struct imsg *imsg)
{
	struct sign_req	*req = msg_get(p, imsg, sizeof(*req));
	struct sign_res	 res;
	char		*hdrs = NULL;
	size_t		 len = 0;
	FILE		*fp;
	double		 t0 = cputime();

	if (imsg->fd == -1 || !msg_str_ok(req->domain, sizeof(req->domain)))
		fatalx("signer: malformed SIGN_REQ from %s", p->name);
	memset(&res, 0, sizeof(res));
	res.reqid = req->reqid;
	if ((fp = open_memstream(&hdrs, &len)) == NULL)
		fatal("open_memstream");
	res.status = sign_message(imsg->fd, req->domain, fp, res.error,
	    sizeof(res.error)) == 0 ? SIGN_OK : SIGN_FAIL;
	close(imsg->fd);
	if (fclose(fp) != 0)
		fatal("signer: fclose");
	if (res.status == SIGN_OK && len > SIGN_HDRS_MAX) {
		res.status = SIGN_FAIL;
		strlcpy(res.error, "signatures too long", sizeof(res.error));
	}
	if (res.status == SIGN_OK) {
		stats.signed_msgs++;
		mproc_compose2(p, IMSG_SIGN_RES, 0, -1, &res, sizeof(res),
		    hdrs, len);
	} else {
		stats.failed++;
		log_warnx("cannot sign for %s: %s", req->domain, res.error);
		mproc_compose(p, IMSG_SIGN_RES, 0, -1, &res, sizeof(res));
	}
	free(hdrs);
	stats.cpu += cputime() - t0;
}

static void
signer_dispatch(struct mproc *p, struct imsg *imsg)
{
	if (imsg->hdr.type == IMSG_SIGN_REQ && p->proc == PROC_RELAYD) {
		sign_request(p, imsg);
		return;
	}
	fatalx("signer: unexpected %s from %s", imsg_type_name(imsg->hdr.type),
	    p->name);
}

static json_t *
dkim_show(const char *domain)
{
	struct skey	*k;
	json_t		*a = json_array();
	char		*txt;

	TAILQ_FOREACH(k, &keys, entry) {
		if (domain != NULL && strcasecmp(domain, k->domain) != 0)
			continue;
		if (k->pk == NULL || (txt = dkimkey_txt(k->pk, k->selector,
		    k->domain)) == NULL) {
			json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}",
			    "domain", k->domain, "selector", k->selector,
			    "file", k->file, "error",
			    k->pk == NULL ? k->why : "out of memory"));
			continue;
		}
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s}",
		    "domain", k->domain, "selector", k->selector,
		    "type", dkimkey_type_name(k->type), "file", k->file,
		    "record", txt));
		free(txt);
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return (json_pack("{s:s}", "error", domain != NULL ?
		    "no dkim key for that domain" : "no dkim key"));
	}
	return (json_pack("{s:o}", "dkim", a));
}

static json_t *
signer_control(const struct ctl_cmd *cmd, const json_t *argv, int root)
{
	if (cmd->id == CTL_DKIM_SHOW)
		return (dkim_show(json_string_value(json_array_get(argv, 2))));
	if (cmd->id == CTL_SHOW_STATS)
		return (json_pack("{s:I,s:I,s:I,s:I,s:i,s:f}",
		    "signed", (json_int_t)stats.signed_msgs,
		    "rsa_signatures", (json_int_t)stats.sigs[DKIMKEY_RSA],
		    "ed25519_signatures",
		    (json_int_t)stats.sigs[DKIMKEY_ED25519],
		    "failed", (json_int_t)stats.failed, "keys", nkeys,
		    "cpu_seconds", stats.cpu));
	return (NULL);
}

static void
signer_preinit(const struct config *conf)
{
	unsigned int	flags = DKIM_LIBFLAGS_FIXCRLF;

	/* OpenSSL reads its config file once: before the sandbox */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS,
	    NULL) != 1)
		fatalx("signer: OPENSSL_init_crypto");
	if ((lib = dkim_init(NULL, NULL)) == NULL)
		fatalx("signer: dkim_init");
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign_hdrs,
	    sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
	    oversign_hdrs, sizeof(char **)) != DKIM_STAT_OK)
		fatalx("signer: dkim_options");
	if ((chunk = malloc(SIGN_CHUNK)) == NULL)
		fatal("signer: malloc");
}

static const char *
signer_chroot(const struct config *conf)
{
	static char	dir[MH_PATH_MAX + 8];

	snprintf(dir, sizeof(dir), "%s/empty", conf->spool);
	return (dir);
}

static void
signer_configure(struct config *conf)
{
	/* the keys come apart from the config, from the parent only */
}

static const struct child_ops signer_ops = {
	.proc = PROC_SIGNER,
	.preinit = signer_preinit,
	.chroot = signer_chroot,
	.configure = signer_configure,
	.peer_dispatch = signer_dispatch,
	.parent_dispatch = signer_parent,
	.control = signer_control,
};

void
signer_main(void)
{
	child_run(&signer_ops);
}

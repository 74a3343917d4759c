/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * The signer's engine: its keys and libopendkim (signer.h).
 *
 * Each signature is relaxed/relaxed, RSA-SHA256 or Ed25519-SHA256 (the
 * key's type), over the headers of sign_hdrs that the message has, with
 * From over-signed.  libopendkim is given the whole message in chunks
 * of the fd; its LF-folded header lines are returned with CRLF.  Queued
 * messages have CRLF line ends, and libopendkim's repair of bare LFs
 * (DKIM_LIBFLAGS_FIXCRLF) costs a sixth of an Ed25519 signature, so it
 * is used only for a message that has one (lib_fix).  A message of one
 * chunk (most) is read once: scanned for bare LFs, then signed from
 * memory; a longer one is read twice.
 *
 * What the signer adds to libopendkim's work is kept small, as it is
 * paid per message: no fstat for a message of one chunk (a read shorter
 * than a chunk is the end of the file; one longer is looked at, so that
 * a descriptor relayd hands over that is not a regular file, such as
 * /dev/zero, or is over SIGN_MSG_MAX, is an error, not an endless
 * read), the headers written into the caller's buffer (no stdio
 * stream per message), and the CPU time of one signing call in
 * CPU_SAMPLE measured (two clock_gettime system calls each, 2-3 us here,
 * about the cost of the Ed25519 hashing itself).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <opendkim/dkim.h>

#include "config.h"
#include "dkimkey.h"
#include "fileio.h"
#include "log.h"
#include "signer.h"

#define SIGN_CHUNK	(64 * 1024)
#define KEYS_MAX	64	/* of one domain: the signatures of a message */
#define CPU_SAMPLE	16	/* one signing call in 16 is timed */
/*
 * The largest message signed: "limit message-size" goes to INT_MAX
 * bytes, and the queued file adds a few header lines to that.
 */
#define SIGN_MSG_MAX	((off_t)4 << 30)

struct skey {
	TAILQ_ENTRY(skey)	 entry;
	char			 domain[MH_NAME_MAX];
	char			 selector[MH_NAME_MAX];
	char			 file[MH_PATH_MAX];
	int			 type;		/* enum dkimkey_type */
	char			*pem;		/* NUL terminated, for
						   libopendkim */
	size_t			 pemlen;
	EVP_PKEY		*pk;		/* NULL: unusable,
						   why says why */
	EVP_MD_CTX		*signctx;	/* Ed25519: readied once
						   (sign_init) */
	char			 why[128];
};
TAILQ_HEAD(skeylist, skey);

static struct skeylist	 keys = TAILQ_HEAD_INITIALIZER(keys);
static int		 nkeys;
static DKIM_LIB		*lib, *lib_fix;	/* lib_fix: bare LFs repaired */
static unsigned char	*chunk;

static struct {
	unsigned long long	 calls;
	unsigned long long	 signed_msgs;
	unsigned long long	 sigs[2];	/* per enum dkimkey_type */
	unsigned long long	 failed;
	unsigned long long	 timed;		/* calls timed (CPU_SAMPLE) */
	double			 cpu;		/* their CPU seconds */
	double			 first_cpu;	/* the first call's */
	double			 ready_cpu;	/* readying keys as they came */
} stats;

/* the DKIM-Signature header lines of one message, CRLF ended */
struct sigbuf {
	char		*buf;
	size_t		 size;
	size_t		 len;
};

typedef EVP_PKEY *(*pem_read_fn)(BIO *, EVP_PKEY **, pem_password_cb *,
    void *);
static pem_read_fn	 openssl_pem_read;
typedef int (*sign_init_fn)(EVP_MD_CTX *, EVP_PKEY_CTX **, const EVP_MD *,
    ENGINE *, EVP_PKEY *);
static sign_init_fn	 openssl_sign_init;

static double	cputime(void);

/* RFC 6376 5.4.1 and the list; From is over-signed */
static const char *sign_hdrs[] = {
	"from", "to", "cc", "subject", "date", "message-id", "mime-version",
	"content-type", "content-transfer-encoding", "reply-to",
	"in-reply-to", "references", "sender", "list-id", "list-unsubscribe",
	"list-unsubscribe-post", NULL
};
static const char *oversign_hdrs[] = { "from", NULL };

/*
 * The key cache.  libopendkim takes the key as a PEM string only and
 * decodes it again for every message (dkim_privkey_load: a memory BIO
 * of it to PEM_read_bio_PrivateKey), and OpenSSL 3 spends more on that
 * decoding, and on readying a fresh key for its first signature
 * (Montgomery contexts, blinding), than on the RSA signature itself:
 * about 4x the bare signature for RSA-2048, 10x for Ed25519.  So the
 * executable defines PEM_read_bio_PrivateKey, which the dynamic linker
 * prefers to libcrypto's for libopendkim too: a memory BIO holding
 * exactly the PEM of one of the signer's keys gets that key's EVP_PKEY,
 * decoded once when the key came (one more reference, which libopendkim
 * drops in dkim_free); anything else, and every call in the other
 * processes (no keys there), goes to OpenSSL's.  The key bytes stay in
 * the signer.
 */
EVP_PKEY *
PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
	struct skey	*k;
	char		*data;
	long		 n;

	if (x == NULL && cb == NULL && bp != NULL &&
	    BIO_method_type(bp) == BIO_TYPE_MEM &&
	    (n = BIO_get_mem_data(bp, &data)) > 0)
		TAILQ_FOREACH(k, &keys, entry)
			if (k->pk != NULL && (size_t)n == k->pemlen &&
			    memcmp(data, k->pem, n) == 0 &&
			    EVP_PKEY_up_ref(k->pk) == 1)
				return (k->pk);
	if (openssl_pem_read == NULL && (openssl_pem_read = (pem_read_fn)
	    dlsym(RTLD_NEXT, "PEM_read_bio_PrivateKey")) == NULL)
		return (NULL);
	return (openssl_pem_read(bp, x, cb, u));
}

/*
 * The signing context cache.  For each Ed25519 signature libopendkim
 * makes a fresh EVP_MD_CTX and readies it with EVP_DigestSignInit, in
 * which OpenSSL 3.0 looks the algorithm up again (its method store and
 * a walk of its whole table of algorithm names): 2 us in a loop, 7-10
 * us between messages, with cold caches, against 0.1 us for a copy.  So
 * the executable defines EVP_DigestSignInit too: for one of the
 * signer's keys, with nothing but the key given (libopendkim's call),
 * the context is a copy of the key's own, readied once when the key
 * came (EdDSA signs the whole input in one call, so a readied context
 * is not used up); every other call goes to OpenSSL's.
 */
int
EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type,
    ENGINE *e, EVP_PKEY *pkey)
{
	struct skey	*k;

	if (pctx == NULL && type == NULL && e == NULL && pkey != NULL)
		TAILQ_FOREACH(k, &keys, entry)
			if (k->pk == pkey && k->signctx != NULL)
				return (EVP_MD_CTX_copy_ex(ctx, k->signctx));
	if (openssl_sign_init == NULL && (openssl_sign_init = (sign_init_fn)
	    dlsym(RTLD_NEXT, "EVP_DigestSignInit")) == NULL)
		return (0);
	return (openssl_sign_init(ctx, pctx, type, e, pkey));
}

/* k's Ed25519 signing context, readied once (NULL: libopendkim's way) */
static EVP_MD_CTX *
sign_ctx(struct skey *k)
{
	EVP_MD_CTX	*c;

	if (k->type != DKIMKEY_ED25519 || (c = EVP_MD_CTX_new()) == NULL)
		return (NULL);
	if (openssl_sign_init(c, NULL, NULL, NULL, k->pk) != 1) {
		EVP_MD_CTX_free(c);
		return (NULL);
	}
	return (c);
}

static DKIM_LIB *
lib_new(unsigned int flags)
{
	DKIM_LIB	*l;

	if ((l = dkim_init(NULL, NULL)) == NULL)
		fatalx("dkim_init");
	if (dkim_options(l, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(l, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign_hdrs,
	    sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(l, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
	    oversign_hdrs, sizeof(char **)) != DKIM_STAT_OK)
		fatalx("dkim_options");
	return (l);
}

void
signer_init(void)
{
	/* OpenSSL reads its config file once: before the sandbox */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG |
	    OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS,
	    NULL) != 1)
		fatalx("OPENSSL_init_crypto");
	/* before the sandbox */
	if ((openssl_pem_read = (pem_read_fn)dlsym(RTLD_NEXT,
	    "PEM_read_bio_PrivateKey")) == NULL)
		fatalx("no PEM_read_bio_PrivateKey in libcrypto");
	if ((openssl_sign_init = (sign_init_fn)dlsym(RTLD_NEXT,
	    "EVP_DigestSignInit")) == NULL)
		fatalx("no EVP_DigestSignInit in libcrypto");
	lib = lib_new(0);
	lib_fix = lib_new(DKIM_LIBFLAGS_FIXCRLF);
	if ((chunk = malloc(SIGN_CHUNK)) == NULL)
		fatal("malloc");
}

static void
key_free(struct skey *k)
{
	if (k->pem != NULL) {
		explicit_bzero(k->pem, k->pemlen);
		free(k->pem);
	}
	EVP_MD_CTX_free(k->signctx);
	EVP_PKEY_free(k->pk);
	free(k);
}

void
signer_keys_reset(void)
{
	struct skey	*k;

	while ((k = TAILQ_FIRST(&keys)) != NULL) {
		TAILQ_REMOVE(&keys, k, entry);
		key_free(k);
	}
	nkeys = 0;
}

/*
 * One signature of a small message in memory as the key comes: OpenSSL
 * readies a fresh key at its first use (its algorithm fetched, for RSA
 * the Montgomery contexts and blinding), about 2.6 ms here, which the
 * first message of each key paid; and a key that cannot sign is
 * unusable from the start, not at its first message.  0 or -1 and why.
 */
static int
key_ready(struct skey *k)
{
	/* the usual headers: glibc builds its regex automaton lazily */
	static const char	 msg[] = "From: <ready@mailhook.invalid>\r\n"
	    "To: <ready@mailhook.invalid>\r\n"
	    "Subject: ready\r\nDate: Tue, 1 Dec 2026 00:00:00 +0000\r\n"
	    "Message-ID: <ready@mailhook.invalid>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "X-Mailer: mailhook\r\n\r\nready\r\n";
	DKIM			*d;
	DKIM_STAT		 st;
	unsigned char		*h;
	size_t			 hlen;
	double			 t0 = cputime();
	int			 rv = -1;

	d = dkim_sign(lib, (const u_char *)"ready", NULL,
	    (dkim_sigkey_t)k->pem, (const u_char *)k->selector,
	    (const u_char *)k->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    k->type == DKIMKEY_ED25519 ? DKIM_SIGN_ED25519SHA256 :
	    DKIM_SIGN_RSASHA256, -1, &st);
	if (d == NULL)
		snprintf(k->why, sizeof(k->why), "dkim_sign: %s",
		    dkim_getresultstr(st));
	else if ((st = dkim_chunk(d, (u_char *)msg, sizeof(msg) - 1)) !=
	    DKIM_STAT_OK || (st = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK ||
	    (st = dkim_eom(d, NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(d, 0, &h, &hlen)) != DKIM_STAT_OK)
		snprintf(k->why, sizeof(k->why), "cannot sign: %.100s",
		    dkim_geterror(d) ? dkim_geterror(d) :
		    dkim_getresultstr(st));
	else
		rv = 0;
	if (d != NULL)
		dkim_free(d);
	stats.ready_cpu += cputime() - t0;
	return (rv);
}

int
signer_key_add(const char *domain, const char *selector, const char *file,
    const char *pem, size_t len)
{
	struct skey	*k;

	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->pem = malloc(len + 1)) == NULL)
		fatal("key");
	strlcpy(k->domain, domain, sizeof(k->domain));
	strlcpy(k->selector, selector, sizeof(k->selector));
	strlcpy(k->file, file, sizeof(k->file));
	k->pemlen = len;
	memcpy(k->pem, pem, len);
	k->pem[len] = '\0';
	k->pk = dkimkey_load(k->pem, k->pemlen, &k->type, k->why,
	    sizeof(k->why));
	/* in the list first: libopendkim gets k->pk for k->pem from it */
	TAILQ_INSERT_TAIL(&keys, k, entry);
	nkeys++;
	if (k->pk != NULL)
		k->signctx = sign_ctx(k);
	if (k->pk != NULL && key_ready(k) == -1) {
		EVP_MD_CTX_free(k->signctx);
		k->signctx = NULL;
		EVP_PKEY_free(k->pk);
		k->pk = NULL;
	}
	if (k->pk == NULL)
		log_warnx("dkim key \"%s\" (%s, selector %s) is unusable: %s; "
		    "mail from %s stays queued", k->file, k->domain,
		    k->selector, k->why, k->domain);
	else
		log_info("dkim key for %s selector %s: %s", k->domain,
		    k->selector, dkimkey_type_name(k->type));
	return (0);
}

/* len bytes to sb; -1 if they do not fit */
static int
sigbuf_add(struct sigbuf *sb, const char *s, size_t len)
{
	if (len > sb->size - sb->len)
		return (-1);
	memcpy(sb->buf + sb->len, s, len);
	sb->len += len;
	return (0);
}

/* libopendkim folds with LF: the message and our queue use CRLF */
static int
append_header(struct sigbuf *sb, const char *h)
{
	size_t	 n;

	if (sigbuf_add(sb, "DKIM-Signature: ", 16) == -1)
		return (-1);
	while (*h != '\0') {
		n = strcspn(h, "\r\n");
		if (sigbuf_add(sb, h, n) == -1)
			return (-1);
		h += n;
		if (*h == '\n' && sigbuf_add(sb, "\r\n", 2) == -1)
			return (-1);
		if (*h != '\0')
			h++;
	}
	return (sigbuf_add(sb, "\r\n", 2));
}

/*
 * The size of the message being signed once it is longer than a chunk
 * (msg_long); -1 while its first chunk is read.
 */
static off_t	 msg_size = -1;

/* the message's bytes at off into chunk: how many, 0 at its end, -1 */
static ssize_t
chunk_at(int fd, off_t off, char *why, size_t wlen)
{
	size_t	 want = SIGN_CHUNK;
	ssize_t	 r;

	/* what grew after the fstat is not read: the reads end */
	if (msg_size != -1) {
		if (off >= msg_size)
			return (0);
		if (msg_size - off < (off_t)want)
			want = msg_size - off;
	}
	r = pread_eintr(fd, chunk, want, off);
	if (r == -1 && errno == ESPIPE)
		snprintf(why, wlen, "the message's descriptor is not a "
		    "regular file");
	else if (r == -1)
		snprintf(why, wlen, "read: %s", strerror(errno));
	return (r);
}

/*
 * A message longer than its first chunk: a regular file of at most
 * SIGN_MSG_MAX bytes, whose size ends the reads.  0, or -1 and why.
 */
static int
msg_long(int fd, char *why, size_t wlen)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		snprintf(why, wlen, "fstat: %s", strerror(errno));
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, wlen, "the message's descriptor is not a "
		    "regular file");
		return (-1);
	}
	if (st.st_size > SIGN_MSG_MAX) {
		snprintf(why, wlen, "the message is over %lld bytes",
		    (long long)SIGN_MSG_MAX);
		return (-1);
	}
	msg_size = st.st_size;
	return (0);
}

/* 1 if buf has a LF not after a CR (prev: the byte before buf), else 0 */
static int
bare_lf_in(const unsigned char *buf, size_t len, unsigned char prev)
{
	const unsigned char	*p, *end = buf + len;

	for (p = buf; (p = memchr(p, '\n', end - p)) != NULL; p++)
		if ((p == buf ? prev : p[-1]) != '\r')
			return (1);
	return (0);
}

/*
 * The first chunk of the message is read (*first bytes); 1 if the
 * message has a bare LF, 0 if not, -1 and why.  *whole says whether the
 * first chunk was all of it (a read of a regular file is short only at
 * its end): then it is signed from memory, without a second read.
 */
static int
bare_lf(int fd, ssize_t *first, int *whole, char *why, size_t wlen)
{
	unsigned char	 prev;
	off_t		 off;
	ssize_t		 r;
	int		 fix;

	if ((*first = chunk_at(fd, 0, why, wlen)) == -1)
		return (-1);
	*whole = *first < SIGN_CHUNK;
	if (!*whole && msg_long(fd, why, wlen) == -1)
		return (-1);
	if ((fix = bare_lf_in(chunk, *first, '\0')) || *whole ||
	    *first == 0)
		return (fix);
	/* a long message: the rest, chunk by chunk (read again to sign) */
	prev = chunk[*first - 1];
	for (off = *first; (r = chunk_at(fd, off, why, wlen)) > 0; off += r) {
		if (bare_lf_in(chunk, r, prev))
			return (1);
		prev = chunk[r - 1];
	}
	return (r == -1 ? -1 : 0);
}

/* the keys of domain into ks; 0 and how many, or -1 and why */
static int
domain_keys(const char *domain, struct skey **ks, size_t *n, char *why,
    size_t wlen)
{
	struct skey	*k;

	*n = 0;
	TAILQ_FOREACH(k, &keys, entry) {
		if (strcasecmp(k->domain, domain) != 0)
			continue;
		if (k->pk == NULL) {
			snprintf(why, wlen, "dkim key \"%.100s\" is unusable: "
			    "%.120s", k->file, k->why);
			return (-1);
		}
		if (*n == KEYS_MAX) {
			snprintf(why, wlen, "more than %d dkim keys for "
			    "%.200s", KEYS_MAX, domain);
			return (-1);
		}
		ks[(*n)++] = k;
	}
	if (*n == 0) {
		snprintf(why, wlen, "no dkim key for %.200s", domain);
		return (-1);
	}
	return (0);
}

/* len bytes of the message to every handle */
static int
feed_chunk(DKIM **d, size_t n, const unsigned char *buf, size_t len,
    char *why, size_t wlen)
{
	DKIM_STAT	 st;
	size_t		 i;

	for (i = 0; i < n; i++)
		if ((st = dkim_chunk(d[i], (u_char *)buf, len)) !=
		    DKIM_STAT_OK) {
			snprintf(why, wlen, "dkim_chunk: %s",
			    dkim_geterror(d[i]) ? dkim_geterror(d[i]) :
			    dkim_getresultstr(st));
			return (-1);
		}
	return (0);
}

/* the whole message to every handle: from chunk if whole, else read */
static int
feed(int fd, DKIM **d, size_t n, ssize_t first, int whole, char *why,
    size_t wlen)
{
	off_t		 off = 0;
	ssize_t		 r;

	if (whole)
		return (feed_chunk(d, n, chunk, first, why, wlen));
	for (;;) {
		if ((r = chunk_at(fd, off, why, wlen)) <= 0)
			return (r);
		off += r;
		if (feed_chunk(d, n, chunk, r, why, wlen) == -1)
			return (-1);
	}
}

static int
sign_fd(int fd, const char *domain, struct sigbuf *sb, char *why,
    size_t wlen)
{
	DKIM		*d[KEYS_MAX];
	struct skey	*ks[KEYS_MAX];
	DKIM_STAT	 st;
	unsigned char	*h;
	size_t		 n, i, made = 0, hlen;
	ssize_t		 first;
	int		 rv = -1, fix, whole;

	if (domain_keys(domain, ks, &n, why, wlen) == -1 ||
	    (fix = bare_lf(fd, &first, &whole, why, wlen)) == -1)
		return (-1);
	for (made = 0; made < n; made++) {
		d[made] = dkim_sign(fix ? lib_fix : lib,
		    (const u_char *)"mailhook", NULL,
		    (dkim_sigkey_t)ks[made]->pem,
		    (const u_char *)ks[made]->selector,
		    (const u_char *)ks[made]->domain, DKIM_CANON_RELAXED,
		    DKIM_CANON_RELAXED, ks[made]->type == DKIMKEY_ED25519 ?
		    DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
		if (d[made] == NULL) {
			snprintf(why, wlen, "dkim_sign: %s",
			    dkim_getresultstr(st));
			goto done;
		}
	}
	if (feed(fd, d, n, first, whole, why, wlen) == -1)
		goto done;
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
		if (append_header(sb, (const char *)h) == -1) {
			snprintf(why, wlen, "signatures too long");
			goto done;
		}
		stats.sigs[ks[i]->type]++;
	}
	rv = 0;
 done:
	while (made > 0)
		dkim_free(d[--made]);
	return (rv);
}

static double
cputime(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

int
signer_sign(int fd, const char *domain, char *out, size_t outsize,
    size_t *outlen, char *why, size_t wlen)
{
	struct sigbuf	 sb = { out, outsize, 0 };
	double		 t0 = 0;
	int		 rv, timed;

	/* the first call is timed too (kept apart) */
	timed = ++stats.calls % CPU_SAMPLE == 0 || stats.calls == 1;
	if (timed)
		t0 = cputime();
	msg_size = -1;
	if ((rv = sign_fd(fd, domain, &sb, why, wlen)) == 0)
		stats.signed_msgs++;
	else
		stats.failed++;
	if (stats.calls == 1)
		stats.first_cpu = cputime() - t0;
	else if (timed) {
		stats.cpu += cputime() - t0;
		stats.timed++;
	}
	*outlen = rv == 0 ? sb.len : 0;
	return (rv);
}

json_t *
signer_show(const char *domain)
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

json_t *
signer_stats(void)
{
	return (json_pack("{s:I,s:I,s:I,s:I,s:i,s:f,s:I,s:f,s:f}",
	    "signed", (json_int_t)stats.signed_msgs,
	    "rsa_signatures", (json_int_t)stats.sigs[DKIMKEY_RSA],
	    "ed25519_signatures", (json_int_t)stats.sigs[DKIMKEY_ED25519],
	    "failed", (json_int_t)stats.failed, "keys", nkeys,
	    "call_cpu_us", stats.timed ? stats.cpu / stats.timed * 1e6 : 0.0,
	    "calls_timed", (json_int_t)stats.timed,
	    "first_call_cpu_us", stats.first_cpu * 1e6,
	    "ready_cpu_us", stats.ready_cpu * 1e6));
}

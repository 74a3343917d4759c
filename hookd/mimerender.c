/*
 * Copyright (c) 2026 The mailhook authors
 * SPDX-License-Identifier: ISC (see the file LICENSE)
 */
/*
 * Inbound message rendering (mime.h): a parsed message (mime.c) rendered
 * for one recipient as the payload of its POST, in the route's format
 * (mime_doc_render): the JSON text, the multipart/form-data parts, or the
 * raw message with the envelope fields, and the storage the payload
 * owns.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "mailaddr.h"
#include "mime.h"
#include "mime_int.h"

struct owned_ptr {
	void		*p;
	void		(*fn)(void *);
};

struct mime_owned {
	struct owned_ptr *v;
	size_t		 n;
};

/*
 * Owned storage of a payload.
 */
static int
owned_add(struct mime_payload *out, void *p, void (*fn)(void *))
{
	struct owned_ptr	*v;

	if (p == NULL)
		return (-1);
	if (out->owned == NULL &&
	    (out->owned = calloc(1, sizeof(*out->owned))) == NULL) {
		fn(p);
		return (-1);
	}
	v = reallocarray(out->owned->v, out->owned->n + 1, sizeof(*v));
	if (v == NULL) {
		fn(p);
		return (-1);
	}
	out->owned->v = v;
	v[out->owned->n].p = p;
	v[out->owned->n].fn = fn;
	out->owned->n++;
	return (0);
}

static void
free_bytes(void *p)
{
	g_byte_array_unref(p);
}

static void
free_json(void *p)
{
	json_decref(p);
}

void
mime_payload_free(struct mime_payload *out)
{
	size_t	 i;

	if (out == NULL)
		return;
	if (out->owned != NULL) {
		for (i = out->owned->n; i > 0; i--)
			out->owned->v[i - 1].fn(out->owned->v[i - 1].p);
		free(out->owned->v);
		free(out->owned);
	}
	free(out->parts);
	memset(out, 0, sizeof(*out));
}

/*
 * JSON.
 */
/*
 * envelope.dkim [{domain, selector, result}], envelope.dmarc {result,
 * policy, domain}
 */
/*
 * Whether the post for self's route says "quarantined": that route's
 * recipients are flagged; an envelope an older build wrote flagged the
 * message.  With no recipient to post for, any one flagged.
 */
static int
quarantined(const struct envelope *env, const struct envelope_rcpt *self)
{
	size_t	 i;

	if (env->quarantined)
		return (1);
	if (self != NULL)
		return (self->quarantined);
	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpts[i].quarantined)
			return (1);
	return (0);
}

static int
verdict_json(json_t *e, const struct envelope *env,
    const struct envelope_rcpt *self)
{
	json_t	*dkim;
	size_t	 i;

	if ((dkim = json_array()) == NULL ||
	    json_object_set_new(e, "dkim", dkim) == -1)
		return (-1);
	for (i = 0; i < env->ndkim; i++)
		if (json_array_append_new(dkim, json_pack("{s:o, s:o, s:s}",
		    "domain", jstr(env->dkim[i].domain),
		    "selector", jstr(env->dkim[i].selector),
		    "result", env->dkim[i].result)) == -1)
			return (-1);
	if (json_object_set_new(e, "dmarc", json_pack("{s:s, s:o, s:o}",
	    "result", env->dmarc_result,
	    "policy", env->dmarc_policy[0] ? jstr(env->dmarc_policy) :
	    json_null(),
	    "domain", jstr(env->dmarc_domain))) == -1)
		return (-1);
	if (quarantined(env, self) &&
	    json_object_set_new(e, "quarantined", json_true()) == -1)
		return (-1);
	return (0);
}

/*
 * The envelope of the post for rcpt (NULL: for none): its route's
 * recipients and flags are those of rcpt's own entry, found as smtpd
 * tells two recipients apart (addr_same: Bob@d is not bob@d)
 */
json_t *
envelope_json(const struct envelope *env, const char *rcpt)
{
	const struct envelope_rcpt *self = NULL, *r;
	json_t		*e, *rcpts, *spf;
	size_t		 i;

	for (i = 0; rcpt != NULL && i < env->nrcpt; i++)
		if (addr_same(env->rcpts[i].addr, rcpt)) {
			self = &env->rcpts[i];
			break;
		}
	if ((rcpts = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		if (self != NULL && (r->dest != self->dest ||
		    r->route != self->route))
			continue;
		json_array_append_new(rcpts, jstr(r->addr));
	}
	spf = json_pack("{s:o, s:o}",
	    "result", jstr(env->spf_result),
	    "domain", jstr(env->spf_domain));
	e = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
	    "to", jstr(rcpt ? rcpt : ""),
	    "recipients", rcpts,
	    "from", jstr(env->sender),
	    "helo_domain", jstr(env->helo),
	    "remote_ip", jstr(env->remote_ip),
	    "spf", spf,
	    "tls", env->tls ? 1 : 0);
	if (e != NULL && env->auth_checked &&
	    verdict_json(e, env, self) == -1) {
		json_decref(e);
		return (NULL);
	}
	return (e);
}

static json_t *
attach_json(const struct attach *a)
{
	json_t	*j;
	char	*b64;

	b64 = g_base64_encode(a->data->data, a->data->len);
	j = json_pack("{s:o, s:s, s:I, s:s, s:o, s:o}",
	    "file_name", jstr(a->file_name),
	    "content_type", a->content_type,
	    "size", (json_int_t)a->data->len,
	    "disposition", a->disposition,
	    "content_id", jstr(a->content_id),
	    "content", json_string_nocheck(b64));
	g_free(b64);
	return (j);
}

/* the attachments array, in message order */
static json_t *
doc_attachments(const struct doc *d)
{
	json_t		*atts, *a;
	size_t		 i;

	if ((atts = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < d->natt; i++) {
		if ((a = attach_json(&d->att[i])) == NULL ||
		    json_array_append_new(atts, a) == -1) {
			json_decref(atts);
			return (NULL);
		}
	}
	return (atts);
}

/* everything but the envelope: the same for every recipient */
json_t *
doc_json(const struct mime_doc *md)
{
	const struct doc *d = &md->d;
	json_t		*root;

	root = json_pack("{s:O, s:o, s:o, s:o, s:o}",
	    "headers", d->headers,
	    "plain", jtext(d->plain),
	    "html", jtext(d->html),
	    "reply_plain", jtext(md->reply),
	    "attachments", doc_attachments(d));
	if (root != NULL && md->over != NULL &&
	    json_object_set_new(root, "truncated", json_string(md->over)) ==
	    -1) {
		json_decref(root);
		return (NULL);
	}
	return (root);
}

static int
jappend_cb(const char *buf, size_t len, void *t)
{
	g_string_append_len(t, buf, len);
	return (0);
}

/* jansson's text of j (released) after t */
static int
jappend(GString *t, json_t *j)
{
	int	 rc;

	if (j == NULL)
		return (-1);
	rc = json_dump_callback(j, jappend_cb, t,
	    JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return (rc);
}

/* the JSON string of p[0..len) (valid UTF-8) after t, without its quotes */
static int
jappend_inner(GString *t, const char *p, size_t len)
{
	size_t	 at = t->len;

	if (len == 0)
		return (0);
	if (jappend(t, json_stringn_nocheck(p, len)) == -1)
		return (-1);
	g_string_erase(t, at, 1);
	g_string_truncate(t, t->len - 1);
	return (0);
}

/*
 * "plain" after t, and reply_plain's JSON text in r.  The reply is most
 * often the plain text less its surrounding blank lines, so found inside
 * it; jansson then escapes that text once, not twice (escaping the two
 * was half of rendering a 4 KiB plain message).  Escapes are made a
 * character at a time and both texts are valid UTF-8, so pieces join.
 */
static int
jtail_texts(GString *t, GString *r, const char *plain, const char *reply)
{
	const char	*at = NULL;
	size_t		 rlen = 0, lead;

	if (plain != NULL && reply != NULL && *reply != '\0') {
		/*
		 * Where mime_reply_text() starts it when no quoted line came
		 * first: the line of the first non-blank character.  Any
		 * place it is found gives the same text.
		 */
		rlen = strlen(reply);
		for (lead = 0; g_ascii_isspace(plain[lead]); lead++)
			;
		while (lead > 0 && plain[lead - 1] != '\n')
			lead--;
		if (strncmp(plain + lead, reply, rlen) == 0)
			at = plain + lead;
		else
			at = strstr(plain, reply);
	}
	if (at == NULL)
		return (jappend(t, jtext(plain)) == -1 ||
		    jappend(r, jtext(reply)) == -1 ? -1 : 0);
	g_string_append_c(r, '"');
	if (jappend_inner(r, reply, rlen) == -1)
		return (-1);
	g_string_append_c(t, '"');
	if (jappend_inner(t, plain, at - plain) == -1)
		return (-1);
	g_string_append_len(t, r->str + 1, r->len - 1);
	if (jappend_inner(t, at + rlen, strlen(at + rlen)) == -1)
		return (-1);
	g_string_append_c(t, '"');
	g_string_append_c(r, '"');
	return (0);
}

/*
 * The JSON text of doc_json() after its "{": the envelope goes first.
 * Its members are jansson's text, joined in doc_json()'s order
 * (regress/hookd/test_mime compares the two on every fixture).
 */
int
doc_jtail(struct mime_doc *md)
{
	const struct doc *d = &md->d;
	GString		*t, *r;
	int		 rc = -1;

	if (md->jtail != NULL)
		return (0);
	t = g_string_sized_new(md->raw->len + 256);
	r = g_string_new(NULL);
	g_string_append(t, "{\"headers\":");
	if (jappend(t, json_incref(d->headers)) == -1)
		goto done;
	g_string_append(t, ",\"plain\":");
	if (jtail_texts(t, r, d->plain, md->reply) == -1)
		goto done;
	g_string_append(t, ",\"html\":");
	if (jappend(t, jtext(d->html)) == -1)
		goto done;
	g_string_append(t, ",\"reply_plain\":");
	g_string_append_len(t, r->str, r->len);
	g_string_append(t, ",\"attachments\":");
	if (jappend(t, doc_attachments(d)) == -1)
		goto done;
	if (md->over != NULL) {
		g_string_append(t, ",\"truncated\":");
		if (jappend(t, json_string(md->over)) == -1)
			goto done;
	}
	g_string_append_c(t, '}');
	md->jtail = g_string_free(t, FALSE);
	t = NULL;
	rc = 0;
 done:
	if (t != NULL)
		g_string_free(t, TRUE);
	g_string_free(r, TRUE);
	return (rc);
}

/*
 * multipart/form-data.
 */
static int
add_part(struct mime_payload *out, const char *name, const char *filename,
    const char *ctype, const void *data, size_t len)
{
	struct http_part	*p;

	p = reallocarray(out->parts, out->nparts + 1, sizeof(*p));
	if (p == NULL)
		return (-1);
	out->parts = p;
	p = &out->parts[out->nparts++];
	p->name = name;
	p->filename = filename;
	p->content_type = ctype;
	p->data = data;
	p->len = len;
	return (0);
}

/* a malloc'd copy kept by the payload */
static char *
owned_strdup(struct mime_payload *out, const char *s)
{
	char	*c;

	if ((c = strdup(s)) == NULL || owned_add(out, c, free) == -1)
		return (NULL);
	return (c);
}

static char *
owned_printf(struct mime_payload *out, const char *fmt, ...)
    __attribute__((__format__ (printf, 2, 3)));

static char *
owned_printf(struct mime_payload *out, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1 || owned_add(out, s, free) == -1)
		return (NULL);
	return (s);
}

/*
 * Part names, file names and content types go into the Content-Disposition
 * and Content-Type headers of the form parts: no control character, quote
 * or backslash from the message gets there.
 */
static const char *
header_safe(char *s)
{
	unsigned char	*p;

	if (s == NULL)
		return (NULL);
	for (p = (unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '_';
	return (s);
}

/*
 * name[key]: a bracket in the key (a header "X-[a]" may have one) would
 * end or open a level for a form parser, "headers[x_[a]]" nesting wrong
 * or refused (Rack, PHP, qs): it becomes '_', "headers[x__a_]".
 */
static char *
flat_key(struct mime_payload *out, const char *name, const char *key)
{
	char	*sub, *p;

	if ((sub = owned_printf(out, "%s[%s]", name, key)) == NULL)
		return (NULL);
	for (p = sub + strlen(name) + 1; p[1] != '\0'; p++)
		if (*p == '[' || *p == ']')
			*p = '_';
	return (sub);
}

/* name[key]... = value for every leaf of a tree kept alive by the payload */
static int
flatten(struct mime_payload *out, const char *name, json_t *v)
{
	const char	*key, *sub, *val;
	json_t		*e;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, e) {
			sub = header_safe(name ? flat_key(out, name, key) :
			    owned_strdup(out, key));
			if (sub == NULL || flatten(out, sub, e) == -1)
				return (-1);
		}
		return (0);
	case JSON_ARRAY:
		json_array_foreach(v, i, e) {
			sub = owned_printf(out, "%s[%zu]", name, i);
			if (sub == NULL || flatten(out, sub, e) == -1)
				return (-1);
		}
		return (0);
	case JSON_STRING:
		return (add_part(out, name, NULL, NULL, json_string_value(v),
		    json_string_length(v)));
	case JSON_TRUE:
	case JSON_FALSE:
		val = json_is_true(v) ? "true" : "false";
		return (add_part(out, name, NULL, NULL, val, strlen(val)));
	case JSON_INTEGER:
		val = owned_printf(out, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		if (val == NULL)
			return (-1);
		return (add_part(out, name, NULL, NULL, val, strlen(val)));
	default:
		return (0);	/* null: left out */
	}
}

static int
render_envelope(struct mime_payload *out, const struct envelope *env,
    const char *rcpt)
{
	json_t	*e;

	if ((e = envelope_json(env, rcpt)) == NULL ||
	    owned_add(out, e, free_json) == -1)
		return (-1);
	return (flatten(out, "envelope", e));
}

static int
render_text(struct mime_payload *out, const char *name, const char *text)
{
	char	*c;

	if (text == NULL)
		return (0);
	if ((c = owned_strdup(out, text)) == NULL)
		return (-1);
	return (add_part(out, name, NULL, NULL, c, strlen(c)));
}

static int
render_multipart(struct mime_payload *out, struct mime_doc *md,
    const struct envelope *env, const char *rcpt)
{
	struct doc	*d = &md->d;
	struct attach	*a;
	const char	*name, *fn, *ct;
	size_t		 i;

	if (render_envelope(out, env, rcpt) == -1)
		return (-1);
	if (owned_add(out, json_incref(d->headers), free_json) == -1 ||
	    flatten(out, "headers", d->headers) == -1)
		return (-1);
	if (render_text(out, "plain", d->plain) == -1 ||
	    render_text(out, "html", d->html) == -1 ||
	    render_text(out, "reply_plain", md->reply) == -1)
		return (-1);
	for (i = 0; i < d->natt; i++) {
		a = &d->att[i];
		name = owned_printf(out, "attachments[%zu]", i);
		fn = header_safe(a->file_name ?
		    owned_strdup(out, a->file_name) :
		    owned_printf(out, "attachment-%zu", i));
		ct = header_safe(owned_strdup(out, a->content_type));
		if (name == NULL || fn == NULL || ct == NULL)
			return (-1);
		if (owned_add(out, g_byte_array_ref(a->data),
		    free_bytes) == -1 ||
		    add_part(out, name, fn, ct, a->data->data,
		    a->data->len) == -1)
			return (-1);
	}
	return (render_text(out, "truncated", md->over));
}

/* {"envelope":...,<the rest, rendered once>} */
static int
render_json(struct mime_payload *out, struct mime_doc *md,
    const struct envelope *env, const char *rcpt)
{
	json_t	*e;
	char	*es, *s;

	if (doc_jtail(md) == -1 || (e = envelope_json(env, rcpt)) == NULL)
		return (-1);
	es = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	if (es == NULL)
		return (-1);
	if (asprintf(&s, "{\"envelope\":%s,%s", es, md->jtail + 1) == -1) {
		free(es);
		return (-1);
	}
	free(es);
	if (owned_add(out, s, free) == -1)
		return (-1);
	out->content_type = "application/json";
	out->body = s;
	out->bodylen = strlen(s);
	return (0);
}

int
mime_doc_render(struct mime_doc *md, const struct envelope *env,
    const char *rcpt, enum post_format fmt, struct mime_payload *out)
{
	int	 rv;

	memset(out, 0, sizeof(*out));
	if (fmt == FORMAT_RAW) {
		if (owned_add(out, g_byte_array_ref(md->raw), free_bytes) == -1)
			goto fail;
		if (render_envelope(out, env, rcpt) == -1 ||
		    add_part(out, "message", NULL, NULL, md->raw->data,
		    md->raw->len) == -1)
			goto fail;
		return (0);
	}
	if (!md->parsed) {
		errno = EINVAL;		/* parsed without this format */
		return (-1);
	}
	if (fmt == FORMAT_MULTIPART)
		rv = render_multipart(out, md, env, rcpt);
	else
		rv = render_json(out, md, env, rcpt);
	if (rv == 0)
		return (0);
 fail:
	mime_payload_free(out);
	errno = ENOMEM;
	return (-1);
}

#!/usr/bin/env python3
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""trackcorpus.py DIR [N [C]]: N (default 50) different HTML newsletters
of 5 to 100 KB as messages, for trackbench (the tracking step on its
own); with C, N messages of C newsletters, each personalised: the
recipient's name in its text and their id in its links, as a mailing
tool sends a campaign, one message per recipient.

Each is what a mailing tool sends: a <style> block, nested layout tables,
inline styles on every cell, many links (with entities in their queries),
images, a conditional comment with a VML button, text in several
languages.  The messages vary as submissions do: multipart/alternative
with a quoted-printable or base64 HTML part, a single text/html part,
multipart/mixed with an attachment, LF or CRLF line ends.  The same seed
gives the same files."""
import base64
import os
import quopri
import random
import sys

WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
         "eiusmod tempor incididunt ut labore et dolore magna aliqua enim "
         "minim veniam quis nostrud exercitation ullamco laboris nisi "
         "aliquip commodo consequat offre spéciale réduction été Grüße "
         "für Straße número año café").split()

COLORS = ("#333333", "#ffffff", "#f4f4f4", "#1a73e8", "#e8eaed", "#202124",
          "#5f6368", "#d93025", "#188038")


def text(r, n):
    return " ".join(r.choice(WORDS) for _ in range(n))


def style(r):
    return ("font-family:Arial,Helvetica,sans-serif;font-size:%dpx;"
            "line-height:%dpx;color:%s;padding:%dpx %dpx;"
            "background-color:%s;text-align:%s" %
            (r.choice((12, 14, 16)), r.choice((18, 20, 24)),
             r.choice(COLORS), r.randint(0, 20), r.randint(0, 30),
             r.choice(COLORS), r.choice(("left", "center", "right"))))


def link(r, seq, i):
    host = r.choice(("shop.example.org", "www.example.com",
                     "news.example.net", "example.org"))
    return ("https://%s/%d/p/%d-%s?utm_source=newsletter&amp;"
            "utm_medium=email&amp;utm_campaign=c%d&amp;rcpt=@RID@" %
            (host, seq, i, r.choice(WORDS).encode("ascii", "ignore")
             .decode() or "x", seq))


def block(r, seq, i):
    """One article: a table row with an image, a heading, text, links."""
    links = "".join(
        ' <a href="%s" style="color:%s;text-decoration:underline">%s</a>' %
        (link(r, seq, i * 10 + k), r.choice(COLORS), text(r, 2))
        for k in range(r.randint(1, 4)))
    return (
        '<tr>\n<td class="article" style="%s">\n'
        '<table role="presentation" width="100%%" cellpadding="0" '
        'cellspacing="0" border="0"><tr>\n'
        '<td width="120" valign="top" style="%s"><a href="%s">'
        '<img src="https://img.example.org/%d/%d.jpg" width="120" '
        'height="90" alt="%s" style="display:block;border:0"></a></td>\n'
        '<td valign="top" style="%s"><h2 style="margin:0;%s">%s</h2>\n'
        '<p style="margin:0 0 10px 0">%s &amp; %s&nbsp;&euro;%d</p>\n'
        '<p>%s</p></td>\n</tr></table>\n</td>\n</tr>\n' %
        (style(r), style(r), link(r, seq, i), seq, i, text(r, 3),
         style(r), style(r), text(r, 5), text(r, r.randint(20, 80)),
         text(r, 5), r.randint(5, 500), links))


def html_doc(r, seq, size):
    head = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office">\n<head>\n'
        '<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\n<meta name="viewport" '
        'content="width=device-width, initial-scale=1.0">\n'
        '<title>Newsletter %d: %s</title>\n<style type="text/css">\n' %
        (seq, text(r, 4)))
    head += "".join(
        ".c%d-%d { %s }\n@media only screen and (max-width:600px) { "
        ".c%d-%d { width:100%% !important; } }\n" %
        (seq, k, style(r), seq, k) for k in range(r.randint(10, 60)))
    head += ("</style>\n<!--[if mso]><style>table{border-collapse:"
             "collapse}</style><![endif]-->\n</head>\n")
    body = ('<body style="margin:0;padding:0;%s">\n'
            '<div style="display:none;max-height:0">%s</div>\n'
            '<center><table role="presentation" width="600" '
            'cellpadding="0" cellspacing="0" border="0" align="center" '
            'style="%s">\n<tr><td style="%s"><a href="%s"><img '
            'src="https://img.example.org/logo.png" alt="Logo" '
            'width="200"></a> <a href="#top">top</a> '
            '<a href="mailto:info@example.org">mail us</a></td></tr>\n'
            '<tr><td><p>Dear @NAME@, your code is @RID@.</p></td></tr>\n' %
            (style(r), text(r, 12), style(r), style(r), link(r, seq, 0)))
    i = 1
    parts = [head, body]
    total = len(head) + len(body)
    while total < size:
        b = block(r, seq, i)
        if i % 5 == 0:
            b += (
                '<tr><td align="center"><!--[if mso]><v:roundrect '
                'xmlns:v="urn:schemas-microsoft-com:vml" href="%s" '
                'style="height:40px;v-text-anchor:middle;width:200px;" '
                'arcsize="10%%" strokecolor="#1e3650" fill="t">'
                '<w:anchorlock/><center style="color:#ffffff">%s</center>'
                '</v:roundrect><![endif]--><a href="%s" style="%s">%s</a>'
                '</td></tr>\n' % (link(r, seq, 1000 + i), text(r, 2),
                                  link(r, seq, 1000 + i), style(r),
                                  text(r, 2)))
        parts.append(b)
        total += len(b)
        i += 1
    parts.append(
        '<tr><td style="%s"><p>%s</p><a href="%s">Unsubscribe</a> | '
        '<a href="%s" data-mailhook-notrack>View online</a></td></tr>\n'
        '</table></center>\n</body>\n</html>\n' %
        (style(r), text(r, 30), link(r, seq, 9998), link(r, seq, 9999)))
    return "".join(parts)


def personal(r, html):
    """the recipient's name and id where the newsletter has them"""
    html = html.replace("@NAME@", r.choice(("Ann", "Bob", "Carla", "Dieter",
                                            "Eve", "Francesca")))
    return html.replace("@RID@", "%d" % r.randint(1, 10 ** 6))


def alternative(seq, plain_cte, plain, html_cte, html):
    """a multipart/alternative body: the plain text (its encoding's
    header line, or none), then the HTML in html_cte"""
    return ('Content-Type: multipart/alternative; boundary="=_alt%d"\n\n'
            "--=_alt%d\nContent-Type: text/plain; charset=utf-8\n"
            "%s\n%s\n"
            "--=_alt%d\nContent-Type: text/html; charset=utf-8\n"
            "Content-Transfer-Encoding: %s\n\n%s\n"
            "--=_alt%d--\n" % (seq, seq, plain_cte, plain, seq, html_cte,
                                html, seq))


def message(r, seq, size, html=None):
    if html is None:
        html = personal(r, html_doc(r, seq, size))
    kind = seq % 5
    hdr = ("From: News <news@sender.test>\nTo: rcpt@example.test\n"
           "Subject: Newsletter %d\nMessage-ID: <n%d@sender.test>\n"
           "Date: Sun, 6 Dec 2026 12:00:00 +0000\nMIME-Version: 1.0\n" %
           (seq, seq))
    plain = "Newsletter %d\n\n%s\n" % (seq, text(r, 200))
    qp = quopri.encodestring(html.encode()).decode()
    b64 = base64.encodebytes(html.encode()).decode()
    if kind in (0, 1):
        msg = hdr + alternative(seq, "Content-Transfer-Encoding: 8bit\n",
                                plain, "quoted-printable", qp)
    elif kind == 2:
        msg = hdr + alternative(seq, "", plain, "base64", b64)
    elif kind == 3:
        msg = hdr + ("Content-Type: text/html; charset=utf-8\n"
                     "Content-Transfer-Encoding: quoted-printable\n\n" + qp)
    else:
        att = base64.encodebytes(bytes(r.randrange(256)
                                       for _ in range(3000))).decode()
        msg = hdr + (
            'Content-Type: multipart/mixed; boundary="=_mix%d"\n\n'
            "--=_mix%d\n"
            'Content-Type: multipart/alternative; boundary="=_alt%d"\n\n'
            "--=_alt%d\nContent-Type: text/plain; charset=utf-8\n\n%s\n"
            "--=_alt%d\nContent-Type: text/html; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
            "--=_alt%d--\n\n--=_mix%d\nContent-Type: application/pdf; "
            'name="a.pdf"\nContent-Disposition: attachment; '
            'filename="a.pdf"\nContent-Transfer-Encoding: base64\n\n%s\n'
            "--=_mix%d--\n" % (seq, seq, seq, seq, plain, seq, qp, seq,
                               seq, att, seq))
    if seq % 2 == 1:
        msg = msg.replace("\n", "\r\n")
    return msg


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    c = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(out, exist_ok=True)
    r = random.Random(20261206)
    if c > 0:
        docs = [html_doc(r, k, r.randint(5000, 100000)) for k in range(c)]
        for seq in range(n):
            k = seq * c // n
            with open(os.path.join(out, "p%02d.eml" % seq), "w",
                      newline="") as f:
                f.write(message(r, k, 0, personal(r, docs[k])))
        return
    for seq in range(n):
        size = int(5000 * (20 ** (seq / max(n - 1, 1))))  # 5 to 100 KB
        if seq % 3 == 1:
            size = r.randint(5000, 100000)
        with open(os.path.join(out, "m%02d.eml" % seq), "w",
                  newline="") as f:
            f.write(message(r, seq, size))


if __name__ == "__main__":
    main()

#!/bin/sh
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
# mailhook-setup: prepare a system for mailhookd (for packagers and
# "make install" users; mailhookd itself also creates the spool tree at
# start and refuses unsafe existing directories).
#
#   - the _mailhook system user and group (no home, no shell)
#   - /etc/mailhook (root:root 0755 when created; an existing one keeps
#     its group and a tighter mode, only write access for others is taken)
#   - the spool: root:root 0755, with empty/ (root 0555, smtpd's chroot)
#     and inbound/ outbound/ events/ evlog/ dead/ tlsrpt/ (_mailhook
#     0700); an existing spool or empty/ keeps its group and mode, less
#     write access for group and others, when mailhookd takes it as it is
#     (the children reach it as others or as the group _mailhook: 0750
#     root:_mailhook)
#   - /run/mailhook (root:root 0755) for the control socket, kept as
#     /etc/mailhook is
#
# usage: mailhook-setup [-u] [-s spooldir] [-r rundir] [-c confdir]
# -u: the user and group only (make run, make test and make bench).
# Idempotent; run as root.
set -eu

USER=${MAILHOOK_USER:-_mailhook}
SPOOL=/var/spool/mailhook
RUNDIR=/run/mailhook
CONFDIR=/etc/mailhook
USERONLY=0

usage() {
	echo "usage: $0 [-u] [-s spooldir] [-r rundir] [-c confdir]" >&2
	exit 2
}

while getopts "us:r:c:" opt; do
	case $opt in
	u) USERONLY=1 ;;
	s) SPOOL=$OPTARG ;;
	r) RUNDIR=$OPTARG ;;
	c) CONFDIR=$OPTARG ;;
	*) usage ;;
	esac
done
# an operand ("mailhook-setup /srv/spool") would leave the defaults to be
# made instead, and a relative directory be made under the current one
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "$0: unexpected argument: $1" >&2; usage; }
for dir in "$SPOOL" "$RUNDIR" "$CONFDIR"; do
	case $dir in
	/*) ;;
	*) echo "$0: $dir: not an absolute path" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "$0: must run as root" >&2
	exit 1
fi

NOLOGIN=/usr/sbin/nologin
[ -x "$NOLOGIN" ] || NOLOGIN=/sbin/nologin

if ! getent group "$USER" >/dev/null 2>&1; then
	if command -v groupadd >/dev/null 2>&1; then
		groupadd --system "$USER"
	else
		addgroup -S "$USER"			# busybox
	fi
fi
if ! getent passwd "$USER" >/dev/null 2>&1; then
	echo "mailhook-setup: creating the system user $USER"
	if command -v useradd >/dev/null 2>&1; then
		useradd --system --gid "$USER" --no-create-home \
		    --home-dir /nonexistent --shell "$NOLOGIN" \
		    --comment "mailhook daemon" "$USER"
	else
		adduser -S -D -H -h /nonexistent -s "$NOLOGIN" \
		    -G "$USER" "$USER"			# busybox
	fi
fi
[ "$USERONLY" = 1 ] && exit 0

mkdirp() {	# path owner mode
	[ -d "$1" ] || mkdir -p "$1"
	chown "$2" "$1"
	chmod "$3" "$1"
}

keepdir() {	# path: create root:root 0755, or make an existing one root's
	if [ -d "$1" ]; then
		chown root "$1"
		chmod go-w "$1"
	else
		mkdirp "$1" root:root 0755
	fi
}

# the spool's top and empty/, as mailhookd (parent.c spool_dir) takes
# them: made with MODE, or an existing one made root's and kept, only
# narrowed to MODE, when root has the bits OWN and the children (others,
# or the group $USER) the bits KID; one without them gets MODE
spooldir() {	# path mode own kid
	[ -d "$1" ] || { mkdirp "$1" root:root "$2"; return; }
	chown root "$1"
	m=$(stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1")
	g=$(stat -c %G "$1" 2>/dev/null || stat -f %Sg "$1")
	m=$((0$m))
	if [ $(((m >> 6) & $3)) -eq "$3" ] && { [ $((m & $4)) -eq "$4" ] ||
	    { [ "$g" = "$USER" ] && [ $(((m >> 3) & $4)) -eq "$4" ]; }; }; then
		chmod "$(printf '%o' $((m & $2)))" "$1"
	else
		chmod "$2" "$1"
	fi
}

keepdir "$CONFDIR"
spooldir "$SPOOL" 0755 7 5
spooldir "$SPOOL/empty" 0555 5 1
for d in inbound outbound events evlog dead tlsrpt; do
	mkdirp "$SPOOL/$d" "$USER:$USER" 0700
done
keepdir "$RUNDIR"

echo "mailhook-setup: user $USER, $CONFDIR, $SPOOL, $RUNDIR ready"

#!/bin/sh
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
# make run: mailhookd on 127.0.0.1:2525 POSTing every message (and every
# event) to a local receiver that prints it.  Nothing outside BUILD/demo
# is touched, except that as root the _mailhook user is created if missing.
#
# usage: etc/demo/run.sh [BUILD]      (BUILD: the build directory, default obj)
# environment: MH_DEMO_SMTP_PORT (2525), MH_DEMO_HTTP_PORT (8025),
#              MH_DEMO_STATUS (200: what the receiver answers),
#              MH_DEMO_DIR (BUILD/demo: the config, spools and socket;
#              the tests use their own, beside a make run in use)
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$TOP/obj}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
SMTP_PORT=${MH_DEMO_SMTP_PORT:-2525}
HTTP_PORT=${MH_DEMO_HTTP_PORT:-8025}
STATUS=${MH_DEMO_STATUS:-200}
PYTHON=/usr/bin/python3

die() { echo "make run: $*" >&2; exit 1; }

[ -x "$BUILD/mailhookd" ] || die "$BUILD/mailhookd is not built (make)"
[ -x "$PYTHON" ] || die "$PYTHON is missing (apt-get install python3)"

port_busy() {
	$PYTHON - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}
port_busy "$SMTP_PORT" && die "127.0.0.1:$SMTP_PORT is in use (MH_DEMO_SMTP_PORT=...)"
port_busy "$HTTP_PORT" && die "127.0.0.1:$HTTP_PORT is in use (MH_DEMO_HTTP_PORT=...)"

if [ "$(id -u)" -eq 0 ]; then
	"$TOP/etc/mailhook-setup.sh" -u
else
	echo "make run: not root: mailhookd stays $(id -un), without chroot"
fi

# one tree per user, so that root's and a user's runs do not collide
DEMO=${MH_DEMO_DIR:-$BUILD/demo}
case $DEMO in /*) ;; *) DEMO=$(pwd)/$DEMO ;; esac
SPOOL=$DEMO/spool-$(id -un)
CONF=$DEMO/mailhook.conf
mkdir -p "$DEMO"
chmod 0755 "$DEMO"

# the system's DNS server, for SPF lookups of the test sender's domain
NS=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)
case $NS in
*:*|"") NS=127.0.0.1 ;;		# keep it simple: IPv4 only
esac

# mailhookd refuses a config that another user owns or that others may
# change (it holds secrets): a new file of ours, 0600 whatever the umask
rm -f "$CONF"
(umask 077; cat >"$CONF") <<EOF
# written by etc/demo/run.sh for "make run"; see etc/mailhook.conf
hostname "localhost"
resolver $NS port 53
spool "$SPOOL"
control "$DEMO/mhctl.sock"

listen on 127.0.0.1 port $SMTP_PORT

# the demo receiver is on loopback
allow private-addresses

route any {
	url "http://127.0.0.1:$HTTP_PORT/inbound"
	format json
}

events {
	url "http://127.0.0.1:$HTTP_PORT/events"
	format events
}
EOF

"$BUILD/mailhookd" -n -f "$CONF" || die "the demo configuration does not parse"

# mailhookd runs in the background so that a signal to this script stops
# it: Ctrl-C reaches both, but a hangup (the terminal or the ssh session
# closed) is a reload to mailhookd, and make sends SIGTERM to its child
# alone; either left it running without its terminal
RPID= MPID=
cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$MPID" ]; then
		kill -TERM "$MPID" 2>/dev/null || true
		wait "$MPID" 2>/dev/null || true
	fi
	if [ -n "$RPID" ]; then
		kill "$RPID" 2>/dev/null || true
		wait "$RPID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 143' TERM

$PYTHON "$TOP/etc/demo/receiver.py" --port "$HTTP_PORT" --status "$STATUS" &
RPID=$!
sleep 0.3
kill -0 "$RPID" 2>/dev/null || die "the receiver did not start"

cat <<EOF

  mailhookd: smtp://127.0.0.1:$SMTP_PORT -> http://127.0.0.1:$HTTP_PORT/inbound
  config $CONF, spool $SPOOL
  send a test mail:  swaks --server 127.0.0.1:$SMTP_PORT --to demo@example.com
  status:            $BUILD/mhctl -s $DEMO/mhctl.sock show status
  Ctrl-C stops both.

EOF
rc=0
"$BUILD/mailhookd" -d -f "$CONF" &
MPID=$!
wait "$MPID" || rc=$?
MPID=
exit "$rc"

#!/bin/sh
# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
# deps.sh: the one list of the Debian packages mailhook needs, and what
# installs the missing ones.  make, make run, make test, make deps,
# .ci/run and debian/control (checked by regress/install/test_deps) all
# take their packages from here: add a new dependency to the right level
# below and nowhere else.
#
# usage: etc/deps.sh [-b BUILD] [build|run|fuzz|test|bench|package|all]
#		install what is missing for that level (default: all)
#        etc/deps.sh -l [build|run|fuzz|test|bench|package|all]
#		print the level's packages, one a line
#        etc/deps.sh -s
#		stop and disable the packaged daemons the tests replace
#		(when it installs one of their packages, it stops and
#		disables that one alone: a daemon already in use stays)
#
# Levels add up: run is build and more, fuzz is build and clang, test is
# run and fuzz and more, bench is test and more; package is build plus
# what dpkg-buildpackage needs; all is test and package (what CI
# installs: it runs no bench).
# Nothing runs apt-get when every package is installed (dpkg-query).  As
# root the missing ones are installed (apt-get update once, then apt-get
# install -y --no-install-recommends); as another user the script stops
# with the command to run.  The test level also needs node and npm (the
# machine's own, or Debian's) and the npm modules of the tests in
# BUILD/npm (default obj/npm).  MH_NO_DEPS=1 skips everything.
# MH_POLICY_RC_D (regress/install/test_deps only, with a stand-in
# apt-get): the policy-rc.d it makes instead of /usr/sbin/policy-rc.d,
# which a real apt-get alone honours.
set -eu
policy=${MH_POLICY_RC_D:-/usr/sbin/policy-rc.d}

# what "make" needs: compiler, yacc, pkg-config and the libraries.
# nettle-dev: libunbound.pc requires hogweed, which libunbound-dev does
# not pull in
BUILD_PKGS="
	build-essential pkg-config byacc
	libtls-dev libevent-dev libcurl4-openssl-dev libjansson-dev
	libspf2-dev libseccomp-dev libgmime-3.0-dev libunbound-dev nettle-dev
	libssl-dev libcrypt-dev libbsd-dev
	libopendkim-dev libopendmarc-dev libgumbo-dev libhiredis-dev
	zlib1g-dev libidn2-dev
"

# what "make run" adds: the demo receiver and the client its banner shows;
# publicsuffix: the Public Suffix List hookd reads for DMARC
RUN_PKGS="
	python3 swaks
	publicsuffix
"

# what "make fuzz" adds: clang and its libFuzzer and sanitizer runtimes
FUZZ_PKGS="
	clang libclang-rt-14-dev
"

# what "make test" adds: real peers, tools, the linters and the packager;
# manpages-dev: the system pages our manual pages refer to (syslog(3),
# seccomp(2)), which the mandoc lint test looks for; python3-cryptography:
# the certificates test_sts_rpt_cert makes; systemd: systemd-analyze, which
# checks the unit (not started: the tests run its commands themselves);
# man-db: man -l, as an administrator reads the pages
TEST_PKGS="
	postfix unbound nsd ldnsutils dns-root-data redis-server nginx-light
	opendkim opendkim-tools python3-aiosmtpd python3-dkim python3-cryptography
	python3-prometheus-client python3-jsonschema chromium openssl curl wrk
	ca-certificates git procps psmisc iproute2 strace passwd whois
	util-linux mandoc lintian debhelper dpkg-dev
	manpages-dev systemd man-db
"

# what "make bench" adds: perf for its profiles, and libeatmydata for
# its what-if run (flushes made no-ops, to show what they cost)
BENCH_PKGS="
	linux-perf eatmydata
"

# what dpkg-buildpackage needs beyond the build level
PACKAGE_PKGS="
	debhelper dpkg-dev
"

# packaged daemons that must not run: the tests start their own
# (package:service)
DAEMONS="unbound:unbound postfix:postfix nsd:nsd redis-server:redis-server
	nginx-light:nginx opendkim:opendkim"

# npm modules of the tests (in BUILD/npm)
NPM_MODULES="standardwebhooks cloudmailin"

prog=etc/deps.sh
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

pkgs_of() {
	case $1 in
	build)	echo $BUILD_PKGS ;;
	run)	echo $BUILD_PKGS $RUN_PKGS ;;
	fuzz)	echo $BUILD_PKGS $FUZZ_PKGS ;;
	test)	echo $BUILD_PKGS $RUN_PKGS $FUZZ_PKGS $TEST_PKGS ;;
	bench)	echo $BUILD_PKGS $RUN_PKGS $FUZZ_PKGS $TEST_PKGS $BENCH_PKGS ;;
	package) echo $BUILD_PKGS $PACKAGE_PKGS ;;
	all)	echo $BUILD_PKGS $RUN_PKGS $FUZZ_PKGS $TEST_PKGS $PACKAGE_PKGS ;;
	esac | tr ' ' '\n' | awk 'NF && !seen[$0]++'
}

# the packages of the list that dpkg does not show as installed
missing_of() {
	# shellcheck disable=SC2046
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null |
	    awk '$1 == "ii" { print $2 }' >"$tmp"
	for p in "$@"; do
		grep -qx "$p" "$tmp" || echo "$p"
	done
}

# the services of those packages among the arguments ("all": every one)
daemons_of() {
	for d in $DAEMONS; do
		for p in "$@"; do
			[ "$p" = all ] || [ "$p" = "${d%%:*}" ] || continue
			echo "${d#*:}"
			break
		done
	done
}

stop_daemons() {	# service...
	[ $# -gt 0 ] || return 0
	say "stopping and disabling (the tests start their own): $*"
	for svc in "$@"; do
		if command -v systemctl >/dev/null 2>&1 &&
		    [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif command -v service >/dev/null 2>&1; then
			service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
}

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	# postfix must neither ask questions nor configure itself; only when
	# it is being installed (the answer is debconf's for good: a
	# configured postfix's would be changed)
	case " $* " in
	*" postfix "*)
		echo "postfix postfix/main_mailer_type select No configuration" |
		    debconf-set-selections ;;
	esac
	# packaged daemons must not start while they are installed (no
	# systemd in a container; invoke-rc.d honours policy-rc.d); ours is
	# removed however the script ends (the EXIT trap, which a signal
	# reaches too): one left behind would keep every later package
	# upgrade on the machine from restarting its daemon
	if [ ! -e "$policy" ]; then
		policy_created=1
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
	fi
	say "installing: $*"
	rc=0
	{ apt-get -o DPkg::Lock::Timeout=600 update &&
	    apt-get -o DPkg::Lock::Timeout=600 install -y \
	    --no-install-recommends "$@"; } >&2 || rc=$?
	policy_remove
	[ "$rc" = 0 ] || { say "apt-get failed (exit $rc)"; exit 1; }
	# shellcheck disable=SC2046
	stop_daemons $(daemons_of "$@")
}

npm_modules() {
	dir=$BUILD/npm
	need=""
	for m in $NPM_MODULES; do
		[ -d "$dir/node_modules/$m" ] || need="$need $m"
	done
	[ -n "$need" ] || return 0
	say "npm modules into $dir:$need"
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	npm install --no-audit --no-fund --prefix "$dir" $need >&2
}

BUILD=obj
mode=install
while getopts "b:ls" opt; do
	case $opt in
	b)	BUILD=$OPTARG ;;
	l)	mode=list ;;
	s)	mode=stop ;;
	*)	echo "usage: $prog [-b build] [-l | -s] [level]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
level=${1:-all}

case $level in
build|run|fuzz|test|bench|package|all) ;;
*)	say "unknown level '$level' (build, run, fuzz, test, bench, package or all)"; exit 2 ;;
esac
case $mode in
list)	pkgs_of "$level"; exit 0 ;;
stop)	# shellcheck disable=SC2046
	stop_daemons $(daemons_of all); exit 0 ;;
esac

[ "${MH_NO_DEPS:-0}" = 1 ] && exit 0
if ! command -v dpkg-query >/dev/null 2>&1; then
	say "not a Debian system: install the equivalents of '$prog -l $level' yourself (MH_NO_DEPS=1 silences this)"
	exit 0
fi

tmp=$(mktemp)
policy_created=0
policy_remove() {
	[ "$policy_created" = 0 ] || rm -f "$policy"
	policy_created=0
}
trap 'rm -f "$tmp"; policy_remove' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# shellcheck disable=SC2046
missing=$(missing_of $(pkgs_of "$level") | tr '\n' ' ')
case $level in
test|bench|all)
	# node and npm: the machine's own if it has them, else Debian's
	command -v npm >/dev/null 2>&1 ||
	    missing="$missing$(missing_of nodejs npm | tr '\n' ' ')" ;;
esac
missing=${missing% }

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		sudo=""
		command -v sudo >/dev/null 2>&1 && sudo="sudo "
		say "missing packages: run '${sudo}apt-get install --no-install-recommends $missing' (or '${sudo}make deps') first"
		exit 1
	fi
	# shellcheck disable=SC2086
	apt_install $missing
fi

case $level in
test|bench|all) npm_modules ;;
esac
exit 0

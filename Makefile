# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
# mailhook — GNU make
#
#   make            build mailhookd and mhctl
#   make run        build, then start mailhookd on 127.0.0.1:2525 with a demo receiver
#   make test       build (warnings are errors) and run every test in regress/
#   make sanitize   the same build with ASan/UBSan, in obj-san/
#   make sanitize-test  on it, the tests that attack the daemon (SAN_TESTS)
#   make fuzz       build the libFuzzer targets (clang)
#   make bench      benchmarks (regress/bench)
#   make trackbench the tracking step on its own, for callgrind
#   make install    DESTDIR=... PREFIX=/usr/local
#   make uninstall  the same variables: removes what install put in place
#                   but mailhook.conf (and the spool)
#   make deps       install every Debian package the above need (as root)
#
# Each target above first installs the Debian packages it misses
# (etc/deps.sh: the one list; as root only, else it names the command);
# MH_NO_DEPS=1 skips that.  The tests' daemons drop to _mailhook when run
# as root: make test and make sanitize-test create it if missing.

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share/mailhook
SYSCONFDIR ?= /etc/mailhook
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# the group that may read mailhook.conf (it holds secrets)
CONFGROUP ?= _mailhook
BUILD	?= obj
CC	?= cc
YACC	?= byacc

PKGS	:= libevent libevent_openssl libtls libcurl jansson gmime-3.0 libunbound \
	   libseccomp libbsd-overlay libcrypto libssl gumbo opendkim hiredis zlib \
	   libidn2
# asked of pkg-config once, when first used: after etc/deps.sh has run
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $$(PKGS)) \
	     -lopendmarc -lspf2 -lcrypt -lresolv)$(PKG_LIBS)

WARN	:= -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	   -Wpointer-arith -Wmissing-prototypes -Wstrict-prototypes
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 $(WARN) -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS	+= $(EXTRA_LDFLAGS)

# The process folders: every .c in one of them, and in common/, is part of
# the daemon library.  A new process folder is one word added here.
PROCDIRS := mailhookd smtpd authd relayd hookd signer webd
# the two programs' main() live in mailhookd/mailhookd.c and mhctl/mhctl.c
LIB_SRCS := $(filter-out mailhookd/mailhookd.c, \
	    $(wildcard common/*.c $(addsuffix /*.c,$(PROCDIRS))))
LIB_OBJS := $(patsubst %.c,$(BUILD)/o/%.o,$(LIB_SRCS)) $(BUILD)/o/parse.o
# regress/<component>/: test_*.c are unit tests, the other .c are helper
# programs the script tests run; both are built into $(BUILD)/regress/
# (regress/fuzz and regress/bench build their own)
REGRESS_CSRCS := $(filter-out regress/fuzz/% regress/bench/%, \
	    $(wildcard regress/*/*.c))
REGRESS_BINS := $(addprefix $(BUILD)/regress/,$(notdir $(REGRESS_CSRCS:.c=)))
FUZZ_SRCS := $(wildcard regress/fuzz/fuzz_*.c)

all: $(BUILD)/mailhookd $(BUILD)/mhctl $(REGRESS_BINS)

# every header of common/ and of the process folders (relayd/mta.h...):
# a struct changed in one is seen by every object that may include it
$(BUILD)/o/%.o: %.c common/*.h $(wildcard $(addsuffix /*.h,$(PROCDIRS))) \
    | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(MH_DEFS) $(CFLAGS) -I$(dir $<) -c $< -o $@

# the grammar, and its token numbers for the lexer (common/parse_lex.c)
$(BUILD)/parse.c: common/parse.y | deps-build
	@mkdir -p $(BUILD)
	$(YACC) -H $(BUILD)/parse_tok.h -o $@ $<
$(BUILD)/parse_tok.h: $(BUILD)/parse.c
$(BUILD)/o/common/parse_lex.o: $(BUILD)/parse_tok.h
$(BUILD)/o/common/parse_lex.o: CPPFLAGS += -I$(BUILD)

$(BUILD)/o/parse.o: $(BUILD)/parse.c common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-function -Wno-missing-prototypes -c $< -o $@

$(BUILD)/libmh.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/mailhookd: $(BUILD)/o/mailhookd/mailhookd.o $(BUILD)/libmh.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# SYSCONFDIR is compiled into mailhookd (the default -f) and mhctl (the
# DKIM key directory): a file that changes with it rebuilds the two, so
# that "make install SYSCONFDIR=..." after "make" installs binaries that
# read there
$(BUILD)/sysconfdir: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SYSCONFDIR)' | cmp -s - $@ || echo '$(SYSCONFDIR)' >$@
$(BUILD)/o/mailhookd/mailhookd.o $(BUILD)/o/mhctl/mhctl.o: $(BUILD)/sysconfdir
$(BUILD)/o/mailhookd/mailhookd.o $(BUILD)/o/mhctl/mhctl.o: \
    MH_DEFS = -DMH_SYSCONFDIR='"$(SYSCONFDIR)"'

MHCTL_OBJS := $(patsubst %.c,$(BUILD)/o/%.o,$(wildcard mhctl/*.c))
$(BUILD)/mhctl: $(MHCTL_OBJS) $(BUILD)/libmh.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# one rule per test program, from wherever in regress/ its source is; a
# program in regress/X/ sees the headers of X/ (regress/relayd: relayd/)
define regress_prog
$(BUILD)/regress/$(notdir $(1:.c=)): $(1) $(BUILD)/libmh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -Iregress/lib -I$(patsubst regress/%/,%,$(dir $(1))) -o $$@ $$< $$(BUILD)/libmh.a $$(LDFLAGS) $$(PKG_LIBS)
endef
$(foreach s,$(REGRESS_CSRCS),$(eval $(call regress_prog,$(s))))
# authdtest -E: a libspf2 DNS answer that cannot be made (authdtest.c)
$(BUILD)/regress/authdtest: LDFLAGS += -Wl,--wrap=SPF_dns_rr_new_init

deps-build:
	etc/deps.sh -b $(BUILD) build

deps:
	etc/deps.sh -b $(BUILD) all

# as root, the user the daemons under test drop to, created if missing
MHUSER = [ "$$(id -u)" -ne 0 ] || etc/mailhook-setup.sh -u

test: all
	etc/deps.sh -b $(BUILD) test
	$(MHUSER)
	MH_BUILD=$(CURDIR)/$(BUILD) regress/run $(TESTS)

sanitize:
	$(MAKE) BUILD=obj-san \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" all

# The sanitizer build on the tests that attack the running daemon: floods
# and limits, MIME bombs, faults (disk full, hostile peers), kill -9,
# reloads.  A sanitizer report stops the process (UBSan too), which the
# tests see; no leak check (the children skip theirs, sandbox.c;
# test_stop_clean turns it on for the parent's).
SAN_TESTS ?= harden/ hookd/test_mime hookd/test_outage relayd/test_crash \
	e2e/outbound/test_crash e2e/inbound/test_queue \
	e2e/inbound/test_concurrency e2e/inbound/test_smtp_daemon_limits \
	e2e/webd/test_kill e2e/mailhookd/test_hostile_peer \
	e2e/mailhookd/test_stop_clean common/test_addrguard relayd/test_track \
	e2e/outbound/test_data_check common/test_kept relayd/test_hostile \
	e2e/webd/test_badinput e2e/webd/test_links \
	e2e/inbound/test_sender_forms smtpd/test_smtp_offers \
	e2e/inbound/test_sync_busy e2e/mailhookd/test_reload_reason
sanitize-test: sanitize
	etc/deps.sh -b $(BUILD) test
	$(MHUSER)
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    MH_BUILD=$(CURDIR)/obj-san regress/run $(SAN_TESTS)

# FUZZBUILD: where the fuzz build goes (regress/fuzz/test_fuzz puts it
# beside the build under test)
FUZZBUILD ?= obj-fuzz
fuzz:
	etc/deps.sh fuzz
	$(MAKE) CC=clang BUILD=$(FUZZBUILD) \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -Wno-missing-field-initializers" \
	    $(FUZZBUILD)/libmh.a
	@mkdir -p $(FUZZBUILD)/fuzz
	for f in $(FUZZ_SRCS); do \
	    n=$$(basename $$f .c); \
	    clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon -Ismtpd -Ihookd -Irelayd -Iwebd -Iregress/lib $(PKG_CFLAGS) \
	        -fsanitize=fuzzer,address,undefined $$f $(FUZZBUILD)/libmh.a \
	        $(PKG_LIBS) -o $(FUZZBUILD)/fuzz/$$n || exit 1; \
	done

# relayd's tracking step on its own, for callgrind (regress/bench/trackbench.c)
trackbench: $(BUILD)/trackbench
$(BUILD)/trackbench: regress/bench/trackbench.c $(BUILD)/libmh.a
	$(CC) $(CFLAGS) -Iregress/lib -Irelayd -o $@ $< $(BUILD)/libmh.a \
	    $(LDFLAGS) $(PKG_LIBS)

bench: all
	etc/deps.sh -b $(BUILD) bench
	MH_BUILD=$(CURDIR)/$(BUILD) PYTHONPATH=$(CURDIR)/regress/lib \
	    regress/bench/run

run: all
	etc/deps.sh -b $(BUILD) run
	etc/demo/run.sh $(CURDIR)/$(BUILD)

# every path from PREFIX and the directories above; mailhook.conf only if
# there is none (0640 root:$(CONFGROUP), the group set by root when it
# exists)
install: $(BUILD)/mailhookd $(BUILD)/mhctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(BUILD)/mailhookd $(DESTDIR)$(SBINDIR)/mailhookd
	install -m 0755 $(BUILD)/mhctl $(DESTDIR)$(SBINDIR)/mhctl
	install -m 0755 etc/mailhook-setup.sh $(DESTDIR)$(SBINDIR)/mailhook-setup
	install -m 0644 mailhookd/mailhookd.8 mhctl/mhctl.8 etc/mailhook-setup.8 \
	    $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 mailhookd/mailhook.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 etc/mailhook.conf $(DESTDIR)$(SYSCONFDIR)/mailhook.conf.example
	if [ ! -e $(DESTDIR)$(SYSCONFDIR)/mailhook.conf ]; then \
		install -m 0640 etc/mailhook-minimal.conf \
		    $(DESTDIR)$(SYSCONFDIR)/mailhook.conf; \
		if [ "$$(id -u)" = 0 ] && \
		    getent group $(CONFGROUP) >/dev/null 2>&1; then \
			chgrp $(CONFGROUP) $(DESTDIR)$(SYSCONFDIR)/mailhook.conf; \
		fi; \
	fi
	# the unit and the rc.d script, written with these paths straight
	# into place (a file of the build directory would be shared by two
	# installs with other paths at once, as the tests run them)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/mailhook.service.in \
	    >$(DESTDIR)$(SYSTEMDUNITDIR)/mailhook.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mailhook.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/mailhook.service.tmp \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/mailhook.service
	sed -e 's|^daemon=.*|daemon="$(SBINDIR)/mailhookd"|' \
	    -e 's|^daemon_flags=.*|daemon_flags="-f $(SYSCONFDIR)/mailhook.conf"|' \
	    etc/rc.d/mailhook >$(DESTDIR)$(DATADIR)/rc.d-mailhook.tmp
	chmod 0755 $(DESTDIR)$(DATADIR)/rc.d-mailhook.tmp
	mv -f $(DESTDIR)$(DATADIR)/rc.d-mailhook.tmp \
	    $(DESTDIR)$(DATADIR)/rc.d-mailhook

# what install put in place, with the same variables; mailhook.conf (the
# operator's) and the spool stay, as a package's remove keeps them
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mailhookd $(DESTDIR)$(SBINDIR)/mhctl \
	    $(DESTDIR)$(SBINDIR)/mailhook-setup \
	    $(DESTDIR)$(MANDIR)/man8/mailhookd.8 $(DESTDIR)$(MANDIR)/man8/mhctl.8 \
	    $(DESTDIR)$(MANDIR)/man8/mailhook-setup.8 \
	    $(DESTDIR)$(MANDIR)/man5/mailhook.conf.5 \
	    $(DESTDIR)$(SYSCONFDIR)/mailhook.conf.example \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/mailhook.service \
	    $(DESTDIR)$(DATADIR)/rc.d-mailhook
	rmdir $(DESTDIR)$(DATADIR) 2>/dev/null || true

clean:
	rm -rf obj obj-san obj-fuzz

.PHONY: all deps deps-build test sanitize sanitize-test fuzz bench trackbench \
	run install \
	uninstall clean FORCE
.SECONDARY:

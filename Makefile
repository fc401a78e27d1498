# moat - build, run, test.
#
#   make          release build in build/release
#   make run      install what is missing, build, run moatd in the foreground
#   make test     install what is missing, check the format, build with
#                 ASan+UBSan, run every test
#   make bench    benchmarks against Postfix (bench/RESULTS.md)
#   make format   apply .clang-format to all C
#   make install  release build into PREFIX (/usr/local) under DESTDIR: the
#                 programs, man pages, /etc/moat, /var/lib/moat, /var/spool/moat

O        ?= build/release
OPT      ?= -O2
SANFLAGS ?=
CC       ?= cc

# The libraries the code calls (hiredis: the Redis store backend).
PKGS     := libbsd-overlay libevent libevent_openssl libcares libconfuse openssl libpcre2-8 hiredis libidn2 libcurl
# A missing library stops the build here, named by pkg-config, instead of
# surfacing as a compiler error. Goals that build nothing in this make (deps,
# run, test and bench install what is missing, then build in a sub-make)
# do not ask for it.
NOPKG_GOALS := deps run test bench format format-check clean
ifneq ($(filter-out $(NOPKG_GOALS),$(or $(MAKECMDGOALS),all)),)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
ifneq ($(.SHELLSTATUS),0)
$(error pkg-config cannot find a library moat needs (above); `make deps` installs it)
endif
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
# sd_notify(3), for moatd alone (moatd/notify.c)
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd)
ifneq ($(.SHELLSTATUS),0)
$(error pkg-config cannot find libsystemd; `make deps` installs it)
endif
endif

# Hardening (tests/e2e/test_hardening.py reads the release binaries): stack
# protector, stack clash probes, CET branch markers, a position-independent
# executable with read-only relocations bound at start-up, and glibc's
# _FORTIFY_SOURCE=3 (GCC 12 + glibc 2.34 and later: object sizes known only
# at run time are checked too). The sanitizer builds leave fortification
# out: its wrappers would hide overflows from ASan's own interceptors.
HARDEN   := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE \
            $(if $(SANFLAGS),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
            -Wno-unused-parameter -Wno-format-truncation -g $(OPT) $(SANFLAGS) $(HARDEN) \
            -Isrc $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -llmdb -lcrypt -lresolv -lpthread
LDFLAGS  := $(SANFLAGS) -pie -Wl,-z,relro,-z,now

MAINS    := src/moatd/main.c src/moatctl/main.c src/probe/main.c src/sendmail/main.c
LIB_SRCS := $(filter-out $(MAINS),$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS    := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
PROGS    := $(O)/moatd $(O)/moatctl $(O)/moat-probe $(O)/moat-sendmail

.PHONY: all deps run test unit asan fuzz fuzz-long bench format format-check clean install
all: $(PROGS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/libmoat.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(O)/moatd: $(O)/src/moatd/main.o $(O)/libmoat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SYSTEMD_LIBS)
$(O)/moatctl: $(O)/src/moatctl/main.o $(O)/libmoat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/moat-probe: $(O)/src/probe/main.o $(O)/libmoat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/moat-sendmail: $(O)/src/sendmail/main.o $(O)/libmoat.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libmoat.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNITS)

deps:
	@./scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./scripts/run.sh $(O)

asan:
	@$(MAKE) --no-print-directory O=build/asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DMOAT_SANITIZE" \
	  all unit

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk

# A fuzzing campaign: every target for FUZZ_SECONDS (1800) of CPU, FUZZ_JOBS (1) at
# a time, from its committed corpus; tests/fuzz/long.sh tells the rest.
fuzz-long: fuzz
	./tests/fuzz/long.sh

test: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory fuzz
	./tests/run.sh build/asan

bench: deps
	@$(MAKE) --no-print-directory all
	./bench/run.sh $(O)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
# Part of make test (and so of CI): a file clang-format would change fails.
format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') && \
	  echo "format-check: every C file is clang-formatted"

clean:
	rm -rf build

# Install (FHS). The configuration and the state live where moatd looks
# without -c (/etc/moat/moat.conf) and where its compiled-in defaults point
# (src/conf/conf.h), whatever PREFIX is. An existing /etc/moat/moat.conf is
# the administrator's and is left alone. The directories get their modes
# here; their owners are set by moatd at start (root's spool, the run
# user's state and mail, moatd(8)) or by the Debian package's postinst.
# A moat-sendmail in PROGS (the sendmail(8) interface) is installed as
# sbin/moat-sendmail with a moat-mailq link: never as sendmail itself,
# which belongs to the system's MTA (README, Install).
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
VARDIR     ?= /var
# systemd's unit; empty: none (the Debian package installs its own)
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: all
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(O)/moatd $(O)/moatctl $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(O)/moat-probe $(DESTDIR)$(BINDIR)/
	for s in 1 5 8; do \
	  install -d -m 0755 $(DESTDIR)$(MANDIR)/man$$s && \
	  for m in doc/*.$$s; do [ ! -e "$$m" ] || install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man$$s/; done; \
	done
	$(if $(filter $(O)/moat-sendmail,$(PROGS)),\
	  install -m 0755 $(O)/moat-sendmail $(DESTDIR)$(SBINDIR)/ && \
	  ln -sf moat-sendmail $(DESTDIR)$(SBINDIR)/moat-mailq && \
	  ln -sf moat-sendmail.8 $(DESTDIR)$(MANDIR)/man8/moat-mailq.8)
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/moat
	[ -e $(DESTDIR)$(SYSCONFDIR)/moat/moat.conf ] || \
	  install -m 0644 etc/moat-installed.conf $(DESTDIR)$(SYSCONFDIR)/moat/moat.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/moat/signatures.conf ] || \
	  install -m 0644 etc/signatures.conf $(DESTDIR)$(SYSCONFDIR)/moat/signatures.conf
	install -d -m 0755 $(DESTDIR)$(VARDIR)/spool/moat
	install -d -m 0700 $(DESTDIR)$(VARDIR)/lib/moat
	$(if $(UNITDIR),install -d -m 0755 $(DESTDIR)$(UNITDIR) && \
	  sed 's|/usr/sbin/moatd|$(SBINDIR)/moatd|g' debian/moat.service \
	    >$(DESTDIR)$(UNITDIR)/moat.service && chmod 0644 $(DESTDIR)$(UNITDIR)/moat.service)

-include $(shell find $(O) -name "*.d" 2>/dev/null)

# fuzz.mk - build the libFuzzer targets: make fuzz (or make -f tests/fuzz/fuzz.mk)
#
# Every tests/fuzz/fuzz_NAME.c becomes build/fuzz/fuzz_NAME. It is linked with
# the library sources listed in SRCS_NAME below, compiled by clang with
# coverage and ASan+UBSan into build/fuzz/obj/. tests/run.sh runs each one
# briefly, seeded from tests/fuzz/corpus/NAME/; tests/fuzz/long.sh (make
# fuzz-long) runs a campaign of them.
#
#   build/fuzz/fuzz_NAME tests/fuzz/corpus/NAME -max_total_time=60

FZ       ?= build/fuzz
FUZZ_CC  ?= clang

# The Makefile's libraries; a missing one is named by pkg-config here.
PKGS       := libbsd-overlay libevent libevent_openssl libcares libconfuse openssl libpcre2-8 libidn2
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
ifneq ($(.SHELLSTATUS),0)
$(error pkg-config cannot find a library moat needs (above); `make deps` installs it)
endif
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

# The Makefile's flags; clang does not know -Wformat-truncation, hence
# -Wno-unknown-warning-option. UBSan findings abort, so libFuzzer sees them.
SAN_OBJ  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
SAN_BIN  := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
            -Wno-unknown-warning-option -Wno-unused-parameter -Wno-format-truncation \
            -g -O1 -fno-omit-frame-pointer -Isrc -Itests/fuzz $(PKG_CFLAGS)

# The library sources each target needs: the parser and what it calls.
# log.c writes JSON lines too (log_format = "json")
LOG_SRCS      := src/common/log.c src/common/log_json.c src/common/json.c
SRCS_command  := src/smtp/command.c src/common/mailaddr.c
SRCS_mailaddr := src/common/mailaddr.c
SRCS_dataread := src/smtp/dataread.c
SRCS_reply    := src/smtp/client_reply.c
SRCS_token    := src/probe/token.c
SRCS_trapaddr := src/bait/trapaddr.c src/common/netaddr.c src/common/ascii.c
# journal recovery; fuzz_journal.c stands in for common/log.c (quiet)
SRCS_journal  := src/queue/journal_recover.c src/queue/journal.c src/queue/envelope.c \
                 src/common/xmalloc.c src/common/fileio.c src/common/clock.c
SRCS_envelope := src/queue/envelope.c src/common/xmalloc.c $(LOG_SRCS)
SRCS_base64   := src/common/base64.c
# what a milter sends, and the header section it is shown and changes
SRCS_milter   := src/milter/milter_proto.c src/milter/milter_msg.c src/queue/spool.c \
                 src/queue/spool_commit.c src/queue/journal.c src/queue/journal_recover.c \
                 src/queue/freelist.c \
                 src/queue/envelope.c src/common/xmalloc.c $(LOG_SRCS) \
                 src/common/fileio.c src/common/clock.c
# a policy service's reply, and the request's attribute lines
SRCS_psvc     := src/policy/psvc_proto.c
# the configuration reader and what its checks call
SRCS_conf     := src/conf/conf.c src/conf/conf_check.c src/conf/conf_path.c \
                 src/conf/conf_limits.c src/conf/conf_screen.c \
                 src/conf/conf_dnsbl.c src/common/netaddr.c src/common/mailaddr.c \
                 src/common/ascii.c src/common/fdlimit.c src/common/xmalloc.c \
                 $(LOG_SRCS) src/conf/conf_store.c src/conf/conf_ext.c src/conf/aliases.c \
                 src/conf/conf_domain.c src/conf/conf_nexthop.c \
                 src/conf/conf_srs.c src/common/srs.c
# the bait server's page for a peer address (fuzz_bait.c says why no evhttp)
SRCS_bait     := src/bait/page.c src/bait/trapaddr.c src/common/netaddr.c \
                 src/common/ascii.c
# the attack signature reader and matcher (PCRE2)
SRCS_sig      := src/sig/sigset.c src/sig/sigmatch.c src/common/xmalloc.c $(LOG_SRCS)
# the access list files (client, helo, sender) and their matching
SRCS_access   := src/policy/access.c src/common/netaddr.c src/common/mailaddr.c \
                 src/common/ascii.c src/common/xmalloc.c $(LOG_SRCS)
# the password file as a login reads it (through authdb.c, which needs the
# Dovecot backend too) and as moatctl user add rewrites it; no libcrypt:
# fuzz_passwd.c stands in for crypt(3)
SRCS_passwd   := src/auth/passwd.c src/auth/authdb.c src/auth/dovecot.c \
                 src/common/base64.c src/common/safefile.c src/common/xmalloc.c \
                 $(LOG_SRCS)
# the sender map; conf.c for conf_domain_find() (fuzz_sendermap.c says why
# no policy.c)
SRCS_sendermap := src/policy/sender_login.c $(SRCS_conf)
# the aliases file reader and the expansion of recipients
SRCS_aliases  := $(SRCS_conf)
# a line from Dovecot's auth socket (fuzz_dovecot.c stands in for authdb.c)
SRCS_dovecot  := src/auth/dovecot.c src/common/base64.c src/common/xmalloc.c \
                 $(LOG_SRCS)
# a control request line split into words
SRCS_control  := src/moatd/control_split.c
# the SRS decoder (and the encoder, for the round trip)
SRCS_srs      := src/common/srs.c
# what a recipient lookup server sends: socketmap netstrings, Dovecot userdb
SRCS_lookup   := src/policy/lookup_proto.c
# a load balancer's PROXY header, and the bait server's X-Forwarded-For
SRCS_proxyproto := src/smtp/proxyproto.c src/bait/forwarded.c src/common/netaddr.c
# a logfmt line (client text escaped by log_escape) turned into JSON
SRCS_logjson  := $(LOG_SRCS)
# the metrics page made of stored keys, and label values escaped
SRCS_metrics  := src/metrics/metrics_render.c src/metrics/promtext.c \
                 src/metrics/metrics_table.c src/common/xmalloc.c $(LOG_SRCS)
# the header lines of submitted mail: fields, folded lines, the end
SRCS_msgfield := src/common/msgfield.c
# a ClientHello's server_name choosing a listener certificate; tls.c makes
# the certificates (tls_self_signed) and reads them as a start does
SRCS_sni      := src/smtp/tls_sni.c src/smtp/tls.c src/common/safefile.c \
                 src/conf/conf_path.c src/common/ascii.c src/common/xmalloc.c $(LOG_SRCS)
# moat-sendmail's -t header reader and address lists
SRCS_sendmail := src/sendmail/headers.c src/common/xmalloc.c $(LOG_SRCS)
# an MTA-STS policy file (HTTPS), "_mta-sts" TXT record and its DNS answer
SRCS_mtasts   := src/deliver/mtasts_policy.c src/common/mailaddr.c src/common/ascii.c
# a DNS answer's AD bit and TLSA records (DANE); libresolv is the reference
SRCS_tlsa     := src/dns/tlsa.c
LIBS_tlsa     := -lresolv

NAMES    := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZERS  := $(NAMES:%=$(FZ)/fuzz_%)

.PHONY: all clean
all: $(FUZZERS)

$(FZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS) $(SAN_OBJ) -MMD -MP -c $< -o $@

define fuzz_target
$(if $(SRCS_$(1)),,$(error tests/fuzz/fuzz.mk: set SRCS_$(1) for fuzz_$(1).c))
$(FZ)/fuzz_$(1): $(FZ)/obj/tests/fuzz/fuzz_$(1).o $(SRCS_$(1):%.c=$(FZ)/obj/%.o)
	$$(FUZZ_CC) $$(SAN_BIN) -o $$@ $$^ $$(PKG_LIBS) $$(LIBS_$(1))
endef
$(foreach n,$(NAMES),$(eval $(call fuzz_target,$(n))))

clean:
	rm -rf $(FZ)

-include $(shell find $(FZ)/obj -name '*.d' 2>/dev/null)

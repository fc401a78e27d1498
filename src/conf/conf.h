/* SPDX-License-Identifier: ISC */
/*
 * conf.h - moat.conf parsed into one validated struct.
 *
 * conf_load() parses a file with libconfuse, checks every value (ranges from
 * limits.h, addresses, domains, users) and reports "file:line: problem" on
 * stderr. Lookups: conf_domain_find(), conf_domain_has_user(),
 * conf_is_trusted(). The limits and screen sections are checked and built
 * by conf_limits.c and conf_screen.c; files named here that other layers
 * read (access lists, the TLS key, password files) stay paths. A relative
 * path in the file is taken from the file's own directory (conf->dir), not
 * from the working directory, so moatd and moatctl started anywhere agree.
 */
#ifndef MOAT_CONF_H
#define MOAT_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/netaddr.h"
#include "common/srs.h"
#include "conf/aliases.h"
#include "conf/limits.h"
#include "deliver/tlspolicy.h" /* enum tls_level: names only, no code */

enum listener_role {
	ROLE_MX = 0,     /* port 25: inbound mail */
	ROLE_SUBMISSION, /* port 587: users, STARTTLS then AUTH */
	ROLE_SMTPS,      /* port 465: implicit TLS, AUTH */
	ROLE_LOCAL,      /* run_dir/submit.sock: moat-sendmail (local_submission) */
};

/* the local submission socket in run_dir, and its listener's name */
#define LOCAL_SUBMIT_SOCKET "submit.sock"
#define LOCAL_LISTENER_NAME "local"

/* one certificate of the listeners: tls's own pair or a certificate section */
struct tls_cert_conf {
	char *cert_file;
	char *key_file;
	int line; /* of its section's end, for errors found when it is loaded */
};

struct listener_conf {
	char *name;
	char *address; /* ROLE_LOCAL: "unix:RUN_DIR/submit.sock", bound by name */
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum listener_role role;
	/* load balancers whose connections begin with a PROXY header
	 * (smtp/session_proxy.c); none: no PROXY protocol here */
	struct cidr *proxy_from;
	size_t nproxy_from;
};

enum delivery_kind {
	DELIVER_MAILDIR = 0,
	DELIVER_LMTP,
	DELIVER_SMTP,
};

/*
 * A configured next hop's TLS and AUTH (conf_nexthop.c): the relayhost,
 * or a domain's delivery = "smtp:...". The string form of relayhost is
 * tls = may and nothing else. The credentials are read from auth_file
 * when the configuration is loaded (as root, before privileges go), and
 * zeroed when it is freed.
 */
struct nexthop_conf {
	enum tls_level tls;
	int implicit_tls; /* TLS from the first byte (RFC 8314), no STARTTLS */
	char *ca_file;    /* absolute; NULL: outbound_ca_file, else the system store */
	char *tls_name;   /* the name the certificate must carry; NULL: the host */
	char *auth_file;  /* absolute, or NULL: no AUTH */
	char *auth_user;
	char *auth_pass; /* secret: never logged */
};

struct domain_conf {
	char *name;   /* lower case */
	char **users; /* sorted, lower case */
	size_t nusers;
	enum delivery_kind delivery;
	char *delivery_target;       /* endpoint for lmtp/smtp */
	struct nexthop_conf nexthop; /* smtp: its TLS and AUTH */
	char *aliases_file;          /* its own aliases, or NULL */
	/* who else knows its users (asked after users and aliases, before the
	 * catch-all), or NULL */
	struct rcpt_lookup_conf *lookup;
};

/* how the spool makes a batch durable (spool_sync; queue/spool_commit.c) */
enum spool_sync_mode {
	SPOOL_SYNC_JOURNAL = 0, /* copies appended to a journal segment, one fdatasync */
	SPOOL_SYNC_FILE,        /* fdatasync of each file, fsync of queue/ */
	SPOOL_SYNC_FILESYSTEM   /* one syncfs */
};

enum fcrdns_policy { FCRDNS_IGNORE = 0, FCRDNS_SCORE, FCRDNS_REJECT, FCRDNS_TEMPFAIL };
enum sender_domain_policy { SDOM_OFF = 0, SDOM_TEMPFAIL, SDOM_REJECT };

struct dnsbl_zone; /* conf_dnsbl.h */

/* Screening (policy/): what is checked, and the reply class of each rule. */
struct screen_conf {
	/* Access list files, NULL if none: policy/access.c reads them (as
	 * the run user) when a policy is built; conf_load() only checks that
	 * they can be read. */
	char *client_access;
	char *helo_access;
	char *sender_access;
	/* Attack signatures (src/sig/), NULL if none: read by policy, checked
	 * with file and line at -n, start and reload like the access lists. */
	char *signatures_file;
	struct dnsbl_zone *dnsbl;
	size_t ndnsbl;
	int dnsbl_tempfail; /* 4xx instead of 5xx */
	enum fcrdns_policy fcrdns;
	enum sender_domain_policy sender_domain;
	int early_talker;   /* refuse clients that talk before the greeting */
	char *greet_teaser; /* a "220-" line before the greeting pause */
	int greylist;
	int greylist_skip_clean; /* no greylisting for confirmed, unlisted clients */
	int harvest;
	int ban_reject; /* banned clients get 554 (else 421) */
};

/* Bait pages and trap addresses (src/bait/, src/policy/trap.c). */
struct bait_conf {
	char *secret_file; /* NULL: no trap addresses */
	char *domain;      /* the domain trap addresses are minted at */
	char *listen;      /* HTTP listener for bait pages, or NULL */
	struct sockaddr_storage listen_ss;
	socklen_t listen_len;
	int tarpit;       /* a trapped session is tarpitted instead of refused */
	char **spamtraps; /* plain trap addresses, lower case */
	size_t nspamtraps;
	char *export_file; /* rbldnsd zone of bans, written periodically, or NULL */
	/* reverse proxies whose X-Forwarded-For names the client */
	struct cidr *proxy_from;
	size_t nproxy_from;
};

/*
 * External services the screening pipeline asks (conf_ext.c): policy
 * services (Postfix's SMTPD_POLICY protocol, policy/psvc_*.c); milters
 * share the same endpoint and error settings.
 */
enum ext_on_error { EXT_TEMPFAIL = 0, EXT_ACCEPT, EXT_REJECT };
enum psvc_stage { PSVC_RCPT = 0, PSVC_DATA, PSVC_EOD };

struct ext_service_conf {
	char *name;
	char *rule;    /* "policy:NAME" or "milter:NAME": its verdicts' rule */
	char *address; /* as written: inet:HOST:PORT or unix:/PATH */
	struct sockaddr_storage ss;
	socklen_t sslen;
	char **listeners; /* the listeners it serves; none: every listener */
	size_t nlisteners;
	int trusted; /* asked for trusted networks and authenticated users too */
	enum ext_on_error on_error;
	long timeout_connect_ms;
	long timeout_ms; /* per reply */
	/* policy_service only */
	enum psvc_stage stage;
	char *context; /* policy_context=, or NULL */
	long max_idle; /* seconds an unused connection is kept */
	long max_ttl;  /* seconds a connection is used at most */
};

/* a domain's recipient_lookup: a Dovecot userdb or a socketmap server */
enum lookup_kind { LOOKUP_DOVECOT = 0, LOOKUP_SOCKETMAP };
#define LOOKUP_MAP_MAX 64
struct rcpt_lookup_conf {
	enum lookup_kind kind;
	char *map;                   /* socketmap: the map's name; "" for dovecot */
	struct ext_service_conf svc; /* name: the domain; the endpoint, timeouts */
	long cache_ttl;              /* seconds an answer is kept (0: not kept) */
};

struct moat_limits {
#define LIMIT_FIELD(name, def, min, max, what) long name;
	MOAT_LIMITS(LIMIT_FIELD)
#undef LIMIT_FIELD
};

struct moat_conf {
	char *path; /* as given (-c), for messages and reloads */
	char *dir;  /* its directory, absolute: the base of relative paths */
	char *hostname;
	char *user;
	uid_t uid;
	gid_t gid;
	int drop_privileges; /* started as root: become uid/gid after binding */
	char *spool_dir;
	char *mail_dir;
	char *run_dir;
	char *state_dir;
	/* the state store: LMDB under state_dir, or Redis (conf_store.c) */
	int store_redis;
	char *redis_address;
	char *redis_password; /* read from password_file; NULL: none */
	int redis_db;
	char *redis_prefix;
	unsigned redis_timeout_ms;
	int chroot; /* SMTP workers and the bait server chroot (moatd(8)) */
	int workers;
	int bare_newline_normalize;
	int log_json; /* log_format = "json": one JSON object per line */
	enum spool_sync_mode spool_sync;
	/* the listen sections, then (local_submission = true, the default) the
	 * local submission socket's, role ROLE_LOCAL, last */
	struct listener_conf *listeners;
	size_t nlisteners;
	int local_submission;
	struct domain_conf *domains;
	size_t ndomains;
	struct cidr *trusted;
	size_t ntrusted;
	char *relayhost; /* all non-local mail to this next hop, or NULL: MX */
	struct nexthop_conf relayhost_tls; /* its TLS and AUTH */
	/* CA bundle for verifying next hops (relayhost and domain next hops
	 * without a ca_file of their own, MTA-STS), besides the system store;
	 * or NULL */
	char *outbound_ca_file;
	/* MX hosts and address literals may be loopback/private (netaddr_private) */
	int relay_to_private;
	/* MTA-STS (RFC 8461) for MX delivery (deliver/mtasts.c) */
	int mta_sts;
	char **dns_servers;
	size_t ndns_servers;
	/* the servers (dns_servers, else /etc/resolv.conf's) validate DNSSEC:
	 * their AD bit is believed (DANE) */
	int dns_validating;
	/* what TLS delivery to MX hosts needs (TLS_LEVEL_DANE: per host, by
	 * its TLSA records, RFC 7672) */
	enum tls_level mx_tls;
	/* TLS: both NULL when TLS is off; else the default certificate's */
	char *tls_cert_file;
	char *tls_key_file;
	/* every certificate of the listeners, the default first (tls_sni.c) */
	struct tls_cert_conf *tls_certs;
	size_t ntls_certs;
	int tls_self_signed; /* generate a certificate when none exists */
	/* AUTH credentials: a crypt(3) password file or Dovecot's auth socket */
	char *auth_password_file;
	char *auth_dovecot_socket;
	char *auth_sender_map; /* login → addresses it may use in MAIL FROM */
	int auth_in_received;  /* the login in the Received: field (session_submit.c) */
	struct screen_conf screen;
	struct bait_conf bait;
	/* the Prometheus endpoint (moatd/control_metrics.c), or NULL: off */
	char *metrics_listen;
	struct sockaddr_storage metrics_ss;
	socklen_t metrics_len;
	/* addressing (conf/aliases.c) */
	char *aliases_file;            /* global aliases, or NULL */
	struct aliases aliases;        /* the global and the domains' */
	char recipient_delimiter[2];   /* "+", or "" for none */
	int maildir_extension_folders; /* alice+x@ to alice's folder .x if it exists */
	/* SRS (conf_srs.c): senders of forwarded mail rewritten at srs_domain,
	 * bounces to the rewritten addresses undone; NULL without the section */
	struct srs *srs;
	char *srs_domain;
	char *srs_secret_file;
	struct ext_service_conf *policy_services; /* in the order written */
	size_t npolicy_services;
	struct ext_service_conf *milters; /* in the order written */
	size_t nmilters;
	struct moat_limits limits;
};

/*
 * Where moatd keeps its files when the configuration does not say: the
 * FHS places of an installed moat (make install, the Debian package).
 */
#define CONF_DEFAULT_SPOOL_DIR "/var/spool/moat"
#define CONF_DEFAULT_MAIL_DIR  "/var/mail/moat"
#define CONF_DEFAULT_RUN_DIR   "/run/moat"
#define CONF_DEFAULT_STATE_DIR "/var/lib/moat"

/* conf_tls_level_parse - "none", "may", "encrypt", "verify", "dane" as a
 * level; -1 for anything else. conf_tls_level_name - the word of a level */
int conf_tls_level_parse(const char *s, enum tls_level *level);
const char *conf_tls_level_name(enum tls_level level);
/*
 * conf_auth_parse - an auth_file line (no line end) "user password": the
 * user name up to the first run of blanks, the password everything after
 * it (blanks inside kept). NULL, or what is wrong (never quoting the line).
 */
const char *conf_auth_parse(const char *line, char *user, size_t usersz, char *pass,
                            size_t passsz);

/* conf_cidr_listed - is na inside one of the n blocks? */
int conf_cidr_listed(const struct cidr *list, size_t n, const struct netaddr *na);

/* conf_load - parse and validate; NULL after printing errors to stderr */
struct moat_conf *conf_load(const char *path);
void conf_free(struct moat_conf *conf);
/* conf_print_changed - moatd -N: the settings of the file at path that
 * differ from the defaults, "name = value" a line (conf_print.c); -1 if it
 * cannot be read. Call it after conf_load() has accepted the file. */
int conf_print_changed(const char *path, FILE *out);

/*
 * conf_peek - what a local client of moatd needs (moat-sendmail): the
 * file parsed with conf_load()'s own table, so any valid moat.conf reads,
 * but nothing checked beyond its syntax and no file it names opened (a
 * local user may read moat.conf, not the keys it names). 0, or -1 after
 * printing "file:line: problem" on stderr.
 */
struct conf_peek {
	char *hostname;
	char *run_dir; /* absolute, as conf_load() makes it */
	int local_submission;
};
int conf_peek(const char *path, struct conf_peek *p);
void conf_peek_free(struct conf_peek *p);

struct domain_conf *conf_domain_find(const struct moat_conf *conf, const char *domain);
/* conf_mailbox_name_ok - s[0..n) is a user name that is also a safe Maildir
 * directory name: a dot-string (never "." or ".."), without '/' */
int conf_mailbox_name_ok(const char *s, size_t n);
int conf_domain_has_user(const struct domain_conf *d, const char *local);
int conf_is_trusted(const struct moat_conf *conf, const struct netaddr *na);
/* conf_path_at - p (its first n bytes) as an allocated absolute path: as
 * it is if it starts with '/', else below dir */
char *conf_path_at(const char *dir, const char *p, size_t n);
/* conf_dir_of - the absolute directory of the file at path (allocated) */
char *conf_dir_of(const char *path);

/*
 * conf_key_file_check - refuse a private key file that users outside its
 * group can read, or anyone but its owner can write: such a key is already
 * compromised. -1 with the reason in err. Also run when TLS is set up
 * (smtp/tls.c).
 */
int conf_key_file_check(const char *path, char *err, size_t errsz);

#endif

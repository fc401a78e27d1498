#!/bin/sh
# deps.sh - install the Debian packages moat builds with and tests against.
# Only what is missing is installed; a machine that has everything is left
# untouched (no network needed). Services the packages would start are not
# started: the tests start their own private instances.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev clang-format strace
libevent-dev libssl-dev libc-ares-dev liblmdb-dev lmdb-utils libhiredis-dev
libconfuse-dev libbsd-dev libcrypt-dev libcmocka-dev libpcre2-dev libidn2-dev
libsystemd-dev
python3 openssl swaks libnet-ssleay-perl libio-socket-ssl-perl postfix dnsmasq-base rbldnsd redis-server nmap
dovecot-core dovecot-lmtpd iproute2 procps
postgrey postfix-policyd-spf-python socat util-linux postsrsd
opendkim opendkim-tools rspamd python3-dkim python3-dns haproxy python3-prometheus-client
debhelper dpkg-dev systemd man-db
libcurl4-openssl-dev unbound ldnsutils"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix asks how to configure itself; we only need its binaries.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	# Keep package scripts from starting daemons on the host.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The unprivileged user moatd drops to after binding its listeners.
if [ "$(id -u)" = 0 ] && ! getent passwd moat >/dev/null; then
	if command -v adduser >/dev/null; then
		adduser --system --group --no-create-home --home /nonexistent \
			--shell /usr/sbin/nologin moat >/dev/null
	else
		useradd --system --user-group --no-create-home \
			--shell /usr/sbin/nologin moat
	fi
fi
exit 0

"""peers - real third-party mail peers on loopback, for end-to-end tests.

Each class starts one private instance in its own temporary directory, on
ports from harness.free_port(), bound to 127.0.0.1 only, and cleans up
after itself. Use them as context managers:

    with SmtpSink() as sink:                       # Postfix's smtp-sink
        with Postfix(transports={"relay.test": sink.nexthop()},
                     mynetworks=["127.0.0.0/8"]) as pf:   # an open relay
            ...                                    # talk to 127.0.0.1:pf.port
            pf.wait_log(r"status=sent")

    with Dnsmasq(hosts={"mx.example.test": "127.0.0.1"},
                 mx={"example.test": ("mx.example.test", 10)}) as dns:
        ...                                        # query 127.0.0.1:dns.port

Postfix:  a private instance (own config_directory, queue_directory and
          data_directory, `inet_interfaces = 127.0.0.1`, smtpd on a free
          port via its own master.cf), started with `postfix -c DIR start`
          as root and stopped with `postfix -c DIR stop` (postfix_peer.py,
          shared with bench/lib.py). A system Postfix, if any, is never
          touched. Nothing it accepts can leave the machine: DNS lookups
          are off, mail for domains without a transport entry is
          discarded, local mail is discarded.
SmtpSink: Postfix's smtp-sink: says 250 to everything and keeps nothing
          (optionally dumps messages to a directory with dump_dir).
Dnsmasq:  an authoritative-only DNS server on a free loopback port serving
          the given A and MX records, never forwarding anywhere.
DovecotAuth, DovecotUserdb: a real Dovecot serving only its auth-client
          (logins) or auth-userdb (user lookups) socket.
PostSRSd: postsrsd's forward and reverse SRS tables on loopback ports.
Rbldnsd:  rbldnsd serving IP-based DNS block- and allowlist zones (ip4set)
          on a free loopback UDP port; zones can be rewritten and reloaded
          while it runs. dns_ask() is a tiny stub resolver for tests.

All need root (the tests run as root) and the packages scripts/deps.sh
installs (postfix, dnsmasq-base, rbldnsd, dovecot-core, postsrsd).
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

from harness import _read_or_empty, free_port, make_tmpdir, wait_port
from postfix_peer import PostfixInstance

SMTP_SINK = "/usr/sbin/smtp-sink"
DNSMASQ = "/usr/sbin/dnsmasq"
RBLDNSD = "/usr/sbin/rbldnsd"
POSTSRSD = "/usr/sbin/postsrsd"


def _wait_file_match(path, pattern, timeout, count=1):
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while True:
        try:
            with open(path, "r", errors="replace") as f:
                found = [l for l in f.read().splitlines() if rx.search(l)]
        except FileNotFoundError:
            found = []
        if len(found) >= count:
            return found
        if time.time() > deadline:
            raise AssertionError("%s never matched %r (%d/%d)" % (
                path, pattern, len(found), count))
        time.sleep(0.1)


# Every peer made in this process: stopped at exit if a test left it
# running (a setUpClass that fails after starting its peers never reaches
# its tearDownClass). stop() is safe to call twice on every peer.
_peers = []


@atexit.register
def _stop_leftover_peers():
    for p in reversed(_peers):
        try:
            p.stop()
        except Exception as e:  # one peer's trouble must not keep the others
            print("%s: stop at exit: %s" % (p.name, e))


class _Peer:
    """Common life cycle: a temp dir, start(), stop(), context manager."""

    name = "peer"

    def __init__(self, tmpdir=None):
        _peers.append(self)
        self.dir = tmpdir or make_tmpdir("moat-%s-" % self.name)
        self.own_dir = tmpdir is None
        self.port = free_port()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        finally:
            if exc_type is None and self.own_dir and not os.environ.get("MOAT_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            elif exc_type is not None:
                print("%s left in %s" % (self.name, self.dir))
        return False


class Postfix(PostfixInstance, _Peer):
    """A private Postfix instance on 127.0.0.1:self.port.

    hostname, domain:  myhostname and mydomain; mydestination is
                       "$myhostname, $mydomain, localhost".
    mynetworks:        list of CIDRs; with ["127.0.0.0/8"] and the default
                       relay restrictions, a client on 127.0.0.1 may relay
                       anywhere (an open relay, for a test).
    transports:        {domain: nexthop}, e.g. {"relay.test":
                       "smtp:[127.0.0.1]:2525"}; keys may be address
                       literals like "[127.0.0.2]". Everything else that is
                       not local is discarded (default_transport).
    tls:               offer STARTTLS with a self-signed certificate made
                       for the instance (openssl req); smtpd logs each TLS
                       session ("TLS connection established").
    main:              extra main.cf settings {name: value}.
    """

    name = "postfix"

    def __init__(self, hostname="mx.postfix.test", domain="postfix.test",
                 mynetworks=None, transports=None, main=None, tls=False, tmpdir=None):
        super().__init__(tmpdir)
        self.tls = tls
        self.hostname = hostname
        self.domain = domain
        self.mynetworks = mynetworks or ["127.0.0.1/32"]
        self.transports = transports or {}
        self.main = main or {}
        self.postfix_init()

    def main_cf(self):
        conf = {
            "myhostname": self.hostname,
            "mydomain": self.domain,
            "mydestination": "$myhostname, $mydomain, localhost",
            "mynetworks": " ".join(self.mynetworks),
            "local_transport": "discard:local mail is not kept in tests",
            "default_transport": "discard:no external delivery in tests",
            "transport_maps": "texthash:%s" % os.path.join(self.etc, "transport"),
            "disable_vrfy_command": "yes",
            "syslog_name": "postfix-test",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
        }
        if self.tls:
            conf.update({
                "smtpd_tls_cert_file": os.path.join(self.etc, "cert.pem"),
                "smtpd_tls_key_file": os.path.join(self.etc, "key.pem"),
                "smtpd_tls_security_level": "may",
                "smtpd_tls_loglevel": "1",
            })
        conf.update(self.main)
        return super().main_cf(**conf)

    def start(self, timeout=20.0):
        os.makedirs(self.etc, exist_ok=True)
        if self.tls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=%s" % self.hostname,
                 "-keyout", os.path.join(self.etc, "key.pem"),
                 "-out", os.path.join(self.etc, "cert.pem")],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=60)
        transport = "".join("%s %s\n" % kv for kv in self.transports.items())
        self.start_postfix(self.main_cf(), self.master_cf(),
                           files={"transport": transport})
        wait_port("127.0.0.1", self.port, timeout)
        return self

    def stop(self):
        # master removes its pid file last; wait so the tree can go
        self.stop_postfix(timeout=10)

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log().splitlines() if rx.search(l)]

    def wait_log(self, pattern, timeout=20.0, count=1):
        return _wait_file_match(self.logfile, pattern, timeout, count)

    def flush(self):
        """Ask the queue manager to try deferred mail now."""
        self.postfix("flush", check=False)


class SmtpSink(_Peer):
    """Postfix's smtp-sink on 127.0.0.1:self.port: 250 to everything.

    dump_dir: if given, smtp-sink writes each message there (-d), so a test
    can show that mail did arrive; otherwise nothing is kept.
    args: extra smtp-sink options (see smtp-sink(1)), e.g. ["-R", "/tmp"].
    """

    name = "smtp-sink"

    def __init__(self, dump_dir=None, args=None, backlog=100, tmpdir=None, host="127.0.0.1",
                 port=None):
        super().__init__(tmpdir)
        self.host = host  # any 127.0.0.0/8 address: one sink per "host" in MX tests
        if port is not None:
            self.port = port
        self.dump_dir = dump_dir
        self.args = args or []
        self.backlog = backlog
        self.proc = None
        self.logfile = os.path.join(self.dir, "smtp-sink.log")

    def check(self):
        """Fail loudly, with its log, if smtp-sink is no longer running."""
        if self.proc is None or self.proc.poll() is not None:
            with open(self.logfile, "r", errors="replace") as f:
                tail = f.read()[-2000:]
            raise AssertionError("smtp-sink on port %d is gone (exit %s):\n%s" % (
                self.port, self.proc.returncode if self.proc else None, tail))

    def nexthop(self):
        """A Postfix transport(5) nexthop that delivers here."""
        return "smtp:[%s]:%d" % (self.host, self.port)

    def start(self, timeout=10.0):
        cmd = [SMTP_SINK, "-u", "nobody"]
        if self.dump_dir:
            os.makedirs(self.dump_dir, exist_ok=True)
            shutil.chown(self.dump_dir, "nobody")
            cmd += ["-d", os.path.join(self.dump_dir, "%Y%m%d%H/%M.")]
        cmd += self.args + ["%s:%d" % (self.host, self.port), str(self.backlog)]
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logfh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_port(self.host, self.port, timeout, self.proc)
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.logfh.close()


class Dnsmasq(_Peer):
    """dnsmasq as a tiny authoritative DNS server on 127.0.0.1:self.port.

    hosts: {name: address} -> A/AAAA records (--host-record)
    mx:    {domain: (exchanger, preference)} -> MX records (--mx-host)
    It reads no config file, no /etc/hosts, no resolv.conf, and forwards
    nothing: a name it does not know gets an answer from it alone.
    """

    name = "dnsmasq"

    def __init__(self, hosts=None, mx=None, extra=None, tmpdir=None):
        super().__init__(tmpdir)
        self.hosts = hosts or {}
        self.mx = mx or {}
        self.extra = extra or []
        self.proc = None
        self.logfile = os.path.join(self.dir, "dnsmasq.log")

    def server(self):
        """ADDR:PORT for a client's DNS server option."""
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        cmd = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
               "--port=%d" % self.port, "--listen-address=127.0.0.1",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
               "--pid-file=", "--log-queries", "--log-facility=-"]
        for name, addr in self.hosts.items():
            cmd.append("--host-record=%s,%s" % (name, addr))
        for dom, (host, pref) in self.mx.items():
            cmd.append("--mx-host=%s,%s,%d" % (dom, host, pref))
        cmd += self.extra
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logfh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        # dnsmasq also listens on TCP: ready when that port answers
        wait_port("127.0.0.1", self.port, timeout, self.proc)
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.logfh.close()

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# ---- a stub resolver, enough to ask a test server one question ----

DNS_A = 1
DNS_MX = 15
DNS_RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def _dns_skip_name(msg, i):
    """Offset just past the (possibly compressed) name at msg[i]."""
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def dns_ask(server, port, name, qtype=DNS_A, timeout=2.0):
    """One UDP query to server:port: (rcode name, [A addresses as text]).

    rcode is "NOERROR", "NXDOMAIN", ..., or "TIMEOUT" when nothing came back
    in time. Only A answers are decoded; other types give [] with their rcode.
    """
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, port))
        deadline = time.time() + timeout
        while True:
            try:
                s.settimeout(max(0.01, deadline - time.time()))
                msg, _ = s.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                return "TIMEOUT", []
            if len(msg) >= 12 and struct.unpack("!H", msg[:2])[0] == qid:
                break
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    rcode = DNS_RCODES.get(flags & 0xF, str(flags & 0xF))
    i = 12
    for _ in range(qd):
        i = _dns_skip_name(msg, i) + 4
    addrs = []
    for _ in range(an):
        i = _dns_skip_name(msg, i)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        if rtype == DNS_A and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[i:i + 4]))
        i += rdlen
    return rcode, addrs


def reverse_v4(addr):
    """'127.0.0.5' -> '5.0.0.127' (the DNSBL query prefix, RFC 5782 §2.1)."""
    return ".".join(reversed(addr.split(".")))


class Rbldnsd(_Peer):
    """rbldnsd on 127.0.0.1:self.port (UDP only), one ip4set dataset per zone.

    zones: {zone: {address_or_cidr: a_value}}, e.g.
           {"bl.test": {"127.0.0.5": "127.0.0.2", "127.0.0.16/28": "127.0.0.4"}}
           A query for 5.0.0.127.bl.test then answers 127.0.0.2 (and a TXT);
           anything not listed is NXDOMAIN.
    ttl:   the TTL of its answers, seconds.
    set_zone() rewrites one zone's file and reloads (SIGHUP); every query is
    logged to querylog (rbldnsd -l), see queries().
    """

    name = "rbldnsd"

    def __init__(self, zones=None, ttl=60, tmpdir=None):
        super().__init__(tmpdir)
        self.zones = dict(zones or {})
        self.ttl = ttl
        self.proc = None
        self.logfile = os.path.join(self.dir, "rbldnsd.log")
        self.datadir = os.path.join(self.dir, "data")
        self.querylog = os.path.join(self.datadir, "queries.log")

    def server(self):
        """ADDR:PORT for a client's DNS server option."""
        return "127.0.0.1:%d" % self.port

    def _zone_file(self, zone):
        return os.path.join(self.datadir, zone + ".ip4set")

    def _write_zone(self, zone, entries):
        tmp = self._zone_file(zone) + ".tmp"
        with open(tmp, "w") as f:
            f.write("$TTL %d\n" % self.ttl)
            f.write(":127.0.0.2:Listed in %s (test)\n" % zone)
            for addr, value in entries.items():
                f.write("%s :%s:Listed in %s (test)\n" % (addr, value, zone))
        os.chmod(tmp, 0o644)
        os.rename(tmp, self._zone_file(zone))

    def start(self, timeout=10.0):
        os.makedirs(self.datadir, exist_ok=True)
        # rbldnsd refuses to run as root; it writes its query log as nobody
        shutil.chown(self.datadir, "nobody")
        for zone, entries in self.zones.items():
            self._write_zone(zone, entries)
        cmd = [RBLDNSD, "-n", "-u", "nobody", "-b", "127.0.0.1/%d" % self.port,
               "-w", self.datadir, "-t", str(self.ttl), "-c", "0",
               "-l", "+" + os.path.basename(self.querylog)]
        for zone in self.zones:
            cmd.append("%s:ip4set:%s" % (zone, os.path.basename(self._zone_file(zone))))
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logfh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        # UDP only, so no port to probe: ready when a real query is answered
        probe = next(iter(self.zones), "probe.test")
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("rbldnsd exited with %s:\n%s" % (
                    self.proc.returncode, self.log()))
            rcode, _ = dns_ask("127.0.0.1", self.port, "1.0.0.127." + probe, timeout=0.3)
            if rcode != "TIMEOUT":
                return self
            if time.time() > deadline:
                raise RuntimeError("rbldnsd on port %d never answered:\n%s" % (
                    self.port, self.log()))

    def set_zone(self, zone, entries, wait_for=None, timeout=10.0):
        """Replace a zone's entries and reload. wait_for: an address (dotted)
        whose listing must have changed accordingly before this returns."""
        if zone not in self.zones:
            raise ValueError("zone %s was not there at start" % zone)
        self.zones[zone] = dict(entries)
        # a new mtime, even within the same second, for rbldnsd's check
        self._write_zone(zone, entries)
        st = os.stat(self._zone_file(zone))
        os.utime(self._zone_file(zone), (st.st_atime, st.st_mtime + 2))
        self.proc.send_signal(signal.SIGHUP)
        if wait_for is None:
            return
        want = entries.get(wait_for)
        deadline = time.time() + timeout
        while True:
            rcode, addrs = self.ask(wait_for, zone)
            if (want is None and rcode == "NXDOMAIN") or (want is not None and want in addrs):
                return
            if time.time() > deadline:
                raise AssertionError("rbldnsd never served the new %s: %s %s" % (
                    zone, rcode, addrs))
            time.sleep(0.1)

    def ask(self, addr, zone):
        """Look addr up in zone, the way a DNSBL client does."""
        return dns_ask("127.0.0.1", self.port, "%s.%s" % (reverse_v4(addr), zone))

    def queries(self, pattern=""):
        """Lines of the query log matching pattern."""
        rx = re.compile(pattern)
        try:
            with open(self.querylog, "r", errors="replace") as f:
                return [l for l in f.read().splitlines() if rx.search(l)]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.logfh.close()

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def sha512_crypt(password):
    """A crypt(3) SHA-512 hash, from openssl (Python's crypt module goes)."""
    out = subprocess.run(["openssl", "passwd", "-6", password], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def _group_alive(pgid):
    """A process of group pgid runs (a zombie waiting for its reaper does
    not)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class _Dovecot(_Peer):
    """What both Dovecot peers share: start() runs it in a process group of
    its own and waits for its socket; stop() stops the whole group, as
    systemd does (an auth process serving a connection outlives a master
    that is only told to stop), and removes the socket it leaves."""

    def start(self):
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     start_new_session=True)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.proc.poll() is not None:
                raise AssertionError("dovecot did not start; log: %s" % _read_or_empty(
                    os.path.join(self.dir, "dovecot.log")))
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
                deadline = time.time() + 5
                while _group_alive(self.proc.pid) and time.time() < deadline:
                    time.sleep(0.05)
                if _group_alive(self.proc.pid):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc = None
        if os.path.exists(self.sock):
            os.unlink(self.sock)


class DovecotAuth(_Dovecot):
    """A real Dovecot serving only its authentication socket: a passwd-file
    of users (name: password), optionally more passdb blocks after it, the
    socket at sock (default DIR/auth-client) with the given owner and mode.

        with DovecotAuth({"carol": "s3cret"}) as dv:
            ... dovecot_socket = dv.sock ...
    """

    name = "dovecot"

    def __init__(self, users, sock=None, extra_passdb="", owner=None, mode="0666",
                 failure_delay=None, tmpdir=None):
        super().__init__(tmpdir)
        self.sock = sock or os.path.join(self.dir, "auth-client")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        pw = os.path.join(self.dir, "users")
        with open(pw, "w") as f:
            for user, password in users.items():
                f.write("%s:%s\n" % (user, sha512_crypt(password)))
        with open(self.conf, "w") as f:
            f.write("""base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
%(delay)spassdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u %(pw)s
}
%(extra)suserdb {
  driver = static
  args = uid=nobody gid=nogroup home=%(d)s/home
}
service auth {
  unix_listener auth-client {
    path = %(sock)s
%(owner)s    mode = %(mode)s
  }
}
""" % {"d": self.dir, "pw": pw, "sock": self.sock, "mode": mode, "extra": extra_passdb,
       "owner": "    user = %s\n" % owner if owner else "",
       "delay": "auth_failure_delay = %s\n" % failure_delay
                if failure_delay is not None else ""})
        self.proc = None


class DovecotUserdb(_Dovecot):
    """A real Dovecot answering user lookups on its auth-userdb socket (the
    auth-master protocol), as an MX asks whether a mailbox exists: a
    passwd-file of whole addresses, which add() appends to while it runs
    (Dovecot reads the file again when it changes). The socket belongs to
    owner, mode 0600, as Dovecot wants it for an MTA: with a socket anyone
    may open, it answers only about users whose uid is the asker's.

        with DovecotUserdb(["alice@example.test"]) as dv:
            ... recipient_lookup = "dovecot:unix:" + dv.sock ...
    """

    name = "dovecot-userdb"

    def __init__(self, users, owner="moat", tmpdir=None):
        super().__init__(tmpdir)
        self.sock = os.path.join(self.dir, "auth-userdb")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.users = os.path.join(self.dir, "users")
        with open(self.users, "w") as f:
            for user in users:
                f.write(self._entry(user))
        with open(self.conf, "w") as f:
            f.write("""base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols =
ssl = no
passdb {
  driver = passwd-file
  args = %(pw)s
}
userdb {
  driver = passwd-file
  args = %(pw)s
}
service auth {
  unix_listener auth-userdb {
    path = %(sock)s
    user = %(owner)s
    mode = 0600
  }
}
""" % {"d": self.dir, "pw": self.users, "sock": self.sock, "owner": owner})
        self.proc = None

    @staticmethod
    def _entry(user):
        return "%s:{SHA512-CRYPT}%s:65534:65534::/nonexistent::\n" % (
            user, sha512_crypt(user))

    def add(self, user):
        with open(self.users, "a") as f:
            f.write(self._entry(user))
        # a later mtime than the last read, even within the same second
        st = os.stat(self.users)
        os.utime(self.users, (st.st_atime, st.st_mtime + 2))


class PostSRSd(_Peer):
    """Debian's postsrsd: its forward and reverse lookup tables (Postfix's
    tcp_table protocol, "get ADDRESS") on two free 127.0.0.1 ports, for the
    domain and secret file given, as nobody.

        with PostSRSd("example.test", secret_file) as ps:
            ps.forward("alice@remote.test")   # "SRS0=...@example.test"
    """

    name = "postsrsd"

    def __init__(self, domain, secret_file, tmpdir=None):
        super().__init__(tmpdir)
        self.domain = domain
        self.secret_file = secret_file
        self.rport = free_port()
        self.proc = None
        self.logfile = os.path.join(self.dir, "postsrsd.log")

    def start(self, timeout=10.0):
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [POSTSRSD, "-s", self.secret_file, "-d", self.domain, "-l", "127.0.0.1", "-4",
             "-f", str(self.port), "-r", str(self.rport), "-u", "nobody"],
            stdout=self.logfh, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port("127.0.0.1", self.port, timeout, self.proc)
        wait_port("127.0.0.1", self.rport, timeout, self.proc)
        return self

    def _get(self, port, addr):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"get %s\n" % addr.encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        code, _, value = reply.decode().strip().partition(" ")
        if code != "200":
            raise AssertionError("postsrsd: get %s: %r" % (addr, reply))
        return value

    def forward(self, addr):
        return self._get(self.port, addr)

    def reverse(self, addr):
        return self._get(self.rport, addr)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(10)
            self.proc = None
            self.logfh.close()


class Redis(_Peer):
    """A private redis-server on 127.0.0.1:self.port: no persistence, no
    other listener; stop() and start() again keep the port (a restart)."""

    name = "redis"

    def __init__(self, tmpdir=None):
        super().__init__(tmpdir)
        self.proc = None
        self.logfile = os.path.join(self.dir, "redis.log")

    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--logfile", self.logfile, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port("127.0.0.1", self.port, timeout, self.proc)
        return self

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

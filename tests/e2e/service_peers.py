"""service_peers - real policy services (Postfix's policy delegation
protocol) and milters for end-to-end tests, each a private instance in its
own temporary directory, cleaned up after itself.

Postgrey:   the Debian postgrey daemon on a free 127.0.0.1 port, its own
            database directory, a short --delay.
PolicydSpf: postfix-policyd-spf-python behind a unix socket (socat, one
            policyd-spf per connection, as Postfix's spawn(8) runs it).
            It runs in a network and mount namespace of its own: the only
            network there is its loopback, where a private dnsmasq serves
            the TXT records given, and /etc/resolv.conf is bound over with
            "nameserver 127.0.0.1". Its DNS questions cannot leave.
OpenDkim:   opendkim as a milter on a unix socket, signing (mode "s") with a
            key made by opendkim-genkey, or verifying (mode "v") in a
            namespace like PolicydSpf's, its dnsmasq serving the key.
Rspamd:     rspamd's proxy worker as a milter on a unix socket, scanning
            itself (self_scan), in a namespace like PolicydSpf's: its DNS
            and map fetches find nothing but the namespace's loopback.

All need root (the tests run as root) and the packages scripts/deps.sh
installs (postgrey, postfix-policyd-spf-python, socat, dnsmasq-base,
opendkim, opendkim-tools, rspamd).
"""

import os
import pwd
import re
import signal
import subprocess
import time

from harness import wait_port
from peers import DNSMASQ, _Peer, _wait_file_match

POSTGREY = "/usr/sbin/postgrey"
OPENDKIM = "/usr/sbin/opendkim"
OPENDKIM_GENKEY = "/usr/sbin/opendkim-genkey"
RSPAMD = "/usr/bin/rspamd"
POLICYD_SPF = "/usr/bin/policyd-spf"
SOCAT = "/usr/bin/socat"


def _stop_group(proc):
    """SIGTERM to the process group of proc (then SIGKILL), and reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def conf_section(kind, name, address, **opts):
    """A moat.conf section: kind "name" { address = ...; opts }."""
    body = "\taddress = \"%s\"\n" % address
    for k, v in opts.items():
        if isinstance(v, bool):
            body += "\t%s = %s\n" % (k, "true" if v else "false")
        elif isinstance(v, int):
            body += "\t%s = %d\n" % (k, v)
        elif isinstance(v, (list, tuple)):
            body += "\t%s = {%s}\n" % (k, ", ".join('"%s"' % x for x in v))
        else:
            body += "\t%s = \"%s\"\n" % (k, v)
    return "%s \"%s\" {\n%s}\n" % (kind, name, body)


class _ProcPeer(_Peer):
    """A peer that is one process group (self.proc) logging to self.logfh."""

    proc = None
    logfh = None

    def stop(self):
        _stop_group(self.proc)
        self.proc = None
        if self.logfh is not None:
            self.logfh.close()
            self.logfh = None


class Postgrey(_ProcPeer):
    """postgrey on 127.0.0.1:self.port; address() for a policy_service."""

    name = "postgrey"

    def __init__(self, delay=2, tmpdir=None):
        super().__init__(tmpdir)
        self.delay = delay
        self.proc = None
        self.logfile = os.path.join(self.dir, "postgrey.log")

    def address(self):
        return "inet:127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        db = os.path.join(self.dir, "db")
        os.makedirs(db, exist_ok=True)
        pw = pwd.getpwnam("postgrey")
        os.chown(db, pw.pw_uid, pw.pw_gid)
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [POSTGREY, "--inet=127.0.0.1:%d" % self.port, "--dbdir=" + db,
             "--delay=%d" % self.delay, "--pidfile=" + os.path.join(self.dir, "pid")],
            stdout=self.logfh, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port("127.0.0.1", self.port, timeout, self.proc)
        return self


    def wait_log(self, pattern, timeout=10.0, count=1):
        return _wait_file_match(self.logfile, pattern, timeout, count)


def sandbox(peer, txt, commands, sock, timeout=20.0):
    """Run commands (shell lines; the last one in the foreground) in a
    network and mount namespace of peer's own: its loopback only, a dnsmasq
    on 127.0.0.1:53 serving txt {name: record} (authoritative for test.),
    /etc/resolv.conf saying so. Returns the process once sock exists."""
    resolv = os.path.join(peer.dir, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\n")
    dconf = os.path.join(peer.dir, "dnsmasq.conf")
    with open(dconf, "w") as f:
        f.write("local=/test/\n")
        for name, rec in txt.items():
            f.write('txt-record=%s,"%s"\n' % (name, rec))
    script = "\n".join([
        "set -e",
        "mount --bind %s /etc/resolv.conf" % resolv,
        "ip link set lo up",
        "%s --keep-in-foreground --conf-file=%s --port=53 "
        "--listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts "
        "--no-poll --pid-file= --log-queries --log-facility=- &" % (DNSMASQ, dconf),
    ] + list(commands))
    peer.logfh = open(peer.logfile, "ab")
    proc = subprocess.Popen(
        ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
        stdout=peer.logfh, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while not os.path.exists(sock):
        if proc.poll() is not None or time.time() > deadline:
            _stop_group(proc)
            raise AssertionError("%s did not start: %s" % (peer.name, open(
                peer.logfile, errors="replace").read()[-3000:]))
        time.sleep(0.05)
    return proc


class PolicydSpf(_ProcPeer):
    """policyd-spf on the unix socket self.sock; txt: {name: record}."""

    name = "policyd-spf"

    def __init__(self, txt=None, tmpdir=None):
        super().__init__(tmpdir)
        self.txt = txt or {}
        self.proc = None
        self.sock = os.path.join(self.dir, "spf.sock")
        self.logfile = os.path.join(self.dir, "spf.log")

    def address(self):
        return "unix:" + self.sock

    def start(self, timeout=20.0):
        sconf = os.path.join(self.dir, "policyd-spf.conf")
        with open(sconf, "w") as f:
            # Debian's defaults, but loopback clients are checked too (the
            # tests' clients are 127.0.0.1); the address skipped instead
            # is TEST-NET-1's, which no test uses.
            f.write("debugLevel = 1\nTestOnly = 1\nHELO_reject = Fail\n"
                    "Mail_From_reject = Fail\nPermError_reject = False\n"
                    "TempError_Defer = False\nskip_addresses = 192.0.2.255/32\n")
        self.proc = sandbox(self, self.txt, [
            "exec %s UNIX-LISTEN:%s,fork,mode=666 EXEC:'%s %s'" % (
                SOCAT, self.sock, POLICYD_SPF, sconf)], self.sock, timeout)
        return self


class OpenDkim(_ProcPeer):
    """opendkim on the unix socket self.sock. mode "s": signs for domain
    with selector's key (made here); mode "v": verifies, the public key of
    key_txt {name: record} served in its namespace."""

    name = "opendkim"

    def __init__(self, mode="s", domain="example.test", selector="test", key_txt=None,
                 tmpdir=None):
        super().__init__(tmpdir)
        self.mode = mode
        self.domain = domain
        self.selector = selector
        self.key_txt = key_txt or {}
        self.proc = None
        self.sock = os.path.join(self.dir, "dkim.sock")
        self.logfile = os.path.join(self.dir, "opendkim.log")

    def address(self):
        return "unix:" + self.sock

    def dns_record(self):
        """{name: TXT} of the public key (mode "s")."""
        with open(os.path.join(self.dir, self.selector + ".txt")) as f:
            txt = f.read()
        rec = "".join(re.findall(r'"([^"]*)"', txt))
        return {"%s._domainkey.%s" % (self.selector, self.domain): rec}

    def start(self, timeout=20.0):
        conf = os.path.join(self.dir, "opendkim.conf")
        lines = ["Syslog no", "Background no", "Mode %s" % self.mode,
                 "Socket local:%s" % self.sock, "UMask 000",
                 "PidFile %s" % os.path.join(self.dir, "pid"), "RequireSafeKeys no"]
        if self.mode == "v":
            # a verdict on every message, signed or not. Its resolver is
            # libunbound's, which would ask the roots and never 127.0.0.1:
            # it forwards to the namespace's dnsmasq instead, and test. is
            # one of unbound's built-in empty zones.
            ub = os.path.join(self.dir, "unbound.conf")
            with open(ub, "w") as f:
                f.write('server:\n\tdo-not-query-localhost: no\n'
                        '\tmodule-config: "iterator"\n\tlocal-zone: "test." nodefault\n'
                        'forward-zone:\n\tname: "."\n\tforward-addr: 127.0.0.1\n')
            lines += ["AlwaysAddARHeader yes", "ResolverConfiguration %s" % ub]
        if self.mode == "s":
            subprocess.run([OPENDKIM_GENKEY, "-D", self.dir, "-d", self.domain, "-s",
                            self.selector], check=True, capture_output=True)
            lines += ["Domain %s" % self.domain, "Selector %s" % self.selector,
                      "KeyFile %s" % os.path.join(self.dir, self.selector + ".private")]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = sandbox(self, self.key_txt, ["exec %s -f -x %s" % (OPENDKIM, conf)],
                            self.sock, timeout)
        return self


def dkim_verify(raw, server, port):
    """Debian's python3-dkim verifies raw (bytes), its DNS questions asked
    of server:port (pydns): (True|False, output)."""
    script = (
        "import sys, dkim, DNS\n"
        "def dnsfunc(name, timeout=5):\n"
        "    name = name.decode() if isinstance(name, bytes) else name\n"
        "    r = DNS.DnsRequest(name.rstrip('.'), qtype='TXT', server=[%r], port=%d,\n"
        "                       timeout=timeout).req()\n"
        "    return b''.join(b''.join(a['data']) for a in r.answers)\n"
        "ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=dnsfunc)\n"
        "print(ok)\n"
        "sys.exit(0 if ok else 1)\n" % (server, port))
    r = subprocess.run(["/usr/bin/python3", "-c", script], input=raw, capture_output=True,
                       timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


class Rspamd(_ProcPeer):
    """rspamd's proxy worker as a milter on the unix socket self.sock,
    scanning itself; a Subject matching quarantine_re gets the quarantine
    action (force_actions). Hyperscan is off: it would compile for tens of
    seconds at every start."""

    name = "rspamd"

    def __init__(self, quarantine_re="quarantine-me", tmpdir=None):
        super().__init__(tmpdir)
        self.quarantine_re = quarantine_re
        self.proc = None
        self.sock = os.path.join(self.dir, "milter.sock")
        self.logfile = os.path.join(self.dir, "out.log")
        self.rspamd_log = os.path.join(self.dir, "log", "rspamd.log")

    def address(self):
        return "unix:" + self.sock

    def start(self, timeout=60.0):
        local = os.path.join(self.dir, "local")
        for sub in ("local/local.d", "local/override.d", "db", "run", "log"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        files = {
            "local.d/worker-proxy.inc":
                'bind_socket = "%s mode=0666";\nmilter = yes;\ntimeout = 120s;\n'
                'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\ncount = 1;\n'
                % self.sock,
            "override.d/worker-normal.inc": "enabled = false;\n",
            "override.d/worker-controller.inc": "enabled = false;\n",
            "local.d/logging.inc": 'type = "file";\nfilename = "%s";\nlevel = "info";\n'
                                   % self.rspamd_log,
            # its DNS is the namespace's dnsmasq; the tests' clients are
            # 127.0.0.1, which must not count as local (no headers then)
            "local.d/options.inc": 'local_addrs = [];\ndisable_hyperscan = true;\n'
                                   'dns {\n  nameserver = ["127.0.0.1:53"];\n}\n',
            "local.d/milter_headers.conf":
                'use = ["x-spamd-result", "x-rspamd-server", "x-spam-status"];\n'
                'skip_local = false;\nskip_authenticated = false;\n',
            "quarantine.map": "/%s/i\n" % self.quarantine_re,
            # an action only set by force_actions: it needs declaring
            "local.d/actions.conf": 'quarantine {\n  flags = ["no_threshold"];\n}\n',
            # (a symbol of score 0 is false in a force_actions expression)
            "local.d/multimap.conf":
                'QUARANTINE_SUBJECT {\n  type = "header";\n  header = "Subject";\n'
                '  regexp = true;\n  map = "%s";\n  score = 0.1;\n}\n'
                % os.path.join(local, "quarantine.map"),
            "local.d/force_actions.conf":
                'rules {\n  QUARANTINE_IT {\n    action = "quarantine";\n'
                '    expression = "QUARANTINE_SUBJECT";\n    message = "held for review";\n'
                '  }\n}\n',
        }
        for name, text in files.items():
            with open(os.path.join(local, name), "w") as f:
                f.write(text)
        cmd = ("exec %s -f -i -u root -g root -c /etc/rspamd/rspamd.conf "
               "--var=LOCAL_CONFDIR=%s --var=DBDIR=%s --var=RUNDIR=%s --var=LOGDIR=%s" % (
                   RSPAMD, local, os.path.join(self.dir, "db"), os.path.join(self.dir, "run"),
                   os.path.join(self.dir, "log")))
        self.proc = sandbox(self, {}, [cmd], self.sock, timeout)
        # the socket is bound by the main process; the proxy worker that
        # answers on it comes later
        _wait_file_match(self.rspamd_log, r"starting rspamd_proxy process", timeout)
        return self

"""policy_peers - real policy services (Postfix's policy delegation
protocol) for end-to-end tests, each a private instance in its own
temporary directory, cleaned up after itself.

Postgrey:   the Debian postgrey daemon on a free 127.0.0.1 port, its own
            database directory, a short --delay.
PolicydSpf: postfix-policyd-spf-python behind a unix socket (socat, one
            policyd-spf per connection, as Postfix's spawn(8) runs it).
            It runs in a network and mount namespace of its own: the only
            network there is its loopback, where a private dnsmasq serves
            the TXT records given, and /etc/resolv.conf is bound over with
            "nameserver 127.0.0.1". Its DNS questions cannot leave.

Both need root (the tests run as root) and the packages scripts/deps.sh
installs (postgrey, postfix-policyd-spf-python, socat, dnsmasq-base).
"""

import os
import pwd
import signal
import subprocess
import time

from harness import wait_port
from peers import DNSMASQ, _Peer, _wait_file_match

POSTGREY = "/usr/sbin/postgrey"
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


class Postgrey(_Peer):
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

    def stop(self):
        _stop_group(self.proc)
        self.proc = None
        if getattr(self, "logfh", None) is not None:
            self.logfh.close()
            self.logfh = None

    def wait_log(self, pattern, timeout=10.0, count=1):
        return _wait_file_match(self.logfile, pattern, timeout, count)


class PolicydSpf(_Peer):
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
        resolv = os.path.join(self.dir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\n")
        dconf = os.path.join(self.dir, "dnsmasq.conf")
        with open(dconf, "w") as f:
            # authoritative for test.: a name not listed is NXDOMAIN
            f.write("local=/test/\n")
            for name, rec in self.txt.items():
                f.write('txt-record=%s,"%s"\n' % (name, rec))
        sconf = os.path.join(self.dir, "policyd-spf.conf")
        with open(sconf, "w") as f:
            # Debian's defaults, but loopback clients are checked too (the
            # tests' clients are 127.0.0.1); the address skipped instead
            # is TEST-NET-1's, which no test uses.
            f.write("debugLevel = 1\nTestOnly = 1\nHELO_reject = Fail\n"
                    "Mail_From_reject = Fail\nPermError_reject = False\n"
                    "TempError_Defer = False\nskip_addresses = 192.0.2.255/32\n")
        script = "\n".join([
            "set -e",
            "mount --bind %s /etc/resolv.conf" % resolv,
            "ip link set lo up",
            "%s --keep-in-foreground --conf-file=%s --port=53 "
            "--listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts "
            "--no-poll --pid-file= --log-queries --log-facility=- &" % (DNSMASQ, dconf),
            "exec %s UNIX-LISTEN:%s,fork,mode=666 EXEC:'%s %s'" % (
                SOCAT, self.sock, POLICYD_SPF, sconf),
        ])
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=self.logfh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("policyd-spf did not start: %s" % open(
                    self.logfile, errors="replace").read())
            time.sleep(0.05)
        return self

    def stop(self):
        _stop_group(self.proc)
        self.proc = None
        if getattr(self, "logfh", None) is not None:
            self.logfh.close()
            self.logfh = None

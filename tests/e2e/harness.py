"""harness - start a real moatd (and real peers) on loopback for a test.

Every test gets its own temporary directory, its own ports and its own
config. Traffic goes to 127.0.0.0/8 only. The daemon runs as root and drops
to the `moat` user exactly as in production, so the temporary tree is made
traversable for that user.

    with Moatd(domains={"example.test": ["alice"]}) as m:
        s = m.smtp()               # smtplib.SMTP connected from 127.0.0.1
        ...
        m.wait_log(r"deliver .* status=sent")

On stop the log is checked for sanitizer reports; one fails the test.
"""

import atexit
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MOAT_BIN", os.path.join(ROOT, "build", "asan"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ERROR: UndefinedBehaviorSanitizer")

_used_ports = set()
# A loopback port where nothing listens: the default DNS server and relay
# host of every test daemon, so no test can ever send beyond loopback.
DEAD_PORT = None


def dead_port():
    global DEAD_PORT
    if DEAD_PORT is None:
        DEAD_PORT = free_port()
    return DEAD_PORT


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on now (and that this run has not handed out)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_port(host, port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d" % (host, port))


_tmpdirs = []


def make_tmpdir(prefix):
    """A temporary directory, removed when the test run ends (MOAT_KEEP=1 keeps it)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # the unprivileged moat user must traverse it
    _tmpdirs.append(d)
    return d


@atexit.register
def _remove_tmpdirs():
    if os.environ.get("MOAT_KEEP"):
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def task_states(pid):
    """The state letter of every thread of pid ([] once it is gone)."""
    states = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        states.append(stat[stat.rindex(")") + 2:].split()[0])
    return states


def group_members(pgid):
    """The live moatd processes in process group pgid. A killed process
    whose main thread is already a zombie still lives while another of its
    threads finishes (say an fsync of the spool journal's): until then its
    files, the listening socket among them, stay open."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) != pgid or comm != "moatd":
            continue
        if any(st != "Z" for st in task_states(int(entry))):
            pids.append(int(entry))
    return pids


def kill_group_members(pgid):
    """SIGKILL the processes still in process group pgid, named moatd.

    Only processes found in that group right now are hit, and only moatd
    ones: a bare killpg() after the leader is gone could reach an unrelated
    process group that reused the number."""
    for pid in group_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _read_or_empty(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def conf_str(v):
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def conf_list(items):
    return "{" + ", ".join(conf_str(i) for i in items) + "}"


# MOAT_STORE=redis: every Moatd keeps its state in a private redis-server
# (started on first use, on loopback), each under a prefix of its own: the
# same tests, on the shared-store backend (issue 23). One server for each
# network namespace a test works in: loopback is the namespace's own.
_shared_redis = {}


def _store_conf(name):
    if os.environ.get("MOAT_STORE", "lmdb") != "redis":
        return ""
    ns = os.stat("/proc/self/ns/net").st_ino
    if ns not in _shared_redis:
        from peers import Redis  # peers imports this module
        _shared_redis[ns] = Redis().start()
        atexit.register(_shared_redis[ns].stop)
    return 'store = "redis"\nredis {\n\taddress = "%s"\n\tprefix = "%s:"\n}\n' % (
        _shared_redis[ns].address(), name)


class Moatd:
    """One moatd instance with a generated config."""

    def __init__(self, domains=None, trusted=None, limits=None, listeners=None,
                 extra="", hostname="mx.example.test", dns_servers=None,
                 bare_newline="reject", workers=1, tmpdir=None, domain_extra=None,
                 relayhost="dead", verbose=False, env=None):
        self.dir = tmpdir or make_tmpdir("moat-test-")
        self.own_dir = tmpdir is None
        self.port = free_port()
        self.domains = domains or {"example.test": ["postmaster", "alice", "bob"]}
        self.trusted = trusted or []
        self.limits = dict(limits or {})
        self.limits.setdefault("queue_scan_interval", 1)
        # Tests of other things must not trip the rate limits by sending a
        # lot from one address; the screening tests set these themselves.
        for k in ("conn_rate", "msg_rate", "rcpt_rate", "submit_msg_rate",
                  "submit_rcpt_rate"):
            self.limits.setdefault(k, 0)
        self.listeners = listeners or [("mx", "127.0.0.1:%d" % self.port, "mx")]
        self.extra = extra
        self.hostname = hostname
        self.dns_servers = dns_servers or ["127.0.0.1:%d" % dead_port()]
        self.relayhost = "127.0.0.1:%d" % dead_port() if relayhost == "dead" else relayhost
        self.bare_newline = bare_newline
        self.workers = workers
        self.verbose = verbose  # moatd -v: debug lines too (the client's commands)
        self.domain_extra = domain_extra or {}
        # The daemon's environment. By default the test's, less what would
        # have it talk to a service manager the test runs under (moatd(8),
        # SYSTEMD): test_systemd_notify passes its own NOTIFY_SOCKET.
        self.env = env if env is not None else {
            k: v for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        self.proc = None
        self.conf = os.path.join(self.dir, "moat.conf")
        self.logfile = os.path.join(self.dir, "moatd.log")
        self.write_conf()

    # ---- config and process ----

    def conf_text(self):
        lines = [
            "hostname = %s" % conf_str(self.hostname),
            'user = "moat"',
            "spool_dir = %s" % conf_str(os.path.join(self.dir, "spool")),
            "mail_dir = %s" % conf_str(os.path.join(self.dir, "mail")),
            "run_dir = %s" % conf_str(os.path.join(self.dir, "run")),
            "state_dir = %s" % conf_str(os.path.join(self.dir, "state")),
            "workers = %d" % self.workers,
            "bare_newline = %s" % conf_str(self.bare_newline),
            "trusted_networks = %s" % conf_list(self.trusted),
            "dns_servers = %s" % conf_list(self.dns_servers),
        ]
        if self.relayhost:
            lines.append("relayhost = %s" % conf_str(self.relayhost))
        for name, addr, role in self.listeners:
            lines.append('listen %s {\n\taddress = %s\n\trole = %s\n}' % (
                conf_str(name), conf_str(addr), conf_str(role)))
        for dom, users in self.domains.items():
            body = "\tusers = %s\n" % conf_list(users)
            body += self.domain_extra.get(dom, "")
            lines.append("domain %s {\n%s}" % (conf_str(dom), body))
        # the state store: LMDB under state_dir, or the shared Redis
        # under this instance's directory name
        lines.append(_store_conf(os.path.basename(self.dir)))
        if self.limits:
            lines.append("limits {\n" + "".join(
                "\t%s = %s\n" % (k, v) for k, v in self.limits.items()) + "}")
        lines.append(self.extra)
        return "\n".join(lines) + "\n"

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write(self.conf_text())

    def start(self, timeout=15.0):
        mark = len(self.log())
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "moatd"), "-d", "-c", self.conf]
            + (["-v"] if self.verbose else []),
            stdout=self.logfh, stderr=subprocess.STDOUT, cwd=self.dir,
            start_new_session=True, env=self.env)
        for _, addr, _ in self.listeners:
            host, port = addr.rsplit(":", 1)
            wait_port(host.strip("[]"), int(port), timeout, self.proc)
        self.wait_log(r"smtp worker 0 ready", timeout, since=mark)
        self.wait_log(r"queue runner ready", timeout, since=mark)
        # The port probes above were sessions too: let them end, so that
        # tests counting sessions start from zero.
        self.wait_log(r"smtp disconnect ", timeout,
                      count=self.probes(), since=mark)
        return self

    def probes(self):
        return len(self.listeners)

    def stop(self, check=True):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # children may outlive a killed master; never leave them behind
        if self.proc is not None:
            kill_group_members(self.proc.pid)
            time.sleep(0.1)
        self.proc = None
        if hasattr(self, "logfh"):
            self.logfh.close()
        if check:
            self.check_sanitizers()

    def kill9(self):
        """Crash the whole process group, as a power cut would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # The workers die too, but an ASan process can take a while to go,
        # and until it has, its copy of the listening socket takes the next
        # start()'s port probe (a connection nobody will ever log).
        deadline = time.time() + 30
        while group_members(self.proc.pid) and time.time() < deadline:
            time.sleep(0.05)
        self.proc = None
        self.logfh.close()

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def check_sanitizers(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                raise AssertionError("sanitizer report in moatd log:\n" +
                                     text[max(0, i - 200):i + 3000])

    def check_conf(self):
        """moatd -n on this instance's configuration: the finished
        process (returncode, stderr)."""
        return subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", self.conf],
                              capture_output=True, text=True, timeout=30)

    def assert_refused(self, test, pattern):
        """moatd -n refuses this configuration with an error matching
        pattern (test: the unittest.TestCase); the instance is cleaned up."""
        try:
            r = self.check_conf()
            test.assertNotEqual(r.returncode, 0, r.stderr)
            test.assertRegex(r.stderr, pattern)
        finally:
            self.cleanup()

    def cleanup(self):
        if self.own_dir and not os.environ.get("MOAT_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop(check=exc_type is None)
        finally:
            if exc_type is None:
                self.cleanup()
            else:
                print("moatd left in %s" % self.dir)
        return False

    # ---- observing ----

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0, count=1, since=0):
        """Wait until pattern matches count lines of the log (from byte offset
        since); return the matching lines."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            found = [l for l in self.log()[since:].splitlines() if rx.search(l)]
            if len(found) >= count:
                return found
            if time.time() > deadline:
                raise AssertionError("log never matched %r (%d/%d); log tail:\n%s" % (
                    pattern, len(found), count, "\n".join(self.log().splitlines()[-40:])))
            time.sleep(0.05)

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.log().splitlines() if rx.search(l)]

    def maildir(self, user, domain="example.test", sub="new"):
        d = os.path.join(self.dir, "mail", domain, user, sub)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d))

    def wait_maildir(self, user, count, domain="example.test", timeout=10.0, containing=None):
        """Wait for count messages in the mailbox; with containing (bytes or str), count
        only messages whose text holds it, for mailboxes other tests of a class share."""
        if isinstance(containing, str):
            containing = containing.encode()
        deadline = time.time() + timeout
        while True:
            files = self.maildir(user, domain)
            if containing is not None:
                files = [f for f in files if containing in _read_or_empty(f)]
            if len(files) >= count:
                return files
            if time.time() > deadline:
                raise AssertionError("%s@%s has %d messages, want %d; log tail:\n%s" % (
                    user, domain, len(files), count,
                    "\n".join(self.log().splitlines()[-30:])))
            time.sleep(0.05)

    def queue_files(self):
        d = os.path.join(self.dir, "spool", "queue")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    # ---- talking ----

    def smtp(self, source="127.0.0.1", port=None, timeout=10):
        """An smtplib client from the given loopback source address."""
        return smtplib.SMTP("127.0.0.1", port or self.port, timeout=timeout,
                            source_address=(source, 0), local_hostname="client.test")

    def raw(self, source="127.0.0.1", port=None, timeout=10):
        return RawClient("127.0.0.1", port or self.port, source, timeout)


class RawClient:
    """A byte-level SMTP client for what smtplib will not send."""

    def __init__(self, host, port, source="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")

    def reply(self):
        """One whole (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                return int(l[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def message(subject="test", body="hello\r\n", frm="sender@remote.test",
            to="alice@example.test", extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n%s\r\n%s" % (
        frm, to, subject, extra, body))


def moatctl(m, *args, user=None, group=None, cwd=None, timeout=60, check=False):
    """Run `moatctl -c CONF ARGS...` and return the CompletedProcess (text).

    m is a Moatd (its conf is used) or the path of a configuration file,
    taken as it is: a relative one is read from cwd (None: this process's).
    user and group: run as them, without root's other groups (setpriv), as
    the control socket's peer check sees an unprivileged caller. check: the
    command must succeed (its arguments and output in the failure).
    """
    conf = m if isinstance(m, str) else m.conf
    cmd = [os.path.join(BIN, "moatctl"), "-c", conf] + list(args)
    if user is not None:
        cmd = ["setpriv", "--reuid=" + user, "--regid=" + group, "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r

"""lib - the parts every benchmark shares: the sink, the two servers, and
the measurements taken of them.

    with Sink() as sink:                                  # Postfix's smtp-sink
        with Moatd(sink.port, workers=2) as srv:          # or Postfix(sink.port)
            before = srv.usage()
            ... smtp-source into 127.0.0.1:srv.port ...
            sink.wait_count(n)                            # time of the n-th "."
            cpu = srv.usage() - before

Sink:    smtp-sink on a loopback port with its running counter (-c) on a
         pseudo-terminal, where it is written at once (to a pipe or a file
         smtp-sink buffers it): a thread records the time each count was
         first seen, so the time of the last message at the sink is known
         to a few milliseconds without dumping the messages.
Postfix: a private instance from Debian's postfix (own config, queue and
         data directories under a temporary directory, smtpd on a loopback
         port from its own master.cf; tests/e2e/postfix_peer.py, shared
         with the end-to-end tests), relaying everything to the sink; no
         DNS, no local delivery; default durability (the queue file is
         fsynced before 250).
Moatd:   build/release/moatd with a generated config, spool in a temporary
         directory on the same filesystem, relaying everything to the sink;
         group commit (the batch's queue files copied to a journal segment,
         one fdatasync; spool_sync = journal, the default) before 250.

Either server takes milter="unix:PATH" (bench/milter.py): moatd gets a
milter section (trusted = true, or the loopback load generator, a trusted
network, would never be shown to it), Postfix smtpd_milters, both with a
tempfail default action.

Both servers answer usage() (CPU seconds of every process of the server,
live and reaped) and memory() (RSS and PSS of every live process), and
queue_files() (messages still queued: 0 after a clean run).

Traffic stays on 127.0.0.0/8; DNS queries, if any, go to a dead loopback
port, never to the machine's resolver.
"""

import os
import pty
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# The private Postfix instance is the end-to-end tests' peer too.
sys.path.append(os.path.join(ROOT, "tests", "e2e"))
from postfix_peer import PostfixInstance  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Temporary trees go on the disk under test (not tmpfs) and are traversable
# by the unprivileged users the servers drop to.
WORK_BASE = os.environ.get("BENCH_TMP", "/var/tmp")

_used_ports = set()


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on now (and not handed out before)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


DEAD_PORT = free_port()  # nothing listens here: DNS and fallbacks go nowhere


def wait_port(port, timeout=30.0, proc=None, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.settimeout(5.0)
                try:
                    s.recv(512)  # the greeting: the server really serves
                except OSError:
                    pass
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d" % (host, port))


def make_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir=WORK_BASE)
    os.chmod(d, 0o755)
    return d


def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile of xs (0 < p <= 100)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# ---- process accounting ----

def _stat(pid):
    """(ppid, utime+stime, cutime+cstime) in seconds, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return (int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK,
            (int(rest[13]) + int(rest[14])) / CLK_TCK)


def tree(root):
    """Every live process under root (root included)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


# --pin (flood.py): the CPUs of the attacker's processes (the bots, a
# decoy moatd); None: they share every CPU with the server, as by default.
ATTACKER_CPUS = None


def pin_tree(root, cpus):
    """Every thread of every live process under root onto cpus (a thread
    made later inherits its creator's)."""
    for p in tree(root):
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            try:
                os.sched_setaffinity(int(t), cpus)
            except OSError:
                pass


def tree_cpu(root):
    """CPU seconds the tree under root has used: live processes' own time
    plus the time of the children each has reaped (Postfix's master reaps
    its short-lived smtpd, cleanup and smtp processes)."""
    total = 0.0
    for p in tree(root):
        st = _stat(p)
        if st is not None:
            total += st[1] + st[2]
    return total


def tree_memory(root):
    """(processes, RSS bytes, PSS bytes) of the live tree under root."""
    n = rss = pss = 0
    for p in tree(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                text = f.read()
        except OSError:
            continue
        m1 = re.search(r"^Rss:\s+(\d+) kB", text, re.M)
        m2 = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        if m1 and m2:
            n += 1
            rss += int(m1.group(1)) * 1024
            pss += int(m2.group(1)) * 1024
    return n, rss, pss


def machine_cpu():
    """(busy, iowait, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle, iowait = v[3], v[4]
    total = sum(v[:8])
    return total - idle - iowait, iowait, total


def disk_writes():
    """(write requests, sectors written, flushes) summed over whole disks."""
    w = s = fl = 0
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if re.match(r"^(vd[a-z]+|sd[a-z]+|nvme\d+n\d+|xvd[a-z]+)$", p[2]):
                w += int(p[7])
                s += int(p[9])
                if len(p) > 19:
                    fl += int(p[18])
    return w, s, fl


def kernel_log():
    """The kernel's messages (dmesg -T), as lines; [] if unreadable."""
    try:
        return subprocess.run(["dmesg", "-T"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True,
                              errors="replace", timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []


# ---- the sink ----

class Sink:
    """Postfix's smtp-sink with a live message counter."""

    def __init__(self, backlog=1024):
        self.port = free_port()
        self.backlog = backlog
        self.proc = None
        self.count = 0
        self.times = {}  # count -> time first seen (only for watched counts)
        self.watch = set()
        self.cv = threading.Condition()
        self.stopping = False

    def start(self):
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [SMTP_SINK, "-u", "nobody", "-c", "127.0.0.1:%d" % self.port,
             str(self.backlog)],
            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(slave)
        self.fd = master
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        wait_port(self.port, 10, self.proc)
        return self

    def _reader(self):
        tail = b""
        while True:
            try:
                d = os.read(self.fd, 1 << 16)
            except OSError:
                d = b""
            if not d:
                return
            t = time.time()
            tail = (tail + d)[-256:]
            i = tail.rfind(b"mesg=")
            j = tail.find(b"\r", i) if i >= 0 else -1
            if j > i >= 0:
                n = int(tail[i + 5:j])
                with self.cv:
                    if n != self.count:
                        for w in list(self.watch):
                            if self.count < w <= n:
                                self.times[w] = t
                                self.watch.discard(w)
                        self.count = n
                        self.cv.notify_all()
            # Let updates pile up a little: one read per few ms keeps this
            # reader's CPU (which the machine shares with the servers) small.
            time.sleep(0.003)

    def watch_for(self, n):
        with self.cv:
            if self.count >= n:
                self.times[n] = time.time()
            else:
                self.watch.add(n)

    def wait_count(self, n, timeout, stall=60.0, proc=None):
        """Time the n-th message reached the sink; None on timeout or when
        the count stops moving for `stall` seconds (after proc, if given,
        has exited)."""
        deadline = time.time() + timeout
        last, last_t = -1, time.time()
        with self.cv:
            while self.count < n:
                now = time.time()
                if now > deadline:
                    return None
                if self.count != last:
                    last, last_t = self.count, now
                elif now - last_t > stall and (proc is None or proc.poll() is not None):
                    return None
                self.cv.wait(0.5)
            return self.times.get(n, time.time())

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
            try:
                os.close(self.fd)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---- the servers ----

class Server:
    name = "server"

    def __init__(self, keep=False):
        self.dir = make_tmpdir("bench-%s-" % self.name)
        self.port = free_port()
        self.keep = keep or bool(os.environ.get("BENCH_KEEP"))

    def usage(self):
        return tree_cpu(self.root_pid())

    def memory(self):
        return tree_memory(self.root_pid())

    def processes(self):
        return tree(self.root_pid())

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        finally:
            if not self.keep and exc_type is None:
                shutil.rmtree(self.dir, ignore_errors=True)
            elif exc_type is not None:
                print("%s left in %s" % (self.name, self.dir), flush=True)
        return False


def conf_str(v):
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


class Moatd(Server):
    """moatd relaying everything but bench.test to 127.0.0.1:sink_port."""

    name = "moat"

    def __init__(self, sink_port, workers=1, bin_dir=None, limits=None,
                 wrapper=None, keep=False, signatures=None, redis=None, trusted=True,
                 milter=None, milter_name="rspamd"):
        super().__init__(keep)
        self.signatures = signatures  # a signatures_file, or None
        self.milter = milter  # "unix:PATH" or "inet:HOST:PORT" of a milter, or None
        self.milter_name = milter_name
        self.redis = redis  # "host:port" of a redis-server for the store, or None
        self.trusted = trusted  # the load generator's 127.0.0.0/8 skips screening
        self.bin = os.path.abspath(os.path.join(
            bin_dir or os.path.join(ROOT, "build", "release"), "moatd"))
        self.sink_port = sink_port
        self.workers = workers
        self.limits = {
            # room for idle.py's 10,000 sessions; moatd -n refuses more
            # than RLIMIT_NOFILE can hold (sessions_max + 1,024; the hard
            # limit here is 20,000)
            "sessions_max": 18000,
            "messages_per_session_max": 1000000,
            "recipients_max": 100,
            "errors_max": 20,
        }
        self.limits.update(limits or {})
        self.wrapper = wrapper or []
        self.conf = os.path.join(self.dir, "moat.conf")
        self.logfile = os.path.join(self.dir, "moatd.log")
        self.proc = None

    def conf_text(self):
        d = self.dir
        lines = [
            'hostname = "mx.bench.test"',
            'user = "moat"',
            "spool_dir = %s" % conf_str(os.path.join(d, "spool")),
            "mail_dir = %s" % conf_str(os.path.join(d, "mail")),
            "run_dir = %s" % conf_str(os.path.join(d, "run")),
            "state_dir = %s" % conf_str(os.path.join(d, "state")),
            "workers = %d" % self.workers,
            'trusted_networks = {%s}' % ('"127.0.0.0/8"' if self.trusted else ""),
            'dns_servers = {"127.0.0.1:%d"}' % DEAD_PORT,
            'relayhost = "127.0.0.1:%d"' % self.sink_port,
            'listen "mx" {\n\taddress = "127.0.0.1:%d"\n\trole = "mx"\n}' % self.port,
            'domain "bench.test" {\n\tusers = {"postmaster"}\n}',
            "limits {\n" + "".join("\t%s = %s\n" % kv for kv in self.limits.items()) + "}",
        ]
        if not self.trusted:
            # not relayed for strangers: a local domain delivered to the sink
            lines.append('domain "sink.test" {\n\tusers = {"rcpt"}\n'
                         '\tdelivery = "smtp:127.0.0.1:%d"\n}' % self.sink_port)
        if self.redis:
            lines.append('store = "redis"\nredis {\n\taddress = %s\n\tprefix = %s\n}' % (
                conf_str(self.redis), conf_str("bench%d:" % self.port)))
        if self.signatures:
            lines.append("screen {\n\tsignatures_file = %s\n}" % conf_str(self.signatures))
        if self.milter:
            # trusted: the load comes from 127.0.0.0/8, a trusted network,
            # which a milter is otherwise not shown (Postfix's smtpd_milters
            # see every client).
            lines.append('milter %s {\n\taddress = %s\n\ttimeout_ms = 60000\n'
                         '\ton_error = "tempfail"\n\ttrusted = true\n}' % (
                             conf_str(self.milter_name), conf_str(self.milter)))
        return "\n".join(lines) + "\n"

    def start(self, timeout=30.0):
        with open(self.conf, "w") as f:
            f.write(self.conf_text())
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            self.wrapper + [self.bin, "-d", "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=self.logfh, stderr=subprocess.STDOUT,
            cwd=self.dir, start_new_session=True)
        wait_port(self.port, timeout, self.proc)
        deadline = time.time() + timeout
        while "queue runner ready" not in self.log():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("moatd did not start:\n" + self.log()[-3000:])
            time.sleep(0.05)
        return self

    def root_pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # never leave children behind
        except ProcessLookupError:
            pass
        self.proc = None
        self.logfh.close()

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def roles(self):
        """{pid: role} from the log's "moatd/ROLE[PID]" prefixes."""
        return {pid: role for role, pid in
                re.findall(r"moatd/(\w+)\[(\d+)\]", self.log())}

    def queue_files(self):
        n = 0
        for sub in ("queue", "tmp"):
            try:
                n += len(os.listdir(os.path.join(self.dir, "spool", sub)))
            except FileNotFoundError:
                pass
        return n

    def problems(self):
        """Log lines that say something went wrong (for the report)."""
        rx = re.compile(r"fatal|crash|abort|warn|sanitizer|status=(?!sent)|"
                        r"reason=\"(?!quit|lost connection\")", re.I)
        return [l for l in self.log().splitlines() if rx.search(l)]


class Postfix(PostfixInstance, Server):
    """A private Postfix relaying everything to [127.0.0.1]:sink_port
    (the instance itself: tests/e2e/postfix_peer.py)."""

    name = "postfix"

    def __init__(self, sink_port, smtpd_maxproc=150, keep=False, milter=None):
        super().__init__(keep)
        self.sink_port = sink_port
        self.smtpd_maxproc = smtpd_maxproc
        self.milter = milter  # "unix:PATH" or "inet:HOST:PORT" of a milter, or None
        self.postfix_init()

    def main_cf(self):
        extra = {}
        if self.milter:
            # smtpd is not chrooted (master.cf), so it sees a unix socket
            # at its real path.
            extra = {"smtpd_milters": self.milter, "milter_protocol": "6",
                     "milter_default_action": "tempfail"}
        return super().main_cf(**extra, **{
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            # No local delivery: nothing is ours, everything is relayed.
            "mydestination": "",
            "local_transport": "error:no local delivery in the benchmark",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "[127.0.0.1]:%d" % self.sink_port,
            "smtpd_peername_lookup": "no",
            "syslog_name": "postfix-bench",
            # Room for 10,000 idle smtpd processes in the memory benchmark.
            "default_process_limit": str(max(100, self.smtpd_maxproc)),
        })

    def master_cf(self):
        return super().master_cf(smtpd_maxproc=self.smtpd_maxproc, local=False)

    def start(self, timeout=30.0):
        self.start_postfix(self.main_cf(), self.master_cf())
        wait_port(self.port, timeout)
        return self

    def root_pid(self):
        return self.master_pid()

    def stop(self):
        pid = self.stop_postfix(timeout=30)
        # children that outlive the master (idle smtpd) go with it
        if pid is not None:
            for p in tree(pid)[1:]:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def queue_files(self):
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n

    def problems(self):
        rx = re.compile(r"fatal|panic|warning|error|status=(?!sent)", re.I)
        return [l for l in self.log().splitlines() if rx.search(l)]


def smtp_source(port, sessions, messages, size, reuse=True, extra=None):
    """The smtp-source command line for one load run."""
    cmd = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "loadgen@client.test", "-t", "rcpt@sink.test", "-M", "client.test"]
    if reuse:
        cmd.append("-d")
    cmd += (extra or []) + ["127.0.0.1:%d" % port]
    return cmd


def settle():
    """Make runs start alike: write back what the previous run left dirty,
    then drop the clean caches. On ext4 without a journal (this machine's
    root filesystem) the inode allocator skips inodes deleted in the last
    60 s whose inode-table block is still cached (recently_deleted() in
    fs/ext4/ialloc.c), scanning past each of them on every file creation:
    without the drop, a run pays for the 20,000 files the previous run
    deleted, and the sides' figures would depend on their order."""
    subprocess.run(["sync"], check=False)
    if os.environ.get("BENCH_DROP_CACHES", "1") == "1":
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError:
            pass
    time.sleep(1.0)

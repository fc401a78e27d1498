"""End-to-end: nobody exhausts moat (issue 19) - what one session can make
a worker hold is bounded and given back.

Replies a client never reads stop its reading (the worker does not grow);
commands that move no mail are counted; a HELO session may not pipeline; a
command line must be whole within the command timeout of its first octet;
DATA must keep a minimum rate; duplicate recipients count.
"""

import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Moatd, free_port, make_tmpdir, message, moatctl

# a thousand sessions and more: the test process needs the descriptors
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft < 16384:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(16384, _hard), _hard))


def worker_pids(m):
    return [int(p) for p in re.findall(r"moatd/smtp\[(\d+)\]: smtp worker \d+ ready", m.log())]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class OutputBound(unittest.TestCase):
    def test_a_client_that_never_reads_does_not_grow_the_worker(self):
        # junk_commands_max at its top, so that only the output bound is
        # between this client and the worker's memory
        with Moatd(limits={"junk_commands_max": 10000000}, workers=2) as m:
            pids = worker_pids(m)
            self.assertEqual(len(pids), 2)
            # warm up both workers, then take the baseline
            for _ in range(4):
                s = m.smtp()
                s.ehlo()
                s.quit()
            before = {p: rss_kb(p) for p in pids}
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", m.port))
            f = sock.makefile("rb")
            self.assertTrue(f.readline().startswith(b"220 "))
            sock.sendall(b"EHLO c.test\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            sent = [0]

            def flood():
                chunk = b"HELP\r\n" * 10000
                sock.settimeout(20)
                try:
                    while sent[0] < 30 * 1024 * 1024:
                        sock.sendall(chunk)
                        sent[0] += len(chunk)
                except OSError:
                    pass

            t = threading.Thread(target=flood, daemon=True)
            t.start()
            t.join(8)
            # the server stopped reading: the client is stuck far short
            self.assertLess(sent[0], 30 * 1024 * 1024)
            # someone else is served meanwhile
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            s.rcpt("bob@example.test")
            self.assertEqual(s.data(message(subject="meanwhile"))[0], 250)
            s.quit()
            after = {p: rss_kb(p) for p in pids}
            for p in pids:
                self.assertLess(after[p] - before[p], 16 * 1024,
                                "worker %d grew from %d kB to %d kB" % (p, before[p], after[p]))
            sock.shutdown(socket.SHUT_RDWR)  # ends the blocked sendall
            t.join(25)
            sock.close()


class Junk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Moatd(limits={"tarpit_step_ms": 0, "timeout_command": 3})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()

    def test_101_noops_get_421(self):
        c = self.m.raw()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO c.test")[0], 250)
        c.send("NOOP\r\n" * 101)
        for _ in range(100):
            self.assertEqual(c.reply()[0], 250)
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("4.7.0", lines[0])
        self.assertTrue(c.closed())
        self.m.wait_log(r"rule=junk-commands reply=\"421 4\.7\.0\"")

    def test_junk_count_starts_over_after_a_message(self):
        c = self.m.raw()
        c.reply()
        self.assertEqual(c.cmd("EHLO c.test")[0], 250)
        for _ in range(90):
            self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd(message(subject="junk") + ".")[0], 250)
        for _ in range(90):
            self.assertEqual(c.cmd("VRFY bob")[0], 252)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_duplicate_recipients_are_junk_and_count(self):
        c = self.m.raw()
        c.reply()
        c.cmd("EHLO c.test")
        c.cmd("MAIL FROM:<a@remote.test>")
        # recipients_max is 100: the 101st RCPT, duplicates included, is 452
        for i in range(100):
            self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250, i)
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(code, 452, lines)
        c.close()

    def test_many_duplicates_end_the_session(self):
        with Moatd(limits={"recipients_max": 1000, "junk_commands_max": 50}) as m:
            c = m.raw()
            c.reply()
            c.cmd("EHLO c.test")
            c.cmd("MAIL FROM:<a@remote.test>")
            self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
            for _ in range(50):
                self.assertEqual(c.cmd("RCPT TO:<Bob@example.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 421)
            self.assertTrue(c.closed())

    def test_helo_session_may_not_pipeline(self):
        c = self.m.raw()
        c.reply()
        self.assertEqual(c.cmd("HELO c.test")[0], 250)
        c.send("MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 554, lines)
        self.assertIn("5.5.0", lines[0])
        self.assertTrue(c.closed())
        self.m.wait_log(r"rule=unauth-pipelining reply=\"554 5\.5\.0\"")

    def test_ehlo_session_may_pipeline(self):
        c = self.m.raw()
        c.reply()
        self.assertEqual(c.cmd("EHLO c.test")[0], 250)
        c.send("MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 250])
        c.close()

    def test_a_trickled_line_times_out(self):
        # timeout_command is 3 s: a byte every second resets the socket's
        # read timeout, but the line must be whole 3 s after it began
        c = self.m.raw()
        c.reply()
        c.cmd("EHLO c.test")
        start = time.time()
        code = None
        for ch in "NOOP and so on and on and on":
            try:
                c.send(ch)
            except OSError:
                break
            time.sleep(0.5)
            c.sock.settimeout(0.01)
            try:
                data = c.sock.recv(1000)
            except (socket.timeout, TimeoutError):
                continue
            finally:
                c.sock.settimeout(10)
            if data:
                code = int(data[:3])
                break
        self.assertEqual(code, 421)
        self.assertLess(time.time() - start, 5)
        self.m.wait_log(r"rule=line-timeout reply=\"421 4\.4\.2\"")


def show(m, ip):
    r = moatctl(m, "show", ip)
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)
    return dict(l.split(" ", 1) for l in r.stdout.splitlines())


def greeted(m, source, timeout=10):
    """The first line a new connection from source hears."""
    s = socket.create_connection(("127.0.0.1", m.port), timeout=timeout,
                                 source_address=(source, 0))
    try:
        return s.makefile("rb").readline().decode()
    finally:
        s.close()


ADDRS = ["127.0.20.%d" % i for i in range(1, 21)]


class Counts(unittest.TestCase):
    """Session counts never outlive their sessions: not past a worker's
    death, not past the daemon's."""

    def open_sessions(self, m, per_addr):
        socks = []
        for a in ADDRS:
            for _ in range(per_addr):
                s = socket.create_connection(("127.0.0.1", m.port), timeout=30,
                                             source_address=(a, 0))
                socks.append(s)
        for s in socks:
            line = s.makefile("rb").readline()
            self.assertTrue(line.startswith(b"220 "), line)
        return socks

    def test_a_killed_worker_takes_its_counts_along(self):
        with Moatd(workers=2, limits={"conn_per_ip": 50}) as m:
            socks = self.open_sessions(m, 50)
            # which worker holds which session: its connect line says
            m.wait_log(r"smtp connect sid=\w+ client=127\.0\.20\.", count=1000)
            owner = {}
            for pid, addr, port in re.findall(r"moatd/smtp\[(\d+)\]: smtp connect sid=\w+ "
                                              r"client=(127\.0\.20\.\d+):(\d+) ", m.log()):
                owner[(addr, int(port))] = int(pid)
            self.assertEqual(len(owner), 1000)
            pids = sorted(set(owner.values()), key=lambda p: -list(owner.values()).count(p))
            victim = pids[0]
            alive = {a: 0 for a in ADDRS}
            for s in socks:
                if owner[s.getsockname()] != victim:
                    alive[s.getsockname()[0]] += 1
            self.assertEqual(show(m, ADDRS[0])["sessions"], "50")
            os.kill(victim, signal.SIGKILL)
            m.wait_log(r"master: smtp process %d killed by signal 9" % victim)
            m.wait_log(r"master: \d+ session counts of a process that is gone given back")
            for a in ADDRS:
                self.assertEqual(show(m, a)["sessions"], str(alive[a]), a)
            self.assertEqual(show(m, ADDRS[0])["sessions-all"], str(sum(alive.values())))
            # a fresh client is greeted at once
            self.assertTrue(greeted(m, "127.0.21.1").startswith("220 "))
            for s in socks:
                s.close()
            deadline = time.time() + 20
            while show(m, ADDRS[0])["sessions-all"] != "0":
                self.assertLess(time.time(), deadline, "sessions still counted")
                time.sleep(0.2)
            for a in ADDRS:
                self.assertTrue(greeted(m, a).startswith("220 "), a)

    def test_a_killed_daemon_leaves_no_counts(self):
        with Moatd(workers=2, limits={"conn_per_ip": 50}) as m:
            socks = self.open_sessions(m, 50)
            self.assertEqual(show(m, ADDRS[5])["sessions"], "50")
            m.kill9()
            for s in socks:
                s.close()
            m.start()
            for a in ADDRS:
                self.assertEqual(show(m, a)["sessions"], "0", a)
                self.assertTrue(greeted(m, a).startswith("220 "), a)
            self.assertTrue(greeted(m, "127.0.21.1").startswith("220 "))


class Holders:
    """n connections from many addresses that wait for the greeting and
    then sit idle, or trickle a byte every few seconds; one that is closed
    comes back after a pause, as an attacker keeps the house full."""

    def __init__(self, port, n, addrs, pause=(0.5, 1.5)):
        import random
        import selectors
        self.port, self.n, self.addrs, self.pause = port, n, addrs, pause
        self.rand = random.Random(19)
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.greeted = 0
        self.closed = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def connect(self, i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((self.addrs[i % len(self.addrs)], 0))
        s.connect_ex(("127.0.0.1", self.port))
        self.sel.register(s, 1, i)  # EVENT_READ

    def run(self):
        import selectors
        comeback = []
        for i in range(self.n):
            self.connect(i)
        last_trickle = time.time()
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.2):
                s, i = key.fileobj, key.data
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data.startswith(b"220 "):
                    self.greeted += 1
                if not data:
                    self.sel.unregister(s)
                    s.close()
                    self.closed += 1
                    comeback.append((time.time() + self.rand.uniform(*self.pause), i))
            now = time.time()
            due = [c for c in comeback if c[0] <= now]
            comeback = [c for c in comeback if c[0] > now]
            for _, i in due:
                self.connect(i)
            if now - last_trickle > 3:
                last_trickle = now
                for key in list(self.sel.get_map().values()):
                    if key.data % 2:  # the slow half
                        try:
                            key.fileobj.send(b"N")
                        except OSError:
                            pass
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(30)


def send_one(m, source, subject):
    s = m.smtp(source=source, timeout=30)
    try:
        s.ehlo()
        s.mail("good@remote.test")
        s.rcpt("bob@example.test")
        code, resp = s.data(message(subject=subject))
        s.quit()
        return code
    except Exception as e:  # noqa: BLE001 - the test counts failures
        return repr(e)


class FullHouse(unittest.TestCase):
    def test_a_full_house_makes_room_for_real_mail(self):
        with Moatd(limits={"sessions_max": 500, "conn_per_ip": 100}) as m:
            good, stranger = "127.0.30.1", "127.0.31.1"
            self.assertEqual(send_one(m, good, "record"), 250)  # its good record
            addrs = ["127.0.40.%d" % i for i in range(1, 101)]
            with Holders(m.port, 2000, addrs, pause=(0.2, 0.6)) as h:
                deadline = time.time() + 60
                while h.greeted < 1000 and time.time() < deadline:
                    time.sleep(0.2)
                self.assertGreaterEqual(h.greeted, 1000, "the house never filled")
                m.wait_log(r"smtp stress on: ")
                time.sleep(3)  # the holders churn: each newcomer takes a slot
                mark = len(m.log_lines(r"rule=preempted "))
                refused = len(m.log_lines(r"rule=sessions-max "))
                results = []
                for i in range(500):
                    results.append(send_one(m, good, "full house %d" % i))
                    time.sleep(0.01)
                self.assertEqual([r for r in results if r != 250], [])
                greeted = 0
                for _ in range(20):
                    try:
                        if greeted_line(m, stranger).startswith("220 "):
                            greeted += 1
                    except OSError:
                        pass
                self.assertGreaterEqual(greeted, 10)
                # newcomers took idle slots; holders whose slot went were
                # refused at accept when they came back to a full house
                # (they would take each other's slots for ever otherwise)
                self.assertGreater(len(m.log_lines(r"rule=preempted ")) - mark, 0)
                self.assertGreater(len(m.log_lines(r"rule=sessions-max ")) - refused, 0)
            m.wait_maildir("bob", 501, timeout=60)
            # the good client's sessions never were the ones to go
            self.assertEqual(m.log_lines(r"smtp refuse .*client=127\.0\.30\.1:"), [])


def greeted_line(m, source):
    return greeted(m, source)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Descriptors(unittest.TestCase):
    def test_running_out_of_descriptors_neither_spins_nor_floods_the_log(self):
        with Moatd() as m:
            pid = worker_pids(m)[0]
            # as the worker's own user: no CAP_SYS_RESOURCE needed
            subprocess.run(["setpriv", "--reuid=moat", "--regid=moat", "--clear-groups",
                            "prlimit", "--pid", str(pid), "--nofile=64:64"], check=True)
            socks = []
            for _ in range(150):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", m.port))
                socks.append(s)
            m.wait_log(r"smtp: accept: Too many open files")
            time.sleep(0.5)
            cpu0, t0, lines0 = cpu_seconds(pid), time.time(), len(m.log_lines(r"smtp: accept:"))
            time.sleep(3)
            cpu = cpu_seconds(pid) - cpu0
            lines = len(m.log_lines(r"smtp: accept:")) - lines0
            self.assertLess(cpu, 0.3 * (time.time() - t0), "the worker spins")
            self.assertLessEqual(lines, 4, "the log is flooded")
            for s in socks:
                s.close()
            # the descriptors come back: so does accepting
            deadline = time.time() + 10
            while True:
                try:
                    if greeted(m, "127.0.0.1", timeout=5).startswith("220 "):
                        break
                except OSError:
                    pass
                self.assertLess(time.time(), deadline)


def store_fill(path):
    """Fill the store's map with entries that never expire (mdb_load, as the
    daemon runs: LMDB serialises the writers). mdb_load writes all or
    nothing, so in batches, until one does not fit; then smaller ones."""
    n = 0
    for batch in (500, 50, 5, 1):
        while True:
            lines = ["VERSION=3", "format=bytevalue", "type=btree", "HEADER=END"]
            for i in range(batch):
                lines.append(" " + ("filler:%08d" % (n + i)).encode().hex())
                lines.append(" " + "00" * 8 + "ab" * 100)  # expires 0: never
            lines.append("DATA=END")
            r = subprocess.run(["mdb_load", path], input="\n".join(lines) + "\n",
                               capture_output=True, text=True)
            if r.returncode != 0:
                if "MDB_MAP_FULL" not in r.stderr:
                    raise AssertionError(r.stdout + r.stderr)
                break
            n += batch
    return n


class StoreFull(unittest.TestCase):
    def test_a_full_store_stops_no_mail(self):
        # greylisting on: each new triplet needs room the store no longer has
        with Moatd(limits={"store_map_mb": 1, "conn_per_ip": 5},
                   extra="screen {\n\tgreylist = true\n}\n") as m:
            self.assertGreater(store_fill(os.path.join(m.dir, "state", "store")), 1000)
            # 300 clients that were never seen: every one greeted and served
            for i in range(300):
                src = "127.0.50.%d" % (i % 250 + 1)
                line = greeted(m, src)
                self.assertTrue(line.startswith("220 "), (src, line))
            for i in range(10):
                self.assertEqual(send_one(m, "127.0.51.%d" % (i + 1), "full store %d" % i), 250)
            m.wait_maildir("bob", 10)
            m.wait_log(r"policy store alarm: .* failed; checks that need the store let "
                       r"clients through")
            self.assertEqual(m.log_lines(r"smtp refuse "), [])


class TrapBookkeeping(unittest.TestCase):
    def test_a_full_trap_store_leaves_the_screening_its_room(self):
        http_port = free_port()
        d = make_tmpdir("moat-test-")
        extra = ('bait {\n\tsecret_file = "%s/trap.secret"\n\tdomain = "example.test"\n'
                 '\tlisten = "127.0.0.1:%d"\n}\nscreen {\n\tgreylist = true\n}\n'
                 % (d, http_port))
        m = Moatd(tmpdir=d, extra=extra, limits={"store_map_mb": 4, "bait_pace_ms": 0})
        m.own_dir = True
        with m:
            # the bookkeeping's own store (a quarter of the map) is full
            self.assertGreater(store_fill(os.path.join(d, "state", "traps")), 1000)
            for i in range(20):
                c = socket.create_connection(("127.0.0.1", http_port), timeout=10,
                                             source_address=("127.0.60.%d" % (i + 1), 0))
                c.sendall(b"GET /staff.html HTTP/1.0\r\n\r\n")
                self.assertIn(b"200 OK", c.makefile("rb").readline())
                c.close()
            # the screening keys still have their room: a new triplet is
            # kept (greylisted, 451), not let through for want of space
            c = m.raw(source="127.0.61.1")
            c.reply()
            c.cmd("EHLO c.test")
            c.cmd("MAIL FROM:<a@remote.test>")
            code, lines = c.cmd("RCPT TO:<bob@example.test>")
            self.assertEqual(code, 451, lines)
            self.assertIn("Greylisted", lines[0])
            c.close()
            self.assertEqual(m.log_lines(r"policy store alarm"), [])
        m.cleanup()


class SpoolFull(unittest.TestCase):
    def test_no_room_in_the_spool_is_452_at_mail(self):
        # per-file sync: the journal makes 32 MB segments at once
        m = Moatd(limits={"message_size_max": 1048576, "spool_free_min": 8388608},
                  extra='spool_sync = "file"\n')
        d = os.path.join(m.dir, "spool")
        os.mkdir(d)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", d], check=True)
        try:
            with m:
                self.assertEqual(send_one(m, "127.0.0.1", "room"), 250)
                filler = os.path.join(d, "filler")
                st = os.statvfs(d)
                with open(filler, "wb") as f:
                    f.write(b"\0" * (st.f_bavail * st.f_frsize - 4 * 1048576))
                time.sleep(1.1)  # free space is looked at once a second
                c = m.raw()
                c.reply()
                c.cmd("EHLO c.test")
                code, lines = c.cmd("MAIL FROM:<a@remote.test>")
                self.assertEqual((code, lines[0][:9]), (452, "452 4.3.1"), lines)
                c.close()
                m.wait_log(r"rule=spool-full reply=\"452 4\.3\.1\"")
                m.wait_log(r"octets free, less than 8388608: MAIL gets 452 4\.3\.1")
                # room again: mail again; what was acknowledged got through
                os.unlink(filler)
                time.sleep(1.1)
                self.assertEqual(send_one(m, "127.0.0.1", "room again"), 250)
                m.wait_maildir("bob", 2)
        finally:
            subprocess.run(["umount", "-l", d])


class BaitServer(unittest.TestCase):
    """The bait web server holds at most bait_conns_max connections, each
    for a bounded time whatever it trickles, and does not spin when it runs
    out of descriptors."""

    def setUp(self):
        self.http_port = free_port()
        d = make_tmpdir("moat-test-")
        extra = ('bait {\n\tsecret_file = "%s/trap.secret"\n\tdomain = "example.test"\n'
                 '\tlisten = "127.0.0.1:%d"\n}\n' % (d, self.http_port))
        self.m = Moatd(tmpdir=d, extra=extra,
                       limits={"bait_pace_ms": 0, "bait_conns_max": 20,
                               "bait_request_timeout": 2, "bait_request_max": 2048})
        self.m.own_dir = True
        self.m.start()
        self.m.wait_log(r"bait server ready")
        self.pid = int(re.search(r"moatd/bait\[(\d+)\]: bait server ready",
                                 self.m.log()).group(1))

    def tearDown(self):
        self.m.stop()
        self.m.cleanup()

    def sockets(self):
        n = 0
        for fd in os.listdir("/proc/%d/fd" % self.pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (self.pid, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n

    def fetch(self, timeout=20):
        c = socket.create_connection(("127.0.0.1", self.http_port), timeout=timeout)
        c.sendall(b"GET /staff.html HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        return data

    def test_idle_and_trickling_connections_are_capped_and_cut(self):
        base = self.sockets()
        idle = [socket.create_connection(("127.0.0.1", self.http_port)) for _ in range(50)]
        trickler = idle[0]
        t0 = time.time()
        peak = 0
        while time.time() - t0 < 1.5:
            peak = max(peak, self.sockets() - base)
            try:
                trickler.send(b"G")
            except OSError:
                break
            time.sleep(0.2)
        self.assertLessEqual(peak, 20, "bait_conns_max holds")
        # a real crawler gets its page once the deadlines free the slots
        t1 = time.time()
        page = self.fetch()
        self.assertIn(b"200 OK", page.split(b"\r\n")[0])
        self.assertLess(time.time() - t1, 15)
        # the trickler was cut by the deadline, bytes or not
        trickler.settimeout(5)
        try:
            self.assertEqual(trickler.recv(100), b"")
        except ConnectionResetError:
            pass
        for c in idle:
            c.close()

    def test_a_big_request_is_refused(self):
        c = socket.create_connection(("127.0.0.1", self.http_port), timeout=10)
        c.sendall(b"GET /staff.html HTTP/1.0\r\nX-Junk: " + b"a" * 4000 + b"\r\n\r\n")
        data = c.recv(1000)
        c.close()
        self.assertNotIn(b"200 OK", data)

    def test_out_of_descriptors_no_spin(self):
        subprocess.run(["setpriv", "--reuid=moat", "--regid=moat", "--clear-groups",
                        "prlimit", "--pid", str(self.pid), "--nofile=24:24"], check=True)
        socks = []
        for _ in range(60):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.http_port))
            socks.append(s)
        self.m.wait_log(r"bait: accept: Too many open files")
        cpu0, lines0 = cpu_seconds(self.pid), len(self.m.log_lines(r"bait: accept:"))
        time.sleep(3)
        self.assertLess(cpu_seconds(self.pid) - cpu0, 0.9)
        self.assertLessEqual(len(self.m.log_lines(r"bait: accept:")) - lines0, 4)
        for s in socks:
            s.close()


class DataRate(unittest.TestCase):
    def test_a_trickled_message_is_cut_after_a_minute(self):
        with Moatd(limits={"data_rate_min": 100}) as m:
            c = m.raw()
            c.reply()
            c.cmd("EHLO c.test")
            c.cmd("MAIL FROM:<a@remote.test>")
            c.cmd("RCPT TO:<bob@example.test>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            start = time.time()
            c.sock.settimeout(1)
            data = b""
            # 10 octets every 2 s: well inside timeout_data, far below 100/s
            while time.time() - start < 75 and not data:
                c.send("0123456789")
                try:
                    data = c.sock.recv(1000)
                except (socket.timeout, TimeoutError):
                    time.sleep(1)
            self.assertTrue(data.startswith(b"421 4.4.2"), data)
            self.assertGreater(time.time() - start, 59)
            m.wait_log(r"rule=data-rate reply=\"421 4\.4\.2\"")

    def test_a_slow_but_steady_message_passes(self):
        with Moatd(limits={"data_rate_min": 100}) as m:
            c = m.raw()
            c.reply()
            c.cmd("EHLO c.test")
            c.cmd("MAIL FROM:<a@remote.test>")
            c.cmd("RCPT TO:<bob@example.test>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            start = time.time()
            line = "x" * 198 + "\r\n"
            c.send(message(subject="steady"))
            while time.time() - start < 65:
                c.send(line * 2)  # 400 octets a second
                time.sleep(1)
            self.assertEqual(c.cmd(".")[0], 250)


if __name__ == "__main__":
    unittest.main()

"""The state store on Redis (issue 23): two moatd instances, A and B, share a
private redis-server (loopback, its own port) under one prefix, as two MX
hosts of a domain would. What one host learns about a client, the other
knows: bans made by moatctl, attack bans (and B's rbldnsd export),
connection rates, session counts, early talkers. With Redis gone, mail
still flows (fail open), and the shared view comes back with it.

Traffic stays on 127.0.0.0/8.
"""

import os
import re
import subprocess
import time
import unittest

from harness import BIN, Moatd, message
from peers import Redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIGNATURES = os.path.join(ROOT, "etc", "signatures.conf")


def redis_moatd(redis, prefix="site1:", limits=None, screen="", hostname="mx.example.test"):
    extra = ('store = "redis"\nredis {\n\taddress = "%s"\n\tprefix = "%s"\n'
             '\ttimeout_ms = 300\n}\nscreen {\n\tsignatures_file = "%s"\n%s}\n' % (
                 redis.address(), prefix, SIGNATURES, screen))
    return Moatd(limits=limits, extra=extra, hostname=hostname)


def ctl(m, *args):
    out = subprocess.run([os.path.join(BIN, "moatctl"), "-c", m.conf] + list(args),
                         capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout + out.stderr


def greeting(m, src):
    c = m.raw(source=src)
    try:
        return c.reply()
    finally:
        c.close()


class TwoHosts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        limits = {"conn_rate": 6, "conn_per_ip": 2, "greet_delay_ms": 300}
        cls.a = redis_moatd(cls.redis, limits=limits, hostname="mx1.example.test")
        cls.b = redis_moatd(cls.redis, limits=limits, hostname="mx2.example.test")
        cls.a.start()
        cls.b.start()

    @classmethod
    def tearDownClass(cls):
        for m in (cls.a, cls.b):
            m.stop()
            m.cleanup()
        cls.redis.stop()

    def test_a_ban_made_at_a_refuses_at_b(self):
        rc, out = ctl(self.a, "ban", "127.0.10.1", "600", "shared")
        self.assertEqual(rc, 0, out)
        code, lines = greeting(self.b, "127.0.10.1")
        self.assertEqual(code, 421, lines)
        self.assertRegex(ctl(self.b, "show", "127.0.10.1")[1], r"\nban yes .*reason=shared")
        self.assertIn("ban:127.0.10.1", self.redis.cli("--scan", "--pattern", "site1:ban:*"))

    def test_an_attack_at_a_bans_at_b_and_b_exports_it(self):
        c = self.a.raw(source="127.0.10.2")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd('RCPT TO:<"|/bin/sh -c id">')[0], 501)
        self.assertEqual(c.reply()[0], 421)
        c.close()
        deadline = time.time() + 5
        while re.search(r"\nban yes", ctl(self.b, "show", "127.0.10.2")[1]) is None:
            self.assertLess(time.time(), deadline, "B never saw A's attack ban")
            time.sleep(0.05)
        self.assertEqual(greeting(self.b, "127.0.10.2")[0], 421)
        rc, events = ctl(self.b, "events", "127.0.10.2")
        self.assertRegex(events, r"127\.0\.10\.2 rcpt pipe-address CVE-1999-0203")
        zone = os.path.join(self.b.dir, "state", "bans.zone")
        rc, out = ctl(self.b, "export", "rbldnsd", zone)
        self.assertEqual(rc, 0, out)
        with open(zone) as f:
            self.assertRegex(f.read(), r"(?m)^127\.0\.10\.2 ")

    def test_stats_show_the_backend(self):
        rc, out = ctl(self.a, "stats")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r" store=redis store_up=1 store_latency_us=\d+ store_errors=0$")

    def test_connection_rates_count_across_hosts(self):
        src = "127.0.10.3"
        codes = []
        for i in range(8):
            codes.append(greeting(self.a if i % 2 == 0 else self.b, src)[0])
        # conn_rate 6 a minute, taken at A and at B alike
        self.assertEqual(codes[:6], [220] * 6, codes)
        self.assertEqual(codes[6:], [421, 421], codes)

    def test_session_counts_are_shared(self):
        src = "127.0.10.4"
        held = [self.a.raw(source=src), self.a.raw(source=src)]
        for c in held:
            self.assertEqual(c.reply()[0], 220)
        # conn_per_ip 2: A holds both
        self.assertRegex(ctl(self.b, "show", src)[1], r"\nsessions 2\n")
        code, lines = greeting(self.b, src)
        self.assertEqual(code, 421, lines)
        for c in held:
            c.cmd("QUIT")
            c.close()
        deadline = time.time() + 5
        while re.search(r"\nsessions 0\n", ctl(self.b, "show", src)[1]) is None:
            self.assertLess(time.time(), deadline, "A's sessions still counted")
            time.sleep(0.1)
        self.assertEqual(greeting(self.b, src)[0], 220)

    def test_an_early_talker_caught_at_a_is_refused_at_b(self):
        src = "127.0.10.5"
        c = self.a.raw(source=src)
        c.send("EHLO early.test\r\n")
        self.assertEqual(c.reply()[0], 554)
        c.close()
        # A writes the mark as it answers; B sees it once Redis has it
        deadline = time.time() + 5
        while re.search(r"\nearly-talker yes", ctl(self.b, "show", src)[1]) is None:
            self.assertLess(time.time(), deadline, "B never saw A's early-talker mark")
            time.sleep(0.05)
        code, lines = greeting(self.b, src)
        self.assertEqual(code, 421, lines)
        self.assertIn("talking before our greeting", lines[0])


class GreylistAndTraps(unittest.TestCase):
    """Greylisting and spamtraps, on two hosts sharing the store."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        cls.hosts = []
        for name in ("mx1.example.test", "mx2.example.test"):
            m = redis_moatd(cls.redis, prefix="site4:", hostname=name,
                            limits={"greylist_delay": 1, "greylist_window": 60,
                                    "trap_export_hits": 1},
                            screen="\tgreylist = true\n\tgreylist_skip_clean = false\n")
            m.extra += ('bait {\n\tsecret_file = "%s/trap.secret"\n'
                        '\tspamtraps = {"old-trap@example.test"}\n}\n' % m.dir)
            m.write_conf()
            m.start()
            cls.hosts.append(m)
        cls.a, cls.b = cls.hosts

    @classmethod
    def tearDownClass(cls):
        for m in cls.hosts:
            m.stop()
            m.cleanup()
        cls.redis.stop()

    def rcpt(self, m, src, sender, rcpt):
        c = m.raw(source=src)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender)[0], 250)
            return c.cmd("RCPT TO:<%s>" % rcpt)
        finally:
            c.close()

    def test_a_greylist_retry_at_b_passes(self):
        src = "127.0.15.1"
        code, lines = self.rcpt(self.a, src, "x@remote.test", "alice@example.test")
        self.assertEqual(code, 451, lines)
        time.sleep(1.5)
        # the retry goes to the other MX, as senders' MTAs do
        code, lines = self.rcpt(self.b, src, "x@remote.test", "alice@example.test")
        self.assertEqual(code, 250, lines)
        # and the network that passed is known at A too
        code, lines = self.rcpt(self.a, src, "y@remote.test", "bob@example.test")
        self.assertEqual(code, 250, lines)

    def test_a_trap_hit_at_a_bans_at_b_and_b_exports_it(self):
        src = "127.0.15.2"
        code, lines = self.rcpt(self.a, src, "spam@remote.test", "old-trap@example.test")
        self.assertEqual(code // 100, 5, lines)
        self.a.wait_log(r"trap hit .*client=127\.0\.15\.2 .*action=ban")
        deadline = time.time() + 5
        while greeting(self.b, src)[0] != 421:
            self.assertLess(time.time(), deadline, "B never refused the trapped client")
            time.sleep(0.1)
        zone = os.path.join(self.b.dir, "state", "bans.zone")
        rc, out = ctl(self.b, "export", "rbldnsd", zone)
        self.assertEqual(rc, 0, out)
        with open(zone) as f:
            self.assertRegex(f.read(), r"(?m)^127\.0\.15\.2 :127\.0\.0\.2:trap")


class HostDies(unittest.TestCase):
    def test_a_dead_hosts_sessions_stop_counting_within_10s(self):
        redis = Redis().start()
        limits = {"conn_per_ip": 3}
        a = redis_moatd(redis, prefix="site3:", limits=limits, hostname="mx1.example.test")
        b = redis_moatd(redis, prefix="site3:", limits=limits, hostname="mx2.example.test")
        held = []
        try:
            a.start()
            b.start()
            src = "127.0.13.1"
            held = [a.raw(source=src) for _ in range(3)]
            for c in held:
                self.assertEqual(c.reply()[0], 220)
            self.assertRegex(ctl(b, "show", src)[1], r"\nsessions 3\n")
            self.assertEqual(greeting(b, src)[0], 421)
            a.kill9()
            t0 = time.time()
            while re.search(r"\nsessions 0\n", ctl(b, "show", src)[1]) is None:
                self.assertLess(time.time() - t0, 10.5, "A's counts outlived it")
                time.sleep(0.2)
            self.assertEqual(greeting(b, src)[0], 220)
        finally:
            for c in held:
                c.close()
            a.stop(check=False)  # killed: nothing left to check
            b.stop()
            for m in (a, b):
                m.cleanup()
            redis.stop()


class RedisGoes(unittest.TestCase):
    def test_mail_flows_without_redis_and_sharing_resumes(self):
        redis = Redis().start()
        a = redis_moatd(redis, prefix="site2:")
        b = redis_moatd(redis, prefix="site2:")
        try:
            a.start()
            b.start()
            rc, out = ctl(a, "ban", "127.0.11.8", "600", "before")
            self.assertEqual(rc, 0, out)
            self.assertEqual(greeting(b, "127.0.11.8")[0], 421)  # B reads the ban
            # a session under way when Redis goes: its mail is kept
            mid = a.smtp(source="127.0.11.7")
            mid.ehlo("client.test")
            mid.mail("sender@remote.test")
            redis.stop()
            self.assertEqual(mid.rcpt("alice@example.test")[0], 250)
            self.assertEqual(mid.data(message(subject="redis went mid-session"))[0], 250)
            mid.quit()
            # a ban B has read stays in force without Redis
            code, lines = greeting(b, "127.0.11.8")
            self.assertEqual(code, 421, lines)
            b.wait_log(r"reason=\"before \(remembered\)\"")
            # every other client is let through, and its mail is kept
            for i in range(3):
                s = a.smtp(source="127.0.11.%d" % (i + 1))
                s.ehlo("client.test")
                s.mail("sender@remote.test")
                s.rcpt("alice@example.test")
                self.assertEqual(s.data(message(subject="redis down %d" % i))[0], 250)
                s.quit()
            a.wait_maildir("alice", 4)
            rc, out = ctl(a, "stats")
            self.assertNotEqual(rc, 0, out)
            self.assertRegex(out, r"store failed: store=redis store_up=0 "
                             r"store_latency_us=\d+ store_errors=[1-9]")
            a.wait_log(r"store: redis 127\.0\.0\.1:%d: .*let clients through" % redis.port)
            # back: the shared view works again, within the reconnect pause
            redis.start()
            deadline = time.time() + 15
            while True:
                rc, out = ctl(a, "ban", "127.0.11.9", "600", "after")
                if rc == 0:
                    break
                self.assertLess(time.time(), deadline, out)
                time.sleep(0.5)
            while greeting(b, "127.0.11.9")[0] != 421:
                self.assertLess(time.time(), deadline, "B never saw A's ban")
                time.sleep(0.5)
        finally:
            for m in (a, b):
                m.stop()
                m.cleanup()
            redis.stop()


class Migrate(unittest.TestCase):
    def test_an_lmdb_store_moves_to_redis(self):
        redis = Redis().start()
        m = Moatd()
        try:
            m.start()
            rc, out = ctl(m, "ban", "127.0.14.1", "3600", "moved")
            self.assertEqual(rc, 0, out)
            rc, out = ctl(m, "allow", "127.0.14.2")
            self.assertEqual(rc, 0, out)
            m.stop()
            m.extra += ('store = "redis"\nredis {\n\taddress = "%s"\n\tprefix = "m:"\n}\n'
                        % redis.address())
            m.write_conf()
            rc, out = ctl(m, "store", "migrate")
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"copied [1-9]\d* entries of .*/store and \d+ of .*/traps")
            self.assertRegex(redis.cli("PTTL", "m:ban:127.0.14.1"), r"^3[0-9]{6}$")
            self.assertEqual(redis.cli("TTL", "m:allow:127.0.14.2"), "-1")
            m.start()
            code, lines = greeting(m, "127.0.14.1")
            self.assertEqual(code, 421, lines)
            self.assertRegex(ctl(m, "show", "127.0.14.1")[1], r"\nban yes .*reason=moved")
            self.assertRegex(ctl(m, "show", "127.0.14.2")[1], r"\nallow yes")
        finally:
            m.stop()
            m.cleanup()
            redis.stop()

    def test_migrate_needs_a_redis_store(self):
        m = Moatd()
        try:
            rc, out = ctl(m, "store", "migrate")
            self.assertEqual(rc, 1)
            self.assertIn('does not say store = "redis"', out)
        finally:
            m.cleanup()


class Prefixes(unittest.TestCase):
    def test_two_sites_on_one_server_do_not_meet(self):
        redis = Redis().start()
        a = redis_moatd(redis, prefix="one:")
        b = redis_moatd(redis, prefix="two:")
        try:
            a.start()
            b.start()
            rc, out = ctl(a, "ban", "127.0.12.1", "600")
            self.assertEqual(rc, 0, out)
            self.assertEqual(greeting(a, "127.0.12.1")[0], 421)
            self.assertEqual(greeting(b, "127.0.12.1")[0], 220)
            self.assertEqual(redis.cli("--scan", "--pattern", "two:ban:*"), "")
        finally:
            for m in (a, b):
                m.stop()
                m.cleanup()
            redis.stop()


if __name__ == "__main__":
    unittest.main()

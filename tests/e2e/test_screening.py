"""End-to-end: abuse screening (issue 5) against the real daemon, real DNS.

DNS is real: dnsmasq answers A/MX/PTR records of test names (and NXDOMAIN
for the rest of .test), rbldnsd serves the test DNSBL and DNSWL zones, and
moatd asks them over UDP like any resolver. Clients play different hosts by
binding different loopback source addresses (127.0.0.2, 127.0.1.2, ...).

Loopback clients always have a confirmed name ("localhost": moatd answers
special-use addresses itself), so forward-confirmed reverse DNS, host name
access rules and IPv6 /64 counting are tested in a private network
namespace (NetNamespace below) whose loopback interface also carries a few
global addresses: nothing there can reach any other network.

Every test asserts the reply class and the log line that goes with it: the
one "smtp screen" line of each connection, and an "smtp refuse" line for
each refusal. One moatd per class where the settings allow it.
"""

import ctypes
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import Moatd, RawClient, free_port, message, moatctl
from peers import Dnsmasq, Rbldnsd, dns_ask
from test_tls_auth import TlsMoatd

EXAMPLE = {"example.test": ["postmaster", "alice", "bob"]}


# ---- helpers ----

def tag(conn):
    """The "client=IP:PORT" the daemon logs for this connection."""
    return conn.tag


def connect(m, source, host="127.0.0.1", port=None, timeout=10):
    c = RawClient(host, port or m.port, source, timeout)
    addr, port = c.sock.getsockname()[:2]
    c.tag = "client=%s:%d" % (addr, port)
    return c


def bye(c):
    """QUIT, and close our end."""
    try:
        c.cmd("QUIT")
    finally:
        c.close()


class SilentDns:
    """A "DNS server" that reads every query and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                self.sock.recvfrom(65535)
                self.queries += 1
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return

    def server(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


class ScreenTest(unittest.TestCase):
    """A class with one moatd (cls.m) and its peers, stopped in reverse order."""

    m = None

    @classmethod
    def peer(cls, p):
        p.start()
        cls.addClassCleanup(p.stop)
        return p

    @classmethod
    def moatd(cls, **kw):
        kw.setdefault("domains", EXAMPLE)
        m = Moatd(**kw)
        m.start()
        cls.addClassCleanup(m.stop)
        return m

    # -- log --

    def mark(self, m=None):
        return len((m or self.m).log())

    def expect(self, pattern, since, m=None, timeout=10.0):
        """Wait for a log line matching pattern (after offset since)."""
        return (m or self.m).wait_log(pattern, timeout=timeout, since=since)[0]

    def lines(self, pattern, since, m=None):
        rx = re.compile(pattern)
        return [l for l in (m or self.m).log()[since:].splitlines() if rx.search(l)]

    def expect_screen(self, conn, verdict, rule, since, m=None, extra=""):
        """The connection's one screen line: verdict, rule and more."""
        t = re.escape(tag(conn))
        line = self.expect(r"smtp screen sid=\S+ %s verdict=%s rule=%s(?= |$)%s" % (
            t, verdict, re.escape(rule), extra), since, m)
        self.assertEqual(len(self.lines(r"smtp screen sid=\S+ %s " % t, since, m)), 1,
                         "a connection's verdict is logged once")
        return line

    def expect_refuse(self, conn, stage, rule, reply, since, m=None, extra=""):
        t = re.escape(tag(conn))
        pattern = r'smtp refuse sid=\S+ %s stage=%s rule=%s reply="%s"%s' % (
            t, stage, re.escape(rule), reply, extra)
        line = self.expect(pattern, since, m)
        self.assertEqual(len(self.lines(pattern, since, m)), 1, "a refusal is logged once")
        return line

    def wait_released(self, ip, m=None, timeout=5.0):
        """Until the store holds no session of ip: a disconnect is logged
        first, and its count handed back a moment later."""
        deadline = time.time() + timeout
        while True:
            r = moatctl(m or self.m, "show", ip)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            info = dict(l.split(" ", 1) for l in r.stdout.splitlines())
            if info["sessions"].split()[0] == "0":
                return
            if time.time() > deadline:
                self.fail("%s still holds sessions: %r" % (ip, info))
            time.sleep(0.05)

    def no_refusal(self, conn, since, m=None):
        self.assertEqual(self.lines(r"smtp refuse sid=\S+ %s " % re.escape(tag(conn)),
                                    since, m), [])

    # -- conversations --

    def greeted(self, source, m=None, host="127.0.0.1", port=None):
        """Connect from source and read a 220 greeting."""
        c = connect(m or self.m, source, host, port)
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        return c

    def refused_at_connect(self, source, code, enh, m=None, host="127.0.0.1", port=None):
        c = connect(m or self.m, source, host, port)
        got, lines = c.reply()
        self.assertEqual(got, code, lines)
        self.assertTrue(lines[-1].startswith("%d %s " % (code, enh)), lines)
        self.assertTrue(c.closed(), "the refused client is disconnected")
        c.close()
        return c, lines

    def assert_closed(self, c):
        """The server hung up on c."""
        try:
            self.assertTrue(c.closed(), "the server closes the connection")
        finally:
            c.close()

    def ehlo(self, c, name="client.test"):
        code, lines = c.cmd("EHLO " + name)
        self.assertEqual(code, 250, lines)

    def envelope(self, c, sender, rcpt):
        code, lines = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertEqual(code, 250, lines)
        return c.cmd("RCPT TO:<%s>" % rcpt)

    def deliver(self, c, subject="screened"):
        code, lines = c.cmd("DATA")
        self.assertEqual(code, 354, lines)
        c.send(message(subject=subject).replace("\r\n.", "\r\n..") + "\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        return lines


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", 0o644)
    os.rename(path + ".tmp", path)


# ---- access lists (RFC 2505 §2.5, §2.7) ----

CLIENT_LIST = """\
# client access list: first match wins
127.0.0.3          allow
127.0.0.0/29       deny      Go away, spammer
127.0.0.16/28      tempfail
127.0.1.0/24       allow
2001:db8::/32      deny
LocalHost          deny      Named host refused
"""

HELO_LIST = """\
Bad.Helo.Test      deny      Bad HELO
*.DYN.helo.test    tempfail
[127.0.1.99]       deny
"""

SENDER_LIST = """\
boss@evil.test     allow
evil.test          deny      Evil sender
*.bulk.test        tempfail
"""


class AccessLists(ScreenTest):
    @classmethod
    def setUpClass(cls):
        m = Moatd(domains=EXAMPLE, limits={"tarpit_step_ms": 50})
        for name, text in (("client", CLIENT_LIST), ("helo", HELO_LIST),
                           ("sender", SENDER_LIST)):
            write(os.path.join(m.dir, name + ".access"), text)
        m.extra = ('screen {\n\tclient_access = "%s/client.access"\n'
                   '\thelo_access = "%s/helo.access"\n'
                   '\tsender_access = "%s/sender.access"\n}\n') % (m.dir, m.dir, m.dir)
        m.write_conf()
        m.start()
        cls.addClassCleanup(m.stop)
        cls.m = m
        cls.client_file = os.path.join(m.dir, "client.access")

    def test_client_address_deny_is_5xx_with_rule_text(self):
        mark = self.mark()
        c, lines = self.refused_at_connect("127.0.0.2", 554, "5.7.1")
        self.assertIn("Go away, spammer", lines[-1])
        self.expect_screen(c, "reject", "client-access", mark,
                           extra=r".*match=%s:3" % re.escape(self.client_file))
        self.expect_refuse(c, "connect", "client-access", "554 5.7.1", mark)

    def test_first_match_wins(self):
        # 127.0.0.3 is inside the denied /29, but its allow comes first
        mark = self.mark()
        c = self.greeted("127.0.0.3")
        self.ehlo(c)
        self.expect_screen(c, "pass", "client-access", mark, extra=r".*match=\S+:2")
        self.no_refusal(c, mark)
        bye(c)

    def test_client_cidr_tempfail_is_4xx(self):
        mark = self.mark()
        c, _ = self.refused_at_connect("127.0.0.20", 421, "4.7.1")
        self.expect_screen(c, "tempfail", "client-access", mark, extra=r".*match=\S+:4")
        self.expect_refuse(c, "connect", "client-access", "421 4.7.1", mark)

    def test_client_name_exact_case_insensitive(self):
        # no address rule matches 127.0.0.9; its confirmed name does
        mark = self.mark()
        c, lines = self.refused_at_connect("127.0.0.9", 554, "5.7.1")
        self.assertIn("Named host refused", lines[-1])
        self.expect_screen(c, "reject", "client-access", mark,
                           extra=r" score=0 name=localhost .*match=\S+:7")
        self.expect_refuse(c, "connect", "client-access", "554 5.7.1", mark)

    def test_helo_list(self):
        mark = self.mark()
        c = self.greeted("127.0.1.2")
        code, lines = c.cmd("EHLO bad.HELO.test")
        self.assertEqual((code, lines[-1][:9]), (550, "550 5.7.1"), lines)
        self.assertIn("Bad HELO", lines[-1])
        self.expect_refuse(c, "helo", "helo-access", "550 5.7.1", mark,
                           extra=r" match=\S+helo.access:1")
        # wildcard: subdomains only, case-insensitive; 4xx for tempfail
        code, lines = c.cmd("EHLO host7.dyn.HELO.test")
        self.assertEqual((code, lines[-1][:9]), (450, "450 4.7.1"), lines)
        self.expect_refuse(c, "helo", "helo-access", "450 4.7.1", mark,
                           extra=r" match=\S+helo.access:2")
        code, lines = c.cmd("EHLO dyn.helo.test")
        self.assertEqual(code, 250, lines)
        code, lines = c.cmd("HELO [127.0.1.99]")
        self.assertEqual(code, 550, lines)
        code, lines = c.cmd("EHLO [127.0.1.2]")
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(self.lines(r"smtp refuse .*%s .*stage=helo" % re.escape(tag(c)),
                                        mark)), 3)
        bye(c)

    def test_sender_list(self):
        mark = self.mark()
        c = self.greeted("127.0.1.3")
        self.ehlo(c)
        code, lines = c.cmd("MAIL FROM:<spammer@EVIL.test>")
        self.assertEqual((code, lines[-1][:9]), (553, "553 5.7.1"), lines)
        self.assertIn("Evil sender", lines[-1])
        self.expect_refuse(c, "mail", "sender-access", "553 5.7.1", mark,
                           extra=r" addr=<spammer@EVIL.test> match=\S+sender.access:2")
        code, lines = c.cmd("MAIL FROM:<x@mail.bulk.test>")
        self.assertEqual((code, lines[-1][:9]), (450, "450 4.7.1"), lines)
        self.expect_refuse(c, "mail", "sender-access", "450 4.7.1", mark,
                           extra=r" addr=<x@mail.bulk.test>")
        # first match: the boss is allowed although evil.test is denied
        code, lines = self.envelope(c, "boss@evil.test", "alice@example.test")
        self.assertEqual(code, 250, lines)
        self.deliver(c)
        bye(c)


class AccessListReload(ScreenTest):
    """SIGHUP reloads the lists without dropping sessions; a bad file keeps
    the old list and says why."""

    @classmethod
    def setUpClass(cls):
        m = Moatd(domains=EXAMPLE)
        cls.client_file = os.path.join(m.dir, "client.access")
        write(cls.client_file, "127.0.0.0/24 allow\n")
        m.extra = 'screen {\n\tclient_access = "%s"\n}\n' % cls.client_file
        m.write_conf()
        m.start()
        cls.addClassCleanup(m.stop)
        cls.m = m

    def reload(self, mark):
        self.m.hup()
        return self.expect(r"master: (configuration reloaded|.* keeping the running)",
                           mark, timeout=15)

    def test_reload(self):
        m = self.m
        mark = self.mark()
        old = self.greeted("127.0.0.2")
        self.ehlo(old)
        code, _ = self.envelope(old, "sender@remote.test", "alice@example.test")
        self.assertEqual(code, 250)

        write(self.client_file, "127.0.0.66 deny Reloaded rule\n127.0.0.0/24 allow\n")
        self.assertIn("configuration reloaded", self.reload(mark))
        self.expect(r"smtp worker 0 ready", mark)
        # the new list refuses; the session from before the reload goes on
        c, lines = self.refused_at_connect("127.0.0.66", 554, "5.7.1")
        self.assertIn("Reloaded rule", lines[-1])
        self.expect_screen(c, "reject", "client-access", mark)
        self.deliver(old)
        self.expect(r"smtp queued sid=\S+ id=\S+ client=127\.0\.0\.2 ", mark)
        bye(old)

        # a broken file: the old list stays, and the log says where and why
        mark = self.mark()
        write(self.client_file, "127.0.0.66 allow\n127.0.0.67 frobnicate\n")
        self.assertIn("keeping the running", self.reload(mark))
        self.expect(r"client\.access:2: unknown action \"frobnicate\"", mark)
        c, _ = self.refused_at_connect("127.0.0.66", 554, "5.7.1")
        self.expect_screen(c, "reject", "client-access", mark)
        bye(self.greeted("127.0.0.67"))


# ---- DNS block- and allowlists, scored ----

KEYED_ZONE = "k3y0123456789abcdef.keyed.test"


class Dnsbl(ScreenTest):
    """dnsbl = zone=filter*weight, a threshold, allowlists below zero;
    the answers come from rbldnsd through dnsmasq."""

    @classmethod
    def setUpClass(cls):
        cls.rbl = cls.peer(Rbldnsd(zones={
            "bl.test": {"127.0.0.5": "127.0.0.2", "127.0.0.6": "127.0.0.99",
                        "127.0.0.7": "127.0.0.3", "127.0.0.9": "127.0.0.4",
                        "127.0.0.14": "127.0.0.2"},
            "weak.test": {"127.0.0.7": "127.0.0.2", "127.0.0.11": "127.0.0.2"},
            KEYED_ZONE: {"127.0.0.12": "127.0.0.2"},
            "wl.test": {"127.0.0.9": "127.0.0.2", "127.0.0.13": "127.0.0.2"},
        }))
        fwd = ["--server=/%s/127.0.0.1#%d" % (z, cls.rbl.port) for z in cls.rbl.zones]
        cls.dns = cls.peer(Dnsmasq(extra=["--local=/test/"] + fwd))
        zones = ('\tdnsbl = {"bl.test=127.0.0.[2..4]*3", "weak.test*1", "%s*3", '
                 '"wl.test*-3"}\n' % KEYED_ZONE)
        limits = {"dnsbl_threshold": 3, "stutter_score": 1, "stutter_ms": 10}
        cls.m = cls.moatd(dns_servers=[cls.dns.server()], limits=limits,
                          extra="screen {\n" + zones + "}\n")
        # the same lists with dnsbl_action = tempfail (RFC 2505 §2.13)
        cls.m4 = cls.moatd(dns_servers=[cls.dns.server()], limits=limits,
                           extra='screen {\n' + zones + '\tdnsbl_action = "tempfail"\n}\n')
        # and with a greeting delay: a client that talks at once is an
        # early talker for certain, not only when its bytes beat the checks
        cls.me = cls.moatd(dns_servers=[cls.dns.server()],
                           limits=dict(limits, greet_delay_ms=300),
                           extra="screen {\n" + zones + "}\n")

    def assert_no_zone_names(self, lines):
        text = "\n".join(lines).lower()
        for z in ("bl.test", "weak.test", "keyed.test", "k3y0123456789abcdef", "wl.test"):
            self.assertNotIn(z, text)

    def test_listed_client_is_refused_5xx(self):
        mark = self.mark()
        c, lines = self.refused_at_connect("127.0.0.5", 554, "5.7.1")
        self.assert_no_zone_names(lines)
        self.expect_screen(c, "reject", "dnsbl", mark,
                           extra=r" score=3 .*dnsbl-score=3 listed=bl\.test .*threshold=3")
        self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark)

    def test_nothing_is_logged_for_a_session_after_its_disconnect(self):
        """Early talkers by the hundred, each while its checks still wait for
        the store or the DNSBL, or just after they answered: every one is
        refused (554) and hung up on, and every session ends with its
        disconnect line (a check still running is cancelled, its verdict
        never logged)."""
        # a greeting delay (self.me): without one, checks that answer at
        # once (a passed client, cached DNS) may greet before the EHLO
        # arrives, and the session is then an ordinary one
        m = self.me
        mark = self.mark(m)
        total, heard = 0, []
        for wave in range(8):
            socks = []
            for i in range(50):
                c = socket.socket()
                c.bind(("127.0.31.%d" % (1 + (wave * 50 + i) % 100), 0))
                c.connect(("127.0.0.1", m.port))
                c.sendall(b"EHLO rude.test\r\n")
                socks.append(c)
            for c in socks:
                c.settimeout(10)
                got = b""
                try:
                    while True:
                        data = c.recv(4096)
                        if not data:
                            break  # the server hung up
                        got += data
                except ConnectionResetError:
                    pass  # it hung up with our junk unread
                c.close()
                heard.append(got[:3])
            total += len(socks)
        time.sleep(0.5)  # what was still running has finished by now
        closed, late = set(), []
        for line in self.lines(r"client=127\.0\.31\.", mark, m=m):
            kind, sid = re.search(r"smtp (\w+) sid=(\S+)", line).groups()
            if kind == "disconnect":
                closed.add(sid)
            elif sid in closed:
                late.append(line)
        self.assertEqual(len(closed), total)
        self.assertEqual(late, [])
        # never greeted; a reset may swallow the 554 itself
        # 554 for talking early; 421 for a remembered mark (the address
        # talked early before)
        self.assertEqual(set(heard) - {b"554", b"421", b""}, set())

    def test_dnsbl_action_tempfail_is_4xx(self):
        m4 = self.m4
        mark = self.mark(m4)
        c, lines = self.refused_at_connect("127.0.0.14", 421, "4.7.1", m=m4)
        self.assert_no_zone_names(lines)
        self.expect_screen(c, "tempfail", "dnsbl", mark, m=m4, extra=r" score=3 ")
        self.expect_refuse(c, "connect", "dnsbl", "421 4.7.1", mark, m=m4)

    def test_reply_filter(self):
        # listed, but with 127.0.0.99: outside the filter, so it does not count
        self.assertEqual(self.rbl.ask("127.0.0.6", "bl.test"), ("NOERROR", ["127.0.0.99"]))
        mark = self.mark()
        c = self.greeted("127.0.0.6")
        self.ehlo(c)
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=0 name=localhost$")
        bye(c)

    def test_weights_add_up(self):
        mark = self.mark()
        c, _ = self.refused_at_connect("127.0.0.7", 554, "5.7.1")
        self.expect_screen(c, "reject", "dnsbl", mark,
                           extra=r" score=4 .*dnsbl-score=4 listed=(bl\.test,weak\.test|weak\.test,bl\.test)")

    def test_below_threshold_passes_with_score(self):
        mark = self.mark()
        c = self.greeted("127.0.0.11")
        self.expect_screen(c, "pass", "all-stages", mark,
                           extra=r" score=1 .*dnsbl-score=1 listed=weak\.test")
        bye(c)

    def test_allowlist_weight_below_zero(self):
        # bl.test says +3, wl.test says -3: the client passes
        mark = self.mark()
        c = self.greeted("127.0.0.9")
        self.ehlo(c)
        self.expect_screen(c, "pass", "all-stages", mark,
                           extra=r" score=0 .*dnsbl-score=0 listed=(bl\.test,wl\.test|wl\.test,bl\.test)")
        bye(c)
        mark = self.mark()
        c = self.greeted("127.0.0.13")
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=-3 .*listed=wl\.test")
        bye(c)

    def test_keyed_zone_never_in_reply(self):
        mark = self.mark()
        c, lines = self.refused_at_connect("127.0.0.12", 554, "5.7.1")
        self.assert_no_zone_names(lines)
        self.expect_screen(c, "reject", "dnsbl", mark, extra=r" score=3 ")
        self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark)

    def test_stutter_for_bad_score_holds_no_worker(self):
        """A client with a bad score hears its replies a byte at a time (spamd's
        stutter); meanwhile another client is served at full speed."""
        mark = self.mark()
        t0 = time.time()
        slow = connect(self.m, "127.0.0.11")
        first = slow.sock.recv(100)
        self.assertEqual(len(first), 1, "stutter sends one byte at a time")
        # while the greeting trickles, another client is served at once
        t1 = time.time()
        fast = self.greeted("127.0.0.6")
        self.ehlo(fast)
        self.assertLess(time.time() - t1, 0.4)
        bye(fast)
        slow.buf = first
        code, lines = slow.reply()
        elapsed = time.time() - t0
        self.assertEqual(code, 220)
        nbytes = len("\r\n".join(lines)) + 2
        self.assertGreaterEqual(elapsed, (nbytes - 1) * 0.010 * 0.9)
        self.expect_screen(slow, "pass", "all-stages", mark, extra=r" score=1 ")
        slow.close()


# ---- the sender's domain (RFC 2505 §2.9), and the DNS cache ----

class SenderDomain(ScreenTest):
    @classmethod
    def setUpClass(cls):
        cls.dns = cls.peer(Dnsmasq(
            hosts={"a-only.test": "127.0.0.1", "aaaa-only.test": "2001:db8::25"},
            mx={"mx-ok.test": ("mx.mx-ok.test", 10), "cached.test": ("mx.cached.test", 10)},
            extra=["--local=/test/", "--txt-record=txt-only.test,hello", "--local-ttl=2",
                   "--mx-host=nullmx.test,.,0"]))
        cls.m = cls.moatd(dns_servers=[cls.dns.server()],
                          extra='screen {\n\tsender_domain = "tempfail"\n}\n')
        cls.m5 = cls.moatd(dns_servers=[cls.dns.server()],
                           extra='screen {\n\tsender_domain = "reject"\n}\n')

    def mail(self, c, sender):
        return c.cmd("MAIL FROM:<%s>" % sender)

    def test_nxdomain_is_4xx_by_default(self):
        mark = self.mark()
        c = self.greeted("127.0.0.2")
        self.ehlo(c)
        code, lines = self.mail(c, "someone@nx.test")
        self.assertEqual((code, lines[-1][:9]), (450, "450 4.1.8"), lines)
        self.expect_refuse(c, "mail", "sender-domain", "450 4.1.8", mark,
                           extra=r' addr=<someone@nx\.test> domain=nx\.test why=NXDOMAIN')
        code, lines = self.mail(c, "someone@txt-only.test")
        self.assertEqual(code, 450, lines)
        self.expect_refuse(c, "mail", "sender-domain", "450 4.1.8", mark,
                           extra=r' addr=<someone@txt-only\.test> .*why="no MX, A or AAAA record"')
        # RFC 7505: a null MX says the domain takes no mail
        code, lines = self.mail(c, "someone@nullmx.test")
        self.assertEqual(code, 450, lines)
        self.expect_refuse(c, "mail", "sender-domain", "450 4.1.8", mark,
                           extra=r' addr=<someone@nullmx\.test> .*why="null MX"')
        bye(c)

    def test_nxdomain_is_5xx_when_configured(self):
        m5 = self.m5
        mark = self.mark(m5)
        c = self.greeted("127.0.0.3", m=m5)
        self.ehlo(c)
        code, lines = self.mail(c, "someone@nx.test")
        self.assertEqual((code, lines[-1][:9]), (550, "550 5.1.8"), lines)
        self.expect_refuse(c, "mail", "sender-domain", "550 5.1.8", mark, m=m5,
                           extra=r" addr=<someone@nx\.test>")
        bye(c)

    def test_mx_or_address_is_enough(self):
        mark = self.mark(self.m5)
        c = self.greeted("127.0.0.4", m=self.m5)
        self.ehlo(c)
        for sender in ("a@mx-ok.test", "a@a-only.test", "a@aaaa-only.test", "",
                       "a@example.test"):
            code, lines = self.mail(c, sender)
            self.assertEqual(code, 250, (sender, lines))
            c.cmd("RSET")
        self.no_refusal(c, mark, m=self.m5)
        bye(c)

    def test_answers_are_cached_by_ttl(self):
        def mx_queries():
            return len([l for l in self.dns.log().splitlines()
                        if "query[MX] cached.test " in l])
        c = self.greeted("127.0.0.5")
        self.ehlo(c)
        for _ in range(3):
            self.assertEqual(self.mail(c, "a@cached.test")[0], 250)
            c.cmd("RSET")
        self.assertEqual(mx_queries(), 1, "answers within their TTL come from the cache")
        time.sleep(2.5)  # --local-ttl=2: the answer has expired
        self.assertEqual(self.mail(c, "a@cached.test")[0], 250)
        self.assertEqual(mx_queries(), 2, "an expired answer is asked again")
        bye(c)


class DnsNotAnswering(ScreenTest):
    """Our own DNS trouble is 4xx, never 5xx: a list that does not answer
    counts as not listing; a sender domain that cannot be checked is 451."""

    @classmethod
    def setUpClass(cls):
        cls.silent = SilentDns()
        cls.addClassCleanup(cls.silent.stop)
        cls.m = cls.moatd(
            dns_servers=[cls.silent.server()],
            limits={"dns_timeout_ms": 300, "dns_attempts": 1, "dnsbl_threshold": 1,
                    "conn_per_ip": 1},
            extra='screen {\n\tdnsbl = {"bl.test*5"}\n\tsender_domain = "reject"\n'
                  '\tfcrdns = "reject"\n}\n')

    def test_lookups_do_not_block_other_clients(self):
        """DNS is asynchronous: four clients whose lookups all time out
        (300 ms each) are greeted together, not one after another."""
        t0 = time.time()
        clients = [connect(self.m, "127.0.0.%d" % i) for i in range(20, 24)]
        for c in clients:
            self.assertEqual(c.reply()[0], 220)
        took = time.time() - t0
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 0.9, "lookups ran one after another")
        for c in clients:
            bye(c)

    def test_dnsbl_unanswered_is_not_listed(self):
        mark = self.mark()
        before = self.silent.queries
        c = self.greeted("127.0.0.5")
        self.assertGreater(self.silent.queries, before, "the DNSBL was asked")
        self.expect_screen(c, "pass", "all-stages", mark,
                           extra=r" score=0 .*unanswered=bl\.test")
        self.no_refusal(c, mark)
        bye(c)

    def test_client_gone_while_waiting_releases_its_count(self):
        """A client that hangs up while its DNSBL query waits must not keep
        its session count (conn_per_ip = 1 here)."""
        mark = self.mark()
        c = connect(self.m, "127.0.0.7")
        time.sleep(0.05)  # counted by now; the DNSBL query takes 300 ms
        c.close()
        self.expect(r"smtp disconnect sid=\S+ %s reason=\"lost connection\" state=CONNECT"
                    % re.escape(tag(c)), mark)
        time.sleep(0.5)  # the DNS timeout has passed: the check is over
        self.wait_released("127.0.0.7")
        mark = self.mark()
        c = self.greeted("127.0.0.7")
        self.no_refusal(c, mark)
        bye(c)

    def test_stop_while_a_dnsbl_query_waits(self):
        """moatd stopped while a DNSBL query of a session waits: the check,
        cancelled with its session, still ends cleanly when the resolver
        goes (under ASan a use of the freed policy was reported here)."""
        m = Moatd(domains=EXAMPLE, dns_servers=[self.silent.server()],
                  limits={"dns_timeout_ms": 20000, "dns_attempts": 1},
                  extra='screen {\n\tdnsbl = {"bl.test*5"}\n}\n').start()
        try:
            before = self.silent.queries
            c = connect(m, "127.0.0.8")
            deadline = time.time() + 5
            while self.silent.queries == before and time.time() < deadline:
                time.sleep(0.02)
            self.assertGreater(self.silent.queries, before, "the DNSBL was asked")
        finally:
            m.stop()  # checks the log for sanitizer reports
        self.assertIn("smtp disconnect", m.log())
        c.close()

    def test_sender_domain_unanswered_is_451(self):
        mark = self.mark()
        c = self.greeted("127.0.0.6")
        self.ehlo(c)
        code, lines = c.cmd("MAIL FROM:<someone@unreachable.test>")
        self.assertEqual((code, lines[-1][:9]), (451, "451 4.4.3"), lines)
        self.expect_refuse(c, "mail", "sender-domain", "451 4.4.3", mark,
                           extra=r" addr=<someone@unreachable\.test> domain=unreachable\.test")
        self.assertEqual(self.lines(r'reply="5', mark), [], "never a 5xx")
        bye(c)


# ---- limits (RFC 2505 §2.8) ----

class paused:
    """Stop a process (SIGSTOP) for a while: with one of two workers stopped,
    the other one accepts every new connection."""

    def __init__(self, pid):
        self.pid = int(pid)

    def state(self):
        with open("/proc/%d/stat" % self.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.time() + 5
        while self.state() not in ("T", "t"):
            if time.time() > deadline:
                raise AssertionError("worker %d did not stop" % self.pid)
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGCONT)
        return False


class TwoWorkers(ScreenTest):
    """Helpers for a moatd with two SMTP workers."""

    def workers(self):
        # start() waits for worker 0 only: on a busy machine worker 1 may
        # still be on its way
        self.m.wait_log(r"smtp worker 1 ready")
        pids = sorted({re.search(r"moatd/smtp\[(\d+)\]", l).group(1)
                       for l in self.m.log_lines(r"smtp worker \d ready")})
        self.assertEqual(len(pids), 2, pids)
        return pids

    def pid_of(self, conn, since):
        line = self.expect(r"smtp connect sid=\S+ %s " % re.escape(tag(conn)), since)
        return re.search(r"moatd/smtp\[(\d+)\]", line).group(1)

    def other(self, pid):
        return [p for p in self.workers() if p != pid][0]

    def wait_gone(self, conn, since):
        self.expect(r"smtp disconnect sid=\S+ %s " % re.escape(tag(conn)), since)


class Limits(TwoWorkers):
    """Counts live in the store, so both worker processes agree on them."""

    @classmethod
    def setUpClass(cls):
        cls.m = cls.moatd(workers=2, limits={
            "conn_per_ip": 1, "conn_rate": 12, "msg_rate": 2, "rcpt_rate": 3})

    def test_conn_per_ip_across_workers(self):
        mark = self.mark()
        first = self.greeted("127.0.0.2")
        a = self.pid_of(first, mark)
        b = self.other(a)
        # worker a holds the session; worker b takes the next connection
        with paused(a):
            c, _ = self.refused_at_connect("127.0.0.2", 421, "4.7.0")
            self.assertEqual(self.pid_of(c, mark), b)
            self.expect_screen(c, "tempfail", "conn-per-ip", mark,
                               extra=r".* sessions-from-client=2")
            self.expect_refuse(c, "connect", "conn-per-ip", "421 4.7.0", mark)
            self.wait_gone(c, mark)
        bye(first)
        self.wait_gone(first, mark)
        self.wait_released("127.0.0.2")
        # worker a gave the count back; worker b sees it
        with paused(a):
            c = self.greeted("127.0.0.2")
            self.assertEqual(self.pid_of(c, mark), b)
        bye(c)

    def sessions(self, ip, n, mark):
        """n whole sessions from ip, one after another."""
        for _ in range(n):
            c = self.greeted(ip)
            bye(c)
            self.wait_gone(c, mark)
            # and its count given back (at once with LMDB, a moment
            # later with a store on the network)
            self.wait_released(ip)

    def test_conn_rate(self):
        mark = self.mark()
        self.sessions("127.0.0.3", 12, mark)
        c, _ = self.refused_at_connect("127.0.0.3", 421, "4.7.0")
        self.expect_screen(c, "tempfail", "conn-rate", mark, extra=r".* retry-after-ms=\d+")
        self.expect_refuse(c, "connect", "conn-rate", "421 4.7.0", mark)

    def test_conn_rate_counts_refused_attempts(self):
        """Every connection attempt takes a token (as Postfix's anvil counts
        them), one refused for conn_per_ip too: 1 held + 1 refused + 10 more
        use up the 12, the next is refused for the rate."""
        mark = self.mark()
        first = self.greeted("127.0.0.6")
        c, _ = self.refused_at_connect("127.0.0.6", 421, "4.7.0")
        self.expect_refuse(c, "connect", "conn-per-ip", "421 4.7.0", mark)
        bye(first)
        self.wait_gone(first, mark)
        self.wait_released("127.0.0.6")
        self.sessions("127.0.0.6", 10, mark)
        c, _ = self.refused_at_connect("127.0.0.6", 421, "4.7.0")
        self.expect_screen(c, "tempfail", "conn-rate", mark, extra=r".* retry-after-ms=\d+")

    def test_msg_rate(self):
        mark = self.mark()
        c = self.greeted("127.0.0.4")
        self.ehlo(c)
        for _ in range(2):
            self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
            c.cmd("RSET")
        code, lines = c.cmd("MAIL FROM:<a@remote.test>")
        self.assertEqual((code, lines[-1][:9]), (451, "451 4.7.1"), lines)
        self.expect_refuse(c, "mail", "msg-rate", "451 4.7.1", mark,
                           extra=r" addr=<a@remote\.test> retry-after-ms=\d+")
        bye(c)

    def test_rcpt_rate(self):
        mark = self.mark()
        c = self.greeted("127.0.0.5")
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        for _ in range(3):
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<bob@example.test>")
        self.assertEqual((code, lines[-1][:9]), (452, "452 4.5.3"), lines)
        self.expect_refuse(c, "rcpt", "rcpt-rate", "452 4.5.3", mark,
                           extra=r" addr=<bob@example\.test>")
        bye(c)


class SessionsMax(TwoWorkers):
    """sessions_max = 3 over two workers: each holds 2 itself (its share);
    a full worker takes back an idle slot, never one in a transaction."""

    @classmethod
    def setUpClass(cls):
        cls.m = cls.moatd(workers=2, limits={"conn_per_ip": 1, "sessions_max": 3})

    def busy(self, source):
        """A session inside a mail transaction: no full house takes it."""
        c = self.greeted(source)
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        return c

    def test_sessions_max_counts_every_session_once(self):
        """A client refused for its per-client count takes no slot."""
        mark = self.mark()
        a, b = self.workers()
        with paused(b):
            x = self.busy("127.0.0.10")
            c, _ = self.refused_at_connect("127.0.0.10", 421, "4.7.0")
            self.expect_refuse(c, "connect", "conn-per-ip", "421 4.7.0", mark)
            self.wait_gone(c, mark)
            y = self.busy("127.0.0.11")
            # worker a's share is full of transactions: the newcomer goes
            c, _ = self.refused_at_connect("127.0.0.12", 421, "4.7.0")
            self.expect(r"moatd/smtp\[%s\]: smtp refuse sid=- %s stage=connect "
                        r"rule=sessions-max reply=\"421 4\.7\.0\"" % (a, re.escape(tag(c))),
                        mark)
        for c in (x, y):
            bye(c)
            self.wait_gone(c, mark)
        # all given back: a new session is welcome
        bye(self.greeted("127.0.0.13"))

    def test_a_full_worker_takes_back_an_idle_slot(self):
        mark = self.mark()
        a, b = self.workers()
        with paused(b):
            x = self.busy("127.0.0.20")
            idle = self.greeted("127.0.0.21")
            self.ehlo(idle)
            z = self.greeted("127.0.0.22")
            code, lines = idle.reply()
            self.assertEqual((code, lines[-1][:9]), (421, "421 4.7.0"), lines)
            self.assert_closed(idle)
            self.expect_refuse(idle, "connect", "preempted", "421 4.7.0", mark)
            # its client comes back to a full house: refused at accept, it
            # does not take z's slot in turn
            again, _ = self.refused_at_connect("127.0.0.21", 421, "4.7.0")
            self.expect(r"smtp refuse sid=- %s stage=connect rule=sessions-max "
                        % re.escape(tag(again)), mark)
            # a client never preempted still gets a slot (z's, now idle)
            w = self.greeted("127.0.0.23")
            code, lines = z.reply()
            self.assertEqual((code, lines[-1][:9]), (421, "421 4.7.0"), lines)
            self.assert_closed(z)
        for c in (x, w):
            bye(c)
            self.wait_gone(c, mark)


# ---- early talkers and the delayed greeting ----

class EarlyTalker(ScreenTest):
    DELAY = 0.8

    @classmethod
    def setUpClass(cls):
        cls.m = cls.moatd(
            trusted=["127.0.2.0/24"],
            limits={"greet_delay_ms": int(cls.DELAY * 1000), "early_talker_ttl": 60},
            extra='screen {\n\tgreet_teaser = "Hold on, please"\n}\n')

    def test_talking_before_the_greeting(self):
        mark = self.mark()
        c = connect(self.m, "127.0.0.2")
        c.send("EHLO rude.test\r\n")
        code, lines = c.reply()
        self.assertEqual((code, lines[-1][:9]), (554, "554 5.5.1"), lines)
        self.assert_closed(c)
        self.expect_refuse(c, "connect", "early-talker", "554 5.5.1", mark,
                           extra=r' when="before the greeting"')
        # remembered: the next connection is refused before any greeting,
        # with a 4xx: only the session that talked early hears a 5xx (a
        # mark may be one broken device behind a NAT others share)
        mark = self.mark()
        c, lines = self.refused_at_connect("127.0.0.2", 421, "4.7.1")
        self.assertFalse(lines[0].startswith("220"), lines)
        self.expect_screen(c, "tempfail", "early-talker", mark,
                           extra=r".* remembered-until=\d+")
        self.expect_refuse(c, "connect", "early-talker", "421 4.7.1", mark)

    def test_answering_the_teaser(self):
        mark = self.mark()
        c = connect(self.m, "127.0.0.3")
        self.assertEqual(c.line(), "220-mx.example.test Hold on, please")
        c.send("EHLO eager.test\r\n")
        code, lines = c.reply()
        self.assertEqual((code, lines[-1][:9]), (554, "554 5.5.1"), lines)
        self.assert_closed(c)
        self.expect_screen(c, "pass", "all-stages", mark)
        self.expect_refuse(c, "connect", "early-talker", "554 5.5.1", mark)

    def test_patient_client(self):
        mark = self.mark()
        t0 = time.time()
        c = connect(self.m, "127.0.0.4")
        code, lines = c.reply()
        self.assertEqual(code, 220)
        self.assertEqual(lines, ["220-mx.example.test Hold on, please",
                                 "220 mx.example.test ESMTP moat"])
        self.assertGreaterEqual(time.time() - t0, self.DELAY * 0.9)
        self.ehlo(c)
        code, _ = self.envelope(c, "a@remote.test", "alice@example.test")
        self.assertEqual(code, 250)
        self.expect_screen(c, "pass", "all-stages", mark)
        self.no_refusal(c, mark)
        bye(c)

    def test_pipelining_before_the_ehlo_reply(self):
        mark = self.mark()
        c = self.greeted("127.0.0.5")
        c.send("EHLO hasty.test\r\nMAIL FROM:<a@remote.test>\r\n")
        code, lines = c.reply()
        self.assertEqual((code, lines[-1][:9]), (554, "554 5.5.1"), lines)
        self.assert_closed(c)
        self.expect_refuse(c, "connect", "early-talker", "554 5.5.1", mark,
                           extra=r' when="before our EHLO reply"')
        c, _ = self.refused_at_connect("127.0.0.5", 421, "4.7.1")
        self.expect_screen(c, "tempfail", "early-talker", mark)

    def test_the_pause_is_paid_once(self):
        """A client that waited for the greeting is greeted at once next
        time (greet_pass_ttl), as postscreen's cache does."""
        t0 = time.time()
        c = connect(self.m, "127.0.0.6")
        code, lines = c.reply()
        self.assertEqual(code, 220)
        self.assertGreaterEqual(time.time() - t0, self.DELAY * 0.9)
        bye(c)
        for _ in range(3):
            t0 = time.time()
            c = connect(self.m, "127.0.0.6")
            code, lines = c.reply()
            self.assertEqual((code, lines), (220, ["220 mx.example.test ESMTP moat"]))
            self.assertLess(time.time() - t0, self.DELAY / 2)
            bye(c)

    def test_trusted_network_is_greeted_at_once(self):
        mark = self.mark()
        t0 = time.time()
        c = connect(self.m, "127.0.2.2")
        code, lines = c.reply()
        self.assertEqual((code, len(lines)), (220, 1), lines)
        self.assertLess(time.time() - t0, self.DELAY / 2)
        self.expect_screen(c, "pass", "trusted", mark)
        bye(c)


class RefuseHold(ScreenTest):
    """refuse_hold_ms: a client refused at connect hears its refusal that
    much later, its counts given back at once; the others are served
    meanwhile; at most half of a worker's sessions are held."""

    HOLD = 1.5

    @classmethod
    def setUpClass(cls):
        cls.rbl = cls.peer(Rbldnsd(zones={"bl.test": {"127.0.3.0/24": "127.0.0.2"}}))
        cls.m = cls.moatd(
            dns_servers=[cls.rbl.server()],
            limits={"refuse_hold_ms": int(cls.HOLD * 1000), "conn_per_ip": 2,
                    "sessions_max": 8, "greet_delay_ms": 300, "early_talker_ttl": 60},
            extra='screen {\n\tdnsbl = {"bl.test*3"}\n}\n')

    def tearDown(self):
        # what a test held is out before the next one counts slots
        deadline = time.time() + self.HOLD + 5
        while self.open_holds() > 0 and time.time() < deadline:
            time.sleep(0.05)

    def open_holds(self):
        log = self.m.log()
        refused = len(re.findall(r"smtp refuse sid=\S+ client=127\.0\.[34]\.", log))
        gone = len(re.findall(r"smtp disconnect sid=\S+ client=127\.0\.[34]\.", log))
        return refused - gone

    def timed_refusal(self, c, code, enh):
        t0 = time.time()
        got, lines = c.reply()
        took = time.time() - t0
        self.assertEqual((got, lines[-1][:9]), (code, "%d %s" % (code, enh)), lines)
        self.assertTrue(c.closed(), "hung up after the refusal")
        c.close()
        return took

    def test_listed_client_waits_for_its_refusal(self):
        mark = self.mark()
        t0 = time.time()
        c = connect(self.m, "127.0.3.1")
        # decided and logged at once, said later
        self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark)
        self.assertLess(time.time() - t0, self.HOLD / 2)
        self.timed_refusal(c, 554, "5.7.1")
        self.assertGreaterEqual(time.time() - t0, self.HOLD * 0.9)
        line = self.expect(r'smtp disconnect sid=\S+ %s reason="refused at connect"'
                           % re.escape(tag(c)), mark)
        self.assertGreaterEqual(float(re.search(r"duration=([\d.]+)", line).group(1)),
                                self.HOLD * 0.9)

    def test_early_talker_held_and_commands_not_read(self):
        """Talking before the greeting, then pipelining more: one 554
        after the hold, nothing of what followed answered."""
        mark = self.mark()
        c = connect(self.m, "127.0.4.1")
        c.send("EHLO rude.test\r\nMAIL FROM:<a@remote.test>\r\n"
               "RCPT TO:<alice@example.test>\r\n")
        t0 = time.time()
        self.expect_refuse(c, "connect", "early-talker", "554 5.5.1", mark)
        code, lines = c.reply()
        self.assertEqual((code, lines), (554, lines[:1]), lines)
        self.assertEqual(lines[0][:9], "554 5.5.1", lines)
        self.assertGreaterEqual(time.time() - t0, self.HOLD * 0.8)
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"", "nothing after the 554")
        c.close()
        self.expect(r'smtp disconnect sid=\S+ %s reason="early talker"' % re.escape(tag(c)),
                    mark)
        self.assertEqual(self.lines(r"smtp refuse sid=\S+ %s stage=(mail|rcpt)"
                                    % re.escape(tag(c)), mark), [])

    def test_held_sessions_give_their_counts_back(self):
        """conn_per_ip = 2: a third connection of an address whose first two
        are held is refused for the DNSBL, not for conn-per-ip."""
        mark = self.mark()
        cs = []
        for _ in range(3):
            cs.append(connect(self.m, "127.0.3.2"))
            self.expect_refuse(cs[-1], "connect", "dnsbl", "554 5.7.1", mark)
        for c in cs:
            self.timed_refusal(c, 554, "5.7.1")
        self.assertEqual(self.lines(r"rule=conn-per-ip", mark), [])

    def test_others_are_served_while_refusals_are_held(self):
        mark = self.mark()
        held = connect(self.m, "127.0.3.3")
        self.expect_refuse(held, "connect", "dnsbl", "554 5.7.1", mark)
        t0 = time.time()
        c = self.greeted("127.0.0.20")
        self.assertLess(time.time() - t0, self.HOLD / 2)
        self.ehlo(c)
        code, _ = self.envelope(c, "a@remote.test", "alice@example.test")
        self.assertEqual(code, 250)
        self.deliver(c)
        bye(c)
        self.timed_refusal(held, 554, "5.7.1")

    def test_at_most_half_the_sessions_are_held(self):
        """sessions_max = 8, one worker: four refusals are held, the other
        two go out at once, and a clean client still gets in."""
        mark = self.mark()
        cs = [connect(self.m, "127.0.3.%d" % (10 + i)) for i in range(6)]
        for c in cs:
            self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark)
        time.sleep(0.2)
        ready, _, _ = select.select([c.sock for c in cs], [], [], 0)
        self.assertEqual(len(ready), 2, "two refusals out at once, four held")
        c = self.greeted("127.0.0.21")
        bye(c)
        ready, _, _ = select.select([c.sock for c in cs], [], [], 0)
        self.assertEqual(len(ready), 2, "the four are still held")
        for c in cs:
            self.timed_refusal(c, 554, "5.7.1")

    def test_reload_sends_held_refusals_at_once(self):
        m = Moatd(domains=EXAMPLE, dns_servers=[self.rbl.server()],
                  limits={"refuse_hold_ms": 30000},
                  extra='screen {\n\tdnsbl = {"bl.test*3"}\n}\n').start()
        try:
            mark = self.mark(m)
            c = connect(m, "127.0.3.4")
            self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark, m)
            t0 = time.time()
            m.hup()
            self.timed_refusal(c, 554, "5.7.1")
            self.assertLess(time.time() - t0, 10)
        finally:
            m.stop()


# ---- tarpitting ----

class Tarpit(ScreenTest):
    STEP, MAX = 0.3, 0.7

    @classmethod
    def setUpClass(cls):
        cls.m = cls.moatd(limits={"tarpit_step_ms": int(cls.STEP * 1000),
                                  "tarpit_max_ms": int(cls.MAX * 1000), "errors_max": 10})

    def timed(self, c, line):
        t0 = time.time()
        code, _ = c.cmd(line)
        return code, time.time() - t0

    def test_each_error_delays_the_next_reply_more(self):
        mark = self.mark()
        c = self.greeted("127.0.0.2")
        self.ehlo(c)
        # the error's own reply comes late already, and each error more so
        want = [(250, 0), (500, self.STEP), (500, 2 * self.STEP), (500, self.MAX),
                (250, 0)]
        for (code, delay), line in zip(want, ["NOOP", "BOGUS", "BOGUS", "BOGUS", "NOOP"]):
            got, took = self.timed(c, line)
            self.assertEqual(got, code, line)
            self.assertGreaterEqual(took, delay * 0.9, (line, delay))
            self.assertLess(took, delay + 0.25, (line, delay))
        bye(c)
        self.expect(r"smtp disconnect sid=\S+ %s .* errors=3 .*unknown=0/3" % re.escape(tag(c)),
                    mark)

    def test_a_tarpit_holds_no_worker(self):
        slow = self.greeted("127.0.0.3")
        self.ehlo(slow)
        for _ in range(3):
            slow.cmd("BOGUS")
        t0 = time.time()
        slow.send("BOGUS\r\n")  # its answer comes MAX later
        fast = self.greeted("127.0.0.4")
        self.ehlo(fast)
        self.assertLess(time.time() - t0, self.MAX / 2)
        code, _ = slow.reply()
        self.assertEqual(code, 500)
        self.assertGreaterEqual(time.time() - t0, self.MAX * 0.9)
        bye(fast)
        bye(slow)


# ---- greylisting ----

class Greylist(ScreenTest):
    """Triplet (client /24, sender, recipient), decided at RCPT. Clients
    listed in grey.test have a score, so they are not "clean"."""

    DELAY = 2

    @classmethod
    def setUpClass(cls):
        cls.rbl = cls.peer(Rbldnsd(zones={
            "grey.test": {"127.0.1.0/24": "127.0.0.2", "127.0.2.0/24": "127.0.0.2",
                          "127.0.4.0/24": "127.0.0.2", "127.0.3.0/24": "127.0.0.2"},
            "wl.test": {"127.0.4.2": "127.0.0.2"},
        }))
        cls.m = cls.moatd(
            dns_servers=[cls.rbl.server()], trusted=["127.0.3.0/24"],
            limits={"greylist_delay": cls.DELAY, "greylist_window": 60,
                    "greylist_pass_ttl": 60, "dnsbl_threshold": 10},
            extra='screen {\n\tgreylist = true\n\tgreylist_skip_clean = true\n'
                  '\tdnsbl = {"grey.test*1", "wl.test*-1"}\n}\n')

    def attempt(self, source, sender, rcpt="alice@example.test"):
        c = self.greeted(source)
        self.ehlo(c)
        code, lines = self.envelope(c, sender, rcpt)
        return c, code, lines

    def test_first_attempt_451_then_passes_after_the_delay(self):
        mark = self.mark()
        t0 = time.time()
        c, code, lines = self.attempt("127.0.1.2", "first@remote.test")
        self.assertEqual((code, lines[-1][:9]), (451, "451 4.7.1"), lines)
        self.expect_refuse(c, "rcpt", "greylist", "451 4.7.1", mark,
                           extra=r" addr=<alice@example\.test> retry-in=%ds" % self.DELAY)
        bye(c)
        # too early: still greylisted
        c, code, lines = self.attempt("127.0.1.2", "first@remote.test")
        self.assertEqual(code, 451, lines)
        bye(c)
        time.sleep(max(0, t0 + self.DELAY + 1.1 - time.time()))
        mark = self.mark()
        c, code, lines = self.attempt("127.0.1.2", "first@remote.test")
        self.assertEqual(code, 250, lines)
        self.deliver(c)
        self.no_refusal(c, mark)
        self.expect(r"smtp queued sid=\S+ id=\S+ client=127\.0\.1\.2 from=<first@remote\.test>",
                    mark)
        bye(c)
        # the client network passed: another triplet from it passes at once
        c, code, lines = self.attempt("127.0.1.77", "other@remote.test", "bob@example.test")
        self.assertEqual(code, 250, lines)
        bye(c)

    def test_other_network_is_greylisted(self):
        mark = self.mark()
        c, code, lines = self.attempt("127.0.2.2", "first@remote.test")
        self.assertEqual((code, lines[-1][:9]), (451, "451 4.7.1"), lines)
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=1 ")
        self.expect_refuse(c, "rcpt", "greylist", "451 4.7.1", mark)
        bye(c)

    def test_trusted_network_skips(self):
        mark = self.mark()
        c, code, lines = self.attempt("127.0.3.2", "t@remote.test")
        self.assertEqual(code, 250, lines)
        self.expect_screen(c, "pass", "trusted", mark)
        self.no_refusal(c, mark)
        bye(c)

    def test_dnswl_listed_skips(self):
        mark = self.mark()
        c, code, lines = self.attempt("127.0.4.2", "w@remote.test")
        self.assertEqual(code, 250, lines)
        self.expect_screen(c, "pass", "all-stages", mark,
                           extra=r" score=0 .*listed=(grey\.test,wl\.test|wl\.test,grey\.test)")
        self.no_refusal(c, mark)
        bye(c)
        # the same /24 without the allowlist is greylisted
        c, code, lines = self.attempt("127.0.4.3", "w@remote.test")
        self.assertEqual(code, 451, lines)
        bye(c)

    def test_clean_client_skips(self):
        mark = self.mark()
        c, code, lines = self.attempt("127.0.7.2", "clean@remote.test")
        self.assertEqual(code, 250, lines)
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=0 name=localhost$")
        self.no_refusal(c, mark)
        bye(c)


class GreylistStore(ScreenTest):
    """The store survives a restart: a passed network stays passed, and a
    triplet seen before the restart passes after it. Authenticated users
    are never greylisted."""

    DELAY = 2

    @classmethod
    def setUpClass(cls):
        m = TlsMoatd(domains=EXAMPLE,
                     limits={"greylist_delay": cls.DELAY, "greylist_window": 60,
                             "greylist_pass_ttl": 60})
        m.extra += "screen {\n\tgreylist = true\n\tgreylist_skip_clean = false\n}\n"
        m.write_conf()
        m.add_user("alice", "correct horse")
        m.start()
        cls.addClassCleanup(m.stop)
        cls.m = m

    def test_authenticated_user_skips(self):
        mark = self.mark()
        c, code, lines = self.attempt("127.0.9.2", "x@remote.test", "bob@example.test")
        self.assertEqual(code, 451, lines)
        # the same network, authenticated on the submission port
        s = self.m.submission(source="127.0.9.3")
        s.login("alice", "correct horse")
        s.mail("alice@example.test")
        code, resp = s.rcpt("bob@example.test")
        self.assertEqual(code, 250, resp)
        code, resp = s.data(message(frm="alice@example.test", to="bob@example.test"))
        self.assertEqual(code, 250, resp)
        s.quit()
        self.expect(r"smtp queued sid=\S+ id=\S+ client=127\.0\.9\.3 .* auth=alice", mark)
        self.assertEqual(self.lines(r"smtp refuse .*client=127\.0\.9\.3:", mark), [])

    def attempt(self, source, sender, rcpt="alice@example.test"):
        c = self.greeted(source)
        self.ehlo(c)
        code, lines = self.envelope(c, sender, rcpt)
        bye(c)
        return c, code, lines

    def test_passed_triplet_survives_restart(self):
        m = self.m
        t0 = time.time()
        self.assertEqual(self.attempt("127.0.5.2", "a@remote.test")[1], 451)
        self.assertEqual(self.attempt("127.0.6.2", "b@remote.test")[1], 451)
        time.sleep(max(0, t0 + self.DELAY + 1.1 - time.time()))
        self.assertEqual(self.attempt("127.0.5.2", "a@remote.test")[1], 250)
        m.stop()
        m.start()
        mark = self.mark()
        # a new triplet from the network that passed: no greylisting
        c, code, lines = self.attempt("127.0.5.3", "new@remote.test", "bob@example.test")
        self.assertEqual(code, 250, lines)
        self.no_refusal(c, mark)
        # the triplet first seen before the restart comes back in time
        c, code, lines = self.attempt("127.0.6.2", "b@remote.test")
        self.assertEqual(code, 250, lines)
        self.no_refusal(c, mark)
        # and a network never seen is still greylisted
        c, code, lines = self.attempt("127.0.8.2", "b@remote.test")
        self.assertEqual(code, 451, lines)
        self.expect_refuse(c, "rcpt", "greylist", "451 4.7.1", mark)


# ---- harvest detection ----

class Harvest(ScreenTest):
    """soft 3: the third unknown recipient of a session is answered a second
    late; hard 4: the fourth ends the session; ban 6 across sessions."""

    @classmethod
    def setUpClass(cls):
        # no tarpit, so that the delays seen are the harvest delays
        cls.m = cls.moatd(limits={"harvest_soft": 3, "harvest_hard": 4, "harvest_ban": 6,
                                  "harvest_window": 60, "harvest_ban_time": 60,
                                  "tarpit_step_ms": 0, "errors_max": 50})

    def rcpt(self, c, addr):
        t0 = time.time()
        code, lines = c.cmd("RCPT TO:<%s>" % addr)
        return code, lines, time.time() - t0

    def test_slow_then_cut_then_banned(self):
        mark = self.mark()
        c = self.greeted("127.0.0.2")
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<h@remote.test>")[0], 250)
        for i, delay in ((1, 0), (2, 0)):
            code, lines, took = self.rcpt(c, "nobody%d@example.test" % i)
            self.assertEqual((code, lines[-1][:9]), (550, "550 5.1.1"), lines)
            self.assertLess(took, 0.5)
        # known recipients do not count, and are not slowed
        code, lines, took = self.rcpt(c, "alice@example.test")
        self.assertEqual(code, 250, lines)
        self.assertLess(took, 0.5)
        code, lines, took = self.rcpt(c, "nobody3@example.test")
        self.assertEqual(code, 550, lines)
        self.assertGreaterEqual(took, 0.9, "past the soft limit each reply is delayed")
        self.expect_refuse(c, "rcpt", "unknown-user", "550 5.1.1", mark,
                           extra=r" addr=<nobody3@example\.test>")
        code, lines, _ = self.rcpt(c, "nobody4@example.test")
        self.assertEqual((code, lines[-1][:9]), (421, "421 4.7.0"), lines)
        self.assert_closed(c)
        self.expect_refuse(c, "rcpt", "harvest", "421 4.7.0", mark,
                           extra=r" addr=<nobody4@example\.test> unknown-rcpts-in-session=4")

        # across sessions: the sixth unknown recipient bans the client
        c = self.greeted("127.0.0.2")
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<h@remote.test>")[0], 250)
        self.assertEqual(self.rcpt(c, "nobody5@example.test")[0], 550)
        code, lines, _ = self.rcpt(c, "nobody6@example.test")
        self.assertEqual((code, lines[-1][:9]), (421, "421 4.7.0"), lines)
        self.assert_closed(c)
        self.expect_refuse(c, "rcpt", "harvest-ban", "421 4.7.0", mark,
                           extra=r" .*unknown-rcpts=6 banned-for=60s")
        # banned: refused at connect (4xx: ban_action defaults to tempfail)
        mark = self.mark()
        c, _ = self.refused_at_connect("127.0.0.2", 421, "4.7.1")
        self.expect_screen(c, "tempfail", "ban", mark,
                           extra=r'.* reason="harvest: 6 unknown recipients"')
        self.expect_refuse(c, "connect", "ban", "421 4.7.1", mark)
        # another client is not affected
        bye(self.greeted("127.0.0.3"))


# ---- the verdict cache ----

class VerdictCache(ScreenTest):
    """A client that passed the connect checks is not checked again for
    verdict_cache_ttl: even when a list starts listing it meanwhile."""

    TTL = 3

    @classmethod
    def setUpClass(cls):
        cls.rbl = cls.peer(Rbldnsd(zones={"bl.test": {"127.0.0.30": "127.0.0.2",
                                                 "127.0.0.40": "127.0.0.2"}}, ttl=3))
        # moatd asks rbldnsd directly; no DNS cache in between
        cls.m = cls.moatd(dns_servers=[cls.rbl.server()],
                          limits={"verdict_cache_ttl": cls.TTL, "dns_cache_max": 0,
                                  "dns_timeout_ms": 300, "dns_attempts": 1},
                          extra='screen {\n\tdnsbl = {"bl.test*3"}\n}\n')
        # and the other way round: no verdict cache, the DNS cache on
        cls.md = cls.moatd(dns_servers=[cls.rbl.server()],
                           limits={"verdict_cache_ttl": 0},
                           extra='screen {\n\tdnsbl = {"bl.test*3"}\n}\n')

    def queries(self, addr):
        return len(self.rbl.queries(r" %s\.bl\.test " % re.escape(
            ".".join(reversed(addr.split("."))))))

    def test_pass_for_want_of_an_answer_is_not_cached(self):
        """A client that passed only because the list did not answer has not
        passed the checks: its next connection is checked again."""
        mark = self.mark()
        with paused(self.rbl.proc.pid):
            c = self.greeted("127.0.0.40")
            self.expect_screen(c, "pass", "all-stages", mark,
                               extra=r" score=0 .*unanswered=bl\.test.* not-cached")
            bye(c)
        mark = self.mark()
        c, _ = self.refused_at_connect("127.0.0.40", 554, "5.7.1")
        self.expect_screen(c, "reject", "dnsbl", mark, extra=r" score=3 .*listed=bl\.test")

    def test_dns_answers_cached_by_ttl(self):
        """DNSBL answers (A records, TTL 3 s here) come from moatd's DNS
        cache while they live, and are asked again when they have expired."""
        t0 = time.time()
        for _ in range(3):
            mark = self.mark(self.md)
            c, _ = self.refused_at_connect("127.0.0.30", 554, "5.7.1", m=self.md)
            self.expect_screen(c, "reject", "dnsbl", mark, m=self.md,
                               extra=r" score=3 .*listed=bl\.test")
        self.assertLess(time.time() - t0, 2, "test too slow for its TTL")
        self.assertEqual(self.queries("127.0.0.30"), 1)
        time.sleep(3.2)
        self.refused_at_connect("127.0.0.30", 554, "5.7.1", m=self.md)
        self.assertEqual(self.queries("127.0.0.30"), 2)

    def test_passed_client_is_not_rechecked_until_ttl(self):
        queries = self.queries
        mark = self.mark()
        t0 = time.time()
        c = self.greeted("127.0.0.2")
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=0 name=localhost$")
        bye(c)
        self.assertEqual(queries("127.0.0.2"), 1)
        self.rbl.set_zone("bl.test", {"127.0.0.2": "127.0.0.2", "127.0.0.3": "127.0.0.2",
                                      "127.0.0.30": "127.0.0.2", "127.0.0.40": "127.0.0.2"},
                          wait_for="127.0.0.2")
        n = queries("127.0.0.2")
        # within the TTL: the cached pass, no DNS query
        mark = self.mark()
        c = self.greeted("127.0.0.2")
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=0 .*cached")
        bye(c)
        self.assertEqual(queries("127.0.0.2"), n, "no lookup for a cached client")
        self.assertLess(time.time() - t0, self.TTL, "test too slow for its TTL")
        # a client not in the cache is checked, and refused
        c, _ = self.refused_at_connect("127.0.0.3", 554, "5.7.1")
        self.expect_screen(c, "reject", "dnsbl", mark)
        # after the TTL the listing counts
        time.sleep(max(0, t0 + self.TTL + 1.1 - time.time()))
        mark = self.mark()
        c, _ = self.refused_at_connect("127.0.0.2", 554, "5.7.1")
        self.expect_screen(c, "reject", "dnsbl", mark)
        self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark)


# ---- in a private network namespace: FCrDNS, host names, IPv6 ----

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetNamespace:
    """Move this process into a new network namespace whose loopback
    interface carries the given addresses; leave() comes back. Processes
    started meanwhile (moatd, dnsmasq) stay in it; nothing in it can reach
    another network: it has no interface but lo."""

    def __init__(self, addresses):
        self.addresses = addresses
        self.home = None

    def enter(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            os.close(self.home)
            raise OSError(err, "unshare(CLONE_NEWNET): " + os.strerror(err))
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            for a in self.addresses:
                if ":" in a:
                    subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo",
                                    "nodad"], check=True)
                else:
                    subprocess.run(["ip", "addr", "add", a + "/32", "dev", "lo"], check=True)
        except Exception:
            self.leave()
            raise

    def leave(self):
        if self.home is not None:
            _libc.setns(self.home, CLONE_NEWNET)
            os.close(self.home)
            self.home = None


# Global addresses (no special use), which only exist inside the namespace.
PARTNER, DYNHOST, DYNAPEX, NOPTR, LIAR, LIAR_A = (
    "11.22.33.5", "11.22.33.6", "11.22.33.8", "11.22.33.7", "11.22.33.9", "11.22.33.99")
V6_A1, V6_A2, V6_B, V6_DENY = ("2a01:ffff:1:1::5", "2a01:ffff:1:1::6", "2a01:ffff:1:2::5",
                               "2a01:ffff:1:3::9")

NAMED_CLIENTS = """\
Mail.Partner.Test      allow
*.DYN.fcrdns.test      deny      Dynamic host
liar.fcrdns.test       allow
2a01:ffff:1:3::/64     deny      IPv6 network refused
"""


class ClientNames(ScreenTest):
    """Forward-confirmed reverse DNS, host-name access rules and per-/64
    counting, with real PTR records for global addresses."""

    @classmethod
    def setUpClass(cls):
        cls.ns = NetNamespace([PARTNER, DYNHOST, DYNAPEX, NOPTR, LIAR, V6_A1, V6_A2, V6_B,
                               V6_DENY])
        cls.ns.enter()
        cls.addClassCleanup(cls.ns.leave)
        hosts = {"mail.partner.test": PARTNER, "host6.dyn.fcrdns.test": DYNHOST,
                 "dyn.fcrdns.test": DYNAPEX, "liar.fcrdns.test": LIAR_A,
                 "a1.v6.test": V6_A1, "a2.v6.test": V6_A2, "b.v6.test": V6_B,
                 "deny.v6.test": V6_DENY}
        cls.dns = cls.peer(Dnsmasq(hosts=hosts, extra=[
            "--local=/test/", "--local=/33.22.11.in-addr.arpa/",
            "--local=/1.0.0.0.f.f.f.f.1.0.a.2.ip6.arpa/",
            "--ptr-record=%s.in-addr.arpa,liar.fcrdns.test" %
            ".".join(reversed(LIAR.split("."))),
            # bl.test lists NOPTR and PARTNER
            "--host-record=%s.bl.test,127.0.0.2" % ".".join(reversed(NOPTR.split("."))),
            "--host-record=%s.bl.test,127.0.0.2" % ".".join(reversed(PARTNER.split(".")))]))
        cls.v6port = free_port()
        m = Moatd(domains=EXAMPLE, dns_servers=[cls.dns.server()],
                  limits={"conn_per_ip": 1},
                  listeners=[("mx", "127.0.0.1:%d" % free_port(), "mx"),
                             ("mx6", "[::1]:%d" % cls.v6port, "mx")])
        m.port = int(m.listeners[0][1].rsplit(":", 1)[1])
        write(os.path.join(m.dir, "client.access"), NAMED_CLIENTS)
        m.extra = ('screen {\n\tfcrdns = "reject"\n\tclient_access = "%s/client.access"\n}\n'
                   % m.dir)
        m.write_conf()
        m.start()
        cls.addClassCleanup(m.stop)
        cls.m = m
        # fcrdns = tempfail, and a DNS server that never answers
        cls.silent = SilentDns()
        cls.addClassCleanup(cls.silent.stop)
        cls.m4 = cls.moatd(dns_servers=[cls.silent.server()],
                           limits={"dns_timeout_ms": 300, "dns_attempts": 1},
                           extra='screen {\n\tfcrdns = "reject"\n}\n')
        cls.mt = cls.moatd(dns_servers=[cls.dns.server()],
                           extra='screen {\n\tfcrdns = "tempfail"\n}\n')
        # fcrdns = score: no name is worth 2, bl.test 1, threshold 3
        cls.ms = cls.moatd(dns_servers=[cls.dns.server()],
                           limits={"fcrdns_score": 2, "dnsbl_threshold": 3},
                           extra='screen {\n\tfcrdns = "score"\n\tdnsbl = {"bl.test*1"}\n}\n')

    def test_dns_is_real(self):
        port = self.dns.port
        self.assertEqual(dns_ask("127.0.0.1", port, "mail.partner.test"),
                         ("NOERROR", [PARTNER]))
        self.assertEqual(dns_ask("127.0.0.1", port, "liar.fcrdns.test"),
                         ("NOERROR", [LIAR_A]))

    def test_confirmed_name_exact_rule_case_insensitive(self):
        mark = self.mark()
        c = self.greeted(PARTNER)
        self.ehlo(c)
        self.expect_screen(c, "pass", "client-access", mark,
                           extra=r" score=0 name=mail\.partner\.test match=\S+:1")
        bye(c)

    def test_wildcard_name_rule(self):
        mark = self.mark()
        c, lines = self.refused_at_connect(DYNHOST, 554, "5.7.1")
        self.assertIn("Dynamic host", lines[-1])
        self.expect_screen(c, "reject", "client-access", mark,
                           extra=r" score=\S+ name=host6\.dyn\.fcrdns\.test match=\S+:2")
        self.expect_refuse(c, "connect", "client-access", "554 5.7.1", mark)
        # *.domain is for names under the domain, not the domain itself
        mark = self.mark()
        c = self.greeted(DYNAPEX)
        self.expect_screen(c, "pass", "all-stages", mark, extra=r" score=\S+ name=dyn\.fcrdns\.test$")
        bye(c)

    def test_no_reverse_name_is_refused(self):
        mark = self.mark()
        c, lines = self.refused_at_connect(NOPTR, 554, "5.7.1")
        self.assertIn("cannot find your hostname", lines[-1])
        self.expect_screen(c, "reject", "fcrdns", mark, extra=r" score=\S+ name=unknown fcrdns=none")
        self.expect_refuse(c, "connect", "fcrdns", "554 5.7.1", mark)

    def test_unconfirmed_name_is_no_name(self):
        # its PTR says liar.fcrdns.test, whose A record is another address:
        # neither the allow rule for that name nor FCrDNS counts it
        mark = self.mark()
        c, _ = self.refused_at_connect(LIAR, 554, "5.7.1")
        self.expect_screen(c, "reject", "fcrdns", mark, extra=r" score=\S+ name=unknown ")

    def test_fcrdns_tempfail_is_4xx(self):
        mark = self.mark(self.mt)
        c, _ = self.refused_at_connect(NOPTR, 421, "4.7.1", m=self.mt)
        self.expect_screen(c, "tempfail", "fcrdns", mark, m=self.mt)
        self.expect_refuse(c, "connect", "fcrdns", "421 4.7.1", mark, m=self.mt)

    def test_fcrdns_score(self):
        ms = self.ms
        mark = self.mark(ms)
        # no confirmed name (2) and listed (1): refused by the DNSBL threshold
        c, _ = self.refused_at_connect(NOPTR, 554, "5.7.1", m=ms)
        self.expect_screen(c, "reject", "dnsbl", mark, m=ms,
                           extra=r" score=3 name=unknown fcrdns=none dnsbl-score=1 listed=bl\.test")
        self.expect_refuse(c, "connect", "dnsbl", "554 5.7.1", mark, m=ms)
        # no confirmed name, not listed: passes with its score
        c = self.greeted(LIAR, m=ms)
        self.expect_screen(c, "pass", "all-stages", mark, m=ms,
                           extra=r" score=2 name=unknown fcrdns=none$")
        bye(c)
        # a confirmed name, listed: passes with the list's point only
        c = self.greeted(PARTNER, m=ms)
        self.expect_screen(c, "pass", "all-stages", mark, m=ms,
                           extra=r" score=1 name=mail\.partner\.test dnsbl-score=1")
        bye(c)

    def test_reverse_lookup_timeout_is_4xx(self):
        mark = self.mark(self.m4)
        c, _ = self.refused_at_connect(PARTNER, 421, "4.3.0", m=self.m4)
        self.expect_screen(c, "tempfail", "fcrdns", mark, m=self.m4,
                           extra=r' score=\S+ name=unknown .*trouble="reverse lookup failed"')
        self.expect_refuse(c, "connect", "fcrdns", "421 4.3.0", mark, m=self.m4)

    def test_ipv6_counts_per_64(self):
        mark = self.mark()
        a = self.greeted(V6_A1, host="::1", port=self.v6port)
        self.expect_screen(a, "pass", "all-stages", mark, extra=r" score=\S+ name=a1\.v6\.test$")
        # the same /64 is the same client
        c, _ = self.refused_at_connect(V6_A2, 421, "4.7.0", host="::1", port=self.v6port)
        self.expect_screen(c, "tempfail", "conn-per-ip", mark)
        self.expect_refuse(c, "connect", "conn-per-ip", "421 4.7.0", mark)
        # another /64 is another client
        b = self.greeted(V6_B, host="::1", port=self.v6port)
        bye(b)
        bye(a)

    def test_ipv6_cidr_rule(self):
        mark = self.mark()
        c, lines = self.refused_at_connect(V6_DENY, 554, "5.7.1", host="::1", port=self.v6port)
        self.assertIn("IPv6 network refused", lines[-1])
        self.expect_screen(c, "reject", "client-access", mark, extra=r".*match=\S+:4")


if __name__ == "__main__":
    unittest.main()

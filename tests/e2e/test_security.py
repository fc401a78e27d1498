"""End-to-end: the findings of the security review (issue 20).

Each class is one finding, against the real daemon and real peers:
dnsmasq for DNS (on loopback, in a private network namespace where a test
needs client or server addresses that are not loopback), Dovecot's auth
socket, Postfix's smtp-sink as the next hop. Nothing here can send a packet
off the machine: a namespace made with unshare(CLONE_NEWNET) has only the
interfaces the test puts in it.
"""

import base64
import os
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import time
import unittest

from harness import SANITIZER_MARKS, Moatd, free_port, make_tmpdir, message, moatctl
from peers import Dnsmasq, DovecotAuth, SmtpSink
from test_screening import EXAMPLE, NetNamespace, ScreenTest, bye, connect
from test_tls_auth import TlsMoatd, client_ctx


DNS_PTR = 12


def reverse_v4(addr):
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa"


def raw_answer(port, name, qtype):
    """The raw DNS answer of 127.0.0.1:port to one question."""
    q = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(65535)


def no_sanitizer_report(test, m):
    text = m.log()
    for mark in SANITIZER_MARKS:
        test.assertNotIn(mark, text)


# ---- a PTR that c-ares answers itself (RFC 7686 .onion) ----

# Global addresses, which exist only inside the namespace.
ONION_CLIENT, ONION_CLIENT2, PLAIN_CLIENT = "11.22.44.5", "11.22.44.6", "11.22.44.7"


class OnionPtr(ScreenTest):
    """The client's PTR names a .onion host. c-ares answers a query for a
    .onion name itself (RFC 7686 §2: never sent to DNS), inside the
    ares_query() call: the forward lookup of forward-confirmed reverse DNS
    completes before the call returns. The session must simply see no
    confirmed name; the worker must not touch the freed lookup (ASan)."""

    @classmethod
    def setUpClass(cls):
        cls.ns = NetNamespace([ONION_CLIENT, ONION_CLIENT2, PLAIN_CLIENT])
        cls.ns.enter()
        cls.addClassCleanup(cls.ns.leave)
        cls.dns = cls.peer(Dnsmasq(hosts={"plain.onion-test.test": PLAIN_CLIENT}, extra=[
            "--local=/test/", "--local=/44.22.11.in-addr.arpa/",
            "--ptr-record=%s,x.onion" % reverse_v4(ONION_CLIENT),
            "--ptr-record=%s,mail.hidden.onion" % reverse_v4(ONION_CLIENT2),
            "--ptr-record=%s,plain.onion-test.test" % reverse_v4(PLAIN_CLIENT)]))
        # fcrdns = reject: the refusal proves the lookup ended as "no name"
        cls.m = cls.moatd(dns_servers=[cls.dns.server()],
                          extra='screen {\n\tfcrdns = "reject"\n}\n')
        cls.mscore = cls.moatd(dns_servers=[cls.dns.server()],
                               limits={"fcrdns_score": 2, "dnsbl_threshold": 5},
                               extra='screen {\n\tfcrdns = "score"\n}\n')

    def test_dns_serves_the_onion_ptr(self):
        self.assertIn(b"\x01x\x05onion\x00", raw_answer(self.dns.port, reverse_v4(ONION_CLIENT),
                                                       DNS_PTR))

    def test_onion_ptr_is_no_name(self):
        for client in (ONION_CLIENT, ONION_CLIENT2):
            mark = self.mark()
            c, lines = self.refused_at_connect(client, 554, "5.7.1")
            self.assertIn("cannot find your hostname", lines[-1])
            self.expect_screen(c, "reject", "fcrdns", mark,
                               extra=r" score=\S+ name=unknown fcrdns=none")
            # the same worker serves the next client: it did not crash
            c = self.greeted(PLAIN_CLIENT)
            bye(c)
            no_sanitizer_report(self, self.m)

    def test_onion_ptr_scored_session_goes_on(self):
        mark = self.mark(self.mscore)
        c = self.greeted(ONION_CLIENT, m=self.mscore)
        self.expect_screen(c, "pass", "all-stages", mark, m=self.mscore,
                           extra=r" score=2 name=unknown fcrdns=none$")
        self.ehlo(c)
        self.envelope(c, "someone@elsewhere.test", "alice@example.test")
        self.deliver(c)
        bye(c)
        no_sanitizer_report(self, self.mscore)


# ---- Dovecot FAIL replies are read by field ----

CHECKPASSWORD = """#!/usr/bin/python3
# checkpassword (DJB): fd 3 holds user NUL password NUL. Exit 111 is a
# temporary problem, which Dovecot answers with FAIL ... code=temp_fail.
import os, sys
user = os.read(3, 4096).split(b"\\0")[0]
sys.exit(111 if user == b"trouble" else 1)
"""


def tempadmin_dovecot():
    """A private Dovecot whose auth socket knows "tempadmin" (passwd-file)
    and fails "trouble" temporarily (a checkpassword script exiting 111)."""
    d = make_tmpdir("moat-dovecot-")
    script = os.path.join(d, "checkpassword")
    with open(script, "w") as f:
        f.write(CHECKPASSWORD)
    os.chmod(script, 0o755)
    return DovecotAuth({"tempadmin": "s3cret"}, failure_delay=0, tmpdir=d,
                       extra_passdb="passdb {\n  driver = checkpassword\n"
                                    "  args = %s\n}\n" % script)


class DovecotFailFields(unittest.TestCase):
    """A FAIL reply is temporary only by its own field (code=temp_fail, or
    "temp" in Dovecot 2.2), not because "temp" appears anywhere in it:
    Dovecot echoes user=NAME, and a user called tempadmin would otherwise
    get unlimited password guesses (454 is not a failed login)."""

    @classmethod
    def setUpClass(cls):
        cls.dv = tempadmin_dovecot().start()
        cls.addClassCleanup(cls.dv.stop)
        cls.m = TlsMoatd(auth_extra='\tdovecot_socket = "%s"\n' % cls.dv.sock,
                         limits={"auth_failures_max": 2, "auth_ban_time": 60})
        cls.m.start()
        cls.addClassCleanup(cls.m.stop)

    def login(self, source, user, password):
        s = smtplib.SMTP_SSL("127.0.0.1", self.m.smtps_port, timeout=30,
                             source_address=(source, 0), local_hostname="client.test",
                             context=client_ctx())
        s.ehlo()
        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        code, resp = s.docmd("AUTH", "PLAIN " + blob.decode())
        return s, code, resp

    def test_user_named_temp_is_counted_and_banned(self):
        s, code, resp = self.login("127.0.0.7", "tempadmin", "wrong1")
        self.assertEqual(code, 535, resp)
        code, resp = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0tempadmin\0wrong2").decode())
        self.assertEqual(code, 535, resp)
        # the second failure reaches auth_failures_max: 421 and goodbye
        with self.assertRaises((smtplib.SMTPServerDisconnected, ConnectionError)):
            while True:
                code, resp = s.getreply()
                self.assertEqual(code, 421, resp)
        s.close()
        self.m.wait_log(r"smtp auth .*client=127\.0\.0\.7:\d+ mech=\w+ user=tempadmin "
                        r"result=fail failures=2")
        self.assertEqual(self.m.log_lines(r"user=tempadmin result=tempfail"), [])
        # the address is refused now, even with the right password
        c = self.m.raw(source="127.0.0.7", port=self.m.sub_port)
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        c.close()

    def test_dovecot_trouble_is_still_temporary(self):
        for _ in range(3):
            s, code, resp = self.login("127.0.0.8", "trouble", "x")
            self.assertEqual(code, 454, resp)
            s.quit()
        self.m.wait_log(r"client=127\.0\.0\.8:\d+ mech=\w+ user=trouble result=tempfail",
                        count=3)
        # not failed logins: the address is not banned
        s, code, resp = self.login("127.0.0.8", "tempadmin", "s3cret")
        self.assertEqual(code, 235, resp)
        s.quit()


# ---- delivery never goes to private space found in DNS or literals ----

INSIDE, INSIDE6, PUBLIC = "10.77.0.25", "fd77::25", "11.22.55.25"


class PrivateNet(NetNamespace):
    """A network namespace of this test's own: lo, and a veth pair (both ends
    inside) whose one end holds a 10.x, a unique-local and a global address.
    No interface leads out, so nothing sent to 10.77.0.25 can leave the
    machine even if moat's check were broken."""

    def __init__(self):
        super().__init__([])

    def enter(self):
        super().enter()
        try:
            for cmd in (["ip", "link", "add", "moatv0", "type", "veth", "peer", "name",
                         "moatv1"],
                        ["ip", "addr", "add", INSIDE + "/32", "dev", "moatv0"],
                        ["ip", "addr", "add", PUBLIC + "/32", "dev", "moatv0"],
                        ["ip", "-6", "addr", "add", INSIDE6 + "/128", "dev", "moatv0",
                         "nodad"],
                        ["ip", "link", "set", "moatv0", "up"],
                        ["ip", "link", "set", "moatv1", "up"]):
                subprocess.run(cmd, check=True)
            links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                   check=True).stdout
            names = sorted(re.findall(r"^\d+: ([^:@]+)", links, re.M))
            assert names == ["lo", "moatv0", "moatv1"], names
        except Exception:
            self.leave()
            raise


def dumped(sink_dir):
    """Subjects of the messages an smtp-sink dumped."""
    out = []
    for root, _, files in os.walk(sink_dir):
        for name in files:
            with open(os.path.join(root, name), errors="replace") as f:
                m = re.search(r"^Subject: (.*)$", f.read(), re.M)
            out.append(m.group(1) if m else None)
    return out


PRIVATE_DNS_HOSTS = {"mx.loop.test": "127.0.0.1", "mx.inside.test": INSIDE,
                     "mx.inside6.test": INSIDE6, "mx.mapped.test": "::ffff:" + INSIDE,
                     "mx.public.test": PUBLIC}
PRIVATE_DNS_EXTRA = ["--local=/test/",
                     "--mx-host=loop.test,mx.loop.test,10",
                     "--mx-host=inside.test,mx.inside.test,10",
                     "--mx-host=inside6.test,mx.inside6.test,10",
                     "--mx-host=mapped.test,mx.mapped.test,10",
                     "--mx-host=mixed.test,mx.inside.test,10",
                     "--mx-host=mixed.test,mx.public.test,20"]


class PrivateDestinations(unittest.TestCase):
    """Without relay_to_private, an MX that resolves to loopback, RFC 1918,
    unique-local or IPv4-mapped private space, and an authenticated user's
    address literal naming such an address, are refused: logged, bounced
    (a DNS record pointing there will not change by itself; Postfix bounces
    an MX without a usable address), never connected to. A smtp-sink
    listens on each of those addresses, so a broken check would show as
    delivered mail."""

    relay_to_private = False

    @classmethod
    def setUpClass(cls):
        cls.ns = PrivateNet()
        cls.ns.enter()
        cls.addClassCleanup(cls.ns.leave)
        cls.dns = Dnsmasq(hosts=PRIVATE_DNS_HOSTS, extra=PRIVATE_DNS_EXTRA).start()
        cls.addClassCleanup(cls.dns.stop)
        port = free_port()
        cls.sinks = {}
        for host in ("127.0.0.1", INSIDE, PUBLIC):
            dump = make_tmpdir("moat-sinkdump-")
            sink = SmtpSink(host=host, port=port, dump_dir=dump).start()
            cls.addClassCleanup(sink.stop)
            cls.sinks[host] = dump
        cls.m = TlsMoatd(dns_servers=[cls.dns.server()], relayhost=None,
                         limits={"mx_port": port, "retry_min": 1})
        if cls.relay_to_private:
            cls.m.extra += "relay_to_private = true\n"
            cls.m.write_conf()
        cls.m.add_user("alice", "correct horse")
        cls.m.start()
        cls.addClassCleanup(cls.m.stop)

    def submit(self, rcpt, subject):
        s = self.m.submission()
        s.login("alice", "correct horse")
        s.mail("alice@example.test")
        code, resp = s.rcpt(rcpt)
        self.assertEqual(code, 250, resp)
        code, resp = s.data(message(subject=subject, frm="alice@example.test", to=rcpt))
        self.assertEqual(code, 250, resp)
        s.quit()
        return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()

    def bounced(self, qid, rcpt, text):
        line = self.m.wait_log(r"deliver id=%s to=<%s> .*status=bounced" % (
            qid, re.escape(rcpt)), timeout=20)[0]
        self.assertIn(text, line)
        self.m.wait_maildir("alice", 1, containing="Final-Recipient: rfc822; " + rcpt)

    def nothing_delivered(self, subject):
        for host, dump in self.sinks.items():
            self.assertNotIn(subject, dumped(dump), "delivered to %s" % host)

    def test_mx_at_loopback(self):
        qid = self.submit("x@loop.test", "to-loop")
        self.m.wait_log(r"deliver refused destination=loop\.test host=mx\.loop\.test "
                        r"address=127\.0\.0\.1 reason=private-address")
        self.bounced(qid, "x@loop.test", "5.4.4 mail for loop.test goes only to private "
                     "addresses (mx.loop.test[127.0.0.1])")
        self.nothing_delivered("to-loop")

    def test_mx_at_rfc1918(self):
        qid = self.submit("x@inside.test", "to-inside")
        self.m.wait_log(r"deliver refused destination=inside\.test host=mx\.inside\.test "
                        r"address=10\.77\.0\.25 reason=private-address")
        self.bounced(qid, "x@inside.test", "5.4.4 mail for inside.test goes only to private")
        self.nothing_delivered("to-inside")

    def test_mx_at_unique_local_and_mapped(self):
        q6 = self.submit("x@inside6.test", "to-inside6")
        qm = self.submit("x@mapped.test", "to-mapped")
        self.m.wait_log(r"deliver refused destination=inside6\.test .*address=fd77::25 ")
        # ::ffff:10.77.0.25 is 10.77.0.25
        self.m.wait_log(r"deliver refused destination=mapped\.test .*address=10\.77\.0\.25 ")
        self.bounced(q6, "x@inside6.test", "5.4.4")
        self.bounced(qm, "x@mapped.test", "5.4.4")
        self.nothing_delivered("to-mapped")

    def test_private_mx_skipped_public_one_used(self):
        qid = self.submit("x@mixed.test", "to-mixed")
        self.m.wait_log(r"deliver refused destination=mixed\.test .*address=10\.77\.0\.25 ")
        self.m.wait_log(r"deliver id=%s to=<x@mixed\.test> relay=mx\.public\.test"
                        r"\[11\.22\.55\.25\]:\d+ .*status=sent" % qid, timeout=20)
        self.assertEqual(dumped(self.sinks[PUBLIC]).count("to-mixed"), 1)
        self.assertNotIn("to-mixed", dumped(self.sinks[INSIDE]))

    def test_address_literals(self):
        for rcpt in ("x@[%s]" % INSIDE, "x@[127.0.0.1]", "x@[IPv6:%s]" % INSIDE6,
                     "x@[IPv6:::ffff:%s]" % INSIDE):
            subject = "literal-" + rcpt
            qid = self.submit(rcpt, subject)
            self.bounced(qid, rcpt, "5.7.1 address literal")
            self.nothing_delivered(subject)


class PrivateDestinationsAllowed(PrivateDestinations):
    """relay_to_private = true: the same destinations are delivered to (the
    sinks of the class above are reachable: only the check stopped mail)."""

    relay_to_private = True

    def delivered(self, rcpt, subject, host):
        qid = self.submit(rcpt, subject)
        self.m.wait_log(r"deliver id=%s to=<%s> .*status=sent" % (qid, re.escape(rcpt)),
                        timeout=20)
        self.assertEqual(dumped(self.sinks[host]).count(subject), 1)
        self.assertEqual(self.m.log_lines(r"deliver refused"), [])

    def test_mx_at_loopback(self):
        self.delivered("x@loop.test", "to-loop", "127.0.0.1")

    def test_mx_at_rfc1918(self):
        self.delivered("x@inside.test", "to-inside", INSIDE)

    def test_mx_at_unique_local_and_mapped(self):
        self.delivered("x@mapped.test", "to-mapped", INSIDE)

    def test_private_mx_skipped_public_one_used(self):
        # preference 10 is the private host, and it is allowed now
        self.delivered("x@mixed.test", "to-mixed", INSIDE)

    def test_address_literals(self):
        self.delivered("x@[%s]" % INSIDE, "literal-inside", INSIDE)


# ---- a trap hit bans strangers only, and publishes repeat offenders ----

TRAP = "trap@example.test"


class TrapHits(unittest.TestCase):
    """A trap mailed by an authenticated user, or a trusted client, is
    refused like an unknown user and logged; nobody is banned or published.
    A stranger is banned here at its first hit and published (the rbldnsd
    export) only at its second (trap_export_hits = 2)."""

    @classmethod
    def setUpClass(cls):
        cls.m = TlsMoatd(trusted=["127.0.0.30/32"])
        cls.m.extra += 'bait {\n\tspamtraps = {"%s"}\n}\n' % TRAP
        cls.m.write_conf()
        cls.m.add_user("alice", "correct horse")
        cls.m.start()
        cls.addClassCleanup(cls.m.stop)
        cls.zonedir = make_tmpdir("moat-rbl-")
        shutil.chown(cls.zonedir, "moat")  # the daemon writes it, as its user

    def exported(self):
        """The addresses of the rbldnsd zone moatctl writes now."""
        zone = os.path.join(self.zonedir, "moat.zone")
        out = moatctl(self.m, "export", "rbldnsd", zone)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(zone) as f:
            return [l.split()[0] for l in f if l[0].isdigit()]

    def bans(self):
        out = moatctl(self.m, "bans")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout.splitlines()

    def greeting(self, source):
        c = self.m.raw(source=source)
        code, lines = c.reply()
        c.close()
        return code

    def mx_session(self, source):
        c = self.m.raw(source=source)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO bot.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<spam@remote.test>")[0], 250)
        return c

    def test_authenticated_user_bans_nobody(self):
        s = self.m.submission(source="127.0.0.20")
        s.login("alice", "correct horse")
        s.mail("alice@example.test")
        for _ in range(2):
            code, resp = s.rcpt(TRAP)
            self.assertEqual(code, 550, resp)
            self.assertIn(b"User unknown", resp)
        # the session goes on, and so does her mail
        self.assertEqual(s.rcpt("bob@example.test")[0], 250)
        self.assertEqual(s.data(message(subject="after-trap"))[0], 250)
        s.quit()
        self.m.wait_log(r"trap hit sid=\w+ client=127\.0\.0\.20 trap=<trap@example\.test> "
                        r"harvester=- harvested=- action=none exempt=authenticated", count=2)
        self.assertEqual(self.greeting("127.0.0.20"), 220)
        self.assertNotIn("127.0.0.20", self.exported())
        self.assertEqual([b for b in self.bans() if b.startswith("127.0.0.20 ")], [])
        # counted all the same: the trap report lists the sender
        out = moatctl(self.m, "traps")
        self.assertRegex(out.stdout, r"sender 127\.0\.0\.20 hits=2 ")

    def test_trusted_client_bans_nobody(self):
        c = self.mx_session("127.0.0.30")
        self.assertEqual(c.cmd("RCPT TO:<%s>" % TRAP)[0], 550)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        c.close()
        self.m.wait_log(r"trap hit .*client=127\.0\.0\.30 .*action=none exempt=trusted")
        self.assertEqual(self.greeting("127.0.0.30"), 220)
        self.assertNotIn("127.0.0.30", self.exported())

    def test_stranger_banned_at_once_published_at_the_second_hit(self):
        first, second = self.mx_session("127.0.0.21"), self.mx_session("127.0.0.21")
        self.assertEqual(first.cmd("RCPT TO:<%s>" % TRAP)[0], 550)
        self.assertTrue(first.closed(timeout=3), "the trapped session ends")
        first.close()
        # one hit: refused here, not published
        self.assertEqual(self.greeting("127.0.0.21"), 421)
        self.assertNotIn("127.0.0.21", self.exported())
        self.m.wait_log(r"trap hit .*client=127\.0\.0\.21 .*action=ban exempt=no hits=1")
        self.assertTrue([b for b in self.bans()
                         if re.match(r"127\.0\.0\.21 until=\S+ ttl=\d+ reason=\"trap: "
                                     r"mailed <trap@example\.test>\" published=no$", b)],
                        self.bans())
        # the second hit (a session opened before the first) publishes it
        self.assertEqual(second.cmd("RCPT TO:<%s>" % TRAP)[0], 550)
        second.close()
        self.m.wait_log(r"trap hit .*client=127\.0\.0\.21 .*action=ban-export exempt=no "
                        r"hits=2")
        self.assertIn("127.0.0.21", self.exported())
        self.assertEqual(self.greeting("127.0.0.21"), 421)
        # one ban, now the published one
        self.assertEqual([b for b in self.bans() if b.startswith("127.0.0.21 ")
                          and "published=no" in b], [])
        # unban lifts it, and the count starts again
        out = moatctl(self.m, "unban", "127.0.0.21")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(self.greeting("127.0.0.21"), 220)
        self.assertNotIn("127.0.0.21", self.exported())

    def test_unban_lifts_an_unpublished_trap_ban(self):
        c = self.mx_session("127.0.0.22")
        self.assertEqual(c.cmd("RCPT TO:<%s>" % TRAP)[0], 550)
        c.close()
        self.m.wait_log(r"trap hit .*client=127\.0\.0\.22 .*action=ban ")
        self.assertEqual(self.greeting("127.0.0.22"), 421)
        out = moatctl(self.m, "unban", "127.0.0.22")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.splitlines()[0], "unbanned 127.0.0.22 (trap, not published)")
        self.assertEqual(self.greeting("127.0.0.22"), 220)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: milters (issue 24) asked by the real moatd.

Real milters: opendkim signs what an authenticated user submits (the
delivered copy's DKIM-Signature verifies with python3-dkim, the key served
by a loopback dnsmasq) and, in verify mode on the MX listener, adds
Authentication-Results; rspamd (its proxy worker as a milter) refuses
GTUBE at the end of data with its own reply, adds its headers to a clean
message, and quarantines a message that is then held until `moatctl queue
release`. What real milters rarely do (every modification, multi-line
replies, refusals at each step) and their faults (a milter that never
answers, hangs up mid-body, sends garbage) come from a small scripted
milter in this file: each fault gets its on_error within its timeout, the
session goes on, and nothing acknowledged is lost. Traffic goes to
127.0.0.0/8 and to unix sockets only.
"""

import re
import smtplib
import socket
import socketserver
import struct
import threading
import time
import unittest

from harness import Moatd, dead_port, free_port, message, moatctl
from peers import Dnsmasq
from service_peers import OpenDkim, Rspamd, conf_section, dkim_verify
from test_tls_auth import TlsMoatd


def milter_section(name, address, **opts):
    return conf_section("milter", name, address, **opts)


def strip_delivery(raw):
    """The message as it was queued: without what Maildir delivery adds."""
    lines = raw.split(b"\n")
    while lines and (lines[0].startswith(b"Return-Path:") or
                     lines[0].startswith(b"Delivered-To:")):
        lines.pop(0)
    return b"\n".join(lines)


class Dkim(unittest.TestCase):
    """opendkim signs on submission and verifies on the MX listener."""

    @classmethod
    def setUpClass(cls):
        cls.signer = OpenDkim(mode="s").start()
        cls.dns = Dnsmasq(extra=['--txt-record=%s,%s' % kv
                                 for kv in cls.signer.dns_record().items()]).start()
        cls.verifier = OpenDkim(mode="v", key_txt=cls.signer.dns_record()).start()
        cls.m = TlsMoatd()
        cls.m.extra += (milter_section("sign", cls.signer.address(), listeners=["submission"],
                                       trusted=True)
                        + milter_section("verify", cls.verifier.address(), listeners=["mx"]))
        cls.m.write_conf()
        cls.m.start()
        cls.m.add_user("alice", "secret-password")

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        for p in (cls.signer, cls.verifier, cls.dns):
            p.stop()

    def test_sign_on_submission_then_verify_on_mx(self):
        s = self.m.submission()
        s.login("alice", "secret-password")
        s.sendmail("alice@example.test", ["bob@example.test"],
                   message(subject="signed mail", frm="alice@example.test",
                           to="bob@example.test", body="a body to sign\r\n"))
        s.quit()
        files = self.m.wait_maildir("bob", 1, containing="signed mail")
        with open(files[0], "rb") as f:
            raw = strip_delivery(f.read())
        self.assertIn(b"DKIM-Signature: v=1; a=rsa-sha256;", raw)
        self.assertIn(b"d=example.test; s=test;", raw)
        ok, out = dkim_verify(raw, "127.0.0.1", self.dns.port)
        self.assertTrue(ok, out)
        # the key came from the loopback dnsmasq
        self.assertIn("test._domainkey.example.test", self.dns.log())
        self.m.wait_log(r"smtp milter-rewrite sid=\S+ id=[0-9A-F]+ new_id=[0-9A-F]+")

        # the same message to the MX listener: opendkim verifies it
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("alice@example.test")
            self.assertEqual(c.rcpt("alice@example.test")[0], 250)
            # as it was queued: our Received line (unsigned) on top; the
            # mailbox has LF line ends, SMTP wants CRLF
            r = c.data(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            self.assertEqual(r[0], 250, r)
        files = self.m.wait_maildir("alice", 1, containing="signed mail")
        with open(files[0], "rb") as f:
            got = f.read().decode("latin-1")
        self.assertRegex(got, r"Authentication-Results: mx\.example\.test;\s+dkim=pass")

    def test_mx_mail_is_not_signed(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("someone@remote.test")
            self.assertEqual(c.rcpt("bob@example.test")[0], 250)
            self.assertEqual(c.data(message(subject="unsigned", to="bob@example.test"))[0],
                             250)
        files = self.m.wait_maildir("bob", 1, containing="unsigned")
        got = open(files[0], "rb").read()
        self.assertNotIn(b"DKIM-Signature:", got)
        # the verifier saw no signature and says so
        self.assertRegex(got.decode("latin-1"),
                         r"Authentication-Results: mx\.example\.test;\s+dkim=none")


if __name__ == "__main__":
    unittest.main()


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


class RspamdMilter(unittest.TestCase):
    """rspamd refuses GTUBE with its reply, adds its headers to a clean
    message, and its quarantine holds a message until it is released."""

    @classmethod
    def setUpClass(cls):
        cls.rspamd = Rspamd().start()
        cls.m = Moatd(extra=milter_section("rspamd", cls.rspamd.address(),
                                           timeout_ms=60000)).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.rspamd.stop()

    def send(self, subject, body):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=90) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            self.assertEqual(c.rcpt("bob@example.test")[0], 250)
            return c.data(message(subject=subject, to="bob@example.test", body=body))

    def test_gtube_refused_clean_gets_headers(self):
        code, text = self.send("gtube", GTUBE + "\r\n")
        self.assertEqual(code, 554, text)
        self.assertIn(b"Gtube pattern", text)
        self.m.wait_log(r"smtp refuse sid=\S+ .*stage=data rule=milter:rspamd reply=\"554")
        code, text = self.send("a clean one", "hello, an ordinary message\r\n")
        self.assertEqual(code, 250, text)
        files = self.m.wait_maildir("bob", 1, containing="a clean one")
        got = open(files[0], errors="replace").read()
        self.assertIn("X-Spamd-Result: default: False", got)
        self.assertIn("X-Rspamd-Server:", got)
        self.assertNotIn(GTUBE, "".join(open(p, errors="replace").read()
                                       for p in self.m.maildir("bob")))

    def test_quarantine_then_release(self):
        code, text = self.send("please quarantine-me", "a message to hold\r\n")
        self.assertEqual(code, 250, text)
        qid = re.search(rb"queued as ([0-9A-F]+)", text).group(1).decode()
        self.m.wait_log(r"queue: %s: held" % qid)
        self.m.wait_log(r"milter rspamd: sid=\S+ quarantine:")
        self.assertRegex(moatctl(self.m, "queue", "list").stdout, r"%s .*held=yes" % qid)
        time.sleep(1.5)
        self.assertFalse(any("quarantine-me" in open(p, errors="replace").read()
                             for p in self.m.maildir("bob")))
        r = moatctl(self.m, "queue", "release", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.m.wait_maildir("bob", 1, containing="quarantine-me")


# ---- a scripted milter ----

SMFIF_ALL = 0x1ff


def packet(cmd, data=b""):
    return struct.pack("!I", len(data) + 1) + cmd + data


class ScriptedMilter(socketserver.ThreadingTCPServer):
    """A milter speaking protocol 6: answer(conn, cmd, data) gives the
    packets to send back for one command ([] for none), or "CLOSE" to hang
    up, or "HANG" to say nothing for a minute. protocol: the SMFIP_ flags it
    negotiates; actions: the SMFIF_ ones. Each connection's commands are
    recorded in self.seen (lists of (cmd, data))."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer, protocol=0, actions=SMFIF_ALL):
        self.answer = answer
        self.protocol = protocol
        self.actions = actions
        self.seen = []
        super().__init__(("127.0.0.1", 0), _MilterHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def address(self):
        return "inet:127.0.0.1:%d" % self.port

    def close(self):
        self.shutdown()
        self.server_close()


class _MilterHandler(socketserver.BaseRequestHandler):
    def read(self, n):
        b = b""
        while len(b) < n:
            c = self.request.recv(n - len(b))
            if not c:
                return None
            b += c
        return b

    def handle(self):
        seen = []
        self.server.seen.append(seen)
        while True:
            h = self.read(4)
            if h is None:
                return
            n = struct.unpack("!I", h)[0]
            body = self.read(n)
            if body is None:
                return
            cmd, data = body[:1], body[1:]
            seen.append((cmd, data))
            if cmd == b"O":
                self.request.sendall(packet(b"O", struct.pack(
                    "!III", 6, self.server.actions, self.server.protocol)))
                continue
            if cmd in (b"D", b"A"):
                continue
            if cmd in (b"Q",):
                return
            out = self.server.answer(seen, cmd, data)
            nr = {b"C": 0x1000, b"H": 0x2000, b"M": 0x4000, b"R": 0x8000, b"T": 0x10000,
                  b"L": 0x80, b"N": 0x40000, b"B": 0x80000}.get(cmd, 0)
            if self.server.protocol & nr:
                continue  # it said it would not answer this step
            if out == "CLOSE":
                return
            if out == "HANG":
                time.sleep(60)
                return
            for p in out:
                self.request.sendall(p)


def cont():
    return [packet(b"c")]


def env_sender(seen):
    for cmd, data in reversed(seen):
        if cmd == b"M":
            return data.split(b"\0")[0].decode().strip("<>")
    return ""


def header(name, value):
    return name.encode() + b"\0" + value.encode() + b"\0"


def actions_answer(seen, cmd, data):
    """What the Actions milter says, by the sender's local part."""
    local = env_sender(seen).split("@")[0]
    if cmd == b"M" and local == "tmp":
        return [packet(b"t")]
    if cmd == b"R":
        rcpt = data.split(b"\0")[0].decode().strip("<>")
        if rcpt.startswith("multi@"):
            return [packet(b"y", b"550-5.7.1 first line\r\n550 5.7.1 second line\0")]
        if rcpt.startswith("soft@"):
            return [packet(b"t")]
        return cont()
    if cmd == b"E":
        if local == "mods":
            return [packet(b"h", header("X-Added", "at the end")),
                    packet(b"i", struct.pack("!I", 0) + header("X-Inserted", "on top")),
                    packet(b"m", struct.pack("!I", 1) + header("Subject", "changed subject")),
                    packet(b"m", struct.pack("!I", 1) + header("X-Remove-Me", "")),
                    packet(b"+", b"<bob@example.test>\0"),
                    packet(b"-", b"<alice@example.test>\0"),
                    packet(b"e", b"<changed@remote.test>\0"),
                    packet(b"b", b"a new body\r\nline two\n"),
                    packet(b"c")]
        if local == "discard":
            return [packet(b"d")]
        if local == "quarantine":
            return [packet(b"q", b"looks odd\0"), packet(b"c")]
        if local == "eomreject":
            return [packet(b"y", b"554 5.7.0 rejected at the end\0")]
        if local == "progress":
            return [packet(b"p"), packet(b"c")]
    return cont()


class Actions(unittest.TestCase):
    """Every reply and modification, from the scripted milter."""

    @classmethod
    def setUpClass(cls):
        cls.milter = ScriptedMilter(actions_answer)
        cls.m = Moatd(domains={"example.test": ["alice", "bob", "multi", "soft", "carol"]},
                      extra=milter_section("script", cls.milter.address()))
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.milter.close()

    def send(self, frm, rcpts, subject, extra=""):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail(frm)
            for r in rcpts:
                self.assertEqual(c.rcpt(r)[0], 250)
            return c.data(message(subject=subject, frm=frm, to=rcpts[0], extra=extra))

    def test_modifications(self):
        r = self.send("mods@remote.test", ["alice@example.test"], "to be changed",
                      extra="X-Remove-Me: yes\r\n")
        self.assertEqual(r[0], 250, r)
        self.m.wait_log(r"smtp milter-rewrite sid=")
        # alice was deleted, bob added: only bob gets it
        files = self.m.wait_maildir("bob", 1, containing="changed subject")
        with open(files[0], "rb") as f:
            got = f.read().decode("latin-1").replace("\r\n", "\n")
        head, body = got.split("\n\n", 1)
        lines = head.split("\n")
        self.assertIn("Return-Path: <changed@remote.test>", lines)
        i = lines.index("X-Inserted: on top")
        self.assertTrue(lines[i + 1].startswith("Received: from client.test"), lines)
        self.assertIn("Subject: changed subject", lines)
        self.assertNotIn("Subject: to be changed", lines)
        self.assertFalse(any(l.startswith("X-Remove-Me") for l in lines), lines)
        self.assertEqual(lines[-1], "X-Added: at the end")
        self.assertEqual(body, "a new body\nline two\n")
        time.sleep(0.5)
        self.assertEqual(self.m.maildir("alice"), [])
        self.m.wait_log(r"milter script: sid=\S+ delrcpt <alice@example.test>")

    def test_refusals(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            code, text = c.mail("tmp@remote.test")
            self.assertEqual((code, text), (451, b"4.7.1 Service unavailable - try again later"))
            self.assertEqual(c.mail("plain@remote.test")[0], 250)
            code, text = c.rcpt("multi@example.test")
            self.assertEqual(code, 550)
            self.assertEqual(text, b"5.7.1 first line\n5.7.1 second line")
            code, text = c.rcpt("soft@example.test")
            self.assertEqual((code, text), (451, b"4.7.1 Service unavailable - try again later"))
            self.assertEqual(c.rcpt("carol@example.test")[0], 250)
            self.assertEqual(c.noop()[0], 250)
        self.m.wait_log(r"smtp refuse sid=\S+ .*stage=rcpt rule=milter:script reply=\"550\"")

    def test_end_of_message_refusal_and_discard(self):
        r = self.send("eomreject@remote.test", ["carol@example.test"], "refused at the end")
        self.assertEqual(r, (554, b"5.7.0 rejected at the end"))
        r = self.send("discard@remote.test", ["carol@example.test"], "dropped")
        self.assertEqual(r[0], 250)
        self.m.wait_log(r"smtp discarded sid=")
        r = self.send("progress@remote.test", ["carol@example.test"], "after progress")
        self.assertEqual(r[0], 250)
        self.m.wait_maildir("carol", 1, containing="after progress")
        self.assertFalse(any(s in open(p, errors="replace").read()
                             for p in self.m.maildir("carol")
                             for s in ("refused at the end", "dropped")))

    def test_quarantine_and_release(self):
        r = self.send("quarantine@remote.test", ["carol@example.test"], "quarantined")
        self.assertEqual(r[0], 250, r)
        qid = re.search(rb"queued as ([0-9A-F]+)", r[1]).group(1).decode()
        self.m.wait_log(r"queue: %s: held" % qid)
        self.m.wait_log(r"milter script: sid=\S+ quarantine: \"?looks odd")
        time.sleep(1.5)
        self.assertFalse(any("quarantined" in open(p, errors="replace").read()
                             for p in self.m.maildir("carol")))
        r = moatctl(self.m, "queue", "release", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.m.wait_maildir("carol", 1, containing="quarantined")

    def test_milter_sees_the_session(self):
        n = len(self.milter.seen)
        self.send("seen@remote.test", ["carol@example.test"], "watched")
        conv = self.milter.seen[n]
        cmds = [c for c, _ in conv]
        # negotiation, the connect and HELO steps, then the message
        self.assertEqual(cmds[0], b"O")
        steps = [c for c in cmds if c not in (b"D",)]
        self.assertEqual(steps[:5], [b"O", b"C", b"H", b"M", b"R"])
        self.assertIn(b"T", steps)
        self.assertIn(b"L", steps)
        self.assertIn(b"N", steps)
        self.assertIn(b"B", steps)
        self.assertIn(b"E", steps)
        connect = [d for c, d in conv if c == b"C"][0]
        self.assertTrue(connect.endswith(b"4" + struct.pack("!H", struct.unpack(
            "!H", connect[-12:-10])[0]) + b"127.0.0.1\0") or b"127.0.0.1\0" in connect)
        macros = b"".join(d for c, d in conv if c == b"D")
        for name in (b"j\x00mx.example.test", b"{client_addr}\x00127.0.0.1",
                     b"{daemon_name}\x00moatd", b"{mail_addr}\x00seen@remote.test",
                     b"{rcpt_addr}\x00carol@example.test", b"i\x00"):
            self.assertIn(name, macros)
        hdrs = [d.split(b"\0")[0] for c, d in conv if c == b"L"]
        # the client's fields; our own Received line is not shown, as
        # Sendmail and Postfix show none of theirs
        self.assertEqual(hdrs, [b"From", b"To", b"Subject"])


class Faults(unittest.TestCase):
    """Milters that fail: on_error within the timeout, one log line, the
    session goes on, nothing acknowledged is lost."""

    @classmethod
    def setUpClass(cls):
        def silent(seen, cmd, data):
            return "HANG" if cmd == b"M" else cont()

        def closer(seen, cmd, data):
            return "CLOSE" if cmd == b"B" else cont()

        def garbage(seen, cmd, data):
            # an HTTP answer where a packet belongs: its "length" is huge
            return [b"HTTP/1.0 200 OK\r\n\r\n"] if cmd == b"M" else cont()

        def connect_reject(seen, cmd, data):
            return [packet(b"y", b"554 5.7.1 go away at connect\0")] if cmd == b"C" \
                else cont()

        def undeclared(seen, cmd, data):
            # a header modification it did not negotiate (actions = 0)
            return [packet(b"h", header("X-Sneaky", "1")), packet(b"c")] \
                if cmd == b"E" else cont()

        cls.milters = {
            "silent": (ScriptedMilter(silent), dict(on_error="tempfail", timeout_ms=500)),
            "closer": (ScriptedMilter(closer), dict(on_error="accept")),
            "garbage": (ScriptedMilter(garbage), dict(on_error="reject")),
            "connrej": (ScriptedMilter(connect_reject), dict(on_error="accept")),
            "undeclared": (ScriptedMilter(undeclared, actions=0), dict(on_error="tempfail")),
        }
        cls.dead = dead_port()
        extra = "".join(milter_section(name, srv.address(), listeners=[name], **opts)
                        for name, (srv, opts) in cls.milters.items())
        extra += milter_section("dead", "inet:127.0.0.1:%d" % cls.dead, listeners=["dead"],
                                on_error="tempfail")
        cls.ports = {}
        listeners = []
        for name in list(cls.milters) + ["dead", "mx"]:
            cls.ports[name] = free_port()
            listeners.append((name, "127.0.0.1:%d" % cls.ports[name], "mx"))
        cls.m = Moatd(listeners=listeners, extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        for srv, _ in cls.milters.values():
            srv.close()

    def session(self, listener, subject=None):
        """MAIL (and, if it passes, RCPT and DATA): the replies, the time."""
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", self.ports[listener], timeout=30) as c:
            c.ehlo("client.test")
            mail = c.mail("sender@remote.test")
            data = None
            if mail[0] == 250:
                self.assertEqual(c.rcpt("bob@example.test")[0], 250)
                data = c.data(message(subject=subject or "via " + listener,
                                      to="bob@example.test", body=("x" * 70 + "\r\n") * 4000))
            took = time.time() - t0
            self.assertEqual(c.rset()[0], 250)
            self.assertEqual(c.noop()[0], 250)
        return mail, data, took

    def test_silent_milter_times_out(self):
        mail, _, took = self.session("silent")
        self.assertEqual(mail, (451, b"4.7.1 Service unavailable - try again later"))
        self.assertLess(took, 1.5)
        self.assertGreater(took, 0.45)
        self.m.wait_log(r"milter silent: .*no reply within 500 ms\"?; on_error=tempfail")

    def test_milter_that_hangs_up_mid_body(self):
        mail, data, _ = self.session("closer", "past a dead milter")
        self.assertEqual(mail[0], 250)
        self.assertEqual(data[0], 250, data)
        self.m.wait_log(r"milter closer: .*closed the connection\"?; on_error=accept")
        self.m.wait_maildir("bob", 1, containing="past a dead milter")

    def test_garbage_gets_reject(self):
        mail, _, _ = self.session("garbage")
        self.assertEqual(mail, (550, b"5.7.1 Command rejected"))
        self.m.wait_log(r"milter garbage: .*packet longer than moat reads.*on_error=reject")

    def test_dead_milter(self):
        for _ in range(2):
            mail, _, took = self.session("dead")
            self.assertEqual(mail[0], 451)
            self.assertLess(took, 3)
        self.m.wait_log(r"milter dead: .*cannot connect to inet:127\.0\.0\.1:%d" % self.dead)

    def test_refused_at_connect(self):
        for _ in range(2):
            mail, _, _ = self.session("connrej")
        self.assertEqual(mail, (554, b"5.7.1 go away at connect"))

    def test_undeclared_modification(self):
        mail, data, _ = self.session("undeclared")
        self.assertEqual(data, (451, b"4.7.1 Service unavailable - try again later"))
        self.m.wait_log(r"milter undeclared: .*modification it did not negotiate")

    def test_other_listener_untouched(self):
        mail, data, took = self.session("mx", "plain path")
        self.assertEqual((mail[0], data[0]), (250, 250))
        self.m.wait_maildir("bob", 1, containing="plain path")


class Chain(unittest.TestCase):
    """Two milters in order: the second sees what the first added; a milter
    that wants no connect step and answers no header or body step."""

    @classmethod
    def setUpClass(cls):
        def first(seen, cmd, data):
            if cmd == b"E":
                return [packet(b"h", header("X-First", "was here")), packet(b"c")]
            return cont()

        def second(seen, cmd, data):
            return cont()

        # NOCONNECT | NR_HDR | NR_BODY
        cls.a = ScriptedMilter(first)
        cls.b = ScriptedMilter(second, protocol=0x1 | 0x80 | 0x80000)
        extra = (milter_section("first", cls.a.address())
                 + milter_section("second", cls.b.address()))
        cls.m = Moatd(extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.a.close()
        cls.b.close()

    def test_second_sees_the_first_ones_header(self):
        body = "".join("line %d of a body that takes many chunks\r\n" % i
                       for i in range(40000))
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=60) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            c.rcpt("bob@example.test")
            r = c.data(message(subject="chained", to="bob@example.test", body=body))
            self.assertEqual(r[0], 250, r)
        files = self.m.wait_maildir("bob", 1, containing="chained")
        self.assertIn("X-First: was here", open(files[0], errors="replace").read())
        conv = self.b.seen[-1]
        cmds = [c for c, _ in conv]
        self.assertNotIn(b"C", cmds)
        hdrs = [d.split(b"\0")[0] for c, d in conv if c == b"L"]
        self.assertIn(b"X-First", hdrs)
        got = b"".join(d for c, d in conv if c == b"B")
        self.assertEqual(len(got), len(body.encode()))
        self.assertGreater(len([c for c in cmds if c == b"B"]), 10)

"""Attack signatures (issue 22): every shipped rule's payload against the real
daemon. Each payload is played twice, from its own loopback address: at a
moatd without signatures and at one with etc/signatures.conf. The replies
must be the same (a hit changes no reply); the second must log the hit once
with its rule id and reference, score it in the store (moatctl show), list
it in moatctl events, and ban at attack_ban_score, after which the session
ends with 421 and the address is refused and exported. An ordinary message
that discusses the attacks in its Subject and body is delivered. A broken
signatures file is refused with file:line.

Traffic stays on 127.0.0.0/8; the addresses in the payloads are text.
"""

import base64
import os
import re
import socket
import ssl
import subprocess
import time
import unittest

from harness import BIN, RawClient, message
from test_tls_auth import TlsMoatd, client_ctx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIGNATURES = os.path.join(ROOT, "etc", "signatures.conf")


def rules():
    """{id: (stages, score, reference)} of the shipped file."""
    out = {}
    with open(SIGNATURES) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            rid, stages, score, ref = line.split()[:4]
            out[rid] = (stages, int(score), ref)
    return out


# ---- the plays: each returns the reply codes it heard, in order ----

def ehlo_then(*cmds):
    def play(m, src):
        c = m.raw(source=src)
        codes = [c.reply()[0], c.cmd("EHLO client.test")[0]]
        for cmd in cmds:
            codes.append(c.cmd(cmd)[0])
        c.close()
        return codes
    return play


def mail_then(*cmds, sender="MAIL FROM:<a@remote.test>"):
    return ehlo_then(sender, *cmds)


def first_octets(data, wait_greeting):
    def play(m, src):
        c = m.raw(source=src)
        codes = []
        if wait_greeting:
            codes.append(c.reply()[0])
        c.send(data)
        try:
            while True:
                codes.append(c.reply()[0])
        except (EOFError, ConnectionResetError, socket.timeout, TimeoutError):
            pass
        c.close()
        return codes
    return play


def overlong(verb):
    def play(m, src):
        c = m.raw(source=src)
        codes = [c.reply()[0], c.cmd("EHLO client.test")[0]]
        codes.append(c.cmd(verb + " " + "a" * 5000)[0])
        c.close()
        return codes
    return play


def smuggle(m, src):
    c = m.raw(source=src)
    codes = [c.reply()[0], c.cmd("EHLO client.test")[0],
             c.cmd("MAIL FROM:<a@remote.test>")[0], c.cmd("RCPT TO:<alice@example.test>")[0],
             c.cmd("DATA")[0]]
    c.send("Subject: s\r\n\r\nhello\n.\nMAIL FROM:<x@remote.test>\r\n.\r\n")
    codes.append(c.reply()[0])
    c.close()
    return codes


def sni(name):
    def play(m, src):
        c = m.raw(source=src)
        codes = [c.reply()[0], c.cmd("EHLO client.test")[0], c.cmd("STARTTLS")[0]]
        tls = client_ctx().wrap_socket(c.sock, server_hostname=name)
        # nothing more: the server's answer to a ban (421) may come at any
        # time now; wait for it or for a second of silence
        tls.settimeout(1)
        try:
            tls.recv(1000)
        except (socket.timeout, TimeoutError, ssl.SSLError, OSError):
            pass
        tls.close()
        return codes
    return play


def auth_user(user):
    def play(m, src):
        c = m.raw(source=src, port=m.sub_port)
        codes = [c.reply()[0], c.cmd("EHLO client.test")[0], c.cmd("STARTTLS")[0]]
        tls = client_ctx().wrap_socket(c.sock, server_hostname="mx.example.test")
        f = tls.makefile("rb")

        def cmd(text):
            tls.sendall(text.encode() + b"\r\n")
            while True:
                line = f.readline()
                if not line or line[3:4] != b"-":
                    return int(line[:3])
        codes.append(cmd("EHLO client.test"))
        resp = base64.b64encode(b"\0" + user.encode() + b"\0wrong password").decode()
        codes.append(cmd("AUTH PLAIN " + resp))
        tls.close()
        return codes
    return play


# rule id -> the play that fires it
PLAYS = {
    "sendmail-debug": ehlo_then("DEBUG"),
    "sendmail-wiz": ehlo_then("WIZ"),
    "sendmail-kill": ehlo_then("KILL"),
    "smtp-turn": ehlo_then("TURN"),
    "exchange-xexch50": ehlo_then("XEXCH50 2 2"),
    "exim-bdat": mail_then("RCPT TO:<alice@example.test>", "BDAT 10 LAST"),
    "pipe-address": mail_then('RCPT TO:<"|/bin/sh -c id">'),
    "file-address": mail_then("RCPT TO:</etc/passwd>"),
    "include-address": mail_then("RCPT TO:<:include:/etc/passwd>"),
    "overlong-helo": overlong("HELO"),
    "overlong-mail": overlong("MAIL FROM:<"),
    "overlong-rcpt": overlong("RCPT TO:<"),
    "format-positional": ehlo_then("VRFY %1$n"),
    "format-run": mail_then("RCPT TO:<%s%s%s%s@example.test>"),
    "opensmtpd-7247": ehlo_then("MAIL FROM:<;sleep 66;>"),
    "shell-subst": mail_then("RCPT TO:<$(id)@example.test>"),
    "exim-expansion": mail_then(
        "RCPT TO:<${run{\\x2Fbin\\x2Fsh\\t-c\\t\\x22id\\x22}}@localhost>"),
    "exim-sni-backslash": sni("mx.example.test\\"),
    "exim-21nails-param": ehlo_then("MAIL FROM:<a@remote.test> AUTH=x\\\\\\\\"),
    "log4shell": ehlo_then("HELO ${jndi:ldap://127.0.0.1/a}"),
    "shellshock": ehlo_then("HELO () { :; }; /bin/id"),
    "smtp-smuggling": smuggle,
    "http-request": first_octets(b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n", False),
    "proxy-connect": first_octets(b"CONNECT 127.0.0.1:25 HTTP/1.0\r\n\r\n", True),
    "tls-on-plaintext": first_octets(b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" +
                                     b"\x00" * 32 + b"\r\n", True),
    "sql-injection": auth_user("admin' OR '1'='1"),
}


# The greeting waits, so that what a client sends at once is sent before
# it, every time: the connect stage's test, and the same early-talker
# answer from both daemons.
LIMITS = {"greet_delay_ms": 300}


def sig_moatd(**kw):
    extra_screen = 'screen {\n\tsignatures_file = "%s"\n}\n' % SIGNATURES
    m = TlsMoatd(limits=dict(LIMITS), **kw)
    m.extra += extra_screen
    m.write_conf()
    return m


def own_rules_moatd(text):
    """A moatd with signatures (not started) whose file holds text: (m, path)."""
    m = sig_moatd()
    path = os.path.join(m.dir, "rules.conf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    m.extra = m.extra.replace(SIGNATURES, path)
    m.write_conf()
    return m, path


def ctl(m, *args):
    out = subprocess.run([os.path.join(BIN, "moatctl"), "-c", m.conf] + list(args),
                         capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout + out.stderr


class Signatures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plain = TlsMoatd(limits=dict(LIMITS))
        cls.sig = sig_moatd()
        for m in (cls.plain, cls.sig):
            m.add_user("alice", "correct horse")
            m.start()

    @classmethod
    def tearDownClass(cls):
        for m in (cls.plain, cls.sig):
            m.stop()
            m.cleanup()

    def show(self, addr):
        rc, out = ctl(self.sig, "show", addr)
        self.assertEqual(rc, 0, out)
        return out

    def test_every_shipped_rule(self):
        shipped = rules()
        self.assertEqual(set(shipped), set(PLAYS), "a play for every shipped rule")
        for i, (rid, play) in enumerate(sorted(PLAYS.items())):
            stages, score, ref = shipped[rid]
            src = "127.0.6.%d" % (i + 1)
            with self.subTest(rule=rid):
                before = play(self.plain, src)
                mark = len(self.sig.log())
                after = play(self.sig, src)
                self.assertEqual(after, before, "%s: the replies changed" % rid)
                line = self.sig.wait_log(
                    r"attack sid=\w+ client=%s stage=\w+ rule=%s ref=%s score=%d " % (
                        re.escape(src), re.escape(rid), re.escape(ref), score),
                    since=mark)
                self.assertIsNotNone(line)
                hits = re.findall(r"attack sid=\w+ client=%s stage=\w+ rule=%s " % (
                    re.escape(src), re.escape(rid)), self.sig.log()[mark:])
                self.assertEqual(len(hits), 1, "logged once: %s" % hits)
                # the score, in the store (a play may hit more than one rule)
                deadline = time.time() + 5
                while True:
                    m = re.search(r"attack-score (\d+)", self.show(src))
                    if m and int(m.group(1)) >= score or time.time() > deadline:
                        break
                    time.sleep(0.1)
                self.assertGreaterEqual(int(m.group(1)), score)
                rc, events = ctl(self.sig, "events", src)
                self.assertEqual(rc, 0, events)
                self.assertRegex(events, r"\S+Z %s \w+ %s %s " % (
                    re.escape(src), re.escape(rid), re.escape(ref)))
                if score >= 10 and "header" not in stages:
                    self.assertRegex(self.show(src), r"\nban yes .*reason=.*attack: ")
                    c = self.sig.raw(source=src)
                    self.assertEqual(c.reply()[0], 421, "%s: banned" % rid)
                    c.close()

    def test_probes_add_up_to_a_ban(self):
        src = "127.0.7.1"
        c = self.sig.raw(source=src)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("DEBUG")[0], 500)
        self.sig.wait_log(r"attack sid=\w+ client=127\.0\.7\.1 stage=command "
                          r"rule=sendmail-debug")
        time.sleep(0.3)
        self.assertRegex(self.show(src), r"attack-score 5\b")
        self.assertRegex(self.show(src), r"\nban no")
        # the second probe reaches attack_ban_score: its own reply, then 421
        self.assertEqual(c.cmd("WIZ")[0], 500)
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("4.7.1", lines[0])
        self.assertTrue(c.closed())
        self.sig.wait_log(r"attack ban client=127\.0\.7\.1 score=10 "
                          r"rule=\"sendmail-debug \(CVE-1999-0095\)\"|"
                          r"attack ban client=127\.0\.7\.1 score=10 rule=\"sendmail-wiz")
        # refused from now on, and exported with the other bans
        c = self.sig.raw(source=src)
        self.assertEqual(c.reply()[0], 421)
        c.close()
        zone = os.path.join(self.sig.dir, "state", "bans.zone")
        rc, out = ctl(self.sig, "export", "rbldnsd", zone)
        self.assertEqual(rc, 0, out)
        with open(zone) as f:
            self.assertRegex(f.read(), r"(?m)^127\.0\.7\.1\b")
        rc, out = ctl(self.sig, "stats")
        self.assertRegex(out, r"attack_hits=[1-9]")
        self.assertRegex(out, r"attack_bans=[1-9]")
        # unban forgets the score too
        rc, out = ctl(self.sig, "unban", src)
        self.assertEqual(rc, 0, out)
        self.assertRegex(self.show(src), r"attack-score 0")

    def test_mail_about_attacks_is_delivered(self):
        src = "127.0.7.2"
        body = ("Hi,\r\n\r\nthe scanners send ${jndi:ldap://127.0.0.1/a} in HELO, "
                "RCPT TO:<\"|/bin/sh -c id\"> and ${run{/bin/sh}} as Exim's bug, "
                "and () { :; }; for Shellshock. DEBUG and WIZ are old sendmail.\r\n"
                "GET / HTTP/1.1\r\n.. a dot line\r\n")
        s = self.sig.smtp(source=src)
        s.ehlo("client.test")
        s.mail("writer@remote.test")
        s.rcpt("alice@example.test")
        code, _ = s.data(message(subject="about ${jndi:ldap://x/a} and () { :; }; attacks",
                                 body=body))
        self.assertEqual(code, 250)
        s.quit()
        self.sig.wait_maildir("alice", 1, containing="about ${jndi:")
        # the Subject is a header: scored, never banned on alone; the body
        # is not matched at all
        self.sig.wait_log(r"attack sid=\w+ client=127\.0\.7\.2 stage=header rule=log4shell")
        self.assertNotRegex(self.sig.log(), r"client=127\.0\.7\.2 stage=header "
                            r"rule=\S+ ref=\S+ score=\d+ text=\S*(?:HELO|Hi,)")
        self.assertRegex(self.show(src), r"\nban no")
        s = self.sig.smtp(source=src)
        self.assertEqual(s.noop()[0], 250)
        s.quit()


class ReportCap(unittest.TestCase):
    def test_a_session_reports_at_most_32_texts(self):
        """Header hits never ban: without a cap, every header line of every
        message would be a log line and a store write."""
        m = sig_moatd()
        try:
            m.start()
            s = m.smtp(source="127.0.9.50")
            s.ehlo("client.test")
            s.mail("writer@remote.test")
            s.rcpt("alice@example.test")
            extra = "".join("X-Probe-%d: ${jndi:ldap://127.0.0.1/%d}\r\n" % (i, i)
                            for i in range(100))
            self.assertEqual(s.data(message(extra=extra))[0], 250)
            s.quit()
            m.wait_log(r"attack sid=\w+ client=127\.0\.9\.50: more than 32 texts")
            hits = re.findall(r"attack sid=\w+ client=127\.0\.9\.50 stage=header",
                              m.log())
            self.assertEqual(len(hits), 32)
        finally:
            m.stop()
            m.cleanup()


class Reload(unittest.TestCase):
    def test_rules_come_and_go_with_reload(self):
        m, rules_file = own_rules_moatd("probe-one command 1 - icase:XYZZY1\n")
        try:
            m.start()

            def hits(word, src):
                mark = len(m.log())
                c = m.raw(source=src)
                c.reply()
                self.assertEqual(c.cmd(word)[0], 500)
                c.cmd("QUIT")
                c.close()
                m.wait_log(r"smtp disconnect .*client=%s" % re.escape(src), since=mark)
                return re.findall(r"attack sid=\w+ client=%s stage=command rule=(\S+)" %
                                  re.escape(src), m.log()[mark:])

            self.assertEqual(hits("XYZZY1", "127.0.8.1"), ["probe-one"])
            self.assertEqual(hits("XYZZY2", "127.0.8.2"), [])
            with open(rules_file, "a") as f:
                f.write("probe-two command 1 - icase:XYZZY2\n")
            mark = len(m.log())
            m.hup()
            m.wait_log(r"configuration reloaded", since=mark)
            m.wait_log(r"smtp worker 0 ready", since=mark)
            self.assertEqual(hits("XYZZY2", "127.0.8.3"), ["probe-two"])
            # a broken file: the running rules stay
            with open(rules_file, "a") as f:
                f.write("probe-three command 1 - re:(\n")
            mark = len(m.log())
            m.hup()
            m.wait_log(r"has errors; keeping the running configuration", since=mark)
            self.assertEqual(hits("XYZZY2", "127.0.8.4"), ["probe-two"])
        finally:
            m.stop()
            m.cleanup()


class BadSignatures(unittest.TestCase):
    def test_file_and_line(self):
        m, bad = own_rules_moatd("# comment\nok command 1 - lit:x\nbroken command 1 - re:(x\n")
        try:
            out = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", m.conf],
                                 capture_output=True, text=True)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("%s:3: unbalanced parentheses" % bad, out.stderr)
        finally:
            m.cleanup()


if __name__ == "__main__":
    unittest.main()

"""End-to-end: what an authenticated sender may do and what its mail says
(issue 28, item 4).

- per-login budgets on submission (submit_msg_rate at MAIL,
  submit_rcpt_rate at RCPT, submit_sender_rate per sender address): 450
  4.7.1 once over, logged once with the login; another login still sends;
  a trusted network without a login is not counted; two hosts sharing a
  Redis store share the budget;
- Message-ID and Date added to submitted mail that lacks them, kept when
  present, never added to a stranger's mail on the MX;
- auth_in_received: the login in the Received: field only when asked.

Traffic stays on 127.0.0.0/8; Redis is a private redis-server on loopback.
"""

import email.utils
import os
import re
import time
import unittest

from harness import message
from peers import Redis
from test_settings_print import moatd_N
from test_tls_auth import TlsMoatd


def refusals(m, rule, since=0):
    return [l for l in m.log()[since:].splitlines()
            if "smtp refuse " in l and " rule=%s " % rule in l]


def login(m, user, password="pw " + "x" * 8):
    s = m.submission()
    s.login(user, password)
    return s


class SubmitRates(unittest.TestCase):
    """submit_msg_rate = 2, submit_rcpt_rate = 3, submit_sender_rate = 3 a
    day; alice, bob, carol and dave log in; 127.0.0.9 is a trusted network."""

    @classmethod
    def setUpClass(cls):
        cls.m = TlsMoatd(limits={"submit_msg_rate": 2, "submit_rcpt_rate": 3,
                                 "submit_sender_rate": 3, "submit_rate_window": 86400},
                         trusted=["127.0.0.9/32"])
        # dave and erin may both send as shared@example.test
        senders = os.path.join(cls.m.dir, "senders")
        with open(senders, "w") as f:
            f.write("dave shared@example.test\nerin shared@example.test\n")
        cls.m.extra = cls.m.extra.replace(
            "auth {\n", 'auth {\n\tsender_map = "%s"\n' % senders)
        cls.m.write_conf()
        for u in ("alice", "bob", "carol", "dave", "erin"):
            cls.m.add_user(u, "pw " + "x" * 8)
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def mark(self):
        return len(self.m.log())

    def test_msg_rate_per_login(self):
        mark = self.mark()
        s = login(self.m, "alice")
        for _ in range(2):
            self.assertEqual(s.mail("alice@example.test")[0], 250)
            self.assertEqual(s.rset()[0], 250)
        code, resp = s.mail("alice@example.test")
        self.assertEqual((code, resp[:5]), (450, b"4.7.1"), resp)
        s.rset()
        # a new session (another client address could do no better) too
        s2 = login(self.m, "alice")
        self.assertEqual(s2.mail("alice@example.test")[0], 450)
        s2.quit()
        s.quit()
        self.m.wait_log(r"rule=submit-msg-rate", since=mark)
        lines = refusals(self.m, "submit-msg-rate", mark)
        self.assertEqual(len(lines), 2, lines)  # once per refusal
        self.assertRegex(lines[0], r'smtp refuse sid=\w+ client=127\.0\.0\.1:\d+ stage=mail '
                         r'rule=submit-msg-rate reply="450 4\.7\.1" '
                         r'addr=<alice@example\.test> user=alice retry-after-ms=\d+')
        # bob has his own budget
        s = login(self.m, "bob")
        self.assertEqual(s.mail("bob@example.test")[0], 250)
        self.assertEqual(s.rcpt("alice@example.test")[0], 250)
        self.assertEqual(s.data(message(frm="bob@example.test",
                                        to="alice@example.test"))[0], 250)
        s.quit()

    def test_rcpt_rate_per_login(self):
        mark = self.mark()
        s = login(self.m, "carol")
        self.assertEqual(s.mail("carol@example.test")[0], 250)
        for rcpt in ("alice", "bob", "postmaster"):
            self.assertEqual(s.rcpt(rcpt + "@example.test")[0], 250)
        code, resp = s.rcpt("friend@elsewhere.test")
        self.assertEqual((code, resp[:5]), (450, b"4.7.1"), resp)
        s.quit()
        self.m.wait_log(r"rule=submit-rcpt-rate", since=mark)
        lines = refusals(self.m, "submit-rcpt-rate", mark)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'stage=rcpt rule=submit-rcpt-rate reply="450 4\.7\.1" '
                         r'addr=<friend@elsewhere\.test> user=carol')

    def test_sender_rate_across_logins(self):
        """A sender address two logins may use has one budget (3): dave's
        two and erin's one spend it, erin's second is refused though her
        login's budget (2) has room."""
        mark = self.mark()
        s = login(self.m, "dave")
        for _ in range(2):
            self.assertEqual(s.mail("shared@example.test")[0], 250)
            s.rset()
        s.quit()
        s = login(self.m, "erin")
        self.assertEqual(s.mail("Shared@Example.Test")[0], 250)
        s.rset()
        code, resp = s.mail("shared@example.test")
        self.assertEqual((code, resp[:5]), (450, b"4.7.1"), resp)
        s.quit()
        lines = refusals(self.m, "submit-sender-rate", mark)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(" user=erin ", lines[0])
        self.assertEqual(refusals(self.m, "submit-msg-rate", mark), [])

    def test_trusted_network_without_login_not_counted(self):
        mark = self.mark()
        s = self.m.smtp(source="127.0.0.9")
        s.ehlo()
        for _ in range(5):
            self.assertEqual(s.mail("app@example.test")[0], 250)
            for rcpt in ("alice", "bob"):
                self.assertEqual(s.rcpt(rcpt + "@example.test")[0], 250)
            s.rset()
        s.quit()
        self.assertEqual([l for l in self.m.log()[mark:].splitlines()
                          if "rule=submit-" in l], [])


class SubmitRatesConfig(unittest.TestCase):
    def test_settings_print(self):
        m = TlsMoatd(limits={"submit_msg_rate": 7, "submit_sender_rate": 9})
        m.extra += "auth_in_received = true\n"
        m.write_conf()
        self.addCleanup(m.cleanup)
        r = moatd_N(m.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = dict(l.split(" = ", 1) for l in r.stdout.splitlines() if " = " in l)
        self.assertEqual(got["limits.submit_msg_rate"], "7")
        self.assertEqual(got["limits.submit_sender_rate"], "9")
        self.assertEqual(got["limits.submit_rcpt_rate"], "0")  # the harness's
        self.assertEqual(got["auth_in_received"], "true")
        self.assertNotIn("limits.submit_rate_window", got)  # at its default

    def test_out_of_range_refused_with_line(self):
        for key, value in (("submit_rate_window", 10), ("submit_msg_rate", -1),
                           ("submit_rcpt_rate", 1000001), ("submit_sender_rate", -5)):
            m = TlsMoatd(limits={key: value})
            m.assert_refused(self, r"moat\.conf:\d+: .*%s = %d is out of range" % (key, value))


class SubmitRatesShared(unittest.TestCase):
    """Two hosts on one Redis store: a login's budget is the same on both."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        cls.hosts = []
        for name in ("mx1.example.test", "mx2.example.test"):
            m = TlsMoatd(limits={"submit_msg_rate": 3}, hostname=name)
            m.extra += ('store = "redis"\nredis {\n\taddress = "%s"\n'
                        '\tprefix = "site:"\n}\n' % cls.redis.address())
            m.write_conf()
            m.add_user("alice", "pw " + "x" * 8)
            m.add_user("bob", "pw " + "x" * 8)
            cls.hosts.append(m.start())

    @classmethod
    def tearDownClass(cls):
        for m in cls.hosts:
            m.stop()
            m.cleanup()
        cls.redis.stop()

    def test_budget_shared_between_hosts(self):
        a, b = self.hosts
        for m in (a, b, a):
            s = login(m, "alice")
            self.assertEqual(s.mail("alice@example.test")[0], 250)
            s.quit()
        s = login(b, "alice")
        code, resp = s.mail("alice@example.test")
        self.assertEqual((code, resp[:5]), (450, b"4.7.1"), resp)
        s.quit()
        b.wait_log(r"rule=submit-msg-rate reply=\"450 4\.7\.1\" "
                   r"addr=<alice@example\.test> user=alice")
        s = login(a, "bob")
        self.assertEqual(s.mail("bob@example.test")[0], 250)
        s.quit()
        self.assertTrue(any(k.endswith("rate:user-msg:alice")
                            for k in self.redis.cli("--scan").split()),
                        "the budget lives in the shared store")


def fields(path):
    """The header section of a delivered message: [(name, value)], in order,
    unfolded, and the body."""
    with open(path, "rb") as f:
        text = f.read().decode()
    head, _, body = text.partition("\n\n")
    out = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            out.append((name, value.strip()))
    return out, body


def named(fs, name):
    return [v for n, v in fs if n.lower() == name.lower()]


def queued_id(resp):
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


def local_submit(m, data, sender="", rcpt="bob@example.test"):
    """One transaction on the local submission socket (run_dir/submit.sock)
    with data as the message: the queue id."""
    import socket
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(os.path.join(m.dir, "run", "submit.sock"))
    f = c.makefile("rb")

    def reply():
        lines = []
        while True:
            line = f.readline()
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    try:
        assert reply()[0] == 220
        for cmd in ("EHLO localhost", "MAIL FROM:<%s>" % sender, "RCPT TO:<%s>" % rcpt,
                    "DATA"):
            c.sendall(cmd.encode() + b"\r\n")
            code, text = reply()
            assert code in (250, 354), (cmd, text)
        c.sendall(data.encode() + b".\r\n")
        code, text = reply()
        assert code == 250, text
        c.sendall(b"QUIT\r\n")
        return queued_id(text)
    finally:
        c.close()


class SubmitFields(unittest.TestCase):
    """Date and Message-ID for submitted mail that lacks them; the login in
    Received: only with auth_in_received (this instance: the default)."""

    @classmethod
    def setUpClass(cls):
        cls.m = TlsMoatd()
        cls.m.add_user("alice", "pw " + "x" * 8)
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def submit(self, data, rcpt="bob@example.test"):
        s = login(self.m, "alice")
        s.mail("alice@example.test")
        s.rcpt(rcpt)
        code, resp = s.data(data)
        self.assertEqual(code, 250, resp)
        s.quit()
        return queued_id(resp)

    def delivered(self, subject, user="bob"):
        files = self.m.wait_maildir(user, 1, containing="Subject: " + subject + "\n")
        self.assertEqual(len(files), 1, files)
        return fields(files[0])

    def assert_date_now(self, value):
        when = email.utils.parsedate_to_datetime(value)
        self.assertLess(abs(when.timestamp() - time.time()), 120, value)
        # RFC 5322 form: "Mon, 07 Dec 2026 17:42:11 +0000", local offset
        self.assertRegex(value, r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d\d:\d\d:\d\d [+-]\d{4}$")
        self.assertEqual(when.utcoffset().total_seconds(),
                         time.localtime(when.timestamp()).tm_gmtoff)

    def test_missing_fields_added(self):
        mark = len(self.m.log())
        qid = self.submit(message(frm="alice@example.test", to="bob@example.test",
                                  subject="bare", body="hello\r\nDate: in the body\r\n"))
        fs, body = self.delivered("bare")
        self.assertEqual(len(named(fs, "Date")), 1, fs)
        self.assert_date_now(named(fs, "Date")[0])
        self.assertEqual(len(named(fs, "Message-ID")), 1, fs)
        self.assertRegex(named(fs, "Message-ID")[0],
                         r"^<%s\.[0-9a-f]{16}@mx\.example\.test>$" % qid)
        # at the end of the header section, the body untouched
        self.assertEqual([n for n, _ in fs][-2:], ["Date", "Message-ID"])
        self.assertEqual(body, "hello\nDate: in the body\n")
        self.m.wait_log(r"smtp added sid=\w+ id=%s fields=Date,Message-ID" % qid,
                        since=mark)

    def test_own_fields_kept(self):
        own = ("Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
               "Message-Id: <own.1@client.example.test>\r\n")
        self.submit(message(frm="alice@example.test", to="bob@example.test",
                            subject="complete", extra=own))
        fs, _ = self.delivered("complete")
        self.assertEqual(named(fs, "Date"), ["Tue, 1 Dec 2026 10:00:00 +0100"])
        self.assertEqual(named(fs, "Message-ID"), ["<own.1@client.example.test>"])

    def test_only_the_missing_one_added(self):
        self.submit(message(frm="alice@example.test", to="bob@example.test",
                            subject="half", extra="Message-ID: <half@client.test>\r\n"))
        fs, _ = self.delivered("half")
        self.assertEqual(named(fs, "Message-ID"), ["<half@client.test>"])
        self.assertEqual(len(named(fs, "Date")), 1, fs)

    def test_body_without_empty_line_and_header_only(self):
        # "Subject: nobreak" then a body line: ours go between, with the
        # empty line that was missing
        self.submit("From: alice@example.test\r\nSubject: nobreak\r\nhello there\r\n")
        fs, body = self.delivered("nobreak")
        self.assertEqual(len(named(fs, "Date")), 1, fs)
        self.assertEqual(len(named(fs, "Message-ID")), 1, fs)
        self.assertEqual(body, "hello there\n")
        # a message that is only a header section
        self.submit("From: alice@example.test\r\nSubject: headonly\r\n")
        fs, body = self.delivered("headonly")
        self.assertEqual([n for n, _ in fs][-2:], ["Date", "Message-ID"])
        self.assertEqual(body, "")

    def test_header_beyond_the_scan_left_alone(self):
        """A header section of over 64 KiB is past the scan: delivered as
        sent, nothing added (moat.conf(5) says so)."""
        pad = "".join("X-Pad-%d: %s\r\n" % (i, "p" * 70) for i in range(900))
        self.submit("From: alice@example.test\r\nSubject: bighead\r\n" + pad +
                    "\r\nbody\r\n")
        fs, body = self.delivered("bighead")
        self.assertEqual(len(named(fs, "X-Pad-899")), 1)
        self.assertEqual((named(fs, "Date"), named(fs, "Message-ID")), ([], []))
        self.assertEqual(body, "body\n")

    def test_stranger_on_mx_unchanged(self):
        mark = len(self.m.log())
        s = self.m.smtp()
        s.ehlo()
        s.mail("someone@remote.test")
        s.rcpt("bob@example.test")
        self.assertEqual(s.data(message(subject="stranger", to="bob@example.test"))[0], 250)
        s.quit()
        fs, _ = self.delivered("stranger")
        self.assertEqual(named(fs, "Date"), [])
        self.assertEqual(named(fs, "Message-ID"), [])
        self.assertEqual([l for l in self.m.log()[mark:].splitlines() if "smtp added" in l],
                         [])

    def test_local_submission_gets_them(self):
        qid = local_submit(self.m, "From: root@example.test\r\nSubject: viasocket\r\n"
                           "\r\nfrom cron\r\n")
        fs, _ = self.delivered("viasocket")
        self.assert_date_now(named(fs, "Date")[0])
        self.assertRegex(named(fs, "Message-ID")[0],
                         r"^<%s\.[0-9a-f]{16}@mx\.example\.test>$" % qid)

    def test_login_not_in_received_by_default(self):
        self.submit(message(frm="alice@example.test", to="bob@example.test",
                            subject="noauthline"))
        fs, _ = self.delivered("noauthline")
        received = named(fs, "Received")
        self.assertEqual(len(received), 1, fs)
        self.assertIn("with ESMTPSA", received[0])
        self.assertNotIn("alice", received[0])
        self.assertNotIn("Authenticated", received[0])


class AuthInReceived(unittest.TestCase):
    def test_login_in_received_when_asked(self):
        m = TlsMoatd()
        m.extra += "auth_in_received = true\n"
        m.write_conf()
        m.add_user("alice", "pw " + "x" * 8)
        m.start()
        try:
            s = login(m, "alice")
            s.mail("alice@example.test")
            s.rcpt("bob@example.test")
            self.assertEqual(s.data(message(frm="alice@example.test", to="bob@example.test",
                                            subject="authline"))[0], 250)
            s.quit()
            files = m.wait_maildir("bob", 1, containing="Subject: authline")
            fs, _ = fields(files[0])
            received = named(fs, "Received")
            self.assertEqual(len(received), 1, fs)
            # Postfix's words and place: after the TLS comment, before "by"
            self.assertRegex(received[0], r"^from client\.test \(localhost \[127\.0\.0\.1\]\) "
                             r"\(using TLSv1\.[23] [^)]*\)\) "
                             r"\(Authenticated sender: alice\) "
                             r"by mx\.example\.test \(moat\) with ESMTPSA id ")
            # and the MX's mail names nobody
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            s.rcpt("bob@example.test")
            self.assertEqual(s.data(message(subject="mxline", to="bob@example.test"))[0], 250)
            s.quit()
            files = m.wait_maildir("bob", 1, containing="Subject: mxline")
            fs, _ = fields(files[0])
            self.assertNotIn("Authenticated", named(fs, "Received")[0])
            with open(m.conf) as f:
                self.assertIn("auth_in_received = true", f.read())
        finally:
            m.stop()
            m.cleanup()


if __name__ == "__main__":
    unittest.main()

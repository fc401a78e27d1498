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


if __name__ == "__main__":
    unittest.main()

"""End-to-end: SMTPUTF8 (RFC 6531/6532; issue 25, item 6) against the real
moatd, a real smtp-sink (no SMTPUTF8) and a real Postfix (SMTPUTF8 on).

EHLO lists SMTPUTF8; with MAIL ... SMTPUTF8 a UTF-8 sender and recipient
are accepted and the message (UTF-8 header fields too) is delivered to the
recipient's Maildir; a domain configured in U-labels takes mail addressed
in U-labels and in A-labels alike, into one mailbox; without the parameter
a UTF-8 address gets 553 5.6.7; a message that needs SMTPUTF8 goes to a
next hop that offers it (Postfix accepts the UTF-8 sender only so) and
bounces with 5.6.7 at one that does not (no silent downgrade), the report
going to the trusted sender. Traffic goes to 127.0.0.0/8 only.
"""

import os
import smtplib
import time
import unittest

from harness import Moatd
from peers import Postfix, SmtpSink

JOSE = "jos\u00e9"                       # josé
USER_CN = "\u7528\u6237"                 # 用户
DOMAIN_CN = "\u4f8b\u5b50.test"          # 例子.test
BUECHER = "b\u00fccher.test"             # bücher.test
BUECHER_A = "xn--bcher-kva.test"


def utf8_message(subject, to):
    return ("From: %s@%s\r\nTo: %s\r\nSubject: %s\r\n\r\nGr\u00fc\u00dfe\r\n" % (
        USER_CN, DOMAIN_CN, to, subject)).encode()


class SmtpUtf8(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink().start()
        cls.pf = Postfix(mynetworks=["127.0.0.0/8"], main={"smtputf8_enable": "yes"}).start()
        cls.m = Moatd(
            domains={"example.test": ["postmaster", "alice"],
                     "exemple.test": ["postmaster", JOSE],
                     BUECHER: ["anna"],
                     "utf8hop.test": ["zoe"]},
            domain_extra={"utf8hop.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % cls.pf.port},
            trusted=["127.0.0.3/32"],
            relayhost="127.0.0.1:%d" % cls.sink.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.pf.stop()
        cls.sink.stop()

    def send(self, sender, rcpt, subject, utf8=True, source="127.0.0.1"):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30,
                          source_address=(source, 0)) as c:
            c.ehlo("client.test")
            self.assertTrue(c.has_extn("smtputf8"))
            code, text = c.mail(sender, ["SMTPUTF8"] if utf8 else [])
            if code != 250:
                return code, text
            code, text = c.rcpt(rcpt)
            if code != 250:
                return code, text
            return c.data(utf8_message(subject, rcpt))

    def mailbox(self, domain, user):
        d = os.path.join(self.m.dir, "mail", domain, user, "new")
        return [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []

    def wait_mailbox(self, domain, user, subject, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in self.mailbox(domain, user):
                with open(p, encoding="utf-8", errors="strict") as f:
                    text = f.read()
                if "Subject: %s" % subject in text:
                    return text
            time.sleep(0.1)
        self.fail("%s@%s never got %r" % (user, domain, subject))

    def test_utf8_sender_and_recipient_to_maildir(self):
        code, text = self.send("%s@%s" % (USER_CN, DOMAIN_CN), "%s@exemple.test" % JOSE,
                               "utf8 to maildir")
        self.assertEqual(code, 250, text)
        got = self.wait_mailbox("exemple.test", JOSE, "utf8 to maildir")
        # the sender's domain as its A-labels, the local parts as sent
        self.assertIn("Return-Path: <%s@xn--fsqu00a.test>" % USER_CN, got)
        self.assertIn("Delivered-To: %s@exemple.test" % JOSE, got)
        self.assertIn("Gr\u00fc\u00dfe", got)

    def test_u_labels_and_a_labels_are_one_domain(self):
        self.assertEqual(self.send("a@remote.test", "anna@%s" % BUECHER, "by u-label")[0], 250)
        self.assertEqual(self.send("a@remote.test", "anna@%s" % BUECHER_A, "by a-label")[0],
                         250)
        self.wait_mailbox(BUECHER_A, "anna", "by u-label")
        self.wait_mailbox(BUECHER_A, "anna", "by a-label")

    def test_utf8_without_the_parameter_refused(self):
        # smtplib will not send these: bytes on the wire
        c = self.m.raw()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        code, lines = c.cmd("MAIL FROM:<%s@exemple.test>" % JOSE)
        self.assertEqual(code, 553, lines)
        self.assertIn("5.6.7", lines[0])
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<%s@exemple.test>" % JOSE)
        self.assertEqual(code, 553, lines)
        self.assertIn("5.6.7", lines[0])
        # broken UTF-8 is no address, even with the parameter
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> SMTPUTF8")[0], 250)
        c.send(b"RCPT TO:<jos\xc3@exemple.test>\r\n")
        self.assertEqual(c.reply()[0], 501)
        c.cmd("QUIT")

    def test_next_hop_with_smtputf8(self):
        code, text = self.send("%s@%s" % (USER_CN, DOMAIN_CN), "zoe@utf8hop.test",
                               "to postfix")
        self.assertEqual(code, 250, text)
        self.m.wait_log(r"deliver id=\S+ to=<zoe@utf8hop\.test> relay=127\.0\.0\.1\S* .*"
                        r"status=sent", timeout=20)

    def test_next_hop_without_smtputf8_bounces(self):
        code, text = self.send("alice@example.test", "far@remote.test", "no downgrade",
                               source="127.0.0.3")
        self.assertEqual(code, 250, text)
        self.m.wait_log(r"deliver id=\S+ to=<far@remote\.test> .*status=bounced "
                        r"text=\"554 5\.6\.7 ", timeout=20)
        report = self.wait_mailbox("example.test", "alice", "Undelivered Mail Returned to Sender")
        self.assertIn("Status: 5.6.7", report)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: the DSN extension (RFC 3461; issue 25, item 7) against the
real moatd, with real smtp-sinks as next hops (one offering DSN, one not
(-N), one refusing every RCPT (-f RCPT)).

From a trusted client, with alice@example.test as the sender (her reports
land in her Maildir): NOTIFY=SUCCESS for a local mailbox gets a
"delivered" report with Original-Recipient and Original-Envelope-Id; for a
next hop without DSN a "relayed" one; a next hop with DSN is handed NOTIFY,
ORCPT, RET and ENVID and we report nothing; NOTIFY=FAILURE with RET=FULL
gets the failure report with the whole message; NOTIFY=NEVER gets none; a
stranger's NOTIFY=SUCCESS gets none (no backscatter). EHLO lists DSN, and
broken DSN parameters get 501. Traffic goes to 127.0.0.0/8 only.
"""

import glob
import os
import smtplib
import time
import unittest

from harness import Moatd, make_tmpdir, message
from peers import SmtpSink


class Dsn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dump_dsn = make_tmpdir("moat-sinkdump-")
        cls.dump_plain = make_tmpdir("moat-sinkdump-")
        cls.sink_dsn = SmtpSink(dump_dir=cls.dump_dsn).start()
        cls.sink_plain = SmtpSink(dump_dir=cls.dump_plain, args=["-N"]).start()
        cls.sink_reject = SmtpSink(args=["-f", "RCPT"]).start()
        cls.m = Moatd(
            domains={"example.test": ["postmaster", "alice", "bob"],
                     "dsnhop.test": ["xavier"], "reject.test": ["carol"]},
            domain_extra={
                "dsnhop.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % cls.sink_dsn.port,
                "reject.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % cls.sink_reject.port},
            trusted=["127.0.0.3/32"],
            relayhost="127.0.0.1:%d" % cls.sink_plain.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        for s in (cls.sink_dsn, cls.sink_plain, cls.sink_reject):
            s.stop()

    def send(self, rcpt, subject, rcpt_options=(), mail_options=(), source="127.0.0.3",
             sender="alice@example.test"):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30,
                          source_address=(source, 0)) as c:
            c.ehlo("client.test")
            self.assertTrue(c.has_extn("dsn"))
            code, text = c.mail(sender, list(mail_options))
            self.assertEqual(code, 250, text)
            code, text = c.rcpt(rcpt, list(rcpt_options))
            self.assertEqual(code, 250, text)
            code, text = c.data(message(subject=subject, to=rcpt, frm=sender,
                                        body="the body of %s\r\n" % subject))
            self.assertEqual(code, 250, text)

    def report(self, subject, kind):
        """alice's report (kind: its Subject) about the message subject."""
        files = self.m.wait_maildir("alice", 1, containing="Subject: %s" % subject,
                                    timeout=20)
        for p in files:
            with open(p, errors="replace") as f:
                text = f.read()
            if "Subject: %s" % kind in text:
                return text
        self.fail("no %r report for %r" % (kind, subject))

    def no_report(self, subject, wait=2.0):
        time.sleep(wait)
        for p in self.m.maildir("alice"):
            with open(p, errors="replace") as f:
                self.assertNotIn("Subject: %s" % subject, f.read())

    def test_success_for_a_local_mailbox(self):
        self.send("bob@example.test", "dsn local success",
                  rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bold@example.test"],
                  mail_options=["RET=HDRS", "ENVID=QQ314159"])
        text = self.report("dsn local success", "Successful Mail Delivery Report")
        self.assertIn("Original-Envelope-Id: QQ314159", text)
        self.assertIn("Original-Recipient: rfc822; bob+old@example.test", text)
        self.assertIn("Final-Recipient: rfc822; bob@example.test", text)
        self.assertIn("Action: delivered", text)
        self.assertIn("Status: 2.0.0", text)
        self.assertIn("Content-Type: text/rfc822-headers", text)
        self.assertNotIn("the body of dsn local success", text)  # RET=HDRS
        self.m.wait_log(r"deliver id=\S+ dsn=success dsn-id=\S+ to=<alice@example\.test>")

    def test_relayed_to_a_next_hop_without_dsn(self):
        self.send("far@remote.test", "dsn relayed", rcpt_options=["NOTIFY=SUCCESS"])
        text = self.report("dsn relayed", "Successful Mail Delivery Report")
        self.assertIn("Action: relayed", text)
        self.assertIn("Remote-MTA: dns; 127.0.0.1[127.0.0.1]:%d" % self.sink_plain.port, text)

    def test_passed_on_to_a_next_hop_with_dsn(self):
        self.send("xavier@dsnhop.test", "dsn passed on",
                  rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;x+2Bold@dsnhop.test"],
                  mail_options=["RET=FULL", "ENVID=AB+2BCD"])
        deadline = time.time() + 20
        copy = None
        while copy is None and time.time() < deadline:
            for p in glob.glob(os.path.join(self.dump_dsn, "*", "*")):
                with open(p, errors="replace") as f:
                    t = f.read()
                if "dsn passed on" in t:
                    copy = t
            time.sleep(0.2)
        self.assertIsNotNone(copy, "the DSN next hop never got it")
        self.assertIn("RET=FULL", copy)
        self.assertIn("ENVID=AB+2BCD", copy)
        self.assertIn("NOTIFY=SUCCESS,DELAY", copy)
        self.assertIn("ORCPT=rfc822;x+2Bold@dsnhop.test", copy)
        # the next hop reports from now on: nothing from us
        self.no_report("dsn passed on")

    def test_failure_with_the_whole_message(self):
        self.send("carol@reject.test", "dsn failure full",
                  rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;carol@old.test"],
                  mail_options=["RET=FULL"])
        text = self.report("dsn failure full", "Undelivered Mail Returned to Sender")
        self.assertIn("Original-Recipient: rfc822; carol@old.test", text)
        self.assertIn("Action: failed", text)
        self.assertIn("Content-Type: message/rfc822", text)
        self.assertIn("the body of dsn failure full", text)

    def test_never(self):
        self.send("carol@reject.test", "dsn never", rcpt_options=["NOTIFY=NEVER"])
        self.m.wait_log(r"deliver id=\S+ to=<carol@reject\.test> .*status=bounced")
        self.m.wait_log(r"deliver id=\S+ dsn=none reason=notify")
        self.no_report("dsn never")

    def test_no_report_to_a_stranger(self):
        self.send("bob@example.test", "dsn stranger", rcpt_options=["NOTIFY=SUCCESS"],
                  source="127.0.0.1")
        self.m.wait_log(r"deliver id=\S+ dsn=none to=<alice@example\.test> "
                        r"reason=sender-not-ours")
        self.no_report("dsn stranger")

    def test_broken_parameters(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            self.assertEqual(c.mail("a@remote.test", ["RET=MOST"])[0], 501)
            self.assertEqual(c.mail("a@remote.test", ["ENVID=a+0Ab"])[0], 501)
            self.assertEqual(c.mail("a@remote.test")[0], 250)
            self.assertEqual(c.rcpt("bob@example.test", ["NOTIFY=NEVER,SUCCESS"])[0], 501)
            self.assertEqual(c.rcpt("bob@example.test", ["ORCPT=bob@example.test"])[0], 501)
            self.assertEqual(c.rcpt("bob@example.test", ["NOTIFY=SUCCESS"])[0], 250)


if __name__ == "__main__":
    unittest.main()

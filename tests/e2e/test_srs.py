"""End-to-end: SRS, the Sender Rewriting Scheme (issue 25, item 4), against
the real moatd, a real smtp-sink as the next hop and Debian's postsrsd.

A stranger's message to an alias with a remote target leaves with its
sender rewritten (SRS0=...@the srs domain), exactly as postsrsd rewrites
it with the same secret; a bounce to that address (null sender) goes back
to the original sender; an address postsrsd made is undone by moat and
one moat made by postsrsd; an address made with the older of two secrets
still works; forged, expired and broken SRS addresses get 550 5.1.1; a
sender at a local domain and mail from a trusted network keep their
sender. A bad srs section or secret file is refused by moatd -n with
file:line. Traffic goes to 127.0.0.0/8 only.
"""

import base64
import glob
import hashlib
import hmac
import os
import smtplib
import time
import unittest

from harness import Moatd, make_tmpdir, message
from peers import PostSRSd, SmtpSink

SECRET = "a-long-enough-srs-secret-for-tests"
OLD_SECRET = "the-secret-of-last-year"


def srs0(local, host, secret, days_ago=0, domain="example.test"):
    """An SRS0 address made here, as libsrs2 makes it: HMAC-SHA1 over the
    lower-cased day stamp, host and local part."""
    day = (int(time.time()) // 86400 - days_ago) % 1024
    b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    stamp = b32[day >> 5] + b32[day & 31]
    mac = hmac.new(secret.encode(), (stamp + host + local).lower().encode(), hashlib.sha1)
    h = base64.b64encode(mac.digest()).decode()[:4]
    return "SRS0=%s=%s=%s=%s@%s" % (h, stamp, host, local, domain)


class Srs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = make_tmpdir("moat-srs-")
        cls.secret_file = os.path.join(d, "srs.secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET + "\n" + OLD_SECRET + "\n")
        os.chmod(cls.secret_file, 0o600)
        aliases = os.path.join(d, "aliases")
        with open(aliases, "w") as f:
            f.write("fwd: far@remote.test\nboth: bob, other@remote.test\n")
        cls.dump = make_tmpdir("moat-sinkdump-")
        cls.sink = SmtpSink(dump_dir=cls.dump).start()
        cls.postsrsd = PostSRSd("example.test", cls.secret_file).start()
        cls.m = Moatd(
            domains={"example.test": ["postmaster", "bob"]},
            trusted=["127.0.0.9/32"],
            extra='aliases_file = "%s"\nsrs {\n\tdomain = "example.test"\n'
                  '\tsecret_file = "%s"\n}\n' % (aliases, cls.secret_file),
            relayhost="127.0.0.1:%d" % cls.sink.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.postsrsd.stop()
        cls.sink.stop()

    def send(self, sender, rcpt, subject, source="127.0.0.1"):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30,
                          source_address=(source, 0)) as c:
            c.ehlo("client.test")
            c.mail(sender)
            code, text = c.rcpt(rcpt)
            if code != 250:
                return code, text.decode(errors="replace")
            return c.data(message(subject=subject, to=rcpt))

    def relayed(self, subject, timeout=20):
        """The sink's copy of the message with this subject: its text."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in glob.glob(os.path.join(self.dump, "*", "*")):
                with open(p, errors="replace") as f:
                    text = f.read()
                if "Subject: %s\n" % subject in text.replace("\r\n", "\n"):
                    return text
            time.sleep(0.2)
        self.fail("%r never reached the next hop" % subject)

    @staticmethod
    def envelope(text):
        """(MAIL FROM, RCPT TO) as smtp-sink saw them."""
        lines = dict(l.split(": ", 1) for l in text.splitlines()[:5] if ": " in l)
        # the address without the parameters after it (SIZE, ORCPT, ...)
        return (lines["X-Mail-Args"].split(">", 1)[0].lstrip("<"),
                lines["X-Rcpt-Args"].split(">", 1)[0].lstrip("<"))

    def test_forward_rewritten_as_postsrsd_does(self):
        self.assertEqual(self.send("carol@sender.test", "fwd@example.test",
                                   "forwarded once")[0], 250)
        mail_from, rcpt = self.envelope(self.relayed("forwarded once"))
        self.assertEqual(rcpt, "far@remote.test")
        self.assertRegex(mail_from, r"^SRS0=[^=]{4}=[A-Z2-7]{2}=sender\.test=carol@example\.test$")
        # the same secret, the same day: postsrsd writes the same address
        self.assertEqual(mail_from, self.postsrsd.forward("carol@sender.test"))
        self.assertEqual(self.postsrsd.reverse(mail_from), "carol@sender.test")
        self.m.wait_log(r"deliver id=\S+ srs sender=<carol@sender\.test> "
                        r"rewritten=\"<SRS0=\S+=sender\.test=carol@example\.test>\"")

    def test_bounce_goes_back_to_the_sender(self):
        self.assertEqual(self.send("dave@sender.test", "fwd@example.test",
                                   "to be bounced")[0], 250)
        srs_addr, _ = self.envelope(self.relayed("to be bounced"))
        # the final destination bounces it: a null sender to the SRS address
        self.assertEqual(self.send("", srs_addr, "the bounce of it")[0], 250)
        mail_from, rcpt = self.envelope(self.relayed("the bounce of it"))
        self.assertEqual((mail_from, rcpt), ("", "dave@sender.test"))
        # in any case, as some systems lower-case local parts
        self.assertEqual(self.send("", srs_addr.lower(), "the lower-case bounce")[0], 250)
        self.assertEqual(self.envelope(self.relayed("the lower-case bounce"))[1],
                         "dave@sender.test")

    def test_postsrsd_address_undone(self):
        addr = self.postsrsd.forward("erin@elsewhere.test")
        self.assertEqual(self.send("", addr, "bounce via postsrsd's address")[0], 250)
        self.assertEqual(self.envelope(self.relayed("bounce via postsrsd's address"))[1],
                         "erin@elsewhere.test")
        # an SRS1 address (a second forwarder's) leads to the first one's
        srs1 = self.postsrsd.forward("SRS0=abcd=AB=first.test=frank@hop.test")
        self.assertTrue(srs1.startswith("SRS1="), srs1)
        self.assertEqual(self.send("", srs1, "bounce via srs1")[0], 250)
        self.assertEqual(self.envelope(self.relayed("bounce via srs1"))[1],
                         "SRS0=abcd=AB=first.test=frank@hop.test")

    def test_older_secret_still_works(self):
        addr = srs0("gina", "old.test", OLD_SECRET)
        self.assertEqual(self.send("", addr, "bounce under the old secret")[0], 250)
        self.assertEqual(self.envelope(self.relayed("bounce under the old secret"))[1],
                         "gina@old.test")

    def test_forged_expired_broken_refused(self):
        good = srs0("hank", "h.test", SECRET)
        bad = [good.replace("=hank@", "=hanj@"),             # changed user
               srs0("hank", "h.test", "not-our-secret"),      # unknown secret
               srs0("hank", "h.test", SECRET, days_ago=30),   # too old
               "SRS0=abcd=AB=h.test@example.test",             # no user
               "SRS1=abcd=relay.test@example.test"]            # no rest
        for addr in bad:
            code, text = self.send("", addr, "forged")
            self.assertEqual(code, 550, (addr, text))
            self.assertIn("5.1.1", text)
            self.assertIn("invalid or expired SRS address", text)
        self.assertEqual(self.send("", srs0("hank", "h.test", SECRET, days_ago=20),
                                   "twenty days old")[0], 250)

    def test_local_and_trusted_senders_kept(self):
        # a sender at our own domain: SPF there already allows us
        self.assertEqual(self.send("bob@example.test", "fwd@example.test",
                                   "from a local sender")[0], 250)
        self.assertEqual(self.envelope(self.relayed("from a local sender"))[0],
                         "bob@example.test")
        # a trusted network's mail is relayed, not forwarded
        self.assertEqual(self.send("ivan@sender.test", "fwd@example.test",
                                   "from a trusted client", source="127.0.0.9")[0], 250)
        self.assertEqual(self.envelope(self.relayed("from a trusted client"))[0],
                         "ivan@sender.test")

    def test_local_copy_keeps_sender(self):
        self.assertEqual(self.send("jane@sender.test", "both@example.test",
                                   "local and remote")[0], 250)
        got = self.m.wait_maildir("bob", 1, containing="local and remote")
        with open(got[0], errors="replace") as f:
            self.assertIn("Return-Path: <jane@sender.test>", f.read())
        self.assertTrue(self.envelope(self.relayed("local and remote"))[0].startswith("SRS0="))


class BadSrs(unittest.TestCase):
    def check(self, section, secret, pattern):
        d = make_tmpdir("moat-srs-")
        path = os.path.join(d, "srs.secret")
        with open(path, "w") as f:
            f.write(secret)
        os.chmod(path, 0o600)
        m = Moatd(extra=section.replace("SECRET", path))
        m.assert_refused(self, pattern)

    def test_refused(self):
        ok = SECRET + "\n"
        self.check('srs {\n\tsecret_file = "SECRET"\n}\n', ok,
                   r"moat\.conf:\d+: srs: domain = \"\": a domain name is needed")
        self.check('srs {\n\tdomain = "example.test"\n}\n', ok,
                   r"moat\.conf:\d+: srs: a secret_file is needed")
        self.check('srs {\n\tdomain = "example.test"\n\tsecret_file = "SECRET"\n'
                   '\tseparator = "/"\n}\n', ok,
                   r"moat\.conf:\d+: srs: separator = \"/\": one of = \+ -")
        self.check('srs {\n\tdomain = "example.test"\n\tsecret_file = "SECRET"\n'
                   '\tmax_age = 0\n}\n', ok,
                   r"moat\.conf:\d+: srs: max_age = 0: from 1 to 365 days")
        self.check('srs {\n\tdomain = "example.test"\n\tsecret_file = "SECRET"\n}\n',
                   "\nshort\n", r"srs\.secret:2: the signing secret \(the first\) has 5 "
                                r"octets, fewer than 16")
        self.check('srs {\n\tdomain = "example.test"\n\tsecret_file = "SECRET"\n}\n',
                   "\n\n", r"srs\.secret: srs secret_file holds no secret")


if __name__ == "__main__":
    unittest.main()

"""End-to-end: moatd never relays for strangers (issue 2, RFC 2505 §2.1).

A stranger (127.0.0.1, untrusted) tries every classic relay trick with
several senders; every one is refused and nothing is queued. A trusted
client (127.0.0.3) sends the same recipients and they are queued. nmap's
smtp-open-relay script agrees that the server is no open relay.
"""

import subprocess
import unittest

from harness import Moatd, message

TRICKS = [
    "victim@elsewhere.test",                # plain third party
    "victim%elsewhere.test@example.test",   # percent hack via a local domain
    "elsewhere.test!victim@example.test",   # bang path via a local domain
    "elsewhere.test!victim",                # bare bang path
    '"victim@elsewhere.test"@example.test', # quoted @
    '"victim%elsewhere.test"@example.test', # quoted %
    "@example.test:victim@elsewhere.test",  # source route through us
    "@example.test,@mx.example.test:victim@elsewhere.test",  # multi-hop route
    "victim@[192.0.2.1]",                   # external IP literal
    "victim%elsewhere.test@[127.0.0.1]",    # percent via our own IP literal
    "victim@[IPv6:2001:db8::1]",
    "alice@EXAMPLE.TEST.",                  # trailing dot (not RFC 5321 syntax)
]
# Not an address at all (RFC 5321 has no unquoted @ in a local part):
SYNTAX_TRICKS = ["victim@elsewhere.test@example.test"]

SENDERS = ["", "spammer@remote.test", "alice@example.test", "postmaster@example.test",
           "alice@mx.example.test"]


def send_trick(m, source, sender, rcpt):
    c = m.raw(source=source)
    c.reply()
    c.cmd("EHLO client.test")
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    assert code == 250, lines
    code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
    c.cmd("QUIT")
    c.close()
    return code, lines


class StrangerCannotRelay(unittest.TestCase):
    def test_every_trick_refused_with_every_sender(self):
        with Moatd() as m:
            for sender in SENDERS:
                for rcpt in TRICKS + SYNTAX_TRICKS:
                    code, lines = send_trick(m, "127.0.0.1", sender, rcpt)
                    self.assertIn(code, (501, 550, 553, 554), (sender, rcpt, lines))
                    if rcpt in TRICKS[:11]:
                        self.assertEqual(code, 554, (sender, rcpt, lines))
                        self.assertIn("5.7.1", lines[0])
            # forged HELO naming ourselves changes nothing
            c = m.raw()
            c.reply()
            c.cmd("EHLO mx.example.test")
            c.cmd("MAIL FROM:<postmaster@example.test>")
            self.assertEqual(c.cmd("RCPT TO:<victim@elsewhere.test>")[0], 554)
            c.close()
            self.assertEqual(m.queue_files(), [])
            refusals = m.log_lines(r"smtp refuse .*stage=rcpt")
            self.assertGreaterEqual(len(refusals), len(SENDERS) * len(TRICKS))

    def test_local_mail_still_accepted(self):
        with Moatd() as m:
            for rcpt in ("alice@example.test", "ALICE@Example.Test", "postmaster",
                         "POSTMASTER@EXAMPLE.TEST", "@elsewhere.test:bob@example.test"):
                code, lines = send_trick(m, "127.0.0.1", "", rcpt)
                self.assertEqual(code, 250, (rcpt, lines))
            code, _ = send_trick(m, "127.0.0.1", "x@remote.test", "nobody@example.test")
            self.assertEqual(code, 550)

    def test_null_sender_and_postmaster_never_refused(self):
        with Moatd() as m:
            s = m.smtp()
            s.ehlo()
            self.assertEqual(s.mail("<>")[0], 250)
            self.assertEqual(s.rcpt("<Postmaster>")[0], 250)
            self.assertEqual(s.data(message(frm="MAILER-DAEMON"))[0], 250)
            s.quit()
            m.wait_maildir("postmaster", 1)


class TrustedClientRelays(unittest.TestCase):
    def test_same_recipients_are_queued_for_trusted_network(self):
        with Moatd(trusted=["127.0.0.3/32"]) as m:
            s = m.smtp(source="127.0.0.3")
            s.ehlo()
            s.mail("alice@example.test")
            accepted = []
            for rcpt in TRICKS[:11]:
                code, resp = s.rcpt("<%s>" % rcpt)
                self.assertEqual(code, 250, (rcpt, resp))
                accepted.append(rcpt)
            # syntax is syntax, for everyone
            self.assertEqual(s.rcpt("<%s>" % SYNTAX_TRICKS[0])[0], 501)
            code, resp = s.data(message())
            self.assertEqual(code, 250, resp)
            s.quit()
            # queued: the relay host of this test answers nobody, so the
            # message waits in the queue
            m.wait_log(r"deliver .*to=<victim@elsewhere\.test> .*status=deferred")
            q = m.queue_files()
            self.assertEqual(len(q), 1)
            with open("%s/spool/queue/%s" % (m.dir, q[0])) as f:
                env = f.read().split("\nbody\n")[0]
            self.assertIn("origin trusted", env)
            # tricks resolved to their real destinations
            self.assertIn("rcpt - victim@elsewhere.test", env)
            self.assertIn("rcpt - victim@[192.0.2.1]", env)
            self.assertIn("rcpt - victim@[IPv6:2001:db8::1]", env)
            # the same client address is a stranger when not listed
            code, _ = send_trick(m, "127.0.0.4", "alice@example.test", TRICKS[0])
            self.assertEqual(code, 554)


class Nmap(unittest.TestCase):
    def test_nmap_finds_no_open_relay(self):
        with Moatd() as m:
            out = subprocess.run(
                ["nmap", "-Pn", "-n", "-p", str(m.port), "--script", "+smtp-open-relay",  # "+": run on any port
                 "--script-args",
                 "smtp-open-relay.domain=example.test,smtp-open-relay.ip=127.0.0.1",
                 "127.0.0.1"], capture_output=True, text=True, timeout=300)
            print(out.stdout)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("smtp-open-relay", out.stdout)
            self.assertIn("Server doesn't seem to be an open relay", out.stdout)
            self.assertNotIn("Server is an open relay", out.stdout)
            self.assertEqual(m.queue_files(), [])


if __name__ == "__main__":
    unittest.main()

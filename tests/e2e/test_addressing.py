"""End-to-end: addressing (issue 25, first part) against the real moatd.

Aliases from a global aliases_file and from a domain's own, expanded at
RCPT (an unknown name still refused before DATA): to local users, to other
aliases, to a remote address (delivered to the relayhost, a real
smtp-sink); an alias over a user keeps the user's copy; a domain's
catch-all; aliases that only lead to each other refused as a loop; address
extensions (alice+tag@ is alice's, Delivered-To keeps the whole address;
with maildir_extension_folders, her folder if it exists); a forward that
comes back (its Delivered-To: already there) refused as a loop;
a message with more Received: lines than hop_count_max refused; bad
aliases files refused by moatd -n with file:line. Traffic goes to
127.0.0.0/8 only.
"""

import glob
import os
import shutil
import smtplib
import time
import unittest

from harness import Moatd, make_tmpdir, message
from peers import SmtpSink


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class Aliases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dump = make_tmpdir("moat-sinkdump-")
        cls.sink = SmtpSink(dump_dir=cls.dump).start()
        d = make_tmpdir("moat-aliases-")
        glob_file = write(os.path.join(d, "aliases"), (
            "# the global aliases: bare names are at every local domain\n"
            "info: alice, bob\n"
            "team: info,\n"
            "\tfar@remote.test\n"
            "carol: carol, alice   # a user with an alias of her name keeps a copy\n"
            "loop1: loop2\n"
            "loop2: loop1\n"))
        other = write(os.path.join(d, "other.aliases"), (
            "sales: bob@example.test\n"
            "@: dave@example.test\n"))
        cls.m = Moatd(domains={"example.test": ["postmaster", "alice", "bob", "carol", "dave"],
                               "other.test": []},
                      domain_extra={"other.test": '\taliases_file = "%s"\n' % other},
                      extra='aliases_file = "%s"\nmaildir_extension_folders = true\n'
                            % glob_file,
                      relayhost="127.0.0.1:%d" % cls.sink.port,
                      limits={"hop_count_max": 5}).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.sink.stop()

    def send(self, rcpts, subject, extra=""):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            codes = [c.rcpt(r) for r in rcpts]
            if all(code == 250 for code, _ in codes):
                return codes, c.data(message(subject=subject, to=rcpts[0], extra=extra))
            return codes, None

    def delivered(self, user, subject, count=1):
        return self.m.wait_maildir(user, count, containing=subject)

    def test_alias_to_users(self):
        codes, data = self.send(["info@example.test"], "to info")
        self.assertEqual(data[0], 250, codes)
        for user in ("alice", "bob"):
            got = open(self.delivered(user, "to info")[0], errors="replace").read()
            self.assertIn("Delivered-To: %s@example.test" % user, got)
        self.m.wait_log(r"smtp alias sid=\S+ rcpt=<info@example\.test> expanded=2")

    def test_nested_alias_and_remote_target(self):
        codes, data = self.send(["team@example.test"], "to the team")
        self.assertEqual(data[0], 250, codes)
        self.delivered("alice", "to the team")
        self.delivered("bob", "to the team")
        deadline = time.time() + 15
        while True:
            found = [p for p in glob.glob(os.path.join(self.dump, "*", "*"))
                     if "to the team" in open(p, errors="replace").read()]
            if found or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(found, "the remote target never reached the next hop")
        with open(found[0], errors="replace") as f:
            copy = f.read()
        self.assertIn("far@remote.test", copy)
        # the copy that leaves names the alias it went through, once
        self.assertEqual(copy.count("Delivered-To: team@example.test\n"), 1)

    def test_forward_that_comes_back_is_a_loop(self):
        # far@remote.test forwards it back: the Delivered-To: of our
        # forward is already there, so it is refused (and bounced once by
        # the sender), never forwarded again
        codes, data = self.send(["team@example.test"], "came back",
                                extra="Delivered-To: team@example.test\r\n")
        self.assertEqual(data[0], 554, data)
        self.assertIn(b"5.4.6", data[1])
        self.assertIn(b"mail forwarding loop", data[1])
        self.m.wait_log(r"smtp refuse sid=\S+ .*stage=data rule=forward-loop "
                        r"reply=\"554 5\.4\.6\" addr=<team@example\.test>")
        # a Delivered-To: of a mailbox (not a forward of ours) is no loop
        codes, data = self.send(["bob@example.test"], "redirected",
                                extra="Delivered-To: bob@example.test\r\n")
        self.assertEqual(data[0], 250, data)

    def test_extension_folder_only_if_it_exists(self):
        box = os.path.join(self.m.dir, "mail", "example.test", "dave")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(box, ".lists", sub), exist_ok=True)
        shutil.chown(box, "moat", "moat")
        for root, dirs, _ in os.walk(box):
            for x in dirs:
                shutil.chown(os.path.join(root, x), "moat", "moat")
        for rcpt, subject in (("dave+lists@example.test", "to the lists folder"),
                              ("dave+other@example.test", "no such folder"),
                              ("dave+..@example.test", "a dot folder")):
            codes, data = self.send([rcpt], subject)
            if rcpt == "dave+..@example.test":
                # not a dot-string: refused, never a path
                self.assertNotEqual(codes[0][0], 250, codes)
                continue
            self.assertEqual(data[0], 250, codes)
        folder = glob.glob(os.path.join(box, ".lists", "new", "*"))
        deadline = time.time() + 10
        while not folder and time.time() < deadline:
            time.sleep(0.1)
            folder = glob.glob(os.path.join(box, ".lists", "new", "*"))
        self.assertEqual(len(folder), 1)
        with open(folder[0]) as f:
            text = f.read()
        self.assertIn("to the lists folder", text)
        self.assertIn("Delivered-To: dave+lists@example.test", text)
        # a folder that does not exist is never made: the inbox
        self.delivered("dave", "no such folder")
        self.assertFalse(os.path.exists(os.path.join(box, ".other")))

    def test_alias_over_a_user_keeps_her_copy(self):
        codes, data = self.send(["carol@example.test"], "for carol")
        self.assertEqual(data[0], 250, codes)
        self.delivered("carol", "for carol")
        self.delivered("alice", "for carol")

    def test_catch_all_and_domain_alias(self):
        codes, data = self.send(["anything@other.test"], "caught")
        self.assertEqual(data[0], 250, codes)
        self.delivered("dave", "caught")
        codes, data = self.send(["sales@other.test"], "sales mail")
        self.assertEqual(data[0], 250, codes)
        self.delivered("bob", "sales mail")
        self.assertFalse(any("sales mail" in open(p, errors="replace").read()
                             for p in self.m.maildir("dave")))

    def test_unknown_still_refused_at_rcpt(self):
        codes, _ = self.send(["nobody@example.test"], "x")
        self.assertEqual(codes[0][0], 550)
        self.assertIn(b"5.1.1", codes[0][1])

    def test_alias_loop_refused(self):
        codes, _ = self.send(["loop1@example.test"], "x")
        self.assertEqual(codes[0], (550, b"5.4.6 <loop1@example.test>: Recipient address "
                                         b"rejected: mail forwarding loop"))

    def test_extension(self):
        codes, data = self.send(["dave+lists@example.test"], "with a tag")
        self.assertEqual(data[0], 250, codes)
        got = open(self.delivered("dave", "with a tag")[0], errors="replace").read()
        self.assertIn("Delivered-To: dave+lists@example.test", got)
        # an extension on an alias is the alias's
        codes, data = self.send(["info+x@example.test"], "alias with a tag")
        self.assertEqual(data[0], 250, codes)
        self.delivered("alice", "alias with a tag")
        # but not on a name nobody has
        codes, _ = self.send(["nobody+x@example.test"], "x")
        self.assertEqual(codes[0][0], 550)

    def test_hop_count(self):
        five = "".join("Received: from hop%d.test by x.test; Mon, 7 Dec 2026 00:00:00 +0000\r\n"
                       % i for i in range(5))
        codes, data = self.send(["bob@example.test"], "five hops", extra=five)
        self.assertEqual(data[0], 250, data)
        codes, data = self.send(["bob@example.test"], "six hops",
                                extra=five + "Received: from one.more by x.test; x\r\n")
        self.assertEqual(data[0], 554, data)
        self.assertIn(b"5.4.6 Error: too many hops (6 Received: lines", data[1])
        time.sleep(0.5)
        self.assertFalse(any("six hops" in open(p, errors="replace").read()
                             for p in self.m.maildir("bob")))


class BadAliases(unittest.TestCase):
    def check(self, text, pattern, domain_file=False):
        d = make_tmpdir("moat-aliases-")
        path = write(os.path.join(d, "aliases"), text)
        if domain_file:
            m = Moatd(domain_extra={"example.test": '\taliases_file = "%s"\n' % path})
        else:
            m = Moatd(extra='aliases_file = "%s"\n' % path)
        m.assert_refused(self, pattern)

    def test_refused(self):
        self.check("ok: alice\nprog: |/bin/sh -c x\n",
                   r"aliases:2: target \"\|/bin/sh -c x\": program, file and :include: "
                   r"targets are not supported")
        self.check("file: /var/mail/x\n", r"aliases:1: target \"/var/mail/x\": program")
        self.check("inc: :include:/etc/list\n", r"aliases:1: target \":include:/etc/list\"")
        self.check("nocolon alice\n", r"aliases:1: \"name: target, \.\.\.\" expected")
        self.check("x: nobody\n",
                   r"alias \"x@example\.test\": target \"nobody@example\.test\" is no user "
                   r"or alias")
        self.check("x: alice\nx: bob\n", r"alias \"x@example\.test\" is given twice")
        self.check("  alice\n", r"aliases:1: a continuation line without an entry")
        self.check("@other.test: alice\n", r"catch-all \"@other\.test\": not one of",
                   domain_file=True)

    def test_bad_delimiter(self):
        Moatd(extra='recipient_delimiter = "ab"\n').assert_refused(
            self, r"moat\.conf:\d+: recipient_delimiter = \"ab\"")


if __name__ == "__main__":
    unittest.main()

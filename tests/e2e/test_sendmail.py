"""End-to-end: moat-sendmail and mailq (issue 26, item 6).

An ordinary local user (made here with useradd when missing) runs the real
moat-sendmail the way cron, PHP and git do. Its message goes over the local
submission socket (run_dir/submit.sock) into the running moatd, which
records the user's uid from the kernel (SO_PEERCRED): in the log's
connect and queued lines and in the Received: field. Checked here: -t
recipients from To/Cc/Bcc with the Bcc gone from every copy, -f and -F,
a "." line kept with -i and ending the message without it, an SMTP
session with -bs, the queue listed by -bp and by the name mailq (root
only), exit 75 when moatd is not running, a forged name that changes
nothing, and the server's limits still holding. Traffic stays on this
machine: a unix socket, and loopback for the dead relay host.
"""

import os
import pwd
import re
import subprocess
import unittest

from harness import BIN, Moatd, make_tmpdir

USER = "moat-sm-test"
SENDMAIL = os.path.join(BIN, "moat-sendmail")
EX_USAGE, EX_DATAERR, EX_NOUSER, EX_NOPERM, EX_TEMPFAIL = 64, 65, 67, 77, 75


def ensure_user():
    """The ordinary user the tests run as (made once, kept: others may reuse it)."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True, capture_output=True)
        return pwd.getpwnam(USER)


def sendmail(conf, args, text, user=USER, env=None, argv0=None, timeout=60):
    """Run moat-sendmail as user (None: root) with text on its standard input."""
    prog = argv0 or SENDMAIL
    cmd = [prog, "-C", conf] + list(args)
    if user is not None:
        cmd = ["runuser", "-u", user, "--"] + cmd
    data = text.encode() if isinstance(text, str) else text
    return subprocess.run(cmd, input=data, capture_output=True, timeout=timeout,
                          env=env)


class Sendmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pw = ensure_user()
        cls.m = Moatd(domains={"example.test": ["alice", "bob", "carol", "dave"]},
                      limits={"message_size_max": 100000})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def mail(self, user, token, count=1):
        files = self.m.wait_maildir(user, count, containing=token)
        with open(files[-1], "rb") as f:
            return f.read().decode(errors="replace")

    def queued(self, token_sender):
        """The queued line of the message whose envelope sender is given."""
        return self.m.wait_log(r"smtp queued .*from=<%s>" % re.escape(token_sender))[-1]

    def test_t_recipients_bcc_removed_user_recorded(self):
        msg = ("From: Someone <someone@example.test>\n"
               "To: Alice <alice@example.test>\n"
               "Cc: bob@example.test (Bob)\n"
               "Bcc: carol@example.test\n"
               "Subject: t-token-1\n"
               "\n"
               "hello from cron\n")
        r = sendmail(self.m.conf, ["-t", "-i"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        copies = [self.mail(u, "t-token-1") for u in ("alice", "bob", "carol")]
        uid = self.pw.pw_uid
        for text in copies:
            head = text.split("\n\n", 1)[0]
            self.assertNotRegex(head, r"(?im)^bcc:")
            self.assertNotIn("carol@example.test", head.replace(
                "Delivered-To: carol@example.test", ""))
            self.assertIn("Received: by mx.example.test (moat, from local user %s, uid %d)"
                          % (USER, uid), head)
            # added because the message had none
            self.assertRegex(head, r"(?m)^Message-ID: <\S+@mx\.example\.test>$")
            self.assertRegex(head, r"(?m)^Date: \w{3}, \d\d \w{3} \d{4} ")
            self.assertIn("From: Someone <someone@example.test>", head)
            self.assertIn("hello from cron", text)
        line = self.queued("%s@mx.example.test" % USER)
        self.assertRegex(line, r"client=local .*nrcpt=3 .*uid=%d user=%s$" % (uid, USER))
        self.m.wait_log(r"smtp connect sid=\S+ client=local:0 listener=local trusted=yes "
                        r"uid=%d user=%s" % (uid, re.escape(USER)))

    def test_f_and_F(self):
        msg = "Subject: f-token-2\n\nbody\n"
        r = sendmail(self.m.conf, ["-i", "-f", "jane@remote.test", "-F", 'Jane "Q" Doe',
                                   "alice@example.test"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.mail("alice", "f-token-2")
        self.assertIn("Return-Path: <jane@remote.test>", text)
        self.assertIn('From: "Jane \\"Q\\" Doe" <jane@remote.test>', text)
        line = self.queued("jane@remote.test")
        self.assertIn("uid=%d user=%s" % (self.pw.pw_uid, USER), line)
        # without -F the From: is the bare sender, the user's own address
        r = sendmail(self.m.conf, ["bob@example.test"], "Subject: f-token-3\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("From: %s@mx.example.test" % USER, self.mail("bob", "f-token-3"))

    def test_dot_line(self):
        msg = "Subject: dot-token-4\n\nbefore\n.\nafter the dot\n..two\n"
        r = sendmail(self.m.conf, ["-oi", "dave@example.test"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        body = self.mail("dave", "dot-token-4").split("\n\n", 1)[1]
        self.assertEqual(body, "before\n.\nafter the dot\n..two\n")
        # without -i a lone dot ends the message
        msg = "Subject: dot-token-5\n\nbefore\n.\nnever sent\n"
        r = sendmail(self.m.conf, ["dave@example.test"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        body = self.mail("dave", "dot-token-5").split("\n\n", 1)[1]
        self.assertEqual(body, "before\n")

    def test_bs_session(self):
        """An SMTP client on -bs's standard input and output, waiting for each
        reply as a client must (moatd refuses blind pipelining after DATA)."""
        p = subprocess.Popen(["runuser", "-u", USER, "--", SENDMAIL, "-C", self.m.conf,
                              "-bs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            def reply():
                lines = []
                while True:
                    line = p.stdout.readline().decode()
                    self.assertTrue(line.endswith("\r\n"), lines + [line])
                    lines.append(line)
                    if line[3] == " ":
                        return "".join(lines)

            def cmd(text):
                p.stdin.write(text.encode())
                p.stdin.flush()
                return reply()

            self.assertRegex(reply(), r"^220 mx\.example\.test")
            ehlo = cmd("EHLO client\r\n")
            self.assertRegex(ehlo, r"^250-mx\.example\.test")
            self.assertNotIn("STARTTLS", ehlo)
            self.assertNotIn("AUTH", ehlo)
            self.assertRegex(cmd("MAIL FROM:<bs@remote.test>\r\n"), r"^250 ")
            self.assertRegex(cmd("RCPT TO:<bob@example.test>\r\n"), r"^250 ")
            self.assertRegex(cmd("DATA\r\n"), r"^354 ")
            self.assertRegex(cmd("Subject: bs-token-6\r\n\r\nover -bs\r\n.\r\n"),
                             r"^250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n$")
            self.assertRegex(cmd("QUIT\r\n"), r"^221 ")
            p.stdin.close()
            self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertIn("over -bs", self.mail("bob", "bs-token-6"))
        self.assertIn("uid=%d user=%s" % (self.pw.pw_uid, USER),
                      self.queued("bs@remote.test"))

    def test_bp_and_mailq_list_the_queue(self):
        # a remote recipient: relayed (a local user may, as with Postfix),
        # then held in the queue, its relay host being down
        r = sendmail(self.m.conf, ["-f", "held@remote.test", "someone@elsewhere.test"],
                     "Subject: bp-token-7\n\nwaits\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        qid = re.search(r" id=(\S+) ", self.queued("held@remote.test")).group(1)
        self.m.wait_log(r"deliver id=%s .*status=deferred" % qid)
        r = sendmail(self.m.conf, ["-bp"], "", user=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        # (and why it waits, once the queue runner has stored the reason)
        self.assertRegex(r.stdout.decode(),
                         r"(?m)^%s .*sender=<held@remote\.test>(?: why=\".*\")?$" % qid)
        # called mailq
        link = os.path.join(make_tmpdir("moat-mailq-"), "mailq")
        os.symlink(SENDMAIL, link)
        r = sendmail(self.m.conf, [], "", user=None, argv0=link)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(qid, r.stdout.decode())
        # an ordinary user may not see others' mail in the queue
        r = sendmail(self.m.conf, ["-bp"], "")
        self.assertEqual(r.returncode, EX_NOPERM, r.stderr)
        self.assertIn(b"only root may list the queue", r.stderr)
        self.assertNotIn(qid.encode(), r.stdout)

    def test_uid_cannot_be_forged(self):
        env = dict(os.environ, USER="root", LOGNAME="root")
        msg = "From: root@mx.example.test\nTo: alice@example.test\nSubject: forge-8\n\nx\n"
        r = sendmail(self.m.conf, ["-t", "-f", "root@mx.example.test"], msg, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = self.queued("root@mx.example.test")
        self.assertIn("uid=%d user=%s" % (self.pw.pw_uid, USER), line)
        self.assertNotIn("uid=0 ", line)
        text = self.mail("alice", "forge-8")
        self.assertIn("from local user %s, uid %d" % (USER, self.pw.pw_uid), text)

    def test_limits_and_refusals(self):
        # message_size_max holds for local users too: 552, nothing queued
        big = "Subject: big-9\n\n" + ("x" * 70 + "\n") * 2000
        r = sendmail(self.m.conf, ["-i", "alice@example.test"], big)
        self.assertEqual(r.returncode, EX_DATAERR, r.stderr)
        self.assertIn(b"552", r.stderr)
        # an unknown local user: nothing sent, not even to the good one
        r = sendmail(self.m.conf, ["alice@example.test", "nobody-here@example.test"],
                     "Subject: unknown-10\n\nx\n")
        self.assertEqual(r.returncode, EX_NOUSER, r.stderr)
        self.assertIn(b"nobody-here@example.test", r.stderr)
        # -t with no recipient anywhere
        r = sendmail(self.m.conf, ["-t"], "Subject: none\n\nx\n")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        self.assertIn(b"no recipient", r.stderr)
        # a bad address list in To:
        r = sendmail(self.m.conf, ["-t"], "To: <alice@example.test\n\nx\n")
        self.assertEqual(r.returncode, EX_DATAERR, r.stderr)
        self.assertEqual(self.m.log_lines(r"smtp queued .*nrcpt=.*size=1[4-9]\d{4}"), [])
        for f in self.m.maildir("alice"):
            with open(f, "rb") as fh:
                text = fh.read()
            self.assertNotIn(b"big-9", text)
            self.assertNotIn(b"unknown-10", text)

    def test_socket_mode(self):
        st = os.stat(os.path.join(self.m.dir, "run", "submit.sock"))
        self.assertEqual(st.st_mode & 0o777, 0o666)
        self.assertEqual(st.st_uid, 0)


class SendmailSetups(unittest.TestCase):
    """Daemons set up otherwise: not running, the socket off, chrooted workers."""

    def test_not_running_is_tempfail(self):
        ensure_user()
        m = Moatd()  # configured, never started
        try:
            r = sendmail(m.conf, ["alice@example.test"], "Subject: x\n\nx\n")
            self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
            self.assertRegex(r.stderr.decode(), r"cannot reach moatd at \S+/submit\.sock.*"
                             r"not sent \(is moatd running\?\)")
            r = sendmail(m.conf, ["-bp"], "", user=None)
            self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
        finally:
            m.cleanup()

    def test_local_submission_off(self):
        with Moatd(extra="local_submission = false\n") as m:
            self.assertFalse(os.path.exists(os.path.join(m.dir, "run", "submit.sock")))
            r = sendmail(m.conf, ["alice@example.test"], "Subject: x\n\nx\n", user=None)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"local_submission = false", r.stderr)

    def test_chrooted_workers_record_the_uid(self):
        """A chrooted worker cannot read the password database: the uid alone
        is recorded (moat-sendmail(8)), and the mail goes through."""
        pw = ensure_user()
        with Moatd(extra="chroot = true\n") as m:
            r = sendmail(m.conf, ["-t"], "To: alice@example.test\nSubject: chroot-11\n\nx\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            files = m.wait_maildir("alice", 1, containing="chroot-11")
            with open(files[0]) as f:
                self.assertIn("Received: by mx.example.test (moat, from local uid %d)"
                              % pw.pw_uid, f.read())
            line = m.wait_log(r"smtp queued .*from=<%s@mx\.example\.test>" % USER)[0]
            self.assertRegex(line, r"uid=%d user=-$" % pw.pw_uid)

    def test_more_recipients_than_one_transaction_takes(self):
        """recipients_max holds for local users too; moat-sendmail sends the
        rest in further transactions (452 4.5.3, RFC 5321 4.5.3.1.10)."""
        ensure_user()
        users = ["u%d" % i for i in range(105)]  # recipients_max is at least 100
        with Moatd(domains={"example.test": users}, limits={"recipients_max": 100}) as m:
            r = sendmail(m.conf, ["-t"], "To: %s\nSubject: many-12\n\nx\n" % ", ".join(
                u + "@example.test" for u in users))
            self.assertEqual(r.returncode, 0, r.stderr)
            for u in users:
                m.wait_maildir(u, 1, containing="many-12")
            queued = m.wait_log(r"smtp queued .*uid=", count=2)
            self.assertEqual([re.search(r"nrcpt=(\d+)", l).group(1) for l in queued],
                             ["100", "5"])
            self.assertEqual(len(m.log_lines(r"smtp refuse .*rule=recipients-max")), 1)

    def test_config_errors(self):
        r = sendmail("/nonexistent/moat.conf", ["a@example.test"], "x\n", user=None)
        self.assertEqual(r.returncode, 78, r.stderr)
        r = sendmail("/dev/null", ["-bd"], "", user=None)
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)


if __name__ == "__main__":
    unittest.main()

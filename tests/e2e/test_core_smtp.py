"""End-to-end: the SMTP protocol of moatd against real clients (issue 2).

Delivery to a Maildir, pipelining, limits, strict command framing, DATA
smuggling, timeouts, and the log lines every session leaves.
"""

import email
import os
import re
import socket
import subprocess
import time
import unittest

from harness import Moatd, message


class Delivery(unittest.TestCase):
    def test_message_reaches_maildir_with_trace(self):
        with Moatd() as m:
            s = m.smtp()
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            s.mail("sender@remote.test")
            s.rcpt("alice@example.test")
            code, resp = s.data(message(subject="hello alice", extra="Received: from older by hop1\r\nReceived: from oldest by hop0\r\n"))
            self.assertEqual(code, 250, resp)
            qid = re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()
            s.quit()
            files = m.wait_maildir("alice", 1)
            self.assertIn(qid, os.path.basename(files[0]))
            with open(files[0], "rb") as f:
                raw = f.read()
            self.assertNotIn(b"\r\n", raw, "Maildir files use LF line ends")
            msg = email.message_from_bytes(raw)
            self.assertEqual(msg["Return-Path"], "<sender@remote.test>")
            self.assertEqual(msg["Delivered-To"], "alice@example.test")
            self.assertEqual(msg["Subject"], "hello alice")
            received = msg.get_all("Received")
            self.assertEqual(len(received), 3)
            ours = " ".join(received[0].split())
            # client IP, forward-confirmed name (loopback: answered locally),
            # HELO, queue id, an RFC 5322 date
            self.assertRegex(ours, r"^from client\.test \(localhost \[127\.0\.0\.1\]\) by "
                             r"mx\.example\.test \(moat\) with ESMTP id %s for "
                             r"<alice@example\.test>; \w{3}, \d{2} \w{3} \d{4} "
                             r"\d{2}:\d{2}:\d{2} [+-]\d{4}$" % qid)
            # existing trace lines stay, in order
            self.assertIn("older", received[1])
            self.assertIn("oldest", received[2])
            m.wait_log(r"deliver id=%s to=<alice@example\.test> relay=maildir .*status=sent" % qid)
            m.wait_log(r"queue removed id=%s" % qid)

    def test_swaks_delivery_and_helo_client(self):
        with Moatd() as m:
            out = subprocess.run(
                ["swaks", "--server", "127.0.0.1:%d" % m.port, "--helo", "swaks.test",
                 "--to", "bob@example.test", "--from", "x@remote.test", "--protocol", "SMTP"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            files = m.wait_maildir("bob", 1)
            with open(files[0]) as f:
                self.assertIn("with SMTP id", " ".join(f.read().split()))

    def test_duplicate_recipients_get_one_copy(self):
        with Moatd() as m:
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            self.assertEqual(s.rcpt("ALICE@Example.TEST")[0], 250)
            self.assertEqual(s.data(message())[0], 250)
            s.quit()
            m.wait_maildir("alice", 1)
            time.sleep(0.5)
            self.assertEqual(len(m.maildir("alice")), 1)

    def test_loopback_client_never_asks_dns(self):
        # A UDP "DNS server" that must never hear a query.
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns.bind(("127.0.0.1", 0))
        dns.settimeout(1.0)
        port = dns.getsockname()[1]
        with Moatd(dns_servers=["127.0.0.1:%d" % port]) as m:
            for src in ("127.0.0.1", "127.0.0.9"):
                s = m.smtp(source=src)
                s.ehlo()
                s.mail("x@remote.test")
                s.rcpt("alice@example.test")
                s.data(message())
                s.quit()
            m.wait_maildir("alice", 2)
            with self.assertRaises(socket.timeout):
                dns.recvfrom(512)
        dns.close()


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Moatd(limits={"errors_max": 50}).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def client(self):
        c = self.m.raw()
        code, lines = c.reply()
        self.assertEqual(code, 220)
        self.assertIn("ESMTP", lines[0])
        return c

    def test_ehlo_advertises_extensions(self):
        c = self.client()
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        exts = [l[4:] for l in lines[1:]]
        self.assertIn("PIPELINING", exts)
        self.assertIn("SIZE 10485760", exts)
        self.assertIn("8BITMIME", exts)
        self.assertIn("ENHANCEDSTATUSCODES", exts)
        c.close()

    def test_vrfy_expn_etrn_help_noop(self):
        c = self.client()
        c.cmd("EHLO client.test")
        # VRFY is no oracle: the same answer for real and unknown users
        self.assertEqual(c.cmd("VRFY alice")[0], 252)
        self.assertEqual(c.cmd("VRFY nosuchuser")[0], 252)
        self.assertEqual(c.cmd("EXPN staff")[0], 502)
        self.assertEqual(c.cmd("ETRN example.test")[0], 502)
        self.assertEqual(c.cmd("HELP")[0], 214)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())

    def test_sequence_errors(self):
        c = self.client()
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 503)
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 554)  # no valid recipients
        self.assertEqual(c.cmd("FOO bar")[0], 500)
        self.assertEqual(c.cmd("EHLO")[0], 501)
        self.assertEqual(c.cmd("EHLO bad host")[0], 501)
        c.close()

    def test_pipelined_session(self):
        c = self.client()
        c.cmd("EHLO client.test")
        # one write: a whole group, DATA last (RFC 2920)
        c.send("MAIL FROM:<p@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
               "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 550)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 354)
        # the end of data and the next commands in one write
        c.send("Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        # the 250 of the commit, once and whole, before the replies to what
        # came after the dot (the commit may send it from its own thread)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$")
        self.assertEqual(c.reply(), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 221)
        self.assertTrue(c.closed())
        self.m.wait_maildir("bob", 1, containing="Subject: piped")

    def test_large_message_then_pipelined_commands(self):
        # 600 KiB sent with the next commands in one write: the worker reads
        # a message this size straight from the socket, and what follows the
        # dot must reach the command parser all the same, in order
        c = self.client()
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:<p@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        lines = ["Subject: large piped", ""]
        for i in range(8000):
            lines.append(("." if i % 13 == 0 else "") + "line %05d " % i + "y" * (i % 77))
            if i == 4000:
                lines.append(".")  # stuffed: never the end
        body = "\r\n".join(lines) + "\r\n"
        stuffed = body.replace("\r\n.", "\r\n..")
        c.send(stuffed + ".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        code, rlines = c.reply()
        self.assertEqual(code, 250, rlines)
        self.assertRegex(rlines[0], r"^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$")
        self.assertEqual(c.reply(), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 221)
        self.assertTrue(c.closed())
        files = self.m.wait_maildir("alice", 1, containing="Subject: large piped")
        with open(files[0], newline="") as f:
            stored = f.read()
        # the message is whole and unstuffed, every line there
        want = body.replace("\r\n", "\n")
        self.assertTrue(stored.endswith(want.split("Subject: large piped\n", 1)[1]),
                        stored[-300:])

    def test_swaks_pipelining(self):
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.m.port, "--pipeline",
             "--to", "alice@example.test", "--from", "x@remote.test"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"250 2\.0\.0 Ok: queued as")

    def test_data_pipelined_before_354_is_refused(self):
        c = self.client()
        c.cmd("EHLO client.test")
        c.send("MAIL FROM:<p@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
               "Subject: blind\r\n\r\nRCPT TO:<x@evil.test>\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        code, lines = c.reply()
        self.assertEqual(code, 554, lines)
        self.assertIn("pipelining", lines[0])
        self.assertTrue(c.closed())

    def test_size_limits(self):
        c = self.client()
        c.cmd("EHLO client.test")
        code, lines = c.cmd("MAIL FROM:<a@remote.test> SIZE=99999999999")
        self.assertEqual(code, 552, lines)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> SIZE=1000 BODY=8BITMIME")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> FOO=bar")[0], 555)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> SIZE=1 SIZE=2")[0], 501)
        c.close()

    def test_recipient_params_refused(self):
        # DSN's are the only RCPT parameters (test_dsn.py); any other: 555
        c = self.client()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@remote.test>")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test> FOO=bar")[0], 555)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER")[0], 250)
        c.close()

    def test_command_line_length(self):
        c = self.client()
        c.cmd("EHLO client.test")
        # 512 octets including CRLF is fine; 513 is refused whole
        ok = "NOOP " + "x" * (512 - 2 - 5)
        self.assertEqual(c.cmd(ok)[0], 250)
        code, lines = c.cmd(ok + "x")
        self.assertEqual(code, 500)
        self.assertIn("5.5.2", lines[0])
        # SIZE (RFC 1870) lets MAIL FROM be 26 octets longer, and no more:
        # a 538-octet MAIL line is parsed (its bad parameter gets 501), a
        # 539-octet one is refused whole as too long (500 5.5.2)
        base = "MAIL FROM:<a@remote.test> SIZE=1 X-PAD="
        line538 = base + "p" * (538 - 2 - len(base))
        code, lines = c.cmd(line538)
        self.assertEqual(code, 555, lines)
        code, lines = c.cmd(line538 + "p")
        self.assertEqual(code, 500, lines)
        self.assertIn("too long", lines[0])
        # after HELO there is no SIZE extension: 513 octets are too many
        c.cmd("HELO client.test")
        code, lines = c.cmd(base + "p" * (513 - 2 - len(base)))
        self.assertEqual(code, 500, lines)
        # a huge line without LF is dropped and answered once when it ends
        c.send("NOOP " + "y" * 100000)
        time.sleep(0.2)
        c.send("\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()

    def test_bare_newlines_and_nul_in_commands(self):
        c = self.client()
        c.cmd("EHLO client.test")
        for bad in (b"NOOP\n", b"NO\rOP\r\n", b"NOOP\r\r\n", b"NO\0OP\r\n",
                    b"RSET\rMAIL FROM:<a@remote.test>\r\n"):
            c.send(bad)
            code, lines = c.reply()
            self.assertEqual(code, 500, (bad, lines))
        # nothing of those lines ran: there is no transaction
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        c.close()
        self.m.wait_log(r"rule=bare-newline")

    def test_http_request_is_dropped(self):
        c = self.client()
        code, lines = c.cmd("GET / HTTP/1.0")
        self.assertEqual(code, 221)
        self.assertTrue(c.closed())

    def test_connect_and_disconnect_logged(self):
        c = self.client()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<x@remote.test>")
        c.cmd("RCPT TO:<carol@elsewhere.test>")
        c.cmd("QUIT")
        c.closed()
        lines = self.m.wait_log(r"smtp disconnect .*reason=\"quit\".* ehlo=1/1 mail=1/1 rcpt=0/1 quit=1/1")
        sid = re.search(r"sid=(\w+)", lines[-1]).group(1)
        self.m.wait_log(r"smtp connect sid=%s client=127\.0\.0\.1:\d+" % sid)
        refuse = self.m.wait_log(r"smtp refuse sid=%s .*rule=relay-denied" % sid)[0]
        self.assertRegex(refuse, r"^\d{4}-\d\d-\d\dT[\d:.]+ .*client=127\.0\.0\.1:\d+ "
                         r"stage=rcpt rule=relay-denied reply=\"554 5\.7\.1\" "
                         r"addr=<carol@elsewhere\.test>$")


class DataPhase(unittest.TestCase):
    """Message content limits and the end-of-data rules (SMTP smuggling)."""

    @classmethod
    def setUpClass(cls):
        cls.m = Moatd(limits={"message_size_max": 20000, "errors_max": 50}).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def start_data(self, rcpt="alice@example.test"):
        c = self.m.raw()
        c.reply()
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        return c

    def test_oversized_message_refused_after_reading_it(self):
        c = self.start_data()
        c.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 400 + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 552, lines)
        # the session goes on
        self.assertEqual(c.cmd("NOOP")[0], 250)
        c.close()

    def test_dot_stuffing(self):
        c = self.start_data(rcpt="bob@example.test")
        c.send("Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.cmd("QUIT")
        # Other tests of this class deliver to bob too: wait for this test's message.
        files = self.m.wait_maildir("bob", 1, containing="Subject: dots")
        with open(files[0]) as f:
            self.assertIn("\n.leading dot\n..two\n", f.read())

    def test_smuggling_variants_never_end_data(self):
        variants = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r",
                    b"\r.\n", b"\n.\r", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\r\n.\r\r\n"]
        for v in variants:
            c = self.start_data()
            smuggled = b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nDATA\r\n"
            c.send(b"Subject: smuggle\r\n\r\ntext" + v + smuggled + b"more\r\n.\r\n")
            code, lines = c.reply()
            # one reply for the whole thing: the smuggled commands were data
            self.assertIn(code, (550,), (v, lines))
            self.assertEqual(c.cmd("NOOP")[0], 250, v)
            c.close()
        self.assertEqual(self.m.log_lines(r"victim@elsewhere"), [])

    def test_normalize_mode_accepts_bare_lf_without_ending(self):
        with Moatd(bare_newline="normalize") as m:
            c = m.raw()
            c.reply()
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<s@remote.test>")
            c.cmd("RCPT TO:<alice@example.test>")
            c.cmd("DATA")
            c.send(b"Subject: lf\r\n\r\nline1\nline2\n.\nMAIL FROM:<x@y.test>\r\n.\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            c.cmd("QUIT")
            files = m.wait_maildir("alice", 1)
            with open(files[0]) as f:
                body = f.read()
            # the fake end stayed inside the message
            self.assertIn("line1\nline2\n\nMAIL FROM:<x@y.test>\n", body)

    def test_long_text_line_refused(self):
        c = self.start_data()
        c.send("Subject: long\r\n\r\n" + "y" * 1200 + "\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        c.close()


class Limits(unittest.TestCase):
    def test_too_many_recipients(self):
        users = ["u%d" % i for i in range(105)]
        with Moatd(domains={"example.test": users}) as m:
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            for u in users[:100]:
                self.assertEqual(s.rcpt("%s@example.test" % u)[0], 250)
            code, resp = s.rcpt("u100@example.test")
            self.assertEqual(code, 452)
            self.assertIn(b"4.5.3", resp)
            self.assertEqual(s.data(message())[0], 250)
            s.quit()
            m.wait_log(r"rule=recipients-max")

    def test_errors_max_disconnects(self):
        with Moatd(limits={"errors_max": 3}) as m:
            c = m.raw()
            c.reply()
            self.assertEqual(c.cmd("XYZZY")[0], 500)
            self.assertEqual(c.cmd("XYZZY")[0], 500)
            c.send("XYZZY\r\n")
            self.assertEqual(c.reply()[0], 500)
            code, lines = c.reply()
            self.assertEqual(code, 421, lines)
            self.assertTrue(c.closed())
            m.wait_log(r"rule=errors-max")

    def test_messages_per_session(self):
        with Moatd(limits={"messages_per_session_max": 2}) as m:
            s = m.smtp()
            s.ehlo()
            for _ in range(2):
                s.mail("x@remote.test")
                s.rcpt("alice@example.test")
                self.assertEqual(s.data(message())[0], 250)
            code, _ = s.mail("x@remote.test")
            self.assertEqual(code, 421)

    def test_command_timeout(self):
        with Moatd(limits={"timeout_command": 1}) as m:
            c = m.raw()
            c.reply()
            t0 = time.time()
            code, lines = c.reply()
            self.assertEqual(code, 421)
            self.assertIn("4.4.2", lines[0])
            self.assertLess(time.time() - t0, 5)
            self.assertTrue(c.closed())
            m.wait_log(r"reason=\"timeout\"")

    def test_sessions_max(self):
        with Moatd(limits={"sessions_max": 2}) as m:
            a, b = m.raw(), m.raw()
            self.assertEqual(a.reply()[0], 220)
            self.assertEqual(b.reply()[0], 220)
            # inside mail transactions: a full house takes no slot back
            for x in (a, b):
                self.assertEqual(x.cmd("EHLO c.test")[0], 250)
                self.assertEqual(x.cmd("MAIL FROM:<x@remote.test>")[0], 250)
            c = m.raw()
            code, lines = c.reply()
            self.assertEqual(code, 421, lines)
            self.assertTrue(c.closed())
            a.cmd("QUIT")
            a.closed()
            time.sleep(0.2)
            d = m.raw()
            self.assertEqual(d.reply()[0], 220)
            for x in (b, d):
                x.close()


if __name__ == "__main__":
    unittest.main()

"""End-to-end: recipient lookups (issue 25, item 3) against the real moatd.

A domain's recipient_lookup asks, at RCPT, whether an address it does not
list is a mailbox: a real Dovecot on its auth-userdb socket (a user added
to Dovecot's passwd-file is accepted without touching moat's config, an
unknown one refused 550 5.1.1 before DATA, Dovecot down a 451 4.3.0 and
back up a 250), or a socketmap server (Postfix's socketmap_table(5)
protocol, a small server in this file) whose OK may name the mailbox or
targets (local and remote, the remote one delivered to a real smtp-sink),
whose NOTFOUND falls to the domain's catch-all, and whose TEMP, PERM,
garbage or silence are a 451, never a 5xx. Answers are cached for
lookup_cache_ttl; the key is the address without its extension. A bad
recipient_lookup is refused by moatd -n with file:line. Traffic goes to
127.0.0.0/8 and unix sockets only.
"""

import glob
import os
import smtplib
import socket
import threading
import time
import unittest

from harness import Moatd, make_tmpdir, message
from peers import DovecotUserdb, SmtpSink


class SocketmapServer:
    """A socketmap server on 127.0.0.1 (Postfix's socketmap_table(5)): one
    netstring "NAME KEY" in, one netstring out, many on one connection.
    answers maps a key to the reply's text ("OK value", "NOTFOUND ",
    "TEMP why", ...), or to "garbage" (bytes that are no netstring) or
    "silence" (no answer at all); a key it does not know is NOTFOUND. Every
    request is kept in asked."""

    def __init__(self, answers):
        self.answers = dict(answers)
        self.asked = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            while True:
                while b":" not in buf or len(buf) < buf.index(b":") + 2 + int(
                        buf[:buf.index(b":")]):
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                n = buf.index(b":")
                size = int(buf[:n])
                data = buf[n + 1:n + 1 + size].decode()
                assert buf[n + 1 + size:n + 2 + size] == b",", buf
                buf = buf[n + 2 + size:]
                name, key = data.split(" ", 1)
                with self.lock:
                    self.asked.append((name, key))
                    reply = self.answers.get(key, "NOTFOUND ")
                if reply == "garbage":
                    conn.sendall(b"this is no netstring\r\n")
                    return
                if reply == "silence":
                    continue
                out = reply.encode()
                conn.sendall(b"%d:%s," % (len(out), out))

    def keys(self):
        with self.lock:
            return [k for _, k in self.asked]

    def stop(self):
        self.running = False
        self.sock.close()


def rcpt(port, addr, mail_from="sender@remote.test"):
    """RCPT TO:<addr> in a new session: (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.test")
        c.mail(mail_from)
        code, text = c.rcpt(addr)
        c.rset()
        return code, text.decode(errors="replace")


def send(port, rcpts, subject):
    """One message to rcpts: the RCPT replies and DATA's (None if any RCPT
    was refused)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.test")
        c.mail("sender@remote.test")
        codes = [c.rcpt(r) for r in rcpts]
        if all(code == 250 for code, _ in codes):
            return codes, c.data(message(subject=subject, to=rcpts[0]))
        return codes, None


class DovecotLookup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dv = DovecotUserdb(["alice@dove.test", "bob@dove.test"]).start()
        cls.m = Moatd(
            domains={"example.test": ["postmaster"], "dove.test": ["postmaster"]},
            domain_extra={"dove.test": '\trecipient_lookup = "dovecot:unix:%s"\n'
                                       "\tlookup_cache_ttl = 3\n" % cls.dv.sock}).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.dv.stop()

    def test_known_user_delivered(self):
        codes, data = send(self.m.port, ["alice@dove.test"], "to alice via dovecot")
        self.assertEqual(data[0], 250, codes)
        got = self.m.wait_maildir("alice", 1, domain="dove.test",
                                  containing="to alice via dovecot")
        self.assertIn("Delivered-To: alice@dove.test", open(got[0], errors="replace").read())

    def test_unknown_user_refused(self):
        code, text = rcpt(self.m.port, "nobody@dove.test")
        self.assertEqual(code, 550, text)
        self.assertIn("5.1.1", text)

    def test_extension_is_the_user(self):
        codes, data = send(self.m.port, ["bob+lists@dove.test"], "to bob with a tag")
        self.assertEqual(data[0], 250, codes)
        got = self.m.wait_maildir("bob", 1, domain="dove.test", containing="to bob with a tag")
        self.assertIn("Delivered-To: bob+lists@dove.test",
                      open(got[0], errors="replace").read())

    def test_listed_user_needs_no_lookup(self):
        code, text = rcpt(self.m.port, "postmaster@dove.test")
        self.assertEqual(code, 250, text)

    def test_added_user_accepted_after_cache(self):
        # refused, and the refusal cached for lookup_cache_ttl (3 s) ...
        self.assertEqual(rcpt(self.m.port, "newbie@dove.test")[0], 550)
        self.dv.add("newbie@dove.test")
        t0 = time.time()
        self.assertEqual(rcpt(self.m.port, "newbie@dove.test")[0], 550)
        # ... then Dovecot's new answer, without a word to moat
        deadline = t0 + 10
        while time.time() < deadline:
            code, text = rcpt(self.m.port, "newbie@dove.test")
            if code == 250:
                break
            time.sleep(0.5)
        self.assertEqual(code, 250, text)
        self.assertGreaterEqual(time.time() - t0, 1.5)

    def test_dovecot_down_is_temporary(self):
        self.dv.stop()
        try:
            code, text = rcpt(self.m.port, "erin@dove.test")
            self.assertEqual(code, 451, text)
            self.assertIn("4.3.0", text)
            self.assertIn("Temporary lookup failure", text)
            self.m.wait_log(r"recipient_lookup: sid=\S+ rcpt=<erin@dove\.test>: ")
            # the other domains do not care
            self.assertEqual(rcpt(self.m.port, "postmaster@example.test")[0], 250)
        finally:
            self.dv.add("erin@dove.test")
            self.dv.start()
        # trouble is not cached: back up, erin is found
        deadline = time.time() + 10
        while time.time() < deadline:
            code, text = rcpt(self.m.port, "erin@dove.test")
            if code != 451:
                break
            time.sleep(0.5)
        self.assertEqual(code, 250, text)


class SocketmapLookup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dump = make_tmpdir("moat-sinkdump-")
        cls.sink = SmtpSink(dump_dir=cls.dump).start()
        cls.map = SocketmapServer({
            "carol@map.test": "OK carol@map.test",
            "dave@map.test": "OK",
            "team@map.test": "OK carol@map.test, bob@example.test,far@remote.test",
            "broken@map.test": "TEMP database is down",
            "perm@map.test": "PERM no such table",
            "junk@map.test": "garbage",
            "slow@map.test": "silence",
            "bad@map.test": "OK |/bin/sh, bob@example.test",
            "known@catch.test": "OK",
        })
        d = make_tmpdir("moat-lookup-")
        catch = os.path.join(d, "catch.aliases")
        with open(catch, "w") as f:
            f.write("@: bob@example.test\n")
        lookup = '\trecipient_lookup = "socketmap:inet:127.0.0.1:%d:virtual"\n' % cls.map.port
        cls.m = Moatd(
            domains={"example.test": ["postmaster", "bob"], "map.test": [],
                     "catch.test": []},
            domain_extra={"map.test": lookup + "\tlookup_timeout_ms = 500\n",
                          "catch.test": lookup + '\taliases_file = "%s"\n' % catch},
            relayhost="127.0.0.1:%d" % cls.sink.port).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.sink.stop()
        cls.map.stop()

    def test_found_is_the_mailbox(self):
        codes, data = send(self.m.port, ["carol@map.test"], "to carol via socketmap")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("carol", 1, domain="map.test", containing="to carol via socketmap")
        # an empty value is the address itself too
        codes, data = send(self.m.port, ["Dave+x@map.test"], "to dave via socketmap")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("dave", 1, domain="map.test", containing="to dave via socketmap")
        # asked by the map's name, without the extension, lower case
        self.assertIn(("virtual", "dave@map.test"), self.map.asked)

    def test_targets(self):
        codes, data = send(self.m.port, ["team@map.test"], "to the team")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("carol", 1, domain="map.test", containing="to the team")
        self.m.wait_maildir("bob", 1, domain="example.test", containing="to the team")
        self.m.wait_log(r"smtp alias sid=\S+ rcpt=<team@map\.test> expanded=3")
        deadline = time.time() + 20
        while time.time() < deadline:
            dumped = [open(p, errors="replace").read()
                      for p in glob.glob(os.path.join(self.dump, "*", "*"))]
            if any("to the team" in t and "far@remote.test" in t for t in dumped):
                break
            time.sleep(0.2)
        else:
            self.fail("far@remote.test never reached the relayhost")

    def test_target_that_is_no_address_skipped(self):
        codes, data = send(self.m.port, ["bad@map.test"], "bad target")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("bob", 1, domain="example.test", containing="bad target")
        self.m.wait_log(r"recipient_lookup: target \"\|/bin/sh\" is no address; skipped")

    def test_notfound_refused(self):
        code, text = rcpt(self.m.port, "stranger@map.test")
        self.assertEqual(code, 550, text)
        self.assertIn("5.1.1", text)

    def test_notfound_goes_to_catch_all(self):
        codes, data = send(self.m.port, ["anyone@catch.test"], "caught by the catch-all")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("bob", 1, domain="example.test",
                            containing="caught by the catch-all")
        # a found address is its own mailbox, not the catch-all's
        codes, data = send(self.m.port, ["known@catch.test"], "known at catch")
        self.assertEqual(data[0], 250, codes)
        self.m.wait_maildir("known", 1, domain="catch.test", containing="known at catch")

    def test_trouble_is_temporary(self):
        for addr, why in (("broken@map.test", r"the server says: database is down"),
                          ("perm@map.test", r"the server says: no such table"),
                          ("junk@map.test", r""),
                          ("slow@map.test", r"")):
            t0 = time.time()
            code, text = rcpt(self.m.port, addr)
            self.assertEqual(code, 451, (addr, text))
            self.assertIn("4.3.0", text)
            self.assertLess(time.time() - t0, 5, addr)
            self.m.wait_log(r"recipient_lookup: sid=\S+ rcpt=<%s>: \"%s" % (
                addr.replace(".", r"\."), why))
        # and the next lookup is answered (a new connection after the bad one)
        self.assertEqual(rcpt(self.m.port, "carol@map.test")[0], 250)
        self.assertEqual(rcpt(self.m.port, "nobody-else@map.test")[0], 550)

    def test_unsafe_name_never_asked(self):
        # a lookup server may say OK to anything: a name that could not be
        # a mailbox directory is not asked (and would not be delivered)
        self.map.answers["a/b@map.test"] = "OK"
        code, text = rcpt(self.m.port, "a/b@map.test")
        self.assertEqual(code, 550, text)
        self.assertNotIn("a/b@map.test", self.map.keys())

    def test_answers_cached(self):
        rcpt(self.m.port, "cached@map.test")
        rcpt(self.m.port, "cached@map.test")
        self.assertEqual(self.map.keys().count("cached@map.test"), 1)


class BadLookup(unittest.TestCase):
    def check(self, extra, pattern):
        m = Moatd(domain_extra={"example.test": extra})
        m.assert_refused(self, pattern)

    def test_refused(self):
        self.check('\trecipient_lookup = "ldap:/etc/ldap.cf"\n',
                   r"moat\.conf:\d+: domain \"example\.test\": recipient_lookup "
                   r"\"ldap:/etc/ldap\.cf\": must be dovecot:unix:/PATH")
        self.check('\trecipient_lookup = "socketmap:inet:127.0.0.1:9000"\n',
                   r"moat\.conf:\d+: .*recipient_lookup \"socketmap:inet:127\.0\.0\.1:9000\"")
        self.check('\trecipient_lookup = "dovecot:/run/x"\n\tlookup_cache_ttl = 90000\n',
                   r"moat\.conf:\d+: domain \"example\.test\": lookup_cache_ttl = 90000: "
                   r"from 0 to 86400")
        self.check('\trecipient_lookup = "dovecot:/run/x"\n\tlookup_timeout_ms = 5\n',
                   r"moat\.conf:\d+: .*lookup_timeout_ms = 5: from 10 to 60000")


if __name__ == "__main__":
    unittest.main()

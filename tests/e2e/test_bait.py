"""End-to-end: bait pages and trap addresses (issue 8).

127.0.0.5 plays the harvester and fetches a bait page; 127.0.0.7 mails one
of its addresses and is refused on its next connection; moatctl names the
harvester and decodes the address; a tampered address is an ordinary
unknown user; plain spamtraps work the same way. The bans are exported for
rbldnsd, served by a real rbldnsd, and a second moatd using that zone as a
DNSBL refuses the trapped sender too.
"""

import http.client
import os
import re
import shutil
import subprocess
import time
import unittest

from harness import Moatd, free_port, make_tmpdir, moatctl
from peers import RBLDNSD, dns_ask


def fetch(port, path="/", source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    headers = dict(r.getheaders())
    c.close()
    return r.status, headers, body


def rcpt(m, source, to, sender="spam@remote.test"):
    """MAIL + RCPT from source; (code, reply lines, closed afterwards)."""
    c = m.raw(source=source)
    c.reply()
    c.cmd("EHLO bot.test")
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    assert code == 250, lines
    code, lines = c.cmd("RCPT TO:<%s>" % to)
    closed = c.closed(timeout=3)
    if closed:
        # RFC 5321 §3.8: a server that hangs up says 421 first
        assert c.buf.startswith(b"421 4.7.0 "), c.buf
    c.close()
    return code, lines, closed


class Traps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = make_tmpdir("moat-test-")
        cls.http_port = free_port()
        cls.zone = os.path.join(d, "moat-bans.zone")
        extra = """bait {
\tsecret_file = "%s/trap.secret"
\tdomain = "example.test"
\tlisten = "127.0.0.1:%d"
\tspamtraps = {"old-trap@example.test"}
\texport_file = "%s"
}
""" % (d, cls.http_port, cls.zone)
        cls.m = Moatd(tmpdir=d, extra=extra,
                      limits={"bait_pace_ms": 300, "bait_addresses": 5,
                              "bait_export_interval": 10})
        cls.m.own_dir = True
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def harvest(self, source):
        status, headers, body = fetch(self.http_port, "/staff.html", source=source)
        self.assertEqual(status, 200)
        addrs = re.findall(r'href="mailto:([^"]+)"', body)
        self.assertEqual(len(addrs), 5)
        return body, headers, addrs

    def test_bait_page_and_robots(self):
        t0 = time.time()
        body, headers, addrs = self.harvest("127.0.0.5")
        self.assertGreaterEqual(time.time() - t0, 0.3, "responses are paced")
        self.assertIn('<meta name="robots" content="noindex, nofollow">', body)
        self.assertEqual(headers.get("X-Robots-Tag"), "noindex, nofollow")
        for a in addrs:
            self.assertTrue(a.endswith("@example.test"))
            self.assertIn(a, body.split("</a>")[addrs.index(a)])  # also as plain text
            local = a.split("@")[0]
            self.assertRegex(local, r"^[a-z]+\.[a-z2-7]{23}$")  # compact, RFC 5321 dot-string
        self.assertEqual(len(set(addrs)), 5)
        self.assertGreaterEqual(len(re.findall(r'href="/people/[0-9a-f]+\.html"', body)), 3)
        status, _, robots = fetch(self.http_port, "/robots.txt")
        self.assertEqual(status, 200)
        self.assertIn("User-agent: *\nDisallow: /", robots)
        self.m.wait_log(r"bait page client=127\.0\.0\.5 addresses=5")

    def test_decode_names_harvester_and_time(self):
        before = time.time()
        _, _, addrs = self.harvest("127.0.0.6")
        out = moatctl(self.m, "trap", "decode", addrs[0])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        m = re.search(r"harvested by (\S+) at (\S+)", out.stdout)
        self.assertEqual(m.group(1), "127.0.0.6")
        t = time.mktime(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        self.assertLess(abs(t - before), 120)
        # one character changed: not a trap
        local, dom = addrs[0].split("@")
        bad = local[:-3] + ("a" if local[-3] != "a" else "b") + local[-2:] + "@" + dom
        out = moatctl(self.m, "trap", "decode", bad)
        self.assertEqual(out.returncode, 1)
        self.assertIn("not a trap address", out.stdout)

    def test_trap_mail_bans_sender_and_reports_harvester(self):
        _, _, addrs = self.harvest("127.0.0.5")
        code, lines, closed = rcpt(self.m, "127.0.0.7", addrs[1])
        # it looks like any unknown user; the session then ends
        self.assertEqual(code, 550)
        self.assertIn("User unknown", lines[0])
        self.assertTrue(closed)
        hit = self.m.wait_log(r"trap hit sid=\w+ client=127\.0\.0\.7 trap=<%s> "
                              r"harvester=127\.0\.0\.5 harvested=\S+Z" % re.escape(addrs[1]))
        self.assertEqual(len(hit), 1)
        # refused on its next connection
        c = self.m.raw(source="127.0.0.7")
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        c.close()
        self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.7:\d+ stage=connect rule=ban "
                        r".*reason=\"trap: mailed <%s> harvested by 127\.0\.0\.5" %
                        re.escape(addrs[1]))
        # the report names the harvester and the sender
        out = moatctl(self.m, "traps")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"harvester 127\.0\.0\.5 first=\S+ last=\S+ mails=1 "
                         r"senders=1")
        self.assertRegex(out.stdout, r"sender 127\.0\.0\.7 hits=1 last=\S+ "
                         r"harvester=127\.0\.0\.5 trap=<%s>" % re.escape(addrs[1]))
        # nothing was delivered or queued
        self.assertEqual(self.m.queue_files(), [])

    def test_tampered_address_is_ordinary_unknown_user(self):
        _, _, addrs = self.harvest("127.0.0.5")
        local, dom = addrs[2].split("@")
        bad = local[:5] + ("x" if local[5] != "x" else "y") + local[6:] + "@" + dom
        code, lines, closed = rcpt(self.m, "127.0.0.8", bad)
        self.assertEqual(code, 550)
        self.assertFalse(closed)
        self.assertEqual(self.m.log_lines(r"trap hit .*client=127\.0\.0\.8"), [])
        c = self.m.raw(source="127.0.0.8")
        self.assertEqual(c.reply()[0], 220)
        c.close()

    def test_plain_spamtrap(self):
        code, lines, closed = rcpt(self.m, "127.0.0.9", "Old-Trap@Example.Test")
        self.assertEqual(code, 550)
        self.assertTrue(closed)
        self.m.wait_log(r"trap hit sid=\w+ client=127\.0\.0\.9 trap=<Old-Trap@Example\.Test> "
                        r"harvester=- harvested=-")
        c = self.m.raw(source="127.0.0.9")
        self.assertEqual(c.reply()[0], 421)
        c.close()

    def test_bait_page_for_static_site(self):
        out = moatctl(self.m, "bait", "page", "--for", "192.0.2.44")
        self.assertEqual(out.returncode, 0, out.stderr)
        addrs = re.findall(r'href="mailto:([^"]+)"', out.stdout)
        self.assertEqual(len(addrs), 5)
        for a in addrs:
            out2 = moatctl(self.m, "trap", "decode", a)
            self.assertIn("harvested by 192.0.2.44", out2.stdout)


class PublishedList(unittest.TestCase):
    def test_export_rbldnsd_and_second_moatd_refuses(self):
        d = make_tmpdir("moat-test-")
        http_port = free_port()
        extra = """bait {
\tsecret_file = "%s/trap.secret"
\tlisten = "127.0.0.1:%d"
}
""" % (d, http_port)
        with Moatd(tmpdir=d, extra=extra, limits={"bait_pace_ms": 0}) as m:
            _, _, body = fetch(http_port, "/", source="127.0.0.5")
            trap = re.findall(r'href="mailto:([^"]+)"', body)[0]
            # A ban is published at the second hit (trap_export_hits = 2):
            # the bot's second session was open before its first hit.
            second = m.raw(source="127.0.0.7")
            self.assertEqual(second.reply()[0], 220)
            code, _, _ = rcpt(m, "127.0.0.7", trap)
            self.assertEqual(code, 550)
            m.wait_log(r"trap hit .*client=127\.0\.0\.7 .*action=ban ")
            second.cmd("EHLO bot.test")
            second.cmd("MAIL FROM:<spam@remote.test>")
            self.assertEqual(second.cmd("RCPT TO:<%s>" % trap)[0], 550)
            second.close()
            m.wait_log(r"trap hit .*client=127\.0\.0\.7 .*action=ban-export ")
            # a manual ban is published too
            out = moatctl(m, "ban", "127.0.0.10", "3600", "manual test")
            self.assertEqual(out.returncode, 0, out.stderr)
            datadir = make_tmpdir("moat-rbl-")
            shutil.chown(datadir, "moat")  # the daemon writes it, as its user
            zone = os.path.join(datadir, "moat.zone")
            out = moatctl(m, "export", "rbldnsd", zone)
            self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
            self.assertIn("wrote 2 entries", out.stdout)
            text = open(zone).read()
            self.assertRegex(text, r"(?m)^127\.0\.0\.7 :127\.0\.0\.2:trap  mailed <")
            self.assertRegex(text, r"(?m)^127\.0\.0\.10 :127\.0\.0\.2:manual test$")
            self.assertTrue(os.path.exists(zone + ".v6"))
        port = free_port()
        rbl = subprocess.Popen([RBLDNSD, "-n", "-u", "nobody", "-b", "127.0.0.1/%d" % port,
                                "-w", datadir, "-c", "0", "bl.moat.test:ip4set:moat.zone"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        try:
            deadline = time.time() + 10
            while dns_ask("127.0.0.1", port, "7.0.0.127.bl.moat.test", timeout=0.3)[0] \
                    == "TIMEOUT":
                self.assertLess(time.time(), deadline, "rbldnsd never answered")
            rcode, addrs = dns_ask("127.0.0.1", port, "7.0.0.127.bl.moat.test")
            self.assertEqual(addrs, ["127.0.0.2"])
            screen = 'screen {\n\tdnsbl = {"bl.moat.test=127.0.0.2"}\n}\n'
            with Moatd(dns_servers=["127.0.0.1:%d" % port], extra=screen,
                       limits={"dnsbl_threshold": 1}) as m2:
                c = m2.raw(source="127.0.0.7")
                code, lines = c.reply()
                self.assertEqual(code, 554, lines)
                self.assertIn("blocked using DNS blocklists", lines[0])
                self.assertNotIn("bl.moat.test", lines[0])  # zone names stay private
                c.close()
                m2.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.7:\d+ stage=connect "
                            r"rule=dnsbl .*listed=bl\.moat\.test")
                c = m2.raw(source="127.0.0.6")
                self.assertEqual(c.reply()[0], 220)
                c.close()
        finally:
            rbl.terminate()
            rbl.wait(10)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: moat behind a load balancer, the PROXY protocol (issue 26, item 7).

A real HAProxy (a private process, its configuration written here, on
loopback ports) sits in front of moatd in TCP mode: one frontend sends the
PROXY header v2 (send-proxy-v2, with health checks that send LOCAL),
another v1 (send-proxy), a third carries implicit TLS (smtps) with v2, and
an HTTP frontend adds X-Forwarded-For in front of the bait server. HAProxy
connects from 127.0.0.2, the only address in proxy_from; clients connect to
HAProxy from 127.0.0.5 and up. moat must see those clients, not HAProxy:
in its log lines, the Received: header, bans, per-client session limits
and the early-talker test; a connection from 127.0.0.2 without a good
header is dropped with one log line, and a client outside proxy_from that
sends a header is refused.
"""

import http.client
import os
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import time
import unittest

from harness import free_port, wait_port, message, moatctl
from service_peers import conf_section
from test_policy_service import Scripted
from test_tls_auth import TlsMoatd, client_ctx

PROXY_ADDR = "127.0.0.2"  # HAProxy's source address towards moat
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport, dport):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return V2_SIG + b"\x21\x11" + struct.pack(">H", len(body)) + body


class HAProxy:
    """A private haproxy -db with the given frontend/backend text."""

    def __init__(self, d, sections):
        self.cfg = os.path.join(d, "haproxy.cfg")
        self.log = os.path.join(d, "haproxy.log")
        with open(self.cfg, "w") as f:
            f.write("global\n\tmaxconn 200\n\n"
                    "defaults\n\tmode tcp\n\ttimeout connect 5s\n"
                    "\ttimeout client 60s\n\ttimeout server 60s\n\n" + sections)
        self.proc = None

    def start(self, ports):
        check = subprocess.run([HAPROXY, "-c", "-f", self.cfg], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.logfh = open(self.log, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-f", self.cfg, "-db"], stdout=self.logfh,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        for p in ports:
            wait_port("127.0.0.1", p, 10, self.proc)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if hasattr(self, "logfh"):
            self.logfh.close()


class ProxiedMoatd(TlsMoatd):
    """mx and smtps listeners that take PROXY headers from 127.0.0.2, a
    bait server that takes X-Forwarded-For from it, and a policy service
    at RCPT."""

    def __init__(self, psvc, **kw):
        self.http_port = free_port()
        self.psvc = psvc
        super().__init__(**kw)

    def conf_text(self):
        text = super().conf_text()
        for name in ("mx", "smtps"):
            text = text.replace('listen "%s" {\n' % name,
                                'listen "%s" {\n\tproxy_from = {"%s/32"}\n' % (name, PROXY_ADDR))
        text += ('bait {\n\tsecret_file = "%s/trap.secret"\n\tdomain = "example.test"\n'
                 '\tlisten = "127.0.0.1:%d"\n\tproxy_from = {"%s"}\n}\n'
                 % (self.dir, self.http_port, PROXY_ADDR))
        text += conf_section("policy_service", "recorder", self.psvc.address(),
                             on_error="accept")
        return text


class ProxyProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.psvc = Scripted(lambda attrs: "action=DUNNO")
        cls.m = ProxiedMoatd(cls.psvc, limits={"proxy_timeout": 2, "greet_delay_ms": 300,
                                     "conn_per_ip": 1, "bait_pace_ms": 0})
        cls.v2, cls.v1, cls.tls, cls.web = free_port(), free_port(), free_port(), free_port()
        src = "source %s" % PROXY_ADDR
        sections = f"""
frontend v2
\tbind 127.0.0.1:{cls.v2}
\tdefault_backend moat_v2
backend moat_v2
\tserver moat 127.0.0.1:{cls.m.port} send-proxy-v2 {src} check inter 500ms

frontend v1
\tbind 127.0.0.1:{cls.v1}
\tdefault_backend moat_v1
backend moat_v1
\tserver moat 127.0.0.1:{cls.m.port} send-proxy {src}

frontend smtps
\tbind 127.0.0.1:{cls.tls}
\tdefault_backend moat_smtps
backend moat_smtps
\tserver moat 127.0.0.1:{cls.m.smtps_port} send-proxy-v2 {src}

frontend web
\tmode http
\ttimeout http-request 10s
\tbind 127.0.0.1:{cls.web}
\tdefault_backend bait
backend bait
\tmode http
\toption forwardfor
\tserver bait 127.0.0.1:{cls.m.http_port} {src}
"""
        cls.m.start()
        try:
            cls.hap = HAProxy(cls.m.dir, sections).start([cls.v2, cls.v1, cls.tls, cls.web])
        except BaseException:
            cls.m.stop()
            cls.m.cleanup()
            cls.psvc.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.hap.stop()
        cls.m.stop()
        cls.m.cleanup()
        cls.psvc.close()

    def client(self, port, source):
        c = self.m.raw(source=source, port=port)
        return c

    def session_lines(self, sid):
        return [l for l in self.m.log().splitlines() if "sid=%s " % sid in l]

    # ---- who the client is ----

    def send_through(self, port, source, subject):
        s = smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source, 0),
                         local_hostname="client.test")
        s.ehlo()
        s.sendmail("x@remote.test", ["alice@example.test"], message(subject=subject))
        s.quit()

    def test_v2_client_in_logs_and_received(self):
        mark = len(self.m.log())
        self.send_through(self.v2, "127.0.0.5", "through v2")
        files = self.m.wait_maildir("alice", 1, containing="Subject: through v2")
        with open(files[0]) as f:
            text = f.read()
        self.assertRegex(text, r"Received: from client\.test \(\S+ \[127\.0\.0\.5\]\)")
        self.assertNotIn("[%s]" % PROXY_ADDR, text)
        line = self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.5:\d+ listener=mx "
                               r"proxy=127\.0\.0\.2:\d+", since=mark)[0]
        sid = re.search(r"sid=(\w+)", line).group(1)
        self.m.wait_log(r"smtp disconnect sid=%s " % sid, since=mark)
        lines = self.session_lines(sid)
        self.assertGreaterEqual(len(lines), 3, lines)
        for l in lines:
            if "client=" in l:
                self.assertRegex(l, r"client=127\.0\.0\.5(:\d+)? ")
        self.assertTrue(any(re.search(r"smtp screen sid=%s client=127\.0\.0\.5:" % sid, l)
                            for l in lines), lines)
        # the policy service was told of the client, not of HAProxy
        asked = [a for a in self.psvc.requests if a.get("instance", "").startswith(sid)]
        self.assertTrue(asked, self.psvc.requests)
        for a in asked:
            self.assertEqual(a.get("client_address"), "127.0.0.5", a)
        self.assertFalse([a for a in self.psvc.requests
                          if a.get("client_address") == PROXY_ADDR])

    def test_v1_client_in_logs_and_received(self):
        mark = len(self.m.log())
        self.send_through(self.v1, "127.0.0.6", "through v1")
        files = self.m.wait_maildir("alice", 1, containing="Subject: through v1")
        with open(files[0]) as f:
            self.assertRegex(f.read(), r"Received: from client\.test \(\S+ \[127\.0\.0\.6\]\)")
        self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.6:\d+ listener=mx "
                        r"proxy=127\.0\.0\.2:\d+", since=mark)
        self.m.wait_log(r"smtp disconnect sid=\w+ client=127\.0\.0\.6:\d+ ", since=mark)

    def test_health_check_local_is_the_proxy(self):
        # HAProxy's checks on the v2 backend send a LOCAL header: the
        # session is the proxy's own, and it is not dropped
        line = self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.2:\d+ listener=mx "
                               r"proxy=127\.0\.0\.2:\d+", timeout=10)[0]
        sid = re.search(r"sid=(\w+)", line).group(1)
        self.assertFalse([l for l in self.session_lines(sid) if "action=drop" in l])

    # ---- per-client defences act on the real client ----

    def test_ban_acts_on_real_client(self):
        out = moatctl(self.m, "ban", "127.0.0.7", "600", "proxied")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        try:
            mark = len(self.m.log())
            c = self.client(self.v2, "127.0.0.7")
            code, _ = c.reply()
            c.close()
            self.assertEqual(code, 421)
            self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.7:\d+ stage=connect "
                            r"rule=ban", since=mark)
            # the same HAProxy, another client: served
            c = self.client(self.v2, "127.0.0.8")
            code, _ = c.reply()
            self.assertEqual(code, 220)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            c.close()
        finally:
            moatctl(self.m, "unban", "127.0.0.7")

    def test_sessions_per_client_count_real_client(self):
        # conn_per_ip = 1: a second session of 127.0.0.9 is refused, one
        # of 127.0.0.10 through the same HAProxy is not
        first = self.client(self.v1, "127.0.0.9")
        self.assertEqual(first.reply()[0], 220)
        try:
            mark = len(self.m.log())
            second = self.client(self.v2, "127.0.0.9")
            self.assertEqual(second.reply()[0], 421)
            second.close()
            self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.9:\d+ stage=connect "
                            r"rule=conn-per-ip", since=mark)
            other = self.client(self.v2, "127.0.0.10")
            self.assertEqual(other.reply()[0], 220)
            other.cmd("QUIT")
            other.close()
        finally:
            first.cmd("QUIT")
            first.close()

    def test_header_is_not_early_talk_but_client_bytes_are(self):
        # the header comes before the greeting's delay: no early talker
        c = self.client(self.v2, "127.0.0.11")
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        c.close()
        # the client's own bytes before the greeting are early talk, and
        # the refusal names the client
        mark = len(self.m.log())
        c = self.client(self.v1, "127.0.0.12")
        c.send("EHLO early.test\r\n")
        code, _ = c.reply()
        c.close()
        self.assertEqual(code, 554)
        self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.12:\d+ stage=connect "
                        r"rule=early-talker", since=mark)

    def test_smtps_through_haproxy(self):
        mark = len(self.m.log())
        s = smtplib.SMTP_SSL("127.0.0.1", self.tls, timeout=20, context=client_ctx(),
                             source_address=("127.0.0.13", 0), local_hostname="client.test")
        self.assertEqual(s.ehlo()[0], 250)
        s.quit()
        line = self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.13:\d+ listener=smtps "
                               r"proxy=127\.0\.0\.2:\d+", since=mark)[0]
        sid = re.search(r"sid=(\w+)", line).group(1)
        self.m.wait_log(r"smtp tls sid=%s client=127\.0\.0\.13:\d+ tls=\"TLSv1\.[23]" % sid,
                        since=mark)

    # ---- what is refused ----

    def assert_dropped(self, mark, reason):
        line = self.m.wait_log(r"smtp proxy sid=\w+ proxy=127\.0\.0\.2:\d+ listener=mx "
                               r"action=drop reason=\"%s\"" % reason, since=mark)[0]
        sid = re.search(r"sid=(\w+)", line).group(1)
        time.sleep(0.3)
        self.assertEqual(self.session_lines(sid), [line], "one line per dropped connection")

    def test_from_proxy_without_header_dropped(self):
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)  # no header at all
        t0 = time.time()
        self.assertTrue(c.closed(timeout=6))
        self.assertEqual(c.buf, b"", "no greeting before the header")
        self.assertGreaterEqual(time.time() - t0, 1.5)
        c.close()
        self.assert_dropped(mark, "no PROXY header in time")

    def test_from_proxy_with_smtp_dropped(self):
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)
        c.send("EHLO proxy.test\r\n")
        self.assertTrue(c.closed(timeout=5))
        self.assertEqual(c.buf, b"")
        c.close()
        self.assert_dropped(mark, "not a PROXY header")

    def test_from_proxy_with_broken_headers_dropped(self):
        for data, reason in (
                (b"PROXY TCP4 127.0.0.5 127.0.0.1 99999 25\r\n",
                 "v1 header with a bad address or port"),
                (b"PROXY TCP4 127.0.0.5\r\n", "v1 header without its six fields"),
                (b"PROXY UNKNOWN " + b"x" * 120, "v1 header longer than 107 octets"),
                (V2_SIG + b"\x21\x11\x00\x08" + b"\x7f\x00\x00\x05" * 2,
                 "v2 header too short for its family"),
                (V2_SIG + b"\x21\x12\x00\x0c" + b"\x7f\x00\x00\x05" * 3,
                 "v2 header not of TCP over IPv4 or IPv6")):
            mark = len(self.m.log())
            c = self.m.raw(source=PROXY_ADDR)
            c.send(data)
            self.assertTrue(c.closed(timeout=5), data)
            self.assertEqual(c.buf, b"", data)
            c.close()
            self.assert_dropped(mark, re.escape(reason))

    def test_from_proxy_header_cut_short_dropped(self):
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)
        c.send(v2_header("127.0.0.5", "127.0.0.1", 4000, 25)[:20])
        self.assertTrue(c.closed(timeout=6))
        c.close()
        self.assert_dropped(mark, "no PROXY header in time")

    def test_header_by_hand_split(self):
        # a header in pieces is read whole; what follows it is the client's
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)
        hdr = b"PROXY TCP4 127.0.0.14 127.0.0.1 4444 25\r\n"
        c.send(hdr[:9])
        time.sleep(0.2)
        c.send(hdr[9:])
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO split.test")[0], 250)
        c.cmd("QUIT")
        c.close()
        self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.14:4444 listener=mx "
                        r"proxy=127\.0\.0\.2:\d+", since=mark)

    def test_header_by_hand_v6_and_local(self):
        # an IPv6 client through an IPv4 proxy connection
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)
        c.send(b"PROXY TCP6 2001:db8::5 ::1 5555 25\r\n")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO six.test")[0], 250)
        c.cmd("QUIT")
        c.close()
        self.m.wait_log(r"smtp connect sid=\w+ client=2001:db8::5:5555 listener=mx "
                        r"proxy=127\.0\.0\.2:\d+", since=mark)
        # v2 LOCAL: the proxy's own session, served
        mark = len(self.m.log())
        c = self.m.raw(source=PROXY_ADDR)
        c.send(V2_SIG + b"\x20\x00\x00\x00")
        port = c.sock.getsockname()[1]
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.m.wait_log(r"smtp connect sid=\w+ client=127\.0\.0\.2:%d listener=mx "
                        r"proxy=127\.0\.0\.2:%d" % (port, port), since=mark)

    def test_header_from_outside_refused(self):
        # after the greeting: a command that is refused, and the end
        mark = len(self.m.log())
        c = self.m.raw(source="127.0.0.15")
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("PROXY TCP4 127.0.0.99 127.0.0.1 1234 25")
        self.assertEqual(code, 554, lines)
        self.assertTrue(c.closed(timeout=5))
        c.close()
        self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.15:\d+ stage=command "
                        r"rule=proxy-header reply=\"554 5\.7\.0\"", since=mark)
        self.assertFalse(self.m.log_lines(r"client=127\.0\.0\.99"))
        # before the greeting (as HAProxy would send it): early talk
        mark = len(self.m.log())
        c = self.m.raw(source="127.0.0.16")
        c.send(v2_header("127.0.0.98", "127.0.0.1", 4000, 25))
        code, _ = c.reply()
        self.assertEqual(code, 554)
        self.assertTrue(c.closed(timeout=5))
        c.close()
        self.m.wait_log(r"smtp refuse sid=\w+ client=127\.0\.0\.16:\d+ stage=connect "
                        r"rule=early-talker", since=mark)
        self.assertFalse(self.m.log_lines(r"client=127\.0\.0\.98"))

    # ---- the bait server ----

    def fetch(self, port, source, xff=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15,
                                       source_address=(source, 0))
        headers = {"X-Forwarded-For": xff} if xff else {}
        c.request("GET", "/staff.html", headers=headers)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        self.assertEqual(r.status, 200)
        addrs = re.findall(r'href="mailto:([^"]+)"', body)
        self.assertTrue(addrs)
        return addrs

    def harvester(self, addr):
        out = moatctl(self.m, "trap", "decode", addr)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return re.search(r"harvested by (\S+)", out.stdout).group(1)

    def test_bait_forwarded_for_from_proxy(self):
        mark = len(self.m.log())
        # the client's own X-Forwarded-For comes first; HAProxy appends
        # the address it saw: that last one counts
        addrs = self.fetch(self.web, "127.0.0.17", xff="203.0.113.7")
        self.assertEqual(self.harvester(addrs[0]), "127.0.0.17")
        self.m.wait_log(r"bait page client=127\.0\.0\.17 addresses=\d+ proxy=127\.0\.0\.2",
                        since=mark)

    def test_bait_forwarded_for_ignored_from_elsewhere(self):
        mark = len(self.m.log())
        addrs = self.fetch(self.m.http_port, "127.0.0.18", xff="127.0.0.19")
        self.assertEqual(self.harvester(addrs[0]), "127.0.0.18")
        line = self.m.wait_log(r"bait page client=127\.0\.0\.18 ", since=mark)[0]
        self.assertNotIn("proxy=", line)
        self.assertFalse(self.m.log_lines(r"client=127\.0\.0\.19"))


class ProxyConfig(unittest.TestCase):
    def test_bad_proxy_from_refused_with_line(self):
        from harness import Moatd

        class Bad(Moatd):
            def conf_text(self):
                return super().conf_text().replace(
                    'listen "mx" {\n', 'listen "mx" {\n\tproxy_from = {"10.0.0.0/33"}\n')
        Bad().assert_refused(self, r"moat\.conf:\d+: proxy_from: \"10\.0\.0\.0/33\" is not "
                                   r"an address or CIDR block")
        m = Moatd(extra='bait {\n\tproxy_from = {"127.0.0.1", "not-an-address"}\n}\n')
        m.assert_refused(self, r"moat\.conf:\d+: proxy_from: \"not-an-address\" is not "
                               r"an address or CIDR block")


if __name__ == "__main__":
    unittest.main()

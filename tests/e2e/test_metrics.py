"""End-to-end: the Prometheus endpoint of moatd (issue 26, item 5).

metrics_listen serves GET /metrics in the text exposition format; the page
is parsed with prometheus_client's own parser (Debian
python3-prometheus-client), as a Prometheus server would read it. Across a
short run the numbers move as they should: N messages accepted add N to the
messages counter and to the commit-latency and size histograms; a banned
client adds one to its rule's refusal and verdict counters; Maildir
deliveries count as sent by transport maildir, a dead next hop as deferred
by transport smtp, an MX lookup (asked of a dnsmasq on loopback) by
transport mx and in the DNS latency histogram; the queue gauges see the
deferred message; open sessions are a gauge. Counters survive a reload and
a restart (they live in the state store). Other paths get 404 (logged),
a head over the size cap is refused, idle clients past the connection cap
are cut at the deadline; the listener is bound by the master (a port below
1024 works) and served by a process that is not root, on IPv4 or IPv6; a
bad metrics_listen is named with file:line by moatd -n. Traffic goes to
127.0.0.0/8 and ::1 only.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import unittest

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's python3-prometheus-client (scripts/deps.sh) is pure Python,
    # in Debian's module directory: reach it from another python3 too
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

from harness import Moatd, free_port, message, moatctl
from peers import Dnsmasq


def get(port, path="/metrics", host="127.0.0.1", method="GET", headers=None):
    """One HTTP request: (status, content type, body text)."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def parse(text):
    """{(sample name, ((label, value), ...)): value} and {family: type}."""
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


def bucket(samples, name, le):
    """A histogram's cumulative count at the bound le (a number)."""
    for (n, labels), v in samples.items():
        if n == name + "_bucket" and float(dict(labels)["le"]) == le:
            return v
    raise AssertionError("%s has no bucket le=%s" % (name, le))


class Scraper:
    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host

    def scrape(self):
        status, ctype, body = get(self.port, host=self.host)
        assert status == 200, (status, body)
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        return parse(body)[0]

    def wait(self, cond, what, timeout=10):
        """Scrape until cond(samples) holds (workers flush every second)."""
        deadline = time.time() + timeout
        while True:
            s = self.scrape()
            if cond(s):
                return s
            if time.time() > deadline:
                raise AssertionError("metrics never showed %s; last scrape:\n%s" % (
                    what, "\n".join("%s%s %s" % (k[0], dict(k[1]), v)
                                    for k, v in sorted(s.items()))))
            time.sleep(0.2)


def send(m, rcpt, subject, source="127.0.0.1", body="hello\r\n"):
    s = m.smtp(source=source)
    s.ehlo()
    s.mail("x@remote.test")
    code, resp = s.rcpt(rcpt)
    assert code == 250, (rcpt, code, resp)
    code, resp = s.data(message(subject=subject, to=rcpt, body=body))
    assert code == 250, resp
    s.quit()


MESSAGES = "moat_messages_accepted_total"
COMMIT = "moat_commit_duration_seconds"
SIZE = "moat_message_size_bytes"
REFUSED = "moat_sessions_refused_total"
VERDICTS = "moat_screen_verdicts_total"
DELIVERIES = "moat_deliveries_total"


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mport = free_port()
        # 127.0.0.1 relays (trusted): its mail for elsewhere goes to the
        # dead relay host and is deferred
        cls.m = Moatd(trusted=["127.0.0.1/32"],
                      limits={"metrics_conns_max": 2, "metrics_request_timeout": 2},
                      extra='metrics_listen = "127.0.0.1:%d"\n' % cls.mport)
        cls.m.start()
        cls.m.wait_log(r"control ready")
        cls.p = Scraper(cls.mport)

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def test_exposition(self):
        status, ctype, body = get(self.mport)
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        samples, types = parse(body)
        want = {
            "moat_sessions_open": "gauge", "moat_sessions_accepted": "counter",
            "moat_sessions_refused": "counter", "moat_messages_accepted": "counter",
            "moat_message_size_bytes": "histogram",
            "moat_commit_duration_seconds": "histogram",
            "moat_deliveries": "counter", "moat_queue_messages": "gauge",
            "moat_queue_oldest_message_age_seconds": "gauge",
            "moat_dns_query_duration_seconds": "histogram",
            "moat_store_operation_duration_seconds": "histogram",
            "moat_bans": "gauge", "moat_stress": "gauge",
            "moat_screen_verdicts": "counter",
        }
        for name, typ in want.items():
            self.assertEqual(types.get(name), typ, name)
        # a histogram's buckets are cumulative and end in +Inf = _count
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == COMMIT + "_bucket")
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1][1], samples[key(COMMIT + "_count")])
        self.assertEqual(samples[key("moat_stress")], 0)
        # the store answered the workers' flushes: its latency is measured
        self.assertGreater(samples[key("moat_store_operation_duration_seconds_count")], 0)
        # HEAD gets the headers only
        status, _, body = get(self.mport, method="HEAD")
        self.assertEqual((status, body), (200, ""))

    def test_messages_commit_and_maildir(self):
        n = 3
        before = self.p.scrape()
        sent0 = before.get(key(DELIVERIES, transport="maildir", result="sent"), 0)
        for i in range(n):
            send(self.m, "bob@example.test", "metrics %d" % i,
                 body=("x" * 70 + "\r\n") * 30)
        self.m.wait_maildir("bob", n, containing="metrics ")
        after = self.p.wait(
            lambda s: s[key(MESSAGES)] >= before[key(MESSAGES)] + n and
            s.get(key(DELIVERIES, transport="maildir", result="sent"), 0) >= sent0 + n,
            "%d more messages and maildir deliveries" % n)
        self.assertEqual(after[key(MESSAGES)], before[key(MESSAGES)] + n)
        self.assertEqual(after[key(COMMIT + "_count")], before[key(COMMIT + "_count")] + n)
        self.assertGreater(after[key(COMMIT + "_sum")], before[key(COMMIT + "_sum")])
        self.assertEqual(after[key(SIZE + "_count")], before[key(SIZE + "_count")] + n)
        # each message is over 2000 octets: the 1024 bucket did not move
        self.assertGreaterEqual(after[key(SIZE + "_sum")] - before[key(SIZE + "_sum")],
                                n * 2000)
        self.assertEqual(bucket(after, SIZE, 1024), bucket(before, SIZE, 1024))
        self.assertEqual(bucket(after, SIZE, 4096), bucket(before, SIZE, 4096) + n)
        self.assertEqual(after[key(DELIVERIES, transport="maildir", result="sent")],
                         sent0 + n)
        self.assertGreaterEqual(after[key("moat_sessions_accepted_total")],
                                before[key("moat_sessions_accepted_total")] + n)

    def test_banned_client_refused(self):
        moatctl(self.m, "ban", "127.0.0.9", "600", "metrics", "test", check=True)
        before = self.p.wait(lambda s: s[key("moat_bans")] >= 1, "the ban")
        refused = key(REFUSED, stage="connect", rule="ban")
        c = self.m.raw(source="127.0.0.9")
        line = c.line()
        c.close()
        self.assertRegex(line, r"^[45]\d\d ")
        # a ban answers 421 (tempfail) or 554 (reject), as the ban says
        verdict = key(VERDICTS, hook="connect", rule="ban",
                      verdict="tempfail" if line.startswith("4") else "reject")
        after = self.p.wait(lambda s: s.get(refused, 0) >= before.get(refused, 0) + 1,
                            "the ban's refusal")
        self.assertEqual(after[refused], before.get(refused, 0) + 1)
        self.assertEqual(after[verdict], before.get(verdict, 0) + 1)
        moatctl(self.m, "unban", "127.0.0.9", check=True)
        self.p.wait(lambda s: s[key("moat_bans")] == before[key("moat_bans")] - 1,
                    "the ban gone")

    def test_deferred_and_queue_gauges(self):
        before = self.p.scrape()
        deferred = key(DELIVERIES, transport="smtp", result="deferred")
        send(self.m, "someone@elsewhere.test", "metrics deferred")
        after = self.p.wait(lambda s: s.get(deferred, 0) >= before.get(deferred, 0) + 1,
                            "a deferral by transport smtp")
        self.assertGreaterEqual(after[key("moat_queue_messages")], 1)
        self.assertEqual(after[key("moat_queue_messages")], len(self.m.queue_files()))
        # the oldest message's age grows with the clock
        time.sleep(1.2)
        later = self.p.scrape()
        self.assertGreaterEqual(later[key("moat_queue_oldest_message_age_seconds")], 1)

    def test_sessions_open(self):
        # the other tests' sessions are over (the count follows within a second)
        self.p.wait(lambda s: s[key("moat_sessions_open")] == 0, "no session open")
        c = self.m.raw()
        self.assertTrue(c.line().startswith("220 "))
        self.p.wait(lambda s: s[key("moat_sessions_open")] == 1, "one session open")
        c.close()
        self.p.wait(lambda s: s[key("moat_sessions_open")] == 0, "the session closed")

    def test_not_found(self):
        mark = len(self.m.log())
        for path in ("/", "/metric", "/metrics/x", "/metricsx", "/../metrics"):
            status, _, body = get(self.mport, path)
            self.assertEqual(status, 404, path)
            self.assertNotIn("moat_", body)
        # each logged once, with the client; a quote in the path stays inside
        # its value
        get(self.mport, '/x"y=1')
        lines = self.m.wait_log(r"control metrics client=127\.0\.0\.1 status=404 uri=",
                                count=6, since=mark)
        self.assertEqual(len(lines), 6)
        self.assertIn('uri="/x\\"y=1"', lines[-1])
        # a query string does not change the path
        self.assertEqual(get(self.mport, "/metrics?x=1")[0], 200)
        # only GET and HEAD: evhttp answers 501 to the others
        for method in ("POST", "PUT", "DELETE"):
            status, _, body = get(self.mport, method=method)
            self.assertEqual(status, 501, method)
            self.assertNotIn("moat_", body)

    def test_request_size_cap(self):
        # a head past metrics_request_max (8192) is refused, never served
        with socket.create_connection(("127.0.0.1", self.mport), timeout=10) as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 +
                      b"\r\n\r\n")
            out = b""
            try:
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except ConnectionResetError:
                pass  # closed with our head unread: refused too
        self.assertNotIn(b"moat_", out)
        if out:
            self.assertRegex(out.split(b"\r\n")[0], rb"^HTTP/1\.[01] (400|413|431) ")

    def test_connection_cap_and_deadline(self):
        # metrics_conns_max (2) clients that say nothing fill the endpoint:
        # the next scrape waits in the backlog until metrics_request_timeout
        # (2 s) cuts them, then is answered
        idle = [socket.create_connection(("127.0.0.1", self.mport)) for _ in range(2)]
        try:
            time.sleep(0.3)
            t0 = time.time()
            status, _, _ = get(self.mport)
            waited = time.time() - t0
            self.assertEqual(status, 200)
            self.assertGreater(waited, 1.0)
            self.assertLess(waited, 6.0)
            for s in idle:
                s.settimeout(2)
                try:
                    self.assertEqual(s.recv(100), b"")
                except ConnectionResetError:
                    pass
        finally:
            for s in idle:
                s.close()


class MetricsReloadTest(unittest.TestCase):
    """Counters live in the store: a reload and a restart keep them."""

    def test_reload_and_restart(self):
        mport = free_port()
        m = Moatd(extra='metrics_listen = "127.0.0.1:%d"\n' % mport)
        with m:
            p = Scraper(mport)
            for i in range(2):
                send(m, "alice@example.test", "before reload %d" % i)
            s = p.wait(lambda s: s[key(MESSAGES)] == 2 and s[key(COMMIT + "_count")] == 2,
                       "2 messages")
            commits = s[key(COMMIT + "_count")]
            self.assertEqual(commits, 2)
            mark = len(m.log())
            m.hup()
            m.wait_log(r"configuration reloaded", since=mark)
            m.wait_log(r"control ready", since=mark)
            m.wait_log(r"smtp worker 0 ready", since=mark)
            s = p.scrape()
            self.assertEqual(s[key(MESSAGES)], 2)
            self.assertEqual(s[key(COMMIT + "_count")], commits)
            send(m, "alice@example.test", "after reload")
            s = p.wait(lambda s: s[key(MESSAGES)] == 3, "3 messages after the reload")
            self.assertEqual(s[key(COMMIT + "_count")], 3)
            m.wait_maildir("alice", 3)
            p.wait(lambda s: s.get(key(DELIVERIES, transport="maildir", result="sent"))
                   == 3, "3 maildir deliveries")
            # a restart: the store is on disk, the counters go on
            m.stop()
            m.start()
            m.wait_log(r"control ready")
            s = p.scrape()
            self.assertEqual(s[key(MESSAGES)], 3)
            self.assertEqual(s[key(COMMIT + "_count")], 3)
            self.assertEqual(s[key("moat_sessions_open")], 0)


class MetricsDNSTest(unittest.TestCase):
    """The queue runner's MX lookups, against a DNS server on loopback:
    counted in the DNS latency histogram, the result by transport mx."""

    def test_mx_lookup(self):
        mport = free_port()
        with Dnsmasq() as dns, Moatd(trusted=["127.0.0.1/32"], relayhost=None,
                                     dns_servers=[dns.server()],
                                     extra='metrics_listen = "127.0.0.1:%d"\n'
                                     % mport) as m:
            p = Scraper(mport)
            before = p.scrape()
            self.assertEqual(before[key("moat_dns_query_duration_seconds_count")], 0)
            # dnsmasq, authoritative for nothing, refuses the query: the
            # message is deferred by transport mx
            send(m, "someone@nowhere.test", "mx lookup")
            deferred = key(DELIVERIES, transport="mx", result="deferred")
            after = p.wait(lambda s: s.get(deferred, 0) >= 1 and
                           s[key("moat_dns_query_duration_seconds_count")] >= 1,
                           "the MX lookup and its deferral")
            self.assertGreater(after[key("moat_dns_query_duration_seconds_sum")], 0)
            self.assertEqual(bucket(after, "moat_dns_query_duration_seconds",
                                    float("inf")),
                             after[key("moat_dns_query_duration_seconds_count")])
            self.assertIn("nowhere.test", dns.log())


def free_port6():
    """A TCP port on ::1 nobody listens on now, or None without IPv6."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


class MetricsIPv6Test(unittest.TestCase):
    def test_ipv6_listener(self):
        mport = free_port6()
        if mport is None:
            self.skipTest("no IPv6 on loopback")
        m = Moatd(extra='metrics_listen = "[::1]:%d"\n' % mport)
        with m:
            m.wait_log(r"control ready")
            send(m, "alice@example.test", "v6 scrape")
            Scraper(mport, host="::1").wait(lambda s: s[key(MESSAGES)] == 1,
                                            "the message, over IPv6")


def free_low_port():
    """A port below 1024 on 127.0.0.1 that nobody listens on, or None."""
    for port in range(990, 900, -1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    return None


class MetricsPrivilegedPortTest(unittest.TestCase):
    """The master binds metrics_listen as root, before the control process
    drops to the run user: a port below 1024 works, and what serves it is
    not root."""

    def test_low_port(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        mport = free_low_port()
        if mport is None:
            self.skipTest("no free port below 1024")
        m = Moatd(extra='metrics_listen = "127.0.0.1:%d"\n' % mport)
        with m:
            m.wait_log(r"control ready")
            self.assertIn("master: metrics on http://127.0.0.1:%d/metrics" % mport,
                          m.log())
            Scraper(mport).scrape()
            # the one process that accepted: found by its socket
            c = socket.create_connection(("127.0.0.1", mport))
            out = ""
            try:
                deadline = time.time() + 5
                pids = set()
                while not pids and time.time() < deadline:
                    out = subprocess.run(["ss", "-Htnp", "state", "established",
                                          "( sport = :%d )" % mport],
                                         capture_output=True, text=True).stdout
                    pids = set(int(p) for p in re.findall(r"pid=(\d+)", out))
                    time.sleep(0.1)
            finally:
                c.close()
            self.assertEqual(len(pids), 1, out)
            with open("/proc/%d/status" % pids.pop()) as f:
                uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", f.read(), re.M)
            self.assertNotEqual(int(uids.group(1)), 0)
            self.assertNotEqual(int(uids.group(2)), 0)


class MetricsConfigTest(unittest.TestCase):
    def test_bad_metrics_listen(self):
        for bad in ("nonsense", "127.0.0.1:99999", "example.test:9325", "[::1]x",
                    "unix:/tmp/m.sock"):
            m = Moatd(extra='metrics_listen = "%s"\n' % bad)
            m.assert_refused(self, r"moat\.conf:\d+: metrics_listen = \"%s\": must be"
                             % re.escape(bad))


if __name__ == "__main__":
    unittest.main()

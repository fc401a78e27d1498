"""test_probe - moat-probe against real servers on loopback.

Three targets, as in issue 7:
  moatd, default config         -> every test refused, exit 0
  Postfix as an open relay      -> relays found, proven by receipt at the
                                   probe's sink (Postfix's transport map
                                   sends relay.test and [127.0.0.2] there)
  Postfix's smtp-sink           -> 250 to everything, delivers nothing:
                                   accepted (unproven), never proven
nmap's smtp-open-relay runs against the same three and the verdicts are
printed side by side. Also: --only refuses non-loopback targets before a
packet is sent (checked with strace), survey ranges need --i-own-these,
the survey state file resumes, the per-host rate and the concurrency limit
hold, a 554 greeting stops the battery, forged tokens prove nothing, and
target names resolve through a dnsmasq the test starts.
All traffic goes to 127.0.0.0/8; DNS only to that dnsmasq.
"""

import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, SANITIZER_MARKS, Moatd, RawClient, free_port, make_tmpdir
from peers import Dnsmasq, Postfix, SmtpSink

PROBE = os.path.join(BIN, "moat-probe")
RELAY_DOMAIN = "relay.test"
RELAY_LITERAL = "127.0.0.2"  # "external" to Postfix: not one of its interfaces
NTESTS = 92                  # the whole battery (moat-probe --list)
FAST = ["--rate", "6000", "--only", "127.0.0.0/8", "--helo", "probe.moat.test"]


def run_probe(args, timeout=300, check_sanitizers=True):
    p = subprocess.run([PROBE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check_sanitizers:
        for mark in SANITIZER_MARKS:
            if mark in p.stderr:
                raise AssertionError("sanitizer report from moat-probe:\n" + p.stderr)
    return p


def parse_json(out):
    tests, hosts, summary = [], [], None
    for line in out.splitlines():
        obj = json.loads(line)
        if obj["type"] == "test":
            tests.append(obj)
        elif obj["type"] == "host":
            hosts.append(obj)
        elif obj["type"] == "summary":
            summary = obj
    return tests, hosts, summary


def nmap_relay(port):
    """nmap's smtp-open-relay verdict for 127.0.0.1:port (no DNS: -n)."""
    p = subprocess.run(
        ["nmap", "-n", "-Pn", "-sT", "-p", str(port), "-vv",
         "--script", "+smtp-open-relay",
         "--script-args", "smtp-open-relay.domain=%s,smtp-open-relay.ip=127.0.0.1"
         % RELAY_DOMAIN, "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    m = re.search(r"smtp-open-relay: (.*)", p.stdout)
    return (m.group(1).strip() if m else "no verdict"), p.stdout


def probe_connects(m):
    """moatd's connect lines for sessions that said EHLO: the probe's, not
    the harness's check that moatd listens."""
    sids = set(re.findall(r"smtp disconnect sid=(\S+) .* ehlo=", m.log()))
    return [l for l in m.log_lines(r"smtp connect ")
            if re.search(r"sid=(\S+)", l).group(1) in sids]


def verdicts(tests):
    out = {}
    for t in tests:
        out[t["verdict"]] = out.get(t["verdict"], 0) + 1
    return out


class ThreeTargets(unittest.TestCase):
    """One probe run with a sink against each of the three targets."""

    @classmethod
    def setUpClass(cls):
        cls.sink_port = free_port()
        hop = "smtp:[127.0.0.1]:%d" % cls.sink_port
        # class cleanups run even when setUpClass fails half-way
        cls.moatd = Moatd().start()
        cls.addClassCleanup(cls.moatd.cleanup)
        cls.addClassCleanup(cls.moatd.stop)
        cls.smtp_sink = SmtpSink().start()
        cls.addClassCleanup(shutil.rmtree, cls.smtp_sink.dir, True)
        cls.addClassCleanup(cls.smtp_sink.stop)
        cls.postfix = Postfix(mynetworks=["127.0.0.0/8"],
                              transports={RELAY_DOMAIN: hop, "[%s]" % RELAY_LITERAL: hop})
        cls.addClassCleanup(shutil.rmtree, cls.postfix.dir, True)
        cls.addClassCleanup(cls.postfix.stop)
        cls.postfix.start()
        cls.targets = {"moatd": cls.moatd.port, "postfix": cls.postfix.port,
                       "smtp-sink": cls.smtp_sink.port}
        cls.runs = {}
        for name, port in cls.targets.items():
            t0 = time.time()
            # the client is bound to 127.0.0.1, inside Postfix's mynetworks
            p = run_probe(FAST + ["--json", "--source", "127.0.0.1",
                                  "--sink", "127.0.0.1:%d" % cls.sink_port,
                                  "--relay-domain", RELAY_DOMAIN,
                                  "--relay-literal", RELAY_LITERAL, "--wait", "20",
                                  "127.0.0.1:%d" % port])
            cls.runs[name] = (p, parse_json(p.stdout), time.time() - t0)

    def test_battery_is_complete(self):
        for name, (p, (tests, hosts, summary), _) in self.runs.items():
            ids = [t["id"] for t in tests]
            self.assertEqual(len(ids), NTESTS, name)
            self.assertEqual(len(set(ids)), NTESTS, name)
            # nmap's 16, the sender tricks, every recipient trick twice
            for i in range(1, 17):
                self.assertIn("nmap-%02d" % i, ids)
            for tid in ("from-null", "from-local", "from-host", "from-iplit",
                        "from-localhost", "from-unqual", "pct-host-t", "pct-iplit-n",
                        "pct-local-t", "quote-at-n", "quote-pct-local-t", "dblat-host-n",
                        "route-host-t", "route-2hop-n", "bang-t", "bang-iplit-n",
                        "bang-2hop-t", "lit-ext-n", "case-local-t", "dot-local-n",
                        "dot-host-t"):
                self.assertIn(tid, ids)
            for t in tests:
                if t["id"].endswith("-n"):
                    self.assertEqual(t["mail_from"], "", t["id"])
                if t["id"].endswith("-t"):
                    self.assertEqual(t["mail_from"], "moat-probe@probe.moat.test")

    def test_moatd_refuses_every_test(self):
        p, (tests, hosts, summary), _ = self.runs["moatd"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(verdicts(tests), {"refused": NTESTS})
        for t in tests:
            self.assertIn(t["stage"], ("mail", "rcpt"), t)
            self.assertFalse(t["local"], t)
            self.assertEqual(t["code"] // 100, 5, t)
            self.assertFalse(t["message_sent"], t)
        self.assertEqual(hosts[0]["name"], "mx.example.test")
        self.assertEqual(hosts[0]["result"], "no relay")
        self.assertEqual(summary["relayed"], 0)
        self.assertEqual(summary["exit"], 0)
        # one connection per test plus the discovery connection
        self.assertEqual(len(probe_connects(self.moatd)), NTESTS + 1)
        self.assertEqual(len(self.moatd.log_lines(r"smtp refuse .*stage=(rcpt|mail)")),
                         NTESTS)

    def test_postfix_open_relay_is_proven_by_receipt(self):
        p, (tests, hosts, summary), elapsed = self.runs["postfix"]
        # every receipt came back, so the probe did not sit out its --wait
        self.assertLess(elapsed, 19)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        # Postfix with mynetworks=127.0.0.0/8 relays every trick for us.
        self.assertEqual(verdicts(tests), {"relayed (proven)": NTESTS})
        for t in tests:
            self.assertTrue(t["message_sent"], t)
            self.assertEqual(t["code"], 250)
            self.assertTrue(t["proof"]["from"].startswith("127.0.0.1:"), t)
        self.assertEqual(hosts[0]["name"], "mx.postfix.test")
        self.assertEqual(summary["relayed"], NTESTS)
        self.assertGreaterEqual(
            len(self.postfix.log_lines(r"smtpd.*connect from localhost\[127\.0\.0\.1\]")),
            NTESTS + 1)
        # Postfix's own log shows the deliveries to our sink
        sent = self.postfix.wait_log(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent"
                                     % self.sink_port, count=NTESTS)
        self.assertEqual(len(sent), NTESTS)

    def test_smtp_sink_is_accepted_but_not_proven(self):
        p, (tests, hosts, summary), elapsed = self.runs["smtp-sink"]
        # With a sink only proof counts: smtp-sink relays nothing.
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(verdicts(tests), {"accepted (unproven)": NTESTS})
        for t in tests:
            self.assertTrue(t["message_sent"], t)
            self.assertNotIn("proof", t)
        self.assertEqual(summary["relayed"], 0)
        self.assertEqual(summary["accepted"], NTESTS)
        self.assertGreaterEqual(elapsed, 19, "the probe waited for receipts")
        self.assertIn("waiting up to 20 s for %d receipts" % NTESTS, p.stderr)

    def test_without_sink_acceptance_is_all_we_know(self):
        self.smtp_sink.check()
        for name in ("postfix", "smtp-sink"):
            p = run_probe(FAST + ["--json", "--tests", "nmap-*", "--relay-domain",
                                  RELAY_DOMAIN, "127.0.0.1:%d" % self.targets[name]])
            tests, hosts, summary = parse_json(p.stdout)
            self.assertEqual(p.returncode, 1, name)
            self.assertEqual(verdicts(tests), {"accepted (unproven)": 16}, name)
            for t in tests:
                self.assertFalse(t["message_sent"], t)  # no sink, no message
                self.assertEqual(t["stage"], "rcpt")

    def test_text_report(self):
        p = run_probe(FAST + ["--tests", "nmap-0[1-3]", "--relay-domain", RELAY_DOMAIN,
                              "127.0.0.1:%d" % self.moatd.port])
        self.assertEqual(p.returncode, 0)
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith("127.0.0.1:%d (mx.example.test" % self.moatd.port))
        self.assertEqual(lines[1].split()[:4], ["TEST", "MAIL", "FROM", "RCPT"])
        self.assertTrue(lines[1].rstrip().endswith("VERDICT"))
        row = [l for l in lines if l.startswith("nmap-01 ")][0]
        self.assertIn("<>", row)
        self.assertIn("<relaytest@relay.test>", row)
        self.assertRegex(row, r"rcpt: 5\d\d ")
        self.assertTrue(row.endswith("refused"))
        self.assertRegex(p.stdout, r"summary .*: 0 relayed \(proven\).*3 refused.*: no relay")

    def test_nmap_comparison(self):
        expect = {"moatd": "refused", "postfix": "relayed (proven)",
                  "smtp-sink": "accepted (unproven)"}
        rows = []
        self.smtp_sink.check()
        for name, port in self.targets.items():
            nverdict, raw = nmap_relay(port)
            self.assertNotEqual(nverdict, "no verdict", raw)
            tests = self.runs[name][1][0]
            nm = {t["id"]: t["verdict"] for t in tests if t["id"].startswith("nmap-")}
            self.assertEqual(set(nm.values()), {expect[name]}, name)
            rows.append((name, nverdict, "%d/16 %s" % (len(nm), expect[name]),
                         "exit %d" % self.runs[name][0].returncode))
        print("\n\nmoat-probe vs nmap smtp-open-relay (the same 16 tests):")
        print("%-10s | %-58s | %-26s | %s" % ("target", "nmap", "moat-probe", "status"))
        for r in rows:
            print("%-10s | %-58s | %-26s | %s" % r)
        # nmap judges by the 250 alone: it calls smtp-sink an open relay,
        # and cannot tell it from Postfix, which really relays.
        self.assertIn("open relay", dict((r[0], r[1]) for r in rows)["postfix"])


class Cli(unittest.TestCase):

    def test_list_and_usage_errors(self):
        p = run_probe(["--list"])
        self.assertEqual(p.returncode, 0)
        rows = [l.split()[0] for l in p.stdout.splitlines()[1:] if l and l[0].islower()]
        self.assertEqual(rows[:16], ["nmap-%02d" % i for i in range(1, 17)])
        # 16 + 6 single rows, 35 rows run with both senders: 92 tests
        both = [r for r in rows if r.endswith("-{t,n}")]
        self.assertEqual(len(rows) - len(both) + 2 * len(both), NTESTS)
        for args, msg in (
                ([], "usage:"),
                (["--tests", "nope*", "127.0.0.1"], "no test matches"),
                (["--only", "not-a-net", "127.0.0.1"], "--only not-a-net"),
                (["--sink", "nowhere", "127.0.0.1"], "--sink nowhere"),
                (["--rate", "0", "127.0.0.1"], "--rate 0"),
                (["--helo", "bad name!", "127.0.0.1"], "--helo"),
                (["--key-file", "/nonexistent", "127.0.0.1"], "/nonexistent"),
                (["--survey", "/nonexistent"], "/nonexistent"),
                (["not a host"], "not an address, host name or range"),
                (["127.0.0.0/24"], "--i-own-these")):
            p = run_probe(args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(msg, p.stderr, args)
            self.assertEqual(p.stdout, "", args)


class SinkLimits(unittest.TestCase):

    def test_sink_is_bounded(self):
        """The receipt sink caps sessions, message size and line length."""
        sink_port = free_port()
        with SmtpSink() as target:
            proc = subprocess.Popen(
                [PROBE] + FAST + ["--json", "--tests", "nmap-01", "--sink",
                                  "127.0.0.1:%d" % sink_port, "--wait", "30",
                                  "127.0.0.1:%d" % target.port],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                for line in proc.stderr:
                    if "waiting up to 30 s" in line:
                        break
                # 32 sessions at once are served; the 33rd hears 421
                conns = [RawClient("127.0.0.1", sink_port) for _ in range(32)]
                for c in conns:
                    self.assertEqual(c.reply()[0], 220)
                extra = RawClient("127.0.0.1", sink_port)
                self.assertEqual(extra.reply()[0], 421)
                self.assertTrue(extra.closed())
                extra.close()
                for c in conns[1:]:
                    c.close()
                c = conns[0]
                # a message over 1 MiB is read to its end and refused
                self.assertEqual(c.cmd("EHLO t.test")[0], 250)
                self.assertEqual(c.cmd("MAIL FROM:<a@t.test>")[0], 250)
                self.assertEqual(c.cmd("RCPT TO:<b@t.test>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                line = "x" * 998 + "\r\n"
                c.send(line * 1100 + ".\r\n")
                self.assertEqual(c.reply()[0], 552)
                # an over-long line lasting past the limit is a long line even in DATA
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send("y" * 20000 + "\r\n.\r\n")
                self.assertEqual(c.reply()[0], 250)
                # a command line over 1024 octets ends the session
                c.send("NOOP " + "z" * 1100 + "\r\n")
                self.assertEqual(c.reply()[0], 500)
                self.assertTrue(c.closed())
                c.close()
            finally:
                proc.terminate()
                out, err = proc.communicate(timeout=30)
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, err)


class StartTLS(unittest.TestCase):

    def test_starttls_with_postfix(self):
        """--starttls: the battery runs inside TLS, and proof still comes back."""
        sink_port = free_port()
        hop = "smtp:[127.0.0.1]:%d" % sink_port
        with Postfix(mynetworks=["127.0.0.0/8"], transports={RELAY_DOMAIN: hop},
                     tls=True) as pf:
            base = FAST + ["--json", "--tests", "nmap-0[12]", "--relay-domain",
                           RELAY_DOMAIN, "--sink", "127.0.0.1:%d" % sink_port,
                           "--wait", "20", "127.0.0.1:%d" % pf.port]
            p = run_probe(base)
            tests, hosts, summary = parse_json(p.stdout)
            self.assertEqual(verdicts(tests), {"relayed (proven)": 2})
            self.assertNotIn("TLS connection established", pf.log())
            p = run_probe(["--starttls"] + base)
            tests, hosts, summary = parse_json(p.stdout)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(verdicts(tests), {"relayed (proven)": 2})
            # discovery + 2 tests, each after STARTTLS and a second EHLO
            tls = pf.wait_log(r"smtpd.*TLS connection established from localhost", count=3)
            self.assertEqual(len(tls), 3)
            self.assertEqual(len(pf.log_lines(r"smtpd.*disconnect from .* ehlo=2 starttls=1 ")), 3)


class ScriptedServer:
    """A tiny SMTP-ish server on several loopback addresses: says `greeting`,
    then 250 to everything (after `delay` seconds), and counts connections
    and the most that were open at once."""

    def __init__(self, addrs, greeting="220 stub.test ESMTP", delay=0.0, silent=None):
        self.port = free_port()
        self.greeting = greeting
        self.delay = delay
        self.silent = silent  # a command prefix never answered
        self.lock = threading.Lock()
        self.conns = 0
        self.open = 0
        self.max_open = 0
        self.socks = []
        self.stop_flag = False
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, self.port))
            s.listen(64)
            s.settimeout(0.2)
            self.socks.append(s)
            threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def accept_loop(self, s):
        while not self.stop_flag:
            try:
                c, _ = s.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        closed = False
        with self.lock:
            self.conns += 1
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        try:
            c.settimeout(10)
            c.sendall((self.greeting + "\r\n").encode())
            f = c.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    break
                time.sleep(self.delay)
                cmd = line.strip().upper()
                if self.silent and cmd.startswith(self.silent):
                    continue
                if cmd == b"QUIT":
                    # the session is over before the probe hears 221
                    with self.lock:
                        self.open -= 1
                    closed = True
                    c.sendall(b"221 bye\r\n")
                    break
                c.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            if not closed:
                with self.lock:
                    self.open -= 1
            c.close()

    def close(self):
        self.stop_flag = True
        for s in self.socks:
            s.close()


class Politeness(unittest.TestCase):

    def test_554_greeting_stops_the_battery(self):
        srv = ScriptedServer(["127.0.0.1"], greeting="554 5.7.1 no probing here")
        try:
            p = run_probe(FAST + ["--json", "127.0.0.1:%d" % srv.port])
        finally:
            srv.close()
        tests, hosts, summary = parse_json(p.stdout)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(srv.conns, 1, "one connection, then it stopped")
        self.assertTrue(hosts[0]["refused_connection"])
        self.assertEqual(hosts[0]["connect_reply"], "554 5.7.1 no probing here")
        self.assertEqual(hosts[0]["result"], "could not test")
        p = run_probe(FAST + ["127.0.0.1:%d" % free_port()])
        self.assertEqual(p.returncode, 2)
        self.assertIn("could not connect: 421 4.4.1 local: connect failed", p.stdout)

    def test_gives_up_after_three_errors_in_a_row(self):
        srv = ScriptedServer(["127.0.0.1"], silent=b"MAIL")
        try:
            t0 = time.time()
            p = run_probe(FAST + ["--json", "--timeout", "1", "127.0.0.1:%d" % srv.port])
            elapsed = time.time() - t0
        finally:
            srv.close()
        tests, hosts, summary = parse_json(p.stdout)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(verdicts(tests), {"error": 3, "not run": NTESTS - 3})
        for t in tests[:3]:
            self.assertEqual((t["stage"], t["code"], t["local"]), ("mail", 421, True))
        self.assertTrue(hosts[0]["gave_up"])
        self.assertIn("3 errors in a row", hosts[0]["connect_reply"])
        self.assertEqual(srv.conns, 4)  # discovery + 3 tests
        self.assertLess(elapsed, 15)

    def test_per_host_rate_limit_and_source_address(self):
        with Moatd() as m:
            t0 = time.time()
            p = run_probe(["--rate", "120", "--only", "127.0.0.0/8", "--tests",
                           "nmap-0[1-4]", "--source", "127.0.0.5",
                           "127.0.0.1:%d" % m.port])
            elapsed = time.time() - t0
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            # 5 connections (discovery + 4 tests) at 2 a second: >= 2 s
            self.assertGreaterEqual(elapsed, 2.0)
            stamps = [l.split()[0] for l in probe_connects(m)]
            self.assertEqual(len(stamps), 5)
            # every connection came from the --source address
            for l in probe_connects(m):
                self.assertIn("client=127.0.0.5:", l)
            secs = [int(s[11:13]) * 3600 + int(s[14:16]) * 60 + float(s[17:]) for s in stamps]
            for a, b in zip(secs, secs[1:]):
                self.assertGreaterEqual(b - a, 0.45, stamps)

    def test_concurrency_limit(self):
        addrs = ["127.0.0.%d" % i for i in range(10, 16)]
        srv = ScriptedServer(addrs, delay=0.05)
        d = make_tmpdir("moat-probe-survey-")
        try:
            survey = os.path.join(d, "hosts")
            with open(survey, "w") as f:
                f.write("# six hosts, one port\n")
                for a in addrs:
                    f.write("%s:%d\n" % (a, srv.port))
            for conc, want in (("2", 2), (None, 4)):
                srv.max_open = 0
                args = FAST + ["--json", "--tests", "nmap-0[1-3]", "--survey", survey]
                if conc:
                    args += ["--concurrency", conc]
                p = run_probe(args)
                tests, hosts, summary = parse_json(p.stdout)
                self.assertEqual(len(hosts), 6)
                self.assertEqual(summary["accepted"], 18)
                self.assertEqual(srv.max_open, want, conc)
        finally:
            srv.close()
            shutil.rmtree(d, ignore_errors=True)


class Safety(unittest.TestCase):

    def strace_probe(self, args):
        """Run the probe under strace; return (process, connect() lines)."""
        d = tempfile.mkdtemp(prefix="moat-strace-")
        out = os.path.join(d, "trace")
        # LeakSanitizer cannot run under ptrace; everything else still checks.
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        try:
            p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect", "-o", out,
                                PROBE] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120, env=env)
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, p.stderr)
            with open(out) as f:
                lines = [l for l in f.read().splitlines() if "connect(" in l]
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return p, lines

    def test_only_refuses_outside_target_before_any_packet(self):
        p, conns = self.strace_probe(["--only", "127.0.0.0/8", "192.0.2.1:25"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("refusing 192.0.2.1:25 (192.0.2.1:25): outside the --only networks",
                      p.stderr)
        self.assertIn("nothing was sent", p.stderr)
        self.assertEqual([c for c in conns if "AF_INET" in c], [])
        # the same control: a loopback target is connected to
        srv = ScriptedServer(["127.0.0.1"])
        try:
            p, conns = self.strace_probe(["--only", "127.0.0.0/8", "--tests", "nmap-01",
                                          "127.0.0.1:%d" % srv.port])
        finally:
            srv.close()
        self.assertTrue(any("htons(%d)" % srv.port in c for c in conns), conns)

    def test_survey_refuses_outside_target_and_unowned_range(self):
        d = make_tmpdir("moat-probe-survey-")
        try:
            with Moatd() as m:
                survey = os.path.join(d, "hosts")
                with open(survey, "w") as f:
                    f.write("127.0.0.1:%d\n192.0.2.1:25  # not ours\n" % m.port)
                p, conns = self.strace_probe(["--only", "127.0.0.0/8", "--survey", survey])
                self.assertEqual(p.returncode, 2)
                self.assertIn("refusing 192.0.2.1:25", p.stderr)
                self.assertEqual([c for c in conns if "AF_INET" in c], [])
                self.assertEqual(probe_connects(m), [])
                # a range larger than one host needs the owner's word
                with open(survey, "w") as f:
                    f.write("127.0.0.0/30:%d\n" % m.port)
                p, conns = self.strace_probe(["--only", "127.0.0.0/8", "--survey", survey])
                self.assertEqual(p.returncode, 2)
                self.assertIn("--i-own-these", p.stderr)
                self.assertEqual([c for c in conns if "AF_INET" in c], [])
                self.assertEqual(probe_connects(m), [])
                # a single host given as /32 needs nothing more
                with open(survey, "w") as f:
                    f.write("127.0.0.1/32:%d\n" % m.port)
                p = run_probe(FAST + ["--tests", "nmap-01", "--survey", survey])
                self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_survey_range_with_state_file_resumes(self):
        d = make_tmpdir("moat-probe-survey-")
        try:
            with Moatd() as m:
                survey = os.path.join(d, "hosts")
                state = os.path.join(d, "state")
                with open(survey, "w") as f:
                    f.write("127.0.0.0/30:%d\n" % m.port)
                args = FAST + ["--json", "--tests", "nmap-0[12]", "--i-own-these",
                               "--survey", survey, "--state", state]
                p = run_probe(args)
                tests, hosts, summary = parse_json(p.stdout)
                self.assertEqual([h["target"] for h in hosts],
                                 ["127.0.0.%d:%d" % (i, m.port) for i in range(4)])
                by = {h["target"]: h for h in hosts}
                self.assertEqual(by["127.0.0.1:%d" % m.port]["result"], "no relay")
                self.assertEqual(by["127.0.0.2:%d" % m.port]["result"], "could not test")
                self.assertEqual(p.returncode, 2)  # three addresses had no server
                with open(state) as f:
                    done = f.read().splitlines()
                self.assertEqual(len(done), 4)
                self.assertIn("done 127.0.0.1:%d status=0 relayed=0 accepted=0 refused=2"
                              % m.port, "\n".join(done))
                connects = len(probe_connects(m))
                self.assertEqual(connects, 3)
                # resume: nothing is probed again
                p = run_probe(args)
                tests, hosts, summary = parse_json(p.stdout)
                self.assertEqual(tests, [])
                self.assertTrue(all(h["from_state"] for h in hosts))
                self.assertEqual(p.returncode, 2)
                self.assertEqual(len(probe_connects(m)), connects)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_names_resolve_through_test_dnsmasq(self):
        with Moatd() as m, Dnsmasq(hosts={"mx.inside.test": "127.0.0.1",
                                          "mx.outside.test": "192.0.2.1"}) as dns:
            p, conns = self.strace_probe(["--only", "127.0.0.0/8", "--dns", dns.server(),
                                          "mx.outside.test:25"])
            self.assertEqual(p.returncode, 2)
            self.assertIn("refusing mx.outside.test (192.0.2.1:25)", p.stderr)
            self.assertEqual([c for c in conns if "192.0.2.1" in c], [])
            p = run_probe(FAST + ["--json", "--dns", dns.server(), "--tests", "nmap-01",
                                  "mx.inside.test:%d" % m.port])
            tests, hosts, summary = parse_json(p.stdout)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(hosts[0]["target"], "127.0.0.1:%d" % m.port)
            self.assertEqual(tests[0]["verdict"], "refused")
            self.assertIn("mx.inside.test", dns.log())
            self.assertIn("mx.outside.test", dns.log())


class Tokens(unittest.TestCase):

    def test_only_a_valid_token_proves(self):
        """A forged MAC proves nothing; a token signed with our key does."""
        d = make_tmpdir("moat-probe-key-")
        key = os.urandom(32)
        keyfile = os.path.join(d, "key")
        with open(keyfile, "wb") as f:
            f.write(key)
        sink_port = free_port()
        try:
            with SmtpSink() as target:
                tkey = "127.0.0.1:%d" % target.port
                proc = subprocess.Popen(
                    [PROBE] + FAST + ["--json", "--tests", "nmap-0[123]", "--key-file",
                                      keyfile, "--sink", "127.0.0.1:%d" % sink_port,
                                      "--wait", "20", tkey],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                # wait until the tests are done and the sink waits for receipts
                for line in proc.stderr:
                    if "waiting up to 20 s for 3 receipts" in line:
                        break
                now = int(time.time())

                def token(tid, k=key):
                    body = "mp1/%s/%s/%d" % (tid, tkey, now)
                    mac = hmac.new(k, body.encode(), hashlib.sha256).hexdigest()[:32]
                    return body + "/" + mac

                good = token("nmap-02")
                forged = token("nmap-01", k=b"not the key at all, sorry......")
                stale = "mp1/nmap-03/%s/%d/" % (tkey, now - 30 * 86400)
                stale += hmac.new(key, stale[:-1].encode(), hashlib.sha256).hexdigest()[:32]
                import smtplib
                s = smtplib.SMTP("127.0.0.1", sink_port)
                for tok in (forged, stale, good):
                    s.sendmail("x@relay.test", ["relaytest@relay.test"],
                               "Subject: test\r\n\r\nToken: %s\r\n" % tok)
                s.quit()
                out, err = proc.communicate(timeout=60)
            tests, hosts, summary = parse_json(out)
            v = {t["id"]: t["verdict"] for t in tests}
            self.assertEqual(v, {"nmap-01": "accepted (unproven)",
                                 "nmap-02": "relayed (proven)",
                                 "nmap-03": "accepted (unproven)"})
            self.assertEqual(proc.returncode, 1)
            for mark in SANITIZER_MARKS:
                self.assertNotIn(mark, err)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

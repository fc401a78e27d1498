"""End-to-end: policy services (issue 24, Postfix's policy delegation
protocol) asked by the real moatd.

Real daemons: postgrey greylists at RCPT and passes the retry (its PREPEND
header lands on top of the message); policyd-spf (postfix-policyd-spf-
python, with its DNS in a namespace of its own) rejects a sender whose SPF
record fails and prepends Received-SPF to one that passes. The actions
real daemons rarely send, and the faults (a service that never answers,
hangs up, answers garbage, or is not there) come from small scripted
servers in this file: each fault gets its on_error within its timeout, the
session goes on, and nothing acknowledged is lost. HOLD keeps a message in
the queue until `moatctl queue release`. Traffic goes to 127.0.0.0/8 and to
unix sockets only.
"""

import re
import smtplib
import socket
import socketserver
import threading
import time
import unittest

from harness import Moatd, dead_port, free_port, message, moatctl
from service_peers import PolicydSpf, Postgrey, conf_section


def service(name, address, **opts):
    return conf_section("policy_service", name, address, **opts)


class Scripted(socketserver.ThreadingTCPServer):
    """A policy server whose answer is computed by a function of the
    request's attributes: answer(attrs) -> reply text (without the empty
    line), or None to say nothing, or "CLOSE" to hang up. Requests are
    recorded in self.requests."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.conns = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def address(self):
        return "inet:127.0.0.1:%d" % self.port

    def close(self):
        self.shutdown()
        self.server_close()


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.server.conns += 1
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.decode("latin-1").rstrip("\n")
                if line == "":
                    break
                k, _, v = line.partition("=")
                attrs[k] = v
            self.server.requests.append(attrs)
            out = self.server.answer(attrs)
            if out is None:
                time.sleep(30)
                return
            if out == "CLOSE":
                return
            self.wfile.write(out.encode("latin-1") + b"\n\n" if not out.endswith("\n\n")
                             else out.encode("latin-1"))
            self.wfile.flush()


def send(m, frm, to, subject="hello", port=None, data_check=True):
    """One message; returns the RCPT reply (code, text) and the DATA reply."""
    with smtplib.SMTP("127.0.0.1", port or m.port, timeout=30) as c:
        c.ehlo("client.test")
        c.mail(frm)
        code, text = c.rcpt(to)
        if code != 250:
            return (code, text.decode()), None
        r = c.data(message(subject=subject, frm=frm, to=to))
        return (code, text.decode()), (r[0], r[1].decode())


class RealServices(unittest.TestCase):
    """postgrey and policyd-spf, as a site would run them."""

    @classmethod
    def setUpClass(cls):
        cls.grey = Postgrey(delay=2).start()
        cls.spf = PolicydSpf(txt={
            "spf-pass.test": "v=spf1 ip4:127.0.0.1 -all",
            "spf-fail.test": "v=spf1 ip4:192.0.2.1 -all",
        }).start()
        extra = (service("spf", cls.spf.address(), on_error="tempfail", timeout_ms=10000)
                 + service("postgrey", cls.grey.address(), on_error="accept"))
        cls.m = Moatd(extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.grey.stop()
        cls.spf.stop()

    def test_spf_fail_is_rejected(self):
        (code, text), _ = send(self.m, "someone@spf-fail.test", "bob@example.test")
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.23", text)
        self.assertIn("SPF fail", text)
        self.m.wait_log(r"refuse.*rule=policy:spf")
        # postgrey was never asked: a refusal ends the services
        self.assertEqual(self.m.log_lines(r"policy_service postgrey"), [])

    def test_spf_pass_prepends_and_postgrey_greylists_then_passes(self):
        frm, to = "someone@spf-pass.test", "alice@example.test"
        (code, text), _ = send(self.m, frm, to)
        # policyd-spf passed it (PREPEND); postgrey says DEFER_IF_PERMIT
        self.assertEqual(code, 450, text)
        # postgrey's own enhanced code (4.2.0) is kept, as Postfix keeps it
        self.assertRegex(text, r"^4\.\d\.\d <alice@example\.test>: Recipient address "
                               r"rejected: Greylisted")
        self.m.wait_log(r"rule=policy:postgrey")
        time.sleep(3)  # postgrey --delay=2
        (code, text), (dcode, dtext) = send(self.m, frm, to, subject="retried")
        self.assertEqual((code, dcode), (250, 250), (text, dtext))
        files = self.m.wait_maildir("alice", 1, containing="retried")
        with open(files[0], "rb") as f:
            msg = f.read().decode("latin-1")
        head = msg.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in msg else msg.split("\n\n", 1)[0]
        lines = head.replace("\r\n", "\n").split("\n")
        # Postfix's order: the services' headers first, in the order they
        # were asked, then our Received line (below what delivery adds)
        i = [n for n, l in enumerate(lines) if l.startswith("Received-SPF: ")][0]
        self.assertTrue(lines[i].startswith("Received-SPF: Pass"), head)
        self.assertIn("client-ip=127.0.0.1", head)
        self.assertTrue(lines[i + 1].startswith("X-Greylist: delayed "), head)
        self.assertTrue(lines[i + 2].startswith("Received: from client.test"), head)
        self.grey.wait_log(r"action=pass, reason=triplet found")


class Actions(unittest.TestCase):
    """What each access(5) action does, from a scripted service."""

    @classmethod
    def setUpClass(cls):
        def first(a):
            rcpt = a.get("recipient", "")
            local = rcpt.split("@")[0]
            state = a.get("protocol_state")
            if state == "DATA":
                return "action=DUNNO" if "nodata" not in a.get("sender", "") else \
                    "action=REJECT no data for you"
            if state == "END-OF-MESSAGE":
                if a.get("sender", "").startswith("eod-reject"):
                    return "action=550 5.7.9 body says no"
                if a.get("sender", "").startswith("eod-hold"):
                    return "action=HOLD looks odd"
                if a.get("sender", "").startswith("eod-prepend"):
                    return "action=PREPEND X-Late: too late"
                return "action=DUNNO"
            return {
                "ok": "action=OK",
                "reject": "action=REJECT",
                "text": "action=REJECT go away",
                "code": "action=521 5.7.3 custom refusal",
                "defer": "action=DEFER",
                "tmp": "action=451 4.7.2 later please",
                "dip": "action=DEFER_IF_PERMIT maybe later",
                "dir": "action=DEFER_IF_REJECT soft",
                "prepend": "action=PREPEND X-Policy: one",
                "prepend2": "action=PREPEND X-Policy: one",
                "warn": "action=WARN just saying",
                "discard": "action=DISCARD dropped",
                "hold": "action=HOLD quarantine",
                "filter": "action=FILTER smtp:[127.0.0.1]:1",
                "unknown": "action=FROBNICATE",
                "badheader": "action=PREPEND no colon here",
                "numeric": "action=12345",
            }.get(local, "action=DUNNO")

        def second(a):
            local = a.get("recipient", "").split("@")[0]
            cls.second_asked.append(local)
            if local in ("dir", "dip-rejected"):
                return "action=REJECT second says no"
            if local == "prepend":
                return "action=PREPEND X-Policy: two"
            return "action=DUNNO"

        cls.second_asked = []
        cls.s1 = Scripted(first)
        cls.s2 = Scripted(second)
        users = ["postmaster", "alice", "ok", "reject", "text", "code", "defer", "tmp",
                 "dip", "dir", "prepend", "warn", "discard", "hold", "filter", "unknown",
                 "badheader", "numeric", "plain", "prepend2"]
        extra = (service("one", cls.s1.address(), on_error="accept")
                 + service("two", cls.s2.address(), on_error="accept")
                 + service("data", cls.s1.address(), stage="data", on_error="accept")
                 + service("eod", cls.s1.address(), stage="end-of-data",
                           on_error="accept"))
        cls.m = Moatd(domains={"example.test": users}, extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        cls.s1.close()
        cls.s2.close()

    def rcpt(self, local, frm="sender@remote.test"):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail(frm)
            code, text = c.rcpt(local + "@example.test")
            return code, text.decode()

    def test_refusals(self):
        cases = {
            "reject": (554, "5.7.1 <reject@example.test>: Recipient address rejected: "
                            "Access denied"),
            "text": (554, "5.7.1 <text@example.test>: Recipient address rejected: go away"),
            "code": (521, "5.7.3 <code@example.test>: Recipient address rejected: "
                          "custom refusal"),
            "defer": (450, "4.7.1 <defer@example.test>: Recipient address rejected: "),
            "tmp": (451, "4.7.2 <tmp@example.test>: Recipient address rejected: "
                         "later please"),
            "dip": (450, "4.7.1 <dip@example.test>: Recipient address rejected: "
                         "maybe later"),
            # DEFER_IF_REJECT, then the second service's REJECT: a 450
            "dir": (450, "4.7.1 <dir@example.test>: Recipient address rejected: soft"),
        }
        for local, (code, start) in cases.items():
            with self.subTest(local=local):
                c, text = self.rcpt(local)
                self.assertEqual(c, code, text)
                self.assertTrue(text.startswith(start), text)

    def test_ok_stops_the_later_services(self):
        self.second_asked.clear()
        self.assertEqual(self.rcpt("ok")[0], 250)
        self.assertEqual(self.rcpt("plain")[0], 250)
        self.assertEqual(self.second_asked, ["plain"])

    def test_connections_are_reused(self):
        before = self.s1.conns
        asked = len(self.s1.requests)
        for _ in range(5):
            with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
                c.ehlo("client.test")
                c.mail("sender@remote.test")
                for _ in range(4):
                    self.assertEqual(c.rcpt("plain@example.test")[0], 250)
        # 20 requests, one after another: the same connection carried them
        self.assertEqual(len(self.s1.requests) - asked, 20)
        self.assertLessEqual(self.s1.conns - before, 1)

    def test_numeric_is_ok_and_unsupported_is_ignored(self):
        self.assertEqual(self.rcpt("numeric")[0], 250)
        self.assertEqual(self.rcpt("filter")[0], 250)
        self.m.wait_log(r"policy_service one: sid=\S+: action FILTER is not supported")

    def test_bad_answers_get_on_error(self):
        # on_error = accept: an unknown action or a PREPEND without a
        # header is a service failure, logged, and the client passes
        self.assertEqual(self.rcpt("unknown")[0], 250)
        self.m.wait_log(r"policy_service one: .*unknown action.*FROBNICATE.*on_error=accept")
        self.assertEqual(self.rcpt("badheader")[0], 250)
        self.m.wait_log(r"policy_service one: .*PREPEND without a .*on_error=accept")

    def test_warn_is_logged(self):
        self.assertEqual(self.rcpt("warn")[0], 250)
        self.m.wait_log(r"policy_service one: sid=\S+ client=127\.0\.0\.1 warn: "
                        r"\"?just saying")

    def test_prepend_order_and_request_attributes(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test", ["SIZE=300"])
            self.assertEqual(c.rcpt("prepend@example.test")[0], 250)
            r = c.data(message(subject="prepended", to="prepend@example.test"))
            self.assertEqual(r[0], 250, r)
        files = self.m.wait_maildir("prepend", 1, containing="prepended")
        with open(files[0], "rb") as f:
            head = f.read().decode("latin-1").replace("\r\n", "\n").split("\n")
        # below what the delivery adds (Return-Path): the services'
        # headers in the order they were asked, then our trace line
        i = head.index("X-Policy: one")
        self.assertEqual(head[i + 1], "X-Policy: two")
        self.assertTrue(head[i + 2].startswith("Received: "), head[:6])
        rq = [a for a in self.s1.requests if a.get("recipient") == "prepend@example.test"]
        rcpt_rq = [a for a in rq if a["protocol_state"] == "RCPT"][0]
        self.assertEqual(rcpt_rq["request"], "smtpd_access_policy")
        self.assertEqual(rcpt_rq["protocol_name"], "ESMTP")
        self.assertEqual(rcpt_rq["helo_name"], "client.test")
        self.assertEqual(rcpt_rq["sender"], "sender@remote.test")
        self.assertEqual(rcpt_rq["client_address"], "127.0.0.1")
        self.assertEqual(rcpt_rq["size"], "300")
        self.assertEqual(rcpt_rq["recipient_count"], "0")
        self.assertEqual(rcpt_rq["server_port"], str(self.m.port))
        self.assertTrue(int(rcpt_rq["client_port"]) > 0)
        data_rq = [a for a in rq if a["protocol_state"] == "DATA"][0]
        self.assertEqual(data_rq["recipient_count"], "1")
        eod_rq = [a for a in rq if a["protocol_state"] == "END-OF-MESSAGE"][0]
        self.assertRegex(eod_rq["queue_id"], r"^[0-9A-F]{18}$")
        self.assertTrue(int(eod_rq["size"]) > 50, eod_rq)
        self.assertEqual(eod_rq["instance"], rcpt_rq["instance"])

    def test_same_header_for_two_recipients_is_added_once(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            self.assertEqual(c.rcpt("prepend2@example.test")[0], 250)
            self.assertEqual(c.rcpt("plain@example.test")[0], 250)
            self.assertEqual(c.rcpt("prepend@example.test")[0], 250)
            r = c.data(message(subject="twice", to="prepend2@example.test"))
            self.assertEqual(r[0], 250, r)
        files = self.m.wait_maildir("plain", 1, containing="twice")
        text = open(files[0], errors="replace").read()
        self.assertEqual(text.count("X-Policy: one"), 1, text)
        self.assertEqual(text.count("X-Policy: two"), 1, text)

    def test_data_and_end_of_data_refusals(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("nodata@remote.test")
            self.assertEqual(c.rcpt("alice@example.test")[0], 250)
            code, text = c.docmd("DATA")
            self.assertEqual(code, 554, text)
            self.assertIn(b"<DATA>: Data command rejected: no data for you", text)
            # the session goes on
            c.rset()
            c.mail("eod-reject@remote.test")
            self.assertEqual(c.rcpt("alice@example.test")[0], 250)
            code, text = c.data(message(subject="refused at the end"))
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.7.9 <END-OF-MESSAGE>: End-of-data rejected: body says no",
                          text)
            self.assertEqual(c.noop()[0], 250)
        time.sleep(0.5)
        self.assertEqual(self.m.queue_files(), [])
        self.assertFalse(any("refused at the end" in open(p, errors="replace").read()
                             for p in self.m.maildir("alice")))

    def test_prepend_at_end_of_data_is_ignored(self):
        # Postfix too: PREPEND must come before the end of data
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("eod-prepend@remote.test")
            c.rcpt("alice@example.test")
            self.assertEqual(c.data(message(subject="late prepend"))[0], 250)
        files = self.m.wait_maildir("alice", 1, containing="late prepend")
        self.assertNotIn("X-Late", open(files[0], errors="replace").read())
        self.m.wait_log(r"PREPEND must come before the end of data")

    def test_discard(self):
        with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            self.assertEqual(c.rcpt("discard@example.test")[0], 250)
            r = c.data(message(subject="to be dropped", to="discard@example.test"))
            self.assertEqual(r[0], 250)
        self.m.wait_log(r"smtp discarded sid=")
        time.sleep(1)
        self.assertEqual(self.m.maildir("discard"), [])

    def test_hold_and_release(self):
        for local, frm in (("hold", "sender@remote.test"), ("alice", "eod-hold@remote.test")):
            with self.subTest(stage="rcpt" if local == "hold" else "end-of-data"):
                with smtplib.SMTP("127.0.0.1", self.m.port, timeout=30) as c:
                    c.ehlo("client.test")
                    c.mail(frm)
                    self.assertEqual(c.rcpt(local + "@example.test")[0], 250)
                    r = c.data(message(subject="held " + local, to=local + "@example.test"))
                    self.assertEqual(r[0], 250, r)
                    qid = re.search(rb"queued as ([0-9A-F]+)", r[1]).group(1).decode()
                self.m.wait_log(r"queue: %s: held" % qid)
                lst = moatctl(self.m, "queue", "list").stdout
                self.assertRegex(lst, r"%s .*held=yes" % qid)
                time.sleep(1.5)  # the runner scans every second: still nothing
                self.assertFalse(any("held " + local in open(p, errors="replace").read()
                                     for p in self.m.maildir(local)))
                r = moatctl(self.m, "queue", "release", qid)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("released " + qid, r.stdout)
                self.m.wait_maildir(local, 1, containing="held " + local)


class Faults(unittest.TestCase):
    """Services that fail: on_error within the timeout, and one log line."""

    @classmethod
    def setUpClass(cls):
        cls.silent = Scripted(lambda a: None)
        cls.closer = Scripted(lambda a: "CLOSE")
        cls.garbage = Scripted(lambda a: "HTTP/1.0 200 OK\nServer: nonsense")
        cls.dead = dead_port()
        extra = (service("silent", cls.silent.address(), on_error="tempfail",
                         timeout_ms=500, listeners=["silent"])
                 + service("closer", cls.closer.address(), on_error="accept",
                           listeners=["closer"])
                 + service("garbage", cls.garbage.address(), on_error="reject",
                           listeners=["garbage"])
                 + service("dead", "inet:127.0.0.1:%d" % cls.dead, on_error="tempfail",
                           listeners=["dead"]))
        cls.ports = {}
        listeners = []
        for name in ("mx", "silent", "closer", "garbage", "dead"):
            p = free_port()
            cls.ports[name] = p
            listeners.append((name, "127.0.0.1:%d" % p, "mx"))
        cls.m = Moatd(listeners=listeners, extra=extra).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()
        for s in (cls.silent, cls.closer, cls.garbage):
            s.close()

    def attempt(self, listener):
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", self.ports[listener], timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            code, text = c.rcpt("alice@example.test")
            took = time.time() - t0
            # the session goes on after the failure
            self.assertEqual(c.rset()[0], 250)
            self.assertEqual(c.noop()[0], 250)
        return code, text.decode(), took

    def test_silent_service_times_out_to_tempfail(self):
        code, text, took = self.attempt("silent")
        self.assertEqual(code, 451, text)
        self.assertIn("4.3.5 Server configuration problem", text)
        # connected at once, the wait is timeout_ms (500), not the connect's
        self.assertLess(took, 1.5)
        self.assertGreater(took, 0.45)
        self.m.wait_log(r"policy_service silent: .*no reply within 500 ms\"?; "
                        r"on_error=tempfail")

    def test_service_that_hangs_up_gets_accept(self):
        code, text, _ = self.attempt("closer")
        self.assertEqual(code, 250, text)
        self.m.wait_log(r"policy_service closer: .*closed the connection\"?; "
                        r"on_error=accept")

    def test_garbage_gets_reject(self):
        code, text, _ = self.attempt("garbage")
        self.assertEqual(code, 554, text)
        self.assertIn("5.3.5", text)
        self.m.wait_log(r"policy_service garbage: .*no action in the reply\"?; "
                        r"on_error=reject")

    def test_dead_service_fails_fast(self):
        for _ in range(3):
            code, text, took = self.attempt("dead")
            self.assertEqual(code, 451, text)
            self.assertLess(took, 2.5)
        self.m.wait_log(r"policy_service dead: .*cannot connect to inet:127\.0\.0\.1:%d"
                        % self.dead)

    def test_other_listener_is_not_asked(self):
        n = len(self.silent.requests)
        code, text, took = self.attempt("mx")
        self.assertEqual(code, 250, text)
        self.assertLess(took, 2)
        self.assertEqual(len(self.silent.requests), n)

    def test_mail_is_delivered_after_faults(self):
        # nothing acknowledged is lost: a message through the accepting
        # service reaches the mailbox
        with smtplib.SMTP("127.0.0.1", self.ports["closer"], timeout=30) as c:
            c.ehlo("client.test")
            c.mail("sender@remote.test")
            self.assertEqual(c.rcpt("bob@example.test")[0], 250)
            self.assertEqual(c.data(message(subject="after faults", to="bob@example.test"))[0],
                             250)
        self.m.wait_maildir("bob", 1, containing="after faults")


class Config(unittest.TestCase):
    def check(self, extra, pattern):
        m = Moatd(extra=extra)
        m.assert_refused(self, pattern)

    def test_bad_sections(self):
        self.check('policy_service "x" {\n address = "127.0.0.1:1"\n}\n',
                   r"moat\.conf:\d+: policy_service \"x\": address \"127\.0\.0\.1:1\": "
                   r"inet:HOST:PORT")
        self.check('policy_service "x" {\n address = "inet:127.0.0.1:1"\n stage = "helo"\n}\n',
                   r"moat\.conf:\d+: .*stage \"helo\": rcpt, data or end-of-data")
        self.check('policy_service "x" {\n address = "inet:127.0.0.1:1"\n'
                   ' on_error = "maybe"\n}\n', r"moat\.conf:\d+: .*on_error \"maybe\"")
        self.check('policy_service "x" {\n address = "inet:127.0.0.1:1"\n'
                   ' timeout_ms = 1\n}\n', r"moat\.conf:\d+: .*timeout_ms = 1: from 10")
        self.check('policy_service "x" {\n address = "inet:127.0.0.1:1"\n'
                   ' listeners = {"nope"}\n}\n',
                   r"moat\.conf: policy_service \"x\": listeners: no listen section "
                   r"is called \"nope\"")
        self.check('policy_service "x" {\n stage = "rcpt"\n}\n',
                   r"moat\.conf:\d+: .*address is required")


if __name__ == "__main__":
    unittest.main()

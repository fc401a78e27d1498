"""End-to-end: the delivery engine (issue 3), against real servers on loopback.

Postfix's smtp-sink as an SMTP next hop (1,000 messages, each exactly
once), Dovecot's LMTP server (per-recipient replies), MX routing through a
dnsmasq the test starts (preference order, fallback, implicit MX, null MX,
NXDOMAIN), faults (next hop down then up, 5xx with and without a DSN,
kill -9 during delivery, expiry).
"""

import email
import glob
import os
import re
import subprocess
import threading
import time
import unittest

from harness import Moatd, free_port, make_tmpdir, message
from peers import Dnsmasq, Postfix, SmtpSink


def dumped(sink_dir):
    """Messages an smtp-sink dumped: a list of (rcpts, subject)."""
    out = []
    for path in glob.glob(os.path.join(sink_dir, "**", "*"), recursive=True):
        if not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            text = f.read()
        rcpts = re.findall(r"^X-Rcpt-Args: <([^>]*)>", text, re.M)
        subj = re.search(r"^Subject: (.*)$", text, re.M)
        out.append((rcpts, subj.group(1) if subj else None))
    return out


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def send(m, rcpts, subject, source="127.0.0.1", sender="x@remote.test"):
    s = m.smtp(source=source)
    s.ehlo()
    s.mail(sender)
    for r in rcpts:
        code, resp = s.rcpt(r)
        assert code == 250, (r, code, resp)
    code, resp = s.data(message(subject=subject, frm=sender, to=rcpts[0]))
    assert code == 250, resp
    s.quit()
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


class NextHop(unittest.TestCase):
    def test_thousand_messages_each_exactly_once(self):
        dump = make_tmpdir("moat-sinkdump-")
        with SmtpSink(dump_dir=dump) as sink:
            users = ["u%d" % i for i in range(5)]
            with Moatd(domains={"example.test": ["alice"], "inside.test": users},
                       domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n'
                                     % sink.port},
                       limits={"messages_per_session_max": 1000}) as m:
                errors = []

                def client(k):
                    try:
                        s = m.smtp(timeout=30)
                        s.ehlo()
                        for i in range(k, 1000, 4):
                            s.mail("load@remote.test")
                            s.rcpt("u%d@inside.test" % (i % 5))
                            code, resp = s.data(message(subject="msg-%d" % i))
                            assert code == 250, resp
                        s.quit()
                    except Exception as e:  # reported below
                        errors.append(repr(e))
                threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(120)
                self.assertEqual(errors, [])
                wait_for(lambda: len(dumped(dump)) >= 1000, 120, "1000 messages at the sink")
                m.wait_log(r"queue removed", count=1000, timeout=60)
                time.sleep(1)
                got = dumped(dump)
                subjects = [s for _, s in got]
                self.assertEqual(len(got), 1000)
                self.assertEqual(sorted(subjects), sorted("msg-%d" % i for i in range(1000)))
                for rcpts, subj in got:
                    i = int(subj.split("-")[1])
                    self.assertEqual(rcpts, ["u%d@inside.test" % (i % 5)])
                self.assertEqual(m.queue_files(), [])
                line = m.log_lines(r"deliver id=\w+ to=<u\d@inside\.test>")[0]
                self.assertRegex(line, r"deliver id=[0-9A-F]+ to=<u\d@inside\.test> "
                                 r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d delay=\d+s "
                                 r"attempt=1 status=sent text=\"250 .*\" tls=none$"
                                 % sink.port)
                # connections are reused: far fewer connects than messages
                conns = len(m.log_lines(r"deliver connected relay=127\.0\.0\.1"))
                self.assertGreater(conns, 0)
                self.assertLess(conns, 100)

    def test_next_hop_down_then_up(self):
        dump = make_tmpdir("moat-sinkdump-")
        port = free_port()
        with Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                   domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % port},
                   limits={"retry_min": 1, "retry_max": 2}) as m:
            ids = [send(m, ["bob@inside.test"], "down-%d" % i) for i in range(20)]
            m.wait_log(r"to=<bob@inside\.test> .*status=deferred", count=20)
            self.assertEqual(len(m.queue_files()), 20)
            with SmtpSink(dump_dir=dump, port=port):
                wait_for(lambda: len(dumped(dump)) >= 20, 60, "20 messages after restart")
                wait_for(lambda: m.queue_files() == [], 30, "an empty queue")
                self.assertEqual(sorted(s for _, s in dumped(dump)),
                                 sorted("down-%d" % i for i in range(20)))
            for qid in ids:
                m.wait_log(r"deliver id=%s .*attempt=\d+ status=sent" % qid)


class ChainedTransactions(unittest.TestCase):
    """With jobs waiting, the next transaction's MAIL, RCPT and DATA go out
    right behind the final dot (RFC 2920 §3.1). Postfix as the next hop,
    strict about sequence: some messages lose every recipient at RCPT,
    some are refused after the dot, the rest are accepted."""

    def test_transactions_behind_the_dot_keep_their_own_results(self):
        tmp = make_tmpdir("moat-chain-")
        checks = os.path.join(tmp, "header_checks")
        with open(checks, "w") as f:
            f.write("/^Subject: refuse-/ REJECT no thanks\n")
        access = os.path.join(tmp, "recipient_access")
        with open(access, "w") as f:
            f.write("nobody@inside.test REJECT no such user\n")
        n = 30
        with Postfix(mynetworks=["127.0.0.0/8"], main={
            "header_checks": "regexp:" + checks,
            "smtpd_recipient_restrictions": "check_recipient_access texthash:" + access,
            # The greeting waits 2 s: meanwhile every message is queued
            # for the one connection moat may have.
            "smtpd_client_restrictions": "sleep 2",
            "smtpd_delay_reject": "no",
            # refusals are what this test is made of: no tarpit for them
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "1000",
            "smtpd_hard_error_limit": "1000",
        }) as pf, Moatd(domains={"example.test": ["alice"],
                                 "inside.test": ["bob", "nobody"]},
                        domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n'
                                      % pf.port},
                        limits={"delivery_concurrency": 1,
                                "messages_per_session_max": 100},
                        verbose=True) as m:
            s = m.smtp()
            s.ehlo()
            kind = {}
            for i in range(n):
                rcpt = "nobody@inside.test" if i % 3 == 0 else "bob@inside.test"
                subject = "refuse-%d" % i if i % 3 == 1 else "keep-%d" % i
                s.mail("x@remote.test")
                self.assertEqual(s.rcpt(rcpt)[0], 250)
                # one body far longer than a write: what follows it waits
                # for its last octet
                body = ("x" * 998 + "\r\n") * 200 if i == 5 else "hello\r\n"
                code, resp = s.data(message(subject=subject, to=rcpt, body=body))
                self.assertEqual(code, 250, resp)
                qid = re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()
                kind[qid] = i % 3
            s.quit()
            for qid, k in kind.items():
                want = (r"status=bounced text=\"5\d\d .*no such user" if k == 0 else
                        r"status=bounced text=\"5\d\d .*no thanks" if k == 1 else
                        r"status=sent text=\"250 ")
                m.wait_log(r"deliver id=%s to=<\w+@inside\.test> .*attempt=1 %s"
                           % (qid, want), timeout=60)
            # Postfix took the kept ones, and saw nothing out of order.
            pf.wait_log(r"to=<bob@inside\.test>.*status=sent", count=n // 3)
            self.assertEqual(pf.log_lines(r"improper command pipelining"), [])
            log = m.log()
            self.assertNotRegex(log, r"status=\w+ text=\"503 ")
            self.assertEqual(len(m.log_lines(r"deliver connected relay=127\.0\.0\.1")), 1)
            # The wire, as the client logged it: the next MAIL went before
            # the reply to the dot, behind the body the 354 let out.
            client = [l.split("smtp-client ", 1)[1] for l in log.splitlines()
                      if "smtp-client send " in l or "smtp-client reply " in l]
            go_ahead = sum(1 for l in client if l.startswith("reply code=354 "))
            chained = sum(1 for a, b in zip(client, client[1:])
                          if a.startswith("reply code=354 ") and
                          (b.startswith('send line="MAIL FROM:') or b == "send line=RSET"))
            # 20 messages keep a recipient; every 354 but the last has one
            # behind it (the ten without one end at DATA's 554), after an
            # RSET where the message before was refused
            self.assertEqual(go_ahead, n - n // 3)
            self.assertEqual(chained, go_ahead - 1, "\n".join(client))


class Bounces(unittest.TestCase):
    def test_5xx_dsn_for_trusted_sender_none_for_stranger(self):
        with SmtpSink(args=["-f", "RCPT"]) as sink:
            with Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                       domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n'
                                     % sink.port},
                       trusted=["127.0.0.3/32"]) as m:
                # a stranger's message: refused downstream, reported to nobody
                q1 = send(m, ["bob@inside.test"], "from-stranger", sender="x@remote.test")
                m.wait_log(r"deliver id=%s to=<bob@inside\.test> .*status=bounced text=\"5\d\d"
                           % q1)
                m.wait_log(r"deliver id=%s dsn=none to=<x@remote\.test> reason=sender-not-ours" % q1)
                # a trusted sender's message: the DSN lands in her mailbox
                q2 = send(m, ["bob@inside.test"], "from-trusted", source="127.0.0.3",
                          sender="alice@example.test")
                m.wait_log(r"deliver id=%s dsn=failed dsn-id=[0-9A-F]+ to=<" % q2)
                files = m.wait_maildir("alice", 1)
                self.assertEqual(len(files), 1)
                msg = email.message_from_bytes(open(files[0], "rb").read())
                self.assertEqual(msg["Return-Path"], "<>")
                self.assertEqual(msg.get_content_type(), "multipart/report")
                self.assertEqual(msg.get_param("report-type"), "delivery-status")
                parts = list(msg.walk())
                types = [p.get_content_type() for p in parts]
                self.assertIn("message/delivery-status", types)
                self.assertIn("text/rfc822-headers", types)
                report = msg.as_string()
                self.assertIn("Final-Recipient: rfc822; bob@inside.test", report)
                self.assertIn("Action: failed", report)
                self.assertRegex(report, r"Status: 5\.\d\.\d")
                self.assertIn("Subject: from-trusted", report)
                self.assertNotIn("from-stranger", report)
                m.wait_log(r"queue removed id=%s" % q1)
                m.wait_log(r"queue removed id=%s" % q2)

    def test_expired_message_bounces(self):
        port = free_port()  # nothing listens
        with Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                   domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % port},
                   trusted=["127.0.0.3/32"],
                   limits={"retry_min": 1, "retry_max": 1, "queue_lifetime": 60}) as m:
            qid = send(m, ["bob@inside.test"], "too-slow", source="127.0.0.3",
                       sender="alice@example.test")
            m.wait_log(r"deliver id=%s .*status=deferred" % qid)
            # age the message: same-width rewrite of its arrival time
            path = os.path.join(m.dir, "spool", "queue", qid)
            with open(path, "r+b") as f:
                data = f.read()
                old = re.search(rb"\narrival (\d+)\n", data)
                f.seek(old.start(1))
                f.write(str(int(old.group(1)) - 3600).encode())
            m.wait_log(r"deliver id=%s to=<bob@inside\.test> .*status=bounced text=\"4\.4\.7 message "
                       r"expired" % qid, timeout=20)
            files = m.wait_maildir("alice", 1)
            self.assertIn("Status: 4.4.7", open(files[0]).read())
            wait_for(lambda: qid not in m.queue_files(), 10, "removal")


class Lmtp(unittest.TestCase):
    def test_dovecot_lmtp_per_recipient_replies(self):
        d = make_tmpdir("moat-dovecot-")
        sock = os.path.join(d, "lmtp")
        os.makedirs(os.path.join(d, "mail"))
        os.chown(os.path.join(d, "mail"), 65534, 65534)
        with open(os.path.join(d, "users"), "w") as f:
            f.write("dave::65534:65534::%s/mail/dave::\n" % d)
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write("""base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols = lmtp
ssl = no
mail_location = maildir:~/Maildir
recipient_delimiter = +
passdb {
  driver = passwd-file
  args = username_format=%%n %(d)s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%n %(d)s/users
}
service lmtp {
  unix_listener %(sock)s {
    mode = 0666
  }
}
""" % {"d": d, "sock": sock})
        dv = subprocess.Popen(["dovecot", "-F", "-c", os.path.join(d, "dovecot.conf")])
        try:
            wait_for(lambda: os.path.exists(sock), 10, "dovecot's LMTP socket")
            with Moatd(domains={"example.test": ["alice"], "lmtp.test": ["dave", "ghost"]},
                       domain_extra={"lmtp.test": '\tdelivery = "lmtp:unix:%s"\n' % sock},
                       trusted=["127.0.0.3/32"]) as m:
                qid = send(m, ["dave@lmtp.test", "ghost@lmtp.test"], "via-lmtp",
                           source="127.0.0.3", sender="alice@example.test")
                m.wait_log(r"deliver id=%s to=<dave@lmtp\.test> relay=unix:%s .*status=sent"
                           % (qid, re.escape(sock)))
                m.wait_log(r"deliver id=%s to=<ghost@lmtp\.test> .*status=bounced text=\"5\d\d"
                           % qid)
                new = glob.glob(os.path.join(d, "mail", "dave", "Maildir", "new", "*"))
                self.assertEqual(len(new), 1)
                self.assertIn("Subject: via-lmtp", open(new[0]).read())
                dsn = m.wait_maildir("alice", 1)
                report = open(dsn[0]).read()
                self.assertIn("Final-Recipient: rfc822; ghost@lmtp.test", report)
                self.assertNotIn("Final-Recipient: rfc822; dave@lmtp.test", report)
                # an address extension reaches Dovecot whole (issue 25)
                qid = send(m, ["dave+lists@lmtp.test"], "via-lmtp-with-tag",
                           source="127.0.0.3", sender="alice@example.test")
                m.wait_log(r"deliver id=%s to=<dave\+lists@lmtp\.test> relay=unix:.*"
                           r"status=sent" % qid)
                new = glob.glob(os.path.join(d, "mail", "dave", "Maildir", "new", "*"))
                tagged = [open(p).read() for p in new]
                tagged = [t for t in tagged if "Subject: via-lmtp-with-tag" in t]
                self.assertEqual(len(tagged), 1)
                self.assertIn("for <dave+lists@lmtp.test>", tagged[0])
        finally:
            dv.terminate()
            dv.wait(10)


class MxRouting(unittest.TestCase):
    def test_preference_fallback_implicit_null_and_nxdomain(self):
        port = free_port()
        dump_a, dump_b, dump_c = (make_tmpdir("moat-sinkdump-") for _ in range(3))
        records = {
            "hosts": {"mx-dead.far.test": "127.0.0.2", "mx-live.far.test": "127.0.0.3",
                      "mx-low.near.test": "127.0.0.4", "mx-high.near.test": "127.0.0.5",
                      "plain.test": "127.0.0.6"},
            "mx": {},
        }
        extra = ["--mx-host=far.test,mx-dead.far.test,10",
                 "--mx-host=far.test,mx-live.far.test,20",
                 "--mx-host=near.test,mx-high.near.test,20",
                 "--mx-host=near.test,mx-low.near.test,5",
                 "--mx-host=nomail.test,.,0",
                 # authoritative for .test: NXDOMAIN/NODATA, never REFUSED
                 "--local=/test/"]
        with Dnsmasq(hosts=records["hosts"], extra=extra) as dns, \
                SmtpSink(host="127.0.0.3", port=port, dump_dir=dump_a), \
                SmtpSink(host="127.0.0.4", port=port, dump_dir=dump_b), \
                SmtpSink(host="127.0.0.5", port=port, dump_dir=dump_c), \
                SmtpSink(host="127.0.0.6", port=port, dump_dir=dump_c):
            # The MX hosts are on loopback, which delivery refuses unless
            # relay_to_private says this network may be delivered to.
            with Moatd(trusted=["127.0.0.3/32"], dns_servers=[dns.server()],
                       relayhost=None, extra="relay_to_private = true\n",
                       limits={"mx_port": port, "retry_min": 1}) as m:
                send(m, ["a@far.test"], "to-far", source="127.0.0.3",
                     sender="alice@example.test")
                send(m, ["b@near.test"], "to-near", source="127.0.0.3",
                     sender="alice@example.test")
                send(m, ["c@plain.test"], "to-plain", source="127.0.0.3",
                     sender="alice@example.test")
                q_null = send(m, ["d@nomail.test"], "to-nomail", source="127.0.0.3",
                              sender="alice@example.test")
                q_nx = send(m, ["e@nosuch.test"], "to-nosuch", source="127.0.0.3",
                            sender="alice@example.test")
                # far.test: the preferred MX refuses connections, the next takes it
                m.wait_log(r"deliver connect relay=mx-dead\.far\.test\[127\.0\.0\.2\]:%d result=failed"
                           % port)
                m.wait_log(r"to=<a@far\.test> relay=mx-live\.far\.test\[127\.0\.0\.3\]:%d "
                           r".*status=sent" % port)
                self.assertEqual([s for _, s in dumped(dump_a)], ["to-far"])
                # near.test: preference 5 before 20
                m.wait_log(r"to=<b@near\.test> relay=mx-low\.near\.test\[127\.0\.0\.4\]:%d "
                           r".*status=sent" % port)
                self.assertEqual([s for _, s in dumped(dump_b)], ["to-near"])
                # plain.test: no MX, its own address (RFC 5321 §5.1)
                m.wait_log(r"to=<c@plain\.test> relay=plain\.test\[127\.0\.0\.6\]:%d "
                           r".*status=sent" % port)
                # null MX: fails at once, no retry (RFC 7505)
                m.wait_log(r"deliver id=%s to=<d@nomail\.test> .*attempt=1 status=bounced "
                           r"text=\"5\.1\.10" % q_null)
                m.wait_log(r"deliver id=%s to=<e@nosuch\.test> .*status=bounced text=\"5\.1\.2" % q_nx)
                dsns = m.wait_maildir("alice", 2)
                text = "".join(open(f).read() for f in dsns)
                self.assertIn("Final-Recipient: rfc822; d@nomail.test", text)
                self.assertIn("Final-Recipient: rfc822; e@nosuch.test", text)
                # the DNS server the test started got the queries
                self.assertIn("far.test", dns.log())


class CrashDuringDelivery(unittest.TestCase):
    def test_kill9_during_delivery_loses_nothing(self):
        dump = make_tmpdir("moat-sinkdump-")
        # a slow sink: each reply waits, so delivery is in progress at the kill
        with SmtpSink(dump_dir=dump, args=["-w", "1"]) as sink:
            m = Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                      domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n'
                                    % sink.port},
                      limits={"retry_min": 1, "messages_per_session_max": 1000})
            m.start()
            s = m.smtp()
            s.ehlo()
            acked = []
            for i in range(300):
                s.mail("load@remote.test")
                s.rcpt("bob@inside.test")
                code, resp = s.data(message(subject="k-%d" % i))
                self.assertEqual(code, 250)
                acked.append("k-%d" % i)
            s.quit()
            wait_for(lambda: len(dumped(dump)) >= 20, 30, "delivery to start")
            m.kill9()
            before = len(dumped(dump))
            self.assertLess(before, 300, "the kill came too late to test anything")
            m.start()
            try:
                wait_for(lambda: set(s for _, s in dumped(dump)) >= set(acked), 120,
                         "every acknowledged message at the sink")
                wait_for(lambda: m.queue_files() == [], 30, "an empty queue")
                subjects = [s for _, s in dumped(dump)]
                dups = len(subjects) - len(set(subjects))
                print("killed after %d of 300 at the sink; all 300 arrived, %d twice "
                      "(SMTP next hops get at-least-once)" % (before, dups))
            finally:
                m.stop()
            m.cleanup()


if __name__ == "__main__":
    unittest.main()

"""End-to-end: moatctl and the control socket of moatd (issue 5, "Control").

Bans and allow entries change what a client hears at connect; show reports
what the store counted for a client; stats sums every worker's counters and
the queue runner's results; the queue commands act on messages held for a
dead next hop; reload applies a changed configuration without dropping an
open session; the socket answers only root and the run user, and survives
malformed requests. Traffic goes to 127.0.0.0/8 only.
"""

import os
import re
import socket
import stat
import time
import unittest

from harness import Moatd, free_port, message, moatctl

STATS_KEYS = ["sessions", "messages", "rejected_rcpts", "refused_connect", "sent",
              "deferred", "bounced", "preempted", "stress_began", "store_alarms",
              "attack_hits", "attack_bans", "tls_none", "tls_encrypted",
              "tls_verified", "tls_dane", "mta_sts_fetched", "mta_sts_cached",
              "mta_sts_failed", "mta_sts_enforce_failed", "mta_sts_testing_failed",
              "queue", "bans", "stress"]
# the issue 19, 22 and 28 counters, zero unless a test says otherwise (these
# daemons have no signatures_file, and deliver to Maildirs, which the
# tls_* counts of recipients sent over SMTP/LMTP and MTA-STS leave out)
STATS_QUIET = dict(preempted=0, stress_began=0, store_alarms=0, stress=0, attack_hits=0,
                   attack_bans=0, tls_none=0, tls_encrypted=0, tls_verified=0, tls_dane=0,
                   mta_sts_fetched=0, mta_sts_cached=0, mta_sts_failed=0,
                   mta_sts_enforce_failed=0, mta_sts_testing_failed=0)


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def sock_path(m):
    return os.path.join(m.dir, "run", "moatd.sock")


def raw_request(m, data, timeout=10):
    """Send bytes to the control socket; the whole reply until the server closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path(m))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                # closed with part of our request unread: the reply came first
                chunk = b""
            if not chunk:
                return out.decode()
            out += chunk


def send(m, rcpts, subject, source="127.0.0.1", frm="x@remote.test"):
    s = m.smtp(source=source)
    s.ehlo()
    s.mail(frm)
    for r in rcpts:
        code, resp = s.rcpt(r)
        assert code == 250, (r, code, resp)
    code, resp = s.data(message(subject=subject, frm=frm, to=rcpts[0]))
    assert code == 250, resp
    s.quit()
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


class ControlCase(unittest.TestCase):
    def ctl(self, m, *args):
        """moatctl that must succeed; its output lines."""
        r = moatctl(m, *args)
        self.assertEqual(r.returncode, 0, "moatctl %s: %s%s" % (" ".join(args), r.stdout,
                                                               r.stderr))
        self.assertEqual(r.stderr, "")
        return r.stdout.splitlines()

    def ctl_fails(self, m, status, *args):
        r = moatctl(m, *args)
        self.assertEqual(r.returncode, status,
                         "moatctl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stderr

    def stats(self, m):
        lines = self.ctl(m, "stats")
        self.assertEqual(len(lines), 1, lines)
        # on a shared store (MOAT_STORE=redis), the connection's state follows
        tail = (r" store=redis store_up=1 store_latency_us=\d+ store_errors=0"
                if os.environ.get("MOAT_STORE") == "redis" else "")
        self.assertRegex(lines[0],
                         r"^" + " ".join(k + r"=\d+" for k in STATS_KEYS) + tail + "$")
        return {k: int(v) for k, v in (f.split("=") for f in lines[0].split())
                if k not in ("store", "store_up", "store_latency_us", "store_errors")}

    def show(self, m, ip):
        return dict(l.split(" ", 1) for l in self.ctl(m, "show", ip))

    def wait_show(self, m, ip, cond, what, timeout=5):
        """show IP until cond(info) holds (disconnects are counted a moment later)."""
        deadline = time.time() + timeout
        while True:
            info = self.show(m, ip)
            if cond(info):
                return info
            if time.time() > deadline:
                raise AssertionError("show %s never had %s: %r" % (ip, what, info))
            time.sleep(0.1)

    def wait_stats(self, m, want, timeout=10):
        """stats until it equals want (workers add their counts every second)."""
        want = dict(STATS_QUIET, **want)
        deadline = time.time() + timeout
        while True:
            st = self.stats(m)
            if st == want:
                return st
            if time.time() > deadline:
                self.assertEqual(st, want)
            time.sleep(0.2)

    def greeting(self, m, source):
        c = m.raw(source=source)
        try:
            return c.reply()[0]
        finally:
            c.close()


class Bans(ControlCase):
    def test_ban_refuses_at_connect_unban_lets_in(self):
        with Moatd() as m:
            self.assertEqual(self.greeting(m, "127.0.0.2"), 220)
            out = self.ctl(m, "ban", "127.0.0.2", "600", "caught", "spamming")
            self.assertEqual(out, ["banned 127.0.0.2 for 600s: caught spamming"])
            mark = len(m.log())
            self.assertEqual(self.greeting(m, "127.0.0.2"), 421)
            line = m.wait_log(r"smtp refuse .*client=127\.0\.0\.2:\d+ stage=connect "
                              r"rule=ban reply=\"421 4\.7\.1\"", since=mark)[0]
            self.assertIn('reason="caught spamming"', line)
            # a ban is for that client only
            self.assertEqual(self.greeting(m, "127.0.0.3"), 220)
            # the default: the harvest ban time, reason "manual"
            self.assertEqual(self.ctl(m, "ban", "127.0.0.4"),
                             ["banned 127.0.0.4 for 86400s: manual"])
            bans = sorted(self.ctl(m, "bans"))
            self.assertEqual(len(bans), 2, bans)
            self.assertRegex(bans[0], r"^127\.0\.0\.2 until=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
                             r"ttl=(59\d|600) reason=\"caught spamming\"$")
            self.assertRegex(bans[1], r"^127\.0\.0\.4 until=\S+ ttl=(8639\d|86400) "
                             r"reason=manual$")
            self.assertEqual(self.stats(m)["bans"], 2)

            self.assertEqual(self.ctl(m, "unban", "127.0.0.2"), ["unbanned 127.0.0.2"])
            self.assertEqual(self.greeting(m, "127.0.0.2"), 220)
            self.assertIn("127.0.0.2 is not banned", self.ctl_fails(m, 1, "unban", "127.0.0.2"))
            bans = self.ctl(m, "bans")
            self.assertEqual(len(bans), 1)
            self.assertTrue(bans[0].startswith("127.0.0.4 "), bans)
            self.assertEqual(self.greeting(m, "127.0.0.4"), 421)

    def test_ban_arguments_checked_on_both_sides(self):
        with Moatd() as m:
            for args in (["ban"], ["ban", "host.example"], ["ban", "127.0.0.300"],
                         ["ban", "127.0.0.2", "99999999999"], ["unban"],
                         ["unban", "1.2.3"], ["show", "x"], ["allow", "127.0.0.2", "x"],
                         ["nonsense"], ["queue", "flush"], ["bans", "extra"]):
                self.ctl_fails(m, 2, *args)
            # in range for moatctl, refused by the daemon
            self.assertIn("SECONDS", self.ctl_fails(m, 1, "ban", "127.0.0.2", "0"))
            self.assertIn("reason", self.ctl_fails(m, 1, "ban", "127.0.0.2", "x" * 300))
            self.assertEqual(self.ctl(m, "bans"), [])

    def test_ipv6_clients_are_banned_by_64(self):
        with Moatd() as m:
            self.assertEqual(self.ctl(m, "ban", "2001:db8:1:2::1"),
                             ["banned 2001:db8:1:2::/64 for 86400s: manual"])
            self.assertRegex(self.ctl(m, "bans")[0], r"^2001:db8:1:2::/64 until=")
            # another host of the same /64 lifts it; the printed form works too
            self.assertEqual(self.ctl(m, "unban", "2001:db8:1:2:ffff::9"),
                             ["unbanned 2001:db8:1:2::/64"])
            self.ctl(m, "ban", "2001:db8:1:2::1")
            self.assertEqual(self.ctl(m, "unban", "2001:db8:1:2::/64"),
                             ["unbanned 2001:db8:1:2::/64"])
            self.assertEqual(self.ctl(m, "bans"), [])


class Allows(ControlCase):
    def test_allow_lets_banned_and_early_talkers_in(self):
        with Moatd(limits={"greet_delay_ms": 300}) as m:
            # an early talker is refused, and remembered
            c = m.raw(source="127.0.0.5")
            c.send("EHLO early.test\r\n")
            self.assertEqual(c.reply()[0], 554)
            c.close()
            mark = len(m.log())
            # remembered: 421 (only the session that talked early hears 5xx)
            self.assertEqual(self.greeting(m, "127.0.0.5"), 421)
            m.wait_log(r"smtp refuse .*client=127\.0\.0\.5:\d+ stage=connect "
                       r"rule=early-talker", since=mark)
            self.assertRegex(self.show(m, "127.0.0.5")["early-talker"], r"^yes until=")
            self.ctl(m, "ban", "127.0.0.6")
            self.assertEqual(self.greeting(m, "127.0.0.6"), 421)

            self.assertEqual(self.ctl(m, "allow", "127.0.0.5"),
                             ["allowed 127.0.0.5 until disallowed"])
            self.assertEqual(self.ctl(m, "allow", "127.0.0.6", "120"),
                             ["allowed 127.0.0.6 for 120s"])
            mark = len(m.log())
            for ip in ("127.0.0.5", "127.0.0.6"):
                s = m.smtp(source=ip)
                self.assertEqual(s.ehlo()[0], 250)
                s.quit()
            self.assertEqual(len(m.wait_log(r"smtp screen .*verdict=pass rule=allow",
                                            count=2, since=mark)), 2)
            allows = sorted(self.ctl(m, "allows"))
            self.assertEqual(allows[0], "127.0.0.5 until=never")
            self.assertRegex(allows[1], r"^127\.0\.0\.6 until=\S+Z ttl=(11\d|120)$")
            # banning an allowed client says the ban does nothing yet
            out = self.ctl(m, "ban", "127.0.0.5")
            self.assertEqual(out[0], "banned 127.0.0.5 for 86400s: manual")
            self.assertIn("127.0.0.5 is on the allow list", out[1])

            # disallow: the ban applies again
            self.assertEqual(self.ctl(m, "disallow", "127.0.0.6"), ["disallowed 127.0.0.6"])
            self.assertEqual(self.greeting(m, "127.0.0.6"), 421)
            self.assertIn("not on the allow list",
                          self.ctl_fails(m, 1, "disallow", "127.0.0.6"))
            self.assertEqual(self.ctl(m, "allows"), ["127.0.0.5 until=never"])
            # unban also forgets the early talker
            self.ctl(m, "disallow", "127.0.0.5")
            self.assertEqual(self.ctl(m, "unban", "127.0.0.5"),
                             ["unbanned 127.0.0.5", "forgot early talker 127.0.0.5"])
            c = m.raw(source="127.0.0.5")
            self.assertEqual(c.reply()[0], 220)  # after the greeting delay
            c.close()


class Show(ControlCase):
    def test_show_reports_sessions_rates_and_unknown_recipients(self):
        # 5 a minute: a token comes back every 12 s, far longer than this test
        with Moatd(limits={"conn_rate": 5, "msg_rate": 5, "rcpt_rate": 5},
                   domains={"example.test": ["alice"]}) as m:
            ip = "127.0.0.8"
            s1 = m.smtp(source=ip)
            s1.ehlo()
            info = self.show(m, ip)
            self.assertEqual(info["client"], ip)
            self.assertEqual(info["trusted"], "no")
            self.assertEqual(info["ban"], "no")
            self.assertEqual(info["allow"], "no")
            self.assertEqual(info["early-talker"], "no")
            self.assertEqual(info["sessions"], "1")
            self.assertEqual(info["sessions-all"], "1")
            self.assertEqual(info["conn-rate"], "tokens=4 capacity=5")
            self.assertEqual(info["msg-rate"], "tokens=5 capacity=5")
            self.assertEqual(info["rcpt-rate"], "tokens=5 capacity=5")
            self.assertEqual(info["unknown-recipients"], "0")
            self.assertRegex(info["verdict-cache"], r"^yes score=0 fcrdns=yes dnswl=no until=")
            self.assertEqual(info["greylist-passed"], "127.0.0.0/24 no")

            s2 = m.smtp(source=ip)
            s2.ehlo()
            s2.mail("x@remote.test")
            self.assertEqual(s2.rcpt("nobody@example.test")[0], 550)
            self.assertEqual(s2.rcpt("ghost@example.test")[0], 550)
            self.assertEqual(s2.rcpt("alice@example.test")[0], 250)
            s2.quit()
            m.wait_log(r"smtp disconnect .*client=127\.0\.0\.8:\d+ reason=\"quit\"")
            info = self.wait_show(m, ip, lambda i: i["sessions"] == "1",
                                  "one session left")
            self.assertEqual(info["conn-rate"], "tokens=3 capacity=5")
            self.assertEqual(info["msg-rate"], "tokens=4 capacity=5")
            self.assertEqual(info["rcpt-rate"], "tokens=2 capacity=5")
            self.assertRegex(info["unknown-recipients"], r"^2 until=")
            # another client's entries are its own
            other = self.show(m, "127.0.0.9")
            self.assertEqual(other["sessions"], "0")
            self.assertEqual(other["conn-rate"], "tokens=5 capacity=5")
            self.assertEqual(other["unknown-recipients"], "0")
            self.assertEqual(other["verdict-cache"], "no")
            s1.quit()
            self.wait_show(m, ip, lambda i: i["sessions"] == "0",
                           "no session left")


class Stats(ControlCase):
    def test_stats_sum_sessions_messages_rejections_deliveries(self):
        with Moatd(domains={"example.test": ["alice"]}, workers=2) as m:
            # the harness's port probe was one session
            self.assertEqual(m.probes(), 1)
            self.wait_stats(m, dict(sessions=1, messages=0, rejected_rcpts=0,
                                    refused_connect=0, sent=0, deferred=0, bounced=0,
                                    queue=0, bans=0))
            for i in range(3):
                s = m.smtp()
                s.ehlo()
                s.mail("x@remote.test")
                if i == 0:
                    self.assertEqual(s.rcpt("nobody@example.test")[0], 550)
                self.assertEqual(s.rcpt("alice@example.test")[0], 250)
                self.assertEqual(s.data(message(subject="n%d" % i))[0], 250)
                s.quit()
            m.wait_maildir("alice", 3)
            self.ctl(m, "ban", "127.0.0.9")
            want = dict(STATS_QUIET, sessions=4, messages=3, rejected_rcpts=1,
                        refused_connect=0, sent=3, deferred=0, bounced=0, queue=0, bans=1)
            self.wait_stats(m, want)
            # counters are added once: later flushes add nothing
            time.sleep(2.5)
            self.assertEqual(self.stats(m), want)


    def test_refused_connections_are_counted(self):
        with Moatd(limits={"sessions_max": 1}) as m:
            held = m.smtp()
            held.ehlo()
            # inside a mail transaction: a full house does not take it back
            held.mail("x@remote.test")
            for _ in range(2):
                self.assertEqual(self.greeting(m, "127.0.0.2"), 421)
            m.wait_log(r"smtp refuse sid=- client=127\.0\.0\.2:\d+ stage=connect "
                       r"rule=sessions-max reply=\"421 4\.7\.0\"", count=2)
            held.quit()
            # one session is the whole house: the port probe's session and
            # the held one each put the worker under stress
            self.wait_stats(m, dict(sessions=2, messages=0, rejected_rcpts=0,
                                    refused_connect=2, sent=0, deferred=0, bounced=0,
                                    queue=0, bans=0, stress_began=2))


class Queue(ControlCase):
    def test_queue_list_show_retry_delete(self):
        port = free_port()  # nothing listens there
        with Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                   domain_extra={"inside.test": '\tdelivery = "smtp:127.0.0.1:%d"\n' % port},
                   limits={"retry_min": 3600, "retry_max": 7200}) as m:
            ids = []
            for i in range(2):
                # One at a time: a burst to a dead next hop makes the delivery
                # code reconnect in a tight loop (dest.c; reported).
                ids.append(send(m, ["bob@inside.test"], "held-%d" % i))
                m.wait_log(r"deliver id=%s to=<bob@inside\.test> .*attempt=1 "
                           r"status=deferred" % ids[-1])
            # the reason reaches the store a moment after the log line
            lines = wait_for(lambda: (lambda ls: ls if all(" why=" in l for l in ls)
                                      else None)(self.ctl(m, "queue", "list")),
                             5, "why= on every line of queue list")
            self.assertEqual([l.split()[0] for l in lines], sorted(ids))
            for l in lines:
                self.assertRegex(l, r"^[0-9A-F]{18} arrival=\S+Z size=\d+ attempts=1 "
                                 r"next=\S+Z rcpts=1 pending=1 held=no sender=<x@remote\.test> "
                                 r"why=\"local: 421 4\.4\.1 local: connect failed: "
                                 r"Connection refused\"$")

            show = self.ctl(m, "queue", "show", ids[0])
            self.assertEqual(show[0], "id " + ids[0])
            for want in ("attempts 1", "origin stranger", "client 127.0.0.1",
                         "helo client.test", "sender <x@remote.test>",
                         "rcpt pending <bob@inside.test>"):
                self.assertIn(want, show)
            self.assertFalse(any(l.startswith("next now") for l in show), show)

            # retry one: only that one is tried again, at once
            self.assertEqual(self.ctl(m, "queue", "retry", ids[0]), ["retry " + ids[0]])
            m.wait_log(r"deliver id=%s .*attempt=2 status=deferred" % ids[0])
            self.assertEqual(m.log_lines(r"deliver id=%s .*attempt=2" % ids[1]), [])
            self.assertIn("attempts 2", self.ctl(m, "queue", "show", ids[0]))
            wait_for(lambda: self.stats(m)["deferred"] == 3, 5, "3 deferrals counted")

            # retry all
            self.assertEqual(sorted(self.ctl(m, "queue", "retry", "all")),
                             sorted("retry " + i for i in ids))
            m.wait_log(r"deliver id=%s .*attempt=3 status=deferred" % ids[0])
            m.wait_log(r"deliver id=%s .*attempt=2 status=deferred" % ids[1])

            # delete
            self.assertEqual(self.ctl(m, "queue", "delete", ids[0]), ["deleted " + ids[0]])
            self.assertEqual(m.queue_files(), [ids[1]])
            self.assertEqual([l.split()[0] for l in self.ctl(m, "queue", "list")], [ids[1]])
            self.assertIn("no message", self.ctl_fails(m, 1, "queue", "show", ids[0]))
            self.assertIn("no message", self.ctl_fails(m, 1, "queue", "delete", ids[0]))
            self.assertIn("no message", self.ctl_fails(m, 1, "queue", "retry", ids[0]))
            self.wait_stats(m, dict(sessions=3, messages=2, rejected_rcpts=0,
                                    refused_connect=0, sent=0, deferred=5, bounced=0,
                                    queue=1, bans=0))
            # the runner forgets the deleted message without complaint
            self.ctl(m, "queue", "retry", "all")
            m.wait_log(r"deliver id=%s .*attempt=3 status=deferred" % ids[1])
            self.assertEqual(m.log_lines(r"deliver id=%s .*attempt=4" % ids[0]), [])
            self.assertEqual(m.log_lines(r"queue: .*%s" % ids[0]), [])

            for args in (["queue", "show", "abc"], ["queue", "retry", "ALL"],
                         ["queue", "delete", ids[1].lower()], ["queue", "show"]):
                self.ctl_fails(m, 2, *args)
            self.assertEqual(m.queue_files(), [ids[1]])


class Reload(ControlCase):
    def test_reload_applies_new_user_and_keeps_open_session(self):
        with Moatd(domains={"example.test": ["alice"]}) as m:
            old = m.smtp()
            old.ehlo()
            old.mail("x@remote.test")
            self.assertEqual(old.rcpt("carol@example.test")[0], 550)

            m.domains["example.test"].append("carol")
            m.write_conf()
            mark = len(m.log())
            self.assertEqual(self.ctl(m, "reload"), ["reloaded " + m.conf])
            m.wait_log(r"master: configuration reloaded", since=mark)
            m.wait_log(r"smtp worker 0 ready", since=mark)

            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            self.assertEqual(s.rcpt("carol@example.test")[0], 250)
            self.assertEqual(s.data(message(to="carol@example.test"))[0], 250)
            s.quit()
            m.wait_maildir("carol", 1)

            # the session opened before the reload goes on, on the old worker
            self.assertEqual(old.rcpt("alice@example.test")[0], 250)
            self.assertEqual(old.data(message())[0], 250)
            old.quit()
            m.wait_maildir("alice", 1)

            # a broken file: the error is the reply, the running config stays
            with open(m.conf, "a") as f:
                f.write("this is not a setting\n")
            self.assertEqual(raw_request(m, b"reload\n"),
                             "error: the configuration has errors (see the log); "
                             "the running one stays\n.\n")
            m.wait_log(r"master: .* has errors; keeping the running configuration")
            # moatctl reads the same file first, and says what is wrong
            self.assertIn("no such option", self.ctl_fails(m, 1, "reload"))
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            self.assertEqual(s.rcpt("carol@example.test")[0], 250)
            s.quit()
            m.write_conf()
            self.assertEqual(len(self.ctl(m, "stats")), 1)


class Socket(ControlCase):
    def test_socket_is_root_only_and_peers_are_checked(self):
        with Moatd() as m:
            st = os.stat(sock_path(m))
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, 0))
            r = moatctl(m, "stats", user="nobody", group="nogroup")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("cannot reach moatd", r.stderr)

            # Open the file modes: now only the daemon's peer check stands.
            run = os.path.dirname(sock_path(m))
            run_mode = stat.S_IMODE(os.stat(run).st_mode)
            os.chmod(run, 0o711)
            os.chmod(sock_path(m), 0o666)
            try:
                mark = len(m.log())
                r = moatctl(m, "ban", "127.0.0.2", user="nobody", group="nogroup")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertEqual(r.stderr, "moatctl: permission denied\n")
                m.wait_log(r"control request uid=65534 .*result=error: permission denied",
                           since=mark)
                self.assertEqual(self.ctl(m, "bans"), [])
                # the run user may
                r = moatctl(m, "stats", user="moat", group="moat")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"^sessions=\d+ ")
            finally:
                os.chmod(sock_path(m), 0o600)
                os.chmod(run, run_mode)

    def test_a_dead_control_process_comes_back(self):
        with Moatd() as m:
            line = m.wait_log(r"moatd/control\[\d+\]: control ready")[0]
            pid = int(re.search(r"moatd/control\[(\d+)\]", line).group(1))
            self.ctl(m, "ban", "127.0.0.2")
            os.kill(pid, 9)
            m.wait_log(r"master: control process %d killed by signal 9" % pid)
            m.wait_log(r"control ready", count=2)
            # the bans are in the store, not in the process
            self.assertEqual(len(self.ctl(m, "bans")), 1)

    def test_bad_requests_get_errors_and_the_process_lives_on(self):
        with Moatd() as m:
            m.wait_log(r"control ready")
            long = raw_request(m, b"stats " + b"x" * 5000 + b"\n")
            self.assertEqual(long, "error: request line longer than 1024 octets\n.\n")
            # no line end at all: refused once the limit is reached
            self.assertEqual(raw_request(m, b"y" * 1024),
                             "error: request line longer than 1024 octets\n.\n")
            # the longest allowed line: 1023 octets and LF
            self.assertEqual(raw_request(m, b"bans" + b" " * 1019 + b"\n"), "ok\n.\n")
            self.assertTrue(raw_request(m, b"bans" + b" " * 1020 + b"\n").startswith(
                "error: request line longer"))
            self.assertEqual(raw_request(m, b"ban 127.0.0.2 \x01x\n"),
                             "error: the request must be printable ASCII\n.\n")
            self.assertEqual(raw_request(m, b"bans\x00 extra\n"),
                             "error: the request must be printable ASCII\n.\n")
            self.assertEqual(raw_request(m, b"frobnicate\n"),
                             "error: unknown command frobnicate\n.\n")
            self.assertEqual(raw_request(m, b"show 1.2.3\n"),
                             "error: 1.2.3 is not an IP address\n.\n")
            self.assertEqual(raw_request(m, b"queue delete ../../etc/passwd\n"),
                             "error: ../../etc/passwd is not a queue id\n.\n")
            self.assertEqual(raw_request(m, b"unban\n"),
                             "error: wrong number of arguments for \"unban\"\n.\n")
            self.assertEqual(raw_request(m, b"\n"), "error: empty request\n.\n")
            # CRLF is accepted too
            self.assertEqual(raw_request(m, b"bans\r\n"), "ok\n.\n")

            # at most 32 connections at once
            held = []
            try:
                for _ in range(32):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(sock_path(m))
                    held.append(s)
                self.assertEqual(raw_request(m, b"bans\n"),
                                 "error: too many control connections\n.\n")
            finally:
                for s in held:
                    s.close()
            wait_for(lambda: raw_request(m, b"bans\n") == "ok\n.\n", 5, "room again")

            # still the same control process
            self.assertEqual(len(self.ctl(m, "stats")), 1)
            self.assertEqual(len(m.log_lines(r"control ready")), 1)
            self.assertEqual(m.log_lines(r"master: control process"), [])


if __name__ == "__main__":
    unittest.main()

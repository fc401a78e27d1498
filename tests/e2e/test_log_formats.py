"""End-to-end: moatd's log lines (issue 26, item 4).

Syslog: moatd runs without -d, daemonized as in production, inside a
private mount namespace (unshare -m) whose /dev is a tmpfs of its own: the
few devices the daemon opens are bound in from the real /dev, and /dev/log
is a symlink to an AF_UNIX datagram socket the test binds. The machine's
own /dev and syslog are never touched. Lines must arrive with facility mail
(<2x>) and the ident moatd, from the master and from the children.

JSON (log_format = "json", with -d): every line parses with json.loads,
and a session's connect, queued and refuse lines carry their fields as
members: a sender with quotes and a backslash, and a hostile command line
(control and 8-bit octets, quotes, a backslash, text that looks like more
members) that an attack signature logs, each such octet written \\u00XX.
Traffic goes to 127.0.0.1 only.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import BIN, Moatd, kill_group_members, make_tmpdir, message, wait_port

# mail facility (2) << 3 | severity
SYSLOG_LINE = re.compile(
    r"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+?)\[(\d+)\]: (.*)$", re.S)


class SyslogSocket:
    """An AF_UNIX datagram socket that collects syslog(3) messages."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # the children write as the moat user
        self.sock.settimeout(0.2)
        self.lines = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.lines.append(data.decode("utf-8", "replace"))

    def wait(self, pattern, timeout=20):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [l for l in list(self.lines) if rx.search(l)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError("no syslog line matched %r; got:\n%s" % (
            pattern, "\n".join(self.lines[-30:])))

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


# Run in the private mount namespace: a /dev of our own, /dev/log ours.
NAMESPACE_SCRIPT = r"""
set -e
mkdir -p "$T/realdev"
mount --rbind /dev "$T/realdev"
mount -t tmpfs -o mode=0755,size=1m moat-test-dev /dev
for d in null zero random urandom full; do
	touch "/dev/$d"
	mount --bind "$T/realdev/$d" "/dev/$d"
done
ln -s /proc/self/fd /dev/fd
ln -s "$T/log.sock" /dev/log
umount -l "$T/realdev"
exec "$MOATD" -c "$CONF"
"""


class Syslog(unittest.TestCase):
    def start_in_namespace(self, m):
        """moatd -c m.conf without -d, its /dev/log a test socket: the
        finished command (moatd forks into the background, daemon(3)) and
        the socket's collector."""
        t = make_tmpdir("moat-syslog-")
        log = SyslogSocket(os.path.join(t, "log.sock"))
        self.addCleanup(log.close)
        env = dict(os.environ, T=t, MOATD=os.path.join(BIN, "moatd"), CONF=m.conf)
        env.pop("NOTIFY_SOCKET", None)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            NAMESPACE_SCRIPT], env=env, capture_output=True, text=True,
                           timeout=60, cwd=m.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, log

    def test_lines_reach_syslog_with_facility_mail_and_ident_moatd(self):
        m = Moatd()
        self.addCleanup(m.cleanup)
        r, log = self.start_in_namespace(m)
        first = log.wait(r"master: listening on 127\.0\.0\.1:%d" % m.port)[0]
        pri, ident, pid, _ = SYSLOG_LINE.match(first).groups()
        master = int(pid)
        self.addCleanup(kill_group_members, master)  # daemon(3) made it a group leader
        self.assertEqual(ident, "moatd")
        self.assertEqual(int(pri), 2 * 8 + 6)  # mail.info: <22>
        wait_port("127.0.0.1", m.port)
        worker = log.wait(r"smtp: smtp worker 0 ready")[0]
        self.assertRegex(worker, r"^<22>")
        _, ident, wpid, text = SYSLOG_LINE.match(worker).groups()
        self.assertEqual(ident, "moatd")
        self.assertNotEqual(int(wpid), master)
        log.wait(r"queue: queue runner ready")

        # a session's lines, and a warning
        s = m.smtp()
        s.ehlo("client.example")
        s.mail("sender@remote.test")
        s.rcpt("alice@example.test")
        code, _ = s.data(message())
        self.assertEqual(code, 250)
        s.quit()
        for pattern in (r"smtp: smtp connect sid=\S+ client=127\.0\.0\.1:\d+ listener=mx",
                        r"smtp: smtp queued sid=\S+ id=[0-9A-F]+ client=127\.0\.0\.1 "
                        r"from=<sender@remote\.test> nrcpt=1",
                        r"smtp: smtp disconnect sid="):
            line = log.wait(pattern)[0]
            m_ = SYSLOG_LINE.match(line)
            self.assertIsNotNone(m_, line)
            self.assertEqual(m_.group(2), "moatd")
            self.assertEqual(int(m_.group(1)) >> 3, 2, line)  # facility mail
        # every line the daemon sent is a syslog line of facility mail
        for line in list(log.lines):
            m_ = SYSLOG_LINE.match(line)
            self.assertIsNotNone(m_, line)
            self.assertIn(int(m_.group(1)), range(16, 24), line)
            self.assertEqual(m_.group(2), "moatd", line)

        os.kill(master, signal.SIGTERM)
        stopped = log.wait(r"master: stopped")[0]
        self.assertEqual(int(SYSLOG_LINE.match(stopped).group(3)), master)
        # nothing went to the test's stderr or stdout: the daemon's are /dev/null
        self.assertEqual(r.stdout, "")


    def test_json_lines_to_syslog(self):
        """log_format = "json" without -d: each syslog message is one JSON
        object, without a time of its own (syslog stamps the line)."""
        m = Moatd(extra='log_format = "json"\n')
        self.addCleanup(m.cleanup)
        _, log = self.start_in_namespace(m)
        first = log.wait(r'"msg":"master: listening on 127\.0\.0\.1:%d \(mx\)"' % m.port)[0]
        pri, ident, pid, text = SYSLOG_LINE.match(first).groups()
        self.addCleanup(kill_group_members, int(pid))
        self.assertEqual((int(pri), ident), (22, "moatd"))
        rec = json.loads(text)
        self.assertEqual((rec["process"], rec["pid"], rec["level"]), ("moatd", pid, "info"))
        self.assertNotIn("time", rec)
        worker = log.wait(r'"msg":"smtp worker 0 ready"')[0]
        rec = json.loads(SYSLOG_LINE.match(worker).group(4))
        self.assertEqual(rec["process"], "moatd/smtp")
        os.kill(int(pid), signal.SIGTERM)
        log.wait(r'"msg":"master: stopped"')
        for line in list(log.lines):
            json.loads(SYSLOG_LINE.match(line).group(4))


class JsonMoatd(Moatd):
    """A Moatd with log_format = "json": start() must not wait for the text
    form of the probes' disconnect lines."""

    def probes(self):
        return 0

    def records(self):
        """Every line of the log, each parsed (a line that is not JSON fails)."""
        out = []
        for line in self.log().splitlines():
            out.append(json.loads(line))
        return out

    def wait_record(self, pred, timeout=10, what="a record"):
        deadline = time.time() + timeout
        while True:
            found = [r for r in self.records() if pred(r)]
            if found:
                return found
            if time.time() > deadline:
                raise AssertionError("no JSON log line for %s; log tail:\n%s" % (
                    what, "\n".join(self.log().splitlines()[-20:])))
            time.sleep(0.05)


class Json(unittest.TestCase):
    def test_every_line_is_json_with_the_fields_as_members(self):
        m = JsonMoatd()
        rules = os.path.join(m.dir, "rules.conf")
        with open(rules, "w") as f:
            f.write("json-probe command 1 - re:^(?i)DEBUG(?:\\s|$)\n")
        os.chmod(rules, 0o644)
        m.extra = 'log_format = "json"\nscreen {\n\tsignatures_file = "%s"\n}\n' % rules
        m.write_conf()
        with m:
            m.wait_record(lambda r: r.get("msg") == "smtp disconnect", what="probe end")
            # a good message from a sender whose quoted local part holds a
            # quote, a backslash and a space
            s = m.smtp()
            s.ehlo("client.example")
            sender = '"a\\"b\\\\c d"@remote.test'
            code, resp = s.mail(sender)
            self.assertEqual(code, 250, resp)
            s.rcpt("alice@example.test")
            code, resp = s.data(message())
            self.assertEqual(code, 250)
            qid = re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()
            s.quit()
            q = m.wait_record(lambda r: r.get("msg") == "smtp queued" and
                              r.get("id") == qid, what="queued")[0]
            self.assertEqual(q["from"], "<" + sender + ">")
            self.assertEqual(q["level"], "info")
            self.assertEqual(q["process"], "moatd/smtp")
            self.assertRegex(q["pid"], r"^\d+$")
            self.assertRegex(q["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
            self.assertEqual(q["client"], "127.0.0.1")
            self.assertEqual(q["nrcpt"], "1")
            sid = q["sid"]
            c = m.wait_record(lambda r: r.get("msg") == "smtp connect" and
                              r.get("sid") == sid, what="connect")[0]
            self.assertRegex(c["client"], r"^127\.0\.0\.1:\d+$")
            self.assertEqual(c["listener"], "mx")

            # a hostile command line (control and 8-bit octets, quotes, a
            # backslash, text that looks like more members), logged whole by
            # the attack signature it matches
            hostile = b'DEBUG x\x01\x7f\xff\xc3"\\",\\"level\\":\\"crit'
            raw = m.raw()
            raw.reply()
            raw.send(hostile + b"\r\n")
            code, _ = raw.reply()
            self.assertGreaterEqual(code, 500)
            raw.cmd("QUIT")
            raw.close()
            hit = m.wait_record(lambda r: r.get("msg") == "attack" and
                                r.get("rule") == "json-probe", what="attack")[0]
            self.assertEqual(hit["text"], hostile.decode("latin-1"))
            self.assertEqual(hit["level"], "info")
            self.assertEqual(hit["stage"], "command")
            # written as \u00XX: the raw log line is ASCII
            text = m.log()
            self.assertIn("\\u0001\\u007f\\u00ff\\u00c3", text)
            self.assertTrue(all(ord(ch) < 128 for ch in text))
            m.stop()
            # every line of the whole run parses, master's and workers' alike
            recs = m.records()
            self.assertGreater(len(recs), 10)
            for r in recs:
                for k in ("time", "level", "process", "pid", "msg"):
                    self.assertIn(k, r)
            self.assertTrue(any(r["process"] == "moatd" and
                                r["msg"] == "master: stopped" for r in recs))

    def test_bad_log_format_is_refused_with_file_and_line(self):
        m = Moatd(extra='log_format = "xml"\n')
        m.assert_refused(self, r"moat\.conf:\d+: .*log_format")


if __name__ == "__main__":
    unittest.main()

"""End-to-end: moatd under systemd's notification protocol (issue 26, item 3).

The test plays systemd's part: it binds an AF_UNIX datagram socket in its
own temporary directory, starts moatd with NOTIFY_SOCKET (and
WATCHDOG_USEC) naming it, and reads what the master says: READY=1 once the
listener answers, STATUS= lines with the open sessions and the queue size,
WATCHDOG=1 at half the interval, RELOADING=1 with MONOTONIC_USEC then
READY=1 around a SIGHUP, STOPPING=1 on SIGTERM. Traffic goes to 127.0.0.1
only.
"""

import os
import socket
import threading
import time
import unittest

from harness import Moatd, make_tmpdir, message


class NotifySocket:
    """What a service manager hears on NOTIFY_SOCKET: (monotonic time, text)
    of every datagram, read by a thread; on_ready(t) runs in that thread
    when a datagram holds READY=1."""

    def __init__(self, on_ready=None):
        self.path = os.path.join(make_tmpdir("moat-notify-"), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.got = []
        self.lock = threading.Lock()
        self.on_ready = on_ready
        self.ready_checks = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            text = data.decode("utf-8", "replace")
            if "READY=1" in text.split("\n") and self.on_ready is not None:
                self.ready_checks.append(self.on_ready(now))
            with self.lock:
                self.got.append((now, text))

    def messages(self):
        with self.lock:
            return list(self.got)

    def wait(self, pred, timeout, what, since=0):
        """The first (index, time, text) from index since on whose text
        satisfies pred."""
        deadline = time.time() + timeout
        while True:
            msgs = self.messages()
            for i in range(since, len(msgs)):
                if pred(msgs[i][1]):
                    return i, msgs[i][0], msgs[i][1]
            if time.time() > deadline:
                raise AssertionError("no %s on NOTIFY_SOCKET in %ss; got %r" % (
                    what, timeout, [t for _, t in msgs][-20:]))
            time.sleep(0.05)

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def fields(text):
    return dict(line.split("=", 1) for line in text.split("\n") if "=" in line)


class Notify(unittest.TestCase):
    def test_ready_status_watchdog_reload_stopping(self):
        m = None

        def banner_now(t):
            """At READY=1 the listener must already answer with its 220."""
            try:
                with socket.create_connection(("127.0.0.1", m.port), timeout=5) as c:
                    return c.recv(512).decode("ascii", "replace")
            except OSError as e:
                return "error: %r" % e

        ns = NotifySocket(on_ready=banner_now)
        self.addCleanup(ns.close)
        env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="1000000")
        env.pop("WATCHDOG_PID", None)
        m = Moatd(trusted=["127.0.0.0/8"], env=env)
        with m:
            # READY=1 once, with a STATUS, and the listener answered then
            i_ready, t_ready, text = ns.wait(lambda t: "READY=1" in t.split("\n"), 20,
                                             "READY=1")
            self.assertRegex(fields(text).get("STATUS", ""), r"^sessions=\d+ queue=\d+$")
            deadline = time.time() + 5
            while not ns.ready_checks and time.time() < deadline:
                time.sleep(0.05)
            self.assertRegex(ns.ready_checks[0], r"^220 mx\.example\.test ")
            self.assertEqual(len([1 for _, t in ns.messages() if "READY=1" in t]), 1)

            # WATCHDOG=1 every half second (WATCHDOG_USEC=1000000)
            t0 = time.monotonic()
            before = len([1 for _, t in ns.messages() if t == "WATCHDOG=1"])
            time.sleep(3)
            pets = [w for w, t in ns.messages() if t == "WATCHDOG=1" and w >= t0]
            self.assertGreater(before, 0)
            self.assertGreaterEqual(len(pets), 4)
            self.assertLessEqual(len(pets), 8)
            gaps = [b - a for a, b in zip(pets, pets[1:])]
            self.assertLess(max(gaps), 1.0, gaps)  # a pet missed would be 1 s

            # STATUS counts an open session and a message waiting in the queue
            # (its relayhost is a dead port: deferred, kept)
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            s.rcpt("someone@elsewhere.test")
            code, _ = s.data(message(subject="for the queue"))
            self.assertEqual(code, 250)
            m.wait_log(r"to=<someone@elsewhere\.test> .*status=deferred")
            mark = len(ns.messages())
            _, _, text = ns.wait(
                lambda t: fields(t).get("STATUS") == "sessions=1 queue=1", 30,
                "STATUS=sessions=1 queue=1", since=mark)
            s.quit()
            mark = len(ns.messages())
            ns.wait(lambda t: fields(t).get("STATUS") == "sessions=0 queue=1", 30,
                    "STATUS=sessions=0 queue=1", since=mark)

            # SIGHUP: RELOADING=1 with the monotonic clock, then READY=1
            mark = len(ns.messages())
            hup_at = time.clock_gettime(time.CLOCK_MONOTONIC)
            m.hup()
            i_rel, _, text = ns.wait(lambda t: "RELOADING=1" in t.split("\n"), 10,
                                     "RELOADING=1", since=mark)
            usec = int(fields(text)["MONOTONIC_USEC"])
            self.assertLess(abs(usec / 1e6 - hup_at), 5.0)
            ns.wait(lambda t: "READY=1" in t.split("\n"), 20, "READY=1 after the reload",
                    since=i_rel + 1)
            m.wait_log(r"master: configuration reloaded")
            self.assertEqual(len(ns.ready_checks), 2)
            self.assertRegex(ns.ready_checks[1], r"^220 ")

            # SIGTERM: STOPPING=1
            mark = len(ns.messages())
            m.stop()
            ns.wait(lambda t: "STOPPING=1" in t.split("\n"), 10, "STOPPING=1", since=mark)

    def test_reload_of_a_broken_file_is_ready_again_at_once(self):
        ns = NotifySocket()
        self.addCleanup(ns.close)
        env = dict(os.environ, NOTIFY_SOCKET=ns.path)
        with Moatd(env=env) as m:
            ns.wait(lambda t: "READY=1" in t.split("\n"), 20, "READY=1")
            # no watchdog asked for: no WATCHDOG=1
            self.assertFalse([t for _, t in ns.messages() if "WATCHDOG" in t])
            with open(m.conf, "a") as f:
                f.write("no_such_setting = 1\n")
            mark = len(ns.messages())
            m.hup()
            i, _, _ = ns.wait(lambda t: "RELOADING=1" in t.split("\n"), 10, "RELOADING=1",
                              since=mark)
            _, _, text = ns.wait(lambda t: "READY=1" in t.split("\n"), 10,
                                 "READY=1 after the failed reload", since=i + 1)
            self.assertIn("reload failed", fields(text).get("STATUS", ""))
            m.wait_log(r"keeping the running configuration")


if __name__ == "__main__":
    unittest.main()

"""End-to-end: moatctl's queue control does what it says (issue 26, item 8).

A message is deferred because its next hop (Postfix's smtp-sink on a
loopback port) is down: the queue runner marks the destination unreachable
for a minute and the message's next try is an hour away (retry_min). The
sink starts; without a word nothing moves, and `moatctl queue retry all`,
then `queue retry ID` for a second such message, have it at the sink
within 2 seconds. `queue hold all` keeps a message even from a retry;
`queue release all` lets it go. `queue list --json` gives one JSON object
per line. The reason a message waits ("why:ID" in the state store) goes
with the message: `queue delete` removes it, and so does a delivery after
a restart of moatd (read from the LMDB store itself with mdb_dump).
Traffic goes to 127.0.0.1 only.
"""

import json
import os
import subprocess
import time
import unittest

from harness import Moatd, free_port, make_tmpdir, moatctl
from peers import SmtpSink
from test_control import wait_for
from test_delivery import dumped, send


def store_keys(m):
    """The keys in moatd's LMDB store, read from the file (mdb_dump, as the
    daemon runs: LMDB readers take no writer's lock)."""
    r = subprocess.run(["mdb_dump", os.path.join(m.dir, "state", "store")],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("mdb_dump: " + r.stdout + r.stderr)
    lines = r.stdout.splitlines()
    data = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    return [bytes.fromhex(k.strip()).decode() for k in data[0::2]]


class QueueControl(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.dump = make_tmpdir("moat-sinkdump-")
        self.m = Moatd(domains={"example.test": ["alice"], "inside.test": ["bob"]},
                       domain_extra={"inside.test":
                                     '\tdelivery = "smtp:127.0.0.1:%d"\n' % self.port},
                       limits={"retry_min": 3600, "retry_max": 7200})
        self.m.start()
        self.addCleanup(self.m.cleanup)
        self.addCleanup(self.m.stop)

    def ctl(self, *args):
        r = moatctl(self.m, *args)
        self.assertEqual(r.returncode, 0, "moatctl %s: %s%s" % (" ".join(args), r.stdout,
                                                                 r.stderr))
        return r.stdout

    def deferred(self, subject, count=1):
        """A message for bob@inside.test, deferred with its hop marked down."""
        qid = send(self.m, ["bob@inside.test"], subject)
        self.m.wait_log(r"deliver id=%s .*status=deferred" % qid)
        self.m.wait_log(r"deliver destination=127\.0\.0\.1 unreachable-for=60s",
                        count=count)
        return qid

    def at_sink(self, subject, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(s == subject for _, s in dumped(self.dump)):
                return time.time()
            time.sleep(0.02)
        return None

    def test_retry_all_then_by_id_delivers_within_two_seconds(self):
        m = self.m
        first = self.deferred("first")
        with SmtpSink(dump_dir=self.dump, port=self.port):
            # the hop is back, but nothing tells moatd: nothing moves
            self.assertIsNone(self.at_sink("first", 2.0))
            self.assertEqual(m.queue_files(), [first])
            t0 = time.time()
            out = self.ctl("queue", "retry", "all")
            self.assertIn("retry " + first, out)
            got = self.at_sink("first", 2.0)
            self.assertIsNotNone(got, "not at the sink 2 s after queue retry all")
            self.assertLess(got - t0, 2.0)
            m.wait_log(r"deliver destination=127\.0\.0\.1 revived")
            m.wait_log(r"deliver id=%s .*attempt=2 status=sent" % first)

        # down again: a second message marks the hop unreachable once more
        second = self.deferred("second", count=2)
        with SmtpSink(dump_dir=self.dump, port=self.port):
            self.assertIsNone(self.at_sink("second", 1.0))
            t0 = time.time()
            out = self.ctl("queue", "retry", second)
            self.assertEqual(out.strip(), "retry " + second)
            got = self.at_sink("second", 2.0)
            self.assertIsNotNone(got, "not at the sink 2 s after queue retry ID")
            self.assertLess(got - t0, 2.0)
        self.assertEqual(sorted(s for _, s in dumped(self.dump)), ["first", "second"])
        self.assertEqual(m.queue_files(), [])

    def test_list_json_hold_all_and_release_all(self):
        m = self.m
        qid = self.deferred("held")
        before = time.time()
        # the reason reaches the store a moment after the log line
        lines = wait_for(lambda: (lambda ls: ls if ls and '"why":' in ls[0] else None)(
            self.ctl("queue", "list", "--json").splitlines()), 5, "why in queue list")
        self.assertEqual(len(lines), 1, lines)
        rec = json.loads(lines[0])
        self.assertEqual(rec["id"], qid)
        self.assertEqual(rec["sender"], "x@remote.test")
        self.assertEqual((rec["rcpts"], rec["pending"], rec["attempts"]), (1, 1, 1))
        self.assertIs(rec["held"], False)
        self.assertIn("connect failed", rec["why"])
        self.assertGreater(rec["size"], 0)
        self.assertLessEqual(abs(rec["arrival"] - before), 30)
        self.assertGreater(rec["next"], before + 3000)  # retry_min: an hour on

        self.assertIn("held " + qid, self.ctl("queue", "hold", "all"))
        self.assertIs(json.loads(self.ctl("queue", "list", "--json"))["held"], True)
        with SmtpSink(dump_dir=self.dump, port=self.port):
            # held: not even a retry delivers it
            self.ctl("queue", "retry", "all")
            self.assertIsNone(self.at_sink("held", 2.0))
            self.assertEqual(m.queue_files(), [qid])
            t0 = time.time()
            # the retry made it due and revived its hop: released, it goes
            self.assertIn("released " + qid, self.ctl("queue", "release", "all"))
            got = self.at_sink("held", 2.0)
            self.assertIsNotNone(got)
            self.assertLess(got - t0, 2.0)
        self.assertEqual(self.ctl("queue", "list", "--json"), "")

    def waiting_why(self, qid):
        """queue list shows why= for qid, and the store has its key."""
        line = wait_for(lambda: (lambda ls: ls if ls and " why=" in ls[0] else None)(
            self.ctl("queue", "list").splitlines()), 5, "why= in queue list")[0]
        self.assertTrue(line.startswith(qid + " "), line)
        self.assertIn("connect failed", line)
        self.assertIn("why:" + qid, store_keys(self.m))

    def test_delete_drops_the_reason(self):
        qid = self.deferred("doomed")
        self.waiting_why(qid)
        self.assertEqual(self.ctl("queue", "delete", qid).strip(), "deleted " + qid)
        # the reply waited for the store: the key is gone already
        self.assertNotIn("why:" + qid, store_keys(self.m))
        self.assertEqual(self.m.queue_files(), [])
        self.assertEqual(self.ctl("queue", "list"), "")
        # and the queue runner, which forgets the message, does not put it back
        time.sleep(1.5)
        self.assertNotIn("why:" + qid, store_keys(self.m))

    def test_delivery_after_a_restart_drops_the_reason(self):
        """The queue runner that delivers the message is not the one that
        stored its reason (a restart, as a reload would): the key goes."""
        m = self.m
        qid = self.deferred("later")
        self.waiting_why(qid)
        m.stop()
        m.start()
        self.assertIn("why:" + qid, store_keys(m))
        with SmtpSink(dump_dir=self.dump, port=self.port):
            self.ctl("queue", "retry", qid)
            m.wait_log(r"deliver id=%s .*attempt=2 status=sent" % qid)
            wait_for(lambda: "why:" + qid not in store_keys(m), 5,
                     "why:%s gone from the store" % qid)
        self.assertEqual(m.queue_files(), [])

    def test_list_json_refuses_other_words(self):
        r = moatctl(self.m, "queue", "list", "--xml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--json", r.stderr)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: what moatd acknowledges is never lost (issue 2).

kill -9 of the whole daemon while a client sends; after a restart every
message that got 250 is in a Maildir exactly once, or still queued and then
delivered. Also: the configuration check, and privilege separation.
"""

import glob
import hashlib
import os
import re
import subprocess
import threading
import time
import unittest

from harness import BIN, Moatd, make_tmpdir, message, moatctl


def sender_loop(m, acked, stop, errors):
    """Send messages one by one; record the queue id of every 250."""
    n = 0
    while not stop.is_set():
        try:
            s = m.smtp(timeout=5)
        except OSError as e:  # the daemon is gone
            errors.append(repr(e))
            return
        try:
            s.ehlo()
            while not stop.is_set():
                n += 1
                s.mail("load@remote.test")
                s.rcpt("alice@example.test")
                code, resp = s.data(message(subject="crash-%d" % n))
                if code == 250:
                    acked.append(re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode())
        except Exception as e:  # a cut session: the crash, or the per-session limit
            errors.append(repr(e))


class Crash(unittest.TestCase):
    def test_kill9_while_receiving_loses_nothing_acknowledged(self):
        m = Moatd()
        m.start()
        acked, errors, stop = [], [], threading.Event()
        t = threading.Thread(target=sender_loop, args=(m, acked, stop, errors))
        t.start()
        deadline = time.time() + 20
        while len(acked) < 150 and time.time() < deadline:
            time.sleep(0.01)
        m.kill9()
        stop.set()
        t.join(10)
        self.assertGreaterEqual(len(acked), 50, errors)
        # Restart: the queue runner finds what was left and delivers it.
        m.start()
        try:
            files = m.wait_maildir("alice", len(acked), timeout=60)
            deadline = time.time() + 30
            while m.queue_files() and time.time() < deadline:
                time.sleep(0.1)
            files = m.maildir("alice")
            by_qid = {}
            for f in files:
                qid = os.path.basename(f).split(".")[1].split("_")[0]
                by_qid[qid] = by_qid.get(qid, 0) + 1
            for qid in acked:
                self.assertEqual(by_qid.get(qid, 0), 1, "message %s: %d copies" % (
                    qid, by_qid.get(qid, 0)))
            self.assertEqual([q for q in by_qid if by_qid[q] > 1], [])
            print("acknowledged %d messages before kill -9; all delivered once" % len(acked))
        finally:
            m.stop()
        m.cleanup()

    def test_restart_delivers_what_was_queued(self):
        m = Moatd(limits={"retry_min": 3600})
        m.start()
        # bob's mailbox cannot be created: delivery is deferred, not lost
        os.makedirs(os.path.join(m.dir, "mail", "example.test"), exist_ok=True)
        os.chown(os.path.join(m.dir, "mail", "example.test"), *self._moat_ids())
        blocker = os.path.join(m.dir, "mail", "example.test", "bob")
        with open(blocker, "w") as f:
            f.write("not a directory")
        s = m.smtp()
        s.ehlo()
        s.mail("x@remote.test")
        s.rcpt("bob@example.test")
        s.rcpt("alice@example.test")
        code, resp = s.data(message(subject="leftover"))
        self.assertEqual(code, 250)
        qid = re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()
        s.quit()
        m.wait_log(r"deliver id=%s to=<bob@example\.test> .*status=deferred" % qid)
        m.wait_maildir("alice", 1)
        self.assertEqual(m.queue_files(), [qid])
        m.stop()
        os.unlink(blocker)
        m.start()
        # the retry is an hour away, but a restart scans the queue; the
        # message is not due, so it stays queued until forced by time:
        time.sleep(1.5)
        self.assertEqual(m.queue_files(), [qid])
        self.assertEqual(m.maildir("bob"), [])
        m.stop()
        # with a short retry the restarted daemon delivers it, once, and
        # alice (already delivered) gets no second copy
        m.limits["retry_min"] = 1
        m.write_conf()
        with open(os.path.join(m.dir, "spool", "queue", qid), "r+b") as f:
            data = f.read()
            i = data.index(b"\nnext ") + 6
            f.seek(i)
            f.write(b"000000000000")
        m.start()
        m.wait_maildir("bob", 1)
        deadline = time.time() + 10
        while m.queue_files() and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(m.queue_files(), [])
        self.assertEqual(len(m.maildir("alice")), 1)
        m.stop()
        m.cleanup()

    def test_damaged_queue_file_is_quarantined(self):
        m = Moatd()
        m.start()
        m.stop()
        qdir = os.path.join(m.dir, "spool", "queue")
        bad = os.path.join(qdir, "0000000000000ABCDE")
        with open(bad, "w") as f:
            f.write("MOAT-QUEUE 1\nid 0000000000000ABCDE\nsize 0000000000000100\n")
        os.chmod(bad, 0o600)
        os.chown(bad, *self._moat_ids())
        m.start()
        m.wait_log(r"0000000000000ABCDE: damaged queue file moved to corrupt/")
        self.assertTrue(os.path.exists(os.path.join(m.dir, "spool", "corrupt",
                                                    "0000000000000ABCDE")))
        m.stop()
        m.cleanup()

    @staticmethod
    def _moat_ids():
        import pwd
        pw = pwd.getpwnam("moat")
        return pw.pw_uid, pw.pw_gid


def block_mailbox(m, user):
    """Make user's Maildir impossible to create: its delivery defers."""
    base = os.path.join(m.dir, "mail", "example.test")
    os.makedirs(base, exist_ok=True)
    os.chown(base, *Crash._moat_ids())
    blocker = os.path.join(base, user)
    with open(blocker, "w") as f:
        f.write("not a directory")
    return blocker


def send_one(m, rcpt, subject):
    return send_one_body(m, rcpt, subject, "hello\r\n")


def send_one_body(m, rcpt, subject, body):
    s = m.smtp()
    s.ehlo()
    s.mail("x@remote.test")
    s.rcpt(rcpt)
    code, resp = s.data(message(subject=subject, body=body))
    s.quit()
    assert code == 250, (code, resp)
    return queued_as(resp)


def queued_as(resp):
    """The queue id in a 250 reply to DATA."""
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


class Journal(unittest.TestCase):
    """spool_sync = journal (the default): one flush per batch; segments
    retire after journal_retire seconds; after a crash the segments nobody
    holds are recovered (src/queue/journal.h)."""

    def journal(self, m):
        """The segments (retired ones kept for reuse, free.*, left out)."""
        return [n for n in self.journal_all(m) if not n.startswith("free.")]

    def journal_all(self, m):
        d = os.path.join(m.dir, "spool", "journal")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def inode(self, m, name):
        return os.stat(os.path.join(m.dir, "spool", "journal", name)).st_ino

    def valid_records(self, path):
        """The queue ids of a segment's records that recovery would take:
        from the 64-octet header on, each with its magic, and a digest of
        the segment's nonce and the image that matches (src/queue/journal.c).
        What follows the last one (zeros, or a former use's records) is
        not a record."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:  # retired meanwhile
            return []
        if not data.startswith(b"MOAT-JOURNAL 2\n"):
            return []
        nonce, off, ids = data[52:60], 64, []
        while off + 64 <= len(data) and data[off:off + 4] == b"MJR1":
            n = int.from_bytes(data[off + 24:off + 32], "little")
            image = data[off + 64:off + 64 + n]
            if n == 0 or len(image) != n or \
                    hashlib.sha256(nonce + image).digest() != data[off + 32:off + 64]:
                break
            ids.append(data[off + 4:off + 22].decode())
            off += 64 + n
        return ids

    def records(self, m):
        """The segments holding messages."""
        d = os.path.join(m.dir, "spool", "journal")
        return [n for n in self.journal(m)
                if self.valid_records(os.path.join(d, n))]

    def test_segments_retire_while_running_and_at_stop(self):
        m = Moatd()
        m.start()
        try:
            for i in range(5):
                send_one(m, "alice@example.test", "j-%d" % i)
            self.assertNotEqual(self.records(m), [], "no journal segment written")
            deadline = time.time() + 10
            while self.records(m) and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.records(m), [], "segment not retired after ~1 s")
            # what may stay is the next segment, made ready and still empty
            self.assertLessEqual(len(self.journal(m)), 1)
            m.wait_maildir("alice", 5)
            send_one(m, "alice@example.test", "last")
        finally:
            m.stop()
        self.assertEqual(self.journal(m), [], "a clean stop leaves no segment")
        # retired segments are kept for reuse (at most two)
        free = [n for n in self.journal_all(m) if n.startswith("free.")]
        self.assertTrue(1 <= len(free) <= 2, self.journal_all(m))
        m.cleanup()

    def test_a_segment_of_many_queued_messages_retires(self):
        """40 messages in one segment (journal_retire = 5 s), all still
        queued when it retires (bob's mailbox cannot be made): a segment
        of 32 messages or more is made durable by one syncfs() instead of
        an fdatasync() per file (src/queue/journal.c). It retires, and
        every message is still there and delivered once bob's mailbox
        can be made."""
        m = Moatd(limits={"journal_retire": 5, "retry_min": 1})
        m.start()
        try:
            blocker = block_mailbox(m, "bob")
            s = m.smtp()
            s.ehlo()
            qids = []
            for i in range(40):
                s.mail("x@remote.test")
                s.rcpt("bob@example.test")
                code, resp = s.data(message(subject="many-%d" % i))
                self.assertEqual(code, 250, resp)
                qids.append(queued_as(resp))
            s.quit()
            self.assertEqual(len(set(qids)), 40)
            deadline = time.time() + 15
            while self.records(m) and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.records(m), [], "segment not retired")
            self.assertEqual(sorted(m.queue_files()), sorted(qids),
                             "retired with every message still queued")
            self.assertNotIn("cannot retire", m.log())
            os.unlink(blocker)
            m.wait_maildir("bob", 40, timeout=60)
        finally:
            m.stop()
        m.cleanup()

    def crash_with_segments(self, m=None, before=None):
        """Five messages for bob, kept queued (his mailbox cannot be made),
        acknowledged, then kill -9 with their journal segment not retired."""
        if m is None:
            m = Moatd(limits={"journal_retire": 3600, "retry_min": 3600})
        m.start()
        try:
            if before:
                before(m)
            blocker = block_mailbox(m, "bob")
            qids = [send_one(m, "bob@example.test", "pl-%d" % i) for i in range(5)]
            for q in qids:
                m.wait_log(r"deliver id=%s to=<bob@example\.test> .*status=deferred" % q)
        except BaseException:
            m.stop(check=False)
            raise
        m.kill9()
        segs = self.records(m)
        self.assertNotEqual(segs, [])
        os.unlink(blocker)
        return m, qids, segs

    def power_loss(self, m, segs):
        """Mark the segments as written under another boot (what a power
        loss makes of them)."""
        jdir = os.path.join(m.dir, "spool", "journal")
        for seg in segs:
            with open(os.path.join(jdir, seg), "r+b") as f:
                head = f.read(64)
                self.assertTrue(head.startswith(b"MOAT-JOURNAL 2\n"), head)
                f.seek(15)
                f.write(b"00000000-0000-4000-8000-000000000000")

    def restored_after_power_loss(self, m, segs, qids):
        """A power loss that took bob's queue files: after the restart all
        of them come back from the journal and are delivered. Leaves m
        running."""
        self.power_loss(m, segs)
        for q in qids:
            os.unlink(os.path.join(m.dir, "spool", "queue", q))
        m.start()
        try:
            m.wait_log(r"spool: journal .*: written before the last boot; %d messages, "
                       r"%d restored to the queue" % (len(qids), len(qids)))
            m.wait_maildir("bob", len(qids), timeout=30)
        except BaseException:
            m.stop(check=False)
            raise

    def test_power_loss_restores_acknowledged_messages_from_the_journal(self):
        m, qids, segs = self.crash_with_segments()
        qdir = os.path.join(m.dir, "spool", "queue")
        # What a power loss can do on a filesystem without a journal: the
        # segments were written under another boot; queue files that the
        # kernel had not written back are gone, cut short or zero-filled.
        self.power_loss(m, segs)
        os.unlink(os.path.join(qdir, qids[0]))
        os.unlink(os.path.join(qdir, qids[1]))
        with open(os.path.join(qdir, qids[2]), "r+b") as f:
            f.truncate(os.path.getsize(f.name) // 2)
        with open(os.path.join(qdir, qids[3]), "r+b") as f:
            data = f.read()
            body = data.index(b"\nbody\n") + 6
            f.seek(body)
            f.write(b"\0" * (len(data) - body))
        with open(os.path.join(qdir, qids[4]), "rb") as f:
            intact = f.read()
        self.assertIn(b"\nattempts 000001\n", intact)
        m.start()
        try:
            m.wait_log(r"spool: journal .*: written before the last boot; 5 messages, "
                       r"4 restored to the queue")
            # restored files are new again (next 0): delivered at once
            m.wait_maildir("bob", 4, timeout=30)
            got = {}
            for f in m.maildir("bob"):
                q = os.path.basename(f).split(".")[1].split("_")[0]
                got[q] = got.get(q, 0) + 1
                with open(f, "rb") as fh:
                    self.assertNotIn(b"\0", fh.read())
            self.assertEqual(got, {q: 1 for q in qids[:4]})
            # the intact file was kept as it was (its retry an hour away)
            self.assertEqual(m.queue_files(), [qids[4]])
            with open(os.path.join(qdir, qids[4]), "rb") as f:
                self.assertEqual(f.read(), intact)
            self.assertEqual(self.records(m), [])
        finally:
            m.stop()
        m.cleanup()

    def test_a_large_message_is_synced_in_its_file_not_copied_to_the_journal(self):
        """Over 1 MiB a message's own file is synced before 250 instead
        of being copied into the journal (spool_commit.c, direct()): after
        kill -9 its file is whole in queue/ and it is delivered once, while
        a small message of the same run is in a segment as before."""
        m = Moatd(limits={"journal_retire": 3600, "retry_min": 3600})
        m.start()
        try:
            blocker = block_mailbox(m, "bob")
            line = "x" * 76 + "\r\n"
            big = send_one_body(m, "bob@example.test", "big", line * ((3 << 20) // 78 + 1))
            small = send_one(m, "bob@example.test", "small")
            for q in (big, small):
                m.wait_log(r"deliver id=%s to=<bob@example\.test> .*status=deferred" % q)
        except BaseException:
            m.stop(check=False)
            raise
        m.kill9()
        jdir = os.path.join(m.dir, "spool", "journal")
        recorded = [q for seg in self.journal(m)
                    for q in self.valid_records(os.path.join(jdir, seg))]
        self.assertIn(small, recorded)
        self.assertNotIn(big, recorded)
        size = os.path.getsize(os.path.join(m.dir, "spool", "queue", big))
        self.assertGreater(size, 3 << 20)
        os.unlink(blocker)
        m.start()
        try:
            # both wait for their retry, an hour away: now
            r = moatctl(m, "queue", "retry", "all")
            self.assertEqual(r.returncode, 0, r.stderr)
            m.wait_maildir("bob", 2, timeout=30)
            got = sorted(os.path.getsize(f) for f in m.maildir("bob"))
            self.assertLess(got[0], 4096)
            self.assertGreater(got[1], 3000000)  # LF line ends in the Maildir
            self.assertEqual(m.queue_files(), [])
        finally:
            m.stop()
        m.cleanup()

    def test_a_reused_segment_never_replays_its_last_use(self):
        """A retired segment is kept and reused, its blocks overwritten.
        Behind the records of its current use lie those of its last use,
        of the same size here, so they line up: after a power loss only
        the current ones count (each segment's records are hashed with a
        nonce of its own)."""
        m = Moatd(domains={"example.test": ["alice", "bob", "eve"]},
                  limits={"journal_retire": 3600, "retry_min": 3600})
        m.start()
        try:
            old = [send_one(m, "eve@example.test", "pl-%d" % i) for i in range(9)]
            m.wait_maildir("eve", 9)
        finally:
            m.stop()
        jdir = os.path.join(m.dir, "spool", "journal")
        free = [n for n in self.journal_all(m) if n.startswith("free.")]
        used = [n for n in free if self.valid_records(os.path.join(jdir, n))]
        self.assertEqual(len(used), 1, self.journal_all(m))
        # The spare, written full of zeros and never used, is kept too:
        # out of the way, so that the segment with records is reused.
        for n in free:
            if n not in used:
                os.unlink(os.path.join(jdir, n))
        reused = self.inode(m, used[0])
        m, qids, segs = self.crash_with_segments(m)
        self.assertEqual([self.inode(m, n) for n in segs], [reused],
                         "the retired segment was not reused")
        # The old records line up behind the new ones: recovery would read
        # them, but for their digests.
        with open(os.path.join(m.dir, "spool", "journal", segs[0]), "rb") as f:
            data = f.read()
        off = 64
        for q in qids:
            self.assertEqual(data[off:off + 4 + len(q)], b"MJR1" + q.encode())
            off += 64 + int.from_bytes(data[off + 24:off + 32], "little")
        self.assertEqual(data[off:off + 4 + len(old[5])], b"MJR1" + old[5].encode())
        self.restored_after_power_loss(m, segs, qids)
        try:
            time.sleep(1.5)  # anything else restored would be delivered by now
            self.assertEqual(len(m.maildir("bob")), 5)
            self.assertEqual(len(m.maildir("eve")), 9, "an old record was replayed")
            self.assertEqual(m.queue_files(), [])
        finally:
            m.stop()
        m.cleanup()

    def test_a_new_segment_is_written_full_of_zeros_before_use(self):
        """On a new spool no retired segment can be reused: the next one is
        first written full of zeros (32 MiB), so that records overwrite
        blocks the file has. Recovery stops at the zeros."""
        seg_max = 32 * 1024 * 1024
        jdir = lambda m: os.path.join(m.dir, "spool", "journal")  # noqa: E731

        def prefilled(m):
            deadline = time.time() + 20
            while time.time() < deadline:
                if any(os.path.getsize(os.path.join(jdir(m), n)) >= seg_max
                       for n in self.journal(m)):
                    # written; give its sync time to end and the retire
                    # thread time to hand it over as the next segment
                    time.sleep(1)
                    return
                time.sleep(0.05)
            self.fail("no prefilled segment: %s" % self.journal_all(m))

        m, qids, segs = self.crash_with_segments(before=prefilled)
        self.assertEqual(len(segs), 1, segs)
        path = os.path.join(jdir(m), segs[0])
        self.assertEqual(os.path.getsize(path), seg_max)
        self.assertEqual(self.valid_records(path), qids)
        with open(path, "rb") as f:
            data = f.read()
        end = 64
        while data[end:end + 4] == b"MJR1":
            end += 64 + int.from_bytes(data[end + 24:end + 32], "little")
        self.assertEqual(data[end:], bytes(seg_max - end), "not zeros behind the records")
        self.restored_after_power_loss(m, segs, qids)
        try:
            deadline = time.time() + 10  # each removed after its delivery
            while m.queue_files() and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(m.queue_files(), [])
            self.assertNotRegex(m.log(), r"could not be recovered|cannot retire")
        finally:
            m.stop()
        m.cleanup()

    def test_crash_without_reboot_does_not_resurrect_delivered_mail(self):
        m, qids, segs = self.crash_with_segments()
        # Same boot: the page cache still has every queue file and every
        # removal, so a missing file was delivered; recovery only retires.
        os.unlink(os.path.join(m.dir, "spool", "queue", qids[0]))
        m.start()
        try:
            deadline = time.time() + 10
            while self.records(m) and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.records(m), [])
            self.assertEqual(sorted(m.queue_files()), sorted(qids[1:]))
            self.assertNotRegex(m.log(), r"restored")
        finally:
            m.stop()
        m.cleanup()


class SyncModes(unittest.TestCase):
    """spool_sync = file and filesystem: the same intake (a small message
    written in one piece, a big one in pieces with its size filled in
    afterwards), synced their own way, the journal left alone."""

    def check(self, mode):
        m = Moatd(extra="spool_sync = %s" % mode)
        m.start()
        try:
            big = "".join("line %06d %s\r\n" % (i, "y" * 70) for i in range(2000))
            send_one_body(m, "alice@example.test", "small-" + mode, "short\r\n")
            send_one_body(m, "alice@example.test", "big-" + mode, big)
            files = m.wait_maildir("alice", 2)
            texts = [open(f, "rb").read() for f in files]
            small = [t for t in texts if b"Subject: small-" + mode.encode() in t]
            large = [t for t in texts if b"Subject: big-" + mode.encode() in t]
            self.assertEqual((len(small), len(large)), (1, 1))
            self.assertTrue(small[0].rstrip().endswith(b"short"), small[0][-200:])
            self.assertTrue(large[0].rstrip().endswith(b"line 001999 " + b"y" * 70),
                            large[0][-200:])
            self.assertGreater(len(large[0]), 150000)
            jdir = os.path.join(m.dir, "spool", "journal")
            self.assertEqual(os.listdir(jdir) if os.path.isdir(jdir) else [], [])
        finally:
            m.stop()
        m.cleanup()

    def test_file(self):
        self.check("file")

    def test_filesystem(self):
        self.check("filesystem")


class Recycling(unittest.TestCase):
    """Finished queue files go to spool/free/ and the next messages reuse
    them (src/queue/freelist.h): no inode is created or freed per message."""

    def free(self, m):
        d = os.path.join(m.dir, "spool", "free")
        return {n: os.stat(os.path.join(d, n)).st_ino for n in os.listdir(d)}

    def wait_empty_queue(self, m, left=()):
        deadline = time.time() + 20
        while m.queue_files() != list(left) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(m.queue_files(), list(left))

    def test_finished_files_are_reused_and_cut_to_length(self):
        m = Moatd(limits={"retry_min": 3600})
        m.start()
        try:
            big = "".join("line %06d %s\r\n" % (i, "x" * 60) for i in range(1000))
            send = lambda rcpt, subj, body="hello\r\n": send_one_body(m, rcpt, subj, body)
            send("alice@example.test", "big", big)
            m.wait_maildir("alice", 1)
            self.wait_empty_queue(m)
            first = self.free(m)
            self.assertEqual(len(first), 1, first)
            big_ino = list(first.values())[0]
            # a short message for bob (kept queued: his mailbox cannot be
            # made) lands in the big message's file, cut to its own length
            block_mailbox(m, "bob")
            # a worker that found free/ empty looks again only 100 ms later
            time.sleep(0.2)
            q = send("bob@example.test", "small")
            m.wait_log(r"deliver id=%s to=<bob@example\.test> .*status=deferred" % q)
            self.assertEqual(self.free(m), {})
            path = os.path.join(m.dir, "spool", "queue", q)
            self.assertEqual(os.stat(path).st_ino, big_ino)
            with open(path, "rb") as f:
                data = f.read()
            self.assertIn(b"\nid %s\n" % q.encode(), data)
            self.assertTrue(data.endswith(b"\r\nhello\r\n"), data[-200:])
            self.assertLess(len(data), 10000)
            # five at once: five files in free/, then five new messages take
            # them over (the same inodes) and arrive intact
            for i in range(5):
                send("alice@example.test", "a-%d" % i)
            m.wait_maildir("alice", 6)
            self.wait_empty_queue(m, [q])
            round1 = self.free(m)
            self.assertEqual(len(round1), 5)
            time.sleep(0.2)
            for i in range(5):
                send("alice@example.test", "b-%d" % i)
            m.wait_maildir("alice", 11)
            self.wait_empty_queue(m, [q])
            round2 = self.free(m)
            self.assertEqual(set(round1) & set(round2), set())
            self.assertEqual(sorted(round2.values()), sorted(round1.values()))
            subjects = []
            for f in m.maildir("alice"):
                with open(f, "rb") as fh:
                    text = fh.read()
                subjects += re.findall(rb"Subject: (\S+)", text)
                self.assertNotIn(b"\0", text)
            self.assertEqual(sorted(subjects),
                             sorted([b"big"] + [b"a-%d" % i for i in range(5)] +
                                    [b"b-%d" % i for i in range(5)]))
        finally:
            m.stop()
        m.cleanup()


class Config(unittest.TestCase):
    def run_check(self, conf_text):
        d = make_tmpdir("moat-conf-")
        path = os.path.join(d, "moat.conf")
        with open(path, "w") as f:
            f.write(conf_text)
        out = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", path],
                             capture_output=True, text=True, cwd=d)
        return out, path

    def good(self):
        return Moatd().conf_text()

    def test_good_config(self):
        out, _ = self.run_check(self.good())
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "configuration OK")

    def test_embedded_default_config(self):
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        out = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", "etc/moat.conf"],
                             capture_output=True, text=True, cwd=root)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "configuration OK")

    def test_errors_name_file_and_line(self):
        cases = [
            ("limits {\n\trecipients_max = 5\n}\n", r"recipients_max = 5 is out of range"),
            ("limits {\n\tcommand_line_max = 100\n}\n", r"command_line_max = 100 is out of range"),
            ("bogus_option = 1\n", r"no such option 'bogus_option'"),
            ('listen "x" {\n\taddress = "not an address"\n}\n', r"not ADDRESS:PORT"),
            ('trusted_networks = {"10.0.0.0/33"}\n', r"not an address or CIDR"),
            ('domain "bad..name" {\n\tusers = {"a"}\n}\n', r"not a valid domain"),
            ('domain "ok.test" {\n\tusers = {"../etc"}\n}\n', r"not a valid local part"),
            ('bare_newline = "sometimes"\n', r"must be \"reject\" or \"normalize\""),
            ('user = "no-such-user-here"\n', r"no such user"),
            ('domain "ok2.test" {\n\tdelivery = "pigeon"\n}\n', r"delivery \"pigeon\""),
        ]
        for snippet, want in cases:
            text = self.good() + snippet
            line = text.count("\n", 0, text.index(snippet)) + 1
            out, path = self.run_check(text)
            self.assertNotEqual(out.returncode, 0, snippet)
            self.assertEqual(out.stdout, "", snippet)
            self.assertRegex(out.stderr, re.escape(path) + r":\d+: .*" + want, snippet)
            got = int(re.search(re.escape(path) + r":(\d+):", out.stderr).group(1))
            self.assertIn(got, range(line, line + snippet.count("\n") + 1), (snippet, out.stderr))

    def test_missing_file(self):
        out = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", "/nonexistent.conf"],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("/nonexistent.conf", out.stderr)


class Privileges(unittest.TestCase):
    def test_workers_run_unprivileged(self):
        with Moatd() as m:
            master = m.proc.pid
            kids = [int(p) for p in subprocess.run(
                ["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()]
            self.assertGreaterEqual(len(kids), 2)
            import pwd
            moat_uid = pwd.getpwnam("moat").pw_uid
            for pid in kids:
                with open("/proc/%d/status" % pid) as f:
                    uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
                self.assertEqual({int(u) for u in uids}, {moat_uid}, pid)
            # and it all still works as that user
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            s.rcpt("alice@example.test")
            self.assertEqual(s.data(message())[0], 250)
            s.quit()
            f = m.wait_maildir("alice", 1)[0]
            self.assertEqual(os.stat(f).st_uid, moat_uid)


if __name__ == "__main__":
    unittest.main()

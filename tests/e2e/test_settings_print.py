"""End-to-end: moatd -N prints the settings that differ from the defaults
(issue 26, item 9), as postconf -n does, for bug reports.

A configuration with top-level settings, a limits section, titled listen
and domain sections and a setting written at its default value: -N prints
exactly the changed ones, by name (top level), section.name or
section[title].name, and nothing that is at its default; a broken file
gets file:line and a non-zero exit, as -n does.
"""

import os
import subprocess
import unittest

from harness import BIN, Moatd


def moatd_N(conf):
    return subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", conf],
                          capture_output=True, text=True, timeout=30)


class PrintSettings(unittest.TestCase):
    def test_changed_settings_and_no_defaults(self):
        m = Moatd(domains={"example.test": ["alice", "bob"], "other.test": []},
                  limits={"retry_min": 5},
                  extra='log_format = "json"\n'
                        'workers = 1\n'  # written, but at its default
                        'screen {\n\tgreylist = true\n}\n')
        self.addCleanup(m.cleanup)
        r = moatd_N(m.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        got = dict(l.split(" = ", 1) for l in lines)
        self.assertEqual(len(got), len(lines), "a name printed twice")
        # what the file changed
        self.assertEqual(got["hostname"], '"mx.example.test"')
        self.assertEqual(got["log_format"], '"json"')
        self.assertEqual(got["spool_dir"], '"%s"' % os.path.join(m.dir, "spool"))
        self.assertEqual(got["limits.retry_min"], "5")
        self.assertEqual(got["limits.conn_rate"], "0")  # the harness's
        self.assertEqual(got["screen.greylist"], "true")
        self.assertEqual(got["listen[mx].address"], '"127.0.0.1:%d"' % m.port)
        self.assertEqual(got["domain[example.test].users"], '{"alice", "bob"}')
        self.assertEqual(got["relayhost"], '"%s"' % m.relayhost)
        # a titled section all at its defaults is still there
        self.assertEqual(got["domain[other.test]"], "{}")
        # defaults are not: at their default value, written or not
        for name in ("workers", "user", "store", "chroot", "limits.retry_max",
                     "limits.sessions_max", "screen.harvest", "listen[mx].role",
                     "screen.dnsbl_action", "bare_newline", "spool_sync",
                     "domain[example.test].delivery"):
            self.assertNotIn(name, got)
        self.assertFalse([l for l in lines if l.startswith("limits.") and
                          l.split(" = ")[0] not in ("limits.retry_min",
                                                    "limits.queue_scan_interval",
                                                    "limits.conn_rate", "limits.msg_rate",
                                                    "limits.rcpt_rate",
                                                    "limits.submit_msg_rate",
                                                    "limits.submit_rcpt_rate")], lines)

    def test_broken_file_is_refused_like_n(self):
        m = Moatd(extra='log_format = "yaml"\n')
        self.addCleanup(m.cleanup)
        r = moatd_N(m.conf)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"moat\.conf:\d+: log_format")
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()

"""End-to-end: paths and installation (issue 26, item 1).

Relative paths in moat.conf are taken from the file's own directory, in
moatd and moatctl alike, wherever they are started: a moatd whose file
sits in DIR/etc and says "../spool" keeps its spool in DIR/spool and
delivers to DIR/mail, and `moatctl -c FILE` finds its control socket from
any working directory. `make install DESTDIR=... PREFIX=...` lays out the
programs, the manual pages, /etc/moat, the directories and the unit, keeps
an administrator's moat.conf, and the installed moat.conf passes moatd -n.
The Debian package is test_package.py.
"""

import os
import re
import smtplib
import stat
import subprocess
import unittest

from harness import BIN, ROOT, Moatd, make_tmpdir, message, moatctl


class RelativeMoatd(Moatd):
    """A Moatd whose configuration is DIR/etc/moat.conf with relative paths
    ("../spool"), started with the working directory DIR: resolved against
    the working directory, every path would point outside DIR."""

    def conf_text(self):
        text = super().conf_text()
        for name in ("spool", "mail", "run", "state"):
            text = text.replace('"%s"' % os.path.join(self.dir, name), '"../%s"' % name)
        return text

    def write_conf(self):
        os.makedirs(os.path.join(self.dir, "etc"), exist_ok=True)
        self.conf = os.path.join(self.dir, "etc", "moat.conf")
        super().write_conf()


class RelativePaths(unittest.TestCase):
    def test_paths_from_the_files_directory(self):
        m = RelativeMoatd()
        with open(m.conf) as f:
            text = f.read()
        self.assertIn('spool_dir = "../spool"', text)
        self.assertIn('mail_dir = "../mail"', text)
        with m:
            with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
                s.sendmail("sender@remote.test", ["alice@example.test"],
                           message(subject="relative"))
            # DIR/mail, DIR/spool, DIR/run: the file's directory's parent
            m.wait_maildir("alice", 1)
            self.assertTrue(os.path.isdir(os.path.join(m.dir, "spool", "queue")))
            self.assertTrue(os.path.exists(os.path.join(m.dir, "run", "moatd.sock")))
            # moatctl from / with the absolute path of the file, and from
            # the file's directory with its bare name
            for conf, cwd in ((m.conf, "/"), ("moat.conf", os.path.dirname(m.conf)),
                              (os.path.relpath(m.conf, "/tmp"), "/tmp")):
                r = moatctl(conf, "stats", cwd=cwd)
                self.assertEqual(r.returncode, 0, "moatctl -c %s stats from %s: %s%s" % (
                    conf, cwd, r.stdout, r.stderr))
                self.assertRegex(r.stdout, r"^sessions=\d+ messages=\d+ ")
            # moatd -n from elsewhere agrees
            r = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", m.conf],
                               capture_output=True, text=True, timeout=30, cwd="/")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "configuration OK"),
                             r.stderr)

    def test_missing_relative_file_named_absolute(self):
        """A relative users_file is looked for next to the file, and the
        error names where it was looked for."""
        m = RelativeMoatd(domain_extra={"example.test": '\tusers_file = "users.txt"\n'})
        m.assert_refused(self, r'users_file "%s": No such file' %
                         re.escape(os.path.join(m.dir, "etc", "users.txt")))

    def test_run_config_from_anywhere(self):
        """etc/moat.conf, the `make run` configuration, keeps its state in
        var/ of the checkout whatever the working directory is."""
        conf = os.path.join(ROOT, "etc", "moat.conf")
        for cwd in ("/", ROOT, os.path.join(ROOT, "etc")):
            r = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", conf],
                               capture_output=True, text=True, timeout=30, cwd=cwd)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "configuration OK"),
                             r.stderr)
        with open(conf) as f:
            text = f.read()
        for key in ("spool_dir", "mail_dir", "run_dir", "state_dir"):
            self.assertRegex(text, r'(?m)^%s\s*=\s*"\.\./var/' % key)


class MakeInstall(unittest.TestCase):
    def install(self, dest, prefix):
        # the binaries of this test run (MOAT_BIN): nothing is rebuilt
        return subprocess.run(["make", "--no-print-directory", "install", "O=" + BIN,
                               "DESTDIR=" + dest, "PREFIX=" + prefix],
                              capture_output=True, text=True, timeout=600, cwd=ROOT)

    def test_layout(self):
        dest = make_tmpdir("moat-install-")
        r = self.install(dest, "/usr/local")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for path, mode in (("usr/local/sbin/moatd", 0o755), ("usr/local/sbin/moatctl", 0o755),
                           ("usr/local/bin/moat-probe", 0o755),
                           ("usr/local/share/man/man8/moatd.8", 0o644),
                           ("usr/local/share/man/man8/moatctl.8", 0o644),
                           ("usr/local/share/man/man5/moat.conf.5", 0o644),
                           ("usr/local/share/man/man1/moat-probe.1", 0o644),
                           ("etc/moat/moat.conf", 0o644), ("etc/moat/signatures.conf", 0o644),
                           ("var/spool/moat", 0o755), ("var/lib/moat", 0o700),
                           ("usr/local/lib/systemd/system/moat.service", 0o644)):
            st = os.stat(os.path.join(dest, path))
            self.assertEqual(stat.S_IMODE(st.st_mode), mode, path)
        with open(os.path.join(dest, "etc/moat/moat.conf")) as f:
            conf = f.read()
        with open(os.path.join(ROOT, "etc", "moat-installed.conf")) as f:
            self.assertEqual(conf, f.read())
        # loopback only until the administrator sets a domain
        addresses = re.findall(r'(?m)^\s*address\s*=\s*"([^"]+)"', conf)
        self.assertEqual(addresses, ["127.0.0.1:25"])
        with open(os.path.join(dest, "usr/local/lib/systemd/system/moat.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/sbin/moatd -d -c /etc/moat/moat.conf", unit)
        self.assertNotIn("/usr/sbin/moatd", unit)
        # moat-sendmail goes in only when the build has it, and as itself
        sendmail = os.path.exists(os.path.join(BIN, "moat-sendmail"))
        self.assertEqual(os.path.exists(os.path.join(dest, "usr/local/sbin/moat-sendmail")),
                         sendmail)
        self.assertFalse(os.path.lexists(os.path.join(dest, "usr/local/sbin/sendmail")))
        if sendmail:
            self.assertEqual(os.readlink(os.path.join(dest, "usr/local/sbin/moat-mailq")),
                             "moat-sendmail")
            self.assertEqual(os.readlink(os.path.join(
                dest, "usr/local/share/man/man8/moat-mailq.8")), "moat-sendmail.8")
            self.assertTrue(os.path.isfile(os.path.join(
                dest, "usr/local/share/man/man8/moat-sendmail.8")))

        # the installed file passes moatd -n (its signatures.conf found next
        # to it, a relative path); the FHS directories are made at start
        r = subprocess.run([os.path.join(dest, "usr/local/sbin/moatd"), "-n", "-c",
                            os.path.join(dest, "etc/moat/moat.conf")],
                           capture_output=True, text=True, timeout=30, cwd="/")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "configuration OK"), r.stderr)

        # a second install leaves the administrator's moat.conf alone
        with open(os.path.join(dest, "etc/moat/moat.conf"), "a") as f:
            f.write("# edited by the administrator\n")
        r = self.install(dest, "/usr/local")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(dest, "etc/moat/moat.conf")) as f:
            self.assertIn("# edited by the administrator", f.read())


if __name__ == "__main__":
    unittest.main()

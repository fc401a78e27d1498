"""test_package - the Debian package, installed and run as an administrator
would (issue 26: install, package, systemd).

One run, in order: dpkg-buildpackage -us -uc -b builds the package (the
release build) from a copy of the tree; dpkg -i installs it; the installed
unit passes `systemd-analyze verify` and scores below 4.0 in `systemd-analyze
security`; its ExecStartPre (moatd -n) accepts /etc/moat/moat.conf; its
ExecStart line starts moatd as systemd would (the unit's capability
bounding set, no_new_privs, umask and descriptor limit, /run/moat as its
RuntimeDirectory, a NOTIFY_SOCKET) and moatd says READY=1 from its main
process; its ExecReload line brings RELOADING=1 and READY=1 again; an
ordinary user's `moat-sendmail -t` is delivered to the installed Maildir;
SIGTERM stops it (STOPPING=1, exit 0); dpkg --purge takes away what the
installation made.

moatd runs in a network namespace of its own, with loopback only: the
installed configuration listens on 127.0.0.1:25, which must not meet a
port 25 of this machine or of a test running beside this one. The
namespace is all the test changes; the configuration is the installed one.

Needs: root, dpkg-dev and debhelper (scripts/deps.sh), util-linux
(unshare, setpriv, prlimit, nsenter).
"""

import array
import glob
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import time
import unittest
import uuid

from harness import ROOT, make_tmpdir

UNIT = "/lib/systemd/system/moat.service"
CONF = "/etc/moat/moat.conf"
MAIL_DIR = "/var/mail/moat"
# what the installation makes, and a purge removes (the mail directory is
# kept when mail was delivered into it: README.Debian)
MADE = ["/usr/sbin/moatd", "/usr/sbin/moatctl", "/usr/bin/moat-probe",
        "/usr/share/man/man8/moatd.8.gz", "/usr/share/man/man5/moat.conf.5.gz",
        "/etc/moat/moat.conf", "/etc/moat/signatures.conf", "/etc/moat",
        UNIT, "/var/spool/moat", "/var/lib/moat"]
USER_MARK = "moat SMTP server (made by the moat package)"
# a tree copied for the build: what a checkout has beyond the sources
SKIP = shutil.ignore_patterns(".git", "build", "var", "__pycache__", "*.pyc")


def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def unit_settings(path):
    """The [Service] settings of a unit file: name → list of values."""
    settings, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                settings.setdefault(k, []).append(v)
    return settings


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", pkg])
    return r.returncode == 0 and r.stdout.strip() not in ("", "not-installed")


def dpkg(*args):
    """dpkg, waiting while another dpkg or apt holds its lock."""
    deadline = time.time() + 180
    while True:
        r = run(["dpkg"] + list(args))
        if r.returncode == 0 or "lock" not in r.stderr or time.time() > deadline:
            return r
        time.sleep(2)


class NotifySocket:
    """The NOTIFY_SOCKET systemd would give: an AF_UNIX datagram socket that
    also learns the sending pid (SCM_CREDENTIALS), as NotifyAccess= needs."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (pid, {key: value})

    def wait(self, key, value, timeout, after=0, proc=None):
        """The pid that sent key=value, waiting up to timeout seconds for it
        (among messages number `after` and later), or while proc runs."""
        deadline = time.time() + timeout
        while True:
            for pid, fields in self.messages[after:]:
                if fields.get(key) == value:
                    return pid
            left = deadline - time.time()
            if left <= 0 or (proc is not None and proc.poll() is not None):
                return None
            self.sock.settimeout(min(left, 0.5))
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            fields = dict(l.split("=", 1) for l in data.decode().splitlines() if "=" in l)
            self.messages.append((pid, fields))

    def close(self):
        self.sock.close()


@unittest.skipUnless(os.geteuid() == 0, "installs a package: root only")
class DebianPackage(unittest.TestCase):
    def setUp(self):
        self.assertFalse(
            installed("moat"),
            "moat is installed on this machine already; this test installs and "
            "purges it: `dpkg --purge moat` first")
        self.tmp = make_tmpdir("moat-pkg-")
        self.proc = None
        self.user = None
        self.had_moat_user = self.user_exists("moat")
        self.assertFalse(os.path.lexists(MAIL_DIR),
                         MAIL_DIR + " is left from an earlier installation")

    def tearDown(self):
        if self.proc is not None:
            # the master and its children: their own session and group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()
        if installed("moat"):
            dpkg("--purge", "moat")
        if self.user is not None:
            run(["userdel", self.user])
        shutil.rmtree(os.path.join(MAIL_DIR, "localhost"), ignore_errors=True)
        if os.path.isdir(MAIL_DIR) and not os.listdir(MAIL_DIR):
            os.rmdir(MAIL_DIR)
        if os.path.isdir("/run/moat"):
            shutil.rmtree("/run/moat", ignore_errors=True)

    @staticmethod
    def user_exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    def build(self):
        src = os.path.join(self.tmp, "moat")
        shutil.copytree(ROOT, src, ignore=SKIP, symlinks=True)
        r = run(["nice", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=1200)
        self.assertEqual(r.returncode, 0, "dpkg-buildpackage:\n" + r.stdout[-3000:] +
                         r.stderr[-3000:])
        debs = [d for d in glob.glob(os.path.join(self.tmp, "moat_*.deb"))]
        self.assertEqual(len(debs), 1, os.listdir(self.tmp))
        return debs[0]

    def check_unit(self):
        r = run(["systemd-analyze", "verify", UNIT])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run(["systemd-analyze", "security", "--offline=yes", UNIT])
        m = re.search(r"Overall exposure level for moat.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout[-2000:] + r.stderr)
        self.assertLess(float(m.group(1)), 4.0, r.stdout[-3000:])

    def start(self, unit, notify):
        """moatd from the unit's ExecStart, as systemd would start it."""
        caps = unit["CapabilityBoundingSet"][-1].split()
        bounding = "-all," + ",".join("+" + c.lower().replace("cap_", "") for c in caps)
        setpriv = ["setpriv", "--bounding-set", bounding]
        if unit.get("NoNewPrivileges", ["no"])[-1] == "yes":
            setpriv.append("--no-new-privs")
        argv = unit["ExecStart"][-1].split()
        umask = unit.get("UMask", ["0022"])[-1]
        nofile = unit.get("LimitNOFILE", [None])[-1]
        limit = []
        if nofile:
            # systemd sets it from PID 1; here a container may keep the
            # hard limit lower than the unit's (no CAP_SYS_RESOURCE)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            n = int(nofile) if hard == resource.RLIM_INFINITY else min(int(nofile), hard)
            limit = ["prlimit", "--nofile=%d" % n, "--"]
        # RuntimeDirectory=moat, RuntimeDirectoryMode=0755
        os.makedirs("/run/moat", exist_ok=True)
        os.chmod("/run/moat", int(unit.get("RuntimeDirectoryMode", ["0755"])[-1], 8))
        self.log = open(os.path.join(self.tmp, "moatd.log"), "w")
        env = dict(os.environ, NOTIFY_SOCKET=notify.path)
        # sh execs what follows: the pid of this Popen is moatd's, the
        # main pid of the service
        script = 'ip link set lo up && umask %s && exec "$@"' % umask
        self.proc = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", script, "sh"] + limit + setpriv + argv,
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd="/",
            start_new_session=True)

    def wait_log(self, pattern, timeout=30):
        deadline = time.time() + timeout
        while not re.search(pattern, self.moatd_log(-1)):
            if time.time() > deadline or self.proc.poll() is not None:
                self.fail("no %r in moatd's log:\n%s" % (pattern, self.moatd_log()))
            time.sleep(0.1)

    def moatd_log(self, tail=4000):
        with open(os.path.join(self.tmp, "moatd.log"), errors="replace") as f:
            text = f.read()
        return text if tail < 0 else text[-tail:]

    def send_as_user(self, token):
        """An ordinary user's mail through moat-sendmail -t, run inside
        moatd's network namespace; the recipient is the installed domain's."""
        self.assertTrue(os.access("/usr/sbin/moat-sendmail", os.X_OK),
                        "/usr/sbin/moat-sendmail is not installed (the sendmail(8) "
                        "interface is not in this build)")
        self.user = "moatci%s" % token[:8]
        r = run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", self.user])
        self.assertEqual(r.returncode, 0, r.stderr)
        msg = ("From: %s@localhost\nTo: postmaster@localhost\n"
               "Subject: package %s\n\nsent by an ordinary user\n" % (self.user, token))
        r = run(["nsenter", "--net=/proc/%d/ns/net" % self.proc.pid,
                 "setpriv", "--reuid", self.user, "--regid", self.user, "--init-groups",
                 "--", "/usr/sbin/moat-sendmail", "-t"], input=msg, cwd="/", timeout=60)
        self.assertEqual(r.returncode, 0, "moat-sendmail -t: %s%s" % (r.stdout, r.stderr))
        new = os.path.join(MAIL_DIR, "localhost", "postmaster", "new")
        deadline = time.time() + 20
        while time.time() < deadline:
            for name in os.listdir(new) if os.path.isdir(new) else []:
                with open(os.path.join(new, name), errors="replace") as f:
                    if token in f.read():
                        return
            time.sleep(0.2)
        self.fail("no message %s in %s; moatd's log:\n%s" % (token, new, self.moatd_log()))

    def test_install_run_purge(self):
        deb = self.build()
        r = dpkg("-i", deb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for path in MADE:
            self.assertTrue(os.path.exists(path), path)
        # the release build: no sanitizer runtime in the installed daemon
        libs = run(["ldd", "/usr/sbin/moatd"]).stdout
        self.assertIn("libevent", libs)
        self.assertNotRegex(libs, r"lib(a|ub)san")
        # owners and modes (src/moatd/privsep.c): the spool root's, the rest moat's
        st = os.stat("/var/spool/moat")
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o755))
        moat = pwd.getpwnam("moat")
        for d in ("/var/spool/moat/queue", "/var/lib/moat", MAIL_DIR):
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (moat.pw_uid, 0o700), d)
        if not self.had_moat_user:
            self.assertEqual(moat.pw_gecos, USER_MARK)

        with self.subTest("the unit passes systemd-analyze"):
            self.check_unit()

        unit = unit_settings(UNIT)
        self.assertEqual(unit["Type"], ["notify"])
        # ExecStartPre: moatd -n on the installed configuration
        pre = run(unit["ExecStartPre"][-1].split(), cwd="/")
        self.assertEqual((pre.returncode, pre.stdout.strip()), (0, "configuration OK"),
                         pre.stderr)

        notify = NotifySocket(os.path.join(self.tmp, "notify"))
        try:
            self.start(unit, notify)
            with self.subTest("READY=1 from the main process"):
                pid = notify.wait("READY", "1", 30, proc=self.proc)
                self.assertIsNotNone(pid, "no READY=1 from moatd; its log:\n" +
                                     self.moatd_log())
                self.assertEqual(pid, self.proc.pid, "READY=1 not from the main process")
            # what the rest needs, READY or not: the worker and the queue runner
            self.wait_log(r"smtp worker 0 ready")
            self.wait_log(r"queue runner ready")
            self.assertIsNone(self.proc.poll(), self.moatd_log())

            with self.subTest("ExecReload: RELOADING=1, then READY=1"):
                seen = len(notify.messages)
                reload = [a.replace("$MAINPID", str(self.proc.pid))
                          for a in unit["ExecReload"][-1].split()]
                self.assertEqual(run(reload).returncode, 0)
                self.assertIsNotNone(notify.wait("RELOADING", "1", 15, after=seen),
                                     self.moatd_log())
                self.assertIsNotNone(notify.wait("READY", "1", 15, after=seen),
                                     self.moatd_log())

            with self.subTest("moat-sendmail -t as an ordinary user is delivered"):
                self.send_as_user(uuid.uuid4().hex)

            # systemctl stop: SIGTERM to the main process (KillMode=mixed)
            seen = len(notify.messages)
            self.proc.send_signal(signal.SIGTERM)
            self.assertEqual(self.proc.wait(timeout=60), 0, self.moatd_log())
            with self.subTest("STOPPING=1"):
                self.assertIsNotNone(notify.wait("STOPPING", "1", 1, after=seen))
        finally:
            notify.close()
        shutil.rmtree("/run/moat", ignore_errors=True)  # RuntimeDirectory at stop

        delivered = os.path.isdir(os.path.join(MAIL_DIR, "localhost", "postmaster", "new")) \
            and len(os.listdir(os.path.join(MAIL_DIR, "localhost", "postmaster", "new"))) > 0
        r = dpkg("--purge", "moat")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(installed("moat"))
        for path in MADE:
            self.assertFalse(os.path.lexists(path), "left after purge: " + path)
        # delivered mail is the users': kept; an empty mail directory goes
        self.assertEqual(os.path.isdir(MAIL_DIR), delivered)
        # a moat user that was there before stays; the one postinst made goes
        self.assertEqual(self.user_exists("moat"), self.had_moat_user)


if __name__ == "__main__":
    unittest.main()

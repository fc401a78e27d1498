"""End-to-end: the privilege boundary (issue 20).

The moat user must not be able to make root act on a file of its choosing:
each finding of the issue is played here as that user (setpriv), against a
root-owned target file, and followed by a reload or a restart. The target
keeps its owner and mode, and moatd either refuses with a clear log line or
goes on safely. Then the rooms: the bait web server is a process of its
own, and with chroot = true the SMTP workers and the bait server live in
directories that hold only what they need, with nothing outside them open.
Traffic goes to 127.0.0.0/8 only.
"""

import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import time
import unittest
import urllib.request

from harness import BIN, Moatd, free_port, make_tmpdir, message, moatctl
from peers import DovecotAuth, Rbldnsd
from test_control import wait_for
from test_tls_auth import TlsMoatd, client_ctx

MOAT = pwd.getpwnam("moat")


def as_moat(script, **kw):
    """Run a shell script as the moat user (what a compromised worker could do)."""
    return subprocess.run(["setpriv", "--reuid=moat", "--regid=moat", "--clear-groups",
                           "sh", "-c", script], capture_output=True, text=True, **kw)


def precious(d, name="precious", size=40):
    """A root-only file: what an attacker would point a link at (/etc/shadow)."""
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(b"p" * size)
    os.chmod(path, 0o600)
    return path


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def moat_owned_dir(path, mode=0o700):
    """A directory as an older moatd left it: the moat user's."""
    os.makedirs(path, exist_ok=True)
    os.chown(path, MOAT.pw_uid, MOAT.pw_gid)
    os.chmod(path, mode)


def start_expecting_failure(m, timeout=20):
    """Start moatd when it must refuse: its exit status (None if it kept running,
    in which case it is stopped) and the log."""
    m.logfh = open(m.logfile, "ab")
    proc = subprocess.Popen([os.path.join(BIN, "moatd"), "-d", "-c", m.conf],
                            stdout=m.logfh, stderr=subprocess.STDOUT, cwd=m.dir,
                            start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = None
        m.proc = proc
        m.stop(check=False)
    m.logfh.close()
    return rc, m.log()


def check(m):
    """moatd -n on m's configuration."""
    return m.check_conf()


def reload(m):
    """SIGHUP; the master's verdict line."""
    mark = len(m.log())
    m.hup()
    return m.wait_log(r"master: (configuration reloaded|.*keeping the running)",
                      timeout=20, since=mark)[0]


def greets(m):
    c = m.raw()
    try:
        return c.reply()[0] == 220
    finally:
        c.close()


def pids_by_role(m):
    """{role: pid} from the log's "moatd/ROLE[PID]:" prefixes, latest first wins."""
    roles = {}
    for role, pid in re.findall(r"moatd/(\w+)\[(\d+)\]: \w+ .*ready", m.log()):
        roles[role] = int(pid)
    return roles


def proc_root(pid):
    return os.readlink("/proc/%d/root" % pid)


def open_dirs(pid):
    """Paths of the directories pid holds open."""
    out = []
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, fd))
            if stat.S_ISDIR(os.stat(os.path.join(fddir, fd)).st_mode):
                out.append(target)
        except OSError:
            continue
    return out


def listening_inodes(port):
    """Socket inodes listening on 127.0.0.1:port (/proc/net/tcp)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                inodes.add(inode)
    return inodes


def socket_inodes(pid):
    out = set()
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            t = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m:
            out.add(m.group(1))
    return out


class SpoolAndStore(unittest.TestCase):
    """Finding 1: root chown()ed spool and store paths the moat user controls."""

    def test_spool_subdirectory_link_then_reload(self):
        with Moatd() as m:
            target = precious(m.dir)
            before = owner_mode(target)
            corrupt = os.path.join(m.dir, "spool", "corrupt")
            play = as_moat("rm -rf %s && ln -s %s %s" % (corrupt, target, corrupt))
            verdict = reload(m)
            self.assertEqual(owner_mode(target), before, "the target changed hands")
            if play.returncode == 0:
                # the link is there: moatd must have said no, clearly
                self.assertIn("keeping the running", verdict)
                m.wait_log(r"spool/corrupt is a symbolic link")
            else:
                # the spool is root's: the moat user cannot even try
                self.assertIn("configuration reloaded", verdict)
                self.assertFalse(os.path.islink(corrupt))
            self.assertTrue(greets(m))

    def test_store_link_then_reload(self):
        with Moatd() as m:
            target = precious(m.dir)
            before = owner_mode(target)
            store = os.path.join(m.dir, "state", "store")
            play = as_moat("rm -rf %s && ln -s %s %s" % (store, target, store))
            self.assertEqual(play.returncode, 0, play.stderr)  # state_dir is moat's
            verdict = reload(m)
            self.assertEqual(owner_mode(target), before, "the target changed hands")
            self.assertIn("keeping the running", verdict)
            m.wait_log(r"state/store is a symbolic link")
            # the running generation goes on serving
            self.assertTrue(greets(m))

    def test_link_left_in_an_old_spool(self):
        """A spool as an older moatd left it (the moat user's), with a link
        planted in it before the upgrade: moatd takes the spool back and
        refuses the link; it never follows it."""
        m = Moatd()
        target = precious(m.dir)
        before = owner_mode(target)
        spool = os.path.join(m.dir, "spool")
        moat_owned_dir(spool)
        for sub in ("tmp", "queue", "journal", "free"):
            moat_owned_dir(os.path.join(spool, sub))
        play = as_moat("ln -s %s %s/corrupt" % (target, spool))
        self.assertEqual(play.returncode, 0, play.stderr)
        rc, log = start_expecting_failure(m)
        self.assertEqual(owner_mode(target), before, "the target changed hands")
        self.assertNotIn(rc, (None, 0), "moatd started with a link in its spool:\n" + log)
        self.assertRegex(log, r"spool/corrupt is a symbolic link \(to %s\)" %
                         re.escape(target))
        # the spool is root's now: the moat user can plant nothing more
        self.assertEqual(os.stat(spool).st_uid, 0)
        m.cleanup()


class TrapSecret(unittest.TestCase):
    """Finding 2: root read bait.secret_file through a moat-controlled path."""

    def bait(self, m, secret):
        m.extra = 'bait {\n\tsecret_file = "%s"\n\tlisten = "127.0.0.1:%d"\n}\n' % (
            secret, free_port())
        m.write_conf()

    def test_secret_in_the_moat_users_directory(self):
        m = Moatd()
        target = precious(m.dir)
        before = owner_mode(target)
        state = os.path.join(m.dir, "state")
        moat_owned_dir(state)
        secret = os.path.join(state, "trap.secret")
        self.bait(m, secret)
        out = check(m)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertRegex(out.stderr, r"moat\.conf:\d+: bait: secret_file \"%s\": .*%s "
                         r"can be written by user moat" % (re.escape(secret),
                                                           re.escape(state)))
        # the play: the link is there before the start
        play = as_moat("ln -s %s %s" % (target, secret))
        self.assertEqual(play.returncode, 0, play.stderr)
        rc, log = start_expecting_failure(m)
        self.assertNotIn(rc, (None, 0), "moatd started with a secret the moat user chose")
        self.assertIn("secret_file", log)
        self.assertEqual(owner_mode(target), before)
        m.cleanup()

    def test_secret_must_be_roots_own(self):
        for name, make in (
                ("the moat user's file",
                 lambda p: (precious(os.path.dirname(p), os.path.basename(p)),
                            os.chown(p, MOAT.pw_uid, MOAT.pw_gid))),
                ("a group-writable file",
                 lambda p: (precious(os.path.dirname(p), os.path.basename(p)),
                            os.chmod(p, 0o660))),
                ("a FIFO", lambda p: os.mkfifo(p, 0o600))):
            with self.subTest(name):
                m = Moatd()
                secret = os.path.join(m.dir, "trap.secret")
                make(secret)
                self.bait(m, secret)
                rc, log = start_expecting_failure(m)
                self.assertNotIn(rc, (None, 0), "moatd started with %s as its secret" % name)
                self.assertRegex(log, r"bait: .*trap\.secret")
                m.cleanup()


class ControlSocket(unittest.TestCase):
    """Finding 3: root set up run_dir/moatd.sock in the moat user's directory."""

    def test_swap_then_reload(self):
        with Moatd() as m:
            target = precious(m.dir)
            before = owner_mode(target)
            sock = os.path.join(m.dir, "run", "moatd.sock")
            as_moat("rm -f %s; ln -s %s %s" % (sock, target, sock))
            self.assertIn("configuration reloaded", reload(m))
            self.assertEqual(owner_mode(target), before)
            out = moatctl(m, "stats")
            self.assertEqual(out.returncode, 0, out.stderr)
            st = os.stat(os.path.join(m.dir, "run"))
            self.assertEqual(st.st_uid, 0)
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o022, 0)

    def test_planted_at_the_socket_path(self):
        """run_dir as an older moatd left it (the moat user's) with something
        at the socket's path: moatd takes the directory back, removes what
        was planted, and serves its socket."""
        for kind in ("link", "file", "live socket"):
            with self.subTest(kind):
                m = Moatd()
                target = precious(m.dir)
                before = owner_mode(target)
                run = os.path.join(m.dir, "run")
                moat_owned_dir(run)
                sock = os.path.join(run, "moatd.sock")
                squatter = None
                if kind == "link":
                    as_moat("ln -s %s %s" % (target, sock))
                elif kind == "file":
                    as_moat("echo x > %s" % sock)
                else:
                    squatter = subprocess.Popen(
                        ["setpriv", "--reuid=moat", "--regid=moat", "--clear-groups",
                         "python3", "-c",
                         "import socket,sys,time\n"
                         "s=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\n"
                         "s.listen(5)\ntime.sleep(120)\n", sock])
                    wait_for(lambda: os.path.exists(sock), 10, "the squatter's socket")
                self.assertTrue(os.path.lexists(sock))
                try:
                    m.start()
                    self.assertEqual(owner_mode(target), before)
                    out = moatctl(m, "stats")
                    self.assertEqual(out.returncode, 0, out.stderr)
                    m.wait_log(r"master: removed .*moatd\.sock .*planted")
                    self.assertEqual(os.stat(run).st_uid, 0)
                    m.stop()
                finally:
                    if squatter is not None:
                        squatter.kill()
                        squatter.wait()
                    m.stop(check=False)
                m.cleanup()


class Check(unittest.TestCase):
    """moatd -n names every file root reads whose directory the moat user can write."""

    def test_root_read_files_in_the_moat_users_directory(self):
        m = TlsMoatd()
        state = os.path.join(m.dir, "state")
        moat_owned_dir(state)
        for f in ("cert.pem", "cert.key"):
            os.rename(os.path.join(m.dir, f), os.path.join(state, f))
        m.cert, m.key = os.path.join(state, "cert.pem"), os.path.join(state, "cert.key")
        acl = os.path.join(state, "access.client")
        with open(acl, "w") as f:
            f.write("192.0.2.1 deny\n")
        with open(os.path.join(state, "passwd"), "w") as f:
            f.write("")
        m.extra = m.extra.replace(os.path.join(m.dir, "cert.pem"), m.cert)
        m.extra = m.extra.replace(os.path.join(m.dir, "cert.key"), m.key)
        m.extra = m.extra.replace(m.passwd, os.path.join(state, "passwd"))
        m.extra += 'screen {\n\tclient_access = "%s"\n}\n' % acl
        m.write_conf()
        out = check(m)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        for key in ("tls: cert_file", "tls: key_file", "auth: password_file",
                    "screen: client_access"):
            self.assertRegex(out.stderr, r"moat\.conf:\d+: %s \"%s/[^\"]+\": .*can be "
                             r"written by user moat" % (key, re.escape(state)))
        m.cleanup()

    def test_dovecot_socket_outside_the_chroot(self):
        m = TlsMoatd(auth_extra='\tdovecot_socket = "/run/dovecot/auth-client"\n')
        m.extra = "chroot = true\n" + m.extra
        m.write_conf()
        out = check(m)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertRegex(out.stderr, r"moat\.conf:\d+: auth: dovecot_socket "
                         r"\"/run/dovecot/auth-client\": is outside spool_dir")
        m.cleanup()


class Rooms(unittest.TestCase):
    """Item 2: the bait server apart, and chrooted workers."""

    def test_bait_server_is_a_process_of_its_own(self):
        http = free_port()
        m = Moatd()
        m.extra = ('bait {\n\tsecret_file = "%s/trap.secret"\n\tlisten = "127.0.0.1:%d"\n'
                   '\texport_file = "%s/state/zone"\n}\n' % (m.dir, http, m.dir))
        m.write_conf()
        with m:
            m.wait_log(r"moatd/bait\[\d+\]: bait server ready")
            roles = pids_by_role(m)
            self.assertIn("bait", roles)
            self.assertIn("control", roles)
            self.assertNotEqual(roles["bait"], roles["control"])
            page = urllib.request.urlopen("http://127.0.0.1:%d/" % http, timeout=10).read()
            self.assertIn(b"mailto:", page)
            # only the bait process holds the bait listener; the control
            # process (next to the control socket) does not
            inodes = listening_inodes(http)
            self.assertTrue(inodes)
            self.assertTrue(inodes & socket_inodes(roles["bait"]))
            self.assertFalse(inodes & socket_inodes(roles["control"]))
            self.assertFalse(inodes & socket_inodes(roles["smtp"]))
            # the zone is still exported, by the control process
            m.wait_log(r"moatd/control\[%d\]: bait export file=" % roles["control"])

    def test_chrooted_workers(self):
        rbl = Rbldnsd(zones={"bl.test": {"127.0.0.5": "127.0.0.2"}})
        rbl.start()
        old_tz = os.environ.get("TZ")
        # a zone whose file glibc must have read before the chroot
        os.environ["TZ"] = "Europe/Berlin"
        http = free_port()
        try:
            m = TlsMoatd(dns_servers=[rbl.server()])
            m.extra = ("chroot = true\n" + m.extra +
                       'screen {\n\tdnsbl = {"bl.test*3"}\n}\n'
                       'bait {\n\tsecret_file = "%s/trap.secret"\n'
                       '\tlisten = "127.0.0.1:%d"\n}\n' % (m.dir, http))
            m.limits["dnsbl_threshold"] = 3
            m.write_conf()
            m.add_user("alice", "correct horse")
            with m:
                self.chrooted_work(m, http)
                # a reload brings up new chrooted children
                self.assertIn("configuration reloaded", reload(m))
                # every child of the reload says it is ready (the queue
                # runner last: it loads the CA store for MTA-STS first);
                # until then the log's latest pid of a role is the old one
                for ready in (r"smtp worker 0 ready", r"queue runner ready",
                              r"control ready", r"bait server ready"):
                    m.wait_log(ready, count=2)
                self.chrooted_work(m, http)
        finally:
            if old_tz is None:
                del os.environ["TZ"]
            else:
                os.environ["TZ"] = old_tz
            rbl.stop()

    def test_chrooted_worker_reaches_dovecot_under_the_spool(self):
        """The production shape: Dovecot's auth socket in a directory of
        root's under spool_dir, which the chrooted worker sees as its root."""
        m = TlsMoatd(auth_extra='\tdovecot_socket = "DOVECOT"\n')
        d = os.path.join(m.dir, "dovecot")
        os.makedirs(os.path.join(d, "run"))
        ddir = os.path.join(m.dir, "spool", "dovecot")
        os.makedirs(ddir)
        os.chmod(os.path.join(m.dir, "spool"), 0o755)
        sock = os.path.join(ddir, "auth-client")
        m.extra = "chroot = true\n" + m.extra.replace("DOVECOT", sock)
        m.write_conf()
        dv = DovecotAuth({"carol": "s3cret"}, sock=sock, owner="moat", mode="0600",
                         tmpdir=d).start()
        try:
            with m:
                roles = pids_by_role(m)
                self.assertEqual(proc_root(roles["smtp"]), os.path.join(m.dir, "spool"))
                s = m.submission()
                s.login("carol", "s3cret")
                s.quit()
                m.wait_log(r"mech=\w+ user=carol result=ok")
        finally:
            dv.stop()
        m.cleanup()

    def chrooted_work(self, m, http):
        m.wait_log(r"moatd/bait\[\d+\]: bait server ready")
        roles = pids_by_role(m)
        spool, empty = os.path.join(m.dir, "spool"), os.path.join(m.dir, "run", "empty")
        self.assertEqual(proc_root(roles["smtp"]), spool)
        self.assertEqual(proc_root(roles["bait"]), empty)
        self.assertEqual(proc_root(roles["queue"]), "/")
        self.assertEqual(proc_root(roles["control"]), "/")
        self.assertEqual(os.listdir(empty), [])
        st = os.stat(empty)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode) & 0o222), (0, 0))
        for role in ("smtp", "bait", "queue", "control"):
            with open("/proc/%d/status" % roles[role]) as f:
                uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
            self.assertEqual({int(u) for u in uids}, {MOAT.pw_uid}, role)
        # nothing open outside the root: a directory descriptor would be a
        # way out ("../..")
        for role, root in (("smtp", spool), ("bait", empty)):
            for d in open_dirs(roles[role]):
                self.assertTrue(d == root or d.startswith(root + "/"), (role, d))
        # mail in, over TLS with a password from the file read before the chroot
        s = m.submission()
        s.login("alice", "correct horse")
        s.mail("alice@example.test")
        s.rcpt("bob@example.test")
        subject = "chrooted %d" % roles["smtp"]
        self.assertEqual(s.data(message(subject=subject, to="bob@example.test"))[0], 250)
        s.quit()
        f = m.wait_maildir("bob", 1, containing=subject)[0]
        received = open(f).read()
        # Received: dated in the zone of TZ, read before the chroot
        zone = re.search(r"; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d ([+-]\d{4})",
                         received)
        self.assertIsNotNone(zone, received)
        self.assertIn(zone.group(1), ("+0100", "+0200"))
        # DNS in the chroot: a listed client is refused
        c = m.raw(source="127.0.0.5")
        code = c.reply()[0]
        c.close()
        self.assertEqual(code // 100, 5)
        m.wait_log(r"client=127\.0\.0\.5:\d+ stage=connect rule=dnsbl")
        # a bait page from the chrooted bait server
        page = urllib.request.urlopen("http://127.0.0.1:%d/" % http, timeout=10).read()
        self.assertIn(b"mailto:", page)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: TLS and authenticated submission (issue 4).

STARTTLS on the MX and submission listeners, implicit TLS, AUTH PLAIN and
LOGIN after TLS only, relaying for authenticated users under their own
names only, the STARTTLS injection case, failed-login slowdown and ban, key
file permissions, certificate reload on SIGHUP, and Dovecot's auth socket as
the credential backend. Certificates come from the openssl command line.
"""

import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import unittest
import base64

from harness import BIN, Moatd, free_port, make_tmpdir, message
from peers import DovecotAuth


def make_cert(d, name="cert", cn="mx.example.test"):
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=" + cn, "-days", "2"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsMoatd(Moatd):
    """moatd with mx, submission and smtps listeners, TLS and a password file."""

    def __init__(self, auth_extra="", limits=None, **kw):
        d = make_tmpdir("moat-test-")
        self.cert, self.key = make_cert(d)
        self.sub_port, self.smtps_port = free_port(), free_port()
        self.passwd = os.path.join(d, "passwd")
        port = free_port()
        listeners = [("mx", "127.0.0.1:%d" % port, "mx"),
                     ("submission", "127.0.0.1:%d" % self.sub_port, "submission"),
                     ("smtps", "127.0.0.1:%d" % self.smtps_port, "smtps")]
        extra = ('tls {\n\tcert_file = "%s"\n\tkey_file = "%s"\n}\n'
                 'auth {\n%s}\n' % (self.cert, self.key,
                                   auth_extra or '\tpassword_file = "%s"\n' % self.passwd))
        super().__init__(listeners=listeners, extra=extra, tmpdir=d, limits=limits, **kw)
        self.own_dir = True
        self.port = port

    def add_user(self, name, password):
        out = subprocess.run([os.path.join(BIN, "moatctl"), "-c", self.conf, "user", "add",
                              name], input=password + "\n", capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out

    def submission(self, source="127.0.0.1"):
        s = smtplib.SMTP("127.0.0.1", self.sub_port, timeout=20, source_address=(source, 0),
                         local_hostname="client.test")
        s.ehlo()
        s.starttls(context=client_ctx())
        s.ehlo()
        return s


class StartTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = TlsMoatd()
        cls.m.add_user("alice", "correct horse")
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def test_starttls_on_mx_and_received_line(self):
        s = self.m.smtp()
        s.ehlo()
        self.assertTrue(s.has_extn("starttls"))
        self.assertFalse(s.has_extn("auth"), "no AUTH on the MX listener")
        s.starttls(context=client_ctx())
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"))
        s.mail("x@remote.test")
        s.rcpt("bob@example.test")
        self.assertEqual(s.data(message(subject="over tls"))[0], 250)
        s.quit()
        # Other tests of this class deliver to bob too: wait for this test's message.
        files = self.m.wait_maildir("bob", 1, containing="Subject: over tls")
        with open(files[0]) as f:
            text = " ".join(f.read().split())
        self.assertRegex(text, r"Received: from client\.test \(localhost \[127\.0\.0\.1\]\) "
                         r"\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\) by "
                         r"mx\.example\.test \(moat\) with ESMTPS id")
        self.m.wait_log(r"smtp tls sid=\w+ client=127\.0\.0\.1:\d+ tls=\"TLSv1\.[23]")

    def test_auth_not_offered_before_tls_and_refused(self):
        c = self.m.raw(port=self.m.sub_port)
        c.reply()
        code, lines = c.cmd("EHLO client.test")
        self.assertNotIn("AUTH", " ".join(lines))
        self.assertIn("250-STARTTLS", lines)
        code, lines = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0correct horse").decode())
        self.assertEqual(code, 530, lines)
        self.assertIn("5.7.0", lines[0])
        # and without AUTH, submission takes no mail at all
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 530)
        c.close()

    def test_relay_after_auth_lands_in_queue(self):
        s = self.m.submission()
        self.assertTrue(s.has_extn("auth"))
        self.assertIn("PLAIN", s.esmtp_features["auth"])
        s.login("alice", "correct horse")
        s.mail("alice@example.test")
        self.assertEqual(s.rcpt("friend@elsewhere.test")[0], 250)
        code, resp = s.data(message(frm="alice@example.test", to="friend@elsewhere.test"))
        self.assertEqual(code, 250, resp)
        qid = re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()
        s.quit()
        self.m.wait_log(r"deliver id=%s to=<friend@elsewhere\.test>" % qid)
        with open(os.path.join(self.m.dir, "spool", "queue", qid)) as f:
            env, body = f.read().split("\nbody\n", 1)
        self.assertIn("origin auth", env)
        self.assertIn("auth alice", env)
        self.assertRegex(" ".join(body.split()), r"with ESMTPSA id %s" % qid)
        self.m.wait_log(r"smtp auth sid=\w+ client=127\.0\.0\.1:\d+ mech=PLAIN user=alice "
                        r"result=ok")
        self.assertEqual(self.m.log_lines(r"correct horse"), [], "password in the log")

    def test_auth_parameter_after_login(self):
        """RFC 4954 §5: MAIL FROM may carry AUTH= once logged in (Exim's
        client sends AUTH=<>); issue 20 found it answered 555."""
        s = self.m.submission()
        s.login("alice", "correct horse")
        for param in ("AUTH=<>", "AUTH=alice@example.test"):
            code, resp = s.docmd("MAIL FROM:<alice@example.test> " + param)
            self.assertEqual(code, 250, resp)
            self.assertEqual(s.docmd("RSET")[0], 250)
        s.quit()

    def test_relay_without_auth_on_submission_refused(self):
        s = self.m.submission()
        code, resp = s.mail("alice@example.test")
        self.assertEqual(code, 530, resp)
        s.quit()

    def test_auth_login_and_someone_elses_sender_refused(self):
        s = self.m.submission()
        s.login("alice", "correct horse")  # smtplib picks a mechanism
        code, resp = s.mail("bob@example.test")
        self.assertEqual(code, 553, resp)
        self.assertIn(b"5.7.1", resp)
        self.assertEqual(s.mail("ALICE@Example.Test")[0], 250)
        s.quit()
        c = self.m.raw(port=self.m.sub_port)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("STARTTLS")
        c.sock = client_ctx().wrap_socket(c.sock)
        c.cmd("EHLO x")
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(base64.b64encode(b"alice").decode())[0], 334)
        self.assertEqual(c.cmd(base64.b64encode(b"correct horse").decode())[0], 235)
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAHg=")[0], 503)  # already authed
        c.close()

    def test_second_starttls_refused(self):
        s = self.m.submission()
        code, _ = s.docmd("STARTTLS")
        self.assertEqual(code, 503)
        s.quit()

    def test_malformed_and_oversize_auth(self):
        c = self.m.raw(port=self.m.sub_port)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("STARTTLS")
        c.sock = client_ctx().wrap_socket(c.sock)
        c.cmd("EHLO x")
        for bad in ("AUTH PLAIN !!!!", "AUTH PLAIN AGFsaWNl=AHg=", "AUTH PLAIN YWJj",
                    "AUTH PLAIN " + base64.b64encode(b"x\0alice\0pw").decode(),
                    "AUTH PLAIN " + "A" * 13000):
            code, lines = c.cmd(bad)
            self.assertEqual(code, 501, (bad[:40], lines))
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        code, lines = c.cmd("B" * 20000)
        self.assertEqual(code, 501, lines)
        self.assertEqual(c.cmd("AUTH CRAM-MD5")[0], 504)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd("*")[0], 501)
        self.assertEqual(c.cmd("NOOP")[0], 250)  # still serving
        c.close()

    def test_starttls_injection_discarded(self):
        c = self.m.raw(port=self.m.port)
        c.reply()
        c.cmd("EHLO client.test")
        c.send("STARTTLS\r\nRSET\r\n")  # CVE-2011-0411: one write
        code, lines = c.reply()
        self.assertEqual(code, 220)
        c.sock = client_ctx().wrap_socket(c.sock)
        c.buf = b""
        code, lines = c.cmd("EHLO client.test")
        # the first reply after the handshake answers our EHLO, not RSET
        self.assertEqual(code, 250)
        self.assertEqual(lines[0], "250-mx.example.test", lines)
        c.close()
        self.m.wait_log(r"discarded 6 octets pipelined after STARTTLS")

    def test_state_reset_after_starttls(self):
        c = self.m.raw(port=self.m.port)
        c.reply()
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
        c.cmd("STARTTLS")
        c.sock = client_ctx().wrap_socket(c.sock)
        # HELO and MAIL were forgotten (RFC 3207 §4.2)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 503)
        c.close()

    def test_implicit_tls_smtps(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.m.smtps_port, timeout=20,
                             context=client_ctx(), local_hostname="client.test")
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"))
        s.login("alice", "correct horse")
        s.sendmail("alice@example.test", ["bob@example.test"], message())
        s.quit()

    def test_swaks_and_openssl_s_client(self):
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.m.sub_port, "--tls", "--auth",
             "PLAIN", "--auth-user", "alice", "--auth-password", "correct horse",
             "--from", "alice@example.test", "--to", "someone@elsewhere.test"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("235 2.7.0", out.stdout)
        # one command at a time: commands sent before the EHLO reply would
        # make us an early talker
        p = subprocess.Popen(
            ["openssl", "s_client", "-starttls", "smtp", "-connect",
             "127.0.0.1:%d" % self.m.port, "-quiet", "-servername", "mx.example.test"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        p.stdin.write("EHLO client.test\r\n")
        p.stdin.flush()
        time.sleep(1)
        p.stdin.write("QUIT\r\n")
        p.stdin.flush()
        out = subprocess.CompletedProcess(p.args, 0, *p.communicate(timeout=30))
        self.assertIn("250-mx.example.test", out.stdout)
        self.assertIn("221 2.0.0", out.stdout)

    def test_old_tls_versions_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(("127.0.0.1", self.m.smtps_port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(raw)


class FailedLogins(unittest.TestCase):
    def test_wrong_password_slowed_then_cut_off(self):
        with TlsMoatd(limits={"auth_failures_max": 3, "auth_ban_time": 60}) as m:
            m.add_user("alice", "right")
            s = m.submission(source="127.0.0.5")
            delays = []
            for i in range(2):
                t0 = time.time()
                code, resp = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                    b"\0alice\0wrong%d" % i).decode())
                delays.append(time.time() - t0)
                self.assertEqual(code, 535, resp)
            self.assertGreaterEqual(delays[0], 0.9)
            self.assertGreaterEqual(delays[1], 1.9)
            # third failure: 535, then 421 and the connection ends
            c = s.sock
            s.send(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong3") + b"\r\n")
            data = b""
            c.settimeout(15)
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b"535 5.7.8", data)
            self.assertIn(b"421 4.7.0", data)
            # the address is now refused at connect, even with the right password
            c2 = m.raw(source="127.0.0.5", port=m.sub_port)
            code, lines = c2.reply()
            self.assertEqual(code, 421, lines)
            # another client is not affected
            s3 = m.submission(source="127.0.0.6")
            s3.login("alice", "right")
            s3.quit()
            m.wait_log(r"smtp auth .*client=127\.0\.0\.5:\d+ mech=\w+ user=alice result=fail "
                       r"failures=2")
            m.wait_log(r"stage=connect rule=auth-failures")


class LoginBudget(unittest.TestCase):
    """One password-guessing budget per client, shared by every session
    and worker (issue 19): a slot is taken before a password is checked."""

    def auth(self, m, source, password, results, i):
        try:
            s = m.submission(source=source)
            code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                b"\0alice\0" + password.encode()).decode())
            results[i] = code
            s.close()
        except (smtplib.SMTPException, OSError) as e:
            results[i] = repr(e)

    def test_parallel_guesses_share_one_budget(self):
        with TlsMoatd(workers=2, limits={"auth_failures_max": 5, "auth_ban_time": 60,
                                         "conn_per_ip": 100}) as m:
            m.add_user("alice", "right")
            results = [None] * 30
            threads = [threading.Thread(target=self.auth,
                                        args=(m, "127.0.0.7", "wrong%d" % i, results, i))
                       for i in range(30)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            checked = m.log_lines(r"smtp auth .*client=127\.0\.0\.7:\d+ .*result=(ok|fail) ")
            self.assertLessEqual(len(checked), 5, checked)
            self.assertEqual(results.count(535), len(checked), results)
            # the rest were refused unchecked: at AUTH, or at connect once
            # the budget was spent
            unchecked = (len(m.log_lines(r"smtp auth .*client=127\.0\.0\.7:\d+ .*result=refused"))
                         + len(m.log_lines(r"client=127\.0\.0\.7:\d+ stage=connect "
                                           r"rule=auth-failures")))
            self.assertEqual(unchecked + len(checked), 30, results)
            # over budget, a right password is refused unchecked too
            r = [None]
            self.auth(m, "127.0.0.7", "right", r, 0)
            self.assertNotEqual(r[0], 235)
            self.assertEqual(len(m.log_lines(r"client=127\.0\.0\.7:\d+ .*result=ok")), 0)
            # port 25 stays open to the address; another address logs in
            c = m.raw(source="127.0.0.7")
            self.assertEqual(c.reply()[0], 220)
            c.close()
            r = [None]
            self.auth(m, "127.0.0.8", "right", r, 0)
            self.assertEqual(r[0], 235)


class KeyAndReload(unittest.TestCase):
    def test_world_readable_key_refused(self):
        m = TlsMoatd()
        os.chmod(m.key, 0o644)
        out = subprocess.run([os.path.join(BIN, "moatd"), "-n", "-c", m.conf],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stderr, r"moat\.conf:\d+: tls: key_file .* accessible to other users")
        m.cleanup()

    def test_sighup_reloads_certificate_without_dropping_sessions(self):
        with TlsMoatd() as m:
            def fingerprint():
                with socket.create_connection(("127.0.0.1", m.smtps_port), timeout=10) as r:
                    with client_ctx().wrap_socket(r) as t:
                        der = t.getpeercert(binary_form=True)
                        t.recv(1024)
                        return der
            before = fingerprint()
            # a session that stays open across the reload
            s = m.smtp()
            s.ehlo()
            s.mail("x@remote.test")
            cert2, key2 = make_cert(m.dir, "new", cn="new.example.test")
            os.replace(cert2, m.cert)
            os.replace(key2, m.key)
            m.hup()
            m.wait_log(r"master: configuration reloaded")
            m.wait_log(r"smtp worker 0 ready", count=2)
            after = fingerprint()
            self.assertNotEqual(before, after)
            # the old session still works, on the old worker
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            self.assertEqual(s.data(message())[0], 250)
            s.quit()
            m.wait_maildir("alice", 1)


class DovecotBackend(unittest.TestCase):
    def test_dovecot_auth_socket(self):
        with DovecotAuth({"carol": "s3cret"}) as dv:
            with TlsMoatd(auth_extra='\tdovecot_socket = "%s"\n' % dv.sock) as m:
                s = m.submission()
                s.login("carol", "s3cret")
                # carol@<local domain> is hers
                s.mail("carol@example.test")
                self.assertEqual(s.rcpt("someone@elsewhere.test")[0], 250)
                self.assertEqual(s.data(message())[0], 250)
                s.quit()
                s = m.submission()
                with self.assertRaises(smtplib.SMTPAuthenticationError):
                    s.login("carol", "wrong")
                s.close()
                m.wait_log(r"mech=\w+ user=carol result=ok")
                m.wait_log(r"mech=\w+ user=carol result=fail")


if __name__ == "__main__":
    unittest.main()

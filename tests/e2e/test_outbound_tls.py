"""End-to-end: a smarthost with a login and a TLS level (issue 28, items 1
and 6), against a real Postfix on loopback.

A test CA made with the openssl command line issues the smarthost's
certificate (smtp.relay.test). The smarthost is a private Postfix whose
smtpd offers STARTTLS with that certificate and SASL through a real Dovecot
auth socket, only after TLS (smtpd_tls_auth_only), relays only for
logged-in clients, and hands what it accepts to an smtp-sink that dumps
it, so a test can show what arrived. A second smtpd of the same Postfix
speaks TLS from the first byte (smtpd_tls_wrappermode, port 465 style).

moat logs in and delivers with tls = "verify" (relayhost section, and a
domain's delivery = "smtp:..."), the log says tls=verified with protocol
and cipher, and moatctl stats and the metrics count it; a tls_name the
certificate does not carry is deferred and never sent; a wrong password
is deferred with the 535 text; tls = "encrypt" against a server without
STARTTLS is deferred; implicit_tls works. Bad settings are refused by
moatd -n with file:line. Traffic stays on 127.0.0.1.
"""

import base64
import glob
import os
import re
import subprocess
import time
import unittest

from harness import BIN, Moatd, free_port, make_tmpdir, message
from peers import DovecotAuth, Postfix, SmtpSink
from test_metrics import get, key, parse

USER, PASSWORD = "relayuser", "right horse battery"
NAME = "smtp.relay.test"


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_ca(d):
    """A test CA and a certificate for NAME it issued: (ca.pem, cert, key)."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=moat test CA", "-keyout", ca_key, "-out", ca)
    key_, csr, cert = (os.path.join(d, n) for n in ("relay.key", "relay.csr", "relay.pem"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % NAME,
            "-keyout", key_, "-out", csr)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName = DNS:%s\n" % NAME)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", cert)
    return ca, cert, key_


class Smarthost(Postfix):
    """Postfix as a submission smarthost: STARTTLS with the test CA's
    certificate, SASL (Dovecot) only after TLS, relaying only for logins;
    a second smtpd on wrapper_port with TLS from the first byte, and a third
    on login_port that offers AUTH LOGIN only."""

    def __init__(self, cert, key_, sasl_path, transports):
        self.wrapper_port = free_port()
        self.login_port = free_port()
        super().__init__(hostname=NAME, mynetworks=["127.0.0.2/32"], transports=transports,
                         main={
                             "smtpd_tls_cert_file": cert,
                             "smtpd_tls_key_file": key_,
                             "smtpd_tls_security_level": "may",
                             "smtpd_tls_loglevel": "1",
                             "smtpd_tls_auth_only": "yes",
                             "smtpd_sasl_auth_enable": "yes",
                             "smtpd_sasl_type": "dovecot",
                             "smtpd_sasl_path": sasl_path,
                             "smtpd_relay_restrictions":
                                 "permit_sasl_authenticated, reject",
                             "smtpd_recipient_restrictions":
                                 "permit_sasl_authenticated, reject",
                         })

    def master_cf(self, smtpd_maxproc="-", local=True):
        text = super().master_cf(smtpd_maxproc, local)
        return text + ("127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
                       % self.wrapper_port) + (
            # a server that offers AUTH LOGIN only
            "127.0.0.1:%d inet n - n - - smtpd -o smtpd_sasl_mechanism_filter=login\n"
            % self.login_port)


def dumped_subjects(sink_dir):
    out = []
    for path in glob.glob(os.path.join(sink_dir, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, errors="replace") as f:
                m = re.search(r"^Subject: (.*)$", f.read(), re.M)
            if m:
                out.append(m.group(1))
    return out


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def send(m, rcpt, subject):
    s = m.smtp()
    s.ehlo()
    s.mail("sender@example.test")
    code, resp = s.rcpt(rcpt)
    assert code == 250, (code, resp)
    code, resp = s.data(message(subject=subject, frm="sender@example.test", to=rcpt))
    assert code == 250, resp
    s.quit()
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


def ctl(m, *args):
    r = subprocess.run([os.path.join(BIN, "moatctl"), "-c", m.conf] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def auth_file(d, name, text, mode=0o600):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class OutboundTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = make_tmpdir("moat-outtls-")
        os.chmod(cls.dir, 0o755)
        cls.ca, cert, key_ = make_ca(cls.dir)
        for p in (cls.ca, cert):
            os.chmod(p, 0o644)
        cls.sink_dir = os.path.join(cls.dir, "sink")
        cls.sink = SmtpSink(dump_dir=cls.sink_dir).start()
        cls.dovecot = DovecotAuth({USER: PASSWORD}).start()
        cls.relay = Smarthost(cert, key_, cls.dovecot.sock,
                              {"remote.test": cls.sink.nexthop(),
                               "corp.test": cls.sink.nexthop()}).start()
        cls.good_auth = auth_file(cls.dir, "relay.auth", "%s %s\n" % (USER, PASSWORD))

    @classmethod
    def tearDownClass(cls):
        for p in (cls.relay, cls.dovecot, cls.sink):
            p.stop()

    def moatd(self, relayhost_section, domain_extra=None, domains=None, **kw):
        return Moatd(trusted=["127.0.0.0/8"], relayhost=None,
                     domains=domains, domain_extra=domain_extra,
                     extra=relayhost_section, **kw)

    def section(self, tls="verify", name=NAME, auth=None, port=None, implicit=False,
                ca=True):
        lines = ['\taddress = "127.0.0.1:%d"' % (port or self.relay.port),
                 '\ttls = "%s"' % tls, '\ttls_name = "%s"' % name]
        if ca:
            lines.append('\tca_file = "%s"' % self.ca)
        if auth:
            lines.append('\tauth_file = "%s"' % auth)
        if implicit:
            lines.append("\timplicit_tls = true")
        return "relayhost {\n%s\n}\n" % "\n".join(lines)

    def test_verified_login_delivers_and_is_counted(self):
        mport = free_port()
        with self.moatd(self.section(auth=self.good_auth)
                        + 'metrics_listen = "127.0.0.1:%d"\n' % mport, verbose=True) as m:
            qid = send(m, "bob@remote.test", "verified-relay")
            line = m.wait_log(r"deliver id=%s .*status=sent" % qid, timeout=30)[0]
            self.assertIn("tls=verified", line)
            conn = m.wait_log(r"deliver connected relay=.*:%d" % self.relay.port)[0]
            self.assertRegex(conn, r"tls=verified tls_proto=TLSv1\.[23] tls_cipher=\S+")
            self.assertIn("auth=%s" % USER, conn)
            # moatd -v logs the client's commands, but not the login's
            plain = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
            self.assertEqual(len(m.log_lines(r'send line="AUTH PLAIN \[secret\]"')), 1)
            self.assertNotIn(plain, m.log())
            self.assertNotIn(PASSWORD.split()[0], m.log())
            wait_for(lambda: "verified-relay" in dumped_subjects(self.sink_dir), 30,
                     "the message at the sink behind the smarthost")
            self.relay.wait_log(r"sasl_method=PLAIN, sasl_username=%s" % USER)
            # moatctl stats and the metrics count it (the counters reach the
            # store every second)
            def stats():
                rc, out = ctl(m, "stats")
                return dict(re.findall(r"(\w+)=(\d+)", out))
            st = wait_for(lambda: (lambda s: s if s.get("tls_verified") == "1" else None)(
                stats()), 10, "tls_verified=1 in moatctl stats")
            self.assertEqual(st["tls_none"], "0")
            self.assertEqual(st["tls_encrypted"], "0")
            samples, types = parse(get(mport)[2])
            self.assertEqual(types["moat_deliveries_tls"], "counter")
            self.assertEqual(samples[key("moat_deliveries_tls_total", tls="verified")], 1)

    def test_auth_login_when_plain_is_not_offered(self):
        # moatd -v logs the client's commands: the secrets stay out
        with self.moatd(self.section(port=self.relay.login_port,
                                     auth=self.good_auth), verbose=True) as m:
            qid = send(m, "bob@remote.test", "auth-login")
            line = m.wait_log(r"deliver id=%s .*status=sent" % qid, timeout=30)[0]
            self.assertIn("tls=verified", line)
            self.relay.wait_log(r"sasl_method=LOGIN, sasl_username=%s" % USER)
            log = m.log()
            self.assertIn('send line="AUTH LOGIN"', log)
            self.assertEqual(len(m.log_lines(r"send line=\[secret\]")), 2)
            for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
                           base64.b64encode(USER.encode()).decode()):
                self.assertNotIn(secret, log)
            wait_for(lambda: "auth-login" in dumped_subjects(self.sink_dir), 30,
                     "the message at the sink")

    def test_wrong_name_is_deferred_and_not_sent(self):
        with self.moatd(self.section(name="other.relay.test", auth=self.good_auth)) as m:
            qid = send(m, "bob@remote.test", "wrong-name")
            line = m.wait_log(r"deliver id=%s .*status=deferred" % qid, timeout=30)[0]
            self.assertIn("certificate verification failed: hostname mismatch", line)
            # moatctl queue list says why it waits
            listed = wait_for(lambda: [l for l in ctl(m, "queue", "list")[1].splitlines()
                                       if l.startswith(qid) and "why=" in l], 10,
                              "the reason in queue list")[0]
            self.assertIn("certificate verification failed: hostname mismatch", listed)
            time.sleep(2)
            self.assertNotIn("wrong-name", dumped_subjects(self.sink_dir))
            self.assertEqual(m.log_lines(r"deliver connected relay="), [])

    def test_untrusted_ca_is_deferred(self):
        # no ca_file: the system store, which does not hold the test CA
        with self.moatd(self.section(ca=False, auth=self.good_auth)) as m:
            qid = send(m, "bob@remote.test", "untrusted-ca")
            line = m.wait_log(r"deliver id=%s .*status=deferred" % qid, timeout=30)[0]
            self.assertRegex(line, r"certificate verification failed: "
                                   r"(unable to get local issuer|self.signed)")

    def test_wrong_password_is_deferred_with_the_535(self):
        bad = auth_file(self.dir, "bad.auth", "%s wrong\n" % USER)
        with self.moatd(self.section(auth=bad)) as m:
            qid = send(m, "bob@remote.test", "wrong-password")
            line = m.wait_log(r"deliver id=%s .*status=deferred" % qid, timeout=30)[0]
            self.assertRegex(line, r"SASL authentication failed \(user %s\): 535 " % USER)
            self.assertNotIn("wrong-password", dumped_subjects(self.sink_dir))

    def test_auth_file_is_read_again_on_sighup(self):
        path = auth_file(make_tmpdir("moat-outtls-hup-"), "relay.auth",
                         "%s stale\n" % USER)
        with self.moatd(self.section(auth=path)) as m:
            qid = send(m, "bob@remote.test", "after-hup")
            line = m.wait_log(r"deliver id=%s .*status=deferred" % qid, timeout=30)[0]
            self.assertIn("535", line)
            auth_file(os.path.dirname(path), "relay.auth", "%s %s\n" % (USER, PASSWORD))
            mark = len(m.log())
            m.hup()
            m.wait_log(r"configuration reloaded", since=mark)
            m.wait_log(r"queue runner ready", since=mark)
            self.assertEqual(ctl(m, "queue", "retry", "all")[0], 0)
            line = m.wait_log(r"deliver id=%s .*status=sent" % qid, timeout=30,
                              since=mark)[0]
            self.assertIn("tls=verified", line)
            wait_for(lambda: "after-hup" in dumped_subjects(self.sink_dir), 30,
                     "the message at the sink")

    def test_encrypt_without_starttls_is_deferred(self):
        with SmtpSink() as plain:
            sec = self.section(tls="encrypt", port=plain.port, ca=False)
            with self.moatd(sec) as m:
                qid = send(m, "bob@remote.test", "no-starttls")
                line = m.wait_log(r"deliver id=%s .*status=deferred" % qid,
                                  timeout=30)[0]
                self.assertIn("TLS is required (tls = encrypt) and the server does not "
                              "offer STARTTLS", line)

    def test_may_with_login_refuses_plain_text(self):
        with SmtpSink() as plain:
            sec = self.section(tls="may", port=plain.port, ca=False, auth=self.good_auth)
            with self.moatd(sec) as m:
                qid = send(m, "bob@remote.test", "plain-login")
                line = m.wait_log(r"deliver id=%s .*status=deferred" % qid,
                                  timeout=30)[0]
                self.assertIn("not sending the login of %s in plain text" % USER, line)

    def test_implicit_tls(self):
        sec = self.section(port=self.relay.wrapper_port, implicit=True,
                           auth=self.good_auth)
        with self.moatd(sec) as m:
            qid = send(m, "bob@remote.test", "implicit-tls")
            line = m.wait_log(r"deliver id=%s .*status=sent" % qid, timeout=30)[0]
            self.assertIn("tls=verified", line)
            wait_for(lambda: "implicit-tls" in dumped_subjects(self.sink_dir), 30,
                     "the message at the sink")

    def test_domain_delivery_smtp_with_verify(self):
        extra = ('\tdelivery = "smtp:127.0.0.1:%d"\n\ttls = "verify"\n'
                 '\ttls_name = "%s"\n\tca_file = "%s"\n\tauth_file = "%s"\n'
                 % (self.relay.port, NAME, self.ca, self.good_auth))
        with self.moatd("", domains={"example.test": ["postmaster"], "corp.test": ["carol"]},
                        domain_extra={"corp.test": extra}) as m:
            qid = send(m, "carol@corp.test", "domain-verify")
            line = m.wait_log(r"deliver id=%s .*status=sent" % qid, timeout=30)[0]
            self.assertIn("tls=verified", line)
            wait_for(lambda: "domain-verify" in dumped_subjects(self.sink_dir), 30,
                     "the message at the sink")


class Settings(unittest.TestCase):
    def refused(self, extra, pattern, **kw):
        m = Moatd(relayhost=None, extra=extra, **kw)
        m.assert_refused(self, pattern)

    def test_bad_level(self):
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n\ttls = "strict"\n}\n',
                     r"moat\.conf:\d+: relayhost: tls = \"strict\": must be none, may, "
                     r"encrypt or verify")

    def test_dane_for_a_fixed_next_hop(self):
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n\ttls = "dane"\n}\n',
                     r"moat\.conf:\d+: relayhost: tls = \"dane\": DANE")

    def test_auth_file_world_readable(self):
        d = make_tmpdir("moat-outtls-conf-")
        path = auth_file(d, "relay.auth", "u p\n", mode=0o644)
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n\tauth_file = "%s"\n}\n'
                     % path, r"moat\.conf:\d+: relayhost: auth_file \"%s\": accessible "
                     r"to other users \(mode 0644\)" % re.escape(path))

    def test_auth_file_missing(self):
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n'
                     '\tauth_file = "/nonexistent/relay.auth"\n}\n',
                     r"moat\.conf:\d+: relayhost: auth_file \"/nonexistent/relay\.auth\": "
                     r"No such file")

    def test_auth_file_without_password(self):
        d = make_tmpdir("moat-outtls-conf-")
        path = auth_file(d, "relay.auth", "# the login\nuseronly\n")
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n\tauth_file = "%s"\n}\n'
                     % path, r"%s:2: no password" % re.escape(path))

    def test_verify_to_an_address_needs_a_name(self):
        self.refused('relayhost {\n\taddress = "127.0.0.1:587"\n\ttls = "verify"\n}\n',
                     r"moat\.conf:\d+: relayhost: tls = \"verify\" to the address "
                     r"127\.0\.0\.1 needs tls_name")

    def test_domain_keys_need_smtp_delivery(self):
        self.refused("", r"moat\.conf:\d+: domain \"example\.test\": tls, implicit_tls",
                     domain_extra={"example.test": '\ttls = "verify"\n'})

    def test_section_printed_by_moatd_N(self):
        m = Moatd(relayhost=None, extra='relayhost {\n\taddress = "127.0.0.1:465"\n'
                  '\ttls = "encrypt"\n\timplicit_tls = true\n}\n')
        try:
            r = m.check_conf()
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", m.conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('relayhost.address = "127.0.0.1:465"', r.stdout)
            self.assertIn('relayhost.tls = "encrypt"', r.stdout)
            self.assertIn("relayhost.implicit_tls = true", r.stdout)
        finally:
            m.cleanup()

    def test_string_form_still_works(self):
        m = Moatd(relayhost="127.0.0.1:2525")
        try:
            r = m.check_conf()
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            m.cleanup()


if __name__ == "__main__":
    unittest.main()

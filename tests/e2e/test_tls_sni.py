"""End-to-end: several certificates on the listeners, chosen by SNI (issue 28).

tls { } keeps its own cert_file/key_file pair (the default certificate) and
takes more in certificate { } sections; each certificate serves the names it
carries (its DNS subjectAltNames). The client's server_name picks the
certificate, exactly or through a one-label wildcard; no server_name or an
unknown one gets the default. An RSA and an ECDSA certificate for the same
names are both served, by the client's signature algorithms. SIGHUP loads
replaced files; a broken replacement is refused and the old certificate
still served. Certificates come from the openssl command line; clients are
Python's ssl (server_hostname) and openssl s_client (-servername, -sigalgs).
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import BIN, Moatd, free_port, make_tmpdir

RSA_SIGALGS = "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pkcs1_sha256"
ECDSA_SIGALGS = "ecdsa_secp256r1_sha256"


def make_cert(d, name, names, kind="ec"):
    """A self-signed certificate for names (the first is the CN, all are
    DNS subjectAltNames; none: CN only) and its key, mode 0600."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    cmd = ["openssl", "req", "-x509"] + newkey + [
        "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=" + names[0], "-days", "2"]
    cmd += ["-addext", "subjectAltName=" + ",".join("DNS:" + n for n in names)]
    subprocess.run(cmd, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def der(cert):
    with open(cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise AssertionError("connection closed after %r" % lines)
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)


def tls_section(default, more):
    text = 'tls {\n\tcert_file = "%s"\n\tkey_file = "%s"\n' % default
    for cert, key in more:
        text += '\tcertificate {\n\t\tcert_file = "%s"\n\t\tkey_file = "%s"\n\t}\n' % (
            cert, key)
    return text + "}\n"


class SniMoatd(Moatd):
    """moatd with mx, submission and smtps listeners and the certificates
    given: default = (cert, key), more = [(cert, key), ...]."""

    def __init__(self, d, default, more, **kw):
        self.sub_port, self.smtps_port = free_port(), free_port()
        port = free_port()
        listeners = [("mx", "127.0.0.1:%d" % port, "mx"),
                     ("submission", "127.0.0.1:%d" % self.sub_port, "submission"),
                     ("smtps", "127.0.0.1:%d" % self.smtps_port, "smtps")]
        passwd = os.path.join(d, "passwd")
        open(passwd, "w").close()
        extra = tls_section(default, more) + 'auth {\n\tpassword_file = "%s"\n}\n' % passwd
        super().__init__(listeners=listeners, extra=extra, tmpdir=d, **kw)
        self.own_dir = True
        self.port = port

    def implicit(self, sni):
        """The DER certificate the smtps listener shows for server_name sni."""
        with socket.create_connection(("127.0.0.1", self.smtps_port), timeout=10) as raw:
            with client_ctx().wrap_socket(raw, server_hostname=sni) as t:
                cert = t.getpeercert(binary_form=True)
                self.assert_greeting(t.makefile("rb"))
                return cert

    @staticmethod
    def assert_greeting(f):
        reply = read_reply(f)
        assert reply.startswith(b"220 "), reply

    def starttls(self, port, sni):
        """The DER certificate shown after STARTTLS on port for sni."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            f = raw.makefile("rb")
            self.assert_greeting(f)
            raw.sendall(b"EHLO client.test\r\n")
            assert read_reply(f).startswith(b"250"), "EHLO"
            raw.sendall(b"STARTTLS\r\n")
            assert read_reply(f).startswith(b"220 "), "STARTTLS"
            with client_ctx().wrap_socket(raw, server_hostname=sni) as t:
                cert = t.getpeercert(binary_form=True)
                t.sendall(b"EHLO client.test\r\n")
                reply = read_reply(t.makefile("rb"))
                assert reply.startswith(b"250"), reply
                return cert

    def s_client(self, sni, sigalgs, starttls=False):
        """The PEM certificate openssl s_client gets with these signature
        algorithms, as DER."""
        port = self.port if starttls else self.smtps_port
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
               "-servername", sni, "-sigalgs", sigalgs]
        if starttls:
            cmd += ["-starttls", "smtp"]
        out = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=30)
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                      out.stdout, re.S)
        assert m, out.stdout + out.stderr
        return ssl.PEM_cert_to_DER_cert(m.group(0))


class Names(unittest.TestCase):
    """Two names on two certificates, a wildcard, and the default."""

    @classmethod
    def setUpClass(cls):
        d = make_tmpdir("moat-test-")
        cls.default = make_cert(d, "default", ["mx.example.test"])
        cls.one = make_cert(d, "one", ["one.example.test", "mail.one.test"])
        cls.two = make_cert(d, "two", ["two.example.test"], kind="rsa")
        cls.wild = make_cert(d, "wild", ["*.wild.test"])
        cls.m = SniMoatd(d, cls.default, [cls.one, cls.two, cls.wild])
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def test_each_name_gets_its_certificate_on_smtps(self):
        self.assertEqual(self.m.implicit("one.example.test"), der(self.one[0]))
        self.assertEqual(self.m.implicit("mail.one.test"), der(self.one[0]))
        self.assertEqual(self.m.implicit("two.example.test"), der(self.two[0]))
        self.assertEqual(self.m.implicit("mx.example.test"), der(self.default[0]))

    def test_names_compare_without_case(self):
        self.assertEqual(self.m.implicit("TWO.Example.TEST"), der(self.two[0]))
        # the log says what the client asked for
        self.m.wait_log(r'smtp tls sid=\w+ client=127\.0\.0\.1:\d+ tls="TLSv1\.3[^"]*" '
                        r'sni=TWO\.Example\.TEST$')

    def test_no_sni_and_unknown_name_get_the_default(self):
        self.assertEqual(self.m.implicit(None), der(self.default[0]))
        self.assertEqual(self.m.implicit("unknown.example.test"), der(self.default[0]))
        # a name that only ends like a known one
        self.assertEqual(self.m.implicit("xone.example.test"), der(self.default[0]))

    def test_settings_print_names_each_certificate(self):
        out = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", self.m.conf],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('tls.cert_file = "%s"' % self.default[0], out.stdout)
        self.assertIn('tls.certificate[0].cert_file = "%s"' % self.one[0], out.stdout)
        self.assertIn('tls.certificate[1].key_file = "%s"' % self.two[1], out.stdout)
        self.assertIn('tls.certificate[2].cert_file = "%s"' % self.wild[0], out.stdout)

    def test_wildcard_serves_one_label_only(self):
        self.assertEqual(self.m.implicit("a.wild.test"), der(self.wild[0]))
        self.assertEqual(self.m.implicit("a.b.wild.test"), der(self.default[0]))
        self.assertEqual(self.m.implicit("wild.test"), der(self.default[0]))

    def test_starttls_on_mx_and_submission(self):
        for port in (self.m.port, self.m.sub_port):
            self.assertEqual(self.m.starttls(port, "one.example.test"), der(self.one[0]))
            self.assertEqual(self.m.starttls(port, "two.example.test"), der(self.two[0]))
            self.assertEqual(self.m.starttls(port, None), der(self.default[0]))

    def test_session_continues_on_chosen_certificate(self):
        # TLS 1.2 too: the context switch happens in the handshake either way
        with socket.create_connection(("127.0.0.1", self.m.smtps_port), timeout=10) as raw:
            ctx = client_ctx()
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            with ctx.wrap_socket(raw, server_hostname="two.example.test") as t:
                self.assertEqual(t.getpeercert(binary_form=True), der(self.two[0]))
                f = t.makefile("rb")
                self.m.assert_greeting(f)
                t.sendall(b"EHLO client.test\r\n")
                self.assertTrue(read_reply(f).startswith(b"250"))
                t.sendall(b"QUIT\r\n")
                self.assertTrue(read_reply(f).startswith(b"221"))


class KeyTypes(unittest.TestCase):
    """An RSA and an ECDSA certificate for the same name, side by side."""

    @classmethod
    def setUpClass(cls):
        d = make_tmpdir("moat-test-")
        cls.default = make_cert(d, "default", ["mx.example.test"])
        cls.rsa = make_cert(d, "rsa", ["dual.example.test"], kind="rsa")
        cls.ec = make_cert(d, "ec", ["dual.example.test"])
        # the default name too has both kinds: the default pair and a section
        cls.default_rsa = make_cert(d, "default-rsa", ["mx.example.test"], kind="rsa")
        cls.m = SniMoatd(d, cls.default, [cls.rsa, cls.ec, cls.default_rsa])
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()
        cls.m.cleanup()

    def test_signature_algorithms_pick_the_key_type(self):
        self.assertEqual(self.m.s_client("dual.example.test", RSA_SIGALGS), der(self.rsa[0]))
        self.assertEqual(self.m.s_client("dual.example.test", ECDSA_SIGALGS), der(self.ec[0]))

    def test_on_starttls_too(self):
        self.assertEqual(self.m.s_client("dual.example.test", RSA_SIGALGS, starttls=True),
                         der(self.rsa[0]))
        self.assertEqual(self.m.s_client("dual.example.test", ECDSA_SIGALGS, starttls=True),
                         der(self.ec[0]))

    def test_default_holds_both_kinds(self):
        self.assertEqual(self.m.s_client("unknown.example.test", RSA_SIGALGS),
                         der(self.default_rsa[0]))
        self.assertEqual(self.m.s_client("unknown.example.test", ECDSA_SIGALGS),
                         der(self.default[0]))


class Reload(unittest.TestCase):
    def test_sighup_loads_a_replaced_certificate_and_refuses_a_broken_one(self):
        d = make_tmpdir("moat-test-")
        default = make_cert(d, "default", ["mx.example.test"])
        one = make_cert(d, "one", ["one.example.test"])
        with SniMoatd(d, default, [one]) as m:
            old = m.implicit("one.example.test")
            self.assertEqual(old, der(one[0]))
            cert2, key2 = make_cert(d, "one-new", ["one.example.test"])
            new = der(cert2)
            os.replace(cert2, one[0])
            os.replace(key2, one[1])
            m.hup()
            m.wait_log(r"master: configuration reloaded")
            m.wait_log(r"smtp worker 0 ready", count=2)
            # the old worker may take a connection or two until it has left
            deadline = time.time() + 10
            while m.implicit("one.example.test") != new and time.time() < deadline:
                time.sleep(0.2)
            self.assertEqual(m.implicit("one.example.test"), new)
            self.assertEqual(m.implicit("mx.example.test"), der(default[0]))

            # a certificate whose key is another's: the reload is refused
            cert3, _ = make_cert(d, "one-broken", ["one.example.test"])
            os.replace(cert3, one[0])
            mark = len(m.log())
            m.hup()
            m.wait_log(r"tls: key_file .*one\.key\" does not match cert_file", since=mark)
            m.wait_log(r"keeping the running configuration", since=mark)
            time.sleep(0.5)
            self.assertEqual(len(re.findall(r"smtp worker 0 ready", m.log()[mark:])), 0)
            for _ in range(3):
                self.assertEqual(m.implicit("one.example.test"), new)
            self.assertIsNone(m.proc.poll())

            # a worker that dies now comes back with the certificates the
            # master holds (the good ones), not the broken files
            pid = int(re.findall(r"moatd/smtp\[(\d+)\]: smtp worker 0 ready", m.log())[-1])
            os.kill(pid, signal.SIGKILL)
            m.wait_log(r"smtp worker 0 ready", count=3)
            m.wait_log(r"smtp worker 0 ready", since=mark)
            deadline, got = time.time() + 10, None
            while time.time() < deadline:
                try:
                    got = m.implicit("one.example.test")
                    break
                except (OSError, AssertionError):
                    time.sleep(0.2)
            self.assertEqual(got, new)
            self.assertEqual(m.implicit("mx.example.test"), der(default[0]))


class ConfigErrors(unittest.TestCase):
    def setUp(self):
        self.d = make_tmpdir("moat-test-")
        self.default = make_cert(self.d, "default", ["mx.example.test"])

    def test_key_that_is_not_the_certificates(self):
        one = make_cert(self.d, "one", ["one.example.test"])
        other = make_cert(self.d, "other", ["other.example.test"])
        m = SniMoatd(self.d, self.default, [(one[0], other[1])])
        m.assert_refused(self, r"moat\.conf:\d+: tls: key_file \".*other\.key\" does not "
                               r"match cert_file \".*one\.pem\"")

    def test_default_key_that_is_not_the_certificates(self):
        other = make_cert(self.d, "other", ["other.example.test"], kind="rsa")
        m = SniMoatd(self.d, (self.default[0], other[1]), [])
        m.assert_refused(self, r"moat\.conf:\d+: tls: key_file \".*other\.key\" does not "
                               r"match cert_file \".*default\.pem\"")

    def test_key_readable_by_others(self):
        one = make_cert(self.d, "one", ["one.example.test"])
        os.chmod(one[1], 0o644)
        m = SniMoatd(self.d, self.default, [one])
        m.assert_refused(self, r"moat\.conf:\d+: tls: certificate: key_file \".*one\.key\" "
                               r"is accessible to other users")

    def test_half_a_pair(self):
        m = SniMoatd(self.d, self.default, [])
        m.extra = m.extra.replace("}\nauth", '\tcertificate {\n\t\tcert_file = "%s"\n'
                                  '\t}\n}\nauth' % self.default[0], 1)
        m.write_conf()
        m.assert_refused(self, r"moat\.conf:\d+: tls: certificate: cert_file and "
                               r"key_file go together")

    def test_same_names_same_key_type(self):
        one = make_cert(self.d, "one", ["one.example.test"])
        again = make_cert(self.d, "again", ["one.example.test"])
        m = SniMoatd(self.d, self.default, [one, again])
        m.assert_refused(self, r"moat\.conf:\d+: tls: cert_file \".*again\.pem\" has the "
                               r"names and the key type of cert_file \".*one\.pem\"")

    def test_good_configuration_passes(self):
        one = make_cert(self.d, "one", ["one.example.test"])
        m = SniMoatd(self.d, self.default, [one])
        r = m.check_conf()
        m.cleanup()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: DANE for MX delivery (RFC 7672), issue 28 item 2.

The test signs a zone (dane.test) with ldns-keygen and ldns-signzone, serves
it (and an unsigned plain.test, and a bogus.test signed with a key the
resolver does not trust) from an authoritative unbound on loopback, and puts
a second unbound, a validating resolver that trusts the dane.test key, in
front of it: moat's only DNS server, with dns_validating on. The MX hosts
are small SMTP servers in this file (Python's ssl), each on its own
loopback address, offering STARTTLS with certificates made here by openssl:
self-signed ones for DANE-EE(3), one issued by a test CA for DANE-TA(2).

  ok.dane.test         TLSA 3 1 1 of its key, a certificate for another name:
                       delivered, tls=dane
  bad.dane.test        TLSA 3 1 1 of some other key: deferred, "TLSA mismatch",
                       the server gets no message
  fallback.dane.test   MX 10 the bad host, MX 20 the good one: the next MX
  ta.dane.test         TLSA 2 0 1 of the CA, the chain leaf + CA, name
                       mx-ta.dane.test: delivered, tls=dane
  taname.dane.test     TLSA 2 0 1 of the CA, a certificate it issued for another
                       name: DANE-TA checks the name (RFC 7672 §3.2.3), deferred
  unusable.dane.test   only TLSA 1 1 1 (PKIX-EE, unusable for SMTP):
                       delivered, tls=encrypted (RFC 7672 §2.2)
  strip.dane.test      TLSA 3 1 1 of its key, but STARTTLS not offered (as
                       when an attacker strips it): deferred, never plain text
  servfail.dane.test   its TLSA RRSIG corrupted: the validator says SERVFAIL,
                       that MX is not used, deferred
  cname.dane.test      MX mx-alias, a CNAME of mx-real, whose TLSA matches:
                       the target's records count (RFC 7672 §2.2.2), tls=dane
  cname2.dane.test     MX mx-alias2, a CNAME of mx-real2, which has no TLSA;
                       the alias's own TLSA matches: tls=dane
  plain.test           unsigned: opportunistic, tls=encrypted
  bogus.test           signed with an untrusted key: SERVFAIL, deferred
  and dns_validating off: ok.dane.test goes opportunistic (tls=encrypted);
  mx_tls = encrypt defers what offers no STARTTLS, mx_tls = none never asks.
"""

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest

from harness import BIN, Moatd, free_port, make_tmpdir, message, wait_port

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
HOSTS = {  # MX host -> its loopback address
    "mx-ok.dane.test": "127.0.0.21",
    "mx-bad.dane.test": "127.0.0.22",
    "mx-ta.dane.test": "127.0.0.23",
    "mx-unusable.dane.test": "127.0.0.24",
    "mx-servfail.dane.test": "127.0.0.25",
    "mx-strip.dane.test": "127.0.0.28",
    "mx-taname.dane.test": "127.0.0.29",
    "mx-real.dane.test": "127.0.0.30",
    "mx-real2.dane.test": "127.0.0.31",
    "mx.plain.test": "127.0.0.26",
    "mx.bogus.test": "127.0.0.27",
}


def run(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60).stdout


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


# ---- certificates ----

def make_key_cert(d, name, cn, ca=None, san=None):
    """name.key and name.pem: self-signed, or issued by ca (its base name);
    name.chain.pem: the certificate, then the CA's when issued."""
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", key])
    if ca is None:
        args = ["openssl", "req", "-x509", "-key", key, "-days", "2", "-subj", "/CN=" + cn,
                "-out", pem]
        if name == "ca":
            args += ["-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        run(args)
        chain = pem
    else:
        csr = os.path.join(d, name + ".csr")
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n" % san)
        run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, ca + ".pem"),
             "-CAkey", os.path.join(d, ca + ".key"), "-CAcreateserial", "-days", "2",
             "-extfile", ext, "-out", pem])
        chain = os.path.join(d, name + ".chain.pem")
        with open(chain, "w") as f:
            for part in (pem, os.path.join(d, ca + ".pem")):
                with open(part) as p:
                    f.write(p.read())
    return key, pem, chain


def spki_sha256(pem):
    """TLSA x 1 1: the SHA2-256 of the certificate's SubjectPublicKeyInfo."""
    pub = run(["openssl", "x509", "-in", pem, "-noout", "-pubkey"])
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, stdout=subprocess.PIPE, timeout=60).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(pem):
    """TLSA x 0 1: the SHA2-256 of the certificate."""
    with open(pem) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


# ---- the MX hosts: SMTP with STARTTLS ----

class TlsMx:
    """An SMTP server on host:port offering STARTTLS with the given chain;
    messages keeps (tls, rcpts, data) of each message it accepted."""

    def __init__(self, host, port, key, chain, offer_tls=True):
        self.host, self.port = host, port
        self.offer_tls = offer_tls
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(chain, key)
        self.messages = []
        self.starttls = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.stopped = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(20)
        f = conn.makefile("rb")
        tls, rcpts = False, []

        def say(text):
            conn.sendall(text.encode() + b"\r\n")

        try:
            say("220 %s ESMTP test" % self.host)
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250-%s\r\n250-PIPELINING\r\n%s250 8BITMIME"
                        % (self.host, "" if tls or not self.offer_tls else "250-STARTTLS\r\n"))
                elif verb == "STARTTLS" and not tls and self.offer_tls:
                    say("220 go ahead")
                    with self.lock:
                        self.starttls += 1
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    f = conn.makefile("rb")
                    tls = True
                elif verb == "MAIL":
                    rcpts = []
                    say("250 ok")
                elif verb == "RCPT":
                    rcpts.append(cmd[8:])
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go")
                    data = b""
                    while True:
                        l = f.readline(65536)
                        if not l or l == b".\r\n":
                            break
                        data += l
                    with self.lock:
                        self.messages.append((tls, rcpts, data))
                    say("250 queued")
                elif verb == "RSET" or verb == "NOOP":
                    say("250 ok")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 no")
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def subjects(self):
        with self.lock:
            return [(tls, re.search(rb"^Subject: (.*?)\r?$", d, re.M).group(1).decode())
                    for tls, _, d in self.messages]

    def stop(self):
        self.stopped = True
        self.sock.close()


# ---- DNS: the signed zones, an authoritative unbound and a validating one ----

def keygen(d, zone):
    """A KSK for zone (ECDSA P-256): the base name of its .key/.private."""
    return run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone], cwd=d).decode().strip()


def write_zone(d, zone, records):
    path = os.path.join(d, zone + ".zone")
    with open(path, "w") as f:
        f.write("$ORIGIN %s.\n$TTL 300\n" % zone)
        f.write("@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n" % (zone, zone))
        f.write("@ IN NS ns.%s.\nns IN A 127.0.0.1\n" % zone)
        for r in records:
            f.write(r + "\n")
    return path


def sign(d, zone, path, key):
    run(["ldns-signzone", "-f", path + ".signed", path, key], cwd=d)
    return path + ".signed"


class Unbound:
    """unbound on 127.0.0.1:port with the given server: lines and sections."""

    def __init__(self, d, name, server_lines, sections):
        self.dir, self.name = d, name
        self.port = free_port()
        self.conf = os.path.join(d, name + ".conf")
        self.logfile = os.path.join(d, name + ".log")
        with open(self.conf, "w") as f:
            f.write("server:\n")
            for l in ["interface: 127.0.0.1", "port: %d" % self.port, "do-ip6: no",
                      "do-daemonize: no", 'username: ""', 'chroot: ""',
                      'directory: "%s"' % d, 'pidfile: ""', "use-syslog: no",
                      'logfile: ""', "num-threads: 1", "so-reuseport: no",
                      "access-control: 127.0.0.0/8 allow", "verbosity: 1",
                      # nothing beyond loopback: every other name is refused
                      'local-zone: "." refuse'] + server_lines:
                f.write("\t%s\n" % l)
            f.write("remote-control:\n\tcontrol-enable: no\n")
            f.write(sections)
        self.proc = None

    def start(self):
        run([shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf", self.conf])
        self.logfh = open(self.logfile, "ab")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=self.logfh,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port("127.0.0.1", self.port, 15, self.proc)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.logfh.close()
        self.proc = None

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()


ZONES = ("dane.test", "plain.test", "bogus.test")


class Dane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = cls.dir = make_tmpdir("moat-dane-")
        cls.mx_port = free_port()
        certs = {}
        make_key_cert(d, "ca", "Test DANE CA")
        # DANE-EE(3): the key is all that counts, not the name (RFC 7672 §3.1.1)
        for n in ("ok", "bad", "unusable", "servfail", "strip", "plain", "bogus", "real",
                  "real2"):
            certs[n] = make_key_cert(d, n, "not-the-mx-name.example")
        certs["ta"] = make_key_cert(d, "ta", "mx-ta.dane.test", ca="ca",
                                    san="mx-ta.dane.test")
        certs["taname"] = make_key_cert(d, "taname", "mx-elsewhere.example", ca="ca",
                                        san="mx-elsewhere.example")
        other = make_key_cert(d, "other", "nobody")  # its key is in no server
        a = lambda h: "%s. IN A %s" % (h, HOSTS[h])
        tlsa = lambda h, rdata: "_%d._tcp.%s. IN TLSA %s" % (cls.mx_port, h, rdata)
        dane = [
            "ok IN MX 10 mx-ok", "bad IN MX 10 mx-bad", "ta IN MX 10 mx-ta",
            "fallback IN MX 10 mx-bad", "fallback IN MX 20 mx-ok",
            "unusable IN MX 10 mx-unusable", "servfail IN MX 10 mx-servfail",
            "strip IN MX 10 mx-strip", a("mx-strip.dane.test"),
            "taname IN MX 10 mx-taname", a("mx-taname.dane.test"),
            "cname IN MX 10 mx-alias", "mx-alias IN CNAME mx-real", a("mx-real.dane.test"),
            tlsa("mx-real.dane.test", "3 1 1 " + spki_sha256(certs["real"][1])),
            "cname2 IN MX 10 mx-alias2", "mx-alias2 IN CNAME mx-real2",
            a("mx-real2.dane.test"),
            tlsa("mx-alias2.dane.test", "3 1 1 " + spki_sha256(certs["real2"][1])),
            tlsa("mx-taname.dane.test", "2 0 1 " + cert_sha256(os.path.join(d, "ca.pem"))),
            tlsa("mx-strip.dane.test", "3 1 1 " + spki_sha256(certs["strip"][1])),
            a("mx-ok.dane.test"), a("mx-bad.dane.test"), a("mx-ta.dane.test"),
            a("mx-unusable.dane.test"), a("mx-servfail.dane.test"),
            tlsa("mx-ok.dane.test", "3 1 1 " + spki_sha256(certs["ok"][1])),
            tlsa("mx-bad.dane.test", "3 1 1 " + spki_sha256(other[1])),
            tlsa("mx-ta.dane.test", "2 0 1 " + cert_sha256(os.path.join(d, "ca.pem"))),
            tlsa("mx-unusable.dane.test", "1 1 1 " + spki_sha256(certs["unusable"][1])),
            tlsa("mx-servfail.dane.test", "3 1 1 " + spki_sha256(certs["servfail"][1])),
        ]
        key = keygen(d, "dane.test")
        signed = sign(d, "dane.test", write_zone(d, "dane.test", dane), key)
        # one TLSA signature broken: that RRset is bogus, the rest is fine
        with open(signed) as fh:
            text = fh.read()
        owner = "_%d._tcp.mx-servfail.dane.test." % cls.mx_port
        lines = text.splitlines()
        for i, l in enumerate(lines):
            f = l.split()
            if f and f[0] == owner and "RRSIG" in f and f[f.index("RRSIG") + 1] == "TLSA":
                sig = f[-1]
                f[-1] = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
                lines[i] = "\t".join(f)
                break
        else:
            raise AssertionError("no RRSIG TLSA for %s in %s" % (owner, signed))
        with open(signed, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        plain = write_zone(d, "plain.test", ["@ IN MX 10 mx", a("mx.plain.test")])
        bkey = keygen(d, "bogus.test")
        bogus = sign(d, "bogus.test",
                     write_zone(d, "bogus.test", ["@ IN MX 10 mx", a("mx.bogus.test")]), bkey)
        # the resolver trusts another key for bogus.test: its signatures are bogus
        wrong = keygen(d, "bogus.test")
        cls.auth = Unbound(d, "auth", ["module-config: \"iterator\""] +
                           ['local-zone: "%s." transparent' % z for z in ZONES],
                           "".join("auth-zone:\n\tname: \"%s.\"\n\tzonefile: \"%s\"\n"
                                   "\tfor-downstream: yes\n\tfor-upstream: no\n"
                                   "\tfallback-enabled: no\n" % (z, p)
                                   for z, p in (("dane.test", signed),
                                                ("plain.test", plain),
                                                ("bogus.test", bogus)))).start()
        cls.resolver = Unbound(
            d, "resolver",
            ['module-config: "validator iterator"', "do-not-query-localhost: no",
             "val-permissive-mode: no", "val-log-level: 2", "qname-minimisation: no",
             'trust-anchor-file: "%s.key"' % os.path.join(d, key),
             'trust-anchor-file: "%s.key"' % os.path.join(d, wrong)] +
            ['local-zone: "%s." transparent' % z for z in ZONES],
            "".join("stub-zone:\n\tname: \"%s.\"\n\tstub-addr: 127.0.0.1@%d\n"
                    % (z, cls.auth.port) for z in ZONES)).start()
        cls.mx = {}
        for h, ip in HOSTS.items():
            n = "plain" if h == "mx.plain.test" else "bogus" if h == "mx.bogus.test" \
                else h.split(".")[0][3:]
            cls.mx[n] = TlsMx(ip, cls.mx_port, certs[n][0], certs[n][2],
                              offer_tls=n != "strip")

    @classmethod
    def tearDownClass(cls):
        for s in cls.mx.values():
            s.stop()
        cls.resolver.stop()
        cls.auth.stop()

    def moatd(self, validating=True, level="dane"):
        return Moatd(trusted=["127.0.0.1/32"],
                     dns_servers=["127.0.0.1:%d" % self.resolver.port], relayhost=None,
                     extra='relay_to_private = true\nmx_tls = "%s"\n'
                           "dns_validating = %s\n" % (level, "true" if validating else "false"),
                     limits={"mx_port": self.mx_port, "retry_min": 60})

    def send(self, m, rcpt, subject):
        s = m.smtp()
        s.ehlo()
        s.mail("alice@example.test")
        code, resp = s.rcpt(rcpt)
        self.assertEqual(code, 250, resp)
        code, resp = s.data(message(subject=subject, frm="alice@example.test", to=rcpt))
        self.assertEqual(code, 250, resp)
        s.quit()
        return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()

    def test_dane(self):
        p = self.mx_port
        with self.moatd() as m:
            q = {n: self.send(m, "u@%s" % dom, "to-" + n) for n, dom in (
                ("ok", "ok.dane.test"), ("bad", "bad.dane.test"),
                ("fallback", "fallback.dane.test"), ("ta", "ta.dane.test"),
                ("unusable", "unusable.dane.test"), ("servfail", "servfail.dane.test"),
                ("strip", "strip.dane.test"), ("taname", "taname.dane.test"),
                ("cname", "cname.dane.test"), ("cname2", "cname2.dane.test"),
                ("plain", "plain.test"), ("bogus", "bogus.test"))}

            # TLSA 3 1 1 of the server's key: authenticated, whatever its name
            m.wait_log(r"deliver dane destination=ok\.dane\.test host=mx-ok\.dane\.test "
                       r"tlsa=usable records=1 level=dane")
            m.wait_log(r"deliver connected relay=mx-ok\.dane\.test\[127\.0\.0\.21\]:%d "
                       r"tls=dane" % p)
            m.wait_log(r"deliver id=%s to=<u@ok\.dane\.test> relay=mx-ok\.dane\.test.* "
                       r"status=sent" % q["ok"])
            # a record matching no key of the chain: that MX is not used
            m.wait_log(r"deliver connect relay=mx-bad\.dane\.test\[127\.0\.0\.22\]:%d "
                       r"result=failed text=\"local: 454 4\.7\.5 TLSA mismatch" % p)
            m.wait_log(r"deliver id=%s to=<u@bad\.dane\.test> relay=mx-bad\.dane\.test.* "
                       r"status=deferred text=\"local: 454 4\.7\.5 TLSA mismatch" % q["bad"])
            # ... and the next MX is (RFC 7672 §2.2)
            m.wait_log(r"deliver id=%s to=<u@fallback\.dane\.test> relay=mx-ok\.dane\.test.* "
                       r"status=sent" % q["fallback"])
            # DANE-TA(2): the CA's certificate in the chain, the name checked
            m.wait_log(r"deliver connected relay=mx-ta\.dane\.test\[127\.0\.0\.23\]:%d "
                       r"tls=dane" % p)
            m.wait_log(r"deliver id=%s to=<u@ta\.dane\.test> .* status=sent" % q["ta"])
            # ... and its name: a certificate the CA issued for another name fails
            m.wait_log(r"deliver id=%s to=<u@taname\.dane\.test> .*status=deferred "
                       r"text=\"local: 454 4\.7\.5 TLSA mismatch: hostname mismatch"
                       % q["taname"])
            # only PKIX usages: TLS without authentication (RFC 7672 §2.2)
            m.wait_log(r"host=mx-unusable\.dane\.test tlsa=unusable records=0 "
                       r"level=encrypt")
            m.wait_log(r"deliver connected relay=mx-unusable\.dane\.test\[127\.0\.0\.24\]:%d "
                       r"tls=encrypted" % p)
            m.wait_log(r"deliver id=%s to=<u@unusable\.dane\.test> .* status=sent"
                       % q["unusable"])
            # a TLSA answer the validator calls bogus (SERVFAIL): host not used
            m.wait_log(r"host=mx-servfail\.dane\.test tlsa=lookup-failed")
            m.wait_log(r"deliver id=%s to=<u@servfail\.dane\.test> relay=servfail\.dane\.test "
                       r".*status=deferred text=\"4\.7\.5 TLSA lookup for the mail host "
                       r"mx-servfail\.dane\.test failed" % q["servfail"])
            # usable records and no STARTTLS: deferred, not sent in plain text
            m.wait_log(r"deliver connect relay=mx-strip\.dane\.test\[127\.0\.0\.28\]:%d "
                       r"result=failed text=\"local: 454 4\.7\.4 TLS is required \(TLSA "
                       r"records\), and STARTTLS is not offered" % p)
            m.wait_log(r"deliver id=%s to=<u@strip\.dane\.test> .*status=deferred "
                       r"text=\"local: 454 4\.7\.4 TLS is required" % q["strip"])
            # an MX host that is a CNAME: the target's TLSA records first ...
            m.wait_log(r"deliver dane destination=cname\.dane\.test host=mx-alias\.dane\.test "
                       r"cname=mx-real\.dane\.test tlsa=usable records=1 level=dane")
            m.wait_log(r"deliver connected relay=mx-alias\.dane\.test\[127\.0\.0\.30\]:%d "
                       r"tls=dane" % p)
            m.wait_log(r"deliver id=%s to=<u@cname\.dane\.test> .* status=sent" % q["cname"])
            # ... and with none there, the MX host name's own
            m.wait_log(r"deliver dane destination=cname2\.dane\.test host=mx-alias2\.dane\.test "
                       r"tlsa=usable records=1 level=dane")
            m.wait_log(r"deliver connected relay=mx-alias2\.dane\.test\[127\.0\.0\.31\]:%d "
                       r"tls=dane" % p)
            m.wait_log(r"deliver id=%s to=<u@cname2\.dane\.test> .* status=sent" % q["cname2"])
            # unsigned zone: opportunistic TLS
            m.wait_log(r"deliver dane destination=plain\.test mx=insecure level=may")
            m.wait_log(r"deliver connected relay=mx\.plain\.test\[127\.0\.0\.26\]:%d "
                       r"tls=encrypted" % p)
            m.wait_log(r"deliver id=%s to=<u@plain\.test> .* status=sent" % q["plain"])
            # bogus signatures on the MX RRset: SERVFAIL, deferred
            m.wait_log(r"deliver id=%s to=<u@bogus\.test> .*status=deferred "
                       r"text=\"4\.4\.3 DNS lookup of MX for bogus\.test failed" % q["bogus"])

            # what the servers got: the bad, servfail and bogus ones nothing
            self.assertEqual(sorted(self.mx["ok"].subjects()),
                             [(True, "to-fallback"), (True, "to-ok")])
            self.assertEqual(self.mx["ta"].subjects(), [(True, "to-ta")])
            self.assertEqual(self.mx["real"].subjects(), [(True, "to-cname")])
            self.assertEqual(self.mx["real2"].subjects(), [(True, "to-cname2")])
            self.assertEqual(self.mx["unusable"].subjects(), [(True, "to-unusable")])
            self.assertEqual(self.mx["plain"].subjects(), [(True, "to-plain")])
            self.assertEqual(self.mx["bad"].messages, [])
            self.assertGreaterEqual(self.mx["bad"].starttls, 2)  # it was tried, twice
            self.assertEqual(self.mx["servfail"].messages, [])
            self.assertEqual(self.mx["servfail"].starttls, 0)
            self.assertEqual(self.mx["bogus"].messages, [])
            self.assertEqual(self.mx["strip"].messages, [])
            self.assertEqual(self.mx["taname"].messages, [])
            self.assertEqual(self.mx["taname"].starttls, 1)
            self.assertEqual(m.log_lines(r"to=<u@(bad|servfail|strip|taname|bogus).*status=sent"), [])
        # the validator saw what it had to reject
        self.assertIn("bogus", self.resolver.log().lower())

    def test_not_validating_is_opportunistic(self):
        before = len(self.mx["ok"].subjects())
        with self.moatd(validating=False) as m:
            q = self.send(m, "v@ok.dane.test", "to-ok-unvalidated")
            m.wait_log(r"mx_tls = dane, but dns_validating is off")
            m.wait_log(r"deliver dane destination=ok\.dane\.test mx=insecure level=may")
            m.wait_log(r"deliver connected relay=mx-ok\.dane\.test\[127\.0\.0\.21\]:%d "
                       r"tls=encrypted" % self.mx_port)
            m.wait_log(r"deliver id=%s to=<v@ok\.dane\.test> .* status=sent" % q)
            self.assertEqual(m.log_lines(r"tls=dane"), [])
        wait_for(lambda: len(self.mx["ok"].subjects()) > before, 5, "the message")
        self.assertIn((True, "to-ok-unvalidated"), self.mx["ok"].subjects())

    def test_encrypt_and_none(self):
        """mx_tls = encrypt: no STARTTLS, no delivery; none: never STARTTLS."""
        before = len(self.mx["plain"].subjects())
        with self.moatd(level="encrypt") as m:
            q_strip = self.send(m, "w@strip.dane.test", "to-strip-encrypt")
            q_plain = self.send(m, "w@plain.test", "to-plain-encrypt")
            m.wait_log(r"deliver id=%s to=<w@strip\.dane\.test> .*status=deferred "
                       r"text=\"local: 454 4\.7\.4 TLS is required \(mx_tls = encrypt\)"
                       % q_strip)
            m.wait_log(r"deliver id=%s to=<w@plain\.test> .* status=sent" % q_plain)
            # no TLSA lookups at this level
            self.assertEqual(m.log_lines(r"deliver dane"), [])
        with self.moatd(level="none") as m:
            q = self.send(m, "x@plain.test", "to-plain-none")
            m.wait_log(r"deliver connected relay=mx\.plain\.test\[127\.0\.0\.26\]:%d "
                       r"tls=none" % self.mx_port)
            m.wait_log(r"deliver id=%s to=<x@plain\.test> .* status=sent" % q)
        self.assertEqual(self.mx["strip"].subjects(), [])
        got = self.mx["plain"].subjects()[before:]
        self.assertEqual(sorted(got), [(False, "to-plain-none"), (True, "to-plain-encrypt")])


class DaneConf(unittest.TestCase):
    """mx_tls and dns_validating as moatd -n and -N see them."""

    def test_bad_words_refused_with_file_and_line(self):
        Moatd(extra='mx_tls = "sometimes"\n').assert_refused(
            self, r"moat\.conf:\d+: mx_tls = \"sometimes\": must be \"none\", \"may\", "
                  r"\"encrypt\" or \"dane\"")
        # verify needs a name DNS did not give: refused, with the reason
        Moatd(extra='mx_tls = "verify"\n').assert_refused(
            self, r"moat\.conf:\d+: mx_tls = \"verify\".*use dane")
        Moatd(extra="dns_validating = maybe\n").assert_refused(
            self, r"moat\.conf:\d+: .*dns_validating")

    def test_settings_print(self):
        m = Moatd(extra='mx_tls = "dane"\ndns_validating = true\n')
        self.addCleanup(m.cleanup)
        r = m.check_conf()
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", m.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('mx_tls = "dane"', r.stdout.splitlines())
        self.assertIn("dns_validating = true", r.stdout.splitlines())
        # at their defaults they are not printed
        m2 = Moatd(extra='mx_tls = "may"\n')
        self.addCleanup(m2.cleanup)
        r = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", m2.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("mx_tls", r.stdout)
        self.assertNotIn("dns_validating", r.stdout)


if __name__ == "__main__":
    unittest.main()

"""End-to-end: MTA-STS (RFC 8461) for MX delivery (issue 28, item 3).

Everything real, everything on loopback: a dnsmasq the test starts serves
the MX, A and "_mta-sts" TXT records; the policy comes from Python's
http.server over TLS on port 443 of a loopback address the test picks,
with a certificate for mta-sts.DOMAIN from a test CA made with the openssl
command line; the MX hosts are small SMTP servers with STARTTLS (Python's
ssl, certificates from the same CA) on other loopback addresses. moatd
trusts the test CA through outbound_ca_file and may deliver to loopback
through relay_to_private, as the other MX tests do.

Shown: enforce refuses an MX outside the policy (nothing reaches it; the
mail is deferred); enforce with a matching MX and a good certificate
delivers with tls=verified; enforce with a certificate for another name
defers; testing mode with a mismatch delivers and logs the would-be
failure; a changed TXT id fetches the policy again (an unchanged one does
not); with the HTTPS server gone, the cached policy (kept in the state
store across a restart of moatd) still applies. What MTA-STS did is
counted in moatctl stats and the metrics: policies fetched, cached and
failed, MX hosts that failed an enforce or a testing policy.
"""

import http.server
import os
import random
import re
import socket
import ssl
import subprocess
import threading
import time
import unittest

from harness import BIN, Moatd, free_port, make_tmpdir, message, moatctl
from peers import Dnsmasq
from test_control import wait_for
from test_metrics import get, key, parse


# ---- a test CA and its certificates (openssl command line) ----

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TestCA:
    """A CA in dir; cert(name) issues a server certificate for name."""

    def __init__(self):
        self.dir = make_tmpdir("moat-sts-ca-")
        self.ca_cert = os.path.join(self.dir, "ca.pem")
        self.ca_key = os.path.join(self.dir, "ca.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=moat test CA", "-keyout", self.ca_key,
                "-out", self.ca_cert, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        os.chmod(self.ca_cert, 0o644)

    def cert(self, name):
        """(certfile, keyfile) for name, signed by this CA."""
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        if os.path.exists(crt):
            return crt, key
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                "-keyout", key, "-out", csr, cwd=self.dir)
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n" % name)
        openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt, cwd=self.dir)
        return crt, key


_used_ips = set()


def loopback_ip(port):
    """A 127.x.y.z address where port is free (the test runs as root, and
    others' tests run beside it: a random one, checked by binding)."""
    for _ in range(200):
        ip = "127.%d.%d.%d" % (random.randint(60, 250), random.randint(0, 255),
                               random.randint(2, 250))
        if ip in _used_ips:
            continue
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
        _used_ips.add(ip)
        return ip
    raise RuntimeError("no free loopback address for port %d" % port)


# ---- the policy's HTTPS server ----

class PolicyServer:
    """https://mta-sts.DOMAIN/.well-known/mta-sts.txt on ip:443: serves
    self.policy with self.status and self.content_type (text/plain),
    headers added from self.headers; counts the requests it answered."""

    def __init__(self, ca, domain, policy, cert_name=None):
        self.ip = loopback_ip(443)
        self.domain = domain
        self.policy = policy
        self.status = 200
        self.content_type = "text/plain"
        self.headers = {}
        self.requests = 0
        self.certfile, self.keyfile = ca.cert(cert_name or "mta-sts." + domain)
        self.httpd = None

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                outer.requests += 1
                body = outer.policy.encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                for k, v in outer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((self.ip, 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.certfile, self.keyfile)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---- an MX host: SMTP with STARTTLS ----

class TlsMx:
    """A small SMTP server on ip:port offering STARTTLS with a certificate
    for cert_name. self.messages: (tls, sni, data) of each message taken;
    self.sessions: the connections it took; self.starttls: the STARTTLS
    commands it said 220 to."""

    def __init__(self, ca, name, port, cert_name=None):
        self.name = name
        self.ip = loopback_ip(port)
        self.port = port
        self.certfile, self.keyfile = ca.cert(cert_name or name)
        self.messages = []
        self.sessions = 0
        self.starttls = 0
        self.sock = None

    def start(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.certfile, self.keyfile)
        self.sni = {}

        def sni_cb(sslsock, server_name, ctx):
            self.sni[id(sslsock)] = server_name

        self.ctx.sni_callback = sni_cb
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.ip, self.port))
        self.sock.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()
        return self

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.sessions += 1
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        c.settimeout(30)
        f = c.makefile("rb")
        tls, sni = False, None

        def say(text):
            c.sendall(text.encode() + b"\r\n")

        try:
            say("220 %s ESMTP" % self.name)
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    if tls:
                        say("250 %s" % self.name)
                    else:
                        say("250-%s\r\n250 STARTTLS" % self.name)
                elif verb == "HELO":
                    say("250 %s" % self.name)
                elif verb == "STARTTLS" and not tls:
                    say("220 go ahead")
                    self.starttls += 1
                    try:
                        c = self.ctx.wrap_socket(c, server_side=True)
                    except (ssl.SSLError, OSError):
                        return
                    sni = self.sni.pop(id(c), None)
                    f = c.makefile("rb")
                    tls = True
                elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        data += l
                    self.messages.append((tls, sni, data.decode(errors="replace")))
                    say("250 taken")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 no")
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def subjects(self):
        return [re.search(r"^Subject: (.*)$", d, re.M).group(1).strip()
                for _, _, d in self.messages]

    def stop(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---- the world of one test ----

def dns_for(mx, hosts, txt):
    """A Dnsmasq: mx {domain: [host]}, hosts {name: ip}, txt {domain: id}."""
    extra = ["--local=/test/"]
    for dom, names in mx.items():
        for i, name in enumerate(names):
            extra.append("--mx-host=%s,%s,%d" % (dom, name, 10 * (i + 1)))
    for dom, sts_id in txt.items():
        # no shell: dnsmasq would keep quotes as part of the text
        extra.append("--txt-record=_mta-sts.%s,v=STSv1; id=%s;" % (dom, sts_id))
    return Dnsmasq(hosts=hosts, extra=extra)


def send(m, rcpt, subject):
    s = m.smtp()
    s.ehlo()
    s.mail("alice@example.test")
    code, resp = s.rcpt(rcpt)
    assert code == 250, (rcpt, code, resp)
    code, resp = s.data(message(subject=subject, frm="alice@example.test", to=rcpt))
    assert code == 250, resp
    s.quit()
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


def retry(test, m, qid):
    """moatctl queue retry: the message now, its destination looked up anew."""
    r = moatctl(m, "queue", "retry", qid)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def sts_stats(test, m, **want):
    """moatctl stats, once its mta_sts_* counters are want (they reach the
    store every second); the others must be 0."""
    names = ("fetched", "cached", "failed", "enforce_failed", "testing_failed")
    want = {n: want.get(n, 0) for n in names}

    def got():
        r = moatctl(m, "stats")
        test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = dict(re.findall(r"(\w+)=(\d+)", r.stdout))
        return {n: int(st["mta_sts_" + n]) for n in names}
    try:
        wait_for(lambda: got() == want, 10, "mta_sts_* = %r" % want)
    except AssertionError:
        test.assertEqual(got(), want)


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join("mx: %s\r\n" % m for m in mx), max_age)


def moatd(ca, dns, mx_port, extra="", limits=None):
    return Moatd(trusted=["127.0.0.1/32"], dns_servers=[dns.server()], relayhost=None,
                 extra='relay_to_private = true\noutbound_ca_file = "%s"\n%s'
                 % (ca.ca_cert, extra),
                 limits=dict({"mx_port": mx_port, "retry_min": 1, "retry_max": 2},
                             **(limits or {})))


class MtaSts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = TestCA()

    def test_enforce_refuses_an_mx_outside_the_policy(self):
        port, mport = free_port(), free_port()
        with TlsMx(self.ca, "mx.elsewhere.test", port) as outside, \
                PolicyServer(self.ca, "out.test",
                             policy("enforce", "mx1.out.test")) as web, \
                dns_for({"out.test": ["mx.elsewhere.test"]},
                        {"mx.elsewhere.test": outside.ip, "mta-sts.out.test": web.ip},
                        {"out.test": "one"}) as dns, \
                moatd(self.ca, dns, port,
                      extra='metrics_listen = "127.0.0.1:%d"\n' % mport) as m:
            qid = send(m, "bob@out.test", "to-outside")
            m.wait_log(r"mta-sts domain=out\.test id=one fetch=ok mode=enforce")
            m.wait_log(r"deliver mta-sts domain=out\.test mx=mx\.elsewhere\.test "
                       r"mode=enforce action=skipped reason=\"not in the policy\"")
            m.wait_log(r"deliver id=%s to=<bob@out\.test> .*status=deferred "
                       r"text=\"4\.7\.5 mta-sts: no MX host of out\.test matches" % qid)
            # tried again at once (the destination is looked up anew): the
            # policy comes from the cache, with the same result
            retry(self, m, qid)
            m.wait_log(r"deliver mta-sts domain=out\.test mx=mx\.elsewhere\.test .*action=skipped",
                       count=2)
            m.wait_log(r"deliver id=%s to=<bob@out\.test> .*attempt=2 status=deferred" % qid)
            self.assertEqual(outside.messages, [])
            self.assertEqual(outside.sessions, 0)
            self.assertEqual(web.requests, 1)
            self.assertIn(qid, m.queue_files())
            # fetched once, then the cached policy; the host refused twice
            sts_stats(self, m, fetched=1, cached=1, enforce_failed=2)
            samples, types = parse(get(mport)[2])
            self.assertEqual(types["moat_mta_sts_lookups"], "counter")
            self.assertEqual(types["moat_mta_sts_failures"], "counter")
            self.assertEqual(samples[key("moat_mta_sts_lookups_total", result="fetched")], 1)
            self.assertEqual(samples[key("moat_mta_sts_lookups_total", result="cached")], 1)
            self.assertEqual(samples[key("moat_mta_sts_failures_total", mode="enforce")], 2)
            self.assertNotIn(key("moat_mta_sts_lookups_total", result="failed"), samples)
            self.assertNotIn(key("moat_mta_sts_failures_total", mode="testing"), samples)

    def test_enforce_matching_mx_verified(self):
        port = free_port()
        # the preferred MX host is outside the policy: skipped for the next
        with TlsMx(self.ca, "mx1.good.test", port) as mx, \
                TlsMx(self.ca, "mx0.elsewhere.test", port) as outside, \
                PolicyServer(self.ca, "good.test",
                             policy("enforce", "*.good.test")) as web, \
                dns_for({"good.test": ["mx0.elsewhere.test", "mx1.good.test"]},
                        {"mx1.good.test": mx.ip, "mx0.elsewhere.test": outside.ip,
                         "mta-sts.good.test": web.ip},
                        {"good.test": "20260101"}) as dns, \
                moatd(self.ca, dns, port) as m:
            qid = send(m, "bob@good.test", "to-good")
            m.wait_log(r"deliver mta-sts domain=good\.test mx=mx0\.elsewhere\.test "
                       r"mode=enforce action=skipped")
            m.wait_log(r"deliver connected relay=mx1\.good\.test\[%s\]:%d "
                       r"tls=verified tls_proto=\S+ tls_cipher=\S+ mta-sts=enforce"
                       % (re.escape(mx.ip), port))
            m.wait_log(r"deliver id=%s to=<bob@good\.test> relay=mx1\.good\.test.* "
                       r"status=sent" % qid)
            self.assertEqual(mx.subjects(), ["to-good"])
            tls, sni, _ = mx.messages[0]
            self.assertTrue(tls)
            # the MX host's name went as SNI: the name the certificate is checked for
            self.assertEqual(sni, "mx1.good.test")
            self.assertEqual(web.requests, 1)
            self.assertEqual(outside.sessions, 0)

    def test_enforce_certificate_for_another_name_defers(self):
        port = free_port()
        with TlsMx(self.ca, "mx1.bad.test", port, cert_name="wrong.test") as mx, \
                PolicyServer(self.ca, "bad.test", policy("enforce", "mx1.bad.test")) as web, \
                dns_for({"bad.test": ["mx1.bad.test"]},
                        {"mx1.bad.test": mx.ip, "mta-sts.bad.test": web.ip},
                        {"bad.test": "x1"}) as dns, \
                moatd(self.ca, dns, port) as m:
            qid = send(m, "bob@bad.test", "to-bad")
            m.wait_log(r"deliver id=%s to=<bob@bad\.test> .*status=deferred "
                       r"text=\"local: 454 4\.7\.5 mta-sts enforce: mx1\.bad\.test: "
                       r"certificate not verified: [^\"]*hostname mismatch" % qid)
            # TLS was begun (and judged), and the mail was not sent in it
            # or after it in plain text
            self.assertGreaterEqual(mx.starttls, 1)
            self.assertEqual(mx.messages, [])
            self.assertEqual(m.log_lines(r"to=<bob@bad\.test> .*status=sent"), [])

    def test_testing_mode_mismatch_delivers_and_logs(self):
        port = free_port()
        with TlsMx(self.ca, "mx9.try.test", port, cert_name="wrong.test") as mx, \
                PolicyServer(self.ca, "try.test", policy("testing", "mx1.try.test")) as web, \
                dns_for({"try.test": ["mx9.try.test"]},
                        {"mx9.try.test": mx.ip, "mta-sts.try.test": web.ip},
                        {"try.test": "t1"}) as dns, \
                moatd(self.ca, dns, port) as m:
            qid = send(m, "bob@try.test", "to-try")
            m.wait_log(r"mta-sts domain=try\.test id=t1 fetch=ok mode=testing")
            m.wait_log(r"mta-sts testing: would fail: domain=try\.test mx=mx9\.try\.test "
                       r"reason=\"not in the policy\"")
            m.wait_log(r"deliver id=%s to=<bob@try\.test> .*status=sent" % qid)
            self.assertEqual(mx.subjects(), ["to-try"])
            self.assertEqual(m.log_lines(r"tls=verified"), [])
            # the host outside the policy; its certificate is then not judged
            # again (the host is reported once)
            sts_stats(self, m, fetched=1, testing_failed=1)

    def test_testing_mode_bad_certificate_delivers_and_logs(self):
        port = free_port()
        with TlsMx(self.ca, "mx1.try2.test", port, cert_name="wrong.test") as mx, \
                PolicyServer(self.ca, "try2.test", policy("testing", "mx1.try2.test")) as web, \
                dns_for({"try2.test": ["mx1.try2.test"]},
                        {"mx1.try2.test": mx.ip, "mta-sts.try2.test": web.ip},
                        {"try2.test": "t2"}) as dns, \
                moatd(self.ca, dns, port) as m:
            qid = send(m, "bob@try2.test", "to-try2")
            m.wait_log(r"mta-sts testing: would fail: domain=try2\.test "
                       r"relay=mx1\.try2\.test\[.* reason=\"certificate not verified")
            m.wait_log(r"deliver id=%s to=<bob@try2\.test> .*status=sent" % qid)
            self.assertEqual(mx.subjects(), ["to-try2"])

    def test_changed_id_refreshes_the_policy(self):
        port = free_port()
        with TlsMx(self.ca, "mx1.ref.test", port) as mx, \
                PolicyServer(self.ca, "ref.test",
                             policy("enforce", "mx-old.ref.test")) as web:
            hosts = {"mx1.ref.test": mx.ip, "mta-sts.ref.test": web.ip}
            dns = dns_for({"ref.test": ["mx1.ref.test"]}, hosts, {"ref.test": "v1"}).start()
            try:
                with moatd(self.ca, dns, port) as m:
                    qid = send(m, "bob@ref.test", "to-ref")
                    m.wait_log(r"deliver mta-sts domain=ref\.test mx=mx1\.ref\.test .*action=skipped")
                    m.wait_log(r"deliver id=%s .*attempt=1 status=deferred" % qid)
                    # a new policy on the server, the id unchanged: not fetched
                    web.policy = policy("enforce", "mx1.ref.test")
                    retry(self, m, qid)
                    m.wait_log(r"deliver mta-sts domain=ref\.test mx=mx1\.ref\.test .*action=skipped",
                               count=2)
                    m.wait_log(r"deliver id=%s .*attempt=2 status=deferred" % qid)
                    self.assertEqual(web.requests, 1)
                    self.assertEqual(mx.messages, [])
                    # the id changes: fetched again, and the mail goes
                    dns.stop()
                    dns.extra = [e.replace("id=v1;", "id=v2;") for e in dns.extra]
                    dns.start()
                    time.sleep(1.5)  # moatd's DNS cache keeps the old TXT a second
                    retry(self, m, qid)
                    m.wait_log(r"mta-sts domain=ref\.test id=v2 cached-id=v1 "
                               r"refresh=id-changed", timeout=30)
                    m.wait_log(r"deliver id=%s to=<bob@ref\.test> relay=mx1\.ref\.test.* "
                               r"status=sent" % qid, timeout=30)
                    self.assertEqual(web.requests, 2)
                    self.assertEqual(mx.subjects(), ["to-ref"])
            finally:
                dns.stop()

    def test_cached_policy_applies_with_the_server_down(self):
        port = free_port()
        with TlsMx(self.ca, "mx1.cache.test", port) as mx, \
                TlsMx(self.ca, "mx9.cache.test", port) as outside:
            web = PolicyServer(self.ca, "cache.test",
                               policy("enforce", "mx1.cache.test")).start()
            hosts = {"mx1.cache.test": mx.ip, "mx9.cache.test": outside.ip,
                     "mta-sts.cache.test": web.ip}
            dns = dns_for({"cache.test": ["mx1.cache.test"]}, hosts,
                          {"cache.test": "c1"}).start()
            m = moatd(self.ca, dns, port)
            try:
                m.start()
                send(m, "bob@cache.test", "first")
                m.wait_log(r"to=<bob@cache\.test> relay=mx1\.cache\.test.* status=sent")
                self.assertEqual(web.requests, 1)
                m.stop()
                # the policy's server goes away; the domain points its MX
                # elsewhere and publishes a new id: the fetch fails, and
                # the policy kept in the state store (across the restart)
                # still says where mail may go
                web.stop()
                dns.stop()
                dns = dns_for({"cache.test": ["mx9.cache.test"]}, hosts,
                              {"cache.test": "c2"}).start()
                m.dns_servers = [dns.server()]
                m.write_conf()
                m.start()
                qid = send(m, "bob@cache.test", "second")
                m.wait_log(r"mta-sts domain=cache\.test id=c2 fetch=failed reason=.* "
                           r"policy=cached")
                m.wait_log(r"deliver mta-sts domain=cache\.test mx=mx9\.cache\.test .*action=skipped")
                m.wait_log(r"deliver id=%s to=<bob@cache\.test> .*status=deferred "
                           r"text=\"4\.7\.5 mta-sts" % qid)
                self.assertEqual(outside.messages, [])
                self.assertEqual(mx.subjects(), ["first"])
                m.stop()
                m.cleanup()
            except BaseException:
                m.stop(check=False)
                print("moatd left in %s" % m.dir)
                raise
            finally:
                web.stop()
                dns.stop()


class FetchRules(unittest.TestCase):
    def test_what_a_policy_fetch_refuses(self):
        """RFC 8461 §3.3: another media type, over 64 KiB, a redirect, a
        certificate from an unknown CA and one for another name each fail
        the fetch; with nothing
        cached the domain then has no policy, and its mail goes to an MX
        host its (unread) enforce policy does not name."""
        ca, rogue_ca = TestCA(), TestCA()
        port = free_port()
        doms = ("html.test", "big.test", "moved.test", "rogue.test", "misnamed.test")
        with TlsMx(ca, "mx.elsewhere.test", port) as outside:
            webs = {d: PolicyServer(rogue_ca if d == "rogue.test" else ca, d,
                                    policy("enforce", "mx1." + d),
                                    cert_name="mta-sts.other.test"
                                    if d == "misnamed.test" else None) for d in doms}
            webs["html.test"].content_type = "text/html"
            webs["big.test"].policy = policy("enforce", "mx1.big.test") + \
                "x: %s\r\n" % ("y" * 70000)
            target = PolicyServer(ca, "target.test", policy("none"))
            webs["moved.test"].status = 301
            webs["moved.test"].headers = {
                "Location": "https://mta-sts.target.test/.well-known/mta-sts.txt"}
            for w in list(webs.values()) + [target]:
                w.start()
            hosts = {"mx.elsewhere.test": outside.ip, "mta-sts.target.test": target.ip}
            hosts.update({"mta-sts." + d: w.ip for d, w in webs.items()})
            try:
                with dns_for({d: ["mx.elsewhere.test"] for d in doms}, hosts,
                             {d: "f1" for d in doms}) as dns, \
                        moatd(ca, dns, port) as m:
                    for d in doms:
                        send(m, "bob@" + d, "to-" + d)
                    reasons = {
                        "html.test": r"media type is not text/plain",
                        "big.test": r"[Mm]aximum file size exceeded|larger than 64 KiB",
                        "moved.test": r"HTTP status 301",
                        "rogue.test": r"SSL certificate problem",
                        "misnamed.test": r"subject name|does not match|no alternative",
                    }
                    for d, why in reasons.items():
                        m.wait_log(r"mta-sts domain=%s id=f1 fetch=failed reason=\"[^\"]*"
                                   r"(%s)[^\"]*\" policy=none" % (re.escape(d), why))
                        m.wait_log(r"deliver id=\w+ to=<bob@%s> relay=mx\.elsewhere\.test"
                                   r".* status=sent" % re.escape(d))
                    self.assertEqual(sorted(outside.subjects()),
                                     sorted("to-" + d for d in doms))
                    self.assertEqual(m.log_lines(r"fetch=ok"), [])
                    # the redirect was not followed
                    self.assertEqual(target.requests, 0)
                    self.assertEqual(webs["moved.test"].requests, 1)
                    # the certificates stopped the requests
                    self.assertEqual(webs["rogue.test"].requests, 0)
                    self.assertEqual(webs["misnamed.test"].requests, 0)
                    sts_stats(self, m, failed=len(doms))
            finally:
                for w in list(webs.values()) + [target]:
                    w.stop()


class SilentServer:
    """ip:443 that accepts connections and never says a word."""

    def __init__(self):
        self.ip = loopback_ip(443)
        self.conns = []

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind((self.ip, 443))
        self.sock.listen(8)

        def accept():
            while True:
                try:
                    c, _ = self.sock.accept()
                except OSError:
                    return
                self.conns.append(c)

        threading.Thread(target=accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        for c in self.conns:
            c.close()
        return False


class SilentPolicyServer(unittest.TestCase):
    def test_stop_during_a_fetch_and_the_fetch_timeout(self):
        """A policy server that never answers: moatd stopped while the
        fetch waits ends it cleanly (the sanitizers find nothing); left
        alone, the fetch gives up after its timeout and the mail goes as
        without a policy."""
        ca = TestCA()
        port = free_port()
        with TlsMx(ca, "mx.elsewhere.test", port) as outside, SilentServer() as web, \
                dns_for({"hang.test": ["mx.elsewhere.test"]},
                        {"mx.elsewhere.test": outside.ip, "mta-sts.hang.test": web.ip},
                        {"hang.test": "h1"}) as dns:
            m = moatd(ca, dns, port)
            m.start()
            try:
                send(m, "bob@hang.test", "to-hang")
                deadline = time.time() + 10
                while not web.conns and time.time() < deadline:
                    time.sleep(0.05)
                self.assertTrue(web.conns, "the fetch never connected")
                m.stop()  # checks the log for sanitizer reports
                self.assertEqual(outside.sessions, 0)
                m.start()
                m.wait_log(r"mta-sts domain=hang\.test id=h1 fetch=failed "
                           r"reason=\"[^\"]*[Tt]ime(d )?out[^\"]*\" policy=none", timeout=40)
                m.wait_log(r"to=<bob@hang\.test> relay=mx\.elsewhere\.test.* status=sent")
                self.assertEqual(outside.subjects(), ["to-hang"])
            except BaseException:
                m.stop(check=False)
                print("moatd left in %s" % m.dir)
                raise
            m.stop()
            m.cleanup()


class FetchBound(unittest.TestCase):
    def test_fetches_beyond_the_bound_wait_their_turn(self):
        """mta_sts_fetches_max = 1: while the fetch of a server that never
        answers holds the one slot, another domain's fetch waits; its mail
        waits with it (not deferred), and goes once the slot is free."""
        ca = TestCA()
        port = free_port()
        with TlsMx(ca, "mx.elsewhere.test", port) as outside, SilentServer() as hang, \
                PolicyServer(ca, "next.test", policy("testing", "mx.elsewhere.test")) as web, \
                dns_for({"hang.test": ["mx.elsewhere.test"],
                         "next.test": ["mx.elsewhere.test"]},
                        {"mx.elsewhere.test": outside.ip, "mta-sts.hang.test": hang.ip,
                         "mta-sts.next.test": web.ip},
                        {"hang.test": "h1", "next.test": "n1"}) as dns, \
                moatd(ca, dns, port, limits={"mta_sts_fetches_max": 1}) as m:
            started = time.time()
            send(m, "bob@hang.test", "to-hang")
            wait_for(lambda: hang.conns, 10, "the first fetch to connect")
            qid = send(m, "bob@next.test", "to-next")
            # the second lookup reached its fetch, which waits for the slot
            wait_for(lambda: "_mta-sts.next.test" in dns.log(), 10,
                     "the TXT lookup of next.test")
            time.sleep(3)
            self.assertEqual(web.requests, 0)
            self.assertEqual(m.log_lines(r"to=<bob@next\.test>"), [])
            # the first fetch times out; then the second runs, and the mail goes
            m.wait_log(r"mta-sts domain=hang\.test id=h1 fetch=failed", timeout=40)
            m.wait_log(r"mta-sts domain=next\.test id=n1 fetch=ok mode=testing", timeout=20)
            m.wait_log(r"deliver id=%s to=<bob@next\.test> .*status=sent" % qid)
            self.assertGreater(time.time() - started, 15)
            self.assertEqual(web.requests, 1)
            self.assertEqual(len(m.log_lines(r"to=<bob@next\.test>")), 1)
            sts_stats(self, m, fetched=1, failed=1)


class MtaStsPrivate(unittest.TestCase):
    def test_policy_host_at_a_private_address_is_not_fetched(self):
        """Without relay_to_private, mta-sts.DOMAIN at a loopback address is
        refused as an MX host there would be: no request reaches it."""
        ca = TestCA()
        port = free_port()
        with TlsMx(ca, "mx1.priv.test", port) as mx, \
                PolicyServer(ca, "priv.test", policy("enforce", "mx1.priv.test")) as web, \
                dns_for({"priv.test": ["mx1.priv.test"]},
                        {"mx1.priv.test": mx.ip, "mta-sts.priv.test": web.ip},
                        {"priv.test": "p1"}) as dns, \
                Moatd(trusted=["127.0.0.1/32"], dns_servers=[dns.server()], relayhost=None,
                      extra='outbound_ca_file = "%s"\n' % ca.ca_cert,
                      limits={"mx_port": port, "retry_min": 1}) as m:
            qid = send(m, "bob@priv.test", "to-priv")
            m.wait_log(r"mta-sts refused host=mta-sts\.priv\.test address=%s "
                       r"reason=private-address" % re.escape(web.ip))
            m.wait_log(r"mta-sts domain=priv\.test id=p1 fetch=failed "
                       r"reason=\"%s is a private address\" policy=none" % re.escape(web.ip))
            # the MX at loopback is refused too, as ever: a bounce
            m.wait_log(r"deliver id=%s to=<bob@priv\.test> .*status=bounced" % qid)
            self.assertEqual(web.requests, 0)
            self.assertEqual(mx.sessions, 0)


class MtaStsOff(unittest.TestCase):
    def test_off_delivers_as_before(self):
        """mta_sts = false: no TXT lookup, no fetch; the enforce policy
        published for the domain is not applied."""
        ca = TestCA()
        port = free_port()
        with TlsMx(ca, "mx.elsewhere.test", port) as outside, \
                PolicyServer(ca, "off.test", policy("enforce", "mx1.off.test")) as web, \
                dns_for({"off.test": ["mx.elsewhere.test"]},
                        {"mx.elsewhere.test": outside.ip, "mta-sts.off.test": web.ip},
                        {"off.test": "o1"}) as dns, \
                moatd(ca, dns, port, extra="mta_sts = false\n") as m:
            qid = send(m, "bob@off.test", "to-off")
            m.wait_log(r"deliver id=%s to=<bob@off\.test> .*status=sent" % qid)
            self.assertEqual(outside.subjects(), ["to-off"])
            self.assertEqual(web.requests, 0)
            self.assertNotIn("_mta-sts", dns.log())


class MtaStsConf(unittest.TestCase):
    def test_settings_printed_and_a_missing_ca_file_refused(self):
        ca = TestCA()
        m = Moatd(extra='mta_sts = false\noutbound_ca_file = "%s"\n' % ca.ca_cert)
        self.addCleanup(m.cleanup)
        r = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", m.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
        self.assertEqual(got["mta_sts"], "false")
        self.assertEqual(got["outbound_ca_file"], '"%s"' % ca.ca_cert)
        # at its default (on), not printed
        m2 = Moatd(extra="mta_sts = true\n")
        self.addCleanup(m2.cleanup)
        r = subprocess.run([os.path.join(BIN, "moatd"), "-N", "-c", m2.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("mta_sts", r.stdout)
        self.assertNotIn("outbound_ca_file", r.stdout)
        # a CA file that is not there: file:line and a non-zero exit
        bad = Moatd(extra='outbound_ca_file = "/nonexistent/ca.pem"\n')
        bad.assert_refused(self, r"moat\.conf:\d+: .*outbound_ca_file = "
                                 r"\"/nonexistent/ca\.pem\": No such file")


if __name__ == "__main__":
    unittest.main()

"""End-to-end: the findings of the security review (issue 20).

Each class is one finding, against the real daemon and real peers:
dnsmasq for DNS (on loopback, in a private network namespace where a test
needs client or server addresses that are not loopback), Dovecot's auth
socket, Postfix's smtp-sink as the next hop. Nothing here can send a packet
off the machine: a namespace made with unshare(CLONE_NEWNET) has only the
interfaces the test puts in it.
"""

import os
import re
import socket
import struct
import subprocess
import time
import unittest

from harness import SANITIZER_MARKS, Moatd
from peers import Dnsmasq
from test_screening import EXAMPLE, NetNamespace, ScreenTest, bye, connect


DNS_PTR = 12


def reverse_v4(addr):
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa"


def raw_answer(port, name, qtype):
    """The raw DNS answer of 127.0.0.1:port to one question."""
    q = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(65535)


def no_sanitizer_report(test, m):
    text = m.log()
    for mark in SANITIZER_MARKS:
        test.assertNotIn(mark, text)


# ---- a PTR that c-ares answers itself (RFC 7686 .onion) ----

# Global addresses, which exist only inside the namespace.
ONION_CLIENT, ONION_CLIENT2, PLAIN_CLIENT = "11.22.44.5", "11.22.44.6", "11.22.44.7"


class OnionPtr(ScreenTest):
    """The client's PTR names a .onion host. c-ares answers a query for a
    .onion name itself (RFC 7686 §2: never sent to DNS), inside the
    ares_query() call: the forward lookup of forward-confirmed reverse DNS
    completes before the call returns. The session must simply see no
    confirmed name; the worker must not touch the freed lookup (ASan)."""

    @classmethod
    def setUpClass(cls):
        cls.ns = NetNamespace([ONION_CLIENT, ONION_CLIENT2, PLAIN_CLIENT])
        cls.ns.enter()
        cls.addClassCleanup(cls.ns.leave)
        cls.dns = cls.peer(Dnsmasq(hosts={"plain.onion-test.test": PLAIN_CLIENT}, extra=[
            "--local=/test/", "--local=/44.22.11.in-addr.arpa/",
            "--ptr-record=%s,x.onion" % reverse_v4(ONION_CLIENT),
            "--ptr-record=%s,mail.hidden.onion" % reverse_v4(ONION_CLIENT2),
            "--ptr-record=%s,plain.onion-test.test" % reverse_v4(PLAIN_CLIENT)]))
        # fcrdns = reject: the refusal proves the lookup ended as "no name"
        cls.m = cls.moatd(dns_servers=[cls.dns.server()],
                          extra='screen {\n\tfcrdns = "reject"\n}\n')
        cls.mscore = cls.moatd(dns_servers=[cls.dns.server()],
                               limits={"fcrdns_score": 2, "dnsbl_threshold": 5},
                               extra='screen {\n\tfcrdns = "score"\n}\n')

    def test_dns_serves_the_onion_ptr(self):
        self.assertIn(b"\x01x\x05onion\x00", raw_answer(self.dns.port, reverse_v4(ONION_CLIENT),
                                                       DNS_PTR))

    def test_onion_ptr_is_no_name(self):
        for client in (ONION_CLIENT, ONION_CLIENT2):
            mark = self.mark()
            c, lines = self.refused_at_connect(client, 554, "5.7.1")
            self.assertIn("cannot find your hostname", lines[-1])
            self.expect_screen(c, "reject", "fcrdns", mark,
                               extra=r" score=\S+ name=unknown fcrdns=none")
            # the same worker serves the next client: it did not crash
            c = self.greeted(PLAIN_CLIENT)
            bye(c)
            no_sanitizer_report(self, self.m)

    def test_onion_ptr_scored_session_goes_on(self):
        mark = self.mark(self.mscore)
        c = self.greeted(ONION_CLIENT, m=self.mscore)
        self.expect_screen(c, "pass", "all-stages", mark, m=self.mscore,
                           extra=r" score=2 name=unknown fcrdns=none$")
        self.ehlo(c)
        self.envelope(c, "someone@elsewhere.test", "alice@example.test")
        self.deliver(c)
        bye(c)
        no_sanitizer_report(self, self.mscore)


if __name__ == "__main__":
    unittest.main()

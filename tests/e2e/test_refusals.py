"""End-to-end: every refusal is one reply and one log line, from the same
values (issue 21: one refusal writer).

Each row is a short session that provokes refusals; every 4xx/5xx reply the
client hears (and the 221 to a web request) must have exactly one
"smtp refuse" line for that connection, in the same order, with the same
code and enhanced status code, and no refusal may be logged that the client
did not hear.
"""

import re
import unittest

from harness import Moatd

LONG = "x" * 600
HUGE_AUTH = "AUTH PLAIN " + "A" * 13000

# name, the lines to send (each answered before the next goes out), and the
# rule of each refusal in the order they come
ROWS = [
    ("unknown command", ["FOO"], ["unknown-command"]),
    ("MAIL before EHLO", ["MAIL FROM:<a@remote.test>"], ["bad-sequence"]),
    ("RCPT before MAIL", ["EHLO c.test", "RCPT TO:<alice@example.test>"],
     ["bad-sequence"]),
    ("nested MAIL", ["EHLO c.test", "MAIL FROM:<a@remote.test>", "MAIL FROM:<a@remote.test>"],
     ["bad-sequence"]),
    ("EHLO without a name", ["EHLO"], ["syntax"]),
    ("MAIL without brackets", ["EHLO c.test", "MAIL FROM:a@remote.test"], ["syntax"]),
    ("unknown MAIL parameter", ["EHLO c.test", "MAIL FROM:<a@remote.test> FOO=BAR"],
     ["syntax"]),
    ("SIZE too big", ["EHLO c.test", "MAIL FROM:<a@remote.test> SIZE=99999999999"],
     ["size"]),
    ("unknown user", ["EHLO c.test", "MAIL FROM:<a@remote.test>",
                      "RCPT TO:<nobody@example.test>"], ["unknown-user"]),
    ("relay denied", ["EHLO c.test", "MAIL FROM:<a@remote.test>",
                      "RCPT TO:<x@elsewhere.test>"], ["relay-denied"]),
    ("percent hack", ["EHLO c.test", "MAIL FROM:<a@remote.test>",
                      "RCPT TO:<x%elsewhere.test@example.test>"], ["relay-trick"]),
    ("DATA without recipients", ["EHLO c.test", "MAIL FROM:<a@remote.test>", "DATA"],
     ["no-recipients"]),
    ("command line too long", [LONG], ["line-too-long"]),
    ("AUTH line too long", [HUGE_AUTH], ["line-too-long"]),
    ("AUTH on the MX", ["EHLO c.test", "AUTH PLAIN"], ["auth-not-offered"]),
    ("EXPN", ["EXPN staff"], ["not-implemented"]),
    ("STARTTLS without TLS", ["EHLO c.test", "STARTTLS"], ["not-implemented"]),
    ("bare LF", ["NOOP\n"], ["bare-newline"]),
    ("web request", ["GET / HTTP/1.0"], ["http-command"]),
    ("several in one session", ["FOO", "EHLO", "EHLO c.test", "RCPT TO:<a@example.test>",
                                "MAIL FROM:<a@remote.test>", "RCPT TO:<x@elsewhere.test>",
                                "RCPT TO:<bob@example.test>", "RSET"],
     ["unknown-command", "syntax", "bad-sequence", "relay-denied"]),
]


def logfmt(text):
    """key=value fields as moatd(8) writes them: a value is bare, or in
    double quotes with \\" and \\\\ inside"""
    fields, i = [], 0
    while i < len(text):
        j = text.index("=", i)
        key, i = text[i:j], j + 1
        if i < len(text) and text[i] == '"':
            i, val = i + 1, ""
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                val += text[i]
                i += 1
            i += 1
        else:
            j = text.find(" ", i)
            j = len(text) if j == -1 else j
            val, i = text[i:j], j
        fields.append((key, val))
        while i < len(text) and text[i] == " ":
            i += 1
    return fields


def status(line):
    """'550 5.1.1 text' -> '550 5.1.1'; '220 text' -> '220'"""
    m = re.match(r"(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})?", line)
    return m.group(1) + (" " + m.group(2) if m.group(2) else "")


class RefusalLines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # no tarpit: the rows run one after another
        cls.m = Moatd(limits={"tarpit_step_ms": 0, "errors_max": 50})
        cls.m.start()

    @classmethod
    def tearDownClass(cls):
        cls.m.stop()

    def session(self, lines):
        c = self.m.raw()
        port = c.sock.getsockname()[1]
        code, _ = c.reply()
        self.assertEqual(code, 220)
        heard = []
        for line in lines:
            c.send(line if line.endswith("\n") else line + "\r\n")
            code, text = c.reply()
            if code >= 400 or (code == 221 and line.startswith("GET")):
                heard.append(status(text[-1]))
        c.close()
        return port, heard

    def test_an_address_cannot_forge_a_log_field(self):
        """Issue 20: a quoted local part full of key=value text stays one
        escaped value of the refusal line."""
        forged = '"x> client=203.0.113.9:25 rule=ok addr=<y"@evil.test'
        port, heard = self.session(["EHLO c.test", "MAIL FROM:<a@remote.test>",
                                    "RCPT TO:<%s>" % forged])
        self.assertEqual(heard, ["554 5.7.1"])
        self.m.wait_log(r"smtp disconnect sid=\w+ client=127\.0\.0\.1:%d " % port)
        line = self.m.log_lines(r"smtp refuse sid=\w+ client=127\.0\.0\.1:%d " % port)[0]
        fields = logfmt(line.split(" smtp refuse ", 1)[1])
        keys = [k for k, _ in fields]
        self.assertEqual(len(keys), len(set(keys)), fields)  # no field twice
        self.assertEqual(dict(fields)["client"], "127.0.0.1:%d" % port)
        self.assertEqual(dict(fields)["rule"], "relay-denied")
        self.assertEqual(dict(fields)["addr"], "<%s>" % forged)

    def test_a_hostile_helo_is_escaped_in_the_trace(self):
        c = self.m.raw()
        c.reply()
        self.assertEqual(c.cmd("EHLO evil(x);by=me")[0], 250)
        c.cmd("MAIL FROM:<a@remote.test>")
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: helo\r\n\r\nhi\r\n.")[0], 250)
        c.close()
        files = self.m.wait_maildir("bob", 1, containing="Subject: helo")
        with open(files[-1]) as f:
            head = f.read().split("\n\n")[0]
        self.assertIn("Received: from evil\\x28x\\x29\\x3bby\\x3dme (", head)

    def test_every_refusal_heard_is_logged_once_with_the_same_reply(self):
        for name, lines, rules in ROWS:
            with self.subTest(row=name):
                port, heard = self.session(lines)
                self.assertEqual(len(heard), len(rules), heard)
                self.m.wait_log(r"smtp disconnect sid=\w+ client=127\.0\.0\.1:%d " % port)
                logged = self.m.log_lines(r"smtp refuse sid=\w+ client=127\.0\.0\.1:%d " % port)
                got = [(re.search(r'reply="([^"]*)"', l).group(1),
                        re.search(r" rule=(\S+)", l).group(1)) for l in logged]
                self.assertEqual(got, list(zip(heard, rules)))


if __name__ == "__main__":
    unittest.main()

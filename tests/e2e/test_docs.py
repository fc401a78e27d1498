"""The manual keeps up with the code: every configuration key that
src/conf/ declares is documented in doc/moat.conf.5."""

import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Docs(unittest.TestCase):
    def test_every_key_documented(self):
        with open(os.path.join(ROOT, "doc", "moat.conf.5")) as f:
            page = f.read()
        with open(os.path.join(ROOT, "src", "conf", "limits.h")) as f:
            limits = re.findall(r"\bX\((\w+),", f.read())
        keys = []
        # conf.c's tables, and those of the files it hands sections to
        # (conf_int.h's NEXTHOP_OPTS, conf_nexthop.c's relayhost section)
        for name in ("conf.c", "conf_int.h", "conf_nexthop.c"):
            with open(os.path.join(ROOT, "src", "conf", name)) as f:
                keys += re.findall(r'CFG_(?:STR|INT|BOOL|STR_LIST|SEC)\("(\w+)"', f.read())
        self.assertGreater(len(limits), 40)
        self.assertGreater(len(keys), 30)
        missing = [k for k in limits + keys if not re.search(r"\b%s\b" % k, page)]
        self.assertEqual(missing, [], "keys missing from doc/moat.conf.5")


if __name__ == "__main__":
    unittest.main()

"""The release binaries are built hardened (issue 20).

make test runs the sanitizer build; this test builds the release binaries
itself (make all, into build/release: incremental, so cheap when they are
current) and reads them with readelf and nm. It never skips: a failed build
or a missing tool is a failure.

  PIE            ELF type DYN and DF_1_PIE (-fPIE -pie): ASLR for the code
  full RELRO     a GNU_RELRO segment and BIND_NOW (-z relro -z now): the GOT
                 is read-only once the program runs
  stack          __stack_chk_fail imported (-fstack-protector-strong)
  fortify        glibc's __*_chk functions imported (_FORTIFY_SOURCE), and
                 the compile command says _FORTIFY_SOURCE=3 (GCC 12 with
                 glibc 2.36 supports level 3)
  compile flags  every compilation unit of ours was compiled with
                 -fstack-protector-strong -fstack-clash-protection
                 -fcf-protection -fPIE (DW_AT_producer: GCC records them)
"""

import os
import re
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.join(ROOT, "build", "release")
PROGRAMS = ("moatd", "moatctl", "moat-probe", "moat-sendmail")
FLAGS = ("-fstack-protector-strong", "-fstack-clash-protection", "-fcf-protection",
         "-fPIE")


def clean_env():
    """The environment without what a calling make passes down (its jobserver,
    O=, SANFLAGS=): the release build must be the Makefile's own."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "O", "OPT",
              "SANFLAGS", "CFLAGS", "LDFLAGS", "CC"):
        env.pop(k, None)
    return env


def run(*cmd):
    out = subprocess.run(list(cmd), capture_output=True, text=True, env=clean_env(),
                         cwd=ROOT)
    if out.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(cmd), out.returncode,
                                                      out.stdout[-3000:] + out.stderr[-3000:]))
    return out.stdout


class ReleaseHardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        run("make", "--no-print-directory", "-j2", "all")

    def has(self, text, pattern, what):
        """pattern is in text (a short message: readelf output is long)."""
        if not re.search(pattern, text):
            self.fail("%s: no match for %r (stale objects? rm -rf build/release)" % (
                what, pattern))

    def test_pie(self):
        for p in PROGRAMS:
            path = os.path.join(RELEASE, p)
            hdr = run("readelf", "-hW", path)
            self.has(hdr, r"Type:\s+DYN ", p)
            self.has(run("readelf", "-dW", path), r"\(FLAGS_1\)\s+Flags:.*\bPIE\b", p)

    def test_full_relro(self):
        for p in PROGRAMS:
            path = os.path.join(RELEASE, p)
            self.has(run("readelf", "-lW", path), r"\bGNU_RELRO\b", p)
            dyn = run("readelf", "-dW", path)
            self.has(dyn, r"\(FLAGS\)\s+.*\bBIND_NOW\b", p)
            self.has(dyn, r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", p)

    def test_stack_protector_and_fortify_symbols(self):
        for p in PROGRAMS:
            syms = run("nm", "-D", os.path.join(RELEASE, p))
            self.has(syms, r"\bU __stack_chk_fail\b", p)
            fortified = set(re.findall(r"\bU (__\w+_chk)\b", syms)) - {"__stack_chk_fail"}
            self.assertGreaterEqual(len(fortified), 3, "%s imports %r" % (p, fortified))

    def test_fortify_level_3_in_the_compile_command(self):
        # -n -B: the command make would run for one object, nothing is built
        cmd = run("make", "--no-print-directory", "-n", "-B",
                  "build/release/src/common/log.o")
        defs = re.findall(r"-([DU])_FORTIFY_SOURCE(?:=(\d))?", cmd)
        self.assertTrue(defs, cmd)
        self.assertEqual(defs[-1], ("D", "3"), cmd)

    def test_every_unit_compiled_with_the_hardening_flags(self):
        for p in PROGRAMS:
            info = run("readelf", "--debug-dump=info", os.path.join(RELEASE, p))
            producers = [l for l in info.splitlines() if "DW_AT_producer" in l]
            ours = [l for l in producers if "GNU C11" in l]
            self.assertGreater(len(ours), 10, p)
            for l in ours:
                for flag in FLAGS:
                    self.has(l, re.escape(flag) + r"(=\w+)?(\s|$)", "%s: %s" % (p, l.strip()))


if __name__ == "__main__":
    unittest.main()

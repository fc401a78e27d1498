"""floodlib - what both mixes of bench/flood.py share: the screened moatd,
the bot process (bench/floodbots.c), the well-behaved client
(bench/goodclient.c), the samplers, and the configurations read from
etc/.

    srv = FloodMoatd(sink.port, dns.port, limits, screen, workers=2)
    bots = Bots(exe, srv.port, {"hold": (600, 24), ...}, retry, start, work).start()
    g = good_client(exe, srv.port, sessions, total, size, work, per_message=True)

Traffic stays on 127.0.0.0/8; DNS queries go only to the rbldnsd a mix
starts on a loopback port (or to lib.DEAD_PORT, where nobody answers).
"""

import json
import os
import re
import signal
import subprocess
import time

import lib

BENCH = os.path.dirname(os.path.abspath(__file__))
BL_ZONE = "bl.bench.test"
# Bot source addresses, 127.K.x.y, K per kind (bench/floodbots.c's
# kind_octet); only LISTED's range is in the DNSBL. The well-behaved client
# is 127.0.2.x, outside all of them; the e2e tests use 127.0.x and 127.1.x,
# bench/idle.py 127.1.x.
KINDS = {"early": 4, "listed": 5, "idle": 6, "hold": 7, "slow": 8, "new": 9}
TEASER = "moat here; please wait for the greeting"
GOOD_CLIENT = "127.0.2."  # goodclient.c's addresses: 127.0.2.1..


def f0(x):
    return "—" if x is None else "{:,.0f}".format(x)


def f1(x):
    return "—" if x is None else "%.1f" % x


def f2(x):
    return "—" if x is None else "%.2f" % x


# ---- the configurations under test (etc/) ----

def _strip_comment(line):
    """line without its # comment (a # inside quotes stays)."""
    return re.sub(r'^((?:[^"#]|"[^"]*")*)#.*$', r"\1", line)


def read_conf(path):
    """What the holder mix takes from an etc/ configuration file: the
    top-level workers, every integer of the limits block, and the scalar
    settings of the screen block (raw, quotes included) plus whether it
    has a dnsbl list. Raises ValueError when sessions_max is not found:
    the mix is sized from it."""
    with open(path) as f:
        text = "\n".join(_strip_comment(l) for l in f.read().splitlines())

    def block(name):
        m = re.search(r"^%s\s*\{(.*?)^\}" % name, text, re.S | re.M)
        return m.group(1) if m else ""

    scalar = re.compile(r'^\s*(\w+)\s*=\s*("[^"]*"|[\w.-]+)\s*$', re.M)
    limits = {k: int(v) for k, v in scalar.findall(block("limits"))
              if re.fullmatch(r"-?\d+", v)}
    screen_text = block("screen")
    screen = dict(scalar.findall(screen_text))
    m = re.search(r"^workers\s*=\s*(\d+)\s*$", text, re.M)
    if "sessions_max" not in limits:
        raise ValueError("%s: no sessions_max in its limits block" % path)
    return {"path": path, "workers": int(m.group(1)) if m else 1, "limits": limits,
            "screen": screen, "dnsbl": re.search(r"^\s*dnsbl\s*=", screen_text, re.M)
            is not None}


# ---- the server ----

class FloodMoatd(lib.Moatd):
    """lib.Moatd, screened: nobody trusted, DNS to our rbldnsd (dns_port;
    None: lib.DEAD_PORT, no DNS at all), a local domain sink.test delivered
    to the sink, the given limits (exactly these, over moatd's defaults:
    lib.Moatd's raised ones are dropped) and screen settings ({key: raw
    value}; with dnsbl, BL_ZONE served by the rbldnsd, weight 3)."""

    def __init__(self, sink_port, dns_port, limits, screen, dnsbl=True, **kw):
        super().__init__(sink_port, **kw)
        self.limits = dict(limits)
        self.dns_port = dns_port
        self.screen = dict(screen)
        self.dnsbl = dnsbl
        assert dns_port is not None or not dnsbl

    def conf_text(self):
        text = super().conf_text()
        text = text.replace('trusted_networks = {"127.0.0.0/8"}',
                            'trusted_networks = {"192.0.2.0/24"}')
        if self.dns_port is not None:
            text = text.replace('dns_servers = {"127.0.0.1:%d"}' % lib.DEAD_PORT,
                                'dns_servers = {"127.0.0.1:%d"}' % self.dns_port)
            assert str(self.dns_port) in text
        assert "127.0.0.0/8" not in text and 'dns_servers = {"127.0.0.1:' in text
        text += ('domain "sink.test" {\n\tusers = {"rcpt"}\n'
                 '\tdelivery = "smtp:127.0.0.1:%d"\n}\n' % self.sink_port)
        lines = ['\tdnsbl = {"%s=127.0.0.2*3"}' % BL_ZONE] if self.dnsbl else []
        lines += ["\t%s = %s" % kv for kv in self.screen.items()]
        text += "screen {\n" + "".join(l + "\n" for l in lines) + "}\n"
        return text


# ---- the C helpers, built here with cc ----

def build_c(bin_dir, name, libs):
    """Compile bench/NAME.c into bin_dir (again when the source is newer)."""
    src = os.path.join(BENCH, name + ".c")
    exe = os.path.join(bin_dir, name)
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                        "-Werror", "-Wno-unused-parameter", src, "-o", exe] + libs,
                       check=True)
    return exe


def build_bots(bin_dir):
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libevent"],
                           check=True, capture_output=True, text=True).stdout.split()
    return build_c(bin_dir, "floodbots", flags)


def build_client(bin_dir):
    return build_c(bin_dir, "goodclient", ["-pthread"])


# ---- the bots (bench/floodbots.c, a process of their own) ----

class Bots:
    """The bot process, and samples of its counters. kinds: {kind: (count,
    per_ip)}, kinds of floodbots.c."""

    def __init__(self, exe, port, kinds, retry, start, workdir, trickle=None):
        self.exe = exe
        self.kinds = {k: v for k, v in kinds.items() if v[0] > 0}
        self.counts = {k: v[0] for k, v in self.kinds.items()}
        self.port, self.retry, self.start_s, self.trickle = port, retry, start, trickle
        self.stats_path = os.path.join(workdir, "bots.json")
        self.errpath = os.path.join(workdir, "bots.err")
        self.proc = None

    def start(self):
        opts = ["-s", str(self.start_s)]
        if self.trickle is not None:
            opts += ["-t", str(self.trickle)]
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(
                [self.exe] + opts + [str(self.port), "1", str(self.retry), self.stats_path] +
                ["%s=%d/%d" % (k, n, p) for k, (n, p) in self.kinds.items()],
                stdin=subprocess.DEVNULL, stderr=err, start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, lib.ATTACKER_CPUS))
                if lib.ATTACKER_CPUS else None)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def error(self):
        """Why the bot process is not running (its exit and stderr)."""
        try:
            with open(self.errpath, errors="replace") as f:
                text = f.read().strip()
        except OSError:
            text = ""
        rc = self.proc.poll() if self.proc else None
        return "floodbots exited with %s: %s" % (rc, text[-500:] or "(no message)")

    def stats(self):
        try:
            with open(self.stats_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        final = self.stats()
        self.proc = None
        return final


# ---- the well-behaved client (bench/goodclient.c, a process of its own) ----

def good_client(exe, port, sessions, total, size, warmup, workdir, per_message=False,
                addrs=None, deadline=None, pause=None, timeout=None, name="good"):
    """Run bench/goodclient.c; its timings (seconds, CLOCK_MONOTONIC) and,
    with per_message, its retries. A client that wrote nothing comes back
    with the reason in errors."""
    out = os.path.join(workdir, name + ".json")
    opts = ["-1"] if per_message else []
    for flag, v in (("-A", addrs), ("-d", deadline), ("-p", pause), ("-T", timeout)):
        if v is not None:
            opts += [flag, str(v)]
    limit = 1800 if deadline is None else deadline + 2 * (timeout or 30) + 60
    p = subprocess.run([exe] + opts + [str(port), str(sessions), str(total), str(size),
                                       str(warmup), out], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=limit)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"start": None, "deadline": None, "greet": [], "ready": [], "done": [],
                "lats": [], "attempts": 0, "dropped": 0, "unsent": 0, "refused": {},
                "tempfail": {},
                "errors": ["goodclient exit %d: %r %s" % (p.returncode, e, p.stderr[-500:])]}


# ---- measurements during a run ----

def sampler(srv, bots, out, stop):
    """Every 0.5 s: moatd's memory and the bots' open and holding
    connections (with the bots' own counters, for later windows)."""
    while not stop.is_set():
        n, rss, pss = srv.memory()
        b = bots.stats() if bots else None
        out.append({"t": time.time(), "procs": n, "rss": rss, "pss": pss,
                    "bots_open": b["open"] if b else 0,
                    "bots_holding": b.get("holding", 0) if b else 0, "bots": b})
        stop.wait(0.5)


def machine_calm(max_busy, timeout):
    """Wait (up to timeout s) for a 2 s stretch in which the machine is less
    than max_busy busy: other people's tests share this machine. Returns
    the last stretch's busy share."""
    deadline = time.time() + timeout
    while True:
        m0 = lib.machine_cpu()
        time.sleep(2.0)
        m1 = lib.machine_cpu()
        busy = (m1[0] - m0[0]) / max(1, m1[2] - m0[2])
        if busy < max_busy or time.time() > deadline:
            return busy

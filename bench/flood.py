#!/usr/bin/env python3
"""flood - benchmark 4: a well-behaved client's mail while bots flood moatd.

moatd runs with screening on as a production MX would (etc/moat-production
.conf): a greeting delay with a "220-" teaser (early-talker test), a DNSBL
served by a real rbldnsd on a loopback port, per-client concurrency and
rate limits. No client is trusted. Two kinds of run, alternating, each with
a fresh sink, rbldnsd and moatd:

    quiet   the well-behaved client alone
    flood   the same while BOTS bot connections (bench/floodbots.c, a
            process of its own, built here with cc) hammer
            the server from their own loopback addresses (127.4-6.x.y):
              early talkers  send "EHLO" before the greeting, then junk
                             every 2 s until the server hangs up;
              listed         come from an address the DNSBL lists, wait
                             for whatever the server says;
              idle holders   connect and say nothing.
            The bots start at random moments of the ramp-up (RAMP s, before
            the client starts), and every bot reconnects 0.5-1.5 s after
            the server hangs up (a refused or rate-limited bot keeps coming
            back), so the bots keep BOTS slots busy all through the
            measured run. moatd holds each refusal at connect for
            refuse_hold_ms (production: 10 s) before it hangs up, so a
            refused bot comes back every ~11 s; --refuse-hold-ms 0 shows
            what each refused connection costs when the bots come back
            every second.

The well-behaved client (bench/goodclient.c, built here with cc, a process
of its own: one thread per session, bench/latency.py's message, no
pipelining) uses SESSIONS sessions from 127.0.2.1.. (not listed, not
trusted: it passes the same screening, greeting delay included), each
sending MESSAGES/SESSIONS messages of SIZE octets to rcpt@sink.test, a
local domain delivered over SMTP to smtp-sink. Its throughput is the
messages accepted (250) per second from the first session's EHLO reply to
the last 250: the greeting delay, paid once per session by both runs, is
not in it, and shown apart as the time to greeting. Latency: end of DATA
to 250 (as bench/latency.py, the first WARMUP messages of each session
left out). A run counts only if every message got 250, the sink counted
exactly MESSAGES and the queue is empty afterwards.

ratio = median flood throughput / median quiet throughput (a fraction;
report.py's target: >= 0.80).

A third mode, decoy (--modes quiet,flood,decoy; not in make bench), points
the bots at a second moatd of the same configuration instead: what the
client loses then is the machine's CPU, not moatd's attention. The client
was Python asyncio until 2026-12-05; it used about as much CPU as moatd and
lost as much under decoy as under flood (bench/ANALYSIS.md).

    flood.py --out bench/results [--bin build/release] [--reps 5]
             [--messages 1000] [--sessions 10] [--size 4096] [--bots 2000]

Traffic stays on 127.0.0.0/8; DNS queries go only to the rbldnsd started
here.
"""

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "..", "tests", "e2e"))
import lib  # noqa: E402
from latency import WARMUP  # noqa: E402

GREET_DELAY_MS = 3000
BL_ZONE = "bl.bench.test"
# Bot address ranges (second octet) per kind; only LISTED's range is in the
# DNSBL. The well-behaved client is 127.0.2.x, outside all of them.
KINDS = {"early": 4, "listed": 5, "idle": 6}
TEASER = "moat here; please wait for the greeting"
LIMITS = {
    # etc/moat-production.conf's values, except the greeting delay (3 s
    # there 6 s) and messages per session (the client sends 100 each).
    "sessions_max": 5000,
    "conn_per_ip": 20,
    "conn_rate": 120,
    "msg_rate": 300,
    "rcpt_rate": 1000,
    "greet_delay_ms": GREET_DELAY_MS,
    "dnsbl_threshold": 3,
    "verdict_cache_ttl": 3600,
    "refuse_hold_ms": 10000,
    "messages_per_session_max": 100,
}


def bot_addr(kind, i, per_ip):
    k = i // per_ip
    return "127.%d.%d.%d" % (KINDS[kind], k // 250, 1 + k % 250)


# ---- the server ----

class FloodMoatd(lib.Moatd):
    """lib.Moatd, screened: nobody trusted, DNS to our rbldnsd, a local
    domain sink.test delivered to the sink, the production screening."""

    def __init__(self, sink_port, dns_port, refuse_hold_ms=LIMITS["refuse_hold_ms"], **kw):
        super().__init__(sink_port, limits=dict(LIMITS, refuse_hold_ms=refuse_hold_ms),
                         **kw)
        self.dns_port = dns_port

    def conf_text(self):
        text = super().conf_text()
        text = text.replace('trusted_networks = {"127.0.0.0/8"}',
                            'trusted_networks = {"192.0.2.0/24"}')
        text = text.replace('dns_servers = {"127.0.0.1:%d"}' % lib.DEAD_PORT,
                            'dns_servers = {"127.0.0.1:%d"}' % self.dns_port)
        assert "127.0.0.0/8" not in text and str(self.dns_port) in text
        text += ('domain "sink.test" {\n\tusers = {"rcpt"}\n'
                 '\tdelivery = "smtp:127.0.0.1:%d"\n}\n' % self.sink_port)
        text += ('screen {\n\tdnsbl = {"%s=127.0.0.2*3"}\n\tdnsbl_action = "reject"\n'
                 '\tearly_talker = "reject"\n\tgreet_teaser = "%s"\n}\n' % (BL_ZONE, TEASER))
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


# ---- the bots (bench/floodbots.c, a process of their own) ----

class Bots:
    """The bot process, and samples of its counters."""

    def __init__(self, exe, port, total, per_ip, retry, start, workdir):
        self.exe = exe
        n_early = total * 35 // 100
        n_listed = total * 35 // 100
        self.counts = {"early": n_early, "listed": n_listed,
                       "idle": total - n_early - n_listed}
        self.port, self.per_ip, self.retry, self.start_s = port, per_ip, retry, start
        self.stats_path = os.path.join(workdir, "bots.json")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.exe, str(self.port)] +
            [str(self.counts[k]) for k in ("early", "listed", "idle")] +
            [str(self.per_ip), str(self.retry), self.stats_path, str(self.start_s)],
            stdin=subprocess.DEVNULL, start_new_session=True)
        return self

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

def good_client(exe, port, sessions, total, size, workdir):
    """Run bench/goodclient.c; its timings (seconds, CLOCK_MONOTONIC)."""
    out = os.path.join(workdir, "good.json")
    p = subprocess.run([exe, str(port), str(sessions), str(total), str(size),
                        str(WARMUP), out], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=1800)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"greet": [], "ready": [], "done": [], "lats": [],
                "errors": ["goodclient exit %d: %r %s" % (p.returncode, e, p.stderr[-500:])]}


# ---- one run ----

def sampler(srv, bots, out, stop):
    """Every 0.5 s: moatd's memory and the bots' open connections."""
    while not stop.is_set():
        n, rss, pss = srv.memory()
        b = bots.stats() if bots else None
        out.append({"t": time.time(), "procs": n, "rss": rss, "pss": pss,
                    "bots_open": b["open"] if b else 0})
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


def run_once(mode, a):
    total = a.messages
    res = {"mode": mode, "messages": total, "sessions": a.sessions, "size": a.size,
           "ok": False}
    work = lib.make_tmpdir("bench-flood-")
    from peers import Rbldnsd  # tests/e2e/peers.py
    bots = None
    try:
        with contextlib.ExitStack() as stack, lib.Sink() as sink, \
                Rbldnsd({BL_ZONE: {"127.%d.0.0/16" % KINDS["listed"]: "127.0.0.2"}},
                        ttl=300, tmpdir=work) as dns, \
                FloodMoatd(sink.port, dns.port, a.refuse_hold_ms, workers=a.workers,
                           bin_dir=a.bin) as srv:
            lib.settle()
            res["busy_before"] = machine_calm(a.calm, 120)
            res["idle_memory"] = srv.memory()
            if mode in ("flood", "decoy"):
                # decoy: the bots flood a second moatd, not the client's
                target = srv if mode == "flood" else stack.enter_context(
                    FloodMoatd(sink.port, dns.port, a.refuse_hold_ms, workers=a.workers,
                               bin_dir=a.bin))
                bots = Bots(a.bots_exe, target.port, a.bots, a.per_ip, a.retry,
                            a.ramp, work).start()
                # the bots' first wave: connected, greeted or refused, back
                time.sleep(a.ramp)
                res["bots_before"] = bots.stats()
            samples, stop = [], threading.Event()
            th = threading.Thread(target=sampler, args=(srv, bots, samples, stop),
                                  daemon=True)
            th.start()
            sink.watch_for(total)
            own0 = sum(os.times()[:4])  # the client is our child: [2:4]
            sink0 = lib.tree_cpu(sink.proc.pid)
            cpu0, bcpu0, m0 = srv.usage(), lib.tree_cpu(bots.proc.pid) if bots else 0, \
                lib.machine_cpu()
            d0, b0 = lib.disk_writes(), bots.stats() if bots else None
            t0 = time.time()
            g = good_client(a.client_exe, srv.port, a.sessions, total, a.size, work)
            t1 = time.time()
            t_last = sink.wait_count(total, 300, stall=60)
            m1, d1 = lib.machine_cpu(), lib.disk_writes()
            b1 = bots.stats() if bots else None
            srv_cpu = srv.usage() - cpu0
            bot_cpu = lib.tree_cpu(bots.proc.pid) - bcpu0 if bots else 0.0
            own_cpu = sum(os.times()[:4]) - own0
            sink_cpu = lib.tree_cpu(sink.proc.pid) - sink0
            stop.set()
            th.join()
            if bots:
                res["bots_after"] = bots.stop()
                res["bot_counts"] = bots.counts
            time.sleep(1.0)
            lats_ms = [x * 1000 for x in g["lats"]]
            window = [s for s in samples if t0 <= s["t"] <= t1 + 0.5]
            span = (max(g["done"]) - min(g["ready"])) if g["done"] and g["ready"] else None
            res.update({
                "rate": total / span if span and len(g["done"]) == total else None,
                "wall_seconds": t1 - t0,
                "greet_p50_ms": lib.percentile([x * 1000 for x in g["greet"]], 50),
                "greet_max_ms": max(g["greet"]) * 1000 if g["greet"] else None,
                "p50_ms": lib.percentile(lats_ms, 50),
                "p90_ms": lib.percentile(lats_ms, 90),
                "p99_ms": lib.percentile(lats_ms, 99),
                "max_ms": max(lats_ms) if lats_ms else None,
                "accepted": len(g["done"]),
                "errors": g["errors"][:10],
                "sink_count": sink.count,
                "sink_seconds": (t_last - t0) if t_last else None,
                "server_cpu": srv_cpu,
                "bot_cpu": bot_cpu,
                "machine_busy": (m1[0] - m0[0]) / max(1, m1[2] - m0[2]),
                "client_cpu": own_cpu,
                "sink_cpu": sink_cpu,
                # CPU seconds of everything else on the machine (other
                # people's work, kernel threads) during the client's run
                "other_cpu": (m1[0] - m0[0]) / lib.CLK_TCK - srv_cpu - bot_cpu
                - own_cpu - sink_cpu,
                "disk_flushes": d1[2] - d0[2],
                "bot_conn_rate": ((b1["connects"] - b0["connects"]) / (b1["t"] - b0["t"])
                                  if b0 and b1 and b1["t"] > b0["t"] else None),
                "rss_max": max((s["rss"] for s in samples), default=None),
                "pss_max": max((s["pss"] for s in samples), default=None),
                "bots_open_min": min((s["bots_open"] for s in window), default=None),
                "bots_open_mean": (sum(s["bots_open"] for s in window) / len(window)
                                   if window else None),
                "bots_open_max": max((s["bots_open"] for s in window), default=None),
            })
            deadline = time.time() + 15
            queued = srv.queue_files()
            while queued and time.time() < deadline:
                time.sleep(0.2)
                queued = srv.queue_files()
            res["queued_after"] = queued
            log = srv.log()
            res["log_counts"] = {k: log.count(k) for k in (
                "smtp refuse", "rule=early-talker", "rule=dnsbl", "verdict=pass",
                "smtp connect", "smtp disconnect")}
            # refusals and hang-ups of bots are the point, not a problem
            rx = re.compile(r"fatal|crash|abort|warn|sanitizer|status=(?!sent)", re.I)
            res["problems"] = [l for l in log.splitlines() if rx.search(l)][:20]
            res["good_refusals"] = [l for l in log.splitlines()
                                    if "client=127.0.2." in l and "refuse" in l][:10]
            res["ok"] = (not g["errors"] and res["rate"] is not None and
                         sink.count == total and queued == 0)
            if not res["ok"]:
                srv.keep = True
                res["evidence_dir"] = srv.dir
                res["log_tail"] = log[-4000:]
    finally:
        if bots and bots.proc:
            bots.stop()
        if not res.get("evidence_dir"):
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    return res


# ---- the report section ----

def f0(x):
    return "—" if x is None else "{:,.0f}".format(x)


def f1(x):
    return "—" if x is None else "%.1f" % x


def f2(x):
    return "—" if x is None else "%.2f" % x


def med(runs, key, mode):
    return lib.median([r[key] for r in runs if r["mode"] == mode and r.get("ok")
                       and r.get(key) is not None])


def section(data):
    runs, p = data["runs"], data["params"]
    lines = []
    w = lines.append
    w("A well-behaved client sends %s messages of %d octets over %d sessions "
      "(100 per session, no pipelining) to moatd while %s bot connections "
      "flood it, against the same without the bots. moatd (workers = %d) "
      "screens as `etc/moat-production.conf` does: nobody is trusted, a %.0f s "
      "greeting delay with a `220-` teaser (early-talker test), a DNSBL "
      "(`%s`, weight 3, threshold 3) served by a real rbldnsd on a loopback "
      "port, `sessions_max = 5000`, `conn_per_ip = 20`, `conn_rate = 120`/min, "
      "`msg_rate = 300`/min, `refuse_hold_ms = %d` (a refused bot hears why "
      "that much later, then comes back 0.5–1.5 s after the hang-up; the "
      "bots' first connections are spread over the %.0f s before the client "
      "starts). The client (127.0.2.1–%d, not listed) passes the "
      "same screening, greeting delay included; its mail goes to a local "
      "domain delivered over SMTP to smtp-sink. **Throughput**: messages "
      "accepted per second from the first EHLO reply to the last 250 (the "
      "greeting delay, the same in both runs, is shown apart). **Latency**: "
      "end of DATA to 250, the first %d messages of each session left out. "
      "Medians over %d repetitions; runs alternate, each with a fresh sink, "
      "rbldnsd and moatd.\n" % (
          f0(p["messages"]), p["size"], p["sessions"], f0(p["bots"]), p["workers"],
          GREET_DELAY_MS / 1000, BL_ZONE,
          p.get("refuse_hold_ms", 0), p["ramp"], p["sessions"], WARMUP, p["reps"]))
    q_rate, f_rate = med(runs, "rate", "quiet"), med(runs, "rate", "flood")
    w("| | without flood | with flood | flood / without |")
    w("|---|---:|---:|---:|")
    w("| throughput (msg/s) | %s | %s | **%s%%** |" % (
        f0(q_rate), f0(f_rate), f0(100 * data["ratio"]) if data["ratio"] else "—"))
    for key, name in (("p50_ms", "latency p50 (ms)"), ("p90_ms", "latency p90 (ms)"),
                      ("p99_ms", "latency p99 (ms)"), ("max_ms", "latency max (ms)"),
                      ("greet_p50_ms", "time to greeting p50 (ms)"),
                      ("greet_max_ms", "time to greeting max (ms)")):
        q, f = med(runs, key, "quiet"), med(runs, key, "flood")
        w("| %s | %s | %s | %s× |" % (name, f2(q), f2(f), f2(f / q) if q and f else "—"))
    rows = (
        ("bot_conn_rate", "bot connections per second", f0, 1),
        ("server_cpu", "moatd CPU, all processes (s)", f2, 1),
        ("bot_cpu", "bot process CPU (s)", f2, 1),
        ("client_cpu", "client (and this script) CPU (s)", f2, 1),
        ("machine_busy", "machine busy, both cores (%)", f0, 100),
        ("disk_flushes", "disk flushes", f0, 1),
        ("pss_max", "moatd PSS, all processes (MB)", f1, 1e-6),
        ("rss_max", "moatd RSS, all processes (MB)", f1, 1e-6),
    )
    for key, name, fmt, scale in rows:
        q, f = med(runs, key, "quiet"), med(runs, key, "flood")
        w("| %s | %s | %s | |" % (name, fmt(None if q is None else q * scale),
                                  fmt(None if f is None else f * scale)))
    w("")
    w("(CPU and disk figures: during the client's run, from its first "
      "connection to the last message at the sink; PSS/RSS: the largest "
      "sample, every 0.5 s.)\n")
    w("")
    w("Every run (throughput msg/s; p50 / p99 ms):\n")
    w("| rep | mode | throughput | p50 / p99 | bots open (min / mean / max) "
      "| machine busy before | ok |")
    w("|---:|---|---:|---|---|---:|---|")
    for r in runs:
        w("| %d | %s | %s | %s / %s | %s | %s%% | %s |" % (
            r["rep"], r["mode"], f0(r.get("rate")), f2(r.get("p50_ms")), f2(r.get("p99_ms")),
            "%s / %s / %s" % (f0(r.get("bots_open_min")), f0(r.get("bots_open_mean")),
                              f0(r.get("bots_open_max"))) if r["mode"] == "flood" else "",
            f0(100 * r["busy_before"]) if r.get("busy_before") is not None else "—",
            "yes" if r.get("ok") else "**no**: %s" % (r.get("error") or r.get("errors"))))
    w("")
    fl = [r for r in runs if r["mode"] == "flood" and r.get("bots_after")]
    if fl:
        r = fl[-1]
        b0, b1 = r.get("bots_before") or {}, r["bots_after"]
        secs = b1["t"] - b0.get("t", b1["t"]) if b0 else None
        w("The bots (last flood run, %s slots: %s). Over the whole run "
          "(ramp-up included, %s s): %s connections, %s hung up by the server, "
          "%s failed to connect; during the client's run %s–%s were open at once "
          "(mean %s), the others in their 0.5–1.5 s pause before reconnecting. "
          "First reply each kind of bot heard (code: connections):\n" % (
              f0(sum(r["bot_counts"].values())),
              ", ".join("%s %s" % (f0(v), k) for k, v in r["bot_counts"].items()),
              f0(secs + p["ramp"]) if secs is not None else "—",
              f0(b1["connects"]), f0(b1["hangups"]), f0(b1["connect_failures"]),
              f0(r.get("bots_open_min")), f0(r.get("bots_open_max")),
              f0(r.get("bots_open_mean"))))
        w("| kind | first reply (code: count) |")
        w("|---|---|")
        for kind, codes in b1["replies"].items():
            w("| %s | %s |" % (kind, ", ".join("%s: %s" % (c, f0(n)) for c, n in
                                                 sorted(codes.items()))))
        w("")
        w("moatd's log in that run: %s." % ", ".join(
            "%s `%s`" % (f0(n), k) for k, n in r["log_counts"].items()))
        w("")
    good_ref = [l for r in runs for l in r.get("good_refusals", [])]
    w("Refusals of the well-behaved client in any run: %s." % (
        len(good_ref) if good_ref else "none"))
    w("")
    w("Postfix is not measured here: holding a flood is postscreen's job "
      "there (a separate service with its own greeting test and DNSBL "
      "scoring), which bench/lib.py's Postfix does not set up yet.\n")
    if data.get("notes"):
        w(data["notes"])
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--bots", type=int, default=2000)
    ap.add_argument("--per-ip", type=int, default=5)
    ap.add_argument("--retry", type=float, default=1.0)
    ap.add_argument("--ramp", type=float, default=GREET_DELAY_MS / 1000 + 7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--refuse-hold-ms", type=int, default=LIMITS["refuse_hold_ms"],
                    help="moatd's refuse_hold_ms (production: %d; 0 to measure what "
                    "each refused bot connection costs)" % LIMITS["refuse_hold_ms"])
    ap.add_argument("--modes", default="quiet,flood",
                    help="of quiet, flood, decoy (the bots flood a second moatd)")
    ap.add_argument("--calm", type=float, default=0.25,
                    help="wait (up to 2 min) for the machine to be less busy than this")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite flood.md from flood.json")
    ap.add_argument("--notes", help="with --report-only: a Markdown file of notes "
                    "on the run, kept in flood.json and appended to flood.md")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not a.out:
        ap.error("--out is required")
    os.makedirs(a.out, exist_ok=True)
    jpath = os.path.join(a.out, "flood.json")
    if a.report_only:
        data = json.load(open(jpath))
        if a.notes:
            data["notes"] = open(a.notes).read()
    else:
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < a.bots + 1000:
            print("flood: file-descriptor limit %d is below %d bots" % (
                resource.getrlimit(resource.RLIMIT_NOFILE)[0], a.bots), file=sys.stderr)
        a.bots_exe = build_bots(a.bin)
        a.client_exe = build_c(a.bin, "goodclient", ["-pthread"])
        runs = []
        t_start = time.time()
        for rep in range(a.reps):
            modes = a.modes.split(",")
            for mode in (modes if rep % 2 == 0 else modes[::-1]):
                try:
                    r = run_once(mode, a)
                except Exception as e:
                    r = {"mode": mode, "ok": False, "error": repr(e)}
                r["rep"] = rep
                runs.append(r)
                print("flood rep=%d %-5s %s msg/s p50=%s p99=%s ms bots_open=%s "
                      "pss=%s MB ok=%s %s" % (
                          rep, mode, f0(r.get("rate")), f2(r.get("p50_ms")),
                          f2(r.get("p99_ms")), f0(r.get("bots_open_mean")),
                          f2(r["pss_max"] / 1e6) if r.get("pss_max") else "—",
                          r["ok"], r.get("error") or r.get("errors") or ""), flush=True)
        data = {"params": vars(a), "runs": runs, "elapsed": time.time() - t_start}
    q, f = med(data["runs"], "rate", "quiet"), med(data["runs"], "rate", "flood")
    data["quiet_rate"], data["flood_rate"] = q, f
    data["ratio"] = f / q if q and f else None
    with open(jpath, "w") as fh:
        json.dump(data, fh, indent=1)
    with open(os.path.join(a.out, "flood.md"), "w") as fh:
        fh.write(section(data))
    print("flood: without %s msg/s, with %s msg/s, ratio %s" % (
        f0(q), f0(f), f2(data["ratio"])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

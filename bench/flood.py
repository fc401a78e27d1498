#!/usr/bin/env python3
"""flood - benchmark 4: a well-behaved client's mail while bots flood moatd.

Two mixes of bots (--mix, both by default, as `make bench` runs it):

    classic  bots that misbehave at the door (early talkers, DNSBL-listed
             clients, connections that say nothing), described below; its
             figures go to DIR/flood.json.
    holders  connections that fill sessions_max and hold it (idle and
             trickling), against a client that opens a connection per
             message and has a good record: bench/flood_holders.py, its
             figures in DIR/flood-holders.json.

DIR/flood.md, the report's section 4, is written from both files.

The classic mix:

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

    flood.py --out bench/results [--bin build/release] [--mix classic,holders]
             [--reps 5] [--messages 1000] [--sessions 10] [--size 4096]
             [--bots 2000]  (the holder mix's options: --holder-*, --configs)

Exit status 1 when a run was not valid (the report still says which and
why): a figure from a broken run is not reported as a result.

Traffic stays on 127.0.0.0/8; DNS queries go only to the rbldnsd started
here.
"""

import argparse
import atexit
import contextlib
import json
import os
import re
import resource
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "..", "tests", "e2e"))
import lib  # noqa: E402
import flood_holders  # noqa: E402
from floodlib import (BL_ZONE, KINDS, TEASER, FloodMoatd, Bots, build_bots,  # noqa: E402
                      build_client, f0, f1, f2, good_client, machine_calm, sampler)
from latency import WARMUP  # noqa: E402

GREET_DELAY_MS = 3000
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
    "recipients_max": 100,
    "errors_max": 20,
}
SCREEN = {"dnsbl_action": '"reject"', "early_talker": '"reject"',
          "greet_teaser": '"%s"' % TEASER}


def classic_moatd(sink_port, dns_port, a):
    return FloodMoatd(sink_port, dns_port, dict(LIMITS, refuse_hold_ms=a.refuse_hold_ms),
                      SCREEN, workers=a.workers, bin_dir=a.bin, redis=a.redis_addr)


def classic_bots(port, a, work):
    n_early = a.bots * 35 // 100
    n_listed = a.bots * 35 // 100
    kinds = {"early": (n_early, a.per_ip), "listed": (n_listed, a.per_ip),
             "idle": (a.bots - n_early - n_listed, a.per_ip)}
    return Bots(a.bots_exe, port, kinds, a.retry, a.ramp, work).start()


# ---- one run ----

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
                classic_moatd(sink.port, dns.port, a) as srv:
            lib.settle()
            res["busy_before"] = machine_calm(a.calm, 120)
            res["idle_memory"] = srv.memory()
            if mode in ("flood", "decoy"):
                # decoy: the bots flood a second moatd, not the client's
                target = srv if mode == "flood" else stack.enter_context(
                    classic_moatd(sink.port, dns.port, a))
                if target is not srv and lib.ATTACKER_CPUS:
                    lib.pin_tree(target.proc.pid, lib.ATTACKER_CPUS)
                bots = classic_bots(target.port, a, work)
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
            g = good_client(a.client_exe, srv.port, a.sessions, total, a.size, WARMUP,
                            work)
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

def med(runs, key, mode):
    return lib.median([r[key] for r in runs if r["mode"] == mode and r.get("ok")
                       and r.get(key) is not None])


def section(data):
    runs, p = data["runs"], data["params"]
    lines = []
    w = lines.append
    w("### Bots at the door (classic mix)\n")
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
    if p.get("pin"):
        w("Pinned (`--pin %s`): moatd, the client, the sink and rbldnsd%s on CPU %s; "
          "the bots (and a decoy moatd) on CPU %s, as if the attack came from other "
          "machines: the ratio is then what moatd's own work for the bots costs the "
          "client, not the bots' CPU.\n" % (
              p["pin"], " and redis-server" if p.get("store") == "redis" else "",
              p["pin"].split(":")[0], p["pin"].split(":")[1]))
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
            if kind not in r["bot_counts"]:
                continue  # a kind of the holder mix
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


def run_classic(a):
    """The classic mix's runs; its data (flood.json's content)."""
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
    return {"params": {k: v for k, v in vars(a).items() if not k.startswith("holder_")},
            "runs": runs, "elapsed": time.time() - t_start}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--mix", default="classic,holders",
                    help="classic, holders or both (comma-separated)")
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
    ap.add_argument("--store", default="lmdb", choices=("lmdb", "redis"),
                    help="moatd's state store; redis: a private redis-server on loopback "
                    "(bench/store_backends.py)")
    ap.add_argument("--pin", metavar="SERVER:ATTACKER",
                    help="CPU lists, e.g. 1:0: moatd, its client, sink and DNS on SERVER, "
                    "the bots (and a decoy moatd) on ATTACKER, as if the attack came "
                    "from other machines (not in make bench)")
    ap.add_argument("--calm", type=float, default=0.25,
                    help="wait (up to 2 min) for the machine to be less busy than this")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite flood.md from flood.json and flood-holders.json")
    ap.add_argument("--notes", help="with --report-only: a Markdown file of notes "
                    "on the run, kept in flood.json and appended to flood.md")
    flood_holders.add_args(ap)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not a.out:
        ap.error("--out is required")
    if a.pin:
        try:
            server, attacker = ({int(c) for c in part.split(",")}
                                for part in a.pin.split(":"))
        except ValueError:
            ap.error("--pin: SERVER:ATTACKER, CPU numbers separated by commas")
        os.sched_setaffinity(0, server)  # every process started from here on
        lib.ATTACKER_CPUS = attacker
    mixes = a.mix.split(",")
    if not mixes or any(m not in ("classic", "holders") for m in mixes):
        ap.error("--mix: classic, holders or classic,holders")
    os.makedirs(a.out, exist_ok=True)
    jpath = os.path.join(a.out, "flood.json")
    hpath = os.path.join(a.out, "flood-holders.json")
    data = hdata = None
    if a.report_only:
        data, hdata = load(jpath), load(hpath)
        if data and a.notes:
            data["notes"] = open(a.notes).read()
    else:
        a.bots_exe = build_bots(a.bin)
        a.client_exe = build_client(a.bin)
        a.redis_addr = None
        if a.store == "redis":
            from peers import Redis  # tests/e2e/peers.py
            redis = Redis().start()
            atexit.register(redis.stop)
            a.redis_addr = redis.address()
        if "classic" in mixes:
            if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < a.bots + 1000:
                print("flood: file-descriptor limit %d is below %d bots" % (
                    resource.getrlimit(resource.RLIMIT_NOFILE)[0], a.bots),
                    file=sys.stderr)
            data = run_classic(a)
        if "holders" in mixes:
            hdata = flood_holders.run(a)
    if data is not None:
        q, f = med(data["runs"], "rate", "quiet"), med(data["runs"], "rate", "flood")
        data["quiet_rate"], data["flood_rate"] = q, f
        data["ratio"] = f / q if q and f else None
        with open(jpath, "w") as fh:
            json.dump(data, fh, indent=1)
        print("flood: without %s msg/s, with %s msg/s, ratio %s" % (
            f0(q), f0(f), f2(data["ratio"])), flush=True)
    if hdata is not None:
        flood_holders.summarize(hdata)
        with open(hpath, "w") as fh:
            json.dump(hdata, fh, indent=1)
    # the section: both mixes, whichever of them this run wrote or found
    data, hdata = data or load(jpath), hdata or load(hpath)
    with open(os.path.join(a.out, "flood.md"), "w") as fh:
        if data:
            fh.write(section(data))
        if hdata:
            fh.write(flood_holders.section(hdata))
    if a.report_only:
        return 0
    bad = []
    if "classic" in mixes:
        bad += ["classic rep=%s %s: %s" % (r.get("rep"), r["mode"],
                                           r.get("error") or r.get("errors") or
                                           "sink %s, queued %s" % (r.get("sink_count"),
                                                                  r.get("queued_after")))
                for r in data["runs"] if not r.get("ok")]
    if "holders" in mixes:
        bad += flood_holders.invalid(hdata)
    if bad:
        print("flood: FAILED: %d run(s) not valid; their figures are left out of the "
              "ratios (flood.md says why):" % len(bad), file=sys.stderr)
        for b in bad:
            print("  " + str(b)[:400], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

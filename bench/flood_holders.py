"""flood_holders - bench/flood.py's holder mix: can a client with a good
record still send mail when connections that do nothing fill moatd's
sessions_max? (issue 19, "Nobody exhausts moat")

The attack: HOLDERS = sessions_max x 1.2 connections (--holder-factor)
from many loopback addresses that connect, wait for the greeting, and then
hold their slot (bench/floodbots.c): half of them sit idle (kind "hold",
127.7.x.y), half trickle one byte of a command line every ~3 s and never
end it (kind "slow", 127.8.x.y). An address carries at most conn_per_ip
of them and there are at least 50 addresses (--holder-min-addrs), so what
fills the house is sessions_max, not a per-client limit (`make run`: 1,200
holders from 50 addresses; production: 6,000 from 300). A holder the
server hangs up on, or refuses, comes back 1.5-4.5 s later (--holder-retry
3 x 0.5..1.5): an attacker keeps the house full.

The client (bench/goodclient.c -1): 10 connections at a time
(--holder-sessions), one connection per message (connect, greeting, EHLO,
MAIL, RCPT, DATA, QUIT) as a sender that opens a connection for each
message does, from 40 addresses in turn (--holder-addrs, 127.0.2.1-40),
4,000 messages (--holder-messages). A refusal (421 at the greeting when
the house is full, any 4xx), a failed, dropped or silent connection: the
same message again 0.5 s later, counted; no new connection after 20 s
(--holder-deadline). Before the bots start, the client earns its record:
2 messages from each of its addresses (--holder-warmup), accepted and
counted at the sink, in both modes, so that the quiet run is the same
client with the same record and the same pattern, only without the bots.

A run, each with a fresh sink, moatd and (production) rbldnsd (a third mode,
decoy, --holder-modes quiet,flood,decoy, not in make bench: the holders fill
a second moatd of the same configuration, so the client loses only the
machine's CPU to them):

    quiet   warm-up, then the client's messages;
    flood   warm-up, then the bots: the ramp (their first connections
            spread over HOLDERS/1500 s, at least 2, plus the greeting
            delay, plus 3 s), then a wait until the bots hold at least
            90% of sessions_max (at most 20 s more; a house never filled
            makes the run invalid: the mix would measure nothing), then
            the client's messages while the holders keep coming back.

Throughput: messages accepted (250) per second from the client's start to
its last 250; when not every message was accepted by the deadline, those
accepted by then over the deadline (a client locked out scores ~0, which
is a result, not an invalid run). ratio = median flood throughput / median
quiet throughput, per configuration; target >= 0.90 (report.py).

Side figure: a never-seen client (kind "new": --holder-newcomers
connections from 127.9.0.1, no mail, no record) connects, waits for the
first reply, QUITs after a 220 and comes back. From the first moment the
house is full to the client's end: how many of its attempts were greeted
(the e2e test of issue 19 expects at least half).

Configurations (--configs, both by default):

    run         etc/moat.conf, as `make run` uses it
    production  etc/moat-production.conf, its DNSBL served by rbldnsd
                on a loopback port (listing only 127.5.0.0/16, the classic
                mix's listed bots: no holder and no client is listed)

Taken from the file: workers, every integer of its limits block
(sessions_max first of all; moatd's defaults for the rest), the screen
settings early_talker, greet_teaser, harvest, ban_action, dnsbl_action.
Moved to the benchmark's ports and directories as the classic mix does.
Left out (listed in the JSON as left_out): access files, fcrdns,
sender_domain and greylisting (files, or DNS beyond loopback), TLS, AUTH,
bait. Nobody is trusted; DNS goes to our rbldnsd or to a dead loopback
port.

A run is valid when the warm-up delivered every message, the client met
no permanent refusal (5xx) and lost no reply to an end of DATA, the sink
counted exactly the messages accepted, the queue was empty afterwards,
the quiet run accepted something, and, in a flood run, the bots held the
house when the client started and were still running at its end. An
invalid run is reported with its reason and its server's directory kept,
leaves its configuration without a ratio, and makes flood.py exit 1.

Run time, and why these numbers are enough: 3 repetitions
(--holder-reps) x 2 modes x 2 configurations. Once the greeting pause is
paid once per greet_pass_ttl, a run costs its fixed parts (settle, calm,
start, warm-up, 5-13 s of ramp), not its messages: about 4 minutes in all.
4,000 messages from 40 addresses is 100 connections per address, 102 with
the warm-up, under production's conn_rate of 120 a minute (a client
refused for its own rate would measure that limit, not the holders), and
a span of ~3 s at ~1,400 msg/s; one run's figure still moves by +-10-20%
with the machine's other work (bench/ANALYSIS.md), but the question is
0.9 or more against ~0 without an answer to holders, and 3 medians settle
which side a server is on. A server whose every connection pays the
greeting delay runs into the deadline instead (then 10 connections / 6 s
in production, quiet or not) and a run takes ~20 s longer.

Traffic stays on 127.0.0.0/8; DNS queries go only to the rbldnsd started
here.
"""

import contextlib
import math
import os
import shutil
import threading
import time

import lib
from floodlib import (BL_ZONE, GOOD_CLIENT, KINDS, Bots, FloodMoatd, f0, f1, f2,
                      good_client, machine_calm, read_conf, sampler)
from latency import WARMUP

CONFIGS = {"run": "etc/moat.conf", "production": "etc/moat-production.conf"}
CONFIG_NAMES = {"run": "`make run` (etc/moat.conf)",
                "production": "production (etc/moat-production.conf)"}
SCREEN_KEYS = ("early_talker", "greet_teaser", "harvest", "ban_action")
CONN_PER_IP_DEFAULT = 20  # src/conf/limits.h
TARGET = 0.90
FILL = 0.90  # the house is full from this share of sessions_max held
FILL_WAIT = 20.0  # seconds past the ramp to wait for it


def add_args(ap):
    g = ap.add_argument_group("holder mix")
    g.add_argument("--configs", default="run,production",
                   help="of run (etc/moat.conf), production (etc/moat-production.conf)")
    g.add_argument("--holder-reps", type=int, default=3)
    g.add_argument("--holder-modes", default="quiet,flood",
                   help="of quiet, flood, decoy (the holders fill a second moatd)")
    g.add_argument("--holder-messages", type=int, default=4000)
    g.add_argument("--holder-sessions", type=int, default=10,
                   help="the client's concurrent connections")
    g.add_argument("--holder-addrs", type=int, default=40,
                   help="the client's addresses (a multiple of --holder-sessions)")
    g.add_argument("--holder-warmup", type=int, default=2,
                   help="messages per client address before the bots: its record")
    g.add_argument("--holder-factor", type=float, default=1.2,
                   help="holders per slot of sessions_max")
    g.add_argument("--holder-min-addrs", type=int, default=50)
    g.add_argument("--holder-trickle", type=float, default=3.0,
                   help="seconds between a slow holder's bytes (x 0.5..1.5)")
    g.add_argument("--holder-newcomers", type=int, default=4,
                   help="connections of the never-seen client (127.9.0.1)")
    g.add_argument("--holder-retry", type=float, default=3.0,
                   help="seconds (x 0.5..1.5) before a holder hung up on comes back")
    g.add_argument("--holder-deadline", type=float, default=20.0,
                   help="seconds after which the client begins no new connection")
    g.add_argument("--holder-ramp", type=float,
                   help="seconds from the bots' start to the client's (default: "
                   "their spread + the greeting delay + 3)")


def profile(name):
    """The configuration under test, from its etc/ file."""
    conf = read_conf(os.path.join(lib.ROOT, CONFIGS[name]))
    screen = {k: conf["screen"][k] for k in SCREEN_KEYS if k in conf["screen"]}
    if conf["dnsbl"]:
        screen["dnsbl_action"] = conf["screen"].get("dnsbl_action", '"reject"')
    conf["bench_screen"] = screen
    conf["left_out"] = sorted(k for k in conf["screen"] if k not in screen) + \
        (["dnsbl (its zones: ours instead)"] if conf["dnsbl"] else [])
    return conf


def plan(conf, a):
    """How many holders, from how many addresses, and the ramp."""
    lim = conf["limits"]
    smax = lim["sessions_max"]
    total = int(math.ceil(smax * a.holder_factor))
    per_ip = max(1, min(lim.get("conn_per_ip", CONN_PER_IP_DEFAULT),
                        int(math.ceil(total / a.holder_min_addrs))))
    hold = total // 2
    slow = total - hold
    spread = max(2.0, total / 1500.0)
    greet_s = lim.get("greet_delay_ms", 0) / 1000.0
    return {"sessions_max": smax, "holders": total, "hold": hold, "slow": slow,
            "per_ip": per_ip,
            "addresses": -(-hold // per_ip) + -(-slow // per_ip),
            "spread": spread,
            "ramp": a.holder_ramp if a.holder_ramp is not None else spread + greet_s + 3,
            "newcomers": a.holder_newcomers}


def codes_diff(b1, b0, kind):
    """{code: count} of kind's first replies between two bot samples."""
    c1 = (b1 or {}).get("replies", {}).get(kind, {})
    c0 = (b0 or {}).get("replies", {}).get(kind, {})
    return {c: n - c0.get(c, 0) for c, n in c1.items() if n - c0.get(c, 0) > 0}


def client_rate(g, total):
    """(messages per second, complete): see the module's docstring."""
    done, start = g.get("done") or [], g.get("start")
    if start is None:
        return None, False
    if len(done) == total:
        return total / max(1e-6, max(done) - start), True
    dl = g.get("deadline")
    if dl is None:
        return None, False
    return sum(1 for d in done if d <= dl) / (dl - start), False


def run_once(mode, name, conf, a):
    p = plan(conf, a)
    S, A, W, total = a.holder_sessions, a.holder_addrs, a.holder_warmup, a.holder_messages
    nw = A * W
    res = {"mix": "holders", "config": name, "mode": mode, "ok": False,
           "messages": total, "sessions": S, "addrs": A, "warmup_messages": nw,
           "plan": p}
    work = lib.make_tmpdir("bench-holders-")
    from peers import Rbldnsd  # tests/e2e/peers.py
    bots, srv = None, None
    samples, stop = [], threading.Event()
    th = None
    t_run = time.time()

    def fail(why):
        """The run is not valid: why, and the server's directory kept."""
        res["error"] = why
        if srv is not None:
            srv.keep = True
            res["evidence_dir"] = srv.dir
            res["log_tail"] = srv.log()[-3000:]
        return res

    def stop_sampler():
        stop.set()
        if th is not None:
            th.join()

    try:
        with contextlib.ExitStack() as stack, lib.Sink() as sink:
            dns_port = None
            if conf["dnsbl"]:
                dns = stack.enter_context(Rbldnsd(
                    {BL_ZONE: {"127.%d.0.0/16" % KINDS["listed"]: "127.0.0.2"}},
                    ttl=300, tmpdir=work))
                dns_port = dns.port
            srv = stack.enter_context(FloodMoatd(
                sink.port, dns_port, conf["limits"], conf["bench_screen"],
                dnsbl=conf["dnsbl"], workers=conf["workers"], bin_dir=a.bin,
                redis=getattr(a, "redis_addr", None)))
            # on the way out: the sampler, then the bots, then the servers
            stack.callback(lambda: bots and bots.proc and bots.stop())
            stack.callback(stop_sampler)
            lib.settle()
            res["busy_before"] = machine_calm(a.calm, 120)

            # 1. the record: mail accepted from every address of the client
            t = time.time()
            # (one connection at a time from each address: a greeting pause
            # paid once per address, in parallel)
            g0 = good_client(a.client_exe, srv.port, A, nw, a.size, 0, work,
                             per_message=True, addrs=A, deadline=120, name="warmup")
            res["warmup_seconds"] = time.time() - t
            if g0["errors"] or len(g0["done"]) != nw or \
                    sink.wait_count(nw, 60, stall=30) is None:
                return fail("warm-up: %d of %d accepted, sink %d, errors %s, "
                            "refused %s" % (len(g0["done"]), nw, sink.count,
                                            g0["errors"][:3], g0.get("refused")))

            # 2. the holders, until the house is full (decoy: a second
            # moatd's house; what the client loses then is the machine's
            # CPU, not moatd's attention)
            if mode in ("flood", "decoy"):
                target = srv if mode == "flood" else stack.enter_context(FloodMoatd(
                    sink.port, dns_port, conf["limits"], conf["bench_screen"],
                    dnsbl=conf["dnsbl"], workers=conf["workers"], bin_dir=a.bin,
                redis=getattr(a, "redis_addr", None)))
                if target is not srv and lib.ATTACKER_CPUS:
                    lib.pin_tree(target.proc.pid, lib.ATTACKER_CPUS)
                bots = Bots(a.bots_exe, target.port,
                            {"hold": (p["hold"], p["per_ip"]),
                             "slow": (p["slow"], p["per_ip"]),
                             "new": (p["newcomers"], max(1, p["newcomers"]))},
                            a.holder_retry, p["spread"], work,
                            trickle=a.holder_trickle).start()
                t_bots = time.time()
            th = threading.Thread(target=sampler, args=(srv, bots, samples, stop),
                                  daemon=True)
            th.start()
            if bots:
                time.sleep(p["ramp"])
                want = FILL * p["sessions_max"]
                deadline = time.time() + FILL_WAIT
                while bots.alive() and time.time() < deadline and \
                        (bots.stats() or {}).get("holding", 0) < want:
                    time.sleep(0.5)
                b0 = bots.stats()
                res["fill_seconds"] = time.time() - t_bots
                res["holding_at_start"] = (b0 or {}).get("holding")
                if not bots.alive():
                    return fail(bots.error())
                if res["holding_at_start"] is None or res["holding_at_start"] < want:
                    return fail("the holders did not fill the house: %s held of "
                                "sessions_max %d after %.0f s (need %.0f)" % (
                                    res["holding_at_start"], p["sessions_max"],
                                    p["ramp"] + FILL_WAIT, want))

            # 3. the measured run
            sink.watch_for(nw + total)
            sink0 = lib.tree_cpu(sink.proc.pid)
            cpu0, bcpu0, m0 = srv.usage(), lib.tree_cpu(bots.proc.pid) if bots else 0, \
                lib.machine_cpu()
            b0 = bots.stats() if bots else None
            t0 = time.time()
            g = good_client(a.client_exe, srv.port, S, total, a.size, WARMUP, work,
                            per_message=True, addrs=A, deadline=a.holder_deadline)
            t1 = time.time()
            m1 = lib.machine_cpu()
            srv_cpu = srv.usage() - cpu0
            bot_cpu = lib.tree_cpu(bots.proc.pid) - bcpu0 if bots else 0.0
            b1 = bots.stats() if bots else None
            bots_alive = bots.alive() if bots else True
            accepted = len(g["done"])
            if accepted:
                sink.wait_count(nw + accepted, 60, stall=30)
            stop_sampler()
            if bots:
                res["bots_after"] = bots.stop()
                res["bot_counts"] = bots.counts
            time.sleep(1.0)  # a duplicate would show now
            rate, complete = client_rate(g, total)
            lats_ms = [x * 1000 for x in g["lats"]]
            window = [s for s in samples if t0 <= s["t"] <= t1 + 0.5]
            res.update({
                "rate": rate,
                "complete": complete,
                "accepted": accepted,
                "unsent": g.get("unsent"),
                "attempts": g.get("attempts"),
                "refused": g.get("refused"),
                "tempfail": g.get("tempfail"),
                "dropped": g.get("dropped"),
                "errors": g["errors"][:10],
                "wall_seconds": t1 - t0,
                "greet_p50_ms": lib.percentile([x * 1000 for x in g["greet"]], 50),
                "greet_max_ms": max(g["greet"]) * 1000 if g["greet"] else None,
                "p50_ms": lib.percentile(lats_ms, 50),
                "p99_ms": lib.percentile(lats_ms, 99),
                "sink_count": sink.count,
                "sink_expected": nw + accepted,
                "server_cpu": srv_cpu,
                "bot_cpu": bot_cpu,
                "sink_cpu": lib.tree_cpu(sink.proc.pid) - sink0,
                "machine_busy": (m1[0] - m0[0]) / max(1, m1[2] - m0[2]),
                "pss_max": max((s["pss"] for s in samples), default=None),
            })
            if bots:
                res.update({
                    "holding_min": min((s["bots_holding"] for s in window), default=None),
                    "holding_mean": (sum(s["bots_holding"] for s in window) / len(window)
                                     if window else None),
                    "holding_max": max((s["bots_holding"] for s in window), default=None),
                    "bot_hangups": b1["hangups"] - b0["hangups"] if b0 and b1 else None,
                    "bot_connects": b1["connects"] - b0["connects"] if b0 and b1 else None,
                })
                # the newcomer, from the first sample of a full house on
                full = [s for s in samples if s["bots"] and
                        s["bots_holding"] >= FILL * p["sessions_max"]]
                nb0 = full[0]["bots"] if full else b0
                codes = codes_diff(b1, nb0, "new")
                res["newcomer"] = {"codes": codes, "attempts": sum(codes.values()),
                                   "greeted": codes.get("220", 0),
                                   "seconds": b1["t"] - nb0["t"] if b1 and nb0 else None}
            deadline = time.time() + 15
            queued = srv.queue_files()
            while queued and time.time() < deadline:
                time.sleep(0.2)
                queued = srv.queue_files()
            res["queued_after"] = queued
            log = srv.log()
            res["log_counts"] = {k: log.count(k) for k in (
                "smtp connect", "smtp refuse", "rule=sessions-max", "rule=conn-per-ip",
                "rule=conn-rate", "verdict=pass", "preempt", "timeout")}
            res["good_refusals"] = sum(1 for l in log.splitlines()
                                       if "client=" + GOOD_CLIENT in l and "refuse" in l)
            why = []
            if g["errors"]:
                why.append("client errors: %s" % g["errors"][:3])
            if mode == "quiet" and not accepted:
                why.append("the quiet run accepted nothing: no throughput to compare with")
            if sink.count != nw + accepted:
                why.append("sink counted %d, the client had %d accepted (warm-up %d)" % (
                    sink.count, nw + accepted, nw))
            if queued:
                why.append("%d messages still queued" % queued)
            if not bots_alive:
                why.append(bots.error() if bots else "bots gone")
            res["ok"] = not why
            if why:
                fail("; ".join(why))
    except Exception as e:
        res["error"] = "%s: %r" % (type(e).__name__, e)
        res["ok"] = False
    finally:
        stop_sampler()
        res["run_seconds"] = time.time() - t_run
        if not res.get("evidence_dir"):
            shutil.rmtree(work, ignore_errors=True)
    return res


def run(a):
    """Every configuration, quiet and flood alternating; the mix's data."""
    t_start = time.time()
    if a.holder_addrs % a.holder_sessions or not 0 < a.holder_addrs <= 250 or \
            a.holder_messages % a.holder_sessions:
        raise SystemExit("flood: --holder-addrs (at most 250) and --holder-messages "
                         "must be multiples of --holder-sessions")
    confs = {}
    for name in a.configs.split(","):
        if name not in CONFIGS:
            raise SystemExit("flood: --configs: %s is not one of %s" % (
                name, ", ".join(CONFIGS)))
        confs[name] = profile(name)
    runs = []
    for rep in range(a.holder_reps):
        for name, conf in confs.items():
            modes = a.holder_modes.split(",")
            for mode in (modes if rep % 2 == 0 else modes[::-1]):
                r = run_once(mode, name, conf, a)
                r["rep"] = rep
                runs.append(r)
                print("flood holders %-10s rep=%d %-5s %s msg/s %s accepted=%s/%s "
                      "refused=%s holding=%s/%s newcomer=%s ok=%s %s" % (
                          name, rep, mode, f1(r.get("rate")),
                          "complete" if r.get("complete") else
                          "INCOMPLETE" if r.get("accepted") is not None else "",
                          r.get("accepted"), r["messages"], r.get("refused"),
                          f0(r.get("holding_min")), f0(r["plan"]["sessions_max"]),
                          "%s/%s greeted" % (r["newcomer"]["greeted"],
                                             r["newcomer"]["attempts"])
                          if r.get("newcomer") else "—",
                          r["ok"], r.get("error") or ""), flush=True)
    params = {k: v for k, v in vars(a).items()
              if k.startswith("holder_") or k in ("configs", "size", "retry", "calm", "bin", "pin")}
    return {"params": params, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "commit": lib_commit(), "configs": {
                n: {"path": CONFIGS[n], "workers": c["workers"], "limits": c["limits"],
                    "screen": c["bench_screen"], "dnsbl": c["dnsbl"],
                    "left_out": c["left_out"], "plan": plan(c, a)}
                for n, c in confs.items()},
            "runs": runs, "elapsed": time.time() - t_start}


def lib_commit():
    try:
        import subprocess
        return subprocess.run(["git", "-C", lib.ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, ValueError):
        return None


def med(runs, key, **sel):
    return lib.median([r[key] for r in runs if r.get("ok") and r.get(key) is not None
                       and all(r.get(k) == v for k, v in sel.items())])


def summarize(data):
    """Per configuration: medians and the ratio, None unless every run of
    that configuration was valid."""
    data["results"] = {}
    for name in data["configs"]:
        runs = [r for r in data["runs"] if r["config"] == name]
        bad = [r for r in runs if not r.get("ok")]
        q = med(runs, "rate", mode="quiet")
        f = med(runs, "rate", mode="flood")
        ratio = f / q if not bad and q and f is not None else None
        data["results"][name] = {"quiet_rate": q, "flood_rate": f, "ratio": ratio,
                                 "invalid_runs": len(bad), "target": TARGET,
                                 "met": ratio is not None and ratio >= TARGET}
        print("flood holders %s: without %s msg/s, with %s msg/s, ratio %s%s" % (
            name, f1(q), f1(f), f2(ratio),
            " (%d invalid run(s): no ratio)" % len(bad) if bad else ""), flush=True)
    return data


def invalid(data):
    return ["holders %s rep=%s %s: %s" % (r["config"], r.get("rep"), r["mode"],
                                          r.get("error"))
            for r in data["runs"] if not r.get("ok")]


def _codes(d):
    return ", ".join("%s: %s" % (c, f0(n)) for c, n in sorted((d or {}).items())) or "none"


def section(data):
    p = data["params"]
    lines = []
    w = lines.append
    w("### Holders: connections that fill sessions_max (holder mix)\n")
    w("Measured %s at commit %s. Connections that do nothing fill moatd's "
      "`sessions_max` and keep it full: sessions_max × %s of them (bench/floodbots.c), "
      "from addresses that carry at most `conn_per_ip` each (at least %d addresses), "
      "wait for the greeting, then half sit idle and half trickle one byte of a "
      "command line every ~%s s without ever ending it; one that is hung up on or "
      "refused comes back %s–%s s later. The well-behaved client (bench/goodclient.c -1) "
      "opens **one connection per message**, %d at a time, from %d addresses in turn "
      "(127.0.2.1–%d; %s messages of %d octets in all) and has a **good record**: "
      "before the bots start it delivers %d messages from each address, in both "
      "modes. A refused or "
      "dropped attempt is tried again 0.5 s later; no new connection after %.0f s. "
      "**Throughput**: messages accepted per second from the client's start to its "
      "last 250 (or, when it could not finish, those accepted by the deadline over "
      "the deadline). Quiet: the same without the bots. %d repetitions, quiet and "
      "flood alternating, each run with a fresh sink, moatd and rbldnsd.\n" % (
          data.get("date", "—"), data.get("commit") or "—", p["holder_factor"],
          p["holder_min_addrs"], f0(p["holder_trickle"]), f1(p.get("holder_retry", 1.0) / 2),
          f1(p.get("holder_retry", 1.0) * 1.5), p["holder_sessions"],
          p.get("holder_addrs", p["holder_sessions"]),
          p.get("holder_addrs", p["holder_sessions"]), f0(p["holder_messages"]), p["size"],
          p["holder_warmup"],
          p["holder_deadline"], p["holder_reps"]))
    if p.get("pin"):
        w("Pinned (`--pin %s`): moatd, the client, the sink and rbldnsd on CPU %s; "
          "the holders (and a decoy moatd) on CPU %s, as if the attack came from "
          "other machines: the ratio is then what moatd's own work for the holders "
          "costs the client, not the bots' CPU.\n" % (
              p["pin"], p["pin"].split(":")[0], p["pin"].split(":")[1]))
    w("| configuration | sessions_max | holders (addresses) | quiet msg/s | flood msg/s "
      "| flood / quiet | target ≥ %d%% |" % (100 * TARGET))
    w("|---|---:|---|---:|---:|---:|---|")
    for name, c in data["configs"].items():
        r = data.get("results", {}).get(name, {})
        pl = c["plan"]
        w("| %s | %s | %s (%s) | %s | %s | **%s** | %s |" % (
            CONFIG_NAMES[name], f0(pl["sessions_max"]), f0(pl["holders"]),
            f0(pl["addresses"]), f1(r.get("quiet_rate")), f1(r.get("flood_rate")),
            "%.0f%%" % (100 * r["ratio"]) if r.get("ratio") is not None else
            "no valid measurement", "**met**" if r.get("met") else "**missed**"))
    w("")
    for name, c in data["configs"].items():
        lim = c["limits"]
        w("%s: workers = %d, `greet_delay_ms = %s`, `conn_per_ip = %s`, `conn_rate = %s`, "
          "`refuse_hold_ms = %s`, `verdict_cache_ttl = %s`, `timeout_command = %s`%s; "
          "screen %s%s. Not carried over: %s." % (
              CONFIG_NAMES[name], c["workers"], lim.get("greet_delay_ms", 0),
              lim.get("conn_per_ip", CONN_PER_IP_DEFAULT), lim.get("conn_rate", "120"),
              lim.get("refuse_hold_ms", 0), lim.get("verdict_cache_ttl", 3600),
              lim.get("timeout_command", 300),
              "".join(", `%s = %s`" % (k, v) for k, v in lim.items()
                      if k.startswith("greet_pass") or k.startswith("stress")),
              ", ".join("`%s = %s`" % kv for kv in c["screen"].items()),
              ", DNSBL `%s` (weight 3) on rbldnsd" % BL_ZONE if c["dnsbl"] else "",
              ", ".join(c["left_out"]) or "nothing"))
        w("")
    w("Every run (client: accepted of %s, refused = first replies of its refused "
      "connections, dropped = connections that failed or ended; holders held = "
      "bots greeted and still connected during the client's run, min / mean; "
      "newcomer = attempts of a never-seen client from 127.9.0.1, greeted of "
      "those made while the house was full):\n" % f0(p["holder_messages"]))
    w("| config | rep | mode | msg/s | accepted | refused | tempfail | dropped "
      "| time to greeting p50 / max (ms) | holders held | newcomer greeted | ok |")
    w("|---|---:|---|---:|---|---|---|---:|---|---|---|---|")
    for r in data["runs"]:
        nc = r.get("newcomer")
        w("| %s | %d | %s | %s | %s%s | %s | %s | %s | %s / %s | %s | %s | %s |" % (
            r["config"], r["rep"], r["mode"], f1(r.get("rate")),
            f0(r.get("accepted")), "" if r.get("complete") or r.get("accepted") is None
            else " (incomplete at %.0f s)" % p["holder_deadline"],
            _codes(r.get("refused")), _codes(r.get("tempfail")), f0(r.get("dropped")),
            f0(r.get("greet_p50_ms")), f0(r.get("greet_max_ms")),
            "%s / %s of %s" % (f0(r.get("holding_min")), f0(r.get("holding_mean")),
                               f0(r["plan"]["sessions_max"]))
            if r["mode"] == "flood" else "",
            "%d of %d" % (nc["greeted"], nc["attempts"]) if nc else "",
            "yes" if r.get("ok") else "**no**: %s" % r.get("error")))
    w("")
    for name in data["configs"]:
        fl = [r for r in data["runs"] if r["config"] == name and r["mode"] == "flood"
              and r.get("bots_after")]
        if not fl:
            continue
        r = fl[-1]
        b = r["bots_after"]
        w("%s, last flood run: %s holders (%s), %s connections in all, %s of them hung "
          "up on by the server during the client's run; first replies: %s. moatd's "
          "log: %s. Refusals of the client in moatd's log: %s.\n" % (
              CONFIG_NAMES[name], f0(sum(r["bot_counts"].values())),
              ", ".join("%s %s" % (f0(v), k) for k, v in r["bot_counts"].items()),
              f0(b["connects"]), f0(r.get("bot_hangups")),
              "; ".join("%s %s" % (k, _codes(v)) for k, v in b["replies"].items() if v),
              ", ".join("%s `%s`" % (f0(n), k) for k, n in r["log_counts"].items()),
              f0(r.get("good_refusals"))))
    return "\n".join(lines) + "\n"

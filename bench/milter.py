#!/usr/bin/env python3
"""milter - end-to-end throughput with the rspamd milter, moat and Postfix
side by side.

One rspamd (tests/e2e/service_peers.py, Rspamd: Debian's rspamd, its proxy
worker a milter on a unix socket scanning itself, in a network and mount
namespace of its own, so its DNS and map fetches never leave it) serves
both servers for the whole run. Each repetition runs four configurations,
in an order rotated from one repetition to the next:

    postfix          a private Postfix relaying to the sink (bench/lib.py)
    postfix+rspamd   the same with smtpd_milters = unix:SOCKET,
                     milter_protocol = 6, milter_default_action = tempfail
    moat             moatd, workers = 1, relaying to the sink
    moat+rspamd      the same with milter "rspamd" { address = "unix:SOCKET"
                     timeout_ms = 60000 on_error = "tempfail" trusted = true }

(trusted = true: the load comes from 127.0.0.1, a trusted network, which
moat shows a milter only when told to; Postfix's smtpd_milters see every
client.) The load is bench/throughput.py's run_once: smtp-source, SESSIONS
sessions, MESSAGES messages of SIZE octets, a fresh sink and a fresh server
for every run. A milter run counts only if, besides run_once's checks (250
for every message, the sink counted exactly MESSAGES, nothing queued),
rspamd logged a scan for every message (rspamd_task_write_log lines in its
log, counted from where the run began). Before the measured runs, not
counted: WARMUP messages through each server, then batches through moat
until rspamd asks no DNS list any more (its monitors find the namespace's
lists dead a few minutes after its start; until then it asks them about
every client with a name, which moat gives its loopback client and Postfix,
smtpd_peername_lookup = no, does not).

    milter.py --out bench/results [--bin build/release] [--reps 3]
              [--messages 20000] [--sessions 20] [--size 4096] [--warmup 500]
    milter.py --out bench/results --section     (milter.md again from milter.json)

Reports medians, moat/Postfix with and without the milter, each side's
milter cost (1 - with / without) and rspamd's CPU per message and share of
a core under each. Writes DIR/milter.json and DIR/milter.md. Traffic stays
on 127.0.0.0/8 and on the milter's unix socket.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402  (puts tests/e2e on the path)
from throughput import run_once  # noqa: E402
from service_peers import Rspamd  # noqa: E402

# name -> (run_once side, with the milter)
CONFIGS = {
    "postfix": ("postfix", False),
    "postfix+rspamd": ("postfix", True),
    "moat": ("moat-w1", False),
    "moat+rspamd": ("moat-w1", True),
}
NAMES = {"postfix": "Postfix", "postfix+rspamd": "Postfix + rspamd",
         "moat": "moat (workers=1)", "moat+rspamd": "moat (workers=1) + rspamd"}
SCAN_MARK = b"rspamd_task_write_log:"
SCAN_RX = re.compile(rb"\(default: \w+ \(([^)]*)\)")
TIME_RX = re.compile(rb", time: ([0-9.]+)ms, dns req: (\d+)")


def cpu_nice():
    """(nice, total) jiffies of the whole machine: what the niced
    background work (the fuzzing job) took."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[1], sum(v[:8])


class ScanLog:
    """Counts rspamd's one-line-per-scan log entries, reading on from where
    the last count stopped."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def skip(self):
        try:
            self.offset = os.path.getsize(self.path)
        except FileNotFoundError:
            self.offset = 0

    def count(self):
        """{scans, actions: {action: n}, scan_ms: median time of a scan,
        dns_per_scan} of the lines written since skip() or the last count."""
        n, actions, ms, dns = 0, {}, [], 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if SCAN_MARK not in line:
                continue
            n += 1
            # "(default: F (no action): [1.90/15.00] [...]), len: 4242,
            # time: 5.548ms, dns req: 0, ..."
            m = SCAN_RX.search(line)
            if m:
                a = m.group(1).decode(errors="replace")
                actions[a] = actions.get(a, 0) + 1
            m = TIME_RX.search(line)
            if m:
                ms.append(float(m.group(1)))
                dns += int(m.group(2))
        self.offset += end
        return {"rspamd_scans": n, "rspamd_actions": actions,
                "rspamd_scan_ms": lib.median(ms),
                "rspamd_dns_per_scan": dns / n if n else None}


def wait_compiled(path, timeout):
    """Wait for rspamd's hs_helper to finish compiling its expressions (it
    does even with hyperscan off, seconds of a core after every start), so
    that no measured run pays for it; False if it never said so."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, "rb") as f:
            if re.search(rb"compiled \d+ regular expressions", f.read()):
                time.sleep(2.0)  # its loaded notification, a second later
                return True
        time.sleep(0.5)
    return False


def warm(name, n, phase, rspamd, scans, a, data):
    """A run of n messages that does not count; one that fails stops the
    benchmark (the milter path does not work)."""
    r = measured(name, rspamd, scans, argparse.Namespace(**dict(vars(a), messages=n)))
    r["warmup"] = phase
    data["runs"].append(r)
    print("milter %s %-15s %s msg/s scans=%d dns/scan=%s scan=%s ms ok=%s" % (
        phase, name, f0(r.get("rate")), r["rspamd_scans"], r.get("rspamd_dns_per_scan"),
        f2(r.get("rspamd_scan_ms")), r["ok"]), flush=True)
    if not r["ok"]:
        raise RuntimeError("%s through %s failed: %s" % (phase, name, {
            k: r.get(k) for k in ("error", "source_output", "sink_count", "rspamd_scans",
                                  "evidence_dir")}))
    return r


def measured(name, rspamd, scans, a):
    """One run of configuration name; rspamd's CPU is taken from when the
    load starts to when the sink has the last message."""
    side, with_milter = CONFIGS[name]
    kw = {"milter": rspamd.address()} if with_milter else {}
    box = {}

    def during(srv, src):
        box["cpu0"] = lib.tree_cpu(rspamd.proc.pid)
        box["nice0"] = cpu_nice()
        box["t0"] = time.time()

        def after():
            box["cpu1"] = lib.tree_cpu(rspamd.proc.pid)
            box["nice1"] = cpu_nice()
            box["t1"] = time.time()
        return after

    scans.skip()
    try:
        r = run_once(side, a.sessions, a.messages, a.size, a.bin, server_kw=kw,
                     during=during)
    except Exception as e:  # a server that would not start, ...
        r = {"side": side, "sessions": a.sessions, "messages": a.messages, "ok": False,
             "error": repr(e)}
    r["config"] = name
    time.sleep(0.5)  # rspamd writes its log line after its reply
    r.update(scans.count())
    if "cpu1" in box:
        cpu = box["cpu1"] - box["cpu0"]
        r["rspamd_cpu"] = cpu
        r["rspamd_cpu_per_1000"] = cpu / a.messages * 1000
        r["rspamd_core_share"] = cpu / max(1e-9, box["t1"] - box["t0"])
        dn, dt = (box["nice1"][i] - box["nice0"][i] for i in (0, 1))
        r["machine_nice"] = dn / max(1, dt)
    if rspamd.proc.poll() is not None:
        r["ok"] = False
        r["error"] = "rspamd exited with %s" % rspamd.proc.returncode
    if with_milter and r["rspamd_scans"] != a.messages:
        r["ok"] = False  # the milter did not see every message
    if not with_milter and r["rspamd_scans"]:
        r["ok"] = False  # someone else's mail went through our rspamd
    return r


def med(runs, key, name):
    return lib.median([r[key] for r in runs
                       if r["config"] == name and r.get("ok") and r.get(key) is not None])


def summarize(runs):
    keys = ("rate", "server_cpu_per_1000", "rspamd_cpu_per_1000", "rspamd_core_share",
            "rspamd_scan_ms", "rspamd_dns_per_scan", "machine_busy", "machine_nice")
    s = {name: {k: med(runs, k, name) for k in keys} for name in CONFIGS}

    def div(x, y):
        return x / y if x is not None and y else None
    return {
        "medians": s,
        "ratio_without": div(s["moat"]["rate"], s["postfix"]["rate"]),
        "ratio_with": div(s["moat+rspamd"]["rate"], s["postfix+rspamd"]["rate"]),
        "cost_postfix": (1 - div(s["postfix+rspamd"]["rate"], s["postfix"]["rate"])
                         if s["postfix"]["rate"] and s["postfix+rspamd"]["rate"] else None),
        "cost_moat": (1 - div(s["moat+rspamd"]["rate"], s["moat"]["rate"])
                      if s["moat"]["rate"] and s["moat+rspamd"]["rate"] else None),
    }


def f0(x):
    return "—" if x is None else "{:,.0f}".format(x)


def f2(x):
    return "—" if x is None else "%.2f" % x


def pct(x):
    return "—" if x is None else "%.0f%%" % (100 * x)


def section(data):
    p, s = data["params"], data["summary"]
    m = s["medians"]
    runs = [r for r in data["runs"] if not r.get("warmup")]
    out = ["## The rspamd milter: end-to-end throughput with and without it\n",
           "bench/milter.py: one rspamd (%s; tests/e2e/service_peers.py, Rspamd: its "
           "proxy worker, `count = 1`, a milter on a unix socket scanning itself, in a "
           "network and mount namespace of its own whose only DNS is a dnsmasq that "
           "answers nothing; hyperscan off, log level info) serves both servers for the "
           "whole run. **Postfix** with `smtpd_milters = unix:SOCKET`, `milter_protocol = "
           "6`, `milter_default_action = tempfail` (smtpd not chrooted); **moat** (moatd, "
           "workers = 1) with `milter \"rspamd\" { address = \"unix:SOCKET\" timeout_ms "
           "= 60000 on_error = \"tempfail\" trusted = true }` (trusted: the load comes "
           "from 127.0.0.1, a trusted network, which moat shows a milter only when told "
           "to). Both also without the milter, in the same run. smtp-source, %d sessions, "
           "%s messages of %d octets per run, relayed to smtp-sink; %d repetitions, the "
           "four configurations in an order rotated each repetition, a fresh server and "
           "sink every run, after a warm-up of %d messages through each server and "
           "rspamd. A milter run counts only if, besides 250 for every message and "
           "exactly that many at the sink, rspamd logged a scan of every message. "
           "moatd: commit %s%s%s. Run %s, %s min.\n" % (
               data.get("rspamd_version") or "rspamd", p["sessions"],
               "{:,}".format(p["messages"]), p["size"], p["reps"], p.get("warmup", 0),
               data.get("commit"),
               " + uncommitted changes in src/" if data.get("src_dirty") else "",
               (", " + data["build_note"]) if data.get("build_note") else "",
               data.get("date", "—"), "%.0f" % (data["elapsed"] / 60)
               if data.get("elapsed") else "—"),
           "| | msg/s (median) | runs | server CPU s per 1,000 msgs | rspamd CPU s per "
           "1,000 msgs | rspamd's share of a core | rspamd's time per scan (median) "
           "| machine busy (of it niced) |",
           "|---|---|---|---|---|---|---|---|"]
    for name in CONFIGS:
        rates = [r["rate"] for r in runs if r["config"] == name and r.get("ok")]
        bad = sum(1 for r in runs if r["config"] == name and not r.get("ok"))
        mm = m[name]
        milter = CONFIGS[name][1]
        out.append("| %s | %s | %s%s | %s | %s | %s | %s | %s (%s) |" % (
            NAMES[name], f0(mm["rate"]), ", ".join(f0(x) for x in rates),
            " (+%d failed)" % bad if bad else "", f2(mm["server_cpu_per_1000"]),
            f2(mm["rspamd_cpu_per_1000"]) if milter else "—",
            pct(mm["rspamd_core_share"]) if milter else "—",
            "%.1f ms" % mm["rspamd_scan_ms"] if milter and mm["rspamd_scan_ms"] else "—",
            pct(mm["machine_busy"]), pct(mm["machine_nice"])))
    out += ["", "| | moat / Postfix |", "|---|---|",
            "| without the milter | %s× |" % f2(s["ratio_without"]),
            "| with rspamd | %s× |" % f2(s["ratio_with"]), ""]
    out.append("The milter's cost (1 − rate with / rate without): Postfix %s, moat %s.\n" % (
        pct(s["cost_postfix"]), pct(s["cost_moat"])))

    # What it means, from the figures above.
    def per_msg(name):  # one session's time per message, ms
        return 1000 * p["sessions"] / m[name]["rate"] if m[name]["rate"] else None

    mp, pp = m["moat+rspamd"], m["postfix+rspamd"]
    if (mp["rate"] and pp["rate"] and m["moat"]["rate"] and m["postfix"]["rate"]
            and mp["rspamd_scan_ms"] and pp["rspamd_scan_ms"]):
        out.append(
            "Each of the %d sessions has one message in flight, so %d / rate is the "
            "time a message takes: %.1f ms through moat without the milter and %.0f ms "
            "with it, %.0f ms through Postfix without and %.0f ms with. The milter adds "
            "a similar time to both, %.0f ms a message to moat and %.0f ms to Postfix; "
            "moat's own %.1f ms are a small part of the total, Postfix's %.0f ms a larger "
            "one, hence the larger share of moat's rate the milter takes (%s against %s) "
            "and the ratio that falls from %s× to %s×. Little of the added time is work: "
            "rspamd's scan (its own log's time, median) is %.1f ms under moat and %.1f ms "
            "under Postfix; moat's CPU per message goes from %s to %s s per 1,000 (the "
            "milter conversation, and every message written anew with rspamd's header "
            "fields), Postfix's from %s to %s; rspamd (all its processes) uses %s of a "
            "core under moat and %s under Postfix. The rest is waiting on the milter "
            "conversation's round trips to rspamd's one proxy worker, which the %d "
            "sessions share (not broken down further here).\n" % (
                p["sessions"], p["sessions"], per_msg("moat"), per_msg("moat+rspamd"),
                per_msg("postfix"), per_msg("postfix+rspamd"),
                per_msg("moat+rspamd") - per_msg("moat"),
                per_msg("postfix+rspamd") - per_msg("postfix"),
                per_msg("moat"), per_msg("postfix"),
                pct(s["cost_moat"]), pct(s["cost_postfix"]),
                f2(s["ratio_without"]), f2(s["ratio_with"]),
                mp["rspamd_scan_ms"], pp["rspamd_scan_ms"],
                f2(m["moat"]["server_cpu_per_1000"]), f2(mp["server_cpu_per_1000"]),
                f2(m["postfix"]["server_cpu_per_1000"]), f2(pp["server_cpu_per_1000"]),
                pct(mp["rspamd_core_share"]), pct(pp["rspamd_core_share"]),
                p["sessions"]))
    warm = {r["config"]: r for r in data["runs"] if r.get("warmup") == "warm-up"}
    wm, wp = warm.get("moat+rspamd"), warm.get("postfix+rspamd")
    if wm and wp and data.get("rspamd_settled_seconds"):
        out.append(
            "Until its monitors found the namespace's DNS lists dead (here %.0f s after "
            "its start), rspamd asked DBL, URIBL and SURBL about the HELO name and the "
            "client's name for each of moat's messages (warm-up: %.1f queries per scan, "
            "%.0f ms median) and for none of Postfix's (%.1f, %.1f ms): moat names a "
            "loopback client `localhost` (the connect step's host name and "
            "`{client_name}`), Postfix with `smtpd_peername_lookup = no` (bench/lib.py) "
            "says `unknown`, and rspamd skips those lists for `unknown` (checked by hand "
            "with a scripted milter client against this rspamd: `localhost` gives 6 "
            "queries a message, `unknown` none, with or without a Received field). The "
            "measured runs come after that (%s), so rspamd does the same work for both: "
            "%.1f queries per scan under moat, %.1f under Postfix. In production both "
            "servers pass the client's PTR name and rspamd asks live lists for both, "
            "which adds their latency to every message of either. (moat also shows the "
            "milter its own Received field, which Postfix hides, as Sendmail does; that "
            "changes a few symbols, RCVD_NO_TLS_LAST +0.10, not the time. Since commit "
            "6b83af7 moat hides it too.)\n" % (
                data["rspamd_settled_seconds"], wm["rspamd_dns_per_scan"] or 0,
                wm["rspamd_scan_ms"] or 0, wp["rspamd_dns_per_scan"] or 0,
                wp["rspamd_scan_ms"] or 0,
                "batches through moat until rspamd asked nothing"
                if data.get("rspamd_settled") else
                "**but rspamd never stopped asking: the moat runs paid for it**",
                mp["rspamd_dns_per_scan"] or 0, pp["rspamd_dns_per_scan"] or 0))
    nice = [r.get("machine_nice") for r in runs if r.get("machine_nice") is not None]
    if nice:
        out.append(
            "The machine was never idle: niced work (a fuzzing job at nice 19) took "
            "%s–%s of its CPU during the runs, running in whatever the servers, rspamd "
            "and the load left; the milter runs, which wait on round trips, leave it "
            "more.%s\n" % (pct(min(nice)), pct(max(nice)),
                            (" " + data["note"]) if data.get("note") else ""))
    return "\n".join(out) + "\n"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--warmup", type=int, default=500,
                    help="messages through each server and rspamd first, not counted")
    ap.add_argument("--section", action="store_true",
                    help="only write DIR/milter.md again from DIR/milter.json")
    ap.add_argument("--note", help="a sentence on this run's circumstances, kept in "
                    "milter.json and printed in milter.md")
    ap.add_argument("--build-note", help="how moatd was built, for milter.md")
    ap.add_argument("--commit", help="the commit moatd was built from (default: this "
                    "tree's HEAD)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.section:
        with open(os.path.join(a.out, "milter.json")) as f:
            data = json.load(f)
        for k in ("note", "build_note", "commit"):
            if getattr(a, k) is not None:
                data[k] = getattr(a, k)
        with open(os.path.join(a.out, "milter.json"), "w") as f:
            json.dump(data, f, indent=1)
        with open(os.path.join(a.out, "milter.md"), "w") as f:
            f.write(section(data))
        return 0
    data = {"params": vars(a), "runs": [],
            "moatd": os.path.abspath(os.path.join(a.bin, "moatd")),
            "rspamd_version": version(["rspamd", "--version"]),
            "commit": a.commit or version(["git", "-C", lib.ROOT, "rev-parse", "--short",
                                           "HEAD"]),
            "src_dirty": bool(version(["git", "-C", lib.ROOT, "status", "--porcelain",
                                       "src"])) if not a.commit else None,
            "build_note": a.build_note,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
            "note": a.note}
    t_start = time.time()
    rspamd = Rspamd(tmpdir=lib.make_tmpdir("bench-rspamd-"))
    failed = False
    try:
        t = time.time()
        rspamd.start(timeout=120)
        data["rspamd_start_seconds"] = time.time() - t
        data["rspamd_compiled"] = wait_compiled(rspamd.rspamd_log, 300)
        data["rspamd_ready_seconds"] = time.time() - t
        scans = ScanLog(rspamd.rspamd_log)
        # Warm-up, not counted: rspamd's first scans load its rules and
        # maps; and a milter path that does not work stops the run here.
        for name in ("postfix+rspamd", "moat+rspamd"):
            warm(name, a.warmup, "warm-up", rspamd, scans, a, data)
        # Then wait for rspamd's steady state. Its monitors find the DNS
        # lists (DBL, URIBL, SURBL, ...) dead a few minutes after its start,
        # the namespace's DNS answering nothing; until then it asks them
        # about every client that has a name, which moat gives a loopback
        # client ("localhost") and Postfix (smtpd_peername_lookup = no)
        # does not ("unknown"): only the moat runs would pay for it.
        deadline = time.time() + 900
        while True:
            r = warm("moat+rspamd", 200, "settle", rspamd, scans, a, data)
            if r["rspamd_dns_per_scan"] == 0:
                data["rspamd_settled"] = True
                break
            if time.time() > deadline:
                data["rspamd_settled"] = False
                print("milter: rspamd still asks DNS lists after 15 min; measuring anyway",
                      flush=True)
                break
            time.sleep(15)
        data["rspamd_settled_seconds"] = time.time() - t
        names = list(CONFIGS)
        for rep in range(a.reps):
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                for attempt in (1, 2):
                    r = measured(name, rspamd, scans, a)
                    r["rep"], r["attempt"] = rep, attempt
                    data["runs"].append(r)
                    if r["ok"]:
                        break
                    # kept in the record; the repetition is tried once more
                    print("milter: %s failed (%s), evidence in %s; trying again" % (
                        name, r.get("error") or "scans=%d sink=%s" % (
                            r["rspamd_scans"], r.get("sink_count")),
                        r.get("evidence_dir")), flush=True)
                failed |= not r["ok"]
                print("milter rep=%d %-15s %s msg/s  cpu/1000=%s  rspamd cpu/1000=%s  "
                      "scans=%d ok=%s" % (
                          rep, name, f0(r.get("rate")), f2(r.get("server_cpu_per_1000")),
                          f2(r.get("rspamd_cpu_per_1000")), r["rspamd_scans"], r["ok"]),
                      flush=True)
                data["elapsed"] = time.time() - t_start
                with open(os.path.join(a.out, "milter.json"), "w") as f:
                    json.dump(data, f, indent=1)
    except BaseException:
        failed = True
        raise
    finally:
        rspamd.stop()
        if failed or os.environ.get("BENCH_KEEP"):
            print("milter: rspamd's directory left in %s" % rspamd.dir, flush=True)
        else:
            shutil.rmtree(rspamd.dir, ignore_errors=True)
    data["summary"] = summarize([r for r in data["runs"] if not r.get("warmup")])
    data["elapsed"] = time.time() - t_start
    with open(os.path.join(a.out, "milter.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(a.out, "milter.md"), "w") as f:
        f.write(section(data))
    s = data["summary"]
    print("milter: moat/Postfix %s× without, %s× with rspamd; the milter costs "
          "Postfix %s, moat %s" % (f2(s["ratio_without"]), f2(s["ratio_with"]),
                                   pct(s["cost_postfix"]), pct(s["cost_moat"])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

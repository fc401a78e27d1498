#!/usr/bin/env python3
"""signatures - what the attack signatures cost ordinary mail (issue 22).

The same run as bench/throughput.py's (smtp-source, SESSIONS sessions,
MESSAGES messages of SIZE octets, relayed to smtp-sink; moatd with one
worker), twice per repetition: without a signatures_file and with the
shipped etc/signatures.conf, alternating which goes first. The traffic is
clean, so what it measures is the matching itself: every command line,
every HELO/MAIL/RCPT argument and every header line goes through its
stage's joined expression, and nothing hits.

    signatures.py --out bench/results [--bin build/release] [--reps 5]
                  [--messages 20000] [--sessions 20] [--size 4096]

cost = 1 - median rate with / median rate without; target < 3%
(report.py). Writes DIR/signatures.json and DIR/signatures.md.
Traffic stays on 127.0.0.0/8.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from throughput import run_once  # noqa: E402

SIGNATURES = os.path.join(lib.ROOT, "etc", "signatures.conf")
TARGET = 0.03
MODES = {"without": None, "with": SIGNATURES}


def section(data):
    runs = [r for r in data["runs"] if r.get("ok")]
    p = data["params"]
    out = ["## Attack signatures: their cost to ordinary mail\n",
           "bench/signatures.py: moatd (1 worker), %d sessions, %d messages of %d octets, "
           "without a signatures_file and with etc/signatures.conf (%d rules), %d "
           "repetitions alternating; clean traffic, so no rule hits and every line is "
           "matched to the end.\n" % (p["sessions"], p["messages"], p["size"],
                                      data["rules"], p["reps"]),
           "| | msg/s (median) | runs | server CPU s per 1,000 msgs |",
           "|---|---|---|---|"]
    for mode in MODES:
        rates = [r["rate"] for r in runs if r["mode"] == mode]
        cpu = [r["server_cpu_per_1000"] for r in runs if r["mode"] == mode]
        out.append("| %s | %s | %s | %s |" % (
            mode, "%.0f" % lib.median(rates) if rates else "—",
            ", ".join("%.0f" % x for x in rates),
            "%.3f" % lib.median(cpu) if cpu else "—"))
    c = data.get("cost")
    out.append("\ncost: %s (target < %d%%)%s\n" % (
        "%.1f%%" % (100 * c) if c is not None else "—", 100 * TARGET,
        "; CPU per message %+.1f%%" % (100 * data["cpu_cost"])
        if data.get("cpu_cost") is not None else ""))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(SIGNATURES) as f:
        nrules = sum(1 for l in f if l.strip() and not l.lstrip().startswith("#"))
    runs, bad = [], 0
    t_start = time.time()
    for rep in range(a.reps):
        order = list(MODES) if rep % 2 == 0 else list(MODES)[::-1]
        for mode in order:
            r = run_once("moat-w1", a.sessions, a.messages, a.size, a.bin,
                         server_kw={"signatures": MODES[mode]})
            r["mode"], r["rep"] = mode, rep
            runs.append(r)
            bad += not r["ok"]
            print("signatures rep=%d %-7s %s msg/s ok=%s" % (
                rep, mode, "%.0f" % r["rate"] if r.get("rate") else "-", r["ok"]),
                flush=True)
    med = {m: lib.median([r["rate"] for r in runs if r["mode"] == m and r["ok"]] or [0])
           for m in MODES}
    cpu = {m: lib.median([r["server_cpu_per_1000"] for r in runs
                          if r["mode"] == m and r["ok"]] or [0]) for m in MODES}
    data = {"params": vars(a), "rules": nrules, "runs": runs,
            "elapsed": time.time() - t_start,
            "cost": 1 - med["with"] / med["without"] if med["without"] else None,
            "cpu_cost": cpu["with"] / cpu["without"] - 1 if cpu["without"] else None}
    with open(os.path.join(a.out, "signatures.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(a.out, "signatures.md"), "w") as f:
        f.write(section(data))
    print("signatures: without %.0f msg/s, with %.0f msg/s, cost %s" % (
        med["without"], med["with"],
        "%.1f%%" % (100 * data["cost"]) if data["cost"] is not None else "-"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

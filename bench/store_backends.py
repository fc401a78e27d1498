#!/usr/bin/env python3
"""store_backends - the state store on LMDB and on Redis (issue 23), side by
side in one run.

1. Operations: bench/store_bench.c (built here) against each backend: put,
   get, incr and take through the synchronous wrappers (one at a time: the
   round trip), get and incr through the asynchronous API (1,000 in
   flight: what a worker's loop sees), ops/s and microseconds per op.
2. End to end: bench/throughput.py's run (smtp-source, SESSIONS sessions,
   MESSAGES messages) at moatd with one worker, the load generator NOT
   trusted, so every connection, message and recipient goes through the
   screening stages that use the store (bans, marks, counts, rate buckets
   at limits no run reaches, the verdict cache, good records), on LMDB and
   on a private redis-server on loopback, alternating. ratio = Redis / LMDB
   median; target >= 0.80 (report.py).
3. The flood: bench/flood.py's classic mix with --store redis (its own
   private redis-server), FLOOD_REPS repetitions, into DIR/store-flood/;
   its ratio (flood / quiet) next to flood.py's on LMDB (DIR/flood.json,
   when make bench ran it); target >= 0.90.

    store_backends.py --out bench/results [--bin build/release] [--reps 3]
                      [--messages 10000] [--sessions 20] [--ops 50000]

Writes DIR/store.json and DIR/store.md. Traffic stays on 127.0.0.0/8.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "e2e"))
import lib  # noqa: E402
from throughput import run_once  # noqa: E402

TARGET = 0.80
SCREEN_LIMITS = {"conn_rate": 1000000, "msg_rate": 1000000, "rcpt_rate": 1000000,
                 "conn_per_ip": 1000}


def build_store_bench(bin_dir):
    exe = os.path.join(bin_dir, "store_bench")
    pk = subprocess.run(["pkg-config", "--cflags", "--libs", "libbsd-overlay", "libevent",
                         "libevent_openssl", "libcares", "libconfuse", "openssl",
                         "libpcre2-8", "hiredis"], capture_output=True, text=True,
                        check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-I" + os.path.join(lib.ROOT, "src"),
                    os.path.join(lib.ROOT, "bench", "store_bench.c"),
                    os.path.join(bin_dir, "libmoat.a"), "-o", exe] + pk +
                   ["-llmdb", "-lcrypt", "-lresolv", "-lpthread"], check=True)
    return exe


def ops(exe, target, n):
    out = subprocess.run([exe, target, str(n)], capture_output=True, text=True,
                         timeout=600).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(.+?)\s+(\d+) ops\s+([\d.]+) s\s+(\d+) ops/s\s+([\d.]+) us/op", line)
        if m:
            rows[m.group(1).strip()] = {"ops_s": int(m.group(4)), "us": float(m.group(5))}
    return rows


def section(data):
    p = data["params"]
    out = ["## State store backends: LMDB and Redis\n",
           "bench/store_backends.py. Operations through the store API (bench/store_bench.c, "
           "%d each), and end to end: moatd (1 worker), %d sessions, %d messages, the load "
           "generator not trusted so every connection, message and recipient goes through "
           "the store; Redis is a private redis-server on loopback.\n" % (
               p["ops"], p["sessions"], p["messages"]),
           "| operation | LMDB ops/s | LMDB µs/op | Redis ops/s | Redis µs/op |",
           "|---|---|---|---|---|"]
    for k in data["ops"]["lmdb"]:
        l, r = data["ops"]["lmdb"][k], data["ops"]["redis"].get(k)
        out.append("| %s | %s | %.1f | %s | %s |" % (
            k, "{:,}".format(l["ops_s"]), l["us"],
            "{:,}".format(r["ops_s"]) if r else "—", "%.1f" % r["us"] if r else "—"))
    out += ["", "| store | msg/s (median) | runs |", "|---|---|---|"]
    for b in ("lmdb", "redis"):
        rates = [r["rate"] for r in data["runs"] if r["store"] == b and r.get("ok")]
        out.append("| %s | %s | %s |" % (b, "%.0f" % lib.median(rates) if rates else "—",
                                        ", ".join("%.0f" % x for x in rates)))
    out.append("\nRedis / LMDB: %s (target ≥ %d%%)\n" % (
        "%.2f" % data["ratio"] if data.get("ratio") else "—", 100 * TARGET))
    out.append("The flood (bench/flood.py, classic mix), well-behaved client's flood / quiet "
               "throughput: on Redis %s, on LMDB %s (target ≥ 0.90).\n" % (
                   "%.2f" % data["flood_redis"] if data.get("flood_redis") else "—",
                   "%.2f" % data["flood_lmdb"] if data.get("flood_lmdb") else "—"))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--ops", type=int, default=50000)
    ap.add_argument("--flood-reps", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    from peers import Redis  # tests/e2e/peers.py
    exe = build_store_bench(a.bin)
    t_start = time.time()
    redis = Redis().start()
    try:
        d = lib.make_tmpdir("bench-store-")
        data = {"params": vars(a), "ops": {"lmdb": ops(exe, d, a.ops),
                                            "redis": ops(exe, "redis:" + redis.address(),
                                                         a.ops)}, "runs": []}
        for rep in range(a.reps):
            for b in (["lmdb", "redis"] if rep % 2 == 0 else ["redis", "lmdb"]):
                kw = {"trusted": False, "limits": dict(SCREEN_LIMITS)}
                if b == "redis":
                    kw["redis"] = redis.address()
                r = run_once("moat-w1", a.sessions, a.messages, 4096, a.bin, server_kw=kw)
                r["store"], r["rep"] = b, rep
                data["runs"].append(r)
                print("store rep=%d %-5s %s msg/s ok=%s" % (
                    rep, b, "%.0f" % r["rate"] if r.get("rate") else "-", r["ok"]), flush=True)
    finally:
        redis.stop()
    fdir = os.path.join(a.out, "store-flood")
    frc = subprocess.run([sys.executable, os.path.join(lib.ROOT, "bench", "flood.py"),
                          "--out", fdir, "--bin", a.bin, "--mix", "classic", "--store",
                          "redis", "--reps", str(a.flood_reps)]).returncode
    try:
        with open(os.path.join(fdir, "flood.json")) as f:
            data["flood_redis"] = json.load(f).get("ratio") if frc == 0 else None
    except OSError:
        data["flood_redis"] = None
    try:
        with open(os.path.join(a.out, "flood.json")) as f:
            data["flood_lmdb"] = json.load(f).get("ratio")
    except OSError:
        data["flood_lmdb"] = None
    med = {b: lib.median([r["rate"] for r in data["runs"] if r["store"] == b and r["ok"]])
           for b in ("lmdb", "redis")}
    data["ratio"] = med["redis"] / med["lmdb"] if med["lmdb"] and med["redis"] else None
    data["elapsed"] = time.time() - t_start
    with open(os.path.join(a.out, "store.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(a.out, "store.md"), "w") as f:
        f.write(section(data))
    print("store: lmdb %s msg/s, redis %s msg/s, ratio %s" % (
        med["lmdb"], med["redis"], data["ratio"]))
    return 0 if all(r["ok"] for r in data["runs"]) and frc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""idle - benchmark 3: memory held by idle sessions.

For each side and each count N, a fresh server; its memory with no session,
then with N sessions open that have read the greeting and say nothing
more. Memory is summed over every process of the server: RSS (pages
resident, shared pages counted once per process) and PSS (shared pages
divided among the processes that map them, so the sum is what the server
really occupies). Kernel socket buffers are in neither, for either side.

The sessions come from many loopback addresses (SPREAD sessions per
address, 127.1.x.y) so that no per-client limit is what is measured. The
file-descriptor limit must allow N plus a margin (run.sh raises it).

    idle.py --out bench/results [--counts 1000,10000]
            [--sides moat-w1,moat-w2,postfix] [--postfix-max 10000]
"""

import argparse
import json
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from throughput import make_server  # noqa: E402

SPREAD = 10


def source_addr(i):
    k = i // SPREAD
    return "127.1.%d.%d" % (k // 250, 1 + k % 250)


def open_idle(port, n, window=100, timeout=600):
    """n connections that have each read a 220 greeting; raises on failure."""
    sel = selectors.DefaultSelector()
    pending, done = {}, []
    i = 0
    deadline = time.time() + timeout
    while len(done) < n:
        while i < n and len(pending) < window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((source_addr(i), 0))
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_READ)
            pending[s.fileno()] = s
            i += 1
        if time.time() > deadline:
            raise RuntimeError("%d of %d sessions greeted before the timeout"
                               % (len(done), n))
        for key, _ in sel.select(1.0):
            s = key.fileobj
            try:
                data = s.recv(1024)
            except OSError as e:
                raise RuntimeError("session %d: %s" % (len(done), e))
            if not data.startswith(b"220"):
                raise RuntimeError("session %d: greeting %r" % (len(done), data[:80]))
            sel.unregister(s)
            del pending[s.fileno()]
            done.append(s)
    sel.close()
    return done


def measure(srv, n):
    time.sleep(1.0)
    base = srv.memory()
    t0 = time.time()
    socks = open_idle(srv.port, n)
    t_open = time.time() - t0
    time.sleep(3.0)  # let the server settle (Postfix: every smtpd has greeted)
    held = srv.memory()
    res = {
        "sessions": n,
        "open_seconds": t_open,
        "base_processes": base[0], "base_rss": base[1], "base_pss": base[2],
        "processes": held[0], "rss": held[1], "pss": held[2],
        "pss_per_session": (held[2] - base[2]) / n,
        "rss_per_session": (held[1] - base[1]) / n,
    }
    for s in socks:
        s.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--sides", default="moat-w1,postfix,moat-w2")
    ap.add_argument("--postfix-max", type=int, default=10000,
                    help="largest count tried with Postfix (a process each)")
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    a = ap.parse_args()
    counts = [int(c) for c in a.counts.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(counts) + 1000
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    os.makedirs(a.out, exist_ok=True)
    runs = []
    for n in counts:
        for side in a.sides.split(","):
            if side == "postfix" and n > a.postfix_max:
                continue
            kw = {"smtpd_maxproc": n + 100} if side == "postfix" else {}
            r = {"side": side, "sessions": n, "ok": False}
            try:
                with lib.Sink() as sink:
                    with make_server(side, sink.port, a.bin, **kw) as srv:
                        r.update(measure(srv, n))
                        r["ok"] = True
                        r["problems"] = srv.problems()[:10]
            except Exception as e:
                r["error"] = repr(e)
            runs.append(r)
            print("idle %-8s %6d sessions: %s" % (
                side, n, "PSS %.1f MB (%.1f kB/session), RSS %.1f MB" % (
                    r["pss"] / 1e6, r["pss_per_session"] / 1e3, r["rss"] / 1e6)
                if r["ok"] else r.get("error")), flush=True)
            with open(os.path.join(a.out, "idle.json"), "w") as f:
                json.dump({"params": vars(a), "spread": SPREAD,
                           "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                           "runs": runs}, f, indent=1)
            time.sleep(2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

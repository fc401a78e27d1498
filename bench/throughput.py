#!/usr/bin/env python3
"""throughput - benchmarks 1 (end-to-end throughput) and 5 (CPU per 1,000
messages).

smtp-source -> server -> smtp-sink, MESSAGES messages of SIZE octets at each
session count, for every side:

    raw        smtp-source straight into smtp-sink (the loopback ceiling)
    postfix    a private Postfix relaying to the sink
    moat-w1    moatd, workers = 1, relaying to the sink
    moat-w2    moatd, workers = 2

Each repetition runs every session count, and within it every side, in an
order rotated from one repetition to the next, so that no side always runs
first or last. Every run starts a fresh sink and a fresh server. A run's
rate is MESSAGES / (time the sink counted the last message - time
smtp-source started). The run counts only if smtp-source saw 250 for every
message, the sink counted exactly MESSAGES (no loss, no duplicate, checked
again 2 s after the last one) and the server's queue is empty.

    throughput.py --out bench/results [--reps 3] [--reps-single 2]
                  [--messages 20000] [--size 4096] [--sessions 1,20,100]
                  [--sides raw,postfix,moat-w1,moat-w2] [--bin build/release]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

SIDES = ("raw", "postfix", "moat-w1", "moat-w2")


def make_server(side, sink_port, bin_dir, **kw):
    if side == "postfix":
        return lib.Postfix(sink_port, **kw)
    if side.startswith("moat-w"):
        return lib.Moatd(sink_port, workers=int(side[6:]), bin_dir=bin_dir, **kw)
    raise ValueError(side)


def run_once(side, sessions, messages, size, bin_dir, reuse=True, timeout=900,
             server_kw=None, during=None):
    """One measured run; returns a dict of figures (ok=False with the
    evidence when something went wrong)."""
    res = {"side": side, "sessions": sessions, "messages": messages, "size": size,
           "reuse": reuse, "ok": False}
    with lib.Sink() as sink:
        srv = None
        if side != "raw":
            srv = make_server(side, sink.port, bin_dir, **(server_kw or {}))
        try:
            if srv:
                srv.start()
            port = srv.port if srv else sink.port
            lib.settle()
            cmd = lib.smtp_source(port, sessions, messages, size, reuse=reuse)
            res["command"] = " ".join(cmd)
            sink.watch_for(messages)
            klog0 = len(lib.kernel_log())
            sink_cpu0 = lib.tree_cpu(sink.proc.pid)
            srv_cpu0 = srv.usage() if srv else 0.0
            m0, d0 = lib.machine_cpu(), lib.disk_writes()
            t0 = time.time()
            src = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            hook = during(srv, src) if during else None
            t_last = sink.wait_count(messages, timeout, stall=60, proc=src)
            m1, d1 = lib.machine_cpu(), lib.disk_writes()
            try:
                out, _ = src.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                src.kill()
                out, _ = src.communicate()
            t_src = time.time()
            if hook:
                hook()
            time.sleep(1.0)  # let the server finish unlinking and logging
            srv_cpu = (srv.usage() - srv_cpu0) if srv else 0.0
            sink_cpu = lib.tree_cpu(sink.proc.pid) - sink_cpu0
            res.update({
                "source_rc": src.returncode,
                "source_output": out.decode(errors="replace")[-2000:],
                "t_source": t_src - t0,
            })
            if t_last is not None:
                dt = t_last - t0
                res.update({"seconds": dt, "rate": messages / dt})
            # No loss and no duplicate: the count must stay at MESSAGES, and
            # nothing may remain queued.
            deadline = time.time() + 15
            queued = srv.queue_files() if srv else 0
            while queued and time.time() < deadline:
                time.sleep(0.2)
                queued = srv.queue_files()
            time.sleep(1.0)
            res.update({
                "sink_count": sink.count,
                "queued_after": queued,
                "server_cpu": srv_cpu,
                "server_cpu_per_1000": srv_cpu / messages * 1000 if srv else None,
                "sink_cpu": sink_cpu,
                "machine_busy": (m1[0] - m0[0]) / max(1, m1[2] - m0[2]),
                "machine_iowait": (m1[1] - m0[1]) / max(1, m1[2] - m0[2]),
                "disk_writes": d1[0] - d0[0],
                "disk_flushes": d1[2] - d0[2],
                "flushes_per_msg": (d1[2] - d0[2]) / messages,
                "processes": len(srv.processes()) if srv else 1,
                "loadavg": open("/proc/loadavg").read().split()[:3],
            })
            res["ok"] = (t_last is not None and src.returncode == 0 and
                         sink.count == messages and queued == 0)
            if srv:
                res["problems"] = srv.problems()[:20]
                if hasattr(srv, "roles"):
                    res["roles"] = srv.roles()
            if not res["ok"]:
                res["evidence_dir"] = srv.dir if srv else None
                # A stalled machine (the hypervisor's doing) shows up here.
                res["kernel_log"] = lib.kernel_log()[klog0:][:15]
                if srv:
                    srv.keep = True
                    res["log_tail"] = srv.log()[-4000:]
        finally:
            if srv:
                srv.stop()
                if not srv.keep:
                    shutil.rmtree(srv.dir, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-single", type=int, default=None,
                    help="repetitions at 1 session (default: --reps)")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sessions", default="1,20,100")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    a = ap.parse_args()
    sessions = [int(s) for s in a.sessions.split(",")]
    sides = a.sides.split(",")
    reps_single = a.reps if a.reps_single is None else a.reps_single
    os.makedirs(a.out, exist_ok=True)
    runs = []
    t_start = time.time()
    for rep in range(a.reps):
        for s in sessions:
            if s == 1 and rep >= reps_single:
                continue
            k = rep % len(sides)
            order = sides[k:] + sides[:k]
            for side in order:
                for attempt in (1, 2):
                    try:
                        r = run_once(side, s, a.messages, a.size, a.bin)
                    except Exception as e:  # a server that would not start, ...
                        r = {"side": side, "sessions": s, "messages": a.messages,
                             "ok": False, "error": repr(e)}
                    r["rep"], r["attempt"] = rep, attempt
                    runs.append(r)
                    if r["ok"]:
                        break
                    # A failed run stays in the record (the report shows its
                    # evidence first); the repetition is tried once more.
                    print("throughput: run failed, evidence in %s; trying again"
                          % r.get("evidence_dir"), flush=True)
                print("throughput rep=%d sessions=%d %-8s %s msg/s  cpu/1000=%s  ok=%s" % (
                    rep, s, side, "%.0f" % r["rate"] if r.get("rate") else "-",
                    "%.2f" % r["server_cpu_per_1000"] if r.get("server_cpu_per_1000") else "-",
                    r["ok"]), flush=True)
                with open(os.path.join(a.out, "throughput.json"), "w") as f:
                    json.dump({"params": vars(a), "runs": runs,
                               "elapsed": time.time() - t_start}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

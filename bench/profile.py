#!/usr/bin/env python3
"""profile - where moat's time goes in the throughput benchmark at 20
sessions (moat, workers = 1).

perf's hardware counters (`perf stat -e instructions`) are not available
on this virtual machine, so the profile has three parts:

  1. perf record -e cpu-clock -a -g: a sampled profile of the whole
     machine during a full-size run (MESSAGES messages) at full speed:
     which process, which library and which function (kernel included)
     the CPUs spend their time in.
  2. perf trace -s on moatd's processes during the same run: how many
     system calls of each kind, and how long they take (fdatasync and
     fsync are the commit's wait for the disk, which no CPU profile shows).
  3. valgrind --tool=callgrind on the release moatd (every process: the
     master, the SMTP worker, the queue runner), CALLGRIND_MESSAGES
     messages: user-space instructions by function, inclusive and self.

Writes OUT/profile.json (summary) and OUT/profile/*.txt (the reports).

    profile.py --out bench/results [--messages 20000]
               [--callgrind-messages 2000] [--sessions 20]
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from throughput import run_once  # noqa: E402


def sh(cmd, out=None, timeout=600):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=timeout)
    if out:
        with open(out, "w") as f:
            f.write("$ %s\n\n%s" % (" ".join(cmd), r.stdout))
    return r.stdout


def perf_part(pdir, a):
    """Run A: perf record (sampling) alone; run B: perf trace of the
    sync-related system calls alone, so neither perturbs the other."""
    data = os.path.join(pdir, "perf.data")
    trace_out = os.path.join(pdir, "perf-trace.txt")
    state = {}

    def stopper(p):
        def stop():
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return stop

    def record(srv, src):
        return stopper(subprocess.Popen(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-a", "-g",
             "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def trace(srv, src):
        roles = srv.roles()
        for p in srv.processes():
            try:
                tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % p))
            except OSError:
                continue
            for t in tids:
                role = roles.get(str(p), "master")
                state.setdefault("threads", {})[str(t)] = (
                    role if t == p else "%s thread %d" % (role, tids.index(t)))
        pids = ",".join(str(p) for p in srv.processes())
        return stopper(subprocess.Popen(
            ["perf", "trace", "-s", "-e", TRACED, "-p", pids, "-o", trace_out],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    keys = ("rate", "ok", "seconds", "server_cpu_per_1000", "machine_busy",
            "machine_iowait", "flushes_per_msg", "sink_count", "roles")
    run = run_once("moat-w1", a.sessions, a.messages, a.size, a.bin, during=record)
    res = {"run": {k: run.get(k) for k in keys}}
    if os.path.exists(data):
        base = ["perf", "report", "-i", data, "--stdio", "--no-children"]
        by_comm = sh(base + ["--sort", "comm", "-g", "none"],
                     os.path.join(pdir, "perf-by-process.txt"))
        sh(base + ["--sort", "comm,dso", "-g", "none"],
           os.path.join(pdir, "perf-by-process-dso.txt"))
        moat = sh(base + ["--comms", "moatd", "--sort", "sym", "-g", "none",
                          "--percent-limit", "0.3"],
                  os.path.join(pdir, "perf-moatd-symbols.txt"))
        sh(base + ["--comms", "moatd", "--sort", "sym", "-g", "caller,0.5,callee",
                   "--percent-limit", "2"],
           os.path.join(pdir, "perf-moatd-callgraph.txt"))
        threads = sh(base + ["--comms", "moatd", "--sort", "pid", "-g", "none"],
                     os.path.join(pdir, "perf-moatd-threads.txt"))
        incl = sh(["perf", "report", "-i", data, "--stdio", "--children", "--comms",
                   "moatd", "--sort", "sym", "-g", "none", "--percent-limit", "2"],
                  os.path.join(pdir, "perf-moatd-inclusive.txt"))
        res["by_process"] = parse_perf(by_comm, 12)
        res["moatd_symbols"] = parse_perf(moat, 30)
        res["moatd_threads"] = parse_perf(threads, 8)
        res["moatd_inclusive"] = parse_perf_children(incl, 40)
        os.remove(data)
    else:
        res["error"] = "perf record wrote nothing"
    run = run_once("moat-w1", a.sessions, a.messages, a.size, a.bin, during=trace)
    res["trace_run"] = {k: run.get(k) for k in keys}
    calls = parse_trace(trace_out)
    names = state.get("threads", {})
    res["syscalls"] = {}
    for th, rows in calls.items():
        tid = re.search(r"\[(\d+)\]", th).group(1)
        res["syscalls"]["%s (%s)" % (names.get(tid, "?"), tid)] = rows
    # The commit thread: the one that calls fdatasync most. How busy it is
    # and how many messages share one sync of the journal.
    best = None
    for th, rows in res["syscalls"].items():
        d = {r["syscall"]: r for r in rows}
        if "fdatasync" in d and (best is None or d["fdatasync"]["calls"] > best[1]["fdatasync"]["calls"]):
            best = (th, d)
    if best and run.get("seconds"):
        d = best[1]
        busy = d["fdatasync"]["total_ms"] + d.get("fsync", {}).get("total_ms", 0)
        res["commit"] = {
            "thread": best[0],
            "fdatasync_calls": d["fdatasync"]["calls"],
            "fdatasync_avg_ms": d["fdatasync"]["avg_ms"],
            # spool_sync = journal: one fdatasync of the segment per batch
            # (plus the few the retiring of segments makes).
            "batches": d["fdatasync"]["calls"],
            "messages_per_batch": a.messages / max(1, d["fdatasync"]["calls"]),
            "sync_busy_share": busy / 1000 / run["seconds"],
        }
    return res


# System calls whose count and duration show the commit path.
TRACED = "fdatasync,fsync,openat,rename,renameat,renameat2,unlink,unlinkat,pwrite64,write"


def parse_perf(text, n):
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(.*\S)\s*$", line)
        if m:
            rows.append((float(m.group(1)), re.sub(r"\s+", " ", m.group(2))))
    return rows[:n]


def parse_perf_children(text, n):
    """perf report --children: (inclusive %, self %, symbol)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+([\d.]+)%\s+(.*\S)\s*$", line)
        if m:
            rows.append((float(m.group(1)), float(m.group(2)),
                         re.sub(r"\s+", " ", m.group(3))))
    return [r for r in rows if not re.match(r"^\[k\] 0x[0-9a-f]+$", r[2])][:n]


def parse_trace(path):
    """perf trace -s: per thread, per syscall: calls, total ms, avg ms."""
    out = {}
    thread = None
    try:
        text = open(path, errors="replace").read()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+) \((\d+)\), (\d+) events", line)
        if m:
            thread = "%s[%s]" % (m.group(1), m.group(2))
            continue
        m = re.match(r"^\s+(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                     line)
        if m and thread:
            out.setdefault(thread, []).append({
                "syscall": m.group(1), "calls": int(m.group(2)),
                "total_ms": float(m.group(4)), "avg_ms": float(m.group(6)),
                "max_ms": float(m.group(7))})
    for k in out:
        out[k].sort(key=lambda r: -r["total_ms"])
        out[k] = out[k][:8]
    return out


def callgrind_part(pdir, a):
    cgdir = lib.make_tmpdir("bench-callgrind-")
    os.chmod(cgdir, 0o1777)  # the worker writes its profile as user moat
    wrapper = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               "--callgrind-out-file=%s/callgrind.out.%%p" % cgdir]
    run = run_once("moat-w1", a.sessions, a.callgrind_messages, a.size, a.bin,
                   timeout=1800, server_kw={"wrapper": wrapper})
    res = {"messages": a.callgrind_messages, "ok": run.get("ok"),
           "rate_under_valgrind": run.get("rate"), "processes": []}
    # The log names each process: "moatd/smtp[PID]", "moatd/queue[PID]".
    roles = run.get("roles", {})
    for out in sorted(glob.glob(os.path.join(cgdir, "callgrind.out.*"))):
        pid = out.rsplit(".", 1)[1]
        text = sh(["callgrind_annotate", "--inclusive=no", out])
        total = re.search(r"^([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS", text, re.M)
        total = int(total.group(1).replace(",", "")) if total else 0
        if total < 1000000:
            continue  # a process that did (almost) nothing
        role = roles.get(pid, guess_role(text))
        if role not in ("smtp", "queue"):
            continue  # master and control: start-up only
        name = "callgrind-%s-%s" % (role, pid)
        with open(os.path.join(pdir, name + "-self.txt"), "w") as f:
            f.write(head(text))
        incl = sh(["callgrind_annotate", "--inclusive=yes", out])
        with open(os.path.join(pdir, name + "-inclusive.txt"), "w") as f:
            f.write(head(incl))
        res["processes"].append({
            "pid": pid, "role": role, "instructions": total,
            "instructions_per_message": total / a.callgrind_messages,
            "self": parse_cg(text, 20), "inclusive": parse_cg(incl, 25)})
    shutil.rmtree(cgdir, ignore_errors=True)
    return res


def head(text, n=120):
    """The summary of a callgrind_annotate report (not the annotated source)."""
    return "\n".join(text.splitlines()[:n]) + "\n"


def guess_role(text):
    if "smtpd_" in text or "session_" in text:
        if "qmgr_" not in text:
            return "smtp"
    if "qmgr_" in text or "conn_" in text:
        return "queue"
    return "master"


def parse_cg(text, n):
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*)$", line)
        if m and "PROGRAM TOTALS" not in line:
            sym = m.group(3)
            sym = re.sub(r"\s+\[[^]]*\]$", "", sym)
            rows.append((float(m.group(2)), sym))
    return rows[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--callgrind-messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--skip-callgrind", action="store_true")
    a = ap.parse_args()
    pdir = os.path.join(a.out, "profile")
    os.makedirs(pdir, exist_ok=True)
    res = {"params": vars(a)}
    res["perf"] = perf_part(pdir, a)
    print("profile: perf done", flush=True)
    if not a.skip_callgrind:
        res["callgrind"] = callgrind_part(pdir, a)
        print("profile: callgrind done", flush=True)
    with open(os.path.join(a.out, "profile.json"), "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""report - turn the benchmarks' JSON files into bench/RESULTS.md.

    report.py --machine DIR          record the machine (run.sh, at start)
    report.py DIR > bench/RESULTS.md the report

DIR holds NAME.json from each benchmark script. Sections for throughput,
latency, idle (memory), resources and the profile are built here; the
flood benchmark brings its own section as DIR/flood.md, included as it is
(both of its mixes), and its targets come from flood.json (classic mix,
ratio) and flood-holders.json (holder mix, results per configuration);
traffic (TLS, large messages, many recipients), signatures, store and
milter bring theirs as DIR/NAME.md too. bench/ANALYSIS.md,
written by hand after a run, is appended: it says where the time goes and
what would close each gap.
"""

import json
import os
import platform
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

TARGET_RATIO = 3.0        # moat/Postfix end to end at 20 and 100 sessions
TARGET_CEILING = 0.40     # moat / raw loopback ceiling
TARGET_SIGNATURES = 0.03  # bench/signatures.py: cost to clean mail
TARGET_REDIS = 0.80  # bench/store_backends.py: Redis / LMDB end to end
TARGET_IDLE_BYTES = 100e6  # 10,000 idle sessions, all processes
TARGET_IDLE_TLS_BYTES = 200e6  # the same after STARTTLS (PSS)
TARGET_FLOOD = 0.80
TARGET_HOLDERS = 0.90     # holder mix: client with a good record, per config
HOLDER_CONFIGS = (("run", "`make run` config"), ("production", "production config"))


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(out_dir):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        cpu = m.group(1) if m else platform.processor()
    with open("/proc/meminfo") as f:
        mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) * 1024
    fs = cmd_out(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", lib.WORK_BASE])
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host_cores": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": mem,
        "kernel": platform.release(),
        "os": cmd_out(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "filesystem": "%s (%s)" % (lib.WORK_BASE, fs),
        "postfix": cmd_out(["postconf", "-d", "-h", "mail_version"]),
        "python": platform.python_version(),
        "commit": cmd_out(["git", "-C", lib.ROOT, "rev-parse", "--short", "HEAD"]),
        "src_diff": cmd_out(["sh", "-c", "git -C '%s' diff --stat HEAD -- src | tail -1"
                             % lib.ROOT]),
        "src_dirty": bool(cmd_out(["git", "-C", lib.ROOT, "status", "--porcelain",
                                   "--", "src"])),
        "cc": cmd_out(["cc", "--version"]).splitlines()[0] if cmd_out(["cc", "--version"]) else "",
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "nofile": cmd_out(["sh", "-c", "ulimit -n"]),
    }
    with open(os.path.join(out_dir, "machine.json"), "w") as f:
        json.dump(info, f, indent=1)


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def f0(x):
    return "—" if x is None else "{:,.0f}".format(x)


def f1(x):
    return "—" if x is None else "%.1f" % x


def f2(x):
    return "—" if x is None else "%.2f" % x


def ratio(a, b):
    return a / b if a is not None and b else None


def med(runs, key, **sel):
    xs = [r[key] for r in runs if r.get("ok") and r.get(key) is not None and
          all(r.get(k) == v for k, v in sel.items())]
    return lib.median(xs)


def values(runs, key, fmt=f0, **sel):
    xs = [r.get(key) for r in runs if all(r.get(k) == v for k, v in sel.items())]
    return ", ".join(fmt(x) if x is not None else "failed" for x in xs)


SIDE_NAMES = {"raw": "raw ceiling", "postfix": "Postfix", "moat-w1": "moat workers=1",
              "moat-w2": "moat workers=2"}


def side_name(side):
    """SIDE_NAMES, and "+tls" for idle.py's sessions after STARTTLS."""
    if side.endswith("+tls"):
        return SIDE_NAMES[side[:-4]] + ", after STARTTLS"
    return SIDE_NAMES[side]


def verdict(ok):
    return "**met**" if ok else "**missed**"


def throughput_section(tp, out):
    runs = tp["runs"]
    p = tp["params"]
    sessions = sorted({r["sessions"] for r in runs})
    out.append("## 1. Throughput, end to end\n")
    out.append("smtp-source → server → smtp-sink, %s messages of %s octets of payload, "
               "messages per second from smtp-source's start to the last message "
               "counted at the sink (median of the repetitions; each value below "
               "is one run). A run counts only if smtp-source got 250 for every "
               "message, the sink counted exactly that many (no loss, no duplicate; "
               "checked again after 2 s) and the server's queue was empty afterwards.\n"
               % (f0(p["messages"]), p["size"]))
    out.append("| sessions | raw ceiling | Postfix | moat w=1 | moat w=2 | best moat / Postfix "
               "| best moat / raw |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for s in sessions:
        m = {side: med(runs, "rate", side=side, sessions=s) for side in SIDE_NAMES}
        best = max([x for x in (m["moat-w1"], m["moat-w2"]) if x] or [None]) \
            if (m["moat-w1"] or m["moat-w2"]) else None
        out.append("| %d | %s | %s | %s | %s | %s× | %s%% |" % (
            s, f0(m["raw"]), f0(m["postfix"]), f0(m["moat-w1"]), f0(m["moat-w2"]),
            f2(ratio(best, m["postfix"])),
            f0(100 * ratio(best, m["raw"])) if ratio(best, m["raw"]) else "—"))
    out.append("")
    out.append("Every run, in the order of the table (msg/s):\n")
    out.append("| sessions | side | runs | median |")
    out.append("|---:|---|---|---:|")
    for s in sessions:
        for side in SIDE_NAMES:
            if any(r["side"] == side and r["sessions"] == s for r in runs):
                out.append("| %d | %s | %s | %s |" % (
                    s, SIDE_NAMES[side], values(runs, "rate", side=side, sessions=s),
                    f0(med(runs, "rate", side=side, sessions=s))))
    out.append("")
    reps = sorted({r["rep"] for r in runs})
    single = len({r["rep"] for r in runs if r["sessions"] == 1})
    out.append("Repetitions: %d at 20 and 100 sessions, %d at 1 session (fewer "
               "repetitions at 1 session keep `make bench` under ~20 minutes; the "
               "message count is not reduced). Sides alternate within each "
               "repetition, in an order rotated from one repetition to the next; "
               "each run has a fresh sink and a fresh server, and starts after "
               "`sync` and a drop of the clean caches (on this journal-less ext4 "
               "the inode allocator otherwise scans past every inode deleted in the "
               "last minute, so a run would pay for its predecessor's 20,000 "
               "deleted queue files). A failed run is reported with its evidence "
               "and tried once more.\n" % (len(reps), single))
    cmds = sorted({re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", r.get("command", ""))
                   for r in runs if r.get("command")})
    out.append("Load commands (PORT: the server's, or the sink's for the raw ceiling):\n")
    out.append("```")
    out.extend(cmds)
    out.append("smtp-sink -u nobody -c 127.0.0.1:PORT 1024   # counter read from a pty")
    out.append("```\n")


def resources_section(tp, out):
    runs = tp["runs"]
    sessions = sorted({r["sessions"] for r in runs})
    out.append("## 5. Resources\n")
    out.append("CPU seconds (user + system) of every process of the server — live "
               "ones and those their parent reaped during the run (Postfix's smtpd, "
               "cleanup, qmgr, smtp, ... processes) — per 1,000 messages, measured "
               "in the throughput runs from smtp-source's start until 1 s after the "
               "last message reached the sink. Disk flushes per message come from "
               "/proc/diskstats (the whole disk, so the sink and other activity on "
               "the machine count too).\n")
    out.append("| sessions | Postfix CPU s/1000 | moat w=1 | moat w=2 | moat w=1 / Postfix "
               "| flushes/msg Postfix | moat w=1 | moat w=2 | machine busy Postfix | moat w=1 |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sessions:
        c = {side: med(runs, "server_cpu_per_1000", side=side, sessions=s)
             for side in ("postfix", "moat-w1", "moat-w2")}
        fl = {side: med(runs, "flushes_per_msg", side=side, sessions=s)
              for side in ("postfix", "moat-w1", "moat-w2")}
        busy = {side: med(runs, "machine_busy", side=side, sessions=s)
                for side in ("postfix", "moat-w1")}
        out.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s%% | %s%% |" % (
            s, f2(c["postfix"]), f2(c["moat-w1"]), f2(c["moat-w2"]),
            f2(ratio(c["moat-w1"], c["postfix"])),
            f2(fl["postfix"]), f2(fl["moat-w1"]), f2(fl["moat-w2"]),
            f0(100 * busy["postfix"]) if busy["postfix"] else "—",
            f0(100 * busy["moat-w1"]) if busy["moat-w1"] else "—"))
    out.append("\n(machine busy: share of both cores not idle and not in iowait over "
               "the run, load generator and sink included.)\n")


def latency_section(lt, out):
    runs = lt["runs"]
    p = lt["params"]
    out.append("## 2. Acceptance latency\n")
    out.append("Time from the client's last write of a message (`<CRLF>.<CRLF>`) to "
               "the server's 250, %d concurrent sessions, %d-octet messages, measured "
               "by bench/latency.py (asyncio, one message after the other per session, "
               "no pipelining; the first %d messages of each session not counted). "
               "**Full speed**: each session sends its next message as soon as the "
               "last one is accepted (%d per session), so the latency includes the "
               "queueing of a saturated server. **Paced**: %d msg/s offered in all "
               "(below both servers' capacity, %d per session), the latency of one "
               "commit. Medians over the repetitions of each run's percentile; "
               "milliseconds.\n" % (p["sessions"], p["size"], lt["warmup_per_session"],
                                    p["messages"], p["paced_rate"], p["paced_messages"]))
    out.append("| load | side | p50 | p90 | p99 | max | accepted msg/s | runs (p50 / p99) |")
    out.append("|---|---|---:|---:|---:|---:|---:|---|")
    for rate in (None, p["paced_rate"] or None):
        if rate is None and not any(r.get("rate") is None for r in runs):
            continue
        for side in ("postfix", "moat-w1", "moat-w2"):
            sel = [r for r in runs if r["side"] == side and r.get("rate") == rate]
            if not sel:
                continue
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "paced %d/s" % rate if rate else "full speed", SIDE_NAMES[side],
                f2(med(sel, "p50_ms")), f2(med(sel, "p90_ms")), f2(med(sel, "p99_ms")),
                f2(med(sel, "max_ms")), f0(med(sel, "accept_rate")),
                "; ".join("%s / %s" % (f2(r.get("p50_ms")), f2(r.get("p99_ms")))
                          if r.get("ok") else "failed" for r in sel)))
        if rate is None and not p["paced_rate"]:
            break
    out.append("")


def idle_section(idle, out):
    runs = idle["runs"]
    out.append("## 3. Memory per idle session\n")
    out.append("Sessions opened %s per loopback source address, every one having "
               "read the greeting, then silent; memory summed over every process of "
               "the server (PSS: shared pages divided among the processes that map "
               "them; RSS: counted in each process). Per session: (held − before) / "
               "sessions. File-descriptor limit: %s.\n" % (
                   idle["spread"], idle["nofile"][0]))
    out.append("| side | sessions | processes | PSS total | RSS total | PSS per session "
               "| time to open |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        if r.get("ok"):
            out.append("| %s | %s | %d | %s MB | %s MB | %s kB | %s s |" % (
                side_name(r["side"]), f0(r["sessions"]), r["processes"],
                f1(r["pss"] / 1e6), f1(r["rss"] / 1e6), f1(r["pss_per_session"] / 1e3),
                f1(r["open_seconds"])))
        else:
            out.append("| %s | %s | failed: %s | | | | |" % (
                side_name(r["side"]), f0(r["sessions"]), r.get("error", "")))
    pmax = idle["params"].get("postfix_max")
    if pmax is not None and pmax < max(r["sessions"] for r in runs):
        out.append("\nPostfix was measured up to %s sessions only (`BENCH_POSTFIX_IDLE_MAX`): "
                   "it runs a process per session, and 10,000 of them take over four "
                   "minutes to start and over 12 GB. See the notes below for a "
                   "separate measurement at 10,000.\n" % f0(pmax))
    out.append("")


def profile_section(pr, out):
    out.append("## Profile of moat at 20 sessions (workers = 1)\n")
    pf = pr.get("perf", {})
    run = pf.get("run", {})
    out.append("`perf stat -e instructions` is not supported on this virtual machine "
               "(no hardware counters), so: perf's cpu-clock sampling of the whole "
               "machine during a full throughput run (%s msg/s, %s CPU s/1000 messages, "
               "%s disk flushes per message), perf trace of the commit's system calls "
               "in a second run, and callgrind on the release moatd (%s messages). "
               "Full reports: bench/results/profile/.\n" % (
                   f0(run.get("rate")), f2(run.get("server_cpu_per_1000")),
                   f2(run.get("flushes_per_msg")),
                   pr.get("callgrind", {}).get("messages", "—")))
    if pf.get("by_process"):
        out.append("CPU samples by process (both cores; swapper = idle):\n")
        out.append("| share | process |")
        out.append("|---:|---|")
        for pct, name in pf["by_process"][:8]:
            out.append("| %.1f%% | %s |" % (pct, name))
        out.append("")
    if pf.get("moatd_inclusive"):
        out.append("moatd, inclusive (children) — share of all samples:\n")
        out.append("| inclusive | self | symbol |")
        out.append("|---:|---:|---|")
        for inc, slf, sym in pf["moatd_inclusive"][:25]:
            out.append("| %.1f%% | %.1f%% | `%s` |" % (inc, slf, sym))
        out.append("")
    if pf.get("moatd_symbols"):
        out.append("moatd, self time by symbol ([k] kernel, [.] user):\n")
        out.append("| self | symbol |")
        out.append("|---:|---|")
        for pct, sym in pf["moatd_symbols"][:15]:
            out.append("| %.2f%% | `%s` |" % (pct, sym))
        out.append("")
    if pf.get("syscalls"):
        tr = pf.get("trace_run", {})
        out.append("System calls of moatd's threads (perf trace -s, second run: %s msg/s "
                   "under tracing):\n" % f0(tr.get("rate")))
        out.append("| thread | syscall | calls | total ms | avg ms | max ms |")
        out.append("|---|---|---:|---:|---:|---:|")
        for th, rows in pf["syscalls"].items():
            for r in rows[:5]:
                out.append("| %s | %s | %s | %s | %.3f | %.1f |" % (
                    th, r["syscall"], f0(r["calls"]), f0(r["total_ms"]),
                    r["avg_ms"], r["max_ms"]))
        out.append("")
    cm = pf.get("commit")
    if cm:
        out.append("The commit thread (%s) called fdatasync %s times (%.3f ms each on "
                   "average; one per batch on the journal, plus the retiring of "
                   "segments): %.1f messages per batch, and it spent %.0f%% of the run "
                   "inside fdatasync/fsync.\n" % (
                       cm["thread"], f0(cm["fdatasync_calls"]), cm["fdatasync_avg_ms"],
                       cm["messages_per_batch"], 100 * cm["sync_busy_share"]))
    cg = pr.get("callgrind")
    if cg:
        for proc in cg.get("processes", []):
            out.append("callgrind, %s process: %s instructions per message (user space); "
                       "top functions by self cost:\n" % (
                           {"smtp": "SMTP worker", "queue": "queue runner"}.get(
                               proc["role"], proc["role"]),
                           f0(proc["instructions_per_message"])))
            out.append("| self | function |")
            out.append("|---:|---|")
            for pct, sym in proc["self"][:12]:
                out.append("| %.1f%% | `%s` |" % (pct, sym))
            out.append("")


def summary(d, tp, idle, out):
    out.append("## Targets\n")
    out.append("| target | measured | verdict |")
    out.append("|---|---|---|")
    if tp:
        runs = tp["runs"]
        for s in (20, 100):
            pf = med(runs, "rate", side="postfix", sessions=s)
            raw = med(runs, "rate", side="raw", sessions=s)
            for side in ("moat-w1", "moat-w2"):
                m = med(runs, "rate", side=side, sessions=s)
                if m is None:
                    continue
                r1, r2 = ratio(m, pf), ratio(m, raw)
                out.append("| %d sessions, %s ≥ 3× Postfix | %s / %s msg/s = %s× | %s%s |" % (
                    s, SIDE_NAMES[side], f0(m), f0(pf), f2(r1),
                    verdict(r1 is not None and r1 >= TARGET_RATIO),
                    "" if r1 is None or r1 >= TARGET_RATIO else
                    " (needs %s msg/s, %s× today's)" % (f0(TARGET_RATIO * pf),
                                                         f2(TARGET_RATIO / r1))))
                out.append("| %d sessions, %s ≥ 40%% of raw ceiling | %s / %s msg/s = %s%% | %s%s |" % (
                    s, SIDE_NAMES[side], f0(m), f0(raw), f0(100 * r2) if r2 else "—",
                    verdict(r2 is not None and r2 >= TARGET_CEILING),
                    "" if r2 is None or r2 >= TARGET_CEILING else
                    " (needs %s msg/s, %s× today's)" % (f0(TARGET_CEILING * raw),
                                                         f2(TARGET_CEILING / r2))))
        out.append("| every acknowledged message fsynced | moat: group commit (the batch's "
                   "queue files copied to a journal segment, one fdatasync) before 250; "
                   "Postfix: fsync before 250 | by construction, not measured |")
    if idle:
        for r in idle["runs"]:
            if not (r["side"].startswith("moat") and r["sessions"] == 10000 and r.get("ok")):
                continue
            if r["side"].endswith("+tls"):
                out.append("| 10,000 idle sessions after STARTTLS < 200 MB PSS (%s) | PSS %s MB, "
                           "RSS %s MB | %s |" % (
                               side_name(r["side"]), f1(r["pss"] / 1e6), f1(r["rss"] / 1e6),
                               verdict(r["pss"] < TARGET_IDLE_TLS_BYTES)))
            else:
                out.append("| 10,000 idle sessions < 100 MB (%s) | PSS %s MB, RSS %s MB | %s |" % (
                    SIDE_NAMES[r["side"]], f1(r["pss"] / 1e6), f1(r["rss"] / 1e6),
                    verdict(r["rss"] < TARGET_IDLE_BYTES)))
    fl = load(d, "flood")
    if fl and fl.get("ratio") is not None:
        out.append("| flood: well-behaved client ≥ 80%% of its throughput | %s%% | %s |" % (
            f0(100 * fl["ratio"]), verdict(fl["ratio"] >= TARGET_FLOOD)))
    else:
        out.append("| flood: well-behaved client ≥ 80% of its throughput | pending | — |")
    sg = load(d, "signatures")
    if sg and sg.get("cost") is not None:
        out.append("| attack signatures cost < %d%% of throughput at %d sessions | %s%% "
                   "(%s rules) | %s |" % (
                       100 * TARGET_SIGNATURES, sg["params"]["sessions"],
                       f1(100 * sg["cost"]), sg["rules"],
                       verdict(sg["cost"] < TARGET_SIGNATURES)))
    else:
        out.append("| attack signatures cost < 3% of throughput at 20 sessions | pending | — |")
    st = load(d, "store")
    if st and st.get("ratio") is not None:
        out.append("| state store on Redis ≥ %d%% of LMDB's end-to-end throughput | %s%% | %s |" % (
            100 * TARGET_REDIS, f0(100 * st["ratio"]), verdict(st["ratio"] >= TARGET_REDIS)))
    else:
        out.append("| state store on Redis ≥ 80% of LMDB's end-to-end throughput | pending | — |")
    if st and st.get("flood_redis") is not None:
        out.append("| flood on the Redis store: well-behaved client ≥ 90%% of its throughput | "
                   "%s%% | %s |" % (f0(100 * st["flood_redis"]),
                                   verdict(st["flood_redis"] >= 0.90)))
    else:
        out.append("| flood on the Redis store: well-behaved client ≥ 90% of its throughput "
                   "| pending | — |")
    hl = load(d, "flood-holders")
    for name, title in HOLDER_CONFIGS:
        res = (hl or {}).get("results", {}).get(name)
        what = ("| flood, holders filling sessions_max, %s: client with a good record, "
                "one connection per message, ≥ %d%% of its throughput" % (
                    title, 100 * TARGET_HOLDERS))
        if res is None:
            out.append("%s | pending | — |" % what)
        elif res.get("ratio") is None:
            out.append("%s | no valid measurement (%d invalid run(s), §4) | **missed** |" % (
                what, res.get("invalid_runs", 0)))
        else:
            out.append("%s | %s / %s msg/s = %s%% | %s |" % (
                what, f1(res["flood_rate"]), f1(res["quiet_rate"]),
                f0(100 * res["ratio"]), verdict(res["ratio"] >= TARGET_HOLDERS)))
    out.append("")


def failures(d, out):
    bad = []
    for name in ("throughput", "latency", "idle"):
        data = load(d, name)
        for r in (data or {}).get("runs", []):
            if not r.get("ok"):
                bad.append((name, r))
    if not bad:
        return
    out.append("## Failed runs (evidence)\n")
    for name, r in bad:
        out.append("- %s %s %s sessions: %s" % (name, r.get("side"), r.get("sessions"), {
            k: r.get(k) for k in ("source_rc", "sink_count", "messages", "queued_after",
                                  "errors", "error", "evidence_dir") if k in r}))
        if r.get("kernel_log"):
            out.append("\n  kernel messages during the run:\n\n```\n%s\n```" %
                       "\n".join(l[:160] for l in r["kernel_log"]))
        if r.get("log_tail"):
            out.append("\n```\n%s\n```" % r["log_tail"][-1500:])
    out.append("")


def report(d):
    out = []
    mi = load(d, "machine") or {}
    tp, lt, idle, pr = (load(d, n) for n in ("throughput", "latency", "idle", "profile"))
    out.append("# moat benchmarks against Postfix\n")
    out.append("Written by `make bench` (bench/run.sh) — do not edit by hand; "
               "bench/ANALYSIS.md holds the notes. Raw figures: bench/results/*.json.\n")
    out.append("## Machine and run\n")
    out.append("| | |")
    out.append("|---|---|")
    rows = [
        ("date", mi.get("date")),
        ("commit", "%s%s" % (mi.get("commit"), " + uncommitted changes in src/ (%s)"
                              % mi.get("src_diff", "").strip() if mi.get("src_dirty") else "")),
        ("CPU", "%s, %s cores" % (mi.get("cpu"), mi.get("host_cores"))),
        ("memory", "%s GiB" % f1(mi.get("memory_bytes", 0) / 2 ** 30)),
        ("system", "%s, kernel %s" % (mi.get("os"), mi.get("kernel"))),
        ("spool and queue filesystem", mi.get("filesystem")),
        ("Postfix", mi.get("postfix")),
        ("compiler", mi.get("cc")),
        ("load average at start", " ".join(mi.get("loadavg_at_start", []))),
        ("duration", "%s min" % f1(mi.get("elapsed", 0) / 60) if mi.get("elapsed") else "—"),
        ("command", "`make bench` (= `./bench/run.sh build/release` after the release build)"),
    ]
    for k, v in rows:
        out.append("| %s | %s |" % (k, v))
    out.append("")
    out.append("Both servers relay everything to Postfix's smtp-sink on a loopback port. "
               "**Postfix** (Debian's package): a private instance under a temporary "
               "directory (own main.cf, master.cf, queue and data directories), smtpd on "
               "127.0.0.1, `relayhost = [127.0.0.1]:SINK`, `mynetworks = 127.0.0.0/8`, "
               "`mydestination =` (no local delivery), `smtp_dns_support_level = disabled`, "
               "`smtpd_peername_lookup = no`, default durability (the queue file is "
               "fsynced before 250), default concurrency (20 per destination). **moat**: "
               "build/release/moatd, spool in a temporary directory on the same "
               "filesystem, `trusted_networks = {\"127.0.0.0/8\"}`, `relayhost = "
               "\"127.0.0.1:SINK\"`, `dns_servers` a dead loopback port, one domain "
               "`bench.test`, limits raised for sessions and messages per session; "
               "group commit before 250 (spool_sync = journal, the default: one fdatasync of a "
               "journal segment per batch); default delivery concurrency (20). Nothing "
               "leaves 127.0.0.0/8; no DNS query reaches the machine's resolver. "
               "Other work on the machine during the run (other engineers' tests) "
               "adds noise: compare sides within this run only.\n")
    summary(d, tp, idle, out)
    failures(d, out)
    if tp:
        throughput_section(tp, out)
    if lt:
        latency_section(lt, out)
    if idle:
        idle_section(idle, out)
    out.append("## 4. Flood\n")
    flood_md = os.path.join(d, "flood.md")
    if os.path.exists(flood_md):
        out.append(open(flood_md).read())
    else:
        out.append("**Pending.** The flood benchmark of the screening issue is not "
                   "written yet: a well-behaved client's throughput with and "
                   "without a concurrent flood, target ≥ 80%. bench/run.sh runs "
                   "bench/flood.py as soon as it exists (contract: `flood.py --out DIR` "
                   "writes DIR/flood.json with a `ratio` field and DIR/flood.md, this "
                   "section).\n")
    for name in ("traffic", "signatures", "store", "milter"):
        md = os.path.join(d, name + ".md")
        if os.path.exists(md):
            out.append(open(md).read())
    if tp:
        resources_section(tp, out)
    if pr:
        profile_section(pr, out)
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ANALYSIS.md")
    if os.path.exists(notes):
        out.append(open(notes).read())
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--machine":
        machine(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--elapsed":
        p = os.path.join(sys.argv[2], "machine.json")
        mi = json.load(open(p))
        mi["elapsed"] = float(sys.argv[3])
        json.dump(mi, open(p, "w"), indent=1)
        return 0
    sys.stdout.write(report(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

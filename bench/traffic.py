#!/usr/bin/env python3
"""traffic - the traffic a real MX sees: TLS on both hops, large messages,
many recipients. moat and Postfix side by side in the same run, with the
same load generator, and the raw ceiling (the load generator straight into
the sink).

The load generator is bench/tlssource.c (Postfix's smtp-source has no TLS;
Python's ssl module costs as much CPU per handshake as the server it would
measure, on a machine of two cores), the onward hop bench/tlssink.c (Postfix's
smtp-sink has no TLS either), both built here with cc. Both servers relay
everything to the sink and speak STARTTLS to it opportunistically (moat's
relayhost, Postfix's smtp_tls_security_level = may), with the same
certificate on both hops (P-256 ECDSA, so ECDHE + AES-GCM in TLS 1.3).
moat runs with two SMTP workers (--workers, as etc/moat-production.conf):
a TLS handshake is CPU work, and one worker does all of its on one core,
while Postfix starts smtpd processes on demand.

Sections:
  tls     STARTTLS from the client (tlssource -t) at 20 and 100 sessions,
          in three ways of connecting: "reuse" (a connection per session,
          carrying its share of the messages), "resume" (a connection per
          message, resuming the TLS session of the one before: tickets)
          and "full" (a connection per message, a full handshake each).
          msg/s, handshakes/s, and CPU per message of server, client and sink.
  large   1 MiB and 10 MiB messages, 4 sessions, plain text from the client
          (the onward hop is STARTTLS, as in every section: the sink offers
          it, as real next hops do; raw is plain text); MB/s end to end,
          beside the disk's own write+fsync bandwidth measured in the same
          run (dd oflag=direct conv=fsync under BENCH_TMP).
  rcpts   one message to 50 recipients at 5 domains, 20 sessions; each
          domain has a next hop of its own (a sink each: moat's delivery =
          smtp:, Postfix's transport_maps), so each message becomes five
          deliveries of ten recipients. recipients/s.

A run counts only if the load generator saw 250 for every message, every
sink counted exactly what it should (no loss, no duplicate: checked again
2 s later) and the server's queue is empty.

    traffic.py --out bench/results [--reps 3] [--sections tls,large,rcpts]
               [--sides raw,postfix,moat] [--bin build/release] [--quick]
               [--workers 2]

writes DIR/traffic.json and DIR/traffic.md (its section of RESULTS.md).
Traffic stays on 127.0.0.1.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import floodlib  # noqa: E402
import lib  # noqa: E402

SIDES = ("raw", "postfix", "moat")
TARGET_RATIO = 5.0  # moat / Postfix on each section
RCPT_DOMAINS = 5
RCPTS = 50


def build_tools(bin_dir):
    ev = subprocess.run(["pkg-config", "--cflags", "--libs", "libevent_openssl", "libevent",
                         "openssl"], check=True, capture_output=True, text=True).stdout.split()
    ssl = ["-lssl", "-lcrypto"]
    return (floodlib.build_c(bin_dir, "tlssource", ["-pthread"] + ssl),
            floodlib.build_c(bin_dir, "tlssink", ev))


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=mx.bench.test", "-days", "2"], check=True,
                   capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class TlsSink(lib.Sink):
    """bench/tlssink.c with STARTTLS (two processes), counting as smtp-sink -c."""

    def __init__(self, exe, cert, key):
        super().__init__()
        self.exe, self.cert, self.key = exe, cert, key

    def start(self):
        import pty
        import threading
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [self.exe, "-w", "2", "-c", self.cert, "-k", self.key,
             "127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(slave)
        self.fd = master
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        lib.wait_port(self.port, 10, self.proc)
        return self

    def stop(self):
        pid = self.proc.pid if self.proc is not None else None
        super().stop()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)  # its workers outlive it
            except ProcessLookupError:
                pass


class Moatd(lib.Moatd):
    """lib.Moatd with TLS on its listener (and so STARTTLS onward, as
    opportunistic TLS: its relayhost), and the rcpts section's domains each
    delivered to a sink of its own."""

    def __init__(self, sink_port, cert, key, domain_ports=(), **kw):
        kw.setdefault("limits", {})["message_size_max"] = 64 << 20
        super().__init__(sink_port, **kw)
        self.cert, self.key, self.domain_ports = cert, key, domain_ports

    def conf_text(self):
        text = super().conf_text()
        text += 'tls {\n\tcert_file = %s\n\tkey_file = %s\n}\n' % (
            lib.conf_str(self.cert), lib.conf_str(self.key))
        users = ", ".join('"rcpt%d"' % i for i in range(RCPTS))
        for j, port in enumerate(self.domain_ports):
            text += ('domain "d%d.sink.test" {\n\tusers = {%s}\n'
                     '\tdelivery = "smtp:127.0.0.1:%d"\n}\n' % (j, users, port))
        return text


class Postfix(lib.Postfix):
    """lib.Postfix with TLS on smtpd and smtp (session caches through
    tlsmgr), no size limit below 64 MiB, and the rcpts section's transports."""

    def __init__(self, sink_port, cert, key, domain_ports=(), **kw):
        self.cert, self.key, self.domain_ports = cert, key, domain_ports
        super().__init__(sink_port, **kw)

    def main_cf(self):
        text = super().main_cf()
        extra = {
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "smtpd_tls_security_level": "may",
            "smtpd_tls_session_cache_database": "btree:$data_directory/smtpd_scache",
            "smtp_tls_security_level": "may",
            "smtp_tls_session_cache_database": "btree:$data_directory/smtp_scache",
            "message_size_limit": str(64 << 20),
        }
        if self.domain_ports:
            tm = os.path.join(self.dir, "transport")
            with open(tm, "w") as f:
                for j, port in enumerate(self.domain_ports):
                    f.write("d%d.sink.test smtp:[127.0.0.1]:%d\n" % (j, port))
            extra["transport_maps"] = "texthash:" + tm
        return text + "".join("%s = %s\n" % kv for kv in extra.items())


def disk_bandwidth(mib=256):
    """The disk's write+fsync bandwidth under BENCH_TMP, MB/s (direct I/O,
    so the page cache does not flatter it)."""
    d = lib.make_tmpdir("bench-dd-")
    try:
        t0 = time.time()
        subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(d, "dd"), "bs=1M",
                        "count=%d" % mib, "oflag=direct", "conv=fsync"], check=True,
                       capture_output=True)
        return mib * 1048576 / (time.time() - t0) / 1e6
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_once(tools, cert, key, side, run, bin_dir, timeout=900, workers=1):
    """One measured run of a section's case; a dict of figures (ok=False
    with the evidence when something went wrong)."""
    source_exe, sink_exe = tools
    res = dict(run, side=side, ok=False)
    nsinks = RCPT_DOMAINS if run["section"] == "rcpts" and side != "raw" else 1
    sinks = [TlsSink(sink_exe, cert, key).start() for _ in range(nsinks)]
    srv = None
    try:
        ports = [s.port for s in sinks] if nsinks > 1 else ()
        if side == "moat":
            srv = Moatd(sinks[0].port, cert, key, domain_ports=ports, workers=workers,
                        bin_dir=bin_dir)
        elif side == "postfix":
            srv = Postfix(sinks[0].port, cert, key, domain_ports=ports)
        if srv:
            srv.start()
        port = srv.port if srv else sinks[0].port
        lib.settle()
        out_json = os.path.join(lib.WORK_BASE, "tlssource-%d.json" % os.getpid())
        cmd = [source_exe, "-o", out_json] + run["flags"] + [
            str(port), str(run["sessions"]), str(run["messages"]), str(run["size"])]
        res["command"] = " ".join(cmd)
        for s in sinks:
            s.watch_for(run["messages"])
        srv_cpu0 = srv.usage() if srv else 0.0
        sink_cpu0 = sum(lib.tree_cpu(s.proc.pid) for s in sinks)
        t0 = time.time()
        src = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        t_last = None
        for s in sinks:
            t = s.wait_count(run["messages"], timeout, stall=60, proc=src)
            if t is None:
                t_last = None
                break
            t_last = max(t_last or 0, t)
        try:
            out, _ = src.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            src.kill()
            out, _ = src.communicate()
        time.sleep(1.0)
        srv_cpu = (srv.usage() - srv_cpu0) if srv else 0.0
        sink_cpu = sum(lib.tree_cpu(s.proc.pid) for s in sinks) - sink_cpu0
        try:
            with open(out_json) as f:
                gen = json.load(f)
            os.unlink(out_json)
        except (OSError, ValueError):
            gen = {}
        queued = srv.queue_files() if srv else 0
        deadline = time.time() + 15
        while queued and time.time() < deadline:
            time.sleep(0.2)
            queued = srv.queue_files()
        time.sleep(1.0)
        m = run["messages"]
        res.update({
            "source_rc": src.returncode,
            "source_output": out.decode(errors="replace")[-2000:],
            "generator": gen,
            "sink_counts": [s.count for s in sinks],
            "queued_after": queued,
            "server_cpu_per_msg_ms": srv_cpu / m * 1000 if srv else None,
            "client_cpu_per_msg_ms": (gen.get("cpu_user", 0) + gen.get("cpu_sys", 0)) / m
            * 1000,
            "sink_cpu_per_msg_ms": sink_cpu / m * 1000,
        })
        if t_last is not None:
            dt = t_last - t0
            res.update({
                "seconds": dt,
                "rate": m / dt,
                "rcpt_rate": m * run["rcpts"] / dt,
                "mb_rate": m * run["size"] / dt / 1e6,
                "handshake_rate": gen.get("handshakes", 0) / dt,
            })
        res["ok"] = (t_last is not None and src.returncode == 0 and
                     gen.get("messages") == m and queued == 0 and
                     all(s.count == m for s in sinks))
        if srv:
            res["problems"] = srv.problems()[:20]
        if not res["ok"] and srv:
            res["evidence_dir"] = srv.dir
            srv.keep = True
            res["log_tail"] = srv.log()[-4000:]
    finally:
        if srv:
            srv.stop()
            if not srv.keep:
                shutil.rmtree(srv.dir, ignore_errors=True)
        for s in sinks:
            s.stop()
    return res


def cases(sections, quick):
    """The runs of each section: (name, dict)."""
    k = 10 if quick else 1
    out = []
    if "tls" in sections:
        for sessions in (20, 100):
            for mode, flags, msgs in (("reuse", ["-t"], 20000), ("resume", ["-t", "-1"], 4000),
                                      ("full", ["-t", "-1", "-N"], 4000)):
                out.append({"section": "tls", "case": "%s %d" % (mode, sessions),
                            "sessions": sessions, "messages": msgs // k, "size": 4096,
                            "rcpts": 1, "flags": flags})
    if "large" in sections:
        for size, msgs in ((1 << 20, 400), (10 << 20, 40)):
            out.append({"section": "large", "case": "%d MiB" % (size >> 20), "sessions": 4,
                        "messages": max(4, msgs // k), "size": size, "rcpts": 1,
                        "flags": []})
    if "rcpts" in sections:
        out.append({"section": "rcpts", "case": "%d rcpts, %d domains" % (RCPTS, RCPT_DOMAINS),
                    "sessions": 20, "messages": 2000 // k, "size": 4096, "rcpts": RCPTS,
                    "flags": ["-n", str(RCPTS), "-D", str(RCPT_DOMAINS)]})
    return out


def median_of(runs, side, case, key):
    xs = [r[key] for r in runs if r["side"] == side and r["case"] == case and r["ok"]
          and r.get(key) is not None]
    return lib.median(xs) if xs else None


def report(runs, disk_mb, sides, workers=2):
    """traffic.md: per section, per case, the medians per side, and the
    targets (moat/Postfix >= 5 on each section)."""
    lines = ["## Traffic a real MX sees: TLS, large messages, many recipients\n",
             "bench/traffic.py: the load generator bench/tlssource.c, the onward hop "
             "bench/tlssink.c (STARTTLS on both hops in the tls section); medians of the "
             "valid runs. moat runs with `workers = %d` (etc/moat-production.conf's: a "
             "TLS handshake is CPU work, and one worker does it on one core), Postfix "
             "with its defaults (smtpd processes on demand). `raw`: the load generator "
             "straight into the sink, the ceiling of this machine.\n" % workers]
    if disk_mb:
        lines.append("Disk write+fsync bandwidth (dd oflag=direct, same run): **%.0f MB/s**.\n"
                     % disk_mb)
    targets = []
    for section, unit, key in (("tls", "msg/s", "rate"), ("large", "MB/s", "mb_rate"),
                               ("rcpts", "recipients/s", "rcpt_rate")):
        cs = []
        for r in runs:
            if r["section"] == section and r["case"] not in cs:
                cs.append(r["case"])
        if not cs:
            continue
        lines.append("\n### %s\n" % section)
        head = "| case | " + " | ".join("%s %s" % (s, unit) for s in sides)
        head += " | moat/postfix | moat/raw |"
        extra = section == "tls"
        if extra:
            head += " handshakes/s moat | CPU ms/msg moat | CPU ms/msg postfix |"
        lines.append(head)
        lines.append("|" + "---|" * (head.count("|") - 1))
        for c in cs:
            vals = {s: median_of(runs, s, c, key) for s in sides}
            ratio = (vals.get("moat") / vals["postfix"]
                     if vals.get("moat") and vals.get("postfix") else None)
            ceil = (vals.get("moat") / vals["raw"]
                    if vals.get("moat") and vals.get("raw") else None)
            row = "| %s | " % c + " | ".join("%.1f" % vals[s] if vals[s] else "—"
                                              for s in sides)
            row += " | %s | %s |" % ("%.2f" % ratio if ratio else "—",
                                     "%.2f" % ceil if ceil else "—")
            if extra:
                hs = median_of(runs, "moat", c, "handshake_rate")
                cm = median_of(runs, "moat", c, "server_cpu_per_msg_ms")
                cp = median_of(runs, "postfix", c, "server_cpu_per_msg_ms")
                row += " %s | %s | %s |" % ("%.0f" % hs if hs else "—",
                                           "%.2f" % cm if cm else "—",
                                           "%.2f" % cp if cp else "—")
            lines.append(row)
            targets.append((section, c, ratio))
    lines.append("\n### Targets\n")
    lines.append("| target | measured | verdict |")
    lines.append("|---|---|---|")
    for section, c, ratio in targets:
        lines.append("| %s %s: moat ≥ %.0f× Postfix | %s | %s |" % (
            section, c, TARGET_RATIO, "%.2f×" % ratio if ratio else "—",
            "—" if ratio is None else ("met" if ratio >= TARGET_RATIO else "missed")))
    bad = [r for r in runs if not r["ok"]]
    if bad:
        lines.append("\n%d run(s) were not valid; their evidence is in traffic.json." % len(bad))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sections", default="tls,large,rcpts")
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    ap.add_argument("--quick", action="store_true", help="a tenth of the messages")
    ap.add_argument("--workers", type=int, default=2,
                    help="moat's SMTP workers (2, as etc/moat-production.conf)")
    a = ap.parse_args()
    sides = a.sides.split(",")
    os.makedirs(a.out, exist_ok=True)
    tool_dir = lib.make_tmpdir("bench-tools-")
    tools = build_tools(tool_dir)
    cert, key = make_cert(tool_dir)
    disk_mb = disk_bandwidth() if "large" in a.sections else None
    runs = []
    t_start = time.time()
    for rep in range(a.reps):
        for run in cases(a.sections.split(","), a.quick):
            k = rep % len(sides)
            for side in sides[k:] + sides[:k]:
                for attempt in (1, 2):
                    try:
                        r = run_once(tools, cert, key, side, run, a.bin, workers=a.workers)
                    except Exception as e:  # a server that would not start, ...
                        r = dict(run, side=side, ok=False, error=repr(e))
                    r["rep"], r["attempt"] = rep, attempt
                    runs.append(r)
                    if r["ok"]:
                        break
                    print("traffic: run failed, evidence in %s; trying again"
                          % r.get("evidence_dir"), flush=True)
                print("traffic rep=%d %-5s %-22s %-8s %s msg/s %s rcpt/s %s MB/s ok=%s" % (
                    rep, run["section"], run["case"], side,
                    "%.0f" % r["rate"] if r.get("rate") else "-",
                    "%.0f" % r["rcpt_rate"] if r.get("rcpt_rate") else "-",
                    "%.1f" % r["mb_rate"] if r.get("mb_rate") else "-", r["ok"]), flush=True)
                with open(os.path.join(a.out, "traffic.json"), "w") as f:
                    json.dump({"params": vars(a), "disk_mb_s": disk_mb, "runs": runs,
                               "elapsed": time.time() - t_start}, f, indent=1)
    with open(os.path.join(a.out, "traffic.md"), "w") as f:
        f.write(report(runs, disk_mb, sides, a.workers))
    shutil.rmtree(tool_dir, ignore_errors=True)
    # A case of a repetition fails when neither attempt was valid.
    good = {(r["side"], r["case"], r["rep"]) for r in runs if r["ok"]}
    return 0 if all((r["side"], r["case"], r["rep"]) in good for r in runs) else 1

if __name__ == "__main__":
    sys.exit(main())

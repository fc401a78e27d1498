#!/usr/bin/env python3
"""latency - benchmark 2: acceptance latency, the time from the end of
DATA (the client has written "<CRLF>.<CRLF>") to the server's 250, at 20
concurrent sessions.

A closed-loop client (asyncio, standard library): each of SESSIONS sessions
says EHLO once, then sends MESSAGES messages of SIZE octets one after the
other, without pipelining (as smtp-source does), timing every end of DATA.
The first WARMUP messages of each session are not counted (Postfix starts
its processes on demand). The server relays everything to smtp-sink as in
the throughput benchmark, and the sink must count every message.
Sides alternate within each repetition, rotated between repetitions.

    latency.py --out bench/results [--reps 3] [--sessions 20]
               [--messages 150] [--size 4096] [--sides postfix,moat-w1,moat-w2]
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from throughput import make_server  # noqa: E402

WARMUP = 2


def message(size, n):
    head = ("From: <loadgen@client.test>\r\nTo: <rcpt@sink.test>\r\n"
            "Subject: latency %d\r\nMessage-Id: <lat.%d@client.test>\r\n\r\n" % (n, n))
    line = "X" * 78 + "\r\n"
    body = line * (size // len(line))
    body += "X" * (size - len(body) - 2) + "\r\n" if size > len(body) + 2 else ""
    return (head + body + ".\r\n").encode()


async def reply(reader):
    """Read one (possibly multi-line) reply; return its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


async def session(port, idx, count, size, lats, errors, interval=None):
    try:
        if interval:
            # paced: a random phase, then one message per interval
            await asyncio.sleep(random.random() * interval)
            next_t = time.perf_counter()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.2.%d" % (1 + idx % 250), 0))
        if await reply(reader) != 220:
            raise RuntimeError("greeting")
        writer.write(b"EHLO client.test\r\n")
        if await reply(reader) != 250:
            raise RuntimeError("EHLO")
        for i in range(count):
            if interval:
                next_t += interval
                await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
            for cmd, want in ((b"MAIL FROM:<loadgen@client.test>\r\n", 250),
                              (b"RCPT TO:<rcpt@sink.test>\r\n", 250),
                              (b"DATA\r\n", 354)):
                writer.write(cmd)
                code = await reply(reader)
                if code != want:
                    raise RuntimeError("%s -> %d" % (cmd.strip(), code))
            writer.write(message(size, idx * 100000 + i))
            await writer.drain()
            t = time.perf_counter()
            code = await reply(reader)
            dt = time.perf_counter() - t
            if code != 250:
                raise RuntimeError("end of DATA -> %d" % code)
            if i >= WARMUP:
                lats.append(dt)
        writer.write(b"QUIT\r\n")
        await reply(reader)
        writer.close()
    except Exception as e:  # recorded; the run is marked failed
        errors.append("session %d: %r" % (idx, e))


async def load(port, sessions, count, size, rate=None):
    lats, errors = [], []
    interval = sessions / rate if rate else None
    await asyncio.gather(*(session(port, i, count, size, lats, errors, interval)
                           for i in range(sessions)))
    return lats, errors


def run_once(side, sessions, count, size, bin_dir, rate=None):
    total = sessions * count
    res = {"side": side, "sessions": sessions, "messages": total, "size": size,
           "rate": rate, "ok": False}
    with lib.Sink() as sink:
        srv = make_server(side, sink.port, bin_dir)
        with srv:
            lib.settle()
            sink.watch_for(total)
            t0 = time.time()
            lats, errors = asyncio.run(load(srv.port, sessions, count, size, rate))
            t1 = time.time()
            t_last = sink.wait_count(total, 300, stall=60)
            time.sleep(1.0)
            lats_ms = [x * 1000 for x in lats]
            res.update({
                "measured": len(lats),
                "p50_ms": lib.percentile(lats_ms, 50),
                "p90_ms": lib.percentile(lats_ms, 90),
                "p99_ms": lib.percentile(lats_ms, 99),
                "max_ms": max(lats_ms) if lats_ms else None,
                "mean_ms": sum(lats_ms) / len(lats_ms) if lats_ms else None,
                "accept_rate": total / (t1 - t0),
                "errors": errors[:10],
                "sink_count": sink.count,
                "queued_after": srv.queue_files(),
                "problems": srv.problems()[:20],
            })
            res["ok"] = (not errors and t_last is not None and sink.count == total)
            if not res["ok"]:
                srv.keep = True
                res["evidence_dir"] = srv.dir
                res["log_tail"] = srv.log()[-4000:]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=150, help="per session")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sides", default="postfix,moat-w1,moat-w2")
    ap.add_argument("--paced-rate", type=int, default=200,
                    help="offered msg/s of the paced runs (0: none)")
    ap.add_argument("--paced-messages", type=int, default=40, help="per session")
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    a = ap.parse_args()
    sides = a.sides.split(",")
    os.makedirs(a.out, exist_ok=True)
    modes = [(None, a.messages)]
    if a.paced_rate:
        modes.append((a.paced_rate, a.paced_messages))
    runs = []
    for rep in range(a.reps):
        k = rep % len(sides)
        for rate, count in modes:
            for side in sides[k:] + sides[:k]:
                try:
                    r = run_once(side, a.sessions, count, a.size, a.bin, rate)
                except Exception as e:
                    r = {"side": side, "sessions": a.sessions, "rate": rate,
                         "ok": False, "error": repr(e)}
                r["rep"] = rep
                runs.append(r)
                print("latency rep=%d %-10s %-8s p50=%s ms p99=%s ms ok=%s" % (
                    rep, "%d/s" % rate if rate else "full", side,
                    "%.2f" % r["p50_ms"] if r.get("p50_ms") else "-",
                    "%.2f" % r["p99_ms"] if r.get("p99_ms") else "-", r["ok"]), flush=True)
                with open(os.path.join(a.out, "latency.json"), "w") as f:
                    json.dump({"params": vars(a), "warmup_per_session": WARMUP,
                               "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

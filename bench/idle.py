#!/usr/bin/env python3
"""idle - benchmark 3: memory held by idle sessions.

For each side and each count N, a fresh server; its memory with no session,
then with N sessions open that have read the greeting and say nothing
more. Memory is summed over every process of the server: RSS (pages
resident, shared pages counted once per process) and PSS (shared pages
divided among the processes that map them, so the sum is what the server
really occupies). Kernel socket buffers are in neither, for either side.

With --tls-sides, the same again with sessions that have also completed
STARTTLS (EHLO, STARTTLS, the handshake, then silent): sides "moat-w1+tls"
and "postfix+tls", the servers of bench/traffic.py (a P-256 certificate,
TLS 1.3).

The sessions come from many loopback addresses (SPREAD sessions per
address, 127.1.x.y) so that no per-client limit is what is measured. The
file-descriptor limit must allow N plus a margin (run.sh raises it).

    idle.py --out bench/results [--counts 1000,10000]
            [--sides moat-w1,moat-w2,postfix] [--postfix-max 10000]
            [--tls-sides moat-w1,postfix]
"""

import argparse
import json
import os
import resource
import selectors
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
import traffic  # noqa: E402
from throughput import make_server  # noqa: E402

SPREAD = 10


def source_addr(i):
    k = i // SPREAD
    return "127.1.%d.%d" % (k // 250, 1 + k % 250)


def _reply(buf):
    """The code of the last line of a whole reply in buf, or None."""
    lines = buf.split(b"\r\n")
    for line in lines[:-1]:
        if len(line) >= 4 and line[3:4] == b" ":
            return line[:3]
    return None


def open_idle(port, n, window=100, timeout=600, tls=None):
    """n connections that have each read a 220 greeting (with tls, an
    ssl.SSLContext: and completed STARTTLS); raises on failure."""
    sel = selectors.DefaultSelector()
    pending, done = {}, []
    state = {}  # fileno -> [stage, socket, buffer]
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
            state[s.fileno()] = ["greet", s, b""]
            i += 1
        if time.time() > deadline:
            raise RuntimeError("%d of %d sessions greeted before the timeout"
                               % (len(done), n))
        for key, _ in sel.select(1.0):
            fd = key.fd
            st = state[fd]
            s = st[1]
            try:
                if st[0] == "handshake":
                    try:
                        s.do_handshake()
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        continue
                    st[0] = "done"
                else:
                    data = s.recv(4096)
                    if not data:
                        raise RuntimeError("session %d: closed at %s" % (len(done), st[0]))
                    st[2] += data
                    code = _reply(st[2])
                    if code is None:
                        continue
                    want = {"greet": b"220", "ehlo": b"250", "starttls": b"220"}[st[0]]
                    if code != want:
                        raise RuntimeError("session %d: %s: %r" % (len(done), st[0],
                                                                    st[2][:80]))
                    st[2] = b""
                    if st[0] == "greet" and tls is not None:
                        s.send(b"EHLO idle.test\r\n")
                        st[0] = "ehlo"
                        continue
                    if st[0] == "ehlo":
                        s.send(b"STARTTLS\r\n")
                        st[0] = "starttls"
                        continue
                    if st[0] == "starttls":
                        sel.unregister(s)
                        s = tls.wrap_socket(s, do_handshake_on_connect=False)
                        st[1] = s
                        st[0] = "handshake"
                        sel.register(s, selectors.EVENT_READ)
                        try:
                            s.do_handshake()
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            continue
                    st[0] = "done"
            except OSError as e:
                raise RuntimeError("session %d: %s" % (len(done), e))
            sel.unregister(s)
            del pending[fd]
            del state[fd]
            done.append(s)
    sel.close()
    return done


def measure(srv, n, tls=None):
    time.sleep(1.0)
    base = srv.memory()
    t0 = time.time()
    socks = open_idle(srv.port, n, tls=tls)
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
    ap.add_argument("--tls-sides", default="moat-w1,postfix",
                    help="sides measured again with sessions after STARTTLS ('' for none)")
    ap.add_argument("--bin", default=os.path.join(lib.ROOT, "build", "release"))
    a = ap.parse_args()
    counts = [int(c) for c in a.counts.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(counts) + 1000
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    os.makedirs(a.out, exist_ok=True)
    runs = []
    sides = [(side, False) for side in a.sides.split(",")]
    sides += [(side, True) for side in a.tls_sides.split(",") if side]
    cert_dir = lib.make_tmpdir("bench-idle-")
    cert, key = traffic.make_cert(cert_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for n in counts:
        for side, tls in sides:
            if side == "postfix" and n > a.postfix_max:
                continue
            kw = {"smtpd_maxproc": n + 100} if side == "postfix" else {}
            name = side + ("+tls" if tls else "")
            r = {"side": name, "sessions": n, "ok": False, "tls": tls}
            try:
                with lib.Sink() as sink:
                    if not tls:
                        srv = make_server(side, sink.port, a.bin, **kw)
                    elif side == "postfix":
                        srv = traffic.Postfix(sink.port, cert, key, **kw)
                    else:
                        srv = traffic.Moatd(sink.port, cert, key, bin_dir=a.bin,
                                            workers=int(side[6:]))
                    with srv:
                        r.update(measure(srv, n, tls=ctx if tls else None))
                        r["ok"] = True
                        r["problems"] = srv.problems()[:10]
            except Exception as e:
                r["error"] = repr(e)
            runs.append(r)
            print("idle %-12s %6d sessions: %s" % (
                name, n, "PSS %.1f MB (%.1f kB/session), RSS %.1f MB" % (
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

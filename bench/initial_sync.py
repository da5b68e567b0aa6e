#!/usr/bin/env python3
"""Initial sync alone (issue 15): a sponsor filled to 10,000 entries, then
RUNS new devices joining it one after another, each timed from `join` sent
until it serves all entries, with the joiner's own CPU (utime + stime of
all its threads) for the same span; then one joiner restarted, timed until
its socket answers and then until it serves a code (its first start after
the sync: its entries are read back from its own store).

Usage: bench/initial_sync.py [AUTHD] [RUNS]  (default target/release/authd, 3)
Loopback only; every daemon is stopped and its directory removed at the end.
"""
import base64
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Conn, Daemon, IpcError, median, totp_entry, wait  # noqa: E402

AUTHD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "authd")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BASE = random.randint(21000, 40000)
TICK = os.sysconf("SC_CLK_TCK")
daemons = []


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def serves(d, query):
    try:
        d.call({"op": "code", "query": query})
        return True
    except (OSError, IpcError):
        return False


def secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


try:
    a = Daemon(AUTHD, BASE, "sponsor")
    daemons.append(a)
    a.init()
    total = 10_000
    conn = Conn(a.sock)
    have = 0
    while have < total:
        n = min(200, total - have)
        for i in range(have, have + n):
            conn.send(totp_entry(f"Site{i:05d}", f"user{i:05d}@example.com", secret()))
        conn.f.flush()
        for _ in range(n):
            conn.recv()
        have += n
    conn.close()
    walls, cpus = [], []
    for r in range(RUNS):
        c = Daemon(AUTHD, BASE + 1 + r, f"joiner{r}", peers=[a.addr])
        daemons.append(c)
        before = cpu_ms(c.proc.pid)
        t0 = time.perf_counter()
        c.join(a)
        wait(lambda: (c.status().get("entries") or 0) >= total, 60, step=0.01)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_ms(c.proc.pid) - before)
        if r < RUNS - 1:
            c.stop()
    # The last joiner's next start: its store, read back.
    c.stop()
    t0 = time.perf_counter()
    c.start()
    up = time.perf_counter() - t0
    wait(lambda: serves(c, "site00000"), 10, step=0.001)
    served = time.perf_counter() - t0
    print(f"| figure ({total:,} entries, median of {RUNS}) | measured |")
    print("| --- | --- |")
    print(f"| initial sync, `join` sent → all served | {median(walls):.2f} s (each: {', '.join(f'{w:.2f}' for w in walls)}) |")
    print(f"| the joiner's CPU over that span | {median(cpus):.0f} ms |")
    print(f"| that joiner's next start → socket answers / first code served | {up*1000:.0f} / {served*1000:.0f} ms |")
finally:
    for d in daemons:
        d.stop()
        shutil.rmtree(d.home, ignore_errors=True)

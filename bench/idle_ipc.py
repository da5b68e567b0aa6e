#!/usr/bin/env python3
"""An idle authd (one entry, unlocked, no peers): RSS, CPU and wakeups over
a minute; then `code` requests per second on one IPC connection, and the
CPU each request costs the daemon and this client.

Usage: bench/idle_ipc.py [AUTHD] [IDLE_SECS]  (prints Markdown rows)
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Conn, Daemon, cpu_and_wakeups, totp_entry  # noqa: E402

AUTHD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "authd")
IDLE = int(sys.argv[2]) if len(sys.argv) > 2 else 60


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


d = Daemon(AUTHD, 0, "idle")  # port 0: the OS picks; no peers, no mDNS
try:
    d.init()
    d.call(totp_entry("Amazon", "alice", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
    time.sleep(2)
    pid = d.proc.pid
    cpu0, wake0 = cpu_and_wakeups(pid)
    time.sleep(IDLE)
    cpu1, wake1 = cpu_and_wakeups(pid)
    rss = rss_mb(pid)

    conn = Conn(d.sock)
    req = {"op": "code", "query": "amazon"}
    for _ in range(1000):
        conn.call(req)
    n = 20_000
    daemon0, _ = cpu_and_wakeups(pid)
    client0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        conn.call(req)
    rate = n / (time.perf_counter() - t0)
    client_us = (time.process_time() - client0) / n * 1e6
    daemon_us = (cpu_and_wakeups(pid)[0] - daemon0) / n * 1e6
    conn.close()
finally:
    d.stop()

print(f"| idle authd (1 entry, unlocked): RSS | {rss:.1f} MB | ≤ 30 MB |")
print(f"| idle authd: CPU over {IDLE} s | {cpu1 - cpu0:.2f} s | ≤ 0.1 s |")
print(f"| idle authd: wakeups (context switches, all threads) over {IDLE} s | {wake1 - wake0} | — |")
print(f"| `code` requests per second on one IPC connection (Python client, one at a time) | {rate:,.0f}/s | ≥ 20,000/s |")
print(f"| CPU per `code` request in that loop: authd / the Python client | {daemon_us:.0f} µs / {client_us:.0f} µs | — |")

#!/usr/bin/env python3
"""Who wakes an idle authd: context switches per thread (voluntary +
involuntary, from /proc/PID/task/*/status) over a bounded window, grouped by
thread name, for a one-entry unlocked daemon with no peers.

Usage: bench/wakeups.py [AUTHD] [SECS] [AUTO_LOCK_SECS] [MDNS]
  (defaults: target/release/authd, 20 s, 900 s as in the shipped config,
  mdns off; MDNS=1 binds mDNS to loopback)
Prints one Markdown row per thread name and the total, scaled to a minute.
"""
import collections
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Daemon, totp_entry  # noqa: E402

AUTHD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "authd")
SECS = min(int(sys.argv[2]) if len(sys.argv) > 2 else 20, 120)
AUTO_LOCK = sys.argv[3] if len(sys.argv) > 3 else "900"
MDNS = len(sys.argv) > 4 and sys.argv[4] == "1"


def per_thread(pid):
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as f:
                name = f.read().strip()
            n = 0
            with open(f"{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            continue
        out[task] = (name, n)
    return out


d = Daemon(AUTHD, 0, "wake", mdns=MDNS)
try:
    d.init()
    d.call(totp_entry("Amazon", "alice", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
    d.stop()
    d.args += ["--auto-lock", AUTO_LOCK]
    d.start()
    time.sleep(2)
    pid = d.proc.pid
    before = per_thread(pid)
    time.sleep(SECS)
    after = per_thread(pid)
finally:
    d.stop()

by_name = collections.Counter()
threads = collections.Counter()
for task, (name, n) in after.items():
    by_name[name] += n - before.get(task, (name, 0))[1]
    threads[name] += 1
scale = 60 / SECS
print(f"| thread (count) | wakeups per minute ({SECS} s window, auto-lock {AUTO_LOCK} s, mDNS {'on' if MDNS else 'off'}) |")
print("| --- | --- |")
for name, n in by_name.most_common():
    print(f"| {name} ({threads[name]}) | {n * scale:.0f} |")
print(f"| all | {sum(by_name.values()) * scale:.0f} |")

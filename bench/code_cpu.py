#!/usr/bin/env python3
"""CPU spent per code: `authctl code amazon` (its own process plus what the
daemon spends answering it) against `oathtool --totp`, run alternately.

Wall-clock medians on a shared 2-core machine follow its load (a run that
waits for a core is timed as slow), and the daemon's share of a request is
invisible to a timer around the client. CPU time is neither: each
process's user+system time from the kernel, the client's from wait4
(`resource.RUSAGE_CHILDREN`), the daemon's from /proc (all its threads,
read before and after the whole loop, in clock ticks: hence the
thousands of runs).

Usage: bench/code_cpu.py AUTHCTL AUTHD [RUNS]   (prints Markdown rows)
"""
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Conn, Daemon, cpu_and_wakeups, totp_entry  # noqa: E402

AUTHCTL, AUTHD = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    daemon = Daemon(AUTHD, 0, "code-cpu")
    try:
        conn = Conn(daemon.sock)
        conn.call({"op": "init", "name": "bench", "passphrase": None})
        conn.call(totp_entry("Amazon", "alice", SECRET))
        conn.close()
        env = dict(os.environ, AUTHSYNC_HOME=daemon.home)
        authctl = [AUTHCTL, "code", "amazon"]
        oathtool = ["oathtool", "--totp", "-b", SECRET]
        for _ in range(20):  # warm both up
            subprocess.run(authctl, env=env, stdout=subprocess.DEVNULL, check=True)
            subprocess.run(oathtool, stdout=subprocess.DEVNULL, check=True)
        client = {"authctl": 0.0, "oathtool": 0.0}
        wall = {"authctl": [], "oathtool": []}
        served_before, wakeups_before = cpu_and_wakeups(daemon.proc.pid)
        for _ in range(RUNS):
            for name, argv, kw in (("authctl", authctl, {"env": env}), ("oathtool", oathtool, {})):
                before = children_cpu()
                t0 = time.perf_counter()
                subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, **kw)
                wall[name].append(time.perf_counter() - t0)
                client[name] += children_cpu() - before
        served_after, wakeups_after = cpu_and_wakeups(daemon.proc.pid)
        # oathtool's runs cost the daemon nothing, so the delta is authctl's.
        served = served_after - served_before
        us = lambda s: s / RUNS * 1e6  # noqa: E731
        med = lambda xs: sorted(xs)[len(xs) // 2] * 1e3  # noqa: E731
        total = client["authctl"] + served
        print(f"| CPU per code, `authctl` process ({RUNS} runs, alternating) | {us(client['authctl']):.0f} µs | — |")
        print(f"| CPU per code, `authd` answering it (all threads) | {us(served):.0f} µs | — |")
        print(
            f"| CPU per code, both | {us(total):.0f} µs | `oathtool --totp` {us(client['oathtool']):.0f} µs "
            f"({total / client['oathtool']:.2f}×) |"
        )
        print(f"| authd wakeups per code | {(wakeups_after - wakeups_before) / RUNS:.1f} | — |")
        print(
            f"| wall, median (spawn from Python included) | {med(wall['authctl']):.3f} ms | "
            f"`oathtool` {med(wall['oathtool']):.3f} ms ({med(wall['authctl']) / med(wall['oathtool']):.2f}×) |"
        )
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()

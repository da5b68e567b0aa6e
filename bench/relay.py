#!/usr/bin/env python3
"""Propagation through a relay, beside the direct figure, on loopback.

A change acknowledged on A until C serves its code, where A and C never
connect to each other: each dials only the relay R (`authd --relay`), which
stores and forwards the record. Beside it, in the same run with the same
binary, the direct figure of bench/sync.py: A to B with B dialling A.

Usage: bench/relay.py [AUTHD] [N]  (default target/release/authd, N = 30;
prints Markdown). Everything runs on 127.0.0.1; every daemon is stopped at
the end.
"""
import base64
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Conn, Daemon, IpcError, median, totp_entry, wait  # noqa: E402

AUTHD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "authd")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 30
BASE = random.randint(21000, 40000)
daemons = []


def daemon(name, offset, peers=(), relay=False):
    d = Daemon(AUTHD, BASE + offset, name, peers=peers)
    daemons.append(d)
    if relay:
        d.stop()
        d.args.append("--relay")
        d.start()
    return d


def restart(d, port_offset, peers):
    """Restarts d on a new port, dialling only `peers`."""
    d.stop()
    d.port = BASE + port_offset
    d.args = [AUTHD, "--listen", f"127.0.0.1:{d.port}", "--no-mdns"] + [a for p in peers for a in ("--peer", p)]
    if d.name == "relay":
        d.args.append("--relay")
    d.start()


def secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def online_with(d, names):
    def check():
        devs = d.call({"op": "devices"})["devices"]
        return all(any(x["name"] == n and x["online"] for x in devs) for n in names)
    return check


def propagation(src, dst, tag):
    conn_s, conn_d = Conn(src.sock), Conn(dst.sock)
    times = []
    for i in range(N):
        conn_s.call(totp_entry(f"{tag}{i:03d}", "p@example.com", secret()))
        t0 = time.perf_counter()
        while True:
            try:
                conn_d.call({"op": "code", "query": f"{tag.lower()}{i:03d}"})
                break
            except IpcError:
                if time.perf_counter() - t0 > 10:
                    raise
        times.append(time.perf_counter() - t0)
    conn_s.close()
    conn_d.close()
    return median(times)


try:
    a = daemon("alice", 0)
    a.init()
    # The relay and carol join through alice, then everyone moves to new
    # ports: the addresses they learned at joining are dead, so alice and
    # carol reach each other only through the relay they dial.
    r = daemon("relay", 1, relay=True)
    code = a.pair()
    r.call({"op": "join", "code": code, "peer": a.addr, "name": "relay", "passphrase": None, "relay": True})
    c = daemon("carol", 2)
    c.join(a)
    restart(r, 11, [])
    restart(a, 10, [r.addr])
    restart(c, 12, [r.addr])
    wait(online_with(r, ["alice", "carol"]), 20)
    relayed = propagation(a, c, "Relay")
    assert not any(x["name"] == "carol" and x["online"] for x in a.call({"op": "devices"})["devices"])

    b = daemon("bob", 3, peers=[a.addr])
    b.join(a)
    wait(online_with(b, ["alice"]), 20)
    direct = propagation(a, b, "Direct")

    print("| figure | measured |")
    print("| --- | --- |")
    print(f"| add acknowledged on A → code served on B, direct (loopback, median of {N}) | {direct*1000:.1f} ms |")
    print(f"| add acknowledged on A → code served on C through a relay, A and C never connected (loopback, median of {N}) | {relayed*1000:.1f} ms |")
finally:
    for d in daemons:
        d.stop()

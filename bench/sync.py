#!/usr/bin/env python3
"""Sync benchmarks on loopback: propagation, bytes per change, initial sync
of 10,000 entries, discovery by mDNS, and one change through ten daemons.

Usage: bench/sync.py [AUTHD] [--collections]  (default target/release/authd;
prints Markdown). With --collections, alice's A and bob's B share three
collections the way a household would (shared, alice's own, and one of
alice and bob): propagation goes through `shared`, the 10,000 entries are
spread over the three (B reads two of them, and holds every record), and
the new device C is alice's (it reads all three).
Everything runs on 127.0.0.1; every daemon is stopped at the end.
"""
import base64
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from authsync_ipc import Conn, Daemon, IpcError, median, totp_entry, wait  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
COLLECTIONS = "--collections" in sys.argv[1:]
AUTHD = ARGS[0] if ARGS else os.path.join(os.path.dirname(__file__), "..", "target", "release", "authd")
# Where entries go: one collection, or three in turn.
PLACES = ["shared", "alice", "ab"] if COLLECTIONS else [None]
BASE = random.randint(21000, 40000)
daemons = []


def daemon(name, offset, **kw):
    d = Daemon(AUTHD, BASE + offset, name, **kw)
    daemons.append(d)
    return d


def secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def serves(d, query):
    def check():
        try:
            d.call({"op": "code", "query": query})
            return True
        except IpcError:
            return False
    return check


def online(d, n):
    return lambda: d.status()["peers_online"] >= n


def bytes_to(d, peer_name):
    for dev in d.call({"op": "devices"})["devices"]:
        if dev["name"] == peer_name:
            return dev["sent_bytes"] or 0, dev["received_bytes"] or 0
    return 0, 0


rows = []
try:
    # Two devices, static peers.
    a = daemon("alice", 0)
    a.init(person="alice" if COLLECTIONS else None)
    b = daemon("bob", 1, peers=[a.addr])
    b.join(a, person="bob" if COLLECTIONS else None)
    wait(online(a, 1), 10)
    wait(online(b, 1), 10)
    if COLLECTIONS:
        a.call({"op": "collection_new", "name": "ab", "persons": ["bob"]})

    # 1. Propagation: A acknowledges an add, until B serves the code.
    conn_a, conn_b = Conn(a.sock), Conn(b.sock)
    times = []
    for i in range(50):
        conn_a.call(totp_entry(f"Prop{i:03d}", "p@example.com", secret(), PLACES[0]))
        t0 = time.perf_counter()
        while True:
            try:
                conn_b.call({"op": "code", "query": f"prop{i:03d}"})
                break
            except IpcError:
                if time.perf_counter() - t0 > 5:
                    raise
        times.append(time.perf_counter() - t0)
    rows.append(("add acknowledged on A → code served on B (loopback, median of 50)", f"{median(times)*1000:.1f} ms", "≤ 10 ms"))

    # Fill A to 10,000 entries, over one pipelined connection.
    total = 10_000
    have = 50
    while have < total:
        n = min(200, total - have)
        for i in range(have, have + n):
            conn_a.send(totp_entry(f"Site{i:05d}", f"user{i:05d}@example.com", secret(), PLACES[i % len(PLACES)]))
        conn_a.f.flush()
        for _ in range(n):
            conn_a.recv()
        have += n
    wait(lambda: b.status()["records"] >= a.status()["records"], 120, step=0.05)

    # 2. Bytes on the wire per change in a 10,000-entry vault.
    tx0, rx0 = bytes_to(a, "bob")
    changes = 20
    for i in range(changes):
        conn_a.call(totp_entry(f"Bytes{i:02d}", "b@example.com", secret(), PLACES[0]))
        wait(serves(b, f"bytes{i:02d}"), 5)
    time.sleep(0.3)  # let the last acknowledgements land
    tx1, rx1 = bytes_to(a, "bob")
    total += changes
    rows.append(
        (
            "bytes on the wire per change, 10,000-entry vault (A→B + B→A, QUIC's count)",
            f"{(tx1 - tx0) / changes:.0f} + {(rx1 - rx0) / changes:.0f} B",
            "≤ 4 KiB",
        )
    )

    # 3. Initial sync of 10,000 entries to a newly joined device.
    c = daemon("carol", 2, peers=[a.addr])
    t0 = time.perf_counter()
    c.join(a, person="alice" if COLLECTIONS else None)  # the sponsor's welcome carries every record
    wait(lambda: (c.status().get("entries") or 0) >= total, 60, step=0.01)
    t = time.perf_counter() - t0
    rows.append((f"initial sync of {total:,} entries to a newly joined device (`join` sent → all served)", f"{t:.2f} s", "≤ 3 s"))
    conn_a.close()
    conn_b.close()
    for d in (a, b, c):
        d.stop()

    # The chain and discovery do not depend on collections.
    if not COLLECTIONS:
        # 4. Ten daemons in a chain: each knows only the previous one.
        chain = [daemon("n0", 10)]
        chain[0].init()
        for k in range(1, 10):
            d = daemon(f"n{k}", 10 + k, peers=[chain[-1].addr])
            d.join(chain[-1])
            chain.append(d)
        for d in chain[1:]:
            wait(online(d, 1), 10)
        spans = []
        for r in range(5):
            chain[0].call(totp_entry(f"Chain{r}", "c@example.com", secret()))
            t0 = time.perf_counter()
            for d in chain[1:]:
                wait(serves(d, f"chain{r}"), 5)
            spans.append(time.perf_counter() - t0)
        rows.append(("one change reaching all of 10 daemons in a chain (median of 5)", f"{median(spans)*1000:.0f} ms", "≤ 1 s"))
        for d in chain:
            d.stop()

        # 5. Discovery by mDNS (bound to loopback): a member restarts with no
        #    static peer, until both report each other connected.
        m1 = daemon("m1", 30, mdns=True)
        m1.init()
        m2 = daemon("m2", 31, mdns=True)
        m2.join(m1, via_peer=False)  # finds the offer by mDNS too
        m2.stop()
        found = []
        for _ in range(5):
            wait(lambda: m1.status()["peers_online"] == 0, 30, step=0.01)
            t0 = time.perf_counter()
            m2.start()
            wait(lambda: m1.status()["peers_online"] >= 1 and m2.status()["peers_online"] >= 1, 15, step=0.005)
            found.append(time.perf_counter() - t0)
            m2.stop()
        rows.append(("cold start of B (no static peers) until A and B report each other connected via mDNS (median of 5)", f"{median(found):.2f} s", "≤ 2 s"))
finally:
    for d in daemons:
        d.stop()

print("| figure | measured | target |")
print("| --- | --- | --- |")
for figure, value, target in rows:
    print(f"| {figure} | {value} | {target} |")

#!/usr/bin/env python3
"""A bad network in user space: forwards Ethernet frames between a node's
bridge port and a spare port on the bridge, and drops, delays and reorders
those towards the node the way `tc qdisc add dev PORT root netem loss L%
delay D reorder R%` would.

Used by tests/tests/partitions.rs, run in the bridge's namespace with
`ip netns exec`, because the kernels this runs on may lack sch_netem
(CONFIG_NET_SCH_NETEM) and cannot load it. A node's bridge port is taken
off the bridge and this wire put between it and a spare bridge port:

    node eth0 <-veth-> PORT  [wire.py]  SPARE <-veth-> SPARE-PEER (on br0)

Frames from the node (PORT -> SPARE) pass untouched; frames towards the
node (SPARE -> PORT) lose `--loss`, wait `--delay-ms` plus up to
`--jitter-ms`, and `--reorder` of them skip the wait (so they overtake
the delayed ones): as netem on the bridge side of the node's veth.

    wire.py --check
        exit 0 if packet sockets with virtio-net headers work here
    wire.py --port PORT --spare SPARE [--loss 0.2] [--delay-ms 200]
            [--jitter-ms 50] [--reorder 0.25] [--seed N]

Runs until SIGTERM, then prints one JSON line of counts on stdout:
{"towards": {"passed": n, "dropped": n, "reordered": n}, "from": n}.
Packet sockets carry a virtio-net header (PACKET_VNET_HDR) each way, so
UDP GSO batches from quinn go through whole and the kernel segments them.
"""

import argparse
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
# virtio_net_hdr (10 bytes) + the largest GSO batch the kernel builds.
BUFFER = 10 + 65536 + 1024


def packet_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernels: outgoing frames are filtered below
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def check():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.close()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--port")
    parser.add_argument("--spare")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.check:
        return check()
    if not args.port or not args.spare:
        parser.error("--port and --spare are required")

    rng = random.Random(args.seed)
    port = packet_socket(args.port)
    spare = packet_socket(args.spare)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    counts = {"towards": {"passed": 0, "dropped": 0, "reordered": 0}, "from": 0}
    # (due, sequence, frame), sent to `port` when due.
    held = []
    sequence = 0

    def send(sock, frame):
        try:
            sock.send(frame)
        except OSError:
            # The link is down (a cut on top of the bad network): lost.
            pass

    while not stopping:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, frame = heapq.heappop(held)
            send(port, frame)
        timeout = 0.5 if not held else max(0.0, held[0][0] - now)
        try:
            ready, _, _ = select.select([port, spare], [], [], timeout)
        except InterruptedError:
            continue
        for sock in ready:
            while True:
                try:
                    frame, addr = sock.recvfrom(BUFFER)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                if sock is port:
                    counts["from"] += 1
                    send(spare, frame)
                    continue
                if rng.random() < args.loss:
                    counts["towards"]["dropped"] += 1
                    continue
                counts["towards"]["passed"] += 1
                if rng.random() < args.reorder:
                    counts["towards"]["reordered"] += 1
                    send(port, frame)
                    continue
                delay = args.delay_ms + rng.random() * args.jitter_ms
                sequence += 1
                heapq.heappush(held, (time.monotonic() + delay / 1000.0, sequence, frame))
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An mDNS browser independent of authsync: python-zeroconf looks for
`_authsync._udp.local.` and prints what it resolved as one JSON object.

Used by tests/tests/netns.rs (run inside a network namespace with
`ip netns exec`), so that what the daemons announce is checked by an
implementation other than the mdns-sd crate they announce with.

    browse.py --check
        exit 0 if zeroconf is importable (the test skips otherwise)
    browse.py [--interface IP]... [--want ID]... [--settle SECS] [--timeout SECS]

Browses until every `--want` device id was resolved from a service whose
TXT `id` is that id, then `--settle` seconds more (to see later renames
and updates), or until the timeout. Prints, on stdout:

    {"elapsed_s": 1.2, "complete": true, "zeroconf": "0.154.0",
     "services": [{"name": ..., "server": ..., "port": 47811,
                   "addresses": ["198.18.0.1"], "txt": {"v": "1", ...},
                   "seen_s": 0.4}]}

`complete` says whether every wanted id was found. Exit status: 0 when
complete (or nothing was wanted), 1 when not, 2 on bad usage or when
zeroconf is missing. Always ends within the timeout plus about a second.
"""

import argparse
import json
import queue
import sys
import time

SERVICE_TYPE = "_authsync._udp.local."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that zeroconf imports")
    parser.add_argument("--interface", action="append", default=[], help="an IPv4 address to browse on")
    parser.add_argument("--want", action="append", default=[], help="a device id to wait for")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to go on once all are found")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to browse at most")
    args = parser.parse_args()
    try:
        import zeroconf
        from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceListener, Zeroconf
    except ImportError as e:
        print(f"browse.py: python zeroconf is not importable: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(zeroconf.__version__)
        return 0
    if not 0 < args.timeout <= 120 or not 0 <= args.settle <= args.timeout:
        print("browse.py: need 0 < --timeout <= 120 and 0 <= --settle <= --timeout", file=sys.stderr)
        return 2

    start = time.monotonic()
    deadline = start + args.timeout
    # (event, instance name) from zeroconf's thread to the main thread.
    events: "queue.Queue[tuple[str, str]]" = queue.Queue()

    class Listener(ServiceListener):
        # Called on zeroconf's own thread: only hand the name over, resolve
        # on the main thread (get_service_info must not run on that thread).
        def add_service(self, zc, type_, name):
            events.put(("add", name))

        def update_service(self, zc, type_, name):
            events.put(("update", name))

        def remove_service(self, zc, type_, name):
            events.put(("remove", name))

    zc = Zeroconf(
        interfaces=args.interface or InterfaceChoice.All,
        ip_version=IPVersion.V4Only,
    )
    services = {}
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, Listener())
        want = set(args.want)
        all_found = False
        unresolved = set()
        while True:
            now = time.monotonic()
            if want and not all_found and want <= {s["txt"].get("id") for s in services.values()}:
                # Everything wanted is here: watch `--settle` more, then stop.
                all_found = True
                deadline = min(deadline, now + args.settle)
            if now >= deadline:
                break
            try:
                event, name = events.get(timeout=max(0.01, min(deadline - now, 0.25)))
            except queue.Empty:
                # Nothing new: try again the ones that did not resolve.
                for name in unresolved:
                    events.put(("retry", name))
                unresolved.clear()
                continue
            if event == "remove":
                services.pop(name, None)
                unresolved.discard(name)
                continue
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            info = zc.get_service_info(SERVICE_TYPE, name, timeout=min(left_ms, 1000))
            if info is None:
                unresolved.add(name)
                continue
            services[name] = {
                "name": name,
                "server": info.server,
                "port": info.port,
                "addresses": sorted(info.parsed_addresses()),
                "txt": dict(info.decoded_properties),
                "seen_s": round(time.monotonic() - start, 3),
            }
        browser.cancel()
    finally:
        zc.close()
    found = {s["txt"].get("id") for s in services.values()}
    complete = set(args.want) <= found
    print(
        json.dumps(
            {
                "elapsed_s": round(time.monotonic() - start, 3),
                "complete": complete,
                "zeroconf": zeroconf.__version__,
                "services": sorted(services.values(), key=lambda s: s["name"]),
            }
        )
    )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())

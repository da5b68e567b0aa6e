#!/usr/bin/env python3
"""Adds N generated TOTP entries to a running authd over one IPC connection.

Usage: fill.py SOCKET N. Requests are pipelined in batches; each add is
still acknowledged only after it is durable, as with `authctl add`.
"""
import base64
import json
import os
import socket
import sys

sock_path, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(sock_path)
f = s.makefile("rwb")
f.write(b'{"protocol":1,"agent":"bench-fill"}\n')
f.flush()
json.loads(f.readline())
batch = 200
done = 0
while done < count:
    n = min(batch, count - done)
    for i in range(done, done + n):
        secret = base64.b32encode(os.urandom(20)).decode().rstrip("=")
        req = {
            "op": "add",
            "entry": {
                "issuer": f"Site{i:05d}",
                "account": f"user{i:05d}@example.com",
                "otp": {"secret": secret, "spec": {"type": "totp", "algorithm": "SHA1", "digits": 6, "period": 30}},
            },
        }
        f.write(json.dumps(req).encode() + b"\n")
    f.flush()
    for _ in range(n):
        reply = json.loads(f.readline())
        if "error" in reply:
            sys.exit(f"add failed: {reply['error']['message']}")
    done += n
print(f"added {count} entries")

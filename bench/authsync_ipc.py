"""A small client for authd's JSON-lines IPC, and a way to run throwaway
daemons, for the benchmarks. The protocol is documented in proto/src/ipc.rs."""
import atexit
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


class IpcError(Exception):
    pass


class Conn:
    """One IPC connection: hello once, then any number of requests."""

    def __init__(self, sock_path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sock_path)
        self.f = self.s.makefile("rwb")
        self.f.write(b'{"protocol":1,"agent":"bench"}\n')
        self.f.flush()
        json.loads(self.f.readline())

    def send(self, req):
        self.f.write(json.dumps(req).encode() + b"\n")

    def recv(self):
        reply = json.loads(self.f.readline())
        if "error" in reply:
            raise IpcError(reply["error"]["message"])
        return reply["ok"]

    def call(self, req):
        self.send(req)
        self.f.flush()
        return self.recv()

    def close(self):
        self.s.close()


def totp_entry(issuer, account, secret, collection=None):
    req = {
        "op": "add",
        "entry": {
            "issuer": issuer,
            "account": account,
            "otp": {"secret": secret, "spec": {"type": "totp", "algorithm": "SHA1", "digits": 6, "period": 30}},
        },
    }
    if collection:
        req["collection"] = collection
    return req


class Daemon:
    """A throwaway authd on loopback, in its own AUTHSYNC_HOME."""

    def __init__(self, authd, port, name, peers=(), mdns=False, workdir=None):
        self.home = tempfile.mkdtemp(prefix=f"bench-{name}-", dir=workdir)
        # Removed when the script ends (its daemons are stopped by then);
        # BENCH_KEEP=1 keeps it, logs and all, to look into a failure.
        if not os.environ.get("BENCH_KEEP"):
            atexit.register(self._remove)
        self.name, self.port, self.authd = name, port, authd
        self.args = [authd, "--listen", f"127.0.0.1:{port}"] + [a for p in peers for a in ("--peer", p)]
        if not mdns:
            self.args.append("--no-mdns")
        self.proc = None
        self.start()

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def sock(self):
        return os.path.join(self.home, "run", "authd.sock")

    def start(self):
        env = dict(os.environ, AUTHSYNC_HOME=self.home, RUST_LOG=os.environ.get("BENCH_LOG","warn"))
        self.log = open(os.path.join(self.home, "authd.log"), "ab")
        self.proc = subprocess.Popen(self.args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                Conn(self.sock).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"authd {self.name} exited; see {self.home}/authd.log (kept with BENCH_KEEP=1)")
                time.sleep(0.005)
        raise RuntimeError(f"authd {self.name} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                Conn(self.sock).call({"op": "shutdown"})
            except (OSError, IpcError, ValueError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _remove(self):
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def call(self, req):
        c = Conn(self.sock)
        try:
            return c.call(req)
        finally:
            c.close()

    def status(self):
        return self.call({"op": "status"})["status"]

    def init(self, person=None):
        req = {"op": "init", "name": self.name, "passphrase": None}
        if person:
            req["person"] = person
        return self.call(req)

    def pair(self):
        return self.call({"op": "pair", "ttl_secs": 300})["pairing"]["code"]

    def join(self, sponsor, via_peer=True, person=None):
        code = sponsor.pair()
        req = {"op": "join", "code": code, "peer": sponsor.addr if via_peer else None, "name": self.name, "passphrase": None}
        if person:
            req["person"] = person
        return self.call(req)


def wait(cond, timeout, step=0.001):
    """Polls cond() until true; returns seconds taken, or raises."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if cond():
            return time.perf_counter() - t0
        time.sleep(step)
    raise TimeoutError("condition not met in time")


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


TICK = os.sysconf("SC_CLK_TCK")


def cpu_and_wakeups(pid):
    cpu = 0
    wakeups = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        with open(f"{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            cpu += int(fields[11]) + int(fields[12])  # utime + stime
        with open(f"{task}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    wakeups += int(line.split()[1])
    return cpu / TICK, wakeups

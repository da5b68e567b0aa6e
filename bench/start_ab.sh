#!/usr/bin/env bash
# Start-up and memory of several builds of authd, alternated on one vault:
# for each round and each build, `authctl code amazon` starts that build's
# authd (through AUTHSYNC_AUTHD), then its wall time to the first code, its
# CPU (utime + stime, all threads), RSS and minor faults are read from /proc
# and it is shut down. Prints one line per start and the medians per build.
# The vault is bench/open.sh's (VAULT_DIR/home, filled to 10,000 entries;
# run `bench/open.sh 1 VAULT_DIR` once to make it). Loopback only, mDNS off
# (the vault's config.toml says so).
# Usage: bench/start_ab.sh ROUNDS VAULT_DIR BUILD_DIR...
#   each BUILD_DIR holds an `authd` and an `authctl`.
set -euo pipefail
rounds="$1"; vault="$2"; shift 2
export AUTHSYNC_HOME="$vault/home"
grep -q 'mdns = false' "$AUTHSYNC_HOME/config.toml"
tick=$(getconf CLK_TCK)
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  for build in "$@"; do
    t0=$(date +%s%N)
    AUTHSYNC_AUTHD="$build/authd" "$build/authctl" code amazon >/dev/null
    t1=$(date +%s%N)
    pid=$(cat "$AUTHSYNC_HOME/run/authd.pid")
    cpu=$(awk -v t="$tick" '{printf "%d", ($14 + $15) * 1000 / t}' "/proc/$pid/stat")
    faults=$(awk '{print $10}' "/proc/$pid/stat")
    rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    "$build/authctl" shutdown >/dev/null 2>&1
    echo "$build $(( (t1 - t0) / 1000000 )) $cpu $rss $faults" | tee -a "$out"
  done
done
python3 - "$out" "$@" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print("| build | start → first code (median) | authd CPU | RSS | minor faults |")
print("| --- | --- | --- | --- | --- |")
for build in sys.argv[2:]:
    r = [x for x in rows if x[0] == build]
    med = lambda i, f=int: statistics.median(f(x[i]) for x in r)
    print(f"| {build} | {med(1):.0f} ms | {med(2):.0f} ms | {med(3, float):.1f} MB | {med(4):.0f} |")
PY

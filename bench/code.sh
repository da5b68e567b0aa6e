#!/usr/bin/env bash
# Benchmarks `authctl code` as a whole process against a running, unlocked
# daemon, next to `oathtool --totp` measured in the same run; then the same
# with 10,000 entries, authd's RSS, and daemon start to first code.
# Usage: bench/code.sh [RUNS]   (prints a Markdown table; needs hyperfine, oathtool)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v oathtool >/dev/null || need+=(oathtool)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet --bin authd --bin authctl --bin authctl-transfer
bin="$PWD/target/release"
work="$(mktemp -d)"
export AUTHSYNC_HOME="$work/home"
cleanup() { "$bin/authctl" shutdown >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP

median() { # hyperfine JSON → median ms of command $2
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]; print(f\"{r['median']*1000:.3f}\")" "$1" "$2"
}

"$bin/authctl" init --name bench --no-passphrase >/dev/null
"$bin/authctl" add "otpauth://totp/Amazon:alice?secret=$secret&issuer=Amazon" >/dev/null

hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/one.json" \
  "$bin/authctl code amazon" "oathtool --totp -b $secret" >/dev/null
a1=$(median "$work/one.json" 0); o1=$(median "$work/one.json" 1)

python3 bench/fill.py "$AUTHSYNC_HOME/run/authd.sock" 9999 >/dev/null
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/many.json" \
  "$bin/authctl code amazon" "oathtool --totp -b $secret" >/dev/null
a2=$(median "$work/many.json" 0); o2=$(median "$work/many.json" 1)
pid=$(cat "$AUTHSYNC_HOME/run/authd.pid")
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")

# Daemon start to first code answered (key-file vault: no Argon2id).
"$bin/authctl" shutdown >/dev/null
starts=()
for _ in 1 2 3 4 5; do
  t0=$(date +%s%N)
  "$bin/authctl" code amazon >/dev/null   # starts authd, waits, asks
  t1=$(date +%s%N)
  starts+=($(( (t1 - t0) / 1000000 )))
  "$bin/authctl" shutdown >/dev/null
done
start=$(printf '%s\n' "${starts[@]}" | sort -n | sed -n 3p)

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
cat <<TABLE
| figure | authsync | anchor (same run) | ratio |
| --- | --- | --- | --- |
| \`authctl code\`, 1 entry, median | ${a1} ms | oathtool ${o1} ms | $(ratio "$a1" "$o1")× |
| \`authctl code\`, 10,000 entries, median | ${a2} ms | oathtool ${o2} ms | $(ratio "$a2" "$o2")× |
| 10,000 vs 1 entry | ${a2} vs ${a1} ms | — | $(ratio "$a2" "$a1")× |
| authd RSS, 10,000 entries, unlocked | ${rss} MB | — | — |
| authd start → first code (key-file vault, median of 5) | ${start} ms | — | — |
TABLE

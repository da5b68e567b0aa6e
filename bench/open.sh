#!/usr/bin/env bash
# `authd` start → first code answered, 10,000 entries, key-file vault (no
# Argon2id): the figure of issue 15. Times `authctl code amazon` starting the
# daemon (median of RUNS), once on both cores and once with the daemon held
# to one core (`taskset -c 0`: what the work costs, whatever the other core
# does), then the daemon's own CPU for a start (utime + stime of every
# thread, read from /proc once the first code is answered) and its RSS.
# Loopback only, mDNS off.
# Usage: bench/open.sh [RUNS] [VAULT_DIR]
#   VAULT_DIR: keep (or reuse) the filled vault there instead of a temporary
#   one: filling 10,000 entries takes a while.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-9}"
keep="${2:-}"
cargo build --release --locked --quiet --bin authd --bin authctl
bin="$PWD/target/release"
if [ -n "$keep" ]; then
  work="$keep"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
fi
export AUTHSYNC_HOME="$work/home"
cleanup() {
  "$bin/authctl" shutdown >/dev/null 2>&1 || true
  if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
if [ ! -e "$work/filled" ]; then
  rm -rf "$AUTHSYNC_HOME"
  mkdir -p "$AUTHSYNC_HOME" && chmod 700 "$AUTHSYNC_HOME"
  printf 'listen = "127.0.0.1:0"\nmdns = false\n' > "$AUTHSYNC_HOME/config.toml"
  "$bin/authctl" init --name bench --no-passphrase >/dev/null
  "$bin/authctl" add "otpauth://totp/Amazon:alice?secret=$secret&issuer=Amazon" >/dev/null
  python3 bench/fill.py "$AUTHSYNC_HOME/run/authd.sock" 9999 >/dev/null
  touch "$work/filled"
fi
"$bin/authctl" shutdown >/dev/null 2>&1 || true

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
start_ms() { # $@: a command prefix for authctl (authd, which it starts, inherits it)
  local t0 t1
  t0=$(date +%s%N)
  "$@" "$bin/authctl" code amazon >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
  "$bin/authctl" shutdown >/dev/null 2>&1
}
both=$(for _ in $(seq "$runs"); do start_ms; done | median)
one=$(for _ in $(seq "$runs"); do start_ms taskset -c 0; done | median)

# Five more starts, for the daemon's CPU (all threads, until the first
# code is answered) and RSS: medians.
tick=$(getconf CLK_TCK)
cpus=(); rsss=()
for _ in 1 2 3 4 5; do
  "$bin/authctl" code amazon >/dev/null
  pid=$(cat "$AUTHSYNC_HOME/run/authd.pid")
  cpus+=($(awk -v t="$tick" '{printf "%d", ($14 + $15) * 1000 / t}' "/proc/$pid/stat"))
  rsss+=($(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"))
  "$bin/authctl" shutdown >/dev/null 2>&1
done
cpu=$(printf '%s\n' "${cpus[@]}" | median)
rss=$(printf '%s\n' "${rsss[@]}" | median)

cat <<TABLE
| figure (10,000 entries, key-file vault) | measured |
| --- | --- |
| authd start → first code, both cores, median of $runs | ${both} ms |
| the same, authctl and authd held to one core | ${one} ms |
| authd CPU for a start, until the first code (all threads, median of 5) | ${cpu} ms |
| authd RSS then (median of 5) | ${rss} MB |
TABLE

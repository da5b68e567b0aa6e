#!/usr/bin/env bash
# What `authctl code` costs beside its anchor, counted rather than timed
# (repeatable on a noisy machine): instructions under callgrind, and page
# faults and CPU under `perf stat`, for `oathtool`, an empty Rust program and
# `authctl code` against an unlocked one-entry daemon.
# Installs valgrind and oathtool when missing; the perf columns need `perf`
# (Debian linux-perf) and show — without it. Loopback only.
# Usage: bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v oathtool >/dev/null || need+=(oathtool)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet --bin authd --bin authctl --bin authctl-transfer
# authctl as installed (README): statically linked (issue 15).
cargo rustc --release --locked --quiet -p authsync-cli --bin authctl -- -C target-feature=+crt-static
bin="$PWD/target/release"
work="$(mktemp -d)"
export AUTHSYNC_HOME="$work/authsync"
cleanup() { "$bin/authctl" shutdown >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
mkdir -p "$AUTHSYNC_HOME" && chmod 700 "$AUTHSYNC_HOME"
printf 'listen = "127.0.0.1:0"\nmdns = false\n' > "$AUTHSYNC_HOME/config.toml"
"$bin/authctl" init --name bench --no-passphrase >/dev/null
"$bin/authctl" add "otpauth://totp/Amazon:alice?secret=$secret&issuer=Amazon" >/dev/null 2>&1
echo 'fn main() {}' > "$work/empty.rs"
rustc -O -o "$work/empty" "$work/empty.rs"

instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
}
echo "| program | instructions (callgrind) | page faults | CPU (perf stat, 300 runs) |"
echo "| --- | --- | --- | --- |"
for cmd in "oathtool --totp -b $secret" "$work/empty" "$bin/authctl code amazon"; do
  # shellcheck disable=SC2086
  n=$(instructions $cmd)
  faults=—; cpu=—
  # shellcheck disable=SC2086
  if stats=$(perf stat -r 300 -x, -e page-faults,task-clock $cmd 2>&1 >/dev/null); then
    faults=$(echo "$stats" | awk -F, '/page-faults/ {print $1}')
    cpu="$(echo "$stats" | awk -F, '/task-clock/ {printf "%.2f ms", $1}')"
  fi
  shown=${cmd/$work\//}; shown=${shown/$bin\//target/release/}
  echo "| \`$shown\` | $n | $faults | $cpu |"
done

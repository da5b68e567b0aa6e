#!/usr/bin/env bash
# The quick-start demo: a throwaway household of two persons on this machine.
# Builds authd and authctl, starts alice-laptop (alice's) and bob-desktop
# (bob's) on loopback, each in its own temporary directory, and pairs them.
# Alice adds her bank (personal: it stays on her devices) and shares the
# Amazon login with bob: the same Amazon code on both, no bank on bob's.
# Nothing outside the temporary directories is touched; no traffic leaves
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release --locked --quiet --bin authd --bin authctl --bin authctl-transfer
bin="$PWD/target/release"
work="$(mktemp -d)"
alice="$work/alice-laptop"
bob="$work/bob-desktop"
port_a=$((20000 + RANDOM % 20000))
port_b=$((port_a + 1))
cleanup() {
  AUTHSYNC_HOME="$alice" "$bin/authctl" shutdown >/dev/null 2>&1 || true
  AUTHSYNC_HOME="$bob" "$bin/authctl" shutdown >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
on() { # on DEVICE authctl-args...
  local home="$work/$1"; shift
  printf '\033[2m%s$ authctl %s\033[0m\n' "$(basename "$home")" "$*" >&2
  AUTHSYNC_HOME="$home" "$bin/authctl" "$@"
}
start() { # start DEVICE PORT [authd-args...]: a daemon on loopback, without mDNS
  local home="$work/$1" port="$2"; shift 2
  mkdir -p "$home/run" && chmod 700 "$home" "$home/run"
  AUTHSYNC_HOME="$home" "$bin/authd" --listen "127.0.0.1:$port" --no-mdns "$@" 2>>"$home/run/authd.log" &
  for _ in $(seq 100); do [ -S "$home/run/authd.sock" ] && return; sleep 0.05; done
  echo "authd for $1 did not start; see $home/run/authd.log" >&2; exit 1
}

step "1. Two devices, each with its own daemon (in $work)"
start alice-laptop "$port_a"
start bob-desktop "$port_b" --peer "127.0.0.1:$port_a"
on alice-laptop init --name alice-laptop --person alice --no-passphrase

step "2. Pair: alice-laptop prints a one-time code, bob-desktop joins with it"
printf '\033[2malice-laptop$ authctl pair\033[0m\n' >&2
code=$(AUTHSYNC_HOME="$alice" "$bin/authctl" pair 2>/dev/null)
echo "$code"
on bob-desktop join "$code" --peer "127.0.0.1:$port_a" --name bob-desktop --person bob --no-passphrase
on bob-desktop persons

step "3. Alice adds her bank: her own entry (URIs on standard input, off the command line)"
on alice-laptop add - <<<'otpauth://totp/Bank:alice?secret=KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF&issuer=Bank'
step "4. Alice adds the Amazon login she shares with bob, and shares it"
on alice-laptop add - <<<'otpauth://totp/Amazon:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Amazon'
on alice-laptop share amazon --with bob

step "5. The same Amazon code on bob-desktop; alice's bank is not there"
for _ in $(seq 100); do
  if AUTHSYNC_HOME="$bob" "$bin/authctl" code amazon >/dev/null 2>&1; then break; fi
  sleep 0.02
done
on bob-desktop code amazon -v
on alice-laptop code amazon
on alice-laptop list
on bob-desktop list
on bob-desktop code bank || true
on bob-desktop devices
if command -v oathtool >/dev/null; then
  printf '\033[2m$ oathtool --totp -b JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP   # an independent generator\033[0m\n'
  oathtool --totp -b JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
fi

#!/usr/bin/env bash
# The quick-start demo: a throwaway household of one device in a temporary
# directory. Builds authd and authctl, starts a vault, adds an Amazon entry
# and prints its code. Nothing outside the temporary directory is touched.
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release --locked --quiet --bin authd --bin authctl
bin="$PWD/target/release"
home="$(mktemp -d)"
export AUTHSYNC_HOME="$home"
cleanup() {
  "$bin/authctl" shutdown >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "authctl $*"; "$bin/authctl" "$@"; }

echo "A throwaway authsync vault in $home"
run init --name alice-laptop --no-passphrase
run add 'otpauth://totp/Amazon:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Amazon'
run code amazon -v
run list
run status
if command -v oathtool >/dev/null; then
  say "oathtool --totp -b JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP   # an independent generator, for comparison"
  oathtool --totp -b JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
fi

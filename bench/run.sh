#!/usr/bin/env bash
# Every benchmark figure, each next to its anchor measured in the same run.
# Installs what it compares against (hyperfine, oathtool, keepassxc, pass
# with pass-otp), builds release binaries, and prints Markdown tables.
# Loopback only; every daemon it starts is stopped. A few minutes on 2 cores.
# Usage: bench/run.sh [IDLE_SECS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
idle="${1:-60}"

need=()
for tool in hyperfine oathtool keepassxc-cli pass gpg; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq hyperfine oathtool keepassxc pass pass-extension-otp gnupg >/dev/null
fi
cargo build --release --locked --quiet --bin authd --bin authctl --bin authctl-transfer
# authctl as installed (README): statically linked, so the loader resolves
# nothing at start (issue 15; BENCHMARKS.md).
cargo rustc --release --locked --quiet -p authsync-cli --bin authctl -- -C target-feature=+crt-static
bin="$PWD/target/release"
work="$(mktemp -d)"
export AUTHSYNC_HOME="$work/authsync"
cleanup() { "$bin/authctl" shutdown >/dev/null 2>&1 || true; gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
uri="otpauth://totp/Amazon:alice?secret=$secret&issuer=Amazon"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr), $(rustc --version)"
echo

# authsync with one entry, key-file vault, unlocked; no network needed.
mkdir -p "$AUTHSYNC_HOME" && chmod 700 "$AUTHSYNC_HOME"
printf 'listen = "127.0.0.1:0"\nmdns = false\n' > "$AUTHSYNC_HOME/config.toml"
"$bin/authctl" init --name bench --no-passphrase >/dev/null
"$bin/authctl" add "$uri" >/dev/null 2>&1

# KeePassXC: one entry with a TOTP, a key file, the default key-derivation
# time (what a user gets); pass with pass-otp and a passphrase-less GPG key.
cat > "$work/db.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<KeePassFile><Root><Group><Name>Root</Name><Entry>
<String><Key>Title</Key><Value>amazon</Value></String>
<String><Key>otp</Key><Value>${uri//&/&amp;}</Value></String>
</Entry></Group></Root></KeePassFile>
XML
head -c 64 /dev/urandom > "$work/kx.key"
keepassxc-cli import -q --set-key-file "$work/kx.key" "$work/db.xml" "$work/db.kdbx"
export GNUPGHOME="$work/gnupg" PASSWORD_STORE_DIR="$work/store"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key bench@authsync.invalid default default never 2>/dev/null
pass init bench@authsync.invalid >/dev/null
echo "$uri" | pass otp insert amazon >/dev/null

median() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]; print(f\"{r['median']*1000:.3f}\")" "$1" "$2"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }

hyperfine -N --warmup 20 --runs 300 --export-json "$work/vs-oath.json" \
  "$bin/authctl code amazon" "oathtool --totp -b $secret" >/dev/null 2>&1
a=$(median "$work/vs-oath.json" 0); o=$(median "$work/vs-oath.json" 1)

hyperfine -N --warmup 2 --runs 15 --export-json "$work/vs-managers.json" \
  "$bin/authctl code amazon" \
  "keepassxc-cli show -q --no-password -k $work/kx.key -t $work/db.kdbx amazon" \
  "pass otp amazon" >/dev/null 2>&1
a2=$(median "$work/vs-managers.json" 0); k=$(median "$work/vs-managers.json" 1); p=$(median "$work/vs-managers.json" 2)

python3 bench/fill.py "$AUTHSYNC_HOME/run/authd.sock" 9 >/dev/null
hyperfine -N --warmup 20 --runs 300 --export-json "$work/ten.json" "$bin/authctl code amazon" >/dev/null 2>&1
ten=$(median "$work/ten.json" 0)
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$(cat "$AUTHSYNC_HOME/run/authd.pid")/status"; }
# authd start → first code answered (key-file vault), median of 5; `authctl
# code` starts authd itself. Anchor: the same vault before it is filled.
start_ms() {
  "$bin/authctl" shutdown >/dev/null
  local times=() t0 t1
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$bin/authctl" code amazon >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
    "$bin/authctl" shutdown >/dev/null
  done
  "$bin/authctl" code amazon >/dev/null   # leave it running, unlocked
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}
start10=$(start_ms); rss10=$(rss_mb)
python3 bench/fill.py "$AUTHSYNC_HOME/run/authd.sock" 9990 >/dev/null
hyperfine -N --warmup 20 --runs 300 --export-json "$work/many.json" "$bin/authctl code amazon" >/dev/null 2>&1
many=$(median "$work/many.json" 0)
start10k=$(start_ms); rss10k=$(rss_mb)
"$bin/authctl" shutdown >/dev/null

echo "| figure | authsync | anchor (same run) | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
echo "| \`authctl code\` whole process, daemon unlocked, median | $a ms | \`oathtool --totp\` $o ms | $(ratio "$a" "$o")× | ≤ 1.5× |"
echo "| the same against KeePassXC (default key derivation) | $a2 ms | \`keepassxc-cli show -t\` $k ms | $(ratio "$k" "$a2")× faster | ≥ 20× faster |"
echo "| the same against pass + pass-otp | $a2 ms | \`pass otp\` $p ms | $(ratio "$p" "$a2")× faster | ≥ 20× faster |"
echo "| \`authctl code\` with 10,000 entries vs 10 | $many ms | 10 entries: $ten ms | $(ratio "$many" "$ten")× | within 10% |"
echo
echo "| figure | measured | target |"
echo "| --- | --- | --- |"
sync_rows=$(python3 bench/sync.py "$bin/authd" | tail -n +3)
idle_rows=$(python3 bench/idle_ipc.py "$bin/authd" "$idle")
echo "$sync_rows"
echo "$idle_rows"
cpu_rows=$(python3 bench/code_cpu.py "$bin/authctl" "$bin/authd" 3000)
cell() { echo "$1" | grep -F "$2" | head -1 | cut -d'|' -f3 | xargs; }
echo
echo "Issue 15's five figures (anchors from this run):"
echo
echo "| figure | authsync | anchor (same run) | target |"
echo "| --- | --- | --- | --- |"
echo "| \`authctl code\` / \`oathtool --totp\` | $a ms | $o ms ($(ratio "$a" "$o")×) | ≤ 1.0× |"
echo "| the same in CPU per code, \`authctl\` + \`authd\` (\`bench/code_cpu.py\`, alternating) | $(cell "$cpu_rows" "both") | $(echo "$cpu_rows" | grep -F "both" | cut -d'|' -f4 | xargs) | ≤ 1.0× |"
echo "| authd start → first code, 10,000 entries, key-file vault (median of 5) | $start10k ms | 10 entries: $start10 ms | ≤ 100 ms |"
echo "| initial sync of 10,020 entries to a new device | $(cell "$sync_rows" "initial sync") | — | ≤ 0.5 s |"
echo "| authd RSS, 10,000 entries, unlocked | $rss10k MB | 10 entries: $rss10 MB | ≤ 20 MB |"
echo "| idle wakeups (all threads, no peers, mDNS off) over $idle s | $(cell "$idle_rows" "wakeups") | — | ≤ 60 a minute |"

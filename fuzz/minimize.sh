#!/bin/sh
# Minimises the committed corpus of one fuzz target (run from the repository
# root, after `cargo fuzz build -a --target-dir target/fuzz`): keeps the
# smallest set of files that covers every feature the corpus reaches beyond
# what the seeds (fuzz/seeds/TARGET, never minimised) already cover.
# Usage: fuzz/minimize.sh TARGET
set -eu
target=$1
bin=target/fuzz/x86_64-unknown-linux-gnu/release/$target
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/min"
cp fuzz/seeds/"$target"/* "$work/min/"
"$bin" -set_cover_merge=1 "$work/min" fuzz/corpus/"$target"
for seed in fuzz/seeds/"$target"/*; do
    rm -f "$work/min/$(basename "$seed")"
done
rm -rf fuzz/corpus/"$target"
mkdir fuzz/corpus/"$target"
cp "$work/min"/* fuzz/corpus/"$target"/
echo "$target: $(ls fuzz/corpus/"$target" | wc -l) files"

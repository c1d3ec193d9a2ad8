#!/usr/bin/env bash
# Generates what the packages ship beside the binary: one man page per command and the bash,
# zsh and fish completions, written by the binary itself (`sipa-check man --dir`,
# `sipa-check completions SHELL`) so they always match its command line.
# Usage: packaging/assets.sh [BINARY [OUTDIR]]  (default: target/release/sipa-check, target/assets)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/sipa-check}
out=${2:-target/assets}
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$bin" man --dir "$out/man"
"$bin" completions bash > "$out/completions/sipa-check.bash"
"$bin" completions zsh > "$out/completions/_sipa-check"
"$bin" completions fish > "$out/completions/sipa-check.fish"
"$bin" completions powershell > "$out/completions/_sipa-check.ps1"
echo "wrote $(ls "$out/man" | wc -l) man pages and 4 completion scripts to $out"

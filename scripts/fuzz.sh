#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each (FUZZTIME, default 10s), one at a time.
# -fuzzminimizetime is bounded so that a target with large seeds spends its time fuzzing, not
# minimising inputs that happened to widen coverage. A failing input is written under the
# package's testdata/fuzz/<Target>/ and fails the script. Usage: scripts/fuzz.sh [packages...]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
minimize="${FUZZMINIMIZETIME:-5s}"
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then pkgs=(./...); fi
for pkg in $(go list "${pkgs[@]}"); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"
  done
done

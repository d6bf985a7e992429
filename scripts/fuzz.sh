#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each (FUZZTIME, default 10s), one at a time.
# -fuzzminimizetime is bounded so that a target with large seeds spends its time fuzzing, not
# minimising inputs that happened to widen coverage. A failing input is written under the
# package's testdata/fuzz/<Target>/ and fails the script. FUZZTIME may be a count (10000000x);
# FUZZPARALLEL sets the workers per target (default: one per core); no overall test timeout applies
# (the fuzzer bounds each input itself). Usage: scripts/fuzz.sh [packages...]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
minimize="${FUZZMINIMIZETIME:-5s}"
parallel="${FUZZPARALLEL:+-parallel=$FUZZPARALLEL}"
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then pkgs=(./...); fi
for pkg in $(go list "${pkgs[@]}"); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    corpus="$dir/testdata/fuzz/$target"
    before=$( (ls "$corpus" 2>/dev/null || true) | wc -l)
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" $parallel -timeout 0 "$pkg" 2>&1); then
      echo "$out"
      after=$( (ls "$corpus" 2>/dev/null || true) | wc -l)
      # Go's fuzzing coordinator sometimes ends a short run with "context deadline exceeded"
      # when a worker is still busy at the deadline: no input failed
      # and none was written. Only a written failing input (or another error) fails the script.
      if [ "$after" = "$before" ] && grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
        echo "note: $target stopped with the fuzzing engine's deadline error and no failing input; not a failure"
        continue
      fi
      exit 1
    fi
    echo "$out" | tail -2
  done
done

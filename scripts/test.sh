#!/usr/bin/env bash
# Runs every test of the project: vet, gofmt check, cross-builds for darwin and windows, then
# `go test ./...`, and with CI=true every fuzz target for FUZZTIME (5 s) each (scripts/fuzz.sh).
# As root with unshare available, the tests run inside a private network namespace whose only
# interface is loopback, so the bridge, prosody and Chromium can talk to each other and nothing can
# leave the machine or clash with services on the host (see ../shared/spec/test-peers.md §6).
# Extra arguments are passed to `go test` (e.g. scripts/test.sh -run Forward ./sfu/).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--in-netns" ]; then
  go mod download
  unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
  if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
  go vet ./...
  # The bridge must keep building where contributors and operators run it (the transport takes
  # its portable socket path there), tests included (vet compiles them).
  for goos in darwin windows; do GOOS=$goos go vet ./...; done
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null \
     && unshare --net true 2>/dev/null; then
    exec unshare --net -- "$0" --in-netns "$@"
  fi
  echo "note: not root or no unshare: running tests in the host network namespace" >&2
else
  shift
  ip link set lo up
fi

if [ $# -eq 0 ]; then
  # The headless-Chromium package runs after the others, alone: its capped-link test judges
  # the bridge's bandwidth estimate against a real browser in real time, and on a 2-core host
  # the other packages' tests running beside it (go test runs packages in parallel) took enough
  # CPU from Chromium to read as congestion once in a while.
  browser=./cmd/jvb/internal/standalone
  go test -count=1 -timeout 25m $(go list ./... | grep -v '/cmd/jvb/internal/standalone$')
  go test -count=1 -timeout 25m "$browser"
  if [ "${CI:-}" = true ]; then
    # The whole suite under CI also runs every fuzz target briefly, beyond the seeds go test ran.
    FUZZTIME="${FUZZTIME:-5s}" scripts/fuzz.sh
  fi
  exit 0
fi
go test -count=1 -timeout 25m "$@"

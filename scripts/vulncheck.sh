#!/usr/bin/env bash
# Run govulncheck on the module against the Go vulnerability database taken
# through the module proxy (golang.org/x/vulndb at a pinned version), so CI
# needs no access to vuln.go.dev. The raw OSV files are indexed once per
# version into $VULNDB_CACHE with the database's own indexdb command.
#
#   scripts/vulncheck.sh            # exits non-zero on any reachable finding
set -euo pipefail
export GOTOOLCHAIN=go1.26.10 # the Go release every build uses (see Makefile)

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"
VULNDB_CACHE="${VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telamentis/vulndb}"
db="$VULNDB_CACHE/$VULNDB_VERSION"

if [ ! -s "$db/index/db.json" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # Outside the module, so go.mod and go.sum stay untouched.
  src="$(cd "$tmp" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
  mkdir -p "$VULNDB_CACHE"
  rm -rf "$db.tmp"
  (cd "$tmp" && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp")
  mv "$db.tmp" "$db"
fi

cd "$ROOT"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$db" ./...

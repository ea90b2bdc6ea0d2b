#!/usr/bin/env bash
# Run the kgbench standard workload on TelaMentis and on its peers, one after
# the other in one run (absolute times drift between runs on shared machines;
# compare ratios within a run), then print the summary table.
#
#   scripts/bench.sh small|medium [--pg] [--postgres URL] [-- tmbench flags]
#
#   --pg            also run the PostgreSQL peer (../shared/bench/run-pg.sh)
#   --postgres URL  also run tmbench against the TelaMentis postgres store
#
# Data, binaries and results live under $KGBENCH_DIR (default /tmp/kgbench);
# the shared bench folder is $KGBENCH_SHARED (default ../shared/bench).
# Exits non-zero if any runner fails or any query returns a wrong row count.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZE="${1:-small}"
shift || true
case "$SIZE" in small|medium) ;; *) echo "usage: $0 small|medium [--pg] [--postgres URL] [-- tmbench flags]" >&2; exit 2;; esac
PG_PEER=0
PG_URL=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) PG_PEER=1 ;;
    --postgres) PG_URL="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH="${KGBENCH_SHARED:-$ROOT/../shared/bench}"
BENCH="$(cd "$BENCH" && pwd)"
export KGBENCH_DIR="${KGBENCH_DIR:-/tmp/kgbench}"
DATA="$KGBENCH_DIR/data/$SIZE"
mkdir -p "$KGBENCH_DIR/bin" "$KGBENCH_DIR/results"

if [ ! -s "$DATA/queries.csv" ]; then
  "$BENCH/run-gen.sh" "$SIZE"
fi

(cd "$ROOT" && go build -o "$KGBENCH_DIR/bin/tmbench" ./cmd/tmbench)

status=0
step() { # step NAME CMD...: run one runner, remember a failure, go on
  local name="$1"; shift
  echo "==== $name ($(date -u +%H:%M:%SZ))"
  if ! "$@"; then
    echo "==== $name FAILED" >&2
    status=1
  fi
}

step "telamentis-embedded $SIZE" "$KGBENCH_DIR/bin/tmbench" -size "$SIZE" -data "$DATA" "${EXTRA[@]}"
if [ -n "$PG_URL" ]; then
  step "telamentis-postgres $SIZE" "$KGBENCH_DIR/bin/tmbench" -size "$SIZE" -data "$DATA" -store "$PG_URL" "${EXTRA[@]}"
fi
step "sqlite $SIZE" "$BENCH/run-sqlite.sh" "$SIZE"
step "badger ceiling $SIZE" "$BENCH/run-badger.sh" "$SIZE"
if [ "$PG_PEER" = 1 ]; then
  step "postgres $SIZE" "$BENCH/run-pg.sh" "$SIZE"
fi
python3 "$BENCH/summarize.py" "$SIZE"
exit "$status"

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
# tmbench runs with the Go soft memory limit $TELAMENTIS_MEMORY_LIMIT (the
# server's --memory-limit setting; default here 1200MiB, about twice the live
# heap of medium); a tmbench flag after -- overrides it.
#
# Data, binaries and results live under $KGBENCH_DIR (default /tmp/kgbench);
# the shared bench folder is $KGBENCH_SHARED (default ../shared/bench).
# Exits non-zero if any runner fails or any query returns a wrong row count.
set -euo pipefail
export GOTOOLCHAIN=go1.26.10 # the Go release every build uses (see Makefile)

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
REV="$(cd "$ROOT" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if ! (cd "$ROOT" && git diff --quiet HEAD -- . 2>/dev/null); then REV="$REV+dirty"; fi
EXTRA=(-revision "$REV" -memory-limit "${TELAMENTIS_MEMORY_LIMIT:-1200MiB}" "${EXTRA[@]}")

status=0
step() { # step NAME CMD...: run one runner, remember a failure, go on
  local name="$1"; shift
  sync
  echo "==== $name ($(date -u +%H:%M:%SZ))"
  if ! "$@"; then
    echo "==== $name FAILED" >&2
    status=1
  fi
}

# The embedded runners come first and the two runs on the PostgreSQL server
# last, back to back, so that the pair compared shares the server's state
# and the minutes it runs in. Each runner starts after `sync`: the previous
# one's writes (gigabytes for the embedded stores) are otherwise flushed
# by the kernel during the next one's load, and billed to it.
step "telamentis-embedded $SIZE" "$KGBENCH_DIR/bin/tmbench" -size "$SIZE" -data "$DATA" "${EXTRA[@]}"
step "sqlite $SIZE" "$BENCH/run-sqlite.sh" "$SIZE"
step "badger ceiling $SIZE" "$BENCH/run-badger.sh" "$SIZE"
if [ -n "$PG_URL" ]; then
  step "telamentis-postgres $SIZE" "$KGBENCH_DIR/bin/tmbench" -size "$SIZE" -data "$DATA" -store "$PG_URL" "${EXTRA[@]}"
fi
if [ "$PG_PEER" = 1 ]; then
  step "postgres $SIZE" "$BENCH/run-pg.sh" "$SIZE"
fi
python3 "$BENCH/summarize.py" "$SIZE"

# Ratios of TelaMentis to the peers measured in this run, and the targets of
# issue #2 (p50 and 1-client throughput: >= 2x SQLite and >= the raw Badger
# ceiling; ingest >= 110K edge rows/s; RSS <= 1.5 GB; reopen <= 5 s).
python3 - "$KGBENCH_DIR/results" "$SIZE" <<'PY'
import json, os, sys
rdir, size = sys.argv[1], sys.argv[2]
def load(e):
    p = os.path.join(rdir, f"{e}-{size}.json")
    return json.load(open(p)) if os.path.exists(p) else None
peers = {e: load(e) for e in ("sqlite", "badger", "postgres")}
for eng in ("telamentis-embedded", "telamentis-postgres"):
    us = load(eng)
    if not us:
        continue
    print(f"## {eng} vs peers, size {size} (speed-up = peer time / ours, or our q/s / peer q/s)\n")
    names = [e for e, r in peers.items() if r]
    for c in (1, 8):
        print(f"{c} client{'s' if c > 1 else ''}:\n")
        print("| type | ours p50 / q/s | " + " | ".join(f"x {e} p50 / q/s" for e in names) + " |")
        print("|---|---|" + "---|" * len(names))
        for t in ("lookup", "hop1", "hop2", "asat", "overlap"):
            q = next((x for x in us["queries"] if x["type"] == t and x["clients"] == c), None)
            if not q:
                continue
            cells = []
            for e in names:
                p = next((x for x in peers[e]["queries"] if x["type"] == t and x["clients"] == c), None)
                cells.append(f"{p['p50_us']/q['p50_us']:.1f}x / {q['qps']/p['qps']:.1f}x" if p and q["p50_us"] and p["qps"] else "—")
            print(f"| {t} | {q['p50_us']:.1f} µs / {q['qps']:,.0f} | " + " | ".join(cells) + " |")
        print()
    ing = us["ingest"]
    print(f"ingest {ing.get('edge_rows_per_s', 0):,.0f} edge rows/s ({ing.get('edge_rows_per_s_incl_close', 0):,.0f} incl. close); "
          f"reopen {ing.get('reopen_s', 0):.2f} s; RSS after reopen {ing.get('rss_after_reopen_mib', 0):.0f} MiB, "
          f"after queries {ing.get('rss_after_queries_mib', 0):.0f} MiB, serving peak {ing.get('rss_peak_serving_mib', 0):.0f} MiB\n")
# Issue #6's bars for the postgres store against the PostgreSQL peer of this
# run: each query type within 1.5x (p50, and the peer's 1-client q/s over
# ours), ingest at least the peer's rows/s incl. indexes.
us, pg = load("telamentis-postgres"), peers["postgres"]
if us and pg:
    print(f"## telamentis-postgres ÷ postgres peer, size {size}, 1 client (bar: <= 1.5)\n")
    print("| type | p50 ratio | q/s ratio (peer ÷ ours) | bar |")
    print("|---|---|---|---|")
    for t in ("lookup", "hop1", "hop2", "asat", "overlap"):
        q = next((x for x in us["queries"] if x["type"] == t and x["clients"] == 1), None)
        p = next((x for x in pg["queries"] if x["type"] == t and x["clients"] == 1), None)
        if q and p and p["p50_us"] and q["qps"]:
            r1, r2 = q["p50_us"] / p["p50_us"], p["qps"] / q["qps"]
            print(f"| {t} | {r1:.2f} | {r2:.2f} | {'met' if max(r1, r2) <= 1.5 else 'missed'} |")
    a, b = us["ingest"].get("total_rows_per_s", 0), pg["ingest"].get("total_rows_per_s", 0)
    if a and b:
        print(f"| ingest rows/s incl. indexes | {a:,.0f} ÷ {b:,.0f} = {a / b:.2f}x | | {'met' if a >= b else 'missed'} |")
    print()
PY
exit "$status"

#!/usr/bin/env bash
# openapi-lint.sh lints the OpenAPI document the server serves at
# /openapi.json with Redocly's recommended rules: 0 errors and 0 warnings
# pass. It needs npx (Node.js) and the npm registry; without either it says
# so and exits 0 (TestOpenAPIInvariants checks the main rules without npm).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.26.10

# The Redocly CLI release, pinned: a new release may add rules.
REDOCLY_VERSION=2.77.0

if ! command -v npx >/dev/null 2>&1; then
	echo "openapi-lint: npx not found; skipping the Redocly lint (install Node.js and npm to run it)" >&2
	exit 0
fi
if ! npx --yes "@redocly/cli@$REDOCLY_VERSION" --version >/dev/null 2>&1; then
	echo "openapi-lint: cannot run @redocly/cli@$REDOCLY_VERSION (npm registry unreachable?); skipping the Redocly lint" >&2
	exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./scripts/openapi > "$dir/openapi.json"
# The JSON report's totals decide: redocly exits 0 on warnings, which fail
# here too. The stylish report says where each problem is.
report=$(npx --yes "@redocly/cli@$REDOCLY_VERSION" lint --format=json "$dir/openapi.json" 2>/dev/null || true)
totals=$(node -e '
	const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
	console.log(r.totals.errors + " " + r.totals.warnings);
' <<<"$report") || { echo "openapi-lint: no report from redocly: $report" >&2; exit 1; }
read -r errors warnings <<<"$totals"
if [ "$errors" != 0 ] || [ "$warnings" != 0 ]; then
	npx --yes "@redocly/cli@$REDOCLY_VERSION" lint "$dir/openapi.json" >&2 || true
	echo "openapi-lint: /openapi.json has $errors Redocly errors and $warnings warnings" >&2
	exit 1
fi
echo "openapi-lint: /openapi.json passes Redocly $REDOCLY_VERSION's recommended rules (0 errors, 0 warnings)"

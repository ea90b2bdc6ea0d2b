#!/usr/bin/env bash
# tls-scan.sh scans a TelaMentis TLS listener with Debian's sslscan (or
# testssl.sh) and exits non-zero if it finds a weak setting: SSLv2/3,
# TLS 1.0/1.1, a TLS 1.2 suite that is not ECDHE with an AEAD cipher,
# insecure renegotiation, compression or Heartbleed; or if TLS 1.2 or 1.3
# is missing.
#
# Usage:
#   scripts/tls-scan.sh                 # self-test: serve transport on a throwaway cert, scan it
#   scripts/tls-scan.sh host:port       # scan a running server (telamentis serve, a proxy, …)
#
# Environment:
#   TLS_SCAN_TOOL  sslscan (default) or testssl
#   TLS_SCAN_PORT  port of the self-test server (default 18443)
#
# sslscan is installed with apt-get when missing (Debian/Ubuntu). See
# docs/security/transport.md.
set -euo pipefail
export GOTOOLCHAIN=go1.26.10 # the Go release every build uses (see Makefile)

tool=${TLS_SCAN_TOOL:-sslscan}
target=${1:-}
cd "$(dirname "$0")/.."

need_sslscan() {
	command -v sslscan >/dev/null && return
	echo "tls-scan: installing sslscan" >&2
	if [ "$(id -u)" = 0 ]; then apt-get install -y sslscan >/dev/null || { apt-get update >/dev/null && apt-get install -y sslscan >/dev/null; }
	else sudo apt-get install -y sslscan >/dev/null; fi
}

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "$target" ]; then
	port=${TLS_SCAN_PORT:-18443}
	target=127.0.0.1:$port
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
	chmod 600 "$work/key.pem"
	go build -o "$work/tlsdemo" ./transport/internal/tlsdemo
	"$work/tlsdemo" -addr "$target" -cert "$work/cert.pem" -key "$work/key.pem" 2>"$work/server.log" &
	pid=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
fi

fail=0
bad() { echo "FAIL: $*"; fail=1; }

case $tool in
sslscan)
	need_sslscan
	out=$work/sslscan.txt
	sslscan --no-colour "$target" >"$out" 2>&1 || true
	cat "$out"
	echo "---- checks ----"
	grep -q "^Connected to" "$out" || bad "could not connect to $target"
	for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
		grep -Eq "^$p +disabled" "$out" || bad "$p is not disabled"
	done
	for p in TLSv1.2 TLSv1.3; do
		grep -Eq "^$p +enabled" "$out" || bad "$p is not enabled"
	done
	while read -r line; do
		suite=$(awk '{print $5}' <<<"$line")
		case $suite in
		TLS_AES_*_GCM_*|TLS_CHACHA20_POLY1305_*) ;;
		ECDHE-*-GCM-*|ECDHE-*-CHACHA20-POLY1305) ;;
		*) bad "weak cipher suite accepted: $line" ;;
		esac
	done < <(grep -E "^(Preferred|Accepted) " "$out")
	grep -q "^Insecure session renegotiation supported" "$out" && bad "insecure renegotiation"
	grep -q "^Compression enabled" "$out" && bad "TLS compression (CRIME)"
	grep -E "vulnerable to heartbleed" "$out" | grep -vq "not vulnerable" && bad "heartbleed"
	;;
testssl)
	cmd=$(command -v testssl.sh || command -v testssl || true)
	[ -n "$cmd" ] || { echo "testssl.sh not found (apt-get install testssl.sh)" >&2; exit 2; }
	"$cmd" --quiet --warnings off --protocols --std --vulnerable --jsonfile "$work/testssl.json" "$target" || true
	if grep -Eq '"severity" *: *"(MEDIUM|HIGH|CRITICAL)"' "$work/testssl.json"; then
		grep -E '"severity" *: *"(MEDIUM|HIGH|CRITICAL)"' -B3 "$work/testssl.json"
		bad "testssl.sh reported findings of MEDIUM severity or worse"
	fi
	;;
*)
	echo "unknown TLS_SCAN_TOOL $tool" >&2
	exit 2
	;;
esac

if [ "$fail" = 0 ]; then
	echo "PASS: $target offers only TLS 1.2/1.3 with forward-secret AEAD suites"
fi
exit "$fail"

package main

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealth probes real servers: plain HTTP on loopback, and TLS on a
// wildcard address (probed on loopback), for /healthz and /readyz; a
// stopped server and a bad --path fail.
func TestHealth(t *testing.T) {
	addr, _, stop := startRun(t, []string{"--in-memory"}, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		var out bytes.Buffer
		if err := run(t.Context(), []string{"health", "--listen", addr, "--path", path}, env(nil), &out, io.Discard); err != nil {
			t.Fatalf("health %s: %v", path, err)
		}
		if want := "ok: http://" + addr + path + " 200\n"; out.String() != want {
			t.Fatalf("health said %q, want %q", out.String(), want)
		}
	}
	if err := run(t.Context(), []string{"health", "--listen", addr, "--path", "/v1/tenants"}, env(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("health probed an API route")
	}
	stop()
	if err := run(t.Context(), []string{"health", "--listen", addr}, env(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("health passed with the server stopped")
	}

	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, cert, key, "health")
	tlsArgs := []string{"--tls-cert-file", cert, "--tls-key-file", key}
	addr, _, stop = startRun(t, append([]string{"--in-memory", "--listen", "0.0.0.0:0"}, tlsArgs...), nil)
	defer stop()
	_, port, _ := net.SplitHostPort(addr)
	var out bytes.Buffer
	// The configuration comes from the environment, as in the image.
	vars := map[string]string{"TELAMENTIS_LISTEN": "0.0.0.0:" + port, "TELAMENTIS_TLS_CERT_FILE": cert, "TELAMENTIS_TLS_KEY_FILE": key}
	if err := run(t.Context(), []string{"health", "--path", "/readyz"}, env(vars), &out, io.Discard); err != nil {
		t.Fatalf("health over TLS: %v", err)
	}
	if !strings.HasPrefix(out.String(), "ok: https://127.0.0.1:"+port+"/readyz") {
		t.Fatalf("health over TLS said %q", out.String())
	}
	// Plain HTTP against the TLS listener is not healthy.
	if err := run(t.Context(), []string{"health", "--listen", "127.0.0.1:" + port}, env(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("plain HTTP probe of the TLS listener passed")
	}
}

package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestListenAddressInUse checks that a port clash names the flag to
// change, for the API and the admin listener.
func TestListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	var out strings.Builder
	if err := run(t.Context(), []string{"config", "check"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The default stays off Prometheus's own 9090 (and the exporters'
	// 9100-9999): docs, Dockerfile and manifests say 8079.
	if !strings.Contains(out.String(), "admin_listen: 127.0.0.1:8079\n") {
		t.Fatalf("default admin listener:\n%s", out.String())
	}
	for _, c := range []struct{ flag, other string }{{"listen", "admin-listen"}, {"admin-listen", "listen"}} {
		t.Run(c.flag, func(t *testing.T) {
			err := run(t.Context(), []string{"serve", "--in-memory", "--" + c.flag, taken, "--" + c.other, "127.0.0.1:0"},
				env(nil), io.Discard, io.Discard)
			want := "--" + c.flag + " " + taken + ": address already in use; choose another with --" + c.flag
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want %q", err, want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("%v does not unwrap to EADDRINUSE", err)
			}
		})
	}
}

package main

import (
	"strings"
	"testing"
)

// TestNoKeySendsNothing checks that a command needing a credential, run
// without one, says where to set a key instead of sending the request
// (the endpoint is unreachable, so a request would fail otherwise).
func TestNoKeySendsNothing(t *testing.T) {
	for _, args := range [][]string{{"whoami"}, {"tenant", "list"}, {"query", "nodes"}, {"--tenant", "acme", "query", "edges"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := kgctlOfflineEnv(t, env{}, args...)
			if r.code != exitAuth || strings.Contains(r.err, "cannot reach") {
				t.Fatalf("exit %d (want %d), stderr %q", r.code, exitAuth, r.err)
			}
			for _, want := range []string{"no API key is set", "TELAMENTIS_API_KEY_FILE", "--api-key-file", "api_key_file"} {
				if !strings.Contains(r.err, want) {
					t.Errorf("stderr %q lacks %q", r.err, want)
				}
			}
		})
	}
	// health needs no key: it goes to the server (here: unreachable).
	if r := kgctlOfflineEnv(t, env{}, "health"); r.code != exitError || !strings.Contains(r.err, "cannot reach") {
		t.Fatalf("health without a key: exit %d %q", r.code, r.err)
	}
}

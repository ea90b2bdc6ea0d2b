package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var keyListenerUp = regexp.MustCompile(`"msg":"postgres: key listener up"`)

// TestRevocationAcrossReplicas runs two servers on one PostgreSQL database
// with key caches that would trust a verified key for a minute. Keys
// revoked through replica A (revocation, rotation without overlap, tenant
// deletion) are refused by replica B once the change's notification has
// arrived, well before that minute: the test polls B with a deadline and
// logs the worst delay it saw after A answered.
func TestRevocationAcrossReplicas(t *testing.T) {
	d := newPGDB(t)
	if err := run(t.Context(), []string{"migrate", "--service-role", d.svc}, env(map[string]string{OwnerDSNEnv: d.ownerURL}), io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	vars := map[string]string{StoreEnv: d.svcURL, CursorKeyEnv: randHex(16)}
	// Every poll of a revoked key is a failed authentication: the guard
	// must not turn them into 429s.
	args := func() []string {
		return []string{"--data", t.TempDir(), "--key-cache-ttl", "1m", "--ratelimit-failed-auth-rps", "1000"}
	}
	addrA, logsA, stopA := startRun(t, args(), vars)
	defer stopA()
	admin := keyRe.FindString(logsA.String())
	addrB, logsB, stopB := startRun(t, args(), vars)
	defer stopB()
	waitFor(t, logsB, keyListenerUp, nil)
	a, b := "http://"+addrA, "http://"+addrB

	issue := func(tenant string) (id, secret string) {
		t.Helper()
		var out struct {
			Key    struct{ ID string }
			Secret string
		}
		if c := doJSON(t, "POST", a+"/v1/tenants/"+tenant+"/keys", admin, map[string]any{"role": "reader"}, &out); c != 201 {
			t.Fatalf("issue key: %d", c)
		}
		return out.Key.ID, out.Secret
	}
	var delays []time.Duration // from A's answer to B's first refusal
	late := 0                  // polls B still accepted after A had answered
	// refusedOnB polls B until it refuses secret, which it accepted (and
	// so cached) before revoke ran on A.
	refusedOnB := func(what, secret string, revoke func()) {
		t.Helper()
		if c := get(t, b+"/v1/whoami", secret); c != 200 {
			t.Fatalf("%s: B refused the live key: %d", what, c)
		}
		revoke()
		done := time.Now()
		for {
			c := get(t, b+"/v1/whoami", secret)
			if c == 401 {
				break
			}
			if c != 200 {
				t.Fatalf("%s: B answered %d", what, c)
			}
			late++
			if time.Since(done) > 30*time.Second {
				t.Fatalf("%s: B still accepts the key 30s after A revoked it", what)
			}
			time.Sleep(time.Millisecond)
		}
		delays = append(delays, time.Since(done))
	}
	if c := doJSON(t, "POST", a+"/v1/tenants", admin, map[string]any{"id": "acme", "name": "Acme"}, nil); c != 201 {
		t.Fatalf("create tenant: %d", c)
	}
	const rounds = 20
	for range rounds {
		id, secret := issue("acme")
		refusedOnB("revoke", secret, func() {
			if c := doJSON(t, "DELETE", a+"/v1/tenants/acme/keys/"+id, admin, nil, nil); c != 200 {
				t.Fatalf("revoke: %d", c)
			}
		})
	}
	id, secret := issue("acme")
	refusedOnB("rotate", secret, func() {
		if c := doJSON(t, "POST", a+"/v1/tenants/acme/keys/"+id+"/rotate", admin, nil, nil); c != 201 {
			t.Fatalf("rotate: %d", c)
		}
	})
	_, secret = issue("acme")
	refusedOnB("tenant delete", secret, func() {
		if c := doJSON(t, "DELETE", a+"/v1/tenants/acme", admin, nil, nil); c != 204 {
			t.Fatalf("delete tenant: %d", c)
		}
	})
	slices.Sort(delays)
	t.Logf("B refused keys revoked on A after A answered: median %v, worst %v; %d polls accepted late (%d revocations, a rotation, a tenant delete)",
		delays[len(delays)/2], delays[len(delays)-1], late, rounds)

	// A key B has never seen, then created on A, works on B at once: its
	// cached absence is dropped too.
	if c := doJSON(t, "POST", a+"/v1/tenants", admin, map[string]any{"id": "globex", "name": "Globex"}, nil); c != 201 {
		t.Fatalf("create tenant: %d", c)
	}
	_, secret = issue("globex")
	if c := get(t, b+"/v1/whoami", secret); c != 200 {
		t.Fatalf("B refused a key issued on A: %d", c)
	}
	var who map[string]any
	req, _ := http.NewRequest("GET", b+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&who); err != nil || who["tenant"] != "globex" {
		t.Fatalf("whoami on B: %v %v", who, err)
	}
	d.noPasswords(t, logsA.String()+logsB.String())
	if strings.Contains(logsB.String(), "key listener down") {
		t.Fatalf("B's key listener went down:\n%s", logsB.String())
	}
}

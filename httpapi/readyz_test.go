package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/audit/audittest"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/httpapi"
	"github.com/telamentis/telamentis/pipeline"
	pipeaudit "github.com/telamentis/telamentis/pipeline/audit"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
)

// TestAuditOutageReadiness fills the audit disk under a running server:
// sensitive operations answer 503 and change nothing, /readyz answers 503;
// once space is back the server recovers without a restart — through the
// next sensitive operation or through the readiness probe — and the chain
// verifies with the outages on record.
func TestAuditOutageReadiness(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	store, err := badger.Open(badger.Config{InMemory: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := auth.NewKeys(store, auth.KeysConfig{}, logger)
	dir, disk := t.TempDir(), audittest.NewDisk()
	key := telamentis.NewSecret(strings.Repeat("k", 32))
	alog, err := audit.Open(audit.Config{Dir: dir, Key: key, OpenFile: disk.OpenFile}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	astep, err := pipeaudit.New(pipeaudit.Config{Log: alog, HashID: alog.HashID, SkipWrites: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := pipeline.New(logger, tenantguard.New(store), astep)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{
		Store: store, Auth: auth.Chain{Keys: keys}, Keys: keys, Pipeline: chain, Audit: alog,
		PIIKey: bytes.Repeat([]byte{7}, 32), Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	_, sec, err := keys.IssueKey(context.Background(), telamentis.NewKey{Role: telamentis.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: ts.URL, admin: sec.Reveal(), client: ts.Client()}

	e.must(201, "POST", "/v1/tenants", e.admin, map[string]any{"id": "acme", "name": "v0"})
	e.must(200, "GET", "/readyz", "", nil)
	for i, recoverBy := range []string{"operation", "probe"} {
		t.Run("recovered by "+recoverBy, func(t *testing.T) {
			e.t = t
			disk.Fill(0, false)
			checkProblem(t, e.req("PATCH", "/v1/tenants/acme", e.admin, map[string]any{"name": "refused"}), 503, "unavailable")
			checkProblem(t, e.req("GET", "/readyz", "", nil), 503, "unavailable")
			var tn telamentis.Tenant
			e.must(200, "GET", "/v1/tenants/acme", e.admin, nil).json(t, &tn)
			if tn.Name == "refused" {
				t.Fatal("a refused patch applied")
			}
			checkProblem(t, e.req("GET", "/readyz", "", nil), 503, "unavailable")

			disk.Free()
			name := "v" + string(rune('1'+i))
			if recoverBy == "probe" {
				e.must(200, "GET", "/readyz", "", nil)
			}
			e.must(200, "PATCH", "/v1/tenants/acme", e.admin, map[string]any{"name": name})
			e.must(200, "GET", "/readyz", "", nil)
			e.must(200, "GET", "/v1/tenants/acme", e.admin, nil).json(t, &tn)
			if tn.Name != name {
				t.Fatalf("tenant name %q after recovery, want %q", tn.Name, name)
			}
		})
	}

	f, err := os.Open(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := audit.Verify(f, []byte(key.Reveal())); err != nil {
		t.Fatalf("verify: %v", err)
	}
	recs, _, err := alog.Query(t.Context(), telamentis.AuditFilter{Action: audit.ActionOutage})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("outage records %+v, want 2", recs)
	}
}

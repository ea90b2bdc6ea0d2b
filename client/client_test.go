package client_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

var endpoint, adminKey string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func token() string {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	id, sec := make([]byte, 10), make([]byte, 32)
	rand.Read(id)
	rand.Read(sec)
	return "tm_" + strings.ToLower(b32.EncodeToString(id)) + "_" + strings.ToLower(b32.EncodeToString(sec))
}

// runMain builds cmd/telamentis and serves it on a loopback port.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "client-e2e-")
	if err != nil {
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "telamentis")
	build := exec.Command("go", "build", "-o", bin, "github.com/telamentis/telamentis/cmd/telamentis")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build server:", err)
		return 1
	}
	adminKey = token()
	kf := filepath.Join(dir, "admin.key")
	os.WriteFile(kf, []byte(adminKey), 0o600)
	cmd := exec.Command(bin, "serve", "--in-memory", "--listen", "127.0.0.1:0", "--admin-listen", "off")
	cmd.Env = append(os.Environ(), "TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE="+kf)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return 1
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct{ Msg, Addr, Listener string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" && l.Listener == "" {
				addr <- l.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		endpoint = "http://" + a
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "server did not start")
		return 1
	}
	return m.Run()
}

func newClient(t testing.TB, key string) *client.Client {
	t.Helper()
	c, err := client.New(endpoint, client.WithAPIKey(telamentis.NewSecret(key)), client.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tenantClient creates a tenant and returns a tenant_admin client of it.
func tenantClient(t testing.TB, id string) (*client.Client, *client.Client) {
	t.Helper()
	ctx := t.Context()
	adm := newClient(t, adminKey)
	if _, err := adm.CreateTenant(ctx, telamentis.Tenant{ID: id, Name: "T"}); err != nil {
		t.Fatal(err)
	}
	_, sec, err := adm.IssueKey(ctx, telamentis.NewKey{Tenant: id, Role: telamentis.RoleTenantAdmin, PII: true})
	if err != nil {
		t.Fatal(err)
	}
	return adm, newClient(t, sec.Reveal())
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "ftp://x", "http://", "http://u:p@host", "http://h/?q=1"} {
		if _, err := client.New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := client.New("http://h", client.WithAPIKey(telamentis.NewSecret("a\nb"))); err == nil {
		t.Error("a key with a line break was accepted")
	}
}

func TestProblems(t *testing.T) {
	ctx := telamentis.NewContextWithRequestID(t.Context(), "my-request-1")
	adm, c := tenantClient(t, "problems")
	_, err := adm.CreateTenant(ctx, telamentis.Tenant{ID: "problems"})
	var pe *client.ProblemError
	if !errors.As(err, &pe) || pe.Code() != telamentis.CodeConflict || pe.Status != 409 || pe.RequestID != "my-request-1" {
		t.Fatalf("conflict: %#v", err)
	}
	if telamentis.ErrorCode(err) != telamentis.CodeConflict || !strings.Contains(err.Error(), "request id my-request-1") {
		t.Fatalf("code or text: %v", err)
	}
	_, err = c.UpsertNode(t.Context(), "problems", telamentis.NodeInput{Alias: "a", Label: "no good"})
	if telamentis.ErrorCode(err) != telamentis.CodeInvalid || len(telamentis.ErrorFields(err)) == 0 ||
		telamentis.ErrorFields(err)[0].Field != "label" {
		t.Fatalf("invalid: %v %+v", err, telamentis.ErrorFields(err))
	}
	if errors.As(err, &pe); pe.RequestID == "" {
		t.Fatal("no request id")
	}
	if _, err := c.GetNode(t.Context(), "problems", telamentis.Ref{Alias: "none"}, time.Time{}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("not found: %v", err)
	}
	// Another tenant answers like a missing record.
	if _, err := c.GetNode(t.Context(), "other", telamentis.Ref{Alias: "none"}, time.Time{}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("other tenant: %v", err)
	}
	if _, err := newClient(t, token()).Whoami(t.Context()); telamentis.ErrorCode(err) != telamentis.CodeUnauthenticated {
		t.Fatalf("unauthenticated: %v", err)
	}
	if _, err := c.ListTenants(t.Context()); telamentis.ErrorCode(err) != telamentis.CodeForbidden {
		t.Fatalf("forbidden: %v", err)
	}
	down, _ := client.New("http://127.0.0.1:1")
	if _, err := down.Health(t.Context(), false); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("unreachable: %v", err)
	}
}

// TestStore drives the graph through the telamentis.Store methods.
func TestStore(t *testing.T) {
	adm, c := tenantClient(t, "store")
	var s telamentis.Store = c
	ctx, tn := t.Context(), "store"
	a, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: json.RawMessage(`{"name":"Alice"}`)})
	if err != nil || !a.Created {
		t.Fatalf("upsert: %+v %v", a, err)
	}
	br, err := s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "acme", Label: "Org"}},
		Edges: []telamentis.EdgeInput{{Alias: "job", From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "acme"}, Kind: "WORKS_AT",
			ValidFrom: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	if err != nil || len(br.Edges) != 1 {
		t.Fatalf("batch: %+v %v", br, err)
	}
	t1 := br.TxTime
	if _, err := s.InvalidateEdge(ctx, tn, telamentis.Ref{Alias: "job"}, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	e, err := s.GetEdge(ctx, tn, telamentis.Ref{Alias: "job"}, t1)
	if err != nil || !e.ValidTo.IsZero() {
		t.Fatalf("as_at t1: %+v %v", e, err)
	}
	e, err = s.GetEdge(ctx, tn, telamentis.Ref{ID: e.ID}, time.Time{})
	if err != nil || e.ValidTo.IsZero() {
		t.Fatalf("now: %+v %v", e, err)
	}
	p, err := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryEdges, ValidAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(p.Edges) != 0 {
		t.Fatalf("query 2025: %+v %v", p, err)
	}
	p, err = s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{ID: e.ID}})
	if err != nil || len(p.Edges) != 2 {
		t.Fatalf("history: %+v %v", p, err)
	}
	st, err := s.Stats(ctx, tn)
	if err != nil || st.Nodes != 2 || st.EdgeVersions != 2 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	// Ingest and export streams.
	sum, err := c.Ingest(ctx, tn, strings.NewReader(`{"node":{"alias":"bob","label":"Person"}}`+"\n"+`{"node":{"label":"1"}}`+"\n"), 0)
	if err != nil || sum.Created != 1 || sum.Rejected != 1 || sum.Errors[0].Line != 2 {
		t.Fatalf("ingest: %+v %v", sum, err)
	}
	ex, err := c.Export(ctx, tn, client.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		l, err := ex.Next()
		if err == io.EOF {
			break
		}
		if err != nil || (l.Node == nil) == (l.Edge == nil) {
			t.Fatalf("export: %+v %v", l, err)
		}
		n++
	}
	ex.Close()
	if n != 5 { // alice, acme, job ×2, bob
		t.Fatalf("export: %d versions", n)
	}
	if _, err := s.RetractEdge(ctx, tn, telamentis.Ref{Alias: "job"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.RetractNode(ctx, tn, telamentis.Ref{Alias: "bob"}); err != nil || r.Nodes != 1 {
		t.Fatalf("retract node: %+v %v", r, err)
	}
	if r, err := s.EraseNode(ctx, tn, telamentis.Ref{ID: a.Node.ID}); err != nil || r.Nodes != 1 {
		t.Fatalf("erase: %+v %v", r, err)
	}
	// Tenants through the same interface (admin).
	var as telamentis.Store = adm
	tt, err := as.GetTenant(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	tt.Status, tt.Quotas.MaxNodes = telamentis.TenantSuspended, 10
	if u, err := as.UpdateTenant(ctx, tt); err != nil || u.Status != telamentis.TenantSuspended || u.Quotas.MaxNodes != 10 {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := c.Whoami(ctx); telamentis.ErrorCode(err) != telamentis.CodeForbidden {
		t.Fatalf("suspended: %v", err)
	}
	if err := as.DropTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if _, err := as.GetTenant(ctx, tn); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("dropped: %v", err)
	}
}

// TestKeyManager drives keys through telamentis.KeyManager (admin).
func TestKeyManager(t *testing.T) {
	adm, _ := tenantClient(t, "keys")
	var km telamentis.KeyManager = adm
	ctx := context.Background()
	k, sec, err := km.IssueKey(ctx, telamentis.NewKey{Tenant: "keys", Role: telamentis.RoleReader, Name: "r"})
	if err != nil || k.Tenant != "keys" || !strings.HasPrefix(sec.Reveal(), "tm_"+k.ID+"_") {
		t.Fatalf("issue: %+v %v", k, err)
	}
	if fmt.Sprint(sec) != "[redacted]" {
		t.Fatal("the secret prints")
	}
	got, err := km.GetKey(ctx, k.ID)
	if err != nil || got.ID != k.ID {
		t.Fatalf("get: %+v %v", got, err)
	}
	list, err := km.ListKeys(ctx, "keys")
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	nk, nsec, err := km.RotateKey(ctx, k.ID, time.Hour)
	if err != nil || nk.ID == k.ID || nsec.Reveal() == sec.Reveal() {
		t.Fatalf("rotate: %+v %v", nk, err)
	}
	if _, err := newClient(t, sec.Reveal()).Whoami(ctx); err != nil {
		t.Fatalf("old key within the overlap: %v", err)
	}
	if _, err := newClient(t, nsec.Reveal()).Whoami(ctx); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if r, err := km.RevokeKey(ctx, nk.ID); err != nil || r.RevokedAt.IsZero() {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := newClient(t, nsec.Reveal()).Whoami(ctx); telamentis.ErrorCode(err) != telamentis.CodeUnauthenticated {
		t.Fatalf("revoked key: %v", err)
	}
	t.Run("revoke during overlap", func(t *testing.T) {
		_, err := km.RevokeKey(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newClient(t, sec.Reveal()).Whoami(ctx); telamentis.ErrorCode(err) != telamentis.CodeUnauthenticated {
			t.Fatalf("revoked key: %v", err)
		}
	})
}

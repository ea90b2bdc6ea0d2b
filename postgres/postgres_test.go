package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// TestTxClockAcrossReplicas: two stores on one schema, one with a wall
// clock an hour behind, alternate writes to one tenant; transaction times
// stay strictly increasing because each write takes greatest(clock,
// last+1µs) under the tenant's row lock.
func TestTxClockAcrossReplicas(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	a := d.open(t, schema, nil)
	b := d.open(t, schema, func(c *postgres.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } })
	ctx := t.Context()
	if _, err := a.CreateTenant(ctx, telamentis.Tenant{ID: "clock"}); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		r, err := s.UpsertNode(ctx, "clock", telamentis.NodeInput{Alias: "x", Label: "Thing", Props: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Node.TxStart.After(last) {
			t.Fatalf("write %d: tx %v not after %v", i, r.Node.TxStart, last)
		}
		last = r.Node.TxStart
	}
	// The lagging replica reads "now" as at least the last write.
	n, err := b.GetNode(ctx, "clock", telamentis.Ref{Alias: "x"}, time.Time{})
	if err != nil || !n.TxStart.Equal(last) {
		t.Fatalf("lagging replica reads %v %v, want the version of %v", n.TxStart, err, last)
	}
	p, err := b.Query(ctx, "clock", telamentis.Query{Kind: telamentis.QueryNodes})
	if err != nil || len(p.Nodes) != 1 || !p.Nodes[0].TxStart.Equal(last) {
		t.Fatalf("lagging replica's nodes query: %+v %v", p, err)
	}
}

// TestQuotaUnderConcurrency: concurrent creators never exceed MaxNodes.
func TestQuotaUnderConcurrency(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "quota", Quotas: telamentis.Quotas{MaxNodes: 10}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[telamentis.Code]int{}
	for i := range 30 {
		wg.Go(func() {
			_, err := s.UpsertNode(ctx, "quota", telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "Thing"})
			mu.Lock()
			codes[telamentis.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 10 || codes[telamentis.CodeQuota] != 20 {
		t.Fatalf("want 10 created and 20 quota errors, got %v", codes)
	}
	st, err := s.Stats(ctx, "quota")
	if err != nil || st.Nodes != 10 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

// TestImport: versions keep their transaction times, counters follow, and
// the tenant's clock moves past the imported times.
func TestImport(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "imp"}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	t1 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, e := uuid.NewString(), uuid.NewString(), uuid.NewString()
	nodes := []telamentis.Node{
		{ID: a, Alias: "a", Label: "Person", Props: json.RawMessage(`{"v":1}`), TxStart: t1, TxEnd: t1.Add(time.Hour)},
		{ID: a, Alias: "a", Label: "Person", Props: json.RawMessage(`{ "v" : 2 }`), TxStart: t1.Add(time.Hour)},
		{ID: b, Alias: "b", Label: "Org", TxStart: future},
	}
	edges := []telamentis.Edge{{ID: e, From: a, To: b, Kind: "WORKS_AT", ValidFrom: t1, TxStart: future}}
	if err := s.Import(ctx, "imp", nodes, edges); err != nil {
		t.Fatal(err)
	}
	old, err := s.GetNode(ctx, "imp", telamentis.Ref{Alias: "a"}, t1.Add(time.Minute))
	if err != nil || string(old.Props) != `{"v":1}` {
		t.Fatalf("as-at read of the imported first version: %+v %v", old, err)
	}
	cur, err := s.GetNode(ctx, "imp", telamentis.Ref{ID: a}, time.Time{})
	if err != nil || string(cur.Props) != `{"v":2}` {
		t.Fatalf("current version with canonical props: %+v %v", cur, err)
	}
	st, err := s.Stats(ctx, "imp")
	if err != nil || st.Nodes != 2 || st.Edges != 1 || st.NodeVersions != 3 {
		t.Fatalf("stats %+v %v", st, err)
	}
	r, err := s.UpsertNode(ctx, "imp", telamentis.NodeInput{Alias: "c", Label: "Thing"})
	if err != nil || !r.Node.TxStart.After(future) {
		t.Fatalf("a write after importing future times must come after them: %v %v", r.Node.TxStart, err)
	}
	for name, bad := range map[string]func() error{
		"overlapping versions": func() error {
			id := uuid.NewString()
			return s.Import(ctx, "imp", []telamentis.Node{
				{ID: id, Label: "X", TxStart: t1, TxEnd: t1.Add(2 * time.Hour)},
				{ID: id, Label: "X", TxStart: t1.Add(time.Hour)}}, nil)
		},
		"missing endpoint": func() error {
			return s.Import(ctx, "imp", nil, []telamentis.Edge{{ID: uuid.NewString(), From: a, To: uuid.NewString(), Kind: "K", ValidFrom: t1, TxStart: t1}})
		},
		"bad props": func() error {
			return s.Import(ctx, "imp", []telamentis.Node{{ID: uuid.NewString(), Label: "X", Props: json.RawMessage(`[1]`), TxStart: t1}}, nil)
		},
		"bad edge props": func() error {
			return s.Import(ctx, "imp", nil, []telamentis.Edge{{ID: uuid.NewString(), From: a, To: b, Kind: "K", Props: json.RawMessage(`{"a":`), ValidFrom: t1, TxStart: t1}})
		},
		"bad label": func() error {
			return s.Import(ctx, "imp", []telamentis.Node{{ID: uuid.NewString(), Label: "no spaces", TxStart: t1}}, nil)
		},
		"live alias taken": func() error {
			return s.Import(ctx, "imp", []telamentis.Node{{ID: uuid.NewString(), Alias: "a", Label: "X", TxStart: t1}}, nil)
		},
	} {
		err := bad()
		if name == "bad props" || name == "bad edge props" {
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Errorf("%s: want invalid, got %v", name, err)
			}
			continue
		}
		if err == nil || telamentis.ErrorCode(err) == telamentis.CodeInternal {
			t.Errorf("%s: want a domain error, got %v", name, err)
		}
	}
	if st2, _ := s.Stats(ctx, "imp"); st2.NodeVersions != 4 {
		t.Errorf("failed imports wrote something: %+v", st2)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKeyStore covers the API key table.
func TestKeyStore(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	k := telamentis.APIKey{ID: "k1", Tenant: "acme", Role: telamentis.RoleWriter, Name: "ci", Hash: []byte{1, 2, 3}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, k); telamentis.ErrorCode(err) != telamentis.CodeConflict {
		t.Fatalf("duplicate key: %v", err)
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "adm", Role: telamentis.RoleAdmin, Hash: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "x", Tenant: "nope", Role: telamentis.RoleReader, Hash: []byte{9}}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("key of a missing tenant: %v", err)
	}
	got, err := s.GetKey(ctx, "k1")
	if err != nil || got.Tenant != "acme" || got.Role != telamentis.RoleWriter || !bytes.Equal(got.Hash, k.Hash) || !got.ExpiresAt.Equal(k.ExpiresAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetKey(ctx, "nope"); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("missing key: %v", err)
	}
	if l, err := s.ListKeys(ctx, ""); err != nil || len(l) != 1 || l[0].ID != "adm" {
		t.Fatalf("system keys: %+v %v", l, err)
	}
	r1, err := s.RevokeKey(ctx, "k1", now)
	if err != nil || !r1.RevokedAt.Equal(now) {
		t.Fatalf("revoke: %+v %v", r1, err)
	}
	if r2, _ := s.RevokeKey(ctx, "k1", now.Add(time.Minute)); !r2.RevokedAt.Equal(now) {
		t.Fatalf("a later revoke must keep the earlier time: %v", r2.RevokedAt)
	}
	if r3, _ := s.RevokeKey(ctx, "k1", now.Add(-time.Minute)); !r3.RevokedAt.Equal(now.Add(-time.Minute)) {
		t.Fatalf("an earlier revoke must advance a scheduled revocation: %v", r3.RevokedAt)
	}
	if err := s.TouchKey(ctx, "k1", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKey(ctx, "k1"); !got.LastUsedAt.Equal(now) {
		t.Fatalf("touch: %v", got.LastUsedAt)
	}
	if n, err := s.CountKeys(ctx); err != nil || n != 2 {
		t.Fatalf("count: %d %v", n, err)
	}
}

// TestDropTenantRemovesKeys: dropping a tenant, shared or dedicated,
// deletes every API key row of it, revoked ones included (their names and
// digests must not stay behind), and no other tenant's or system key.
func TestDropTenantRemovesKeys(t *testing.T) {
	d := database(t)
	s := d.open(t, d.newSchema(t), nil)
	ctx := t.Context()
	now := time.Now().UTC()
	for _, tn := range []telamentis.Tenant{{ID: "gone"}, {ID: "solo", Isolation: telamentis.IsolationDedicated}, {ID: "stays"}} {
		if _, err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"live", "revoked", "scheduled"} {
			k := telamentis.APIKey{ID: tn.ID + "-" + name, Tenant: tn.ID, Role: telamentis.RoleReader, Name: "canary " + name, Hash: []byte{byte(i + 1)}}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RevokeKey(ctx, tn.ID+"-revoked", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeKey(ctx, tn.ID+"-scheduled", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "adm", Role: telamentis.RoleAdmin, Hash: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	rows := func(tenant string) int {
		t.Helper()
		var n int
		if err := d.admin.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Schema(), "api_keys"}.Sanitize()+` WHERE tenant = $1`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, id := range []string{"gone", "solo"} {
		if err := s.DropTenant(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := rows(id); n != 0 {
			t.Errorf("%d key rows of dropped tenant %s remain", n, id)
		}
		for _, name := range []string{"live", "revoked", "scheduled"} {
			if _, err := s.GetKey(ctx, id+"-"+name); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
				t.Errorf("key %s-%s after the drop: %v", id, name, err)
			}
		}
		if err := s.CreateKey(ctx, telamentis.APIKey{ID: id + "-late", Tenant: id, Role: telamentis.RoleReader, Hash: []byte{9}}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			t.Errorf("key for dropped tenant %s: %v", id, err)
		}
	}
	if n := rows("stays"); n != 3 {
		t.Errorf("other tenant keeps %d key rows, want 3", n)
	}
	if n, _ := s.CountKeys(ctx); n != 4 {
		t.Errorf("CountKeys = %d, want 4 (other tenant's and the admin key)", n)
	}
}

// TestOpenNeverShowsThePassword: logs and errors carry no DSN password;
// an unverified connection logs a warning.
func TestOpenNeverShowsThePassword(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	const pw = "hunter2-very-secret"
	withPW := strings.Replace(d.svcURL, "@", ":"+pw+"@", 1)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: telamentis.NewSecret(withPW), Schema: schema, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(logs.String(), "not verified") {
		t.Errorf("sslmode=disable must log a warning; logs: %s", logs.String())
	}
	for _, dsn := range []string{
		"postgres://u:" + pw + "@127.0.0.1:badport/db",
		"host=127.0.0.1 password=" + pw + " sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
	} {
		_, err := postgres.Open(t.Context(), postgres.Config{DSN: telamentis.NewSecret(dsn), Schema: schema, Logger: log})
		if err == nil {
			t.Errorf("Open(%q) succeeded", strings.ReplaceAll(dsn, pw, "***"))
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error shows the password: %v", err)
		}
		if err := postgres.Migrate(t.Context(), postgres.MigrateConfig{OwnerDSN: telamentis.NewSecret(dsn), Logger: log}); err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Migrate error shows the password or succeeded: %v", err)
		}
	}
	if strings.Contains(logs.String(), pw) {
		t.Errorf("logs show the password: %s", logs.String())
	}
	cfg := postgres.Config{DSN: telamentis.NewSecret(withPW)}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), pw) {
		t.Error("printing the config shows the password")
	}
}

// TestMigrate: migrations are idempotent, refuse a privileged service role,
// and Open refuses an unmigrated schema.
func TestMigrate(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	cfg := postgres.MigrateConfig{OwnerDSN: telamentis.NewSecret(d.ownerURL), ServiceRoles: []string{d.svcRole}, Schema: schema}
	if err := postgres.Migrate(t.Context(), cfg); err != nil {
		t.Fatalf("second run: %v", err)
	}
	cfg.ServiceRoles = []string{mustUser(d.adminURL)}
	if err := postgres.Migrate(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "BYPASSRLS") {
		t.Fatalf("granting to a superuser must be refused: %v", err)
	}
	_, err := postgres.Open(t.Context(), postgres.Config{DSN: telamentis.NewSecret(d.svcURL), Schema: "tm_never_migrated"})
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("Open on an unmigrated schema: %v", err)
	}
}

// TestDedicatedTenant: a dedicated tenant lives in its own schema, which
// DropTenant removes; without the owner connection it cannot be created.
func TestDedicatedTenant(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	s := d.open(t, schema, nil)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "ded", Isolation: telamentis.IsolationDedicated}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertNode(ctx, "ded", telamentis.NodeInput{Alias: "a", Label: "Thing"}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		d.admin.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1`, schema+`\_t\_%`).Scan(&n)
		return n
	}
	if count() != 1 {
		t.Fatal("no dedicated schema")
	}
	// Migrate also upgrades dedicated schemas (a no-op here).
	if err := postgres.Migrate(ctx, postgres.MigrateConfig{OwnerDSN: telamentis.NewSecret(d.ownerURL), ServiceRoles: []string{d.svcRole}, Schema: schema}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropTenant(ctx, "ded"); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Fatal("dedicated schema survived the drop")
	}
	if _, err := s.GetNode(ctx, "ded", telamentis.Ref{Alias: "a"}, time.Time{}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("dropped tenant: %v", err)
	}
	// Concurrent creates of one dedicated tenant: one wins, the others
	// conflict, and the winner's schema is intact.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[telamentis.Code]int{}
	for range 4 {
		wg.Go(func() {
			_, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "race", Isolation: telamentis.IsolationDedicated})
			mu.Lock()
			codes[telamentis.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 1 || codes[telamentis.CodeConflict] != 3 {
		t.Fatalf("concurrent dedicated creates: %v", codes)
	}
	if _, err := s.UpsertNode(ctx, "race", telamentis.NodeInput{Label: "Thing"}); err != nil {
		t.Fatalf("write to the raced tenant: %v", err)
	}
	noOwner := d.open(t, schema, func(c *postgres.Config) { c.OwnerDSN = telamentis.Secret{} })
	if _, err := noOwner.CreateTenant(ctx, telamentis.Tenant{ID: "ded2", Isolation: telamentis.IsolationDedicated}); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("dedicated without owner: %v", err)
	}
}

// TestWritersSerialiseOnTheTenantRow: a transaction holding a tenant's
// state row blocks that tenant's writers (not another tenant's), and the
// statement timeout turns the wait into CodeUnavailable.
func TestWritersSerialiseOnTheTenantRow(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	s := d.open(t, schema, func(c *postgres.Config) { c.StatementTimeout = 300 * time.Millisecond })
	ctx := t.Context()
	for _, id := range []string{"locked", "free"} {
		if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, d.svcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	tx.Exec(ctx, `SELECT set_config('telamentis.tenant', 'locked', true)`)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM `+ident(schema)+`.tenant_state WHERE tenant_id = 'locked' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertNode(ctx, "free", telamentis.NodeInput{Label: "Thing"}); err != nil {
		t.Fatalf("another tenant's writer must not wait: %v", err)
	}
	_, err = s.UpsertNode(ctx, "locked", telamentis.NodeInput{Label: "Thing"})
	if telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("a writer behind the lock past the statement timeout: want unavailable, got %v", err)
	}
	tx.Rollback(ctx)
	if _, err := s.UpsertNode(ctx, "locked", telamentis.NodeInput{Label: "Thing"}); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}

// TestCheckFindsDamage: the integrity check reports overlapping versions,
// a live edge without live endpoints and a wrong live counter.
func TestCheckFindsDamage(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	s := d.open(t, schema, nil)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "dmg"}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.UpsertNode(ctx, "dmg", telamentis.NodeInput{Alias: "a", Label: "Thing", Props: json.RawMessage(`{"v":1}`)})
	s.UpsertNode(ctx, "dmg", telamentis.NodeInput{Alias: "a", Label: "Thing", Props: json.RawMessage(`{"v":2}`)})
	b, _ := s.UpsertNode(ctx, "dmg", telamentis.NodeInput{Alias: "b", Label: "Thing"})
	s.UpsertEdge(ctx, "dmg", telamentis.EdgeInput{From: telamentis.Ref{Alias: "a"}, To: telamentis.Ref{Alias: "b"}, Kind: "K"})
	if err := s.Check(ctx); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	nodes, state := ident(schema)+".nodes", ident(schema)+".tenant_state"
	for _, c := range []struct{ what, damage, repair string }{
		{"overlapping node versions",
			`UPDATE ` + nodes + ` SET tx_end = tx_end + 1000000 WHERE id = '` + a.Node.ID + `' AND tx_end <> 9223372036854775807`,
			`UPDATE ` + nodes + ` SET tx_end = tx_end - 1000000 WHERE id = '` + a.Node.ID + `' AND tx_end <> 9223372036854775807`},
		{"missing endpoint",
			`UPDATE ` + nodes + ` SET tx_end = tx_start + 1 WHERE id = '` + b.Node.ID + `'`,
			`UPDATE ` + nodes + ` SET tx_end = 9223372036854775807 WHERE id = '` + b.Node.ID + `'`},
		{"live node counter",
			`UPDATE ` + state + ` SET nodes_live = nodes_live + 1`,
			`UPDATE ` + state + ` SET nodes_live = nodes_live - 1`},
	} {
		if _, err := d.admin.Exec(ctx, c.damage); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), strings.Fields(c.what)[0]) {
			t.Errorf("%s: Check says %v", c.what, err)
		}
		if _, err := d.admin.Exec(ctx, c.repair); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("repaired store: %v", err)
	}
}

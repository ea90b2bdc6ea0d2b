package badger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

func mustUpsert(t testing.TB, s telamentis.Store, tenant string, in telamentis.NodeInput) telamentis.Node {
	t.Helper()
	r, err := s.UpsertNode(t.Context(), tenant, in)
	if err != nil {
		t.Fatalf("upsert node %+v: %v", in, err)
	}
	return r.Node
}

func mustEdge(t testing.TB, s telamentis.Store, tenant string, in telamentis.EdgeInput) telamentis.Edge {
	t.Helper()
	r, err := s.UpsertEdge(t.Context(), tenant, in)
	if err != nil {
		t.Fatalf("upsert edge %+v: %v", in, err)
	}
	return r.Edge
}

func mustTenant(t testing.TB, s telamentis.Store, tn telamentis.Tenant) {
	t.Helper()
	if _, err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("create tenant %s: %v", tn.ID, err)
	}
}

// everything returns a tenant's whole observable state: every query kind,
// paged to the end, as JSON lines.
func everything(t testing.TB, s telamentis.Store, tenant string, start string) []string {
	t.Helper()
	var out []string
	for _, q := range []telamentis.Query{
		{Kind: telamentis.QueryNodes},
		{Kind: telamentis.QueryEdges},
		{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"}, ValidAt: time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)},
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: start}, Depth: 3, Direction: telamentis.DirBoth},
		{Kind: telamentis.QueryChanges},
		{Kind: telamentis.QueryHistory, Node: &telamentis.Ref{Alias: start}},
	} {
		q.Limit = 7
		for {
			p, err := s.Query(t.Context(), tenant, q)
			if err != nil {
				t.Fatalf("query %+v: %v", q, err)
			}
			c := p.NextCursor
			p.NextCursor = ""
			b, _ := json.Marshal(p)
			out = append(out, string(b))
			if c == "" {
				break
			}
			q.Cursor = c
		}
	}
	st, err := s.Stats(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("%+v", st))
	return out
}

// populate writes a small graph with updates, invalidations, retractions
// and an erasure.
func populate(t testing.TB, s telamentis.Store, tenant string) {
	t.Helper()
	ctx := t.Context()
	for i := range 20 {
		mustUpsert(t, s, tenant, telamentis.NodeInput{Alias: fmt.Sprintf("p%d", i), Label: "Person", Props: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
	}
	for i := range 40 {
		mustEdge(t, s, tenant, telamentis.EdgeInput{
			From: telamentis.Ref{Alias: fmt.Sprintf("p%d", i%20)}, To: telamentis.Ref{Alias: fmt.Sprintf("p%d", (i*7+3)%20)},
			Kind: []string{"KNOWS", "WORKS_WITH"}[i%2], ValidFrom: time.Date(2020+i%4, 1, 1, 0, 0, 0, 0, time.UTC),
		})
	}
	mustUpsert(t, s, tenant, telamentis.NodeInput{Alias: "p1", Label: "Person", Props: json.RawMessage(`{"i":100}`)})
	if _, err := s.RetractNode(ctx, tenant, telamentis.Ref{Alias: "p2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseNode(ctx, tenant, telamentis.Ref{Alias: "p3"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Query(ctx, tenant, telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{Alias: "p4"}})
	if err != nil || len(p.Edges) == 0 {
		t.Fatalf("edges of p4: %v", err)
	}
	if _, err := s.InvalidateEdge(ctx, tenant, telamentis.Ref{ID: p.Edges[0].ID}, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
}

// TestReopenRebuildsIndexes checks that a reopened store answers every
// query exactly as before, for shared and dedicated tenants, keeps API
// keys, and hands out later transaction times.
func TestReopenRebuildsIndexes(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, true)
	ctx := t.Context()
	mustTenant(t, s, telamentis.Tenant{ID: "shared-a"})
	mustTenant(t, s, telamentis.Tenant{ID: "dedi-b", Isolation: telamentis.IsolationDedicated})
	populate(t, s, "shared-a")
	populate(t, s, "dedi-b")
	key := telamentis.APIKey{ID: "k1", Tenant: "dedi-b", Role: telamentis.RoleWriter, Hash: []byte{1, 2, 3}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	before := map[string][]string{"shared-a": everything(t, s, "shared-a", "p0"), "dedi-b": everything(t, s, "dedi-b", "p0")}
	last := mustUpsert(t, s, "shared-a", telamentis.NodeInput{Alias: "last", Label: "Person"}).TxStart
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, true)
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("check after reopen: %v", err)
	}
	if _, err := s.RetractNode(ctx, "shared-a", telamentis.Ref{Alias: "last"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseNode(ctx, "shared-a", telamentis.Ref{Alias: "last"}); err == nil {
		t.Fatal("erase by the alias of a retracted node must be not_found")
	}
	for tn, want := range before {
		if tn == "shared-a" {
			// Undo the extra node by erasing it by ID, then compare.
			p, _ := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryHistory, Node: &telamentis.Ref{Alias: "last"}})
			if len(p.Nodes) == 0 {
				t.Fatal("history of a retracted node by alias is empty")
			}
			if _, err := s.EraseNode(ctx, tn, telamentis.Ref{ID: p.Nodes[0].ID}); err != nil {
				t.Fatal(err)
			}
		}
		got := everything(t, s, tn, "p0")
		if !slices.Equal(got, want) {
			for i := range want {
				if i < len(got) && got[i] != want[i] {
					t.Errorf("tenant %s: answer %d changed across reopen:\n got  %s\n want %s", tn, i, got[i], want[i])
					break
				}
			}
			if len(got) != len(want) {
				t.Errorf("tenant %s: %d answers after reopen, %d before", tn, len(got), len(want))
			}
		}
	}
	n := mustUpsert(t, s, "shared-a", telamentis.NodeInput{Alias: "after", Label: "Person"})
	if !n.TxStart.After(last) {
		t.Errorf("tx_start after reopen %v is not after the last one before %v", n.TxStart, last)
	}
	k, err := s.GetKey(ctx, "k1")
	if err != nil || !bytes.Equal(k.Hash, key.Hash) || !k.CreatedAt.Equal(key.CreatedAt) {
		t.Errorf("key after reopen = %+v, %v", k, err)
	}
}

// scan returns the files under dir that contain needle.
func scan(t testing.TB, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// TestErasureIsPhysical proves on disk, with encryption off so the bytes
// can be seen, that erased and dropped data are in the files before and in
// no file after Compact, while kept data still is.
func TestErasureIsPhysical(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, false)
	mustTenant(t, s, telamentis.Tenant{ID: "keep"})
	mustTenant(t, s, telamentis.Tenant{ID: "gone"})
	mustTenant(t, s, telamentis.Tenant{ID: "gone-dedicated", Isolation: telamentis.IsolationDedicated})
	const erased, dropped, droppedDedi, kept = "CANARY-ERASED-7f3a", "CANARY-DROPPED-91bc", "CANARY-DEDI-55e1", "KEEPME-0a0a"
	k := mustUpsert(t, s, "keep", telamentis.NodeInput{Alias: "k", Label: "Person", Props: json.RawMessage(`{"v":"` + kept + `"}`)})
	x := mustUpsert(t, s, "keep", telamentis.NodeInput{Alias: "x-" + erased, Label: "Person", Props: json.RawMessage(`{"v":"` + erased + `"}`)})
	mustUpsert(t, s, "keep", telamentis.NodeInput{ID: x.ID, Label: "Person", Props: json.RawMessage(`{"v":"` + erased + `-v2"}`)})
	mustEdge(t, s, "keep", telamentis.EdgeInput{From: telamentis.Ref{ID: k.ID}, To: telamentis.Ref{ID: x.ID}, Kind: "KNOWS", Props: json.RawMessage(`{"e":"` + erased + `"}`)})
	for _, tn := range []struct{ id, canary string }{{"gone", dropped}, {"gone-dedicated", droppedDedi}} {
		a := mustUpsert(t, s, tn.id, telamentis.NodeInput{Alias: tn.canary, Label: "Person", Props: json.RawMessage(`{"v":"` + tn.canary + `"}`)})
		mustEdge(t, s, tn.id, telamentis.EdgeInput{From: telamentis.Ref{ID: a.ID}, To: telamentis.Ref{ID: a.ID}, Kind: "SELF"})
	}
	s.Close()
	for _, c := range []string{erased, dropped, droppedDedi, kept} {
		if len(scan(t, dir, []byte(c))) == 0 {
			t.Fatalf("control: %s is in no file before erasure; the scan proves nothing", c)
		}
	}
	s = openDisk(t, dir, false)
	if _, err := s.EraseNode(ctx, "keep", telamentis.Ref{ID: x.ID}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"gone", "gone-dedicated"} {
		if err := s.DropTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	// Writes after compaction still work and survive.
	mustUpsert(t, s, "keep", telamentis.NodeInput{Alias: "later", Label: "Person"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{erased, dropped, droppedDedi, "gone-dedicated"} {
		if hits := scan(t, dir, []byte(c)); len(hits) > 0 {
			t.Errorf("%s still on disk after erase/drop + Compact in %v", c, hits)
		}
	}
	if len(scan(t, dir, []byte(kept))) == 0 {
		t.Error("kept data vanished from disk")
	}
	s = openDisk(t, dir, false)
	defer s.Close()
	if _, err := s.GetNode(ctx, "keep", telamentis.Ref{Alias: "later"}, time.Time{}); err != nil {
		t.Errorf("write after compaction lost: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestEncryptedAtRest checks that with encryption on no plaintext prop,
// alias or label appears in any file, and that a dedicated tenant's
// directory is encrypted with its own key, not the master key, and is
// destroyed with its wrapped key on drop.
func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, true)
	mustTenant(t, s, telamentis.Tenant{ID: "shared"})
	mustTenant(t, s, telamentis.Tenant{ID: "dedi", Isolation: telamentis.IsolationDedicated})
	const secret = "PLAINTEXT-SECRET-c0ffee"
	for _, tn := range []string{"shared", "dedi"} {
		for i := range 200 {
			mustUpsert(t, s, tn, telamentis.NodeInput{Alias: fmt.Sprintf("%s-%d", secret, i), Label: "Secretive",
				Props: json.RawMessage(`{"v":"` + secret + `"}`)})
		}
	}
	s.Close()
	for _, needle := range []string{secret, "Secretive"} {
		if hits := scan(t, dir, []byte(needle)); len(hits) > 0 {
			t.Errorf("plaintext %q in files %v", needle, hits)
		}
	}
	// The dedicated directory does not open with the master key.
	ddir := filepath.Join(dir, "tenants", "dedi")
	if db, err := bdb.Open(bdb.DefaultOptions(ddir).WithEncryptionKey(testKey).WithIndexCacheSize(1 << 20).WithLogger(nil)); err == nil {
		db.Close()
		t.Error("dedicated tenant's database opens with the master key; it must have its own data key")
	}
	// Nor without a key.
	if db, err := bdb.Open(bdb.DefaultOptions(ddir).WithLogger(nil)); err == nil {
		db.Close()
		t.Error("dedicated tenant's database opens without a key")
	}
	s = openDisk(t, dir, true)
	if n, err := s.GetNode(ctx, "dedi", telamentis.Ref{Alias: secret + "-7"}, time.Time{}); err != nil || !strings.Contains(string(n.Props), secret) {
		t.Fatalf("dedicated tenant unreadable after reopen: %v", err)
	}
	if err := s.DropTenant(ctx, "dedi"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ddir); !os.IsNotExist(err) {
		t.Errorf("dedicated directory survives the drop: %v", err)
	}
	s.Close()
	s = openDisk(t, dir, true)
	defer s.Close()
	if _, err := s.GetTenant(ctx, "dedi"); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Errorf("dropped dedicated tenant after reopen: %v", err)
	}
	// A new tenant with the same ID starts empty with a new key.
	mustTenant(t, s, telamentis.Tenant{ID: "dedi", Isolation: telamentis.IsolationDedicated})
	if st, _ := s.Stats(ctx, "dedi"); st.Nodes != 0 {
		t.Errorf("recreated tenant has %d nodes", st.Nodes)
	}
}

// TestWrongMasterKey checks that a store does not open with another key.
func TestWrongMasterKey(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, true)
	mustTenant(t, s, telamentis.Tenant{ID: "aa"})
	s.Close()
	if s2, err := badger.Open(badger.Config{Dir: dir, MasterKey: bytes.Repeat([]byte{7}, 32)}, nil); err == nil {
		s2.Close()
		t.Fatal("opened with the wrong master key")
	}
	if _, err := badger.Open(badger.Config{Dir: t.TempDir()}, nil); err == nil {
		t.Fatal("opened on disk without a master key and without Unencrypted")
	}
}

// TestConcurrentWriters runs writers and readers of one tenant and of
// several tenants at once (run it with -race): every acknowledged write is
// visible right after it returns, readers never see a half-applied batch,
// and the integrity check passes.
func TestConcurrentWriters(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "disk"}[disk], func(t *testing.T) {
			var s *badger.Store
			if disk {
				s = openDisk(t, t.TempDir(), true)
				defer s.Close()
			} else {
				s = newMem(t)
			}
			ctx := t.Context()
			mustTenant(t, s, telamentis.Tenant{ID: "t1"})
			mustTenant(t, s, telamentis.Tenant{ID: "t2", Isolation: telamentis.IsolationDedicated})
			mustUpsert(t, s, "t1", telamentis.NodeInput{Alias: "hub", Label: "Hub"})
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for w := range 6 {
				tn := []string{"t1", "t2"}[w%2]
				wg.Go(func() {
					for i := range 30 {
						a := fmt.Sprintf("w%d-%d", w, i)
						b := telamentis.Batch{
							Nodes: []telamentis.NodeInput{{Alias: a + "x", Label: "N"}, {Alias: a + "y", Label: "N"}},
							Edges: []telamentis.EdgeInput{{From: telamentis.Ref{Alias: a + "x"}, To: telamentis.Ref{Alias: a + "y"}, Kind: "PAIR"}},
						}
						r, err := s.ApplyBatch(ctx, tn, b)
						if err != nil {
							errs <- err
							return
						}
						if _, err := s.GetEdge(ctx, tn, telamentis.Ref{ID: r.Edges[0].Edge.ID}, time.Time{}); err != nil {
							errs <- fmt.Errorf("acknowledged edge not visible: %w", err)
							return
						}
					}
				})
			}
			// Readers: every visible PAIR edge's endpoints are visible at
			// the same as_at (a batch is all or nothing to readers).
			stop := make(chan struct{})
			var rg sync.WaitGroup
			for range 2 {
				rg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						for _, tn := range []string{"t1", "t2"} {
							p, err := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"PAIR"}, Limit: 1000})
							if err != nil {
								errs <- err
								return
							}
							for _, e := range p.Edges {
								if _, err := s.GetNode(ctx, tn, telamentis.Ref{ID: e.To}, e.TxStart); err != nil {
									errs <- fmt.Errorf("edge visible without its endpoint: %w", err)
									return
								}
							}
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			rg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, tn := range []string{"t1", "t2"} {
				st, _ := s.Stats(ctx, tn)
				want := int64(3 * 30)
				if st.Edges != want {
					t.Errorf("%s: %d edges, want %d", tn, st.Edges, want)
				}
			}
			if err := s.Check(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCursorConsistentAcrossWrites checks that later pages of a query keep
// the transaction time of the first page.
func TestCursorConsistentAcrossWrites(t *testing.T) {
	s := newMem(t)
	ctx := t.Context()
	mustTenant(t, s, telamentis.Tenant{ID: "cc"})
	for i := range 10 {
		mustUpsert(t, s, "cc", telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "N"})
	}
	p, err := s.Query(ctx, "cc", telamentis.Query{Kind: telamentis.QueryNodes, Limit: 4})
	if err != nil || p.NextCursor == "" {
		t.Fatal(err)
	}
	seen := len(p.Nodes)
	for i := range 10 {
		mustUpsert(t, s, "cc", telamentis.NodeInput{Alias: fmt.Sprintf("late%d", i), Label: "N"})
	}
	q := telamentis.Query{Kind: telamentis.QueryNodes, Limit: 4, Cursor: p.NextCursor}
	for q.Cursor != "" {
		p, err = s.Query(ctx, "cc", q)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(p.Nodes)
		q.Cursor = p.NextCursor
	}
	if seen != 10 {
		t.Errorf("paged %d nodes, want the 10 that existed at the first page", seen)
	}
	if _, err := s.Query(ctx, "cc", telamentis.Query{Kind: telamentis.QueryNodes, Limit: 4, Labels: []string{"N"}, Cursor: p.NextCursor}); err == nil && p.NextCursor != "" {
		t.Error("cursor accepted for another query")
	}
}

// TestBatchTooLarge checks that a batch beyond one atomic commit is refused
// with nothing written.
func TestBatchTooLarge(t *testing.T) {
	s, err := badger.Open(badger.Config{InMemory: true, MemTableSize: 4 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mustTenant(t, s, telamentis.Tenant{ID: "big"})
	big := `{"pad":"` + strings.Repeat("x", 60000) + `"}`
	var b telamentis.Batch
	for i := range 20 {
		b.Nodes = append(b.Nodes, telamentis.NodeInput{Alias: fmt.Sprint(i), Label: "N", Props: json.RawMessage(big)})
	}
	if _, err := s.ApplyBatch(ctx, "big", b); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Fatalf("oversized batch: %v", err)
	}
	if st, _ := s.Stats(ctx, "big"); st.NodeVersions != 0 {
		t.Errorf("oversized batch wrote %d versions", st.NodeVersions)
	}
	b.Nodes = b.Nodes[:3]
	if _, err := s.ApplyBatch(ctx, "big", b); err != nil {
		t.Fatalf("batch within the limit: %v", err)
	}
}

// TestGroupCommit checks that concurrent writers on a synced disk store
// share Badger transactions (and so fsyncs) instead of taking one each.
func TestGroupCommit(t *testing.T) {
	s := openDisk(t, t.TempDir(), true)
	defer s.Close()
	ctx := t.Context()
	for i := range 4 {
		mustTenant(t, s, telamentis.Tenant{ID: fmt.Sprintf("g%d", i)})
	}
	g0, c0 := s.CommitCounts()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := range 20 {
				// Half the writers share a tenant: their changes must
				// still be grouped, not serialised per tenant.
				tn := fmt.Sprintf("g%d", w%4)
				if _, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: fmt.Sprintf("w%d-%d", w, i), Label: "N"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	g1, c1 := s.CommitCounts()
	groups, changes := g1-g0, c1-c0
	t.Logf("%d changes in %d synced Badger transactions", changes, groups)
	if changes != 32*20 {
		t.Fatalf("committer carried %d changes, want %d", changes, 32*20)
	}
	if groups*2 > changes {
		t.Errorf("%d changes took %d transactions: concurrent writers do not share commits", changes, groups)
	}
}

// TestCompactAfterRestart checks that an erasure made before a restart is
// still made physical by a Compact after it.
func TestCompactAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, false)
	mustTenant(t, s, telamentis.Tenant{ID: "rr"})
	const canary = "CANARY-RESTART-3b9d"
	n := mustUpsert(t, s, "rr", telamentis.NodeInput{Label: "N", Props: json.RawMessage(`{"v":"` + canary + `"}`)})
	mustUpsert(t, s, "rr", telamentis.NodeInput{Alias: "keep", Label: "N"})
	s.Close()
	s = openDisk(t, dir, false)
	if _, err := s.EraseNode(ctx, "rr", telamentis.Ref{ID: n.ID}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(scan(t, dir, []byte(canary))) == 0 {
		t.Fatal("control: canary not on disk before Compact")
	}
	s = openDisk(t, dir, false)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if hits := scan(t, dir, []byte(canary)); len(hits) > 0 {
		t.Errorf("erased before a restart, still on disk after Compact: %v", hits)
	}
}

// TestCompactionSwapRecovery simulates a crash in the middle of the
// directory swap of a compaction: the complete rewrite is taken, the old
// directory and any partial rewrite are removed.
func TestCompactionSwapRecovery(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, true)
	mustTenant(t, s, telamentis.Tenant{ID: "sw"})
	mustUpsert(t, s, "sw", telamentis.NodeInput{Alias: "kept", Label: "N"})
	s.Close()
	data := filepath.Join(dir, "data")
	// Crash after "data → data.old" and before "data.compact → data".
	if err := os.Rename(data, data+".compact"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data+".old", "junk"), 0o700); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, true)
	if _, err := s.GetNode(ctx, "sw", telamentis.Ref{Alias: "kept"}, time.Time{}); err != nil {
		t.Errorf("complete rewrite not taken over: %v", err)
	}
	s.Close()
	for _, d := range []string{data + ".compact", data + ".old"} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", d, err)
		}
	}
	// Crash during the rewrite: a partial ".compact" next to the real data.
	if err := os.MkdirAll(filepath.Join(data+".compact", "partial"), 0o700); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, true)
	defer s.Close()
	if _, err := s.GetNode(ctx, "sw", telamentis.Ref{Alias: "kept"}, time.Time{}); err != nil {
		t.Errorf("data lost after an interrupted rewrite: %v", err)
	}
	if _, err := os.Stat(data + ".compact"); !os.IsNotExist(err) {
		t.Errorf("partial rewrite left behind: %v", err)
	}
}

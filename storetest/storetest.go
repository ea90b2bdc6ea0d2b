package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/telamentis/telamentis"
)

// Harness tells Run how to open the backend under test.
type Harness struct {
	// New returns a fresh, empty store; it registers its own t.Cleanup that
	// closes it.
	New func(t testing.TB) telamentis.Store
	// Disk, optional, opens an on-disk store in dir with encryption on or
	// off; the caller closes it. When set, the erasure proof scans every
	// file under dir.
	Disk func(t testing.TB, dir string, encrypted bool) telamentis.Store
	// Residue, optional, for backends without files to scan (Postgres):
	// reports every place where the canary bytes still occur in the
	// backend's storage (empty = none).
	Residue func(t testing.TB, s telamentis.Store, canary string) []string
}

// Run runs the whole conformance suite against the store h opens. Subtests
// are named by rule, so `go test -run 'Store/nodes/no-op'` narrows a
// failure down; every message states the rule and why it was judged broken.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is required")
	}
	s := h.New(t)
	r := &runner{h: h, s: s}
	t.Run("tenants", r.testTenants)
	t.Run("nodes", r.testNodes)
	t.Run("edges", r.testEdges)
	t.Run("invalidate", r.testInvalidate)
	t.Run("retract", r.testRetract)
	t.Run("erase", r.testErase)
	t.Run("batch", r.testBatch)
	t.Run("queries", r.testQueries)
	t.Run("include_nodes", r.testIncludeNodes)
	t.Run("ids_only", r.testIDsOnly)
	t.Run("paging", r.testPaging)
	t.Run("validation", r.testValidation)
	t.Run("write_errors", r.testWriteErrors)
	t.Run("quotas", r.testQuotas)
	t.Run("concurrency", r.testConcurrency)
	t.Run("lifecycle", r.testLifecycle)
	t.Run("stats", r.testStats)
	t.Run("merge", r.testMerge)     // merge.go
	t.Run("resolve", r.testResolve) // merge.go
	t.Run("property", r.testProperty)
	t.Run("isolation", r.testIsolation)
	t.Run("erasure", r.testErasure)
	if c, ok := s.(telamentis.Checker); ok {
		t.Run("check", func(t *testing.T) {
			if err := c.Check(t.Context()); err != nil {
				t.Errorf("integrity check after the suite: %v", err)
			}
		})
	}
}

type runner struct {
	h Harness
	s telamentis.Store
}

// tb is what the helpers need from *testing.T and *rapid.T alike.
type tb interface {
	rapid.TB
	Context() context.Context
}

var tenantSeq atomic.Int64

// newTenant creates a tenant with a fresh ID on s, after applying mods.
func newTenant(t tb, s telamentis.Store, mods ...func(*telamentis.Tenant)) string {
	t.Helper()
	id := fmt.Sprintf("st-%d-%s", tenantSeq.Add(1), randHex(3))
	tn := telamentis.Tenant{ID: id, Name: "storetest " + id}
	for _, m := range mods {
		m(&tn)
	}
	if _, err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("create tenant %s: %v", tn.ID, err)
	}
	return tn.ID
}

func dedicated(tn *telamentis.Tenant) { tn.Isolation = telamentis.IsolationDedicated }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random canonical UUID (v4) that no store has issued.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// day returns midnight UTC of 2020-01-01 plus n days: the valid-time grid.
func day(n int) time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }

func us(t time.Time) int64 { return telamentis.Micros(t) }

func byAlias(a string) telamentis.Ref { return telamentis.Ref{Alias: a} }
func byID(id string) telamentis.Ref   { return telamentis.Ref{ID: id} }

func props(s string) json.RawMessage { return json.RawMessage(s) }

// canon returns the canonical form of a props document the store returned,
// or the raw text prefixed with "!" if it is not valid props.
func canon(p json.RawMessage) string {
	c, err := telamentis.CanonicalProps(p)
	if err != nil {
		return "!" + string(p)
	}
	return string(c)
}

// wantCode reports unless err has one of codes.
func wantCode(t tb, err error, rule string, codes ...telamentis.Code) bool {
	t.Helper()
	got := telamentis.ErrorCode(err)
	if slices.Contains(codes, got) {
		return true
	}
	if err == nil {
		t.Errorf("%s: got success, want error %v", rule, codes)
	} else {
		t.Errorf("%s: got error code %q (%v), want %v", rule, got, err, codes)
	}
	return false
}

// wantField reports unless err is CodeInvalid and names field (or a field
// below it, such as props.a under props).
func wantField(t tb, err error, rule, field string) {
	t.Helper()
	if !wantCode(t, err, rule, telamentis.CodeInvalid) {
		return
	}
	fs := telamentis.ErrorFields(err)
	for _, f := range fs {
		if f.Field == field || strings.HasPrefix(f.Field, field+".") || strings.HasPrefix(f.Field, field+"[") {
			return
		}
	}
	t.Errorf("%s: invalid error must name field %q, names %v (%v)", rule, field, fs, err)
}

func mustNode(t tb, s telamentis.Store, tenant string, in telamentis.NodeInput) telamentis.NodeResult {
	t.Helper()
	r, err := s.UpsertNode(t.Context(), tenant, in)
	if err != nil {
		t.Fatalf("upsert node %+v: %v", in, err)
	}
	return r
}

func mustEdge(t tb, s telamentis.Store, tenant string, in telamentis.EdgeInput) telamentis.EdgeResult {
	t.Helper()
	r, err := s.UpsertEdge(t.Context(), tenant, in)
	if err != nil {
		t.Fatalf("upsert edge %+v: %v", in, err)
	}
	return r
}

func mustQuery(t tb, s telamentis.Store, tenant string, q telamentis.Query) telamentis.Page {
	t.Helper()
	p, err := s.Query(t.Context(), tenant, q)
	if err != nil {
		t.Fatalf("query %s: %v", qstr(q), err)
	}
	return p
}

func qstr(q telamentis.Query) string {
	b, _ := json.Marshal(q)
	return string(b)
}

// collect runs q to the end, following cursors, and returns every page.
func collect(t tb, s telamentis.Store, tenant string, q telamentis.Query) ([]telamentis.Page, error) {
	t.Helper()
	var pages []telamentis.Page
	for i := 0; ; i++ {
		if i > 100_000 {
			t.Fatalf("query %s: more than 100000 pages; the cursor does not advance", qstr(q))
		}
		p, err := s.Query(t.Context(), tenant, q)
		if err != nil {
			return pages, err
		}
		pages = append(pages, p)
		if p.NextCursor == "" {
			return pages, nil
		}
		q.Cursor = p.NextCursor
	}
}

// all runs q to the end and merges the pages, checking that no page is
// larger than the limit.
func all(t tb, s telamentis.Store, tenant string, q telamentis.Query) telamentis.Page {
	t.Helper()
	pages, err := collect(t, s, tenant, q)
	if err != nil {
		t.Fatalf("query %s: %v", qstr(q), err)
	}
	return merge(t, q, pages)
}

func merge(t tb, q telamentis.Query, pages []telamentis.Page) telamentis.Page {
	t.Helper()
	limit := q.Limit
	if limit == 0 {
		limit = telamentis.DefaultLimit
	}
	var out telamentis.Page
	for i, p := range pages {
		n := len(p.Nodes) + len(p.Edges) + len(p.Neighbors) + len(p.Changes)
		if n > limit {
			t.Errorf("paging: page %d of %s has %d items, more than the limit %d", i, qstr(q), n, limit)
		}
		out.Nodes = append(out.Nodes, p.Nodes...)
		out.Edges = append(out.Edges, p.Edges...)
		out.Neighbors = append(out.Neighbors, p.Neighbors...)
		out.Changes = append(out.Changes, p.Changes...)
	}
	return out
}

// state is what "nothing was written" compares: the counts and the whole
// change feed of a tenant.
type state struct {
	Nodes, Edges, NodeVersions, EdgeVersions int64
	Feed                                     []string
}

func snapshot(t tb, s telamentis.Store, tenant string) state {
	t.Helper()
	st, err := s.Stats(t.Context(), tenant)
	if err != nil {
		t.Fatalf("stats %s: %v", tenant, err)
	}
	p := all(t, s, tenant, telamentis.Query{Kind: telamentis.QueryChanges, Limit: telamentis.MaxLimit})
	return state{st.Nodes, st.Edges, st.NodeVersions, st.EdgeVersions, feed(p.Changes)}
}

func feed(cs []telamentis.Change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, changeKey(c))
	}
	slices.Sort(out)
	return out
}

func changeKey(c telamentis.Change) string {
	switch {
	case c.Node != nil:
		n := c.Node
		return fmt.Sprintf("%d %s node %s v%d %s %s %s", us(c.TxTime), c.Op, n.ID, us(n.TxStart), n.Alias, n.Label, canon(n.Props))
	case c.Edge != nil:
		e := c.Edge
		return fmt.Sprintf("%d %s edge %s v%d %s %s>%s %s %s [%d,%d)", us(c.TxTime), c.Op, e.ID, us(e.TxStart), e.Alias,
			e.From, e.To, e.Kind, canon(e.Props), us(e.ValidFrom), us(e.ValidTo))
	}
	return fmt.Sprintf("%d %s <neither node nor edge>", us(c.TxTime), c.Op)
}

// unchanged reports if tenant's state differs from before.
func unchanged(t tb, s telamentis.Store, tenant string, before state, rule string) {
	t.Helper()
	after := snapshot(t, s, tenant)
	if diff := stateDiff(before, after); diff != "" {
		t.Errorf("%s: nothing may be written, but the tenant changed: %s", rule, diff)
	}
}

func stateDiff(a, b state) string {
	if a.Nodes != b.Nodes || a.Edges != b.Edges || a.NodeVersions != b.NodeVersions || a.EdgeVersions != b.EdgeVersions {
		return fmt.Sprintf("stats nodes/edges/node versions/edge versions %d/%d/%d/%d → %d/%d/%d/%d",
			a.Nodes, a.Edges, a.NodeVersions, a.EdgeVersions, b.Nodes, b.Edges, b.NodeVersions, b.EdgeVersions)
	}
	if !slices.Equal(a.Feed, b.Feed) {
		var added, removed []string
		for _, x := range b.Feed {
			if !slices.Contains(a.Feed, x) {
				added = append(added, x)
			}
		}
		for _, x := range a.Feed {
			if !slices.Contains(b.Feed, x) {
				removed = append(removed, x)
			}
		}
		return fmt.Sprintf("changes feed: added %q, removed %q", added, removed)
	}
	return ""
}

func nodeKey(n telamentis.Node) string {
	return fmt.Sprintf("node %s alias=%q %s %s tx[%d,%d)", n.ID, n.Alias, n.Label, canon(n.Props), us(n.TxStart), us(n.TxEnd))
}

func edgeKey(e telamentis.Edge) string {
	return fmt.Sprintf("edge %s alias=%q %s-[%s]->%s %s valid[%d,%d) tx[%d,%d)", e.ID, e.Alias, e.From, e.Kind, e.To,
		canon(e.Props), us(e.ValidFrom), us(e.ValidTo), us(e.TxStart), us(e.TxEnd))
}

func sameNode(t tb, got, want telamentis.Node, rule string) {
	t.Helper()
	if g, w := nodeKey(got), nodeKey(want); g != w {
		t.Errorf("%s:\n got  %s\n want %s", rule, g, w)
	}
}

func sameEdge(t tb, got, want telamentis.Edge, rule string) {
	t.Helper()
	if g, w := edgeKey(got), edgeKey(want); g != w {
		t.Errorf("%s:\n got  %s\n want %s", rule, g, w)
	}
}

func nodeIDs(ns []telamentis.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func edgeIDs(es []telamentis.Edge) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// history returns every version of a node or edge, treating not_found as
// none (an erased record may answer either way).
func history(t tb, s telamentis.Store, tenant string, node bool, id string) telamentis.Page {
	t.Helper()
	q := telamentis.Query{Kind: telamentis.QueryHistory, Limit: telamentis.MaxLimit}
	if node {
		q.Node = &telamentis.Ref{ID: id}
	} else {
		q.Edge = &telamentis.Ref{ID: id}
	}
	pages, err := collect(t, s, tenant, q)
	if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
		return telamentis.Page{}
	}
	if err != nil {
		t.Fatalf("history %s: %v", id, err)
	}
	return merge(t, q, pages)
}

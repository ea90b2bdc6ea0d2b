package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// fe builds a field list: fe("from", "node not found", "to", "…").
func fe(pairs ...string) []telamentis.FieldError {
	var out []telamentis.FieldError
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, telamentis.FieldError{Field: pairs[i], Message: pairs[i+1]})
	}
	return out
}

// wantErr is the whole error a write must answer.
func wantErr(code telamentis.Code, msg string, fields ...string) *telamentis.Error {
	return &telamentis.Error{Code: code, Message: msg, Fields: fe(fields...)}
}

// sameError reports how err differs from want in code, message or field
// list (order included); "" if it does not.
func sameError(err error, want *telamentis.Error) string {
	var got *telamentis.Error
	if !errors.As(err, &got) {
		return fmt.Sprintf("got %v, want %s", err, errString(want))
	}
	if got.Code != want.Code || got.Message != want.Message ||
		!slices.Equal(got.Fields, want.Fields) {
		return fmt.Sprintf("got  %s\nwant %s", errString(got), errString(want))
	}
	return ""
}

func errString(e *telamentis.Error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", e.Code, e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, " [%s: %s]", f.Field, f.Message)
	}
	return b.String()
}

const identRule = "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"

// testWriteErrors runs every kind of bad write the write rules refuse and
// compares the whole error — code, message and every field in order —
// with the one the contract gives, so that every store answers each bad
// write identically. Each write must also change nothing.
func (r *runner) testWriteErrors(t *testing.T) {
	s := r.s
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"}).Node
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"}).Node
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "c", Label: "P"})
	gone := mustNode(t, s, tn, telamentis.NodeInput{Alias: "gone", Label: "P"}).Node
	e := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "e", From: byAlias("a"), To: byAlias("b"), Kind: "K", ValidFrom: day(0)}).Edge
	e2 := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "e2", From: byAlias("a"), To: byAlias("c"), Kind: "K", ValidFrom: day(1), ValidTo: day(5)}).Edge
	egone := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "egone", From: byAlias("b"), To: byAlias("c"), Kind: "K", ValidFrom: day(0)}).Edge
	if _, err := s.RetractEdge(t.Context(), tn, byID(egone.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetractNode(t.Context(), tn, byID(gone.ID)); err != nil {
		t.Fatal(err)
	}
	full := newTenant(t, s, func(tn *telamentis.Tenant) { tn.Quotas = telamentis.Quotas{MaxNodes: 2, MaxEdges: 1} })
	mustNode(t, s, full, telamentis.NodeInput{Alias: "x", Label: "P"})
	mustNode(t, s, full, telamentis.NodeInput{Alias: "y", Label: "P"})
	mustEdge(t, s, full, telamentis.EdgeInput{From: byAlias("x"), To: byAlias("y"), Kind: "K"})

	unknown := newUUID()
	edge := func(f func(*telamentis.EdgeInput)) telamentis.EdgeInput {
		in := telamentis.EdgeInput{From: byAlias("a"), To: byAlias("b"), Kind: "K", ValidFrom: day(1)}
		f(&in)
		return in
	}
	node := func(in telamentis.NodeInput) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.UpsertNode(ctx, tn, in); return err }
	}
	upsertEdge := func(in telamentis.EdgeInput) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.UpsertEdge(ctx, tn, in); return err }
	}
	batch := func(b telamentis.Batch) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.ApplyBatch(ctx, tn, b); return err }
	}
	invalidate := func(ref telamentis.Ref, at time.Time) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.InvalidateEdge(ctx, tn, ref, at); return err }
	}
	retractNode := func(ref telamentis.Ref) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.RetractNode(ctx, tn, ref); return err }
	}
	retractEdge := func(ref telamentis.Ref) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.RetractEdge(ctx, tn, ref); return err }
	}
	erase := func(ref telamentis.Ref) func(context.Context, string) error {
		return func(ctx context.Context, tn string) error { _, err := s.EraseNode(ctx, tn, ref); return err }
	}
	for _, c := range []struct {
		name   string
		tenant string // default tn
		write  func(context.Context, string) error
		want   *telamentis.Error
	}{
		// Nodes.
		{"node bad label", "", node(telamentis.NodeInput{Label: "1P"}),
			wantErr(telamentis.CodeInvalid, "invalid label", "label", identRule)},
		{"node every bad field", "", node(telamentis.NodeInput{ID: "x", Alias: "a\n", Label: "", Props: props(`{"k":1,"k":2}`)}),
			wantErr(telamentis.CodeInvalid, "invalid id", "id", "must be a UUID",
				"alias", "must be valid UTF-8 without NUL or control characters", "label", identRule, "props.k", "duplicate key")},
		{"node unknown id", "", node(telamentis.NodeInput{ID: unknown, Label: "P"}),
			wantErr(telamentis.CodeNotFound, "node not found", "id", "node not found")},
		{"node retracted id", "", node(telamentis.NodeInput{ID: gone.ID, Label: "P"}),
			wantErr(telamentis.CodeNotFound, "node not found", "id", "node not found")},
		{"node alias of another live node", "", node(telamentis.NodeInput{ID: b.ID, Alias: "a", Label: "P"}),
			wantErr(telamentis.CodeConflict, "alias belongs to another live node", "alias", "belongs to another live node")},
		{"node over quota", "full", node(telamentis.NodeInput{Alias: "z", Label: "P"}),
			wantErr(telamentis.CodeQuota, "node quota of 2 reached")},

		// Edges.
		{"edge every bad field", "", upsertEdge(telamentis.EdgeInput{ID: "e", From: telamentis.Ref{}, To: byID("x"), Kind: "a-b",
			ValidFrom: day(2), ValidTo: day(1), Props: props(`[]`)}),
			wantErr(telamentis.CodeInvalid, "invalid id", "id", "must be a UUID", "from", "id or alias required",
				"to.id", "must be a UUID", "kind", identRule, "valid_to", "must be after valid_from", "props", "must be a JSON object")},
		{"edge from missing", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.From = byAlias("nobody") })),
			wantErr(telamentis.CodeNotFound, "node not found", "from", "node not found")},
		{"edge both endpoints missing", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.From, in.To = byAlias("nobody"), byID(unknown) })),
			wantErr(telamentis.CodeNotFound, "node not found", "from", "node not found", "to", "node not found")},
		{"edge to a retracted node", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.To = byID(gone.ID) })),
			wantErr(telamentis.CodeNotFound, "node not found", "to", "node not found")},
		{"edge unknown id and missing to", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.ID, in.To = unknown, byAlias("nobody") })),
			wantErr(telamentis.CodeNotFound, "edge not found", "id", "edge not found", "to", "node not found")},
		{"edge retracted id", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.ID = egone.ID })),
			wantErr(telamentis.CodeNotFound, "edge not found", "id", "edge not found")},
		{"edge new to", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.Alias, in.To = "e", byAlias("c") })),
			wantErr(telamentis.CodeInvalid, "invalid to", "to", "cannot change once the edge exists")},
		{"edge new endpoints by id", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.ID, in.From, in.To = e.ID, byAlias("b"), byAlias("a") })),
			wantErr(telamentis.CodeInvalid, "invalid from", "from", "cannot change once the edge exists", "to", "cannot change once the edge exists")},
		{"edge new to and valid_to before the kept valid_from", "", upsertEdge(edge(func(in *telamentis.EdgeInput) {
			in.Alias, in.ValidFrom, in.ValidTo = "e2", time.Time{}, day(1)
		})), wantErr(telamentis.CodeInvalid, "invalid to", "to", "cannot change once the edge exists", "valid_to", "must be after valid_from")},
		{"edge valid_to before the kept valid_from", "", upsertEdge(edge(func(in *telamentis.EdgeInput) {
			in.Alias, in.To, in.ValidFrom, in.ValidTo = "e2", byAlias("c"), time.Time{}, day(0)
		})), wantErr(telamentis.CodeInvalid, "invalid valid_to", "valid_to", "must be after valid_from")},
		{"new edge valid_to before now", "", upsertEdge(edge(func(in *telamentis.EdgeInput) { in.ValidFrom, in.ValidTo = time.Time{}, day(0) })),
			wantErr(telamentis.CodeInvalid, "invalid valid_to", "valid_to", "must be after valid_from")},
		{"edge alias of another live edge", "", upsertEdge(edge(func(in *telamentis.EdgeInput) {
			in.ID, in.Alias, in.To, in.ValidFrom, in.ValidTo = e2.ID, "e", byAlias("c"), day(1), day(5)
		})), wantErr(telamentis.CodeConflict, "alias belongs to another live edge", "alias", "belongs to another live edge")},
		{"edge over quota", "full", upsertEdge(telamentis.EdgeInput{From: byAlias("y"), To: byAlias("x"), Kind: "K"}),
			wantErr(telamentis.CodeQuota, "edge quota of 1 reached")},

		// Batches.
		{"batch empty", "", batch(telamentis.Batch{}), wantErr(telamentis.CodeInvalid, "invalid batch", "batch", "is empty")},
		{"batch malformed and unresolvable items together", "", batch(telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n0", Label: "P"}, {Alias: "n1", Label: "bad label"}},
			Edges: []telamentis.EdgeInput{
				{From: byAlias("n0"), To: byAlias("nobody"), Kind: "K"},
				{From: byAlias("n0"), To: byAlias("a"), Kind: "K", ValidFrom: day(3), ValidTo: day(2)},
			}}),
			wantErr(telamentis.CodeInvalid, "3 bad batch items", "nodes[1].label", identRule,
				"edges[0].to", "node not found", "edges[1].valid_to", "must be after valid_from")},
		{"batch items with one code", "", batch(telamentis.Batch{
			Nodes: []telamentis.NodeInput{{ID: unknown, Label: "P"}, {Alias: "n1", Label: "P"}},
			Edges: []telamentis.EdgeInput{{From: byAlias("n1"), To: byAlias("nobody"), Kind: "K"}, {From: byAlias("n1"), To: byAlias("a"), Kind: "K"}},
		}), wantErr(telamentis.CodeNotFound, "2 bad batch items", "nodes[0].id", "node not found", "edges[0].to", "node not found")},
		{"batch item naming a bad item's alias", "", batch(telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n0", Label: "1"}},
			Edges: []telamentis.EdgeInput{{From: byAlias("n0"), To: byAlias("a"), Kind: "K"}},
		}), wantErr(telamentis.CodeInvalid, "2 bad batch items", "nodes[0].label", identRule, "edges[0].from", "node not found")},
		{"batch alias taken earlier in the batch", "", batch(telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n0", Label: "P"}, {ID: b.ID, Alias: "n0", Label: "P"}},
		}), wantErr(telamentis.CodeConflict, "1 bad batch item", "nodes[1].alias", "belongs to another live node")},
		{"batch every kind of bad item", "", batch(telamentis.Batch{
			Nodes: []telamentis.NodeInput{{ID: gone.ID, Label: "P"}, {Alias: "b", Label: "P", Props: props(`{"x":`)}},
			Edges: []telamentis.EdgeInput{
				edge(func(in *telamentis.EdgeInput) { in.Alias, in.To = "e", byAlias("c") }),
				edge(func(in *telamentis.EdgeInput) { in.ID, in.Alias, in.To, in.ValidTo = e2.ID, "e", byAlias("c"), day(5) }),
				edge(func(in *telamentis.EdgeInput) { in.ID = egone.ID }),
			}}),
			wantErr(telamentis.CodeInvalid, "5 bad batch items", "nodes[0].id", "node not found",
				"nodes[1].props.x", "malformed JSON: unexpected end",
				"edges[0].to", "cannot change once the edge exists", "edges[1].alias", "belongs to another live edge",
				"edges[2].id", "edge not found")},
		{"batch over quota", "full", batch(telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "z", Label: "P"}}}),
			wantErr(telamentis.CodeQuota, "node quota of 2 reached")},

		// Invalidate.
		{"invalidate no ref", "", invalidate(telamentis.Ref{}, day(9)), wantErr(telamentis.CodeInvalid, "invalid ref", "ref", "id or alias required")},
		{"invalidate bad id", "", invalidate(byID("x"), day(9)), wantErr(telamentis.CodeInvalid, "invalid ref.id", "ref.id", "must be a UUID")},
		{"invalidate without at", "", invalidate(byAlias("e"), time.Time{}), wantErr(telamentis.CodeInvalid, "invalid at", "at", "required")},
		{"invalidate at year 10000", "", invalidate(byAlias("e"), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)),
			wantErr(telamentis.CodeInvalid, "invalid at", "at", "time out of range")},
		{"invalidate unknown edge", "", invalidate(byID(unknown), day(9)), wantErr(telamentis.CodeNotFound, "edge not found")},
		{"invalidate retracted edge", "", invalidate(byAlias("egone"), day(9)), wantErr(telamentis.CodeNotFound, "edge not found")},
		{"invalidate at valid_from", "", invalidate(byAlias("e2"), day(1)),
			wantErr(telamentis.CodeInvalid, "invalid at", "at", "must be after valid_from")},

		// Retract and erase.
		{"retract node no ref", "", retractNode(telamentis.Ref{ID: a.ID, Alias: "a"}),
			wantErr(telamentis.CodeInvalid, "invalid ref", "ref", "give id or alias, not both")},
		{"retract unknown node", "", retractNode(byAlias("nobody")), wantErr(telamentis.CodeNotFound, "node not found")},
		{"retract retracted node", "", retractNode(byID(gone.ID)), wantErr(telamentis.CodeNotFound, "node not found")},
		{"retract edge bad alias", "", retractEdge(byAlias("x\x00")),
			wantErr(telamentis.CodeInvalid, "invalid ref.alias", "ref.alias", "must be valid UTF-8 without NUL or control characters")},
		{"retract unknown edge", "", retractEdge(byID(unknown)), wantErr(telamentis.CodeNotFound, "edge not found")},
		{"retract retracted edge", "", retractEdge(byAlias("egone")), wantErr(telamentis.CodeNotFound, "edge not found")},
		{"erase no ref", "", erase(telamentis.Ref{}), wantErr(telamentis.CodeInvalid, "invalid ref", "ref", "id or alias required")},
		{"erase unknown node", "", erase(byID(unknown)), wantErr(telamentis.CodeNotFound, "node not found")},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			tenant := tn
			if c.tenant == "full" {
				tenant = full
			}
			before := snapshot(t, s, tenant)
			if d := sameError(c.write(t.Context(), tenant), c.want); d != "" {
				t.Errorf("%s: every store answers this bad write with the same whole error:\n%s", c.name, d)
			}
			unchanged(t, s, tenant, before, c.name)
		})
	}
}

// testImportErrors compares the whole errors of bad imports: every store
// validates imported versions by the same rules (graph's import checks)
// and writes nothing.
func (r *runner) testImportErrors(t *testing.T) {
	s := r.s
	imp := s.(telamentis.Importer)
	tn := newTenant(t, s)
	t1 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	n1, n2, e1 := newUUID(), newUUID(), newUUID()
	node := func(f func(*telamentis.Node)) telamentis.Node {
		n := telamentis.Node{ID: n1, Label: "P", Props: props(`{}`), TxStart: t1}
		f(&n)
		return n
	}
	edge := func(f func(*telamentis.Edge)) telamentis.Edge {
		e := telamentis.Edge{ID: e1, From: n1, To: n2, Kind: "K", Props: props(`{}`), ValidFrom: day(0), TxStart: t1}
		f(&e)
		return e
	}
	ends := []telamentis.Node{node(func(*telamentis.Node) {}), node(func(n *telamentis.Node) { n.ID = n2 })}
	for _, c := range []struct {
		name  string
		nodes []telamentis.Node
		edges []telamentis.Edge
		want  *telamentis.Error
	}{
		{"node every bad field", []telamentis.Node{node(func(n *telamentis.Node) { n.ID, n.Alias, n.Label, n.TxStart = "x", "a\n", "1", time.Time{} })}, nil,
			wantErr(telamentis.CodeInvalid, "invalid nodes[0].id", "nodes[0].id", "must be a UUID",
				"nodes[0].alias", "must be valid UTF-8 without NUL or control characters", "nodes[0].label", identRule,
				"nodes[0].tx_start", "required")},
		{"node tx_end not after tx_start", []telamentis.Node{node(func(n *telamentis.Node) { n.TxEnd = t1 })}, nil,
			wantErr(telamentis.CodeInvalid, "invalid nodes[0].tx_end", "nodes[0].tx_end", "must be after tx_start")},
		{"node versions overlap", []telamentis.Node{node(func(n *telamentis.Node) { n.TxEnd = t3 }), node(func(n *telamentis.Node) { n.TxStart = t2 })}, nil,
			wantErr(telamentis.CodeInvalid, "invalid nodes[1].tx_start", "nodes[1].tx_start", "versions of one ID must come in transaction-time order without overlap")},
		{"node props", []telamentis.Node{node(func(n *telamentis.Node) { n.Props = props(`{"a":1,"a":2}`) })}, nil,
			wantErr(telamentis.CodeInvalid, "invalid nodes[0].props.a", "nodes[0].props.a", "duplicate key")},
		{"edge every bad field", ends, []telamentis.Edge{edge(func(e *telamentis.Edge) {
			e.From, e.Kind, e.ValidFrom, e.TxStart, e.TxEnd = "x", "a-b", time.Time{}, t2, t1
		})}, wantErr(telamentis.CodeInvalid, "invalid edges[0].from", "edges[0].from", "must be a UUID", "edges[0].kind", identRule,
			"edges[0].valid_from", "required", "edges[0].tx_end", "must be after tx_start")},
		{"edge valid_to not after valid_from", ends, []telamentis.Edge{edge(func(e *telamentis.Edge) { e.ValidTo = day(0) })},
			wantErr(telamentis.CodeInvalid, "invalid edges[0].valid_to", "edges[0].valid_to", "must be after valid_from")},
		{"edge endpoints differ between versions", ends, []telamentis.Edge{edge(func(e *telamentis.Edge) { e.TxEnd = t2 }),
			edge(func(e *telamentis.Edge) { e.TxStart, e.To = t2, n1 })},
			wantErr(telamentis.CodeInvalid, "invalid edges[1].from", "edges[1].from", "the endpoints of an edge cannot differ between its versions")},
		{"edge versions overlap", ends, []telamentis.Edge{edge(func(e *telamentis.Edge) {}), edge(func(e *telamentis.Edge) { e.TxStart = t2 })},
			wantErr(telamentis.CodeInvalid, "invalid edges[1].tx_start", "edges[1].tx_start", "versions of one ID must come in transaction-time order without overlap")},
		{"edge props", ends, []telamentis.Edge{edge(func(e *telamentis.Edge) { e.Props = props(`[]`) })},
			wantErr(telamentis.CodeInvalid, "invalid edges[0].props", "edges[0].props", "must be a JSON object")},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			before := snapshot(t, s, tn)
			if d := sameError(imp.Import(t.Context(), tn, c.nodes, c.edges), c.want); d != "" {
				t.Errorf("%s: every store refuses this import with the same whole error:\n%s", c.name, d)
			}
			unchanged(t, s, tn, before, c.name)
		})
	}
}

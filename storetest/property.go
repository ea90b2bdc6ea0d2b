package storetest

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/telamentis/telamentis"
)

// defaultChecks is the default number of property test cases, each a
// sequence of about 30 operations (rapid's -rapid.steps); -rapid.checks or
// RAPID_CHECKS override it.
const defaultChecks = 50

// userFlags are the flags set on the command line, read once before the
// suite sets any itself (flag.Set marks a flag as set).
var userFlags = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
})

func flagGiven(name string) bool { return userFlags()[name] }

// setDefault sets a rapid flag for the rest of the test unless the command
// line or the environment gives it.
func setDefault(t *testing.T, name, value string) {
	env := "RAPID_" + strings.ToUpper(strings.TrimPrefix(name, "rapid."))
	if f := flag.Lookup(name); f != nil && !flagGiven(name) && os.Getenv(env) == "" {
		old := f.Value.String()
		flag.Set(name, value)
		t.Cleanup(func() { flag.Set(name, old) })
	}
}

func (r *runner) testProperty(t *testing.T) {
	// A short run by default, and no fail files in the backend's testdata:
	// the printed -rapid.seed reproduces a failure.
	setDefault(t, "rapid.checks", fmt.Sprint(defaultChecks))
	setDefault(t, "rapid.nofailfile", "true")
	t.Run("store", func(t *testing.T) {
		r.property(t, func() telamentis.Store { return r.s }, nil)
	})
	if r.h.Disk == nil {
		return
	}
	// On disk, an extra operation closes and reopens the store: whatever
	// the store keeps in memory must come back from disk.
	t.Run("reopen", func(t *testing.T) {
		setDefault(t, "rapid.checks", fmt.Sprint(defaultChecks/5))
		dir := t.TempDir()
		cur := r.h.Disk(t, dir, true)
		t.Cleanup(func() { cur.Close() })
		r.property(t, func() telamentis.Store { return cur }, func() (telamentis.Store, error) {
			if err := cur.Close(); err != nil {
				return nil, err
			}
			cur = r.h.Disk(t, dir, true)
			return cur, nil
		})
	})
}

func (r *runner) property(t *testing.T, store func() telamentis.Store, reopen func() (telamentis.Store, error)) {
	rapid.Check(t, func(rt *rapid.T) {
		p := &prop{t: rt, s: store(), m: &model{}}
		if rapid.Bool().Draw(rt, "dedicated tenant") {
			p.tenant = newTenant(rt, p.s, dedicated)
		} else {
			p.tenant = newTenant(rt, p.s)
		}
		defer func() { p.s.DropTenant(t.Context(), p.tenant) }()
		actions := map[string]func(*rapid.T){"": func(*rapid.T) { p.check() }}
		for op, name := range opNames {
			actions[fmt.Sprintf("%02d %s", op, name)] = func(*rapid.T) { p.step(op) }
		}
		if reopen != nil {
			actions["99 reopen"] = func(*rapid.T) {
				p.log("close and reopen the store")
				s, err := reopen()
				if err != nil {
					p.fail("close", "%v", err)
				}
				p.s = s
			}
		}
		rt.Repeat(actions)
	})
}

// opNames name the operations of the property test; the repeats weight
// upserts.
var opNames = []string{"upsert node", "upsert node", "upsert node", "upsert edge", "upsert edge", "upsert edge",
	"batch", "invalidate", "retract", "erase", "upsert edge", "upsert node by id",
	"merge", "upsert normalized"} // mergeprop.go

// prop is one run of the property test: the store, the tenant, the model
// and the transaction times observed so far.
type prop struct {
	t      *rapid.T
	s      telamentis.Store
	tenant string
	m      *model
	txs    []int64
	nodeID []string // every node id ever created, including erased ones
	edgeID []string
	ops    []string
}

var (
	nodeAliases = []string{"n0", "n1", "n2", "n3", "n4"}
	edgeAliases = []string{"e0", "e1", "e2", "e3", "e4", "e5"}
	labels      = []string{"Person", "Org", "Person", "Org", "Person", "Org", "Person", "Org", "Person", "bad label"}
	kinds       = []string{"KNOWS", "LIKES", "KNOWS", "LIKES", "KNOWS", "LIKES", "KNOWS", "LIKES", "KNOWS", "bad kind"}
	propDocs    = []string{`{}`, `{"a":1}`, `{"a":2}`, `{"b":"x"}`, `{"a":1,"b":"x"}`}
)

// fail stops the run with the broken rule; rapid then shrinks the
// operation sequence and prints it with the seed that reproduces it.
func (p *prop) fail(rule, format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("rule broken: %s: %s\noperations so far:\n  %s", rule, fmt.Sprintf(format, args...), strings.Join(p.ops, "\n  "))
}

func (p *prop) log(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	p.ops = append(p.ops, s)
}

func (p *prop) lastTx() int64 {
	if len(p.txs) == 0 {
		return 0
	}
	return p.txs[len(p.txs)-1]
}

// written records a write's transaction time, checking that it increases.
func (p *prop) written(tx time.Time, rule string) int64 {
	p.t.Helper()
	us := telamentis.Micros(tx)
	if tx.IsZero() || us <= p.lastTx() {
		p.fail("tx_start strictly increasing per tenant", "%s got tx time %v, previous write was at %v", rule, tx, telamentis.FromMicros(p.lastTx()))
	}
	p.txs = append(p.txs, us)
	return us
}

func drawNodeIn(t *rapid.T, label string) nodeIn {
	return nodeIn{
		Alias: rapid.SampledFrom(nodeAliases).Draw(t, label+" alias"),
		Label: rapid.SampledFrom(labels).Draw(t, label+" label"),
		Props: rapid.SampledFrom(propDocs).Draw(t, label+" props"),
	}
}

// liveAliases returns the aliases of live nodes or edges in the model.
func (m *model) liveAliases(edges bool) []string {
	var out []string
	if edges {
		for _, e := range m.edges {
			if e.TxEnd == telamentis.Open {
				out = append(out, e.Alias)
			}
		}
	} else {
		for _, n := range m.nodes {
			if n.TxEnd == telamentis.Open && n.Alias != "" { // resolution creates nodes without one
				out = append(out, n.Alias)
			}
		}
	}
	slices.Sort(out)
	return out
}

// drawAlias picks, mostly, an alias that exists (live) in the model, so
// that most writes succeed, and otherwise any alias of the pool.
func drawAlias(t *rapid.T, live, pool []string, label string) string {
	if len(live) > 0 && rapid.IntRange(0, 4).Draw(t, label+" existing") > 0 {
		return rapid.SampledFrom(live).Draw(t, label)
	}
	return rapid.SampledFrom(pool).Draw(t, label)
}

func drawEdgeIn(t *rapid.T, m *model, label string) edgeIn {
	nodes := m.liveAliases(false)
	in := edgeIn{
		Alias: drawAlias(t, m.liveAliases(true), edgeAliases, label+" alias"),
		From:  drawAlias(t, nodes, nodeAliases, label+" from"),
		To:    drawAlias(t, nodes, nodeAliases, label+" to"),
		Kind:  rapid.SampledFrom(kinds).Draw(t, label+" kind"),
		Props: rapid.SampledFrom(propDocs[:3]).Draw(t, label+" props"),
	}
	if i := m.edgeAt(telamentis.Ref{Alias: in.Alias}, nowTx); i >= 0 && rapid.IntRange(0, 3).Draw(t, label+" same endpoints") > 0 {
		e := m.edges[i]
		from, to := m.nodes[m.liveNode(telamentis.Ref{ID: e.From})].Alias, m.nodes[m.liveNode(telamentis.Ref{ID: e.To})].Alias
		if from != "" && to != "" { // resolution and merges leave nodes without one
			in.From, in.To = from, to
		}
	}
	vf := rapid.IntRange(-1, 6).Draw(t, label+" valid_from day")
	if vf >= 0 {
		in.VF = us(day(vf))
	}
	switch rapid.IntRange(0, 5).Draw(t, label+" valid_to") {
	case 0: // maybe before valid_from: invalid
		in.VT = us(day(rapid.IntRange(0, 9).Draw(t, label+" valid_to day")))
	case 1, 2:
		in.VT = us(day(max(vf, 0) + rapid.IntRange(1, 4).Draw(t, label+" valid_to days after")))
	}
	return in
}

func (in nodeIn) input() telamentis.NodeInput {
	return telamentis.NodeInput{Alias: in.Alias, Label: in.Label, Props: props(in.Props)}
}

func (in edgeIn) input() telamentis.EdgeInput {
	out := telamentis.EdgeInput{Alias: in.Alias, From: byAlias(in.From), To: byAlias(in.To), Kind: in.Kind, Props: props(in.Props)}
	if in.VF != 0 {
		out.ValidFrom = telamentis.FromMicros(in.VF)
	}
	if in.VT != 0 {
		out.ValidTo = telamentis.FromMicros(in.VT)
	}
	return out
}

// outcome checks the store's error against the simulation: the store must
// fail with one of the simulated codes, or succeed if there are none. It
// reports whether the write succeeded.
func (p *prop) outcome(sm *sim, err error, what string) bool {
	p.t.Helper()
	if len(sm.codes) > 0 {
		got := telamentis.ErrorCode(err)
		if !slices.Contains(sm.codes, got) {
			p.fail("rejected write", "%s must fail with one of %v and write nothing, got %v", what, sm.codes, err)
		}
		return false
	}
	if err != nil {
		p.fail("accepted write", "%s must succeed, got %v", what, err)
	}
	return true
}

func (p *prop) step(op int) {
	t := p.t
	ctx := t.Context()
	switch op {
	case 0, 1, 2: // upsert node
		in := drawNodeIn(t, "node")
		p.log("upsert node %+v", in)
		sm := newSim(p.m)
		exp := sm.node(in)
		res, err := p.s.UpsertNode(ctx, p.tenant, in.input())
		if !p.outcome(sm, err, "upsert node") {
			return
		}
		p.applyUpserts(sm, "upsert node", res.Node.TxStart, []expect{exp}, []telamentis.NodeResult{res}, nil, nil)
	case 3, 4, 5, 10: // upsert edge
		in := drawEdgeIn(t, p.m, "edge")
		p.log("upsert edge %+v", in)
		sm := newSim(p.m)
		exp := sm.edge(in)
		res, err := p.s.UpsertEdge(ctx, p.tenant, in.input())
		if !p.outcome(sm, err, "upsert edge") {
			return
		}
		p.applyUpserts(sm, "upsert edge", res.Edge.TxStart, nil, nil, []expect{exp}, []telamentis.EdgeResult{res})
	case 6: // batch
		var b telamentis.Batch
		var nin []nodeIn
		var ein []edgeIn
		sm := newSim(p.m)
		var nexp, eexp []expect
		for _, a := range p.m.oneAliasPerNode(rapid.SliceOfNDistinct(rapid.SampledFrom(nodeAliases), 0, 3, rapid.ID[string]).Draw(t, "batch node aliases")) {
			in := drawNodeIn(t, "batch node")
			in.Alias = a
			nin = append(nin, in)
			nexp = append(nexp, sm.node(in))
			b.Nodes = append(b.Nodes, in.input())
		}
		// Edges may name nodes of the batch: draw them from the simulated state.
		for _, a := range rapid.SliceOfNDistinct(rapid.SampledFrom(edgeAliases), 0, 3, rapid.ID[string]).Draw(t, "batch edge aliases") {
			in := drawEdgeIn(t, sm.m, "batch edge")
			in.Alias = a
			ein = append(ein, in)
			eexp = append(eexp, sm.edge(in))
			b.Edges = append(b.Edges, in.input())
		}
		if len(nin)+len(ein) == 0 {
			return
		}
		p.log("batch nodes %+v edges %+v", nin, ein)
		res, err := p.s.ApplyBatch(ctx, p.tenant, b)
		if !p.outcome(sm, err, "batch") {
			return
		}
		if len(res.Nodes) != len(nin) || len(res.Edges) != len(ein) {
			p.fail("batch result", "reports %d nodes and %d edges for %d and %d items", len(res.Nodes), len(res.Edges), len(nin), len(ein))
		}
		p.applyUpserts(sm, "batch", res.TxTime, nexp, res.Nodes, eexp, res.Edges)
	case 7: // invalidate
		alias := drawAlias(t, p.m.liveAliases(true), edgeAliases, "invalidate alias")
		at := us(day(rapid.IntRange(0, 9).Draw(t, "invalidate day")))
		p.log("invalidate %s at %v", alias, telamentis.FromMicros(at))
		sm := newSim(p.m)
		exp := sm.invalidate(alias, at)
		res, err := p.s.InvalidateEdge(ctx, p.tenant, byAlias(alias), telamentis.FromMicros(at))
		if !p.outcome(sm, err, "invalidate") {
			return
		}
		p.applyUpserts(sm, "invalidate", res.Edge.TxStart, nil, nil, []expect{exp}, []telamentis.EdgeResult{res})
	case 8: // retract
		sm := newSim(p.m)
		if rapid.Bool().Draw(t, "retract node") {
			ref := p.drawNodeRef("retract")
			p.log("retract node %v", ref)
			n := sm.retractNode(ref)
			res, err := p.s.RetractNode(ctx, p.tenant, ref)
			if !p.outcome(sm, err, "retract node") {
				return
			}
			if res.Nodes != 1 || res.Edges != n {
				p.fail("retract node cascades to its live edges", "result %+v, want 1 node and %d edges", res, n)
			}
			p.m = sm.commit(p.written(res.TxTime, "retract node"), nil, nil)
		} else {
			alias := drawAlias(t, p.m.liveAliases(true), edgeAliases, "retract edge alias")
			p.log("retract edge %s", alias)
			sm.retractEdge(alias)
			res, err := p.s.RetractEdge(ctx, p.tenant, byAlias(alias))
			if !p.outcome(sm, err, "retract edge") {
				return
			}
			if res.Nodes != 0 || res.Edges != 1 {
				p.fail("retract edge", "result %+v, want 0 nodes and 1 edge", res)
			}
			p.m = sm.commit(p.written(res.TxTime, "retract edge"), nil, nil)
		}
	case 11: // upsert node by id
		if len(p.nodeID) == 0 {
			return
		}
		id := rapid.SampledFrom(p.nodeID).Draw(t, "node id")
		in := drawNodeIn(t, "node by id")
		p.log("upsert node by id %s %+v", id, in)
		sm := newSim(p.m)
		exp := sm.nodeByID(id, in)
		res, err := p.s.UpsertNode(ctx, p.tenant, telamentis.NodeInput{ID: id, Label: in.Label, Props: props(in.Props)})
		if !p.outcome(sm, err, "upsert node by id") {
			return
		}
		p.applyUpserts(sm, "upsert node by id", res.Node.TxStart, []expect{exp}, []telamentis.NodeResult{res}, nil, nil)
	case 12:
		p.stepMerge()
	case 13:
		p.stepNormalized()
	case 9: // erase
		ref := p.drawNodeRef("erase")
		p.log("erase node %v", ref)
		sm := newSim(p.m)
		want, _ := sm.erase(ref)
		res, err := p.s.EraseNode(ctx, p.tenant, ref)
		if !p.outcome(sm, err, "erase") {
			return
		}
		if res != want {
			p.fail("erase removes every version of the node and of every edge touching it", "result %+v, want %+v", res, want)
		}
		p.m = sm.commit(0, nil, nil)
	}
}

// drawNodeRef picks an alias, or the id of a node ever created.
func (p *prop) drawNodeRef(label string) telamentis.Ref {
	if len(p.nodeID) > 0 && rapid.Bool().Draw(p.t, label+" by id") {
		return byID(rapid.SampledFrom(p.nodeID).Draw(p.t, label+" id"))
	}
	return byAlias(rapid.SampledFrom(nodeAliases).Draw(p.t, label+" alias"))
}

// applyUpserts checks the store's results for simulated upserts and
// commits the simulation with the store's tx time, ids and valid_from.
func (p *prop) applyUpserts(sm *sim, what string, tx time.Time, nexp []expect, nres []telamentis.NodeResult, eexp []expect, eres []telamentis.EdgeResult) {
	p.t.Helper()
	ids := map[string]string{}
	vfs := map[string]int64{}
	for i, e := range nexp {
		r := nres[i]
		if r.Created != e.created || !e.created && r.Changed != e.changed {
			p.fail("upsert reports created/changed", "%s node item %d: created=%v changed=%v, want %v/%v", what, i, r.Created, r.Changed, e.created, e.changed)
		}
		if strings.HasPrefix(e.id, "new:") {
			if !telamentis.ValidID(r.Node.ID) || slices.Contains(p.nodeID, r.Node.ID) {
				p.fail("a created node gets a new UUID", "%s: id %q", what, r.Node.ID)
			}
			ids[e.id] = r.Node.ID
			p.nodeID = append(p.nodeID, r.Node.ID)
		}
	}
	for i, e := range eexp {
		r := eres[i]
		if r.Created != e.created || !e.created && r.Changed != e.changed {
			p.fail("upsert reports created/changed", "%s edge item %d: created=%v changed=%v, want %v/%v", what, i, r.Created, r.Changed, e.created, e.changed)
		}
		if strings.HasPrefix(e.id, "new:") {
			if !telamentis.ValidID(r.Edge.ID) || slices.Contains(p.edgeID, r.Edge.ID) {
				p.fail("a created edge gets a new UUID", "%s: id %q", what, r.Edge.ID)
			}
			ids[e.id] = r.Edge.ID
			p.edgeID = append(p.edgeID, r.Edge.ID)
			vfs[r.Edge.ID] = us(r.Edge.ValidFrom)
			for _, v := range sm.m.edges {
				d := time.Since(r.Edge.ValidFrom)
				if v.ID == e.id && v.VF == pendingVF && (r.Edge.ValidFrom.IsZero() || d < -time.Minute || d > time.Hour) {
					p.fail("valid_from defaults to now", "%s: valid_from %v", what, r.Edge.ValidFrom)
				}
			}
		}
	}
	var txUS int64
	if sm.wrote {
		txUS = p.written(tx, what)
	}
	p.m = sm.commit(txUS, ids, vfs)
	for i, e := range nexp {
		want := p.m.nodes[p.m.liveNode(byID(sub(ids, e.id)))]
		if g, w := nodeKey(nres[i].Node), nodeKey(toNode(want)); g != w {
			p.fail("upsert returns the current version", "%s node item %d:\n got  %s\n want %s", what, i, g, w)
		}
	}
	for i, e := range eexp {
		want := p.m.edges[p.m.edgeAt(byID(sub(ids, e.id)), nowTx)]
		if g, w := edgeKey(eres[i].Edge), edgeKey(toEdge(want)); g != w {
			p.fail("upsert returns the current version", "%s edge item %d:\n got  %s\n want %s", what, i, g, w)
		}
	}
}

func sub(ids map[string]string, id string) string {
	if r, ok := ids[id]; ok {
		return r
	}
	return id
}

// drawAsAt picks a transaction-time coordinate: now, an observed tx time,
// one microsecond around it, or a time between two of them.
func (p *prop) drawAsAt() (time.Time, string) {
	t := p.t
	if len(p.txs) == 0 || rapid.IntRange(0, 3).Draw(t, "as_at now") == 0 {
		return time.Time{}, "now"
	}
	i := rapid.IntRange(0, len(p.txs)-1).Draw(t, "as_at tx")
	us := p.txs[i] + int64(rapid.IntRange(-1, 1).Draw(t, "as_at offset"))
	if i > 0 && rapid.Bool().Draw(t, "as_at between") {
		us = p.txs[i-1] + (p.txs[i]-p.txs[i-1])/2
	}
	return telamentis.FromMicros(us), fmt.Sprint(telamentis.FromMicros(us))
}

func (p *prop) drawValid(q *telamentis.Query) {
	t := p.t
	at := func(label string) time.Time {
		return day(rapid.IntRange(-1, 10).Draw(t, label)).Add(time.Duration(rapid.SampledFrom([]int{0, 0, 1, 13}).Draw(t, label+" hour")) * time.Hour)
	}
	switch rapid.IntRange(0, 3).Draw(t, "valid filter") {
	case 1:
		q.ValidAt = at("valid_at")
	case 2:
		a := at("between start")
		iv := &telamentis.Interval{Start: a}
		if b := at("between end"); b.After(a) {
			iv.End = b
		}
		q.ValidBetween = iv
	case 3:
		a := at("allen start")
		iv := telamentis.Interval{Start: a}
		if b := at("allen end"); b.After(a) {
			iv.End = b
		}
		q.Allen = &telamentis.AllenFilter{Relation: rapid.SampledFrom(telamentis.AllenRelations).Draw(t, "allen relation"), Interval: iv}
	}
}

func (p *prop) drawLimit() int {
	return rapid.SampledFrom([]int{1, 2, 3, telamentis.MaxLimit}).Draw(p.t, "limit")
}

// page runs q to the end; not_found counts as an empty result when
// notFoundOK (a start or history of a record that is not there).
func (p *prop) page(q telamentis.Query, notFoundOK bool) telamentis.Page {
	p.t.Helper()
	pages, err := collect(p.t, p.s, p.tenant, q)
	if err != nil {
		if notFoundOK && telamentis.ErrorCode(err) == telamentis.CodeNotFound {
			return telamentis.Page{}
		}
		p.fail("query", "%s: %v", qstr(q), err)
	}
	return merge(p.t, q, pages)
}

func (p *prop) check() {
	t := p.t
	ctx := t.Context()
	at, atS := p.drawAsAt()
	atUS := int64(nowTx)
	if !at.IsZero() {
		atUS = us(at)
	}

	// GetNode by every id ever created and by every alias.
	for _, id := range p.nodeID {
		i := p.m.nodeAt(byID(id), atUS)
		g, err := p.s.GetNode(ctx, p.tenant, byID(id), at)
		p.compareGet(i < 0, err, func() (string, string) { return nodeKey(g), nodeKey(toNode(p.m.nodes[i])) }, "get node "+id+" as_at "+atS)
	}
	for _, a := range nodeAliases {
		i := p.m.nodeAt(byAlias(a), atUS)
		g, err := p.s.GetNode(ctx, p.tenant, byAlias(a), at)
		p.compareGet(i < 0, err, func() (string, string) { return nodeKey(g), nodeKey(toNode(p.m.nodes[i])) }, "get node alias "+a+" as_at "+atS)
	}
	for _, id := range p.edgeID {
		i := p.m.edgeAt(byID(id), atUS)
		g, err := p.s.GetEdge(ctx, p.tenant, byID(id), at)
		p.compareGet(i < 0, err, func() (string, string) { return edgeKey(g), edgeKey(toEdge(p.m.edges[i])) }, "get edge "+id+" as_at "+atS)
	}

	for _, a := range edgeAliases {
		i := p.m.edgeAt(byAlias(a), atUS)
		g, err := p.s.GetEdge(ctx, p.tenant, byAlias(a), at)
		p.compareGet(i < 0, err, func() (string, string) { return edgeKey(g), edgeKey(toEdge(p.m.edges[i])) }, "get edge alias "+a+" as_at "+atS)
	}

	switch rapid.IntRange(0, 4).Draw(t, "check query") {
	case 0: // edges
		q := telamentis.Query{Kind: telamentis.QueryEdges, AsAt: at, Limit: p.drawLimit()}
		p.drawValid(&q)
		q.Kinds = rapid.SliceOfDistinct(rapid.SampledFrom([]string{"KNOWS", "LIKES"}), rapid.ID[string]).Draw(t, "kinds")
		if len(p.nodeID) > 0 && rapid.IntRange(0, 2).Draw(t, "edges endpoint filter") == 0 {
			id := rapid.SampledFrom(p.nodeID).Draw(t, "endpoint")
			if rapid.Bool().Draw(t, "endpoint is from") {
				q.From = &telamentis.Ref{ID: id}
			} else {
				q.To = &telamentis.Ref{ID: id}
			}
		}
		got := edgesKeys(p.page(q, q.From != nil || q.To != nil).Edges)
		want := edgesKeys(p.m.queryEdges(q))
		if !slices.Equal(got, want) {
			p.fail("edges query: versions visible at as_at passing the valid-time filter and kinds, ordered by id",
				"%s:\n got  %q\n want %q", qstr(q), got, want)
		}
	case 1: // paths
		if len(p.nodeID) == 0 {
			return
		}
		start := rapid.SampledFrom(p.nodeID).Draw(t, "start")
		q := telamentis.Query{Kind: telamentis.QueryPaths, AsAt: at, Limit: p.drawLimit(), Start: &telamentis.Ref{ID: start},
			Direction: rapid.SampledFrom([]telamentis.Direction{telamentis.DirOut, telamentis.DirIn, telamentis.DirBoth}).Draw(t, "direction"),
			Depth:     rapid.IntRange(1, telamentis.MaxDepth).Draw(t, "depth")}
		q.MinDepth = rapid.IntRange(1, q.Depth).Draw(t, "min_depth")
		q.Kinds = rapid.SliceOfDistinct(rapid.SampledFrom([]string{"KNOWS", "LIKES"}), rapid.ID[string]).Draw(t, "kinds")
		p.drawValid(&q)
		p.checkPaths(q, start, atUS)
	case 2: // history
		node := len(p.edgeID) == 0 || rapid.Bool().Draw(t, "history of node")
		ids := p.nodeID
		if !node {
			ids = p.edgeID
		}
		if len(ids) == 0 {
			return
		}
		id := rapid.SampledFrom(ids).Draw(t, "history id")
		q := telamentis.Query{Kind: telamentis.QueryHistory, Limit: p.drawLimit()}
		if node {
			q.Node = &telamentis.Ref{ID: id}
		} else {
			q.Edge = &telamentis.Ref{ID: id}
		}
		pg := p.page(q, true)
		got := append(nodesKeys(pg.Nodes), edgesKeys(pg.Edges)...)
		if want := p.m.history(node, id); !slices.Equal(got, want) {
			p.fail("history: every stored version ordered by tx_start (none after erase)", "%s:\n got  %q\n want %q", qstr(q), got, want)
		}
	case 3: // nodes
		q := telamentis.Query{Kind: telamentis.QueryNodes, AsAt: at, Limit: p.drawLimit()}
		q.Labels = rapid.SliceOfDistinct(rapid.SampledFrom([]string{"Person", "Org"}), rapid.ID[string]).Draw(t, "labels")
		if rapid.IntRange(0, 3).Draw(t, "alias filter") == 0 {
			q.Alias = rapid.SampledFrom(nodeAliases).Draw(t, "alias")
		}
		got := nodesKeys(p.page(q, false).Nodes)
		if want := nodesKeys(p.m.queryNodes(q)); !slices.Equal(got, want) {
			p.fail("nodes query: versions visible at as_at with the labels and alias, ordered by id", "%s:\n got  %q\n want %q", qstr(q), got, want)
		}
	case 4: // changes
		q := telamentis.Query{Kind: telamentis.QueryChanges, Limit: p.drawLimit()}
		since, until := int64(math.MinInt64), telamentis.Open
		if !at.IsZero() {
			q.Since, since = at, atUS
			if a2, _ := p.drawAsAt(); a2.After(at) {
				q.Until, until = a2, us(a2)
			}
		}
		pg := p.page(q, false)
		for i := 1; i < len(pg.Changes); i++ {
			if pg.Changes[i].TxTime.Before(pg.Changes[i-1].TxTime) {
				p.fail("changes are ordered by time", "%s: %v after %v", qstr(q), pg.Changes[i].TxTime, pg.Changes[i-1].TxTime)
			}
		}
		if got, want := feed(pg.Changes), p.m.changes(since, until); !slices.Equal(got, want) {
			p.fail("changes: every version written or closed in [since, until)", "%s:\n got  %q\n want %q", qstr(q), got, want)
		}
	}
}

func (p *prop) compareGet(missing bool, err error, keys func() (string, string), what string) {
	p.t.Helper()
	if missing {
		if telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			p.fail("get returns the version visible at as_at", "%s: want not_found (no visible version), got %v", what, err)
		}
		return
	}
	if err != nil {
		p.fail("get returns the version visible at as_at", "%s: %v", what, err)
	}
	if g, w := keys(); g != w {
		p.fail("get returns the version visible at as_at", "%s:\n got  %s\n want %s", what, g, w)
	}
}

func (p *prop) checkPaths(q telamentis.Query, start string, at int64) {
	p.t.Helper()
	pg := p.page(q, true)
	if p.m.nodeAt(byID(start), at) < 0 {
		if len(pg.Neighbors) > 0 {
			p.fail("paths from a node not visible at as_at are empty (or not_found)", "%s: %d neighbours", qstr(q), len(pg.Neighbors))
		}
		return
	}
	depth, levels, es := p.m.paths(q, start)
	var want []string
	for id, d := range depth {
		want = append(want, fmt.Sprintf("%d %s", d, id))
	}
	slices.SortFunc(want, func(a, b string) int {
		var da, db int
		var ia, ib string
		fmt.Sscan(a, &da, &ia)
		fmt.Sscan(b, &db, &ib)
		if da != db {
			return da - db
		}
		return strings.Compare(ia, ib)
	})
	var got []string
	for _, nb := range pg.Neighbors {
		got = append(got, fmt.Sprintf("%d %s", nb.Depth, nb.Node.ID))
	}
	if !slices.Equal(got, want) {
		p.fail("paths: each node a walk of min_depth..depth edges reaches, once, at its smallest such depth, ordered by (depth, id)",
			"%s:\n got  %q\n want %q", qstr(q), got, want)
	}
	for _, nb := range pg.Neighbors {
		if i := p.m.nodeAt(byID(nb.Node.ID), at); i < 0 || nodeKey(nb.Node) != nodeKey(toNode(p.m.nodes[i])) {
			p.fail("paths report the neighbour's version visible at as_at", "%s: %s", qstr(q), nodeKey(nb.Node))
		}
		ok := false
		for _, e := range es {
			if e.ID != nb.Via.ID || edgeKey(toEdge(e)) != edgeKey(nb.Via) {
				continue
			}
			prev := levels[nb.Depth-1]
			if q.Direction != telamentis.DirIn && e.To == nb.Node.ID && prev[e.From] || q.Direction != telamentis.DirOut && e.From == nb.Node.ID && prev[e.To] {
				ok = true
			}
		}
		if !ok {
			p.fail("paths: via is a qualifying edge version over which a walk of that depth reaches the node", "%s: %s via %s", qstr(q), nb.Node.ID, edgeKey(nb.Via))
		}
	}
}

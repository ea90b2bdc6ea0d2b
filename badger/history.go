package badger

import (
	"math"
	"slices"

	"github.com/telamentis/telamentis"
)

// The history and changes queries of the embedded store.

func (ts *tenantState) queryHistory(q *telamentis.Query, pos position, vis int64) ([]telamentis.Node, []telamentis.Edge, *position, error) {
	start := pos.idx
	if q.Node != nil {
		rec := ts.historyNode(*q.Node)
		if rec == nil {
			return nil, nil, nil, telamentis.NotFound("node")
		}
		var out []telamentis.Node
		i := start
		for ; i < len(rec.vers) && len(out) < q.Limit; i++ {
			if rec.vers[i].txStart <= vis {
				out = append(out, toNode(rec, &rec.vers[i], vis))
			}
		}
		if i < len(rec.vers) && rec.vers[i].txStart <= vis {
			return out, nil, &position{idx: i}, nil
		}
		return out, nil, nil, nil
	}
	rec := ts.historyEdge(*q.Edge)
	if rec == nil {
		return nil, nil, nil, telamentis.NotFound("edge")
	}
	var out []telamentis.Edge
	i := start
	for ; i < len(rec.vers) && len(out) < q.Limit; i++ {
		if rec.vers[i].txStart <= vis {
			out = append(out, toEdge(rec, &rec.vers[i], vis))
		}
	}
	if i < len(rec.vers) && rec.vers[i].txStart <= vis {
		return nil, out, &position{idx: i}, nil
	}
	return nil, out, nil, nil
}

// historyNode resolves a history target: by ID any stored node; by alias
// the live owner, else the node that had the alias most recently.
func (ts *tenantState) historyNode(r telamentis.Ref) *nodeRec {
	if r.ID != "" {
		id, err := parseID(r.ID)
		if err != nil {
			return nil
		}
		return ts.nodes[id]
	}
	var best *nodeRec
	var bestT int64 = math.MinInt64
	vis := ts.visible.Load()
	for _, rec := range ts.nodeAliases[r.Alias] {
		for i := range rec.vers {
			v := &rec.vers[i]
			if v.alias == r.Alias && v.txStart <= vis && v.txStart > bestT {
				best, bestT = rec, v.txStart
			}
		}
	}
	return best
}

func (ts *tenantState) historyEdge(r telamentis.Ref) *edgeRec {
	if r.ID != "" {
		id, err := parseID(r.ID)
		if err != nil {
			return nil
		}
		return ts.edgeByID(id)
	}
	var best *edgeRec
	var bestT int64 = math.MinInt64
	vis := ts.visible.Load()
	for _, rec := range ts.edgeAliases[r.Alias] {
		for i := range rec.vers {
			v := &rec.vers[i]
			if v.alias == r.Alias && v.txStart <= vis && v.txStart > bestT {
				best, bestT = rec, v.txStart
			}
		}
	}
	return best
}

func (ts *tenantState) queryChanges(q *telamentis.Query, pos position, vis int64) ([]telamentis.Change, *position, error) {
	since := int64(math.MinInt64)
	if !q.Since.IsZero() {
		since = telamentis.Micros(q.Since)
	}
	until := vis + 1
	if pos.hasPos {
		until = pos.until
	} else if !q.Until.IsZero() {
		until = min(telamentis.Micros(q.Until), vis+1)
	}
	evs := ts.sortedEvents()
	var i int
	if pos.hasPos {
		i, _ = slices.BinarySearchFunc(evs, pos, func(ev event, p position) int {
			if ev.t != p.ev.t {
				if ev.t < p.ev.t {
					return -1
				}
				return 1
			}
			if ev.tag() != p.evTag {
				return int(ev.tag()) - int(p.evTag)
			}
			if c := cmpID(ev.id(), p.id); c != 0 {
				return c
			}
			if ev.op <= p.ev.op {
				return -1 // at or before the cursor: skip
			}
			return 1
		})
	} else {
		i, _ = slices.BinarySearchFunc(evs, since, func(ev event, t int64) int {
			if ev.t < t {
				return -1
			}
			return 1
		})
	}
	var out []telamentis.Change
	for ; i < len(evs) && evs[i].t < until; i++ {
		ev := &evs[i]
		if ev.t < since {
			continue
		}
		if len(out) == q.Limit {
			last := &evs[i-1]
			return out, &position{until: until, ev: event{t: last.t, op: last.op}, evTag: last.tag(), id: last.id()}, nil
		}
		c := telamentis.Change{TxTime: telamentis.FromMicros(ev.t), Op: telamentis.ChangeWrite}
		if ev.op == 0 {
			c.Op = telamentis.ChangeClose
		}
		if ev.n != nil {
			n := toNode(ev.n, &ev.n.vers[ev.vi], vis)
			c.Node = &n
		} else {
			e := toEdge(ev.e, &ev.e.vers[ev.vi], vis)
			c.Edge = &e
		}
		out = append(out, c)
	}
	return out, nil, nil
}

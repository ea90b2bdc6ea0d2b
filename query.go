package telamentis

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// QueryKind selects what a Query returns.
type QueryKind string

// The query kinds.
const (
	// QueryNodes returns node versions visible at AsAt, filtered by labels,
	// alias and top-level property equality. Ordered by node ID.
	QueryNodes QueryKind = "nodes"
	// QueryEdges returns edge versions visible at AsAt that pass the valid-time
	// filters, filtered by From, To and kinds. Ordered by edge ID.
	QueryEdges QueryKind = "edges"
	// QueryPaths returns the neighbourhood of Start: every distinct node that
	// a walk of k edges reaches, MinDepth ≤ k ≤ Depth, over edges visible at
	// AsAt, passing the valid-time filters and of the given kinds, in
	// Direction. Each node is reported once, with the smallest such k and an
	// edge over which the walk reached it. Ordered by (depth, node ID).
	QueryPaths QueryKind = "paths"
	// QueryHistory returns every stored version of one node or edge, ordered
	// by TxStart.
	QueryHistory QueryKind = "history"
	// QueryChanges returns every stored version that was written (TxStart)
	// or closed (TxEnd) in the transaction-time window [Since, Until),
	// ordered by that time.
	QueryChanges QueryKind = "changes"
)

// Direction is the direction of traversal for QueryPaths.
type Direction string

// Directions.
const (
	DirOut  Direction = "out"
	DirIn   Direction = "in"
	DirBoth Direction = "both"
)

// AllenFilter keeps edges whose valid interval stands in Relation to
// Interval ("edge REL interval").
type AllenFilter struct {
	Relation Allen    `json:"relation"`
	Interval Interval `json:"interval"`
}

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxDepth     = 4
)

// Query is one read. AsAt is the transaction-time coordinate (zero = now,
// current knowledge). At most one of ValidAt, ValidBetween and Allen filters
// valid time; they apply to edges. Cursor continues a previous page of the
// same query and tenant; any other use is rejected as invalid.
type Query struct {
	Kind         QueryKind    `json:"kind"`
	AsAt         time.Time    `json:"as_at,omitzero"`
	ValidAt      time.Time    `json:"valid_at,omitzero"`
	ValidBetween *Interval    `json:"valid_between,omitempty"`
	Allen        *AllenFilter `json:"allen,omitempty"`

	// nodes
	Labels []string                   `json:"labels,omitempty"`
	Alias  string                     `json:"alias,omitempty"`
	Props  map[string]json.RawMessage `json:"props,omitempty"`

	// edges and paths
	From  *Ref     `json:"from,omitempty"`
	To    *Ref     `json:"to,omitempty"`
	Kinds []string `json:"kinds,omitempty"`

	// IncludeNodes (edges only) also returns, in Page.Nodes, every distinct
	// endpoint node of the page's edges: the version visible at the page's
	// transaction time (AsAt, or the "now" the first page resolved),
	// ordered by node ID. An endpoint not visible then (possible only for
	// imported data) is left out. It saves a GetNode per neighbour; the
	// cursor binds it like every other field.
	IncludeNodes bool `json:"include_nodes,omitempty"`

	// paths
	Start     *Ref      `json:"start,omitempty"`
	Direction Direction `json:"direction,omitempty"`
	Depth     int       `json:"depth,omitempty"`
	MinDepth  int       `json:"min_depth,omitempty"`

	// IDsOnly (paths only) returns each Neighbor with identifiers only:
	// Node.ID, Depth, Via.ID, Via.From and Via.To; every other field is
	// zero (no props, labels, aliases, kinds or times; in JSON the node is
	// {"id"} and the via edge {"id","from","to"}). The rows, their order,
	// paging and the as_at and valid-time filters are those of the same
	// query without it. It answers reachability ("who is within k hops")
	// without reading or sending anyone's props, and lets a store skip
	// fetching the nodes and via edges the walk already identified. The
	// cursor binds it like every other field.
	IDsOnly bool `json:"ids_only,omitempty"`

	// history: exactly one of Node and Edge
	Node *Ref `json:"node,omitempty"`
	Edge *Ref `json:"edge,omitempty"`

	// changes: transaction-time window [Since, Until); zero Until = now
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`

	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Neighbor is one result of QueryPaths. With Query.IDsOnly only Node.ID,
// Depth, Via.ID, Via.From and Via.To are set.
type Neighbor struct {
	Node  Node `json:"node"`
	Depth int  `json:"depth"`
	Via   Edge `json:"via"`
}

// MarshalJSON writes a Neighbor as its fields, except that one of a
// Query.IDsOnly page (recognised by the zero TxStart of both its node and
// its via edge, which no stored version has) is written with its
// identifiers only: {"node":{"id"},"depth","via":{"id","from","to"}}, so
// that no empty props, label or zero time is sent.
func (n Neighbor) MarshalJSON() ([]byte, error) {
	if !n.Node.TxStart.IsZero() || !n.Via.TxStart.IsZero() {
		type plain Neighbor // without this method
		return json.Marshal(plain(n))
	}
	type nodeID struct {
		ID string `json:"id"`
	}
	type edgeIDs struct {
		ID   string `json:"id"`
		From string `json:"from"`
		To   string `json:"to"`
	}
	return json.Marshal(struct {
		Node  nodeID  `json:"node"`
		Depth int     `json:"depth"`
		Via   edgeIDs `json:"via"`
	}{nodeID{n.Node.ID}, n.Depth, edgeIDs{n.Via.ID, n.Via.From, n.Via.To}})
}

// ChangeOp says what a Change records.
type ChangeOp string

// Change operations.
const (
	ChangeWrite ChangeOp = "write" // a version was written (its TxStart)
	ChangeClose ChangeOp = "close" // a version was closed (its TxEnd)
)

// Change is one entry of the QueryChanges feed: the version, what happened
// to it, and when. Exactly one of Node and Edge is set.
type Change struct {
	TxTime time.Time `json:"tx_time"`
	Op     ChangeOp  `json:"op"`
	Node   *Node     `json:"node,omitempty"`
	Edge   *Edge     `json:"edge,omitempty"`
}

// Page is one page of query results; only the list of the query's kind is
// set, except that an edges query with IncludeNodes also sets Nodes (the
// endpoints of Edges, not counted against the limit). NextCursor is empty
// on the last page.
type Page struct {
	Nodes      []Node     `json:"nodes,omitempty"`
	Edges      []Edge     `json:"edges,omitempty"`
	Neighbors  []Neighbor `json:"neighbors,omitempty"`
	Changes    []Change   `json:"changes,omitempty"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// Normalize validates q and fills defaults: Limit (DefaultLimit), Direction
// (out), Depth (1), MinDepth (1). Times are normalised. It does not resolve
// "now"; stores do that once and carry it in the cursor.
func (q Query) Normalize() (Query, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return q, Invalid("limit", "must be 1 to %d", MaxLimit)
	}
	if len(q.Cursor) > 4096 {
		return q, Invalid("cursor", "malformed")
	}
	if err := checkTime("as_at", q.AsAt); err != nil {
		return q, err
	}
	q.AsAt = NormalizeTime(q.AsAt)
	nValid := 0
	if !q.ValidAt.IsZero() {
		nValid++
		if err := checkTime("valid_at", q.ValidAt); err != nil {
			return q, err
		}
		q.ValidAt = NormalizeTime(q.ValidAt)
	}
	if q.ValidBetween != nil {
		nValid++
		if err := q.ValidBetween.Validate("valid_between"); err != nil {
			return q, err
		}
		iv := Interval{NormalizeTime(q.ValidBetween.Start), NormalizeTime(q.ValidBetween.End)}
		q.ValidBetween = &iv
	}
	if q.Allen != nil {
		nValid++
		if !q.Allen.Relation.Valid() {
			return q, Invalid("allen.relation", "must be one of Allen's 13 relations")
		}
		if err := q.Allen.Interval.Validate("allen.interval"); err != nil {
			return q, err
		}
		a := AllenFilter{q.Allen.Relation, Interval{NormalizeTime(q.Allen.Interval.Start), NormalizeTime(q.Allen.Interval.End)}}
		q.Allen = &a
	}
	if nValid > 1 {
		return q, Invalid("valid_at", "give at most one of valid_at, valid_between and allen")
	}
	for _, k := range q.Kinds {
		if !ValidIdentifier(k) {
			return q, Invalid("kinds", "%q is not a valid kind", k)
		}
	}
	for _, l := range q.Labels {
		if !ValidIdentifier(l) {
			return q, Invalid("labels", "%q is not a valid label", l)
		}
	}
	onlyFor := func(field string, set bool, kinds ...QueryKind) error {
		if !set {
			return nil
		}
		for _, k := range kinds {
			if q.Kind == k {
				return nil
			}
		}
		return Invalid(field, "not allowed for a %s query", q.Kind)
	}
	checks := []error{
		onlyFor("valid_at", nValid > 0, QueryEdges, QueryPaths),
		onlyFor("as_at", !q.AsAt.IsZero(), QueryNodes, QueryEdges, QueryPaths),
		onlyFor("labels", len(q.Labels) > 0, QueryNodes),
		onlyFor("alias", q.Alias != "", QueryNodes),
		onlyFor("props", len(q.Props) > 0, QueryNodes),
		onlyFor("from", q.From != nil, QueryEdges),
		onlyFor("to", q.To != nil, QueryEdges),
		onlyFor("include_nodes", q.IncludeNodes, QueryEdges),
		onlyFor("kinds", len(q.Kinds) > 0, QueryEdges, QueryPaths),
		onlyFor("start", q.Start != nil, QueryPaths),
		onlyFor("direction", q.Direction != "", QueryPaths),
		onlyFor("depth", q.Depth != 0, QueryPaths),
		onlyFor("min_depth", q.MinDepth != 0, QueryPaths),
		onlyFor("ids_only", q.IDsOnly, QueryPaths),
		onlyFor("node", q.Node != nil, QueryHistory),
		onlyFor("edge", q.Edge != nil, QueryHistory),
		onlyFor("since", !q.Since.IsZero(), QueryChanges),
		onlyFor("until", !q.Until.IsZero(), QueryChanges),
	}
	for _, err := range checks {
		if err != nil {
			return q, err
		}
	}
	switch q.Kind {
	case QueryNodes:
		if q.Alias != "" {
			if err := validAlias(q.Alias); err != nil {
				return q, err
			}
		}
		if len(q.Props) > 64 {
			return q, Invalid("props", "at most 64 filters")
		}
		props := make(map[string]json.RawMessage, len(q.Props)) // the caller's map stays as it was
		for k, v := range q.Props {
			if k == "" || len(k) > maxKeyBytes || !validText(k) {
				return q, Invalid("props", "bad key %q", k)
			}
			c, err := canonicalValue(v)
			if err != nil {
				return q, prefixFields(err, "props."+k)
			}
			props[k] = c
		}
		if q.Props != nil {
			q.Props = props
		}
	case QueryEdges:
		for name, r := range map[string]*Ref{"from": q.From, "to": q.To} {
			if r != nil {
				if err := r.Validate(name); err != nil {
					return q, err
				}
			}
		}
	case QueryPaths:
		if q.Start == nil {
			return q, Invalid("start", "required")
		}
		if err := q.Start.Validate("start"); err != nil {
			return q, err
		}
		switch q.Direction {
		case "":
			q.Direction = DirOut
		case DirOut, DirIn, DirBoth:
		default:
			return q, Invalid("direction", "must be out, in or both")
		}
		if q.Depth == 0 {
			q.Depth = 1
		}
		if q.Depth < 1 || q.Depth > MaxDepth {
			return q, Invalid("depth", "must be 1 to %d", MaxDepth)
		}
		if q.MinDepth == 0 {
			q.MinDepth = 1
		}
		if q.MinDepth < 1 || q.MinDepth > q.Depth {
			return q, Invalid("min_depth", "must be 1 to depth")
		}
	case QueryHistory:
		switch {
		case q.Node != nil && q.Edge != nil:
			return q, Invalid("node", "give node or edge, not both")
		case q.Node != nil:
			if err := q.Node.Validate("node"); err != nil {
				return q, err
			}
		case q.Edge != nil:
			if err := q.Edge.Validate("edge"); err != nil {
				return q, err
			}
		default:
			return q, Invalid("node", "node or edge required")
		}
	case QueryChanges:
		if err := checkTime("since", q.Since); err != nil {
			return q, err
		}
		if err := checkTime("until", q.Until); err != nil {
			return q, err
		}
		q.Since, q.Until = NormalizeTime(q.Since), NormalizeTime(q.Until)
		if !q.Until.IsZero() && !q.Until.After(q.Since) {
			return q, Invalid("until", "must be after since")
		}
	default:
		return q, Invalid("kind", "must be nodes, edges, paths, history or changes")
	}
	return q, nil
}

// ValidFilter returns the query's valid-time predicate on an edge's valid
// span, or nil when the query has no valid-time filter.
func (q *Query) ValidFilter() func(Span) bool {
	switch {
	case !q.ValidAt.IsZero():
		t := Micros(q.ValidAt)
		return func(s Span) bool { return s.Contains(t) }
	case q.ValidBetween != nil:
		w := SpanOf(*q.ValidBetween)
		return func(s Span) bool { return s.Overlaps(w) }
	case q.Allen != nil:
		w, rel := SpanOf(q.Allen.Interval), q.Allen.Relation
		return func(s Span) bool { return Relate(s, w) == rel }
	}
	return nil
}

// canonicalValue canonicalises one JSON value (a props filter value) by
// wrapping it in an object.
func canonicalValue(v json.RawMessage) (json.RawMessage, error) {
	if len(v) == 0 {
		return nil, Invalid("", "value required")
	}
	if !json.Valid(v) { // one value, so that `1,"w":2` cannot add keys to the wrapper
		return nil, Invalid("", "must be one JSON value")
	}
	wrapped := make([]byte, 0, len(v)+6)
	wrapped = append(wrapped, `{"v":`...)
	wrapped = append(wrapped, v...)
	wrapped = append(wrapped, '}')
	c, err := CanonicalProps(wrapped)
	if err != nil {
		// Field paths start with the wrapper's key "v": drop it.
		if e, ok := err.(*Error); ok {
			for i, f := range e.Fields {
				e.Fields[i].Field = strings.TrimPrefix(strings.TrimPrefix(f.Field, "v"), ".")
			}
		}
		return nil, err
	}
	return c[5 : len(c)-1], nil
}

// PropEquals reports whether canonical props hold, at top-level key k, the
// canonical value v.
func PropEquals(props json.RawMessage, k string, v json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(props, &m) != nil {
		return false
	}
	got, ok := m[k]
	return ok && string(got) == string(v)
}

// Querier answers queries: every Store, and the HTTP client.
type Querier interface {
	Query(ctx context.Context, tenant string, q Query) (Page, error)
}

// EachPage runs q with s and calls fn with every page, following the
// cursors, until the last page or until fn returns an error.
func EachPage(ctx context.Context, s Querier, tenant string, q Query, fn func(Page) error) error {
	for {
		p, err := s.Query(ctx, tenant, q)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.NextCursor == "" {
			return nil
		}
		q.Cursor = p.NextCursor
	}
}

package graph

import (
	"strconv"
	"time"

	"github.com/telamentis/telamentis"
)

// The validation rules of telamentis.Importer (restores and benchmarks,
// which write versions with their original transaction times). Each
// store keeps its own fast path for grouping, encoding and writing the
// versions, and calls these for every version, so that every store
// refuses the same input with the same error. A call is refused at its
// first bad version; the error names every bad field of that version,
// prefixed with its position ("nodes[3].tx_end").

// CheckImportNode validates version i of an import's nodes: ID, alias,
// label and transaction times. It returns the ID in binary form. Props are
// canonicalised by the store; ImportPropsError names their error.
func CheckImportNode(i int, n *telamentis.Node) (id [16]byte, err error) {
	var f fieldList
	id, ok := telamentis.ParseID(n.ID)
	if !ok {
		f.add("id", "must be a UUID")
	}
	f.addErr(aliasErr(n.Alias))
	if !telamentis.ValidIdentifier(n.Label) {
		f.add("label", identRule)
	}
	f.txTimes(n.TxStart, n.TxEnd)
	return id, f.at("nodes", i)
}

// CheckImportEdge validates version i of an import's edges: ID,
// endpoints, kind, alias, valid and transaction times. It returns the ID
// and the endpoints in binary form.
func CheckImportEdge(i int, e *telamentis.Edge) (ids [3][16]byte, err error) {
	var f fieldList
	var ok [3]bool
	ids[0], ok[0] = telamentis.ParseID(e.ID)
	ids[1], ok[1] = telamentis.ParseID(e.From)
	ids[2], ok[2] = telamentis.ParseID(e.To)
	if !ok[0] {
		f.add("id", "must be a UUID")
	}
	f.addErr(aliasErr(e.Alias))
	if !ok[1] {
		f.add("from", "must be a UUID")
	}
	if !ok[2] {
		f.add("to", "must be a UUID")
	}
	if !telamentis.ValidIdentifier(e.Kind) {
		f.add("kind", identRule)
	}
	switch {
	case e.ValidFrom.IsZero():
		f.add("valid_from", "required")
	case !inRange(e.ValidFrom):
		f.add("valid_from", "time out of range")
	}
	switch {
	case !e.ValidTo.IsZero() && !inRange(e.ValidTo):
		f.add("valid_to", "time out of range")
	case !e.ValidFrom.IsZero() && telamentis.Micros(e.ValidTo) <= telamentis.Micros(e.ValidFrom):
		f.add("valid_to", "must be after valid_from")
	}
	f.txTimes(e.TxStart, e.TxEnd)
	return ids, f.at("edges", i)
}

// ImportOverlap is the error of version i of list ("nodes", "edges") when
// it starts before the previous version of its ID ends: the versions of
// an ID come in one call, in transaction-time order, without overlap.
func ImportOverlap(list string, i int) error {
	return telamentis.Invalid(list+"["+strconv.Itoa(i)+"].tx_start", "versions of one ID must come in transaction-time order without overlap")
}

// ImportEndpoints is the error of edge version i when its endpoints
// differ from an earlier version of the same edge.
func ImportEndpoints(i int) error {
	return telamentis.Invalid("edges["+strconv.Itoa(i)+"].from", "the endpoints of an edge cannot differ between its versions")
}

// ImportPropsError names the fields of err, the props error of version i
// of list, under "list[i].props".
func ImportPropsError(list string, i int, err error) error {
	var f fieldList
	for _, fe := range telamentis.ErrorFields(err) {
		name := "props"
		if fe.Field != "" {
			name += "." + fe.Field
		}
		f.add(name, fe.Message)
	}
	if len(f) == 0 {
		f.add("props", telamentis.ErrorMessage(err))
	}
	return f.at(list, i)
}

const identRule = "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"

func aliasErr(alias string) error {
	if alias == "" {
		return nil
	}
	return telamentis.Ref{Alias: alias}.Validate("")
}

func inRange(t time.Time) bool { return telamentis.CheckTime("", t) == nil }

func (f *fieldList) addErr(err error) {
	for _, fe := range telamentis.ErrorFields(err) {
		f.add(fe.Field, fe.Message)
	}
}

// txTimes checks a version's transaction time: tx_start required, tx_end
// open or after it, both in range.
func (f *fieldList) txTimes(start, end time.Time) {
	switch {
	case start.IsZero():
		f.add("tx_start", "required")
	case !inRange(start):
		f.add("tx_start", "time out of range")
	}
	switch {
	case !end.IsZero() && !inRange(end):
		f.add("tx_end", "time out of range")
	case !start.IsZero() && telamentis.Micros(end) <= telamentis.Micros(start):
		f.add("tx_end", "must be after tx_start")
	}
}

// at returns the fields as one invalid error of item i of list, or nil.
func (f fieldList) at(list string, i int) error {
	if len(f) == 0 {
		return nil
	}
	prefix := list + "[" + strconv.Itoa(i) + "]."
	for k := range f {
		f[k].Field = prefix + f[k].Field
	}
	return f.invalid()
}

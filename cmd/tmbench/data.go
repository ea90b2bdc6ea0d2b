package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/telamentis/telamentis"
)

// csvTimeLayout is the timestamp format of the kggen CSVs ("+00" = UTC).
const csvTimeLayout = "2006-01-02 15:04:05-07"

// csvOpen is the kggen sentinel for an open valid_to or tx_end; it maps to
// the zero time (telamentis' open end).
const csvOpen = "9999-12-31 23:59:59+00"

// nodeTxStart is the transaction time given to every imported node. The
// bench data has no node history; every edge version and every as-at query
// of the workload lies after it (readEdges checks the edges).
var nodeTxStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// tenantID maps a bench tenant number to a TelaMentis tenant ID.
func tenantID(t int) string { return "bench-" + strconv.Itoa(t) }

// The deterministic UUIDs of bench ids: a fixed first group says what the id
// names ("node" and "edge" in ASCII hex), the last group holds the integer,
// so IDs sort like the integers and nodes never collide with edges.
const (
	nodeTag = "6e6f6465"
	edgeTag = "65646765"
)

// nodeUUID returns the TelaMentis ID of bench node id.
func nodeUUID(id int64) string { return benchUUID(nodeTag, id) }

// edgeUUID returns the TelaMentis ID of bench edge id.
func edgeUUID(id int64) string { return benchUUID(edgeTag, id) }

func benchUUID(tag string, id int64) string {
	const hex = "0123456789abcdef"
	b := []byte(tag + "-0000-8000-8000-000000000000")
	v := uint64(id)
	for i := len(b) - 1; i >= len(b)-12; i-- {
		b[i] = hex[v&0xf]
		v >>= 4
	}
	return string(b)
}

// benchID is the inverse of nodeUUID and edgeUUID: it returns the integer
// and whether s is a bench UUID with the given tag.
func benchID(tag, s string) (int64, bool) {
	if len(s) != 36 || s[:8] != tag || s[8:24] != "-0000-8000-8000-" {
		return 0, false
	}
	v, err := strconv.ParseUint(s[24:], 16, 48)
	if err != nil {
		return 0, false
	}
	return int64(v), true
}

// parseTS parses a kggen timestamp. The sentinel and the empty string
// become the zero time. The fixed-width UTC form is parsed by hand (the
// loader parses millions of them); anything else goes through time.Parse.
func parseTS(s string) (time.Time, error) {
	if s == "" || s == csvOpen {
		return time.Time{}, nil
	}
	if len(s) == 22 && s[4] == '-' && s[7] == '-' && s[10] == ' ' && s[13] == ':' && s[16] == ':' && s[19:] == "+00" {
		n := func(a, b int) (int, bool) {
			v := 0
			for i := a; i < b; i++ {
				c := s[i]
				if c < '0' || c > '9' {
					return 0, false
				}
				v = v*10 + int(c-'0')
			}
			return v, true
		}
		y, ok1 := n(0, 4)
		mo, ok2 := n(5, 7)
		d, ok3 := n(8, 10)
		h, ok4 := n(11, 13)
		mi, ok5 := n(14, 16)
		se, ok6 := n(17, 19)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
			if t.Day() == d { // rejects 2023-02-30 and friends, as time.Parse does
				return t, nil
			}
		}
	}
	t, err := time.Parse(csvTimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q", s)
	}
	return t.UTC(), nil
}

// csvReader reads a kggen CSV after checking its header.
// eachRow reads the CSV r with header and calls fn with every data row
// (ReuseRecord: rec is valid only during the call), naming the line of a
// row fn refuses.
func eachRow(r io.Reader, header []string, fn func(rec []string) error) error {
	cr, err := csvReader(r, header)
	if err != nil {
		return err
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}

func csvReader(r io.Reader, header []string) (*csv.Reader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(header)
	got, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	for i, h := range header {
		if got[i] != h {
			return nil, fmt.Errorf("header: column %d is %q, want %q", i+1, got[i], h)
		}
	}
	return cr, nil
}

var (
	nodeHeader  = []string{"node_id", "tenant_id", "alias", "label", "props"}
	edgeHeader  = []string{"from_id", "to_id", "tenant_id", "edge_id", "version", "kind", "valid_from", "valid_to", "tx_start", "tx_end", "props"}
	queryHeader = []string{"qid", "type", "tenant_id", "node_id", "alias", "kind", "vt", "tt", "lo", "hi", "expect"}
)

func atoi(field, s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, s)
	}
	return v, nil
}

// readNodes streams nodes.csv, calling fn with each row as a node version
// current since nodeTxStart.
func readNodes(r io.Reader, fn func(tenant int, n telamentis.Node) error) error {
	return eachRow(r, nodeHeader, func(rec []string) error {
		id, err := atoi("node_id", rec[0])
		if err != nil {
			return err
		}
		t, err := atoi("tenant_id", rec[1])
		if err != nil {
			return err
		}
		return fn(int(t), telamentis.Node{
			ID:      nodeUUID(id),
			Alias:   rec[2],
			Label:   rec[3],
			Props:   json.RawMessage(rec[4]),
			TxStart: nodeTxStart,
		})
	})
}

// edgeRow is one parsed row of edges.csv: an edge version with its bench
// tenant, id and version number.
type edgeRow struct {
	Tenant  int
	ID      int64
	Version int
	Edge    telamentis.Edge
}

// readEdges streams edges.csv, calling fn with each row. The sentinel
// valid_to and tx_end become open ends; a tx_start at or before
// nodeTxStart is an error (the node would not exist yet).
func readEdges(r io.Reader, fn func(e edgeRow) error) error {
	return eachRow(r, edgeHeader, func(rec []string) error {
		row, err := parseEdge(rec)
		if err != nil {
			return err
		}
		return fn(row)
	})
}

func parseEdge(rec []string) (edgeRow, error) {
	var ints [5]int64
	for i, f := range []string{"from_id", "to_id", "tenant_id", "edge_id", "version"} {
		v, err := atoi(f, rec[i])
		if err != nil {
			return edgeRow{}, err
		}
		ints[i] = v
	}
	var ts [4]time.Time
	for i, f := range []string{"valid_from", "valid_to", "tx_start", "tx_end"} {
		t, err := parseTS(rec[6+i])
		if err != nil {
			return edgeRow{}, fmt.Errorf("%s: %w", f, err)
		}
		ts[i] = t
	}
	if ts[0].IsZero() || ts[2].IsZero() {
		return edgeRow{}, fmt.Errorf("valid_from and tx_start must be set")
	}
	if !ts[2].After(nodeTxStart) {
		return edgeRow{}, fmt.Errorf("tx_start %s is not after the node import time %s", ts[2], nodeTxStart)
	}
	return edgeRow{
		Tenant:  int(ints[2]),
		ID:      ints[3],
		Version: int(ints[4]),
		Edge: telamentis.Edge{
			ID:        edgeUUID(ints[3]),
			From:      nodeUUID(ints[0]),
			To:        nodeUUID(ints[1]),
			Kind:      rec[5],
			Props:     json.RawMessage(rec[10]),
			ValidFrom: ts[0],
			ValidTo:   ts[1],
			TxStart:   ts[2],
			TxEnd:     ts[3],
		},
	}, nil
}

// The five query types, in the order they run and are reported.
var queryTypes = []string{"lookup", "hop1", "hop2", "asat", "overlap"}

// benchQuery is one row of queries.csv with its ids already mapped.
type benchQuery struct {
	QID    int
	Type   string
	Tenant string // TelaMentis tenant ID
	Node   string // node UUID (hop1, hop2, asat)
	Alias  string // lookup
	Kind   string // overlap
	VT, TT time.Time
	Lo, Hi time.Time
	Expect int
}

// readQueries parses queries.csv, checking each row's type and fields.
func readQueries(r io.Reader) ([]benchQuery, error) {
	var out []benchQuery
	err := eachRow(r, queryHeader, func(rec []string) error {
		q, err := parseQuery(rec)
		out = append(out, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func parseQuery(rec []string) (benchQuery, error) {
	var q benchQuery
	qid, err := atoi("qid", rec[0])
	if err != nil {
		return q, err
	}
	t, err := atoi("tenant_id", rec[2])
	if err != nil {
		return q, err
	}
	exp, err := atoi("expect", rec[10])
	if err != nil {
		return q, err
	}
	q.QID, q.Type, q.Tenant, q.Alias, q.Kind, q.Expect = int(qid), rec[1], tenantID(int(t)), rec[4], rec[5], int(exp)
	if rec[3] != "" {
		id, err := atoi("node_id", rec[3])
		if err != nil {
			return q, err
		}
		q.Node = nodeUUID(id)
	}
	for i, p := range []*time.Time{&q.VT, &q.TT, &q.Lo, &q.Hi} {
		if *p, err = parseTS(rec[6+i]); err != nil {
			return q, fmt.Errorf("%s: %w", queryHeader[6+i], err)
		}
	}
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s query %d: %s required", q.Type, q.QID, what)
		}
		return nil
	}
	switch q.Type {
	case "lookup":
		err = need(q.Alias != "", "alias")
	case "hop1", "hop2":
		err = errors.Join(need(q.Node != "", "node_id"), need(!q.VT.IsZero(), "vt"))
	case "asat":
		err = errors.Join(need(q.Node != "", "node_id"), need(!q.VT.IsZero(), "vt"), need(!q.TT.IsZero(), "tt"))
	case "overlap":
		err = errors.Join(need(q.Kind != "", "kind"), need(!q.Lo.IsZero(), "lo"), need(q.Hi.After(q.Lo), "hi after lo"))
	default:
		err = fmt.Errorf("unknown query type %q", q.Type)
	}
	return q, err
}

// readQueriesFile reads queries.csv from path.
func readQueriesFile(path string) ([]benchQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	qs, err := readQueries(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return qs, nil
}

package graph

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// noStore is a Run for writes that must be answered before any store is
// reached.
func noStore(t *testing.T) Run {
	return func(context.Context, string, func(Tx) (Plan, error)) error {
		t.Error("the store was reached")
		return nil
	}
}

func wantError(t *testing.T, what string, err error, want *telamentis.Error) {
	t.Helper()
	got, ok := err.(*telamentis.Error)
	if !ok || got.Code != want.Code || got.Message != want.Message || !reflect.DeepEqual(got.Fields, want.Fields) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, err, want)
	}
}

func TestApplyBatchBeforeTheStore(t *testing.T) {
	ctx := t.Context()
	_, err := ApplyBatch(ctx, noStore(t), "t", telamentis.Batch{})
	wantError(t, "empty batch", err, telamentis.Invalid("batch", "is empty"))
	_, err = ApplyBatch(ctx, noStore(t), "t", telamentis.Batch{Nodes: make([]telamentis.NodeInput, telamentis.MaxBatchItems+1)})
	wantError(t, "too many items", err, telamentis.Invalid("batch", "more than 100000 items"))

	// Every item malformed: the answer lists each one's every bad field,
	// nodes then edges, in position order, without touching the store.
	_, err = ApplyBatch(ctx, noStore(t), "t", telamentis.Batch{
		Nodes: []telamentis.NodeInput{{Label: "1", Props: json.RawMessage(`[]`)}, {ID: "x", Label: "P"}},
		Edges: []telamentis.EdgeInput{{From: telamentis.Ref{Alias: "a"}, To: telamentis.Ref{}, Kind: "K",
			ValidFrom: time.Unix(10, 0), ValidTo: time.Unix(5, 0)}},
	})
	wantError(t, "every item malformed", err, &telamentis.Error{Code: telamentis.CodeInvalid, Message: "3 bad batch items",
		Fields: []telamentis.FieldError{
			{Field: "nodes[0].label", Message: "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"},
			{Field: "nodes[0].props", Message: "must be a JSON object"},
			{Field: "nodes[1].id", Message: "must be a UUID"},
			{Field: "edges[0].to", Message: "id or alias required"},
			{Field: "edges[0].valid_to", Message: "must be after valid_from"},
		}})
}

func TestBatchErrors(t *testing.T) {
	var b batchErrors
	if b.err() != nil {
		t.Fatal("no bad item, no error")
	}
	b.add("edges", 2, notFound("node", "to"))
	wantError(t, "one bad item keeps its code", b.err(), &telamentis.Error{Code: telamentis.CodeNotFound, Message: "1 bad batch item",
		Fields: []telamentis.FieldError{{Field: "edges[2].to", Message: "node not found"}}})
	b.add("edges", 3, notFound("edge", "id"))
	if c := telamentis.ErrorCode(b.err()); c != telamentis.CodeNotFound {
		t.Errorf("items with one code: %s, want not_found", c)
	}
	b.add("edges", 4, aliasTaken("edge"))
	b.add("edges", 5, telamentis.Errorf(telamentis.CodeConflict, "no field"))
	wantError(t, "mixed codes are invalid", b.err(), &telamentis.Error{Code: telamentis.CodeInvalid, Message: "4 bad batch items",
		Fields: []telamentis.FieldError{
			{Field: "edges[2].to", Message: "node not found"},
			{Field: "edges[3].id", Message: "edge not found"},
			{Field: "edges[4].alias", Message: "belongs to another live edge"},
			{Field: "edges[5]", Message: "no field"},
		}})
}

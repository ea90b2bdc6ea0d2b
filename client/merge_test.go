package client_test

import (
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// TestMergeNode merges through the client: the source by alias (looked up
// first), the target by alias; a missing source answers not_found.
func TestMergeNode(t *testing.T) {
	_, c := tenantClient(t, "merge")
	ctx := t.Context()
	for _, a := range []string{"dup", "orig"} {
		if _, err := c.UpsertNode(ctx, "merge", telamentis.NodeInput{Alias: a, Label: "Person"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.MergeNode(ctx, "merge", telamentis.Ref{Alias: "dup"}, telamentis.Ref{Alias: "orig"})
	if err != nil || len(res.Aliases) != 1 || res.Aliases[0] != "dup" {
		t.Fatalf("merge: %+v %v", res, err)
	}
	n, err := c.GetNode(ctx, "merge", telamentis.Ref{Alias: "dup"}, time.Time{})
	if err != nil || n.ID != res.Node.ID {
		t.Fatalf("the merged alias names the target: %+v %v", n, err)
	}
	if _, err := c.MergeNode(ctx, "merge", telamentis.Ref{ID: res.Merged}, telamentis.Ref{Alias: "orig"}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Errorf("merging the merged node again: %v", err)
	}
}

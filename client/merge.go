package client

import (
	"context"
	"net/http"

	"github.com/telamentis/telamentis"
)

// MergeNode merges the live node ref into the live node into (see
// telamentis.Store.MergeNode): POST /v1/graph/{tenant}/nodes/{id}/merge.
// A source named by alias is looked up first; into travels as given.
func (c *Client) MergeNode(ctx context.Context, tenant string, ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	id, err := c.nodeID(ctx, tenant, ref)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	var out telamentis.MergeResult
	err = c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "nodes", seg(id), "merge"),
		body: map[string]telamentis.Ref{"into": into}}, &out)
	return out, err
}

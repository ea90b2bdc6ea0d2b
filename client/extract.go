package client

import (
	"context"
	"net/http"

	"github.com/telamentis/telamentis"
)

var _ telamentis.Extractor = (*Client)(nil)

// Extract asks the server to extract facts from text with an LLM and
// write them in tenant as one batch (POST /v1/llm/{tenant}/extract;
// writer or tenant_admin). With req.DryRun nothing is written and the
// result holds the validated envelope. An envelope that failed validation
// is CodeInvalid wrapping telamentis.ErrUnprocessable; a spent daily
// budget is CodeRateLimited wrapping telamentis.ErrBudgetExceeded.
func (c *Client) Extract(ctx context.Context, tenant string, req telamentis.ExtractRequest) (telamentis.ExtractResult, error) {
	var out telamentis.ExtractResult
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/llm/" + seg(tenant) + "/extract", body: req}, &out)
	return out, err
}

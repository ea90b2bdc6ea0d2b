package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// BenchmarkHandler measures the server's own cost of one request (no
// network): authentication, checks, pipeline, huma, store, encoding.
func BenchmarkHandler(b *testing.B) {
	e := newEnv(b)
	e.tenant("bench")
	key := e.key("bench", telamentis.RoleWriter, false)
	var batch telamentis.Batch
	for j := range 1000 {
		batch.Nodes = append(batch.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("person/%06d", j), Label: "Person",
			Props: []byte(`{"name":"x","age":3}`)})
	}
	if _, err := e.store.ApplyBatch(context.Background(), "bench", batch); err != nil {
		b.Fatal(err)
	}
	h := e.handler
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := httptest.NewRequest("GET", fmt.Sprintf("/v1/graph/bench/nodes?alias=person/%06d", i%1000), nil)
			r.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code, w.Body.String())
			}
			i++
		}
	})
	b.Run("upsert", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			body := fmt.Sprintf(`{"alias":"writer/%04d","label":"Person","props":{"n":%d}}`, i%500, i)
			r := httptest.NewRequest("POST", "/v1/graph/bench/nodes", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK && w.Code != http.StatusCreated {
				b.Fatal(w.Code, w.Body.String())
			}
			i++
		}
	})
}

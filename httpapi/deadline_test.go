package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// TestStreamsOutliveServerTimeouts checks that a stream that keeps moving
// is not cut by the server's whole-request read and write timeouts: an
// ingest trickling in for longer than both still gets its summary, because
// the stream pushes its deadlines forward as it makes progress.
func TestStreamsOutliveServerTimeouts(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	w := e.key("acme", telamentis.RoleWriter, false)

	ts := httptest.NewUnstartedServer(e.handler)
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Config.WriteTimeout = 300 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)

	// An ingest body that trickles in for longer than ReadTimeout.
	const lines = 12
	pr, pw := io.Pipe()
	go func() {
		for i := range lines {
			fmt.Fprintf(pw, `{"node":{"alias":"n%d","label":"Thing"}}`+"\n", i)
			time.Sleep(60 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", ts.URL+"/v1/graph/acme/ingest?batch_size=1", pr)
	req.Header.Set("Authorization", "Bearer "+w)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("slow ingest cut off: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"created":%d`, lines)) {
		t.Fatalf("slow ingest: %d %s", res.StatusCode, body)
	}

}

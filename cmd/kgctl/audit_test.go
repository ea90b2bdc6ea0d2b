package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// syncBuffer is a bytes.Buffer safe for a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func auditRecords(t testing.TB, out string) []telamentis.AuditRecord {
	t.Helper()
	var recs []telamentis.AuditRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r telamentis.AuditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestAudit(t *testing.T) {
	id, ta := newTenant(t, "tenant_admin")
	run(t, ta, "key", "create", "--role", "reader", "--name", "audited")
	// The admin sees every tenant; -n bounds the tail; JSON is one record
	// a line.
	recs := auditRecords(t, run(t, admin(), "audit", "tail", "-n", "5", "-o", "json").out)
	if len(recs) != 5 {
		t.Fatalf("tail -n 5: %d records", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 || recs[i].PrevHash != recs[i-1].Hash {
			t.Fatalf("tail is not the chain's end: %+v", recs)
		}
	}
	// A tenant_admin sees only its tenant; --action filters by prefix.
	recs = auditRecords(t, run(t, ta, "audit", "tail", "-n", "100", "--action", "key.", "-o", "json").out)
	if len(recs) < 4 { // tenant key create by admin, and by ta: attempt + success each
		t.Fatalf("tenant audit: %d records", len(recs))
	}
	for _, r := range recs {
		if r.Tenant != id || !strings.HasPrefix(r.Action, "key.") {
			t.Fatalf("foreign record: %+v", r)
		}
	}
	if r := kgctl(t, ta, "", "--tenant", "other-tenant", "audit", "tail"); r.code != exitNotFound {
		t.Fatalf("another tenant's audit: exit %d", r.code)
	}
	r := run(t, admin(), "audit", "tail", "-n", "3")
	if !strings.HasPrefix(r.out, "SEQ") || strings.Count(r.out, "\n") != 4 {
		t.Fatalf("audit table: %q", r.out)
	}
	// verify: the admin checks the whole chain.
	r = run(t, admin(), "audit", "verify", "-o", "json")
	var v auditVerifyResult
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || !v.OK || v.Records < 5 || v.Head == "" {
		t.Fatalf("verify: %v %q", err, r.out)
	}
	run(t, ta, "audit", "verify")

	// --follow prints records as they come.
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	go func() {
		get := func(k string) string {
			switch k {
			case "TELAMENTIS_ENDPOINT":
				return server.endpoint
			case "TELAMENTIS_API_KEY_FILE":
				return ta["TELAMENTIS_API_KEY_FILE"]
			case "HOME", "XDG_CONFIG_HOME":
				return t.TempDir()
			}
			return ""
		}
		done <- Main(ctx, []string{"audit", "tail", "-n", "0", "--follow", "--poll", "50ms", "-o", "json"}, get,
			&IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	}()
	time.Sleep(200 * time.Millisecond)
	run(t, ta, "key", "create", "--role", "reader", "--name", "followed")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"key.create"`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("follow: exit %d %s", code, errb.String())
	}
	recs = auditRecords(t, out.String())
	if len(recs) == 0 || recs[len(recs)-1].Tenant != id {
		t.Fatalf("follow printed %q", out.String())
	}
}

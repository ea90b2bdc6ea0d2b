package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	auditlog "github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/audit/audittest"
	"github.com/telamentis/telamentis/pipeline/audit"
)

func setup(t *testing.T) (*audit.Step, *auditlog.Log, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := auditlog.Open(auditlog.Config{Dir: dir, Key: telamentis.NewSecret(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := audit.New(audit.Config{Log: l, HashID: l.HashID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, l, dir
}

func all(t *testing.T, l *auditlog.Log) []telamentis.AuditRecord {
	t.Helper()
	recs, _, err := l.Query(t.Context(), telamentis.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func op(name string, write, sensitive bool) *telamentis.Operation {
	return &telamentis.Operation{
		Name: name, Tenant: "acme", RequestID: "req-1", ClientIP: "127.0.0.1",
		Principal: &telamentis.Principal{Tenant: "acme", Role: telamentis.RoleTenantAdmin, KeyID: "k1"},
		Target:    "canary-target-7731", Write: write, Sensitive: sensitive,
	}
}

func TestSensitiveRecordedBeforeAndAfter(t *testing.T) {
	s, l, _ := setup(t)
	ran := false
	err := s.Handle(t.Context(), op("key.create", true, true), func(ctx context.Context, o *telamentis.Operation) error {
		ran = true
		recs := all(t, l)
		if len(recs) != 1 || recs[0].Outcome != telamentis.OutcomeAttempt || recs[0].Action != "key.create" {
			t.Fatalf("before the operation the log holds %+v", recs)
		}
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("handle: %v ran=%v", err, ran)
	}
	recs := all(t, l)
	if len(recs) != 2 || recs[1].Outcome != telamentis.OutcomeSuccess || recs[1].Actor != "key:k1" || recs[1].RequestID != "req-1" {
		t.Fatalf("records %+v", recs)
	}
}

func TestSensitiveFailsClosed(t *testing.T) {
	for _, name := range []string{"graph.erase", "tenant.delete", "key.create"} {
		t.Run(name, func(t *testing.T) {
			s, l, dir := setup(t)
			// Make the audit store unusable under the running log.
			if err := os.Rename(dir, dir+".gone"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir + ".gone") })
			ran := false
			err := s.Handle(t.Context(), op(name, true, true), func(context.Context, *telamentis.Operation) error {
				ran = true
				return nil
			})
			if ran {
				t.Fatal("operation ran without an audit record")
			}
			if telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
				t.Fatalf("err = %v", err)
			}
			if len(all(t, l)) != 0 {
				t.Fatal("records appeared")
			}
		})
	}
}

func TestWritesAndReads(t *testing.T) {
	s, l, _ := setup(t)
	fail := telamentis.Invalid("label", "bad")
	err := s.Handle(t.Context(), op("node.upsert", true, false), func(context.Context, *telamentis.Operation) error { return fail })
	if err != fail {
		t.Fatalf("error not passed through: %v", err)
	}
	if err := s.Handle(t.Context(), op("node.get", false, false), func(context.Context, *telamentis.Operation) error { return nil }); err != nil {
		t.Fatal(err)
	}
	recs := all(t, l)
	if len(recs) != 1 || recs[0].Action != "node.upsert" || recs[0].Outcome != telamentis.OutcomeFailure || recs[0].Details["code"] != "invalid" {
		t.Fatalf("records %+v", recs)
	}
}

func TestQuotaTrip(t *testing.T) {
	s, l, _ := setup(t)
	q := telamentis.Errorf(telamentis.CodeQuota, "node quota exceeded")
	s.Handle(t.Context(), op("node.upsert", true, false), func(context.Context, *telamentis.Operation) error { return q })
	recs := all(t, l)
	if len(recs) != 1 || recs[0].Action != telamentis.AuditQuotaTrip || recs[0].Details["op"] != "node.upsert" || recs[0].Outcome != telamentis.OutcomeDenied {
		t.Fatalf("records %+v", recs)
	}
}

func TestEraseTargetHashed(t *testing.T) {
	s, l, dir := setup(t)
	s.Handle(t.Context(), op("graph.erase", true, true), func(context.Context, *telamentis.Operation) error { return nil })
	b, err := os.ReadFile(filepath.Join(dir, auditlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "canary-target-7731") {
		t.Fatal("erased identifier stored in clear")
	}
	recs := all(t, l)
	if len(recs) != 2 || recs[0].Target != l.HashID("canary-target-7731") {
		t.Fatalf("records %+v", recs)
	}
}

// TestOutcomeDuringOutage is an operation that applies while the audit
// disk fills: its outcome record cannot be written, yet the change stands.
// Once space is back the chain must hold its attempt, an outage record and
// its outcome marked late, and verify; sensitive operations refused
// meanwhile never run, and the next one after the outage runs.
func TestOutcomeDuringOutage(t *testing.T) {
	dir := t.TempDir()
	disk := audittest.NewDisk()
	key := telamentis.NewSecret(strings.Repeat("k", 32))
	l, err := auditlog.Open(auditlog.Config{Dir: dir, Key: key, OpenFile: disk.OpenFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := audit.New(audit.Config{Log: l, HashID: l.HashID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(id string, during func()) (bool, error) {
		o := op("tenant.update", true, true)
		o.RequestID = id
		ran := false
		err := s.Handle(t.Context(), o, func(context.Context, *telamentis.Operation) error {
			ran = true
			if during != nil {
				during()
			}
			return nil
		})
		return ran, err
	}

	if ran, err := patch("req-1", func() { disk.Fill(0, false) }); err != nil || !ran {
		t.Fatalf("patch while the disk fills: ran=%v err=%v (it applied: its answer stays a success)", ran, err)
	}
	if ran, err := patch("req-2", nil); ran || telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("patch on a full disk: ran=%v err=%v", ran, err)
	}
	disk.Free()
	if ran, err := patch("req-3", nil); err != nil || !ran {
		t.Fatalf("patch after space came back: ran=%v err=%v", ran, err)
	}

	f, err := os.Open(filepath.Join(dir, auditlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := auditlog.Verify(f, []byte(key.Reveal())); err != nil {
		t.Fatalf("verify: %v", err)
	}
	var got []string
	for _, r := range all(t, l) {
		s := r.RequestID + " " + r.Action + " " + r.Outcome
		if r.Details["occurred_at"] != "" {
			s += " late"
		}
		if r.Action == auditlog.ActionOutage {
			s += " refused=" + r.Details["refused"] + " late=" + r.Details["late"]
		}
		got = append(got, s)
	}
	want := []string{
		"req-1 tenant.update attempt",
		" audit.outage failure refused=2 late=1",
		"req-1 tenant.update success late",
		"req-3 tenant.update attempt",
		"req-3 tenant.update success",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("chain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

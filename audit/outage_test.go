package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/audit/audittest"
)

var outageKey = telamentis.NewSecret("0123456789abcdef0123456789abcdef-outage")

func openOnDisk(t *testing.T, dir string, d *audittest.Disk) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.Config{Dir: dir, Key: outageKey, OpenFile: d.OpenFile}, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func rec(id, outcome string) telamentis.AuditRecord {
	return telamentis.AuditRecord{RequestID: id, Actor: "key:k1", Tenant: "acme", Action: "tenant.update", Outcome: outcome}
}

func mustAppend(t *testing.T, l *audit.Log, r telamentis.AuditRecord) {
	t.Helper()
	if err := l.Append(t.Context(), r); err != nil {
		t.Fatalf("append %s: %v", r.RequestID, err)
	}
}

func mustRefuse(t *testing.T, l *audit.Log, r telamentis.AuditRecord) {
	t.Helper()
	err := l.Append(t.Context(), r)
	if telamentis.ErrorCode(err) != telamentis.CodeUnavailable || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append %s on a full disk: %v", r.RequestID, err)
	}
}

// chain verifies the file on disk as `telamentis audit verify` does,
// reopens it as a restart would, and returns every record.
func chain(t *testing.T, dir string) []telamentis.AuditRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := audit.Verify(f, []byte(outageKey.Reveal()))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	l, err := audit.Open(audit.Config{Dir: dir, Key: outageKey}, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	var all []telamentis.AuditRecord
	for after := uint64(0); ; {
		page, next, err := l.Query(t.Context(), telamentis.AuditFilter{After: after, Limit: audit.MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == 0 {
			break
		}
		after = next
	}
	if uint64(len(all)) != res.Records {
		t.Fatalf("query returned %d records, verify counted %d", len(all), res.Records)
	}
	return all
}

// summary writes records as "request_id/outcome" ("late" marks a record
// kept from an outage; the outage record shows its counts).
func summary(recs []telamentis.AuditRecord) string {
	var b []string
	for _, r := range recs {
		switch {
		case r.Action == audit.ActionOutage:
			s := fmt.Sprintf("outage(refused=%s,late=%s", r.Details["refused"], r.Details["late"])
			if d := r.Details["dropped"]; d != "" {
				s += ",dropped=" + d
			}
			b = append(b, s+")")
		case r.Details["occurred_at"] != "":
			b = append(b, r.RequestID+"/"+r.Outcome+"/late")
		default:
			b = append(b, r.RequestID+"/"+r.Outcome)
		}
	}
	return strings.Join(b, " ")
}

func TestOutageRecovers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		free     int64 // bytes left when the disk fills
		failSync bool
		// recoverBy brings the log back: an Append or a readiness probe.
		recoverBy string
		want      string
	}{
		{"full, recovered by append", 0, false, "append",
			"r1/success outage(refused=2,late=1) r3/success/late r4/success"},
		{"full, recovered by ready", 0, false, "ready",
			"r1/success outage(refused=2,late=1) r3/success/late r4/success"},
		{"record cut short", 40, false, "append",
			"r1/success outage(refused=2,late=1) r3/success/late r4/success"},
		{"fsync fails", 1 << 20, true, "ready",
			"r1/success outage(refused=2,late=1) r3/success/late r4/success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := audittest.NewDisk()
			l := openOnDisk(t, dir, disk)
			mustAppend(t, l, rec("r1", telamentis.OutcomeSuccess))
			seq, head := l.Head()

			disk.Fill(tc.free, tc.failSync)
			mustRefuse(t, l, rec("r2", telamentis.OutcomeAttempt))
			mustRefuse(t, l, rec("r3", telamentis.OutcomeSuccess))
			if err := l.Ready(t.Context()); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
				t.Fatalf("ready on a full disk: %v", err)
			}
			if s, h := l.Head(); s != seq || h != head {
				t.Fatalf("head moved while down: %d %s", s, h)
			}

			disk.Free()
			if tc.recoverBy == "ready" {
				if err := l.Ready(t.Context()); err != nil {
					t.Fatalf("ready after space came back: %v", err)
				}
			}
			mustAppend(t, l, rec("r4", telamentis.OutcomeSuccess))
			if err := l.Ready(t.Context()); err != nil {
				t.Fatalf("ready: %v", err)
			}
			recs := chain(t, dir)
			if got := summary(recs); got != tc.want {
				t.Fatalf("chain\n got %s\nwant %s", got, tc.want)
			}
			o := recs[1]
			if o.Outcome != telamentis.OutcomeFailure || o.Details["since"] == "" || !strings.Contains(o.Details["error"], "no space left") {
				t.Fatalf("outage record %+v", o)
			}
			if late := recs[2]; late.Details["occurred_at"] == "" || late.Actor != "key:k1" || late.Tenant != "acme" {
				t.Fatalf("late record %+v", late)
			}
			if s, h := l.Head(); s != recs[len(recs)-1].Seq || h != recs[len(recs)-1].Hash {
				t.Fatalf("head %d %s after recovery", s, h)
			}
		})
	}
}

func TestOutageStaysDownWhileFull(t *testing.T) {
	dir := t.TempDir()
	disk := audittest.NewDisk()
	l := openOnDisk(t, dir, disk)
	mustAppend(t, l, rec("r1", telamentis.OutcomeSuccess))
	disk.Fill(0, false)
	for i := range 3 {
		mustRefuse(t, l, rec(fmt.Sprint("d", i), telamentis.OutcomeDenied))
		if err := l.Ready(t.Context()); err == nil {
			t.Fatal("ready on a full disk")
		}
	}
	// Space for part of the recovery only: still down, nothing torn.
	disk.Fill(100, false)
	mustRefuse(t, l, rec("d3", telamentis.OutcomeDenied))
	disk.Free()
	mustAppend(t, l, rec("r2", telamentis.OutcomeSuccess))
	want := "r1/success outage(refused=4,late=4) d0/denied/late d1/denied/late d2/denied/late d3/denied/late r2/success"
	if got := summary(chain(t, dir)); got != want {
		t.Fatalf("chain\n got %s\nwant %s", got, want)
	}
}

func TestOutageReplacedFileStaysDown(t *testing.T) {
	dir := t.TempDir()
	disk := audittest.NewDisk()
	l := openOnDisk(t, dir, disk)
	mustAppend(t, l, rec("r1", telamentis.OutcomeSuccess))
	disk.Fill(0, false)
	mustRefuse(t, l, rec("r2", telamentis.OutcomeSuccess))
	p := filepath.Join(dir, audit.FileName)
	os.Rename(p, p+".old")
	os.WriteFile(p, nil, 0o600)
	disk.Free()
	if err := l.Ready(t.Context()); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("ready with the log replaced: %v", err)
	}
	if err := l.Append(t.Context(), rec("r3", telamentis.OutcomeSuccess)); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("append with the log replaced: %v", err)
	}
	if b, _ := os.ReadFile(p); len(b) != 0 {
		t.Fatalf("wrote into the replacement: %s", b)
	}
}

// TestOutageConcurrent fills and frees the disk under concurrent writers:
// afterwards every record is in the chain exactly once, in place if its
// Append succeeded and late (after an outage record) if it failed.
func TestOutageConcurrent(t *testing.T) {
	dir := t.TempDir()
	disk := audittest.NewDisk()
	l := openOnDisk(t, dir, disk)
	const writers, each = 8, 40
	var (
		mu     sync.Mutex
		failed = map[string]bool{}
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				disk.Fill(int64(i%300), i%4 == 0)
			} else {
				disk.Free()
			}
			l.Ready(t.Context())
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := l.Append(t.Context(), rec(id, telamentis.OutcomeSuccess))
				if err != nil && telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
					t.Errorf("append %s: %v", id, err)
				}
				mu.Lock()
				failed[id] = err != nil
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	disk.Free()
	mustAppend(t, l, rec("last", telamentis.OutcomeSuccess))
	seen := map[string]int{}
	for _, r := range chain(t, dir) {
		if r.Action == audit.ActionOutage {
			continue
		}
		seen[r.RequestID]++
		if late := r.Details["occurred_at"] != ""; r.RequestID != "last" && late != failed[r.RequestID] {
			t.Errorf("%s: late=%v but its Append failed=%v", r.RequestID, late, failed[r.RequestID])
		}
	}
	nfail := 0
	for id, f := range failed {
		if seen[id] != 1 {
			t.Errorf("%s is in the chain %d times (failed %v)", id, seen[id], f)
		}
		if f {
			nfail++
		}
	}
	if nfail == 0 {
		t.Fatal("no append failed: the disk never filled under a writer")
	}
	t.Logf("%d of %d appends failed", nfail, writers*each)
}

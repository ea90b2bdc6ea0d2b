package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

var testKey = telamentis.NewSecret("0123456789abcdef0123456789abcdef-audit")

func openLog(t testing.TB, dir string, sink *bytes.Buffer) *Log {
	t.Helper()
	cfg := Config{Dir: dir, Key: testKey}
	if sink != nil {
		cfg.Sink = sink
	}
	l, err := Open(cfg, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func record(i int) telamentis.AuditRecord {
	return telamentis.AuditRecord{
		RequestID: fmt.Sprintf("req-%d", i),
		Actor:     "key:abc",
		Tenant:    []string{"acme", "globex"}[i%2],
		Action:    []string{"key.create", "tenant.update", "graph.erase"}[i%3],
		Target:    fmt.Sprintf("target-%d", i),
		Outcome:   telamentis.OutcomeSuccess,
		ClientIP:  "127.0.0.1",
		Details:   map[string]string{"code": "ok", "n": fmt.Sprint(i)},
	}
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Append(t.Context(), record(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func readLines(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func verifyLines(lines []string) (Result, error) {
	s := strings.Join(lines, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return Verify(strings.NewReader(s), []byte(testKey.Reveal()))
}

func wantBrokenAt(t *testing.T, err error, seq uint64) {
	t.Helper()
	var ce *ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("want chain error at %d, got %v", seq, err)
	}
	if ce.Seq != seq {
		t.Fatalf("chain broken at %d (%s), want %d", ce.Seq, ce.Reason, seq)
	}
}

func TestAppendVerifyReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	appendN(t, l, 0, 5)
	res, err := l.Verify(t.Context())
	if err != nil || res.Records != 5 || res.LastSeq != 5 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), record(9)); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("append after close: %v", err)
	}
	l2 := openLog(t, dir, nil)
	appendN(t, l2, 5, 3)
	res, err = l2.Verify(t.Context())
	if err != nil || res.Records != 8 {
		t.Fatalf("verify after reopen: %+v %v", res, err)
	}
	if seq, hash := l2.Head(); seq != 8 || hash != res.LastHash {
		t.Fatalf("head %d %s", seq, hash)
	}
	if seq, hash := openLog(t, t.TempDir(), nil).Head(); seq != 0 || hash != genesis {
		t.Fatalf("empty head %d %s", seq, hash)
	}
	lines := readLines(t, dir)
	var r6 telamentis.AuditRecord
	if err := json.Unmarshal([]byte(lines[5]), &r6); err != nil {
		t.Fatal(err)
	}
	var r5 telamentis.AuditRecord
	json.Unmarshal([]byte(lines[4]), &r5)
	if r6.Seq != 6 || r6.PrevHash != r5.Hash || r6.Time.IsZero() {
		t.Fatalf("chain not continued: %+v", r6)
	}
}

func TestTamperEachField(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	appendN(t, l, 0, 6)
	l.Close()
	lines := readLines(t, dir)
	if _, err := verifyLines(lines); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	const victim = 4 // seq
	edits := map[string]any{
		"seq":        float64(40),
		"time":       "2001-01-01T00:00:00Z",
		"request_id": "req-x",
		"actor":      "key:someone-else",
		"tenant":     "other",
		"action":     "node.upsert",
		"target":     "elsewhere",
		"outcome":    telamentis.OutcomeFailure,
		"client_ip":  "10.0.0.1",
		"details":    map[string]any{"code": "ok", "n": "99"},
		"prev_hash":  strings.Repeat("a", 64),
		"hash":       strings.Repeat("b", 64),
		"extra":      "smuggled",
	}
	for field, v := range edits {
		t.Run(field, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal([]byte(lines[victim-1]), &m); err != nil {
				t.Fatal(err)
			}
			m[field] = v
			b, _ := json.Marshal(m)
			mod := append([]string(nil), lines...)
			mod[victim-1] = string(b) + "\n"
			_, err := verifyLines(mod)
			wantBrokenAt(t, err, victim)
		})
	}
	t.Run("recomputed without key", func(t *testing.T) {
		// An attacker who edits a record and recomputes its hash with a
		// guessed key is caught at that record.
		var rec telamentis.AuditRecord
		json.Unmarshal([]byte(lines[victim-1]), &rec)
		rec.Actor = "key:innocent"
		b, _ := sealer{key: []byte("not the key")}.seal(&rec)
		mod := append([]string(nil), lines...)
		mod[victim-1] = string(b)
		_, err := verifyLines(mod)
		wantBrokenAt(t, err, victim)
	})
	t.Run("delete", func(t *testing.T) {
		mod := append(append([]string(nil), lines[:victim-1]...), lines[victim:]...)
		_, err := verifyLines(mod)
		wantBrokenAt(t, err, victim)
	})
	t.Run("reorder", func(t *testing.T) {
		mod := append([]string(nil), lines...)
		mod[victim-1], mod[victim] = mod[victim], mod[victim-1]
		_, err := verifyLines(mod)
		wantBrokenAt(t, err, victim)
	})
	t.Run("insert", func(t *testing.T) {
		mod := append([]string(nil), lines[:victim-1]...)
		mod = append(mod, lines[0])
		mod = append(mod, lines[victim-1:]...)
		_, err := verifyLines(mod)
		wantBrokenAt(t, err, victim)
	})
	t.Run("open refuses a broken chain", func(t *testing.T) {
		d2 := t.TempDir()
		mod := append([]string(nil), lines...)
		mod[victim-1] = strings.Replace(mod[victim-1], `"actor":"key:abc"`, `"actor":"key:abd"`, 1)
		os.WriteFile(filepath.Join(d2, FileName), []byte(strings.Join(mod, "")+"\n"), 0o600)
		_, err := Open(Config{Dir: d2, Key: testKey}, nil)
		wantBrokenAt(t, err, victim)
	})
}

func TestTornRecordCut(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	appendN(t, l, 0, 3)
	l.Close()
	p := filepath.Join(dir, FileName)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"20`)
	f.Close()
	if _, err := Verify(mustOpen(t, p), []byte(testKey.Reveal())); err == nil {
		t.Fatal("torn record verified")
	}
	l2 := openLog(t, dir, nil)
	appendN(t, l2, 3, 1)
	res, err := l2.Verify(t.Context())
	if err != nil || res.Records != 4 {
		t.Fatalf("after torn cut: %+v %v", res, err)
	}
}

func mustOpen(t testing.TB, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFailClosed(t *testing.T) {
	t.Run("directory cannot be created", func(t *testing.T) {
		base := t.TempDir()
		file := filepath.Join(base, "plain")
		os.WriteFile(file, nil, 0o600)
		_, err := Open(Config{Dir: filepath.Join(file, "audit"), Key: testKey}, nil)
		if telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("open under a file: %v", err)
		}
	})
	t.Run("log file is not a regular file", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, FileName), 0o700)
		if _, err := Open(Config{Dir: dir, Key: testKey}, nil); err == nil {
			t.Fatal("opened a directory as the log")
		}
	})
	t.Run("short key", func(t *testing.T) {
		if _, err := Open(Config{Dir: t.TempDir(), Key: telamentis.NewSecret("short")}, nil); err == nil {
			t.Fatal("accepted a short key")
		}
	})
	t.Run("permissions", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores file permissions")
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, FileName), nil, 0o400)
		if _, err := Open(Config{Dir: dir, Key: testKey}, nil); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("open of a read-only file: %v", err)
		}
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o500)
		if _, err := Open(Config{Dir: ro, Key: testKey}, nil); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("open in a read-only directory: %v", err)
		}
	})
	t.Run("write fails", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, nil)
		appendN(t, l, 0, 2)
		// The descriptor goes bad under the log, as on a failed disk.
		l.f.Close()
		for i := range 2 {
			err := l.Append(t.Context(), record(i))
			if telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
				t.Fatalf("append %d on a dead file: %v", i, err)
			}
		}
	})
	t.Run("file removed", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, nil)
		appendN(t, l, 0, 2)
		os.Rename(dir, dir+".moved")
		t.Cleanup(func() { os.RemoveAll(dir + ".moved") })
		if err := l.Append(t.Context(), record(3)); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("append after the log was moved away: %v", err)
		}
	})
	t.Run("file replaced", func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, nil)
		appendN(t, l, 0, 2)
		p := filepath.Join(dir, FileName)
		os.Remove(p)
		os.WriteFile(p, nil, 0o600)
		if err := l.Append(t.Context(), record(3)); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("append after the log was replaced: %v", err)
		}
	})
}

func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	var sink bytes.Buffer
	l := openLog(t, dir, &sink)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(context.Background(), record(w*each+i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res, err := l.Verify(t.Context())
	if err != nil || res.Records != writers*each {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if seq, hash := l.Head(); seq != res.LastSeq || hash != res.LastHash {
		t.Fatalf("head %d %s, verify %+v", seq, hash, res)
	}
	st := l.Stats()
	if st.Appends != writers*each || st.Failures != 0 || st.Syncs == 0 || st.Syncs > st.Appends {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d appends shared %d fsyncs", st.Appends, st.Syncs)
	// The sink holds every record once, possibly out of order.
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	seen := map[uint64]bool{}
	for _, ln := range lines {
		var r telamentis.AuditRecord
		if err := json.Unmarshal([]byte(ln), &r); err != nil {
			t.Fatal(err)
		}
		seen[r.Seq] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("sink holds %d records", len(seen))
	}
}

func TestQuery(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		r := record(i)
		r.Time = base.Add(time.Duration(i) * time.Minute)
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    telamentis.AuditFilter
		want []uint64
	}{
		{"tenant", telamentis.AuditFilter{Tenant: "globex", Limit: 3}, []uint64{2, 4, 6}},
		{"action", telamentis.AuditFilter{Action: "graph.erase", Limit: 2}, []uint64{3, 6}},
		{"action prefix", telamentis.AuditFilter{Action: "tenant.", Limit: 2}, []uint64{2, 5}},
		{"since until", telamentis.AuditFilter{Since: base.Add(10 * time.Minute), Until: base.Add(13 * time.Minute)}, []uint64{11, 12, 13}},
		{"after", telamentis.AuditFilter{After: 27}, []uint64{28, 29, 30}},
		{"tenant and action", telamentis.AuditFilter{Tenant: "acme", Action: "key.create", Until: base.Add(20 * time.Minute)}, []uint64{1, 7, 13, 19}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := l.Query(t.Context(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, r := range got {
				seqs = append(seqs, r.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", seqs, tt.want)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		var all []uint64
		var after uint64
		for range 20 {
			got, next, err := l.Query(t.Context(), telamentis.AuditFilter{Tenant: "acme", After: after, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got {
				all = append(all, r.Seq)
			}
			if next == 0 {
				break
			}
			after = next
		}
		if len(all) != 15 || all[0] != 1 || all[14] != 29 {
			t.Fatalf("paged %v", all)
		}
	})
}

func TestHashID(t *testing.T) {
	k1, k2 := []byte("key one"), []byte("key two")
	if a, b := HashID(k1, "alice@example.com"), HashID(k1, "alice@example.com"); a != b {
		t.Fatal("not deterministic")
	}
	if HashID(k1, "alice@example.com") == HashID(k2, "alice@example.com") {
		t.Fatal("not keyed")
	}
	if strings.Contains(HashID(k1, "alice@example.com"), "alice") {
		t.Fatal("leaks the value")
	}
	l := openLog(t, t.TempDir(), nil)
	if l.HashID("x") == HashID([]byte(testKey.Reveal()), "x") {
		t.Fatal("HashID uses the chain key itself")
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	l := openLog(b, b.TempDir(), nil)
	rec := record(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestAuthEvents(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	ev := NewAuthEvents(l, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev.now = func() time.Time { return now }
	p := &telamentis.Principal{Tenant: "acme", Role: telamentis.RoleWriter, KeyID: "k1"}
	for range 5 {
		if err := ev.Success(t.Context(), p, "r1", "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	ev.Success(t.Context(), p, "r2", "127.0.0.2") // another IP
	now = now.Add(time.Minute)
	ev.Success(t.Context(), p, "r3", "127.0.0.1") // interval passed
	for range 3 {
		if err := ev.Failure(t.Context(), "r4", "10.0.0.9", "api_key", "abcdefghijklmnop"); err != nil {
			t.Fatal(err)
		}
	}
	succ, _, _ := l.Query(t.Context(), telamentis.AuditFilter{Action: telamentis.AuditAuthSuccess})
	fail, _, _ := l.Query(t.Context(), telamentis.AuditFilter{Action: telamentis.AuditAuthFailure})
	if len(succ) != 3 || succ[0].Actor != "key:k1" || succ[0].Tenant != "acme" || succ[2].RequestID != "r3" {
		t.Fatalf("successes %+v", succ)
	}
	if len(fail) != 3 || fail[0].Target != "key:abcdefghijklmnop" || fail[0].Details["credential"] != "api_key" {
		t.Fatalf("failures %+v", fail)
	}
	l.Close()
	if err := ev.Failure(t.Context(), "r5", "10.0.0.9", "missing", ""); telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
		t.Fatalf("failure on a closed log: %v", err)
	}
}

// FuzzVerify checks that Verify never panics on arbitrary input and that
// changing any one byte of a valid log is detected.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	l := openLog(f, dir, nil)
	appendN(f, l, 0, 4)
	l.Close()
	valid, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	key := []byte(testKey.Reveal())
	f.Add(valid, uint(0), byte('x'))
	f.Add(valid, uint(100), byte('0'))
	f.Add([]byte("{}\n"), uint(1), byte(' '))
	f.Fuzz(func(t *testing.T, data []byte, pos uint, b byte) {
		Verify(bytes.NewReader(data), key)
		mod := bytes.Clone(valid)
		i := int(pos % uint(len(mod)))
		if mod[i] == b {
			return
		}
		mod[i] = b
		if _, err := Verify(bytes.NewReader(mod), key); err == nil {
			t.Fatalf("byte %d changed to %q verified", i, b)
		}
	})
}

package badger_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

const crashDirEnv = "TELAMENTIS_CRASH_CHILD_DIR"

// TestCrashChild is the writer that TestCrash kills. It runs only as a
// child process: it writes single upserts and batches from several
// goroutines in a loop and prints each acknowledged write after the call
// returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	s, err := badger.Open(badger.Config{Dir: dir, MasterKey: testKey}, nil)
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "crash"}); err != nil && telamentis.ErrorCode(err) != telamentis.CodeConflict {
		fmt.Println("tenant-error", err)
		os.Exit(2)
	}
	run := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	var out sync.Mutex
	ack := func(line string) {
		out.Lock()
		os.Stdout.WriteString(line + "\n")
		out.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				a := fmt.Sprintf("n-%s-%d-%d", run, w, i)
				if i%2 == 0 {
					r, err := s.UpsertNode(ctx, "crash", telamentis.NodeInput{Alias: a, Label: "Thing", Props: json.RawMessage(`{"i":1}`)})
					if err != nil {
						fmt.Fprintln(os.Stderr, "upsert:", err)
						os.Exit(3)
					}
					ack("node " + r.Node.ID + " " + a)
					continue
				}
				b := telamentis.Batch{
					Nodes: []telamentis.NodeInput{{Alias: a + "a", Label: "Thing"}, {Alias: a + "b", Label: "Thing"}},
					Edges: []telamentis.EdgeInput{{From: telamentis.Ref{Alias: a + "a"}, To: telamentis.Ref{Alias: a + "b"}, Kind: "LINKS"}},
				}
				r, err := s.ApplyBatch(ctx, "crash", b)
				if err != nil {
					fmt.Fprintln(os.Stderr, "batch:", err)
					os.Exit(3)
				}
				ack(fmt.Sprintf("batch %s %s %s %s", r.Nodes[0].Node.ID, r.Nodes[1].Node.ID, r.Edges[0].Edge.ID, a))
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a writing child with SIGKILL at random moments and checks
// after each kill that every acknowledged write survived and the store's
// integrity check passes.
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	ctx := t.Context()
	total := 0
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []string, 1)
		go func() {
			var acked []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				acked = append(acked, sc.Text())
			}
			lines <- acked
		}()
		// Kill at a random moment: sometimes during open, mostly while
		// several writers are mid-commit.
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		acked := <-lines
		cmd.Wait()
		for _, l := range acked {
			if strings.HasPrefix(l, "open-error") || strings.HasPrefix(l, "tenant-error") {
				t.Fatalf("round %d: child: %s", round, l)
			}
		}
		if strings.Contains(stderr.String(), "upsert:") || strings.Contains(stderr.String(), "batch:") {
			t.Fatalf("round %d: child write failed: %s", round, stderr.String())
		}
		s, err := badger.Open(badger.Config{Dir: dir, MasterKey: testKey}, testLogger(t))
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		for _, l := range acked {
			f := strings.Fields(l)
			switch f[0] {
			case "node":
				n, err := s.GetNode(ctx, "crash", telamentis.Ref{ID: f[1]}, time.Time{})
				if err != nil || n.Alias != f[2] {
					t.Errorf("round %d: acknowledged node %s (%s) lost: %v", round, f[1], f[2], err)
				}
			case "batch":
				for _, id := range f[1:3] {
					if _, err := s.GetNode(ctx, "crash", telamentis.Ref{ID: id}, time.Time{}); err != nil {
						t.Errorf("round %d: acknowledged batch node %s lost: %v", round, id, err)
					}
				}
				e, err := s.GetEdge(ctx, "crash", telamentis.Ref{ID: f[3]}, time.Time{})
				if err != nil || e.From != f[1] || e.To != f[2] {
					t.Errorf("round %d: acknowledged batch edge %s lost: %v", round, f[3], err)
				}
			}
		}
		if err := s.Check(ctx); err != nil {
			t.Errorf("round %d: integrity check after kill: %v", round, err)
		}
		st, err := s.Stats(ctx, "crash")
		if err != nil && round > 0 {
			t.Errorf("round %d: stats: %v", round, err)
		}
		total += len(acked)
		t.Logf("round %d: %d acknowledged writes survived; %d nodes, %d edges stored", round, len(acked), st.Nodes, st.Edges)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatal("the child never acknowledged a write; the test proved nothing")
	}
}

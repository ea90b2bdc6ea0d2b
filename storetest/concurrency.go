package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func (r *runner) testConcurrency(t *testing.T) {
	s := r.s
	ctx := t.Context()
	t.Run("create tenant once", func(t *testing.T) {
		id := fmt.Sprintf("race-%s", randHex(4))
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, conflicts := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CreateTenant(ctx, telamentis.Tenant{ID: id})
				mu.Lock()
				defer mu.Unlock()
				switch telamentis.ErrorCode(err) {
				case "":
					ok++
				case telamentis.CodeConflict:
					conflicts++
				default:
					t.Errorf("concurrent create tenant: %v, want success or conflict", err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 || conflicts != 7 {
			t.Errorf("8 concurrent creates of one tenant id: %d succeeded, %d conflicts; want 1 and 7", ok, conflicts)
		}
	})
	t.Run("updates of one node form one chain", func(t *testing.T) {
		tn := newTenant(t, s)
		first := mustNode(t, s, tn, telamentis.NodeInput{Alias: "hot", Label: "P"}).Node
		const workers, each = 6, 8
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					var err error
					in := telamentis.NodeInput{Alias: "hot", Label: "P", Props: props(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
					if i%2 == 0 {
						_, err = s.UpsertNode(ctx, tn, in)
					} else {
						_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{in}})
					}
					if err != nil {
						t.Errorf("concurrent update: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		h := history(t, s, tn, true, first.ID).Nodes
		if len(h) != 1+workers*each {
			t.Fatalf("history after %d concurrent updates: %d versions, want %d", workers*each, len(h), 1+workers*each)
		}
		for i, v := range h {
			if i > 0 && (!v.TxStart.After(h[i-1].TxStart) || !h[i-1].TxEnd.Equal(v.TxStart)) {
				t.Errorf("version %d [%v, %v) does not follow version %d [%v, %v): concurrent writes must serialise per node",
					i, v.TxStart, v.TxEnd, i-1, h[i-1].TxStart, h[i-1].TxEnd)
			}
		}
		if !h[len(h)-1].TxEnd.IsZero() {
			t.Errorf("the last version must be current")
		}
		g, err := s.GetNode(ctx, tn, byAlias("hot"), time.Time{})
		if err != nil || nodeKey(g) != nodeKey(h[len(h)-1]) {
			t.Errorf("get returns the last version of the history: %s, %v", nodeKey(g), err)
		}
	})
	t.Run("retract races edge creation", func(t *testing.T) {
		tn := newTenant(t, s)
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "hub", Label: "P"})
		for i := range 10 {
			mustNode(t, s, tn, telamentis.NodeInput{Alias: fmt.Sprintf("s%d", i), Label: "P"})
		}
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 4 {
					in := telamentis.EdgeInput{From: byAlias("hub"), To: byAlias(fmt.Sprintf("s%d", i)), Kind: "K"}
					if j%2 == 1 {
						in.From, in.To = in.To, in.From
					}
					_, err := s.UpsertEdge(ctx, tn, in)
					if err != nil && telamentis.ErrorCode(err) != telamentis.CodeNotFound {
						t.Errorf("edge creation racing a retraction: %v, want success or not_found", err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.RetractNode(ctx, tn, byAlias("hub")); err != nil {
				t.Errorf("retract hub: %v", err)
			}
		}()
		wg.Wait()
		live := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryEdges, Limit: telamentis.MaxLimit})
		for _, e := range live.Edges {
			for _, end := range []string{e.From, e.To} {
				if _, err := s.GetNode(ctx, tn, byID(end), time.Time{}); err != nil {
					t.Errorf("live edge %s touches node %s, which is not live (%v): a retraction must close every edge created before it and refuse every edge after it", e.ID, end, err)
				}
			}
		}
		st, err := s.Stats(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if st.Edges != int64(len(live.Edges)) || st.Nodes != 10 {
			t.Errorf("stats %+v, want %d live edges and 10 live nodes", st, len(live.Edges))
		}
	})
}

package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// watcher runs s.WatchKeys until the test ends, relaying its callbacks.
type watcher struct {
	changed  chan string
	resynced chan struct{}
	done     chan error
	cancel   context.CancelFunc
}

func watch(t *testing.T, s interface {
	WatchKeys(context.Context, func(string), func()) error
}) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{changed: make(chan string, 100), resynced: make(chan struct{}, 10), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- s.WatchKeys(ctx, func(id string) { w.changed <- id }, func() { w.resynced <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// notifyDeadline bounds every wait for the listener: generous, since it is not
// a measurement (notifications normally arrive within milliseconds).
const notifyDeadline = 30 * time.Second

func (w *watcher) waitResync(t *testing.T) {
	t.Helper()
	select {
	case <-w.resynced:
	case <-time.After(notifyDeadline):
		t.Fatal("the key listener did not (re)connect")
	}
}

// next returns the next n notified key IDs.
func (w *watcher) next(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		select {
		case id := <-w.changed:
			ids = append(ids, id)
		case <-time.After(notifyDeadline):
			t.Fatalf("notified %v, then nothing", ids)
		}
	}
	return ids
}

// TestWatchKeys: a replica's key listener hears every key change another
// replica commits (create, revocation, deletion with the tenant), in
// commit order, and nothing for a touch, a refused insert, another
// listener's ping or another schema's keys; after its connection is killed it reconnects, asks for a
// resync and hears changes again; it stops with its context.
func TestWatchKeys(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	a, b := d.open(t, schema, nil), d.open(t, schema, nil)
	other := d.open(t, d.newSchema(t), nil)
	ctx := t.Context()
	w := watch(t, b)
	w.waitResync(t)
	// A listener on a, up after w: w hears its ping and must not relay it.
	watch(t, a).waitResync(t)

	if _, err := a.CreateTenant(ctx, telamentis.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	key := func(id string) telamentis.APIKey {
		return telamentis.APIKey{ID: id, Tenant: "acme", Role: telamentis.RoleReader, Hash: []byte{1}}
	}
	if err := a.CreateKey(ctx, key("k1")); err != nil {
		t.Fatal(err)
	}
	if err := a.TouchKey(ctx, "k1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateKey(ctx, key("k1")); telamentis.ErrorCode(err) != telamentis.CodeConflict {
		t.Fatalf("duplicate: %v", err)
	}
	if err := a.CreateKey(ctx, telamentis.APIKey{ID: "k9", Tenant: "nope", Role: telamentis.RoleReader, Hash: []byte{1}}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("key of a missing tenant: %v", err)
	}
	if err := other.CreateKey(ctx, telamentis.APIKey{ID: "elsewhere", Role: telamentis.RoleAdmin, Hash: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, "k1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateKey(ctx, key("k2")); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t, 3); !slices.Equal(got, []string{"k1", "k1", "k2"}) {
		t.Fatalf("notified %v, want k1 (create), k1 (revoke), k2 (create)", got)
	}
	if err := a.DropTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	got := w.next(t, 2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"k1", "k2"}) {
		t.Fatalf("tenant drop notified %v, want k1 and k2", got)
	}

	// Kill the listeners' connections: they come back and resync.
	var n int
	if err := d.admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'telamentis key listener' AND datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("terminated %d listener connections, want both", n)
	}
	w.waitResync(t)
	if err := a.CreateKey(ctx, telamentis.APIKey{ID: "k3", Role: telamentis.RoleAdmin, Hash: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t, 1); got[0] != "k3" {
		t.Fatalf("after the reconnect: notified %v", got)
	}
	w.changed <- "" // a marker: nothing may be queued before it
	if id := <-w.changed; id != "" {
		t.Fatalf("unexpected notification %q", id)
	}
	w.cancel()
	select {
	case err := <-w.done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WatchKeys returned %v", err)
		}
		w.done <- err // for the cleanup
	case <-time.After(notifyDeadline):
		t.Fatal("WatchKeys did not stop")
	}
}

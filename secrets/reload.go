package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/telamentis/telamentis"
)

// Reloader holds a set of secrets, re-reads them all on Reload or SIGHUP,
// and tells subscribers about the ones that changed. A reload is all or
// nothing: if any secret fails its checks, every current value stays.
type Reloader struct {
	loader Loader
	specs  []Spec
	logger *slog.Logger

	mu   sync.RWMutex
	cur  map[string]telamentis.Secret
	subs []func(name string, s telamentis.Secret)
}

// NewReloader loads every spec once and fails if any is missing or bad,
// so that a server refuses to start with a bad secret.
func NewReloader(l Loader, logger *slog.Logger, specs ...Spec) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, s := range specs {
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("secrets: new reloader: empty or duplicate name %q", s.Name)
		}
		seen[s.Name] = true
	}
	r := &Reloader{loader: l, specs: specs, logger: logger}
	cur, err := r.loadAll()
	if err != nil {
		return nil, err
	}
	r.cur = cur
	return r, nil
}

func (r *Reloader) loadAll() (map[string]telamentis.Secret, error) {
	cur := make(map[string]telamentis.Secret, len(r.specs))
	var errs []error
	for _, s := range r.specs {
		v, err := r.loader.Load(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cur[s.Name] = v
	}
	return cur, errors.Join(errs...)
}

// Get returns the current value of the named secret (zero if unknown or an
// absent optional secret).
func (r *Reloader) Get(name string) telamentis.Secret {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cur[name]
}

// Subscribe registers fn, called after each successful reload once per
// secret whose value changed, outside the Reloader's lock. fn must not block
// for long.
func (r *Reloader) Subscribe(fn func(name string, s telamentis.Secret)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, fn)
}

// Reload re-reads every secret. On any error nothing changes and the error
// (which names variables, never values) is returned.
func (r *Reloader) Reload() error {
	next, err := r.loadAll()
	if err != nil {
		return fmt.Errorf("secrets: reload: %w", err)
	}
	r.mu.Lock()
	var changed []string
	for _, s := range r.specs {
		if next[s.Name].Reveal() != r.cur[s.Name].Reveal() {
			changed = append(changed, s.Name)
		}
	}
	r.cur = next
	subs := append([]func(string, telamentis.Secret){}, r.subs...)
	r.mu.Unlock()
	for _, name := range changed {
		for _, fn := range subs {
			fn(name, next[name])
		}
	}
	if len(changed) > 0 {
		r.logger.Info("secrets reloaded", slog.String("op", "secrets.reload"), slog.Any("changed", changed))
	}
	return nil
}

// Run reloads on every SIGHUP until ctx ends. A failed reload is logged and
// the old values stay in force.
func (r *Reloader) Run(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if err := r.Reload(); err != nil {
				r.logger.Error("secret reload failed; keeping current values", slog.String("op", "secrets.reload"), slog.String("err", err.Error()))
			}
		}
	}
}

// Command quickstart is the README's runnable example of TelaMentis as a Go
// library: it opens an encrypted embedded store in a temporary directory,
// creates a tenant, records that Alice worked at Acme from 2021 and moved to
// Globex on 2024-03-01, and prints where she worked as of 2022 and as of
// 2025 (valid time), and what the store believed, before the move was
// recorded, about where she would work in 2025 (transaction time).
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(context.Background(), os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run opens a throw-away store and tells the story on out.
func run(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	dir, err := os.MkdirTemp("", "telamentis-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := openStore(dir, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	return story(ctx, out, store)
}

// openStore opens the embedded store in dir, encrypted at rest with a fresh
// random master key. A real deployment keeps its key in a file or an env
// var (see badger.LoadMasterKey); this example forgets it, and its data, on
// exit.
func openStore(dir string, logger *slog.Logger) (telamentis.Store, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return badger.Open(badger.Config{Dir: dir, MasterKey: key}, logger)
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// story writes the facts and prints the answers.
func story(ctx context.Context, out io.Writer, s telamentis.Store) error {
	const tenant = "quickstart"
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: tenant, Name: "Quickstart"}); err != nil {
		return err
	}

	// Nodes are upserted by alias, the caller's stable name for them.
	_, err := s.ApplyBatch(ctx, tenant, telamentis.Batch{Nodes: []telamentis.NodeInput{
		{Alias: "alice", Label: "Person", Props: []byte(`{"name":"Alice"}`)},
		{Alias: "acme", Label: "Org", Props: []byte(`{"name":"Acme"}`)},
		{Alias: "globex", Label: "Org", Props: []byte(`{"name":"Globex"}`)},
	}})
	if err != nil {
		return err
	}

	// Alice works at Acme from 2021-01-01: the fact's valid time.
	acme, err := s.UpsertEdge(ctx, tenant, telamentis.EdgeInput{
		From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "acme"}, Kind: "WORKS_AT",
		Props: []byte(`{"role":"engineer"}`), ValidFrom: date(2021, 1, 1),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "recorded: Alice WORKS_AT Acme, valid from 2021-01-01 (edge %s)\n", acme.Edge.ID)
	// The store stamps every write with a transaction time; everything
	// recorded so far is visible "as at" this instant.
	before := acme.Edge.TxStart

	// In 2024 Alice moves: the Acme fact stopped being true on 2024-03-01,
	// and a new fact starts that day. History is kept.
	if _, err := s.InvalidateEdge(ctx, tenant, telamentis.Ref{ID: acme.Edge.ID}, date(2024, 3, 1)); err != nil {
		return err
	}
	if _, err := s.UpsertEdge(ctx, tenant, telamentis.EdgeInput{
		From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "globex"}, Kind: "WORKS_AT",
		Props: []byte(`{"role":"staff engineer"}`), ValidFrom: date(2024, 3, 1),
	}); err != nil {
		return err
	}
	fmt.Fprintln(out, "recorded: Acme edge invalidated at 2024-03-01; Alice WORKS_AT Globex, valid from 2024-03-01")

	// As of (valid time): where did Alice work on a given day, by what we
	// know now?
	for _, day := range []time.Time{date(2022, 6, 1), date(2025, 6, 1)} {
		orgs, err := employers(ctx, s, tenant, time.Time{}, day)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "as of %s: Alice works at %s\n", day.Format(time.DateOnly), orgs)
	}
	// As at (transaction time): what did we believe before the move was
	// recorded? Then, the Acme job had no end, so 2025 looked like Acme.
	orgs, err := employers(ctx, s, tenant, before, date(2025, 6, 1))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "as at %s (before the move was recorded), as of 2025-06-01: Alice works at %s\n",
		before.Format(txLayout), orgs)

	// Every version of the Acme fact, in transaction-time order.
	h, err := s.Query(ctx, tenant, telamentis.Query{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{ID: acme.Edge.ID}})
	if err != nil {
		return err
	}
	for i, v := range h.Edges {
		fmt.Fprintf(out, "history of the Acme edge, version %d: valid %s, recorded %s\n",
			i+1, span(v.ValidFrom, v.ValidTo, time.RFC3339), span(v.TxStart, v.TxEnd, txLayout))
	}
	return nil
}

// employers returns the names of the organisations Alice WORKS_AT on day,
// according to what the store believed at asAt (zero = now).
func employers(ctx context.Context, s telamentis.Store, tenant string, asAt, day time.Time) (string, error) {
	p, err := s.Query(ctx, tenant, telamentis.Query{
		Kind: telamentis.QueryEdges, From: &telamentis.Ref{Alias: "alice"}, Kinds: []string{"WORKS_AT"},
		AsAt: asAt, ValidAt: day,
	})
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range p.Edges {
		n, err := s.GetNode(ctx, tenant, telamentis.Ref{ID: e.To}, asAt)
		if err != nil {
			return "", err
		}
		var props struct{ Name string }
		if err := json.Unmarshal(n.Props, &props); err != nil {
			return "", err
		}
		names = append(names, props.Name)
	}
	if len(names) == 0 {
		return "nowhere", nil
	}
	return strings.Join(names, ", "), nil
}

// txLayout shows transaction times to the microsecond, their precision.
const txLayout = "2006-01-02T15:04:05.000000Z07:00"

// span formats [from, to) with an open end written as "open".
func span(from, to time.Time, layout string) string {
	end := "open"
	if !to.IsZero() {
		end = to.Format(layout)
	}
	return "[" + from.Format(layout) + ", " + end + ")"
}

// Command tmbench runs the standard kgbench workload (../shared/bench)
// against a TelaMentis store through its public API: it creates the bench
// tenants, loads nodes.csv and edges.csv with the store's restore-style
// Importer (keeping every version's transaction times), closes and reopens
// the store, runs the five query types with 1 and 8 clients exactly as the
// shared runners do, checks every row count against the generator's
// expectation, and writes $KGBENCH_DIR/results/telamentis-<store>-<size>.json
// in the shared Report format, so summarize.py shows it beside the peers.
//
//	tmbench -size medium                      # embedded Badger store, encrypted
//	tmbench -size small -store postgres://... # the PostgreSQL store
//
// A run in which any query returns the wrong number of rows, or fails, is
// invalid: the report is still written (with the mismatch counts) and the
// command exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/memlimit"
)

// config is tmbench's one configuration.
type config struct {
	Size          string
	Data          string
	Results       string
	WorkDir       string
	Store         string
	Clients       []int
	Types         []string
	Batch         int
	ImportWorkers int
	Check         bool
	Keep          bool
	CPUProfile    string
	IngestProfile string
	ReopenProfile string
	MemProfile    string
	ShowMismatch  int
	Revision      string
	MemoryLimit   memlimit.Setting
}

// backend opens one kind of store. open may be called again after the
// previous store is closed (the reopen measurement); cleanup removes what
// the backend created.
type backend struct {
	engine  string
	batch   int // rows per Import call unless -batch says otherwise
	notes   []string
	open    func(ctx context.Context) (telamentis.Store, error)
	cleanup func() error
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tmbench:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	valid, err := run(context.Background(), cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tmbench:", err)
		os.Exit(1)
	}
	if !valid {
		fmt.Fprintln(os.Stderr, "tmbench: INVALID RUN: some queries returned the wrong number of rows or failed")
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	root := os.Getenv("KGBENCH_DIR")
	if root == "" {
		root = "/tmp/kgbench"
	}
	fs := flag.NewFlagSet("tmbench", flag.ContinueOnError)
	var cfg config
	var clients, types string
	fs.StringVar(&cfg.Size, "size", "small", "workload size (small or medium); data from $KGBENCH_DIR/data/<size>")
	fs.StringVar(&cfg.Data, "data", "", "kggen data dir (default $KGBENCH_DIR/data/<size>)")
	fs.StringVar(&cfg.Results, "results", filepath.Join(root, "results"), "results dir")
	fs.StringVar(&cfg.WorkDir, "workdir", root, "parent of the embedded store's temporary directory")
	fs.StringVar(&cfg.Store, "store", "embedded", "embedded, or a postgres:// URL")
	fs.StringVar(&clients, "clients", "1,8", "client counts")
	fs.StringVar(&types, "types", strings.Join(queryTypes, ","), "query types to run")
	fs.IntVar(&cfg.Batch, "batch", 0, "rows per Import call (default: the store's, 20000 embedded, 50000 postgres)")
	fs.IntVar(&cfg.ImportWorkers, "import-workers", 2, "concurrent Import calls")
	fs.BoolVar(&cfg.Check, "check", false, "run the store's integrity check after loading (not timed)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the embedded store's directory or the postgres database (the embedded master key is not saved)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the query phase to this file")
	fs.StringVar(&cfg.IngestProfile, "cpuprofile-ingest", "", "write a CPU profile of the load to this file")
	fs.StringVar(&cfg.ReopenProfile, "cpuprofile-reopen", "", "write a CPU profile of the reopen to this file")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write a heap profile of the reopened store (before the queries) to this file")
	fs.StringVar(&cfg.Revision, "revision", "", "TelaMentis revision to record (default: from the build's VCS stamp)")
	fs.IntVar(&cfg.ShowMismatch, "show-mismatches", 5, "print up to this many mismatched queries per type")
	memLimit := fs.String("memory-limit", memlimit.Auto, "Go soft memory limit, as the server's --memory-limit: auto, off or a size like 1GiB")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.MemoryLimit, err = memlimit.Parse(*memLimit); err != nil {
		return cfg, err
	}
	if cfg.Data == "" {
		cfg.Data = filepath.Join(root, "data", cfg.Size)
	}
	if cfg.Clients, err = parseClients(clients); err != nil {
		return cfg, err
	}
	for _, t := range strings.Split(types, ",") {
		t = strings.TrimSpace(t)
		if !contains(queryTypes, t) {
			return cfg, fmt.Errorf("unknown query type %q", t)
		}
		cfg.Types = append(cfg.Types, t)
	}
	if cfg.Batch < 0 || cfg.ImportWorkers < 1 {
		return cfg, errors.New("batch must not be negative and import-workers must be positive")
	}
	return cfg, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// meta is the part of kggen's meta.json tmbench checks against.
type meta struct {
	Tenants  int    `json:"tenants"`
	Nodes    int    `json:"nodes"`
	EdgeRows int    `json:"edge_rows"`
	Size     string `json:"size"`
}

func readMeta(dir string) (meta, error) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return m, fmt.Errorf("%w (generate the data with ../shared/bench/run-gen.sh)", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("meta.json: %w", err)
	}
	if m.Tenants < 1 {
		return m, errors.New("meta.json: no tenants")
	}
	return m, nil
}

func openBackend(cfg config, logger *slog.Logger) (*backend, error) {
	switch {
	case cfg.Store == "embedded":
		return embeddedBackend(cfg.WorkDir, logger)
	case strings.HasPrefix(cfg.Store, "postgres://"), strings.HasPrefix(cfg.Store, "postgresql://"):
		return postgresBackend(cfg.Store, logger)
	}
	return nil, fmt.Errorf("unknown store %q (embedded or a postgres:// URL)", cfg.Store)
}

// run executes the whole benchmark and reports whether every row count
// matched.
func run(ctx context.Context, cfg config, logger *slog.Logger) (bool, error) {
	m, err := readMeta(cfg.Data)
	if err != nil {
		return false, err
	}
	qs, err := readQueriesFile(filepath.Join(cfg.Data, "queries.csv"))
	if err != nil {
		return false, err
	}
	be, err := openBackend(cfg, logger)
	if err != nil {
		return false, err
	}
	if cfg.Batch == 0 {
		cfg.Batch = be.batch
	}
	if !cfg.Keep {
		defer func() {
			if err := be.cleanup(); err != nil {
				logger.Warn("cleanup", "err", err)
			}
		}()
	}
	rep := &report{Engine: be.engine, Size: filepath.Base(filepath.Clean(cfg.Data)),
		Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Ingest: map[string]float64{}}
	rep.Notes = append(rep.Notes, be.notes...)
	rev := cfg.Revision
	if bi, ok := debug.ReadBuildInfo(); ok && rev == "" {
		rev = vcsRevision(bi)
	}
	rep.Notes = append(rep.Notes, "TelaMentis "+rev+", "+runtime.Version())
	ml, err := memlimit.Apply(cfg.MemoryLimit, memlimit.Env{})
	if err != nil {
		return false, err
	}
	fmt.Println(ml)
	rep.Notes = append(rep.Notes, ml.String()+"; the server applies the same setting (--memory-limit)")
	rep.Ingest["memory_limit_mib"] = float64(ml.Bytes) / (1 << 20)

	st, err := be.open(ctx)
	if err != nil {
		return false, fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	imp, ok := st.(telamentis.Importer)
	if !ok {
		return false, fmt.Errorf("the %s store has no Import (telamentis.Importer)", be.engine)
	}
	for t := range m.Tenants {
		if _, err := st.CreateTenant(ctx, telamentis.Tenant{ID: tenantID(t), Name: fmt.Sprintf("kgbench tenant %d", t)}); err != nil {
			return false, fmt.Errorf("create tenant: %w", err)
		}
	}

	// ---- ingest ----
	stopProfile, err := startProfile(cfg.IngestProfile)
	if err != nil {
		return false, err
	}
	t0 := time.Now()
	nNodes, err := loadFile(ctx, imp, filepath.Join(cfg.Data, "nodes.csv"), cfg.ImportWorkers, cfg.Batch, parseNodesInto)
	if err != nil {
		return false, fmt.Errorf("load nodes: %w", err)
	}
	tNodes := time.Since(t0)
	t1 := time.Now()
	nEdges, err := loadFile(ctx, imp, filepath.Join(cfg.Data, "edges.csv"), cfg.ImportWorkers, cfg.Batch, parseEdgesInto)
	if err != nil {
		return false, fmt.Errorf("load edges: %w", err)
	}
	tEdges := time.Since(t1)
	stopProfile()
	if nNodes != m.Nodes || nEdges != m.EdgeRows {
		return false, fmt.Errorf("loaded %d nodes and %d edge rows, meta.json says %d and %d", nNodes, nEdges, m.Nodes, m.EdgeRows)
	}
	runtime.GC()
	debug.FreeOSMemory()
	rssLoad, _ := rssMiB()
	fmt.Printf("ingest: %d nodes in %.2fs (%.0f rows/s); %d edge rows in %.2fs (%.0f rows/s); RSS %.0f MiB\n",
		nNodes, tNodes.Seconds(), float64(nNodes)/tNodes.Seconds(), nEdges, tEdges.Seconds(), float64(nEdges)/tEdges.Seconds(), rssLoad)

	if err := checkStats(ctx, st, m); err != nil {
		return false, err
	}
	if cfg.Check {
		c, ok := st.(telamentis.Checker)
		if !ok {
			return false, fmt.Errorf("the %s store has no Check", be.engine)
		}
		tc := time.Now()
		if err := c.Check(ctx); err != nil {
			return false, fmt.Errorf("integrity check after load: %w", err)
		}
		fmt.Printf("integrity check: ok in %.2fs\n", time.Since(tc).Seconds())
	}

	// ---- close (flush) and reopen ----
	t2 := time.Now()
	err = st.Close()
	st = nil
	if err != nil {
		return false, fmt.Errorf("close after load: %w", err)
	}
	tClose := time.Since(t2)
	// The serving phase's peak memory is measured from here: the loader's
	// buffers and the first store instance are gone.
	runtime.GC()
	debug.FreeOSMemory()
	_, hwmLoad := rssMiB()
	hwmReset := resetPeakRSS()
	if stopProfile, err = startProfile(cfg.ReopenProfile); err != nil {
		return false, err
	}
	t3 := time.Now()
	if st, err = be.open(ctx); err != nil {
		return false, fmt.Errorf("reopen: %w", err)
	}
	tReopen := time.Since(t3)
	stopProfile()
	t4 := time.Now()
	ft, fref := firstLookup(qs)
	if _, err := st.GetNode(ctx, ft, fref, time.Time{}); err != nil && telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		return false, fmt.Errorf("first read after reopen: %w", err)
	}
	tFirst := time.Since(t4)
	runtime.GC()
	debug.FreeOSMemory()
	rssReopen, _ := rssMiB()
	if err := writeHeapProfile(cfg.MemProfile); err != nil {
		return false, err
	}
	fmt.Printf("close %.2fs; reopen %.2fs (+ first read %.1f ms); RSS after reopen %.0f MiB\n",
		tClose.Seconds(), tReopen.Seconds(), float64(tFirst.Microseconds())/1e3, rssReopen)

	ing := rep.Ingest
	ing["node_rows"] = float64(nNodes)
	ing["edge_rows"] = float64(nEdges)
	ing["nodes_s"] = tNodes.Seconds()
	ing["edges_s"] = tEdges.Seconds()
	ing["node_rows_per_s"] = float64(nNodes) / tNodes.Seconds()
	ing["edge_rows_per_s"] = float64(nEdges) / tEdges.Seconds()
	ing["close_s"] = tClose.Seconds()
	ing["edge_rows_per_s_incl_close"] = float64(nEdges) / (tEdges + tClose).Seconds()
	ing["total_rows_per_s"] = float64(nNodes+nEdges) / (tNodes + tEdges + tClose).Seconds()
	ing["reopen_s"] = tReopen.Seconds()
	ing["first_read_after_reopen_ms"] = float64(tFirst.Microseconds()) / 1e3
	ing["rss_after_load_mib"] = rssLoad
	ing["rss_after_reopen_mib"] = rssReopen
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("ingest through telamentis.Importer, %d rows per call, %d concurrent calls; times include CSV parsing (pipelined) and every index; each Import call is durable when it returns; total_rows_per_s also includes Close (memtable flush)", cfg.Batch, cfg.ImportWorkers),
		fmt.Sprintf("reopen %.2fs = Open on the closed store until it serves reads; RSS (VmRSS after GC) after load %.0f MiB, after reopen %.0f MiB", tReopen.Seconds(), rssLoad, rssReopen))

	// ---- queries ----
	stopProfile, err = startProfile(cfg.CPUProfile)
	if err != nil {
		return false, err
	}
	x := &executor{ctx: ctx, store: st}
	var bad []mismatch
	rep.Queries, bad = runAll(qs, cfg.Types, cfg.Clients, x.exec)
	stopProfile()
	rssQ, hwm := rssMiB()
	ing["rss_after_queries_mib"] = rssQ
	ing["rss_peak_load_mib"] = hwmLoad
	peak := "whole run"
	if hwmReset == nil {
		ing["rss_peak_serving_mib"] = hwm
		peak = "from reopen to the end of the queries"
	} else {
		ing["rss_peak_load_mib"] = hwm
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("RSS after the queries %.0f MiB; peak (VmHWM) %s %.0f MiB; peak while loading (incl. the loader's CSV buffers) %.0f MiB",
		rssQ, peak, hwm, hwmLoad))
	fmt.Printf("RSS after queries %.0f MiB, peak %s %.0f MiB, peak while loading %.0f MiB\n", rssQ, peak, hwm, hwmLoad)
	printMismatches(bad, cfg.ShowMismatch)

	if cfg.Check {
		if c, ok := st.(telamentis.Checker); ok {
			if err := c.Check(ctx); err != nil {
				return false, fmt.Errorf("integrity check after queries: %w", err)
			}
		}
	}
	err = st.Close()
	st = nil
	if err != nil {
		return false, fmt.Errorf("close: %w", err)
	}
	p, err := rep.write(cfg.Results)
	if err != nil {
		return false, err
	}
	fmt.Println("wrote", p)
	return rep.valid(), nil
}

// firstLookup names the tenant and node of the first lookup query, for the
// first read after reopening.
func firstLookup(qs []benchQuery) (string, telamentis.Ref) {
	for _, q := range qs {
		if q.Type == "lookup" {
			return q.Tenant, telamentis.Ref{Alias: q.Alias}
		}
	}
	return tenantID(0), telamentis.Ref{Alias: "none"}
}

// checkStats compares the store's per-tenant counts with meta.json.
func checkStats(ctx context.Context, st telamentis.Store, m meta) error {
	var nodes, versions int64
	for t := range m.Tenants {
		s, err := st.Stats(ctx, tenantID(t))
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		nodes += s.NodeVersions
		versions += s.EdgeVersions
	}
	if nodes != int64(m.Nodes) || versions != int64(m.EdgeRows) {
		return fmt.Errorf("after load the store counts %d node versions and %d edge versions, want %d and %d",
			nodes, versions, m.Nodes, m.EdgeRows)
	}
	return nil
}

func printMismatches(bad []mismatch, limit int) {
	shown := map[string]int{}
	for _, b := range bad {
		if shown[b.Q.Type] >= limit {
			continue
		}
		shown[b.Q.Type]++
		q := b.Q
		fmt.Printf("mismatch: qid %d %s tenant %s node %s alias %q kind %q vt %s tt %s lo %s hi %s: expected %d rows, got %d\n",
			q.QID, q.Type, q.Tenant, q.Node, q.Alias, q.Kind, ts(q.VT), ts(q.TT), ts(q.Lo), ts(q.Hi), q.Expect, b.Got)
	}
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func vcsRevision(bi *debug.BuildInfo) string {
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(unknown revision)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

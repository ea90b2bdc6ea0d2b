package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

// embeddedBackend is the badger store on disk in a fresh directory under
// workDir, encrypted with a random master key (kept in memory for the
// reopen), with synced commits: the configuration a production server runs.
func embeddedBackend(workDir string, logger *slog.Logger) (*backend, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(workDir, "tmbench-store-")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	cfg := badger.Config{Dir: dir, MasterKey: key}
	return &backend{
		engine: "telamentis-embedded",
		batch:  20000,
		notes: []string{fmt.Sprintf("TelaMentis embedded store (badger package over Badger v4) in %s: "+
			"AES encryption at rest with a random master key, synced commits (NoSync off), default memtable", dir)},
		open: func(context.Context) (telamentis.Store, error) {
			return badger.Open(cfg, logger)
		},
		cleanup: func() error { return os.RemoveAll(dir) },
	}, nil
}

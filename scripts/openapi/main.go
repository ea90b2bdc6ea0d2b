// Command openapi prints the OpenAPI document of the HTTP API, as the
// server serves it at /openapi.json, for scripts/openapi-lint.sh and
// client generators: `go run ./scripts/openapi > openapi.json`.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/httpapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run() error {
	logger := slog.New(slog.DiscardHandler)
	// The document depends on the routes only: an empty in-memory store
	// serves to build the server.
	store, err := badger.Open(badger.Config{InMemory: true}, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	keys := auth.NewKeys(store, auth.KeysConfig{}, logger)
	srv, err := httpapi.New(httpapi.Config{Store: store, Auth: keys, Keys: keys,
		PIIKey: bytes.Repeat([]byte{1}, 32), Logger: logger})
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(srv.OpenAPI(), '\n'))
	return err
}

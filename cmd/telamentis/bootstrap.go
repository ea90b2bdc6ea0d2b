package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/auth"
)

// createBootstrapKey makes the first system admin key of an empty key
// store. With keyFile set the token goes to that new file (mode 0600,
// never overwritten) and nowhere else; without it the token is printed
// once to stderr, apart from the JSON log (printBootstrapKey).
//
// With keyFile the token is written before it is stored: if the file
// cannot be written nothing is stored, and the next start tries again,
// instead of leaving a store whose only admin key nobody holds.
func createBootstrapKey(ctx context.Context, keys *auth.Keys, keyFile string, stderr io.Writer, logger *slog.Logger) error {
	req := telamentis.NewKey{Role: telamentis.RoleAdmin, Name: "bootstrap admin"}
	if keyFile == "" {
		k, secret, err := keys.IssueKey(ctx, req)
		if err != nil {
			return fmt.Errorf("serve: bootstrap: %w", err)
		}
		logger.Info("bootstrap admin key created", slog.String("key_id", k.ID))
		return printBootstrapKey(stderr, secret)
	}
	token := auth.GenerateToken()
	if err := writeNewKeyFile(keyFile, token); err != nil {
		return fmt.Errorf("serve: bootstrap: --admin-key-file %s: %w", keyFile, err)
	}
	k, err := keys.ImportKey(ctx, token, req)
	if err != nil {
		os.Remove(keyFile)
		return fmt.Errorf("serve: bootstrap: %w", err)
	}
	logger.Info("bootstrap admin key created", slog.String("key_id", k.ID), slog.String("file", keyFile))
	return nil
}

// printBootstrapKey writes the token to w in one write, alone on a line
// between two marker lines, so that it neither mixes with a JSON log
// record nor passes for one (a log shipper parsing JSON skips it).
func printBootstrapKey(w io.Writer, token telamentis.Secret) error {
	_, err := fmt.Fprintf(w, "\n"+
		"----- TelaMentis bootstrap admin API key: shown only this once, store it now -----\n"+
		"%s\n"+
		"----- end of bootstrap admin API key (serve --admin-key-file PATH writes it to a 0600 file instead) -----\n\n",
		token.Reveal())
	return err
}

// writeNewKeyFile writes token to path, a file that must not exist yet.
// The file appears whole or not at all: the token goes to a temporary
// 0600 file beside it, which is synced and then hard-linked to path (a
// link never replaces an existing file).
func writeNewKeyFile(path string, token telamentis.Secret) error {
	if _, err := os.Lstat(path); err == nil {
		return errors.New("the file exists; refusing to overwrite it (move it away, or leave the flag out)")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-key-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.WriteString(tmp, token.Reveal()+"\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errors.New("the file exists; refusing to overwrite it")
		}
		return err
	}
	return nil
}

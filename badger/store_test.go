package badger_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/storetest"
)

// testKey is a fixed master key for tests.
var testKey = bytes.Repeat([]byte{0x42}, 32)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func newMem(t testing.TB) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Config{InMemory: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDisk(t testing.TB, dir string, encrypted bool) *badger.Store {
	t.Helper()
	cfg := badger.Config{Dir: dir, Unencrypted: !encrypted}
	if encrypted {
		cfg.MasterKey = testKey
	}
	s, err := badger.Open(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t testing.TB) telamentis.Store { return newMem(t) },
		Disk: func(t testing.TB, dir string, encrypted bool) telamentis.Store {
			return openDisk(t, dir, encrypted)
		},
	})
}

func TestStoreOnDisk(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t testing.TB) telamentis.Store {
			s := openDisk(t, t.TempDir(), true)
			t.Cleanup(func() { s.Close() })
			return s
		},
		Disk: func(t testing.TB, dir string, encrypted bool) telamentis.Store {
			return openDisk(t, dir, encrypted)
		},
	})
}

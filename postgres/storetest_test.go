package postgres_test

import (
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/storetest"
)

// TestStore runs the conformance suite against a fresh schema of the test
// database, as the service role.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:     func(t testing.TB) telamentis.Store { return newStore(t) },
		Residue: residue,
	})
}

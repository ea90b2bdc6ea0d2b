package main

import (
	"os"
	"testing"
)

// TestIsTerminal checks that /dev/null, a character device, is not taken
// for a terminal (kgctl would then prompt a script).
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Fatalf("%s is taken for a terminal", os.DevNull)
	}
	f, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a regular file is taken for a terminal")
	}
}

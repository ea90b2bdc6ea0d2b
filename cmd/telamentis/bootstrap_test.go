package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeAdminKeyFile checks --admin-key-file: the first start writes the
// admin key to a new 0600 file and prints it nowhere; a later start on the
// same data leaves the file alone; a start that would create a key refuses
// an existing file and creates no key.
func TestServeAdminKeyFile(t *testing.T) {
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "data"), filepath.Join(dir, "admin.key")
	addr, logs, stop := startRun(t, []string{"--data", data, "--admin-key-file", keyFile}, nil)
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(keyFile)
	admin := strings.TrimSpace(string(b))
	if !keyRe.MatchString(admin) || string(b) != admin+"\n" {
		t.Fatalf("key file holds %q", b)
	}
	if keyRe.MatchString(logs.String()) {
		t.Fatalf("the key was printed although --admin-key-file was given:\n%s", logs)
	}
	if c := get(t, "http://"+addr+"/v1/tenants", admin); c != 200 {
		t.Fatalf("key from --admin-key-file: %d", c)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".admin-key-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A restart creates no key: the existing file is not an error.
	addr, _, stop = startRun(t, []string{"--data", data, "--admin-key-file", keyFile}, nil)
	if c := get(t, "http://"+addr+"/v1/tenants", admin); c != 200 {
		t.Fatalf("key after restart: %d", c)
	}
	stop()
	if b2, _ := os.ReadFile(keyFile); string(b2) != string(b) {
		t.Fatal("restart rewrote the key file")
	}
	// A new store with the file already there: refused before a key exists.
	err = run(t.Context(), []string{"serve", "--in-memory", "--listen", "127.0.0.1:0", "--admin-listen", "off",
		"--admin-key-file", keyFile}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--admin-key-file") || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("existing key file: %v", err)
	}
	if b2, _ := os.ReadFile(keyFile); string(b2) != string(b) {
		t.Fatal("the existing key file was overwritten")
	}
	// A directory that does not exist: refused, nothing printed.
	var out syncBuffer
	err = run(t.Context(), []string{"serve", "--in-memory", "--listen", "127.0.0.1:0", "--admin-listen", "off",
		"--admin-key-file", filepath.Join(dir, "missing", "admin.key")}, env(nil), io.Discard, &out)
	if err == nil || keyRe.MatchString(out.String()) {
		t.Fatalf("missing directory: %v\n%s", err, out.String())
	}
}

// TestBootstrapKeyApartFromLog checks that a printed bootstrap key stands
// alone on a plain line between marker lines, and that every other line of
// stderr is a JSON log record without it.
func TestBootstrapKeyApartFromLog(t *testing.T) {
	_, logs, stop := startRun(t, []string{"--in-memory"}, nil)
	stop()
	lines := strings.Split(logs.String(), "\n")
	found := -1
	for i, l := range lines {
		switch {
		case keyRe.MatchString(l):
			if found >= 0 || l != keyRe.FindString(l) {
				t.Fatalf("key line %q is not the key alone, or the key appears twice", l)
			}
			found = i
		case l == "" || strings.HasPrefix(l, "{"):
		case strings.HasPrefix(l, "----- ") && strings.HasSuffix(l, " -----"):
		default:
			t.Errorf("stderr line is neither a JSON record nor a marker: %q", l)
		}
	}
	if found < 1 || !strings.Contains(lines[found-1], "bootstrap admin API key") ||
		!strings.HasPrefix(lines[found+1], "----- end of bootstrap admin API key") {
		t.Fatalf("key not between its markers:\n%s", logs)
	}
}

package telamentis_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRootImports holds the root package to its rule (STYLE.md): it states
// the domain's types and contracts and imports only the standard library,
// and no network or TLS package at all. The HTTP machinery of connectors
// lives in package llm, transports in their own packages. The one way
// around it is an internal package of this module that keeps the same rule
// itself (internal/strictjson, the scanner whose number grammar the props
// rules share; docs/decisions.md), checked here file by file.
func TestRootImports(t *testing.T) {
	checkImports(t, ".", map[string]bool{})
}

const modulePath = "github.com/telamentis/telamentis"

// checkImports checks every non-test file of the package in dir, and of the
// module's internal packages it imports, against forbiddenRootImport.
func checkImports(t *testing.T, dir string, seen map[string]bool) {
	t.Helper()
	if seen[dir] {
		return
	}
	seen[dir] = true
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(path, modulePath+"/internal/"); ok {
				checkImports(t, filepath.Join("internal", filepath.FromSlash(rest)), seen)
				continue
			}
			if reason := forbiddenRootImport(path); reason != "" {
				t.Errorf("%s imports %q: %s", name, path, reason)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no Go file of the package in %s found", dir)
	}
}

// forbiddenRootImport says why the root package may not import path, or
// returns "".
func forbiddenRootImport(path string) string {
	first, _, _ := strings.Cut(path, "/")
	switch {
	case strings.Contains(first, "."):
		return "the root package imports only the standard library"
	case path == "net", path == "net/http", strings.HasPrefix(path, "net/http/"),
		path == "crypto/tls", path == "crypto/x509":
		return "network and TLS code belongs in an adapter (package llm for connectors)"
	}
	return ""
}

func TestForbiddenRootImport(t *testing.T) {
	for path, forbidden := range map[string]bool{
		"net": true, "net/http": true, "net/http/httptest": true, "crypto/tls": true, "crypto/x509": true,
		"github.com/google/uuid": true, "golang.org/x/text/unicode/norm": true,
		"context": false, "encoding/json": false, "crypto/sha256": false, "net/url": false, "time": false,
	} {
		if got := forbiddenRootImport(path) != ""; got != forbidden {
			t.Errorf("forbiddenRootImport(%q) = %v, want %v", path, got, forbidden)
		}
	}
}
